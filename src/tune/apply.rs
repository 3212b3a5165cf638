//! Appliers: the only code in nettune that writes to the kernel. [`Applier`] reads and writes
//! one knob by ([`ChangeKind`], target); [`KernelApplier`] does it through procfs and sysfs
//! files under a [`Root`], and through ethtool netlink ([`EthtoolDevices`]) for rings,
//! channels, coalescing and offload features. Values are compared after a write with
//! [`same_value`].

use crate::change::ChangeKind;
use crate::collect::ethtool::{
    ChannelsSet, CoalesceSet, Ethtool, FeaturesSet, RingsSet, SetRequest,
};
use crate::collect::interfaces::parse_cpu_mask;
use crate::collect::sysctl::{fold_value, key_to_path};
use crate::collect::Source;
use crate::{Error, Result, Root};
use std::path::PathBuf;

/// Reads and writes knobs. Implemented by [`KernelApplier`]; tests inject fakes.
pub trait Applier {
    /// The value now, as the kernel prints it (whitespace folded).
    fn read(&mut self, kind: ChangeKind, target: &str) -> Result<String>;
    /// Set the value.
    fn write(&mut self, kind: ChangeKind, target: &str, value: &str) -> Result<()>;
}

/// Reads and sets the ethtool view of devices. [`LiveEthtool`] talks to the kernel in the
/// calling thread's network namespace; tests inject fakes.
pub trait EthtoolDevices {
    /// The ethtool view of `ifname` now.
    fn read(&mut self, ifname: &str) -> Ethtool;
    /// Send one SET request for `ifname`.
    fn set(&mut self, ifname: &str, req: &SetRequest) -> Result<()>;
}

/// [`EthtoolDevices`] over ethtool netlink ([`crate::collect::ethtool`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveEthtool;

impl EthtoolDevices for LiveEthtool {
    fn read(&mut self, ifname: &str) -> Ethtool {
        crate::collect::ethtool::read_device(ifname)
    }

    fn set(&mut self, ifname: &str, req: &SetRequest) -> Result<()> {
        crate::collect::ethtool::apply(ifname, req)
    }
}

/// Applies changes through `/proc/sys`, `/proc/irq` and `/sys/class/net` under a root, and
/// through ethtool for rings, channels, coalescing and features.
pub struct KernelApplier {
    pub root: Root,
    /// The ethtool side ([`LiveEthtool`] unless a test injects another).
    pub ethtool: Box<dyn EthtoolDevices + Send>,
}

