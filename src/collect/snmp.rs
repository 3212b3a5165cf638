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

/// How one non-blank line of a clean file looked, for [`Reader`]'s fast path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// A `Section: name name ...` header line (its text from the first token on).
    Header(String),
    /// The value line of the header before it: `Section:` and this many values.
    Values(String, usize),
    /// An snmp6 `Name value` line.
    Named(String),
}

/// The shape of every non-blank line of `text`, which parsed without a warning.
fn shape_of(text: &str) -> Vec<Shape> {
    let mut shapes = Vec::new();
    let mut pending: Option<&str> = None;
    for line in text.lines() {
        let line = line.trim_ascii_start();
        let mut toks = line.split_ascii_whitespace();
        let Some(first) = toks.next() else { continue };
        if first.ends_with(':') {
            if pending == Some(first) {
                shapes.push(Shape::Values(first.to_string(), toks.count()));
                pending = None;
            } else {
                shapes.push(Shape::Header(line.to_string()));
                pending = Some(first);
            }
        } else {
            shapes.push(Shape::Named(first.to_string()));
        }
    }
    shapes
}

/// Layout of the last clean read: per file of [`PARTS`] its line shapes (`None`: absent),
/// the merged map it gave, and for each value of that map in iteration order (sections,
/// then fields, sorted) its index among the values in file order.
#[derive(Debug)]
struct Layout {
    parts: Vec<Option<Vec<Shape>>>,
    template: NetStat,
    order: Vec<usize>,
}

impl Layout {
    fn learn(parts: Vec<Option<Vec<Shape>>>, template: &NetStat) -> Option<Layout> {
        let mut index = std::collections::HashMap::new();
        let mut n = 0usize;
        for shapes in parts.iter().flatten() {
            let mut names: &str = "";
            for shape in shapes {
                match shape {
                    Shape::Header(line) => names = line,
                    Shape::Values(prefix, _) => {
                        let section = prefix.strip_suffix(':')?;
                        for name in names.split_ascii_whitespace().skip(1) {
                            index.insert((section, name), n);
                            n += 1;
                        }
                    }
                    Shape::Named(name) => {
                        index.insert(split_snmp6_name(name)?, n);
                        n += 1;
                    }
                }
            }
        }
        let mut order = Vec::with_capacity(index.len());
        for (section, fields) in template {
            for field in fields.keys() {
                order.push(*index.get(&(section.as_str(), field.as_str()))?);
            }
        }
        Some(Layout {
            parts,
            template: template.clone(),
            order,
        })
    }

    /// Parse `text` (the file of shapes `shapes`), appending its values in file order;
    /// `false` when any line differs from its shape beyond the values.
    fn values(shapes: &[Shape], text: &str, out: &mut Vec<i64>) -> bool {
        let mut shapes = shapes.iter();
        for line in text.lines() {
            let line = line.trim_ascii_start();
            let mut toks = line.split_ascii_whitespace();
            let Some(first) = toks.next() else { continue };
            let count = match shapes.next() {
                Some(Shape::Header(h)) if h == line => continue,
                Some(Shape::Values(prefix, count)) if prefix == first => *count,
                Some(Shape::Named(name)) if name == first => 1,
                _ => return false,
            };
            let start = out.len();
            for tok in toks {
                match tok.parse::<i64>() {
                    Ok(v) if out.len() - start < count => out.push(v),
                    _ => return false,
                }
            }
            if out.len() - start != count {
                return false;
            }
        }
        shapes.next().is_none()
    }
}

/// Reads snmp, netstat and snmp6 like [`read`], keeping the layout of the last read that
/// gave no warning. While every header line and snmp6 name is byte for byte what it was,
/// the merged map is copied from the last one and its values filled in by position —
/// no per-field tree search — and the result is exactly what [`read`] returns. Anything
/// else (a new field, a missing file, a bad value) takes [`read`]'s full path.
#[derive(Debug, Default)]
pub struct Reader {
    layout: Option<Layout>,
    values: Vec<i64>,
    /// Reads served by the fast path (tests and benchmarks look).
    pub fast_reads: u64,
}

