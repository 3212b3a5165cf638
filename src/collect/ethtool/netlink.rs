//! Reads and writes over ethtool netlink (generic netlink family `ethtool`) on one
//! synchronous `NETLINK_GENERIC` socket, created on the calling thread so it belongs to that
//! thread's network namespace.
//!
//! A [`Session`] resolves the family id once (`CTRL_CMD_GETFAMILY`), then each read puts
//! every GET request of a batch of devices (rings, channels, coalescing, features, link
//! modes) into one `sendto`, each with its own sequence number, and reads replies until
//! every sequence number has its reply or its error. The kernel answers a request while it
//! is being sent, so after the `sendto` every reply is already queued (or was dropped
//! because the receive buffer overflowed, which the kernel reports as `ENOBUFS`: the
//! requests still unanswered are then sent again). Replies are decoded with the attribute
//! walker of [`super::nla`]; attribute numbers are those of linux/ethtool_netlink.h.

#[cfg(test)]
use super::Feature;
use super::{classify, Channels, Coalesce, Ethtool, Features, LinkInfo, Rings};
use crate::collect::Source;
use crate::nla::{self, as_u32, as_u8, attrs, NlaWriter};
use netlink_packet_core::{NetlinkMessage, NLM_F_REQUEST};
use netlink_packet_generic::ctrl::{nlas::GenlCtrlAttrs, GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};
use std::io;

/// `ETHTOOL_MSG_STRSET_GET`.
const MSG_STRSET_GET: u8 = 1;
/// `ETH_SS_FEATURES`: the kernel's feature names, a global string set.
const ETH_SS_FEATURES: u32 = 4;
/// Refuse absurd string indexes from a broken reply.
const MAX_FEATURES: usize = 4096;
/// `ETHTOOL_MSG_LINKMODES_GET`.
const MSG_LINKMODES_GET: u8 = 4;
/// `ETHTOOL_MSG_FEATURES_GET`.
const MSG_FEATURES_GET: u8 = 11;
/// `ETHTOOL_MSG_RINGS_GET`.
const MSG_RINGS_GET: u8 = 15;
/// `ETHTOOL_MSG_CHANNELS_GET`.
const MSG_CHANNELS_GET: u8 = 17;
/// `ETHTOOL_MSG_COALESCE_GET`.
const MSG_COALESCE_GET: u8 = 19;
/// `ETHTOOL_FLAG_COMPACT_BITSETS`.
pub(crate) const FLAG_COMPACT_BITSETS: u32 = 1 << 0;
/// `ETHTOOL_FLAG_OMIT_REPLY`.
pub(crate) const FLAG_OMIT_REPLY: u32 = 1 << 1;
/// `ETHTOOL_GENL_VERSION`.
const GENL_VERSION: u8 = 1;

/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct genlmsghdr)`.
const GENL_HDRLEN: usize = 4;
/// `NLMSG_ERROR` (an error, or an ACK when the code is 0).
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE` (end of a multi-part reply).
const NLMSG_DONE: u16 = 3;
/// `NLM_F_MULTI`.
const F_MULTI: u16 = 2;
/// `NLM_F_ACK`.
const F_ACK: u16 = 4;

/// Devices whose requests share one `sendto`: 5 replies each, a few KiB at most (features
/// is the largest), well inside the default receive buffer.
const BATCH_DEVICES: usize = 8;
/// Initial receive buffer (bytes); grown when a reply does not fit.
const RECV_BUF: usize = 32 * 1024;
/// Receive buffer asked of the kernel (bytes; capped by `net.core.rmem_max` unless root).
const SOCKET_RCVBUF: usize = 1 << 20;
/// How long to wait for a reply the kernel owes us (seconds). Only reached if the kernel
/// answers asynchronously, which ethtool GET requests never do.
const REPLY_TIMEOUT_S: libc::time_t = 2;
/// How many times requests whose replies were dropped (`ENOBUFS`) are sent again.
const MAX_RESENDS: u32 = 3;

/// The GET requests of one device, in this order: command, request header flags, and what
/// a failure is about.
const GETS: [(u8, u32, &str); 5] = [
    (MSG_RINGS_GET, 0, "ring parameters"),
    (MSG_CHANNELS_GET, 0, "channel parameters"),
    (MSG_COALESCE_GET, 0, "coalescing parameters"),
    (MSG_FEATURES_GET, 0, "offload features"),
    (MSG_LINKMODES_GET, FLAG_COMPACT_BITSETS, "link modes"),
];

/// Why a netlink request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NlError {
    /// The kernel answered with this errno.
    Errno(i32),
    /// Anything else (socket, decoding, no answer).
    Other(String),
}

fn to_source<T>(
    what: &str,
    ifname: &str,
    driver: Option<&str>,
    r: Result<T, NlError>,
) -> Source<T> {
    match r {
        Ok(v) => Source::Ok(v),
        Err(NlError::Errno(e)) => classify(what, ifname, driver, e),
        Err(NlError::Other(s)) => Source::error(format!("{what} of {ifname}: netlink: {s}")),
    }
}

/// Decode a `RINGS_GET` reply (`ETHTOOL_A_RINGS_*`: RX_MAX 2 .. TX 9, RX_BUF_LEN 10).
pub(crate) fn parse_rings(reply: &[u8]) -> Rings {
    let mut r = Rings::default();
    for (kind, p) in attrs(reply) {
        let slot = match kind {
            2 => &mut r.rx_max,
            3 => &mut r.rx_mini_max,
            4 => &mut r.rx_jumbo_max,
            5 => &mut r.tx_max,
            6 => &mut r.rx,
            7 => &mut r.rx_mini,
            8 => &mut r.rx_jumbo,
            9 => &mut r.tx,
            10 => &mut r.rx_buf_len,
            _ => continue,
        };
        *slot = as_u32(p);
    }
    r
}

