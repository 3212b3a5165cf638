//! Parsers of the command outputs a support archive holds where proc files are missing:
//! `uptime`, `uname -a`, `date`, `sysctl -a`, `ip -s [-s] [-d] link`, `nstat -zas`,
//! `netstat -s`, `ss -peaonmi` and ethtool's `-g`/`-l`/`-c`/`-k` text. Each takes text and
//! never panics: what does not parse is skipped (with a warning where a caller can use one).

use crate::collect::interfaces::{Interface, InterfaceKind, Interfaces, RxQueue, TxQueue};
use crate::collect::netdev::{NetDev, NetDevCounters};
use crate::collect::snmp::{split_snmp6_name, NetStat};
use crate::collect::sockets::{
    DestinationCount, Listener, Owner, Sockets, TcpStates, UdpSocket, UdpSummary, TOP_N,
};
use crate::collect::sysctl::{fold_value, Sysctls};
use crate::collect::{Source, Warnings};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Seconds since boot from `uptime` output (` 09:39:55 up 11:01,  1 user, …`, `up 25 min`,
/// `up 3 days, 2:04`, `up 1 day, 5 min`) or from `/proc/uptime` (`12345.67 890.12`).
pub fn parse_uptime(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    if let Some(first) = line.split_ascii_whitespace().next() {
        if let Ok(secs) = first.parse::<f64>() {
            return (secs.is_finite() && secs >= 0.0).then_some(secs as u64);
        }
    }
    let rest = &line[line
        .find(" up ")
        .map(|i| i + 4)
        .or_else(|| line.starts_with("up ").then_some(3))?..];
    let mut total: u64 = 0;
    let mut found = false;
    for part in rest.split(',') {
        let part = part.trim();
        if part.contains("user") || part.starts_with("load average") {
            break;
        }
        let mut words = part.split_ascii_whitespace();
        let Some(first) = words.next() else { continue };
        let unit = words.next().unwrap_or("");
        if let Some((h, m)) = first.split_once(':') {
            let (Ok(h), Ok(m)) = (h.parse::<u64>(), m.parse::<u64>()) else {
                break;
            };
            total = total.saturating_add(h * 3600 + m * 60);
            found = true;
            continue;
        }
        let Ok(n) = first.parse::<u64>() else { break };
        let mult = match unit {
            u if u.starts_with("day") => 86_400,
            u if u.starts_with("hr") || u.starts_with("hour") => 3600,
            u if u.starts_with("min") => 60,
            u if u.starts_with("sec") => 1,
            _ => break,
        };
        total = total.saturating_add(n.saturating_mul(mult));
        found = true;
    }
    found.then_some(total)
}

/// `(hostname, kernel release)` from `uname -a` (`Linux host 5.4.0-97-generic #110 …`).
pub fn parse_uname(text: &str) -> Option<(String, String)> {
    let mut w = text.lines().next()?.split_ascii_whitespace();
    let _system = w.next()?;
    let host = w.next()?.to_string();
    let kernel = w.next()?.to_string();
    Some((host, kernel))
}

/// Seconds since the Unix epoch of `date` output in UTC (`Thu Feb 10 09:39:52 UTC 2022`);
/// `None` for another zone or shape (the text is still shown as it is).
pub fn parse_date_utc(text: &str) -> Option<i64> {
    let w: Vec<&str> = text.lines().next()?.split_ascii_whitespace().collect();
    // weekday month day time zone year
    let [_, month, day, time, zone, year] = w.as_slice() else {
        return None;
    };
    if !matches!(*zone, "UTC" | "GMT") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? as i64 + 1;
    let d: i64 = day.parse().ok()?;
    let y: i64 = year.parse().ok()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    if !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether a dotted sysctl name is one of the trees a live snapshot reads
/// (`collect::sysctl::TREES` and `FILES`).
fn sysctl_wanted(key: &str) -> bool {
    ["net.core.", "net.ipv4.", "net.ipv6.", "net.netfilter."]
        .iter()
        .any(|p| key.starts_with(p))
        || matches!(key, "fs.file-nr" | "fs.file-max")
}

/// `sysctl -a` output (`net.core.somaxconn = 4096`) as the sysctls a live snapshot reads;
/// `sysctl: permission denied …` and other lines without ` = ` are skipped.
pub fn parse_sysctl_a(text: &str) -> Sysctls {
    text.lines()
        .filter_map(|l| l.split_once(" = ").or_else(|| l.split_once('=')))
        .map(|(k, v)| (k.trim(), v))
        .filter(|(k, _)| sysctl_wanted(k))
        .map(|(k, v)| (k.to_string(), fold_value(v)))
        .collect()
}

/// `ip -s [-s] [-d] link` output as `/proc/net/dev` counters. The kernel's `/proc/net/dev`
/// `drop` column is `dropped + missed`, `frame` is length + overrun + crc + frame errors
/// and `fifo` the FIFO errors: from `-s -s`'s error lines when present, else `overrun`
/// counts as a frame error.
pub fn parse_ip_link(text: &str, warnings: &mut Warnings) -> Source<NetDev> {
    let mut out = NetDev::new();
    let mut dev: Option<String> = None;
    let mut header: Option<(bool, Vec<String>)> = None;
    let mut rx_first: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if !line.starts_with(char::is_whitespace) {
            // `2: eth0@if14: <BROADCAST,…> mtu 1500 …`
            let mut parts = t.splitn(3, ": ");
            let idx = parts.next().unwrap_or("");
            let name = parts.next();
            dev = match (idx.parse::<u32>(), name) {
                (Ok(_), Some(n)) if !n.is_empty() => {
                    let n = n.split('@').next().unwrap_or(n).to_string();
                    out.entry(n.clone()).or_default();
                    Some(n)
                }
                _ => None,
            };
            header = None;
            rx_first.clear();
            continue;
        }
        let Some(name) = &dev else { continue };
        if let Some(rest) = t.strip_prefix("RX").or_else(|| t.strip_prefix("TX")) {
            let rx = t.starts_with("RX");
            if let Some(cols) = rest.strip_prefix(':') {
                // `RX:  bytes packets …` or `RX errors: length crc …` (after `-s -s`)
                header = Some((
                    rx,
                    cols.split_ascii_whitespace().map(str::to_string).collect(),
                ));
                continue;
            }
            if let Some(cols) = rest.strip_prefix(" errors:") {
                header = Some((
                    rx,
                    cols.split_ascii_whitespace()
                        .map(|c| format!("err_{c}"))
                        .collect(),
                ));
                continue;
            }
        }
        let Some((rx, cols)) = header.take() else {
            continue;
        };
        let values: Vec<Option<u64>> = t.split_ascii_whitespace().map(|v| v.parse().ok()).collect();
        if values.len() < cols.len().min(2) || values.iter().any(Option::is_none) {
            warnings.push(
                "ip -s link",
                Some(i + 1),
                format!("{name}: counters line {t:?} does not match its header"),
            );
            continue;
        }
        if rx && !cols.iter().any(|c| c.starts_with("err_")) {
            rx_first = cols.clone();
        }
        let c = out.entry(name.clone()).or_default();
        for (col, v) in cols.iter().zip(values.into_iter().flatten()) {
            // `-s -s` repeats `missed` or `overrun` of the first line: count each once.
            let repeated = col
                .strip_prefix("err_")
                .is_some_and(|base| rx_first.iter().any(|f| f == base));
            if !repeated {
                apply_ip_counter(c, rx, col, v);
            }
        }
    }
    if out.is_empty() {
        return Source::error("ip -s link: no interface found");
    }
    Source::Ok(out)
}

/// The device kind `ip -d link` names on the line after `link/…` (`veth`, `bridge`,
/// `vxlan id 42 …`, `tun type tap …`); `None` for role words such as `bridge_slave`.
fn ip_kind(words: &[&str]) -> Option<InterfaceKind> {
    use InterfaceKind as K;
    Some(match *words.first()? {
        "veth" => K::Veth,
        "bridge" => K::Bridge,
        "bond" => K::Bond,
        "vlan" => K::Vlan,
        "macvlan" | "macvtap" => K::Macvlan,
        "ipvlan" | "ipvtap" => K::Ipvlan,
        "vxlan" => K::Vxlan,
        "wireguard" => K::Wireguard,
        "tun" if words.windows(2).any(|w| w == ["type", "tap"]) => K::Tap,
        "tun" => K::Tun,
        "ipip" | "sit" | "gre" | "gretap" | "ip6tnl" | "ip6gre" | "ip6gretap" | "geneve" => {
            K::Tunnel
        }
        "ifb" => K::Ifb,
        "dummy" => K::Dummy,
        "openvswitch" => K::Virtual,
        _ => return None,
    })
}

/// `ip -d link` (also with `-s`) as interface facts: index, kind (from `-d`'s kind line, or
/// loopback), MTU, `qlen`, state, address and the queue counts (`numrxqueues`,
/// `numtxqueues`; RPS/XPS masks unknown). A device without a kind line is [`InterfaceKind::
/// Virtual`] until its ethtool `bus-info` shows a bus device.
pub fn parse_ip_link_config(text: &str) -> Interfaces {
    let mut out = Interfaces::new();
    let mut cur: Option<String> = None;
    let mut after_link = false;
    for line in text.lines() {
        let w: Vec<&str> = line.split_ascii_whitespace().collect();
        if !line.starts_with(char::is_whitespace) {
            let mut parts = line.trim().splitn(3, ": ");
            let (Some(idx), Some(name)) = (parts.next(), parts.next()) else {
                cur = None;
                continue;
            };
            let (Ok(index), false) = (idx.parse::<u32>(), name.is_empty()) else {
                cur = None;
                continue;
            };
            let name = name.split('@').next().unwrap_or(name).to_string();
            let after = |key: &str| w.windows(2).find(|p| p[0] == key).map(|p| p[1].to_string());
            let i = Interface {
                ifindex: Some(index),
                mtu: after("mtu").and_then(|v| v.parse().ok()),
                tx_queue_len: after("qlen").and_then(|v| v.parse().ok()),
                operstate: after("state").map(|s| s.to_ascii_lowercase()),
                ..Interface::default()
            };
            out.insert(name.clone(), i);
            cur = Some(name);
            after_link = false;
            continue;
        }
        let Some(i) = cur.as_ref().and_then(|n| out.get_mut(n)) else {
            continue;
        };
        if let Some(kind) = w.first().and_then(|f| f.strip_prefix("link/")) {
            i.link_type = match kind {
                "loopback" => Some(772),
                "ether" => Some(1),
                "none" => Some(65534),
                _ => None,
            };
            if kind == "loopback" {
                i.kind = InterfaceKind::Loopback;
            }
            i.address = w.get(1).map(|a| a.to_string());
            after_link = true;
        } else if after_link {
            if let Some(k) = ip_kind(&w) {
                i.kind = k;
            }
            after_link = false;
        }
        for p in w.windows(2) {
            let n = p[1].parse::<u32>().ok();
            match (p[0], n) {
                ("numrxqueues", Some(n)) => {
                    i.rx_queues = (0..n.min(4096))
                        .map(|index| RxQueue {
                            index,
                            ..RxQueue::default()
                        })
                        .collect()
                }
                ("numtxqueues", Some(n)) => {
                    i.tx_queues = (0..n.min(4096))
                        .map(|index| TxQueue {
                            index,
                            ..TxQueue::default()
                        })
                        .collect()
                }
                _ => {}
            }
        }
    }
    out
}

fn apply_ip_counter(c: &mut NetDevCounters, rx: bool, col: &str, v: u64) {
    match (rx, col) {
        (true, "bytes") => c.rx_bytes = v,
        (true, "packets") => c.rx_packets = v,
        (true, "errors") => c.rx_errs = v,
        (true, "dropped") | (true, "missed") | (true, "err_missed") => {
            c.rx_drop = c.rx_drop.saturating_add(v)
        }
        (true, "overrun") | (true, "err_overrun") => c.rx_frame = c.rx_frame.saturating_add(v),
        (true, "mcast") => c.rx_multicast = v,
        (true, "err_length") | (true, "err_crc") | (true, "err_frame") => {
            c.rx_frame = c.rx_frame.saturating_add(v)
        }
        (true, "err_fifo") => c.rx_fifo = v,
        (false, "bytes") => c.tx_bytes = v,
        (false, "packets") => c.tx_packets = v,
        (false, "errors") => c.tx_errs = v,
        (false, "dropped") => c.tx_drop = v,
        (false, "carrier") => c.tx_carrier = v,
        (false, "collsns") => c.tx_colls = v,
        (false, "err_fifo") => c.tx_fifo = v,
        _ => {}
    }
}

/// Section names of `nstat` counter names, longest first so `TcpExt` wins over `Tcp`.
const NSTAT_SECTIONS: [&str; 12] = [
    "MPTcpExt", "UdpLite", "IcmpMsg", "TcpExt", "IpExt", "Icmp", "Tcp", "Udp", "Ip", "Sctp",
    "XfrmIn", "XfrmOut",
];

/// `nstat -zas` / `nstat -az` output (`TcpExtListenOverflows  12  0.0`) as the netstat
/// source: `IpExtInOctets` → `IpExt`/`InOctets`, `Ip6InReceives` → `Ip6`/`InReceives`.
pub fn parse_nstat(text: &str, warnings: &mut Warnings) -> Source<NetStat> {
    let mut out = NetStat::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut w = t.split_ascii_whitespace();
        let (Some(name), Some(value)) = (w.next(), w.next()) else {
            continue;
        };
        let Ok(v) = value.parse::<i64>() else {
            warnings.push("nstat", Some(i + 1), format!("{name}: value {value:?}"));
            continue;
        };
        let split = split_snmp6_name(name).or_else(|| {
            NSTAT_SECTIONS
                .iter()
                .find(|s| {
                    name.strip_prefix(**s)
                        .is_some_and(|f| f.starts_with(|c: char| c.is_ascii_uppercase()))
                })
                .map(|s| name.split_at(s.len()))
        });
        match split {
            Some((section, field)) => {
                out.entry(section.to_string())
                    .or_default()
                    .insert(field.to_string(), v);
            }
            None => warnings.push("nstat", Some(i + 1), format!("{name}: unknown section")),
        }
    }
    if out.is_empty() {
        return Source::error("nstat: no counter found");
    }
    Source::Ok(out)
}

