//! `/proc/net/dev`: per-interface packet, byte, drop and error counters.

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The 16 counters of one `/proc/net/dev` line (cumulative since the device appeared).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDevCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    pub rx_errs: u64,
    /// Packets dropped on receive (driver and core).
    pub rx_drop: u64,
    /// FIFO / ring overruns (missed).
    pub rx_fifo: u64,
    pub rx_frame: u64,
    #[serde(default)]
    pub rx_compressed: u64,
    #[serde(default)]
    pub rx_multicast: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    pub tx_errs: u64,
    pub tx_drop: u64,
    #[serde(default)]
    pub tx_fifo: u64,
    #[serde(default)]
    pub tx_colls: u64,
    #[serde(default)]
    pub tx_carrier: u64,
    #[serde(default)]
    pub tx_compressed: u64,
}

/// Interface name → counters.
pub type NetDev = BTreeMap<String, NetDevCounters>;

/// Read `/proc/net/dev`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<NetDev> {
    let _ = (buf, root, warnings);
    Source::unsupported("netdev collector not implemented yet")
}
