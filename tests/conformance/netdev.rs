//! /proc/net/dev against prometheus/procfs and node_exporter samples.

use crate::read;
use nettune::collect::netdev::{parse, NetDev, NetDevCounters};
use nettune::collect::Warnings;

fn parse_ok(rel: &str) -> Option<NetDev> {
    let text = read(rel)?;
    let mut w = Warnings::default();
    let d = parse(&text, &mut w).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(w.0.is_empty(), "{rel}: {:?}", w.0);
    Some(d)
}

/// Counters with only rx/tx bytes and packets set.
fn bp(rx_bytes: u64, rx_packets: u64, tx_bytes: u64, tx_packets: u64) -> NetDevCounters {
    NetDevCounters {
        rx_bytes,
        rx_packets,
        tx_bytes,
        tx_packets,
        ..Default::default()
    }
}

#[test]
fn procfs_net_dev() {
    let Some(d) = parse_ok("prometheus-procfs/fixtures/proc/net/dev") else {
        return;
    };
    assert_eq!(d.len(), 4);
    assert_eq!(d["vethf345468"], bp(648, 8, 438, 5));
    assert_eq!(d["lo"], bp(1664039048, 1566805, 1664039048, 1566805));
    assert_eq!(d["docker0"], bp(2568, 38, 438, 5));
    assert_eq!(d["eth0"], bp(874354587, 1036395, 563352563, 732147));
}

#[test]
fn procfs_net_dev_parse_line() {
    let mut w = Warnings::default();
    let text = "  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0:1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
    let d = parse(text, &mut w).unwrap();
    let want = NetDevCounters {
        rx_bytes: 1,
        rx_packets: 2,
        rx_errs: 3,
        rx_drop: 4,
        rx_fifo: 5,
        rx_frame: 6,
        rx_compressed: 7,
        rx_multicast: 8,
        tx_bytes: 9,
        tx_packets: 10,
        tx_errs: 11,
        tx_drop: 12,
        tx_fifo: 13,
        tx_colls: 14,
        tx_carrier: 15,
        tx_compressed: 16,
    };
    assert_eq!(d["eth0"], want);
    assert_eq!(d["eth0:1"], want);
    assert_eq!(d.len(), 2);
}

#[test]
fn procfs_26231_net_dev() {
    let Some(d) = parse_ok("prometheus-procfs/fixtures/proc/26231/net/dev") else {
        return;
    };
    assert_eq!(d.len(), 2);
    assert_eq!(d["lo"], NetDevCounters::default());
    assert_eq!(d["eth0"], bp(438, 5, 648, 8));
}

#[test]
fn node_exporter_historical_edge_cases() {
    let Some(d) = parse_ok("node_exporter/historical-f23a956c/collector/fixtures/proc/net/dev")
    else {
        return;
    };
    assert_eq!(d.len(), 10);
    assert_eq!(d["tun0"], bp(1888, 24, 67120, 934));
    assert_eq!(d["eth0"], bp(68210035552, 520993275, 9315587528, 43451486));
    assert_eq!(d["ibr10:30"], NetDevCounters::default());
    assert_eq!(
        d["flannel.1"],
        NetDevCounters {
            tx_drop: 64,
            ..bp(18144009813, 228499337, 20758990068, 258369223)
        }
    );
    assert_eq!(
        d["💩0"],
        NetDevCounters {
            rx_multicast: 72,
            ..bp(57750104, 105557, 404570255, 304261)
        }
    );
    assert_eq!(d["lxcbr0"], bp(0, 0, 2630299, 28339));
    assert_eq!(d["veth4B09XN"], bp(648, 8, 1943284, 10640));
    assert_eq!(d["wlan0"], bp(10437182923, 13899359, 2851649360, 11726200));
}
