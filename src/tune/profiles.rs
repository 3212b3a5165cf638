//! Tuning profiles: TOML files shipped in the binary (`balanced`, `throughput`, `latency`,
//! `web-gateway`, `stream-ingest`, `cdn`) or given with `--profile FILE.toml`. A profile is a
//! list of settings (sysctl values or "at least N" rules, ring and channel sizes or `max`,
//! coalescing, features) that [`Profile::changes`] turns into [`Change`]s against the values
//! the kernel has now. A setting that would lower a kernel value is skipped with a note unless
//! it says `lower = true`; `if_available = true` skips a value the kernel cannot take (a
//! congestion control or qdisc that is not built).
//!
//! Format (every key optional; unknown keys are errors with file, line and key):
//!
//! ```toml
//! description = "..."
//! intent = "balanced"            # what the rules judge against: balanced (default),
//!                                # throughput, bulk or latency (see diagnose::Intent)
//! interfaces = ["eth0"]          # devices for ring/channels/coalesce/features (default: all)
//! [[sysctl]]
//! key = "net.core.rmem_max"
//! at_least = "64MiB"             # or a number, or "bdp"; `value = ...` sets exactly
//! lower = false                  # allow lowering the current value
//! if_available = false           # skip when the kernel lacks the value (bbr, fq)
//! [ring]                         # rx, tx: descriptors or "max"
//! [channels]                     # rx, tx, combined: count or "max"
//! [coalesce]                     # rx_usecs, tx_usecs ("128us", "1ms" or µs), rx_frames,
//!                                # tx_frames, adaptive_rx, adaptive_tx, lower
//! [features]                     # kernel feature name = true | false
//! ```
//!
//! Two top-level keys are read by `nettune autotune` only (`tune` ignores them):
//!
//! ```toml
//! decay = "10m"                  # after this long without its symptom, a key autotune
//!                                # raised steps halfway back toward the administrator's
//!                                # baseline, verified (s, m, h; a number is seconds; off
//!                                # when absent; `--decay` overrides it)
//! decay_limits = ["net.ipv4.ip_local_port_range"]
//!                                # capacity limits that decay too: the backlog, SYN
//!                                # backlog, somaxconn, conntrack max, gc_thresh*, port
//!                                # range stay where demand put them unless listed here
//! ```
//!
//! The shipped profiles set neither.

pub use super::safety::ProfileChange;
use crate::change::{Change, ChangeKind};
use crate::collect::ethtool::EthtoolAll;
use crate::collect::sysctl::Sysctls;
use crate::diagnose::Intent;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// The profiles shipped in the binary: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("balanced", include_str!("profiles/balanced.toml")),
    ("throughput", include_str!("profiles/throughput.toml")),
    ("latency", include_str!("profiles/latency.toml")),
    ("web-gateway", include_str!("profiles/web-gateway.toml")),
    ("stream-ingest", include_str!("profiles/stream-ingest.toml")),
    ("cdn", include_str!("profiles/cdn.toml")),
];

/// Largest byte value a profile may ask for (1 TiB).
const BYTES_MAX: u64 = 1 << 40;
/// Largest ring size (descriptors).
const RING_MAX: u64 = 65_536;
/// Largest channel count.
const CHANNELS_MAX: u64 = 4_096;
/// Largest coalescing delay (µs).
const USECS_MAX: u64 = 100_000;
/// Largest coalescing frame count.
const FRAMES_MAX: u64 = 65_535;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    description: String,
    intent: Option<Spanned<toml::Value>>,
    #[serde(default)]
    interfaces: Vec<String>,
    #[serde(default)]
    sysctl: Vec<RawSysctl>,
    ring: Option<BTreeMap<String, Spanned<toml::Value>>>,
    channels: Option<BTreeMap<String, Spanned<toml::Value>>>,
    coalesce: Option<BTreeMap<String, Spanned<toml::Value>>>,
    #[serde(default)]
    features: BTreeMap<String, bool>,
    decay: Option<Spanned<toml::Value>>,
    #[serde(default)]
    decay_limits: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSysctl {
    key: Spanned<String>,
    value: Option<Spanned<toml::Value>>,
    at_least: Option<Spanned<toml::Value>>,
    #[serde(default)]
    lower: bool,
    #[serde(default)]
    if_available: bool,
}

