//! Queues outside the sockets: netlink sockets that drop messages
//! (`netlink.socket_drops`), qdiscs that drop packets (`qdisc.drops`) and the neighbour
//! table (`neigh.table_overflow`, from its statistics and the kernel log).

use super::ids;
use super::thresholds as t;
use super::util::{fmt_rate, fmt_share, sysctl, sysctl_u64, Counted};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::{Change, ChangeKind};
use crate::collect::kmsg::LogEvent;
use crate::collect::netlink::protocol_name;
use crate::collect::sockets::Owner;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::NETLINK_SOCKET_DROPS,
        run: netlink_drops,
    },
    Rule {
        name: ids::QDISC_DROPS,
        run: qdisc_drops,
    },
    Rule {
        name: ids::NEIGH_TABLE_OVERFLOW,
        run: neigh_overflow,
    },
];

// ---------------------------------------------------------------------------------------
// netlink.socket_drops

/// `route socket 412 (systemd-udevd, pid 412)`.
fn netlink_label(s: &crate::collect::netlink::NetlinkSocket) -> String {
    let owner = match &s.owner {
        Owner::Process { pid, comm } if !comm.is_empty() => format!(" ({comm}, pid {pid})"),
        Owner::Process { pid, .. } => format!(" (pid {pid})"),
        _ => String::new(),
    };
    format!("{} socket {}{owner}", protocol_name(s.protocol), s.portid)
}

