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
//! sources, and for the newer one the host's global sysctls, into it). Measured by the test
//! `merged_view_cost` (200 namespaces of 400 sysctls and 50 listeners each, a host of 1,400
//! sysctls) in a debug build on the shared 2-CPU VM: about 1.5 ms per namespace for the
//! whole diagnosis, half of it the merged views; a release build is several times faster,
//! inside the 2 ms per namespace budget.

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
    if m.taken_at_ns == 0 {
        // A part without its own time was read with the snapshot.
        m.taken_at_ns = host_wide.taken_at_ns;
    }
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
        // Rules read sysctls from the newer snapshot only: the older view needs no merge.
        let m_old = match (older, &host_older) {
            (Some(o), Some(h)) => o
                .namespace(ns.netns.inode)
                .map(|p| merged_view(&p.snapshot, h, None)),
            _ => None,
        };
        let window = m_old
            .as_ref()
            .and_then(|o| Window::new(o, &m_new, ctx.host));
        let mut nctx =
            Context::new(window, &m_new, ctx.host, ctx.options, None).with_link(ctx.link());
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

/// The window of every other namespace present in both snapshots of `ctx`'s window (their
/// own parts, not merged: for per-namespace counters such as netdev and netstat), matched by
/// inode.
pub fn namespace_windows<'a>(ctx: &Context<'a>) -> Vec<(&'a NetnsRef, Window<'a>)> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    w.newer
        .namespaces
        .iter()
        .filter_map(|n| Some((&n.netns, w.namespace(n.netns.inode)?)))
        .collect()
}

