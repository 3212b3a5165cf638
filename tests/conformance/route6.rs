//! /proc/net/rt6_stats against the sample a real sosreport carries (hotsos-rabbitmq, a
//! process's `proc/PID/net/rt6_stats`: its network namespace's).

use nettune::collect::route6::{parse, Rt6Stats};
use nettune::collect::Warnings;

#[test]
fn sosreport_rt6_stats() {
    let Some(text) = crate::read("sos/hotsos-rabbitmq/proc/123803/net/rt6_stats") else {
        return;
    };
    assert_eq!(text, "0005 0004 000e 0004 0000 0002 0000\n");
    let mut w = Warnings::default();
    let s = parse(&text, &mut w).unwrap();
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(
        s,
        Rt6Stats {
            fib_nodes: 5,
            fib_route_nodes: 4,
            fib_rt_alloc: 14,
            fib_rt_entries: 4,
            fib_rt_cache: 0,
            dst_entries: 2,
            fib_discarded_routes: 0,
        }
    );
}
