//! The ethtool view of network devices: ring sizes, channels (RSS queues), interrupt
//! coalescing, offload features and link speed over ethtool netlink (generic netlink family
//! `ethtool`), and driver information and driver statistics (`ethtool -i`, `ethtool -S`) over
//! the `SIOCETHTOOL` ioctl, which netlink does not offer.
//!
//! Every socket (the netlink one and the ioctl one) is created on the calling thread when a
//! [`Reader`] is made (or a one-off read starts), so a thread that entered another network
//! namespace with `setns` reads that namespace's devices. A `Reader` kept between reads
//! caches the ethtool family id, the kernel's feature names and each device's statistic
//! names, and sends all netlink requests of up to 8 devices in one datagram. Each part of a device is its own [`Source`]: a driver that does not
//! implement an operation answers `EOPNOTSUPP`, which is [`Source::Unsupported`] with a human
//! reason, not an error.
//!
//! Read-only: the SET messages `tune` sends are encoded in `crate::tune::ethtool_set`, over
//! this module's generic netlink connection (`send_set`). [`text`] holds two helpers for
//! `ethtool -S` text and node_exporter metric names.

pub(crate) mod ioctl;
mod netlink;
pub mod text;

use super::Source;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

pub(crate) use netlink::{send_set, NlError, FLAG_OMIT_REPLY};
pub use text::{
    parse_ethtool_i_text, parse_ethtool_s_text, parse_ethtool_settings_text, prometheus_stat_name,
    prometheus_stats,
};

/// ethtool view of one device. Each part is a `Source` because drivers answer "not
/// supported" for some operations (virtio has no ring resize on old kernels, veth no rings,
/// `lo` nothing at all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ethtool {
    /// Driver name, version, firmware and bus address (`ethtool -i`, ioctl `ETHTOOL_GDRVINFO`).
    pub driver: Source<DriverInfo>,
    /// Negotiated speed and duplex (`ethtool`, netlink `LINKMODES_GET`).
    pub link: Source<LinkInfo>,
    /// Ring sizes (`ethtool -g`, netlink `RINGS_GET`).
    pub rings: Source<Rings>,
    /// Queue counts (`ethtool -l`, netlink `CHANNELS_GET`).
    pub channels: Source<Channels>,
    /// Interrupt coalescing (`ethtool -c`, netlink `COALESCE_GET`).
    pub coalesce: Source<Coalesce>,
    /// Offload features (`ethtool -k`, netlink `FEATURES_GET`).
    pub features: Source<Features>,
    /// Driver statistics (`ethtool -S`, ioctl `ETHTOOL_GSTATS`).
    pub stats: Source<DriverStats>,
}

impl Default for Ethtool {
    fn default() -> Self {
        let not_read = || "not read".to_string();
        Ethtool {
            driver: Source::unsupported(not_read()),
            link: Source::unsupported(not_read()),
            rings: Source::unsupported(not_read()),
            channels: Source::unsupported(not_read()),
            coalesce: Source::unsupported(not_read()),
            features: Source::unsupported(not_read()),
            stats: Source::unsupported(not_read()),
        }
    }
}

/// Interface name → ethtool view.
pub type EthtoolAll = BTreeMap<String, Ethtool>;

/// Driver identification (`struct ethtool_drvinfo`). Empty strings are what the driver
/// reported (virtio has no firmware version).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverInfo {
    /// Driver name, e.g. `virtio_net`, `e1000e`, `veth`.
    pub driver: String,
    /// Driver version string.
    pub version: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Expansion ROM version string.
    pub expansion_rom_version: String,
    /// Bus address, e.g. `0000:00:03.0`.
    pub bus_info: String,
    /// Number of driver statistics the driver announced in drvinfo.
    pub n_stats: u32,
}

/// Link speed and duplex. `None` where the kernel reports "unknown" (virtual devices,
/// link down).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// Speed in Mb/s (megabits per second).
    pub speed_mbps: Option<u32>,
    /// `full` or `half`.
    pub duplex: Option<String>,
    /// Auto-negotiation on.
    pub autoneg: Option<bool>,
}

/// Ring sizes, in descriptors (entries). `None` where the driver does not report the ring
/// (`n/a` in `ethtool -g`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rings {
    /// Current RX ring size (descriptors).
    pub rx: Option<u32>,
    /// Current RX mini ring size (descriptors).
    pub rx_mini: Option<u32>,
    /// Current RX jumbo ring size (descriptors).
    pub rx_jumbo: Option<u32>,
    /// Current TX ring size (descriptors).
    pub tx: Option<u32>,
    /// Hardware maximum RX ring size (descriptors).
    pub rx_max: Option<u32>,
    /// Hardware maximum RX mini ring size (descriptors).
    pub rx_mini_max: Option<u32>,
    /// Hardware maximum RX jumbo ring size (descriptors).
    pub rx_jumbo_max: Option<u32>,
    /// Hardware maximum TX ring size (descriptors).
    pub tx_max: Option<u32>,
    /// Size of the RX buffers (bytes), when the driver reports it.
    pub rx_buf_len: Option<u32>,
}

