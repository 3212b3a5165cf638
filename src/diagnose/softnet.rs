//! The softnet layer: backlog drops, time squeeze, flow limit, CPU imbalance, RPS.
//!
//! Also holds the CPU-load helpers (where received packets are processed, which CPU is hot)
//! the backlog, squeeze and imbalance rules share. Host and device helpers live in
//! [`super::context`], the RPS/RFS/channel changes in `fixes.rs`.
//!
//! Every rule here needs rates, so each returns nothing without a window.

use super::context::{
    busiest_rx_device, cpu_count, interface, is_loopback, online_cpus, rps_applies,
};
use super::fixes::{below_default, channels_change, rfs_changes, rps_changes, BelowDefault};
use super::ids;
use super::thresholds as t;
use super::util::{fmt_bytes, fmt_rate, fmt_secs, sysctl, sysctl_u64};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::{Change, ChangeKind};
use crate::collect::interfaces::{format_cpu_mask, parse_cpu_mask, Interface, InterfaceKind};
use crate::namespaces::NetnsRef;
use crate::window::{SoftnetRates, Window};

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::SOFTNET_BACKLOG_DROPS,
        run: backlog_drops,
    },
    Rule {
        name: ids::SOFTNET_TIME_SQUEEZE,
        run: time_squeeze,
    },
    Rule {
        name: ids::SOFTNET_FLOW_LIMIT,
        run: flow_limit,
    },
    Rule {
        name: ids::SOFTNET_CPU_IMBALANCE,
        run: cpu_imbalance,
    },
    Rule {
        name: ids::RPS_DISABLED,
        run: rps_disabled,
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers (also used by nic.rs and irq.rs)
// ---------------------------------------------------------------------------------------

/// The memory budget for all softnet backlogs (bytes): a share of RAM when known, else a
/// fixed amount (see the thresholds).
pub(crate) fn backlog_budget_bytes(ctx: &Context) -> u64 {
    match ctx.host.mem_total_bytes {
        Some(m) if m > 0 => (m as f64 * t::BACKLOG_MEMORY_BUDGET_RAM_SHARE) as u64,
        _ => t::BACKLOG_MEMORY_BUDGET_BYTES,
    }
}

/// `cpu0, cpu1`.
fn cpu_scopes(cpus: &[u32]) -> String {
    let v: Vec<String> = cpus.iter().map(|c| format!("cpu{c}")).collect();
    v.join(", ")
}

/// `CPU 1` or `CPUs 0, 1` with the matching verb forms.
fn cpu_subject(cpus: &[u32]) -> String {
    match cpus {
        [one] => format!("CPU {one}"),
        _ => {
            let v: Vec<String> = cpus.iter().map(u32::to_string).collect();
            format!("CPUs {}", v.join(", "))
        }
    }
}

/// Where received packets are processed: per-CPU softnet rates and the busiest CPU.
pub(crate) struct CpuLoad {
    /// Per-CPU softnet rates over the window.
    pub rates: Vec<SoftnetRates>,
    /// All CPUs' processed packets per second.
    pub total_pps: f64,
    /// The CPU processing the most packets.
    pub hot_cpu: Option<u32>,
    /// Its processed packets per second.
    pub hot_pps: f64,
    /// Its share of all processed packets (0–1).
    pub hot_share: f64,
}

impl CpuLoad {
    /// Softnet rates of `cpu`.
    pub fn of(&self, cpu: u32) -> Option<&SoftnetRates> {
        self.rates.iter().find(|r| r.cpu == cpu)
    }
}

/// Per-CPU load over the window.
pub(crate) fn cpu_load(w: &Window) -> CpuLoad {
    let rates = w.softnet();
    let total_pps: f64 = rates.iter().map(|r| r.processed).sum();
    let hot = rates
        .iter()
        .max_by(|a, b| a.processed.total_cmp(&b.processed));
    let (hot_cpu, hot_pps) = match hot {
        Some(r) if r.processed > 0.0 => (Some(r.cpu), r.processed),
        _ => (None, 0.0),
    };
    let hot_share = if total_pps > 0.0 {
        hot_pps / total_pps
    } else {
        0.0
    };
    CpuLoad {
        rates,
        total_pps,
        hot_cpu,
        hot_pps,
        hot_share,
    }
}

/// One CPU takes most of the receive work while there is more than one CPU.
pub(crate) fn concentrated_cpu(ctx: &Context, load: &CpuLoad) -> Option<u32> {
    (cpu_count(ctx) > 1 && load.hot_share >= t::IMBALANCE_SHARE)
        .then_some(load.hot_cpu)
        .flatten()
}

/// Share of `cpu`'s time spent in softirq over the window (0–1), when /proc/stat was read.
pub(crate) fn softirq_share(w: &Window, cpu: u32) -> Option<f64> {
    w.softirq_time_share()
        .into_iter()
        .find(|(c, _)| *c == cpu)
        .map(|(_, s)| s)
}

/// The CPU shows strain: backlog drops, squeezes, or a large softirq share of its time.
pub(crate) fn cpu_strained(w: &Window, load: &CpuLoad, cpu: u32) -> bool {
    let softnet = load
        .of(cpu)
        .is_some_and(|r| r.dropped > 0.0 || r.time_squeeze > t::SQUEEZE_RATE_MIN);
    softnet || softirq_share(w, cpu).is_some_and(|s| s >= t::CPU_SOFTIRQ_BUSY_SHARE)
}

/// Flow-limit changes for `cpu`: add it to `flow_limit_cpu_bitmap`, and raise
/// `flow_limit_table_len` to the kernel default if someone lowered it.
fn flow_limit_changes(ctx: &Context, cpu: u32) -> Vec<Change> {
    let mut out = Vec::new();
    let key = "net.core.flow_limit_cpu_bitmap";
    if let Some(cur) = sysctl(ctx.newer, key) {
        let mut cpus = parse_cpu_mask(cur).unwrap_or_default();
        if !cpus.contains(&cpu) {
            cpus.push(cpu);
            cpus.sort_unstable();
            out.push(Change::sysctl(key, Some(cur), format_cpu_mask(&cpus)));
        }
    }
    let key = "net.core.flow_limit_table_len";
    if let Some(cur) = sysctl_u64(ctx.newer, key) {
        if cur < t::FLOW_LIMIT_TABLE_LEN_DEFAULT {
            out.push(Change::sysctl(
                key,
                sysctl(ctx.newer, key),
                t::FLOW_LIMIT_TABLE_LEN_DEFAULT.to_string(),
            ));
        }
    }
    out
}

/// A device that received packets over the window, in the primary namespace or another.
pub(crate) struct RxDevice<'a> {
    /// The other namespace it is in; `None` for the primary one.
    pub netns: Option<&'a NetnsRef>,
    pub name: String,
    /// Its interface facts, when read.
    pub iface: Option<&'a Interface>,
    /// Received packets per second over the window.
    pub rx_pps: f64,
}

impl RxDevice<'_> {
    /// `eth0`, or `pod-web eth0` in another namespace.
    pub fn label(&self) -> String {
        match self.netns {
            Some(n) => format!("{} {}", n.name, self.name),
            None => self.name.clone(),
        }
    }
}

/// Every device that received packets over the window, in the primary namespace and every
/// other one the snapshot holds, busiest first; `lo` and devices RPS does not apply to
/// (bridges, VLANs, bonds: their packets are processed on the lower device's queue) are
/// left out.
pub(crate) fn rx_devices<'a>(ctx: &Context<'a>, w: &Window<'a>) -> Vec<RxDevice<'a>> {
    let mut out = Vec::new();
    let mut add = |netns: Option<&'a NetnsRef>, w: &Window<'a>| {
        let ifaces = w.newer.interfaces.ok();
        for (name, r) in w.netdev() {
            let iface = ifaces.and_then(|m| m.get(&name));
            if r.rx_packets <= 0.0
                || is_loopback(&name, iface)
                || (ifaces.is_some() && !iface.is_some_and(|i| rps_applies(i.kind)))
            {
                continue;
            }
            out.push(RxDevice {
                netns,
                name,
                iface,
                rx_pps: r.rx_packets,
            });
        }
    };
    add(None, w);
    for (ns, nw) in super::netns::namespace_windows(ctx) {
        add(Some(ns), &nw);
    }
    out.sort_by(|a, b| b.rx_pps.total_cmp(&a.rx_pps));
    out
}

/// Why packets of `d` are processed on `cpu`, if they are: its RPS mask holds the CPU, or
/// (without RPS) its receive IRQ lands there.
fn processed_on(w: &Window, d: &RxDevice, cpu: u32) -> Option<&'static str> {
    let iface = d.iface?;
    let masks: Vec<&Vec<u32>> = iface
        .rx_queues
        .iter()
        .filter_map(|q| q.rps_cpu_list.as_ref())
        .filter(|l| !l.is_empty())
        .collect();
    if !masks.is_empty() {
        return masks
            .iter()
            .any(|l| l.contains(&cpu))
            .then_some("its RPS mask");
    }
    (d.netns.is_none()
        && iface.kind == InterfaceKind::Physical
        && super::irq::busiest_irq_cpu(w, &d.name, iface) == Some(cpu))
    .then_some("its receive IRQ")
}

/// The devices (in any namespace) whose packets `cpus` process, with why, busiest first.
fn attributed<'a>(
    ctx: &Context<'a>,
    w: &Window<'a>,
    cpus: &[u32],
) -> Vec<(RxDevice<'a>, u32, &'static str)> {
    rx_devices(ctx, w)
        .into_iter()
        .filter_map(|d| {
            let (cpu, why) = cpus
                .iter()
                .find_map(|c| processed_on(w, &d, *c).map(|why| (*c, why)))?;
            Some((d, cpu, why))
        })
        .take(t::ATTRIBUTED_DEVICES_MAX)
        .collect()
}

