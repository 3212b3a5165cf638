//! The `SIOCETHTOOL` ioctl: driver information (`ETHTOOL_GDRVINFO`) and driver statistics
//! (`ETHTOOL_GSSET_INFO` + `ETHTOOL_GSTRINGS` + `ETHTOOL_GSTATS`, what `ethtool -S` does).
//!
//! The variable-length kernel structs are laid out by hand in byte buffers (no alignment is
//! needed: the kernel copies bytes, and we read fields with `from_ne_bytes`):
//!
//! ```text
//! struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }  // data @16
//! struct ethtool_gstrings  { u32 cmd; u32 string_set; u32 len; u8 data[len*32]; } // data @12
//! struct ethtool_stats     { u32 cmd; u32 n_stats; u64 data[n_stats]; }            // data @8
//! ```

use super::{classify, DriverInfo, DriverStats};
use crate::collect::Source;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
const ETHTOOL_GSTRINGS: u32 = 0x0000_001b;
const ETHTOOL_GSTATS: u32 = 0x0000_001d;
const ETHTOOL_GSSET_INFO: u32 = 0x0000_0037;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// `sizeof(struct ethtool_drvinfo)`.
const DRVINFO_LEN: usize = 196;
/// Refuse absurd counts from a broken driver rather than allocate gigabytes.
const MAX_STATS: usize = 1 << 20;
/// Extra room in the strings/stats buffers: the kernel writes as many entries as the driver
/// reports *at that moment*, which may have grown since `GSSET_INFO` (queues added).
const SLACK: usize = 64;

/// Reusable buffers for the statistics ioctls, shared by all devices of one read.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    strings: Vec<u8>,
    stats: Vec<u8>,
}

/// Statistic names of one device kept between reads: `ETHTOOL_GSTRINGS` is only asked
/// again when the device's driver, bus address or statistics count (from `GDRVINFO`, read
/// every time) changes, or when `ETHTOOL_GSTATS` returns a different count.
#[derive(Debug)]
struct CachedNames {
    driver: String,
    bus_info: String,
    n_stats: u32,
    /// Names after duplicate renaming (`name#2`), in driver order.
    names: Vec<String>,
    /// Read generation that last used the entry.
    seen: u64,
}

/// Interface name → statistic names, for [`IoctlSocket::stats_cached`].
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    by_dev: HashMap<String, CachedNames>,
    generation: u64,
}