/// Same changes, ignoring the namespace they are made in.
fn same_changes(a: &Finding, b: &Finding) -> bool {
    let key = |c: &Change| {
        (
            c.kind,
            c.target.clone(),
            c.current.clone(),
            c.proposed.clone(),
        )
    };
    a.changes.len() == b.changes.len()
        && a.changes
            .iter()
            .zip(&b.changes)
            .all(|(x, y)| key(x) == key(y))
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

/// Global sysctls that other namespaces show read-only (6.18): a change to them is the
/// host's even when a namespace's rule proposes it (the conntrack limit applies to each
/// namespace's count but is set once, in the host).
const GLOBAL_SHOWN_IN_NETNS: [&str; 3] = [
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_buckets",
    "net.netfilter.nf_conntrack_expect_max",
];

/// Whether `c`, proposed by a rule run for a namespace whose own part is `own`, is made in
/// that namespace: its sysctls and devices and advice to its application are; global
/// sysctls and IRQs are the host's.
pub fn belongs_to_namespace(c: &Change, own: &Snapshot) -> bool {
    match c.kind {
        ChangeKind::Advice => true,
        ChangeKind::IrqAffinity => false,
        ChangeKind::Sysctl if GLOBAL_SHOWN_IN_NETNS.contains(&c.target.as_str()) => false,
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
    if !f.verify.is_empty() {
        f.verify = format!("in {}: {}", ns.name, f.verify);
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{diagnose_capture, status, Options, Severity};
    use super::*;
    use crate::collect::sockets::{Listener, Owner, Sockets, UdpSocket, UdpSummary};
    use crate::diagnose::testkit::{evidence_value, host, pair, set_netstat, set_sysctls};
    use crate::snapshot::{Capture, NetnsSnapshot, CAPTURE_SCHEMA};

    /// A namespace reference bound under `/run/netns`.
    pub(crate) fn netns_ref(name: &str, inode: u64) -> NetnsRef {
        NetnsRef {
            inode,
            name: name.into(),
            path: format!("/run/netns/{name}").into(),
        }
    }

    /// A namespace part at `t` ns with `sysctls` and netstat counters.
    pub(crate) fn part(
        name: &str,
        inode: u64,
        t: u64,
        sysctls: &[(&str, &str)],
        counters: &[(&str, &str, i64)],
    ) -> NetnsSnapshot {
        let mut s = Snapshot::empty(t);
        set_sysctls(&mut s, sysctls);
        set_netstat(&mut s, counters);
        NetnsSnapshot {
            netns: netns_ref(name, inode),
            snapshot: s,
        }
    }

    pub(crate) fn capture(older: Snapshot, newer: Snapshot) -> Capture {
        Capture {
            schema: CAPTURE_SCHEMA.into(),
            host: host(),
            netns: None,
            snapshots: vec![older, newer],
            archive: None,
            drops: Source::unsupported("not requested"),
        }
    }

    fn listener(addr: &str, queue: u32, backlog: u32) -> Listener {
        Listener {
            local: addr.parse().unwrap(),
            accept_queue: queue,
            backlog,
            inode: 77,
            uid: 0,
            owner: Owner::NotLookedUp,
        }
    }

    fn udp_socket(addr: &str, drops: u32) -> UdpSocket {
        UdpSocket {
            local: addr.parse().unwrap(),
            remote: None,
            rx_queue_bytes: 200_000,
            rcvbuf_bytes: Some(212_992),
            drops: Some(drops),
            inode: 99,
            uid: 0,
        }
    }

    fn with_udp(s: &mut Snapshot, sock: UdpSocket) {
        s.sockets = Source::Ok(Sockets {
            udp: Source::Ok(UdpSummary {
                count: 1,
                drops_reported: true,
                drops_total: u64::from(sock.drops.unwrap_or(0)),
                top_drops: vec![sock],
            }),
            ..Sockets::default()
        });
    }

    const NS_SYSCTLS: &[(&str, &str)] = &[
        ("net.core.somaxconn", "4096"),
        ("net.core.rmem_default", "212992"),
        ("net.core.rmem_max", "212992"),
        ("net.ipv4.tcp_syncookies", "1"),
    ];

    /// The case: a pod's listener of backlog 4 overflowing on port 8080 and UDP
    /// receive-buffer drops in another pod, seen from the host without `--netns`: each
    /// reported with the namespace's name and port, its fix written for that namespace,
    /// and the exit status following.
    #[test]
    fn pod_listen_overflow_and_udp_drops_in_another_namespace_are_named() {
        let (mut a, mut b) = pair(&[("net.core.somaxconn", "4096")], &[]);
        let t0 = a.taken_at_ns;
        let t1 = b.taken_at_ns;
        let web = |t, v| {
            part(
                "pod-web",
                4026532300,
                t,
                NS_SYSCTLS,
                &[
                    ("TcpExt", "ListenOverflows", v),
                    ("TcpExt", "ListenDrops", v),
                ],
            )
        };
        let udp = |t, v| {
            part(
                "pod-udp",
                4026532301,
                t,
                NS_SYSCTLS,
                &[("Udp", "RcvbufErrors", v), ("Udp", "InErrors", v)],
            )
        };
        let (mut web0, mut web1) = (web(t0, 100), web(t1, 600));
        web0.snapshot.sockets = Source::Ok(Sockets {
            listeners: vec![listener("198.18.7.2:8080", 0, 4)],
            ..Sockets::default()
        });
        web1.snapshot.sockets = Source::Ok(Sockets {
            listeners: vec![listener("198.18.7.2:8080", 5, 4)],
            ..Sockets::default()
        });
        let (mut udp0, mut udp1) = (udp(t0, 1000), udp(t1, 6000));
        with_udp(&mut udp0.snapshot, udp_socket("0.0.0.0:5353", 1000));
        with_udp(&mut udp1.snapshot, udp_socket("0.0.0.0:5353", 6000));
        a.namespaces = vec![web0, udp0];
        b.namespaces = vec![web1, udp1];
        let (f, notes) = diagnose_capture(&capture(a, b), &Options::default());
        assert!(notes.is_empty(), "{notes:?}");
        // The host itself has nothing: every finding is a pod's.
        assert!(f.iter().all(|x| x.netns.is_some()), "{f:#?}");

        let lo: Vec<&Finding> = f
            .iter()
            .filter(|x| x.id == ids::TCP_LISTEN_OVERFLOW)
            .collect();
        assert_eq!(lo.len(), 1, "{f:#?}");
        let lo = lo[0];
        assert_eq!(lo.netns.as_ref().unwrap().name, "pod-web");
        assert!(lo.title.ends_with(" in pod-web"), "{}", lo.title);
        assert!(lo.title.contains("198.18.7.2:8080"), "{}", lo.title);
        assert!(lo.verify.starts_with("in pod-web: "), "{}", lo.verify);
        assert_eq!(
            evidence_value(lo, "listener.accept_queue", "pod-web 198.18.7.2:8080"),
            5.0
        );
        assert_eq!(
            evidence_value(lo, "TcpExt.ListenOverflows", "pod-web"),
            100.0
        );
        // The application's backlog is the cap: advice to the pod's application.
        let advice = lo
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::Advice)
            .unwrap();
        assert_eq!(advice.netns.as_ref().unwrap().name, "pod-web");
        assert_eq!(lo.severity, Severity::Critical);

        let ud = f
            .iter()
            .find(|x| x.id == ids::UDP_RCVBUF_ERRORS)
            .unwrap_or_else(|| panic!("{f:#?}"));
        assert_eq!(ud.netns.as_ref().unwrap().name, "pod-udp");
        assert!(ud.title.contains("0.0.0.0:5353") && ud.title.ends_with(" in pod-udp"));
        assert_eq!(evidence_value(ud, "Udp.RcvbufErrors", "pod-udp"), 1000.0);
        // rmem_default is per namespace on this kernel (the pod shows it): changed there.
        let rmem = ud
            .changes
            .iter()
            .find(|c| c.target.starts_with("net.core.rmem"))
            .unwrap_or_else(|| panic!("{:#?}", ud.changes));
        assert_eq!(rmem.netns.as_ref().unwrap().name, "pod-udp");
        assert!(
            rmem.command()
                .starts_with("ip netns exec pod-udp sysctl -w net.core.rmem"),
            "{}",
            rmem.command()
        );
        assert!(rmem.persistent_form().contains("per-namespace (pod-udp)"));
        // Exit status follows the worst finding.
        assert_eq!(status(&f), Some(Severity::Critical));
        // JSON: `netns` with name, inode and path.
        let j = serde_json::to_value(lo).unwrap();
        assert_eq!(j["netns"]["name"], "pod-web");
        assert_eq!(j["netns"]["inode"], 4026532300u64);
        assert_eq!(j["netns"]["path"], "/run/netns/pod-web");
    }

    /// A namespace deleted during the window gets a note, not an error; one created during
    /// the window gets the level-only rules; the rest of the report is intact.
    #[test]
    fn vanished_and_new_namespaces() {
        let (mut a, mut b) = pair(&[("net.ipv4.tcp_syncookies", "1")], &[]);
        let (t0, t1) = (a.taken_at_ns, b.taken_at_ns);
        a.namespaces = vec![part(
            "gone",
            11,
            t0,
            &[],
            &[("TcpExt", "ListenOverflows", 0)],
        )];
        b.namespaces = vec![part(
            "fresh",
            12,
            t1,
            &[("net.ipv4.tcp_syncookies", "0")],
            // A rate rule would need the older part: counters alone fire nothing.
            &[("TcpExt", "ListenOverflows", 1_000_000)],
        )];
        let (f, notes) = diagnose_capture(&capture(a, b), &Options::default());
        assert_eq!(
            notes,
            vec!["namespace gone vanished during the window; it was not judged".to_string()]
        );
        assert!(f.iter().all(|x| x.id != ids::TCP_LISTEN_OVERFLOW), "{f:#?}");
        let sc = f
            .iter()
            .find(|x| x.id == ids::SECURITY_SYNCOOKIES_OFF)
            .unwrap_or_else(|| panic!("{f:#?}"));
        assert_eq!(sc.netns.as_ref().unwrap().inode, 12);
        assert_eq!(sc.changes[0].netns.as_ref().unwrap().name, "fresh");
    }

    /// A configuration finding a namespace shares with the host is reported once, for the
    /// host; host-wide rules never run per namespace.
    #[test]
    fn config_findings_are_not_echoed_per_namespace() {
        let off = &[("net.ipv4.tcp_syncookies", "0")];
        let (mut a, mut b) = pair(off, &[]);
        let (t0, t1) = (a.taken_at_ns, b.taken_at_ns);
        a.namespaces = vec![part("same", 21, t0, off, &[])];
        b.namespaces = vec![part("same", 21, t1, off, &[])];
        let (f, _) = diagnose_capture(&capture(a, b), &Options::default());
        let sc: Vec<&Finding> = f
            .iter()
            .filter(|x| x.id == ids::SECURITY_SYNCOOKIES_OFF)
            .collect();
        assert_eq!(sc.len(), 1, "{f:#?}");
        assert!(sc[0].netns.is_none());
        // The host's findings carry no `netns` key.
        assert!(serde_json::to_value(sc[0]).unwrap().get("netns").is_none());
        assert_eq!(
            super::super::rule_scope(ids::SOFTNET_TIME_SQUEEZE),
            RuleScope::Host
        );
        assert_eq!(
            super::super::rule_scope(ids::TCP_LISTEN_OVERFLOW),
            RuleScope::Namespace
        );
    }

    /// Which changes of a namespace's finding are made in it: its sysctls and devices and
    /// advice to its application; global sysctls (also those it shows read-only) and IRQs
    /// are the host's; without its sysctls read, the known per-namespace keys.
    #[test]
    fn changes_belong_to_the_namespace_that_has_them() {
        let mut own = Snapshot::empty(1);
        set_sysctls(
            &mut own,
            &[
                ("net.core.somaxconn", "4096"),
                ("net.netfilter.nf_conntrack_max", "262144"),
            ],
        );
        own.interfaces = Source::Ok(
            [(
                "eth0".to_string(),
                crate::diagnose::testkit::iface(crate::collect::interfaces::InterfaceKind::Veth, 1),
            )]
            .into_iter()
            .collect(),
        );
        let yes = |c: Change| belongs_to_namespace(&c, &own);
        assert!(yes(Change::sysctl("net.core.somaxconn", None, "8192")));
        assert!(!yes(Change::sysctl(
            "net.core.rps_sock_flow_entries",
            None,
            "32768"
        )));
        assert!(!yes(Change::sysctl(
            "net.netfilter.nf_conntrack_max",
            None,
            "524288"
        )));
        assert!(yes(Change::new(ChangeKind::Rps, "eth0 rx-0", None, "2")));
        assert!(!yes(Change::new(ChangeKind::Rps, "eth1 rx-0", None, "2")));
        assert!(!yes(Change::new(
            ChangeKind::IrqAffinity,
            "irq 24",
            None,
            "1"
        )));
        assert!(yes(Change::advice("listen() backlog", "raise it")));
        let unread = Snapshot::empty(1);
        assert!(belongs_to_namespace(
            &Change::sysctl("net.ipv4.tcp_rmem", None, "4096 131072 67108864"),
            &unread
        ));
        assert!(!belongs_to_namespace(
            &Change::sysctl("net.ipv4.tcp_mem", None, "1 2 3"),
            &unread
        ));
        assert_eq!(scoped("pod-a", "host"), "pod-a");
        assert_eq!(scoped("pod-a", "cpu3"), "cpu3");
        assert_eq!(scoped("pod-a", "10.0.0.1:80"), "pod-a 10.0.0.1:80");
        assert_eq!(scoped("pod-a", "cpufreq"), "pod-a cpufreq");
    }

    /// The whole check costs little per namespace: 200 namespaces with sysctls, counters
    /// and a listener each, diagnosed with a window. The budget is 2 ms per namespace in a
    /// release build; a debug build is allowed ten times that.
    #[test]
    fn merged_view_cost() {
        // The host: 1,000 per-device keys (never merged) and 400 global ones; each
        // namespace: 400 keys of its own and 50 listeners.
        let sysctls: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("net.ipv4.conf.eth{i}.rp_filter"), "1".to_string()))
            .chain((0..400).map(|i| (format!("net.core.global_{i}"), "1".to_string())))
            .chain(
                NS_SYSCTLS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .collect();
        let ns_sysctls: Vec<(String, String)> = (0..400)
            .map(|i| (format!("net.ipv4.conf.eth0.key_{i}"), "1".to_string()))
            .chain(
                NS_SYSCTLS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .collect();
        let ns_refs: Vec<(&str, &str)> = ns_sysctls
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let refs: Vec<(&str, &str)> = sysctls
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (mut a, mut b) = pair(&refs, &[]);
        let (t0, t1) = (a.taken_at_ns, b.taken_at_ns);
        let mk = |t, v| {
            let mut p = part(
                "p",
                0,
                t,
                &ns_refs,
                &[
                    ("TcpExt", "ListenOverflows", v),
                    ("Tcp", "OutSegs", v * 100),
                ],
            );
            p.snapshot.sockets = Source::Ok(Sockets {
                listeners: (0..50)
                    .map(|i| listener(&format!("10.0.0.1:{}", 80 + i), 0, 4096))
                    .collect(),
                ..Sockets::default()
            });
            p
        };
        let n = 200;
        for i in 0..n {
            let (mut p0, mut p1) = (mk(t0, 0), mk(t1, 50));
            for p in [&mut p0, &mut p1] {
                p.netns = netns_ref(&format!("ns{i}"), 1000 + i);
            }
            a.namespaces.push(p0);
            b.namespaces.push(p1);
        }
        let cap = capture(a, b);
        let start = std::time::Instant::now();
        let (f, _) = diagnose_capture(&cap, &Options::default());
        let per_ns = start.elapsed().as_secs_f64() / n as f64;
        let newest = &cap.snapshots[1];
        let hw = host_wide(newest);
        let start = std::time::Instant::now();
        for p in &newest.namespaces {
            std::hint::black_box(merged_view(&p.snapshot, &hw, newest.sysctl.ok()));
        }
        eprintln!(
            "merged view: {:.3} ms per namespace",
            start.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        eprintln!(
            "diagnose: {:.3} ms per namespace ({} findings)",
            per_ns * 1e3,
            f.len()
        );
        let budget = if cfg!(debug_assertions) { 0.020 } else { 0.002 };
        assert!(per_ns < budget, "{:.3} ms per namespace", per_ns * 1e3);
    }
}

#[cfg(test)]
mod drops_tests {
    use super::super::{diagnose_capture, Options};
    use super::tests::{capture, part};
    use super::*;
    use crate::bpf::drops::{DropReasons, ReasonTotal};
    use crate::collect::netdev::NetDevCounters;
    use crate::diagnose::testkit::{pair, WINDOW_NS};

    fn set_rx(s: &mut Snapshot, dev: &str, packets: u64) {
        let mut m = s.netdev.ok().cloned().unwrap_or_default();
        m.insert(
            dev.into(),
            NetDevCounters {
                rx_packets: packets,
                ..NetDevCounters::default()
            },
        );
        s.netdev = Source::Ok(m);
    }

    /// NO_SOCKET drops (5,000/s) in a host that receives 10 packets/s itself while a pod
    /// receives 10,000/s on its veth: the pod's `Udp.NoPorts` explains them; without it they
    /// are unexplained with a share of the packets received in every namespace (never above
    /// 100 %), and a share that would exceed 100 % is not printed.
    #[test]
    fn no_socket_explained_by_a_pods_noports_and_share_is_a_share() {
        let secs = WINDOW_NS as f64 / 1e9;
        let run = |noports: i64, pod_rx_pps: u64| {
            let (mut a, mut b) = pair(&[], &[]);
            let (t0, t1) = (a.taken_at_ns, b.taken_at_ns);
            set_rx(&mut a, "eth0", 0);
            set_rx(&mut b, "eth0", (10.0 * secs) as u64);
            let mut p0 = part("pod-dns", 31, t0, &[], &[("Udp", "NoPorts", 0)]);
            let mut p1 = part("pod-dns", 31, t1, &[], &[("Udp", "NoPorts", noports)]);
            set_rx(&mut p0.snapshot, "eth0", 0);
            set_rx(&mut p1.snapshot, "eth0", (pod_rx_pps as f64 * secs) as u64);
            a.namespaces = vec![p0];
            b.namespaces = vec![p1];
            let mut cap = capture(a, b);
            cap.drops = Source::Ok(DropReasons {
                window_seconds: secs,
                lost: 0,
                reasons: vec![ReasonTotal {
                    reason: "NO_SOCKET".into(),
                    count: (5000.0 * secs) as u64,
                    locations: Vec::new(),
                }],
            });
            diagnose_capture(&cap, &Options::default()).0
        };
        let unexplained = |f: &[Finding]| -> Vec<Finding> {
            f.iter()
                .filter(|x| x.id == ids::DROPS_UNEXPLAINED)
                .cloned()
                .collect()
        };
        // The pod's closed port counts them all: explained.
        let f = run((5000.0 * secs) as i64, 10_000);
        assert!(unexplained(&f).is_empty(), "{f:#?}");
        // No counter: unexplained, share of the 10,010 packets/s received everywhere.
        let f = run(0, 10_000);
        let u = unexplained(&f);
        assert_eq!(u.len(), 1, "{f:#?}");
        let share = u[0]
            .evidence
            .iter()
            .find(|e| e.metric == "kfree_skb.share_of_received")
            .unwrap()
            .value;
        assert!((share - 100.0 * 5000.0 / 10_010.0).abs() < 0.01, "{share}");
        // Fewer packets received than dropped: no share at all (never above 100 %).
        let f = run(0, 100);
        let u = unexplained(&f);
        assert_eq!(u.len(), 1, "{f:#?}");
        assert!(u[0]
            .evidence
            .iter()
            .all(|e| e.metric != "kfree_skb.share_of_received" || e.value <= 100.0));
        assert!(!u[0]
            .evidence
            .iter()
            .any(|e| e.metric == "kfree_skb.share_of_received"));
    }
}

/// "Set below the kernel default" for the socket-level tunables: `somaxconn` capping a
/// pod's listener and `rmem_default`/`rmem_max` behind UDP drops are restored to at least
/// the default and named as the cause.
#[cfg(test)]
mod below_default_tests {
    use super::super::{diagnose_capture, Options};
    use super::tests::{capture, part};
    use super::*;
    use crate::diagnose::testkit::{evidence, pair};

    #[test]
    fn somaxconn_and_rmem_below_default_are_restored_in_the_namespace() {
        let (mut a, mut b) = pair(&[], &[]);
        let (t0, t1) = (a.taken_at_ns, b.taken_at_ns);
        let low = &[
            ("net.core.somaxconn", "64"),
            ("net.core.rmem_default", "4096"),
            ("net.core.rmem_max", "4096"),
        ];
        let mk = |t, v| {
            part(
                "pod-low",
                41,
                t,
                low,
                &[
                    ("TcpExt", "ListenOverflows", v),
                    ("TcpExt", "ListenDrops", v),
                    ("Udp", "RcvbufErrors", v),
                ],
            )
        };
        a.namespaces = vec![mk(t0, 0)];
        b.namespaces = vec![mk(t1, 500)];
        let (f, _) = diagnose_capture(&capture(a, b), &Options::default());
        let lo = f
            .iter()
            .find(|x| x.id == ids::TCP_LISTEN_OVERFLOW)
            .unwrap_or_else(|| panic!("{f:#?}"));
        let c = lo
            .changes
            .iter()
            .find(|c| c.target == "net.core.somaxconn")
            .unwrap_or_else(|| panic!("{:#?}", lo.changes));
        assert!(c.proposed.parse::<u64>().unwrap() >= 4096);
        assert_eq!(c.netns.as_ref().unwrap().name, "pod-low");
        assert!(lo
            .detail
            .contains("net.core.somaxconn = 64 is 64x below the kernel default 4096"));
        assert_eq!(
            evidence(lo, "sysctl.net.core.somaxconn", "pod-low"),
            Some(64.0)
        );
        let ud = f
            .iter()
            .find(|x| x.id == ids::UDP_RCVBUF_ERRORS)
            .unwrap_or_else(|| panic!("{f:#?}"));
        for key in ["net.core.rmem_default", "net.core.rmem_max"] {
            let c = ud
                .changes
                .iter()
                .find(|c| c.target == key)
                .unwrap_or_else(|| panic!("{key}: {:#?}", ud.changes));
            assert!(c.proposed.parse::<u64>().unwrap() >= 212_992, "{c:?}");
        }
        assert!(
            ud.detail
                .contains("net.core.rmem_default = 4096 is 52x below"),
            "{}",
            ud.detail
        );
    }
}

#[cfg(test)]
mod netns_keys {
    use super::per_netns_key;
    use crate::collect::{sysctl, testfs, FileBuf, Warnings};

    /// Every per-namespace sysctl named in the code of the per-namespace rules' modules (and
    /// in `KERNEL_DEFAULTS`) is read in the other namespaces (`NETNS_FILES`): one missing
    /// there would be judged on the host's value and its change made in the host.
    #[test]
    fn netns_sysctl_list_covers_the_keys_the_rules_read() {
        let vm = sysctl::read(&mut FileBuf::new(), &testfs::vm(), &mut Warnings::default());
        let vm = vm.ok().expect("the VM fixture's sysctls");
        let listed: Vec<String> = sysctl::NETNS_FILES
            .iter()
            .map(|f| f.replace('/', "."))
            .collect();
        let sources = [
            include_str!("tcp.rs"),
            include_str!("udp.rs"),
            include_str!("conntrack.rs"),
            include_str!("system.rs"),
            include_str!("nic.rs"),
            include_str!("fixes.rs"),
            include_str!("thresholds.rs"),
        ];
        let mut checked = Vec::new();
        for src in sources {
            let code = src.split("#[cfg(test)]").next().unwrap_or(src);
            for (at, _) in code.match_indices("\"net.") {
                let rest = &code[at + 1..];
                let key = &rest[..rest.find('"').unwrap_or(0)];
                if vm.contains_key(key) && per_netns_key(key) {
                    assert!(
                        listed.iter().any(|l| l == key),
                        "{key} is read by a rule but not in NETNS_FILES"
                    );
                    checked.push(key.to_string());
                }
            }
        }
        checked.sort();
        checked.dedup();
        assert!(checked.len() >= 15, "{checked:?}");
    }
}
