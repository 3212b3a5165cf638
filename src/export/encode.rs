//! Prometheus text (0.0.4) and OpenMetrics (1.0.0) encoding of one snapshot plus the findings
//! of the window that ends at it.
//!
//! Names follow node_exporter with the `nettune_` prefix (same units, labels and help texts),
//! so dashboards and queries written for node_exporter work after a prefix change:
//!
//! - softnet: `nettune_softnet_{processed,dropped,times_squeezed,cpu_collision,received_rps,
//!   flow_limit_count}_total{cpu}` (counters), `nettune_softnet_backlog_len{cpu}` (gauge);
//! - netdev: `nettune_network_{receive,transmit}_<column>_total{device}` (counters);
//! - netstat / snmp / snmp6: `nettune_netstat_<Section>_<Field>` for **every** field the kernel
//!   prints, **untyped** as in node_exporter: the files mix counters (`ListenOverflows`) and
//!   gauges (`Tcp_CurrEstab`, `Ip_Forwarding`, `Tcp_MaxConn = -1`), and a wrong `counter` type
//!   would make `rate()` lie about the gauges; untyped keeps node_exporter's queries working;
//! - sockstat: `nettune_sockstat_<PROTO>_<key>` gauges (`mem` in pages, plus `_mem_bytes`),
//!   `nettune_sockstat_sockets_used`;
//! - conntrack: `nettune_nf_conntrack_entries`, `_entries_limit`, `nettune_nf_conntrack_stat_*`
//!   (totals over CPUs; gauges, as node_exporter types them);
//! - qdiscs (each device's root and ingress qdisc): `nettune_qdisc_{bytes,packets,drops,
//!   overlimits,requeues}_total{device,kind,netns}`, `nettune_qdisc_backlog`,
//!   `nettune_qdisc_current_queue_length`; netlink: `nettune_netlink_drops_total{protocol,
//!   netns}` (not summed into `netns="other"`);
//! - softirqs: `nettune_softirqs_functions_total{cpu,type}`;
//! - interrupts, only the IRQs of network devices: `nettune_interrupts_total{cpu,devices,info,
//!   type}`;
//! - ethtool driver statistics: `nettune_ethtool_stat_total{device,stat}` (one labelled family
//!   instead of one metric per queue counter);
//! - nettune's own: `nettune_finding{id,severity,scope,netns} 1` per active finding,
//!   `nettune_build_info{version,revision} 1`, `nettune_collect_duration_seconds{source}`,
//!   `nettune_source_ok{source}` (1 read, 0 not; the last family).
//!
//! Network namespaces ([`super::netns`]): the per-namespace families — netdev, netstat,
//! sockstat, conntrack — carry a `netns` label (`host` for the snapshot's primary sources,
//! a namespace's display name, `other` for the namespaces beyond `--max-netns`, summed); the
//! host-wide ones — softnet, softirqs, interrupts, ethtool — carry none. Each family's samples
//! (every namespace's) follow its one header.
//!
//! The encoder is hand-written rather than built on `prometheus-client`: every family here is
//! dynamic (whatever fields this kernel prints), netstat needs the `untyped` type that
//! registry-based clients do not offer, and writing straight from the borrowed snapshot into
//! one `String` keeps a scrape allocation-light.

use super::netns::{metric_name, Layout, HOST_LABEL, OTHER_LABEL};
use crate::collect::conntrack::{Conntrack, ConntrackCpuStat};
use crate::collect::host::HostFacts;
use crate::collect::netdev::NetDevCounters;
use crate::diagnose::Finding;
use crate::snapshot::Snapshot;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

/// Exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (also node_exporter's textfile format).
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    /// The format an HTTP `Accept` header asks for (OpenMetrics only when it names it).
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Untyped,
}

/// A sample value.
#[derive(Debug, Clone, Copy)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

struct Enc {
    out: String,
    format: Format,
}

