//! The XDP early-drop filter: loads `xdp_filter.bpf.o` on an interface with IPv4/IPv6 source
//! deny lists (LPM tries) and an optional per-source SYN rate limit, and pins the link and
//! maps under `/sys/fs/bpf/nettune/IFACE/` so that `stats` and `detach` work from another
//! invocation. The pinned maps describe themselves: the deny tries hold the rules.

use super::{BpfError, XDP_OBJ};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, Map, MapData, PerCpuArray};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::EbpfLoader;
use serde::Serialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where nettune pins its XDP objects (one directory per interface).
pub const PIN_ROOT: &str = "/sys/fs/bpf/nettune";
/// The bpffs mount point.
const BPFFS: &str = "/sys/fs/bpf";
/// `BPF_FS_MAGIC` from `linux/magic.h`.
const BPF_FS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0xcafe_4a11);
/// Rules the deny tries hold (`MAX_RULES` in the C source).
pub const MAX_RULES: usize = 256;
/// Largest `--syn-rate` (SYNs per second per source; `MAX_SYN_RATE` in the C source): the
/// token bucket holds `rate * 10^9` nano-tokens, which must stay far below 2^64.
pub const MAX_SYN_RATE: u64 = 10_000_000;
/// Maps pinned beside the link.
const MAPS: [&str; 6] = [
    "DENY4",
    "DENY6",
    "RULE_DROPS",
    "COUNTERS",
    "CONFIG",
    "SYN_BUCKETS",
];

/// A source prefix to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub len: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    /// `198.18.7.0/24`, `fd00::/8`, or a bare address (a host route).
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: bad address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("invalid CIDR {s:?}: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Cidr {
            addr: mask(addr, len),
            len,
        })
    }
}

/// Clear the host bits of `addr` beyond `len`.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The directory holding the pins for `iface` in the calling thread's network namespace:
/// `/sys/fs/bpf/nettune/net<inode of the namespace>/IFACE` (interface names are per namespace).
pub fn pin_dir(iface: &str) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0);
    Path::new(PIN_ROOT).join(format!("net{ns}")).join(iface)
}

fn check_iface(iface: &str) -> Result<u32, BpfError> {
    if iface.is_empty() || iface.len() > 15 || iface.contains('/') || iface.starts_with('.') {
        return Err(BpfError::Input(format!("invalid interface name {iface:?}")));
    }
    nix::net::if_::if_nametoindex(iface)
        .map_err(|e| BpfError::Input(format!("interface {iface}: {e}")))
}

/// Mount bpffs on /sys/fs/bpf when it is not mounted yet.
fn ensure_bpffs() -> Result<(), BpfError> {
    let is_bpffs = nix::sys::statfs::statfs(BPFFS)
        .map(|s| s.filesystem_type() == BPF_FS_MAGIC)
        .unwrap_or(false);
    if !is_bpffs {
        nix::mount::mount(
            Some("bpf"),
            BPFFS,
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| BpfError::kernel(format!("mounting bpffs on {BPFFS}"), e))?;
    }
    Ok(())
}

/// How the filter was attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// In the driver (native XDP).
    Native,
    /// In the generic stack path (SKB mode), e.g. on drivers without native XDP.
    Generic,
}

fn os_error(e: &ProgramError) -> Option<i32> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        if let Some(sys) = s.downcast_ref::<aya::sys::SyscallError>() {
            return sys.io_error.raw_os_error();
        }
        src = s.source();
    }
    None
}

/// Check an attach request before anything is loaded: `syn_rate` within
/// 1..=[`MAX_SYN_RATE`] (omitted for no limit), and no deny rule covering a whole address
/// family (`0.0.0.0/0`, `::/0`: every packet, the operator's own session included) unless
/// `force`.
pub fn check_request(
    iface: &str,
    deny: &[Cidr],
    syn_rate: Option<u64>,
    force: bool,
) -> Result<(), BpfError> {
    if let Some(n) = syn_rate.filter(|n| !(1..=MAX_SYN_RATE).contains(n)) {
        return Err(BpfError::Input(format!(
            "--syn-rate {n}: give 1..={MAX_SYN_RATE} SYNs per second per source (omit it for \
             no limit)"
        )));
    }
    if let Some(all) = deny.iter().find(|c| c.len == 0) {
        if !force {
            return Err(BpfError::Input(format!(
                "--deny {all} drops every {} packet arriving on {iface}, your own session's \
                 included; add --force if that is what you want",
                if all.addr.is_ipv4() { "IPv4" } else { "IPv6" }
            )));
        }
    }
    Ok(())
}

