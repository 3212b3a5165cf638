//! UDP receive buffer errors (`udp.rcvbuf_errors`): datagrams dropped because a socket's
//! receive buffer, or the host's `udp_mem`, was full; other receive errors
//! (`udp.in_errors`) and UDP memory against `udp_mem` (`udp.memory`).

use super::fixes::{below_default, round_up_mib, scale_mem_triple};
use super::ids;
use super::thresholds as t;
use super::util::{fmt_bytes, join, page_size, rate_or_zero, sysctl, sysctl_n, sysctl_u64};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;
use crate::collect::sockets::UdpSocket;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::UDP_RCVBUF_ERRORS,
        run: rcvbuf_errors,
    },
    Rule {
        name: ids::UDP_IN_ERRORS,
        run: in_errors,
    },
    Rule {
        name: ids::UDP_MEMORY,
        run: memory,
    },
];

/// The snmp/snmp6 sections that count UDP receive-buffer errors.
const SECTIONS: [&str; 4] = ["Udp", "Udp6", "UdpLite", "UdpLite6"];

/// How the sockets that drop got their buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BufferOrigin {
    /// `rcvbuf == rmem_default`: the application never set SO_RCVBUF.
    Default,
    /// `rcvbuf == 2 × rmem_max`: the application asked for at least `rmem_max` and was capped.
    CappedByMax,
    /// Some other size the application chose with SO_RCVBUF.
    Application,
}

fn origin(rcvbuf: u64, rmem_default: Option<u64>, rmem_max: Option<u64>) -> BufferOrigin {
    if rmem_max.is_some_and(|m| rcvbuf >= m.saturating_mul(2)) {
        BufferOrigin::CappedByMax
    } else if rmem_default == Some(rcvbuf) {
        BufferOrigin::Default
    } else {
        BufferOrigin::Application
    }
}

/// A UDP socket that dropped during the window (or, when it was not seen before, since it was
/// created).
struct Dropper<'a> {
    socket: &'a UdpSocket,
    /// Drops per second over the window, or `None` when only the cumulative count is known.
    rate: Option<f64>,
}

fn label(s: &UdpSocket) -> String {
    match s.remote {
        Some(r) => format!("{} -> {r}", s.local),
        None => s.local.to_string(),
    }
}

