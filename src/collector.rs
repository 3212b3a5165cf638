//! The [`Collector`]: reads every source into a [`Snapshot`], keeping its buffer and the
//! per-namespace readers (ethtool sockets, sysctl tree, netstat layout) between snapshots, on
//! the namespace's own thread for `--netns`; [`Collector::capture`] samples a window into a
//! [`Capture`] (with kernel drop reasons counted by eBPF when asked).

use crate::bpf::drops::{DropMonitor, DropReasons, RawDrop};
use crate::bpf::BpfError;
use crate::collect::{
    self, conntrack::Conntrack, ethtool::EthtoolAll, host::HostFacts, interfaces::Interfaces,
    interrupts::Interrupts, netdev::NetDev, snmp::NetStat, sockets::Sockets, sockstat::SockStat,
    softirqs::CpuTimes, softirqs::SoftIrqs, softnet::SoftnetCpu, sysctl::SysctlConfigEntry,
    sysctl::Sysctls, sysctl::TreeReader, FileBuf, Outcome, Source, Warnings,
};
use crate::snapshot::{Capture, NetnsSnapshot, Snapshot, CAPTURE_SCHEMA};
use crate::{Error, Result, Root};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What to collect besides the cheap text sources.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Read the sources that describe configuration rather than count events: the sysctl
    /// trees (about a thousand small files, most of a snapshot's cost), the sysctl files,
    /// sysfs interfaces and IRQ affinity. A live exporter re-reads them only now and then.
    pub config: bool,
    /// Query ethtool (netlink + ioctl) for every device: driver, link and statistics, and
    /// with `config` also the settings (rings, channels, coalescing, features).
    pub ethtool: bool,
    /// Dump sockets with sock_diag.
    pub sockets: bool,
    /// Map listening sockets to processes (walks /proc/*/fd; costly).
    pub socket_processes: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            config: true,
            ethtool: true,
            sockets: true,
            socket_processes: true,
        }
    }
}

/// Which network namespaces a [`Collector`] reads ([`Collector::with_scope`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Only the caller's namespace (the host's): [`Snapshot::namespaces`] stays empty.
    #[default]
    HostOnly,
    /// The caller's namespace as the snapshot's own sources, and every other namespace found
    /// by [`crate::namespaces::discover`] in [`Snapshot::namespaces`], each read by a thread
    /// kept inside it ([`crate::netns::NetnsSet`]). Without `CAP_SYS_ADMIN` (root or granted:
    /// [`crate::namespaces::may_enter`]), only the caller's, and
    /// every snapshot has a warning saying why.
    All,
    /// The per-namespace sources of the namespace at this path (`/run/netns/NAME`,
    /// `/proc/PID/ns/net`) as the snapshot's own, host-wide ones from the host;
    /// [`Snapshot::namespaces`] stays empty.
    One(std::path::PathBuf),
}

/// How long a snapshot waits for one namespace's thread before leaving that namespace out
/// (with a warning): a namespace thread stuck in the kernel does not stall the snapshot.
pub const NETNS_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Nanoseconds of CLOCK_MONOTONIC.
pub fn monotonic_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; 0 would only make a window invalid.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |ts| {
        (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64)
    })
}

fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The shortest capture window over which [`Collector::capture`] counts kernel drop reasons:
/// loading the drop monitor takes tens of milliseconds, which a shorter window could not
/// hide and over which it would count next to nothing.
pub const DROPS_MIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// A snapshot collector that keeps its buffer, sockets and sysctl layout between snapshots.
pub struct Collector {
    root: Root,
    options: CaptureOptions,
    buf: FileBuf,
    /// Per-namespace reader state for host-namespace reads.
    readers: NsReaders,
    /// The host's `net/core`, read beside a namespace's sysctls.
    host_core: TreeReader,
    netns: Option<crate::netns::NetnsThread>,
    /// The namespace file `netns` entered, for the drop monitor's filter.
    netns_path: Option<std::path::PathBuf>,
    /// Count kernel drop reasons during [`Collector::capture`]'s window.
    drops: bool,
    /// Every other namespace, with [`Scope::All`].
    all: Option<crate::netns::NetnsSet>,
    /// Why [`Scope::All`] reads only the caller's namespace (not root), said in every
    /// snapshot.
    all_unavailable: Option<String>,
    /// Other namespaces whose sysctls and interfaces [`Collector::capture`] read in its
    /// older snapshot (during the window): the newer one reads only their counters and
    /// takes those two sources over ([`carry_config`]).
    ns_config_known: Option<std::collections::BTreeSet<u64>>,
    /// Keep the other namespaces' threads between snapshots ([`Collector::with_namespace_threads_kept`]).
    keep_namespace_threads: bool,
    /// Owners of the other namespaces' listeners: one /proc pass per snapshot for all of
    /// them (socket inodes are unique host-wide), remembered between snapshots.
    owners: collect::sockets::OwnerCache,
    /// The kernel log (`/dev/kmsg`), kept open between snapshots.
    kmsg: collect::kmsg::Reader,
}

/// Host-wide sources (the same in every network namespace).
struct HostPart {
    softnet: Source<Vec<SoftnetCpu>>,
    softirqs: Source<SoftIrqs>,
    cpu_times: Source<Vec<CpuTimes>>,
    interrupts: Source<Interrupts>,
    irq_affinity: Source<BTreeMap<u32, Vec<u32>>>,
    irq_effective_affinity: Source<BTreeMap<u32, Vec<u32>>>,
    sysctl_config: Source<Vec<SysctlConfigEntry>>,
    neigh: Source<collect::neigh::Neigh>,
}

/// Per-network-namespace sources.
struct NetnsPart {
    netdev: Source<NetDev>,
    netstat: Source<NetStat>,
    sockstat: Source<SockStat>,
    sysctl: Source<Sysctls>,
    conntrack: Source<Conntrack>,
    interfaces: Source<Interfaces>,
    ethtool: Source<EthtoolAll>,
    sockets: Source<Sockets>,
    netlink: Source<collect::netlink::Netlink>,
    qdisc: Source<collect::qdisc::Qdiscs>,
    rt6_stats: Source<collect::route6::Rt6Stats>,
}

/// What the per-namespace readers keep between snapshots: ethtool sockets, the sysctl
/// layout (whose directory fds show the namespace of the thread that opened them) and the
/// snmp/netstat layout.
struct NsReaders {
    ethtool: Option<collect::ethtool::Reader>,
    sysctl: TreeReader,
    netstat: collect::snmp::Reader,
    /// The sock_diag socket and the owners already found.
    sockets: collect::sockets::Reader,
    /// Readers of a namespace other than the primary one: sysctls limited to
    /// [`collect::sysctl::NETNS_FILES`], sockets dumped only for the protocols its
    /// sockstat shows in use.
    other: bool,
}

