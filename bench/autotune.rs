//! `nettune autotune` benchmarks (root, 2+ CPUs; the lab's namespaces and generators):
//!
//! 1. idle cost: the daemon on this host, reading the host only (`--netns-prefix` naming no
//!    namespace: other sessions' test namespaces are not "this host's" load), for
//!    `BENCH_IDLE_SECS` (default 60): CPU (utime + stime from /proc/PID/stat) as a share of one
//!    core (and the eBPF drop watch thread's own share), peak RSS (VmHWM), decisions to write
//!    (must be 0; `--dry-run`, so another session's fault on a shared host is not written
//!    under its test); with and without the eBPF drop watch.
//! 2. reaction time: backlog 32, a veth's receive steered by RPS to CPU 1, the lab's UDP
//!    flood from CPU 0; time from the burst's start (the first backlog drop in
//!    /proc/net/softnet_stat, read every 1 ms) to the daemon's `write` line (and, for
//!    reference, from the flood's start, which adds the generator's start-up),
//!    polling at 1 s (`--no-ebpf`) and with the eBPF wake-up, `BENCH_RUNS` (default 3) each.
//! 3. writes and time to drop-free on the same fault: nettune autotune vs a model of
//!    bpftune's rule run live on the same flood (every 1 s window in which the backlog
//!    dropped, `netdev_max_backlog` × 1.25 — one event per window, the most generous rate
//!    limit; bpftune grows by a quarter per event). Drop-free = the first second after
//!    which no backlog drop happens until the end of the `BENCH_FLOOD_SECS` (default 25 s)
//!    flood.
//!
//! 4. with `BENCH_ALTERNATING=N` (instead of 2 and 3): bulk (the flood plus a TCP stream)
//!    and request/response (short TCP connections), `BENCH_PHASE_SECS` (default 60) each,
//!    N times, every rule tuned: changes and direction reversals per key.
//!
//! `BENCH_FLOOD_SECS=0` runs the idle part only, `BENCH_IDLE_SECS=0` skips it;
//! `BENCH_REACTION=ebpf|polling` measures one way only; `BENCH_VERBOSE=1` prints the daemon's
//! lines around each reaction run (with `NETTUNE_LOG=nettune=debug`: the loop's timings).
//!
//! `cargo build --benches` (or `cargo build --release --bench autotune`: a release build's
//! numbers are lower, see bench/RESULTS.md), then run `target/{debug,release}/deps/autotune-*`
//! as root. Host sysctls are restored by the lab environment's guard, even on a panic.

use nettune::lab::env::{self, Env};
use nettune::lab::scenarios;
use nettune::lab::traffic::{self, Traffic, UdpFlood};
use std::io::{BufRead, BufReader};
use std::net::SocketAddrV4;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BACKLOG: &str = "net.core.netdev_max_backlog";

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Daemon {
    fn start(state: &Path, args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nettune"))
            .args(["autotune", "--interval", "1s"])
            .args(args)
            .env("NETTUNE_STATE_DIR", state)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nettune autotune");
        let err = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), l));
            }
        });
        let d = Daemon { child, lines };
        let start = Instant::now();
        while d.first("started").is_none() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn first(&self, what: &str) -> Option<(Instant, String)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(what))
            .cloned()
    }

    fn count(&self, what: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| l.contains(what))
            .count()
    }

    /// (utime + stime) in seconds, VmHWM and VmRSS in KiB.
    fn usage(&self) -> (f64, u64, u64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command.
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        let cpu = (ticks(11) + ticks(12)) / hz;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (cpu, kib("VmHWM:"), kib("VmRSS:"))
    }

    /// utime + stime (seconds) of the threads whose name starts with `name` (`comm` is cut
    /// at 15 bytes: `nettune-autotun` is the drop watch, `nettune-autotune-drops`).
    fn thread_cpu(&self, name: &str) -> f64 {
        let pid = self.child.id();
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return 0.0;
        };
        let mut total = 0.0;
        for t in tasks.flatten() {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let Some((head, after)) = stat.rsplit_once(')') else {
                continue;
            };
            if !head
                .split_once('(')
                .is_some_and(|(_, c)| c.starts_with(name))
            {
                continue;
            }
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            total += (ticks(11) + ticks(12)) / hz;
        }
        total
    }

    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn softnet_dropped() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .sum()
}

