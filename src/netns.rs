//! Reading per-namespace sources from inside another network namespace.
//!
//! A dedicated thread enters the namespace with `setns(CLONE_NEWNET)`; netlink sockets it opens
//! and `/proc/sys/net` files it opens then belong to that namespace. `/proc/net` follows the
//! process leader, so the thread reads `/proc/thread-self/net` instead; and sysfs shows the
//! namespace of whoever mounted it, so the thread unshares its mount namespace and mounts a
//! private sysfs (as `ip netns exec` does). Host-wide sources are read by the caller.

use crate::{Error, Result, Root};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

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
    if !nix::unistd::geteuid().is_root() {
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
    handle: Option<JoinHandle<()>>,
    sys_dir: Option<PathBuf>,
}

impl NetnsThread {
    /// Enter the namespace at `path` on a new thread. `root` gives the procfs to read
    /// (its `proc_net` is replaced by `<proc>/thread-self/net`).
    pub fn spawn(path: &Path, root: &Root) -> Result<NetnsThread> {
        let name = path.display().to_string();
        let fail = |what: String| Error::Netns {
            name: name.clone(),
            what,
        };
        can_run(path).map_err(fail)?;
        let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        let sys_dir = std::env::temp_dir().join(format!(
            "nettune-netns-sys-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&sys_dir)
            .map_err(|e| fail(format!("{}: {e}", sys_dir.display())))?;
        let mut inner = root.clone();
        inner.proc_net = root.proc.join("thread-self/net");
        let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let thread_sys = sys_dir.clone();
        let handle = std::thread::Builder::new()
            .name("nettune-netns".into())
            .spawn(move || {
                use nix::sched::{setns, CloneFlags};
                if let Err(e) = setns(&file, CloneFlags::CLONE_NEWNET) {
                    let _ = ready_tx.send(Err(format!("setns: {e}")));
                    return;
                }
                // A private sysfs for this namespace; without it interfaces come from the host.
                match mount_private_sysfs(&thread_sys) {
                    Ok(()) => {
                        // The private mount is the live kernel's view of this namespace.
                        inner.sys = thread_sys;
                        inner.live = true;
                    }
                    Err(e) => {
                        tracing::warn!("namespace sysfs unavailable ({e}); interface facts read from the host's /sys");
                        // The host's sysfs does not describe this namespace's devices.
                        inner.live = false;
                    }
                }
                let _ = ready_tx.send(Ok(()));
                while let Ok(job) = job_rx.recv() {
                    job(&inner);
                }
            })
            .map_err(|e| fail(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(NetnsThread {
                name,
                jobs: Some(job_tx),
                handle: Some(handle),
                sys_dir: Some(sys_dir),
            }),
            Ok(Err(e)) => {
                let _ = handle.join();
                let _ = std::fs::remove_dir(&sys_dir);
                Err(fail(e))
            }
            Err(_) => {
                let _ = std::fs::remove_dir(&sys_dir);
                Err(fail("namespace thread died".into()))
            }
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

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

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
        // Closing the channel ends the thread; its mount namespace (and the private sysfs
        // mount) goes with it.
        self.jobs.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if let Some(dir) = self.sys_dir.take() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}
