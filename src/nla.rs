//! The one netlink attribute (NLA) writer and walker of nettune: the ethtool messages the
//! `ethtool` crate does not build or parse (features, link modes, every SET message; read in
//! `collect::ethtool`, sent by `tune::ethtool_set`) and the lab's rtnetlink and nftables
//! requests (`lab::env`).
//!
//! Layout (linux/netlink.h): `struct nlattr { u16 nla_len; u16 nla_type; }` followed by the
//! payload; `nla_len` counts header + payload; each attribute is padded to 4 bytes.

/// `NLA_F_NESTED`.
pub(crate) const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_TYPE_MASK`: the type without the NESTED / NET_BYTEORDER flags.
const NLA_TYPE_MASK: u16 = !((1 << 15) | (1 << 14));

/// Appends attributes to a byte buffer (native endian, 4-byte aligned).
#[derive(Debug, Default, Clone)]
pub(crate) struct NlaWriter {
    pub(crate) buf: Vec<u8>,
}

impl NlaWriter {
    fn header(&mut self, kind: u16, payload_len: usize) {
        let len = (4 + payload_len).min(u16::MAX as usize) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// A u32 attribute.
    pub(crate) fn u32(&mut self, kind: u16, v: u32) {
        self.header(kind, 4);
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    /// A u8 attribute (padded to 4 bytes).
    pub(crate) fn u8(&mut self, kind: u16, v: u8) {
        self.header(kind, 1);
        self.buf.push(v);
        self.pad();
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn string(&mut self, kind: u16, s: &str) {
        self.header(kind, s.len() + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Raw bytes that are not an attribute (a fixed struct such as `ifinfomsg` inside a
    /// nest), padded to 4 bytes.
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        self.pad();
    }

    /// A big-endian u32 attribute (nftables' numbers).
    pub(crate) fn be32(&mut self, kind: u16, v: u32) {
        self.header(kind, 4);
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A binary attribute (padded to 4 bytes).
    pub(crate) fn bytes(&mut self, kind: u16, b: &[u8]) {
        self.header(kind, b.len());
        self.buf.extend_from_slice(b);
        self.pad();
    }

    /// A flag attribute (no payload).
    pub(crate) fn flag(&mut self, kind: u16) {
        self.header(kind, 0);
    }

    /// A nested attribute whose contents `f` writes.
    pub(crate) fn nest(&mut self, kind: u16, f: impl FnOnce(&mut NlaWriter)) {
        let start = self.buf.len();
        self.header(kind | NLA_F_NESTED, 0);
        f(self);
        let len = (self.buf.len() - start).min(u16::MAX as usize) as u16;
        if let Some(d) = self.buf.get_mut(start..start + 2) {
            d.copy_from_slice(&len.to_ne_bytes());
        }
    }

    /// The ethtool request header nest (`ETHTOOL_A_*_HEADER`, always type 1): device name
    /// and, when non-zero, `ETHTOOL_A_HEADER_FLAGS`.
    pub(crate) fn ethtool_header(&mut self, ifname: &str, flags: u32) {
        self.nest(1, |w| {
            w.string(2, ifname); // ETHTOOL_A_HEADER_DEV_NAME
            if flags != 0 {
                w.u32(3, flags); // ETHTOOL_A_HEADER_FLAGS
            }
        });
    }
}

/// Walk the attributes in `buf`: yields (type without flags, payload). Stops at the first
/// malformed attribute; never panics.
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = u16::from_ne_bytes([*rest.first()?, *rest.get(1)?]) as usize;
        let kind = u16::from_ne_bytes([*rest.get(2)?, *rest.get(3)?]);
        if len < 4 || len > rest.len() {
            return None;
        }
        let payload = rest.get(4..len)?;
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or(&[]);
        Some((kind & NLA_TYPE_MASK, payload))
    })
}

/// A u32 payload.
pub(crate) fn as_u32(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

/// A u8 payload.
pub(crate) fn as_u8(p: &[u8]) -> Option<u8> {
    p.first().copied()
}

/// A NUL-terminated string payload.
pub(crate) fn as_str(p: &[u8]) -> Option<&str> {
    let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
    std::str::from_utf8(p.get(..end)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_walker_round_trip() {
        let mut w = NlaWriter::default();
        w.ethtool_header("eth0", 2);
        w.u32(6, 4096);
        w.u8(11, 1);
        let got: Vec<(u16, Vec<u8>)> = attrs(&w.buf).map(|(k, p)| (k, p.to_vec())).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, 1);
        let hdr: Vec<(u16, &[u8])> = attrs(&got[0].1).collect();
        assert_eq!(as_str(hdr[0].1), Some("eth0"));
        assert_eq!(as_u32(hdr[1].1), Some(2));
        assert_eq!((got[1].0, as_u32(&got[1].1)), (6, Some(4096)));
        assert_eq!((got[2].0, as_u8(&got[2].1)), (11, Some(1)));
    }

    #[test]
    fn walker_never_panics_on_garbage() {
        for bytes in [
            &[][..],
            &[1],
            &[8, 0, 1, 0],
            &[3, 0, 1, 0, 9],
            &[255, 255, 0, 0],
        ] {
            let _ = attrs(bytes).count();
        }
        let mut w = NlaWriter::default();
        w.u32(2, 7);
        for cut in 0..w.buf.len() {
            let _ = attrs(&w.buf[..cut]).count();
        }
    }
}
