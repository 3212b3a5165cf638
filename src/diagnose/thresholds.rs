//! Every threshold the rules use, in one table to review. Values are starting points from
//! public practice (DESIGN §4); each says what it compares and its unit.

// ---- softnet / nic / irq / rps (rules in softnet.rs, nic.rs, irq.rs) ----

/// `softnet.backlog_drops` fires (critical) when a CPU's softnet `dropped` rate is above this
/// (drops per second). Every backlog drop is a lost packet, so any rise counts.
pub const SOFTNET_DROP_RATE_MIN: f64 = 0.0;

/// Kernel default of `net.core.netdev_max_backlog` (packets per CPU), assumed for sizing when
/// the sysctl could not be read.
pub const NETDEV_MAX_BACKLOG_DEFAULT: u64 = 1000;

/// Smallest step when raising `netdev_max_backlog`: proposed ≥ current × this.
pub const BACKLOG_STEP_MIN: u64 = 2;

/// Largest step when raising `netdev_max_backlog`: proposed ≤ current × this.
pub const BACKLOG_STEP_MAX: u64 = 4;

/// Share of a CPU's arrivals that were dropped (dropped / (processed + dropped), 0–1) at or
/// above which one step is [`BACKLOG_STEP_MAX`] instead of [`BACKLOG_STEP_MIN`].
pub const BACKLOG_STEEP_DROP_SHARE: f64 = 0.05;

/// `netdev_max_backlog` sized by link speed: rows of (link speed at or above, Gbit/s;
/// backlog, packets per CPU). The last row whose speed is ≤ the link speed applies
/// (≤ 1 Gbps 1000; 1–10 Gbps 5000–10000; 10 Gbps 30000; 40 Gbps 60000; 100 Gbps 100000).
/// The step never exceeds [`BACKLOG_STEP_MAX`] × current, so a large target takes several
/// steps, each verified.
pub const BACKLOG_BY_LINK_SPEED: &[(f64, u64)] = &[
    (0.0, 1000),
    (1.5, 5000),
    (5.0, 10000),
    (10.0, 30000),
    (40.0, 60000),
    (100.0, 100000),
];

/// Memory one queued backlog packet may pin (bytes): an skb of a 1500-byte frame with its
/// truesize overhead is about 2 KiB.
pub const BACKLOG_BYTES_PER_PACKET: u64 = 2048;

/// Memory budget for all softnet backlogs together, as a share of RAM (`MemTotal`, 0–1):
/// `netdev_max_backlog` × [`BACKLOG_BYTES_PER_PACKET`] × CPUs must stay within it (the
/// worst case where every CPU's backlog is full at once). 1 % of 8 GiB on 4 CPUs allows
/// 10000; 1 % of 256 GiB on 64 CPUs allows 20000.
pub const BACKLOG_MEMORY_BUDGET_RAM_SHARE: f64 = 0.01;

/// The same budget in bytes when the RAM size is unknown (1 GiB; on 2 CPUs it allows
/// 262144, on 64 CPUs 8192).
pub const BACKLOG_MEMORY_BUDGET_BYTES: u64 = 1 << 30;

/// Kernel default of `net.core.flow_limit_table_len` (flow buckets per CPU).
pub const FLOW_LIMIT_TABLE_LEN_DEFAULT: u64 = 4096;

/// `softnet.flow_limit` fires (warning) when a CPU's flow-limit drop rate is above this
/// (drops per second).
pub const FLOW_LIMIT_RATE_MIN: f64 = 0.0;

/// `softnet.time_squeeze`: a CPU's squeeze rate must exceed this (events per second) ...
pub const SQUEEZE_RATE_MIN: f64 = 1.0;

/// ... and be at least this fraction of the packets it processed (squeezes per packet;
/// 1e-4 = one per 10,000 packets; a fully loaded 300-packet poll that always squeezes is
/// 3.3e-3) ...
pub const SQUEEZE_PER_PACKET_MIN: f64 = 1e-4;

/// ... while it processes at least this many packets per second (a trickle that squeezes is
/// a starved vCPU, not a budget problem).
pub const SQUEEZE_MIN_PPS: f64 = 1000.0;

/// Kernel default of `net.core.netdev_budget` (packets per NAPI cycle).
pub const NETDEV_BUDGET_DEFAULT: u64 = 300;

/// At most this many devices are named as the ones a hot CPU processes packets of.
pub const ATTRIBUTED_DEVICES_MAX: usize = 5;

/// Kernel default of `net.core.netdev_budget_usecs` at HZ=1000 (µs; 2 jiffies, so 8000 at
/// HZ=250): the smallest default of any usual tick rate, the floor a value is "below the
/// default" against.
pub const NETDEV_BUDGET_USECS_DEFAULT_MIN: u64 = 2000;

