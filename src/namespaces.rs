//! Discovery of every network namespace on the host.
//!
//! One pass finds the namespaces bound by `ip netns` (`/run/netns/*`), by Docker
//! (`/var/run/docker/netns/*`) and those of every process (`/proc/*/ns/net`), deduplicated by
//! the namespace's inode (the `net:[4026531840]` of the `ns/net` link, or the `st_ino` of a
//! bind-mounted nsfs file). Each namespace gets a display name from the best owner known:
//! its `ip netns` name, else the container or pod that owns its first process (parsed from
//! that process's cgroup path), else `pid N (comm)`. The host namespace (PID 1's) is `host`.
//!
//! Cost: one `readdir` of `/proc` and one `readlink` of `ns/net` per process; the cgroup file
//! (and `comm` when the cgroup names no owner) of one process per namespace not already named;
//! the host namespace is never looked up further. The bind-mount directories are read from
//! the [`Root`]'s configuration root (`/` live), so a fixture tree lays them out under `run/`.
//! Measured on the 2-CPU test VM (6.18): about 4 µs per process for the `readlink` and 20 µs
//! per namespace named from its cgroup (1,173 processes in 101 namespaces: 8–13 ms), so a
//! caller keeps the result and re-discovers when it needs to, not per source.
//!
//! Not seen: a namespace held only by an open file descriptor or by a single thread that
//! `setns()`ed away from its process (only thread-group leaders' links are read), and, without
//! `CAP_SYS_ADMIN` and `CAP_SYS_PTRACE` (root has both), other processes' namespaces
//! ([`can_run`], [`Discovery::partial`]).

use crate::collect::Warnings;
use crate::root::{FileBuf, Root};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The `source` of the warnings discovery records.
pub const SOURCE: &str = "netns discovery";

/// Display name of the host's network namespace.
pub const HOST_NAME: &str = "host";

/// Where `ip netns` binds named namespaces, relative to the configuration root.
pub const NETNS_DIR: &str = "run/netns";

/// Where Docker binds its sandboxes' namespaces, relative to the configuration root (`/var/run`
/// is usually a symlink to `/run`, which a `/host` prefix would not follow, so both are read).
pub const DOCKER_NETNS_DIRS: [&str; 2] = ["var/run/docker/netns", "run/docker/netns"];

/// Where the kubelet keeps one directory per pod, `<namespace>_<name>_<uid>`, relative to the
/// configuration root: a pod UID found in a cgroup path is named from it when present.
pub const POD_LOG_DIR: &str = "var/log/pods";

/// Length of a container id in display names (as `docker ps` shows it).
pub const SHORT_ID: usize = 12;

/// How many process ids a permission warning lists as examples.
const EXAMPLE_PIDS: usize = 5;

/// A container runtime recognised from a cgroup path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// Docker (`docker-<id>.scope`, `/docker/<id>`), also under Kubernetes through cri-dockerd.
    Docker,
    /// containerd (`cri-containerd-<id>.scope` under Kubernetes, `nerdctl-<id>.scope`).
    Containerd,
    /// CRI-O (`crio-<id>.scope`).
    CriO,
    /// A CRI runtime the path does not name: kubelet's cgroupfs driver
    /// (`/kubepods/<qos>/pod<uid>/<id>`).
    Cri,
    /// Podman (`libpod-<id>.scope`, `/libpod_parent/libpod-<id>`).
    Podman,
    /// systemd-nspawn (`machine.slice/machine-<name>.scope`); the id is the machine name.
    Nspawn,
}

impl Runtime {
    /// The runtime's name in display names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Cri => "cri",
            Runtime::Podman => "podman",
            Runtime::Nspawn => "systemd-nspawn",
        }
    }
}

/// The container (and pod) a process belongs to, from its cgroup path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The runtime that created it.
    pub runtime: Runtime,
    /// Full container id (hex) as the runtime knows it; for [`Runtime::Nspawn`] the machine name.
    pub id: String,
    /// Kubernetes pod UID (`8-4-4-4-12` with dashes), when the container runs in a pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
}

impl Owner {
    /// The id as shown to people: the first [`SHORT_ID`] characters of a hex id, a machine
    /// name in full.
    pub fn short_id(&self) -> &str {
        match self.runtime {
            Runtime::Nspawn => &self.id,
            // Ids of the other runtimes are ASCII hex (checked by the parser): any cut is a
            // character boundary.
            _ => &self.id[..self.id.len().min(SHORT_ID)],
        }
    }

    /// Display name without a pod name: `docker 0123456789ab`, `machine web`,
    /// `pod <uid>`.
    pub fn display(&self) -> String {
        match (&self.pod_uid, self.runtime) {
            (Some(uid), _) => format!("pod {uid}"),
            (None, Runtime::Nspawn) => format!("machine {}", self.id),
            (None, runtime) => format!("{} {}", runtime.name(), self.short_id()),
        }
    }
}

/// What a namespace is known as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The host's namespace (PID 1's).
    Host,
    /// Bound under `/run/netns` by `ip netns add` (or `ip netns attach`).
    NamedNetns,
    /// Owned by a container (or pod), from the cgroup of its first process.
    Container(Owner),
    /// Bound by Docker under `/var/run/docker/netns` with no process found in it; `name` is
    /// Docker's sandbox key (not a container id).
    DockerNetns {
        /// The bind mount's file name.
        name: String,
    },
    /// Only known through a process whose cgroup names no container.
    Process {
        /// The lowest process id in the namespace.
        pid: u32,
    },
}

/// A network namespace as data carries it (snapshots, changes, findings, the journal): its
/// identity (the nsfs inode), its display name and a path that opens it. The inode is what
/// decides "the same namespace": a path can be re-bound to another namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetnsRef {
    /// The namespace's inode number on nsfs (`net:[4026531840]`).
    pub inode: u64,
    /// Display name (`pod default/web-0`, `docker 0123456789ab`, an `ip netns` name).
    pub name: String,
    /// Path to open it (`/run/netns/NAME`, `/proc/PID/ns/net`).
    pub path: PathBuf,
}

impl NetnsRef {
    /// The command prefix that runs a command inside this namespace: `ip netns exec NAME`
    /// for a namespace bound under `/run/netns`, else `nsenter --net=PATH`.
    pub fn exec_prefix(&self) -> String {
        match self
            .path
            .strip_prefix("/run/netns")
            .ok()
            .and_then(|p| p.to_str())
            .filter(|p| !p.is_empty() && !p.contains('/'))
        {
            Some(name) => format!("ip netns exec {name}"),
            None => format!("nsenter --net={}", self.path.display()),
        }
    }
}

impl From<&Namespace> for NetnsRef {
    fn from(ns: &Namespace) -> NetnsRef {
        NetnsRef {
            inode: ns.inode,
            name: ns.name.clone(),
            path: ns.path.clone(),
        }
    }
}

