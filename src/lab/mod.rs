//! The lab: reproduce a fault in throwaway network namespaces and run the whole loop on it —
//! inject, drive traffic, `check` (library calls), plan with exactly `nettune tune`'s planner
//! ([`plan_round`] is [`crate::tune::plan_for`] with the run's profile), apply through the
//! real tune transaction, re-measure, compare with the scenario's threshold, clean up.
//!
//! [`mod@env`] owns namespaces, veth, host-wide sysctls and transactions (undone on drop and by
//! [`env::cleanup_leftovers`] after a crash); [`traffic`] holds the generators; [`scenarios`]
//! the catalogue; [`report`] the HTML page.
//!
//! Test hooks (`fault-injection` feature only, passed in [`RunOptions`]): a run can be made
//! to fail, panic or abort (a crash that leaves everything behind) at `setup`, `traffic`,
//! `check`, `apply` or `after`.

pub mod env;
pub mod report;
pub mod scenarios;
pub mod traffic;

use crate::change::{Change, ChangeKind};
use crate::collector::{CaptureOptions, Collector};
use crate::diagnose::{Finding, Options};
use crate::snapshot::{Capture, Snapshot};
use crate::tune::plan::Plan;
use crate::tune::profiles::Profile;
use crate::tune::{PlanOptions, TxOptions};
use crate::window::Window;
use crate::{Error, Result, Root};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Schema of `nettune lab run --json`.
pub const LAB_SCHEMA: &str = "nettune.lab/v1";

/// Set by SIGINT / SIGTERM once [`install_signal_handlers`] ran.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Whether Ctrl-C / SIGTERM arrived (generators and the runner stop at once).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Route SIGINT and SIGTERM to the [`interrupted`] flag, so a run stops and its guards
/// clean up instead of the process dying with namespaces and sysctls left behind.
pub fn install_signal_handlers() -> Result<()> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&INTERRUPTED))
            .map_err(|e| Error::io("signal handler", e))?;
    }
    Ok(())
}

fn check_interrupt() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted("Ctrl-C or SIGTERM".into()))
    } else {
        Ok(())
    }
}

/// Where a lab run fails, panics or aborts on purpose (phase names: `setup`, `traffic`,
/// `check`, `apply`, `after`).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabFaults {
    /// Return an error at this phase.
    pub fail_at: Option<String>,
    /// Panic at this phase.
    pub panic_at: Option<String>,
    /// Abort the process at this phase (a crash that leaves everything behind).
    pub abort_at: Option<String>,
}

/// The injected fault at `phase`, if one is asked for, then the interrupt check.
fn hook(opts: &RunOptions, phase: &str) -> Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        let at = |v: &Option<String>| v.as_deref() == Some(phase);
        if at(&opts.faults.abort_at) {
            tracing::error!("injected crash: aborting at {phase}");
            std::process::abort();
        }
        if at(&opts.faults.panic_at) {
            panic!("injected panic at {phase}");
        }
        if at(&opts.faults.fail_at) {
            return Err(Error::Interrupted(format!("injected failure at {phase}")));
        }
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = (opts, phase);
    check_interrupt()
}

/// The symptom over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Rate per second.
    pub total: f64,
    /// Rate per second of each CPU, when the symptom is per CPU.
    pub per_cpu: Vec<f64>,
}

/// Pass criterion on the symptom after tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// At or below this rate.
    AtMost(f64),
    /// At or below this fraction of the rate before.
    FractionOfBefore(f64),
    /// At least this many CPUs processed packets (the symptom is the number of busy CPUs).
    AtLeast(f64),
}

/// One fault: namespaces, the fault, its traffic and how to measure its symptom.
pub trait Fault {
    /// Build namespaces and inject the fault; returns the namespace `check` reads.
    fn setup(&mut self, env: &mut env::Env) -> Result<PathBuf>;
    /// Start one phase's traffic with fresh servers. `advice` holds the plan's advice
    /// (empty before tuning); the scenario's own applications take it.
    fn traffic(&mut self, advice: &[Change]) -> Result<traffic::Traffic>;
    /// Whether the scenario's own application takes this advice (the listen-overflow
    /// server raises its `listen()` backlog); reported as applied only then.
    fn takes_advice(&self, _advice: &Change) -> bool {
        false
    }
    /// The symptom over a window; `probe_delta` is the rise of each [`Fault::probe`]
    /// counter in it.
    fn symptom(&self, w: &Window, probe_delta: &[f64]) -> Sample;
    /// A counter only the scenario sees (e.g. failed connects), read at every snapshot.
    fn probe(&self) -> Vec<u64> {
        Vec::new()
    }
}

