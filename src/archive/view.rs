//! A read-only view of an archive's file tree whose symlinks resolve inside the archive only.
//!
//! Three backings hold the tree: a directory (every component opened with `openat` and
//! `O_NOFOLLOW` from the directory the user named, symlinks read with `readlinkat` and
//! resolved here, never by the kernel), the index of a tarball whose needed members were
//! staged as regular files into a private temporary directory ([`super::tarball`]), and an
//! in-memory tree (a supportconfig's sections). [`View::resolve`] walks a path component by
//! component: an absolute symlink target is re-rooted at the archive, `..` stops at the
//! archive's top, more than [`MAX_HOPS`] links is a loop. Nothing outside the archive is
//! ever opened.

use super::ArchiveError;
use crate::root::open_at;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, SFlag};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Symlinks followed while resolving one path before it counts as a loop (Linux's limit).
pub const MAX_HOPS: usize = 40;

/// Largest member read from an archive, bytes: a text output or proc file claiming more is
/// refused (a bounded read, never a huge allocation).
pub const MEMBER_CAP: u64 = 64 * 1024 * 1024;

/// Directory fds a [`View`] keeps open at most (well under the usual limit of 1,024).
const DIR_FDS_KEPT: usize = 256;

/// What is at a path of the tree (symlinks not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Size in bytes (as stored or claimed).
        size: u64,
    },
    /// A symbolic link and its target as stored.
    Symlink(String),
    /// Anything else (device, FIFO, socket): never read.
    Other,
}

/// A staged or in-memory tarball/supportconfig member.
#[derive(Debug, Clone)]
pub enum Stored {
    /// The member's content was staged into this regular file of the private directory.
    Staged(PathBuf),
    /// Not staged (not needed, or refused: the reason).
    Skipped(String),
    /// Held in memory.
    Mem(Vec<u8>),
}

/// An index of a tree held outside a directory (a tarball's members, a supportconfig's
/// sections), keyed by `/`-joined relative path.
#[derive(Debug, Default)]
pub struct Index {
    /// Path → node; parents of every entry are directories.
    pub nodes: BTreeMap<String, Node>,
    /// Path → content of regular files.
    pub files: BTreeMap<String, Stored>,
}

impl Index {
    /// Insert `node` at `path` (components joined by `/`), with its parents as directories.
    pub fn insert(&mut self, path: &str, node: Node) {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            let parent = &path[..end + i];
            self.nodes.entry(parent.to_string()).or_insert(Node::Dir);
            end += i + 1;
        }
        self.nodes.insert(path.to_string(), node);
    }

    /// Names directly inside directory `dir` ("" for the top).
    fn list(&self, dir: &str) -> Vec<String> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let rest = &k[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
            })
            .collect()
    }
}

/// The backing of a [`View`].
#[derive(Debug)]
enum Backing {
    /// A directory, open.
    Dir(OwnedFd),
    /// An index (tarball or supportconfig).
    Index(Index),
}

