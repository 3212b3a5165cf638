//! Which network namespaces an exposition shows on their own, under which `netns` label, and
//! the rest folded into `netns="other"` (the cardinality bound, `export --max-netns`).
//!
//! Label scheme: every per-namespace family (netstat/snmp/snmp6, sockstat, netdev, conntrack)
//! carries `netns`: the snapshot's primary sources are `netns="host"` (or the `--netns`
//! name), every other namespace of [`Snapshot::namespaces`] its display name
//! ([`crate::namespaces::NetnsRef::name`]; an empty name, one equal to `host`/`other`, or one
//! several namespaces share gets ` [INODE]` appended — all of them, whichever are shown — so
//! two namespaces never share a series and a label does not move with the ranking). Host-wide
//! families (softnet, softirqs, interrupts, ethtool) carry no `netns` label.
//!
//! Ranking: at most [`Folder`]'s `max` namespaces besides the primary are shown, those with
//! the highest activity over the exporter's window (since the previous collection): packets
//! received + transmitted on their devices plus 1000 × drops (device drops, `TcpExt.ListenDrops`
//! — which includes the overflows —, `TcpExt.TCPBacklogDrop`, `Udp.InErrors`, `Udp6.InErrors`);
//! a namespace seen for the first time is ranked by its totals; a namespace shown in the
//! previous collection counts double (hysteresis: one about as busy as it does not take its
//! place and make both series flap); ties go by name, then inode.
//!
//! `netns="other"` keeps `rate()` right as namespaces move in and out of the top N:
//! - each counter of `other` is a **running accumulator of deltas**: at every collection it
//!   grows by what each folded namespace counted since the previous collection (a counter
//!   that went backwards counts from zero, as in [`crate::window::Window`]; a namespace first
//!   seen adds its whole value — it is normally new). A namespace leaving `other` for the top N
//!   stops adding, one entering it adds only from then on, one that disappears subtracts
//!   nothing: `other` never decreases, and its value is not the sum of the folded namespaces'
//!   current counters (which would jump down whenever one left);
//! - gauges (sockstat, `Tcp_CurrEstab`, `nf_conntrack_entries`) are the current sum over the
//!   folded namespaces; configuration-like gauges (`Ip_Forwarding`, `Ip_DefaultTTL`,
//!   `Tcp_Rto*`, `Tcp_MaxConn`, `nf_conntrack_entries_limit`) and the global TCP/UDP memory
//!   pools of sockstat (`*_mem`, the same in every namespace) are not summed;
//! - netdev counters of `other` are summed over every device into `device="all"` (device names
//!   in containers are arbitrary; keeping them would unbound the cardinality again);
//! - once a namespace has been folded, `other` stays in every exposition (0-valued gauges
//!   when nothing is folded at the moment), so its counters never go stale and come back.

use super::encode::{netstat_gauge, NETDEV_COLS};
use crate::collect::sockstat::SockStat;
use crate::snapshot::Snapshot;
use std::collections::{BTreeMap, HashMap, HashSet};

/// `netns` label of the snapshot's primary sources when they are the host's.
pub const HOST_LABEL: &str = "host";
/// `netns` label of the namespaces folded together.
pub const OTHER_LABEL: &str = "other";
/// Default of `export --max-netns`.
pub const DEFAULT_MAX_NETNS: usize = 64;

/// Weight of one drop against one packet in the ranking.
const DROP_WEIGHT: u64 = 1000;
/// Factor on the score of a namespace shown in the previous layout.
const HYSTERESIS: u64 = 2;
/// A namespace not seen for this many collections is forgotten (its last values dropped), so
/// memory stays flat while namespaces come and go; a brief absence (a read that failed once)
/// does not make its next values count twice in `other`.
pub const FORGET_AFTER: u64 = 5;

