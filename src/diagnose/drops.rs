//! Kernel drop reasons as evidence (`tp_btf/kfree_skb`, counted by eBPF during the capture's
//! window; [`Context::drops`]). Runs after the counter rules, because it needs their
//! findings:
//!
//! * corroboration: a reason that the kernel counts for the same loss as a counter rule
//!   ([`REASON_FINDINGS`]) adds `kfree_skb.<REASON>` evidence (drops per second, scope
//!   `host`) to that rule's finding;
//! * `drops.unexplained` (warning): a reason with a significant rate
//!   ([`thresholds::DROP_REASON_RATE_MIN`] and [`thresholds::DROP_REASON_RX_SHARE_MIN`] of
//!   received packets, or [`thresholds::DROP_REASON_RATE_HIGH`]) that no fired finding
//!   explains. `NOT_SPECIFIED` and the everyday [`NOISY_REASONS`] (port scans hitting closed
//!   ports, firewall policy, TCP duplicates) need a much higher rate. The fix is advice only:
//!   `nettune drops` shows where the kernel drops; no sysctl is proposed.
//!
//! Reasons are the running kernel's names (strings), never enum values, which change between
//! kernel versions.

use super::ids;
use super::{thresholds, Context, Evidence, Finding, FindingId, Severity};
use crate::bpf::drops::{explain, DropReasons, ReasonTotal};
use crate::change::Change;

/// Drop reason → the findings whose counters count the same loss (reviewed against the
/// kernel's `kfree_skb_reason()` call sites):
///
/// * `CPU_BACKLOG`: `enqueue_to_backlog()` — the softnet backlog and its flow limit
///   (`/proc/net/softnet_stat` dropped);
/// * `SOCKET_RCVBUFF`: `__udp_queue_rcv_skb()` / `sock_queue_rcv_skb()` — `RcvbufErrors`;
/// * `PROTO_MEM`: protocol memory (`udp_mem` / `tcp_mem`, in pages) exhausted;
/// * `TCP_LISTEN_OVERFLOW`: the accept queue full in `tcp_v4_syn_recv_sock()`
///   (`ListenOverflows`), and SYN-queue drops next to it;
/// * `SOCKET_BACKLOG`: `sk_add_backlog()` failed (`TCPBacklogDrop`);
/// * `NETFILTER_DROP`: `nf_hook_slow()`; a full conntrack table drops new flows here;
/// * `FULL_RING`: a receive ring full (tun, veth XDP) — the ring / rx drop rules.
/// * `FRAG_REASM_TIMEOUT`, `FRAG_TOO_FAR`: `ip_expire()` / `ip_frag_too_far()` — an IP
///   reassembly that failed (`ReasmFails`).
///
/// `QDISC_*`, `NO_SOCKET`, `NEIGH_*` and the rest have no counter rule today.
pub const REASON_FINDINGS: &[(&str, &[FindingId])] = &[
    (
        "CPU_BACKLOG",
        &[ids::SOFTNET_BACKLOG_DROPS, ids::SOFTNET_FLOW_LIMIT],
    ),
    ("SOCKET_RCVBUFF", &[ids::UDP_RCVBUF_ERRORS]),
    (
        "PROTO_MEM",
        &[ids::UDP_RCVBUF_ERRORS, ids::TCP_MEMORY_PRESSURE],
    ),
    (
        "TCP_LISTEN_OVERFLOW",
        &[ids::TCP_LISTEN_OVERFLOW, ids::TCP_SYN_QUEUE],
    ),
    ("SOCKET_BACKLOG", &[ids::TCP_BACKLOG_DROP]),
    ("NETFILTER_DROP", &[ids::CONNTRACK_NEAR_FULL]),
    ("FULL_RING", &[ids::NIC_RX_RING_SMALL, ids::NIC_RX_DROPS]),
    ("FRAG_REASM_TIMEOUT", &[ids::IP_FRAG_REASSEMBLY_FAILS]),
    ("FRAG_TOO_FAR", &[ids::IP_FRAG_REASSEMBLY_FAILS]),
];

