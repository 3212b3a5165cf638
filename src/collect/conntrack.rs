//! Connection tracking: entries, limit, hash buckets and per-CPU `/proc/net/stat/nf_conntrack`.
//!
//! Owns the sysctl reads (`<proc>/sys/net/netfilter/nf_conntrack_{count,max,buckets}`) and the
//! parser of the per-CPU statistics table. That table is hex (`%08x`) with a header line of
//! column names; its layout changed over the years (`searched`/`delete_list` before 5.x,
//! `clashres`/`chainlength` since), so columns are matched by header name, never by position.

use super::sysctl::key_to_path;
use super::{parse_hex, FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// Warning / error source label of the statistics table.
const SOURCE: &str = "net/stat/nf_conntrack";

/// Conntrack table fill and statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conntrack {
    /// Entries in the table now (`net.netfilter.nf_conntrack_count`).
    pub count: Option<u64>,
    /// Table limit in entries (`net.netfilter.nf_conntrack_max`).
    pub max: Option<u64>,
    /// Hash table size in buckets (`net.netfilter.nf_conntrack_buckets`, the module's
    /// `hashsize`).
    #[serde(default)]
    pub buckets: Option<u64>,
    /// Per-CPU statistics from `/proc/net/stat/nf_conntrack`, one row per possible CPU in file
    /// order; `None` when the file is missing or unusable.
    #[serde(default)]
    pub stat: Option<Vec<ConntrackCpuStat>>,
}

impl Conntrack {
    /// `count / max`, when both are known and `max > 0`.
    pub fn fill_ratio(&self) -> Option<f64> {
        match (self.count, self.max) {
            (Some(c), Some(m)) if m > 0 => Some(c as f64 / m as f64),
            _ => None,
        }
    }

    /// Sum of the per-CPU statistics ([`totals`]), when the table was read.
    pub fn totals(&self) -> Option<ConntrackCpuStat> {
        self.stat.as_deref().map(totals)
    }
}

/// One row of `/proc/net/stat/nf_conntrack` (one CPU). Every column is a cumulative event
/// count since boot except `entries`, a gauge. Columns this kernel does not print are `None`
/// (`null` in JSON). Several columns are printed but always 0 on modern kernels (`new`,
/// `ignore`, `delete`, `searched`, `delete_list`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConntrackCpuStat {
    /// Entries in the table (gauge; the same value on every row).
    pub entries: Option<u64>,
    /// Hash lookups (old kernels).
    pub searched: Option<u64>,
    /// Insert clashes resolved (two packets of one new flow raced; kernels ≥ 5.x).
    pub clashres: Option<u64>,
    /// Lookups that found an existing entry.
    pub found: Option<u64>,
    /// Entries created (old kernels; 0 since 4.x).
    pub new: Option<u64>,
    /// Packets that could not be tracked (malformed, or out of the TCP window).
    pub invalid: Option<u64>,
    /// Packets that were already tracked or marked untracked (0 on kernels ≥ 5.x).
    pub ignore: Option<u64>,
    /// Entries deleted (old kernels).
    pub delete: Option<u64>,
    /// Entries removed from the unconfirmed/dying list (old kernels).
    pub delete_list: Option<u64>,
    /// Inserts that gave up because a hash chain was too long (kernels ≥ 5.x).
    pub chainlength: Option<u64>,
    /// Entries inserted into the table.
    pub insert: Option<u64>,
    /// Inserts that failed (the same tuple already present); packets are dropped.
    pub insert_failed: Option<u64>,
    /// Packets dropped because a new entry could not be allocated (table full).
    pub drop: Option<u64>,
    /// Entries evicted early to make room for new ones (table full).
    pub early_drop: Option<u64>,
    /// ICMP errors that referenced no known connection.
    pub icmp_error: Option<u64>,
    /// Expectations added (helpers such as FTP).
    pub expect_new: Option<u64>,
    /// Expectations created.
    pub expect_create: Option<u64>,
    /// Expectations deleted.
    pub expect_delete: Option<u64>,
    /// Lookups restarted because the hash table was resized during the search (2.6.35+).
    pub search_restart: Option<u64>,
    /// Columns with names this parser does not know (newer kernels), by header name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, u64>,
}

