//! Per-interface facts from sysfs (`/sys/class/net/*`): kind, driver, MTU, queue lengths,
//! speed, NUMA node, and the per-queue RPS/XPS CPU masks. Also the kernel's CPU-mask text
//! format ([`parse_cpu_mask`], [`format_cpu_mask`]) that `tune` uses to write masks.

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// What sort of device an interface is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceKind {
    /// Backed by a bus device (`device` link exists): a NIC, virtio, ...
    Physical,
    /// `lo`.
    Loopback,
    /// One end of a veth pair.
    Veth,
    /// Linux bridge.
    Bridge,
    /// Bonding master.
    Bond,
    /// 802.1Q VLAN.
    Vlan,
    /// macvlan / macvtap.
    Macvlan,
    /// ipvlan / ipvtap.
    Ipvlan,
    /// VXLAN.
    Vxlan,
    /// WireGuard.
    Wireguard,
    /// tun (layer 3).
    Tun,
    /// tap (layer 2 tun/tap).
    Tap,
    /// IP-in-IP, GRE, SIT and other IP tunnels.
    Tunnel,
    /// Intermediate functional block.
    Ifb,
    /// dummy.
    Dummy,
    /// Some other software device.
    #[default]
    Virtual,
}

/// One receive queue (`queues/rx-N`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxQueue {
    /// N in `rx-N`.
    pub index: u32,
    /// `rps_cpus` as the kernel prints it (comma-grouped hex); None when unreadable.
    pub rps_cpus: Option<String>,
    /// `rps_cpus` parsed into CPU numbers (empty: RPS off).
    pub rps_cpu_list: Option<Vec<u32>>,
    /// `rps_flow_cnt`: RFS flow table entries for this queue.
    pub rps_flow_cnt: Option<u32>,
}

/// One transmit queue (`queues/tx-N`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxQueue {
    /// N in `tx-N`.
    pub index: u32,
    /// `xps_cpus` as the kernel prints it; None when unreadable (single-queue devices
    /// answer ENOENT/EINVAL).
    pub xps_cpus: Option<String>,
    /// `xps_cpus` parsed into CPU numbers.
    pub xps_cpu_list: Option<Vec<u32>>,
}

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    /// `ifindex`.
    pub ifindex: Option<u32>,
    /// `iflink`: the ifindex of the lower or peer device (equals `ifindex` for most).
    pub iflink: Option<u32>,
    /// What sort of device it is.
    pub kind: InterfaceKind,
    /// `DEVTYPE` from `uevent` (`vlan`, `bridge`, `wlan`, ...), when set.
    pub devtype: Option<String>,
    /// `type`: ARPHRD_* link type (1 Ethernet, 772 loopback, 65534 none).
    pub link_type: Option<u32>,
    /// Driver: basename of the `device/driver` link (`virtio_net`, `ixgbe`); for a virtual
    /// device of the live host, the ethtool driver name (`veth`, `ifb`).
    pub driver: Option<String>,
    /// Bus device: basename of the `device` link (`virtio0`, `0000:3b:00.0`); IRQ names
    /// in `/proc/interrupts` are derived from it.
    pub device: Option<String>,
    /// MTU in bytes.
    pub mtu: Option<u32>,
    /// Transmit queue length (qdisc limit) in packets.
    pub tx_queue_len: Option<u32>,
    /// Link speed in Mb/s; None when unknown (`-1`, EINVAL, down).
    pub speed_mbps: Option<u32>,
    /// `full` / `half`; None when unknown.
    pub duplex: Option<String>,
    /// `operstate` (`up`, `down`, `unknown`, ...).
    pub operstate: Option<String>,
    /// NUMA node of the bus device; None when not NUMA or `-1`.
    pub numa_node: Option<u32>,
    /// Hardware address.
    pub address: Option<String>,
    /// Receive queues in index order.
    pub rx_queues: Vec<RxQueue>,
    /// Transmit queues in index order.
    pub tx_queues: Vec<TxQueue>,
}