/// A scenario of the catalogue.
pub struct Scenario {
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// The finding `check` must report (any of these; the first is reported as expected).
    pub expected: &'static [&'static str],
    /// The symptom metric.
    pub symptom: &'static str,
    /// Unit of the symptom.
    pub unit: &'static str,
    pub threshold: Threshold,
    /// Findings whose changes the plan applies.
    pub fix: &'static [&'static str],
    /// Which limits had to be lowered to show the symptom on a small VM.
    pub note: &'static str,
    /// At most this many plan-apply-measure rounds (the tuning steps are bounded, e.g. ×2–×4
    /// per step for backlogs).
    pub max_rounds: u32,
    /// Build a fresh fault.
    pub make: fn() -> Box<dyn Fault>,
}

/// A change of the plan and whether it was applied.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeOut {
    pub kind: ChangeKind,
    pub target: String,
    pub current: Option<String>,
    pub proposed: String,
    pub finding: String,
    pub applied: bool,
    /// Tuning round (1 = the first plan).
    pub round: u32,
}

impl ChangeOut {
    fn new(c: &Change, finding: &str, round: u32) -> ChangeOut {
        ChangeOut {
            kind: c.kind,
            target: c.target.clone(),
            current: c.current.clone(),
            proposed: c.proposed.clone(),
            finding: finding.to_string(),
            applied: false,
            round,
        }
    }
}

/// The result of one scenario (`nettune.lab/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub schema: &'static str,
    pub scenario: String,
    pub passed: bool,
    pub expected_finding: String,
    pub found: bool,
    pub symptom: String,
    /// Symptom rate before tuning.
    pub before: f64,
    /// Symptom rate after tuning.
    pub after: f64,
    pub threshold: f64,
    /// Symptom unit.
    pub unit: String,
    pub changes: Vec<ChangeOut>,
    /// Finding ids reported before tuning.
    pub findings: Vec<String>,
    /// Transaction ids of the applies (all rolled back at the end of the run).
    pub transactions: Vec<String>,
    /// Tuning rounds taken (plan, apply, re-measure).
    pub rounds: u32,
    pub notes: Vec<String>,
    /// Why the run failed, when it did.
    pub error: Option<String>,
    /// Wall time of the run.
    pub seconds: f64,
    /// Symptom per sampling step before tuning.
    #[serde(skip)]
    pub series_before: Vec<Sample>,
    /// Symptom per sampling step after tuning.
    #[serde(skip)]
    pub series_after: Vec<Sample>,
    /// Sampling step in seconds.
    #[serde(skip)]
    pub step_seconds: f64,
}

/// Run options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where journals and the lab state file live.
    pub state_dir: PathBuf,
    /// Length of each measuring window.
    pub window: Duration,
    /// Sampling step inside a window.
    pub step: Duration,
    /// Traffic runs this long before measuring.
    pub warmup: Duration,
    /// Cap on the scenario's own number of plan-apply-measure rounds.
    pub max_rounds: u32,
    /// The profile the planner merges, as `nettune tune --profile` (the lab uses balanced).
    pub profile: Profile,
    /// Options of the tune transactions.
    pub tx: TxOptions,
    /// Injected faults (tests only).
    #[cfg(feature = "fault-injection")]
    pub faults: LabFaults,
}

impl RunOptions {
    /// Defaults (2.5 s windows of 0.5 s steps, 0.3 s warm-up, at most 6 rounds) with
    /// journals and lab state in `state_dir`, planning with `profile`.
    pub fn new(state_dir: PathBuf, profile: Profile) -> RunOptions {
        RunOptions {
            state_dir,
            window: Duration::from_millis(2500),
            step: Duration::from_millis(500),
            warmup: Duration::from_millis(300),
            max_rounds: 6,
            profile,
            tx: TxOptions::default(),
            #[cfg(feature = "fault-injection")]
            faults: LabFaults::default(),
        }
    }
}

