//! What a rule sees: the [`Context`] (a window of two snapshots, the newest snapshot, host
//! facts, the user's [`Options`] and the kernel's drop reasons), the facts resolved once for
//! every rule (link speed and round-trip time), and the small host/device helpers several rule
//! areas share (online CPUs, the busiest receiving device).
//!
//! # Link speed and RTT: one precedence
//!
//! Both are resolved once, when the context is built, and every user (the softnet backlog
//! sizing, the TCP buffer/BDP rule, the tuning profiles' `at_least = "bdp"`) reads the same
//! answer. The precedence is **measured > flag > default**:
//!
//! 1. **Measured** on the host. Link speed: the physical, up (or state unknown) interface
//!    carrying the most packets over the window, the fastest on a tie or without a window,
//!    its speed from sysfs or else ethtool. RTT: the median smoothed RTT of established
//!    sockets whose peer is off-host (sock_diag), when at least
//!    [`thresholds::BDP_MIN_RTT_SAMPLES`] sockets gave one.
//! 2. **Flag**: `--link-speed` (Gbit/s) / `--rtt` (ms), for what the kernel cannot tell
//!    (virtual NICs report no speed; an idle host has no sockets to measure). A flag that is
//!    not a positive finite number is ignored.
//! 3. **Default**: [`thresholds::DEFAULT_LINK_GBPS`] / [`thresholds::DEFAULT_RTT_MS`].
//!    Rules never fire on a default (they ask [`Resolved::known`]); only the profile's BDP
//!    sizing, which needs some number, uses it.
//!
//! [`thresholds::BDP_MIN_RTT_SAMPLES`]: super::thresholds::BDP_MIN_RTT_SAMPLES
//! [`thresholds::DEFAULT_LINK_GBPS`]: super::thresholds::DEFAULT_LINK_GBPS
//! [`thresholds::DEFAULT_RTT_MS`]: super::thresholds::DEFAULT_RTT_MS

use super::thresholds as t;
use crate::bpf::drops::DropReasons;
use crate::collect::host::HostFacts;
use crate::collect::interfaces::{Interface, InterfaceKind};
use crate::snapshot::Snapshot;
use crate::window::{NetDevRates, Window};
use std::fmt;
use std::str::FromStr;

/// What a tuning profile optimises for, as far as the rules care (profiles declare it with
/// `intent = "..."`; `check --profile P` passes the profile's intent, never its name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Intent {
    /// No preference: only what the counters justify (`balanced`, `web-gateway`).
    #[default]
    Balanced,
    /// Move bulk data with the fewest interrupts: coalescing 64–128 µs is expected, and
    /// BDP-sized buffers, congestion control and pacing matter (`throughput`).
    Throughput,
    /// Move bulk data, interrupt coalescing left to the driver: BDP-sized buffers, congestion
    /// control and pacing matter (`cdn`, `stream-ingest`).
    Bulk,
    /// Deliver each packet as soon as it arrives: coalescing 0–10 µs is expected, bulk-sending
    /// notes are noise (`latency`).
    Latency,
}

impl Intent {
    /// Every intent, in the order the profile format documents them.
    pub const ALL: [Intent; 4] = [
        Intent::Balanced,
        Intent::Throughput,
        Intent::Bulk,
        Intent::Latency,
    ];

    /// The name in a profile file (`intent = "latency"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Balanced => "balanced",
            Intent::Throughput => "throughput",
            Intent::Bulk => "bulk",
            Intent::Latency => "latency",
        }
    }

    /// Bulk data transfer is the point (throughput or bulk): BDP-sized buffers are a
    /// warning, congestion-control and pacing notes are worth making.
    pub fn moves_bulk(self) -> bool {
        matches!(self, Intent::Throughput | Intent::Bulk)
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown intent name; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownIntent(pub String);

impl fmt::Display for UnknownIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
        write!(
            f,
            "unknown intent {:?} (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl FromStr for Intent {
    type Err = UnknownIntent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Intent::ALL
            .into_iter()
            .find(|i| i.as_str() == s.trim())
            .ok_or_else(|| UnknownIntent(s.to_string()))
    }
}

