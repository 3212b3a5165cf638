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
    if std::env::var_os("BENCH_NETNS").is_some() {
        netns_encoding(iters, &mut fast, &host);
        return;
    }
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

/// `BENCH_NETNS=1`: the cost of the `netns` label and `--max-netns` folding with 0, 50 and
/// 200 namespaces, each a copy of this host's per-namespace sources (netstat, sockstat,
/// netdev, conntrack) under its own inode and name: the folder's layout (per collection) and
/// the counters' text encoding (per collection), both off the request path.
fn netns_encoding(iters: usize, fast: &mut Collector, host: &nettune::collect::host::HostFacts) {
    use nettune::export::netns::{Folder, Layout, DEFAULT_MAX_NETNS, HOST_LABEL};
    use nettune::namespaces::NetnsRef;
    use nettune::snapshot::{NetnsSnapshot, Snapshot};
    let base = fast.snapshot();
    let with = |n: usize| {
        let mut s = base.clone();
        s.namespaces = (0..n)
            .map(|i| {
                let mut part = Snapshot::empty(s.taken_at_ns);
                part.netstat = s.netstat.clone();
                part.sockstat = s.sockstat.clone();
                part.netdev = s.netdev.clone();
                part.conntrack = s.conntrack.clone();
                NetnsSnapshot {
                    netns: NetnsRef {
                        inode: 4_026_532_000 + i as u64,
                        name: format!("pod default/web-{i}"),
                        path: format!("/proc/{}/ns/net", 1000 + i).into(),
                    },
                    snapshot: part,
                }
            })
            .collect();
        s
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for n in [0, 50, 200] {
        let s = with(n);
        let mut folder = Folder::new(DEFAULT_MAX_NETNS, HOST_LABEL);
        folder.layout(&s);
        let layout_t = time(iters, || {
            std::hint::black_box(folder.layout(&s));
        });
        let layout = folder.layout(&s);
        let mut bytes = 0;
        let encode_t = time(iters, || {
            bytes = std::hint::black_box(encode::encode_counters(
                &s,
                host,
                &layout,
                encode::Format::Text,
            ))
            .len();
        });
        println!(
            "{n:>3} namespaces (--max-netns {DEFAULT_MAX_NETNS}, {} shown): layout {:8.1} µs, text encoding {:8.1} µs ({bytes} bytes)",
            layout.shown.len(),
            us(layout_t),
            us(encode_t),
        );
        if n > DEFAULT_MAX_NETNS {
            let all = Layout::all(&s, HOST_LABEL);
            let mut bytes = 0;
            let all_t = time(iters, || {
                bytes = std::hint::black_box(encode::encode_counters(
                    &s,
                    host,
                    &all,
                    encode::Format::Text,
                ))
                .len();
            });
            println!(
                "{n:>3} namespaces, all shown (unbounded):                 text encoding {:8.1} µs ({bytes} bytes)",
                us(all_t)
            );
        }
    }
}