impl NameCache {
    /// Start a read: entries not used by it are dropped by [`NameCache::end_read`].
    pub(crate) fn begin_read(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Forget devices the last read did not ask about (deleted veths, renamed devices).
    pub(crate) fn end_read(&mut self) {
        let g = self.generation;
        self.by_dev.retain(|_, c| c.seen == g);
    }
}

/// A datagram socket used only as a handle for `SIOCETHTOOL`; it belongs to the network
/// namespace of the thread that created it.
#[derive(Debug)]
pub(crate) struct IoctlSocket {
    fd: OwnedFd,
}

impl IoctlSocket {
    /// Open an `AF_INET` datagram socket, or an `AF_NETLINK` one where IPv4 is absent (what
    /// `ethtool` itself does).
    pub(crate) fn new() -> io::Result<Self> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
        let fd = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .or_else(|_| {
            socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkGeneric,
            )
        })?;
        Ok(IoctlSocket { fd })
    }

    /// Issue `SIOCETHTOOL` on `ifname` with `buf` as the command struct. Returns the errno on
    /// failure.
    fn ethtool(&self, ifname: &str, buf: &mut [u8]) -> Result<(), i32> {
        let name = ifname.as_bytes();
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
            return Err(libc::ENODEV);
        }
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifr.ifr_name.iter_mut().zip(name) {
            *dst = *src as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = buf.as_mut_ptr().cast();
        // SAFETY: `ifr` names a NUL-terminated interface and points at `buf`, which is at
        // least as large as the struct the command in its first 4 bytes tells the kernel to
        // read and write (the callers size it from the counts they put in it, plus slack).
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SIOCETHTOOL as _,
                &mut ifr as *mut libc::ifreq,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO))
        } else {
            Ok(())
        }
    }

    /// `ETHTOOL_GDRVINFO`.
    pub(crate) fn drvinfo(&self, ifname: &str) -> Source<DriverInfo> {
        let mut buf = [0u8; DRVINFO_LEN];
        put_u32(&mut buf, 0, ETHTOOL_GDRVINFO);
        match self.ethtool(ifname, &mut buf) {
            Ok(()) => Source::Ok(parse_drvinfo(&buf)),
            Err(e) => classify("driver information", ifname, None, e),
        }
    }

    /// Driver statistics with the names cached in `cache`: `ETHTOOL_GSTATS` alone when the
    /// device (driver, bus address and count in `info`, its fresh `GDRVINFO`) is unchanged
    /// since the names were read; the full [`IoctlSocket::stats`] otherwise.
    pub(crate) fn stats_cached(
        &self,
        ifname: &str,
        info: Option<&DriverInfo>,
        scratch: &mut Scratch,
        cache: &mut NameCache,
    ) -> Source<DriverStats> {
        let driver = info.map(|d| d.driver.as_str());
        let Some(info) = info.filter(|d| d.n_stats > 0) else {
            // No drvinfo, or no statistics announced (unsupported or none): the full
            // path answers in one `GSSET_INFO`.
            return self.stats(ifname, driver, scratch);
        };
        let generation = cache.generation;
        if let Some(c) = cache.by_dev.get_mut(ifname) {
            if c.driver == info.driver
                && c.bus_info == info.bus_info
                && c.n_stats == info.n_stats
                && !c.names.is_empty()
            {
                c.seen = generation;
                match self.values(ifname, c.names.len(), scratch) {
                    Ok(n) if n == c.names.len() => {
                        let values = (0..n).map(|i| get_u64(&scratch.stats, 8 + i * 8));
                        return Source::Ok(DriverStats(
                            c.names.iter().cloned().zip(values).collect(),
                        ));
                    }
                    Ok(_) => {} // the count changed since GDRVINFO: read the names again
                    Err(e) => return classify("driver statistics", ifname, driver, e),
                }
            }
        }
        let out = self.stats(ifname, driver, scratch);
        if let Some(stats) = out.ok().filter(|s| !s.is_empty()) {
            let entry = CachedNames {
                driver: info.driver.clone(),
                bus_info: info.bus_info.clone(),
                n_stats: info.n_stats,
                names: stats.0.iter().map(|(n, _)| n.clone()).collect(),
                seen: generation,
            };
            cache.by_dev.insert(ifname.to_string(), entry);
        } else {
            cache.by_dev.remove(ifname);
        }
        out
    }

    /// `ETHTOOL_GSTATS` into `scratch.stats` for about `count` statistics: the number the
    /// kernel wrote (at most the buffer's room), or the errno.
    fn values(&self, ifname: &str, count: usize, scratch: &mut Scratch) -> Result<usize, i32> {
        let cap = count + SLACK;
        let stats = &mut scratch.stats;
        stats.clear();
        stats.resize(8 + cap * 8, 0);
        put_u32(stats, 0, ETHTOOL_GSTATS);
        put_u32(stats, 4, count as u32);
        self.ethtool(ifname, stats)?;
        Ok(get_u32(stats, 4) as usize)
    }

    /// `ETHTOOL_GSSET_INFO` + `ETHTOOL_GSTRINGS` + `ETHTOOL_GSTATS`.
    pub(crate) fn stats(
        &self,
        ifname: &str,
        driver: Option<&str>,
        scratch: &mut Scratch,
    ) -> Source<DriverStats> {
        const WHAT: &str = "driver statistics";
        // How many statistics.
        let mut info = [0u8; 16 + 4];
        put_u32(&mut info, 0, ETHTOOL_GSSET_INFO);
        put_u64(&mut info, 8, 1u64 << ETH_SS_STATS);
        if let Err(e) = self.ethtool(ifname, &mut info) {
            return classify(WHAT, ifname, driver, e);
        }
        if get_u64(&info, 8) & (1u64 << ETH_SS_STATS) == 0 {
            return Source::unsupported(super::unsupported_reason(WHAT, ifname, driver));
        }
        let count = get_u32(&info, 16) as usize;
        if count == 0 {
            return Source::Ok(DriverStats::default());
        }
        if count > MAX_STATS {
            return Source::error(format!(
                "{WHAT} of {ifname}: driver reports {count} statistics, refusing"
            ));
        }
        // Names.
        let cap = count + SLACK;
        let strings = &mut scratch.strings;
        strings.clear();
        strings.resize(12 + cap * ETH_GSTRING_LEN, 0);
        put_u32(strings, 0, ETHTOOL_GSTRINGS);
        put_u32(strings, 4, ETH_SS_STATS);
        put_u32(strings, 8, count as u32);
        if let Err(e) = self.ethtool(ifname, strings) {
            return classify(WHAT, ifname, driver, e);
        }
        let n_names = (get_u32(strings, 8) as usize).min(cap);
        // Values.
        let n_values = match self.values(ifname, count, scratch) {
            Ok(n) => n.min(cap),
            Err(e) => return classify(WHAT, ifname, driver, e),
        };
        let n = n_names.min(n_values);
        let strings = &scratch.strings;
        let stats = &scratch.stats;
        let pairs = (0..n).map(|i| {
            let off = 12 + i * ETH_GSTRING_LEN;
            let name = strings
                .get(off..off + ETH_GSTRING_LEN)
                .map(cstr)
                .unwrap_or_default();
            (name, get_u64(stats, 8 + i * 8))
        });
        Source::Ok(DriverStats::from_pairs(pairs))
    }
}

