//! Rates between two snapshots, derived at read time from raw cumulative counters (the one
//! path shared by `check`, `watch`, the exporter and offline analysis).
//!
//! Counter arithmetic: softnet columns are 32-bit and wrap ([`delta_u32`]); 64-bit counters
//! that go backwards were reset (device re-created, module reloaded) and count from zero
//! ([`delta_u64`]), as Prometheus' `rate()` does.

use crate::collect::host::HostFacts;
use crate::collect::netdev::NetDevCounters;
use crate::snapshot::{Capture, Snapshot};
use std::collections::BTreeMap;

/// Increase of a 32-bit wrapping counter (softnet_stat columns).
pub fn delta_u32(older: u32, newer: u32) -> u64 {
    u64::from(newer.wrapping_sub(older))
}

/// Increase of a 64-bit counter; a counter that went backwards was reset and counts from 0.
pub fn delta_u64(older: u64, newer: u64) -> u64 {
    if newer >= older {
        newer - older
    } else {
        newer
    }
}

/// Increase of a signed kernel counter (snmp/netstat); reset handling as [`delta_u64`].
pub fn delta_i64(older: i64, newer: i64) -> i64 {
    if newer >= older {
        newer.saturating_sub(older)
    } else {
        newer.max(0)
    }
}

/// Two snapshots of the same host, older first, and the host facts.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub older: &'a Snapshot,
    pub newer: &'a Snapshot,
    pub host: &'a HostFacts,
}

/// Per-second rates of one CPU's softnet counters over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoftnetRates {
    pub cpu: u32,
    /// Packets per second.
    pub processed: f64,
    /// Packets per second dropped because the backlog was full.
    pub dropped: f64,
    /// Squeeze events per second.
    pub time_squeeze: f64,
    /// RPS IPIs per second (`None` when the kernel does not print the column).
    pub received_rps: Option<f64>,
    /// Flow-limit drops per second.
    pub flow_limit_count: Option<f64>,
    /// Backlog length at the newer snapshot (packets, a gauge).
    pub backlog_len: Option<u32>,
}

/// Per-second rates of one device's `/proc/net/dev` counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetDevRates {
    /// Bytes per second.
    pub rx_bytes: f64,
    /// Packets per second.
    pub rx_packets: f64,
    /// Errors per second.
    pub rx_errs: f64,
    /// Drops per second.
    pub rx_drop: f64,
    /// FIFO overruns per second.
    pub rx_fifo: f64,
    /// Frame errors per second.
    pub rx_frame: f64,
    /// Bytes per second.
    pub tx_bytes: f64,
    /// Packets per second.
    pub tx_packets: f64,
    /// Errors per second.
    pub tx_errs: f64,
    /// Drops per second.
    pub tx_drop: f64,
}

impl<'a> Window<'a> {
    /// Build a window; `None` if the snapshots are not in time order.
    pub fn new(older: &'a Snapshot, newer: &'a Snapshot, host: &'a HostFacts) -> Option<Self> {
        (newer.taken_at_ns > older.taken_at_ns).then_some(Window { older, newer, host })
    }

    /// The two newest snapshots of `capture` as a window, when there are two in time order.
    pub fn newest(capture: &'a Capture) -> Option<Self> {
        match capture.snapshots.as_slice() {
            [.., older, newer] => Window::new(older, newer, &capture.host),
            _ => None,
        }
    }

    /// Length of the window in seconds.
    pub fn seconds(&self) -> f64 {
        (self.newer.taken_at_ns - self.older.taken_at_ns) as f64 / 1e9
    }

    fn per_second(&self, delta: u64) -> f64 {
        delta as f64 / self.seconds()
    }

    /// Softnet rates per CPU present in both snapshots (matched by CPU id).
    pub fn softnet(&self) -> Vec<SoftnetRates> {
        let (Some(old), Some(new)) = (self.older.softnet.ok(), self.newer.softnet.ok()) else {
            return Vec::new();
        };
        new.iter()
            .filter_map(|n| {
                let o = old.iter().find(|o| o.cpu == n.cpu)?;
                let opt = |a: Option<u32>, b: Option<u32>| match (a, b) {
                    (Some(a), Some(b)) => Some(self.per_second(delta_u32(a, b))),
                    _ => None,
                };
                Some(SoftnetRates {
                    cpu: n.cpu,
                    processed: self.per_second(delta_u32(o.processed, n.processed)),
                    dropped: self.per_second(delta_u32(o.dropped, n.dropped)),
                    time_squeeze: self.per_second(delta_u32(o.time_squeeze, n.time_squeeze)),
                    received_rps: opt(o.received_rps, n.received_rps),
                    flow_limit_count: opt(o.flow_limit_count, n.flow_limit_count),
                    backlog_len: n.backlog_len,
                })
            })
            .collect()
    }

