//! `/proc/interrupts` (per-CPU counts per IRQ line) and `/proc/irq/N/smp_affinity_list`.
//!
//! Owns the parser for every layout seen in the wild: x86 (`IO-APIC 2-edge timer`, the older
//! `IR-IO-APIC-edge i8042`), MSI-X with the device in the chip name
//! (`PCI-MSIX-0000:00:04.0 1-edge virtio3-rx`), ARM (`GICv3 27 Level arch_timer`, IPI lines
//! whose 10-digit counts are glued to the colon: `IPI0:2768808080 …`), s390 names such as
//! `I/O:`, single-value lines (`ERR:`, `MIS:`), blank lines, and thousands of CPU columns.
//! The `info`/`devices` split follows prometheus procfs and node_exporter, so their tests hold.
//!
//! Also finds the IRQs of a network device by name ([`irqs_for_device`]) and reads their CPU
//! affinity ([`read_affinity`], [`read_effective_affinity`]).

use super::{cpulist, parse_dec, FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Warning / error source label.
const SOURCE: &str = "interrupts";

/// All IRQ lines of `/proc/interrupts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interrupts {
    /// CPU number of each count column, from the header (`CPU0 CPU2` → `[0, 2]`). The kernel
    /// prints only online CPUs, so the numbers may have gaps; `counts[i]` belongs to `cpus[i]`.
    #[serde(default)]
    pub cpus: Vec<u32>,
    /// One entry per non-blank line after the header, in file order.
    pub lines: Vec<Interrupt>,
}

/// One line of `/proc/interrupts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interrupt {
    /// The IRQ number or name before the colon (`24`, `NMI`, `LOC`, `IPI0`, `I/O`).
    pub irq: String,
    /// Interrupts handled per CPU column since boot (column `i` is CPU `Interrupts::cpus[i]`).
    /// Lines such as `ERR:` and `MIS:` carry a single system-wide value, so this may be
    /// shorter than the header.
    pub counts: Vec<u64>,
    /// For a numbered IRQ: the interrupt chip, the first token after the counts (`IO-APIC`,
    /// `PCI-MSIX-0000:00:04.0`, `GICv3`, or the old combined `IR-IO-APIC-edge`). For a named
    /// line: the whole description (`Local timer interrupts`). Empty when nothing follows the
    /// counts. Same as prometheus procfs `Info`.
    #[serde(default)]
    pub info: String,
    /// For a numbered IRQ: everything after the chip with whitespace collapsed to single
    /// spaces: hardware IRQ number and trigger, then the handlers (`2-edge timer`,
    /// `27 Level arch_timer`, `ehci_hcd:usb1, mmc0`). Empty for named lines. Same as
    /// prometheus procfs `Devices`; see [`Interrupt::actions`] for just the handler names.
    #[serde(default)]
    pub devices: String,
}

impl Interrupt {
    /// The IRQ number, for numbered lines (`None` for `NMI`, `LOC`, `IPI0`, …).
    pub fn number(&self) -> Option<u32> {
        parse_dec::<u32>(&self.irq)
    }

    /// Sum of the per-CPU counts (saturating).
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// The handler (action) names of a numbered IRQ: `devices` without the hardware IRQ
    /// number and trigger, split at the kernel's `, ` separator
    /// (`2-edge timer` → `timer`; `ehci_hcd:usb1, mmc0` → `ehci_hcd:usb1`, `mmc0`).
    /// Empty for named lines and for IRQs without a handler.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        let rest = if self.number().is_some() {
            strip_hwirq_prefix(&self.devices, &self.info)
        } else {
            ""
        };
        rest.split(',').map(str::trim).filter(|s| !s.is_empty())
    }
}

impl Interrupts {
    /// The line named `irq` (`"24"`, `"NMI"`).
    pub fn get(&self, irq: &str) -> Option<&Interrupt> {
        self.lines.iter().find(|l| l.irq == irq)
    }

