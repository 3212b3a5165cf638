//! Rates between two snapshots, derived at read time from raw cumulative counters (the one
//! path shared by `check`, `watch`, the exporter and offline analysis).
//!
//! Counter arithmetic: softnet columns are 32-bit and wrap ([`delta_u32`]); 64-bit counters
//! that go backwards were reset (device re-created, module reloaded) and count from zero
//! ([`delta_u64`]), as Prometheus' `rate()` does.

use crate::collect::conntrack::ConntrackCpuStat;
use crate::collect::host::HostFacts;
use crate::collect::neigh::NeighStat;
use crate::collect::netdev::NetDevCounters;
use crate::collect::netlink::NetlinkSocket;
use crate::collect::qdisc::Qdisc;
use crate::collect::sockets::{Listener, UdpSocket, TOP_N};
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

/// One UDP socket's drops over the window ([`Window::udp_socket_drops`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdpSocketDrops<'a> {
    /// The socket in the newer snapshot.
    pub socket: &'a UdpSocket,
    /// Datagrams dropped per second; `None` when the older snapshot cannot tell.
    pub rate: Option<f64>,
}

/// Messages one netlink socket dropped over the window.
#[derive(Debug, Clone)]
pub struct NetlinkDrops<'a> {
    pub socket: &'a NetlinkSocket,
    /// Messages dropped in the window.
    pub dropped: u64,
}