/// Drop reason → the counters (`section.field`) that count the same packets, in whichever
/// namespace: a reason whose rate these counters account for (at least
/// [`thresholds::DROP_REASON_COUNTER_SHARE`] of it, summed over the host and every other
/// namespace) is explained even when no rule fired on them (a closed UDP port in a pod is
/// `Udp.NoPorts` there, not a host problem).
pub const REASON_COUNTERS: &[(&str, &[(&str, &str)])] = &[
    ("NO_SOCKET", &[("Udp", "NoPorts"), ("Udp6", "NoPorts")]),
    (
        "SOCKET_RCVBUFF",
        &[("Udp", "RcvbufErrors"), ("Udp6", "RcvbufErrors")],
    ),
    (
        "TCP_LISTEN_OVERFLOW",
        &[("TcpExt", "ListenOverflows"), ("TcpExt", "ListenDrops")],
    ),
    ("SOCKET_BACKLOG", &[("TcpExt", "TCPBacklogDrop")]),
];

/// Reasons that are everyday background on a healthy host and need
/// [`thresholds::DROP_REASON_NOISY_RATE_MIN`]: unsolicited packets to closed ports (scans,
/// probes, late replies), deliberate policy (firewall, rp_filter, filters), frames for other
/// hosts on a shared segment, and TCP's normal handling of duplicates and closed
/// connections.
pub const NOISY_REASONS: &[&str] = &[
    "NO_SOCKET",
    "NETFILTER_DROP",
    "IP_RPFILTER",
    "SOCKET_FILTER",
    "OTHERHOST",
    "TCP_OLD_DATA",
    "TCP_OLD_ACK",
    "TCP_TOO_OLD_ACK",
    "TCP_OLD_SEQUENCE",
    "TCP_INVALID_SEQUENCE",
    "TCP_RESET",
    "TCP_CLOSE",
    "SOCKET_CLOSE",
    "TCP_OFOMERGE",
];

/// The findings that explain `reason` (empty when none does).
pub fn explained_by(reason: &str) -> &'static [FindingId] {
    REASON_FINDINGS
        .iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, ids)| *ids)
        .unwrap_or(&[])
}

/// Packets received per second on all interfaces over the window, when known: the
/// primary namespace's and every other namespace's (the kernel's drop reasons count drops
/// in all of them, so the share is of the same packets).
fn received_rate(ctx: &Context) -> Option<f64> {
    let mut known = false;
    let mut sum = 0.0;
    let windows = std::iter::once(ctx.window?).chain(
        super::netns::namespace_windows(ctx)
            .into_iter()
            .map(|(_, w)| w),
    );
    for w in windows {
        let rates = w.netdev();
        known |= !rates.is_empty();
        sum += rates.values().map(|r| r.rx_packets).sum::<f64>();
    }
    known.then_some(sum)
}

/// Rate (per second) of the counters that count `reason`'s packets, summed over the primary
/// namespace and every other one ([`REASON_COUNTERS`]); `None` when no counter covers it or
/// none was read.
fn counter_rate(ctx: &Context, reason: &str) -> Option<f64> {
    let counters = REASON_COUNTERS.iter().find(|(r, _)| *r == reason)?.1;
    let w = ctx.window?;
    let windows = std::iter::once(w).chain(
        super::netns::namespace_windows(ctx)
            .into_iter()
            .map(|(_, w)| w),
    );
    let mut total = None;
    for w in windows {
        for (section, field) in counters {
            if let Some(r) = w.netstat_rate(section, field) {
                *total.get_or_insert(0.0) += r.max(0.0);
            }
        }
    }
    total
}

