//! /proc/net/sockstat and sockstat6 against prometheus/procfs and node_exporter samples.

use crate::{check_nested, Nested};
use nettune::collect::sockstat::{parse, parse_into};
use nettune::collect::Warnings;

fn merged(files: &[&str]) -> Option<Nested> {
    crate::merged(files, parse_into)
}

fn check(n: &Nested, expected: &[(&str, &str, i64)]) {
    check_nested(n, expected)
}

#[test]
fn procfs_sockstat() {
    let Some(s) = merged(&["prometheus-procfs/fixtures/proc/net/sockstat"]) else {
        return;
    };
    check(
        &s,
        &[
            ("sockets", "used", 1602),
            ("TCP", "inuse", 35),
            ("TCP", "orphan", 0),
            ("TCP", "tw", 4),
            ("TCP", "alloc", 59),
            ("TCP", "mem", 22),
            ("UDP", "inuse", 12),
            ("UDP", "mem", 62),
            ("UDPLITE", "inuse", 0),
            ("RAW", "inuse", 0),
            ("FRAG", "inuse", 0),
            ("FRAG", "memory", 0),
        ],
    );
    assert_eq!(s.len(), 6);
}

#[test]
fn procfs_sockstat6() {
    let Some(s) = merged(&["prometheus-procfs/fixtures/proc/net/sockstat6"]) else {
        return;
    };
    assert!(!s.contains_key("sockets"));
    check(
        &s,
        &[
            ("TCP6", "inuse", 17),
            ("UDP6", "inuse", 9),
            ("UDPLITE6", "inuse", 0),
            ("RAW6", "inuse", 1),
            ("FRAG6", "inuse", 0),
            ("FRAG6", "memory", 0),
        ],
    );
    assert_eq!(s.len(), 5);
}

#[test]
fn procfs_inline_ipv4_and_ipv6() {
    let Some(s) = merged(&[
        "prometheus-procfs/inline/net_sockstat.Test_parseSockstat.IPv4",
        "prometheus-procfs/inline/net_sockstat6.Test_parseSockstat.IPv6",
    ]) else {
        return;
    };
    check(
        &s,
        &[
            ("sockets", "used", 1591),
            ("TCP", "inuse", 32),
            ("TCP", "orphan", 0),
            ("TCP", "tw", 0),
            ("TCP", "alloc", 58),
            ("TCP", "mem", 13),
            ("UDP", "inuse", 8),
            ("UDP", "mem", 115),
            ("UDPLITE", "inuse", 0),
            ("RAW", "inuse", 0),
            ("FRAG", "inuse", 0),
            ("FRAG", "memory", 0),
            ("TCP6", "inuse", 24),
            ("UDP6", "inuse", 9),
            ("UDPLITE6", "inuse", 0),
            ("RAW6", "inuse", 1),
            ("FRAG6", "inuse", 0),
            ("FRAG6", "memory", 0),
        ],
    );
}

#[test]
fn procfs_inline_errors_are_warnings() {
    // procfs treats these as errors; we warn and skip the line.
    for bad in ["sockets: used", "TCP: inuse 32 orphan"] {
        let mut w = Warnings::default();
        let text = format!("{bad}\nRAW: inuse 3\n");
        let s = parse(&text, &mut w).unwrap();
        assert_eq!(w.0.len(), 1, "{bad}");
        assert_eq!(w.0[0].line, Some(1));
        assert_eq!(s.len(), 1, "{bad}: line skipped as a whole");
        assert_eq!(s["RAW"]["inuse"], 3);
        assert!(parse(bad, &mut w).is_err(), "{bad}: nothing usable");
    }
}

#[test]
fn node_exporter_sockstat_and_sockstat6() {
    let Some(s) = merged(&[
        "node_exporter/collector/fixtures/proc/net/sockstat",
        "node_exporter/collector/fixtures/proc/net/sockstat6",
    ]) else {
        return;
    };
    check(
        &s,
        &[
            ("sockets", "used", 229),
            ("TCP", "inuse", 4),
            ("TCP", "orphan", 0),
            ("TCP", "tw", 4),
            ("TCP", "alloc", 17),
            ("TCP", "mem", 1),
            ("UDP", "inuse", 0),
            ("UDP", "mem", 0),
            ("UDPLITE", "inuse", 0),
            ("RAW", "inuse", 0),
            ("FRAG", "inuse", 0),
            ("FRAG", "memory", 0),
            ("TCP6", "inuse", 17),
            ("UDP6", "inuse", 9),
            ("UDPLITE6", "inuse", 0),
            ("RAW6", "inuse", 1),
            ("FRAG6", "inuse", 0),
            ("FRAG6", "memory", 0),
        ],
    );
}