/// Counter increases of one qdisc over the window.
#[derive(Debug, Clone)]
pub struct QdiscDelta<'a> {
    pub qdisc: &'a Qdisc,
    /// Packets sent.
    pub packets: u64,
    /// Packets dropped.
    pub drops: u64,
    /// Over-limit events.
    pub overlimits: u64,
    /// Requeues.
    pub requeues: u64,
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

    /// The window of another network namespace: its part of the older snapshot and of the
    /// newer one, matched by inode (`Snapshot::namespaces`). `None` when either snapshot
    /// lacks it (created or deleted during the window) or its parts are not in time order.
    pub fn namespace(&self, inode: u64) -> Option<Window<'a>> {
        let older = self.older.namespace(inode)?;
        let newer = self.newer.namespace(inode)?;
        Window::new(&older.snapshot, &newer.snapshot, self.host)
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

    /// Per-CPU rates of `/proc/interrupts` line `irq` (`"24"`, `"LOC"`) over the window:
    /// `(cpu, interrupts per second)` for each count column of the newer snapshot. A line or
    /// column the older snapshot lacks (the IRQ was requested or the CPU came online during
    /// the window) has no known start and counts as 0/s; a count that went backwards was
    /// reset ([`delta_u64`]). `None` when either snapshot lacks the interrupts source or the
    /// newer one lacks the line.
    pub fn irq_rates(&self, irq: &str) -> Option<Vec<(u32, f64)>> {
        let old = self.older.interrupts.ok()?;
        let new = self.newer.interrupts.ok()?;
        let line = new.get(irq)?;
        let before = old.get(irq);
        Some(
            line.counts
                .iter()
                .enumerate()
                .filter_map(|(col, &n)| {
                    let cpu = new.cpu_of_column(col)?;
                    let o = before.and_then(|b| b.counts.get(col)).copied().unwrap_or(n);
                    Some((cpu, self.per_second(delta_u64(o, n))))
                })
                .collect(),
        )
    }

    /// Per-second rates of device `dev`'s ethtool driver statistics (`ethtool -S`) present
    /// in both snapshots, in the newer snapshot's order; a statistic that went backwards was
    /// reset (driver reloaded, device re-created) and counts from zero. Empty when either
    /// snapshot lacks the device's statistics.
    pub fn driver_stat_rates(&self, dev: &str) -> Vec<(String, f64)> {
        let get = |s: &'a Snapshot| s.ethtool.ok()?.get(dev)?.stats.ok();
        let (Some(old), Some(new)) = (get(self.older), get(self.newer)) else {
            return Vec::new();
        };
        new.iter()
            .filter_map(|(name, n)| {
                let o = old.get(name)?;
                Some((name.to_string(), self.per_second(delta_u64(o, n))))
            })
            .collect()
    }

    /// Per-second rate of one conntrack statistic (`/proc/net/stat/nf_conntrack`, summed
    /// over CPUs) picked by `field` (`|s| s.drop`); reset handling as [`delta_u64`]. `None`
    /// when either snapshot lacks the statistics or the kernel does not print the column.
    pub fn conntrack_rate(&self, field: fn(&ConntrackCpuStat) -> Option<u64>) -> Option<f64> {
        let old = self.older.conntrack.ok()?.totals()?;
        let new = self.newer.conntrack.ok()?.totals()?;
        Some(self.per_second(delta_u64(field(&old)?, field(&new)?)))
    }

    /// Drop rates of the UDP sockets in the newer snapshot's `top_drops` list (sockets with
    /// drops, matched by inode). The per-socket counter (`SK_MEMINFO_DROPS`) is 32-bit and
    /// wraps ([`delta_u32`]). A socket the older list lacks while that list was not full had
    /// no drops then (or did not exist), so all its drops are new; when the older list was
    /// full, or the older snapshot has no UDP socket data, the rate is unknown (`None`).
    /// Sockets whose kernel does not report drops are left out.
    pub fn udp_socket_drops(&self) -> Vec<UdpSocketDrops<'a>> {
        let Some(new) = self.newer.sockets.ok().and_then(|s| s.udp.ok()) else {
            return Vec::new();
        };
        let old = self.older.sockets.ok().and_then(|s| s.udp.ok());
        new.top_drops
            .iter()
            .filter_map(|s| {
                let now = s.drops?;
                let before = old
                    .and_then(|o| o.top_drops.iter().find(|x| x.inode == s.inode))
                    .and_then(|x| x.drops);
                let rate = match (before, old) {
                    (Some(b), _) => Some(self.per_second(delta_u32(b, now))),
                    (None, Some(o)) if o.top_drops.len() < TOP_N => {
                        Some(self.per_second(u64::from(now)))
                    }
                    _ => None,
                };
                Some(UdpSocketDrops { socket: s, rate })
            })
            .collect()
    }

    /// The larger of listener `l`'s accept queue (a gauge, connections waiting for
    /// `accept()`) in the newer snapshot and in the older one (matched by inode and address),
    /// so a queue that was full at either end of the window counts.
    pub fn accept_queue_peak(&self, l: &Listener) -> u32 {
        let before = self
            .older
            .sockets
            .ok()
            .and_then(|o| {
                o.listeners
                    .iter()
                    .find(|x| x.inode == l.inode && x.local == l.local)
            })
            .map_or(0, |x| x.accept_queue);
        l.accept_queue.max(before)
    }

    /// Messages each netlink socket of the newer snapshot that ever dropped lost over the
    /// window, matched by inode: a socket the older snapshot does not list had no drops then
    /// (the list holds every dropping socket) or did not exist; an older snapshot without
    /// the source (an archive's since-boot window) counts every drop since the socket opened.
    pub fn netlink_drops(&self) -> Vec<NetlinkDrops<'a>> {
        let Some(new) = self.newer.netlink.ok() else {
            return Vec::new();
        };
        let old = self.older.netlink.ok();
        new.dropping
            .iter()
            .map(|s| {
                let before = old
                    .and_then(|o| {
                        o.dropping
                            .iter()
                            .find(|x| x.inode == s.inode && x.protocol == s.protocol)
                    })
                    .map_or(0, |x| x.drops);
                NetlinkDrops {
                    socket: s,
                    dropped: delta_u64(before, s.drops),
                }
            })
            .filter(|d| d.dropped > 0)
            .collect()
    }

    /// Counter increases of every qdisc of the newer snapshot, matched by (device, handle,
    /// parent); one the older snapshot lacks (created during the window, or an archive's
    /// since-boot window) counts from zero.
    pub fn qdisc_deltas(&self) -> Vec<QdiscDelta<'a>> {
        let Some(new) = self.newer.qdisc.ok() else {
            return Vec::new();
        };
        let old = self.older.qdisc.ok();
        new.iter()
            .map(|q| {
                let o = old.and_then(|o| o.iter().find(|x| x.key() == q.key()));
                let d = |f: fn(&Qdisc) -> u64| delta_u64(o.map_or(0, f), f(q));
                QdiscDelta {
                    qdisc: q,
                    packets: d(|x| x.packets),
                    drops: d(|x| x.drops),
                    overlimits: d(|x| x.overlimits),
                    requeues: d(|x| x.requeues),
                }
            })
            .collect()
    }

    /// Increases of neighbour table `table`'s (`arp_cache`, `ndisc_cache`) event counters;
    /// `None` when the newer snapshot lacks it; an older snapshot without it counts from zero.
    pub fn neigh_delta(&self, table: &str) -> Option<NeighStat> {
        let new = self.newer.neigh.ok()?.get(table)?;
        let zero = NeighStat::default();
        let old = self
            .older
            .neigh
            .ok()
            .and_then(|o| o.get(table))
            .unwrap_or(&zero);
        Some(NeighStat {
            entries: new.entries,
            allocs: delta_u64(old.allocs, new.allocs),
            forced_gc_runs: delta_u64(old.forced_gc_runs, new.forced_gc_runs),
            unresolved_discards: delta_u64(old.unresolved_discards, new.unresolved_discards),
            table_fulls: delta_u64(old.table_fulls, new.table_fulls),
        })
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

    use crate::collect::conntrack::Conntrack;
    use crate::collect::ethtool::{DriverStats, Ethtool, EthtoolAll};
    use crate::collect::interrupts::{Interrupt, Interrupts};
    use crate::collect::sockets::{Sockets, UdpSummary};
    use crate::collect::Source;

    /// Two empty snapshots 10 s apart.
    fn pair() -> (Snapshot, Snapshot) {
        (
            Snapshot::empty(1_000_000_000),
            Snapshot::empty(11_000_000_000),
        )
    }

    fn interrupts(lines: &[(&str, &[u64])]) -> Source<Interrupts> {
        Source::Ok(Interrupts {
            cpus: vec![0, 2],
            lines: lines
                .iter()
                .map(|(irq, counts)| Interrupt {
                    irq: (*irq).into(),
                    counts: counts.to_vec(),
                    ..Interrupt::default()
                })
                .collect(),
        })
    }

    #[test]
    fn irq_rates_per_cpu_column_with_reset_and_new_lines() {
        let (mut a, mut b) = pair();
        let host = HostFacts::default();
        a.interrupts = interrupts(&[("24", &[100, 5000]), ("LOC", &[7])]);
        // CPU 2's count went backwards (reset): counts from zero. Line 25 is new.
        b.interrupts = interrupts(&[("24", &[300, 40]), ("25", &[90, 90]), ("LOC", &[7, 9])]);
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.irq_rates("24"), Some(vec![(0, 20.0), (2, 4.0)]));
        assert_eq!(w.irq_rates("25"), Some(vec![(0, 0.0), (2, 0.0)]));
        // A column the older line lacks has no start: 0/s.
        assert_eq!(w.irq_rates("LOC"), Some(vec![(0, 0.0), (2, 0.0)]));
        assert_eq!(w.irq_rates("26"), None);
        b.interrupts = Source::Unsupported {
            unsupported: "no /proc/interrupts".into(),
        };
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.irq_rates("24"), None);
    }

    fn stats(pairs: &[(&str, u64)]) -> Source<EthtoolAll> {
        let e = Ethtool {
            stats: Source::Ok(DriverStats(
                pairs.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            )),
            ..Ethtool::default()
        };
        Source::Ok(EthtoolAll::from([("eth0".to_string(), e)]))
    }

    #[test]
    fn driver_stat_rates_match_by_name_and_count_resets_from_zero() {
        let (mut a, mut b) = pair();
        let host = HostFacts::default();
        a.ethtool = stats(&[("rx_missed", 1000), ("rx_no_buffer", 9000)]);
        // rx_no_buffer reset (driver reloaded); rx_new is not in the older snapshot.
        b.ethtool = stats(&[("rx_missed", 1500), ("rx_no_buffer", 30), ("rx_new", 10)]);
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(
            w.driver_stat_rates("eth0"),
            vec![
                ("rx_missed".to_string(), 50.0),
                ("rx_no_buffer".to_string(), 3.0)
            ]
        );
        assert!(w.driver_stat_rates("eth1").is_empty());
    }

    fn conntrack(rows: &[(Option<u64>, u64)]) -> Source<Conntrack> {
        Source::Ok(Conntrack {
            stat: Some(
                rows.iter()
                    .map(|(drop, insert_failed)| ConntrackCpuStat {
                        drop: *drop,
                        insert_failed: Some(*insert_failed),
                        ..ConntrackCpuStat::default()
                    })
                    .collect(),
            ),
            ..Conntrack::default()
        })
    }

    #[test]
    fn conntrack_rate_sums_cpus_and_counts_resets_from_zero() {
        let (mut a, mut b) = pair();
        let host = HostFacts::default();
        a.conntrack = conntrack(&[(Some(100), 500), (Some(100), 500)]);
        // insert_failed total went from 1000 to 60: reset (module reloaded).
        b.conntrack = conntrack(&[(Some(150), 30), (Some(250), 30)]);
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.conntrack_rate(|s| s.drop), Some(20.0));
        assert_eq!(w.conntrack_rate(|s| s.insert_failed), Some(6.0));
        assert_eq!(w.conntrack_rate(|s| s.early_drop), None);
        b.conntrack = conntrack(&[(None, 30)]);
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.conntrack_rate(|s| s.drop), None);
    }

    fn udp(sockets: &[(u64, Option<u32>)]) -> Source<Sockets> {
        Source::Ok(Sockets {
            udp: Source::Ok(UdpSummary {
                count: sockets.len() as u64,
                drops_reported: true,
                drops_total: 0,
                top_drops: sockets
                    .iter()
                    .map(|(inode, drops)| UdpSocket {
                        local: "127.0.0.1:5353".parse().unwrap(),
                        remote: None,
                        rx_queue_bytes: 0,
                        rcvbuf_bytes: None,
                        drops: *drops,
                        inode: *inode,
                        uid: 0,
                    })
                    .collect(),
            }),
            ..Sockets::default()
        })
    }

    /// A namespace's window pairs its parts by inode; one missing from either snapshot has
    /// none.
    #[test]
    fn namespace_window_matches_parts_by_inode() {
        use crate::namespaces::NetnsRef;
        use crate::snapshot::NetnsSnapshot;
        let part = |inode: u64, t: u64, overflows: i64| {
            let mut s = Snapshot::empty(t);
            s.netstat = Source::Ok(
                [(
                    "TcpExt".to_string(),
                    [("ListenOverflows".to_string(), overflows)]
                        .into_iter()
                        .collect(),
                )]
                .into_iter()
                .collect(),
            );
            NetnsSnapshot {
                netns: NetnsRef {
                    inode,
                    name: format!("ns{inode}"),
                    path: format!("/proc/{inode}/ns/net").into(),
                },
                snapshot: s,
            }
        };
        let (mut a, mut b) = pair();
        let (t0, t1) = (a.taken_at_ns, b.taken_at_ns);
        a.namespaces = vec![part(1, t0, 10), part(2, t0, 0)];
        b.namespaces = vec![part(3, t1, 0), part(1, t1, 60)];
        let host = HostFacts::default();
        let w = Window::new(&a, &b, &host).unwrap();
        let ns = w.namespace(1).unwrap();
        assert_eq!(ns.netstat_delta("TcpExt", "ListenOverflows"), Some(50));
        assert!(w.namespace(2).is_none(), "deleted during the window");
        assert!(w.namespace(3).is_none(), "created during the window");
    }

    #[test]
    fn udp_socket_drops_match_by_inode_wrap_and_new_sockets() {
        let (mut a, mut b) = pair();
        let host = HostFacts::default();
        a.sockets = udp(&[(1, Some(100)), (2, Some(u32::MAX - 9))]);
        // 2 wrapped; 3 is new (a socket re-created gets a new inode: it counts from zero);
        // 4 does not report drops.
        b.sockets = udp(&[(1, Some(300)), (2, Some(10)), (3, Some(50)), (4, None)]);
        let w = Window::new(&a, &b, &host).unwrap();
        let got: Vec<(u64, Option<f64>)> = w
            .udp_socket_drops()
            .iter()
            .map(|d| (d.socket.inode, d.rate))
            .collect();
        assert_eq!(got, vec![(1, Some(20.0)), (2, Some(2.0)), (3, Some(5.0))]);

        // The older list was full: a socket missing from it may have been cut off.
        let full: Vec<(u64, Option<u32>)> = (10..10 + TOP_N as u64).map(|i| (i, Some(1))).collect();
        a.sockets = udp(&full);
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.udp_socket_drops()[2].rate, None);
        // No UDP data in the older snapshot: unknown.
        a.sockets = Source::Unsupported {
            unsupported: "no sock_diag".into(),
        };
        let w = Window::new(&a, &b, &host).unwrap();
        assert!(w.udp_socket_drops().iter().all(|d| d.rate.is_none()));
    }

    fn listeners(list: &[(u64, u32)]) -> Source<Sockets> {
        Source::Ok(Sockets {
            listeners: list
                .iter()
                .map(|(inode, queue)| Listener {
                    local: "0.0.0.0:80".parse().unwrap(),
                    accept_queue: *queue,
                    backlog: 128,
                    inode: *inode,
                    uid: 0,
                    owner: Default::default(),
                })
                .collect(),
            ..Sockets::default()
        })
    }

    #[test]
    fn accept_queue_peak_takes_the_fuller_end_of_the_window() {
        let (mut a, mut b) = pair();
        let host = HostFacts::default();
        a.sockets = listeners(&[(1, 129), (2, 3)]);
        // Listener 1 drained, 2 filled, 3 is new (a re-created socket has a new inode).
        b.sockets = listeners(&[(1, 0), (2, 50), (3, 7)]);
        let w = Window::new(&a, &b, &host).unwrap();
        let Some(now) = b.sockets.ok() else {
            panic!("no sockets")
        };
        let peaks: Vec<u32> = now
            .listeners
            .iter()
            .map(|l| w.accept_queue_peak(l))
            .collect();
        assert_eq!(peaks, vec![129, 50, 7]);
    }

    #[test]
    fn u64_counter_reset_counts_from_zero() {
        assert_eq!(delta_u64(1000, 1500), 500);
        assert_eq!(delta_u64(1000, 30), 30);
        assert_eq!(delta_i64(10, 4), 4);
        assert_eq!(delta_i64(-1, -1), 0);
        assert_eq!(delta_i64(-5, i64::MAX), i64::MAX);
    }

    #[test]
    fn netlink_qdisc_and_neigh_deltas() {
        use crate::collect::netlink::Netlink;
        use crate::collect::Source;
        let host = HostFacts::default();
        let sock = |drops| NetlinkSocket {
            protocol: 0,
            portid: 5,
            groups: String::new(),
            rmem: 0,
            drops,
            inode: 42,
            owner: Default::default(),
        };
        let mut a = Snapshot::empty(1_000_000_000);
        let mut b = Snapshot::empty(2_000_000_000);
        b.netlink = Source::Ok(Netlink {
            sockets: 3,
            dropping: vec![sock(10)],
        });
        // Older without the source: counted from zero.
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.netlink_drops()[0].dropped, 10);
        a.netlink = Source::Ok(Netlink {
            sockets: 3,
            dropping: vec![sock(4)],
        });
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.netlink_drops()[0].dropped, 6);
        let q = |packets, drops| Qdisc {
            device: "eth0".into(),
            kind: "pfifo_fast".into(),
            handle: "0:".into(),
            parent: "root".into(),
            packets,
            drops,
            ..Qdisc::default()
        };
        a.qdisc = Source::Ok(vec![q(100, 1)]);
        b.qdisc = Source::Ok(vec![q(1100, 51)]);
        let w = Window::new(&a, &b, &host).unwrap();
        let d = &w.qdisc_deltas()[0];
        assert_eq!((d.packets, d.drops), (1000, 50));
        let n = |fulls| NeighStat {
            entries: 1024,
            table_fulls: fulls,
            ..NeighStat::default()
        };
        a.neigh = Source::Ok([("arp_cache".to_string(), n(3))].into());
        b.neigh = Source::Ok([("arp_cache".to_string(), n(10))].into());
        let w = Window::new(&a, &b, &host).unwrap();
        assert_eq!(w.neigh_delta("arp_cache").map(|d| d.table_fulls), Some(7));
        assert!(w.neigh_delta("ndisc_cache").is_none());
    }
}
