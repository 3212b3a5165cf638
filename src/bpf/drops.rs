//! The kernel drop monitor: loads `drops.bpf.o` on `tp_btf/kfree_skb`, which counts
//! (drop reason, location) per CPU in kernel, then reads, names and groups the counts.

use super::names::{self, ReasonNames};
use super::{BpfError, DROPS_OBJ, VMLINUX_BTF};
use aya::maps::{MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Key of the `DROPS` map; must match `struct drop_key` in `drops.bpf.c`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropKey {
    /// Kernel text address that freed the skb.
    pub location: u64,
    /// `enum skb_drop_reason` value.
    pub reason: u32,
    /// Padding (always 0).
    pub pad: u32,
}

// SAFETY: plain `repr(C)` integers, no padding bytes beyond the explicit `pad` field.
unsafe impl aya::Pod for DropKey {}

/// Value of the per-CPU `PENDING` map: a run of one key not yet added to `DROPS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub(super) key: DropKey,
    /// Events in the run.
    pub(super) count: u64,
}

// SAFETY: `repr(C)` of Pod fields, no implicit padding (24 bytes).
unsafe impl aya::Pod for Pending {}

/// One raw in-kernel count, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDrop {
    /// `enum skb_drop_reason` value.
    pub reason: u32,
    /// Kernel text address.
    pub location: u64,
    /// Packets (skbs) freed with this reason at this location.
    pub count: u64,
}

/// How many drop reasons [`DropMonitor::start_watching`] can watch (`WATCH_A..C` in
/// `drops.bpf.c`).
pub const MAX_WATCHED: usize = 3;

/// A running drop monitor; dropping it detaches the program.
pub struct DropMonitor {
    ebpf: Ebpf,
    /// Names of this kernel's drop reasons.
    pub names: ReasonNames,
}

/// The drop monitor's ring buffer of watched-drop notices: a thread waits on it with
/// `poll(2)` instead of reading the counts on a timer while drops are quiet.
pub struct WakeNotices {
    ring: RingBuf<MapData>,
}

impl std::fmt::Debug for WakeNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeNotices").finish_non_exhaustive()
    }
}

impl WakeNotices {
    /// Wait at most `timeout` for a notice; `true` when at least one came (every pending
    /// notice is consumed).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, BpfError> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        if self.drain() {
            return Ok(true);
        }
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.ring.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(self.drain()),
            Err(e) => Err(BpfError::kernel("waiting on map WAKE", e)),
        }
    }

    /// Consume every pending notice; `true` when there was one.
    fn drain(&mut self) -> bool {
        let mut any = false;
        while self.ring.next().is_some() {
            any = true;
        }
        any
    }
}

impl std::fmt::Debug for DropMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropMonitor").finish_non_exhaustive()
    }
}

impl DropMonitor {
    /// Check the host, load the program and attach it to `kfree_skb`. With `netns` (a
    /// namespace file such as `/run/netns/NAME`), only skbs whose device (or, without one,
    /// socket) belongs to that namespace are counted.
    pub fn start(netns: Option<&Path>) -> Result<Self, BpfError> {
        Self::start_watching(netns, &[])
    }

