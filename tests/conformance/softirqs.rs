//! `/proc/softirqs` and the per-CPU lines of `/proc/stat` against the shared fixtures.

use crate::{read, shared};
use nettune::collect::softirqs::{parse, parse_cpu_times, SoftIrqs};
use nettune::collect::Warnings;

fn parsed(rel: &str) -> Option<SoftIrqs> {
    let text = read(rel)?;
    let mut w = Warnings::default();
    let s = parse(&text, &mut w).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(w.0.is_empty(), "{rel}: {:?}", w.0);
    Some(s)
}

#[test]
fn procfs_softirqs() {
    let Some(s) = parsed("prometheus-procfs/fixtures/proc/softirqs") else {
        return;
    };
    assert_eq!(s.len(), 10);
    assert_eq!(s["HI"][0], 3);
    assert_eq!(s["TIMER"][1], 247490);
    assert_eq!(s["NET_TX"][0], 2419);
    assert_eq!(s["NET_RX"][1], 28694);
    assert_eq!(s["BLOCK"][1], 262755);
    assert_eq!(s["IRQ_POLL"][0], 0);
    assert_eq!(s["TASKLET"][0], 209);
    assert_eq!(s["SCHED"][0], 2278692);
    assert_eq!(s["HRTIMER"][0], 1281);
    assert_eq!(s["RCU"][1], 532783);
}

#[test]
fn node_exporter_softirqs_match_e2e() {
    let Some(s) = parsed("node_exporter/collector/fixtures/proc/softirqs") else {
        return;
    };
    let expected: [(&str, [u64; 2]); 10] = [
        ("HI", [7, 1]),
        ("TIMER", [424191, 108342]),
        ("NET_TX", [2301, 2430]),
        ("NET_RX", [43066, 104508]),
        ("BLOCK", [23776, 24115]),
        ("IRQ_POLL", [0, 0]),
        ("TASKLET", [372, 1899]),
        ("SCHED", [378895, 152852]),
        ("HRTIMER", [40, 346]),
        ("RCU", [155929, 146631]),
    ];
    assert_eq!(s.len(), expected.len());
    for (name, v) in expected {
        assert_eq!(s[name], v.to_vec(), "{name}");
    }
    // And every series of the golden exposition output.
    let e2e = read("node_exporter/e2e-output.network-subset.txt").unwrap();
    let mut n = 0;
    for line in e2e
        .lines()
        .filter(|l| l.starts_with("node_softirqs_functions_total{"))
    {
        let cpu: usize = line
            .split("cpu=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ty = line
            .split("type=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(s[ty][cpu] as f64, value, "{line}");
        n += 1;
    }
    assert_eq!(n, 20);
}

/// `softirqs-1cpu-i686` and `softirqs-1152cpu-x86_64` (named in the fixtures README) wherever
/// they are stored under the shared folder; the CPU count is in the name.
#[test]
fn softirqs_named_by_cpu_count() {
    let Some(dir) = shared() else { return };
    let mut found = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("softirqs-") && n.contains("cpu"))
            {
                found.push(p);
            }
        }
    }
    if found.is_empty() {
        eprintln!("note: no softirqs-<N>cpu-* fixture in the shared folder; covered by unit tests");
    }
    for p in found {
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let ncpu: usize = name["softirqs-".len()..]
            .split("cpu")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        let mut w = Warnings::default();
        let s = parse(&text, &mut w).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(w.0.is_empty(), "{name}: {:?}", w.0);
        assert!(s.contains_key("NET_RX"), "{name}");
        for (k, v) in &s {
            assert_eq!(v.len(), ncpu, "{name} {k}");
        }
    }
}

#[test]
fn stat_cpu_lines() {
    for (rel, guest) in [
        ("prometheus-procfs/fixtures/proc/stat", [0u64, 0]),
        ("node_exporter/collector/fixtures/proc/stat", [2, 1]),
    ] {
        let Some(text) = read(rel) else { return };
        let mut w = Warnings::default();
        let c = parse_cpu_times(&text, &mut w).unwrap();
        assert!(w.0.is_empty(), "{rel}: {:?}", w.0);
        assert_eq!(c.len(), 8, "{rel}: aggregate line ignored");
        assert_eq!(c[0].cpu, 0);
        assert_eq!(
            (c[0].user, c[0].nice, c[0].system, c[0].idle),
            (44490, 19, 21045, 1087069),
            "{rel}"
        );
        assert_eq!(
            (c[0].iowait, c[0].irq, c[0].softirq, c[0].steal),
            (220, 1, 3410, 0)
        );
        assert_eq!([c[0].guest, c[0].guest_nice], guest, "{rel}");
        assert_eq!(c[7].cpu, 7);
        assert_eq!(c[7].nice, 268);
        assert_eq!(c[7].softirq, 31);
    }
}
