//! `/proc/softirqs` (per-CPU softirq counts) and the per-CPU time columns of `/proc/stat`.
//!
//! Owns both parsers. `/proc/softirqs` prints one column per *possible* CPU (1152 columns on
//! a large machine); `/proc/stat` prints one `cpuN` line per *online* CPU, with 4 columns on
//! 2.4 kernels up to 10 today.

use super::{parse_dec, FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Warning / error source labels.
const SOURCE: &str = "softirqs";
const STAT_SOURCE: &str = "stat";

/// Largest CPU number accepted from a header (the kernel's NR_CPUS maximum is 8192); protects
/// against absurd allocations from a corrupted header.
const MAX_CPU: u32 = 1 << 16;

/// Softirq name (`NET_RX`) → count per CPU column (index = CPU number as printed), cumulative
/// softirq handler runs since boot.
pub type SoftIrqs = BTreeMap<String, Vec<u64>>;

/// One `cpuN` line of `/proc/stat`. All times in USER_HZ clock ticks (normally 1/100 s),
/// cumulative since boot. Columns an old kernel does not print are 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTimes {
    /// CPU number (`cpu3` → 3).
    pub cpu: u32,
    /// Time in user mode.
    pub user: u64,
    /// Time in user mode at low priority (nice).
    pub nice: u64,
    /// Time in kernel mode (excluding irq/softirq time on kernels that account them).
    pub system: u64,
    /// Idle time.
    pub idle: u64,
    /// Idle time waiting for I/O (2.5.41+).
    pub iowait: u64,
    /// Time servicing hard interrupts (2.6.0+).
    pub irq: u64,
    /// Time servicing softirqs (NET_RX processing shows here) (2.6.0+).
    pub softirq: u64,
    /// Time stolen by the hypervisor (2.6.11+).
    pub steal: u64,
    /// Time running a guest vCPU, also counted in `user` (2.6.24+).
    #[serde(default)]
    pub guest: u64,
    /// Time running a niced guest vCPU, also counted in `nice` (2.6.33+).
    #[serde(default)]
    pub guest_nice: u64,
}

impl CpuTimes {
    /// Sum of all columns except guest time (already counted in user/nice): the CPU's total
    /// ticks, saturating.
    pub fn total(&self) -> u64 {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
        .iter()
        .fold(0u64, |a, &v| a.saturating_add(v))
    }
}

/// Parse `/proc/softirqs` text.
///
/// The first non-blank line is the `CPU0 CPU1 …` header; each row `NAME: n n …` becomes
/// `NAME → counts`, placed by the CPU number in the header (a gap in the header numbering is
/// filled with 0 and reported as a warning). Rows without a colon, with a non-numeric count
/// (the row keeps the counts before it) or with more counts than the header are warnings. A
/// file without one row is an error.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<SoftIrqs> {
    let mut out = SoftIrqs::new();
    // Column index → CPU number; `None` until the header is seen (or when there is none).
    let mut cpus: Option<Vec<u32>> = None;
    let mut identity = true;
    let mut width = 0usize;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if cpus.is_none() && !line.contains(':') {
            let mut v = Vec::new();
            for (col, tok) in line.split_ascii_whitespace().enumerate() {
                match tok
                    .strip_prefix("CPU")
                    .and_then(parse_dec::<u32>)
                    .filter(|&n| n < MAX_CPU)
                {
                    Some(n) => v.push(n),
                    None => {
                        warnings.push(
                            SOURCE,
                            Some(line_no),
                            format!("header column {tok:?} is not `CPUn`; numbered by position"),
                        );
                        v.push(u32::try_from(col).unwrap_or(u32::MAX));
                    }
                }
            }
            identity = v.iter().enumerate().all(|(i, &c)| c as usize == i);
            let span = v.iter().max().map_or(0, |&m| m as usize + 1);
            width = if identity {
                v.len()
            } else if span <= v.len() * 2 + 64 {
                warnings.push(
                    SOURCE,
                    Some(line_no),
                    "header CPU numbers are not 0..n; missing CPUs get 0",
                );
                span
            } else {
                // A sparse header (corruption): do not allocate rows for absurd CPU numbers.
                warnings.push(
                    SOURCE,
                    Some(line_no),
                    "header CPU numbers are far from 0..n; columns kept in printed order",
                );
                identity = true;
                v.len()
            };
            cpus = Some(v);
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            warnings.push(SOURCE, Some(line_no), "row has no `NAME:`; skipped");
            continue;
        };
        let name = name.trim_ascii();
        if name.is_empty() {
            warnings.push(SOURCE, Some(line_no), "row has an empty name; skipped");
            continue;
        }
        let cols = cpus.as_deref();
        let mut counts: Vec<u64> = if identity {
            Vec::with_capacity(width)
        } else {
            vec![0; width]
        };
        for (col, tok) in rest.split_ascii_whitespace().enumerate() {
            let Some(v) = parse_dec::<u64>(tok) else {
                warnings.push(
                    SOURCE,
                    Some(line_no),
                    format!("{name}: count {tok:?} is not a number; rest of row ignored"),
                );
                break;
            };
            match cols {
                Some(c) if col >= c.len() => {
                    warnings.push(
                        SOURCE,
                        Some(line_no),
                        format!("{name}: more counts than header CPUs; extra ignored"),
                    );
                    break;
                }
                Some(c) if !identity => {
                    if let Some(slot) = c.get(col).and_then(|&cpu| counts.get_mut(cpu as usize)) {
                        *slot = v;
                    }
                }
                _ => counts.push(v),
            }
        }
        out.insert(name.to_string(), counts);
    }
    if out.is_empty() {
        return Err(Error::Parse {
            path: PathBuf::from(SOURCE),
            line: 0,
            what: "no softirq row".to_string(),
        });
    }
    Ok(out)
}