/// `netdev.rx_packets` evidence of the devices `cpus` process packets of.
fn attribution_evidence(ctx: &Context, w: &Window, cpus: &[u32]) -> Vec<Evidence> {
    attributed(ctx, w, cpus)
        .iter()
        .map(|(d, _, _)| Evidence::new("netdev.rx_packets", d.label(), d.rx_pps, "1/s"))
        .collect()
}

/// " cpu0 processes the packets of pod-web eth0 (its RPS mask, 120000 packets/s)."
fn attribution_note(ctx: &Context, w: &Window, cpus: &[u32]) -> String {
    let a = attributed(ctx, w, cpus);
    if a.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = a
        .iter()
        .map(|(d, cpu, why)| {
            format!(
                "cpu{cpu} processes {} ({why}, {} packets/s)",
                d.label(),
                fmt_rate(d.rx_pps)
            )
        })
        .collect();
    format!(" Devices: {}.", parts.join("; "))
}

/// Spreading changes for a load concentrated on `hot`: RPS on the device carrying the
/// traffic (in whichever namespace, the change made there) when steering can help, with a
/// sentence for the risk. A multi-queue NIC whose queue IRQs are visible gets no RPS: RSS
/// already spreads it, and the fix is IRQ affinity (irqbalance), which an advice says
/// instead. Empty when nothing applies (already spread, unknown queues).
fn spread_changes(ctx: &Context, w: &Window, hot: u32) -> (Vec<Change>, Option<String>) {
    let devices = rx_devices(ctx, w);
    let Some(d) = devices.first() else {
        return (Vec::new(), None);
    };
    let Some(iface) = d.iface else {
        return (Vec::new(), None);
    };
    let label = d.label();
    if iface.kind == InterfaceKind::Physical
        && iface.rx_queues.len() > 1
        && !super::irq::queue_irqs(w, &d.name, iface).is_empty()
    {
        let advice = Change::advice(
            format!("RPS on {label}"),
            format!(
                "not proposed: {label} has {} receive queues (RSS) with their own IRQs, so \
                 spreading those IRQs over the CPUs (irq.affinity_concentrated, or irqbalance) \
                 spreads the receive work; RPS on top of RSS would add inter-processor \
                 interrupts without moving the interrupt load off cpu{hot}",
                iface.rx_queues.len()
            ),
        );
        return (vec![advice], None);
    }
    let cpus = online_cpus(ctx);
    let changes: Vec<Change> = rps_changes(&d.name, iface, hot, &cpus)
        .into_iter()
        .map(|c| c.in_netns(d.netns.cloned()))
        .collect();
    if changes.is_empty() {
        return (changes, None);
    }
    let why = if iface.kind == InterfaceKind::Physical && iface.rx_queues.len() > 1 {
        " (its queue IRQs are not visible, so their affinity cannot be set)".to_string()
    } else if iface.kind == InterfaceKind::Physical {
        " (a single-queue NIC: RSS cannot spread it)".to_string()
    } else {
        " (a virtual device: no IRQ to spread)".to_string()
    };
    let risk = format!(
        "RPS on {label}{why}, the device receiving {} packets/s, moves its protocol \
         processing to other CPUs: an inter-processor interrupt per batch, cross-CPU cache \
         traffic, and softirq time on the CPUs in the mask",
        fmt_rate(d.rx_pps)
    );
    (changes, Some(risk))
}

// ---------------------------------------------------------------------------------------
// softnet.backlog_drops
// ---------------------------------------------------------------------------------------

/// The backlog proposal and the arithmetic behind it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BacklogPlan {
    /// Current value (packets); the kernel default when unknown.
    pub current: u64,
    /// Proposed value, when it is above `current`.
    pub proposed: Option<u64>,
    /// The link-speed target, when the speed is known.
    pub speed_target: Option<u64>,
    /// Largest value the memory budget allows on this many CPUs.
    pub budget_cap: u64,
    /// The proposal was cut to `budget_cap`.
    pub budget_limited: bool,
}

/// The link-speed target for `netdev_max_backlog` (packets).
pub(crate) fn backlog_for_speed(gbps: f64) -> u64 {
    t::BACKLOG_BY_LINK_SPEED
        .iter()
        .take_while(|(min, _)| gbps >= *min)
        .last()
        .map(|(_, b)| *b)
        .unwrap_or(t::NETDEV_MAX_BACKLOG_DEFAULT)
}

/// Size the next `netdev_max_backlog` step: ×2 (×4 when at least
/// [`t::BACKLOG_STEEP_DROP_SHARE`] of arrivals were dropped), raised toward the link-speed
/// target but never beyond ×4, and cut to the memory budget. Never lower than current.
pub(crate) fn plan_backlog(
    current: u64,
    drop_share: f64,
    gbps: Option<f64>,
    cpus: u64,
    budget_bytes: u64,
) -> BacklogPlan {
    let base_cur = current.max(1);
    let step = if drop_share >= t::BACKLOG_STEEP_DROP_SHARE {
        t::BACKLOG_STEP_MAX
    } else {
        t::BACKLOG_STEP_MIN
    };
    let mut p = base_cur.saturating_mul(step);
    let speed_target = gbps.map(backlog_for_speed);
    if let Some(tgt) = speed_target {
        if tgt > p {
            p = tgt.min(base_cur.saturating_mul(t::BACKLOG_STEP_MAX));
        }
    }
    let raw_cap = budget_bytes / (t::BACKLOG_BYTES_PER_PACKET * cpus.max(1));
    let budget_cap = if raw_cap >= 1000 {
        raw_cap / 1000 * 1000
    } else {
        raw_cap
    };
    let mut budget_limited = false;
    if p > budget_cap {
        p = budget_cap;
        budget_limited = true;
    }
    // Below the kernel default: restore at least the default, whatever the budget says.
    if current < t::NETDEV_MAX_BACKLOG_DEFAULT && p < t::NETDEV_MAX_BACKLOG_DEFAULT {
        p = t::NETDEV_MAX_BACKLOG_DEFAULT;
        budget_limited = false;
    }
    BacklogPlan {
        current,
        proposed: (p > current).then_some(p),
        speed_target,
        budget_cap,
        budget_limited,
    }
}

/// "memory: up to 4000 x 2 KiB x 2 CPUs = 16 MiB".
fn backlog_memory(backlog: u64, cpus: u64) -> String {
    let bytes = backlog as f64 * t::BACKLOG_BYTES_PER_PACKET as f64 * cpus as f64;
    format!(
        "memory: up to {backlog} x {} x {cpus} CPU{} = {}",
        fmt_bytes(t::BACKLOG_BYTES_PER_PACKET as f64),
        if cpus == 1 { "" } else { "s" },
        fmt_bytes(bytes)
    )
}

