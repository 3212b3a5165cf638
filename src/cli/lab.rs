//! `nettune lab`: list the scenarios, or run them end to end in throwaway namespaces.

use super::{exit, parse_duration, GlobalArgs};
use crate::lab::{self, Outcome, RunOptions};
use crate::tune::profiles;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `nettune lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

/// `nettune lab` actions.
#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// List the scenarios (name and one-line description).
    List,
    /// Run scenarios: fault, traffic, check, apply the plan, re-measure, clean up.
    Run(RunArgs),
}

/// Arguments of `nettune lab run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names (see `nettune lab list`).
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub names: Vec<String>,
    /// Run every scenario.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Write a self-contained HTML report with charts here.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Length of each measuring window (before and after tuning).
    #[arg(long, value_name = "DUR", default_value = "2500ms", value_parser = parse_duration)]
    pub window: Duration,
}

/// Open descriptors of this process (for the fd-leak check of the tests).
#[cfg(feature = "fault-injection")]
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Run `nettune lab`.
pub fn run(global: &GlobalArgs, args: &LabArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match &args.action {
        LabAction::List => {
            for s in lab::scenarios::all() {
                writeln!(out, "{:<18} {}", s.name, s.description)?;
            }
            Ok(exit::OK)
        }
        LabAction::Run(r) => {
            let scenarios: Vec<&lab::Scenario> = if r.all {
                lab::scenarios::all().iter().collect()
            } else {
                r.names
                    .iter()
                    .map(|n| {
                        lab::find(n).ok_or_else(|| {
                            anyhow::anyhow!("unknown scenario {n:?}; see `nettune lab list`")
                        })
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            super::tune::require_root("nettune lab run")?;
            let _lock = crate::tune::lock::StateLock::acquire(
                &super::state_dir(),
                &super::tune::command_line(),
            )?;
            lab::install_signal_handlers()?;
            #[cfg(feature = "fault-injection")]
            let fds_before = fds();
            // The lab plans like `nettune tune` with the balanced profile.
            let opts = RunOptions {
                window: r.window,
                tx: super::tx_options(),
                #[cfg(feature = "fault-injection")]
                faults: super::faults::lab(),
                ..RunOptions::new(super::state_dir(), profiles::load("balanced")?)
            };
            let mut outcomes: Vec<Outcome> = Vec::new();
            for s in scenarios {
                if lab::interrupted() {
                    break;
                }
                if !global.quiet && !global.json {
                    eprintln!("nettune lab: running {} ...", s.name);
                }
                let o = lab::run(s, &opts);
                if !global.json {
                    out.write_all(render_text(&o).as_bytes())?;
                    out.flush()?;
                }
                outcomes.push(o);
            }
            #[cfg(feature = "fault-injection")]
            if super::faults::fd_check() {
                eprintln!("nettune lab: open fds before {fds_before} after {}", fds());
            }
            if global.json {
                if outcomes.len() == 1 {
                    serde_json::to_writer_pretty(&mut out, &outcomes[0])?;
                } else {
                    serde_json::to_writer_pretty(&mut out, &outcomes)?;
                }
                writeln!(out)?;
            }
            if let Some(path) = &r.report {
                crate::durable::write_atomic(
                    path,
                    lab::report::render(&outcomes).as_bytes(),
                    0o644,
                )?;
            }
            if lab::interrupted() {
                anyhow::bail!("interrupted; everything the lab created was removed");
            }
            let all_passed = !outcomes.is_empty() && outcomes.iter().all(|o| o.passed);
            Ok(if all_passed { exit::OK } else { exit::CRITICAL })
        }
    }
}

/// The before/after table of one outcome.
pub fn render_text(o: &Outcome) -> String {
    let mut s = String::new();
    let verdict = if o.passed { "PASSED" } else { "FAILED" };
    s.push_str(&format!(
        "{}: {verdict} ({:.1} s, {} tuning round{})\n",
        o.scenario,
        o.seconds,
        o.rounds,
        if o.rounds == 1 { "" } else { "s" }
    ));
    s.push_str(&format!(
        "  expected finding  {} ({})\n",
        o.expected_finding,
        if o.found { "reported" } else { "NOT reported" }
    ));
    s.push_str(&format!(
        "  {:<36} {:>10} {:>10} {:>10}\n",
        "symptom", "before", "after", "threshold"
    ));
    s.push_str(&format!(
        "  {:<36} {:>10.1} {:>10.1} {:>10.1}  {}\n",
        o.symptom, o.before, o.after, o.threshold, o.unit
    ));
    if !o.changes.is_empty() {
        s.push_str("  changes:\n");
        for c in &o.changes {
            if c.kind == crate::change::ChangeKind::Advice {
                s.push_str(&format!(
                    "    [{}] advice ({}): {}\n",
                    c.round, c.target, c.proposed
                ));
                continue;
            }
            s.push_str(&format!(
                "    [{}] {} {} {} -> {}{}\n",
                c.round,
                c.kind,
                c.target,
                c.current.as_deref().unwrap_or("?"),
                c.proposed,
                if c.applied { "" } else { "  (not applied)" }
            ));
        }
    }
    if let Some(e) = &o.error {
        s.push_str(&format!("  error: {e}\n"));
    }
    for n in &o.notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    s
}
