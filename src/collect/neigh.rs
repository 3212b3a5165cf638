//! `/proc/net/stat/arp_cache` and `/proc/net/stat/ndisc_cache`: the neighbour tables'
//! statistics (host-wide: the kernel shows them in the initial namespace only). One line
//! of hex columns per CPU; `entries` is the table's size (the same on every line), the other
//! columns are per-CPU event counts, summed here.

use super::{FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One neighbour table's statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighStat {
    /// Entries in the table now (a gauge).
    pub entries: u64,
    /// Entries allocated.
    pub allocs: u64,
    /// Forced garbage collections (the table reached `gc_thresh2`/`gc_thresh3`).
    pub forced_gc_runs: u64,
    /// Packets dropped while waiting for an unresolved neighbour.
    pub unresolved_discards: u64,
    /// Entries that could not be added: the table was at `gc_thresh3` and a forced
    /// collection freed nothing ("neighbour table overflow").
    pub table_fulls: u64,
}

/// Table (`arp_cache`, `ndisc_cache`) → statistics.
pub type Neigh = BTreeMap<String, NeighStat>;

/// Parse one table's file. Columns are found by the header; a line of another width is a
/// warning and skipped; a file without any line is an error.
pub fn parse(text: &str, source: &str, warnings: &mut Warnings) -> Result<NeighStat> {
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, l)| l.split_ascii_whitespace().collect())
        .unwrap_or_default();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let mut out = NeighStat::default();
    let mut rows = 0;
    for (idx, line) in lines {
        let v: Vec<&str> = line.split_ascii_whitespace().collect();
        if v.is_empty() {
            continue;
        }
        if v.len() != header.len() {
            warnings.push(
                source,
                Some(idx + 1),
                format!(
                    "{} columns, the header has {}; skipped",
                    v.len(),
                    header.len()
                ),
            );
            continue;
        }
        let get = |n: &str| {
            col(n)
                .and_then(|c| v.get(c))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .unwrap_or(0)
        };
        rows += 1;
        out.entries = get("entries");
        out.allocs += get("allocs");
        out.forced_gc_runs += get("forced_gc_runs");
        out.unresolved_discards += get("unresolved_discards");
        out.table_fulls += get("table_fulls");
    }
    if rows == 0 {
        return Err(Error::Parse {
            path: PathBuf::from(source),
            line: 0,
            what: "no statistics line".into(),
        });
    }
    Ok(out)
}

/// Read both tables (ndisc_cache is absent without IPv6); unsupported when neither exists.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Neigh> {
    let mut out = Neigh::new();
    let mut errors = Vec::new();
    for table in ["arp_cache", "ndisc_cache"] {
        let path = root.proc(&format!("net/stat/{table}"));
        match buf.read(&path) {
            Ok(text) => match parse(text, &format!("net/stat/{table}"), warnings) {
                Ok(s) => {
                    out.insert(table.to_string(), s);
                }
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    match (out.is_empty(), errors.is_empty()) {
        (false, _) => {
            for e in errors {
                warnings.push("neigh", None, e);
            }
            Source::Ok(out)
        }
        (true, true) => Source::unsupported("no /proc/net/stat/arp_cache nor ndisc_cache"),
        (true, false) => Source::error(errors.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_lines_sum_and_entries_is_the_table_size() {
        let text = "\
entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls
00000400 00000010 00000002 00000000 0000001a 00000010 00000000 00000000 00000000 00000005 00000003 00000001 0000000a
00000400 00000001 00000002 00000000 0000001a 00000010 00000000 00000000 00000000 00000005 00000001 00000000 00000002
";
        let mut w = Warnings::default();
        let s = parse(text, "net/stat/arp_cache", &mut w).unwrap();
        assert_eq!(s.entries, 1024);
        assert_eq!((s.allocs, s.forced_gc_runs, s.table_fulls), (17, 4, 12));
        assert_eq!(s.unresolved_discards, 1);
        assert!(parse("entries\n", "x", &mut w).is_err());
    }

    #[test]
    fn live_host_has_arp_cache() {
        let root = Root::new("/proc", "/sys");
        let s = read(&mut FileBuf::new(), &root, &mut Warnings::default());
        assert!(
            s.ok().is_some_and(|n| n.contains_key("arp_cache")),
            "{}",
            s.status()
        );
    }
}
