//! The `nettune.tune/v1` JSON document and the plan as text. Field names and their order
//! are stable API.

use crate::change::{Change, ChangeKind};
use crate::diagnose::Severity;
use crate::namespaces::NetnsRef;
use crate::tune::plan::Plan;
use crate::tune::verify::Verdict;
use crate::tune::{Restored, TxOutcome};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Schema tag of `tune --json`.
pub const TUNE_SCHEMA: &str = "nettune.tune/v1";

/// One change of the plan and what became of it.
#[derive(Debug, Serialize)]
pub struct TuneChange<'a> {
    pub kind: ChangeKind,
    pub target: &'a str,
    /// The value before: as read by the transaction when it was applied, else as planned.
    pub current: Option<&'a str>,
    pub proposed: &'a str,
    pub finding: &'a str,
    /// In place after a committed transaction.
    pub applied: bool,
    pub severity: Severity,
    pub risk: &'a str,
    /// Why `--force` is needed; `null` when it is not.
    pub refused: Option<&'a str>,
    pub notes: &'a [String],
    /// The copy-paste command that makes the change by hand (run inside `netns` when set).
    pub command: String,
    /// The network namespace the change is made in; absent for the host's (or the one
    /// `--netns` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<&'a NetnsRef>,
}

/// Something nettune cannot change itself.
#[derive(Debug, Serialize)]
pub struct TuneAdvice<'a> {
    pub finding: &'a str,
    pub target: &'a str,
    pub proposed: &'a str,
}

/// What `--verify` saw.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Metric and scope of the first targeted finding's first evidence.
    pub symptom: String,
    /// Its value before the apply (in the evidence's unit).
    pub before: f64,
    /// Its value after the verify window.
    pub after: f64,
    /// The transaction was rolled back because a targeted finding remained.
    pub rolled_back: bool,
    /// The targeted finding still present at warning or above.
    pub still_present: Option<String>,
}

impl VerifyReport {
    /// The report of `verdict`; `rolled_back` says whether the transaction was undone.
    pub fn new(verdict: &Verdict, rolled_back: bool) -> VerifyReport {
        VerifyReport {
            symptom: verdict.symptom.clone(),
            before: verdict.before,
            after: verdict.after,
            rolled_back,
            still_present: verdict.still.clone(),
        }
    }
}

/// The tune report.
#[derive(Debug, Serialize)]
pub struct TuneReport<'a> {
    pub schema: &'static str,
    /// Transaction id; `null` for a dry run.
    pub transaction: Option<&'a str>,
    /// Every change is in place.
    pub applied: bool,
    pub changes: Vec<TuneChange<'a>>,
    pub advice: Vec<TuneAdvice<'a>>,
    pub notes: &'a [String],
    pub verify: Option<VerifyReport>,
    /// Why the apply failed (everything changed was then restored).
    pub error: Option<&'a str>,
    /// Values restored after a failed apply.
    pub restored: &'a [Restored],
    /// Boot-time configuration files written (`--persist`); only in the report of a
    /// committed apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persisted: Option<&'a [PathBuf]>,
}

/// Build the report of `plan`, its transaction `outcome` when applied, the `verify` result
/// and the files `persisted`.
pub fn tune_report<'a>(
    plan: &'a Plan,
    outcome: Option<&'a TxOutcome>,
    verify: Option<VerifyReport>,
    persisted: Option<&'a [PathBuf]>,
) -> TuneReport<'a> {
    let committed = outcome.is_some_and(TxOutcome::committed);
    let changes = plan
        .items
        .iter()
        .map(|i| {
            let done = outcome.and_then(|o| {
                o.applied.iter().find(|a| {
                    crate::tune::plan::same_change(&i.change, a.kind, &a.target, a.netns.as_ref())
                })
            });
            TuneChange {
                kind: i.change.kind,
                target: &i.change.target,
                current: done.map(|d| d.old.as_str()).or(i.change.current.as_deref()),
                proposed: &i.change.proposed,
                finding: &i.finding,
                applied: committed && done.is_some(),
                severity: i.severity,
                risk: &i.risk,
                refused: i.refusal.as_deref(),
                notes: &i.notes,
                command: i.change.command(),
                netns: i.change.netns.as_ref(),
            }
        })
        .collect();
    let advice = plan
        .advice
        .iter()
        .map(|a| TuneAdvice {
            finding: &a.finding,
            target: &a.change.target,
            proposed: &a.change.proposed,
        })
        .collect();
    TuneReport {
        schema: TUNE_SCHEMA,
        transaction: outcome.map(|o| o.id.as_str()),
        applied: committed,
        changes,
        advice,
        notes: &plan.notes,
        verify,
        error: outcome.and_then(|o| o.error.as_deref()),
        restored: outcome.map_or(&[], |o| o.restored.as_slice()),
        persisted,
    }
}

