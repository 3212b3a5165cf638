//! Host-wide limits and safety switches: file descriptors (`fd.near_limit`), SYN cookies
//! (`security.syncookies_off`), TCP timestamps (`security.timestamps_off`) and packets
//! dropped from the memory reserves (`system.pfmemalloc_drop`).

use super::ids;
use super::thresholds as t;
use super::util::{fmt_bytes, sysctl, sysctl_n, sysctl_u64};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::FD_NEAR_LIMIT,
        run: fd_near_limit,
    },
    Rule {
        name: ids::SECURITY_SYNCOOKIES_OFF,
        run: syncookies_off,
    },
    Rule {
        name: ids::SECURITY_TIMESTAMPS_OFF,
        run: timestamps_off,
    },
    Rule {
        name: ids::SYSTEM_PFMEMALLOC_DROP,
        run: pfmemalloc_drop,
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers

// ---------------------------------------------------------------------------------------
// fd.near_limit

/// `fs.file-nr` (allocated, free, max) against `fs.file-max`.
fn fd_near_limit(ctx: &Context) -> Vec<Finding> {
    let snap = ctx.newer;
    let Some([allocated, _free, nr_max]) = sysctl_n::<3>(snap, "fs.file-nr") else {
        return Vec::new();
    };
    let file_max_text = sysctl(snap, "fs.file-max");
    let file_max = sysctl_u64(snap, "fs.file-max").unwrap_or(nr_max);
    if file_max == 0 {
        return Vec::new();
    }
    let fill = allocated as f64 / file_max as f64;
    if fill <= t::FD_WARN_FILL {
        return Vec::new();
    }
    let severity = if fill > t::FD_CRIT_FILL {
        Severity::Critical
    } else {
        Severity::Warning
    };
    // The kernel accepts up to LONG_MAX.
    let target = ((allocated as f64 / t::FD_TARGET_FILL).ceil() as u64)
        .max(file_max.saturating_mul(2))
        .min(i64::MAX as u64);
    let mut changes = Vec::new();
    if target > file_max {
        changes.push(Change::sysctl(
            "fs.file-max",
            Some(file_max_text.unwrap_or(&file_max.to_string())),
            target.to_string(),
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::FD_NEAR_LIMIT.into(),
        severity,
        title: format!(
            "Host file handle table is {:.0}% full ({allocated} of fs.file-max {file_max})",
            fill * 100.0
        ),
        detail: "Every socket is a file. When fs.file-max is reached, socket(), accept() and \
                 open() fail with ENFILE for every process, so new connections are refused \
                 even though the network has capacity. Per-process limits (RLIMIT_NOFILE) are \
                 a separate, lower ceiling worth checking too."
            .into(),
        evidence: vec![
            Evidence::new("fs.file-nr.allocated", "host", allocated as f64, "handles"),
            Evidence::new("fs.file-max", "host", file_max as f64, "handles"),
            Evidence::new("fs.file-nr.fill", "host", fill * 100.0, "%"),
        ],
        changes,
        risk: format!(
            "fs.file-max is only a ceiling; memory is used per handle actually open (about 1 KiB \
             each, so {target} open handles would be about {}). A leak that is now stopped by the \
             limit would grow further.",
            fmt_bytes(target as f64 * 1024.0)
        ),
        verify: format!(
            "fs.file-nr allocated stays below {:.0}% of fs.file-max",
            t::FD_WARN_FILL * 100.0
        ),
    }]
}

// ---------------------------------------------------------------------------------------
// security.*

fn syncookies_off(ctx: &Context) -> Vec<Finding> {
    let key = "net.ipv4.tcp_syncookies";
    if sysctl(ctx.newer, key).map(str::trim) != Some("0") {
        return Vec::new();
    }
    vec![Finding {
        netns: None,
        id: ids::SECURITY_SYNCOOKIES_OFF.into(),
        severity: Severity::Warning,
        title: "TCP SYN cookies are disabled, so a SYN flood fills every listener's SYN queue"
            .into(),
        detail: "With net.ipv4.tcp_syncookies=0 the kernel has no fallback when a listener's \
                 SYN queue is full: new connection attempts are dropped (TcpExt.TCPReqQFullDrop) \
                 and a small spoofed SYN flood takes the service down. With 1, cookies are used \
                 only while the queue is full and cost nothing otherwise."
            .into(),
        evidence: vec![Evidence::new(key, "host", 0.0, "bool")],
        changes: vec![Change::sysctl(key, Some("0"), "1")],
        risk: "none in normal operation; while cookies are in use, connections that are \
               answered with a cookie lose TCP options the SYN carried unless timestamps are on \
               (window scaling, SACK)"
            .into(),
        verify: "net.ipv4.tcp_syncookies reads 1; TcpExt.TCPReqQFullDrop stays at 0 under load"
            .into(),
    }]
}

fn timestamps_off(ctx: &Context) -> Vec<Finding> {
    let key = "net.ipv4.tcp_timestamps";
    if sysctl(ctx.newer, key).map(str::trim) != Some("0") {
        return Vec::new();
    }
    vec![Finding {
        netns: None,
        id: ids::SECURITY_TIMESTAMPS_OFF.into(),
        severity: Severity::Warning,
        title: "TCP timestamps are disabled (no PAWS, coarse RTT, no TIME_WAIT reuse)".into(),
        detail: "Without timestamps (RFC 7323) TCP loses PAWS protection against wrapped \
                 sequence numbers (a 10 Gbit/s flow wraps the 32-bit space in about 3.4 s), \
                 measures RTT only once per window, and tcp_tw_reuse cannot work. Since Linux \
                 4.10 timestamps use per-connection random offsets and do not leak uptime."
            .into(),
        evidence: vec![Evidence::new(key, "host", 0.0, "bool")],
        changes: vec![Change::sysctl(key, Some("0"), "1")],
        risk: "10 bytes more TCP header per segment (about 0.7% at MTU 1500)".into(),
        verify: "net.ipv4.tcp_timestamps reads 1".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// system.pfmemalloc_drop

fn pfmemalloc_drop(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(c) =
        super::util::counted(&w, &[("TcpExt", "PFMemallocDrop")], &[("Ip", "InReceives")])
    else {
        return Vec::new();
    };
    if !c.fires(&t::PFMEMALLOC_DROP) {
        return Vec::new();
    }
    let mut evidence = vec![Evidence::new(
        "TcpExt.PFMemallocDrop",
        "host",
        c.rate,
        "1/s",
    )];
    let current = sysctl_u64(ctx.newer, "vm.min_free_kbytes");
    let mut changes = Vec::new();
    if let Some(cur) = current {
        evidence.push(Evidence::new(
            "vm.min_free_kbytes",
            "host",
            cur as f64,
            "KiB",
        ));
        // Double the reserve, at most 1 % of RAM (and never lower it).
        let cap = ctx.host.mem_total_bytes.map(|b| b / 1024 / 100);
        if let Some(p) = cap
            .map(|cap| cur.saturating_mul(2).min(cap))
            .filter(|p| *p > cur)
        {
            changes.push(Change::sysctl(
                "vm.min_free_kbytes",
                sysctl(ctx.newer, "vm.min_free_kbytes"),
                p.to_string(),
            ));
        }
    }
    changes.push(Change::advice(
        "memory",
        "the host ran out of free pages: find what uses the memory (`free -m`, \
         /proc/meminfo, slabtop) and whether swap over the network (NBD, iSCSI, NFS) is in use",
    ));
    vec![Finding {
        netns: None,
        id: ids::SYSTEM_PFMEMALLOC_DROP.into(),
        severity: Severity::Warning,
        title: format!(
            "{} packets/s ({} in the window) were allocated from the emergency memory \
             reserves and dropped",
            super::util::fmt_rate(c.rate),
            c.count
        ),
        detail: "When free memory falls below the watermarks, receive buffers come from the \
                 pfmemalloc reserves, which only sockets needed to free memory (swap over the \
                 network) may use; everything else is dropped (PFMemallocDrop). Packet loss \
                 here is a symptom of memory exhaustion, not of the network."
            .into(),
        evidence,
        changes,
        risk: "a larger vm.min_free_kbytes keeps that much memory free for atomic allocations \
               (unavailable to applications)"
            .into(),
        verify: "TcpExt.PFMemallocDrop stops rising".into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::super::fixes::round_up_mib;
    use super::super::util::{join, parse_n};
    use super::super::{Options, Severity};
    use super::*;
    use crate::diagnose::testkit::*;
    use crate::snapshot::Snapshot;

    fn snap(kv: &[(&str, &str)]) -> Snapshot {
        let mut s = Snapshot::empty(1);
        set_sysctls(&mut s, kv);
        s
    }

    #[test]
    fn helpers_parse_vectors_strictly() {
        assert_eq!(
            parse_n::<3>("4096 131072 6291456"),
            Some([4096, 131072, 6291456])
        );
        assert_eq!(
            parse_n::<3>("4096\t131072   6291456"),
            Some([4096, 131072, 6291456])
        );
        assert_eq!(parse_n::<3>("4096 131072"), None);
        assert_eq!(parse_n::<3>("1 2 3 4"), None);
        assert_eq!(parse_n::<2>("-1 2"), None);
        assert_eq!(join(&[1, 2, 3]), "1 2 3");
        // One formatter (softnet's coarse one, the contract's form): whole units from 10 up.
        assert_eq!(fmt_bytes(65_536_000.0), "62 MiB");
        assert_eq!(fmt_bytes(2.25 * 1024.0), "2.2 KiB");
        assert_eq!(fmt_bytes(4096.0), "4 KiB");
        assert_eq!(round_up_mib(1.0), 1 << 20);
        assert_eq!(round_up_mib((3 << 20) as f64), 3 << 20);
    }

    #[test]
    fn fd_near_limit_fires_and_proposes_double() {
        let s = snap(&[("fs.file-nr", "90000 0 100000"), ("fs.file-max", "100000")]);
        let f = run_static(fd_near_limit, &s, &host(), &Options::default());
        let f = only(&f, ids::FD_NEAR_LIMIT);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(evidence_value(f, "fs.file-nr.allocated", "host"), 90000.0);
        assert!((evidence_value(f, "fs.file-nr.fill", "host") - 90.0).abs() < 1e-9);
        // max(90000 / 0.5, 2 × 100000)
        assert_eq!(proposed_value(f, "fs.file-max"), "200000");

        let s = snap(&[("fs.file-nr", "99000 0 100000"), ("fs.file-max", "100000")]);
        let f = run_static(fd_near_limit, &s, &host(), &Options::default());
        assert_eq!(only(&f, ids::FD_NEAR_LIMIT).severity, Severity::Critical);
    }

    #[test]
    fn fd_healthy_or_huge_max_is_quiet() {
        let s = snap(&[("fs.file-nr", "1178 0 2466170"), ("fs.file-max", "2466170")]);
        assert!(run_static(fd_near_limit, &s, &host(), &Options::default()).is_empty());
        let s = snap(&[
            ("fs.file-nr", "5000 0 9223372036854775807"),
            ("fs.file-max", "9223372036854775807"),
        ]);
        assert!(run_static(fd_near_limit, &s, &host(), &Options::default()).is_empty());
        let s = snap(&[("fs.file-nr", "garbage")]);
        assert!(run_static(fd_near_limit, &s, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn fd_near_a_huge_max_does_not_overflow() {
        let s = snap(&[
            ("fs.file-nr", "18446744073709551000 0 18446744073709551615"),
            ("fs.file-max", "18446744073709551615"),
        ]);
        let f = run_static(fd_near_limit, &s, &host(), &Options::default());
        // Cannot be raised further: the finding stands, with no change proposed.
        assert!(only(&f, ids::FD_NEAR_LIMIT).changes.is_empty());
    }

    #[test]
    fn syncookies_and_timestamps_off_fire() {
        let s = snap(&[
            ("net.ipv4.tcp_syncookies", "0"),
            ("net.ipv4.tcp_timestamps", "0"),
        ]);
        let f = run_static(syncookies_off, &s, &host(), &Options::default());
        let f = only(&f, ids::SECURITY_SYNCOOKIES_OFF);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(proposed_value(f, "net.ipv4.tcp_syncookies"), "1");
        let f = run_static(timestamps_off, &s, &host(), &Options::default());
        let f = only(&f, ids::SECURITY_TIMESTAMPS_OFF);
        assert_eq!(proposed_value(f, "net.ipv4.tcp_timestamps"), "1");
        assert_eq!(f.changes[0].current.as_deref(), Some("0"));
    }

    #[test]
    fn syncookies_and_timestamps_defaults_are_quiet() {
        for v in ["1", "2"] {
            let s = snap(&[
                ("net.ipv4.tcp_syncookies", v),
                ("net.ipv4.tcp_timestamps", v),
            ]);
            assert!(run_static(syncookies_off, &s, &host(), &Options::default()).is_empty());
            assert!(run_static(timestamps_off, &s, &host(), &Options::default()).is_empty());
        }
        let s = Snapshot::empty(1);
        assert!(run_static(syncookies_off, &s, &host(), &Options::default()).is_empty());
    }
}

#[cfg(test)]
mod robustness {
    use super::super::{config, conntrack, tcp, udp, Options};
    use super::*;
    use crate::collect::conntrack::{Conntrack, ConntrackCpuStat};
    use crate::collect::host::HostFacts;
    use crate::collect::sockets::{DestinationCount, Listener, Owner, Sockets};
    use crate::collect::sysctl::SysctlConfigEntry;
    use crate::collect::Source;
    use crate::diagnose::testkit::*;
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "fs.file-nr",
        "fs.file-max",
        "net.core.somaxconn",
        "net.core.rmem_default",
        "net.core.rmem_max",
        "net.core.wmem_max",
        "net.core.default_qdisc",
        "net.core.netdev_max_backlog",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_mem",
        "net.ipv4.udp_mem",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_timestamps",
        "net.ipv4.tcp_tw_reuse",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_congestion_control",
        "net.ipv4.tcp_available_congestion_control",
        "net.netfilter.nf_conntrack_max",
    ];
    const COUNTERS: &[(&str, &str)] = &[
        ("TcpExt", "ListenOverflows"),
        ("TcpExt", "ListenDrops"),
        ("TcpExt", "TCPReqQFullDrop"),
        ("TcpExt", "TCPReqQFullDoCookies"),
        ("TcpExt", "SyncookiesSent"),
        ("TcpExt", "SyncookiesRecv"),
        ("TcpExt", "SyncookiesFailed"),
        ("TcpExt", "TCPMemoryPressures"),
        ("TcpExt", "RcvPruned"),
        ("TcpExt", "TCPBacklogDrop"),
        ("TcpExt", "TCPRcvQDrop"),
        ("Tcp", "RetransSegs"),
        ("Tcp", "OutSegs"),
        ("Udp", "RcvbufErrors"),
        ("Udp", "InDatagrams"),
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|v| v.to_string()),
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| format!("{a} {b} {c}")),
            (0u64..70000, 0u64..70000).prop_map(|(a, b)| format!("{a} {b}")),
            "[a-z0-9 \\-]{0,20}",
            Just("0".to_string()),
            Just("bbr".to_string()),
            Just("cubic".to_string()),
        ]
    }

    fn sockets(q: u32, backlog: u32, tw: u64) -> Source<Sockets> {
        Source::Ok(Sockets {
            listeners: vec![Listener {
                local: "0.0.0.0:80".parse().unwrap(),
                accept_queue: q,
                backlog,
                inode: 1,
                uid: 0,
                owner: Owner::Process {
                    pid: 1,
                    comm: String::new(),
                },
            }],
            time_wait_top: vec![DestinationCount {
                remote: "127.0.0.1:80".parse().unwrap(),
                count: tw,
            }],
            ..Sockets::default()
        })
    }

    proptest! {
        #[test]
        fn rules_never_panic_on_odd_values(
            vals in proptest::collection::vec(value(), KEYS.len()),
            // Non-negative like the kernel's MIB counters (window::delta_i64 overflows when
            // older is negative and newer near i64::MAX).
            olds in proptest::collection::vec(0i64..=i64::MAX, COUNTERS.len()),
            news in proptest::collection::vec(0i64..=i64::MAX, COUNTERS.len()),
            q in any::<u32>(), backlog in any::<u32>(), tw in any::<u64>(),
            count in any::<u64>(), max in any::<u64>(), buckets in any::<u64>(),
            d0 in any::<u64>(), d1 in any::<u64>(),
            page in prop_oneof![Just(0u64), Just(4096u64), any::<u64>()],
            mem in proptest::option::of(any::<u64>()),
            speed in proptest::option::of(any::<f64>()),
            rtt in proptest::option::of(any::<f64>()),
        ) {
            let kv: Vec<(&str, &str)> =
                KEYS.iter().zip(&vals).map(|(k, v)| (*k, v.as_str())).collect();
            let counters: Vec<(&str, &str, i64, i64)> = COUNTERS
                .iter()
                .zip(olds.iter().zip(&news))
                .map(|((s, f), (o, n))| (*s, *f, *o, *n))
                .collect();
            let (mut a, mut b) = pair(&kv, &counters);
            set_sockstat(&mut b, &[("TCP", "mem", olds[0]), ("UDP", "mem", news[0])]);
            a.sockets = sockets(q / 2, backlog, tw / 2);
            b.sockets = sockets(q, backlog, tw);
            let ct = |d: u64| Source::Ok(Conntrack {
                count: Some(count),
                max: Some(max),
                buckets: Some(buckets),
                stat: Some(vec![ConntrackCpuStat {
                    drop: Some(d),
                    early_drop: Some(d),
                    insert_failed: Some(d),
                    ..ConntrackCpuStat::default()
                }]),
            });
            a.conntrack = ct(d0);
            b.conntrack = ct(d1);
            b.sysctl_config = Source::Ok(
                kv.iter()
                    .enumerate()
                    .map(|(i, (k, v))| SysctlConfigEntry {
                        key: (*k).to_string(),
                        value: (*v).to_string(),
                        file: "x.conf".into(),
                        line: i + 1,
                        overridden: false,
                        ignore_failure: false,
                        exclude: false,
                    })
                    .collect(),
            );
            let h = HostFacts { page_size: page, mem_total_bytes: mem, ..host() };
            let o = Options { link_speed_gbps: speed, rtt_ms: rtt, intent: super::super::Intent::Bulk };
            for rules in [RULES, tcp::RULES, udp::RULES, conntrack::RULES, config::RULES] {
                for r in rules {
                    let _ = run_window(r.run, &a, &b, &h, &o);
                    let _ = run_static(r.run, &b, &h, &o);
                }
            }
        }
    }

    #[test]
    fn pfmemalloc_drop_fires_and_doubles_min_free() {
        let mut fx = crate::diagnose::testkit::Fx::new(2);
        fx.netstat("TcpExt", "PFMemallocDrop", 2.0)
            .netstat("Ip", "InReceives", 1000.0)
            .sysctl("vm.min_free_kbytes", "67584");
        fx.host.mem_total_bytes = Some(16 << 30);
        let f = fx.run(pfmemalloc_drop);
        let f = crate::diagnose::testkit::only(&f, ids::SYSTEM_PFMEMALLOC_DROP);
        assert_eq!(
            crate::diagnose::testkit::proposed(f, "vm.min_free_kbytes"),
            Some("135168")
        );
    }

    #[test]
    fn pfmemalloc_drop_quiet_when_flat() {
        let mut fx = crate::diagnose::testkit::Fx::new(2);
        fx.netstat("TcpExt", "PFMemallocDrop", 0.0)
            .netstat("Ip", "InReceives", 1000.0);
        assert!(fx.run(pfmemalloc_drop).is_empty());
    }
}