    /// The CPU number of count column `col`.
    pub fn cpu_of_column(&self, col: usize) -> Option<u32> {
        self.cpus.get(col).copied()
    }
}

/// Parse `/proc/interrupts` text.
///
/// The first non-blank line is the `CPUn` header. Every other non-blank line is
/// `NAME: counts… [chip/description…]`; up to one count per header column is taken (fewer is
/// fine). Lines without a colon and header tokens that are not `CPUn` become warnings. A file
/// without one IRQ line is an error.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<Interrupts> {
    let mut out = Interrupts::default();
    let mut header_seen = false;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            if parse_header(line, line_no, &mut out.cpus, warnings) {
                continue;
            }
        }
        match parse_line(line, out.cpus.len()) {
            Some(intr) => out.lines.push(intr),
            None => warnings.push(SOURCE, Some(line_no), "line has no `NAME:` prefix; skipped"),
        }
    }
    if out.lines.is_empty() {
        return Err(Error::Parse {
            path: PathBuf::from(SOURCE),
            line: 0,
            what: "no interrupt line".to_string(),
        });
    }
    if out.cpus.is_empty() {
        // No header: number the columns 0..n from the widest line.
        let n = out.lines.iter().map(|l| l.counts.len()).max().unwrap_or(0);
        out.cpus = (0..n as u32).collect();
    }
    Ok(out)
}

/// Parse the `CPU0 CPU1 …` header into `cpus`. Returns false (and records nothing) when the
/// line is not a header at all (it has a colon), so it can be parsed as an IRQ line.
fn parse_header(line: &str, line_no: usize, cpus: &mut Vec<u32>, warnings: &mut Warnings) -> bool {
    if line.contains(':') {
        warnings.push(
            SOURCE,
            Some(line_no),
            "no `CPUn` header line; count columns numbered from 0",
        );
        return false;
    }
    let mut bad = 0usize;
    for (col, tok) in line.split_ascii_whitespace().enumerate() {
        match tok.strip_prefix("CPU").and_then(parse_dec::<u32>) {
            Some(n) => cpus.push(n),
            None => {
                bad += 1;
                cpus.push(u32::try_from(col).unwrap_or(u32::MAX));
            }
        }
    }
    if bad > 0 {
        warnings.push(
            SOURCE,
            Some(line_no),
            format!("{bad} header column(s) are not `CPUn`; numbered by position"),
        );
    }
    true
}

/// Parse one IRQ line; `None` when it has no colon or an empty name.
fn parse_line(line: &str, ncpu: usize) -> Option<Interrupt> {
    let (name, rest) = line.split_once(':')?;
    let name = name.trim_ascii();
    if name.is_empty() {
        return None;
    }
    let max_counts = if ncpu == 0 { usize::MAX } else { ncpu };
    let mut counts = Vec::with_capacity(ncpu.min(8192));
    let mut toks = rest.split_ascii_whitespace().peekable();
    while counts.len() < max_counts {
        match toks.peek().and_then(|t| parse_dec::<u64>(t)) {
            Some(v) => {
                counts.push(v);
                toks.next();
            }
            None => break,
        }
    }
    let numbered = parse_dec::<u32>(name).is_some();
    let mut info = String::new();
    let mut devices = String::new();
    if numbered {
        if let Some(chip) = toks.next() {
            info.push_str(chip);
        }
        join_into(&mut devices, toks);
    } else {
        join_into(&mut info, toks);
    }
    Some(Interrupt {
        irq: name.to_string(),
        counts,
        info,
        devices,
    })
}

