//! /proc/net/snmp, netstat and snmp6 against prometheus/procfs and node_exporter samples.

use crate::{check_nested, read, Nested};
use nettune::collect::snmp::{parse, parse_into};
use nettune::collect::Warnings;

fn merged(files: &[&str]) -> Option<Nested> {
    crate::merged(files, parse_into)
}

fn check(n: &Nested, expected: &[(&str, &str, i64)]) {
    check_nested(n, expected)
}

#[test]
fn procfs_26231_snmp() {
    let Some(n) = merged(&["prometheus-procfs/fixtures/proc/26231/net/snmp"]) else {
        return;
    };
    check(
        &n,
        &[
            ("Ip", "Forwarding", 2),
            ("Ip", "DefaultTTL", 64),
            ("Icmp", "InMsgs", 45),
            ("IcmpMsg", "InType3", 45),
            ("IcmpMsg", "OutType3", 50),
            ("Tcp", "RtoAlgorithm", 1),
            ("Tcp", "RtoMin", 200),
            ("Udp", "InDatagrams", 10179),
            ("Udp", "NoPorts", 50),
            ("UdpLite", "NoPorts", 0),
            ("Tcp", "RetransSegs", 348),
            ("Tcp", "InSegs", 653161),
            ("Tcp", "OutSegs", 594855),
            ("Tcp", "InErrs", 98),
            ("Tcp", "CurrEstab", 15),
            ("Tcp", "MaxConn", -1),
            ("Udp", "RcvbufErrors", 0),
            ("Udp", "IgnoredMulti", 58),
        ],
    );
    assert_eq!(n["Tcp"].len(), 15);
    assert_eq!(n["Icmp"].len(), 27);
}

#[test]
fn procfs_26231_netstat() {
    let Some(n) = merged(&["prometheus-procfs/fixtures/proc/26231/net/netstat"]) else {
        return;
    };
    check(
        &n,
        &[
            ("TcpExt", "SyncookiesSent", 0),
            ("TcpExt", "EmbryonicRsts", 1),
            ("TcpExt", "TW", 83),
            ("TcpExt", "PAWSEstab", 3640),
            ("IpExt", "InNoRoutes", 0),
            ("IpExt", "InMcastPkts", 208),
            ("IpExt", "OutMcastPkts", 214),
            ("TcpExt", "ListenOverflows", 0),
            ("TcpExt", "ListenDrops", 0),
            ("TcpExt", "TCPBacklogDrop", 6),
            ("TcpExt", "TCPRcvQDrop", 92425),
            ("TcpExt", "TCPOFOQueue", 65515),
            ("TcpExt", "TCPSynRetrans", 16),
            ("TcpExt", "TCPTimeouts", 0),
        ],
    );
    // EXPECTED.md says "114 fields", counting the `TcpExt:` label: 113 names, 113 values.
    assert_eq!(n["TcpExt"].len(), 113);
}

#[test]
fn node_exporter_netstat_snmp_snmp6() {
    let dir = "node_exporter/collector/fixtures/proc/net/";
    let files = [
        format!("{dir}snmp"),
        format!("{dir}netstat"),
        format!("{dir}snmp6"),
    ];
    let Some(n) = merged(&files.iter().map(String::as_str).collect::<Vec<_>>()) else {
        return;
    };
    check(
        &n,
        &[
            ("TcpExt", "DelayedACKs", 102471),
            ("IpExt", "OutOctets", 2786264347),
            ("Udp", "RcvbufErrors", 9),
            ("Udp", "SndbufErrors", 8),
            ("Ip6", "InOctets", 460),
            ("Icmp6", "OutMsgs", 8),
            ("Udp6", "RcvbufErrors", 9),
            ("Udp6", "SndbufErrors", 8),
            // e2e
            ("TcpExt", "ListenDrops", 0),
            ("TcpExt", "ListenOverflows", 0),
            ("TcpExt", "SyncookiesFailed", 2),
            ("TcpExt", "SyncookiesRecv", 0),
            ("TcpExt", "SyncookiesSent", 0),
            ("TcpExt", "TCPOFOQueue", 42),
            ("TcpExt", "TCPRcvQDrop", 131),
            ("TcpExt", "TCPTimeouts", 115),
            ("TcpExt", "TCPBacklogDrop", 0),
            ("Tcp", "ActiveOpens", 3556),
            ("Tcp", "CurrEstab", 0),
            ("Tcp", "InErrs", 5),
            ("Tcp", "InSegs", 57252008),
            ("Tcp", "OutRsts", 1003),
            ("Tcp", "OutSegs", 54915039),
            ("Tcp", "PassiveOpens", 230),
            ("Tcp", "RetransSegs", 227),
            ("Tcp", "MaxConn", -1),
            ("Udp", "InDatagrams", 88542),
            ("Udp", "InErrors", 0),
            ("Udp", "NoPorts", 120),
            ("Udp", "OutDatagrams", 53028),
            ("Ip", "Forwarding", 1),
            ("IpExt", "InOctets", 6286396970),
            ("Icmp6", "InErrors", 0),
            ("Icmp6", "InMsgs", 0),
            ("Icmp", "InErrors", 0),
            ("Icmp", "InMsgs", 104),
            ("Icmp", "OutMsgs", 120),
            ("Ip6", "OutOctets", 536),
            ("Udp6", "InDatagrams", 0),
            ("Udp6", "InErrors", 0),
            ("Udp6", "NoPorts", 0),
            ("Udp6", "OutDatagrams", 0),
            ("UdpLite6", "InErrors", 0),
            ("UdpLite", "InErrors", 0),
        ],
    );
    // Older kernel: no Udp IgnoredMulti; removed-in-4.x fields are kept anyway.
    assert!(!n["Udp"].contains_key("IgnoredMulti"));
    for f in ["TCPPrequeued", "TCPFACKReorder", "TCPForwardRetrans"] {
        assert!(n["TcpExt"].contains_key(f), "{f}");
    }
    // The same result from `parse` on the concatenation.
    let all: String = files.iter().map(|f| read(f).unwrap()).collect();
    assert_eq!(parse(&all, &mut Warnings::default()).unwrap(), n);
}
