//! What reading every network namespace costs: a snapshot of the host alone against one of
//! the host and N namespaces (N = 1, 50, 200, made with `ip netns add`), per namespace, for
//! the full snapshot `check` takes and the exporter's per-scrape one; the first snapshot
//! (discovery + one thread entering each namespace); entering a namespace alone (what a pool
//! that `setns()`es per job would pay on every read); and `nettune check --interval 1s`
//! beyond its window. Needs root and `ip`. Run with `cargo bench --bench namespaces`
//! (`--profile dev` for a debug build); `BENCH_ITERS` sets the runs per median (default 20),
//! `BENCH_NS` the namespace counts (default `1,50,200`; `check` is timed at 200).

use nettune::collector::{CaptureOptions, Collector, Scope};
use nettune::netns::NetnsThread;
use nettune::Root;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "timing.rs"]
mod timing;
use timing::{median, time};

fn ip_batch(lines: &[String]) {
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ip -batch");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(lines.join("\n").as_bytes());
    }
    let _ = child.wait();
}

/// Namespaces `prefix-0..n` with `lo` up, deleted on drop.
struct Many(Vec<String>);

impl Many {
    fn new(prefix: &str, n: usize) -> Many {
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
        let add: Vec<String> = names.iter().map(|n| format!("netns add {n}")).collect();
        ip_batch(&add);
        let up: Vec<String> = names
            .iter()
            .map(|n| format!("-n {n} link set lo up"))
            .collect();
        ip_batch(&up);
        Many(names)
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        let del: Vec<String> = self.0.iter().map(|n| format!("netns del {n}")).collect();
        ip_batch(&del);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fast() -> CaptureOptions {
    CaptureOptions {
        config: false,
        ethtool: true,
        sockets: false,
        socket_processes: false,
    }
}

fn all(prefix: &str, options: CaptureOptions) -> Collector {
    let mine = prefix.to_string();
    Collector::with_scope(Root::default(), options, Scope::All)
        .expect("collector")
        .with_namespace_filter(Box::new(move |n| n.name.starts_with(&mine)))
}

/// Median wall time of `nettune check --interval 1s --json` beyond its window.
fn check_beyond_window(extra: &[&str], runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let o = Command::new(env!("CARGO_BIN_EXE_nettune"))
                    .args(["check", "--interval", "1s", "--json"])
                    .args(extra)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("run nettune");
                assert!(o.code().is_some_and(|c| c < 3), "check failed");
                t.elapsed().saturating_sub(Duration::from_secs(1))
            })
            .collect(),
    )
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("namespaces bench: needs root (ip netns add); skipped");
        return;
    }
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!("iterations per median: {iters}");
    let mut host = Collector::new(Root::default(), CaptureOptions::default());
    let host_full = time(iters, || {
        host.snapshot();
    });
    let mut host_fast_c = Collector::new(Root::default(), fast());
    let host_fast = time(iters, || {
        host_fast_c.snapshot();
    });
    println!(
        "host only: full snapshot {:.3} ms, per-scrape snapshot {:.3} ms",
        ms(host_full),
        ms(host_fast)
    );
    let sizes: Vec<usize> = std::env::var("BENCH_NS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 50, 200]);
    for n in sizes {
        let prefix = format!("nettune-b-coll-{}-{n}", std::process::id());
        let many = Many::new(&prefix, n);
        // Entering each namespace (thread, setns, a detached sysfs mount).
        let t = Instant::now();
        let threads: Vec<NetnsThread> = many
            .0
            .iter()
            .filter_map(|name| {
                NetnsThread::spawn(&Path::new("/run/netns").join(name), &Root::default()).ok()
            })
            .collect();
        let enter = t.elapsed() / n as u32;
        drop(threads);

        let fds0 = count("/proc/self/fd");
        let mut c = all(&prefix, CaptureOptions::default());
        let t = Instant::now();
        let first = c.snapshot();
        let first_time = t.elapsed();
        assert_eq!(first.namespaces.len(), n, "every namespace read");
        let full = time(iters, || {
            c.snapshot();
        });
        let fds_full = count("/proc/self/fd").saturating_sub(fds0);
        let mut f = all(&prefix, fast());
        f.snapshot();
        let scrape = time(iters, || {
            f.snapshot();
        });
        // What the namespace threads spent reading, summed (they run in parallel).
        let snap = c.snapshot();
        let busy: f64 = snap
            .namespaces
            .iter()
            .map(|ns| ns.snapshot.collect_seconds.values().sum::<f64>())
            .sum::<f64>()
            / n as f64;
        let per = |all: Duration, host: Duration| ms(all.saturating_sub(host)) / n as f64;
        println!(
            "{n:>3} namespaces: first snapshot {:.1} ms (discovery + entering), entering one {:.3} ms; \
             full snapshot {:.3} ms = {:.3} ms per namespace beyond the host's (threads' own reading {:.3} ms each); \
             per-scrape snapshot {:.3} ms = {:.3} ms per namespace",
            ms(first_time),
            ms(enter),
            ms(full),
            per(full, host_full),
            busy * 1000.0,
            ms(scrape),
            per(scrape, host_fast),
        );
        println!(
            "{n:>3} namespaces: fds kept per namespace by the full collector {:.1}",
            fds_full as f64 / n as f64
        );
        if n == 200 {
            let runs = 3;
            let with = check_beyond_window(&[], runs);
            let without = check_beyond_window(&["--host-only"], runs);
            println!(
                "check --interval 1s beyond the window (median of {runs}): host only {:.1} ms, \
                 every namespace ({} on the host) {:.1} ms = {:.3} ms per namespace",
                ms(without),
                n,
                ms(with),
                per(with, without)
            );
        }
        drop(c);
        drop(f);
        drop(many);
    }
}
