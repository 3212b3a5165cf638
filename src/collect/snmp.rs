//! `/proc/net/snmp`, `/proc/net/netstat` (header/value line pairs) and `/proc/net/snmp6`
//! (name value lines), merged by section: `Tcp`, `TcpExt`, `Udp`, `Udp6`, `Ip6`, ...
//!
//! Owns both text formats. Every field the kernel prints is kept, known or not, with its
//! signed value. snmp6 names are split after the section's digits: `Ip6InOctets` → `Ip6` /
//! `InOctets`, `Icmp6InType1` → `Icmp6` / `InType1`, `UdpLite6InErrors` → `UdpLite6` /
//! `InErrors`.

use super::{clip, read_merged, FileBuf, Part, Root, Source, Warnings};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Section (`TcpExt`) → field (`ListenOverflows`) → value. Values are signed because the
/// kernel prints some (`Tcp.MaxConn -1`); every field the kernel prints is kept, known or not.
pub type NetStat = BTreeMap<String, BTreeMap<String, i64>>;

/// The three files [`read`] merges, in order, with whether their absence deserves a warning.
const PARTS: [Part; 3] = [
    Part {
        file: "snmp",
        source: "net/snmp",
        warn_missing: true,
    },
    Part {
        file: "netstat",
        source: "net/netstat",
        warn_missing: true,
    },
    Part {
        file: "snmp6",
        source: "net/snmp6",
        warn_missing: false,
    },
];

/// Parse one or more of snmp / netstat / snmp6 (the format is recognised per line, so the
/// concatenation of the three files works too) into a new map.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<NetStat> {
    let mut out = NetStat::new();
    parse_into(text, "net/snmp", &mut out, warnings)?;
    Ok(out)
}

/// Parse `text` into `out`, merging by section (a field seen again overwrites the earlier
/// value). `source` labels warnings and errors (e.g. `net/netstat`).
///
/// * `Section: name name ...` followed by `Section: value value ...`: a count mismatch keeps
///   the pairs that line up and warns; a value that is not an integer is skipped with a
///   warning; a header without its value line (or the reverse) is a warning.
/// * `Name  value` (snmp6): a name without a section prefix or a bad value is a warning.
///
/// Returns the number of values stored; a text yielding none is an error.
pub fn parse_into(
    text: &str,
    source: &str,
    out: &mut NetStat,
    warnings: &mut Warnings,
) -> Result<usize> {
    let mut stored = 0usize;
    // The pending header line: (section, field names, line number).
    let mut header: Option<(&str, &str, usize)> = None;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = line.trim_ascii_start();
        let mut toks = line.split_ascii_whitespace();
        let Some(first) = toks.next() else { continue };
        let Some(section) = first.strip_suffix(':') else {
            stored += snmp6_line(first, toks, source, line_no, out, warnings);
            continue;
        };
        // `line` starts with `first` (both trimmed of ASCII whitespace).
        let rest = line.get(first.len()..).unwrap_or("");
        match header.take() {
            Some((hsec, names, _)) if hsec == section => {
                stored += pair(section, names, rest, source, line_no, out, warnings);
            }
            pending => {
                if let Some((hsec, _, hline)) = pending {
                    warnings.push(
                        source,
                        Some(hline),
                        format!("`{hsec}:` header without a value line; skipped"),
                    );
                }
                let first_is_number = rest
                    .split_ascii_whitespace()
                    .next()
                    .is_some_and(|t| t.parse::<i64>().is_ok());
                if first_is_number {
                    warnings.push(
                        source,
                        Some(line_no),
                        format!("`{section}:` values without a header line; skipped"),
                    );
                } else {
                    header = Some((section, rest, line_no));
                }
            }
        }
    }
    if let Some((hsec, _, hline)) = header {
        warnings.push(
            source,
            Some(hline),
            format!("`{hsec}:` header without a value line (truncated file?); skipped"),
        );
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

/// The map of `section`, created on first use (no allocation when it exists). Never `None`.
fn section_mut<'a>(out: &'a mut NetStat, section: &str) -> Option<&'a mut BTreeMap<String, i64>> {
    if !out.contains_key(section) {
        return Some(out.entry(section.to_string()).or_default());
    }
    out.get_mut(section)
}

/// Store one header/value pair; returns the number of values stored.
fn pair(
    section: &str,
    names: &str,
    values: &str,
    source: &str,
    line_no: usize,
    out: &mut NetStat,
    warnings: &mut Warnings,
) -> usize {
    let n_names = names.split_ascii_whitespace().count();
    let n_values = values.split_ascii_whitespace().count();
    if n_names != n_values {
        warnings.push(
            source,
            Some(line_no),
            format!(
                "`{section}:` {n_names} names but {n_values} values; kept the first {}",
                n_names.min(n_values)
            ),
        );
    }
    let Some(map) = section_mut(out, section) else {
        return 0;
    };
    let mut stored = 0;
    for (name, value) in names
        .split_ascii_whitespace()
        .zip(values.split_ascii_whitespace())
    {
        match value.parse::<i64>() {
            Ok(v) => {
                insert(map, name, v);
                stored += 1;
            }
            Err(_) => warnings.push(
                source,
                Some(line_no),
                format!(
                    "`{section}.{name}`: `{}` is not an integer; skipped",
                    clip(value)
                ),
            ),
        }
    }
    stored
}

