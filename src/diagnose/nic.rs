//! NIC layer: rings, drops and errors, RSS channels, coalescing, offloads.
//!
//! Ring, channel, coalescing and offload rules only look at physical devices whose driver
//! reports the ethtool part they need (a part that is unsupported is skipped quietly); veth
//! and `lo` never get ring advice.
//!
//! `lo` is left out of `nic.rx_drops`: loopback hands every packet to the softnet backlog of
//! the sending CPU, and a full backlog counts the drop in `lo`'s rx_dropped too, so those
//! drops are backlog drops and `softnet.backlog_drops` reports them with per-CPU evidence.

use super::context::{cpu_count, interface, is_loopback, Intent};
use super::fixes::{channels_raise, ChannelsRaise};
use super::ids;
use super::thresholds as t;
use super::util::{fmt_bytes, fmt_rate, fmt_secs, sysctl};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::{Change, ChangeKind};
use crate::collect::ethtool::{Ethtool, Rings};
use crate::collect::interfaces::{Interface, InterfaceKind};
use crate::window::{NetDevRates, Window};

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::NIC_RX_RING_SMALL,
        run: rx_ring_small,
    },
    Rule {
        name: ids::NIC_RX_DROPS,
        run: rx_drops,
    },
    Rule {
        name: ids::NIC_ERRORS,
        run: errors,
    },
    Rule {
        name: ids::NIC_RSS_QUEUES,
        run: rss_queues,
    },
    Rule {
        name: ids::NIC_COALESCE,
        run: coalesce,
    },
    Rule {
        name: ids::NIC_OFFLOAD_DISABLED,
        run: offload_disabled,
    },
];

/// The ethtool view of `dev` in the newest snapshot.
fn ethtool<'a>(ctx: &Context<'a>, dev: &str) -> Option<&'a Ethtool> {
    ctx.newer.ethtool.ok()?.get(dev)
}

/// Physical devices of the newest snapshot.
fn physical<'a>(ctx: &Context<'a>) -> impl Iterator<Item = (&'a String, &'a Interface)> {
    ctx.newer
        .interfaces
        .ok()
        .into_iter()
        .flatten()
        .filter(|(_, i)| i.kind == InterfaceKind::Physical)
}

/// A statistic about the transmit side only.
fn is_tx_stat(lower: &str) -> bool {
    lower.contains("tx") && !lower.contains("rx")
}

/// Rising driver statistics whose name matches one of `patterns` (receive side only unless
/// `tx_too`).
fn rising(stats: &[(String, f64)], patterns: &[&str], tx_too: bool) -> Vec<(String, f64)> {
    stats
        .iter()
        .filter(|(name, r)| {
            let l = name.to_ascii_lowercase();
            *r > 0.0 && (tx_too || !is_tx_stat(&l)) && patterns.iter().any(|p| l.contains(p))
        })
        .cloned()
        .collect()
}

/// Receive queues of a device: ethtool channels, else sysfs queues (at least 1).
fn rx_queue_count(iface: &Interface, et: Option<&Ethtool>) -> u64 {
    let ch = et.and_then(|e| e.channels.ok()).and_then(|c| {
        let n = c.combined.unwrap_or(0) + c.rx.unwrap_or(0);
        (n > 0).then_some(n)
    });
    u64::from(ch.unwrap_or(iface.rx_queues.len() as u32)).max(1)
}

/// What the ring rule sees on one device.
struct RingState {
    rx: u32,
    rx_max: u32,
    /// Rising counters that are ring drops.
    drops: Vec<(String, f64)>,
    /// Rising counters that are ring pressure without a drop.
    pressure: Vec<(String, f64)>,
    queues: u64,
    pps_per_queue: f64,
}

fn ring_state(w: &Window, dev: &str, iface: &Interface, et: &Ethtool) -> Option<RingState> {
    let Rings {
        rx: Some(rx),
        rx_max: Some(rx_max),
        ..
    } = et.rings.ok()?.clone()
    else {
        return None;
    };
    let rates = w.netdev();
    let r = rates.get(dev);
    let stats = w.driver_stat_rates(dev);
    let mut drops = rising(&stats, t::RING_DROP_STATS, false);
    if let Some(fifo) = r.map(|r| r.rx_fifo).filter(|f| *f > 0.0) {
        drops.insert(0, ("netdev.rx_fifo".to_string(), fifo));
    }
    let pressure = rising(&stats, t::RING_PRESSURE_STATS, false);
    let queues = rx_queue_count(iface, Some(et));
    let pps_per_queue = r.map(|r| r.rx_packets).unwrap_or(0.0) / queues as f64;
    Some(RingState {
        rx,
        rx_max,
        drops,
        pressure,
        queues,
        pps_per_queue,
    })
}

/// True when `nic.rx_ring_small` fires for this state.
fn ring_small_fires(s: &RingState) -> bool {
    s.rx < s.rx_max
        && (!s.drops.is_empty()
            || !s.pressure.is_empty()
            || (s.pps_per_queue > 0.0
                && f64::from(s.rx) / s.pps_per_queue < t::RING_FILL_WARN_SECONDS))
}