/// The catalogue entry named `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    scenarios::all().iter().find(|s| s.name == name)
}

/// Snapshots every `step` for `window`; returns the capture (first and last snapshot),
/// the symptom per step and the symptom over the whole window.
fn measure(
    collector: &mut Collector,
    fault: &dyn Fault,
    opts: &RunOptions,
) -> Result<(Capture, Vec<Sample>, Sample)> {
    let host = collector.host_facts();
    let mut snaps: Vec<(Snapshot, Vec<u64>)> = vec![(collector.snapshot(), fault.probe())];
    let start = Instant::now();
    while start.elapsed() < opts.window {
        check_interrupt()?;
        std::thread::sleep(opts.step);
        snaps.push((collector.snapshot(), fault.probe()));
    }
    let sample = |a: &(Snapshot, Vec<u64>), b: &(Snapshot, Vec<u64>)| -> Sample {
        let delta: Vec<f64> =
            b.1.iter()
                .zip(&a.1)
                .map(|(n, o)| n.saturating_sub(*o) as f64)
                .collect();
        match Window::new(&a.0, &b.0, &host) {
            Some(w) => fault.symptom(&w, &delta),
            None => Sample::default(),
        }
    };
    let series: Vec<Sample> = snaps.windows(2).map(|p| sample(&p[0], &p[1])).collect();
    // `snaps` starts with one snapshot, so first and last exist (the same one at worst).
    let mut snaps = snaps.into_iter();
    let first = snaps.next();
    let last = snaps.next_back();
    let whole = match (&first, &last) {
        (Some(a), Some(b)) => sample(a, b),
        _ => Sample::default(),
    };
    let snapshots = first.into_iter().chain(last).map(|s| s.0).collect();
    let cap = Capture {
        schema: crate::snapshot::CAPTURE_SCHEMA.to_string(),
        host,
        netns: None,
        snapshots,
        archive: None,
        drops: crate::collect::Source::unsupported("drop reasons are not counted by the lab"),
    };
    Ok((cap, series, whole))
}

/// Split changes into those the namespace at `ns` can make and sysctls it cannot write
/// (host-wide keys are absent or read-only inside a namespace), which go to the host.
fn split_by_namespace(ns: &Path, changes: Vec<Change>) -> Result<(Vec<Change>, Vec<Change>)> {
    let keys: Vec<String> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Sysctl)
        .map(|c| c.target.clone())
        .collect();
    let writable: Vec<bool> = env::in_ns(ns, move || {
        Ok(keys
            .iter()
            .map(|k| {
                let p = Path::new("/proc/sys").join(k.replace('.', "/"));
                std::fs::OpenOptions::new().write(true).open(p).is_ok()
            })
            .collect())
    })?;
    let mut w = writable.into_iter();
    let (mut in_ns, mut host) = (Vec::new(), Vec::new());
    for c in changes {
        if c.kind == ChangeKind::Sysctl && !w.next().unwrap_or(true) {
            host.push(c);
        } else {
            in_ns.push(c);
        }
    }
    Ok((in_ns, host))
}

/// Run one scenario end to end. Errors of the loop itself (setup, apply) are returned in
/// the outcome (`error`, `passed: false`); everything is cleaned up before returning.
pub fn run(s: &Scenario, opts: &RunOptions) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome {
        schema: LAB_SCHEMA,
        scenario: s.name.to_string(),
        passed: false,
        expected_finding: s.expected.first().copied().unwrap_or("").to_string(),
        found: false,
        symptom: s.symptom.to_string(),
        before: 0.0,
        after: 0.0,
        threshold: 0.0,
        unit: s.unit.to_string(),
        changes: Vec::new(),
        findings: Vec::new(),
        transactions: Vec::new(),
        rounds: 0,
        notes: Vec::new(),
        error: None,
        seconds: 0.0,
        series_before: Vec::new(),
        series_after: Vec::new(),
        step_seconds: opts.step.as_secs_f64(),
    };
    if !s.note.is_empty() {
        out.notes.push(s.note.to_string());
    }
    for line in env::cleanup_leftovers(&opts.state_dir) {
        out.notes.push(format!("leftover of a crashed run: {line}"));
    }
    if let Err(e) = run_inner(s, opts, &mut out) {
        out.error = Some(e.to_string());
        out.passed = false;
    }
    out.seconds = start.elapsed().as_secs_f64();
    out
}

