//! `/proc/net/dev`: per-interface packet, byte, drop and error counters.
//!
//! Owns the parser for the 16-column format every kernel since 2.2 prints. The interface name
//! is everything before the **last** `:` of a line (so `ibr10:30`, `flannel.1`, UTF-8 names
//! and numbers glued to the colon, `eth0:68210035552`, all work).
//!
//! Column-count policy: a line with fewer than 16 numbers cannot be mapped to fields, so it is
//! skipped with a warning; a line with more than 16 keeps the first 16 (a future kernel would
//! append columns) and warns once per file.

use super::{read_with, FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Warning / error source label.
const SOURCE: &str = "net/dev";

/// Numbers on one interface line.
const COLUMNS: usize = 16;

/// The 16 counters of one `/proc/net/dev` line (cumulative since the device appeared).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDevCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors (all kinds; frame/fifo/CRC are part of it).
    pub rx_errs: u64,
    /// Packets dropped on receive (driver and core).
    pub rx_drop: u64,
    /// FIFO / ring overruns (missed).
    pub rx_fifo: u64,
    /// Frame alignment / length / CRC errors.
    pub rx_frame: u64,
    /// Compressed packets received (cslip, ppp).
    #[serde(default)]
    pub rx_compressed: u64,
    /// Multicast packets received.
    #[serde(default)]
    pub rx_multicast: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errs: u64,
    /// Packets dropped on transmit.
    pub tx_drop: u64,
    /// Transmit FIFO errors.
    #[serde(default)]
    pub tx_fifo: u64,
    /// Collisions.
    #[serde(default)]
    pub tx_colls: u64,
    /// Carrier errors (aborted, window, heartbeat and carrier errors summed by the kernel).
    #[serde(default)]
    pub tx_carrier: u64,
    /// Compressed packets sent.
    #[serde(default)]
    pub tx_compressed: u64,
}

/// Interface name → counters.
pub type NetDev = BTreeMap<String, NetDevCounters>;

impl NetDevCounters {
    /// Build from the 16 numbers in the kernel's order.
    fn from_columns(c: [u64; COLUMNS]) -> Self {
        let [rx_bytes, rx_packets, rx_errs, rx_drop, rx_fifo, rx_frame, rx_compressed, rx_multicast, tx_bytes, tx_packets, tx_errs, tx_drop, tx_fifo, tx_colls, tx_carrier, tx_compressed] =
            c;
        NetDevCounters {
            rx_bytes,
            rx_packets,
            rx_errs,
            rx_drop,
            rx_fifo,
            rx_frame,
            rx_compressed,
            rx_multicast,
            tx_bytes,
            tx_packets,
            tx_errs,
            tx_drop,
            tx_fifo,
            tx_colls,
            tx_carrier,
            tx_compressed,
        }
    }
}

/// Parse `/proc/net/dev` text. The two header lines (they contain `|`) are skipped; a bad
/// interface line is a warning and skipped (see the module doc for the column policy); a file
/// without one interface is an error.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<NetDev> {
    let mut out = NetDev::new();
    let mut warned_extra = false;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        if line.trim_ascii().is_empty() || (idx < 2 && line.contains('|')) {
            continue;
        }
        match parse_line(line) {
            Ok((name, counters, extra)) => {
                if extra > 0 && !warned_extra {
                    warned_extra = true;
                    warnings.push(
                        SOURCE,
                        Some(line_no),
                        format!("{extra} columns after the 16th ignored"),
                    );
                }
                if out.contains_key(name) {
                    warnings.push(
                        SOURCE,
                        Some(line_no),
                        format!("interface `{name}` listed twice; the later line is used"),
                    );
                }
                out.insert(name.to_string(), counters);
            }
            Err(msg) => warnings.push(SOURCE, Some(line_no), format!("{msg}; line skipped")),
        }
    }
    if out.is_empty() {
        return Err(Error::Parse {
            path: PathBuf::from(SOURCE),
            line: 0,
            what: "no interface line".to_string(),
        });
    }
    Ok(out)
}

