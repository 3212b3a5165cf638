//! TCP: accept queues (`tcp.listen_overflow`), the SYN queue (`tcp.syn_queue`), buffers vs
//! BDP (`tcp.buffer_below_bdp`), memory pressure (`tcp.memory_pressure`), socket backlog
//! drops (`tcp.backlog_drop`), retransmits (`tcp.retransmits`), congestion control
//! (`tcp.congestion_control`), pacing (`qdisc.pacing`) and ephemeral ports
//! (`tcp.port_exhaustion`).

use super::context::{Intent, LinkSource, RttSource};
use super::fixes::{below_default, round_up_mib, scale_mem_triple};
use super::ids;
use super::thresholds as t;
use super::util::{
    counted, fmt_bytes, join, page_size, parse_n, rate_or_zero, sysctl, sysctl_n, sysctl_u64,
};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::{Advised, Change};
use crate::collect::sockets::{Listener, Owner, Sockets};
use crate::window::Window;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::TCP_LISTEN_OVERFLOW,
        run: listen_overflow,
    },
    Rule {
        name: ids::TCP_SYN_QUEUE,
        run: syn_queue,
    },
    Rule {
        name: ids::TCP_BUFFER_BELOW_BDP,
        run: buffer_below_bdp,
    },
    Rule {
        name: ids::TCP_MEMORY_PRESSURE,
        run: memory_pressure,
    },
    Rule {
        name: ids::TCP_BACKLOG_DROP,
        run: backlog_drop,
    },
    Rule {
        name: ids::TCP_RETRANSMITS,
        run: retransmits,
    },
    Rule {
        name: ids::TCP_CONGESTION_CONTROL,
        run: congestion_control,
    },
    Rule {
        name: ids::QDISC_PACING,
        run: pacing,
    },
    Rule {
        name: ids::TCP_PORT_EXHAUSTION,
        run: port_exhaustion,
    },
];

const SOMAXCONN: &str = "net.core.somaxconn";
const SYN_BACKLOG: &str = "net.ipv4.tcp_max_syn_backlog";
const SYNCOOKIES: &str = "net.ipv4.tcp_syncookies";

// ---------------------------------------------------------------------------------------
// Listeners

/// A listener and its accept queue (the larger of the two snapshots).
struct QueueSeen<'a> {
    listener: &'a Listener,
    /// Connections waiting for `accept()`.
    queue: u32,
}

impl QueueSeen<'_> {
    fn full(&self) -> bool {
        self.queue >= self.listener.backlog
    }

    fn fill(&self) -> f64 {
        f64::from(self.queue) / f64::from(self.listener.backlog.max(1))
    }
}

/// `0.0.0.0:8080 (nginx, pid 812)`.
fn listener_label(l: &Listener) -> String {
    match &l.owner {
        Owner::Process { pid, comm } if !comm.is_empty() => {
            format!("{} ({comm}, pid {pid})", l.local)
        }
        Owner::Process { pid, .. } => format!("{} (pid {pid})", l.local),
        _ => l.local.to_string(),
    }
}

/// Listeners at or over their limit; when none is, the fullest ones with something queued.
/// At most [`t::LISTENERS_NAMED`], fullest first.
fn pressed_listeners<'a>(newer: &'a Sockets, window: Option<&Window>) -> Vec<QueueSeen<'a>> {
    let mut seen: Vec<QueueSeen> = newer
        .listeners
        .iter()
        .map(|l| QueueSeen {
            listener: l,
            queue: window.map_or(l.accept_queue, |w| w.accept_queue_peak(l)),
        })
        .filter(|q| q.queue > 0)
        .collect();
    seen.sort_by(|a, b| b.fill().total_cmp(&a.fill()).then(b.queue.cmp(&a.queue)));
    if seen.iter().any(QueueSeen::full) {
        seen.retain(QueueSeen::full);
    }
    seen.truncate(t::LISTENERS_NAMED);
    seen
}

/// The next listen-queue limit: ×[`t::SOMAXCONN_STEP`], at least [`t::SOMAXCONN_FLOOR`],
/// at most [`t::SOMAXCONN_CAP`]; `None` when that is not above `current`.
fn raise_queue_limit(current: u64) -> Option<u64> {
    let p = current
        .saturating_mul(t::SOMAXCONN_STEP)
        .clamp(t::SOMAXCONN_FLOOR, t::SOMAXCONN_CAP);
    (p > current).then_some(p)
}

/// What the queue-limit fixes of `tcp.listen_overflow` and `tcp.syn_queue` share: the
/// `somaxconn` change when it is the cap, and the application-backlog advice.
struct QueueFix {
    changes: Vec<Change>,
    evidence: Vec<Evidence>,
    /// Names of the listeners in the title (`0.0.0.0:8080 (nginx, pid 812)`).
    names: Vec<String>,
    /// `somaxconn` before and after, when proposed.
    somaxconn: Option<(u64, u64)>,
}

fn queue_fix(ctx: &Context, waiting: &str) -> QueueFix {
    let somaxconn = sysctl_u64(ctx.newer, SOMAXCONN);
    let sockets = ctx.newer.sockets.ok();
    let pressed = sockets
        .map(|s| pressed_listeners(s, ctx.window.as_ref()))
        .unwrap_or_default();
    // somaxconn caps a listener when its backlog equals it (the kernel stored
    // min(backlog, somaxconn) at listen() time). Without socket data, assume it does when it
    // is below the modern default.
    let capped = match (somaxconn, sockets) {
        (Some(max), Some(_)) => pressed.iter().any(|q| u64::from(q.listener.backlog) >= max),
        (Some(max), None) => max < t::SOMAXCONN_FLOOR,
        (None, _) => false,
    };
    let mut fix = QueueFix {
        changes: Vec::new(),
        evidence: Vec::new(),
        names: Vec::new(),
        somaxconn: None,
    };
    let mut limit_after = somaxconn;
    if let Some(cur) = somaxconn.filter(|_| capped) {
        if let Some(p) = raise_queue_limit(cur) {
            fix.changes.push(Change::sysctl(
                SOMAXCONN,
                sysctl(ctx.newer, SOMAXCONN),
                p.to_string(),
            ));
            fix.somaxconn = Some((cur, p));
            limit_after = Some(p);
        }
    }
    for q in &pressed {
        let l = q.listener;
        let scope = l.local.to_string();
        fix.evidence.push(Evidence::new(
            "listener.accept_queue",
            scope.as_str(),
            f64::from(q.queue),
            "connections",
        ));
        fix.evidence.push(Evidence::new(
            "listener.backlog",
            scope,
            f64::from(l.backlog),
            "connections",
        ));
        let label = listener_label(l);
        let target = limit_after
            .unwrap_or_else(|| u64::from(l.backlog).saturating_mul(t::SOMAXCONN_STEP))
            .max(u64::from(l.backlog));
        let raise = if target > u64::from(l.backlog) {
            format!(
                "raise the listen() backlog from {} to {target} (the queue is \
                 min(backlog, net.core.somaxconn) and is fixed when listen() is called, so \
                 restart or reload the service after changing it); ",
                l.backlog
            )
        } else {
            String::new()
        };
        let mut advice = Change::advice(
            format!("listen() backlog of {label}"),
            format!(
                "{raise}make it {waiting} faster (more accept threads or workers, \
                 SO_REUSEPORT, no blocking work before accept())"
            ),
        );
        if target > u64::from(l.backlog) {
            let n = u32::try_from(target).unwrap_or(u32::MAX);
            advice.advised = Some(Advised::ListenBacklog(n));
        }
        fix.changes.push(advice);
        fix.names.push(label);
    }
    if pressed.is_empty() {
        let hint = match sockets {
            Some(_) => "no listener's queue was full at the instants sampled; ",
            None => "socket data unavailable, so the listener is not named; ",
        };
        let backlog = limit_after.unwrap_or(t::SOMAXCONN_FLOOR);
        fix.changes.push(Change::advice_value(
            "listen() backlog of the overflowing service",
            format!(
                "{hint}find it with `ss -ltn` (Recv-Q near Send-Q), raise its listen() backlog \
                 to {backlog} and make it {waiting} faster"
            ),
            Advised::ListenBacklog(u32::try_from(backlog).unwrap_or(u32::MAX)),
        ));
    }
    fix
}

// ---------------------------------------------------------------------------------------
// tcp.listen_overflow