/// Store one snmp6 `Name value` line; returns the number of values stored (0 or 1).
fn snmp6_line<'a>(
    name: &str,
    mut rest: impl Iterator<Item = &'a str>,
    source: &str,
    line_no: usize,
    out: &mut NetStat,
    warnings: &mut Warnings,
) -> usize {
    let (Some(value), None) = (rest.next(), rest.next()) else {
        warnings.push(
            source,
            Some(line_no),
            format!("`{}`: expected `name value`; skipped", clip(name)),
        );
        return 0;
    };
    let Some((section, field)) = split_snmp6_name(name) else {
        warnings.push(
            source,
            Some(line_no),
            format!("`{}`: no section prefix (like `Ip6`); skipped", clip(name)),
        );
        return 0;
    };
    let Ok(v) = value.parse::<i64>() else {
        warnings.push(
            source,
            Some(line_no),
            format!(
                "`{}`: `{}` is not an integer; skipped",
                clip(name),
                clip(value)
            ),
        );
        return 0;
    };
    let Some(map) = section_mut(out, section) else {
        return 0;
    };
    insert(map, field, v);
    1
}

/// Split `Icmp6InType1` into (`Icmp6`, `InType1`): the section is the leading letters and the
/// digits after them; the field is the rest, which must start with a letter.
pub fn split_snmp6_name(name: &str) -> Option<(&str, &str)> {
    let bytes = name.as_bytes();
    let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let digits = bytes[letters..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let split = letters + digits;
    let field = &name[split..];
    if letters == 0 || digits == 0 || !field.bytes().next()?.is_ascii_alphabetic() {
        return None;
    }
    Some((&name[..split], field))
}

/// Store `field = v` (a repeated field overwrites). One tree search: the kernel never
/// repeats a field, so looking up before allocating the key would only double the work.
fn insert(map: &mut BTreeMap<String, i64>, field: &str, v: i64) {
    map.insert(field.to_string(), v);
}

/// Read and merge snmp, netstat and snmp6. snmp6 is absent without IPv6 and then silently
/// skipped; a missing or unparsable snmp or netstat is a warning and the rest is kept. Only
/// when nothing could be read is the source unsupported (all missing) or an error.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<NetStat> {
    read_merged(
        buf,
        root,
        &PARTS,
        warnings,
        "none of snmp, netstat, snmp6",
        parse_into,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::vm as vm_root;
    use proptest::prelude::*;

    const SNMP: &str = include_str!("../../tests/fixtures/vm/proc/net/snmp");
    const NETSTAT: &str = include_str!("../../tests/fixtures/vm/proc/net/netstat");
    const SNMP6: &str = include_str!("../../tests/fixtures/vm/proc/net/snmp6");

    #[test]
    fn vm_capture_merged() {
        let mut w = Warnings::default();
        let n = read(&mut FileBuf::new(), &vm_root(), &mut w);
        assert!(w.0.is_empty(), "{:?}", w.0);
        let n = n.ok().unwrap();
        assert_eq!(n["Tcp"]["MaxConn"], -1);
        assert_eq!(n["Tcp"]["ActiveOpens"], 46);
        assert_eq!(n["Tcp"]["InSegs"], 2183);
        assert_eq!(n["Tcp"]["OutRsts"], 38);
        assert_eq!(n["Ip"]["OutTransmits"], 1478);
        assert_eq!(n["Ip"]["Forwarding"], 2);
        assert_eq!(n["Udp"]["InDatagrams"], 89);
        assert_eq!(n["Udp"]["MemErrors"], 0);
        assert_eq!(n["IcmpMsg"]["InType3"], 1);
        assert_eq!(n["Icmp"].len(), 29);
        assert_eq!(n["TcpExt"]["TW"], 8);
        assert_eq!(n["TcpExt"]["DelayedACKLost"], 1);
        assert_eq!(n["TcpExt"]["TCPHPHits"], 133);
        assert_eq!(n["TcpExt"]["TCPOrigDataSent"], 539);
        assert_eq!(n["TcpExt"]["TCPDelivered"], 572);
        assert_eq!(n["TcpExt"]["ListenOverflows"], 0);
        assert_eq!(n["TcpExt"]["TCPAODroppedIcmps"], 0);
        assert_eq!(n["IpExt"]["InOctets"], 35660395);
        assert_eq!(n["IpExt"]["InNoECTPkts"], 2273);
        assert_eq!(n["MPTcpExt"].len(), 76);
        assert_eq!(n["Ip6"]["InReceives"], 1);
        assert_eq!(n["Ip6"]["InOctets"], 128);
        assert_eq!(n["Icmp6"]["InType1"], 1);
        assert_eq!(n["Udp6"]["IgnoredMulti"], 0);
        assert_eq!(n["UdpLite6"].len(), 8);
        let fields: usize = n.values().map(BTreeMap::len).sum();
        let expect = SNMP6.lines().count()
            + [SNMP, NETSTAT]
                .iter()
                .flat_map(|t| t.lines().step_by(2))
                .map(|l| l.split_ascii_whitespace().count() - 1)
                .sum::<usize>();
        assert_eq!(fields, expect, "every field kept");
    }

    #[test]
    fn snmp6_names() {
        assert_eq!(split_snmp6_name("Ip6InOctets"), Some(("Ip6", "InOctets")));
        assert_eq!(split_snmp6_name("Icmp6InType1"), Some(("Icmp6", "InType1")));
        assert_eq!(
            split_snmp6_name("UdpLite6InDatagrams"),
            Some(("UdpLite6", "InDatagrams"))
        );
        assert_eq!(split_snmp6_name("Ip6"), None);
        assert_eq!(split_snmp6_name("InOctets"), None);
        assert_eq!(split_snmp6_name("6Ip"), None);
        assert_eq!(split_snmp6_name(""), None);
        assert_eq!(split_snmp6_name("Ip6_x"), None);
    }

    #[test]
    fn mismatch_and_malformed_lines() {
        let text = "Tcp: A B C\nTcp: 1 2\nUdp: X Y\nUdp: 5 -7 9\nIp: 1 2\nFoo: P Q\nBar: R\nBar: x 4\nIp6InReceives 3\nIp6Bad\nNoSection 4\nIcmp6OutMsgs 1 2\nIcmp6InMsgs z\nLast: A\n";
        let mut w = Warnings::default();
        let n = parse(text, &mut w).unwrap();
        assert_eq!(n["Tcp"].len(), 2);
        assert_eq!((n["Tcp"]["A"], n["Tcp"]["B"]), (1, 2));
        assert_eq!((n["Udp"]["X"], n["Udp"]["Y"]), (5, -7));
        assert!(!n.contains_key("Ip"));
        assert!(n.get("Foo").is_none_or(BTreeMap::is_empty));
        assert!(!n["Bar"].contains_key("R"));
        assert_eq!(n["Ip6"]["InReceives"], 3);
        assert!(!n.contains_key("Icmp6"));
        let lines: Vec<_> = w.0.iter().filter_map(|w| w.line).collect();
        // Tcp mismatch, Udp mismatch, Ip values w/o header, Foo header w/o values,
        // Bar mismatch + bad value, Ip6Bad, NoSection, Icmp6OutMsgs, Icmp6InMsgs,
        // Last truncated.
        assert_eq!(lines, vec![2, 4, 5, 6, 8, 8, 10, 11, 12, 13, 14]);
        assert!(parse("", &mut w).is_err());
        assert!(parse("Tcp: A B\n", &mut w).is_err());
    }

    #[test]
    fn read_without_snmp6_or_anything() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::fixture(dir.path());
        let mut buf = FileBuf::new();
        let mut w = Warnings::default();
        assert!(matches!(
            read(&mut buf, &root, &mut w),
            Source::Unsupported { .. }
        ));
        std::fs::create_dir_all(root.proc_net("")).unwrap();
        std::fs::write(root.proc_net("snmp"), SNMP).unwrap();
        std::fs::write(root.proc_net("netstat"), NETSTAT).unwrap();
        let mut w = Warnings::default();
        let n = read(&mut buf, &root, &mut w).ok().unwrap().clone();
        assert!(w.0.is_empty(), "missing snmp6 is silent: {:?}", w.0);
        assert!(!n.contains_key("Ip6"));
        assert_eq!(n["TcpExt"]["TW"], 8);
        std::fs::remove_file(root.proc_net("netstat")).unwrap();
        let n = read(&mut buf, &root, &mut w).ok().unwrap().clone();
        assert_eq!(w.0.len(), 1, "missing netstat is a warning");
        assert_eq!(n["Tcp"]["MaxConn"], -1);
        std::fs::write(root.proc_net("snmp"), "garbage\n").unwrap();
        assert!(matches!(
            read(&mut buf, &root, &mut w),
            Source::Error { .. }
        ));
    }

    #[test]
    fn every_truncation_of_the_vm_captures_parses() {
        for text in [SNMP, NETSTAT, SNMP6] {
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
            let _ = split_snmp6_name(&s);
        }

        #[test]
        fn snmp_like_text_never_panics(s in "(Tcp|Ip6|Icmp6|Udp|: |-|[0-9]|[A-Za-z]| |\t|\n){0,200}") {
            let mut w = Warnings::default();
            if let Ok(n) = parse(&s, &mut w) {
                prop_assert!(n.values().map(BTreeMap::len).sum::<usize>() > 0);
            }
        }
    }
}