/// Kernel default of `net.core.rmem_default`, `rmem_max`, `wmem_default` and `wmem_max`
/// (bytes: 256 packets of `SKB_TRUESIZE(256)`).
pub const SOCKET_BUFFER_DEFAULT_BYTES: u64 = 212_992;

/// The kernel's defaults of the tunables whose symptom rules check "set below the default"
/// (`fixes::below_default`): a value below its default where its symptom fires is the
/// cause, and the fix restores at least the default whatever else is advised. `somaxconn`
/// is the 5.4+ default; `tcp_max_syn_backlog` is the kernel's floor (it sizes it from
/// memory, 128 at least).
pub const KERNEL_DEFAULTS: &[(&str, u64)] = &[
    ("net.core.netdev_budget", NETDEV_BUDGET_DEFAULT),
    (
        "net.core.netdev_budget_usecs",
        NETDEV_BUDGET_USECS_DEFAULT_MIN,
    ),
    ("net.core.netdev_max_backlog", NETDEV_MAX_BACKLOG_DEFAULT),
    ("net.core.somaxconn", SOMAXCONN_FLOOR),
    ("net.ipv4.tcp_max_syn_backlog", 128),
    ("net.core.rmem_default", SOCKET_BUFFER_DEFAULT_BYTES),
    ("net.core.rmem_max", SOCKET_BUFFER_DEFAULT_BYTES),
    ("net.core.wmem_default", SOCKET_BUFFER_DEFAULT_BYTES),
    ("net.core.wmem_max", SOCKET_BUFFER_DEFAULT_BYTES),
    (
        "net.core.flow_limit_table_len",
        FLOW_LIMIT_TABLE_LEN_DEFAULT,
    ),
];

/// The kernel default of `key` from [`KERNEL_DEFAULTS`].
pub fn kernel_default(key: &str) -> Option<u64> {
    KERNEL_DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
}

/// Never propose `netdev_budget` above this (packets per cycle); beyond it the fix is more
/// CPUs for NET_RX, not a longer softirq.
pub const NETDEV_BUDGET_CEILING: u64 = 1200;

/// Never propose `netdev_budget_usecs` above this (µs one NET_RX softirq may run; 20 ms).
pub const NETDEV_BUDGET_USECS_CEILING: u64 = 20_000;

/// `softnet.cpu_imbalance`: one CPU's share of all packets processed (0–1) at or above which
/// the load counts as concentrated ...
pub const IMBALANCE_SHARE: f64 = 0.8;

/// ... when all CPUs together process at least this many packets per second.
pub const IMBALANCE_MIN_PPS: f64 = 10_000.0;

/// A concentrated load (or an un-steered single-queue device) is a warning when the total
/// reaches this rate (packets per second) or the hot CPU shows strain (drops, squeezes or
/// [`CPU_SOFTIRQ_BUSY_SHARE`]); below it, an info.
pub const IMBALANCE_WARN_PPS: f64 = 100_000.0;

/// Share of a CPU's time spent in softirq (0–1, from /proc/stat) that counts as strain.
pub const CPU_SOFTIRQ_BUSY_SHARE: f64 = 0.3;

/// `rps.disabled`: a single-queue device must receive at least this many packets per second
/// before steering is proposed (info); warning as for [`IMBALANCE_WARN_PPS`].
pub const RPS_MIN_PPS: f64 = 10_000.0;

/// `net.core.rps_sock_flow_entries` proposed for RFS (global flow table entries; the
/// kernel's documentation suggests 32768 for a moderately loaded server).
pub const RPS_SOCK_FLOW_ENTRIES: u64 = 32768;

/// `nic.rx_ring_small` without drop counters: warning when a full rx ring lasts less than
/// this at the current rate per queue (seconds; time-to-fill = ring / pps per queue).
pub const RING_FILL_WARN_SECONDS: f64 = 0.001;

/// Receive buffer memory per ring descriptor when the driver does not report `rx_buf_len`
/// (bytes; a page fragment for a 1500-byte MTU).
pub const RING_BYTES_PER_DESCRIPTOR: u64 = 2048;

/// Driver statistics (`ethtool -S` names, matched as lower-case substrings) that count rx
/// packets lost in the NIC because no ring descriptor was free: ring pressure that is also
/// a drop.
pub const RING_DROP_STATS: &[&str] = &[
    "rx_missed",
    "missed_errors",
    "rx_fifo",
    "fifo_errors",
    "out_of_buffer",
    "rx_discards",
    "rx_dropped",
    "rx_drops",
];

