//! Cost of reading sockets with many established TCP connections: `collect::sockets::read`
//! and a kept `Reader` (sock_diag dumps), and the owner lookup (`resolve_owners`, one
//! `/proc/*/fd` walk) timed separately, for N
//! established loopback connections (default 1,000, 10,000 and 40,000; both ends of each are
//! held by child processes of at most 8,000 connections each, so 2 N sockets plus their
//! listeners, spread over several processes as on a busy host).
//!
//! Run as root: `cargo bench --bench sockets` (`BENCH_SOCKETS=1000,10000`, `BENCH_ITERS=20`).
//! The connections live in a network namespace this process creates with `unshare(2)`
//! (loopback only; nothing on the host is touched), or, without root, in the current
//! namespace's loopback (then the host's own sockets are counted as well). Everything is
//! closed at the end; the namespace goes with the process.

use nettune::collect::sockets;
use nettune::collect::Source;
use nettune::Root;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// CPU time of the calling thread (user and kernel: a sock_diag dump runs in the
/// reader's `recvmsg`), which other load on the machine does not inflate as it does wall time.
fn thread_cpu() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// User and system CPU time of the calling thread so far.
fn rusage_thread() -> (Duration, Duration) {
    // SAFETY: getrusage with a valid pointer to a zeroed rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let d = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (d(u.ru_utime), d(u.ru_stime))
}

/// Medians of wall time and of this thread's CPU time of `f` over `iters` runs after two
/// warm-up runs.
fn time(iters: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    f();
    let mut wall = Vec::with_capacity(iters);
    let mut cpu = Vec::with_capacity(iters);
    for _ in 0..iters {
        let (t, c) = (Instant::now(), thread_cpu());
        f();
        cpu.push(thread_cpu().saturating_sub(c));
        wall.push(t.elapsed());
    }
    wall.sort();
    cpu.sort();
    (wall[iters / 2], cpu[iters / 2])
}

/// Listeners the clients spread over (each destination has its own ephemeral port space).
const LISTENERS: usize = 4;

/// Raise the soft (and if needed the hard) open-file limit to `want`.
fn raise_nofile(want: u64) -> std::io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur >= want {
        return Ok(());
    }
    lim.rlim_cur = want;
    lim.rlim_max = lim.rlim_max.max(want);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Enter a new network namespace with loopback up; false when not allowed.
fn own_namespace() -> bool {
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
        return false;
    }
    // A child forked from this (single) thread inherits its namespace.
    std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Connections one holder process makes: both ends are its own, so 2 per connection, under
/// the 20,000-file hard limit an unprivileged or capability-reduced root may have.
const PER_HOLDER: usize = 8_000;

/// Child mode: make `n` established loopback connections to listeners of its own, say
/// `ready`, hold everything until stdin closes.
fn hold(n: usize) {
    use std::io::{BufRead, Write};
    let listeners: Vec<TcpListener> = (0..LISTENERS)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener"))
        .collect();
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        let l = &listeners[i % LISTENERS];
        let c = TcpStream::connect(l.local_addr().expect("listener address"))
            .expect("connect on loopback");
        let (a, _) = l.accept().expect("accept");
        pairs.push((c, a));
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    drop(pairs);
}

/// Processes holding established connections, grown on demand.
struct Connections {
    holders: Vec<std::process::Child>,
    count: usize,
}

impl Connections {
    fn grow_to(&mut self, n: usize) {
        use std::io::BufRead;
        let exe = std::env::current_exe().expect("own executable");
        while self.count < n {
            let k = (n - self.count).min(PER_HOLDER);
            let mut child = std::process::Command::new(&exe)
                .env("BENCH_SOCKETS_HOLD", k.to_string())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a connection holder");
            let mut line = String::new();
            let out = child.stdout.take().expect("holder stdout");
            let _ = std::io::BufReader::new(out).read_line(&mut line);
            assert_eq!(line.trim(), "ready", "holder failed");
            self.holders.push(child);
            self.count += k;
        }
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        for mut c in self.holders.drain(..) {
            drop(c.stdin.take());
            let _ = c.wait();
        }
    }
}

fn ms((wall, cpu): (Duration, Duration)) -> String {
    format!(
        "{:9.3} ms wall, {:9.3} ms CPU",
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3
    )
}

