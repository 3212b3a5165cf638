//! Diagnosis: rules are pure functions of a [`Context`] (a window of two snapshots plus host
//! facts and options, with link speed and RTT resolved once: [`context`]) that return
//! [`Finding`]s with evidence, the fix and its risk. Rules know nothing about the terminal;
//! thresholds live in [`thresholds`].

pub mod config;
pub mod conntrack;
pub mod context;
pub mod drops;
pub(crate) mod fixes;
pub mod ids;
pub mod ip;
pub mod irq;
pub mod kernel_log;
pub mod netns;
pub mod nic;
pub mod queues;
pub mod softnet;
pub mod system;
pub mod tcp;
pub mod tcp_drops;
#[cfg(test)]
pub(crate) mod testkit;
pub mod thresholds;
pub mod udp;
pub(crate) mod util;

use crate::change::Change;

pub use context::{Context, Intent, Options};
pub use ids::FindingId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a finding is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One number that fired a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Metric name, `source.field` (`softnet.dropped`, `TcpExt.ListenOverflows`).
    pub metric: String,
    /// Where: `cpu1`, `eth0`, `eth0 rx-0`, `127.0.0.1:8080`, `host`.
    pub scope: String,
    pub value: f64,
    /// `1/s` for rates, or the unit of a level (`packets`, `bytes`, `%`, `entries`).
    pub unit: String,
}

impl Evidence {
    /// Build evidence.
    pub fn new(metric: &str, scope: impl Into<String>, value: f64, unit: &str) -> Self {
        Evidence {
            metric: metric.to_string(),
            scope: scope.into(),
            value,
            unit: unit.to_string(),
        }
    }
}

/// A diagnosed problem (or notable fact), with what fired it and what fixes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id `area.what` from the catalogue (alerts key on it).
    pub id: String,
    pub severity: Severity,
    /// One line naming the layer, the place and the cause.
    pub title: String,
    /// Why this matters and what the kernel is doing, in a few sentences.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub evidence: Vec<Evidence>,
    pub changes: Vec<Change>,
    /// What can go wrong with the fix (memory, latency, fairness).
    pub risk: String,
    /// How to confirm the fix worked.
    pub verify: String,
    /// The network namespace the finding is in, for per-namespace rules fired in another
    /// namespace than the primary one (JSON `netns: {inode, name, path}`); `None` for the
    /// host (or the `--netns` namespace the capture was taken in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<crate::namespaces::NetnsRef>,
}

impl Finding {
    /// The most specific scope of the first evidence (for `nettune_finding{scope}`).
    pub fn scope(&self) -> &str {
        self.evidence
            .first()
            .map(|e| e.scope.as_str())
            .unwrap_or("host")
    }
}

/// A rule: a pure function of the context.
pub type RuleFn = fn(&Context) -> Vec<Finding>;

/// A registered rule.
pub struct Rule {
    /// The finding id the rule reports (its name in logs and skip reasons).
    pub name: FindingId,
    pub run: RuleFn,
}

impl Rule {
    /// Whether the rule runs once for the host or once per network namespace.
    pub fn scope(&self) -> RuleScope {
        rule_scope(self.name)
    }
}

/// Where a rule's sources live, so where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleScope {
    /// Host-wide sources (softnet, interrupts, softirqs, NIC ethtool, CPU times, global
    /// sysctls, sysctl.d files): the rule runs once, on the primary snapshot.
    Host,
    /// Per-namespace sources (netstat/snmp, sockstat, sockets, per-namespace sysctls,
    /// interfaces and their counters, conntrack count): the rule runs on the primary
    /// snapshot and on every other namespace of the capture ([`netns`]).
    Namespace,
}

