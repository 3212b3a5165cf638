//! `nettune check`: sample a window (or load a capture), diagnose, report, exit by severity.

use super::{exit, parse_duration, GlobalArgs};
use crate::diagnose::{self, Intent, Options, Severity};
use crate::report::{json, nagios, text};
use crate::snapshot::Capture;
use crate::tune::profiles;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `nettune check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Length of the sampling window.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Analyse a saved capture (`nettune snapshot -o FILE`) instead of the live host.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Analyse a support archive (a sosreport, a supportconfig or a copied root; a directory
    /// or a .tar[.gz|.xz|.bz2|.zst]): counters since boot, the window is the uptime.
    #[arg(long, value_name = "PATH", conflicts_with = "from")]
    pub archive: Option<PathBuf>,
    /// Tuning profile the findings are judged against (a shipped profile's name or a
    /// FILE.toml; its `intent` is what the rules use).
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// Link speed in Gbit/s, when ethtool cannot tell (virtual NICs).
    #[arg(long, value_name = "GBPS")]
    pub link_speed: Option<f64>,
    /// Round-trip time in ms to size TCP buffers for (default: measured from live sockets).
    #[arg(long, value_name = "MS")]
    pub rtt: Option<f64>,
    /// Read the kernel log from boot on (every record the kernel still holds), not only the
    /// lines written during the window.
    #[arg(long, conflicts_with_all = ["from", "archive"])]
    pub since_boot: bool,
    /// Output format (`--json` is `--format json`); `nagios`: one monitoring-plugin line,
    /// `NETTUNE STATUS - summary | 'label'=value;warn;crit;min ...`, same exit codes.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<CheckFormat>,
}

/// `check --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// The human report.
    Text,
    /// `nettune.check/v1`.
    Json,
    /// The monitoring-plugin line with perfdata.
    Nagios,
}

impl CheckArgs {
    /// The rule options these flags give: `--profile` is loaded (a shipped name or a
    /// FILE.toml) for its intent; an unknown name or a bad file is an error.
    pub fn options(&self) -> crate::Result<Options> {
        let intent = match &self.profile {
            Some(p) => profiles::load(p)?.intent,
            None => Intent::default(),
        };
        Ok(Options {
            link_speed_gbps: self.link_speed,
            rtt_ms: self.rtt,
            intent,
        })
    }
}

/// Load `--from` or sample the live host.
pub fn obtain_capture(
    global: &GlobalArgs,
    from: Option<&PathBuf>,
    interval: Duration,
) -> crate::Result<Capture> {
    match from {
        Some(path) => Capture::load(path),
        None => super::common::capture(global, interval),
    }
}

/// Exit code for a set of findings.
pub fn exit_code(findings: &[diagnose::Finding]) -> u8 {
    match diagnose::status(findings) {
        Some(Severity::Critical) => exit::CRITICAL,
        Some(Severity::Warning) => exit::WARNING,
        _ => exit::OK,
    }
}

/// Run `nettune check`.
pub fn run(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<u8> {
    let result = run_check(global, args);
    if let (Err(e), Some(CheckFormat::Nagios)) = (&result, args.format) {
        // A plugin's first stdout line is what the monitoring system shows; exit 3 is UNKNOWN.
        println!("NETTUNE UNKNOWN - {}", format!("{e:#}").replace('|', "/"));
    }
    result
}

fn run_check(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<u8> {
    if let Some(speed) = args.link_speed {
        anyhow::ensure!(
            speed > 0.0 && speed <= 1600.0,
            "--link-speed {speed}: give Gbit/s between 0 and 1600"
        );
    }
    if let Some(rtt) = args.rtt {
        anyhow::ensure!(
            rtt > 0.0 && rtt <= 10_000.0,
            "--rtt {rtt}: give milliseconds between 0 and 10000"
        );
    }
    // The profile first: a bad one fails before the sampling window.
    let options = args.options()?;
    let cap = match (&args.archive, args.since_boot) {
        (Some(path), _) => super::common::archive_capture(path)?,
        (None, true) => super::common::capture_since(global, args.interval, true)?,
        (None, false) => obtain_capture(global, args.from.as_ref(), args.interval)?,
    };
    let (mut findings, mut notes) = diagnose::diagnose_capture(&cap, &options);
    if cap.archive.is_some() {
        // Counters since boot: findings below the since-boot floor are lowered to info.
        if let Some(w) = crate::window::Window::newest(&cap) {
            notes.extend(crate::archive::since_boot::judge(
                &mut findings,
                w.seconds(),
            ));
        }
    }
    let report = json::check_report(&cap, &findings, &notes);
    let mut out = std::io::stdout().lock();
    if args.format == Some(CheckFormat::Nagios) {
        let window = crate::window::Window::newest(&cap);
        out.write_all(nagios::render(&report, window.as_ref()).as_bytes())?;
    } else if global.json || args.format == Some(CheckFormat::Json) {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let style = text::Style {
            color: global.use_color(std::io::stdout().is_terminal()),
        };
        out.write_all(text::render_check(&report, style).as_bytes())?;
    }
    out.flush()?;
    Ok(exit_code(&findings))
}
