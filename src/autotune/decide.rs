//! The decision engine of `nettune autotune`: pure functions and one state machine per
//! (key, namespace). Nothing here reads the kernel, the clock or the environment: the loop
//! ([`super`]) hands in an [`Observation`] per window and carries out the [`Action`]s.
//!
//! Per key an *episode*: `Idle` → symptom (its finding fires) → a write (at most
//! [`Tuning::max_writes`] per episode) → `Verifying` over the next window → `Settled` when the
//! symptom is gone, another write when it improved but is still there, a rollback and a
//! back-off when it did not improve or a guard metric got worse. After the symptom has been
//! absent for [`Tuning::quiet_secs`] the episode ends (its write count resets). Hysteresis:
//! a settled key is written again only when its finding fires again (its symptom above the
//! rule's threshold). Values only go up (the rollback of a failed write is the only step down),
//! so alternating load cannot make a key oscillate — unless decay ([`Tuning::decay_after_secs`],
//! off by default) is on: a quiet key then steps halfway back toward its baseline, verified,
//! and a step that brings the symptom back is rolled back and not tried again.
//!
//! Sizing: `net.core.netdev_max_backlog` from demand — the arrivals per second of the worst
//! dropping CPU (processed + dropped, the finding's evidence) times a hold time
//! ([`BACKLOG_HOLD_SECS`], doubled for each further write of the episode); every other key
//! takes the value the one planner ([`crate::tune::plan_for`]) proposes (the rules already
//! size those from demand: BDP for buffers, growth for conntrack, connection rate for ports)
//! and bounds it. Bounds ([`bound`]): a ceiling from a share of RAM (per CPU where the key is
//! per CPU) and a hard maximum per key; a proposal above is cut (and said so); values never
//! wrap or go negative (every field fits an `i32`), never below the administrator's baseline.
//!
//! The key table ([`POLICIES`]) is data: a finding's change on a key without a row is advice
//! only (logged once per episode), as is a key whose change needs an application restart
//! (`live: false`, e.g. `somaxconn` for listeners that exist), and any change that is not a
//! sysctl (RPS masks, rings, IRQ affinity). A new rule's keys get tuned by adding a row.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The label of the host's network namespace in keys, logs, metrics and the state file.
pub const HOST: &str = "host";

/// Seconds of arrivals one CPU's backlog must hold at the first write: a stall of NET_RX of
/// this length then loses nothing. 20 ms is about one scheduler latency period (CFS's
/// `sched_latency` is 6 ms × (1 + log2 CPUs), 24 ms from 8 CPUs), how long `ksoftirqd` may
/// wait for its turn on a busy CPU; a per-second rate cannot see the bursts inside it, so
/// the hold also covers bursts up to that many arrivals.
pub const BACKLOG_HOLD_SECS: f64 = 0.020;

/// Bytes one queued packet can pin (the rule's own estimate).
pub const BACKLOG_BYTES_PER_PACKET: u64 = crate::diagnose::thresholds::BACKLOG_BYTES_PER_PACKET;

/// The largest value any field may take: the kernel's `int` sysctls, so nothing can wrap.
pub const FIELD_MAX: u64 = i32::MAX as u64;

/// A key in one namespace (`ns`: [`HOST`] or the namespace's display name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyRef {
    /// The sysctl name (`net.core.netdev_max_backlog`).
    pub key: String,
    /// [`HOST`] or the namespace's name.
    pub ns: String,
}

impl KeyRef {
    /// `key` in namespace `ns`.
    pub fn new(key: &str, ns: &str) -> KeyRef {
        KeyRef {
            key: key.to_string(),
            ns: ns.to_string(),
        }
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ns == HOST {
            write!(f, "{}", self.key)
        } else {
            write!(f, "{} in {}", self.key, self.ns)
        }
    }
}

/// How a key's value is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// From the arrival rate of the worst dropping CPU × [`BACKLOG_HOLD_SECS`].
    Backlog,
    /// The planner's proposal (already sized by the rule), bounded.
    Planner,
}

/// Where a key's ceiling comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ceiling {
    /// Only the hard maximum.
    Hard,
    /// `share` of RAM divided by `unit` bytes per unit of the value, and by the number of
    /// CPUs when `per_cpu`.
    Ram {
        share: f64,
        unit: u64,
        per_cpu: bool,
    },
}

/// The shape of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One or more capacity fields (`1000`, `4096 131072 6291456`): each bounded.
    Capacity,
    /// A range `lo hi` (`ip_local_port_range`): widened only, within `min..=max`.
    Range { min: u64, max: u64 },
}

/// What autotune may do with one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub key: &'static str,
    pub sizing: Sizing,
    pub ceiling: Ceiling,
    /// The hard maximum of every field, whatever the RAM.
    pub hard_max: u64,
    pub shape: Shape,
    /// A written value takes effect without restarting an application; `false` makes the
    /// key advice only.
    pub live: bool,
    /// Finding ids that, when they fire in the same namespace and window, make this key wait
    /// (the budget keys wait while the backlog overflows: the fix is the backlog).
    pub yields_to: &'static [&'static str],
}

const fn capacity(key: &'static str, ceiling: Ceiling, hard_max: u64) -> Policy {
    Policy {
        key,
        sizing: Sizing::Planner,
        ceiling,
        hard_max,
        shape: Shape::Capacity,
        live: true,
        yields_to: &[],
    }
}

const MIB: u64 = 1 << 20;

/// The keys autotune writes, with their bounds. A key without a row is advice only.
pub const POLICIES: &[Policy] = &[
    Policy {
        sizing: Sizing::Backlog,
        ..capacity(
            "net.core.netdev_max_backlog",
            Ceiling::Ram {
                share: crate::diagnose::thresholds::BACKLOG_MEMORY_BUDGET_RAM_SHARE,
                unit: BACKLOG_BYTES_PER_PACKET,
                per_cpu: true,
            },
            100_000,
        )
    },
    Policy {
        yields_to: &["softnet.backlog_drops"],
        ..capacity(
            "net.core.netdev_budget",
            Ceiling::Hard,
            crate::diagnose::thresholds::NETDEV_BUDGET_CEILING,
        )
    },
    Policy {
        yields_to: &["softnet.backlog_drops"],
        ..capacity(
            "net.core.netdev_budget_usecs",
            Ceiling::Hard,
            crate::diagnose::thresholds::NETDEV_BUDGET_USECS_CEILING,
        )
    },
    capacity("net.core.flow_limit_table_len", Ceiling::Hard, 65_536),
    capacity("net.core.rps_sock_flow_entries", Ceiling::Hard, 1 << 20),
    capacity("net.core.rmem_max", RAM_64, 256 * MIB),
    capacity("net.core.wmem_max", RAM_64, 256 * MIB),
    capacity("net.core.rmem_default", RAM_64, 256 * MIB),
    capacity("net.core.wmem_default", RAM_64, 256 * MIB),
    capacity("net.ipv4.tcp_rmem", RAM_64, 256 * MIB),
    capacity("net.ipv4.tcp_wmem", RAM_64, 256 * MIB),
    capacity("net.ipv4.tcp_mem", RAM_QUARTER_PAGES, 1 << 28),
    capacity("net.ipv4.udp_mem", RAM_QUARTER_PAGES, 1 << 28),
    // Fragment reassembly memory (bytes, per namespace and family): for the
    // `ip.frag_reassembly_fails` rule; at most 1/256 of RAM (16 MiB on 4 GiB) and the
    // rule's own cap.
    capacity("net.ipv4.ipfrag_high_thresh", FRAG, FRAG_MAX),
    capacity("net.ipv6.ip6frag_high_thresh", FRAG, FRAG_MAX),
    capacity(
        "net.netfilter.nf_conntrack_max",
        Ceiling::Ram {
            share: 0.05,
            unit: 320,
            per_cpu: false,
        },
        1 << 24,
    ),
    capacity(
        "net.ipv4.tcp_max_syn_backlog",
        Ceiling::Ram {
            share: 0.01,
            unit: 256,
            per_cpu: false,
        },
        1 << 20,
    ),
    Policy {
        shape: Shape::Range {
            min: 1024,
            max: 65_535,
        },
        ..capacity("net.ipv4.ip_local_port_range", Ceiling::Hard, 65_535)
    },
    // Neighbour tables (per namespace): for the `neigh.table_overflow` rule; an entry pins
    // about 512 bytes.
    capacity("net.ipv4.neigh.default.gc_thresh1", NEIGH, 1 << 20),
    capacity("net.ipv4.neigh.default.gc_thresh2", NEIGH, 1 << 20),
    capacity("net.ipv4.neigh.default.gc_thresh3", NEIGH, 1 << 20),
    capacity("net.ipv6.neigh.default.gc_thresh1", NEIGH, 1 << 20),
    capacity("net.ipv6.neigh.default.gc_thresh2", NEIGH, 1 << 20),
    capacity("net.ipv6.neigh.default.gc_thresh3", NEIGH, 1 << 20),
    // The IPv6 route (dst) cache limit (per namespace; enforced by kernels before 6.3): for
    // the `ipv6.route_table_full` rule. 512 bytes per entry: an `rt6_info` is a 256-byte
    // object of the `ip6_dst_cache` slab, plus the exception-table entry, metrics and
    // per-CPU copies that come with a cached route; counting twice the slab object keeps
    // the RAM ceiling on the safe side (1 % of 4 GiB: 83886 entries).
    capacity(
        "net.ipv6.route.max_size",
        Ceiling::Ram {
            share: 0.01,
            unit: 512,
            per_cpu: false,
        },
        crate::diagnose::thresholds::ROUTE6_MAX_SIZE_CAP,
    ),
    // The accept queue of a listener is fixed when it calls listen(): advice.
    Policy {
        live: false,
        ..capacity("net.core.somaxconn", Ceiling::Hard, 65_535)
    },
];

