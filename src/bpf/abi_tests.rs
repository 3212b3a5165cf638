//! The ABI between the Rust side and the committed eBPF objects: every map's key and value
//! type as the Rust code reads and writes it (`#[repr(C)]` structs used with aya maps) has the
//! size, the field names and the field offsets that the object's BTF records for the C type
//! (`__type(key, ...)` / `__type(value, ...)` in `*.bpf.c`). A field added, removed, renamed,
//! resized or moved on one side only fails here, before a kernel would misread the bytes.
//! Needs no privilege: it only parses the committed objects.
//!
//! aya-obj parses the objects and names each map's key and value BTF type id; its BTF type
//! table is not public, so the raw BTF (`Btf::to_bytes`) is walked here with a small reader
//! of the kernel's BTF format (`Documentation/bpf/btf.rst`).

use super::drops::{DropKey, Pending};
use super::{DROPS_OBJ, XDP_OBJ};
use aya::maps::lpm_trie::Key;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};

/// One field of a Rust map key or value type, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    offset: usize,
    size: usize,
}

/// A Rust map key or value type: a scalar (no fields) or a struct.
#[derive(Debug, Clone)]
struct Layout {
    rust: &'static str,
    size: usize,
    fields: Vec<Field>,
}

/// The size of the field `f` selects (a function so the field's type is inferred).
fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// `layout!(u64)` for a scalar, `layout!(DropKey { location, reason, pad })` for a struct:
/// every field listed, in declaration order, with its offset and size from the compiler.
macro_rules! layout {
    ($t:ty) => {
        Layout {
            rust: stringify!($t),
            size: size_of::<$t>(),
            fields: Vec::new(),
        }
    };
    ($t:ty { $($f:ident),+ $(,)? }) => {
        Layout {
            rust: stringify!($t),
            size: size_of::<$t>(),
            fields: vec![$(Field {
                name: stringify!($f).to_string(),
                offset: offset_of!($t, $f),
                size: field_size(|s: &$t| &s.$f),
            }),+],
        }
    };
}

/// aya's LPM trie key: `#[repr(C, packed)] struct Key<K> { prefix_len: u32, data: K }`; its
/// fields are private, so the offsets are the packed layout's, named as the C struct names
/// them (`struct lpm_v4 { __u32 prefixlen; __u8 addr[4]; }`).
fn lpm_key<K>() -> Layout {
    Layout {
        rust: std::any::type_name::<Key<K>>(),
        size: size_of::<Key<K>>(),
        fields: vec![
            Field {
                name: "prefixlen".into(),
                offset: 0,
                size: size_of::<u32>(),
            },
            Field {
                name: "addr".into(),
                offset: size_of::<u32>(),
                size: size_of::<K>(),
            },
        ],
    }
}

