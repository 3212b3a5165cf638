//! Configuration lint from sysctl file provenance: dead keys, `tcp_mem`/`udp_mem` set as bytes.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
