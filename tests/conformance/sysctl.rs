//! The sysctl tree reader against node_exporter's `proc/sys/net/netfilter` sample
//! (`node_nf_conntrack_entries 123`, `node_nf_conntrack_entries_limit 65536`).

use crate::shared;
use nettune::collect::sysctl::{read, read_one};
use nettune::collect::{FileBuf, Warnings};
use nettune::Root;

#[test]
fn node_exporter_netfilter_sysctls() {
    let Some(dir) = shared() else {
        return;
    };
    let fixtures = dir.join("node_exporter/collector/fixtures");
    let root = Root::new(fixtures.join("proc"), fixtures.join("sys"));
    let mut w = Warnings::default();
    let mut buf = FileBuf::new();
    let s = read(&mut buf, &root, &mut w);
    let s = s.ok().expect("sysctls from the node_exporter fixture");
    assert_eq!(
        s.get("net.netfilter.nf_conntrack_count")
            .map(String::as_str),
        Some("123")
    );
    assert_eq!(
        s.get("net.netfilter.nf_conntrack_max").map(String::as_str),
        Some("65536")
    );
    assert_eq!(
        read_one(&mut buf, &root, "net/netfilter/nf_conntrack_max").unwrap(),
        "65536"
    );
}
