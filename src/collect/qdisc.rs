//! Queueing disciplines and their statistics (sent, dropped, overlimits, requeues,
//! backlog): live from an rtnetlink `RTM_GETQDISC` dump in the calling thread's network
//! namespace ([`read`]; attributes walked with [`crate::nla`]), or from `tc -s qdisc` text
//! ([`parse_tc_text`], for archives).

use super::{Root, Source, Warnings};
use crate::nla;
use crate::{Error, Result};
use netlink_packet_core::{
    Emitable, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use serde::{Deserialize, Serialize};

/// One qdisc of a device, with its cumulative counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qdisc {
    /// The device (`eth0`).
    pub device: String,
    /// Kind (`fq_codel`, `mq`, `pfifo_fast`, `htb`, `ingress`, ...).
    pub kind: String,
    /// Handle as tc prints it (`0:`, `1:`, `ffff:`).
    pub handle: String,
    /// `root`, `ingress` (the ingress/clsact hook) or the parent class (`1:1`, `:3`).
    pub parent: String,
    /// Bytes sent.
    pub bytes: u64,
    /// Packets sent.
    pub packets: u64,
    /// Packets dropped.
    pub drops: u64,
    /// Times the qdisc was over its limit or rate (shapers: a packet delayed, not
    /// necessarily dropped).
    pub overlimits: u64,
    /// Packets handed back by the driver and queued again.
    pub requeues: u64,
    /// Bytes queued now (a gauge).
    pub backlog_bytes: u64,
    /// Packets queued now (a gauge).
    pub backlog_packets: u64,
}

impl Qdisc {
    /// Whether this is a device's top qdisc (egress root or the ingress hook): the one whose
    /// counters cover its children.
    pub fn is_top(&self) -> bool {
        self.parent == "root" || self.parent == "ingress"
    }

    /// The key that matches the same qdisc in two snapshots.
    pub fn key(&self) -> (&str, &str, &str) {
        (&self.device, &self.handle, &self.parent)
    }
}

/// Every qdisc of a namespace, in dump order.
pub type Qdiscs = Vec<Qdisc>;

const RTM_NEWQDISC: u16 = 36;
const RTM_GETQDISC: u16 = 38;
const TCA_KIND: u16 = 1;
const TCA_STATS: u16 = 3;
const TCA_STATS2: u16 = 7;
const TCA_STATS_BASIC: u16 = 1;
const TCA_STATS_QUEUE: u16 = 3;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
const TC_H_INGRESS: u32 = 0xFFFF_FFF1;
/// `struct tcmsg`: family, pads, ifindex, handle, parent, info.
const TCMSG_LEN: usize = 20;
const NETLINK_HEADER_LEN: usize = 16;

/// A handle as tc prints it: `MAJ:` for a qdisc, `MAJ:MIN` for a class (hex).
fn handle_text(h: u32, qdisc: bool) -> String {
    let (maj, min) = (h >> 16, h & 0xFFFF);
    if qdisc && min == 0 {
        format!("{maj:x}:")
    } else if maj == 0 {
        format!(":{min:x}")
    } else {
        format!("{maj:x}:{min:x}")
    }
}

