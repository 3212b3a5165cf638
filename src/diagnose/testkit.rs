//! The one test fixture builder of the rule tests: [`Fx`] builds a window from two
//! hand-made snapshots by rates (softnet, devices, IRQs, driver statistics, netstat), the
//! snapshot helpers ([`pair`], [`set_sysctls`], [`set_netstat`], [`set_sockstat`]) build
//! them by raw values, and the assertion helpers find findings, changes and evidence.

use super::{Context, Finding, FindingId, Options, RuleFn};
use crate::bpf::drops::DropReasons;
use crate::collect::ethtool::{DriverStats, Ethtool, EthtoolAll};
use crate::collect::host::HostFacts;
use crate::collect::interfaces::{Interface, InterfaceKind, Interfaces, RxQueue};
use crate::collect::interrupts::{Interrupt, Interrupts};
use crate::collect::netdev::{NetDev, NetDevCounters};
use crate::collect::softirqs::CpuTimes;
use crate::collect::softnet::SoftnetCpu;
use crate::collect::Source;
use crate::snapshot::Snapshot;
use crate::window::{NetDevRates, Window};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// Fx: a window built by rates

/// Window length of every fixture (seconds).
pub const SECS: f64 = 10.0;
const T0: u64 = 1_000_000_000;
/// Counters start here in the older snapshot, so deltas are not from zero.
const BASE: u64 = 1000;

fn n(rate: f64) -> u64 {
    BASE + (rate * SECS).round() as u64
}

/// Two snapshots, host facts and options.
pub struct Fx {
    pub older: Snapshot,
    pub newer: Snapshot,
    pub host: HostFacts,
    pub options: Options,
}

fn map_mut<T: Default>(s: &mut Source<T>) -> &mut T {
    if s.ok().is_none() {
        *s = Source::Ok(T::default());
    }
    match s {
        Source::Ok(v) => v,
        _ => unreachable!(),
    }
}

impl Fx {
    /// A host with `cpus` CPUs at HZ=250, nothing collected.
    pub fn new(cpus: u32) -> Fx {
        Fx {
            older: Snapshot::empty(T0),
            newer: Snapshot::empty(T0 + (SECS * 1e9) as u64),
            host: HostFacts {
                hostname: "test".into(),
                kernel: "6.18.0".into(),
                cpus,
                page_size: 4096,
                hz: 250,
                ..HostFacts::default()
            },
            options: Options::default(),
        }
    }

    /// The context of the window, with kernel drop reasons when given.
    pub fn context<'a>(&'a self, drops: Option<&'a DropReasons>) -> Context<'a> {
        Context::new(
            Window::new(&self.older, &self.newer, &self.host),
            &self.newer,
            &self.host,
            &self.options,
            drops,
        )
    }

    /// Run a rule over the window.
    pub fn run(&self, f: RuleFn) -> Vec<Finding> {
        f(&self.context(None))
    }

    /// Run a rule on the newest snapshot only (no window).
    pub fn run_static(&self, f: RuleFn) -> Vec<Finding> {
        let ctx = Context::new(None, &self.newer, &self.host, &self.options, None);
        f(&ctx)
    }

    /// Softnet rows: (cpu, processed/s, dropped/s, time_squeeze/s).
    pub fn softnet(&mut self, rows: &[(u32, f64, f64, f64)]) -> &mut Self {
        let row = |cpu, p: u64, d: u64, s: u64| SoftnetCpu {
            cpu,
            processed: p as u32,
            dropped: d as u32,
            time_squeeze: s as u32,
            cpu_collision: Some(0),
            received_rps: Some(0),
            flow_limit_count: Some(0),
            backlog_len: Some(0),
            input_qlen: None,
            process_qlen: None,
            extra: Vec::new(),
        };
        self.older.softnet = Source::Ok(rows.iter().map(|r| row(r.0, BASE, BASE, BASE)).collect());
        self.newer.softnet = Source::Ok(
            rows.iter()
                .map(|r| row(r.0, n(r.1), n(r.2), n(r.3)))
                .collect(),
        );
        self
    }

    /// Flow-limit drop rate of one CPU (after `softnet`).
    pub fn flow_limit(&mut self, cpu: u32, rate: f64) -> &mut Self {
        for (snap, v) in [(&mut self.older, BASE), (&mut self.newer, n(rate))] {
            if let Source::Ok(rows) = &mut snap.softnet {
                for r in rows.iter_mut().filter(|r| r.cpu == cpu) {
                    r.flow_limit_count = Some(v as u32);
                }
            }
        }
        self
    }

