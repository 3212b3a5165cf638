//! `nettune tune`: sample (or load) a window, diagnose, print the plan; with `--apply`
//! apply it as one journaled transaction, optionally verify and roll back by itself.

use super::check::{exit_code, obtain_capture};
use super::{exit, parse_duration, GlobalArgs};
use crate::diagnose::diagnose_capture;
use crate::diagnose::{Finding, Options, Severity};
use crate::tune::plan::{self, Plan};
use crate::tune::profiles;
use crate::tune::{self, journal, Faults, TxOutcome};
use clap::Args;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `nettune tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Length of the sampling window the plan is based on.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Plan from a saved capture (dry run only).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Apply these changes instead of sampling: a JSON array of changes
    /// (`{"kind", "target", "current", "proposed", "finding"}`) or a `tune --json` report.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "only", "verify"])]
    pub plan: Option<PathBuf>,
    /// Only act on these findings (ids, or areas such as `softnet`), comma-separated.
    #[arg(long, value_name = "ID,..", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Tuning profile: balanced, throughput, latency, web-gateway, stream-ingest, cdn, or a
    /// FILE.toml.
    #[arg(long, value_name = "P|FILE", default_value = "balanced")]
    pub profile: String,
    /// Apply the plan as one transaction (the default is a dry run).
    #[arg(long)]
    pub apply: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Apply changes the safety checks refuse (syncookies/timestamps off, lowering values).
    #[arg(long)]
    pub force: bool,
    /// After applying, measure a window this long; roll back if the targeted findings remain.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub verify: Option<Duration>,
    /// Also write the boot-time configuration (sysctl.d, systemd .link, a oneshot unit).
    #[arg(long)]
    pub persist: bool,
    /// Root directory for `--persist` (default `/`).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub persist_root: PathBuf,
}

/// The one-line error when writing to the kernel is not permitted.
pub fn require_root(what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "{what} needs CAP_NET_ADMIN (to write /proc/sys/net and /sys/class/net) and \
         CAP_SYS_ADMIN (for --netns and /proc/irq); run it as root"
    );
    Ok(())
}

/// Run `nettune tune`.
pub fn run(global: &GlobalArgs, args: &TuneArgs) -> anyhow::Result<u8> {
    let profile = profiles::load(&args.profile)?;
    if args.apply {
        anyhow::ensure!(
            args.from.is_none(),
            "--apply works on the live host; a plan from --from is a dry run only"
        );
        require_root("tune --apply")?;
    }
    anyhow::ensure!(
        args.verify.is_none() || args.apply,
        "--verify needs --apply"
    );
    anyhow::ensure!(
        !args.persist || args.apply,
        "--persist writes what --apply changed; give --apply too"
    );
    let options = Options {
        intent: profile.intent,
        ..Options::default()
    };
    let (plan, findings) = match &args.plan {
        Some(file) => {
            let mut plan = load_plan(file)?;
            let host = crate::collect::host::read(
                &mut crate::collect::FileBuf::default(),
                &global.root(),
                &mut crate::collect::Warnings::default(),
            );
            plan::refuse_daemons(&mut plan, &host.daemons);
            (plan, Vec::new())
        }
        None => {
            let cap = obtain_capture(global, args.from.as_ref(), args.interval)?;
            let (findings, _notes) = diagnose_capture(&cap, &options);
            (
                plan_for(&cap, &findings, &profile, args, &options),
                findings,
            )
        }
    };

    let mut out = std::io::stdout().lock();
    if !global.json {
        write!(out, "{}", render_plan(&plan, args.force))?;
    }
    if !args.apply || plan.items.is_empty() {
        if global.json {
            print_json(&mut out, &report(&plan, None, None))?;
        } else if plan.items.is_empty() {
            writeln!(out, "nothing to change")?;
        } else {
            writeln!(
                out,
                "dry run: nothing changed; re-run with --apply to apply"
            )?;
        }
        return Ok(exit::OK);
    }
    if !args.force {
        let refused: Vec<String> = plan
            .refused()
            .map(|i| {
                format!(
                    "{}: {}",
                    i.change.target,
                    i.refusal.as_deref().unwrap_or("")
                )
            })
            .collect();
        anyhow::ensure!(
            refused.is_empty(),
            "refusing to apply without --force: {}",
            refused.join("; ")
        );
    }
    if !args.yes {
        anyhow::ensure!(
            std::io::stdin().is_terminal(),
            "--apply asks for confirmation on a terminal; give --yes to apply non-interactively"
        );
        eprint!("apply {} change(s)? [y/N] ", plan.items.len());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "not applied")?;
            return Ok(exit::OK);
        }
    }

    let netns = global.netns.as_deref().map(crate::netns::resolve);
    let state = journal::state_dir();
    let changes = plan.changes();
    let ns_label = netns.as_ref().map(|p| p.display().to_string());
    let state2 = state.clone();
    let outcome = tune::with_kernel_applier(&global.root(), netns.as_deref(), move |a| {
        tune::run_transaction(
            a,
            &state2,
            ns_label.as_deref(),
            &changes,
            Faults::from_env(),
        )
    })??;
    if let Some(err) = &outcome.error {
        if global.json {
            print_json(&mut out, &report(&plan, Some(&outcome), None))?;
        }
        let restored = if outcome.restore_errors.is_empty() {
            format!(
                "everything already changed was restored ({} value(s))",
                outcome.restored.len()
            )
        } else {
            format!(
                "COULD NOT RESTORE {}; retry with `nettune rollback {}`",
                outcome.restore_errors.join("; "),
                outcome.id
            )
        };
        anyhow::bail!(
            "apply failed at {err}; {restored} (journal {})",
            outcome.journal.display()
        );
    }
    if !global.json {
        writeln!(
            out,
            "applied transaction {} ({} change(s)); undo with `nettune rollback {}`",
            outcome.id,
            outcome.applied.len(),
            outcome.id
        )?;
    }
    let mut persisted = Vec::new();
    if args.persist {
        persisted = persist_outcome(&plan, &outcome, global, &args.persist_root)?;
        if !global.json {
            for p in &persisted {
                writeln!(out, "persisted: {}", p.display())?;
            }
        }
    }

    let mut code = exit::OK;
    let mut verify = None;
    if let Some(window) = args.verify {
        let after_cap = super::common::capture(global, window)?;
        let (after, _) = diagnose_capture(&after_cap, &options);
        let v = judge(&plan, &findings, &after);
        code = exit_code(&after);
        let mut rolled_back = false;
        if v.still.is_some() {
            let log = journal::find(&state, &outcome.id)?;
            tune::rollback_transaction(&global.root(), &log)?;
            rolled_back = true;
        }
        if !global.json {
            match &v.still {
                Some(id) => writeln!(
                    out,
                    "verify: {id} is still present after {:?} ({} {} -> {}); rolled back transaction {}",
                    window, v.symptom, v.before, v.after, outcome.id
                )?,
                None => writeln!(
                    out,
                    "verify: targeted findings are gone after {:?} ({} {} -> {})",
                    window, v.symptom, v.before, v.after
                )?,
            }
        }
        verify = Some(json!({
            "symptom": v.symptom, "before": v.before, "after": v.after,
            "rolled_back": rolled_back, "still_present": v.still,
        }));
    }
    if global.json {
        let mut r = report(&plan, Some(&outcome), verify);
        r["persisted"] = json!(persisted);
        print_json(&mut out, &r)?;
    }
    Ok(code)
}

/// Write the boot-time configuration of a committed transaction under `root`, journaled in
/// the transaction's journal.
fn persist_outcome(
    plan: &Plan,
    outcome: &TxOutcome,
    global: &GlobalArgs,
    root: &std::path::Path,
) -> anyhow::Result<Vec<PathBuf>> {
    use crate::tune::persist;
    let items: Vec<persist::Item> = outcome
        .applied
        .iter()
        .map(|a| persist::Item {
            change: crate::change::Change::new(a.kind, &a.target, Some(a.old.clone()), &a.value),
            finding: plan
                .items
                .iter()
                .find(|i| i.change.kind == a.kind && i.change.target == a.target)
                .map_or_else(|| "manual".to_string(), |i| i.finding.clone()),
        })
        .collect();
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let prov = persist::Provenance {
        transaction: outcome.id.clone(),
        date: journal::date(time),
        netns: global.netns.clone(),
    };
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.is_absolute())
        .map_or_else(
            || "/usr/local/bin/nettune".to_string(),
            |p| p.display().to_string(),
        );
    let mut j = journal::Journal::open(&outcome.journal)?;
    persist::persist(root, &mut j, &items, &prov, &exe).map_err(|e| {
        anyhow::anyhow!(
            "transaction {} is applied but persisting it failed: {e}; `nettune rollback {}` \
             undoes the changes and the files written so far",
            outcome.id,
            outcome.id
        )
    })
}

/// The plan for a capture: the findings' changes merged with the profile's settings, with
/// refusals for changes a running tuning daemon would fight.
fn plan_for(
    cap: &crate::snapshot::Capture,
    findings: &[Finding],
    profile: &profiles::Profile,
    args: &TuneArgs,
    options: &Options,
) -> Plan {
    let last = cap.snapshots.last();
    let config = last.and_then(|s| s.sysctl_config.ok()).map(Vec::as_slice);
    let mut plan = plan::build(findings, &args.only, config);
    let empty = crate::collect::sysctl::Sysctls::new();
    let ethtool = last.and_then(|s| s.ethtool.ok());
    let link_gbps = options.link_speed_gbps.unwrap_or_else(|| {
        ethtool
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|e| e.link.ok().and_then(|l| l.speed_mbps))
            .max()
            .map_or(10.0, |m| f64::from(m) / 1000.0)
    });
    let cc = cap.host.congestion_control_available.clone();
    let available = move |k: &str, v: &str| profiles::kernel_has(k, v, &cc);
    let now = profiles::Current {
        sysctl: last.and_then(|s| s.sysctl.ok()).unwrap_or(&empty),
        ethtool,
        bdp_bytes: profiles::bdp_bytes(link_gbps, options.rtt_ms.unwrap_or(20.0)),
        available: &available,
    };
    let (changes, skipped) = profile.changes(&now);
    plan::merge_profile(
        &mut plan,
        &profile.name,
        changes,
        skipped,
        &args.only,
        config,
    );
    plan::refuse_daemons(&mut plan, &cap.host.daemons);
    plan
}

/// A plan file: a JSON array of changes or a `nettune.tune/v1` report.
fn load_plan(file: &std::path::Path) -> anyhow::Result<Plan> {
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(flatten)]
        change: crate::change::Change,
        #[serde(default)]
        finding: Option<String>,
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("plan {}: {e}", file.display()))?;
    let bad = |e: String| anyhow::anyhow!("plan {}: {e}", file.display());
    let value: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let list = match value {
        Value::Object(mut o) => o.remove("changes").unwrap_or(Value::Null),
        v => v,
    };
    let items: Vec<Item> = serde_json::from_value(list).map_err(|e| {
        bad(format!(
            "expected an array of {{kind, target, current, proposed}}: {e}"
        ))
    })?;
    let mut plan = Plan::default();
    for it in items {
        let finding = it.finding.unwrap_or_else(|| "manual".to_string());
        if it.change.kind == crate::change::ChangeKind::Advice {
            plan.advice.push(plan::AdviceItem {
                finding,
                change: it.change,
            });
            continue;
        }
        plan.items.push(plan::PlanItem {
            refusal: plan::refusal(&it.change),
            change: it.change,
            finding,
            severity: Severity::Info,
            risk: String::new(),
            notes: Vec::new(),
        });
    }
    Ok(plan)
}

/// The verify verdict: the first targeted finding's first evidence before and after.
struct Verdict {
    symptom: String,
    before: f64,
    after: f64,
    /// A targeted finding id still present at warning or above.
    still: Option<String>,
}

fn judge(plan: &Plan, before: &[Finding], after: &[Finding]) -> Verdict {
    let targeted: Vec<&str> = plan.items.iter().map(|i| i.finding.as_str()).collect();
    let first = before.iter().find(|f| targeted.contains(&f.id.as_str()));
    let ev = first.and_then(|f| f.evidence.first());
    let symptom = ev
        .map(|e| format!("{} {}", e.metric, e.scope))
        .unwrap_or_default();
    let after_value = first
        .and_then(|f| after.iter().find(|a| a.id == f.id))
        .and_then(|a| {
            let e0 = ev?;
            a.evidence
                .iter()
                .find(|e| e.metric == e0.metric && e.scope == e0.scope)
        })
        .map_or(0.0, |e| e.value);
    let still = after
        .iter()
        .find(|f| f.severity >= Severity::Warning && targeted.contains(&f.id.as_str()))
        .map(|f| f.id.clone());
    Verdict {
        symptom,
        before: ev.map_or(0.0, |e| e.value),
        after: after_value,
        still,
    }
}

fn print_json(out: &mut impl Write, v: &Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// The `nettune.tune/v1` object.
fn report(plan: &Plan, outcome: Option<&TxOutcome>, verify: Option<Value>) -> Value {
    let committed = outcome.is_some_and(TxOutcome::committed);
    let changes: Vec<Value> = plan
        .items
        .iter()
        .map(|i| {
            let done = outcome.and_then(|o| {
                o.applied
                    .iter()
                    .find(|a| a.kind == i.change.kind && a.target == i.change.target)
            });
            json!({
                "kind": i.change.kind, "target": i.change.target,
                "current": done.map(|d| Some(d.old.clone())).unwrap_or(i.change.current.clone()),
                "proposed": i.change.proposed, "finding": i.finding,
                "applied": committed && done.is_some(),
                "severity": i.severity, "risk": i.risk, "refused": i.refusal, "notes": i.notes,
                "command": i.change.command(),
            })
        })
        .collect();
    let advice: Vec<Value> = plan
        .advice
        .iter()
        .map(|a| json!({"finding": a.finding, "target": a.change.target, "proposed": a.change.proposed}))
        .collect();
    json!({
        "schema": "nettune.tune/v1",
        "transaction": outcome.map(|o| o.id.clone()),
        "applied": committed,
        "changes": changes,
        "advice": advice,
        "notes": plan.notes,
        "verify": verify,
        "error": outcome.and_then(|o| o.error.clone()),
        "restored": outcome.map(|o| o.restored.clone()).unwrap_or_default(),
    })
}

/// The plan as text.
pub fn render_plan(plan: &Plan, force: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if !plan.items.is_empty() {
        let _ = writeln!(s, "plan ({} change(s)):", plan.items.len());
    }
    for (n, i) in plan.items.iter().enumerate() {
        let c = &i.change;
        let _ = writeln!(
            s,
            "  {}. {} {}: {} -> {}   [{}, {}]",
            n + 1,
            c.kind,
            c.target,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Change;
    use crate::diagnose::Evidence;

    fn finding(id: &str, sev: Severity, value: f64) -> Finding {
        Finding {
            id: id.into(),
            severity: sev,
            title: String::new(),
            detail: String::new(),
            evidence: vec![Evidence::new("softnet.dropped", "cpu1", value, "1/s")],
            changes: vec![Change::sysctl(
                "net.core.netdev_max_backlog",
                Some("1000"),
                "4000",
            )],
            risk: String::new(),
            verify: String::new(),
        }
    }

    #[test]
    fn verify_rolls_back_only_while_a_targeted_finding_remains() {
        let before = vec![finding("softnet.backlog_drops", Severity::Critical, 1260.0)];
        let plan = plan::build(&before, &[], None);
        let gone = judge(&plan, &before, &[]);
        assert_eq!(gone.still, None);
        assert_eq!(gone.symptom, "softnet.dropped cpu1");
        assert_eq!((gone.before, gone.after), (1260.0, 0.0));
        let still = judge(
            &plan,
            &before,
            &[finding("softnet.backlog_drops", Severity::Warning, 30.0)],
        );
        assert_eq!(still.still.as_deref(), Some("softnet.backlog_drops"));
        assert_eq!(still.after, 30.0);
        // Info level, or another finding, does not count.
        let info = judge(
            &plan,
            &before,
            &[finding("softnet.backlog_drops", Severity::Info, 1.0)],
        );
        assert_eq!(info.still, None);
        let other = judge(
            &plan,
            &before,
            &[finding("udp.rcvbuf_errors", Severity::Critical, 9.0)],
        );
        assert_eq!(other.still, None);
    }

    #[test]
    fn plan_files_take_arrays_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, r#"{"schema":"nettune.tune/v1","changes":[{"kind":"sysctl","target":"net.core.somaxconn","current":"4096","proposed":"128","finding":"x.y","applied":false},{"kind":"advice","target":"app","proposed":"4096"}]}"#).unwrap();
        let p = load_plan(&f).unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].finding, "x.y");
        assert!(p.items[0].refusal.is_some(), "lowering is refused");
        assert_eq!(p.advice.len(), 1);
        std::fs::write(&f, r#"[{"kind":"bogus","target":"x","proposed":"1"}]"#).unwrap();
        assert!(load_plan(&f).unwrap_err().to_string().contains("p.json"));
    }
}
