//! IRQ placement: NIC queue IRQs concentrated on one CPU or on a remote NUMA node.
//!
//! Snapshots carry `/proc/interrupts` counts but not the IRQ affinity masks, so placement is
//! judged from where the interrupts actually landed over the window (which is also what
//! matters: `effective_affinity` picks one CPU out of `smp_affinity` on x86). The NIC's IRQs
//! are found by handler name ([`irqs_for_device`]); configuration vectors (`virtio0-config`,
//! `mlx5_async`) are left out.

use super::context::{cpu_count, online_cpus};
use super::ids;
use super::thresholds as t;
use super::util::fmt_rate;
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::{Change, ChangeKind};
use crate::collect::interfaces::{Interface, InterfaceKind};
use crate::collect::interrupts::irqs_for_device;
use crate::window::Window;
use std::collections::BTreeMap;

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::IRQ_AFFINITY_CONCENTRATED,
        run: affinity_concentrated,
    },
    Rule {
        name: ids::IRQ_NUMA_REMOTE,
        run: numa_remote,
    },
];

/// One queue IRQ of a NIC and where its interrupts landed over the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueIrq {
    /// The IRQ as `/proc/interrupts` names it (`24`).
    pub irq: String,
    /// Its number.
    pub number: Option<u32>,
    /// The first handler name (`eth0-TxRx-0`, `virtio2-input.0`).
    pub action: String,
    /// (CPU, interrupts per second) for every CPU column.
    pub per_cpu: Vec<(u32, f64)>,
    /// Interrupts per second on all CPUs.
    pub total: f64,
}

impl QueueIrq {
    /// The CPU that took most of this IRQ's interrupts and its share (0–1).
    pub fn hot(&self) -> Option<(u32, f64)> {
        let (cpu, r) = self
            .per_cpu
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .copied()?;
        (self.total > 0.0).then(|| (cpu, r / self.total))
    }
}

/// A handler name that serves packet queues (not configuration, link or mailbox vectors).
pub(crate) fn is_queue_action(action: &str, ifname: &str) -> bool {
    if action == ifname {
        return true; // single-vector NICs name the IRQ after the interface
    }
    let a = action.to_ascii_lowercase();
    const NOT_QUEUE: [&str; 8] = [
        "config", "event", "async", "ctrl", "misc", "lsc", "mbx", "aux",
    ];
    const QUEUE: [&str; 6] = ["rx", "tx", "input", "output", "comp", "queue"];
    !NOT_QUEUE.iter().any(|p| a.contains(p)) && QUEUE.iter().any(|p| a.contains(p))
}

/// The queue IRQs of `ifname` and their per-CPU rates over the window.
pub(crate) fn queue_irqs(w: &Window, ifname: &str, iface: &Interface) -> Vec<QueueIrq> {
    let Some(new) = w.newer.interrupts.ok() else {
        return Vec::new();
    };
    irqs_for_device(new, ifname, iface.device.as_deref())
        .into_iter()
        .filter_map(|line| {
            let action = line.actions().find(|a| is_queue_action(a, ifname))?;
            let per_cpu = w.irq_rates(&line.irq)?;
            let total = per_cpu.iter().map(|(_, r)| r).sum();
            Some(QueueIrq {
                irq: line.irq.clone(),
                number: line.number(),
                action: action.to_string(),
                per_cpu,
                total,
            })
        })
        .collect()
}

/// Interrupts per second per CPU summed over `irqs`.
fn per_cpu_sum(irqs: &[QueueIrq]) -> BTreeMap<u32, f64> {
    let mut m = BTreeMap::new();
    for q in irqs {
        for (cpu, r) in &q.per_cpu {
            *m.entry(*cpu).or_insert(0.0) += r;
        }
    }
    m
}

