//! `/proc/net/softnet_stat`: per-CPU backlog counters (hex u32 columns).
//!
//! Owns the parser for every width the kernel has printed (9 columns on 2.6.32, 10 on 2.6.36,
//! 11 on 3.x, 13 on 5.10, 15 on 6.x; extra columns of future kernels go into
//! [`SoftnetCpu::extra`]); `/sys/devices/system/cpu/online` (a [`cpulist`]), which maps rows to CPU ids on kernels that do not print
//! the CPU column (rows are printed for **online** CPUs only).

use super::{clip, cpulist, FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Warning / error source label.
const SOURCE: &str = "net/softnet_stat";

/// The fewest columns any kernel has printed (2.6.32).
const MIN_COLUMNS: usize = 9;

/// Columns this parser knows by name; later ones go into `extra`.
const KNOWN_COLUMNS: usize = 15;

/// One row of softnet_stat: one online CPU. Counters are cumulative packets/events since boot,
/// 32-bit and wrapping. Columns the kernel does not print are `None` (`null` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftnetCpu {
    /// CPU id: column 13 when the kernel prints it, else the n-th online CPU.
    pub cpu: u32,
    /// Column 1: packets processed (frames taken off the backlog / NAPI).
    pub processed: u32,
    /// Column 2: packets dropped because the backlog (netdev_max_backlog) was full.
    pub dropped: u32,
    /// Column 3: times net_rx_action stopped with work left (budget or time exhausted).
    pub time_squeeze: u32,
    /// Column 9: cpu_collision (tx lock contention; always 0 on modern kernels).
    pub cpu_collision: Option<u32>,
    /// Column 10: times this CPU was woken by an RPS IPI.
    pub received_rps: Option<u32>,
    /// Column 11: flow-limit drops.
    pub flow_limit_count: Option<u32>,
    /// Column 12: current backlog length in packets (a gauge, not a counter).
    pub backlog_len: Option<u32>,
    /// Column 14: input_queue length (gauge, kernels ≥ 6.x).
    pub input_qlen: Option<u32>,
    /// Column 15: process_queue length (gauge, kernels ≥ 6.x).
    pub process_qlen: Option<u32>,
    /// Columns after the 15th, printed by kernels newer than this parser.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<u32>,
}

/// Parse softnet_stat text. Rows without the CPU column (kernels before 5.10) get their
/// row number as CPU id; use [`parse_with_online`] to map them to the online CPUs instead.
///
/// Malformed rows (fewer than 9 columns, a token that is not a hex u32) are warnings and
/// skipped; a file without one usable row is an error.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<Vec<SoftnetCpu>> {
    parse_with_online(text, None, warnings)
}

/// Parse softnet_stat text, mapping rows without a CPU column (width < 13) to CPU ids:
/// row *i* (counting every non-blank line, skipped ones too) is the *i*-th entry of
/// `online_cpus` (as read from `/sys/devices/system/cpu/online`). Without a list, or when
/// the list is shorter than the file, the row number is used (with a warning in the
/// latter case).
pub fn parse_with_online(
    text: &str,
    online_cpus: Option<&[u32]>,
    warnings: &mut Warnings,
) -> Result<Vec<SoftnetCpu>> {
    let (mut rows, positional) = parse_rows(text, warnings)?;
    if let Some(online) = online_cpus {
        map_online(&mut rows, &positional, online, warnings);
    }
    Ok(rows)
}

/// Parse the rows; return them with the indices (into the returned vector) of rows whose
/// `cpu` is their row position because the kernel did not print the CPU column.
fn parse_rows(text: &str, warnings: &mut Warnings) -> Result<(Vec<SoftnetCpu>, Vec<usize>)> {
    let mut rows = Vec::new();
    let mut positional = Vec::new();
    let mut position: usize = 0;
    let mut short_rows = 0usize;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let pos = position;
        position += 1;
        let mut cols = [None::<u32>; KNOWN_COLUMNS];
        let mut extra = Vec::new();
        let mut width = 0usize;
        let mut bad = None;
        for tok in line.split_ascii_whitespace() {
            let Some(v) = parse_hex_u32(tok) else {
                bad = Some(tok);
                break;
            };
            match cols.get_mut(width) {
                Some(slot) => *slot = Some(v),
                None => extra.push(v),
            }
            width += 1;
        }
        if let Some(tok) = bad {
            warnings.push(
                SOURCE,
                Some(line_no),
                format!(
                    "column {} `{}` is not a hex u32; row skipped",
                    width + 1,
                    clip(tok)
                ),
            );
            continue;
        }
        if width < MIN_COLUMNS {
            short_rows += 1;
            warnings.push(
                SOURCE,
                Some(line_no),
                format!("{width} columns, fewer than the minimum of {MIN_COLUMNS}; row skipped"),
            );
            continue;
        }
        let [processed, dropped, time_squeeze, _, _, _, _, _, cpu_collision, received_rps, flow_limit_count, backlog_len, cpu_col, input_qlen, process_qlen] =
            cols;
        let cpu = match cpu_col {
            Some(c) => c,
            None => {
                positional.push(rows.len());
                u32::try_from(pos).unwrap_or(u32::MAX)
            }
        };
        rows.push(SoftnetCpu {
            cpu,
            processed: processed.unwrap_or(0),
            dropped: dropped.unwrap_or(0),
            time_squeeze: time_squeeze.unwrap_or(0),
            cpu_collision,
            received_rps,
            flow_limit_count,
            backlog_len,
            input_qlen,
            process_qlen,
            extra,
        });
    }
    if rows.is_empty() {
        let what = if short_rows > 0 {
            format!("no usable row: every row has fewer than {MIN_COLUMNS} columns")
        } else if position == 0 {
            "empty file".to_string()
        } else {
            "no usable row".to_string()
        };
        return Err(Error::Parse {
            path: PathBuf::from(SOURCE),
            line: 0,
            what,
        });
    }
    Ok((rows, positional))
}

