//! Reads over ethtool netlink. Rings, channels and coalescing use the `ethtool` crate's typed
//! requests; features and link modes are sent as raw messages ([`RawEthtool`]) because the
//! crate drops feature bit 0 (`tx-scatter-gather`) and parses full link-mode bitsets we do
//! not need. Everything runs on a tokio current-thread runtime created here, so the netlink
//! socket belongs to the calling thread's network namespace.

use super::nla::{self, as_u32, as_u8, attrs, NlaWriter};
#[cfg(test)]
use super::Feature;
use super::{classify, Channels, Coalesce, Ethtool, Features, LinkInfo, Rings};
use crate::collect::Source;
use ethtool::{
    EthtoolAttr, EthtoolChannelAttr, EthtoolCoalesceAttr, EthtoolError, EthtoolHandle,
    EthtoolRingAttr,
};
use futures::{Stream, StreamExt};
use netlink_packet_core::{
    DecodeError, Emitable, NetlinkMessage, NetlinkPayload, ParseableParametrized, NLM_F_ACK,
    NLM_F_REQUEST,
};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

/// `ETHTOOL_MSG_LINKMODES_GET` (request and reply).
const MSG_LINKMODES_GET: u8 = 4;
/// `ETHTOOL_MSG_FEATURES_GET` (request and reply).
const MSG_FEATURES_GET: u8 = 11;
/// `ETHTOOL_FLAG_COMPACT_BITSETS`.
pub(crate) const FLAG_COMPACT_BITSETS: u32 = 1 << 0;
/// `ETHTOOL_FLAG_OMIT_REPLY`.
pub(crate) const FLAG_OMIT_REPLY: u32 = 1 << 1;

/// An ethtool generic netlink message with raw attribute bytes: what we send for requests
/// the `ethtool` crate cannot express, and how replies to them come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEthtool {
    /// `ETHTOOL_MSG_*` command.
    pub cmd: u8,
    /// Encoded attributes.
    pub attrs: Vec<u8>,
}

impl GenlFamily for RawEthtool {
    fn family_name() -> &'static str {
        "ethtool"
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        1
    }
}

