//! `nettune autotune`: the closed-loop daemon. Every interval (or sooner, when the eBPF
//! drop monitor sees a burst: [`wake`]) it takes a snapshot of every namespace, diagnoses the
//! window with the same rules as `check`, plans with the same planner and profile as `tune`
//! ([`crate::tune::plan_for`]), lets the pure engine ([`decide`]) choose, and applies each
//! write as its own journaled transaction ([`crate::tune::run_grouped`]), so `nettune
//! rollback ID` undoes exactly one decision and `--rollback-on-exit` can leave pinned keys
//! alone.
//!
//! Cost on an idle host: each tick reads only counters (the exporter's fast options) and
//! reuses the configuration of the last full snapshot ([`crate::export::carry_slow_sources`]);
//! a full snapshot (sysctls, sockets, configuration files) is taken every
//! [`FULL_EVERY`], and at once when the fast window shows a finding with a sysctl autotune
//! tunes, before anything is decided. The keys nettune wrote are read back every tick
//! through the appliers (one `pread` for a host key).
//!
//! Start: the state lock ([`crate::tune::lock::StateLock`], held for the daemon's life: a
//! second instance, `tune --apply`, `rollback` and `lab run` are refused naming its PID), then
//! the journal reconciled (every transaction begun and neither committed nor rolled back —
//! a crash mid-apply — is finished when each change was made, read back and still holds,
//! else rolled back: [`reconcile`]), then the state file ([`state`]) restores pins,
//! baselines and the values nettune wrote (a finished transaction's value included).
//! `--dry-run` takes no lock, reconciles nothing and writes nothing (not even the state
//! file): pins live in memory only.
//!
//! Logging: one line per decision on the log sink (stderr for the CLI; journald takes it),
//! `autotune: ` followed by what was done — `write`, `rollback`, `pinned`, `advice`, `hold`,
//! `verified` — or, with `--dry-run`, `autotune: dry-run: would write ...` with the same rest.

pub mod decide;
pub mod metrics;
pub mod pins;
pub mod state;
pub mod wake;

use crate::change::{Change, ChangeKind};
use crate::collect::Source;
use crate::collector::Collector;
use crate::diagnose::{diagnose_capture, Finding, Options};
use crate::namespaces::NetnsRef;
use crate::snapshot::{Capture, Snapshot, CAPTURE_SCHEMA};
use crate::tune::journal::{self, Place};
use crate::tune::knob::Knob;
use crate::tune::plan::Plan;
use crate::tune::profiles::Profile;
use crate::tune::{self, Appliers, KernelAppliers, PlanOptions, TxOptions};
use crate::window::Window;
use crate::{Error, Result, Root};
use decide::{Action, Advice, Engine, Guard, KeyRef, Machine, Observation, Symptom, Tuning, HOST};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A full snapshot (configuration, sockets) at least this often.
pub const FULL_EVERY: Duration = Duration::from_secs(10);

/// What the daemon does, decided by the caller (the CLI validates the flags into it).
#[derive(Debug, Clone)]
pub struct Config {
    /// Time between windows.
    pub interval: Duration,
    pub profile: Profile,
    pub plan: PlanOptions,
    /// Options of the rules (the profile's intent).
    pub diagnose: Options,
    /// Print the decisions, write nothing.
    pub dry_run: bool,
    /// On a clean stop, roll back what this run wrote (pinned keys excepted).
    pub rollback_on_exit: bool,
    /// Journals, the lock and the state file.
    pub state_dir: PathBuf,
    pub tx: TxOptions,
    /// The live kernel's roots.
    pub root: Root,
    /// The holder's command line recorded in the lock.
    pub command: String,
    /// Engine parameters (`dry_run` is taken from above).
    pub tuning: Tuning,
    /// The namespace whose own sources the collectors read (`--netns`: its path and how it
    /// was given); `None` for the host's. Changes that name no namespace are made there.
    pub netns: Option<(PathBuf, String)>,
}

/// What a run did, for the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub windows: u64,
    pub writes: u64,
    pub rollbacks: u64,
    /// Transactions reconciled at start (finished or rolled back).
    pub reconciled: Vec<String>,
}

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The namespace label of a change or finding.
fn label(ns: Option<&NetnsRef>) -> String {
    ns.map_or_else(|| HOST.to_string(), |n| n.name.clone())
}

