//! `nettune autotune` end to end, as root, in namespaces the tests create: the softnet
//! backlog fault (veth steered by RPS to CPU 1, `netdev_max_backlog` lowered to 32, a UDP
//! flood from the lab's generator), an administrator's pin, idle, alternating load with a
//! dry run beside the real daemon, a crash mid-transaction, and a fault inside one namespace.
//!
//! `net.core.netdev_max_backlog` is host-wide: every test that changes it holds
//! [`crate::e2e::serial`] and restores it with [`crate::e2e::GlobalSysctl`] (even on panic).
//! Each daemon reads only the host and the test's own namespaces (`--netns-prefix`), with a
//! private state directory, and is stopped (SIGTERM, then SIGKILL) by its guard.

use super::e2e::{serial, GlobalSysctl, Pair};
use super::nettune;
use nettune::autotune::decide;
use nettune::lab::traffic::{self, Traffic, UdpFlood};
use std::io::{BufRead, BufReader};
use std::net::SocketAddrV4;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BACKLOG: &str = "net.core.netdev_max_backlog";

/// A running `nettune autotune`, its stderr lines timestamped as they arrive.
struct Daemon {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    fn start(state: &Path, prefix: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = nettune();
        cmd.args(["autotune", "--interval", "1s", "--netns-prefix", prefix])
            .args(args)
            .env("NETTUNE_STATE_DIR", state)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn nettune autotune");
        let err = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[daemon] {l}");
                sink.lock().unwrap().push((Instant::now(), l));
            }
        });
        let d = Daemon {
            child: Some(child),
            lines,
            reader: Some(reader),
        };
        d.wait_for("started", Duration::from_secs(30));
        d
    }

    fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        self.lines()
            .into_iter()
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first line containing `what`, waiting up to `max`.
    fn wait_for(&self, what: &str, max: Duration) -> Option<(Instant, String)> {
        let start = Instant::now();
        while start.elapsed() < max {
            if let Some(l) = self.lines().into_iter().find(|(_, l)| l.contains(what)) {
                return Some(l);
            }
            if self.exited() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn exited(&self) -> bool {
        // The reader ends when the process closes stderr.
        self.reader.as_ref().is_none_or(|r| r.is_finished())
    }

    /// Lines `autotune: write KEY ...` (real writes, not dry-run ones).
    fn writes(&self, key: &str) -> Vec<(Instant, String)> {
        let prefix = format!("autotune: write {key} ");
        self.lines()
            .into_iter()
            .filter(|(_, l)| l.starts_with(&prefix))
            .collect()
    }

    /// SIGTERM and wait (SIGKILL after 20 s); returns whether it exited cleanly.
    fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        let ok = loop {
            if let Ok(Some(st)) = child.try_wait() {
                break st.success();
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        ok
    }

    /// Wait for the process to end by itself (an injected crash).
    fn wait_exit(&mut self, max: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let start = Instant::now();
        while start.elapsed() < max {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Packets dropped by full softnet backlogs so far, all CPUs.
fn softnet_dropped() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .expect("softnet_stat")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|h| u64::from_str_radix(h, 16).ok())
        .sum()
}

fn sysctl(key: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(key.replace('.', "/")))
        .expect("read sysctl")
        .trim()
        .to_string()
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The softnet backlog fault: `vb`'s receive steered by RPS to CPU 1, senders on CPU 0.
/// Returns the pair; the caller lowers the backlog and starts the flood.
fn backlog_pair(tag: &str, subnet: u8) -> Option<Pair> {
    if !nettune::testing::require("2 CPUs", cpus() >= 2) {
        return None;
    }
    let pair = Pair::new(tag, subnet)?;
    let st = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.b.name,
            "sh",
            "-c",
            "echo 2 > /sys/class/net/vb/queues/rx-0/rps_cpus",
        ])
        .status()
        .expect("ip netns exec");
    assert!(st.success(), "set rps_cpus of vb");
    Some(pair)
}

/// The lab's bounded UDP flood across the pair for at most `max`: two senders on CPU 0.
fn flood(pair: &Pair, max: Duration) -> Traffic {
    let mut t = Traffic::new();
    let f = UdpFlood {
        from: SocketAddrV4::new(pair.a_addr, 0),
        to: SocketAddrV4::new(pair.b_addr, 9),
        payload: 64,
        burst: 512,
        rate: None,
        pause: Duration::from_millis(10),
        max_packets: 50_000_000,
        max_time: max,
        cpu: Some(0),
    };
    for _ in 0..2 {
        t.spawn_in(&pair.a.path(), move |stop| traffic::udp_flood(f, stop))
            .expect("spawn flood");
    }
    t
}

/// Drops per second, sampled every second for `secs`, from `t0`.
fn drops_per_second(secs: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut last = softnet_dropped();
    for _ in 0..secs {
        std::thread::sleep(Duration::from_secs(1));
        let now = softnet_dropped();
        out.push(now - last);
        last = now;
    }
    out
}

/// `nettune rollback --last` on `state`, which must succeed.
fn rollback_last(state: &Path) {
    let rb = nettune()
        .args(["rollback", "--last"])
        .env("NETTUNE_STATE_DIR", state)
        .output()
        .unwrap();
    assert!(
        rb.status.success(),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
}

fn the_ceiling() -> u64 {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024);
    decide::ceiling(
        decide::policy(BACKLOG).unwrap(),
        &decide::Machine {
            mem_bytes: mem,
            cpus: cpus() as u64,
        },
    )
}

#[test]
fn backlog_flood_is_fixed_in_few_writes_then_yields_to_an_admin_pin() {
    let _s = serial();
    let Some(pair) = backlog_pair("atb", 61) else {
        return;
    };
    let _backlog = GlobalSysctl::set(BACKLOG, "32");
    let state = tempfile::tempdir().unwrap();
    let prefix = "nettune-t-atb-".to_string();
    // `--only softnet`: the machine is shared, and other traffic on it must not make this
    // test change other host-wide keys; `--rollback-on-exit` undoes whatever it wrote.
    let args = ["--only", "softnet", "--rollback-on-exit"];
    let mut d = Daemon::start(state.path(), &prefix, &args, &[]);
    std::thread::sleep(Duration::from_millis(1500));

    let t0 = Instant::now();
    let traffic = flood(&pair, Duration::from_secs(60));
    let drops = drops_per_second(25);
    eprintln!("drops per second: {drops:?}");
    let writes = d.writes(BACKLOG);
    assert!(!writes.is_empty(), "no write:\n{}", d.text());
    assert!(writes.len() <= 3, "{} writes:\n{}", writes.len(), d.text());
    let first = writes[0].0.duration_since(t0);
    let last = writes.last().unwrap().0.duration_since(t0);
    assert!(
        last < Duration::from_secs(15),
        "a write in the last 10 s (at {last:?}):\n{}",
        d.text()
    );
    assert!(first < Duration::from_secs(3), "first write at {first:?}");
    // Drop-free from 10 s after the flood began to the end of the 25 s.
    let late: u64 = drops[10..].iter().sum();
    assert_eq!(late, 0, "drops after 10 s: {drops:?}\n{}", d.text());
    let value: u64 = sysctl(BACKLOG).parse().unwrap();
    assert!(
        value > 32 && value <= the_ceiling(),
        "{value} vs ceiling {}",
        the_ceiling()
    );
    // Each write names the finding, its evidence, old -> new, why and the transaction.
    let l = &writes[0].1;
    for w in [
        "softnet.backlog_drops",
        "softnet.dropped cpu",
        "(host) 32 -> ",
        "why: ",
        "tx ",
    ] {
        assert!(l.contains(w), "{w:?} missing in {l}");
    }

    // The administrator sets another value during the flood: pinned, never written again.
    let admin = "64";
    std::fs::write("/proc/sys/net/core/netdev_max_backlog", admin).unwrap();
    let pin = d.wait_for("pinned net.core.netdev_max_backlog", Duration::from_secs(5));
    let (_, pin) = pin.unwrap_or_else(|| panic!("no pin line:\n{}", d.text()));
    for w in ["administrator", admin, &value.to_string()] {
        assert!(pin.contains(w), "{w:?} missing in {pin}");
    }
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        sysctl(BACKLOG),
        admin,
        "written over the pin:\n{}",
        d.text()
    );
    assert_eq!(d.writes(BACKLOG).len(), writes.len());
    assert!(!d.exited(), "the daemon stopped:\n{}", d.text());
    assert!(d.stop(), "unclean exit:\n{}", d.text());
    // `--rollback-on-exit` left the pinned key alone.
    assert_eq!(sysctl(BACKLOG), admin);
    assert!(
        d.text().contains("is pinned by the administrator; tx"),
        "{}",
        d.text()
    );

    // After a restart the pin holds, and `status` shows it.
    let mut d2 = Daemon::start(state.path(), &prefix, &args, &[]);
    assert!(
        d2.wait_for("stays pinned", Duration::from_secs(1))
            .is_some(),
        "{}",
        d2.text()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        sysctl(BACKLOG),
        admin,
        "written over the pin after a restart:\n{}",
        d2.text()
    );
    assert!(d2.writes(BACKLOG).is_empty(), "{}", d2.text());
    let st = nettune()
        .args(["autotune", "status"])
        .env("NETTUNE_STATE_DIR", state.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(
        st.status.success() && text.contains("running: pid"),
        "{text}"
    );
    assert!(
        text.contains("now 64, baseline 64") && text.contains("PINNED"),
        "{text}"
    );

    // Unpinned: tuned again.
    let un = nettune()
        .args(["autotune", "unpin", BACKLOG])
        .env("NETTUNE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(
        un.status.success(),
        "{}",
        String::from_utf8_lossy(&un.stderr)
    );
    assert!(
        d2.wait_for(
            "autotune: write net.core.netdev_max_backlog",
            Duration::from_secs(8)
        )
        .is_some(),
        "not tuned after unpin:\n{}",
        d2.text()
    );
    assert!(d2.stop());
    traffic.finish();
}

#[test]
fn idle_nothing_written() {
    if !nettune::testing::require_root() {
        return;
    }
    let _s = serial();
    let Some(ns) = super::Netns::new("atidle") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    // An idle namespace of its own (`--netns`: its counters and sysctls, the host-wide ones
    // from the host): the host of a shared test machine is not idle. Whatever it might write
    // is undone on exit (and fails the test).
    let mut d = Daemon::start(
        state.path(),
        "nettune-t-atidle-none",
        &["--netns", &ns.name, "--rollback-on-exit"],
        &[],
    );
    std::thread::sleep(Duration::from_secs(30));
    assert!(d.stop());
    let text = d.text();
    assert!(
        !text.contains("autotune: write "),
        "wrote on an idle host:\n{text}"
    );
    let journals = state.path().join("journal");
    let n = std::fs::read_dir(&journals).map_or(0, |d| d.count());
    assert_eq!(n, 0, "journals written:\n{text}");
    assert!(text.contains("window(s), 0 write(s)"), "{text}");
}

#[test]
fn alternating_load_no_oscillation_and_dry_run_decides_the_same() {
    let _s = serial();
    let Some(pair) = backlog_pair("ata", 62) else {
        return;
    };
    let _backlog = GlobalSysctl::set(BACKLOG, "32");
    let real_state = tempfile::tempdir().unwrap();
    let dry_state = tempfile::tempdir().unwrap();
    let prefix = "nettune-t-ata-".to_string();
    // First the dry run alone on the fault: it decides, and nothing changes.
    let mut dry = Daemon::start(
        dry_state.path(),
        &prefix,
        &["--dry-run", "--only", "softnet"],
        &[],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let t = flood(&pair, Duration::from_secs(6));
    std::thread::sleep(Duration::from_secs(6));
    t.finish();
    assert!(dry.stop());
    assert_eq!(sysctl(BACKLOG), "32", "the dry run wrote:\n{}", dry.text());
    std::thread::sleep(Duration::from_secs(2));

    let mut real = Daemon::start(
        real_state.path(),
        &prefix,
        &["--only", "softnet", "--rollback-on-exit"],
        &[],
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Bulk-like flood 8 s, quiet 6 s, five times (shortened from 60 s / 60 s x 10: the
    // episode logic only sees "symptom" / "no symptom" windows either way).
    for _ in 0..5 {
        let t = flood(&pair, Duration::from_secs(8));
        std::thread::sleep(Duration::from_secs(8));
        t.finish();
        std::thread::sleep(Duration::from_secs(6));
    }
    assert!(real.stop());
    let text = real.text();
    let writes = real.writes(BACKLOG);
    assert!(!writes.is_empty() && writes.len() <= 3, "{text}");
    assert!(!text.contains("autotune: rollback"), "a reversal:\n{text}");
    // Every write only raises the value.
    let to: Vec<u64> = writes
        .iter()
        .filter_map(|(_, l)| {
            l.split(" -> ")
                .nth(1)?
                .split(';')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    assert!(to.windows(2).all(|w| w[1] > w[0]), "{to:?}");

    // The dry run decided the same first change, prefixed, and wrote nothing.
    let dtext = dry.text();
    let would = dtext
        .lines()
        .find(|l| {
            l.starts_with(
                "autotune: dry-run: would write net.core.netdev_max_backlog (host) 32 -> ",
            )
        })
        .unwrap_or_else(|| panic!("no dry-run decision:\n{dtext}"));
    // The same decision as the real one's first: key, namespace, old value, finding, and a
    // value sized the same way (the arrivals each measured differ a little).
    assert!(would.contains("saw softnet.backlog_drops"), "{would}");
    assert!(writes[0].1.contains("(host) 32 -> "), "{}", writes[0].1);
    let why = |l: &str| l.contains("arrivals/s at the worst CPU x 20 ms hold = ");
    assert!(why(would) && why(&writes[0].1), "{would}\n{}", writes[0].1);
    assert!(
        !dry_state.path().join("journal").exists(),
        "dry run journaled"
    );
    assert!(
        !dry_state.path().join("autotune.json").exists(),
        "dry run saved state"
    );
}

#[test]
fn crash_mid_transaction_is_reconciled_and_rollback_restores_exactly() {
    let _s = serial();
    let Some(pair) = backlog_pair("atc", 63) else {
        return;
    };
    let _backlog = GlobalSysctl::set(BACKLOG, "32");
    let state = tempfile::tempdir().unwrap();
    let prefix = "nettune-t-atc-".to_string();
    let traffic = flood(&pair, Duration::from_secs(40));
    // The first kernel write is made, then the process aborts before the journal says done.
    let only = ["--only", "softnet"];
    let mut d = Daemon::start(
        state.path(),
        &prefix,
        &only,
        &[("NETTUNE_FAULT_AFTER", "1")],
    );
    let st = d.wait_exit(Duration::from_secs(15));
    assert!(
        st.is_some_and(|s| !s.success()),
        "no crash: {st:?}\n{}",
        d.text()
    );
    assert_ne!(sysctl(BACKLOG), "32", "the crash came before the write");

    // Restart: the half-applied transaction is rolled back before any tuning; a second
    // instance is refused while it runs.
    let mut d2 = Daemon::start(state.path(), &prefix, &only, &[]);
    let rec = d2.wait_for("reconciled: transaction", Duration::from_secs(1));
    assert!(
        rec.is_some_and(|(_, l)| l.contains("incomplete")),
        "{}",
        d2.text()
    );
    let second = nettune()
        .args(["autotune", "--netns-prefix", &prefix])
        .env("NETTUNE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(3));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("pid {}", d2.child.as_ref().unwrap().id())),
        "{err}"
    );
    assert!(
        d2.wait_for(
            "autotune: write net.core.netdev_max_backlog",
            Duration::from_secs(8)
        )
        .is_some(),
        "{}",
        d2.text()
    );
    assert!(d2.stop());
    traffic.finish();
    let tuned = sysctl(BACKLOG);
    assert_ne!(tuned, "32");
    // `rollback --last` undoes the daemon's last transaction exactly.
    rollback_last(state.path());
    assert_eq!(sysctl(BACKLOG), "32");
}

/// kill -9 at the other point: after the write was made and read back, before the commit
/// record. The restart finishes that transaction (the value stays; no rollback and no new
/// write) and `rollback --last` still restores 32 exactly.
#[test]
fn crash_before_commit_is_finished_at_restart() {
    let _s = serial();
    let Some(pair) = backlog_pair("atf", 65) else {
        return;
    };
    let _backlog = GlobalSysctl::set(BACKLOG, "32");
    let state = tempfile::tempdir().unwrap();
    let prefix = "nettune-t-atf-".to_string();
    let only = ["--only", "softnet"];
    let traffic = flood(&pair, Duration::from_secs(20));
    let mut d = Daemon::start(
        state.path(),
        &prefix,
        &only,
        &[("NETTUNE_FAULT_BEFORE_COMMIT", "1")],
    );
    let st = d.wait_exit(Duration::from_secs(15));
    traffic.finish();
    assert!(
        st.is_some_and(|s| !s.success()),
        "no crash: {st:?}\n{}",
        d.text()
    );
    let written = sysctl(BACKLOG);
    assert_ne!(written, "32", "the crash came before the write");
    std::thread::sleep(Duration::from_secs(2));

    // Restart without the flood: the transaction is finished, the value stays.
    let mut d2 = Daemon::start(state.path(), &prefix, &only, &[]);
    let rec = d2.wait_for("reconciled: transaction", Duration::from_secs(1));
    assert!(
        rec.as_ref()
            .is_some_and(|(_, l)| l.contains("finished (committed)")
                && l.contains(&format!("net.core.netdev_max_backlog = {written}"))),
        "{}",
        d2.text()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(d2.stop());
    let text = d2.text();
    assert!(!text.contains("rolled back"), "{text}");
    assert!(!text.contains("autotune: write "), "{text}");
    assert!(
        text.contains("1 transaction(s) reconciled at start"),
        "{text}"
    );
    assert_eq!(sysctl(BACKLOG), written);
    // The journal says committed; `rollback --last` undoes it exactly.
    rollback_last(state.path());
    assert_eq!(sysctl(BACKLOG), "32");
}

#[test]
fn a_fault_in_a_namespace_is_tuned_in_that_namespace_only() {
    let _s = serial();
    let Some(pair) = Pair::new("atn", 64) else {
        return;
    };
    const RANGE: &str = "net.ipv4.ip_local_port_range";
    let ns_range = |ns: &str| {
        let o = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "cat",
                "/proc/sys/net/ipv4/ip_local_port_range",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let set = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.a.name,
            "sh",
            "-c",
            "echo '40000 40199' > /proc/sys/net/ipv4/ip_local_port_range",
        ])
        .status()
        .unwrap();
    assert!(set.success());
    let host_before = sysctl(RANGE);
    let b_before = ns_range(&pair.b.name);
    // A server in b, and short connections from a: their TIME_WAIT ports pile up in a.
    let to = SocketAddrV4::new(pair.b_addr, 18090);
    let mut t = Traffic::new();
    let server = nettune::netns::NetnsThread::spawn(&pair.b.path(), &nettune::Root::default())
        .unwrap()
        .run(move |_| traffic::TcpServer::bind(to, 1024, None))
        .unwrap()
        .expect("bind server");
    t.spawn_in(&pair.b.path(), move |stop| {
        server.run(100_000, Duration::from_secs(40), stop)
    })
    .unwrap();
    let from = SocketAddrV4::new(pair.a_addr, 0);
    t.spawn_in(&pair.a.path(), move |stop| {
        traffic::connect_storm(
            traffic::ConnectStorm {
                to,
                from,
                max_connects: 100_000,
                max_time: Duration::from_secs(40),
                pause: Duration::from_millis(5),
                complete: Some(Duration::from_secs(1)),
                keep_open: 1,
                failures: None,
            },
            stop,
        )
    })
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let prefix = "nettune-t-atn-".to_string();
    let mut d = Daemon::start(
        state.path(),
        &prefix,
        &["--only", "tcp.port_exhaustion", "--rollback-on-exit"],
        &[],
    );
    let w = d.wait_for(
        &format!("autotune: write {RANGE} ({})", pair.a.name),
        Duration::from_secs(30),
    );
    assert!(d.stop());
    t.finish();
    let (_, line) = w.unwrap_or_else(|| panic!("no write in {}:\n{}", pair.a.name, d.text()));
    assert!(line.contains("saw tcp.port_exhaustion"), "{line}");
    // Written in `a` (and restored there on exit), nowhere else.
    assert!(line.contains("40000 40199 -> "), "{line}");
    assert!(d.text().contains("exit: rolled back tx"), "{}", d.text());
    assert_eq!(ns_range(&pair.a.name), "40000 40199");
    assert_eq!(sysctl(RANGE), host_before, "the host's range changed");
    assert_eq!(
        ns_range(&pair.b.name),
        b_before,
        "the other namespace's range changed"
    );
    assert!(
        !d.text()
            .contains(&format!("autotune: write {RANGE} (host)")),
        "{}",
        d.text()
    );
}

#[test]
fn status_and_unpin_without_a_daemon() {
    let state = tempfile::tempdir().unwrap();
    let o = nettune()
        .args(["autotune", "status"])
        .env("NETTUNE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("not running") && text.contains("pins:\n  none"),
        "{text}"
    );
    let o = nettune()
        .args(["autotune", "unpin", BACKLOG])
        .env("NETTUNE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not pinned"));
}

#[test]
fn listen_serves_the_exporter_and_the_autotune_families() {
    if !nettune::testing::require_root() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    // A free port: bind, note it, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut d = Daemon::start(
        state.path(),
        "nettune-t-atlisten-none",
        &["--dry-run", "--listen", &addr],
        &[],
    );
    assert!(
        d.wait_for("serving http://", Duration::from_secs(10))
            .is_some(),
        "{}",
        d.text()
    );
    let get = |accept: &str| -> std::io::Result<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    let body = get("text/plain").expect("scrape");
    let om = get("application/openmetrics-text; version=1.0.0").expect("scrape");
    assert!(d.stop());
    // OpenMetrics: the daemon's families come before the closing `# EOF`.
    assert!(om.trim_end().ends_with("# EOF"), "{om:.300}");
    assert_eq!(om.matches("# EOF").count(), 1);
    assert!(
        om.contains("# TYPE nettune_autotune_changes counter"),
        "{om:.300}"
    );
    assert!(body.starts_with("HTTP/1.1 200"), "{body:.300}");
    for family in [
        "# TYPE nettune_autotune_changes_total counter",
        "# TYPE nettune_autotune_value gauge",
        "# TYPE nettune_autotune_pinned gauge",
        "nettune_autotune_rollbacks_total 0",
        "nettune_softnet_dropped_total",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body:.2000}");
    }
}