/// User-supplied facts and preferences for the rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Link speed in Gbit/s for when the kernel cannot tell (`--link-speed`); a measured
    /// speed wins (see the module doc).
    pub link_speed_gbps: Option<f64>,
    /// Round-trip time in milliseconds for BDP sizing (`--rtt`); a measured RTT wins.
    pub rtt_ms: Option<f64>,
    /// What the chosen profile optimises for (`--profile`'s `intent`).
    pub intent: Intent,
}

/// Where a resolved link speed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSource<'a> {
    /// The speed of this interface (sysfs or ethtool).
    Measured {
        /// Interface name (`eth0`).
        iface: &'a str,
    },
    /// `--link-speed`.
    Flag,
    /// [`t::DEFAULT_LINK_GBPS`]: nothing measured, no flag.
    Default,
}

/// Where a resolved round-trip time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RttSource {
    /// The median smoothed RTT of established off-host sockets.
    Measured {
        /// How many sockets gave an RTT.
        samples: u64,
    },
    /// `--rtt`.
    Flag,
    /// [`t::DEFAULT_RTT_MS`]: nothing measured, no flag.
    Default,
}

/// A value resolved by the precedence of the module doc, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<S> {
    /// Gbit/s for a link speed, milliseconds for an RTT.
    pub value: f64,
    pub source: S,
}

/// Link speed in Gbit/s.
pub type Link<'a> = Resolved<LinkSource<'a>>;
/// Round-trip time in milliseconds.
pub type Rtt = Resolved<RttSource>;

impl<'a> Link<'a> {
    /// The speed when measured or given, `None` for the default (rules do not fire on it).
    pub fn known(&self) -> Option<f64> {
        (self.source != LinkSource::Default).then_some(self.value)
    }

    /// The interface it was measured on.
    pub fn iface(&self) -> Option<&'a str> {
        match self.source {
            LinkSource::Measured { iface } => Some(iface),
            _ => None,
        }
    }
}

impl Rtt {
    /// The RTT in milliseconds when measured or given, `None` for the default.
    pub fn known(&self) -> Option<f64> {
        (self.source != RttSource::Default).then_some(self.value)
    }
}

/// A flag value that can be used: positive and finite.
fn usable(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite() && *v > 0.0)
}

/// Resolve the link speed (module doc: measured > `--link-speed` > default).
pub fn resolve_link<'a>(
    window: Option<&Window>,
    newest: &'a Snapshot,
    options: &Options,
) -> Link<'a> {
    if let Some(m) = measured_link(window, newest) {
        return m;
    }
    match usable(options.link_speed_gbps) {
        Some(g) => Resolved {
            value: g,
            source: LinkSource::Flag,
        },
        None => Resolved {
            value: t::DEFAULT_LINK_GBPS,
            source: LinkSource::Default,
        },
    }
}

/// The busiest (then fastest) physical interface that is up and reports a speed.
fn measured_link<'a>(window: Option<&Window>, newest: &'a Snapshot) -> Option<Link<'a>> {
    let rates = window.map(|w| w.netdev()).unwrap_or_default();
    let ethtool = newest.ethtool.ok();
    newest
        .interfaces
        .ok()?
        .iter()
        .filter(|(_, i)| i.kind == InterfaceKind::Physical)
        .filter(|(_, i)| i.operstate.as_deref().is_none_or(|s| s == "up"))
        .filter_map(|(name, i)| {
            let mbps = i
                .speed_mbps
                .or_else(|| ethtool?.get(name)?.link.ok()?.speed_mbps)
                .filter(|m| *m > 0)?;
            let traffic = rates.get(name).map_or(0.0, |r| r.rx_packets + r.tx_packets);
            Some((name, mbps, traffic))
        })
        // Ties keep the first (by name): `max_by` returns the last of equals, so compare
        // reversed names last.
        .max_by(|a, b| {
            a.2.total_cmp(&b.2)
                .then(a.1.cmp(&b.1))
                .then_with(|| b.0.cmp(a.0))
        })
        .map(|(name, mbps, _)| Resolved {
            value: f64::from(mbps) / 1000.0,
            source: LinkSource::Measured { iface: name },
        })
}