impl Reader {
    /// A reader with nothing learned yet.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Read and merge the three files (see [`read`]).
    pub fn read(
        &mut self,
        buf: &mut FileBuf,
        root: &Root,
        warnings: &mut Warnings,
    ) -> Source<NetStat> {
        if let Some(map) = self.fast(buf, root) {
            self.fast_reads += 1;
            return Source::Ok(map);
        }
        let mut parts: Vec<Option<Vec<Shape>>> = vec![None; PARTS.len()];
        let mut clean = true;
        let result = read_merged(
            buf,
            root,
            &PARTS,
            warnings,
            "none of snmp, netstat, snmp6",
            |text, source, out, w| {
                let before = w.0.len();
                let r = parse_into(text, source, out, w);
                match PARTS.iter().position(|p| p.source == source) {
                    Some(i) if r.is_ok() && w.0.len() == before => parts[i] = Some(shape_of(text)),
                    _ => clean = false,
                }
                r
            },
        );
        self.layout = match (&result, clean) {
            (Source::Ok(map), true)
                if !PARTS
                    .iter()
                    .zip(&parts)
                    .any(|(p, s)| p.warn_missing && s.is_none()) =>
            {
                Layout::learn(parts, map)
            }
            _ => None,
        };
        result
    }

    fn fast(&mut self, buf: &mut FileBuf, root: &Root) -> Option<NetStat> {
        let layout = self.layout.as_ref()?;
        self.values.clear();
        for (part, shapes) in PARTS.iter().zip(&layout.parts) {
            match (buf.read(&root.proc_net(part.file)), shapes) {
                (Ok(text), Some(shapes)) => {
                    if !Layout::values(shapes, text, &mut self.values) {
                        return None;
                    }
                }
                (Err(e), None) if e.kind() == std::io::ErrorKind::NotFound => {}
                _ => return None,
            }
        }
        let mut map = layout.template.clone();
        let mut order = layout.order.iter();
        for fields in map.values_mut() {
            for v in fields.values_mut() {
                *v = *self.values.get(*order.next()?)?;
            }
        }
        Some(map)
    }
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

    /// A root whose proc/net holds `snmp`, `netstat` and (when given) `snmp6`.
    fn root_with(dir: &std::path::Path, snmp: &str, netstat: &str, snmp6: Option<&str>) -> Root {
        use crate::collect::testfs::write;
        write(dir, "proc/net/snmp", snmp);
        write(dir, "proc/net/netstat", netstat);
        match snmp6 {
            Some(t) => write(dir, "proc/net/snmp6", t),
            None => {
                let _ = std::fs::remove_file(dir.join("proc/net/snmp6"));
            }
        }
        Root::fixture(dir)
    }

