//! A [`Snapshot`] holds the raw cumulative counters of every source at one instant; a
//! [`Capture`] is host facts plus one or more snapshots, saved as `nettune.capture/v1` JSON.
//! Data only (no dependency on the collector that fills them or the window that derives rates
//! from them).

use crate::bpf::drops::DropReasons;
use crate::collect::{
    conntrack::Conntrack, ethtool::EthtoolAll, host::HostFacts, interfaces::Interfaces,
    interrupts::Interrupts, kmsg::KernelLog, neigh::Neigh, netdev::NetDev, netlink::Netlink,
    qdisc::Qdiscs, route6::Rt6Stats, snmp::NetStat, sockets::Sockets, sockstat::SockStat,
    softirqs::CpuTimes, softirqs::SoftIrqs, softnet::SoftnetCpu, sysctl::SysctlConfigEntry,
    sysctl::Sysctls, Outcome, Source, Warning,
};
use crate::namespaces::NetnsRef;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Schema tag of a saved capture.
pub const CAPTURE_SCHEMA: &str = "nettune.capture/v1";

/// Permissions of a saved capture file (what `File::create` gave under the usual umask).
const CAPTURE_MODE: u32 = 0o644;

/// CPU numbers a capture may name are below this (the kernel's largest `NR_CPUS`).
pub const MAX_CPU: u32 = 8192;

/// Largest capture file read (`check --from`, `tune --from`); a day of one host's captures is
/// a few MiB.
pub const MAX_CAPTURE_BYTES: u64 = 256 << 20;

/// Every CPU number of `list` is below [`MAX_CPU`].
fn cpus<C: std::borrow::Borrow<u32>>(
    what: &str,
    list: impl IntoIterator<Item = C>,
) -> std::result::Result<(), String> {
    match list
        .into_iter()
        .map(|c| *c.borrow())
        .find(|c| *c >= MAX_CPU)
    {
        Some(c) => Err(format!(
            "{what} names CPU {c}, beyond the {MAX_CPU} CPUs Linux supports"
        )),
        None => Ok(()),
    }
}

