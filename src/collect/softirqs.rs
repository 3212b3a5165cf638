//! `/proc/softirqs` (per-CPU softirq counts) and the per-CPU time columns of `/proc/stat`.

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Softirq name (`NET_RX`) → count per CPU column (index = CPU number as printed).
pub type SoftIrqs = BTreeMap<String, Vec<u64>>;

/// One `cpuN` line of `/proc/stat`. All times in USER_HZ clock ticks (normally 1/100 s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTimes {
    pub cpu: u32,
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    /// Time servicing hard interrupts.
    pub irq: u64,
    /// Time servicing softirqs (NET_RX processing shows here).
    pub softirq: u64,
    pub steal: u64,
}

/// Read `/proc/softirqs`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<SoftIrqs> {
    let _ = (buf, root, warnings);
    Source::unsupported("softirqs collector not implemented yet")
}

/// Read the per-CPU lines of `/proc/stat`.
pub fn read_cpu_times(
    buf: &mut FileBuf,
    root: &Root,
    warnings: &mut Warnings,
) -> Source<Vec<CpuTimes>> {
    let _ = (buf, root, warnings);
    Source::unsupported("cpu times collector not implemented yet")
}
