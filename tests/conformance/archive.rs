//! The archive's text parsers against the kernel files of the same sosreport: the rabbitmq
//! sosreport holds both `proc/net/dev` and `ip -s -d link`, both `proc/net/{snmp,netstat}`
//! and `nstat -zas`, both `proc/sys` and `sysctl -a`, taken seconds apart on the same host.

use super::shared;
use nettune::archive::text::{parse_ip_link, parse_nstat, parse_sysctl_a};
use nettune::collect::netdev::parse as parse_netdev;
use nettune::collect::Warnings;

fn read(rel: &str) -> Option<String> {
    let path = shared()?.join("sos/hotsos-rabbitmq").join(rel);
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Within 1 % (the two were read a few seconds apart; counters only grow).
fn close(a: u64, b: u64) -> bool {
    let (lo, hi) = (a.min(b) as f64, a.max(b) as f64);
    hi - lo <= (hi * 0.01).max(20.0)
}

/// `ip -s -d link` gives the interfaces and counters `/proc/net/dev` gives.
#[test]
fn ip_link_agrees_with_proc_net_dev() {
    let (Some(ip), Some(dev)) = (
        read("sos_commands/networking/ip_-s_-d_link"),
        read("proc/123803/net/dev"),
    ) else {
        return;
    };
    let mut w = Warnings::default();
    let from_ip = parse_ip_link(&ip, &mut w).ok().cloned().expect("ip link");
    let from_proc = parse_netdev(&dev, &mut w).expect("proc/net/dev");
    assert_eq!(
        from_ip.keys().collect::<Vec<_>>(),
        from_proc.keys().collect::<Vec<_>>()
    );
    for (name, p) in &from_proc {
        let i = &from_ip[name];
        for (what, a, b) in [
            ("rx_bytes", i.rx_bytes, p.rx_bytes),
            ("rx_packets", i.rx_packets, p.rx_packets),
            ("tx_bytes", i.tx_bytes, p.tx_bytes),
            ("tx_packets", i.tx_packets, p.tx_packets),
            ("rx_drop", i.rx_drop, p.rx_drop),
            ("rx_errs", i.rx_errs, p.rx_errs),
            ("tx_drop", i.tx_drop, p.tx_drop),
        ] {
            assert!(close(a, b), "{name} {what}: ip {a}, proc {b}");
        }
    }
}

/// `nstat -zas` names the counters `/proc/net/{snmp,netstat}` hold, in the same sections.
#[test]
fn nstat_agrees_with_proc_snmp_and_netstat() {
    let (Some(nstat), Some(snmp), Some(netstat)) = (
        read("sos_commands/networking/nstat_-zas"),
        read("proc/123803/net/snmp"),
        read("proc/123803/net/netstat"),
    ) else {
        return;
    };
    let mut w = Warnings::default();
    let from_nstat = parse_nstat(&nstat, &mut w).ok().cloned().expect("nstat");
    let mut from_proc = super::Nested::new();
    for (text, src) in [(&snmp, "snmp"), (&netstat, "netstat")] {
        nettune::collect::snmp::parse_into(text, src, &mut from_proc, &mut w).expect(src);
    }
    let mut compared = 0;
    for (section, fields) in &from_proc {
        for (field, &p) in fields {
            let Some(&n) = from_nstat.get(section).and_then(|s| s.get(field)) else {
                continue;
            };
            compared += 1;
            if field == "MaxConn" || field.starts_with("Rto") || field == "CurrEstab" {
                continue;
            }
            assert!(
                close(n.max(0) as u64, p.max(0) as u64),
                "{section}.{field}: nstat {n}, proc {p}"
            );
        }
    }
    assert!(compared > 100, "only {compared} counters in both");
    for key in [
        ("TcpExt", "ListenOverflows"),
        ("Udp", "RcvbufErrors"),
        ("Tcp", "InSegs"),
    ] {
        assert!(from_nstat[key.0].contains_key(key.1), "{key:?}");
    }
}

/// `sysctl -a` gives the values `/proc/sys` holds.
#[test]
fn sysctl_a_agrees_with_proc_sys() {
    let Some(text) = read("sos_commands/kernel/sysctl_-a") else {
        return;
    };
    let parsed = parse_sysctl_a(&text);
    let root = shared()
        .expect("shared")
        .join("sos/hotsos-rabbitmq/proc/sys");
    let mut compared = 0;
    for key in [
        "net.core.somaxconn",
        "net.core.netdev_max_backlog",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.conf.all.rp_filter",
    ] {
        let path = root.join(key.replace('.', "/"));
        let Ok(v) = std::fs::read_to_string(&path) else {
            continue;
        };
        compared += 1;
        assert_eq!(
            parsed.get(key).map(String::as_str),
            Some(nettune::collect::sysctl::fold_value(&v).as_str()),
            "{key}"
        );
    }
    assert!(compared >= 3, "only {compared} keys in proc/sys");
}
