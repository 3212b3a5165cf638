//! Encoders for the ethtool netlink SET messages `tune` sends (the only ethtool writes in
//! nettune; `collect::ethtool` only reads) (the `ethtool` crate 0.3 only
//! has `CHANNELS_SET`, and no rings, coalescing or features SET): `RINGS_SET`,
//! `CHANNELS_SET`, `COALESCE_SET`, `FEATURES_SET`. Each `encode_*` returns the attribute bytes
//! (request header nest + one attribute per field that is `Some`); [`apply`] sends one on the
//! calling thread's network namespace and waits for the kernel's ACK.
//!
//! Attribute numbers are those of linux/ethtool_netlink.h (kernel UAPI); the unit tests check
//! the byte layout and, where the header is installed, the numbers against it.

use crate::collect::ethtool::{send_set, NlError, FLAG_OMIT_REPLY};
use crate::error::{Error, Result};
use crate::nla::NlaWriter;
use serde::{Deserialize, Serialize};

/// `ETHTOOL_MSG_FEATURES_SET`.
pub const MSG_FEATURES_SET: u8 = 12;
/// `ETHTOOL_MSG_RINGS_SET`.
pub const MSG_RINGS_SET: u8 = 16;
/// `ETHTOOL_MSG_CHANNELS_SET`.
pub const MSG_CHANNELS_SET: u8 = 18;
/// `ETHTOOL_MSG_COALESCE_SET`.
pub const MSG_COALESCE_SET: u8 = 20;

/// New ring sizes (descriptors); `None` leaves a ring as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingsSet {
    /// RX ring (descriptors), `ETHTOOL_A_RINGS_RX` (6).
    pub rx: Option<u32>,
    /// RX mini ring (descriptors), `ETHTOOL_A_RINGS_RX_MINI` (7).
    pub rx_mini: Option<u32>,
    /// RX jumbo ring (descriptors), `ETHTOOL_A_RINGS_RX_JUMBO` (8).
    pub rx_jumbo: Option<u32>,
    /// TX ring (descriptors), `ETHTOOL_A_RINGS_TX` (9).
    pub tx: Option<u32>,
}

/// New channel counts; `None` leaves a kind as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelsSet {
    /// `ETHTOOL_A_CHANNELS_RX_COUNT` (6).
    pub rx: Option<u32>,
    /// `ETHTOOL_A_CHANNELS_TX_COUNT` (7).
    pub tx: Option<u32>,
    /// `ETHTOOL_A_CHANNELS_OTHER_COUNT` (8).
    pub other: Option<u32>,
    /// `ETHTOOL_A_CHANNELS_COMBINED_COUNT` (9).
    pub combined: Option<u32>,
}

/// New coalescing parameters; `None` leaves a parameter as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoalesceSet {
    /// RX interrupt delay (µs), `ETHTOOL_A_COALESCE_RX_USECS` (2).
    pub rx_usecs: Option<u32>,
    /// RX frames per interrupt, `ETHTOOL_A_COALESCE_RX_MAX_FRAMES` (3).
    pub rx_max_frames: Option<u32>,
    /// TX interrupt delay (µs), `ETHTOOL_A_COALESCE_TX_USECS` (6).
    pub tx_usecs: Option<u32>,
    /// TX frames per interrupt, `ETHTOOL_A_COALESCE_TX_MAX_FRAMES` (7).
    pub tx_max_frames: Option<u32>,
    /// Adaptive RX, `ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX` (11, u8).
    pub use_adaptive_rx: Option<bool>,
    /// Adaptive TX, `ETHTOOL_A_COALESCE_USE_ADAPTIVE_TX` (12, u8).
    pub use_adaptive_tx: Option<bool>,
}

/// Features to switch, by kernel name (`rx-gro`, `tx-tcp-segmentation`, ...) → on/off.
/// Features not listed are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturesSet(pub Vec<(String, bool)>);

