//! Safety rules of tuning: which changes are dangerous whatever a profile says, which lower a
//! value while tuning up, and which a running tuning daemon would fight. The plan
//! ([`super::plan`]) and the profiles ([`super::profiles`]) both ask these rules; neither
//! imports the other.

use super::knob::Knob;
use crate::change::{Change, ChangeKind};
use crate::collect::host::Daemons;

/// One change a profile asks for (a profile's output, the plan's input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileChange {
    pub change: Change,
    /// The profile says lowering is intended (`lower = true`): only [`danger`] refuses it.
    pub lower: bool,
}

/// The sysctl trees nettune tunes: every sysctl it proposes is under `net.`. A plan, a
/// profile or a lab state file naming anything else (`kernel.core_pattern`,
/// `vm.overcommit_memory`) is refused, never applied or skipped silently.
pub const OWNED_SYSCTL_TREES: &[&str] = &["net."];

/// Whether sysctl `key` (dotted or slashed) is in a tree nettune owns
/// ([`OWNED_SYSCTL_TREES`]); the reason when it is not.
pub fn owned_sysctl(key: &str) -> Result<(), String> {
    let dotted = key.trim().replace('/', ".");
    if dotted.contains("..") || dotted.starts_with('.') {
        return Err(format!("{key:?} is not a sysctl name"));
    }
    if OWNED_SYSCTL_TREES.iter().any(|t| dotted.starts_with(t)) {
        Ok(())
    } else {
        Err(format!(
            "sysctl {key} is outside the trees nettune tunes ({}); nettune does not change it",
            OWNED_SYSCTL_TREES.join(", ")
        ))
    }
}

/// Largest number one field of sysctl `key` may be set to: the kernel stores most net
/// sysctls as a C `int`; the memory-pressure triples (`tcp_mem`, `udp_mem`, `sctp_mem`) are
/// `long` page counts, bounded here at 2^32 pages (16 TiB).
pub fn sysctl_field_max(key: &str) -> i64 {
    let dotted = key.trim().replace('/', ".");
    match dotted.as_str() {
        "net.ipv4.tcp_mem" | "net.ipv4.udp_mem" | "net.sctp.sctp_mem" => 1 << 32,
        _ => i64::from(i32::MAX),
    }
}

/// Whether every numeric field of `value` fits sysctl `key` ([`sysctl_field_max`]; at least
/// `i32::MIN`); words (`bbr`, `fq`) are not numbers and pass. The reason when one does not.
pub fn sysctl_value_in_range(key: &str, value: &str) -> Result<(), String> {
    let max = sysctl_field_max(key);
    for field in value.split_whitespace() {
        let numeric = field
            .strip_prefix('-')
            .unwrap_or(field)
            .bytes()
            .all(|b| b.is_ascii_digit());
        if !numeric || field == "-" {
            continue;
        }
        match field.parse::<i64>() {
            Ok(n) if (i64::from(i32::MIN)..=max).contains(&n) => {}
            _ => return Err(format!("{key} = {field} is out of range (at most {max})")),
        }
    }
    Ok(())
}

/// Why `c` is dangerous whatever the profile says, if it is.
pub fn danger(c: &Change) -> Option<String> {
    if c.kind != ChangeKind::Sysctl {
        return None;
    }
    match (c.target.as_str(), c.proposed.trim()) {
        ("net.ipv4.tcp_syncookies", "0") => {
            Some("turns SYN cookies off (no defence against SYN floods)".into())
        }
        ("net.ipv4.tcp_timestamps", "0") => {
            Some("turns TCP timestamps off (breaks PAWS and RTT measurement)".into())
        }
        _ => None,
    }
}

/// Whether `c` lowers a size (sysctl, ring, channels, RFS flows, queue length) below its
/// current value; timeouts and retry counts (where lower is the fix) and modes are not sizes.
/// The one entry point for "does this change lower a value" (plan refusals and profiles); the
/// answer is the knob's own ([`Knob::lowers`]). A change whose target does not parse, or
/// whose current value is unknown, lowers nothing.
pub fn lowers(c: &Change) -> bool {
    match (Knob::parse(c), c.current.as_deref()) {
        (Ok(knob), Some(current)) => knob.lowers(current, &c.proposed),
        _ => false,
    }
}

/// Why `c` must not be applied without `--force`, if it must not.
pub fn refusal(c: &Change) -> Option<String> {
    if let Some(d) = danger(c) {
        return Some(d);
    }
    lowers(c).then(|| {
        format!(
            "lowers {} from {} to {} while tuning up",
            c.target,
            c.current.as_deref().unwrap_or("?"),
            c.proposed.trim()
        )
    })
}