/// What a setting asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Exactly this value (multi-field values such as `1024 65535` as written).
    Value(String),
    /// At least this number; on a multi-field value (`tcp_rmem`) the last (maximum) field.
    AtLeast(u64),
    /// At least the bandwidth-delay product (bytes).
    AtLeastBdp,
    /// The hardware maximum (rings, channels).
    Max,
}

/// One setting of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub kind: ChangeKind,
    /// Sysctl name, or the field of a per-device kind (`rx`, `rx-usecs`, `rx-gro`).
    pub target: String,
    pub rule: Rule,
    /// Lowering the current value is intended.
    pub lower: bool,
    /// Skip when the kernel cannot take the value.
    pub if_available: bool,
}

/// A parsed profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// What the profile optimises for, as the diagnosis rules judge it (`intent = "..."`;
    /// `balanced` when the file does not say).
    pub intent: Intent,
    /// Devices the per-device settings apply to; empty means every device that has them.
    pub interfaces: Vec<String>,
    pub settings: Vec<Setting>,
    /// `nettune autotune`'s decay (`decay = "10m"`): seconds without its symptom after which
    /// a raised key steps back toward the baseline; `None` (the default): no decay.
    pub decay_secs: Option<u64>,
    /// Capacity limits (`crate::autotune::decide::CAPACITY_LIMITS`) that decay too
    /// (`decay_limits = [...]`); the others never decay.
    pub decay_limits: Vec<String>,
}

/// Longest `decay` (7 days, in seconds).
const DECAY_MAX_SECS: u64 = 7 * 86_400;

fn duration_unit(u: &str) -> Option<u64> {
    Some(match u {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return None,
    })
}

/// What the kernel has now, for [`Profile::changes`].
pub struct Current<'a> {
    pub sysctl: &'a Sysctls,
    pub ethtool: Option<&'a EthtoolAll>,
    /// Bandwidth-delay product (bytes) for `at_least = "bdp"`.
    pub bdp_bytes: u64,
    /// Whether the kernel can take `value` for sysctl `key` (`if_available`).
    pub available: &'a dyn Fn(&str, &str) -> bool,
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, key: &str, what: impl std::fmt::Display) -> Error {
        Error::Input(format!(
            "profile {}:{}: key `{key}`: {what}",
            self.file,
            line_of(self.text, span.start)
        ))
    }
}

/// Split `"64MiB"` / `"128 us"` into number and unit.
fn number_unit(s: &str) -> Option<(u64, &str)> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = s.get(..digits)?.parse().ok()?;
    Some((n, s.get(digits..)?.trim()))
}

fn size_unit(u: &str) -> Option<u64> {
    Some(match u {
        "" | "B" => 1,
        "K" | "KiB" | "k" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return None,
    })
}

fn time_unit(u: &str) -> Option<u64> {
    Some(match u {
        "" | "us" | "µs" | "usec" => 1,
        "ms" => 1000,
        _ => return None,
    })
}

/// A number, or a string of a number and a unit accepted by `unit`, within `max`.
fn quantity(
    cx: &Ctx,
    key: &str,
    v: &Spanned<toml::Value>,
    unit: fn(&str) -> Option<u64>,
    units: &str,
    max: u64,
) -> Result<u64> {
    let n = match v.get_ref() {
        toml::Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| cx.err(v.span(), key, format!("{i} is negative")))?
        }
        toml::Value::String(s) => {
            let (n, u) = number_unit(s)
                .ok_or_else(|| cx.err(v.span(), key, format!("{s:?} is not a number")))?;
            let m = unit(u).ok_or_else(|| {
                cx.err(
                    v.span(),
                    key,
                    format!("unknown unit {u:?} in {s:?} (use {units})"),
                )
            })?;
            n.checked_mul(m)
                .ok_or_else(|| cx.err(v.span(), key, format!("{s:?} is out of range")))?
        }
        other => {
            return Err(cx.err(
                v.span(),
                key,
                format!("expected a number, not {}", other.type_str()),
            ))
        }
    };
    if n > max {
        return Err(cx.err(
            v.span(),
            key,
            format!("{n} is out of range (at most {max})"),
        ));
    }
    Ok(n)
}