/// What the Rust code uses for each map of an object: map name → (key, value). A map the
/// Rust side never opens is listed in `unused` instead, so a new map cannot go unchecked.
/// `globals` are the `volatile const` variables the loader overrides (`override_global`),
/// with the size of the Rust value it passes; every variable of the object's data sections
/// (`.rodata`, `.data`, `.bss`) must be listed.
struct Expected {
    object: &'static str,
    bytes: &'static [u8],
    maps: Vec<(&'static str, Layout, Layout)>,
    unused: &'static [&'static str],
    globals: Vec<(&'static str, usize)>,
}

/// The Rust side of every map, as `drops.rs` and `xdp.rs` open them.
fn expected() -> Vec<Expected> {
    vec![
        Expected {
            object: "drops.bpf.o",
            bytes: DROPS_OBJ,
            maps: vec![
                // PerCpuHashMap<_, DropKey, u64>
                (
                    "DROPS",
                    layout!(DropKey {
                        location,
                        reason,
                        pad
                    }),
                    layout!(u64),
                ),
                // PerCpuArray<_, u64>
                ("DROPS_LOST", layout!(u32), layout!(u64)),
                // PerCpuArray<_, Pending>
                ("PENDING", layout!(u32), layout!(Pending { key, count })),
                // PerCpuArray<_, u64>
                ("WATCHED", layout!(u32), layout!(u64)),
            ],
            // WAKE_LAST is kernel-only; WAKE is a ring buffer (no key or value type) whose
            // records `WakeNotices` drains without reading them.
            unused: &["WAKE", "WAKE_LAST"],
            // `skip`, `inum` and `codes[..]` in DropMonitor::start_watching, all u32.
            globals: vec![
                ("SKIP_REASON", size_of::<u32>()),
                ("NETNS_INUM", size_of::<u32>()),
                ("WATCH_A", size_of::<u32>()),
                ("WATCH_B", size_of::<u32>()),
                ("WATCH_C", size_of::<u32>()),
            ],
        },
        Expected {
            object: "xdp_filter.bpf.o",
            bytes: XDP_OBJ,
            maps: vec![
                // LpmTrie<_, [u8; 4], u32> and LpmTrie<_, [u8; 16], u32>
                ("DENY4", lpm_key::<[u8; 4]>(), layout!(u32)),
                ("DENY6", lpm_key::<[u8; 16]>(), layout!(u32)),
                // PerCpuArray<_, u64>
                ("RULE_DROPS", layout!(u32), layout!(u64)),
                ("COUNTERS", layout!(u32), layout!(u64)),
                // Array<_, u64>
                ("CONFIG", layout!(u32), layout!(u64)),
            ],
            // Kernel-only token buckets: never read or written from Rust.
            unused: &["SYN_BUCKETS"],
            globals: Vec::new(),
        },
    ]
}

// ---- a reader of raw BTF ------------------------------------------------------------------

const BTF_MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A struct or union member: name, type id, bit offset, bitfield size (0: not a bitfield).
#[derive(Debug, Clone)]
struct Member {
    name: String,
    ty: u32,
    bit_offset: u32,
    bitfield_size: u32,
}

/// One BTF type: kind, name, `size_or_type`, and what follows it that matters here.
#[derive(Debug, Clone)]
struct Type {
    kind: u32,
    name: String,
    size_or_type: u32,
    members: Vec<Member>,
    /// ARRAY: (element type, element count).
    array: Option<(u32, u32)>,
    /// DATASEC: (VAR type id, size in bytes) of each variable.
    vars: Vec<(u32, u32)>,
}

/// Every type of a BTF blob by id (id 0, `void`, is not stored).
struct Types(BTreeMap<u32, Type>);

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes(b[off..off + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

impl Types {
    /// Parse the raw BTF aya-obj re-serialises (host byte order, as it keeps it in memory).
    fn parse(btf: &[u8]) -> Types {
        assert_eq!(u16_at(btf, 0), BTF_MAGIC, "BTF magic");
        let hdr_len = u32_at(btf, 4) as usize;
        let (type_off, type_len) = (u32_at(btf, 8) as usize, u32_at(btf, 12) as usize);
        let (str_off, str_len) = (u32_at(btf, 16) as usize, u32_at(btf, 20) as usize);
        let types = &btf[hdr_len + type_off..hdr_len + type_off + type_len];
        let strings = &btf[hdr_len + str_off..hdr_len + str_off + str_len];
        let name = |off: u32| -> String {
            let s = &strings[off as usize..];
            let end = s.iter().position(|&c| c == 0).expect("NUL-terminated name");
            String::from_utf8_lossy(&s[..end]).into_owned()
        };
        let mut out = BTreeMap::new();
        let (mut off, mut id) = (0usize, 1u32);
        while off < types.len() {
            let info = u32_at(types, off + 4);
            let (kind, vlen, kind_flag) = ((info >> 24) & 0x1f, info & 0xffff, info >> 31 == 1);
            let mut t = Type {
                kind,
                name: name(u32_at(types, off)),
                size_or_type: u32_at(types, off + 8),
                members: Vec::new(),
                array: None,
                vars: Vec::new(),
            };
            off += 12;
            let vlen = vlen as usize;
            off += match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => {
                    t.array = Some((u32_at(types, off), u32_at(types, off + 8)));
                    12
                }
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let m = off + 12 * i;
                        let raw = u32_at(types, m + 8);
                        t.members.push(Member {
                            name: name(u32_at(types, m)),
                            ty: u32_at(types, m + 4),
                            bit_offset: if kind_flag { raw & 0xff_ffff } else { raw },
                            bitfield_size: if kind_flag { raw >> 24 } else { 0 },
                        });
                    }
                    12 * vlen
                }
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                KIND_DATASEC => {
                    for i in 0..vlen {
                        let v = off + 12 * i;
                        t.vars.push((u32_at(types, v), u32_at(types, v + 8)));
                    }
                    12 * vlen
                }
                KIND_ENUM64 => 12 * vlen,
                // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
                _ => 0,
            };
            out.insert(id, t);
            id += 1;
        }
        assert_eq!(off, types.len(), "BTF type section ends on a type boundary");
        Types(out)
    }