/// Channel (queue) counts. `None` where the driver does not report the kind (`n/a` in
/// `ethtool -l`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    /// Current RX-only channels.
    pub rx: Option<u32>,
    /// Current TX-only channels.
    pub tx: Option<u32>,
    /// Current other channels (link interrupts, ...).
    pub other: Option<u32>,
    /// Current combined RX+TX channels.
    pub combined: Option<u32>,
    /// Maximum RX-only channels.
    pub rx_max: Option<u32>,
    /// Maximum TX-only channels.
    pub tx_max: Option<u32>,
    /// Maximum other channels.
    pub other_max: Option<u32>,
    /// Maximum combined channels.
    pub combined_max: Option<u32>,
}

/// Interrupt coalescing. The kernel only reports the parameters the driver supports (or
/// that are non-zero), so `None` means `n/a` in `ethtool -c`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coalesce {
    /// Delay an RX interrupt this long after a packet arrives (µs).
    pub rx_usecs: Option<u32>,
    /// Raise an RX interrupt after this many packets (frames).
    pub rx_max_frames: Option<u32>,
    /// `rx_usecs` while an interrupt is being serviced (µs).
    pub rx_usecs_irq: Option<u32>,
    /// `rx_max_frames` while an interrupt is being serviced (frames).
    pub rx_max_frames_irq: Option<u32>,
    /// Delay a TX completion interrupt this long (µs).
    pub tx_usecs: Option<u32>,
    /// Raise a TX completion interrupt after this many packets (frames).
    pub tx_max_frames: Option<u32>,
    /// `tx_usecs` while an interrupt is being serviced (µs).
    pub tx_usecs_irq: Option<u32>,
    /// `tx_max_frames` while an interrupt is being serviced (frames).
    pub tx_max_frames_irq: Option<u32>,
    /// How often the driver updates statistics (µs).
    pub stats_block_usecs: Option<u32>,
    /// Adaptive RX coalescing on.
    pub use_adaptive_rx: Option<bool>,
    /// Adaptive TX coalescing on.
    pub use_adaptive_tx: Option<bool>,
    /// Adaptive mode: below this rate use the `_low` values (packets per second).
    pub pkt_rate_low: Option<u32>,
    /// Adaptive mode: above this rate use the `_high` values (packets per second).
    pub pkt_rate_high: Option<u32>,
    /// Adaptive mode: how often the packet rate is sampled (seconds).
    pub rate_sample_interval: Option<u32>,
}

/// One offload feature as `ethtool -k` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// The feature is on now.
    pub active: bool,
    /// The feature cannot be changed (`[fixed]` in `ethtool -k`): the driver does not list
    /// it as changeable, or the kernel never lets it change.
    pub fixed: bool,
    /// The user asked for it (differs from `active` while a dependency keeps it off).
    pub requested: bool,
}

/// Kernel feature name (`rx-gro`, `tx-tcp-segmentation`, `rx-lro`, ...) → state. Only the
/// features the device has, can change, or was asked for are listed; a feature absent here
/// is off and fixed.
pub type Features = BTreeMap<String, Feature>;

/// Driver statistics (`ethtool -S`) in the driver's order: name → cumulative counter.
///
/// Serialises as a JSON object in driver order (a reader that does not preserve object order,
/// such as `serde_json` without `preserve_order`, gets the same counters sorted by name). A
/// name the driver reports more than once
/// (some drivers repeat per-queue names) is kept every time: the second occurrence becomes
/// `name#2`, the third `name#3`, so no counter is lost and names stay unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats(pub Vec<(String, u64)>);

impl DriverStats {
    /// The value of the counter named `name` (after duplicate renaming).
    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Number of counters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No counters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterate (name, value) in driver order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// Build from names and values in driver order, renaming duplicates (`name#2`, ...).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let mut out: Vec<(String, u64)> = Vec::new();
        let mut seen: std::collections::HashMap<&'a str, u32> = std::collections::HashMap::new();
        for (name, value) in pairs {
            let n = seen.entry(name).or_insert(0);
            *n += 1;
            if *n == 1 {
                out.push((name.to_string(), value));
            } else {
                out.push((format!("{name}#{n}"), value));
            }
        }
        DriverStats(out)
    }
}