fn run_inner(s: &Scenario, opts: &RunOptions, out: &mut Outcome) -> Result<()> {
    let mut env = env::Env::new(&opts.state_dir)?;
    let mut fault = (s.make)();
    let ns = fault.setup(&mut env)?;
    hook(opts, "setup")?;
    let mut collector = Collector::in_netns(Root::default(), CaptureOptions::default(), &ns)?;
    let diagnose = diagnose_options(&opts.profile);

    // Before.
    let (cap, series, before) = {
        let traffic = fault.traffic(&[])?;
        std::thread::sleep(opts.warmup);
        hook(opts, "traffic")?;
        let m = measure(&mut collector, fault.as_ref(), opts);
        traffic.finish();
        m?
    };
    out.before = before.total;
    out.series_before = series;
    let (findings, notes) = crate::diagnose::diagnose_capture(&cap, &diagnose);
    out.notes.extend(notes);
    out.findings = findings.iter().map(|f| f.id.clone()).collect();
    out.found = findings.iter().any(|f| s.expected.contains(&f.id.as_str()));
    out.threshold = match s.threshold {
        Threshold::AtMost(t) | Threshold::AtLeast(t) => t,
        Threshold::FractionOfBefore(f) => before.total * f,
    };
    hook(opts, "check")?;
    if !out.found {
        return Err(Error::Unsupported(format!(
            "check did not report {} (reported: {})",
            out.expected_finding,
            out.findings.join(", ")
        )));
    }

    // Plan, apply through the real transaction, re-measure; like the manual loop, take
    // another step while the finding still fires and the symptom is above its threshold.
    let mut findings = findings;
    let mut cap = cap;
    for round in 1..=opts.max_rounds.min(s.max_rounds).max(1) {
        let plan = plan_round(s, &cap, &findings, &opts.profile);
        let advice = apply_round(fault.as_ref(), &plan, &ns, &mut env, opts, out, round)?;
        hook(opts, "apply")?;
        let (after_cap, series, after) = {
            let traffic = fault.traffic(&advice)?;
            std::thread::sleep(opts.warmup);
            hook(opts, "after")?;
            let m = measure(&mut collector, fault.as_ref(), opts);
            traffic.finish();
            m?
        };
        out.after = after.total;
        out.series_after = series;
        out.rounds = round;
        out.passed = out.found
            && match s.threshold {
                Threshold::AtLeast(t) => out.after >= t,
                _ => out.after <= out.threshold + 1e-9,
            };
        if out.passed {
            break;
        }
        cap = after_cap;
        findings = crate::diagnose::diagnose_capture(&cap, &diagnose).0;
        if !findings.iter().any(|f| s.expected.contains(&f.id.as_str())) {
            break;
        }
    }
    drop(collector);
    drop(fault);
    drop(env);
    Ok(())
}

/// The rule options the lab diagnoses with: those `nettune tune --profile P` uses.
pub fn diagnose_options(profile: &Profile) -> Options {
    Options {
        intent: profile.intent,
        ..Options::default()
    }
}

/// The planner options of scenario `s`: only its fix findings (so the profile's own
/// settings stay out, as with `nettune tune --only FIX`).
pub fn plan_options(s: &Scenario) -> PlanOptions {
    PlanOptions {
        only: s.fix.iter().map(|x| x.to_string()).collect(),
        ..PlanOptions::default()
    }
}

/// The plan of one tuning round: exactly `nettune tune --profile P --only FIX`'s planner
/// ([`crate::tune::plan_for`]: findings, profile merge and daemon refusals) on the capture
/// the round measured.
pub fn plan_round(s: &Scenario, cap: &Capture, findings: &[Finding], profile: &Profile) -> Plan {
    crate::tune::plan_for(cap, findings, profile, &plan_options(s))
}

