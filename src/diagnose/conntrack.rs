//! Connection tracking table fill and drops (`conntrack.near_full`).

use super::ids;
use super::thresholds as t;
use super::util::{fmt_bytes, sysctl};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;
use crate::collect::conntrack::ConntrackCpuStat;

/// The rules of this area.
pub const RULES: &[Rule] = &[Rule {
    name: ids::CONNTRACK_NEAR_FULL,
    run: near_full,
}];

/// Per-second rates of the drop-related conntrack statistics, summed over CPUs.
#[derive(Debug, Default, Clone, Copy)]
struct Drops {
    /// New flows dropped because no entry could be allocated (table full). 1/s.
    drop: f64,
    /// Entries evicted early to make room. 1/s.
    early_drop: f64,
    /// Inserts that failed (tuple clash races). 1/s.
    insert_failed: f64,
}

fn drop_rates(ctx: &Context) -> Option<Drops> {
    let w = ctx.window?;
    let r = |f: fn(&ConntrackCpuStat) -> Option<u64>| w.conntrack_rate(f).unwrap_or(0.0);
    Some(Drops {
        drop: r(|s| s.drop),
        early_drop: r(|s| s.early_drop),
        insert_failed: r(|s| s.insert_failed),
    })
}

fn near_full(ctx: &Context) -> Vec<Finding> {
    let Some(ct) = ctx.newer.conntrack.ok() else {
        return Vec::new();
    };
    let fill = ct.fill_ratio();
    let drops = drop_rates(ctx).unwrap_or_default();
    let full_fill = fill.is_some_and(|f| f > t::CONNTRACK_WARN_FILL);
    let full_drops = drops.drop > 0.0 || drops.early_drop > 0.0;
    let clashes = drops.insert_failed > 0.0;
    if !full_fill && !full_drops && !clashes {
        return Vec::new();
    }
    let severity = if fill.is_some_and(|f| f > t::CONNTRACK_CRIT_FILL) || drops.drop > 0.0 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut evidence = Vec::new();
    if let Some(c) = ct.count {
        evidence.push(Evidence::new(
            "conntrack.count",
            "host",
            c as f64,
            "entries",
        ));
    }
    if let Some(m) = ct.max {
        evidence.push(Evidence::new("conntrack.max", "host", m as f64, "entries"));
    }
    if let Some(f) = fill {
        evidence.push(Evidence::new("conntrack.fill", "host", f * 100.0, "%"));
    }
    if ctx.window.is_some() && ct.stat.is_some() {
        for (m, v) in [
            ("conntrack.drop", drops.drop),
            ("conntrack.early_drop", drops.early_drop),
            ("conntrack.insert_failed", drops.insert_failed),
        ] {
            evidence.push(Evidence::new(m, "host", v, "1/s"));
        }
    }

    let mut changes = Vec::new();
    let mut risk = String::from("none from nettune");
    if full_fill || full_drops {
        if let Some(max) = ct.max {
            let by_count = ct
                .count
                .map_or(0, |c| (c as f64 / t::CONNTRACK_TARGET_FILL).ceil() as u64);
            let new_max = max
                .saturating_mul(2)
                .max(by_count)
                .div_ceil(1024)
                .saturating_mul(1024);
            if new_max > max {
                changes.push(Change::sysctl(
                    "net.netfilter.nf_conntrack_max",
                    sysctl(ctx.newer, "net.netfilter.nf_conntrack_max"),
                    new_max.to_string(),
                ));
                let mut mem = format!(
                    "up to {} more kernel memory when the table fills ({} more entries x ~{} B)",
                    fmt_bytes((new_max - max) as f64 * t::CONNTRACK_ENTRY_BYTES as f64),
                    new_max - max,
                    t::CONNTRACK_ENTRY_BYTES
                );
                if let Some(b) = ct.buckets.filter(|b| *b > 0) {
                    if new_max.div_ceil(b) > t::CONNTRACK_MAX_PER_BUCKET {
                        let nb = new_max
                            .div_ceil(t::CONNTRACK_PROPOSED_PER_BUCKET)
                            .next_power_of_two();
                        changes.push(Change::sysctl(
                            "net.netfilter.nf_conntrack_buckets",
                            sysctl(ctx.newer, "net.netfilter.nf_conntrack_buckets"),
                            nb.to_string(),
                        ));
                        mem.push_str(&format!(
                            "; the hash table grows to {nb} buckets ({} at 8 B each, allocated \
                             at once; resizing rehashes the table under a lock and is only \
                             possible from the initial network namespace)",
                            fmt_bytes(nb as f64 * 8.0)
                        ));
                    }
                }
                risk = format!(
                    "{mem}; a bigger table also hides a flood or a leak of idle entries a \
                     little longer"
                );
            }
        }
        changes.push(Change::advice(
            "conntrack entry lifetime",
            "if most entries are idle, shorten the timeouts that keep them \
             (net.netfilter.nf_conntrack_tcp_timeout_established is 5 days by default) or \
             exempt high-volume stateless traffic with a notrack rule",
        ));
    } else {
        changes.push(Change::advice(
            "conntrack insert races",
            "insert_failed without a full table means two packets of one new flow raced \
             (typically parallel DNS A/AAAA queries from one socket, or NAT port clashes); \
             use `options single-request-reopen` in resolv.conf or more NAT source ports; a \
             bigger table does not help",
        ));
    }
    let title = match (fill, ct.count, ct.max) {
        (Some(f), Some(c), Some(m)) if full_fill => format!(
            "Connection tracking table is {:.0}% full ({c} of {m} entries)",
            f * 100.0
        ),
        _ if full_drops => format!(
            "Connection tracking drops new flows: {:.1} dropped/s, {:.1} evicted early/s",
            drops.drop, drops.early_drop
        ),
        _ => format!(
            "Connection tracking fails {:.1} inserts/s (flows racing for the same entry)",
            drops.insert_failed
        ),
    };
    vec![Finding {
        netns: None,
        id: ids::CONNTRACK_NEAR_FULL.into(),
        severity,
        title,
        detail: "Every flow that netfilter tracks (NAT, stateful firewall rules) needs an entry \
                 in the conntrack table. When it is full the kernel first evicts entries that \
                 never saw a reply (early_drop) and then drops the first packet of new flows \
                 (drop), which looks like random connection timeouts."
            .into(),
        evidence,
        changes,
        risk,
        verify: format!(
            "conntrack drop and early_drop rates return to 0 and the table stays below {:.0}% \
             full",
            t::CONNTRACK_WARN_FILL * 100.0
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::super::Options;
    use super::*;
    use crate::collect::conntrack::Conntrack;
    use crate::collect::Source;
    use crate::diagnose::testkit::*;
    use crate::snapshot::Snapshot;

    fn stat(drop: u64, early: u64, failed: u64) -> ConntrackCpuStat {
        ConntrackCpuStat {
            drop: Some(drop),
            early_drop: Some(early),
            insert_failed: Some(failed),
            ..ConntrackCpuStat::default()
        }
    }

    /// Two CPUs; the second CPU's counters are `per_cpu`.
    fn ct(count: u64, max: u64, buckets: u64, per_cpu: (u64, u64, u64)) -> Source<Conntrack> {
        Source::Ok(Conntrack {
            count: Some(count),
            max: Some(max),
            buckets: Some(buckets),
            stat: Some(vec![stat(1, 1, 1), stat(per_cpu.0, per_cpu.1, per_cpu.2)]),
        })
    }

    fn window(old: Source<Conntrack>, new: Source<Conntrack>) -> (Snapshot, Snapshot) {
        let (mut a, mut b) = pair(
            &[
                ("net.netfilter.nf_conntrack_max", "65536"),
                ("net.netfilter.nf_conntrack_buckets", "16384"),
            ],
            &[],
        );
        a.conntrack = old;
        b.conntrack = new;
        (a, b)
    }

    #[test]
    fn nearly_full_table_is_critical_and_resizes_buckets() {
        let (a, b) = window(
            ct(60_000, 65536, 16384, (0, 0, 0)),
            ct(62_000, 65536, 16384, (500, 250, 0)),
        );
        let f = run_window(near_full, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::CONNTRACK_NEAR_FULL);
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(evidence_value(f, "conntrack.count", "host"), 62_000.0);
        // Summed over CPUs: (1+500) - (1+0) over 5 s.
        assert_eq!(evidence_value(f, "conntrack.drop", "host"), 100.0);
        assert_eq!(evidence_value(f, "conntrack.early_drop", "host"), 50.0);
        // max(2 × 65536, 62000 / 0.5) = 131072
        assert_eq!(
            proposed_value(f, "net.netfilter.nf_conntrack_max"),
            "131072"
        );
        // 131072 / 16384 = 8 entries per bucket: still within the ratio, no resize.
        assert!(f
            .changes
            .iter()
            .all(|c| c.target != "net.netfilter.nf_conntrack_buckets"));
    }

    #[test]
    fn fill_alone_warns_and_small_hash_grows_with_max() {
        let mut b = Snapshot::empty(1);
        set_sysctls(&mut b, &[("net.netfilter.nf_conntrack_max", "262144")]);
        b.conntrack = Source::Ok(Conntrack {
            count: Some(200_000),
            max: Some(262_144),
            buckets: Some(65_536),
            stat: None,
        });
        let f = run_static(near_full, &b, &host(), &Options::default());
        let f = only(&f, ids::CONNTRACK_NEAR_FULL);
        assert_eq!(f.severity, Severity::Warning);
        assert!((evidence_value(f, "conntrack.fill", "host") - 76.293945).abs() < 1e-3);
        // max(524288, 400000) = 524288; 524288 / 65536 = 8: fine. Make buckets smaller:
        assert_eq!(
            proposed_value(f, "net.netfilter.nf_conntrack_max"),
            "524288"
        );
        b.conntrack = Source::Ok(Conntrack {
            count: Some(200_000),
            max: Some(262_144),
            buckets: Some(16_384),
            stat: None,
        });
        let f = run_static(near_full, &b, &host(), &Options::default());
        let f = only(&f, ids::CONNTRACK_NEAR_FULL);
        // 524288 / 4 = 131072 buckets (power of two).
        assert_eq!(
            proposed_value(f, "net.netfilter.nf_conntrack_buckets"),
            "131072"
        );
    }

    #[test]
    fn insert_failed_alone_is_a_race_not_capacity() {
        let (a, b) = window(
            ct(100, 65536, 16384, (0, 0, 0)),
            ct(100, 65536, 16384, (0, 0, 40)),
        );
        let f = run_window(near_full, &a, &b, &host(), &Options::default());
        let f = only(&f, ids::CONNTRACK_NEAR_FULL);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(evidence_value(f, "conntrack.insert_failed", "host"), 8.0);
        assert!(f
            .changes
            .iter()
            .all(|c| c.target != "net.netfilter.nf_conntrack_max"));
    }

    #[test]
    fn quiet_when_table_has_room_and_counters_are_flat() {
        let (a, b) = window(
            ct(1000, 65536, 16384, (7, 7, 7)),
            ct(1200, 65536, 16384, (7, 7, 7)),
        );
        assert!(run_window(near_full, &a, &b, &host(), &Options::default()).is_empty());
        let s = Snapshot::empty(1);
        assert!(run_static(near_full, &s, &host(), &Options::default()).is_empty());
    }
}