/// Driver statistics that count ring pressure without a drop (igb/e1000e
/// `rx_no_buffer_count`: a descriptor was not there in time, the NIC FIFO held the frame).
pub const RING_PRESSURE_STATS: &[&str] = &["no_buffer", "nobuf", "no_buff"];

/// Driver statistics that count physical-layer errors (bad cable, optics, duplex mismatch).
pub const PHYSICAL_ERROR_STATS: &[&str] = &[
    "crc",
    "align",
    "symbol",
    "length_errors",
    "jabber",
    "fragment",
    "undersize",
    "oversize",
    "carrier",
];

/// Driver statistics that count checksum failures reported by the NIC.
pub const CHECKSUM_ERROR_STATS: &[&str] = &["csum_err", "csum_bad", "checksum_err"];

/// `nic.rx_drops` is a warning at or above this drop rate (drops per second) ...
pub const NIC_DROP_WARN_RATE: f64 = 10.0;

/// ... or when drops are at least this share of received packets (0–1) and at least
/// [`NIC_DROP_SHARE_MIN_RATE`] per second; below both it is an info (frames for protocols
/// nobody listens to, such as LLDP, trickle in at < 1/s on idle hosts).
pub const NIC_DROP_WARN_SHARE: f64 = 0.001;

/// See [`NIC_DROP_WARN_SHARE`] (drops per second).
pub const NIC_DROP_SHARE_MIN_RATE: f64 = 1.0;

/// `nic.errors` fires (warning) when a device's error rate is above this (errors per
/// second). Errors are never normal; any rise counts.
pub const NIC_ERROR_RATE_MIN: f64 = 0.0;

/// `nic.rss_queues` is a warning when the device receives at least this many packets per
/// second; an info when the window shows less (or there is no window).
pub const RSS_WARN_PPS: f64 = 10_000.0;

/// Profile `latency`: rx-usecs above this is clearly mismatched (µs) ...
pub const LATENCY_RX_USECS_FIRE: u32 = 25;

/// ... and this is proposed (µs; the top of the 0–10 µs latency range, the cheapest in CPU).
pub const LATENCY_RX_USECS: u32 = 10;

/// Profile `throughput`: rx-usecs below this is clearly mismatched (µs) ...
pub const THROUGHPUT_RX_USECS_FIRE: u32 = 32;

/// ... and this is proposed (µs; 64–128 µs range).
pub const THROUGHPUT_RX_USECS: u32 = 128;

/// Profile `throughput`: rx-frames below this is clearly mismatched (frames) ...
pub const THROUGHPUT_RX_FRAMES_FIRE: u32 = 16;

/// ... and this is proposed (frames; 32–64 range).
pub const THROUGHPUT_RX_FRAMES: u32 = 64;

/// `nic.offload_disabled`: a device moves bulk data when its rate in one direction is at
/// least this (bytes per second; 12.5 MB/s = 100 Mbit/s) ...
pub const OFFLOAD_BULK_BYTES_PER_S: f64 = 12_500_000.0;

/// ... and the host's TCP segment rate in that direction is at least this (segments/s).
pub const OFFLOAD_BULK_TCP_SEGS_PER_S: f64 = 1000.0;

/// `irq.affinity_concentrated`: share of a NIC's queue interrupts (0–1) taken by one CPU at
/// or above which they count as concentrated ...
pub const IRQ_CONCENTRATED_SHARE: f64 = 0.95;

/// ... when the NIC's queue IRQs fire at least this often together (interrupts per second;
/// at lower rates placement does not matter and cannot be seen reliably).
pub const IRQ_MIN_RATE: f64 = 1000.0;

/// `irq.affinity_concentrated`: a queue IRQ counts as active when it takes at least this
/// share (0–1) of the NIC's queue interrupts; two active IRQs are needed (one busy queue
/// alone says nothing about placement).
pub const IRQ_ACTIVE_SHARE: f64 = 0.05;

/// `irq.numa_remote`: share (0–1) of a NIC's queue interrupts handled on CPUs of another
/// NUMA node at or above which it fires.
pub const IRQ_NUMA_REMOTE_SHARE: f64 = 0.5;

// ---- tcp / udp / conntrack / system / config (rules in tcp.rs, udp.rs, conntrack.rs,
//      system.rs, config.rs) ----

