//! Reading per-namespace sources from inside another network namespace.
//!
//! A dedicated thread enters the namespace with `setns(CLONE_NEWNET)`; netlink sockets it opens
//! and `/proc/sys/net` files it opens then belong to that namespace. `/proc/net` follows the
//! process leader, so the thread reads `/proc/thread-self/net` instead; and sysfs shows the
//! namespace of whoever mounted it, so the thread makes a sysfs mount of its own: a detached
//! one (`fsopen`/`fsmount`, attached nowhere, read through `/proc/self/fd/N`), or, where the
//! kernel lacks those calls (before 5.2), a private mount namespace with sysfs mounted in it
//! (as `ip netns exec` does; that copies the caller's whole mount table, every `/run/netns`
//! bind mount included, so it costs O(mounts) per thread). Host-wide sources are read by the
//! caller.

use crate::collect::Warnings;
use crate::namespaces::{Fingerprint, NetnsRef};
use crate::{Error, Result, Root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Resolve `--netns NAME|PATH`: a bare name means `/run/netns/NAME`.
pub fn resolve(spec: &str) -> PathBuf {
    if spec.contains('/') {
        PathBuf::from(spec)
    } else {
        Path::new("/run/netns").join(spec)
    }
}

/// Human reason why namespace reading cannot work here, or `Ok`.
pub fn can_run(path: &Path) -> std::result::Result<(), String> {
    if !path.exists() {
        return Err(format!(
            "{} does not exist; create it with `ip netns add NAME` or give /proc/PID/ns/net",
            path.display()
        ));
    }
    if !crate::namespaces::may_enter() {
        return Err("entering a network namespace needs CAP_SYS_ADMIN; run as root".into());
    }
    Ok(())
}

type Job = Box<dyn FnOnce(&Root) + Send>;

/// A thread living inside a network namespace that runs jobs against a [`Root`] whose
/// `proc_net` and `sys` show that namespace.
pub struct NetnsThread {
    name: String,
    jobs: Option<mpsc::Sender<Job>>,
    /// Disconnected when the thread's function has returned (its sender is dropped last).
    done: Option<mpsc::Receiver<()>>,
    handle: Option<JoinHandle<()>>,
    /// Where the fallback private sysfs is mounted: a directory with a random name (mode
    /// 0700) the thread makes only when `fsmount` is refused, removed with the thread.
    sys_dir: Arc<Mutex<Option<PathBuf>>>,
}

impl NetnsThread {
    /// Enter the namespace at `path` on a new thread. `root` gives the procfs to read
    /// (its `proc_net` is replaced by `<proc>/thread-self/net`).
    pub fn spawn(path: &Path, root: &Root) -> Result<NetnsThread> {
        NetnsThread::start(path, root)?.wait()
    }

    /// Start entering the namespace at `path` on a new thread without waiting for it:
    /// [`Starting::wait`] does, so many threads enter their namespaces in parallel.
    pub fn start(path: &Path, root: &Root) -> Result<Starting> {
        let name = path.display().to_string();
        let fail = |what: String| Error::Netns {
            name: name.clone(),
            what,
        };
        can_run(path).map_err(fail)?;
        let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        let sys_dir: Arc<Mutex<Option<PathBuf>>> = Arc::default();
        let mut inner = root.clone();
        inner.proc_net = root.proc.join("thread-self/net");
        let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let thread_sys = sys_dir.clone();
        let handle = std::thread::Builder::new()
            .name("nettune-netns".into())
            .spawn(move || {
                // Dropped when this function returns or unwinds: the owner's sign that the
                // thread is ending.
                let _done = done_tx;
                use nix::sched::{setns, CloneFlags};
                if let Err(e) = setns(&file, CloneFlags::CLONE_NEWNET) {
                    let _ = ready_tx.send(Err(format!("setns: {e}")));
                    return;
                }
                // The thread now holds the namespace; the file is not needed any more.
                drop(file);
                // A sysfs of this namespace; without it interfaces come from the host. The
                // detached mount's fd lives as long as this thread.
                let _sysfs = match detached_sysfs() {
                    Ok(fd) => {
                        use std::os::fd::AsRawFd;
                        inner.sys = inner.proc.join(format!("self/fd/{}", fd.as_raw_fd()));
                        inner.live = true;
                        Some(fd)
                    }
                    Err(detached) => {
                        // A fresh directory of a name nobody can guess or pre-create (mode
                        // 0700), kept for the owner to remove once the thread is gone.
                        let made = tempfile::Builder::new()
                            .prefix("nettune-netns-sys-")
                            .tempdir()
                            .map(tempfile::TempDir::keep)
                            .map_err(|e| format!("{}: {e}", std::env::temp_dir().display()));
                        if let (Ok(dir), Ok(mut slot)) = (&made, thread_sys.lock()) {
                            *slot = Some(dir.clone());
                        }
                        match made.and_then(|dir| mount_private_sysfs(&dir).map(|()| dir)) {
                            Ok(dir) => {
                                // The private mount is the live kernel's view of this namespace.
                                inner.sys = dir;
                                inner.live = true;
                            }
                            Err(e) => {
                                tracing::warn!("namespace sysfs unavailable ({detached}; {e}); interface facts read from the host's /sys");
                                // The host's sysfs does not describe this namespace's devices.
                                inner.live = false;
                            }
                        }
                        None
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while let Ok(job) = job_rx.recv() {
                    job(&inner);
                }
            });
        let handle = handle.map_err(|e| fail(e.to_string()))?;
        Ok(Starting {
            name,
            ready: ready_rx,
            thread: NetnsThread {
                name: String::new(),
                jobs: Some(job_tx),
                done: Some(done_rx),
                handle: Some(handle),
                sys_dir,
            },
        })
    }

    /// Ask the thread to end once the jobs already submitted are done, without waiting
    /// (dropping it then waits): stopping many threads first lets them end in parallel.
    pub fn stop(&mut self) {
        self.jobs.take();
    }

    /// Stop the thread and wait for it until `deadline`; one still running then (stuck in a
    /// read: a namespace being torn down, a netlink peer that never answers) is left to end
    /// on its own, so its owner never hangs.
    fn finish(&mut self, deadline: Instant) {
        self.stop();
        if let Some(h) = self.handle.take() {
            let ended = match self.done.take() {
                Some(done) => matches!(
                    done.recv_timeout(deadline.saturating_duration_since(Instant::now())),
                    Err(mpsc::RecvTimeoutError::Disconnected)
                ),
                None => h.is_finished(),
            };
            if ended {
                // The thread's function has returned: only its exit is left.
                let _ = h.join();
            } else {
                tracing::warn!(
                    "namespace thread for {} did not stop within {} s; left to end on its own",
                    self.name,
                    JOIN_WAIT.as_secs()
                );
            }
        }
        let made = self.sys_dir.lock().ok().and_then(|mut d| d.take());
        if let Some(dir) = made {
            // Made only by the fallback (private mount namespace): usually absent.
            let _ = std::fs::remove_dir(&dir);
        }
    }

    /// The namespace path as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `f` inside the namespace and return its result.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce(&Root) -> T + Send + 'static) -> Result<T> {
        let rx = self.submit(f)?;
        rx.recv().map_err(|_| self.dead())
    }

    /// Start `f` inside the namespace; the caller collects the result from the receiver
    /// (so host-wide work can run meanwhile).
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Root) -> T + Send + 'static,
    ) -> Result<mpsc::Receiver<T>> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |root| {
            let _ = tx.send(f(root));
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| self.dead())?
            .send(job)
            .map_err(|_| self.dead())?;
        Ok(rx)
    }

    fn dead(&self) -> Error {
        Error::Netns {
            name: self.name.clone(),
            what: "namespace thread is gone".into(),
        }
    }
}