/// A column of the statistics table, resolved once from the header.
#[derive(Debug, Clone, Copy)]
enum Col {
    Entries,
    Searched,
    Clashres,
    Found,
    New,
    Invalid,
    Ignore,
    Delete,
    DeleteList,
    Chainlength,
    Insert,
    InsertFailed,
    Drop,
    EarlyDrop,
    IcmpError,
    ExpectNew,
    ExpectCreate,
    ExpectDelete,
    SearchRestart,
    /// Unknown name: index into the header names.
    Other(usize),
}

impl Col {
    fn from_name(name: &str, idx: usize) -> Col {
        match name {
            "entries" => Col::Entries,
            "searched" => Col::Searched,
            "clashres" => Col::Clashres,
            "found" => Col::Found,
            "new" => Col::New,
            "invalid" => Col::Invalid,
            "ignore" => Col::Ignore,
            "delete" => Col::Delete,
            "delete_list" => Col::DeleteList,
            "chainlength" => Col::Chainlength,
            "insert" => Col::Insert,
            "insert_failed" => Col::InsertFailed,
            "drop" => Col::Drop,
            "early_drop" => Col::EarlyDrop,
            "icmp_error" => Col::IcmpError,
            "expect_new" => Col::ExpectNew,
            "expect_create" => Col::ExpectCreate,
            "expect_delete" => Col::ExpectDelete,
            "search_restart" => Col::SearchRestart,
            _ => Col::Other(idx),
        }
    }
}

impl ConntrackCpuStat {
    /// The slot of a known column (`None` for unknown ones, which live in `other`).
    fn slot(&mut self, col: Col) -> Option<&mut Option<u64>> {
        Some(match col {
            Col::Entries => &mut self.entries,
            Col::Searched => &mut self.searched,
            Col::Clashres => &mut self.clashres,
            Col::Found => &mut self.found,
            Col::New => &mut self.new,
            Col::Invalid => &mut self.invalid,
            Col::Ignore => &mut self.ignore,
            Col::Delete => &mut self.delete,
            Col::DeleteList => &mut self.delete_list,
            Col::Chainlength => &mut self.chainlength,
            Col::Insert => &mut self.insert,
            Col::InsertFailed => &mut self.insert_failed,
            Col::Drop => &mut self.drop,
            Col::EarlyDrop => &mut self.early_drop,
            Col::IcmpError => &mut self.icmp_error,
            Col::ExpectNew => &mut self.expect_new,
            Col::ExpectCreate => &mut self.expect_create,
            Col::ExpectDelete => &mut self.expect_delete,
            Col::SearchRestart => &mut self.search_restart,
            Col::Other(_) => return None,
        })
    }

    /// The counter columns (everything but `entries`), for summing.
    fn counters_mut(&mut self) -> [&mut Option<u64>; 18] {
        [
            &mut self.searched,
            &mut self.clashres,
            &mut self.found,
            &mut self.new,
            &mut self.invalid,
            &mut self.ignore,
            &mut self.delete,
            &mut self.delete_list,
            &mut self.chainlength,
            &mut self.insert,
            &mut self.insert_failed,
            &mut self.drop,
            &mut self.early_drop,
            &mut self.icmp_error,
            &mut self.expect_new,
            &mut self.expect_create,
            &mut self.expect_delete,
            &mut self.search_restart,
        ]
    }
}

/// Sum the per-CPU rows: every counter is summed over CPUs (saturating; `None` when no row
/// has the column); `entries` is a gauge printed on every row, so it is taken from the first
/// row that has it, not summed. Unknown columns in `other` are summed too.
pub fn totals(rows: &[ConntrackCpuStat]) -> ConntrackCpuStat {
    let mut t = ConntrackCpuStat {
        entries: rows.iter().find_map(|r| r.entries),
        ..Default::default()
    };
    for r in rows {
        let mut r = r.clone();
        for (dst, src) in t.counters_mut().into_iter().zip(r.counters_mut()) {
            if let Some(v) = *src {
                *dst = Some(dst.unwrap_or(0).saturating_add(v));
            }
        }
        for (k, v) in r.other {
            let e = t.other.entry(k).or_insert(0);
            *e = e.saturating_add(v);
        }
    }
    t
}

