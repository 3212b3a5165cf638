//! [`Knob`]: one kernel setting a [`Change`] turns, parsed once from the change's kind and
//! target. Everything that depends on which setting it is lives here, in one exhaustive
//! `match` per question, so a new knob kind is a compile error until every question is
//! answered:
//!
//! - where it is read, applied and read back ([`Knob::file`] for procfs/sysfs files,
//!   [`Knob::ethtool_value`] / [`Knob::ethtool_request`] for ethtool netlink), and when a
//!   value read back is the one written ([`Knob::same_value`]);
//! - its copy-paste command with the standard tools ([`Knob::command`]);
//! - how it survives a reboot ([`Knob::persistent`]: a sysctl.d line, a systemd `.link` key
//!   as systemd.link(5) spells it, the `nettune-apply.service` boot plan, or the
//!   application's own configuration);
//! - whether a value lowers it ([`Knob::lowers`]).

use super::ethtool_set::{ChannelsSet, CoalesceSet, FeaturesSet, RingsSet, SetRequest};
use crate::change::{Change, ChangeKind};
use crate::collect::ethtool::Ethtool;
use crate::collect::interfaces::parse_cpu_mask;
use crate::collect::sysctl::{fold_value, key_to_path};
use crate::collect::Source;
use crate::{Error, Result, Root};
use std::fmt;
use std::path::PathBuf;

/// A NIC ring (`ethtool -G` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ring {
    Rx,
    Tx,
    RxMini,
    RxJumbo,
}

impl Ring {
    /// The ethtool name (`rx`, `tx`, `rx-mini`, `rx-jumbo`).
    pub fn name(self) -> &'static str {
        match self {
            Ring::Rx => "rx",
            Ring::Tx => "tx",
            Ring::RxMini => "rx-mini",
            Ring::RxJumbo => "rx-jumbo",
        }
    }

    fn parse(s: &str) -> Option<Ring> {
        Some(match s {
            "rx" => Ring::Rx,
            "tx" => Ring::Tx,
            "rx-mini" => Ring::RxMini,
            "rx-jumbo" => Ring::RxJumbo,
            _ => return None,
        })
    }
}

/// A NIC channel count (`ethtool -L` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Rx,
    Tx,
    Other,
    Combined,
}

impl Channel {
    /// The ethtool name (`rx`, `tx`, `other`, `combined`).
    pub fn name(self) -> &'static str {
        match self {
            Channel::Rx => "rx",
            Channel::Tx => "tx",
            Channel::Other => "other",
            Channel::Combined => "combined",
        }
    }

    fn parse(s: &str) -> Option<Channel> {
        Some(match s {
            "rx" => Channel::Rx,
            "tx" => Channel::Tx,
            "other" => Channel::Other,
            "combined" => Channel::Combined,
            _ => return None,
        })
    }
}

/// An interrupt coalescing parameter (`ethtool -C` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coalesce {
    /// RX interrupt delay (µs).
    RxUsecs,
    /// RX frames per interrupt.
    RxFrames,
    /// TX interrupt delay (µs).
    TxUsecs,
    /// TX frames per interrupt.
    TxFrames,
    /// Adaptive RX coalescing (`on`/`off`).
    AdaptiveRx,
    /// Adaptive TX coalescing (`on`/`off`).
    AdaptiveTx,
}

impl Coalesce {
    /// The ethtool name (`rx-usecs`, `rx-frames`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Coalesce::RxUsecs => "rx-usecs",
            Coalesce::RxFrames => "rx-frames",
            Coalesce::TxUsecs => "tx-usecs",
            Coalesce::TxFrames => "tx-frames",
            Coalesce::AdaptiveRx => "adaptive-rx",
            Coalesce::AdaptiveTx => "adaptive-tx",
        }
    }

    fn parse(s: &str) -> Option<Coalesce> {
        Some(match s {
            "rx-usecs" => Coalesce::RxUsecs,
            "rx-frames" | "rx-max-frames" => Coalesce::RxFrames,
            "tx-usecs" => Coalesce::TxUsecs,
            "tx-frames" | "tx-max-frames" => Coalesce::TxFrames,
            "adaptive-rx" => Coalesce::AdaptiveRx,
            "adaptive-tx" => Coalesce::AdaptiveTx,
            _ => return None,
        })
    }

    fn is_flag(self) -> bool {
        match self {
            Coalesce::AdaptiveRx | Coalesce::AdaptiveTx => true,
            Coalesce::RxUsecs | Coalesce::RxFrames | Coalesce::TxUsecs | Coalesce::TxFrames => {
                false
            }
        }
    }
}

/// One setting a change turns, parsed from its kind and target. Device names are checked to
/// be one path component; queue and IRQ numbers are numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Knob {
    /// A sysctl by dotted name (`net.core.netdev_max_backlog`).
    Sysctl { key: String },
    /// A ring size (descriptors).
    Ring { dev: String, ring: Ring },
    /// A coalescing parameter.
    Coalesce { dev: String, param: Coalesce },
    /// A channel count.
    Channels { dev: String, channel: Channel },
    /// An offload feature by kernel name (`rx-gro`), `on`/`off`.
    Feature { dev: String, name: String },
    /// RPS CPU mask of receive queue `rx-N` (hex mask).
    Rps { dev: String, queue: u32 },
    /// RFS flow count of receive queue `rx-N`.
    Rfs { dev: String, queue: u32 },
    /// XPS CPU mask of transmit queue `tx-N` (hex mask).
    Xps { dev: String, queue: u32 },
    /// Affinity of IRQ N (CPU list).
    IrqAffinity { irq: u32 },
    /// Root qdisc of a device.
    Qdisc { dev: String },
    /// MTU (bytes).
    Mtu { dev: String },
    /// Transmit queue length (packets).
    Txqueuelen { dev: String },
    /// Something only the application (or the operator) can change; `target` names it.
    Advice { target: String },
}

/// How a change survives a reboot, in the ecosystem's own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistent {
    /// A `key = value` line of `/etc/sysctl.d/60-nettune.conf`.
    SysctlD { key: String, value: String },
    /// A `[Link]` setting of the systemd `.link` file of `iface` (systemd.link(5) key).
    Link {
        iface: String,
        key: &'static str,
        value: String,
    },
    /// An entry of the boot plan that `nettune-apply.service` applies; `what` names the
    /// device or IRQ.
    BootPlan { what: String },
    /// The application's own configuration (advice; nettune does not persist it).
    Application,
}

