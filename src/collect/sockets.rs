//! Sockets of one network namespace, read over netlink `sock_diag` (the interface `ss` uses):
//! every TCP listener with its accept queue and backlog (and, optionally, the process that
//! owns it), TCP socket counts by state, TIME_WAIT sockets per destination, an RTT sample of
//! established connections from `tcp_info`, and UDP receivers with their drop counters.
//!
//! The netlink socket is created on the calling thread, so a thread that entered another
//! network namespace with `setns(2)` reads that namespace. Only the owner lookup reads files
//! (`<proc>/[pid]/fd/*`), from the [`Root`] passed in.

use crate::collect::Source;
use crate::Root;
use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NlasIterator, Parseable, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{
        AF_INET, AF_INET6, INET_DIAG_INFO, INET_DIAG_SKMEMINFO, IPPROTO_TCP, IPPROTO_UDP,
        SOCK_DIAG_BY_FAMILY,
    },
    inet::{
        ExtensionFlags, InetRequest, InetResponseBuffer, InetResponseHeader, SocketId, StateFlags,
    },
    SockDiagMessage,
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
/// `syn_recv`).
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
    /// Every established socket that has an RTT sample.
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
const DIAG_MSG_LEN: usize = std::mem::size_of::<InetResponseBuffer>();
/// Offset of `tcpi_rtt` in `struct tcp_info` (stable kernel ABI).
const TCPI_RTT_OFFSET: usize = 68;
/// `SK_MEMINFO_*` indexes in the `INET_DIAG_SKMEMINFO` u32 array.
const SK_MEMINFO_RCVBUF: usize = 1;
const SK_MEMINFO_DROPS: usize = 8;
const TCP_ESTABLISHED: u8 = 1;
const TCP_TIME_WAIT: u8 = 6;
const TCP_LISTEN: u8 = 10;

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

/// Decode one `SOCK_DIAG_BY_FAMILY` payload; `None` when it is not a usable inet reply.
fn parse_diag(payload: &[u8]) -> Option<DiagMsg> {
    let h = InetResponseHeader::parse(payload).ok()?;
    let id = &h.socket_id;
    let mut msg = DiagMsg {
        state: h.state,
        local: SocketAddr::new(id.source_address, id.source_port),
        remote: SocketAddr::new(id.destination_address, id.destination_port),
        rqueue: h.recv_queue,
        wqueue: h.send_queue,
        uid: h.uid,
        inode: h.inode,
        rtt_us: None,
        rcvbuf: None,
        drops: None,
    };
    let attrs = payload.get(DIAG_MSG_LEN..).unwrap_or(&[]);
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

/// Walk one received datagram of a dump with sequence number `seq`, calling `on` for each
/// socket. Returns `Ok(true)` when the dump is complete. Never panics on any input.
fn parse_batch(
    buf: &[u8],
    seq: u32,
    skipped: &mut u64,
    on: &mut dyn FnMut(&DiagMsg),
) -> Result<bool, DumpError> {
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
                    return Ok(true);
                }
                NLMSG_ERROR => {
                    let code = ne_u32(payload, 0)
                        .ok_or_else(|| DumpError::Malformed("short error message".into()))?
                        as i32;
                    if code == 0 {
                        return Ok(true); // an acknowledgement
                    }
                    return Err(DumpError::Kernel(code.saturating_neg()));
                }
                NLMSG_OVERRUN => return Err(DumpError::Malformed("overrun".into())),
                SOCK_DIAG_BY_FAMILY => match parse_diag(payload) {
                    Some(m) => on(&m),
                    None => *skipped += 1,
                },
                _ => *skipped += 1,
            }
        }
        // new_checked guarantees len >= 16, so this always advances.
        off = off.saturating_add((len + 3) & !3);
    }
    Ok(false)
}

/// A `NETLINK_SOCK_DIAG` socket of the calling thread's network namespace and its
/// receive buffer.
struct Diag {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
    skipped: u64,
}

impl Diag {
    fn open() -> Result<Diag, DumpError> {
        let mut sock = Socket::new(NETLINK_SOCK_DIAG).map_err(|e| DumpError::Os("socket", e))?;
        sock.bind_auto().map_err(|e| DumpError::Os("bind", e))?;
        sock.connect(&NlAddr::new(0, 0))
            .map_err(|e| DumpError::Os("connect", e))?;
        // Never hang on a kernel that does not answer.
        crate::collect::set_receive_timeout(&sock, 5);
        Ok(Diag {
            sock,
            buf: vec![0u8; 64 * 1024],
            seq: 0,
            skipped: 0,
        })
    }

