//! The on-disk transaction journal: one JSON-lines file per transaction under
//! `<state dir>/journal/<id>.jsonl`. Every record is written and fsynced before the kernel
//! write it announces, so a crash leaves enough to restore the exact old values.
//!
//! Each `intent` names the network namespace its change is made in (`netns`: inode, display
//! name and path; the host's is named too), so a rollback restores it in the same namespace
//! and refuses one that is gone or was replaced (another inode behind the path). Journals
//! written before per-change namespaces have no `netns` on their intents: every change of
//! such a journal is in the `begin` record's `netns` path, or the host's when it has none
//! ([`Place`], [`TransactionLog::place`]).

use crate::change::ChangeKind;
use crate::namespaces::NetnsRef;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default state directory (the command line lets `NETTUNE_STATE_DIR` override it; the
/// library always takes the directory as an argument).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/nettune";

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The transaction starts.
    Begin {
        id: String,
        /// Namespace path given with `--netns` (the changes that name no namespace of their
        /// own are made there); `None` for the host's namespace. Journals written before
        /// per-change namespaces make every change there.
        netns: Option<String>,
        /// Host name at the time.
        host: String,
        /// Seconds since the Unix epoch.
        time: u64,
    },
    /// About to write `new` over `old` (written and fsynced before the write).
    Intent {
        /// 1-based position in the transaction.
        seq: usize,
        kind: ChangeKind,
        target: String,
        /// The exact value read from the kernel just before.
        old: String,
        new: String,
        /// The namespace the change is made in; absent in journals written before
        /// per-change namespaces (the `begin` record's `netns` then says where).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<NetnsRef>,
    },
    /// The write of `seq` was made and read back as `value`.
    Done { seq: usize, value: String },
    /// The apply failed; what happened (a rollback follows).
    Failed { seq: usize, error: String },
    /// Every change is in place.
    Commit,
    /// A restore of `seq` to its old value was made and verified.
    Restored { seq: usize, value: String },
    /// A restore of `seq` failed.
    RestoreFailed { seq: usize, error: String },
    /// About to write a boot-time configuration file (`--persist`); written and fsynced
    /// before the file. `previous` is its content before, `None` when it did not exist.
    File {
        path: String,
        previous: Option<String>,
        /// The content written.
        written: String,
    },
    /// A persisted file was restored to its previous content (or removed).
    FileRestored { path: String },
    /// Every change with an intent has been restored.
    RolledBack,
}

/// A boot-time configuration file a transaction wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    pub path: PathBuf,
    /// Content before; `None` when the file did not exist.
    pub previous: Option<String>,
    /// Content written.
    pub written: String,
}

/// An open journal being appended to.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Appends left before the injected "disk full" (`NETTUNE_JOURNAL_FULL_AFTER`).
    #[cfg(feature = "fault-injection")]
    full_after: Option<usize>,
}

/// The injected "disk full" of `NETTUNE_JOURNAL_FULL_AFTER=N`: every append after the N-th
/// of one open journal fails with ENOSPC (fault-injection builds only).
#[cfg(feature = "fault-injection")]
fn injected_full_after() -> Option<usize> {
    std::env::var("NETTUNE_JOURNAL_FULL_AFTER")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

impl Journal {
    /// Create the journal of a new transaction `id` in `state_dir` (directories are created).
    pub fn create(state_dir: &Path, id: &str) -> Result<Journal> {
        let dir = state_dir.join("journal");
        crate::durable::private_dir(state_dir, true)?;
        crate::durable::private_dir(&dir, true)?;
        let path = dir.join(format!("{id}.jsonl"));
        // Exclusive, symlink-refusing, mode 0600, directory entry fsynced.
        let file = crate::durable::create_new(&path, 0o600)?;
        Ok(Journal {
            path,
            file,
            #[cfg(feature = "fault-injection")]
            full_after: injected_full_after(),
        })
    }

    /// Open an existing journal for appending. A torn last line (a crash during an append)
    /// is cut off first, so the next record starts on a line of its own instead of being
    /// merged into the torn one.
    pub fn open(path: &Path) -> Result<Journal> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(path)
            .map_err(io(path))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io(path))?;
        if text.last().is_some_and(|b| *b != b'\n') {
            let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            tracing::warn!(
                "{}: cutting a torn last record ({} bytes) before appending",
                path.display(),
                text.len() - keep
            );
            file.set_len(keep as u64)
                .and_then(|()| file.sync_data())
                .map_err(io(path))?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            #[cfg(feature = "fault-injection")]
            full_after: injected_full_after(),
        })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record and fsync it.
    pub fn append(&mut self, record: &Record) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(left) = self.full_after.as_mut() {
            if *left == 0 {
                return Err(Error::io(
                    &self.path,
                    std::io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32),
                ));
            }
            *left -= 1;
        }
        let mut line = serde_json::to_vec(record).map_err(|e| Error::io(&self.path, e.into()))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))
    }
}