    /// [`DropMonitor::start`], also counting the drops of up to [`MAX_WATCHED`] reasons
    /// (`SKB_DROP_REASON_` names without the prefix, as this kernel spells them) in one
    /// per-CPU slot that [`DropMonitor::watched`] reads with a single lookup. A name this
    /// kernel lacks is left out; none known: `Unsupported`.
    pub fn start_watching(netns: Option<&Path>, watch: &[&str]) -> Result<Self, BpfError> {
        super::can_run_drops().map_err(BpfError::Unsupported)?;
        let names =
            ReasonNames::from_btf_file(Path::new(VMLINUX_BTF)).map_err(BpfError::Unsupported)?;
        if watch.len() > MAX_WATCHED {
            return Err(BpfError::Input(format!(
                "at most {MAX_WATCHED} watched drop reasons, not {}",
                watch.len()
            )));
        }
        let mut codes = [u32::MAX; MAX_WATCHED];
        let known: Vec<u32> = names
            .names
            .iter()
            .filter(|(_, n)| watch.contains(&n.as_str()))
            .map(|(code, _)| *code)
            .collect();
        if !watch.is_empty() && known.is_empty() {
            return Err(BpfError::Unsupported(format!(
                "this kernel names none of the drop reasons {}",
                watch.join(", ")
            )));
        }
        for (slot, code) in codes.iter_mut().zip(known) {
            *slot = code;
        }
        let btf = Btf::from_sys_fs().map_err(|e| BpfError::kernel("reading kernel BTF", e))?;
        let skip = names.consumed.unwrap_or(u32::MAX);
        let inum: u32 = match netns {
            Some(p) => {
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::metadata(p).map_err(|e| {
                    BpfError::Input(format!("network namespace {}: {e}", p.display()))
                })?;
                u32::try_from(meta.ino()).map_err(|_| {
                    BpfError::Input(format!("{}: not a namespace file", p.display()))
                })?
            }
            None => 0,
        };
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("SKIP_REASON", &skip, true)
            .override_global("NETNS_INUM", &inum, true)
            .override_global("WATCH_A", &codes[0], true)
            .override_global("WATCH_B", &codes[1], true)
            .override_global("WATCH_C", &codes[2], true)
            .load(DROPS_OBJ)
            .map_err(|e| BpfError::kernel("loading the drop monitor", e))?;
        let prog: &mut BtfTracePoint = ebpf
            .program_mut("kfree_skb")
            .ok_or_else(|| BpfError::kernel("drop monitor", "program kfree_skb missing"))?
            .try_into()
            .map_err(|e| BpfError::kernel("drop monitor", e))?;
        prog.load("kfree_skb", &btf)
            .map_err(|e| BpfError::kernel("verifying the drop monitor", e))?;
        prog.attach()
            .map_err(|e| BpfError::kernel("attaching to tp_btf/kfree_skb", e))?;
        Ok(DropMonitor { ebpf, names })
    }

    /// Drops so far of the reasons given to [`DropMonitor::start_watching`], summed over
    /// CPUs: one map lookup (for a poller; [`DropMonitor::read`] walks every key).
    pub fn watched(&self) -> Result<u64, BpfError> {
        let map = self
            .ebpf
            .map("WATCHED")
            .ok_or_else(|| BpfError::kernel("drop monitor", "map WATCHED missing"))?;
        let arr: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map).map_err(|e| BpfError::kernel("map WATCHED", e))?;
        let values = arr
            .get(&0, 0)
            .map_err(|e| BpfError::kernel("reading WATCHED", e))?;
        Ok(values.iter().copied().fold(0u64, u64::saturating_add))
    }

    /// The kernel's notices of watched drops ([`WakeNotices`]): one when a watched drop comes
    /// at least 50 ms after the last notice. Taken once (a second call is an error).
    pub fn wake_notices(&mut self) -> Result<WakeNotices, BpfError> {
        let map = self
            .ebpf
            .take_map("WAKE")
            .ok_or_else(|| BpfError::kernel("drop monitor", "map WAKE missing or taken"))?;
        let ring = RingBuf::try_from(map).map_err(|e| BpfError::kernel("map WAKE", e))?;
        Ok(WakeNotices { ring })
    }

    /// The counts so far, summed over CPUs, and the events lost because the map was full.
    pub fn read(&self) -> Result<(Vec<RawDrop>, u64), BpfError> {
        let map = self
            .ebpf
            .map("DROPS")
            .ok_or_else(|| BpfError::kernel("drop monitor", "map DROPS missing"))?;
        let map: PerCpuHashMap<_, DropKey, u64> =
            PerCpuHashMap::try_from(map).map_err(|e| BpfError::kernel("map DROPS", e))?;
        let mut sums: BTreeMap<(u32, u64), u64> = BTreeMap::new();
        for item in map.iter() {
            let (key, values) = item.map_err(|e| BpfError::kernel("reading DROPS", e))?;
            let count = values.iter().copied().fold(0u64, u64::saturating_add);
            let slot = sums.entry((key.reason, key.location)).or_default();
            *slot = slot.saturating_add(count);
        }
        if let Some(m) = self.ebpf.map("PENDING") {
            let pending: PerCpuArray<_, Pending> =
                PerCpuArray::try_from(m).map_err(|e| BpfError::kernel("map PENDING", e))?;
            if let Ok(values) = pending.get(&0, 0) {
                for p in values.iter().filter(|p| p.count > 0) {
                    let slot = sums.entry((p.key.reason, p.key.location)).or_default();
                    *slot = slot.saturating_add(p.count);
                }
            }
        }
        let out: Vec<RawDrop> = sums
            .into_iter()
            .filter(|&(_, count)| count > 0)
            .map(|((reason, location), count)| RawDrop {
                reason,
                location,
                count,
            })
            .collect();
        let lost = match self.ebpf.map("DROPS_LOST") {
            Some(m) => {
                let arr: PerCpuArray<_, u64> =
                    PerCpuArray::try_from(m).map_err(|e| BpfError::kernel("map DROPS_LOST", e))?;
                arr.get(&0, 0)
                    .map(|v| v.iter().copied().fold(0u64, u64::saturating_add))
                    .unwrap_or(0)
            }
            None => 0,
        };
        Ok((out, lost))
    }
}

