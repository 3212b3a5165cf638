//! Per-namespace diagnosis: the rules of [`RuleScope::Namespace`] run once more for every
//! other network namespace the newest snapshot holds (`Snapshot::namespaces`: containers,
//! pods, `ip netns`), and their findings name that namespace.
//!
//! * **Window.** A namespace's window is between its part of the older snapshot and its part
//!   of the newer one, matched by inode. A namespace missing from the older snapshot (created
//!   during the window) gets the level-only rules (no window); one missing from the newer
//!   snapshot (deleted during the window) is not judged, and a note says so.
//! * **Merged view.** A namespace's part holds only its per-namespace sources; rules that
//!   also peek at host-wide data (softnet load, interrupts, global sysctls such as
//!   `rps_sock_flow_entries` or `tcp_mem`) see a merged view: the namespace's snapshot with
//!   the host-wide sources filled from the primary snapshot ([`Snapshot::fill_from`]) and
//!   the sysctls it does not have (global ones) taken from the primary's. Link speed (the
//!   host's NIC) and, when the namespace's sockets measured none, RTT come from the primary
//!   context.
//! * **Naming.** A namespace's finding carries `netns`, its title ends with `in NAME`, its
//!   evidence scopes start with the name (`pod-web 198.18.7.2:8080`; CPU scopes stay
//!   `cpuN`), and its changes that belong to the namespace (its sysctls, its devices, advice
//!   to its application) carry `netns`, so the command and the persistent form are written
//!   for it; a global sysctl or an IRQ stays a host change.
//! * **No echo.** A configuration-only finding (buffer sizes, congestion control,
//!   syncookies, timestamps) identical to the host's (same id and changes) is reported once,
//!   for the host.
//!
//! Cost: the merged view clones the namespace's part once per snapshot (and the host-wide
//! sources and global sysctls into it); measured in the test `merged_view_cost` (well under
//! the 2 ms per namespace budget).

use super::{ids, rules, Context, Finding, FindingId, RuleScope};
use crate::change::{Change, ChangeKind};
use crate::collect::sysctl::Sysctls;
use crate::collect::{Outcome, Source};
use crate::namespaces::NetnsRef;
use crate::snapshot::Snapshot;
use crate::window::Window;

/// Configuration-only rules whose namespace finding is dropped when the host's is the same.
const CONFIG_RULES: &[FindingId] = &[
    ids::TCP_BUFFER_BELOW_BDP,
    ids::TCP_CONGESTION_CONTROL,
    ids::SECURITY_SYNCOOKIES_OFF,
    ids::SECURITY_TIMESTAMPS_OFF,
];

/// Sysctl prefixes that are per device (every namespace has its own set): never merged
/// from the host.
const PER_DEVICE_SYSCTLS: [&str; 4] = [
    "net.ipv4.conf.",
    "net.ipv6.conf.",
    "net.ipv4.neigh.",
    "net.ipv6.neigh.",
];

/// The host-wide sources of `s` (softnet, softirqs, CPU times, interrupts and their
/// affinity), every other source unsupported: what a namespace's merged view is filled from.
pub fn host_wide(s: &Snapshot) -> Snapshot {
    let mut h = Snapshot::empty(s.taken_at_ns);
    h.unix_time = s.unix_time;
    h.softnet = s.softnet.clone();
    h.softirqs = s.softirqs.clone();
    h.cpu_times = s.cpu_times.clone();
    h.interrupts = s.interrupts.clone();
    h.irq_affinity = s.irq_affinity.clone();
    h.irq_effective_affinity = s.irq_effective_affinity.clone();
    h
}

/// A namespace's merged view: its own snapshot `ns`, the sources it does not have filled
/// from `host_wide` (see [`host_wide`]), and the sysctls it does not have taken from
/// `host_sysctl` (the global ones; per-device trees are never merged).
pub fn merged_view(ns: &Snapshot, host_wide: &Snapshot, host_sysctl: Option<&Sysctls>) -> Snapshot {
    let mut m = ns.clone();
    m.namespaces.clear();
    m.fill_from(host_wide, |o| matches!(o, Outcome::Unsupported(_)));
    if let Some(h) = host_sysctl {
        let global = h
            .iter()
            .filter(|(k, _)| !PER_DEVICE_SYSCTLS.iter().any(|p| k.starts_with(p)));
        match &mut m.sysctl {
            Source::Ok(own) => {
                for (k, v) in global {
                    if !own.contains_key(k) {
                        own.insert(k.clone(), v.clone());
                    }
                }
            }
            other => *other = Source::Ok(global.map(|(k, v)| (k.clone(), v.clone())).collect()),
        }
    }
    m
}