/// The CPU taking most of `ifname`'s queue interrupts over the window (None for devices
/// without IRQs such as veth, or when none fired).
pub(crate) fn busiest_irq_cpu(w: &Window, ifname: &str, iface: &Interface) -> Option<u32> {
    let mut irqs = queue_irqs(w, ifname, iface);
    // Receive work follows the rx vectors; drop transmit-only ones (`-tx-0`, `-output.0`).
    irqs.retain(|q| {
        let a = q.action.to_ascii_lowercase();
        a.contains("rx") || !(a.contains("tx") || a.contains("output"))
    });
    per_cpu_sum(&irqs)
        .into_iter()
        .filter(|(_, r)| *r > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// Affinity changes placing `irqs` round-robin on `cpus`, skipping IRQs already there. The
/// current value is the IRQ's `smp_affinity_list` from the snapshot, when it was read.
fn spread_affinity(ctx: &Context, irqs: &[&QueueIrq], cpus: &[u32]) -> Vec<Change> {
    let affinity = ctx.newer.irq_affinity.ok();
    if cpus.is_empty() {
        return Vec::new();
    }
    irqs.iter()
        .enumerate()
        .filter_map(|(i, q)| {
            let n = q.number?;
            let cpu = cpus.get(i % cpus.len())?;
            if q.hot()
                .is_some_and(|(h, s)| h == *cpu && s >= t::IRQ_CONCENTRATED_SHARE)
            {
                return None;
            }
            let current = affinity
                .and_then(|a| a.get(&n))
                .map(|l| crate::collect::cpulist::format(l));
            if current.as_deref() == Some(cpu.to_string().as_str()) {
                return None;
            }
            Some(Change::new(
                ChangeKind::IrqAffinity,
                format!("irq {n}"),
                current,
                cpu.to_string(),
            ))
        })
        .collect()
}

/// Evidence lines: each IRQ's rate with its handler name.
fn irq_evidence(dev: &str, irqs: &[&QueueIrq]) -> Vec<Evidence> {
    irqs.iter()
        .map(|q| {
            Evidence::new(
                "interrupts.rate",
                format!("{dev} irq {} ({})", q.irq, q.action),
                q.total,
                "1/s",
            )
        })
        .collect()
}

/// What to say about irqbalance, which may undo affinity changes.
fn irqbalance_note(ctx: &Context) -> &'static str {
    if ctx.host.daemons.irqbalance {
        "irqbalance is running and will move them again unless these IRQs are banned \
         (irqbalance --banirq=N, IRQBALANCE_BANNED_CPULIST) or it is stopped"
    } else {
        "if irqbalance is started later it may move them again"
    }
}

/// Advice for irqbalance, when it runs.
fn irqbalance_advice(ctx: &Context, irqs: &[&QueueIrq]) -> Option<Change> {
    ctx.host.daemons.irqbalance.then(|| {
        let list: Vec<String> = irqs
            .iter()
            .filter_map(|q| q.number.map(|n| format!("--banirq={n}")))
            .collect();
        Change::advice(
            "irqbalance",
            format!(
                "irqbalance runs: keep it off these IRQs ({}) so the placement sticks",
                list.join(" ")
            ),
        )
    })
}

fn affinity_concentrated(ctx: &Context) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(ifaces) = ctx.newer.interfaces.ok() else {
        return Vec::new();
    };
    if cpu_count(ctx) < 2 {
        return Vec::new();
    }
    let cpus = online_cpus(ctx);
    let mut out = Vec::new();
    for (name, iface) in ifaces {
        if iface.kind != InterfaceKind::Physical || iface.rx_queues.len() < 2 {
            continue;
        }
        let irqs = queue_irqs(&w, name, iface);
        let total: f64 = irqs.iter().map(|q| q.total).sum();
        if total < t::IRQ_MIN_RATE {
            continue;
        }
        let active: Vec<&QueueIrq> = irqs
            .iter()
            .filter(|q| q.total >= t::IRQ_ACTIVE_SHARE * total)
            .collect();
        if active.len() < 2 {
            continue;
        }
        let hots: Vec<(u32, f64)> = active.iter().filter_map(|q| q.hot()).collect();
        let Some(&(cpu, _)) = hots.first() else {
            continue;
        };
        if !hots
            .iter()
            .all(|(c, s)| *c == cpu && *s >= t::IRQ_CONCENTRATED_SHARE)
        {
            continue;
        }
        let on_cpu = per_cpu_sum(&irqs).get(&cpu).copied().unwrap_or(0.0);
        let share = on_cpu / total;
        let mut evidence = vec![Evidence::new(
            "interrupts.share",
            format!("{name} cpu{cpu}"),
            share * 100.0,
            "%",
        )];
        evidence.extend(irq_evidence(name, &active));
        let all: Vec<&QueueIrq> = irqs.iter().collect();
        let mut changes = spread_affinity(ctx, &all, &cpus);
        changes.extend(irqbalance_advice(ctx, &all));
        out.push(Finding {
            netns: None,
            id: ids::IRQ_AFFINITY_CONCENTRATED.into(),
            severity: Severity::Warning,
            title: format!(
                "All {} active queue IRQs of {name} fire on CPU {cpu}",
                active.len()
            ),
            detail: format!(
                "{name} has {} receive queues, but cpu{cpu} took {:.0} % of their {} \
                 interrupts/s, so it also runs all of their NAPI polling and the queues give \
                 no parallelism. Spreading the queue IRQs over the CPUs (one queue per CPU) \
                 lets receive side scaling work.",
                iface.rx_queues.len(),
                share * 100.0,
                fmt_rate(total)
            ),
            evidence,
            changes,
            risk: format!(
                "interrupts and softirq work move to the other CPUs and compete with the tasks \
                 there; {}",
                irqbalance_note(ctx)
            ),
            verify: format!(
                "{name}'s queue interrupts spread: no CPU takes more than {:.0} % of them",
                t::IRQ_CONCENTRATED_SHARE * 100.0
            ),
        });
    }
    out
}