/// Interface name → facts.
pub type Interfaces = BTreeMap<String, Interface>;

/// Read `/sys/class/net`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Interfaces> {
    let dir = root.sys("class/net");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => return Source::from_io(&dir, &e),
    };
    let live = root.live;
    let mut probe: Option<drvinfo::Probe> = None;
    let mut out = Interfaces::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                warnings.push("interfaces", None, format!("{}: {e}", dir.display()));
                continue;
            }
        };
        let mut path = entry.path();
        // `bonding_masters` is a file in class/net; interfaces are (links to) directories.
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let iface = read_interface(buf, &mut path, &name, live, &mut probe);
        out.insert(name, iface);
    }
    Source::Ok(out)
}

/// Read one attribute file of `dir`; None on any error (missing, EINVAL, ...).
fn attr<'b>(buf: &'b mut FileBuf, dir: &mut PathBuf, name: &str) -> Option<&'b str> {
    dir.push(name);
    let r = buf.read_trimmed(dir);
    dir.pop();
    r.ok()
}

fn attr_u32(buf: &mut FileBuf, dir: &mut PathBuf, name: &str) -> Option<u32> {
    attr(buf, dir, name)?.trim().parse().ok()
}

fn attr_string(buf: &mut FileBuf, dir: &mut PathBuf, name: &str) -> Option<String> {
    attr(buf, dir, name).map(|s| s.trim().to_string())
}

fn exists(dir: &mut PathBuf, name: &str) -> bool {
    dir.push(name);
    let r = fs::symlink_metadata(&*dir).is_ok();
    dir.pop();
    r
}

fn link_basename(path: &Path) -> Option<String> {
    let target = fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// A non-negative integer that is not the kernel's "unknown" (-1 or u32::MAX).
fn known_u32(s: &str) -> Option<u32> {
    let v: i64 = s.trim().parse().ok()?;
    if v < 0 || v >= i64::from(u32::MAX) {
        None
    } else {
        u32::try_from(v).ok()
    }
}

fn read_interface(
    buf: &mut FileBuf,
    dir: &mut PathBuf,
    name: &str,
    live: bool,
    probe: &mut Option<drvinfo::Probe>,
) -> Interface {
    let mut i = Interface {
        ifindex: attr_u32(buf, dir, "ifindex"),
        iflink: attr_u32(buf, dir, "iflink"),
        link_type: attr_u32(buf, dir, "type"),
        mtu: attr_u32(buf, dir, "mtu"),
        tx_queue_len: attr_u32(buf, dir, "tx_queue_len"),
        speed_mbps: attr(buf, dir, "speed").and_then(known_u32),
        duplex: attr_string(buf, dir, "duplex").filter(|d| d != "unknown" && !d.is_empty()),
        operstate: attr_string(buf, dir, "operstate"),
        address: attr_string(buf, dir, "address"),
        ..Interface::default()
    };
    i.devtype = attr(buf, dir, "uevent").and_then(|u| {
        u.lines()
            .find_map(|l| l.strip_prefix("DEVTYPE="))
            .map(|t| t.trim().to_string())
    });
    dir.push("device");
    let has_device = fs::symlink_metadata(&*dir).is_ok();
    if has_device {
        i.device = link_basename(dir);
        dir.push("driver");
        i.driver = link_basename(dir);
        dir.pop();
        i.numa_node = attr(buf, dir, "numa_node").and_then(known_u32);
    }
    dir.pop();
    read_queues(buf, dir, &mut i);

    i.kind = if has_device {
        InterfaceKind::Physical
    } else {
        classify_virtual(dir, name, &mut i, live, probe)
    };
    i
}

fn classify_virtual(
    dir: &mut PathBuf,
    name: &str,
    i: &mut Interface,
    live: bool,
    probe: &mut Option<drvinfo::Probe>,
) -> InterfaceKind {
    use InterfaceKind as K;
    if i.link_type == Some(772) {
        return K::Loopback;
    }
    if exists(dir, "bridge") {
        return K::Bridge;
    }
    if exists(dir, "bonding") {
        return K::Bond;
    }
    if exists(dir, "tun_flags") {
        dir.push("tun_flags");
        let flags = fs::read_to_string(&*dir).ok();
        dir.pop();
        let tap = flags
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & 0x2 != 0);
        return if tap { K::Tap } else { K::Tun };
    }
    if let Some(t) = i.devtype.as_deref() {
        return match t {
            "vlan" => K::Vlan,
            "bridge" => K::Bridge,
            "bond" => K::Bond,
            "vxlan" => K::Vxlan,
            "wireguard" => K::Wireguard,
            "macvlan" => K::Macvlan,
            "ipvlan" => K::Ipvlan,
            _ => K::Virtual,
        };
    }
    if live {
        if let Some(ifindex) = i.ifindex {
            let p = probe.get_or_insert_with(drvinfo::Probe::new);
            if let Some(drv) = p.driver(name, ifindex) {
                let kind = kind_of_driver(&drv);
                i.driver = Some(drv);
                if kind != K::Virtual {
                    return kind;
                }
            }
        }
    }
    if matches!(i.link_type, Some(768 | 769 | 776 | 778 | 823)) {
        return K::Tunnel;
    }
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if numbered("ifb") {
        return K::Ifb;
    }
    if numbered("dummy") {
        return K::Dummy;
    }
    // veth sets no DEVTYPE; its iflink is the peer's ifindex. macvlan/ipvlan also have
    // iflink != ifindex but show their lower device as a `lower_*` link.
    if i.link_type == Some(1)
        && matches!((i.iflink, i.ifindex), (Some(l), Some(x)) if l != x && l != 0)
        && !has_lower_link(dir)
    {
        return K::Veth;
    }
    K::Virtual
}

