//! ethtool driver statistics naming and model against node_exporter's ethtool fixtures
//! (text captures of `ethtool -S` / `-i` / plain `ethtool`) and its expected metrics.

use crate::read;
use nettune::collect::ethtool::{
    parse_ethtool_i_text, parse_ethtool_s_text, parse_ethtool_settings_text, prometheus_stat_name,
    prometheus_stats,
};
use nettune::collect::{Source, Warnings};
use std::collections::BTreeMap;

const DIR: &str = "node_exporter/collector/fixtures/ethtool";

#[test]
fn node_exporter_eth0_statistics() {
    let Some(text) = read(&format!("{DIR}/eth0/statistics")) else {
        return;
    };
    let mut w = Warnings::default();
    let s = parse_ethtool_s_text(&text, &mut w);
    let s = s.ok().unwrap_or_else(|| panic!("{s:?}"));
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(s.len(), 16);
    for (name, v) in [
        ("port.rx_dropped", 12028),
        ("rx_missed", 401),
        ("rx_packets", 1260062),
        ("tx_packets", 961500),
        ("rx_unicast", 1230297),
        ("rx_broadcast", 5792),
        ("rx_multicast", 23973),
        ("tx_errors", 0),
        ("rx_errors", 0),
        ("align_errors", 0),
        // Both raw names are kept in the model; only the exported view drops them.
        ("duplicate metric", 1),
        ("duplicate_metric", 2),
    ] {
        assert_eq!(s.get(name), Some(v), "{name}");
    }
    // Driver order is kept.
    let names: Vec<&str> = s.iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..3], &["tx_packets", "rx_packets", "tx_errors"]);
    assert_eq!(names.last(), Some(&"duplicate_metric"));
}

/// Every `node_ethtool_*{device="eth0"}` statistic line of node_exporter's expected output
/// (not `node_ethtool_info`) equals our exported view of the same capture, exactly.
#[test]
fn node_exporter_expected_metric_names_and_values() {
    let (Some(text), Some(expected)) = (
        read(&format!("{DIR}/eth0/statistics")),
        read("node_exporter/ethtool-expected-output.txt"),
    ) else {
        return;
    };
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for line in expected.lines() {
        let Some(rest) = line.strip_prefix("node_ethtool_") else {
            continue;
        };
        let Some((name, value)) = rest.split_once("{device=\"eth0\"} ") else {
            continue;
        };
        want.insert(name.to_string(), value.parse().unwrap());
    }
    assert_eq!(want.len(), 14, "{want:?}");
    let stats = parse_ethtool_s_text(&text, &mut Warnings::default());
    let got: BTreeMap<String, f64> = prometheus_stats(stats.ok().unwrap())
        .into_iter()
        .map(|(n, v)| (n, v as f64))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got["port_received_dropped"], 12028.0);
    assert_eq!(got["received_missed"], 401.0);
    assert_eq!(got["received_packets_total"], 1.260062e6);
    assert_eq!(got["transmitted_packets_total"], 961500.0);
    assert_eq!(got["received_unicast"], 1.230297e6);
    assert_eq!(got["received_broadcast"], 5792.0);
    assert_eq!(got["received_multicast"], 23973.0);
    // The `duplicate metric` / `duplicate_metric` pair is dropped.
    assert!(!got.contains_key("duplicate_metric"));
}

#[test]
fn node_exporter_bond0_error_capture() {
    let Some(text) = read(&format!("{DIR}/bond0/statistics")) else {
        return;
    };
    assert_eq!(text.trim(), "ERROR: 1");
    // errno 1 is EPERM: an error (not "unsupported"), with a hint.
    match parse_ethtool_s_text(&text, &mut Warnings::default()) {
        Source::Error { error } => assert!(error.contains("permission denied"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn node_exporter_eth0_driver_info_and_speed() {
    let (Some(driver), Some(settings)) = (
        read(&format!("{DIR}/eth0/driver")),
        read(&format!("{DIR}/eth0/settings")),
    ) else {
        return;
    };
    let d = parse_ethtool_i_text(&driver);
    let d = d.ok().unwrap();
    // node_ethtool_info{bus_info="0000:00:1f.6",driver="e1000e",expansion_rom_version="",
    // firmware_version="0.5-4",version="5.11.0-22-generic"} 1
    assert_eq!(d.driver, "e1000e");
    assert_eq!(d.version, "5.11.0-22-generic");
    assert_eq!(d.firmware_version, "0.5-4");
    assert_eq!(d.expansion_rom_version, "");
    assert_eq!(d.bus_info, "0000:00:1f.6");
    let l = parse_ethtool_settings_text(&settings);
    assert_eq!(l.speed_mbps, Some(1000));
    assert_eq!(l.duplex.as_deref(), Some("full"));
    assert_eq!(l.autoneg, Some(true));
    // node_network_advertised_speed_bytes{duplex="full",mode="1000baseT"} 1.25e+08
    assert_eq!(l.speed_mbps.unwrap() as f64 * 1e6 / 8.0, 1.25e8);
}

/// node_exporter's `TestBuildEthtoolFQName`, without the `node_ethtool_` prefix.
#[test]
fn build_ethtool_fq_name() {
    for (input, want) in [
        ("port.rx_errors", "port_received_errors"),
        ("rx_errors", "received_errors"),
        ("Queue[0] AllocFails", "queue_0_allocfails"),
        ("Tx LPI entry count", "transmitted_lpi_entry_count"),
        (
            "port.VF_admin_queue_requests",
            "port_vf_admin_queue_requests",
        ),
        ("[3]: tx_bytes", "3_transmitted_bytes"),
        ("     err", "err"),
    ] {
        assert_eq!(prometheus_stat_name(input), want, "{input:?}");
    }
}