/// Phrases `netstat -s` prints instead of counter names: (section, phrase after the number,
/// counter). Counters it prints by name (`InCsumErrors: 3`) are read directly.
const NETSTAT_PHRASES: [(&str, &str, &str); 17] = [
    ("Ip", "total packets received", "InReceives"),
    ("Ip", "incoming packets discarded", "InDiscards"),
    ("Ip", "outgoing packets dropped", "OutDiscards"),
    ("Tcp", "segments received", "InSegs"),
    ("Tcp", "segments sent out", "OutSegs"),
    ("Tcp", "segments retransmitted", "RetransSegs"),
    ("Tcp", "segments retransmited", "RetransSegs"),
    ("Tcp", "bad segments received", "InErrs"),
    ("Udp", "packets received", "InDatagrams"),
    ("Udp", "packets to unknown port received", "NoPorts"),
    ("Udp", "packet receive errors", "InErrors"),
    ("Udp", "packets sent", "OutDatagrams"),
    ("Udp", "receive buffer errors", "RcvbufErrors"),
    ("Udp", "send buffer errors", "SndbufErrors"),
    (
        "TcpExt",
        "times the listen queue of a socket overflowed",
        "ListenOverflows",
    ),
    ("TcpExt", "SYNs to LISTEN sockets dropped", "ListenDrops"),
    (
        "TcpExt",
        "packets pruned from receive queue because of socket buffer overrun",
        "PruneCalled",
    ),
];

