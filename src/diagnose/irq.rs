//! IRQ placement: NIC queue IRQs concentrated on one CPU or on a remote NUMA node.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