/// `tcp.listen_overflow`: accept-queue overflows (`TcpExt.ListenOverflows`) per second above
/// which the rule fires (any overflow is a dropped handshake). 1/s.
pub const LISTEN_OVERFLOW_MIN_PER_S: f64 = 0.0;
/// `tcp.listen_overflow`: the `net.core.somaxconn` floor proposed when it caps a full accept
/// queue (the kernel default since 5.4). Connections.
pub const SOMAXCONN_FLOOR: u64 = 4096;
/// `tcp.listen_overflow`: `somaxconn` / `tcp_max_syn_backlog` are raised by this factor per
/// step (and at least to [`SOMAXCONN_FLOOR`]). Ratio.
pub const SOMAXCONN_STEP: u64 = 4;
/// `tcp.listen_overflow`: never propose a listen queue limit above this. Connections.
pub const SOMAXCONN_CAP: u64 = 65535;
/// `tcp.listen_overflow`: at most this many listeners are named in one finding.
pub const LISTENERS_NAMED: usize = 3;

/// `tcp.syn_queue`: SYN-flood test: cookies sent per second at or above which the answer
/// rate below is checked. 1/s.
pub const FLOOD_COOKIES_SENT_PER_S: f64 = 200.0;
/// `tcp.syn_queue`: a flood when fewer than this share of the cookies sent come back as a
/// valid ACK (`SyncookiesRecv / SyncookiesSent`): spoofed sources never answer. Ratio 0–1.
pub const FLOOD_COOKIES_ANSWERED_MAX: f64 = 0.2;
/// `tcp.syn_queue`: a flood when invalid cookie ACKs (`SyncookiesFailed`) arrive at this rate
/// or more (ACK floods, forged cookies). 1/s.
pub const FLOOD_COOKIES_FAILED_PER_S: f64 = 100.0;

/// `tcp.buffer_below_bdp`: fires when the `tcp_rmem`/`tcp_wmem` max is below this many BDPs.
pub const BDP_MIN_FACTOR: f64 = 2.0;
/// `tcp.buffer_below_bdp`: the proposed max is this many BDPs (rounded up to a MiB).
pub const BDP_PROPOSED_FACTOR: f64 = 2.5;
/// `tcp.buffer_below_bdp`: never propose a per-socket buffer max above this. Bytes (1 GiB).
pub const BDP_BUFFER_CAP_BYTES: u64 = 1 << 30;
/// `tcp.buffer_below_bdp`: measured RTTs need at least this many established non-loopback
/// sockets to be trusted. Sockets.
pub const BDP_MIN_RTT_SAMPLES: u64 = 3;
/// Link speed assumed when none is measured or given (`--link-speed`). Gbit/s. Rules do not
/// fire on it; the profiles' `at_least = "bdp"` sizes from it (see `context`).
pub const DEFAULT_LINK_GBPS: f64 = 10.0;
/// Round-trip time assumed when none is measured or given (`--rtt`). Milliseconds. Rules do
/// not fire on it; the profiles' `at_least = "bdp"` sizes from it (see `context`).
pub const DEFAULT_RTT_MS: f64 = 20.0;
/// `tcp.buffer_below_bdp`: measured (not declared) speed and RTT give a warning only when
/// the interface moves at least this share of its link speed in one direction, otherwise an
/// info. Ratio 0–1.
pub const BDP_BUSY_LINK_SHARE: f64 = 0.1;

/// `tcp.memory_pressure`: sockstat TCP `mem` at or above this share of `tcp_mem` high
/// (both pages) counts as near the limit. Ratio 0–1.
pub const TCP_MEM_NEAR_HIGH: f64 = SOCKET_MEM_HIGH_SHARE;
/// `tcp.memory_pressure` / `udp.rcvbuf_errors`: the proposed `tcp_mem`/`udp_mem` high never
/// exceeds this share of RAM. Ratio 0–1.
pub const SOCKET_MEM_MAX_RAM_SHARE: f64 = 0.25;
/// `tcp.memory_pressure`: `tcp_mem` is raised by this factor per step (bounded by
/// [`SOCKET_MEM_MAX_RAM_SHARE`]). Ratio.
pub const TCP_MEM_STEP: f64 = 2.0;

/// `tcp.backlog_drop`: `TCPBacklogDrop` + `TCPRcvQDrop` per second above which it fires. 1/s.
pub const BACKLOG_DROP_MIN_PER_S: f64 = 0.0;
/// `tcp.backlog_drop`: the `tcp_rmem` max proposed is at least this. Bytes (16 MiB).
pub const BACKLOG_RMEM_FLOOR_BYTES: u64 = 16 << 20;
/// `tcp.backlog_drop`: nor more than this. Bytes (64 MiB).
pub const BACKLOG_RMEM_CAP_BYTES: u64 = 64 << 20;

/// `tcp.retransmits`: retransmitted / sent segments at or above which it warns. Ratio 0–1.
pub const RETRANS_WARN_RATIO: f64 = 0.02;
/// `tcp.retransmits`: … and at or above which it is critical. Ratio 0–1.
pub const RETRANS_CRIT_RATIO: f64 = 0.10;
/// `tcp.retransmits`: segments sent per second below which the ratio is not judged. 1/s.
pub const RETRANS_MIN_OUT_SEGS_PER_S: f64 = 100.0;
/// `tcp.retransmits`: … and segments sent in the whole window below which it is not judged.
pub const RETRANS_MIN_OUT_SEGS: i64 = 1000;