/// Decode `struct ethtool_drvinfo`.
pub(crate) fn parse_drvinfo(buf: &[u8]) -> DriverInfo {
    let field = |off: usize| {
        buf.get(off..off + 32)
            .map(|b| cstr(b).to_string())
            .unwrap_or_default()
    };
    DriverInfo {
        driver: field(4),
        version: field(36),
        firmware_version: field(68),
        bus_info: field(100),
        expansion_rom_version: field(132),
        n_stats: get_u32(buf, 180),
    }
}

/// A fixed-size C string field: bytes up to the first NUL. Invalid UTF-8 becomes an empty
/// string rather than an allocation (names are ASCII in every driver).
fn cstr(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).unwrap_or("")
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    if let Some(d) = b.get_mut(off..off + 4) {
        d.copy_from_slice(&v.to_ne_bytes());
    }
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    if let Some(d) = b.get_mut(off..off + 8) {
        d.copy_from_slice(&v.to_ne_bytes());
    }
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0)
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drvinfo_layout_matches_the_kernel_struct() {
        let mut buf = [0u8; DRVINFO_LEN];
        buf[4..14].copy_from_slice(b"virtio_net");
        buf[36..41].copy_from_slice(b"1.0.0");
        buf[100..112].copy_from_slice(b"0000:00:03.0");
        buf[180..184].copy_from_slice(&20u32.to_ne_bytes());
        let d = parse_drvinfo(&buf);
        assert_eq!(d.driver, "virtio_net");
        assert_eq!(d.version, "1.0.0");
        assert_eq!(d.firmware_version, "");
        assert_eq!(d.bus_info, "0000:00:03.0");
        assert_eq!(d.n_stats, 20);
        // A short buffer never panics.
        assert_eq!(parse_drvinfo(&buf[..10]).driver, "");
    }

    #[test]
    fn cstr_stops_at_nul_and_survives_full_fields() {
        assert_eq!(cstr(b"rx_packets\0garbage"), "rx_packets");
        assert_eq!(cstr(&[b'a'; 32]), "a".repeat(32));
        assert_eq!(cstr(&[0xff, 0xfe, 0]), "");
    }
}