    /// A sysctl in both snapshots.
    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        for snap in [&mut self.older, &mut self.newer] {
            map_mut(&mut snap.sysctl).insert(key.into(), value.into());
        }
        self
    }

    /// Device counters growing at the given rates.
    pub fn netdev(&mut self, dev: &str, r: NetDevRates) -> &mut Self {
        let c = |f: &dyn Fn(f64) -> u64| NetDevCounters {
            rx_bytes: f(r.rx_bytes),
            rx_packets: f(r.rx_packets),
            rx_errs: f(r.rx_errs),
            rx_drop: f(r.rx_drop),
            rx_fifo: f(r.rx_fifo),
            rx_frame: f(r.rx_frame),
            tx_bytes: f(r.tx_bytes),
            tx_packets: f(r.tx_packets),
            tx_errs: f(r.tx_errs),
            tx_drop: f(r.tx_drop),
            ..NetDevCounters::default()
        };
        let old: &mut NetDev = map_mut(&mut self.older.netdev);
        old.insert(dev.into(), c(&|_| BASE));
        let new: &mut NetDev = map_mut(&mut self.newer.netdev);
        new.insert(dev.into(), c(&n));
        self
    }

    /// Interface facts in both snapshots.
    pub fn iface(&mut self, name: &str, i: Interface) -> &mut Self {
        for snap in [&mut self.older, &mut self.newer] {
            let m: &mut Interfaces = map_mut(&mut snap.interfaces);
            m.insert(name.into(), i.clone());
        }
        self
    }

    /// ethtool view in both snapshots.
    pub fn ethtool(&mut self, name: &str, e: Ethtool) -> &mut Self {
        for snap in [&mut self.older, &mut self.newer] {
            let m: &mut EthtoolAll = map_mut(&mut snap.ethtool);
            m.insert(name.into(), e.clone());
        }
        self
    }

    /// A driver statistic growing at `rate` per second (after `ethtool`).
    pub fn driver_stat(&mut self, dev: &str, stat: &str, rate: f64) -> &mut Self {
        for (snap, v) in [(&mut self.older, BASE), (&mut self.newer, n(rate))] {
            let m: &mut EthtoolAll = map_mut(&mut snap.ethtool);
            let e = m.entry(dev.into()).or_default();
            let mut pairs: Vec<(String, u64)> = match &e.stats {
                Source::Ok(s) => s.0.clone(),
                _ => Vec::new(),
            };
            pairs.retain(|(k, _)| k != stat);
            pairs.push((stat.into(), v));
            e.stats = Source::Ok(DriverStats(pairs));
        }
        self
    }

    /// An IRQ line with per-CPU rates (columns = CPUs 0..).
    pub fn irq(&mut self, irq: u32, chip: &str, action: &str, rates: &[f64]) -> &mut Self {
        let cpus: Vec<u32> = (0..rates.len() as u32).collect();
        for (snap, newer) in [(&mut self.older, false), (&mut self.newer, true)] {
            let m: &mut Interrupts = map_mut(&mut snap.interrupts);
            m.cpus = cpus.clone();
            m.lines.retain(|l| l.irq != irq.to_string());
            m.lines.push(Interrupt {
                irq: irq.to_string(),
                counts: rates
                    .iter()
                    .map(|r| if newer { n(*r) } else { BASE })
                    .collect(),
                info: chip.into(),
                devices: format!("1-edge {action}"),
            });
        }
        self
    }

    /// A softirq line with per-CPU rates.
    pub fn softirq(&mut self, name: &str, rates: &[f64]) -> &mut Self {
        map_mut(&mut self.older.softirqs).insert(name.into(), rates.iter().map(|_| BASE).collect());
        map_mut(&mut self.newer.softirqs)
            .insert(name.into(), rates.iter().map(|r| n(*r)).collect());
        self
    }

    /// Per-CPU softirq share of time (0–1), from /proc/stat ticks.
    pub fn softirq_share(&mut self, shares: &[f64]) -> &mut Self {
        let row = |cpu: usize, softirq: u64, idle: u64| CpuTimes {
            cpu: cpu as u32,
            softirq,
            idle,
            ..CpuTimes::default()
        };
        self.older.cpu_times = Source::Ok(
            shares
                .iter()
                .enumerate()
                .map(|(c, _)| row(c, 0, 0))
                .collect(),
        );
        self.newer.cpu_times = Source::Ok(
            shares
                .iter()
                .enumerate()
                .map(|(c, s)| row(c, (s * 1000.0) as u64, ((1.0 - s) * 1000.0) as u64))
                .collect(),
        );
        self
    }

    /// A netstat counter growing at `rate`.
    pub fn netstat(&mut self, section: &str, field: &str, rate: f64) -> &mut Self {
        for (snap, v) in [(&mut self.older, BASE), (&mut self.newer, n(rate))] {
            map_mut(&mut snap.netstat)
                .entry(section.into())
                .or_default()
                .insert(field.into(), v as i64);
        }
        self
    }
}

/// An interface of `kind` with `rx` receive queues, RPS off, RFS 0.
pub fn iface(kind: InterfaceKind, rx: u32) -> Interface {
    Interface {
        kind,
        rx_queues: (0..rx)
            .map(|index| RxQueue {
                index,
                rps_cpus: Some("0".into()),
                rps_cpu_list: Some(Vec::new()),
                rps_flow_cnt: Some(0),
            })
            .collect(),
        ..Interface::default()
    }
}

/// Rates with only rx packets (and 1000-byte packets).
pub fn rx(pps: f64) -> NetDevRates {
    NetDevRates {
        rx_packets: pps,
        rx_bytes: pps * 1000.0,
        ..NetDevRates::default()
    }
}