fn bool_value(cx: &Ctx, key: &str, v: &Spanned<toml::Value>) -> Result<bool> {
    v.get_ref()
        .as_bool()
        .ok_or_else(|| cx.err(v.span(), key, "expected true or false"))
}

/// Parse a profile's TOML text; `file` names it in errors (`profile FILE:LINE: key `k`: ...`).
pub fn parse(name: &str, file: &str, text: &str) -> Result<Profile> {
    let cx = Ctx { file, text };
    let raw: RawProfile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        let msg = e.message().trim().to_string();
        // The key is named by toml's message (`unknown field `x``); add it when it is not.
        let key = e
            .span()
            .and_then(|s| text.get(s))
            .map(|k| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && k.len() < 60 && !k.contains('\n'))
            .map(|k| format!("key `{k}`: "))
            .unwrap_or_default();
        Error::Input(format!("profile {file}:{line}: {key}{msg}"))
    })?;
    let intent = match &raw.intent {
        Some(v) => match v.get_ref() {
            toml::Value::String(name) => name
                .parse::<Intent>()
                .map_err(|e| cx.err(v.span(), "intent", e))?,
            other => {
                return Err(cx.err(
                    v.span(),
                    "intent",
                    format!("expected a string, not {}", other.type_str()),
                ))
            }
        },
        None => Intent::Balanced,
    };
    let mut settings = Vec::new();
    for s in &raw.sysctl {
        let key = s.key.get_ref().trim();
        if key.is_empty() || key.contains(['/', ' ', '*']) || !key.contains('.') {
            return Err(cx.err(s.key.span(), "key", format!("{key:?} is not a sysctl name")));
        }
        super::safety::owned_sysctl(key).map_err(|e| cx.err(s.key.span(), "key", e))?;
        let rule = match (&s.value, &s.at_least) {
            (Some(_), Some(v)) => {
                return Err(cx.err(v.span(), "at_least", "give either value or at_least"))
            }
            (None, None) => {
                return Err(cx.err(s.key.span(), key, "needs value or at_least"));
            }
            (Some(v), None) => {
                let text = match v.get_ref() {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::String(t) => match number_unit(t) {
                        // "64MiB": a size; "1024 65535" or "bbr": literal.
                        Some((_, u))
                            if !u.is_empty() && !u.starts_with(|c: char| c.is_ascii_digit()) =>
                        {
                            quantity(&cx, "value", v, size_unit, "B, KiB, MiB, GiB", BYTES_MAX)?
                                .to_string()
                        }
                        _ => t.trim().to_string(),
                    },
                    toml::Value::Boolean(b) => u8::from(*b).to_string(),
                    other => {
                        return Err(cx.err(
                            v.span(),
                            "value",
                            format!("expected a number or a string, not {}", other.type_str()),
                        ))
                    }
                };
                super::safety::sysctl_value_in_range(key, &text)
                    .map_err(|e| cx.err(v.span(), "value", e))?;
                Rule::Value(text)
            }
            (None, Some(v)) => match v.get_ref() {
                toml::Value::String(t) if t.trim() == "bdp" => Rule::AtLeastBdp,
                _ => Rule::AtLeast(quantity(
                    &cx,
                    "at_least",
                    v,
                    size_unit,
                    "B, KiB, MiB, GiB or \"bdp\"",
                    BYTES_MAX.min(super::safety::sysctl_field_max(key).unsigned_abs()),
                )?),
            },
        };
        settings.push(Setting {
            kind: ChangeKind::Sysctl,
            target: key.to_string(),
            rule,
            lower: s.lower,
            if_available: s.if_available,
        });
    }
    let count = |kind: ChangeKind,
                 table: &Option<BTreeMap<String, Spanned<toml::Value>>>,
                 fields: &[&str],
                 max: u64,
                 settings: &mut Vec<Setting>|
     -> Result<()> {
        let Some(t) = table else { return Ok(()) };
        let lower = match t.get("lower") {
            Some(v) => bool_value(&cx, "lower", v)?,
            None => false,
        };
        for (k, v) in t {
            if k == "lower" {
                continue;
            }
            if !fields.contains(&k.as_str()) {
                return Err(cx.err(
                    v.span(),
                    k,
                    format!(
                        "unknown {kind} key (expected one of: {}, lower)",
                        fields.join(", ")
                    ),
                ));
            }
            let rule = match v.get_ref() {
                toml::Value::String(s) if s.trim() == "max" => Rule::Max,
                _ => Rule::AtLeast(quantity(
                    &cx,
                    k,
                    v,
                    |u| (u.is_empty()).then_some(1),
                    "a plain number or \"max\"",
                    max,
                )?),
            };
            settings.push(Setting {
                kind,
                target: k.clone(),
                rule,
                lower,
                if_available: false,
            });
        }
        Ok(())
    };
    count(
        ChangeKind::Ring,
        &raw.ring,
        &["rx", "tx"],
        RING_MAX,
        &mut settings,
    )?;
    count(
        ChangeKind::Channels,
        &raw.channels,
        &["rx", "tx", "combined"],
        CHANNELS_MAX,
        &mut settings,
    )?;
    if let Some(t) = &raw.coalesce {
        let lower = match t.get("lower") {
            Some(v) => bool_value(&cx, "lower", v)?,
            None => false,
        };
        for (k, v) in t {
            let (target, value) = match k.as_str() {
                "lower" => continue,
                "rx_usecs" | "tx_usecs" => (
                    k.replace('_', "-"),
                    quantity(&cx, k, v, time_unit, "us or ms", USECS_MAX)?.to_string(),
                ),
                "rx_frames" | "tx_frames" => (
                    k.replace('_', "-"),
                    quantity(
                        &cx,
                        k,
                        v,
                        |u| u.is_empty().then_some(1),
                        "a plain number",
                        FRAMES_MAX,
                    )?
                    .to_string(),
                ),
                "adaptive_rx" | "adaptive_tx" => (
                    k.replace('_', "-"),
                    if bool_value(&cx, k, v)? { "on" } else { "off" }.to_string(),
                ),
                _ => {
                    return Err(cx.err(
                        v.span(),
                        k,
                        "unknown coalesce key (expected rx_usecs, tx_usecs, rx_frames, \
                         tx_frames, adaptive_rx, adaptive_tx, lower)",
                    ))
                }
            };
            settings.push(Setting {
                kind: ChangeKind::Coalesce,
                target,
                rule: Rule::Value(value),
                lower,
                if_available: false,
            });
        }
    }
    for (name, on) in &raw.features {
        settings.push(Setting {
            kind: ChangeKind::Feature,
            target: name.clone(),
            rule: Rule::Value(if *on { "on" } else { "off" }.to_string()),
            lower: true,
            if_available: false,
        });
    }
    let decay_secs = match &raw.decay {
        Some(v) => {
            let secs = quantity(&cx, "decay", v, duration_unit, "s, m or h", DECAY_MAX_SECS)?;
            if secs == 0 {
                return Err(cx.err(v.span(), "decay", "must be longer than 0 s"));
            }
            Some(secs)
        }
        None => None,
    };
    let mut decay_limits = Vec::new();
    for k in &raw.decay_limits {
        let key = k.get_ref().trim();
        if !crate::autotune::decide::CAPACITY_LIMITS.contains(&key) {
            return Err(cx.err(
                k.span(),
                "decay_limits",
                format!(
                    "{key:?} is not a capacity limit (one of: {}); other keys decay with \
                     `decay` alone",
                    crate::autotune::decide::CAPACITY_LIMITS.join(", ")
                ),
            ));
        }
        decay_limits.push(key.to_string());
    }
    Ok(Profile {
        name: name.to_string(),
        description: raw.description,
        intent,
        interfaces: raw.interfaces,
        settings,
        decay_secs,
        decay_limits,
    })
}