fn has_lower_link(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("lower_"))
    })
}

/// The kind for an ethtool driver name.
fn kind_of_driver(driver: &str) -> InterfaceKind {
    use InterfaceKind as K;
    match driver {
        "veth" => K::Veth,
        "bridge" => K::Bridge,
        "bonding" => K::Bond,
        "802.1Q VLAN Support" => K::Vlan,
        "macvlan" | "macvtap" => K::Macvlan,
        "ipvlan" | "ipvtap" => K::Ipvlan,
        "vxlan" => K::Vxlan,
        "wireguard" => K::Wireguard,
        "ifb" => K::Ifb,
        "dummy" => K::Dummy,
        "tun" => K::Tun,
        _ => K::Virtual,
    }
}

fn read_queues(buf: &mut FileBuf, dir: &mut PathBuf, i: &mut Interface) {
    dir.push("queues");
    let Ok(entries) = fs::read_dir(&*dir) else {
        dir.pop();
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_prefix("rx-").and_then(|n| n.parse().ok()) {
            dir.push(&*name);
            let rps = attr_string(buf, dir, "rps_cpus");
            i.rx_queues.push(RxQueue {
                index: n,
                rps_cpu_list: rps.as_deref().and_then(parse_cpu_mask),
                rps_cpus: rps,
                rps_flow_cnt: attr_u32(buf, dir, "rps_flow_cnt"),
            });
            dir.pop();
        } else if let Some(n) = name.strip_prefix("tx-").and_then(|n| n.parse().ok()) {
            dir.push(&*name);
            let xps = attr_string(buf, dir, "xps_cpus");
            i.tx_queues.push(TxQueue {
                index: n,
                xps_cpu_list: xps.as_deref().and_then(parse_cpu_mask),
                xps_cpus: xps,
            });
            dir.pop();
        }
    }
    dir.pop();
    i.rx_queues.sort_by_key(|q| q.index);
    i.tx_queues.sort_by_key(|q| q.index);
}

