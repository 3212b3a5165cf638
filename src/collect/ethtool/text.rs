//! ethtool's text outputs (`-S`, `-i`, settings, and `-g`/`-l`/`-c`/`-k`, which support archives
//! hold) and node_exporter metric names for driver statistics.
//!
//! The product reads statistics with the ioctl, never by running `ethtool`; the text parser
//! exists for tests (an independent oracle, and node_exporter's fixtures, which are text
//! captures) and to import such captures.

use super::{
    Channels, Coalesce, DriverInfo, DriverStats, Feature, Features, LinkInfo, Rings, Source,
};
use crate::collect::Warnings;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

const SOURCE: &str = "ethtool -S";

/// Parse `ethtool -S` output (`NIC statistics:` then `     name: value` lines; anything
/// before the header, e.g. a `# ethtool -S eth0` comment, is skipped). Names keep their
/// leading/inner spaces trimmed only at the line start, as ethtool prints them.
///
/// A capture holding `ERROR: N` (how node_exporter's fixtures record that the ioctl failed
/// with errno N) becomes the outcome the live reader would give for that errno. Lines that
/// do not parse become warnings; a text with no statistics at all is an error.
pub fn parse_ethtool_s_text(text: &str, warnings: &mut Warnings) -> Source<DriverStats> {
    let mut pairs: Vec<(&str, u64)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("ERROR:") {
            return match rest.trim().parse::<i32>() {
                Ok(errno) => super::classify("driver statistics", "(capture)", None, errno),
                Err(_) => Source::error(format!("{SOURCE}: {trimmed}")),
            };
        }
        if trimmed.ends_with("statistics:") && !line.starts_with(' ') {
            continue; // "NIC statistics:"
        }
        // Names may contain ':' ("[3]: tx_bytes"), so split at the last ": ".
        let parsed = line.rsplit_once(':').and_then(|(name, value)| {
            let name = name.trim_start();
            let v = crate::collect::parse_dec::<u64>(value.trim())?;
            (!name.is_empty()).then_some((name, v))
        });
        match parsed {
            Some(p) => pairs.push(p),
            None => warnings.push(
                SOURCE,
                Some(line_no),
                format!("not a `name: value` line: {:.60}", trimmed),
            ),
        }
    }
    if pairs.is_empty() {
        return Source::from(Err::<DriverStats, _>(crate::error::Error::Parse {
            path: PathBuf::from(SOURCE),
            line: 0,
            what: "no statistics found".into(),
        }));
    }
    Source::Ok(DriverStats::from_pairs(pairs))
}

/// node_exporter's metric name for an ethtool statistic, without the `node_ethtool_`
/// prefix (its `buildEthtoolFQName`): runs of characters other than `[A-Za-z0-9_]` (with the
/// underscores around them) become one `_`; lower case; leading `_` removed; then `rx` and
/// `tx` as whole `_`-separated words become `received` and `transmitted`.
pub fn prometheus_stat_name(stat: &str) -> String {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    // Sanitize: Go's `_*[^0-9A-Za-z_]+_*` → "_", leftmost-first, non-overlapping.
    let chars: Vec<char> = stat.chars().collect();
    let mut s = String::with_capacity(stat.len());
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while chars.get(j) == Some(&'_') {
            j += 1;
        }
        let mut k = j;
        while chars.get(k).is_some_and(|&c| !is_word(c)) {
            k += 1;
        }
        if k > j {
            while chars.get(k) == Some(&'_') {
                k += 1;
            }
            s.push('_');
            i = k;
        } else {
            if let Some(&c) = chars.get(i) {
                s.push(c);
            }
            i += 1;
        }
    }
    let s = s.to_lowercase();
    let s = s.trim_start_matches('_');
    let s = replace_word(s, "rx", "received");
    replace_word(&s, "tx", "transmitted")
}

