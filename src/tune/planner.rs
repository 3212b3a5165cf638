//! The one planner: the findings' changes merged with a profile's settings, with refusals
//! for changes a running tuning daemon would fight. `nettune tune` and the lab both plan
//! through [`plan_for`]; it reads nothing but its arguments (and, for `if_available`
//! profile settings, which kernel modules exist).

use super::plan::{self, Plan};
use super::profiles::{self, Profile};
use crate::diagnose::Finding;
use crate::snapshot::Capture;
use crate::window::Window;

/// What to plan for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanOptions {
    /// Only act on these findings (ids, or areas such as `softnet`; `profile` selects the
    /// profile's settings); empty means everything.
    pub only: Vec<String>,
    /// Link speed in Gbit/s from `--link-speed`, for the profile's bandwidth-delay product
    /// when none is measured (see [`crate::diagnose::context`] for the precedence).
    pub link_speed_gbps: Option<f64>,
    /// Round-trip time in ms from `--rtt`, for the profile's bandwidth-delay product when none
    /// is measured.
    pub rtt_ms: Option<f64>,
}

/// The bandwidth-delay product (bytes) a profile's `at_least = "bdp"` settings are sized
/// for, from the link speed and RTT the rules use: resolved once by
/// [`crate::diagnose::context::link_and_rtt`] with its precedence (measured > flag > default)
/// on the capture's newest window.
pub fn profile_bdp_bytes(capture: &Capture, options: &PlanOptions) -> u64 {
    let Some(newest) = capture.snapshots.last() else {
        return profiles::bdp_bytes(
            crate::diagnose::thresholds::DEFAULT_LINK_GBPS,
            crate::diagnose::thresholds::DEFAULT_RTT_MS,
        );
    };
    let flags = crate::diagnose::Options {
        link_speed_gbps: options.link_speed_gbps,
        rtt_ms: options.rtt_ms,
        ..crate::diagnose::Options::default()
    };
    let window = Window::newest(capture);
    let (link, rtt) = crate::diagnose::context::link_and_rtt(window.as_ref(), newest, &flags);
    profiles::bdp_bytes(link.value, rtt.value)
}

/// The plan for `capture`: the changes of `findings` (most severe first, as diagnose
/// returns them) selected by `options.only`, merged with `profile`'s settings against the
/// capture's newest values, with sysctl changes refused while bpftune or tuned runs.
pub fn plan_for(
    capture: &Capture,
    findings: &[Finding],
    profile: &Profile,
    options: &PlanOptions,
) -> Plan {
    let last = capture.snapshots.last();
    let config = last.and_then(|s| s.sysctl_config.ok()).map(Vec::as_slice);
    let mut plan = plan::build(findings, &options.only, config);
    if plan::selected(&format!("profile.{}", profile.name), &options.only) {
        let empty = crate::collect::sysctl::Sysctls::new();
        let cc = capture.host.congestion_control_available.clone();
        let available = move |k: &str, v: &str| profiles::kernel_has(k, v, &cc);
        let now = profiles::Current {
            sysctl: last.and_then(|s| s.sysctl.ok()).unwrap_or(&empty),
            ethtool: last.and_then(|s| s.ethtool.ok()),
            bdp_bytes: profile_bdp_bytes(capture, options),
            available: &available,
        };
        let (changes, skipped) = profile.changes(&now);
        plan::merge_profile(
            &mut plan,
            &profile.name,
            changes,
            skipped,
            &options.only,
            config,
        );
    }
    plan.refuse_daemons(&capture.host.daemons);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Capture {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captures")
            .join(name);
        Capture::load(&path).unwrap()
    }

    #[test]
    fn findings_and_profile_merge_and_daemons_refuse() {
        let mut cap = fixture("softnet_backlog.json");
        let (findings, _) =
            crate::diagnose::diagnose_capture(&cap, &crate::diagnose::Options::default());
        assert!(findings.iter().any(|f| f.id == "softnet.backlog_drops"));
        let profile = profiles::load("web-gateway").unwrap();
        let all = plan_for(&cap, &findings, &profile, &PlanOptions::default());
        // The findings' changes first, then the profile's settings.
        assert_eq!(all.items[0].change.target, "net.core.netdev_max_backlog");
        assert_eq!(all.items[0].finding, "softnet.backlog_drops");
        let first_profile = all
            .items
            .iter()
            .position(|i| i.finding == "profile.web-gateway")
            .unwrap_or_else(|| panic!("{all:#?}"));
        assert!(all.items[first_profile..]
            .iter()
            .all(|i| i.finding == "profile.web-gateway"));
        assert!(all
            .items
            .iter()
            .any(|i| i.change.target == "net.core.somaxconn"));
        assert_eq!(all.refused().count(), 0, "{all:#?}");

        // --only without `profile` leaves the profile out.
        let only = PlanOptions {
            only: vec!["softnet".into()],
            ..PlanOptions::default()
        };
        let p = plan_for(&cap, &findings, &profile, &only);
        assert!(!p.items.is_empty());
        assert!(
            p.items.iter().all(|i| i.finding.starts_with("softnet.")),
            "{p:#?}"
        );
        assert!(p.notes.is_empty());

        cap.host.daemons.tuned = true;
        let p = plan_for(&cap, &findings, &profile, &only);
        let refused = p.items[0].refusal.as_deref().unwrap_or_default();
        assert!(refused.starts_with("tuned"), "{refused}");
    }

    #[test]
    fn bdp_takes_the_options_before_the_capture() {
        let cap = fixture("udp_rcvbuf.json");
        let opts = PlanOptions {
            link_speed_gbps: Some(100.0),
            rtt_ms: Some(40.0),
            ..PlanOptions::default()
        };
        // 100 Gbit/s × 40 ms = 500 MB, capped at 256 MiB.
        assert_eq!(profile_bdp_bytes(&cap, &opts), 256 << 20);
        let slow = PlanOptions {
            link_speed_gbps: Some(1.0),
            rtt_ms: Some(1.0),
            ..PlanOptions::default()
        };
        assert_eq!(profile_bdp_bytes(&cap, &slow), 4 << 20, "floor of 4 MiB");
    }
}
