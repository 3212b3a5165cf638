//! Appliers: the only code in nettune that writes to the kernel. [`Applier`] reads and writes
//! one [`Knob`]; [`KernelApplier`] does it through procfs and sysfs files under a [`Root`],
//! and through ethtool netlink ([`EthtoolDevices`]) for rings, channels, coalescing and
//! offload features. Whether a value read back is the one written is
//! [`Knob::same_value`]. [`write_sysctl`] is the one sysctl writer (the lab's host-wide
//! faults use it too).

use super::ethtool_set::SetRequest;
use super::knob::Knob;
use crate::collect::ethtool::Ethtool;
use crate::collect::sysctl::{fold_value, key_to_path};
use crate::collect::Source;
use crate::{Error, Result, Root};
use std::path::Path;

/// Reads and writes knobs. Implemented by [`KernelApplier`]; tests inject fakes.
pub trait Applier {
    /// The value now, as the kernel prints it (whitespace folded).
    fn read(&mut self, knob: &Knob) -> Result<String>;
    /// Set the value.
    fn write(&mut self, knob: &Knob, value: &str) -> Result<()>;
}

/// Reads and sets the ethtool view of devices. [`LiveEthtool`] talks to the kernel in the
/// calling thread's network namespace; tests inject fakes.
pub trait EthtoolDevices {
    /// The ethtool view of `ifname` now.
    fn read(&mut self, ifname: &str) -> Ethtool;
    /// Send one SET request for `ifname`.
    fn set(&mut self, ifname: &str, req: &SetRequest) -> Result<()>;
}

/// [`EthtoolDevices`] over ethtool netlink (read with [`crate::collect::ethtool`], set with
/// [`super::ethtool_set`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveEthtool;

impl EthtoolDevices for LiveEthtool {
    fn read(&mut self, ifname: &str) -> Ethtool {
        crate::collect::ethtool::read_device(ifname)
    }

