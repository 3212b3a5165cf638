//! `check --format nagios`: the monitoring-plugin line (Nagios, Icinga, Naemon, Sensu,
//! Zabbix's Nagios check) — `NETTUNE STATUS - summary | perfdata` on one line; the exit code
//! stays the check's 0/1/2/3, which is what those systems read first.
//!
//! Perfdata is `'label'=value;warn;crit;min` (Nagios plugin guidelines): the number of
//! critical and warning findings (thresholds `0`: alerting above zero), then host-wide
//! rates over the window that the labels keep stable from run to run — so a graph has no
//! gaps while nothing fires — each with the rate above which the corresponding rule fires as
//! its warning threshold (from `diagnose::thresholds`).

use crate::diagnose::thresholds as t;
use crate::diagnose::Severity;
use crate::report::json::CheckReport;
use crate::window::Window;
use std::fmt::Write;

/// Most findings named in the summary before `, +N more`.
const NAMED_MAX: usize = 3;

/// One perfdata item: label, value, warning and critical thresholds (empty: none).
struct Perf {
    label: &'static str,
    value: f64,
    warn: Option<f64>,
    crit: Option<f64>,
}

/// The plugin line for a check report, `window` being the capture's newest (none for a
/// single snapshot: only the finding counts then). Ends with a newline.
pub fn render(report: &CheckReport, window: Option<&Window>) -> String {
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let (critical, warning) = (count(Severity::Critical), count(Severity::Warning));
    let mut out = format!("NETTUNE {} - ", report.status.to_uppercase());
    let alerting: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    if alerting.is_empty() {
        out.push_str("no packet loss or delay found");
        if let Some(s) = report.window_seconds {
            let _ = write!(out, " in {s:.1} s");
        }
    } else {
        let _ = write!(out, "{critical} critical, {warning} warning: ");
        for (i, f) in alerting.iter().take(NAMED_MAX).enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            let _ = write!(out, "{} [{}]", one_line(&f.title), f.id);
        }
        if alerting.len() > NAMED_MAX {
            let _ = write!(out, "; +{} more", alerting.len() - NAMED_MAX);
        }
    }
    let mut perf = vec![
        Perf {
            label: "critical",
            value: critical as f64,
            warn: None,
            crit: Some(0.0),
        },
        Perf {
            label: "warning",
            value: warning as f64,
            warn: Some(0.0),
            crit: None,
        },
    ];
    if let Some(w) = window {
        perf.extend(rates(w));
    }
    out.push_str(" |");
    for p in &perf {
        let _ = write!(
            out,
            " '{}'={};{};{};0",
            p.label,
            value(p.value),
            p.warn.map(value).unwrap_or_default(),
            p.crit.map(value).unwrap_or_default()
        );
    }
    out.push('\n');
    out
}

/// The host-wide rates every run reports (per second over the window).
fn rates(w: &Window) -> Vec<Perf> {
    let softnet = w.softnet();
    let netdev = w.netdev();
    let rate = |section, field| w.netstat_rate(section, field).unwrap_or(0.0);
    vec![
        Perf {
            label: "softnet_dropped_per_s",
            value: softnet.iter().map(|c| c.dropped).sum(),
            warn: Some(t::SOFTNET_DROP_RATE_MIN),
            crit: None,
        },
        Perf {
            label: "softnet_squeezed_per_s",
            value: softnet.iter().map(|c| c.time_squeeze).sum(),
            warn: Some(t::SQUEEZE_RATE_MIN),
            crit: None,
        },
        Perf {
            label: "listen_overflows_per_s",
            value: rate("TcpExt", "ListenOverflows"),
            warn: Some(t::LISTEN_OVERFLOW_MIN_PER_S),
            crit: None,
        },
        Perf {
            label: "udp_rcvbuf_errors_per_s",
            value: rate("Udp", "RcvbufErrors") + rate("Udp6", "RcvbufErrors"),
            warn: Some(t::UDP_RCVBUF_ERRORS_MIN_PER_S),
            crit: None,
        },
        Perf {
            label: "rx_dropped_per_s",
            value: netdev.values().map(|d| d.rx_drop).sum(),
            warn: None,
            crit: None,
        },
        Perf {
            label: "rx_packets_per_s",
            value: netdev.values().map(|d| d.rx_packets).sum(),
            warn: None,
            crit: None,
        },
    ]
}