fn backlog_drops(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let load = cpu_load(&w);
    let mut dropping: Vec<&SoftnetRates> = load
        .rates
        .iter()
        .filter(|r| r.dropped > t::SOFTNET_DROP_RATE_MIN)
        .collect();
    dropping.sort_by(|a, b| b.dropped.total_cmp(&a.dropped).then(a.cpu.cmp(&b.cpu)));
    let Some(&worst) = dropping.first() else {
        return Vec::new();
    };
    let cpus = cpu_count(ctx);
    let key = "net.core.netdev_max_backlog";
    let current_text = sysctl(ctx.newer, key);
    let known: Option<u64> = current_text.and_then(|v| v.parse().ok());
    // Unknown (not readable here): size the step from the kernel default, but never
    // present that default as a measured value.
    let current = known.unwrap_or(t::NETDEV_MAX_BACKLOG_DEFAULT);
    let current_shown = known.map_or_else(
        || "unknown, kernel default 1000".to_string(),
        |v| v.to_string(),
    );
    let share = |r: &SoftnetRates| r.dropped / (r.processed + r.dropped).max(f64::MIN_POSITIVE);
    let worst_share = dropping.iter().map(|r| share(r)).fold(0.0, f64::max);
    let link = ctx.link();
    let speed = link.known().map(|gbps| {
        let src = link
            .iface()
            .map_or_else(|| "--link-speed".to_string(), |i| format!("{i} link"));
        (gbps, src)
    });
    let budget = backlog_budget_bytes(ctx);
    let plan = plan_backlog(
        current,
        worst_share,
        speed.as_ref().map(|s| s.0),
        cpus,
        budget,
    );

    let mut evidence = Vec::new();
    for r in &dropping {
        evidence.push(Evidence::new(
            "softnet.dropped",
            format!("cpu{}", r.cpu),
            r.dropped,
            "1/s",
        ));
    }
    for r in &dropping {
        evidence.push(Evidence::new(
            "softnet.processed",
            format!("cpu{}", r.cpu),
            r.processed,
            "1/s",
        ));
    }
    if let Some(v) = known {
        evidence.push(Evidence::new(
            "sysctl.net.core.netdev_max_backlog",
            "host",
            v as f64,
            "packets",
        ));
    }

    let mut changes = Vec::new();
    let mut risks = Vec::new();
    let shown = plan.proposed.unwrap_or(current);
    let drain = dropping
        .first()
        .filter(|r| r.processed > 0.0)
        .map(|r| {
            format!(
                " (a full backlog of {shown} packets takes {} to drain at cpu{}'s {} packets/s)",
                fmt_secs(shown as f64 / r.processed),
                r.cpu,
                fmt_rate(r.processed)
            )
        })
        .unwrap_or_default();
    match plan.proposed {
        Some(p) => {
            changes.push(Change::sysctl(key, current_text, p.to_string()));
            risks.push(format!(
                "{}; more queueing latency under overload{drain}",
                backlog_memory(p, cpus)
            ));
        }
        None => {
            changes.push(Change::advice(
                key,
                format!(
                    "already {current}, at or above the memory budget of {} packets per CPU \
                     ({} for all backlogs); spread the load over more CPUs or reduce the \
                     per-packet work instead",
                    plan.budget_cap,
                    fmt_bytes(budget as f64)
                ),
            ));
            risks.push(format!("{}{drain}", backlog_memory(current, cpus)));
        }
    }

    // One CPU takes (nearly) all the traffic: a bigger queue only postpones the drop.
    let mut spread_note = String::new();
    if let Some(hot) = concentrated_cpu(ctx, &load) {
        if dropping.iter().any(|r| r.cpu == hot) {
            let (rps, risk) = spread_changes(ctx, &w, hot);
            let had_rps = rps.iter().any(|c| c.kind == ChangeKind::Rps);
            let multi_queue = rps
                .iter()
                .any(|c| c.kind == ChangeKind::Advice && c.target.starts_with("RPS on"));
            changes.extend(rps);
            changes.extend(flow_limit_changes(ctx, hot));
            if let Some(r) = risk {
                risks.push(r);
            }
            spread_note = format!(
                " cpu{hot} processes {:.0} % of all received packets, so a longer queue only \
                 delays the drop; {}",
                load.hot_share * 100.0,
                if had_rps {
                    "RPS spreads the protocol work to the other CPUs and flow limit keeps one \
                     large flow from filling the backlog."
                } else if multi_queue {
                    "flow limit keeps one large flow from filling the backlog; the NIC already \
                     has several receive queues, so spread their IRQs over the CPUs \
                     (irq.affinity_concentrated) rather than adding RPS."
                } else {
                    "flow limit keeps one large flow from filling the backlog; spread the \
                     traffic with RSS or RPS (see softnet.cpu_imbalance)."
                }
            );
        }
    }

    let dcpus: Vec<u32> = dropping.iter().map(|r| r.cpu).collect();
    evidence.extend(attribution_evidence(ctx, &w, &dcpus));
    let low_note = below_default(ctx, "net.core.netdev_max_backlog")
        .map(|b| format!(" {}: restore at least the default.", b.sentence()))
        .unwrap_or_default();
    let title = if dcpus.len() == 1 {
        format!(
            "{} drops packets because its softnet backlog is full",
            cpu_subject(&dcpus)
        )
    } else {
        format!(
            "{} drop packets because their softnet backlogs are full",
            cpu_subject(&dcpus)
        )
    };
    let sizing = match (&speed, plan.speed_target) {
        (Some((g, src)), Some(tgt)) => {
            format!(" At {g} Gbit/s ({src}) the sizing table suggests {tgt} packets;")
        }
        _ => " The link speed is unknown (pass --link-speed to size by it);".to_string(),
    };
    let step = match plan.proposed {
        Some(p)
            if current < t::NETDEV_MAX_BACKLOG_DEFAULT && p == t::NETDEV_MAX_BACKLOG_DEFAULT =>
        {
            format!(" the kernel default {p} is proposed.")
        }
        Some(p) => format!(
            " one step of x{:.0} to {p} is proposed{}.",
            p as f64 / current.max(1) as f64,
            if plan.budget_limited {
                " (cut to the memory budget)"
            } else {
                ""
            }
        ),
        None => " the current value already reaches the memory budget.".to_string(),
    };
    let detail = format!(
        "Packets handed to a CPU by netif_rx, RPS, veth or loopback wait in that CPU's softnet \
         backlog (net.core.netdev_max_backlog = {current_shown} packets) until NET_RX processes \
         them; when it is full they are dropped before any protocol sees them. cpu{} dropped \
         {} packets/s ({:.2} % of its arrivals).{low_note}{sizing}{step}{spread_note}{}",
        worst.cpu,
        fmt_rate(worst.dropped),
        share(worst) * 100.0,
        attribution_note(ctx, &w, &dcpus),
    );
    vec![Finding {
        netns: None,
        id: ids::SOFTNET_BACKLOG_DROPS.into(),
        severity: Severity::Critical,
        title,
        detail,
        evidence,
        changes,
        risk: risks.join("; "),
        verify: format!(
            "softnet dropped rate on {} returns to 0",
            cpu_scopes(&dcpus)
        ),
    }]
}

// ---------------------------------------------------------------------------------------
// softnet.time_squeeze
// ---------------------------------------------------------------------------------------

/// The default `netdev_budget_usecs` for a tick rate: 2 jiffies (2×10⁶/HZ µs).
pub(crate) fn default_budget_usecs(hz: u32) -> Option<u64> {
    (hz > 0).then(|| 2_000_000 / u64::from(hz))
}

/// " netdev_budget = 4 is 75x below the kernel default 300: every NET_RX run stops after
/// that many packets whatever the spread; restore at least the default."
fn low_budget_note(low: &[BelowDefault]) -> String {
    if low.is_empty() {
        return String::new();
    }
    let s: Vec<String> = low.iter().map(BelowDefault::sentence).collect();
    format!(
        " {}: every NET_RX run stops that early whatever the spread, so restoring at least \
         the default comes first.",
        s.join(" and ")
    )
}

/// The risk of restoring budgets to their defaults.
fn restore_risk(low: &[BelowDefault]) -> String {
    let keys: Vec<&str> = low.iter().map(|b| b.key).collect();
    format!(
        "restoring {} to the kernel default lets NET_RX run as long as on an untuned kernel \
         (tasks on the CPU wait up to the default budget per cycle)",
        keys.join(" and ")
    )
}