impl Enc {
    /// `# HELP` and `# TYPE` lines; `name` is the sample name (counters end in `_total`).
    fn family(&mut self, name: &str, help: &str, kind: Kind) {
        let om = self.format == Format::OpenMetrics;
        let family = match (om, kind) {
            (true, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let kind = match (kind, om) {
            (Kind::Counter, _) => "counter",
            (Kind::Gauge, _) => "gauge",
            (Kind::Untyped, false) => "untyped",
            (Kind::Untyped, true) => "unknown",
        };
        self.out.push_str("# HELP ");
        self.out.push_str(family);
        self.out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '"' if om => self.out.push_str("\\\""),
                c => self.out.push(c),
            }
        }
        let _ = writeln!(self.out, "\n# TYPE {family} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Num) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                if !v.contains(['\\', '\n', '"']) {
                    self.out.push_str(v);
                    self.out.push('"');
                    continue;
                }
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '\n' => self.out.push_str("\\n"),
                        '"' => self.out.push_str("\\\""),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        let _ = match value {
            Num::U(v) => write!(self.out, "{v}"),
            Num::I(v) => write!(self.out, "{v}"),
            Num::F(v) if v.is_nan() => write!(self.out, "NaN"),
            Num::F(v) if v.is_infinite() => {
                write!(self.out, "{}", if v > 0.0 { "+Inf" } else { "-Inf" })
            }
            Num::F(v) => write!(self.out, "{v}"),
        };
        self.out.push('\n');
    }
}

/// What one exposition shows.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The newest snapshot (its raw counters are exposed).
    pub snapshot: &'a Snapshot,
    /// Host facts (page size for `_mem_bytes`).
    pub host: &'a HostFacts,
    /// Findings of the window that ends at `snapshot`.
    pub findings: &'a [Finding],
}

/// Encode the snapshot's counters, the findings and collection times: the whole exposition,
/// [`encode_counters`] followed by [`encode_own`], with every namespace of the snapshot shown
/// on its own and the primary sources labelled `netns="host"` (a one-off exposition; the
/// [`super::Exporter`] bounds the namespaces shown with a [`super::netns::Folder`]).
pub fn encode(input: &Input, format: Format) -> String {
    let layout = Layout::all(input.snapshot, HOST_LABEL);
    let mut out = encode_counters(input.snapshot, input.host, &layout, format);
    out.push_str(&encode_own(input, &layout.primary, format));
    out
}

/// The kernel's counters of one snapshot (every family but nettune's own), its namespaces as
/// `layout` says. They depend on the snapshot and its layout alone, so the exporter encodes
/// them once per collection, ahead of scrapes.
pub fn encode_counters(s: &Snapshot, host: &HostFacts, layout: &Layout, format: Format) -> String {
    let mut e = Enc {
        // About 35 KB per namespace shown (every netstat field of each).
        out: String::with_capacity((96 + 36 * layout.shown.len()) * 1024),
        format,
    };
    softnet(&mut e, s);
    netdev(&mut e, s, layout);
    netstat(&mut e, s, layout);
    sockstat(&mut e, s, layout, host.page_size);
    conntrack(&mut e, s, layout);
    qdisc(&mut e, s, layout);
    netlink(&mut e, s, layout);
    softirqs(&mut e, s);
    interrupts(&mut e, s);
    ethtool(&mut e, s);
    e.out
}

/// nettune's own families: the findings of the window (`netns` label: the finding's
/// namespace, `primary` — the label of the snapshot's primary sources — when it has none),
/// collection times and source status, then `# EOF` in OpenMetrics. Goes after
/// [`encode_counters`] of the same snapshot.
pub fn encode_own(input: &Input, primary: &str, format: Format) -> String {
    let mut e = Enc {
        out: String::with_capacity(4 * 1024),
        format,
    };
    own(&mut e, input.snapshot, input.findings, primary);
    if format == Format::OpenMetrics {
        e.out.push_str("# EOF\n");
    }
    e.out
}