/// Packets dropped at one code location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationCount {
    /// `function+0xoff` from `/proc/kallsyms`, or the raw address in hex when unknown.
    pub symbol: String,
    /// Packets.
    pub count: u64,
}

/// All drops with one reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasonCount {
    /// Reason name as this kernel spells it (`NO_SOCKET`).
    pub reason: String,
    /// The `enum skb_drop_reason` value.
    pub code: u32,
    /// Packets.
    pub count: u64,
    /// Packets per second over the window.
    pub rate: f64,
    /// One line on what the reason usually means, for common reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<&'static str>,
    /// Top locations, most drops first.
    pub locations: Vec<LocationCount>,
}

/// The outcome of `nettune drops` (`nettune.drops/v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DropReport {
    /// Always `nettune.drops/v1`.
    pub schema: &'static str,
    /// Length of the window.
    pub duration_seconds: f64,
    /// Packets dropped in total.
    pub total: u64,
    /// Events not counted because the in-kernel map was full.
    pub lost: u64,
    /// Reasons, most drops first.
    pub reasons: Vec<ReasonCount>,
}

/// How many locations to keep per reason.
pub const TOP_LOCATIONS: usize = 5;

/// Group raw counts by reason (most first), name them, and symbolise the top locations
/// against `kallsyms` (the text of `/proc/kallsyms`).
pub fn aggregate(
    raw: &[RawDrop],
    lost: u64,
    names: &ReasonNames,
    kallsyms: &str,
    duration_seconds: f64,
) -> DropReport {
    let mut by_reason: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for d in raw {
        if Some(d.reason) == names.consumed || d.count == 0 {
            continue;
        }
        by_reason
            .entry(d.reason)
            .or_default()
            .push((d.location, d.count));
    }
    let mut reasons: Vec<ReasonCount> = Vec::with_capacity(by_reason.len());
    let mut wanted: Vec<u64> = Vec::new();
    for (code, mut locs) in by_reason {
        locs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let count = locs.iter().map(|l| l.1).fold(0u64, u64::saturating_add);
        locs.truncate(TOP_LOCATIONS);
        wanted.extend(locs.iter().map(|l| l.0));
        let reason = names.name(code);
        reasons.push(ReasonCount {
            explanation: explain(&reason),
            rate: if duration_seconds > 0.0 {
                count as f64 / duration_seconds
            } else {
                0.0
            },
            reason,
            code,
            count,
            locations: locs
                .into_iter()
                .map(|(addr, count)| LocationCount {
                    symbol: format!("{addr:#x}"),
                    count,
                })
                .collect(),
        });
    }
    wanted.sort_unstable();
    wanted.dedup();
    let symbols = names::symbolize(kallsyms, &wanted);
    for r in &mut reasons {
        for l in &mut r.locations {
            let addr = u64::from_str_radix(l.symbol.trim_start_matches("0x"), 16).unwrap_or(0);
            if let Ok(i) = wanted.binary_search(&addr) {
                if let Some(Some(s)) = symbols.get(i) {
                    l.symbol.clone_from(s);
                }
            }
        }
    }
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    DropReport {
        schema: "nettune.drops/v1",
        duration_seconds,
        total: reasons.iter().map(|r| r.count).fold(0, u64::saturating_add),
        lost,
        reasons,
    }
}

