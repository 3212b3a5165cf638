//! Connection tracking table fill and drops.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