fn rx_ring_small(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (dev, iface) in physical(ctx) {
        let Some(et) = ethtool(ctx, dev) else {
            continue;
        };
        let Some(s) = ring_state(&w, dev, iface, et) else {
            continue;
        };
        if !ring_small_fires(&s) {
            continue;
        }
        let severity = if s.drops.is_empty() {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let mut evidence: Vec<Evidence> = s
            .drops
            .iter()
            .chain(&s.pressure)
            .map(|(name, r)| {
                let metric = if name.starts_with("netdev.") {
                    name.clone()
                } else {
                    format!("ethtool.{name}")
                };
                Evidence::new(&metric, dev.clone(), *r, "1/s")
            })
            .collect();
        evidence.push(Evidence::new(
            "ethtool.ring_rx",
            dev.clone(),
            f64::from(s.rx),
            "descriptors",
        ));
        evidence.push(Evidence::new(
            "ethtool.ring_rx_max",
            dev.clone(),
            f64::from(s.rx_max),
            "descriptors",
        ));
        let fill = (s.pps_per_queue > 0.0).then(|| f64::from(s.rx) / s.pps_per_queue);
        if let Some(f) = fill {
            evidence.push(Evidence::new(
                "ring.time_to_fill",
                dev.clone(),
                f * 1e3,
                "ms",
            ));
        }
        let buf = et
            .rings
            .ok()
            .and_then(|r| r.rx_buf_len)
            .map(u64::from)
            .unwrap_or(t::RING_BYTES_PER_DESCRIPTOR);
        let mem = |n: u32| n as f64 * buf as f64 * s.queues as f64;
        let fill_text = match fill {
            Some(f) => format!(
                " At {} packets/s per queue a ring of {} fills in {} (with {}: {}).",
                fmt_rate(s.pps_per_queue),
                s.rx,
                fmt_secs(f),
                s.rx_max,
                fmt_secs(f64::from(s.rx_max) / s.pps_per_queue)
            ),
            None => String::new(),
        };
        let cause = if s.drops.is_empty() {
            "the receive ring is close to overflowing"
        } else {
            "packets are lost in the NIC because its receive ring was full"
        };
        out.push(Finding {
            netns: None,
            id: ids::NIC_RX_RING_SMALL.into(),
            severity,
            title: format!(
                "{dev} {} because its rx ring ({}) is below the hardware maximum ({})",
                if s.drops.is_empty() {
                    "is close to losing packets"
                } else {
                    "loses packets in the NIC"
                },
                s.rx,
                s.rx_max
            ),
            detail: format!(
                "The NIC writes received frames into ring descriptors that NAPI refills; when the \
                 CPU falls behind for longer than the ring lasts, {cause} (missed / fifo / \
                 no-buffer counters).{fill_text} A larger ring absorbs longer stalls."
            ),
            evidence,
            changes: vec![Change::new(
                ChangeKind::Ring,
                format!("{dev} rx"),
                Some(s.rx.to_string()),
                s.rx_max.to_string(),
            )],
            risk: format!(
                "memory: {} x {} x {} queue{} = {} of receive buffers (was {}); a full ring \
                 adds queueing latency; some drivers reset the link while resizing (a short \
                 outage)",
                s.rx_max,
                fmt_bytes(buf as f64),
                s.queues,
                if s.queues == 1 { "" } else { "s" },
                fmt_bytes(mem(s.rx_max)),
                fmt_bytes(mem(s.rx))
            ),
            verify: format!("missed / fifo / no-buffer counters of {dev} stop rising (rate 0)"),
        });
    }
    out
}

/// Where `nic.rx_drops` puts the drops of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropLayer {
    /// NIC ring overrun with the ring already at maximum.
    RingAtMax,
    /// NIC ring overrun and the ring can grow (nic.rx_ring_small reports it).
    RingSmall,
    /// Softnet backlog full (counted on the device by enqueue_to_backlog).
    Backlog,
    /// Bad checksums reported by the NIC.
    Checksum,
    /// Core stack: no handler for the protocol or VLAN, inactive bond slave, filter.
    Core,
}

