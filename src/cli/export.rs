//! `nettune export`: serve Prometheus metrics over HTTP, or write node_exporter textfile
//! output once.

use super::{parse_duration, GlobalArgs};
use crate::export::{self, encode::Format, http, Exporter};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `nettune export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Address to serve /metrics on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9469")]
    pub listen: String,
    /// Write node_exporter textfile output to PATH (atomically) once and exit, instead of
    /// serving HTTP. The findings cover a window of --interval.
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<PathBuf>,
    /// Longest a collection is reused across scrapes (HTTP: counters are never older than
    /// this; while scrapes arrive a background thread collects every 3/4 of it, so scrapes
    /// do not wait for collection; 0ms collects on every scrape), or the window of the
    /// findings (--textfile).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// HTTP worker threads (concurrent connections served).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    /// Most network namespaces (besides the host's) exposed with their own `netns` label:
    /// those with the most traffic and drops over the window; the rest are summed into
    /// `netns="other"`.
    #[arg(long, value_name = "N", default_value_t = export::netns::DEFAULT_MAX_NETNS)]
    pub max_netns: usize,
}

/// Build the live exporter for the global flags.
pub fn live_exporter(
    global: &GlobalArgs,
    max_age: Duration,
    max_netns: usize,
) -> anyhow::Result<Exporter> {
    let fast = super::common::collector(global, export::fast_options())?;
    let slow = super::common::collector(global, export::slow_options())?
        .with_namespace_threads_kept(false);
    // With --netns the primary sources are that namespace's.
    let primary = global.netns.as_deref().unwrap_or(export::netns::HOST_LABEL);
    Ok(Exporter::live(fast, slow, max_age).with_netns(max_netns, primary))
}

/// Run `nettune export`.
pub fn run(global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.textfile {
        let exporter = live_exporter(global, Duration::ZERO, args.max_netns)?;
        exporter.prime();
        std::thread::sleep(args.interval);
        let scrape = exporter.scrape();
        export::write_textfile(path, &scrape.body(Format::Text))?;
        return Ok(super::exit::OK);
    }
    // One malloc arena instead of one per worker thread: the exporter is long-lived and
    // small, and per-thread arenas would hold several MiB of RSS for nothing.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only adjusts allocator tuning; called before any worker thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let exporter = Arc::new(live_exporter(global, args.interval, args.max_netns)?);
    exporter.prime();
    exporter
        .spawn_refresher()
        .map_err(|e| anyhow::anyhow!("cannot start the collection thread: {e}"))?;
    if !global.quiet {
        eprintln!(
            "nettune export: serving http://{}/metrics",
            listener.local_addr()?
        );
    }
    http::serve(
        listener,
        exporter,
        http::ServerConfig {
            workers: args.workers.into(),
            ..http::ServerConfig::default()
        },
    );
    Ok(super::exit::OK)
}