fn time_squeeze(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let load = cpu_load(&w);
    let mut squeezing: Vec<&SoftnetRates> = load
        .rates
        .iter()
        .filter(|r| {
            r.time_squeeze > t::SQUEEZE_RATE_MIN
                && r.processed >= t::SQUEEZE_MIN_PPS
                && r.time_squeeze / r.processed >= t::SQUEEZE_PER_PACKET_MIN
        })
        .collect();
    squeezing.sort_by(|a, b| b.time_squeeze.total_cmp(&a.time_squeeze));
    let Some(&worst) = squeezing.first() else {
        return Vec::new();
    };
    let scpus: Vec<u32> = squeezing.iter().map(|r| r.cpu).collect();
    let mut evidence: Vec<Evidence> = squeezing
        .iter()
        .map(|r| {
            Evidence::new(
                "softnet.time_squeeze",
                format!("cpu{}", r.cpu),
                r.time_squeeze,
                "1/s",
            )
        })
        .collect();
    evidence.extend(squeezing.iter().map(|r| {
        Evidence::new(
            "softnet.processed",
            format!("cpu{}", r.cpu),
            r.processed,
            "1/s",
        )
    }));

    let verify = format!(
        "softnet time_squeeze rate on {} falls below {}/s",
        cpu_scopes(&scpus),
        t::SQUEEZE_RATE_MIN
    );
    let low: Vec<BelowDefault> = ["net.core.netdev_budget", "net.core.netdev_budget_usecs"]
        .into_iter()
        .filter_map(|k| below_default(ctx, k))
        .collect();
    evidence.extend(attribution_evidence(ctx, &w, &scpus));
    let hot = concentrated_cpu(ctx, &load).filter(|h| scpus.contains(h));
    if let Some(hot) = hot {
        evidence.push(Evidence::new(
            "softnet.processed_share",
            format!("cpu{hot}"),
            load.hot_share * 100.0,
            "%",
        ));
        let (mut changes, rps_risk) = spread_changes(ctx, &w, hot);
        changes.insert(
            0,
            Change::advice(
                "spread NET_RX over more CPUs",
                if low.is_empty() {
                    "RPS on the receiving device (rps.disabled), more RSS channels \
                     (nic.rss_queues) or IRQ affinity (irq.affinity_concentrated); not a larger \
                     netdev_budget"
                } else {
                    "RPS on the receiving device (rps.disabled), more RSS channels \
                     (nic.rss_queues) or IRQ affinity (irq.affinity_concentrated), after \
                     restoring the budget to the kernel default"
                },
            ),
        );
        // A budget set below the kernel default is the cause whatever the spread: restore it.
        for b in &low {
            // netdev_budget_usecs: the default of this tick rate (2 jiffies), at least.
            let at_least = if b.key.ends_with("usecs") {
                default_budget_usecs(ctx.host.hz).unwrap_or(0)
            } else {
                0
            };
            changes.insert(0, b.change(at_least));
            evidence.push(b.evidence());
        }
        let low_note = low_budget_note(&low);
        let mut risk = rps_risk.unwrap_or_else(|| "advice only; nothing is changed".to_string());
        if !low.is_empty() {
            risk = format!("{}; {risk}", restore_risk(&low));
        }
        return vec![Finding {
            netns: None,
            id: ids::SOFTNET_TIME_SQUEEZE.into(),
            severity: Severity::Warning,
            title: match low.first() {
                Some(b) => format!(
                    "CPU {hot} runs out of NET_RX budget: {} (and it processes {:.0} % of received packets alone)",
                    b.sentence(),
                    load.hot_share * 100.0
                ),
                None => format!(
                    "CPU {hot} runs out of NET_RX budget because it processes {:.0} % of received packets alone",
                    load.hot_share * 100.0
                ),
            },
            detail: format!(
                "cpu{hot} ended NET_RX processing with packets left {} times/s while handling \
                 {} of {} packets/s.{low_note} {}{}",
                fmt_rate(load.of(hot).map(|r| r.time_squeeze).unwrap_or(0.0)),
                fmt_rate(load.hot_pps),
                fmt_rate(load.total_pps),
                if low.is_empty() {
                    "A larger budget would only let this one CPU stay longer in softirq; the \
                     work has to be spread over the other CPUs."
                } else {
                    "Beyond the default, a larger budget would only let this one CPU stay \
                     longer in softirq; spread the work over the other CPUs as well."
                },
                attribution_note(ctx, &w, &scpus),
            ),
            evidence,
            changes,
            risk,
            verify,
        }];
    }

    let mut changes = Vec::new();
    let bkey = "net.core.netdev_budget";
    let budget = sysctl_u64(ctx.newer, bkey).unwrap_or(t::NETDEV_BUDGET_DEFAULT);
    let mut new_budget = budget.saturating_mul(2).min(t::NETDEV_BUDGET_CEILING);
    if budget < t::NETDEV_BUDGET_DEFAULT {
        // Below the kernel default: restore at least the default.
        new_budget = new_budget.max(t::NETDEV_BUDGET_DEFAULT);
    }
    if new_budget > budget {
        changes.push(Change::sysctl(
            bkey,
            sysctl(ctx.newer, bkey),
            new_budget.to_string(),
        ));
    }
    let ukey = "net.core.netdev_budget_usecs";
    let default_usecs = default_budget_usecs(ctx.host.hz);
    let usecs = sysctl_u64(ctx.newer, ukey).or(default_usecs);
    let mut risk = String::new();
    if let Some(usecs) = usecs {
        let mut new_usecs = usecs.saturating_mul(2).min(t::NETDEV_BUDGET_USECS_CEILING);
        if usecs < t::NETDEV_BUDGET_USECS_DEFAULT_MIN {
            new_usecs = new_usecs
                .max(default_usecs.unwrap_or(t::NETDEV_BUDGET_USECS_DEFAULT_MIN))
                .max(t::NETDEV_BUDGET_USECS_DEFAULT_MIN);
        }
        if new_usecs > usecs {
            changes.push(Change::sysctl(
                ukey,
                sysctl(ctx.newer, ukey),
                new_usecs.to_string(),
            ));
            risk = format!(
                "NET_RX softirq may hold a CPU for up to {new_usecs} µs per cycle (was {usecs} µs) \
                 before yielding: tasks on {} can wait up to {} longer",
                cpu_scopes(&scpus),
                fmt_secs((new_usecs - usecs) as f64 / 1e6)
            );
        }
    }
    if changes.is_empty() {
        changes.push(Change::advice(
            "NET_RX capacity",
            format!(
                "netdev_budget {budget} and netdev_budget_usecs are at nettune's ceilings; \
                 spread NET_RX over more CPUs (RSS channels, RPS) or reduce per-packet work"
            ),
        ));
        risk = "advice only; nothing is changed".to_string();
    } else if risk.is_empty() {
        risk = format!(
            "NET_RX processes up to {new_budget} packets per cycle before yielding; tasks on {} \
             wait longer under load",
            cpu_scopes(&scpus)
        );
    }
    for b in &low {
        evidence.push(b.evidence());
    }
    let hz_note = match default_usecs {
        Some(d) => format!(" (default 2x10^6/HZ = {d} µs at HZ={})", ctx.host.hz),
        None => String::new(),
    };
    vec![Finding {
        netns: None,
        id: ids::SOFTNET_TIME_SQUEEZE.into(),
        severity: Severity::Warning,
        title: format!(
            "{} {} NET_RX processing with packets left (budget {budget} packets{} exhausted){}",
            cpu_subject(&scpus),
            if scpus.len() == 1 { "stops" } else { "stop" },
            usecs.map(|u| format!(" / {u} µs")).unwrap_or_default(),
            low.first()
                .map(|b| format!(": {}", b.sentence()))
                .unwrap_or_default()
        ),
        detail: format!(
            "Each NET_RX softirq run processes at most net.core.netdev_budget packets or runs \
             net.core.netdev_budget_usecs{hz_note}, then yields with work left (a time squeeze); \
             the rest waits for the next run or ksoftirqd and queues fill up. cpu{} squeezed {} \
             times/s at {} packets/s, and the receive load is spread over the CPUs, so a larger \
             budget is the fix.{}{}",
            worst.cpu,
            fmt_rate(worst.time_squeeze),
            fmt_rate(worst.processed),
            low_budget_note(&low),
            attribution_note(ctx, &w, &scpus),
        ),
        evidence,
        changes,
        risk,
        verify,
    }]
}

// ---------------------------------------------------------------------------------------
// softnet.flow_limit
// ---------------------------------------------------------------------------------------

fn flow_limit(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let rates = w.softnet();
    let mut limited: Vec<(u32, f64)> = rates
        .iter()
        .filter_map(|r| Some((r.cpu, r.flow_limit_count?)))
        .filter(|(_, v)| *v > t::FLOW_LIMIT_RATE_MIN)
        .collect();
    limited.sort_by(|a, b| b.1.total_cmp(&a.1));
    let Some(&(cpu, rate)) = limited.first() else {
        return Vec::new();
    };
    let cpus: Vec<u32> = limited.iter().map(|(c, _)| *c).collect();
    let evidence = limited
        .iter()
        .map(|(c, v)| Evidence::new("softnet.flow_limit_count", format!("cpu{c}"), *v, "1/s"))
        .collect();
    vec![Finding {
        netns: None,
        id: ids::SOFTNET_FLOW_LIMIT.into(),
        severity: Severity::Warning,
        title: format!(
            "{} {} packets of a dominant flow because its softnet backlog is more than half full",
            cpu_subject(&cpus),
            if cpus.len() == 1 { "drops" } else { "drop" }
        ),
        detail: format!(
            "Flow limit (net.core.flow_limit_cpu_bitmap) drops packets of the flows that hold \
             most of a CPU's backlog once it is over half full, to keep one elephant flow from \
             starving the others. cpu{cpu} dropped {} packets/s this way: a single large flow \
             arrives faster than one CPU processes it. RPS and RFS cannot split one flow; \
             spread it as several flows (parallel connections, RSS on a multi-queue NIC) or \
             make the receiver cheaper per packet.",
            fmt_rate(rate)
        ),
        evidence,
        changes: vec![Change::advice(
            "elephant flow",
            "spread the traffic over more flows and CPUs (RSS channels, RPS for the other \
             flows); raising netdev_max_backlog would only let the large flow take more of \
             the queue and delay the small ones",
        )],
        risk: "advice only; nothing is changed".into(),
        verify: format!(
            "softnet flow_limit_count rate on {} returns to 0",
            cpu_scopes(&cpus)
        ),
    }]
}

// ---------------------------------------------------------------------------------------
// softnet.cpu_imbalance
// ---------------------------------------------------------------------------------------