/// Read `<proc>/softirqs`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<SoftIrqs> {
    super::read_with(buf, &root.proc("softirqs"), warnings, parse)
}

/// Parse the per-CPU `cpuN …` lines of `/proc/stat` (the aggregate `cpu ` line is ignored).
///
/// Missing trailing columns (old kernels) are 0; extra columns of future kernels are ignored.
/// A `cpuN` line with a non-numeric value is a warning and skipped. Scanning stops at the first
/// line after the CPU block, so the long `intr` line is not parsed. No `cpuN` line is an error.
pub fn parse_cpu_times(text: &str, warnings: &mut Warnings) -> Result<Vec<CpuTimes>> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let Some(rest) = line.strip_prefix("cpu") else {
            if in_block {
                break;
            }
            continue;
        };
        in_block = true;
        let mut toks = rest.split_ascii_whitespace();
        if rest.starts_with([' ', '\t']) {
            continue; // the aggregate `cpu  …` line
        }
        let Some(cpu) = toks.next().and_then(parse_dec::<u32>) else {
            warnings.push(STAT_SOURCE, Some(line_no), "bad cpuN label; line skipped");
            continue;
        };
        let mut vals = [0u64; 10];
        let mut ok = true;
        let mut n = 0usize;
        for tok in toks {
            let Some(v) = parse_dec::<u64>(tok) else {
                ok = false;
                break;
            };
            if let Some(slot) = vals.get_mut(n) {
                *slot = v;
            }
            n += 1;
        }
        if !ok || n == 0 {
            warnings.push(
                STAT_SOURCE,
                Some(line_no),
                format!("cpu{cpu}: malformed time columns; line skipped"),
            );
            continue;
        }
        let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = vals;
        out.push(CpuTimes {
            cpu,
            user,
            nice,
            system,
            idle,
            iowait,
            irq,
            softirq,
            steal,
            guest,
            guest_nice,
        });
    }
    if out.is_empty() {
        return Err(Error::Parse {
            path: PathBuf::from(STAT_SOURCE),
            line: 0,
            what: "no cpuN line".to_string(),
        });
    }
    Ok(out)
}