/// ` in NAME` for a change made inside another namespace, else empty.
fn in_netns(c: &Change) -> String {
    c.netns
        .as_ref()
        .map(|n| format!(" in {}", n.name))
        .unwrap_or_default()
}

/// The plan as text; `force` says how refusals are labelled.
pub fn render_plan(plan: &Plan, force: bool) -> String {
    let mut s = String::new();
    if !plan.items.is_empty() {
        let _ = writeln!(s, "plan ({} change(s)):", plan.items.len());
    }
    for (n, i) in plan.items.iter().enumerate() {
        let c = &i.change;
        let _ = writeln!(
            s,
            "  {}. {} {}{}: {} -> {}   [{}, {}]",
            n + 1,
            c.kind,
            c.target,
            in_netns(c),
            c.current.as_deref().unwrap_or("?"),
            c.proposed,
            i.finding,
            i.severity
        );
        if !i.risk.is_empty() {
            let _ = writeln!(s, "       risk: {}", i.risk);
        }
        for note in &i.notes {
            let _ = writeln!(s, "       note: {note}");
        }
        if let Some(r) = &i.refusal {
            let verdict = if force {
                "forced"
            } else {
                "refused without --force"
            };
            let _ = writeln!(s, "       {verdict}: {r}");
        }
    }
    for note in &plan.notes {
        let _ = writeln!(s, "note: {note}");
    }
    if !plan.advice.is_empty() {
        let _ = writeln!(s, "advice (nettune cannot change these itself):");
        for a in &plan.advice {
            let _ = writeln!(
                s,
                "  - {}: {}   [{}]",
                a.change.target, a.change.proposed, a.finding
            );
        }
    }
    s
}