impl std::fmt::Debug for KernelApplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelApplier")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl KernelApplier {
    /// An applier for `root` with the live ethtool.
    pub fn new(root: Root) -> Self {
        KernelApplier {
            root,
            ethtool: Box::new(LiveEthtool),
        }
    }

    /// An applier for `root` with an injected ethtool side.
    pub fn with_ethtool(root: Root, ethtool: Box<dyn EthtoolDevices + Send>) -> Self {
        KernelApplier { root, ethtool }
    }

    /// The file that holds the knob, or why nettune cannot change it.
    pub fn path(&self, kind: ChangeKind, target: &str) -> Result<PathBuf> {
        let net = |dev: &str| -> Result<PathBuf> {
            if !safe_component(dev) {
                return Err(Error::Input(format!("invalid interface name {dev:?}")));
            }
            Ok(self.root.sys.join("class/net").join(dev))
        };
        let queue = |want: &str| -> Result<(PathBuf, String)> {
            let (dev, q) = target.split_once(' ').unwrap_or((target, ""));
            let q = q.trim();
            let ok = q
                .strip_prefix(want)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(Error::Input(format!(
                    "{kind} target {target:?}: expected `IFACE {want}N`"
                )));
            }
            Ok((net(dev)?.join("queues").join(q), q.to_string()))
        };
        match kind {
            ChangeKind::Sysctl => {
                let k = target.trim();
                if k.is_empty() || k.contains(['*', '?', '[', ' ', '\0']) || k.contains("..") {
                    return Err(Error::Input(format!("invalid sysctl name {target:?}")));
                }
                Ok(key_to_path(&self.root, k))
            }
            ChangeKind::Rps => Ok(queue("rx-")?.0.join("rps_cpus")),
            ChangeKind::Rfs => Ok(queue("rx-")?.0.join("rps_flow_cnt")),
            ChangeKind::Xps => Ok(queue("tx-")?.0.join("xps_cpus")),
            ChangeKind::IrqAffinity => {
                let n = target.trim().trim_start_matches("irq").trim();
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::Input(format!(
                        "irq_affinity target {target:?}: expected `irq N`"
                    )));
                }
                Ok(self.root.proc.join("irq").join(n).join("smp_affinity_list"))
            }
            ChangeKind::Mtu => Ok(net(target.trim())?.join("mtu")),
            ChangeKind::Txqueuelen => Ok(net(target.trim())?.join("tx_queue_len")),
            ChangeKind::Ring
            | ChangeKind::Channels
            | ChangeKind::Coalesce
            | ChangeKind::Feature => Err(Error::Input(format!(
                "{kind} {target}: set through ethtool netlink, not a file"
            ))),
            ChangeKind::Qdisc => Err(Error::Input(format!(
                "{kind} changes are not supported yet by `tune --apply`; apply `{}` by hand",
                crate::change::Change::new(kind, target, None, "VALUE").command()
            ))),
            ChangeKind::Advice => Err(Error::Input(format!(
                "{target}: advice, nettune cannot change it"
            ))),
        }
    }
}

fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0'])
}

impl Applier for KernelApplier {
    fn read(&mut self, kind: ChangeKind, target: &str) -> Result<String> {
        if let Some(knob) = EthtoolKnob::parse(kind, target)? {
            let view = self.ethtool.read(&knob.dev);
            return knob.value(&view);
        }
        let path = self.path(kind, target)?;
        if kind == ChangeKind::Sysctl {
            // Not `read_to_string`: its first read is a 32-byte probe, and a sysctl handler
            // prints nothing at a non-zero offset, so a longer value would come back cut.
            let mut buf = crate::root::FileBuf::new();
            let text = buf.read_sysctl(&path).map_err(|e| Error::io(&path, e))?;
            return Ok(fold_value(text));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(fold_value(&text))
    }

    fn write(&mut self, kind: ChangeKind, target: &str, value: &str) -> Result<()> {
        if let Some(knob) = EthtoolKnob::parse(kind, target)? {
            let req = knob.request(value)?;
            if let EthtoolField::Feature(name) = &knob.field {
                let view = self.ethtool.read(&knob.dev);
                if let Source::Ok(f) = &view.features {
                    if f.get(name).is_some_and(|f| f.fixed) {
                        return Err(Error::Input(format!(
                            "feature {name} of {} is fixed; the driver does not let it change",
                            knob.dev
                        )));
                    }
                }
            }
            return self.ethtool.set(&knob.dev, &req);
        }
        let path = self.path(kind, target)?;
        if value.contains(['\n', '\0']) {
            return Err(Error::Input(format!(
                "{kind} {target}: value {value:?} has a newline"
            )));
        }
        // One write(2) of the whole value, as `sysctl -w` and `echo >` do.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.write_all(format!("{value}\n").as_bytes())
            .map_err(|e| Error::io(&path, e))
    }
}

/// One ethtool-settable value of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthtoolField {
    /// Ring size (descriptors): `rx`, `tx`, `rx-mini`, `rx-jumbo`.
    RingRx,
    RingTx,
    RingRxMini,
    RingRxJumbo,
    /// Channel counts: `rx`, `tx`, `other`, `combined`.
    ChannelsRx,
    ChannelsTx,
    ChannelsOther,
    ChannelsCombined,
    /// Coalescing: `rx-usecs` (µs), `rx-frames`, `tx-usecs` (µs), `tx-frames`,
    /// `adaptive-rx`, `adaptive-tx` (`on`/`off`).
    RxUsecs,
    RxFrames,
    TxUsecs,
    TxFrames,
    AdaptiveRx,
    AdaptiveTx,
    /// An offload feature by kernel name (`rx-gro`), `on`/`off`.
    Feature(String),
}