fn rx_drops(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let backlog_drops: f64 = w.softnet().iter().map(|r| r.dropped).sum();
    let mut out = Vec::new();
    for (dev, r) in w.netdev() {
        let iface = interface(ctx, &dev);
        if is_loopback(&dev, iface) || r.rx_drop <= 0.0 {
            continue;
        }
        let et = ethtool(ctx, &dev);
        let stats = w.driver_stat_rates(&dev);
        let ring = match (iface, et) {
            (Some(i), Some(e)) if i.kind == InterfaceKind::Physical => ring_state(&w, &dev, i, e),
            _ => None,
        };
        let ring_drops = r.rx_fifo > 0.0 || !rising(&stats, t::RING_DROP_STATS, false).is_empty();
        let csum = rising(&stats, t::CHECKSUM_ERROR_STATS, false);
        let layer = if ring_drops {
            if ring.as_ref().is_some_and(ring_small_fires) {
                DropLayer::RingSmall
            } else {
                DropLayer::RingAtMax
            }
        } else if backlog_drops > 0.0 {
            DropLayer::Backlog
        } else if !csum.is_empty() {
            DropLayer::Checksum
        } else {
            DropLayer::Core
        };
        if layer == DropLayer::RingSmall {
            continue; // nic.rx_ring_small reports these with the ring change
        }
        let share = r.rx_drop / (r.rx_packets + r.rx_drop).max(f64::MIN_POSITIVE);
        let severity = if layer == DropLayer::Backlog {
            Severity::Info // softnet.backlog_drops is the finding with the fix
        } else if r.rx_drop >= t::NIC_DROP_WARN_RATE
            || (share >= t::NIC_DROP_WARN_SHARE && r.rx_drop >= t::NIC_DROP_SHARE_MIN_RATE)
        {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut evidence = vec![
            Evidence::new("netdev.rx_drop", dev.clone(), r.rx_drop, "1/s"),
            Evidence::new("netdev.rx_packets", dev.clone(), r.rx_packets, "1/s"),
        ];
        if r.rx_fifo > 0.0 {
            evidence.push(Evidence::new(
                "netdev.rx_fifo",
                dev.clone(),
                r.rx_fifo,
                "1/s",
            ));
        }
        for (name, v) in rising(&stats, t::RING_DROP_STATS, false)
            .iter()
            .chain(&csum)
        {
            evidence.push(Evidence::new(
                &format!("ethtool.{name}"),
                dev.clone(),
                *v,
                "1/s",
            ));
        }
        if layer == DropLayer::Backlog {
            evidence.push(Evidence::new(
                "softnet.dropped",
                "host",
                backlog_drops,
                "1/s",
            ));
        }
        let (where_, why, change, verify) = match layer {
            DropLayer::RingAtMax | DropLayer::RingSmall => (
                "in the NIC ring",
                "the NIC found no free receive descriptor and its ring is already at the \
                 hardware maximum, so the CPU side must drain it faster: more RSS queues and \
                 CPUs, spread IRQs, or coalescing that batches more per interrupt",
                Change::advice(
                    format!("{dev} receive capacity"),
                    "more RSS channels / CPUs for the queues (nic.rss_queues, \
                     irq.affinity_concentrated); the ring cannot grow further",
                ),
                format!("rx_fifo / missed rate of {dev} returns to 0"),
            ),
            DropLayer::Backlog => (
                "in the softnet backlog",
                "the per-CPU softnet backlog was full when the packet arrived; the kernel \
                 counts that drop on the receiving device too, and softnet.backlog_drops has \
                 the per-CPU evidence and the fix",
                Change::advice("net.core.netdev_max_backlog", "see softnet.backlog_drops"),
                "softnet dropped rate returns to 0".to_string(),
            ),
            DropLayer::Checksum => (
                "after checksum validation",
                "the NIC reports bad checksums: corrupted frames (cabling, a faulty peer) or a \
                 checksum offload bug",
                Change::advice(
                    format!("{dev} checksums"),
                    "check the link and peer; try toggling rx checksum offload to compare",
                ),
                format!("{dev} checksum error rate returns to 0"),
            ),
            DropLayer::Core => (
                "in the core stack",
                "no NIC overrun and no backlog drop: frames for a protocol or VLAN nobody \
                 handles (LLDP, an unconfigured VLAN), an inactive bond slave, or a filter; \
                 `nettune drops` names the kernel drop reason",
                Change::advice(
                    format!("{dev} dropped frames"),
                    "run `nettune drops` to see the kernel drop reasons and locations",
                ),
                format!("{dev} rx_drop rate returns to 0 or is explained by drop reasons"),
            ),
        };
        out.push(Finding {
            netns: None,
            id: ids::NIC_RX_DROPS.into(),
            severity,
            title: format!("{dev} drops received packets {where_}"),
            detail: format!(
                "{dev} dropped {} of {} received packets/s ({:.3} %): {why}.",
                fmt_rate(r.rx_drop),
                fmt_rate(r.rx_packets + r.rx_drop),
                share * 100.0
            ),
            evidence,
            changes: vec![change],
            risk: "advice only; nothing is changed".into(),
            verify,
        });
    }
    out
}

fn errors(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (dev, r) in w.netdev() {
        let stats = w.driver_stat_rates(&dev);
        let phys = rising(&stats, t::PHYSICAL_ERROR_STATS, true);
        let csum = rising(&stats, t::CHECKSUM_ERROR_STATS, false);
        let min = t::NIC_ERROR_RATE_MIN;
        // rx errors fully explained by fifo overruns belong to the ring rules.
        let rx_other = (r.rx_errs - r.rx_fifo).max(0.0);
        let any = rx_other > min || r.rx_frame > min || r.tx_errs > min;
        if !any && phys.is_empty() && csum.is_empty() {
            continue;
        }
        // Judged by count, share and rate, so a handful of errors over years of uptime
        // (an archive's since-boot window) does not fire.
        let per_s = rx_other.max(r.rx_frame)
            + r.tx_errs
            + phys.iter().chain(&csum).map(|(_, v)| *v).sum::<f64>();
        let secs = w.seconds();
        if !t::NIC_ERRORS.fires(
            per_s * secs,
            Some((r.rx_packets + r.tx_packets) * secs),
            secs,
        ) {
            continue;
        }
        let physical_layer = r.rx_frame > min || !phys.is_empty();
        let mut evidence = Vec::new();
        let mut push = |m: &str, v: f64| {
            if v > min {
                evidence.push(Evidence::new(m, dev.clone(), v, "1/s"));
            }
        };
        push("netdev.rx_errs", r.rx_errs);
        push("netdev.rx_frame", r.rx_frame);
        push("netdev.tx_errs", r.tx_errs);
        for (name, v) in phys.iter().chain(&csum) {
            evidence.push(Evidence::new(
                &format!("ethtool.{name}"),
                dev.clone(),
                *v,
                "1/s",
            ));
        }
        let (layer, advice) = if physical_layer {
            (
                "at the physical layer",
                "check the cable / transceiver / switch port, and that speed and duplex match \
                 on both ends (ethtool DEV, the switch's port counters)",
            )
        } else if !csum.is_empty() {
            (
                "with bad checksums",
                "corrupted frames or a checksum offload problem: check the link and peer",
            )
        } else {
            (
                "in the driver",
                "look at the driver statistics (ethtool -S) for which error counter rises",
            )
        };
        out.push(Finding {
            netns: None,
            id: ids::NIC_ERRORS.into(),
            severity: Severity::Warning,
            title: format!("{dev} reports errors {layer}"),
            detail: format!(
                "Errors are never normal: {dev} counted {} rx errors/s ({} frame/CRC) and {} tx \
                 errors/s over the window. Frame and CRC errors point at cabling, optics or a \
                 duplex mismatch; no sysctl fixes them.",
                fmt_rate(r.rx_errs),
                fmt_rate(r.rx_frame),
                fmt_rate(r.tx_errs)
            ),
            evidence,
            changes: vec![Change::advice(format!("{dev} link"), advice)],
            risk: "advice only; nothing is changed".into(),
            verify: format!("{dev} error rates return to 0"),
        });
    }
    out
}

fn rss_queues(ctx: &Context) -> Vec<Finding> {
    let cpus = cpu_count(ctx);
    if cpus < 2 {
        return Vec::new();
    }
    let rates = ctx.window.map(|w| w.netdev()).unwrap_or_default();
    let mut out = Vec::new();
    for (dev, _) in physical(ctx) {
        let Some(raise) = channels_raise(ctx, dev) else {
            continue;
        };
        let ChannelsRaise {
            kind,
            current: cur,
            max,
            target,
        } = raise;
        let pps = rates.get(dev).map(|r| r.rx_packets).unwrap_or(0.0);
        let severity = if pps >= t::RSS_WARN_PPS {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut evidence = vec![
            Evidence::new(
                "ethtool.channels",
                format!("{dev} {kind}"),
                f64::from(cur),
                "queues",
            ),
            Evidence::new(
                "ethtool.channels_max",
                format!("{dev} {kind}"),
                f64::from(max),
                "queues",
            ),
            Evidence::new("host.cpus", "host", cpus as f64, "cpus"),
        ];
        if ctx.window.is_some() {
            evidence.push(Evidence::new("netdev.rx_packets", dev.clone(), pps, "1/s"));
        }
        let ring = ethtool(ctx, dev)
            .and_then(|e| e.rings.ok())
            .and_then(|r| r.rx)
            .unwrap_or(0);
        let mem = if ring > 0 {
            format!(
                "; memory: {} more queue{} x {ring} descriptors x {} = {}",
                target - u64::from(cur),
                if target - u64::from(cur) == 1 {
                    ""
                } else {
                    "s"
                },
                fmt_bytes(t::RING_BYTES_PER_DESCRIPTOR as f64),
                fmt_bytes(
                    (target - u64::from(cur)) as f64
                        * f64::from(ring)
                        * t::RING_BYTES_PER_DESCRIPTOR as f64
                )
            )
        } else {
            String::new()
        };
        out.push(Finding {
            netns: None,
            id: ids::NIC_RSS_QUEUES.into(),
            severity,
            title: format!(
                "{dev} uses {cur} of {max} {kind} queues on a {cpus}-CPU host, so receive work reaches only {cur} CPU{}",
                if cur == 1 { "" } else { "s" }
            ),
            detail: format!(
                "Receive side scaling hashes flows to queues, and each queue has its own IRQ \
                 and NAPI context on its own CPU. With {cur} queue{} only that many CPUs do \
                 receive processing; min(CPUs, hardware maximum) = {target} queues spreads it.",
                if cur == 1 { "" } else { "s" }
            ),
            evidence,
            changes: vec![raise.change(dev)],
            risk: format!(
                "changing channels re-creates the queues (a short receive pause, a link reset \
                 on some drivers) and resets the RSS indirection table{mem}"
            ),
            verify: format!(
                "{dev}'s queue interrupts and softnet processed packets spread over {target} CPUs"
            ),
        });
    }
    out
}

fn coalesce(ctx: &Context) -> Vec<Finding> {
    // The coalescing each intent expects; the others leave it to the driver.
    let intent = ctx.intent();
    let latency = match intent {
        Intent::Latency => true,
        Intent::Throughput => false,
        Intent::Balanced | Intent::Bulk => return Vec::new(),
    };
    let profile = intent.as_str();
    let mut out = Vec::new();
    for (dev, _) in physical(ctx) {
        let Some(c) = ethtool(ctx, dev).and_then(|e| e.coalesce.ok()) else {
            continue;
        };
        if c.use_adaptive_rx == Some(true) {
            continue; // the driver picks the values itself
        }
        let Some(usecs) = c.rx_usecs else {
            continue;
        };
        let mut changes = Vec::new();
        let mut evidence = vec![Evidence::new(
            "ethtool.rx_usecs",
            dev.clone(),
            f64::from(usecs),
            "µs",
        )];
        let risk = if latency {
            if usecs <= t::LATENCY_RX_USECS_FIRE {
                continue;
            }
            changes.push(Change::new(
                ChangeKind::Coalesce,
                format!("{dev} rx-usecs"),
                Some(usecs.to_string()),
                t::LATENCY_RX_USECS.to_string(),
            ));
            format!(
                "up to {}x more receive interrupts at high packet rates (more CPU per packet)",
                usecs / t::LATENCY_RX_USECS.max(1)
            )
        } else {
            if usecs < t::THROUGHPUT_RX_USECS_FIRE {
                changes.push(Change::new(
                    ChangeKind::Coalesce,
                    format!("{dev} rx-usecs"),
                    Some(usecs.to_string()),
                    t::THROUGHPUT_RX_USECS.to_string(),
                ));
            }
            if let Some(frames) = c.rx_max_frames {
                evidence.push(Evidence::new(
                    "ethtool.rx_frames",
                    dev.clone(),
                    f64::from(frames),
                    "frames",
                ));
                if frames < t::THROUGHPUT_RX_FRAMES_FIRE && !changes.is_empty() {
                    changes.push(Change::new(
                        ChangeKind::Coalesce,
                        format!("{dev} rx-frames"),
                        Some(frames.to_string()),
                        t::THROUGHPUT_RX_FRAMES.to_string(),
                    ));
                }
            }
            if changes.is_empty() {
                continue;
            }
            format!(
                "each packet may wait up to {} µs for its interrupt: more latency for \
                 request/response traffic",
                t::THROUGHPUT_RX_USECS
            )
        };
        out.push(Finding {
            netns: None,
            id: ids::NIC_COALESCE.into(),
            severity: Severity::Info,
            title: format!(
                "{dev} interrupt coalescing (rx-usecs {usecs}) does not fit the {profile} profile"
            ),
            detail: if latency {
                format!(
                    "{dev} waits up to {usecs} µs after a packet before raising the receive \
                     interrupt; the latency profile wants 0–{} µs so packets reach the stack \
                     at once.",
                    t::LATENCY_RX_USECS
                )
            } else {
                format!(
                    "{dev} interrupts after {usecs} µs; the throughput profile batches 64–128 µs \
                     / 32–64 frames per interrupt so the CPU spends its time on packets, not \
                     on interrupt entry."
                )
            },
            evidence,
            changes,
            risk,
            verify: format!(
                "{dev}'s interrupt rate and packet latency move as the {profile} profile expects"
            ),
        });
    }
    out
}

/// An ethtool feature that is off and can be turned on (or on and can be turned off).
fn feature_change(et: &Ethtool, dev: &str, name: &str, want: bool) -> Option<Change> {
    let f = et.features.ok()?.get(name)?;
    (f.active != want && !f.fixed).then(|| {
        let s = |b: bool| if b { "on" } else { "off" };
        Change::new(
            ChangeKind::Feature,
            format!("{dev} {name}"),
            Some(s(f.active).to_string()),
            s(want),
        )
    })
}

fn forwarding(ctx: &Context) -> bool {
    ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
        .iter()
        .any(|k| sysctl(ctx.newer, k) == Some("1"))
}

fn offload_disabled(ctx: &Context) -> Vec<Finding> {
    let rates = ctx.window.map(|w| w.netdev()).unwrap_or_default();
    let seg = |field: &str| {
        ctx.window
            .and_then(|w| w.netstat_rate("Tcp", field))
            .unwrap_or(0.0)
    };
    let (out_segs, in_segs) = (seg("OutSegs"), seg("InSegs"));
    let mut out = Vec::new();
    for (dev, _) in physical(ctx) {
        let Some(et) = ethtool(ctx, dev) else {
            continue;
        };
        let r = rates.get(dev).cloned().unwrap_or_else(NetDevRates::default);
        let bulk_tx =
            r.tx_bytes >= t::OFFLOAD_BULK_BYTES_PER_S && out_segs >= t::OFFLOAD_BULK_TCP_SEGS_PER_S;
        let bulk_rx =
            r.rx_bytes >= t::OFFLOAD_BULK_BYTES_PER_S && in_segs >= t::OFFLOAD_BULK_TCP_SEGS_PER_S;
        let mut changes = Vec::new();
        if bulk_tx {
            changes.extend(feature_change(et, dev, "tx-tcp-segmentation", true));
            changes.extend(feature_change(et, dev, "tx-generic-segmentation", true));
        }
        if bulk_rx {
            changes.extend(feature_change(et, dev, "rx-gro", true));
        }
        if !changes.is_empty() {
            let off: Vec<String> = changes
                .iter()
                .map(|c| c.device_target().1.to_string())
                .collect();
            out.push(Finding {
                netns: None,
                id: ids::NIC_OFFLOAD_DISABLED.into(),
                severity: Severity::Warning,
                title: format!(
                    "{dev} carries bulk TCP with {} off, so the CPU handles every MTU-sized segment",
                    off.join(", ")
                ),
                detail: format!(
                    "TSO/GSO hand the NIC (or the last moment before it) one large segment \
                     instead of dozens of MTU-sized ones, and GRO merges received segments \
                     before the protocol stack; with them off {dev} costs a full stack traversal \
                     per 1500-byte packet ({} MB/s out, {} MB/s in).",
                    fmt_rate(r.tx_bytes / 1e6),
                    fmt_rate(r.rx_bytes / 1e6)
                ),
                evidence: vec![
                    Evidence::new("netdev.tx_bytes", dev.clone(), r.tx_bytes, "B/s"),
                    Evidence::new("netdev.rx_bytes", dev.clone(), r.rx_bytes, "B/s"),
                    Evidence::new("Tcp.OutSegs", "host", out_segs, "1/s"),
                    Evidence::new("Tcp.InSegs", "host", in_segs, "1/s"),
                ],
                changes,
                risk: "GRO adds a little latency per flow while it batches; offload bugs in old \
                       drivers or firmware can corrupt traffic: watch the error counters"
                    .into(),
                verify: format!(
                    "{dev}'s softirq share and per-packet CPU cost fall at the same throughput"
                ),
            });
        }
        if forwarding(ctx) {
            if let Some(c) = feature_change(et, dev, "rx-lro", false) {
                out.push(Finding {
                    netns: None,
                    id: ids::NIC_OFFLOAD_DISABLED.into(),
                    severity: Severity::Warning,
                    title: format!("{dev} has LRO on while this host forwards packets"),
                    detail: "LRO merges received segments in the NIC into frames that cannot be \
                             forwarded or re-segmented exactly (lost headers, broken PMTU), so \
                             it must be off on a router, bridge or container host; GRO does the \
                             same job safely."
                        .into(),
                    evidence: vec![Evidence::new("ethtool.rx-lro", dev.clone(), 1.0, "on")],
                    changes: vec![c],
                    risk: "more CPU per received packet unless GRO is on".into(),
                    verify: format!("{dev} rx-lro reads off; forwarded traffic has no errors"),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::ethtool::{Channels, Coalesce, Feature, Features};
    use crate::collect::interfaces::InterfaceKind as K;
    use crate::collect::Source;
    use crate::diagnose::testkit::*;

    fn rings(rx: u32, max: u32) -> Ethtool {
        Ethtool {
            rings: Source::Ok(Rings {
                rx: Some(rx),
                rx_max: Some(max),
                ..Rings::default()
            }),
            ..Ethtool::default()
        }
    }

    fn nic(fx: &mut Fx, queues: u32, et: Ethtool) {
        fx.iface("eth0", iface(K::Physical, queues))
            .ethtool("eth0", et);
    }

    #[test]
    fn rx_ring_small_critical_on_missed_counter() {
        let mut fx = Fx::new(4);
        nic(&mut fx, 4, rings(512, 4096));
        fx.driver_stat("eth0", "rx_missed_errors", 250.0)
            .driver_stat("eth0", "tx_fifo_errors", 9.0)
            .netdev("eth0", rx(400_000.0));
        let f = fx.run(rx_ring_small);
        let f = only(&f, ids::NIC_RX_RING_SMALL);
        assert_eq!(f.severity, Severity::Critical);
        assert!((evidence(f, "ethtool.rx_missed_errors", "eth0").unwrap() - 250.0).abs() < 1e-9);
        assert!(evidence(f, "ethtool.tx_fifo_errors", "eth0").is_none());
        assert_eq!(proposed(f, "eth0 rx"), Some("4096"));
        // 400k pps over 4 queues = 100k per queue; 512 / 100k = 5.12 ms
        assert!((evidence(f, "ring.time_to_fill", "eth0").unwrap() - 5.12).abs() < 1e-9);
        assert!(
            f.risk.starts_with(
                "memory: 4096 x 2 KiB x 4 queues = 32 MiB of receive buffers (was 4 MiB)"
            ),
            "{}",
            f.risk
        );
    }

    #[test]
    fn rx_ring_small_warning_on_no_buffer_or_fast_fill() {
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, rings(256, 1024));
        fx.driver_stat("eth0", "rx_no_buffer_count", 3.0)
            .netdev("eth0", rx(1000.0));
        let f = fx.run(rx_ring_small);
        assert_eq!(only(&f, ids::NIC_RX_RING_SMALL).severity, Severity::Warning);
        // no counters, but 256 descriptors last 0.5 ms at 512k pps
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, rings(256, 1024));
        fx.netdev("eth0", rx(512_000.0));
        let f = fx.run(rx_ring_small);
        let f = only(&f, ids::NIC_RX_RING_SMALL);
        assert_eq!(f.severity, Severity::Warning);
        assert!((evidence(f, "ring.time_to_fill", "eth0").unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn rx_ring_small_quiet_at_max_or_without_pressure_or_virtual() {
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, rings(4096, 4096));
        fx.driver_stat("eth0", "rx_missed_errors", 250.0)
            .netdev("eth0", rx(1000.0));
        assert!(fx.run(rx_ring_small).is_empty());
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, rings(256, 4096));
        fx.driver_stat("eth0", "rx_missed_errors", 0.0)
            .netdev("eth0", rx(10_000.0));
        assert!(fx.run(rx_ring_small).is_empty());
        let mut fx = Fx::new(2);
        fx.iface("veth0", iface(K::Veth, 1))
            .ethtool("veth0", rings(256, 4096));
        fx.driver_stat("veth0", "rx_dropped", 50.0)
            .netdev("veth0", rx(10_000.0));
        assert!(fx.run(rx_ring_small).is_empty());
        assert!(fx.run_static(rx_ring_small).is_empty());
    }

    #[test]
    fn rx_drops_points_at_core_layer_and_ignores_lo() {
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 1000.0, 0.0, 0.0), (1, 1000.0, 0.0, 0.0)]);
        fx.iface("eth0", iface(K::Physical, 1))
            .iface("lo", iface(K::Loopback, 1));
        let mut r = rx(10_000.0);
        r.rx_drop = 50.0;
        fx.netdev("eth0", r.clone()).netdev("lo", r);
        let f = fx.run(rx_drops);
        let f = only(&f, ids::NIC_RX_DROPS);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.title, "eth0 drops received packets in the core stack");
        assert!((evidence(f, "netdev.rx_drop", "eth0").unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(f.changes[0].kind, ChangeKind::Advice);
    }

    #[test]
    fn rx_drops_backlog_and_ring_layers() {
        // veth drops while softnet drops: backlog, info
        let mut fx = Fx::new(2);
        fx.softnet(&[(0, 1000.0, 0.0, 0.0), (1, 1000.0, 80.0, 0.0)]);
        fx.iface("veth0", iface(K::Veth, 1));
        let mut r = rx(50_000.0);
        r.rx_drop = 80.0;
        fx.netdev("veth0", r);
        let f = fx.run(rx_drops);
        let f = only(&f, ids::NIC_RX_DROPS);
        assert_eq!(f.severity, Severity::Info);
        assert!(f.title.contains("softnet backlog"));
        // fifo with ring at max: ring layer, warning
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, rings(4096, 4096));
        let mut r = rx(50_000.0);
        r.rx_drop = 20.0;
        r.rx_fifo = 20.0;
        fx.netdev("eth0", r);
        let f = fx.run(rx_drops);
        let f = only(&f, ids::NIC_RX_DROPS);
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.title.contains("NIC ring"));
        // fifo with a small ring: left to nic.rx_ring_small
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, rings(256, 4096));
        let mut r = rx(50_000.0);
        r.rx_drop = 20.0;
        r.rx_fifo = 20.0;
        fx.netdev("eth0", r);
        assert!(fx.run(rx_drops).is_empty());
        assert_eq!(fx.run(rx_ring_small).len(), 1);
    }

    #[test]
    fn rx_drops_trickle_is_info_and_none_is_quiet() {
        let mut fx = Fx::new(2);
        fx.iface("eth0", iface(K::Physical, 1));
        let mut r = rx(100.0);
        r.rx_drop = 0.1; // an LLDP frame every 10 s
        fx.netdev("eth0", r);
        let f = fx.run(rx_drops);
        assert_eq!(only(&f, ids::NIC_RX_DROPS).severity, Severity::Info);
        fx.netdev("eth0", rx(100.0));
        assert!(fx.run(rx_drops).is_empty());
    }

    #[test]
    fn errors_are_judged_by_count_share_and_rate() {
        let mut fx = Fx::new(2);
        fx.netdev(
            "eth0",
            NetDevRates {
                rx_packets: 1_000_000.0,
                rx_errs: 1.0,
                ..NetDevRates::default()
            },
        );
        // 10 errors in 10 s: 1/s fires.
        assert_eq!(fx.run(errors).len(), 1);
        // The same 10 errors since boot two years ago: neither share nor rate.
        fx.newer.taken_at_ns = fx.older.taken_at_ns + 63_072_000 * 1_000_000_000;
        assert!(fx.run(errors).is_empty());
    }

    #[test]
    fn errors_fire_on_crc_and_quiet_on_fifo_only() {
        let mut fx = Fx::new(2);
        fx.iface("eth0", iface(K::Physical, 1))
            .ethtool("eth0", Ethtool::default());
        let mut r = rx(10_000.0);
        r.rx_errs = 2.0;
        r.rx_frame = 2.0;
        fx.netdev("eth0", r)
            .driver_stat("eth0", "rx_crc_errors", 2.0);
        let f = fx.run(errors);
        let f = only(&f, ids::NIC_ERRORS);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.title, "eth0 reports errors at the physical layer");
        assert!((evidence(f, "ethtool.rx_crc_errors", "eth0").unwrap() - 2.0).abs() < 1e-9);
        let mut fx = Fx::new(2);
        let mut r = rx(10_000.0);
        r.rx_errs = 5.0;
        r.rx_fifo = 5.0;
        fx.netdev("eth0", r);
        assert!(fx.run(errors).is_empty());
        fx.netdev("eth0", rx(10_000.0));
        assert!(fx.run(errors).is_empty());
    }

    fn channels(cur: u32, max: u32) -> Ethtool {
        Ethtool {
            channels: Source::Ok(Channels {
                combined: Some(cur),
                combined_max: Some(max),
                ..Channels::default()
            }),
            rings: Source::Ok(Rings {
                rx: Some(1024),
                rx_max: Some(4096),
                ..Rings::default()
            }),
            ..Ethtool::default()
        }
    }

    #[test]
    fn rss_queues_proposes_min_of_cpus_and_max() {
        let mut fx = Fx::new(8);
        nic(&mut fx, 2, channels(2, 63));
        fx.netdev("eth0", rx(50_000.0));
        let f = fx.run(rss_queues);
        let f = only(&f, ids::NIC_RSS_QUEUES);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(proposed(f, "eth0 combined"), Some("8"));
        assert_eq!(evidence(f, "ethtool.channels", "eth0 combined"), Some(2.0));
        assert!(
            f.risk
                .contains("6 more queues x 1024 descriptors x 2 KiB = 12 MiB"),
            "{}",
            f.risk
        );
        // static (no window): info
        let f = fx.run_static(rss_queues);
        assert_eq!(only(&f, ids::NIC_RSS_QUEUES).severity, Severity::Info);
    }

    #[test]
    fn rss_queues_quiet_when_full_or_single_queue_hw() {
        let mut fx = Fx::new(8);
        nic(&mut fx, 8, channels(8, 63));
        assert!(fx.run_static(rss_queues).is_empty());
        let mut fx = Fx::new(8);
        nic(&mut fx, 4, channels(4, 4));
        assert!(fx.run_static(rss_queues).is_empty());
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, channels(1, 1)); // virtio on this VM
        assert!(fx.run_static(rss_queues).is_empty());
    }

    fn coal(usecs: u32, frames: u32, adaptive: bool) -> Ethtool {
        Ethtool {
            coalesce: Source::Ok(Coalesce {
                rx_usecs: Some(usecs),
                rx_max_frames: Some(frames),
                use_adaptive_rx: Some(adaptive),
                ..Coalesce::default()
            }),
            ..Ethtool::default()
        }
    }

    #[test]
    fn coalesce_matches_profile() {
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, coal(100, 64, false));
        assert!(fx.run_static(coalesce).is_empty(), "no profile, no finding");
        fx.options.intent = Intent::Latency;
        let f = fx.run_static(coalesce);
        let f = only(&f, ids::NIC_COALESCE);
        assert_eq!(proposed(f, "eth0 rx-usecs"), Some("10"));
        assert_eq!(evidence(f, "ethtool.rx_usecs", "eth0"), Some(100.0));
        fx.options.intent = Intent::Throughput;
        assert!(fx.run_static(coalesce).is_empty());
        nic(&mut fx, 1, coal(0, 1, false));
        let f = fx.run_static(coalesce);
        let f = only(&f, ids::NIC_COALESCE);
        assert_eq!(proposed(f, "eth0 rx-usecs"), Some("128"));
        assert_eq!(proposed(f, "eth0 rx-frames"), Some("64"));
        nic(&mut fx, 1, coal(8, 1, true));
        assert!(fx.run_static(coalesce).is_empty(), "adaptive is left alone");
        fx.options.intent = Intent::Latency;
        nic(&mut fx, 1, coal(8, 1, false));
        assert!(fx.run_static(coalesce).is_empty());
    }

    fn features(list: &[(&str, bool, bool)]) -> Ethtool {
        let f: Features = list
            .iter()
            .map(|(n, active, fixed)| {
                (
                    n.to_string(),
                    Feature {
                        active: *active,
                        fixed: *fixed,
                        requested: *active,
                    },
                )
            })
            .collect();
        Ethtool {
            features: Source::Ok(f),
            ..Ethtool::default()
        }
    }

    #[test]
    fn offload_disabled_on_bulk_tcp() {
        let mut fx = Fx::new(2);
        nic(
            &mut fx,
            1,
            features(&[
                ("tx-tcp-segmentation", false, false),
                ("tx-generic-segmentation", true, false),
                ("rx-gro", false, false),
                ("rx-lro", false, true),
            ]),
        );
        let mut r = rx(80_000.0);
        r.tx_bytes = 100_000_000.0;
        r.tx_packets = 70_000.0;
        fx.netdev("eth0", r)
            .netstat("Tcp", "OutSegs", 70_000.0)
            .netstat("Tcp", "InSegs", 80_000.0);
        let f = fx.run(offload_disabled);
        let f = only(&f, ids::NIC_OFFLOAD_DISABLED);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(proposed(f, "eth0 tx-tcp-segmentation"), Some("on"));
        assert_eq!(proposed(f, "eth0 rx-gro"), Some("on"));
        assert!(proposed(f, "eth0 tx-generic-segmentation").is_none());
        assert_eq!(evidence(f, "netdev.tx_bytes", "eth0"), Some(100_000_000.0));
        // idle: quiet
        fx.netdev("eth0", rx(100.0)).netstat("Tcp", "OutSegs", 10.0);
        assert!(fx.run(offload_disabled).is_empty());
    }

    #[test]
    fn offload_lro_while_forwarding() {
        let mut fx = Fx::new(2);
        nic(&mut fx, 1, features(&[("rx-lro", true, false)]));
        fx.sysctl("net.ipv4.ip_forward", "0");
        assert!(fx.run_static(offload_disabled).is_empty());
        fx.sysctl("net.ipv4.ip_forward", "1");
        let f = fx.run_static(offload_disabled);
        let f = only(&f, ids::NIC_OFFLOAD_DISABLED);
        assert_eq!(proposed(f, "eth0 rx-lro"), Some("off"));
        assert_eq!(f.changes[0].current.as_deref(), Some("on"));
    }
}