fn u64_at(p: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(p.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    p.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
}

/// One `RTM_NEWQDISC` payload (tcmsg + attributes) into a [`Qdisc`]; `name` maps an
/// interface index to its name.
fn parse_message(payload: &[u8], name: &dyn Fn(i32) -> String) -> Option<Qdisc> {
    let ifindex = i32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let handle = u32_at(payload, 8)?;
    let parent = u32_at(payload, 12)?;
    let mut q = Qdisc {
        device: name(ifindex),
        handle: handle_text(handle, true),
        parent: match parent {
            TC_H_ROOT => "root".into(),
            TC_H_INGRESS => "ingress".into(),
            p => handle_text(p, false),
        },
        ..Qdisc::default()
    };
    let mut stats2 = false;
    for (kind, p) in nla::attrs(payload.get(TCMSG_LEN..)?) {
        match kind {
            TCA_KIND => q.kind = nla::as_str(p).unwrap_or_default().to_string(),
            TCA_STATS2 => {
                stats2 = true;
                for (k, s) in nla::attrs(p) {
                    match k {
                        // struct gnet_stats_basic { u64 bytes; u32 packets; }
                        TCA_STATS_BASIC => {
                            q.bytes = u64_at(s, 0).unwrap_or(0);
                            q.packets = u64::from(u32_at(s, 8).unwrap_or(0));
                        }
                        // struct gnet_stats_queue { qlen, backlog, drops, requeues, overlimits }
                        TCA_STATS_QUEUE => {
                            q.backlog_packets = u64::from(u32_at(s, 0).unwrap_or(0));
                            q.backlog_bytes = u64::from(u32_at(s, 4).unwrap_or(0));
                            q.drops = u64::from(u32_at(s, 8).unwrap_or(0));
                            q.requeues = u64::from(u32_at(s, 12).unwrap_or(0));
                            q.overlimits = u64::from(u32_at(s, 16).unwrap_or(0));
                        }
                        _ => {}
                    }
                }
            }
            // struct tc_stats { u64 bytes; u32 packets, drops, overlimits, bps, pps, qlen,
            // backlog; } for kernels without TCA_STATS2.
            TCA_STATS if !stats2 => {
                q.bytes = u64_at(p, 0).unwrap_or(0);
                q.packets = u64::from(u32_at(p, 8).unwrap_or(0));
                q.drops = u64::from(u32_at(p, 12).unwrap_or(0));
                q.overlimits = u64::from(u32_at(p, 16).unwrap_or(0));
                q.backlog_packets = u64::from(u32_at(p, 28).unwrap_or(0));
                q.backlog_bytes = u64::from(u32_at(p, 32).unwrap_or(0));
            }
            _ => {}
        }
    }
    Some(q)
}

fn nl_err(detail: impl std::fmt::Display) -> Error {
    Error::Netlink {
        what: "RTM_GETQDISC dump".into(),
        detail: detail.to_string(),
    }
}

/// The name of interface `index` in the calling thread's namespace, or `ifN`.
fn if_name(index: i32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    let Ok(i) = u32::try_from(index) else {
        return format!("if{index}");
    };
    // SAFETY: `buf` holds IF_NAMESIZE bytes, what if_indextoname writes at most (with the
    // NUL); it returns NULL on failure and `buf` is only read on success.
    let r = unsafe { libc::if_indextoname(i, buf.as_mut_ptr()) };
    if r.is_null() {
        return format!("if{index}");
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Dump every qdisc of the calling thread's network namespace.
pub fn dump() -> Result<Qdiscs> {
    let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).map_err(nl_err)?;
    let mut h = NetlinkHeader::default();
    h.length = (NETLINK_HEADER_LEN + TCMSG_LEN) as u32;
    h.message_type = RTM_GETQDISC;
    h.flags = NLM_F_REQUEST | NLM_F_DUMP;
    h.sequence_number = 1;
    let mut msg = vec![0u8; NETLINK_HEADER_LEN];
    h.emit(&mut msg);
    msg.extend_from_slice(&[0u8; TCMSG_LEN]);
    sock.send(&msg, 0).map_err(nl_err)?;
    let mut out = Qdiscs::new();
    let mut reply = vec![0u8; 32 * 1024];
    // A dump ends with NLMSG_DONE; the bound guards against a kernel that never says so.
    for _ in 0..100_000 {
        let n = sock.recv(&mut &mut reply[..], 0).map_err(nl_err)?;
        let mut got = reply.get(..n).unwrap_or(&[]);
        if got.is_empty() {
            return Ok(out);
        }
        while let Ok(m) = NetlinkBuffer::new_checked(got) {
            match m.message_type() {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let e = ErrorBuffer::new_checked(m.payload()).map_err(nl_err)?;
                    if let Some(code) = e.code() {
                        return Err(nl_err(std::io::Error::from_raw_os_error(-code.get())));
                    }
                }
                RTM_NEWQDISC => {
                    if let Some(q) = parse_message(m.payload(), &if_name) {
                        out.push(q);
                    }
                }
                _ => {}
            }
            let len = (m.length() as usize + 3) & !3;
            if len < NETLINK_HEADER_LEN {
                break;
            }
            got = got.get(len..).unwrap_or(&[]);
        }
    }
    Err(nl_err("no end of dump"))
}

/// The qdiscs of the calling thread's namespace (live only: a fixture tree has none).
pub fn read(root: &Root) -> Source<Qdiscs> {
    if !root.live {
        return Source::unsupported("qdiscs are dumped over rtnetlink on the live host only");
    }
    dump().into()
}

/// A size as tc prints it (`1514b`, `10Kb`, `2Mb`, `0b`) in bytes.
fn tc_size(s: &str) -> Option<u64> {
    let s = s.strip_suffix('b').unwrap_or(s);
    let (num, mult) = match s.char_indices().last()? {
        (i, 'K') => (&s[..i], 1024.0),
        (i, 'M') => (&s[..i], 1024.0 * 1024.0),
        (i, 'G') => (&s[..i], 1024.0 * 1024.0 * 1024.0),
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|v| (v * mult) as u64)
}

/// Parse `tc -s qdisc` (`tc -s qdisc show`) text: a `qdisc KIND HANDLE dev DEV root|parent P
/// ...` line, then ` Sent B bytes P pkt (dropped D, overlimits O requeues R)` and
/// ` backlog Xb Yp requeues R`. A qdisc line without its `Sent` line keeps zero counters
/// with a warning; a text with no qdisc line at all is an error (an empty one unsupported).
pub fn parse_tc_text(text: &str, warnings: &mut Warnings) -> Source<Qdiscs> {
    if text.trim().is_empty() {
        return Source::unsupported("empty");
    }
    let mut out = Qdiscs::new();
    let mut has_sent = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let t = line.trim();
        let toks: Vec<&str> = t.split_ascii_whitespace().collect();
        match toks.first() {
            Some(&"qdisc") => {
                let (Some(kind), Some(handle)) = (toks.get(1), toks.get(2)) else {
                    warnings.push("tc -s qdisc", Some(idx + 1), "short qdisc line; skipped");
                    continue;
                };
                let after = |key: &str| {
                    toks.iter()
                        .position(|x| *x == key)
                        .and_then(|i| toks.get(i + 1))
                        .map(|s| s.to_string())
                };
                let Some(device) = after("dev") else {
                    warnings.push("tc -s qdisc", Some(idx + 1), "qdisc line without `dev`");
                    continue;
                };
                let parent = if toks.contains(&"root") {
                    "root".to_string()
                } else {
                    match after("parent") {
                        Some(p) if p == "ffff:fff1" => "ingress".into(),
                        Some(p) => p,
                        None => String::new(),
                    }
                };
                out.push(Qdisc {
                    device,
                    kind: kind.to_string(),
                    handle: handle.to_string(),
                    parent,
                    ..Qdisc::default()
                });
                has_sent.push(false);
            }
            Some(&"Sent") => {
                let (Some(q), Some(seen)) = (out.last_mut(), has_sent.last_mut()) else {
                    continue;
                };
                let num = |i: usize| {
                    toks.get(i)
                        .map(|s| s.trim_matches(|c| c == ',' || c == '(' || c == ')'))
                        .and_then(|s| s.parse::<u64>().ok())
                };
                let after = |key: &str| {
                    toks.iter()
                        .position(|x| x.trim_start_matches('(') == key)
                        .and_then(|i| num(i + 1))
                };
                match (num(1), num(3)) {
                    (Some(b), Some(p)) => {
                        q.bytes = b;
                        q.packets = p;
                        q.drops = after("dropped").unwrap_or(0);
                        q.overlimits = after("overlimits").unwrap_or(0);
                        q.requeues = after("requeues").unwrap_or(0);
                        *seen = true;
                    }
                    _ => warnings.push(
                        "tc -s qdisc",
                        Some(idx + 1),
                        "`Sent` line without byte and packet counts; skipped",
                    ),
                }
            }
            Some(&"backlog") => {
                if let Some(q) = out.last_mut() {
                    q.backlog_bytes = toks.get(1).and_then(|s| tc_size(s)).unwrap_or(0);
                    q.backlog_packets = toks
                        .get(2)
                        .and_then(|s| s.strip_suffix('p'))
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Source::error("no `qdisc` line found");
    }
    for (q, seen) in out.iter().zip(&has_sent) {
        if !seen {
            warnings.push(
                "tc -s qdisc",
                None,
                format!(
                    "qdisc {} on {} has no statistics (tc without -s?)",
                    q.kind, q.device
                ),
            );
        }
    }
    Source::Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TC: &str = "\
qdisc noqueue 0: dev lo root refcnt 2 
 Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
qdisc mq 0: dev eth0 root 
 Sent 9876543 bytes 12345 pkt (dropped 321, overlimits 7 requeues 2) 
 backlog 1514b 1p requeues 2
qdisc fq_codel 0: dev eth0 parent :1 limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 
 Sent 9876543 bytes 12345 pkt (dropped 321, overlimits 7 requeues 2) 
 backlog 10Kb 7p requeues 2
  maxpacket 1514 drop_overlimit 0 new_flow_count 3 ecn_mark 0
  new_flows_len 0 old_flows_len 0
qdisc ingress ffff: dev eth0 parent ffff:fff1 ---------------- 
 Sent 100 bytes 2 pkt (dropped 1, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
";

    #[test]
    fn tc_text_parses_every_qdisc() {
        let mut w = Warnings::default();
        let q = parse_tc_text(TC, &mut w).ok().cloned().unwrap();
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(q.len(), 4);
        let mq = &q[1];
        assert_eq!(
            (mq.device.as_str(), mq.kind.as_str(), mq.parent.as_str()),
            ("eth0", "mq", "root")
        );
        assert_eq!(
            (mq.bytes, mq.packets, mq.drops, mq.overlimits, mq.requeues),
            (9876543, 12345, 321, 7, 2)
        );
        assert_eq!((mq.backlog_bytes, mq.backlog_packets), (1514, 1));
        assert!(mq.is_top());
        assert_eq!(q[2].parent, ":1");
        assert!(!q[2].is_top());
        assert_eq!(q[2].backlog_bytes, 10240);
        assert_eq!(q[3].parent, "ingress");
        assert_eq!(q[3].drops, 1);
    }

    #[test]
    fn bad_tc_text() {
        let mut w = Warnings::default();
        assert!(matches!(
            parse_tc_text("", &mut w),
            Source::Unsupported { .. }
        ));
        assert!(matches!(
            parse_tc_text("hello\n", &mut w),
            Source::Error { .. }
        ));
        let q = parse_tc_text("qdisc pfifo_fast 0: dev eth1 root\n", &mut w);
        assert_eq!(q.ok().map(Vec::len), Some(1));
        assert_eq!(w.0.len(), 1);
    }

    #[test]
    fn netlink_message_parses() {
        let mut a = nla::NlaWriter::default();
        a.string(TCA_KIND, "fq_codel");
        a.nest(TCA_STATS2, |w| {
            let mut basic = Vec::new();
            basic.extend_from_slice(&1000u64.to_ne_bytes());
            basic.extend_from_slice(&10u32.to_ne_bytes());
            basic.extend_from_slice(&0u32.to_ne_bytes());
            w.bytes(TCA_STATS_BASIC, &basic);
            let mut queue = Vec::new();
            for v in [2u32, 3000, 5, 1, 9] {
                queue.extend_from_slice(&v.to_ne_bytes());
            }
            w.bytes(TCA_STATS_QUEUE, &queue);
        });
        let mut payload = vec![0u8; TCMSG_LEN];
        payload[4..8].copy_from_slice(&7i32.to_ne_bytes());
        payload[8..12].copy_from_slice(&0x0001_0000u32.to_ne_bytes());
        payload[12..16].copy_from_slice(&TC_H_ROOT.to_ne_bytes());
        payload.extend_from_slice(&a.buf);
        let q = parse_message(&payload, &|i| format!("dev{i}")).unwrap();
        assert_eq!(q.device, "dev7");
        assert_eq!(
            (q.kind.as_str(), q.handle.as_str(), q.parent.as_str()),
            ("fq_codel", "1:", "root")
        );
        assert_eq!((q.bytes, q.packets), (1000, 10));
        assert_eq!(
            (
                q.backlog_packets,
                q.backlog_bytes,
                q.drops,
                q.requeues,
                q.overlimits
            ),
            (2, 3000, 5, 1, 9)
        );
    }

    #[test]
    fn live_dump_lists_loopback() {
        let root = Root::new("/proc", "/sys");
        let q = read(&root);
        let q = q.ok().expect("rtnetlink qdisc dump");
        assert!(q.iter().any(|q| q.device == "lo"), "{q:?}");
    }
}