/// Declares [`Snapshot`] from its list of sources, the one place the sources are listed:
/// the struct's fields, [`SOURCES`], [`Snapshot::empty`], [`Snapshot::sources`] (which the
/// report's source list and the exporter's `nettune_source_ok` use) and
/// [`Snapshot::fill_from`] (the exporter's carry of slow sources) all come from it, so a new
/// source cannot be missing from any of them.
macro_rules! snapshot_sources {
    ($( $(#[$meta:meta])* $name:ident: $ty:ty, )+) => {
        /// Raw counters of every source at one instant. Nothing here is a rate.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct Snapshot {
            /// CLOCK_MONOTONIC time when collection started, nanoseconds.
            pub taken_at_ns: u64,
            /// Wall-clock time when collection started, seconds since the Unix epoch.
            #[serde(default)]
            pub unix_time: f64,
            $( $(#[$meta])* pub $name: Source<$ty>, )+
            /// What was wrong with parts of sources that were otherwise read.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub warnings: Vec<Warning>,
            /// Time spent collecting each source, seconds (keyed by source name; a few
            /// sources are timed under a shared or extra name: `irq_affinity` covers both
            /// affinity lists, `sysctl_host` is the host's `net/core` read for a namespace).
            #[serde(default)]
            pub collect_seconds: BTreeMap<String, f64>,
            /// The per-namespace sources of every other network namespace read in this
            /// snapshot (containers, pods, `ip netns`), each with its host-wide sources left
            /// unsupported (they are this snapshot's); empty with `--host-only` or `--netns`.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub namespaces: Vec<NetnsSnapshot>,
        }

        /// The name of every source of a [`Snapshot`] (its JSON key, the report's and the
        /// exporter's `source` label), in field order.
        pub const SOURCES: [&str; [$(stringify!($name)),+].len()] = [$(stringify!($name)),+];

        impl Snapshot {
            /// A snapshot taken at `taken_at_ns` with every source unsupported; tests and
            /// fixtures fill in the sources they need.
            pub fn empty(taken_at_ns: u64) -> Snapshot {
                Snapshot {
                    taken_at_ns,
                    unix_time: 0.0,
                    $( $name: Source::unsupported("not collected"), )+
                    warnings: Vec::new(),
                    collect_seconds: BTreeMap::new(),
                    namespaces: Vec::new(),
                }
            }

            /// Replace each source of this snapshot for which `replace` (given its outcome
            /// here) says so with a copy of `other`'s.
            pub fn fill_from(
                &mut self,
                other: &Snapshot,
                mut replace: impl FnMut(Outcome<'_>) -> bool,
            ) {
                $(
                    if replace(self.$name.outcome()) {
                        self.$name = other.$name.clone();
                    }
                )+
            }

            /// Every source's name and outcome, in [`SOURCES`] order.
            pub fn sources(&self) -> [(&'static str, Outcome<'_>); SOURCES.len()] {
                [$( (stringify!($name), self.$name.outcome()) ),+]
            }
        }
    };
}

snapshot_sources! {
    softnet: Vec<SoftnetCpu>,
    netdev: NetDev,
    netstat: NetStat,
    sockstat: SockStat,
    softirqs: SoftIrqs,
    /// Per-CPU times from /proc/stat (USER_HZ ticks).
    cpu_times: Vec<CpuTimes>,
    interrupts: Interrupts,
    /// IRQ number → CPUs it may be delivered to (`smp_affinity_list`), for every numbered
    /// IRQ with a handler.
    #[serde(default = "not_collected")]
    irq_affinity: BTreeMap<u32, Vec<u32>>,
    /// IRQ number → CPUs it is actually delivered to (`effective_affinity_list`).
    #[serde(default = "not_collected")]
    irq_effective_affinity: BTreeMap<u32, Vec<u32>>,
    sysctl: Sysctls,
    /// Assignments in sysctl configuration files (sysctl.d, sysctl.conf), in the order
    /// systemd-sysctl applies them.
    #[serde(default = "not_collected")]
    sysctl_config: Vec<SysctlConfigEntry>,
    conntrack: Conntrack,
    interfaces: Interfaces,
    ethtool: EthtoolAll,
    /// Kernel log records the rules read (`/dev/kmsg` since the previous snapshot, since
    /// boot with `--since-boot`, or an archive's kern.log/dmesg).
    #[serde(default = "not_collected")]
    kernel_log: KernelLog,
    /// Netlink sockets that dropped messages (`/proc/net/netlink`).
    #[serde(default = "not_collected")]
    netlink: Netlink,
    /// Qdiscs and their counters (rtnetlink, or `tc -s qdisc` text).
    #[serde(default = "not_collected")]
    qdisc: Qdiscs,
    /// Neighbour table statistics (`/proc/net/stat/{arp,ndisc}_cache`).
    #[serde(default = "not_collected")]
    neigh: Neigh,
    /// IPv6 routing table and route (dst) cache sizes (`/proc/net/rt6_stats`).
    #[serde(default = "not_collected")]
    rt6_stats: Rt6Stats,
    sockets: Sockets,
}

/// One other network namespace's part of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetnsSnapshot {
    /// Which namespace.
    pub netns: NetnsRef,
    /// Its per-namespace sources (netstat, sockstat, sockets, sysctls, interfaces, netdev,
    /// conntrack); host-wide sources are unsupported here. In the older snapshot of a
    /// capture its configuration sources (sysctls, interfaces) are not requested: rules read
    /// them from the newest.
    pub snapshot: Snapshot,
}

impl Snapshot {
    /// The part of namespace `inode`, if this snapshot read it.
    pub fn namespace(&self, inode: u64) -> Option<&NetnsSnapshot> {
        self.namespaces.iter().find(|n| n.netns.inode == inode)
    }
}

fn not_collected<T>() -> Source<T> {
    Source::unsupported("not collected by the nettune that wrote this capture")
}

/// Host facts plus snapshots, the `nettune.capture/v1` file format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    /// Always [`CAPTURE_SCHEMA`].
    pub schema: String,
    pub host: HostFacts,
    /// Network namespace the per-namespace sources were read in, if not the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Oldest first.
    pub snapshots: Vec<Snapshot>,
    /// Kernel drop reasons counted by eBPF (`tp_btf/kfree_skb`) between the first and the
    /// last snapshot: unsupported when the drop monitor cannot run (not root, no BTF) and in
    /// captures written before nettune counted them.
    #[serde(default = "not_collected")]
    pub drops: Source<DropReasons>,
    /// The support archive this capture was read from (`check --archive`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<crate::archive::ArchiveFacts>,
}

impl Capture {
    /// Load and validate a capture file: schema, at least one snapshot, time order.
    pub fn load(path: &Path) -> Result<Capture> {
        let bad = |what: String| Error::Capture {
            path: path.to_path_buf(),
            what,
        };
        let text =
            crate::durable::read_regular(path, MAX_CAPTURE_BYTES, "a capture").map_err(bad)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(CAPTURE_SCHEMA) => {}
            Some(other) => {
                return Err(bad(format!(
                    "schema is {other:?}, this nettune reads {CAPTURE_SCHEMA:?}"
                )))
            }
            None => return Err(bad("no \"schema\" field; not a nettune capture".into())),
        }
        let capture: Capture =
            serde_json::from_value(value).map_err(|e| bad(format!("corrupted ({e})")))?;
        if capture.snapshots.is_empty() {
            return Err(bad("contains no snapshot".into()));
        }
        if capture
            .snapshots
            .windows(2)
            .any(|w| w[1].taken_at_ns <= w[0].taken_at_ns)
        {
            return Err(bad("snapshots are not in time order".into()));
        }
        capture.check_cpu_bounds().map_err(bad)?;
        Ok(capture)
    }

    /// Every CPU number and CPU count the capture claims is below [`MAX_CPU`]: the rules
    /// build per-CPU tables and masks from them, and an absurd number (4294967295) would
    /// allocate gigabytes.
    fn check_cpu_bounds(&self) -> std::result::Result<(), String> {
        let h = &self.host;
        let count = |what: &str, n: usize| {
            if n > MAX_CPU as usize {
                Err(format!(
                    "{what} is {n}, beyond the {MAX_CPU} CPUs Linux supports"
                ))
            } else {
                Ok(())
            }
        };
        count("host.cpus", h.cpus as usize)?;
        count("host.cpus_possible", h.cpus_possible as usize)?;
        cpus("host.cpus_online", &h.cpus_online)?;
        for n in &h.numa_nodes {
            cpus("host.numa_nodes[].cpus", &n.cpus)?;
        }
        let mut snapshots: Vec<&Snapshot> = Vec::new();
        for s in &self.snapshots {
            snapshots.push(s);
            snapshots.extend(s.namespaces.iter().map(|n| &n.snapshot));
        }
        for s in snapshots {
            if let Some(rows) = s.softnet.ok() {
                count("softnet rows", rows.len())?;
                cpus("softnet[].cpu", rows.iter().map(|r| r.cpu))?;
            }
            if let Some(rows) = s.cpu_times.ok() {
                count("cpu_times rows", rows.len())?;
                cpus("cpu_times[].cpu", rows.iter().map(|r| r.cpu))?;
            }
            if let Some(rows) = s.softirqs.ok() {
                for v in rows.values() {
                    count("softirqs columns", v.len())?;
                }
            }
            if let Some(i) = s.interrupts.ok() {
                cpus("interrupts.cpus", &i.cpus)?;
                for l in &i.lines {
                    count("interrupts columns", l.counts.len())?;
                }
            }
            for map in [&s.irq_affinity, &s.irq_effective_affinity] {
                if let Some(m) = map.ok() {
                    for v in m.values() {
                        cpus("irq affinity", v)?;
                    }
                }
            }
            if let Some(ifaces) = s.interfaces.ok() {
                for i in ifaces.values() {
                    for q in &i.rx_queues {
                        cpus("rps cpus", q.rps_cpu_list.iter().flatten())?;
                    }
                    for q in &i.tx_queues {
                        cpus("xps cpus", q.xps_cpu_list.iter().flatten())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Write the capture as pretty JSON: atomically and durably ([`crate::durable`]: random
    /// temporary name, fsync, rename; a symlink at `path` is refused) for a regular file or a
    /// new path; straight into anything else that exists (`/dev/null`, a FIFO,
    /// `/dev/stdout`), which a rename would replace.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Capture {
            path: path.to_path_buf(),
            what: e.to_string(),
        })?;
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return std::fs::write(path, json).map_err(|e| Error::io(path, e));
        }
        crate::durable::write_atomic(path, &json, CAPTURE_MODE)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A capture written before drop reasons were counted (no `drops` field) still loads,
    /// with the drops unsupported; one with them round-trips.
    #[test]
    fn capture_without_drops_loads() {
        let mut cap = Capture {
            schema: CAPTURE_SCHEMA.to_string(),
            host: HostFacts::default(),
            netns: None,
            snapshots: vec![Snapshot::empty(1), Snapshot::empty(2)],
            archive: None,
            drops: Source::Ok(DropReasons {
                window_seconds: 1.0,
                lost: 0,
                reasons: vec![crate::bpf::drops::ReasonTotal {
                    reason: "NO_SOCKET".into(),
                    count: 7,
                    locations: Vec::new(),
                }],
            }),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        cap.save(&path).unwrap();
        assert_eq!(Capture::load(&path).unwrap(), cap);
        let mut old = serde_json::to_value(&cap).unwrap();
        old.as_object_mut().unwrap().remove("drops");
        std::fs::write(&path, old.to_string()).unwrap();
        let back = Capture::load(&path).unwrap();
        assert!(
            matches!(back.drops, Source::Unsupported { .. }),
            "{:?}",
            back.drops
        );
        assert!(back.drops.ok().is_none());
        cap.drops = back.drops.clone();
        assert_eq!(back, cap);
    }

    /// `snapshot -o FILE` replaces a file atomically, refuses a symlink (its target keeps
    /// its content), and still writes straight into a special file such as /dev/null.
    #[test]
    fn save_is_atomic_refuses_symlinks_and_writes_into_special_files() {
        let cap = Capture {
            schema: CAPTURE_SCHEMA.to_string(),
            host: HostFacts::default(),
            netns: None,
            snapshots: vec![Snapshot::empty(1)],
            archive: None,
            drops: Source::unsupported("not requested"),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, "old").unwrap();
        cap.save(&path).unwrap();
        assert_eq!(Capture::load(&path).unwrap(), cap);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = cap.save(&link).unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        cap.save(Path::new("/dev/null")).unwrap();
    }

    #[test]
    fn absurd_cpu_numbers_and_counts_are_rejected_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let base = Capture {
            schema: CAPTURE_SCHEMA.to_string(),
            host: HostFacts::default(),
            netns: None,
            snapshots: vec![Snapshot::empty(1), Snapshot::empty(2)],
            drops: not_collected(),
            archive: None,
        };
        base.save(&path).unwrap();
        assert!(Capture::load(&path).is_ok());
        let row = |cpu| {
            serde_json::from_value::<SoftnetCpu>(serde_json::json!({
                "cpu": cpu, "processed": 0, "dropped": 0, "time_squeeze": 0,
                "received_rps": 0, "flow_limit_count": 0, "backlog_len": 0
            }))
            .unwrap()
        };
        let mut cases: Vec<(Capture, &str)> = Vec::new();
        let mut c = base.clone();
        c.host.cpus = u32::MAX;
        cases.push((c, "host.cpus is 4294967295"));
        let mut c = base.clone();
        c.host.cpus_online = vec![0, u32::MAX];
        cases.push((c, "CPU 4294967295"));
        let mut c = base.clone();
        c.snapshots[1].softnet = Source::Ok(vec![row(0), row(u32::MAX)]);
        cases.push((c, "softnet[].cpu names CPU 4294967295"));
        let mut c = base.clone();
        c.snapshots[1].irq_affinity = Source::Ok(BTreeMap::from([(24, vec![8192])]));
        cases.push((c, "irq affinity names CPU 8192"));
        for (c, want) in cases {
            c.save(&path).unwrap();
            let e = Capture::load(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} in {e}");
        }
    }

    #[test]
    fn only_a_bounded_regular_file_is_read() {
        let e = Capture::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = Capture::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.json");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_CAPTURE_BYTES + 1).unwrap(); // sparse: no disk used
        let e = Capture::load(&big).unwrap_err().to_string();
        assert!(e.contains("larger than the 256 MiB"), "{e}");
    }

    /// The data types do not depend on what fills them or derives rates from them (no
    /// snapshot <-> window or snapshot <-> collector import circle).
    #[test]
    fn snapshot_imports_neither_window_nor_collector() {
        let src = include_str!("snapshot.rs");
        for module in ["window", "collector"] {
            let path = format!("{}::{module}", "crate");
            assert!(!src.contains(&path), "snapshot.rs names {path}");
        }
    }
}
