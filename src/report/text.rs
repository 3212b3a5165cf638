//! The human report of `nettune check`: findings grouped by severity, each with the numbers
//! that fired it, the fix as copy-paste commands and as the persistent form, risk and verify.

use crate::diagnose::{Finding, Severity};
use crate::report::json::CheckReport;
use std::fmt::Write;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let label = s.as_str().to_uppercase();
        match s {
            Severity::Critical => self.paint("1;31", &label),
            Severity::Warning => self.paint("1;33", &label),
            Severity::Info => self.paint("1;34", &label),
        }
    }
}

/// Format a number for humans: integers without decimals, small rates with one.
pub fn number(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Render the whole check report.
pub fn render_check(report: &CheckReport, style: Style) -> String {
    let mut out = String::new();
    let host = &report.host;
    let _ = write!(
        out,
        "nettune check: {} (kernel {}, {} CPUs",
        host.hostname, host.kernel, host.cpus
    );
    if let Some(ns) = host.netns {
        let _ = write!(out, ", netns {ns}");
    }
    match report.window_seconds {
        Some(s) => {
            let _ = writeln!(out, "), window {s:.1} s");
        }
        None => {
            let _ = writeln!(out, "), single snapshot");
        }
    }
    if let Some(a) = report.archive {
        render_archive(&mut out, a);
    }
    for note in report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if report.findings.is_empty() {
        let _ = writeln!(
            out,
            "\n{} no packet loss or delay found in this window.",
            style.paint("1;32", "OK")
        );
    }
    for sev in [Severity::Critical, Severity::Warning, Severity::Info] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        for f in group {
            render_finding(&mut out, f, style);
        }
    }
    let unavailable: Vec<String> = report
        .sources
        .iter()
        .filter(|(_, s)| s.as_str() != "ok")
        .map(|(k, s)| format!("  {k}: {s}"))
        .collect();
    if !unavailable.is_empty() {
        let _ = writeln!(
            out,
            "\nsources not read (rules that need them were skipped):"
        );
        for line in unavailable {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = writeln!(out, "\nstatus: {}", report.status);
    out
}

/// The archive's header lines: kind, collection time, the since-boot window, problems.
fn render_archive(out: &mut String, a: &crate::archive::ArchiveFacts) {
    let _ = writeln!(
        out,
        "archive: {} ({}, {}), collected {}",
        a.kind.as_str(),
        a.format,
        a.path,
        a.collected.as_deref().unwrap_or("at an unknown time")
    );
    match a.uptime_seconds {
        Some(s) => {
            let _ = writeln!(
                out,
                "counters since boot, window = uptime ({}): rates are averages since boot",
                uptime_text(s)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "no uptime in the archive: only levels and configuration are judged"
            );
        }
    }
    for p in &a.problems {
        let _ = writeln!(out, "archive problem: {p}");
    }
}

/// `3 d 4 h 5 min`.
fn uptime_text(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h {m} min"),
    }
}

fn render_finding(out: &mut String, f: &Finding, style: Style) {
    let _ = writeln!(
        out,
        "{} {}  [{}]",
        style.severity(f.severity),
        style.paint("1", &f.title),
        f.id
    );
    if let Some(ns) = &f.netns {
        let _ = writeln!(
            out,
            "  namespace: {} (net:[{}], {})",
            ns.name,
            ns.inode,
            ns.path.display()
        );
    }
    if !f.detail.is_empty() {
        let _ = writeln!(out, "  {}", f.detail);
    }
    if !f.evidence.is_empty() {
        let _ = writeln!(out, "  evidence:");
        for e in &f.evidence {
            let _ = writeln!(
                out,
                "    {:<32} {:<18} {:>12} {}",
                e.metric,
                e.scope,
                number(e.value),
                e.unit
            );
        }
    }
    if !f.changes.is_empty() {
        let _ = writeln!(out, "  fix now:");
        for c in &f.changes {
            let _ = writeln!(out, "    {}", style.paint("36", &c.command()));
        }
        let persistent: Vec<String> = f
            .changes
            .iter()
            .filter(|c| c.kind != crate::change::ChangeKind::Advice)
            .map(|c| c.persistent_form())
            .collect();
        if !persistent.is_empty() {
            let _ = writeln!(
                out,
                "  make it permanent (or `nettune tune --apply --persist`):"
            );
            for p in persistent {
                let _ = writeln!(out, "    {p}");
            }
        }
    }
    if !f.risk.is_empty() {
        let _ = writeln!(out, "  risk: {}", f.risk);
    }
    if !f.verify.is_empty() {
        let _ = writeln!(out, "  verify: {}", f.verify);
    }
    let _ = writeln!(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Change;
    use crate::diagnose::Evidence;
    use crate::namespaces::NetnsRef;
    use crate::report::json::CheckHost;
    use std::collections::BTreeMap;

    /// A finding in another namespace says which, and its fix runs there.
    #[test]
    fn namespace_finding_names_the_namespace_and_runs_its_fix_there() {
        let ns = NetnsRef {
            inode: 4026532300,
            name: "pod-web".into(),
            path: "/run/netns/pod-web".into(),
        };
        let findings = vec![Finding {
            id: "tcp.listen_overflow".into(),
            severity: Severity::Critical,
            title: "TCP listener 198.18.7.2:8080 overflows its accept queue in pod-web".into(),
            detail: String::new(),
            evidence: vec![Evidence::new(
                "listener.accept_queue",
                "pod-web 198.18.7.2:8080",
                5.0,
                "connections",
            )],
            changes: vec![
                Change::sysctl("net.core.somaxconn", Some("64"), "4096").in_netns(Some(ns.clone()))
            ],
            risk: String::new(),
            verify: String::new(),
            netns: Some(ns),
        }];
        let report = CheckReport {
            schema: crate::report::json::CHECK_SCHEMA,
            host: CheckHost {
                hostname: "h",
                kernel: "6.18",
                cpus: 2,
                netns: None,
            },
            window_seconds: Some(2.0),
            status: "critical",
            findings: &findings,
            sources: BTreeMap::new(),
            notes: &[],
            namespaces: Vec::new(),
            archive: None,
        };
        let text = render_check(&report, Style { color: false });
        assert!(
            text.contains("  namespace: pod-web (net:[4026532300], /run/netns/pod-web)\n"),
            "{text}"
        );
        assert!(text.contains("pod-web 198.18.7.2:8080"), "{text}");
        assert!(
            text.contains("    ip netns exec pod-web sysctl -w net.core.somaxconn=\"4096\"\n"),
            "{text}"
        );
        assert!(text.contains("    per-namespace (pod-web): "), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["findings"][0]["netns"]["name"], "pod-web");
        assert_eq!(
            json["findings"][0]["changes"][0]["netns"]["inode"],
            4026532300u64
        );
    }
}