const RAM_64: Ceiling = Ceiling::Ram {
    share: 1.0 / 64.0,
    unit: 1,
    per_cpu: false,
};

const NEIGH: Ceiling = Ceiling::Ram {
    share: 0.01,
    unit: 512,
    per_cpu: false,
};

const FRAG: Ceiling = Ceiling::Ram {
    share: 1.0 / 256.0,
    unit: 1,
    per_cpu: false,
};

const FRAG_MAX: u64 = crate::diagnose::thresholds::FRAG_HIGH_THRESH_CAP_BYTES;

const RAM_QUARTER_PAGES: Ceiling = Ceiling::Ram {
    share: 0.25,
    unit: 4096,
    per_cpu: false,
};

/// The policy of `key`, if autotune writes it.
pub fn policy(key: &str) -> Option<&'static Policy> {
    POLICIES.iter().find(|p| p.key == key)
}

/// The machine a ceiling is computed for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Machine {
    /// `MemTotal` in bytes, when known.
    pub mem_bytes: Option<u64>,
    /// Online CPUs (at least 1).
    pub cpus: u64,
}

/// The ceiling of every field of `p` on `m`: the smaller of the RAM share and the hard
/// maximum (the hard maximum alone when RAM is unknown).
pub fn ceiling(p: &Policy, m: &Machine) -> u64 {
    let hard = p.hard_max.min(FIELD_MAX);
    match (p.ceiling, m.mem_bytes) {
        (
            Ceiling::Ram {
                share,
                unit,
                per_cpu,
            },
            Some(mem),
        ) => {
            let per = if per_cpu { m.cpus.max(1) } else { 1 };
            let v = (mem as f64 * share / unit.max(1) as f64 / per as f64).floor();
            if v.is_finite() && v >= 0.0 {
                (v as u64).min(hard)
            } else {
                hard
            }
        }
        _ => hard,
    }
}

/// Parse a sysctl value into its numeric fields: `None` when any field is not a
/// non-negative integer that fits [`FIELD_MAX`] (so a negative or wrapped value is never
/// taken as a number).
pub fn fields(value: &str) -> Option<Vec<u64>> {
    let v: Option<Vec<u64>> = value
        .split_whitespace()
        .map(|f| f.parse::<u64>().ok().filter(|n| *n <= FIELD_MAX))
        .collect();
    v.filter(|v| !v.is_empty())
}

/// Join fields the way the kernel prints them (tabs between).
pub fn join(fields: &[u64]) -> String {
    fields
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("\t")
}

/// Two values are the same when their fields are (whitespace does not matter).
pub fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// A proposal after bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounded {
    /// The value to write (tab-separated fields).
    pub value: String,
    /// Why it differs from the proposal (cut to a ceiling, raised to the baseline), for the
    /// log; empty when it does not.
    pub notes: Vec<String>,
}

/// Bound `proposed` for `p` on `m`: every field cut to [`ceiling`] (noted), never below
/// the `baseline` field (the administrator's value), never below 0 nor above [`FIELD_MAX`].
/// A range only widens: `lo` never above the baseline's, `hi` never below it, both within
/// the policy's range. `None` when a value is not numeric or the field counts differ.
pub fn bound(p: &Policy, proposed: &str, baseline: &str, m: &Machine) -> Option<Bounded> {
    let prop = fields(proposed)?;
    let base = fields(baseline)?;
    if prop.len() != base.len() {
        return None;
    }
    let mut notes = Vec::new();
    let out = match p.shape {
        Shape::Capacity => {
            let cap = ceiling(p, m);
            prop.iter()
                .zip(&base)
                .map(|(&v, &b)| {
                    let mut v = v;
                    if v > cap {
                        notes.push(format!(
                            "proposal {v} cut to the ceiling {cap} ({})",
                            ceiling_reason(p, m)
                        ));
                        v = cap;
                    }
                    if v < b {
                        notes.push(format!("kept at the administrator's baseline {b}"));
                        v = b;
                    }
                    v
                })
                .collect::<Vec<u64>>()
        }
        Shape::Range { min, max } => {
            let [lo, hi] = prop[..] else { return None };
            let [blo, bhi] = base[..] else { return None };
            let lo2 = lo.clamp(min, max).min(blo);
            let hi2 = hi.clamp(min, max).max(bhi);
            if lo2 != lo || hi2 != hi {
                notes.push(format!(
                    "range {lo}-{hi} kept within {min}-{max} and never narrower than the baseline {blo}-{bhi}"
                ));
            }
            if lo2 >= hi2 {
                return None;
            }
            vec![lo2, hi2]
        }
    };
    Some(Bounded {
        value: join(&out),
        notes,
    })
}

fn ceiling_reason(p: &Policy, m: &Machine) -> String {
    match (p.ceiling, m.mem_bytes) {
        (
            Ceiling::Ram {
                share,
                unit,
                per_cpu,
            },
            Some(mem),
        ) => {
            let ram = format!(
                "{:.1} % of {} MiB RAM / {unit} B{}",
                share * 100.0,
                mem >> 20,
                if per_cpu {
                    format!(" / {} CPUs", m.cpus)
                } else {
                    String::new()
                }
            );
            format!("{ram}, hard max {}", p.hard_max)
        }
        _ => format!("hard max {}", p.hard_max),
    }
}

/// The demand-sized backlog: the arrivals per second of the worst CPU (`arrivals`) held for
/// [`BACKLOG_HOLD_SECS`] × 2^`writes` (the writes already made in this episode), rounded up
/// to a multiple of 100; at least the kernel default when `current` is below it, and more
/// than `current` (×2 when the demand says the current value should already do, since it
/// drops anyway).
pub fn size_backlog(arrivals: f64, current: u64, writes: u32) -> u64 {
    let hold = BACKLOG_HOLD_SECS * f64::from(1u32 << writes.min(8));
    let demand = (arrivals.max(0.0) * hold).ceil();
    let demand = if demand.is_finite() {
        (demand as u64).min(FIELD_MAX)
    } else {
        FIELD_MAX
    };
    let mut v = demand.div_ceil(100).saturating_mul(100);
    let default = crate::diagnose::thresholds::NETDEV_MAX_BACKLOG_DEFAULT;
    if current < default {
        v = v.max(default);
    }
    if v <= current {
        v = current.saturating_mul(2);
    }
    v.min(FIELD_MAX)
}