    /// What a fresh [`read`] gives, and its warnings.
    fn fresh(root: &Root) -> (Source<NetStat>, Vec<crate::collect::Warning>) {
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), root, &mut w);
        (s, w.0)
    }

    /// Every value of the fixtures changed, header lines kept byte for byte.
    fn bump_values(text: &str) -> String {
        text.lines()
            .map(|line| {
                let toks: Vec<&str> = line.split_ascii_whitespace().collect();
                let header = toks.first().is_some_and(|t| t.ends_with(':'))
                    && toks.get(1).is_some_and(|t| t.parse::<i64>().is_err());
                if header {
                    return line.to_string() + "\n";
                }
                let bumped: Vec<String> = toks
                    .iter()
                    .map(|t| match t.parse::<i64>() {
                        Ok(v) => (v * 3 + 7).to_string(),
                        Err(_) => t.to_string(),
                    })
                    .collect();
                bumped.join(" ") + "\n"
            })
            .collect()
    }

    #[test]
    fn reader_fast_path_gives_exactly_what_read_gives() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_with(dir.path(), SNMP, NETSTAT, Some(SNMP6));
        let mut reader = Reader::new();
        let mut buf = FileBuf::new();
        let mut w = Warnings::default();
        let first = reader.read(&mut buf, &root, &mut w);
        assert_eq!((first.clone(), w.0.clone()), fresh(&root));
        assert_eq!(reader.fast_reads, 0);
        let again = reader.read(&mut buf, &root, &mut w);
        assert_eq!(reader.fast_reads, 1, "same layout: the fast path");
        assert_eq!(again, first);
        // New values, same layout: still the fast path, and the new values.
        let root = root_with(
            dir.path(),
            &bump_values(SNMP),
            &bump_values(NETSTAT),
            Some(&bump_values(SNMP6)),
        );
        let bumped = reader.read(&mut buf, &root, &mut w);
        assert_eq!(reader.fast_reads, 2);
        assert_eq!(bumped, fresh(&root).0);
        assert_ne!(bumped, first);
        assert_eq!(bumped.ok().unwrap()["Tcp"]["ActiveOpens"], 46 * 3 + 7);
        assert_eq!(bumped.ok().unwrap()["Ip6"]["InOctets"], 128 * 3 + 7);
        assert!(w.0.is_empty(), "{:?}", w.0);
    }

    #[test]
    fn reader_takes_the_full_path_when_anything_but_values_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut reader = Reader::new();
        let mut buf = FileBuf::new();
        let root = root_with(dir.path(), SNMP, NETSTAT, Some(SNMP6));
        reader.read(&mut buf, &root, &mut Warnings::default());
        let variants: Vec<(String, String, Option<String>)> = vec![
            // A field added to a header and its value line.
            (
                SNMP.replacen("Tcp: RtoAlgorithm", "Tcp: NewField RtoAlgorithm", 1)
                    .replacen("Tcp: 1 ", "Tcp: 99 1 ", 1),
                NETSTAT.to_string(),
                Some(SNMP6.to_string()),
            ),
            // A value that is not a number (a warning on the full path).
            (
                SNMP.replacen("Tcp: 1 ", "Tcp: x ", 1),
                NETSTAT.to_string(),
                Some(SNMP6.to_string()),
            ),
            // One value too many.
            (
                SNMP.to_string(),
                NETSTAT.replacen("\nIpExt: 0 ", "\nIpExt: 0 5 ", 1),
                Some(SNMP6.to_string()),
            ),
            // snmp6 gone (IPv6 off), then a renamed snmp6 counter.
            (SNMP.to_string(), NETSTAT.to_string(), None),
            (
                SNMP.to_string(),
                NETSTAT.to_string(),
                Some(SNMP6.replacen("Ip6InOctets", "Ip6InOctetz", 1)),
            ),
            // A truncated file.
            (
                SNMP[..SNMP.len() / 2].to_string(),
                NETSTAT.to_string(),
                Some(SNMP6.to_string()),
            ),
        ];
        for (i, (snmp, netstat, snmp6)) in variants.iter().enumerate() {
            let root = root_with(dir.path(), snmp, netstat, snmp6.as_deref());
            let fast_before = reader.fast_reads;
            let mut w = Warnings::default();
            let got = reader.read(&mut buf, &root, &mut w);
            assert_eq!(
                reader.fast_reads, fast_before,
                "variant {i} must not use the fast path"
            );
            assert_eq!((got, w.0), fresh(&root), "variant {i}");
            // Back to the original: the result is right whichever path serves it.
            let root = root_with(dir.path(), SNMP, NETSTAT, Some(SNMP6));
            let mut w = Warnings::default();
            assert_eq!((reader.read(&mut buf, &root, &mut w), w.0), fresh(&root));
        }
    }

    proptest! {
        #[test]
        fn reader_agrees_with_read_on_edited_files(
            edits in proptest::collection::vec((0usize..4000, "[0-9a-z: \n-]{0,3}"), 0..4),
            which in 0usize..3,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut reader = Reader::new();
            let mut buf = FileBuf::new();
            let root = root_with(dir.path(), SNMP, NETSTAT, Some(SNMP6));
            reader.read(&mut buf, &root, &mut Warnings::default());
            let mut texts = [SNMP.to_string(), NETSTAT.to_string(), SNMP6.to_string()];
            for (at, ins) in &edits {
                let t = &mut texts[which];
                let mut at = (*at).min(t.len());
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                t.insert_str(at, ins);
            }
            let root = root_with(dir.path(), &texts[0], &texts[1], Some(&texts[2]));
            let mut w = Warnings::default();
            let got = reader.read(&mut buf, &root, &mut w);
            prop_assert_eq!((got, w.0), fresh(&root));
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