/// One network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// The namespace's inode number on nsfs: its stable id while it exists.
    pub inode: u64,
    /// Display name, unique within one [`Discovery`]: `host`, the `ip netns` name,
    /// `docker 0123456789ab`, `pod default/web-0`, `machine web`, `pid 4242 (unshare)`.
    pub name: String,
    /// Who owns it.
    pub kind: Kind,
    /// Whether this is the host's namespace (that of PID 1, else of the caller).
    pub is_host: bool,
    /// A path to open to enter or read it (`setns`, `nsenter --net=`), preferring ones that
    /// outlive processes: `/run/netns/NAME`, then Docker's bind mount, then
    /// `/proc/<lowest PID>/ns/net`.
    pub path: PathBuf,
    /// Every `ip netns` name bound to it, sorted (usually zero or one).
    pub netns_names: Vec<String>,
    /// Number of processes (thread-group leaders) found in it.
    pub pids: usize,
}

/// The result of [`discover`]: every namespace found, host first, then by name.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The namespaces, host first, then sorted by display name.
    pub namespaces: Vec<Namespace>,
    /// Problems that did not stop discovery (unreadable entries, stale bind mounts).
    pub warnings: Warnings,
    /// Why the list may be incomplete (permission denied on other users' processes), if so.
    pub partial: Option<String>,
    /// Number of process directories scanned under `/proc`.
    pub processes: usize,
}

impl Namespace {
    /// The command prefix that runs a command in this namespace, for fixes written for it:
    /// `ip netns exec NAME` for a named namespace, else `nsenter --net=PATH`; `None` for the
    /// host (commands run as they are).
    pub fn exec_prefix(&self) -> Option<String> {
        if self.is_host {
            None
        } else if let Some(name) = self.netns_names.first() {
            Some(format!("ip netns exec {name}"))
        } else {
            Some(format!("nsenter --net={}", self.path.display()))
        }
    }
}

impl Discovery {
    /// The host's namespace, when it could be identified.
    pub fn host(&self) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.is_host)
    }

    /// The namespace with this inode.
    pub fn by_inode(&self, inode: u64) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.inode == inode)
    }

    /// The namespace with this display name or `ip netns` name.
    pub fn by_name(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .iter()
            .find(|n| n.name == name || n.netns_names.iter().any(|m| m == name))
    }
}

/// `CAP_SYS_PTRACE`: reading another process's `ns/net` link is a ptrace read-access check,
/// which root passes only for processes whose capabilities are a subset of its own unless it
/// holds this one.
const CAP_SYS_PTRACE: u32 = 19;

/// Human reason why discovery will be partial for the calling process, or `Ok`: without
/// `CAP_SYS_ADMIN` ([`may_enter`]: no namespace can be entered), or without `CAP_SYS_PTRACE`
/// (other users' processes, and, as in a container with Docker's default capabilities,
/// processes holding capabilities this one lacks are
/// not visible). A security module can still deny some; [`Discovery::partial`] reports what
/// actually happened.
pub fn can_run() -> std::result::Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !may_enter_with(&status) {
        return Err(
            "no CAP_SYS_ADMIN (not root): other network namespaces (containers, pods) cannot be \
             entered; run as root, or grant CAP_SYS_ADMIN and CAP_SYS_PTRACE to read every \
             namespace"
                .into(),
        );
    }
    if has_capability(&status, CAP_SYS_PTRACE) == Some(false) {
        return Err(
            "no CAP_SYS_PTRACE: the network namespaces of processes holding capabilities this \
             one lacks (container runtimes, other agents) are not visible; add the capability \
             (`--cap-add SYS_PTRACE`, or `capabilities: add: [SYS_PTRACE]` in a pod)"
                .into(),
        );
    }
    Ok(())
}

/// `CAP_SYS_ADMIN`: `setns` into another network namespace and the private sysfs mount there.
const CAP_SYS_ADMIN: u32 = 21;

/// Whether this process may enter other network namespaces: it holds `CAP_SYS_ADMIN` (a
/// capability check, not a uid check, so an unprivileged user granted the capability — the
/// exporter unit's per-namespace drop-in — reads every namespace, and root without it, as in
/// a container with Docker's default capabilities, does not try).
pub fn may_enter() -> bool {
    may_enter_with(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

/// [`may_enter`] for a `/proc/self/status` text; the uid decides when it has no `CapEff:`.
fn may_enter_with(status: &str) -> bool {
    has_capability(status, CAP_SYS_ADMIN).unwrap_or_else(|| nix::unistd::geteuid().is_root())
}

/// Whether the `CapEff:` line of a `/proc/PID/status` text has capability `bit`; `None` when
/// the line is missing or unreadable.
pub fn has_capability(status: &str, bit: u32) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(bit < 64 && caps & (1u64 << bit) != 0)
}

/// Parse the target of an `ns/net` link, `net:[4026531840]`, into the inode.
pub fn parse_ns_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// What is known about one inode while scanning.
#[derive(Debug, Default)]
struct Entry {
    netns_names: Vec<String>,
    docker_names: Vec<String>,
    docker_path: Option<PathBuf>,
    /// Lowest live PID seen.
    first_pid: Option<u32>,
    pids: usize,
    owner: Option<Owner>,
    /// The PID whose cgroup/comm named it, with its comm.
    named_by: Option<(u32, String)>,
}

impl Entry {
    fn needs_name(&self) -> bool {
        self.netns_names.is_empty() && self.named_by.is_none()
    }
}

/// How a failed read of a process's file is treated.
enum Failure {
    /// The process exited mid-scan (ENOENT, ESRCH): skip it silently.
    Vanished,
    /// Permission denied: counted for the partial reason.
    Denied,
    /// Anything else: a warning.
    Other(String),
}

fn classify(e: &io::Error) -> Failure {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => Failure::Vanished,
        Some(libc::EACCES) | Some(libc::EPERM) => Failure::Denied,
        _ => Failure::Other(e.to_string()),
    }
}

/// The inode of the network namespace at `path`: a `/proc/PID/ns/net` link (or a fixture's
/// link to `net:[N]`), or a file on nsfs (an `ip netns` / Docker bind mount, or a symlink to
/// one). `Ok(None)` when the file exists but is not a namespace (an unmounted leftover under
/// `/run/netns`). A rollback compares it with the journal's inode to know the namespace is
/// still the same one.
pub fn inode_of(path: &Path) -> io::Result<Option<u64>> {
    if let Ok(target) = std::fs::read_link(path) {
        if let Some(inode) = target.to_str().and_then(parse_ns_link) {
            return Ok(Some(inode));
        }
    }
    let fs = nix::sys::statfs::statfs(path).map_err(io::Error::from)?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return Ok(None);
    }
    Ok(Some(std::fs::metadata(path)?.ino()))
}

