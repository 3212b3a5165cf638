//! Tuning: plan from findings and a profile ([`plan_for`], the one planner `tune` and the
//! lab use; plan types and plan files in [`plan`], safety rules in [`safety`]), apply a plan
//! as one journaled transaction ([`run_transaction`], journal in [`journal`]), write its
//! boot-time configuration ([`persist_transaction`]), judge it afterwards ([`verify`]) and
//! roll a transaction back exactly ([`rollback`]). [`apply`] holds the only code that writes
//! to the kernel.
//!
//! Nothing here prints, exits or reads the environment: what a caller decides comes in as
//! arguments ([`TxOptions`], [`PlanOptions`], the state directory), so a daemon can call
//! these in a loop. With the `fault-injection` cargo feature (tests only; release builds do
//! not enable it) [`TxOptions`] also carries injected `Faults`.

pub mod apply;
pub mod ethtool_set;
pub mod journal;
pub mod knob;
pub mod persist;
pub mod plan;
pub mod planner;
pub mod profiles;
pub mod safety;
pub mod verify;

pub use planner::{plan_for, PlanOptions};

use crate::change::{Change, ChangeKind};
use crate::{Error, Result, Root};
use apply::{Applier, KernelApplier};
use journal::{Journal, Record, TransactionLog};
use knob::Knob;
use plan::Plan;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Injected faults for testing crash and half-way failure (`fault-injection` feature only).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Make the N-th write (1-based) fail.
    pub fail_at: Option<usize>,
    /// Abort the process right after the N-th write (1-based): a crash with the journal
    /// left incomplete.
    pub abort_after: Option<usize>,
}

/// Options of one transaction, decided by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOptions {
    /// Injected faults (tests only).
    #[cfg(feature = "fault-injection")]
    pub faults: Faults,
}

impl TxOptions {
    /// The injected failure before write `seq`, if one is asked for.
    fn before_write(&self, seq: usize, c: &Change) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if self.faults.fail_at == Some(seq) {
            return Err(Error::Interrupted(format!(
                "{} {}: injected failure at write {seq}",
                c.kind, c.target
            )));
        }
        #[cfg(not(feature = "fault-injection"))]
        let _ = (self, seq, c);
        Ok(())
    }

    /// The injected crash after write `seq`, if one is asked for.
    fn after_write(&self, seq: usize) {
        #[cfg(feature = "fault-injection")]
        if self.faults.abort_after == Some(seq) {
            tracing::error!("injected crash: aborting after write {seq}");
            std::process::abort();
        }
        #[cfg(not(feature = "fault-injection"))]
        let _ = (self, seq);
    }
}

/// One change as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedChange {
    pub kind: ChangeKind,
    pub target: String,
    /// The value before, as read from the kernel.
    pub old: String,
    /// The value read back after the write.
    pub value: String,
}

/// One value restored by a rollback (the `restored` items of `nettune.rollback/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub kind: ChangeKind,
    pub target: String,
    /// The value read back after restoring.
    pub value: String,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxOutcome {
    /// Transaction id.
    pub id: String,
    /// Its journal.
    pub journal: PathBuf,
    /// Changes in place (empty when the transaction failed and was rolled back).
    pub applied: Vec<AppliedChange>,
    /// Why the apply failed; everything already changed was then restored.
    pub error: Option<String>,
    /// Values restored after a failure.
    pub restored: Vec<Restored>,
    /// The restore after a failure itself failed for these (`kind target: error`).
    pub restore_errors: Vec<String>,
}