/// Decode a `CHANNELS_GET` reply (`ETHTOOL_A_CHANNELS_*`: RX_MAX 2 .. COMBINED_COUNT 9).
pub(crate) fn parse_channels(reply: &[u8]) -> Channels {
    let mut c = Channels::default();
    for (kind, p) in attrs(reply) {
        let slot = match kind {
            2 => &mut c.rx_max,
            3 => &mut c.tx_max,
            4 => &mut c.other_max,
            5 => &mut c.combined_max,
            6 => &mut c.rx,
            7 => &mut c.tx,
            8 => &mut c.other,
            9 => &mut c.combined,
            _ => continue,
        };
        *slot = as_u32(p);
    }
    c
}

/// Decode a `COALESCE_GET` reply (`ETHTOOL_A_COALESCE_*`: RX_USECS 2 .. STATS_BLOCK_USECS
/// 10, USE_ADAPTIVE_RX/TX 11/12 (u8), PKT_RATE_LOW 13, PKT_RATE_HIGH 18,
/// RATE_SAMPLE_INTERVAL 23).
pub(crate) fn parse_coalesce(reply: &[u8]) -> Coalesce {
    let mut c = Coalesce::default();
    for (kind, p) in attrs(reply) {
        let slot = match kind {
            2 => &mut c.rx_usecs,
            3 => &mut c.rx_max_frames,
            4 => &mut c.rx_usecs_irq,
            5 => &mut c.rx_max_frames_irq,
            6 => &mut c.tx_usecs,
            7 => &mut c.tx_max_frames,
            8 => &mut c.tx_usecs_irq,
            9 => &mut c.tx_max_frames_irq,
            10 => &mut c.stats_block_usecs,
            11 => {
                c.use_adaptive_rx = as_u8(p).map(|v| v == 1);
                continue;
            }
            12 => {
                c.use_adaptive_tx = as_u8(p).map(|v| v == 1);
                continue;
            }
            13 => &mut c.pkt_rate_low,
            18 => &mut c.pkt_rate_high,
            23 => &mut c.rate_sample_interval,
            _ => continue,
        };
        *slot = as_u32(p);
    }
    c
}