    fn get(&self, id: u32) -> &Type {
        self.0
            .get(&id)
            .unwrap_or_else(|| panic!("BTF type id {id}"))
    }

    /// (name, size) of every variable in the data section `section` (`.rodata`, ...).
    fn section_vars(&self, section: &str) -> Vec<(String, usize)> {
        self.0
            .values()
            .filter(|t| t.kind == KIND_DATASEC && t.name == section)
            .flat_map(|t| &t.vars)
            .map(|&(var, size)| (self.get(var).name.clone(), size as usize))
            .collect()
    }

    /// The type behind typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> u32 {
        while matches!(
            self.get(id).kind,
            KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
        ) {
            id = self.get(id).size_or_type;
        }
        id
    }

    /// Size in bytes of a (sized) type.
    fn size(&self, id: u32) -> usize {
        let t = self.get(self.resolve(id));
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 => {
                t.size_or_type as usize
            }
            KIND_PTR => 8,
            KIND_ARRAY => {
                let (elem, n) = t.array.expect("array data");
                self.size(elem) * n as usize
            }
            k => panic!("BTF kind {k} ({}) has no size", t.name),
        }
    }

    /// The type as a [`Layout`] to compare: a struct's members with byte offsets, or a
    /// scalar's size.
    fn layout(&self, id: u32) -> (String, Layout) {
        let rid = self.resolve(id);
        let t = self.get(rid);
        let fields = match t.kind {
            KIND_STRUCT => t
                .members
                .iter()
                .map(|m| {
                    assert!(
                        m.bit_offset % 8 == 0 && m.bitfield_size == 0,
                        "{}.{} is a bitfield: no Rust layout matches it",
                        t.name,
                        m.name
                    );
                    Field {
                        name: m.name.clone(),
                        offset: (m.bit_offset / 8) as usize,
                        size: self.size(m.ty),
                    }
                })
                .collect(),
            KIND_INT | KIND_ENUM | KIND_ENUM64 => Vec::new(),
            k => panic!("map key/value of BTF kind {k} ({}) is not compared", t.name),
        };
        let what = match t.kind {
            KIND_STRUCT => format!("struct {}", t.name),
            _ => t.name.clone(),
        };
        (
            what,
            Layout {
                rust: "",
                size: self.size(rid),
                fields,
            },
        )
    }
}

/// Differences between the Rust layout and the BTF one (empty when they match).
fn compare(map: &str, side: &str, rust: &Layout, btf_name: &str, btf: &Layout) -> Vec<String> {
    let at = format!("{map} {side}: Rust {} vs BTF {btf_name}", rust.rust);
    let mut out = Vec::new();
    if rust.size != btf.size {
        out.push(format!("{at}: size {} vs {}", rust.size, btf.size));
    }
    if rust.fields.is_empty() != btf.fields.is_empty() {
        out.push(format!("{at}: one side is a struct, the other a scalar"));
    }
    if rust.fields.len() != btf.fields.len() {
        out.push(format!(
            "{at}: {} fields {:?} vs {} members {:?}",
            rust.fields.len(),
            rust.fields.iter().map(|f| &f.name).collect::<Vec<_>>(),
            btf.fields.len(),
            btf.fields.iter().map(|f| &f.name).collect::<Vec<_>>()
        ));
    }
    for (r, b) in rust.fields.iter().zip(&btf.fields) {
        if r != b {
            out.push(format!(
                "{at}: field {} at {} ({} bytes) vs member {} at {} ({} bytes)",
                r.name, r.offset, r.size, b.name, b.offset, b.size
            ));
        }
    }
    out
}