fn cpu_imbalance(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let load = cpu_load(&w);
    // Loopback packets are processed on the sending CPU: their placement follows the
    // application, not the NIC, so they do not count toward an imbalance to fix.
    let lo_pps: f64 = w
        .netdev()
        .iter()
        .filter(|(name, _)| is_loopback(name, interface(ctx, name)))
        .map(|(_, r)| r.rx_packets)
        .sum();
    if load.total_pps - lo_pps < t::IMBALANCE_MIN_PPS {
        return Vec::new();
    }
    let Some(hot) = concentrated_cpu(ctx, &load) else {
        return Vec::new();
    };
    let strained = cpu_strained(&w, &load, hot);
    let severity = if strained || load.total_pps >= t::IMBALANCE_WARN_PPS {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut evidence = vec![
        Evidence::new(
            "softnet.processed_share",
            format!("cpu{hot}"),
            load.hot_share * 100.0,
            "%",
        ),
        Evidence::new(
            "softnet.processed",
            format!("cpu{hot}"),
            load.hot_pps,
            "1/s",
        ),
        Evidence::new("softnet.processed", "host", load.total_pps, "1/s"),
    ];
    if let Some(net_rx) = w.softirq_rates("NET_RX") {
        for (cpu, r) in net_rx.iter().enumerate() {
            evidence.push(Evidence::new(
                "softirqs.NET_RX",
                format!("cpu{cpu}"),
                *r,
                "1/s",
            ));
        }
    }
    if let Some(s) = softirq_share(&w, hot) {
        evidence.push(Evidence::new(
            "cpu.softirq_share",
            format!("cpu{hot}"),
            s * 100.0,
            "%",
        ));
    }
    let (mut changes, rps_risk) = spread_changes(ctx, &w, hot);
    let dev = busiest_rx_device(ctx, &w).map(|d| d.0);
    if let Some(ch) = dev.as_deref().and_then(|d| channels_change(ctx, d)) {
        changes.push(ch);
    }
    let has_irqs = dev
        .as_deref()
        .and_then(|d| interface(ctx, d))
        .is_none_or(|i| i.kind == InterfaceKind::Physical);
    if has_irqs {
        changes.push(Change::advice(
            "IRQ affinity",
            format!(
                "place the receive IRQs of {} on different CPUs (see \
                 irq.affinity_concentrated); check that irqbalance is not pinning them all to \
                 cpu{hot}",
                dev.as_deref().unwrap_or("the busy device")
            ),
        ));
    }
    let mut risk = vec![rps_risk.unwrap_or_default()];
    if changes.iter().any(|c| c.kind == ChangeKind::Channels) {
        risk.push(
            "changing channels re-creates the NIC queues (a short receive pause, a link reset \
             on some drivers) and allocates one ring per queue"
                .to_string(),
        );
    }
    risk.retain(|r| !r.is_empty());
    if risk.is_empty() {
        risk.push("advice only; nothing is changed".into());
    }
    vec![Finding {
        netns: None,
        id: ids::SOFTNET_CPU_IMBALANCE.into(),
        severity,
        title: format!(
            "CPU {hot} processes {:.0} % of received packets while the other CPUs idle",
            load.hot_share * 100.0
        ),
        detail: format!(
            "cpu{hot} handles {} of {} received packets/s{}. One CPU's NET_RX softirq caps the \
             host's receive rate and adds latency for everything scheduled there; receive side \
             scaling (more NIC queues), RPS for single-queue and virtual devices, and spread \
             IRQ affinity put the other CPUs to work.",
            fmt_rate(load.hot_pps),
            fmt_rate(load.total_pps),
            if strained {
                " and is already under strain (drops, squeezes or a large softirq share)"
            } else {
                ""
            }
        ),
        evidence,
        changes,
        risk: risk.join("; "),
        verify: format!(
            "cpu{hot}'s share of softnet processed packets falls below {:.0} %",
            t::IMBALANCE_SHARE * 100.0
        ),
    }]
}

// ---------------------------------------------------------------------------------------
// rps.disabled
// ---------------------------------------------------------------------------------------

fn rps_disabled(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(ifaces) = ctx.newer.interfaces.ok() else {
        return Vec::new();
    };
    let cpus = online_cpus(ctx);
    if cpus.len() < 2 {
        return Vec::new();
    }
    let rates = w.netdev();
    let load = cpu_load(&w);
    let mut out = Vec::new();
    for (name, iface) in ifaces {
        if !rps_applies(iface.kind) || iface.rx_queues.len() != 1 {
            continue;
        }
        let Some(q) = iface.rx_queues.first() else {
            continue;
        };
        if !q.rps_cpu_list.as_ref().is_some_and(|l| l.is_empty()) {
            continue;
        }
        let Some(r) = rates.get(name) else {
            continue;
        };
        if r.rx_packets < t::RPS_MIN_PPS {
            continue;
        }
        // The CPU taking the device's interrupt (NICs), else the busiest CPU.
        // Only NICs have IRQs: a veth named like a host NIC (a pod's `eth0`) must not
        // borrow the host NIC's interrupts from the merged view.
        let irq_cpu = (iface.kind == InterfaceKind::Physical)
            .then(|| super::irq::busiest_irq_cpu(&w, name, iface))
            .flatten();
        let Some(hot) = irq_cpu.or(load.hot_cpu) else {
            continue;
        };
        let mut changes = rps_changes(name, iface, hot, &cpus);
        if changes.is_empty() {
            continue;
        }
        changes.extend(rfs_changes(ctx, name, iface));
        let strained = cpu_strained(&w, &load, hot);
        let severity = if strained || r.rx_packets >= t::IMBALANCE_WARN_PPS {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mask = changes
            .first()
            .map(|c| c.proposed.clone())
            .unwrap_or_default();
        let mut evidence = vec![
            Evidence::new("netdev.rx_packets", name.clone(), r.rx_packets, "1/s"),
            Evidence::new("queues.rx_queues", name.clone(), 1.0, "queues"),
        ];
        if let Some(h) = load.of(hot) {
            evidence.push(Evidence::new(
                "softnet.processed",
                format!("cpu{hot}"),
                h.processed,
                "1/s",
            ));
        }
        let flow_table_kib = t::RPS_SOCK_FLOW_ENTRIES * 4 / 1024;
        let dev_table_kib = t::RPS_SOCK_FLOW_ENTRIES * 8 / 1024;
        out.push(Finding {
            netns: None,
            id: ids::RPS_DISABLED.into(),
            severity,
            title: format!(
                "{name} receives on a single queue with RPS off, so cpu{hot} does all its receive processing"
            ),
            detail: format!(
                "{name} has one receive queue and {} CPUs; without RPS every packet it receives \
                 ({} packets/s) is processed by the protocol stack on cpu{hot}{}. RPS hashes \
                 flows to the CPUs of a mask (here {mask}: the CPUs other than cpu{hot}, {}), \
                 and RFS steers each flow to the CPU where its application reads.",
                cpus.len(),
                fmt_rate(r.rx_packets),
                if strained { ", which is already under strain" } else { "" },
                if irq_cpu.is_some() {
                    "which takes the device's interrupt"
                } else {
                    "where the packets arrive"
                }
            ),
            evidence,
            changes,
            risk: format!(
                "an inter-processor interrupt per batch and cross-CPU cache traffic; the CPUs in \
                 mask {mask} spend softirq time on {name}'s packets; RFS tables: {} entries x 4 B \
                 = {flow_table_kib} KiB global + {dev_table_kib} KiB per queue",
                t::RPS_SOCK_FLOW_ENTRIES
            ),
            verify: format!(
                "softnet processed and received_rps rates rise on the CPUs of mask {mask}; \
                 cpu{hot}'s share falls"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::interfaces::InterfaceKind as K;
    use crate::diagnose::testkit::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn backlog_drops_fires_critical_with_per_cpu_evidence_and_doubled_backlog() {
        let mut fx = Fx::new(2);
        // cpu1: 50k pps processed, 126 drops/s (0.25 % share -> x2 step).
        fx.softnet(&[(0, 40_000.0, 0.0, 0.0), (1, 50_000.0, 126.0, 0.0)])
            .sysctl("net.core.netdev_max_backlog", "1000");
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(
            f.title,
            "CPU 1 drops packets because its softnet backlog is full"
        );
        assert!(close(
            evidence(f, "softnet.dropped", "cpu1").unwrap(),
            126.0
        ));
        assert_eq!(f.evidence[0].scope, "cpu1");
        assert_eq!(proposed(f, "net.core.netdev_max_backlog"), Some("2000"));
        assert_eq!(f.changes[0].current.as_deref(), Some("1000"));
        assert!(
            f.risk
                .starts_with("memory: up to 2000 x 2 KiB x 2 CPUs = 7.8 MiB; more queueing latency under overload (a full backlog of 2000 packets takes 40.0 ms to drain at cpu1's 50000 packets/s)"),
            "{}",
            f.risk
        );
        assert_eq!(f.verify, "softnet dropped rate on cpu1 returns to 0");
        // load is balanced: no RPS proposed
        assert!(f.changes.iter().all(|c| c.kind == ChangeKind::Sysctl));
    }

    #[test]
    fn backlog_drops_heavy_share_steps_x4_and_matches_contract_arithmetic() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 30_000.0, 0.0, 0.0), (1, 20_000.0, 1260.4, 0.0)])
            .sysctl("net.core.netdev_max_backlog", "1000");
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(proposed(f, "net.core.netdev_max_backlog"), Some("4000"));
        assert!(f.risk.starts_with("memory: up to 4000 x 2 KiB x 2 CPUs = 16 MiB; more queueing latency under overload"), "{}", f.risk);
        assert!(close(
            evidence(f, "softnet.dropped", "cpu1").unwrap(),
            1260.4
        ));
    }

    #[test]
    fn backlog_sizing_follows_link_speed_and_memory_budget() {
        const G: u64 = 1 << 30;
        assert_eq!(backlog_for_speed(1.0), 1000);
        assert_eq!(backlog_for_speed(2.5), 5000);
        assert_eq!(backlog_for_speed(10.0), 30000);
        assert_eq!(backlog_for_speed(25.0), 30000);
        assert_eq!(backlog_for_speed(40.0), 60000);
        assert_eq!(backlog_for_speed(100.0), 100000);
        // 10 Gbit/s wants 30000 but one step is at most x4.
        let p = plan_backlog(1000, 0.001, Some(10.0), 8, G);
        assert_eq!(p.proposed, Some(4000));
        assert_eq!(p.speed_target, Some(30000));
        // from 10000 at 10G: x2 = 20000 < 30000, raised to target 30000 (x3)
        assert_eq!(
            plan_backlog(10000, 0.0, Some(10.0), 8, G).proposed,
            Some(30000)
        );
        // memory budget: 1 GiB / (2 KiB x 256 CPUs) = 2048 -> cut to 2000
        let p = plan_backlog(1000, 0.5, None, 256, G);
        assert_eq!(p.budget_cap, 2000);
        assert_eq!(p.proposed, Some(2000));
        assert!(p.budget_limited);
        // already at the budget: never lower, nothing proposed
        assert_eq!(plan_backlog(5000, 0.5, None, 256, G).proposed, None);
    }

    #[test]
    fn backlog_budget_is_one_percent_of_ram() {
        let mut fx = Fx::new(4);
        fx.host.mem_total_bytes = Some(8 << 30);
        // 1 % of 8 GiB / (2 KiB x 4 CPUs) = 10485 -> 10000; x4 of 5000 would be 20000
        fx.softnet(&[
            (0, 1000.0, 500.0, 0.0),
            (1, 1000.0, 0.0, 0.0),
            (2, 1000.0, 0.0, 0.0),
            (3, 1000.0, 0.0, 0.0),
        ])
        .sysctl("net.core.netdev_max_backlog", "5000");
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(proposed(f, "net.core.netdev_max_backlog"), Some("10000"));
        assert!(
            f.detail.contains("cut to the memory budget"),
            "{}",
            f.detail
        );
    }

    #[test]
    fn backlog_drops_at_budget_gives_advice_not_a_lower_value() {
        let mut fx = Fx::new(256);
        let rows: Vec<(u32, f64, f64, f64)> = (0..256)
            .map(|c| (c, 1000.0, if c == 3 { 5.0 } else { 0.0 }, 0.0))
            .collect();
        fx.softnet(&rows)
            .sysctl("net.core.netdev_max_backlog", "5000");
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(f.changes.len(), 1);
        assert_eq!(f.changes[0].kind, ChangeKind::Advice);
        assert_eq!(f.changes[0].target, "net.core.netdev_max_backlog");
    }

    #[test]
    fn backlog_drops_on_one_hot_cpu_also_proposes_rps_and_flow_limit() {
        let mut fx = Fx::new(2);
        // veth0 traffic: everything lands on cpu1.
        fx.softnet(&[(0, 100.0, 0.0, 0.0), (1, 200_000.0, 20_000.0, 0.0)])
            .sysctl("net.core.netdev_max_backlog", "1000")
            .sysctl("net.core.flow_limit_cpu_bitmap", "0")
            .sysctl("net.core.flow_limit_table_len", "4096")
            .netdev("veth0", rx(200_000.0))
            .netdev("lo", rx(300_000.0))
            .iface("veth0", iface(K::Veth, 1))
            .iface("lo", iface(K::Loopback, 1));
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(proposed(f, "net.core.netdev_max_backlog"), Some("4000"));
        // RPS on veth0 (not lo) toward the other CPU (mask 1 = cpu0)
        assert_eq!(proposed(f, "veth0 rx-0"), Some("1"));
        assert!(proposed(f, "lo rx-0").is_none());
        // flow limit on cpu1 (mask 2)
        assert_eq!(proposed(f, "net.core.flow_limit_cpu_bitmap"), Some("2"));
        assert!(proposed(f, "net.core.flow_limit_table_len").is_none());
        assert!(f.risk.contains("RPS"), "{}", f.risk);
    }

    #[test]
    fn backlog_drops_with_rps_steering_to_the_hot_cpu_spreads_over_all() {
        let mut fx = Fx::new(2);
        let mut v = iface(K::Veth, 1);
        v.rx_queues[0].rps_cpus = Some("2".into());
        v.rx_queues[0].rps_cpu_list = Some(vec![1]);
        fx.softnet(&[(0, 100.0, 0.0, 0.0), (1, 200_000.0, 20_000.0, 0.0)])
            .netdev("veth1", rx(200_000.0))
            .iface("veth1", v);
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        let rps = f
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::Rps)
            .unwrap();
        assert_eq!(rps.target, "veth1 rx-0");
        assert_eq!(rps.current.as_deref(), Some("2"));
        assert_eq!(rps.proposed, "3");
        // sysctl unread: default assumed, current unknown
        let b = f
            .changes
            .iter()
            .find(|c| c.target == "net.core.netdev_max_backlog")
            .unwrap();
        assert_eq!(b.current, None);
        assert_eq!(b.proposed, "4000");
    }

    #[test]
    fn backlog_drops_quiet_when_no_drops_or_no_window() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 50_000.0, 0.0, 0.0), (1, 50_000.0, 0.0, 0.0)]);
        assert!(fx.run(backlog_drops).is_empty());
        fx.softnet(&[(0, 50_000.0, 10.0, 0.0), (1, 50_000.0, 0.0, 0.0)]);
        assert!(fx.run_static(backlog_drops).is_empty());
    }

    #[test]
    fn backlog_drops_uses_link_speed_of_the_busiest_nic() {
        let mut fx = Fx::new(4);
        let mut eth = iface(K::Physical, 4);
        eth.speed_mbps = Some(10_000);
        fx.softnet(&[
            (0, 20_000.0, 1.0, 0.0),
            (1, 20_000.0, 0.0, 0.0),
            (2, 20_000.0, 0.0, 0.0),
            (3, 20_000.0, 0.0, 0.0),
        ])
        .sysctl("net.core.netdev_max_backlog", "10000")
        .netdev("eth0", rx(80_000.0))
        .iface("eth0", eth);
        let f = fx.run(backlog_drops);
        let f = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(proposed(f, "net.core.netdev_max_backlog"), Some("30000"));
        assert!(f.detail.contains("10 Gbit/s (eth0 link)"), "{}", f.detail);
        assert!(
            f.risk.contains("30000 x 2 KiB x 4 CPUs = 234 MiB"),
            "{}",
            f.risk
        );
    }

    #[test]
    fn time_squeeze_balanced_load_raises_budget_and_usecs() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 150_000.0, 0.0, 40.0), (1, 140_000.0, 0.0, 2.0)])
            .sysctl("net.core.netdev_budget", "300")
            .sysctl("net.core.netdev_budget_usecs", "8000");
        let f = fx.run(time_squeeze);
        let f = only(&f, ids::SOFTNET_TIME_SQUEEZE);
        assert_eq!(f.severity, Severity::Warning);
        assert!(close(
            evidence(f, "softnet.time_squeeze", "cpu0").unwrap(),
            40.0
        ));
        assert_eq!(proposed(f, "net.core.netdev_budget"), Some("600"));
        assert_eq!(proposed(f, "net.core.netdev_budget_usecs"), Some("16000"));
        // cpu1: 2 squeezes/s at 140k pps is 1.4e-5 per packet: below the fraction
        assert!(evidence(f, "softnet.time_squeeze", "cpu1").is_none());
        assert!(f.risk.contains("16000 µs"), "{}", f.risk);
    }

    #[test]
    fn time_squeeze_default_usecs_from_hz_when_sysctl_unknown() {
        let mut fx = Fx::new(2);
        fx.host.hz = 1000;
        fx.softnet(&[(0, 100_000.0, 0.0, 50.0), (1, 100_000.0, 0.0, 50.0)]);
        let f = fx.run(time_squeeze);
        let f = only(&f, ids::SOFTNET_TIME_SQUEEZE);
        assert_eq!(proposed(f, "net.core.netdev_budget_usecs"), Some("4000"));
        assert_eq!(proposed(f, "net.core.netdev_budget"), Some("600"));
        assert!(f.detail.contains("2000 µs at HZ=1000"), "{}", f.detail);
    }

    #[test]
    fn time_squeeze_on_a_hot_cpu_advises_spreading_not_budget() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 1000.0, 0.0, 0.0), (1, 300_000.0, 0.0, 100.0)])
            .sysctl("net.core.netdev_budget", "300")
            .netdev("eth0", rx(300_000.0))
            .iface("eth0", iface(K::Physical, 1));
        let f = fx.run(time_squeeze);
        let f = only(&f, ids::SOFTNET_TIME_SQUEEZE);
        assert!(proposed(f, "net.core.netdev_budget").is_none());
        assert_eq!(f.changes[0].kind, ChangeKind::Advice);
        assert_eq!(proposed(f, "eth0 rx-0"), Some("1"));
        assert!(
            f.title.starts_with("CPU 1 runs out of NET_RX budget"),
            "{}",
            f.title
        );
    }

    #[test]
    fn time_squeeze_quiet_on_a_trickle() {
        let mut fx = Fx::new(2);
        // 3 squeezes/s but only 200 pps: starved vCPU, not budget
        fx.softnet(&[(0, 200.0, 0.0, 3.0), (1, 200.0, 0.0, 0.0)]);
        assert!(fx.run(time_squeeze).is_empty());
        // 0.5 squeezes/s at high rate
        fx.softnet(&[(0, 100_000.0, 0.0, 0.5), (1, 100_000.0, 0.0, 0.0)]);
        assert!(fx.run(time_squeeze).is_empty());
    }

    #[test]
    fn time_squeeze_never_lowers_large_budgets() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 100_000.0, 0.0, 50.0), (1, 100_000.0, 0.0, 50.0)])
            .sysctl("net.core.netdev_budget", "5000")
            .sysctl("net.core.netdev_budget_usecs", "50000");
        let f = fx.run(time_squeeze);
        let f = only(&f, ids::SOFTNET_TIME_SQUEEZE);
        assert!(f.changes.iter().all(|c| c.kind == ChangeKind::Advice));
    }

    #[test]
    fn flow_limit_fires_with_advice() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 100_000.0, 0.0, 0.0), (1, 1000.0, 0.0, 0.0)])
            .flow_limit(0, 42.0);
        let f = fx.run(flow_limit);
        let f = only(&f, ids::SOFTNET_FLOW_LIMIT);
        assert_eq!(f.severity, Severity::Warning);
        assert!(close(
            evidence(f, "softnet.flow_limit_count", "cpu0").unwrap(),
            42.0
        ));
        assert_eq!(f.changes[0].kind, ChangeKind::Advice);
        assert!(f.detail.contains("elephant"));
        assert_eq!(
            f.verify,
            "softnet flow_limit_count rate on cpu0 returns to 0"
        );
    }

    #[test]
    fn flow_limit_quiet_without_rise() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 100_000.0, 0.0, 0.0), (1, 1000.0, 0.0, 0.0)])
            .flow_limit(0, 0.0);
        assert!(fx.run(flow_limit).is_empty());
    }

    #[test]
    fn cpu_imbalance_fires_with_rps_for_single_queue_device() {
        let mut fx = Fx::new(4);
        fx.softnet(&[
            (0, 150_000.0, 0.0, 0.0),
            (1, 1000.0, 0.0, 0.0),
            (2, 1000.0, 0.0, 0.0),
            (3, 1000.0, 0.0, 0.0),
        ])
        .softirq("NET_RX", &[9000.0, 10.0, 10.0, 10.0])
        .netdev("eth0", rx(150_000.0))
        .iface("eth0", iface(K::Physical, 1));
        let f = fx.run(cpu_imbalance);
        let f = only(&f, ids::SOFTNET_CPU_IMBALANCE);
        assert_eq!(f.severity, Severity::Warning);
        let share = evidence(f, "softnet.processed_share", "cpu0").unwrap();
        assert!(close(share, 150_000.0 / 153_000.0 * 100.0), "{share}");
        assert!(close(
            evidence(f, "softirqs.NET_RX", "cpu0").unwrap(),
            9000.0
        ));
        // mask of cpus 1-3 = e
        assert_eq!(proposed(f, "eth0 rx-0"), Some("e"));
    }

    #[test]
    fn cpu_imbalance_moderate_rate_without_strain_is_info() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 20_000.0, 0.0, 0.0), (1, 100.0, 0.0, 0.0)])
            .softirq_share(&[0.05, 0.0]);
        let f = fx.run(cpu_imbalance);
        assert_eq!(
            only(&f, ids::SOFTNET_CPU_IMBALANCE).severity,
            Severity::Info
        );
        // strained (softirq share 40 %) -> warning
        fx.softirq_share(&[0.4, 0.0]);
        let f = fx.run(cpu_imbalance);
        assert_eq!(
            only(&f, ids::SOFTNET_CPU_IMBALANCE).severity,
            Severity::Warning
        );
    }

    #[test]
    fn cpu_imbalance_ignores_loopback_traffic() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 243_000.0, 0.0, 0.0), (1, 10.0, 0.0, 0.0)])
            .netdev("lo", rx(243_000.0))
            .iface("lo", iface(K::Loopback, 1))
            .netdev("eth0", rx(10.0))
            .iface("eth0", iface(K::Physical, 1));
        assert!(fx.run(cpu_imbalance).is_empty());
    }

    #[test]
    fn cpu_imbalance_quiet_when_balanced_or_low_rate_or_one_cpu() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 60_000.0, 0.0, 0.0), (1, 40_000.0, 0.0, 0.0)]);
        assert!(fx.run(cpu_imbalance).is_empty());
        fx.softnet(&[(0, 5_000.0, 0.0, 0.0), (1, 10.0, 0.0, 0.0)]);
        assert!(fx.run(cpu_imbalance).is_empty());
        let mut one = Fx::new(1);
        one.softnet(&[(0, 500_000.0, 0.0, 0.0)]);
        assert!(one.run(cpu_imbalance).is_empty());
    }

    #[test]
    fn rps_disabled_fires_with_mask_of_other_cpus_and_rfs() {
        let mut fx = Fx::new(4);
        fx.softnet(&[
            (0, 1000.0, 0.0, 0.0),
            (1, 250_000.0, 0.0, 0.0),
            (2, 1000.0, 0.0, 0.0),
            (3, 1000.0, 0.0, 0.0),
        ])
        .sysctl("net.core.rps_sock_flow_entries", "0")
        .netdev("eth0", rx(250_000.0))
        .iface("eth0", iface(K::Physical, 1));
        let f = fx.run(rps_disabled);
        let f = only(&f, ids::RPS_DISABLED);
        assert_eq!(f.severity, Severity::Warning);
        assert!(close(
            evidence(f, "netdev.rx_packets", "eth0").unwrap(),
            250_000.0
        ));
        // hot cpu1 excluded: cpus 0,2,3 = 0b1101 = d
        assert_eq!(proposed(f, "eth0 rx-0"), Some("d"));
        assert_eq!(proposed(f, "net.core.rps_sock_flow_entries"), Some("32768"));
        let rfs = f
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::Rfs)
            .unwrap();
        assert_eq!(rfs.proposed, "32768");
    }

    #[test]
    fn rps_disabled_uses_the_irq_cpu_for_a_nic() {
        let mut fx = Fx::new(2);
        let mut eth = iface(K::Physical, 1);
        eth.device = Some("virtio2".into());
        fx.softnet(&[(0, 15_000.0, 0.0, 0.0), (1, 15_000.0, 0.0, 0.0)])
            .netdev("eth0", rx(30_000.0))
            .iface("eth0", eth)
            .irq(
                38,
                "PCI-MSIX-0000:00:03.0",
                "virtio2-input.0",
                &[0.0, 3000.0],
            );
        let f = fx.run(rps_disabled);
        let f = only(&f, ids::RPS_DISABLED);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(proposed(f, "eth0 rx-0"), Some("1"));
    }

    #[test]
    fn rps_disabled_quiet_when_idle_set_multiqueue_or_loopback() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 100.0, 0.0, 0.0), (1, 100.0, 0.0, 0.0)])
            .netdev("eth0", rx(200.0))
            .iface("eth0", iface(K::Physical, 1))
            .netdev("lo", rx(500_000.0))
            .iface("lo", iface(K::Loopback, 1))
            .netdev("eth1", rx(500_000.0))
            .iface("eth1", iface(K::Physical, 4));
        assert!(fx.run(rps_disabled).is_empty());
        let mut set = iface(K::Physical, 1);
        set.rx_queues[0].rps_cpus = Some("3".into());
        set.rx_queues[0].rps_cpu_list = Some(vec![0, 1]);
        fx.netdev("eth0", rx(500_000.0)).iface("eth0", set);
        assert!(fx.run(rps_disabled).is_empty());
        assert!(fx.run_static(rps_disabled).is_empty());
    }

    #[test]
    fn idle_default_host_has_no_softnet_findings() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 30.0, 0.0, 0.0), (1, 300.0, 0.0, 0.0)])
            .sysctl("net.core.netdev_max_backlog", "1000")
            .sysctl("net.core.rps_sock_flow_entries", "0")
            .netdev("eth0", rx(300.0))
            .iface("eth0", iface(K::Physical, 1));
        for r in RULES {
            assert!(fx.run(r.run).is_empty(), "{}", r.name);
        }
    }

    mod prop {
        use crate::collect::ethtool::{Channels, Coalesce, Ethtool, Rings};
        use crate::collect::interfaces::InterfaceKind as K;
        use crate::collect::Source;
        use crate::diagnose::testkit::*;
        use crate::diagnose::{irq, nic, softnet, Severity};
        use crate::window::NetDevRates;
        use proptest::prelude::*;

        fn all_rules(fx: &Fx) {
            for r in softnet::RULES.iter().chain(nic::RULES).chain(irq::RULES) {
                for f in fx.run(r.run).iter().chain(&fx.run_static(r.run)) {
                    assert!(!f.title.is_empty() && !f.verify.is_empty(), "{}", r.name);
                    assert!(f.severity >= Severity::Info);
                }
            }
        }

        proptest! {
            /// Any counters, rates, sysctl text and ethtool values: no rule panics.
            #[test]
            fn rules_never_panic(
                cpus in 0u32..6,
                rows in proptest::collection::vec((0u32..8, 0.0f64..1e7, 0.0f64..1e6, 0.0f64..1e4), 0..6),
                dev in proptest::collection::vec((0u32..3, 0.0f64..1e7, 0.0f64..1e4, 0.0f64..1e4), 0..3),
                ring in (proptest::option::of(0u32..9000), proptest::option::of(0u32..9000)),
                ch in (proptest::option::of(0u32..70), proptest::option::of(0u32..70)),
                usecs in proptest::option::of(0u32..500),
                backlog in "[0-9a-z ]{0,8}",
                irq_rates in proptest::collection::vec(0.0f64..1e5, 0..4),
                intent in proptest::sample::select(crate::diagnose::Intent::ALL.to_vec()),
                numa in any::<bool>(),
            ) {
                let mut fx = Fx::new(cpus);
                fx.options.intent = intent;
                fx.options.link_speed_gbps = Some(f64::from(cpus) * 7.5);
                if numa {
                    fx.host.numa_nodes = vec![
                        crate::collect::host::NumaNode { id: 0, cpus: vec![0, 1] },
                        crate::collect::host::NumaNode { id: 1, cpus: vec![2, 3] },
                    ];
                    fx.host.mem_total_bytes = Some(u64::from(cpus) << 28);
                }
                fx.softnet(&rows)
                    .sysctl("net.core.netdev_max_backlog", &backlog)
                    .sysctl("net.core.netdev_budget", &backlog)
                    .sysctl("net.core.flow_limit_cpu_bitmap", &backlog)
                    .sysctl("net.ipv4.ip_forward", "1");
                if let Some((cpu, ..)) = rows.first() {
                    fx.flow_limit(*cpu, 3.0);
                }
                for (i, (kind, pps, drop, fifo)) in dev.iter().enumerate() {
                    let name = format!("eth{i}");
                    let queues = (*kind % 3) + (i as u32);
                    let kind = [K::Physical, K::Veth, K::Loopback][*kind as usize % 3];
                    let mut it = iface(kind, queues);
                    it.device = Some(format!("virtio{i}"));
                    it.numa_node = Some(i as u32);
                    it.speed_mbps = Some(i as u32 * 10_000);
                    fx.iface(&name, it);
                    fx.netdev(&name, NetDevRates {
                        rx_packets: *pps, rx_bytes: pps * 1500.0, tx_bytes: pps * 1500.0,
                        rx_drop: *drop, rx_fifo: *fifo, rx_errs: *fifo, rx_frame: drop / 2.0,
                        ..NetDevRates::default()
                    });
                    fx.ethtool(&name, Ethtool {
                        rings: Source::Ok(Rings { rx: ring.0, rx_max: ring.1, ..Rings::default() }),
                        channels: Source::Ok(Channels { combined: ch.0, combined_max: ch.1, ..Channels::default() }),
                        coalesce: Source::Ok(Coalesce { rx_usecs: usecs, rx_max_frames: usecs, ..Coalesce::default() }),
                        ..Ethtool::default()
                    });
                    fx.driver_stat(&name, "rx_missed_errors", *fifo);
                    fx.irq(30 + i as u32, "PCI-MSIX", &format!("virtio{i}-input.0"), &irq_rates);
                    fx.irq(40 + i as u32, "PCI-MSIX", &format!("{name}-TxRx-1"), &irq_rates);
                }
                fx.softirq("NET_RX", &irq_rates).netstat("Tcp", "OutSegs", 5000.0);
                all_rules(&fx);
            }
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_bytes(16_384_000.0), "16 MiB");
        assert_eq!(fmt_bytes(8.0 * 1024.0 * 1024.0), "8 MiB");
        assert_eq!(fmt_bytes(1.5 * 1024.0 * 1024.0), "1.5 MiB");
        assert_eq!(fmt_bytes(2048.0), "2 KiB");
        assert_eq!(fmt_secs(0.016), "16.0 ms");
        assert_eq!(fmt_rate(1260.44), "1260");
        assert_eq!(fmt_rate(126.04), "126.0");
    }
}

