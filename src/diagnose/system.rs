//! Host-wide limits and safety switches: file descriptors, syncookies, timestamps.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