/// The names of the shipped profiles.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// A shipped profile by name, or a TOML file (`--profile FILE.toml`, or any argument with a
/// `/` or ending in `.toml`).
pub fn load(arg: &str) -> Result<Profile> {
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == arg) {
        return parse(name, &format!("<built-in {name}>"), text);
    }
    if arg.ends_with(".toml") || arg.contains('/') {
        let path = Path::new(arg);
        let text = crate::durable::read_regular(path, 1 << 20, "a profile")
            .map_err(|e| Error::Input(format!("profile {}: {e}", path.display())))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("custom");
        return parse(stem, arg, &text);
    }
    Err(Error::Input(format!(
        "unknown profile {arg:?}; available: {} (or a FILE.toml)",
        names().join(", ")
    )))
}

/// The largest field of a numeric value (`4096 131072 6291456` → 6291456).
fn max_field(v: &str) -> Option<u64> {
    let mut max = None;
    for t in v.split_ascii_whitespace() {
        let n: u64 = t.parse().ok()?;
        max = Some(max.map_or(n, |m: u64| m.max(n)));
    }
    max
}

impl Profile {
    /// The changes this profile asks for against `now`, and notes on the settings skipped
    /// (already there, would lower a value, not available, not present).
    pub fn changes(&self, now: &Current) -> (Vec<ProfileChange>, Vec<String>) {
        let mut out = Vec::new();
        let mut notes = Vec::new();
        let p = &self.name;
        for s in &self.settings {
            if s.kind == ChangeKind::Sysctl {
                let key = s.target.as_str();
                let Some(cur) = now.sysctl.get(key) else {
                    notes.push(format!("{p}: {key} is not present on this kernel; skipped"));
                    continue;
                };
                let cur = cur.trim();
                let proposed = match &s.rule {
                    Rule::Value(v) => v.clone(),
                    Rule::AtLeast(n) => raise_last(cur, *n),
                    Rule::AtLeastBdp => raise_last(cur, now.bdp_bytes),
                    Rule::Max => continue,
                };
                if s.if_available && !(now.available)(key, &proposed) {
                    notes.push(format!(
                        "{p}: {key} = {proposed} skipped: not available on this kernel"
                    ));
                    continue;
                }
                self.push(s, key, cur, proposed, &mut out, &mut notes);
                continue;
            }
            let Some(eth) = now.ethtool else {
                notes.push(format!(
                    "{p}: {} {} skipped: no ethtool data",
                    s.kind, s.target
                ));
                continue;
            };
            for (dev, view) in eth {
                if dev == "lo" || !(self.interfaces.is_empty() || self.interfaces.contains(dev)) {
                    continue;
                }
                let (cur, max) = match (s.kind, s.target.as_str()) {
                    (ChangeKind::Ring, f) => match view.rings.ok() {
                        Some(r) if f == "rx" => (r.rx, r.rx_max),
                        Some(r) => (r.tx, r.tx_max),
                        None => continue,
                    },
                    (ChangeKind::Channels, f) => match view.channels.ok() {
                        Some(c) if f == "rx" => (c.rx, c.rx_max),
                        Some(c) if f == "tx" => (c.tx, c.tx_max),
                        Some(c) => (c.combined, c.combined_max),
                        None => continue,
                    },
                    (ChangeKind::Coalesce, f) => {
                        let Some(c) = view.coalesce.ok() else {
                            continue;
                        };
                        let v = match f {
                            "rx-usecs" => c.rx_usecs,
                            "tx-usecs" => c.tx_usecs,
                            "rx-frames" => c.rx_max_frames,
                            "tx-frames" => c.tx_max_frames,
                            "adaptive-rx" => c.use_adaptive_rx.map(u32::from),
                            _ => c.use_adaptive_tx.map(u32::from),
                        };
                        (v, None)
                    }
                    (ChangeKind::Feature, f) => {
                        let Some(feat) = view.features.ok().and_then(|m| m.get(f)) else {
                            continue;
                        };
                        if feat.fixed {
                            continue;
                        }
                        (Some(u32::from(feat.active)), None)
                    }
                    _ => continue,
                };
                // A field the driver does not report cannot be set.
                let Some(cur) = cur else { continue };
                let target = format!("{dev} {}", s.target);
                let flag = |n: u32| if n > 0 { "on" } else { "off" }.to_string();
                let is_flag = s.kind == ChangeKind::Feature || s.target.starts_with("adaptive");
                let cur_s = if is_flag { flag(cur) } else { cur.to_string() };
                let proposed = match &s.rule {
                    Rule::Max => match max {
                        Some(m) => m.to_string(),
                        None => continue,
                    },
                    Rule::AtLeast(n) => {
                        let n = u32::try_from(*n).unwrap_or(u32::MAX);
                        match max {
                            Some(m) if n > m => {
                                notes.push(format!(
                                    "{p}: {target} {n} is above the hardware maximum {m}; using {m}"
                                ));
                                m.to_string()
                            }
                            _ => n.to_string(),
                        }
                    }
                    Rule::Value(v) => v.clone(),
                    Rule::AtLeastBdp => continue,
                };
                self.push(s, &target, &cur_s, proposed, &mut out, &mut notes);
            }
        }
        (out, notes)
    }