/// Parse `/proc/net/stat/nf_conntrack` text: a header line of column names, then one row of
/// `%08x` hex values per possible CPU.
///
/// Columns are matched by header name. A row with a token that is not hex keeps the columns
/// before it; rows with fewer or more values than the header are kept with a warning. A file
/// without a header or without one row is an error.
pub fn parse_stat(text: &str, warnings: &mut Warnings) -> Result<Vec<ConntrackCpuStat>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_ascii().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(parse_error("empty file"));
    };
    let names: Vec<&str> = header.split_ascii_whitespace().collect();
    if names.first().is_some_and(|n| parse_hex(n).is_some()) {
        return Err(parse_error("no header line of column names"));
    }
    let cols: Vec<Col> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Col::from_name(n, i))
        .collect();
    let mut rows = Vec::new();
    for (idx, line) in lines {
        let line_no = idx + 1;
        let mut row = ConntrackCpuStat::default();
        let mut n = 0usize;
        let mut bad = false;
        for tok in line.split_ascii_whitespace() {
            let Some(v) = parse_hex(tok) else {
                bad = true;
                break;
            };
            let Some(&col) = cols.get(n) else {
                n += 1;
                continue;
            };
            n += 1;
            match row.slot(col) {
                Some(slot) => *slot = Some(v),
                None => {
                    if let Col::Other(i) = col {
                        if let Some(name) = names.get(i) {
                            row.other.insert((*name).to_string(), v);
                        }
                    }
                }
            }
        }
        if bad {
            warnings.push(
                SOURCE,
                Some(line_no),
                "value is not hex; rest of row ignored",
            );
            if n == 0 {
                continue;
            }
        } else if n != cols.len() {
            warnings.push(
                SOURCE,
                Some(line_no),
                format!("{n} values for {} header columns", cols.len()),
            );
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(parse_error("no CPU row"));
    }
    Ok(rows)
}

fn parse_error(what: &str) -> Error {
    Error::Parse {
        path: PathBuf::from(SOURCE),
        line: 0,
        what: what.to_string(),
    }
}

/// A single decimal value (a sysctl), trimmed.
fn parse_sysctl_u64(text: &str) -> Option<u64> {
    super::parse_dec(text.trim_ascii())
}

/// Read one numeric sysctl file. `Err` carries the I/O error; `Ok(None)` means malformed
/// (a warning is recorded).
fn read_sysctl(
    buf: &mut FileBuf,
    root: &Root,
    name: &str,
    warnings: &mut Warnings,
) -> io::Result<Option<u64>> {
    let path = key_to_path(root, &format!("net.netfilter.{name}"));
    let text = buf.read(&path)?;
    let v = parse_sysctl_u64(text);
    if v.is_none() {
        warnings.push(
            &path.display().to_string(),
            None,
            format!("not a number: {:?}", text.trim_ascii()),
        );
    }
    Ok(v)
}

