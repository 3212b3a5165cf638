//! `/proc/interrupts` (per-CPU counts per IRQ line) and `/proc/irq/N/smp_affinity_list`.

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};

/// All IRQ lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interrupts {
    /// One entry per line of /proc/interrupts.
    pub lines: Vec<Interrupt>,
}

/// One line of /proc/interrupts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interrupt {
    /// The IRQ number or name (`24`, `NMI`, `LOC`).
    pub irq: String,
    /// Interrupts handled per CPU column.
    pub counts: Vec<u64>,
}

/// Read `/proc/interrupts`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Interrupts> {
    let _ = (buf, root, warnings);
    Source::unsupported("interrupts collector not implemented yet")
}