/// `tcp.congestion_control` / `qdisc.pacing`: without a throughput profile these info
/// findings need the host to send at least this many TCP segments per second. 1/s.
pub const CC_MIN_OUT_SEGS_PER_S: f64 = 1000.0;

/// `tcp.port_exhaustion`: TIME_WAIT sockets to one destination at or above this share of
/// the ephemeral port range warn. Ratio 0–1.
pub const PORTS_WARN_SHARE: f64 = 0.5;
/// `tcp.port_exhaustion`: … and at or above this share are critical. Ratio 0–1.
pub const PORTS_CRIT_SHARE: f64 = 0.8;
/// `tcp.port_exhaustion`: how long a socket stays in TIME_WAIT (`TCP_TIMEWAIT_LEN`, fixed in
/// the kernel). Seconds.
pub const TIME_WAIT_SECONDS: f64 = 60.0;
/// `tcp.port_exhaustion`: proposed lowest ephemeral port (below the common server ports
/// is avoided; `ip_local_reserved_ports` protects the rest). Port.
pub const PORT_RANGE_LOW: u32 = 10240;
/// `tcp.port_exhaustion`: proposed highest ephemeral port. Port.
pub const PORT_RANGE_HIGH: u32 = 65535;

/// `udp.rcvbuf_errors`: receive-buffer errors per second above which it fires. 1/s.
pub const UDP_RCVBUF_ERRORS_MIN_PER_S: f64 = 0.0;
/// `udp.rcvbuf_errors`: how long a receiver may stall (GC pause, scheduling) while its
/// buffer absorbs the arriving datagrams. Seconds.
pub const UDP_STALL_SECONDS: f64 = 0.1;
/// `udp.rcvbuf_errors`: memory charged per queued datagram (skb truesize of a ≤1500-byte
/// datagram). Bytes.
pub const UDP_TRUESIZE_BYTES: u64 = 2304;
/// `udp.rcvbuf_errors`: the proposed receive buffer is at least this. Bytes (4 MiB).
pub const UDP_RMEM_FLOOR_BYTES: u64 = 4 << 20;
/// `udp.rcvbuf_errors`: the proposed `rmem_default` never exceeds this (it applies to every
/// new non-TCP socket). Bytes (32 MiB).
pub const UDP_RMEM_DEFAULT_CAP_BYTES: u64 = 32 << 20;
/// `udp.rcvbuf_errors`: the proposed `rmem_max` never exceeds this. Bytes (256 MiB).
pub const UDP_RMEM_MAX_CAP_BYTES: u64 = 256 << 20;
/// `udp.rcvbuf_errors`: sockstat UDP `mem` at or above this share of `udp_mem` high (both
/// pages) means the global limit, not the socket buffer, drops. Ratio 0–1.
pub const UDP_MEM_NEAR_HIGH: f64 = SOCKET_MEM_HIGH_SHARE;

/// `conntrack.near_full`: table fill (count / max) above which it warns. Ratio 0–1.
pub const CONNTRACK_WARN_FILL: f64 = 0.75;
/// `conntrack.near_full`: … and above which it is critical. Ratio 0–1.
pub const CONNTRACK_CRIT_FILL: f64 = 0.90;
/// `conntrack.near_full`: the proposed `nf_conntrack_max` leaves the table this full at
/// today's count. Ratio 0–1.
pub const CONNTRACK_TARGET_FILL: f64 = 0.5;
/// `conntrack.near_full`: highest `nf_conntrack_max / nf_conntrack_buckets` accepted
/// (average hash chain length). Entries per bucket.
pub const CONNTRACK_MAX_PER_BUCKET: u64 = 8;
/// `conntrack.near_full`: entries per bucket when buckets are resized. Entries per bucket.
pub const CONNTRACK_PROPOSED_PER_BUCKET: u64 = 4;
/// `conntrack.near_full`: kernel memory per conntrack entry (`struct nf_conn` plus
/// extensions, rounded up). Bytes.
pub const CONNTRACK_ENTRY_BYTES: u64 = 320;

/// `fd.near_limit`: allocated file handles / `fs.file-max` above which it warns. Ratio 0–1.
pub const FD_WARN_FILL: f64 = 0.80;
/// `fd.near_limit`: … and above which it is critical. Ratio 0–1.
pub const FD_CRIT_FILL: f64 = 0.95;
/// `fd.near_limit`: the proposed `fs.file-max` leaves the table this full. Ratio 0–1.
pub const FD_TARGET_FILL: f64 = 0.5;