impl TxOutcome {
    /// Every change is in place.
    pub fn committed(&self) -> bool {
        self.error.is_none()
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Apply `changes` in order as one transaction journaled in `state_dir`: for each change
/// read the old value, journal the intent (fsynced), write, read back and compare, journal
/// `done`. On the first failure every change with an intent is restored in reverse order.
/// `netns` is only recorded (the applier already works in the right namespace).
pub fn run_transaction(
    applier: &mut dyn Applier,
    state_dir: &Path,
    netns: Option<&str>,
    changes: &[Change],
    opts: &TxOptions,
) -> Result<TxOutcome> {
    if let Some(c) = changes.iter().find(|c| c.kind == ChangeKind::Advice) {
        return Err(Error::Refused(format!(
            "{}: advice cannot be applied (nettune cannot make this change)",
            c.target
        )));
    }
    let id = journal::new_id();
    let mut j = Journal::create(state_dir, &id)?;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    j.append(&Record::Begin {
        id: id.clone(),
        netns: netns.map(str::to_string),
        host: hostname(),
        time,
    })?;
    let mut applied = Vec::new();
    let mut intents: Vec<journal::Intent> = Vec::new();
    let mut failure = None;
    for (i, c) in changes.iter().enumerate() {
        let seq = i + 1;
        match apply_one(applier, &mut j, seq, c, opts, &mut intents) {
            Ok(a) => applied.push(a),
            Err(e) => {
                failure = Some((seq, e.to_string()));
                break;
            }
        }
    }
    let Some((seq, error)) = failure else {
        j.append(&Record::Commit)?;
        return Ok(TxOutcome {
            id,
            journal: j.path().to_path_buf(),
            applied,
            error: None,
            restored: Vec::new(),
            restore_errors: Vec::new(),
        });
    };
    j.append(&Record::Failed {
        seq,
        error: error.clone(),
    })?;
    let (restored, restore_errors) = restore(applier, &mut j, &intents)?;
    if restore_errors.is_empty() {
        j.append(&Record::RolledBack)?;
    }
    Ok(TxOutcome {
        id,
        journal: j.path().to_path_buf(),
        applied: Vec::new(),
        error: Some(format!("change {seq} of {}: {error}", changes.len())),
        restored,
        restore_errors,
    })
}

fn apply_one(
    applier: &mut dyn Applier,
    j: &mut Journal,
    seq: usize,
    c: &Change,
    opts: &TxOptions,
    intents: &mut Vec<journal::Intent>,
) -> Result<AppliedChange> {
    let knob = Knob::parse(c)?;
    let old = applier.read(&knob)?;
    let intent = journal::Intent {
        seq,
        kind: c.kind,
        target: c.target.clone(),
        old: old.clone(),
        new: c.proposed.clone(),
    };
    j.append(&Record::Intent {
        seq,
        kind: c.kind,
        target: c.target.clone(),
        old: old.clone(),
        new: c.proposed.clone(),
    })?;
    intents.push(intent);
    opts.before_write(seq, c)?;
    applier.write(&knob, &c.proposed)?;
    opts.after_write(seq);
    let value = applier.read(&knob)?;
    if !knob.same_value(&c.proposed, &value) {
        return Err(Error::ReadBack {
            target: format!("{} {}", c.kind, c.target),
            wrote: c.proposed.clone(),
            read: value,
        });
    }
    j.append(&Record::Done {
        seq,
        value: value.clone(),
    })?;
    Ok(AppliedChange {
        kind: c.kind,
        target: c.target.clone(),
        old,
        value,
    })
}

/// Restore every intent's old value, newest first, verifying each; journal each result and
/// `rolled_back` when all succeeded. Returns what was restored and what could not be.
fn restore(
    applier: &mut dyn Applier,
    j: &mut Journal,
    intents: &[journal::Intent],
) -> Result<(Vec<Restored>, Vec<String>)> {
    let mut restored = Vec::new();
    let mut errors = Vec::new();
    for it in intents.iter().rev() {
        let result = Knob::new(it.kind, &it.target).and_then(|knob| {
            applier
                .write(&knob, &it.old)
                .and_then(|()| applier.read(&knob))
                .and_then(|v| {
                    if knob.same_value(&it.old, &v) {
                        Ok(v)
                    } else {
                        Err(Error::ReadBack {
                            target: format!("{} {}", it.kind, it.target),
                            wrote: it.old.clone(),
                            read: v,
                        })
                    }
                })
        });
        match result {
            Ok(value) => {
                j.append(&Record::Restored {
                    seq: it.seq,
                    value: value.clone(),
                })?;
                restored.push(Restored {
                    kind: it.kind,
                    target: it.target.clone(),
                    value,
                });
            }
            Err(e) => {
                j.append(&Record::RestoreFailed {
                    seq: it.seq,
                    error: e.to_string(),
                })?;
                errors.push(match e {
                    // Names its target itself.
                    Error::ReadBack { .. } => e.to_string(),
                    _ => format!("{} {}: {e}", it.kind, it.target),
                });
            }
        }
    }
    Ok((restored, errors))
}

/// Roll back a journaled transaction (committed, failed half-way, or left incomplete by a
/// crash): restore every change that has an intent, newest first, to its exact old value,
/// then every file `--persist` wrote to its previous content (or remove it). Files changed
/// since are refused before anything is touched. An error lists what could not be restored
/// (the journal stays open for another try).
pub fn rollback(applier: &mut dyn Applier, log: &TransactionLog) -> Result<Vec<Restored>> {
    if log.rolled_back {
        return Err(Error::Transaction {
            id: log.id.clone(),
            what: "already rolled back".into(),
        });
    }
    persist::check_files(&log.files)?;
    let mut j = Journal::open(&log.path)?;
    let (restored, errors) = restore(applier, &mut j, &log.intents)?;
    if errors.is_empty() {
        persist::restore_files(&mut j, &log.files)?;
        j.append(&Record::RolledBack)?;
        Ok(restored)
    } else {
        Err(Error::Transaction {
            id: log.id.clone(),
            what: format!("could not restore {}", errors.join("; ")),
        })
    }
}

/// Run `f` with a [`KernelApplier`] on `root`, inside the network namespace at `netns` when
/// given (on a [`crate::netns::NetnsThread`]: `/proc/sys/net` and the private sysfs are then
/// that namespace's).
pub fn with_kernel_applier<T: Send + 'static>(
    root: &Root,
    netns: Option<&Path>,
    f: impl FnOnce(&mut dyn Applier) -> T + Send + 'static,
) -> Result<T> {
    match netns {
        None => {
            let mut a = KernelApplier::new(root.clone());
            Ok(f(&mut a))
        }
        Some(path) => {
            let thread = crate::netns::NetnsThread::spawn(path, root)?;
            thread.run(move |inner| {
                let mut a = KernelApplier::new(inner.clone());
                f(&mut a)
            })
        }
    }
}

/// Apply `changes` to the live kernel as one transaction journaled in `state_dir`, inside
/// the network namespace at `netns` when given.
pub fn apply_transaction(
    changes: Vec<Change>,
    netns: Option<&Path>,
    state_dir: &Path,
    opts: &TxOptions,
) -> Result<TxOutcome> {
    let state = state_dir.to_path_buf();
    let ns = netns.map(|p| p.display().to_string());
    let opts = *opts;
    with_kernel_applier(&Root::default(), netns, move |a| {
        run_transaction(a, &state, ns.as_deref(), &changes, &opts)
    })?
}

/// Write the boot-time configuration of the committed transaction `outcome` under `root`,
/// journaled in the transaction's journal; each item keeps the finding `plan` gives it
/// (`manual` when none). `exe` is the nettune binary the boot unit runs; `netns` is recorded
/// in the files' provenance; `now` (seconds since the Unix epoch) dates them. Returns the
/// files written.
pub fn persist_transaction(
    plan: &Plan,
    outcome: &TxOutcome,
    netns: Option<&str>,
    root: &Path,
    exe: &str,
    now: u64,
) -> Result<Vec<PathBuf>> {
    let items: Vec<persist::Item> = outcome
        .applied
        .iter()
        .map(|a| persist::Item {
            change: Change::new(a.kind, &a.target, Some(a.old.clone()), &a.value),
            finding: plan
                .items
                .iter()
                .find(|i| i.change.kind == a.kind && i.change.target == a.target)
                .map_or_else(|| "manual".to_string(), |i| i.finding.clone()),
        })
        .collect();
    let prov = persist::Provenance {
        transaction: outcome.id.clone(),
        date: journal::date(now),
        netns: netns.map(str::to_string),
    };
    let mut j = Journal::open(&outcome.journal)?;
    persist::persist(root, &mut j, &items, &prov, exe).map_err(|e| Error::Transaction {
        id: outcome.id.clone(),
        what: format!(
            "applied, but persisting it failed: {e}; `nettune rollback {}` undoes the changes \
             and the files written so far",
            outcome.id
        ),
    })
}

/// Roll back `log` on the live kernel, in the namespace it was applied in.
pub fn rollback_transaction(root: &Root, log: &TransactionLog) -> Result<Vec<Restored>> {
    let log2 = log.clone();
    let ns = log.netns.as_ref().map(PathBuf::from);
    with_kernel_applier(root, ns.as_deref(), move |a| rollback(a, &log2))?
}

/// The newest transaction in `state_dir` that is not rolled back yet.
pub fn last_open(state_dir: &Path) -> Result<TransactionLog> {
    let (logs, errors) = journal::list(state_dir);
    if let Some(e) = errors.into_iter().next() {
        tracing::warn!("unreadable journal: {e}");
    }
    logs.into_iter()
        .rev()
        .find(|l| !l.rolled_back)
        .ok_or_else(|| {
            Error::Input(format!(
                "no transaction to roll back in {}",
                state_dir.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Knobs in a map; every write checks that the journal already holds its intent.
    struct Fake {
        values: HashMap<String, String>,
        ops: Vec<String>,
        state: PathBuf,
        /// Writes of this (target, value) fail.
        broken: Option<(&'static str, &'static str)>,
    }

    impl Fake {
        fn new(state: &Path, kv: &[(&str, &str)]) -> Fake {
            Fake {
                values: kv
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ops: Vec::new(),
                state: state.to_path_buf(),
                broken: None,
            }
        }

        fn journal_text(&self) -> String {
            let (logs, _) = journal::list(&self.state);
            logs.iter()
                .map(|l| std::fs::read_to_string(&l.path).unwrap())
                .collect()
        }
    }

    impl Applier for Fake {
        fn read(&mut self, knob: &Knob) -> Result<String> {
            let target = knob.target();
            self.values
                .get(&target)
                .cloned()
                .ok_or_else(|| Error::Input(format!("no {target}")))
        }

        fn write(&mut self, knob: &Knob, value: &str) -> Result<()> {
            let target = knob.target();
            let target = target.as_str();
            let text = self.journal_text();
            let intent = format!("\"target\":\"{target}\"");
            assert!(
                text.contains(&intent),
                "intent for {target} journaled before the write"
            );
            self.ops.push(format!("{target}={value}"));
            if self.broken == Some((target, value)) {
                return Err(Error::Input("EINVAL".into()));
            }
            self.values.insert(target.to_string(), value.to_string());
            Ok(())
        }
    }

    fn changes() -> Vec<Change> {
        vec![
            Change::sysctl("a", Some("1"), "10"),
            Change::sysctl("b", Some("2"), "20"),
            Change::sysctl("c", Some("3"), "30"),
        ]
    }

    #[test]
    fn apply_commits_and_rollback_restores_in_reverse() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[("a", "1"), ("b", "2"), ("c", "3")]);
        let out =
            run_transaction(&mut f, dir.path(), None, &changes(), &TxOptions::default()).unwrap();
        assert!(out.committed());
        assert_eq!(out.applied.len(), 3);
        assert_eq!(out.applied[1].old, "2");
        assert_eq!(f.values["b"], "20");
        let log = last_open(dir.path()).unwrap();
        assert_eq!(log.id, out.id);
        assert_eq!(log.state(), "committed");
        assert_eq!(log.done, vec![1, 2, 3]);
        f.ops.clear();
        let restored = rollback(&mut f, &log).unwrap();
        assert_eq!(f.ops, vec!["c=3", "b=2", "a=1"]);
        assert_eq!(restored.len(), 3);
        assert_eq!(restored[0].target, "c");
        let log = journal::find(dir.path(), &out.id).unwrap();
        assert_eq!(log.state(), "rolled back");
        let twice = rollback(&mut f, &log).unwrap_err();
        assert!(
            matches!(&twice, Error::Transaction { id, .. } if *id == out.id),
            "twice is refused: {twice:?}"
        );
        assert!(last_open(dir.path()).is_err());
    }

    #[test]
    fn failure_half_way_restores_what_was_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[("a", "1"), ("b", "2"), ("c", "3")]);
        f.broken = Some(("b", "20"));
        let out =
            run_transaction(&mut f, dir.path(), None, &changes(), &TxOptions::default()).unwrap();
        assert!(!out.committed());
        assert!(
            out.error.as_deref().unwrap().contains("change 2 of 3"),
            "{:?}",
            out.error
        );
        // a written, b failed, then b and a restored; c never touched.
        assert_eq!(f.ops, vec!["a=10", "b=20", "b=2", "a=1"]);
        assert_eq!(f.values["a"], "1");
        assert_eq!(f.values["c"], "3");
        let log = journal::find(dir.path(), &out.id).unwrap();
        assert!(log.failed && log.rolled_back);
    }

    /// The injected failure hook does the same without a broken applier.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn injected_failure_half_way_restores_what_was_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[("a", "1"), ("b", "2"), ("c", "3")]);
        let opts = TxOptions {
            faults: Faults {
                fail_at: Some(2),
                abort_after: None,
            },
        };
        let out = run_transaction(&mut f, dir.path(), None, &changes(), &opts).unwrap();
        assert!(!out.committed());
        assert_eq!(f.ops, vec!["a=10", "b=2", "a=1"]);
        assert_eq!(out.restored.len(), 2);
        assert!(
            out.error.as_deref().unwrap().contains("injected failure"),
            "{:?}",
            out.error
        );
    }