/// What one exposition shows of the namespaces of its snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// `netns` label of the primary sources (`host`, or the `--netns` name).
    pub primary: String,
    /// Namespaces shown on their own: index into [`Snapshot::namespaces`] and label, in
    /// exposition (label) order.
    pub shown: Vec<(usize, String)>,
    /// The folded namespaces, once any was folded.
    pub other: Option<Other>,
}

impl Layout {
    /// Every namespace of `s` shown on its own, nothing folded (a one-off exposition).
    pub fn all(s: &Snapshot, primary: &str) -> Layout {
        let order: Vec<usize> = (0..s.namespaces.len()).collect();
        Layout {
            primary: primary.to_string(),
            shown: labels(s, primary, &order),
            other: None,
        }
    }
}

/// `netns="other"`: the namespaces beyond the top N.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Other {
    /// Metric name (as exposed, e.g. `nettune_netstat_TcpExt_ListenOverflows`,
    /// `nettune_network_receive_drop_total`) → accumulated deltas (never decreases).
    pub counters: BTreeMap<String, u64>,
    /// Metric name → current sum over the namespaces folded now.
    pub gauges: BTreeMap<String, i64>,
    /// How many namespaces are folded now.
    pub folded: usize,
}

/// Labels for the namespaces at `order`, in name order: the display name, or `NAME [INODE]`
/// when the name is empty, is `primary` or `other`, or is shared by several namespaces of the
/// snapshot — decided from the whole snapshot, so a namespace keeps its label whether or not
/// the one it shares its name with is shown.
fn labels(s: &Snapshot, primary: &str, order: &[usize]) -> Vec<(usize, String)> {
    let mut count: HashMap<&str, usize> = HashMap::with_capacity(s.namespaces.len());
    for n in &s.namespaces {
        *count.entry(n.netns.name.as_str()).or_default() += 1;
    }
    let mut out: Vec<(usize, String)> = order
        .iter()
        .map(|&i| {
            let ns = &s.namespaces[i].netns;
            let name = ns.name.as_str();
            let plain = !name.is_empty()
                && name != primary
                && name != OTHER_LABEL
                && count.get(name) == Some(&1);
            let label = if plain {
                name.to_string()
            } else {
                format!("{name} [{}]", ns.inode)
            };
            (i, label)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// The last values seen of one namespace.
#[derive(Debug, Default)]
struct Last {
    /// By counter id (see [`Folder`]); `None`: not read.
    values: Vec<Option<u64>>,
    packets: u64,
    drops: u64,
    /// Whether it was shown on its own in the previous layout.
    shown: bool,
    /// Collection number when last seen.
    seen: u64,
}

/// Decides the [`Layout`] of each collection, in collection order, and keeps `other`'s
/// accumulators between collections (see the module docs).
#[derive(Debug)]
pub struct Folder {
    max: usize,
    primary: String,
    /// Counter ids of netstat fields, by section then field (no name is built to look one
    /// up); the netdev columns are ids `0..16`, the conntrack stats the next 8, netstat
    /// fields the ids after them.
    netstat_ids: HashMap<String, HashMap<String, usize>>,
    /// The exposed metric name of every counter id.
    names: Vec<String>,
    last: HashMap<u64, Last>,
    /// `other`'s accumulated counters by id (`None`: nothing accumulated yet), once any
    /// namespace was folded.
    other_counters: Option<Vec<Option<u64>>>,
    /// `other`'s gauges by exposed name.
    other_gauges: BTreeMap<String, i64>,
    generation: u64,
}

/// Id of the first conntrack stat counter (after the netdev columns).
const CONNTRACK_ID: usize = NETDEV_COLS.len();

/// `cur - prev`, or `cur` when the counter went backwards (a reset counts from zero).
fn delta(cur: u64, prev: Option<u64>) -> u64 {
    match prev {
        Some(p) if cur >= p => cur - p,
        _ => cur,
    }
}

impl Folder {
    /// A folder showing at most `max` namespaces besides the primary, labelled `primary`.
    pub fn new(max: usize, primary: &str) -> Folder {
        let names = NETDEV_COLS
            .iter()
            .map(|(col, _)| format!("nettune_network_{col}_total"))
            .chain(
                super::encode::CONNTRACK_STATS
                    .iter()
                    .map(|(stat, _)| format!("nettune_nf_conntrack_stat_{stat}")),
            )
            .collect();
        Folder {
            max,
            primary: primary.to_string(),
            netstat_ids: HashMap::new(),
            names,
            last: HashMap::new(),
            other_counters: None,
            other_gauges: BTreeMap::new(),
            generation: 0,
        }
    }

    /// Call `f(id, value)` for every counter of a namespace's snapshot that `other`
    /// accumulates: netstat fields that are counters, netdev columns summed over devices,
    /// conntrack stats.
    fn visit_counters(&mut self, s: &Snapshot, mut f: impl FnMut(usize, u64)) {
        if let Some(sections) = s.netstat.ok() {
            for (section, fields) in sections {
                if !self.netstat_ids.contains_key(section.as_str()) {
                    self.netstat_ids.insert(section.clone(), HashMap::new());
                }
                let Some(ids) = self.netstat_ids.get_mut(section.as_str()) else {
                    continue;
                };
                for (field, v) in fields {
                    if *v < 0 || netstat_gauge(section, field) {
                        continue;
                    }
                    let id = match ids.get(field.as_str()) {
                        Some(&id) => id,
                        None => {
                            let mut name = String::new();
                            metric_name(&mut name, "nettune_netstat_", &[section, field]);
                            self.names.push(name);
                            ids.insert(field.clone(), self.names.len() - 1);
                            self.names.len() - 1
                        }
                    };
                    f(id, *v as u64);
                }
            }
        }
        if let Some(devs) = s.netdev.ok() {
            if !devs.is_empty() {
                for (id, (_, get)) in NETDEV_COLS.iter().enumerate() {
                    f(
                        id,
                        devs.values().fold(0u64, |a, c| a.saturating_add(get(c))),
                    );
                }
            }
        }
        if let Some(t) = s.conntrack.ok().and_then(|c| c.totals()) {
            for (k, (_, v)) in super::encode::conntrack_stats(&t).into_iter().enumerate() {
                if let Some(v) = v {
                    f(CONNTRACK_ID + k, v);
                }
            }
        }
    }

    /// The layout of the next collection `s` (call once per collection, oldest first).
    pub fn layout(&mut self, s: &Snapshot) -> Layout {
        self.generation += 1;
        let activity: Vec<(u64, u64)> =
            s.namespaces.iter().map(|n| activity(&n.snapshot)).collect();
        let score = |i: usize| {
            let (p, d) = activity[i];
            let last = self.last.get(&s.namespaces[i].netns.inode);
            let (lp, ld) = last.map_or((None, None), |l| (Some(l.packets), Some(l.drops)));
            let score = delta(p, lp).saturating_add(delta(d, ld).saturating_mul(DROP_WEIGHT));
            match last {
                Some(l) if l.shown => score.saturating_mul(HYSTERESIS),
                _ => score,
            }
        };
        let mut order: Vec<(u64, usize)> = (0..s.namespaces.len()).map(|i| (score(i), i)).collect();
        order.sort_by(|(sa, a), (sb, b)| {
            let (na, nb) = (&s.namespaces[*a].netns, &s.namespaces[*b].netns);
            sb.cmp(sa)
                .then_with(|| na.name.cmp(&nb.name))
                .then_with(|| na.inode.cmp(&nb.inode))
        });
        let cut = order.len().min(self.max);
        let shown: Vec<usize> = order[..cut].iter().map(|&(_, i)| i).collect();
        let folded: HashSet<usize> = order[cut..].iter().map(|&(_, i)| i).collect();
        if !folded.is_empty() && self.other_counters.is_none() {
            self.other_counters = Some(Vec::new());
        }
        // Zero, not removed: a gauge of `other` stays a series while nothing is folded.
        self.other_gauges.values_mut().for_each(|v| *v = 0);
        let mut name = String::new();
        for (i, ns) in s.namespaces.iter().enumerate() {
            let fold = folded.contains(&i);
            let inode = ns.netns.inode;
            let mut last = self.last.remove(&inode).unwrap_or_default();
            let mut other = self.other_counters.take();
            self.visit_counters(&ns.snapshot, |id, cur| {
                if last.values.len() <= id {
                    last.values.resize(id + 1, None);
                }
                let prev = last.values[id].replace(cur);
                if let (true, Some(o)) = (fold, other.as_mut()) {
                    if o.len() <= id {
                        o.resize(id + 1, None);
                    }
                    let acc = o[id].get_or_insert(0);
                    *acc = acc.saturating_add(delta(cur, prev));
                }
            });
            self.other_counters = other;
            if fold {
                let gauges = &mut self.other_gauges;
                visit_gauges(&ns.snapshot, &mut name, |key, v| {
                    match gauges.get_mut(key) {
                        Some(g) => *g = g.saturating_add(v),
                        None => {
                            gauges.insert(key.to_string(), v);
                        }
                    }
                });
            }
            (last.packets, last.drops) = activity[i];
            last.shown = !fold;
            last.seen = self.generation;
            self.last.insert(inode, last);
        }
        let generation = self.generation;
        self.last.retain(|_, l| generation - l.seen <= FORGET_AFTER);
        let other = self.other_counters.as_ref().map(|acc| Other {
            counters: acc
                .iter()
                .enumerate()
                .filter_map(|(id, v)| Some((self.names[id].clone(), (*v)?)))
                .collect(),
            gauges: self.other_gauges.clone(),
            folded: folded.len(),
        });
        Layout {
            primary: self.primary.clone(),
            shown: labels(s, &self.primary, &shown),
            other,
        }
    }
}

/// Packets received + transmitted and drops of a namespace's snapshot (cumulative).
fn activity(s: &Snapshot) -> (u64, u64) {
    let (mut packets, mut drops) = (0u64, 0u64);
    if let Some(devs) = s.netdev.ok() {
        for c in devs.values() {
            packets = packets.saturating_add(c.rx_packets.saturating_add(c.tx_packets));
            drops = drops.saturating_add(c.rx_drop.saturating_add(c.tx_drop));
        }
    }
    if let Some(ns) = s.netstat.ok() {
        for (sec, field) in [
            ("TcpExt", "ListenDrops"),
            ("TcpExt", "TCPBacklogDrop"),
            ("Udp", "InErrors"),
            ("Udp6", "InErrors"),
        ] {
            if let Some(v) = ns.get(sec).and_then(|f| f.get(field)) {
                drops = drops.saturating_add((*v).max(0) as u64);
            }
        }
    }
    (packets, drops)
}

/// Push `prefix` + sanitized parts joined by `_` into `out` (cleared first).
pub(crate) fn metric_name(out: &mut String, prefix: &str, parts: &[&str]) {
    out.clear();
    out.push_str(prefix);
    for (k, p) in parts.iter().enumerate() {
        if k > 0 {
            out.push('_');
        }
        for c in p.chars() {
            out.push(if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            });
        }
    }
}

/// The gauges of a namespace's snapshot that `other` sums (see the module docs).
fn visit_gauges(s: &Snapshot, name: &mut String, mut f: impl FnMut(&str, i64)) {
    if let Some(v) = s
        .netstat
        .ok()
        .and_then(|n| n.get("Tcp"))
        .and_then(|t| t.get("CurrEstab"))
    {
        f("nettune_netstat_Tcp_CurrEstab", *v);
    }
    if let Some(protos) = s.sockstat.ok() {
        visit_sockstat(protos, name, |n, v| f(n, v));
    }
    if let Some(c) = s.conntrack.ok().and_then(|c| c.count) {
        f("nettune_nf_conntrack_entries", c as i64);
    }
}

fn visit_sockstat(protos: &SockStat, name: &mut String, mut f: impl FnMut(&str, i64)) {
    for (proto, keys) in protos {
        for (key, v) in keys {
            if key == "mem" {
                continue;
            }
            if proto == "sockets" && key == "used" {
                f("nettune_sockstat_sockets_used", *v);
            } else {
                metric_name(name, "nettune_sockstat_", &[proto, key]);
                f(name, *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::host::HostFacts;
    use crate::collect::Source;
    use crate::export::encode::{encode_counters, Format};
    use crate::namespaces::NetnsRef;
    use crate::snapshot::NetnsSnapshot;
    use serde_json::json;

    fn src<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Source<T> {
        Source::Ok(serde_json::from_value(v).unwrap())
    }

    /// Per-namespace sources: eth0 with `packets` received and `drops` dropped,
    /// `overflows` listen overflows, `inuse` TCP sockets, `ct` conntrack entries.
    fn ns_sources(s: &mut Snapshot, packets: u64, drops: u64, overflows: i64, inuse: i64, ct: u64) {
        s.netdev = src(json!({"eth0": {
            "rx_bytes": packets * 100, "rx_packets": packets, "rx_errs": 0, "rx_drop": drops,
            "rx_fifo": 0, "rx_frame": 0, "rx_compressed": 0, "rx_multicast": 0,
            "tx_bytes": 0, "tx_packets": 0, "tx_errs": 0, "tx_drop": 0, "tx_fifo": 0,
            "tx_colls": 0, "tx_carrier": 0, "tx_compressed": 0}}));
        s.netstat = src(json!({
            "TcpExt": {"ListenOverflows": overflows, "ListenDrops": overflows},
            "Tcp": {"CurrEstab": inuse, "MaxConn": -1}
        }));
        s.sockstat = src(json!({"sockets": {"used": inuse}, "TCP": {"inuse": inuse, "mem": 3}}));
        s.conntrack = src(json!({"count": ct, "max": 65536}));
    }

    fn ns(
        inode: u64,
        name: &str,
        t: u64,
        packets: u64,
        overflows: i64,
        inuse: i64,
    ) -> NetnsSnapshot {
        let mut snapshot = Snapshot::empty(t);
        ns_sources(&mut snapshot, packets, 0, overflows, inuse, 10);
        NetnsSnapshot {
            netns: NetnsRef {
                inode,
                name: name.to_string(),
                path: format!("/run/netns/{name}").into(),
            },
            snapshot,
        }
    }

    /// The host (softnet and softirqs host-wide; eth0 with 1000 packets) plus `namespaces`.
    fn host_with(t: u64, namespaces: Vec<NetnsSnapshot>) -> Snapshot {
        let mut s = Snapshot::empty(t);
        s.softnet = src(json!([
            {"cpu": 0, "processed": 100, "dropped": 5, "time_squeeze": 1,
             "cpu_collision": null, "received_rps": null, "flow_limit_count": null,
             "backlog_len": null, "input_qlen": null, "process_qlen": null}
        ]));
        s.softirqs = src(json!({"NET_RX": [7]}));
        ns_sources(&mut s, 1000, 1, 2, 4, 100);
        s.namespaces = namespaces;
        s
    }

    fn host() -> HostFacts {
        HostFacts {
            cpus: 1,
            page_size: 4096,
            ..Default::default()
        }
    }

    /// The value of the sample line `series` (name and labels as printed).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn per_namespace_families_carry_netns_and_host_wide_ones_do_not() {
        let s = host_with(
            1,
            vec![
                ns(11, "pod-a", 1, 50, 5, 2),
                ns(12, "host", 1, 60, 0, 1),
                ns(13, "pod-a", 1, 70, 0, 1),
                ns(14, "pod-b", 1, 70, 1, 1),
            ],
        );
        for format in [Format::Text, Format::OpenMetrics] {
            let text = encode_counters(&s, &host(), &Layout::all(&s, HOST_LABEL), format);
            for line in [
                "nettune_netstat_TcpExt_ListenOverflows{netns=\"host\"} 2",
                "nettune_netstat_TcpExt_ListenOverflows{netns=\"pod-b\"} 1",
                // Namespaces named like the host's label, or like each other, are told
                // apart by their inode.
                "nettune_netstat_TcpExt_ListenOverflows{netns=\"host [12]\"} 0",
                "nettune_netstat_TcpExt_ListenOverflows{netns=\"pod-a [11]\"} 5",
                "nettune_netstat_TcpExt_ListenOverflows{netns=\"pod-a [13]\"} 0",
                "nettune_network_receive_packets_total{device=\"eth0\",netns=\"host\"} 1000",
                "nettune_network_receive_packets_total{device=\"eth0\",netns=\"pod-a [11]\"} 50",
                "nettune_sockstat_TCP_inuse{netns=\"pod-a [11]\"} 2",
                "nettune_sockstat_sockets_used{netns=\"host [12]\"} 1",
                "nettune_nf_conntrack_entries{netns=\"pod-b\"} 10",
                "nettune_nf_conntrack_entries{netns=\"host\"} 100",
                "nettune_softnet_dropped_total{cpu=\"0\"} 5",
                "nettune_softirqs_functions_total{cpu=\"0\",type=\"NET_RX\"} 7",
            ] {
                assert!(
                    text.contains(&format!("{line}\n")),
                    "missing {line:?} in:\n{text}"
                );
            }
            for l in text.lines().filter(|l| !l.starts_with('#')) {
                let host_wide =
                    l.starts_with("nettune_softnet_") || l.starts_with("nettune_softirqs_");
                assert_eq!(l.contains("netns="), !host_wide, "{l}");
            }
            // Each family's samples follow its one header: no name is declared twice.
            let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
            let unique: HashSet<&&str> = types.iter().collect();
            assert_eq!(types.len(), unique.len(), "{text}");
            assert!(!text.contains("netns=\"other\""), "nothing folded: {text}");
        }
    }

    /// Folds keep `other` monotonic while namespaces move between the top N and the rest,
    /// disappear, and reset.
    #[test]
    fn max_netns_folds_the_rest_into_other_which_never_decreases() {
        let mut folder = Folder::new(1, HOST_LABEL);
        // (packets, overflows, inuse) of a, b, c at each collection; None: gone.
        type Ns = Option<(u64, i64, i64)>;
        let steps: [[Ns; 3]; 5] = [
            // a busiest: b + c folded; other starts at their values.
            // (drops weigh: ListenDrops = overflows here.)
            [Some((10_000, 1, 1)), Some((10, 2, 2)), Some((10, 3, 3))],
            // b gets busy: a folded from now (its +10000 packets and +10 overflows count).
            [
                Some((20_000, 11, 1)),
                Some((90_000, 2, 2)),
                Some((20, 3, 3)),
            ],
            // c gone; a busy again, b folded (+100 packets).
            [Some((900_000, 11, 1)), Some((90_100, 2, 2)), None],
            // b's counters reset (its namespace restarted): counts from zero.
            [Some((2_000_000, 11, 1)), Some((5, 1, 7)), None],
            // Nothing folded any more: other keeps its value.
            [Some((3_000_000, 11, 1)), None, None],
        ];
        let names = ["a", "b", "c"];
        let mut last_packets = 0.0;
        let mut last_overflows = 0.0;
        let mut seen = Vec::new();
        for (k, step) in steps.iter().enumerate() {
            let t = (k as u64 + 1) * 1_000_000_000;
            let namespaces = step
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let (p, o, u) = (*v)?;
                    Some(ns(100 + i as u64, names[i], t, p, o, u))
                })
                .collect();
            let s = host_with(t, namespaces);
            let layout = folder.layout(&s);
            assert!(layout.shown.len() <= 1);
            let text = encode_counters(&s, &host(), &layout, Format::Text);
            let packets = value(
                &text,
                "nettune_network_receive_packets_total{device=\"all\",netns=\"other\"}",
            )
            .unwrap_or_else(|| panic!("step {k}: no other packets in\n{text}"));
            let overflows = value(
                &text,
                "nettune_netstat_TcpExt_ListenOverflows{netns=\"other\"}",
            )
            .unwrap();
            assert!(
                packets >= last_packets && overflows >= last_overflows,
                "step {k}"
            );
            (last_packets, last_overflows) = (packets, overflows);
            let shown: Vec<&str> = layout.shown.iter().map(|(_, l)| l.as_str()).collect();
            let inuse = value(&text, "nettune_sockstat_TCP_inuse{netns=\"other\"}").unwrap();
            seen.push((shown.join(","), packets, overflows, inuse));
            // Config-like gauges and the global memory pool are never summed.
            assert!(!text.contains("nettune_netstat_Tcp_MaxConn{netns=\"other\"}"));
            assert!(!text.contains("nettune_sockstat_TCP_mem{netns=\"other\"}"));
            assert!(!text.contains("nettune_nf_conntrack_entries_limit{netns=\"other\"}"));
        }
        assert_eq!(
            seen,
            [
                ("a".to_string(), 20.0, 5.0, 5.0),
                ("b".to_string(), 20.0 + 10_000.0 + 10.0, 15.0, 4.0),
                ("a".to_string(), 10_030.0 + 100.0, 15.0, 2.0),
                ("a".to_string(), 10_130.0 + 5.0, 16.0, 7.0),
                ("a".to_string(), 10_135.0, 16.0, 0.0),
            ]
        );
        assert!(folder.last.len() <= 3);
    }

    /// A shown namespace keeps its place against one less than twice as active, and loses it
    /// to one more than twice as active.
    #[test]
    fn shown_namespaces_keep_their_place_unless_clearly_outranked() {
        let mut folder = Folder::new(1, HOST_LABEL);
        let at = |t: u64, a: u64, b: u64| {
            host_with(t, vec![ns(1, "a", t, a, 0, 0), ns(2, "b", t, b, 0, 0)])
        };
        let shown = |l: Layout| l.shown[0].1.clone();
        assert_eq!(shown(folder.layout(&at(1, 100, 10))), "a");
        // b +150 against a's +100 (x2): a stays.
        assert_eq!(shown(folder.layout(&at(2, 200, 160))), "a");
        // b +250 against a's +100 (x2): b takes the place.
        assert_eq!(shown(folder.layout(&at(3, 300, 410))), "b");
    }

    /// Drops weigh 1000 packets: a quiet namespace that drops outranks a busy clean one.
    #[test]
    fn ranking_weighs_drops_over_packets() {
        let mut busy = ns(1, "busy", 1, 500_000, 0, 0);
        let mut dropping = ns(2, "dropping", 1, 10, 0, 0);
        ns_sources(&mut dropping.snapshot, 10, 600, 0, 0, 0);
        ns_sources(&mut busy.snapshot, 500_000, 0, 0, 0, 0);
        let s = host_with(1, vec![busy, dropping]);
        let layout = Folder::new(1, HOST_LABEL).layout(&s);
        assert_eq!(layout.shown, vec![(1, "dropping".to_string())]);
        assert_eq!(layout.other.as_ref().map(|o| o.folded), Some(1));
    }

    /// A namespace forgotten after it has been gone for a while: memory stays flat while
    /// namespaces come and go.
    #[test]
    fn gone_namespaces_are_forgotten() {
        let mut folder = Folder::new(2, HOST_LABEL);
        for k in 0..50u64 {
            let t = (k + 1) * 1_000_000_000;
            let s = host_with(t, vec![ns(1000 + k, &format!("n{k}"), t, 10, 0, 0)]);
            folder.layout(&s);
        }
        assert!(
            folder.last.len() <= FORGET_AFTER as usize + 1,
            "{}",
            folder.last.len()
        );
    }
}
