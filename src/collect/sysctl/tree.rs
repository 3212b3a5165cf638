//! [`TreeReader`]: the sysctl trees (`<proc>/sys/net/core`, ...) read with state kept between
//! snapshots. The first read walks every tree; the reader keeps the layout it found (an
//! `O_DIRECTORY` fd per directory, and per file its name and dotted key) and later reads open
//! each file with `openat` relative to its directory's fd, without listing directories or
//! walking paths. The result is exactly that of a fresh walk ([`super::read`]).
//!
//! A cached tree is walked again when:
//! - a listing changed: on every read the top directory of each tree and the directories
//!   that follow the interfaces (`net/ipv{4,6}/{conf,neigh}`) are listed again and compared
//!   with the listing of the walk (an interface added or removed, a module that adds
//!   `net/ipv4/vs` or `net/netfilter/*`);
//! - a kept fd is stale: a file or directory gives `ENOENT`, `ENODEV` or `ESTALE` (an
//!   interface removed and created again under the same name); the tree is then walked and
//!   read again in the same snapshot;
//! - [`REWALK_AFTER`] has passed since its walk (a backstop for sysctls added inside other
//!   directories), the calling thread's network namespace is not the one of the walk, or the
//!   root changed;
//! - its walk could not list a directory (the tree is then walked on every read, so the
//!   warnings stay those of a fresh walk).
//!
//! Single files (`fs/file-nr`) are opened relative to their parent directory's kept fd; when
//! that says the file is gone, it is read by path, which decides (and a parent found stale
//! is opened again on the next read).
//!
//! `/proc/sys/net` shows the network namespace of the calling thread, and a kept directory
//! fd stays in the namespace it was opened in: use a reader only from the thread that
//! created it (a namespace thread keeps its own).

use super::key::{fold_ws, push_component};
use crate::collect::{FileBuf, Root, Source, Warnings};
use crate::root::open_at;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::SFlag;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Dotted sysctl name → value (whitespace runs folded to one space, trimmed).
pub type Sysctls = BTreeMap<String, String>;

/// Subtrees of `/proc/sys` read recursively.
pub const TREES: [&str; 4] = ["net/core", "net/ipv4", "net/ipv6", "net/netfilter"];
/// Single files read besides the trees.
pub const FILES: [&str; 2] = ["fs/file-nr", "fs/file-max"];
/// The sysctls read in a network namespace other than the primary one (the host's, or the
/// one `--netns` names) when every namespace is read: the per-namespace keys the
/// per-namespace rules read or propose (`src/diagnose`: listen and SYN queues, TCP and UDP
/// buffers, congestion control, port range, syncookies and timestamps, forwarding for RPS,
/// conntrack limits, and the per-namespace keys of `KERNEL_DEFAULTS`), plus the global
/// `tcp_mem`/`udp_mem` a namespace shows. 26 files instead of the ~560 of the whole
/// trees, which were nearly all of a namespace's read; global keys a namespace does not have
/// (`net.core.netdev_budget`, ...) come from the host's read, as before. A file the kernel
/// does not show (conntrack not loaded, no IPv6) is left out without a warning.
/// `diagnose::netns`'s tests check that every key the per-namespace rules read is here.
pub const NETNS_FILES: [&str; 26] = [
    "net/core/somaxconn",
    "net/core/rmem_default",
    "net/core/rmem_max",
    "net/core/wmem_default",
    "net/core/wmem_max",
    "net/core/optmem_max",
    "net/ipv4/ip_forward",
    "net/ipv4/ip_local_port_range",
    "net/ipv4/ipfrag_high_thresh",
    "net/ipv4/tcp_available_congestion_control",
    "net/ipv4/tcp_congestion_control",
    "net/ipv4/tcp_max_syn_backlog",
    "net/ipv4/tcp_mem",
    "net/ipv4/tcp_rmem",
    "net/ipv4/tcp_syncookies",
    "net/ipv4/tcp_timestamps",
    "net/ipv4/tcp_tw_reuse",
    "net/ipv4/tcp_wmem",
    "net/ipv4/udp_mem",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/ip6frag_high_thresh",
    "net/ipv6/route/max_size",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_buckets",
    "net/netfilter/nf_conntrack_expect_max",
    "net/netfilter/nf_conntrack_count",
];
/// Deeper than any real sysctl tree (`net/ipv4/conf/eth0/...` is 5); guards against loops.
pub const MAX_DEPTH: usize = 8;

/// Errors that reading a sysctl normally gives: write-only (EACCES/EPERM), not applicable
/// (EINVAL, EIO for an unset `stable_secret`, ENODATA, EOPNOTSUPP), or gone meanwhile
/// (an interface removed during the walk).
fn skip_silently(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) {
        return true;
    }
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EINVAL | libc::EIO | libc::ENODATA | libc::EOPNOTSUPP)
    )
}

/// A cached tree is walked again at least this often, whatever its listings say.
pub const REWALK_AFTER: Duration = Duration::from_secs(30);

