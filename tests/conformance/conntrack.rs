//! Conntrack sysctls and `/proc/net/stat/nf_conntrack` against the shared fixtures.

use crate::{read, shared};
use nettune::collect::conntrack::{self, parse_stat, totals, ConntrackCpuStat};
use nettune::collect::{FileBuf, Source, Warnings};
use nettune::Root;

fn rows(rel: &str) -> Option<Vec<ConntrackCpuStat>> {
    let text = read(rel)?;
    let mut w = Warnings::default();
    let r = parse_stat(&text, &mut w).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(w.0.is_empty(), "{rel}: {:?}", w.0);
    Some(r)
}

#[test]
fn procfs_conntrack_stat() {
    let Some(r) = rows("prometheus-procfs/inline/net_stat_nf_conntrack.TestParseConntrackStat")
    else {
        return;
    };
    assert_eq!(r.len(), 4);
    for row in &r {
        assert_eq!(row.entries, Some(33));
        assert_eq!(row.found, Some(0));
        assert_eq!(row.insert, Some(0));
        assert_eq!(row.insert_failed, Some(0));
        assert_eq!(row.drop, Some(0));
        assert_eq!(row.early_drop, Some(0));
        assert!(
            row.searched.is_some() && row.delete_list.is_some(),
            "old header"
        );
        assert_eq!(row.clashres, None);
    }
    let col = |f: fn(&ConntrackCpuStat) -> Option<u64>| r.iter().map(f).collect::<Vec<_>>();
    assert_eq!(col(|x| x.invalid), [3, 2, 1, 47].map(Some));
    assert_eq!(col(|x| x.ignore), [22666, 22180, 22740, 22152].map(Some));
    assert_eq!(col(|x| x.search_restart), [0, 2, 1, 4].map(Some));
}

#[test]
fn procfs_old_conntrack_stat() {
    let Some(r) = rows("prometheus-procfs/inline/net_stat_nf_conntrack.TestParseOldConntrackStat")
    else {
        return;
    };
    assert_eq!(r.len(), 1);
    let x = &r[0];
    assert_eq!(x.entries, Some(43));
    assert_eq!(x.searched, Some(202143));
    assert_eq!(x.found, Some(48658538));
    assert_eq!(x.new, Some(1320290));
    assert_eq!(x.invalid, Some(114579));
    assert_eq!(x.ignore, Some(14786641));
    assert_eq!(x.delete, Some(1320247));
    assert_eq!(x.delete_list, Some(757728));
    assert_eq!(x.insert, Some(757771));
    assert_eq!(x.insert_failed, Some(0));
    assert_eq!(x.drop, Some(0));
    assert_eq!(x.early_drop, Some(0));
    assert_eq!(x.icmp_error, Some(0x1b46a));
    // 16 columns: this kernel did not print search_restart (procfs reports 0, we say null).
    assert_eq!(x.search_restart, None);
    assert_eq!(totals(&r).search_restart, None);
}

#[test]
fn node_exporter_conntrack_e2e() {
    let Some(dir) = shared() else { return };
    let proc = dir.join("node_exporter/collector/fixtures/proc");
    let root = Root::new(&proc, dir.join("node_exporter/collector/fixtures/sys"));
    let mut w = Warnings::default();
    let Source::Ok(c) = conntrack::read(&mut FileBuf::new(), &root, &mut w) else {
        panic!("node_exporter conntrack fixture not read");
    };
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(c.count, Some(123), "node_nf_conntrack_entries");
    assert_eq!(c.max, Some(65536), "node_nf_conntrack_entries_limit");
    assert_eq!(c.buckets, None, "no nf_conntrack_buckets in this fixture");
    let t = c.totals().unwrap();
    assert_eq!(t.found, Some(0));
    assert_eq!(t.invalid, Some(53));
    assert_eq!(t.ignore, Some(89738));
    assert_eq!(t.insert, Some(0));
    assert_eq!(t.insert_failed, Some(0));
    assert_eq!(t.drop, Some(0));
    assert_eq!(t.early_drop, Some(0));
    assert_eq!(t.search_restart, Some(7));
    assert_eq!(t.entries, Some(33), "gauge from the table, not summed");
    let j = serde_json::to_value(&c).unwrap();
    assert_eq!(j["count"], 123);
    assert_eq!(j["max"], 65536);
}