/// Go's `(^|_)WORD(_|$)` → `${1}NEW${2}`, non-overlapping left to right (the separator
/// consumed by one match is not available to the next).
fn replace_word(s: &str, word: &str, new: &str) -> String {
    let b = s.as_bytes();
    let w = word.as_bytes();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        // A match starts at i: either i == 0 and WORD follows, or b[i] == '_' and WORD follows.
        let (lead, start) = if i == 0 && b.get(..w.len()) == Some(w) {
            (0, 0)
        } else if b[i] == b'_' && b.get(i + 1..i + 1 + w.len()) == Some(w) {
            (1, i + 1)
        } else {
            i += 1;
            continue;
        };
        let end = start + w.len();
        let trail = match b.get(end) {
            None => 0,
            Some(b'_') => 1,
            Some(_) => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[last..i]);
        out.push_str(&s[i..i + lead]);
        out.push_str(new);
        out.push_str(&s[end..end + trail]);
        i = end + trail;
        last = i;
    }
    out.push_str(&s[last..]);
    out
}

/// The statistics node_exporter names with a `_total` suffix (its fixed descriptors for the
/// standard counters), by the driver's statistic name.
const TOTALS: [&str; 8] = [
    "rx_bytes",
    "rx_dropped",
    "rx_errors",
    "rx_packets",
    "tx_bytes",
    "tx_dropped",
    "tx_errors",
    "tx_packets",
];

/// The statistics as node_exporter exports them: (metric name without the `node_ethtool_`
/// prefix, value), in driver order. Like node_exporter, statistics whose names collide after
/// sanitizing (`duplicate metric` / `duplicate_metric`) are all dropped, since no single
/// value is right, and the eight standard counters (`rx_packets`, ...) get `_total`
/// (`received_packets_total`).
pub fn prometheus_stats(stats: &DriverStats) -> Vec<(String, u64)> {
    let named: Vec<(String, u64)> = stats
        .iter()
        .map(|(n, v)| {
            let name = prometheus_stat_name(n);
            if TOTALS.contains(&n) {
                (format!("{name}_total"), v)
            } else {
                (name, v)
            }
        })
        .collect();
    let mut count: HashMap<&str, u32> = HashMap::with_capacity(named.len());
    for (n, _) in &named {
        *count.entry(n.as_str()).or_insert(0) += 1;
    }
    let dup: Vec<bool> = named
        .iter()
        .map(|(n, _)| count.get(n.as_str()) != Some(&1))
        .collect();
    named
        .into_iter()
        .zip(dup)
        .filter_map(|(p, d)| (!d).then_some(p))
        .collect()
}

/// Parse `ethtool -i` output (`driver: e1000e`, `version: ...`, `firmware-version: ...`,
/// `expansion-rom-version: ...`, `bus-info: ...`). Test oracle and fixture reader; a text
/// without a `driver:` line is an error.
pub fn parse_ethtool_i_text(text: &str) -> Source<DriverInfo> {
    let mut d = DriverInfo::default();
    let mut found = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "driver" => {
                d.driver = v;
                found = true;
            }
            "version" => d.version = v,
            "firmware-version" => d.firmware_version = v,
            "expansion-rom-version" => d.expansion_rom_version = v,
            "bus-info" => d.bus_info = v,
            _ => {}
        }
    }
    if found {
        Source::Ok(d)
    } else {
        Source::error("ethtool -i: no `driver:` line")
    }
}

/// Parse the speed, duplex and auto-negotiation lines of plain `ethtool DEV` output
/// (`Speed: 1000Mb/s`, `Duplex: Full`, `Auto-negotiation: on`); `Unknown!` is `None`.
pub fn parse_ethtool_settings_text(text: &str) -> LinkInfo {
    let mut l = LinkInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "Speed" => l.speed_mbps = v.strip_suffix("Mb/s").and_then(|n| n.parse().ok()),
            "Duplex" => {
                l.duplex = match v {
                    "Full" => Some("full".into()),
                    "Half" => Some("half".into()),
                    _ => None,
                }
            }
            "Auto-negotiation" => l.autoneg = Some(v == "on"),
            _ => {}
        }
    }
    l
}

/// `Label:  value` lines of ethtool's text, split at the `Current hardware settings:` line:
/// (pre-set maximums, current). `n/a` is `None`.
fn ethtool_two_blocks(text: &str) -> (BTreeMap<String, u32>, BTreeMap<String, u32>) {
    let mut max = BTreeMap::new();
    let mut cur = BTreeMap::new();
    let mut in_current = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Current hardware settings") {
            in_current = true;
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            continue;
        };
        let Ok(v) = v.trim().parse::<u32>() else {
            continue;
        };
        if in_current { &mut cur } else { &mut max }.insert(k.trim().to_string(), v);
    }
    (max, cur)
}

