//! The `nettune.transactions/v1` (`rollback --list`) and `nettune.rollback/v1` JSON
//! documents and their text forms. Field names and their order are stable API.

use crate::tune::journal::{Intent, TransactionLog};
use crate::tune::Restored;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Schema tag of `rollback --list --json`.
pub const TRANSACTIONS_SCHEMA: &str = "nettune.transactions/v1";
/// Schema tag of `rollback ID --json`.
pub const ROLLBACK_SCHEMA: &str = "nettune.rollback/v1";

/// One journaled transaction.
#[derive(Debug, Serialize)]
pub struct TransactionSummary<'a> {
    pub id: &'a str,
    /// `committed`, `rolled back`, `failed` or `incomplete`.
    pub state: &'static str,
    /// Namespace the changes were made in; `null` for the host's.
    pub netns: Option<&'a str>,
    pub host: &'a str,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// Every announced write, in order.
    pub changes: &'a [Intent],
}

/// The list of transactions.
#[derive(Debug, Serialize)]
pub struct TransactionsReport<'a> {
    pub schema: &'static str,
    pub transactions: Vec<TransactionSummary<'a>>,
}

/// Build the list report of `logs` (oldest first).
pub fn transactions_report(logs: &[TransactionLog]) -> TransactionsReport<'_> {
    TransactionsReport {
        schema: TRANSACTIONS_SCHEMA,
        transactions: logs
            .iter()
            .map(|l| TransactionSummary {
                id: &l.id,
                state: l.state(),
                netns: l.netns.as_deref(),
                host: &l.host,
                time: l.time,
                changes: &l.intents,
            })
            .collect(),
    }
}

/// A boot-time configuration file a rollback restored or removed.
#[derive(Debug, Serialize)]
pub struct RollbackFile<'a> {
    pub path: &'a Path,
    /// The transaction created it, so the rollback removed it.
    pub removed: bool,
}

/// What a rollback did.
#[derive(Debug, Serialize)]
pub struct RollbackReport<'a> {
    pub schema: &'static str,
    pub transaction: &'a str,
    /// The transaction's state before the rollback.
    pub was: &'static str,
    /// Values restored, newest change first.
    pub restored: &'a [Restored],
    pub files: Vec<RollbackFile<'a>>,
}

/// Build the report of rolling back `log` (as loaded before the rollback).
pub fn rollback_report<'a>(
    log: &'a TransactionLog,
    restored: &'a [Restored],
) -> RollbackReport<'a> {
    RollbackReport {
        schema: ROLLBACK_SCHEMA,
        transaction: &log.id,
        was: log.state(),
        restored,
        files: log
            .files
            .iter()
            .map(|f| RollbackFile {
                path: &f.path,
                removed: f.previous.is_none(),
            })
            .collect(),
    }
}