    fn push(
        &self,
        s: &Setting,
        target: &str,
        cur: &str,
        proposed: String,
        out: &mut Vec<ProfileChange>,
        notes: &mut Vec<String>,
    ) {
        let c = Change::new(s.kind, target, Some(cur.to_string()), proposed);
        if crate::collect::sysctl::fold_value(cur)
            == crate::collect::sysctl::fold_value(&c.proposed)
        {
            return;
        }
        if !s.lower && super::safety::lowers(&c) {
            notes.push(format!(
                "{}: {} {target} = {} skipped: lower than the current {cur} (the profile \
                 does not say lower = true)",
                self.name, s.kind, c.proposed
            ));
            return;
        }
        out.push(ProfileChange {
            change: c,
            lower: s.lower,
        });
    }
}

/// `cur` with its last (largest) field raised to at least `n`; a single number becomes
/// `max(cur, n)`. A non-numeric value becomes `n`.
fn raise_last(cur: &str, n: u64) -> String {
    let fields: Vec<&str> = cur.split_ascii_whitespace().collect();
    match fields.split_last() {
        Some((last, rest)) if max_field(cur).is_some() => {
            let l: u64 = last.parse().unwrap_or(0);
            let mut s = rest.join(" ");
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&l.max(n).to_string());
            s
        }
        _ => n.to_string(),
    }
}

