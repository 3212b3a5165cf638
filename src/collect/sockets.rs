//! Sockets of one network namespace, read over netlink `sock_diag` (the interface `ss` uses):
//! every TCP listener with its accept queue and backlog (and, optionally, the process that
//! owns it), TCP socket counts by state, TIME_WAIT sockets per destination, an RTT sample of
//! established connections from `tcp_info`, and UDP receivers with their drop counters.
//!
//! At scale (tens of thousands of connections) only what the rules use is dumped in full:
//! listeners, every socket not established (headers only), `tcp_info` of at most
//! [`RTT_SAMPLES_MAX`] established sockets, UDP sockets; owners are looked up only for
//! listeners a finding can name ([`Sockets::owners_wanted`], [`resolve_owners`]).
//!
//! The netlink socket is created on the calling thread, so a thread that entered another
//! network namespace with `setns(2)` reads that namespace. Only the owner lookup reads files
//! (`<proc>/[pid]/fd/*`), from the [`Root`] passed in.

use crate::collect::sockstat::SockStat;
use crate::collect::Source;
use crate::Root;
use netlink_packet_core::{
    NetlinkBuffer, NlasIterator, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, INET_DIAG_INFO, INET_DIAG_SKMEMINFO, IPPROTO_TCP, IPPROTO_UDP,
    SOCK_DIAG_BY_FAMILY,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// How many TIME_WAIT destinations and UDP receivers are kept.
pub const TOP_N: usize = 10;

/// Socket summary of one network namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sockets {
    /// Every TCP listener (IPv4 and IPv6), sorted by port then address.
    pub listeners: Vec<Listener>,
    /// TCP sockets by state, IPv4 and IPv6 together.
    pub tcp_states: TcpStates,
    /// TIME_WAIT sockets per destination (remote address:port, IPv4-mapped IPv6 addresses
    /// folded into IPv4), most first, at most [`TOP_N`]. Ephemeral ports run out per
    /// destination, so this names the destination that is closest to exhaustion.
    pub time_wait_top: Vec<DestinationCount>,
    /// Smoothed RTT (`tcpi_rtt`) of established TCP sockets, in microseconds.
    pub rtt: RttSummary,
    /// UDP sockets, or why they could not be dumped (the `udp_diag` module can be missing).
    pub udp: Source<UdpSummary>,
    /// Netlink replies that could not be decoded and were skipped (0 normally).
    #[serde(default)]
    pub skipped_replies: u64,
    /// Parts that were left out and why (e.g. IPv6 disabled in this kernel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Default for Sockets {
    fn default() -> Self {
        Sockets {
            listeners: Vec::new(),
            tcp_states: TcpStates::default(),
            time_wait_top: Vec::new(),
            rtt: RttSummary::default(),
            udp: Source::Ok(UdpSummary::default()),
            skipped_replies: 0,
            notes: Vec::new(),
        }
    }
}

/// One listening TCP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// Local address and port it listens on (`0.0.0.0:80`, `[::]:443`).
    pub local: SocketAddr,
    /// Connections that completed the handshake and wait for `accept()`, now (the kernel's
    /// `idiag_rqueue` of a LISTEN socket). The kernel lets it reach `backlog + 1` before it
    /// drops (counted in `ListenOverflows`).
    pub accept_queue: u32,
    /// Accept queue limit: min(application's `listen()` backlog, `net.core.somaxconn`) at the
    /// time of `listen()` (the kernel's `idiag_wqueue` of a LISTEN socket).
    pub backlog: u32,
    /// Socket inode (matches `socket:[INODE]` in `/proc/PID/fd`).
    pub inode: u64,
    /// Owner user id.
    pub uid: u32,
    /// The process holding it, when looked up.
    pub owner: Owner,
}

/// Which process holds a socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// The lookup was not asked for (it walks every `/proc/PID/fd`, which is costly).
    #[default]
    NotLookedUp,
    /// Looked up, but no visible process holds it (another PID namespace, a process that
    /// exited meanwhile, no permission, or a kernel socket).
    NotFound,
    /// The lowest-numbered process holding it (a socket shared after `fork()` is held by
    /// several).
    Process {
        /// Process id as seen in the proc root that was read.
        pid: u32,
        /// `/proc/PID/comm`, empty when unreadable.
        comm: String,
    },
}

/// Counts of TCP sockets by state (kernel `TCP_*` states; request sockets count as
/// `syn_recv`). Every state is counted socket by socket, except `established` in a
/// namespace with more than [`RTT_SAMPLES_MAX`] established sockets: then it is the
/// kernel's `Tcp: CurrEstab` gauge less `close_wait` (dumping each of them would cost more
/// than everything else together).
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpStates {
    pub established: u64,
    pub syn_sent: u64,
    pub syn_recv: u64,
    pub fin_wait1: u64,
    pub fin_wait2: u64,
    pub time_wait: u64,
    pub close: u64,
    pub close_wait: u64,
    pub last_ack: u64,
    pub listen: u64,
    pub closing: u64,
    /// A state number this code does not know.
    #[serde(default)]
    pub other: u64,
}

impl TcpStates {
    /// Count one socket in kernel state `state`.
    fn add(&mut self, state: u8) {
        let slot = match state {
            1 => &mut self.established,
            2 => &mut self.syn_sent,
            3 | 12 => &mut self.syn_recv, // 12 = TCP_NEW_SYN_RECV (request socket)
            4 => &mut self.fin_wait1,
            5 => &mut self.fin_wait2,
            6 => &mut self.time_wait,
            7 => &mut self.close,
            8 => &mut self.close_wait,
            9 => &mut self.last_ack,
            10 => &mut self.listen,
            11 => &mut self.closing,
            _ => &mut self.other,
        };
        *slot += 1;
    }

    /// All TCP sockets.
    pub fn total(&self) -> u64 {
        self.established
            + self.syn_sent
            + self.syn_recv
            + self.fin_wait1
            + self.fin_wait2
            + self.time_wait
            + self.close
            + self.close_wait
            + self.last_ack
            + self.listen
            + self.closing
            + self.other
    }
}

/// A destination and how many sockets point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationCount {
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Number of sockets.
    pub count: u64,
}

/// RTT of established TCP sockets, overall and for peers that are not on this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RttSummary {
    /// Every established socket that has an RTT sample (at most [`RTT_SAMPLES_MAX`]
    /// sockets read: past it, a pseudo-random sample of them).
    pub all: RttStats,
    /// Only sockets whose peer is neither a loopback address nor the socket's own local
    /// address (traffic that leaves the host); the one to size BDP with.
    pub remote: RttStats,
}

/// Distribution of `tcpi_rtt` (the kernel's smoothed RTT) over sockets; microseconds.
/// Percentiles are nearest-rank (the median of an even count is the lower middle value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RttStats {
    /// Sockets sampled (established, with a non-zero RTT).
    pub samples: u64,
    /// Median smoothed RTT, µs; `None` without samples.
    pub median_us: Option<u32>,
    /// 90th percentile smoothed RTT, µs; `None` without samples.
    pub p90_us: Option<u32>,
}

impl RttStats {
    /// Statistics of `samples` (µs); reorders the slice.
    pub fn from_samples(samples: &mut [u32]) -> Self {
        RttStats {
            samples: samples.len() as u64,
            median_us: percentile(samples, 50.0),
            p90_us: percentile(samples, 90.0),
        }
    }
}

/// UDP sockets of the namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpSummary {
    /// UDP sockets, IPv4 and IPv6.
    pub count: u64,
    /// Whether the kernel reports per-socket drops (`SK_MEMINFO_DROPS`).
    pub drops_reported: bool,
    /// Sum of the drop counters of the sockets open now (cumulative per socket; sockets
    /// closed meanwhile take theirs away, so compare per inode across snapshots).
    pub drops_total: u64,
    /// Sockets with drops, most drops first, at most [`TOP_N`]: the receivers that
    /// `udp.rcvbuf_errors` is about.
    pub top_drops: Vec<UdpSocket>,
}

/// One UDP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpSocket {
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer for a connected socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
    /// Receive queue now, bytes of memory charged (`idiag_rqueue`, includes skb overhead).
    pub rx_queue_bytes: u32,
    /// Receive buffer limit, bytes (`SK_MEMINFO_RCVBUF`, i.e. the doubled `SO_RCVBUF`).
    pub rcvbuf_bytes: Option<u32>,
    /// Datagrams dropped on this socket since it was created (`SK_MEMINFO_DROPS`).
    pub drops: Option<u32>,
    /// Socket inode.
    pub inode: u64,
    /// Owner user id.
    pub uid: u32,
}

/// Nearest-rank percentile `p` (0–100] of `values`; `None` when empty. Reorders the slice.
pub fn percentile(values: &mut [u32], p: f64) -> Option<u32> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    let idx = rank.clamp(1, n) - 1;
    let (_, v, _) = values.select_nth_unstable(idx);
    Some(*v)
}

/// The `n` largest entries of `counts` by count (ties by address), largest first.
pub fn top_destinations(counts: HashMap<SocketAddr, u64>, n: usize) -> Vec<DestinationCount> {
    let mut v: Vec<DestinationCount> = counts
        .into_iter()
        .map(|(remote, count)| DestinationCount { remote, count })
        .collect();
    let by = |a: &DestinationCount, b: &DestinationCount| {
        b.count.cmp(&a.count).then_with(|| a.remote.cmp(&b.remote))
    };
    if v.len() > n && n > 0 {
        v.select_nth_unstable_by(n - 1, by);
    }
    v.truncate(n);
    v.sort_by(by);
    v
}

/// Keep the `n` UDP sockets with most drops (only those with drops), most first.
fn top_udp(mut v: Vec<UdpSocket>, n: usize) -> Vec<UdpSocket> {
    let by = |a: &UdpSocket, b: &UdpSocket| {
        b.drops
            .cmp(&a.drops)
            .then_with(|| b.rx_queue_bytes.cmp(&a.rx_queue_bytes))
            .then_with(|| a.inode.cmp(&b.inode))
    };
    if v.len() > n && n > 0 {
        v.select_nth_unstable_by(n - 1, by);
    }
    v.truncate(n);
    v.sort_by(by);
    v
}

/// True when the peer is on this host: a loopback address or the socket's own address.
fn is_local_peer(local: IpAddr, remote: IpAddr) -> bool {
    let r = remote.to_canonical();
    r.is_loopback() || r == local.to_canonical()
}

// ---------------------------------------------------------------------------------------
// Netlink replies

/// Length of `struct inet_diag_msg`.
const DIAG_MSG_LEN: usize = 72;
/// Offset of `tcpi_rtt` in `struct tcp_info` (stable kernel ABI).
const TCPI_RTT_OFFSET: usize = 68;
/// `SK_MEMINFO_*` indexes in the `INET_DIAG_SKMEMINFO` u32 array.
const SK_MEMINFO_RCVBUF: usize = 1;
const SK_MEMINFO_DROPS: usize = 8;
const TCP_ESTABLISHED: u8 = 1;
const TCP_TIME_WAIT: u8 = 6;
const TCP_LISTEN: u8 = 10;
const TCP_NEW_SYN_RECV: u8 = 12;

/// One decoded `inet_diag_msg` with the attributes this module uses.
#[derive(Debug, Clone, PartialEq)]
struct DiagMsg {
    state: u8,
    local: SocketAddr,
    remote: SocketAddr,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
    /// `tcpi_rtt`, µs, when `INET_DIAG_INFO` was present and long enough.
    rtt_us: Option<u32>,
    /// `SK_MEMINFO_RCVBUF`, bytes.
    rcvbuf: Option<u32>,
    /// `SK_MEMINFO_DROPS` (absent on old kernels).
    drops: Option<u32>,
}