/// The namespace a finding is about, for its `netns` label (`None`: the snapshot's primary
/// sources, or a host-wide finding). The one place the exporter reads a finding's namespace.
pub fn finding_netns(f: &Finding) -> Option<&str> {
    f.netns.as_ref().map(|n| n.name.as_str())
}

fn softnet(e: &mut Enc, s: &Snapshot) {
    let Some(cpus) = s.softnet.ok() else { return };
    type Col = fn(&crate::collect::softnet::SoftnetCpu) -> Option<u32>;
    let cols: [(&str, &str, Col); 6] = [
        (
            "nettune_softnet_processed_total",
            "Number of processed packets",
            |c| Some(c.processed),
        ),
        (
            "nettune_softnet_dropped_total",
            "Number of dropped packets",
            |c| Some(c.dropped),
        ),
        (
            "nettune_softnet_times_squeezed_total",
            "Number of times processing packets ran out of quota",
            |c| Some(c.time_squeeze),
        ),
        (
            "nettune_softnet_cpu_collision_total",
            "Number of collision occur while obtaining device lock while transmitting",
            |c| c.cpu_collision,
        ),
        (
            "nettune_softnet_received_rps_total",
            "Number of times cpu woken up received_rps",
            |c| c.received_rps,
        ),
        (
            "nettune_softnet_flow_limit_count_total",
            "Number of times flow limit has been reached",
            |c| c.flow_limit_count,
        ),
    ];
    let mut cpu = String::new();
    for (name, help, get) in cols {
        if cpus.iter().all(|c| get(c).is_none()) {
            continue;
        }
        e.family(name, help, Kind::Counter);
        for c in cpus {
            if let Some(v) = get(c) {
                cpu.clear();
                let _ = write!(cpu, "{}", c.cpu);
                e.sample(name, &[("cpu", &cpu)], Num::U(v.into()));
            }
        }
    }
    if cpus.iter().any(|c| c.backlog_len.is_some()) {
        let name = "nettune_softnet_backlog_len";
        e.family(name, "Softnet backlog status", Kind::Gauge);
        for c in cpus {
            if let Some(v) = c.backlog_len {
                cpu.clear();
                let _ = write!(cpu, "{}", c.cpu);
                e.sample(name, &[("cpu", &cpu)], Num::U(v.into()));
            }
        }
    }
}

/// Every netdev column: its name in `nettune_network_<column>_total` and its getter.
/// Reads one netdev column.
pub(crate) type NetDevCol = fn(&NetDevCounters) -> u64;

pub(crate) const NETDEV_COLS: [(&str, NetDevCol); 16] = [
    ("receive_bytes", |c| c.rx_bytes),
    ("receive_packets", |c| c.rx_packets),
    ("receive_errs", |c| c.rx_errs),
    ("receive_drop", |c| c.rx_drop),
    ("receive_fifo", |c| c.rx_fifo),
    ("receive_frame", |c| c.rx_frame),
    ("receive_compressed", |c| c.rx_compressed),
    ("receive_multicast", |c| c.rx_multicast),
    ("transmit_bytes", |c| c.tx_bytes),
    ("transmit_packets", |c| c.tx_packets),
    ("transmit_errs", |c| c.tx_errs),
    ("transmit_drop", |c| c.tx_drop),
    ("transmit_fifo", |c| c.tx_fifo),
    ("transmit_colls", |c| c.tx_colls),
    ("transmit_carrier", |c| c.tx_carrier),
    ("transmit_compressed", |c| c.tx_compressed),
];

/// Whether a netstat/snmp field is a level or a setting rather than a counter (the rest of
/// these files counts events). `netns="other"` accumulates only counters.
pub(crate) fn netstat_gauge(section: &str, field: &str) -> bool {
    matches!(
        (section, field),
        ("Ip", "Forwarding" | "DefaultTTL")
            | (
                "Tcp",
                "RtoAlgorithm" | "RtoMin" | "RtoMax" | "MaxConn" | "CurrEstab"
            )
    )
}

