//! TCP drop counters the other TCP rules do not cover, each judged by count, share and rate
//! ([`t::CountThreshold`]): receive-queue pruning (`tcp.rcv_pruned`), zero-window drops
//! (`tcp.zero_window_drop`), minimum-TTL drops (`tcp.min_ttl_drop`), listener drops that are
//! neither accept- nor SYN-queue overflows (`tcp.listen_drops`) and retransmits of segments
//! still queued in the host (`tcp.spurious_rtx_host_queues`).

use super::ids;
use super::thresholds as t;
use super::util::{counted, fmt_rate, fmt_share, sysctl, sysctl_n, sysctl_u64, Counted};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::TCP_RCV_PRUNED,
        run: rcv_pruned,
    },
    Rule {
        name: ids::TCP_ZERO_WINDOW_DROP,
        run: zero_window_drop,
    },
    Rule {
        name: ids::TCP_MIN_TTL_DROP,
        run: min_ttl_drop,
    },
    Rule {
        name: ids::TCP_LISTEN_DROPS,
        run: listen_drops,
    },
    Rule {
        name: ids::TCP_SPURIOUS_RTX_HOST_QUEUES,
        run: spurious_rtx_host_queues,
    },
];

const IN_SEGS: &[(&str, &str)] = &[("Tcp", "InSegs")];

/// `N/s (C in the window, S of segments received)`.
fn amount(c: &Counted, of: &str) -> String {
    format!(
        "{}/s ({} in the window{})",
        fmt_rate(c.rate),
        c.count,
        c.share()
            .map(|s| format!(", {} of {of}", fmt_share(s)))
            .unwrap_or_default()
    )
}

/// Rate and share evidence for one counter.
fn evidence_of(metric: &str, c: &Counted) -> Vec<Evidence> {
    let mut e = vec![Evidence::new(metric, "host", c.rate, "1/s")];
    if let Some(s) = c.share() {
        e.push(Evidence::new(
            &format!("{metric}.share"),
            "host",
            s * 100.0,
            "%",
        ));
    }
    e
}

/// The tcp_rmem max evidence and the "not below BDP" pointer the receive-side rules share.
fn rmem_evidence(ctx: &Context, evidence: &mut Vec<Evidence>) {
    if let Some([_, _, max]) = sysctl_n::<3>(ctx.newer, "net.ipv4.tcp_rmem") {
        evidence.push(Evidence::new(
            "net.ipv4.tcp_rmem.max",
            "host",
            max as f64,
            "bytes",
        ));
    }
}

// ---------------------------------------------------------------------------------------
// tcp.rcv_pruned