/// The rules that run per network namespace ([`RuleScope::Namespace`]); every other rule is
/// host-wide. One list, so the classification is reviewed in one place:
///
/// * TCP: listen overflow, SYN queue, backlog drops, retransmits, port exhaustion and memory
///   pressure read the namespace's netstat, sockstat and sockets; buffer sizes
///   (`tcp_rmem`/`tcp_wmem`) and congestion control are per-namespace sysctls;
/// * UDP receive-buffer errors (the namespace's `Udp`/`Udp6` counters and sockets);
/// * conntrack table fill (the count is per namespace);
/// * `tcp_syncookies` / `tcp_timestamps` (per-namespace sysctls);
/// * RPS off on a single-queue device (the namespace's devices, e.g. a pod's veth);
/// * the counter rules of the namespace's netstat (reverse-path filter, checksum errors,
///   pruning, zero-window and min-TTL drops, listen drops, spurious host-queue retransmits,
///   UDP InErrors, PFMemallocDrop), its netlink sockets and its qdiscs;
/// * IP fragment reassembly failures (the namespace's `Ip`/`Ip6` counters, its sockstat
///   `FRAG`/`FRAG6` memory and its `ipfrag_high_thresh`/`ip6frag_high_thresh`);
/// * the IPv6 route cache against `net.ipv6.route.max_size` (`rt6_stats` and the limit are
///   per namespace; the kernel log line fires it in the host's run only).
///
/// Host-wide: softnet (backlog drops, time squeeze, flow limit, CPU imbalance), every NIC
/// and IRQ rule (physical devices, ethtool, interrupts), `qdisc.pacing`
/// (`net.core.default_qdisc` exists only in the host namespace), `fd.near_limit`
/// (`fs.file-max`), `config.*` (sysctl.d files, `tcp_mem`/`udp_mem`, which are global),
/// `udp.memory` (global UDP memory), `neigh.table_overflow` (the tables' statistics exist
/// in the initial namespace only) and the kernel log rules.
pub const PER_NAMESPACE_RULES: &[FindingId] = &[
    ids::TCP_LISTEN_OVERFLOW,
    ids::TCP_SYN_QUEUE,
    ids::TCP_BUFFER_BELOW_BDP,
    ids::TCP_MEMORY_PRESSURE,
    ids::TCP_BACKLOG_DROP,
    ids::TCP_RETRANSMITS,
    ids::TCP_CONGESTION_CONTROL,
    ids::TCP_PORT_EXHAUSTION,
    ids::UDP_RCVBUF_ERRORS,
    ids::CONNTRACK_NEAR_FULL,
    ids::SECURITY_SYNCOOKIES_OFF,
    ids::SECURITY_TIMESTAMPS_OFF,
    ids::RPS_DISABLED,
    ids::IP_RP_FILTER_DROPS,
    ids::IP_CHECKSUM_ERRORS,
    ids::IP_FRAG_REASSEMBLY_FAILS,
    ids::TCP_RCV_PRUNED,
    ids::TCP_ZERO_WINDOW_DROP,
    ids::TCP_MIN_TTL_DROP,
    ids::TCP_LISTEN_DROPS,
    ids::TCP_SPURIOUS_RTX_HOST_QUEUES,
    ids::UDP_IN_ERRORS,
    ids::SYSTEM_PFMEMALLOC_DROP,
    ids::NETLINK_SOCKET_DROPS,
    ids::QDISC_DROPS,
    ids::IPV6_ROUTE_TABLE_FULL,
];

/// The scope of the rule reporting `id` (see [`PER_NAMESPACE_RULES`]).
pub fn rule_scope(id: FindingId) -> RuleScope {
    if PER_NAMESPACE_RULES.contains(&id) {
        RuleScope::Namespace
    } else {
        RuleScope::Host
    }
}

/// Every rule, in evaluation order (each area module lists its own in `RULES`).
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    [
        softnet::RULES,
        nic::RULES,
        irq::RULES,
        tcp::RULES,
        tcp_drops::RULES,
        udp::RULES,
        ip::RULES,
        conntrack::RULES,
        system::RULES,
        config::RULES,
        queues::RULES,
        kernel_log::RULES,
    ]
    .into_iter()
    .flatten()
}

/// Run every rule; findings sorted by severity (critical first), then id and scope.
/// Host-wide rules run once; per-namespace rules run on the context's snapshot and on
/// every other namespace its newest snapshot holds ([`netns::diagnose_namespaces`]).
pub fn diagnose(ctx: &Context) -> Vec<Finding> {
    diagnose_with_notes(ctx).0
}

/// [`diagnose`], with the notes about namespaces that could not be judged (one that
/// vanished during the window).
pub fn diagnose_with_notes(ctx: &Context) -> (Vec<Finding>, Vec<String>) {
    let mut findings: Vec<Finding> = rules().flat_map(|r| (r.run)(ctx)).collect();
    let notes = netns::diagnose_namespaces(ctx, &mut findings);
    // Not a rule: kernel log lines that support a fired finding become its evidence.
    kernel_log::merge(&mut findings);
    // Not a rule: it reads the rules' findings (kernel drop reasons corroborate them, and the
    // reasons nothing explains become `drops.unexplained`).
    drops::apply(ctx, &mut findings);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.scope().cmp(b.scope()))
    });
    (findings, notes)
}

/// Diagnose a capture; notes say what could not be judged.
pub fn diagnose_capture(
    cap: &crate::snapshot::Capture,
    options: &Options,
) -> (Vec<Finding>, Vec<String>) {
    let mut notes = Vec::new();
    let window = crate::window::Window::newest(cap);
    if window.is_none() {
        notes.push(
            "the capture holds one snapshot: only static findings (configuration, levels) are possible; rates need two".to_string(),
        );
    }
    let Some(newer) = cap.snapshots.last() else {
        return (Vec::new(), notes);
    };
    let ctx = Context::new(window, newer, &cap.host, options, cap.drops.ok());
    let (findings, ns_notes) = diagnose_with_notes(&ctx);
    notes.extend(ns_notes);
    (findings, notes)
}

/// The highest severity present, or `None` when there is nothing.
pub fn status(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}
