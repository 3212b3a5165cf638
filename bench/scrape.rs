//! Where an exporter scrape's time goes: the per-scrape collection (counter sources and
//! ethtool), the window's diagnosis and the text encoding, each timed separately on the live
//! host, plus the whole `Exporter::scrape` + body without the cache. Run with
//! `cargo bench --bench scrape`; `bench/exporter.sh` measures scrapes over HTTP against
//! node_exporter.

use nettune::collector::Collector;
use nettune::diagnose::{self, Context, Options};
use nettune::export::{self, encode, Exporter};
use nettune::window::Window;
use nettune::Root;
use std::time::Duration;

#[path = "timing.rs"]
mod timing;
use timing::time;

fn main() {
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let mut fast = Collector::new(Root::default(), export::fast_options());
    let mut slow = Collector::new(Root::default(), export::slow_options());
    let host = fast.host_facts();
    let collect_t = time(iters, || {
        std::hint::black_box(fast.snapshot());
    });
    if std::env::var_os("BENCH_SOURCES").is_some() {
        let mut sums = std::collections::BTreeMap::<String, f64>::new();
        for _ in 0..iters {
            for (k, v) in fast.snapshot().collect_seconds {
                *sums.entry(k).or_default() += v;
            }
        }
        for (k, v) in sums {
            println!("  {k:<12} {:8.1} µs", v / iters as f64 * 1e6);
        }
    }
    // A realistic pair: the fast snapshots with the slow sources carried in, as the exporter
    // does.
    let slow_snap = slow.snapshot();
    let carry = |mut s: nettune::snapshot::Snapshot| {
        export::carry_slow_sources(&mut s, &slow_snap);
        s
    };
    let older = carry(fast.snapshot());
    std::thread::sleep(Duration::from_millis(100));
    let newer = carry(fast.snapshot());
    let options = Options::default();
    let ctx = Context::new(
        Window::new(&older, &newer, &host),
        &newer,
        &host,
        &options,
        None,
    );
    let diagnose_t = time(iters, || {
        std::hint::black_box(diagnose::diagnose(&ctx));
    });
    let findings = diagnose::diagnose(&ctx);
    let input = encode::Input {
        snapshot: &newer,
        host: &host,
        findings: &findings,
    };
    let mut bytes = 0;
    let encode_t = time(iters, || {
        bytes = std::hint::black_box(encode::encode(&input, encode::Format::Text)).len();
    });
    let exporter = Exporter::live(
        Collector::new(Root::default(), export::fast_options()),
        Collector::new(Root::default(), export::slow_options()),
        Duration::ZERO,
    );
    exporter.prime();
    let scrape_t = time(iters, || {
        let s = exporter.scrape();
        std::hint::black_box(s.body(encode::Format::Text).len());
    });
    let clone_t = time(iters, || {
        std::hint::black_box(carry(nettune::snapshot::Snapshot::empty(1)));
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "exporter collection (counter sources + ethtool): {:8.1} µs",
        us(collect_t)
    );
    println!(
        "diagnosis of the window:                          {:8.1} µs",
        us(diagnose_t)
    );
    println!(
        "text encoding ({bytes} bytes):                  {:8.1} µs",
        us(encode_t)
    );
    println!(
        "carry slow sources (clone):                       {:8.1} µs",
        us(clone_t)
    );
    println!(
        "Exporter::scrape + body, no cache:                {:8.1} µs",
        us(scrape_t)
    );
}
