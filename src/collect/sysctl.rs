//! Sysctls under `/proc/sys` (`net.core`, `net.ipv4`, `net.ipv6`, `net.netfilter`, `fs.file-*`)
//! and the sysctl configuration files that set them (provenance).
//!
//! Names follow sysctl(8): path components joined with `.`, and a `.` *inside* a component
//! (the interface `eth0.100`) written as `/` (`net.ipv4.conf.eth0/100.rp_filter`).
//! [`key_to_path`] maps both that form and the slash form used in config files back to a file.
//!
//! The trees are walked by a [`TreeReader`] (module `sysctl_tree`), which keeps the layout
//! between snapshots and re-reads the files relative to kept directory fds; [`read`] and
//! [`read_trees`] use a fresh one.
//!
//! Configuration files are read with systemd-sysctl's precedence (see [`read_config`]).

pub use super::sysctl_tree::TreeReader;
use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Dotted sysctl name → value (whitespace runs folded to one space, trimmed).
pub type Sysctls = BTreeMap<String, String>;

/// Subtrees of `/proc/sys` read recursively.
pub(super) const TREES: [&str; 4] = ["net/core", "net/ipv4", "net/ipv6", "net/netfilter"];
/// Single files read besides the trees.
pub(super) const FILES: [&str; 2] = ["fs/file-nr", "fs/file-max"];
/// Deeper than any real sysctl tree (`net/ipv4/conf/eth0/...` is 5); guards against loops.
pub(super) const MAX_DEPTH: usize = 8;

/// Read every sysctl of interest from `<proc>/sys`. Files the kernel refuses to read
/// (write-only `net/ipv4/route/flush`, unset `stable_secret`, ...) are skipped silently;
/// a missing subtree (`net/netfilter` without conntrack) is simply absent.
///
/// This walks the trees afresh; a collector that reads them repeatedly keeps a
/// [`TreeReader`], which returns the same and re-reads the files without walking.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Sysctls> {
    TreeReader::standard().read(buf, root, warnings)
}

/// Read the given subtrees (`net/core`) and single files (`fs/file-nr`) of `<proc>/sys`.
/// [`read`] uses the standard set; a namespace snapshot also reads the host's `net/core`,
/// whose host-wide keys (`netdev_max_backlog`, `netdev_budget`) a namespace does not show.
pub fn read_trees(
    buf: &mut FileBuf,
    root: &Root,
    trees: &[&str],
    files: &[&str],
    warnings: &mut Warnings,
) -> Source<Sysctls> {
    TreeReader::new(trees, files).read(buf, root, warnings)
}

/// Append `.` (unless `key` is empty) and the component with its dots written as `/`.
pub(super) fn push_component(key: &mut String, comp: &str) {
    if !key.is_empty() {
        key.push('.');
    }
    for c in comp.chars() {
        key.push(if c == '.' { '/' } else { c });
    }
}

