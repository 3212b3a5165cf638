//! `nettune drops`: kernel drop reasons and locations over a window, via eBPF
//! (`skb:kfree_skb`, counted per CPU in kernel).

use super::{exit, parse_duration, GlobalArgs};
use crate::bpf::drops::{self, DropMonitor, DropReport};
use crate::bpf::BpfError;
use clap::Args;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `nettune drops`.
#[derive(Debug, Args)]
pub struct DropsArgs {
    /// How long to count (Ctrl-C ends the window early and still prints).
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Locations shown per reason in the table.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub top: usize,
}

/// Run `nettune drops`.
pub fn run(global: &GlobalArgs, args: &DropsArgs) -> anyhow::Result<u8> {
    let netns = global.netns.as_deref().map(crate::netns::resolve);
    let monitor = match DropMonitor::start(netns.as_deref()) {
        Ok(m) => m,
        Err(BpfError::Unsupported(why)) => {
            eprintln!("nettune drops: cannot run here: {why}");
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop));
    let started = Instant::now();
    if !global.json && !global.quiet {
        eprintln!(
            "counting kernel packet drops for {:.1}s (Ctrl-C to stop early)...",
            args.duration.as_secs_f64()
        );
    }
    while started.elapsed() < args.duration && !stop.load(Ordering::Relaxed) {
        let left = args.duration.saturating_sub(started.elapsed());
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (raw, lost) = monitor.read()?;
    let names = monitor.names.clone();
    drop(monitor);
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let report = drops::aggregate(&raw, lost, &names, &kallsyms, elapsed);
    let mut out = std::io::stdout().lock();
    if global.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render(&mut out, &report, args.top)?;
    }
    Ok(exit::OK)
}

/// The human table: reasons by count, each with its top locations and a one-line explanation.
pub fn render(out: &mut impl Write, r: &DropReport, top: usize) -> std::io::Result<()> {
    if r.reasons.is_empty() {
        writeln!(
            out,
            "no packets dropped in {:.1}s (SKB_CONSUMED frees are not drops)",
            r.duration_seconds
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{} packets dropped in {:.1}s",
        r.total, r.duration_seconds
    )?;
    writeln!(
        out,
        "{:>10} {:>10}  REASON / LOCATION",
        "PACKETS", "PER SEC"
    )?;
    for reason in &r.reasons {
        writeln!(
            out,
            "{:>10} {:>10.1}  {}",
            reason.count, reason.rate, reason.reason
        )?;
        if let Some(e) = reason.explanation {
            writeln!(out, "{:>22}  # {e}", "")?;
        }
        for l in reason.locations.iter().take(top) {
            writeln!(out, "{:>10} {:>10}    {}", l.count, "", l.symbol)?;
        }
    }
    if r.lost > 0 {
        writeln!(
            out,
            "warning: {} drop events not counted (in-kernel map full)",
            r.lost
        )?;
    }
    Ok(())
}