fn ne_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decode one `SOCK_DIAG_BY_FAMILY` payload (`struct inet_diag_msg` at fixed offsets, then
/// the attributes, walked only when present); `None` when it is not a usable inet reply.
/// No allocation; never panics on any input.
fn parse_diag(payload: &[u8]) -> Option<DiagMsg> {
    let h = payload.get(..DIAG_MSG_LEN)?;
    let family = h[0];
    let addr = |off: usize| -> Option<IpAddr> {
        let b: [u8; 16] = h.get(off..off + 16)?.try_into().ok()?;
        match family {
            AF_INET => Some(IpAddr::from([b[0], b[1], b[2], b[3]])),
            AF_INET6 => Some(IpAddr::from(b)),
            _ => None,
        }
    };
    let port = |off: usize| u16::from_be_bytes([h[off], h[off + 1]]);
    let mut msg = DiagMsg {
        state: h[1],
        local: SocketAddr::new(addr(8)?, port(4)),
        remote: SocketAddr::new(addr(24)?, port(6)),
        rqueue: ne_u32(h, 56)?,
        wqueue: ne_u32(h, 60)?,
        uid: ne_u32(h, 64)?,
        inode: ne_u32(h, 68)?,
        rtt_us: None,
        rcvbuf: None,
        drops: None,
    };
    let attrs = payload.get(DIAG_MSG_LEN..).unwrap_or(&[]);
    if !attrs.is_empty() {
        for nla in NlasIterator::new(attrs) {
            let Ok(nla) = nla else { break };
            let v = nla.value();
            match nla.kind() {
                INET_DIAG_INFO => msg.rtt_us = ne_u32(v, TCPI_RTT_OFFSET),
                INET_DIAG_SKMEMINFO => {
                    msg.rcvbuf = ne_u32(v, SK_MEMINFO_RCVBUF * 4);
                    msg.drops = ne_u32(v, SK_MEMINFO_DROPS * 4);
                }
                _ => {}
            }
        }
    }
    Some(msg)
}

/// Why a dump failed.
#[derive(Debug)]
enum DumpError {
    /// A system call on the netlink socket failed.
    Os(&'static str, io::Error),
    /// The kernel answered with an error (positive errno).
    Kernel(i32),
    /// The reply did not have the netlink shape.
    Malformed(String),
}

impl DumpError {
    /// The kernel or socket says this protocol/family is not available here.
    fn is_unsupported(&self) -> bool {
        let code = match self {
            DumpError::Kernel(e) => *e,
            DumpError::Os(_, e) => e.raw_os_error().unwrap_or(0),
            DumpError::Malformed(_) => return false,
        };
        matches!(
            code,
            libc::ENOENT | libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT
        )
    }

    fn describe(&self, what: &str) -> String {
        match self {
            DumpError::Os(call, e) => format!("sock_diag {what}: {call}: {e}"),
            DumpError::Kernel(errno) => format!(
                "sock_diag {what}: kernel answered: {}",
                io::Error::from_raw_os_error(*errno)
            ),
            DumpError::Malformed(m) => format!("sock_diag {what}: malformed reply: {m}"),
        }
    }
}

/// What a dump's consumer says about one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Used; send the next.
    Next,
    /// Could not be decoded (counted in `skipped_replies`); send the next.
    Skip,
    /// Enough: abandon the rest of the dump.
    Stop,
}

/// Where a received datagram left the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walked {
    /// `NLMSG_DONE` (or an acknowledgement): the dump is complete.
    Done,
    /// More datagrams follow.
    More,
    /// The consumer said [`Step::Stop`].
    Stopped,
}

/// Walk one received datagram of a dump with sequence number `seq`, handing each socket's
/// `inet_diag_msg` payload to `on`. Never panics on any input.
fn walk_batch(
    buf: &[u8],
    seq: u32,
    skipped: &mut u64,
    on: &mut dyn FnMut(&[u8]) -> Step,
) -> Result<Walked, DumpError> {
    let mut off = 0usize;
    while off < buf.len() {
        let rest = buf.get(off..).unwrap_or(&[]);
        let nl =
            NetlinkBuffer::new_checked(rest).map_err(|e| DumpError::Malformed(e.to_string()))?;
        let len = nl.length() as usize;
        if nl.sequence_number() == seq {
            let payload = nl.payload();
            match nl.message_type() {
                NLMSG_NOOP => {}
                NLMSG_DONE => {
                    // A dump that failed midway carries the negative errno here.
                    if let Some(code) = ne_u32(payload, 0) {
                        let code = code as i32;
                        if code < 0 {
                            return Err(DumpError::Kernel(-code));
                        }
                    }
                    return Ok(Walked::Done);
                }
                NLMSG_ERROR => {
                    let code = ne_u32(payload, 0)
                        .ok_or_else(|| DumpError::Malformed("short error message".into()))?
                        as i32;
                    if code == 0 {
                        return Ok(Walked::Done); // an acknowledgement
                    }
                    return Err(DumpError::Kernel(code.saturating_neg()));
                }
                NLMSG_OVERRUN => return Err(DumpError::Malformed("overrun".into())),
                SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => match on(payload) {
                    Step::Next => {}
                    Step::Skip => *skipped += 1,
                    Step::Stop => return Ok(Walked::Stopped),
                },
                _ => *skipped += 1,
            }
        }
        // new_checked guarantees len >= 16, so this always advances.
        off = off.saturating_add((len + 3) & !3);
    }
    Ok(Walked::More)
}

/// `on` for every decodable socket of a datagram (the decoded form of [`walk_batch`]).
/// Returns `Ok(true)` when the dump is complete.
#[cfg(test)]
fn parse_batch(
    buf: &[u8],
    seq: u32,
    skipped: &mut u64,
    on: &mut dyn FnMut(&DiagMsg),
) -> Result<bool, DumpError> {
    let walked = walk_batch(buf, seq, skipped, &mut |p| match parse_diag(p) {
        Some(m) => {
            on(&m);
            Step::Next
        }
        None => Step::Skip,
    })?;
    Ok(walked == Walked::Done)
}

/// `INET_DIAG_REQ_BYTECODE`: the filter program attribute of a dump request.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// `INET_DIAG_BC_D_COND`: the destination matches a `struct inet_diag_hostcond`.
const INET_DIAG_BC_D_COND: u8 = 8;
/// `struct inet_diag_req_v2` without its socket id.
const REQ_V2_LEN: usize = 56;

/// `INET_DIAG_BC_JMP`: always takes its `no` jump.
const INET_DIAG_BC_JMP: u8 = 1;

/// Append a filter operation `struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }`: when its
/// condition holds the program goes on `yes` bytes ahead, else `no` bytes ahead.
fn bc_op(out: &mut Vec<u8>, code: u8, yes: u8, no: u16) {
    out.push(code);
    out.push(yes);
    out.extend_from_slice(&no.to_ne_bytes());
}

/// A filter program accepting only sockets whose peer is not a loopback address
/// (`127.0.0.0/8`, which the kernel also matches against IPv4-mapped IPv6 peers, and
/// `::1`): for each, "peer in prefix" (a `D_COND` operation followed by `struct
/// inet_diag_hostcond { u8 family; u8 prefix_len; int port; __be32 addr[]; }`, two bytes of
/// padding before `port`, port -1: any) goes on to a `JMP` to reject, otherwise skips it.
/// The kernel checks that the `yes` path runs straight to the end (accept); rejecting is
/// jumping 4 bytes past the end.
fn bc_not_loopback_peer() -> Vec<u8> {
    let mut lo6 = [0u8; 16];
    lo6[15] = 1;
    let conds: [(u8, u8, &[u8]); 2] = [(AF_INET, 8, &[127, 0, 0, 0]), (AF_INET6, 128, &lo6)];
    let total: usize = conds.iter().map(|(_, _, a)| 4 + 8 + a.len() + 4).sum();
    let reject = total + 4;
    let mut bc = Vec::with_capacity(total);
    for (family, prefix_len, addr) in conds {
        let cond_len = 4 + 8 + addr.len();
        bc_op(
            &mut bc,
            INET_DIAG_BC_D_COND,
            cond_len as u8,
            (cond_len + 4) as u16,
        );
        bc.push(family);
        bc.push(prefix_len);
        bc.extend_from_slice(&[0, 0]);
        bc.extend_from_slice(&(-1i32).to_ne_bytes());
        bc.extend_from_slice(addr);
        let at = bc.len();
        bc_op(&mut bc, INET_DIAG_BC_JMP, 4, (reject - at) as u16);
    }
    bc
}

/// `TCPDIAG_GETSOCK`: the original `inet_diag` request (`struct inet_diag_req`), which dumps
/// TCP sockets of both families in one walk of the socket table; its replies carry this
/// type too.
const TCPDIAG_GETSOCK: u16 = 18;
/// `struct inet_diag_req`: family, src_len, dst_len, ext, the 48-byte socket id, states,
/// dbs.
const REQ_V1_LEN: usize = 60;
/// The `family` of a [`Diag::dump`] that asks for TCP sockets of every family in one walk
/// (a `TCPDIAG_GETSOCK` request).
const BOTH_FAMILIES: u8 = 0;

