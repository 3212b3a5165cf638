//! The text parsers of the sources an archive adds (`kernel_log`, `qdisc`, `netlink`)
//! against the trimmed sosreports in `../shared/fixtures/sos`: the reader of `check
//! --archive` hands them these files.

use super::read;
use nettune::collect::kmsg::{classify, parse_log_text, LogSpan};
use nettune::collect::{netlink, qdisc, Warnings};

#[test]
fn kern_log_of_the_openstack_sosreport() {
    let Some(text) = read("sos/hotsos-openstack/var/log/kern.log") else {
        return;
    };
    let log = parse_log_text(&text)
        .ok()
        .cloned()
        .expect("kern.log parses");
    assert_eq!(log.span, LogSpan::File);
    // Every line of this file is a kernel line.
    assert_eq!(
        log.scanned,
        text.lines().filter(|l| !l.trim().is_empty()).count() as u64
    );
    // Its suppressed callbacks are kauditd's, not the network's: nothing is kept.
    assert!(log.records.is_empty(), "{:?}", log.records.first());
    assert!(text.contains("kauditd_printk_skb: 19 callbacks suppressed"));
    assert!(classify("kauditd_printk_skb: 19 callbacks suppressed").is_none());
}

#[test]
fn tc_qdisc_of_both_sosreports() {
    for (rel, n, dev, sent) in [
        (
            "sos/hotsos-openstack/sos_commands/networking/tc_-s_qdisc_show",
            19,
            "ens3",
            31_001_186,
        ),
        (
            "sos/hotsos-rabbitmq/sos_commands/networking/tc_-s_qdisc_show",
            2,
            "lo",
            0,
        ),
    ] {
        let Some(text) = read(rel) else { return };
        let mut w = Warnings::default();
        let q = qdisc::parse_tc_text(&text, &mut w);
        let q = q.ok().unwrap_or_else(|| panic!("{rel}: {}", q.status()));
        assert!(w.0.is_empty(), "{rel}: {:?}", w.0);
        assert_eq!(q.len(), n, "{rel}");
        let top = q.iter().find(|x| x.device == dev && x.is_top()).unwrap();
        assert_eq!(top.packets, sent, "{rel}");
        assert!(
            q.iter().all(|x| x.drops == 0),
            "{rel}: no drops in these reports"
        );
    }
}

#[test]
fn proc_net_netlink_of_the_rabbitmq_sosreport() {
    let Some(text) = read("sos/hotsos-rabbitmq/proc/123803/net/netlink") else {
        return;
    };
    let mut w = Warnings::default();
    let n = netlink::parse(&text, &mut w).expect("netlink parses");
    assert!(w.0.is_empty(), "{:?}", w.0);
    assert_eq!(n.sockets, 23);
    assert!(n.dropping.is_empty());
}