/// Attach the filter to `iface`: drop packets from `deny` sources, and TCP SYNs beyond
/// `syn_rate` per second per source (an IPv6 source is its /64; `None`: no limit).
/// [`check_request`] runs first (`force` lets a whole-family deny rule through). Refuses when
/// nettune's filter or another XDP program is already attached. `mode` forces native or
/// generic XDP; `None` tries native first and falls back to generic.
pub fn attach(
    iface: &str,
    deny: &[Cidr],
    syn_rate: Option<u64>,
    mode: Option<AttachMode>,
    force: bool,
) -> Result<AttachMode, BpfError> {
    check_request(iface, deny, syn_rate, force)?;
    super::can_run_xdp().map_err(BpfError::Unsupported)?;
    let ifindex = check_iface(iface)?;
    if deny.len() > MAX_RULES {
        return Err(BpfError::Input(format!(
            "at most {MAX_RULES} --deny rules, got {}",
            deny.len()
        )));
    }
    ensure_bpffs()?;
    let dir = pin_dir(iface);
    if dir.join("link").exists() {
        return Err(BpfError::Input(format!(
            "nettune's XDP filter is already attached to {iface}; run `nettune xdp detach {iface}` first"
        )));
    }
    let mut ebpf = EbpfLoader::new()
        .load(XDP_OBJ)
        .map_err(|e| BpfError::kernel("loading the XDP filter", e))?;
    for (i, rule) in deny.iter().enumerate() {
        let idx = i as u32;
        match rule.addr {
            IpAddr::V4(a) => {
                let map = ebpf
                    .map_mut("DENY4")
                    .ok_or_else(|| BpfError::kernel("XDP filter", "map DENY4 missing"))?;
                let mut trie: LpmTrie<_, [u8; 4], u32> =
                    LpmTrie::try_from(map).map_err(|e| BpfError::kernel("map DENY4", e))?;
                trie.insert(&Key::new(u32::from(rule.len), a.octets()), idx, 0)
                    .map_err(|e| BpfError::kernel(format!("adding deny {rule}"), e))?;
            }
            IpAddr::V6(a) => {
                let map = ebpf
                    .map_mut("DENY6")
                    .ok_or_else(|| BpfError::kernel("XDP filter", "map DENY6 missing"))?;
                let mut trie: LpmTrie<_, [u8; 16], u32> =
                    LpmTrie::try_from(map).map_err(|e| BpfError::kernel("map DENY6", e))?;
                trie.insert(&Key::new(u32::from(rule.len), a.octets()), idx, 0)
                    .map_err(|e| BpfError::kernel(format!("adding deny {rule}"), e))?;
            }
        }
    }
    {
        let map = ebpf
            .map_mut("CONFIG")
            .ok_or_else(|| BpfError::kernel("XDP filter", "map CONFIG missing"))?;
        let mut config: Array<_, u64> =
            Array::try_from(map).map_err(|e| BpfError::kernel("map CONFIG", e))?;
        config
            .set(0, syn_rate.unwrap_or(0), 0)
            .map_err(|e| BpfError::kernel("setting the SYN rate", e))?;
    }
    let prog: &mut Xdp = ebpf
        .program_mut("xdp_filter")
        .ok_or_else(|| BpfError::kernel("XDP filter", "program xdp_filter missing"))?
        .try_into()
        .map_err(|e| BpfError::kernel("XDP filter", e))?;
    prog.load()
        .map_err(|e| BpfError::kernel("verifying the XDP filter", e))?;
    let busy = |e: &ProgramError| matches!(os_error(e), Some(libc::EBUSY) | Some(libc::EEXIST));
    let refuse = || {
        BpfError::Input(format!(
            "another XDP program is already attached to {iface}; remove it first \
             (e.g. `ip link set dev {iface} xdp off`) — nettune does not replace it"
        ))
    };
    let native = match mode {
        Some(AttachMode::Generic) => Err(None),
        _ => prog
            .attach_to_if_index(ifindex, XdpMode::Driver)
            .map_err(Some),
    };
    let (link_id, mode) = match native {
        Ok(id) => (id, AttachMode::Native),
        Err(Some(e)) if busy(&e) => return Err(refuse()),
        Err(Some(e)) if mode == Some(AttachMode::Native) => {
            return Err(BpfError::kernel(
                format!("attaching native XDP to {iface}"),
                e,
            ))
        }
        Err(_) => match prog.attach_to_if_index(ifindex, XdpMode::Skb) {
            Ok(id) => (id, AttachMode::Generic),
            Err(e) if busy(&e) => return Err(refuse()),
            Err(e) => return Err(BpfError::kernel(format!("attaching XDP to {iface}"), e)),
        },
    };
    let link = prog
        .take_link(link_id)
        .map_err(|e| BpfError::kernel("XDP link", e))?;
    let fd_link = FdLink::try_from(link).map_err(|e| {
        BpfError::kernel(
            "XDP link",
            format!("{e}: this kernel has no bpf_link for XDP, so the filter cannot be pinned"),
        )
    })?;
    std::fs::create_dir_all(&dir).map_err(|e| BpfError::kernel(format!("{}", dir.display()), e))?;
    let pinned = (|| {
        for name in MAPS {
            if let Some(m) = ebpf.map(name) {
                m.pin(dir.join(name))
                    .map_err(|e| BpfError::kernel(format!("pinning map {name}"), e))?;
            }
        }
        fd_link
            .pin(dir.join("link"))
            .map_err(|e| BpfError::kernel("pinning the XDP link", e))
    })();
    match pinned {
        Ok(_) => Ok(mode),
        Err(e) => {
            remove_pins(&dir);
            Err(e)
        }
    }
}