fn ms1(d: Duration) -> String {
    format!("{:9.3} ms wall", d.as_secs_f64() * 1e3)
}

fn read(root: &Root, with_processes: bool) -> sockets::Sockets {
    match sockets::read(root, with_processes) {
        Source::Ok(s) => s,
        other => panic!("sockets::read failed: {}", other.status()),
    }
}

/// Wall time of one run of `cmd`, if it ran.
fn time_command(cmd: &str, args: &[&str]) -> Option<Duration> {
    let t = Instant::now();
    let out = std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    out.success().then(|| t.elapsed())
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SOCKETS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 40_000]);
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(1);
    if let Some(n) = std::env::var("BENCH_SOCKETS_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        if let Err(e) = raise_nofile(2 * PER_HOLDER as u64 + 256) {
            eprintln!("cannot raise RLIMIT_NOFILE: {e}");
            std::process::exit(1);
        }
        hold(n);
        return;
    }
    let isolated = own_namespace();
    println!(
        "sockets in {}",
        if isolated {
            "a network namespace of this process (loopback only)"
        } else {
            "the current namespace (not root: host sockets count too)"
        }
    );
    let root = Root::default();
    let mut conns = Connections {
        holders: Vec::new(),
        count: 0,
    };
    for &n in &sizes {
        let t = Instant::now();
        conns.grow_to(n);
        let setup = t.elapsed();
        let s = read(&root, false);
        let listener_inodes: Vec<u64> = s.listeners.iter().map(|l| l.inode).collect();
        println!(
            "N = {n} established connections ({} TCP sockets seen, set up in {:.1} s):",
            s.tcp_states.total(),
            setup.as_secs_f64()
        );
        let mut reader = sockets::Reader::new();
        let (u0, s0) = rusage_thread();
        let kept = time(iters, || {
            assert!(reader.read(&root, false).ok().is_some());
        });
        let (u1, s1) = rusage_thread();
        println!("  Reader::read kept, no owners:         {}", ms(kept));
        let runs = (iters + 2) as u32;
        println!(
            "    of which user {:.3} ms, kernel {:.3} ms per read (getrusage)",
            (u1 - u0).as_secs_f64() * 1e3 / f64::from(runs),
            (s1 - s0).as_secs_f64() * 1e3 / f64::from(runs)
        );
        // `BENCH_CHECK=bin1,bin2`: each binary's `check --interval 1s` here (it inherits this
        // namespace), three runs, the median wall time beyond the 1 s window.
        for bin in std::env::var("BENCH_CHECK").unwrap_or_default().split(',') {
            if bin.is_empty() {
                continue;
            }
            let mut runs: Vec<Duration> = (0..3)
                .filter_map(|_| {
                    let t = Instant::now();
                    std::process::Command::new(bin)
                        .args(["check", "--interval", "1s"])
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .ok()?;
                    Some(t.elapsed().saturating_sub(Duration::from_secs(1)))
                })
                .collect();
            runs.sort();
            if let Some(m) = runs.get(runs.len() / 2) {
                println!(
                    "  {bin} check --interval 1s, beyond the window: {}",
                    ms1(*m)
                );
            }
        }
        if std::env::var_os("BENCH_ONLY_READER").is_some() {
            continue;
        }
        let plain = time(iters, || {
            read(&root, false);
        });
        println!("  read, no owners:                      {}", ms(plain));
        let with = time(iters.min(10), || {
            read(&root, true);
        });
        println!("  read, owners as with_processes says:  {}", ms(with));
        let one = listener_inodes
            .last()
            .copied()
            .into_iter()
            .collect::<Vec<_>>();
        let owners_one = time(iters.min(10), || {
            sockets::resolve_owners(&root, &one);
        });
        println!("  resolve_owners, 1 listener:           {}", ms(owners_one));
        let owners = time(iters.min(10), || {
            sockets::resolve_owners(&root, &listener_inodes);
        });
        println!(
            "  resolve_owners, all {} listeners:     {}",
            listener_inodes.len(),
            ms(owners)
        );
        if let Some(d) = time_command("ss", &["-tan"]) {
            println!("  ss -tan (once, output discarded):     {}", ms1(d));
        }
        if let Some(d) = time_command("ss", &["-tanp"]) {
            println!("  ss -tanp (once, output discarded):    {}", ms1(d));
        }
    }
    drop(conns);
}
