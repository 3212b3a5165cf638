//! `nettune rollback`: list journaled transactions, or undo one exactly (also completing a
//! transaction a crash left half-applied).

use super::{exit, GlobalArgs};
use crate::report::rollback;
use crate::tune::{self, journal};
use clap::Args;
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
    /// Restore even over values changed since the transaction wrote them (by an
    /// administrator or a newer transaction still applied); without it such a rollback is
    /// refused with nothing touched.
    #[arg(long, conflicts_with = "list")]
    pub force: bool,
}

/// Run `nettune rollback`.
pub fn run(global: &GlobalArgs, args: &RollbackArgs) -> anyhow::Result<u8> {
    let state = super::state_dir();
    let mut out = std::io::stdout().lock();
    if args.list {
        crate::durable::private_dir(&state, false)?;
        let (logs, errors) = journal::list(&state);
        for e in &errors {
            tracing::warn!("unreadable journal: {e}");
        }
        if global.json {
            serde_json::to_writer_pretty(&mut out, &rollback::transactions_report(&logs))?;
            writeln!(out)?;
        } else {
            write!(out, "{}", rollback::render_transactions(&logs, &state))?;
        }
        return Ok(exit::OK);
    }
    if args.id.is_none() && !args.last {
        anyhow::bail!("give a transaction id, --last or --list");
    }
    super::tune::require_root("rollback")?;
    // Taken before the journal is read: `--last` must not pick a transaction another writer
    // is still applying.
    let _lock = tune::lock::StateLock::acquire(&state, &super::tune::command_line())?;
    let log = match (&args.id, args.last) {
        (Some(id), _) => journal::find(&state, id)?,
        (None, true) => tune::last_open(&state)?,
        (None, false) => anyhow::bail!("give a transaction id, --last or --list"),
    };
    let opts = tune::RollbackOptions { force: args.force };
    let restored = tune::rollback_transaction_with(&global.root(), &log, &opts)?;
    if global.json {
        serde_json::to_writer_pretty(&mut out, &rollback::rollback_report(&log, &restored))?;
        writeln!(out)?;
    } else {
        write!(out, "{}", rollback::render_rollback(&log, &restored))?;
    }
    out.flush()?;
    Ok(exit::OK)
}
