//! softnet_stat against prometheus/procfs, node_exporter and hjr3/softnet-stat samples.

use crate::read;
use nettune::collect::softnet::{parse, parse_with_online, SoftnetCpu};
use nettune::collect::Warnings;

fn parse_ok(rel: &str) -> Option<(Vec<SoftnetCpu>, Warnings)> {
    let text = read(rel)?;
    let mut w = Warnings::default();
    let rows = parse(&text, &mut w).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Some((rows, w))
}

/// (processed, dropped, time_squeeze) per row.
fn pdt(rows: &[SoftnetCpu]) -> Vec<(u32, u32, u32)> {
    rows.iter()
        .map(|r| (r.processed, r.dropped, r.time_squeeze))
        .collect()
}

#[test]
fn procfs_softnet_stat_mixed_widths() {
    let Some((r, w)) = parse_ok("prometheus-procfs/fixtures/proc/net/softnet_stat") else {
        return;
    };
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(r.len(), 5);
    // Row 0: 13 columns.
    assert_eq!(pdt(&r[..1]), vec![(3510243, 25219, 0)]);
    assert_eq!(r[0].cpu_collision, Some(0));
    assert_eq!(r[0].received_rps, Some(546300));
    assert_eq!(r[0].flow_limit_count, Some(118));
    assert_eq!(r[0].backlog_len, Some(0));
    assert_eq!(r[0].cpu, 0);
    assert_eq!(r[0].input_qlen, None);
    // Row 1: 13 columns.
    assert_eq!(pdt(&r[1..2]), vec![(9780506, 1094, 177)]);
    assert_eq!(r[1].cpu_collision, Some(0));
    assert_eq!(r[1].received_rps, Some(9366426));
    assert_eq!(r[1].flow_limit_count, Some(43));
    assert_eq!(r[1].backlog_len, Some(220));
    assert_eq!(r[1].cpu, 1);
    // Row 2: 11 columns, CPU = line number.
    assert_eq!(pdt(&r[2..3]), vec![(89203, 134774, 4026533737)]);
    assert_eq!(r[2].cpu_collision, Some(4));
    assert_eq!(r[2].received_rps, Some(3));
    assert_eq!(r[2].flow_limit_count, Some(2));
    assert_eq!(r[2].backlog_len, None);
    assert_eq!(r[2].cpu, 2);
    // Row 3: 9 columns.
    assert_eq!(pdt(&r[3..4]), vec![(23478194, 0, 68004)]);
    assert_eq!(r[3].cpu_collision, Some(134774));
    assert_eq!(r[3].received_rps, None);
    assert_eq!(r[3].flow_limit_count, None);
    assert_eq!(r[3].backlog_len, None);
    assert_eq!(r[3].cpu, 3);
    // Row 4: 10 columns.
    assert_eq!(pdt(&r[4..5]), vec![(36472, 1, 17)]);
    assert_eq!(r[4].cpu_collision, Some(32));
    assert_eq!(r[4].received_rps, Some(16));
    assert_eq!(r[4].flow_limit_count, None);
    assert_eq!(r[4].backlog_len, None);
    assert_eq!(r[4].cpu, 4);
    // With an online list, rows 2-4 (no CPU column) follow it; rows 0-1 keep column 13.
    let text = read("prometheus-procfs/fixtures/proc/net/softnet_stat").unwrap();
    let mut w = Warnings::default();
    let r = parse_with_online(&text, Some(&[0, 1, 4, 6, 7]), &mut w).unwrap();
    let cpus: Vec<u32> = r.iter().map(|c| c.cpu).collect();
    assert_eq!(cpus, vec![0, 1, 4, 6, 7]);
}

#[test]
fn procfs_softnet_stat_broken_is_rejected() {
    let Some(text) = read("prometheus-procfs/fixtures/proc/net/softnet_stat.broken") else {
        return;
    };
    let mut w = Warnings::default();
    assert!(parse(&text, &mut w).is_err());
}

#[test]
fn node_exporter_softnet_stat_11_columns() {
    let Some((r, w)) = parse_ok("node_exporter/collector/fixtures/proc/net/softnet_stat") else {
        return;
    };
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(
        pdt(&r),
        vec![
            (299641, 0, 1),
            (916354, 41, 10),
            (5577791, 0, 85),
            (3113785, 0, 50)
        ]
    );
    for (i, c) in r.iter().enumerate() {
        assert_eq!(c.cpu, i as u32);
        assert_eq!(c.cpu_collision, Some(0));
        assert_eq!(c.received_rps, Some(0));
        assert_eq!(c.flow_limit_count, Some(0));
        // node_exporter prints 0 for the missing column; we say it is not printed.
        assert_eq!(c.backlog_len, None);
    }
}