/// Directories (under `<proc>/sys`) listed again on every read besides each tree's top: their
/// entries are the interfaces.
const WATCHED: [&str; 4] = [
    "net/ipv4/conf",
    "net/ipv6/conf",
    "net/ipv4/neigh",
    "net/ipv6/neigh",
];

/// Size of the `getdents64` buffer, bytes.
const DIRENT_BUF: usize = 32 * 1024;

/// Reads sysctl trees and single files under `<proc>/sys`, keeping their layout between
/// reads (see the module docs for when it walks again). Use it only from the thread that
/// created it.
#[derive(Debug)]
pub struct TreeReader {
    trees: Vec<Tree>,
    files: Vec<String>,
    /// Parent directory fds of `files`.
    singles: Option<Layout>,
    /// `<proc>/sys` of the cached layouts.
    base: PathBuf,
    /// Device and inode of the calling thread's network namespace when the layouts were
    /// made (`None` where `<proc>/thread-self/ns/net` does not exist: a fixture tree).
    netns: Option<(u64, u64)>,
    dirents: Vec<u8>,
    /// Key count of the last read (capacity hint).
    last_len: usize,
    /// Trees walked so far (tests check when the reader walks).
    walks: u64,
}

#[derive(Debug)]
struct Tree {
    /// `net/ipv4`, relative to `<proc>/sys`.
    rel: String,
    layout: Option<Layout>,
}

/// What a walk found: directory fds and the files in walk order.
#[derive(Debug)]
struct Layout {
    made: Instant,
    /// Directory fds (`None`: could not be kept).
    dirs: Vec<Option<OwnedFd>>,
    files: Vec<CachedFile>,
    /// Indices into `files` in key order.
    sorted: Vec<usize>,
    /// Listings to compare on every read.
    watches: Vec<Watch>,
}

#[derive(Debug)]
struct CachedFile {
    /// Index into `Layout::dirs`; `None`: opened by path.
    dir: Option<usize>,
    name: CString,
    key: String,
    /// Full path, for messages and the read record.
    path: PathBuf,
}

/// A directory's entry names as one walk listed them.
#[derive(Debug)]
struct Watch {
    path: PathBuf,
    /// Names in listing order, each followed by a NUL; `None`: the directory did not exist.
    names: Option<Vec<u8>>,
}

/// A kept fd no longer names a live file.
struct Stale;

enum Outcome {
    Value(String),
    Skip,
    Stale,
}

impl Default for TreeReader {
    fn default() -> Self {
        TreeReader::standard()
    }
}

impl TreeReader {
    /// A reader of the given subtrees (`net/core`) and single files (`fs/file-nr`) of
    /// `<proc>/sys`; nothing is read until [`TreeReader::read`].
    pub fn new(trees: &[&str], files: &[&str]) -> Self {
        TreeReader {
            trees: trees
                .iter()
                .map(|t| Tree {
                    rel: t.to_string(),
                    layout: None,
                })
                .collect(),
            files: files.iter().map(|f| f.to_string()).collect(),
            singles: None,
            base: PathBuf::new(),
            netns: None,
            dirents: Vec::new(),
            last_len: 0,
            walks: 0,
        }
    }

    /// A reader of the standard set that [`super::read`] returns (`net.core`,
    /// `net.ipv4`, `net.ipv6`, `net.netfilter`, `fs.file-nr`, `fs.file-max`).
    pub fn standard() -> Self {
        TreeReader::new(&TREES, &FILES)
    }

    /// A reader of [`NETNS_FILES`] only: what a namespace other than the primary one needs.
    pub fn netns_keys() -> Self {
        TreeReader::new(&[], &NETNS_FILES)
    }

    /// Drop every cached layout (and its fds); the next read walks.
    pub fn forget(&mut self) {
        for tree in &mut self.trees {
            tree.layout = None;
        }
        self.singles = None;
    }

    /// Read the trees and files under `<root.proc>/sys`: the same map, warnings and
    /// skipped files as a fresh walk ([`super::read_trees`]).
    pub fn read(
        &mut self,
        buf: &mut FileBuf,
        root: &Root,
        warnings: &mut Warnings,
    ) -> Source<Sysctls> {
        let base = root.proc.join("sys");
        if let Err(e) = fs::metadata(&base) {
            self.forget();
            return Source::from_io(&base, &e);
        }
        let netns = fs::metadata(root.proc.join("thread-self/ns/net"))
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if base != self.base || netns != self.netns {
            self.forget();
            self.base = base;
            self.netns = netns;
        }
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(self.last_len);
        for tree in &mut self.trees {
            if let Some(layout) = &tree.layout {
                if layout.made.elapsed() < REWALK_AFTER
                    && layout.unchanged(&mut self.dirents)
                    && layout.read(buf, &mut pairs, warnings).is_ok()
                {
                    continue;
                }
            }
            tree.layout = None;
            self.walks += 1;
            tree.layout = walk(
                buf,
                &self.base,
                &tree.rel,
                &mut self.dirents,
                &mut pairs,
                warnings,
            );
        }
        if !self.files.is_empty() {
            let layout = match self.singles.take() {
                Some(l) if l.made.elapsed() < REWALK_AFTER => l,
                _ => singles(&self.base, &self.files),
            };
            let stale = layout.read_singles(buf, &mut pairs, warnings);
            self.singles = (!stale).then_some(layout);
        }
        self.last_len = pairs.len();
        // Stable sort, and the last of equal keys wins: as inserting in this order would.
        Source::Ok(pairs.into_iter().collect())
    }
}

