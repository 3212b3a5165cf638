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
    /// Turn a support archive (sosreport, supportconfig, copied root; directory or tarball)
    /// into a capture instead of sampling the live host.
    #[arg(long, value_name = "PATH")]
    pub archive: Option<PathBuf>,
}

/// Run `nettune snapshot`.
pub fn run(global: &GlobalArgs, args: &SnapshotArgs) -> anyhow::Result<u8> {
    let cap = match &args.archive {
        Some(path) => super::common::archive_capture(path)?,
        None => super::common::capture(global, args.interval)?,
    };
    match &args.output {
        Some(path) => {
            cap.save(path)?;
            if !global.quiet {
                let apart = match (&args.archive, crate::window::Window::newest(&cap)) {
                    (Some(_), Some(w)) => w.seconds(),
                    (Some(_), None) => 0.0,
                    (None, _) => args.interval.as_secs_f64(),
                };
                eprintln!(
                    "wrote {} ({} snapshots, {:.1} s apart)",
                    path.display(),
                    cap.snapshots.len(),
                    apart
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
