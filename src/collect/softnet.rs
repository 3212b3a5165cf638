//! `/proc/net/softnet_stat`: per-CPU backlog counters (hex u32 columns).

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};

/// One row of softnet_stat: one online CPU. Counters are cumulative packets/events since boot,
/// 32-bit and wrapping. Columns the kernel does not print are `None` (`null` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftnetCpu {
    /// CPU id: column 13 when the kernel prints it, else the n-th online CPU.
    pub cpu: u32,
    /// Column 1: packets processed (frames taken off the backlog / NAPI).
    pub processed: u32,
    /// Column 2: packets dropped because the backlog (netdev_max_backlog) was full.
    pub dropped: u32,
    /// Column 3: times net_rx_action stopped with work left (budget or time exhausted).
    pub time_squeeze: u32,
    /// Column 9: cpu_collision (tx lock contention; always 0 on modern kernels).
    pub cpu_collision: Option<u32>,
    /// Column 10: times this CPU was woken by an RPS IPI.
    pub received_rps: Option<u32>,
    /// Column 11: flow-limit drops.
    pub flow_limit_count: Option<u32>,
    /// Column 12: current backlog length in packets (a gauge, not a counter).
    pub backlog_len: Option<u32>,
    /// Column 14: input_queue length (gauge, kernels ≥ 6.x).
    pub input_qlen: Option<u32>,
    /// Column 15: process_queue length (gauge, kernels ≥ 6.x).
    pub process_qlen: Option<u32>,
    /// Columns after the 15th, printed by kernels newer than this parser.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<u32>,
}

/// Read `/proc/net/softnet_stat`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Vec<SoftnetCpu>> {
    let _ = (buf, root, warnings);
    Source::unsupported("softnet collector not implemented yet")
}