impl NsReaders {
    /// Readers of the primary namespace (every sysctl of the standard trees), or, with
    /// `other`, of a namespace read beside it with [`Scope::All`] (only
    /// [`collect::sysctl::NETNS_FILES`], the keys the per-namespace rules use).
    fn new(other: bool) -> NsReaders {
        NsReaders {
            ethtool: None,
            sysctl: if other {
                TreeReader::netns_keys()
            } else {
                TreeReader::standard()
            },
            netstat: collect::snmp::Reader::new(),
            sockets: collect::sockets::Reader::new(),
            other,
        }
    }
}

thread_local! {
    /// The namespace thread's buffer and readers, kept between snapshots (made by the
    /// thread's first read: a thread reads either the primary namespace or another one).
    static NS_STATE: std::cell::RefCell<(FileBuf, Option<NsReaders>)> =
        std::cell::RefCell::new((FileBuf::new(), None));
}

/// Why a host-wide source is unsupported in a [`NetnsSnapshot`]: it is read once, in the
/// snapshot that holds the namespace.
pub const NOT_REQUESTED_HOST_WIDE: &str =
    "host-wide source: read once, in the host's part of the snapshot";

impl HostPart {
    /// The host-wide part of another namespace's snapshot: every source left to the host's.
    fn elsewhere() -> Self {
        fn no<T>() -> Source<T> {
            Source::unsupported(NOT_REQUESTED_HOST_WIDE)
        }
        HostPart {
            softnet: no(),
            softirqs: no(),
            cpu_times: no(),
            interrupts: no(),
            irq_affinity: no(),
            irq_effective_affinity: no(),
            sysctl_config: no(),
            neigh: no(),
        }
    }
}

impl NetnsPart {
    fn failed(reason: &str) -> Self {
        NetnsPart {
            netdev: Source::error(reason),
            netstat: Source::error(reason),
            sockstat: Source::error(reason),
            sysctl: Source::error(reason),
            conntrack: Source::error(reason),
            interfaces: Source::error(reason),
            ethtool: Source::error(reason),
            sockets: Source::error(reason),
            netlink: Source::error(reason),
            qdisc: Source::error(reason),
            rt6_stats: Source::error(reason),
        }
    }
}

/// Why a configuration source is unsupported in a snapshot whose [`CaptureOptions`] have
/// `config` off.
pub const NOT_REQUESTED_CONFIG: &str = "configuration sources not requested in this snapshot";
/// Why ethtool is unsupported in a snapshot whose [`CaptureOptions`] have `ethtool` off.
pub const NOT_REQUESTED_ETHTOOL: &str = "ethtool not requested";
/// Why sockets are unsupported in a snapshot whose [`CaptureOptions`] have `sockets` off.
pub const NOT_REQUESTED_SOCKETS: &str = "sockets not requested";

/// Whether a source's outcome says the collector was asked to read it: anything but
/// unsupported for one of the not-requested reasons above.
pub fn was_requested(outcome: Outcome<'_>) -> bool {
    !matches!(
        outcome,
        Outcome::Unsupported(
            NOT_REQUESTED_CONFIG
                | NOT_REQUESTED_ETHTOOL
                | NOT_REQUESTED_SOCKETS
                | NOT_REQUESTED_HOST_WIDE
        )
    )
}

fn not_requested<T>() -> Source<T> {
    Source::unsupported(NOT_REQUESTED_CONFIG)
}

fn timed<T>(times: &mut BTreeMap<String, f64>, name: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let v = f();
    times.insert(name.to_string(), start.elapsed().as_secs_f64());
    v
}

impl Collector {
    /// A collector reading from `root`.
    pub fn new(root: Root, options: CaptureOptions) -> Self {
        Collector {
            root,
            options,
            buf: FileBuf::new(),
            readers: NsReaders::new(false),
            host_core: TreeReader::new(&["net/core"], &[]),
            netns: None,
            netns_path: None,
            drops: false,
            all: None,
            all_unavailable: None,
            ns_config_known: None,
            keep_namespace_threads: true,
            owners: collect::sockets::OwnerCache::new(),
            kmsg: collect::kmsg::Reader::new(false),
        }
    }

    /// Read the kernel log from the oldest record the kernel holds (since boot) instead of
    /// from the first snapshot on (`check --since-boot`).
    pub fn with_kernel_log_since_boot(mut self, since_boot: bool) -> Self {
        self.kmsg = collect::kmsg::Reader::new(since_boot);
        self
    }

    /// A collector reading the namespaces `scope` names (see [`Scope`]); fails only for
    /// [`Scope::One`] when that namespace cannot be entered.
    pub fn with_scope(root: Root, options: CaptureOptions, scope: Scope) -> Result<Self> {
        match scope {
            Scope::HostOnly => Ok(Collector::new(root, options)),
            Scope::One(path) => Collector::in_netns(root, options, &path),
            Scope::All => {
                let mut c = Collector::new(root.clone(), options);
                if crate::namespaces::may_enter() {
                    c.all = Some(crate::netns::NetnsSet::new(root));
                } else {
                    c.all_unavailable = Some(match crate::namespaces::can_run() {
                        Err(reason) => reason,
                        Ok(()) => "entering network namespaces needs root".into(),
                    });
                }
                Ok(c)
            }
        }
    }

    /// With [`Scope::All`], read only the namespaces `filter` accepts (see
    /// [`crate::netns::NetnsSet::set_filter`]); no effect otherwise.
    pub fn with_namespace_filter(mut self, filter: crate::netns::NamespaceFilter) -> Self {
        if let Some(set) = &mut self.all {
            set.set_filter(filter);
        }
        self
    }

    /// With [`Scope::All`], whether the other namespaces' threads (and their readers and
    /// fds) are kept between snapshots (the default: a snapshot then costs no discovery and
    /// no entering). A collector that snapshots rarely passes `false`: its threads are
    /// stopped after each snapshot, so it holds nothing of namespaces deleted meanwhile.
    pub fn with_namespace_threads_kept(mut self, keep: bool) -> Self {
        self.keep_namespace_threads = keep;
        self
    }

    /// The namespaces this collector reads.
    pub fn scope(&self) -> Scope {
        match (
            &self.netns_path,
            self.all.is_some() || self.all_unavailable.is_some(),
        ) {
            (Some(path), _) => Scope::One(path.clone()),
            (None, true) => Scope::All,
            (None, false) => Scope::HostOnly,
        }
    }