impl fmt::Display for Persistent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Persistent::SysctlD { key, value } => {
                write!(f, "/etc/sysctl.d/60-nettune.conf: {key} = {value}")
            }
            Persistent::Link { key, value, .. } => write!(f, "systemd .link [Link] {key}={value}"),
            Persistent::BootPlan { what } => write!(f, "nettune-apply.service (for {what})"),
            Persistent::Application => f.write_str("application configuration"),
        }
    }
}

/// Sysctls where a lower value is the intended fix (timeouts, retry counts).
const LOWER_IS_FIX: &[&str] = &[
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_retries2",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_orphan_retries",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
];

/// Sysctls whose numbers are modes, not sizes (`tcp_tw_reuse` 2 → 1 is not "lowering").
const MODES: &[&str] = &[
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_ecn",
    "net.ipv4.tcp_mtu_probing",
];

/// Offload features systemd.link(5) can set, by kernel feature name → `[Link]` key (the
/// names of systemd's `ethtool-util.c` feature table).
const LINK_FEATURES: &[(&str, &str)] = &[
    ("rx-checksum", "ReceiveChecksumOffload"),
    ("tx-generic-segmentation", "GenericSegmentationOffload"),
    ("tx-tcp-segmentation", "TCPSegmentationOffload"),
    ("tx-tcp6-segmentation", "TCP6SegmentationOffload"),
    ("rx-gro", "GenericReceiveOffload"),
    ("rx-gro-hw", "GenericReceiveOffloadHardware"),
    ("rx-lro", "LargeReceiveOffload"),
    ("rx-vlan-hw-parse", "ReceiveVLANCTAGHardwareAcceleration"),
    ("tx-vlan-hw-insert", "TransmitVLANCTAGHardwareAcceleration"),
    ("rx-vlan-filter", "ReceiveVLANCTAGFilter"),
    (
        "tx-vlan-stag-hw-insert",
        "TransmitVLANSTAGHardwareAcceleration",
    ),
    ("rx-ntuple-filter", "NTupleFilter"),
];

fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0', ' '])
}

