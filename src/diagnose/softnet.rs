//! The softnet layer: backlog drops, time squeeze, flow limit, CPU imbalance, RPS.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