/// `netstat -s` output, for the counters it names (`InCsumErrors: 3`) and the phrases of
/// [`NETSTAT_PHRASES`]; other lines are not counters nettune reads and are skipped.
pub fn parse_netstat_s(text: &str) -> Source<NetStat> {
    let mut out = NetStat::new();
    let mut section = String::new();
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            if let Some(s) = line.trim().strip_suffix(':') {
                section = s.to_string();
            }
            continue;
        }
        let t = line.trim();
        if let Some((name, v)) = t.split_once(": ") {
            if let Ok(v) = v.trim().parse::<i64>() {
                if !name.contains(' ') {
                    out.entry(section.clone())
                        .or_default()
                        .insert(name.to_string(), v);
                }
            }
            continue;
        }
        let Some((n, phrase)) = t.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<i64>() else { continue };
        if let Some((_, _, field)) = NETSTAT_PHRASES
            .iter()
            .find(|(s, p, _)| *s == section && *p == phrase)
        {
            out.entry(section.clone())
                .or_default()
                .insert((*field).to_string(), n);
        }
    }
    if out.is_empty() {
        return Source::error("netstat -s: no counter found");
    }
    Source::Ok(out)
}

/// An `ss` address (`0.0.0.0:22`, `[::]:443`, `*:80`, `127.0.0.53%lo:53`,
/// `[::ffff:10.0.0.1]:80`).
fn parse_ss_addr(s: &str) -> Option<SocketAddr> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.split('%').next().unwrap_or(host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h => h
            .parse::<IpAddr>()
            .or_else(|_| h.parse::<Ipv6Addr>().map(IpAddr::V6))
            .ok()?,
    };
    Some(SocketAddr::new(ip, port))
}

