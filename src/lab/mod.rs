//! The lab: reproduce a fault in throwaway network namespaces and run the whole loop on it —
//! inject, drive traffic, `check` (library calls), apply the plan through the real tune
//! transaction, re-measure, compare with the scenario's threshold, clean up.
//!
//! [`env`] owns namespaces, veth, host-wide sysctls and transactions (undone on drop and by
//! [`env::cleanup_leftovers`] after a crash); [`traffic`] holds the generators; [`scenarios`]
//! the catalogue; [`report`] the HTML page.
//!
//! Test hooks: `NETTUNE_LAB_FAIL_AT=PHASE` makes a run fail at `setup`, `traffic`, `check`,
//! `apply` or `after`; `NETTUNE_LAB_PANIC_AT=PHASE` panics there; `NETTUNE_LAB_ABORT_AT=PHASE`
//! aborts the process there (a crash that leaves everything behind).

pub mod env;
pub mod report;
pub mod scenarios;
pub mod traffic;

use crate::change::{Change, ChangeKind};
use crate::collector::{CaptureOptions, Collector};
use crate::diagnose::Options;
use crate::snapshot::{Capture, Snapshot};
use crate::window::Window;
use crate::{Error, Result, Root};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Schema of `nettune lab run --json`.
pub const LAB_SCHEMA: &str = "nettune.lab/v1";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C / SIGTERM arrived (generators and the runner stop at once).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Route SIGINT and SIGTERM to the [`interrupted`] flag, so a run stops and its guards
/// clean up instead of the process dying with namespaces and sysctls left behind.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an atomic.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

fn check_interrupt() -> Result<()> {
    if interrupted() {
        Err(Error::Input("interrupted".into()))
    } else {
        Ok(())
    }
}

/// Test hook at `phase` (see the module doc).
fn hook(phase: &str) -> Result<()> {
    let at = |k: &str| std::env::var(k).ok().is_some_and(|v| v.trim() == phase);
    if at("NETTUNE_LAB_ABORT_AT") {
        eprintln!("nettune lab: NETTUNE_LAB_ABORT_AT={phase}: aborting");
        std::process::abort();
    }
    if at("NETTUNE_LAB_PANIC_AT") {
        panic!("NETTUNE_LAB_PANIC_AT={phase}");
    }
    if at("NETTUNE_LAB_FAIL_AT") {
        return Err(Error::Input(format!(
            "injected failure at {phase} (NETTUNE_LAB_FAIL_AT)"
        )));
    }
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
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            state_dir: crate::tune::journal::state_dir(),
            window: Duration::from_millis(2500),
            step: Duration::from_millis(500),
            warmup: Duration::from_millis(300),
            max_rounds: 6,
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
    let (Some(first), Some(last)) = (snaps.first(), snaps.last()) else {
        return Err(Error::Input("no snapshots".into()));
    };
    let whole = sample(first, last);
    let last = snaps.pop().map(|s| s.0);
    let first = snaps.into_iter().next().map(|s| s.0);
    let snapshots = first.into_iter().chain(last).collect();
    let cap = Capture {
        schema: crate::snapshot::CAPTURE_SCHEMA.to_string(),
        host,
        netns: None,
        snapshots,
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
    hook("setup")?;
    let mut collector = Collector::in_netns(Root::default(), CaptureOptions::default(), &ns)?;

    // Before.
    let (cap, series, before) = {
        let traffic = fault.traffic(&[])?;
        std::thread::sleep(opts.warmup);
        hook("traffic")?;
        let m = measure(&mut collector, fault.as_ref(), opts);
        traffic.finish();
        m?
    };
    out.before = before.total;
    out.series_before = series;
    let (findings, notes) = crate::diagnose::diagnose_capture(&cap, &Options::default());
    out.notes.extend(notes);
    out.findings = findings.iter().map(|f| f.id.clone()).collect();
    out.found = findings.iter().any(|f| s.expected.contains(&f.id.as_str()));
    out.threshold = match s.threshold {
        Threshold::AtMost(t) | Threshold::AtLeast(t) => t,
        Threshold::FractionOfBefore(f) => before.total * f,
    };
    hook("check")?;
    if !out.found {
        return Err(Error::Input(format!(
            "check did not report {} (reported: {})",
            out.expected_finding,
            out.findings.join(", ")
        )));
    }

    // Plan, apply through the real transaction, re-measure; like the manual loop, take
    // another step while the finding still fires and the symptom is above its threshold.
    let mut findings = findings;
    for round in 1..=opts.max_rounds.min(s.max_rounds).max(1) {
        let advice = tune_round(
            s,
            fault.as_ref(),
            &findings,
            &ns,
            &mut env,
            opts,
            out,
            round,
        )?;
        hook("apply")?;
        let (cap, series, after) = {
            let traffic = fault.traffic(&advice)?;
            std::thread::sleep(opts.warmup);
            hook("after")?;
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
        findings = crate::diagnose::diagnose_capture(&cap, &Options::default()).0;
        if !findings.iter().any(|f| s.expected.contains(&f.id.as_str())) {
            break;
        }
    }
    drop(collector);
    drop(fault);
    drop(env);
    Ok(())
}

/// Build the plan from `findings` (only the scenario's fix findings), apply it as one
/// transaction in the namespace and one on the host (for sysctls the namespace cannot write),
/// and return the plan's advice.
#[allow(clippy::too_many_arguments)]
fn tune_round(
    s: &Scenario,
    fault: &dyn Fault,
    findings: &[crate::diagnose::Finding],
    ns: &Path,
    env: &mut env::Env,
    opts: &RunOptions,
    out: &mut Outcome,
    round: u32,
) -> Result<Vec<Change>> {
    let only: Vec<String> = s.fix.iter().map(|x| x.to_string()).collect();
    let plan = crate::tune::plan::build(findings, &only, None);
    let first = out.changes.len();
    let mut changes = Vec::new();
    for item in &plan.items {
        let ok = item.refusal.is_none();
        if !ok {
            out.notes.push(format!(
                "not applied ({}): {}",
                item.refusal.as_deref().unwrap_or(""),
                item.change
            ));
        }
        out.changes
            .push(ChangeOut::new(&item.change, &item.finding, round));
        if ok {
            changes.push(item.change.clone());
        }
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
        return Err(Error::Input(format!(
            "{}: the plan has nothing to apply",
            out.expected_finding
        )));
    }
    for (changes, netns) in [(host_changes, None), (ns_changes, Some(ns))] {
        if changes.is_empty() {
            continue;
        }
        let tx = crate::tune::apply_transaction(changes, netns, &opts.state_dir)?;
        env.transaction(&tx.id)?;
        out.transactions.push(tx.id.clone());
        if let Some(e) = &tx.error {
            return Err(Error::Input(format!(
                "apply failed and was rolled back: {e}"
            )));
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