fn listen_overflow(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let overflow = w.netstat_rate("TcpExt", "ListenOverflows");
    let drops = w.netstat_rate("TcpExt", "ListenDrops");
    if overflow.is_none() && drops.is_none() {
        return Vec::new();
    }
    let overflow = overflow.unwrap_or(0.0).max(0.0);
    let drops = drops.unwrap_or(0.0).max(0.0);
    // ListenDrops beyond the overflows (a full SYN queue, an unroutable SYN-ACK, memory)
    // are tcp.syn_queue's and tcp.listen_drops' (tcp_drops.rs).
    if overflow <= t::LISTEN_OVERFLOW_MIN_PER_S
        || counted(
            &w,
            &[("TcpExt", "ListenOverflows")],
            &[("Tcp", "PassiveOpens"), ("TcpExt", "ListenOverflows")],
        )
        .is_some_and(|c| !c.fires(&t::DROP_COUNTER))
    {
        return Vec::new();
    }
    let fix = queue_fix(ctx, "call accept()");
    let changes = fix.changes;
    let mut evidence = vec![
        Evidence::new("TcpExt.ListenOverflows", "host", overflow, "1/s"),
        Evidence::new("TcpExt.ListenDrops", "host", drops, "1/s"),
    ];
    evidence.extend(fix.evidence);
    // A queue limit set below the kernel default that the fix raises is named as the cause.
    let mut low_note = String::new();
    for key in [SOMAXCONN, SYN_BACKLOG] {
        if let Some(b) = below_default(ctx, key) {
            if changes
                .iter()
                .any(|c| c.target == key && c.kind == crate::change::ChangeKind::Sysctl)
            {
                evidence.push(b.evidence());
                low_note.push_str(&format!(" {}: restore at least the default.", b.sentence()));
            }
        }
    }
    let severity = Severity::Critical;
    let title = match fix.names.first() {
        Some(name) => format!(
            "TCP listener {name} overflows its accept queue: {overflow:.1} handshakes/s dropped"
        ),
        None => {
            format!("TCP accept queues overflow: {overflow:.1} completed handshakes/s dropped")
        }
    };
    let mut risk = String::from(
        "a longer accept queue holds more connections that wait for accept(): clients queue \
         (more latency) instead of being dropped and retrying after 1 s, 3 s, ...; each queued \
         connection costs a socket (a few KiB plus its buffers)",
    );
    if let Some((from, to)) = fix.somaxconn {
        risk.push_str(&format!(
            "; net.core.somaxconn {from} -> {to} only takes effect for sockets that call \
             listen() after the change (restart or reload the service)"
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::TCP_LISTEN_OVERFLOW.into(),
        severity,
        title,
        detail: format!(
            "A completed handshake waits in the listener's accept queue until the \
             application calls accept(). The queue holds min(listen() backlog, \
             net.core.somaxconn) connections; when it is full the kernel drops the final \
             ACK or the SYN (TcpExt.ListenOverflows) and the client retries after a \
             timeout. The usual cause is an application that accepts too slowly; the \
             queue size only absorbs bursts.{low_note}"
        ),
        evidence,
        changes,
        risk,
        verify: "TcpExt.ListenOverflows and ListenDrops rates return to 0; the listener's \
                 accept queue (ss -ltn Recv-Q) stays below its backlog"
            .into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.syn_queue

fn syn_queue(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let drop = w.netstat_rate("TcpExt", "TCPReqQFullDrop");
    let cookies = w.netstat_rate("TcpExt", "TCPReqQFullDoCookies");
    if drop.is_none() && cookies.is_none() {
        return Vec::new();
    }
    let drop = drop.unwrap_or(0.0).max(0.0);
    let cookies = cookies.unwrap_or(0.0).max(0.0);
    if (drop <= 0.0 && cookies <= 0.0)
        || counted(
            &w,
            &[
                ("TcpExt", "TCPReqQFullDrop"),
                ("TcpExt", "TCPReqQFullDoCookies"),
            ],
            &[("Tcp", "PassiveOpens"), ("TcpExt", "TCPReqQFullDrop")],
        )
        .is_some_and(|c| !c.fires(&t::DROP_COUNTER))
    {
        return Vec::new();
    }
    let sent = rate_or_zero(&w, "TcpExt", "SyncookiesSent");
    let recv = rate_or_zero(&w, "TcpExt", "SyncookiesRecv");
    let failed = rate_or_zero(&w, "TcpExt", "SyncookiesFailed");
    let unanswered = sent >= t::FLOOD_COOKIES_SENT_PER_S
        && recv / sent.max(f64::MIN_POSITIVE) < t::FLOOD_COOKIES_ANSWERED_MAX;
    let flood = failed >= t::FLOOD_COOKIES_FAILED_PER_S || unanswered;
    let syncookies = sysctl(ctx.newer, SYNCOOKIES).map(str::trim);

    let mut evidence = vec![
        Evidence::new("TcpExt.TCPReqQFullDrop", "host", drop, "1/s"),
        Evidence::new("TcpExt.TCPReqQFullDoCookies", "host", cookies, "1/s"),
        Evidence::new("TcpExt.SyncookiesSent", "host", sent, "1/s"),
        Evidence::new("TcpExt.SyncookiesRecv", "host", recv, "1/s"),
        Evidence::new("TcpExt.SyncookiesFailed", "host", failed, "1/s"),
    ];
    if let Some(s) = ctx.newer.sockets.ok() {
        evidence.push(Evidence::new(
            "sockets.syn_recv",
            "host",
            s.tcp_states.syn_recv as f64,
            "sockets",
        ));
    }
    let mut changes = Vec::new();
    if syncookies == Some("0") {
        changes.push(Change::sysctl(SYNCOOKIES, Some("0"), "1"));
    }
    let detail = "The SYN queue holds half-open connections (SYN received, SYN-ACK sent, ACK \
                  awaited); its limit is the listener's min(listen() backlog, \
                  net.core.somaxconn). When it is full the kernel answers with a SYN cookie \
                  (TCPReqQFullDoCookies: the connection still works but loses window scaling \
                  and SACK without timestamps) or, with syncookies off, drops the SYN \
                  (TCPReqQFullDrop: the client retries after 1 s)."
        .to_string();
    if flood {
        changes.push(Change::advice(
            "SYN flood mitigation",
            "rate-limit SYNs before the TCP stack (`nettune xdp attach IFACE --syn-rate N`, an \
             nftables `limit` rule or SYNPROXY) and find the sources (`nettune drops`); keep \
             net.ipv4.tcp_syncookies=1. Do not raise queue sizes: a flood fills any size.",
        ));
        return vec![Finding {
            netns: None,
            id: ids::TCP_SYN_QUEUE.into(),
            severity: Severity::Critical,
            title: format!(
                "TCP SYN queues are full under what looks like a SYN flood: {sent:.0} cookies/s \
                 sent, {recv:.0}/s answered, {failed:.0}/s invalid"
            ),
            detail: format!(
                "{detail} Most cookies are never answered or the answers are invalid, which is \
                 what spoofed SYNs (or an ACK flood) look like, not a capacity problem."
            ),
            evidence,
            changes,
            risk: "a SYN rate limit set too low also drops legitimate clients during bursts; \
                   size it from the normal SYN rate (TcpExt.TCPReqQFullDoCookies outside the \
                   attack is 0)"
                .into(),
            verify: "TcpExt.SyncookiesFailed and TCPReqQFullDoCookies rates fall to 0; XDP \
                     filter drop counters account for the flood"
                .into(),
        }];
    }
    let fix = queue_fix(ctx, "complete handshakes and call accept()");
    changes.extend(fix.changes);
    evidence.extend(fix.evidence);
    if syncookies == Some("0") {
        if let Some(cur) = sysctl_u64(ctx.newer, SYN_BACKLOG) {
            if let Some(p) = raise_queue_limit(cur) {
                changes.push(Change::sysctl(
                    SYN_BACKLOG,
                    sysctl(ctx.newer, SYN_BACKLOG),
                    p.to_string(),
                ));
            }
        }
    }
    let (severity, title) = if drop > 0.0 {
        (
            Severity::Critical,
            format!("TCP SYN queues are full: {drop:.1} connection attempts/s dropped"),
        )
    } else {
        (
            Severity::Warning,
            format!("TCP SYN queues are full: {cookies:.1} connections/s fall back to SYN cookies"),
        )
    };
    vec![Finding {
        netns: None,
        id: ids::TCP_SYN_QUEUE.into(),
        severity,
        title,
        detail: format!(
            "{detail} The cookies are answered, so this looks like real clients arriving \
             faster than the listener's queue admits them."
        ),
        evidence,
        changes,
        risk: "a longer SYN/accept queue holds more half-open and waiting connections (a few \
               hundred bytes each for request sockets) and more latency under overload; \
               somaxconn applies only after the service calls listen() again"
            .into(),
        verify: "TcpExt.TCPReqQFullDrop and TCPReqQFullDoCookies rates return to 0".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.buffer_below_bdp

fn buffer_below_bdp(ctx: &Context) -> Vec<Finding> {
    let (link, rtt) = (ctx.link(), ctx.rtt());
    let (Some(gbps), Some(rtt_ms)) = (link.known(), rtt.known()) else {
        return Vec::new();
    };
    let iface = link.iface();
    let speed_src = match link.source {
        LinkSource::Measured { iface } => format!("{iface} link speed"),
        _ => "--link-speed".to_string(),
    };
    let rtt_src = match rtt.source {
        RttSource::Measured { samples } => {
            format!("median RTT of {samples} established off-host sockets")
        }
        _ => "--rtt".to_string(),
    };
    let rtt_s = rtt_ms / 1000.0;
    let bdp = gbps * 1e9 / 8.0 * rtt_s;
    let need = t::BDP_MIN_FACTOR * bdp;
    let proposed = round_up_mib(t::BDP_PROPOSED_FACTOR * bdp).min(t::BDP_BUFFER_CAP_BYTES);
    let mut changes = Vec::new();
    let mut evidence = vec![
        Evidence::new("link.speed", speed_src.as_str(), gbps, "Gbit/s"),
        Evidence::new("tcp.rtt", rtt_src.as_str(), rtt_s * 1000.0, "ms"),
        Evidence::new("tcp.bdp", "host", bdp, "bytes"),
    ];
    let mut short = Vec::new();
    for (key, core) in [
        ("net.ipv4.tcp_rmem", "net.core.rmem_max"),
        ("net.ipv4.tcp_wmem", "net.core.wmem_max"),
    ] {
        let Some([min, def, max]) = sysctl_n::<3>(ctx.newer, key) else {
            continue;
        };
        if (max as f64) >= need || proposed <= max {
            continue;
        }
        evidence.push(Evidence::new(
            &format!("{key}.max"),
            "host",
            max as f64,
            "bytes",
        ));
        changes.push(Change::sysctl(
            key,
            sysctl(ctx.newer, key),
            join(&[min, def, proposed]),
        ));
        short.push(key.rsplit('.').next().unwrap_or(key));
        if let Some(cur) = sysctl_u64(ctx.newer, core).filter(|c| *c < proposed) {
            changes.push(Change::sysctl(
                core,
                sysctl(ctx.newer, core),
                proposed.to_string(),
            ));
            evidence.push(Evidence::new(core, "host", cur as f64, "bytes"));
        }
    }
    if changes.is_empty() {
        return Vec::new();
    }
    // A warning when the operator declared the path (both flags) or wants bulk throughput, or
    // the link is busy; measured on an idle host it is only a note (a far SSH peer is not a
    // problem).
    let declared = ctx.options.link_speed_gbps.is_some() && ctx.options.rtt_ms.is_some();
    let busy = match (ctx.window, iface) {
        (Some(w), Some(name)) => w.netdev().get(name).is_some_and(|r| {
            r.rx_bytes.max(r.tx_bytes) * 8.0 >= t::BDP_BUSY_LINK_SHARE * gbps * 1e9
        }),
        _ => false,
    };
    let severity = if declared || busy || ctx.intent().moves_bulk() {
        Severity::Warning
    } else {
        Severity::Info
    };
    let tcp_mem_note = match sysctl_n::<3>(ctx.newer, "net.ipv4.tcp_mem") {
        Some([_, _, high]) => format!(
            "; all TCP sockets together stay bounded by tcp_mem high ({})",
            fmt_bytes(high as f64 * page_size(ctx.host) as f64)
        ),
        None => String::new(),
    };
    vec![Finding {
        netns: None,
        id: ids::TCP_BUFFER_BELOW_BDP.into(),
        severity,
        title: format!(
            "TCP buffers ({}) cap one connection below {gbps} Gbit/s at {:.1} ms RTT \
             (BDP {:.1} MB, need {:.1} MB)",
            short.join(", "),
            rtt_s * 1000.0,
            bdp / 1e6,
            need / 1e6
        ),
        detail: "A TCP connection can have at most one window of data in flight per round \
                 trip, and the window is limited by the socket buffer maximum (tcp_rmem on \
                 the receiver, tcp_wmem on the sender). To fill a link the buffer must hold \
                 the bandwidth-delay product plus the kernel's overhead share, about 2x BDP."
            .into(),
        evidence,
        changes,
        risk: format!(
            "autotuning lets each bulk connection grow to {} of buffer; 100 such connections \
             could use {}{tcp_mem_note}. Larger buffers also mean more queueing delay when the \
             application reads slowly.",
            fmt_bytes(proposed as f64),
            fmt_bytes(proposed as f64 * 100.0)
        ),
        verify: "single-connection throughput over the long path approaches the link speed; \
                 TcpExt.TCPRcvQDrop and TCPMemoryPressures stay at 0"
            .into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.memory_pressure

fn memory_pressure(ctx: &Context) -> Vec<Finding> {
    let tcp_mem = sysctl_n::<3>(ctx.newer, "net.ipv4.tcp_mem");
    let mem_pages = ctx
        .newer
        .sockstat
        .ok()
        .and_then(|s| s.get("TCP")?.get("mem").copied())
        .and_then(|m| u64::try_from(m).ok());
    let rate = |f: &str| ctx.window.map_or(0.0, |w| rate_or_zero(&w, "TcpExt", f));
    let pressures = rate("TCPMemoryPressures");
    let aborts = rate("TCPAbortOnMemory");
    let pruned = rate("RcvPruned") + rate("OfoPruned");
    let prune_called = rate("PruneCalled");
    let collapsed = rate("TCPRcvCollapsed");
    let page = page_size(ctx.host);

    let (over_high, near) = match (tcp_mem, mem_pages) {
        (Some([_, pressure, high]), Some(m)) if high > 0 => (
            m >= high,
            m >= pressure || m as f64 >= t::TCP_MEM_NEAR_HIGH * high as f64,
        ),
        _ => (false, false),
    };
    // Pruning without host-wide pressure is one slow reader: tcp.rcv_pruned (tcp_drops.rs).
    let global = over_high || near || pressures > 0.0 || aborts > 0.0;
    if !global {
        return Vec::new();
    }
    let mut evidence = Vec::new();
    if let Some(m) = mem_pages {
        evidence.push(Evidence::new("sockstat.TCP.mem", "host", m as f64, "pages"));
    }
    if let Some([_, pressure, high]) = tcp_mem {
        evidence.push(Evidence::new(
            "net.ipv4.tcp_mem.pressure",
            "host",
            pressure as f64,
            "pages",
        ));
        evidence.push(Evidence::new(
            "net.ipv4.tcp_mem.high",
            "host",
            high as f64,
            "pages",
        ));
    }
    if ctx.window.is_some() {
        for (m, v) in [
            ("TcpExt.TCPMemoryPressures", pressures),
            ("TcpExt.TCPAbortOnMemory", aborts),
            ("TcpExt.RcvPruned+OfoPruned", pruned),
            ("TcpExt.PruneCalled", prune_called),
            ("TcpExt.TCPRcvCollapsed", collapsed),
        ] {
            evidence.push(Evidence::new(m, "host", v, "1/s"));
        }
    }

    let severity = if over_high || aborts > 0.0 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut changes = Vec::new();
    let mut risk = String::new();
    if let Some([low, pressure, high]) = tcp_mem.filter(|m| m[2] > 0) {
        let cap = ctx
            .host
            .mem_total_bytes
            .map(|b| (b as f64 * t::SOCKET_MEM_MAX_RAM_SHARE / page as f64) as u64);
        let wanted = (high as f64 * t::TCP_MEM_STEP) as u64;
        match cap {
            Some(cap) if cap.min(wanted) > high => {
                let new_high = cap.min(wanted);
                let new = scale_mem_triple([low, pressure, high], new_high);
                changes.push(Change::sysctl(
                    "net.ipv4.tcp_mem",
                    sysctl(ctx.newer, "net.ipv4.tcp_mem"),
                    join(&new),
                ));
                risk = format!(
                    "tcp_mem is in pages of {page} bytes: high {} -> {} pages = {} -> {} of \
                     RAM ({:.0}% of {}); TCP may use that much kernel memory before it \
                     throttles, memory other processes then cannot use",
                    high,
                    new_high,
                    fmt_bytes(high as f64 * page as f64),
                    fmt_bytes(new_high as f64 * page as f64),
                    new_high as f64 * page as f64 * 100.0
                        / ctx.host.mem_total_bytes.unwrap_or(1).max(1) as f64,
                    fmt_bytes(ctx.host.mem_total_bytes.unwrap_or(0) as f64),
                );
            }
            Some(_) => {
                changes.push(Change::advice(
                    "TCP memory budget",
                    format!(
                        "tcp_mem high is already at or above {:.0}% of RAM; reduce per-socket \
                         buffers (tcp_rmem/tcp_wmem max) or the number of connections, or add \
                         RAM",
                        t::SOCKET_MEM_MAX_RAM_SHARE * 100.0
                    ),
                ));
                risk = "none from nettune".into();
            }
            None => {
                changes.push(Change::advice(
                    "net.ipv4.tcp_mem",
                    "RAM size unknown, so nettune does not size tcp_mem; raise its three \
                     values (pages, not bytes) keeping high at most a quarter of RAM",
                ));
                risk = "none from nettune".into();
            }
        }
    }
    let used = match (mem_pages, tcp_mem) {
        (Some(m), Some([_, _, high])) => format!(
            "sockets use {} of the {} tcp_mem limit",
            fmt_bytes(m as f64 * page as f64),
            fmt_bytes(high as f64 * page as f64)
        ),
        _ => format!("the kernel entered memory pressure {pressures:.1} times/s"),
    };
    vec![Finding {
        netns: None,
        id: ids::TCP_MEMORY_PRESSURE.into(),
        severity,
        title: format!("TCP is short of memory host-wide: {used}"),
        detail: "tcp_mem (low, pressure, high, in pages) bounds the memory of all TCP sockets \
                 together. Above pressure the kernel shrinks socket buffers and prunes receive \
                 queues; above high it refuses memory, drops incoming segments and may abort \
                 connections (TCPAbortOnMemory). Per-socket tuning cannot help until the total \
                 limit does."
            .into(),
        evidence,
        changes,
        risk,
        verify: "TcpExt.TCPMemoryPressures rate returns to 0; sockstat TCP mem stays below \
                 tcp_mem pressure"
            .into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.backlog_drop

fn backlog_drop(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let backlog = w.netstat_rate("TcpExt", "TCPBacklogDrop");
    let rcvq = w.netstat_rate("TcpExt", "TCPRcvQDrop");
    if backlog.is_none() && rcvq.is_none() {
        return Vec::new();
    }
    let backlog = backlog.unwrap_or(0.0).max(0.0);
    let rcvq = rcvq.unwrap_or(0.0).max(0.0);
    if backlog + rcvq <= t::BACKLOG_DROP_MIN_PER_S
        || counted(
            &w,
            &[("TcpExt", "TCPBacklogDrop"), ("TcpExt", "TCPRcvQDrop")],
            &[("Tcp", "InSegs")],
        )
        .is_some_and(|c| !c.fires(&t::DROP_COUNTER))
    {
        return Vec::new();
    }
    let key = "net.ipv4.tcp_rmem";
    let mut changes = Vec::new();
    let mut evidence = vec![
        Evidence::new("TcpExt.TCPBacklogDrop", "host", backlog, "1/s"),
        Evidence::new("TcpExt.TCPRcvQDrop", "host", rcvq, "1/s"),
    ];
    let mut risk = String::from("none from nettune");
    if let Some([min, def, max]) = sysctl_n::<3>(ctx.newer, key) {
        evidence.push(Evidence::new(
            "net.ipv4.tcp_rmem.max",
            "host",
            max as f64,
            "bytes",
        ));
        let p = max
            .saturating_mul(2)
            .clamp(t::BACKLOG_RMEM_FLOOR_BYTES, t::BACKLOG_RMEM_CAP_BYTES);
        if p > max {
            changes.push(Change::sysctl(
                key,
                sysctl(ctx.newer, key),
                join(&[min, def, p]),
            ));
            risk = format!(
                "each connection's receive buffer may autotune up to {} (from {}); a slow \
                 reader then queues more data and latency instead of dropping; total bounded \
                 by tcp_mem",
                fmt_bytes(p as f64),
                fmt_bytes(max as f64)
            );
        }
    }
    changes.push(Change::advice(
        "receiving application",
        "read sockets faster and hold them locked for less time: more reader threads, larger \
         reads, no long work between reads; check the receiver's CPU",
    ));
    vec![Finding {
        netns: None,
        id: ids::TCP_BACKLOG_DROP.into(),
        severity: Severity::Warning,
        title: format!(
            "TCP drops {:.1} received segments/s because sockets' receive queues are full",
            backlog + rcvq
        ),
        detail: "Segments arriving while the application holds the socket wait in its backlog, \
                 bounded by the socket's buffers (TCPBacklogDrop); segments that do not fit the \
                 receive buffer are dropped (TCPRcvQDrop). Both mean the reader does not keep \
                 up or its buffer is too small; the sender retransmits and slows down."
            .into(),
        evidence,
        changes,
        risk,
        verify: "TcpExt.TCPBacklogDrop and TCPRcvQDrop rates return to 0".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.retransmits

fn retransmits(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let (Some(retrans), Some(out)) = (
        w.netstat_delta("Tcp", "RetransSegs"),
        w.netstat_delta("Tcp", "OutSegs"),
    ) else {
        return Vec::new();
    };
    let out_rate = out as f64 / w.seconds();
    if out < t::RETRANS_MIN_OUT_SEGS || out_rate < t::RETRANS_MIN_OUT_SEGS_PER_S {
        return Vec::new();
    }
    let ratio = retrans.max(0) as f64 / out as f64;
    if ratio < t::RETRANS_WARN_RATIO {
        return Vec::new();
    }
    let severity = if ratio >= t::RETRANS_CRIT_RATIO {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut evidence = vec![
        Evidence::new(
            "Tcp.RetransSegs",
            "host",
            retrans as f64 / w.seconds(),
            "1/s",
        ),
        Evidence::new("Tcp.OutSegs", "host", out_rate, "1/s"),
        Evidence::new("Tcp.retrans_ratio", "host", ratio * 100.0, "%"),
    ];
    for f in ["TCPTimeouts", "TCPLostRetransmit", "TCPSackRecoveryFail"] {
        if let Some(r) = w.netstat_rate("TcpExt", f) {
            evidence.push(Evidence::new(&format!("TcpExt.{f}"), "host", r, "1/s"));
        }
    }
    let mut changes = vec![Change::advice(
        "packet loss below TCP",
        "find where the segments are lost before touching TCP: this host's drop findings \
         (softnet, nic, qdisc, conntrack), `nettune drops`, then the path (switch ports, the \
         peers' receive drops)",
    )];
    let cc = sysctl(ctx.newer, "net.ipv4.tcp_congestion_control").unwrap_or("");
    if matches!(cc, "cubic" | "reno") && bbr_available(ctx) {
        changes.push(Change::advice(
            "congestion control",
            "if the loss is on a lossy WAN path rather than local drops, consider \
             net.ipv4.tcp_congestion_control=bbr, which does not treat loss as congestion",
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::TCP_RETRANSMITS.into(),
        severity,
        title: format!(
            "TCP retransmits {:.1}% of the segments it sends ({:.0} of {:.0} segments/s)",
            ratio * 100.0,
            retrans as f64 / w.seconds(),
            out_rate
        ),
        detail: "Every retransmission is a segment that was lost or presumed lost; loss-based \
                 congestion control (cubic, reno) also halves its window each time, so a few \
                 percent of loss cuts throughput severely. The retransmit rate is a symptom: \
                 the cause is a drop somewhere below TCP, here or on the path."
            .into(),
        evidence,
        changes,
        risk: "none from nettune; BBR is less fair to loss-based flows sharing a bottleneck".into(),
        verify: format!(
            "Tcp.RetransSegs / Tcp.OutSegs falls below {:.0}%",
            t::RETRANS_WARN_RATIO * 100.0
        ),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.congestion_control, qdisc.pacing

fn bbr_available(ctx: &Context) -> bool {
    match sysctl(ctx.newer, "net.ipv4.tcp_available_congestion_control") {
        Some(list) => list.split_ascii_whitespace().any(|c| c == "bbr"),
        None => ctx
            .host
            .congestion_control_available
            .iter()
            .any(|c| c == "bbr"),
    }
}

/// Whether an info note about bulk sending is worth making: a throughput profile, or the
/// host sends enough TCP segments (and not the latency profile).
fn sends_bulk(ctx: &Context) -> Option<f64> {
    if ctx.intent() == Intent::Latency {
        return None;
    }
    let out = ctx
        .window
        .and_then(|w| w.netstat_rate("Tcp", "OutSegs"))
        .unwrap_or(0.0);
    (ctx.intent().moves_bulk() || out >= t::CC_MIN_OUT_SEGS_PER_S).then_some(out)
}

fn congestion_control(ctx: &Context) -> Vec<Finding> {
    let key = "net.ipv4.tcp_congestion_control";
    let Some(cc) = sysctl(ctx.newer, key) else {
        return Vec::new();
    };
    if !matches!(cc, "cubic" | "reno") || !bbr_available(ctx) {
        return Vec::new();
    }
    let Some(out) = sends_bulk(ctx) else {
        return Vec::new();
    };
    vec![Finding {
        netns: None,
        id: ids::TCP_CONGESTION_CONTROL.into(),
        severity: Severity::Info,
        title: format!("TCP uses {cc} although BBR is available"),
        detail: format!(
            "{cc} treats every loss as congestion and backs off, which underuses long or \
             slightly lossy paths; BBR models bandwidth and RTT instead and usually gets more \
             throughput with less queueing on WAN egress."
        ),
        evidence: vec![
            Evidence::new(&format!("{key}={cc}"), "host", 1.0, "bool"),
            Evidence::new("Tcp.OutSegs", "host", out, "1/s"),
        ],
        changes: vec![Change::sysctl(key, Some(cc), "bbr")],
        risk: "BBR (v1) takes more than its share from cubic flows at a shared bottleneck and \
               can cause loss at switches with shallow buffers; it applies to new connections \
               only, in this network namespace"
            .into(),
        verify: "throughput of long-distance transfers rises; Tcp.RetransSegs ratio does not \
                 grow"
            .into(),
    }]
}

fn pacing(ctx: &Context) -> Vec<Finding> {
    let cc_key = "net.ipv4.tcp_congestion_control";
    let q_key = "net.core.default_qdisc";
    if sysctl(ctx.newer, cc_key) != Some("bbr") {
        return Vec::new();
    }
    let Some(qdisc) = sysctl(ctx.newer, q_key) else {
        return Vec::new();
    };
    if qdisc == "fq" || sends_bulk(ctx).is_none() {
        return Vec::new();
    }
    vec![Finding {
        netns: None,
        id: ids::QDISC_PACING.into(),
        severity: Severity::Info,
        title: format!("TCP paces BBR itself because the default qdisc is {qdisc}, not fq"),
        detail: "BBR needs its packets paced. Since Linux 4.13 TCP paces internally with a \
                 high-resolution timer per socket when the qdisc does not; the fq qdisc does \
                 it more cheaply for many flows. Whether sch_fq exists in this kernel (built \
                 in or as a module) cannot be told from /proc, so nettune does not set it."
            .into(),
        evidence: vec![
            Evidence::new(&format!("{cc_key}=bbr"), "host", 1.0, "bool"),
            Evidence::new(&format!("{q_key}={qdisc}"), "host", 1.0, "bool"),
        ],
        changes: vec![Change::advice(
            q_key,
            "fq, if this kernel has sch_fq (`modinfo sch_fq`): `sysctl -w \
             net.core.default_qdisc=fq`, then replace existing root qdiscs (`tc qdisc replace \
             dev IFACE root fq`, or mq with fq children) since the default applies only to \
             qdiscs created later; without sch_fq nothing is needed",
        )],
        risk: "fq changes queueing on every device it is attached to; fq_codel's AQM is lost \
               where it replaces fq_codel"
            .into(),
        verify: "`tc -s qdisc` shows fq with throttled flows; TCP CPU use per Gbit/s falls".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.port_exhaustion

fn port_exhaustion(ctx: &Context) -> Vec<Finding> {
    let range_key = "net.ipv4.ip_local_port_range";
    let Some([lo, hi]) = sysctl(ctx.newer, range_key).and_then(parse_n::<2>) else {
        return Vec::new();
    };
    if hi < lo {
        return Vec::new();
    }
    let size = (hi - lo).saturating_add(1);
    let Some(sockets) = ctx.newer.sockets.ok() else {
        return Vec::new();
    };
    let reuse_key = "net.ipv4.tcp_tw_reuse";
    let reuse = sysctl(ctx.newer, reuse_key);
    let timestamps_on = sysctl(ctx.newer, "net.ipv4.tcp_timestamps").map(str::trim) != Some("0");
    // With timestamps, tcp_tw_reuse lets connect() take a TIME_WAIT port after 1 s, so
    // TIME_WAIT sockets no longer bound the connection rate: 1 reuses for every destination,
    // 2 (the default since 4.19) for loopback ones only.
    let reused = |ip: std::net::IpAddr| {
        timestamps_on && (reuse == Some("1") || (reuse == Some("2") && ip.is_loopback()))
    };
    let near: Vec<_> = sockets
        .time_wait_top
        .iter()
        .filter(|d| d.count as f64 >= t::PORTS_WARN_SHARE * size as f64)
        .filter(|d| !reused(d.remote.ip()))
        .collect();
    let Some(worst) = near.first() else {
        return Vec::new();
    };
    let share = worst.count as f64 / size as f64;
    let severity = if share >= t::PORTS_CRIT_SHARE {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut evidence = vec![Evidence::new(range_key, "host", size as f64, "ports")];
    for d in &near {
        let scope = d.remote.to_string();
        evidence.push(Evidence::new(
            "sockets.time_wait",
            scope.as_str(),
            d.count as f64,
            "sockets",
        ));
        evidence.push(Evidence::new(
            "tcp.new_connections_estimate",
            scope,
            d.count as f64 / t::TIME_WAIT_SECONDS,
            "1/s",
        ));
    }
    let mut changes = Vec::new();
    let (new_lo, new_hi) = (
        lo.min(u64::from(t::PORT_RANGE_LOW)),
        hi.max(u64::from(t::PORT_RANGE_HIGH)),
    );
    if (new_lo, new_hi) != (lo, hi) {
        changes.push(Change::sysctl(
            range_key,
            sysctl(ctx.newer, range_key),
            join(&[new_lo, new_hi]),
        ));
    }
    if timestamps_on && reuse.is_some() {
        changes.push(Change::sysctl(reuse_key, reuse, "1"));
    }
    for d in &near {
        changes.push(Change::advice(
            format!("connections to {}", d.remote),
            format!(
                "reuse connections (keep-alive, a connection pool) instead of one per request: \
                 about {:.0} new connections/s each leave a port in TIME_WAIT for {:.0} s",
                d.count as f64 / t::TIME_WAIT_SECONDS,
                t::TIME_WAIT_SECONDS
            ),
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::TCP_PORT_EXHAUSTION.into(),
        severity,
        title: format!(
            "Ephemeral ports to {} are {:.0}% used by TIME_WAIT sockets ({} of {size})",
            worst.remote,
            share * 100.0,
            worst.count
        ),
        detail: format!(
            "Each outgoing connection to one destination address and port needs its own local \
             port, and a closed connection keeps it in TIME_WAIT for {:.0} s. With {size} \
             ephemeral ports that allows about {:.0} new connections/s per destination; beyond \
             it connect() fails with EADDRNOTAVAIL or stalls searching for a port.",
            t::TIME_WAIT_SECONDS,
            size as f64 / t::TIME_WAIT_SECONDS
        ),
        evidence,
        changes,
        risk: format!(
            "ports from {} up may then be taken by outgoing connections when a service wants \
             to bind them (list those in net.ipv4.ip_local_reserved_ports); tcp_tw_reuse=1 \
             reuses TIME_WAIT ports for outgoing connections using timestamps, which breaks \
             with peers behind NAT devices that rewrite or strip timestamps",
            t::PORT_RANGE_LOW
        ),
        verify: format!(
            "TIME_WAIT sockets per destination stay below {:.0}% of the port range (ss -tan \
             state time-wait)",
            t::PORTS_WARN_SHARE * 100.0
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::*;
    use crate::collect::interfaces::{Interface, InterfaceKind};
    use crate::collect::sockets::{DestinationCount, RttStats};
    use crate::collect::Source;
    use crate::diagnose::testkit::*;
    use crate::snapshot::Snapshot;
    use std::collections::BTreeMap;

    fn listener(addr: &str, queue: u32, backlog: u32, owner: Owner) -> Listener {
        Listener {
            local: addr.parse().unwrap(),
            accept_queue: queue,
            backlog,
            inode: 4242,
            uid: 33,
            owner,
        }
    }

    fn nginx() -> Owner {
        Owner::Process {
            pid: 812,
            comm: "nginx".into(),
        }
    }

    fn with_listeners(s: &mut Snapshot, ls: Vec<Listener>) {
        s.sockets = Source::Ok(Sockets {
            listeners: ls,
            ..Sockets::default()
        });
    }

    const OVERFLOW: &[(&str, &str, i64, i64)] = &[
        ("TcpExt", "ListenOverflows", 100, 150),
        ("TcpExt", "ListenDrops", 100, 150),
        ("TcpExt", "TCPReqQFullDrop", 0, 0),
    ];

    #[test]
    fn listen_overflow_names_the_full_listener_and_raises_somaxconn_when_it_caps() {
        let (mut a, mut b) = pair(&[("net.core.somaxconn", "4096")], OVERFLOW);
        with_listeners(&mut a, vec![listener("0.0.0.0:8080", 0, 4096, nginx())]);
        with_listeners(
            &mut b,
            vec![
                listener("0.0.0.0:8080", 4097, 4096, nginx()),
                listener("0.0.0.0:22", 1, 128, Owner::NotFound),
            ],
        );
        let f = run_window(listen_overflow, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_LISTEN_OVERFLOW);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence_value(f, "TcpExt.ListenOverflows", "host"), 10.0);
        assert_eq!(
            evidence_value(f, "listener.accept_queue", "0.0.0.0:8080"),
            4097.0
        );
        assert_eq!(
            evidence_value(f, "listener.backlog", "0.0.0.0:8080"),
            4096.0
        );
        // Only the full listener is named, not the one with one connection queued.
        assert!(!f.evidence.iter().any(|e| e.scope == "0.0.0.0:22"));
        assert_eq!(proposed_value(f, "net.core.somaxconn"), "16384");
        assert!(
            f.title.contains("0.0.0.0:8080 (nginx, pid 812)"),
            "{}",
            f.title
        );
        let advice = proposed_value(f, "listen() backlog of 0.0.0.0:8080 (nginx, pid 812)");
        assert!(advice.contains("from 4096 to 16384"), "{advice}");
        assert!(f.risk.contains("listen() after the change"));
    }

    #[test]
    fn listen_overflow_with_small_app_backlog_advises_the_app_not_somaxconn() {
        let (a, mut b) = pair(&[("net.core.somaxconn", "4096")], OVERFLOW);
        with_listeners(
            &mut b,
            vec![listener("[::]:443", 129, 128, Owner::NotLookedUp)],
        );
        let f = run_window(listen_overflow, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_LISTEN_OVERFLOW);
        assert!(f.changes.iter().all(|c| c.target != "net.core.somaxconn"));
        let advice = proposed_value(f, "listen() backlog of [::]:443");
        assert!(advice.contains("from 128 to 4096"), "{advice}");
        let typed = f
            .changes
            .iter()
            .find(|c| c.target == "listen() backlog of [::]:443");
        assert_eq!(
            typed.and_then(|c| c.advised),
            Some(Advised::ListenBacklog(4096))
        );
    }

    #[test]
    fn listen_overflow_without_sockets_raises_a_small_somaxconn() {
        let (a, b) = pair(&[("net.core.somaxconn", "128")], OVERFLOW);
        let f = run_window(listen_overflow, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_LISTEN_OVERFLOW);
        assert_eq!(proposed_value(f, "net.core.somaxconn"), "4096");
        assert_eq!(f.changes[0].current.as_deref(), Some("128"));
    }

    #[test]
    fn listen_drops_without_overflows_are_tcp_listen_drops() {
        let (a, b) = pair(
            &[
                ("net.core.somaxconn", "4096"),
                ("net.ipv4.tcp_syncookies", "0"),
                ("net.ipv4.tcp_max_syn_backlog", "512"),
            ],
            &[
                ("TcpExt", "ListenOverflows", 0, 0),
                ("TcpExt", "ListenDrops", 0, 25),
            ],
        );
        assert!(run_window(listen_overflow, &a, &b, &host(), &Options::default()).is_empty());
        let f = run_window(
            super::super::tcp_drops::RULES[3].run,
            &a,
            &b,
            &host(),
            &Options::default(),
        );
        let f = only(&f, ids::TCP_LISTEN_DROPS);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(proposed_value(f, "net.ipv4.tcp_max_syn_backlog"), "4096");
    }

    #[test]
    fn since_boot_totals_are_judged_by_count_share_and_rate() {
        let counters = [
            ("TcpExt", "ListenOverflows", 0, 20),
            ("TcpExt", "ListenDrops", 0, 20),
            ("Tcp", "PassiveOpens", 0, 1_000_000_000),
            ("TcpExt", "TCPBacklogDrop", 0, 20),
            ("Tcp", "InSegs", 0, 100_000_000_000),
        ];
        let (a, mut b) = pair(&[("net.core.somaxconn", "4096")], &counters);
        // Two years of uptime: 20 drops among a billion opens, 3e-7/s.
        b.taken_at_ns = a.taken_at_ns + 63_072_000 * 1_000_000_000;
        let o = Options::default();
        assert!(run_window(listen_overflow, &a, &b, &host(), &o).is_empty());
        assert!(run_window(backlog_drop, &a, &b, &host(), &o).is_empty());
        // Over 25 minutes: a tiny share and 0.013/s, quiet; over a 5-s live window, 4/s fire.
        b.taken_at_ns = a.taken_at_ns + 1500 * 1_000_000_000;
        assert!(run_window(listen_overflow, &a, &b, &host(), &o).is_empty());
        b.taken_at_ns = a.taken_at_ns + WINDOW_NS;
        assert_eq!(run_window(listen_overflow, &a, &b, &host(), &o).len(), 1);
        assert_eq!(run_window(backlog_drop, &a, &b, &host(), &o).len(), 1);
    }

    #[test]
    fn listen_overflow_quiet_when_counters_flat_or_no_window() {
        let (a, b) = pair(
            &[("net.core.somaxconn", "128")],
            &[
                ("TcpExt", "ListenOverflows", 100, 100),
                ("TcpExt", "ListenDrops", 100, 100),
            ],
        );
        assert!(run_window(listen_overflow, &a, &b, &host(), &Options::default()).is_empty());
        // Counters since boot never fire without a window.
        let (_, b) = pair(&[("net.core.somaxconn", "128")], OVERFLOW);
        assert!(run_static(listen_overflow, &b, &host(), &Options::default()).is_empty());
        // ListenDrops fully explained by SYN-queue drops belong to tcp.syn_queue.
        let (a, b) = pair(
            &[],
            &[
                ("TcpExt", "ListenOverflows", 0, 0),
                ("TcpExt", "ListenDrops", 0, 40),
                ("TcpExt", "TCPReqQFullDrop", 0, 40),
            ],
        );
        assert!(run_window(listen_overflow, &a, &b, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn syn_queue_flood_advises_rate_limit_not_capacity() {
        let (a, b) = pair(
            &[
                ("net.core.somaxconn", "128"),
                ("net.ipv4.tcp_syncookies", "1"),
            ],
            &[
                ("TcpExt", "TCPReqQFullDoCookies", 0, 5000),
                ("TcpExt", "TCPReqQFullDrop", 0, 0),
                ("TcpExt", "SyncookiesSent", 0, 5000),
                ("TcpExt", "SyncookiesRecv", 0, 50),
                ("TcpExt", "SyncookiesFailed", 0, 0),
            ],
        );
        let f = run_window(syn_queue, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_SYN_QUEUE);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence_value(f, "TcpExt.SyncookiesSent", "host"), 1000.0);
        assert_eq!(evidence_value(f, "TcpExt.SyncookiesRecv", "host"), 10.0);
        assert!(f.title.contains("SYN flood"));
        assert!(proposed_value(f, "SYN flood mitigation").contains("xdp"));
        assert!(f.changes.iter().all(|c| c.target != "net.core.somaxconn"));
    }

    #[test]
    fn syn_queue_drops_with_cookies_off_propose_cookies_and_capacity() {
        let (a, b) = pair(
            &[
                ("net.core.somaxconn", "128"),
                ("net.ipv4.tcp_syncookies", "0"),
                ("net.ipv4.tcp_max_syn_backlog", "256"),
            ],
            &[
                ("TcpExt", "TCPReqQFullDrop", 0, 100),
                ("TcpExt", "TCPReqQFullDoCookies", 0, 0),
            ],
        );
        let f = run_window(syn_queue, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_SYN_QUEUE);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence_value(f, "TcpExt.TCPReqQFullDrop", "host"), 20.0);
        assert_eq!(proposed_value(f, "net.ipv4.tcp_syncookies"), "1");
        assert_eq!(proposed_value(f, "net.core.somaxconn"), "4096");
        assert_eq!(proposed_value(f, "net.ipv4.tcp_max_syn_backlog"), "4096");
    }

    #[test]
    fn syn_queue_answered_cookies_are_a_warning() {
        let (a, b) = pair(
            &[
                ("net.core.somaxconn", "4096"),
                ("net.ipv4.tcp_syncookies", "1"),
            ],
            &[
                ("TcpExt", "TCPReqQFullDoCookies", 0, 2000),
                ("TcpExt", "SyncookiesSent", 0, 2000),
                ("TcpExt", "SyncookiesRecv", 0, 1900),
            ],
        );
        let f = run_window(syn_queue, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_SYN_QUEUE);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            evidence_value(f, "TcpExt.TCPReqQFullDoCookies", "host"),
            400.0
        );
        assert!(!f.title.contains("flood"));
    }

    #[test]
    fn syn_queue_quiet_without_queue_full_events() {
        let (a, b) = pair(
            &[("net.ipv4.tcp_syncookies", "1")],
            &[
                ("TcpExt", "TCPReqQFullDoCookies", 7, 7),
                ("TcpExt", "TCPReqQFullDrop", 3, 3),
                ("TcpExt", "SyncookiesSent", 7, 7),
            ],
        );
        assert!(run_window(syn_queue, &a, &b, &host(), &Options::default()).is_empty());
    }

    fn bdp_snap() -> Snapshot {
        let mut s = Snapshot::empty(1);
        set_sysctls(
            &mut s,
            &[
                ("net.ipv4.tcp_rmem", "4096 131072 6291456"),
                ("net.ipv4.tcp_wmem", "4096 16384 4194304"),
                ("net.core.rmem_max", "212992"),
                ("net.core.wmem_max", "212992"),
                ("net.ipv4.tcp_mem", "287898 383867 575796"),
            ],
        );
        s
    }

    #[test]
    fn buffer_below_bdp_sizes_from_declared_speed_and_rtt() {
        let s = bdp_snap();
        let opts = Options {
            link_speed_gbps: Some(10.0),
            rtt_ms: Some(50.0),
            intent: Intent::Balanced,
        };
        let f = run_static(buffer_below_bdp, &s, &host(), &opts);
        let f = only(&f, ids::TCP_BUFFER_BELOW_BDP);
        assert_eq!(f.severity, Severity::Warning);
        // 10 Gbit/s × 50 ms = 62.5 MB (not the seeds' 625 KB).
        assert_eq!(evidence_value(f, "tcp.bdp", "host"), 62_500_000.0);
        // 2.5 × BDP = 156.25 MB, rounded up to 150 MiB; min and default kept.
        assert_eq!(
            proposed_value(f, "net.ipv4.tcp_rmem"),
            "4096 131072 157286400"
        );
        assert_eq!(
            proposed_value(f, "net.ipv4.tcp_wmem"),
            "4096 16384 157286400"
        );
        assert_eq!(proposed_value(f, "net.core.rmem_max"), "157286400");
        assert_eq!(proposed_value(f, "net.core.wmem_max"), "157286400");
    }

    #[test]
    fn buffer_below_bdp_from_measured_rtt_and_nic_speed_is_info() {
        let mut s = bdp_snap();
        let mut ifs = BTreeMap::new();
        ifs.insert(
            "eth0".to_string(),
            Interface {
                kind: InterfaceKind::Physical,
                speed_mbps: Some(10_000),
                operstate: Some("up".into()),
                ..Interface::default()
            },
        );
        ifs.insert(
            "veth0".to_string(),
            Interface {
                kind: InterfaceKind::Veth,
                speed_mbps: Some(100_000),
                ..Interface::default()
            },
        );
        s.interfaces = Source::Ok(ifs);
        let mut sockets = Sockets::default();
        sockets.rtt.remote = RttStats {
            samples: 12,
            median_us: Some(20_000),
            p90_us: Some(90_000),
        };
        s.sockets = Source::Ok(sockets);
        let f = run_static(buffer_below_bdp, &s, &host(), &Options::default());
        let f = only(&f, ids::TCP_BUFFER_BELOW_BDP);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(evidence_value(f, "link.speed", "eth0 link speed"), 10.0);
        // 10 Gbit/s × 20 ms = 25 MB; 2.5 × = 62.5 MB -> 60 MiB.
        assert_eq!(evidence_value(f, "tcp.bdp", "host"), 25_000_000.0);
        assert_eq!(
            proposed_value(f, "net.ipv4.tcp_rmem"),
            "4096 131072 62914560"
        );

        // The same host sending 2 Gbit/s on eth0 over the window: a warning.
        let mut older = s.clone();
        older.taken_at_ns = 1_000_000_000;
        s.taken_at_ns = 1_000_000_000 + WINDOW_NS;
        let dev = |tx: u64| {
            let mut m = BTreeMap::new();
            m.insert(
                "eth0".to_string(),
                crate::collect::netdev::NetDevCounters {
                    tx_bytes: tx,
                    ..Default::default()
                },
            );
            Source::Ok(m)
        };
        older.netdev = dev(0);
        s.netdev = dev(5 * 250_000_000);
        let f = run_window(buffer_below_bdp, &older, &s, &host(), &Options::default());
        assert_eq!(
            only(&f, ids::TCP_BUFFER_BELOW_BDP).severity,
            Severity::Warning
        );
        // Idle over the window: still only a note.
        s.netdev = dev(1000);
        let f = run_window(buffer_below_bdp, &older, &s, &host(), &Options::default());
        assert_eq!(only(&f, ids::TCP_BUFFER_BELOW_BDP).severity, Severity::Info);
    }

    #[test]
    fn buffer_below_bdp_quiet_when_buffers_suffice_or_inputs_unknown() {
        let s = bdp_snap();
        let lan = Options {
            link_speed_gbps: Some(10.0),
            rtt_ms: Some(0.5),
            intent: Intent::Balanced,
        };
        // BDP 625 KB; 2 × BDP = 1.25 MB < 4 MiB and 6 MiB.
        assert!(run_static(buffer_below_bdp, &s, &host(), &lan).is_empty());
        let speed_only = Options {
            link_speed_gbps: Some(10.0),
            ..Options::default()
        };
        assert!(run_static(buffer_below_bdp, &s, &host(), &speed_only).is_empty());
    }

    fn mem_pair(mem_pages: i64, counters: &[(&str, &str, i64, i64)]) -> (Snapshot, Snapshot) {
        let (mut a, mut b) = pair(&[("net.ipv4.tcp_mem", "287898 383867 575796")], counters);
        set_sockstat(&mut a, &[("TCP", "mem", mem_pages)]);
        set_sockstat(&mut b, &[("TCP", "mem", mem_pages)]);
        (a, b)
    }

    #[test]
    fn memory_over_tcp_mem_high_raises_it_within_a_quarter_of_ram() {
        let (a, b) = mem_pair(580_000, &[("TcpExt", "TCPMemoryPressures", 0, 10)]);
        let f = run_window(memory_pressure, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_MEMORY_PRESSURE);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence_value(f, "sockstat.TCP.mem", "host"), 580_000.0);
        assert_eq!(evidence_value(f, "TcpExt.TCPMemoryPressures", "host"), 2.0);
        // 2 × 575796 pages exceeds 16 GiB / 4 / 4 KiB = 1048576 pages: capped, ratios kept.
        assert_eq!(
            proposed_value(f, "net.ipv4.tcp_mem"),
            "524288 699056 1048576"
        );
        assert!(f.risk.contains("pages of 4096 bytes"), "{}", f.risk);
    }

    #[test]
    fn memory_pressure_events_alone_warn_and_static_level_works_without_window() {
        let (a, b) = mem_pair(1000, &[("TcpExt", "TCPMemoryPressures", 0, 3)]);
        let f = run_window(memory_pressure, &a, &b, &host(), &Options::default());
        assert_eq!(
            only(&f, ids::TCP_MEMORY_PRESSURE).severity,
            Severity::Warning
        );
        let (_, b) = mem_pair(400_000, &[]);
        let f = run_static(memory_pressure, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_MEMORY_PRESSURE);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            proposed_value(f, "net.ipv4.tcp_mem"),
            "524288 699056 1048576"
        );
    }

    #[test]
    fn memory_pruning_without_global_pressure_points_at_the_reader() {
        let (a, b) = mem_pair(1000, &[("TcpExt", "RcvPruned", 0, 50)]);
        assert!(run_window(memory_pressure, &a, &b, &host(), &Options::default()).is_empty());
        let f = run_window(
            super::super::tcp_drops::RULES[0].run,
            &a,
            &b,
            &host(),
            &Options::default(),
        );
        let f = only(&f, ids::TCP_RCV_PRUNED);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            evidence_value(f, "TcpExt.RcvPruned+OfoPruned", "host"),
            10.0
        );
        assert!(f.changes.iter().all(|c| c.target != "net.ipv4.tcp_mem"));
    }

    #[test]
    fn memory_quiet_when_healthy() {
        let (a, b) = mem_pair(
            11,
            &[
                ("TcpExt", "TCPMemoryPressures", 4, 4),
                ("TcpExt", "RcvPruned", 9, 9),
                ("TcpExt", "TCPRcvCollapsed", 0, 500),
            ],
        );
        assert!(run_window(memory_pressure, &a, &b, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn backlog_drop_fires_and_doubles_rmem_max_to_the_floor() {
        let (a, b) = pair(
            &[("net.ipv4.tcp_rmem", "4096 131072 6291456")],
            &[
                ("TcpExt", "TCPBacklogDrop", 0, 100),
                ("TcpExt", "TCPRcvQDrop", 0, 0),
            ],
        );
        let f = run_window(backlog_drop, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_BACKLOG_DROP);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(evidence_value(f, "TcpExt.TCPBacklogDrop", "host"), 20.0);
        assert_eq!(
            proposed_value(f, "net.ipv4.tcp_rmem"),
            "4096 131072 16777216"
        );
        assert!(f
            .changes
            .iter()
            .any(|c| c.kind == crate::change::ChangeKind::Advice));
    }

    #[test]
    fn backlog_drop_never_lowers_and_is_quiet_when_flat() {
        let (a, b) = pair(
            &[("net.ipv4.tcp_rmem", "4096 131072 134217728")],
            &[("TcpExt", "TCPRcvQDrop", 0, 10)],
        );
        let f = run_window(backlog_drop, &a, &b, &host(), &Options::default());
        assert!(only(&f, ids::TCP_BACKLOG_DROP)
            .changes
            .iter()
            .all(|c| c.target != "net.ipv4.tcp_rmem"));
        let (a, b) = pair(&[], &[("TcpExt", "TCPBacklogDrop", 5, 5)]);
        assert!(run_window(backlog_drop, &a, &b, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn retransmits_above_two_percent_warn() {
        let (a, b) = pair(
            &[
                ("net.ipv4.tcp_congestion_control", "cubic"),
                (
                    "net.ipv4.tcp_available_congestion_control",
                    "reno cubic bbr",
                ),
            ],
            &[
                ("Tcp", "OutSegs", 1_000_000, 1_100_000),
                ("Tcp", "RetransSegs", 1000, 6000),
            ],
        );
        let f = run_window(retransmits, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_RETRANSMITS);
        assert_eq!(f.severity, Severity::Warning);
        assert!((evidence_value(f, "Tcp.retrans_ratio", "host") - 5.0).abs() < 1e-9);
        assert_eq!(evidence_value(f, "Tcp.RetransSegs", "host"), 1000.0);
        assert!(proposed_value(f, "congestion control").contains("bbr"));
    }

    #[test]
    fn retransmits_quiet_when_low_or_too_few_segments() {
        let (a, b) = pair(
            &[],
            &[
                ("Tcp", "OutSegs", 0, 100_000),
                ("Tcp", "RetransSegs", 0, 500),
            ],
        );
        assert!(run_window(retransmits, &a, &b, &host(), &Options::default()).is_empty());
        let (a, b) = pair(
            &[],
            &[("Tcp", "OutSegs", 0, 600), ("Tcp", "RetransSegs", 0, 300)],
        );
        assert!(run_window(retransmits, &a, &b, &host(), &Options::default()).is_empty());
    }

    const CUBIC_WITH_BBR: &[(&str, &str)] = &[
        ("net.ipv4.tcp_congestion_control", "cubic"),
        (
            "net.ipv4.tcp_available_congestion_control",
            "reno cubic bbr",
        ),
    ];

    #[test]
    fn congestion_control_info_on_a_sending_host() {
        let (a, b) = pair(CUBIC_WITH_BBR, &[("Tcp", "OutSegs", 0, 100_000)]);
        let f = run_window(congestion_control, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::TCP_CONGESTION_CONTROL);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(proposed_value(f, "net.ipv4.tcp_congestion_control"), "bbr");
        assert_eq!(evidence_value(f, "Tcp.OutSegs", "host"), 20_000.0);
    }

    #[test]
    fn congestion_control_quiet_when_idle_or_bbr_missing() {
        let (a, b) = pair(CUBIC_WITH_BBR, &[("Tcp", "OutSegs", 0, 50)]);
        assert!(run_window(congestion_control, &a, &b, &host(), &Options::default()).is_empty());
        let (a, b) = pair(
            &[
                ("net.ipv4.tcp_congestion_control", "cubic"),
                ("net.ipv4.tcp_available_congestion_control", "reno cubic"),
            ],
            &[("Tcp", "OutSegs", 0, 100_000)],
        );
        let cdn = Options {
            intent: Intent::Bulk,
            ..Options::default()
        };
        assert!(run_window(congestion_control, &a, &b, &host(), &cdn).is_empty());
    }

    #[test]
    fn pacing_info_with_bbr_and_no_fq_under_cdn_profile() {
        let mut s = Snapshot::empty(1);
        set_sysctls(
            &mut s,
            &[
                ("net.ipv4.tcp_congestion_control", "bbr"),
                ("net.core.default_qdisc", "pfifo_fast"),
            ],
        );
        let cdn = Options {
            intent: Intent::Bulk,
            ..Options::default()
        };
        let f = run_static(pacing, &s, &host(), &cdn);
        let f = only(&f, ids::QDISC_PACING);
        assert_eq!(f.severity, Severity::Info);
        assert!(proposed_value(f, "net.core.default_qdisc")
            .starts_with("fq, if this kernel has sch_fq"));
        // It cannot know whether fq exists, so it does not propose a sysctl write.
        assert!(f
            .changes
            .iter()
            .all(|c| c.kind == crate::change::ChangeKind::Advice));
        // Idle host, default profile: quiet.
        assert!(run_static(pacing, &s, &host(), &Options::default()).is_empty());
    }

    #[test]
    fn pacing_quiet_with_fq() {
        let mut s = Snapshot::empty(1);
        set_sysctls(
            &mut s,
            &[
                ("net.ipv4.tcp_congestion_control", "bbr"),
                ("net.core.default_qdisc", "fq"),
            ],
        );
        let cdn = Options {
            intent: Intent::Bulk,
            ..Options::default()
        };
        assert!(run_static(pacing, &s, &host(), &cdn).is_empty());
    }

    fn tw_snap(count: u64, reuse: &str) -> Snapshot {
        let mut s = Snapshot::empty(1);
        set_sysctls(
            &mut s,
            &[
                ("net.ipv4.ip_local_port_range", "32768 60999"),
                ("net.ipv4.tcp_tw_reuse", reuse),
                ("net.ipv4.tcp_timestamps", "1"),
            ],
        );
        s.sockets = Source::Ok(Sockets {
            time_wait_top: vec![
                DestinationCount {
                    remote: "10.0.0.2:5432".parse().unwrap(),
                    count,
                },
                DestinationCount {
                    remote: "10.0.0.3:80".parse().unwrap(),
                    count: 40,
                },
            ],
            ..Sockets::default()
        });
        s
    }

    #[test]
    fn port_exhaustion_widens_the_range_and_enables_reuse() {
        let s = tw_snap(20_000, "2");
        let f = run_static(port_exhaustion, &s, &host(), &Options::default());
        let f = only(&f, ids::TCP_PORT_EXHAUSTION);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            evidence_value(f, "sockets.time_wait", "10.0.0.2:5432"),
            20_000.0
        );
        assert_eq!(
            evidence_value(f, "net.ipv4.ip_local_port_range", "host"),
            28232.0
        );
        assert_eq!(
            proposed_value(f, "net.ipv4.ip_local_port_range"),
            "10240 65535"
        );
        assert_eq!(proposed_value(f, "net.ipv4.tcp_tw_reuse"), "1");
        assert!(proposed_value(f, "connections to 10.0.0.2:5432").contains("333 new connections/s"));
        assert!(!f.evidence.iter().any(|e| e.scope == "10.0.0.3:80"));
        let f = run_static(
            port_exhaustion,
            &tw_snap(25_000, "0"),
            &host(),
            &Options::default(),
        );
        let f = only(&f, ids::TCP_PORT_EXHAUSTION);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(proposed_value(f, "net.ipv4.tcp_tw_reuse"), "1");
    }

    #[test]
    fn port_exhaustion_quiet_with_few_time_wait_or_reuse_on() {
        let s = tw_snap(500, "2");
        assert!(run_static(port_exhaustion, &s, &host(), &Options::default()).is_empty());
        // tcp_tw_reuse=1 with timestamps: TIME_WAIT ports are reused, not exhausted.
        let s = tw_snap(25_000, "1");
        assert!(run_static(port_exhaustion, &s, &host(), &Options::default()).is_empty());
    }
}