/// Parse a CPU mask as the kernel prints it (`rps_cpus`, `smp_affinity`): comma-separated
/// groups of up to 8 hex digits, most significant first (`3`, `ff,ffffffff`,
/// `00000000,00000001`). A single group of any length is also accepted. Returns the CPU
/// numbers in ascending order, or None for malformed text.
pub fn parse_cpu_mask(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let single = !text.contains(',');
    let mut cpus = Vec::new();
    let mut bit_base: u32 = 0;
    for group in text.rsplit(',') {
        let group = group.trim();
        if group.is_empty() || (!single && group.len() > 8) {
            return None;
        }
        // Walk the digits from least significant.
        for (pos, c) in group.bytes().rev().enumerate() {
            let nib = (c as char).to_digit(16)?;
            let base = u32::try_from(pos)
                .ok()?
                .checked_mul(4)?
                .checked_add(bit_base)?;
            for b in 0..4 {
                if nib & (1 << b) != 0 {
                    cpus.push(base.checked_add(b)?);
                }
            }
        }
        bit_base = bit_base.checked_add(32)?;
    }
    cpus.sort_unstable();
    Some(cpus)
}

/// Format CPU numbers as a kernel CPU mask: groups of 8 hex digits separated by commas,
/// most significant first, the first group without leading zeros (`[0, 1]` → `3`,
/// `[0, 32]` → `1,00000001`, none → `0`). The kernel accepts this for `rps_cpus`,
/// `xps_cpus` and `smp_affinity`.
pub fn format_cpu_mask(cpus: &[u32]) -> String {
    // No kernel has CPUs beyond NR_CPUS (at most 8192): larger numbers are ignored rather
    // than sizing the mask (4294967295 would be a 1.2 GB string).
    let in_range = |c: &&u32| **c < crate::snapshot::MAX_CPU;
    let Some(&max) = cpus.iter().filter(in_range).max() else {
        return "0".to_string();
    };
    let mut words = vec![0u32; (max / 32) as usize + 1];
    for &c in cpus {
        if let Some(w) = words.get_mut((c / 32) as usize) {
            *w |= 1 << (c % 32);
        }
    }
    let mut out = String::with_capacity(words.len() * 9);
    for (i, w) in words.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&format!("{w:x}"));
        } else {
            out.push_str(&format!(",{w:08x}"));
        }
    }
    out
}

/// The ethtool driver name of a device (`ETHTOOL_GDRVINFO` on the ethtool collector's ioctl
/// socket), used only for virtual devices of the live host (sysfs has no driver link for
/// them).
mod drvinfo {
    use crate::collect::ethtool::ioctl::IoctlSocket;

    /// The ioctl socket (None when it could not be opened), in the namespace of the thread
    /// that created it.
    pub struct Probe {
        sock: Option<IoctlSocket>,
    }

    impl Probe {
        pub fn new() -> Self {
            Probe {
                sock: IoctlSocket::new().ok(),
            }
        }

