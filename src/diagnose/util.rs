//! Small helpers every rule area shares: sysctl lookups, vector sysctls, units.

use crate::collect::host::HostFacts;
use crate::snapshot::Snapshot;

/// The value of sysctl `key` in `snap`, when the sysctl source was read and has it.
pub(crate) fn sysctl<'a>(snap: &'a Snapshot, key: &str) -> Option<&'a str> {
    snap.sysctl.ok()?.get(key).map(|v| v.trim())
}

/// A single unsigned number sysctl.
pub(crate) fn sysctl_u64(snap: &Snapshot, key: &str) -> Option<u64> {
    sysctl(snap, key)?.trim().parse().ok()
}

/// Exactly `N` unsigned numbers separated by whitespace (`tcp_rmem`, `tcp_mem`, `file-nr`).
pub(crate) fn parse_n<const N: usize>(text: &str) -> Option<[u64; N]> {
    let mut out = [0u64; N];
    let mut it = text.split_ascii_whitespace();
    for slot in &mut out {
        *slot = it.next()?.parse().ok()?;
    }
    it.next().is_none().then_some(out)
}

/// A sysctl of exactly `N` unsigned numbers.
pub(crate) fn sysctl_n<const N: usize>(snap: &Snapshot, key: &str) -> Option<[u64; N]> {
    parse_n(sysctl(snap, key)?)
}

/// Format numbers the way the kernel prints vector sysctls (tab-separated there; nettune
/// folds whitespace to one space, which the kernel also accepts on write).
pub(crate) fn join(values: &[u64]) -> String {
    let mut s = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&v.to_string());
    }
    s
}

/// The page size of the host in bytes (4096 when the host facts do not say).
pub(crate) fn page_size(host: &HostFacts) -> u64 {
    if host.page_size > 0 {
        host.page_size
    } else {
        4096
    }
}

/// Bytes as a human size with binary units: whole units from 10 up, else one decimal unless
/// whole (`16 MiB` for 15.6 MiB, as the contract's "= 16 MiB" reads; `512 KiB`, `1.5 GiB`,
/// `2.2 KiB`, `100 B`). The one byte formatter of every rule.
pub(crate) fn fmt_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v >= 10.0 || (v - v.round()).abs() < 0.05 {
        format!("{:.0} {}", v, UNITS[unit])
    } else {
        format!("{:.1} {}", v, UNITS[unit])
    }
}

/// A rate with one decimal (`1260.4`), or no decimals when large.
pub(crate) fn fmt_rate(r: f64) -> String {
    if r >= 1000.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Seconds as a short human duration (`16 ms`, `250 µs`, `1.2 s`).
pub(crate) fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.1} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// Rate of a netstat counter over the window, 0 when the kernel does not print it.
pub(crate) fn rate_or_zero(w: &crate::window::Window, section: &str, field: &str) -> f64 {
    w.netstat_rate(section, field).unwrap_or(0.0).max(0.0)
}

/// Events counted by netstat/snmp counters over the window, with their rate and their
/// share of related traffic: what a [`super::thresholds::CountThreshold`] judges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counted {
    /// Events in the window (sum of the counters' increases).
    pub count: f64,
    /// Events per second.
    pub rate: f64,
    /// Related traffic in the window (sum of the base counters' increases), when the kernel
    /// prints any of them.
    pub base: Option<f64>,
    /// Window length, seconds.
    pub seconds: f64,
}

impl Counted {
    /// `count / base`, when the base is known and not zero.
    pub fn share(&self) -> Option<f64> {
        self.base.filter(|b| *b > 0.0).map(|b| self.count / b)
    }

    /// Whether `th` fires on these events.
    pub fn fires(&self, th: &super::thresholds::CountThreshold) -> bool {
        th.fires(self.count, self.base, self.seconds)
    }
}

/// The increase of the netstat counters `fields` (`(section, field)`) over the window,
/// against the increase of `base`; `None` when the kernel prints none of `fields`.
pub(crate) fn counted(
    w: &crate::window::Window,
    fields: &[(&str, &str)],
    base: &[(&str, &str)],
) -> Option<Counted> {
    let sum = |list: &[(&str, &str)]| -> Option<f64> {
        let v: Vec<i64> = list
            .iter()
            .filter_map(|(s, f)| w.netstat_delta(s, f))
            .collect();
        (!v.is_empty()).then(|| v.iter().map(|d| (*d).max(0) as f64).sum())
    };
    let count = sum(fields)?;
    let seconds = w.seconds();
    Some(Counted {
        count,
        rate: count / seconds.max(1e-9),
        base: sum(base),
        seconds,
    })
}

/// A share (0–1) as a percentage with enough digits for small shares (`0.0012 %`).
pub(crate) fn fmt_share(share: f64) -> String {
    let pct = share * 100.0;
    if pct >= 1.0 {
        format!("{pct:.1} %")
    } else if pct >= 0.01 {
        format!("{pct:.2} %")
    } else {
        format!("{pct:.4} %")
    }
}