/// A journal that collects its append failures instead of returning them: a restore goes on
/// through a full disk and reports what could not be recorded at the end. Opening the
/// journal may fail too; the restore then goes on unrecorded.
pub struct Recorder {
    journal: Option<Journal>,
    path: PathBuf,
    errors: Vec<String>,
}

impl Recorder {
    /// Record into `journal`.
    pub fn new(journal: Journal) -> Recorder {
        Recorder {
            path: journal.path.clone(),
            journal: Some(journal),
            errors: Vec::new(),
        }
    }

    /// Open the journal at `path` ([`Journal::open`]); a failure is kept as an error.
    pub fn open(path: &Path) -> Recorder {
        match Journal::open(path) {
            Ok(j) => Recorder::new(j),
            Err(e) => Recorder {
                journal: None,
                path: path.to_path_buf(),
                errors: vec![e.to_string()],
            },
        }
    }

    /// Append `record`; a failure is kept, not returned.
    pub fn record(&mut self, record: &Record) {
        if let Some(j) = self.journal.as_mut() {
            if let Err(e) = j.append(record) {
                self.errors.push(e.to_string());
            }
        }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What could not be recorded (each once: a full disk fails every append alike).
    pub fn errors(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.errors {
            if !out.contains(e) {
                out.push(e.clone());
            }
        }
        out
    }
}

/// What a journal says about its transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionLog {
    pub id: String,
    pub path: PathBuf,
    pub netns: Option<String>,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// `(seq, kind, target, old, new)` of every intent, in order.
    pub intents: Vec<Intent>,
    /// Boot-time configuration files written by `--persist`, in order.
    pub files: Vec<FileRecord>,
    /// Sequence numbers whose write was verified.
    pub done: Vec<usize>,
    pub committed: bool,
    pub failed: bool,
    pub rolled_back: bool,
}

/// One announced write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Intent {
    pub seq: usize,
    pub kind: ChangeKind,
    pub target: String,
    pub old: String,
    pub new: String,
    /// The namespace the change was made in, as recorded; `None` in journals written before
    /// per-change namespaces ([`TransactionLog::place`] then gives the transaction's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsRef>,
}

/// Where a journaled change was made, so a rollback restores it there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Place {
    /// The caller's own network namespace (a journal written before per-change namespaces,
    /// without `--netns`).
    Own,
    /// A namespace recorded with its inode: entered only while its path still opens that
    /// inode.
    Netns(NetnsRef),
    /// A namespace path recorded without an inode (a journal written before per-change
    /// namespaces, with `--netns`): entered as it is, as those journals always were.
    Path(PathBuf),
}

impl Place {
    /// The place of intent `netns` in a transaction whose `begin` record names `legacy`.
    pub fn of(netns: Option<&NetnsRef>, legacy: Option<&str>) -> Place {
        match (netns, legacy) {
            (Some(r), _) => Place::Netns(r.clone()),
            (None, Some(path)) => Place::Path(PathBuf::from(path)),
            (None, None) => Place::Own,
        }
    }

    /// The namespace for messages: `pod-web (inode 4026532301)`, the path, or `this
    /// namespace`.
    pub fn describe(&self) -> String {
        match self {
            Place::Own => "this namespace".to_string(),
            Place::Netns(r) => format!("{} (inode {})", r.name, r.inode),
            Place::Path(p) => p.display().to_string(),
        }
    }
}

impl TransactionLog {
    /// Where `intent` (one of this log's) was made.
    pub fn place(&self, intent: &Intent) -> Place {
        Place::of(intent.netns.as_ref(), self.netns.as_deref())
    }

    /// `committed`, `rolled back`, `failed`, or `incomplete` (crashed mid-apply).
    pub fn state(&self) -> &'static str {
        if self.rolled_back {
            "rolled back"
        } else if self.committed {
            "committed"
        } else if self.failed {
            "failed"
        } else {
            "incomplete"
        }
    }
}

