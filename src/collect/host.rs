//! Host facts: kernel, CPUs, NUMA, memory, page size, HZ, congestion controls, tuning daemons.
//! Read once per run with [`read`], which never fails: what cannot be found gets a default
//! and a warning.

use super::sysctl::key_to_path;
use super::{cpulist, parse_dec};
use super::{FileBuf, Root, Warnings};
use nix::unistd::SysconfVar;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// Facts about the host that do not change between two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostFacts {
    /// `kernel.hostname` (of the UTS namespace that reads it).
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    /// Number of CPUs online.
    pub cpus: u32,
    /// Page size in bytes (`tcp_mem`, `udp_mem` and sockstat `mem` are in pages). Always the
    /// value of the machine running nettune: it cannot be read from a proc root.
    pub page_size: u64,
    /// Kernel tick rate CONFIG_HZ (ticks per second); jiffies-valued sysctls use it.
    pub hz: u32,
    /// How [`HostFacts::hz`] was found: `boot-config` (`/boot/config-<release>`),
    /// `timer_list` (jiffies against the monotonic clock in `/proc/timer_list`), or
    /// `assumed` (250).
    pub hz_source: String,
    /// USER_HZ (`sysconf(_SC_CLK_TCK)`), the unit of `/proc/stat` CPU times, ticks per second.
    pub user_hz: u64,
    /// The online CPU numbers (`/sys/devices/system/cpu/online`).
    pub cpus_online: Vec<u32>,
    /// Number of possible CPUs (`/sys/devices/system/cpu/possible`), the width of CPU masks.
    pub cpus_possible: u32,
    /// NUMA nodes with their CPUs, by id; empty when the kernel has no NUMA support.
    pub numa_nodes: Vec<NumaNode>,
    /// `MemTotal` of `/proc/meminfo`, in bytes.
    pub mem_total_bytes: Option<u64>,
    /// `net.ipv4.tcp_available_congestion_control`.
    pub congestion_control_available: Vec<String>,
    /// `net.ipv4.tcp_allowed_congestion_control` (what unprivileged sockets may choose).
    pub congestion_control_allowed: Vec<String>,
    /// Tuning daemons seen running, which may fight nettune's changes.
    pub daemons: Daemons,
}

/// One NUMA node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumaNode {
    /// N in `nodeN`.
    pub id: u32,
    /// CPUs of the node (`nodeN/cpulist`).
    pub cpus: Vec<u32>,
}

/// Daemons that also tune the network stack or IRQs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Daemons {
    /// irqbalance moves IRQ affinities.
    pub irqbalance: bool,
    /// tuned applies sysctl / device profiles.
    pub tuned: bool,
    /// bpftune auto-tunes sysctls.
    pub bpftune: bool,
}

/// HZ used when nothing better is found.
pub const DEFAULT_HZ: u32 = 250;

/// Read the host facts under `root`. Never fails.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> HostFacts {
    let mut h = HostFacts {
        hostname: string_or_warn(buf, &key_to_path(root, "kernel.hostname"), warnings),
        kernel: string_or_warn(buf, &key_to_path(root, "kernel.osrelease"), warnings),
        page_size: sysconf(SysconfVar::PAGE_SIZE).unwrap_or(4096),
        user_hz: sysconf(SysconfVar::CLK_TCK).unwrap_or(100),
        ..HostFacts::default()
    };

    let online = root.sys("devices/system/cpu/online");
    match buf.read(&online).ok().and_then(cpulist::parse) {
        Some(list) if !list.is_empty() => h.cpus_online = list,
        _ => {
            let n = count_stat_cpus(buf, root);
            warnings.push(
                "host",
                None,
                format!(
                    "{}: unreadable; counted {n} CPUs in {}",
                    online.display(),
                    root.proc("stat").display()
                ),
            );
            h.cpus_online = (0..n).collect();
        }
    }
    h.cpus = u32::try_from(h.cpus_online.len())
        .unwrap_or(u32::MAX)
        .max(1);
    h.cpus_possible = buf
        .read(&root.sys("devices/system/cpu/possible"))
        .ok()
        .and_then(cpulist::parse)
        .map_or(h.cpus, |l| u32::try_from(l.len()).unwrap_or(u32::MAX));
    h.numa_nodes = read_numa(buf, root);

    let meminfo = root.proc("meminfo");
    h.mem_total_bytes = buf.read(&meminfo).ok().and_then(parse_mem_total);
    if h.mem_total_bytes.is_none() {
        warnings.push("host", None, format!("{}: no MemTotal", meminfo.display()));
    }

    let (hz, source) = find_hz(buf, root, &h.kernel);
    if source == "assumed" {
        warnings.push(
            "host",
            None,
            format!("kernel HZ unknown (no /boot/config-{}, /proc/timer_list unreadable or ambiguous); assuming {DEFAULT_HZ}", h.kernel),
        );
    }
    h.hz = hz;
    h.hz_source = source.to_string();

    h.congestion_control_available = words(buf, root, "net.ipv4.tcp_available_congestion_control");
    h.congestion_control_allowed = words(buf, root, "net.ipv4.tcp_allowed_congestion_control");
    h.daemons = scan_daemons(buf, &root.proc);
    h
}