/// One interface line: name, counters, and how many columns followed the 16th.
fn parse_line(line: &str) -> std::result::Result<(&str, NetDevCounters, usize), String> {
    let Some(colon) = line.rfind(':') else {
        return Err("no `:` after the interface name".to_string());
    };
    let name = line[..colon].trim_ascii();
    if name.is_empty() {
        return Err("empty interface name".to_string());
    }
    let mut cols = [0u64; COLUMNS];
    let mut n = 0usize;
    for tok in line[colon + 1..].split_ascii_whitespace() {
        let v: u64 = match super::parse_dec(tok) {
            Some(v) => v,
            None => return Err(format!("`{name}`: column {} is not a u64", n + 1)),
        };
        if let Some(slot) = cols.get_mut(n) {
            *slot = v;
        }
        n += 1;
    }
    if n < COLUMNS {
        return Err(format!("`{name}`: {n} columns, expected {COLUMNS}"));
    }
    Ok((name, NetDevCounters::from_columns(cols), n - COLUMNS))
}

/// Read `/proc/net/dev` (of the namespace `root.proc_net` points at).
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<NetDev> {
    read_with(buf, &root.proc_net("dev"), warnings, parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VM: &str = include_str!("../../tests/fixtures/vm/proc/net/dev");

    #[test]
    fn vm_capture() {
        let mut w = Warnings::default();
        let d = parse(VM, &mut w).unwrap();
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(
            d.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["eth0", "ifb0", "ifb1", "lo"]
        );
        let lo = &d["lo"];
        assert_eq!((lo.rx_bytes, lo.rx_packets), (3193, 29));
        assert_eq!((lo.tx_bytes, lo.tx_packets), (3193, 29));
        let eth0 = &d["eth0"];
        assert_eq!((eth0.rx_bytes, eth0.rx_packets), (35688802, 2246));
        assert_eq!((eth0.tx_bytes, eth0.tx_packets), (196353, 1459));
        assert_eq!(eth0.rx_drop, 0);
        assert_eq!(d["ifb1"], NetDevCounters::default());
    }

    #[test]
    fn all_sixteen_in_order_and_odd_names() {
        let text = "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0:1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\nx:99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n💩.0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let mut w = Warnings::default();
        let d = parse(text, &mut w).unwrap();
        assert!(w.0.is_empty());
        let e = &d["eth0"];
        let got = [
            e.rx_bytes,
            e.rx_packets,
            e.rx_errs,
            e.rx_drop,
            e.rx_fifo,
            e.rx_frame,
            e.rx_compressed,
            e.rx_multicast,
            e.tx_bytes,
            e.tx_packets,
            e.tx_errs,
            e.tx_drop,
            e.tx_fifo,
            e.tx_colls,
            e.tx_carrier,
            e.tx_compressed,
        ];
        assert_eq!(got, core::array::from_fn(|i| i as u64 + 1));
        assert_eq!(d["eth0:1"], d["eth0"]);
        assert_eq!(d["x"].rx_bytes, 99);
        assert!(d.contains_key("💩.0"));
    }

    #[test]
    fn bad_lines_are_warnings() {
        let text = "Inter-|\n face |\n a: 1 2 3\n b: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n c: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -1\nnocolon 1 2\n d: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let mut w = Warnings::default();
        let d = parse(text, &mut w).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), vec!["b", "d"]);
        assert_eq!(d["b"].tx_compressed, 16);
        let lines: Vec<_> = w.0.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![Some(3), Some(4), Some(5), Some(6)]);
        assert!(parse("Inter-|\n face |\n", &mut w).is_err());
        assert!(parse("", &mut w).is_err());
    }

    #[test]
    fn read_vm_fixture_and_missing_file() {
        let root = crate::collect::testfs::vm();
        let mut w = Warnings::default();
        let mut buf = FileBuf::new();
        assert_eq!(
            read(&mut buf, &root, &mut w).ok().unwrap()["lo"].rx_packets,
            29
        );
        let root = Root::fixture("/nonexistent-nettune");
        assert!(matches!(
            read(&mut buf, &root, &mut w),
            Source::Unsupported { .. }
        ));
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
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let mut w = Warnings::default();
            let _ = parse(&s, &mut w);
        }

        #[test]
        fn netdev_like_text_never_panics(s in "[a-z0-9:|.💩 \n]{0,400}") {
            let mut w = Warnings::default();
            if let Ok(d) = parse(&s, &mut w) {
                prop_assert!(!d.is_empty());
            }
        }
    }
}
