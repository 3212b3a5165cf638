//! Names for what the drop monitor counts, read from the running kernel, never from a table:
//! drop reason names from `enum skb_drop_reason` in the kernel's BTF (or from the
//! `__print_symbolic` table of the tracepoint's format file), and code locations from
//! `/proc/kallsyms` as `function+0xoff`.

use std::collections::BTreeMap;
use std::path::Path;

/// The name of every `enum skb_drop_reason` value this kernel knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonNames {
    /// Value → name without the `SKB_DROP_REASON_` / `SKB_` prefix (`NO_SOCKET`, `CONSUMED`).
    pub names: BTreeMap<u32, String>,
    /// The value of `SKB_CONSUMED` (a free that is not a drop), when the source names it.
    pub consumed: Option<u32>,
}

impl ReasonNames {
    /// The name of `value`, or `UNKNOWN(value)`.
    pub fn name(&self, value: u32) -> String {
        match self.names.get(&value) {
            Some(n) => n.clone(),
            None => format!("UNKNOWN({value})"),
        }
    }

    /// Record `value`; BTF names carry the C prefix (`prefixed`), format-file names do not.
    fn insert(&mut self, value: u32, raw: &str, prefixed: bool) {
        let short = if prefixed {
            raw.strip_prefix("SKB_DROP_REASON_")
                .or_else(|| raw.strip_prefix("SKB_"))
                .unwrap_or(raw)
        } else {
            raw
        };
        if short == "CONSUMED" {
            self.consumed = Some(value);
        }
        self.names.entry(value).or_insert_with(|| short.to_string());
    }

    /// Read the names from a kernel BTF file (`/sys/kernel/btf/vmlinux`).
    pub fn from_btf_file(path: &Path) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_btf(&data)
            .ok_or_else(|| format!("{}: no enum skb_drop_reason in this BTF", path.display()))
    }

    /// Read the names from raw BTF bytes; `None` when the data is not BTF or lacks the enum.
    pub fn from_btf(data: &[u8]) -> Option<Self> {
        let values = btf_enum(data, "skb_drop_reason")?;
        let mut out = ReasonNames::default();
        for (value, name) in values {
            if let Ok(v) = u32::try_from(value) {
                out.insert(v, name, true);
            }
        }
        (!out.names.is_empty()).then_some(out)
    }

    /// Read the names from the `print fmt` line of
    /// `/sys/kernel/tracing/events/skb/kfree_skb/format`
    /// (`__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, ...)`). Malformed entries are
    /// skipped; `None` when there is no reason table at all.
    pub fn from_format(text: &str) -> Option<Self> {
        let start = text.find("__print_symbolic(REC->reason")?;
        let mut rest = text.get(start..)?;
        let mut out = ReasonNames::default();
        while let Some(open) = rest.find('{') {
            let after = rest.get(open + 1..)?;
            let Some(close) = after.find('}') else { break };
            let entry = after.get(..close)?;
            rest = after.get(close + 1..)?;
            let Some((num, name)) = entry.split_once(',') else {
                continue;
            };
            let name = name.trim().trim_matches('"');
            if let Ok(v) = parse_c_int(num.trim()) {
                if !name.is_empty() {
                    out.insert(v, name, false);
                }
            }
            // The table ends at the closing parenthesis of __print_symbolic.
            if rest.trim_start().starts_with(')') {
                break;
            }
        }
        (!out.names.is_empty()).then_some(out)
    }
}

fn parse_c_int(s: &str) -> Result<u32, std::num::ParseIntError> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    }
}

/// Little reader over BTF bytes of either endianness; every access is bounds-checked.
struct Reader<'a> {
    data: &'a [u8],
    big: bool,
}