/// The verify line: whether the targeted findings are gone after `window`, and the
/// transaction `id` rolled back when they are not.
pub fn render_verify(verdict: &Verdict, window: Duration, id: &str) -> String {
    match &verdict.still {
        Some(f) => format!(
            "verify: {f} is still present after {window:?} ({} {} -> {}); rolled back transaction {id}\n",
            verdict.symptom, verdict.before, verdict.after
        ),
        None => format!(
            "verify: targeted findings are gone after {window:?} ({} {} -> {})\n",
            verdict.symptom, verdict.before, verdict.after
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Change;
    use crate::tune::plan::{AdviceItem, PlanItem};
    use crate::tune::AppliedChange;

    fn plan() -> Plan {
        Plan {
            items: vec![
                PlanItem {
                    change: Change::sysctl("net.core.somaxconn", Some("128"), "4096"),
                    finding: "tcp.listen_overflow".into(),
                    severity: Severity::Warning,
                    risk: "memory".into(),
                    refusal: None,
                    notes: vec!["n1".into()],
                },
                PlanItem {
                    change: Change::sysctl("net.ipv4.tcp_syncookies", Some("1"), "0"),
                    finding: "manual".into(),
                    severity: Severity::Info,
                    risk: String::new(),
                    refusal: Some("turns SYN cookies off".into()),
                    notes: Vec::new(),
                },
            ],
            advice: vec![AdviceItem {
                finding: "tcp.listen_overflow".into(),
                change: Change::advice("listen() backlog", "4096"),
            }],
            notes: vec!["skipped".into()],
        }
    }

    /// The exact document (field names and order) `tune --json` has always printed.
    #[test]
    fn dry_run_and_applied_reports_keep_their_shape() {
        let p = plan();
        let dry = serde_json::to_string(&tune_report(&p, None, None, None)).unwrap();
        assert_eq!(
            dry,
            r#"{"schema":"nettune.tune/v1","transaction":null,"applied":false,"changes":[{"kind":"sysctl","target":"net.core.somaxconn","current":"128","proposed":"4096","finding":"tcp.listen_overflow","applied":false,"severity":"warning","risk":"memory","refused":null,"notes":["n1"],"command":"sysctl -w net.core.somaxconn=\"4096\""},{"kind":"sysctl","target":"net.ipv4.tcp_syncookies","current":"1","proposed":"0","finding":"manual","applied":false,"severity":"info","risk":"","refused":"turns SYN cookies off","notes":[],"command":"sysctl -w net.ipv4.tcp_syncookies=\"0\""}],"advice":[{"finding":"tcp.listen_overflow","target":"listen() backlog","proposed":"4096"}],"notes":["skipped"],"verify":null,"error":null,"restored":[]}"#
        );
        let outcome = TxOutcome {
            id: "T1".into(),
            journal: PathBuf::from("/j"),
            applied: vec![AppliedChange {
                kind: ChangeKind::Sysctl,
                target: "net.core.somaxconn".into(),
                old: "64".into(),
                value: "4096".into(),
                netns: None,
            }],
            error: None,
            restored: Vec::new(),
            restore_errors: Vec::new(),
        };
        let verdict = Verdict {
            symptom: "TcpExt.ListenOverflows host".into(),
            before: 12.5,
            after: 0.0,
            still: None,
        };
        let files = vec![PathBuf::from("/etc/sysctl.d/60-nettune.conf")];
        let r = tune_report(
            &p,
            Some(&outcome),
            Some(VerifyReport::new(&verdict, false)),
            Some(&files),
        );
        let v = serde_json::to_value(&r).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "schema",
                "transaction",
                "applied",
                "changes",
                "advice",
                "notes",
                "verify",
                "error",
                "restored",
                "persisted"
            ]
        );
        assert_eq!(v["transaction"], "T1");
        assert_eq!(v["applied"], true);
        assert_eq!(
            v["changes"][0]["current"], "64",
            "as read by the transaction"
        );
        assert_eq!(v["changes"][0]["applied"], true);
        assert_eq!(v["changes"][1]["applied"], false);
        assert_eq!(
            serde_json::to_string(&v["verify"]).unwrap(),
            r#"{"symptom":"TcpExt.ListenOverflows host","before":12.5,"after":0.0,"rolled_back":false,"still_present":null}"#
        );
        assert_eq!(v["persisted"][0], "/etc/sysctl.d/60-nettune.conf");
    }

    #[test]
    fn changes_in_other_namespaces_carry_it_last_and_their_commands_enter_it() {
        let pod = NetnsRef {
            inode: 4026532301,
            name: "pod-web".into(),
            path: PathBuf::from("/run/netns/pod-web"),
        };
        let mut p = plan();
        p.items[0].change.netns = Some(pod.clone());
        let mut rps = p.items[1].clone();
        rps.change = Change::new(ChangeKind::Rps, "eth0 rx-0", Some("0".into()), "2").in_netns(
            Some(NetnsRef {
                path: PathBuf::from("/proc/42/ns/net"),
                ..pod.clone()
            }),
        );
        p.items.push(rps);
        let outcome = TxOutcome {
            id: "T1".into(),
            journal: PathBuf::from("/j"),
            applied: vec![AppliedChange {
                kind: ChangeKind::Sysctl,
                target: "net.core.somaxconn".into(),
                old: "4".into(),
                value: "4096".into(),
                netns: Some(pod.clone()),
            }],
            error: None,
            restored: Vec::new(),
            restore_errors: Vec::new(),
        };
        let v = serde_json::to_value(tune_report(&p, Some(&outcome), None, None)).unwrap();
        let c0 = v["changes"][0].as_object().unwrap();
        assert_eq!(c0.keys().next_back().map(String::as_str), Some("netns"));
        assert_eq!(
            serde_json::to_string(&c0["netns"]).unwrap(),
            r#"{"inode":4026532301,"name":"pod-web","path":"/run/netns/pod-web"}"#
        );
        assert_eq!(c0["applied"], true);
        assert_eq!(c0["current"], "4", "as read in the namespace");
        assert_eq!(
            c0["command"],
            "ip netns exec pod-web sysctl -w net.core.somaxconn=\"4096\""
        );
        assert!(v["changes"][1].get("netns").is_none(), "host: no key");
        assert_eq!(
            v["changes"][2]["command"],
            "nsenter --net=/proc/42/ns/net unshare --mount sh -c 'mount -t sysfs sysfs /sys && echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus'"
        );
        // The same target on the host is another change: not applied by the pod's.
        let host_only = TxOutcome {
            applied: vec![AppliedChange {
                netns: None,
                ..outcome.applied[0].clone()
            }],
            ..outcome.clone()
        };
        let v = serde_json::to_value(tune_report(&p, Some(&host_only), None, None)).unwrap();
        assert_eq!(v["changes"][0]["applied"], false);
        let t = render_plan(&p, false);
        assert!(
            t.contains("  1. sysctl net.core.somaxconn in pod-web: 128 -> 4096   [tcp.listen_overflow, warning]\n"),
            "{t}"
        );
    }

    #[test]
    fn plan_text_labels_refusals_and_lists_advice() {
        let p = plan();
        let t = render_plan(&p, false);
        assert!(t.starts_with("plan (2 change(s)):\n"), "{t}");
        assert!(t.contains(
            "  1. sysctl net.core.somaxconn: 128 -> 4096   [tcp.listen_overflow, warning]\n"
        ));
        assert!(t.contains("       refused without --force: turns SYN cookies off\n"));
        assert!(render_plan(&p, true).contains("       forced: turns SYN cookies off\n"));
        assert!(t.contains("note: skipped\n"));
        assert!(t.contains("  - listen() backlog: 4096   [tcp.listen_overflow]\n"));
        assert_eq!(render_plan(&Plan::default(), false), "");
    }
}