#[test]
fn hjr3_2_6_32_and_2_6_36() {
    let processed = [
        1842008611, 1863193957, 1711764716, 1640600369, 1737798067, 1686686610,
    ];
    let squeeze = [1, 2, 3, 0, 5, 1];
    for (file, rps) in [
        ("hjr3-softnet-stat/tests/proc-net-softnet_stat-2_6_32", None),
        (
            "hjr3-softnet-stat/tests/proc-net-softnet_stat-2_6_36",
            Some(0),
        ),
    ] {
        let Some((r, w)) = parse_ok(file) else { return };
        assert!(w.0.is_empty(), "{file}: {:?}", w.0);
        assert_eq!(r.len(), 6, "{file}");
        for (i, c) in r.iter().enumerate() {
            assert_eq!(c.processed, processed[i], "{file} row {i}");
            assert_eq!(c.time_squeeze, squeeze[i], "{file} row {i}");
            assert_eq!(c.dropped, 0);
            assert_eq!(c.cpu_collision, Some(0));
            assert_eq!(c.received_rps, rps, "{file}");
            assert_eq!(c.flow_limit_count, None);
            assert_eq!(c.backlog_len, None);
            assert_eq!(c.input_qlen, None);
            assert_eq!(c.process_qlen, None);
            assert_eq!(c.cpu, i as u32);
        }
    }
}

#[test]
fn hjr3_single_line() {
    let mut w = Warnings::default();
    let r = parse(
        "6dcad223 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000",
        &mut w,
    )
    .unwrap();
    let c = &r[0];
    assert_eq!(
        (c.processed, c.dropped, c.time_squeeze, c.cpu_collision),
        (1842008611, 0, 1, Some(0))
    );
    assert_eq!(
        (c.received_rps, c.flow_limit_count, c.backlog_len),
        (None, None, None)
    );
    assert_eq!((c.input_qlen, c.process_qlen), (None, None));
}

#[test]
fn hjr3_3_11() {
    let Some((r, w)) = parse_ok("hjr3-softnet-stat/tests/proc-net-softnet_stat-3_11") else {
        return;
    };
    assert!(w.0.is_empty());
    let processed: Vec<u32> = r.iter().map(|c| c.processed).collect();
    assert_eq!(
        processed,
        vec![142307, 9685, 11468, 9607, 3769, 3439, 4149, 3251]
    );
    for (i, c) in r.iter().enumerate() {
        assert_eq!((c.dropped, c.time_squeeze), (0, 0));
        assert_eq!(c.cpu_collision, Some(0));
        assert_eq!(c.received_rps, Some(0));
        assert_eq!(c.flow_limit_count, Some(0));
        assert_eq!(c.backlog_len, None);
        assert_eq!(c.cpu, i as u32);
    }
}

#[test]
fn hjr3_5_10_47() {
    let Some((r, w)) = parse_ok("hjr3-softnet-stat/tests/proc-net-softnet_stat-5_10_47") else {
        return;
    };
    assert!(w.0.is_empty());
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].processed, r[0].time_squeeze), (425859, 899));
    assert_eq!(r[0].backlog_len, Some(0));
    assert_eq!(r[0].cpu, 0);
    assert_eq!(r[0].input_qlen, None);
    assert_eq!((r[1].processed, r[1].time_squeeze), (27746, 193));
    assert_eq!(r[1].cpu, 1);
    // The CPU column wins over an online list.
    let text = read("hjr3-softnet-stat/tests/proc-net-softnet_stat-5_10_47").unwrap();
    let r = parse_with_online(&text, Some(&[5, 6]), &mut Warnings::default()).unwrap();
    assert_eq!((r[0].cpu, r[1].cpu), (0, 1));
}

#[test]
fn hjr3_6_4_7_no_final_newline() {
    let Some((r, w)) = parse_ok("hjr3-softnet-stat/tests/proc-net-softnet_stat-6_4_7") else {
        return;
    };
    assert!(w.0.is_empty());
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].processed, r[0].time_squeeze), (7910980, 61));
    assert_eq!(r[0].backlog_len, Some(0));
    assert_eq!(r[0].cpu, 0);
    assert_eq!((r[0].input_qlen, r[0].process_qlen), (Some(0), Some(0)));
    assert_eq!((r[1].processed, r[1].time_squeeze), (7151294, 79));
    assert_eq!(r[1].cpu, 1);
    assert!(r[1].extra.is_empty());
}