/// A perfdata number: plain decimal (no exponent, at most 3 decimals, `-0` as `0`).
fn value(v: f64) -> String {
    if !v.is_finite() {
        return "U".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A title on one line without the characters the plugin format reserves (`|` starts
/// perfdata).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '/',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Finding;
    use crate::snapshot::Capture;

    fn finding(id: &str, severity: Severity, title: &str) -> Finding {
        Finding {
            id: id.into(),
            severity,
            title: title.into(),
            detail: String::new(),
            evidence: vec![],
            changes: vec![],
            risk: String::new(),
            verify: String::new(),
            netns: None,
        }
    }

    fn capture() -> Capture {
        Capture::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/captures/softnet_backlog.json"
        )))
        .expect("committed capture loads")
    }

    /// The committed softnet capture, diagnosed: its backlog drops are critical and in the
    /// perfdata with the rule's threshold.
    #[test]
    fn capture_line_has_stable_rates() {
        let cap = capture();
        let (findings, notes) =
            crate::diagnose::diagnose_capture(&cap, &crate::diagnose::Options::default());
        let report = crate::report::json::check_report(&cap, &findings, &notes);
        let line = render(&report, Window::newest(&cap).as_ref());
        assert!(
            line.starts_with("NETTUNE CRITICAL - 1 critical, "),
            "{line}"
        );
        assert!(line.contains("[softnet.backlog_drops]"), "{line}");
        let perf = line.split_once(" | ").expect("perfdata").1;
        let dropped = perf
            .split(' ')
            .find_map(|p| p.strip_prefix("'softnet_dropped_per_s'="))
            .expect("softnet drops in perfdata");
        let v: f64 = dropped.split(';').next().unwrap().parse().unwrap();
        assert!(v > 100.0, "{perf}");
        assert!(dropped.ends_with(";0;;0"), "{dropped}");
        for label in [
            "listen_overflows_per_s",
            "udp_rcvbuf_errors_per_s",
            "rx_packets_per_s",
        ] {
            assert!(perf.contains(&format!("'{label}'=")), "{label}: {perf}");
        }
    }

    #[test]
    fn ok_line_has_counts_as_perfdata() {
        let cap = capture();
        let report = crate::report::json::check_report(&cap, &[], &[]);
        let line = render(&report, None);
        assert!(
            line.starts_with("NETTUNE OK - no packet loss or delay found"),
            "{line}"
        );
        assert!(
            line.ends_with(" | 'critical'=0;;0;0 'warning'=0;0;;0\n"),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn critical_line_names_findings_and_escapes_the_pipe() {
        let cap = capture();
        let findings = vec![
            finding("softnet.backlog_drops", Severity::Critical, "CPU 1 | drops"),
            finding("a.b", Severity::Warning, "two"),
            finding("c.d", Severity::Warning, "three"),
            finding("e.f", Severity::Warning, "four"),
            finding("g.h", Severity::Info, "not named"),
        ];
        let report = crate::report::json::check_report(&cap, &findings, &[]);
        let line = render(&report, None);
        assert!(
            line.starts_with(
                "NETTUNE CRITICAL - 1 critical, 3 warning: CPU 1 / drops [softnet.backlog_drops]; \
                 two [a.b]; three [c.d]; +1 more |"
            ),
            "{line}"
        );
        assert!(!line.contains("not named"));
        assert_eq!(line.matches('|').count(), 1, "{line}");
        assert!(
            line.contains("'critical'=1;;0;0 'warning'=3;0;;0"),
            "{line}"
        );
    }

    #[test]
    fn values_are_plain_decimals() {
        assert_eq!(value(0.0), "0");
        assert_eq!(value(-0.0), "0");
        assert_eq!(value(789.25), "789.25");
        assert_eq!(value(1e12), "1000000000000");
        assert_eq!(value(0.0001), "0");
        assert_eq!(value(f64::NAN), "U");
    }
}
