//! The `nettune.check/v1` JSON document (DESIGN §3). Field names are stable API.

use crate::diagnose::{status, Finding};
use crate::snapshot::{Capture, Snapshot};
use crate::window::Window;
use serde::Serialize;
use std::collections::BTreeMap;

/// Schema tag of `check --json`.
pub const CHECK_SCHEMA: &str = "nettune.check/v1";

/// Host part of the check report.
#[derive(Debug, Serialize)]
pub struct CheckHost<'a> {
    pub hostname: &'a str,
    pub kernel: &'a str,
    pub cpus: u32,
    pub netns: Option<&'a str>,
}

/// The check report.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    pub schema: &'static str,
    pub host: CheckHost<'a>,
    /// Length of the sampling window; `null` when only static findings were possible.
    pub window_seconds: Option<f64>,
    /// Highest severity present, or `ok`.
    pub status: &'static str,
    pub findings: &'a [Finding],
    /// Each source's outcome in the newest snapshot (`ok`, `unsupported: …`, `error: …`).
    pub sources: BTreeMap<&'static str, String>,
    /// Notes about the analysis itself (one snapshot only, sources skipped).
    pub notes: &'a [String],
    /// The other network namespaces read in the newest snapshot (besides the host's, or the
    /// `--netns` one), with the outcome of their per-namespace sources; omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<CheckNamespace<'a>>,
    /// The support archive analysed (`check --archive`): kind, collection time, uptime
    /// (the window: counters since boot), which file each source came from, problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<&'a crate::archive::ArchiveFacts>,
}

/// One other namespace the check read.
#[derive(Debug, Serialize)]
pub struct CheckNamespace<'a> {
    /// Display name (`pod default/web-0`, an `ip netns` name).
    pub name: &'a str,
    /// nsfs inode: the namespace's identity.
    pub inode: u64,
    /// Path that opens it.
    pub path: &'a std::path::Path,
    /// Each per-namespace source's outcome there (host-wide sources are the host's).
    pub sources: BTreeMap<&'static str, String>,
}

/// `ok`, `info`, `warning` or `critical`.
pub fn status_str(findings: &[Finding]) -> &'static str {
    status(findings).map(|s| s.as_str()).unwrap_or("ok")
}

/// Build the report for `capture` and its findings.
pub fn check_report<'a>(
    capture: &'a Capture,
    findings: &'a [Finding],
    notes: &'a [String],
) -> CheckReport<'a> {
    let newest = capture.snapshots.last();
    CheckReport {
        schema: CHECK_SCHEMA,
        host: CheckHost {
            hostname: &capture.host.hostname,
            kernel: &capture.host.kernel,
            cpus: capture.host.cpus,
            netns: capture.netns.as_deref(),
        },
        window_seconds: Window::newest(capture).map(|w| w.seconds()),
        status: status_str(findings),
        findings,
        sources: newest.map(source_status).unwrap_or_default(),
        namespaces: newest
            .map(|s| {
                s.namespaces
                    .iter()
                    .map(|n| CheckNamespace {
                        name: &n.netns.name,
                        inode: n.netns.inode,
                        path: &n.netns.path,
                        sources: n
                            .snapshot
                            .sources()
                            .into_iter()
                            .filter(|(_, o)| crate::collector::was_requested(*o))
                            .map(|(name, o)| (name, o.to_string()))
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        notes,
        archive: capture.archive.as_ref(),
    }
}

/// Outcome of every source in a snapshot ([`Snapshot::sources`]: all of them).
pub fn source_status(s: &Snapshot) -> BTreeMap<&'static str, String> {
    s.sources()
        .into_iter()
        .map(|(name, outcome)| (name, outcome.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Source;

    /// Every source field of a snapshot (its JSON keys other than the time, warnings and
    /// collection times) is in the report's source list, with its outcome.
    #[test]
    fn report_lists_every_snapshot_source() {
        let mut snap = Snapshot::empty(1);
        snap.irq_effective_affinity = Source::Ok(BTreeMap::from([(24, vec![1])]));
        snap.sockets = Source::error("boom");
        let value = serde_json::to_value(&snap).unwrap();
        let fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| {
                !matches!(
                    *k,
                    "taken_at_ns" | "unix_time" | "warnings" | "collect_seconds"
                )
            })
            .collect();
        let listed = source_status(&snap);
        assert_eq!(
            listed.keys().copied().collect::<Vec<_>>().len(),
            fields.len(),
            "{listed:?} vs {fields:?}"
        );
        for field in &fields {
            assert!(
                listed.contains_key(field),
                "{field} missing from {listed:?}"
            );
        }
        assert_eq!(fields, crate::snapshot::SOURCES);
        assert_eq!(listed["irq_effective_affinity"], "ok");
        assert_eq!(listed["sockets"], "error: boom");
        assert_eq!(listed["softnet"], "unsupported: not collected");
    }
}