/// The primary sources of `s` and the namespaces `l` shows, each with its `netns` label.
fn parts<'a>(s: &'a Snapshot, l: &'a Layout) -> impl Iterator<Item = (&'a str, &'a Snapshot)> {
    std::iter::once((l.primary.as_str(), s)).chain(
        l.shown
            .iter()
            .filter_map(|(i, label)| Some((label.as_str(), &s.namespaces.get(*i)?.snapshot))),
    )
}

/// Samples of one family collected across namespaces before it is written (a family's
/// samples must follow its header together).
struct Fam<'a> {
    name: String,
    /// `(section, field)` for the help text, when a snapshot printed it.
    help: Option<(&'a str, &'a str)>,
    samples: Vec<(&'a str, i64)>,
}

/// Families by name, in first-seen order.
#[derive(Default)]
struct Fams<'a> {
    index: HashMap<String, usize>,
    list: Vec<Fam<'a>>,
}

impl<'a> Fams<'a> {
    /// The index of family `name`, added if new.
    fn index_of(&mut self, name: &str, help: Option<(&'a str, &'a str)>) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.list.push(Fam {
                    name: name.to_string(),
                    help,
                    samples: Vec::new(),
                });
                self.index.insert(name.to_string(), self.list.len() - 1);
                self.list.len() - 1
            }
        }
    }

    /// [`Fams::add`] to the family at index `i`.
    fn add_at(&mut self, i: usize, label: &'a str, v: i64) {
        let fam = &mut self.list[i];
        if fam.samples.last().is_none_or(|(l, _)| *l != label) {
            fam.samples.push((label, v));
        }
    }

    /// Add a sample unless this label already has one (the first of two fields that
    /// sanitize to the same name wins).
    fn add(&mut self, name: &str, help: Option<(&'a str, &'a str)>, label: &'a str, v: i64) {
        let i = self.index_of(name, help);
        self.add_at(i, label, v);
    }
}

/// `other`'s values whose name starts with `prefix`.
fn with_prefix<'m, V>(
    map: &'m std::collections::BTreeMap<String, V>,
    prefix: &'m str,
) -> impl Iterator<Item = (&'m String, &'m V)> {
    map.range::<str, _>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .take_while(move |(k, _)| k.starts_with(prefix))
}

