//! Timing helpers shared by the benchmarks (`#[path]`-included; not a benchmark itself).
#![allow(dead_code)] // each benchmark uses part of it

use std::time::{Duration, Instant};

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time of `f` over `iters` runs after a few warm-up runs.
pub fn time(iters: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..5 {
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