        /// The driver of `name`, only when `name` has `ifindex` in this thread's network
        /// namespace (so the answer is about the device sysfs described).
        pub fn driver(&self, name: &str, ifindex: u32) -> Option<String> {
            let sock = self.sock.as_ref()?;
            if nix::net::if_::if_nametoindex(name).ok()? != ifindex {
                return None;
            }
            let drv = sock.drvinfo(name).ok()?.driver.clone();
            (!drv.is_empty()).then_some(drv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::{vm, write};
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;
    use std::process::Command;

    /// A minimal virtual interface directory under `sys/class/net/<name>`.
    fn iface(dir: &Path, name: &str, ifindex: u32, iflink: u32, ty: u32) -> PathBuf {
        let d = dir.join("sys/class/net").join(name);
        write(&d, "ifindex", &format!("{ifindex}\n"));
        write(&d, "iflink", &format!("{iflink}\n"));
        write(&d, "type", &format!("{ty}\n"));
        write(
            &d,
            "uevent",
            &format!("INTERFACE={name}\nIFINDEX={ifindex}\n"),
        );
        write(&d, "queues/rx-0/rps_cpus", "0\n");
        d
    }

    #[test]
    fn reads_captured_vm_interfaces() {
        let mut w = Warnings::default();
        let all = read(&mut FileBuf::new(), &vm(), &mut w);
        let all = all.ok().expect("interfaces");
        assert_eq!(all.keys().collect::<Vec<_>>(), ["eth0", "lo"]);
        let eth0 = &all["eth0"];
        assert_eq!(eth0.kind, InterfaceKind::Physical);
        assert_eq!(eth0.ifindex, Some(4));
        assert_eq!(eth0.iflink, Some(4));
        assert_eq!(eth0.link_type, Some(1));
        assert_eq!(eth0.driver.as_deref(), Some("virtio_net"));
        assert_eq!(eth0.device.as_deref(), Some("virtio2"));
        assert_eq!(eth0.mtu, Some(1400));
        assert_eq!(eth0.tx_queue_len, Some(1000));
        assert_eq!(eth0.speed_mbps, None); // "-1"
        assert_eq!(eth0.duplex, None); // "unknown"
        assert_eq!(eth0.operstate.as_deref(), Some("up"));
        assert_eq!(eth0.numa_node, None);
        assert_eq!(eth0.address.as_deref(), Some("02:fc:00:00:00:01"));
        assert_eq!(
            eth0.rx_queues,
            vec![RxQueue {
                index: 0,
                rps_cpus: Some("0".into()),
                rps_cpu_list: Some(vec![]),
                rps_flow_cnt: Some(0),
            }]
        );
        assert_eq!(
            eth0.tx_queues,
            vec![TxQueue {
                index: 0,
                xps_cpus: None,
                xps_cpu_list: None
            }]
        );
        let lo = &all["lo"];
        assert_eq!(lo.kind, InterfaceKind::Loopback);
        assert_eq!(lo.ifindex, Some(1));
        assert_eq!(lo.mtu, Some(65536));
        assert_eq!(lo.speed_mbps, None); // EINVAL live: no file in the fixture
        assert_eq!(lo.operstate.as_deref(), Some("unknown"));
        assert_eq!(lo.driver, None);
        assert_eq!(lo.device, None);
        assert_eq!(lo.rx_queues.len(), 1);
        assert!(w.0.is_empty());
    }

    #[test]
    fn classifies_virtual_devices() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        iface(dir, "veth1", 7, 6, 1);
        let v = iface(dir, "eth0.100", 8, 2, 1);
        write(
            &v,
            "uevent",
            "DEVTYPE=vlan\nINTERFACE=eth0.100\nIFINDEX=8\n",
        );
        let b = iface(dir, "br0", 9, 9, 1);
        fs::create_dir_all(b.join("bridge")).unwrap();
        let b = iface(dir, "bond0", 10, 10, 1);
        fs::create_dir_all(b.join("bonding")).unwrap();
        let t = iface(dir, "tap0", 11, 11, 1);
        write(&t, "tun_flags", "0x1002\n");
        let t = iface(dir, "tun0", 12, 12, 65534);
        write(&t, "tun_flags", "0x1001\n");
        iface(dir, "dummy0", 13, 13, 1);
        iface(dir, "ifb0", 14, 14, 1);
        let m = iface(dir, "mv0", 15, 2, 1);
        symlink("../eth0", m.join("lower_eth0")).unwrap();
        iface(dir, "tunl0", 16, 0, 768);
        iface(dir, "lo", 1, 1, 772);
        let w = iface(dir, "wg0", 17, 17, 65534);
        write(&w, "uevent", "DEVTYPE=wireguard\n");
        write(dir, "sys/class/net/bonding_masters", "bond0\n");
        let mut warn = Warnings::default();
        let all = read(&mut FileBuf::new(), &Root::fixture(dir), &mut warn);
        let all = all.ok().unwrap();
        let kind = |n: &str| all[n].kind;
        use InterfaceKind as K;
        assert_eq!(kind("veth1"), K::Veth);
        assert_eq!(kind("eth0.100"), K::Vlan);
        assert_eq!(all["eth0.100"].devtype.as_deref(), Some("vlan"));
        assert_eq!(kind("br0"), K::Bridge);
        assert_eq!(kind("bond0"), K::Bond);
        assert_eq!(kind("tap0"), K::Tap);
        assert_eq!(kind("tun0"), K::Tun);
        assert_eq!(kind("dummy0"), K::Dummy);
        assert_eq!(kind("ifb0"), K::Ifb);
        assert_eq!(kind("mv0"), K::Virtual);
        assert_eq!(kind("tunl0"), K::Tunnel);
        assert_eq!(kind("lo"), K::Loopback);
        assert_eq!(kind("wg0"), K::Wireguard);
        assert!(!all.contains_key("bonding_masters"));
        assert_eq!(all.len(), 12);
        assert_eq!(
            serde_json::to_string(&K::Veth).unwrap(),
            "\"veth\"",
            "kinds serialise lowercase"
        );
    }

    #[test]
    fn physical_multiqueue_device() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let dev = dir.join("sys/devices/pci0000:3a/0000:3b:00.0");
        write(&dev, "numa_node", "1\n");
        fs::create_dir_all(dir.join("sys/bus/pci/drivers/ixgbe")).unwrap();
        symlink("../../../bus/pci/drivers/ixgbe", dev.join("driver")).unwrap();
        let n = iface(dir, "ens1f0", 3, 3, 1);
        symlink(&dev, n.join("device")).unwrap();
        write(&n, "speed", "10000\n");
        write(&n, "duplex", "full\n");
        write(&n, "mtu", "9000\n");
        write(&n, "queues/rx-0/rps_cpus", "ff,ffffffff\n");
        write(&n, "queues/rx-0/rps_flow_cnt", "2048\n");
        write(&n, "queues/rx-10/rps_cpus", "00000000,00000000\n");
        write(&n, "queues/rx-2/rps_cpus", "bogus\n");
        write(&n, "queues/tx-1/xps_cpus", "00000000,00000003\n");
        write(&n, "queues/tx-0/xps_cpus", "00000001,00000000\n");
        let all = read(
            &mut FileBuf::new(),
            &Root::fixture(dir),
            &mut Warnings::default(),
        );
        let i = &all.ok().unwrap()["ens1f0"];
        assert_eq!(i.kind, InterfaceKind::Physical);
        assert_eq!(i.driver.as_deref(), Some("ixgbe"));
        assert_eq!(i.device.as_deref(), Some("0000:3b:00.0"));
        assert_eq!(i.numa_node, Some(1));
        assert_eq!(i.speed_mbps, Some(10000));
        assert_eq!(i.duplex.as_deref(), Some("full"));
        assert_eq!(i.mtu, Some(9000));
        let idx: Vec<u32> = i.rx_queues.iter().map(|q| q.index).collect();
        assert_eq!(idx, [0, 2, 10]);
        assert_eq!(i.rx_queues[0].rps_cpu_list, Some((0..40).collect()));
        assert_eq!(i.rx_queues[0].rps_flow_cnt, Some(2048));
        assert_eq!(i.rx_queues[1].rps_cpus.as_deref(), Some("bogus"));
        assert_eq!(i.rx_queues[1].rps_cpu_list, None);
        assert_eq!(i.rx_queues[2].rps_cpu_list, Some(vec![]));
        assert_eq!(i.tx_queues[0].xps_cpu_list, Some(vec![32]));
        assert_eq!(i.tx_queues[1].xps_cpu_list, Some(vec![0, 1]));
    }