/// `softnet.dropped cpu1=5230/s, softnet.processed cpu1=90000/s` (first four numbers).
fn evidence_text(f: &Finding) -> String {
    f.evidence
        .iter()
        .take(4)
        .map(|e| {
            let unit = if e.unit == "1/s" {
                "/s".to_string()
            } else {
                format!(" {}", e.unit)
            };
            format!("{} {}={:.0}{unit}", e.metric, e.scope, e.value)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The size of a finding's symptom: the sum of its first evidence metric over scopes.
pub fn magnitude(f: &Finding) -> f64 {
    let Some(first) = f.evidence.first() else {
        return 0.0;
    };
    f.evidence
        .iter()
        .filter(|e| e.metric == first.metric)
        .map(|e| e.value)
        .sum()
}

/// Arrivals per second at the worst CPU of a backlog finding: dropped + processed of the
/// same `cpuN` scope, the largest.
pub fn arrivals(f: &Finding) -> Option<f64> {
    let mut per: BTreeMap<&str, f64> = BTreeMap::new();
    for e in &f.evidence {
        if e.metric == "softnet.dropped" || e.metric == "softnet.processed" {
            *per.entry(e.scope.as_str()).or_default() += e.value;
        }
    }
    per.values().copied().reduce(f64::max)
}

/// The guard metrics of a window; latency only when `sockets_read` (the window's newer
/// snapshot dumped the sockets itself).
pub fn guard(w: Option<&Window>, sockets_read: bool) -> Guard {
    let Some(w) = w else {
        return Guard::default();
    };
    let processed: f64 = w.softnet().iter().map(|r| r.processed).sum();
    let share: f64 = w.softirq_time_share().iter().map(|(_, s)| s).sum();
    Guard {
        retrans_per_s: w.netstat_rate("Tcp", "RetransSegs").unwrap_or(0.0).max(0.0),
        softirq_per_mpkt: (processed >= 1000.0 && share > 0.0).then(|| share / processed * 1e6),
        rtt_p90_us: if sockets_read {
            rtt_p90_us(w.newer)
        } else {
            None
        },
    }
}

/// The worst p90 smoothed RTT (µs) over the snapshot's namespaces (its own and those it
/// carries) with at least [`decide::RTT_GUARD_MIN_SAMPLES`] established sockets.
pub fn rtt_p90_us(s: &Snapshot) -> Option<f64> {
    std::iter::once(s)
        .chain(s.namespaces.iter().map(|n| &n.snapshot))
        .filter_map(|s| s.sockets.ok())
        .map(|k| &k.rtt.all)
        .filter(|r| r.samples >= decide::RTT_GUARD_MIN_SAMPLES)
        .filter_map(|r| r.p90_us)
        .map(f64::from)
        .reduce(f64::max)
}

/// The observation of one window: the plan's sysctl changes of findings as symptoms, the rest
/// as advice; `namespaces` collects the `NetnsRef` of every label seen.
pub fn observe(
    cap: &Capture,
    findings: &[Finding],
    plan: &Plan,
    now: f64,
    sockets_read: bool,
    namespaces: &mut BTreeMap<String, NetnsRef>,
) -> Observation {
    let newest = cap.snapshots.last();
    let config = newest.and_then(|s| s.sysctl_config.ok());
    let mut obs = Observation {
        now,
        guard: guard(Window::newest(cap).as_ref(), sockets_read),
        machine: Some(Machine {
            mem_bytes: cap.host.mem_total_bytes,
            cpus: (cap.host.cpus_online.len() as u64)
                .max(u64::from(cap.host.cpus))
                .max(1),
        }),
        ..Observation::default()
    };
    for f in findings {
        obs.fired.insert((label(f.netns.as_ref()), f.id.clone()));
    }
    let finding_of = |id: &str, ns: &str| {
        findings
            .iter()
            .find(|f| f.id == id && label(f.netns.as_ref()) == ns)
            .or_else(|| findings.iter().find(|f| f.id == id))
    };
    for item in &plan.items {
        // Profile settings not justified by a finding are `nettune tune`'s business.
        if item.finding.starts_with("profile.") {
            continue;
        }
        let c = &item.change;
        let ns = label(c.netns.as_ref());
        if let Some(r) = &c.netns {
            namespaces.insert(ns.clone(), r.clone());
        }
        let key = KeyRef::new(&c.target, &ns);
        if c.kind != ChangeKind::Sysctl {
            obs.advice.push(Advice {
                key: KeyRef::new(&format!("{} {}", c.kind, c.target), &ns),
                finding: item.finding.clone(),
                proposed: c.proposed.clone(),
                why: "autotune writes sysctls only; apply it with `nettune tune --apply`".into(),
            });
            continue;
        }
        let f = finding_of(&item.finding, &ns);
        if ns == HOST {
            if let Some(e) =
                config.and_then(|c| crate::collect::sysctl::config_for_key(c, &key.key))
            {
                obs.configured
                    .insert(key.key.clone(), format!("{}:{}", e.file.display(), e.line));
            }
        }
        obs.symptoms.push(Symptom {
            key,
            finding: item.finding.clone(),
            magnitude: f.map_or(0.0, magnitude),
            evidence: f.map(evidence_text).unwrap_or_default(),
            proposed: c.proposed.clone(),
            current: c.current.clone(),
            arrivals: f.and_then(arrivals),
            refused: item.refusal.clone(),
        });
    }
    for a in &plan.advice {
        let ns = label(a.change.netns.as_ref());
        obs.advice.push(Advice {
            key: KeyRef::new(&a.change.target, &ns),
            finding: a.finding.clone(),
            proposed: a.change.proposed.clone(),
            why: "advice: nettune cannot change it live".into(),
        });
    }
    obs
}

/// The one decision line of `action` (without the `autotune: ` prefix).
pub fn describe(action: &Action, tx: Option<&str>) -> String {
    match action {
        Action::Write {
            key,
            finding,
            evidence,
            from,
            to,
            why,
            nth,
        } => format!(
            "write {} ({}) {} -> {}; saw {finding} ({evidence}); why: {why}; write {nth} of \
             this episode; tx {}",
            key.key,
            key.ns,
            from.replace('\t', " "),
            to.replace('\t', " "),
            tx.unwrap_or("-")
        ),
        Action::Rollback { key, tx, why } => {
            format!(
                "rollback {} ({}) tx {tx}: {why}; backing off",
                key.key, key.ns
            )
        }
        Action::Pinned { key, pin } => pins::line(key, pin),
        Action::Advise(a) => format!(
            "advice {} ({}): {} (for {}); not written: {}",
            a.key.key, a.key.ns, a.proposed, a.finding, a.why
        ),
        Action::Hold { key, finding, why } => {
            format!("hold {} ({}) for {finding}: {why}", key.key, key.ns)
        }
        Action::Verified {
            key,
            tx,
            settled,
            why,
        } => format!(
            "verified {} ({}) tx {tx}: {why}{}",
            key.key,
            key.ns,
            if *settled { "; settled" } else { "" }
        ),
    }
}

/// The daemon.
pub struct Daemon {
    cfg: Config,
    fast: Collector,
    slow: Collector,
    engine: Engine,
    state: state::State,
    /// The state file's modification time after our last save (an `unpin` changes it).
    saved_mtime: Option<SystemTime>,
    namespaces: BTreeMap<String, NetnsRef>,
    /// The default namespace: the host's, or `--netns`'s (the label [`HOST`] in keys).
    host: NetnsRef,
    /// The host's namespace (host-wide keys are written there).
    real_host: NetnsRef,
    /// Transactions this run committed, oldest first.
    ours: Vec<(KeyRef, String)>,
    metrics: Arc<metrics::Metrics>,
    start: Instant,
    summary: Summary,
}

impl Daemon {
    /// Take the lock (not for a dry run), reconcile the journal, restore the state. `fast`
    /// reads counters ([`crate::export::fast_options`]), `slow` everything
    /// ([`crate::export::slow_options`] with sockets).
    pub fn start(
        cfg: Config,
        fast: Collector,
        slow: Collector,
        log: &mut dyn Write,
    ) -> Result<(Daemon, Option<tune::lock::StateLock>)> {
        let lock = if cfg.dry_run {
            None
        } else {
            std::fs::create_dir_all(&cfg.state_dir).map_err(|e| Error::io(&cfg.state_dir, e))?;
            Some(tune::lock::StateLock::acquire(
                &cfg.state_dir,
                &cfg.command,
            )?)
        };
        let mut summary = Summary::default();
        let reconciled = if cfg.dry_run {
            Reconciled::default()
        } else {
            reconcile(&cfg.root, &cfg.state_dir, log)?
        };
        summary.reconciled = reconciled.ids();
        let st = match state::load(&cfg.state_dir) {
            Ok(s) => s,
            Err(e) => {
                line(log, &format!("state file unreadable, starting afresh: {e}"));
                state::State::default()
            }
        };
        let mut engine = Engine::new(Tuning {
            dry_run: cfg.dry_run,
            verify_after_secs: cfg.interval.as_secs_f64() * 0.9,
            ..cfg.tuning.clone()
        });
        st.restore(&mut engine);
        for p in &st.pins {
            line(
                log,
                &format!(
                    "pinned {} ({}) stays pinned (set by the administrator to {}); `nettune \
                     autotune unpin {}` releases it",
                    p.key.key, p.key.ns, p.pin.value, p.key.key
                ),
            );
        }
        let real_host = tune::host_netns(&cfg.root)?;
        let host = match &cfg.netns {
            Some((path, spec)) => tune::netns_ref(path, spec)?,
            None => real_host.clone(),
        };
        let metrics = Arc::new(metrics::Metrics::default());
        metrics.load(&st);
        let saved_mtime = mtime(&cfg.state_dir);
        // A finished transaction's value is nettune's: known to the engine (read back each
        // window, pinned if someone else changes it), its old value the baseline unless one
        // is known.
        let mut namespaces = BTreeMap::new();
        for (l, changes) in &reconciled.finished {
            for (c, it) in changes.iter().zip(&l.intents) {
                if c.kind != ChangeKind::Sysctl || decide::policy(&c.target).is_none() {
                    continue;
                }
                let ns = match &c.netns {
                    Some(n) if n.inode != host.inode && n.inode != real_host.inode => {
                        namespaces.insert(n.name.clone(), n.clone());
                        n.name.clone()
                    }
                    _ => HOST.to_string(),
                };
                engine.adopt(&KeyRef::new(&c.target, &ns), &l.id, &c.value, &it.old);
            }
        }
        Ok((
            Daemon {
                cfg,
                fast,
                slow,
                engine,
                state: st,
                saved_mtime,
                namespaces,
                host,
                real_host,
                ours: Vec::new(),
                metrics,
                start: Instant::now(),
                summary,
            },
            lock,
        ))
    }

    /// The metrics the `--listen` exporter appends.
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Run until `stop`; `waker` cuts a wait short (eBPF bursts).
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        waker: &wake::Waker,
        log: &mut dyn Write,
    ) -> Result<Summary> {
        let host_facts = self.slow.host_facts();
        let mut prev = self.slow.snapshot();
        // The start of the last window (the snapshot before `prev`): an eBPF wake-up right
        // after a tick diagnoses from here instead of waiting for the window to grow.
        let mut older: Option<Snapshot> = None;
        let mut slow_snap = prev.clone();
        let mut slow_at = Instant::now();
        let mut next = Instant::now() + self.cfg.interval;
        let mut last_tick = Instant::now();
        let mut last_wake: Option<Instant> = None;
        // An eBPF wake-up ends the window early, but a window is never shorter than this
        // (rates over a sliver are noise): a wake-up less than this after a tick diagnoses
        // from the start of the last window, at once; only a second wake-up within this
        // bound waits (at most one early window per `min_window` under sustained drops).
        let min_window = (self.cfg.interval / 10).max(Duration::from_millis(100));
        while !stop.load(Ordering::Relaxed) {
            let woke = waker.wait_until(next, stop);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let mut base = None;
            if woke {
                let ran = last_tick.elapsed();
                let rewoken = last_wake.is_some_and(|t| t.elapsed() < min_window);
                if ran < min_window {
                    match older.take() {
                        Some(o) if !rewoken => base = Some(o),
                        _ => std::thread::sleep(min_window - ran),
                    }
                }
                if last_wake.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    line(
                        log,
                        "woken early by the eBPF drop monitor: a burst of drops (said once \
                         per 10 s)",
                    );
                }
                last_wake = Some(Instant::now());
            }
            let began = Instant::now();
            next = began + self.cfg.interval;
            let since_tick = last_tick.elapsed();
            last_tick = began;
            self.reload_pins(log);
            let early = base.is_some();
            let mut newest = self.fast.snapshot();
            let fast_ms = began.elapsed().as_secs_f64() * 1e3;
            crate::export::carry_slow_sources(&mut newest, &slow_snap);
            let mut cap = capture(&host_facts, base.unwrap_or(prev), newest);
            let (mut findings, _) = diagnose_capture(&cap, &self.cfg.diagnose);
            let actionable = findings.iter().any(|f| {
                f.changes
                    .iter()
                    .any(|c| c.kind == ChangeKind::Sysctl && decide::policy(&c.target).is_some())
            });
            let diagnosed_ms = began.elapsed().as_secs_f64() * 1e3;
            // A write waiting for its verdict is judged on a full window too (latency is
            // measured from the socket dump).
            let full = actionable || self.engine.verifying() || slow_at.elapsed() >= FULL_EVERY;
            if full {
                // A full snapshot now: the window ends at it, its configuration is current.
                slow_snap = self.slow.snapshot();
                slow_at = Instant::now();
                cap.snapshots[1] = slow_snap.clone();
                findings = diagnose_capture(&cap, &self.cfg.diagnose).0;
            }
            let full_ms = began.elapsed().as_secs_f64() * 1e3;
            let changed_before = self.summary.writes + self.summary.rollbacks;
            self.tick(&cap, &findings, full, log);
            let changed = self.summary.writes + self.summary.rollbacks != changed_before;
            tracing::debug!(
                woke,
                early,
                since_tick_ms = since_tick.as_secs_f64() * 1e3,
                window_ms = Window::newest(&cap).map_or(0.0, |w| w.seconds() * 1e3),
                softnet_dropped = Window::newest(&cap).map_or(0.0, |w| w
                    .softnet()
                    .iter()
                    .map(|r| r.dropped)
                    .sum::<f64>()),
                actionable,
                findings = findings.len(),
                fast_ms,
                diagnosed_ms,
                full_ms,
                total_ms = began.elapsed().as_secs_f64() * 1e3,
                "autotune window"
            );
            if changed {
                // The next window judges the change: it starts after it, not at the
                // snapshot before it (the milliseconds between them, planning and the
                // journal's fsyncs, still hold the old value's drops).
                let mut after = self.fast.snapshot();
                crate::export::carry_slow_sources(&mut after, &slow_snap);
                prev = after;
                older = None;
            } else {
                prev = cap.snapshots.pop().unwrap_or_else(|| self.fast.snapshot());
                older = cap.snapshots.pop();
            }
        }
        self.exit(log);
        Ok(self.summary.clone())
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// One window: plan, observe, decide, act, save. `full`: the window ends at a full
    /// snapshot (its sockets were read: latency is measured).
    fn tick(&mut self, cap: &Capture, findings: &[Finding], full: bool, log: &mut dyn Write) {
        self.summary.windows += 1;
        let mut appliers = KernelAppliers::new(self.cfg.root.clone());
        // Nothing proposed: no plan (the profile's own settings are `tune`'s business).
        let mut plan = if findings.iter().any(|f| !f.changes.is_empty()) {
            tune::plan_for(cap, findings, &self.cfg.profile, &self.cfg.plan)
        } else {
            Plan::default()
        };
        if !plan.items.is_empty() {
            tune::route_host_wide(&mut plan, &mut appliers, &self.host, &self.real_host);
        }
        let now = self.now();
        let mut obs = observe(cap, findings, &plan, now, full, &mut self.namespaces);
        obs.values = self.read_back(&mut appliers);
        let actions = self.engine.step(&obs);
        for a in &actions {
            self.act(a, &mut appliers, log);
        }
        // Values the metrics show: every key the engine knows, as read back or planned.
        for s in &obs.symptoms {
            if let Some(v) = &s.current {
                self.metrics.set_value(&s.key, v);
            }
        }
        for (k, v) in &obs.values {
            self.metrics.set_value(k, v);
        }
        self.metrics.set_pins(&self.engine.pins);
        if !actions.is_empty() && !self.cfg.dry_run {
            self.save(log);
        }
    }

    /// The current value of every key nettune wrote (and still owns).
    fn read_back(&mut self, appliers: &mut KernelAppliers) -> BTreeMap<KeyRef, String> {
        let mut out = BTreeMap::new();
        let keys: Vec<KeyRef> = self
            .engine
            .keys
            .iter()
            .filter(|(k, s)| s.written.is_some() && !self.engine.pins.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let place = self.place(&k);
            let knob = Knob::Sysctl { key: k.key.clone() };
            if let Some(place) = place {
                if let Ok(v) = appliers.get(&place).and_then(|a| a.read(&knob)) {
                    out.insert(k, v);
                }
            }
        }
        out
    }

    /// Where `key` lives: the host's namespace (this one) or a namespace seen in a plan.
    fn place(&self, key: &KeyRef) -> Option<Place> {
        if key.ns == HOST {
            Some(if self.host.inode == self.real_host.inode {
                Place::Own
            } else {
                Place::Netns(self.host.clone())
            })
        } else {
            self.namespaces.get(&key.ns).cloned().map(Place::Netns)
        }
    }

    fn act(&mut self, a: &Action, appliers: &mut KernelAppliers, log: &mut dyn Write) {
        let dry = self.cfg.dry_run;
        match a {
            Action::Write { key, from, to, .. } => {
                if dry {
                    self.engine.applied(key, "", to);
                    self.say(
                        log,
                        &format!("dry-run: would {}", describe(a, Some("none (dry run)"))),
                    );
                    return;
                }
                let netns = (key.ns != HOST)
                    .then(|| self.namespaces.get(&key.ns).cloned())
                    .flatten();
                if key.ns != HOST && netns.is_none() {
                    self.engine.failed(key, self.now());
                    self.say(
                        log,
                        &format!("cannot write {} ({}): namespace not found", key.key, key.ns),
                    );
                    return;
                }
                let change = Change::sysctl(&key.key, Some(from), to.clone()).in_netns(netns);
                match tune::run_grouped(
                    appliers,
                    &self.cfg.state_dir,
                    &self.host,
                    None,
                    std::slice::from_ref(&change),
                    &self.cfg.tx,
                ) {
                    Ok(out) if out.committed() => {
                        let value = out
                            .applied
                            .first()
                            .map_or_else(|| to.clone(), |c| c.value.clone());
                        self.engine.applied(key, &out.id, &value);
                        self.ours.push((key.clone(), out.id.clone()));
                        self.summary.writes += 1;
                        let dir = if matches!(a, Action::Write { finding, .. } if finding == decide::DECAY)
                        {
                            "down"
                        } else {
                            "up"
                        };
                        self.state.count(key, dir);
                        self.metrics.changed(key, dir);
                        self.say(log, &describe(a, Some(&out.id)));
                    }
                    Ok(out) => {
                        self.engine.failed(key, self.now());
                        self.say(
                            log,
                            &format!(
                                "write {} ({}) failed and was restored (tx {}): {}",
                                key.key,
                                key.ns,
                                out.id,
                                out.error.unwrap_or_default()
                            ),
                        );
                    }
                    Err(e) => {
                        self.engine.failed(key, self.now());
                        self.say(log, &format!("write {} ({}) failed: {e}", key.key, key.ns));
                    }
                }
            }
            Action::Rollback { key, tx, .. } => {
                if dry {
                    self.say(log, &format!("dry-run: would {}", describe(a, None)));
                    self.engine.rolled_back(key);
                    return;
                }
                let result = journal::find(&self.cfg.state_dir, tx)
                    .and_then(|l| tune::rollback_transaction(&self.cfg.root, &l));
                match result {
                    Ok(_) => {
                        let dir = match self.engine.keys.get(key) {
                            Some(s) if s.last_write_down => "up",
                            _ => "down",
                        };
                        self.engine.rolled_back(key);
                        self.ours.retain(|(_, t)| t != tx);
                        self.summary.rollbacks += 1;
                        self.state.count(key, dir);
                        self.state.rollbacks += 1;
                        self.metrics.changed(key, dir);
                        self.metrics.rolled_back();
                        self.say(log, &describe(a, None));
                    }
                    Err(e) => {
                        self.say(
                            log,
                            &format!("{}; the rollback failed: {e}", describe(a, None)),
                        );
                    }
                }
            }
            Action::Pinned { key, .. } => {
                if let Some(p) = self.engine.pins.get_mut(key) {
                    p.since = epoch();
                }
                let prefix = if dry { "dry-run: " } else { "" };
                self.say(log, &format!("{prefix}{}", describe(a, None)));
            }
            _ => {
                let prefix = if dry { "dry-run: " } else { "" };
                self.say(log, &format!("{prefix}{}", describe(a, None)));
            }
        }
    }

    /// Log a decision line and keep it for `status`.
    fn say(&mut self, log: &mut dyn Write, text: &str) {
        line(log, text);
        self.state.decided(epoch(), text);
    }

    fn save(&mut self, log: &mut dyn Write) {
        self.state.capture(&self.engine);
        self.state.pid = std::process::id();
        self.state.updated = epoch();
        if let Err(e) = state::save(&self.cfg.state_dir, &self.state) {
            line(log, &format!("cannot save the state file: {e}"));
        }
        self.saved_mtime = mtime(&self.cfg.state_dir);
    }

    /// `nettune autotune unpin` edits the state file: a pin gone from it is released here.
    fn reload_pins(&mut self, log: &mut dyn Write) {
        if self.cfg.dry_run {
            return;
        }
        let now = mtime(&self.cfg.state_dir);
        if now.is_none() || now == self.saved_mtime {
            return;
        }
        self.saved_mtime = now;
        let Ok(file) = state::load(&self.cfg.state_dir) else {
            return;
        };
        let gone: Vec<KeyRef> = self
            .engine
            .pins
            .keys()
            .filter(|k| !file.pins.iter().any(|p| &p.key == *k))
            .cloned()
            .collect();
        for k in gone {
            self.engine.unpin(&k);
            // The administrator's value replaced what those transactions wrote: undoing them
            // on exit would write over it.
            self.ours.retain(|(key, _)| key != &k);
            line(
                log,
                &format!("unpinned {} ({}): tuned again from now on", k.key, k.ns),
            );
        }
    }

    /// On a clean stop: with `--rollback-on-exit`, roll back this run's transactions, newest
    /// first, except those of pinned keys; save the state.
    fn exit(&mut self, log: &mut dyn Write) {
        if self.cfg.dry_run {
            return;
        }
        if self.cfg.rollback_on_exit {
            for (key, tx) in std::mem::take(&mut self.ours).into_iter().rev() {
                if self.engine.pins.contains_key(&key) {
                    line(
                        log,
                        &format!(
                            "exit: {} ({}) is pinned by the administrator; tx {tx} not rolled back",
                            key.key, key.ns
                        ),
                    );
                    continue;
                }
                match journal::find(&self.cfg.state_dir, &tx)
                    .and_then(|l| tune::rollback_transaction(&self.cfg.root, &l))
                {
                    Ok(r) => {
                        self.engine.rolled_back(&key);
                        line(
                            log,
                            &format!(
                                "exit: rolled back tx {tx} ({} ({}) restored to {})",
                                key.key,
                                key.ns,
                                r.first().map_or("?", |x| x.value.as_str())
                            ),
                        );
                    }
                    Err(e) => line(log, &format!("exit: rolling back tx {tx} failed: {e}")),
                }
            }
        }
        self.save(log);
        line(log, "stopped");
    }
}

fn mtime(state_dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(state::path(state_dir))
        .and_then(|m| m.modified())
        .ok()
}

fn capture(host: &crate::collect::host::HostFacts, older: Snapshot, newer: Snapshot) -> Capture {
    Capture {
        schema: CAPTURE_SCHEMA.to_string(),
        host: host.clone(),
        netns: None,
        snapshots: vec![older, newer],
        drops: Source::unsupported("kernel drop reasons are not counted by autotune's windows"),
        archive: None,
    }
}

/// Write one `autotune: ` line to the log (a failed log write is not fatal).
pub fn line(log: &mut dyn Write, text: &str) {
    let _ = writeln!(log, "autotune: {text}");
    let _ = log.flush();
}

/// What [`reconcile`] did with the transactions a crash left incomplete.
#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    /// Finished (committed): every change was made and still reads as written; the
    /// transaction as its journal told it, and each change's value now.
    pub finished: Vec<(journal::TransactionLog, Vec<tune::Restored>)>,
    /// Rolled back.
    pub rolled_back: Vec<String>,
}

impl Reconciled {
    /// Every transaction reconciled, finished or rolled back.
    pub fn ids(&self) -> Vec<String> {
        self.finished
            .iter()
            .map(|(l, _)| l.id.clone())
            .chain(self.rolled_back.iter().cloned())
            .collect()
    }
}

/// Reconcile every transaction in `state_dir` begun and neither committed nor rolled back (a
/// crash mid-apply), newest first: finish it when every change was made, read back and
/// still holds ([`tune::finish_transaction`]: a crash between the last write and the commit
/// record), else roll it back. One line each on `log`.
pub fn reconcile(
    root: &Root,
    state_dir: &std::path::Path,
    log: &mut dyn Write,
) -> Result<Reconciled> {
    let (logs, errors) = journal::list(state_dir);
    for e in errors {
        line(log, &format!("reconcile: unreadable journal: {e}"));
    }
    let mut done = Reconciled::default();
    let mut appliers = KernelAppliers::new(root.clone());
    let values = |r: &[tune::Restored]| {
        r.iter()
            .map(|x| format!("{} = {}", x.target, x.value))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for l in logs.iter().rev().filter(|l| !l.committed && !l.rolled_back) {
        match tune::finish_transaction(&mut appliers, l) {
            Ok(Some(r)) => {
                line(
                    log,
                    &format!(
                        "reconciled: transaction {} was left {} (a crash after its last \
                         write); every change was made and reads back as written ({}): \
                         finished (committed)",
                        l.id,
                        l.state(),
                        values(&r)
                    ),
                );
                done.finished.push((l.clone(), r));
                continue;
            }
            Ok(None) => {}
            Err(e) => line(
                log,
                &format!("reconcile: transaction {}: cannot finish it: {e}", l.id),
            ),
        }
        match tune::rollback_transaction(root, l) {
            Ok(r) => {
                line(
                    log,
                    &format!(
                        "reconciled: transaction {} was left {} (a crash); rolled back: {}",
                        l.id,
                        l.state(),
                        if r.is_empty() {
                            "nothing was written yet".to_string()
                        } else {
                            values(&r)
                        }
                    ),
                );
                done.rolled_back.push(l.id.clone());
            }
            Err(e) => line(log, &format!("reconcile: transaction {}: {e}", l.id)),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Evidence, Severity};

    fn finding() -> Finding {
        Finding {
            id: "softnet.backlog_drops".into(),
            severity: Severity::Critical,
            title: String::new(),
            detail: String::new(),
            evidence: vec![
                Evidence::new("softnet.dropped", "cpu1", 4000.0, "1/s"),
                Evidence::new("softnet.dropped", "cpu0", 10.0, "1/s"),
                Evidence::new("softnet.processed", "cpu1", 96000.0, "1/s"),
                Evidence::new("softnet.processed", "cpu0", 5.0, "1/s"),
            ],
            changes: vec![Change::sysctl(
                "net.core.netdev_max_backlog",
                Some("32"),
                "1000",
            )],
            risk: String::new(),
            verify: String::new(),
            netns: None,
        }
    }

    #[test]
    fn symptoms_come_from_the_evidence() {
        let f = finding();
        assert_eq!(magnitude(&f), 4010.0);
        assert_eq!(arrivals(&f), Some(100_000.0));
        assert!(evidence_text(&f).starts_with("softnet.dropped cpu1=4000/s"));
    }

    #[test]
    fn the_plan_becomes_an_observation() {
        let cap = Capture::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/captures/softnet_backlog.json"),
        )
        .unwrap();
        let (findings, _) = diagnose_capture(&cap, &Options::default());
        let profile = crate::tune::profiles::load("balanced").unwrap();
        let plan = tune::plan_for(&cap, &findings, &profile, &PlanOptions::default());
        let mut ns = BTreeMap::new();
        let obs = observe(&cap, &findings, &plan, 1.0, true, &mut ns);
        let s = obs
            .symptoms
            .iter()
            .find(|s| s.key.key == "net.core.netdev_max_backlog")
            .unwrap_or_else(|| panic!("{obs:#?}"));
        assert_eq!(s.key.ns, HOST);
        assert!(s.magnitude > 0.0 && s.arrivals.unwrap() > s.magnitude);
        assert!(obs
            .symptoms
            .iter()
            .all(|s| !s.finding.starts_with("profile.")));
        assert!(obs
            .fired
            .contains(&(HOST.to_string(), "softnet.backlog_drops".to_string())));
        let mut e = Engine::new(Tuning::default());
        let acts = e.step(&obs);
        let line = acts
            .iter()
            .find(|a| matches!(a, Action::Write { .. }))
            .map(|a| describe(a, Some("T1")))
            .unwrap_or_else(|| panic!("{acts:#?}"));
        assert!(
            line.starts_with("write net.core.netdev_max_backlog (host) "),
            "{line}"
        );
        assert!(
            line.contains("saw softnet.backlog_drops (softnet.dropped cpu"),
            "{line}"
        );
        assert!(line.ends_with("tx T1"), "{line}");
    }

    #[test]
    fn latency_is_the_worst_namespace_with_enough_sockets() {
        use crate::collect::sockets::{RttStats, Sockets};
        use crate::snapshot::NetnsSnapshot;
        let with_rtt = |samples, p90| {
            let mut s = Snapshot::empty(1);
            let mut k = Sockets::default();
            k.rtt.all = RttStats {
                samples,
                median_us: Some(p90 / 2),
                p90_us: Some(p90),
            };
            s.sockets = Source::Ok(k);
            s
        };
        let mut host = with_rtt(10, 800);
        assert_eq!(rtt_p90_us(&host), Some(800.0));
        // A namespace with a higher p90 but only 3 sockets does not count; one with 4 does.
        let ns = |inode, snap| NetnsSnapshot {
            netns: NetnsRef {
                inode,
                name: format!("ns{inode}"),
                path: PathBuf::from("/run/netns/x"),
            },
            snapshot: snap,
        };
        host.namespaces.push(ns(1, with_rtt(3, 90_000)));
        assert_eq!(rtt_p90_us(&host), Some(800.0));
        host.namespaces.push(ns(2, with_rtt(4, 5_000)));
        assert_eq!(rtt_p90_us(&host), Some(5000.0));
        // No socket dump anywhere: unmeasured.
        assert_eq!(rtt_p90_us(&Snapshot::empty(1)), None);
        // A counters-only window does not measure latency even when it carries sockets.
        let older = Snapshot::empty(0);
        let facts = crate::collect::host::HostFacts::default();
        let w = Window {
            older: &older,
            newer: &host,
            host: &facts,
        };
        assert_eq!(guard(Some(&w), false).rtt_p90_us, None);
        assert_eq!(guard(Some(&w), true).rtt_p90_us, Some(5000.0));
    }

    #[test]
    fn reconcile_rolls_back_an_incomplete_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal::Journal::create(dir.path(), "T-1").unwrap();
        j.append(&journal::Record::Begin {
            id: "T-1".into(),
            host: "h".into(),
            time: 1,
            netns: None,
        })
        .unwrap();
        drop(j);
        let mut out = Vec::new();
        let done = reconcile(&Root::default(), dir.path(), &mut out).unwrap();
        assert_eq!(done.rolled_back, ["T-1"]);
        assert!(done.finished.is_empty());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("reconciled: transaction T-1 was left incomplete"),
            "{text}"
        );
        let (logs, _) = journal::list(dir.path());
        assert!(logs[0].rolled_back);
        // Nothing left to reconcile.
        assert!(reconcile(&Root::default(), dir.path(), &mut Vec::new())
            .unwrap()
            .ids()
            .is_empty());
    }

    /// A journal of one backlog write 32 -> 1000 with its done record and no commit, and a
    /// proc tree where the key reads `now`.
    fn crashed_after_done(now: &str) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("proc/sys/net/core/netdev_max_backlog");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, format!("{now}\n")).unwrap();
        let root = Root::new(dir.path().join("proc"), dir.path().join("sys"));
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let mut j = journal::Journal::create(&state, "T-2").unwrap();
        for r in [
            journal::Record::Begin {
                id: "T-2".into(),
                host: "h".into(),
                time: 1,
                netns: None,
            },
            journal::Record::Intent {
                seq: 1,
                kind: ChangeKind::Sysctl,
                target: "net.core.netdev_max_backlog".into(),
                old: "32".into(),
                new: "1000".into(),
                netns: None,
            },
            journal::Record::Done {
                seq: 1,
                value: "1000".into(),
            },
        ] {
            j.append(&r).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn reconcile_finishes_a_transaction_done_in_full_and_the_engine_owns_its_value() {
        let (dir, root) = crashed_after_done("1000");
        let state = dir.path().join("state");
        let mut out = Vec::new();
        let done = reconcile(&root, &state, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(done.ids(), ["T-2"]);
        assert!(done.rolled_back.is_empty(), "{text}");
        assert!(
            text.contains("net.core.netdev_max_backlog = 1000")
                && text.contains("finished (committed)"),
            "{text}"
        );
        assert_eq!(journal::find(&state, "T-2").unwrap().state(), "committed");
        let path = root.proc("sys/net/core/netdev_max_backlog");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1000\n");
        // The engine adopts it: the value is nettune's, the old value the baseline.
        let mut e = Engine::new(Tuning::default());
        let key = KeyRef::new("net.core.netdev_max_backlog", HOST);
        e.adopt(&key, "T-2", "1000", "32");
        assert_eq!(e.keys[&key].written.as_deref(), Some("1000"));
        assert_eq!(e.baseline[&key], "32");
    }

    #[test]
    fn reconcile_rolls_back_a_done_transaction_whose_value_changed_since_it_is_refused() {
        // Someone set 500 after the crash: neither finished (not as written) nor restored
        // over the new value (the rollback refuses and says so).
        let (dir, root) = crashed_after_done("500");
        let state = dir.path().join("state");
        let mut out = Vec::new();
        let done = reconcile(&root, &state, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(done.ids().is_empty(), "{text}");
        assert!(text.contains("reconcile: transaction T-2"), "{text}");
        let path = root.proc("sys/net/core/netdev_max_backlog");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "500\n");
    }
}
