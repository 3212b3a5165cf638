//! IP layer: reverse-path filter drops (`ip.rp_filter_drops`), checksum errors
//! (`ip.checksum_errors`) and fragment reassembly failures (`ip.frag_reassembly_fails`),
//! judged by count, share and rate ([`t::CountThreshold`]) so a live window and a
//! since-boot archive are judged alike; the IPv6 route (dst) cache against
//! `net.ipv6.route.max_size` (`ipv6.route_table_full`, from `/proc/net/rt6_stats` and the
//! kernel log).

use super::ids;
use super::thresholds as t;
use super::util::{counted, fmt_bytes, fmt_rate, fmt_share, sysctl, sysctl_u64, Counted};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;
use crate::collect::kmsg::LogEvent;

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
    Rule {
        name: ids::IP_FRAG_REASSEMBLY_FAILS,
        run: frag_reassembly_fails,
    },
    Rule {
        name: ids::IPV6_ROUTE_TABLE_FULL,
        run: route6_table_full,
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

// ---------------------------------------------------------------------------------------
// ip.frag_reassembly_fails

/// One IP family's reassembly sources.
struct Family {
    /// `IPv4` / `IPv6`, for the text.
    name: &'static str,
    /// Evidence scope.
    scope: &'static str,
    /// The snmp/snmp6 section of `ReasmFails`/`ReasmReqds`/`ReasmTimeout`.
    section: &'static str,
    /// The sockstat protocol whose `memory` (bytes) is the family's fragment memory.
    sockstat: &'static str,
    /// The memory limit (bytes).
    key: &'static str,
}

const FAMILIES: [Family; 2] = [
    Family {
        name: "IPv4",
        scope: "ipv4",
        section: "Ip",
        sockstat: "FRAG",
        key: "net.ipv4.ipfrag_high_thresh",
    },
    Family {
        name: "IPv6",
        scope: "ipv6",
        section: "Ip6",
        sockstat: "FRAG6",
        key: "net.ipv6.ip6frag_high_thresh",
    },
];

/// Why a family's reassembly fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FragCause {
    /// Fragment memory at or near the limit: `(memory, limit)`, bytes.
    Memory { memory: u64, limit: u64 },
    /// Memory well below the limit: fragments lost or late (timeouts, a path that drops
    /// some fragments): `(memory, limit)`, bytes.
    Lost { memory: u64, limit: u64 },
    /// The memory or the limit was not read.
    Unknown,
}

/// The fragment memory of a family (sockstat `memory`, bytes): the larger of the window's
/// two ends, since the failures happened between them.
fn frag_memory(ctx: &Context, proto: &str) -> Option<u64> {
    let get = |s: &crate::snapshot::Snapshot| -> Option<u64> {
        let m = *s.sockstat.ok()?.get(proto)?.get("memory")?;
        u64::try_from(m).ok()
    };
    // `None` orders below every `Some`: the larger known end.
    get(ctx.newer).max(ctx.window.and_then(|w| get(w.older)))
}

/// The proposed limit: `current` × [`t::FRAG_HIGH_THRESH_STEP`] rounded up to a MiB, at
/// least the kernel default, at most [`t::FRAG_HIGH_THRESH_CAP_BYTES`]; `None` when that is
/// not above `current` (already at the cap).
fn frag_limit_proposal(current: u64) -> Option<u64> {
    const MIB: u64 = 1 << 20;
    let doubled = current
        .saturating_mul(t::FRAG_HIGH_THRESH_STEP)
        .div_ceil(MIB)
        .saturating_mul(MIB);
    let v = doubled.clamp(
        t::FRAG_HIGH_THRESH_DEFAULT_BYTES,
        t::FRAG_HIGH_THRESH_CAP_BYTES,
    );
    (v > current).then_some(v)
}

