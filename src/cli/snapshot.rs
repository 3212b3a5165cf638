//! `nettune snapshot`: save a capture for offline analysis.

use super::{parse_duration, GlobalArgs};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `nettune snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Time between the two snapshots.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Write the capture to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Run `nettune snapshot`.
pub fn run(global: &GlobalArgs, args: &SnapshotArgs) -> anyhow::Result<u8> {
    let cap = super::common::capture(global, args.interval)?;
    match &args.output {
        Some(path) => {
            cap.save(path)?;
            if !global.quiet {
                eprintln!(
                    "wrote {} ({} snapshots, {:.1} s apart)",
                    path.display(),
                    cap.snapshots.len(),
                    args.interval.as_secs_f64()
                );
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &cap)?;
            writeln!(out)?;
        }
    }
    Ok(super::exit::OK)
}