/// The guard metrics of a window: what a change must not make worse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// TCP segments retransmitted per second.
    pub retrans_per_s: f64,
    /// Softirq CPU time per packet processed: the sum over CPUs of their softirq share of
    /// time divided by the packets processed per second, × 10⁶ (CPU-seconds per million
    /// packets); `None` when too few packets were processed to tell.
    pub softirq_per_mpkt: Option<f64>,
    /// Latency where measured: the 90th percentile of the smoothed RTT (`tcpi_rtt`) of
    /// established TCP sockets, µs, in the worst namespace with at least
    /// [`RTT_GUARD_MIN_SAMPLES`] of them; `None` when the window read no socket dump of its
    /// own (a counters-only window carries the last one's) or too few sockets to tell.
    #[serde(default)]
    pub rtt_p90_us: Option<f64>,
}

/// Established sockets with an RTT sample a namespace needs for its latency to count.
pub const RTT_GUARD_MIN_SAMPLES: u64 = 4;

impl Guard {
    /// Why `after` is worse than `self`, if it is: retransmits more than doubled (and up by
    /// at least 10/s), softirq time per packet more than doubled (and up by at least 1 µs
    /// per packet), or latency (p90 smoothed RTT) up by more than half and by at least 2 ms
    /// (a longer queue may add its own drain time; the kernel's smoothing and a handful of
    /// sockets make smaller moves noise).
    pub fn worse(&self, after: &Guard) -> Option<String> {
        if let (Some(b), Some(a)) = (self.rtt_p90_us, after.rtt_p90_us) {
            if a > 1.5 * b && a - b >= 2000.0 {
                return Some(format!(
                    "latency rose: p90 smoothed RTT of established TCP sockets {:.1} ms -> {:.1} ms",
                    b / 1000.0,
                    a / 1000.0
                ));
            }
        }
        if after.retrans_per_s > 2.0 * self.retrans_per_s + 10.0 {
            return Some(format!(
                "retransmits rose from {:.0}/s to {:.0}/s",
                self.retrans_per_s, after.retrans_per_s
            ));
        }
        // Per packet: a bigger queue lets a CPU process more packets, and its softirq share
        // rises with them; only a costlier packet is worse. /proc/stat counts in 10 ms
        // ticks, so a before-value of (near) zero is not a measurement.
        if let (Some(b), Some(a)) = (self.softirq_per_mpkt, after.softirq_per_mpkt) {
            if b >= 0.1 && a > 2.0 * b && a - b > 1.0 {
                return Some(format!(
                    "softirq CPU per million packets rose from {b:.2} s to {a:.2} s"
                ));
            }
        }
        None
    }
}

/// A finding's proposed change on one key, in one namespace, this window.
#[derive(Debug, Clone, PartialEq)]
pub struct Symptom {
    pub key: KeyRef,
    /// The finding id.
    pub finding: String,
    /// The size of the symptom: the sum of the finding's first evidence metric (drops/s).
    pub magnitude: f64,
    /// The evidence numbers, for the log (`softnet.dropped cpu1=5230/s`).
    pub evidence: String,
    /// The planner's proposed value.
    pub proposed: String,
    /// The value now (from the snapshot), when read.
    pub current: Option<String>,
    /// Arrivals per second at the worst CPU (processed + dropped), for [`Sizing::Backlog`].
    pub arrivals: Option<f64>,
    /// The plan refuses the change (its reason): logged once per episode, never written.
    pub refused: Option<String>,
}

/// A change autotune does not write: logged once per episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// Where (`somaxconn`, `rps_cpus vb rx-0`) and in which namespace.
    pub key: KeyRef,
    pub finding: String,
    /// What would fix it.
    pub proposed: String,
    /// Why it is not written.
    pub why: String,
}

/// One window's input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Seconds since the daemon started (monotonic).
    pub now: f64,
    /// The sysctl changes the findings propose.
    pub symptoms: Vec<Symptom>,
    /// The changes that are not sysctls (and advice entries of the plan).
    pub advice: Vec<Advice>,
    /// Finding ids that fired, per namespace label (for [`Policy::yields_to`]).
    pub fired: BTreeSet<(String, String)>,
    /// Current values of the keys autotune wrote or tracks (read back this window).
    pub values: BTreeMap<KeyRef, String>,
    /// Keys an administrator sets at boot (sysctl.d, /etc/sysctl.conf), with the file
    /// (`/etc/sysctl.d/99-net.conf:3`); these apply to the host's namespace.
    pub configured: BTreeMap<String, String>,
    pub guard: Guard,
    pub machine: Option<Machine>,
}

/// Why a key is pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The value the administrator set (read back, or in the configuration file).
    pub value: String,
    /// What nettune had written, when it had.
    pub ours: Option<String>,
    /// `read back` or the configuration file.
    pub source: String,
    /// Seconds since the Unix epoch (filled in by the loop; 0 in the engine).
    #[serde(default)]
    pub since: u64,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write `to` (its old value `from`) as one transaction.
    Write {
        key: KeyRef,
        finding: String,
        evidence: String,
        from: String,
        to: String,
        /// Why this value (sizing and bounds).
        why: String,
        /// Write number in this episode (1-based).
        nth: u32,
    },
    /// Roll back transaction `tx` (which wrote `key`) and back off.
    Rollback {
        key: KeyRef,
        tx: String,
        why: String,
    },
    /// The key is pinned from now on.
    Pinned { key: KeyRef, pin: Pin },
    /// A change autotune does not make (once per episode).
    Advise(Advice),
    /// A proposal that is not written for a bound or a back-off (once per episode).
    Hold {
        key: KeyRef,
        finding: String,
        why: String,
    },
    /// The key's write was verified: the symptom is gone (`settled`) or smaller.
    Verified {
        key: KeyRef,
        tx: String,
        settled: bool,
        why: String,
    },
}

/// Parameters of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// Writes per key per episode.
    pub max_writes: u32,
    /// Seconds without the symptom that end an episode.
    pub quiet_secs: f64,
    /// Seconds a key is left alone after a rollback.
    pub backoff_secs: f64,
    /// After a write, the symptom counts as improved when it is at most this share of what
    /// it was.
    pub improved_share: f64,
    /// Record decisions without writing: no verification, one decision per episode.
    pub dry_run: bool,
    /// A write is judged on a window that starts at least this long after it (seconds; the
    /// loop sets about one interval, so an early eBPF wake-up cannot judge on a sliver).
    pub verify_after_secs: f64,
    /// Decay (off by default: capacity limits stay where demand put them): after this many
    /// seconds without its symptom, a key nettune raised steps halfway back toward the
    /// baseline, verified like any write (the symptom back: rolled back, and no more decay
    /// of that key while it runs). Capacity limits ([`CAPACITY_LIMITS`]) are not decayed
    /// unless listed in [`Tuning::decay_limits`].
    pub decay_after_secs: Option<f64>,
    /// The capacity limits that decay too (a profile's `decay_limits`; empty by default).
    pub decay_limits: Vec<String>,
}

/// Capacity limits (queue and table sizes: the backlog, SYN backlog, somaxconn, conntrack
/// max, neighbour `gc_thresh*`, the ephemeral port range). Stepping one back under demand
/// drops packets or refuses connections before the verification can notice, so decay leaves
/// them where demand put them unless the profile lists them in `decay_limits`.
pub const CAPACITY_LIMITS: &[&str] = &[
    "net.core.netdev_max_backlog",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.netfilter.nf_conntrack_max",
    "net.nf_conntrack_max",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.neigh.default.gc_thresh1",
    "net.ipv4.neigh.default.gc_thresh2",
    "net.ipv4.neigh.default.gc_thresh3",
    "net.ipv6.neigh.default.gc_thresh1",
    "net.ipv6.neigh.default.gc_thresh2",
    "net.ipv6.neigh.default.gc_thresh3",
    "net.ipv6.route.max_size",
];

impl Tuning {
    /// Whether decay (when on) may step `key` back: any key but a capacity limit the
    /// profile did not list.
    pub fn decays(&self, key: &str) -> bool {
        !CAPACITY_LIMITS.contains(&key) || self.decay_limits.iter().any(|k| k == key)
    }
}

/// The finding id of a decay write.
pub const DECAY: &str = "autotune.decay";

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_writes: 3,
            quiet_secs: 30.0,
            backoff_secs: 300.0,
            improved_share: 0.9,
            dry_run: false,
            verify_after_secs: 0.5,
            decay_after_secs: None,
            decay_limits: Vec::new(),
        }
    }
}