fn rcv_pruned(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(dropped) = counted(
        &w,
        &[("TcpExt", "RcvPruned"), ("TcpExt", "OfoPruned")],
        IN_SEGS,
    ) else {
        return Vec::new();
    };
    let collapsed = counted(
        &w,
        &[("TcpExt", "PruneCalled"), ("TcpExt", "TCPRcvCollapsed")],
        IN_SEGS,
    );
    let drops = dropped.fires(&t::TCP_PRUNED);
    let heavy_collapse = collapsed.is_some_and(|c| c.fires(&t::TCP_COLLAPSED));
    if !drops && !heavy_collapse {
        return Vec::new();
    }
    let mut evidence = evidence_of("TcpExt.RcvPruned+OfoPruned", &dropped);
    for f in ["PruneCalled", "TCPRcvCollapsed", "RcvPruned", "OfoPruned"] {
        if let Some(r) = w.netstat_rate("TcpExt", f) {
            evidence.push(Evidence::new(&format!("TcpExt.{f}"), "host", r, "1/s"));
        }
    }
    rmem_evidence(ctx, &mut evidence);
    if let Some(m) = ctx
        .newer
        .sockstat
        .ok()
        .and_then(|s| s.get("TCP")?.get("mem").copied())
    {
        evidence.push(Evidence::new("sockstat.TCP.mem", "host", m as f64, "pages"));
    }
    let (severity, title) = if drops {
        (
            Severity::Warning,
            format!(
                "TCP drops {} received segments pruning full receive queues",
                amount(&dropped, "segments received")
            ),
        )
    } else {
        let c = collapsed.unwrap_or(dropped);
        (
            Severity::Info,
            format!(
                "TCP collapses full receive queues {} (no segment dropped yet)",
                amount(&c, "segments received")
            ),
        )
    };
    vec![Finding {
        netns: None,
        id: ids::TCP_RCV_PRUNED.into(),
        severity,
        title,
        detail: "When a socket's receive queue outgrows its buffer (sk_rcvbuf, autotuned up to \
                 tcp_rmem max) the kernel first collapses it, copying segments into fewer, \
                 fuller buffers (PruneCalled, TCPRcvCollapsed: CPU spent in softirq), then \
                 drops out-of-order data (OfoPruned) and finally the segment itself \
                 (RcvPruned): the sender retransmits and backs off. The reader is slower than \
                 the sender or its buffer is small for the path; when the whole host is short \
                 of TCP memory see tcp.memory_pressure."
            .into(),
        evidence,
        changes: vec![Change::advice(
            "receiving application",
            "read sockets faster (more reader threads, larger reads, check the receiver's \
             CPU); an application that sets SO_RCVBUF turns autotuning off, leave it unset; if \
             tcp_rmem max is below 2x the path's BDP see tcp.buffer_below_bdp",
        )],
        risk: "none from nettune; larger buffers alone only delay the drops when the reader is \
               slower than the sender"
            .into(),
        verify: "TcpExt.RcvPruned, OfoPruned and TCPRcvCollapsed stop rising".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.zero_window_drop

fn zero_window_drop(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(c) = counted(&w, &[("TcpExt", "TCPZeroWindowDrop")], IN_SEGS) else {
        return Vec::new();
    };
    if !c.fires(&t::TCP_ZERO_WINDOW_DROP) {
        return Vec::new();
    }
    let mut evidence = evidence_of("TcpExt.TCPZeroWindowDrop", &c);
    for f in [
        "TCPToZeroWindowAdv",
        "TCPFromZeroWindowAdv",
        "TCPWantZeroWindowAdv",
    ] {
        if let Some(r) = w.netstat_rate("TcpExt", f) {
            evidence.push(Evidence::new(&format!("TcpExt.{f}"), "host", r, "1/s"));
        }
    }
    rmem_evidence(ctx, &mut evidence);
    vec![Finding {
        netns: None,
        id: ids::TCP_ZERO_WINDOW_DROP.into(),
        severity: Severity::Warning,
        title: format!(
            "TCP drops {} segments that arrive while the receive window is zero",
            amount(&c, "segments received")
        ),
        detail: "A receiver whose application does not read advertises a zero window; a \
                 segment that still arrives (a sender probing, or one that ignores the \
                 window) is dropped (TCPZeroWindowDrop). The data is not lost, it is \
                 retransmitted once the window opens, but the flow stalls: the application \
                 is the bottleneck."
            .into(),
        evidence,
        changes: vec![Change::advice(
            "receiving application",
            "find the sockets with a full Recv-Q (`ss -tnm` shows rb and the queue) and make \
             their readers keep up: more threads, larger reads, no blocking work between reads",
        )],
        risk: "none from nettune".into(),
        verify: "TcpExt.TCPZeroWindowDrop stops rising".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.min_ttl_drop

fn min_ttl_drop(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(c) = counted(&w, &[("TcpExt", "TCPMinTTLDrop")], IN_SEGS) else {
        return Vec::new();
    };
    if !c.fires(&t::TCP_MIN_TTL_DROP) {
        return Vec::new();
    }
    vec![Finding {
        netns: None,
        id: ids::TCP_MIN_TTL_DROP.into(),
        severity: Severity::Info,
        title: format!(
            "TCP drops {} segments below a socket's minimum TTL (IP_MINTTL)",
            amount(&c, "segments received")
        ),
        detail: "Sockets with IP_MINTTL/IPV6_MINHOPCOUNT (BGP's GTSM, RFC 5082, usually 255 \
                 for a directly connected peer) drop segments that crossed more hops than \
                 allowed (TCPMinTTLDrop). Either someone further away is sending to the \
                 protected port (an attack the option stops), or a peer's path grew by a hop \
                 and the session cannot come up."
            .into(),
        evidence: evidence_of("TcpExt.TCPMinTTLDrop", &c),
        changes: vec![Change::advice(
            "sockets with IP_MINTTL (BGP daemons)",
            "check the routing daemon's ttl-security / GTSM hop count against the real \
             distance of each peer (a BGP session stuck in Active with this counter rising), \
             and filter the sources if the segments are hostile",
        )],
        risk: "none from nettune".into(),
        verify: "TcpExt.TCPMinTTLDrop stops rising".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.listen_drops

fn listen_drops(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(drops) = w.netstat_delta("TcpExt", "ListenDrops") else {
        return Vec::new();
    };
    let overflows = w.netstat_delta("TcpExt", "ListenOverflows").unwrap_or(0);
    let reqq = w.netstat_delta("TcpExt", "TCPReqQFullDrop").unwrap_or(0);
    // ListenDrops counts every drop at a listener, ListenOverflows included (and a full
    // SYN queue with cookies off, TCPReqQFullDrop): what is left has other causes.
    let other = (drops - overflows - reqq).max(0) as f64;
    let passive = w.netstat_delta("Tcp", "PassiveOpens").unwrap_or(0).max(0) as f64;
    let seconds = w.seconds();
    let c = Counted {
        count: other,
        rate: other / seconds.max(1e-9),
        base: Some(passive + other),
        seconds,
    };
    if !c.fires(&t::TCP_LISTEN_DROPS) {
        return Vec::new();
    }
    let syncookies = sysctl(ctx.newer, "net.ipv4.tcp_syncookies");
    let no_route = w.netstat_rate("Ip", "OutNoRoutes").unwrap_or(0.0).max(0.0);
    let mut evidence = evidence_of("TcpExt.ListenDrops-ListenOverflows", &c);
    for (m, f) in [
        ("TcpExt.ListenDrops", "ListenDrops"),
        ("TcpExt.ListenOverflows", "ListenOverflows"),
        ("TcpExt.TCPReqQFullDrop", "TCPReqQFullDrop"),
    ] {
        evidence.push(Evidence::new(
            m,
            "host",
            w.netstat_rate("TcpExt", f).unwrap_or(0.0).max(0.0),
            "1/s",
        ));
    }
    evidence.push(Evidence::new("Ip.OutNoRoutes", "host", no_route, "1/s"));
    let mut changes = Vec::new();
    let mut causes = Vec::new();
    if syncookies == Some("0") {
        changes.push(Change::sysctl("net.ipv4.tcp_syncookies", Some("0"), "1"));
        if let Some(cur) = sysctl_u64(ctx.newer, "net.ipv4.tcp_max_syn_backlog") {
            let p = cur
                .saturating_mul(t::SOMAXCONN_STEP)
                .clamp(t::SOMAXCONN_FLOOR, t::SOMAXCONN_CAP);
            if p > cur {
                changes.push(Change::sysctl(
                    "net.ipv4.tcp_max_syn_backlog",
                    sysctl(ctx.newer, "net.ipv4.tcp_max_syn_backlog"),
                    p.to_string(),
                ));
            }
        }
        causes.push(
            "syncookies are off, so SYNs beyond 3/4 of tcp_max_syn_backlog are dropped before \
             the SYN queue is full",
        );
    }
    if no_route > 0.0 {
        causes.push("Ip.OutNoRoutes rises: SYN-ACKs find no route back to the client");
    }
    changes.push(Change::advice(
        "route back to the clients",
        "check that SYN-ACKs can be routed back (`ip route get CLIENT from LISTEN_ADDR`, \
         policy rules for multi-homed hosts, an XFRM/IPsec policy that rejects them) and that \
         the host is not short of memory (TcpExt.TCPMemoryPressures, `free`); an LSM or a \
         socket filter on the listener drops here too",
    ));
    let cause = if causes.is_empty() {
        "a SYN-ACK that cannot be routed back, memory allocation failures or a security \
         policy"
            .to_string()
    } else {
        causes.join("; ")
    };
    vec![Finding {
        netns: None,
        id: ids::TCP_LISTEN_DROPS.into(),
        severity: Severity::Warning,
        title: format!(
            "TCP listeners drop {} connection attempts that neither accept nor SYN queue \
             overflows explain",
            amount(&c, "passive opens")
        ),
        detail: format!(
            "TcpExt.ListenDrops counts every SYN or final ACK a listener drops; accept-queue \
             overflows (ListenOverflows, tcp.listen_overflow) and full SYN queues \
             (TCPReqQFullDrop, tcp.syn_queue) are part of it. The rest here: {cause}. The \
             client retries after 1 s, 3 s, ..."
        ),
        evidence,
        changes,
        risk: "syncookies drop TCP options for cookie connections only when timestamps are off; \
               a longer SYN backlog holds more half-open connections (a few hundred bytes each)"
            .into(),
        verify: "TcpExt.ListenDrops rises no faster than ListenOverflows + TCPReqQFullDrop".into(),
    }]
}

// ---------------------------------------------------------------------------------------
// tcp.spurious_rtx_host_queues

fn spurious_rtx_host_queues(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(c) = counted(
        &w,
        &[("TcpExt", "TCPSpuriousRtxHostQueues")],
        &[("Tcp", "RetransSegs")],
    ) else {
        return Vec::new();
    };
    if !c.fires(&t::TCP_SPURIOUS_RTX_HOST_QUEUES) {
        return Vec::new();
    }
    let mut evidence = evidence_of("TcpExt.TCPSpuriousRtxHostQueues", &c);
    if let Some(q) = sysctl(ctx.newer, "net.core.default_qdisc") {
        evidence.push(Evidence::new(
            &format!("net.core.default_qdisc={q}"),
            "host",
            1.0,
            "setting",
        ));
    }
    vec![Finding {
        netns: None,
        id: ids::TCP_SPURIOUS_RTX_HOST_QUEUES.into(),
        severity: Severity::Info,
        title: format!(
            "TCP retransmits {} segments whose original is still queued in this host",
            amount(&c, "retransmits")
        ),
        detail: "TCPSpuriousRtxHostQueues counts retransmissions the kernel skipped because the \
                 original segment had not yet left the host: it sat in a qdisc or the \
                 driver's transmit ring longer than the retransmission timeout. Deep \
                 transmit queues (a large txqueuelen with pfifo_fast, a paused or slow NIC, \
                 a shaper) add that much latency to every flow."
            .into(),
        evidence,
        changes: vec![Change::advice(
            "transmit queues",
            "look for the queue that holds packets: `tc -s qdisc` backlog and drops (see \
             qdisc.drops), `ethtool -S` tx pause frames, BQL limits under \
             /sys/class/net/IFACE/queues/tx-*/byte_queue_limits; fq or fq_codel as \
             net.core.default_qdisc keeps host queues short",
        )],
        risk: "none from nettune".into(),
        verify: "TcpExt.TCPSpuriousRtxHostQueues stops rising".into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::*;

    #[test]
    fn rcv_pruned_drops_warn_and_collapse_alone_is_info() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "RcvPruned", 20.0)
            .netstat("TcpExt", "OfoPruned", 5.0)
            .netstat("TcpExt", "PruneCalled", 30.0)
            .netstat("Tcp", "InSegs", 100_000.0);
        let f = fx.run(rcv_pruned);
        let f = only(&f, ids::TCP_RCV_PRUNED);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            evidence(f, "TcpExt.RcvPruned+OfoPruned", "host"),
            Some(25.0)
        );
        assert_eq!(evidence(f, "TcpExt.PruneCalled", "host"), Some(30.0));

        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "RcvPruned", 0.0)
            .netstat("TcpExt", "TCPRcvCollapsed", 2000.0)
            .netstat("Tcp", "InSegs", 100_000.0);
        let f = fx.run(rcv_pruned);
        assert_eq!(only(&f, ids::TCP_RCV_PRUNED).severity, Severity::Info);
    }

    #[test]
    fn rcv_pruned_quiet_when_rare() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "RcvPruned", 0.0)
            .netstat("TcpExt", "TCPRcvCollapsed", 1.0)
            .netstat("Tcp", "InSegs", 100_000.0);
        assert!(fx.run(rcv_pruned).is_empty());
    }

    #[test]
    fn zero_window_drop_fires_and_is_quiet_when_flat() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "TCPZeroWindowDrop", 4.0)
            .netstat("Tcp", "InSegs", 1000.0);
        let f = fx.run(zero_window_drop);
        assert_eq!(
            evidence(
                only(&f, ids::TCP_ZERO_WINDOW_DROP),
                "TcpExt.TCPZeroWindowDrop",
                "host"
            ),
            Some(4.0)
        );
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "TCPZeroWindowDrop", 0.0)
            .netstat("Tcp", "InSegs", 1000.0);
        assert!(fx.run(zero_window_drop).is_empty());
    }

    #[test]
    fn min_ttl_drop_fires_and_is_quiet_without_counter() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "TCPMinTTLDrop", 3.0)
            .netstat("Tcp", "InSegs", 100.0);
        let f = fx.run(min_ttl_drop);
        assert_eq!(only(&f, ids::TCP_MIN_TTL_DROP).severity, Severity::Info);
        let mut fx = Fx::new(2);
        fx.netstat("Tcp", "InSegs", 100.0);
        assert!(fx.run(min_ttl_drop).is_empty());
    }

    #[test]
    fn listen_drops_beyond_overflows_fire_with_syncookies_fix() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "ListenDrops", 30.0)
            .netstat("TcpExt", "ListenOverflows", 10.0)
            .netstat("TcpExt", "TCPReqQFullDrop", 5.0)
            .netstat("Tcp", "PassiveOpens", 100.0)
            .sysctl("net.ipv4.tcp_syncookies", "0")
            .sysctl("net.ipv4.tcp_max_syn_backlog", "128");
        let f = fx.run(listen_drops);
        let f = only(&f, ids::TCP_LISTEN_DROPS);
        assert_eq!(
            evidence(f, "TcpExt.ListenDrops-ListenOverflows", "host"),
            Some(15.0)
        );
        assert_eq!(proposed(f, "net.ipv4.tcp_syncookies"), Some("1"));
        assert_eq!(proposed(f, "net.ipv4.tcp_max_syn_backlog"), Some("4096"));
    }

    #[test]
    fn listen_drops_equal_to_overflows_are_quiet() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "ListenDrops", 30.0)
            .netstat("TcpExt", "ListenOverflows", 30.0)
            .netstat("Tcp", "PassiveOpens", 100.0);
        assert!(fx.run(listen_drops).is_empty());
    }

    #[test]
    fn spurious_rtx_host_queues_info_and_quiet() {
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "TCPSpuriousRtxHostQueues", 50.0)
            .netstat("Tcp", "RetransSegs", 200.0);
        let f = fx.run(spurious_rtx_host_queues);
        assert_eq!(
            only(&f, ids::TCP_SPURIOUS_RTX_HOST_QUEUES).severity,
            Severity::Info
        );
        let mut fx = Fx::new(2);
        fx.netstat("TcpExt", "TCPSpuriousRtxHostQueues", 1.0)
            .netstat("Tcp", "RetransSegs", 2000.0);
        assert!(fx.run(spurious_rtx_host_queues).is_empty());
    }
}