/// A parsed ethtool change target: device and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthtoolKnob {
    pub dev: String,
    pub field: EthtoolField,
}

fn on_off(v: &str) -> Option<bool> {
    match v.trim() {
        "on" | "1" | "true" | "yes" => Some(true),
        "off" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

fn flag(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

impl EthtoolKnob {
    /// The knob of a `ring`/`channels`/`coalesce`/`feature` change (`None` for other kinds).
    pub fn parse(kind: ChangeKind, target: &str) -> Result<Option<EthtoolKnob>> {
        use EthtoolField as F;
        if !matches!(
            kind,
            ChangeKind::Ring | ChangeKind::Channels | ChangeKind::Coalesce | ChangeKind::Feature
        ) {
            return Ok(None);
        }
        let mut it = target.split_ascii_whitespace();
        let (dev, what) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
        let bad = || {
            Error::Input(format!(
                "{kind} target {target:?}: expected `IFACE FIELD` (see `nettune tune --help`)"
            ))
        };
        if !safe_component(dev) || what.is_empty() || it.next().is_some() {
            return Err(bad());
        }
        let field = match (kind, what) {
            (ChangeKind::Ring, "rx") => F::RingRx,
            (ChangeKind::Ring, "tx") => F::RingTx,
            (ChangeKind::Ring, "rx-mini") => F::RingRxMini,
            (ChangeKind::Ring, "rx-jumbo") => F::RingRxJumbo,
            (ChangeKind::Channels, "rx") => F::ChannelsRx,
            (ChangeKind::Channels, "tx") => F::ChannelsTx,
            (ChangeKind::Channels, "other") => F::ChannelsOther,
            (ChangeKind::Channels, "combined") => F::ChannelsCombined,
            (ChangeKind::Coalesce, "rx-usecs") => F::RxUsecs,
            (ChangeKind::Coalesce, "rx-frames" | "rx-max-frames") => F::RxFrames,
            (ChangeKind::Coalesce, "tx-usecs") => F::TxUsecs,
            (ChangeKind::Coalesce, "tx-frames" | "tx-max-frames") => F::TxFrames,
            (ChangeKind::Coalesce, "adaptive-rx") => F::AdaptiveRx,
            (ChangeKind::Coalesce, "adaptive-tx") => F::AdaptiveTx,
            (ChangeKind::Feature, name) => F::Feature(name.to_string()),
            _ => return Err(bad()),
        };
        Ok(Some(EthtoolKnob {
            dev: dev.to_string(),
            field,
        }))
    }

    /// The value now in `view`, as nettune writes it (numbers, `on`/`off`).
    pub fn value(&self, view: &Ethtool) -> Result<String> {
        use EthtoolField as F;
        fn part<'a, T>(s: &'a Source<T>, what: &str, dev: &str) -> Result<&'a T> {
            match s {
                Source::Ok(v) => Ok(v),
                Source::Unsupported {
                    unsupported: reason,
                }
                | Source::Error { error: reason } => {
                    Err(Error::Input(format!("{what} of {dev}: {reason}")))
                }
            }
        }
        let dev = self.dev.as_str();
        let num = |v: Option<u32>, what: &str| {
            v.map(|n| n.to_string()).ok_or_else(|| {
                Error::Input(format!("{dev} does not report {what}; it cannot be set"))
            })
        };
        let boolean = |v: Option<bool>, what: &str| {
            v.map(flag).ok_or_else(|| {
                Error::Input(format!("{dev} does not report {what}; it cannot be set"))
            })
        };
        match &self.field {
            F::RingRx => num(part(&view.rings, "rings", dev)?.rx, "an rx ring"),
            F::RingTx => num(part(&view.rings, "rings", dev)?.tx, "a tx ring"),
            F::RingRxMini => num(part(&view.rings, "rings", dev)?.rx_mini, "an rx-mini ring"),
            F::RingRxJumbo => num(
                part(&view.rings, "rings", dev)?.rx_jumbo,
                "an rx-jumbo ring",
            ),
            F::ChannelsRx => num(part(&view.channels, "channels", dev)?.rx, "rx channels"),
            F::ChannelsTx => num(part(&view.channels, "channels", dev)?.tx, "tx channels"),
            F::ChannelsOther => num(
                part(&view.channels, "channels", dev)?.other,
                "other channels",
            ),
            F::ChannelsCombined => num(
                part(&view.channels, "channels", dev)?.combined,
                "combined channels",
            ),
            F::RxUsecs => num(
                part(&view.coalesce, "coalescing", dev)?.rx_usecs,
                "rx-usecs",
            ),
            F::RxFrames => num(
                part(&view.coalesce, "coalescing", dev)?.rx_max_frames,
                "rx-frames",
            ),
            F::TxUsecs => num(
                part(&view.coalesce, "coalescing", dev)?.tx_usecs,
                "tx-usecs",
            ),
            F::TxFrames => num(
                part(&view.coalesce, "coalescing", dev)?.tx_max_frames,
                "tx-frames",
            ),
            F::AdaptiveRx => boolean(
                part(&view.coalesce, "coalescing", dev)?.use_adaptive_rx,
                "adaptive-rx",
            ),
            F::AdaptiveTx => boolean(
                part(&view.coalesce, "coalescing", dev)?.use_adaptive_tx,
                "adaptive-tx",
            ),
            F::Feature(name) => {
                let f = part(&view.features, "features", dev)?;
                // Absent features are off and fixed (see `Features`).
                Ok(flag(f.get(name).is_some_and(|f| f.active)))
            }
        }
    }

    /// The SET request that writes `value` (a number, or `on`/`off` for flags).
    pub fn request(&self, value: &str) -> Result<SetRequest> {
        use EthtoolField as F;
        let bad = |want: &str| {
            Error::Input(format!(
                "{} {:?}: value {value:?} is not {want}",
                self.dev, self.field
            ))
        };
        let n = || value.trim().parse::<u32>().map_err(|_| bad("a number"));
        let b = || on_off(value).ok_or_else(|| bad("on or off"));
        Ok(match &self.field {
            F::RingRx => SetRequest::Rings(RingsSet {
                rx: Some(n()?),
                ..Default::default()
            }),
            F::RingTx => SetRequest::Rings(RingsSet {
                tx: Some(n()?),
                ..Default::default()
            }),
            F::RingRxMini => SetRequest::Rings(RingsSet {
                rx_mini: Some(n()?),
                ..Default::default()
            }),
            F::RingRxJumbo => SetRequest::Rings(RingsSet {
                rx_jumbo: Some(n()?),
                ..Default::default()
            }),
            F::ChannelsRx => SetRequest::Channels(ChannelsSet {
                rx: Some(n()?),
                ..Default::default()
            }),
            F::ChannelsTx => SetRequest::Channels(ChannelsSet {
                tx: Some(n()?),
                ..Default::default()
            }),
            F::ChannelsOther => SetRequest::Channels(ChannelsSet {
                other: Some(n()?),
                ..Default::default()
            }),
            F::ChannelsCombined => SetRequest::Channels(ChannelsSet {
                combined: Some(n()?),
                ..Default::default()
            }),
            F::RxUsecs => SetRequest::Coalesce(CoalesceSet {
                rx_usecs: Some(n()?),
                ..Default::default()
            }),
            F::RxFrames => SetRequest::Coalesce(CoalesceSet {
                rx_max_frames: Some(n()?),
                ..Default::default()
            }),
            F::TxUsecs => SetRequest::Coalesce(CoalesceSet {
                tx_usecs: Some(n()?),
                ..Default::default()
            }),
            F::TxFrames => SetRequest::Coalesce(CoalesceSet {
                tx_max_frames: Some(n()?),
                ..Default::default()
            }),
            F::AdaptiveRx => SetRequest::Coalesce(CoalesceSet {
                use_adaptive_rx: Some(b()?),
                ..Default::default()
            }),
            F::AdaptiveTx => SetRequest::Coalesce(CoalesceSet {
                use_adaptive_tx: Some(b()?),
                ..Default::default()
            }),
            F::Feature(name) => SetRequest::Features(FeaturesSet(vec![(name.clone(), b()?)])),
        })
    }
}

/// Parse a CPU list (`0-3,8`, `1`) into sorted CPU numbers; `None` when malformed.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Whether the value read back (`actual`) is what was written (`wanted`) for this kind:
/// whitespace-folded text equality, CPU sets for masks and lists, numbers for numbers.
pub fn same_value(kind: ChangeKind, wanted: &str, actual: &str) -> bool {
    let (w, a) = (fold_value(wanted), fold_value(actual));
    if w == a {
        return true;
    }
    match kind {
        ChangeKind::Rps | ChangeKind::Xps => {
            matches!((parse_cpu_mask(&w), parse_cpu_mask(&a)), (Some(x), Some(y)) if x == y)
        }
        ChangeKind::IrqAffinity => {
            matches!((parse_cpu_list(&w), parse_cpu_list(&a)), (Some(x), Some(y)) if x == y)
        }
        ChangeKind::Feature | ChangeKind::Coalesce
            if on_off(&w).is_some() && on_off(&a).is_some() =>
        {
            on_off(&w) == on_off(&a)
        }
        _ => {
            // Numbers written with a sign or leading zeros read back plainly.
            let nums = |s: &str| -> Option<Vec<i128>> {
                s.split_ascii_whitespace().map(|t| t.parse().ok()).collect()
            };
            matches!((nums(&w), nums(&a)), (Some(x), Some(y)) if x == y)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sysctl_values_longer_than_a_probe_read_are_read_whole() {
        if !crate::testing::require_root() {
            return;
        }
        // A private network namespace: ip_local_reserved_ports is per namespace.
        let got = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
            let want: Vec<String> = (0..40).map(|i| (20000 + 2 * i).to_string()).collect();
            let want = want.join(",");
            std::fs::write("/proc/sys/net/ipv4/ip_local_reserved_ports", &want).ok()?;
            let mut a = KernelApplier::new(Root::default());
            let got = a
                .read(ChangeKind::Sysctl, "net.ipv4.ip_local_reserved_ports")
                .ok()?;
            Some((want, got))
        })
        .join()
        .unwrap();
        let Some((want, got)) = got else {
            crate::testing::require("a new network namespace", false);
            return;
        };
        assert!(want.len() > 32);
        assert_eq!(got, want);
    }

    #[test]
    fn paths_per_kind() {
        let a = KernelApplier::new(Root::new("/p", "/s"));
        let p = |k, t| a.path(k, t).map(|p| p.display().to_string());
        assert_eq!(
            p(ChangeKind::Sysctl, "net.core.somaxconn").unwrap(),
            "/p/sys/net/core/somaxconn"
        );
        assert_eq!(
            p(ChangeKind::Rps, "eth0 rx-3").unwrap(),
            "/s/class/net/eth0/queues/rx-3/rps_cpus"
        );
        assert_eq!(
            p(ChangeKind::Rfs, "eth0 rx-0").unwrap(),
            "/s/class/net/eth0/queues/rx-0/rps_flow_cnt"
        );
        assert_eq!(
            p(ChangeKind::Xps, "eth0 tx-1").unwrap(),
            "/s/class/net/eth0/queues/tx-1/xps_cpus"
        );
        assert_eq!(
            p(ChangeKind::IrqAffinity, "irq 24").unwrap(),
            "/p/irq/24/smp_affinity_list"
        );
        assert_eq!(p(ChangeKind::Mtu, "eth0").unwrap(), "/s/class/net/eth0/mtu");
        assert_eq!(
            p(ChangeKind::Txqueuelen, "eth0").unwrap(),
            "/s/class/net/eth0/tx_queue_len"
        );
        assert!(p(ChangeKind::Rps, "eth0 tx-0").is_err());
        assert!(p(ChangeKind::Rps, "../x rx-0").is_err());
        assert!(p(ChangeKind::Mtu, "..").is_err());
        assert!(p(ChangeKind::IrqAffinity, "irq 2/../x").is_err());
        assert!(p(ChangeKind::Sysctl, "net..x").is_err());
        let e = p(ChangeKind::Qdisc, "eth0").unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
    }

    #[test]
    fn read_back_comparison() {
        assert!(same_value(
            ChangeKind::Sysctl,
            "4096 131072  6291456",
            "4096\t131072\t6291456"
        ));
        assert!(!same_value(ChangeKind::Sysctl, "4096", "4095"));
        assert!(same_value(ChangeKind::Rps, "3", "00000000,00000003"));
        assert!(!same_value(ChangeKind::Rps, "3", "1"));
        assert!(same_value(ChangeKind::IrqAffinity, "0,1", "0-1"));
        assert!(same_value(ChangeKind::Mtu, "01500", "1500"));
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn writes_and_reads_files_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("proc/sys/net/core/somaxconn");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "4096\n").unwrap();
        let mut a = KernelApplier::new(Root::new(dir.path().join("proc"), dir.path().join("sys")));
        assert_eq!(
            a.read(ChangeKind::Sysctl, "net.core.somaxconn").unwrap(),
            "4096"
        );
        a.write(ChangeKind::Sysctl, "net.core.somaxconn", "8192")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "8192\n");
    }

    /// An ethtool device in memory that records requests and applies them.
    struct FakeEthtool {
        view: Ethtool,
        sent: std::sync::Arc<std::sync::Mutex<Vec<(String, SetRequest)>>>,
    }

    impl EthtoolDevices for FakeEthtool {
        fn read(&mut self, _: &str) -> Ethtool {
            self.view.clone()
        }
        fn set(&mut self, ifname: &str, req: &SetRequest) -> Result<()> {
            self.sent.lock().unwrap().push((ifname.into(), req.clone()));
            match req {
                SetRequest::Rings(r) => {
                    if let Source::Ok(v) = &mut self.view.rings {
                        v.rx = r.rx.or(v.rx);
                        v.tx = r.tx.or(v.tx);
                    } else {
                        return Err(Error::Input("Operation not supported".into()));
                    }
                }
                SetRequest::Channels(c) => {
                    if let Source::Ok(v) = &mut self.view.channels {
                        v.combined = c.combined.or(v.combined);
                    }
                }
                SetRequest::Coalesce(c) => {
                    if let Source::Ok(v) = &mut self.view.coalesce {
                        v.rx_usecs = c.rx_usecs.or(v.rx_usecs);
                        v.use_adaptive_rx = c.use_adaptive_rx.or(v.use_adaptive_rx);
                    }
                }
                SetRequest::Features(f) => {
                    if let Source::Ok(v) = &mut self.view.features {
                        for (n, on) in &f.0 {
                            v.entry(n.clone()).or_default().active = *on;
                        }
                    }
                }
            }
            Ok(())
        }
    }

    #[test]
    fn ethtool_kinds_encode_one_request_each_and_read_back() {
        use crate::collect::ethtool::{Channels, Coalesce, Feature, Rings};
        let mut view = Ethtool {
            rings: Source::Ok(Rings {
                rx: Some(256),
                tx: Some(256),
                rx_max: Some(4096),
                ..Default::default()
            }),
            ..Default::default()
        };
        view.channels = Source::Ok(Channels {
            combined: Some(1),
            combined_max: Some(4),
            ..Default::default()
        });
        view.coalesce = Source::Ok(Coalesce {
            rx_usecs: Some(0),
            use_adaptive_rx: Some(false),
            ..Default::default()
        });
        let mut feats = crate::collect::ethtool::Features::new();
        feats.insert(
            "rx-gro".into(),
            Feature {
                active: false,
                fixed: false,
                requested: false,
            },
        );
        feats.insert(
            "tx-lockless".into(),
            Feature {
                active: true,
                fixed: true,
                requested: true,
            },
        );
        view.features = Source::Ok(feats);
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let fake = FakeEthtool {
            view,
            sent: sent.clone(),
        };
        let mut a =
            KernelApplier::with_ethtool(Root::new("/nonexistent", "/nonexistent"), Box::new(fake));
        let cases: &[(ChangeKind, &str, &str, &str, SetRequest)] = &[
            (
                ChangeKind::Ring,
                "eth0 rx",
                "256",
                "4096",
                SetRequest::Rings(RingsSet {
                    rx: Some(4096),
                    ..Default::default()
                }),
            ),
            (
                ChangeKind::Channels,
                "eth0 combined",
                "1",
                "2",
                SetRequest::Channels(ChannelsSet {
                    combined: Some(2),
                    ..Default::default()
                }),
            ),
            (
                ChangeKind::Coalesce,
                "eth0 rx-usecs",
                "0",
                "128",
                SetRequest::Coalesce(CoalesceSet {
                    rx_usecs: Some(128),
                    ..Default::default()
                }),
            ),
            (
                ChangeKind::Coalesce,
                "eth0 adaptive-rx",
                "off",
                "on",
                SetRequest::Coalesce(CoalesceSet {
                    use_adaptive_rx: Some(true),
                    ..Default::default()
                }),
            ),
            (
                ChangeKind::Feature,
                "eth0 rx-gro",
                "off",
                "on",
                SetRequest::Features(FeaturesSet(vec![("rx-gro".into(), true)])),
            ),
        ];
        for (kind, target, before, value, req) in cases {
            assert_eq!(a.read(*kind, target).unwrap(), *before, "{kind} {target}");
            sent.lock().unwrap().clear();
            a.write(*kind, target, value).unwrap();
            assert_eq!(
                sent.lock().unwrap().as_slice(),
                &[("eth0".to_string(), req.clone())],
                "{kind} {target}"
            );
            let back = a.read(*kind, target).unwrap();
            assert!(same_value(*kind, value, &back), "{kind} {target}: {back}");
        }
        // Not reported, fixed, malformed: errors before anything is sent.
        sent.lock().unwrap().clear();
        assert!(a.read(ChangeKind::Channels, "eth0 rx").is_err());
        let e = a
            .write(ChangeKind::Feature, "eth0 tx-lockless", "off")
            .unwrap_err();
        assert!(e.to_string().contains("fixed"), "{e}");
        assert!(a.write(ChangeKind::Ring, "eth0 rx", "big").is_err());
        assert!(a.write(ChangeKind::Ring, "eth0 sideways", "1").is_err());
        assert!(a
            .write(ChangeKind::Feature, "eth0 rx-gro", "maybe")
            .is_err());
        assert!(a.write(ChangeKind::Ring, "../x rx", "1").is_err());
        assert!(sent.lock().unwrap().is_empty());
        assert!(same_value(ChangeKind::Feature, "on", "1"));
        assert!(!same_value(ChangeKind::Feature, "on", "off"));
    }
}
