//! Appliers: the only code in nettune that writes to the kernel. [`Applier`] reads and writes
//! one knob by ([`ChangeKind`], target); [`KernelApplier`] does it through procfs and sysfs
//! files under a [`Root`]. Values are compared after a write with [`same_value`].

use crate::change::ChangeKind;
use crate::collect::interfaces::parse_cpu_mask;
use crate::collect::sysctl::{fold_value, key_to_path};
use crate::{Error, Result, Root};
use std::path::PathBuf;

/// Reads and writes knobs. Implemented by [`KernelApplier`]; tests inject fakes.
pub trait Applier {
    /// The value now, as the kernel prints it (whitespace folded).
    fn read(&mut self, kind: ChangeKind, target: &str) -> Result<String>;
    /// Set the value.
    fn write(&mut self, kind: ChangeKind, target: &str, value: &str) -> Result<()>;
}

/// Applies changes through `/proc/sys`, `/proc/irq` and `/sys/class/net` under a root.
#[derive(Debug, Clone)]
pub struct KernelApplier {
    pub root: Root,
}

impl KernelApplier {
    /// An applier for `root`.
    pub fn new(root: Root) -> Self {
        KernelApplier { root }
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
            | ChangeKind::Feature
            | ChangeKind::Qdisc => Err(Error::Input(format!(
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
        let path = self.path(kind, target)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(fold_value(&text))
    }

    fn write(&mut self, kind: ChangeKind, target: &str, value: &str) -> Result<()> {
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
        let e = p(ChangeKind::Ring, "eth0 rx").unwrap_err().to_string();
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
}
