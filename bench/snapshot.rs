//! Snapshot cost against the floor (a loop that only open()s and read()s the same files with a
//! reused buffer). Run with `cargo bench --bench snapshot`; `bench/run.sh` also compares
//! with node_exporter and the manual workflow and writes `bench/RESULTS.md`.

use nettune::snapshot::{CaptureOptions, Collector};
use nettune::Root;
use std::io::Read;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(iters: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..3 {
        f();
    }
    median(
        (0..iters)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
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
    let (_, paths) = collector.snapshot_recording_paths();
    // The floor: open() and read() each file into one reused buffer until EOF, nothing else.
    let mut buf = vec![0u8; 256 * 1024];
    // Same read sizes as nettune's FileBuf (4 KiB, doubling): the kernel allocates a buffer
    // of the requested size per sysctl read, so the floor must not ask for more.
    let mut read_floor = || {
        for p in &paths {
            if let Ok(mut f) = std::fs::File::open(p) {
                let mut chunk = nettune::root::FIRST_READ;
                while let Ok(n) = f.read(&mut buf[..chunk]) {
                    if n == 0 {
                        break;
                    }
                    chunk = (chunk * 2).min(nettune::root::MAX_READ);
                }
            }
        }
    };
    // Interleave floor and snapshot so both see the same machine noise.
    let (mut floor_t, mut files_t) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        read_floor();
        collector.snapshot();
    }
    for _ in 0..iters {
        let t = Instant::now();
        read_floor();
        floor_t.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(collector.snapshot());
        files_t.push(t.elapsed());
    }
    let (floor, files) = (median(floor_t), median(files_t));
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
    // node_exporter's equivalent collectors (softnet, netstat, netdev, sockstat, conntrack,
    // interrupts, stat, ethtool): the same sources read by nettune's collectors, with their
    // buffers and sockets kept between reads as the exporter keeps them.
    let root = Root::default();
    let mut fbuf = nettune::collect::FileBuf::new();
    let mut ethtool = nettune::collect::ethtool::Reader::new();
    let devices: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let equivalent_t = time(iters, || {
        use nettune::collect as c;
        let mut w = c::Warnings::default();
        std::hint::black_box((
            c::softnet::read(&mut fbuf, &root, &mut w),
            c::snmp::read(&mut fbuf, &root, &mut w),
            c::netdev::read(&mut fbuf, &root, &mut w),
            c::sockstat::read(&mut fbuf, &root, &mut w),
            c::conntrack::read(&mut fbuf, &root, &mut w),
            c::interrupts::read(&mut fbuf, &root, &mut w),
            c::softirqs::read_cpu_times(&mut fbuf, &root, &mut w),
            ethtool.read_all(&devices),
        ));
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("files read per snapshot: {}", paths.len());
    println!(
        "floor (read the same files):            {:8.3} ms",
        ms(floor)
    );
    println!(
        "snapshot, file sources:                 {:8.3} ms  ({:.2} x floor)",
        ms(files),
        files.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "snapshot, + ethtool + sockets:          {:8.3} ms",
        ms(no_proc_t)
    );
    println!(
        "snapshot, + socket owner processes:     {:8.3} ms",
        ms(full_t)
    );
    println!(
        "node_exporter's sources only (softnet netstat netdev sockstat conntrack interrupts stat ethtool): {:8.3} ms",
        ms(equivalent_t)
    );
}