/// Sorted file names in `dir`; a missing directory is empty.
fn list_dir(dir: &Path, warnings: &mut Warnings, denied: &mut Vec<String>) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            if let Failure::Denied = classify(&e) {
                denied.push(dir.display().to_string());
            }
            warnings.push(SOURCE, None, format!("{}: {e}", dir.display()));
            return Vec::new();
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Record the namespaces bound in `dir`, calling `add(entry, name, path)` for each.
fn scan_bound(
    dir: &Path,
    map: &mut HashMap<u64, Entry>,
    warnings: &mut Warnings,
    denied: &mut Vec<String>,
    mut add: impl FnMut(&mut Entry, String, PathBuf),
) {
    for name in list_dir(dir, warnings, denied) {
        let path = dir.join(&name);
        match inode_of(&path) {
            Ok(Some(inode)) => add(map.entry(inode).or_default(), name, path),
            Ok(None) => warnings.push(
                SOURCE,
                None,
                format!(
                    "{}: not a mounted network namespace (a leftover of a failed `ip netns add` \
                     or of another mount namespace); skipped",
                    path.display()
                ),
            ),
            Err(e) => {
                if let Failure::Denied = classify(&e) {
                    denied.push(path.display().to_string());
                }
                warnings.push(SOURCE, None, format!("{}: {e}; skipped", path.display()));
            }
        }
    }
}

/// Process ids under `proc`, ascending.
fn list_pids(proc: &Path) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// `readlink` of `<pid>/ns/net` relative to the open `/proc` directory.
fn read_ns_link(proc: &std::fs::File, rel: &str) -> io::Result<std::ffi::OsString> {
    nix::fcntl::readlinkat(Some(proc.as_raw_fd()), rel).map_err(io::Error::from)
}

/// Find every network namespace visible through `root` (see the module documentation).
/// Never fails: what cannot be read becomes a warning, and [`Discovery::partial`] says why
/// the list may be incomplete.
pub fn discover(root: &Root) -> Discovery {
    let mut warnings = Warnings::default();
    let mut denied_paths: Vec<String> = Vec::new();
    let mut map: HashMap<u64, Entry> = HashMap::new();

    // Bind mounts first, so namespaces named by `ip netns` need no cgroup read.
    scan_bound(
        &root.config(NETNS_DIR),
        &mut map,
        &mut warnings,
        &mut denied_paths,
        |e, name, _| e.netns_names.push(name),
    );
    for dir in DOCKER_NETNS_DIRS {
        scan_bound(
            &root.config(dir),
            &mut map,
            &mut warnings,
            &mut denied_paths,
            |e, name, path| {
                if !e.docker_names.contains(&name) {
                    e.docker_names.push(name);
                }
                e.docker_path.get_or_insert(path);
            },
        );
    }

    // The host: PID 1's namespace, else the caller's.
    let mut host_inode = None;
    for rel in ["1/ns/net", "self/ns/net"] {
        if let Ok(target) = std::fs::read_link(root.proc(rel)) {
            if let Some(inode) = target.to_str().and_then(parse_ns_link) {
                host_inode = Some(inode);
                break;
            }
        }
    }

    // One pass over the processes.
    let mut buf = FileBuf::new();
    let mut denied_pids: Vec<u32> = Vec::new();
    let mut denied_count = 0usize;
    let mut processes = 0usize;
    let opened = std::fs::File::open(&root.proc).and_then(|dir| Ok((dir, list_pids(&root.proc)?)));
    let (proc_dir, pids) = match opened {
        Ok((dir, pids)) => (Some(dir), pids),
        Err(e) => {
            warnings.push(SOURCE, None, format!("{}: {e}", root.proc.display()));
            (None, Vec::new())
        }
    };
    let mut rel = String::with_capacity(32);
    let mut other_failures = 0usize;
    let mut fail = |warnings: &mut Warnings, pid: u32, what: &str, e: String| {
        other_failures += 1;
        if other_failures <= 10 {
            warnings.push(SOURCE, None, format!("pid {pid} {what}: {e}; skipped"));
        }
    };
    if let Some(proc_dir) = &proc_dir {
        for pid in pids {
            processes += 1;
            rel.clear();
            let _ = write!(rel, "{pid}/ns/net");
            let target = match read_ns_link(proc_dir, &rel) {
                Ok(t) => t,
                Err(e) => {
                    match classify(&e) {
                        Failure::Vanished => {}
                        Failure::Denied => {
                            denied_count += 1;
                            if denied_pids.len() < EXAMPLE_PIDS {
                                denied_pids.push(pid);
                            }
                        }
                        Failure::Other(e) => fail(&mut warnings, pid, "ns/net", e),
                    }
                    continue;
                }
            };
            let Some(inode) = target.to_str().and_then(parse_ns_link) else {
                fail(
                    &mut warnings,
                    pid,
                    "ns/net",
                    format!("unexpected link target {target:?}"),
                );
                continue;
            };
            let needs_name =
                Some(inode) != host_inode && map.get(&inode).is_none_or(Entry::needs_name);
            let mut named = None;
            if needs_name {
                match name_process(&mut buf, root, pid) {
                    Ok(n) => named = Some(n),
                    Err(Failure::Vanished) => continue,
                    Err(Failure::Denied) => {
                        denied_count += 1;
                        if denied_pids.len() < EXAMPLE_PIDS {
                            denied_pids.push(pid);
                        }
                    }
                    Err(Failure::Other(e)) => fail(&mut warnings, pid, "cgroup", e),
                }
            }
            let entry = map.entry(inode).or_default();
            entry.pids += 1;
            entry.first_pid.get_or_insert(pid);
            if let Some((owner, comm)) = named {
                entry.owner = owner;
                entry.named_by = Some((pid, comm));
            }
        }
    }
    if other_failures > 10 {
        warnings.push(
            SOURCE,
            None,
            format!("{} more processes could not be read", other_failures - 10),
        );
    }

    // The host may have no visible process (a fixture, a restricted /proc).
    if let Some(inode) = host_inode {
        map.entry(inode).or_default();
    }

    let mut partial = None;
    if denied_count > 0 {
        let examples: Vec<String> = denied_pids.iter().map(u32::to_string).collect();
        warnings.push(
            SOURCE,
            None,
            format!(
                "permission denied reading the namespace of {denied_count} {} (pid {}{})",
                processes_word(denied_count),
                examples.join(", "),
                if denied_count > examples.len() {
                    ", ..."
                } else {
                    ""
                }
            ),
        );
        partial = Some(match can_run() {
            Err(reason) => reason,
            Ok(()) => format!(
                "permission denied reading the namespace of {denied_count} {}: they hold \
                 capabilities this process lacks (CAP_SYS_PTRACE), or /proc or a security \
                 module restricts access",
                processes_word(denied_count)
            ),
        });
    } else if !denied_paths.is_empty() {
        partial = Some(format!("permission denied: {}", denied_paths.join(", ")));
    }

    let pods = pod_names(root, &map);
    let mut namespaces: Vec<Namespace> = map
        .into_iter()
        .map(|(inode, e)| finish(root, inode, e, Some(inode) == host_inode, &pods))
        .collect();
    namespaces.sort_by(|a, b| {
        b.is_host
            .cmp(&a.is_host)
            .then_with(|| a.name.cmp(&b.name))
            .then(a.inode.cmp(&b.inode))
    });
    make_unique(&mut namespaces);
    Discovery {
        namespaces,
        warnings,
        partial,
        processes,
    }
}