/// CPU → NUMA node from the host facts; `None` on hosts with fewer than two nodes.
fn cpu_numa_nodes(ctx: &Context) -> Option<BTreeMap<u32, u32>> {
    if ctx.host.numa_nodes.len() < 2 {
        return None;
    }
    Some(
        ctx.host
            .numa_nodes
            .iter()
            .flat_map(|n| n.cpus.iter().map(move |c| (*c, n.id)))
            .collect(),
    )
}

fn numa_remote(ctx: &Context) -> Vec<Finding> {
    match cpu_numa_nodes(ctx) {
        Some(nodes) => numa_remote_with(ctx, &nodes),
        None => Vec::new(),
    }
}

/// `irq.numa_remote` given the CPU → node map.
pub(crate) fn numa_remote_with(ctx: &Context, nodes: &BTreeMap<u32, u32>) -> Vec<Finding> {
    let Some(w) = ctx.window else {
        return Vec::new();
    };
    let Some(ifaces) = ctx.newer.interfaces.ok() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, iface) in ifaces {
        if iface.kind != InterfaceKind::Physical {
            continue;
        }
        let Some(node) = iface.numa_node else {
            continue;
        };
        let local: Vec<u32> = nodes
            .iter()
            .filter(|(_, n)| **n == node)
            .map(|(c, _)| *c)
            .collect();
        if local.is_empty() {
            continue;
        }
        let irqs = queue_irqs(&w, name, iface);
        let total: f64 = irqs.iter().map(|q| q.total).sum();
        if total < t::IRQ_MIN_RATE {
            continue;
        }
        let remote_rate: f64 = per_cpu_sum(&irqs)
            .iter()
            .filter(|(c, _)| nodes.get(c).is_some_and(|n| *n != node))
            .map(|(_, r)| r)
            .sum();
        let share = remote_rate / total;
        if share < t::IRQ_NUMA_REMOTE_SHARE {
            continue;
        }
        let remote: Vec<&QueueIrq> = irqs
            .iter()
            .filter(|q| {
                q.hot()
                    .is_some_and(|(c, _)| nodes.get(&c).is_some_and(|n| *n != node))
            })
            .collect();
        let mut evidence = vec![Evidence::new(
            "interrupts.remote_share",
            name.clone(),
            share * 100.0,
            "%",
        )];
        evidence.extend(irq_evidence(name, &remote));
        let mut changes = spread_affinity(ctx, &remote, &local);
        changes.extend(irqbalance_advice(ctx, &remote));
        let local_list: Vec<String> = local.iter().map(u32::to_string).collect();
        out.push(Finding {
            netns: None,
            id: ids::IRQ_NUMA_REMOTE.into(),
            severity: Severity::Warning,
            title: format!(
                "{name} sits on NUMA node {node} but {:.0} % of its queue interrupts run on other nodes",
                share * 100.0
            ),
            detail: format!(
                "Packets are DMAed into memory of node {node}; handling them on a CPU of another \
                 node pays cross-node memory latency for every descriptor and packet header. \
                 The queue IRQs belong on the CPUs of node {node} ({}).",
                local_list.join(",")
            ),
            evidence,
            changes,
            risk: format!(
                "node {node}'s CPUs take the interrupt and softirq load; {}",
                irqbalance_note(ctx)
            ),
            verify: format!("{name}'s queue interrupts land on node {node} CPUs"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::host::NumaNode;
    use crate::collect::interfaces::InterfaceKind as K;
    use crate::diagnose::testkit::*;

    fn nic(fx: &mut Fx, queues: u32) {
        let mut eth = iface(K::Physical, queues);
        eth.device = Some("0000:3b:00.0".into());
        eth.numa_node = Some(0);
        fx.iface("eth0", eth);
    }

    #[test]
    fn queue_actions() {
        assert!(is_queue_action("eth0-TxRx-3", "eth0"));
        assert!(is_queue_action("virtio2-input.0", "eth0"));
        assert!(is_queue_action("mlx5_comp3@pci:0000:3b:00.0", "eth0"));
        assert!(is_queue_action("eth0", "eth0"));
        assert!(!is_queue_action("virtio2-config", "eth0"));
        assert!(!is_queue_action("mlx5_async0@pci:0000:3b:00.0", "eth0"));
        assert!(!is_queue_action("virtio3-event", "eth0"));
    }

    #[test]
    fn affinity_concentrated_fires_and_spreads_round_robin() {
        let mut fx = Fx::new(4);
        fx.softnet(&[
            (0, 1.0, 0.0, 0.0),
            (1, 1.0, 0.0, 0.0),
            (2, 1.0, 0.0, 0.0),
            (3, 1.0, 0.0, 0.0),
        ]);
        nic(&mut fx, 4);
        for q in 0..4u32 {
            fx.irq(
                40 + q,
                "PCI-MSIX-0000:3b:00.0",
                &format!("eth0-TxRx-{q}"),
                &[2000.0, 0.0, 0.0, 0.0],
            );
        }
        fx.irq(
            39,
            "PCI-MSIX-0000:3b:00.0",
            "eth0-lsc",
            &[5.0, 0.0, 0.0, 0.0],
        );
        fx.newer.irq_affinity =
            crate::collect::Source::Ok((39..44).map(|i| (i, vec![0, 1, 2, 3])).collect());
        let f = fx.run(affinity_concentrated);
        let f = only(&f, ids::IRQ_AFFINITY_CONCENTRATED);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(f.title, "All 4 active queue IRQs of eth0 fire on CPU 0");
        assert!((evidence(f, "interrupts.share", "eth0 cpu0").unwrap() - 100.0).abs() < 1e-9);
        assert!(
            (evidence(f, "interrupts.rate", "eth0 irq 41 (eth0-TxRx-1)").unwrap() - 2000.0).abs()
                < 1e-9
        );
        // irq 40 stays on cpu0; 41 -> 1, 42 -> 2, 43 -> 3; lsc vector untouched
        assert_eq!(proposed(f, "irq 40"), None);
        assert_eq!(proposed(f, "irq 41"), Some("1"));
        assert_eq!(proposed(f, "irq 43"), Some("3"));
        let c41 = f.changes.iter().find(|c| c.target == "irq 41").unwrap();
        assert_eq!(c41.current.as_deref(), Some("0-3"));
        assert_eq!(
            crate::collect::cpulist::format(&[0, 1, 2, 3, 8, 10, 11]),
            "0-3,8,10-11"
        );
        assert_eq!(proposed(f, "irq 39"), None);
        assert!(f.changes.iter().all(|c| c.kind == ChangeKind::IrqAffinity));
    }

    #[test]
    fn affinity_concentrated_quiet_when_spread_idle_or_one_busy_queue() {
        let mut fx = Fx::new(4);
        nic(&mut fx, 4);
        for q in 0..4u32 {
            let mut r = [0.0; 4];
            r[q as usize] = 2000.0;
            fx.irq(
                40 + q,
                "PCI-MSIX-0000:3b:00.0",
                &format!("eth0-TxRx-{q}"),
                &r,
            );
        }
        assert!(fx.run(affinity_concentrated).is_empty());
        // idle: 4 irqs on cpu0 at 10/s each
        for q in 0..4u32 {
            fx.irq(
                40 + q,
                "PCI-MSIX-0000:3b:00.0",
                &format!("eth0-TxRx-{q}"),
                &[10.0, 0.0, 0.0, 0.0],
            );
        }
        assert!(fx.run(affinity_concentrated).is_empty());
        // a single busy queue (one flow) says nothing about placement
        fx.irq(
            40,
            "PCI-MSIX-0000:3b:00.0",
            "eth0-TxRx-0",
            &[5000.0, 0.0, 0.0, 0.0],
        );
        assert!(fx.run(affinity_concentrated).is_empty());
        assert!(fx.run_static(affinity_concentrated).is_empty());
    }

    #[test]
    fn numa_remote_fires_with_local_cpus() {
        let mut fx = Fx::new(4);
        nic(&mut fx, 2);
        fx.irq(
            40,
            "PCI-MSIX-0000:3b:00.0",
            "eth0-TxRx-0",
            &[0.0, 0.0, 3000.0, 0.0],
        )
        .irq(
            41,
            "PCI-MSIX-0000:3b:00.0",
            "eth0-TxRx-1",
            &[0.0, 0.0, 0.0, 3000.0],
        );
        // no topology (single node): silent
        assert!(fx.run(numa_remote).is_empty());
        fx.host.numa_nodes = vec![
            NumaNode {
                id: 0,
                cpus: vec![0, 1],
            },
            NumaNode {
                id: 1,
                cpus: vec![2, 3],
            },
        ];
        fx.host.daemons.irqbalance = true;
        let f = fx.run(numa_remote);
        let f = only(&f, ids::IRQ_NUMA_REMOTE);
        assert_eq!(f.severity, Severity::Warning);
        assert!((evidence(f, "interrupts.remote_share", "eth0").unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(proposed(f, "irq 40"), Some("0"));
        assert_eq!(proposed(f, "irq 41"), Some("1"));
        assert_eq!(
            proposed(f, "irqbalance").map(|p| p.contains("--banirq=40 --banirq=41")),
            Some(true)
        );
        assert!(f.risk.contains("irqbalance is running"), "{}", f.risk);
        // local placement: quiet
        fx.irq(
            40,
            "PCI-MSIX-0000:3b:00.0",
            "eth0-TxRx-0",
            &[3000.0, 0.0, 0.0, 0.0],
        )
        .irq(
            41,
            "PCI-MSIX-0000:3b:00.0",
            "eth0-TxRx-1",
            &[0.0, 3000.0, 0.0, 0.0],
        );
        assert!(fx.run(numa_remote).is_empty());
        assert!(fx.run_static(numa_remote).is_empty());
    }

    #[test]
    fn busiest_irq_cpu_of_virtio() {
        let mut fx = Fx::new(2);
        let mut eth = iface(K::Physical, 1);
        eth.device = Some("virtio2".into());
        fx.iface("eth0", eth.clone())
            .irq(37, "PCI-MSIX-0000:00:03.0", "virtio2-config", &[100.0, 0.0])
            .irq(
                38,
                "PCI-MSIX-0000:00:03.0",
                "virtio2-input.0",
                &[0.0, 147.0],
            )
            .irq(
                39,
                "PCI-MSIX-0000:00:03.0",
                "virtio2-output.0",
                &[120.0, 0.0],
            )
            .irq(41, "PCI-MSIX-0000:00:04.0", "virtio3-rx", &[900.0, 0.0]);
        let w = Window::new(&fx.older, &fx.newer, &fx.host).unwrap();
        let q = queue_irqs(&w, "eth0", &eth);
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].action, "virtio2-input.0");
        assert!((q[0].total - 147.0).abs() < 1e-9);
        assert_eq!(busiest_irq_cpu(&w, "eth0", &eth), Some(1));
    }
}