/// Decode a `LINKMODES_GET` reply: speed (`ETHTOOL_A_LINKMODES_SPEED` = 5, `u32::MAX` is
/// unknown), duplex (6: 0 half, 1 full, 255 unknown), autoneg (2).
pub(crate) fn parse_linkmodes(reply: &[u8]) -> LinkInfo {
    let mut l = LinkInfo::default();
    for (kind, p) in attrs(reply) {
        match kind {
            2 => l.autoneg = as_u8(p).map(|v| v != 0),
            5 => l.speed_mbps = as_u32(p).filter(|&v| v != u32::MAX && v != 0),
            6 => {
                l.duplex = match as_u8(p) {
                    Some(0) => Some("half".into()),
                    Some(1) => Some("full".into()),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    l
}

/// Decode a `STRSET_GET` reply: the strings of the first string set, by index
/// (`STRINGSETS` 2 → `STRINGSET` 1 → `STRINGS` 3 → `STRING` 1 → `INDEX` 1, `VALUE` 2).
pub(crate) fn parse_strings(reply: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let sets = attrs(reply).filter(|(k, _)| *k == 2);
    let Some((_, set)) = sets.flat_map(|(_, p)| attrs(p)).find(|(k, _)| *k == 1) else {
        return out;
    };
    for (_, strings) in attrs(set).filter(|(k, _)| *k == 3) {
        for (_, string) in attrs(strings).filter(|(k, _)| *k == 1) {
            let mut index = None;
            let mut value = None;
            for (k, p) in attrs(string) {
                match k {
                    1 => index = as_u32(p).map(|i| i as usize),
                    2 => value = nla::as_str(p),
                    _ => {}
                }
            }
            if let (Some(i), Some(v)) = (index.filter(|&i| i < MAX_FEATURES), value) {
                if out.len() <= i {
                    out.resize(i + 1, String::new());
                }
                if let Some(slot) = out.get_mut(i) {
                    *slot = v.to_string();
                }
            }
        }
    }
    out
}

/// Names of the set bits of a bitset. Compact form (`ETHTOOL_A_BITSET_VALUE` 4, `MASK` 5:
/// u32 words) takes bit names from `names`, by index; a bit is set when its value bit is,
/// within the mask when there is one. Verbose form carries the names: in list form
/// (`ETHTOOL_A_BITSET_NOMASK`) every listed bit is set; otherwise a bit is set when it
/// carries `ETHTOOL_A_BITSET_BIT_VALUE`.
fn bitset_names<'a>(bitset: &'a [u8], names: &'a [String], mut f: impl FnMut(&'a str)) {
    let nomask = attrs(bitset).any(|(k, _)| k == 1);
    let word = |p: &[u8], i: usize| p.get(i * 4..).and_then(as_u32).unwrap_or(0);
    if let Some((_, value)) = attrs(bitset).find(|(k, _)| *k == 4) {
        let mask = attrs(bitset).find(|(k, _)| *k == 5).map(|(_, p)| p);
        for (i, name) in names.iter().enumerate() {
            let m = match mask {
                Some(m) if !nomask => word(m, i / 32),
                _ => u32::MAX,
            };
            if (word(value, i / 32) & m) >> (i % 32) & 1 == 1 && !name.is_empty() {
                f(name);
            }
        }
        return;
    }
    for (k, bits) in attrs(bitset) {
        if k != 3 {
            continue; // ETHTOOL_A_BITSET_BITS
        }
        for (k, bit) in attrs(bits) {
            if k != 1 {
                continue; // ETHTOOL_A_BITSET_BITS_BIT
            }
            let mut name = None;
            let mut value = false;
            for (k, p) in attrs(bit) {
                match k {
                    2 => name = nla::as_str(p),
                    3 => value = true,
                    _ => {}
                }
            }
            if let Some(n) = name {
                if nomask || value {
                    f(n);
                }
            }
        }
    }
}

/// Decode a `FEATURES_GET` reply with verbose bitsets (names included).
#[cfg(test)]
pub(crate) fn parse_features(reply: &[u8]) -> Features {
    parse_features_with(reply, &[])
}

/// Decode a `FEATURES_GET` reply (HW = 2 changeable, WANTED = 3, ACTIVE = 4, NOCHANGE = 5);
/// compact bitsets take their names from `names` (the `ETH_SS_FEATURES` strings).
pub(crate) fn parse_features_with(reply: &[u8], names: &[String]) -> Features {
    let mut out = Features::new();
    let mut hw: Vec<&str> = Vec::new();
    let mut nochange: Vec<&str> = Vec::new();
    for (kind, p) in attrs(reply) {
        match kind {
            2 => bitset_names(p, names, |n| hw.push(n)),
            3 => bitset_names(p, names, |n| {
                out.entry(n.to_string()).or_default().requested = true
            }),
            4 => bitset_names(p, names, |n| {
                out.entry(n.to_string()).or_default().active = true
            }),
            5 => bitset_names(p, names, |n| nochange.push(n)),
            _ => {}
        }
    }
    for n in &hw {
        if !out.contains_key(*n) {
            out.insert(n.to_string(), Default::default());
        }
    }
    for (name, f) in out.iter_mut() {
        f.fixed = !hw.contains(&name.as_str()) || nochange.contains(&name.as_str());
    }
    out
}

pub(crate) fn set_all(devs: &mut [(String, Ethtool)], src: impl Fn() -> Source<()>) {
    for (_, e) in devs.iter_mut() {
        let s = src();
        e.rings = s.clone().map(|_| Rings::default());
        e.channels = s.clone().map(|_| Channels::default());
        e.coalesce = s.clone().map(|_| Coalesce::default());
        e.features = s.clone().map(|_| Features::default());
        e.link = s.map(|_| LinkInfo::default());
    }
}

/// Append one generic netlink request to `tx`: `nlmsghdr` + `genlmsghdr` + `attrs`.
fn push_request(tx: &mut Vec<u8>, family: u16, flags: u16, seq: u32, cmd: u8, attrs: &[u8]) {
    let len = (NLMSG_HDRLEN + GENL_HDRLEN + attrs.len()) as u32;
    tx.extend_from_slice(&len.to_ne_bytes());
    tx.extend_from_slice(&family.to_ne_bytes());
    tx.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    tx.extend_from_slice(&seq.to_ne_bytes());
    tx.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it in
    tx.extend_from_slice(&[cmd, GENL_VERSION, 0, 0]);
    tx.extend_from_slice(attrs);
    // Attributes are 4-byte padded, so the message already ends aligned.
}

fn ne_u16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn ne_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// The answer to one request of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// Sequence number the request was (last) sent with.
    seq: u32,
    /// Where the request is in the batch's send buffer (to send it again).
    request: (usize, usize),
    /// Where the reply's attributes are in the batch's reply store.
    reply: Option<(usize, usize)>,
    /// The request asked for an ACK: only `NLMSG_ERROR` ends it.
    ack: bool,
    /// `None` while unanswered (or inside a multi-part reply before `NLMSG_DONE`).
    done: Option<Result<(), NlError>>,
}

/// One batch of requests in flight and their answers; buffers reused between batches.
#[derive(Debug, Default)]
struct Batch {
    tx: Vec<u8>,
    slots: Vec<Slot>,
    /// Reply attributes of every slot, back to back.
    store: Vec<u8>,
}

impl Batch {
    fn clear(&mut self) {
        self.tx.clear();
        self.slots.clear();
        self.store.clear();
    }

    /// Queue a request; returns its slot index.
    fn push(&mut self, family: u16, flags: u16, seq: u32, cmd: u8, attrs: &[u8]) -> usize {
        let start = self.tx.len();
        push_request(&mut self.tx, family, flags, seq, cmd, attrs);
        self.slots.push(Slot {
            seq,
            request: (start, self.tx.len()),
            reply: None,
            ack: flags & F_ACK != 0,
            done: None,
        });
        self.slots.len() - 1
    }

    fn pending(&self) -> usize {
        self.slots.iter().filter(|s| s.done.is_none()).count()
    }

    /// The outcome of slot `i`: the reply attributes (empty for a bare ACK) or the error.
    fn result(&self, i: usize) -> Result<&[u8], NlError> {
        let Some(slot) = self.slots.get(i) else {
            return Err(NlError::Other("no such request".into()));
        };
        match &slot.done {
            Some(Ok(())) => Ok(slot
                .reply
                .and_then(|(a, b)| self.store.get(a..b))
                .unwrap_or(&[])),
            Some(Err(e)) => Err(e.clone()),
            None => Err(NlError::Other("no reply".into())),
        }
    }

    /// Apply the netlink messages of one datagram to their slots. `full_len` is the
    /// datagram's real length (larger than `data` when it was truncated).
    fn dispatch(&mut self, data: &[u8], full_len: usize) {
        let mut off = 0usize;
        while let (Some(len), Some(kind), Some(flags), Some(seq)) = (
            ne_u32(data, off),
            ne_u16(data, off + 4),
            ne_u16(data, off + 6),
            ne_u32(data, off + 8),
        ) {
            let len = len as usize;
            let Some(slot) = self.slots.iter_mut().find(|s| s.seq == seq) else {
                // A late answer to an earlier batch or a resent request: not ours now.
                if len < NLMSG_HDRLEN {
                    return;
                }
                off += (len + 3) & !3;
                continue;
            };
            if slot.done.is_some() {
                // An answer to the first send of a request that was sent again.
                if len < NLMSG_HDRLEN {
                    return;
                }
                off += (len + 3) & !3;
                continue;
            }
            let Some(msg) = data
                .get(off..off.saturating_add(len))
                .filter(|_| len >= NLMSG_HDRLEN)
            else {
                slot.done = Some(Err(NlError::Other(if full_len > data.len() {
                    format!("reply of {full_len} bytes truncated")
                } else {
                    format!("malformed netlink message of {len} bytes")
                })));
                return;
            };
            let payload = msg.get(NLMSG_HDRLEN..).unwrap_or(&[]);
            match kind {
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(i32::from_ne_bytes)
                        .unwrap_or(-libc::EBADMSG);
                    slot.done = Some(if code == 0 {
                        Ok(())
                    } else {
                        Err(NlError::Errno(code.saturating_neg()))
                    });
                }
                NLMSG_DONE => slot.done = Some(Ok(())),
                k if k < 0x10 => {} // NOOP, OVERRUN and other control messages
                _ => {
                    if slot.reply.is_none() {
                        let attrs = payload.get(GENL_HDRLEN..).unwrap_or(&[]);
                        let start = self.store.len();
                        self.store.extend_from_slice(attrs);
                        slot.reply = Some((start, self.store.len()));
                    }
                    if flags & F_MULTI == 0 && !slot.ack {
                        slot.done = Some(Ok(()));
                    }
                }
            }
            off += (len + 3) & !3;
        }
    }
}