    /// Dump every socket of `family`/`protocol` in `states`, calling `on` for each.
    fn dump(
        &mut self,
        family: u8,
        protocol: u8,
        extensions: ExtensionFlags,
        states: StateFlags,
        on: &mut dyn FnMut(&DiagMsg),
    ) -> Result<(), DumpError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.seq;
        let socket_id = if family == AF_INET6 {
            SocketId::new_v6()
        } else {
            SocketId::new_v4()
        };
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol,
                extensions,
                states,
                socket_id,
            })
            .into(),
        );
        packet.finalize();
        let mut req = [0u8; 128];
        let n = packet.buffer_len();
        let Some(out) = req.get_mut(..n) else {
            return Err(DumpError::Malformed(format!("request of {n} bytes")));
        };
        packet.serialize(out);
        self.sock
            .send(out, 0)
            .map_err(|e| DumpError::Os("send", e))?;
        loop {
            let cap = self.buf.len();
            let got = loop {
                match self.sock.recv(&mut &mut self.buf[..], libc::MSG_TRUNC) {
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
            let data = self.buf.get(..got).unwrap_or(&[]);
            if parse_batch(data, self.seq, &mut self.skipped, on)? {
                return Ok(());
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
}

impl TcpAcc {
    fn add(&mut self, m: &DiagMsg) {
        self.states.add(m.state);
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
/// its `fd/*` links) and that process's `comm`. Unreadable processes are skipped.
pub fn socket_owners(proc_dir: &Path, wanted: &[u64]) -> HashMap<u64, (u32, String)> {
    use std::os::unix::ffi::OsStrExt;
    let mut found: HashMap<u64, (u32, String)> = HashMap::new();
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
    for pid in pids {
        path.push(pid.to_string());
        path.push("fd");
        let mut held: Vec<u64> = Vec::new();
        if let Ok(fds) = std::fs::read_dir(&path) {
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                if let Some(ino) = socket_inode(target.as_os_str().as_bytes()) {
                    if wanted.contains(&ino) && !found.contains_key(&ino) {
                        held.push(ino);
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
            for ino in held {
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

// ---------------------------------------------------------------------------------------
// Public entry points

fn tcp_states() -> StateFlags {
    StateFlags::all()
}

/// Read the sockets of the calling thread's network namespace. With `with_processes`, map
/// each listener to its owning process through `<proc>/[pid]/fd` (costly on hosts with
/// many open files). A failure is [`Source::Error`] with a reason, never a panic.
pub fn read(proc_root: &Root, with_processes: bool) -> Source<Sockets> {
    let mut diag = match Diag::open() {
        Ok(d) => d,
        Err(e) if e.is_unsupported() => {
            return Source::unsupported(e.describe("socket (NETLINK_SOCK_DIAG not available)"))
        }
        Err(e) => return Source::error(e.describe("socket")),
    };
    let mut out = Sockets::default();

    let mut tcp = TcpAcc::default();
    for (family, name) in [(AF_INET, "TCP/IPv4"), (AF_INET6, "TCP/IPv6")] {
        let r = diag.dump(
            family,
            IPPROTO_TCP,
            ExtensionFlags::INFO,
            tcp_states(),
            &mut |m| tcp.add(m),
        );
        match r {
            Ok(()) => {}
            Err(e) if family == AF_INET6 && e.is_unsupported() => {
                out.notes.push(e.describe(name));
            }
            Err(e) if e.is_unsupported() => {
                return Source::unsupported(format!(
                    "{} (kernel module tcp_diag missing?)",
                    e.describe(name)
                ))
            }
            Err(e) => return Source::error(e.describe(name)),
        }
    }

    let mut udp = UdpAcc::default();
    let mut udp_err: Option<Source<UdpSummary>> = None;
    for (family, name) in [(AF_INET, "UDP/IPv4"), (AF_INET6, "UDP/IPv6")] {
        let r = diag.dump(
            family,
            IPPROTO_UDP,
            ExtensionFlags::SKMEMINFO,
            StateFlags::all(),
            &mut |m| udp.add(m),
        );
        match r {
            Ok(()) => {}
            Err(e) if family == AF_INET6 && e.is_unsupported() => {
                out.notes.push(e.describe(name));
            }
            Err(e) if e.is_unsupported() => {
                udp_err = Some(Source::unsupported(format!(
                    "{} (kernel module udp_diag missing?)",
                    e.describe(name)
                )));
                break;
            }
            Err(e) => {
                udp_err = Some(Source::error(e.describe(name)));
                break;
            }
        }
    }
    out.udp = udp_err.unwrap_or_else(|| Source::Ok(udp.finish()));
    out.skipped_replies = diag.skipped;

    let TcpAcc {
        mut listeners,
        states,
        time_wait,
        mut rtt_all,
        mut rtt_remote,
    } = tcp;
    listeners.sort_by(|a, b| {
        (a.local.port(), a.local.ip(), a.inode).cmp(&(b.local.port(), b.local.ip(), b.inode))
    });
    if with_processes {
        let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
        let mut owners = socket_owners(&proc_root.proc, &inodes);
        for l in &mut listeners {
            l.owner = match owners.remove(&l.inode) {
                Some((pid, comm)) => Owner::Process { pid, comm },
                None => Owner::NotFound,
            };
        }
    }
    out.listeners = listeners;
    out.tcp_states = states;
    out.time_wait_top = top_destinations(time_wait, TOP_N);
    out.rtt = RttSummary {
        all: RttStats::from_samples(&mut rtt_all),
        remote: RttStats::from_samples(&mut rtt_remote),
    };
    Source::Ok(out)
}

/// Whether sock_diag can be used here: opens a `NETLINK_SOCK_DIAG` socket on the calling
/// thread and dumps the IPv4 TCP listeners (cheap). `Err` carries a human reason.
pub fn can_run() -> Result<(), String> {
    let mut diag = Diag::open().map_err(|e| e.describe("socket"))?;
    diag.dump(
        AF_INET,
        IPPROTO_TCP,
        ExtensionFlags::empty(),
        StateFlags::LISTEN,
        &mut |_| {},
    )
    .map_err(|e| e.describe("TCP/IPv4 listeners"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

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

    proptest! {
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
            (AF_INET, IPPROTO_TCP, ExtensionFlags::INFO),
            (AF_INET6, IPPROTO_TCP, ExtensionFlags::INFO),
            (AF_INET, IPPROTO_UDP, ExtensionFlags::SKMEMINFO),
            (AF_INET6, IPPROTO_UDP, ExtensionFlags::SKMEMINFO),
        ] {
            let t = Instant::now();
            let mut n = 0;
            d.dump(fam, proto, ext, StateFlags::all(), &mut |_| n += 1)
                .unwrap();
            eprintln!(
                "dump family {fam} proto {proto}: {n} sockets in {:?}",
                t.elapsed()
            );
        }
    }
}
