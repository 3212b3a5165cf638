//! Where kernel state is read from. Every reader takes a [`Root`] so the same code reads the
//! live host, a container's view of the host (`/host/proc`), a namespace, or a fixture tree.

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
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

/// Open `name` relative to the directory open at `dir` with `flags` (plus `O_CLOEXEC`).
pub fn open_at(dir: BorrowedFd<'_>, name: &CStr, flags: OFlag) -> io::Result<OwnedFd> {
    let flags = flags | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())?;
    // SAFETY: `fd` was just returned by openat and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Size of the first `read()` of a file, bytes.
pub const FIRST_READ: usize = 4096;
/// Size of the first `read()` of a sysctl file under `<proc>/sys`, bytes.
pub const SYSCTL_FIRST_READ: usize = 1024;
/// Largest single `read()`, bytes.
pub const MAX_READ: usize = 256 * 1024;

/// How a file is read; the benchmark floor replays the same pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `read()` of [`FIRST_READ`] bytes, then of twice the previous size (at most
    /// [`MAX_READ`]), until a read returns 0: seq_file and sysfs may return short reads
    /// before the end.
    UntilEof,
    /// A sysctl file: `pread()` at offset 0 of [`SYSCTL_FIRST_READ`] bytes. The kernel prints
    /// the whole value in one call, so a read shorter than requested is all of it; a read that
    /// fills the request is repeated from offset 0 with twice the size (at most [`MAX_READ`]),
    /// because most handlers print nothing at a non-zero offset.
    Sysctl,
}

/// One file read by a [`FileBuf`] while recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// The file's full path.
    pub path: PathBuf,
    /// How it was read.
    pub mode: ReadMode,
}

/// A reusable read buffer: each snapshot reads every file once into the same allocation.
#[derive(Debug, Default)]
pub struct FileBuf {
    buf: String,
    bytes: Vec<u8>,
    /// When set, every file read (path and read pattern) is appended here; benchmarks replay
    /// the list as the floor.
    pub record: Option<Vec<ReadRecord>>,
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

    fn note(&mut self, path: &Path, mode: ReadMode) {
        if let Some(log) = &mut self.record {
            log.push(ReadRecord {
                path: path.to_path_buf(),
                mode,
            });
        }
    }

    /// Read the whole file into the buffer and return it as text ([`ReadMode::UntilEof`]).
    /// Invalid UTF-8 (an odd interface name) is replaced, never an error.
    pub fn read(&mut self, path: &Path) -> io::Result<&str> {
        self.note(path, ReadMode::UntilEof);
        // A plain read loop into the kept buffer: `read_to_end` would add a statx and an
        // lseek per file, which is most of the cost of a tiny file.
        // Reads start at 4 KiB and double: asking for 64 KiB to read "1000\n" costs more
        // than the read itself where the kernel allocates a buffer of the requested size.
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
        Ok(self.text(len))
    }

    /// Read the sysctl file `name` in the directory open at `dir` ([`ReadMode::Sysctl`]),
    /// opening it with `openat` (no path walk). `path` is the file's full path, for the
    /// record; errors are those of `open`/`read` (the caller adds the path).
    pub fn read_sysctl_at(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        path: &Path,
    ) -> io::Result<&str> {
        self.note(path, ReadMode::Sysctl);
        let file = File::from(open_at(dir, name, OFlag::O_RDONLY)?);
        self.read_sysctl_file(&file)
    }

    /// Read the sysctl file at `path` ([`ReadMode::Sysctl`]), opening it by path.
    pub fn read_sysctl(&mut self, path: &Path) -> io::Result<&str> {
        self.note(path, ReadMode::Sysctl);
        let file = File::open(path)?;
        self.read_sysctl_file(&file)
    }

    fn read_sysctl_file(&mut self, file: &File) -> io::Result<&str> {
        let mut chunk = SYSCTL_FIRST_READ;
        let len = loop {
            if chunk > self.bytes.len() {
                self.bytes.resize(chunk, 0);
            }
            match file.read_at(&mut self.bytes[..chunk], 0) {
                Ok(n) if n < chunk || chunk >= MAX_READ => break n,
                Ok(_) => chunk = (chunk * 2).min(MAX_READ),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        Ok(self.text(len))
    }

    /// The first `len` bytes of `bytes` as text in `buf`.
    fn text(&mut self, len: usize) -> &str {
        let bytes = &self.bytes[..len];
        self.buf.clear();
        match std::str::from_utf8(bytes) {
            Ok(s) => self.buf.push_str(s),
            Err(_) => self.buf.push_str(&String::from_utf8_lossy(bytes)),
        }
        &self.buf
    }

    /// Read a small file (a sysctl, a sysfs attribute) and return it without the trailing
    /// newline.
    pub fn read_trimmed(&mut self, path: &Path) -> io::Result<&str> {
        Ok(self.read(path)?.trim_end_matches(['\n', '\r', ' ', '\t']))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn sysctl_reads_return_whole_files_and_are_recorded() {
        let d = tempfile::tempdir().unwrap();
        let long: String = (0..1000).map(|i| format!("{i} ")).collect();
        assert!(long.len() > 2 * SYSCTL_FIRST_READ);
        for (name, text) in [
            ("empty", ""),
            ("small", "1000\n"),
            ("exact", &"x".repeat(SYSCTL_FIRST_READ)),
            ("long", &long),
        ] {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        let dir = File::open(d.path()).unwrap();
        let mut buf = FileBuf::new();
        buf.record = Some(Vec::new());
        for name in ["empty", "small", "exact", "long"] {
            let path = d.path().join(name);
            let want = std::fs::read_to_string(&path).unwrap();
            let cname = std::ffi::CString::new(name).unwrap();
            assert_eq!(
                buf.read_sysctl_at(dir.as_fd(), &cname, &path).unwrap(),
                want
            );
            assert_eq!(buf.read_sysctl(&path).unwrap(), want);
            assert_eq!(buf.read(&path).unwrap(), want);
        }
        let reads = buf.record.take().unwrap();
        assert_eq!(reads.len(), 12);
        assert_eq!(reads[0].path, d.path().join("empty"));
        assert_eq!(reads[0].mode, ReadMode::Sysctl);
        assert_eq!(reads[2].mode, ReadMode::UntilEof);
        let missing = c"missing";
        let e = buf
            .read_sysctl_at(dir.as_fd(), missing, &d.path().join("missing"))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn live_sysctl_read_matches_the_file() {
        let path = Path::new("/proc/sys/net/core/somaxconn");
        if !crate::testing::require("/proc/sys", path.exists()) {
            return;
        }
        let want = std::fs::read_to_string(path).unwrap();
        assert_eq!(FileBuf::new().read_sysctl(path).unwrap(), want);
    }
}