/// One SET request, for [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetRequest {
    /// `ethtool -G`.
    Rings(RingsSet),
    /// `ethtool -L`.
    Channels(ChannelsSet),
    /// `ethtool -C`.
    Coalesce(CoalesceSet),
    /// `ethtool -K`.
    Features(FeaturesSet),
}

fn put(w: &mut NlaWriter, kind: u16, v: Option<u32>) {
    if let Some(v) = v {
        w.u32(kind, v);
    }
}

/// Attributes of `ETHTOOL_MSG_RINGS_SET` for `ifname`.
pub fn encode_rings_set(ifname: &str, s: &RingsSet) -> Vec<u8> {
    let mut w = NlaWriter::default();
    w.ethtool_header(ifname, 0);
    put(&mut w, 6, s.rx);
    put(&mut w, 7, s.rx_mini);
    put(&mut w, 8, s.rx_jumbo);
    put(&mut w, 9, s.tx);
    w.buf
}

/// Attributes of `ETHTOOL_MSG_CHANNELS_SET` for `ifname`.
pub fn encode_channels_set(ifname: &str, s: &ChannelsSet) -> Vec<u8> {
    let mut w = NlaWriter::default();
    w.ethtool_header(ifname, 0);
    put(&mut w, 6, s.rx);
    put(&mut w, 7, s.tx);
    put(&mut w, 8, s.other);
    put(&mut w, 9, s.combined);
    w.buf
}

/// Attributes of `ETHTOOL_MSG_COALESCE_SET` for `ifname`.
pub fn encode_coalesce_set(ifname: &str, s: &CoalesceSet) -> Vec<u8> {
    let mut w = NlaWriter::default();
    w.ethtool_header(ifname, 0);
    put(&mut w, 2, s.rx_usecs);
    put(&mut w, 3, s.rx_max_frames);
    put(&mut w, 6, s.tx_usecs);
    put(&mut w, 7, s.tx_max_frames);
    if let Some(v) = s.use_adaptive_rx {
        w.u8(11, v as u8);
    }
    if let Some(v) = s.use_adaptive_tx {
        w.u8(12, v as u8);
    }
    w.buf
}

/// Attributes of `ETHTOOL_MSG_FEATURES_SET` for `ifname`: `ETHTOOL_A_FEATURES_WANTED` (3) as
/// a verbose bitset *with* mask semantics (no `NOMASK`): only the listed bits change, each
/// `BITS_BIT` carrying its `NAME` (2) and, when on, the `VALUE` flag (3) — what
/// `ethtool -K dev NAME on|off` sends. The header asks to omit the reply.
pub fn encode_features_set(ifname: &str, s: &FeaturesSet) -> Vec<u8> {
    let mut w = NlaWriter::default();
    w.ethtool_header(ifname, FLAG_OMIT_REPLY);
    w.nest(3, |w| {
        // ETHTOOL_A_FEATURES_WANTED
        w.nest(3, |w| {
            // ETHTOOL_A_BITSET_BITS
            for (name, on) in &s.0 {
                w.nest(1, |w| {
                    // ETHTOOL_A_BITSET_BITS_BIT
                    w.string(2, name); // ETHTOOL_A_BITSET_BIT_NAME
                    if *on {
                        w.flag(3); // ETHTOOL_A_BITSET_BIT_VALUE
                    }
                });
            }
        });
    });
    w.buf
}

/// The command and attribute bytes of `req` for `ifname`.
pub fn encode(ifname: &str, req: &SetRequest) -> (u8, Vec<u8>) {
    match req {
        SetRequest::Rings(s) => (MSG_RINGS_SET, encode_rings_set(ifname, s)),
        SetRequest::Channels(s) => (MSG_CHANNELS_SET, encode_channels_set(ifname, s)),
        SetRequest::Coalesce(s) => (MSG_COALESCE_SET, encode_coalesce_set(ifname, s)),
        SetRequest::Features(s) => (MSG_FEATURES_SET, encode_features_set(ifname, s)),
    }
}