/// Kernel drop reasons counted over a capture's sampling window (`Capture.drops`): what
/// `check` reads as extra evidence. Reasons are named as the running kernel names them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DropReasons {
    /// Seconds the monitor counted: the capture's window less the few tens of milliseconds
    /// the monitor takes to load after the window starts.
    pub window_seconds: f64,
    /// Drop events the in-kernel map could not hold (counted nowhere below).
    #[serde(default)]
    pub lost: u64,
    /// Reasons, most drops first (`SKB_CONSUMED`, a normal free, is not among them).
    pub reasons: Vec<ReasonTotal>,
}

/// All drops with one reason in a [`DropReasons`] window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonTotal {
    /// Reason name as the kernel spells it, without `SKB_DROP_REASON_` (`NO_SOCKET`).
    pub reason: String,
    /// Packets (skbs) dropped with this reason in the window.
    pub count: u64,
    /// Top locations (at most [`TOP_LOCATIONS`]), most drops first.
    #[serde(default)]
    pub locations: Vec<LocationCount>,
}

impl DropReasons {
    /// Drops per second of `r` over the window (0 for an empty window).
    pub fn rate(&self, r: &ReasonTotal) -> f64 {
        if self.window_seconds > 0.0 {
            r.count as f64 / self.window_seconds
        } else {
            0.0
        }
    }

    /// The entry for reason `name`, if it dropped anything.
    pub fn get(&self, name: &str) -> Option<&ReasonTotal> {
        self.reasons.iter().find(|r| r.reason == name)
    }

    /// The counts of a finished window: `after` minus `before` (two reads of one running
    /// [`DropMonitor`]; a key missing from `before` counts from zero), named and symbolised
    /// like [`aggregate`].
    pub fn from_window(
        before: &[RawDrop],
        after: &[RawDrop],
        lost: u64,
        names: &ReasonNames,
        kallsyms: &str,
        window_seconds: f64,
    ) -> DropReasons {
        let base: BTreeMap<(u32, u64), u64> = before
            .iter()
            .map(|d| ((d.reason, d.location), d.count))
            .collect();
        let delta: Vec<RawDrop> = after
            .iter()
            .map(|d| RawDrop {
                count: d
                    .count
                    .saturating_sub(base.get(&(d.reason, d.location)).copied().unwrap_or(0)),
                ..*d
            })
            .filter(|d| d.count > 0)
            .collect();
        let report = aggregate(&delta, lost, names, kallsyms, window_seconds);
        DropReasons {
            window_seconds,
            lost,
            reasons: report
                .reasons
                .into_iter()
                .map(|r| ReasonTotal {
                    reason: r.reason,
                    count: r.count,
                    locations: r.locations,
                })
                .collect(),
        }
    }
}

