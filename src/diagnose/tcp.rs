//! TCP: accept queues, SYN queue, buffers vs BDP, memory pressure, retransmits, congestion control, pacing, ports.

use super::Rule;

/// The rules of this area.
pub const RULES: &[Rule] = &[];
