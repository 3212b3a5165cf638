//! `/proc/net/rt6_stats`: the IPv6 routing table's and route (dst) cache's sizes, per network
//! namespace.
//!
//! The kernel's `rt6_stats_seq_show` (net/ipv6/route.c) prints one line of seven hex fields
//! (`%04x`, so at least four digits): `fib_nodes fib_route_nodes fib_rt_alloc
//! fib_rt_entries fib_rt_cache dst_entries fib_discarded_routes`. `dst_entries` is the
//! number of allocated IPv6 dst entries (`dst_entries_get_slow` of the namespace's
//! `ip6_dst_ops`), which kernels before 6.3 cap at `net.ipv6.route.max_size`.

use super::{clip, parse_hex, read_with, FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Label of this source in warnings and errors.
const SOURCE: &str = "net/rt6_stats";

/// The seven fields of `/proc/net/rt6_stats`, in the kernel's order. All are levels (counts
/// of objects now) except `fib_discarded_routes`, a cumulative counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rt6Stats {
    /// Nodes of the FIB trie.
    pub fib_nodes: u64,
    /// Trie nodes that carry routes.
    pub fib_route_nodes: u64,
    /// Routes allocated (`fib6_info`, including ones not yet or no longer in the table).
    pub fib_rt_alloc: u64,
    /// Routes in the table.
    pub fib_rt_entries: u64,
    /// Cached routes (exceptions: PMTU, redirects).
    pub fib_rt_cache: u64,
    /// Allocated IPv6 dst entries: what `net.ipv6.route.max_size` limits. Entries.
    pub dst_entries: u64,
    /// Routes removed from the table since the namespace was created (cumulative).
    pub fib_discarded_routes: u64,
}

/// Parse the text of `/proc/net/rt6_stats`. The first non-empty line must hold at least seven
/// hex numbers; more fields are a warning (kept: the first seven), more lines a warning.
/// Anything else is an error.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<Rt6Stats> {
    let bad = |line: usize, what: String| Error::Parse {
        path: PathBuf::from(SOURCE),
        line,
        what,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((idx, line)) = lines.next() else {
        return Err(bad(0, "empty".to_string()));
    };
    let line_no = idx + 1;
    let mut values = [0u64; 7];
    let mut toks = line.split_ascii_whitespace();
    for (i, slot) in values.iter_mut().enumerate() {
        let Some(tok) = toks.next() else {
            return Err(bad(line_no, format!("{i} fields, the kernel prints 7")));
        };
        *slot = parse_hex(tok).ok_or_else(|| {
            bad(
                line_no,
                format!("`{}` is not a hex number of at most 16 digits", clip(tok)),
            )
        })?;
    }
    let extra = toks.count();
    if extra > 0 {
        warnings.push(
            SOURCE,
            Some(line_no),
            format!("{extra} fields beyond the 7 known; ignored"),
        );
    }
    if let Some((idx, _)) = lines.next() {
        warnings.push(SOURCE, Some(idx + 1), "more than one line; ignored");
    }
    let [fib_nodes, fib_route_nodes, fib_rt_alloc, fib_rt_entries, fib_rt_cache, dst_entries, fib_discarded_routes] =
        values;
    Ok(Rt6Stats {
        fib_nodes,
        fib_route_nodes,
        fib_rt_alloc,
        fib_rt_entries,
        fib_rt_cache,
        dst_entries,
        fib_discarded_routes,
    })
}

