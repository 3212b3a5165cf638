//! `/proc/net/sockstat` and `/proc/net/sockstat6`: sockets in use and memory per protocol.
//!
//! Owns the `PROTO: key value key value ...` parser. Both files are merged into one map
//! (sockstat6 names its protocols `TCP6`, `UDP6`, ..., so nothing collides).

use super::{clip, read_merged, FileBuf, Part, Root, Source, Warnings};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Protocol (`sockets`, `TCP`, `UDP`, `TCP6`, `FRAG`, ...) → field (`inuse`, `tw`, `mem`) →
/// value. `mem` is in **pages**; `FRAG memory` is in bytes.
pub type SockStat = BTreeMap<String, BTreeMap<String, i64>>;

/// Parse sockstat (or sockstat6, or both concatenated) into a new map.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<SockStat> {
    let mut out = SockStat::new();
    parse_into(text, "net/sockstat", &mut out, warnings)?;
    Ok(out)
}

/// Parse `text` into `out`; `source` labels warnings and errors. A line that is not
/// `PROTO: key value ...` with integer values (a key without value, `sockets: used`, an odd
/// token count, a bad number) is a warning and skipped as a whole. Returns the number of
/// values stored; a text yielding none is an error.
pub fn parse_into(
    text: &str,
    source: &str,
    out: &mut SockStat,
    warnings: &mut Warnings,
) -> Result<usize> {
    let mut stored = 0usize;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let mut toks = line.split_ascii_whitespace();
        let Some(first) = toks.next() else { continue };
        let proto = match first.strip_suffix(':') {
            Some(p) if !p.is_empty() => p,
            _ => {
                warnings.push(
                    source,
                    Some(line_no),
                    format!("`{}` is not `PROTO:`; line skipped", clip(first)),
                );
                continue;
            }
        };
        if let Err(msg) = check_pairs(toks.clone()) {
            warnings.push(
                source,
                Some(line_no),
                format!("{proto}: {msg}; line skipped"),
            );
            continue;
        }
        let map = if out.contains_key(proto) {
            out.get_mut(proto)
        } else {
            Some(out.entry(proto.to_string()).or_default())
        };
        let Some(map) = map else { continue };
        while let (Some(key), Some(value)) = (toks.next(), toks.next()) {
            let Ok(v) = value.parse::<i64>() else {
                continue;
            };
            match map.get_mut(key) {
                Some(slot) => *slot = v,
                None => {
                    map.insert(key.to_string(), v);
                }
            }
            stored += 1;
        }
    }
    if stored == 0 {
        return Err(Error::Parse {
            path: PathBuf::from(source),
            line: 0,
            what: "no counter found".to_string(),
        });
    }
    Ok(stored)
}

/// Validate `key value key value ...` without storing anything.
fn check_pairs<'a>(mut toks: impl Iterator<Item = &'a str>) -> std::result::Result<(), String> {
    let mut n = 0;
    while let Some(key) = toks.next() {
        let Some(value) = toks.next() else {
            return Err(format!("`{}` has no value", clip(key)));
        };
        if value.parse::<i64>().is_err() {
            return Err(format!(
                "`{}`: `{}` is not an integer",
                clip(key),
                clip(value)
            ));
        }
        n += 1;
    }
    if n == 0 {
        return Err("no `key value` pair".to_string());
    }
    Ok(())
}

/// Read sockstat and sockstat6 (the latter may be absent without IPv6, silently). A missing
/// or unparsable file is a warning and the other is kept; only when neither could be read is
/// the source unsupported (both missing) or an error.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<SockStat> {
    const PARTS: [Part; 2] = [
        Part {
            file: "sockstat",
            source: "net/sockstat",
            warn_missing: true,
        },
        Part {
            file: "sockstat6",
            source: "net/sockstat6",
            warn_missing: false,
        },
    ];
    read_merged(
        buf,
        root,
        &PARTS,
        warnings,
        "neither sockstat nor sockstat6",
        parse_into,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VM: &str = include_str!("../../tests/fixtures/vm/proc/net/sockstat");
    const VM6: &str = include_str!("../../tests/fixtures/vm/proc/net/sockstat6");

    #[test]
    fn vm_capture_merged() {
        let root = crate::collect::testfs::vm();
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &root, &mut w);
        assert!(w.0.is_empty(), "{:?}", w.0);
        let s = s.ok().unwrap();
        assert_eq!(s["sockets"]["used"], 10);
        let tcp = &s["TCP"];
        assert_eq!(
            (
                tcp["inuse"],
                tcp["orphan"],
                tcp["tw"],
                tcp["alloc"],
                tcp["mem"]
            ),
            (1, 0, 0, 1, 54)
        );
        assert_eq!(s["UDP"]["mem"], 0);
        assert_eq!(s["FRAG"]["memory"], 0);
        assert_eq!(s["TCP6"]["inuse"], 0);
        assert_eq!(s["FRAG6"].len(), 2);
        assert_eq!(s.len(), 11);
    }

    #[test]
    fn bad_lines_are_skipped_whole() {
        let text = "sockets: used\nTCP: inuse 32 orphan\nUDP: inuse 8 mem x\nRAW: inuse 0\nnocolon 1\n: a 1\nFRAG:\n";
        let mut w = Warnings::default();
        let s = parse(text, &mut w).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s["RAW"]["inuse"], 0);
        let lines: Vec<_> = w.0.iter().filter_map(|w| w.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 5, 6, 7]);
        assert!(parse("sockets: used\n", &mut w).is_err());
        assert!(parse("", &mut w).is_err());
    }

    #[test]
    fn read_without_sockstat6_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::fixture(dir.path());
        let mut buf = FileBuf::new();
        let mut w = Warnings::default();
        assert!(matches!(
            read(&mut buf, &root, &mut w),
            Source::Unsupported { .. }
        ));
        std::fs::create_dir_all(root.proc_net("")).unwrap();
        std::fs::write(root.proc_net("sockstat"), VM).unwrap();
        let mut w = Warnings::default();
        let s = read(&mut buf, &root, &mut w).ok().unwrap().clone();
        assert!(w.0.is_empty());
        assert!(!s.contains_key("TCP6"));
        assert_eq!(s["TCP"]["mem"], 54);
    }

    #[test]
    fn every_truncation_of_the_vm_captures_parses() {
        for text in [VM, VM6] {
            for end in (0..=text.len()).filter(|&e| text.is_char_boundary(e)) {
                let mut w = Warnings::default();
                let _ = parse(&text[..end], &mut w);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let mut w = Warnings::default();
            let _ = parse(&s, &mut w);
        }

        #[test]
        fn sockstat_like_text_never_panics(s in "(TCP|: |inuse|-|[0-9]| |\n){0,200}") {
            let mut w = Warnings::default();
            if let Ok(m) = parse(&s, &mut w) {
                prop_assert!(m.values().map(BTreeMap::len).sum::<usize>() > 0);
            }
        }
    }
}