/// The rate (drops/s) below which `reason` is never significant.
pub fn min_rate(reason: &str) -> f64 {
    if reason == "NOT_SPECIFIED" {
        thresholds::DROP_REASON_UNSPECIFIED_RATE_MIN
    } else if NOISY_REASONS.contains(&reason) {
        thresholds::DROP_REASON_NOISY_RATE_MIN
    } else {
        thresholds::DROP_REASON_RATE_MIN
    }
}

/// Whether a reason at `rate` drops/s is significant, given `rx` received packets/s.
pub fn significant(reason: &str, rate: f64, rx: Option<f64>) -> bool {
    if reason == "NOT_SPECIFIED" || NOISY_REASONS.contains(&reason) {
        let share_ok =
            rx.is_none_or(|rx| rx > 0.0 && rate >= thresholds::DROP_REASON_RX_SHARE_MIN * rx);
        return rate >= min_rate(reason) && share_ok;
    }
    rate >= thresholds::DROP_REASON_RATE_HIGH
        || (rate >= thresholds::DROP_REASON_RATE_MIN
            && rx.is_some_and(|rx| rx > 0.0 && rate >= thresholds::DROP_REASON_RX_SHARE_MIN * rx))
}

/// Add `kfree_skb.<REASON>` evidence to the fired findings that explain it, then append a
/// `drops.unexplained` finding for every significant reason nothing explains. Does nothing
/// without [`Context::drops`].
pub fn apply(ctx: &Context, findings: &mut Vec<Finding>) {
    let Some(drops) = ctx.drops else {
        return;
    };
    let rx = received_rate(ctx);
    let mut unexplained = Vec::new();
    for r in &drops.reasons {
        let rate = drops.rate(r);
        if r.count == 0 {
            continue;
        }
        let ids = explained_by(&r.reason);
        let metric = format!("kfree_skb.{}", r.reason);
        let mut explained = false;
        for f in findings
            .iter_mut()
            .filter(|f| ids.iter().any(|id| f.id == *id))
        {
            explained = true;
            if !f.evidence.iter().any(|e| e.metric == metric) {
                f.evidence.push(Evidence::new(&metric, "host", rate, "1/s"));
            }
        }
        if !explained
            && counter_rate(ctx, &r.reason)
                .is_some_and(|c| c >= thresholds::DROP_REASON_COUNTER_SHARE * rate)
        {
            explained = true;
        }
        if !explained && significant(&r.reason, rate, rx) {
            unexplained.push(unexplained_finding(drops, r, rate, rx));
        }
    }
    findings.extend(unexplained);
}

/// Where to look next for a reason, beyond `nettune drops`.
fn next_step(reason: &str) -> &'static str {
    match reason {
        "NO_SOCKET" => {
            "find the sender (tcpdump on the port, ss -uanp / ss -tanp) and start the service \
             it expects or stop the traffic"
        }
        "NETFILTER_DROP" => {
            "list the rules that drop with their counters (nft list ruleset, iptables -vnL)"
        }
        r if r.starts_with("QDISC") || r.starts_with("FQ_") || r == "CAKE_FLOOD" => {
            "look at the queue discipline's drops and limits (tc -s qdisc show)"
        }
        r if r.starts_with("NEIGH") => {
            "check neighbour resolution (ip neigh) and gc_thresh / unres_qlen"
        }
        _ => "read the top locations: the function names say which path drops",
    }
}

