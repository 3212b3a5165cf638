//! IP layer: reverse-path filter drops (`ip.rp_filter_drops`) and checksum errors
//! (`ip.checksum_errors`), both judged by count, share and rate
//! ([`t::CountThreshold`]) so a live window and a since-boot archive are judged alike.

use super::ids;
use super::thresholds as t;
use super::util::{counted, fmt_rate, fmt_share, sysctl, sysctl_u64};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::IP_RP_FILTER_DROPS,
        run: rp_filter_drops,
    },
    Rule {
        name: ids::IP_CHECKSUM_ERRORS,
        run: checksum_errors,
    },
];

// ---------------------------------------------------------------------------------------
// ip.rp_filter_drops

/// `rp_filter` modes.
fn mode_name(mode: u64) -> &'static str {
    match mode {
        0 => "off",
        1 => "strict",
        _ => "loose",
    }
}

/// Every interface with an `rp_filter` key (not `all`/`default`), with its effective mode
/// (the kernel uses max(all, interface)) and its own value.
fn interface_modes(ctx: &Context, all: u64) -> Vec<(String, u64, u64)> {
    let Some(map) = ctx.newer.sysctl.ok() else {
        return Vec::new();
    };
    map.range("net.ipv4.conf.".to_string()..)
        .take_while(|(k, _)| k.starts_with("net.ipv4.conf."))
        .filter_map(|(k, v)| {
            let iface = k
                .strip_prefix("net.ipv4.conf.")?
                .strip_suffix(".rp_filter")?;
            if iface == "all" || iface == "default" || iface.contains('.') {
                return None;
            }
            let own: u64 = v.trim().parse().ok()?;
            Some((iface.to_string(), own.max(all), own))
        })
        .collect()
}

fn rp_filter_drops(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(c) = counted(
        &w,
        &[("TcpExt", "IPReversePathFilter")],
        &[("Ip", "InReceives")],
    ) else {
        return Vec::new();
    };
    if !c.fires(&t::RP_FILTER_DROPS) {
        return Vec::new();
    }
    let all = sysctl_u64(ctx.newer, "net.ipv4.conf.all.rp_filter").unwrap_or(0);
    let mut modes: Vec<(String, u64, u64)> = interface_modes(ctx, all)
        .into_iter()
        .filter(|(i, eff, _)| *eff > 0 && i != "lo")
        .collect();
    // Strict first, then by name.
    modes.sort_by(|a, b| (a.1 != 1, &a.0).cmp(&(b.1 != 1, &b.0)));
    let mut evidence = vec![Evidence::new(
        "TcpExt.IPReversePathFilter",
        "host",
        c.rate,
        "1/s",
    )];
    if let Some(s) = c.share() {
        evidence.push(Evidence::new(
            "TcpExt.IPReversePathFilter/Ip.InReceives",
            "host",
            s * 100.0,
            "%",
        ));
    }
    if let Some(v) = sysctl(ctx.newer, "net.ipv4.conf.all.rp_filter") {
        if let Ok(n) = v.parse::<f64>() {
            evidence.push(Evidence::new(
                "net.ipv4.conf.all.rp_filter",
                "all",
                n,
                "mode",
            ));
        }
    }
    for (iface, eff, _) in &modes {
        evidence.push(Evidence::new(
            "net.ipv4.conf.rp_filter",
            iface.as_str(),
            *eff as f64,
            "mode",
        ));
    }
    let mut changes = Vec::new();
    if all == 1 {
        changes.push(Change::sysctl(
            "net.ipv4.conf.all.rp_filter",
            sysctl(ctx.newer, "net.ipv4.conf.all.rp_filter"),
            "2",
        ));
    } else {
        for (iface, _, own) in modes.iter().filter(|m| m.1 == 1) {
            let key = format!("net.ipv4.conf.{iface}.rp_filter");
            let current = own.to_string();
            changes.push(Change::sysctl(&key, Some(current.as_str()), "2"));
        }
    }
    changes.push(Change::advice(
        "asymmetric route",
        "find the route the replies would take back to the dropped sources (`ip route get \
         SRC from DST iif IFACE` shows `RTNETLINK answers: Invalid cross-device link` for a \
         strict rp_filter drop) and add the missing route or policy rule (multi-homed hosts: \
         one routing table per uplink with `ip rule from ADDR`); traffic from spoofed sources \
         is dropped on purpose and needs no change",
    ));
    let names: Vec<String> = modes
        .iter()
        .take(4)
        .map(|(i, eff, _)| format!("{i} ({})", mode_name(*eff)))
        .collect();
    let on = if names.is_empty() {
        format!("rp_filter all={all} ({})", mode_name(all))
    } else {
        names.join(", ")
    };
    let strict = all == 1 || modes.iter().any(|m| m.1 == 1);
    vec![Finding {
        netns: None,
        id: ids::IP_RP_FILTER_DROPS.into(),
        severity: Severity::Warning,
        title: format!(
            "The reverse-path filter drops {} packets/s ({} in the window{}) on {on}",
            fmt_rate(c.rate),
            c.count,
            c.share()
                .map(|s| format!(", {} of received", fmt_share(s)))
                .unwrap_or_default()
        ),
        detail: format!(
            "With rp_filter on, the kernel drops a packet when the route back to its source \
             does not leave through the interface it arrived on (strict, 1) or through no \
             interface at all (loose, 2); the effective mode of an interface is \
             max(net.ipv4.conf.all.rp_filter, its own). Legitimate traffic is dropped when \
             routing is asymmetric: multi-homed hosts, policy routing, VRRP/anycast, tunnels. \
             {}",
            if strict {
                "Loose mode keeps the anti-spoofing check for unroutable sources and accepts \
                 asymmetric paths."
            } else {
                "The mode is already loose: the dropped sources have no route back at all."
            }
        ),
        evidence,
        changes,
        risk: "loose mode accepts packets whose source is routable through another interface: \
               weaker protection against spoofed sources on a router; the fix of the route \
               itself has no such cost"
            .into(),
        verify: "TcpExt.IPReversePathFilter stops rising (nstat -az TcpExtIPReversePathFilter)"
            .into(),
    }]
}