/// Send `req` for `ifname` over ethtool netlink, in the calling thread's network
/// namespace, and wait for the kernel's answer. The caller reads the value back afterwards
/// (a driver may round a ring size).
pub fn apply(ifname: &str, req: &SetRequest) -> Result<()> {
    let (cmd, attrs) = encode(ifname, req);
    send_set(cmd, attrs).map_err(|e| Error::Netlink {
        what: format!("ethtool set (command {cmd}) on {ifname}"),
        detail: match e {
            NlError::Errno(n) => std::io::Error::from_raw_os_error(n).to_string(),
            NlError::Other(s) => s,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request header nest for "eth0" with no flags: len 16 (4 + 12), type 1|NESTED,
    /// then DEV_NAME len 9 type 2 "eth0\0" padded to 8.
    fn header_eth0() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&16u16.to_ne_bytes());
        v.extend_from_slice(&(1u16 | 0x8000).to_ne_bytes());
        v.extend_from_slice(&9u16.to_ne_bytes());
        v.extend_from_slice(&2u16.to_ne_bytes());
        v.extend_from_slice(b"eth0\0\0\0\0");
        v
    }

    fn u32_attr(kind: u16, val: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&8u16.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&val.to_ne_bytes());
        v
    }

    #[test]
    fn rings_set_byte_layout() {
        let got = encode_rings_set(
            "eth0",
            &RingsSet {
                rx: Some(4096),
                tx: Some(1024),
                ..Default::default()
            },
        );
        let mut want = header_eth0();
        want.extend(u32_attr(6, 4096));
        want.extend(u32_attr(9, 1024));
        assert_eq!(got, want);
    }

    #[test]
    fn channels_set_byte_layout() {
        let got = encode_channels_set(
            "eth0",
            &ChannelsSet {
                combined: Some(8),
                rx: Some(2),
                ..Default::default()
            },
        );
        let mut want = header_eth0();
        want.extend(u32_attr(6, 2));
        want.extend(u32_attr(9, 8));
        assert_eq!(got, want);
    }

    #[test]
    fn coalesce_set_byte_layout() {
        let got = encode_coalesce_set(
            "eth0",
            &CoalesceSet {
                rx_usecs: Some(64),
                rx_max_frames: Some(32),
                tx_usecs: Some(128),
                use_adaptive_rx: Some(false),
                ..Default::default()
            },
        );
        let mut want = header_eth0();
        want.extend(u32_attr(2, 64));
        want.extend(u32_attr(3, 32));
        want.extend(u32_attr(6, 128));
        // u8 attr: len 5, type 11, value 0, 3 bytes padding.
        want.extend_from_slice(&5u16.to_ne_bytes());
        want.extend_from_slice(&11u16.to_ne_bytes());
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(got, want);
    }

    #[test]
    fn features_set_byte_layout() {
        let got = encode_features_set(
            "eth0",
            &FeaturesSet(vec![("rx-gro".into(), true), ("rx-lro".into(), false)]),
        );
        let n = |v: u16| v.to_ne_bytes();
        let mut want = Vec::new();
        // header with FLAGS = OMIT_REPLY: 4 + 12 (name) + 8 (flags) = 24
        want.extend(n(24));
        want.extend(n(1 | 0x8000));
        want.extend(n(9));
        want.extend(n(2));
        want.extend_from_slice(b"eth0\0\0\0\0");
        want.extend(u32_attr(3, 2));
        // bit "rx-gro" on: BIT nest = 4 + NAME(4+7 -> 12) + VALUE(4) = 20
        // bit "rx-lro" off: 4 + 12 = 16; BITS nest = 4 + 20 + 16 = 40; WANTED = 44
        want.extend(n(44));
        want.extend(n(3 | 0x8000));
        want.extend(n(40));
        want.extend(n(3 | 0x8000));
        want.extend(n(20));
        want.extend(n(1 | 0x8000));
        want.extend(n(11));
        want.extend(n(2));
        want.extend_from_slice(b"rx-gro\0\0");
        want.extend(n(4));
        want.extend(n(3));
        want.extend(n(16));
        want.extend(n(1 | 0x8000));
        want.extend(n(11));
        want.extend(n(2));
        want.extend_from_slice(b"rx-lro\0\0");
        assert_eq!(got, want);
    }

    /// Position of `name` in the C enum that contains it, in a UAPI header.
    fn enum_value(header: &str, name: &str) -> Option<u16> {
        let mut idx: Option<u16> = None;
        for line in header.lines() {
            let t = line.trim();
            if t.starts_with("enum") {
                idx = Some(0);
                continue;
            }
            if t.starts_with('}') {
                idx = None;
                continue;
            }
            let Some(i) = idx else { continue };
            let ident: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() || ident.starts_with("__") || t.contains('=') {
                continue;
            }
            if ident == name {
                return Some(i);
            }
            idx = Some(i + 1);
        }
        None
    }

    #[test]
    fn attribute_numbers_match_installed_uapi_header() {
        let Ok(h) = std::fs::read_to_string("/usr/include/linux/ethtool_netlink.h") else {
            crate::testing::require("linux/ethtool_netlink.h (linux-libc-dev)", false);
            return;
        };
        let want: &[(&str, u16)] = &[
            ("ETHTOOL_MSG_FEATURES_SET", MSG_FEATURES_SET as u16),
            ("ETHTOOL_MSG_RINGS_SET", MSG_RINGS_SET as u16),
            ("ETHTOOL_MSG_CHANNELS_SET", MSG_CHANNELS_SET as u16),
            ("ETHTOOL_MSG_COALESCE_SET", MSG_COALESCE_SET as u16),
            ("ETHTOOL_MSG_FEATURES_GET", 11),
            ("ETHTOOL_MSG_LINKMODES_GET", 4),
            ("ETHTOOL_A_HEADER_DEV_NAME", 2),
            ("ETHTOOL_A_HEADER_FLAGS", 3),
            ("ETHTOOL_A_RINGS_RX", 6),
            ("ETHTOOL_A_RINGS_RX_MINI", 7),
            ("ETHTOOL_A_RINGS_RX_JUMBO", 8),
            ("ETHTOOL_A_RINGS_TX", 9),
            ("ETHTOOL_A_CHANNELS_RX_COUNT", 6),
            ("ETHTOOL_A_CHANNELS_TX_COUNT", 7),
            ("ETHTOOL_A_CHANNELS_OTHER_COUNT", 8),
            ("ETHTOOL_A_CHANNELS_COMBINED_COUNT", 9),
            ("ETHTOOL_A_COALESCE_RX_USECS", 2),
            ("ETHTOOL_A_COALESCE_RX_MAX_FRAMES", 3),
            ("ETHTOOL_A_COALESCE_TX_USECS", 6),
            ("ETHTOOL_A_COALESCE_TX_MAX_FRAMES", 7),
            ("ETHTOOL_A_COALESCE_USE_ADAPTIVE_RX", 11),
            ("ETHTOOL_A_COALESCE_USE_ADAPTIVE_TX", 12),
            ("ETHTOOL_A_FEATURES_HW", 2),
            ("ETHTOOL_A_FEATURES_WANTED", 3),
            ("ETHTOOL_A_FEATURES_ACTIVE", 4),
            ("ETHTOOL_A_FEATURES_NOCHANGE", 5),
            ("ETHTOOL_A_BITSET_NOMASK", 1),
            ("ETHTOOL_A_BITSET_BITS", 3),
            ("ETHTOOL_A_BITSET_BITS_BIT", 1),
            ("ETHTOOL_A_BITSET_BIT_NAME", 2),
            ("ETHTOOL_A_BITSET_BIT_VALUE", 3),
            ("ETHTOOL_A_LINKMODES_AUTONEG", 2),
            ("ETHTOOL_A_LINKMODES_SPEED", 5),
            ("ETHTOOL_A_LINKMODES_DUPLEX", 6),
        ];
        for (name, v) in want {
            assert_eq!(enum_value(&h, name), Some(*v), "{name}");
        }
    }
}