/// Find the one finding with `id`.
pub fn only(f: &[Finding], id: FindingId) -> &Finding {
    let v: Vec<&Finding> = f.iter().filter(|x| x.id == id).collect();
    assert_eq!(v.len(), 1, "expected one {id}: {f:#?}");
    v[0]
}

/// The proposed value of the change with `target`.
pub fn proposed<'a>(f: &'a Finding, target: &str) -> Option<&'a str> {
    f.changes
        .iter()
        .find(|c| c.target == target)
        .map(|c| c.proposed.as_str())
}

/// The evidence value of (`metric`, `scope`).
pub fn evidence(f: &Finding, metric: &str, scope: &str) -> Option<f64> {
    f.evidence
        .iter()
        .find(|e| e.metric == metric && e.scope == scope)
        .map(|e| e.value)
}

// ---------------------------------------------------------------------------------------
// Snapshots built by raw values

/// Five seconds, in nanoseconds: the window every test uses.
pub const WINDOW_NS: u64 = 5_000_000_000;

/// A host with 4 KiB pages, 2 CPUs and 16 GiB of RAM.
pub fn host() -> HostFacts {
    HostFacts {
        cpus: 2,
        page_size: 4096,
        hz: 250,
        mem_total_bytes: Some(16 << 30),
        ..HostFacts::default()
    }
}

/// Set sysctls on a snapshot (creating the source).
pub fn set_sysctls(s: &mut Snapshot, kv: &[(&str, &str)]) {
    if s.sysctl.ok().is_none() {
        s.sysctl = Source::Ok(BTreeMap::new());
    }
    if let Source::Ok(m) = &mut s.sysctl {
        for (k, v) in kv {
            m.insert((*k).to_string(), (*v).to_string());
        }
    }
}

/// Set netstat counters `(section, field, value)` on a snapshot.
pub fn set_netstat(s: &mut Snapshot, kv: &[(&str, &str, i64)]) {
    if s.netstat.ok().is_none() {
        s.netstat = Source::Ok(BTreeMap::new());
    }
    if let Source::Ok(m) = &mut s.netstat {
        for (sec, f, v) in kv {
            m.entry((*sec).to_string())
                .or_default()
                .insert((*f).to_string(), *v);
        }
    }
}

/// Set sockstat values `(proto, field, value)`.
pub fn set_sockstat(s: &mut Snapshot, kv: &[(&str, &str, i64)]) {
    if s.sockstat.ok().is_none() {
        s.sockstat = Source::Ok(BTreeMap::new());
    }
    if let Source::Ok(m) = &mut s.sockstat {
        for (p, f, v) in kv {
            m.entry((*p).to_string())
                .or_default()
                .insert((*f).to_string(), *v);
        }
    }
}

/// Two snapshots 5 s apart: `older` at t=1 s, `newer` at t=6 s, both with `sysctls`;
/// netstat counters `(section, field, older, newer)`.
pub fn pair(sysctls: &[(&str, &str)], counters: &[(&str, &str, i64, i64)]) -> (Snapshot, Snapshot) {
    let mut a = Snapshot::empty(1_000_000_000);
    let mut b = Snapshot::empty(1_000_000_000 + WINDOW_NS);
    set_sysctls(&mut a, sysctls);
    set_sysctls(&mut b, sysctls);
    for (sec, f, o, n) in counters {
        set_netstat(&mut a, &[(sec, f, *o)]);
        set_netstat(&mut b, &[(sec, f, *n)]);
    }
    (a, b)
}

/// Run `rule` over the window (older, newer).
pub fn run_window(
    rule: fn(&Context) -> Vec<Finding>,
    older: &Snapshot,
    newer: &Snapshot,
    host: &HostFacts,
    options: &Options,
) -> Vec<Finding> {
    let ctx = Context::new(Window::new(older, newer, host), newer, host, options, None);
    rule(&ctx)
}

/// Run `rule` on one snapshot without a window.
pub fn run_static(
    rule: fn(&Context) -> Vec<Finding>,
    newer: &Snapshot,
    host: &HostFacts,
    options: &Options,
) -> Vec<Finding> {
    let ctx = Context::new(None, newer, host, options, None);
    rule(&ctx)
}

/// The proposed value of the change with `target`; panics when absent.
pub fn proposed_value<'a>(f: &'a Finding, target: &str) -> &'a str {
    f.changes
        .iter()
        .find(|c| c.target == target)
        .map(|c| c.proposed.as_str())
        .unwrap_or_else(|| panic!("no change for {target} in {:#?}", f.changes))
}

/// The value of the evidence `metric` at `scope`; panics when absent.
pub fn evidence_value(f: &Finding, metric: &str, scope: &str) -> f64 {
    f.evidence
        .iter()
        .find(|e| e.metric == metric && e.scope == scope)
        .map(|e| e.value)
        .unwrap_or_else(|| panic!("no evidence {metric}@{scope} in {:#?}", f.evidence))
}