// ---------------------------------------------------------------------------------------
// ip.checksum_errors

/// (checksum counter section, the section's received counter).
const CSUM: [(&str, &str); 6] = [
    ("Tcp", "InSegs"),
    ("Udp", "InDatagrams"),
    ("Udp6", "InDatagrams"),
    ("UdpLite", "InDatagrams"),
    ("Icmp", "InMsgs"),
    ("Icmp6", "InMsgs"),
];

fn checksum_errors(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let fields: Vec<(&str, &str)> = CSUM.iter().map(|(s, _)| (*s, "InCsumErrors")).collect();
    let Some(c) = counted(&w, &fields, &CSUM) else {
        return Vec::new();
    };
    if !c.fires(&t::CHECKSUM_ERRORS) {
        return Vec::new();
    }
    let mut evidence = Vec::new();
    for (sec, _) in CSUM {
        if let Some(r) = w.netstat_rate(sec, "InCsumErrors").filter(|r| *r > 0.0) {
            evidence.push(Evidence::new(
                &format!("{sec}.InCsumErrors"),
                "host",
                r,
                "1/s",
            ));
        }
    }
    if let Some(s) = c.share() {
        evidence.push(Evidence::new(
            "InCsumErrors/received",
            "host",
            s * 100.0,
            "%",
        ));
    }
    // Devices with receive or frame errors in the window point at the NIC or the cable.
    let mut suspects: Vec<(String, f64)> = w
        .netdev()
        .into_iter()
        .map(|(d, r)| (d, r.rx_errs + r.rx_frame))
        .filter(|(_, e)| *e > 0.0)
        .collect();
    suspects.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (dev, e) in suspects.iter().take(3) {
        evidence.push(Evidence::new(
            "netdev.rx_errs+rx_frame",
            dev.as_str(),
            *e,
            "1/s",
        ));
    }
    let severity = if c
        .share()
        .is_some_and(|s| s >= t::CHECKSUM_ERRORS_CRIT_SHARE)
    {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let devs = if suspects.is_empty() {
        "the receiving NIC".to_string()
    } else {
        suspects
            .iter()
            .take(3)
            .map(|(d, _)| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![Finding {
        netns: None,
        id: ids::IP_CHECKSUM_ERRORS.into(),
        severity,
        title: format!(
            "{} segments/datagrams/s arrive with a bad TCP/UDP checksum and are dropped ({} \
             in the window{})",
            fmt_rate(c.rate),
            c.count,
            c.share()
                .map(|s| format!(", {} of received", fmt_share(s)))
                .unwrap_or_default()
        ),
        detail: "The kernel verified a transport checksum (in software, or after the NIC \
                 passed the packet up unverified) and it did not match: the payload was \
                 corrupted between the sender and the socket. Ethernet's CRC catches corruption \
                 on the wire, so this points at a NIC, driver or firmware that corrupts memory \
                 or offloads wrongly, a middlebox rewriting packets, or a bad cable/optic when \
                 the device also counts CRC or frame errors. The segments are retransmitted \
                 (TCP) or lost (UDP)."
            .into(),
        evidence,
        changes: vec![Change::advice(
            devs,
            "check `ethtool -S IFACE` for crc/checksum/frame errors and `ip -s link` for rx \
             errors; replace the cable or optic if they rise; try with receive checksum \
             offload off (`ethtool -K IFACE rx off`) to tell a NIC offload bug from \
             corruption on the path; update the driver and NIC firmware; on a VM compare with \
             the hypervisor's counters",
        )],
        risk: "none from nettune; turning rx checksum offload off costs CPU".into(),
        verify: "Tcp/Udp InCsumErrors stop rising (nstat -az '*CsumErrors')".into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::*;
    use crate::window::NetDevRates;

    #[test]
    fn rp_filter_drops_name_strict_interfaces_and_propose_loose() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "IPReversePathFilter", 50.0)
            .netstat("Ip", "InReceives", 10_000.0)
            .sysctl("net.ipv4.conf.all.rp_filter", "0")
            .sysctl("net.ipv4.conf.default.rp_filter", "1")
            .sysctl("net.ipv4.conf.eth0.rp_filter", "2")
            .sysctl("net.ipv4.conf.eth1.rp_filter", "1")
            .sysctl("net.ipv4.conf.lo.rp_filter", "1")
            .sysctl("net.ipv4.conf.eth2.rp_filter", "0");
        let f = fx.run(rp_filter_drops);
        let f = only(&f, ids::IP_RP_FILTER_DROPS);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            evidence(f, "TcpExt.IPReversePathFilter", "host"),
            Some(50.0)
        );
        assert_eq!(evidence(f, "net.ipv4.conf.rp_filter", "eth1"), Some(1.0));
        assert_eq!(evidence(f, "net.ipv4.conf.rp_filter", "eth0"), Some(2.0));
        assert!(evidence(f, "net.ipv4.conf.rp_filter", "eth2").is_none());
        assert!(
            f.title.contains("eth1 (strict), eth0 (loose)"),
            "{}",
            f.title
        );
        assert_eq!(proposed(f, "net.ipv4.conf.eth1.rp_filter"), Some("2"));
        assert!(proposed(f, "net.ipv4.conf.eth0.rp_filter").is_none());
        assert!(proposed(f, "asymmetric route").is_some());
    }

    #[test]
    fn rp_filter_all_strict_wins_over_interface() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "IPReversePathFilter", 5.0)
            .sysctl("net.ipv4.conf.all.rp_filter", "1")
            .sysctl("net.ipv4.conf.eth0.rp_filter", "0");
        let f = fx.run(rp_filter_drops);
        let f = only(&f, ids::IP_RP_FILTER_DROPS);
        // effective = max(all, eth0) = strict.
        assert_eq!(evidence(f, "net.ipv4.conf.rp_filter", "eth0"), Some(1.0));
        assert_eq!(proposed(f, "net.ipv4.conf.all.rp_filter"), Some("2"));
    }

    #[test]
    fn rp_filter_quiet_when_rare_over_a_long_uptime() {
        // Since boot over two years: 500 drops among 10^10 packets, 8e-6/s.
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "IPReversePathFilter", 0.0)
            .netstat("Ip", "InReceives", 1000.0);
        assert!(fx.run(rp_filter_drops).is_empty());
        let (a, b) = pair(
            &[("net.ipv4.conf.all.rp_filter", "1")],
            &[
                ("TcpExt", "IPReversePathFilter", 0, 500),
                ("Ip", "InReceives", 0, 10_000_000_000),
            ],
        );
        let mut b = b;
        b.taken_at_ns = a.taken_at_ns + 63_072_000 * 1_000_000_000;
        assert!(run_window(rp_filter_drops, &a, &b, &host(), &Default::default()).is_empty());
        // The same total over 25 minutes fires.
        let (a, b) = pair(
            &[],
            &[
                ("TcpExt", "IPReversePathFilter", 0, 500),
                ("Ip", "InReceives", 0, 1_000_000),
            ],
        );
        assert_eq!(
            run_window(rp_filter_drops, &a, &b, &host(), &Default::default()).len(),
            1
        );
    }

    #[test]
    fn rp_filter_share_boundary_since_boot() {
        // hotsos's openstack archive: 2,124 of 2,168,061 received (0.098 %) in 17 h 41 min
        // fires; 200 of them (0.0092 %, 0.003/s) does not.
        let run = |drops: i64| {
            let (a, mut b) = pair(
                &[("net.ipv4.conf.all.rp_filter", "2")],
                &[
                    ("TcpExt", "IPReversePathFilter", 0, drops),
                    ("Ip", "InReceives", 0, 2_168_061),
                ],
            );
            b.taken_at_ns = a.taken_at_ns + 63_660 * 1_000_000_000;
            run_window(rp_filter_drops, &a, &b, &host(), &Default::default())
        };
        assert_eq!(run(2124).len(), 1);
        assert!(run(200).is_empty());
    }

    #[test]
    fn checksum_errors_point_at_devices_with_rx_errors() {
        let mut fx = Fx::new(2);
        fx.netstat("Tcp", "InCsumErrors", 20.0)
            .netstat("Tcp", "InSegs", 1000.0)
            .netstat("Udp", "InCsumErrors", 5.0)
            .netstat("Udp", "InDatagrams", 100.0)
            .netdev(
                "eth0",
                NetDevRates {
                    rx_packets: 1000.0,
                    rx_errs: 3.0,
                    ..NetDevRates::default()
                },
            )
            .netdev("eth1", rx(1000.0));
        let f = fx.run(checksum_errors);
        let f = only(&f, ids::IP_CHECKSUM_ERRORS);
        // 25 / 1100 = 2.3 %.
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence(f, "Tcp.InCsumErrors", "host"), Some(20.0));
        assert_eq!(evidence(f, "Udp.InCsumErrors", "host"), Some(5.0));
        assert_eq!(evidence(f, "netdev.rx_errs+rx_frame", "eth0"), Some(3.0));
        assert!(evidence(f, "netdev.rx_errs+rx_frame", "eth1").is_none());
        assert_eq!(
            proposed(f, "eth0").map(|p| p.contains("ethtool -S")),
            Some(true)
        );
    }

    #[test]
    fn checksum_errors_quiet_when_flat_or_tiny() {
        let mut fx = Fx::new(2);
        fx.netstat("Tcp", "InCsumErrors", 0.0)
            .netstat("Tcp", "InSegs", 1000.0);
        assert!(fx.run(checksum_errors).is_empty());
        // 2 errors in the window: below the absolute count.
        let (a, b) = pair(
            &[],
            &[("Tcp", "InCsumErrors", 0, 2), ("Tcp", "InSegs", 0, 1000)],
        );
        assert!(run_window(checksum_errors, &a, &b, &host(), &Default::default()).is_empty());
        assert!(run_static(checksum_errors, &b, &host(), &Default::default()).is_empty());
    }
}