/// Namespace attribution, RPS targeting and budgets below the kernel default.
#[cfg(test)]
mod namespace_tests {
    use super::*;
    use crate::collect::interfaces::InterfaceKind as K;
    use crate::collect::netdev::NetDevCounters;
    use crate::collect::Source;
    use crate::diagnose::diagnose;
    use crate::diagnose::testkit::*;
    use crate::snapshot::{NetnsSnapshot, Snapshot};

    /// A namespace `name` whose device `dev` (a single-queue veth, RPS off) received
    /// `pps` packets/s over the fixture's window.
    fn pod(fx: &mut Fx, name: &str, inode: u64, dev: &str, pps: f64) {
        let netns = NetnsRef {
            inode,
            name: name.into(),
            path: format!("/run/netns/{name}").into(),
        };
        for (snap, packets) in [
            (&mut fx.older, 1000u64),
            (&mut fx.newer, 1000 + (pps * SECS) as u64),
        ] {
            let mut s = Snapshot::empty(snap.taken_at_ns);
            s.netdev = Source::Ok(
                [(
                    dev.to_string(),
                    NetDevCounters {
                        rx_packets: packets,
                        ..NetDevCounters::default()
                    },
                )]
                .into_iter()
                .collect(),
            );
            s.interfaces = Source::Ok([(dev.to_string(), iface(K::Veth, 1))].into_iter().collect());
            snap.namespaces.push(NetnsSnapshot {
                netns: netns.clone(),
                snapshot: s,
            });
        }
    }