    fn set(&mut self, ifname: &str, req: &SetRequest) -> Result<()> {
        super::ethtool_set::apply(ifname, req)
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

/// Read a sysctl file whole. Not `read_to_string`: its first read is a 32-byte probe, and a
/// sysctl handler prints nothing at a non-zero offset, so a longer value would come back cut.
fn read_sysctl_file(path: &Path) -> Result<String> {
    let mut buf = crate::root::FileBuf::new();
    let text = buf.read_sysctl(path).map_err(|e| Error::io(path, e))?;
    Ok(fold_value(text))
}

/// Write `value` to a procfs/sysfs file in one write(2), as `sysctl -w` and `echo >` do.
/// A value with a newline or NUL is [`Error::Input`].
fn write_file(path: &Path, what: &str, value: &str) -> Result<()> {
    if value.contains(['\n', '\0']) {
        return Err(Error::Input(format!(
            "{what}: value {value:?} has a newline"
        )));
    }
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(format!("{value}\n").as_bytes())
        .map_err(|e| Error::io(path, e))
}

/// Set sysctl `key` (dotted or slashed name) under `root` to `value`: the one sysctl writer.
/// An invalid name is [`Error::Input`].
pub fn write_sysctl(root: &Root, key: &str, value: &str) -> Result<()> {
    let knob = Knob::new(crate::change::ChangeKind::Sysctl, key)?;
    KernelApplier::new(root.clone()).write(&knob, value)
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
}

/// A qdisc change: `tune --apply` cannot make it yet.
fn qdisc_unsupported(knob: &Knob) -> Error {
    Error::Unsupported(format!(
        "{} changes are not supported yet by `tune --apply`; apply `{}` by hand",
        knob.kind(),
        knob.command("VALUE")
    ))
}

/// Advice: only the application or the operator can change it.
fn advice_refused(target: &str) -> Error {
    Error::Refused(format!("{target}: advice, nettune cannot change it"))
}

/// The file of a file knob (every kind [`KernelApplier`] reads and writes as a file has one).
fn file_of(knob: &Knob, root: &Root) -> Result<std::path::PathBuf> {
    knob.file(root)
        .ok_or_else(|| Error::Unsupported(format!("{knob}: not a file")))
}

impl Applier for KernelApplier {
    fn read(&mut self, knob: &Knob) -> Result<String> {
        match knob {
            Knob::Sysctl { key } => read_sysctl_file(&key_to_path(&self.root, key)),
            Knob::Ring { dev, .. }
            | Knob::Coalesce { dev, .. }
            | Knob::Channels { dev, .. }
            | Knob::Feature { dev, .. } => {
                let view = self.ethtool.read(dev);
                knob.ethtool_value(&view)
            }
            Knob::Rps { .. }
            | Knob::Rfs { .. }
            | Knob::Xps { .. }
            | Knob::IrqAffinity { .. }
            | Knob::Mtu { .. }
            | Knob::Txqueuelen { .. } => {
                let path = file_of(knob, &self.root)?;
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                Ok(fold_value(&text))
            }
            Knob::Qdisc { .. } => Err(qdisc_unsupported(knob)),
            Knob::Advice { target } => Err(advice_refused(target)),
        }
    }

    fn write(&mut self, knob: &Knob, value: &str) -> Result<()> {
        match knob {
            Knob::Ring { dev, .. }
            | Knob::Coalesce { dev, .. }
            | Knob::Channels { dev, .. }
            | Knob::Feature { dev, .. } => {
                let req = knob.ethtool_request(value)?;
                if let Knob::Feature { name, .. } = knob {
                    let view = self.ethtool.read(dev);
                    if let Source::Ok(f) = &view.features {
                        if f.get(name).is_some_and(|f| f.fixed) {
                            return Err(Error::Unsupported(format!(
                                "feature {name} of {dev} is fixed; the driver does not let it change"
                            )));
                        }
                    }
                }
                self.ethtool.set(dev, &req)
            }
            Knob::Sysctl { .. }
            | Knob::Rps { .. }
            | Knob::Rfs { .. }
            | Knob::Xps { .. }
            | Knob::IrqAffinity { .. }
            | Knob::Mtu { .. }
            | Knob::Txqueuelen { .. } => {
                let path = file_of(knob, &self.root)?;
                write_file(&path, &knob.to_string(), value)
            }
            Knob::Qdisc { .. } => Err(qdisc_unsupported(knob)),
            Knob::Advice { target } => Err(advice_refused(target)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;
    use crate::tune::ethtool_set::{ChannelsSet, CoalesceSet, FeaturesSet, RingsSet};

    fn knob(kind: ChangeKind, target: &str) -> Knob {
        Knob::new(kind, target).unwrap()
    }

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
                .read(&knob(
                    ChangeKind::Sysctl,
                    "net.ipv4.ip_local_reserved_ports",
                ))
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
    fn qdisc_is_unsupported_and_advice_refused() {
        let mut a = KernelApplier::new(Root::new("/nonexistent", "/nonexistent"));
        let e = a.write(&knob(ChangeKind::Qdisc, "eth0"), "fq").unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("not supported yet"), "{e}");
        assert!(
            e.to_string()
                .contains("tc qdisc replace dev eth0 root VALUE"),
            "{e}"
        );
        let e = a
            .read(&knob(ChangeKind::Advice, "listen() backlog of :80"))
            .unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
    }

    #[test]
    fn writes_and_reads_files_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("proc/sys/net/core/somaxconn");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "4096\n").unwrap();
        let mut a = KernelApplier::new(Root::new(dir.path().join("proc"), dir.path().join("sys")));
        let k = knob(ChangeKind::Sysctl, "net.core.somaxconn");
        assert_eq!(a.read(&k).unwrap(), "4096");
        a.write(&k, "8192").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "8192\n");
        assert!(matches!(a.write(&k, "1\n2"), Err(Error::Input(_))));
        // The one sysctl writer the lab uses too.
        write_sysctl(&a.root, "net/core/somaxconn", "1024").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1024\n");
        assert!(matches!(
            write_sysctl(&a.root, "net..core", "1"),
            Err(Error::Input(_))
        ));
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
                        return Err(Error::Unsupported("Operation not supported".into()));
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
            let k = knob(*kind, target);
            assert_eq!(a.read(&k).unwrap(), *before, "{kind} {target}");
            sent.lock().unwrap().clear();
            a.write(&k, value).unwrap();
            assert_eq!(
                sent.lock().unwrap().as_slice(),
                &[("eth0".to_string(), req.clone())],
                "{kind} {target}"
            );
            let back = a.read(&k).unwrap();
            assert!(k.same_value(value, &back), "{kind} {target}: {back}");
        }
        // Not reported, fixed, malformed: errors before anything is sent.
        sent.lock().unwrap().clear();
        let e = a.read(&knob(ChangeKind::Channels, "eth0 rx")).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        let e = a
            .write(&knob(ChangeKind::Feature, "eth0 tx-lockless"), "off")
            .unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("fixed"), "{e}");
        let e = a
            .write(&knob(ChangeKind::Ring, "eth0 rx"), "big")
            .unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
        assert!(a
            .write(&knob(ChangeKind::Feature, "eth0 rx-gro"), "maybe")
            .is_err());
        assert!(sent.lock().unwrap().is_empty());
    }
}