/// The bandwidth-delay product in bytes for `gbps` and `rtt_ms`, rounded up to a power of
/// two and kept within 4 MiB..256 MiB.
pub fn bdp_bytes(gbps: f64, rtt_ms: f64) -> u64 {
    let bytes = (gbps * 1e9 / 8.0 * rtt_ms / 1000.0).max(0.0);
    let b = if bytes.is_finite() { bytes as u64 } else { 0 };
    b.next_power_of_two().clamp(4 << 20, 256 << 20)
}

/// Whether the running kernel can take `value` for `key` (for `if_available`): a congestion
/// control must be in `available` (or loadable as `tcp_NAME.ko`), a qdisc must be built in
/// or loadable (`/sys/module/sch_NAME`, `modules.builtin`, `sch_NAME.ko`). Other keys: yes.
pub fn kernel_has(key: &str, value: &str, available_cc: &[String]) -> bool {
    let module = |m: &str| -> bool {
        if Path::new("/sys/module").join(m).exists() {
            return true;
        }
        let Ok(rel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
            return false;
        };
        let dir = Path::new("/lib/modules").join(rel.trim());
        let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
        let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap_or_default();
        let ko = format!("/{m}.ko");
        builtin
            .lines()
            .chain(dep.lines())
            .any(|l| l.split(':').next().is_some_and(|p| p.contains(&ko)))
    };
    let v = value.trim();
    match key {
        "net.ipv4.tcp_congestion_control" => {
            available_cc.iter().any(|c| c == v) || module(&format!("tcp_{v}"))
        }
        "net.core.default_qdisc" => {
            // Always built in (sch_generic, sch_mq).
            matches!(v, "pfifo_fast" | "noqueue" | "mq" | "pfifo" | "bfifo")
                || module(&format!("sch_{v}"))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