fn frag_reassembly_fails(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    // The families that fail, with their counts and cause.
    let failing: Vec<(&Family, Counted, FragCause)> = FAMILIES
        .iter()
        .filter_map(|fam| {
            let c = counted(
                &w,
                &[(fam.section, "ReasmFails")],
                &[(fam.section, "ReasmReqds")],
            )?;
            if !c.fires(&t::FRAG_REASM_FAILS) {
                return None;
            }
            let cause = match (
                frag_memory(ctx, fam.sockstat),
                sysctl_u64(ctx.newer, fam.key),
            ) {
                (Some(memory), Some(limit))
                    if memory as f64 >= t::FRAG_MEM_NEAR_HIGH * limit as f64 =>
                {
                    FragCause::Memory { memory, limit }
                }
                (Some(memory), Some(limit)) => FragCause::Lost { memory, limit },
                _ => FragCause::Unknown,
            };
            Some((fam, c, cause))
        })
        .collect();
    if failing.is_empty() {
        return Vec::new();
    }
    // One metric for both families (scope `ipv4`/`ipv6`) first, so the symptom's size is
    // the failures of every family that fails.
    let mut evidence: Vec<Evidence> = failing
        .iter()
        .map(|(fam, c, _)| Evidence::new("ReasmFails", fam.scope, c.rate, "1/s"))
        .collect();
    let mut changes = Vec::new();
    let mut parts = Vec::new();
    let mut memory_bound = false;
    let mut lost = false;
    let mut critical = false;
    for (fam, c, cause) in &failing {
        if let Some(s) = c.share() {
            evidence.push(Evidence::new(
                "ReasmFails/ReasmReqds",
                fam.scope,
                s * 100.0,
                "%",
            ));
        }
        if let Some(r) = w
            .netstat_rate(fam.section, "ReasmTimeout")
            .filter(|r| *r > 0.0)
        {
            evidence.push(Evidence::new("ReasmTimeout", fam.scope, r, "1/s"));
        }
        if let FragCause::Memory { memory, limit } | FragCause::Lost { memory, limit } = cause {
            evidence.push(Evidence::new(
                &format!("sockstat.{}.memory", fam.sockstat),
                fam.scope,
                *memory as f64,
                "bytes",
            ));
            evidence.push(Evidence::new(fam.key, fam.scope, *limit as f64, "bytes"));
        }
        let share = c
            .share()
            .map(|s| format!(", {} of fragments", fmt_share(s)))
            .unwrap_or_default();
        match cause {
            FragCause::Memory { memory, limit } => {
                memory_bound = true;
                critical |= c
                    .share()
                    .is_some_and(|s| s >= t::FRAG_REASM_FAILS_CRIT_SHARE);
                parts.push(format!(
                    "{} {}/s{share}: fragment memory full ({} of {})",
                    fam.name,
                    fmt_rate(c.rate),
                    fmt_bytes(*memory as f64),
                    fmt_bytes(*limit as f64)
                ));
                let current = limit.to_string();
                match frag_limit_proposal(*limit) {
                    Some(new) => changes.push(Change::sysctl(
                        fam.key,
                        Some(current.as_str()),
                        new.to_string(),
                    )),
                    None => changes.push(Change::advice(
                        fam.key,
                        format!(
                            "{} is already at nettune's cap of {}: find what sends so many \
                             fragments (`ss -uam`, `tcpdump 'ip[6:2] & 0x3fff != 0'`) and \
                             avoid fragmenting (smaller datagrams, path MTU discovery, MSS \
                             clamping on tunnels)",
                            fam.key,
                            fmt_bytes(t::FRAG_HIGH_THRESH_CAP_BYTES as f64)
                        ),
                    )),
                }
            }
            FragCause::Lost { memory, limit } => {
                lost = true;
                parts.push(format!(
                    "{} {}/s{share}: fragments lost or late (memory {} of {})",
                    fam.name,
                    fmt_rate(c.rate),
                    fmt_bytes(*memory as f64),
                    fmt_bytes(*limit as f64)
                ));
            }
            FragCause::Unknown => {
                lost = true;
                parts.push(format!("{} {}/s{share}", fam.name, fmt_rate(c.rate)));
            }
        }
    }
    if lost {
        changes.push(Change::advice(
            "fragmentation",
            "avoid IP fragmentation instead of reassembling it: let path MTU discovery work \
             (do not filter ICMP `fragmentation needed` / ICMPv6 `packet too big`), clamp the \
             TCP MSS on tunnels and VPNs (`iptables -t mangle -A FORWARD -p tcp --tcp-flags \
             SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`), lower the MTU of tunnel devices, \
             and make UDP senders keep datagrams under the path MTU (DNS EDNS buffer 1232, \
             NFS over TCP); check the path for a device that drops fragments",
        ));
    }
    let severity = if critical {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let cause = match (memory_bound, lost) {
        (true, false) => {
            "The namespace's fragment memory is at its limit: above `ipfrag_high_thresh` \
             (`ip6frag_high_thresh` for IPv6) the kernel refuses every new fragment, so \
             datagrams arriving in fragments (UDP above the MTU, tunnels, IPsec, NFS) are \
             lost whole. Raising the limit lets the queues hold the fragments in flight; \
             bpftune's ip_frag_tuner raises the same key."
        }
        (false, _) => {
            "The fragment memory is well below its limit (or was not read), so the \
             failures are fragments that never complete their datagram: one fragment lost \
             on the path, fragments arriving later than `ipfrag_time` (30 s), or overlapping \
             and duplicate fragments. A larger memory limit would not help; fragmentation \
             itself is the problem."
        }
        (true, true) => {
            "One family's fragment memory is at its limit (above it the kernel refuses every \
             new fragment: the limit is raised); the other's is well below it, so its \
             failures are fragments lost or late on the path, which a larger limit would \
             not fix."
        }
    };
    vec![Finding {
        netns: None,
        id: ids::IP_FRAG_REASSEMBLY_FAILS.into(),
        severity,
        title: format!(
            "IP fragment reassembly fails and drops whole datagrams: {}",
            parts.join("; ")
        ),
        detail: format!(
            "A datagram larger than the path MTU arrives in fragments that the kernel queues \
             until all are there; a failed reassembly (`ReasmFails`) discards every fragment \
             of the datagram. {cause}"
        ),
        evidence,
        changes,
        risk: if memory_bound {
            format!(
                "fragment queues may pin up to the new limit of kernel memory per namespace \
                 and family, and a fragment flood (an attack sending incomplete datagrams) \
                 holds it for `ipfrag_time`; nettune never proposes more than {}",
                fmt_bytes(t::FRAG_HIGH_THRESH_CAP_BYTES as f64)
            )
        } else {
            "none from nettune; a lower MTU or MSS costs a little throughput".into()
        },
        verify: "Ip ReasmFails and Ip6 ReasmFails stop rising (nstat -az IpReasmFails \
                 Ip6ReasmFails); sockstat FRAG memory stays below ipfrag_high_thresh \
                 (cat /proc/net/sockstat /proc/net/sockstat6)"
            .into(),
    }]
}

// ---------------------------------------------------------------------------------------
// ipv6.route_table_full

/// The limit of the IPv6 dst cache.
const ROUTE6_MAX_SIZE: &str = "net.ipv6.route.max_size";

/// Whether kernel `release` (`uname -r`, `5.15.0-91-generic`) still enforces
/// `net.ipv6.route.max_size`: every kernel before [`t::ROUTE6_UNENFORCED_FROM`]. A release
/// that does not start with `MAJOR.MINOR` is taken to enforce it (old archives).
fn route6_max_size_enforced(release: &str) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor) < t::ROUTE6_UNENFORCED_FROM,
        _ => true,
    }
}