impl Layout {
    /// Whether every watched directory lists the same names as at the walk.
    fn unchanged(&self, dirents: &mut Vec<u8>) -> bool {
        self.watches
            .iter()
            .all(|w| same_listing(&w.path, w.names.as_deref(), dirents))
    }

    /// Read file `f` relative to its kept directory fd (by path when it has none: such a
    /// read is never stale).
    fn read_one(&self, buf: &mut FileBuf, f: &CachedFile, w: &mut Warnings) -> Outcome {
        match f
            .dir
            .and_then(|d| self.dirs.get(d))
            .and_then(Option::as_ref)
        {
            Some(fd) => outcome(
                buf.read_sysctl_at(fd.as_fd(), &f.name, &f.path),
                &f.path,
                false,
                w,
            ),
            None => outcome(buf.read_sysctl(&f.path), &f.path, true, w),
        }
    }

    /// Read every file of a walked tree into `pairs` (in key order) and its warnings into
    /// `w`. A stale fd stops the read with nothing added.
    fn read(
        &self,
        buf: &mut FileBuf,
        pairs: &mut Vec<(String, String)>,
        w: &mut Warnings,
    ) -> Result<(), Stale> {
        let mut values = Vec::with_capacity(self.files.len());
        let mut mine = Warnings::default();
        for f in &self.files {
            match self.read_one(buf, f, &mut mine) {
                Outcome::Value(v) => values.push(Some(v)),
                Outcome::Skip => values.push(None),
                Outcome::Stale => return Err(Stale),
            }
        }
        w.0.append(&mut mine.0);
        self.emit(values, pairs);
        Ok(())
    }

    /// Read the single files (see [`singles`]) into `pairs`, in the order given. A file
    /// whose kept parent fd says it is gone is read again by path, which decides; returns
    /// whether that found a parent fd stale (the file is there by path).
    fn read_singles(
        &self,
        buf: &mut FileBuf,
        pairs: &mut Vec<(String, String)>,
        w: &mut Warnings,
    ) -> bool {
        let mut stale = false;
        for f in &self.files {
            let mut got = self.read_one(buf, f, w);
            if let Outcome::Stale = got {
                got = outcome(buf.read_sysctl(&f.path), &f.path, true, w);
                stale |= matches!(got, Outcome::Value(_));
            }
            if let Outcome::Value(v) = got {
                pairs.push((f.key.clone(), v));
            }
        }
        stale
    }

    /// Push `(key, value)` of every file with a value, in key order.
    fn emit(&self, mut values: Vec<Option<String>>, pairs: &mut Vec<(String, String)>) {
        for &i in &self.sorted {
            if let (Some(f), Some(Some(v))) =
                (self.files.get(i), values.get_mut(i).map(Option::take))
            {
                pairs.push((f.key.clone(), v));
            }
        }
    }
}

/// Errors by which a kept fd says its file or directory is gone.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENODEV | libc::ESTALE)
    )
}

/// Classify one read as a fresh walk does (a value, skipped silently, or skipped with a
/// warning); unless `fresh`, a stale error is [`Outcome::Stale`].
fn outcome(r: io::Result<&str>, path: &Path, fresh: bool, w: &mut Warnings) -> Outcome {
    match r {
        Ok(text) => {
            let mut value = String::with_capacity(text.len());
            fold_ws(text, &mut value);
            Outcome::Value(value)
        }
        Err(e) if !fresh && is_stale(&e) => Outcome::Stale,
        Err(e) if skip_silently(&e) => Outcome::Skip,
        Err(e) => {
            w.push("sysctl", None, format!("{}: {e}", path.display()));
            Outcome::Skip
        }
    }
}

/// Open a directory by path (`O_DIRECTORY`, as `opendir` does).
fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
        .map(OwnedFd::from)
}

/// Call `f(name, d_type)` for every entry of the directory open at `fd` except `.` and `..`,
/// in the kernel's order, reading from the fd's current offset with `getdents64`.
fn list(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, mut f: impl FnMut(&[u8], u8)) -> io::Result<()> {
    if buf.len() < DIRENT_BUF {
        buf.resize(DIRENT_BUF, 0);
    }
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `fd` is open for the
        // duration of the call; getdents64 writes at most that many bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed getdents64 record");
        // struct linux_dirent64: u64 d_ino, i64 d_off, u16 d_reclen, u8 d_type, name + NUL.
        let mut rest = buf.get(..n as usize).ok_or_else(bad)?;
        while !rest.is_empty() {
            let reclen = match rest.get(16..18) {
                Some(&[a, b]) => usize::from(u16::from_ne_bytes([a, b])),
                _ => return Err(bad()),
            };
            let (Some(record), Some(&kind)) = (rest.get(19..reclen), rest.get(18)) else {
                return Err(bad());
            };
            let name = record.split(|&b| b == 0).next().unwrap_or_default();
            if !name.is_empty() && name != b"." && name != b".." {
                f(name, kind);
            }
            rest = rest.get(reclen..).ok_or_else(bad)?;
        }
    }
}

