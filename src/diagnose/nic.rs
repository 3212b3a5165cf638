//! NIC layer: rings, drops and errors, RSS channels, coalescing, offloads.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