impl Emitable for RawEthtool {
    fn buffer_len(&self) -> usize {
        self.attrs.len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        let n = self.attrs.len().min(buffer.len());
        buffer[..n].copy_from_slice(&self.attrs[..n]);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for RawEthtool {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(RawEthtool {
            cmd: header.cmd,
            attrs: buf.to_vec(),
        })
    }
}

/// Why a netlink request failed.
#[derive(Debug)]
pub(crate) enum NlError {
    /// The kernel answered with this errno.
    Errno(i32),
    /// Anything else (socket, decoding).
    Other(String),
}

impl From<EthtoolError> for NlError {
    fn from(e: EthtoolError) -> Self {
        match e {
            EthtoolError::NetlinkError(m) => match m.code {
                Some(c) => NlError::Errno(-c.get()),
                None => NlError::Other("unexpected ACK".into()),
            },
            other => NlError::Other(other.to_string()),
        }
    }
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

/// Send one raw ethtool request and return the attributes of the first reply (empty when
/// the kernel only acknowledged).
pub(crate) async fn raw_request(
    handle: &mut EthtoolHandle,
    cmd: u8,
    attrs: Vec<u8>,
    ack: bool,
) -> Result<Vec<u8>, NlError> {
    let mut msg = NetlinkMessage::from(GenlMessage::from_payload(RawEthtool { cmd, attrs }));
    msg.header.flags = NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 };
    let mut stream = handle
        .handle
        .request(msg)
        .await
        .map_err(|e| NlError::Other(e.to_string()))?;
    let mut reply = None;
    while let Some(m) = stream.next().await {
        match m {
            Ok(m) => match m.payload {
                NetlinkPayload::InnerMessage(g) if reply.is_none() => {
                    reply = Some(g.payload.attrs);
                }
                NetlinkPayload::Error(e) => {
                    if let Some(c) = e.code {
                        return Err(NlError::Errno(-c.get()));
                    }
                }
                _ => {}
            },
            Err(e) => return Err(NlError::Other(e.to_string())),
        }
    }
    Ok(reply.unwrap_or_default())
}

/// The attributes of the first reply of a typed `ethtool` crate request.
async fn first_reply<S>(stream: Result<S, EthtoolError>) -> Result<Vec<EthtoolAttr>, NlError>
where
    S: Stream<Item = Result<GenlMessage<ethtool::EthtoolMessage>, EthtoolError>>,
{
    let stream = stream?;
    futures::pin_mut!(stream);
    match stream.next().await {
        Some(Ok(m)) => Ok(m.payload.nlas),
        Some(Err(e)) => Err(e.into()),
        None => Err(NlError::Other("no reply".into())),
    }
}

async fn rings(mut h: EthtoolHandle, ifname: &str) -> Result<Rings, NlError> {
    let nlas = first_reply(h.ring().get(Some(ifname)).execute().await).await?;
    let mut r = Rings::default();
    for a in nlas {
        if let EthtoolAttr::Ring(a) = a {
            match a {
                EthtoolRingAttr::Rx(v) => r.rx = Some(v),
                EthtoolRingAttr::RxMini(v) => r.rx_mini = Some(v),
                EthtoolRingAttr::RxJumbo(v) => r.rx_jumbo = Some(v),
                EthtoolRingAttr::Tx(v) => r.tx = Some(v),
                EthtoolRingAttr::RxMax(v) => r.rx_max = Some(v),
                EthtoolRingAttr::RxMiniMax(v) => r.rx_mini_max = Some(v),
                EthtoolRingAttr::RxJumboMax(v) => r.rx_jumbo_max = Some(v),
                EthtoolRingAttr::TxMax(v) => r.tx_max = Some(v),
                EthtoolRingAttr::RxBufLen(v) => r.rx_buf_len = Some(v),
                _ => {}
            }
        }
    }
    Ok(r)
}

async fn channels(mut h: EthtoolHandle, ifname: &str) -> Result<Channels, NlError> {
    let nlas = first_reply(h.channel().get(Some(ifname)).execute().await).await?;
    let mut c = Channels::default();
    for a in nlas {
        if let EthtoolAttr::Channel(a) = a {
            match a {
                EthtoolChannelAttr::RxCount(v) => c.rx = Some(v),
                EthtoolChannelAttr::TxCount(v) => c.tx = Some(v),
                EthtoolChannelAttr::OtherCount(v) => c.other = Some(v),
                EthtoolChannelAttr::CombinedCount(v) => c.combined = Some(v),
                EthtoolChannelAttr::RxMax(v) => c.rx_max = Some(v),
                EthtoolChannelAttr::TxMax(v) => c.tx_max = Some(v),
                EthtoolChannelAttr::OtherMax(v) => c.other_max = Some(v),
                EthtoolChannelAttr::CombinedMax(v) => c.combined_max = Some(v),
                _ => {}
            }
        }
    }
    Ok(c)
}

async fn coalesce(mut h: EthtoolHandle, ifname: &str) -> Result<Coalesce, NlError> {
    let nlas = first_reply(h.coalesce().get(Some(ifname)).execute().await).await?;
    let mut c = Coalesce::default();
    for a in nlas {
        if let EthtoolAttr::Coalesce(a) = a {
            use EthtoolCoalesceAttr as A;
            match a {
                A::RxUsecs(v) => c.rx_usecs = Some(v),
                A::RxMaxFrames(v) => c.rx_max_frames = Some(v),
                A::RxUsecsIrq(v) => c.rx_usecs_irq = Some(v),
                A::RxMaxFramesIrq(v) => c.rx_max_frames_irq = Some(v),
                A::TxUsecs(v) => c.tx_usecs = Some(v),
                A::TxMaxFrames(v) => c.tx_max_frames = Some(v),
                A::TxUsecsIrq(v) => c.tx_usecs_irq = Some(v),
                A::TxMaxFramesIrq(v) => c.tx_max_frames_irq = Some(v),
                A::StatsBlockUsecs(v) => c.stats_block_usecs = Some(v),
                A::UseAdaptiveRx(v) => c.use_adaptive_rx = Some(v),
                A::UseAdaptiveTx(v) => c.use_adaptive_tx = Some(v),
                A::PktRateLow(v) => c.pkt_rate_low = Some(v),
                A::PktRateHigh(v) => c.pkt_rate_high = Some(v),
                A::RateSampleInterval(v) => c.rate_sample_interval = Some(v),
                _ => {}
            }
        }
    }
    Ok(c)
}

async fn link(mut h: EthtoolHandle, ifname: &str) -> Result<LinkInfo, NlError> {
    let mut w = NlaWriter::default();
    w.ethtool_header(ifname, FLAG_COMPACT_BITSETS);
    let reply = raw_request(&mut h, MSG_LINKMODES_GET, w.buf, false).await?;
    Ok(parse_linkmodes(&reply))
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

async fn features(mut h: EthtoolHandle, ifname: &str) -> Result<Features, NlError> {
    let mut w = NlaWriter::default();
    w.ethtool_header(ifname, 0);
    let reply = raw_request(&mut h, MSG_FEATURES_GET, w.buf, false).await?;
    Ok(parse_features(&reply))
}

/// Names of the set bits of a verbose (non-compact) bitset: in list form
/// (`ETHTOOL_A_BITSET_NOMASK`) every listed bit is set; otherwise a bit is set when it
/// carries `ETHTOOL_A_BITSET_BIT_VALUE`.
fn bitset_names(bitset: &[u8], mut f: impl FnMut(&str)) {
    let nomask = attrs(bitset).any(|(k, _)| k == 1);
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

/// Decode a `FEATURES_GET` reply (HW = 2 changeable, WANTED = 3, ACTIVE = 4, NOCHANGE = 5).
pub(crate) fn parse_features(reply: &[u8]) -> Features {
    let mut out = Features::new();
    let mut hw: Vec<String> = Vec::new();
    let mut nochange: Vec<String> = Vec::new();
    for (kind, p) in attrs(reply) {
        match kind {
            2 => bitset_names(p, |n| hw.push(n.to_string())),
            3 => bitset_names(p, |n| {
                out.entry(n.to_string()).or_default().requested = true
            }),
            4 => bitset_names(p, |n| out.entry(n.to_string()).or_default().active = true),
            5 => bitset_names(p, |n| nochange.push(n.to_string())),
            _ => {}
        }
    }
    for n in &hw {
        out.entry(n.clone()).or_default();
    }
    for (name, f) in out.iter_mut() {
        f.fixed = !hw.iter().any(|h| h == name) || nochange.iter().any(|h| h == name);
    }
    out
}

fn set_all(devs: &mut [(String, Ethtool)], src: impl Fn() -> Source<()>) {
    for (_, e) in devs.iter_mut() {
        let s = src();
        e.rings = s.clone().map(|_| Rings::default());
        e.channels = s.clone().map(|_| Channels::default());
        e.coalesce = s.clone().map(|_| Coalesce::default());
        e.features = s.clone().map(|_| Features::default());
        e.link = s.map(|_| LinkInfo::default());
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
}

/// Fill the netlink parts of every device, with one runtime and one netlink socket.
pub(crate) fn read_into(devs: &mut [(String, Ethtool)]) {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let msg = format!("cannot start the netlink runtime: {e}");
            return set_all(devs, || Source::error(msg.clone()));
        }
    };
    rt.block_on(async {
        let (conn, handle, _) = match ethtool::new_connection() {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("cannot open a generic netlink socket: {e}");
                return set_all(devs, || Source::error(msg.clone()));
            }
        };
        tokio::spawn(conn);
        if let Err(e) = handle.handle.resolve_family::<RawEthtool>().await {
            let msg = format!(
                "the kernel has no ethtool netlink family (needs Linux 5.6+ with \
                 CONFIG_ETHTOOL_NETLINK): {e}"
            );
            return set_all(devs, || Source::unsupported(msg.clone()));
        }
        // Every request of every device in flight at once: one socket, fewer wake-ups.
        let replies = futures::future::join_all(devs.iter().map(|(name, _)| {
            let h = &handle;
            async move {
                futures::join!(
                    rings(h.clone(), name),
                    channels(h.clone(), name),
                    coalesce(h.clone(), name),
                    features(h.clone(), name),
                    link(h.clone(), name),
                )
            }
        }))
        .await;
        for ((name, e), (r, c, co, f, l)) in devs.iter_mut().zip(replies) {
            let driver = e.driver.ok().map(|d| d.driver.as_str());
            e.rings = to_source("ring parameters", name, driver, r);
            e.channels = to_source("channel parameters", name, driver, c);
            e.coalesce = to_source("coalescing parameters", name, driver, co);
            e.features = to_source("offload features", name, driver, f);
            e.link = to_source("link modes", name, driver, l);
        }
    });
}

/// Check that the ethtool netlink family exists.
pub(crate) fn probe() -> Result<(), String> {
    let rt = runtime().map_err(|e| format!("cannot start the netlink runtime: {e}"))?;
    rt.block_on(async {
        let (conn, handle, _) = ethtool::new_connection()
            .map_err(|e| format!("cannot open a generic netlink socket: {e}"))?;
        tokio::spawn(conn);
        handle
            .handle
            .resolve_family::<RawEthtool>()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "the kernel has no ethtool netlink family (needs Linux 5.6+ with \
                     CONFIG_ETHTOOL_NETLINK): {e}"
                )
            })
    })
}

/// Send one SET message (attributes already encoded) and wait for the kernel's ACK.
pub(crate) fn send_set(cmd: u8, attrs: Vec<u8>) -> Result<(), NlError> {
    let rt = runtime().map_err(|e| NlError::Other(format!("runtime: {e}")))?;
    rt.block_on(async {
        let (conn, mut handle, _) =
            ethtool::new_connection().map_err(|e| NlError::Other(e.to_string()))?;
        tokio::spawn(conn);
        raw_request(&mut handle, cmd, attrs, true).await.map(|_| ())
    })
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

    proptest::proptest! {
        #[test]
        fn reply_parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_features(&bytes);
            let _ = parse_linkmodes(&bytes);
        }
    }
}