    /// The case: `netdev_budget = 4` under a flood into a pod. The squeeze names
    /// the budget and restores at least the default 300, keeps the spread-first advice, and
    /// the RPS proposal targets the pod's receiving veth (in the pod), never the idle
    /// host-side peer.
    #[test]
    fn budget_below_default_is_restored_and_rps_targets_the_receiving_device() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 1000.0, 0.0, 0.0), (1, 300_000.0, 0.0, 5000.0)])
            .sysctl("net.core.netdev_budget", "4")
            .sysctl("net.core.netdev_budget_usecs", "8000")
            .netdev("veth-web", rx(2.0))
            .iface("veth-web", iface(K::Veth, 1));
        pod(&mut fx, "pod-web", 4026532300, "eth0", 300_000.0);
        let f = diagnose(&fx.context(None));
        let sq = only(&f, ids::SOFTNET_TIME_SQUEEZE);
        let budget: u64 = proposed(sq, "net.core.netdev_budget")
            .unwrap_or_else(|| panic!("{:#?}", sq.changes))
            .parse()
            .unwrap();
        assert!(budget >= 300, "{budget}");
        assert!(
            sq.title
                .contains("net.core.netdev_budget = 4 is 75x below the kernel default 300"),
            "{}",
            sq.title
        );
        assert!(sq
            .changes
            .iter()
            .any(|c| c.kind == ChangeKind::Advice && c.target.starts_with("spread NET_RX")));
        let rps: Vec<&Change> = sq
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Rps)
            .collect();
        assert_eq!(rps.len(), 1, "{:#?}", sq.changes);
        assert_eq!(rps[0].target, "eth0 rx-0");
        assert_eq!(rps[0].netns.as_ref().unwrap().name, "pod-web");
        assert!(rps[0]
            .command()
            .starts_with("ip netns exec pod-web sh -c 'echo 1 > /sys/class/net/eth0/"));
        assert!(sq.risk.contains("RPS on pod-web eth0"), "{}", sq.risk);
        // No finding proposes anything on the idle host-side peer.
        assert!(f
            .iter()
            .flat_map(|x| &x.changes)
            .all(|c| !c.target.starts_with("veth-web")));
        assert_eq!(
            evidence(sq, "sysctl.net.core.netdev_budget", "host"),
            Some(4.0)
        );

        // Spread load: the budget step itself restores at least the default.
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 150_000.0, 0.0, 500.0), (1, 150_000.0, 0.0, 500.0)])
            .sysctl("net.core.netdev_budget", "4")
            .sysctl("net.core.netdev_budget_usecs", "100");
        let f = fx.run(time_squeeze);
        let sq = only(&f, ids::SOFTNET_TIME_SQUEEZE);
        assert_eq!(proposed(sq, "net.core.netdev_budget"), Some("300"));
        // HZ=250: the default is 8000 µs.
        assert_eq!(proposed(sq, "net.core.netdev_budget_usecs"), Some("8000"));
        assert!(
            sq.detail.contains("below the kernel default"),
            "{}",
            sq.detail
        );
    }

    /// Backlog drops on a CPU that a pod's veth steers its packets to (RPS mask = that CPU)
    /// are attributed to that device; a backlog set below the default is restored.
    #[test]
    fn backlog_drops_are_attributed_to_the_pod_device_steered_to_the_cpu() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 40_000.0, 0.0, 0.0), (1, 50_000.0, 126.0, 0.0)])
            .sysctl("net.core.netdev_max_backlog", "10");
        pod(&mut fx, "pod-udp", 4026532301, "eth0", 50_000.0);
        for snap in [&mut fx.older, &mut fx.newer] {
            if let Source::Ok(m) = &mut snap.namespaces[0].snapshot.interfaces {
                let q = &mut m.get_mut("eth0").unwrap().rx_queues[0];
                q.rps_cpus = Some("2".into());
                q.rps_cpu_list = Some(vec![1]);
            }
        }
        let f = fx.run(backlog_drops);
        let bd = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert_eq!(
            evidence(bd, "netdev.rx_packets", "pod-udp eth0"),
            Some(50_000.0)
        );
        assert!(
            bd.detail
                .contains("cpu1 processes pod-udp eth0 (its RPS mask"),
            "{}",
            bd.detail
        );
        let p: u64 = proposed(bd, "net.core.netdev_max_backlog")
            .unwrap()
            .parse()
            .unwrap();
        assert!(p >= 1000, "{p}");
        assert!(bd
            .detail
            .contains("net.core.netdev_max_backlog = 10 is 100x below"));
    }

    /// The 16-CPU host with 8 NIC queues whose IRQs are all pinned to CPU 0: the
    /// fix is IRQ affinity, and no finding proposes RPS on top of RSS (an advice says why).
    #[test]
    fn eight_queues_pinned_to_one_cpu_get_affinity_not_rps() {
        let mut fx = Fx::new(16);
        let mut rows = vec![(0, 400_000.0, 500.0, 3000.0)];
        rows.extend((1..16).map(|c| (c, 10.0, 0.0, 0.0)));
        fx.softnet(&rows)
            .sysctl("net.core.netdev_max_backlog", "1000");
        let mut eth = iface(K::Physical, 8);
        eth.device = Some("0000:3b:00.0".into());
        fx.iface("eth0", eth).netdev("eth0", rx(400_000.0));
        let mut per_cpu = vec![0.0; 16];
        per_cpu[0] = 5000.0;
        for q in 0..8u32 {
            fx.irq(
                40 + q,
                "PCI-MSIX-0000:3b:00.0",
                &format!("eth0-TxRx-{q}"),
                &per_cpu,
            );
        }
        fx.newer.irq_affinity = Source::Ok((40..48).map(|i| (i, vec![0])).collect());
        fx.older.irq_affinity = fx.newer.irq_affinity.clone();
        let f = diagnose(&fx.context(None));
        let aff = only(&f, ids::IRQ_AFFINITY_CONCENTRATED);
        assert!(aff
            .changes
            .iter()
            .any(|c| c.kind == ChangeKind::IrqAffinity));
        let rps: Vec<(&str, &str)> = f
            .iter()
            .flat_map(|x| x.changes.iter().map(move |c| (x.id.as_str(), c)))
            .filter(|(_, c)| c.kind == ChangeKind::Rps || c.kind == ChangeKind::Rfs)
            .map(|(id, c)| (id, c.target.as_str()))
            .collect();
        assert!(rps.is_empty(), "RPS proposed: {rps:?}");
        let why = f
            .iter()
            .flat_map(|x| &x.changes)
            .find(|c| c.target == "RPS on eth0")
            .unwrap_or_else(|| panic!("{f:#?}"));
        assert!(
            why.proposed.contains("8 receive queues"),
            "{}",
            why.proposed
        );
        let bd = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert!(
            bd.detail
                .contains("spread their IRQs over the CPUs (irq.affinity_concentrated)"),
            "{}",
            bd.detail
        );
        // Drops on cpu0 are attributed to the NIC whose IRQs land there.
        assert_eq!(evidence(bd, "netdev.rx_packets", "eth0"), Some(400_000.0));
    }
}