/// Read `/proc/net/rt6_stats` of the root's namespace: unsupported when the file does not
/// exist (no IPv6).
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Rt6Stats> {
    read_with(buf, &root.proc_net("rt6_stats"), warnings, parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VM: &str = include_str!("../../tests/fixtures/vm/proc/net/rt6_stats");

    #[test]
    fn vm_capture() {
        let root = crate::collect::testfs::vm();
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &root, &mut w);
        assert!(w.0.is_empty(), "{:?}", w.0);
        let s = *s.ok().unwrap();
        assert_eq!(
            s,
            Rt6Stats {
                fib_nodes: 9,
                fib_route_nodes: 6,
                fib_rt_alloc: 0x21,
                fib_rt_entries: 7,
                fib_rt_cache: 0,
                dst_entries: 0,
                fib_discarded_routes: 0,
            }
        );
        assert_eq!(parse(VM, &mut w).unwrap(), s);
    }

    #[test]
    fn wide_fields_extra_fields_and_lines() {
        let mut w = Warnings::default();
        let s = parse("0012 000a 1f40 0009 0000 11000 00ff 0001\nx\n", &mut w).unwrap();
        assert_eq!(s.dst_entries, 0x11000);
        assert_eq!(s.fib_discarded_routes, 0xff);
        assert_eq!(s.fib_rt_alloc, 8000);
        let lines: Vec<_> = w.0.iter().filter_map(|w| w.line).collect();
        assert_eq!(lines, vec![1, 2]);
    }

    #[test]
    fn bad_text_is_an_error() {
        let mut w = Warnings::default();
        for text in [
            "",
            "\n\n",
            "0001 0002 0003",
            "0001 0002 0003 0004 0005 zz 0007",
            "0001 0002 0003 0004 0005 -1 0007",
            "0001 0002 0003 0004 0005 0x6 0007",
            "0001 0002 0003 0004 0005 11112222333344445 0007",
        ] {
            assert!(parse(text, &mut w).is_err(), "{text:?}");
        }
    }

    #[test]
    fn missing_file_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::fixture(dir.path());
        let mut w = Warnings::default();
        assert!(matches!(
            read(&mut FileBuf::new(), &root, &mut w),
            Source::Unsupported { .. }
        ));
        crate::collect::testfs::write(
            &root.proc_net(""),
            "rt6_stats",
            "0001 0001 0001 0001 0000 0010 0000\n",
        );
        let s = read(&mut FileBuf::new(), &root, &mut w);
        assert_eq!(s.ok().map(|s| s.dst_entries), Some(16));
    }

    #[test]
    fn old_captures_without_the_source_still_load() {
        // A snapshot written before this source existed has no `rt6_stats` key.
        let mut v = serde_json::to_value(crate::snapshot::Snapshot::empty(1)).unwrap();
        v.as_object_mut().unwrap().remove("rt6_stats");
        let s: crate::snapshot::Snapshot = serde_json::from_value(v).unwrap();
        assert!(matches!(s.rt6_stats, Source::Unsupported { .. }));
    }

    #[test]
    fn every_truncation_of_the_vm_capture_parses() {
        for end in 0..=VM.len() {
            let mut w = Warnings::default();
            let _ = parse(&VM[..end], &mut w);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let mut w = Warnings::default();
            let _ = parse(&s, &mut w);
        }

        #[test]
        fn rt6_like_text_never_panics(s in "([0-9a-fA-F]{0,18}| |\n|-|x){0,40}") {
            let mut w = Warnings::default();
            if parse(&s, &mut w).is_ok() {
                let first = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                prop_assert!(first.split_ascii_whitespace().count() >= 7);
            }
        }

        #[test]
        fn printed_values_round_trip(v in proptest::array::uniform7(0u64..=u64::from(u32::MAX))) {
            let text = v.iter().map(|x| format!("{x:04x}")).collect::<Vec<_>>().join(" ");
            let mut w = Warnings::default();
            let r = parse(&format!("{text}\n"), &mut w).unwrap();
            prop_assert_eq!(
                [r.fib_nodes, r.fib_route_nodes, r.fib_rt_alloc, r.fib_rt_entries,
                 r.fib_rt_cache, r.dst_entries, r.fib_discarded_routes],
                v
            );
            prop_assert!(w.0.is_empty());
        }
    }
}
