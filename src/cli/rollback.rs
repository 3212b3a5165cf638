//! `nettune rollback`: list journaled transactions, or undo one exactly (also completing a
//! transaction a crash left half-applied).

use super::{exit, GlobalArgs};
use crate::tune::{self, journal};
use clap::Args;
use serde_json::json;
use std::io::Write;

/// Arguments of `nettune rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// List the journaled transactions.
    #[arg(long, conflicts_with_all = ["id", "last"])]
    pub list: bool,
    /// Roll back the newest transaction that is not rolled back yet.
    #[arg(long, conflicts_with = "id")]
    pub last: bool,
    /// Transaction id (see `--list`).
    #[arg(value_name = "ID")]
    pub id: Option<String>,
}

/// Run `nettune rollback`.
pub fn run(global: &GlobalArgs, args: &RollbackArgs) -> anyhow::Result<u8> {
    let state = journal::state_dir();
    let mut out = std::io::stdout().lock();
    if args.list {
        let (logs, errors) = journal::list(&state);
        for e in &errors {
            tracing::warn!("unreadable journal: {e}");
        }
        if global.json {
            let txs: Vec<_> = logs
                .iter()
                .map(|l| {
                    json!({"id": l.id, "state": l.state(), "netns": l.netns, "host": l.host,
                           "time": l.time, "changes": l.intents})
                })
                .collect();
            serde_json::to_writer_pretty(
                &mut out,
                &json!({"schema": "nettune.transactions/v1", "transactions": txs}),
            )?;
            writeln!(out)?;
        } else if logs.is_empty() {
            writeln!(out, "no transactions in {}", state.display())?;
        } else {
            for l in &logs {
                let ns = l
                    .netns
                    .as_deref()
                    .map(|n| format!(" netns {n}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{}  {:<11} {} change(s){ns}",
                    l.id,
                    l.state(),
                    l.intents.len()
                )?;
                for i in &l.intents {
                    writeln!(out, "    {} {}: {} -> {}", i.kind, i.target, i.old, i.new)?;
                }
            }
        }
        return Ok(exit::OK);
    }
    let log = match (&args.id, args.last) {
        (Some(id), _) => journal::find(&state, id)?,
        (None, true) => tune::last_open(&state)?,
        (None, false) => anyhow::bail!("give a transaction id, --last or --list"),
    };
    super::tune::require_root("rollback")?;
    let restored = tune::rollback_transaction(&global.root(), &log)?;
    if global.json {
        serde_json::to_writer_pretty(
            &mut out,
            &json!({"schema": "nettune.rollback/v1", "transaction": log.id, "was": log.state(),
                    "restored": restored,
                    "files": log.files.iter().map(|f| json!({"path": f.path, "removed": f.previous.is_none()})).collect::<Vec<_>>()}),
        )?;
        writeln!(out)?;
    } else {
        writeln!(out, "rolled back transaction {} ({}):", log.id, log.state())?;
        for r in &restored {
            writeln!(out, "  {} {} = {}", r.kind, r.target, r.value)?;
        }
        for f in log.files.iter().rev() {
            let what = if f.previous.is_some() {
                "restored"
            } else {
                "removed"
            };
            writeln!(out, "  file {} {what}", f.path.display())?;
        }
    }
    out.flush()?;
    Ok(exit::OK)
}