fn remove_pins(dir: &Path) {
    for name in MAPS.iter().chain(std::iter::once(&"link")) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(dir);
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

fn not_attached(iface: &str) -> BpfError {
    BpfError::Input(format!(
        "no nettune XDP filter on {iface} (nothing pinned in {})",
        pin_dir(iface).display()
    ))
}

/// Detach nettune's filter from `iface` and remove its pins.
pub fn detach(iface: &str) -> Result<(), BpfError> {
    super::can_run_xdp().map_err(BpfError::Unsupported)?;
    let dir = pin_dir(iface);
    let link_path = dir.join("link");
    if !link_path.exists() {
        return Err(not_attached(iface));
    }
    let link = PinnedLink::from_pin(&link_path)
        .map_err(|e| BpfError::kernel(format!("opening {}", link_path.display()), e))?;
    let fd_link = link
        .unpin()
        .map_err(|e| BpfError::kernel(format!("unpinning {}", link_path.display()), e))?;
    // Closing the last reference to the link detaches the program.
    drop(fd_link);
    remove_pins(&dir);
    Ok(())
}

/// Packets dropped by one deny rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleStats {
    /// `deny 198.18.7.0/24`, or `syn-rate 100/s`.
    pub rule: String,
    /// Packets dropped.
    pub dropped: u64,
}

/// Counters of the filter on one interface (`nettune.xdp/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XdpStats {
    /// Always `nettune.xdp/v1`.
    pub schema: &'static str,
    /// Interface.
    pub interface: String,
    /// Packets passed to the stack.
    pub passed: u64,
    /// Packets dropped (all rules and the SYN limit).
    pub dropped: u64,
    /// SYNs dropped by the rate limit.
    pub syn_limited: u64,
    /// SYNs per second allowed per source; 0 = no limit.
    pub syn_rate: u64,
    /// Per-rule drops, in rule order.
    pub rules: Vec<RuleStats>,
}

fn pinned_map(dir: &Path, name: &str) -> Result<MapData, BpfError> {
    MapData::from_pin(dir.join(name))
        .map_err(|e| BpfError::kernel(format!("opening pinned map {name}"), e))
}

fn sum(v: &aya::maps::PerCpuValues<u64>) -> u64 {
    v.iter().copied().fold(0u64, u64::saturating_add)
}

