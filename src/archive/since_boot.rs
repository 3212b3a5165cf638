//! Since-boot judgement of findings from a support archive, whose window is the uptime:
//! every rule ran unchanged on rates averaged since boot; a warning or critical finding
//! whose event count since boot is below the floor of
//! [`thresholds::since_boot_significant`] (an absolute count and a share of the traffic) is
//! lowered to info, saying so.

use crate::diagnose::{thresholds, Finding, Severity};

/// Words in an evidence metric that name traffic (a denominator), not events.
const TRAFFIC: [&str; 6] = [
    "packets",
    "processed",
    "InSegs",
    "OutSegs",
    "Datagrams",
    "InReceives",
];

fn is_traffic(metric: &str) -> bool {
    TRAFFIC.iter().any(|w| metric.contains(w))
}

/// Lower the since-boot findings below the floor to info; returns one note saying how many
/// were lowered (none when nothing was). `window_seconds` is the uptime.
pub fn judge(findings: &mut [Finding], window_seconds: f64) -> Vec<String> {
    if window_seconds <= 0.0 {
        return Vec::new();
    }
    let mut lowered = Vec::new();
    for f in findings.iter_mut() {
        if f.severity < Severity::Warning {
            continue;
        }
        // The rules list the counter that fired first; a traffic rate in the same scope is
        // what its share is of.
        let Some(event) = f
            .evidence
            .iter()
            .find(|e| e.unit == "1/s" && !is_traffic(&e.metric))
        else {
            continue;
        };
        let count = event.value * window_seconds;
        let total = f
            .evidence
            .iter()
            .find(|e| e.unit == "1/s" && is_traffic(&e.metric) && e.scope == event.scope)
            .map(|e| e.value * window_seconds);
        if thresholds::since_boot_significant(count, total) {
            continue;
        }
        let share = total
            .filter(|t| *t > 0.0)
            .map(|t| format!(" ({:.4} % of {t:.0})", 100.0 * count / t))
            .unwrap_or_default();
        f.detail.push_str(&format!(
            " Since boot: {count:.0} {}{share}, below the since-boot floor (at least {:.0} and {} % of the traffic): lowered to info.",
            event.metric,
            thresholds::SINCE_BOOT_MIN_COUNT,
            thresholds::SINCE_BOOT_MIN_SHARE * 100.0
        ));
        f.severity = Severity::Info;
        lowered.push(f.id.clone());
    }
    if lowered.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "since-boot counters: {} finding(s) below the since-boot floor lowered to info ({})",
        lowered.len(),
        lowered.join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Evidence;

    fn finding(sev: Severity, drops: f64, packets: f64) -> Finding {
        Finding {
            id: "nic.rx_drops".into(),
            severity: sev,
            title: "t".into(),
            detail: String::new(),
            evidence: vec![
                Evidence::new("netdev.rx_drop", "eth0", drops, "1/s"),
                Evidence::new("netdev.rx_packets", "eth0", packets, "1/s"),
            ],
            changes: Vec::new(),
            risk: String::new(),
            verify: String::new(),
            netns: None,
        }
    }

    /// One year of uptime: 50 drops is below the count floor, 10,000 drops in 1e6 packets is
    /// significant, 10,000 in 1e12 is below the share floor; a short uptime with many drops
    /// stays.
    #[test]
    fn floor_uses_count_and_share() {
        let year = 365.0 * 86400.0;
        let mut f = [
            finding(Severity::Critical, 50.0 / year, 1e6 / year),
            finding(Severity::Critical, 1e4 / year, 1e6 / year),
            finding(Severity::Warning, 1e4 / year, 1e12 / year),
            finding(Severity::Warning, 2000.0 / 1500.0, 1e5 / 1500.0),
        ];
        let notes = judge(&mut f[..3], year);
        let tail = judge(&mut f[3..], 1500.0);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].detail.contains("below the since-boot floor"),
            "{}",
            f[0].detail
        );
        assert_eq!(f[1].severity, Severity::Critical);
        assert_eq!(f[2].severity, Severity::Info);
        assert_eq!(f[3].severity, Severity::Warning);
        assert_eq!(notes.len(), 1);
        assert!(tail.is_empty());
    }
}