/// Errors that reading a sysctl normally gives: write-only (EACCES/EPERM), not applicable
/// (EINVAL, EIO for an unset `stable_secret`, ENODATA, EOPNOTSUPP), or gone meanwhile
/// (an interface removed during the walk).
pub(super) fn skip_silently(e: &io::Error) -> bool {
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

/// Append `text` with every whitespace run folded to one space and both ends trimmed.
pub(super) fn fold_ws(text: &str, out: &mut String) {
    for (i, word) in text.split_ascii_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// `text` with whitespace runs folded to one space and trimmed (how [`Sysctls`] stores values).
pub fn fold_value(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    fold_ws(text, &mut s);
    s
}

/// Whether the first separator of `key` is a slash (`net/ipv4/conf/eth0.100/rp_filter`):
/// then slashes separate components and dots are literal (sysctl.d(5)).
fn is_slash_form(key: &str) -> bool {
    key.find(['.', '/'])
        .is_some_and(|i| key.as_bytes().get(i) == Some(&b'/'))
}

/// The canonical dotted form of a sysctl name as used in [`Sysctls`]: slash-form names
/// (`net/ipv4/conf/eth0.100/rp_filter`) have dots and slashes interchanged
/// (`net.ipv4.conf.eth0/100.rp_filter`); dotted names are returned unchanged. Leading and
/// trailing separators are dropped.
pub fn normalize_key(key: &str) -> String {
    let key = key.trim().trim_start_matches('/');
    if is_slash_form(key) {
        let swapped: String = key
            .trim_end_matches('/')
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect();
        swapped
    } else {
        key.trim_end_matches('.').to_string()
    }
}

/// The path components of a key (either form), each with its literal dots, in order.
fn raw_components(key: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let key = key.trim().trim_start_matches('/');
    let slash = is_slash_form(key);
    let sep = if slash { '/' } else { '.' };
    key.split(sep).map(move |c| {
        if !slash && c.contains('/') {
            std::borrow::Cow::Owned(c.replace('/', "."))
        } else {
            std::borrow::Cow::Borrowed(c)
        }
    })
}

/// A component that would not name one directory entry below its parent.
fn bad_component(c: &str) -> bool {
    c.is_empty() || c == "." || c == ".."
}

/// The file under `<proc>/sys` for a sysctl name in either form:
/// `net.ipv4.conf.eth0/100.rp_filter` and `net/ipv4/conf/eth0.100/rp_filter` both map to
/// `<proc>/sys/net/ipv4/conf/eth0.100/rp_filter`; `net.core.somaxconn` to
/// `<proc>/sys/net/core/somaxconn`. Empty, `.` and `..` components are dropped.
pub fn key_to_path(root: &Root, key: &str) -> PathBuf {
    let mut p = root.proc.join("sys");
    for c in raw_components(key).filter(|c| !bad_component(c)) {
        p.push(&*c);
    }
    p
}

/// Whether `key` names a sysctl file safely: non-empty, no empty / `.` / `..` components,
/// no glob characters or whitespace.
fn key_is_valid(key: &str) -> bool {
    let k = key.trim().trim_start_matches('/');
    !k.is_empty()
        && !k.contains(['*', '?', '[', ' ', '\t', '\n', '\0'])
        && !raw_components(k).any(|c| bad_component(&c))
}

/// Read one sysctl by name (either form) and return its value folded like [`read`] does.
/// An invalid name (empty component, `..`, glob) is `InvalidInput`.
pub fn read_one(buf: &mut FileBuf, root: &Root, key: &str) -> io::Result<String> {
    if !key_is_valid(key) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl name {key:?}"),
        ));
    }
    let path = key_to_path(root, key);
    Ok(fold_value(buf.read_sysctl(&path)?))
}

// ---------------------------------------------------------------------------------------------
// Configuration files (provenance)

/// One assignment (or exclusion) in a sysctl configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlConfigEntry {
    /// Canonical dotted name (see [`normalize_key`]); may be a glob pattern
    /// (`net.ipv4.conf.*.rp_filter`), see [`SysctlConfigEntry::is_pattern`].
    pub key: String,
    /// The value with whitespace runs folded to one space; empty for an exclusion.
    pub value: String,
    /// The file (under the configuration root) that holds the line.
    pub file: PathBuf,
    /// 1-based line number in `file`.
    pub line: usize,
    /// A later assignment of the same key (in systemd-sysctl's order) replaces this one.
    pub overridden: bool,
    /// The line had a `-` prefix: failure to set it is ignored.
    #[serde(default)]
    pub ignore_failure: bool,
    /// A `-key` line without `=`: the key is excluded from glob assignments.
    #[serde(default)]
    pub exclude: bool,
}

impl SysctlConfigEntry {
    /// The key is a glob pattern (`*`, `?` or `[...]`) rather than one sysctl.
    pub fn is_pattern(&self) -> bool {
        self.key.contains(['*', '?', '['])
    }
}

/// Directories of `*.conf` files in precedence order (a file name in an earlier directory
/// masks the same name in later ones), relative to the configuration root.
pub const CONFIG_DIRS: [&str; 5] = [
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
];