/// A tree rooted at the archive's top whose paths resolve inside it only.
#[derive(Debug)]
pub struct View {
    backing: Backing,
    /// Components of the archive's top inside the backing (a tarball's `sosreport-…/`).
    base: Vec<String>,
    /// What the user named, for messages.
    pub origin: PathBuf,
    /// Resolved paths (relative path → backing path), so a walk of a tree resolves each
    /// directory once.
    resolved: RefCell<HashMap<String, Vec<String>>>,
    /// Directories opened (`O_PATH`, never through a link) by backing path.
    dirs: RefCell<HashMap<String, Rc<OwnedFd>>>,
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

fn cstr(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

impl View {
    /// A view of the directory at `dir`.
    pub fn dir(dir: &Path) -> Result<View, ArchiveError> {
        let fd = File::open(dir)
            .map_err(|e| ArchiveError::io(dir, e))
            .map(OwnedFd::from)?;
        Ok(View {
            backing: Backing::Dir(fd),
            base: Vec::new(),
            origin: dir.to_path_buf(),
            resolved: RefCell::default(),
            dirs: RefCell::default(),
        })
    }

    /// A view of an index (a tarball's or a supportconfig's).
    pub fn index(index: Index, origin: &Path) -> View {
        View {
            backing: Backing::Index(index),
            base: Vec::new(),
            origin: origin.to_path_buf(),
            resolved: RefCell::default(),
            dirs: RefCell::default(),
        }
    }

    /// Make the directory `rel` (already inside the archive) the view's top.
    pub fn rebase(&mut self, rel: &str) {
        self.base.extend(split(rel).map(str::to_string));
        self.resolved.borrow_mut().clear();
    }

    /// The directory at backing path `parents`, opened once (`None`: the backing's top).
    fn open_parent(&self, root: &OwnedFd, parents: &[String]) -> io::Result<Option<Rc<OwnedFd>>> {
        if parents.is_empty() {
            return Ok(None);
        }
        let key = parents.join("/");
        if let Some(fd) = self.dirs.borrow().get(&key) {
            return Ok(Some(fd.clone()));
        }
        let (last, up) = parents.split_last().unwrap_or((&parents[0], &[]));
        let parent = self.open_parent(root, up)?;
        let at = parent.as_deref().unwrap_or(root);
        let fd = Rc::new(open_at(
            at.as_fd(),
            &cstr(last)?,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )?);
        let mut dirs = self.dirs.borrow_mut();
        if dirs.len() >= DIR_FDS_KEPT {
            // A wide tree (a host with hundreds of interfaces' sysctl directories): start
            // over rather than run out of file descriptors.
            dirs.clear();
        }
        dirs.insert(key, fd.clone());
        Ok(Some(fd))
    }

    /// The node at the symlink-free backing path `phys`, `None` when missing.
    fn node(&self, phys: &[String]) -> io::Result<Option<Node>> {
        match &self.backing {
            Backing::Index(ix) => Ok(ix.nodes.get(&phys.join("/")).cloned()),
            Backing::Dir(root) => {
                let Some((last, parents)) = phys.split_last() else {
                    return Ok(Some(Node::Dir));
                };
                let dir = match self.open_parent(root, parents) {
                    Ok(d) => d,
                    Err(e) if missing(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let name = cstr(last)?;
                let dirfd = dir.as_deref().unwrap_or(root).as_raw_fd();
                let st = match fstatat(Some(dirfd), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => {
                        return Ok(None)
                    }
                    Err(e) => return Err(e.into()),
                };
                let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
                Ok(Some(if kind == SFlag::S_IFDIR {
                    Node::Dir
                } else if kind == SFlag::S_IFREG {
                    Node::File {
                        size: u64::try_from(st.st_size).unwrap_or(0),
                    }
                } else if kind == SFlag::S_IFLNK {
                    let target = nix::fcntl::readlinkat(Some(dirfd), name.as_c_str())?;
                    Node::Symlink(target.to_string_lossy().into_owned())
                } else {
                    Node::Other
                }))
            }
        }
    }

    /// Resolve `rel` (relative to the archive's top) to a symlink-free backing path.
    pub fn resolve(&self, rel: &str) -> Result<Vec<String>, ArchiveError> {
        let comps: Vec<&str> = split(rel).collect();
        let key = comps.join("/");
        if let Some(hit) = self.resolved.borrow().get(&key) {
            return Ok(hit.clone());
        }
        // The parent directory once (memoised), then the last component from there.
        let (cur, todo) = match comps.split_last() {
            Some((last, parent)) if !parent.is_empty() && *last != ".." => (
                self.resolve(&parent.join("/"))?,
                VecDeque::from([last.to_string()]),
            ),
            _ => (
                self.base.clone(),
                comps.iter().map(|c| c.to_string()).collect(),
            ),
        };
        let out = self.walk(rel, cur, todo)?;
        self.resolved.borrow_mut().insert(key, out.clone());
        Ok(out)
    }

    /// Resolve the components `todo` from the resolved directory `cur`.
    fn walk(
        &self,
        rel: &str,
        mut cur: Vec<String>,
        mut todo: VecDeque<String>,
    ) -> Result<Vec<String>, ArchiveError> {
        let floor = self.base.len();
        let mut hops = 0;
        while let Some(comp) = todo.pop_front() {
            if comp == ".." {
                if cur.len() > floor {
                    cur.pop();
                }
                continue;
            }
            cur.push(comp);
            match self
                .node(&cur)
                .map_err(|e| ArchiveError::io(self.shown(rel), e))?
            {
                None => return Err(ArchiveError::Missing(rel.to_string())),
                Some(Node::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(ArchiveError::Loop(rel.to_string()));
                    }
                    cur.pop();
                    if target.starts_with('/') {
                        cur.truncate(floor);
                    }
                    for c in split(&target).collect::<Vec<_>>().into_iter().rev() {
                        todo.push_front(c.to_string());
                    }
                }
                Some(Node::File { .. }) | Some(Node::Other) if !todo.is_empty() => {
                    return Err(ArchiveError::Missing(rel.to_string()));
                }
                Some(_) => {}
            }
        }
        Ok(cur)
    }

    /// The node `rel` resolves to, `None` when it does not resolve (missing, loop).
    pub fn stat(&self, rel: &str) -> Option<Node> {
        let phys = self.resolve(rel).ok()?;
        self.node(&phys).ok().flatten()
    }

    /// Names inside the directory `rel` resolves to, sorted; empty when it is not one.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let Ok(phys) = self.resolve(rel) else {
            return Vec::new();
        };
        let mut names = match &self.backing {
            Backing::Index(ix) => ix.list(&phys.join("/")),
            Backing::Dir(root) => self.list_dir(root, &phys).unwrap_or_default(),
        };
        names.sort();
        names
    }

    /// Read the regular file `rel` resolves to, at most [`MEMBER_CAP`] bytes.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, ArchiveError> {
        let phys = self.resolve(rel)?;
        let shown = self.shown(rel);
        let io_err = |e| ArchiveError::io(&shown, e);
        match &self.backing {
            Backing::Index(ix) => {
                let key = phys.join("/");
                match (ix.nodes.get(&key), ix.files.get(&key)) {
                    (Some(Node::File { size }), _) if *size > MEMBER_CAP => {
                        Err(ArchiveError::TooLarge(shown, *size))
                    }
                    (Some(Node::File { .. }), Some(Stored::Mem(bytes))) => Ok(bytes.clone()),
                    (Some(Node::File { .. }), Some(Stored::Staged(path))) => {
                        capped(File::open(path).map_err(io_err)?, &shown)
                    }
                    (Some(Node::File { .. }), Some(Stored::Skipped(why))) => {
                        Err(ArchiveError::Refused(shown, why.clone()))
                    }
                    (Some(Node::File { .. }), None) => {
                        Err(ArchiveError::Refused(shown, "member not extracted".into()))
                    }
                    _ => Err(ArchiveError::NotFile(shown)),
                }
            }
            Backing::Dir(root) => {
                let Some((last, parents)) = phys.split_last() else {
                    return Err(ArchiveError::NotFile(shown));
                };
                let dir = self.open_parent(root, parents).map_err(io_err)?;
                let flags =
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
                let fd = open_at(
                    dir.as_deref().unwrap_or(root).as_fd(),
                    &cstr(last).map_err(io_err)?,
                    flags,
                )
                .map_err(io_err)?;
                let file = File::from(fd);
                let meta = file.metadata().map_err(io_err)?;
                if !meta.is_file() {
                    return Err(ArchiveError::NotFile(shown));
                }
                if meta.len() > MEMBER_CAP {
                    return Err(ArchiveError::TooLarge(shown, meta.len()));
                }
                capped(file, &shown)
            }
        }
    }