// ---- counters judged over any window (rules in ip.rs, tcp.rs, udp.rs, system.rs,
//      netlink.rs, qdisc.rs, neigh.rs) ----

/// A counter judged over a window of any length, from a 1-s live window to a since-boot
/// total over years of uptime (an archive): it fires when the window counted at least
/// `min_count` events **and** those are at least `min_share` of the traffic they belong to
/// (when that is known) **or** arrive at `min_rate` per second or more. The count keeps a
/// handful of events in two years from firing, the share keeps a few thousand among
/// billions of packets from firing, the rate keeps a real problem on a busy host firing
/// whatever its share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountThreshold {
    /// Events in the window below which it never fires. Events.
    pub min_count: f64,
    /// Events / related traffic (0–1) at or above which it fires.
    pub min_share: f64,
    /// Events per second at or above which it fires whatever the share. 1/s.
    pub min_rate: f64,
}

impl CountThreshold {
    /// Whether `count` events over `seconds`, out of `base` related packets/segments/
    /// datagrams (`None` when unknown), fire.
    pub fn fires(&self, count: f64, base: Option<f64>, seconds: f64) -> bool {
        if count < self.min_count || count <= 0.0 {
            return false;
        }
        let share = base.filter(|b| *b > 0.0).map(|b| count / b);
        share.is_some_and(|s| s >= self.min_share) || count / seconds.max(1e-9) >= self.min_rate
    }
}

/// `tcp.listen_overflow`, `tcp.syn_queue`, `tcp.backlog_drop`, `udp.rcvbuf_errors`: their
/// drop counters against the related traffic (passive opens, segments or datagrams
/// received) besides their rate thresholds, so a burst long ago in an archive's since-boot
/// totals does not fire while any live drop still does (one event in a 5-s window is
/// 0.2/s; in a long exporter window it is still a large share of the traffic).
pub const DROP_COUNTER: CountThreshold = CountThreshold {
    min_count: 1.0,
    min_share: 0.00001,
    min_rate: 0.1,
};

/// `nic.errors`: device and driver error counters (rx errors beyond fifo overruns, frame,
/// tx errors, physical-layer and checksum driver statistics) against packets received and
/// sent. Any sustained error counts; a few over years of uptime do not.
pub const NIC_ERRORS: CountThreshold = CountThreshold {
    min_count: 5.0,
    min_share: 0.00001,
    min_rate: 0.1,
};

/// `ip.rp_filter_drops`: `IPReversePathFilter` against IP packets received (`Ip.InReceives`).
/// One packet in 10,000 (0.01 %) dropped for its source is legitimate traffic lost to an
/// asymmetric route, worth a look; hotsos raises it at > 500 since boot whatever the
/// traffic (its openstack test archive: 2,124 of 2.2 million, 0.098 %, in 17 h).
pub const RP_FILTER_DROPS: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.0001,
    min_rate: 1.0,
};

/// `ip.checksum_errors`: `InCsumErrors` (TCP, UDP, UDP-Lite, ICMP) against segments and
/// datagrams received.
pub const CHECKSUM_ERRORS: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.0001,
    min_rate: 1.0,
};
/// `ip.checksum_errors` is critical at or above this share of what was received. 0–1.
pub const CHECKSUM_ERRORS_CRIT_SHARE: f64 = 0.01;

/// `ip.frag_reassembly_fails`: `ReasmFails` against fragments received for reassembly
/// (`ReasmReqds`), per family (`Ip` for IPv4, `Ip6` for IPv6). At least 10 failures (a
/// handful over years of uptime is noise), and 1 % of the fragments (one lost fragment
/// loses its whole datagram, so 1 % of fragments is a larger share of fragmented
/// datagrams) or 1/s (a busy tunnel or NFS-over-UDP host loses datagrams whatever the share).
pub const FRAG_REASM_FAILS: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.01,
    min_rate: 1.0,
};
/// `ip.frag_reassembly_fails`: the namespace's fragment memory (sockstat `FRAG`/`FRAG6`
/// `memory`, bytes) at or above this share of `ipfrag_high_thresh`/`ip6frag_high_thresh`
/// (bytes) means the failures are the memory limit (the kernel refuses new fragments above
/// it). Memory is sampled at the window's ends while the failures happen in between, so a
/// namespace that hits the limit in bursts is judged near it: 75 % is the kernel's own
/// `ipfrag_low_thresh` default (3 MiB of 4 MiB). Ratio 0–1.
pub const FRAG_MEM_NEAR_HIGH: f64 = 0.75;
/// `ip.frag_reassembly_fails`: `ipfrag_high_thresh` is raised by this factor per step.
/// Ratio.
pub const FRAG_HIGH_THRESH_STEP: u64 = 2;
/// `ip.frag_reassembly_fails`: the kernel default of `ipfrag_high_thresh` and
/// `ip6frag_high_thresh` (4 MiB since 4.17), the least proposed. Bytes.
pub const FRAG_HIGH_THRESH_DEFAULT_BYTES: u64 = 4 << 20;
/// `ip.frag_reassembly_fails`: never propose a fragment memory limit above this (per
/// namespace and family; fragments queued this long are an attack or a broken path, not
/// demand). Bytes (64 MiB).
pub const FRAG_HIGH_THRESH_CAP_BYTES: u64 = 64 << 20;
/// `ip.frag_reassembly_fails` is critical when the memory limit is the cause and the
/// failures are at least this share of the fragments received. 0–1.
pub const FRAG_REASM_FAILS_CRIT_SHARE: f64 = 0.1;