    #[test]
    fn read_back_mismatch_is_a_failure() {
        struct Rounding(HashMap<String, String>);
        impl Applier for Rounding {
            fn read(&mut self, k: &Knob) -> Result<String> {
                Ok(self.0.get(&k.target()).cloned().unwrap_or_default())
            }
            fn write(&mut self, k: &Knob, v: &str) -> Result<()> {
                let t = k.target();
                let v = if v == "10" { "8" } else { v };
                self.0.insert(t, v.into());
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut a = Rounding([("a".to_string(), "1".to_string())].into());
        let out = run_transaction(
            &mut a,
            dir.path(),
            None,
            &changes()[..1],
            &TxOptions::default(),
        )
        .unwrap();
        assert!(out.error.unwrap().contains("reads back \"8\""));
        assert_eq!(a.0["a"], "1");
    }

    #[test]
    fn incomplete_journal_is_completed_by_rollback() {
        // What a crash after the second write leaves: two intents, one done, no commit.
        let dir = tempfile::tempdir().unwrap();
        let id = journal::new_id();
        let mut j = Journal::create(dir.path(), &id).unwrap();
        j.append(&Record::Begin {
            id: id.clone(),
            netns: Some("/run/netns/x".into()),
            host: "h".into(),
            time: 1,
        })
        .unwrap();
        for (seq, t, old, new) in [(1, "a", "1", "10"), (2, "b", "2", "20")] {
            j.append(&Record::Intent {
                seq,
                kind: ChangeKind::Sysctl,
                target: t.into(),
                old: old.into(),
                new: new.into(),
            })
            .unwrap();
        }
        j.append(&Record::Done {
            seq: 1,
            value: "10".into(),
        })
        .unwrap();
        drop(j);
        let mut f = Fake::new(dir.path(), &[("a", "10"), ("b", "20")]);
        let log = last_open(dir.path()).unwrap();
        assert_eq!(log.state(), "incomplete");
        assert_eq!(log.netns.as_deref(), Some("/run/netns/x"));
        rollback(&mut f, &log).unwrap();
        assert_eq!(f.ops, vec!["b=2", "a=1"]);
        assert_eq!(
            journal::find(dir.path(), &id).unwrap().state(),
            "rolled back"
        );
    }

    #[test]
    fn advice_is_never_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[]);
        let c = vec![Change::advice("listen() backlog", "4096")];
        let e = run_transaction(&mut f, dir.path(), None, &c, &TxOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e:?}");
        assert!(f.ops.is_empty());
    }
}
