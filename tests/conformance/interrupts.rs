//! `/proc/interrupts` against prometheus procfs and node_exporter fixtures (EXPECTED.md).

use crate::read;
use nettune::collect::interrupts::{irqs_for_device, parse, Interrupts};
use nettune::collect::Warnings;

fn parsed(rel: &str) -> Option<Interrupts> {
    let text = read(rel)?;
    let mut w = Warnings::default();
    let i = parse(&text, &mut w).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(w.0.is_empty(), "{rel}: {:?}", w.0);
    Some(i)
}

#[test]
fn procfs_interrupts() {
    let Some(i) = parsed("prometheus-procfs/fixtures/proc/interrupts") else {
        return;
    };
    assert_eq!(i.lines.len(), 47, "blank line skipped");
    assert_eq!(i.cpus, vec![0, 1, 2, 3]);
    let l = i.get("0").unwrap();
    assert_eq!(l.info, "IO-APIC");
    assert_eq!(l.devices, "2-edge timer");
    assert_eq!(l.counts, vec![49, 0, 0, 0]);
    assert_eq!(l.actions().collect::<Vec<_>>(), vec!["timer"]);
    let piw = i.get("PIW").unwrap();
    assert_eq!(piw.info, "Posted-interrupt wakeup event");
    assert_eq!(piw.devices, "");
    assert_eq!(piw.counts, vec![0, 0, 0, 0]);
    let loc = i.get("LOC").unwrap();
    assert_eq!(loc.info, "Local timer interrupts");
    assert_eq!(loc.counts, vec![10196, 7429, 8542, 8229]);
    let err = i.get("ERR").unwrap();
    assert_eq!(err.info, "");
    assert_eq!(err.counts, vec![0], "single-value line");
    // virtio NIC queues carry the virtio device name, not the interface name.
    let nic: Vec<_> = irqs_for_device(&i, "eth0", Some("virtio0"))
        .iter()
        .map(|l| l.irq.as_str())
        .collect();
    assert_eq!(nic, vec!["35", "36", "37"]);
    assert_eq!(i.get("36").unwrap().counts, vec![0, 335, 37, 0]);
}

/// Labels of one exposition line: `name{k="v",...} value` → (labels, value).
fn exposition(line: &str) -> (Vec<(String, String)>, f64) {
    let open = line.find('{').unwrap();
    let close = line.rfind('}').unwrap();
    let mut labels = Vec::new();
    let mut rest = &line[open + 1..close];
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches(',').to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').unwrap();
        labels.push((key, after[..end].to_string()));
        rest = &after[end + 1..];
    }
    let value: f64 = line[close + 1..].trim().parse().unwrap();
    (labels, value)
}

fn label<'a>(labels: &'a [(String, String)], key: &str) -> &'a str {
    &labels.iter().find(|(k, _)| k == key).unwrap().1
}

#[test]
fn node_exporter_interrupts() {
    let Some(i) = parsed("node_exporter/collector/fixtures/proc/interrupts") else {
        return;
    };
    let nmi = i.get("NMI").unwrap();
    assert_eq!(nmi.counts[1], 5031);
    assert_eq!(nmi.counts[3], 4968);
    let kbd = i.get("12").unwrap();
    assert_eq!(kbd.info, "IR-IO-APIC-edge");
    assert_eq!(kbd.devices, "i8042");
    assert_eq!(kbd.actions().collect::<Vec<_>>(), vec!["i8042"]);
    assert_eq!(
        i.get("16").unwrap().actions().collect::<Vec<_>>(),
        vec!["ehci_hcd:usb1", "mmc0"]
    );
    let wifi: Vec<_> = irqs_for_device(&i, "wlan0", Some("iwlwifi"))
        .iter()
        .map(|l| l.irq.as_str())
        .collect();
    assert_eq!(wifi, vec!["46"]);

    // Every node_interrupts_total series of the e2e golden output, value for value.
    let e2e = read("node_exporter/e2e-output.network-subset.txt").unwrap();
    let mut series = 0;
    for line in e2e
        .lines()
        .filter(|l| l.starts_with("node_interrupts_total{"))
    {
        let (labels, value) = exposition(line);
        let l = i
            .get(label(&labels, "type"))
            .unwrap_or_else(|| panic!("{line}"));
        let cpu: usize = label(&labels, "cpu").parse().unwrap();
        assert_eq!(l.info, label(&labels, "info"), "{line}");
        assert_eq!(l.devices, label(&labels, "devices"), "{line}");
        assert_eq!(l.counts[cpu] as f64, value, "{line}");
        series += 1;
    }
    assert_eq!(series, 112);
    // node_exporter skips ERR and MIS (one value each); 28 full lines x 4 CPUs = 112.
    let full = i.lines.iter().filter(|l| l.counts.len() == 4).count();
    assert_eq!(full * 4, series);
    assert_eq!(i.get("ERR").unwrap().counts, vec![0]);
    assert_eq!(i.get("MIS").unwrap().counts, vec![0]);
}

#[test]
fn node_exporter_interrupts_aarch64() {
    let Some(i) = parsed("node_exporter/collector/fixtures/proc/interrupts_aarch64") else {
        return;
    };
    assert_eq!(i.cpus, (0..8).collect::<Vec<u32>>());
    let ipi0 = i.get("IPI0").expect("IPI0 glued to its first count");
    assert_eq!(ipi0.counts.len(), 8);
    assert_eq!(ipi0.counts[0], 2768808080);
    assert_eq!(ipi0.counts[7], 2154252810);
    assert_eq!(ipi0.info, "Rescheduling interrupts");
    let timer = i.get("10").unwrap();
    assert_eq!(timer.info, "GICv3");
    assert_eq!(timer.actions().collect::<Vec<_>>(), vec!["arch_timer"]);
    assert_eq!(i.get("50").unwrap().info, "ARMH0061:00");
    assert_eq!(i.get("Err").unwrap().counts, vec![0]);
    // ENA names its queue vectors eth0-Tx-Rx-N; the management vector is not eth0's.
    let ena: Vec<_> = irqs_for_device(&i, "eth0", None)
        .iter()
        .filter_map(|l| l.number())
        .collect();
    assert_eq!(ena, (58..=65).collect::<Vec<u32>>());
    assert_eq!(i.get("61").unwrap().counts[0], 2052879736);
}