/// Apply `plan` as one transaction in the namespace and one on the host (for sysctls the
/// namespace cannot write); refused changes are reported, not applied. Returns the plan's
/// advice (the scenario's own application may take it).
fn apply_round(
    fault: &dyn Fault,
    plan: &Plan,
    ns: &Path,
    env: &mut env::Env,
    opts: &RunOptions,
    out: &mut Outcome,
    round: u32,
) -> Result<Vec<Change>> {
    let first = out.changes.len();
    let mut changes = Vec::new();
    for item in &plan.items {
        match &item.refusal {
            Some(why) => out
                .notes
                .push(format!("not applied ({why}): {}", item.change)),
            None => changes.push(item.change.clone()),
        }
        out.changes
            .push(ChangeOut::new(&item.change, &item.finding, round));
    }
    let advice: Vec<Change> = plan.advice.iter().map(|a| a.change.clone()).collect();
    for a in &plan.advice {
        let mut c = ChangeOut::new(&a.change, &a.finding, round);
        c.applied = fault.takes_advice(&a.change);
        out.changes.push(c);
    }
    // Sysctls the namespace cannot write (host-wide ones are absent or read-only there) go
    // into a transaction on the host; their original values are restored at the end.
    let (ns_changes, host_changes) = split_by_namespace(ns, changes)?;
    for c in &host_changes {
        env.host_sysctl_remember(&c.target)?;
    }
    if ns_changes.is_empty() && host_changes.is_empty() && advice.is_empty() {
        return Err(Error::Unsupported(format!(
            "{}: the plan has nothing to apply",
            out.expected_finding
        )));
    }
    for (changes, netns) in [(host_changes, None), (ns_changes, Some(ns))] {
        if changes.is_empty() {
            continue;
        }
        let tx = crate::tune::apply_transaction(changes, netns, &opts.state_dir, &opts.tx)?;
        env.transaction(&tx.id)?;
        out.transactions.push(tx.id.clone());
        if let Some(e) = &tx.error {
            return Err(Error::Transaction {
                id: tx.id.clone(),
                what: format!("apply failed and was rolled back: {e}"),
            });
        }
        for a in &tx.applied {
            if let Some(c) = out.changes[first..]
                .iter_mut()
                .find(|c| c.kind == a.kind && c.target == a.target)
            {
                c.applied = true;
            }
        }
    }
    Ok(advice)
}

/// Path of the namespace file for a lab namespace name.
pub fn ns_path(name: &str) -> PathBuf {
    Path::new(env::NETNS_DIR).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::profiles;

    /// The lab plans with exactly `nettune tune`'s planner: for each recorded capture, the
    /// lab's round plan is `tune::plan_for` with the balanced profile and `--only FIX`.
    #[test]
    fn lab_and_tune_run_the_same_planner() {
        let balanced = profiles::load("balanced").unwrap();
        for (file, name) in [
            ("listen_overflow.json", "listen-overflow"),
            ("softnet_backlog.json", "backlog-drops"),
            ("udp_rcvbuf.json", "udp-rcvbuf"),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/captures")
                .join(file);
            let cap = Capture::load(&path).unwrap();
            let s = find(name).unwrap();
            let (findings, _) =
                crate::diagnose::diagnose_capture(&cap, &diagnose_options(&balanced));
            assert!(
                findings.iter().any(|f| s.expected.contains(&f.id.as_str())),
                "{file}"
            );
            let lab = plan_round(s, &cap, &findings, &balanced);
            let only = PlanOptions {
                only: s.fix.iter().map(|x| x.to_string()).collect(),
                ..PlanOptions::default()
            };
            let tune = crate::tune::plan_for(&cap, &findings, &balanced, &only);
            assert_eq!(lab, tune, "{file}");
            assert!(
                !(lab.items.is_empty() && lab.advice.is_empty()),
                "{file}: {lab:#?}"
            );
            assert!(
                lab.items
                    .iter()
                    .all(|i| s.fix.contains(&i.finding.as_str())),
                "{file}: {lab:#?}"
            );
            // The planner's refusals reach the lab: with tuned running, its sysctls are
            // refused (and apply_round reports them instead of applying).
            let mut busy = cap.clone();
            busy.host.daemons.tuned = true;
            let refused = plan_round(s, &busy, &findings, &balanced);
            assert!(
                refused
                    .items
                    .iter()
                    .filter(|i| i.change.kind == ChangeKind::Sysctl)
                    .all(|i| i.refusal.is_some()),
                "{file}: {refused:#?}"
            );
        }
    }
}