/// Resolve the round-trip time (module doc: measured > `--rtt` > default).
pub fn resolve_rtt(newest: &Snapshot, options: &Options) -> Rtt {
    let measured = newest.sockets.ok().and_then(|s| {
        let r = &s.rtt.remote;
        let us = r.median_us.filter(|u| *u > 0)?;
        (r.samples >= t::BDP_MIN_RTT_SAMPLES).then_some((f64::from(us) / 1000.0, r.samples))
    });
    if let Some((ms, samples)) = measured {
        return Resolved {
            value: ms,
            source: RttSource::Measured { samples },
        };
    }
    match usable(options.rtt_ms) {
        Some(ms) => Resolved {
            value: ms,
            source: RttSource::Flag,
        },
        None => Resolved {
            value: t::DEFAULT_RTT_MS,
            source: RttSource::Default,
        },
    }
}

/// Link speed and RTT for a caller outside the rules (the tuning profiles' BDP), resolved
/// exactly as [`Context::new`] resolves them: pass the capture's window when it has two
/// snapshots and its newest snapshot.
pub fn link_and_rtt<'a>(
    window: Option<&Window>,
    newest: &'a Snapshot,
    options: &Options,
) -> (Link<'a>, Rtt) {
    (
        resolve_link(window, newest, options),
        resolve_rtt(newest, options),
    )
}

/// The bandwidth-delay product in bytes of a link speed (Gbit/s) and an RTT (ms).
pub fn bdp_bytes(link: &Link, rtt: &Rtt) -> f64 {
    link.value * 1e9 / 8.0 * rtt.value / 1000.0
}

/// What a rule sees.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Two snapshots, when there are two; rate-based rules are skipped without it.
    pub window: Option<Window<'a>>,
    /// The newest snapshot (levels, sysctls, configuration).
    pub newer: &'a Snapshot,
    pub host: &'a HostFacts,
    pub options: &'a Options,
    /// Kernel drop reasons counted over the window by eBPF, when the drop monitor could run
    /// (root, BTF) while the capture was taken; `None` otherwise (rules go without).
    pub drops: Option<&'a DropReasons>,
    link: Link<'a>,
    rtt: Rtt,
}

impl<'a> Context<'a> {
    /// Build the context, resolving link speed and RTT once (module doc).
    pub fn new(
        window: Option<Window<'a>>,
        newer: &'a Snapshot,
        host: &'a HostFacts,
        options: &'a Options,
        drops: Option<&'a DropReasons>,
    ) -> Self {
        let (link, rtt) = link_and_rtt(window.as_ref(), newer, options);
        Context {
            window,
            newer,
            host,
            options,
            drops,
            link,
            rtt,
        }
    }

    /// The same context with the link speed resolved elsewhere (a namespace's rules use the
    /// host's NIC).
    pub fn with_link(mut self, link: Link<'a>) -> Self {
        self.link = link;
        self
    }

    /// The same context with the round-trip time resolved elsewhere (a namespace without
    /// measured sockets uses the host's).
    pub fn with_rtt(mut self, rtt: Rtt) -> Self {
        self.rtt = rtt;
        self
    }

    /// The link speed (Gbit/s) every rule uses.
    pub fn link(&self) -> Link<'a> {
        self.link
    }

    /// The round-trip time (ms) every rule uses.
    pub fn rtt(&self) -> Rtt {
        self.rtt
    }

    /// What the chosen profile optimises for.
    pub fn intent(&self) -> Intent {
        self.options.intent
    }
}