/// A dump request for `family`/`protocol` sockets in the states of bit mask `states` (bit
/// `1 << TCP_*`), with the attribute groups `extensions` and an optional filter program:
/// `SOCK_DIAG_BY_FAMILY`, or for TCP of [`BOTH_FAMILIES`] `TCPDIAG_GETSOCK`.
fn dump_request(
    seq: u32,
    family: u8,
    protocol: u8,
    extensions: u8,
    states: u32,
    bytecode: &[u8],
) -> Vec<u8> {
    let attr_len = if bytecode.is_empty() {
        0
    } else {
        (4 + bytecode.len() + 3) & !3
    };
    let v1 = family == BOTH_FAMILIES && protocol == IPPROTO_TCP;
    let req_len = if v1 { REQ_V1_LEN } else { REQ_V2_LEN };
    let total = 16 + req_len + attr_len;
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&(total as u32).to_ne_bytes());
    let kind = if v1 {
        TCPDIAG_GETSOCK
    } else {
        SOCK_DIAG_BY_FAMILY
    };
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    if v1 {
        v.extend_from_slice(&[family, 0, 0, extensions]);
        v.extend_from_slice(&[0u8; 48]); // socket id: unused by a dump
        v.extend_from_slice(&states.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes()); // dbs
    } else {
        v.extend_from_slice(&[family, protocol, extensions, 0]);
        v.extend_from_slice(&states.to_ne_bytes());
        v.extend_from_slice(&[0u8; REQ_V2_LEN - 8]); // socket id: unused by a dump
    }
    if !bytecode.is_empty() {
        v.extend_from_slice(&((4 + bytecode.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        v.extend_from_slice(bytecode);
        v.resize(total, 0);
    }
    v
}

/// Every TCP state (request sockets included).
const ALL_STATES: u32 = u32::MAX;
/// Only `TCP_ESTABLISHED`.
const ESTABLISHED_ONLY: u32 = 1 << TCP_ESTABLISHED;
/// Every TCP state but `TCP_ESTABLISHED`.
const NOT_ESTABLISHED: u32 = !ESTABLISHED_ONLY;

/// A `NETLINK_SOCK_DIAG` socket of the calling thread's network namespace and its
/// receive buffer, kept between dumps (reopened after a dump that was abandoned).
struct Diag {
    sock: Option<Socket>,
    buf: Vec<u8>,
    seq: u32,
    skipped: u64,
    /// Whether the kernel answers `TCPDIAG_GETSOCK` (asked once).
    both_families: Option<bool>,
}

impl Diag {
    fn new() -> Diag {
        Diag {
            sock: None,
            buf: Vec::new(),
            seq: 0,
            skipped: 0,
            both_families: None,
        }
    }

    /// The TCP dumps to make: one of [`BOTH_FAMILIES`] when the kernel answers it (an empty
    /// dump asked once tells), else one per family.
    fn tcp_families(&mut self) -> &'static [(u8, &'static str)] {
        const BOTH: [(u8, &str); 1] = [(BOTH_FAMILIES, "IPv4+IPv6")];
        let ok = match self.both_families {
            Some(ok) => ok,
            None => {
                let ok = self
                    .dump(BOTH_FAMILIES, IPPROTO_TCP, 0, 0, &[], &mut |_| Step::Next)
                    .is_ok();
                self.both_families = Some(ok);
                ok
            }
        };
        if ok {
            &BOTH
        } else {
            &FAMILIES
        }
    }

    fn open() -> Result<Diag, DumpError> {
        let mut d = Diag::new();
        d.socket()?;
        Ok(d)
    }

    /// The socket, opened on first use.
    fn socket(&mut self) -> Result<&mut Socket, DumpError> {
        if self.sock.is_none() {
            let mut sock =
                Socket::new(NETLINK_SOCK_DIAG).map_err(|e| DumpError::Os("socket", e))?;
            sock.bind_auto().map_err(|e| DumpError::Os("bind", e))?;
            sock.connect(&NlAddr::new(0, 0))
                .map_err(|e| DumpError::Os("connect", e))?;
            // Never hang on a kernel that does not answer.
            crate::collect::set_receive_timeout(&sock, 5);
            self.sock = Some(sock);
        }
        if self.buf.is_empty() {
            self.buf = vec![0u8; 64 * 1024];
        }
        self.sock
            .as_mut()
            .ok_or_else(|| DumpError::Malformed("no socket".into()))
    }

    /// Dump the `family`/`protocol` sockets in `states` that pass `bytecode`, handing each
    /// one's payload to `on`. `Ok(false)` when `on` stopped it early (the socket is then
    /// closed: the kernel refuses a new dump while one is unfinished).
    fn dump(
        &mut self,
        family: u8,
        protocol: u8,
        extensions: u8,
        states: u32,
        bytecode: &[u8],
        on: &mut dyn FnMut(&[u8]) -> Step,
    ) -> Result<bool, DumpError> {
        let r = self.dump_inner(family, protocol, extensions, states, bytecode, on);
        if !matches!(r, Ok(true)) {
            // Abandoned or failed midway: whatever is left of it must not reach the next.
            self.sock = None;
        }
        r
    }

    fn dump_inner(
        &mut self,
        family: u8,
        protocol: u8,
        extensions: u8,
        states: u32,
        bytecode: &[u8],
        on: &mut dyn FnMut(&[u8]) -> Step,
    ) -> Result<bool, DumpError> {
        self.seq = self.seq.wrapping_add(1);
        let req = dump_request(self.seq, family, protocol, extensions, states, bytecode);
        self.socket()?
            .send(&req, 0)
            .map_err(|e| DumpError::Os("send", e))?;
        let Diag {
            sock,
            buf,
            seq,
            skipped,
            ..
        } = self;
        let sock = sock
            .as_mut()
            .ok_or_else(|| DumpError::Malformed("no socket".into()))?;
        loop {
            let cap = buf.len();
            let got = loop {
                match sock.recv(&mut &mut buf[..], libc::MSG_TRUNC) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(DumpError::Os("recv", e)),
                }
            };
            if got > cap {
                return Err(DumpError::Malformed(format!(
                    "datagram of {got} bytes truncated to {cap}"
                )));
            }
            if got == 0 {
                return Err(DumpError::Malformed("empty datagram".into()));
            }
            let data = buf.get(..got).unwrap_or(&[]);
            match walk_batch(data, *seq, skipped, on)? {
                Walked::Done => return Ok(true),
                Walked::Stopped => return Ok(false),
                Walked::More => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Accumulation

/// Folds TCP replies into the summary.
#[derive(Default)]
struct TcpAcc {
    listeners: Vec<Listener>,
    states: TcpStates,
    time_wait: HashMap<SocketAddr, u64>,
    rtt_all: Vec<u32>,
    rtt_remote: Vec<u32>,
    /// IPv6 sockets in the kernel's hash tables (not TIME_WAIT or request sockets): what
    /// `/proc/net/sockstat6` counts as `TCP6: inuse`.
    v6_hashed: u64,
}

impl TcpAcc {
    fn add(&mut self, m: &DiagMsg) {
        self.states.add(m.state);
        if m.local.is_ipv6() && !matches!(m.state, TCP_TIME_WAIT | TCP_NEW_SYN_RECV) {
            self.v6_hashed += 1;
        }
        match m.state {
            TCP_LISTEN => self.listeners.push(Listener {
                local: m.local,
                accept_queue: m.rqueue,
                backlog: m.wqueue,
                inode: u64::from(m.inode),
                uid: m.uid,
                owner: Owner::NotLookedUp,
            }),
            TCP_TIME_WAIT => {
                let remote = SocketAddr::new(m.remote.ip().to_canonical(), m.remote.port());
                *self.time_wait.entry(remote).or_insert(0) += 1;
            }
            TCP_ESTABLISHED => {
                if let Some(rtt) = m.rtt_us.filter(|&r| r > 0) {
                    self.rtt_all.push(rtt);
                    if !is_local_peer(m.local.ip(), m.remote.ip()) {
                        self.rtt_remote.push(rtt);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Folds UDP replies into the summary.
#[derive(Default)]
struct UdpAcc {
    count: u64,
    drops_reported: bool,
    drops_total: u64,
    with_drops: Vec<UdpSocket>,
}

impl UdpAcc {
    fn add(&mut self, m: &DiagMsg) {
        self.count += 1;
        if let Some(d) = m.drops {
            self.drops_reported = true;
            self.drops_total += u64::from(d);
        }
        if m.drops.unwrap_or(0) > 0 {
            let connected = !m.remote.ip().is_unspecified() || m.remote.port() != 0;
            self.with_drops.push(UdpSocket {
                local: m.local,
                remote: connected.then_some(m.remote),
                rx_queue_bytes: m.rqueue,
                rcvbuf_bytes: m.rcvbuf,
                drops: m.drops,
                inode: u64::from(m.inode),
                uid: m.uid,
            });
        }
    }

    fn finish(self) -> UdpSummary {
        UdpSummary {
            count: self.count,
            drops_reported: self.drops_reported,
            drops_total: self.drops_total,
            top_drops: top_udp(self.with_drops, TOP_N),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Owner lookup

/// Parse a `/proc/PID/fd/N` link target `socket:[INODE]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let s = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Find, for each inode in `wanted`, the lowest pid under `proc_dir` holding it (through
/// its `fd/*` links) and that process's `comm`. One pass over the processes in pid order
/// that stops as soon as every wanted inode is found (inside a process too: a listener's
/// descriptor is usually among its first); unreadable processes are skipped.
pub fn socket_owners(proc_dir: &Path, wanted: &[u64]) -> HashMap<u64, (u32, String)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let mut found: HashMap<u64, (u32, String)> = HashMap::new();
    let wanted: std::collections::HashSet<u64> = wanted.iter().copied().collect();
    if wanted.is_empty() {
        return found;
    }
    let Ok(dir) = std::fs::read_dir(proc_dir) else {
        return found;
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut path = proc_dir.to_path_buf();
    let mut held: Vec<u64> = Vec::new();
    for pid in pids {
        path.push(pid.to_string());
        path.push("fd");
        held.clear();
        // The directory is listed through one handle and its links read relative to another
        // (readlinkat), so no path is built per descriptor.
        if let (Ok(fds), Ok(dirfd)) = (std::fs::read_dir(&path), std::fs::File::open(&path)) {
            for fd in fds.flatten() {
                let Ok(target) = nix::fcntl::readlinkat(Some(dirfd.as_raw_fd()), &*fd.file_name())
                else {
                    continue;
                };
                if let Some(ino) = socket_inode(target.as_bytes()) {
                    if wanted.contains(&ino) && !found.contains_key(&ino) && !held.contains(&ino) {
                        held.push(ino);
                        if found.len() + held.len() >= wanted.len() {
                            break;
                        }
                    }
                }
            }
        }
        path.pop();
        if !held.is_empty() {
            path.push("comm");
            let comm = std::fs::read_to_string(&path)
                .map(|s| s.trim_end().to_string())
                .unwrap_or_default();
            path.pop();
            for &ino in &held {
                found.entry(ino).or_insert_with(|| (pid, comm.clone()));
            }
        }
        path.pop();
        if found.len() >= wanted.len() {
            break;
        }
    }
    found
}

/// The owners of the sockets with inodes `inodes` (in any network namespace: socket inodes
/// are unique host-wide), from ONE pass over `<proc>/[pid]/fd` that stops when all are found:
/// [`Owner::Process`] or [`Owner::NotFound`] for every inode asked. Call it once per
/// snapshot with the inodes of every namespace (e.g. [`Sockets::owners_wanted`]), then
/// [`Sockets::set_owners`].
pub fn resolve_owners(proc_root: &Root, inodes: &[u64]) -> HashMap<u64, Owner> {
    let mut found = socket_owners(&proc_root.proc, inodes);
    inodes
        .iter()
        .map(|&ino| {
            let owner = match found.remove(&ino) {
                Some((pid, comm)) => Owner::Process { pid, comm },
                None => Owner::NotFound,
            };
            (ino, owner)
        })
        .collect()
}

/// Owners found in earlier snapshots, by socket inode, for a caller that reads several
/// namespaces with `with_processes` off and looks owners up once per snapshot for all of them
/// ([`OwnerCache::fill`]).
#[derive(Debug, Default)]
pub struct OwnerCache {
    known: HashMap<u64, Owner>,
}

impl OwnerCache {
    /// An empty cache.
    pub fn new() -> OwnerCache {
        OwnerCache::default()
    }

    /// Fill in the owners of every listener of `all` that a finding may name
    /// ([`Sockets::owners_wanted`]): from the cache, the rest with ONE [`resolve_owners`] pass
    /// over `<proc>/[pid]/fd` (none when nothing is wanted). Forgets sockets not seen in `all`.
    pub fn fill<'a>(&mut self, proc_root: &Root, all: impl IntoIterator<Item = &'a mut Sockets>) {
        let mut all: Vec<&mut Sockets> = all.into_iter().collect();
        let seen: std::collections::HashSet<u64> = all
            .iter()
            .flat_map(|s| s.listeners.iter().map(|l| l.inode))
            .collect();
        self.known.retain(|ino, _| seen.contains(ino));
        let mut missing = Vec::new();
        for s in &mut all {
            s.set_owners(&self.known);
            missing.extend(s.owners_wanted());
        }
        if missing.is_empty() {
            return;
        }
        let found = resolve_owners(proc_root, &missing);
        for s in &mut all {
            s.set_owners(&found);
        }
        self.known.extend(found);
    }
}

impl Sockets {
    /// Inodes of the sockets whose owner a finding may name and that have not been looked
    /// up: listeners with connections waiting in their accept queue (the ones
    /// `tcp.listen_overflow` and `tcp.syn_queue` name).
    pub fn owners_wanted(&self) -> Vec<u64> {
        self.listeners
            .iter()
            .filter(|l| l.accept_queue > 0 && l.owner == Owner::NotLookedUp)
            .map(|l| l.inode)
            .collect()
    }

    /// Fill in the owners of the listeners whose inode `owners` has (from
    /// [`resolve_owners`]); the others are left as they are.
    pub fn set_owners(&mut self, owners: &HashMap<u64, Owner>) {
        for l in &mut self.listeners {
            if let Some(o) = owners.get(&l.inode) {
                l.owner = o.clone();
            }
        }
    }

    /// TCP and UDP sockets counted.
    fn total(&self) -> u64 {
        self.tcp_states.total() + self.udp.ok().map_or(0, |u| u.count)
    }
}

// ---------------------------------------------------------------------------------------
// Public entry points

/// At most this many established sockets' `tcp_info` is read per snapshot for the RTT
/// statistics (`tcp_info` is three quarters of a dump's bytes and takes each socket's lock).
/// Beyond it the statistics are over the first this-many sockets in the kernel's hash order
/// (a pseudo-random sample), and [`RttSummary::remote`] from that sample too when it has
/// [`RTT_REMOTE_MIN`] remote peers, else from a second dump that the kernel filters to
/// non-loopback peers, capped the same way.
pub const RTT_SAMPLES_MAX: usize = 4096;

/// When the capped RTT sample has at least this many sockets with remote peers, they are
/// the remote statistics; with fewer (a host whose connections are mostly local), a second
/// dump, filtered by the kernel to non-loopback peers, walks the socket table again for them.
pub const RTT_REMOTE_MIN: usize = 256;

/// With at most this many TCP and UDP sockets in a namespace, `with_processes` looks up the
/// owner of every listener (the `/proc` walk is cheap there, as before); above it only of the
/// listeners with a queue ([`Sockets::owners_wanted`]), the ones a finding names.
pub const OWNERS_ALL_LISTENERS_MAX: u64 = 2_000;

/// `1 << (INET_DIAG_INFO - 1)`: ask for `tcp_info`.
const EXT_INFO: u8 = 1 << (INET_DIAG_INFO - 1);
/// `1 << (INET_DIAG_SKMEMINFO - 1)`: ask for the socket memory counters.
const EXT_SKMEMINFO: u8 = 1 << (INET_DIAG_SKMEMINFO - 1);
/// `1 << TCP_LISTEN`.
const LISTEN_ONLY: u32 = 1 << TCP_LISTEN;

/// RTT samples of established sockets, at most `max` sockets read.
struct RttAcc {
    max: usize,
    read: usize,
    all: Vec<u32>,
    remote: Vec<u32>,
}

impl RttAcc {
    fn new(max: usize) -> RttAcc {
        RttAcc {
            max,
            read: 0,
            all: Vec::new(),
            remote: Vec::new(),
        }
    }

    fn add(&mut self, payload: &[u8]) -> Step {
        if self.read >= self.max {
            return Step::Stop;
        }
        let Some(m) = parse_diag(payload) else {
            return Step::Skip;
        };
        if m.state != TCP_ESTABLISHED {
            return Step::Next;
        }
        self.read += 1;
        {
            if let Some(rtt) = m.rtt_us.filter(|&r| r > 0) {
                self.all.push(rtt);
                if !is_local_peer(m.local.ip(), m.remote.ip()) {
                    self.remote.push(rtt);
                }
            }
        }
        Step::Next
    }
}

/// Reads the sockets of the calling thread's network namespace, keeping its netlink socket,
/// receive buffer and the owners already looked up between snapshots (keep one per
/// namespace, on the thread that is in it).
///
/// Cost: with at most [`RTT_SAMPLES_MAX`] established sockets, one dump per family of every
/// TCP socket with its `tcp_info`, as before. With more, that dump stops at the cap (its
/// established sockets are the RTT sample) and every socket that is not established is
/// dumped again as a bare 72-byte `inet_diag_msg` (counts by state, listeners, TIME_WAIT
/// destinations; established counted from the namespace's `CurrEstab`), plus, when the sample
/// has fewer than [`RTT_REMOTE_MIN`] remote peers, a kernel-filtered dump for them. UDP
/// sockets in full (their drop counters). Owners are looked up only as
/// [`OWNERS_ALL_LISTENERS_MAX`] says, or by the caller with [`resolve_owners`].
pub struct Reader {
    diag: Diag,
    /// Owners found in earlier reads, by inode (kept while the socket exists).
    owners: HashMap<u64, Owner>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// A reader; the netlink socket is opened by the first read.
    pub fn new() -> Reader {
        Reader {
            diag: Diag::new(),
            owners: HashMap::new(),
        }
    }

    /// Read the sockets. With `with_processes`, look up the owning process of every listener
    /// when the namespace has at most [`OWNERS_ALL_LISTENERS_MAX`] sockets, else only of
    /// those with a queue (one `/proc` walk; owners found before are reused without one).
    /// A failure is [`Source::Error`] with a reason, never a panic.
    pub fn read(&mut self, proc_root: &Root, with_processes: bool) -> Source<Sockets> {
        self.read_wanted(proc_root, with_processes, Wanted::ALL)
    }

    /// [`Reader::read`] with only the dumps `wanted` asks for (each dump walks the kernel's
    /// whole socket table, whichever namespace it is for; the ones left out add nothing).
    pub fn read_wanted(
        &mut self,
        proc_root: &Root,
        with_processes: bool,
        wanted: Wanted,
    ) -> Source<Sockets> {
        let mut out = match dump_sockets(&mut self.diag, proc_root, RTT_SAMPLES_MAX, wanted) {
            Source::Ok(s) => s,
            other => return other,
        };
        if !with_processes {
            return Source::Ok(out);
        }
        self.owners
            .retain(|ino, _| out.listeners.iter().any(|l| l.inode == *ino));
        out.set_owners(&self.owners);
        let wanted: Vec<u64> = if out.total() <= OWNERS_ALL_LISTENERS_MAX {
            out.listeners
                .iter()
                .filter(|l| l.owner == Owner::NotLookedUp)
                .map(|l| l.inode)
                .collect()
        } else {
            out.owners_wanted()
        };
        if !wanted.is_empty() {
            let found = resolve_owners(proc_root, &wanted);
            out.set_owners(&found);
            self.owners.extend(found);
        }
        Source::Ok(out)
    }
}

/// Which sock_diag dumps a read makes: a dump whose namespace has no socket of its kind
/// returns nothing but still walks the kernel's whole table for that protocol (every
/// namespace's sockets), which is most of an idle namespace's read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// The TCP dump (both families).
    pub tcp: bool,
    /// The UDP/IPv4 dump.
    pub udp4: bool,
    /// The UDP/IPv6 dump.
    pub udp6: bool,
}

impl Wanted {
    /// Every dump.
    pub const ALL: Wanted = Wanted {
        tcp: true,
        udp4: true,
        udp6: true,
    };

    /// The dumps the namespace whose `/proc/net/sockstat{,6}` is `stat` needs: TCP unless
    /// `TCP: inuse`, `TCP: tw` and `TCP6: inuse` are all 0 (a hashed TCP socket — listener,
    /// connection, or one whose handshake or close is under way — counts in `inuse`, a
    /// TIME_WAIT one in `tw`; both are per namespace), UDP of a family unless its `inuse`
    /// is 0. A count that is missing means a dump.
    pub fn from_sockstat(stat: &SockStat) -> Wanted {
        let busy = |proto: &str, field: &str| {
            stat.get(proto).and_then(|m| m.get(field)).copied() != Some(0)
        };
        Wanted {
            tcp: busy("TCP", "inuse") || busy("TCP", "tw") || busy("TCP6", "inuse"),
            udp4: busy("UDP", "inuse"),
            udp6: busy("UDP6", "inuse"),
        }
    }
}

/// The families of a protocol, with names for messages.
const FAMILIES: [(u8, &str); 2] = [(AF_INET, "IPv4"), (AF_INET6, "IPv6")];

/// The dumps of one read: TCP headers, RTT samples of at most `rtt_max` sockets per dump,
/// UDP in full.
fn dump_sockets(
    diag: &mut Diag,
    proc_root: &Root,
    rtt_max: usize,
    wanted: Wanted,
) -> Source<Sockets> {
    let mut out = Sockets::default();
    let mut ipv6 = true;

    // Every TCP socket with its tcp_info, one dump per family (what `ss -ti` asks for), while
    // there are at most `rtt_max` established sockets: a small namespace costs two walks of
    // the socket table, as it always did.
    let mut tcp = TcpAcc::default();
    let mut established = 0usize;
    let mut complete = true;
    let tcp_families: &[(u8, &str)] = if wanted.tcp { diag.tcp_families() } else { &[] };
    for &(family, name) in tcp_families {
        let r = diag.dump(
            family,
            IPPROTO_TCP,
            EXT_INFO,
            ALL_STATES,
            &[],
            &mut |p| match parse_diag(p) {
                Some(m) if m.state == TCP_ESTABLISHED && established >= rtt_max => Step::Stop,
                Some(m) => {
                    established += usize::from(m.state == TCP_ESTABLISHED);
                    tcp.add(&m);
                    Step::Next
                }
                None => Step::Skip,
            },
        );
        let name = format!("TCP/{name}");
        match r {
            Ok(true) => {}
            Ok(false) => {
                complete = false;
                break;
            }
            Err(e) if family == AF_INET6 && e.is_unsupported() => {
                out.notes.push(e.describe(&name));
                ipv6 = false;
            }
            Err(e) if e.is_unsupported() => {
                return Source::unsupported(format!(
                    "{} (kernel module tcp_diag missing?)",
                    e.describe(&name)
                ))
            }
            Err(e) => return Source::error(e.describe(&name)),
        }
    }
    let families = if ipv6 { &FAMILIES[..] } else { &FAMILIES[..1] };
    let tcp_families = if ipv6 { tcp_families } else { families };

    if !complete {
        // More established sockets than the cap: the RTT statistics keep the ones read so far
        // (the first in the kernel's hash order: a pseudo-random sample); everything else is
        // read again without them. Every socket but the established ones, header only: the
        // kernel skips a socket whose state is not asked for before building a message, so
        // tens of thousands of established connections cost a walk of the table, not a
        // message each. Their count is the namespace's own gauge (`Tcp: CurrEstab`, which
        // counts ESTABLISHED and CLOSE_WAIT) less CLOSE_WAIT, or, when that cannot be read, a
        // header-only dump.
        let sample = std::mem::take(&mut tcp);
        for &(family, name) in tcp_families {
            let r =
                diag.dump(
                    family,
                    IPPROTO_TCP,
                    0,
                    NOT_ESTABLISHED,
                    &[],
                    &mut |p| match parse_diag(p) {
                        Some(m) => {
                            tcp.add(&m);
                            Step::Next
                        }
                        None => Step::Skip,
                    },
                );
            if let Err(e) = r {
                return Source::error(e.describe(&format!("TCP/{name}")));
            }
        }
        tcp.states.established = match curr_estab(proc_root) {
            Some(n) => n.saturating_sub(tcp.states.close_wait),
            None => count_established(diag, tcp_families, &mut out.notes),
        };
        tcp.rtt_all = sample.rtt_all;
        tcp.rtt_remote = if sample.rtt_remote.len() >= RTT_REMOTE_MIN.min(rtt_max) {
            // The sample has enough remote peers to stand for them.
            sample.rtt_remote
        } else {
            // Mostly local peers: a dump the kernel filters to non-loopback peers (else
            // loopback traffic would crowd them out of the sample).
            // IPv6 only when it has established sockets: `TCP6: inuse` counts more sockets
            // than the ones not established seen above.
            let v6_established = tcp6_inuse(proc_root).is_none_or(|n| n > tcp.v6_hashed);
            let families = if v6_established {
                tcp_families
            } else {
                &tcp_families[..1]
            };
            let mut r = RttAcc::new(rtt_max);
            rtt_dump(
                diag,
                families,
                &bc_not_loopback_peer(),
                &mut r,
                &mut out.notes,
            );
            r.remote
        };
    }

    let mut udp = UdpAcc::default();
    let mut udp_err: Option<Source<UdpSummary>> = None;
    for &(family, name) in families {
        if !(if family == AF_INET6 {
            wanted.udp6
        } else {
            wanted.udp4
        }) {
            continue;
        }
        let r = diag.dump(
            family,
            IPPROTO_UDP,
            EXT_SKMEMINFO,
            ALL_STATES,
            &[],
            &mut |p| match parse_diag(p) {
                Some(m) => {
                    udp.add(&m);
                    Step::Next
                }
                None => Step::Skip,
            },
        );
        let name = format!("UDP/{name}");
        match r {
            Ok(_) => {}
            Err(e) if family == AF_INET6 && e.is_unsupported() => {
                out.notes.push(e.describe(&name));
            }
            Err(e) if e.is_unsupported() => {
                udp_err = Some(Source::unsupported(format!(
                    "{} (kernel module udp_diag missing?)",
                    e.describe(&name)
                )));
                break;
            }
            Err(e) => {
                udp_err = Some(Source::error(e.describe(&name)));
                break;
            }
        }
    }
    out.udp = udp_err.unwrap_or_else(|| Source::Ok(udp.finish()));
    out.skipped_replies = std::mem::take(&mut diag.skipped);

    let TcpAcc {
        mut listeners,
        states,
        time_wait,
        mut rtt_all,
        mut rtt_remote,
        ..
    } = tcp;
    listeners.sort_by(|a, b| {
        (a.local.port(), a.local.ip(), a.inode).cmp(&(b.local.port(), b.local.ip(), b.inode))
    });
    out.listeners = listeners;
    out.tcp_states = states;
    out.time_wait_top = top_destinations(time_wait, TOP_N);
    out.rtt = RttSummary {
        all: RttStats::from_samples(&mut rtt_all),
        remote: RttStats::from_samples(&mut rtt_remote),
    };
    Source::Ok(out)
}

/// Established sockets' `tcp_info` (passing `bytecode`) into `acc` over `families`; true
/// when every socket was read (not capped). A failure leaves a note, not an error: the
/// counts are already read.
fn rtt_dump(
    diag: &mut Diag,
    families: &[(u8, &str)],
    bytecode: &[u8],
    acc: &mut RttAcc,
    notes: &mut Vec<String>,
) -> bool {
    for &(family, name) in families {
        match diag.dump(
            family,
            IPPROTO_TCP,
            EXT_INFO,
            ESTABLISHED_ONLY,
            bytecode,
            &mut |p| acc.add(p),
        ) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                notes.push(e.describe(&format!("TCP/{name} RTT")));
                return false;
            }
        }
    }
    true
}

/// `Tcp: CurrEstab` (ESTABLISHED + CLOSE_WAIT sockets) of the calling thread's network
/// namespace, from `<proc>/thread-self/net/snmp` (sock_diag reads the calling thread's
/// namespace, which `/proc/net` does not follow).
fn curr_estab(proc_root: &Root) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.proc.join("thread-self/net/snmp")).ok()?;
    parse_curr_estab(&text)
}

/// `TCP6: inuse` of the calling thread's network namespace (`<proc>/thread-self/net/sockstat6`).
fn tcp6_inuse(proc_root: &Root) -> Option<u64> {
    let text = std::fs::read_to_string(proc_root.proc.join("thread-self/net/sockstat6")).ok()?;
    parse_tcp6_inuse(&text)
}

/// `TCP6: inuse N` from the text of `/proc/net/sockstat6`.
fn parse_tcp6_inuse(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("TCP6:"))?;
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "inuse" {
            return crate::collect::parse_dec(words.next()?);
        }
    }
    None
}

/// `CurrEstab` from the text of `/proc/net/snmp` (the `Tcp:` header line, then its values).
fn parse_curr_estab(text: &str) -> Option<u64> {
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let i = names.split_whitespace().position(|n| n == "CurrEstab")?;
    crate::collect::parse_dec(values.split_whitespace().nth(i)?)
}

/// Established sockets counted from a header-only dump (when `CurrEstab` is unreadable).
fn count_established(diag: &mut Diag, families: &[(u8, &str)], notes: &mut Vec<String>) -> u64 {
    let mut n = 0u64;
    for &(family, name) in families {
        if let Err(e) = diag.dump(family, IPPROTO_TCP, 0, ESTABLISHED_ONLY, &[], &mut |p| {
            if p.get(1) == Some(&TCP_ESTABLISHED) {
                n += 1;
            }
            Step::Next
        }) {
            notes.push(e.describe(&format!("TCP/{name} established count")));
        }
    }
    n
}

/// Read the sockets of the calling thread's network namespace (a one-off [`Reader`]). With
/// `with_processes`, map listeners to their owning processes through `<proc>/[pid]/fd` as
/// [`Reader::read`] says. A failure is [`Source::Error`] with a reason, never a panic.
pub fn read(proc_root: &Root, with_processes: bool) -> Source<Sockets> {
    Reader::new().read(proc_root, with_processes)
}

/// Whether sock_diag can be used here: opens a `NETLINK_SOCK_DIAG` socket on the calling
/// thread and dumps the IPv4 TCP listeners (cheap). `Err` carries a human reason.
pub fn can_run() -> Result<(), String> {
    let mut diag = Diag::open().map_err(|e| e.describe("socket"))?;
    diag.dump(AF_INET, IPPROTO_TCP, 0, LISTEN_ONLY, &[], &mut |_| {
        Step::Next
    })
    .map(|_| ())
    .map_err(|e| e.describe("TCP/IPv4 listeners"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The dumps a namespace needs follow its sockstat: none when it has no TCP or UDP
    /// socket, each one whose count is not 0, every one whose count is missing.
    #[test]
    fn wanted_dumps_follow_sockstat() {
        let stat = |text: &str| {
            crate::collect::sockstat::parse(text, &mut crate::collect::Warnings::default())
                .expect("sockstat")
        };
        let idle = "TCP: inuse 0 orphan 0 tw 0 alloc 3 mem 0\nUDP: inuse 0 mem 0\n\
                    TCP6: inuse 0\nUDP6: inuse 0\n";
        let none = Wanted {
            tcp: false,
            udp4: false,
            udp6: false,
        };
        assert_eq!(Wanted::from_sockstat(&stat(idle)), none);
        for (text, want) in [
            (
                idle.replace("TCP: inuse 0", "TCP: inuse 1"),
                Wanted { tcp: true, ..none },
            ),
            (idle.replace("tw 0", "tw 2"), Wanted { tcp: true, ..none }),
            (
                idle.replace("TCP6: inuse 0", "TCP6: inuse 1"),
                Wanted { tcp: true, ..none },
            ),
            (
                idle.replace("UDP: inuse 0", "UDP: inuse 4"),
                Wanted { udp4: true, ..none },
            ),
            (
                idle.replace("UDP6: inuse 0", "UDP6: inuse 1"),
                Wanted { udp6: true, ..none },
            ),
            // No sockstat6 (IPv6 off or unreadable): the IPv6 dumps are made.
            (
                "TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\nUDP: inuse 0 mem 0\n".to_string(),
                Wanted {
                    tcp: true,
                    udp4: false,
                    udp6: true,
                },
            ),
        ] {
            assert_eq!(Wanted::from_sockstat(&stat(&text)), want, "{text}");
        }
        assert_eq!(Wanted::from_sockstat(&SockStat::new()), Wanted::ALL);
    }

    /// In a namespace without sockets, reading only the dumps its sockstat asks for gives
    /// what every dump gives.
    #[test]
    fn live_idle_namespace_skips_its_dumps_with_the_same_result() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let got = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
            // This thread's namespace (`/proc/net` is the process's).
            let root = Root {
                proc_net: "/proc/thread-self/net".into(),
                ..Root::default()
            };
            let stat = match crate::collect::sockstat::read(
                &mut crate::collect::FileBuf::new(),
                &root,
                &mut crate::collect::Warnings::default(),
            ) {
                Source::Ok(s) => s,
                _ => return None,
            };
            let wanted = Wanted::from_sockstat(&stat);
            let mut r = Reader::new();
            Some((
                wanted,
                r.read(&root, false),
                r.read_wanted(&root, false, wanted),
            ))
        })
        .join()
        .expect("thread");
        let Some((wanted, all, some)) = got else {
            return;
        };
        assert!(!wanted.tcp && !wanted.udp4, "{wanted:?}");
        assert_eq!(format!("{all:?}"), format!("{some:?}"));
    }

    // ---- helpers building kernel-shaped replies by hand (independent of the crate) ----

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn addr_bytes(ip: IpAddr) -> [u8; 16] {
        let mut b = [0u8; 16];
        match ip {
            IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
        }
        b
    }

    #[allow(clippy::too_many_arguments)]
    fn diag(
        state: u8,
        local: SocketAddr,
        remote: SocketAddr,
        rq: u32,
        wq: u32,
        uid: u32,
        inode: u32,
        attrs: &[Vec<u8>],
    ) -> Vec<u8> {
        let family = if local.is_ipv4() { AF_INET } else { AF_INET6 };
        let mut v = vec![family, state, 0, 0];
        v.extend_from_slice(&local.port().to_be_bytes());
        v.extend_from_slice(&remote.port().to_be_bytes());
        v.extend_from_slice(&addr_bytes(local.ip()));
        v.extend_from_slice(&addr_bytes(remote.ip()));
        v.extend_from_slice(&0u32.to_ne_bytes()); // interface
        v.extend_from_slice(&[0u8; 8]); // cookie
        for x in [0u32, rq, wq, uid, inode] {
            v.extend_from_slice(&x.to_ne_bytes());
        }
        assert_eq!(v.len(), DIAG_MSG_LEN);
        for a in attrs {
            v.extend_from_slice(a);
        }
        v
    }

    fn nlmsg(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn tcp_info(rtt: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        if len >= TCPI_RTT_OFFSET + 4 {
            v[TCPI_RTT_OFFSET..TCPI_RTT_OFFSET + 4].copy_from_slice(&rtt.to_ne_bytes());
        }
        attr(INET_DIAG_INFO, &v)
    }

    fn meminfo(rmem: u32, rcvbuf: u32, drops: Option<u32>) -> Vec<u8> {
        let mut vals = vec![rmem, rcvbuf, 0, 212992, 0, 0, 0, 0];
        if let Some(d) = drops {
            vals.push(d);
        }
        let bytes: Vec<u8> = vals.iter().flat_map(|x| x.to_ne_bytes()).collect();
        attr(INET_DIAG_SKMEMINFO, &bytes)
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn sample_batch(seq: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            seq,
            &diag(
                10,
                sa("0.0.0.0:8080"),
                sa("0.0.0.0:0"),
                3,
                128,
                33,
                4242,
                &[],
            ),
        ));
        b.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            seq,
            &diag(
                1,
                sa("[2001:db8::1]:443"),
                sa("[2001:db8::9]:50000"),
                0,
                0,
                0,
                77,
                &[tcp_info(1234, 232)],
            ),
        ));
        b.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            seq,
            &diag(
                6,
                sa("10.0.0.1:40000"),
                sa("10.0.0.2:5432"),
                0,
                0,
                0,
                0,
                &[],
            ),
        ));
        b.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            seq,
            &diag(
                7,
                sa("0.0.0.0:53"),
                sa("0.0.0.0:0"),
                2304,
                0,
                0,
                99,
                &[meminfo(2304, 4608, Some(17))],
            ),
        ));
        b
    }

    fn collect(buf: &[u8], seq: u32) -> (Result<bool, DumpError>, Vec<DiagMsg>, u64) {
        let mut got = Vec::new();
        let mut skipped = 0;
        let r = parse_batch(buf, seq, &mut skipped, &mut |m| got.push(m.clone()));
        (r, got, skipped)
    }

    #[test]
    fn parses_hand_built_replies() {
        let mut b = sample_batch(5);
        b.extend(nlmsg(NLMSG_DONE, 5, &0u32.to_ne_bytes()));
        let (r, got, skipped) = collect(&b, 5);
        assert!(matches!(r, Ok(true)));
        assert_eq!(skipped, 0);
        assert_eq!(got.len(), 4);
        let l = &got[0];
        assert_eq!(
            (l.state, l.local, l.rqueue, l.wqueue),
            (10, sa("0.0.0.0:8080"), 3, 128)
        );
        assert_eq!((l.uid, l.inode, l.rtt_us), (33, 4242, None));
        let e = &got[1];
        assert_eq!(e.local, sa("[2001:db8::1]:443"));
        assert_eq!(e.remote, sa("[2001:db8::9]:50000"));
        assert_eq!(e.rtt_us, Some(1234));
        assert_eq!(got[2].remote, sa("10.0.0.2:5432"));
        let u = &got[3];
        assert_eq!(
            (u.rqueue, u.rcvbuf, u.drops, u.inode),
            (2304, Some(4608), Some(17), 99)
        );
    }

    #[test]
    fn batch_without_done_asks_for_more_and_other_sequences_are_ignored() {
        let (r, got, _) = collect(&sample_batch(1), 1);
        assert!(matches!(r, Ok(false)));
        assert_eq!(got.len(), 4);
        let mut b = sample_batch(9);
        b.extend(nlmsg(NLMSG_DONE, 9, &0u32.to_ne_bytes()));
        let (r, got, _) = collect(&b, 1);
        assert!(matches!(r, Ok(false)));
        assert!(got.is_empty());
    }

    #[test]
    fn kernel_errors_become_errors() {
        let err = (-libc::ENOENT).to_ne_bytes();
        let (r, _, _) = collect(&nlmsg(NLMSG_ERROR, 3, &[&err[..], &[0u8; 16]].concat()), 3);
        let e = r.unwrap_err();
        assert!(matches!(e, DumpError::Kernel(libc::ENOENT)));
        assert!(e.is_unsupported());
        assert!(
            e.describe("TCP/IPv4").contains("No such file"),
            "{}",
            e.describe("x")
        );
        let (r, _, _) = collect(&nlmsg(NLMSG_DONE, 3, &(-libc::EPERM).to_ne_bytes()), 3);
        assert!(matches!(r, Err(DumpError::Kernel(libc::EPERM))));
        let (r, _, _) = collect(&[1, 2, 3], 3);
        assert!(matches!(r, Err(DumpError::Malformed(_))));
    }

    #[test]
    fn short_attributes_and_unknown_families_degrade() {
        // tcp_info too short for tcpi_rtt, meminfo without the drops slot (old kernels).
        let p = diag(
            1,
            sa("1.2.3.4:1"),
            sa("5.6.7.8:2"),
            0,
            0,
            0,
            1,
            &[tcp_info(9, 60)],
        );
        assert_eq!(parse_diag(&p).unwrap().rtt_us, None);
        let p = diag(
            7,
            sa("1.2.3.4:1"),
            sa("0.0.0.0:0"),
            0,
            0,
            0,
            1,
            &[meminfo(1, 2, None)],
        );
        let m = parse_diag(&p).unwrap();
        assert_eq!((m.rcvbuf, m.drops), (Some(2), None));
        // A broken attribute stops attribute parsing, not the socket.
        let mut p = diag(10, sa("1.2.3.4:1"), sa("0.0.0.0:0"), 1, 2, 0, 1, &[]);
        p.extend_from_slice(&[200, 0, 2, 0, 1]);
        assert_eq!(parse_diag(&p).unwrap().wqueue, 2);
        // Family 99 or a truncated header is skipped and counted.
        let mut p = diag(10, sa("1.2.3.4:1"), sa("0.0.0.0:0"), 1, 2, 0, 1, &[]);
        p[0] = 99;
        let b = [
            nlmsg(SOCK_DIAG_BY_FAMILY, 1, &p),
            nlmsg(SOCK_DIAG_BY_FAMILY, 1, &p[..40]),
        ]
        .concat();
        let (r, got, skipped) = collect(&b, 1);
        assert!(matches!(r, Ok(false)));
        assert_eq!((got.len(), skipped), (0, 2));
    }

    #[test]
    fn accumulates_states_listeners_time_wait_and_rtt() {
        let mut acc = TcpAcc::default();
        let mut feed = |state, l: &str, r: &str, rtt: Option<u32>| {
            let m = DiagMsg {
                state,
                local: sa(l),
                remote: sa(r),
                rqueue: 2,
                wqueue: 7,
                uid: 0,
                inode: 5,
                rtt_us: rtt,
                rcvbuf: None,
                drops: None,
            };
            acc.add(&m);
        };
        feed(10, "127.0.0.1:80", "0.0.0.0:0", None);
        feed(1, "10.0.0.1:80", "10.0.0.9:1000", Some(20_000));
        feed(1, "10.0.0.1:80", "10.0.0.1:1001", Some(30)); // own address: local peer
        feed(1, "127.0.0.1:80", "127.0.0.1:1002", Some(40)); // loopback
        feed(1, "[::ffff:10.0.0.1]:80", "[::ffff:127.0.0.1]:3", Some(50)); // mapped loopback
        feed(1, "10.0.0.1:80", "10.0.0.8:1003", Some(0)); // no sample yet
        for _ in 0..3 {
            feed(6, "[::ffff:10.0.0.1]:4000", "[::ffff:10.0.0.2]:5432", None);
        }
        feed(6, "10.0.0.1:4001", "10.0.0.2:5432", None);
        feed(6, "10.0.0.1:4002", "10.0.0.3:443", None);
        feed(3, "10.0.0.1:80", "10.0.0.4:1", None);
        feed(12, "10.0.0.1:80", "10.0.0.4:2", None);
        feed(42, "10.0.0.1:80", "10.0.0.4:3", None);
        assert_eq!(acc.states.listen, 1);
        assert_eq!(acc.states.established, 5);
        assert_eq!(acc.states.time_wait, 5);
        assert_eq!(acc.states.syn_recv, 2);
        assert_eq!(acc.states.other, 1);
        assert_eq!(acc.states.total(), 14);
        assert_eq!(acc.listeners.len(), 1);
        assert_eq!(
            (acc.listeners[0].accept_queue, acc.listeners[0].backlog),
            (2, 7)
        );
        let top = top_destinations(acc.time_wait.clone(), 10);
        assert_eq!(
            top[0],
            DestinationCount {
                remote: sa("10.0.0.2:5432"),
                count: 4
            }
        );
        assert_eq!(
            top[1],
            DestinationCount {
                remote: sa("10.0.0.3:443"),
                count: 1
            }
        );
        assert_eq!(acc.rtt_all.len(), 4);
        assert_eq!(acc.rtt_remote, vec![20_000]);
        let all = RttStats::from_samples(&mut acc.rtt_all);
        assert_eq!(
            (all.samples, all.median_us, all.p90_us),
            (4, Some(40), Some(20_000))
        );
    }

    #[test]
    fn udp_accumulator_keeps_top_by_drops() {
        let mut acc = UdpAcc::default();
        for i in 0..15u32 {
            acc.add(&DiagMsg {
                state: 7,
                local: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1000 + i as u16),
                remote: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
                rqueue: i,
                wqueue: 0,
                uid: 0,
                inode: 100 + i,
                rtt_us: None,
                rcvbuf: Some(4096),
                drops: Some(if i % 5 == 0 { 0 } else { i * 10 }),
            });
        }
        let s = acc.finish();
        assert_eq!(s.count, 15);
        assert!(s.drops_reported);
        assert_eq!(
            s.drops_total,
            (0..15).filter(|i| i % 5 != 0).map(|i| i * 10).sum::<u64>()
        );
        assert_eq!(s.top_drops.len(), 10);
        assert_eq!(s.top_drops[0].drops, Some(140));
        assert_eq!(s.top_drops[0].inode, 114);
        assert_eq!(s.top_drops[0].remote, None);
        assert_eq!(s.top_drops[9].drops, Some(30));
        assert!(s.top_drops.windows(2).all(|w| w[0].drops >= w[1].drops));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(percentile(&mut [7], 50.0), Some(7));
        assert_eq!(percentile(&mut [7], 90.0), Some(7));
        let mut v: Vec<u32> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), Some(5));
        assert_eq!(percentile(&mut v, 90.0), Some(9));
        assert_eq!(percentile(&mut v, 100.0), Some(10));
        assert_eq!(percentile(&mut v, 0.0), Some(1));
        let mut v = vec![300, 100, 200];
        assert_eq!(percentile(&mut v, 50.0), Some(200));
        assert_eq!(percentile(&mut v, 90.0), Some(300));
    }

    #[test]
    fn top_destinations_keeps_n_largest_in_order() {
        let mut m = HashMap::new();
        for i in 0..25u16 {
            m.insert(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), i),
                u64::from(i % 13),
            );
        }
        let top = top_destinations(m, 10);
        assert_eq!(top.len(), 10);
        let counts: Vec<u64> = top.iter().map(|d| d.count).collect();
        assert_eq!(counts, vec![12, 11, 11, 10, 10, 9, 9, 8, 8, 7]);
        // Ties ordered by address (port 11 before port 24 for count 11).
        assert_eq!(top[1].remote.port(), 11);
        assert_eq!(top[2].remote.port(), 24);
        assert!(top_destinations(HashMap::new(), 10).is_empty());
    }

    #[test]
    fn socket_link_targets() {
        assert_eq!(socket_inode(b"socket:[123456]"), Some(123456));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"socket:[12"), None);
        assert_eq!(socket_inode(b"socket:[1x]"), None);
        assert_eq!(socket_inode(b"pipe:[123]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn owners_from_a_fixture_proc_tree() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let mk = |pid: &str, comm: Option<&str>, fds: &[(&str, &str)]| {
            let fd = p.join(pid).join("fd");
            std::fs::create_dir_all(&fd).unwrap();
            if let Some(c) = comm {
                std::fs::write(p.join(pid).join("comm"), format!("{c}\n")).unwrap();
            }
            for (n, t) in fds {
                symlink(t, fd.join(n)).unwrap();
            }
        };
        mk("1200", Some("nginx-worker"), &[("3", "socket:[555]")]);
        mk(
            "1100",
            Some("nginx"),
            &[("0", "/dev/null"), ("6", "socket:[555]")],
        );
        mk("900", None, &[("4", "socket:[777]"), ("5", "pipe:[555]")]);
        mk("300", Some("sshd"), &[("3", "socket:[999]")]);
        std::fs::create_dir_all(p.join("self")).unwrap();
        std::fs::create_dir_all(p.join("42")).unwrap(); // no fd dir (kernel thread / gone)
        let got = socket_owners(p, &[555, 777, 888]);
        assert_eq!(got.get(&555), Some(&(1100, "nginx".to_string())));
        assert_eq!(got.get(&777), Some(&(900, String::new())));
        assert_eq!(got.get(&888), None);
        assert_eq!(got.len(), 2);
        assert!(socket_owners(p, &[]).is_empty());
        assert!(socket_owners(&p.join("missing"), &[555]).is_empty());
    }

    #[test]
    fn serde_round_trip() {
        let mut s = Sockets::default();
        s.listeners.push(Listener {
            local: sa("[::]:443"),
            accept_queue: 3,
            backlog: 511,
            inode: 9,
            uid: 0,
            owner: Owner::Process {
                pid: 1,
                comm: "init".into(),
            },
        });
        s.listeners.push(Listener {
            local: sa("0.0.0.0:22"),
            accept_queue: 0,
            backlog: 128,
            inode: 10,
            uid: 0,
            owner: Owner::NotLookedUp,
        });
        s.udp = Source::unsupported("no udp_diag");
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["listeners"][0]["local"], "[::]:443");
        assert_eq!(j["listeners"][0]["owner"]["process"]["pid"], 1);
        assert_eq!(j["listeners"][1]["owner"], "not_looked_up");
        assert_eq!(j["udp"]["unsupported"], "no udp_diag");
        let back: Sockets = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn dump_request_layout() {
        let r = dump_request(7, AF_INET6, IPPROTO_TCP, EXT_INFO, ESTABLISHED_ONLY, &[]);
        assert_eq!(r.len(), 16 + REQ_V2_LEN);
        assert_eq!(ne_u32(&r, 0), Some(r.len() as u32));
        assert_eq!(
            u16::from_ne_bytes([r[4], r[5]]),
            SOCK_DIAG_BY_FAMILY,
            "message type"
        );
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(ne_u32(&r, 8), Some(7));
        assert_eq!(&r[16..20], &[AF_INET6, IPPROTO_TCP, 2, 0]);
        assert_eq!(ne_u32(&r, 20), Some(1 << 1));
        assert!(r[24..].iter().all(|&b| b == 0));

        let r = dump_request(
            3,
            BOTH_FAMILIES,
            IPPROTO_TCP,
            EXT_INFO,
            NOT_ESTABLISHED,
            &[],
        );
        assert_eq!(r.len(), 16 + REQ_V1_LEN);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), TCPDIAG_GETSOCK);
        assert_eq!(&r[16..20], &[0, 0, 0, EXT_INFO]);
        assert_eq!(ne_u32(&r, 16 + 52), Some(NOT_ESTABLISHED));
        assert_eq!(ne_u32(&r, 16 + 56), Some(0));

        let bc = bc_not_loopback_peer();
        let r = dump_request(1, AF_INET, IPPROTO_UDP, EXT_SKMEMINFO, ALL_STATES, &bc);
        assert_eq!(r.len() % 4, 0);
        assert_eq!(ne_u32(&r, 0), Some(r.len() as u32));
        assert_eq!(r[18], 64, "SKMEMINFO extension bit");
        let attr = &r[16 + REQ_V2_LEN..];
        assert_eq!(
            usize::from(u16::from_ne_bytes([attr[0], attr[1]])),
            4 + bc.len()
        );
        assert_eq!(
            u16::from_ne_bytes([attr[2], attr[3]]),
            INET_DIAG_REQ_BYTECODE
        );
        assert_eq!(&attr[4..4 + bc.len()], &bc[..]);
    }

    /// Runs a filter program as the kernel's `inet_diag_bc_run` does, for a peer address
    /// condition only; also checks what `inet_diag_bc_audit` checks.
    fn run_bc(bc: &[u8], peer: IpAddr) -> bool {
        // Audit: the yes path runs straight to the end; every jump lands within end + 4.
        let mut at = 0usize;
        while at < bc.len() {
            let (yes, no) = (
                usize::from(bc[at + 1]),
                usize::from(u16::from_ne_bytes([bc[at + 2], bc[at + 3]])),
            );
            assert!(yes >= 4 && yes % 4 == 0 && no >= 4 && no % 4 == 0);
            assert!(at + no <= bc.len() + 4);
            at += yes;
        }
        assert_eq!(at, bc.len(), "yes path must end exactly at the end");
        let mut at = 0usize;
        while at < bc.len() {
            let op = &bc[at..];
            let matched = match op[0] {
                INET_DIAG_BC_JMP => false,
                INET_DIAG_BC_D_COND => {
                    let (family, plen) = (op[4], usize::from(op[5]));
                    let bytes = match (family, peer.to_canonical()) {
                        (AF_INET, IpAddr::V4(a)) => {
                            Some((a.octets().to_vec(), op[12..16].to_vec()))
                        }
                        (AF_INET6, IpAddr::V6(a)) => {
                            Some((a.octets().to_vec(), op[12..28].to_vec()))
                        }
                        _ => None,
                    };
                    bytes.is_some_and(|(a, c)| {
                        (0..plen)
                            .all(|i| (a[i / 8] >> (7 - i % 8)) & 1 == (c[i / 8] >> (7 - i % 8)) & 1)
                    })
                }
                other => panic!("op {other}"),
            };
            at += if matched {
                usize::from(op[1])
            } else {
                usize::from(u16::from_ne_bytes([op[2], op[3]]))
            };
        }
        at == bc.len()
    }

    #[test]
    fn not_loopback_program_accepts_only_other_peers() {
        let bc = bc_not_loopback_peer();
        assert_eq!(bc.len(), (16 + 4) + (28 + 4));
        assert_eq!(bc[0], INET_DIAG_BC_D_COND);
        assert_eq!(&bc[4..6], &[AF_INET, 8]);
        assert_eq!(i32::from_ne_bytes([bc[8], bc[9], bc[10], bc[11]]), -1);
        assert_eq!(&bc[12..16], &[127, 0, 0, 0]);
        assert_eq!(bc[16], INET_DIAG_BC_JMP);
        for (peer, ok) in [
            ("127.0.0.1", false),
            ("127.9.8.7", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("10.0.0.1", true),
            ("128.0.0.1", true),
            ("2001:db8::1", true),
            ("::2", true),
            ("::ffff:10.0.0.1", true),
        ] {
            assert_eq!(run_bc(&bc, peer.parse().unwrap()), ok, "{peer}");
        }
    }

    #[test]
    fn rtt_accumulator_stops_at_its_cap() {
        let est = |rtt: u32, peer: &str| {
            diag(
                1,
                sa("10.0.0.1:80"),
                sa(peer),
                0,
                0,
                0,
                1,
                &[tcp_info(rtt, 232)],
            )
        };
        let mut acc = RttAcc::new(3);
        assert_eq!(acc.add(&est(100, "10.0.0.9:1")), Step::Next);
        assert_eq!(acc.add(&est(200, "127.0.0.1:2")), Step::Next);
        assert_eq!(acc.add(&[1, 2, 3]), Step::Skip);
        assert_eq!(acc.add(&est(0, "10.0.0.9:3")), Step::Next); // read, no sample yet
        assert_eq!(acc.add(&est(300, "10.0.0.9:4")), Step::Stop);
        assert_eq!(
            (acc.read, acc.all.clone(), acc.remote.clone()),
            (3, vec![100, 200], vec![100])
        );
        // Stop ends a walk without reaching DONE.
        let mut b = Vec::new();
        for i in 0..5 {
            b.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 4, &est(10 + i, "10.0.0.9:5")));
        }
        b.extend(nlmsg(NLMSG_DONE, 4, &0u32.to_ne_bytes()));
        let mut acc = RttAcc::new(2);
        let mut skipped = 0;
        let r = walk_batch(&b, 4, &mut skipped, &mut |p| acc.add(p));
        assert_eq!(r.ok(), Some(Walked::Stopped));
        assert_eq!(acc.all, vec![10, 11]);
    }

    #[test]
    fn curr_estab_and_tcp6_inuse_from_proc_text() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs\nTcp: 1 200 120000 -1 10 11 0 0 40012 99\nUdp: InDatagrams\nUdp: 5\n";
        assert_eq!(parse_curr_estab(text), Some(40012));
        assert_eq!(parse_curr_estab("Tcp: CurrEstab\n"), None);
        assert_eq!(parse_curr_estab("Tcp: CurrEstab\nTcp: -1\n"), None);
        assert_eq!(parse_curr_estab(""), None);
        let live = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
        assert!(parse_curr_estab(&live).is_some(), "{live}");
        let six = "TCP6: inuse 7\nUDP6: inuse 2\nRAW6: inuse 0\n";
        assert_eq!(parse_tcp6_inuse(six), Some(7));
        assert_eq!(parse_tcp6_inuse("UDP6: inuse 2\n"), None);
        assert_eq!(parse_tcp6_inuse("TCP6: inuse\n"), None);
        assert_eq!(parse_tcp6_inuse("TCP6: inuse x\n"), None);
    }

    #[test]
    fn owners_wanted_are_listeners_with_a_queue_and_set_owners_fills_them() {
        let l = |inode: u64, q: u32, owner: Owner| Listener {
            local: sa("0.0.0.0:80"),
            accept_queue: q,
            backlog: 128,
            inode,
            uid: 0,
            owner,
        };
        let mut s = Sockets {
            listeners: vec![
                l(1, 0, Owner::NotLookedUp),
                l(2, 5, Owner::NotLookedUp),
                l(3, 9, Owner::NotFound),
                l(4, 1, Owner::NotLookedUp),
            ],
            ..Sockets::default()
        };
        assert_eq!(s.owners_wanted(), vec![2, 4]);
        let found: HashMap<u64, Owner> = [
            (
                2,
                Owner::Process {
                    pid: 7,
                    comm: "web".into(),
                },
            ),
            (4, Owner::NotFound),
            (99, Owner::NotFound),
        ]
        .into_iter()
        .collect();
        s.set_owners(&found);
        assert_eq!(s.listeners[0].owner, Owner::NotLookedUp);
        assert!(matches!(
            &s.listeners[1].owner,
            Owner::Process { pid: 7, .. }
        ));
        assert_eq!(s.listeners[2].owner, Owner::NotFound);
        assert_eq!(s.listeners[3].owner, Owner::NotFound);
        assert!(s.owners_wanted().is_empty());
    }

    #[test]
    fn owner_cache_looks_up_once_for_every_namespace_and_remembers() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("proc");
        for (pid, ino) in [("60", 21), ("70", 22)] {
            let fd = p.join(pid).join("fd");
            std::fs::create_dir_all(&fd).unwrap();
            symlink(format!("socket:[{ino}]"), fd.join("3")).unwrap();
        }
        let root = Root::new(&p, dir.path().join("sys"));
        let listener = |inode: u64, q: u32| Listener {
            local: sa("0.0.0.0:80"),
            accept_queue: q,
            backlog: 8,
            inode,
            uid: 0,
            owner: Owner::NotLookedUp,
        };
        let ns = |ls: Vec<Listener>| Sockets {
            listeners: ls,
            ..Sockets::default()
        };
        let mut a = ns(vec![listener(21, 3), listener(23, 0)]);
        let mut b = ns(vec![listener(22, 1)]);
        let mut cache = OwnerCache::new();
        cache.fill(&root, [&mut a, &mut b]);
        assert!(matches!(
            a.listeners[0].owner,
            Owner::Process { pid: 60, .. }
        ));
        assert_eq!(a.listeners[1].owner, Owner::NotLookedUp); // nothing queued: not asked
        assert!(matches!(
            b.listeners[0].owner,
            Owner::Process { pid: 70, .. }
        ));
        // Next snapshot: the processes are gone from this proc tree, the cache still knows.
        std::fs::remove_dir_all(&p).unwrap();
        let mut a2 = ns(vec![listener(21, 0), listener(24, 2)]);
        cache.fill(&root, [&mut a2]);
        assert!(matches!(
            a2.listeners[0].owner,
            Owner::Process { pid: 60, .. }
        ));
        assert_eq!(a2.listeners[1].owner, Owner::NotFound);
        // 22 was not seen in that snapshot: forgotten.
        assert!(!cache.known.contains_key(&22));
    }

    #[test]
    fn resolve_owners_answers_every_inode_asked() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("proc");
        let fd = p.join("50").join("fd");
        std::fs::create_dir_all(&fd).unwrap();
        std::fs::write(p.join("50").join("comm"), "srv\n").unwrap();
        for (n, ino) in [("3", 10), ("4", 11), ("5", 12)] {
            symlink(format!("socket:[{ino}]"), fd.join(n)).unwrap();
        }
        let root = Root::new(&p, dir.path().join("sys"));
        let got = resolve_owners(&root, &[11, 13]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got.get(&11),
            Some(&Owner::Process {
                pid: 50,
                comm: "srv".into()
            })
        );
        assert_eq!(got.get(&13), Some(&Owner::NotFound));
        assert!(resolve_owners(&root, &[]).is_empty());
    }

    proptest! {
        #[test]
        fn any_header_decodes_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            family in prop_oneof![Just(AF_INET), Just(AF_INET6), any::<u8>()],
        ) {
            let mut b = bytes;
            if let Some(f) = b.first_mut() {
                *f = family;
            }
            let got = parse_diag(&b);
            let usable = b.len() >= DIAG_MSG_LEN && (family == AF_INET || family == AF_INET6);
            prop_assert_eq!(got.is_some(), usable);
            let mut n = 0;
            let mut seen = 0;
            let _ = walk_batch(&b, 0, &mut n, &mut |p| {
                seen += 1;
                if parse_diag(p).is_some() { Step::Next } else { Step::Skip }
            });
        }

        #[test]
        fn headers_round_trip(
            state in 0u8..13, v6: bool, a: [u8; 16], b: [u8; 16], lp: u16, rp: u16,
            rq: u32, wq: u32, uid: u32, inode: u32,
        ) {
            let ip = |x: [u8; 16]| if v6 { IpAddr::from(x) } else { IpAddr::from([x[0], x[1], x[2], x[3]]) };
            let (l, r) = (SocketAddr::new(ip(a), lp), SocketAddr::new(ip(b), rp));
            let m = parse_diag(&diag(state, l, r, rq, wq, uid, inode, &[])).unwrap();
            prop_assert_eq!((m.state, m.local, m.remote), (state, l, r));
            prop_assert_eq!((m.rqueue, m.wqueue, m.uid, m.inode), (rq, wq, uid, inode));
            prop_assert_eq!((m.rtt_us, m.rcvbuf, m.drops), (None, None, None));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), seq in 0u32..3) {
            let mut n = 0;
            let _ = parse_batch(&bytes, seq, &mut n, &mut |_| {});
            let _ = parse_diag(&bytes);
        }

        #[test]
        fn truncated_or_flipped_replies_never_panic(cut in 0usize..2000, flip in 0usize..2000, val: u8) {
            let mut b = sample_batch(1);
            b.extend(nlmsg(NLMSG_DONE, 1, &0u32.to_ne_bytes()));
            let i = flip % b.len();
            b[i] = val;
            let cut = cut % (b.len() + 1);
            let mut n = 0;
            let _ = parse_batch(&b[..cut], 1, &mut n, &mut |_| {});
        }
    }

    // ---- live tests on this machine (loopback and a throwaway namespace only) ----

    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream, UdpSocket as StdUdp};
    use std::time::{Duration, Instant};

    fn live() -> Sockets {
        match read(&Root::default(), true) {
            Source::Ok(s) => s,
            other => panic!("sock_diag read failed: {}", other.status()),
        }
    }

    fn listen_with_backlog(addr: &str, backlog: i32) -> TcpListener {
        let l = TcpListener::bind(addr).unwrap();
        // listen() again on a listening socket only changes its backlog.
        nix::sys::socket::listen(&l, nix::sys::socket::Backlog::new(backlog).unwrap()).unwrap();
        l
    }

    #[test]
    fn live_can_run() {
        can_run().unwrap();
    }

    #[test]
    fn live_listener_backlog_accept_queue_and_owner() {
        let l = listen_with_backlog("127.0.0.1:0", 7);
        let addr = l.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..10)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
            .collect();
        assert!(
            clients.len() >= 7,
            "only {} clients connected",
            clients.len()
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        let mine = loop {
            let s = live();
            let mine = s.listeners.iter().find(|x| x.local == addr).cloned();
            let mine = mine.unwrap_or_else(|| panic!("listener {addr} not reported"));
            if mine.accept_queue >= 7 || Instant::now() > deadline {
                break mine;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(mine.backlog, 7);
        assert!(
            (1..=8).contains(&mine.accept_queue),
            "accept queue {} not in 1..=backlog+1",
            mine.accept_queue
        );
        assert_ne!(mine.inode, 0);
        match &mine.owner {
            Owner::Process { pid, comm } => {
                assert_eq!(*pid, std::process::id());
                assert!(!comm.is_empty());
            }
            other => panic!("owner not found: {other:?}"),
        }
        // Without the lookup the type says so.
        let Source::Ok(s) = read(&Root::default(), false) else {
            panic!()
        };
        let l2 = s.listeners.iter().find(|x| x.local == addr).unwrap();
        assert_eq!(l2.owner, Owner::NotLookedUp);
        assert_eq!(l2.inode, mine.inode);
        drop(clients);
    }

    fn ss_time_wait() -> Option<u64> {
        let out = std::process::Command::new("ss")
            .args(["-Htan", "state", "time-wait"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count() as u64,
        )
    }

    #[test]
    fn live_time_wait_matches_ss_and_names_destination() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        for _ in 0..5 {
            let c = TcpStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            drop(c); // active close: the client side goes to TIME_WAIT
            std::thread::sleep(Duration::from_millis(5));
            drop(s);
        }
        std::thread::sleep(Duration::from_millis(50));
        let s = live();
        let ours = s.time_wait_top.iter().find(|d| d.remote == addr);
        assert!(
            ours.map_or(0, |d| d.count) >= 5,
            "top: {:?}",
            s.time_wait_top
        );
        assert!(s.tcp_states.time_wait >= 5);
        let Some(before) = ss_time_wait() else {
            crate::testing::require("the `ss` tool", false);
            return;
        };
        let s = live();
        let after = ss_time_wait().unwrap();
        let tol = 5 + before.max(after) / 10;
        let tw = s.tcp_states.time_wait;
        assert!(
            tw + tol >= before.min(after) && tw <= before.max(after) + tol,
            "ours {tw}, ss {before}..{after}"
        );
    }

    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", &self.0])
                .status();
        }
    }

    #[test]
    fn live_reads_the_namespace_of_the_calling_thread() {
        let name = format!("nettune-sk-{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !crate::testing::require("root and `ip netns add`", ok) {
            return;
        }
        let guard = Netns(name.clone());
        let up = std::process::Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());

        let path = format!("/run/netns/{name}");
        let (inside, laddr, uaddr) = std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = listen_with_backlog("127.0.0.1:0", 5);
            let laddr = l.local_addr().unwrap();
            let mut c = TcpStream::connect(laddr).unwrap();
            let (mut a, _) = l.accept().unwrap();
            let mut buf = [0u8; 4];
            for _ in 0..3 {
                c.write_all(b"ping").unwrap();
                a.read_exact(&mut buf).unwrap();
                a.write_all(b"pong").unwrap();
                c.read_exact(&mut buf).unwrap();
            }
            let rx = StdUdp::bind("127.0.0.1:0").unwrap();
            nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::RcvBuf, &1).unwrap();
            let tx = StdUdp::bind("127.0.0.1:0").unwrap();
            let uaddr = rx.local_addr().unwrap();
            for _ in 0..200 {
                let _ = tx.send_to(&[0u8; 1400], uaddr);
            }
            let s = live();
            drop((c, a, l, rx, tx));
            (s, laddr, uaddr)
        })
        .join()
        .unwrap();

        assert_eq!(inside.listeners.len(), 1, "{:?}", inside.listeners);
        let l = &inside.listeners[0];
        assert_eq!(l.local, laddr);
        assert_eq!((l.backlog, l.accept_queue), (5, 0));
        assert!(matches!(&l.owner, Owner::Process { pid, .. } if *pid == std::process::id()));
        assert_eq!(inside.tcp_states.listen, 1);
        assert_eq!(inside.tcp_states.established, 2);
        assert_eq!(inside.tcp_states.total(), 3);
        assert!(inside.time_wait_top.is_empty());
        assert_eq!(inside.rtt.all.samples, 2);
        assert!(inside.rtt.all.median_us.unwrap() > 0);
        assert!(inside.rtt.all.p90_us >= inside.rtt.all.median_us);
        assert_eq!(inside.rtt.remote, RttStats::default());
        let udp = inside.udp.ok().expect("udp dump");
        assert_eq!(udp.count, 2);
        assert!(udp.drops_reported);
        assert_eq!(udp.top_drops.len(), 1, "{:?}", udp.top_drops);
        let r = &udp.top_drops[0];
        assert_eq!(r.local, uaddr);
        assert!(r.drops.unwrap() >= 100, "drops {:?}", r.drops);
        assert_eq!(udp.drops_total, u64::from(r.drops.unwrap()));
        assert!(r.rx_queue_bytes > 0);
        assert!(r.rcvbuf_bytes.unwrap() > 0 && r.rcvbuf_bytes.unwrap() < 16384);

        // The host thread does not see the namespace's listener.
        let host = live();
        assert!(host.listeners.iter().all(|x| x.inode != l.inode));
        drop(guard);
        assert!(!Path::new(&format!("/run/netns/{name}")).exists());
    }

    /// A throwaway namespace with loopback up and 198.18.0.1 on it; `None` without root.
    fn scratch_netns(tag: &str) -> Option<Netns> {
        let name = format!("nettune-{tag}-{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !crate::testing::require("root and `ip netns add`", ok) {
            return None;
        }
        let guard = Netns(name.clone());
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", "198.18.0.1/32", "dev", "lo"][..],
        ] {
            let ok = std::process::Command::new("ip")
                .arg("-n")
                .arg(&name)
                .args(args)
                .status()
                .unwrap();
            assert!(ok.success(), "ip {args:?}");
        }
        Some(guard)
    }

    /// Run `f` on a thread inside namespace `ns`.
    fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", ns.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }

    fn pair(l: &TcpListener) -> (TcpStream, TcpStream) {
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (a, _) = l.accept().unwrap();
        (c, a)
    }

    #[test]
    fn live_kernel_filters_loopback_peers_and_rtt_is_capped() {
        let Some(ns) = scratch_netns("skbc") else {
            return;
        };
        let (filtered, capped, full) = in_netns(&ns, || {
            let lo = TcpListener::bind("127.0.0.1:0").unwrap();
            let own = TcpListener::bind("198.18.0.1:0").unwrap();
            let pairs: Vec<_> = (0..3).map(|_| pair(&lo)).chain([pair(&own)]).collect();
            let mut d = Diag::open().unwrap();
            let mut peers = Vec::new();
            let complete = d
                .dump(
                    AF_INET,
                    IPPROTO_TCP,
                    EXT_INFO,
                    ESTABLISHED_ONLY,
                    &bc_not_loopback_peer(),
                    &mut |p| {
                        peers.push(parse_diag(p).unwrap());
                        Step::Next
                    },
                )
                .unwrap();
            assert!(complete);
            // One walk for both families sees what one walk per family sees.
            assert_eq!(d.tcp_families().len(), 1, "TCPDIAG_GETSOCK refused");
            let mut count = |family| {
                let mut n = Vec::new();
                d.dump(family, IPPROTO_TCP, 0, ALL_STATES, &[], &mut |p| {
                    n.push(parse_diag(p).map(|m| (m.inode, m.state, m.local)));
                    Step::Next
                })
                .unwrap();
                n.sort();
                n
            };
            let both = count(BOTH_FAMILIES);
            let mut each = count(AF_INET);
            each.extend(count(AF_INET6));
            each.sort();
            assert_eq!(both, each);
            assert_eq!(both.len(), 10);
            let Source::Ok(capped) = dump_sockets(&mut d, &Root::default(), 2, Wanted::ALL) else {
                panic!("dump failed")
            };
            let Source::Ok(full) =
                dump_sockets(&mut d, &Root::default(), RTT_SAMPLES_MAX, Wanted::ALL)
            else {
                panic!("dump failed")
            };
            drop(pairs);
            (peers, capped, full)
        });
        // Only both ends of the 198.18.0.1 connection pass the program.
        assert_eq!(filtered.len(), 2, "{filtered:?}");
        assert!(filtered
            .iter()
            .all(|m| m.remote.ip() == IpAddr::from([198, 18, 0, 1])));
        assert!(filtered.iter().all(|m| m.rtt_us.is_some()));
        // Counts and listeners are complete however many RTT samples are taken.
        for s in [&capped, &full] {
            assert_eq!(s.tcp_states.established, 8);
            assert_eq!(s.tcp_states.listen, 2);
            assert_eq!(s.listeners.len(), 2);
            assert_eq!(s.skipped_replies, 0);
        }
        assert_eq!(capped.rtt.all.samples, 2);
        assert_eq!(full.rtt.all.samples, 8);
        // Peers on the host itself are never "remote", filtered dump or not.
        assert_eq!(capped.rtt.remote.samples, 0);
        assert_eq!(full.rtt.remote.samples, 0);
    }

    #[test]
    fn live_reader_keeps_owners_and_looks_up_only_new_listeners() {
        let Some(ns) = scratch_netns("skrd") else {
            return;
        };
        let (first, cached, second) = in_netns(&ns, || {
            let a = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut r = Reader::new();
            let first = r.read(&Root::default(), true).ok().unwrap().clone();
            // A proc root with no processes: known owners come from the reader, a new
            // listener's lookup finds nothing.
            let empty = tempfile::tempdir().unwrap();
            let nowhere = Root::new(empty.path(), "/sys");
            let b = TcpListener::bind("127.0.0.1:0").unwrap();
            let cached = r.read(&nowhere, true).ok().unwrap().clone();
            let second = r.read(&Root::default(), false).ok().unwrap().clone();
            drop((a, b));
            (first, cached, second)
        });
        assert_eq!(first.listeners.len(), 1);
        let me = std::process::id();
        assert!(matches!(&first.listeners[0].owner, Owner::Process { pid, .. } if *pid == me));
        assert_eq!(cached.listeners.len(), 2);
        let old = cached
            .listeners
            .iter()
            .find(|l| l.inode == first.listeners[0].inode)
            .unwrap();
        assert_eq!(old.owner, first.listeners[0].owner);
        let new = cached
            .listeners
            .iter()
            .find(|l| l.inode != first.listeners[0].inode)
            .unwrap();
        assert_eq!(new.owner, Owner::NotFound);
        // Without lookups nothing is filled in.
        assert!(second
            .listeners
            .iter()
            .all(|l| l.owner == Owner::NotLookedUp));
    }

    /// `cargo test --lib collect::sockets -- --ignored --nocapture` prints read timings.
    #[test]
    #[ignore]
    fn measure_read_time() {
        for with in [false, true] {
            let _ = read(&Root::default(), with);
            let n = 50;
            let t = Instant::now();
            for _ in 0..n {
                assert!(read(&Root::default(), with).ok().is_some());
            }
            eprintln!(
                "read(with_processes={with}): {:?} per read",
                t.elapsed() / n
            );
        }
        let t = Instant::now();
        let mut d = Diag::open().unwrap();
        eprintln!("open netlink socket: {:?}", t.elapsed());
        for (fam, proto, ext) in [
            (AF_INET, IPPROTO_TCP, 0),
            (AF_INET, IPPROTO_TCP, EXT_INFO),
            (AF_INET6, IPPROTO_TCP, EXT_INFO),
            (AF_INET, IPPROTO_UDP, EXT_SKMEMINFO),
            (AF_INET6, IPPROTO_UDP, EXT_SKMEMINFO),
        ] {
            let t = Instant::now();
            let mut n = 0;
            d.dump(fam, proto, ext, ALL_STATES, &[], &mut |_| {
                n += 1;
                Step::Next
            })
            .unwrap();
            eprintln!(
                "dump family {fam} proto {proto} extensions {ext}: {n} sockets in {:?}",
                t.elapsed()
            );
        }
    }
}