/// `ss -peaonmi` (or any `ss -tan…`) output as the sockets source: TCP listeners with their
/// accept queue (`Recv-Q` of a LISTEN socket) and limit (`Send-Q`), inode, uid and owning
/// process; TCP sockets counted by state; TIME-WAIT sockets per destination. RTTs and UDP
/// drops are not read from it.
pub fn parse_ss(text: &str, warnings: &mut Warnings) -> Source<Sockets> {
    let mut s = Sockets {
        udp: Source::unsupported("per-socket UDP drops are not read from ss output"),
        ..Sockets::default()
    };
    let mut tw: BTreeMap<SocketAddr, u64> = BTreeMap::new();
    let mut seen = false;
    let mut udp: Vec<UdpSocket> = Vec::new();
    let mut udp_mem = false;
    // The UDP socket the next `skmem:(…)` continuation line belongs to.
    let mut last_udp: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with(char::is_whitespace) {
            if let (Some(idx), Some(mem)) = (last_udp, skmem(line)) {
                if let Some(u) = udp.get_mut(idx) {
                    udp_mem = true;
                    u.rcvbuf_bytes = mem.get("rb").and_then(|v| u32::try_from(*v).ok());
                    u.drops = mem.get("d").and_then(|v| u32::try_from(*v).ok());
                }
            }
            continue;
        }
        last_udp = None;
        if line.starts_with("Netid") {
            continue;
        }
        let w: Vec<&str> = line.split_ascii_whitespace().collect();
        if w.len() >= 6 && w[0] == "udp" {
            seen = true;
            if let (Ok(rq), Some(local)) = (w[2].parse::<u32>(), parse_ss_addr(w[4])) {
                let field = |key: &str| w.iter().find_map(|x| x.strip_prefix(key));
                udp.push(UdpSocket {
                    local,
                    remote: parse_ss_addr(w[5]).filter(|p| p.port() != 0),
                    rx_queue_bytes: rq,
                    rcvbuf_bytes: None,
                    drops: None,
                    inode: field("ino:").and_then(|v| v.parse().ok()).unwrap_or(0),
                    uid: field("uid:").and_then(|v| v.parse().ok()).unwrap_or(0),
                });
                last_udp = Some(udp.len() - 1);
            }
            continue;
        }
        if w.len() < 6 || w[0] != "tcp" {
            continue;
        }
        seen = true;
        let (state, rq, sq, local, peer) = (w[1], w[2], w[3], w[4], w[5]);
        let states: &mut TcpStates = &mut s.tcp_states;
        match state {
            "ESTAB" => states.established += 1,
            "SYN-SENT" => states.syn_sent += 1,
            "SYN-RECV" => states.syn_recv += 1,
            "FIN-WAIT-1" => states.fin_wait1 += 1,
            "FIN-WAIT-2" => states.fin_wait2 += 1,
            "TIME-WAIT" => {
                states.time_wait += 1;
                if let Some(p) = parse_ss_addr(peer) {
                    *tw.entry(p).or_default() += 1;
                }
            }
            "UNCONN" | "CLOSE" => states.close += 1,
            "CLOSE-WAIT" => states.close_wait += 1,
            "LAST-ACK" => states.last_ack += 1,
            "LISTEN" => states.listen += 1,
            "CLOSING" => states.closing += 1,
            _ => states.other += 1,
        }
        if state != "LISTEN" {
            continue;
        }
        let (Ok(accept_queue), Ok(backlog), Some(local)) =
            (rq.parse::<u32>(), sq.parse::<u32>(), parse_ss_addr(local))
        else {
            warnings.push("ss", Some(i + 1), format!("listener line {line:?}"));
            continue;
        };
        let field = |key: &str| {
            w.iter()
                .find_map(|x| x.strip_prefix(key))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let owner = w
            .iter()
            .find_map(|x| x.strip_prefix("users:((\""))
            .and_then(|rest| {
                let (comm, rest) = rest.split_once('"')?;
                let pid = rest.split("pid=").nth(1)?;
                let pid: u32 = pid.split([',', ')']).next()?.parse().ok()?;
                Some(Owner::Process {
                    pid,
                    comm: comm.to_string(),
                })
            })
            .unwrap_or(Owner::NotFound);
        s.listeners.push(Listener {
            local,
            accept_queue,
            backlog,
            inode: field("ino:").unwrap_or(0),
            uid: field("uid:")
                .and_then(|u| u32::try_from(u).ok())
                .unwrap_or(0),
            owner,
        });
    }
    if !seen {
        return Source::error("ss: no TCP or UDP socket line found");
    }
    if udp_mem {
        let drops_total = udp.iter().filter_map(|u| u.drops).map(u64::from).sum();
        let count = udp.len() as u64;
        let mut top: Vec<UdpSocket> = udp.into_iter().filter(|u| u.drops > Some(0)).collect();
        top.sort_by(|a, b| b.drops.cmp(&a.drops).then(a.inode.cmp(&b.inode)));
        top.truncate(TOP_N);
        s.udp = Source::Ok(UdpSummary {
            count,
            drops_reported: true,
            drops_total,
            top_drops: top,
        });
    } else if !udp.is_empty() {
        s.udp = Source::unsupported("ss output without `-m`: no per-socket UDP drops");
    }
    s.listeners.sort_by_key(|l| (l.local.port(), l.local.ip()));
    let mut top: Vec<DestinationCount> = tw
        .into_iter()
        .map(|(remote, count)| DestinationCount { remote, count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.remote.cmp(&b.remote)));
    top.truncate(TOP_N);
    s.time_wait_top = top;
    Source::Ok(s)
}

