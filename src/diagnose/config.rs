//! Configuration lint from sysctl file provenance (`collect::sysctl::read_config`):
//! `config.dead_key` (a sysctl.d / sysctl.conf line sets a key this kernel lacks or ignores)
//! and `config.pages_not_bytes` (`tcp_mem` / `udp_mem` written as if they were bytes).
//!
//! A key counts as dead only when nettune can be sure: it lies in a tree the sysctl collector
//! reads (`net.core`, `net.ipv4`, `net.ipv6`, `fs.file-*`), that tree is present, the
//! snapshot was read in the initial network namespace, and the key is neither a glob, a
//! per-device key for a device that may appear later, a module's subtree (`net.netfilter`,
//! IPVS) nor a file only root can read.

use super::ids;
use super::util::{fmt_bytes, join, page_size, parse_n};
use super::{Context, Evidence, Finding, Rule, Severity};
use crate::change::Change;
use crate::collect::host::HostFacts;
use crate::collect::sysctl::{SysctlConfigEntry, Sysctls};

/// The rules of this area.
pub const RULES: &[Rule] = &[
    Rule {
        name: ids::CONFIG_DEAD_KEY,
        run: dead_key_rule,
    },
    Rule {
        name: ids::CONFIG_PAGES_NOT_BYTES,
        run: pages_not_bytes_rule,
    },
];

fn dead_key_rule(ctx: &Context) -> Vec<Finding> {
    match (ctx.newer.sysctl_config.ok(), ctx.newer.sysctl.ok()) {
        (Some(entries), Some(sysctls)) => dead_keys(entries, sysctls),
        _ => Vec::new(),
    }
}

fn pages_not_bytes_rule(ctx: &Context) -> Vec<Finding> {
    let Some(sysctls) = ctx.newer.sysctl.ok() else {
        return Vec::new();
    };
    let entries = ctx.newer.sysctl_config.ok().map_or(&[][..], Vec::as_slice);
    pages_not_bytes(entries, sysctls, ctx.host)
}

/// Both configuration lints over `entries` (from `collect::sysctl::read_config`), the live
/// sysctls and the host facts.
pub fn lint(entries: &[SysctlConfigEntry], sysctls: &Sysctls, host: &HostFacts) -> Vec<Finding> {
    let mut out = dead_keys(entries, sysctls);
    out.extend(pages_not_bytes(entries, sysctls, host));
    out
}

// ---------------------------------------------------------------------------------------
// config.dead_key

/// Keys removed from (or never in) mainline Linux, with why.
const REMOVED: &[(&str, &str)] = &[
    (
        "net.ipv4.tcp_tw_recycle",
        "removed in Linux 4.12 (it broke clients behind NAT)",
    ),
    (
        "net.ipv4.tcp_collapse_max_bytes",
        "an out-of-tree patch, never part of mainline Linux",
    ),
    (
        "net.netfilter.nf_conntrack_helper",
        "removed in Linux 6.0 (helpers are assigned by rules now)",
    ),
];

/// Keys the kernel still has but ignores, with why.
const IGNORED: &[(&str, &str)] = &[(
    "net.ipv4.tcp_low_latency",
    "has no effect since Linux 4.14 (the prequeue it controlled was removed)",
)];

/// Files the collector cannot see although they exist: write-only, or readable by root only.
const UNREADABLE_LEAVES: &[&str] = &[
    "flush",
    "stable_secret",
    "tcp_fastopen_key",
    "bpf_jit_harden",
    "bpf_jit_kallsyms",
    "bpf_jit_limit",
];

/// Trees the sysctl collector reads (besides `fs.file-nr` / `fs.file-max`).
const TREES: [&str; 3] = ["net.core.", "net.ipv4.", "net.ipv6."];