/// Read the per-CPU lines of `<proc>/stat`.
pub fn read_cpu_times(
    buf: &mut FileBuf,
    root: &Root,
    warnings: &mut Warnings,
) -> Source<Vec<CpuTimes>> {
    super::read_with(buf, &root.proc("stat"), warnings, parse_cpu_times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::vm as vm_root;
    use proptest::prelude::*;

    #[test]
    fn parses_vm_softirqs() {
        let mut w = Warnings::default();
        let Source::Ok(s) = read(&mut FileBuf::new(), &vm_root(), &mut w) else {
            panic!("vm softirqs not parsed");
        };
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(s.len(), 10);
        assert_eq!(s["NET_RX"], vec![1143, 1689]);
        assert_eq!(s["NET_TX"], vec![5, 1]);
        assert_eq!(s["HI"], vec![0, 0]);
        assert!(s.contains_key("IRQ_POLL"));
    }

    #[test]
    fn parses_vm_stat() {
        let mut w = Warnings::default();
        let Source::Ok(c) = read_cpu_times(&mut FileBuf::new(), &vm_root(), &mut w) else {
            panic!("vm stat not parsed");
        };
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            CpuTimes {
                cpu: 0,
                user: 3303,
                nice: 0,
                system: 1288,
                idle: 31446,
                iowait: 32,
                irq: 0,
                softirq: 6,
                steal: 5,
                guest: 0,
                guest_nice: 0
            }
        );
        assert_eq!(c[1].cpu, 1);
        assert_eq!(c[1].softirq, 21);
        assert_eq!(c[1].steal, 9);
        assert_eq!(c[1].total(), 4043 + 1644 + 29950 + 379 + 21 + 9);
    }

    #[test]
    fn old_stat_layouts_and_gaps() {
        let text = "cpu  10 20 30 40\ncpu0 1 2 3 4\ncpu3 5 6 7 8 9 10 11\ncpuX 1 2\ncpu4 1 z\nintr 1 2 3\ncpu9 1 1 1 1\n";
        let mut w = Warnings::default();
        let c = parse_cpu_times(text, &mut w).unwrap();
        assert_eq!(c.len(), 2, "cpu9 after the block is not read");
        assert_eq!((c[0].cpu, c[0].idle, c[0].iowait, c[0].steal), (0, 4, 0, 0));
        assert_eq!(
            (c[1].cpu, c[1].iowait, c[1].irq, c[1].softirq),
            (3, 9, 10, 11)
        );
        assert_eq!(w.0.len(), 2);
        assert!(parse_cpu_times("cpu  1 2 3 4\nintr 5\n", &mut w).is_err());
        assert!(parse_cpu_times("", &mut w).is_err());
    }

    #[test]
    fn softirqs_1152_cpus_and_edge_cases() {
        let n = 1152;
        let mut text = String::from("      ");
        for c in 0..n {
            text.push_str(&format!(" CPU{c}"));
        }
        text.push('\n');
        for name in ["HI", "NET_RX"] {
            text.push_str(&format!("{name:>12}:"));
            for c in 0..n {
                text.push_str(&format!(" {}", c * 3));
            }
            text.push('\n');
        }
        let mut w = Warnings::default();
        let s = parse(&text, &mut w).unwrap();
        assert!(w.0.is_empty());
        assert_eq!(s["NET_RX"].len(), n);
        assert_eq!(s["NET_RX"][1151], 3453);

        // Header gap (CPU2 absent): values placed by CPU number.
        let mut w = Warnings::default();
        let s = parse(
            "  CPU0 CPU1 CPU3\nNET_RX: 1 2 4\nBAD 5\nTIMER: 7 x 9\nRCU: 1 2 3 4\n",
            &mut w,
        )
        .unwrap();
        assert_eq!(s["NET_RX"], vec![1, 2, 0, 4]);
        assert_eq!(s["TIMER"], vec![7, 0, 0, 0]);
        assert_eq!(s["RCU"], vec![1, 2, 0, 3]);
        assert_eq!(w.0.len(), 4);
        // Absurdly sparse header: no huge rows, columns kept in order.
        let mut w = Warnings::default();
        let s = parse("  CPU0 CPU60000\nNET_RX: 1 2\n", &mut w).unwrap();
        assert_eq!(s["NET_RX"], vec![1, 2]);
        assert_eq!(w.0.len(), 1);
        assert!(parse("   CPU0\n", &mut w).is_err());
        assert!(parse("", &mut w).is_err());
        // No header: rows kept as printed.
        let s = parse("NET_RX: 1 2\n", &mut Warnings::default()).unwrap();
        assert_eq!(s["NET_RX"], vec![1, 2]);
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(s in "\\PC{0,400}") {
            let mut w = Warnings::default();
            let _ = parse(&s, &mut w);
            let _ = parse_cpu_times(&s, &mut w);
        }

        #[test]
        fn never_panics_on_shaped_noise(s in "(CPU[0-9]{0,6}| |cpu[0-9 ]{0,3}|[A-Z_]{1,4}:|[0-9]{1,22}|\\n){0,80}") {
            let mut w = Warnings::default();
            let _ = parse(&s, &mut w);
            let _ = parse_cpu_times(&s, &mut w);
        }

        #[test]
        fn truncated_captures_never_panic(cut in 0usize..2000) {
            let soft = include_str!("../../tests/fixtures/vm/proc/softirqs");
            let stat = include_str!("../../tests/fixtures/vm/proc/stat");
            let mut w = Warnings::default();
            if let Ok(s) = parse(&soft[..cut.min(soft.len())], &mut w) {
                prop_assert!(s.len() <= 10);
            }
            if let Ok(c) = parse_cpu_times(&stat[..cut.min(stat.len())], &mut w) {
                prop_assert!(c.len() <= 2);
            }
        }
    }
}