    #[test]
    fn missing_class_net_is_unsupported() {
        let d = tempfile::tempdir().unwrap();
        let r = read(
            &mut FileBuf::new(),
            &Root::fixture(d.path()),
            &mut Warnings::default(),
        );
        assert!(matches!(r, Source::Unsupported { .. }));
    }

    #[test]
    fn cpu_masks_in_kernel_format() {
        assert_eq!(parse_cpu_mask("3\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_mask("0"), Some(vec![]));
        assert_eq!(parse_cpu_mask("ffffffff,ffffffff"), Some((0..64).collect()));
        assert_eq!(parse_cpu_mask("ff,ffffffff"), Some((0..40).collect()));
        assert_eq!(parse_cpu_mask("00000000,00000001"), Some(vec![0]));
        assert_eq!(parse_cpu_mask("1,2"), Some(vec![1, 32]));
        assert_eq!(parse_cpu_mask("ffffffffff"), Some((0..40).collect()));
        assert_eq!(parse_cpu_mask("123456789,0"), None);
        assert_eq!(parse_cpu_mask(""), None);
        assert_eq!(parse_cpu_mask("3,,1"), None);
        assert_eq!(parse_cpu_mask("xyz"), None);
        assert_eq!(format_cpu_mask(&[]), "0");
        assert_eq!(format_cpu_mask(&[0, 1]), "3");
        assert_eq!(format_cpu_mask(&[1]), "2");
        assert_eq!(format_cpu_mask(&[0, 32]), "1,00000001");
        assert_eq!(
            format_cpu_mask(&(0..64).collect::<Vec<_>>()),
            "ffffffff,ffffffff"
        );
        assert_eq!(format_cpu_mask(&[39, 0]), "80,00000001");
        // Bounded: a CPU beyond NR_CPUS does not size the mask.
        assert_eq!(format_cpu_mask(&[u32::MAX, 1]), "2");
    }

    /// Deletes the throwaway namespace and link even when the test fails.
    struct NetnsGuard {
        ns: String,
        link: String,
    }

    impl Drop for NetnsGuard {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["link", "del", &self.link])
                .status();
            let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        }
    }