/// Whether the directory at `path` lists exactly `names` (NUL-terminated, in order), or
/// still does not exist when `names` is `None`.
fn same_listing(path: &Path, names: Option<&[u8]>, dirents: &mut Vec<u8>) -> bool {
    match (open_dir(path), names) {
        (Err(e), None) => e.kind() == io::ErrorKind::NotFound,
        (Err(_), Some(_)) | (Ok(_), None) => false,
        (Ok(fd), Some(names)) => {
            let mut rest = names;
            let mut same = true;
            let listed = list(fd.as_fd(), dirents, |name, _| {
                match rest.strip_prefix(name) {
                    Some([0, after @ ..]) if same => rest = after,
                    _ => same = false,
                }
            });
            listed.is_ok() && same && rest.is_empty()
        }
    }
}

/// Walk the tree `rel` of `base` afresh, reading every file: values into `pairs` (in key
/// order), problems into `w`. Returns the layout when it can be cached.
fn walk(
    buf: &mut FileBuf,
    base: &Path,
    rel: &str,
    dirents: &mut Vec<u8>,
    pairs: &mut Vec<(String, String)>,
    w: &mut Warnings,
) -> Option<Layout> {
    let mut path = base.to_path_buf();
    let mut key = String::with_capacity(128);
    for comp in rel.split('/') {
        path.push(comp);
        push_component(&mut key, comp);
    }
    let mut walk = Walk {
        buf,
        base,
        dirents,
        warnings: w,
        dirs: Vec::new(),
        files: Vec::new(),
        values: Vec::new(),
        watches: Vec::new(),
        cacheable: true,
    };
    walk.dir(None, &mut path, &mut key, 0);
    let Walk {
        dirs,
        files,
        values,
        watches,
        cacheable,
        ..
    } = walk;
    let layout = Layout {
        made: Instant::now(),
        dirs,
        sorted: key_order(&files),
        files,
        watches,
    };
    layout.emit(values, pairs);
    cacheable.then_some(layout)
}

/// Indices of `files` in key order.
fn key_order(files: &[CachedFile]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| files.get(i).map(|f| f.key.as_str());
        key(a).cmp(&key(b))
    });
    order
}

/// One walk of one tree.
struct Walk<'a> {
    buf: &'a mut FileBuf,
    base: &'a Path,
    dirents: &'a mut Vec<u8>,
    warnings: &'a mut Warnings,
    /// Filled in as each directory is finished (every slot is `Some` at the end; files
    /// refer to their directory by index).
    dirs: Vec<Option<OwnedFd>>,
    files: Vec<CachedFile>,
    /// Per file, its value when it was read.
    values: Vec<Option<String>>,
    watches: Vec<Watch>,
    cacheable: bool,
}

impl Walk<'_> {
    /// Walk the directory at `path` (opened by path at depth 0, else as `name` below the
    /// `parent` fd), whose key is `key`.
    fn dir(
        &mut self,
        at: Option<(BorrowedFd<'_>, &CStr)>,
        path: &mut PathBuf,
        key: &mut String,
        depth: usize,
    ) {
        let opened = match at {
            None => open_dir(path),
            Some((parent, name)) => open_at(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY),
        };
        let fd = match opened {
            Ok(fd) => fd,
            Err(e) => {
                if depth == 0 && e.kind() == io::ErrorKind::NotFound {
                    // An absent tree (`net/netfilter` without conntrack) stays cached as
                    // absent until its directory appears.
                    self.watches.push(Watch {
                        path: path.clone(),
                        names: None,
                    });
                } else {
                    self.cacheable = false;
                }
                if !skip_silently(&e) {
                    let msg = format!("{}: {e}", path.display());
                    self.warnings.push("sysctl", None, msg);
                }
                return;
            }
        };
        let mut names = Vec::new();
        let mut kinds = Vec::new();
        let listed = list(fd.as_fd(), self.dirents, |name, kind| {
            names.extend_from_slice(name);
            names.push(0);
            kinds.push(kind);
        });
        // Like `read_dir`, the entries before an error are still walked.
        if listed.is_err() {
            self.cacheable = false;
        }
        let index = self.dirs.len();
        self.dirs.push(None);
        for (name, kind) in names.split(|&b| b == 0).zip(kinds) {
            // A name that is not UTF-8 is skipped: its key could not name the file (a fresh
            // walk by path never found it either).
            let (Ok(text), Ok(cname)) = (std::str::from_utf8(name), CString::new(name)) else {
                continue;
            };
            let kind = match kind {
                libc::DT_UNKNOWN => match nix::sys::stat::fstatat(
                    Some(fd.as_raw_fd()),
                    cname.as_c_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) => match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
                        SFlag::S_IFDIR => libc::DT_DIR,
                        SFlag::S_IFREG => libc::DT_REG,
                        _ => continue,
                    },
                    Err(_) => continue,
                },
                k => k,
            };
            let key_len = key.len();
            push_component(key, text);
            path.push(text);
            if kind == libc::DT_DIR {
                if depth < MAX_DEPTH {
                    self.dir(Some((fd.as_fd(), &cname)), path, key, depth + 1);
                }
            } else if kind == libc::DT_REG {
                let r = self.buf.read_sysctl_at(fd.as_fd(), &cname, path);
                let value = match outcome(r, path, true, self.warnings) {
                    Outcome::Value(v) => Some(v),
                    Outcome::Skip | Outcome::Stale => None,
                };
                self.files.push(CachedFile {
                    dir: Some(index),
                    name: cname,
                    key: key.clone(),
                    path: path.clone(),
                });
                self.values.push(value);
            }
            path.pop();
            key.truncate(key_len);
        }
        if depth == 0
            || WATCHED.iter().any(|w| {
                path.strip_prefix(self.base)
                    .is_ok_and(|p| p == Path::new(w))
            })
        {
            self.watches.push(Watch {
                path: path.clone(),
                names: Some(names),
            });
        }
        if let Some(slot) = self.dirs.get_mut(index) {
            *slot = Some(fd);
        }
    }
}