    /// The other namespaces being read with [`Scope::All`] (their threads and readers).
    pub fn namespace_set(&self) -> Option<&crate::netns::NetnsSet> {
        self.all.as_ref()
    }

    /// Count kernel drop reasons with eBPF during [`Collector::capture`]'s window when the
    /// drop monitor can run here and the window is at least [`DROPS_MIN_WINDOW`] (off by
    /// default: it needs root and loads a program).
    pub fn with_drops(mut self, on: bool) -> Self {
        self.drops = on;
        self
    }

    /// A collector that reads per-namespace sources inside the network namespace at `path`
    /// (`/run/netns/NAME` or `/proc/PID/ns/net`) and host-wide sources from the host.
    pub fn in_netns(root: Root, options: CaptureOptions, path: &Path) -> Result<Self> {
        let thread = crate::netns::NetnsThread::spawn(path, &root)?;
        let mut c = Collector::new(root, options);
        c.netns = Some(thread);
        c.netns_path = Some(path.to_path_buf());
        Ok(c)
    }

    /// The root this collector reads.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The host-wide sources and the caller's own namespace's, both read on this thread.
    fn read_here(
        &mut self,
        warnings: &mut Warnings,
        times: &mut BTreeMap<String, f64>,
    ) -> (HostPart, NetnsPart) {
        let host = host_part(&mut self.buf, &self.root, &self.options, warnings, times);
        let ns = netns_part(
            &mut self.buf,
            &mut self.readers,
            &self.root,
            &self.options,
            false,
            warnings,
            times,
        );
        (host, ns)
    }

    /// Take one snapshot of every source: the namespaces' and host-wide sources, then the
    /// kernel log written since the previous snapshot (host-wide, read on this thread).
    pub fn snapshot(&mut self) -> Snapshot {
        let mut snap = self.snapshot_sources();
        let mut w = collect::Warnings::default();
        let start = Instant::now();
        snap.kernel_log = self.kmsg.read(&self.root, &mut w);
        snap.collect_seconds
            .insert("kernel_log".into(), start.elapsed().as_secs_f64());
        snap.warnings.extend(w.0);
        snap
    }

    /// Every source but the kernel log.
    fn snapshot_sources(&mut self) -> Snapshot {
        let taken_at_ns = monotonic_ns();
        let unix = unix_time();
        let mut warnings = Warnings::default();
        let mut times = BTreeMap::new();
        if self.all.is_some() {
            return self.snapshot_all(taken_at_ns, unix, warnings, times, None);
        }
        if let Some(reason) = &self.all_unavailable {
            warnings.push(
                crate::netns::SOURCE,
                None,
                format!("reading the host's network namespace only: {reason}"),
            );
        }
        let Some(thread) = &self.netns else {
            let (host, ns) = self.read_here(&mut warnings, &mut times);
            return assemble(taken_at_ns, unix, host, ns, warnings, times);
        };
        // The namespace thread reads its part while this thread reads the host-wide part.
        let options = self.options.clone();
        let pending = thread.submit(move |root| {
            NS_STATE.with(|state| {
                let mut w = Warnings::default();
                let mut t = BTreeMap::new();
                let (buf, readers) = &mut *state.borrow_mut();
                let readers = readers.get_or_insert_with(|| NsReaders::new(false));
                let part = netns_part(buf, readers, root, &options, false, &mut w, &mut t);
                (part, w, t)
            })
        });
        let host = host_part(
            &mut self.buf,
            &self.root,
            &self.options,
            &mut warnings,
            &mut times,
        );
        // Host-wide keys (netdev_max_backlog, netdev_budget, ...) exist only in the initial
        // namespace's /proc/sys/net/core: read them here and fill them in below.
        let host_core = timed(&mut times, "sysctl_host", || {
            self.host_core
                .read(&mut self.buf, &self.root, &mut warnings)
        });
        let ns = match pending.and_then(|rx| {
            rx.recv().map_err(|_| Error::Netns {
                name: thread.name().to_string(),
                what: "namespace thread is gone".into(),
            })
        }) {
            Ok((mut part, w, t)) => {
                warnings.0.extend(w.0);
                times.extend(t);
                if let (Source::Ok(ns), Source::Ok(host)) = (&mut part.sysctl, host_core) {
                    for (key, value) in host {
                        ns.entry(key).or_insert(value);
                    }
                }
                part
            }
            Err(e) => NetnsPart::failed(&e.to_string()),
        };
        assemble(taken_at_ns, unix, host, ns, warnings, times)
    }
}

/// What a namespace thread sends back: when it started (CLOCK_MONOTONIC ns), its sources,
/// their warnings and times.
type NsRead = (u64, NetnsPart, Warnings, BTreeMap<String, f64>);

/// What one pass over the other namespaces gives ([`read_namespaces`]): each namespace read,
/// with when its read started (CLOCK_MONOTONIC ns) and its sources, warnings and times.
struct NsPass {
    /// The namespaces read, in the order they were read.
    read: Vec<(crate::namespaces::NetnsRef, NsRead)>,
    /// The discovery's warnings (said before the host's).
    discovery: Warnings,
    /// Namespaces gone, vanished or not entered (said after the host's).
    warnings: Warnings,
    /// Seconds the discovery (and starting the new namespaces' threads) took.
    discovery_seconds: f64,
    /// Seconds the whole pass took.
    seconds: f64,
}