fn sysconf(var: SysconfVar) -> Option<u64> {
    let v = nix::unistd::sysconf(var).ok()??;
    u64::try_from(v).ok().filter(|&v| v > 0)
}

fn string_or_warn(buf: &mut FileBuf, path: &Path, warnings: &mut Warnings) -> String {
    match buf.read_trimmed(path) {
        Ok(s) => s.trim().to_string(),
        Err(e) => {
            warnings.push("host", None, format!("{}: {e}", path.display()));
            String::new()
        }
    }
}

/// The words of the sysctl `key`; empty when it cannot be read.
fn words(buf: &mut FileBuf, root: &Root, key: &str) -> Vec<String> {
    buf.read(&key_to_path(root, key))
        .map(|t| t.split_ascii_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// CPUs listed as `cpuN` lines in `/proc/stat` (at least 1).
fn count_stat_cpus(buf: &mut FileBuf, root: &Root) -> u32 {
    let n = buf.read(&root.proc("stat")).map_or(0, |t| {
        t.lines()
            .filter(|l| {
                l.strip_prefix("cpu")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .count()
    });
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

fn read_numa(buf: &mut FileBuf, root: &Root) -> Vec<NumaNode> {
    let dir = root.sys("devices/system/node");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut nodes = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix("node"))
            .and_then(parse_dec::<u32>)
        else {
            continue;
        };
        let cpus = buf
            .read(&e.path().join("cpulist"))
            .ok()
            .and_then(cpulist::parse)
            .unwrap_or_default();
        nodes.push(NumaNode { id, cpus });
    }
    nodes.sort_by_key(|n| n.id);
    nodes
}

/// `MemTotal:  24684084 kB` → bytes.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut it = line.split_ascii_whitespace().skip(1);
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// Find CONFIG_HZ: `<etc>/boot/config-<release>`, else estimated from `<proc>/timer_list`,
/// else [`DEFAULT_HZ`]. Returns (hz, source). (`/proc/config.gz` would need a gzip decoder,
/// which this crate does not carry.)
fn find_hz(buf: &mut FileBuf, root: &Root, kernel: &str) -> (u32, &'static str) {
    if !kernel.is_empty() && !kernel.contains('/') {
        let cfg = root.config(&format!("boot/config-{kernel}"));
        if let Some(hz) = buf.read(&cfg).ok().and_then(parse_config_hz) {
            return (hz, "boot-config");
        }
    }
    let tl = root.proc("timer_list");
    if let Some(hz) = buf.read(&tl).ok().and_then(hz_from_timer_list) {
        return (hz, "timer_list");
    }
    (DEFAULT_HZ, "assumed")
}

/// `CONFIG_HZ=250` in a kernel config.
pub fn parse_config_hz(config: &str) -> Option<u32> {
    config
        .lines()
        .find_map(|l| l.trim().strip_prefix("CONFIG_HZ="))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&hz| hz > 0)
}

/// The HZ values Linux can be built with.
const HZ_CANDIDATES: [u32; 4] = [100, 250, 300, 1000];

/// Estimate HZ from one `/proc/timer_list`: it prints the monotonic clock (`now at N nsecs`)
/// and `jiffies`, which starts at INITIAL_JIFFIES = 2^32 − 300·HZ at boot. For each
/// candidate HZ the jiffies it predicts are compared with the real value; the best one is
/// accepted only when it is within 2 s and clearly better than the runner-up (near 300 s of
/// uptime all candidates predict about 2^32 and the answer is None).
pub fn hz_from_timer_list(text: &str) -> Option<u32> {
    let now_ns: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("now at "))
        .and_then(|r| r.split_ascii_whitespace().next())
        .and_then(parse_dec::<u64>)? as f64;
    let jiffies = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("jiffies:"))
        .and_then(|r| parse_dec::<u64>(r.trim()))? as f64;
    let now = now_ns / 1e9;
    let mut errs: Vec<(f64, u32)> = HZ_CANDIDATES
        .iter()
        .map(|&c| {
            let c_f = f64::from(c);
            let predicted = 4_294_967_296.0 + (now - 300.0) * c_f;
            ((jiffies - predicted).abs() / c_f, c)
        })
        .collect();
    errs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (best, hz) = *errs.first()?;
    let (second, _) = *errs.get(1)?;
    (best < 2.0 && second - best > 1.0).then_some(hz)
}

