//! Tuning: plan from findings and a profile ([`plan_for`], the one planner `tune` and the
//! lab use; plan types and plan files in [`plan`], safety rules in [`safety`]), apply a plan
//! as one journaled transaction ([`run_transaction`], journal in [`journal`]), write its
//! boot-time configuration ([`persist_transaction`]), judge it afterwards ([`verify`]) and
//! roll a transaction back exactly ([`rollback`]). [`apply`] holds the only code that writes
//! to the kernel.
//!
//! Namespaces: a change is made in the network namespace it names (`Change::netns`, a finding
//! of another namespace), else in the transaction's default one (the host's, or `--netns`).
//! One transaction (one id, one journal) holds the changes of every namespace, grouped by
//! namespace; each group is made through [`Appliers`] — on the live kernel
//! [`KernelAppliers`], which enters a namespace on a [`crate::netns::NetnsThread`] only
//! while its path still opens the recorded inode. One transaction rather than one per
//! namespace: `rollback ID`, `--verify` and a failure half-way undo every namespace
//! together, newest first, exactly as a single-namespace transaction does. Host-wide sysctls
//! proposed for a namespace (which only the initial namespace can write) are moved to the host
//! with a note by [`route_host_wide`] before the plan is shown.
//!
//! Nothing here prints, exits or reads the environment: what a caller decides comes in as
//! arguments ([`TxOptions`], [`PlanOptions`], the state directory), so a daemon can call
//! these in a loop. With the `fault-injection` cargo feature (tests only; release builds do
//! not enable it) [`TxOptions`] also carries injected `Faults`.

pub mod apply;
pub mod ethtool_set;
pub mod journal;
pub mod knob;
pub mod lock;
pub mod persist;
pub mod plan;
pub mod planner;
pub mod profiles;
pub mod safety;
pub mod verify;

pub use planner::{plan_for, PlanOptions};

use crate::change::{Change, ChangeKind};
use crate::namespaces::{self, NetnsRef};
use crate::netns::NetnsThread;
use crate::{Error, Result, Root};
use apply::{Applier, KernelApplier};
use journal::{Journal, Place, Record, TransactionLog};
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
    /// Abort the process after every change is made and read back, before the commit
    /// record: a crash that leaves the journal complete but uncommitted.
    pub abort_before_commit: bool,
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

    /// The injected crash before the commit record, if one is asked for.
    fn before_commit(&self) {
        #[cfg(feature = "fault-injection")]
        if self.faults.abort_before_commit {
            tracing::error!("injected crash: aborting before the commit record");
            std::process::abort();
        }
        #[cfg(not(feature = "fault-injection"))]
        let _ = self;
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
    /// The namespace the change named (`Change::netns`, as planned); `None` for the
    /// transaction's default namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsRef>,
}

/// One value restored by a rollback (the `restored` items of `nettune.rollback/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub kind: ChangeKind,
    pub target: String,
    /// The value read back after restoring.
    pub value: String,
    /// The namespace it was restored in, as the journal recorded it (absent for journals
    /// written before per-change namespaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsRef>,
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

/// The appliers of a transaction, one per network namespace it makes changes in.
pub trait Appliers {
    /// The applier for changes made in `place`. A namespace that is gone, or whose path now
    /// opens another namespace than the recorded inode, is [`Error::Refused`] with one line
    /// naming it ([`check_netns`]).
    fn get(&mut self, place: &Place) -> Result<&mut dyn Applier>;

    /// Whether sysctl `key` can be written inside `netns`: `false` for a host-wide key
    /// (`net.core.netdev_max_backlog`, `netdev_budget`, ...), which a namespace other than
    /// the initial one does not have or cannot write.
    fn sysctl_writable(&mut self, netns: &NetnsRef, key: &str) -> Result<bool>;
}

/// One applier for every place: a transaction whose applier already works in the right
/// namespace ([`run_transaction`], [`rollback`]).
struct One<'a>(&'a mut dyn Applier);

impl Appliers for One<'_> {
    fn get(&mut self, _: &Place) -> Result<&mut dyn Applier> {
        Ok(&mut *self.0)
    }

    fn sysctl_writable(&mut self, _: &NetnsRef, _: &str) -> Result<bool> {
        Ok(true)
    }
}