/// Read conntrack state: `count`, `max`, `buckets` and the per-CPU table.
///
/// Unsupported when `nf_conntrack_count` does not exist (module not loaded, or not visible
/// in this network namespace). The other files are optional: a missing one leaves its field
/// `None`; an unreadable or malformed one also adds a warning.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Conntrack> {
    let count_path = key_to_path(root, "net.netfilter.nf_conntrack_count");
    let count = match read_sysctl(buf, root, "nf_conntrack_count", warnings) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Source::unsupported(format!(
                "{} does not exist (nf_conntrack not loaded)",
                count_path.display()
            ))
        }
        Err(e) => return Source::from_io(&count_path, &e),
    };
    let optional = |buf: &mut FileBuf, name: &str, warnings: &mut Warnings| match read_sysctl(
        buf, root, name, warnings,
    ) {
        Ok(v) => v,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                warnings.push(
                    &key_to_path(root, &format!("net.netfilter.{name}"))
                        .display()
                        .to_string(),
                    None,
                    format!("cannot read: {e}"),
                );
            }
            None
        }
    };
    let max = optional(buf, "nf_conntrack_max", warnings);
    let buckets = optional(buf, "nf_conntrack_buckets", warnings);
    let stat_path = root.proc_net("stat/nf_conntrack");
    let stat = match super::read_with(buf, &stat_path, warnings, parse_stat) {
        Source::Ok(rows) => Some(rows),
        Source::Unsupported { .. } => None,
        Source::Error { error } => {
            warnings.push(SOURCE, None, error);
            None
        }
    };
    Source::Ok(Conntrack {
        count,
        max,
        buckets,
        stat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::vm as vm_root;
    use proptest::prelude::*;

    #[test]
    fn parses_vm_capture_current_layout() {
        let mut w = Warnings::default();
        let Source::Ok(c) = read(&mut FileBuf::new(), &vm_root(), &mut w) else {
            panic!("vm conntrack not read");
        };
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(c.count, Some(90));
        assert_eq!(c.max, Some(262144));
        assert_eq!(c.buckets, Some(262144));
        let rows = c.stat.as_ref().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].entries, Some(0x5a));
        assert_eq!(rows[1].invalid, Some(0x18));
        assert_eq!(rows[1].clashres, Some(0));
        assert_eq!(rows[1].chainlength, Some(0));
        assert_eq!(rows[1].searched, None, "not printed by this kernel");
        assert_eq!(rows[1].delete_list, None);
        assert_eq!(rows[1].search_restart, Some(0));
        let t = c.totals().unwrap();
        assert_eq!(t.entries, Some(90), "gauge, not summed");
        assert_eq!(t.invalid, Some(24));
        assert_eq!(t.searched, None);
        assert!((c.fill_ratio().unwrap() - 90.0 / 262144.0).abs() < 1e-12);
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["count"], 90);
        assert_eq!(j["max"], 262144);
    }

    #[test]
    fn unsupported_when_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &Root::fixture(dir.path()), &mut w);
        assert!(matches!(s, Source::Unsupported { .. }), "{s:?}");
    }

    #[test]
    fn sysctls_without_stat_table() {
        let dir = tempfile::tempdir().unwrap();
        let nf = dir.path().join("proc/sys/net/netfilter");
        std::fs::create_dir_all(&nf).unwrap();
        std::fs::write(nf.join("nf_conntrack_count"), "7\n").unwrap();
        std::fs::write(nf.join("nf_conntrack_max"), "junk\n").unwrap();
        let mut w = Warnings::default();
        let Source::Ok(c) = read(&mut FileBuf::new(), &Root::fixture(dir.path()), &mut w) else {
            panic!("not read");
        };
        assert_eq!((c.count, c.max, c.buckets), (Some(7), None, None));
        assert!(c.stat.is_none());
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
        assert_eq!(c.fill_ratio(), None);
    }

    #[test]
    fn columns_by_name_and_bad_rows() {
        let text = "found entries future_col\n0000000a 00000021 00000003\n00000001 00000021\n00000002 zz 5\n\nxyz\n";
        let mut w = Warnings::default();
        let rows = parse_stat(text, &mut w).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].found, Some(10));
        assert_eq!(rows[0].entries, Some(33));
        assert_eq!(rows[0].other.get("future_col"), Some(&3));
        assert_eq!(rows[1].other.get("future_col"), None);
        assert_eq!(rows[2].found, Some(2));
        assert_eq!(rows[2].entries, None);
        assert_eq!(w.0.len(), 3);
        let t = totals(&rows);
        assert_eq!(t.found, Some(13));
        assert_eq!(t.entries, Some(33));
        assert_eq!(t.other.get("future_col"), Some(&3));
        assert_eq!(t.drop, None);

        assert!(parse_stat("", &mut w).is_err());
        assert!(parse_stat("entries found\n", &mut w).is_err());
        assert!(parse_stat("00000001 00000002\n00000001 00000002\n", &mut w).is_err());
        assert!(parse_stat("entries\nffffffffffffffffff\n", &mut w).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(s in "\\PC{0,400}") {
            let mut w = Warnings::default();
            if let Ok(rows) = parse_stat(&s, &mut w) {
                let _ = totals(&rows);
            }
        }

        #[test]
        fn never_panics_on_hex_noise(s in "(entries|found|drop|x| |[0-9a-f]{1,18}|\\n){0,80}") {
            let mut w = Warnings::default();
            if let Ok(rows) = parse_stat(&s, &mut w) {
                let _ = totals(&rows);
            }
        }

        #[test]
        fn truncated_capture_never_panics(cut in 0usize..700) {
            let text = include_str!("../../tests/fixtures/vm/proc/net/stat/nf_conntrack");
            let mut w = Warnings::default();
            if let Ok(rows) = parse_stat(&text[..cut.min(text.len())], &mut w) {
                prop_assert!(rows.len() <= 2);
            }
        }
    }
}