impl Collector {
    /// A snapshot with [`Scope::All`]: the other namespaces are discovered, entered and read
    /// ([`read_namespaces`], on a thread of its own, each namespace's read on that
    /// namespace's thread) while this thread reads the host's part; a namespace gone
    /// meanwhile is left out with a warning. `during`, when given, runs on this thread once
    /// the host's part is read, while the namespaces are still being read ([`Self::capture`]
    /// runs its window there: each namespace's own window starts at its own read); its
    /// argument turns true once every namespace has been read.
    fn snapshot_all(
        &mut self,
        taken_at_ns: u64,
        unix: f64,
        mut warnings: Warnings,
        mut times: BTreeMap<String, f64>,
        during: Option<&mut dyn FnMut(&AtomicBool)>,
    ) -> Snapshot {
        let Some(set) = self.all.as_mut() else {
            let (host, ns) = self.read_here(&mut warnings, &mut times);
            if let Some(during) = during {
                during(&AtomicBool::new(true));
            }
            return assemble(taken_at_ns, unix, host, ns, warnings, times);
        };
        let started = Instant::now();
        // Owners of a namespace's listeners are not looked up per namespace: that walks
        // every process's fds once per namespace.
        let ns_options = CaptureOptions {
            socket_processes: false,
            ..self.options.clone()
        };
        let known = self.ns_config_known.as_ref();
        // `set` borrows `self.all`: the fields are named one by one.
        let (buf, readers, root, options) =
            (&mut self.buf, &mut self.readers, &self.root, &self.options);
        // Taken by the worker, or back here when no thread could be started.
        let slot = std::sync::Mutex::new(Some(set));
        let take = || slot.lock().ok().and_then(|mut s| s.take());
        let all_read = AtomicBool::new(false);
        let (host, ns, pass) = std::thread::scope(|s| {
            let mut pass = None;
            let worker = std::thread::Builder::new()
                .name("nettune-netns-all".into())
                .spawn_scoped(s, || {
                    let pass = take().map(|set| read_namespaces(set, &ns_options, known));
                    all_read.store(true, Ordering::Release);
                    pass
                });
            let worker = match worker {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::debug!("no thread for the namespace reads ({e}); read first");
                    pass = take().map(|set| read_namespaces(set, &ns_options, known));
                    all_read.store(true, Ordering::Release);
                    None
                }
            };
            let host = host_part(buf, root, options, &mut warnings, &mut times);
            let ns = netns_part(
                buf,
                readers,
                root,
                options,
                false,
                &mut warnings,
                &mut times,
            );
            if let Some(during) = during {
                tracing::debug!(
                    "host part read in {:.1} ms; other namespaces being read",
                    started.elapsed().as_secs_f64() * 1e3
                );
                during(&all_read);
            }
            let pass = match (pass, worker.map(|w| w.join())) {
                (Some(p), _) => p,
                (None, Some(Ok(Some(p)))) => p,
                // A panic in the pass (none is known): the snapshot says so.
                (None, _) => NsPass {
                    read: Vec::new(),
                    discovery: Warnings::default(),
                    warnings: {
                        let mut w = Warnings::default();
                        w.push(
                            crate::netns::SOURCE,
                            None,
                            "reading the other namespaces failed (the thread panicked); left out",
                        );
                        w
                    },
                    discovery_seconds: 0.0,
                    seconds: 0.0,
                },
            };
            (host, ns, pass)
        });
        tracing::debug!(
            "{} other namespaces read in {:.1} ms (discovery and entering {:.1} ms), \
             snapshot done {:.1} ms after its start",
            pass.read.len(),
            pass.seconds * 1e3,
            pass.discovery_seconds * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
        );
        times.insert("netns_discovery".into(), pass.discovery_seconds);
        let mut discovery = pass.discovery;
        discovery.0.append(&mut warnings.0);
        let mut warnings = discovery;
        warnings.0.extend(pass.warnings.0);
        // Host-wide `net.core` keys exist only in the host's tree: each namespace gets them.
        let host_core: Vec<(String, String)> = ns
            .sysctl
            .ok()
            .map(|s| {
                s.range("net.core.".to_string()..)
                    .take_while(|(k, _)| k.starts_with("net.core."))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut namespaces: Vec<NetnsSnapshot> = pass
            .read
            .into_iter()
            .map(|(netns, (started_ns, mut part, w, t))| {
                if let Source::Ok(s) = &mut part.sysctl {
                    for (k, v) in &host_core {
                        s.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                NetnsSnapshot {
                    netns,
                    snapshot: assemble(started_ns, unix, HostPart::elsewhere(), part, w, t),
                }
            })
            .collect();
        namespaces.sort_by(|a, b| a.netns.name.cmp(&b.netns.name));
        if self.options.socket_processes {
            let root = &self.root;
            let owners = &mut self.owners;
            timed(&mut times, "socket_owners", || {
                owners.fill(
                    root,
                    namespaces
                        .iter_mut()
                        .filter_map(|n| n.snapshot.sockets.ok_mut()),
                )
            });
        }
        if !self.keep_namespace_threads {
            if let Some(set) = self.all.as_mut() {
                set.clear();
            }
        }
        times.insert("namespaces".into(), started.elapsed().as_secs_f64());
        let mut snap = assemble(taken_at_ns, unix, host, ns, warnings, times);
        snap.namespaces = namespaces;
        snap
    }
}

/// Bring `set` up to date (discovery when due, threads started for new namespaces) and read
/// every member's per-namespace sources on its thread, a few at a time; the sysctls and
/// interfaces of the namespaces in `known` are not read (see [`carry_config`]).
fn read_namespaces(
    set: &mut crate::netns::NetnsSet,
    ns_options: &CaptureOptions,
    known: Option<&std::collections::BTreeSet<u64>>,
) -> NsPass {
    let skip = |inode: &u64| known.is_some_and(|k| k.contains(inode));
    let mut discovery = Warnings::default();
    let mut warnings = Warnings::default();
    let started = Instant::now();
    set.refresh(&mut discovery);
    let discovery_seconds = started.elapsed().as_secs_f64();
    // At most a few reads in flight (they contend for the same CPUs and kernel locks):
    // the next is submitted as each result is taken.
    let inodes: Vec<u64> = set.members().map(|m| m.netns.inode).collect();
    let in_flight = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 16);
    let mut pending: std::collections::VecDeque<(u64, Result<std::sync::mpsc::Receiver<NsRead>>)> =
        std::collections::VecDeque::with_capacity(in_flight);
    let mut next = 0;
    while next < inodes.len() && pending.len() < in_flight {
        let inode = inodes[next];
        pending.push_back((inode, submit_read(set, inode, ns_options, skip(&inode))));
        next += 1;
    }
    let mut read = Vec::with_capacity(inodes.len());
    let mut rediscover = true;
    while let Some((inode, rx)) = pending.pop_front() {
        // Started before this one is waited for, so the pipeline stays full.
        if next < inodes.len() {
            let inode = inodes[next];
            pending.push_back((inode, submit_read(set, inode, ns_options, skip(&inode))));
            next += 1;
        }
        // A thread that does not answer in time stays (dropping it would wait for it);
        // one that is gone is removed.
        let got = match rx {
            Ok(rx) => rx.recv_timeout(NETNS_READ_TIMEOUT).map_err(|e| match e {
                std::sync::mpsc::RecvTimeoutError::Timeout => (
                    format!("no answer within {} s", NETNS_READ_TIMEOUT.as_secs()),
                    false,
                ),
                std::sync::mpsc::RecvTimeoutError::Disconnected => {
                    ("namespace thread is gone".to_string(), true)
                }
            }),
            Err(Error::Netns { what, .. }) => Err((what, true)),
            Err(e) => Err((e.to_string(), true)),
        };
        let Some(netns) = set.get(inode).map(|m| m.netns.clone()) else {
            continue;
        };
        let result = match got {
            Ok(r) => set
                .check_alive(inode, &mut rediscover, &mut warnings)
                .map(|()| r),
            Err((what, remove)) => {
                if remove {
                    set.remove(inode);
                }
                Err(what)
            }
        };
        match result {
            // The namespace's name and path as now known (a re-discovery may have found it
            // under another path).
            Ok(r) => read.push((set.get(inode).map_or(netns, |m| m.netns.clone()), r)),
            Err(why) => warnings.push(
                crate::netns::SOURCE,
                None,
                format!(
                    "namespace {} (net:[{inode}]) vanished or could not be read ({why}); \
                     left out of this snapshot",
                    netns.name
                ),
            ),
        }
    }
    for (netns, why) in set.failed() {
        warnings.push(
            crate::netns::SOURCE,
            None,
            format!(
                "namespace {} (net:[{}]) could not be entered ({why}); left out",
                netns.name, netns.inode
            ),
        );
    }
    NsPass {
        read,
        discovery,
        warnings,
        discovery_seconds,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Start reading member `inode`'s per-namespace sources on its thread.
fn submit_read(
    set: &crate::netns::NetnsSet,
    inode: u64,
    options: &CaptureOptions,
    skip_config_files: bool,
) -> Result<std::sync::mpsc::Receiver<NsRead>> {
    let Some(m) = set.get(inode) else {
        return Err(Error::Netns {
            name: inode.to_string(),
            what: "no longer read".into(),
        });
    };
    let options = options.clone();
    m.thread.submit(move |root| {
        let started_ns = monotonic_ns();
        NS_STATE.with(|state| {
            let mut w = Warnings::default();
            let mut t = BTreeMap::new();
            let (buf, readers) = &mut *state.borrow_mut();
            let readers = readers.get_or_insert_with(|| NsReaders::new(true));
            let part = netns_part(
                buf,
                readers,
                root,
                &options,
                skip_config_files,
                &mut w,
                &mut t,
            );
            (started_ns, part, w, t)
        })
    })
}

/// Move the sysctls and interfaces of every other namespace from `older` into `newer` where
/// `newer` did not read them (see [`Collector::capture`]): configuration read during the
/// window, the rules read it from the newest snapshot. `older` keeps them as not requested
/// (as when it read counters only), so nothing is copied.
fn carry_config(older: &mut Snapshot, newer: &mut Snapshot) {
    let not_read = |outcome: Outcome<'_>| outcome == Outcome::Unsupported(NOT_REQUESTED_CONFIG);
    let mut by_inode: BTreeMap<u64, &mut NetnsSnapshot> = older
        .namespaces
        .iter_mut()
        .map(|n| (n.netns.inode, n))
        .collect();
    for n in &mut newer.namespaces {
        let Some(old) = by_inode.get_mut(&n.netns.inode) else {
            continue;
        };
        let (new, old) = (&mut n.snapshot, &mut old.snapshot);
        if not_read(new.sysctl.outcome()) {
            new.sysctl = std::mem::replace(&mut old.sysctl, not_requested());
            if let Some(s) = old.collect_seconds.remove("sysctl") {
                new.collect_seconds.insert("sysctl".into(), s);
            }
        }
        if not_read(new.interfaces.outcome()) {
            new.interfaces = std::mem::replace(&mut old.interfaces, not_requested());
            if let Some(s) = old.collect_seconds.remove("interfaces") {
                new.collect_seconds.insert("interfaces".into(), s);
            }
        }
    }
}

fn assemble(
    taken_at_ns: u64,
    unix_time: f64,
    host: HostPart,
    ns: NetnsPart,
    warnings: Warnings,
    collect_seconds: BTreeMap<String, f64>,
) -> Snapshot {
    Snapshot {
        taken_at_ns,
        unix_time,
        softnet: host.softnet,
        netdev: ns.netdev,
        netstat: ns.netstat,
        sockstat: ns.sockstat,
        softirqs: host.softirqs,
        cpu_times: host.cpu_times,
        interrupts: host.interrupts,
        irq_affinity: host.irq_affinity,
        irq_effective_affinity: host.irq_effective_affinity,
        sysctl: ns.sysctl,
        sysctl_config: host.sysctl_config,
        conntrack: ns.conntrack,
        interfaces: ns.interfaces,
        ethtool: ns.ethtool,
        sockets: ns.sockets,
        // Read by `Collector::snapshot` for the host; never per namespace.
        kernel_log: Source::unsupported(NOT_REQUESTED_HOST_WIDE),
        netlink: ns.netlink,
        qdisc: ns.qdisc,
        neigh: host.neigh,
        rt6_stats: ns.rt6_stats,
        warnings: warnings.0,
        collect_seconds,
        namespaces: Vec::new(),
    }
}

fn host_part(
    buf: &mut FileBuf,
    root: &Root,
    options: &CaptureOptions,
    w: &mut Warnings,
    t: &mut BTreeMap<String, f64>,
) -> HostPart {
    let interrupts = timed(t, "interrupts", || collect::interrupts::read(buf, root, w));
    let (irq_affinity, irq_effective_affinity) = match interrupts.ok() {
        _ if !options.config => (not_requested(), not_requested()),
        Some(irqs) => timed(t, "irq_affinity", || {
            let numbered: Vec<u32> = irqs
                .lines
                .iter()
                .filter(|l| l.actions().next().is_some())
                .filter_map(|l| l.number())
                .collect();
            (
                Source::Ok(collect::interrupts::read_affinity(buf, root, &numbered, w)),
                Source::Ok(collect::interrupts::read_effective_affinity(
                    buf, root, &numbered, w,
                )),
            )
        }),
        None => (
            Source::unsupported("no /proc/interrupts"),
            Source::unsupported("no /proc/interrupts"),
        ),
    };
    HostPart {
        softnet: timed(t, "softnet", || collect::softnet::read(buf, root, w)),
        softirqs: timed(t, "softirqs", || collect::softirqs::read(buf, root, w)),
        cpu_times: timed(t, "cpu_times", || {
            collect::softirqs::read_cpu_times(buf, root, w)
        }),
        interrupts,
        irq_affinity,
        irq_effective_affinity,
        sysctl_config: if options.config {
            timed(t, "sysctl_config", || collect::sysctl::read_config(root, w))
        } else {
            not_requested()
        },
        neigh: timed(t, "neigh", || collect::neigh::read(buf, root, w)),
    }
}

/// The per-namespace sources of the calling thread's namespace; with `skip_config_files`
/// the sysctls and interfaces are left unread (not requested) whatever `options` say.
fn netns_part(
    buf: &mut FileBuf,
    readers: &mut NsReaders,
    root: &Root,
    options: &CaptureOptions,
    skip_config_files: bool,
    w: &mut Warnings,
    t: &mut BTreeMap<String, f64>,
) -> NetnsPart {
    let netdev = timed(t, "netdev", || collect::netdev::read(buf, root, w));
    let interfaces = if options.config && !skip_config_files {
        timed(t, "interfaces", || collect::interfaces::read(buf, root, w))
    } else {
        not_requested()
    };
    let ethtool = if options.ethtool {
        let names: Vec<String> = match (interfaces.ok(), netdev.ok()) {
            (Some(i), _) => i.keys().cloned().collect(),
            (None, Some(d)) => d.keys().cloned().collect(),
            (None, None) => Vec::new(),
        };
        timed(t, "ethtool", || {
            let reader = readers
                .ethtool
                .get_or_insert_with(collect::ethtool::Reader::new);
            // Rings, channels, coalescing and features are configuration too.
            Source::Ok(if options.config {
                reader.read_all(&names)
            } else {
                reader.read_counters(&names)
            })
        })
    } else {
        Source::unsupported(NOT_REQUESTED_ETHTOOL)
    };
    let sockstat = timed(t, "sockstat", || collect::sockstat::read(buf, root, w));
    let sockets = if options.sockets {
        // Another namespace's dumps are skipped for the protocols it has no socket of:
        // each walks the kernel's whole table, most of an idle namespace's read.
        let wanted = match sockstat.ok() {
            Some(stat) if readers.other => collect::sockets::Wanted::from_sockstat(stat),
            _ => collect::sockets::Wanted::ALL,
        };
        timed(t, "sockets", || {
            readers
                .sockets
                .read_wanted(root, options.socket_processes, wanted)
        })
    } else {
        Source::unsupported(NOT_REQUESTED_SOCKETS)
    };
    NetnsPart {
        netdev,
        netstat: timed(t, "netstat", || readers.netstat.read(buf, root, w)),
        sockstat,
        sysctl: if options.config && !skip_config_files {
            timed(t, "sysctl", || readers.sysctl.read(buf, root, w))
        } else {
            not_requested()
        },
        conntrack: timed(t, "conntrack", || collect::conntrack::read(buf, root, w)),
        netlink: timed(t, "netlink", || {
            collect::netlink::read(buf, root, options.socket_processes, w)
        }),
        qdisc: timed(t, "qdisc", || collect::qdisc::read(root)),
        rt6_stats: timed(t, "rt6_stats", || collect::route6::read(buf, root, w)),
        interfaces,
        ethtool,
        sockets,
    }
}

impl Collector {
    /// Host facts, then a snapshot, a pause of `interval` (calling `tick` with the time
    /// elapsed about ten times a second), and a second snapshot.
    ///
    /// With [`Scope::All`] the pause starts once the host's part of the first snapshot is
    /// read; the other namespaces are discovered, entered and read during it (their
    /// configuration too, which the second snapshot then takes over instead of reading it
    /// again), so each namespace's window runs from its own first read to its own second one
    /// and what reading them costs is not added to the window. `tick` is called only once
    /// the first snapshot is complete, namespaces included (at least once, at the end of
    /// the pause or after it), so a caller acting in `tick` acts after the first snapshot.
    pub fn capture(
        &mut self,
        interval: std::time::Duration,
        mut tick: impl FnMut(std::time::Duration),
    ) -> Capture {
        let host = self.host_facts();
        // Loading the drop monitor (parsing the kernel's BTF, verifying) takes tens of
        // milliseconds: a thread loads it while the first snapshot is taken and the window
        // runs, and its counting starts when it is attached, so a few tens of milliseconds
        // after the window's start. Its counts are the difference of a read right after
        // attaching and one right before the second snapshot, over their own duration.
        let counted = self.drops && interval >= DROPS_MIN_WINDOW;
        let loader = counted.then(|| {
            let netns = self.netns_path.clone();
            std::thread::Builder::new()
                .name("nettune-drops".into())
                .spawn(move || {
                    DropWindow::start(netns.as_deref()).map(|mut w| {
                        w.begin();
                        w
                    })
                })
        });
        // Other namespaces' configuration (sysctls, interfaces, ethtool settings) is read in
        // the newest snapshot only, which is the one the rules read it from.
        // With every namespace, the window starts once the host's part of the first
        // snapshot is read: the other namespaces are discovered, entered and read meanwhile
        // (each namespace's window runs from its own first read to its own second one).
        let ticked = std::cell::Cell::new(false);
        let start = std::cell::Cell::new(Instant::now());
        let mut window = |all_read: &AtomicBool| {
            start.set(Instant::now());
            let start = start.get();
            while start.elapsed() < interval {
                let left = interval.saturating_sub(start.elapsed());
                std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
                if all_read.load(Ordering::Acquire) {
                    tick(start.elapsed().min(interval));
                    ticked.set(true);
                }
            }
        };
        let mut first = if self.all.is_some() {
            self.snapshot_all(
                monotonic_ns(),
                unix_time(),
                Warnings::default(),
                BTreeMap::new(),
                Some(&mut window),
            )
        } else {
            let first = self.snapshot();
            window(&AtomicBool::new(true));
            first
        };
        if !ticked.get() {
            // The namespaces were read after the pause ended.
            tick(start.get().elapsed().min(interval));
        }
        let drops = match loader {
            None if self.drops => Source::unsupported(format!(
                "window shorter than {} s: kernel drop reasons are counted only over longer windows",
                DROPS_MIN_WINDOW.as_secs()
            )),
            None => Source::unsupported("drop reasons not requested"),
            Some(Err(e)) => Source::error(format!("starting the drop monitor thread: {e}")),
            Some(Ok(handle)) => match handle.join() {
                Ok(Ok(w)) => w.finish(),
                Ok(Err(source)) => source,
                Err(_) => Source::error("the drop monitor thread panicked"),
            },
        };
        // The namespaces' configuration was read during the window: the newer snapshot reads
        // their counters and takes it over.
        if self.options.config && self.all.is_some() {
            self.ns_config_known = Some(
                first
                    .namespaces
                    .iter()
                    .filter(|n| n.snapshot.sysctl.ok().is_some())
                    .map(|n| n.netns.inode)
                    .collect(),
            );
        }
        let t = Instant::now();
        let mut second = self.snapshot();
        if self.ns_config_known.take().is_some() {
            carry_config(&mut first, &mut second);
        }
        tracing::debug!(
            "capture: second snapshot in {:.1} ms ({} other namespaces)",
            t.elapsed().as_secs_f64() * 1e3,
            second.namespaces.len()
        );
        Capture {
            schema: CAPTURE_SCHEMA.to_string(),
            host,
            netns: self.netns.as_ref().map(|t| t.name().to_string()),
            snapshots: vec![first, second],
            archive: None,
            drops,
        }
    }

    /// Facts about the host (kernel, CPUs, HZ, ...).
    pub fn host_facts(&mut self) -> HostFacts {
        let mut w = Warnings::default();
        collect::host::read(&mut self.buf, &self.root, &mut w)
    }
}

/// The drop monitor attached for one capture window; dropping it detaches the program.
struct DropWindow {
    monitor: DropMonitor,
    before: std::result::Result<Vec<RawDrop>, String>,
    lost_before: u64,
    started: Instant,
}

impl DropWindow {
    /// Load and attach, or the `Source` that says why not.
    fn start(netns: Option<&Path>) -> std::result::Result<Self, Source<DropReasons>> {
        match DropMonitor::start(netns) {
            Ok(monitor) => Ok(DropWindow {
                monitor,
                before: Ok(Vec::new()),
                lost_before: 0,
                started: Instant::now(),
            }),
            Err(BpfError::Unsupported(why)) => Err(Source::unsupported(why)),
            Err(e) => Err(Source::error(e.to_string())),
        }
    }

    /// Start of the window: the counts so far are the baseline.
    fn begin(&mut self) {
        self.started = Instant::now();
        match self.monitor.read() {
            Ok((raw, lost)) => {
                self.before = Ok(raw);
                self.lost_before = lost;
            }
            Err(e) => self.before = Err(e.to_string()),
        }
    }

    /// End of the window: the counts since [`DropWindow::begin`], named and symbolised;
    /// the program is detached.
    fn finish(self) -> Source<DropReasons> {
        let after = self.monitor.read();
        let seconds = self.started.elapsed().as_secs_f64();
        let names = self.monitor.names.clone();
        drop(self.monitor);
        let (before, (after, lost)) = match (self.before, after) {
            (Ok(b), Ok(a)) => (b, a),
            (Err(e), _) => return Source::error(e),
            (_, Err(e)) => return Source::error(e.to_string()),
        };
        // kallsyms is large: read it only when there is something to symbolise.
        let kallsyms = if after.len() > before.len() || after.iter().ne(before.iter()) {
            std::fs::read_to_string("/proc/kallsyms").unwrap_or_default()
        } else {
            String::new()
        };
        Source::Ok(DropReasons::from_window(
            &before,
            &after,
            lost.saturating_sub(self.lost_before),
            &names,
            &kallsyms,
            seconds,
        ))
    }
}

impl Collector {
    /// Take one snapshot and return every file it read on this thread, with how it read it
    /// (benchmarks replay the list as the floor: the cost of only reading the same files the
    /// same way). A namespace thread's reads are not recorded.
    pub fn snapshot_recording_reads(&mut self) -> (Snapshot, Vec<crate::root::ReadRecord>) {
        self.buf.record = Some(Vec::new());
        let snap = self.snapshot();
        let reads = self.buf.record.take().unwrap_or_default();
        (snap, reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source of a live snapshot survives a JSON round trip (captures are read back
    /// by `check --from`); a failure names the source.
    #[test]
    fn live_snapshot_round_trips_through_json() {
        let mut c = Collector::new(Root::default(), CaptureOptions::default());
        let snap = c.snapshot();
        let value = serde_json::to_value(&snap).unwrap();
        for (key, v) in value.as_object().unwrap() {
            let mut one = serde_json::to_value(Snapshot::empty(1)).unwrap();
            one[key] = v.clone();
            if let Err(e) = serde_json::from_value::<Snapshot>(one) {
                panic!("source {key} does not round-trip: {e}\n{v}");
            }
        }
        let back: Snapshot = serde_json::from_value(value).unwrap();
        assert_eq!(back, snap);
    }

    /// Every source of a full snapshot is timed under its own name (the exporter's
    /// `nettune_collect_duration_seconds{source}`), except the effective IRQ affinity, read
    /// together with the affinity.
    #[test]
    fn every_source_is_timed() {
        let snap = Collector::new(Root::default(), CaptureOptions::default()).snapshot();
        for source in crate::snapshot::SOURCES {
            let key = match source {
                "irq_effective_affinity" => "irq_affinity",
                s => s,
            };
            if key == "irq_affinity" && snap.interrupts.ok().is_none() {
                continue;
            }
            assert!(
                snap.collect_seconds.contains_key(key),
                "{source} not timed: {:?}",
                snap.collect_seconds
            );
        }
    }

    /// The sources options leave out say so ([`was_requested`], which the exporter's carry of
    /// slow sources relies on); a full snapshot requests every source.
    #[test]
    fn sources_left_out_are_marked_not_requested() {
        let none = CaptureOptions {
            config: false,
            ethtool: false,
            sockets: false,
            socket_processes: false,
        };
        let snap = Collector::new(Root::default(), none).snapshot();
        let left_out: Vec<&str> = snap
            .sources()
            .into_iter()
            .filter(|(_, o)| !was_requested(*o))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            left_out,
            [
                "irq_affinity",
                "irq_effective_affinity",
                "sysctl",
                "sysctl_config",
                "interfaces",
                "ethtool",
                "sockets"
            ]
        );
        let full = Collector::new(Root::default(), CaptureOptions::default()).snapshot();
        assert!(full.sources().iter().all(|(_, o)| was_requested(*o)));
        // Another namespace's snapshot leaves every host-wide source to the host's.
        let ns = assemble(
            1,
            0.0,
            HostPart::elsewhere(),
            NetnsPart::failed("x"),
            Warnings::default(),
            BTreeMap::new(),
        );
        let host_wide: Vec<&str> = ns
            .sources()
            .into_iter()
            .filter(|(_, o)| !was_requested(*o))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            host_wide,
            [
                "softnet",
                "softirqs",
                "cpu_times",
                "interrupts",
                "irq_affinity",
                "irq_effective_affinity",
                "sysctl_config",
                "kernel_log",
                "neigh"
            ]
        );
    }

    /// A collector reports the scope it was built with; without `Scope::All` a snapshot has
    /// no other namespace.
    #[test]
    fn scope_is_kept() {
        let c = Collector::with_scope(Root::default(), config_only(), Scope::HostOnly).unwrap();
        assert_eq!(c.scope(), Scope::HostOnly);
        let all = Collector::with_scope(Root::default(), config_only(), Scope::All).unwrap();
        assert_eq!(all.scope(), Scope::All);
        assert_eq!(
            all.namespace_set().is_some(),
            crate::namespaces::may_enter()
        );
        let mut c = c;
        assert!(c.snapshot().namespaces.is_empty());
    }

    /// Without root, `Scope::All` reads the host only and every snapshot says why.
    #[test]
    fn all_without_root_says_why() {
        let mut c = Collector::new(Root::default(), config_only());
        c.all_unavailable = Some("not root: test".into());
        for _ in 0..2 {
            let snap = c.snapshot();
            assert!(snap.namespaces.is_empty());
            assert!(
                snap.warnings
                    .iter()
                    .any(|w| w.source == crate::netns::SOURCE
                        && w.message.contains("not root: test")),
                "{:?}",
                snap.warnings
            );
        }
    }

    /// The newer snapshot of a capture takes over the configuration the older one read for
    /// a namespace in both, leaving the older one's as not requested; what the newer read
    /// itself, and a namespace new in it, are left alone.
    #[test]
    fn configuration_read_during_the_window_moves_to_the_newer_snapshot() {
        let ns = |inode: u64, sysctl: Source<Sysctls>| {
            let mut snapshot = Snapshot::empty(inode);
            snapshot.sysctl = sysctl;
            snapshot.interfaces = Source::Ok(Interfaces::new());
            snapshot.collect_seconds.insert("sysctl".into(), 0.5);
            NetnsSnapshot {
                netns: crate::namespaces::NetnsRef {
                    inode,
                    name: format!("ns{inode}"),
                    path: format!("/run/netns/ns{inode}").into(),
                },
                snapshot,
            }
        };
        let keys = |v: &str| -> Source<Sysctls> {
            Source::Ok([("net.core.somaxconn".to_string(), v.to_string())].into())
        };
        let mut older = Snapshot::empty(1);
        older.namespaces = vec![ns(1, keys("4")), ns(3, keys("8"))];
        let mut newer = Snapshot::empty(2);
        let unread = |inode| {
            let mut n = ns(inode, not_requested());
            n.snapshot.interfaces = not_requested();
            n.snapshot.collect_seconds.clear();
            n
        };
        // 1: read in the older only; 2: new in the newer; 3: read in both.
        newer.namespaces = vec![unread(1), unread(2), ns(3, keys("9"))];
        carry_config(&mut older, &mut newer);
        let n = &newer.namespaces;
        assert_eq!(n[0].snapshot.sysctl, keys("4"));
        assert_eq!(n[0].snapshot.interfaces, Source::Ok(Interfaces::new()));
        assert_eq!(n[0].snapshot.collect_seconds.get("sysctl"), Some(&0.5));
        assert_eq!(
            older.namespaces[0].snapshot.sysctl.outcome(),
            Outcome::Unsupported(NOT_REQUESTED_CONFIG)
        );
        assert!(older.namespaces[0].snapshot.collect_seconds.is_empty());
        assert_eq!(
            n[1].snapshot.sysctl.outcome(),
            Outcome::Unsupported(NOT_REQUESTED_CONFIG)
        );
        assert_eq!(n[2].snapshot.sysctl, keys("9"));
        assert_eq!(older.namespaces[1].snapshot.sysctl, keys("8"));
    }

    fn config_only() -> CaptureOptions {
        CaptureOptions {
            config: true,
            ethtool: false,
            sockets: false,
            socket_processes: false,
        }
    }

    fn keys(s: &Source<Sysctls>) -> Vec<String> {
        s.ok().expect("sysctls").keys().cloned().collect()
    }

    /// The collector keeps its sysctl layout between snapshots and returns what a fresh
    /// read does; the recorded reads name how each file was read.
    #[test]
    fn live_snapshots_keep_the_sysctl_layout() {
        if !crate::testing::require(
            "/proc/sys",
            Path::new("/proc/sys/net/core/somaxconn").exists(),
        ) {
            return;
        }
        let root = Root::default();
        let mut c = Collector::new(root.clone(), config_only());
        let first = c.snapshot();
        let (second, reads) = c.snapshot_recording_reads();
        let fresh = collect::sysctl::read(&mut FileBuf::new(), &root, &mut Warnings::default());
        assert_eq!(keys(&first.sysctl), keys(&fresh));
        assert_eq!(keys(&second.sysctl), keys(&fresh));
        use crate::root::ReadMode;
        let mode = |suffix: &str| {
            reads
                .iter()
                .find(|r| r.path.ends_with(suffix))
                .map(|r| r.mode)
        };
        assert_eq!(mode("sys/net/core/somaxconn"), Some(ReadMode::Sysctl));
        assert_eq!(mode("sys/fs/file-nr"), Some(ReadMode::Sysctl));
        assert_eq!(mode("net/dev"), Some(ReadMode::UntilEof));
    }

    /// A namespace collector keeps its namespace's sysctl layout on its thread: each
    /// snapshot shows that namespace's interfaces, plus the host's `net/core`.
    #[test]
    fn live_namespace_snapshots_keep_their_own_sysctl_layout() {
        if !crate::testing::require_root() {
            return;
        }
        // A thread in a new network namespace, alive until `done` is dropped.
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (done, done_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_ok();
            let _ = ready_tx.send(ok.then(nix::unistd::gettid));
            let _ = done_rx.recv();
        });
        let Some(tid) = ready.recv().unwrap() else {
            crate::testing::require("a new network namespace", false);
            return;
        };
        let path = std::path::PathBuf::from(format!("/proc/self/task/{tid}/ns/net"));
        let mut c = Collector::in_netns(Root::default(), config_only(), &path).unwrap();
        for _ in 0..3 {
            let snap = c.snapshot();
            let s = snap.sysctl.ok().expect("sysctls");
            assert!(s.contains_key("net.ipv4.conf.lo.forwarding"), "{s:?}");
            assert!(!s.keys().any(|k| k.starts_with("net.ipv4.conf.eth0.")));
            // Host-wide, from the host's net/core.
            assert!(s.contains_key("net.core.netdev_max_backlog"));
        }
        drop(c);
        drop(done);
        holder.join().unwrap();
    }
}