/// `on`/`off` (and the spellings the kernel and systemd print) as a flag.
pub(crate) fn on_off(v: &str) -> Option<bool> {
    match v.trim() {
        "on" | "1" | "true" | "yes" => Some(true),
        "off" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

fn flag(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

fn yes_no(v: &str) -> String {
    if on_off(v) == Some(true) { "yes" } else { "no" }.to_string()
}

/// The largest number in a value (`4096 131072 6291456` → 6291456); `None` if any field is
/// not a number.
pub(crate) fn max_field(v: &str) -> Option<i128> {
    let mut max = None;
    for t in v.split_ascii_whitespace() {
        let n: i128 = t.parse().ok()?;
        max = Some(max.map_or(n, |m: i128| m.max(n)));
    }
    max
}

/// Parse a CPU list (`0-3,8`, `1`) with the one cpulist parser; an empty or malformed list
/// is `None` (an IRQ affinity names at least one CPU).
fn cpu_list(text: &str) -> Option<Vec<u32>> {
    crate::collect::cpulist::parse(text).filter(|cpus| !cpus.is_empty())
}

impl Knob {
    /// The knob a change turns. A target that does not fit its kind is [`Error::Input`]
    /// naming it.
    pub fn parse(c: &Change) -> Result<Knob> {
        Knob::new(c.kind, &c.target)
    }

    /// The knob of `kind` named by `target` (see [`ChangeKind`] for each kind's form).
    pub fn new(kind: ChangeKind, target: &str) -> Result<Knob> {
        let bad = |want: &str| Error::Input(format!("{kind} target {target:?}: expected {want}"));
        let dev_only = || -> Result<String> {
            let dev = target.trim();
            if safe_component(dev) {
                Ok(dev.to_string())
            } else {
                Err(bad("`IFACE` (an interface name)"))
            }
        };
        // `IFACE FIELD`, exactly two words.
        let dev_field = |want: &str| -> Result<(String, &str)> {
            let mut it = target.split_ascii_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some(dev), Some(field), None) if safe_component(dev) => {
                    Ok((dev.to_string(), field))
                }
                _ => Err(bad(want)),
            }
        };
        let queue = |prefix: &str| -> Result<(String, u32)> {
            let want = format!("`IFACE {prefix}N`");
            let (dev, q) = dev_field(&want)?;
            let n = q
                .strip_prefix(prefix)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad(&want))?;
            Ok((dev, n))
        };
        Ok(match kind {
            ChangeKind::Sysctl => {
                let k = target.trim();
                if k.is_empty() || k.contains(['*', '?', '[', ' ', '\t', '\0']) || k.contains("..")
                {
                    return Err(Error::Input(format!("invalid sysctl name {target:?}")));
                }
                Knob::Sysctl { key: k.to_string() }
            }
            ChangeKind::Ring => {
                let (dev, f) = dev_field("`IFACE rx|tx|rx-mini|rx-jumbo`")?;
                let ring = Ring::parse(f).ok_or_else(|| bad("`IFACE rx|tx|rx-mini|rx-jumbo`"))?;
                Knob::Ring { dev, ring }
            }
            ChangeKind::Coalesce => {
                let want = "`IFACE rx-usecs|rx-frames|tx-usecs|tx-frames|adaptive-rx|adaptive-tx`";
                let (dev, f) = dev_field(want)?;
                let param = Coalesce::parse(f).ok_or_else(|| bad(want))?;
                Knob::Coalesce { dev, param }
            }
            ChangeKind::Channels => {
                let want = "`IFACE rx|tx|other|combined`";
                let (dev, f) = dev_field(want)?;
                let channel = Channel::parse(f).ok_or_else(|| bad(want))?;
                Knob::Channels { dev, channel }
            }
            ChangeKind::Feature => {
                let (dev, f) = dev_field("`IFACE FEATURE`")?;
                Knob::Feature {
                    dev,
                    name: f.to_string(),
                }
            }
            ChangeKind::Rps => {
                let (dev, queue) = queue("rx-")?;
                Knob::Rps { dev, queue }
            }
            ChangeKind::Rfs => {
                let (dev, queue) = queue("rx-")?;
                Knob::Rfs { dev, queue }
            }
            ChangeKind::Xps => {
                let (dev, queue) = queue("tx-")?;
                Knob::Xps { dev, queue }
            }
            ChangeKind::IrqAffinity => {
                let n = target.trim().trim_start_matches("irq").trim();
                let irq = n
                    .parse()
                    .ok()
                    .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad("`irq N`"))?;
                Knob::IrqAffinity { irq }
            }
            ChangeKind::Qdisc => Knob::Qdisc { dev: dev_only()? },
            ChangeKind::Mtu => Knob::Mtu { dev: dev_only()? },
            ChangeKind::Txqueuelen => Knob::Txqueuelen { dev: dev_only()? },
            ChangeKind::Advice => Knob::Advice {
                target: target.to_string(),
            },
        })
    }

    /// The change kind this knob belongs to.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Knob::Sysctl { .. } => ChangeKind::Sysctl,
            Knob::Ring { .. } => ChangeKind::Ring,
            Knob::Coalesce { .. } => ChangeKind::Coalesce,
            Knob::Channels { .. } => ChangeKind::Channels,
            Knob::Feature { .. } => ChangeKind::Feature,
            Knob::Rps { .. } => ChangeKind::Rps,
            Knob::Rfs { .. } => ChangeKind::Rfs,
            Knob::Xps { .. } => ChangeKind::Xps,
            Knob::IrqAffinity { .. } => ChangeKind::IrqAffinity,
            Knob::Qdisc { .. } => ChangeKind::Qdisc,
            Knob::Mtu { .. } => ChangeKind::Mtu,
            Knob::Txqueuelen { .. } => ChangeKind::Txqueuelen,
            Knob::Advice { .. } => ChangeKind::Advice,
        }
    }

    /// The interface the knob is on, if it is on one.
    pub fn dev(&self) -> Option<&str> {
        match self {
            Knob::Ring { dev, .. }
            | Knob::Coalesce { dev, .. }
            | Knob::Channels { dev, .. }
            | Knob::Feature { dev, .. }
            | Knob::Rps { dev, .. }
            | Knob::Rfs { dev, .. }
            | Knob::Xps { dev, .. }
            | Knob::Qdisc { dev }
            | Knob::Mtu { dev }
            | Knob::Txqueuelen { dev } => Some(dev),
            Knob::Sysctl { .. } | Knob::IrqAffinity { .. } | Knob::Advice { .. } => None,
        }
    }

    /// The canonical target text (`eth0 rx`, `irq 24`, `net.core.somaxconn`).
    pub fn target(&self) -> String {
        match self {
            Knob::Sysctl { key } => key.clone(),
            Knob::Ring { dev, ring } => format!("{dev} {}", ring.name()),
            Knob::Coalesce { dev, param } => format!("{dev} {}", param.name()),
            Knob::Channels { dev, channel } => format!("{dev} {}", channel.name()),
            Knob::Feature { dev, name } => format!("{dev} {name}"),
            Knob::Rps { dev, queue } | Knob::Rfs { dev, queue } => format!("{dev} rx-{queue}"),
            Knob::Xps { dev, queue } => format!("{dev} tx-{queue}"),
            Knob::IrqAffinity { irq } => format!("irq {irq}"),
            Knob::Qdisc { dev } | Knob::Mtu { dev } | Knob::Txqueuelen { dev } => dev.clone(),
            Knob::Advice { target } => target.clone(),
        }
    }

    /// The procfs/sysfs file that holds the knob under `root`, for knobs that are a file
    /// (`None` for ethtool knobs, the qdisc and advice).
    pub fn file(&self, root: &Root) -> Option<PathBuf> {
        let queue = |dev: &str, q: String, file: &str| {
            root.sys
                .join("class/net")
                .join(dev)
                .join("queues")
                .join(q)
                .join(file)
        };
        let net = |dev: &str, file: &str| root.sys.join("class/net").join(dev).join(file);
        match self {
            Knob::Sysctl { key } => Some(key_to_path(root, key)),
            Knob::Rps { dev, queue: q } => Some(queue(dev, format!("rx-{q}"), "rps_cpus")),
            Knob::Rfs { dev, queue: q } => Some(queue(dev, format!("rx-{q}"), "rps_flow_cnt")),
            Knob::Xps { dev, queue: q } => Some(queue(dev, format!("tx-{q}"), "xps_cpus")),
            Knob::IrqAffinity { irq } => Some(
                root.proc
                    .join("irq")
                    .join(irq.to_string())
                    .join("smp_affinity_list"),
            ),
            Knob::Mtu { dev } => Some(net(dev, "mtu")),
            Knob::Txqueuelen { dev } => Some(net(dev, "tx_queue_len")),
            Knob::Ring { .. }
            | Knob::Coalesce { .. }
            | Knob::Channels { .. }
            | Knob::Feature { .. }
            | Knob::Qdisc { .. }
            | Knob::Advice { .. } => None,
        }
    }

    /// The value of an ethtool knob now in `view`, as nettune writes it (a number, or
    /// `on`/`off`). A part or field the device does not report is [`Error::Unsupported`];
    /// so is a knob that is not an ethtool one.
    pub fn ethtool_value(&self, view: &Ethtool) -> Result<String> {
        fn part<'a, T>(s: &'a Source<T>, what: &str, dev: &str) -> Result<&'a T> {
            match s {
                Source::Ok(v) => Ok(v),
                Source::Unsupported { unsupported: r } => {
                    Err(Error::Unsupported(format!("{what} of {dev}: {r}")))
                }
                Source::Error { error: r } => Err(Error::Netlink {
                    what: format!("ethtool {what} of {dev}"),
                    detail: r.clone(),
                }),
            }
        }
        let missing = |dev: &str, what: &str| {
            Error::Unsupported(format!("{dev} does not report {what}; it cannot be set"))
        };
        let num = |v: Option<u32>, dev: &str, what: &str| {
            v.map(|n| n.to_string()).ok_or_else(|| missing(dev, what))
        };
        match self {
            Knob::Ring { dev, ring } => {
                let r = part(&view.rings, "rings", dev)?;
                let v = match ring {
                    Ring::Rx => r.rx,
                    Ring::Tx => r.tx,
                    Ring::RxMini => r.rx_mini,
                    Ring::RxJumbo => r.rx_jumbo,
                };
                num(v, dev, &format!("an {} ring", ring.name()))
            }
            Knob::Channels { dev, channel } => {
                let c = part(&view.channels, "channels", dev)?;
                let v = match channel {
                    Channel::Rx => c.rx,
                    Channel::Tx => c.tx,
                    Channel::Other => c.other,
                    Channel::Combined => c.combined,
                };
                num(v, dev, &format!("{} channels", channel.name()))
            }
            Knob::Coalesce { dev, param } => {
                let c = part(&view.coalesce, "coalescing", dev)?;
                let b = |v: Option<bool>| v.map(flag).ok_or_else(|| missing(dev, param.name()));
                match param {
                    Coalesce::RxUsecs => num(c.rx_usecs, dev, param.name()),
                    Coalesce::RxFrames => num(c.rx_max_frames, dev, param.name()),
                    Coalesce::TxUsecs => num(c.tx_usecs, dev, param.name()),
                    Coalesce::TxFrames => num(c.tx_max_frames, dev, param.name()),
                    Coalesce::AdaptiveRx => b(c.use_adaptive_rx),
                    Coalesce::AdaptiveTx => b(c.use_adaptive_tx),
                }
            }
            Knob::Feature { dev, name } => {
                let f = part(&view.features, "features", dev)?;
                // Absent features are off and fixed (see `Features`).
                Ok(flag(f.get(name).is_some_and(|f| f.active)))
            }
            Knob::Sysctl { .. }
            | Knob::Rps { .. }
            | Knob::Rfs { .. }
            | Knob::Xps { .. }
            | Knob::IrqAffinity { .. }
            | Knob::Qdisc { .. }
            | Knob::Mtu { .. }
            | Knob::Txqueuelen { .. }
            | Knob::Advice { .. } => Err(Error::Unsupported(format!(
                "{} {}: not an ethtool setting",
                self.kind(),
                self.target()
            ))),
        }
    }

    /// The ethtool SET request that writes `value` (a number, or `on`/`off` for flags).
    /// A value of the wrong form is [`Error::Input`].
    pub fn ethtool_request(&self, value: &str) -> Result<SetRequest> {
        let bad = |want: &str| {
            Error::Input(format!(
                "{} {}: value {value:?} is not {want}",
                self.kind(),
                self.target()
            ))
        };
        let n = || value.trim().parse::<u32>().map_err(|_| bad("a number"));
        let b = || on_off(value).ok_or_else(|| bad("on or off"));
        Ok(match self {
            Knob::Ring { ring, .. } => {
                let mut s = RingsSet::default();
                let slot = match ring {
                    Ring::Rx => &mut s.rx,
                    Ring::Tx => &mut s.tx,
                    Ring::RxMini => &mut s.rx_mini,
                    Ring::RxJumbo => &mut s.rx_jumbo,
                };
                *slot = Some(n()?);
                SetRequest::Rings(s)
            }
            Knob::Channels { channel, .. } => {
                let mut s = ChannelsSet::default();
                let slot = match channel {
                    Channel::Rx => &mut s.rx,
                    Channel::Tx => &mut s.tx,
                    Channel::Other => &mut s.other,
                    Channel::Combined => &mut s.combined,
                };
                *slot = Some(n()?);
                SetRequest::Channels(s)
            }
            Knob::Coalesce { param, .. } => {
                let mut s = CoalesceSet::default();
                match param {
                    Coalesce::RxUsecs => s.rx_usecs = Some(n()?),
                    Coalesce::RxFrames => s.rx_max_frames = Some(n()?),
                    Coalesce::TxUsecs => s.tx_usecs = Some(n()?),
                    Coalesce::TxFrames => s.tx_max_frames = Some(n()?),
                    Coalesce::AdaptiveRx => s.use_adaptive_rx = Some(b()?),
                    Coalesce::AdaptiveTx => s.use_adaptive_tx = Some(b()?),
                }
                SetRequest::Coalesce(s)
            }
            Knob::Feature { name, .. } => {
                SetRequest::Features(FeaturesSet(vec![(name.clone(), b()?)]))
            }
            Knob::Sysctl { .. }
            | Knob::Rps { .. }
            | Knob::Rfs { .. }
            | Knob::Xps { .. }
            | Knob::IrqAffinity { .. }
            | Knob::Qdisc { .. }
            | Knob::Mtu { .. }
            | Knob::Txqueuelen { .. }
            | Knob::Advice { .. } => {
                return Err(Error::Unsupported(format!(
                    "{} {}: not an ethtool setting",
                    self.kind(),
                    self.target()
                )))
            }
        })
    }

    /// Whether the value read back (`actual`) is what was written (`wanted`): whitespace-
    /// folded text equality, CPU sets for masks and lists, flags for on/off values, numbers
    /// for numbers (written with a sign or leading zeros, read back plainly).
    pub fn same_value(&self, wanted: &str, actual: &str) -> bool {
        let (w, a) = (fold_value(wanted), fold_value(actual));
        if w == a {
            return true;
        }
        let numbers = || {
            let nums = |s: &str| -> Option<Vec<i128>> {
                s.split_ascii_whitespace().map(|t| t.parse().ok()).collect()
            };
            matches!((nums(&w), nums(&a)), (Some(x), Some(y)) if x == y)
        };
        let flags = || matches!((on_off(&w), on_off(&a)), (Some(x), Some(y)) if x == y);
        match self {
            Knob::Rps { .. } | Knob::Xps { .. } => {
                matches!((parse_cpu_mask(&w), parse_cpu_mask(&a)), (Some(x), Some(y)) if x == y)
            }
            Knob::IrqAffinity { .. } => {
                matches!((cpu_list(&w), cpu_list(&a)), (Some(x), Some(y)) if x == y)
            }
            Knob::Feature { .. } => flags(),
            Knob::Coalesce { param, .. } if param.is_flag() => flags(),
            Knob::Coalesce { .. }
            | Knob::Sysctl { .. }
            | Knob::Ring { .. }
            | Knob::Channels { .. }
            | Knob::Rfs { .. }
            | Knob::Qdisc { .. }
            | Knob::Mtu { .. }
            | Knob::Txqueuelen { .. }
            | Knob::Advice { .. } => numbers(),
        }
    }

    /// The change to `value` as a copy-paste shell command with the standard tools (for
    /// the operator; nettune itself never shells out).
    pub fn command(&self, value: &str) -> String {
        let p = value;
        match self {
            Knob::Sysctl { key } => format!("sysctl -w {key}=\"{p}\""),
            Knob::Ring { dev, ring } => format!("ethtool -G {dev} {} {p}", ring.name()),
            Knob::Coalesce { dev, param } => format!("ethtool -C {dev} {} {p}", param.name()),
            Knob::Channels { dev, channel } => {
                format!("ethtool -L {dev} {} {p}", channel.name())
            }
            Knob::Feature { dev, name } => format!("ethtool -K {dev} {name} {p}"),
            Knob::Rps { dev, queue } => {
                format!("echo {p} > /sys/class/net/{dev}/queues/rx-{queue}/rps_cpus")
            }
            Knob::Rfs { dev, queue } => {
                format!("echo {p} > /sys/class/net/{dev}/queues/rx-{queue}/rps_flow_cnt")
            }
            Knob::Xps { dev, queue } => {
                format!("echo {p} > /sys/class/net/{dev}/queues/tx-{queue}/xps_cpus")
            }
            Knob::IrqAffinity { irq } => format!("echo {p} > /proc/irq/{irq}/smp_affinity_list"),
            Knob::Qdisc { dev } => format!("tc qdisc replace dev {dev} root {p}"),
            Knob::Mtu { dev } => format!("ip link set dev {dev} mtu {p}"),
            Knob::Txqueuelen { dev } => format!("ip link set dev {dev} txqueuelen {p}"),
            Knob::Advice { target } => format!("# {target}: {p}"),
        }
    }

    /// The systemd.link(5) `[Link]` key and value that set the knob to `value` at boot, when
    /// systemd can express it.
    pub fn link_setting(&self, value: &str) -> Option<(&'static str, String)> {
        let v = value.trim();
        let plain = |key: &'static str| Some((key, v.to_string()));
        match self {
            Knob::Ring { ring, .. } => plain(match ring {
                Ring::Rx => "RxBufferSize",
                Ring::Tx => "TxBufferSize",
                Ring::RxMini => "RxMiniBufferSize",
                Ring::RxJumbo => "RxJumboBufferSize",
            }),
            Knob::Channels { channel, .. } => plain(match channel {
                Channel::Rx => "RxChannels",
                Channel::Tx => "TxChannels",
                Channel::Other => "OtherChannels",
                Channel::Combined => "CombinedChannels",
            }),
            // Times are systemd time spans: a bare number would be seconds.
            Knob::Coalesce { param, .. } => match param {
                Coalesce::RxUsecs => Some(("RxCoalesceSec", format!("{v}us"))),
                Coalesce::TxUsecs => Some(("TxCoalesceSec", format!("{v}us"))),
                Coalesce::RxFrames => plain("RxMaxCoalescedFrames"),
                Coalesce::TxFrames => plain("TxMaxCoalescedFrames"),
                Coalesce::AdaptiveRx => Some(("UseAdaptiveRxCoalesce", yes_no(v))),
                Coalesce::AdaptiveTx => Some(("UseAdaptiveTxCoalesce", yes_no(v))),
            },
            Knob::Feature { name, .. } => LINK_FEATURES
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, key)| (*key, yes_no(v))),
            Knob::Mtu { .. } => plain("MTUBytes"),
            Knob::Txqueuelen { .. } => plain("TransmitQueueLength"),
            Knob::Sysctl { .. }
            | Knob::Rps { .. }
            | Knob::Rfs { .. }
            | Knob::Xps { .. }
            | Knob::IrqAffinity { .. }
            | Knob::Qdisc { .. }
            | Knob::Advice { .. } => None,
        }
    }

    /// How setting the knob to `value` survives a reboot.
    pub fn persistent(&self, value: &str) -> Persistent {
        if let (Some(dev), Some((key, value))) = (self.dev(), self.link_setting(value)) {
            return Persistent::Link {
                iface: dev.to_string(),
                key,
                value,
            };
        }
        match self {
            Knob::Sysctl { key } => Persistent::SysctlD {
                key: key.clone(),
                value: fold_value(value),
            },
            Knob::Advice { .. } => Persistent::Application,
            Knob::IrqAffinity { irq } => Persistent::BootPlan {
                what: format!("irq {irq}"),
            },
            Knob::Ring { dev, .. }
            | Knob::Coalesce { dev, .. }
            | Knob::Channels { dev, .. }
            | Knob::Feature { dev, .. }
            | Knob::Rps { dev, .. }
            | Knob::Rfs { dev, .. }
            | Knob::Xps { dev, .. }
            | Knob::Qdisc { dev }
            | Knob::Mtu { dev }
            | Knob::Txqueuelen { dev } => Persistent::BootPlan { what: dev.clone() },
        }
    }

    /// Whether `proposed` lowers a size (sysctl, ring, channels, RFS flows, queue length)
    /// below `current`. Timeouts and retry counts (where lower is the fix), modes, 0/1
    /// switches, masks and flags are not sizes.
    pub fn lowers(&self, current: &str, proposed: &str) -> bool {
        let sizes = match self {
            Knob::Sysctl { key } => {
                !(LOWER_IS_FIX.contains(&key.as_str()) || MODES.contains(&key.as_str()))
            }
            Knob::Ring { .. }
            | Knob::Channels { .. }
            | Knob::Rfs { .. }
            | Knob::Txqueuelen { .. } => true,
            Knob::Coalesce { .. }
            | Knob::Feature { .. }
            | Knob::Rps { .. }
            | Knob::Xps { .. }
            | Knob::IrqAffinity { .. }
            | Knob::Qdisc { .. }
            | Knob::Mtu { .. }
            | Knob::Advice { .. } => false,
        };
        matches!(
            (sizes, max_field(current), max_field(proposed.trim())),
            (true, Some(cur), Some(new)) if new < cur && cur > 1
        )
    }
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.target())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(kind: ChangeKind, target: &str) -> Knob {
        Knob::new(kind, target).unwrap()
    }

    /// One valid target per kind (every kind is listed: the match makes a new kind a
    /// compile error here too).
    fn sample(kind: ChangeKind) -> &'static str {
        match kind {
            ChangeKind::Sysctl => "net.core.somaxconn",
            ChangeKind::Ring => "eth0 rx",
            ChangeKind::Coalesce => "eth0 rx-usecs",
            ChangeKind::Channels => "eth0 combined",
            ChangeKind::Feature => "eth0 rx-gro",
            ChangeKind::Rps => "eth0 rx-3",
            ChangeKind::Rfs => "eth0 rx-0",
            ChangeKind::Xps => "eth0 tx-1",
            ChangeKind::IrqAffinity => "irq 24",
            ChangeKind::Qdisc => "eth0",
            ChangeKind::Mtu => "eth0",
            ChangeKind::Txqueuelen => "eth0",
            ChangeKind::Advice => "listen() backlog of :80",
        }
    }

    const KINDS: [ChangeKind; 13] = [
        ChangeKind::Sysctl,
        ChangeKind::Ring,
        ChangeKind::Coalesce,
        ChangeKind::Channels,
        ChangeKind::Feature,
        ChangeKind::Rps,
        ChangeKind::Rfs,
        ChangeKind::Xps,
        ChangeKind::IrqAffinity,
        ChangeKind::Qdisc,
        ChangeKind::Mtu,
        ChangeKind::Txqueuelen,
        ChangeKind::Advice,
    ];

    #[test]
    fn every_kind_parses_and_round_trips_its_target() {
        for kind in KINDS {
            let t = sample(kind);
            let knob = k(kind, t);
            assert_eq!(knob.kind(), kind);
            assert_eq!(knob.target(), t, "{kind}");
            assert_eq!(Knob::new(kind, &knob.target()).unwrap(), knob);
            let c = Change::new(kind, t, None, "1");
            assert_eq!(Knob::parse(&c).unwrap(), knob);
        }
        // Aliases parse to the canonical field.
        assert_eq!(
            k(ChangeKind::Coalesce, "eth0 rx-max-frames").target(),
            "eth0 rx-frames"
        );
        assert_eq!(k(ChangeKind::IrqAffinity, " irq  7 ").target(), "irq 7");
    }

    #[test]
    fn bad_targets_are_input_errors_naming_them() {
        let bad: &[(ChangeKind, &str)] = &[
            (ChangeKind::Sysctl, ""),
            (ChangeKind::Sysctl, "net..x"),
            (ChangeKind::Sysctl, "net.core.*"),
            (ChangeKind::Ring, "eth0 sideways"),
            (ChangeKind::Ring, "eth0"),
            (ChangeKind::Ring, "../x rx"),
            (ChangeKind::Ring, "eth0 rx extra"),
            (ChangeKind::Coalesce, "eth0 rx-sometimes"),
            (ChangeKind::Channels, "eth0 many"),
            (ChangeKind::Feature, "eth0"),
            (ChangeKind::Rps, "eth0 tx-0"),
            (ChangeKind::Rps, "eth0 rx-"),
            (ChangeKind::Rps, "../x rx-0"),
            (ChangeKind::Rfs, "eth0 rx-a"),
            (ChangeKind::Xps, "eth0 rx-0"),
            (ChangeKind::IrqAffinity, "irq 2/../x"),
            (ChangeKind::IrqAffinity, "irq"),
            (ChangeKind::Qdisc, ""),
            (ChangeKind::Mtu, ".."),
            (ChangeKind::Txqueuelen, "a/b"),
        ];
        for (kind, target) in bad {
            match Knob::new(*kind, target) {
                Err(Error::Input(msg)) => {
                    assert!(msg.contains(&format!("{target:?}")), "{kind}: {msg}")
                }
                other => panic!("{kind} {target:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn commands_per_kind() {
        let want: &[(ChangeKind, &str, &str)] = &[
            (
                ChangeKind::Sysctl,
                "4096",
                "sysctl -w net.core.somaxconn=\"4096\"",
            ),
            (ChangeKind::Ring, "4096", "ethtool -G eth0 rx 4096"),
            (ChangeKind::Coalesce, "64", "ethtool -C eth0 rx-usecs 64"),
            (ChangeKind::Channels, "8", "ethtool -L eth0 combined 8"),
            (ChangeKind::Feature, "on", "ethtool -K eth0 rx-gro on"),
            (
                ChangeKind::Rps,
                "f",
                "echo f > /sys/class/net/eth0/queues/rx-3/rps_cpus",
            ),
            (
                ChangeKind::Rfs,
                "4096",
                "echo 4096 > /sys/class/net/eth0/queues/rx-0/rps_flow_cnt",
            ),
            (
                ChangeKind::Xps,
                "2",
                "echo 2 > /sys/class/net/eth0/queues/tx-1/xps_cpus",
            ),
            (
                ChangeKind::IrqAffinity,
                "0-3",
                "echo 0-3 > /proc/irq/24/smp_affinity_list",
            ),
            (ChangeKind::Qdisc, "fq", "tc qdisc replace dev eth0 root fq"),
            (ChangeKind::Mtu, "9000", "ip link set dev eth0 mtu 9000"),
            (
                ChangeKind::Txqueuelen,
                "10000",
                "ip link set dev eth0 txqueuelen 10000",
            ),
            (
                ChangeKind::Advice,
                "raise it",
                "# listen() backlog of :80: raise it",
            ),
        ];
        assert_eq!(want.len(), KINDS.len());
        for (kind, value, cmd) in want {
            assert_eq!(k(*kind, sample(*kind)).command(value), *cmd);
        }
    }

    #[test]
    fn persistent_forms_per_kind() {
        let want: &[(ChangeKind, &str, &str)] = &[
            (
                ChangeKind::Sysctl,
                "4096\t131072  6291456",
                "/etc/sysctl.d/60-nettune.conf: net.core.somaxconn = 4096 131072 6291456",
            ),
            (
                ChangeKind::Ring,
                "4096",
                "systemd .link [Link] RxBufferSize=4096",
            ),
            (
                ChangeKind::Coalesce,
                "64",
                "systemd .link [Link] RxCoalesceSec=64us",
            ),
            (
                ChangeKind::Channels,
                "8",
                "systemd .link [Link] CombinedChannels=8",
            ),
            (
                ChangeKind::Feature,
                "on",
                "systemd .link [Link] GenericReceiveOffload=yes",
            ),
            (ChangeKind::Rps, "f", "nettune-apply.service (for eth0)"),
            (ChangeKind::Rfs, "4096", "nettune-apply.service (for eth0)"),
            (ChangeKind::Xps, "2", "nettune-apply.service (for eth0)"),
            (
                ChangeKind::IrqAffinity,
                "0-3",
                "nettune-apply.service (for irq 24)",
            ),
            (ChangeKind::Qdisc, "fq", "nettune-apply.service (for eth0)"),
            (
                ChangeKind::Mtu,
                "9000",
                "systemd .link [Link] MTUBytes=9000",
            ),
            (
                ChangeKind::Txqueuelen,
                "10000",
                "systemd .link [Link] TransmitQueueLength=10000",
            ),
            (ChangeKind::Advice, "raise it", "application configuration"),
        ];
        assert_eq!(want.len(), KINDS.len());
        for (kind, value, form) in want {
            assert_eq!(
                k(*kind, sample(*kind)).persistent(value).to_string(),
                *form,
                "{kind}"
            );
        }
        // A feature systemd has no key for goes to the boot plan.
        assert_eq!(
            k(ChangeKind::Feature, "eth0 rx-udp-gro-forwarding").persistent("on"),
            Persistent::BootPlan {
                what: "eth0".into()
            }
        );
    }

    /// Every `[Link]` key nettune writes, as systemd.link(5) (systemd's
    /// `link-config-gperf.gperf`) spells it.
    #[test]
    fn link_keys_are_systemds() {
        let want: &[(ChangeKind, &str, &str, &str)] = &[
            (ChangeKind::Ring, "eth0 rx", "RxBufferSize", "512"),
            (ChangeKind::Ring, "eth0 tx", "TxBufferSize", "512"),
            (ChangeKind::Ring, "eth0 rx-mini", "RxMiniBufferSize", "512"),
            (
                ChangeKind::Ring,
                "eth0 rx-jumbo",
                "RxJumboBufferSize",
                "512",
            ),
            (ChangeKind::Channels, "eth0 rx", "RxChannels", "512"),
            (ChangeKind::Channels, "eth0 tx", "TxChannels", "512"),
            (ChangeKind::Channels, "eth0 other", "OtherChannels", "512"),
            (
                ChangeKind::Channels,
                "eth0 combined",
                "CombinedChannels",
                "512",
            ),
            (
                ChangeKind::Coalesce,
                "eth0 rx-usecs",
                "RxCoalesceSec",
                "512us",
            ),
            (
                ChangeKind::Coalesce,
                "eth0 tx-usecs",
                "TxCoalesceSec",
                "512us",
            ),
            (
                ChangeKind::Coalesce,
                "eth0 rx-frames",
                "RxMaxCoalescedFrames",
                "512",
            ),
            (
                ChangeKind::Coalesce,
                "eth0 tx-frames",
                "TxMaxCoalescedFrames",
                "512",
            ),
            (ChangeKind::Mtu, "eth0", "MTUBytes", "512"),
            (ChangeKind::Txqueuelen, "eth0", "TransmitQueueLength", "512"),
        ];
        for (kind, target, key, value) in want {
            assert_eq!(
                k(*kind, target).link_setting("512"),
                Some((*key, value.to_string())),
                "{kind} {target}"
            );
        }
        let flags: &[(ChangeKind, &str, &str)] = &[
            (
                ChangeKind::Coalesce,
                "eth0 adaptive-rx",
                "UseAdaptiveRxCoalesce",
            ),
            (
                ChangeKind::Coalesce,
                "eth0 adaptive-tx",
                "UseAdaptiveTxCoalesce",
            ),
            (
                ChangeKind::Feature,
                "eth0 rx-checksum",
                "ReceiveChecksumOffload",
            ),
            (
                ChangeKind::Feature,
                "eth0 tx-generic-segmentation",
                "GenericSegmentationOffload",
            ),
            (
                ChangeKind::Feature,
                "eth0 tx-tcp-segmentation",
                "TCPSegmentationOffload",
            ),
            (
                ChangeKind::Feature,
                "eth0 tx-tcp6-segmentation",
                "TCP6SegmentationOffload",
            ),
            (ChangeKind::Feature, "eth0 rx-gro", "GenericReceiveOffload"),
            (
                ChangeKind::Feature,
                "eth0 rx-gro-hw",
                "GenericReceiveOffloadHardware",
            ),
            (ChangeKind::Feature, "eth0 rx-lro", "LargeReceiveOffload"),
            (
                ChangeKind::Feature,
                "eth0 rx-vlan-hw-parse",
                "ReceiveVLANCTAGHardwareAcceleration",
            ),
            (
                ChangeKind::Feature,
                "eth0 tx-vlan-hw-insert",
                "TransmitVLANCTAGHardwareAcceleration",
            ),
            (
                ChangeKind::Feature,
                "eth0 rx-vlan-filter",
                "ReceiveVLANCTAGFilter",
            ),
            (
                ChangeKind::Feature,
                "eth0 tx-vlan-stag-hw-insert",
                "TransmitVLANSTAGHardwareAcceleration",
            ),
            (ChangeKind::Feature, "eth0 rx-ntuple-filter", "NTupleFilter"),
        ];
        for (kind, target, key) in flags {
            let knob = k(*kind, target);
            assert_eq!(knob.link_setting("on"), Some((*key, "yes".into())));
            assert_eq!(knob.link_setting("off"), Some((*key, "no".into())));
        }
        for (kind, target) in [
            (ChangeKind::Sysctl, "net.core.somaxconn"),
            (ChangeKind::Rps, "eth0 rx-0"),
            (ChangeKind::Rfs, "eth0 rx-0"),
            (ChangeKind::Xps, "eth0 tx-0"),
            (ChangeKind::IrqAffinity, "irq 1"),
            (ChangeKind::Qdisc, "eth0"),
            (ChangeKind::Advice, "x"),
            (ChangeKind::Feature, "eth0 tx-checksum-ipv4"),
        ] {
            assert_eq!(k(kind, target).link_setting("1"), None, "{kind} {target}");
        }
    }

    #[test]
    fn lowers_only_sizes() {
        let lowers = |kind, target, cur, new| k(kind, target).lowers(cur, new);
        assert!(lowers(
            ChangeKind::Sysctl,
            "net.core.somaxconn",
            "4096",
            "128"
        ));
        assert!(lowers(
            ChangeKind::Sysctl,
            "net.ipv4.tcp_rmem",
            "4096 131072 6291456",
            "4096 131072 4194304"
        ));
        assert!(!lowers(
            ChangeKind::Sysctl,
            "net.core.somaxconn",
            "128",
            "4096"
        ));
        assert!(!lowers(
            ChangeKind::Sysctl,
            "net.ipv4.tcp_fin_timeout",
            "60",
            "15"
        ));
        assert!(!lowers(
            ChangeKind::Sysctl,
            "net.ipv4.tcp_tw_reuse",
            "2",
            "1"
        ));
        // A 0/1 switch is not a size.
        assert!(!lowers(ChangeKind::Sysctl, "net.ipv4.tcp_sack", "1", "0"));
        assert!(lowers(ChangeKind::Ring, "eth0 rx", "4096", "256"));
        assert!(lowers(ChangeKind::Channels, "eth0 combined", "8", "2"));
        assert!(lowers(ChangeKind::Rfs, "eth0 rx-0", "4096", "0"));
        assert!(lowers(ChangeKind::Txqueuelen, "eth0", "1000", "100"));
        for (kind, target, cur, new) in [
            (ChangeKind::Coalesce, "eth0 rx-usecs", "64", "8"),
            (ChangeKind::Feature, "eth0 rx-gro", "on", "off"),
            (ChangeKind::Rps, "eth0 rx-0", "f", "1"),
            (ChangeKind::Xps, "eth0 tx-0", "f", "1"),
            (ChangeKind::IrqAffinity, "irq 1", "3", "1"),
            (ChangeKind::Qdisc, "eth0", "2", "1"),
            (ChangeKind::Mtu, "eth0", "9000", "1500"),
            (ChangeKind::Advice, "x", "9", "1"),
        ] {
            assert!(!lowers(kind, target, cur, new), "{kind} {target}");
        }
    }

    #[test]
    fn read_back_comparison() {
        let same = |kind, target, w, a| k(kind, target).same_value(w, a);
        assert!(same(
            ChangeKind::Sysctl,
            "net.ipv4.tcp_rmem",
            "4096 131072  6291456",
            "4096\t131072\t6291456"
        ));
        assert!(!same(
            ChangeKind::Sysctl,
            "net.core.somaxconn",
            "4096",
            "4095"
        ));
        assert!(same(ChangeKind::Rps, "eth0 rx-0", "3", "00000000,00000003"));
        assert!(!same(ChangeKind::Rps, "eth0 rx-0", "3", "1"));
        assert!(same(ChangeKind::Xps, "eth0 tx-0", "3", "00000003"));
        assert!(same(ChangeKind::IrqAffinity, "irq 1", "0,1", "0-1"));
        assert!(same(ChangeKind::Mtu, "eth0", "01500", "1500"));
        assert!(same(ChangeKind::Feature, "eth0 rx-gro", "on", "1"));
        assert!(!same(ChangeKind::Feature, "eth0 rx-gro", "on", "off"));
        assert!(same(ChangeKind::Coalesce, "eth0 adaptive-rx", "yes", "on"));
        assert!(same(ChangeKind::Coalesce, "eth0 rx-usecs", "064", "64"));
        assert!(!same(ChangeKind::Coalesce, "eth0 rx-usecs", "1", "on"));
    }

    #[test]
    fn files_per_kind() {
        let root = Root::new("/p", "/s");
        let f = |kind, target| k(kind, target).file(&root).map(|p| p.display().to_string());
        assert_eq!(
            f(ChangeKind::Sysctl, "net.core.somaxconn").as_deref(),
            Some("/p/sys/net/core/somaxconn")
        );
        assert_eq!(
            f(ChangeKind::Rps, "eth0 rx-3").as_deref(),
            Some("/s/class/net/eth0/queues/rx-3/rps_cpus")
        );
        assert_eq!(
            f(ChangeKind::Rfs, "eth0 rx-0").as_deref(),
            Some("/s/class/net/eth0/queues/rx-0/rps_flow_cnt")
        );
        assert_eq!(
            f(ChangeKind::Xps, "eth0 tx-1").as_deref(),
            Some("/s/class/net/eth0/queues/tx-1/xps_cpus")
        );
        assert_eq!(
            f(ChangeKind::IrqAffinity, "irq 24").as_deref(),
            Some("/p/irq/24/smp_affinity_list")
        );
        assert_eq!(
            f(ChangeKind::Mtu, "eth0").as_deref(),
            Some("/s/class/net/eth0/mtu")
        );
        assert_eq!(
            f(ChangeKind::Txqueuelen, "eth0").as_deref(),
            Some("/s/class/net/eth0/tx_queue_len")
        );
        for kind in [
            ChangeKind::Ring,
            ChangeKind::Coalesce,
            ChangeKind::Channels,
            ChangeKind::Feature,
            ChangeKind::Qdisc,
            ChangeKind::Advice,
        ] {
            assert_eq!(f(kind, sample(kind)), None, "{kind}");
        }
    }

    #[test]
    fn ethtool_requests_and_values() {
        use crate::collect::ethtool::{Coalesce as CoalesceView, Rings};
        let view = Ethtool {
            rings: Source::Ok(Rings {
                rx: Some(256),
                ..Default::default()
            }),
            coalesce: Source::Ok(CoalesceView {
                use_adaptive_rx: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            k(ChangeKind::Ring, "eth0 rx").ethtool_value(&view).unwrap(),
            "256"
        );
        let e = k(ChangeKind::Ring, "eth0 tx")
            .ethtool_value(&view)
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert_eq!(
            k(ChangeKind::Coalesce, "eth0 adaptive-rx")
                .ethtool_value(&view)
                .unwrap(),
            "on"
        );
        assert_eq!(
            k(ChangeKind::Ring, "eth0 rx-jumbo")
                .ethtool_request("9")
                .unwrap(),
            SetRequest::Rings(RingsSet {
                rx_jumbo: Some(9),
                ..Default::default()
            })
        );
        assert_eq!(
            k(ChangeKind::Coalesce, "eth0 adaptive-tx")
                .ethtool_request("off")
                .unwrap(),
            SetRequest::Coalesce(CoalesceSet {
                use_adaptive_tx: Some(false),
                ..Default::default()
            })
        );
        for (kind, target, value) in [
            (ChangeKind::Ring, "eth0 rx", "big"),
            (ChangeKind::Feature, "eth0 rx-gro", "maybe"),
        ] {
            let e = k(kind, target).ethtool_request(value).unwrap_err();
            assert!(matches!(e, Error::Input(_)), "{e}");
        }
        let e = k(ChangeKind::Mtu, "eth0")
            .ethtool_request("1500")
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
    }
}