/// Append the tokens to `out` separated by single spaces.
fn join_into<'a>(out: &mut String, toks: impl Iterator<Item = &'a str>) {
    for t in toks {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
}

/// Flow handler names the kernel appends to the hwirq (`2-edge`) or, on old kernels, to the
/// chip name (`IO-APIC-edge`).
const FLOW_NAMES: &[&str] = &[
    "edge",
    "level",
    "fasteoi",
    "simple",
    "percpu",
    "percpu_devid",
    "eoi",
];

/// Old kernels print `CHIP-flow` (`IR-IO-APIC-edge`) and no hardware IRQ number.
fn chip_has_flow(info: &str) -> bool {
    info.rsplit_once('-')
        .is_some_and(|(_, flow)| FLOW_NAMES.contains(&flow))
}

/// `27`, `2-edge`, `114688-fasteoi`, or `-edge` (no IRQ domain).
fn is_hwirq_token(tok: &str) -> bool {
    let (num, flow) = match tok.split_once('-') {
        Some((n, f)) => (n, Some(f)),
        None => (tok, None),
    };
    let num_ok = num.bytes().all(|b| b.is_ascii_digit());
    let flow_ok = flow
        .is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    num_ok && flow_ok && !(num.is_empty() && flow.is_none())
}

/// Strip the `hwirq[-flow] [Level|Edge] [-flow]` prefix from a numbered IRQ's devices text.
fn strip_hwirq_prefix<'a>(devices: &'a str, info: &str) -> &'a str {
    let mut rest = devices.trim_ascii_start();
    // Stage 0: hardware IRQ number (absent on old kernels that glue the flow to the chip).
    let mut stage = if chip_has_flow(info) { 1 } else { 0 };
    loop {
        let (tok, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let skip = match stage {
            0 => is_hwirq_token(tok),
            1 => tok == "Level" || tok == "Edge",
            2 => tok.len() > 1 && tok.starts_with('-'),
            _ => false,
        };
        if stage > 2 {
            return rest;
        }
        stage += 1;
        if skip {
            rest = tail.trim_ascii_start();
        }
    }
}

/// Read `<proc>/interrupts`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Interrupts> {
    super::read_with(buf, &root.proc("interrupts"), warnings, parse)
}

/// True when `hay` contains `name` as a whole component: preceded by the start or a
/// non-alphanumeric byte and followed by the end or a non-alphanumeric byte (so `eth1` does
/// not match `eth10-TxRx-0` and `eth0` does not match `veth0`).
fn contains_component(hay: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(pos) = hay.get(from..).and_then(|h| h.find(name)) {
        let start = from + pos;
        let end = start + name.len();
        let before_ok = start == 0
            || bytes
                .get(start - 1)
                .is_some_and(|b| !b.is_ascii_alphanumeric());
        let after_ok = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while from < hay.len() && !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// The IRQ lines of a network device, found by handler name.
///
/// An IRQ belongs to the device when one of its handler names ([`Interrupt::actions`])
/// contains `ifname` or `driver_dev` as a whole component: `eth0-TxRx-3` (ixgbe, igb, bnxt),
/// `eth0-Tx-Rx-7` (ENA), `i40e-eth0-TxRx-0` (i40e, ice), `eth0` (single-vector NICs).
/// Some drivers do not use the interface name, so pass what they use as `driver_dev`: the
/// sysfs device name for virtio (`virtio0` matches `virtio0-input.0`), the PCI address for
/// mlx5 (`0000:3b:00.0` matches `mlx5_comp3@pci:0000:3b:00.0`), or the driver name for
/// drivers that name vectors after themselves (`iwlwifi`, `iwlwifi:queue_1`).
/// The result includes configuration / management vectors (`virtio0-config`) in file order.
pub fn irqs_for_device<'a>(
    interrupts: &'a Interrupts,
    ifname: &str,
    driver_dev: Option<&str>,
) -> Vec<&'a Interrupt> {
    interrupts
        .lines
        .iter()
        .filter(|l| {
            l.actions().any(|a| {
                contains_component(a, ifname)
                    || driver_dev.is_some_and(|d| contains_component(a, d))
            })
        })
        .collect()
}

/// Read `<proc>/irq/N/smp_affinity_list` (the CPUs an IRQ may be delivered to, as set by the
/// administrator or irqbalance) for each IRQ number. IRQs whose file is missing (the IRQ went
/// away), unreadable or malformed are left out with a warning.
pub fn read_affinity(
    buf: &mut FileBuf,
    root: &Root,
    irqs: &[u32],
    warnings: &mut Warnings,
) -> BTreeMap<u32, Vec<u32>> {
    read_irq_cpulists(buf, root, irqs, "smp_affinity_list", warnings)
}