/// Read the counters of nettune's filter on `iface` from the pinned maps.
pub fn stats(iface: &str) -> Result<XdpStats, BpfError> {
    super::can_run_xdp().map_err(BpfError::Unsupported)?;
    let dir = pin_dir(iface);
    if !dir.join("link").exists() {
        return Err(not_attached(iface));
    }
    let counters: PerCpuArray<_, u64> =
        PerCpuArray::try_from(Map::PerCpuArray(pinned_map(&dir, "COUNTERS")?))
            .map_err(|e| BpfError::kernel("map COUNTERS", e))?;
    let get = |i: u32| counters.get(&i, 0).map(|v| sum(&v)).unwrap_or(0);
    let (passed, dropped, syn_limited) = (get(0), get(1), get(2));
    let config: Array<_, u64> = Array::try_from(Map::Array(pinned_map(&dir, "CONFIG")?))
        .map_err(|e| BpfError::kernel("map CONFIG", e))?;
    let syn_rate = config.get(&0, 0).unwrap_or(0);
    let rule_drops: PerCpuArray<_, u64> =
        PerCpuArray::try_from(Map::PerCpuArray(pinned_map(&dir, "RULE_DROPS")?))
            .map_err(|e| BpfError::kernel("map RULE_DROPS", e))?;
    let mut rules: Vec<(u32, Cidr)> = Vec::new();
    let deny4: LpmTrie<_, [u8; 4], u32> =
        LpmTrie::try_from(Map::LpmTrie(pinned_map(&dir, "DENY4")?))
            .map_err(|e| BpfError::kernel("map DENY4", e))?;
    for item in deny4.iter() {
        let (k, idx) = item.map_err(|e| BpfError::kernel("reading DENY4", e))?;
        let len = u8::try_from(k.prefix_len()).unwrap_or(32);
        rules.push((
            idx,
            Cidr {
                addr: IpAddr::from(k.data()),
                len,
            },
        ));
    }
    let deny6: LpmTrie<_, [u8; 16], u32> =
        LpmTrie::try_from(Map::LpmTrie(pinned_map(&dir, "DENY6")?))
            .map_err(|e| BpfError::kernel("map DENY6", e))?;
    for item in deny6.iter() {
        let (k, idx) = item.map_err(|e| BpfError::kernel("reading DENY6", e))?;
        let len = u8::try_from(k.prefix_len()).unwrap_or(128);
        rules.push((
            idx,
            Cidr {
                addr: IpAddr::from(k.data()),
                len,
            },
        ));
    }
    rules.sort_by_key(|r| r.0);
    let mut out: Vec<RuleStats> = rules
        .into_iter()
        .map(|(idx, cidr)| RuleStats {
            rule: format!("deny {cidr}"),
            dropped: rule_drops.get(&idx, 0).map(|v| sum(&v)).unwrap_or(0),
        })
        .collect();
    if syn_rate > 0 {
        out.push(RuleStats {
            rule: format!("syn-rate {syn_rate}/s"),
            dropped: syn_limited,
        });
    }
    Ok(XdpStats {
        schema: "nettune.xdp/v1",
        interface: iface.to_string(),
        passed,
        dropped,
        syn_limited,
        syn_rate,
        rules: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing() {
        let c: Cidr = "198.18.7.9/24".parse().unwrap();
        assert_eq!(c.to_string(), "198.18.7.0/24");
        let c: Cidr = "198.18.7.1".parse().unwrap();
        assert_eq!(c.to_string(), "198.18.7.1/32");
        let c: Cidr = "fd00::1234/8".parse().unwrap();
        assert_eq!(c.to_string(), "fd00::/8");
        let c: Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(c.len, 0);
        assert!("198.18.0.0/33".parse::<Cidr>().is_err());
        assert!("fd00::/129".parse::<Cidr>().is_err());
        assert!("nonsense/8".parse::<Cidr>().is_err());
        assert!("".parse::<Cidr>().is_err());
    }

    #[test]
    fn syn_rate_and_whole_family_rules_are_checked_before_loading() {
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        assert!(check_request("vb", &[c("198.18.0.0/15")], Some(5), false).is_ok());
        assert!(check_request("vb", &[], Some(MAX_SYN_RATE), false).is_ok());
        assert!(check_request("vb", &[], None, false).is_ok());
        for bad in [0, MAX_SYN_RATE + 1, u64::MAX] {
            let e = check_request("vb", &[], Some(bad), false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("1..=10000000"), "{e}");
        }
        for all in ["0.0.0.0/0", "::/0"] {
            let e = check_request("vb", &[c(all)], None, false)
                .unwrap_err()
                .to_string();
            assert!(e.contains(all) && e.contains("--force"), "{e}");
            assert!(check_request("vb", &[c(all)], None, true).is_ok());
        }
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_iface("").is_err());
        assert!(check_iface("../etc").is_err());
        assert!(check_iface("a-very-long-interface-name").is_err());
    }
}