fn processes_word(n: usize) -> &'static str {
    if n == 1 {
        "process"
    } else {
        "processes"
    }
}

/// The owner of process `pid` from its cgroup file, and its `comm` when the cgroup names none.
fn name_process(
    buf: &mut FileBuf,
    root: &Root,
    pid: u32,
) -> std::result::Result<(Option<Owner>, String), Failure> {
    let dir = root.proc.join(pid.to_string());
    let owner = match buf.read(&dir.join("cgroup")) {
        Ok(text) => owner_from_cgroup_file(text),
        Err(e) => return Err(classify(&e)),
    };
    if owner.is_some() {
        return Ok((owner, String::new()));
    }
    match buf.read_trimmed(&dir.join("comm")) {
        Ok(comm) => Ok((None, comm.to_string())),
        Err(e) => Err(classify(&e)),
    }
}

/// `pod UID -> namespace/name` from the kubelet's pod log directories, read only when some
/// namespace belongs to a pod.
fn pod_names(root: &Root, map: &HashMap<u64, Entry>) -> HashMap<String, String> {
    let mut pods = HashMap::new();
    let any_pod = map
        .values()
        .any(|e| e.owner.as_ref().is_some_and(|o| o.pod_uid.is_some()));
    if !any_pod {
        return pods;
    }
    let Ok(dir) = std::fs::read_dir(root.config(POD_LOG_DIR)) else {
        return pods;
    };
    for entry in dir.filter_map(|e| e.ok()) {
        if let Some((namespace, name, uid)) = entry.file_name().to_str().and_then(parse_pod_dir) {
            pods.insert(uid.to_string(), format!("{namespace}/{name}"));
        }
    }
    pods
}

/// Split a kubelet pod log directory name `<namespace>_<name>_<uid>` (Kubernetes names cannot
/// contain `_`).
pub fn parse_pod_dir(dir: &str) -> Option<(&str, &str, &str)> {
    let mut parts = dir.split('_');
    let (namespace, name, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || namespace.is_empty() || name.is_empty() || !is_uid(uid) {
        return None;
    }
    Some((namespace, name, uid))
}

fn finish(
    root: &Root,
    inode: u64,
    mut e: Entry,
    is_host: bool,
    pods: &HashMap<String, String>,
) -> Namespace {
    e.netns_names.sort();
    let proc_path = e
        .first_pid
        .map(|pid| root.proc.join(pid.to_string()).join("ns/net"));
    let path = if let Some(first) = e.netns_names.first() {
        root.config(NETNS_DIR).join(first)
    } else if let Some(p) = e.docker_path.clone() {
        p
    } else if let Some(p) = proc_path {
        p
    } else if is_host {
        // The host with no visible process: PID 1's link (or the caller's).
        root.proc("1/ns/net")
    } else {
        root.proc("self/ns/net")
    };
    let (name, kind) = if is_host {
        (HOST_NAME.to_string(), Kind::Host)
    } else if let Some(first) = e.netns_names.first() {
        (first.clone(), Kind::NamedNetns)
    } else if let Some(owner) = e.owner {
        let name = match owner.pod_uid.as_ref().and_then(|uid| pods.get(uid)) {
            Some(pod) => format!("pod {pod}"),
            None => owner.display(),
        };
        (name, Kind::Container(owner))
    } else if let Some((pid, comm)) = e.named_by {
        (format!("pid {pid} ({comm})"), Kind::Process { pid })
    } else if let Some(first) = e.docker_names.first() {
        (
            format!("docker netns {first}"),
            Kind::DockerNetns {
                name: first.clone(),
            },
        )
    } else {
        // Only a process whose cgroup could not be read: name it by its PID.
        let pid = e.first_pid.unwrap_or(0);
        (format!("pid {pid}"), Kind::Process { pid })
    };
    Namespace {
        inode,
        name,
        kind,
        is_host,
        path,
        netns_names: e.netns_names,
        pids: e.pids,
    }
}

/// A cheap sign of whether the bind-mounted namespaces changed since the last look: the
/// inode and modification time of `/run/netns` and Docker's netns directories (creating or
/// deleting an entry changes the directory's mtime). Three `stat`s, against a walk of `/proc`
/// for [`discover`]; namespaces held only by processes are not covered, so a caller also
/// re-discovers now and then.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<Option<(u64, i64, i64)>>);

/// The [`Fingerprint`] of the bind-mount directories under `root`'s configuration root.
pub fn fingerprint(root: &Root) -> Fingerprint {
    Fingerprint(
        std::iter::once(NETNS_DIR)
            .chain(DOCKER_NETNS_DIRS)
            .map(|dir| {
                std::fs::metadata(root.config(dir))
                    .ok()
                    .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
            })
            .collect(),
    )
}

/// The inode of the calling thread's network namespace (`/proc/thread-self/ns/net`).
pub fn own_inode() -> Option<u64> {
    std::fs::read_link("/proc/thread-self/ns/net")
        .ok()
        .and_then(|t| t.to_str().and_then(parse_ns_link))
}

/// Make display names unique by appending the inode to repeated ones (two containers of the
/// same pod UID prefix, say).
fn make_unique(namespaces: &mut [Namespace]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in namespaces.iter() {
        *counts.entry(n.name.clone()).or_default() += 1;
    }
    for n in namespaces.iter_mut() {
        if counts.get(&n.name).is_some_and(|&c| c > 1) {
            n.name = format!("{} (net:[{}])", n.name, n.inode);
        }
    }
}

/// The owner named by a `/proc/PID/cgroup` file: the first line (cgroup v2 `0::/path` or a
/// v1 `N:controllers:/path`) whose path names a container.
pub fn owner_from_cgroup_file(text: &str) -> Option<Owner> {
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_id, _controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        owner_from_cgroup_path(path)
    })
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A container id: hex, at least [`SHORT_ID`] characters.
fn is_container_id(s: &str) -> bool {
    s.len() >= SHORT_ID && is_hex(s)
}