/// `ethtool -g DEV` text.
pub fn parse_ethtool_g(text: &str) -> Source<Rings> {
    if !text.contains("Current hardware settings") {
        return Source::unsupported(first_line_or(text, "ethtool -g: no ring parameters"));
    }
    let (max, cur) = ethtool_two_blocks(text);
    Source::Ok(Rings {
        rx: cur.get("RX").copied(),
        rx_mini: cur.get("RX Mini").copied(),
        rx_jumbo: cur.get("RX Jumbo").copied(),
        tx: cur.get("TX").copied(),
        rx_max: max.get("RX").copied(),
        rx_mini_max: max.get("RX Mini").copied(),
        rx_jumbo_max: max.get("RX Jumbo").copied(),
        tx_max: max.get("TX").copied(),
        rx_buf_len: cur.get("RX Buf Len").copied(),
    })
}

/// `ethtool -l DEV` text.
pub fn parse_ethtool_l(text: &str) -> Source<Channels> {
    if !text.contains("Current hardware settings") {
        return Source::unsupported(first_line_or(text, "ethtool -l: no channel parameters"));
    }
    let (max, cur) = ethtool_two_blocks(text);
    Source::Ok(Channels {
        rx: cur.get("RX").copied(),
        tx: cur.get("TX").copied(),
        other: cur.get("Other").copied(),
        combined: cur.get("Combined").copied(),
        rx_max: max.get("RX").copied(),
        tx_max: max.get("TX").copied(),
        other_max: max.get("Other").copied(),
        combined_max: max.get("Combined").copied(),
    })
}

/// `ethtool -c DEV` text (`rx-usecs: 3`, `Adaptive RX: on  TX: off`).
pub fn parse_ethtool_c(text: &str) -> Source<Coalesce> {
    if !text.contains("Coalesce parameters") {
        return Source::unsupported(first_line_or(text, "ethtool -c: no coalescing parameters"));
    }
    let mut c = Coalesce::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Adaptive RX:") {
            let mut w = rest.split_ascii_whitespace();
            c.use_adaptive_rx = w.next().map(|v| v == "on");
            c.use_adaptive_tx = w.nth(1).map(|v| v == "on");
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            continue;
        };
        let v = v.trim().parse::<u32>().ok();
        match k.trim() {
            "rx-usecs" => c.rx_usecs = v,
            "rx-frames" => c.rx_max_frames = v,
            "rx-usecs-irq" => c.rx_usecs_irq = v,
            "rx-frames-irq" => c.rx_max_frames_irq = v,
            "tx-usecs" => c.tx_usecs = v,
            "tx-frames" => c.tx_max_frames = v,
            "tx-usecs-irq" => c.tx_usecs_irq = v,
            "tx-frames-irq" => c.tx_max_frames_irq = v,
            "stats-block-usecs" => c.stats_block_usecs = v,
            "pkt-rate-low" => c.pkt_rate_low = v,
            "pkt-rate-high" => c.pkt_rate_high = v,
            "sample-interval" => c.rate_sample_interval = v,
            _ => {}
        }
    }
    Source::Ok(c)
}

/// `ethtool -k DEV` text (`rx-checksumming: on [fixed]`); a feature's requested state is
/// not printed and is taken as its active one.
pub fn parse_ethtool_k(text: &str) -> Source<Features> {
    let mut f = Features::new();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once(": ") else {
            continue;
        };
        let mut w = v.split_ascii_whitespace();
        let active = match w.next() {
            Some("on") => true,
            Some("off") => false,
            _ => continue,
        };
        let fixed = v.contains("[fixed]");
        f.insert(
            k.trim().to_string(),
            Feature {
                active,
                fixed,
                requested: active,
            },
        );
    }
    if f.is_empty() {
        return Source::unsupported(first_line_or(text, "ethtool -k: no feature"));
    }
    Source::Ok(f)
}