/// `udp.in_errors`: `Udp.InErrors` beyond `RcvbufErrors` and `InCsumErrors` against
/// datagrams received.
pub const UDP_IN_ERRORS: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.001,
    min_rate: 1.0,
};

/// `udp.memory` / `tcp.memory_pressure`: sockstat `mem` at or above this share of the third
/// `udp_mem`/`tcp_mem` value (pages) is high (warning); at or above 1.0 it is exhausted
/// (critical). Ratio 0–1.
pub const SOCKET_MEM_HIGH_SHARE: f64 = 0.85;

/// `tcp.rcv_pruned`: segments dropped by pruning (`RcvPruned` + `OfoPruned`) against
/// segments received (`Tcp.InSegs`).
pub const TCP_PRUNED: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.0001,
    min_rate: 1.0,
};
/// `tcp.rcv_pruned` without drops (info): queue collapses (`PruneCalled` +
/// `TCPRcvCollapsed`) against segments received.
pub const TCP_COLLAPSED: CountThreshold = CountThreshold {
    min_count: 1000.0,
    min_share: 0.01,
    min_rate: 100.0,
};

/// `tcp.zero_window_drop`: `TCPZeroWindowDrop` against segments received.
pub const TCP_ZERO_WINDOW_DROP: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.0001,
    min_rate: 1.0,
};

/// `tcp.min_ttl_drop`: `TCPMinTTLDrop` against segments received.
pub const TCP_MIN_TTL_DROP: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.0001,
    min_rate: 1.0,
};

/// `tcp.listen_drops`: `ListenDrops − ListenOverflows − TCPReqQFullDrop` against passive
/// opens attempted (`Tcp.PassiveOpens` + the drops).
pub const TCP_LISTEN_DROPS: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.001,
    min_rate: 1.0,
};

/// `tcp.spurious_rtx_host_queues`: `TCPSpuriousRtxHostQueues` against retransmitted
/// segments (`Tcp.RetransSegs`).
pub const TCP_SPURIOUS_RTX_HOST_QUEUES: CountThreshold = CountThreshold {
    min_count: 100.0,
    min_share: 0.05,
    min_rate: 10.0,
};

/// `system.pfmemalloc_drop`: `PFMemallocDrop` against IP packets received. Any sustained
/// count means the host ran out of free pages.
pub const PFMEMALLOC_DROP: CountThreshold = CountThreshold {
    min_count: 1.0,
    min_share: 0.00001,
    min_rate: 0.001,
};

/// `netlink.socket_drops`: messages a netlink socket dropped (`/proc/net/netlink` Drops)
/// over the window (rate only: netlink has no message total; 0.001/s is about 4 an hour,
/// so a few drops in years of uptime do not fire).
pub const NETLINK_DROPS: CountThreshold = CountThreshold {
    min_count: 1.0,
    min_share: 1.0,
    min_rate: 0.001,
};

/// `qdisc.drops`: packets a qdisc dropped against the packets it sent.
pub const QDISC_DROPS: CountThreshold = CountThreshold {
    min_count: 10.0,
    min_share: 0.001,
    min_rate: 1.0,
};
/// `qdisc.drops` is a warning at or above this share of packets sent (below: info). 0–1.
pub const QDISC_DROPS_WARN_SHARE: f64 = 0.01;

/// `neigh.table_overflow`: forced garbage collections that found the neighbour table full
/// (`/proc/net/stat/{arp,ndisc}_cache` `table_fulls`) in the window; every one is an entry
/// that could not be added. Events.
pub const NEIGH_TABLE_FULLS_MIN: u64 = 1;
/// `neigh.table_overflow`: the proposed `gc_thresh3` is at least this many times the entries
/// in use (and `gc_thresh2`/`gc_thresh1` follow at ½ and ⅛ of it). Ratio.
pub const NEIGH_GC_THRESH_STEP: u64 = 4;
/// `neigh.table_overflow`: never propose `gc_thresh3` above this. Entries.
pub const NEIGH_GC_THRESH3_CAP: u64 = 1 << 20;