/// Parse one sysctl configuration file. `#`/`;` comment lines and blank lines are skipped;
/// `key = value` assignments, `-key = value` (failure ignored) and `-key` (exclude from
/// globs) are returned in file order with `overridden` false. Bad lines become warnings
/// with `file:line`.
pub fn parse_config(text: &str, file: &Path, warnings: &mut Warnings) -> Vec<SysctlConfigEntry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (key_part, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let (key_part, ignore_failure) = match key_part.strip_prefix('-') {
            Some(k) => (k.trim_start(), true),
            None => (key_part, false),
        };
        let warn = |w: &mut Warnings, msg: &str| {
            w.push(
                &file.display().to_string(),
                Some(line_no),
                format!("{}:{line_no}: {msg}: {raw:?}", file.display()),
            )
        };
        if value.is_none() && !ignore_failure {
            warn(warnings, "not an assignment (key = value), ignored");
            continue;
        }
        let key = normalize_key(key_part);
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '\0') {
            warn(warnings, "invalid sysctl name, ignored");
            continue;
        }
        let mut v = String::new();
        if let Some(value) = value {
            fold_ws(value, &mut v);
        }
        out.push(SysctlConfigEntry {
            key,
            value: v,
            file: file.to_path_buf(),
            line: line_no,
            overridden: false,
            ignore_failure,
            exclude: value.is_none(),
        });
    }
    out
}

/// Read the sysctl configuration under `root.etc` with systemd-sysctl's precedence:
/// `*.conf` in [`CONFIG_DIRS`] (same name in an earlier directory masks later ones), all
/// sorted by file name, then `etc/sysctl.conf` last (as `sysctl --system` does; skipped when
/// it was already read through a link such as Debian's `99-sysctl.conf`). Entries come in
/// application order; each is marked `overridden` when a later one sets the same key.
pub fn read_config(root: &Root, warnings: &mut Warnings) -> Source<Vec<SysctlConfigEntry>> {
    let mut by_name: BTreeMap<OsString, PathBuf> = BTreeMap::new();
    for dir in CONFIG_DIRS {
        let dir = root.config(dir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                warnings.push("sysctl.d", None, format!("{}: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().ends_with(".conf") {
                continue;
            }
            by_name.entry(name).or_insert_with(|| entry.path());
        }
    }
    let mut files: Vec<PathBuf> = by_name.into_values().collect();
    let conf = root.config("etc/sysctl.conf");
    if conf.exists() {
        let canon = fs::canonicalize(&conf).ok();
        let seen = files
            .iter()
            .any(|f| canon.is_some() && fs::canonicalize(f).ok() == canon);
        if !seen {
            files.push(conf);
        }
    }
    let mut entries = Vec::new();
    let mut text = String::new();
    for file in files {
        text.clear();
        match fs::File::open(&file).and_then(|mut f| io::Read::read_to_string(&mut f, &mut text)) {
            Ok(_) => entries.extend(parse_config(&text, &file, warnings)),
            Err(e) => warnings.push(
                &file.display().to_string(),
                None,
                format!("{}: {e}", file.display()),
            ),
        }
    }
    mark_overridden(&mut entries);
    Source::Ok(entries)
}

/// Set `overridden` on every entry whose key is set again later.
fn mark_overridden(entries: &mut [SysctlConfigEntry]) {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut flags = vec![false; entries.len()];
    for (i, e) in entries.iter().enumerate().rev() {
        if !seen.insert(e.key.as_str()) {
            if let Some(f) = flags.get_mut(i) {
                *f = true;
            }
        }
    }
    for (e, f) in entries.iter_mut().zip(flags) {
        e.overridden = f;
    }
}

/// For each key (or pattern) the entry that wins: the last assignment in application order.
pub fn effective_config(entries: &[SysctlConfigEntry]) -> BTreeMap<String, &SysctlConfigEntry> {
    let mut out = BTreeMap::new();
    for e in entries {
        out.insert(e.key.clone(), e);
    }
    out
}

/// The entry that configures the concrete sysctl `key` (dotted form) at boot, following
/// systemd-sysctl: an explicit assignment of the key wins over any glob; an exclusion
/// (`-key`) means no glob applies; otherwise the last glob pattern that matches.
pub fn config_for_key<'a>(
    entries: &'a [SysctlConfigEntry],
    key: &str,
) -> Option<&'a SysctlConfigEntry> {
    let mut glob = None;
    for e in entries.iter().rev() {
        if e.key == key {
            return if e.exclude { None } else { Some(e) };
        }
        if glob.is_none() && !e.exclude && e.is_pattern() && glob_match(&e.key, key) {
            glob = Some(e);
        }
    }
    glob
}