impl Serialize for DriverStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DriverStats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DriverStats;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of statistic name to counter")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<DriverStats, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) = m.next_entry::<String, u64>()? {
                    out.push((k, v));
                }
                Ok(DriverStats(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// What a part of a device is called in "not supported" reasons.
pub(crate) fn unsupported_reason(what: &str, ifname: &str, driver: Option<&str>) -> String {
    match driver {
        Some(d) if !d.is_empty() => format!("{what} not supported by driver {d} ({ifname})"),
        _ => format!("{what} not supported by device {ifname}"),
    }
}

/// Classify an errno from a netlink or ioctl request about `what` on `ifname`.
pub(crate) fn classify<T>(what: &str, ifname: &str, driver: Option<&str>, errno: i32) -> Source<T> {
    match errno {
        // ENOTSUPP (524) is kernel-internal but leaks from some drivers.
        libc::EOPNOTSUPP | 524 => Source::unsupported(unsupported_reason(what, ifname, driver)),
        libc::ENODEV => Source::unsupported(format!("{what}: device {ifname} does not exist")),
        libc::EPERM | libc::EACCES => Source::error(format!(
            "{what} of {ifname}: permission denied; run as root (CAP_NET_ADMIN)"
        )),
        e => Source::error(format!(
            "{what} of {ifname}: {}",
            std::io::Error::from_raw_os_error(e)
        )),
    }
}

/// Read the ethtool view of one device in the calling thread's network namespace.
pub fn read_device(ifname: &str) -> Ethtool {
    let names = [ifname.to_string()];
    read_all(&names).remove(ifname).unwrap_or_default()
}

/// Read the ethtool view of every device in `ifnames`, with one netlink socket and one ioctl
/// socket for all of them, in the calling thread's network namespace.
pub fn read_all(ifnames: &[String]) -> EthtoolAll {
    Reader::new().read_all(ifnames)
}

/// Sockets and caches kept between snapshots, so a repeated read (watch, exporter, the
/// second snapshot of a window) pays their set-up once: per device it then costs two ioctls
/// (`GDRVINFO`, `GSTATS`; statistic names are cached) and one batched netlink exchange for
/// all devices. Belongs to the network namespace of the thread that created it.
pub struct Reader {
    ioctl: std::io::Result<ioctl::IoctlSocket>,
    scratch: ioctl::Scratch,
    /// Statistic names per device, so a repeated read is `GDRVINFO` + `GSTATS` only.
    names: ioctl::NameCache,
    netlink: netlink::Session,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// Open the ioctl socket and the netlink session (and resolve the ethtool family); failures
    /// are reported per device by every read.
    pub fn new() -> Reader {
        Reader {
            ioctl: ioctl::IoctlSocket::new(),
            scratch: ioctl::Scratch::default(),
            names: ioctl::NameCache::default(),
            netlink: netlink::Session::new(),
        }
    }

    /// Read every device in `ifnames`: driver, link, settings (rings, channels, coalescing,
    /// features) and statistics.
    pub fn read_all(&mut self, ifnames: &[String]) -> EthtoolAll {
        self.read(ifnames, true)
    }

    /// Read what changes between two reads of every device in `ifnames` — driver
    /// statistics — with the driver and link facts they are reported under; the settings
    /// (rings, channels, coalescing, features) are left "not read". What a collector that
    /// reads settings only now and then (the exporter) reads every time.
    pub fn read_counters(&mut self, ifnames: &[String]) -> EthtoolAll {
        self.read(ifnames, false)
    }

    fn read(&mut self, ifnames: &[String], settings: bool) -> EthtoolAll {
        let mut partial: Vec<(String, Ethtool)> = Vec::with_capacity(ifnames.len());
        self.names.begin_read();
        for name in ifnames {
            let mut e = Ethtool::default();
            match &self.ioctl {
                Ok(sock) => {
                    e.driver = sock.drvinfo(name);
                    let info = e.driver.ok();
                    e.stats = sock.stats_cached(name, info, &mut self.scratch, &mut self.names);
                }
                Err(err) => {
                    let s = format!("cannot open a socket for SIOCETHTOOL: {err}");
                    e.driver = Source::error(s.clone());
                    e.stats = Source::error(s);
                }
            }
            partial.push((name.clone(), e));
        }
        self.names.end_read();
        self.netlink.read_into(&mut partial, settings);
        partial.into_iter().collect()
    }
}

/// Whether this host lets us read ethtool data: a socket for `SIOCETHTOOL` opens and the
/// kernel has the `ethtool` generic netlink family. `Err` carries a human reason.
pub fn can_run() -> Result<(), String> {
    ioctl::IoctlSocket::new().map_err(|e| format!("cannot open a socket for SIOCETHTOOL: {e}"))?;
    netlink::probe()
}

#[cfg(test)]
mod tests;