/// Parse a journal's text. A torn last line (crash mid-write) is ignored; the `begin` record
/// must be present.
pub fn parse(text: &str, path: &Path) -> Result<TransactionLog> {
    let mut log: Option<TransactionLog> = None;
    let bad = |line: usize, what: String| Error::Parse {
        path: path.to_path_buf(),
        line,
        what,
    };
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            // A torn final line is what a crash during append leaves.
            Err(_) if i + 1 == lines.len() => break,
            // A torn record with the next one appended to it on the same line (journals
            // written before `Journal::open` cut torn lines): the torn prefix never
            // completed, so its write never happened; the record after it stands.
            Err(e) => match line
                .rfind("{\"record\":")
                .filter(|&at| at > 0)
                .and_then(|at| serde_json::from_str::<Record>(&line[at..]).ok())
            {
                Some(r) => r,
                None => return Err(bad(i + 1, e.to_string())),
            },
        };
        match (rec, log.as_mut()) {
            (
                Record::Begin {
                    id,
                    netns,
                    host,
                    time,
                },
                None,
            ) => {
                log = Some(TransactionLog {
                    id,
                    path: path.to_path_buf(),
                    netns,
                    host,
                    time,
                    intents: Vec::new(),
                    files: Vec::new(),
                    done: Vec::new(),
                    committed: false,
                    failed: false,
                    rolled_back: false,
                })
            }
            (Record::Begin { .. }, Some(_)) => {
                return Err(bad(i + 1, "second begin record".into()))
            }
            (_, None) => return Err(bad(i + 1, "record before begin".into())),
            (
                Record::Intent {
                    seq,
                    kind,
                    target,
                    old,
                    new,
                    netns,
                },
                Some(l),
            ) => l.intents.push(Intent {
                seq,
                kind,
                target,
                old,
                new,
                netns,
            }),
            (Record::Done { seq, .. }, Some(l)) => l.done.push(seq),
            (Record::Failed { .. }, Some(l)) => l.failed = true,
            (Record::Commit, Some(l)) => l.committed = true,
            (Record::RolledBack, Some(l)) => l.rolled_back = true,
            (
                Record::File {
                    path,
                    previous,
                    written,
                },
                Some(l),
            ) => l.files.push(FileRecord {
                path: PathBuf::from(path),
                previous,
                written,
            }),
            (
                Record::Restored { .. }
                | Record::RestoreFailed { .. }
                | Record::FileRestored { .. },
                Some(_),
            ) => {}
        }
    }
    log.ok_or_else(|| bad(0, "no begin record".into()))
}

/// Load one journal file.
pub fn load(path: &Path) -> Result<TransactionLog> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse(&text, path)
}

/// Every transaction in `state_dir`, oldest first (ids sort by time). Unreadable journals
/// are returned as errors in the second list.
pub fn list(state_dir: &Path) -> (Vec<TransactionLog>, Vec<Error>) {
    let dir = state_dir.join("journal");
    if let Err(e) = trusted(state_dir) {
        return (Vec::new(), vec![e]);
    }
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    let mut logs = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match load(&p) {
            Ok(l) => logs.push(l),
            Err(e) => errors.push(e),
        }
    }
    (logs, errors)
}

/// The state directory and its `journal/`, when they exist, pass the trust check
/// ([`crate::durable::private_dir`]): a journal someone else could plant is never read.
fn trusted(state_dir: &Path) -> Result<()> {
    if crate::durable::private_dir(state_dir, false)? {
        crate::durable::private_dir(&state_dir.join("journal"), false)?;
    }
    Ok(())
}

/// The journal of transaction `id`.
pub fn find(state_dir: &Path, id: &str) -> Result<TransactionLog> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(Error::Input(format!("invalid transaction id {id:?}")));
    }
    trusted(state_dir)?;
    let path = state_dir.join("journal").join(format!("{id}.jsonl"));
    if !path.exists() {
        return Err(Error::Transaction {
            id: id.to_string(),
            what: format!(
                "no such transaction in {}; see `nettune rollback --list`",
                state_dir.display()
            ),
        });
    }
    load(&path)
}