fn idle(ebpf: bool, secs: u64) {
    let state = tempfile::tempdir().unwrap();
    // `--dry-run`: on a shared host another session's test can be a real symptom (its backlog
    // lowered on purpose); a dry run decides the same but cannot write under that test.
    let mut args = vec!["--netns-prefix", "nettune-bench-none", "--dry-run"];
    if !ebpf {
        args.push("--no-ebpf");
    }
    let d = Daemon::start(state.path(), &args);
    // Skip the start (first snapshots, BTF parsing) and measure the steady state.
    std::thread::sleep(Duration::from_secs(3));
    let (c0, _, _) = d.usage();
    let w0 = d.thread_cpu("nettune-autotun");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, hwm, rss) = d.usage();
    let w1 = d.thread_cpu("nettune-autotun");
    let wall = t0.elapsed().as_secs_f64();
    let writes = d.count("would write ");
    // On a shared machine other sessions' traffic can be a real symptom: say what it was.
    for (_, l) in d.lines.lock().unwrap().iter() {
        if l.contains("would write ") {
            println!("  {l}");
        }
    }
    d.stop();
    println!(
        "idle {:<8} {secs:>3} s: CPU {:.3} % of one core (drop watch thread {:.3} %), RSS {:.1} MiB (peak {:.1} MiB), writes (dry run) {writes}",
        if ebpf { "eBPF" } else { "polling" },
        (c1 - c0) / wall * 100.0,
        (w1 - w0) / wall * 100.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

/// The backlog fault: a pair with `vb`'s receive steered to CPU 1, the backlog at 32.
fn fault(env: &mut Env, subnet: u8) -> scenarios::Pair {
    let p = scenarios::pair(env, "atbench", subnet).expect("pair");
    // Through a namespace thread with its own sysfs, as the lab does.
    let t = nettune::netns::NetnsThread::spawn(&p.b, &nettune::Root::default()).expect("enter");
    t.run(|root| {
        let path = root.sys.join("class/net/vb/queues/rx-0/rps_cpus");
        std::fs::write(&path, "2").expect("rps_cpus");
    })
    .expect("rps");
    env.host_sysctl(BACKLOG, "32").expect("backlog 32");
    p
}

fn flood(p: &scenarios::Pair, secs: u64) -> Traffic {
    let mut t = Traffic::new();
    let f = UdpFlood {
        from: SocketAddrV4::new(p.a_addr, 0),
        to: SocketAddrV4::new(p.b_addr, 9),
        payload: 64,
        burst: 512,
        rate: None,
        pause: Duration::from_millis(10),
        max_packets: 100_000_000,
        max_time: Duration::from_secs(secs),
        cpu: Some(0),
    };
    for _ in 0..2 {
        t.spawn_in(&p.a, move |stop| traffic::udp_flood(f, stop))
            .expect("flood");
    }
    t
}

/// Per-second backlog drops for `secs` from now.
fn drops(secs: u64, mut each: impl FnMut(u64)) -> Vec<u64> {
    let mut out = Vec::new();
    let mut last = softnet_dropped();
    for _ in 0..secs {
        std::thread::sleep(Duration::from_secs(1));
        let now = softnet_dropped();
        out.push(now - last);
        each(now - last);
        last = now;
    }
    out
}

/// Seconds until the first second after which no drop happens (`None`: never).
fn drop_free_at(d: &[u64]) -> Option<usize> {
    let last_drop = d.iter().rposition(|&x| x > 0);
    match last_drop {
        None => Some(0),
        Some(i) if i + 1 < d.len() => Some(i + 1),
        _ => None,
    }
}

fn reaction(p: &scenarios::Pair, ebpf: bool, run: u64) -> Option<Reaction> {
    let state = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--netns-prefix",
        "nettune-lab-",
        "--only",
        "softnet",
        "--rollback-on-exit",
    ];
    if !ebpf {
        args.push("--no-ebpf");
    }
    let d = Daemon::start(state.path(), &args);
    // Start the flood at a different point of the daemon's 1 s interval each run.
    std::thread::sleep(Duration::from_millis(1500 + (run * 337) % 1000));
    // The burst's start: the first backlog drop, seen by reading softnet_stat every 1 ms
    // (bounded: 8 s). The flood's own start-up (entering the namespace, the first sends)
    // comes before it and is not the daemon's reaction.
    let base = softnet_dropped();
    let first_drop = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(8) {
            if softnet_dropped() > base {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    });
    let t0 = Instant::now();
    let t = flood(p, 10);
    let start = Instant::now();
    let mut write = None;
    while start.elapsed() < Duration::from_secs(8) {
        if let Some((at, _)) = d.first("autotune: write ") {
            write = Some(at);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first_drop = first_drop.join().ok().flatten();
    t.finish();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        // The daemon's lines around the flood (run it with NETTUNE_LOG=debug for timings).
        for (at, l) in d.lines.lock().unwrap().iter() {
            let ms = if *at >= t0 {
                at.duration_since(t0).as_secs_f64() * 1e3
            } else {
                -(t0.duration_since(*at).as_secs_f64() * 1e3)
            };
            if ms > -1500.0 && ms < 3000.0 {
                println!("  {ms:>8.1} ms  {l}");
            }
        }
    }
    d.stop();
    // The daemon rolled its write back on exit; the backlog is 32 again.
    std::thread::sleep(Duration::from_secs(1));
    let w = write?;
    Some(Reaction {
        from_first_drop: first_drop.map(|f| w.saturating_duration_since(f).as_secs_f64()),
        from_flood: w.duration_since(t0).as_secs_f64(),
    })
}

/// One reaction run, in seconds.
struct Reaction {
    /// From the first backlog drop (the burst's start) to the `write` line.
    from_first_drop: Option<f64>,
    /// From the flood's start (before its namespace thread is entered) to the `write` line.
    from_flood: f64,
}

fn versus(p: &scenarios::Pair, secs: u64) {
    // nettune autotune.
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        state.path(),
        &[
            "--netns-prefix",
            "nettune-lab-",
            "--only",
            "softnet",
            "--rollback-on-exit",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let t = flood(p, secs);
    let dn = drops(secs, |_| {});
    t.finish();
    let writes = d.count("autotune: write ");
    let value = env::read_sysctl(BACKLOG).unwrap_or_default();
    d.stop();
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "nettune autotune : writes {writes:>2}, final backlog {value:>6}, drop-free after {:>4} s, drops {:?}",
        drop_free_at(&dn).map_or("never".into(), |s| s.to_string()),
        dn
    );

    // The bpftune rule: x1.25 per window with backlog drops.
    nettune::tune::apply::write_sysctl(&nettune::Root::default(), BACKLOG, "32").expect("reset");
    let t = flood(p, secs);
    let mut value: u64 = 32;
    let mut writes = 0;
    let db = drops(secs, |d| {
        if d > 0 {
            value += value / 4;
            writes += 1;
            let _ = nettune::tune::apply::write_sysctl(
                &nettune::Root::default(),
                BACKLOG,
                &value.to_string(),
            );
        }
    });
    t.finish();
    println!(
        "bpftune x1.25    : writes {writes:>2}, final backlog {value:>6}, drop-free after {:>4} s, drops {:?}",
        drop_free_at(&db).map_or("never".into(), |s| s.to_string()),
        db
    );
    nettune::tune::apply::write_sysctl(&nettune::Root::default(), BACKLOG, "32").expect("reset");
}

/// Bulk, then request/response, `cycles` times (`phase` each), with the daemon tuning every
/// rule (no `--only`). Bulk: the backlog fault's UDP flood plus a TCP stream; request/response:
/// short TCP connections (connect, handshake, close) at up to 2,000 a second. Counts each
/// key's writes by direction and its direction reversals (an upward change followed by a
/// downward one or back), and the rollbacks.
fn alternating(p: &scenarios::Pair, cycles: u64, phase: Duration) {
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        state.path(),
        &["--netns-prefix", "nettune-lab-", "--rollback-on-exit"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let server = SocketAddrV4::new(p.b_addr, 5201);
    let total = phase * 2 * cycles as u32 + Duration::from_secs(30);
    let mut servers = Traffic::new();
    servers
        .spawn_in(
            &p.b,
            move |stop| match nettune::lab::traffic::TcpServer::bind(server, 1024, None) {
                Ok(s) => s.run(u64::MAX, total, stop),
                Err(e) => {
                    eprintln!("cannot listen on {server}: {e}");
                    nettune::lab::traffic::Stats {
                        failed: 1,
                        ..Default::default()
                    }
                }
            },
        )
        .expect("server");
    let t0 = Instant::now();
    for cycle in 0..cycles {
        let mut bulk = flood(p, phase.as_secs());
        bulk.spawn_in(&p.a, move |stop| {
            traffic::tcp_bulk(server, u64::MAX, phase, stop)
        })
        .expect("bulk");
        std::thread::sleep(phase);
        let b = bulk.finish();
        let mut rr = Traffic::new();
        let from = SocketAddrV4::new(p.a_addr, 0);
        rr.spawn_in(&p.a, move |stop| {
            traffic::connect_storm(
                traffic::ConnectStorm {
                    to: server,
                    from,
                    max_connects: 2_000 * phase.as_secs(),
                    max_time: phase,
                    pause: Duration::from_micros(500),
                    complete: Some(Duration::from_secs(1)),
                    keep_open: 1,
                    failures: None,
                },
                stop,
            )
        })
        .expect("request/response");
        std::thread::sleep(phase);
        let r = rr.finish();
        println!(
            "cycle {:>2} at {:>5.0} s: bulk {} ok / {} failed, request/response {} ok / {} failed, writes so far {}",
            cycle + 1,
            t0.elapsed().as_secs_f64(),
            b.ok,
            b.failed,
            r.ok,
            r.failed,
            d.count("autotune: write ")
        );
    }
    let srv = servers.finish();
    println!(
        "server: {} connection(s) accepted{}",
        srv.ok,
        if srv.failed > 0 {
            ", could not listen"
        } else {
            ""
        }
    );
    let lines: Vec<String> = d
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    d.stop();
    // Per key: the directions of its changes in order (writes up unless decay, rollbacks
    // reverse the write they undo).
    let mut per: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for l in &lines {
        let Some(rest) = l.strip_prefix("autotune: ") else {
            continue;
        };
        let (dir, rest) = if let Some(r) = rest.strip_prefix("write ") {
            (if l.contains("decay") { "down" } else { "up" }, r)
        } else if let Some(r) = rest.strip_prefix("rollback ") {
            ("rollback", r)
        } else {
            continue;
        };
        let key: String = rest.split(')').next().unwrap_or("").to_string() + ")";
        per.entry(key).or_default().push(dir);
    }
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    println!(
        "{cycles} x ({} s bulk + {} s request/response), {minutes:.1} min:",
        phase.as_secs(),
        phase.as_secs()
    );
    if per.is_empty() {
        println!("  no changes");
    }
    for (key, dirs) in &per {
        let reversals = dirs
            .windows(2)
            .filter(|w| (w[0] == "up") != (w[1] == "up"))
            .count();
        println!(
            "  {key}: {} change(s) {:?}, {reversals} reversal(s) = {:.2} per 10 min",
            dirs.len(),
            dirs,
            reversals as f64 / minutes * 10.0
        );
    }
    for l in lines
        .iter()
        .filter(|l| l.contains("autotune: write ") || l.contains("autotune: rollback "))
    {
        println!("  {l}");
    }
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: the autotune benchmarks need root");
        return;
    }
    let idle_secs = env_num("BENCH_IDLE_SECS", 60);
    let runs = env_num("BENCH_RUNS", 3);
    let flood_secs = env_num("BENCH_FLOOD_SECS", 25);
    if idle_secs > 0 {
        println!("== idle ==");
        idle(false, idle_secs);
        idle(true, idle_secs);
    }
    if flood_secs == 0 {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        println!("skipped: the flood benchmarks need 2 CPUs");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let mut env = Env::new(state.path()).expect("lab environment");
    let p = fault(&mut env, 121);
    let cycles = env_num("BENCH_ALTERNATING", 0);
    if cycles > 0 {
        let phase = Duration::from_secs(env_num("BENCH_PHASE_SECS", 60));
        println!("== alternating load (backlog 32 at the start) ==");
        alternating(&p, cycles, phase);
        drop(env);
        return;
    }
    println!("== reaction time (flood start -> write) ==");
    let modes = match std::env::var("BENCH_REACTION").as_deref() {
        Ok("ebpf") => vec![true],
        Ok("polling") => vec![false],
        _ => vec![false, true],
    };
    for ebpf in modes {
        let runs: Vec<Option<Reaction>> = (0..runs).map(|run| reaction(&p, ebpf, run)).collect();
        let show = |f: &dyn Fn(&Reaction) -> Option<f64>| {
            runs.iter()
                .map(|r| {
                    r.as_ref()
                        .and_then(f)
                        .map_or("none".into(), |t| format!("{t:.3}"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = if ebpf { "eBPF" } else { "polling" };
        println!(
            "{name:<8}: first drop -> write {} s",
            show(&|r| r.from_first_drop)
        );
        println!(
            "{name:<8}: flood start -> write {} s",
            show(&|r| Some(r.from_flood))
        );
    }
    println!("== writes and time to drop-free, backlog 32, same flood ==");
    versus(&p, flood_secs);
    drop(env);
}