    /// Read `rel` as text: `Ok(None)` when it does not exist, an error when it is binary
    /// (a NUL byte or invalid UTF-8) or unreadable.
    pub fn text(&self, rel: &str) -> Result<Option<String>, ArchiveError> {
        match self.read(rel) {
            Ok(bytes) => text_of(bytes, &self.shown(rel)).map(Some),
            Err(ArchiveError::Missing(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `rel` as shown in messages: the archive's name and the member.
    pub fn shown(&self, rel: &str) -> String {
        format!("{}: {rel}", self.origin.display())
    }
}

/// Bytes as text, or why they are not text: a NUL byte, or more than 1 % of the text not
/// UTF-8, is binary; a few stray bytes (a Latin-1 interface alias) are replaced.
pub fn text_of(bytes: Vec<u8>, shown: &str) -> Result<String, ArchiveError> {
    if bytes.contains(&0) {
        return Err(ArchiveError::Binary(shown.to_string()));
    }
    match String::from_utf8(bytes) {
        Ok(t) => Ok(t),
        Err(e) => {
            let bytes = e.into_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let bad = text
                .chars()
                .filter(|&c| c == char::REPLACEMENT_CHARACTER)
                .count();
            if bad * 100 > bytes.len() {
                Err(ArchiveError::Binary(shown.to_string()))
            } else {
                Ok(text)
            }
        }
    }
}

/// Read at most [`MEMBER_CAP`] bytes; more is an error (a file that grew past its size).
fn capped(file: File, shown: &str) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::new();
    file.take(MEMBER_CAP + 1)
        .read_to_end(&mut out)
        .map_err(|e| ArchiveError::io(shown, e))?;
    if out.len() as u64 > MEMBER_CAP {
        return Err(ArchiveError::TooLarge(shown.to_string(), out.len() as u64));
    }
    Ok(out)
}

fn missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
    )
}

impl View {
    fn list_dir(&self, root: &OwnedFd, phys: &[String]) -> io::Result<Vec<String>> {
        let parent = self.open_parent(root, phys)?;
        let at = parent.as_deref().unwrap_or(root);
        let fd = open_at(
            at.as_fd(),
            c".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )?;
        // The open directory itself, through its fd (no path walk that could follow a link).
        let mut names = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("archive");
        std::fs::create_dir_all(top.join("proc/42/net")).unwrap();
        std::fs::write(top.join("proc/42/net/dev"), "dev\n").unwrap();
        symlink("42", top.join("proc/self")).unwrap();
        symlink("self/net", top.join("proc/net")).unwrap();
        std::fs::create_dir_all(top.join("sos_commands/host")).unwrap();
        std::fs::write(top.join("sos_commands/host/uptime"), "up\n").unwrap();
        symlink("sos_commands/host/uptime", top.join("uptime")).unwrap();
        symlink("/sos_commands/host/uptime", top.join("abs")).unwrap();
        symlink("../../../../../secret", top.join("climb")).unwrap();
        std::fs::write(top.join("secret"), "inside\n").unwrap();
        std::fs::write(d.path().join("secret"), "OUTSIDE\n").unwrap();
        symlink(d.path().join("secret"), top.join("outside")).unwrap();
        symlink("loop2", top.join("loop1")).unwrap();
        symlink("loop1", top.join("loop2")).unwrap();
        (d, top)
    }

    /// Relative, chained and absolute links resolve inside; `..` and absolute targets
    /// outside are re-rooted at the archive; loops are errors.
    #[test]
    fn links_resolve_inside_the_directory_only() {
        let (_d, top) = tree();
        let v = View::dir(&top).unwrap();
        assert_eq!(v.read("proc/net/dev").unwrap(), b"dev\n");
        assert_eq!(v.read("uptime").unwrap(), b"up\n");
        assert_eq!(v.read("abs").unwrap(), b"up\n");
        assert_eq!(v.read("climb").unwrap(), b"inside\n");
        assert_eq!(v.read("../../secret").unwrap(), b"inside\n");
        // The absolute target names the real outside file; re-rooted it is missing here.
        let err = v.read("outside").unwrap_err();
        assert!(matches!(err, ArchiveError::Missing(_)), "{err}");
        let err = v.read("loop1").unwrap_err();
        assert!(matches!(err, ArchiveError::Loop(_)), "{err}");
        assert_eq!(v.list("proc/net"), vec!["dev".to_string()]);
        assert_eq!(v.stat("proc/self"), Some(Node::Dir));
    }

    /// A tree wider than the directory fds kept open is read whole (the cache starts over).
    #[test]
    fn wide_trees_do_not_exhaust_descriptors() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..(DIR_FDS_KEPT * 2 + 10) {
            let dir = d.path().join(format!("conf/eth{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("rp_filter"), format!("{i}\n")).unwrap();
        }
        let v = View::dir(d.path()).unwrap();
        let names = v.list("conf");
        assert_eq!(names.len(), DIR_FDS_KEPT * 2 + 10);
        for n in &names {
            let got = v.read(&format!("conf/{n}/rp_filter")).unwrap();
            assert_eq!(String::from_utf8(got).unwrap().trim(), &n[3..]);
        }
        assert!(v.dirs.borrow().len() <= DIR_FDS_KEPT);
    }

    /// NUL bytes or mostly invalid UTF-8 are binary; a stray Latin-1 byte is replaced.
    #[test]
    fn text_or_binary() {
        assert!(text_of(b"ok\n".to_vec(), "f").is_ok());
        assert!(matches!(
            text_of(b"a\0b".to_vec(), "f"),
            Err(ArchiveError::Binary(_))
        ));
        let mut latin = b"eth0 alias caf".to_vec();
        latin.push(0xe9);
        latin.extend_from_slice(&[b'x'; 200]);
        assert!(text_of(latin, "f").unwrap().contains('\u{fffd}'));
        assert!(matches!(
            text_of(vec![0xff; 64], "f"),
            Err(ArchiveError::Binary(_))
        ));
    }

    /// The same tree as an index resolves the same way.
    #[test]
    fn index_links_resolve_like_directories() {
        let mut ix = Index::default();
        ix.insert("top/proc/42/net/dev", Node::File { size: 4 });
        ix.files
            .insert("top/proc/42/net/dev".into(), Stored::Mem(b"dev\n".to_vec()));
        ix.insert("top/proc/self", Node::Symlink("42".into()));
        ix.insert("top/proc/net", Node::Symlink("/proc/self/net".into()));
        ix.insert("top/x", Node::Symlink("../../../etc/passwd".into()));
        ix.insert("top/big", Node::File { size: 5 << 30 });
        let mut v = View::index(ix, Path::new("a.tar"));
        v.rebase("top");
        assert_eq!(v.read("proc/net/dev").unwrap(), b"dev\n");
        assert_eq!(v.list("proc"), vec!["42", "net", "self"]);
        assert!(matches!(v.read("x"), Err(ArchiveError::Missing(_))));
        assert!(matches!(v.read("big"), Err(ArchiveError::TooLarge(_, _))));
    }
}
