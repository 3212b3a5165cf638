//! Snapshot cost against the floor (a loop that only open()s and read()s the same files with a
//! reused buffer, with the same read sizes), and against a second floor that opens each file
//! with openat() relative to a directory fd opened beforehand (as nettune's sysctl reader
//! does). Run with `cargo bench --bench snapshot`; `bench/run.sh` also compares with
//! node_exporter and the manual workflow and writes `bench/RESULTS.md`.

use nettune::collector::{CaptureOptions, Collector};
use nettune::root::{open_at, ReadMode, ReadRecord, FIRST_READ, MAX_READ, SYSCTL_FIRST_READ};
use nettune::Root;
use nix::fcntl::OFlag;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "timing.rs"]
mod timing;
use timing::{median, time};

/// Read `file` as nettune's `FileBuf` does in `mode`: the same sizes, the same offsets, the
/// same rule for when to stop.
fn read_like(mut file: &File, mode: ReadMode, buf: &mut [u8]) {
    match mode {
        ReadMode::UntilEof => {
            let mut chunk = FIRST_READ;
            while let Ok(n) = file.read(&mut buf[..chunk]) {
                if n == 0 {
                    break;
                }
                chunk = (chunk * 2).min(MAX_READ);
            }
        }
        ReadMode::Sysctl => {
            let mut chunk = SYSCTL_FIRST_READ;
            while let Ok(n) = file.read_at(&mut buf[..chunk], 0) {
                if n < chunk || chunk >= MAX_READ {
                    break;
                }
                chunk = (chunk * 2).min(MAX_READ);
            }
        }
    }
}

/// The recorded reads with each file's directory opened once: (directory index, name, mode).
fn by_directory(reads: &[ReadRecord]) -> (Vec<OwnedFd>, Vec<(usize, CString, ReadMode)>) {
    let mut parents: Vec<&Path> = Vec::new();
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for r in reads {
        let (Some(parent), Some(name)) = (r.path.parent(), r.path.file_name()) else {
            panic!("{}: no parent", r.path.display());
        };
        let index = match parents.iter().position(|p| *p == parent) {
            Some(i) => i,
            None => {
                let dir =
                    File::open(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
                dirs.push(OwnedFd::from(dir));
                parents.push(parent);
                parents.len() - 1
            }
        };
        let name = CString::new(name.as_encoded_bytes()).expect("file name without NUL");
        files.push((index, name, r.mode));
    }
    (dirs, files)
}

fn main() {
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let files_only = CaptureOptions {
        config: true,
        ethtool: false,
        sockets: false,
        socket_processes: false,
    };
    let mut collector = Collector::new(Root::default(), files_only);
    // The first snapshot walks the sysctl trees; record (and measure) the ones after it.
    collector.snapshot();
    let (_, reads) = collector.snapshot_recording_reads();
    // The floor: open() each file by its full path and read() it into one reused buffer,
    // nothing else. The reads are nettune's, per file (`read_like`): the kernel allocates a
    // buffer of the requested size per sysctl read, so the floor must ask for the same.
    let mut buf = vec![0u8; MAX_READ];
    let read_floor = |buf: &mut [u8]| {
        for r in &reads {
            if let Ok(f) = File::open(&r.path) {
                read_like(&f, r.mode, buf);
            }
        }
    };
    // The openat floor: the same reads, each file opened relative to its directory's fd
    // (every directory opened once, before timing).
    let (dirs, files) = by_directory(&reads);
    let read_openat_floor = |buf: &mut [u8]| {
        for (dir, name, mode) in &files {
            if let Ok(fd) = open_at(dirs[*dir].as_fd(), name, OFlag::O_RDONLY) {
                read_like(&File::from(fd), *mode, buf);
            }
        }
    };
    // Interleave the floors and the snapshot so all see the same machine noise.
    let (mut floor_t, mut openat_t, mut files_t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        read_floor(&mut buf);
        read_openat_floor(&mut buf);
        collector.snapshot();
    }
    for _ in 0..iters {
        let t = Instant::now();
        read_floor(&mut buf);
        floor_t.push(t.elapsed());
        let t = Instant::now();
        read_openat_floor(&mut buf);
        openat_t.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(collector.snapshot());
        files_t.push(t.elapsed());
    }
    let (floor, openat_floor, files) = (median(floor_t), median(openat_t), median(files_t));
    let mut full = Collector::new(Root::default(), CaptureOptions::default());
    let full_t = time(iters / 4 + 1, || {
        std::hint::black_box(full.snapshot());
    });
    let mut no_proc = Collector::new(
        Root::default(),
        CaptureOptions {
            socket_processes: false,
            ..CaptureOptions::default()
        },
    );
    let no_proc_t = time(iters / 4 + 1, || {
        std::hint::black_box(no_proc.snapshot());
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("files read per snapshot: {}", reads.len());
    println!(
        "floor (read the same files):            {:8.3} ms",
        ms(floor)
    );
    println!(
        "floor, openat from directory fds:       {:8.3} ms",
        ms(openat_floor)
    );
    println!(
        "snapshot, file sources:                 {:8.3} ms  ({:.2} x floor)",
        ms(files),
        files.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "snapshot vs openat floor:                           ({:.2} x openat floor)",
        files.as_secs_f64() / openat_floor.as_secs_f64()
    );
    println!(
        "snapshot, + ethtool + sockets:          {:8.3} ms",
        ms(no_proc_t)
    );
    println!(
        "snapshot, + socket owner processes:     {:8.3} ms",
        ms(full_t)
    );
}