fn first_line_or(text: &str, default: &str) -> String {
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => format!("ethtool: {}", l.chars().take(120).collect::<String>()),
        None => default.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ethtool_fq_name_cases() {
        for (input, want) in [
            ("port.rx_errors", "port_received_errors"),
            ("rx_errors", "received_errors"),
            ("Queue[0] AllocFails", "queue_0_allocfails"),
            ("Tx LPI entry count", "transmitted_lpi_entry_count"),
            (
                "port.VF_admin_queue_requests",
                "port_vf_admin_queue_requests",
            ),
            ("[3]: tx_bytes", "3_transmitted_bytes"),
            ("     err", "err"),
            ("rx", "received"),
            ("tx_rx", "transmitted_received"),
            ("rx_rx", "received_rx"),
            ("rxq_0_tx", "rxq_0_transmitted"),
            ("a__.__b", "a_b"),
            ("", ""),
        ] {
            assert_eq!(prometheus_stat_name(input), want, "{input:?}");
        }
    }

    #[test]
    fn parses_names_with_colons_and_counts_warnings() {
        let mut w = Warnings::default();
        let s = parse_ethtool_s_text(
            "NIC statistics:\n     [3]: tx_bytes: 7\n     bogus line\n     rx: 1\n",
            &mut w,
        );
        let s = s.ok().unwrap();
        assert_eq!(s.get("[3]: tx_bytes"), Some(7));
        assert_eq!(s.get("rx"), Some(1));
        assert_eq!(w.0.len(), 1);
        assert_eq!(w.0[0].line, Some(3));
    }

    #[test]
    fn error_captures_and_empty_text() {
        let mut w = Warnings::default();
        assert!(matches!(
            parse_ethtool_s_text("ERROR: 95", &mut w),
            Source::Unsupported { .. }
        ));
        assert!(matches!(
            parse_ethtool_s_text("ERROR: 1", &mut w),
            Source::Error { .. }
        ));
        assert!(matches!(
            parse_ethtool_s_text("", &mut w),
            Source::Error { .. }
        ));
    }

    fn vm(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vm/ethtool")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// `ethtool -S eth0` / `ethtool -i eth0` captured on this project's VM (virtio_net).
    #[test]
    fn vm_virtio_capture() {
        let mut w = Warnings::default();
        let s = parse_ethtool_s_text(&vm("eth0-S.txt"), &mut w);
        let s = s.ok().unwrap();
        assert!(w.0.is_empty());
        assert_eq!(s.len(), 20);
        assert_eq!(s.get("rx_kicks"), Some(280));
        assert_eq!(s.get("tx_kicks"), Some(1215));
        assert_eq!(s.get("rx0_kicks"), Some(280));
        assert_eq!(s.get("tx0_tx_timeouts"), Some(0));
        assert_eq!(s.iter().next(), Some(("rx_drops", 0)));
        let names: Vec<String> = prometheus_stats(s).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "received_drops");
        // Go regexps do not overlap: the `_` the first `tx` consumed is not seen again.
        assert!(names.contains(&"transmitted_tx_timeouts".to_string()));
    }

    /// `ethtool -i` of a virtio_net device, from a sosreport in `../shared/fixtures` (the same
    /// text this project's VM prints).
    #[test]
    fn virtio_driver_info_from_a_sosreport() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../shared/fixtures/sos/hotsos-openstack/sos_commands/networking/ethtool_-i_ens3",
        );
        if !crate::testing::require("../shared/fixtures", p.is_file()) {
            return;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let d = parse_ethtool_i_text(&text);
        let d = d.ok().unwrap();
        assert_eq!(
            (d.driver.as_str(), d.version.as_str(), d.bus_info.as_str()),
            ("virtio_net", "1.0.0", "0000:00:03.0")
        );
        assert_eq!(d.firmware_version, "");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let mut w = Warnings::default();
            let _ = parse_ethtool_s_text(&s, &mut w);
            let _ = prometheus_stat_name(&s);
        }

        #[test]
        fn truncation_never_panics(cut in 0usize..400) {
            let text = "NIC statistics:\n     rx_packets: 1260062\n     port.rx_dropped: 12028\n     duplicate metric: 1\n     duplicate_metric: 2\n     Queue[0] AllocFails: 3\n";
            let cut = cut.min(text.len());
            let mut w = Warnings::default();
            let _ = parse_ethtool_s_text(&text[..cut], &mut w);
        }
    }
}