/// Match a dotted sysctl name against a glob pattern in the same form: `*` and `?` do not
/// match the component separator `.`; `[...]`, `[!...]`, `[^...]` and ranges are supported.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    glob_bytes(pattern.as_bytes(), name.as_bytes())
}

fn glob_bytes(p: &[u8], n: &[u8]) -> bool {
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let c = n.get(ni).copied().unwrap_or(0);
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some(b'?') if c != b'.' => {
                pi += 1;
                ni += 1;
                continue;
            }
            Some(b'[') => {
                if let Some((matched, next)) = bracket(p, pi, c) {
                    if matched && c != b'.' {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                } else if c == b'[' {
                    pi += 1;
                    ni += 1;
                    continue;
                }
            }
            Some(&pc) if pc == c && pc != b'*' && pc != b'?' && pc != b'[' => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        // Backtrack: let the last star swallow one more character (never a '.').
        match star {
            Some((sp, sn)) if n.get(sn) != Some(&b'.') && sn < n.len() => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

/// Evaluate the bracket expression starting at `p[start] == '['` against `c`.
/// Returns (matched, index after `]`), or None when the bracket is not closed.
fn bracket(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let b = *p.get(i)?;
        if b == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') {
            let hi = *p.get(i + 2)?;
            if b <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if b == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::{vm, write};
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_captured_vm_tree() {
        let root = vm();
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &root, &mut w);
        let s = s.ok().expect("sysctls");
        assert!(w.0.is_empty(), "{:?}", w.0);
        let get = |k: &str| s.get(k).map(String::as_str);
        assert_eq!(get("net.core.somaxconn"), Some("4096"));
        assert_eq!(get("net.core.netdev_max_backlog"), Some("1000"));
        assert_eq!(get("net.core.netdev_budget_usecs"), Some("8000"));
        assert_eq!(get("net.core.default_qdisc"), Some("pfifo_fast"));
        assert_eq!(get("net.ipv4.tcp_rmem"), Some("4096 131072 33554432"));
        assert_eq!(get("net.ipv4.tcp_mem"), Some("287898 383867 575796"));
        assert_eq!(get("net.ipv4.ip_local_port_range"), Some("32768 60999"));
        assert_eq!(
            get("net.ipv4.tcp_available_congestion_control"),
            Some("reno bbr cubic")
        );
        assert_eq!(get("net.ipv4.tcp_tw_reuse"), Some("2"));
        assert_eq!(get("net.ipv4.conf.eth0.rp_filter"), Some("0"));
        assert_eq!(get("net.ipv4.neigh.eth0.gc_stale_time"), Some("60"));
        assert_eq!(get("net.ipv6.route.max_size"), Some("2147483647"));
        assert_eq!(get("net.ipv6.conf.all.disable_ipv6"), Some("0"));
        assert_eq!(get("fs.file-nr"), Some("486 0 2466170"));
        assert_eq!(get("fs.file-max"), Some("2466170"));
        // Not in the trees we read.
        assert_eq!(get("kernel.hostname"), None);
        // net/netfilter is shared with the conntrack fixture: compare with the files.
        let nf = root.proc("sys/net/netfilter/nf_conntrack_max");
        let want = fs::read_to_string(nf).unwrap();
        assert_eq!(get("net.netfilter.nf_conntrack_max"), Some(want.trim()));
    }

    #[test]
    fn dotted_interface_names_fold_and_map_back() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "proc/sys/net/ipv4/conf/eth0.100/rp_filter",
            "2\n",
        );
        write(
            dir.path(),
            "proc/sys/net/ipv4/tcp_rmem",
            "4096\t87380\t  6291456\n",
        );
        write(dir.path(), "proc/sys/net/core/somaxconn", "  128 \n");
        write(dir.path(), "proc/sys/net/core/empty", "");
        let root = Root::fixture(dir.path());
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &root, &mut w);
        let s = s.ok().unwrap();
        assert_eq!(s["net.ipv4.conf.eth0/100.rp_filter"], "2");
        assert_eq!(s["net.ipv4.tcp_rmem"], "4096 87380 6291456");
        assert_eq!(s["net.core.somaxconn"], "128");
        assert_eq!(s["net.core.empty"], "");
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(w.0.is_empty());

        let sys = dir.path().join("proc/sys");
        let want = sys.join("net/ipv4/conf/eth0.100/rp_filter");
        assert_eq!(key_to_path(&root, "net.ipv4.conf.eth0/100.rp_filter"), want);
        assert_eq!(key_to_path(&root, "net/ipv4/conf/eth0.100/rp_filter"), want);
        assert_eq!(
            key_to_path(&root, "net.core.somaxconn"),
            sys.join("net/core/somaxconn")
        );
        assert_eq!(
            key_to_path(&root, "net/core/../../../etc"),
            sys.join("net/core/etc")
        );
        let mut buf = FileBuf::new();
        assert_eq!(
            read_one(&mut buf, &root, "net.ipv4.conf.eth0/100.rp_filter").unwrap(),
            "2"
        );
        assert_eq!(
            read_one(&mut buf, &root, "net/ipv4/conf/eth0.100/rp_filter").unwrap(),
            "2"
        );
        assert_eq!(
            read_one(&mut buf, &root, "net.ipv4.tcp_rmem").unwrap(),
            "4096 87380 6291456"
        );
        for bad in [
            "",
            "net..core",
            "net.core.*",
            "net/../etc",
            "net.ipv4.conf.//.x",
            "a b",
        ] {
            let e = read_one(&mut buf, &root, bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        let e = read_one(&mut buf, &root, "net.core.nope").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn normalize_key_swaps_slash_form() {
        assert_eq!(normalize_key("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            normalize_key("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(
            normalize_key("net.ipv4.conf.eth0/100.rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(normalize_key(" /kernel/domainname "), "kernel.domainname");
    }

    #[test]
    fn missing_proc_sys_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let s = read(
            &mut FileBuf::new(),
            &Root::fixture(dir.path()),
            &mut Warnings::default(),
        );
        assert!(matches!(s, Source::Unsupported { .. }), "{s:?}");
    }

    #[test]
    fn live_proc_sys_matches_files() {
        let p = Path::new("/proc/sys/net/core/somaxconn");
        if !crate::testing::require("/proc/sys", p.exists()) {
            return;
        }
        let root = Root::default();
        let mut w = Warnings::default();
        // Timing (informative, printed with --nocapture): best of 5 against the floor of
        // only opening and reading the same files.
        let mut buf = FileBuf::new();
        let mut took = std::time::Duration::MAX;
        let mut s = Sysctls::new();
        for _ in 0..5 {
            w.0.clear();
            let t = std::time::Instant::now();
            s = read(&mut buf, &root, &mut w).ok().unwrap().clone();
            took = took.min(t.elapsed());
        }
        let paths: Vec<PathBuf> = s.keys().map(|k| key_to_path(&root, k)).collect();
        let mut scratch = [0u8; 4096];
        let mut floor = std::time::Duration::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for p in &paths {
                if let Ok(mut f) = fs::File::open(p) {
                    while io::Read::read(&mut f, &mut scratch).is_ok_and(|n| n > 0) {}
                }
            }
            floor = floor.min(t.elapsed());
        }
        eprintln!(
            "live sysctl read: {} keys in {took:?}; floor {floor:?}",
            s.len()
        );
        let want = fs::read_to_string(p).unwrap();
        assert_eq!(s["net.core.somaxconn"], want.trim());
        assert!(s.len() > 100, "{}", s.len());
        // Write-only files are skipped silently.
        assert!(!s.contains_key("net.ipv4.route.flush"));
        assert!(w.0.is_empty(), "{:?}", w.0);
        let mut buf = FileBuf::new();
        assert_eq!(
            read_one(&mut buf, &root, "net.core.somaxconn").unwrap(),
            want.trim()
        );
    }

    #[test]
    fn config_precedence_masking_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        write(
            dir,
            "usr/lib/sysctl.d/10-net.conf",
            "net.core.somaxconn = 1\n",
        );
        write(dir, "run/sysctl.d/10-net.conf", "net.core.somaxconn = 2\n");
        write(
            dir,
            "etc/sysctl.d/10-net.conf",
            "# comment\n; other comment\n\nnet.core.somaxconn = 3\nnet/ipv4/conf/eth0.100/rp_filter=2\n",
        );
        write(
            dir,
            "usr/lib/sysctl.d/50-default.conf",
            "net.ipv4.conf.*.rp_filter = 1\n-net.ipv4.conf.lo.rp_filter\n-net.core.rmem_max = 4096\nthis is bad\n = 5\n",
        );
        write(dir, "usr/lib/sysctl.d/README", "not a conf file\n");
        write(
            dir,
            "etc/sysctl.conf",
            "net.core.somaxconn = 4096\nnet.ipv4.tcp_rmem = 4096\t87380   6291456\n",
        );
        symlink("../sysctl.conf", dir.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
        write(
            dir,
            "etc/sysctl.d/60-later.conf",
            "net.core.somaxconn = 60\n",
        );

        let root = Root::fixture(dir);
        let mut w = Warnings::default();
        let entries = read_config(&root, &mut w);
        let entries = entries.ok().unwrap();
        let desc: Vec<(String, String, String, usize, bool)> = entries
            .iter()
            .map(|e| {
                let f = e.file.strip_prefix(dir).unwrap().display().to_string();
                (e.key.clone(), e.value.clone(), f, e.line, e.overridden)
            })
            .collect();
        let t = |k: &str, v: &str, f: &str, l: usize, o: bool| {
            (k.to_string(), v.to_string(), f.to_string(), l, o)
        };
        assert_eq!(
            desc,
            vec![
                t(
                    "net.core.somaxconn",
                    "3",
                    "etc/sysctl.d/10-net.conf",
                    4,
                    true
                ),
                t(
                    "net.ipv4.conf.eth0/100.rp_filter",
                    "2",
                    "etc/sysctl.d/10-net.conf",
                    5,
                    false
                ),
                t(
                    "net.ipv4.conf.*.rp_filter",
                    "1",
                    "usr/lib/sysctl.d/50-default.conf",
                    1,
                    false
                ),
                t(
                    "net.ipv4.conf.lo.rp_filter",
                    "",
                    "usr/lib/sysctl.d/50-default.conf",
                    2,
                    false
                ),
                t(
                    "net.core.rmem_max",
                    "4096",
                    "usr/lib/sysctl.d/50-default.conf",
                    3,
                    false
                ),
                t(
                    "net.core.somaxconn",
                    "60",
                    "etc/sysctl.d/60-later.conf",
                    1,
                    true
                ),
                t(
                    "net.core.somaxconn",
                    "4096",
                    "etc/sysctl.d/99-sysctl.conf",
                    1,
                    false
                ),
                t(
                    "net.ipv4.tcp_rmem",
                    "4096 87380 6291456",
                    "etc/sysctl.d/99-sysctl.conf",
                    2,
                    false
                ),
            ]
        );
        assert!(entries[3].exclude && entries[3].ignore_failure);
        assert!(entries[4].ignore_failure && !entries[4].exclude);
        assert!(entries[2].is_pattern());
        // Two bad lines, each with file:line.
        assert_eq!(w.0.len(), 2, "{:?}", w.0);
        assert_eq!(w.0[0].line, Some(4));
        assert!(
            w.0[0].message.contains("50-default.conf:4"),
            "{}",
            w.0[0].message
        );
        assert_eq!(w.0[1].line, Some(5));

        let eff = effective_config(entries);
        assert_eq!(eff["net.core.somaxconn"].value, "4096");
        assert!(eff["net.core.somaxconn"]
            .file
            .ends_with("etc/sysctl.d/99-sysctl.conf"));
        assert_eq!(eff.len(), 6);

        // Glob resolution.
        assert_eq!(
            config_for_key(entries, "net.ipv4.conf.eth0.rp_filter")
                .unwrap()
                .value,
            "1"
        );
        assert_eq!(
            config_for_key(entries, "net.ipv4.conf.eth0/100.rp_filter")
                .unwrap()
                .value,
            "2"
        );
        assert!(config_for_key(entries, "net.ipv4.conf.lo.rp_filter").is_none());
        assert!(config_for_key(entries, "net.ipv4.conf.eth0.forwarding").is_none());
    }

    #[test]
    fn sysctl_conf_read_last_when_not_linked() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "etc/sysctl.conf", "vm.swappiness = 1\n");
        write(d.path(), "etc/sysctl.d/99-x.conf", "vm.swappiness = 2\n");
        let entries = read_config(&Root::fixture(d.path()), &mut Warnings::default());
        let entries = entries.ok().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries[1].file.ends_with("etc/sysctl.conf"));
        assert_eq!(effective_config(entries)["vm.swappiness"].value, "1");
        // No config at all is an empty list, not an error.
        let e = tempfile::tempdir().unwrap();
        let none = read_config(&Root::fixture(e.path()), &mut Warnings::default());
        assert_eq!(none, Source::Ok(vec![]));
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.eth0.rp_filter"
        ));
        assert!(glob_match(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.eth0/100.rp_filter"
        ));
        assert!(!glob_match(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.a.b.rp_filter"
        ));
        assert!(glob_match(
            "net.*.conf.*.forwarding",
            "net.ipv6.conf.all.forwarding"
        ));
        assert!(glob_match(
            "net.ipv4.conf.eth[0-9].x",
            "net.ipv4.conf.eth3.x"
        ));
        assert!(!glob_match(
            "net.ipv4.conf.eth[!0-9].x",
            "net.ipv4.conf.eth3.x"
        ));
        assert!(glob_match("net.ipv4.conf.eth?.x", "net.ipv4.conf.eth3.x"));
        assert!(!glob_match("net.ipv4.conf.eth?.x", "net.ipv4.conf.eth33.x"));
        assert!(glob_match("net.*a*b", "net.xaab"));
        assert!(glob_match("a[b", "a[b"));
        assert!(!glob_match("a*", "a.b"));
    }

    proptest! {
        #[test]
        fn config_parser_never_panics(text in "\\PC{0,300}") {
            let mut w = Warnings::default();
            let _ = parse_config(&text, Path::new("x.conf"), &mut w);
        }

        #[test]
        fn config_parser_truncation_never_panics(cut in 0usize..200) {
            let text = "# c\nnet.core.somaxconn = 4096\n-net.ipv4.conf.*.rp_filter = 1\n-x.y\nbad\n";
            let cut = cut.min(text.len());
            let mut w = Warnings::default();
            let _ = parse_config(&text[..cut], Path::new("x.conf"), &mut w);
        }

        #[test]
        fn config_assignments_round_trip(
            key in "[a-z_][a-z0-9_]{0,7}(\\.[a-z0-9_-]{1,8}){1,4}",
            words in proptest::collection::vec("[0-9a-z]{1,6}", 0..4),
            slash in any::<bool>(),
            minus in any::<bool>(),
        ) {
            let written = if slash { key.replace('.', "/") } else { key.clone() };
            let line = format!("{}{} =\t{}\n", if minus { "-" } else { "" }, written, words.join("  "));
            let mut w = Warnings::default();
            let e = parse_config(&line, Path::new("a.conf"), &mut w);
            prop_assert!(w.0.is_empty());
            prop_assert_eq!(e.len(), 1);
            prop_assert_eq!(&e[0].key, &key);
            prop_assert_eq!(&e[0].value, &words.join(" "));
            prop_assert_eq!(e[0].ignore_failure, minus);
        }

        #[test]
        fn key_forms_map_to_same_path(
            first in "[a-z]{1,6}",
            comps in proptest::collection::vec("[a-z0-9_]{1,6}(\\.[0-9]{1,3})?", 1..5),
        ) {
            // Real names start with a dot-free component (`net`, `fs`); after it, dots
            // inside components must survive both forms.
            let root = Root::new("/p", "/s");
            let slash = format!("{first}/{}", comps.join("/"));
            let dotted = normalize_key(&slash);
            prop_assert_eq!(key_to_path(&root, &slash), key_to_path(&root, &dotted));
            prop_assert_eq!(key_to_path(&root, &dotted), Path::new("/p/sys").join(&slash));
        }

        #[test]
        fn glob_and_keys_never_panic(p in "[a-z.*?\\[\\]!^-]{0,20}", n in "[a-z./]{0,20}") {
            let _ = glob_match(&p, &n);
            let _ = key_to_path(&Root::default(), &n);
            let _ = key_is_valid(&n);
            let _ = normalize_key(&n);
        }
    }
}