/// Why `key` is dead on this kernel, or `None` when it is alive or nettune cannot tell.
fn dead_reason(key: &str, sysctls: &Sysctls) -> Option<String> {
    if let Some((_, why)) = IGNORED.iter().find(|(k, _)| *k == key) {
        return sysctls.contains_key(key).then(|| (*why).to_string());
    }
    if sysctls.contains_key(key) {
        return None;
    }
    // A key from a tree that is not there at all (IPv6 disabled, module not loaded) or a
    // snapshot of another namespace says nothing about the key.
    let tree_present = |prefix: &str| {
        sysctls
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    };
    if let Some((_, why)) = REMOVED.iter().find(|(k, _)| *k == key) {
        let prefix = if key.starts_with("net.netfilter.") {
            "net.netfilter.nf_conntrack_"
        } else {
            "net.ipv4."
        };
        return tree_present(prefix).then(|| (*why).to_string());
    }
    let init_ns = sysctls.contains_key("net.core.netdev_max_backlog");
    let tree = TREES.iter().find(|t| key.starts_with(*t))?;
    if !init_ns || !tree_present(tree) {
        return None;
    }
    let parts: Vec<&str> = key.split('.').collect();
    let leaf = parts.last().copied().unwrap_or("");
    if UNREADABLE_LEAVES.contains(&leaf) {
        return None;
    }
    // Module subtrees (IPVS, old netfilter names) appear when the module loads.
    if key.starts_with("net.ipv4.vs.")
        || key.starts_with("net.ipv4.netfilter.")
        || key.starts_with("net.ipv6.netfilter.")
    {
        return None;
    }
    // Per-device keys: the device may be created later; judge the leaf through `default`.
    if let [_, fam @ ("ipv4" | "ipv6"), sub @ ("conf" | "neigh"), dev, rest @ ..] = parts.as_slice()
    {
        if !rest.is_empty() && *dev != "all" && *dev != "default" {
            let probe = format!("net.{fam}.{sub}.default.{}", rest.join("."));
            if sysctls.contains_key(&probe) {
                return None;
            }
            let any_default = format!("net.{fam}.{sub}.default.");
            if !tree_present(&any_default) {
                return None;
            }
        }
    }
    Some("this kernel has no such sysctl".into())
}