/// A new transaction id: UTC time to the nanosecond, so ids sort by time
/// (`20261124T110300.123456789Z`).
pub fn new_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// `YYYY-MM-DD` (UTC) of `secs` since the Unix epoch.
pub fn date(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let a = new_id();
        let b = new_id();
        assert!(a <= b, "{a} {b}");
        assert_eq!(a.len(), "20261124T110300.123456789Z".len());
    }

    #[test]
    fn journal_is_created_exclusively_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), "x").unwrap();
        j.append(&Record::Commit).unwrap();
        let meta = std::fs::metadata(j.path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(Journal::create(dir.path(), "x").is_err(), "never reused");
        // A symlink planted at the journal's name is not followed.
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join("journal/y.jsonl")).unwrap();
        assert!(Journal::create(dir.path(), "y").is_err());
        assert!(!target.exists());
        let mut j = Journal::open(j.path()).unwrap();
        j.append(&Record::RolledBack).unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn torn_last_line_is_ignored_but_garbage_inside_is_an_error() {
        let p = Path::new("j.jsonl");
        let text = "{\"record\":\"begin\",\"id\":\"x\",\"netns\":null,\"host\":\"h\",\"time\":1}\n\
                    {\"record\":\"intent\",\"seq\":1,\"kind\":\"sysctl\",\"target\":\"a.b\",\"old\":\"1\",\"new\":\"2\"}\n\
                    {\"record\":\"do";
        let log = parse(text, p).unwrap();
        assert_eq!(log.intents.len(), 1);
        assert_eq!(log.intents[0].old, "1");
        assert_eq!(log.state(), "incomplete");
        let bad = text.replacen("{\"record\":\"intent\"", "garbage", 1);
        assert!(parse(&bad, p).is_err());
        // A torn record merged with the next one (an older nettune appended to a torn
        // line): the next record is read, the torn prefix dropped.
        let merged = "{\"record\":\"begin\",\"id\":\"x\",\"netns\":null,\"host\":\"h\",\"time\":1}\n\
                      {\"record\":\"intent\",\"seq\":1,\"kind\":\"sysctl\",\"target\":\"a.b\",\"old\":\"1\",\"new\":\"2\"}\n\
                      {\"record\":\"do{\"record\":\"failed\",\"seq\":1,\"error\":\"x\"}\n\
                      {\"record\":\"rolled_back\"}\n";
        let log = parse(merged, p).unwrap();
        assert!(log.failed && log.rolled_back && log.done.is_empty());
        assert!(parse("", p).is_err());
    }

    #[test]
    fn intents_record_their_namespace_and_old_journals_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let pod = NetnsRef {
            inode: 4026532301,
            name: "pod-web".into(),
            path: PathBuf::from("/run/netns/pod-web"),
        };
        let mut j = Journal::create(dir.path(), "T").unwrap();
        j.append(&Record::Begin {
            id: "T".into(),
            netns: None,
            host: "h".into(),
            time: 1,
        })
        .unwrap();
        j.append(&Record::Intent {
            seq: 1,
            kind: ChangeKind::Sysctl,
            target: "net.core.somaxconn".into(),
            old: "4".into(),
            new: "4096".into(),
            netns: Some(pod.clone()),
        })
        .unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(
            text.contains(
                r#""netns":{"inode":4026532301,"name":"pod-web","path":"/run/netns/pod-web"}"#
            ),
            "{text}"
        );
        let log = load(j.path()).unwrap();
        assert_eq!(log.intents[0].netns.as_ref(), Some(&pod));
        assert_eq!(log.place(&log.intents[0]), Place::Netns(pod.clone()));
        assert_eq!(log.intents[0].netns.as_ref().unwrap().name, "pod-web");

        // Written before per-change namespaces: the intents name none; the transaction's
        // `--netns` path (or the caller's own namespace) is where they were made.
        let old = "{\"record\":\"begin\",\"id\":\"x\",\"netns\":\"/run/netns/x\",\"host\":\"h\",\"time\":1}\n\
                   {\"record\":\"intent\",\"seq\":1,\"kind\":\"sysctl\",\"target\":\"a.b\",\"old\":\"1\",\"new\":\"2\"}\n\
                   {\"record\":\"done\",\"seq\":1,\"value\":\"2\"}\n{\"record\":\"commit\"}\n";
        let log = parse(old, Path::new("x.jsonl")).unwrap();
        assert_eq!(log.state(), "committed");
        assert_eq!(log.intents[0].netns, None);
        assert_eq!(
            log.place(&log.intents[0]),
            Place::Path(PathBuf::from("/run/netns/x"))
        );
        let host_only = old.replace("\"/run/netns/x\"", "null");
        let log = parse(&host_only, Path::new("x.jsonl")).unwrap();
        assert_eq!(log.place(&log.intents[0]), Place::Own);
        // An old intent serialises as it always did (no `netns` key).
        let v = serde_json::to_string(&log.intents[0]).unwrap();
        assert_eq!(
            v,
            r#"{"seq":1,"kind":"sysctl","target":"a.b","old":"1","new":"2"}"#
        );
        assert_eq!(Place::Netns(pod).describe(), "pod-web (inode 4026532301)");
    }

    #[test]
    fn a_torn_last_line_is_cut_on_open_never_merged_with_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), "T").unwrap();
        j.append(&Record::Begin {
            id: "T".into(),
            netns: None,
            host: "h".into(),
            time: 1,
        })
        .unwrap();
        drop(j);
        let path = dir.path().join("journal/T.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"record\":\"inte").unwrap();
        drop(f);
        let mut j = Journal::open(&path).unwrap();
        j.append(&Record::Commit).unwrap();
        let log = load(&path).unwrap();
        assert!(log.committed, "{}", std::fs::read_to_string(&path).unwrap());
        j.append(&Record::RolledBack).unwrap();
        assert_eq!(load(&path).unwrap().state(), "rolled back");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,400}", cut in 0usize..400) {
            let p = Path::new("j");
            let _ = parse(&text, p);
            let valid = "{\"record\":\"begin\",\"id\":\"x\",\"netns\":null,\"host\":\"h\",\"time\":1}\n{\"record\":\"commit\"}\n";
            let _ = parse(valid.get(..cut.min(valid.len())).unwrap_or(""), p);
        }
    }
}
