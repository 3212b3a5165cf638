//! Where kernel state is read from. Every reader takes a [`Root`] so the same code reads the
//! live host, a container's view of the host (`/host/proc`), a namespace, or a fixture tree.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The roots of the kernel's pseudo file systems and of the configuration tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Mount point of procfs, `/proc` on a live host.
    pub proc: PathBuf,
    /// Mount point of sysfs, `/sys` on a live host.
    pub sys: PathBuf,
    /// Root of the configuration tree (`/etc/sysctl.d`, `/usr/lib/sysctl.d`, ...), `/` live.
    pub etc: PathBuf,
    /// Directory with the per-network-namespace proc files (`/proc/net` live; inside a
    /// namespace thread `/proc/thread-self/net`, because `/proc/net` follows the process
    /// leader's namespace, not the calling thread's).
    pub proc_net: PathBuf,
    /// Whether these files are the running kernel's view for the calling thread's network
    /// namespace, so ioctls and netlink may fill gaps sysfs leaves (a fixture tree is not).
    pub live: bool,
}

impl Default for Root {
    fn default() -> Self {
        Root::new("/proc", "/sys")
    }
}

impl Root {
    /// A root reading procfs from `proc` and sysfs from `sys`; configuration from `/`.
    pub fn new(proc: impl Into<PathBuf>, sys: impl Into<PathBuf>) -> Self {
        let proc = proc.into();
        let sys = sys.into();
        Root {
            proc_net: proc.join("net"),
            live: sys == Path::new("/sys"),
            proc,
            sys,
            etc: PathBuf::from("/"),
        }
    }

    /// A fixture tree laid out like a host: `dir/proc`, `dir/sys`, and `dir` as config root.
    pub fn fixture(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        let mut root = Root::new(dir.join("proc"), dir.join("sys"));
        root.etc = dir.to_path_buf();
        root.live = false;
        root
    }

    /// Set the configuration root (where `etc/sysctl.d` etc. live).
    pub fn with_etc(mut self, etc: impl Into<PathBuf>) -> Self {
        self.etc = etc.into();
        self
    }

    /// `proc/<rel>`.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }

    /// `proc/net/<rel>` (per network namespace).
    pub fn proc_net(&self, rel: &str) -> PathBuf {
        self.proc_net.join(rel)
    }

    /// `sys/<rel>`.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }

    /// `<etc root>/<rel>`.
    pub fn config(&self, rel: &str) -> PathBuf {
        self.etc.join(rel)
    }
}

/// Size of the first `read()` of a file, bytes.
pub const FIRST_READ: usize = 4096;
/// Largest single `read()`, bytes.
pub const MAX_READ: usize = 256 * 1024;

/// A reusable read buffer: each snapshot reads every file once into the same allocation.
#[derive(Debug, Default)]
pub struct FileBuf {
    buf: String,
    bytes: Vec<u8>,
    /// When set, every path read is appended here (benchmarks replay the list as the floor).
    pub record: Option<Vec<PathBuf>>,
}

impl FileBuf {
    /// A buffer with room for a typical /proc file.
    pub fn new() -> Self {
        FileBuf {
            buf: String::with_capacity(64 * 1024),
            bytes: vec![0; 64 * 1024],
            record: None,
        }
    }

    /// Read the whole file into the buffer and return it as text. Invalid UTF-8 (an odd
    /// interface name) is replaced, never an error.
    pub fn read(&mut self, path: &Path) -> io::Result<&str> {
        if let Some(log) = &mut self.record {
            log.push(path.to_path_buf());
        }
        // A plain read loop into the kept buffer: `read_to_end` would add a statx and an
        // lseek per file, which is most of the cost of a tiny sysctl file.
        // Reads start at 4 KiB and double: the kernel allocates (and zeroes) a buffer of the
        // requested size for every sysctl read, so asking for 64 KiB to read "1000\n" costs
        // more than the read itself.
        let mut file = File::open(path)?;
        let mut len = 0;
        let mut chunk = FIRST_READ;
        loop {
            if len + chunk > self.bytes.len() {
                self.bytes.resize(len + chunk, 0);
            }
            match file.read(&mut self.bytes[len..len + chunk]) {
                Ok(0) => break,
                Ok(n) => {
                    len += n;
                    chunk = (chunk * 2).min(MAX_READ);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let bytes = &self.bytes[..len];
        self.buf.clear();
        match std::str::from_utf8(bytes) {
            Ok(s) => self.buf.push_str(s),
            Err(_) => self.buf.push_str(&String::from_utf8_lossy(bytes)),
        }
        Ok(&self.buf)
    }

    /// Read a small file (a sysctl, a sysfs attribute) and return it without the trailing
    /// newline.
    pub fn read_trimmed(&mut self, path: &Path) -> io::Result<&str> {
        Ok(self.read(path)?.trim_end_matches(['\n', '\r', ' ', '\t']))
    }
}
