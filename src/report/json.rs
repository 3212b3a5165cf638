//! The `nettune.check/v1` JSON document (DESIGN §3). Field names are stable API.

use crate::diagnose::{status, Finding};
use crate::snapshot::Capture;
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
        window_seconds: capture.window().map(|w| w.seconds()),
        status: status_str(findings),
        findings,
        sources: newest.map(source_status).unwrap_or_default(),
        notes,
    }
}

/// Outcome of every source in a snapshot.
pub fn source_status(s: &crate::snapshot::Snapshot) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("softnet", s.softnet.status()),
        ("netdev", s.netdev.status()),
        ("netstat", s.netstat.status()),
        ("sockstat", s.sockstat.status()),
        ("softirqs", s.softirqs.status()),
        ("cpu_times", s.cpu_times.status()),
        ("interrupts", s.interrupts.status()),
        ("irq_affinity", s.irq_affinity.status()),
        ("sysctl", s.sysctl.status()),
        ("sysctl_config", s.sysctl_config.status()),
        ("conntrack", s.conntrack.status()),
        ("interfaces", s.interfaces.status()),
        ("ethtool", s.ethtool.status()),
        ("sockets", s.sockets.status()),
    ])
}