fn netlink_drops(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let mut drops = w.netlink_drops();
    let total: u64 = drops.iter().map(|d| d.dropped).sum();
    let seconds = w.seconds();
    let c = Counted {
        count: total as f64,
        rate: total as f64 / seconds.max(1e-9),
        base: None,
        seconds,
    };
    if drops.is_empty() || !c.fires(&t::NETLINK_DROPS) {
        return Vec::new();
    }
    drops.sort_by_key(|d| std::cmp::Reverse(d.dropped));
    drops.truncate(5);
    let mut evidence = Vec::new();
    for d in &drops {
        evidence.push(Evidence::new(
            "netlink.drops",
            netlink_label(d.socket),
            d.dropped as f64 / seconds,
            "1/s",
        ));
    }
    let names: Vec<String> = drops
        .iter()
        .take(3)
        .map(|d| netlink_label(d.socket))
        .collect();
    vec![Finding {
        netns: None,
        id: ids::NETLINK_SOCKET_DROPS.into(),
        severity: Severity::Warning,
        title: format!(
            "Netlink {} dropped {} messages ({}/s): {}",
            if drops.len() == 1 {
                "socket"
            } else {
                "sockets"
            },
            total,
            fmt_rate(c.rate),
            names.join(", ")
        ),
        detail: "A netlink socket whose receive buffer is full loses the kernel's messages \
                 (Drops in /proc/net/netlink; the reader gets ENOBUFS): a routing daemon misses \
                 route or link changes, udev misses uevents, conntrackd or a flow exporter \
                 misses conntrack events, a monitor misses notifications. Its view of the \
                 kernel is then stale until it resynchronises."
            .into(),
        evidence,
        changes: vec![Change::advice(
            names
                .first()
                .cloned()
                .unwrap_or_else(|| "netlink reader".into()),
            "make the reader keep up and give it a bigger buffer: most daemons have an option \
             (bird/FRR netlink buffer size, conntrackd NetlinkBufferSize and \
             NetlinkBufferSizeMaxGrowth, systemd-udevd --children-max); SO_RCVBUF is capped \
             by net.core.rmem_max unless the daemon uses SO_RCVBUFFORCE",
        )],
        risk: "none from nettune".into(),
        verify: "the Drops column of /proc/net/netlink stops rising for these sockets".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// qdisc.drops

/// Qdiscs whose drops are their policy (shapers, policers): reported as info.
const SHAPERS: &[&str] = &[
    "tbf", "htb", "hfsc", "cake", "ingress", "clsact", "cbs", "taprio",
];
/// Plain FIFOs whose drops mean the queue (txqueuelen) overflowed.
const FIFOS: &[&str] = &["pfifo_fast", "pfifo", "bfifo", "pfifo_head_drop"];

fn qdisc_drops(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let deltas = w.qdisc_deltas();
    let seconds = w.seconds();
    let mut out = Vec::new();
    for top in deltas.iter().filter(|d| d.qdisc.is_top()) {
        let q = top.qdisc;
        let c = Counted {
            count: top.drops as f64,
            rate: top.drops as f64 / seconds.max(1e-9),
            base: Some((top.packets + top.drops) as f64),
            seconds,
        };
        if !c.fires(&t::QDISC_DROPS) {
            continue;
        }
        // The child that drops the most (mq, htb, prio roots sum their children).
        let child = deltas
            .iter()
            .filter(|d| d.qdisc.device == q.device && !d.qdisc.is_top() && d.drops > 0)
            .max_by_key(|d| d.drops);
        let kind = child.map_or(q.kind.as_str(), |c| c.qdisc.kind.as_str());
        let place = format!("{} {} {}", q.device, q.kind, q.handle);
        let mut evidence = vec![
            Evidence::new("qdisc.drops", place.as_str(), c.rate, "1/s"),
            Evidence::new(
                "qdisc.packets",
                place.as_str(),
                top.packets as f64 / seconds,
                "1/s",
            ),
            Evidence::new(
                "qdisc.overlimits",
                place.as_str(),
                top.overlimits as f64 / seconds,
                "1/s",
            ),
            Evidence::new(
                "qdisc.backlog",
                place.as_str(),
                q.backlog_packets as f64,
                "packets",
            ),
        ];
        if let Some(s) = c.share() {
            evidence.push(Evidence::new(
                "qdisc.drops.share",
                place.as_str(),
                s * 100.0,
                "%",
            ));
        }
        if let Some(ch) = child {
            evidence.push(Evidence::new(
                "qdisc.drops",
                format!("{} {} parent {}", q.device, ch.qdisc.kind, ch.qdisc.parent),
                ch.drops as f64 / seconds,
                "1/s",
            ));
        }
        let shaper = SHAPERS.contains(&kind) || q.parent == "ingress";
        let fifo = FIFOS.contains(&kind);
        let mut severity = if c.share().is_some_and(|s| s >= t::QDISC_DROPS_WARN_SHARE) {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut changes = Vec::new();
        let why;
        if shaper {
            severity = Severity::Info;
            why = format!(
                "{kind} drops what exceeds its configured rate or burst: this is the shaping \
                 or policing policy doing its job; raise the rate or burst if the traffic is \
                 legitimate"
            );
            changes.push(Change::advice(
                format!("{} {kind}", q.device),
                "review the shaper's rate/burst (`tc -s qdisc show dev IFACE`, `tc -s class \
                 show dev IFACE`) against the traffic it must carry",
            ));
        } else if fifo {
            let iface = ctx.newer.interfaces.ok().and_then(|i| i.get(&q.device));
            let qlen = iface.and_then(|i| i.tx_queue_len);
            if let Some(len) = qlen {
                evidence.push(Evidence::new(
                    "txqueuelen",
                    q.device.as_str(),
                    f64::from(len),
                    "packets",
                ));
                let p = (len.saturating_mul(2)).clamp(1000, 10_000);
                if p > len {
                    changes.push(Change::new(
                        ChangeKind::Txqueuelen,
                        q.device.clone(),
                        Some(len.to_string()),
                        p.to_string(),
                    ));
                }
            }
            why = format!(
                "{kind} is a plain FIFO of txqueuelen packets: bursts the NIC cannot send at \
                 once overflow it and are tail-dropped"
            );
            changes.push(Change::advice(
                format!("{} qdisc", q.device),
                "fq_codel (or fq for hosts that send TCP) keeps the queue short by dropping \
                 early and fairly instead of at the tail: `tc qdisc replace dev IFACE root \
                 fq_codel`, or net.core.default_qdisc for new devices",
            ));
        } else {
            why = format!(
                "{kind} drops to keep its queue delay low (active queue management) or when \
                 it reaches its limit: the device sends less than the host offers, so the \
                 link (or the NIC) is the bottleneck"
            );
            changes.push(Change::advice(
                format!("{} {kind}", q.device),
                "the drops signal senders to slow down; if the link is saturated, more \
                 bandwidth or less traffic is the fix; if not, check the qdisc's limit \
                 (`tc -s qdisc show dev IFACE`: drop_overlimit, flows_plimit) and raise it",
            ));
        }
        out.push(Finding {
            netns: None,
            id: ids::QDISC_DROPS.into(),
            severity,
            title: format!(
                "Qdisc {kind} on {} drops {}/s ({} in the window{})",
                q.device,
                fmt_rate(c.rate),
                c.count,
                c.share()
                    .map(|s| format!(", {} of packets sent", fmt_share(s)))
                    .unwrap_or_default()
            ),
            detail: format!(
                "Packets leaving {} wait in its qdisc until the driver takes them. {why}. \
                 Overlimits count packets a shaper delayed (not necessarily dropped).",
                q.device
            ),
            evidence,
            changes,
            risk: "a longer transmit queue adds queueing delay (bufferbloat) under load; \
                   fq_codel has none of that cost"
                .into(),
            verify: format!("`tc -s qdisc show dev {}` dropped stops rising", q.device),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// neigh.table_overflow

/// (stat table, sysctl prefix, protocol).
const TABLES: [(&str, &str, &str); 2] = [
    ("arp_cache", "net.ipv4.neigh.default", "ARP (IPv4)"),
    ("ndisc_cache", "net.ipv6.neigh.default", "NDP (IPv6)"),
];

fn neigh_overflow(ctx: &Context) -> Vec<Finding> {
    // Kernel log lines: `arp_cache: neighbor table overflow!` names the table; the old
    // `Neighbour table overflow.` does not (counted for ARP, the usual one).
    let mut log_count = [0u64; 2];
    let mut suppressed = 0u64;
    if let Some(log) = ctx.newer.kernel_log.ok() {
        let tally = super::kernel_log::tally(log);
        for (e, n) in &tally.events {
            if let LogEvent::NeighOverflow { table } = e {
                let i = usize::from(*table == Some("ndisc_cache"));
                log_count[i] += n.count;
                suppressed += n.suppressed;
            }
        }
    }
    let mut evidence = Vec::new();
    let mut changes = Vec::new();
    let mut names = Vec::new();
    for (i, (table, prefix, proto)) in TABLES.iter().enumerate() {
        let delta = ctx.window.and_then(|w| w.neigh_delta(table));
        let entries = ctx
            .newer
            .neigh
            .ok()
            .and_then(|n| n.get(*table))
            .map(|s| s.entries);
        let key3 = format!("{prefix}.gc_thresh3");
        let thresh3 = sysctl_u64(ctx.newer, &key3);
        let fulls = delta.as_ref().map_or(0, |d| d.table_fulls);
        let at_limit = matches!((entries, thresh3), (Some(e), Some(t3)) if t3 > 0 && e >= t3);
        if fulls < t::NEIGH_TABLE_FULLS_MIN && log_count[i] == 0 && !at_limit {
            continue;
        }
        names.push(*proto);
        if let Some(d) = &delta {
            evidence.push(Evidence::new(
                &format!("{table}.table_fulls"),
                "host",
                d.table_fulls as f64,
                "events",
            ));
            evidence.push(Evidence::new(
                &format!("{table}.forced_gc_runs"),
                "host",
                d.forced_gc_runs as f64,
                "events",
            ));
        }
        if let Some(e) = entries {
            evidence.push(Evidence::new(
                &format!("{table}.entries"),
                "host",
                e as f64,
                "entries",
            ));
        }
        if log_count[i] > 0 {
            evidence.push(Evidence::new(
                "kernel_log.neighbour_table_overflow",
                *table,
                log_count[i] as f64,
                "lines",
            ));
        }
        let Some(t3) = thresh3 else { continue };
        evidence.push(Evidence::new(&key3, "host", t3 as f64, "entries"));
        let want = entries
            .unwrap_or(0)
            .saturating_mul(t::NEIGH_GC_THRESH_STEP)
            .max(t3.saturating_mul(2))
            .min(t::NEIGH_GC_THRESH3_CAP);
        if want <= t3 {
            continue;
        }
        for (suffix, value) in [
            ("gc_thresh1", want / 8),
            ("gc_thresh2", want / 2),
            ("gc_thresh3", want),
        ] {
            let key = format!("{prefix}.{suffix}");
            let cur = sysctl_u64(ctx.newer, &key);
            if cur.is_none_or(|c| value > c) {
                changes.push(Change::sysctl(
                    &key,
                    sysctl(ctx.newer, &key),
                    value.to_string(),
                ));
            }
        }
    }
    if names.is_empty() {
        return Vec::new();
    }
    if suppressed > 0 {
        evidence.push(Evidence::new(
            "kernel_log.callbacks_suppressed",
            "host",
            suppressed as f64,
            "lines",
        ));
    }
    changes.push(Change::advice(
        "neighbour entries",
        "a flat network with thousands of hosts (or a scan of a large subnet) needs a large \
         table; a router or Kubernetes node with many pods too; check `ip -s neigh | wc -l`",
    ));
    let suppressed_note = if suppressed > 0 {
        format!(" {suppressed} more messages were suppressed by rate limiting: the real count is higher.")
    } else {
        String::new()
    };
    vec![Finding {
        netns: None,
        id: ids::NEIGH_TABLE_OVERFLOW.into(),
        severity: Severity::Critical,
        title: format!(
            "The {} neighbour table overflowed: new neighbours cannot be resolved",
            names.join(" and ")
        ),
        detail: format!(
            "The neighbour table holds one entry per IP address this host talks to on a link. \
             Above gc_thresh3 entries the kernel cannot add one even after a forced garbage \
             collection (table_fulls, \"neighbour table overflow\" in the kernel log): packets \
             to that address are dropped and connections to new hosts fail.{suppressed_note}"
        ),
        evidence,
        changes,
        risk: "each entry is a few hundred bytes of kernel memory; a higher gc_thresh1 keeps \
               stale entries longer"
            .into(),
        verify: "table_fulls in /proc/net/stat/arp_cache (ndisc_cache) stops rising and no new \
                 \"neighbour table overflow\" appears in the kernel log"
            .into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::kmsg::{KernelLog, LogRecord, LogSpan};
    use crate::collect::neigh::NeighStat;
    use crate::collect::netlink::{Netlink, NetlinkSocket};
    use crate::collect::qdisc::Qdisc;
    use crate::collect::Source;
    use crate::diagnose::testkit::*;
    use crate::diagnose::Options;
    use crate::snapshot::Snapshot;

    fn sock(drops: u64) -> NetlinkSocket {
        NetlinkSocket {
            protocol: 15,
            portid: 412,
            groups: "00000001".into(),
            rmem: 0,
            drops,
            inode: 77,
            owner: Owner::Process {
                pid: 412,
                comm: "systemd-udevd".into(),
            },
        }
    }

    fn with_netlink(a: u64, b: u64) -> (Snapshot, Snapshot) {
        let (mut x, mut y) = pair(&[], &[]);
        x.netlink = Source::Ok(Netlink {
            sockets: 10,
            dropping: if a > 0 { vec![sock(a)] } else { vec![] },
        });
        y.netlink = Source::Ok(Netlink {
            sockets: 10,
            dropping: vec![sock(b)],
        });
        (x, y)
    }

    #[test]
    fn netlink_drops_name_the_socket_and_owner() {
        let (a, b) = with_netlink(0, 25);
        let f = run_window(netlink_drops, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::NETLINK_SOCKET_DROPS);
        assert!(
            f.title
                .contains("kobject_uevent socket 412 (systemd-udevd, pid 412)"),
            "{}",
            f.title
        );
        assert_eq!(
            evidence_value(
                f,
                "netlink.drops",
                "kobject_uevent socket 412 (systemd-udevd, pid 412)"
            ),
            5.0
        );
    }

    #[test]
    fn netlink_drops_quiet_when_flat() {
        let (a, b) = with_netlink(25, 25);
        assert!(run_window(netlink_drops, &a, &b, &host(), &Options::default()).is_empty());
    }

    fn q(dev: &str, kind: &str, parent: &str, packets: u64, drops: u64) -> Qdisc {
        Qdisc {
            device: dev.into(),
            kind: kind.into(),
            handle: "0:".into(),
            parent: parent.into(),
            packets,
            drops,
            overlimits: 3,
            ..Qdisc::default()
        }
    }

    #[test]
    fn fifo_drops_raise_txqueuelen_and_suggest_fq_codel() {
        let mut fx = Fx::new(2);
        fx.older.qdisc = Source::Ok(vec![q("eth0", "pfifo_fast", "root", 0, 0)]);
        fx.newer.qdisc = Source::Ok(vec![q("eth0", "pfifo_fast", "root", 10_000, 500)]);
        fx.iface(
            "eth0",
            crate::collect::interfaces::Interface {
                tx_queue_len: Some(1000),
                ..Default::default()
            },
        );
        let f = fx.run(qdisc_drops);
        let f = only(&f, ids::QDISC_DROPS);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(evidence(f, "qdisc.drops", "eth0 pfifo_fast 0:"), Some(50.0));
        assert_eq!(proposed(f, "eth0"), Some("2000"));
        assert!(proposed(f, "eth0 qdisc").is_some());
    }

    #[test]
    fn mq_names_its_dropping_child_and_shapers_are_info() {
        let mut fx = Fx::new(2);
        fx.newer.qdisc = Source::Ok(vec![
            q("eth0", "mq", "root", 100_000, 2000),
            q("eth0", "fq_codel", ":1", 50_000, 2000),
            q("eth1", "tbf", "root", 1000, 100),
        ]);
        fx.older.qdisc = Source::Ok(vec![]);
        let f = fx.run(qdisc_drops);
        assert_eq!(f.len(), 2, "{f:#?}");
        let eth0 = f.iter().find(|x| x.title.contains("eth0")).unwrap();
        assert!(eth0.title.contains("fq_codel"), "{}", eth0.title);
        assert_eq!(eth0.severity, Severity::Warning);
        let eth1 = f.iter().find(|x| x.title.contains("eth1")).unwrap();
        assert_eq!(eth1.severity, Severity::Info);
    }

    #[test]
    fn qdisc_quiet_when_drops_are_rare() {
        let mut fx = Fx::new(2);
        fx.older.qdisc = Source::Ok(vec![q("eth0", "fq_codel", "root", 0, 0)]);
        fx.newer.qdisc = Source::Ok(vec![q("eth0", "fq_codel", "root", 10_000_000, 5)]);
        assert!(fx.run(qdisc_drops).is_empty());
    }

    fn neigh(fulls: u64, entries: u64) -> Source<crate::collect::neigh::Neigh> {
        Source::Ok(
            [(
                "arp_cache".to_string(),
                NeighStat {
                    entries,
                    table_fulls: fulls,
                    ..NeighStat::default()
                },
            )]
            .into(),
        )
    }

    #[test]
    fn neigh_table_fulls_raise_gc_thresholds() {
        let mut fx = Fx::new(2);
        fx.sysctl("net.ipv4.neigh.default.gc_thresh1", "128")
            .sysctl("net.ipv4.neigh.default.gc_thresh2", "512")
            .sysctl("net.ipv4.neigh.default.gc_thresh3", "1024");
        fx.older.neigh = neigh(0, 1000);
        fx.newer.neigh = neigh(40, 1024);
        let f = fx.run(neigh_overflow);
        let f = only(&f, ids::NEIGH_TABLE_OVERFLOW);
        assert_eq!(evidence(f, "arp_cache.table_fulls", "host"), Some(40.0));
        assert_eq!(
            proposed(f, "net.ipv4.neigh.default.gc_thresh3"),
            Some("4096")
        );
        assert_eq!(
            proposed(f, "net.ipv4.neigh.default.gc_thresh2"),
            Some("2048")
        );
        assert_eq!(
            proposed(f, "net.ipv4.neigh.default.gc_thresh1"),
            Some("512")
        );
    }

    #[test]
    fn neigh_overflow_from_the_kernel_log_counts_suppressed() {
        let mut fx = Fx::new(2);
        fx.sysctl("net.ipv4.neigh.default.gc_thresh3", "1024");
        fx.newer.neigh = neigh(0, 10);
        fx.older.neigh = neigh(0, 10);
        let mut log = KernelLog::new(LogSpan::Window);
        for m in [
            "net_ratelimit: 12 callbacks suppressed",
            "arp_cache: neighbor table overflow!",
        ] {
            log.offer(LogRecord {
                seq: None,
                ts_usec: None,
                priority: None,
                message: m.into(),
            });
        }
        fx.newer.kernel_log = Source::Ok(log);
        let f = fx.run(neigh_overflow);
        let f = only(&f, ids::NEIGH_TABLE_OVERFLOW);
        assert_eq!(
            evidence(f, "kernel_log.neighbour_table_overflow", "arp_cache"),
            Some(1.0)
        );
        assert_eq!(
            evidence(f, "kernel_log.callbacks_suppressed", "host"),
            Some(12.0)
        );
        assert!(f.detail.contains("real count is higher"));
    }

    #[test]
    fn neigh_quiet_when_healthy() {
        let mut fx = Fx::new(2);
        fx.sysctl("net.ipv4.neigh.default.gc_thresh3", "1024");
        fx.older.neigh = neigh(5, 10);
        fx.newer.neigh = neigh(5, 12);
        assert!(fx.run(neigh_overflow).is_empty());
    }
}