/// Every difference between the Rust map types and the BTF of the committed objects.
fn abi_differences(expected: &[Expected]) -> Vec<String> {
    let mut out = Vec::new();
    for e in expected {
        let obj = aya_obj::Object::parse(e.bytes)
            .unwrap_or_else(|err| panic!("{} parses: {err}", e.object));
        let btf = obj
            .btf
            .as_ref()
            .unwrap_or_else(|| panic!("{} carries BTF", e.object));
        let types = Types::parse(&btf.to_bytes());
        let mut listed: Vec<&str> = e.maps.iter().map(|(name, _, _)| *name).collect();
        listed.extend(e.unused);
        let mut globals = Vec::new();
        for name in obj.maps.keys() {
            if name.starts_with('.') {
                // A data section (globals), checked by variable below.
                globals.extend(types.section_vars(name));
            } else if !listed.contains(&name.as_str()) {
                out.push(format!(
                    "{}: map {name} has no Rust layout in this test (list it, or as unused)",
                    e.object
                ));
            }
        }
        globals.sort();
        let mut want: Vec<(String, usize)> =
            e.globals.iter().map(|&(n, s)| (n.to_string(), s)).collect();
        want.sort();
        if globals != want {
            out.push(format!(
                "{}: globals (name, bytes) in BTF {globals:?} vs Rust {want:?}",
                e.object
            ));
        }
        for (name, key, value) in &e.maps {
            let Some(aya_obj::maps::Map::Btf(map)) = obj.maps.get(*name) else {
                out.push(format!("{}: no BTF-defined map {name}", e.object));
                continue;
            };
            for (side, rust, id, size) in [
                (
                    "key",
                    key,
                    map.def.btf_key_type_id,
                    obj.maps[*name].key_size(),
                ),
                (
                    "value",
                    value,
                    map.def.btf_value_type_id,
                    obj.maps[*name].value_size(),
                ),
            ] {
                assert_ne!(
                    id, 0,
                    "{name} {side}: no BTF type (`__type(...)`) in the object"
                );
                let (btf_name, btf) = types.layout(id);
                // The reader agrees with aya-obj on the size it will create the map with.
                assert_eq!(btf.size, size as usize, "{name} {side} size per aya-obj");
                out.extend(compare(name, side, rust, &btf_name, &btf));
            }
        }
    }
    out
}

#[test]
fn map_layouts_match_the_committed_objects_btf() {
    let diffs = abi_differences(&expected());
    assert!(
        diffs.is_empty(),
        "Rust/BPF map ABI mismatch:\n{}",
        diffs.join("\n")
    );
}

/// The check can fail: a field added, moved or renamed on the Rust side only, and a map the
/// test does not list, are each reported.
#[test]
fn a_one_sided_change_is_reported() {
    let base = expected();
    let drops = |e: &[Expected]| {
        vec![Expected {
            object: e[0].object,
            bytes: e[0].bytes,
            maps: e[0].maps.clone(),
            unused: e[0].unused,
            globals: e[0].globals.clone(),
        }]
    };

    // A field appended on the Rust side only (DropKey grown by 8 bytes).
    let mut grown = drops(&base);
    let key = &mut grown[0].maps[0].1;
    key.fields.push(Field {
        name: "extra".into(),
        offset: 16,
        size: 8,
    });
    key.size += 8;
    let d = abi_differences(&grown);
    assert!(d.iter().any(|l| l.contains("size 24 vs 16")), "{d:#?}");
    assert!(d.iter().any(|l| l.contains("3 members")), "{d:#?}");

    // Two fields swapped (same size, different offsets).
    let mut swapped = drops(&base);
    swapped[0].maps[0].1.fields.swap(1, 2);
    let d = abi_differences(&swapped);
    assert!(d.iter().any(|l| l.contains("field pad at")), "{d:#?}");

    // A map the test does not describe.
    let mut missing = drops(&base);
    missing[0].maps.retain(|(n, _, _)| *n != "PENDING");
    let d = abi_differences(&missing);
    assert!(
        d.iter()
            .any(|l| l.contains("map PENDING has no Rust layout")),
        "{d:#?}"
    );

    // A global the loader would set with a value of another size.
    let mut global = drops(&base);
    global[0].globals[0].1 = size_of::<u64>();
    let d = abi_differences(&global);
    assert!(d.iter().any(|l| l.contains("globals")), "{d:#?}");
}
