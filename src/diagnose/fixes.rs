//! Builders of the changes several rules propose (RPS and RFS masks, channel counts, memory
//! triples and sizes), so the same fix reads the same wherever it is proposed.

use super::context::{cpu_count, Context};
use super::thresholds as t;
use super::util::{sysctl, sysctl_u64};
use super::Evidence;
use crate::change::{Change, ChangeKind};
use crate::collect::interfaces::{format_cpu_mask, Interface};

/// RPS changes that spread the receive queues of `dev` away from a single CPU: a queue with
/// RPS off gets the CPUs other than `hot` (the one taking the interrupt); a queue whose
/// mask holds only `hot` (steering that concentrates) gets every CPU. Queues already spread
/// over several CPUs, and queues whose mask could not be read, are left alone.
pub(crate) fn rps_changes(dev: &str, iface: &Interface, hot: u32, cpus: &[u32]) -> Vec<Change> {
    let mut out = Vec::new();
    for q in &iface.rx_queues {
        let Some(list) = &q.rps_cpu_list else {
            continue;
        };
        let proposed: Vec<u32> = if list.is_empty() {
            cpus.iter().copied().filter(|c| *c != hot).collect()
        } else if list.iter().all(|c| *c == hot) {
            cpus.to_vec()
        } else {
            continue;
        };
        if proposed.is_empty() || proposed == *list {
            continue;
        }
        out.push(Change::new(
            ChangeKind::Rps,
            format!("{dev} rx-{}", q.index),
            q.rps_cpus.clone(),
            format_cpu_mask(&proposed),
        ));
    }
    out
}

/// RFS changes for `dev`: the global socket flow table and each queue's flow count
/// (entries / rx queues), only where the current value is smaller.
pub(crate) fn rfs_changes(ctx: &Context, dev: &str, iface: &Interface) -> Vec<Change> {
    let mut out = Vec::new();
    let key = "net.core.rps_sock_flow_entries";
    let cur = sysctl_u64(ctx.newer, key);
    if cur.is_none_or(|c| c < t::RPS_SOCK_FLOW_ENTRIES) {
        out.push(Change::sysctl(
            key,
            sysctl(ctx.newer, key),
            t::RPS_SOCK_FLOW_ENTRIES.to_string(),
        ));
    }
    let queues = iface.rx_queues.len().max(1) as u64;
    let per_queue = t::RPS_SOCK_FLOW_ENTRIES / queues;
    for q in &iface.rx_queues {
        if q.rps_flow_cnt.is_some_and(|c| u64::from(c) < per_queue) {
            out.push(Change::new(
                ChangeKind::Rfs,
                format!("{dev} rx-{}", q.index),
                q.rps_flow_cnt.map(|c| c.to_string()),
                per_queue.to_string(),
            ));
        }
    }
    out
}

/// A multi-queue device using fewer queues than min(CPUs, hardware maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelsRaise {
    /// Which channel count (`combined`, else `rx`).
    pub kind: &'static str,
    /// Queues in use.
    pub current: u32,
    /// The hardware maximum.
    pub max: u32,
    /// Queues to use: min(CPUs, maximum).
    pub target: u64,
}

impl ChannelsRaise {
    /// The `ethtool -L` change for `dev`.
    pub fn change(&self, dev: &str) -> Change {
        Change::new(
            ChangeKind::Channels,
            format!("{dev} {}", self.kind),
            Some(self.current.to_string()),
            self.target.to_string(),
        )
    }
}

/// The channel raise `dev` needs, if it uses fewer queues than it could.
pub(crate) fn channels_raise(ctx: &Context, dev: &str) -> Option<ChannelsRaise> {
    let ch = ctx.newer.ethtool.ok()?.get(dev)?.channels.ok()?;
    let (kind, current, max) = match (ch.combined_max, ch.rx_max) {
        (Some(m), _) if m > 1 => ("combined", ch.combined.unwrap_or(0), m),
        (_, Some(m)) if m > 1 => ("rx", ch.rx.unwrap_or(0), m),
        _ => return None,
    };
    let target = u64::from(max).min(cpu_count(ctx));
    (u64::from(current) < target).then_some(ChannelsRaise {
        kind,
        current,
        max,
        target,
    })
}

/// Channels change for a multi-queue device using fewer queues than it could.
pub(crate) fn channels_change(ctx: &Context, dev: &str) -> Option<Change> {
    channels_raise(ctx, dev).map(|r| r.change(dev))
}

/// Round `bytes` up to a whole MiB.
pub(crate) fn round_up_mib(bytes: f64) -> u64 {
    const MIB: f64 = 1048576.0;
    ((bytes.max(0.0) / MIB).ceil() * MIB) as u64
}

/// A `tcp_mem`/`udp_mem`-style triple (`low pressure high`, in pages) scaled so that `high`
/// becomes `new_high`, the other two in proportion and never below their current values.
pub(crate) fn scale_mem_triple([low, pressure, high]: [u64; 3], new_high: u64) -> [u64; 3] {
    let f = new_high as f64 / high.max(1) as f64;
    [
        ((low as f64 * f) as u64).max(low),
        ((pressure as f64 * f) as u64).max(pressure),
        new_high,
    ]
}

/// A tunable set below its kernel default ([`t::KERNEL_DEFAULTS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BelowDefault {
    /// The sysctl (`net.core.netdev_budget`).
    pub key: &'static str,
    /// Its value now.
    pub current: u64,
    /// The kernel's default.
    pub default: u64,
}

impl BelowDefault {
    /// The change restoring at least the default (`at_least` when a rule wants more).
    pub fn change(&self, at_least: u64) -> Change {
        Change::sysctl(
            self.key,
            Some(&self.current.to_string()),
            at_least.max(self.default).to_string(),
        )
    }

    /// `sysctl.KEY` evidence at scope `host`.
    pub fn evidence(&self) -> Evidence {
        Evidence::new(
            &format!("sysctl.{}", self.key),
            "host",
            self.current as f64,
            if self.key.ends_with("usecs") {
                "µs"
            } else if self.key.contains("mem_") {
                "bytes"
            } else if self.key.ends_with("somaxconn") || self.key.ends_with("syn_backlog") {
                "connections"
            } else {
                "packets"
            },
        )
    }

    /// "net.core.netdev_budget = 4 is 75x below the kernel default 300".
    pub fn sentence(&self) -> String {
        let times = self.default as f64 / self.current.max(1) as f64;
        let factor = if times >= 2.0 {
            format!("{times:.0}x below")
        } else {
            "below".to_string()
        };
        format!(
            "{} = {} is {factor} the kernel default {}",
            self.key, self.current, self.default
        )
    }
}

/// `key` when the newest snapshot sets it below its kernel default (module table
/// [`t::KERNEL_DEFAULTS`]); the one check every "set below the default" fix shares.
pub(crate) fn below_default(ctx: &Context, key: &'static str) -> Option<BelowDefault> {
    let default = t::kernel_default(key)?;
    let current = sysctl_u64(ctx.newer, key)?;
    (current < default).then_some(BelowDefault {
        key,
        current,
        default,
    })
}
