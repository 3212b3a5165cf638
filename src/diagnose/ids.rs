//! The finding catalogue: every finding id as a typed constant, so a rule, the drop-reason
//! mapping, the lab or a test that names a finding by a misspelt id fails to compile.
//! [`Finding::id`](super::Finding::id) stays the plain `area.what` string in JSON (alerts
//! and dashboards key on it); [`FindingId`] converts into it and compares with it.
//!
//! A new finding: add one line to the `catalogue!` list below; the test beside it checks
//! that every rule's name is a catalogue id and every id is unique.

use std::fmt;

/// A finding id of the catalogue (`area.what`). Only this module can make one, so every
/// value is one of the constants below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingId(&'static str);

impl FindingId {
    /// The id as it appears in JSON and the report (`softnet.backlog_drops`).
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The catalogue id spelled `id`, if there is one (for ids read back from JSON).
    pub fn find(id: &str) -> Option<FindingId> {
        ALL.iter().copied().find(|f| f.0 == id)
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl From<FindingId> for String {
    fn from(id: FindingId) -> String {
        id.0.to_string()
    }
}

impl AsRef<str> for FindingId {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl PartialEq<FindingId> for String {
    fn eq(&self, other: &FindingId) -> bool {
        self == other.0
    }
}

impl PartialEq<FindingId> for str {
    fn eq(&self, other: &FindingId) -> bool {
        self == other.0
    }
}

impl PartialEq<FindingId> for &str {
    fn eq(&self, other: &FindingId) -> bool {
        *self == other.0
    }
}

/// Defines each constant and [`ALL`] from one list, so no id can be missing from it.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $name:ident = $id:literal,)*) => {
        $(
            $(#[$doc])*
            pub const $name: FindingId = FindingId($id);
        )*
        /// Every finding id, in rule evaluation order (then the drop-reason pass).
        pub const ALL: &[FindingId] = &[$($name),*];
    };
}

catalogue! {
    /// A CPU's softnet backlog overflowed (`softnet_stat` dropped).
    SOFTNET_BACKLOG_DROPS = "softnet.backlog_drops",
    /// NET_RX ran out of budget or time with packets left (`time_squeeze`).
    SOFTNET_TIME_SQUEEZE = "softnet.time_squeeze",
    /// The per-flow backlog limit dropped packets (`flow_limit_count`).
    SOFTNET_FLOW_LIMIT = "softnet.flow_limit",
    /// Received packets are processed on one CPU while others idle.
    SOFTNET_CPU_IMBALANCE = "softnet.cpu_imbalance",
    /// RPS is off on a busy single-queue device.
    RPS_DISABLED = "rps.disabled",
    /// A receive ring is small and the NIC drops for lack of descriptors.
    NIC_RX_RING_SMALL = "nic.rx_ring_small",
    /// The device drops received packets (`rx_dropped`, driver counters).
    NIC_RX_DROPS = "nic.rx_drops",
    /// Receive or transmit errors on a device.
    NIC_ERRORS = "nic.errors",
    /// Fewer RSS queues in use than the NIC and CPUs allow.
    NIC_RSS_QUEUES = "nic.rss_queues",
    /// Interrupt coalescing does not fit the profile's intent.
    NIC_COALESCE = "nic.coalesce",
    /// A receive or segmentation offload is off.
    NIC_OFFLOAD_DISABLED = "nic.offload_disabled",
    /// A NIC's queue interrupts land on one CPU.
    IRQ_AFFINITY_CONCENTRATED = "irq.affinity_concentrated",
    /// A NIC's interrupts are served from another NUMA node.
    IRQ_NUMA_REMOTE = "irq.numa_remote",
    /// Accept queues overflowed (`ListenOverflows`).
    TCP_LISTEN_OVERFLOW = "tcp.listen_overflow",
    /// SYN queue drops or SYN cookies sent.
    TCP_SYN_QUEUE = "tcp.syn_queue",
    /// TCP buffer maxima below the bandwidth-delay product.
    TCP_BUFFER_BELOW_BDP = "tcp.buffer_below_bdp",
    /// TCP memory under pressure (`tcp_mem`).
    TCP_MEMORY_PRESSURE = "tcp.memory_pressure",
    /// Socket backlog drops (`TCPBacklogDrop`).
    TCP_BACKLOG_DROP = "tcp.backlog_drop",
    /// A high share of segments retransmitted.
    TCP_RETRANSMITS = "tcp.retransmits",
    /// A bulk sender without a modern congestion control.
    TCP_CONGESTION_CONTROL = "tcp.congestion_control",
    /// BBR without the fq qdisc's pacing.
    QDISC_PACING = "qdisc.pacing",
    /// Local ports run out towards one destination.
    TCP_PORT_EXHAUSTION = "tcp.port_exhaustion",
    /// UDP receive buffer drops (`RcvbufErrors`).
    UDP_RCVBUF_ERRORS = "udp.rcvbuf_errors",
    /// The conntrack table is (nearly) full or drops.
    CONNTRACK_NEAR_FULL = "conntrack.near_full",
    /// Open files near `fs.file-max`.
    FD_NEAR_LIMIT = "fd.near_limit",
    /// SYN cookies are off.
    SECURITY_SYNCOOKIES_OFF = "security.syncookies_off",
    /// TCP timestamps are off.
    SECURITY_TIMESTAMPS_OFF = "security.timestamps_off",
    /// A sysctl.d file sets a key this kernel does not have.
    CONFIG_DEAD_KEY = "config.dead_key",
    /// A sysctl in pages was set as if it were bytes.
    CONFIG_PAGES_NOT_BYTES = "config.pages_not_bytes",
    /// The reverse-path filter drops packets (`IPReversePathFilter`).
    IP_RP_FILTER_DROPS = "ip.rp_filter_drops",
    /// Segments or datagrams arrive with a bad checksum (`InCsumErrors`).
    IP_CHECKSUM_ERRORS = "ip.checksum_errors",
    /// IP fragment reassembly fails (`ReasmFails`, IPv4 and IPv6).
    IP_FRAG_REASSEMBLY_FAILS = "ip.frag_reassembly_fails",
    /// The IPv6 route (dst) cache is near or at `net.ipv6.route.max_size` (kernels < 6.3).
    IPV6_ROUTE_TABLE_FULL = "ipv6.route_table_full",
    /// TCP receive queues pruned or collapsed (`RcvPruned`, `OfoPruned`, `PruneCalled`).
    TCP_RCV_PRUNED = "tcp.rcv_pruned",
    /// Segments dropped against a zero receive window (`TCPZeroWindowDrop`).
    TCP_ZERO_WINDOW_DROP = "tcp.zero_window_drop",
    /// Segments below a socket's minimum TTL dropped (`TCPMinTTLDrop`).
    TCP_MIN_TTL_DROP = "tcp.min_ttl_drop",
    /// Listeners drop SYNs for reasons other than a full accept or SYN queue.
    TCP_LISTEN_DROPS = "tcp.listen_drops",
    /// Retransmits while the original was still in a host queue (`TCPSpuriousRtxHostQueues`).
    TCP_SPURIOUS_RTX_HOST_QUEUES = "tcp.spurious_rtx_host_queues",
    /// UDP datagrams dropped for reasons other than a full buffer (`Udp.InErrors`).
    UDP_IN_ERRORS = "udp.in_errors",
    /// UDP memory near or at `udp_mem`.
    UDP_MEMORY = "udp.memory",
    /// Packets dropped from memory reserves (`PFMemallocDrop`).
    SYSTEM_PFMEMALLOC_DROP = "system.pfmemalloc_drop",
    /// Netlink sockets drop messages (`/proc/net/netlink` Drops).
    NETLINK_SOCKET_DROPS = "netlink.socket_drops",
    /// Qdiscs drop packets (`tc -s qdisc` dropped/overlimits).
    QDISC_DROPS = "qdisc.drops",
    /// The neighbour (ARP/NDP) table overflowed.
    NEIGH_TABLE_OVERFLOW = "neigh.table_overflow",
    /// A transmit queue timed out (`NETDEV WATCHDOG` in the kernel log).
    NIC_TX_TIMEOUT = "nic.tx_timeout",
    /// Packets over a device's MTU were dropped (kernel log).
    LOG_OVER_MTU = "log.over_mtu",
    /// The conntrack table was full and dropped packets (kernel log).
    LOG_CONNTRACK_TABLE_FULL = "log.conntrack_table_full",
    /// TCP ran out of memory (kernel log).
    LOG_TCP_OUT_OF_MEMORY = "log.tcp_out_of_memory",
    /// A listener saw a possible SYN flood and sent cookies (kernel log).
    LOG_SYN_FLOODING = "log.syn_flooding",
    /// Kernel drop reasons that no finding explains (the drop-reason pass).
    DROPS_UNEXPLAINED = "drops.unexplained",
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_id_is_unique_well_formed_and_in_the_catalogue() {
        let unique: BTreeSet<&str> = ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(unique.len(), ALL.len(), "duplicate id in {ALL:?}");
        for id in ALL {
            let (area, what) = id.as_str().split_once('.').expect("area.what");
            // Lowercase words; digits after the first letter (`ipv6`).
            let ok = |s: &str| {
                s.starts_with(|c: char| c.is_ascii_lowercase())
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            };
            assert!(ok(area) && ok(what), "{id} is not area.what");
            assert_eq!(FindingId::find(id.as_str()), Some(*id));
        }
        assert_eq!(FindingId::find("softnet.backlog_drop"), None);
        // Every constant of this file is in ALL: count the definitions in the source.
        let source = include_str!("ids.rs");
        let defined = source
            .lines()
            .filter(|l| {
                let l = l.trim();
                l.ends_with("\",")
                    && l.contains(" = \"")
                    && l.starts_with(|c: char| c.is_ascii_uppercase())
            })
            .count();
        assert_eq!(defined, ALL.len());
    }

    #[test]
    fn every_rule_is_named_by_its_catalogue_id() {
        // Rule names are catalogue ids by type; each names one rule.
        let rules: Vec<FindingId> = crate::diagnose::rules().map(|r| r.name).collect();
        let unique: BTreeSet<FindingId> = rules.iter().copied().collect();
        assert_eq!(
            unique.len(),
            rules.len(),
            "two rules share a name: {rules:?}"
        );
        // And every id but the drop-reason pass's own is some rule's.
        for id in ALL.iter().filter(|i| **i != DROPS_UNEXPLAINED) {
            assert!(rules.contains(id), "no rule for {id}");
        }
    }

    #[test]
    fn ids_compare_with_and_become_the_json_string() {
        let s: String = SOFTNET_BACKLOG_DROPS.into();
        assert_eq!(s, "softnet.backlog_drops");
        assert!(s == SOFTNET_BACKLOG_DROPS);
        assert!("softnet.backlog_drops" == SOFTNET_BACKLOG_DROPS);
        assert_eq!(SOFTNET_BACKLOG_DROPS.to_string(), s);
    }
}
