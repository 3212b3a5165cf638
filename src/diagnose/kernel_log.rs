//! Kernel log rules: the messages of [`crate::collect::kmsg::classify`] in the newest
//! snapshot's kernel log (live: written during the window, or since boot with
//! `--since-boot`; archives: kern.log/dmesg). Each message kind is a rule with its own
//! finding (`log.conntrack_table_full`, `log.tcp_out_of_memory`, `log.syn_flooding`,
//! `log.over_mtu`, `nic.tx_timeout`; `neigh.table_overflow` reads its lines in
//! `queues.rs`); [`merge`], after the rules, turns the finding of a message that supports
//! another fired finding (conntrack full → `conntrack.near_full`, TCP out of memory →
//! `tcp.memory_pressure`, SYN flooding → `tcp.syn_queue`) into evidence of that finding.
//! `NAME: N callbacks suppressed` lines add N to the message that follows them (the one
//! the rate limiter let through): the real count is higher than the lines.

use super::fixes::scale_mem_triple;
use super::ids::{self, FindingId};
use super::thresholds as t;
use super::util::{join, page_size, sysctl, sysctl_n, sysctl_u64};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;
use crate::collect::kmsg::{KernelLog, LogEvent, LogSpan};
use std::collections::BTreeMap;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::LOG_CONNTRACK_TABLE_FULL,
        run: conntrack_full,
    },
    Rule {
        name: ids::LOG_TCP_OUT_OF_MEMORY,
        run: tcp_out_of_memory,
    },
    Rule {
        name: ids::LOG_SYN_FLOODING,
        run: syn_flooding,
    },
    Rule {
        name: ids::LOG_OVER_MTU,
        run: over_mtu,
    },
    Rule {
        name: ids::NIC_TX_TIMEOUT,
        run: tx_timeout,
    },
];

/// Which fired finding each log finding becomes evidence of.
pub const SUPPORTS: &[(FindingId, FindingId)] = &[
    (ids::LOG_CONNTRACK_TABLE_FULL, ids::CONNTRACK_NEAR_FULL),
    (ids::LOG_TCP_OUT_OF_MEMORY, ids::TCP_MEMORY_PRESSURE),
    (ids::LOG_SYN_FLOODING, ids::TCP_SYN_QUEUE),
];

/// Lines of one message (with its details) and the suppressed messages counted before them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Lines in the log.
    pub count: u64,
    /// Messages the rate limiter suppressed before these lines.
    pub suppressed: u64,
}

/// Every message of a log with its count.
#[derive(Debug, Default)]
pub struct Tally<'a> {
    /// Message (with its details: port, device, queue) → count, in first-seen order.
    pub events: Vec<(LogEvent<'a>, Count)>,
    /// Suppressed messages not followed by a message a rule reads.
    pub unattributed_suppressed: u64,
}

/// Count the messages of `log`; each `callbacks suppressed` line adds its count to the next
/// message.
pub fn tally(log: &KernelLog) -> Tally<'_> {
    let mut out = Tally::default();
    let mut pending = 0u64;
    for (_, e) in log.events() {
        if let LogEvent::Suppressed { count, .. } = e {
            pending += count;
            continue;
        }
        let i = match out.events.iter().position(|(x, _)| *x == e) {
            Some(i) => i,
            None => {
                out.events.push((e, Count::default()));
                out.events.len() - 1
            }
        };
        out.events[i].1.count += 1;
        out.events[i].1.suppressed += pending;
        pending = 0;
    }
    out.unattributed_suppressed = pending;
    out
}

/// The events of kind `pick` with their counts, when the newest snapshot has a log.
fn picked<'a, T>(
    ctx: &Context<'a>,
    pick: impl Fn(&LogEvent<'a>) -> Option<T>,
) -> (Vec<(T, Count)>, Option<&'a KernelLog>) {
    let Some(log) = ctx.newer.kernel_log.ok() else {
        return (Vec::new(), None);
    };
    let v = tally(log)
        .events
        .into_iter()
        .filter_map(|(e, c)| pick(&e).map(|t| (t, c)))
        .collect();
    (v, Some(log))
}

