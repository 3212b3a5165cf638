//! Command-line interface: argument structs and dispatch, one module per subcommand.
//! Everything here is thin; the work happens in the library layers.

pub mod autotune;
pub mod check;
pub mod common;
pub mod drops;
pub mod export;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub mod generate;
pub mod lab;
pub mod rollback;
pub mod snapshot;
pub mod tune;
pub mod watch;
pub mod xdp;

use crate::tune::TxOptions;
use crate::Root;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

/// Exit codes (the monitoring-plugins convention).
pub mod exit {
    /// Nothing at warning or above.
    pub const OK: u8 = 0;
    /// Warnings.
    pub const WARNING: u8 = 1;
    /// Critical findings.
    pub const CRITICAL: u8 = 2;
    /// nettune itself failed: bad input, missing permission, unsupported kernel.
    pub const FAILURE: u8 = 3;
}

/// nettune: why does this Linux host drop or delay packets, and what fixes it.
#[derive(Debug, Parser)]
#[command(name = "nettune", version = crate::build_info::LONG_VERSION, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Read procfs from here.
    #[arg(long, global = true, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// Read sysfs from here.
    #[arg(long, global = true, value_name = "DIR", default_value = "/sys")]
    pub sys_root: PathBuf,
    /// Read per-namespace counters and sysctls inside this network namespace
    /// (a name under /run/netns or a path such as /proc/PID/ns/net).
    #[arg(
        long,
        global = true,
        value_name = "NAME|PATH",
        conflicts_with = "host_only"
    )]
    pub netns: Option<String>,
    /// Read only the host's network namespace. By default, as root on the live host, every
    /// other namespace (containers, pods, `ip netns`) is read as well.
    #[arg(long, global = true)]
    pub host_only: bool,
    /// Machine-readable JSON on stdout; logs go to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More logging (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less logging.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl GlobalArgs {
    /// The root the readers use.
    pub fn root(&self) -> Root {
        Root::new(&self.proc_root, &self.sys_root)
    }

    /// Whether to colour output written to a stream that `is_terminal` describes: `--color`
    /// wins, else a terminal without `NO_COLOR` (<https://no-color.org>). Every colour nettune
    /// emits asks this: the check report, the `watch` screen, the log lines on stderr.
    pub fn use_color(&self, is_terminal: bool) -> bool {
        color_for(
            self.color,
            is_terminal,
            std::env::var_os("NO_COLOR").as_deref(),
        )
    }
}

/// [`GlobalArgs::use_color`] for a `NO_COLOR` value: set to anything but the empty string
/// turns colour off unless `--color always`.
pub fn color_for(choice: ColorChoice, is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sample a window, name the cause of packet loss or delay, and the fix (the main job).
    Check(check::CheckArgs),
    /// Save a capture (host facts + two snapshots) to JSON for offline analysis.
    Snapshot(snapshot::SnapshotArgs),
    /// Print the plan that fixes the findings; `--apply` applies it as one transaction.
    Tune(tune::TuneArgs),
    /// Undo an applied transaction exactly (`--list` shows them).
    Rollback(rollback::RollbackArgs),
    /// Reproduce a fault in throwaway namespaces and run the whole loop on it.
    Lab(lab::LabArgs),
    /// Live view of rates per CPU / device / protocol and the active findings.
    Watch(watch::WatchArgs),
    /// Prometheus exporter (HTTP /metrics) or node_exporter textfile output.
    Export(export::ExportArgs),
    /// Kernel drop reasons and locations via eBPF (`skb:kfree_skb`).
    Drops(drops::DropsArgs),
    /// XDP early-drop filter: attach IFACE [--deny CIDR].. [--syn-rate N] | detach | stats.
    Xdp(xdp::XdpArgs),
    /// Closed-loop daemon: fix what it measures, bounded and verified (`status`, `unpin KEY`).
    Autotune(autotune::AutotuneArgs),
    /// Write the manual pages or shell completions into a directory (packaging).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

/// Run the parsed command line; returns the exit code.
pub fn run(cli: &Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Check(args) => check::run(&cli.global, args),
        Command::Snapshot(args) => snapshot::run(&cli.global, args),
        Command::Tune(args) => tune::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::Lab(args) => lab::run(&cli.global, args),
        Command::Watch(args) => watch::run(&cli.global, args),
        Command::Export(args) => export::run(&cli.global, args),
        Command::Drops(args) => drops::run(&cli.global, args),
        Command::Xdp(args) => xdp::run(&cli.global, args),
        Command::Autotune(args) => autotune::run(&cli.global, args),
        Command::Generate(args) => generate::run(args),
    }
}

/// The state directory (journals, lab state): `NETTUNE_STATE_DIR`, else
/// [`crate::tune::journal::DEFAULT_STATE_DIR`]. Read here, once per command; the library takes
/// the directory as an argument.
pub fn state_dir() -> PathBuf {
    std::env::var_os("NETTUNE_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::tune::journal::DEFAULT_STATE_DIR))
}

/// Options of the transactions a command applies. With the `fault-injection` feature (tests
/// only) they carry the faults the environment asks for (`cli/faults.rs`); release builds have
/// none.
pub fn tx_options() -> TxOptions {
    TxOptions {
        #[cfg(feature = "fault-injection")]
        faults: faults::transaction(),
    }
}

/// Parse a duration such as `500ms`, `5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 500ms, 5s, 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: unit must be ms, s, m or h"
            ))
        }
    };
    if !seconds.is_finite() || !(0.0..=7.0 * 86400.0).contains(&seconds) {
        return Err(format!("invalid duration {text:?}: out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e9h").is_err());
    }

    /// `--color` wins over `NO_COLOR`; `auto` colours a terminal unless `NO_COLOR` is set to
    /// something non-empty.
    #[test]
    fn color_choice() {
        use ColorChoice::*;
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(color_for(Auto, true, None));
        assert!(color_for(Auto, true, empty));
        assert!(!color_for(Auto, true, set));
        assert!(!color_for(Auto, false, None));
        assert!(color_for(Always, false, set));
        assert!(!color_for(Never, true, None));
    }

    /// `--version` names the version, the revision and eBPF support.
    #[test]
    fn version_line() {
        let v = crate::build_info::LONG_VERSION;
        assert!(v.starts_with(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(
            v.contains(&format!("(revision {}, eBPF ", crate::build_info::REVISION)),
            "{v}"
        );
        assert!(v.ends_with("eBPF built in)"), "{v}");
    }
}