    /// Device rates for devices present in both snapshots.
    pub fn netdev(&self) -> BTreeMap<String, NetDevRates> {
        let (Some(old), Some(new)) = (self.older.netdev.ok(), self.newer.netdev.ok()) else {
            return BTreeMap::new();
        };
        new.iter()
            .filter_map(|(name, n)| {
                let o: &NetDevCounters = old.get(name)?;
                let r = |a: u64, b: u64| self.per_second(delta_u64(a, b));
                Some((
                    name.clone(),
                    NetDevRates {
                        rx_bytes: r(o.rx_bytes, n.rx_bytes),
                        rx_packets: r(o.rx_packets, n.rx_packets),
                        rx_errs: r(o.rx_errs, n.rx_errs),
                        rx_drop: r(o.rx_drop, n.rx_drop),
                        rx_fifo: r(o.rx_fifo, n.rx_fifo),
                        rx_frame: r(o.rx_frame, n.rx_frame),
                        tx_bytes: r(o.tx_bytes, n.tx_bytes),
                        tx_packets: r(o.tx_packets, n.tx_packets),
                        tx_errs: r(o.tx_errs, n.tx_errs),
                        tx_drop: r(o.tx_drop, n.tx_drop),
                    },
                ))
            })
            .collect()
    }

    /// Increase of a netstat/snmp counter (`section`, `field`) over the window; `None` when
    /// the kernel does not print it.
    pub fn netstat_delta(&self, section: &str, field: &str) -> Option<i64> {
        let get = |s: &Snapshot| s.netstat.ok()?.get(section)?.get(field).copied();
        Some(delta_i64(get(self.older)?, get(self.newer)?))
    }

    /// Per-second rate of a netstat/snmp counter.
    pub fn netstat_rate(&self, section: &str, field: &str) -> Option<f64> {
        self.netstat_delta(section, field)
            .map(|d| d as f64 / self.seconds())
    }

    /// Per-CPU rate of a softirq (`NET_RX`, `NET_TX`), index = CPU column.
    pub fn softirq_rates(&self, name: &str) -> Option<Vec<f64>> {
        let old = self.older.softirqs.ok()?.get(name)?;
        let new = self.newer.softirqs.ok()?.get(name)?;
        Some(
            new.iter()
                .zip(old.iter())
                .map(|(n, o)| self.per_second(delta_u64(*o, *n)))
                .collect(),
        )
    }

    /// Per-CPU share of time spent in softirq over the window (0.0–1.0), from /proc/stat.
    pub fn softirq_time_share(&self) -> Vec<(u32, f64)> {
        let (Some(old), Some(new)) = (self.older.cpu_times.ok(), self.newer.cpu_times.ok()) else {
            return Vec::new();
        };
        new.iter()
            .filter_map(|n| {
                let o = old.iter().find(|o| o.cpu == n.cpu)?;
                let total = |c: &crate::collect::softirqs::CpuTimes| {
                    c.user + c.nice + c.system + c.idle + c.iowait + c.irq + c.softirq + c.steal
                };
                let dt = delta_u64(total(o), total(n));
                (dt > 0).then(|| (n.cpu, delta_u64(o.softirq, n.softirq) as f64 / dt as f64))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_wraparound_is_an_increase_not_a_reset() {
        assert_eq!(delta_u32(u32::MAX - 4, 5), 10);
        assert_eq!(delta_u32(7, 7), 0);
        assert_eq!(delta_u32(1, 1001), 1000);
    }

    #[test]
    fn u64_counter_reset_counts_from_zero() {
        assert_eq!(delta_u64(1000, 1500), 500);
        assert_eq!(delta_u64(1000, 30), 30);
        assert_eq!(delta_i64(10, 4), 4);
        assert_eq!(delta_i64(-1, -1), 0);
        assert_eq!(delta_i64(-5, i64::MAX), i64::MAX);
    }
}