// ---------------------------------------------------------------------------------------
// Host and device helpers shared by the softnet, nic, irq and tcp rules

/// Online CPU ids: the softnet rows of the newest snapshot, else `0..host.cpus`.
pub(crate) fn online_cpus(ctx: &Context) -> Vec<u32> {
    match ctx.newer.softnet.ok() {
        Some(rows) if !rows.is_empty() => {
            let mut cpus: Vec<u32> = rows.iter().map(|r| r.cpu).collect();
            cpus.sort_unstable();
            cpus.dedup();
            cpus
        }
        _ if !ctx.host.cpus_online.is_empty() => ctx.host.cpus_online.clone(),
        _ => (0..ctx.host.cpus).collect(),
    }
}

/// Number of online CPUs (at least 1).
pub(crate) fn cpu_count(ctx: &Context) -> u64 {
    let n = online_cpus(ctx).len() as u64;
    n.max(u64::from(ctx.host.cpus)).max(1)
}

/// The interfaces of the newest snapshot, when read.
pub(crate) fn interface<'a>(ctx: &Context<'a>, name: &str) -> Option<&'a Interface> {
    ctx.newer.interfaces.ok()?.get(name)
}

/// True for `lo` (by kind when known, else by name).
pub(crate) fn is_loopback(name: &str, iface: Option<&Interface>) -> bool {
    match iface {
        Some(i) => i.kind == InterfaceKind::Loopback,
        None => name == "lo",
    }
}

/// Devices whose receive queues RPS steers: NICs, veth, tun/tap. (VLAN, bridge and bond
/// packets are processed in the context of the lower device's queue.)
pub(crate) fn rps_applies(kind: InterfaceKind) -> bool {
    matches!(
        kind,
        InterfaceKind::Physical | InterfaceKind::Veth | InterfaceKind::Tun | InterfaceKind::Tap
    )
}