impl<'a> Reader<'a> {
    fn u32(&self, off: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(off..off.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn cstr(&self, off: usize) -> Option<&'a str> {
        let tail = self.data.get(off..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(tail.get(..end)?).ok()
    }
}

/// The enumerators `(value, name)` of the enum called `name` in raw BTF, or `None`.
fn btf_enum<'a>(data: &'a [u8], name: &str) -> Option<Vec<(i64, &'a str)>> {
    let magic = data.get(..2)?;
    let big = match magic {
        [0x9f, 0xeb] => false,
        [0xeb, 0x9f] => true,
        _ => return None,
    };
    let r = Reader { data, big };
    let hdr_len = r.u32(4)? as usize;
    let type_off = r.u32(8)? as usize;
    let type_len = r.u32(12)? as usize;
    let str_off = r.u32(16)? as usize;
    let types_start = hdr_len.checked_add(type_off)?;
    let types_end = types_start.checked_add(type_len)?.min(data.len());
    let strings = hdr_len.checked_add(str_off)?;
    let mut pos = types_start;
    while pos.checked_add(12)? <= types_end {
        let name_off = r.u32(pos)? as usize;
        let info = r.u32(pos + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let body = pos + 12;
        let extra = match kind {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => vlen * 12,
            6 | 13 => vlen * 8,
            _ => 0,
        };
        if (kind == 6 || kind == 19) && r.cstr(strings + name_off) == Some(name) {
            let signed = info & (1 << 31) != 0;
            let step = if kind == 6 { 8 } else { 12 };
            let mut out = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let m = body + i * step;
                let Some(n) = r.cstr(strings + r.u32(m)? as usize) else {
                    continue;
                };
                let lo = r.u32(m + 4)?;
                let value = if kind == 6 {
                    if signed {
                        i64::from(lo as i32)
                    } else {
                        i64::from(lo)
                    }
                } else {
                    let hi = r.u32(m + 8)?;
                    ((u64::from(hi) << 32) | u64::from(lo)) as i64
                };
                out.push((value, n));
            }
            return Some(out);
        }
        pos = body.checked_add(extra)?;
    }
    None
}

/// Resolve kernel text addresses to `function+0xoff` (or `function+0xoff [module]`) from
/// the text of `/proc/kallsyms`. Returns one entry per address, `None` where nothing
/// precedes it or where kallsyms hides addresses (all zero when not root).
pub fn symbolize(kallsyms: &str, addrs: &[u64]) -> Vec<Option<String>> {
    // For each wanted address: (symbol address, line slice) of the closest symbol at or below.
    let mut best: Vec<Option<(u64, &str, Option<&str>)>> = vec![None; addrs.len()];
    for line in kallsyms.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "w" | "W") {
            continue;
        }
        let Ok(a) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        if a == 0 {
            continue;
        }
        let module = f
            .next()
            .map(|m| m.trim_start_matches('[').trim_end_matches(']'));
        for (slot, &want) in best.iter_mut().zip(addrs) {
            if a <= want && slot.is_none_or(|(b, _, _)| a > b) {
                *slot = Some((a, name, module));
            }
        }
    }
    best.into_iter()
        .zip(addrs)
        .map(|(b, &want)| {
            b.map(|(a, name, module)| match module {
                Some(m) => format!("{name}+{:#x} [{m}]", want - a),
                None => format!("{name}+{:#x}", want - a),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FORMAT: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vm/sys/kernel/tracing/events/skb/kfree_skb/format"
    ));

    #[test]
    fn names_from_captured_format_file() {
        let n = ReasonNames::from_format(FORMAT).unwrap();
        // Captured on the 6.18 VM: 127 entries, 2..=128, CONSUMED not listed.
        assert_eq!(n.names.len(), 127);
        assert_eq!(n.name(2), "NOT_SPECIFIED");
        assert_eq!(n.name(3), "NO_SOCKET");
        assert_eq!(n.name(6), "SOCKET_RCVBUFF");
        assert_eq!(n.name(12), "NETFILTER_DROP");
        assert_eq!(n.name(1), "UNKNOWN(1)");
        assert_eq!(n.consumed, None);
        let overflow = n.names.iter().find(|(_, v)| *v == "TCP_LISTEN_OVERFLOW");
        assert!(overflow.is_some());
    }

    #[test]
    fn format_edge_cases() {
        assert_eq!(ReasonNames::from_format(""), None);
        assert_eq!(ReasonNames::from_format("print fmt: \"x\""), None);
        let n = ReasonNames::from_format(
            "__print_symbolic(REC->reason, { 0x1, \"CONSUMED\" }, { x, \"BAD\" }, { 3, \"NO_SOCKET\" }), { 9, \"AFTER\" }",
        )
        .unwrap();
        assert_eq!(n.consumed, Some(1));
        assert_eq!(n.names.len(), 2);
        assert_eq!(n.name(3), "NO_SOCKET");
    }

    /// A minimal BTF blob: header + one INT + one ENUM `skb_drop_reason`.
    fn tiny_btf() -> Vec<u8> {
        let strings = b"\0int\0skb_drop_reason\0SKB_CONSUMED\0SKB_DROP_REASON_NO_SOCKET\0";
        let mut types = Vec::new();
        let push = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
        // INT "int": name_off 1, kind 1, size 4, + 4 bytes
        push(&mut types, 1);
        push(&mut types, 1 << 24);
        push(&mut types, 4);
        push(&mut types, 32);
        // ENUM name_off 5, kind 6, vlen 2, size 4
        push(&mut types, 5);
        push(&mut types, (6 << 24) | 2);
        push(&mut types, 4);
        push(&mut types, 21);
        push(&mut types, 1);
        push(&mut types, 34);
        push(&mut types, 3);
        let mut out = vec![0x9f, 0xeb, 1, 0];
        push(&mut out, 24);
        push(&mut out, 0);
        push(&mut out, types.len() as u32);
        push(&mut out, types.len() as u32);
        push(&mut out, strings.len() as u32);
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn names_from_btf() {
        let n = ReasonNames::from_btf(&tiny_btf()).unwrap();
        assert_eq!(n.consumed, Some(1));
        assert_eq!(n.name(1), "CONSUMED");
        assert_eq!(n.name(3), "NO_SOCKET");
        assert_eq!(ReasonNames::from_btf(b"garbage"), None);
    }

    #[test]
    fn names_from_live_btf_when_present() {
        let p = Path::new(super::super::VMLINUX_BTF);
        if !crate::testing::require(super::super::VMLINUX_BTF, p.exists()) {
            return;
        }
        let n = ReasonNames::from_btf_file(p).unwrap();
        assert_eq!(n.name(3), "NO_SOCKET");
        assert_eq!(n.consumed, Some(1));
        // Whatever the format file says must agree with BTF.
        if let Ok(text) = std::fs::read_to_string("/sys/kernel/tracing/events/skb/kfree_skb/format")
        {
            let f = ReasonNames::from_format(&text).unwrap();
            for (v, name) in &f.names {
                assert_eq!(&n.name(*v), name);
            }
        }
    }

    #[test]
    fn kallsyms() {
        let text = "0000000000000000 T zero\n\
                    ffffffff81000000 T _stext\n\
                    ffffffff81a00000 t __udp4_lib_rcv\n\
                    ffffffff81a00800 D some_data\n\
                    ffffffff81a01000 T udp_rcv\n\
                    ffffffffc0000100 t nft_do_chain\t[nf_tables]\n\
                    garbage\n";
        let s = symbolize(
            text,
            &[
                0xffffffff81a005d2,
                0xffffffff81a01000,
                0x10,
                0xffffffffc0000110,
            ],
        );
        assert_eq!(s[0].as_deref(), Some("__udp4_lib_rcv+0x5d2"));
        assert_eq!(s[1].as_deref(), Some("udp_rcv+0x0"));
        assert_eq!(s[2], None);
        assert_eq!(s[3].as_deref(), Some("nft_do_chain+0x10 [nf_tables]"));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,400}", cut in 0usize..4000, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ReasonNames::from_format(&s);
            let _ = symbolize(&s, &[1, u64::MAX]);
            let t = FORMAT.get(..cut.min(FORMAT.len())).unwrap_or("");
            let _ = ReasonNames::from_format(t);
            let _ = ReasonNames::from_btf(&bytes);
            let btf = tiny_btf();
            let _ = ReasonNames::from_btf(&btf[..cut.min(btf.len())]);
        }
    }
}