fn unexplained_finding(
    drops: &DropReasons,
    r: &ReasonTotal,
    rate: f64,
    rx: Option<f64>,
) -> Finding {
    let mut evidence = vec![Evidence::new(
        &format!("kfree_skb.{}", r.reason),
        "host",
        rate,
        "1/s",
    )];
    // A share above 100 % would mean the drops are of packets the received count does not
    // cover (sent locally, forwarded from a namespace not read): no share then.
    if let Some(rx) = rx.filter(|rx| *rx > 0.0 && rate <= *rx) {
        evidence.push(Evidence::new(
            "kfree_skb.share_of_received",
            "host",
            100.0 * rate / rx,
            "%",
        ));
    }
    for l in r.locations.iter().take(3) {
        let loc_rate = if drops.window_seconds > 0.0 {
            l.count as f64 / drops.window_seconds
        } else {
            0.0
        };
        evidence.push(Evidence::new(
            "kfree_skb.location",
            l.symbol.clone(),
            loc_rate,
            "1/s",
        ));
    }
    let what =
        explain(&r.reason).unwrap_or("a drop reason without a one-line explanation in nettune");
    let mapped = explained_by(&r.reason);
    let why_not = if mapped.is_empty() {
        "No counter rule covers this reason.".to_string()
    } else {
        format!(
            "The counter rules that usually explain it ({}) did not fire, so the drops come \
             from another path than their counters see.",
            mapped
                .iter()
                .map(|id| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Finding {
        netns: None,
        id: ids::DROPS_UNEXPLAINED.into(),
        severity: Severity::Warning,
        title: format!(
            "The kernel drops {rate:.1} packets/s with reason {} that no counter rule explains",
            r.reason
        ),
        detail: format!(
            "{}: {what}. {why_not} The kernel names the reason itself (tp_btf/kfree_skb, \
             counted during the window); the locations are the functions that freed the \
             packets.",
            r.reason
        ),
        evidence,
        changes: vec![Change::advice(
            format!("kernel drop reason {}", r.reason),
            format!(
                "run `nettune drops` to watch the reason and its locations live; {}. nettune \
                 proposes no sysctl for it",
                next_step(&r.reason)
            ),
        )],
        risk: "none from nettune (advice only)".into(),
        verify: format!(
            "`nettune drops` shows {} below {} drops/s",
            r.reason,
            min_rate(&r.reason)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::diagnose;
    use super::*;
    use crate::bpf::drops::LocationCount;
    use crate::diagnose::testkit::{rx, Fx};

    /// `(reason, count)` over a 2-second window, each with three locations.
    fn reasons(list: &[(&str, u64)]) -> DropReasons {
        DropReasons {
            window_seconds: 2.0,
            lost: 0,
            reasons: list
                .iter()
                .map(|&(reason, count)| ReasonTotal {
                    reason: reason.into(),
                    count,
                    locations: (0..4)
                        .map(|i| LocationCount {
                            symbol: format!("f{i}+0x10"),
                            count: count / 4,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn finding(id: FindingId) -> Finding {
        Finding {
            netns: None,
            id: id.into(),
            severity: Severity::Critical,
            title: String::new(),
            detail: String::new(),
            evidence: vec![Evidence::new("x", "cpu0", 1.0, "1/s")],
            changes: Vec::new(),
            risk: String::new(),
            verify: String::new(),
        }
    }

    /// A window with `rx_pps` packets/s received on eth0 when given.
    fn fixture(rx_pps: Option<u64>) -> Fx {
        let mut fx = Fx::new(2);
        if let Some(pps) = rx_pps {
            fx.netdev("eth0", rx(pps as f64));
        }
        fx
    }

    /// `apply` over `findings` with `drops` and `rx_pps` received packets/s.
    fn run(findings: &mut Vec<Finding>, drops: &DropReasons, rx_pps: Option<u64>) {
        apply(&fixture(rx_pps).context(Some(drops)), findings);
    }

    fn ids(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn mapping_names_findings_that_rules_emit() {
        assert_eq!(explained_by("CPU_BACKLOG")[0], ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(explained_by("SOCKET_RCVBUFF"), [ids::UDP_RCVBUF_ERRORS]);
        assert_eq!(
            explained_by("TCP_LISTEN_OVERFLOW")[0],
            ids::TCP_LISTEN_OVERFLOW
        );
        assert_eq!(explained_by("SOCKET_BACKLOG"), [ids::TCP_BACKLOG_DROP]);
        assert_eq!(explained_by("NETFILTER_DROP"), [ids::CONNTRACK_NEAR_FULL]);
        assert_eq!(explained_by("FULL_RING")[0], ids::NIC_RX_RING_SMALL);
        assert_eq!(
            explained_by("FRAG_REASM_TIMEOUT"),
            [ids::IP_FRAG_REASSEMBLY_FAILS]
        );
        assert!(explained_by("QDISC_DROP").is_empty());
        assert!(explained_by("NO_SOCKET").is_empty());
        // Every mapped id is a finding some registered rule emits.
        for (reason, ids) in REASON_FINDINGS {
            for id in *ids {
                assert!(
                    super::super::rules().any(|r| r.name == *id),
                    "{reason} -> {id}: no rule emits it"
                );
            }
        }
        // Every reason named here is one the 6.18 kernel has (names, not numbers).
        let format = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vm/sys/kernel/tracing/events/skb/kfree_skb/format"
        ));
        for r in REASON_FINDINGS
            .iter()
            .map(|(r, _)| *r)
            .chain(NOISY_REASONS.iter().copied())
        {
            assert!(
                format.contains(&format!("\"{r}\"")),
                "{r} unknown to the kernel"
            );
        }
    }

    #[test]
    fn corroborates_fired_findings() {
        let drops = reasons(&[("CPU_BACKLOG", 400), ("SOCKET_RCVBUFF", 60)]);
        let mut f = vec![
            finding(ids::SOFTNET_BACKLOG_DROPS),
            finding(ids::UDP_RCVBUF_ERRORS),
        ];
        run(&mut f, &drops, Some(100_000));
        assert_eq!(
            ids(&f),
            [ids::SOFTNET_BACKLOG_DROPS, ids::UDP_RCVBUF_ERRORS]
        );
        let e = f[0].evidence.last().unwrap();
        assert_eq!(
            (
                e.metric.as_str(),
                e.scope.as_str(),
                e.value,
                e.unit.as_str()
            ),
            ("kfree_skb.CPU_BACKLOG", "host", 200.0, "1/s")
        );
        assert_eq!(f[0].evidence.len(), 2);
        assert_eq!(f[0].scope(), "cpu0", "first evidence unchanged");
        assert_eq!(f[1].evidence[1].metric, "kfree_skb.SOCKET_RCVBUFF");
        assert_eq!(f[1].evidence[1].value, 30.0);
        // Applying twice adds nothing twice.
        run(&mut f, &drops, Some(100_000));
        assert_eq!(f[0].evidence.len(), 2);
    }

    #[test]
    fn unexplained_fires_when_the_mapped_finding_did_not() {
        // CPU_BACKLOG at 200/s but softnet.backlog_drops did not fire.
        let drops = reasons(&[("CPU_BACKLOG", 400)]);
        let mut f = vec![finding(ids::TCP_RETRANSMITS)];
        run(&mut f, &drops, Some(100_000));
        assert_eq!(ids(&f), [ids::TCP_RETRANSMITS, ids::DROPS_UNEXPLAINED]);
        let u = &f[1];
        assert_eq!(u.severity, Severity::Warning);
        assert!(u.title.contains("CPU_BACKLOG"), "{}", u.title);
        assert!(
            u.detail.contains(ids::SOFTNET_BACKLOG_DROPS.as_str()),
            "{}",
            u.detail
        );
        assert!(
            u.detail.contains("netdev_max_backlog"),
            "explanation: {}",
            u.detail
        );
        assert_eq!(u.evidence[0].metric, "kfree_skb.CPU_BACKLOG");
        assert_eq!(u.evidence[0].value, 200.0);
        assert_eq!(u.evidence[1].metric, "kfree_skb.share_of_received");
        assert!((u.evidence[1].value - 0.2).abs() < 1e-9);
        let locs: Vec<_> = u
            .evidence
            .iter()
            .filter(|e| e.metric == "kfree_skb.location")
            .collect();
        assert_eq!(locs.len(), 3, "top 3 locations");
        assert_eq!(locs[0].scope, "f0+0x10");
        assert_eq!(locs[0].value, 50.0);
        assert_eq!(u.changes.len(), 1);
        assert_eq!(u.changes[0].kind, crate::change::ChangeKind::Advice);
        assert!(u.changes[0].proposed.contains("nettune drops"));
    }

    #[test]
    fn unexplained_thresholds() {
        let fires = |reason: &str, per_window: u64, rx: Option<u64>| {
            let mut f = Vec::new();
            run(&mut f, &reasons(&[(reason, per_window)]), rx);
            ids(&f) == [ids::DROPS_UNEXPLAINED]
        };
        // Ordinary reason: ≥ 10/s and ≥ 1 % of received, or ≥ 100/s.
        assert!(fires("QDISC_DROP", 40, Some(1000))); // 20/s, 2 %
        assert!(!fires("QDISC_DROP", 40, Some(10_000))); // 20/s, 0.2 %
        assert!(!fires("QDISC_DROP", 40, None)); // share unknown
        assert!(!fires("QDISC_DROP", 18, Some(100))); // 9/s
        assert!(fires("QDISC_DROP", 200, Some(1_000_000))); // 100/s
        assert!(fires("QDISC_DROP", 200, None));
        // NO_SOCKET (scans): ≥ 200/s and ≥ 1 %.
        assert!(!fires("NO_SOCKET", 300, Some(100))); // 150/s
        assert!(fires("NO_SOCKET", 400, Some(1000))); // 200/s, 20 %
        assert!(!fires("NO_SOCKET", 1000, Some(1_000_000))); // 500/s, 0.05 %
        assert!(fires("NO_SOCKET", 1000, None));
        assert_eq!(min_rate("NO_SOCKET"), 200.0);
        // NOT_SPECIFIED: ≥ 1000/s and ≥ 1 %.
        assert!(!fires("NOT_SPECIFIED", 1000, Some(1000))); // 500/s
        assert!(fires("NOT_SPECIFIED", 4000, Some(10_000))); // 2000/s, 20 %
        assert!(!fires("NOT_SPECIFIED", 4000, Some(1_000_000))); // 0.2 %
                                                                 // A reason that dropped nothing never fires.
        assert!(!fires("QDISC_DROP", 0, None));
    }

    #[test]
    fn nothing_without_drop_data() {
        let fx = fixture(Some(10));
        let ctx = fx.context(None);
        let mut f = vec![finding(ids::SOFTNET_BACKLOG_DROPS)];
        apply(&ctx, &mut f);
        assert_eq!(f, vec![finding(ids::SOFTNET_BACKLOG_DROPS)]);
    }

    /// Through `diagnose()`: the softnet rule fires on counters, the kernel's CPU_BACKLOG
    /// count joins its evidence, and a QDISC_DROP storm is reported as unexplained.
    #[test]
    fn diagnose_runs_the_pass() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 1000.0, 0.0, 0.0), (1, 5000.0, 300.0, 0.0)]);
        let drops = reasons(&[("CPU_BACKLOG", 600), ("QDISC_DROP", 500)]);
        let ctx = fx.context(Some(&drops));
        let f = diagnose(&ctx);
        let sn = f
            .iter()
            .find(|f| f.id == ids::SOFTNET_BACKLOG_DROPS)
            .unwrap();
        assert!(sn
            .evidence
            .iter()
            .any(|e| e.metric == "kfree_skb.CPU_BACKLOG" && e.value == 300.0));
        let u: Vec<_> = f
            .iter()
            .filter(|f| f.id == ids::DROPS_UNEXPLAINED)
            .collect();
        assert_eq!(u.len(), 1);
        assert!(u[0].title.contains("QDISC_DROP"));
        assert!(u[0].changes[0].proposed.contains("tc -s qdisc"));
    }
}