/// One `config.dead_key` finding per dead key, naming every file:line that sets it.
pub fn dead_keys(entries: &[SysctlConfigEntry], sysctls: &Sysctls) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    // Key -> index in `out`.
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for e in entries {
        if e.exclude || e.is_pattern() {
            continue;
        }
        let Some(why) = dead_reason(&e.key, sysctls) else {
            continue;
        };
        let place = format!("{}:{}", e.file.display(), e.line);
        let change = Change::advice(
            place.as_str(),
            format!("remove `{} = {}` ({why})", e.key, e.value),
        );
        let ev = Evidence::new("sysctl.config_line", place, e.line as f64, "line");
        if let Some(f) = seen
            .iter()
            .find(|(k, _)| *k == e.key.as_str())
            .and_then(|(_, i)| out.get_mut(*i))
        {
            f.evidence.push(ev);
            f.changes.push(change);
            continue;
        }
        seen.push((e.key.as_str(), out.len()));
        let ignored = sysctls.contains_key(&e.key);
        out.push(Finding {
            netns: None,
            id: ids::CONFIG_DEAD_KEY.into(),
            severity: Severity::Info,
            title: if ignored {
                format!("sysctl configuration sets `{}`, which this kernel ignores", e.key)
            } else {
                format!("sysctl configuration sets `{}`, which this kernel does not have", e.key)
            },
            detail: format!(
                "`{}` {why}. The line does nothing at boot (systemd-sysctl logs it and moves \
                 on{}), but readers of the file believe it is in force; it is often copied from \
                 old tuning guides.",
                e.key,
                if e.ignore_failure { "; the line's `-` prefix hides even that" } else { "" }
            ),
            evidence: vec![ev],
            changes: vec![change],
            risk: "none: the line has no effect on this kernel".into(),
            verify: format!("no configuration file under /etc/sysctl.d, /run/sysctl.d, /usr/lib/sysctl.d or /etc/sysctl.conf sets `{}`", e.key),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// config.pages_not_bytes

/// The kernel's boot-time default for `tcp_mem` (`divisor` 16) or `udp_mem` (8) for a RAM
/// size in pages: limit = pages / divisor; (limit·3/4, limit, limit·3/2).
fn kernel_default(ram_pages: u64, divisor: u64) -> [u64; 3] {
    let limit = (ram_pages / divisor).max(128);
    let low = limit / 4 * 3;
    [low, limit, low * 2]
}

/// `tcp_mem` / `udp_mem` whose high value exceeds RAM when read as pages: the author wrote
/// bytes. Checks the configuration line that sets it at boot and, without one, the live
/// value.
pub fn pages_not_bytes(
    entries: &[SysctlConfigEntry],
    sysctls: &Sysctls,
    host: &HostFacts,
) -> Vec<Finding> {
    let Some(ram) = host.mem_total_bytes.filter(|r| *r > 0) else {
        return Vec::new();
    };
    let page = page_size(host);
    let ram_pages = ram / page;
    let mut out = Vec::new();
    for (key, divisor) in [("net.ipv4.tcp_mem", 16), ("net.ipv4.udp_mem", 8)] {
        let configured = crate::collect::sysctl::config_for_key(entries, key);
        let (text, place) = match configured {
            Some(e) => (
                e.value.as_str(),
                Some(format!("{}:{}", e.file.display(), e.line)),
            ),
            None => match sysctls.get(key) {
                Some(v) => (v.as_str(), None),
                None => continue,
            },
        };
        let Some(values @ [_, _, high]) = parse_n::<3>(text) else {
            continue;
        };
        if high <= ram_pages {
            continue;
        }
        let as_bytes = values.map(|v| v / page);
        let default = kernel_default(ram_pages, divisor);
        let target = place.clone().unwrap_or_else(|| key.to_string());
        let mut evidence = vec![
            Evidence::new(
                &format!("{key}.high"),
                target.as_str(),
                high as f64,
                "pages",
            ),
            Evidence::new("host.mem_total", "host", ram_pages as f64, "pages"),
        ];
        if let Some(live) = sysctls.get(key).and_then(|v| parse_n::<3>(v)) {
            evidence.push(Evidence::new(
                &format!("{key}.high"),
                "live",
                live[2] as f64,
                "pages",
            ));
        }
        out.push(Finding {
            netns: None,
            id: ids::CONFIG_PAGES_NOT_BYTES.into(),
            severity: Severity::Warning,
            title: format!(
                "{key} high is {high} pages = {}, more than the host's RAM ({}): it was written \
                 as bytes",
                fmt_bytes(high as f64 * page as f64),
                fmt_bytes(ram as f64)
            ),
            detail: format!(
                "{key} is counted in pages of {page} bytes, not bytes. A high value above RAM \
                 means the limit never applies: under load the sockets may take memory until \
                 the OOM killer acts instead of the kernel applying backpressure."
            ),
            evidence,
            changes: vec![Change::advice(
                target,
                format!(
                    "write `{key} = {}` (pages; the kernel's own default for this RAM, {} at \
                     most) or a deliberate value below RAM; read as bytes, the current line \
                     would be {} pages",
                    join(&default),
                    fmt_bytes(default[2] as f64 * page as f64),
                    join(&as_bytes)
                ),
            )],
            risk: "a correct limit makes the kernel throttle socket memory at that point \
                   (memory pressure), which may slow a host that today relies on unlimited \
                   socket memory; size it with tcp.memory_pressure"
                .into(),
            verify: format!("{key} high times {page} bytes is below RAM"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::*;
    use std::path::PathBuf;

    fn entry(key: &str, value: &str, file: &str, line: usize) -> SysctlConfigEntry {
        SysctlConfigEntry {
            key: key.into(),
            value: value.into(),
            file: PathBuf::from(file),
            line,
            overridden: false,
            ignore_failure: false,
            exclude: false,
        }
    }

    fn live() -> Sysctls {
        [
            ("net.core.netdev_max_backlog", "1000"),
            ("net.core.somaxconn", "4096"),
            ("net.ipv4.tcp_low_latency", "0"),
            ("net.ipv4.tcp_mem", "287898 383867 575796"),
            ("net.ipv4.udp_mem", "575799 767734 1151598"),
            ("net.ipv4.conf.default.rp_filter", "2"),
            ("net.ipv4.conf.all.rp_filter", "2"),
            ("net.ipv6.conf.default.accept_ra", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn removed_and_unknown_keys_are_dead_with_file_and_line() {
        let entries = vec![
            entry(
                "net.ipv4.tcp_tw_recycle",
                "1",
                "etc/sysctl.d/10-old.conf",
                3,
            ),
            entry("net.core.somaxconn", "4096", "etc/sysctl.d/10-old.conf", 4),
            entry("net.ipv4.tcp_tw_recycle", "0", "etc/sysctl.conf", 9),
            entry("net.core.bogus_knob", "1", "etc/sysctl.conf", 10),
            entry("net.ipv4.tcp_low_latency", "1", "etc/sysctl.conf", 11),
        ];
        let f = dead_keys(&entries, &live());
        assert_eq!(f.len(), 3, "{f:#?}");
        let recycle = &f[0];
        assert_eq!(recycle.id, ids::CONFIG_DEAD_KEY);
        assert_eq!(recycle.severity, Severity::Info);
        assert_eq!(
            evidence_value(recycle, "sysctl.config_line", "etc/sysctl.d/10-old.conf:3"),
            3.0
        );
        assert_eq!(
            evidence_value(recycle, "sysctl.config_line", "etc/sysctl.conf:9"),
            9.0
        );
        assert!(proposed_value(recycle, "etc/sysctl.d/10-old.conf:3").contains("4.12"));
        assert!(f[1].title.contains("net.core.bogus_knob"));
        assert!(f[2].title.contains("ignores"));
        assert!(proposed_value(&f[2], "etc/sysctl.conf:11")
            .starts_with("remove `net.ipv4.tcp_low_latency = 1`"));
    }

    #[test]
    fn keys_nettune_cannot_judge_are_not_dead() {
        let entries = vec![
            entry("net.ipv4.conf.*.rp_filter", "1", "a.conf", 1),
            entry("net.ipv4.conf.eth7.rp_filter", "1", "a.conf", 2),
            entry("net.ipv4.conf.eth0/100.rp_filter", "1", "a.conf", 3),
            entry("kernel.pid_max", "4194304", "a.conf", 4),
            entry("vm.swappiness", "10", "a.conf", 5),
            entry("net.bridge.bridge-nf-call-iptables", "1", "a.conf", 6),
            entry("net.netfilter.nf_conntrack_max", "262144", "a.conf", 7),
            entry("net.ipv4.vs.conntrack", "1", "a.conf", 8),
            entry("net.ipv6.conf.all.stable_secret", "::1", "a.conf", 9),
            entry("net.ipv4.tcp_fastopen_key", "x", "a.conf", 10),
            entry("net.ipv4.route.flush", "1", "a.conf", 11),
            entry("net.ipv6.conf.eth9.accept_ra", "2", "a.conf", 12),
        ];
        assert!(dead_keys(&entries, &live()).is_empty());
    }

    #[test]
    fn other_namespace_or_missing_tree_says_nothing() {
        let mut ns = live();
        ns.remove("net.core.netdev_max_backlog");
        let entries = vec![entry("net.core.bogus_knob", "1", "a.conf", 1)];
        assert!(dead_keys(&entries, &ns).is_empty());
        let entries = vec![entry("net.ipv6.bogus", "1", "a.conf", 1)];
        let no_v6: Sysctls = live()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("net.ipv6."))
            .collect();
        assert!(dead_keys(&entries, &no_v6).is_empty());
        // tcp_tw_recycle is dead even when judged from a namespace.
        let entries = vec![entry("net.ipv4.tcp_tw_recycle", "1", "a.conf", 1)];
        assert_eq!(dead_keys(&entries, &ns).len(), 1);
        // Not dead on a kernel that still has it.
        let mut old = live();
        old.insert("net.ipv4.tcp_tw_recycle".into(), "0".into());
        assert!(dead_keys(&entries, &old).is_empty());
    }

    #[test]
    fn tcp_mem_written_in_bytes_is_flagged_with_the_kernel_default() {
        // The seed's line: "6291456 8388608 12582912 # ~24GB" on a 16 GiB host.
        let entries = vec![entry(
            "net.ipv4.tcp_mem",
            "6291456 8388608 12582912",
            "etc/sysctl.d/99-tuning.conf",
            7,
        )];
        let f = pages_not_bytes(&entries, &live(), &host());
        let f = only(&f, ids::CONFIG_PAGES_NOT_BYTES);
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            evidence_value(f, "net.ipv4.tcp_mem.high", "etc/sysctl.d/99-tuning.conf:7"),
            12_582_912.0
        );
        assert_eq!(evidence_value(f, "host.mem_total", "host"), 4_194_304.0);
        assert!(f.title.contains("48 GiB"), "{}", f.title);
        // 4194304 pages / 16 = 262144; (196608, 262144, 393216); as bytes: 1536 2048 3072.
        let advice = proposed_value(f, "etc/sysctl.d/99-tuning.conf:7");
        assert!(advice.contains("196608 262144 393216"), "{advice}");
        assert!(advice.contains("1536 2048 3072"), "{advice}");
    }

    #[test]
    fn sane_values_in_pages_are_quiet() {
        let entries = vec![entry(
            "net.ipv4.tcp_mem",
            "382185 509580 764370",
            "a.conf",
            1,
        )];
        assert!(pages_not_bytes(&entries, &live(), &host()).is_empty());
        // Live values only (no configuration), also sane.
        assert!(pages_not_bytes(&[], &live(), &host()).is_empty());
        // RAM unknown: cannot judge.
        let unknown = HostFacts {
            mem_total_bytes: None,
            ..host()
        };
        let entries = vec![entry("net.ipv4.udp_mem", "1 2 99999999999", "a.conf", 1)];
        assert!(pages_not_bytes(&entries, &live(), &unknown).is_empty());
    }

    #[test]
    fn live_udp_mem_in_bytes_without_config_is_flagged() {
        let mut s = live();
        s.insert(
            "net.ipv4.udp_mem".into(),
            "4294967296 4294967296 8589934592".into(),
        );
        let f = pages_not_bytes(&[], &s, &host());
        let f = only(&f, ids::CONFIG_PAGES_NOT_BYTES);
        assert!(proposed_value(f, "net.ipv4.udp_mem").contains("393216 524288 786432"));
    }
}