/// A pod UID: a dashed UUID, or the 32-hex config hash of a static pod.
fn is_uid(s: &str) -> bool {
    (32..=36).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_hexdigit())
}

/// The pod UID named by one cgroup path segment: `pod<uid>` (cgroupfs driver) or
/// `kubepods[-<qos>]-pod<uid_with_underscores>.slice` (systemd driver, also under a
/// `kubelet-` prefix as kind nodes have it).
fn pod_uid(segment: &str) -> Option<String> {
    let raw = if let Some(slice) = segment.strip_suffix(".slice") {
        let at = slice.rfind("-pod")?;
        if !slice[..at].contains("kubepods") {
            return None;
        }
        &slice[at + 4..]
    } else {
        segment.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    is_uid(&uid).then_some(uid)
}

/// Undo systemd's unit name escaping (`\x2d` for `-`).
pub fn unescape_unit(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            if let Some(v) = bytes
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The container named by one segment (with its parent segment for the bare-id forms).
fn container_segment(segment: &str, parent: Option<&str>) -> Option<(Runtime, String)> {
    if let Some(unit) = segment.strip_suffix(".scope") {
        const PREFIXES: [(&str, Runtime); 6] = [
            ("docker-", Runtime::Docker),
            ("cri-containerd-", Runtime::Containerd),
            ("crio-", Runtime::CriO),
            ("libpod-", Runtime::Podman),
            ("nerdctl-", Runtime::Containerd),
            ("cri-dockerd-", Runtime::Docker),
        ];
        for (prefix, runtime) in PREFIXES {
            // `crio-conmon-<id>` and `libpod-conmon-<id>` are the monitors, in the host
            // namespace: `is_container_id` rejects them.
            if let Some(id) = unit.strip_prefix(prefix).filter(|id| is_container_id(id)) {
                return Some((runtime, id.to_string()));
            }
        }
        if parent == Some("machine.slice") {
            let name = unit.strip_prefix("machine-")?;
            if !name.is_empty() {
                return Some((Runtime::Nspawn, unescape_unit(name)));
            }
        }
        return None;
    }
    // Podman's cgroupfs manager: /libpod_parent/libpod-<id>.
    if let Some(id) = segment
        .strip_prefix("libpod-")
        .filter(|id| is_container_id(id))
    {
        return Some((Runtime::Podman, id.to_string()));
    }
    // Bare 64-hex ids: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>.
    if segment.len() == 64 && is_hex(segment) {
        match parent {
            Some("docker") => return Some((Runtime::Docker, segment.to_string())),
            Some(p) if pod_uid(p).is_some() => return Some((Runtime::Cri, segment.to_string())),
            _ => {}
        }
    }
    None
}

/// The owner named by a cgroup path. The innermost recognisable container segment wins, so
/// a process in a sub-cgroup (`.../libpod-<id>.scope/container`, nspawn's `/payload`) or a
/// pod inside a kind node (`/docker/<node>/kubepods/...`) is attributed to the right one.
pub fn owner_from_cgroup_path(path: &str) -> Option<Owner> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for i in (0..segments.len()).rev() {
        let parent = i.checked_sub(1).map(|p| segments[p]);
        if let Some((runtime, id)) = container_segment(segments[i], parent) {
            let pod_uid = parent.and_then(pod_uid);
            return Some(Owner {
                runtime,
                id,
                pod_uid,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    const DOCKER_ID: &str = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";
    const CTR_ID: &str = "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376";
    const UID: &str = "74c13223-5a00-11e9-b385-42010a80018d";

    fn owner(runtime: Runtime, id: &str, pod: Option<&str>) -> Option<Owner> {
        Some(Owner {
            runtime,
            id: id.to_string(),
            pod_uid: pod.map(str::to_string),
        })
    }

    #[test]
    fn ns_links_parse() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("net:[]"), None);
        assert_eq!(parse_ns_link("mnt:[4026531840]"), None);
        assert_eq!(parse_ns_link("net:[12"), None);
        assert_eq!(parse_ns_link("/run/netns/blue"), None);
    }

    #[test]
    fn docker_paths() {
        let want = owner(Runtime::Docker, DOCKER_ID, None);
        for path in [
            format!("/system.slice/docker-{DOCKER_ID}.scope"),
            format!("/docker/{DOCKER_ID}"),
            // A process in a sub-cgroup of the container.
            format!("/system.slice/docker-{DOCKER_ID}.scope/init"),
        ] {
            assert_eq!(owner_from_cgroup_path(&path), want, "{path}");
        }
        assert_eq!(
            want.as_ref().map(Owner::display).as_deref(),
            Some("docker 9ec39b91f3d7")
        );
        // dockerd itself and containerd-shim are in the host's services, not containers.
        assert_eq!(owner_from_cgroup_path("/system.slice/docker.service"), None);
        assert_eq!(
            owner_from_cgroup_path("/system.slice/containerd.service"),
            None
        );
        // A docker-looking name that is not an id.
        assert_eq!(
            owner_from_cgroup_path("/system.slice/docker-foo.scope"),
            None
        );
    }

    #[test]
    fn cgroup_v1_and_v2_files() {
        let v1 = format!(
            "12:pids:/docker/{DOCKER_ID}\n11:cpu,cpuacct:/docker/{DOCKER_ID}\n\
             1:name=systemd:/docker/{DOCKER_ID}\n0::/\n"
        );
        assert_eq!(
            owner_from_cgroup_file(&v1),
            owner(Runtime::Docker, DOCKER_ID, None)
        );
        let v2 = format!("0::/system.slice/docker-{DOCKER_ID}.scope\n");
        assert_eq!(
            owner_from_cgroup_file(&v2),
            owner(Runtime::Docker, DOCKER_ID, None)
        );
        // Hybrid: the v2 line is the root, a v1 line names the container.
        let hybrid = format!("0::/\n1:name=systemd:/system.slice/docker-{DOCKER_ID}.scope\n");
        assert_eq!(
            owner_from_cgroup_file(&hybrid),
            owner(Runtime::Docker, DOCKER_ID, None)
        );
        assert_eq!(owner_from_cgroup_file("0::/init.scope\n"), None);
        assert_eq!(
            owner_from_cgroup_file("0::/user.slice/user-1000.slice/session-3.scope\n"),
            None
        );
        assert_eq!(owner_from_cgroup_file(""), None);
    }

    #[test]
    fn kubepods_systemd_driver() {
        let uid_ = UID.replace('-', "_");
        let cases = [
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{CTR_ID}.scope"
                ),
                Runtime::Containerd,
            ),
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-{CTR_ID}.scope"
                ),
                Runtime::CriO,
            ),
            // Guaranteed QoS: no QoS slice.
            (
                format!("/kubepods.slice/kubepods-pod{uid_}.slice/docker-{CTR_ID}.scope"),
                Runtime::Docker,
            ),
            // A kind node seen from the host: the pod inside the node's container.
            (
                format!(
                    "/system.slice/docker-{DOCKER_ID}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{uid_}.slice/cri-containerd-{CTR_ID}.scope"
                ),
                Runtime::Containerd,
            ),
        ];
        for (path, runtime) in cases {
            assert_eq!(
                owner_from_cgroup_path(&path),
                owner(runtime, CTR_ID, Some(UID)),
                "{path}"
            );
        }
        // The CRI-O monitor is not the container.
        assert_eq!(
            owner_from_cgroup_path(&format!(
                "/kubepods.slice/kubepods-pod{uid_}.slice/crio-conmon-{CTR_ID}.scope"
            )),
            None
        );
        let o = owner(Runtime::Containerd, CTR_ID, Some(UID)).unwrap();
        assert_eq!(o.display(), format!("pod {UID}"));
    }

    #[test]
    fn kubepods_cgroupfs_driver() {
        for path in [
            format!("/kubepods/besteffort/pod{UID}/{CTR_ID}"),
            format!("/kubepods/burstable/pod{UID}/{CTR_ID}"),
            format!("/kubepods/pod{UID}/{CTR_ID}"),
        ] {
            assert_eq!(
                owner_from_cgroup_path(&path),
                owner(Runtime::Cri, CTR_ID, Some(UID)),
                "{path}"
            );
        }
        // Static pods have a 32-hex config hash as UID.
        let hash = "6f1c0d9b4b9a4c0e8f2a1b3c4d5e6f70";
        assert_eq!(
            owner_from_cgroup_path(&format!("/kubepods/burstable/pod{hash}/{CTR_ID}")),
            owner(Runtime::Cri, CTR_ID, Some(hash))
        );
        // A bare id under an unknown parent is not claimed.
        assert_eq!(owner_from_cgroup_path(&format!("/default/{CTR_ID}")), None);
    }

    #[test]
    fn podman_nerdctl_and_nspawn() {
        let want = owner(Runtime::Podman, CTR_ID, None);
        for path in [
            format!("/machine.slice/libpod-{CTR_ID}.scope"),
            format!("/machine.slice/libpod-{CTR_ID}.scope/container"),
            format!(
                "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CTR_ID}.scope"
            ),
            format!("/libpod_parent/libpod-{CTR_ID}"),
        ] {
            assert_eq!(owner_from_cgroup_path(&path), want, "{path}");
        }
        assert_eq!(
            owner_from_cgroup_path(&format!("/machine.slice/libpod-conmon-{CTR_ID}.scope")),
            None
        );
        assert_eq!(
            owner_from_cgroup_path(&format!("/system.slice/nerdctl-{CTR_ID}.scope")),
            owner(Runtime::Containerd, CTR_ID, None)
        );
        let nspawn = owner(Runtime::Nspawn, "deb-test", None);
        for path in [
            "/machine.slice/machine-deb\\x2dtest.scope",
            "/machine.slice/machine-deb\\x2dtest.scope/payload",
            "/machine.slice/machine-deb\\x2dtest.scope/payload/system.slice/nginx.service",
        ] {
            assert_eq!(owner_from_cgroup_path(path), nspawn, "{path}");
        }
        assert_eq!(nspawn.unwrap().display(), "machine deb-test");
        // `machine-` outside machine.slice is not a machine.
        assert_eq!(
            owner_from_cgroup_path("/system.slice/machine-foo.scope"),
            None
        );
    }

    #[test]
    fn capabilities_from_status() {
        let status = "Name:\tnettune\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        assert_eq!(has_capability(status, CAP_SYS_PTRACE), Some(true));
        assert_eq!(has_capability(status, 24), Some(false));
        assert_eq!(has_capability(status, 64), Some(false));
        let docker_default = "CapEff:\t00000000a80425fb\n";
        assert_eq!(has_capability(docker_default, CAP_SYS_PTRACE), Some(false));
        assert_eq!(has_capability("Name:\tx\n", CAP_SYS_PTRACE), None);
        assert_eq!(has_capability("CapEff:\tzz\n", CAP_SYS_PTRACE), None);
    }

    #[test]
    fn unit_unescaping_and_pod_dirs() {
        assert_eq!(unescape_unit("a\\x2db\\x2d1"), "a-b-1");
        assert_eq!(unescape_unit("trailing\\x2"), "trailing\\x2");
        assert_eq!(unescape_unit("\\xzz"), "\\xzz");
        assert_eq!(
            parse_pod_dir(&format!("default_web-0_{UID}")),
            Some(("default", "web-0", UID))
        );
        assert_eq!(parse_pod_dir("default_web-0"), None);
        assert_eq!(parse_pod_dir(&format!("a_b_c_{UID}")), None);
        assert_eq!(parse_pod_dir("default_web-0_notauid"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = owner_from_cgroup_file(&s);
            let _ = owner_from_cgroup_path(&s);
            let _ = parse_ns_link(&s);
            let _ = unescape_unit(&s);
            let _ = parse_pod_dir(&s);
            let _ = has_capability(&s, 19);
            if let Some(o) = owner_from_cgroup_path(&s) {
                let _ = o.display();
            }
        }

        #[test]
        fn structured_paths_never_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("kubepods.slice".to_string()),
                    Just("machine.slice".to_string()),
                    Just("docker".to_string()),
                    "(docker|crio|libpod|cri-containerd|machine|kubepods-pod)-[0-9a-f_\\\\x-]{0,70}(\\.scope|\\.slice)?",
                    "pod[0-9a-f_-]{0,40}",
                    "[0-9a-f]{60,66}",
                    ".{0,12}",
                ],
                0..8,
            )
        ) {
            let path = format!("/{}", parts.join("/"));
            if let Some(o) = owner_from_cgroup_path(&path) {
                prop_assert!(!o.id.is_empty());
                let _ = o.display();
                let _ = o.short_id();
            }
        }
    }

    fn fixture() -> Root {
        Root::fixture(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/namespaces"
        ))
    }

    #[test]
    fn fixture_tree_dedup_naming_and_order() {
        let root = fixture();
        let d = discover(&root);
        let names: Vec<&str> = d.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "host",
                "blue",
                "docker 9ec39b91f3d7",
                "docker netns 0123456789ab",
                "green",
                "machine deb-test",
                "pid 500 (unshare)",
                "pod default/web-0",
                "podman 34dc0b5e626f",
            ],
            "{:#?}",
            d.namespaces
        );
        let get = |name: &str| d.by_name(name).unwrap();

        // Host: PID 1 and 2, never looked up further, first.
        let host = d.host().unwrap();
        assert_eq!(host.inode, 4026531840);
        assert_eq!(host.kind, Kind::Host);
        assert_eq!(host.pids, 2);
        assert_eq!(host.path, root.proc("1/ns/net"));

        // `ip netns` name wins over the docker cgroup of its process; both names kept.
        let blue = get("blue");
        assert_eq!(blue.kind, Kind::NamedNetns);
        assert_eq!(blue.netns_names, ["blue", "blue-alias"]);
        assert_eq!(blue.path, root.config("run/netns/blue"));
        assert_eq!(blue.pids, 1);
        assert_eq!(d.by_name("blue-alias").unwrap().inode, blue.inode);

        // Two processes and Docker's bind mount of one namespace: one entry, the bind mount
        // as its path.
        let docker = get("docker 9ec39b91f3d7");
        assert_eq!(docker.pids, 2);
        assert_eq!(
            docker.kind,
            Kind::Container(owner(Runtime::Docker, DOCKER_ID, None).unwrap())
        );
        assert_eq!(
            docker.path,
            root.config("var/run/docker/netns/abcdef123456")
        );

        // A pod named from the kubelet's pod log directory.
        let pod = get("pod default/web-0");
        assert_eq!(
            pod.kind,
            Kind::Container(owner(Runtime::Containerd, CTR_ID, Some(UID)).unwrap())
        );
        assert_eq!(pod.path, root.proc("300/ns/net"));

        // PID 600 vanished (no cgroup file): 601 names and paths the namespace.
        let podman = get("podman 34dc0b5e626f");
        assert_eq!(podman.pids, 1);
        assert_eq!(podman.path, root.proc("601/ns/net"));

        let plain = get("pid 500 (unshare)");
        assert_eq!(plain.kind, Kind::Process { pid: 500 });
        assert_eq!(get("machine deb-test").pids, 1);

        // Bound, no processes.
        assert_eq!(get("green").pids, 0);
        let sandbox = get("docker netns 0123456789ab");
        assert_eq!(
            sandbox.kind,
            Kind::DockerNetns {
                name: "0123456789ab".into()
            }
        );

        // Serialisable as it is (for a later `--json` list of namespaces).
        let json = serde_json::to_value(pod).unwrap();
        assert_eq!(json["kind"]["kind"], "container");
        assert_eq!(json["kind"]["runtime"], "containerd");
        assert_eq!(json["kind"]["pod_uid"], UID);
        assert_eq!(serde_json::to_value(host).unwrap()["kind"]["kind"], "host");

        // Every inode once.
        let mut inodes: Vec<u64> = d.namespaces.iter().map(|n| n.inode).collect();
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(inodes.len(), d.namespaces.len());

        // The stale /run/netns file and the odd link are warnings; vanished PIDs are not.
        let warnings: Vec<&str> = d.warnings.0.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings
            .iter()
            .any(|w| w.contains("run/netns/stale") && w.contains("not a mounted")));
        assert!(warnings
            .iter()
            .any(|w| w.contains("pid 800") && w.contains("unexpected link target")));
        assert!(!warnings
            .iter()
            .any(|w| w.contains("600") || w.contains("700")));
        assert_eq!(d.partial, None);
        // 1 2 100 200 201 300 400 500 600 601 700 800
        assert_eq!(d.processes, 12);
    }

    #[test]
    fn exec_prefixes_and_inodes_of_paths() {
        let d = discover(&fixture());
        let prefix = |name: &str| d.by_name(name).unwrap().exec_prefix();
        assert_eq!(prefix("host"), None);
        assert_eq!(prefix("blue").as_deref(), Some("ip netns exec blue"));
        let podman = prefix("podman 34dc0b5e626f").unwrap();
        assert!(
            podman.starts_with("nsenter --net=") && podman.ends_with("/proc/601/ns/net"),
            "{podman}"
        );
        let root = fixture();
        assert_eq!(
            inode_of(&root.proc("601/ns/net")).unwrap(),
            Some(4026532006)
        );
        assert_eq!(inode_of(&root.config("run/netns/stale")).unwrap(), None);
        let gone = inode_of(&root.proc("700/ns/net")).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        if Path::new("/proc/self/ns/net").exists() {
            let live = inode_of(Path::new("/proc/self/ns/net")).unwrap().unwrap();
            let stat = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
            assert_eq!(live, stat);
        }
    }

    #[test]
    fn duplicate_display_names_get_the_inode() {
        let ns = |inode, name: &str| Namespace {
            inode,
            name: name.to_string(),
            kind: Kind::Process { pid: 1 },
            is_host: false,
            path: PathBuf::new(),
            netns_names: Vec::new(),
            pids: 1,
        };
        let mut list = vec![ns(1, "a"), ns(2, "a"), ns(3, "b")];
        make_unique(&mut list);
        let names: Vec<&str> = list.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a (net:[1])", "a (net:[2])", "b"]);
    }

    #[test]
    fn missing_tree_is_empty_with_a_warning() {
        let d = tempfile::tempdir().unwrap();
        let got = discover(&Root::fixture(d.path()));
        assert!(got.namespaces.is_empty());
        assert_eq!(got.warnings.0.len(), 1);
        assert!(got.warnings.0[0].message.contains("proc"));
    }

    #[test]
    fn live_discovery_finds_the_host_first_and_is_timed() {
        if !crate::testing::require("/proc/1/ns/net", Path::new("/proc/self/ns/net").exists()) {
            return;
        }
        let root = Root::default();
        let start = Instant::now();
        let d = discover(&root);
        let took = start.elapsed();
        eprintln!(
            "discover: {} processes, {} namespaces in {:?} ({} warnings)",
            d.processes,
            d.namespaces.len(),
            took,
            d.warnings.0.len()
        );
        let host = &d.namespaces[0];
        assert!(host.is_host);
        assert_eq!(host.name, HOST_NAME);
        assert!(d.processes >= 1);
        // Partial only with a reason and a warning naming the denied processes (as root
        // without CAP_SYS_PTRACE, PID 1 may hold capabilities the caller lacks).
        if let Some(reason) = &d.partial {
            eprintln!("partial: {reason}");
            assert!(d
                .warnings
                .0
                .iter()
                .any(|w| w.message.contains("permission denied")));
        }
    }

    /// Processes started by a test, killed on drop even when the test fails.
    struct Children(Vec<Child>);

    impl Drop for Children {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
            }
            for c in &mut self.0 {
                let _ = c.wait();
            }
        }
    }

    /// The cost of one discovery with many processes and many anonymous namespaces (printed,
    /// not asserted), and every anonymous namespace named by its process.
    #[test]
    fn live_discovery_scales_with_processes() {
        if !crate::testing::require_root() {
            return;
        }
        let have_unshare = Command::new("unshare")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !crate::testing::require("unshare (util-linux)", have_unshare) {
            return;
        }
        const HOST_PROCS: usize = 1000;
        const NETNS_PROCS: usize = 100;
        let mut children = Children(Vec::new());
        for _ in 0..HOST_PROCS {
            children.0.push(
                Command::new("sleep")
                    .arg("30")
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        }
        let mut isolated = Vec::new();
        for _ in 0..NETNS_PROCS {
            let c = Command::new("unshare")
                .args(["--net", "sleep", "30"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            isolated.push(c.id());
            children.0.push(c);
        }
        let own = link_inode(Path::new("/proc/self/ns/net"));
        let deadline = Instant::now() + Duration::from_secs(10);
        for pid in &isolated {
            let link = PathBuf::from(format!("/proc/{pid}/ns/net"));
            loop {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let inode = link_inode(&link);
                if inode.is_some() && inode != own && comm.trim() == "sleep" {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "pid {pid} never entered its namespace"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let root = Root::default();
        let mut times = Vec::new();
        let mut d = Discovery::default();
        for _ in 0..5 {
            let start = Instant::now();
            d = discover(&root);
            times.push(start.elapsed());
        }
        times.sort();
        eprintln!(
            "discover: {} processes, {} namespaces: median {:?}, min {:?}, max {:?}",
            d.processes,
            d.namespaces.len(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
        assert!(d.processes >= HOST_PROCS + NETNS_PROCS);
        for pid in isolated {
            let found: Vec<&Namespace> = d
                .namespaces
                .iter()
                .filter(|n| n.kind == Kind::Process { pid })
                .collect();
            assert_eq!(found.len(), 1, "pid {pid}");
            assert_eq!(found[0].name, format!("pid {pid} (sleep)"));
            assert_eq!(found[0].pids, 1);
            assert_eq!(found[0].path, PathBuf::from(format!("/proc/{pid}/ns/net")));
        }
    }

    /// Named namespaces created for a test and a process in one of them, all removed on drop.
    struct Netns {
        names: Vec<String>,
        child: Option<Child>,
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            for n in &self.names {
                let _ = Command::new("ip").args(["netns", "del", n]).status();
            }
        }
    }

    fn link_inode(path: &Path) -> Option<u64> {
        std::fs::read_link(path)
            .ok()
            .and_then(|t| t.to_str().and_then(parse_ns_link))
    }

    #[test]
    fn live_named_namespaces_are_found_once_by_name() {
        if !crate::testing::require_root() {
            return;
        }
        let have_ip = Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !crate::testing::require("ip (iproute2)", have_ip) {
            return;
        }
        let pid = std::process::id();
        let a = format!("nettune-t-disc-{pid}-a");
        let b = format!("nettune-t-disc-{pid}-b");
        let mut guard = Netns {
            names: Vec::new(),
            child: None,
        };
        for n in [&a, &b] {
            let ok = Command::new("ip")
                .args(["netns", "add", n])
                .status()
                .unwrap()
                .success();
            assert!(ok, "ip netns add {n}");
            guard.names.push(n.clone());
        }
        let child = Command::new("ip")
            .args(["netns", "exec", &a, "sleep", "30"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let child_pid = child.id();
        guard.child = Some(child);
        let a_path = Path::new("/run/netns").join(&a);
        let a_inode = std::fs::metadata(&a_path).unwrap().ino();
        // A bind mount is read through statfs/stat: the same inode as the process links.
        assert_eq!(inode_of(&a_path).unwrap(), Some(a_inode));
        let deadline = Instant::now() + Duration::from_secs(5);
        let child_link = PathBuf::from(format!("/proc/{child_pid}/ns/net"));
        while link_inode(&child_link) != Some(a_inode) {
            assert!(Instant::now() < deadline, "sleep never entered {a}");
            std::thread::sleep(Duration::from_millis(10));
        }

        let start = Instant::now();
        let d = discover(&Root::default());
        eprintln!(
            "discover: {} processes, {} namespaces in {:?}",
            d.processes,
            d.namespaces.len(),
            start.elapsed()
        );
        assert!(d.namespaces[0].is_host);
        assert_eq!(d.namespaces[0].name, HOST_NAME);
        assert_eq!(d.namespaces.iter().filter(|n| n.is_host).count(), 1);
        for (name, pids) in [(&a, 1), (&b, 0)] {
            let found: Vec<&Namespace> = d
                .namespaces
                .iter()
                .filter(|n| n.netns_names.contains(name))
                .collect();
            assert_eq!(found.len(), 1, "{name}: {found:#?}");
            let ns = found[0];
            assert_eq!(&ns.name, name);
            assert_eq!(ns.kind, Kind::NamedNetns);
            assert_eq!(ns.path, Path::new("/run/netns").join(name));
            assert!(!ns.is_host);
            assert!(ns.pids >= pids, "{name}: {} pids", ns.pids);
        }
        let ns_a = d.by_name(&a).unwrap();
        assert_eq!(ns_a.inode, a_inode);
        assert_eq!(d.by_inode(a_inode).unwrap().name, a);
        assert_eq!(
            ns_a.exec_prefix().as_deref(),
            Some(format!("ip netns exec {a}").as_str())
        );
        assert_ne!(ns_a.inode, d.by_name(&b).unwrap().inode);
    }

    /// The fingerprint changes when a namespace is bound or removed under `run/netns` (or
    /// Docker's directory appears), and not otherwise.
    #[test]
    fn fingerprint_follows_the_bind_mount_directories() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::fixture(d.path());
        let empty = fingerprint(&root);
        assert_eq!(empty, fingerprint(&root));
        let netns = d.path().join(NETNS_DIR);
        std::fs::create_dir_all(&netns).unwrap();
        let made = fingerprint(&root);
        assert_ne!(made, empty);
        // mtime granularity: make sure the next change lands on another timestamp.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(netns.join("pod-a"), "").unwrap();
        let added = fingerprint(&root);
        assert_ne!(added, made);
        assert_eq!(added, fingerprint(&root));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::remove_file(netns.join("pod-a")).unwrap();
        assert_ne!(fingerprint(&root), added);
        std::fs::create_dir_all(d.path().join(DOCKER_NETNS_DIRS[0])).unwrap();
        assert_ne!(
            fingerprint(&root),
            fingerprint(&Root::fixture(d.path().join("x")))
        );
    }

    #[test]
    fn own_inode_is_the_threads_namespace() {
        if !crate::testing::require(
            "/proc/thread-self",
            Path::new("/proc/thread-self/ns/net").exists(),
        ) {
            return;
        }
        let want = inode_of(Path::new("/proc/thread-self/ns/net")).unwrap();
        assert_eq!(own_inode(), want);
        assert!(own_inode().is_some());
    }
}