/// Run the per-namespace rules for every other namespace of `ctx.newer` and append their
/// findings; returns notes about namespaces that could not be judged.
pub fn diagnose_namespaces(ctx: &Context, findings: &mut Vec<Finding>) -> Vec<String> {
    let newer = ctx.newer;
    let older = ctx.window.map(|w| w.older);
    let mut notes = Vec::new();
    if let Some(o) = older {
        for gone in o
            .namespaces
            .iter()
            .filter(|n| newer.namespace(n.netns.inode).is_none())
        {
            notes.push(format!(
                "namespace {} vanished during the window; it was not judged",
                gone.netns.name
            ));
        }
    }
    if newer.namespaces.is_empty() {
        return notes;
    }
    let host_newer = host_wide(newer);
    let host_older = older.map(host_wide);
    let per_ns: Vec<_> = rules()
        .filter(|r| r.scope() == RuleScope::Namespace)
        .collect();
    let host_count = findings.len();
    for ns in &newer.namespaces {
        let m_new = merged_view(&ns.snapshot, &host_newer, newer.sysctl.ok());
        let m_old = match (older, &host_older) {
            (Some(o), Some(h)) => o
                .namespace(ns.netns.inode)
                .map(|p| merged_view(&p.snapshot, h, o.sysctl.ok())),
            _ => None,
        };
        let window = m_old
            .as_ref()
            .and_then(|o| Window::new(o, &m_new, ctx.host));
        let mut nctx = Context::new(window, &m_new, ctx.host, ctx.options, None)
            .with_link(ctx.link());
        if nctx.rtt().known().is_none() {
            nctx = nctx.with_rtt(ctx.rtt());
        }
        for r in &per_ns {
            for f in (r.run)(&nctx) {
                let f = localize(f, &ns.netns, &ns.snapshot);
                if CONFIG_RULES.iter().any(|id| f.id == *id)
                    && findings[..host_count]
                        .iter()
                        .any(|h| h.id == f.id && same_changes(h, &f))
                {
                    continue;
                }
                findings.push(f);
            }
        }
    }
    notes
}

/// Same changes, ignoring the namespace they are made in.
fn same_changes(a: &Finding, b: &Finding) -> bool {
    let key = |c: &Change| (c.kind, c.target.clone(), c.current.clone(), c.proposed.clone());
    a.changes.len() == b.changes.len()
        && a.changes.iter().zip(&b.changes).all(|(x, y)| key(x) == key(y))
}

/// `cpu12`: a host-wide scope that stays as it is.
fn is_cpu_scope(scope: &str) -> bool {
    scope
        .strip_prefix("cpu")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A scope of namespace `name`: `host` becomes the name, CPUs stay, anything else is
/// prefixed (`pod-web 198.18.7.2:8080`).
pub fn scoped(name: &str, scope: &str) -> String {
    if scope == "host" {
        name.to_string()
    } else if is_cpu_scope(scope) {
        scope.to_string()
    } else {
        format!("{name} {scope}")
    }
}

/// Sysctls known to be per network namespace, for when the namespace's sysctls were not
/// read (when they were, a key the namespace shows is per-namespace by definition).
fn per_netns_key(key: &str) -> bool {
    const CORE: [&str; 6] = [
        "net.core.somaxconn",
        "net.core.rmem_default",
        "net.core.rmem_max",
        "net.core.wmem_default",
        "net.core.wmem_max",
        "net.core.optmem_max",
    ];
    const GLOBAL_INET: [&str; 3] = ["net.ipv4.tcp_mem", "net.ipv4.udp_mem", "net.ipv4.route."];
    CORE.contains(&key)
        || ((key.starts_with("net.ipv4.") || key.starts_with("net.ipv6."))
            && !GLOBAL_INET.iter().any(|g| key.starts_with(g)))
        || key.starts_with("net.netfilter.nf_conntrack_tcp_")
}

/// Whether `c`, proposed by a rule run for a namespace whose own part is `own`, is made in
/// that namespace: its sysctls and devices and advice to its application are; global
/// sysctls and IRQs are the host's.
pub fn belongs_to_namespace(c: &Change, own: &Snapshot) -> bool {
    match c.kind {
        ChangeKind::Advice => true,
        ChangeKind::IrqAffinity => false,
        ChangeKind::Sysctl => own
            .sysctl
            .ok()
            .map_or_else(|| per_netns_key(&c.target), |m| m.contains_key(&c.target)),
        _ => {
            let dev = c.device_target().0;
            match (own.interfaces.ok(), own.netdev.ok()) {
                (Some(i), _) => i.contains_key(dev),
                (None, Some(n)) => n.contains_key(dev),
                (None, None) => true,
            }
        }
    }
}

/// Name the namespace in a finding of a per-namespace rule (module doc).
pub fn localize(mut f: Finding, ns: &NetnsRef, own: &Snapshot) -> Finding {
    f.title = format!("{} in {}", f.title, ns.name);
    for e in &mut f.evidence {
        e.scope = scoped(&ns.name, &e.scope);
    }
    for c in &mut f.changes {
        if belongs_to_namespace(c, own) {
            c.netns = Some(ns.clone());
        }
    }
    f.netns = Some(ns.clone());
    f
}