/// Why a running tuning daemon would fight `c`, if one would: bpftune tunes net sysctls
/// itself, tuned applies its profile's sysctls. Only sysctl changes are affected.
pub fn refuse_daemons(c: &Change, daemons: &Daemons) -> Option<String> {
    if c.kind != ChangeKind::Sysctl {
        return None;
    }
    let who = match (daemons.bpftune, daemons.tuned) {
        (true, true) => {
            "bpftune and tuned are running (bpftune tunes net sysctls itself; \
                         tuned applies its profile's sysctls)"
        }
        (true, false) => "bpftune is running and tunes net sysctls itself",
        (false, true) => "tuned is running and applies its profile's sysctls",
        (false, false) => return None,
    };
    Some(format!(
        "{who}; it would fight this change (stop it, or exclude {} from it)",
        c.target
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_and_lowering_changes_are_refused() {
        let r = |c: Change| refusal(&c);
        assert!(r(Change::sysctl("net.ipv4.tcp_syncookies", Some("1"), "0")).is_some());
        assert!(r(Change::sysctl("net.ipv4.tcp_timestamps", Some("1"), "0")).is_some());
        assert!(r(Change::sysctl("net.ipv4.tcp_syncookies", Some("0"), "1")).is_none());
        let low = r(Change::sysctl("net.core.somaxconn", Some("4096"), "1024")).unwrap();
        assert!(low.contains("lowers"), "{low}");
        // multi-field: the max field decides
        assert!(r(Change::sysctl(
            "net.ipv4.tcp_rmem",
            Some("4096 131072 6291456"),
            "4096 262144 4194304"
        ))
        .is_some());
        assert!(r(Change::sysctl(
            "net.ipv4.tcp_rmem",
            Some("4096 131072 6291456"),
            "4096 87380 16777216"
        ))
        .is_none());
        assert!(r(Change::sysctl("net.ipv4.tcp_fin_timeout", Some("60"), "15")).is_none());
        assert!(r(Change::sysctl(
            "net.ipv4.tcp_slow_start_after_idle",
            Some("1"),
            "0"
        ))
        .is_none());
        assert!(r(Change::sysctl(
            "net.ipv4.tcp_congestion_control",
            Some("cubic"),
            "bbr"
        ))
        .is_none());
        assert!(r(Change::new(
            ChangeKind::Ring,
            "eth0 rx",
            Some("1024".into()),
            "256"
        ))
        .is_some());
        assert!(r(Change::new(
            ChangeKind::Coalesce,
            "eth0 rx-usecs",
            Some("64".into()),
            "8"
        ))
        .is_none());
    }

    #[test]
    fn daemons_refuse_sysctls_only() {
        let s = Change::sysctl("net.core.somaxconn", Some("128"), "4096");
        let ring = Change::new(ChangeKind::Ring, "eth0 rx", Some("256".into()), "1024");
        assert_eq!(refuse_daemons(&s, &Daemons::default()), None);
        let both = Daemons {
            bpftune: true,
            tuned: true,
            ..Daemons::default()
        };
        let why = refuse_daemons(&s, &both).unwrap();
        assert!(why.starts_with("bpftune and tuned"), "{why}");
        assert!(why.contains("exclude net.core.somaxconn"), "{why}");
        assert_eq!(refuse_daemons(&ring, &both), None);
    }

    #[test]
    fn only_net_sysctls_are_owned() {
        assert!(owned_sysctl("net.core.somaxconn").is_ok());
        assert!(owned_sysctl("net/ipv4/tcp_rmem").is_ok());
        let e = owned_sysctl("kernel.core_pattern").unwrap_err();
        assert!(
            e.contains("kernel.core_pattern") && e.contains("net."),
            "{e}"
        );
        assert!(owned_sysctl("vm.overcommit_memory").is_err());
        assert!(owned_sysctl("net..core").is_err());
        assert!(owned_sysctl("network.x").is_err());
    }

    #[test]
    fn values_are_bounded_per_key() {
        assert!(sysctl_value_in_range("net.core.somaxconn", "4096").is_ok());
        assert!(sysctl_value_in_range("net.core.somaxconn", "2147483647").is_ok());
        let e = sysctl_value_in_range("net.core.somaxconn", "9223372036854775807").unwrap_err();
        assert!(
            e.contains("out of range") && e.contains("2147483647"),
            "{e}"
        );
        assert!(sysctl_value_in_range("net.core.somaxconn", "99999999999999999999").is_err());
        assert!(sysctl_value_in_range("net.ipv4.tcp_rmem", "4096 131072 6291456").is_ok());
        assert!(sysctl_value_in_range("net.ipv4.tcp_rmem", "4096 131072 4294967296").is_err());
        assert!(sysctl_value_in_range("net.ipv4.tcp_mem", "1 2 4294967296").is_ok());
        assert!(sysctl_value_in_range("net.ipv4.tcp_congestion_control", "bbr").is_ok());
        assert!(sysctl_value_in_range("net.ipv4.conf.all.rp_filter", "-1").is_ok());
    }
}