/// `ipv6.route_table_full`: IPv6 dst entries (`/proc/net/rt6_stats` `dst_entries`) at or
/// above this share of `net.ipv6.route.max_size` warn: the next burst of new destinations
/// (or PMTU exceptions) makes `dst_alloc` fail. Ratio 0–1.
pub const ROUTE6_WARN_FILL: f64 = 0.90;
/// `ipv6.route_table_full`: … and at or above this share it is critical (the kernel's
/// garbage collection could not keep it below the limit: allocations fail). Ratio 0–1.
pub const ROUTE6_CRIT_FILL: f64 = 1.0;
/// `ipv6.route_table_full`: the proposed `net.ipv6.route.max_size` is at least this many
/// times both the current limit and the entries in use (then rounded up to a power of two).
/// Ratio.
pub const ROUTE6_MAX_SIZE_STEP: u64 = 2;
/// `ipv6.route_table_full`: never propose `net.ipv6.route.max_size` above this (a dst entry
/// pins a few hundred bytes: 1 Mi entries is at most about 512 MiB). Entries.
pub const ROUTE6_MAX_SIZE_CAP: u64 = 1 << 20;
/// `ipv6.route_table_full`: the first kernel (major, minor) that no longer enforces
/// `net.ipv6.route.max_size` (6.3, "ipv6: remove max_size check inline with ipv4": the
/// default became `INT_MAX` and `dst_alloc` no longer fails); from it on only the kernel log
/// line can fire the rule.
pub const ROUTE6_UNENFORCED_FROM: (u32, u32) = (6, 3);

// ---- kernel drop reasons (eBPF `tp_btf/kfree_skb`; rules in drops.rs) ----

/// `drops.unexplained`: a drop reason counts as significant at this rate (drops per second)
/// or more ...
pub const DROP_REASON_RATE_MIN: f64 = 10.0;
/// ... when it is also at least this share of the packets received on all interfaces
/// (drops / received packets, 0–1; 0.01 = 1 %) ...
pub const DROP_REASON_RX_SHARE_MIN: f64 = 0.01;
/// ... or, whatever the share, at this rate or more (drops per second).
pub const DROP_REASON_RATE_HIGH: f64 = 100.0;
/// A kernel drop reason is explained by its counters ([`crate::diagnose::drops::REASON_COUNTERS`],
/// summed over every namespace) when they rise at least at this share of its rate.
pub const DROP_REASON_COUNTER_SHARE: f64 = 0.5;
/// `drops.unexplained`: reasons that are everyday background ([`super::drops::NOISY_REASONS`]:
/// `NO_SOCKET` from port scans and probes, firewall policy, TCP duplicates) need at least
/// this rate (drops per second) and [`DROP_REASON_RX_SHARE_MIN`] of received packets (when
/// the received count is known).
pub const DROP_REASON_NOISY_RATE_MIN: f64 = 200.0;
/// `drops.unexplained`: `NOT_SPECIFIED` (a plain `kfree_skb()` without a reason code, used
/// by many paths that are not errors) needs at least this rate (drops per second) and
/// [`DROP_REASON_RX_SHARE_MIN`] of received packets (when known).
pub const DROP_REASON_UNSPECIFIED_RATE_MIN: f64 = 1000.0;

// ---- since-boot totals (support archives: `check --archive`) ----
// Kept apart from the rules' own thresholds: applied after the rules by
// `archive::since_boot::judge` to captures whose window is the uptime.

/// A since-boot finding stays a warning or critical only when its event counter reached at
/// least this many events since boot (a rule whose rate threshold is 0/s would otherwise
/// fire on one drop in two years of uptime).
pub const SINCE_BOOT_MIN_COUNT: f64 = 100.0;

/// ... and at least this share of the traffic it is counted against (packets, segments,
/// datagrams processed since boot; 1e-4 = one in 10,000), when the finding names it.
pub const SINCE_BOOT_MIN_SHARE: f64 = 1e-4;

/// Whether `count` events since boot, out of `total` (when known), are significant: both an
/// absolute count and a share, so a 25-minute uptime and a 2-year one are judged alike.
pub fn since_boot_significant(count: f64, total: Option<f64>) -> bool {
    count >= SINCE_BOOT_MIN_COUNT
        && total.is_none_or(|t| t <= 0.0 || count / t >= SINCE_BOOT_MIN_SHARE)
}