/// Read `<proc>/irq/N/effective_affinity_list` (the CPUs the interrupt controller actually
/// targets; on x86 usually a single CPU out of `smp_affinity_list`). Same rules as
/// [`read_affinity`]; kernels before 4.15 do not have the file.
pub fn read_effective_affinity(
    buf: &mut FileBuf,
    root: &Root,
    irqs: &[u32],
    warnings: &mut Warnings,
) -> BTreeMap<u32, Vec<u32>> {
    read_irq_cpulists(buf, root, irqs, "effective_affinity_list", warnings)
}

fn read_irq_cpulists(
    buf: &mut FileBuf,
    root: &Root,
    irqs: &[u32],
    file: &str,
    warnings: &mut Warnings,
) -> BTreeMap<u32, Vec<u32>> {
    let mut out = BTreeMap::new();
    for &irq in irqs {
        let path = root.proc(&format!("irq/{irq}/{file}"));
        match buf.read(&path) {
            Ok(text) => match cpulist::parse(text) {
                Some(cpus) => {
                    out.insert(irq, cpus);
                }
                None => warnings.push(
                    &path.display().to_string(),
                    None,
                    format!("not a CPU list: {:?}", text.trim_ascii()),
                ),
            },
            Err(e) => warnings.push(
                &path.display().to_string(),
                None,
                format!("cannot read IRQ {irq} affinity: {e}"),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::vm as vm_root;
    use proptest::prelude::*;

    #[test]
    fn parses_vm_capture() {
        let mut w = Warnings::default();
        let mut buf = FileBuf::new();
        let Source::Ok(i) = read(&mut buf, &vm_root(), &mut w) else {
            panic!("vm interrupts not parsed");
        };
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(i.cpus, vec![0, 1]);
        assert_eq!(i.lines.len(), 35);
        let l = i.get("38").unwrap();
        assert_eq!(l.counts, vec![0, 1448]);
        assert_eq!(l.info, "PCI-MSIX-0000:00:03.0");
        assert_eq!(l.devices, "1-edge virtio2-input.0");
        assert_eq!(l.actions().collect::<Vec<_>>(), vec!["virtio2-input.0"]);
        assert_eq!(i.get("39").unwrap().counts, vec![1180, 0]);
        let loc = i.get("LOC").unwrap();
        assert_eq!(loc.counts, vec![20417, 22876]);
        assert_eq!(loc.info, "Local timer interrupts");
        assert_eq!(loc.devices, "");
        assert_eq!(loc.actions().count(), 0);
        let err = i.get("ERR").unwrap();
        assert_eq!(err.counts, vec![0]);
        assert_eq!(err.info, "");
        let acpi = i.get("24").unwrap();
        assert_eq!(acpi.info, "IO-APIC");
        assert_eq!(acpi.actions().collect::<Vec<_>>(), vec!["ACPI:Ged"]);

        // eth0 on this VM is virtio2 (sysfs device name): config, input.0, output.0.
        let eth0 = irqs_for_device(&i, "eth0", Some("virtio2"));
        let nums: Vec<_> = eth0.iter().filter_map(|l| l.number()).collect();
        assert_eq!(nums, vec![37, 38, 39]);
        // Without the device name nothing on this VM carries "eth0".
        assert!(irqs_for_device(&i, "eth0", None).is_empty());

        let aff = read_affinity(&mut buf, &vm_root(), &[38, 39, 41, 4242], &mut w);
        assert_eq!(aff.get(&38), Some(&vec![0, 1]));
        assert_eq!(aff.get(&39), Some(&vec![0, 1]));
        assert_eq!(aff.get(&41), Some(&vec![0, 1]));
        assert!(!aff.contains_key(&4242));
        assert_eq!(w.0.len(), 1, "missing IRQ dir is one warning");
        let eff = read_effective_affinity(&mut buf, &vm_root(), &[38, 39], &mut w);
        assert_eq!(eff.get(&38), Some(&vec![1]));
        assert_eq!(eff.get(&39), Some(&vec![0]));
    }

    #[test]
    fn glued_counts_gaps_and_odd_lines() {
        let text = "           CPU0       CPU2       CPU5\n\
                    \n\
                     10: 3287008667 3310445093 3301386305     GICv3  27 Level     arch_timer\n\
                    IPI0:2768808080 2844211768 2878602432       Rescheduling interrupts\n\
                     50:          0          0          0  ARMH0061:00   3 Edge      ACPI:Event\n\
                     16:     328511     322879     293782  IR-IO-APIC-fasteoi   ehci_hcd:usb1, mmc0\n\
                     I/O:       174        223          1   [I/O] something\n\
                    garbage without colon\n\
                    Err:          0\n";
        let mut w = Warnings::default();
        let i = parse(text, &mut w).unwrap();
        assert_eq!(i.cpus, vec![0, 2, 5]);
        assert_eq!(i.lines.len(), 6);
        assert_eq!(w.0.len(), 1);
        assert_eq!(w.0[0].line, Some(8));
        let t = i.get("10").unwrap();
        assert_eq!(t.counts, vec![3287008667, 3310445093, 3301386305]);
        assert_eq!(t.info, "GICv3");
        assert_eq!(t.devices, "27 Level arch_timer");
        assert_eq!(t.actions().collect::<Vec<_>>(), vec!["arch_timer"]);
        assert_eq!(t.total(), 3287008667 + 3310445093 + 3301386305);
        let ipi = i.get("IPI0").unwrap();
        assert_eq!(ipi.counts[0], 2768808080);
        assert_eq!(ipi.info, "Rescheduling interrupts");
        let acpi = i.get("50").unwrap();
        assert_eq!(acpi.info, "ARMH0061:00");
        assert_eq!(acpi.actions().collect::<Vec<_>>(), vec!["ACPI:Event"]);
        let usb = i.get("16").unwrap();
        assert_eq!(
            usb.actions().collect::<Vec<_>>(),
            vec!["ehci_hcd:usb1", "mmc0"]
        );
        assert_eq!(i.get("I/O").unwrap().counts, vec![174, 223, 1]);
        assert_eq!(i.get("Err").unwrap().counts, vec![0]);
    }

    #[test]
    fn finds_nic_irqs_by_name() {
        let text = "  CPU0 CPU1\n\
                     58: 1 0 ITS-MSI 81921 Edge eth0-Tx-Rx-0\n\
                     59: 0 1 ITS-MSI 81922 Edge eth0-Tx-Rx-1\n\
                     60: 0 1 IR-PCI-MSI 1-edge eth10-TxRx-0\n\
                     61: 0 1 IR-PCI-MSI 2-edge i40e-eth1-TxRx-0\n\
                     62: 0 1 IR-PCI-MSI 3-edge mlx5_comp3@pci:0000:3b:00.0\n\
                     63: 5 0 IR-PCI-MSI-edge iwlwifi\n\
                     64: 5 0 IR-PCI-MSI 4-edge veth0\n\
                     65: 5 0 PCI-MSIX-0000:00:03.0 1-edge virtio0-input.0\n\
                     66: 5 0 PCI-MSIX-0000:00:03.0 1-edge virtio01-input.0\n\
                     67: 5 0 IR-PCI-MSI 5-edge eth0-TxRx-3\n";
        let i = parse(text, &mut Warnings::default()).unwrap();
        let nums = |v: Vec<&Interrupt>| v.iter().filter_map(|l| l.number()).collect::<Vec<_>>();
        assert_eq!(nums(irqs_for_device(&i, "eth0", None)), vec![58, 59, 67]);
        assert_eq!(nums(irqs_for_device(&i, "eth1", None)), vec![61]);
        assert_eq!(nums(irqs_for_device(&i, "eth10", None)), vec![60]);
        assert_eq!(
            nums(irqs_for_device(&i, "ens1f0", Some("0000:3b:00.0"))),
            vec![62]
        );
        assert_eq!(
            nums(irqs_for_device(&i, "wlan0", Some("iwlwifi"))),
            vec![63]
        );
        assert_eq!(nums(irqs_for_device(&i, "ens3", Some("virtio0"))), vec![65]);
        assert!(irqs_for_device(&i, "", None).is_empty());
    }

    #[test]
    fn wide_machine_and_errors() {
        let n = 1200;
        let mut text = String::new();
        for c in 0..n {
            text.push_str(&format!(" CPU{c}"));
        }
        text.push_str("\n 5:");
        for c in 0..n {
            text.push_str(&format!(" {c}"));
        }
        text.push_str(" IO-APIC 5-edge eth0\n");
        let i = parse(&text, &mut Warnings::default()).unwrap();
        assert_eq!(i.cpus.len(), n);
        assert_eq!(i.lines[0].counts.len(), n);
        assert_eq!(i.lines[0].counts[1199], 1199);
        assert_eq!(i.lines[0].actions().collect::<Vec<_>>(), vec!["eth0"]);

        assert!(parse("", &mut Warnings::default()).is_err());
        assert!(parse("   CPU0  CPU1\n\n", &mut Warnings::default()).is_err());
        // No header: columns numbered from the widest line.
        let mut w = Warnings::default();
        let i = parse(" 1: 4 5 IO-APIC 1-edge i8042\n", &mut w).unwrap();
        assert_eq!(i.cpus, vec![0, 1]);
        assert_eq!(w.0.len(), 1);
    }

    #[test]
    fn hwirq_prefix_rules() {
        assert!(is_hwirq_token("2-edge"));
        assert!(is_hwirq_token("114688-edge"));
        assert!(is_hwirq_token("27"));
        assert!(is_hwirq_token("-edge"));
        assert!(!is_hwirq_token("-"));
        assert!(!is_hwirq_token(""));
        assert!(!is_hwirq_token("eth0-TxRx-0"));
        assert_eq!(strip_hwirq_prefix("2-edge timer", "IO-APIC"), "timer");
        assert_eq!(
            strip_hwirq_prefix("27 Level arch_timer", "GICv3"),
            "arch_timer"
        );
        assert_eq!(strip_hwirq_prefix("27 Level -fasteoi foo", "GICv3"), "foo");
        assert_eq!(strip_hwirq_prefix("2-edge", "IO-APIC"), "");
        // Old style: the flow is in the chip, so a numeric-looking handler is kept.
        assert_eq!(strip_hwirq_prefix("1-0015", "IR-IO-APIC-edge"), "1-0015");
        assert_eq!(strip_hwirq_prefix("", "IO-APIC"), "");
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(s in "\\PC{0,400}") {
            let mut w = Warnings::default();
            if let Ok(i) = parse(&s, &mut w) {
                for l in &i.lines {
                    let _ = l.actions().count();
                    let _ = l.total();
                }
                let _ = irqs_for_device(&i, "eth0", Some("virtio0"));
            }
        }

        #[test]
        fn never_panics_on_line_noise(s in "[0-9A-Za-z:, \\-\\n\\t@.]{0,400}") {
            let mut w = Warnings::default();
            if let Ok(i) = parse(&s, &mut w) {
                for l in &i.lines {
                    let _ = l.actions().count();
                }
                let _ = irqs_for_device(&i, "a", Some("0"));
            }
        }

        #[test]
        fn truncated_capture_never_panics(cut in 0usize..4000) {
            let text = include_str!("../../tests/fixtures/vm/proc/interrupts");
            let mut end = cut.min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let mut w = Warnings::default();
            if let Ok(i) = parse(&text[..end], &mut w) {
                prop_assert!(i.lines.len() <= 35);
            }
        }
    }
}
