//! Sysctl configuration files (sysctl.d, sysctl.conf) and their provenance: which file and
//! line sets a key, read with systemd-sysctl's precedence (see [`read_config`]).

use super::key::{fold_ws, normalize_key};
use crate::collect::{Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