/// The proposed `net.ipv6.route.max_size`: [`t::ROUTE6_MAX_SIZE_STEP`] times the larger of
/// the current limit and the entries in use, rounded up to a power of two, at most
/// [`t::ROUTE6_MAX_SIZE_CAP`].
fn route6_proposed_max_size(current: u64, dst_entries: u64) -> u64 {
    current
        .max(dst_entries)
        .saturating_mul(t::ROUTE6_MAX_SIZE_STEP)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
        .min(t::ROUTE6_MAX_SIZE_CAP)
}

/// Kernels before 6.3 refuse a new IPv6 dst entry (a cached route: one per destination
/// the host sends to through a gateway with a PMTU or redirect exception, per-CPU copies,
/// uncached routes) once `dst_entries` stays above `net.ipv6.route.max_size` after a forced
/// garbage collection: `ip6_dst_gc` returns `entries > rt_max_size` and `dst_alloc` fails
/// with "Route cache is full: consider increasing sysctl net.ipv6.route.max_size.", and
/// the packet is dropped. `net.ipv6.route.gc_thresh` only decides when that collection starts
/// (`dst_alloc` calls it above `gc_thresh` entries); raising it does not stop the failure, so
/// only `max_size` is proposed. 6.3 made the limit `INT_MAX` and stopped enforcing it.
fn route6_table_full(ctx: &Context) -> Vec<Finding> {
    // The kernel log is the host's only: a namespace's part has none.
    let (mut lines, mut suppressed) = (0u64, 0u64);
    if let Some(log) = ctx.newer.kernel_log.ok() {
        for (e, n) in &super::kernel_log::tally(log).events {
            if matches!(e, LogEvent::Ipv6RouteCacheFull) {
                lines += n.count;
                suppressed += n.suppressed;
            }
        }
    }
    let stats = ctx.newer.rt6_stats.ok();
    let max_size = sysctl_u64(ctx.newer, ROUTE6_MAX_SIZE);
    let enforced = route6_max_size_enforced(&ctx.host.kernel);
    let fill = match (stats, max_size) {
        (Some(s), Some(m)) if m > 0 && enforced => Some(s.dst_entries as f64 / m as f64),
        _ => None,
    };
    let near = fill.is_some_and(|f| f >= t::ROUTE6_WARN_FILL);
    let full = fill.is_some_and(|f| f >= t::ROUTE6_CRIT_FILL);
    if !near && lines == 0 {
        return Vec::new();
    }
    // Routes removed from the FIB in the window (`fib6_del_route`: expired RA routes and
    // the forced collections' victims among them). Not a sign of a full cache by itself:
    // it only makes a near-full cache critical.
    let discarded = ctx.window.and_then(|w| {
        let (old, new) = (w.older.rt6_stats.ok()?, w.newer.rt6_stats.ok()?);
        Some(crate::window::delta_u64(
            old.fib_discarded_routes,
            new.fib_discarded_routes,
        ))
    });
    let severity = if full || lines > 0 || (near && discarded.is_some_and(|d| d > 0)) {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut evidence = Vec::new();
    if let Some(f) = fill {
        evidence.push(Evidence::new(
            "rt6_stats.dst_entries/max_size",
            "host",
            f * 100.0,
            "%",
        ));
    }
    if let Some(s) = stats {
        evidence.push(Evidence::new(
            "rt6_stats.dst_entries",
            "host",
            s.dst_entries as f64,
            "entries",
        ));
    }
    if let Some(m) = max_size {
        evidence.push(Evidence::new(ROUTE6_MAX_SIZE, "host", m as f64, "entries"));
    }
    if let Some(d) = discarded.filter(|d| *d > 0) {
        evidence.push(Evidence::new(
            "rt6_stats.fib_discarded_routes",
            "host",
            d as f64,
            "routes",
        ));
    }
    if lines > 0 {
        evidence.push(Evidence::new(
            "kernel_log.route_cache_full",
            "host",
            lines as f64,
            "lines",
        ));
    }
    if suppressed > 0 {
        evidence.push(Evidence::new(
            "kernel_log.callbacks_suppressed",
            "host",
            suppressed as f64,
            "lines",
        ));
    }
    let dst = stats.map(|s| s.dst_entries);
    let mut changes = Vec::new();
    if let Some(m) = max_size {
        let want = route6_proposed_max_size(m, dst.unwrap_or(0));
        if want > m {
            changes.push(Change::sysctl(
                ROUTE6_MAX_SIZE,
                sysctl(ctx.newer, ROUTE6_MAX_SIZE),
                want.to_string(),
            ));
        }
    }
    changes.push(Change::advice(
        "IPv6 route cache entries",
        "many cached IPv6 routes come from many destinations behind a gateway with PMTU or \
         redirect exceptions (`ip -6 route show cache | wc -l`), or from a flood of new \
         destinations (a scan, a DDoS); a kernel from 6.3 on has no such limit",
    ));
    let title = match (fill, dst, max_size) {
        (Some(f), Some(d), Some(m)) if near => format!(
            "The IPv6 route cache holds {d} of net.ipv6.route.max_size = {m} entries ({}): {}",
            fmt_share(f),
            if full {
                "new IPv6 routes are refused and their packets dropped"
            } else {
                "new IPv6 destinations will be refused soon"
            }
        ),
        _ => format!(
            "The kernel logged \"Route cache is full\" {lines} times{}: IPv6 packets to new \
             destinations were dropped",
            ctx.newer
                .kernel_log
                .ok()
                .map(|l| match l.span {
                    crate::collect::kmsg::LogSpan::Window => " during the window",
                    crate::collect::kmsg::LogSpan::Boot => " since boot",
                    crate::collect::kmsg::LogSpan::File => " in the archive's kernel log",
                })
                .unwrap_or_default()
        ),
    };
    let suppressed_note = if suppressed > 0 {
        format!(
            " The rate limiter suppressed {suppressed} more messages: the real count is higher."
        )
    } else {
        String::new()
    };
    vec![Finding {
        netns: None,
        id: ids::IPV6_ROUTE_TABLE_FULL.into(),
        severity,
        title,
        detail: format!(
            "Every IPv6 route the kernel hands to a packet or socket is a dst entry \
             (rt6_stats dst_entries). Before Linux 6.3, once they stay above \
             net.ipv6.route.max_size (default 4096) after a forced garbage collection, \
             dst_alloc fails (\"Route cache is full: consider increasing sysctl \
             net.ipv6.route.max_size\") and the packet is dropped: new connections and \
             datagrams to new destinations fail while old ones keep working. \
             net.ipv6.route.gc_thresh only decides when that collection starts, so raising it \
             does not help.{suppressed_note}"
        ),
        evidence,
        changes,
        risk: "each dst entry is a few hundred bytes of kernel memory: a larger limit lets a \
               flood of new destinations use more of it before collection catches up"
            .into(),
        verify: "dst_entries in /proc/net/rt6_stats (6th hex field) stays below \
                 net.ipv6.route.max_size and no new \"Route cache is full\" appears in the \
                 kernel log"
            .into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;
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
    /// Fragment memory `(proto, bytes)` in both snapshots.
    fn frag_mem(fx: &mut Fx, proto: &str, bytes: i64) {
        set_sockstat(&mut fx.older, &[(proto, "memory", bytes)]);
        set_sockstat(&mut fx.newer, &[(proto, "memory", bytes)]);
    }

    #[test]
    fn frag_fails_at_the_memory_limit_double_it() {
        let mut fx = Fx::new(2);
        fx.netstat("Ip", "ReasmFails", 40.0)
            .netstat("Ip", "ReasmReqds", 1000.0)
            .sysctl("net.ipv4.ipfrag_high_thresh", "4194304");
        frag_mem(&mut fx, "FRAG", 4_190_000);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert_eq!(f.severity, Severity::Warning, "4 % of fragments");
        assert_eq!(evidence(f, "ReasmFails", "ipv4"), Some(40.0));
        assert_eq!(evidence(f, "ReasmFails/ReasmReqds", "ipv4"), Some(4.0));
        assert_eq!(
            evidence(f, "sockstat.FRAG.memory", "ipv4"),
            Some(4_190_000.0)
        );
        assert_eq!(
            evidence(f, "net.ipv4.ipfrag_high_thresh", "ipv4"),
            Some(4_194_304.0)
        );
        assert!(f.evidence.iter().all(|e| !e.unit.is_empty()));
        assert_eq!(proposed(f, "net.ipv4.ipfrag_high_thresh"), Some("8388608"));
        let c = f
            .changes
            .iter()
            .find(|c| c.target == "net.ipv4.ipfrag_high_thresh")
            .unwrap();
        assert_eq!(c.current.as_deref(), Some("4194304"));
        assert!(proposed(f, "fragmentation").is_none(), "{:?}", f.changes);
        assert!(f.title.contains("fragment memory full"), "{}", f.title);
        // A tenth of the fragments failing at the limit is critical; an odd limit is doubled
        // and rounded up to a MiB.
        fx.netstat("Ip", "ReasmFails", 200.0)
            .sysctl("net.ipv4.ipfrag_high_thresh", "3000000");
        frag_mem(&mut fx, "FRAG", 2_500_000);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(proposed(f, "net.ipv4.ipfrag_high_thresh"), Some("6291456"));
    }

    #[test]
    fn frag_fails_with_memory_low_are_advice_only() {
        let mut fx = Fx::new(2);
        fx.netstat("Ip", "ReasmFails", 5.0)
            .netstat("Ip", "ReasmReqds", 1000.0)
            .netstat("Ip", "ReasmTimeout", 5.0)
            .sysctl("net.ipv4.ipfrag_high_thresh", "4194304");
        frag_mem(&mut fx, "FRAG", 100_000);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert_eq!(f.severity, Severity::Warning);
        assert!(proposed(f, "net.ipv4.ipfrag_high_thresh").is_none());
        assert!(f.changes.iter().all(|c| c.kind == ChangeKind::Advice));
        let advice = proposed(f, "fragmentation").expect("advice");
        assert!(
            advice.contains("path MTU") && advice.contains("MSS"),
            "{advice}"
        );
        assert_eq!(evidence(f, "ReasmTimeout", "ipv4"), Some(5.0));
        assert_eq!(evidence(f, "sockstat.FRAG.memory", "ipv4"), Some(100_000.0));
        assert!(f.title.contains("lost or late"), "{}", f.title);
        // Without the memory or the limit read, the cause is not the limit either.
        let mut fx = Fx::new(2);
        fx.netstat("Ip", "ReasmFails", 5.0);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert!(f.changes.iter().all(|c| c.kind == ChangeKind::Advice));
    }

    #[test]
    fn frag_fails_quiet_when_few_or_rare() {
        // 5 failures in the window: below the count.
        let (mut a, mut b) = pair(
            &[("net.ipv4.ipfrag_high_thresh", "4194304")],
            &[("Ip", "ReasmFails", 0, 5), ("Ip", "ReasmReqds", 0, 100)],
        );
        set_sockstat(&mut a, &[("FRAG", "memory", 4_194_304)]);
        set_sockstat(&mut b, &[("FRAG", "memory", 4_194_304)]);
        assert!(run_window(frag_reassembly_fails, &a, &b, &host(), &Default::default()).is_empty());
        // 500 failures among 10^8 fragments over a day: 0.0005 %, 0.006/s.
        let (a, mut b) = pair(
            &[],
            &[
                ("Ip", "ReasmFails", 0, 500),
                ("Ip", "ReasmReqds", 0, 100_000_000),
            ],
        );
        b.taken_at_ns = a.taken_at_ns + 86_400 * 1_000_000_000;
        assert!(run_window(frag_reassembly_fails, &a, &b, &host(), &Default::default()).is_empty());
        // No window: counters say nothing.
        let mut fx = Fx::new(2);
        fx.netstat("Ip", "ReasmFails", 50.0);
        assert!(fx.run_static(frag_reassembly_fails).is_empty());
        // Flat counters.
        fx.netstat("Ip", "ReasmFails", 0.0)
            .netstat("Ip6", "ReasmFails", 0.0);
        assert!(fx.run(frag_reassembly_fails).is_empty());
    }

    #[test]
    fn frag_fails_ipv6_uses_snmp6_and_its_own_limit() {
        let mut fx = Fx::new(2);
        fx.netstat("Ip6", "ReasmFails", 20.0)
            .netstat("Ip6", "ReasmReqds", 500.0)
            .netstat("Ip", "ReasmFails", 0.0)
            .netstat("Ip", "ReasmReqds", 500.0)
            .sysctl("net.ipv4.ipfrag_high_thresh", "4194304")
            .sysctl("net.ipv6.ip6frag_high_thresh", "4194304");
        frag_mem(&mut fx, "FRAG", 0);
        frag_mem(&mut fx, "FRAG6", 4_000_000);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert_eq!(evidence(f, "ReasmFails", "ipv6"), Some(20.0));
        assert!(evidence(f, "ReasmFails", "ipv4").is_none());
        assert_eq!(
            evidence(f, "sockstat.FRAG6.memory", "ipv6"),
            Some(4_000_000.0)
        );
        assert_eq!(proposed(f, "net.ipv6.ip6frag_high_thresh"), Some("8388608"));
        assert!(proposed(f, "net.ipv4.ipfrag_high_thresh").is_none());
        // Both families: IPv4 full, IPv6 low: one sysctl and the advice.
        fx.netstat("Ip", "ReasmFails", 30.0);
        frag_mem(&mut fx, "FRAG", 4_194_304);
        frag_mem(&mut fx, "FRAG6", 1000);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert_eq!(proposed(f, "net.ipv4.ipfrag_high_thresh"), Some("8388608"));
        assert!(proposed(f, "net.ipv6.ip6frag_high_thresh").is_none());
        assert!(proposed(f, "fragmentation").is_some());
        // The symptom's first metric sums both families (autotune's magnitude).
        assert_eq!(f.evidence[0].metric, "ReasmFails");
        assert_eq!(f.evidence[1].metric, "ReasmFails");
    }

    #[test]
    fn frag_limit_at_the_cap_is_not_raised() {
        let cap = t::FRAG_HIGH_THRESH_CAP_BYTES;
        assert_eq!(frag_limit_proposal(cap), None);
        assert_eq!(frag_limit_proposal(cap + 1), None);
        assert_eq!(frag_limit_proposal(48 << 20), Some(cap));
        assert_eq!(
            frag_limit_proposal(0),
            Some(t::FRAG_HIGH_THRESH_DEFAULT_BYTES)
        );
        assert_eq!(frag_limit_proposal(u64::MAX), None);
        let mut fx = Fx::new(2);
        fx.netstat("Ip", "ReasmFails", 40.0)
            .netstat("Ip", "ReasmReqds", 1000.0)
            .sysctl("net.ipv4.ipfrag_high_thresh", &cap.to_string());
        frag_mem(&mut fx, "FRAG", cap as i64);
        let f = fx.run(frag_reassembly_fails);
        let f = only(&f, ids::IP_FRAG_REASSEMBLY_FAILS);
        assert!(
            f.changes.iter().all(|c| c.kind == ChangeKind::Advice),
            "{:?}",
            f.changes
        );
        let advice = proposed(f, "net.ipv4.ipfrag_high_thresh").expect("advice at the cap");
        assert!(advice.contains("cap"), "{advice}");
    }

    fn rt6(
        dst_entries: u64,
        discarded: u64,
    ) -> crate::collect::Source<crate::collect::route6::Rt6Stats> {
        crate::collect::Source::Ok(crate::collect::route6::Rt6Stats {
            fib_nodes: 9,
            fib_route_nodes: 6,
            fib_rt_alloc: 33,
            fib_rt_entries: 7,
            fib_rt_cache: 0,
            dst_entries,
            fib_discarded_routes: discarded,
        })
    }

    /// A kernel before 6.3 with `max_size` and the dst entries of both snapshots.
    fn route6_fx(max_size: &str, older: (u64, u64), newer: (u64, u64)) -> Fx {
        let mut fx = Fx::new(2);
        fx.host.kernel = "5.15.0-91-generic".into();
        fx.sysctl("net.ipv6.route.max_size", max_size);
        fx.older.rt6_stats = rt6(older.0, older.1);
        fx.newer.rt6_stats = rt6(newer.0, newer.1);
        fx
    }

    fn route_log(fx: &mut Fx, lines: &[&str]) {
        use crate::collect::kmsg::{KernelLog, LogRecord, LogSpan};
        let mut log = KernelLog::new(LogSpan::Window);
        for m in lines {
            log.offer(LogRecord {
                seq: None,
                ts_usec: None,
                priority: None,
                message: (*m).into(),
            });
        }
        fx.newer.kernel_log = crate::collect::Source::Ok(log);
    }

    #[test]
    fn route6_near_full_warns_and_doubles_max_size() {
        let fx = route6_fx("4096", (3500, 10), (3800, 10));
        let f = fx.run(route6_table_full);
        let f = only(&f, ids::IPV6_ROUTE_TABLE_FULL);
        assert_eq!(f.severity, Severity::Warning);
        let fill = evidence(f, "rt6_stats.dst_entries/max_size", "host").unwrap();
        assert!((fill - 92.77).abs() < 0.01, "{fill}");
        assert_eq!(f.evidence[0].unit, "%");
        assert_eq!(evidence(f, "rt6_stats.dst_entries", "host"), Some(3800.0));
        assert_eq!(evidence(f, "net.ipv6.route.max_size", "host"), Some(4096.0));
        assert_eq!(proposed(f, "net.ipv6.route.max_size"), Some("8192"));
        assert!(
            f.title.contains("3800 of net.ipv6.route.max_size = 4096"),
            "{}",
            f.title
        );
        assert!(f.detail.contains("gc_thresh"));
        assert!(proposed(f, "net.ipv6.route.gc_thresh").is_none());
    }

    #[test]
    fn route6_critical_at_full_or_when_routes_are_discarded() {
        // At the limit: critical; the proposal doubles the larger of limit and entries.
        let fx = route6_fx("4096", (4000, 0), (5000, 0));
        let f = fx.run(route6_table_full);
        let f = only(&f, ids::IPV6_ROUTE_TABLE_FULL);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(proposed(f, "net.ipv6.route.max_size"), Some("16384"));
        assert!(f.title.contains("refused"), "{}", f.title);
        // Near full and the FIB discarded routes in the window: critical too.
        let fx = route6_fx("4096", (3700, 100), (3700, 140));
        let f = fx.run(route6_table_full);
        let f = only(&f, ids::IPV6_ROUTE_TABLE_FULL);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(
            evidence(f, "rt6_stats.fib_discarded_routes", "host"),
            Some(40.0)
        );
        // Discarded routes alone (a cache far from full) are routine route churn: quiet.
        let fx = route6_fx("4096", (100, 100), (100, 900));
        assert!(fx.run(route6_table_full).is_empty());
        // Never above the cap, and nothing proposed once there.
        let fx = route6_fx("1048576", (1_048_000, 0), (1_048_000, 0));
        let f = fx.run(route6_table_full);
        let f = only(&f, ids::IPV6_ROUTE_TABLE_FULL);
        assert!(
            proposed(f, "net.ipv6.route.max_size").is_none(),
            "{:?}",
            f.changes
        );
        assert_eq!(route6_proposed_max_size(900_000, 0), t::ROUTE6_MAX_SIZE_CAP);
        assert_eq!(
            route6_proposed_max_size(u64::MAX, u64::MAX),
            t::ROUTE6_MAX_SIZE_CAP
        );
    }

    #[test]
    fn route6_quiet_far_below_unlimited_or_unenforced() {
        assert!(route6_fx("4096", (100, 0), (120, 0))
            .run(route6_table_full)
            .is_empty());
        // The 6.3+ default.
        assert!(route6_fx("2147483647", (5000, 0), (9000, 0))
            .run(route6_table_full)
            .is_empty());
        // 6.3+ does not enforce the limit at all, even when set low.
        let mut fx = route6_fx("4096", (4000, 0), (5000, 0));
        fx.host.kernel = "6.8.0-45-generic".into();
        assert!(fx.run(route6_table_full).is_empty());
        // Without the source or the sysctl: nothing to judge.
        let mut fx = route6_fx("4096", (4000, 0), (5000, 0));
        fx.newer.rt6_stats = crate::collect::Source::unsupported("no IPv6");
        assert!(fx.run(route6_table_full).is_empty());
        assert!(route6_max_size_enforced("4.18.0-553.el8_10.x86_64"));
        assert!(route6_max_size_enforced("6.2.16"));
        assert!(!route6_max_size_enforced("6.3.0"));
        assert!(!route6_max_size_enforced("6.18.0"));
        assert!(route6_max_size_enforced(""));
        // Another namespace's limit is read in it, not taken from the host.
        assert!(crate::collect::sysctl::NETNS_FILES.contains(&"net/ipv6/route/max_size"));
    }

    #[test]
    fn route6_fires_from_the_kernel_log_line_with_its_count() {
        let mut fx = route6_fx("4096", (200, 0), (210, 0));
        route_log(
            &mut fx,
            &[
                "Route cache is full: consider increasing sysctl net.ipv6.route.max_size.",
                "dst_alloc: 7 callbacks suppressed",
                "Route cache is full: consider increasing sysctl net.ipv6.route.max_size.",
                "eth0: link up",
            ],
        );
        let f = fx.run(route6_table_full);
        let f = only(&f, ids::IPV6_ROUTE_TABLE_FULL);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(
            evidence(f, "kernel_log.route_cache_full", "host"),
            Some(2.0)
        );
        assert_eq!(
            evidence(f, "kernel_log.callbacks_suppressed", "host"),
            Some(7.0)
        );
        assert!(f.title.contains("2 times during the window"), "{}", f.title);
        assert!(f.detail.contains("real count is higher"));
        assert_eq!(proposed(f, "net.ipv6.route.max_size"), Some("8192"));
        // The log alone fires it, without rt6_stats.
        fx.newer.rt6_stats = crate::collect::Source::unsupported("not in archive");
        let f = fx.run_static(route6_table_full);
        assert_eq!(
            only(&f, ids::IPV6_ROUTE_TABLE_FULL).severity,
            Severity::Critical
        );
    }
}