/// Where a key's episode is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Phase {
    Idle,
    /// Written by `tx`; the next window judges it.
    Verifying {
        tx: String,
        /// Symptom magnitude before the write.
        before: f64,
        guard: Guard,
        /// When the write was made.
        at: f64,
    },
    /// The symptom went away after the episode's writes.
    Settled,
    /// Dry run: the decision was printed; held until the symptom goes away.
    Held,
}

/// One key's state (persisted in the state file between runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    pub phase: Phase,
    /// Writes in the current episode.
    pub writes: u32,
    /// Last time the symptom was seen (engine seconds).
    pub last_symptom: f64,
    /// No write before this time (engine seconds) after a rollback.
    pub backoff_until: f64,
    /// The value nettune wrote last (read back each window: another value pins the key).
    pub written: Option<String>,
    /// The transaction that wrote it.
    pub tx: Option<String>,
    /// Advice / hold already said this episode.
    pub said: bool,
    /// The direction of the last change: +1 a write (up), -1 a rollback (down), 0 none.
    pub last_dir: i8,
    /// Changes of direction so far (a rollback after a write, a write after a rollback).
    pub reversals: u32,
    /// The last decay step (engine seconds).
    #[serde(default)]
    pub last_decay: f64,
    /// A decay step was rolled back: this key is not decayed again.
    #[serde(default)]
    pub no_decay: bool,
    /// The last write lowered the value (a decay step): its rollback raises it.
    #[serde(default)]
    pub last_write_down: bool,
}

impl KeyState {
    fn moved(&mut self, dir: i8) {
        if self.last_dir != 0 && self.last_dir != dir {
            self.reversals += 1;
        }
        self.last_dir = dir;
    }
}

impl Default for KeyState {
    fn default() -> Self {
        KeyState {
            phase: Phase::Idle,
            writes: 0,
            last_symptom: f64::NEG_INFINITY,
            backoff_until: 0.0,
            written: None,
            tx: None,
            said: false,
            last_dir: 0,
            reversals: 0,
            last_decay: f64::NEG_INFINITY,
            no_decay: false,
            last_write_down: false,
        }
    }
}

/// The engine: per-key states, pins and baselines.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub tuning: Tuning,
    pub keys: BTreeMap<KeyRef, KeyState>,
    pub pins: BTreeMap<KeyRef, Pin>,
    /// The administrator's value of each key, first seen before nettune wrote it.
    pub baseline: BTreeMap<KeyRef, String>,
    /// Advice said this episode (per target), with the time it was last wanted.
    advised: BTreeMap<KeyRef, f64>,
}

impl Engine {
    /// An engine with `tuning`, no history.
    pub fn new(tuning: Tuning) -> Engine {
        Engine {
            tuning,
            ..Engine::default()
        }
    }

    /// One window: pins first (read-back and configuration), then verification of the
    /// keys written in the last window, then new writes for the symptoms. The caller
    /// carries out the actions and reports back with [`Engine::applied`],
    /// [`Engine::failed`] and [`Engine::rolled_back`].
    pub fn step(&mut self, obs: &Observation) -> Vec<Action> {
        let mut out = Vec::new();
        self.detect_pins(obs, &mut out);
        let seen: BTreeMap<&KeyRef, &Symptom> = obs.symptoms.iter().map(|s| (&s.key, s)).collect();
        self.verify(obs, &seen, &mut out);
        self.end_episodes(obs, &seen);
        for s in &obs.symptoms {
            self.decide(obs, s, &mut out);
        }
        self.decay(obs, &seen, &mut out);
        self.advise(obs, &mut out);
        out
    }

    /// Read-back: a key whose value is not what nettune wrote was set by someone else; a
    /// host key set in a configuration file belongs to the administrator. Either pins it.
    fn detect_pins(&mut self, obs: &Observation, out: &mut Vec<Action>) {
        let mut new = Vec::new();
        for (k, st) in &self.keys {
            if self.pins.contains_key(k) || matches!(st.phase, Phase::Held) {
                continue;
            }
            if let (Some(ours), Some(now)) = (&st.written, obs.values.get(k)) {
                if !same_value(ours, now) {
                    new.push((
                        k.clone(),
                        Pin {
                            value: now.clone(),
                            ours: Some(ours.clone()),
                            source: "read back".into(),
                            since: 0,
                        },
                    ));
                }
            }
        }
        for s in &obs.symptoms {
            if s.key.ns != HOST || self.pins.contains_key(&s.key) {
                continue;
            }
            if let Some(file) = obs.configured.get(&s.key.key) {
                new.push((
                    s.key.clone(),
                    Pin {
                        value: s.current.clone().unwrap_or_default(),
                        ours: None,
                        source: file.clone(),
                        since: 0,
                    },
                ));
            }
        }
        for (k, pin) in new {
            if self.pins.contains_key(&k) {
                continue;
            }
            // The administrator's value is the baseline from now on.
            self.baseline.insert(k.clone(), pin.value.clone());
            let st = self.keys.entry(k.clone()).or_default();
            st.phase = Phase::Idle;
            st.written = None;
            self.pins.insert(k.clone(), pin.clone());
            out.push(Action::Pinned { key: k, pin });
        }
    }

    fn verify(
        &mut self,
        obs: &Observation,
        seen: &BTreeMap<&KeyRef, &Symptom>,
        out: &mut Vec<Action>,
    ) {
        for (k, st) in self.keys.iter_mut() {
            let Phase::Verifying {
                tx,
                before,
                guard,
                at,
            } = &st.phase
            else {
                continue;
            };
            if obs.now - *at < self.tuning.verify_after_secs {
                continue;
            }
            let (tx, before, guard, at) = (tx.clone(), *before, *guard, *at);
            let after = seen.get(k).map_or(0.0, |s| s.magnitude);
            let worse = guard.worse(&obs.guard);
            let improved = after <= before * self.tuning.improved_share;
            if let Some(why) = worse.or_else(|| {
                (!improved).then(|| {
                    format!("the symptom did not improve ({before:.0} before, {after:.0} after)")
                })
            }) {
                // A decay step that brought the symptom back: no more decay of this key.
                if st.last_decay >= at {
                    st.no_decay = true;
                }
                st.phase = Phase::Idle;
                st.backoff_until = obs.now + self.tuning.backoff_secs;
                out.push(Action::Rollback {
                    key: k.clone(),
                    tx,
                    why,
                });
                continue;
            }
            let settled = !seen.contains_key(k);
            st.phase = if settled { Phase::Settled } else { Phase::Idle };
            out.push(Action::Verified {
                key: k.clone(),
                tx,
                settled,
                why: if settled {
                    format!("symptom gone ({before:.0} before)")
                } else {
                    format!("symptom down from {before:.0} to {after:.0}")
                },
            });
        }
    }

    /// An episode ends after `quiet_secs` without its symptom: the write count resets.
    fn end_episodes(&mut self, obs: &Observation, seen: &BTreeMap<&KeyRef, &Symptom>) {
        for (k, st) in self.keys.iter_mut() {
            if seen.contains_key(k) {
                st.last_symptom = obs.now;
                continue;
            }
            if matches!(st.phase, Phase::Held) {
                st.phase = Phase::Idle;
                st.writes = 0;
                st.said = false;
            }
            if !matches!(st.phase, Phase::Verifying { .. })
                && obs.now - st.last_symptom >= self.tuning.quiet_secs
            {
                st.phase = Phase::Idle;
                st.writes = 0;
                st.said = false;
            }
        }
        self.advised
            .retain(|_, last| obs.now - *last < self.tuning.quiet_secs);
    }