/// The fields of an `skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d12)` line.
fn skmem(line: &str) -> Option<BTreeMap<String, u64>> {
    let inner = line.trim().strip_prefix("skmem:(")?.split(')').next()?;
    Some(
        inner
            .split(',')
            .filter_map(|kv| {
                let digits = kv.find(|c: char| c.is_ascii_digit())?;
                let (k, v) = kv.split_at(digits);
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect(),
    )
}

/// The processes `ss -p -e` (`ss -peaonmi`) shows holding netlink sockets (`nl` lines):
/// socket inode (`ino:`) → the first process of `users:((…))`. Lines without both are
/// skipped.
pub fn ss_netlink_owners(text: &str) -> BTreeMap<u64, Owner> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_ascii_whitespace().collect();
        if w.first() != Some(&"nl") {
            continue;
        }
        let Some(inode) = w
            .iter()
            .find_map(|x| x.strip_prefix("ino:"))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|i| *i != 0)
        else {
            continue;
        };
        let owner = w
            .iter()
            .find_map(|x| x.strip_prefix("users:((\""))
            .and_then(|rest| {
                let (comm, rest) = rest.split_once('"')?;
                let pid = rest.split("pid=").nth(1)?;
                let pid: u32 = pid.split([',', ')']).next()?.parse().ok()?;
                Some(Owner::Process {
                    pid,
                    comm: comm.to_string(),
                })
            });
        if let Some(o) = owner {
            out.insert(inode, o);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::ethtool::text::{
        parse_ethtool_c, parse_ethtool_g, parse_ethtool_k, parse_ethtool_l,
    };
    use proptest::prelude::*;

    #[test]
    fn uptime_forms() {
        for (text, want) in [
            (
                " 09:39:55 up 11:01,  1 user,  load average: 2.00",
                11 * 3600 + 60,
            ),
            (" 10:00:00 up 25 min,  2 users,  load average: 0.1", 1500),
            (
                "10:00:00 up 3 days,  2:04,  0 users,  load average: 0",
                3 * 86400 + 2 * 3600 + 240,
            ),
            ("10:00:00 up 1 day, 5 min,  1 user", 86400 + 300),
            ("10:00:00 up 400 days, 10:00,  1 user", 400 * 86400 + 36000),
            ("12345.67 100.0\n", 12345),
        ] {
            assert_eq!(parse_uptime(text), Some(want), "{text}");
        }
        assert_eq!(parse_uptime("garbage"), None);
        assert_eq!(parse_uptime(""), None);
    }

    #[test]
    fn date_and_uname() {
        assert_eq!(
            parse_date_utc("Thu Feb 10 09:39:52 UTC 2022\n"),
            Some(1_644_485_992)
        );
        assert_eq!(parse_date_utc("Thu Feb 10 09:39:52 CET 2022"), None);
        assert_eq!(
            parse_uname("Linux juju-1 5.4.0-97-generic #110-Ubuntu SMP x86_64"),
            Some(("juju-1".into(), "5.4.0-97-generic".into()))
        );
    }

    #[test]
    fn ip_link_counters() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    RX: bytes  packets  errors  dropped overrun mcast\n    100        2        0       0       0       0\n    TX: bytes  packets  errors  dropped carrier collsns\n    100        2        0       0       0       0\n2: eth0@if14: <BROADCAST> mtu 1500\n    RX:  bytes packets errors dropped  missed   mcast\n      5000      50      1       3       4       0\n    RX errors:  length    crc   frame    fifo overrun\n                     1      2       3       9       0\n    TX:  bytes packets errors dropped carrier collsns\n      6000      60      0       7       0       0\n";
        let mut w = Warnings::default();
        let d = parse_ip_link(text, &mut w).ok().cloned().unwrap();
        assert_eq!(d["lo"].rx_packets, 2);
        let e = &d["eth0"];
        assert_eq!((e.rx_bytes, e.rx_packets, e.rx_errs), (5000, 50, 1));
        assert_eq!(e.rx_drop, 7, "dropped + missed");
        assert_eq!(e.rx_frame, 6);
        assert_eq!(e.rx_fifo, 9);
        assert_eq!(e.tx_drop, 7);
        assert!(w.0.is_empty(), "{:?}", w.0);
    }

    #[test]
    fn ip_link_config() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0 numtxqueues 1 numrxqueues 1 gso_max_size 65536\n2: ens3: <BROADCAST,UP> mtu 1500 qdisc fq_codel master br-ens3 state UP mode DEFAULT group default qlen 1000\n    link/ether 52:54:00:e2:28:a3 brd ff:ff:ff:ff:ff:ff promiscuity 1 minmtu 68 maxmtu 65535\n    bridge_slave state forwarding priority 32 addrgenmode none numtxqueues 4 numrxqueues 4 gso_max_size 65536\n    RX: bytes packets\n    1 2\n3: veth1@if2: <UP> mtu 1450 qdisc noqueue state UP qlen 1000\n    link/ether aa:bb:cc:dd:ee:ff brd ff:ff:ff:ff:ff:ff link-netnsid 0\n    veth addrgenmode eui64 numtxqueues 2 numrxqueues 2\n4: tap0: <UP> mtu 1500 state DOWN\n    link/ether 00:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff\n    tun type tap pi off vnet_hdr on\n";
        let i = parse_ip_link_config(text);
        assert_eq!(i["lo"].kind, InterfaceKind::Loopback);
        let ens3 = &i["ens3"];
        assert_eq!(
            ens3.kind,
            InterfaceKind::Virtual,
            "physical only with a bus device"
        );
        assert_eq!(
            (ens3.mtu, ens3.tx_queue_len, ens3.ifindex),
            (Some(1500), Some(1000), Some(2))
        );
        assert_eq!(ens3.rx_queues.len(), 4);
        assert_eq!(ens3.operstate.as_deref(), Some("up"));
        assert_eq!(ens3.address.as_deref(), Some("52:54:00:e2:28:a3"));
        assert_eq!(i["veth1"].kind, InterfaceKind::Veth);
        assert_eq!(i["veth1"].tx_queues.len(), 2);
        assert_eq!(i["tap0"].kind, InterfaceKind::Tap);
        assert_eq!(i["tap0"].operstate.as_deref(), Some("down"));
    }

    #[test]
    fn nstat_and_netstat() {
        let mut w = Warnings::default();
        let n = parse_nstat(
            "#kernel\nIpInReceives 10 0.0\nTcpExtListenOverflows 3 0.0\nIp6InReceives 4 0.0\nUdpInCsumErrors 2 0.0\nIpExtInOctets 9 0.0\n",
            &mut w,
        );
        let n = n.ok().unwrap();
        assert_eq!(n["Ip"]["InReceives"], 10);
        assert_eq!(n["TcpExt"]["ListenOverflows"], 3);
        assert_eq!(n["Ip6"]["InReceives"], 4);
        assert_eq!(n["Udp"]["InCsumErrors"], 2);
        assert_eq!(n["IpExt"]["InOctets"], 9);
        let s = parse_netstat_s("Udp:\n    12 packets received\n    3 packet receive errors\n    InCsumErrors: 1\nTcpExt:\n    7 times the listen queue of a socket overflowed\n    TCPRcvQDrop: 5\n");
        let s = s.ok().unwrap();
        assert_eq!(s["Udp"]["InDatagrams"], 12);
        assert_eq!(s["Udp"]["InErrors"], 3);
        assert_eq!(s["Udp"]["InCsumErrors"], 1);
        assert_eq!(s["TcpExt"]["ListenOverflows"], 7);
        assert_eq!(s["TcpExt"]["TCPRcvQDrop"], 5);
    }

    #[test]
    fn ss_listeners_and_states() {
        let text = "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\ntcp   LISTEN 129    128    0.0.0.0:5672      0.0.0.0:*     users:((\"beam.smp\",pid=4242,fd=50)) uid:111 ino:35123 sk:1 <->\n\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)\ntcp   LISTEN 0      4096   [::]:22           [::]:*        ino:999 sk:2\ntcp   TIME-WAIT 0   0      10.0.0.1:3333     10.0.0.2:80   timer:(timewait,10sec,0)\ntcp   ESTAB 0 0 10.0.0.1:22 10.0.0.9:5000\nudp   UNCONN 0 0 0.0.0.0:68 0.0.0.0:*\n";
        let mut w = Warnings::default();
        let s = parse_ss(text, &mut w).ok().cloned().unwrap();
        assert_eq!(s.listeners.len(), 2);
        let l = &s.listeners[1];
        assert_eq!(l.local.port(), 5672);
        assert_eq!(
            (l.accept_queue, l.backlog, l.inode, l.uid),
            (129, 128, 35123, 111)
        );
        assert_eq!(
            l.owner,
            Owner::Process {
                pid: 4242,
                comm: "beam.smp".into()
            }
        );
        assert_eq!(s.listeners[0].local, "[::]:22".parse().unwrap());
        assert_eq!(s.tcp_states.listen, 2);
        assert_eq!(s.tcp_states.time_wait, 1);
        assert_eq!(s.tcp_states.established, 1);
        assert_eq!(s.time_wait_top[0].count, 1);
        assert!(matches!(s.udp, Source::Unsupported { .. }), "{:?}", s.udp);
        let with_mem = format!(
            "{text}udp UNCONN 0 0 0.0.0.0:514 0.0.0.0:* ino:77 sk:9\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d1234)\n"
        );
        let s = parse_ss(&with_mem, &mut w).ok().cloned().unwrap();
        let u = s.udp.ok().unwrap();
        assert_eq!((u.count, u.drops_total, u.drops_reported), (2, 1234, true));
        assert_eq!(u.top_drops.len(), 1);
        assert_eq!(u.top_drops[0].local.port(), 514);
        assert_eq!(
            (u.top_drops[0].rcvbuf_bytes, u.top_drops[0].inode),
            (Some(212992), 77)
        );
    }

    #[test]
    fn ethtool_texts() {
        let g = parse_ethtool_g("Ring parameters for eth0:\nPre-set maximums:\nRX:\t\t4096\nRX Mini:\tn/a\nTX:\t\t4096\nCurrent hardware settings:\nRX:\t\t256\nRX Mini:\tn/a\nTX:\t\t512\n");
        let g = g.ok().unwrap();
        assert_eq!(
            (g.rx, g.rx_max, g.tx, g.rx_mini),
            (Some(256), Some(4096), Some(512), None)
        );
        let l = parse_ethtool_l("Channel parameters for eth0:\nPre-set maximums:\nCombined:\t8\nCurrent hardware settings:\nCombined:\t2\n");
        assert_eq!(l.ok().unwrap().combined, Some(2));
        let c = parse_ethtool_c(
            "Coalesce parameters for eth0:\nAdaptive RX: on  TX: off\nrx-usecs: 3\n",
        );
        let c = c.ok().unwrap();
        assert_eq!(
            (c.use_adaptive_rx, c.use_adaptive_tx, c.rx_usecs),
            (Some(true), Some(false), Some(3))
        );
        let k = parse_ethtool_k(
            "Features for eth0:\nrx-checksumming: on [fixed]\n\ttx-checksum-ipv4: off\n",
        );
        let k = k.ok().unwrap();
        assert!(k["rx-checksumming"].fixed && k["rx-checksumming"].active);
        assert!(!k["tx-checksum-ipv4"].active);
        assert!(matches!(
            parse_ethtool_g("Cannot get device ring settings: Operation not supported\n"),
            Source::Unsupported { .. }
        ));
    }

    proptest! {
        /// No parser panics on any input.
        #[test]
        fn parsers_never_panic(text in "\\PC{0,400}") {
            let mut w = Warnings::default();
            let _ = parse_uptime(&text);
            let _ = parse_uname(&text);
            let _ = parse_date_utc(&text);
            let _ = parse_sysctl_a(&text);
            let _ = parse_ip_link(&text, &mut w);
            let _ = parse_nstat(&text, &mut w);
            let _ = parse_netstat_s(&text);
            let _ = parse_ss(&text, &mut w);
            let _ = parse_ethtool_g(&text);
            let _ = parse_ethtool_l(&text);
            let _ = parse_ethtool_c(&text);
            let _ = parse_ethtool_k(&text);
            let _ = parse_ip_link_config(&text);
        }

        /// Structured junk: lines built from the tokens the parsers look for.
        #[test]
        fn parsers_never_panic_on_shaped_lines(lines in proptest::collection::vec(
            proptest::sample::select(vec![
                "1: eth0: <UP>", "    RX: bytes packets", "    RX errors: length crc", "    1 2 3",
                "    x", "tcp LISTEN 1 2 [::]:1 *:*", "tcp TIME-WAIT 0 0 a:1 b:2", "Udp:",
                "    3 packets received", " up 3 days, 1:2,", "up 5 min", "Current hardware settings:",
                "RX: 5", "a: on [fixed]", "Ip6InReceives 1", "TcpExtX -5 0.0", "net.core.x = 1",
            ]), 0..30)) {
            let text = lines.join("\n");
            let mut w = Warnings::default();
            let _ = parse_uptime(&text);
            let _ = parse_ip_link(&text, &mut w);
            let _ = parse_nstat(&text, &mut w);
            let _ = parse_netstat_s(&text);
            let _ = parse_ss(&text, &mut w);
            let _ = parse_ethtool_g(&text);
            let _ = parse_ethtool_k(&text);
            let _ = parse_sysctl_a(&text);
        }
    }

    #[test]
    fn ss_netlink_owners_by_inode() {
        let text = "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n\
nl UNCONN 0 0 rtnl:kernel * ino:0 sk:1\n\
nl UNCONN 0 0 kobject_uevent:-119395337 * users:((\"systemd-udevd\",pid=372,fd=3)) ino:89710 sk:2 <->\n\
\t skmem:(r0,rb4194304,t0,tb212992,f0,w0,o0,bl0,d500)\n\
nl UNCONN 0 0 rtnl:625 * ino:21456 sk:3\n\
tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=9,fd=3)) ino:77 sk:4\n";
        let o = ss_netlink_owners(text);
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(
            o[&89710],
            Owner::Process {
                pid: 372,
                comm: "systemd-udevd".into()
            }
        );
    }
}