fn rcvbuf_errors(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let per_section: Vec<(&str, f64)> = SECTIONS
        .iter()
        .filter_map(|s| Some((*s, w.netstat_rate(s, "RcvbufErrors")?.max(0.0))))
        .collect();
    let errors: f64 = per_section.iter().map(|(_, r)| r).sum();
    if per_section.is_empty() || errors <= t::UDP_RCVBUF_ERRORS_MIN_PER_S {
        return Vec::new();
    }
    let rcvbuf: Vec<(&str, &str)> = SECTIONS.iter().map(|s| (*s, "RcvbufErrors")).collect();
    let received: Vec<(&str, &str)> = SECTIONS
        .iter()
        .flat_map(|s| [(*s, "InDatagrams"), (*s, "RcvbufErrors")])
        .collect();
    if super::util::counted(&w, &rcvbuf, &received).is_some_and(|c| !c.fires(&t::DROP_COUNTER)) {
        return Vec::new();
    }
    let arriving: f64 = errors
        + SECTIONS
            .iter()
            .map(|s| rate_or_zero(&w, s, "InDatagrams"))
            .sum::<f64>();
    let mut evidence: Vec<Evidence> = per_section
        .iter()
        .filter(|(_, r)| *r > 0.0)
        .map(|(s, r)| Evidence::new(&format!("{s}.RcvbufErrors"), "host", *r, "1/s"))
        .collect();
    evidence.push(Evidence::new(
        "Udp.InDatagrams+RcvbufErrors",
        "host",
        arriving,
        "1/s",
    ));

    // Which sockets drop, and how their buffer size was chosen.
    let mut droppers: Vec<Dropper> = w
        .udp_socket_drops()
        .into_iter()
        .filter(|d| d.rate != Some(0.0))
        .map(|d| Dropper {
            socket: d.socket,
            rate: d.rate,
        })
        .collect();
    droppers.sort_by(|a, b| b.rate.unwrap_or(0.0).total_cmp(&a.rate.unwrap_or(0.0)));
    droppers.truncate(3);

    let rmem_default = sysctl_u64(ctx.newer, "net.core.rmem_default");
    let rmem_max = sysctl_u64(ctx.newer, "net.core.rmem_max");
    let mut origins = Vec::new();
    for d in &droppers {
        let s = d.socket;
        let scope = label(s);
        match d.rate {
            Some(r) => evidence.push(Evidence::new("udp_socket.drops", scope.as_str(), r, "1/s")),
            None => evidence.push(Evidence::new(
                "udp_socket.drops_since_open",
                scope.as_str(),
                f64::from(s.drops.unwrap_or(0)),
                "datagrams",
            )),
        }
        if let Some(rb) = s.rcvbuf_bytes {
            evidence.push(Evidence::new(
                "udp_socket.rcvbuf",
                scope,
                f64::from(rb),
                "bytes",
            ));
            origins.push(origin(u64::from(rb), rmem_default, rmem_max));
        }
    }

    // Global limit: sockstat UDP mem against udp_mem high (both pages).
    let page = page_size(ctx.host);
    let udp_mem = sysctl_n::<3>(ctx.newer, "net.ipv4.udp_mem");
    let udp_pages = ctx
        .newer
        .sockstat
        .ok()
        .and_then(|s| s.get("UDP")?.get("mem").copied())
        .and_then(|m| u64::try_from(m).ok());
    let global = match (udp_mem, udp_pages) {
        (Some([_, _, high]), Some(m)) if high > 0 => m as f64 >= t::UDP_MEM_NEAR_HIGH * high as f64,
        _ => false,
    };
    if let (Some([_, _, high]), Some(m)) = (udp_mem, udp_pages) {
        evidence.push(Evidence::new("sockstat.UDP.mem", "host", m as f64, "pages"));
        evidence.push(Evidence::new(
            "net.ipv4.udp_mem.high",
            "host",
            high as f64,
            "pages",
        ));
    }

    // Size: the buffer absorbs UDP_STALL_SECONDS of everything arriving.
    let need = arriving * t::UDP_TRUESIZE_BYTES as f64 * t::UDP_STALL_SECONDS;
    let size_for = |cur: u64, cap: u64| -> Option<u64> {
        let p = round_up_mib(
            need.max(t::UDP_RMEM_FLOOR_BYTES as f64)
                .max(cur as f64 * 2.0),
        )
        .min(cap);
        (p > cur).then_some(p)
    };
    let mut changes = Vec::new();
    let mut risk = Vec::new();
    let capped = origins.contains(&BufferOrigin::CappedByMax);
    let app_sized = !origins.is_empty() && origins.iter().all(|o| *o == BufferOrigin::Application);
    let use_default = origins.is_empty() || origins.contains(&BufferOrigin::Default);
    let mut new_default = None;
    if use_default && !global {
        if let Some(cur) = rmem_default {
            if let Some(p) = size_for(cur, t::UDP_RMEM_DEFAULT_CAP_BYTES) {
                changes.push(Change::sysctl(
                    "net.core.rmem_default",
                    sysctl(ctx.newer, "net.core.rmem_default"),
                    p.to_string(),
                ));
                risk.push(format!(
                    "rmem_default applies to every new non-TCP socket: each may queue up to {} \
                     (from {}) before dropping, memory used only while the reader lags",
                    fmt_bytes(p as f64),
                    fmt_bytes(cur as f64)
                ));
                new_default = Some(p);
            }
        }
    }
    if (capped || app_sized || new_default.is_some()) && !global {
        if let Some(cur) = rmem_max {
            let p = if capped || app_sized {
                size_for(cur, t::UDP_RMEM_MAX_CAP_BYTES)
            } else {
                // Keep the ceiling apps can ask for at least the new default.
                new_default.filter(|d| *d > cur)
            };
            if let Some(p) = p {
                changes.push(Change::sysctl(
                    "net.core.rmem_max",
                    sysctl(ctx.newer, "net.core.rmem_max"),
                    p.to_string(),
                ));
                risk.push(format!(
                    "rmem_max {} -> {}: applications asking for SO_RCVBUF get up to twice that",
                    fmt_bytes(cur as f64),
                    fmt_bytes(p as f64)
                ));
            }
        }
    }
    if app_sized && !global {
        for d in &droppers {
            changes.push(Change::advice(
                format!("SO_RCVBUF of the receiver on {}", label(d.socket)),
                format!(
                    "the application sets its own receive buffer ({}); raise it (to about {}) \
                     and read faster (more reader threads, recvmmsg, SO_REUSEPORT)",
                    fmt_bytes(f64::from(d.socket.rcvbuf_bytes.unwrap_or(0))),
                    fmt_bytes(need.max(t::UDP_RMEM_FLOOR_BYTES as f64))
                ),
            ));
        }
    }
    if global {
        if let Some([low, pressure, high]) = udp_mem.filter(|m| m[2] > 0) {
            let cap = ctx
                .host
                .mem_total_bytes
                .map(|b| (b as f64 * t::SOCKET_MEM_MAX_RAM_SHARE / page as f64) as u64);
            let new_high = cap.map(|c| c.min(high.saturating_mul(2)));
            match new_high {
                Some(nh) if nh > high => {
                    let new = scale_mem_triple([low, pressure, high], nh);
                    changes.push(Change::sysctl(
                        "net.ipv4.udp_mem",
                        sysctl(ctx.newer, "net.ipv4.udp_mem"),
                        join(&new),
                    ));
                    risk.push(format!(
                        "udp_mem is in pages of {page} bytes: high {high} -> {nh} pages = {} -> \
                         {} that UDP may hold host-wide",
                        fmt_bytes(high as f64 * page as f64),
                        fmt_bytes(nh as f64 * page as f64)
                    ));
                }
                _ => changes.push(Change::advice(
                    "net.ipv4.udp_mem",
                    "UDP memory is at its host-wide limit and nettune cannot raise it within a \
                     quarter of RAM (or RAM is unknown); find the receivers that queue the most \
                     (ss -uam) and make them read faster",
                )),
            }
        }
    }
    changes.push(Change::advice(
        "UDP receiving application",
        "a bigger buffer only absorbs bursts; a receiver that is slower than the sender on \
         average still drops. Read faster: more reader threads, recvmmsg, SO_REUSEPORT",
    ));
    let names: Vec<String> = droppers.iter().map(|d| label(d.socket)).collect();
    let title = if global {
        format!("UDP drops {errors:.1} datagrams/s: the host-wide udp_mem limit is reached")
    } else if names.is_empty() {
        format!("UDP receivers drop {errors:.1} datagrams/s because their receive buffers are full")
    } else {
        format!(
            "UDP receiver {} drops datagrams because its receive buffer is full ({errors:.1}/s \
             host-wide)",
            names.join(", ")
        )
    };
    if risk.is_empty() {
        risk.push("none from nettune".into());
    }
    // Buffers set below the kernel default are the cause: the changes above restore at
    // least the default (the sizing floor is above it); say so.
    let low: Vec<String> = ["net.core.rmem_default", "net.core.rmem_max"]
        .into_iter()
        .filter_map(|k| below_default(ctx, k))
        .map(|b| {
            evidence.push(b.evidence());
            if !changes.iter().any(|c| c.target == b.key) {
                changes.push(b.change(0));
            }
            b.sentence()
        })
        .collect();
    let low_note = if low.is_empty() {
        String::new()
    } else {
        format!(
            " {}: the changes restore at least the default.",
            low.join(" and ")
        )
    };
    vec![Finding {
        netns: None,
        id: ids::UDP_RCVBUF_ERRORS.into(),
        severity: Severity::Critical,
        title,
        detail: format!(
            "A UDP datagram is queued on its socket until the application reads it; when \
             the queue would exceed the socket's receive buffer (SO_RCVBUF, default \
             net.core.rmem_default, capped by rmem_max) or UDP's host-wide memory \
             (udp_mem, in pages) the datagram is dropped and RcvbufErrors counts it. UDP \
             has no retransmission: the data is lost.{low_note}"
        ),
        evidence,
        changes,
        risk: risk.join("; "),
        verify: "Udp.RcvbufErrors and Udp6.RcvbufErrors rates return to 0".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// udp.in_errors

fn in_errors(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    // InErrors counts every datagram dropped on receive: full buffers (RcvbufErrors,
    // udp.rcvbuf_errors) and bad checksums (InCsumErrors, ip.checksum_errors) included.
    let mut other = 0i64;
    let mut received = 0i64;
    let mut seen = false;
    let mut evidence = Vec::new();
    let mut mem_errors = 0i64;
    for sec in SECTIONS {
        let Some(errs) = w.netstat_delta(sec, "InErrors") else {
            continue;
        };
        seen = true;
        let d = |f: &str| w.netstat_delta(sec, f).unwrap_or(0).max(0);
        let o = (errs.max(0) - d("RcvbufErrors") - d("InCsumErrors")).max(0);
        other += o;
        mem_errors += d("MemErrors");
        received += d("InDatagrams") + errs.max(0);
        if o > 0 {
            evidence.push(Evidence::new(
                &format!("{sec}.InErrors-RcvbufErrors-InCsumErrors"),
                "host",
                o as f64 / w.seconds(),
                "1/s",
            ));
        }
    }
    let seconds = w.seconds();
    let c = super::util::Counted {
        count: other as f64,
        rate: other as f64 / seconds.max(1e-9),
        base: Some(received as f64),
        seconds,
    };
    if !seen || !c.fires(&t::UDP_IN_ERRORS) {
        return Vec::new();
    }
    if let Some(s) = c.share() {
        evidence.push(Evidence::new("Udp.InErrors.share", "host", s * 100.0, "%"));
    }
    let mem_note = if mem_errors > 0 {
        evidence.push(Evidence::new(
            "Udp.MemErrors",
            "host",
            mem_errors as f64 / seconds,
            "1/s",
        ));
        " MemErrors rises too: UDP memory reached udp_mem (see udp.memory)."
    } else {
        ""
    };
    vec![Finding {
        netns: None,
        id: ids::UDP_IN_ERRORS.into(),
        severity: Severity::Warning,
        title: format!(
            "UDP drops {} received datagrams/s for reasons other than full buffers or bad \
             checksums ({} in the window)",
            super::util::fmt_rate(c.rate),
            c.count
        ),
        detail: format!(
            "Udp.InErrors counts every datagram dropped on receive. Beyond full receive \
             buffers (RcvbufErrors) and bad checksums (InCsumErrors) it counts datagrams \
             shorter than their header says, UDP-Lite coverage errors, drops by a socket \
             filter (SO_ATTACH_FILTER / BPF on the socket), an IPsec policy, failed \
             encapsulation (VXLAN, GUE, FOU) and memory charge failures (MemErrors).{mem_note}"
        ),
        evidence,
        changes: vec![Change::advice(
            "UDP receive path",
            "check the socket filters of the receivers (`ss -uapn -b`), IPsec policies \
             (`ip xfrm policy`) and UDP tunnels; count the reasons with `nettune drops` \
             (kernel drop reasons) or `perf trace -e skb:kfree_skb`",
        )],
        risk: "none from nettune".into(),
        verify: "Udp.InErrors rises no faster than RcvbufErrors + InCsumErrors".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// udp.memory

fn memory(ctx: &Context) -> Vec<Finding> {
    let Some([low, pressure, high]) = sysctl_n::<3>(ctx.newer, "net.ipv4.udp_mem") else {
        return Vec::new();
    };
    let Some(pages) = ctx
        .newer
        .sockstat
        .ok()
        .and_then(|s| s.get("UDP")?.get("mem").copied())
        .and_then(|m| u64::try_from(m).ok())
    else {
        return Vec::new();
    };
    if high == 0 || (pages as f64) < t::SOCKET_MEM_HIGH_SHARE * high as f64 {
        return Vec::new();
    }
    let exhausted = pages >= high;
    let page = page_size(ctx.host);
    let mut evidence = vec![
        Evidence::new("sockstat.UDP.mem", "host", pages as f64, "pages"),
        Evidence::new("net.ipv4.udp_mem.high", "host", high as f64, "pages"),
        Evidence::new(
            "sockstat.UDP.mem/udp_mem.high",
            "host",
            pages as f64 * 100.0 / high as f64,
            "%",
        ),
    ];
    if let Some(r) = ctx.window.and_then(|w| w.netstat_rate("Udp", "MemErrors")) {
        evidence.push(Evidence::new("Udp.MemErrors", "host", r, "1/s"));
    }
    let cap = ctx
        .host
        .mem_total_bytes
        .map(|b| (b as f64 * t::SOCKET_MEM_MAX_RAM_SHARE / page as f64) as u64);
    let mut changes = Vec::new();
    let mut risk = String::from("none from nettune");
    match cap.map(|c| c.min(high.saturating_mul(2))) {
        Some(nh) if nh > high => {
            changes.push(Change::sysctl(
                "net.ipv4.udp_mem",
                sysctl(ctx.newer, "net.ipv4.udp_mem"),
                join(&scale_mem_triple([low, pressure, high], nh)),
            ));
            risk = format!(
                "udp_mem is in pages of {page} bytes: high {high} -> {nh} pages = {} -> {} \
                 that UDP may hold host-wide",
                fmt_bytes(high as f64 * page as f64),
                fmt_bytes(nh as f64 * page as f64)
            );
        }
        _ => changes.push(Change::advice(
            "net.ipv4.udp_mem",
            "UDP memory is at its host-wide limit and nettune cannot raise it within a quarter \
             of RAM (or RAM is unknown); find the receivers that queue the most (ss -uam) and \
             make them read faster",
        )),
    }
    changes.push(Change::advice(
        "UDP receiving applications",
        "memory is held by datagrams waiting to be read: find the sockets with the largest \
         Recv-Q (`ss -uamn`) and make their readers keep up",
    ));
    vec![Finding {
        netns: None,
        id: ids::UDP_MEMORY.into(),
        severity: if exhausted {
            Severity::Critical
        } else {
            Severity::Warning
        },
        title: format!(
            "UDP memory is {}: sockets hold {} of the {} udp_mem limit",
            if exhausted { "exhausted" } else { "high" },
            fmt_bytes(pages as f64 * page as f64),
            fmt_bytes(high as f64 * page as f64)
        ),
        detail: "udp_mem (low, pressure, high, in pages) bounds the memory of all UDP sockets \
                 together. At high every UDP socket's next datagram is dropped \
                 (Udp.MemErrors and RcvbufErrors), whatever its own buffer."
            .into(),
        evidence,
        changes,
        risk,
        verify: "sockstat UDP mem stays below 85 % of udp_mem high; Udp.MemErrors stops rising"
            .into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::*;
    use crate::collect::sockets::{Sockets, UdpSummary};
    use crate::collect::Source;
    use crate::diagnose::testkit::*;
    use crate::snapshot::Snapshot;

    const SYSCTLS: &[(&str, &str)] = &[
        ("net.core.rmem_default", "212992"),
        ("net.core.rmem_max", "212992"),
        ("net.ipv4.udp_mem", "575799 767734 1151598"),
    ];

    fn udp_socket(addr: &str, rcvbuf: u32, drops: u32) -> UdpSocket {
        UdpSocket {
            local: addr.parse().unwrap(),
            remote: None,
            rx_queue_bytes: rcvbuf,
            rcvbuf_bytes: Some(rcvbuf),
            drops: Some(drops),
            inode: 99,
            uid: 0,
        }
    }

    fn with_udp(s: &mut Snapshot, sockets: Vec<UdpSocket>) {
        s.sockets = Source::Ok(Sockets {
            udp: Source::Ok(UdpSummary {
                count: 5,
                drops_reported: true,
                drops_total: sockets
                    .iter()
                    .map(|s| u64::from(s.drops.unwrap_or(0)))
                    .sum(),
                top_drops: sockets,
            }),
            ..Sockets::default()
        });
    }

    fn flood() -> (Snapshot, Snapshot) {
        pair(
            SYSCTLS,
            &[
                ("Udp", "RcvbufErrors", 0, 5000),
                ("Udp", "InDatagrams", 0, 45_000),
                ("Udp6", "RcvbufErrors", 0, 0),
            ],
        )
    }

    #[test]
    fn default_sized_receiver_gets_rmem_default() {
        let (mut a, mut b) = flood();
        with_udp(&mut a, vec![udp_socket("0.0.0.0:514", 212992, 100)]);
        with_udp(&mut b, vec![udp_socket("0.0.0.0:514", 212992, 5100)]);
        let f = run_window(rcvbuf_errors, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::UDP_RCVBUF_ERRORS);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence_value(f, "Udp.RcvbufErrors", "host"), 1000.0);
        assert_eq!(evidence_value(f, "udp_socket.drops", "0.0.0.0:514"), 1000.0);
        // 10000 datagrams/s × 2304 B × 0.1 s = 2.3 MB; the 4 MiB floor wins.
        assert_eq!(proposed_value(f, "net.core.rmem_default"), "4194304");
        // rmem_max follows so SO_RCVBUF users can reach the default.
        assert_eq!(proposed_value(f, "net.core.rmem_max"), "4194304");
        assert!(f.title.contains("0.0.0.0:514"));
        assert!(!f.evidence.iter().any(|e| e.metric == "Udp6.RcvbufErrors"));
    }

    #[test]
    fn receiver_capped_by_rmem_max_gets_rmem_max_only() {
        let (a, mut b) = pair(
            &[
                ("net.core.rmem_default", "212992"),
                ("net.core.rmem_max", "8388608"),
            ],
            &[
                ("Udp", "RcvbufErrors", 0, 10_000),
                ("Udp", "InDatagrams", 0, 490_000),
            ],
        );
        // 100000 datagrams/s × 2304 × 0.1 = 23.04 MB -> 22 MiB.
        with_udp(&mut b, vec![udp_socket("0.0.0.0:9000", 16777216, 10_000)]);
        let f = run_window(rcvbuf_errors, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::UDP_RCVBUF_ERRORS);
        assert_eq!(proposed_value(f, "net.core.rmem_max"), "23068672");
        assert!(f
            .changes
            .iter()
            .all(|c| c.target != "net.core.rmem_default"));
        // Not seen in the older snapshot (no socket source there): cumulative count.
        assert_eq!(
            evidence_value(f, "udp_socket.drops_since_open", "0.0.0.0:9000"),
            10_000.0
        );
    }

    #[test]
    fn global_udp_mem_limit_raises_udp_mem_in_pages() {
        let (mut a, mut b) = flood();
        set_sockstat(&mut a, &[("UDP", "mem", 1_150_000)]);
        set_sockstat(&mut b, &[("UDP", "mem", 1_150_000)]);
        let f = run_window(rcvbuf_errors, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::UDP_RCVBUF_ERRORS);
        // 2 × 1151598 exceeds a quarter of 16 GiB (1048576 pages): nothing fits; advice.
        assert!(f
            .changes
            .iter()
            .all(|c| c.target != "net.core.rmem_default"));
        assert!(proposed_value(f, "net.ipv4.udp_mem").contains("quarter of RAM"));
        let big = crate::collect::host::HostFacts {
            mem_total_bytes: Some(64 << 30),
            ..host()
        };
        let f = run_window(rcvbuf_errors, &a, &b, &big, &Options::default());
        let f = only(&f, ids::UDP_RCVBUF_ERRORS);
        assert_eq!(
            proposed_value(f, "net.ipv4.udp_mem"),
            "1151598 1535468 2303196"
        );
        assert!(f.title.contains("udp_mem"));
    }

    #[test]
    fn quiet_without_errors_or_window() {
        let (a, b) = pair(
            SYSCTLS,
            &[
                ("Udp", "RcvbufErrors", 7, 7),
                ("Udp", "InDatagrams", 0, 1_000_000),
            ],
        );
        assert!(run_window(rcvbuf_errors, &a, &b, &host(), &Options::default()).is_empty());
        let (_, b) = flood();
        assert!(run_static(rcvbuf_errors, &b, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn origin_classification() {
        assert_eq!(
            origin(212992, Some(212992), Some(212992)),
            BufferOrigin::Default
        );
        assert_eq!(
            origin(425984, Some(212992), Some(212992)),
            BufferOrigin::CappedByMax
        );
        assert_eq!(
            origin(65536, Some(212992), Some(4194304)),
            BufferOrigin::Application
        );
    }

    #[test]
    fn in_errors_beyond_rcvbuf_and_checksum_fire() {
        let (a, b) = pair(
            SYSCTLS,
            &[
                ("Udp", "InErrors", 0, 600),
                ("Udp", "RcvbufErrors", 0, 400),
                ("Udp", "InCsumErrors", 0, 100),
                ("Udp", "InDatagrams", 0, 10_000),
            ],
        );
        let f = run_window(in_errors, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::UDP_IN_ERRORS);
        assert_eq!(
            evidence_value(f, "Udp.InErrors-RcvbufErrors-InCsumErrors", "host"),
            20.0
        );
    }

    #[test]
    fn in_errors_explained_by_rcvbuf_are_quiet() {
        let (a, b) = pair(
            SYSCTLS,
            &[
                ("Udp", "InErrors", 0, 500),
                ("Udp", "RcvbufErrors", 0, 500),
                ("Udp", "InDatagrams", 0, 10_000),
            ],
        );
        assert!(run_window(in_errors, &a, &b, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn udp_memory_high_warns_and_exhausted_is_critical() {
        let mut s = Snapshot::empty(1);
        set_sysctls(&mut s, &[("net.ipv4.udp_mem", "1000 2000 4000")]);
        set_sockstat(&mut s, &[("UDP", "mem", 3500)]);
        let f = run_static(memory, &s, &host(), &Options::default());
        let f = only(&f, ids::UDP_MEMORY);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(proposed_value(f, "net.ipv4.udp_mem"), "2000 4000 8000");
        set_sockstat(&mut s, &[("UDP", "mem", 4000)]);
        let f = run_static(memory, &s, &host(), &Options::default());
        assert_eq!(only(&f, ids::UDP_MEMORY).severity, Severity::Critical);
    }

    #[test]
    fn udp_memory_quiet_below_85_percent() {
        let mut s = Snapshot::empty(1);
        set_sysctls(&mut s, &[("net.ipv4.udp_mem", "1000 2000 4000")]);
        set_sockstat(&mut s, &[("UDP", "mem", 3300)]);
        assert!(run_static(memory, &s, &host(), &Options::default()).is_empty());
    }
}