/// Which tuning daemons run: the `comm` of every `<proc>/<pid>`.
fn scan_daemons(buf: &mut FileBuf, proc: &Path) -> Daemons {
    let mut d = Daemons::default();
    let Ok(entries) = fs::read_dir(proc) else {
        return d;
    };
    let mut path = proc.to_path_buf();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str() else { continue };
        if parse_dec::<u32>(pid).is_none() {
            continue;
        }
        path.push(pid);
        path.push("comm");
        if let Ok(comm) = buf.read_trimmed(&path) {
            match comm {
                "irqbalance" => d.irqbalance = true,
                "tuned" => d.tuned = true,
                "bpftune" => d.bpftune = true,
                _ => {}
            }
        }
        path.pop();
        path.pop();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testfs::{vm, write};
    use proptest::prelude::*;

    #[test]
    fn reads_captured_vm_facts() {
        let mut w = Warnings::default();
        let h = read(&mut FileBuf::new(), &vm(), &mut w);
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(h.hostname, "vm");
        assert_eq!(h.kernel, "6.18.44-fc-v669");
        assert_eq!(h.cpus, 2);
        assert_eq!(h.cpus_online, [0, 1]);
        assert_eq!(h.cpus_possible, 2);
        assert_eq!(
            h.numa_nodes,
            [NumaNode {
                id: 0,
                cpus: vec![0, 1]
            }]
        );
        assert_eq!(h.mem_total_bytes, Some(24_684_084 * 1024));
        // Captured at 433.69 s uptime, jiffies 4295000656: 250 Hz (CONFIG_HZ=250 on the VM).
        assert_eq!((h.hz, h.hz_source.as_str()), (250, "timer_list"));
        assert_eq!(h.congestion_control_available, ["reno", "bbr", "cubic"]);
        assert_eq!(h.congestion_control_allowed, ["reno", "bbr"]);
        assert_eq!(h.daemons, Daemons::default()); // pid 1 is "process_api"
        assert_eq!(h.page_size, sysconf(SysconfVar::PAGE_SIZE).unwrap());
        assert!(h.user_hz > 0);
        // The JSON contract keeps these names.
        let j = serde_json::to_value(&h).unwrap();
        for k in ["hostname", "kernel", "cpus", "page_size", "hz"] {
            assert!(j.get(k).is_some(), "{k}");
        }
        let back: HostFacts = serde_json::from_value(j).unwrap();
        assert_eq!(back, h);
        let old: HostFacts = serde_json::from_str(
            r#"{"hostname":"a","kernel":"6.1","cpus":4,"page_size":4096,"hz":1000}"#,
        )
        .unwrap();
        assert_eq!(old.hz, 1000);
    }

    #[test]
    fn boot_config_daemons_and_numa() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        write(dir, "proc/sys/kernel/hostname", "web-1\n");
        write(dir, "proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
        write(
            dir,
            "boot/config-6.1.0-18-amd64",
            "# c\nCONFIG_HZ_1000=y\nCONFIG_HZ=1000\n",
        );
        write(dir, "sys/devices/system/cpu/online", "0-3,6\n");
        write(dir, "sys/devices/system/cpu/possible", "0-7\n");
        write(dir, "sys/devices/system/node/node1/cpulist", "2-3,6\n");
        write(dir, "sys/devices/system/node/node0/cpulist", "0-1\n");
        write(dir, "sys/devices/system/node/node2/cpulist", "\n");
        write(dir, "sys/devices/system/node/online", "0-2\n");
        write(dir, "proc/meminfo", "MemTotal:        1000 kB\n");
        write(dir, "proc/1/comm", "systemd\n");
        write(dir, "proc/812/comm", "irqbalance\n");
        write(dir, "proc/900/comm", "bpftune\n");
        write(dir, "proc/self/comm", "tuned\n");
        let mut w = Warnings::default();
        let h = read(&mut FileBuf::new(), &Root::fixture(dir), &mut w);
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert_eq!(h.hostname, "web-1");
        assert_eq!((h.hz, h.hz_source.as_str()), (1000, "boot-config"));
        assert_eq!(h.cpus, 5);
        assert_eq!(h.cpus_online, [0, 1, 2, 3, 6]);
        assert_eq!(h.cpus_possible, 8);
        let ids: Vec<u32> = h.numa_nodes.iter().map(|n| n.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(h.numa_nodes[1].cpus, [2, 3, 6]);
        assert!(h.numa_nodes[2].cpus.is_empty());
        assert_eq!(h.mem_total_bytes, Some(1_024_000));
        assert_eq!(
            h.daemons,
            Daemons {
                irqbalance: true,
                tuned: false,
                bpftune: true
            }
        );
        assert!(h.congestion_control_available.is_empty());
    }

    #[test]
    fn empty_root_gets_defaults_and_warnings() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Warnings::default();
        let h = read(&mut FileBuf::new(), &Root::fixture(d.path()), &mut w);
        assert_eq!(h.hostname, "");
        assert_eq!(h.cpus, 1);
        assert_eq!((h.hz, h.hz_source.as_str()), (DEFAULT_HZ, "assumed"));
        assert_eq!(h.mem_total_bytes, None);
        assert!(h.page_size >= 4096);
        // hostname, osrelease, cpu online, meminfo, hz.
        assert_eq!(w.0.len(), 5, "{:?}", w.0);
        assert!(w.0.iter().any(|x| x.message.contains("assuming 250")));
    }

    #[test]
    fn hz_from_timer_list_candidates() {
        let tl = |now_s: f64, jiffies: u64| {
            format!(
                "Timer List Version: v0.10\nHRTIMER_MAX_CLOCK_BASES: 8\nnow at {} nsecs\n\ncpu: 0\n  .last_jiffies   : 1\njiffies: {jiffies}\n",
                (now_s * 1e9) as u64
            )
        };
        let at = |hz: u64, now: f64| 4_294_967_296 - 300 * hz + (now * hz as f64) as u64 - hz / 4;
        for hz in [100u64, 250, 300, 1000] {
            for now in [5.0, 120.0, 3600.0, 86_400.0 * 30.0] {
                assert_eq!(
                    hz_from_timer_list(&tl(now, at(hz, now))),
                    Some(hz as u32),
                    "{hz} {now}"
                );
            }
            // Around 300 s every candidate predicts ~2^32: refuse to guess.
            assert_eq!(hz_from_timer_list(&tl(300.0, at(hz, 300.0))), None);
        }
        assert_eq!(hz_from_timer_list("garbage"), None);
        assert_eq!(
            parse_config_hz("CONFIG_HZ_300=y\nCONFIG_HZ=300\n"),
            Some(300)
        );
        assert_eq!(parse_config_hz("CONFIG_HZ=\n"), None);
    }

    #[test]
    fn live_host_facts() {
        if !crate::testing::require(
            "/proc/sys",
            Path::new("/proc/sys/kernel/osrelease").exists(),
        ) {
            return;
        }
        let mut w = Warnings::default();
        let h = read(&mut FileBuf::new(), &Root::default(), &mut w);
        let rel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(h.kernel, rel.trim());
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(h.cpus as usize >= n, "{} {n}", h.cpus);
        assert!(h.mem_total_bytes.unwrap() > 0);
        assert!([100, 250, 300, 1000].contains(&h.hz));
        assert_eq!(h.user_hz, 100);
        assert!(!h.congestion_control_available.is_empty());
        eprintln!("live hz {} from {}", h.hz, h.hz_source);
    }

    #[test]
    fn mem_total() {
        assert_eq!(
            parse_mem_total("MemFree: 1 kB\nMemTotal: 2 kB\n"),
            Some(2048)
        );
        assert_eq!(parse_mem_total("MemTotal: x kB\n"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,200}") {
            let _ = parse_mem_total(&s);
            let _ = parse_config_hz(&s);
            let _ = hz_from_timer_list(&s);
        }

        #[test]
        fn truncated_timer_list_never_panics(cut in 0usize..400) {
            let text = "Timer List Version: v0.10\nnow at 433691228041 nsecs\ncpu: 0\njiffies: 4295000656\n";
            let _ = hz_from_timer_list(text.get(..cut.min(text.len())).unwrap_or(""));
        }
    }
}