    fn decide(&mut self, obs: &Observation, s: &Symptom, out: &mut Vec<Action>) {
        let k = &s.key;
        if self.pins.contains_key(k) {
            return;
        }
        let Some(p) = policy(&k.key).filter(|p| p.live) else {
            let why = if policy(&k.key).is_some() {
                "takes effect only when the application re-creates its socket (restart)"
            } else {
                "autotune has no bounds for this key"
            };
            self.advise_one(
                obs,
                Advice {
                    key: k.clone(),
                    finding: s.finding.clone(),
                    proposed: s.proposed.clone(),
                    why: why.into(),
                },
                out,
            );
            return;
        };
        if p.yields_to
            .iter()
            .any(|id| obs.fired.contains(&(k.ns.clone(), id.to_string())))
        {
            return;
        }
        let Some(current) = s.current.clone() else {
            return;
        };
        // The baseline: the value before nettune first wrote the key.
        let baseline = self
            .baseline
            .entry(k.clone())
            .or_insert_with(|| current.clone())
            .clone();
        let max_writes = self.tuning.max_writes;
        let st = self.keys.entry(k.clone()).or_default();
        st.last_symptom = obs.now;
        let hold = |st: &mut KeyState, why: String, out: &mut Vec<Action>| {
            if !st.said {
                st.said = true;
                out.push(Action::Hold {
                    key: k.clone(),
                    finding: s.finding.clone(),
                    why,
                });
            }
        };
        match st.phase {
            Phase::Verifying { .. } | Phase::Held => return,
            Phase::Idle | Phase::Settled => {}
        }
        if let Some(r) = &s.refused {
            hold(st, format!("the plan refuses it: {r}"), out);
            return;
        }
        if obs.now < st.backoff_until {
            hold(
                st,
                format!(
                    "backing off after a rollback for {:.0} s more",
                    st.backoff_until - obs.now
                ),
                out,
            );
            return;
        }
        if st.writes >= max_writes {
            hold(
                st,
                format!(
                    "{} writes this episode already (the most per episode)",
                    max_writes
                ),
                out,
            );
            return;
        }
        let machine = obs.machine.unwrap_or(Machine {
            mem_bytes: None,
            cpus: 1,
        });
        let (proposal, sized) = match (p.sizing, s.arrivals, fields(&current)) {
            (Sizing::Backlog, Some(a), Some(cur)) if cur.len() == 1 => {
                let v = size_backlog(a, cur[0], st.writes);
                (
                    v.to_string(),
                    format!(
                        "{a:.0} arrivals/s at the worst CPU x {:.0} ms hold = {v}",
                        BACKLOG_HOLD_SECS * 1000.0 * f64::from(1u32 << st.writes.min(8))
                    ),
                )
            }
            _ => (
                s.proposed.clone(),
                format!("the rule's value {}", s.proposed),
            ),
        };
        let Some(b) = bound(p, &proposal, &baseline, &machine) else {
            hold(
                st,
                format!("{proposal:?} or the baseline {baseline:?} is not a valid value"),
                out,
            );
            return;
        };
        if same_value(&b.value, &current) {
            hold(
                st,
                format!(
                    "{} is already at the bounded value {}{}",
                    k.key,
                    b.value,
                    if b.notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", b.notes.join("; "))
                    }
                ),
                out,
            );
            return;
        }
        // Only up: a bounded value below the current one (the ceiling under a value someone
        // else set) is not written.
        let up = match (fields(&b.value), fields(&current)) {
            (Some(n), Some(c)) => match p.shape {
                Shape::Range { .. } => n[0] <= c[0] && n[1] >= c[1],
                Shape::Capacity => n.iter().zip(&c).all(|(a, b)| a >= b),
            },
            _ => false,
        };
        if !up {
            hold(
                st,
                format!(
                    "the bounded value {} would lower {current}; nothing written",
                    b.value
                ),
                out,
            );
            return;
        }
        st.writes += 1;
        let mut why = sized;
        if !b.notes.is_empty() {
            why = format!("{why}; {}", b.notes.join("; "));
        }
        out.push(Action::Write {
            key: k.clone(),
            finding: s.finding.clone(),
            evidence: s.evidence.clone(),
            from: current,
            to: b.value,
            why,
            nth: st.writes,
        });
        st.phase = Phase::Verifying {
            tx: String::new(),
            before: s.magnitude,
            guard: obs.guard,
            at: obs.now,
        };
    }

    /// Decay ([`Tuning::decay_after_secs`]): a key nettune raised, quiet long enough, steps
    /// halfway back toward its baseline (all the way when within 10 % of it).
    fn decay(
        &mut self,
        obs: &Observation,
        seen: &BTreeMap<&KeyRef, &Symptom>,
        out: &mut Vec<Action>,
    ) {
        let Some(after) = self.tuning.decay_after_secs else {
            return;
        };
        for (k, st) in self.keys.iter_mut() {
            if !self.tuning.decays(&k.key)
                || seen.contains_key(k)
                || self.pins.contains_key(k)
                || st.no_decay
                || !matches!(st.phase, Phase::Idle | Phase::Settled)
                || obs.now < st.backoff_until
                || obs.now - st.last_symptom.max(st.last_decay) < after
            {
                continue;
            }
            let (Some(ours), Some(base)) = (st.written.clone(), self.baseline.get(k)) else {
                continue;
            };
            let (Some(v), Some(b)) = (fields(&ours), fields(base)) else {
                continue;
            };
            if v.len() != b.len() || v.iter().zip(&b).all(|(v, b)| v <= b) {
                continue;
            }
            let target: Vec<u64> = v
                .iter()
                .zip(&b)
                .map(|(&v, &b)| {
                    if v <= b {
                        return v;
                    }
                    let half = b + (v - b) / 2;
                    if (half - b) as f64 <= b as f64 * 0.1 {
                        b
                    } else {
                        half
                    }
                })
                .collect();
            st.last_decay = obs.now;
            out.push(Action::Write {
                key: k.clone(),
                finding: DECAY.into(),
                evidence: format!("no symptom for {:.0} s", obs.now - st.last_symptom.max(0.0)),
                from: ours,
                to: join(&target),
                why: format!(
                    "decay: halfway back toward the baseline {}",
                    base.replace('\t', " ")
                ),
                nth: 0,
            });
            st.phase = Phase::Verifying {
                tx: String::new(),
                before: 0.0,
                guard: obs.guard,
                at: obs.now,
            };
        }
    }

    fn advise_one(&mut self, obs: &Observation, a: Advice, out: &mut Vec<Action>) {
        let fresh = !self.advised.contains_key(&a.key);
        self.advised.insert(a.key.clone(), obs.now);
        if fresh {
            out.push(Action::Advise(a));
        }
    }

    fn advise(&mut self, obs: &Observation, out: &mut Vec<Action>) {
        for a in &obs.advice {
            self.advise_one(obs, a.clone(), out);
        }
    }

    /// The write of `key` succeeded as transaction `tx`; the kernel reads back `value`.
    pub fn applied(&mut self, key: &KeyRef, tx: &str, value: &str) {
        let dry = self.tuning.dry_run;
        let st = self.keys.entry(key.clone()).or_default();
        let down = matches!(st.phase, Phase::Verifying { at, .. } if st.last_decay >= at);
        st.moved(if down { -1 } else { 1 });
        st.last_write_down = down;
        if dry {
            st.phase = Phase::Held;
            return;
        }
        st.written = Some(value.to_string());
        st.tx = Some(tx.to_string());
        if let Phase::Verifying { tx: t, .. } = &mut st.phase {
            *t = tx.to_string();
        }
    }

    /// A transaction finished at start (a crash after its write) set `key` to `value`:
    /// nettune owns that value; `old` becomes the baseline unless one is known.
    pub fn adopt(&mut self, key: &KeyRef, tx: &str, value: &str, old: &str) {
        self.baseline
            .entry(key.clone())
            .or_insert_with(|| old.to_string());
        let st = self.keys.entry(key.clone()).or_default();
        st.written = Some(value.to_string());
        st.tx = Some(tx.to_string());
    }

    /// The write of `key` failed (and was restored by the transaction): back off.
    pub fn failed(&mut self, key: &KeyRef, now: f64) {
        let st = self.keys.entry(key.clone()).or_default();
        st.phase = Phase::Idle;
        st.backoff_until = now + self.tuning.backoff_secs;
    }

    /// Transaction `tx` of `key` was rolled back: the value is the old one again, which
    /// nettune does not own.
    pub fn rolled_back(&mut self, key: &KeyRef) {
        let st = self.keys.entry(key.clone()).or_default();
        st.moved(if st.last_write_down { 1 } else { -1 });
        st.last_write_down = false;
        st.written = None;
        st.tx = None;
    }

    /// Forget the pin of `key` (`nettune autotune unpin`).
    pub fn unpin(&mut self, key: &KeyRef) -> bool {
        self.pins.remove(key).is_some()
    }

    /// Whether a write waits for its verdict (the next windows should measure everything,
    /// latency included).
    pub fn verifying(&self) -> bool {
        self.keys
            .values()
            .any(|s| matches!(s.phase, Phase::Verifying { .. }))
    }

    /// Direction reversals of `key` so far.
    pub fn reversals(&self, key: &KeyRef) -> u32 {
        self.keys.get(key).map_or(0, |s| s.reversals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKLOG: &str = "net.core.netdev_max_backlog";

    fn machine() -> Machine {
        Machine {
            mem_bytes: Some(4 << 30),
            cpus: 2,
        }
    }

    fn backlog_symptom(now_value: &str, dropped: f64, processed: f64) -> Symptom {
        Symptom {
            key: KeyRef::new(BACKLOG, HOST),
            finding: "softnet.backlog_drops".into(),
            magnitude: dropped,
            evidence: format!("softnet.dropped cpu1={dropped:.0}/s"),
            proposed: "2000".into(),
            current: Some(now_value.into()),
            arrivals: Some(dropped + processed),
            refused: None,
        }
    }

    fn obs(now: f64, symptoms: Vec<Symptom>, value: &str) -> Observation {
        let mut values = BTreeMap::new();
        values.insert(KeyRef::new(BACKLOG, HOST), value.to_string());
        let fired = symptoms
            .iter()
            .map(|s| (s.key.ns.clone(), s.finding.clone()))
            .collect();
        Observation {
            now,
            symptoms,
            values,
            fired,
            machine: Some(machine()),
            ..Observation::default()
        }
    }

    fn writes(actions: &[Action]) -> Vec<(String, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Write { from, to, .. } => Some((from.clone(), to.clone())),
                _ => None,
            })
            .collect()
    }

    /// Run `trace` (per window: drops, processed) through the engine with a kernel that takes
    /// every write; returns the values written.
    fn replay(e: &mut Engine, start: &str, trace: &[(f64, f64)]) -> Vec<String> {
        let mut value = start.to_string();
        let mut written = Vec::new();
        for (i, &(d, p)) in trace.iter().enumerate() {
            let now = i as f64;
            let symptoms = if d > 0.0 {
                vec![backlog_symptom(&value, d, p)]
            } else {
                Vec::new()
            };
            for a in e.step(&obs(now, symptoms, &value)) {
                match a {
                    Action::Write { key, to, .. } => {
                        value = to.clone();
                        written.push(to.clone());
                        e.applied(&key, &format!("tx{i}"), &to);
                    }
                    Action::Rollback { key, .. } => {
                        e.rolled_back(&key);
                    }
                    _ => {}
                }
            }
        }
        written
    }

    #[test]
    fn backlog_is_sized_from_demand_in_one_write() {
        // 150 000 arrivals/s held 20 ms: 3000 packets, from 32 in one step.
        assert_eq!(size_backlog(150_000.0, 32, 0), 3000);
        // Below the kernel default: at least the default.
        assert_eq!(size_backlog(5_000.0, 32, 0), 1000);
        // A second write of the episode holds twice as long.
        assert_eq!(size_backlog(150_000.0, 3000, 1), 6000);
        // Demand already met yet dropping: double.
        assert_eq!(size_backlog(10_000.0, 4000, 0), 8000);
        // Absurd input never wraps.
        assert_eq!(size_backlog(f64::INFINITY, 32, 0), FIELD_MAX);
        assert!(size_backlog(1e30, u64::MAX, 8) <= FIELD_MAX);
    }

    #[test]
    fn ceilings_cut_and_say_so() {
        let p = policy(BACKLOG).unwrap();
        // 1 % of 4 GiB / 2 KiB / 2 CPUs = 10485.
        assert_eq!(ceiling(p, &machine()), 10_485);
        let b = bound(p, "50000", "32", &machine()).unwrap();
        assert_eq!(b.value, "10485");
        assert!(b.notes[0].contains("cut to the ceiling 10485"), "{b:?}");
        // Hard maximum without RAM.
        let m = Machine {
            mem_bytes: None,
            cpus: 2,
        };
        assert_eq!(bound(p, "500000", "32", &m).unwrap().value, "100000");
        // Per-field for triples; tcp_rmem max capped at RAM/64 = 64 MiB on 4 GiB.
        let r = policy("net.ipv4.tcp_rmem").unwrap();
        let b = bound(
            r,
            "4096 131072 1073741824",
            "4096 131072 6291456",
            &machine(),
        )
        .unwrap();
        assert_eq!(b.value, "4096\t131072\t67108864");
    }

    #[test]
    fn never_below_baseline_never_negative_never_wraps() {
        let p = policy("net.core.rmem_max").unwrap();
        let b = bound(p, "1000", "212992", &machine()).unwrap();
        assert_eq!(b.value, "212992");
        assert!(b.notes[0].contains("baseline"));
        assert_eq!(bound(p, "-5", "212992", &machine()), None);
        assert_eq!(bound(p, "18446744073709551615", "212992", &machine()), None);
        assert_eq!(fields("4294967296"), None, "more than an int");
        assert_eq!(fields("1 2 x"), None);
        // A range only widens, within 1024-65535.
        let r = policy("net.ipv4.ip_local_port_range").unwrap();
        assert_eq!(
            bound(r, "10 70000", "32768 60999", &machine())
                .unwrap()
                .value,
            "1024\t65535"
        );
        assert_eq!(
            bound(r, "40000 50000", "32768 60999", &machine())
                .unwrap()
                .value,
            "32768\t60999"
        );
        // The engine never writes below the baseline even if the rule proposes it.
        let mut e = Engine::new(Tuning::default());
        let mut s = backlog_symptom("5000", 10.0, 100.0);
        s.key = KeyRef::new("net.core.netdev_budget", HOST);
        s.finding = "softnet.time_squeeze".into();
        s.proposed = "100".into();
        s.current = Some("600".into());
        let acts = e.step(&Observation {
            symptoms: vec![s],
            machine: Some(machine()),
            ..Observation::default()
        });
        assert!(writes(&acts).is_empty(), "{acts:?}");
        assert!(matches!(&acts[0], Action::Hold { why, .. } if why.contains("already")));
    }

    #[test]
    fn converges_in_at_most_three_writes_then_stops() {
        let mut e = Engine::new(Tuning::default());
        // Heavy drops that shrink after each write but never vanish: 3 writes, no 4th.
        let trace: Vec<(f64, f64)> = (0..30)
            .map(|i| (50_000.0 / f64::from(i + 1), 100_000.0))
            .collect();
        let w = replay(&mut e, "32", &trace);
        assert_eq!(w.len(), 3, "{w:?}");
        let nums: Vec<u64> = w.iter().map(|v| v.parse().unwrap()).collect();
        assert!(nums.windows(2).all(|p| p[1] > p[0]), "{nums:?}");
        assert!(*nums.last().unwrap() <= ceiling(policy(BACKLOG).unwrap(), &machine()));
    }

    #[test]
    fn one_write_fixes_and_settles() {
        let mut e = Engine::new(Tuning::default());
        let mut trace = vec![(0.0, 0.0), (40_000.0, 110_000.0)];
        trace.extend(std::iter::repeat_n((0.0, 150_000.0), 20));
        let w = replay(&mut e, "32", &trace);
        assert_eq!(w, ["3000"]);
        let k = KeyRef::new(BACKLOG, HOST);
        assert_eq!(e.keys[&k].phase, Phase::Settled);
    }

    #[test]
    fn hysteresis_no_oscillation_under_alternating_load() {
        // Bulk (drops) and request/response (none) alternating every 6 windows, ten times:
        // the key only goes up, stops after its episode's writes, and never reverses.
        let mut e = Engine::new(Tuning {
            quiet_secs: 30.0,
            ..Tuning::default()
        });
        let mut trace = Vec::new();
        for _ in 0..10 {
            trace.extend(std::iter::repeat_n((20_000.0, 80_000.0), 6));
            trace.extend(std::iter::repeat_n((0.0, 10_000.0), 6));
        }
        let mut value = "32".to_string();
        let mut written = Vec::new();
        let mut rollbacks = 0;
        for (i, &(d, p)) in trace.iter().enumerate() {
            // The drops stop once the value holds the demand (10 ms of arrivals).
            let enough = value.parse::<f64>().unwrap() >= (d + p) * BACKLOG_HOLD_SECS;
            let symptoms = if d > 0.0 && !enough {
                vec![backlog_symptom(&value, d, p)]
            } else {
                Vec::new()
            };
            for a in e.step(&obs(i as f64, symptoms, &value)) {
                match a {
                    Action::Write { key, to, .. } => {
                        value = to.clone();
                        written.push(to.clone());
                        e.applied(&key, "tx", &to);
                    }
                    Action::Rollback { .. } => rollbacks += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(written, ["2000"], "one demand-sized write");
        assert_eq!(rollbacks, 0);
        assert_eq!(e.reversals(&KeyRef::new(BACKLOG, HOST)), 0);
    }

    #[test]
    fn no_improvement_rolls_back_and_backs_off() {
        let mut e = Engine::new(Tuning::default());
        let k = KeyRef::new(BACKLOG, HOST);
        let a = e.step(&obs(0.0, vec![backlog_symptom("32", 1000.0, 1000.0)], "32"));
        assert_eq!(writes(&a), [("32".into(), "1000".into())]);
        e.applied(&k, "tx1", "1000");
        let a = e.step(&obs(
            1.0,
            vec![backlog_symptom("1000", 1000.0, 1000.0)],
            "1000",
        ));
        assert!(
            matches!(&a[0], Action::Rollback { tx, why, .. } if tx == "tx1" && why.contains("did not improve")),
            "{a:?}"
        );
        // Backing off: held (said once, in the same window), no write.
        assert!(
            matches!(&a[1], Action::Hold { why, .. } if why.contains("backing off")),
            "{a:?}"
        );
        e.rolled_back(&k);
        for t in 2..10 {
            let a = e.step(&obs(
                f64::from(t),
                vec![backlog_symptom("32", 1000.0, 1000.0)],
                "32",
            ));
            assert!(a.is_empty(), "{a:?}");
        }
        assert_eq!(e.reversals(&k), 1);
        // After the back-off, a new try.
        let a = e.step(&obs(
            400.0,
            vec![backlog_symptom("32", 1000.0, 1000.0)],
            "32",
        ));
        assert_eq!(writes(&a).len(), 1, "{a:?}");
    }

    #[test]
    fn a_worse_guard_rolls_back() {
        let mut e = Engine::new(Tuning::default());
        let k = KeyRef::new(BACKLOG, HOST);
        e.step(&obs(0.0, vec![backlog_symptom("32", 1000.0, 1000.0)], "32"));
        e.applied(&k, "tx1", "1000");
        let mut o = obs(1.0, Vec::new(), "1000");
        o.guard.retrans_per_s = 500.0;
        // Softirq cost per packet: unmeasured before (0 ticks) is no verdict; doubled is.
        let g = |v| Guard {
            softirq_per_mpkt: Some(v),
            ..Guard::default()
        };
        assert_eq!(g(0.0).worse(&g(1.8)), None);
        assert_eq!(g(1.5).worse(&g(2.9)), None);
        assert!(g(1.5).worse(&g(3.2)).is_some());
        // Latency: up by half and 2 ms is worse; less, or unmeasured on either side, is not.
        let r = |us| Guard {
            rtt_p90_us: us,
            ..Guard::default()
        };
        assert_eq!(r(Some(1000.0)).worse(&r(Some(2900.0))), None);
        assert_eq!(r(Some(10_000.0)).worse(&r(Some(14_000.0))), None);
        let why = r(Some(1000.0)).worse(&r(Some(3100.0))).unwrap();
        assert!(why.contains("1.0 ms -> 3.1 ms"), "{why}");
        assert!(r(Some(10_000.0)).worse(&r(Some(15_500.0))).is_some());
        assert_eq!(r(None).worse(&r(Some(50_000.0))), None);
        assert_eq!(r(Some(1000.0)).worse(&r(None)), None);
        let a = e.step(&o);
        assert!(
            matches!(&a[0], Action::Rollback { why, .. } if why.contains("retransmits")),
            "{a:?}"
        );
    }

    #[test]
    fn read_back_pins_and_the_key_is_never_written_again() {
        let mut e = Engine::new(Tuning::default());
        let k = KeyRef::new(BACKLOG, HOST);
        e.step(&obs(
            0.0,
            vec![backlog_symptom("32", 40_000.0, 60_000.0)],
            "32",
        ));
        e.applied(&k, "tx1", "1000");
        // Someone writes 777 over our 1000; the drops come back.
        let a = e.step(&obs(
            1.0,
            vec![backlog_symptom("777", 40_000.0, 60_000.0)],
            "777",
        ));
        let pin = a
            .iter()
            .find_map(|a| match a {
                Action::Pinned { key, pin } if key == &k => Some(pin.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{a:?}"));
        assert_eq!(pin.value, "777");
        assert_eq!(pin.ours.as_deref(), Some("1000"));
        assert!(writes(&a).is_empty());
        for t in 2..20 {
            let a = e.step(&obs(
                f64::from(t),
                vec![backlog_symptom("777", 40_000.0, 60_000.0)],
                "777",
            ));
            assert!(a.is_empty(), "{a:?}");
        }
        // Other keys keep being tuned.
        let mut s = backlog_symptom("1000", 5.0, 5.0);
        s.key = KeyRef::new("net.core.rmem_max", HOST);
        s.current = Some("212992".into());
        s.proposed = "4194304".into();
        let a = e.step(&obs(30.0, vec![s], "777"));
        assert_eq!(writes(&a), [("212992".into(), "4194304".into())]);
        // Unpin: tuned again.
        assert!(e.unpin(&k));
        assert_eq!(
            e.baseline[&k], "777",
            "the administrator's value is the baseline"
        );
    }

    #[test]
    fn a_configured_key_is_pinned_before_any_write() {
        let mut e = Engine::new(Tuning::default());
        let mut o = obs(0.0, vec![backlog_symptom("32", 40_000.0, 60_000.0)], "32");
        o.configured
            .insert(BACKLOG.into(), "/etc/sysctl.d/90-net.conf:2".into());
        let a = e.step(&o);
        assert!(matches!(&a[0], Action::Pinned { pin, .. } if pin.source.contains("90-net")));
        assert!(writes(&a).is_empty());
        // A namespace's key is not pinned by the host's configuration.
        let mut s = backlog_symptom("212992", 5.0, 5.0);
        s.key = KeyRef::new("net.core.rmem_max", "ns1");
        s.proposed = "4194304".into();
        s.current = Some("212992".into());
        let mut o = obs(1.0, vec![s], "32");
        o.configured
            .insert("net.core.rmem_max".into(), "/etc/sysctl.conf:1".into());
        assert_eq!(writes(&e.step(&o)).len(), 1);
    }

    #[test]
    fn advice_for_restart_only_keys_and_unknown_ones_once_per_episode() {
        let mut e = Engine::new(Tuning::default());
        let mut s = backlog_symptom("4096", 5.0, 5.0);
        s.key = KeyRef::new("net.core.somaxconn", HOST);
        s.current = Some("4096".into());
        s.proposed = "8192".into();
        let mut u = s.clone();
        u.key = KeyRef::new("net.ipv4.tcp_no_such_key", HOST);
        let a = e.step(&obs(0.0, vec![s.clone(), u.clone()], "32"));
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|a| matches!(a, Action::Advise(_))));
        assert!(e
            .step(&obs(1.0, vec![s.clone(), u.clone()], "32"))
            .is_empty());
        // After a quiet period, a new episode says it again.
        assert!(e.step(&obs(2.0, vec![], "32")).is_empty());
        assert_eq!(e.step(&obs(40.0, vec![s], "32")).len(), 1);
    }

    #[test]
    fn fragment_memory_limits_are_written_and_bounded() {
        for key in [
            "net.ipv4.ipfrag_high_thresh",
            "net.ipv6.ip6frag_high_thresh",
        ] {
            let p = policy(key).expect("a row");
            // 4 GiB / 256 = 16 MiB; without RAM the rule's cap, 64 MiB.
            assert_eq!(ceiling(p, &machine()), 16 << 20);
            let no_ram = Machine {
                mem_bytes: None,
                cpus: 2,
            };
            assert_eq!(ceiling(p, &no_ram), 64 << 20);
            let symptom = |proposed: &str| Symptom {
                key: KeyRef::new(key, "ns1"),
                finding: "ip.frag_reassembly_fails".into(),
                magnitude: 40.0,
                evidence: "ReasmFails ipv4=40/s".into(),
                proposed: proposed.into(),
                current: Some("4194304".into()),
                arrivals: None,
                refused: None,
            };
            // The rule's doubling is written as proposed, in the symptom's namespace.
            let mut e = Engine::new(Tuning::default());
            let a = e.step(&obs(0.0, vec![symptom("8388608")], "32"));
            assert_eq!(writes(&a), [("4194304".into(), "8388608".into())], "{a:?}");
            assert!(matches!(&a[0], Action::Write { key: k, .. } if k.ns == "ns1"));
            // A proposal above the RAM ceiling is cut to it, and the log says so.
            let mut e = Engine::new(Tuning::default());
            let a = e.step(&obs(0.0, vec![symptom("67108864")], "32"));
            assert_eq!(writes(&a), [("4194304".into(), "16777216".into())], "{a:?}");
            assert!(
                matches!(&a[0], Action::Write { why, .. } if why.contains("cut to the ceiling 16777216")),
                "{a:?}"
            );
        }
    }

    #[test]
    fn budget_waits_while_the_backlog_overflows() {
        let mut e = Engine::new(Tuning::default());
        let mut s = backlog_symptom("300", 50.0, 5.0);
        s.key = KeyRef::new("net.core.netdev_budget", HOST);
        s.finding = "softnet.time_squeeze".into();
        s.current = Some("300".into());
        s.proposed = "600".into();
        let both = vec![backlog_symptom("32", 40_000.0, 60_000.0), s.clone()];
        let w = writes(&e.step(&obs(0.0, both, "32")));
        assert_eq!(w, [("32".into(), "2000".into())], "the backlog only");
        let alone = writes(&e.step(&obs(1.0, vec![s], "2000")));
        assert_eq!(alone, [("300".into(), "600".into())]);
    }

    #[test]
    fn decay_is_off_by_default_and_steps_back_verified_when_on() {
        let k = KeyRef::new(BACKLOG, HOST);
        // The backlog is a capacity limit: it decays only when listed (`decay_limits`).
        let run_with = |decay: Option<f64>, symptom_back: bool, limits: Vec<String>| {
            let mut e = Engine::new(Tuning {
                decay_after_secs: decay,
                decay_limits: limits,
                ..Tuning::default()
            });
            let mut value = "32".to_string();
            let mut before = value.clone();
            let mut log = Vec::new();
            for t in 0..400 {
                let now = f64::from(t);
                // Drops at t = 0; and, with `symptom_back`, whenever the value is under the
                // demand of 1500.
                let v: u64 = value.parse().unwrap();
                let dropping = t == 0 || (symptom_back && v < 1500);
                let symptoms = if dropping {
                    vec![backlog_symptom(&value, 40_000.0, 60_000.0)]
                } else {
                    Vec::new()
                };
                for a in e.step(&obs(now, symptoms, &value)) {
                    match &a {
                        Action::Write {
                            key, to, finding, ..
                        } => {
                            before = std::mem::replace(&mut value, to.clone());
                            e.applied(key, "tx", to);
                            log.push(format!("{t} {finding} {to}"));
                        }
                        Action::Rollback { key, .. } => {
                            e.rolled_back(key);
                            value = before.clone();
                            log.push(format!("{t} rollback"));
                        }
                        _ => {}
                    }
                }
            }
            (log, value, e.reversals(&k))
        };
        let run = |decay, symptom_back| run_with(decay, symptom_back, vec![BACKLOG.into()]);
        // On but the capacity limit not listed: never lowered.
        let (log, value, rev) = run_with(Some(30.0), false, Vec::new());
        assert_eq!(log, ["0 softnet.backlog_drops 2000"]);
        assert_eq!((value.as_str(), rev), ("2000", 0));
        // Off: one write, never lowered.
        let (log, value, rev) = run(None, false);
        assert_eq!(log, ["0 softnet.backlog_drops 2000"]);
        assert_eq!((value.as_str(), rev), ("2000", 0));
        // On, quiet: halfway steps, verified, down to the baseline 32 and never below.
        let (log, value, _) = run(Some(30.0), false);
        assert_eq!(log[1], "30 autotune.decay 1016", "{log:?}");
        assert_eq!(value, "32", "{log:?}");
        assert!(log.iter().all(|l| !l.contains("rollback")), "{log:?}");
        // On, but the symptom comes back at the lower value: the decay step is rolled back
        // and the key is not decayed again.
        let (log, value, rev) = run(Some(30.0), true);
        assert_eq!(
            log,
            [
                "0 softnet.backlog_drops 2000",
                "30 autotune.decay 1016",
                "31 rollback"
            ]
        );
        assert_eq!((value.as_str(), rev), ("2000", 2));
    }

    #[test]
    fn only_listed_capacity_limits_decay() {
        let t = Tuning {
            decay_after_secs: Some(600.0),
            decay_limits: vec!["net.ipv4.ip_local_port_range".into()],
            ..Tuning::default()
        };
        assert!(t.decays("net.core.rmem_max"), "not a limit: decays");
        assert!(t.decays("net.ipv4.tcp_rmem"));
        assert!(
            t.decays("net.ipv4.ip_local_port_range"),
            "a listed limit decays"
        );
        for k in [
            BACKLOG,
            "net.core.somaxconn",
            "net.netfilter.nf_conntrack_max",
            "net.ipv4.neigh.default.gc_thresh3",
            "net.ipv4.tcp_max_syn_backlog",
        ] {
            assert!(!t.decays(k), "{k}: an unlisted limit stays");
        }
        // Every listed limit is a key autotune writes (or the legacy conntrack name).
        for k in CAPACITY_LIMITS {
            assert!(
                policy(k).is_some() || *k == "net.nf_conntrack_max",
                "{k} has no policy"
            );
        }
    }

    #[test]
    fn route6_max_size_is_written_once_and_bounded() {
        let key = "net.ipv6.route.max_size";
        let p = policy(key).unwrap();
        assert_eq!(p.shape, Shape::Capacity);
        assert!(p.live && p.hard_max < FIELD_MAX);
        // 1 % of 4 GiB / 512 B per entry.
        assert_eq!(ceiling(p, &machine()), 83_886);
        let symptom = |current: &str, proposed: &str| {
            let mut s = backlog_symptom(current, 0.0, 0.0);
            s.key = KeyRef::new(key, "pod-a");
            s.finding = "ipv6.route_table_full".into();
            s.magnitude = 95.0;
            s.evidence = "rt6_stats.dst_entries/max_size host=95 %".into();
            s.current = Some(current.into());
            s.proposed = proposed.into();
            s.arrivals = None;
            s
        };
        let mut e = Engine::new(Tuning::default());
        let a = e.step(&obs(0.0, vec![symptom("4096", "8192")], "32"));
        assert_eq!(writes(&a), [("4096".into(), "8192".into())]);
        assert!(
            matches!(&a[0], Action::Write { key: k, .. } if k.ns == "pod-a"),
            "written in the namespace: {a:?}"
        );
        // A proposal above the RAM ceiling is cut to it.
        let mut e = Engine::new(Tuning::default());
        let a = e.step(&obs(0.0, vec![symptom("4096", "1048576")], "32"));
        assert_eq!(writes(&a), [("4096".into(), "83886".into())]);
        let decaying = Tuning {
            decay_after_secs: Some(60.0),
            ..Tuning::default()
        };
        assert!(!decaying.decays(key), "a capacity limit does not decay");
    }

    #[test]
    fn dry_run_decides_once_per_episode() {
        let mut e = Engine::new(Tuning {
            dry_run: true,
            ..Tuning::default()
        });
        let k = KeyRef::new(BACKLOG, HOST);
        let a = e.step(&obs(
            0.0,
            vec![backlog_symptom("32", 40_000.0, 60_000.0)],
            "32",
        ));
        assert_eq!(writes(&a), [("32".into(), "2000".into())]);
        e.applied(&k, "", "2000");
        for t in 1..5 {
            let a = e.step(&obs(
                f64::from(t),
                vec![backlog_symptom("32", 40_000.0, 60_000.0)],
                "32",
            ));
            assert!(a.is_empty(), "{a:?}");
        }
    }
}