/// A synchronous generic netlink socket with the `ethtool` family resolved.
struct Conn {
    sock: Socket,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
    batch: Batch,
    /// Request attributes scratch.
    attrs: NlaWriter,
    /// The kernel's feature names (`ETH_SS_FEATURES`), read once: features are then asked
    /// for as compact bitsets, which the kernel builds far faster than named ones. Empty
    /// when the string set could not be read (verbose bitsets are asked for instead).
    feature_names: Vec<String>,
}

/// Socket-level failures of a connection, before any request is sent.
enum OpenError {
    /// Socket, bind, options.
    Socket(io::Error),
    /// `CTRL_CMD_GETFAMILY` failed (no ethtool family, or the kernel said something odd).
    Family(String),
}

impl Conn {
    fn open() -> Result<Conn, OpenError> {
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(OpenError::Socket)?;
        sock.bind_auto().map_err(OpenError::Socket)?;
        // Errors without a copy of our request; a larger receive buffer (root may exceed
        // rmem_max); a bounded wait. All best effort.
        let _ = sock.set_cap_ack(true);
        if nix::sys::socket::setsockopt(
            &sock,
            nix::sys::socket::sockopt::RcvBufForce,
            &SOCKET_RCVBUF,
        )
        .is_err()
        {
            let _ = sock.set_rx_buf_sz(SOCKET_RCVBUF);
        }
        crate::collect::set_receive_timeout(&sock, REPLY_TIMEOUT_S);
        let mut conn = Conn {
            sock,
            family: 0,
            seq: 0,
            rx: vec![0; RECV_BUF],
            batch: Batch::default(),
            attrs: NlaWriter::default(),
            feature_names: Vec::new(),
        };
        conn.family = conn.resolve_family()?;
        Ok(conn)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// `CTRL_CMD_GETFAMILY` for `ethtool`: the family id.
    fn resolve_family(&mut self) -> Result<u16, OpenError> {
        let seq = self.next_seq();
        let mut msg = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName("ethtool".to_string())],
        }));
        msg.header.flags = NLM_F_REQUEST;
        msg.header.sequence_number = seq;
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        self.batch.clear();
        self.batch.tx = out;
        self.batch.slots.push(Slot {
            seq,
            request: (0, self.batch.tx.len()),
            reply: None,
            ack: false,
            done: None,
        });
        self.exchange().map_err(OpenError::Socket)?;
        let store = &self.batch.store;
        let slot = self.batch.slots.first();
        match slot.and_then(|s| s.done.clone()) {
            Some(Ok(())) => {}
            Some(Err(NlError::Errno(e))) => {
                return Err(OpenError::Family(
                    io::Error::from_raw_os_error(e).to_string(),
                ))
            }
            Some(Err(NlError::Other(s))) => return Err(OpenError::Family(s)),
            None => return Err(OpenError::Family("no reply".into())),
        }
        // CTRL_ATTR_FAMILY_ID (1, u16).
        let id = slot
            .and_then(|s| s.reply)
            .and_then(|(a, b)| store.get(a..b))
            .and_then(|r| attrs(r).find(|(k, _)| *k == 1))
            .and_then(|(_, p)| ne_u16(p, 0));
        id.ok_or_else(|| OpenError::Family("reply without a family id".into()))
    }

    /// `STRSET_GET` of `ETH_SS_FEATURES` (a global set: an empty request header).
    fn read_feature_names(&mut self) -> Vec<String> {
        self.attrs.buf.clear();
        self.attrs.nest(1, |_| {}); // an empty request header: no device
        self.attrs.nest(2, |w| {
            // ETHTOOL_A_STRSET_STRINGSETS
            w.nest(1, |w| w.u32(1, ETH_SS_FEATURES)); // STRINGSET { ID }
        });
        self.batch.clear();
        let seq = self.next_seq();
        self.batch
            .push(self.family, 0, seq, MSG_STRSET_GET, &self.attrs.buf);
        if self.exchange().is_err() {
            return Vec::new();
        }
        self.batch.result(0).map(parse_strings).unwrap_or_default()
    }

    /// Send the batch's requests in one datagram and read until every slot is answered.
    /// Requests whose replies the kernel dropped (receive buffer overrun) are sent again.
    /// `Err` only for a failed `sendto`; unanswered slots get their own error.
    fn exchange(&mut self) -> io::Result<()> {
        send_all(&self.sock, &self.batch.tx)?;
        let mut resends = 0;
        let mut overrun = false;
        while self.batch.pending() > 0 {
            let flags = libc::MSG_TRUNC | if overrun { libc::MSG_DONTWAIT } else { 0 };
            match self.sock.recv(&mut &mut self.rx[..], flags) {
                Ok(n) => {
                    let cap = self.rx.len();
                    self.batch
                        .dispatch(self.rx.get(..n.min(cap)).unwrap_or(&[]), n);
                    if n > cap {
                        self.rx.resize(n.next_power_of_two(), 0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => overrun = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && overrun => {
                    // Everything that survived is read: send the rest again, new numbers.
                    if resends >= MAX_RESENDS {
                        self.fail_pending("replies lost: netlink receive buffer overrun");
                        break;
                    }
                    resends += 1;
                    overrun = false;
                    let mut again = Vec::new();
                    for i in 0..self.batch.slots.len() {
                        if self.batch.slots.get(i).is_none_or(|s| s.done.is_some()) {
                            continue;
                        }
                        let seq = self.next_seq();
                        let Some(slot) = self.batch.slots.get_mut(i) else {
                            continue;
                        };
                        let (a, b) = slot.request;
                        let start = again.len();
                        again.extend_from_slice(self.batch.tx.get(a..b).unwrap_or(&[]));
                        if let Some(d) = again.get_mut(start + 8..start + 12) {
                            d.copy_from_slice(&seq.to_ne_bytes());
                        }
                        slot.seq = seq;
                    }
                    send_all(&self.sock, &again)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.fail_pending("no reply from the kernel");
                    break;
                }
                Err(e) => {
                    self.fail_pending(&format!("recv: {e}"));
                    break;
                }
            }
        }
        Ok(())
    }

    fn fail_pending(&mut self, why: &str) {
        for s in self.batch.slots.iter_mut().filter(|s| s.done.is_none()) {
            s.done = Some(Err(NlError::Other(why.to_string())));
        }
    }

    /// Fill the netlink parts of `devs` (at most [`BATCH_DEVICES`]).
    /// Query every device of `devs`: all of [`GETS`] with `settings`, else only the link
    /// modes (speed and duplex; the settings are left as they are).
    fn read_batch(&mut self, devs: &mut [(String, Ethtool)], settings: bool) {
        self.batch.clear();
        let compact = !self.feature_names.is_empty();
        let wanted: &[usize] = if settings { &[0, 1, 2, 3, 4] } else { &[4] };
        for (name, _) in devs.iter() {
            for &i in wanted {
                let (cmd, mut flags, _) = GETS[i];
                if cmd == MSG_FEATURES_GET && compact {
                    flags |= FLAG_COMPACT_BITSETS;
                }
                let seq = self.next_seq();
                self.attrs.buf.clear();
                self.attrs.ethtool_header(name, flags);
                self.batch.push(self.family, 0, seq, cmd, &self.attrs.buf);
            }
        }
        if let Err(e) = self.exchange() {
            let msg = format!("netlink send: {e}");
            return set_all(devs, || Source::error(msg.clone()));
        }
        let b = &self.batch;
        for (d, (name, e)) in devs.iter_mut().enumerate() {
            let driver = e.driver.ok().map(|d| d.driver.as_str());
            // Slots follow `wanted`, per device.
            let r = |i: usize| {
                let j = wanted.iter().position(|&w| w == i)?;
                Some(b.result(d * wanted.len() + j))
            };
            let [(_, _, w0), (_, _, w1), (_, _, w2), (_, _, w3), (_, _, w4)] = GETS;
            if let Some(link) = r(4) {
                e.link = to_source(w4, name, driver, link.map(parse_linkmodes));
            }
            if !settings {
                continue;
            }
            if let Some(rings) = r(0) {
                e.rings = to_source(w0, name, driver, rings.map(parse_rings));
            }
            if let Some(channels) = r(1) {
                e.channels = to_source(w1, name, driver, channels.map(parse_channels));
            }
            if let Some(coalesce) = r(2) {
                e.coalesce = to_source(w2, name, driver, coalesce.map(parse_coalesce));
            }
            if let Some(features) = r(3) {
                let names = &self.feature_names;
                let features = features.map(|p| parse_features_with(p, names));
                e.features = to_source(w3, name, driver, features);
            }
        }
    }

    /// Send one request with `NLM_F_ACK` and wait for the kernel's answer.
    fn request_ack(&mut self, cmd: u8, attrs: &[u8]) -> Result<(), NlError> {
        self.batch.clear();
        let seq = self.next_seq();
        self.batch.push(self.family, F_ACK, seq, cmd, attrs);
        self.exchange()
            .map_err(|e| NlError::Other(format!("send: {e}")))?;
        self.batch.result(0).map(|_| ())
    }
}

fn send_all(sock: &Socket, buf: &[u8]) -> io::Result<()> {
    loop {
        match sock.send(buf, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

const NO_FAMILY: &str =
    "the kernel has no ethtool netlink family (needs Linux 5.6+ with CONFIG_ETHTOOL_NETLINK)";

fn open_error_source(e: OpenError) -> Source<()> {
    match e {
        OpenError::Socket(e) => Source::error(format!("cannot open a generic netlink socket: {e}")),
        OpenError::Family(e) => Source::unsupported(format!("{NO_FAMILY}: {e}")),
    }
}

/// A netlink session kept between reads: one socket, the ethtool family resolved once. It
/// belongs to the network namespace of the thread that created it.
pub(crate) struct Session {
    /// The connection, or why there is none (the reason every device then gets).
    conn: Result<Conn, Source<()>>,
}

impl Session {
    /// Open the session; failures are remembered and reported per device by `read_into`.
    pub(crate) fn new() -> Session {
        let mut conn = Conn::open().map_err(open_error_source);
        if let Ok(c) = &mut conn {
            c.feature_names = c.read_feature_names();
        }
        Session { conn }
    }

    /// Fill the netlink parts of every device: with `settings` rings, channels, coalescing,
    /// features and link modes, else only link modes.
    pub(crate) fn read_into(&mut self, devs: &mut [(String, Ethtool)], settings: bool) {
        match &mut self.conn {
            Ok(conn) => {
                for chunk in devs.chunks_mut(BATCH_DEVICES) {
                    conn.read_batch(chunk, settings);
                }
            }
            Err(reason) => set_all(devs, || reason.clone()),
        }
    }
}

/// Check that the ethtool netlink family exists.
pub(crate) fn probe() -> Result<(), String> {
    match Conn::open() {
        Ok(_) => Ok(()),
        Err(OpenError::Socket(e)) => Err(format!("cannot open a generic netlink socket: {e}")),
        Err(OpenError::Family(e)) => Err(format!("{NO_FAMILY}: {e}")),
    }
}

/// Send one SET message (attributes already encoded) on a socket of the calling thread's
/// network namespace and wait for the kernel's ACK.
pub(crate) fn send_set(cmd: u8, attrs: Vec<u8>) -> Result<(), NlError> {
    let mut conn = Conn::open().map_err(|e| match e {
        OpenError::Socket(e) => {
            NlError::Other(format!("cannot open a generic netlink socket: {e}"))
        }
        OpenError::Family(e) => NlError::Other(format!("{NO_FAMILY}: {e}")),
    })?;
    conn.request_ack(cmd, &attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verbose bitset: list form (NOMASK) or mask form with VALUE flags.
    fn bitset(w: &mut NlaWriter, kind: u16, nomask: bool, bits: &[(&str, bool)]) {
        w.nest(kind, |w| {
            if nomask {
                w.flag(1);
            }
            w.u32(2, 64);
            w.nest(3, |w| {
                for (i, (name, on)) in bits.iter().enumerate() {
                    w.nest(1, |w| {
                        w.u32(1, i as u32);
                        w.string(2, name);
                        if *on {
                            w.flag(3);
                        }
                    });
                }
            });
        });
    }

    #[test]
    fn features_reply_active_fixed_requested() {
        let mut w = NlaWriter::default();
        w.ethtool_header("eth0", 0);
        bitset(
            &mut w,
            2,
            true,
            &[
                ("tx-scatter-gather", true),
                ("rx-gro", true),
                ("vlan-challenged", true),
            ],
        );
        bitset(&mut w, 3, true, &[("rx-gro", true)]);
        // Mask form: listed but without VALUE means off.
        bitset(
            &mut w,
            4,
            false,
            &[
                ("tx-scatter-gather", true),
                ("rx-gro", false),
                ("highdma", true),
                ("vlan-challenged", true),
            ],
        );
        bitset(
            &mut w,
            5,
            true,
            &[("netns-local", true), ("vlan-challenged", true)],
        );
        let f = parse_features(&w.buf);
        assert_eq!(
            f["tx-scatter-gather"],
            Feature {
                active: true,
                fixed: false,
                requested: false
            }
        );
        assert_eq!(
            f["rx-gro"],
            Feature {
                active: false,
                fixed: false,
                requested: true
            }
        );
        assert!(f["highdma"].active && f["highdma"].fixed);
        // Changeable per HW but in NOCHANGE: fixed.
        assert!(f["vlan-challenged"].active && f["vlan-challenged"].fixed);
        // Only in NOCHANGE (off, fixed): not listed.
        assert!(!f.contains_key("netns-local"));
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn linkmodes_reply_unknown_speed_and_duplex() {
        let mut w = NlaWriter::default();
        w.u8(2, 1);
        w.u32(5, 25000);
        w.u8(6, 1);
        let l = parse_linkmodes(&w.buf);
        assert_eq!(
            (l.speed_mbps, l.duplex.as_deref(), l.autoneg),
            (Some(25000), Some("full"), Some(true))
        );
        let mut w = NlaWriter::default();
        w.u32(5, u32::MAX);
        w.u8(6, 255);
        let l = parse_linkmodes(&w.buf);
        assert_eq!((l.speed_mbps, l.duplex), (None, None));
    }

    #[test]
    fn rings_channels_coalesce_replies() {
        let mut w = NlaWriter::default();
        w.ethtool_header("eth0", 0);
        for (k, v) in [
            (2, 4096),
            (5, 4096),
            (6, 256),
            (9, 512),
            (10, 2048),
            (99, 7),
        ] {
            w.u32(k, v);
        }
        let r = parse_rings(&w.buf);
        assert_eq!(
            r,
            Rings {
                rx: Some(256),
                tx: Some(512),
                rx_max: Some(4096),
                tx_max: Some(4096),
                rx_buf_len: Some(2048),
                ..Default::default()
            }
        );

        let mut w = NlaWriter::default();
        for (k, v) in [(3, 1), (5, 8), (7, 0), (9, 4)] {
            w.u32(k, v);
        }
        let c = parse_channels(&w.buf);
        assert_eq!(
            (c.tx_max, c.combined_max, c.tx, c.combined, c.rx),
            (Some(1), Some(8), Some(0), Some(4), None)
        );

        let mut w = NlaWriter::default();
        w.u32(2, 50);
        w.u32(3, 64);
        w.u32(6, 0);
        w.u8(11, 1);
        w.u8(12, 0);
        w.u32(13, 1000);
        w.u32(18, 9000);
        w.u32(23, 2);
        w.u32(14, 77); // RX_USECS_LOW: not modelled
        let c = parse_coalesce(&w.buf);
        assert_eq!(
            c,
            Coalesce {
                rx_usecs: Some(50),
                rx_max_frames: Some(64),
                tx_usecs: Some(0),
                use_adaptive_rx: Some(true),
                use_adaptive_tx: Some(false),
                pkt_rate_low: Some(1000),
                pkt_rate_high: Some(9000),
                rate_sample_interval: Some(2),
                ..Default::default()
            }
        );
    }

    /// A reply message as the kernel sends it: nlmsghdr + genlmsghdr + attributes.
    fn reply(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, attrs: &[u8]) {
        push_request(buf, kind, flags & !NLM_F_REQUEST, seq, 99, attrs);
        // push_request sets NLM_F_REQUEST; a reply does not carry it.
        let at = buf.len() - NLMSG_HDRLEN - GENL_HDRLEN - attrs.len() + 6;
        buf[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
    }

    fn error(buf: &mut Vec<u8>, seq: u32, code: i32) {
        let mut p = code.to_ne_bytes().to_vec();
        p.extend_from_slice(&[0; 16]); // the request's header (NETLINK_CAP_ACK)
        buf.extend_from_slice(&((NLMSG_HDRLEN + p.len()) as u32).to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&p);
    }

    fn batch_of(n: u32, ack: bool) -> Batch {
        let mut b = Batch::default();
        for seq in 1..=n {
            b.push(
                30,
                if ack { F_ACK } else { 0 },
                seq,
                MSG_RINGS_GET,
                &[8, 0, 6, 0, 1, 0, 0, 0],
            );
        }
        b
    }

    #[test]
    fn requests_are_laid_out_back_to_back() {
        let b = batch_of(2, false);
        assert_eq!(b.tx.len(), 2 * (16 + 4 + 8));
        let m = &b.tx[28..];
        assert_eq!(ne_u32(m, 0), Some(28));
        assert_eq!(ne_u16(m, 4), Some(30)); // family id
        assert_eq!(ne_u16(m, 6), Some(NLM_F_REQUEST));
        assert_eq!(ne_u32(m, 8), Some(2)); // seq
        assert_eq!(&m[16..20], &[MSG_RINGS_GET, 1, 0, 0]);
        assert_eq!(b.slots[1].request, (28, 56));
    }

    #[test]
    fn replies_matched_by_sequence_number_in_any_order() {
        let mut b = batch_of(4, false);
        let mut d = Vec::new();
        let mut w = NlaWriter::default();
        w.u32(6, 256);
        reply(&mut d, 30, 0, 3, &w.buf);
        error(&mut d, 2, -libc::EOPNOTSUPP);
        error(&mut d, 77, -libc::ENODEV); // someone else's: ignored
        b.dispatch(&d, d.len());
        assert_eq!(b.pending(), 2);
        // A multi-part reply stays pending until NLMSG_DONE.
        let mut d = Vec::new();
        reply(&mut d, 30, F_MULTI, 1, &w.buf);
        b.dispatch(&d, d.len());
        assert_eq!(b.pending(), 2);
        let mut d = Vec::new();
        reply(&mut d, 30, F_MULTI, 1, &[]); // second part: the first is kept
        reply(&mut d, NLMSG_DONE, F_MULTI, 1, &[]);
        error(&mut d, 4, 0); // bare ACK
        b.dispatch(&d, d.len());
        assert_eq!(b.pending(), 0);
        assert_eq!(parse_rings(b.result(0).unwrap()).rx, Some(256));
        assert_eq!(b.result(1), Err(NlError::Errno(libc::EOPNOTSUPP)));
        assert_eq!(parse_rings(b.result(2).unwrap()).rx, Some(256));
        assert_eq!(b.result(3), Ok(&[][..]));
        assert!(b.result(4).is_err());
    }

    #[test]
    fn ack_requests_wait_for_the_ack() {
        let mut b = batch_of(1, true);
        let mut d = Vec::new();
        reply(&mut d, 30, 0, 1, &[]);
        b.dispatch(&d, d.len());
        assert_eq!(b.pending(), 1);
        let mut d = Vec::new();
        error(&mut d, 1, -libc::EINVAL);
        b.dispatch(&d, d.len());
        assert_eq!(b.result(0), Err(NlError::Errno(libc::EINVAL)));
    }

    #[test]
    fn truncated_datagram_fails_only_its_request() {
        let mut b = batch_of(2, false);
        let mut d = Vec::new();
        reply(&mut d, 30, 0, 1, &[]);
        let mut w = NlaWriter::default();
        w.string(2, &"x".repeat(100));
        reply(&mut d, 30, 0, 2, &w.buf);
        let cut = d.len() - 50;
        b.dispatch(&d[..cut], d.len());
        assert_eq!(b.result(0), Ok(&[][..]));
        match b.result(1) {
            Err(NlError::Other(s)) => assert!(s.contains("truncated"), "{s}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn family_resolved_and_session_reads_lo() {
        let mut s = Session::new();
        let conn = s.conn.as_ref().expect("ethtool family on this kernel");
        assert!(conn.family >= 0x10, "{}", conn.family);
        let mut devs = vec![("lo".to_string(), Ethtool::default())];
        for _ in 0..3 {
            s.read_into(&mut devs, true);
            assert!(devs[0]
                .1
                .features
                .ok()
                .is_some_and(|f| f["loopback"].active));
            assert_eq!(
                devs[0].1.link.status(),
                "unsupported: link modes not supported by device lo"
            );
            assert_eq!(
                devs[0].1.rings.status(),
                "unsupported: ring parameters not supported by device lo"
            );
        }
    }

    #[test]
    fn compact_features_take_names_by_index() {
        let names: Vec<String> = ["tx-scatter-gather", "tx-checksum-ipv4", "", "rx-gro"]
            .iter()
            .map(|s| s.to_string())
            .chain((4..40).map(|i| format!("f{i}")))
            .collect();
        let mut w = NlaWriter::default();
        let bitset = |w: &mut NlaWriter,
                      kind: u16,
                      nomask: bool,
                      value: [u32; 2],
                      mask: Option<[u32; 2]>| {
            w.nest(kind, |w| {
                if nomask {
                    w.flag(1);
                }
                w.u32(2, 40);
                let mut v = Vec::new();
                v.extend_from_slice(&value[0].to_ne_bytes());
                v.extend_from_slice(&value[1].to_ne_bytes());
                w.bytes(4, &v);
                if let Some(m) = mask {
                    let mut v = Vec::new();
                    v.extend_from_slice(&m[0].to_ne_bytes());
                    v.extend_from_slice(&m[1].to_ne_bytes());
                    w.bytes(5, &v);
                }
            });
        };
        // HW: bits 0, 3, 33; WANTED: 3; ACTIVE (mask form): 0 and 33 on, 3 off, 1 outside
        // the mask; NOCHANGE: 33.
        bitset(&mut w, 2, true, [0b1001, 0b10], None);
        bitset(&mut w, 3, true, [0b1000, 0], None);
        bitset(&mut w, 4, false, [0b0011, 0b10], Some([0b1001, 0b10]));
        bitset(&mut w, 5, true, [0, 0b10], None);
        let f = parse_features_with(&w.buf, &names);
        let on = |n: &str| f.get(n).map(|f| (f.active, f.fixed, f.requested));
        assert_eq!(on("tx-scatter-gather"), Some((true, false, false)));
        assert_eq!(on("rx-gro"), Some((false, false, true)));
        assert_eq!(on("f33"), Some((true, true, false)));
        assert_eq!(on("tx-checksum-ipv4"), None);
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn strset_reply_and_live_compact_equals_verbose() {
        let mut w = NlaWriter::default();
        w.nest(2, |w| {
            w.nest(1, |w| {
                w.u32(1, ETH_SS_FEATURES);
                w.u32(2, 3);
                w.nest(3, |w| {
                    for (i, n) in [(2, "c"), (0, "a")] {
                        w.nest(1, |w| {
                            w.u32(1, i);
                            w.string(2, n);
                        });
                    }
                });
            });
        });
        assert_eq!(parse_strings(&w.buf), ["a", "", "c"]);

        let mut s = Session::new();
        let conn = s.conn.as_mut().expect("ethtool family");
        assert!(conn.feature_names.len() > 30, "{:?}", conn.feature_names);
        assert_eq!(conn.feature_names[0], "tx-scatter-gather");
        let mut devs: Vec<(String, Ethtool)> = ["lo", "eth0"]
            .iter()
            .filter(|n| std::path::Path::new("/sys/class/net").join(n).exists())
            .map(|n| (n.to_string(), Ethtool::default()))
            .collect();
        s.read_into(&mut devs, true);
        let compact: Vec<Source<Features>> = devs.iter().map(|(_, e)| e.features.clone()).collect();
        if let Ok(c) = &mut s.conn {
            c.feature_names.clear(); // verbose bitsets from now on
        }
        s.read_into(&mut devs, true);
        for ((name, e), c) in devs.iter().zip(compact) {
            assert!(c.ok().is_some_and(|f| f.len() > 10), "{name}: {c:?}");
            assert_eq!(e.features, c, "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn reply_parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_features(&bytes);
            let names: Vec<String> = (0..70).map(|i| format!("f{i}")).collect();
            let _ = parse_features_with(&bytes, &names);
            let _ = parse_strings(&bytes);
            let _ = parse_linkmodes(&bytes);
            let _ = parse_rings(&bytes);
            let _ = parse_channels(&bytes);
            let _ = parse_coalesce(&bytes);
            let mut b = batch_of(3, false);
            b.dispatch(&bytes, bytes.len());
            b.dispatch(&bytes, bytes.len() + 10);
            for i in 0..4 {
                let _ = b.result(i);
            }
        }

        #[test]
        fn truncated_replies_never_panic(cut in 0usize..200) {
            let mut d = Vec::new();
            let mut w = NlaWriter::default();
            w.u32(6, 1);
            reply(&mut d, 30, 0, 1, &w.buf);
            error(&mut d, 2, -1);
            reply(&mut d, 30, F_MULTI, 3, &w.buf);
            let cut = cut.min(d.len());
            let mut b = batch_of(3, false);
            b.dispatch(&d[..cut], d.len());
            let _ = b.result(0).map(parse_rings);
        }
    }
}