/// Replace the positional CPU ids of the rows at `positional` with the online CPU at that
/// position.
fn map_online(
    rows: &mut [SoftnetCpu],
    positional: &[usize],
    online: &[u32],
    warnings: &mut Warnings,
) {
    let mut warned = false;
    for &i in positional {
        let Some(row) = rows.get_mut(i) else { continue };
        let pos = row.cpu as usize;
        match online.get(pos) {
            Some(&cpu) => row.cpu = cpu,
            None if !warned => {
                warned = true;
                warnings.push(
                    SOURCE,
                    None,
                    format!(
                        "more rows than online CPUs ({}); using the row number as CPU id",
                        online.len()
                    ),
                );
            }
            None => {}
        }
    }
}

/// A softnet column: 1 to 8 hex digits (either case).
fn parse_hex_u32(tok: &str) -> Option<u32> {
    if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(tok, 16).ok()
}

/// Read `/proc/net/softnet_stat`. When the kernel does not print the CPU column, rows are
/// mapped to the CPUs listed in `<sys>/devices/system/cpu/online`; if that file cannot be
/// read or parsed, the row number is used as CPU id (with a warning).
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Vec<SoftnetCpu>> {
    let path = root.proc_net("softnet_stat");
    let parsed = match buf.read(&path) {
        Ok(text) => parse_rows(text, warnings),
        Err(e) => return Source::from_io(&path, &e),
    };
    let (mut rows, positional) = match parsed {
        Ok(v) => v,
        Err(e) => return Source::error(format!("{}: {e}", path.display())),
    };
    if !positional.is_empty() {
        // Only old kernels (no CPU column) pay for this second read.
        let online_path = root.sys("devices/system/cpu/online");
        match buf.read(&online_path).ok().and_then(cpulist::parse) {
            Some(online) => map_online(&mut rows, &positional, &online, warnings),
            None => warnings.push(
                SOURCE,
                None,
                format!(
                    "{} unreadable; CPU ids are row numbers (wrong if a CPU is offline)",
                    online_path.display()
                ),
            ),
        }
    }
    Source::Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VM: &str = include_str!("../../tests/fixtures/vm/proc/net/softnet_stat");

    #[test]
    fn vm_capture_15_columns() {
        let mut w = Warnings::default();
        let rows = parse(VM, &mut w).unwrap();
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cpu, 0);
        assert_eq!(rows[0].processed, 0x0d);
        assert_eq!(rows[0].dropped, 0);
        assert_eq!(rows[0].backlog_len, Some(0));
        assert_eq!(rows[0].input_qlen, Some(0));
        assert_eq!(rows[0].process_qlen, Some(0));
        assert_eq!(rows[1].cpu, 1);
        assert_eq!(rows[1].processed, 0x8d6);
        assert_eq!(rows[1].time_squeeze, 0);
        assert_eq!(rows[1].received_rps, Some(0));
        assert!(rows[1].extra.is_empty());
    }

    #[test]
    fn widths_and_extra_columns() {
        let mut w = Warnings::default();
        let nine =
            "6dcad223 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000\n";
        let r = parse(nine, &mut w).unwrap();
        assert_eq!(r[0].processed, 1842008611);
        assert_eq!(r[0].time_squeeze, 1);
        assert_eq!(r[0].cpu_collision, Some(0));
        assert_eq!(r[0].received_rps, None);
        assert_eq!(r[0].flow_limit_count, None);
        assert_eq!(r[0].backlog_len, None);
        assert_eq!(r[0].input_qlen, None);
        let seventeen = "1 2 3 0 0 0 0 0 9 a b c 7 e f 10 11";
        let r = parse(seventeen, &mut w).unwrap();
        assert!(w.0.is_empty());
        let c = &r[0];
        assert_eq!((c.processed, c.dropped, c.time_squeeze), (1, 2, 3));
        assert_eq!(c.cpu_collision, Some(9));
        assert_eq!(c.received_rps, Some(10));
        assert_eq!(c.flow_limit_count, Some(11));
        assert_eq!(c.backlog_len, Some(12));
        assert_eq!(c.cpu, 7);
        assert_eq!(c.input_qlen, Some(14));
        assert_eq!(c.process_qlen, Some(15));
        assert_eq!(c.extra, vec![16, 17]);
        let j = serde_json::to_value(c).unwrap();
        assert_eq!(j["extra"], serde_json::json!([16, 17]));
        let j = serde_json::to_value(&parse(nine, &mut w).unwrap()[0]).unwrap();
        assert!(j["backlog_len"].is_null());
        assert!(j.get("extra").is_none());
    }

    #[test]
    fn upper_case_hex_and_short_row_warning() {
        let mut w = Warnings::default();
        let text = "F0000769 0 0 0 0 0 0 0 0 0 0\n00015c73 00020e76 F0000769 00000000\nzz 0 0 0 0 0 0 0 0\n1 0 0 0 0 0 0 0 0 0 0\n";
        let r = parse(text, &mut w).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].processed, 0xf000_0769);
        assert_eq!(r[0].cpu, 0);
        // Skipped rows still count as positions (they are online CPUs).
        assert_eq!(r[1].cpu, 3);
        assert_eq!(w.0.len(), 2);
        assert_eq!(w.0[0].line, Some(2));
        assert_eq!(w.0[1].line, Some(3));
    }

    #[test]
    fn all_short_rows_is_error() {
        let mut w = Warnings::default();
        assert!(parse("00015c73 00020e76 F0000769 00000000\n", &mut w).is_err());
        assert!(parse("", &mut w).is_err());
        assert!(parse("\n\n", &mut w).is_err());
        // Wider than u32.
        assert!(parse("100000000 0 0 0 0 0 0 0 0\n", &mut w).is_err());
    }

    #[test]
    fn online_mapping() {
        let text = "1 0 0 0 0 0 0 0 0 0 0\n2 0 0 0 0 0 0 0 0 0 0\n3 0 0 0 0 0 0 0 0 0 0\n";
        let mut w = Warnings::default();
        let r = parse_with_online(text, Some(&[0, 2, 5]), &mut w).unwrap();
        assert_eq!(r.iter().map(|c| c.cpu).collect::<Vec<_>>(), vec![0, 2, 5]);
        assert!(w.0.is_empty());
        let r = parse_with_online(text, Some(&[4]), &mut w).unwrap();
        assert_eq!(r.iter().map(|c| c.cpu).collect::<Vec<_>>(), vec![4, 1, 2]);
        assert_eq!(w.0.len(), 1);
        // The CPU column wins over the online list.
        let mut w = Warnings::default();
        let r = parse_with_online(VM, Some(&[7, 8]), &mut w).unwrap();
        assert_eq!(r[1].cpu, 1);
    }

    #[test]
    fn read_maps_rows_to_online_cpus() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::fixture(dir.path());
        std::fs::create_dir_all(root.proc_net("")).unwrap();
        std::fs::create_dir_all(root.sys("devices/system/cpu")).unwrap();
        let mut buf = FileBuf::new();
        let mut w = Warnings::default();
        assert!(matches!(
            read(&mut buf, &root, &mut w),
            Source::Unsupported { .. }
        ));
        std::fs::write(
            root.proc_net("softnet_stat"),
            "1 0 0 0 0 0 0 0 0 0 0\n2 0 0 0 0 0 0 0 0 0 0\n",
        )
        .unwrap();
        let r = read(&mut buf, &root, &mut w);
        assert_eq!(r.ok().unwrap()[1].cpu, 1);
        assert_eq!(w.0.len(), 1, "missing online file is a warning");
        std::fs::write(root.sys("devices/system/cpu/online"), "0,3\n").unwrap();
        let r = read(&mut buf, &root, &mut w);
        let rows = r.ok().unwrap();
        assert_eq!((rows[0].cpu, rows[1].cpu), (0, 3));
        assert_eq!(rows[1].processed, 2);
        std::fs::write(root.proc_net("softnet_stat"), "1 2 3\n").unwrap();
        assert!(matches!(
            read(&mut buf, &root, &mut w),
            Source::Error { .. }
        ));
    }

    #[test]
    fn read_vm_fixture() {
        let root = crate::collect::testfs::vm();
        let mut w = Warnings::default();
        let rows = read(&mut FileBuf::new(), &root, &mut w);
        assert_eq!(rows.ok().unwrap().len(), 2);
        assert!(w.0.is_empty());
    }

    #[test]
    fn every_truncation_of_the_vm_capture_parses() {
        for end in (0..=VM.len()).filter(|&e| VM.is_char_boundary(e)) {
            let mut w = Warnings::default();
            let _ = parse(&VM[..end], &mut w);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*", online in proptest::collection::vec(any::<u32>(), 0..4)) {
            let mut w = Warnings::default();
            let _ = parse_with_online(&s, Some(&online), &mut w);
        }

        #[test]
        fn hexish_text_never_panics(s in "[0-9a-fA-F \n]{0,400}") {
            let mut w = Warnings::default();
            if let Ok(rows) = parse(&s, &mut w) {
                prop_assert!(!rows.is_empty());
            }
        }

    }
}
