//! UDP receive buffer errors.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