fn netdev(e: &mut Enc, s: &Snapshot, l: &Layout) {
    let devs: Vec<_> = parts(s, l)
        .filter_map(|(label, s)| Some((label, s.netdev.ok()?)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    let other = l.other.as_ref();
    if devs.is_empty() && other.is_none() {
        return;
    }
    let mut name = String::new();
    for (col, get) in NETDEV_COLS {
        name.clear();
        let _ = write!(name, "nettune_network_{col}_total");
        let o = other.and_then(|o| o.counters.get(&name));
        if devs.is_empty() && o.is_none() {
            continue;
        }
        e.family(
            &name,
            &format!("Network device statistic {col}."),
            Kind::Counter,
        );
        for (label, d) in &devs {
            for (dev, c) in d.iter() {
                e.sample(&name, &[("device", dev), ("netns", label)], Num::U(get(c)));
            }
        }
        if let Some(v) = o {
            e.sample(
                &name,
                &[("device", "all"), ("netns", OTHER_LABEL)],
                Num::U(*v),
            );
        }
    }
}

fn netstat(e: &mut Enc, s: &Snapshot, l: &Layout) {
    let mut fams = Fams::default();
    let mut name = String::new();
    // (section, field) → family, so that a namespace's field finds its family without
    // building its name (every namespace prints the same fields).
    let mut by_field: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    for (label, s) in parts(s, l) {
        let Some(sections) = s.netstat.ok() else {
            continue;
        };
        for (section, fields) in sections {
            let ids = by_field.entry(section.as_str()).or_default();
            for (field, v) in fields {
                let i = match ids.get(field.as_str()) {
                    Some(&i) => i,
                    None => {
                        metric_name(&mut name, "nettune_netstat_", &[section, field]);
                        let i = fams.index_of(&name, Some((section, field)));
                        ids.insert(field.as_str(), i);
                        i
                    }
                };
                fams.add_at(i, label, *v);
            }
        }
    }
    if let Some(o) = &l.other {
        let prefix = "nettune_netstat_";
        for (k, v) in with_prefix(&o.counters, prefix) {
            fams.add(k, None, OTHER_LABEL, i64::try_from(*v).unwrap_or(i64::MAX));
        }
        for (k, v) in with_prefix(&o.gauges, prefix) {
            fams.add(k, None, OTHER_LABEL, *v);
        }
    }
    for fam in &fams.list {
        let help = match fam.help {
            Some((section, field)) => format!("Statistic {section}{field}."),
            None => format!("Statistic {}.", &fam.name["nettune_netstat_".len()..]),
        };
        e.family(&fam.name, &help, Kind::Untyped);
        for (label, v) in &fam.samples {
            e.sample(&fam.name, &[("netns", label)], Num::I(*v));
        }
    }
}

fn sockstat(e: &mut Enc, s: &Snapshot, l: &Layout, page_size: u64) {
    let mut fams = Fams::default();
    let mut name = String::new();
    for (label, s) in parts(s, l) {
        let Some(protos) = s.sockstat.ok() else {
            continue;
        };
        for (proto, keys) in protos {
            for (key, v) in keys {
                if proto == "sockets" && key == "used" {
                    fams.add("nettune_sockstat_sockets_used", None, label, *v);
                    continue;
                }
                metric_name(&mut name, "nettune_sockstat_", &[proto, key]);
                fams.add(&name, Some((proto, key)), label, *v);
                if key == "mem" && page_size > 0 {
                    name.push_str("_bytes");
                    fams.add(
                        &name,
                        Some((proto, "mem_bytes")),
                        label,
                        v.saturating_mul(page_size as i64),
                    );
                }
            }
        }
    }
    if let Some(o) = &l.other {
        for (k, v) in with_prefix(&o.gauges, "nettune_sockstat_") {
            fams.add(k, None, OTHER_LABEL, *v);
        }
    }
    for fam in &fams.list {
        let help = match fam.help {
            _ if fam.name == "nettune_sockstat_sockets_used" => {
                "Number of IPv4 sockets in use.".to_string()
            }
            Some((proto, key)) => format!("Number of {proto} sockets in state {key}."),
            None => format!(
                "Number of sockets in state {}.",
                &fam.name["nettune_sockstat_".len()..]
            ),
        };
        e.family(&fam.name, &help, Kind::Gauge);
        for (label, v) in &fam.samples {
            e.sample(&fam.name, &[("netns", label)], Num::I(*v));
        }
    }
}

/// The conntrack statistics exposed as `nettune_nf_conntrack_stat_<name>`, with help texts.
pub(crate) const CONNTRACK_STATS: [(&str, &str); 8] = [
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    (
        "ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    ("insert", "Number of entries inserted into the list."),
    (
        "insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    ("drop", "Number of packets dropped due to conntrack failure."),
    (
        "early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// The values of [`CONNTRACK_STATS`], in that order.
pub(crate) fn conntrack_stats(t: &ConntrackCpuStat) -> [(&'static str, Option<u64>); 8] {
    let v = [
        t.found,
        t.invalid,
        t.ignore,
        t.insert,
        t.insert_failed,
        t.drop,
        t.early_drop,
        t.search_restart,
    ];
    std::array::from_fn(|i| (CONNTRACK_STATS[i].0, v[i]))
}

fn conntrack(e: &mut Enc, s: &Snapshot, l: &Layout) {
    let cts: Vec<_> = parts(s, l)
        .filter_map(|(label, s)| {
            let ct = s.conntrack.ok()?;
            Some((label, ct, ct.totals()))
        })
        .collect();
    let other = l.other.as_ref();
    // One gauge family: a sample per namespace that has the value, then `other`'s.
    let family = |e: &mut Enc,
                  name: &str,
                  help: &str,
                  get: &dyn Fn(&Conntrack, Option<&ConntrackCpuStat>) -> Option<u64>,
                  o: Option<u64>| {
        let values: Vec<_> = cts
            .iter()
            .filter_map(|(label, ct, t)| Some((*label, get(ct, t.as_ref())?)))
            .collect();
        if values.is_empty() && o.is_none() {
            return;
        }
        e.family(name, help, Kind::Gauge);
        for (label, v) in values {
            e.sample(name, &[("netns", label)], Num::U(v));
        }
        if let Some(v) = o {
            e.sample(name, &[("netns", OTHER_LABEL)], Num::U(v));
        }
    };
    let name = "nettune_nf_conntrack_entries";
    family(
        e,
        name,
        "Number of currently allocated flow entries for connection tracking.",
        &|ct, _| ct.count,
        other
            .and_then(|o| o.gauges.get(name))
            .map(|v| (*v).max(0) as u64),
    );
    family(
        e,
        "nettune_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
        &|ct, _| ct.max,
        None,
    );
    for (k, (stat, help)) in CONNTRACK_STATS.iter().enumerate() {
        let name = format!("nettune_nf_conntrack_stat_{stat}");
        let o = other.and_then(|o| o.counters.get(&name)).copied();
        family(e, &name, help, &|_, t| conntrack_stats(t?)[k].1, o);
    }
}

/// The top qdisc (egress root, ingress hook) of every device:
/// `nettune_qdisc_{bytes,packets,drops,overlimits,requeues}_total`,
/// `nettune_qdisc_backlog` (bytes) and `nettune_qdisc_current_queue_length` (packets),
/// labelled `device`, `kind`, `netns` as node_exporter's qdisc collector names them.
/// Namespaces folded into `netns="other"` are not summed here.
fn qdisc(e: &mut Enc, s: &Snapshot, l: &Layout) {
    type Get = fn(&crate::collect::qdisc::Qdisc) -> u64;
    let parts: Vec<(&str, Vec<&crate::collect::qdisc::Qdisc>)> = parts(s, l)
        .filter_map(|(label, s)| {
            Some((label, s.qdisc.ok()?.iter().filter(|q| q.is_top()).collect()))
        })
        .filter(|(_, q): &(&str, Vec<_>)| !q.is_empty())
        .collect();
    if parts.is_empty() {
        return;
    }
    let fams: [(&str, &str, Kind, Get); 7] = [
        (
            "nettune_qdisc_bytes_total",
            "Number of bytes sent.",
            Kind::Counter,
            |q| q.bytes,
        ),
        (
            "nettune_qdisc_packets_total",
            "Number of packets sent.",
            Kind::Counter,
            |q| q.packets,
        ),
        (
            "nettune_qdisc_drops_total",
            "Number of packets dropped.",
            Kind::Counter,
            |q| q.drops,
        ),
        (
            "nettune_qdisc_overlimits_total",
            "Number of overlimit packets.",
            Kind::Counter,
            |q| q.overlimits,
        ),
        (
            "nettune_qdisc_requeues_total",
            "Number of packets dequeued, not transmitted, and requeued.",
            Kind::Counter,
            |q| q.requeues,
        ),
        (
            "nettune_qdisc_backlog",
            "Number of bytes currently in queue to be sent.",
            Kind::Gauge,
            |q| q.backlog_bytes,
        ),
        (
            "nettune_qdisc_current_queue_length",
            "Number of packets currently in queue to be sent.",
            Kind::Gauge,
            |q| q.backlog_packets,
        ),
    ];
    for (name, help, kind, get) in fams {
        e.family(name, help, kind);
        for (label, qs) in &parts {
            for q in qs {
                e.sample(
                    name,
                    &[("device", &q.device), ("kind", &q.kind), ("netns", label)],
                    Num::U(get(q)),
                );
            }
        }
    }
}

/// Messages dropped by the netlink sockets that dropped any, summed by protocol:
/// `nettune_netlink_drops_total{protocol,netns}` (a socket that closes takes its drops
/// with it, which Prometheus reads as a counter reset).
fn netlink(e: &mut Enc, s: &Snapshot, l: &Layout) {
    let parts: Vec<(&str, std::collections::BTreeMap<&str, u64>)> = parts(s, l)
        .filter_map(|(label, s)| {
            let n = s.netlink.ok()?;
            let mut by = std::collections::BTreeMap::new();
            for d in &n.dropping {
                *by.entry(crate::collect::netlink::protocol_name(d.protocol))
                    .or_insert(0) += d.drops;
            }
            Some((label, by))
        })
        .collect();
    if parts.is_empty() {
        return;
    }
    let name = "nettune_netlink_drops_total";
    e.family(
        name,
        "Messages dropped by netlink sockets whose receive buffer was full, by protocol.",
        Kind::Counter,
    );
    for (label, by) in &parts {
        for (proto, v) in by {
            e.sample(name, &[("protocol", proto), ("netns", label)], Num::U(*v));
        }
    }
}

fn softirqs(e: &mut Enc, s: &Snapshot) {
    let Some(irqs) = s.softirqs.ok() else { return };
    if irqs.is_empty() {
        return;
    }
    let name = "nettune_softirqs_functions_total";
    e.family(name, "Softirq counts per CPU.", Kind::Counter);
    let mut cpu = String::new();
    for (ty, counts) in irqs {
        for (i, v) in counts.iter().enumerate() {
            cpu.clear();
            let _ = write!(cpu, "{i}");
            e.sample(name, &[("cpu", &cpu), ("type", ty)], Num::U(*v));
        }
    }
}

fn interrupts(e: &mut Enc, s: &Snapshot) {
    let Some(irqs) = s.interrupts.ok() else {
        return;
    };
    let mut lines = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |ifname: &str, dev: Option<&str>| {
        for l in crate::collect::interrupts::irqs_for_device(irqs, ifname, dev) {
            if seen.insert(l.irq.as_str()) {
                lines.push(l);
            }
        }
    };
    match (s.interfaces.ok(), s.netdev.ok()) {
        (Some(ifs), _) => ifs
            .iter()
            .filter(|(n, _)| n.as_str() != "lo")
            .for_each(|(n, i)| add(n, i.device.as_deref())),
        (None, Some(devs)) => devs
            .keys()
            .filter(|n| n.as_str() != "lo")
            .for_each(|n| add(n, None)),
        (None, None) => {}
    }
    if lines.is_empty() {
        return;
    }
    lines.sort_by_key(|l| (l.number(), l.irq.clone()));
    let name = "nettune_interrupts_total";
    e.family(
        name,
        "Interrupt details (network device IRQs only).",
        Kind::Counter,
    );
    let mut cpu = String::new();
    for l in lines {
        for (col, v) in l.counts.iter().enumerate() {
            let Some(c) = irqs.cpu_of_column(col) else {
                continue;
            };
            cpu.clear();
            let _ = write!(cpu, "{c}");
            e.sample(
                name,
                &[
                    ("cpu", &cpu),
                    ("devices", &l.devices),
                    ("info", &l.info),
                    ("type", &l.irq),
                ],
                Num::U(*v),
            );
        }
    }
}

fn ethtool(e: &mut Enc, s: &Snapshot) {
    let Some(all) = s.ethtool.ok() else { return };
    let with_stats: Vec<_> = all
        .iter()
        .filter_map(|(dev, t)| Some((dev, t.stats.ok()?)))
        .filter(|(_, st)| !st.is_empty())
        .collect();
    if with_stats.is_empty() {
        return;
    }
    let name = "nettune_ethtool_stat_total";
    e.family(
        name,
        "Network interface driver statistic (ethtool -S), by device and statistic name.",
        Kind::Counter,
    );
    for (dev, stats) in with_stats {
        let mut seen = BTreeSet::new();
        for (stat, v) in &stats.0 {
            if seen.insert(stat.as_str()) {
                e.sample(name, &[("device", dev), ("stat", stat)], Num::U(*v));
            }
        }
    }
}

fn own(e: &mut Enc, s: &Snapshot, findings: &[Finding], primary: &str) {
    let name = "nettune_finding";
    e.family(
        name,
        "A finding active in the window since the previous collection (always 1).",
        Kind::Gauge,
    );
    let mut seen = BTreeSet::new();
    for f in findings {
        let netns = finding_netns(f).unwrap_or(primary);
        if seen.insert((f.id.as_str(), f.severity, f.scope(), netns)) {
            e.sample(
                name,
                &[
                    ("id", &f.id),
                    ("severity", f.severity.as_str()),
                    ("scope", f.scope()),
                    ("netns", netns),
                ],
                Num::U(1),
            );
        }
    }
    let name = "nettune_build_info";
    e.family(
        name,
        "The version and git revision nettune was built from (constant 1).",
        Kind::Gauge,
    );
    e.sample(
        name,
        &[
            ("version", crate::build_info::VERSION),
            ("revision", crate::build_info::REVISION),
        ],
        Num::U(1),
    );
    if !s.collect_seconds.is_empty() {
        let name = "nettune_collect_duration_seconds";
        e.family(
            name,
            "Time spent reading each source in the last collection.",
            Kind::Gauge,
        );
        for (source, secs) in &s.collect_seconds {
            e.sample(name, &[("source", source)], Num::F(*secs));
        }
    }
    let name = "nettune_source_ok";
    e.family(
        name,
        "Whether a source was read in the last collection (0: unsupported or failed).",
        Kind::Gauge,
    );
    for (source, outcome) in s.sources() {
        e.sample(name, &[("source", source)], Num::U(outcome.is_ok().into()));
    }
}

#[cfg(test)]
mod qdisc_netlink_tests {
    use super::*;
    use crate::collect::netlink::{Netlink, NetlinkSocket};
    use crate::collect::qdisc::Qdisc;
    use crate::collect::Source;

    #[test]
    fn qdisc_and_netlink_families() {
        let mut s = Snapshot::empty(1);
        s.qdisc = Source::Ok(vec![
            Qdisc {
                device: "eth0".into(),
                kind: "mq".into(),
                handle: "0:".into(),
                parent: "root".into(),
                packets: 100,
                drops: 7,
                overlimits: 2,
                ..Qdisc::default()
            },
            Qdisc {
                device: "eth0".into(),
                kind: "fq_codel".into(),
                handle: "0:".into(),
                parent: ":1".into(),
                drops: 7,
                ..Qdisc::default()
            },
        ]);
        s.netlink = Source::Ok(Netlink {
            sockets: 4,
            dropping: vec![NetlinkSocket {
                protocol: 15,
                portid: 1,
                groups: String::new(),
                rmem: 0,
                drops: 9,
                inode: 3,
                owner: Default::default(),
            }],
        });
        let host = HostFacts::default();
        let text = encode(
            &Input {
                snapshot: &s,
                host: &host,
                findings: &[],
            },
            Format::Text,
        );
        for line in [
            "# TYPE nettune_qdisc_drops_total counter",
            "nettune_qdisc_drops_total{device=\"eth0\",kind=\"mq\",netns=\"host\"} 7",
            "nettune_qdisc_overlimits_total{device=\"eth0\",kind=\"mq\",netns=\"host\"} 2",
            "nettune_netlink_drops_total{protocol=\"kobject_uevent\",netns=\"host\"} 9",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line:?} in:\n{text}"
            );
        }
        // Child qdiscs are summed in their root: not exposed on their own.
        assert!(!text.contains("kind=\"fq_codel\""));
    }
}