/// The device receiving the most packets over the window, excluding `lo` and, when the
/// interfaces source was read, devices RPS does not apply to.
pub(crate) fn busiest_rx_device(ctx: &Context, w: &Window) -> Option<(String, NetDevRates)> {
    let ifaces = ctx.newer.interfaces.ok();
    w.netdev()
        .into_iter()
        .filter(|(name, r)| {
            let iface = ifaces.and_then(|m| m.get(name));
            r.rx_packets > 0.0
                && !is_loopback(name, iface)
                && (ifaces.is_none() || iface.is_some_and(|i| rps_applies(i.kind)))
        })
        .max_by(|a, b| a.1.rx_packets.total_cmp(&b.1.rx_packets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::ethtool::{Ethtool, EthtoolAll, LinkInfo};
    use crate::collect::netdev::NetDevCounters;
    use crate::collect::sockets::{RttStats, Sockets};
    use crate::collect::Source;
    use std::collections::BTreeMap;

    fn nic(speed: Option<u32>, operstate: &str) -> Interface {
        Interface {
            kind: InterfaceKind::Physical,
            speed_mbps: speed,
            operstate: Some(operstate.into()),
            ..Interface::default()
        }
    }

    /// A snapshot at `t` s with interfaces and per-device packet counters.
    fn snap(t: u64, ifaces: &[(&str, Interface)], packets: &[(&str, u64)]) -> Snapshot {
        let mut s = Snapshot::empty(t * 1_000_000_000);
        s.interfaces = Source::Ok(
            ifaces
                .iter()
                .map(|(n, i)| ((*n).to_string(), i.clone()))
                .collect(),
        );
        s.netdev = Source::Ok(
            packets
                .iter()
                .map(|(n, p)| {
                    (
                        (*n).to_string(),
                        NetDevCounters {
                            rx_packets: *p,
                            ..NetDevCounters::default()
                        },
                    )
                })
                .collect(),
        );
        s
    }

    fn flags(gbps: Option<f64>, rtt: Option<f64>) -> Options {
        Options {
            link_speed_gbps: gbps,
            rtt_ms: rtt,
            ..Options::default()
        }
    }

    #[test]
    fn measured_link_wins_over_the_flag() {
        let ifs = [("eth0", nic(Some(10_000), "up"))];
        let s = snap(1, &ifs, &[]);
        let l = resolve_link(None, &s, &flags(Some(1.0), None));
        assert_eq!(l.value, 10.0);
        assert_eq!(l.source, LinkSource::Measured { iface: "eth0" });
        assert_eq!(l.known(), Some(10.0));
        assert_eq!(l.iface(), Some("eth0"));
    }

    #[test]
    fn measured_link_is_the_busiest_up_physical_nic_then_the_fastest() {
        let ifs = [
            ("eth0", nic(Some(10_000), "up")),
            ("eth1", nic(Some(1_000), "up")),
            ("eth2", nic(Some(100_000), "down")),
            (
                "veth0",
                Interface {
                    kind: InterfaceKind::Veth,
                    speed_mbps: Some(400_000),
                    ..Interface::default()
                },
            ),
        ];
        let older = snap(1, &ifs, &[("eth0", 0), ("eth1", 0)]);
        let newer = snap(11, &ifs, &[("eth0", 10), ("eth1", 10_000)]);
        let host = HostFacts::default();
        let w = Window::new(&older, &newer, &host);
        let l = resolve_link(w.as_ref(), &newer, &Options::default());
        assert_eq!((l.value, l.iface()), (1.0, Some("eth1")));
        // Without a window: the fastest up NIC.
        let l = resolve_link(None, &newer, &Options::default());
        assert_eq!((l.value, l.iface()), (10.0, Some("eth0")));
    }

    #[test]
    fn link_speed_from_ethtool_when_sysfs_has_none() {
        let mut s = snap(1, &[("eth0", nic(None, "up"))], &[]);
        let e = Ethtool {
            link: Source::Ok(LinkInfo {
                speed_mbps: Some(25_000),
                ..LinkInfo::default()
            }),
            ..Ethtool::default()
        };
        s.ethtool = Source::Ok(EthtoolAll::from([("eth0".to_string(), e)]));
        let l = resolve_link(None, &s, &Options::default());
        assert_eq!((l.value, l.iface()), (25.0, Some("eth0")));
    }

    #[test]
    fn link_flag_when_nothing_is_measured_then_default() {
        // A virtual NIC reports no speed.
        let s = snap(1, &[("eth0", nic(None, "up"))], &[]);
        let l = resolve_link(None, &s, &flags(Some(25.0), None));
        assert_eq!((l.value, l.source), (25.0, LinkSource::Flag));
        for bad in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ] {
            let l = resolve_link(None, &s, &flags(bad, None));
            assert_eq!(
                (l.value, l.source),
                (t::DEFAULT_LINK_GBPS, LinkSource::Default)
            );
            assert_eq!(l.known(), None);
            assert_eq!(l.iface(), None);
        }
    }

    fn with_rtt(samples: u64, median_us: Option<u32>) -> Snapshot {
        let mut s = Snapshot::empty(1);
        let mut sockets = Sockets::default();
        sockets.rtt.remote = RttStats {
            samples,
            median_us,
            p90_us: median_us,
        };
        s.sockets = Source::Ok(sockets);
        s
    }

    #[test]
    fn rtt_measured_wins_over_the_flag_then_flag_then_default() {
        let s = with_rtt(12, Some(20_000));
        let r = resolve_rtt(&s, &flags(None, Some(50.0)));
        assert_eq!(
            (r.value, r.source),
            (20.0, RttSource::Measured { samples: 12 })
        );
        assert_eq!(r.known(), Some(20.0));
        // Too few sockets to trust: the flag.
        let s = with_rtt(t::BDP_MIN_RTT_SAMPLES - 1, Some(20_000));
        let r = resolve_rtt(&s, &flags(None, Some(50.0)));
        assert_eq!((r.value, r.source), (50.0, RttSource::Flag));
        // Neither: the default, which rules do not use.
        let r = resolve_rtt(&with_rtt(12, None), &flags(None, Some(-3.0)));
        assert_eq!((r.value, r.source), (t::DEFAULT_RTT_MS, RttSource::Default));
        assert_eq!(r.known(), None);
    }

    #[test]
    fn context_resolves_once_and_link_and_rtt_agrees() {
        let mut s = with_rtt(5, Some(1_000));
        s.interfaces = Source::Ok(BTreeMap::from([(
            "eth0".to_string(),
            nic(Some(40_000), "up"),
        )]));
        let host = HostFacts::default();
        let o = flags(Some(1.0), Some(100.0));
        let ctx = Context::new(None, &s, &host, &o, None);
        assert_eq!(ctx.link().iface(), Some("eth0"));
        assert_eq!(ctx.rtt().value, 1.0);
        let (l, r) = link_and_rtt(None, &s, &o);
        assert_eq!((l, r), (ctx.link(), ctx.rtt()));
        // 40 Gbit/s × 1 ms = 5 MB.
        assert_eq!(bdp_bytes(&l, &r), 5_000_000.0);
    }

    /// The defect this module fixes: softnet and tcp disagreed on whether `--link-speed`
    /// overrides a measured speed. Now both size by the measured 10 Gbit/s eth0.
    #[test]
    fn softnet_and_tcp_size_by_the_same_link() {
        use crate::diagnose::testkit::{iface, only, rx, Fx};
        use crate::diagnose::{diagnose, ids};
        let mut fx = Fx::new(2);
        let mut eth = iface(InterfaceKind::Physical, 2);
        eth.speed_mbps = Some(10_000);
        eth.operstate = Some("up".into());
        fx.softnet(&[(0, 20_000.0, 5.0, 0.0), (1, 20_000.0, 0.0, 0.0)])
            .netdev("eth0", rx(40_000.0))
            .iface("eth0", eth)
            .sysctl("net.core.netdev_max_backlog", "1000")
            .sysctl("net.ipv4.tcp_rmem", "4096 131072 6291456")
            .sysctl("net.core.rmem_max", "212992");
        fx.options = flags(Some(1.0), Some(50.0));
        let f = diagnose(&fx.context(None));
        let backlog = only(&f, ids::SOFTNET_BACKLOG_DROPS);
        assert!(
            backlog.detail.contains("10 Gbit/s (eth0 link)"),
            "{}",
            backlog.detail
        );
        let bdp = only(&f, ids::TCP_BUFFER_BELOW_BDP);
        let speed = bdp
            .evidence
            .iter()
            .find(|e| e.metric == "link.speed")
            .unwrap();
        assert_eq!(
            (speed.scope.as_str(), speed.value),
            ("eth0 link speed", 10.0)
        );
        // Nothing measured the RTT, so --rtt gives it: 10 Gbit/s x 50 ms.
        let b = bdp.evidence.iter().find(|e| e.metric == "tcp.bdp").unwrap();
        assert_eq!(b.value, 62_500_000.0);
    }

    #[test]
    fn intents_parse_by_name_and_say_what_they_want() {
        for i in Intent::ALL {
            assert_eq!(i.as_str().parse::<Intent>(), Ok(i));
        }
        assert_eq!(Intent::default(), Intent::Balanced);
        let e = "fast".parse::<Intent>().unwrap_err().to_string();
        assert!(
            e.contains("\"fast\"") && e.contains("balanced, throughput, bulk, latency"),
            "{e}"
        );
        assert!(Intent::Throughput.moves_bulk() && Intent::Bulk.moves_bulk());
        assert!(!Intent::Balanced.moves_bulk() && !Intent::Latency.moves_bulk());
    }
}