    #[test]
    fn live_veth_is_reported_as_veth() {
        if !crate::testing::require_root()
            || !crate::testing::require("/sys/class/net", Path::new("/sys/class/net").is_dir())
        {
            return;
        }
        let pid = std::process::id();
        let guard = NetnsGuard {
            ns: format!("nettune-t-{pid}"),
            link: format!("ntv{pid}"),
        };
        let ok = Command::new("ip")
            .args(["netns", "add", &guard.ns])
            .status();
        if !crate::testing::require("`ip netns add`", ok.is_ok_and(|s| s.success())) {
            return;
        }
        let peer = format!("ntp{pid}");
        let st = Command::new("ip")
            .args([
                "link",
                "add",
                &guard.link,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ])
            .args(["netns", &guard.ns])
            .status()
            .unwrap();
        assert!(st.success(), "ip link add veth failed");
        let mut w = Warnings::default();
        let all = read(&mut FileBuf::new(), &Root::default(), &mut w);
        let all = all.ok().unwrap();
        let v = &all[&guard.link];
        assert_eq!(v.kind, InterfaceKind::Veth, "{v:?}");
        assert_eq!(v.driver.as_deref(), Some("veth"));
        assert_eq!(v.device, None);
        assert_eq!(v.mtu, Some(1500));
        assert!(!v.rx_queues.is_empty());
        if let Some(lo) = all.get("lo") {
            assert_eq!(lo.kind, InterfaceKind::Loopback);
        }
        drop(guard);
    }

    proptest! {
        #[test]
        fn masks_round_trip(cpus in proptest::collection::vec(0u32..1024, 0..40)) {
            let mut want = cpus.clone();
            want.sort_unstable();
            want.dedup();
            let text = format_cpu_mask(&cpus);
            prop_assert_eq!(parse_cpu_mask(&text), Some(want.clone()));
            // The kernel's zero-padded full-width form parses the same.
            let groups = text.split(',').count();
            let padded: Vec<String> = text.split(',').map(|g| format!("{:0>8}", g)).collect();
            prop_assert_eq!(padded.len(), groups);
            prop_assert_eq!(parse_cpu_mask(&padded.join(",")), Some(want));
        }

        #[test]
        fn mask_parser_never_panics(s in "[0-9a-fA-Fxz, \n]{0,80}") {
            let _ = parse_cpu_mask(&s);
        }

        #[test]
        fn mask_parser_never_panics_on_any_text(s in "\\PC{0,200}") {
            let _ = parse_cpu_mask(&s);
        }
    }
}