/// Whether the path of `netns` still opens the namespace recorded (same inode). A
/// namespace that is gone or replaced is [`Error::Refused`] with one line: its name, the
/// recorded inode and what the path is now.
pub fn check_netns(netns: &NetnsRef) -> Result<()> {
    let path = netns.path.display();
    let gone = |what: String| {
        Error::Refused(format!(
            "namespace {} is gone: {path} {what} (recorded inode {})",
            netns.name, netns.inode
        ))
    };
    match namespaces::inode_of(&netns.path) {
        Ok(Some(inode)) if inode == netns.inode => Ok(()),
        Ok(Some(inode)) => Err(Error::Refused(format!(
            "namespace {} changed: {path} is now inode {inode}, recorded inode {}; \
             not touching another namespace",
            netns.name, netns.inode
        ))),
        Ok(None) => Err(gone("is no longer a network namespace".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone("does not exist".into())),
        Err(e) => Err(Error::Netns {
            name: netns.name.clone(),
            what: format!("{path}: {e}"),
        }),
    }
}

/// The host's network namespace: the caller's own (where changes that name no namespace
/// are made without `--netns`), named [`namespaces::HOST_NAME`]. Its path is PID 1's
/// `ns/net` when that opens the same namespace (so a rollback run from elsewhere restores
/// there), else `/proc/self/ns/net` (PID 1's may be unreadable in a container).
pub fn host_netns(root: &Root) -> Result<NetnsRef> {
    let own = netns_ref(&root.proc.join("thread-self/ns/net"), namespaces::HOST_NAME)?;
    let pid1 = root.proc.join("1/ns/net");
    let path = if namespaces::inode_of(&pid1).ok().flatten() == Some(own.inode) {
        pid1
    } else {
        root.proc.join("self/ns/net")
    };
    Ok(NetnsRef { path, ..own })
}

/// The namespace at `path` (`--netns`, resolved) with its inode now, named `name`.
pub fn netns_ref(path: &Path, name: &str) -> Result<NetnsRef> {
    let fail = |what: String| Error::Netns {
        name: name.to_string(),
        what,
    };
    match namespaces::inode_of(path) {
        Ok(Some(inode)) => Ok(NetnsRef {
            inode,
            name: name.to_string(),
            path: path.to_path_buf(),
        }),
        Ok(None) => Err(fail(format!(
            "{} is not a network namespace",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(format!(
            "{} does not exist; create it with `ip netns add NAME` or give /proc/PID/ns/net",
            path.display()
        ))),
        Err(e) => Err(fail(format!("{}: {e}", path.display()))),
    }
}

/// Whether sysctl `key` under `root` can be opened for writing (a host-wide key is absent or
/// read-only inside a namespace).
fn sysctl_writable_at(root: &Root, key: &str) -> Result<bool> {
    Knob::new(ChangeKind::Sysctl, key)?;
    let path = crate::collect::sysctl::key_to_path(root, key);
    match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// An [`Applier`] that reads and writes inside another network namespace: each call runs a
/// [`KernelApplier`] on the namespace's [`NetnsThread`] (its `/proc/sys/net`, private sysfs
/// and netlink sockets are that namespace's).
struct NetnsApplier {
    thread: NetnsThread,
}

impl Applier for NetnsApplier {
    fn read(&mut self, knob: &Knob) -> Result<String> {
        let knob = knob.clone();
        self.thread.run(move |root| {
            own_sysfs(&knob, root)?;
            KernelApplier::new(root.clone()).read(&knob)
        })?
    }

    fn write(&mut self, knob: &Knob, value: &str) -> Result<()> {
        let knob = knob.clone();
        let value = value.to_string();
        self.thread.run(move |root| {
            own_sysfs(&knob, root)?;
            KernelApplier::new(root.clone()).write(&knob, &value)
        })?
    }
}

/// Refuse a sysfs knob (RPS, RFS, XPS, MTU, queue length) inside a namespace whose private
/// sysfs could not be mounted: `root.sys` is then the host's `/sys` (`root.live` is false),
/// and the write would change the host's same-named interface instead.
fn own_sysfs(knob: &Knob, root: &Root) -> Result<()> {
    match knob.file(root) {
        Some(path) if path.starts_with(&root.sys) && !root.live => Err(Error::Refused(format!(
            "{knob}: this namespace's own sysfs could not be mounted, so {} is the host's \
             interface, not the namespace's; not changing it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The live kernel's [`Appliers`]: the caller's own namespace directly, every other one on a
/// [`NetnsThread`] entered once per transaction (or rollback) and kept for its restores.
pub struct KernelAppliers {
    root: Root,
    own: KernelApplier,
    /// Inode of the caller's own network namespace (`None` when unreadable: every
    /// namespace is then entered on a thread).
    own_inode: Option<u64>,
    entered: Vec<(Place, NetnsApplier)>,
}

impl std::fmt::Debug for KernelAppliers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelAppliers")
            .field("root", &self.root)
            .field("own_inode", &self.own_inode)
            .field(
                "entered",
                &self.entered.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KernelAppliers {
    /// Appliers on `root` (`/proc`, `/sys`) of the live kernel.
    pub fn new(root: Root) -> KernelAppliers {
        let own_inode = namespaces::inode_of(&root.proc.join("thread-self/ns/net"))
            .ok()
            .flatten();
        KernelAppliers {
            own: KernelApplier::new(root.clone()),
            root,
            own_inode,
            entered: Vec::new(),
        }
    }

    /// Whether `place` is the caller's own namespace.
    fn is_own(&self, place: &Place) -> bool {
        match place {
            Place::Own => true,
            Place::Netns(r) => Some(r.inode) == self.own_inode,
            Place::Path(_) => false,
        }
    }

    /// The entered namespace of `place` (not the caller's own), entering it first: a
    /// recorded inode is checked before (the path) and after (the thread's own namespace)
    /// entering, so a path re-bound in between is refused too.
    fn enter(&mut self, place: &Place) -> Result<&mut NetnsApplier> {
        let same = |p: &Place| match (p, place) {
            (Place::Netns(a), Place::Netns(b)) => a.inode == b.inode,
            (a, b) => a == b,
        };
        if let Some(i) = self.entered.iter().position(|(p, _)| same(p)) {
            return Ok(&mut self.entered[i].1);
        }
        let path = match place {
            Place::Own => {
                return Err(Error::Netns {
                    name: place.describe(),
                    what: "the caller's own namespace is not entered".into(),
                })
            }
            Place::Netns(r) => {
                check_netns(r)?;
                r.path.clone()
            }
            Place::Path(p) => p.clone(),
        };
        let thread = NetnsThread::spawn(&path, &self.root)?;
        if let Place::Netns(r) = place {
            let now =
                thread.run(|root| namespaces::inode_of(&root.proc.join("thread-self/ns/net")))?;
            match now {
                Ok(Some(inode)) if inode == r.inode => {}
                Ok(other) => {
                    return Err(Error::Refused(format!(
                        "namespace {} changed: {} opened inode {}, recorded inode {}; \
                         not touching another namespace",
                        r.name,
                        r.path.display(),
                        other.map_or_else(|| "?".to_string(), |i| i.to_string()),
                        r.inode
                    )))
                }
                Err(e) => {
                    return Err(Error::Netns {
                        name: r.name.clone(),
                        what: format!("reading the entered namespace: {e}"),
                    })
                }
            }
        }
        self.entered.push((place.clone(), NetnsApplier { thread }));
        let last = self.entered.len() - 1;
        Ok(&mut self.entered[last].1)
    }
}

impl Appliers for KernelAppliers {
    fn get(&mut self, place: &Place) -> Result<&mut dyn Applier> {
        if self.is_own(place) {
            return Ok(&mut self.own);
        }
        Ok(self.enter(place)?)
    }

    fn sysctl_writable(&mut self, netns: &NetnsRef, key: &str) -> Result<bool> {
        let place = Place::Netns(netns.clone());
        if self.is_own(&place) {
            return sysctl_writable_at(&self.root, key);
        }
        let key = key.to_string();
        self.enter(&place)?
            .thread
            .run(move |root| sysctl_writable_at(root, &key))?
    }
}

/// One change of a transaction and the place it is made in.
struct Step<'c> {
    place: Place,
    change: &'c Change,
}

impl Step<'_> {
    /// The namespace the journal records for it.
    fn recorded(&self) -> Option<NetnsRef> {
        match &self.place {
            Place::Netns(r) => Some(r.clone()),
            Place::Own | Place::Path(_) => None,
        }
    }
}

/// Apply `changes` in order as one transaction journaled in `state_dir`: for each change
/// read the old value, journal the intent (fsynced), write, read back and compare, journal
/// `done`. On the first failure every change with an intent is restored in reverse order.
/// Every change is made with `applier`, which already works in the right namespace; `netns`
/// (its path) is recorded as the transaction's, and the intents name none.
pub fn run_transaction(
    applier: &mut dyn Applier,
    state_dir: &Path,
    netns: Option<&str>,
    changes: &[Change],
    opts: &TxOptions,
) -> Result<TxOutcome> {
    let place = Place::of(None, netns);
    let steps: Vec<Step> = changes
        .iter()
        .map(|change| Step {
            place: place.clone(),
            change,
        })
        .collect();
    run_steps(&mut One(applier), state_dir, netns, &steps, opts)
}

/// Apply `changes` as one transaction journaled in `state_dir`, each inside its namespace:
/// the one it names (`Change::netns`), else `default` (the host's, [`host_netns`], or the one
/// `--netns` gives, recorded as the transaction's `label`). The changes are grouped by
/// namespace (groups in the order their first change comes, plan order within a group);
/// every namespace is checked and entered before the first write, so a namespace gone or
/// replaced since the plan refuses the whole transaction ([`Error::Refused`]) with nothing
/// changed. Each intent records its namespace (inode, name, path). On a failure every change
/// already made is restored, newest first, in its own namespace.
pub fn run_grouped(
    appliers: &mut dyn Appliers,
    state_dir: &Path,
    default: &NetnsRef,
    label: Option<&str>,
    changes: &[Change],
    opts: &TxOptions,
) -> Result<TxOutcome> {
    let steps = group(default, changes);
    run_steps(appliers, state_dir, label, &steps, opts)
}

/// The changes with their places, grouped by namespace inode (stable).
fn group<'c>(default: &NetnsRef, changes: &'c [Change]) -> Vec<Step<'c>> {
    let mut order: Vec<u64> = Vec::new();
    let mut steps: Vec<(usize, Step)> = changes
        .iter()
        .map(|change| {
            let ns = change.netns.as_ref().unwrap_or(default);
            let g = order
                .iter()
                .position(|&i| i == ns.inode)
                .unwrap_or_else(|| {
                    order.push(ns.inode);
                    order.len() - 1
                });
            (
                g,
                Step {
                    place: Place::Netns(ns.clone()),
                    change,
                },
            )
        })
        .collect();
    steps.sort_by_key(|(g, _)| *g);
    steps.into_iter().map(|(_, s)| s).collect()
}

fn run_steps(
    appliers: &mut dyn Appliers,
    state_dir: &Path,
    label: Option<&str>,
    steps: &[Step],
    opts: &TxOptions,
) -> Result<TxOutcome> {
    if let Some(s) = steps.iter().find(|s| s.change.kind == ChangeKind::Advice) {
        return Err(Error::Refused(format!(
            "{}: advice cannot be applied (nettune cannot make this change)",
            s.change.target
        )));
    }
    // Every namespace is checked and entered before anything is journaled or written.
    for s in steps {
        appliers.get(&s.place)?;
    }
    let id = journal::new_id();
    let mut j = Journal::create(state_dir, &id)?;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    j.append(&Record::Begin {
        id: id.clone(),
        netns: label.map(str::to_string),
        host: hostname(),
        time,
    })?;
    let mut applied = Vec::new();
    let mut intents: Vec<(Place, journal::Intent)> = Vec::new();
    let mut failure = None;
    for (i, step) in steps.iter().enumerate() {
        let seq = i + 1;
        match apply_one(appliers, &mut j, seq, step, opts, &mut intents) {
            Ok(a) => applied.push(a),
            Err(e) => {
                failure = Some((seq, e.to_string()));
                break;
            }
        }
    }
    let Some((seq, error)) = failure else {
        opts.before_commit();
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
    // From here on a journal that cannot be written (disk full) does not stop the restore:
    // everything is restored and the journal's errors reported with the restore's.
    let mut rec = journal::Recorder::new(j);
    rec.record(&Record::Failed {
        seq,
        error: error.clone(),
    });
    let (restored, mut restore_errors) = restore(appliers, &mut rec, &intents);
    if restore_errors.is_empty() {
        rec.record(&Record::RolledBack);
    }
    restore_errors.extend(
        rec.errors()
            .into_iter()
            .map(|e| format!("journal not updated: {e}")),
    );
    Ok(TxOutcome {
        id,
        journal: rec.path().to_path_buf(),
        applied: Vec::new(),
        error: Some(format!("change {seq} of {}: {error}", steps.len())),
        restored,
        restore_errors,
    })
}

fn apply_one(
    appliers: &mut dyn Appliers,
    j: &mut Journal,
    seq: usize,
    step: &Step,
    opts: &TxOptions,
    intents: &mut Vec<(Place, journal::Intent)>,
) -> Result<AppliedChange> {
    let c = step.change;
    let knob = Knob::parse(c)?;
    let applier = appliers.get(&step.place)?;
    let old = applier.read(&knob)?;
    let intent = journal::Intent {
        seq,
        kind: c.kind,
        target: c.target.clone(),
        old: old.clone(),
        new: c.proposed.clone(),
        netns: step.recorded(),
    };
    j.append(&Record::Intent {
        seq,
        kind: c.kind,
        target: c.target.clone(),
        old: old.clone(),
        new: c.proposed.clone(),
        netns: intent.netns.clone(),
    })?;
    intents.push((step.place.clone(), intent));
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
        netns: c.netns.clone(),
    })
}

/// Restore every intent's old value in its place, newest first, verifying each; journal
/// each result. A place that is refused (namespace gone or replaced) fails its intents and
/// the others are still restored; so does a journal that cannot be written (its errors stay
/// in `j`). Returns what was restored and what could not be.
fn restore(
    appliers: &mut dyn Appliers,
    j: &mut journal::Recorder,
    intents: &[(Place, journal::Intent)],
) -> (Vec<Restored>, Vec<String>) {
    let mut restored = Vec::new();
    let mut errors = Vec::new();
    for (place, it) in intents.iter().rev() {
        let result = Knob::new(it.kind, &it.target).and_then(|knob| {
            let applier = appliers.get(place)?;
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
                j.record(&Record::Restored {
                    seq: it.seq,
                    value: value.clone(),
                });
                restored.push(Restored {
                    kind: it.kind,
                    target: it.target.clone(),
                    value,
                    netns: it.netns.clone(),
                });
            }
            Err(e) => {
                j.record(&Record::RestoreFailed {
                    seq: it.seq,
                    error: e.to_string(),
                });
                errors.push(match e {
                    // Names its target itself.
                    Error::ReadBack { .. } => e.to_string(),
                    _ => format!("{} {}: {e}", it.kind, it.target),
                });
            }
        }
    }
    (restored, errors)
}

/// Roll back a journaled transaction (committed, failed half-way, or left incomplete by a
/// crash) with `applier` for every change: see [`rollback_with`].
pub fn rollback(applier: &mut dyn Applier, log: &TransactionLog) -> Result<Vec<Restored>> {
    rollback_with(&mut One(applier), log)
}

/// Options of a rollback, decided by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollbackOptions {
    /// Restore even over a value changed since the transaction wrote it, or one a newer
    /// still-applied transaction changed (`rollback --force`).
    pub force: bool,
}

/// Whether two places are the same namespace (same inode when both are recorded).
fn same_place(a: &Place, b: &Place) -> bool {
    match (a, b) {
        (Place::Netns(x), Place::Netns(y)) => x.inode == y.inode,
        (a, b) => a == b,
    }
}

/// The state directory a journal lives in (`<state>/journal/<id>.jsonl`).
fn state_dir_of(log: &TransactionLog) -> Option<&Path> {
    log.path.parent()?.parent()
}

/// Why `log` must not be rolled back without `--force`, if it must not: a change a newer
/// transaction (still applied, not rolled back) made to one of its targets in the same
/// namespace, or a value changed since the transaction wrote it (an administrator's later
/// change, which a restore would silently lose). A value already back at its old one is
/// fine; so is an intent without a verified write still holding the old value. Places that
/// cannot be entered are left to the restore, which reports them.
fn newer_values(appliers: &mut dyn Appliers, log: &TransactionLog) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(state) = state_dir_of(log) {
        let (logs, _) = journal::list(state);
        for newer in logs.iter().filter(|l| l.id > log.id && !l.rolled_back) {
            for it in &log.intents {
                let place = log.place(it);
                if let Some(n) = newer.intents.iter().find(|n| {
                    n.kind == it.kind
                        && n.target == it.target
                        && same_place(&newer.place(n), &place)
                }) {
                    found.push(format!(
                        "{} {} in {} was changed again by the newer transaction {} (to {:?}), \
                         which is still applied; roll it back first",
                        it.kind,
                        it.target,
                        place.describe(),
                        newer.id,
                        n.new
                    ));
                }
            }
        }
    }
    for it in &log.intents {
        let place = log.place(it);
        let Ok(knob) = Knob::new(it.kind, &it.target) else {
            continue;
        };
        let Ok(applier) = appliers.get(&place) else {
            continue;
        };
        let Ok(now) = applier.read(&knob) else {
            continue;
        };
        if knob.same_value(&it.new, &now) || knob.same_value(&it.old, &now) {
            continue;
        }
        found.push(format!(
            "{} {} in {} is {now:?}, not {:?} as this transaction wrote it (changed since); \
             restoring {:?} would overwrite it",
            it.kind,
            it.target,
            place.describe(),
            it.new,
            it.old
        ));
    }
    found
}

/// Roll back a journaled transaction (committed, failed half-way, or left incomplete by a
/// crash): restore every change that has an intent, newest first, to its exact old value in
/// the namespace it was made in ([`TransactionLog::place`]), then every file `--persist`
/// wrote to its previous content (or remove it). Files changed since are refused before
/// anything is touched. A change whose namespace is gone or replaced is refused and the rest
/// restored; the error then lists what could not be restored (the journal stays open for
/// another try).
pub fn rollback_with(appliers: &mut dyn Appliers, log: &TransactionLog) -> Result<Vec<Restored>> {
    rollback_with_options(appliers, log, &RollbackOptions::default())
}

/// [`rollback_with`], with options. Unless `opts.force`, every value is read first and the
/// rollback is refused, with nothing touched, when one was changed since the transaction
/// wrote it or a newer still-applied transaction changed the same target
/// ([`Error::Refused`] naming each: kind, target, namespace, the value found and the value
/// written).
pub fn rollback_with_options(
    appliers: &mut dyn Appliers,
    log: &TransactionLog,
    opts: &RollbackOptions,
) -> Result<Vec<Restored>> {
    if log.rolled_back {
        return Err(Error::Transaction {
            id: log.id.clone(),
            what: "already rolled back".into(),
        });
    }
    persist::check_files(&log.files)?;
    if !opts.force {
        let newer = newer_values(appliers, log);
        if !newer.is_empty() {
            return Err(Error::Refused(format!(
                "transaction {}: {}; nothing was restored (--force restores anyway)",
                log.id,
                newer.join("; ")
            )));
        }
    }
    // A journal that cannot be opened or written (disk full) does not stop the restore:
    // every value and file is restored, then the journal's errors are reported (the
    // transaction then stays open; another rollback finds the values restored already).
    let mut j = journal::Recorder::open(&log.path);
    let intents: Vec<(Place, journal::Intent)> = log
        .intents
        .iter()
        .map(|i| (log.place(i), i.clone()))
        .collect();
    let (restored, mut errors) = restore(appliers, &mut j, &intents);
    if errors.is_empty() {
        let (_, file_errors) = persist::restore_files(&mut j, &log.files);
        errors.extend(file_errors);
    }
    let journal_errors = j.errors();
    if errors.is_empty() && journal_errors.is_empty() {
        j.record(&Record::RolledBack);
    }
    let journal_errors = j.errors();
    if errors.is_empty() && journal_errors.is_empty() {
        return Ok(restored);
    }
    let mut what = Vec::new();
    if !errors.is_empty() {
        let rest = if restored.is_empty() {
            String::new()
        } else {
            format!(" (the other {} change(s) were restored)", restored.len())
        };
        what.push(format!("could not restore {}{rest}", errors.join("; ")));
    } else {
        what.push(format!(
            "every change ({}) and file was restored",
            restored.len()
        ));
    }
    if !journal_errors.is_empty() {
        what.push(format!(
            "but the journal could not record it ({}); run the rollback again once it can be \
             written",
            journal_errors.join("; ")
        ));
    }
    Err(Error::Transaction {
        id: log.id.clone(),
        what: what.join(", "),
    })
}

/// Finish a transaction a crash left incomplete, when that is exact: it wrote no boot-time
/// file, nothing failed, every change has its `done` record (made and read back), and each
/// value still reads as the transaction wrote it. Then `commit` is appended and the
/// finished changes are returned; `Ok(None)` when it cannot be finished that way (roll it
/// back instead). A committed or rolled-back transaction is an error.
pub fn finish_transaction(
    appliers: &mut dyn Appliers,
    log: &TransactionLog,
) -> Result<Option<Vec<Restored>>> {
    if log.committed || log.rolled_back {
        return Err(Error::Transaction {
            id: log.id.clone(),
            what: format!("is {} already; there is nothing to finish", log.state()),
        });
    }
    if log.failed
        || !log.files.is_empty()
        || log.intents.is_empty()
        || log.intents.iter().any(|i| !log.done.contains(&i.seq))
    {
        return Ok(None);
    }
    let mut finished = Vec::new();
    for it in &log.intents {
        let Ok(knob) = Knob::new(it.kind, &it.target) else {
            return Ok(None);
        };
        let Ok(applier) = appliers.get(&log.place(it)) else {
            return Ok(None);
        };
        match applier.read(&knob) {
            Ok(now) if knob.same_value(&it.new, &now) => finished.push(Restored {
                kind: it.kind,
                target: it.target.clone(),
                value: now,
                netns: it.netns.clone(),
            }),
            _ => return Ok(None),
        }
    }
    let mut j = Journal::open(&log.path)?;
    j.append(&Record::Commit)?;
    Ok(Some(finished))
}

/// Move the plan's sysctl changes that their namespace cannot write — host-wide keys such as
/// `net.core.netdev_max_backlog` or `netdev_budget`, which only the initial namespace has —
/// to the host, with a note on the item. A change is in `change.netns`, else in `default`;
/// on the host it is `netns: None` when `default` is the host, else `Some(host)`. When the
/// host already has a change of the same key, the larger value is kept there (its safety
/// verdict re-asked) and the moved item is dropped (noted). A namespace that cannot be entered is left as it is (the apply
/// then refuses it with its reason).
pub fn route_host_wide(
    plan: &mut Plan,
    appliers: &mut dyn Appliers,
    default: &NetnsRef,
    host: &NetnsRef,
) {
    let on_host = (default.inode != host.inode).then(|| host.clone());
    let mut i = 0;
    while i < plan.items.len() {
        let item = &plan.items[i];
        let ns = item.change.netns.as_ref().unwrap_or(default).clone();
        let host_wide = item.change.kind == ChangeKind::Sysctl
            && ns.inode != host.inode
            && appliers
                .sysctl_writable(&ns, &item.change.target)
                .is_ok_and(|w| !w);
        if !host_wide {
            i += 1;
            continue;
        }
        let key = item.change.target.clone();
        let note = format!(
            "{key} is host-wide (only the host's namespace can write it, not {}): changed on \
             the host, for every namespace",
            ns.name
        );
        let inode = |c: &Change| c.netns.as_ref().unwrap_or(default).inode;
        let existing = plan.items.iter().position(|o| {
            o.change.kind == ChangeKind::Sysctl
                && o.change.target == key
                && inode(&o.change) == host.inode
        });
        match existing {
            Some(k) => {
                let moved = plan.items.remove(i);
                let k = if k > i { k - 1 } else { k };
                let kept = &mut plan.items[k];
                let bigger = matches!(
                    (knob::max_field(&moved.change.proposed), knob::max_field(&kept.change.proposed)),
                    (Some(a), Some(b)) if a > b
                );
                if bigger {
                    kept.notes.push(format!(
                        "raised from {} to {} for {} ({}; {key} is host-wide)",
                        kept.change.proposed, moved.change.proposed, ns.name, moved.finding
                    ));
                    kept.change.proposed = moved.change.proposed;
                    if kept.refusal.is_none() {
                        kept.refusal = safety::refusal(&kept.change);
                    }
                } else {
                    kept.notes.push(format!(
                        "also proposed for {} ({}: {}; {key} is host-wide)",
                        ns.name, moved.finding, moved.change.proposed
                    ));
                }
            }
            None => {
                let item = &mut plan.items[i];
                item.change.netns = on_host.clone();
                item.notes.push(note);
                i += 1;
            }
        }
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

/// Apply `changes` to the live kernel as one transaction journaled in `state_dir`: those
/// that name no namespace inside the one at `netns` when given (else the host's), the others
/// inside theirs ([`run_grouped`]).
pub fn apply_transaction(
    changes: Vec<Change>,
    netns: Option<&Path>,
    state_dir: &Path,
    opts: &TxOptions,
) -> Result<TxOutcome> {
    let root = Root::default();
    let default = match netns {
        Some(p) => netns_ref(p, &p.display().to_string())?,
        None => host_netns(&root)?,
    };
    let label = netns.map(|p| p.display().to_string());
    let mut appliers = KernelAppliers::new(root);
    run_grouped(
        &mut appliers,
        state_dir,
        &default,
        label.as_deref(),
        &changes,
        opts,
    )
}

/// The applied changes of `outcome` made in a namespace other than the host's or the
/// transaction's default one (`host_inode`: the host namespace's inode): they are not
/// persisted, since a boot-time file configures the host and a namespace does not outlive
/// a reboot.
pub fn not_persisted(outcome: &TxOutcome, host_inode: Option<u64>) -> Vec<&AppliedChange> {
    outcome
        .applied
        .iter()
        .filter(|a| {
            a.netns
                .as_ref()
                .is_some_and(|n| Some(n.inode) != host_inode)
        })
        .collect()
}

/// Write the boot-time configuration of the committed transaction `outcome` under `root`,
/// journaled in the transaction's journal; each item keeps the finding `plan` gives it
/// (`manual` when none). Changes made inside another namespace are left out
/// ([`not_persisted`]; `host_inode` is the host namespace's inode). `exe` is the nettune
/// binary the boot unit runs; `netns` is recorded in the files' provenance; `now` (seconds
/// since the Unix epoch) dates them. Returns the files written.
pub fn persist_transaction(
    plan: &Plan,
    outcome: &TxOutcome,
    netns: Option<&str>,
    host_inode: Option<u64>,
    root: &Path,
    exe: &str,
    now: u64,
) -> Result<Vec<PathBuf>> {
    let skip = not_persisted(outcome, host_inode);
    let items: Vec<persist::Item> = outcome
        .applied
        .iter()
        .filter(|a| !skip.iter().any(|s| std::ptr::eq(*s, *a)))
        .map(|a| persist::Item {
            change: Change::new(a.kind, &a.target, Some(a.old.clone()), &a.value),
            finding: plan
                .items
                .iter()
                .find(|i| plan::same_change(&i.change, a.kind, &a.target, a.netns.as_ref()))
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

/// Roll back `log` on the live kernel, each change in the namespace it was made in; refused
/// over values changed since ([`rollback_with_options`] without `force`).
pub fn rollback_transaction(root: &Root, log: &TransactionLog) -> Result<Vec<Restored>> {
    rollback_transaction_with(root, log, &RollbackOptions::default())
}

/// [`rollback_transaction`] with options (`--force`).
pub fn rollback_transaction_with(
    root: &Root,
    log: &TransactionLog,
    opts: &RollbackOptions,
) -> Result<Vec<Restored>> {
    rollback_with_options(&mut KernelAppliers::new(root.clone()), log, opts)
}

/// The newest transaction in `state_dir` that is not rolled back yet.
pub fn last_open(state_dir: &Path) -> Result<TransactionLog> {
    let (logs, errors) = journal::list(state_dir);
    // The newest open transaction may be the unreadable one: refuse rather than roll back
    // an older one by mistake.
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        return Err(Error::Refused(format!(
            "--last cannot tell which transaction is newest while a journal is unreadable: {}; \
             repair or move it, or roll back by id",
            list.join("; ")
        )));
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
    fn rollback_refuses_over_a_value_changed_since_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[("a", "1"), ("b", "2"), ("c", "3")]);
        let out =
            run_transaction(&mut f, dir.path(), None, &changes(), &TxOptions::default()).unwrap();
        // An administrator sets b after the transaction; a is back at its old value already.
        f.values.insert("b".into(), "25".into());
        f.values.insert("a".into(), "1".into());
        f.ops.clear();
        let log = journal::find(dir.path(), &out.id).unwrap();
        let e = rollback(&mut f, &log).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        let msg = e.to_string();
        for want in ["sysctl b", "this namespace", "\"25\"", "\"20\"", "--force"] {
            assert!(msg.contains(want), "{want} in {msg}");
        }
        assert!(!msg.contains("sysctl a "), "a is not a conflict: {msg}");
        assert!(f.ops.is_empty(), "nothing touched: {:?}", f.ops);
        let restored =
            rollback_with_options(&mut One(&mut f), &log, &RollbackOptions { force: true })
                .unwrap();
        assert_eq!(restored.len(), 3);
        assert_eq!(f.values["b"], "2");
    }

    #[test]
    fn rollback_refuses_a_target_a_newer_applied_transaction_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[("a", "1"), ("b", "2"), ("c", "3")]);
        let t1 =
            run_transaction(&mut f, dir.path(), None, &changes(), &TxOptions::default()).unwrap();
        let later = [Change::sysctl("b", Some("20"), "40")];
        let t2 = run_transaction(&mut f, dir.path(), None, &later, &TxOptions::default()).unwrap();
        let log1 = journal::find(dir.path(), &t1.id).unwrap();
        let e = rollback(&mut f, &log1).unwrap_err().to_string();
        assert!(e.contains(&t2.id) && e.contains("sysctl b"), "{e}");
        assert_eq!(f.values["b"], "40");
        // Newest first works.
        rollback(&mut f, &journal::find(dir.path(), &t2.id).unwrap()).unwrap();
        rollback(&mut f, &journal::find(dir.path(), &t1.id).unwrap()).unwrap();
        assert_eq!((f.values["a"].as_str(), f.values["b"].as_str()), ("1", "2"));
    }

    #[test]
    fn rollback_last_refuses_while_a_journal_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fake::new(dir.path(), &[("a", "1"), ("b", "2"), ("c", "3")]);
        run_transaction(&mut f, dir.path(), None, &changes(), &TxOptions::default()).unwrap();
        assert!(last_open(dir.path()).is_ok());
        let bad = dir.path().join("journal/29991231T000000.000000000Z.jsonl");
        std::fs::write(&bad, "garbage\n{}\n").unwrap();
        let e = last_open(dir.path()).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert!(e.to_string().contains("29991231T"), "{e}");
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
                abort_before_commit: false,
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
                netns: None,
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

    /// A journal with every change done and no commit: what a crash between the last
    /// read-back and the commit record leaves.
    fn uncommitted(dir: &Path, changes: &[(&str, &str, &str)], done: usize) -> TransactionLog {
        let id = journal::new_id();
        let mut j = Journal::create(dir, &id).unwrap();
        j.append(&Record::Begin {
            id: id.clone(),
            netns: None,
            host: "h".into(),
            time: 1,
        })
        .unwrap();
        for (i, (t, old, new)) in changes.iter().enumerate() {
            j.append(&Record::Intent {
                seq: i + 1,
                kind: ChangeKind::Sysctl,
                target: t.to_string(),
                old: old.to_string(),
                new: new.to_string(),
                netns: None,
            })
            .unwrap();
            if i < done {
                j.append(&Record::Done {
                    seq: i + 1,
                    value: new.to_string(),
                })
                .unwrap();
            }
        }
        drop(j);
        journal::find(dir, &id).unwrap()
    }

    #[test]
    fn a_transaction_done_in_full_is_finished_not_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = uncommitted(dir.path(), &[("a", "1", "10"), ("b", "2", "20")], 2);
        assert_eq!(log.state(), "incomplete");
        let mut f = Fake::new(dir.path(), &[("a", "10"), ("b", "20")]);
        let done = finish_transaction(&mut One(&mut f), &log).unwrap().unwrap();
        let values: Vec<(&str, &str)> = done
            .iter()
            .map(|r| (r.target.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(values, [("a", "10"), ("b", "20")]);
        assert!(f.ops.is_empty(), "finishing writes nothing: {:?}", f.ops);
        let log = journal::find(dir.path(), &log.id).unwrap();
        assert_eq!(log.state(), "committed");
        // Finished once: a second attempt is an error, and the usual rollback still works.
        assert!(finish_transaction(&mut One(&mut f), &log).is_err());
        rollback(&mut f, &log).unwrap();
        assert_eq!(f.ops, vec!["b=2", "a=1"]);
    }

    #[test]
    fn a_transaction_not_done_or_changed_since_is_not_finished() {
        // The second change has no done record (the crash came before its read-back).
        let dir = tempfile::tempdir().unwrap();
        let log = uncommitted(dir.path(), &[("a", "1", "10"), ("b", "2", "20")], 1);
        let mut f = Fake::new(dir.path(), &[("a", "10"), ("b", "20")]);
        assert_eq!(finish_transaction(&mut One(&mut f), &log).unwrap(), None);
        // Done in full, but someone changed a value since: not finished either.
        let dir = tempfile::tempdir().unwrap();
        let log = uncommitted(dir.path(), &[("a", "1", "10")], 1);
        let mut f = Fake::new(dir.path(), &[("a", "7")]);
        assert_eq!(finish_transaction(&mut One(&mut f), &log).unwrap(), None);
        // Nothing journaled beyond the begin record: nothing to finish.
        let dir = tempfile::tempdir().unwrap();
        let log = uncommitted(dir.path(), &[], 0);
        assert_eq!(finish_transaction(&mut One(&mut f), &log).unwrap(), None);
        for l in journal::list(dir.path()).0 {
            assert_eq!(l.state(), "incomplete");
        }
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

    const HOST: u64 = 4026531840;

    fn ns(inode: u64, name: &str) -> NetnsRef {
        NetnsRef {
            inode,
            name: name.into(),
            path: PathBuf::from(format!("/run/netns/{name}")),
        }
    }

    fn host() -> NetnsRef {
        NetnsRef {
            inode: HOST,
            name: "host".into(),
            path: PathBuf::from("/proc/1/ns/net"),
        }
    }

    /// Namespaces by inode, each a [`Fake`]; refused inodes fail `get` with their reason;
    /// `host_wide` keys cannot be written outside the host.
    struct FakeNs {
        ns: HashMap<u64, Fake>,
        refused: HashMap<u64, String>,
        host_wide: Vec<&'static str>,
        /// Inodes in the order `get` first asked for them.
        entered: Vec<u64>,
    }

    impl FakeNs {
        fn new(state: &Path, namespaces: &[(u64, &[(&str, &str)])]) -> FakeNs {
            FakeNs {
                ns: namespaces
                    .iter()
                    .map(|(i, kv)| (*i, Fake::new(state, kv)))
                    .collect(),
                refused: HashMap::new(),
                host_wide: Vec::new(),
                entered: Vec::new(),
            }
        }

        fn value(&self, inode: u64, key: &str) -> &str {
            &self.ns[&inode].values[key]
        }

        fn ops(&self, inode: u64) -> &[String] {
            &self.ns[&inode].ops
        }

        fn clear_ops(&mut self) {
            for f in self.ns.values_mut() {
                f.ops.clear();
            }
        }
    }

    impl Appliers for FakeNs {
        fn get(&mut self, place: &Place) -> Result<&mut dyn Applier> {
            let inode = match place {
                Place::Own => HOST,
                Place::Netns(r) => r.inode,
                Place::Path(p) => panic!("no inode for {}", p.display()),
            };
            if let Some(why) = self.refused.get(&inode) {
                return Err(Error::Refused(why.clone()));
            }
            if !self.entered.contains(&inode) {
                self.entered.push(inode);
            }
            match self.ns.get_mut(&inode) {
                Some(f) => Ok(f),
                None => Err(Error::Netns {
                    name: inode.to_string(),
                    what: "unknown".into(),
                }),
            }
        }

        fn sysctl_writable(&mut self, netns: &NetnsRef, key: &str) -> Result<bool> {
            if let Some(why) = self.refused.get(&netns.inode) {
                return Err(Error::Refused(why.clone()));
            }
            Ok(netns.inode == HOST || !self.host_wide.contains(&key))
        }
    }

    fn in_ns(c: Change, n: &NetnsRef) -> Change {
        c.in_netns(Some(n.clone()))
    }

    /// Host changes, then two namespaces' interleaved: grouped by namespace in the order
    /// each first appears, plan order within a group.
    fn mixed(a: &NetnsRef, b: &NetnsRef) -> Vec<Change> {
        vec![
            Change::sysctl("a", Some("1"), "10"),
            in_ns(Change::sysctl("x", Some("1"), "11"), a),
            Change::sysctl("b", Some("2"), "20"),
            in_ns(Change::sysctl("x", Some("1"), "12"), b),
            in_ns(Change::sysctl("z", Some("3"), "13"), a),
        ]
    }

    #[test]
    fn changes_are_grouped_by_namespace_applied_there_and_rolled_back_there() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ns(10, "pod-a"), ns(20, "pod-b"));
        let mut f = FakeNs::new(
            dir.path(),
            &[
                (HOST, &[("a", "1"), ("b", "2"), ("x", "1")]),
                (10, &[("x", "1"), ("z", "3")]),
                (20, &[("x", "1")]),
            ],
        );
        let out = run_grouped(
            &mut f,
            dir.path(),
            &host(),
            None,
            &mixed(&a, &b),
            &TxOptions::default(),
        )
        .unwrap();
        assert!(out.committed(), "{:?}", out.error);
        // Every namespace was entered before the first write, in group order.
        assert_eq!(f.entered, vec![HOST, 10, 20]);
        assert_eq!(f.ops(HOST), ["a=10", "b=20"]);
        assert_eq!(f.ops(10), ["x=11", "z=13"]);
        assert_eq!(f.ops(20), ["x=12"]);
        assert_eq!(f.value(HOST, "x"), "1", "the host's x untouched");
        let order: Vec<(&str, Option<u64>)> = out
            .applied
            .iter()
            .map(|c| (c.target.as_str(), c.netns.as_ref().map(|n| n.inode)))
            .collect();
        assert_eq!(
            order,
            [
                ("a", None),
                ("b", None),
                ("x", Some(10)),
                ("z", Some(10)),
                ("x", Some(20))
            ]
        );

        // The journal names every change's namespace, the host's too.
        let log = journal::find(dir.path(), &out.id).unwrap();
        let recorded: Vec<(usize, u64)> = log
            .intents
            .iter()
            .map(|i| (i.seq, i.netns.as_ref().unwrap().inode))
            .collect();
        assert_eq!(recorded, [(1, HOST), (2, HOST), (3, 10), (4, 10), (5, 20)]);
        assert_eq!(log.intents[2].netns.as_ref(), Some(&a));
        assert_eq!(log.place(&log.intents[4]), Place::Netns(b.clone()));

        f.clear_ops();
        let restored = rollback_with(&mut f, &log).unwrap();
        assert_eq!(f.ops(20), ["x=1"]);
        assert_eq!(f.ops(10), ["z=3", "x=1"]);
        assert_eq!(f.ops(HOST), ["b=2", "a=1"]);
        let seen: Vec<(&str, u64)> = restored
            .iter()
            .map(|r| (r.target.as_str(), r.netns.as_ref().unwrap().inode))
            .collect();
        assert_eq!(
            seen,
            [("x", 20), ("z", 10), ("x", 10), ("b", HOST), ("a", HOST)]
        );
        assert_eq!(
            journal::find(dir.path(), &out.id).unwrap().state(),
            "rolled back"
        );
    }

    #[test]
    fn a_namespace_gone_before_the_apply_refuses_it_with_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ns(10, "pod-a"), ns(20, "pod-b"));
        let mut f = FakeNs::new(
            dir.path(),
            &[
                (HOST, &[("a", "1"), ("b", "2")]),
                (10, &[("x", "1"), ("z", "3")]),
            ],
        );
        f.refused.insert(
            20,
            "namespace pod-b is gone: /run/netns/pod-b does not exist (recorded inode 20)".into(),
        );
        let e = run_grouped(
            &mut f,
            dir.path(),
            &host(),
            None,
            &mixed(&a, &b),
            &TxOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Refused(m) if m.contains("pod-b")),
            "{e}"
        );
        assert!(f.ops(HOST).is_empty() && f.ops(10).is_empty());
        assert!(
            !dir.path().join("journal").exists(),
            "no transaction was opened"
        );
    }

    #[test]
    fn a_failure_in_one_namespace_restores_the_others_in_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ns(10, "pod-a"), ns(20, "pod-b"));
        let mut f = FakeNs::new(
            dir.path(),
            &[
                (HOST, &[("a", "1"), ("b", "2")]),
                (10, &[("x", "1"), ("z", "3")]),
                (20, &[("x", "1")]),
            ],
        );
        f.ns.get_mut(&20).unwrap().broken = Some(("x", "12"));
        let out = run_grouped(
            &mut f,
            dir.path(),
            &host(),
            None,
            &mixed(&a, &b),
            &TxOptions::default(),
        )
        .unwrap();
        assert!(
            out.error.as_deref().unwrap().starts_with("change 5 of 5"),
            "{:?}",
            out.error
        );
        assert_eq!(f.ops(20), ["x=12", "x=1"]);
        assert_eq!(f.ops(10), ["x=11", "z=13", "z=3", "x=1"]);
        assert_eq!(f.ops(HOST), ["a=10", "b=20", "b=2", "a=1"]);
        assert_eq!(out.restored.len(), 5);
        assert!(journal::find(dir.path(), &out.id).unwrap().rolled_back);
    }

    #[test]
    fn rollback_refuses_a_gone_or_replaced_namespace_and_restores_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ns(10, "pod-a"), ns(20, "pod-b"));
        let mut f = FakeNs::new(
            dir.path(),
            &[
                (HOST, &[("a", "1"), ("b", "2")]),
                (10, &[("x", "1"), ("z", "3")]),
                (20, &[("x", "1")]),
            ],
        );
        let out = run_grouped(
            &mut f,
            dir.path(),
            &host(),
            None,
            &mixed(&a, &b),
            &TxOptions::default(),
        )
        .unwrap();
        f.clear_ops();
        let gone = "namespace pod-a is gone: /run/netns/pod-a does not exist (recorded inode 10)";
        f.refused.insert(10, gone.into());
        let log = journal::find(dir.path(), &out.id).unwrap();
        let e = rollback_with(&mut f, &log).unwrap_err().to_string();
        assert!(e.contains(gone), "{e}");
        assert!(
            e.contains("sysctl z: refused: namespace pod-a is gone"),
            "{e}"
        );
        assert!(e.contains("the other 3 change(s) were restored"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert_eq!(f.ops(20), ["x=1"]);
        assert_eq!(f.ops(HOST), ["b=2", "a=1"]);
        assert!(f.ops(10).is_empty());
        let log = journal::find(dir.path(), &out.id).unwrap();
        assert!(
            !log.rolled_back,
            "still open: pod-a's changes are not restored"
        );

        // Replaced by another namespace under the same name: refused the same way.
        let changed =
            "namespace pod-a changed: /run/netns/pod-a is now inode 11, recorded inode 10";
        f.refused.insert(10, changed.into());
        let e = rollback_with(&mut f, &log).unwrap_err().to_string();
        assert!(e.contains(changed), "{e}");
    }

    #[test]
    fn host_wide_sysctls_proposed_for_a_namespace_move_to_the_host() {
        use crate::diagnose::Severity;
        use plan::PlanItem;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ns(10, "pod-a"), ns(20, "pod-b"));
        let mut f = FakeNs::new(dir.path(), &[]);
        f.host_wide = vec!["net.core.netdev_budget", "net.core.netdev_max_backlog"];
        let item = |c: Change| PlanItem {
            change: c,
            finding: "softnet.squeeze".into(),
            severity: Severity::Warning,
            risk: String::new(),
            refusal: None,
            notes: Vec::new(),
        };
        let mut p = Plan {
            items: vec![
                item(in_ns(
                    Change::sysctl("net.core.netdev_budget", Some("4"), "300"),
                    &a,
                )),
                item(in_ns(
                    Change::sysctl("net.core.somaxconn", Some("4"), "4096"),
                    &a,
                )),
                item(in_ns(
                    Change::sysctl("net.core.netdev_budget", Some("4"), "600"),
                    &b,
                )),
                item(Change::sysctl(
                    "net.core.netdev_max_backlog",
                    Some("16"),
                    "1000",
                )),
            ],
            ..Plan::default()
        };
        route_host_wide(&mut p, &mut f, &host(), &host());
        assert_eq!(p.items.len(), 3, "{p:#?}");
        let budget = &p.items[0].change;
        assert_eq!(budget.netns, None, "on the host");
        assert_eq!(
            budget.proposed, "600",
            "the larger value of both namespaces"
        );
        assert!(
            p.items[0].notes[0].contains("host-wide"),
            "{:?}",
            p.items[0].notes
        );
        assert!(p.items[0].notes[0].contains("pod-a"));
        assert!(
            p.items[0].notes[1].contains("pod-b"),
            "{:?}",
            p.items[0].notes
        );
        assert_eq!(
            p.items[1].change.netns.as_ref(),
            Some(&a),
            "per-namespace key stays"
        );
        assert!(p.items[1].notes.is_empty());
        assert_eq!(p.items[2].change.netns, None);
        assert!(p.items[2].notes.is_empty(), "already on the host");

        // With --netns pod-a as the default, a host-wide key moves to the host by name.
        let mut p = Plan {
            items: vec![item(Change::sysctl(
                "net.core.netdev_budget",
                Some("4"),
                "300",
            ))],
            ..Plan::default()
        };
        route_host_wide(&mut p, &mut f, &a, &host());
        assert_eq!(p.items[0].change.netns, Some(host()));
        // A namespace that cannot be entered is left for the apply to refuse.
        f.refused.insert(20, "gone".into());
        let mut p = Plan {
            items: vec![item(in_ns(
                Change::sysctl("net.core.netdev_budget", None, "300"),
                &b,
            ))],
            ..Plan::default()
        };
        route_host_wide(&mut p, &mut f, &host(), &host());
        assert_eq!(p.items[0].change.netns.as_ref(), Some(&b));
    }

    #[test]
    fn only_changes_in_other_namespaces_are_not_persisted() {
        let a = ns(10, "pod-a");
        let applied = |netns: Option<NetnsRef>| AppliedChange {
            kind: ChangeKind::Sysctl,
            target: "net.core.somaxconn".into(),
            old: "1".into(),
            value: "2".into(),
            netns,
        };
        let out = TxOutcome {
            id: "T".into(),
            journal: PathBuf::from("/j"),
            applied: vec![applied(None), applied(Some(a)), applied(Some(host()))],
            error: None,
            restored: Vec::new(),
            restore_errors: Vec::new(),
        };
        let skip = not_persisted(&out, Some(HOST));
        assert_eq!(skip.len(), 1);
        assert_eq!(skip[0].netns.as_ref().unwrap().name, "pod-a");
    }

    /// As root: the inode check of the live kernel's appliers (a path that is no namespace,
    /// a namespace replaced) and the host's own namespace used without entering.
    #[test]
    fn sysfs_knobs_are_refused_in_a_namespace_without_its_own_sysfs() {
        // What NetnsThread leaves when the private mount fails.
        let fallback = Root {
            live: false,
            ..Root::default()
        };
        let rps = Knob::new(ChangeKind::Rps, "eth0 rx-0").unwrap();
        let mtu = Knob::new(ChangeKind::Mtu, "eth0").unwrap();
        for k in [&rps, &mtu] {
            let e = own_sysfs(k, &fallback).unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{e}");
            assert!(e.to_string().contains("/sys/class/net/eth0"), "{e}");
        }
        // Sysctls are the namespace's through /proc/thread-self; a mounted private sysfs is fine.
        let sysctl = Knob::new(ChangeKind::Sysctl, "net.core.somaxconn").unwrap();
        assert!(own_sysfs(&sysctl, &fallback).is_ok());
        let private = Root {
            sys: PathBuf::from("/tmp/nettune-netns-sys-1-0"),
            ..Root::default()
        };
        assert!(own_sysfs(&rps, &private).is_ok());
    }

    #[test]
    fn kernel_appliers_check_inodes() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let root = Root::default();
        let h = host_netns(&root).unwrap();
        let mut k = KernelAppliers::new(root);
        assert!(k.get(&Place::Netns(h.clone())).is_ok());
        assert!(k.entered.is_empty(), "the own namespace is not entered");
        let replaced = NetnsRef {
            inode: h.inode + 1,
            ..h.clone()
        };
        let e = k.get(&Place::Netns(replaced)).err().unwrap().to_string();
        assert!(
            e.contains("changed") && e.contains(&h.inode.to_string()),
            "{e}"
        );
        let gone = NetnsRef {
            path: PathBuf::from("/run/netns/nettune-no-such-namespace"),
            ..ns(7, "nettune-no-such-namespace")
        };
        let e = k.get(&Place::Netns(gone)).err().unwrap().to_string();
        assert_eq!(
            e,
            "refused: namespace nettune-no-such-namespace is gone: \
             /run/netns/nettune-no-such-namespace does not exist (recorded inode 7)"
        );
        assert!(!k
            .sysctl_writable(&h, "net.core.nettune_no_such_key")
            .unwrap());
    }
}