/// One line on the usual cause of common drop reasons and where to look.
pub fn explain(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "NOT_SPECIFIED" => "freed without a reason code (kfree_skb); the location tells where",
        "NO_SOCKET" => "no socket listens on the destination port (UDP to a closed port, TCP RST)",
        "SOCKET_RCVBUFF" => {
            "socket receive buffer full: the application reads too slowly or rmem is too small"
        }
        "SOCKET_BACKLOG" => "socket backlog full while the socket was owned by the user",
        "TCP_LISTEN_OVERFLOW" => {
            "accept queue full: raise somaxconn and the application's listen() backlog"
        }
        "TCP_OLD_ACK" | "TCP_TOO_OLD_ACK" => "ACK for data already acknowledged",
        "TCP_INVALID_SEQUENCE" | "TCP_OLD_DATA" | "TCP_OLD_SEQUENCE" => {
            "segment outside the receive window (retransmission or reordering)"
        }
        "NETFILTER_DROP" => "dropped by a netfilter/nftables/iptables rule",
        "QDISC_DROP" => "transmit queue discipline full or policing",
        "CPU_BACKLOG" => {
            "per-CPU softnet backlog full: raise netdev_max_backlog or spread with RPS"
        }
        "FULL_RING" => "ring buffer full",
        "OTHERHOST" => "packet for another host's MAC address (promiscuous or flooding)",
        "PKT_TOO_SMALL" => "truncated or malformed packet",
        "IP_INHDR" => "bad IP header",
        "IP_NOPROTO" => "no handler for the IP protocol",
        "IP_RPFILTER" => "reverse-path filter: source not reachable via the receiving interface",
        "IP_OUTNOROUTES" => "no route to the destination",
        "NEIGH_FAILED" | "NEIGH_QUEUEFULL" => {
            "neighbour (ARP/ND) resolution failed or its queue is full"
        }
        "PROTO_MEM" => "protocol memory limit reached (tcp_mem/udp_mem, in pages)",
        "SOCKET_FILTER" => "dropped by a socket filter (BPF/SO_ATTACH_FILTER)",
        "XDP" => "dropped by an XDP program",
        "TC_INGRESS" | "TC_EGRESS" => "dropped by a tc filter",
        "DEV_READY" => "device not up",
        "NOMEM" => "out of memory allocating an skb",
        "UDP_CSUM" | "TCP_CSUM" | "IP_CSUM" => "bad checksum",
        "TCP_RESET" => "connection reset",
        "SOCKET_CLOSE" => "socket closed with data still queued",
        "UNHANDLED_PROTO" => "protocol not handled",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_names_and_sorts() {
        let mut names = ReasonNames::default();
        names.names.insert(1, "CONSUMED".into());
        names.names.insert(3, "NO_SOCKET".into());
        names.names.insert(6, "SOCKET_RCVBUFF".into());
        names.consumed = Some(1);
        let raw = [
            RawDrop {
                reason: 1,
                location: 0xffffffff81a00010,
                count: 1000,
            },
            RawDrop {
                reason: 3,
                location: 0xffffffff81a005d2,
                count: 120,
            },
            RawDrop {
                reason: 3,
                location: 0xffffffff81a01004,
                count: 7,
            },
            RawDrop {
                reason: 6,
                location: 0xffffffff81a01008,
                count: 40,
            },
            RawDrop {
                reason: 99,
                location: 0x10,
                count: 1,
            },
        ];
        let kallsyms = "ffffffff81a00000 t __udp4_lib_rcv\nffffffff81a01000 T udp_queue_rcv\n";
        let r = aggregate(&raw, 2, &names, kallsyms, 2.0);
        assert_eq!(r.total, 168);
        assert_eq!(r.lost, 2);
        let got: Vec<_> = r
            .reasons
            .iter()
            .map(|x| (x.reason.as_str(), x.count))
            .collect();
        assert_eq!(
            got,
            [
                ("NO_SOCKET", 127),
                ("SOCKET_RCVBUFF", 40),
                ("UNKNOWN(99)", 1)
            ]
        );
        assert_eq!(r.reasons[0].rate, 63.5);
        assert_eq!(r.reasons[0].locations[0].symbol, "__udp4_lib_rcv+0x5d2");
        assert_eq!(r.reasons[0].locations[1].symbol, "udp_queue_rcv+0x4");
        assert_eq!(r.reasons[2].locations[0].symbol, "0x10");
        assert!(r.reasons[0].explanation.is_some());
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["schema"], "nettune.drops/v1");
        assert_eq!(j["reasons"][0]["locations"][0]["count"], 120);
    }

    #[test]
    fn window_subtracts_the_baseline() {
        let mut names = ReasonNames::default();
        names.names.insert(2, "NOT_SPECIFIED".into());
        names.names.insert(3, "NO_SOCKET".into());
        let d = |reason, location, count| RawDrop {
            reason,
            location,
            count,
        };
        let before = [d(3, 0x20, 100), d(2, 0x30, 5)];
        let after = [d(3, 0x20, 160), d(3, 0x40, 4), d(2, 0x30, 5)];
        let w = DropReasons::from_window(&before, &after, 1, &names, "", 2.0);
        assert_eq!(w.window_seconds, 2.0);
        assert_eq!(w.lost, 1);
        assert_eq!(w.reasons.len(), 1, "{w:?}");
        let r = w.get("NO_SOCKET").unwrap();
        assert_eq!(r.count, 64);
        assert_eq!(w.rate(r), 32.0);
        assert_eq!(r.locations[0].symbol, "0x20");
        assert_eq!(r.locations[0].count, 60);
        assert_eq!(r.locations[1].count, 4);
        assert!(w.get("NOT_SPECIFIED").is_none());
        let back: DropReasons = serde_json::from_value(serde_json::to_value(&w).unwrap()).unwrap();
        assert_eq!(back, w);
    }
}