/// "in the window" / "since boot" / "in the log".
fn span_words(log: &KernelLog) -> &'static str {
    match log.span {
        LogSpan::Window => "during the window",
        LogSpan::Boot => "since boot",
        LogSpan::File => "in the archive's kernel log",
    }
}

fn total(v: &[(impl Sized, Count)]) -> Count {
    v.iter().fold(Count::default(), |a, (_, c)| Count {
        count: a.count + c.count,
        suppressed: a.suppressed + c.suppressed,
    })
}

/// Evidence lines of a message and its suppressed count; the "real count is higher"
/// sentence when any was suppressed.
fn log_evidence(metric: &str, scope: &str, c: Count, ev: &mut Vec<Evidence>) -> String {
    ev.push(Evidence::new(metric, scope, c.count as f64, "lines"));
    if c.suppressed > 0 {
        ev.push(Evidence::new(
            "kernel_log.callbacks_suppressed",
            scope,
            c.suppressed as f64,
            "lines",
        ));
        format!(
            " The rate limiter suppressed {} more messages: the real count is higher than the \
             {} lines logged.",
            c.suppressed, c.count
        )
    } else {
        String::new()
    }
}

fn lost_note(log: &KernelLog) -> String {
    if log.lost > 0 {
        " Some records were overwritten before they were read: there may be more.".into()
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------

fn conntrack_full(ctx: &Context) -> Vec<Finding> {
    let (v, log) = picked(ctx, |e| matches!(e, LogEvent::ConntrackFull).then_some(()));
    let (Some(log), false) = (log, v.is_empty()) else {
        return Vec::new();
    };
    let c = total(&v);
    let mut evidence = Vec::new();
    let note = log_evidence(
        "kernel_log.nf_conntrack_table_full",
        "host",
        c,
        &mut evidence,
    );
    let mut changes = Vec::new();
    if let Some(max) = sysctl_u64(ctx.newer, "net.netfilter.nf_conntrack_max") {
        evidence.push(Evidence::new(
            "net.netfilter.nf_conntrack_max",
            "host",
            max as f64,
            "entries",
        ));
        changes.push(Change::sysctl(
            "net.netfilter.nf_conntrack_max",
            sysctl(ctx.newer, "net.netfilter.nf_conntrack_max"),
            max.saturating_mul(2).to_string(),
        ));
    }
    changes.push(Change::advice(
        "conntrack",
        "size nf_conntrack_max for the peak number of flows (`conntrack -C` at peak, ~320 \
         bytes each) and raise the hash table with it (nf_conntrack_buckets / the hashsize \
         module parameter); shorten timeouts of flows that need no state \
         (nf_conntrack_tcp_timeout_time_wait) or exempt them with NOTRACK",
    ));
    vec![Finding {
        netns: None,
        id: ids::LOG_CONNTRACK_TABLE_FULL.into(),
        severity: Severity::Critical,
        title: format!(
            "The conntrack table was full and dropped new connections ({} kernel log lines {})",
            c.count,
            span_words(log)
        ),
        detail: format!(
            "\"nf_conntrack: table full, dropping packet\": every packet that would create a \
             new conntrack entry is dropped while the table holds nf_conntrack_max entries, \
             so new connections fail and retry.{note}{}",
            lost_note(log)
        ),
        evidence,
        changes,
        risk: "each conntrack entry is about 320 bytes of unswappable kernel memory".into(),
        verify: "no new \"table full, dropping packet\" lines; conntrack count stays below \
                 75 % of nf_conntrack_max"
            .into(),
    }]
}

fn tcp_out_of_memory(ctx: &Context) -> Vec<Finding> {
    let (v, log) = picked(ctx, |e| matches!(e, LogEvent::TcpOutOfMemory).then_some(()));
    let (Some(log), false) = (log, v.is_empty()) else {
        return Vec::new();
    };
    let c = total(&v);
    let mut evidence = Vec::new();
    let note = log_evidence("kernel_log.tcp_out_of_memory", "host", c, &mut evidence);
    let mut changes = Vec::new();
    if let Some([low, pressure, high]) = sysctl_n::<3>(ctx.newer, "net.ipv4.tcp_mem") {
        evidence.push(Evidence::new(
            "net.ipv4.tcp_mem.high",
            "host",
            high as f64,
            "pages",
        ));
        let page = page_size(ctx.host);
        let cap = ctx
            .host
            .mem_total_bytes
            .map(|b| (b as f64 * t::SOCKET_MEM_MAX_RAM_SHARE / page as f64) as u64);
        if let Some(nh) = cap.map(|c| c.min((high as f64 * t::TCP_MEM_STEP) as u64)) {
            if nh > high {
                changes.push(Change::sysctl(
                    "net.ipv4.tcp_mem",
                    sysctl(ctx.newer, "net.ipv4.tcp_mem"),
                    join(&scale_mem_triple([low, pressure, high], nh)),
                ));
            }
        }
    }
    changes.push(Change::advice(
        "TCP memory",
        "find what holds TCP memory (`ss -tm` rb/tb of the largest queues, sockstat TCP \
         mem): slow readers with large buffers, or many orphaned sockets",
    ));
    vec![Finding {
        netns: None,
        id: ids::LOG_TCP_OUT_OF_MEMORY.into(),
        severity: Severity::Critical,
        title: format!(
            "TCP ran out of memory ({} kernel log lines {}): connections were reset",
            c.count,
            span_words(log)
        ),
        detail: format!(
            "\"TCP: out of memory -- consider tuning tcp_mem\": TCP memory reached tcp_mem \
             high (or too many orphaned sockets) and the kernel killed a connection to free \
             its memory.{note}{}",
            lost_note(log)
        ),
        evidence,
        changes,
        risk: "a higher tcp_mem lets TCP hold more kernel memory before it throttles".into(),
        verify: "no new \"TCP: out of memory\" lines; TcpExt.TCPAbortOnMemory stops rising".into(),
    }]
}

fn syn_flooding(ctx: &Context) -> Vec<Finding> {
    let (v, log) = picked(ctx, |e| match e {
        LogEvent::SynFlood { port, cookies } => Some((*port, *cookies)),
        _ => None,
    });
    let (Some(log), false) = (log, v.is_empty()) else {
        return Vec::new();
    };
    let mut evidence = Vec::new();
    let mut notes = String::new();
    let mut ports: BTreeMap<Option<u16>, Count> = BTreeMap::new();
    let mut dropping = false;
    for ((port, cookies), c) in &v {
        let e = ports.entry(*port).or_default();
        e.count += c.count;
        e.suppressed += c.suppressed;
        dropping |= !cookies;
    }
    for (port, c) in &ports {
        let scope = port.map_or("unknown port".to_string(), |p| format!("port {p}"));
        notes.push_str(&log_evidence(
            "kernel_log.possible_syn_flooding",
            &scope,
            *c,
            &mut evidence,
        ));
    }
    let names: Vec<String> = ports
        .keys()
        .map(|p| p.map_or("?".into(), |p| p.to_string()))
        .collect();
    let mut changes = Vec::new();
    if dropping && sysctl(ctx.newer, "net.ipv4.tcp_syncookies") == Some("0") {
        changes.push(Change::sysctl("net.ipv4.tcp_syncookies", Some("0"), "1"));
    }
    changes.push(Change::advice(
        format!("listeners on port {}", names.join(", ")),
        "a burst of SYNs filled the listener's SYN queue, min(listen() backlog, somaxconn): \
         if the clients are real, raise the application's backlog and net.core.somaxconn; if \
         it is a flood, rate-limit SYNs before the stack (`nettune xdp attach IFACE \
         --syn-rate N`, nftables limit, SYNPROXY)",
    ));
    let c = total(&v);
    vec![Finding {
        netns: None,
        id: ids::LOG_SYN_FLOODING.into(),
        severity: if dropping {
            Severity::Critical
        } else {
            Severity::Warning
        },
        title: format!(
            "Possible SYN flooding on port {} ({} kernel log lines {}): {}",
            names.join(", "),
            c.count,
            span_words(log),
            if dropping {
                "connection requests were dropped"
            } else {
                "SYN cookies were sent"
            }
        ),
        detail: format!(
            "The kernel logs \"Possible SYN flooding on port N\" the first time a listener's \
             SYN queue overflows: it then answers with SYN cookies (or drops the SYN when \
             syncookies are off).{notes}{}",
            lost_note(log)
        ),
        evidence,
        changes,
        risk: "a longer SYN backlog holds more half-open connections".into(),
        verify: "TcpExt.TCPReqQFullDoCookies and TCPReqQFullDrop stop rising".into(),
    }]
}

/// Whether device `dev` exists in the newest snapshot (interfaces or netdev).
fn device_exists(ctx: &Context, dev: &str) -> Option<bool> {
    if let Some(i) = ctx.newer.interfaces.ok() {
        return Some(i.contains_key(dev));
    }
    ctx.newer.netdev.ok().map(|d| d.contains_key(dev))
}

fn over_mtu(ctx: &Context) -> Vec<Finding> {
    let (v, log) = picked(ctx, |e| match e {
        LogEvent::OverMtu { device } => Some(*device),
        _ => None,
    });
    let (Some(log), false) = (log, v.is_empty()) else {
        return Vec::new();
    };
    let mut evidence = Vec::new();
    let mut notes = String::new();
    let mut names = Vec::new();
    let mut changes = Vec::new();
    for (dev, c) in &v {
        let name = dev.unwrap_or("unknown device");
        notes.push_str(&log_evidence(
            "kernel_log.dropped_over_mtu",
            name,
            *c,
            &mut evidence,
        ));
        let exists = dev.and_then(|d| device_exists(ctx, d));
        let mtu = dev.and_then(|d| ctx.newer.interfaces.ok()?.get(d)?.mtu);
        if let Some(m) = mtu {
            evidence.push(Evidence::new("mtu", name, f64::from(m), "bytes"));
        }
        names.push(match exists {
            Some(true) => format!("{name} (mtu {})", mtu.map_or("?".into(), |m| m.to_string())),
            Some(false) => format!("{name} (no longer exists)"),
            None => name.to_string(),
        });
        changes.push(Change::advice(
            format!("MTU of {name}"),
            "make the MTU consistent along the path: raise the MTU of the underlay (physical \
             NIC, bridge) by the encapsulation overhead (VXLAN/Geneve +50 bytes) or lower the \
             MTU of the ports and guests that feed this one",
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::LOG_OVER_MTU.into(),
        severity: Severity::Warning,
        title: format!(
            "Packets larger than the device MTU were dropped on {} ({} kernel log lines {})",
            names.join(", "),
            total(&v).count,
            span_words(log)
        ),
        detail: format!(
            "\"dropped over-mtu packet\" (Open vSwitch) means a packet bigger than the output \
             port's MTU was dropped instead of sent: an MTU mismatch between an overlay and \
             its underlay, or between a guest and its bridge. Large transfers stall \
             (PMTU discovery cannot help inside a switch).{notes}{}",
            lost_note(log)
        ),
        evidence,
        changes,
        risk: "changing an MTU briefly resets the link on some drivers".into(),
        verify: "no new \"dropped over-mtu packet\" lines".into(),
    }]
}

fn tx_timeout(ctx: &Context) -> Vec<Finding> {
    let (v, log) = picked(ctx, |e| match e {
        LogEvent::TxTimeout {
            device,
            driver,
            queue,
        } => Some((*device, *driver, *queue)),
        _ => None,
    });
    let (Some(log), false) = (log, v.is_empty()) else {
        return Vec::new();
    };
    let mut evidence = Vec::new();
    let mut notes = String::new();
    let mut per_dev: BTreeMap<&str, (Option<&str>, Vec<u32>, Count)> = BTreeMap::new();
    for ((dev, driver, queue), c) in &v {
        let e = per_dev
            .entry(dev)
            .or_insert((*driver, Vec::new(), Count::default()));
        if let Some(q) = queue {
            if !e.1.contains(q) {
                e.1.push(*q);
            }
        }
        e.2.count += c.count;
        e.2.suppressed += c.suppressed;
    }
    let mut names = Vec::new();
    for (dev, (driver, queues, c)) in &per_dev {
        notes.push_str(&log_evidence(
            "kernel_log.netdev_watchdog",
            dev,
            *c,
            &mut evidence,
        ));
        let q: Vec<String> = queues.iter().map(u32::to_string).collect();
        names.push(format!(
            "{dev}{} queue {}{}",
            driver.map_or(String::new(), |d| format!(" ({d})")),
            if q.is_empty() {
                "?".into()
            } else {
                q.join(", ")
            },
            match device_exists(ctx, dev) {
                Some(false) => " (no longer exists)",
                _ => "",
            }
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::NIC_TX_TIMEOUT.into(),
        severity: Severity::Critical,
        title: format!(
            "Transmit queue timed out on {} ({} kernel log lines {}): the NIC stopped sending \
             and was reset",
            names.join("; "),
            total(&v).count,
            span_words(log)
        ),
        detail: format!(
            "\"NETDEV WATCHDOG: DEV (DRIVER): transmit queue N timed out\": the driver had \
             packets queued but the hardware did not complete any for the watchdog timeout \
             (5 s by default); the driver resets the device, dropping what was queued and \
             interrupting the link for a moment. Causes: a NIC or firmware hang, a driver \
             bug, PCIe errors, flow-control pause frames from the switch, a hypervisor that \
             stopped servicing the virtual NIC.{notes}{}",
            lost_note(log)
        ),
        evidence,
        changes: vec![Change::advice(
            names.first().cloned().unwrap_or_default(),
            "update the NIC driver and firmware; check `ethtool -S` for tx pause frames and \
             `dmesg` for PCIe AER errors around the timeout; on a VM check the host; replace \
             the NIC if it repeats",
        )],
        risk: "none from nettune".into(),
        verify: "no new NETDEV WATCHDOG lines".into(),
    }]
}

/// Turn each log finding that supports a fired finding ([`SUPPORTS`]) into evidence of it:
/// its evidence is appended, one sentence added to the detail, and the log finding removed.
pub fn merge(findings: &mut Vec<Finding>) {
    for (log_id, target) in SUPPORTS {
        let Some(li) = findings.iter().position(|f| f.id == *log_id) else {
            continue;
        };
        let Some(ti) = findings
            .iter()
            .position(|f| f.id == *target && f.netns.is_none())
            .or_else(|| findings.iter().position(|f| f.id == *target))
        else {
            continue;
        };
        let log = findings.remove(li);
        let ti = if ti > li { ti - 1 } else { ti };
        let target = &mut findings[ti];
        target.evidence.extend(log.evidence);
        target
            .detail
            .push_str(&format!(" The kernel log agrees: {}.", log.title));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::kmsg::LogRecord;
    use crate::collect::Source;
    use crate::diagnose::testkit::*;

    fn with_log(fx: &mut Fx, lines: &[&str]) {
        let mut log = KernelLog::new(LogSpan::Window);
        for m in lines {
            log.offer(LogRecord {
                seq: None,
                ts_usec: None,
                priority: None,
                message: (*m).into(),
            });
        }
        fx.newer.kernel_log = Source::Ok(log);
    }

    #[test]
    fn conntrack_full_counts_suppressed_and_merges_into_near_full() {
        let mut fx = Fx::new(2);
        fx.sysctl("net.netfilter.nf_conntrack_max", "65536");
        with_log(
            &mut fx,
            &[
                "nf_conntrack: nf_conntrack: table full, dropping packet",
                "net_ratelimit: 40 callbacks suppressed",
                "nf_conntrack: nf_conntrack: table full, dropping packet",
            ],
        );
        let f = fx.run(conntrack_full);
        let f = only(&f, ids::LOG_CONNTRACK_TABLE_FULL);
        assert_eq!(
            evidence(f, "kernel_log.nf_conntrack_table_full", "host"),
            Some(2.0)
        );
        assert_eq!(
            evidence(f, "kernel_log.callbacks_suppressed", "host"),
            Some(40.0)
        );
        assert!(f.detail.contains("real count is higher"));
        assert_eq!(
            proposed(f, "net.netfilter.nf_conntrack_max"),
            Some("131072")
        );

        // Alongside a fired conntrack.near_full it becomes that finding's evidence.
        let mut all = vec![
            Finding {
                id: ids::CONNTRACK_NEAR_FULL.into(),
                severity: Severity::Critical,
                title: "conntrack 95 % full".into(),
                detail: String::new(),
                evidence: Vec::new(),
                changes: Vec::new(),
                risk: String::new(),
                verify: String::new(),
                netns: None,
            },
            f.clone(),
        ];
        merge(&mut all);
        assert_eq!(all.len(), 1);
        assert_eq!(
            evidence(&all[0], "kernel_log.nf_conntrack_table_full", "host"),
            Some(2.0)
        );
        assert!(all[0].detail.contains("kernel log agrees"));
    }

    #[test]
    fn syn_flooding_names_the_ports() {
        let mut fx = Fx::new(2);
        fx.sysctl("net.ipv4.tcp_syncookies", "0");
        with_log(
            &mut fx,
            &[
                "TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.  Check SNMP counters.",
                "TCP: request_sock_TCP: Possible SYN flooding on port [::]:443. Dropping request.  Check SNMP counters.",
            ],
        );
        let f = fx.run(syn_flooding);
        let f = only(&f, ids::LOG_SYN_FLOODING);
        assert!(f.title.contains("port 443, 8080"), "{}", f.title);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(proposed(f, "net.ipv4.tcp_syncookies"), Some("1"));
        assert_eq!(
            evidence(f, "kernel_log.possible_syn_flooding", "port 8080"),
            Some(1.0)
        );
    }

    #[test]
    fn tcp_oom_over_mtu_and_watchdog_fire() {
        let mut fx = Fx::new(2);
        fx.sysctl("net.ipv4.tcp_mem", "1000 2000 4000");
        fx.host.mem_total_bytes = Some(16 << 30);
        fx.iface(
            "vxlan0",
            crate::collect::interfaces::Interface {
                mtu: Some(1450),
                ..Default::default()
            },
        );
        with_log(
            &mut fx,
            &[
                "TCP: out of memory -- consider tuning tcp_mem",
                "vxlan0: dropped over-mtu packet: 1500 > 1450",
                "gone0: dropped over-mtu packet: 1500 > 1450",
                "NETDEV WATCHDOG: eth0 (ixgbe): transmit queue 3 timed out 5024 ms",
            ],
        );
        let f = fx.run(tcp_out_of_memory);
        let f = only(&f, ids::LOG_TCP_OUT_OF_MEMORY);
        assert_eq!(proposed(f, "net.ipv4.tcp_mem"), Some("2000 4000 8000"));
        let f = fx.run(over_mtu);
        let f = only(&f, ids::LOG_OVER_MTU);
        assert!(f.title.contains("vxlan0 (mtu 1450)"), "{}", f.title);
        assert!(f.title.contains("gone0 (no longer exists)"), "{}", f.title);
        let f = fx.run(tx_timeout);
        let f = only(&f, ids::NIC_TX_TIMEOUT);
        assert!(f.title.contains("eth0 (ixgbe) queue 3"), "{}", f.title);
    }

    #[test]
    fn quiet_without_log_lines_or_log() {
        let mut fx = Fx::new(2);
        for rule in RULES {
            assert!(fx.run(rule.run).is_empty());
        }
        with_log(&mut fx, &["eth0: link up", "random: crng init done"]);
        for rule in RULES {
            assert!(fx.run(rule.run).is_empty(), "{}", rule.name);
        }
    }
}