/// The layout of single files: each opened by name below its parent directory's fd (by path
/// when the parent cannot be opened), in the order given. It has no `sorted` order to emit:
/// [`Layout::read_singles`] reads it.
fn singles(base: &Path, files: &[String]) -> Layout {
    let mut parents: Vec<(PathBuf, Option<usize>)> = Vec::new();
    let mut dirs = Vec::new();
    let mut cached = Vec::with_capacity(files.len());
    for rel in files {
        let mut path = base.to_path_buf();
        let mut key = String::with_capacity(32);
        for comp in rel.split('/') {
            path.push(comp);
            push_component(&mut key, comp);
        }
        let name = path
            .file_name()
            .and_then(|n| CString::new(n.as_encoded_bytes()).ok());
        let dir = match (path.parent(), &name) {
            (Some(parent), Some(_)) => match parents.iter().find(|(p, _)| p == parent) {
                Some((_, dir)) => *dir,
                None => {
                    let dir = open_dir(parent).ok().map(|fd| {
                        dirs.push(Some(fd));
                        dirs.len() - 1
                    });
                    parents.push((parent.to_path_buf(), dir));
                    dir
                }
            },
            _ => None,
        };
        cached.push(CachedFile {
            dir,
            name: name.unwrap_or_default(),
            key,
            path,
        });
    }
    Layout {
        made: Instant::now(),
        dirs,
        sorted: Vec::new(),
        files: cached,
        watches: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::sysctl;
    use crate::collect::testfs::{vm, write};

    /// The walk by paths that `sysctl::read_trees` did before [`TreeReader`] (`read_dir`,
    /// every file opened by its full path and read to EOF): the reference for its results.
    fn reference(root: &Root, trees: &[&str], files: &[&str], w: &mut Warnings) -> Sysctls {
        fn walk(
            buf: &mut FileBuf,
            path: &mut PathBuf,
            key: &mut String,
            out: &mut Sysctls,
            w: &mut Warnings,
            depth: usize,
        ) {
            let entries = match fs::read_dir(&*path) {
                Ok(e) => e,
                Err(e) if skip_silently(&e) => return,
                Err(e) => {
                    w.push("sysctl", None, format!("{}: {e}", path.display()));
                    return;
                }
            };
            for entry in entries.flatten() {
                let Ok(ft) = entry.file_type() else { continue };
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let key_len = key.len();
                push_component(key, &name);
                path.push(&*name);
                if ft.is_dir() {
                    if depth < MAX_DEPTH {
                        walk(buf, path, key, out, w, depth + 1);
                    }
                } else if ft.is_file() {
                    read_into(buf, path, key, out, w);
                }
                path.pop();
                key.truncate(key_len);
            }
        }
        fn read_into(
            buf: &mut FileBuf,
            path: &Path,
            key: &str,
            out: &mut Sysctls,
            w: &mut Warnings,
        ) {
            match buf.read(path) {
                Ok(text) => {
                    out.insert(key.to_string(), sysctl::fold_value(text));
                }
                Err(e) if skip_silently(&e) => {}
                Err(e) => w.push("sysctl", None, format!("{}: {e}", path.display())),
            }
        }
        let base = root.proc.join("sys");
        let mut buf = FileBuf::new();
        let mut out = Sysctls::new();
        for rel in trees.iter().chain(files) {
            let mut path = base.clone();
            let mut key = String::new();
            for comp in rel.split('/') {
                path.push(comp);
                push_component(&mut key, comp);
            }
            if files.contains(rel) {
                read_into(&mut buf, &path, &key, &mut out, w);
            } else {
                walk(&mut buf, &mut path, &mut key, &mut out, w, 0);
            }
        }
        out
    }

    fn read(r: &mut TreeReader, root: &Root) -> (Sysctls, Warnings) {
        let mut w = Warnings::default();
        let s = r.read(&mut FileBuf::new(), root, &mut w);
        (s.ok().cloned().expect("sysctls"), w)
    }

    /// The other namespaces' reader returns exactly the listed keys a full read has, with
    /// the same values, and nothing else; read again from its kept fds, the same.
    #[test]
    fn netns_keys_are_the_listed_subset_of_a_full_read() {
        let root = vm();
        let (full, _) = read(&mut TreeReader::standard(), &root);
        let keys: Vec<String> = NETNS_FILES.iter().map(|f| f.replace('/', ".")).collect();
        let want: Sysctls = full
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(want.len() >= 15, "{want:?}");
        let mut r = TreeReader::netns_keys();
        let (first, w) = read(&mut r, &root);
        assert_eq!(first, want);
        assert!(w.0.is_empty(), "{:?}", w.0);
        let (again, _) = read(&mut r, &root);
        assert_eq!(again, want);
    }

    /// A temp tree with two interfaces (one with a dotted name) and a few globals.
    fn temp_tree() -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        for (rel, text) in [
            ("proc/sys/net/core/somaxconn", "4096\n"),
            ("proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n"),
            ("proc/sys/net/ipv4/conf/all/rp_filter", "0\n"),
            ("proc/sys/net/ipv4/conf/eth0/rp_filter", "1\n"),
            ("proc/sys/net/ipv4/conf/eth0.100/rp_filter", "2\n"),
            ("proc/sys/net/ipv4/neigh/eth0/gc_stale_time", "60\n"),
            ("proc/sys/net/ipv6/conf/eth0/disable_ipv6", "0\n"),
            ("proc/sys/fs/file-max", "100\n"),
        ] {
            write(d.path(), rel, text);
        }
        let root = Root::fixture(d.path());
        (d, root)
    }

    #[test]
    fn cached_reads_match_a_fresh_walk_on_the_vm_fixture() {
        let root = vm();
        let mut want_w = Warnings::default();
        let want = reference(&root, &TREES, &FILES, &mut want_w);
        let mut r = TreeReader::standard();
        for round in 0..3 {
            let (got, w) = read(&mut r, &root);
            assert_eq!(got, want, "round {round}");
            assert_eq!(w.0, want_w.0, "round {round}");
        }
        // One walk per tree, all on the first read.
        assert_eq!(r.walks, TREES.len() as u64);
        let (fresh, _) = read(&mut TreeReader::standard(), &root);
        assert_eq!(fresh, want);
        assert!(want.len() > 30, "{}", want.len());
    }

    #[test]
    fn dotted_interface_names_keep_working_when_cached() {
        let (d, root) = temp_tree();
        let mut r = TreeReader::standard();
        for _ in 0..2 {
            let (s, w) = read(&mut r, &root);
            assert_eq!(s["net.ipv4.conf.eth0/100.rp_filter"], "2");
            assert_eq!(s["net.ipv4.conf.eth0.rp_filter"], "1");
            assert_eq!(s["net.ipv4.tcp_rmem"], "4096 131072 6291456");
            assert_eq!(s["fs.file-max"], "100");
            assert!(!s.contains_key("fs.file-nr"));
            assert!(w.0.is_empty(), "{:?}", w.0);
        }
        let walks = r.walks;
        write(d.path(), "proc/sys/net/ipv4/conf/eth0.200/rp_filter", "1\n");
        let (s, _) = read(&mut r, &root);
        assert_eq!(s["net.ipv4.conf.eth0/200.rp_filter"], "1");
        assert_eq!(r.walks, walks + 1, "only net/ipv4 is walked again");
        assert_eq!(
            s,
            reference(&root, &TREES, &FILES, &mut Warnings::default())
        );
    }

    #[test]
    fn a_new_interface_is_seen_by_the_next_read() {
        let (d, root) = temp_tree();
        let mut r = TreeReader::standard();
        read(&mut r, &root);
        write(d.path(), "proc/sys/net/ipv4/conf/eth1/rp_filter", "2\n");
        write(
            d.path(),
            "proc/sys/net/ipv6/neigh/eth1/retrans_time",
            "1000\n",
        );
        let (s, w) = read(&mut r, &root);
        assert_eq!(s["net.ipv4.conf.eth1.rp_filter"], "2");
        assert_eq!(s["net.ipv6.neigh.eth1.retrans_time"], "1000");
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(
            s,
            reference(&root, &TREES, &FILES, &mut Warnings::default())
        );
        // A new tree (a module loaded) and a new directory at a tree's top.
        write(
            d.path(),
            "proc/sys/net/netfilter/nf_conntrack_max",
            "262144\n",
        );
        write(d.path(), "proc/sys/net/ipv4/vs/conntrack", "0\n");
        let (s, _) = read(&mut r, &root);
        assert_eq!(s["net.netfilter.nf_conntrack_max"], "262144");
        assert_eq!(s["net.ipv4.vs.conntrack"], "0");
    }

    #[test]
    fn a_removed_interface_is_gone_without_a_warning() {
        let (d, root) = temp_tree();
        let mut r = TreeReader::standard();
        let (before, _) = read(&mut r, &root);
        assert!(before.contains_key("net.ipv4.conf.eth0.rp_filter"));
        for dir in ["ipv4/conf/eth0", "ipv4/neigh/eth0", "ipv6/conf/eth0"] {
            fs::remove_dir_all(d.path().join("proc/sys/net").join(dir)).unwrap();
        }
        let (s, w) = read(&mut r, &root);
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert!(!s.keys().any(|k| k.contains(".eth0.")), "{s:?}");
        assert_eq!(s["net.ipv4.conf.eth0/100.rp_filter"], "2");
        assert_eq!(
            s,
            reference(&root, &TREES, &FILES, &mut Warnings::default())
        );
        // A whole tree removed.
        fs::remove_dir_all(d.path().join("proc/sys/net/ipv6")).unwrap();
        let (s, w) = read(&mut r, &root);
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert!(!s.keys().any(|k| k.starts_with("net.ipv6.")), "{s:?}");
    }

    /// An interface removed and created again under the same name lists the same names;
    /// the kept directory fd of the old one is stale, so the tree is walked again and the
    /// new values are read in the same snapshot.
    #[test]
    fn an_interface_created_again_under_the_same_name_is_read_again() {
        let (d, root) = temp_tree();
        let mut r = TreeReader::standard();
        read(&mut r, &root);
        let walks = r.walks;
        let eth0 = d.path().join("proc/sys/net/ipv4/conf/eth0");
        fs::remove_dir_all(&eth0).unwrap();
        write(d.path(), "proc/sys/net/ipv4/conf/eth0/rp_filter", "0\n");
        let (s, w) = read(&mut r, &root);
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(s["net.ipv4.conf.eth0.rp_filter"], "0");
        assert_eq!(r.walks, walks + 1);
        // A value changed in place is simply read again, without a walk.
        write(d.path(), "proc/sys/net/ipv4/conf/eth0/rp_filter", "2\n");
        let (s, _) = read(&mut r, &root);
        assert_eq!(s["net.ipv4.conf.eth0.rp_filter"], "2");
        assert_eq!(r.walks, walks + 1);
        // The parent of a single file created again.
        fs::remove_dir_all(d.path().join("proc/sys/fs")).unwrap();
        write(d.path(), "proc/sys/fs/file-max", "7\n");
        let (s, _) = read(&mut r, &root);
        assert_eq!(s["fs.file-max"], "7");
    }

    /// A file added inside a directory that is not listed on every read (no interface
    /// directory, not a tree's top) shows up once the backstop period has passed.
    #[test]
    fn everything_is_walked_again_after_the_backstop_period() {
        let (d, root) = temp_tree();
        let mut r = TreeReader::standard();
        read(&mut r, &root);
        write(d.path(), "proc/sys/net/ipv4/conf/all/new_knob", "5\n");
        let (s, _) = read(&mut r, &root);
        assert!(!s.contains_key("net.ipv4.conf.all.new_knob"));
        let long_ago = Instant::now().checked_sub(REWALK_AFTER).unwrap();
        for tree in &mut r.trees {
            if let Some(l) = &mut tree.layout {
                l.made = long_ago;
            }
        }
        let (s, _) = read(&mut r, &root);
        assert_eq!(s["net.ipv4.conf.all.new_knob"], "5");
    }

    #[test]
    fn a_missing_proc_sys_is_unsupported_and_a_new_root_is_walked() {
        let (_d, root) = temp_tree();
        let mut r = TreeReader::standard();
        read(&mut r, &root);
        let empty = tempfile::tempdir().unwrap();
        let mut w = Warnings::default();
        let s = r.read(&mut FileBuf::new(), &Root::fixture(empty.path()), &mut w);
        assert!(matches!(s, Source::Unsupported { .. }), "{s:?}");
        let (s, _) = read(&mut r, &vm());
        assert_eq!(s["net.core.somaxconn"], "4096");
    }

    #[test]
    fn reads_record_the_sysctl_read_mode() {
        let (_d, root) = temp_tree();
        let mut r = TreeReader::standard();
        let mut buf = FileBuf::new();
        let mut w = Warnings::default();
        r.read(&mut buf, &root, &mut w);
        buf.record = Some(Vec::new());
        let s = r.read(&mut buf, &root, &mut w);
        let reads = buf.record.take().unwrap();
        // Every file is tried, each read as a sysctl; fs/file-nr does not exist, which its
        // kept parent fd cannot tell from a stale fd: it is tried by path too.
        assert_eq!(reads.len(), s.ok().unwrap().len() + 2);
        assert!(reads
            .iter()
            .all(|r| r.mode == crate::root::ReadMode::Sysctl));
        assert!(reads
            .iter()
            .any(|r| r.path.ends_with("conf/eth0.100/rp_filter")));
    }

    #[test]
    fn the_reader_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<TreeReader>();
    }

    #[test]
    fn live_cached_reader_matches_a_fresh_read() {
        let root = Root::default();
        if !crate::testing::require(
            "/proc/sys",
            Path::new("/proc/sys/net/core/somaxconn").exists(),
        ) {
            return;
        }
        let mut r = TreeReader::standard();
        read(&mut r, &root);
        let (cached, w) = read(&mut r, &root);
        assert_eq!(r.walks, TREES.len() as u64, "the second read did not walk");
        let (fresh, fresh_w) = read(&mut TreeReader::standard(), &root);
        let want = reference(&root, &TREES, &FILES, &mut Warnings::default());
        assert_eq!(w.0, fresh_w.0);
        let keys = |s: &Sysctls| s.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&cached), keys(&fresh));
        assert_eq!(keys(&cached), keys(&want));
        for k in [
            "net.core.somaxconn",
            "net.core.netdev_max_backlog",
            "net.core.rmem_max",
            "net.ipv4.tcp_rmem",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.lo.forwarding",
            "net.ipv6.conf.lo.mtu",
            "fs.file-max",
        ] {
            assert_eq!(cached.get(k), want.get(k), "{k}");
            assert_eq!(cached.get(k), fresh.get(k), "{k}");
        }
    }

    /// Run `f` on a thread in a new, empty network namespace (root only).
    fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        if !crate::testing::require_root() {
            return None;
        }
        let got = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
            Some(f())
        })
        .join()
        .unwrap();
        crate::testing::require("a new network namespace", got.is_some());
        got
    }

    fn ip(args: &str) -> bool {
        std::process::Command::new("ip")
            .args(args.split(' '))
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn live_interface_created_again_is_read_again() {
        in_new_netns(|| {
            if !crate::testing::require(
                "a veth pair (`ip link add`)",
                ip("link add v0 type veth peer name v1"),
            ) {
                return;
            }
            let root = Root::default();
            let knob = "/proc/sys/net/ipv4/conf/v0/forwarding";
            fs::write(knob, "1").unwrap();
            let mut r = TreeReader::standard();
            let (s, _) = read(&mut r, &root);
            assert_eq!(s["net.ipv4.conf.v0.forwarding"], "1");
            assert!(
                !s.contains_key("net.ipv4.conf.eth0.forwarding"),
                "host interfaces"
            );
            let walks = r.walks;
            assert!(ip("link del v0"));
            assert!(ip("link add v0 type veth peer name v1"));
            assert_eq!(fs::read_to_string(knob).unwrap().trim(), "0");
            let (s, w) = read(&mut r, &root);
            assert!(w.0.is_empty(), "{:?}", w.0);
            assert_eq!(s["net.ipv4.conf.v0.forwarding"], "0");
            assert!(r.walks > walks);
            let (fresh, _) = read(&mut TreeReader::standard(), &root);
            assert_eq!(
                s.keys().collect::<Vec<_>>(),
                fresh.keys().collect::<Vec<_>>()
            );
            // Removed: gone without a warning.
            assert!(ip("link del v0"));
            let (s, w) = read(&mut r, &root);
            assert!(w.0.is_empty(), "{:?}", w.0);
            assert!(!s.keys().any(|k| k.contains(".v0.") || k.contains(".v1.")));
        });
    }

    /// A reader used on a thread in another network namespace walks again: its kept fds
    /// show the namespace they were opened in.
    #[test]
    fn live_reader_moved_to_another_namespace_walks_again() {
        if !crate::testing::require(
            "/proc/thread-self/ns/net",
            Path::new("/proc/thread-self/ns/net").exists(),
        ) {
            return;
        }
        let root = Root::default();
        let mut r = TreeReader::standard();
        let (host, _) = read(&mut r, &root);
        let Some((r, ns)) = in_new_netns(move || {
            let ns = read(&mut r, &Root::default()).0;
            (r, ns)
        }) else {
            return;
        };
        let (fresh_ns, _) =
            in_new_netns(|| read(&mut TreeReader::standard(), &Root::default())).unwrap();
        let ifaces = |s: &Sysctls| {
            s.keys()
                .filter_map(|k| k.strip_prefix("net.ipv4.conf."))
                .filter_map(|k| k.split('.').next())
                .map(str::to_string)
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(ifaces(&ns), ifaces(&fresh_ns));
        assert!(ifaces(&ns).contains("lo"));
        assert!(r.walks >= 2 * TREES.len() as u64 - 1, "{}", r.walks);
        if host.keys().any(|k| k.starts_with("net.ipv4.conf.eth0.")) {
            assert!(!ifaces(&ns).contains("eth0"));
        }
    }

    /// A sysctl whose value is longer than the first read: read again from offset 0 with a
    /// bigger buffer (a second read at offset 1024 would return nothing for this handler).
    #[test]
    fn live_long_sysctl_value_is_read_whole() {
        in_new_netns(|| {
            let file = "/proc/sys/net/ipv4/ip_local_reserved_ports";
            let ports: Vec<String> = (0..400).map(|i| (10000 + 2 * i).to_string()).collect();
            let want = ports.join(",");
            assert!(want.len() > 2 * crate::root::SYSCTL_FIRST_READ);
            fs::write(file, &want).unwrap();
            let mut buf = FileBuf::new();
            assert_eq!(buf.read_sysctl(Path::new(file)).unwrap().trim(), want);
            let (s, _) = read(&mut TreeReader::standard(), &Root::default());
            assert_eq!(s["net.ipv4.ip_local_reserved_ports"], want);
        });
    }
}