/// The transactions as text, one block each; `state_dir` is named when there are none.
pub fn render_transactions(logs: &[TransactionLog], state_dir: &Path) -> String {
    let mut s = String::new();
    if logs.is_empty() {
        let _ = writeln!(s, "no transactions in {}", state_dir.display());
    }
    for l in logs {
        let ns = l
            .netns
            .as_deref()
            .map(|n| format!(" netns {n}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{}  {:<11} {} change(s){ns}",
            l.id,
            l.state(),
            l.intents.len()
        );
        for i in &l.intents {
            let ns = i
                .netns
                .as_ref()
                .map(|n| format!("  [netns {} inode {}]", n.name, n.inode))
                .unwrap_or_default();
            let _ = writeln!(s, "    {} {}: {} -> {}{ns}", i.kind, i.target, i.old, i.new);
        }
    }
    s
}

/// A rollback as text.
pub fn render_rollback(log: &TransactionLog, restored: &[Restored]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "rolled back transaction {} ({}):", log.id, log.state());
    for r in restored {
        let ns = r
            .netns
            .as_ref()
            .map(|n| format!(" in {}", n.name))
            .unwrap_or_default();
        let _ = writeln!(s, "  {} {}{ns} = {}", r.kind, r.target, r.value);
    }
    for f in log.files.iter().rev() {
        let what = if f.previous.is_some() {
            "restored"
        } else {
            "removed"
        };
        let _ = writeln!(s, "  file {} {what}", f.path.display());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;
    use crate::tune::journal::FileRecord;
    use std::path::PathBuf;

    fn log() -> TransactionLog {
        TransactionLog {
            id: "T1".into(),
            path: PathBuf::from("/j/T1.jsonl"),
            netns: Some("/run/netns/x".into()),
            host: "h".into(),
            time: 7,
            intents: vec![Intent {
                seq: 1,
                kind: ChangeKind::Sysctl,
                target: "net.core.somaxconn".into(),
                old: "16".into(),
                new: "4096".into(),
                netns: None,
            }],
            files: vec![
                FileRecord {
                    path: PathBuf::from("/etc/a.conf"),
                    previous: Some("x".into()),
                    written: "y".into(),
                },
                FileRecord {
                    path: PathBuf::from("/etc/b.link"),
                    previous: None,
                    written: "z".into(),
                },
            ],
            done: vec![1],
            committed: true,
            failed: false,
            rolled_back: false,
        }
    }

    /// The exact documents (field names and order) `rollback --json` has always printed.
    #[test]
    fn reports_keep_their_shape() {
        let logs = vec![log()];
        assert_eq!(
            serde_json::to_string(&transactions_report(&logs)).unwrap(),
            r#"{"schema":"nettune.transactions/v1","transactions":[{"id":"T1","state":"committed","netns":"/run/netns/x","host":"h","time":7,"changes":[{"seq":1,"kind":"sysctl","target":"net.core.somaxconn","old":"16","new":"4096"}]}]}"#
        );
        let restored = vec![Restored {
            kind: ChangeKind::Sysctl,
            target: "net.core.somaxconn".into(),
            value: "16".into(),
            netns: None,
        }];
        assert_eq!(
            serde_json::to_string(&rollback_report(&logs[0], &restored)).unwrap(),
            r#"{"schema":"nettune.rollback/v1","transaction":"T1","was":"committed","restored":[{"kind":"sysctl","target":"net.core.somaxconn","value":"16"}],"files":[{"path":"/etc/a.conf","removed":false},{"path":"/etc/b.link","removed":true}]}"#
        );
    }

    #[test]
    fn the_namespace_of_each_change_is_listed() {
        let pod = crate::namespaces::NetnsRef {
            inode: 4026532301,
            name: "pod-web".into(),
            path: PathBuf::from("/run/netns/pod-web"),
        };
        let mut l = log();
        l.netns = None;
        l.intents[0].netns = Some(pod.clone());
        let t = render_transactions(std::slice::from_ref(&l), Path::new("/s"));
        assert_eq!(
            t,
            "T1  committed   1 change(s)\n    sysctl net.core.somaxconn: 16 -> 4096  [netns pod-web inode 4026532301]\n"
        );
        let logs = vec![l];
        let v = serde_json::to_value(transactions_report(&logs)).unwrap();
        assert_eq!(
            v["transactions"][0]["changes"][0]["netns"]["inode"],
            4026532301u64
        );
        assert_eq!(
            v["transactions"][0]["changes"][0]["netns"]["name"],
            "pod-web"
        );
        let restored = vec![Restored {
            kind: ChangeKind::Sysctl,
            target: "net.core.somaxconn".into(),
            value: "16".into(),
            netns: Some(pod),
        }];
        let r = render_rollback(&logs[0], &restored);
        assert!(
            r.contains("  sysctl net.core.somaxconn in pod-web = 16\n"),
            "{r}"
        );
        let v = serde_json::to_value(rollback_report(&logs[0], &restored)).unwrap();
        assert_eq!(v["restored"][0]["netns"]["name"], "pod-web");
    }

    #[test]
    fn text_forms() {
        let l = log();
        let t = render_transactions(std::slice::from_ref(&l), Path::new("/s"));
        assert_eq!(
            t,
            "T1  committed   1 change(s) netns /run/netns/x\n    sysctl net.core.somaxconn: 16 -> 4096\n"
        );
        assert_eq!(
            render_transactions(&[], Path::new("/s")),
            "no transactions in /s\n"
        );
        let r = render_rollback(&l, &[]);
        assert_eq!(
            r,
            "rolled back transaction T1 (committed):\n  file /etc/b.link removed\n  file /etc/a.conf restored\n"
        );
    }
}
