//! Support-archive benchmark (issue 14): a ~100 MB sosreport tarball — the shared openstack
//! sosreport padded with large and many small members the analysis does not need (journal,
//! logs) — analysed by `nettune check --archive` in every compression, and the same tree
//! extracted. Wall time and peak RSS of the child process (`wait4` rusage), plus
//! `archive::read` in-process.
//!
//! Run: `cargo bench --profile dev --bench archive` (debug build of nettune; the decoders are
//! optimised in the dev profile, see Cargo.toml). Prints a Markdown section.

use nettune::archive::tarball::Compression;
use nettune::archive::testkit;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pseudo-random bytes (xorshift): incompressible, like a binary journal.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Run `nettune check --archive path --json` under `/usr/bin/time -f %M` (a process forked
/// from a small one: the peak RSS of a child forked straight from this benchmark would count
/// this process's memory too): wall time, peak RSS in KiB (`None` without /usr/bin/time), exit
/// code.
fn child(path: &Path) -> (Duration, Option<u64>, i32) {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "%M"]).arg(env!("CARGO_BIN_EXE_nettune"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_nettune"))
    };
    let start = Instant::now();
    let out = cmd
        .args(["check", "--json", "--archive"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run nettune");
    let wall = start.elapsed();
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok());
    (wall, rss, out.status.code().unwrap_or(-1))
}

/// `VmHWM` / `VmRSS` of this process, KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_ascii_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let d = tempfile::tempdir().expect("tempdir");
    let Some(dir) = testkit::sos_fixture("hotsos-openstack", d.path(), "sosreport-compute4") else {
        return;
    };
    // Padding: 3 large members (96 MiB) and 10,000 small ones (20 MiB), none of them read.
    let big = noise(96 << 20, 7);
    let small = noise(2048, 11);
    let mut names: Vec<String> = (0..10_000)
        .map(|i| format!("sos_commands/logs/unit_{i:05}"))
        .collect();
    names.push("var/log/journal/system.journal".into());
    names.push("sos_commands/logs/journalctl_--no-pager".into());
    names.push("var/log/syslog".into());
    let mut extra: Vec<(&str, &[u8])> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let data: &[u8] = match i {
            10_000 => &big[..40 << 20],
            10_001 => &big[40 << 20..80 << 20],
            10_002 => &big[80 << 20..],
            _ => &small,
        };
        extra.push((n, data));
    }
    // Every archive is written first and the padding freed before measuring: a child's peak
    // RSS counts the memory of the process it was forked from.
    let mut archives = Vec::new();
    for c in [
        Compression::Gzip,
        Compression::Xz,
        Compression::Zstd,
        Compression::Bzip2,
        Compression::None,
    ] {
        let tb = d
            .path()
            .join(format!("sosreport-compute4.{}", testkit::extension(c)));
        testkit::tarball(&dir, "sosreport-compute4", &tb, c, &extra);
        let size = std::fs::metadata(&tb).map(|m| m.len()).unwrap_or(0);
        archives.push((tb, format!("{} tarball", c.as_str()), size));
    }
    // The same tree extracted, with the padding written beside it.
    for (name, data) in &extra {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write padding");
    }
    archives.push((dir.clone(), "extracted directory".into(), dir_size(&dir)));
    drop(extra);
    drop(big);
    drop(small);
    println!(
        "### {} — archive benchmark — `cargo bench --profile dev --bench archive` (debug build)",
        chrono_free_date()
    );
    println!();
    println!("| archive | size | `check --archive` wall (median of {runs}) | its peak RSS | `archive::read` in-process (median, peak RSS growth) |");
    println!("|---|---|---|---|---|");
    for (path, what, size) in &archives {
        report(path, what, *size, runs);
    }
}

fn report(path: &Path, what: &str, size: u64, runs: usize) {
    let mut walls = Vec::new();
    let mut rss: Option<u64> = None;
    for _ in 0..runs {
        let (wall, kib, code) = child(path);
        assert!((0..=2).contains(&code), "{what}: exit {code}");
        walls.push(wall);
        rss = rss.max(kib);
    }
    let mut inproc = Vec::new();
    let mut growth = 0;
    for _ in 0..runs {
        // Reset the peak (`clear_refs` 5) so VmHWM is this read's.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_kib("VmRSS:");
        let t = Instant::now();
        let r = nettune::archive::read(path).expect("read archive");
        inproc.push(t.elapsed());
        growth = growth.max(status_kib("VmHWM:").saturating_sub(before));
        assert!(r.capture.archive.is_some());
    }
    println!(
        "| {what} | {:.1} MB | {:.0} ms | {} | {:.0} ms, +{:.1} MiB peak |",
        size as f64 / 1e6,
        median(walls).as_secs_f64() * 1e3,
        rss.map_or("n/a".to_string(), |k| format!(
            "{:.1} MiB",
            k as f64 / 1024.0
        )),
        median(inproc).as_secs_f64() * 1e3,
        growth as f64 / 1024.0
    );
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => n += dir_size(&e.path()),
                Ok(t) if t.is_file() => n += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    n
}

/// Today's date (UTC) from the system clock, `YYYY-MM-DD`.
fn chrono_free_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