/// A [`NetnsThread`] entering its namespace ([`NetnsThread::start`]).
pub struct Starting {
    name: String,
    ready: mpsc::Receiver<std::result::Result<(), String>>,
    thread: NetnsThread,
}

impl Starting {
    /// Wait until the thread is inside its namespace (or failed to enter it; the thread is
    /// then joined and its directory removed).
    pub fn wait(self) -> Result<NetnsThread> {
        let Starting {
            name,
            ready,
            mut thread,
        } = self;
        let what = match ready.recv() {
            Ok(Ok(())) => {
                thread.name = name;
                return Ok(thread);
            }
            Ok(Err(e)) => e,
            Err(_) => "namespace thread died".into(),
        };
        // Dropping the thread closes its job channel, joins it and removes its directory.
        drop(thread);
        Err(Error::Netns { name, what })
    }
}

/// A sysfs mount of the calling thread's network namespace that is attached nowhere
/// (`fsopen("sysfs")`, `fsmount`): no mount namespace of its own, no copy of the mount table,
/// nothing any other process sees, gone when the fd is closed. Its files are read through
/// `/proc/self/fd/N/...`. `Err` on kernels before 5.2 (or where a seccomp filter refuses
/// the calls): the caller falls back to [`mount_private_sysfs`].
fn detached_sysfs() -> std::result::Result<std::os::fd::OwnedFd, String> {
    use std::os::fd::{FromRawFd, OwnedFd};
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
    const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;
    let take = |r: libc::c_long, what: &str| -> std::result::Result<OwnedFd, String> {
        match libc::c_int::try_from(r) {
            // SAFETY: a non-negative return of fsopen/fsmount is a new fd owned by nobody else.
            Ok(fd) if fd >= 0 => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            _ => Err(format!("{what}: {}", std::io::Error::last_os_error())),
        }
    };
    // SAFETY: fsopen reads the NUL-terminated file system name and takes flags; no memory is
    // written.
    let fs = take(
        unsafe { libc::syscall(libc::SYS_fsopen, c"sysfs".as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen sysfs",
    )?;
    use std::os::fd::AsRawFd;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value (null pointers, 0) on a valid fs fd.
    let created = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if created != 0 {
        return Err(format!(
            "fsconfig create sysfs: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fsmount takes a valid fs fd and flags; it returns a new fd.
    take(
        unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                fs.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            )
        },
        "fsmount sysfs",
    )
}

fn mount_private_sysfs(dir: &Path) -> std::result::Result<(), String> {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare mount namespace: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make mounts private: {e}"))?;
    mount(
        Some("sysfs"),
        dir,
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mount sysfs: {e}"))
}

impl Drop for NetnsThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread (and its sysfs mount with it); an idle thread
        // ends at once.
        self.finish(Instant::now() + JOIN_WAIT);
    }
}

/// How long dropping a [`NetnsThread`] waits for its thread to end before leaving it.
pub const JOIN_WAIT: Duration = Duration::from_secs(2);

/// How often a [`NetnsSet`] walks `/proc` again even though the bind-mount directories did
/// not change (namespaces held only by processes: `unshare`, containers without a bind mount).
pub const DISCOVER_AFTER: Duration = Duration::from_secs(10);

/// The source name of the warnings about namespaces that could not be read.
pub const SOURCE: &str = "netns";

/// One namespace a [`NetnsSet`] reads: its identity and the thread inside it.
pub struct Member {
    /// Which namespace (the path is updated when a re-discovery finds it elsewhere).
    pub netns: NetnsRef,
    /// The thread inside it, with its own readers kept between snapshots.
    pub thread: NetnsThread,
}

/// Every network namespace on the host except the caller's and the host's, each with a
/// thread inside it that is kept between snapshots (so its readers, netlink sockets, sysctl
/// directory fds and private sysfs mount are set up once).
///
/// [`crate::namespaces::discover`] (a walk of `/proc`) runs on the first
/// [`NetnsSet::refresh`], then only when `/run/netns` or Docker's netns directory changed
/// ([`crate::namespaces::fingerprint`]), when [`DISCOVER_AFTER`] has passed, or when a
/// member could no longer be found at its path ([`NetnsSet::check_alive`]). Threads of
/// namespaces that are gone are stopped and joined (their sysfs mounts go with them), so
/// threads and fds follow the namespaces that exist.
pub struct NetnsSet {
    root: Root,
    members: BTreeMap<u64, Member>,
    /// Namespaces found whose thread could not start, with why (retried at the next
    /// discovery).
    failed: BTreeMap<u64, (NetnsRef, String)>,
    discovered_at: Option<Instant>,
    fingerprint: Fingerprint,
    /// Number of discoveries run (tests and benchmarks look).
    pub discoveries: u64,
    /// Which discovered namespaces to read (all without one).
    filter: Option<NamespaceFilter>,
    /// The warnings of the last discovery (repeated ones are not said again).
    last_warnings: Vec<crate::collect::Warning>,
}

/// A predicate choosing which discovered namespaces a [`NetnsSet`] reads.
pub type NamespaceFilter = Box<dyn Fn(&crate::namespaces::Namespace) -> bool + Send>;

impl NetnsSet {
    /// An empty set reading through `root` (the live `/proc`: namespace threads read
    /// `<proc>/thread-self/net`).
    pub fn new(root: Root) -> NetnsSet {
        NetnsSet {
            root,
            members: BTreeMap::new(),
            failed: BTreeMap::new(),
            discovered_at: None,
            fingerprint: Fingerprint::default(),
            discoveries: 0,
            filter: None,
            last_warnings: Vec::new(),
        }
    }

    /// Read only the discovered namespaces `filter` accepts (say, pods only, or a test's
    /// own namespaces on a shared machine).
    pub fn set_filter(&mut self, filter: NamespaceFilter) {
        self.filter = Some(filter);
    }

    /// The namespaces being read, by inode.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// The member with this inode.
    pub fn get(&self, inode: u64) -> Option<&Member> {
        self.members.get(&inode)
    }

    /// Number of namespaces being read.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no namespace is being read.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Namespaces found whose thread could not start, with why.
    pub fn failed(&self) -> impl Iterator<Item = &(NetnsRef, String)> {
        self.failed.values()
    }

    /// Bring the set up to date: discover when due (see the type's documentation), start
    /// threads for new namespaces and stop those of namespaces gone. Discovery's warnings
    /// and its partial reason go into `w` (so once per discovery, not per snapshot).
    /// Returns whether a discovery ran.
    pub fn refresh(&mut self, w: &mut Warnings) -> bool {
        let fingerprint = crate::namespaces::fingerprint(&self.root);
        let due = match self.discovered_at {
            None => true,
            Some(at) => at.elapsed() >= DISCOVER_AFTER || fingerprint != self.fingerprint,
        };
        if due {
            self.fingerprint = fingerprint;
            self.discover(w);
        }
        due
    }

    /// Walk `/proc` and the bind-mount directories now and apply the result.
    pub fn discover(&mut self, w: &mut Warnings) {
        let d = crate::namespaces::discover(&self.root);
        self.discovered_at = Some(Instant::now());
        self.discoveries += 1;
        let mut found_warnings = d.warnings;
        if let Some(reason) = d.partial {
            found_warnings.push(
                crate::namespaces::SOURCE,
                None,
                format!("namespace list may be incomplete: {reason}"),
            );
        }
        // Said once: a discovery that finds the same problems as the last one is quiet.
        if found_warnings.0 != self.last_warnings {
            self.last_warnings = found_warnings.0.clone();
            w.0.extend(found_warnings.0);
        }
        let own = crate::namespaces::own_inode();
        let found: BTreeMap<u64, NetnsRef> = d
            .namespaces
            .iter()
            .filter(|n| !n.is_host && Some(n.inode) != own)
            .filter(|n| self.filter.as_ref().is_none_or(|f| f(n)))
            .map(|n| (n.inode, NetnsRef::from(n)))
            .collect();
        let gone: Vec<u64> = self
            .members
            .keys()
            .filter(|i| !found.contains_key(i))
            .copied()
            .collect();
        let mut stopped = Vec::new();
        for inode in gone {
            if let Some(m) = self.members.remove(&inode) {
                stopped.push(m.thread);
                w.push(
                    SOURCE,
                    None,
                    format!(
                        "namespace {} (net:[{inode}]) is gone; left out of this snapshot",
                        m.netns.name
                    ),
                );
            }
        }
        stop_all(stopped);
        self.failed.clear();
        let mut starting = Vec::new();
        for (inode, netns) in found {
            match self.members.get_mut(&inode) {
                Some(m) => m.netns = netns,
                None => match NetnsThread::start(&netns.path, &self.root) {
                    Ok(s) => starting.push((netns, s)),
                    Err(e) => {
                        self.failed.insert(inode, (netns, e.to_string()));
                    }
                },
            }
        }
        // The threads enter their namespaces in parallel; wait for each.
        for (netns, s) in starting {
            match s.wait() {
                Ok(thread) => {
                    self.members.insert(netns.inode, Member { netns, thread });
                }
                Err(e) => {
                    self.failed.insert(netns.inode, (netns, e.to_string()));
                }
            }
        }
    }

    /// Whether member `inode` is still the namespace found at its path (a deleted namespace
    /// lives on while our thread is inside it, so a read alone cannot tell). When the path
    /// names another namespace or nothing, `rediscover` allows one discovery (callers pass
    /// the same flag for every member of a snapshot, so a snapshot walks `/proc` at most
    /// once for this): a namespace still found (held by another process) is kept under its
    /// new path. `Err` says why it is gone; the member is then removed and its thread
    /// stopped.
    pub fn check_alive(
        &mut self,
        inode: u64,
        rediscover: &mut bool,
        w: &mut Warnings,
    ) -> std::result::Result<(), String> {
        let Some(m) = self.members.get(&inode) else {
            return Err("no longer read".into());
        };
        let why = match crate::namespaces::inode_of(&m.netns.path) {
            Ok(Some(i)) if i == inode => return Ok(()),
            Ok(Some(i)) => format!("{} is now namespace net:[{i}]", m.netns.path.display()),
            Ok(None) => format!("{} is not a namespace any more", m.netns.path.display()),
            Err(e) => format!("{}: {e}", m.netns.path.display()),
        };
        // Stopped first, so a discovery that no longer finds it does not warn as well.
        self.members.remove(&inode);
        if *rediscover {
            *rediscover = false;
            self.discover(w);
            // Found again under another path: what its old thread read is still its own.
            if self.members.contains_key(&inode) {
                return Ok(());
            }
        }
        Err(why)
    }

    /// Stop every member's thread (together, [`stop_all`]) and forget the discovery, so the
    /// next [`NetnsSet::refresh`] discovers and enters again: for a caller that reads
    /// rarely (the exporter's configuration, every 30 s), whose kept threads would hold the
    /// fds of namespaces deleted since until its next read.
    pub fn clear(&mut self) {
        stop_all(
            std::mem::take(&mut self.members)
                .into_values()
                .map(|m| m.thread),
        );
        self.failed.clear();
        self.discovered_at = None;
    }

    /// Stop reading member `inode` (its thread is stopped and joined).
    pub fn remove(&mut self, inode: u64) -> Option<NetnsRef> {
        self.members.remove(&inode).map(|m| m.netns)
    }
}

impl Drop for NetnsSet {
    fn drop(&mut self) {
        stop_all(
            std::mem::take(&mut self.members)
                .into_values()
                .map(|m| m.thread),
        );
    }
}

/// Stop every thread first, then wait for them against one deadline ([`JOIN_WAIT`] from
/// now): they end in parallel, not one after the other.
pub fn stop_all(threads: impl IntoIterator<Item = NetnsThread>) {
    let mut threads: Vec<NetnsThread> = threads.into_iter().collect();
    if threads.is_empty() {
        return;
    }
    for t in &mut threads {
        t.stop();
    }
    let start = Instant::now();
    let deadline = start + JOIN_WAIT;
    for t in &mut threads {
        t.finish(deadline);
    }
    tracing::debug!(
        "{} namespace threads stopped in {:.1} ms",
        threads.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread in a new network namespace, alive until the returned sender is dropped;
    /// its `ns/net` path.
    fn holder() -> Option<(PathBuf, mpsc::Sender<()>, JoinHandle<()>)> {
        let (ready_tx, ready) = mpsc::channel();
        let (done, done_rx) = mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_ok();
            let _ = ready_tx.send(ok.then(nix::unistd::gettid));
            let _ = done_rx.recv();
        });
        let tid = ready.recv().ok().flatten()?;
        Some((
            PathBuf::from(format!("/proc/self/task/{tid}/ns/net")),
            done,
            h,
        ))
    }

    fn link(path: &str) -> String {
        std::fs::read_link(path)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    /// The thread's sysfs shows its namespace's devices (only `lo` in a new one), from a
    /// mount attached nowhere: the thread shares the process's mount namespace (no copy of
    /// the mount table per thread) and the process's mount table does not grow.
    #[test]
    fn namespace_sysfs_is_a_detached_mount_of_that_namespace() {
        if !crate::testing::require_root() {
            return;
        }
        let Some((path, done, h)) = holder() else {
            crate::testing::require("a new network namespace", false);
            return;
        };
        // sysfs mounts only: other tests add `ip netns` bind mounts meanwhile.
        let mounts = || {
            std::fs::read_to_string("/proc/self/mountinfo")
                .map(|m| m.lines().filter(|l| l.contains(" - sysfs ")).count())
        };
        let before = mounts().unwrap();
        let t = NetnsThread::spawn(&path, &Root::default()).unwrap();
        let (devices, mnt, live) = t
            .run(|root| {
                let mut devices: Vec<String> = std::fs::read_dir(root.sys("class/net"))
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                devices.sort();
                (devices, link("/proc/thread-self/ns/mnt"), root.live)
            })
            .unwrap();
        assert_eq!(devices, ["lo"]);
        assert!(live);
        assert_eq!(
            mnt,
            link("/proc/thread-self/ns/mnt"),
            "a mount namespace of its own"
        );
        assert_eq!(
            mounts().unwrap(),
            before,
            "a sysfs mount attached somewhere"
        );
        drop(t);
        drop(done);
        h.join().unwrap();
    }

    /// Stopping many threads together takes about as long as stopping one, far below
    /// [`JOIN_WAIT`], and leaves none behind.
    #[test]
    fn threads_stop_together() {
        if !crate::testing::require_root() {
            return;
        }
        let Some((path, done, h)) = holder() else {
            crate::testing::require("a new network namespace", false);
            return;
        };
        thread_local! {
            static HELD: std::cell::RefCell<Option<std::sync::Arc<()>>> =
                const { std::cell::RefCell::new(None) };
        }
        // Each thread holds a clone until it exits (thread-locals go at thread exit).
        let alive = std::sync::Arc::new(());
        let many: Vec<NetnsThread> = (0..20)
            .map(|_| {
                let t = NetnsThread::spawn(&path, &Root::default()).unwrap();
                let held = alive.clone();
                t.run(move |_| HELD.with(|h| *h.borrow_mut() = Some(held)))
                    .unwrap();
                t
            })
            .collect();
        assert_eq!(std::sync::Arc::strong_count(&alive), 21);
        let t = Instant::now();
        stop_all(many);
        assert!(t.elapsed() < JOIN_WAIT / 2, "{:?}", t.elapsed());
        assert_eq!(
            std::sync::Arc::strong_count(&alive),
            1,
            "a thread still runs"
        );
        drop(done);
        h.join().unwrap();
    }
}
