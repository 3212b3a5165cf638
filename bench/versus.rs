//! nettune against node_exporter on this machine, measured interleaved (one round: one of
//! each, so both see the same machine noise) with the same client.
//!
//! - `NODE_EXPORTER=127.0.0.1:PORT cargo bench --bench versus`: nettune's collectors for the
//!   sources node_exporter's equivalent collectors read (softnet, netstat, netdev, sockstat,
//!   conntrack, interrupts, stat, and ethtool's driver info, link modes and statistics —
//!   what node_exporter's ethtool collector reads; buffers, sockets and the netstat layout
//!   kept between reads, as the exporter's collector keeps them) against one node_exporter scrape (connect, GET /metrics, read to
//!   the end) — issue 2's "≥ 10 × faster than a node_exporter scrape".
//! - with `NETTUNE_EXPORTER=127.0.0.1:PORT` as well: one HTTP scrape of each exporter per
//!   round, `PACE_MS` (default 150) apart — issue 6's scrape time.
//!
//! `bench/run.sh` and `bench/exporter.sh` start the exporters and run this.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One scrape: connect, send the request, read the response to the end; (time, bytes).
fn scrape(addr: &str) -> (Duration, usize) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = Vec::with_capacity(128 * 1024);
    s.read_to_end(&mut body).unwrap();
    assert!(body.starts_with(b"HTTP/1.1 200"), "{addr}: not a 200");
    (t.elapsed(), body.len())
}

fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Print the median and p90 of node_exporter's times and nettune's, each line labelled
/// (`*_note` follows the numbers), then the ratio of the medians after `rounds_label`.
fn report(
    (ne_label, ne, ne_note): (&str, &mut [Duration], String),
    (nt_label, nt, nt_note): (&str, &mut [Duration], String),
    rounds_label: String,
) {
    let (ne50, nt50) = (quantile(ne, 0.5), quantile(nt, 0.5));
    for (label, v, note, p50) in [(ne_label, ne, ne_note, ne50), (nt_label, nt, nt_note, nt50)] {
        println!(
            "{label}: median {:.3} ms, p90 {:.3} ms{note}",
            ms(p50),
            ms(quantile(v, 0.9))
        );
    }
    println!(
        "{rounds_label}: nettune {:.1} x faster (medians)",
        ne50.as_secs_f64() / nt50.as_secs_f64()
    );
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let node = std::env::var("NODE_EXPORTER").expect("NODE_EXPORTER=host:port");
    let pace = Duration::from_millis(
        std::env::var("PACE_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(150),
    );
    if let Ok(nettune) = std::env::var("NETTUNE_EXPORTER") {
        let (mut ne, mut nt) = (Vec::new(), Vec::new());
        let (mut ne_bytes, mut nt_bytes) = (0, 0);
        for i in 0..rounds + 5 {
            let a = scrape(&node);
            std::thread::sleep(pace / 2);
            let b = scrape(&nettune);
            std::thread::sleep(pace / 2);
            if i >= 5 {
                ne.push(a.0);
                nt.push(b.0);
                (ne_bytes, nt_bytes) = (a.1, b.1);
            }
        }
        report(
            (
                "node_exporter scrape",
                &mut ne,
                format!(" ({ne_bytes} bytes)"),
            ),
            (
                "nettune export scrape",
                &mut nt,
                format!(" ({nt_bytes} bytes)"),
            ),
            format!("{rounds} interleaved rounds {} ms apart", pace.as_millis()),
        );
        return;
    }
    use nettune::collect as c;
    let root = nettune::Root::default();
    let mut fbuf = c::FileBuf::new();
    let mut ethtool = c::ethtool::Reader::new();
    let mut netstat = c::snmp::Reader::new();
    let devices: Vec<String> = std::fs::read_dir(root.sys("class/net"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut equivalent = || {
        let t = Instant::now();
        let mut w = c::Warnings::default();
        std::hint::black_box((
            c::softnet::read(&mut fbuf, &root, &mut w),
            netstat.read(&mut fbuf, &root, &mut w),
            c::netdev::read(&mut fbuf, &root, &mut w),
            c::sockstat::read(&mut fbuf, &root, &mut w),
            c::conntrack::read(&mut fbuf, &root, &mut w),
            c::interrupts::read(&mut fbuf, &root, &mut w),
            c::softirqs::read_cpu_times(&mut fbuf, &root, &mut w),
            ethtool.read_counters(&devices),
        ));
        t.elapsed()
    };
    let (mut ne, mut nt) = (Vec::new(), Vec::new());
    for i in 0..rounds + 5 {
        let a = scrape(&node).0;
        let b = equivalent();
        if i >= 5 {
            ne.push(a);
            nt.push(b);
        }
    }
    report(
        (
            "node_exporter scrape (softnet netstat netdev sockstat conntrack interrupts stat ethtool)",
            &mut ne,
            String::new(),
        ),
        ("nettune, the same sources", &mut nt, String::new()),
        format!("{rounds} interleaved rounds"),
    );
}
