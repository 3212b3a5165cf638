use super::*;
use crate::collect::ethtool::{Channels, Coalesce, Ethtool, Rings};
use crate::collect::Source;

fn sysctls(kv: &[(&str, &str)]) -> Sysctls {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn yes(_: &str, _: &str) -> bool {
    true
}

fn no_fq(k: &str, v: &str) -> bool {
    !(k == "net.core.default_qdisc" && v == "fq")
}

fn find<'a>(cs: &'a [ProfileChange], target: &str) -> Option<&'a ProfileChange> {
    cs.iter().find(|c| c.change.target == target)
}

fn eth0() -> EthtoolAll {
    let view = Ethtool {
        rings: Source::Ok(Rings {
            rx: Some(256),
            tx: Some(256),
            rx_max: Some(4096),
            tx_max: Some(4096),
            ..Default::default()
        }),
        channels: Source::Ok(Channels {
            combined: Some(2),
            combined_max: Some(8),
            ..Default::default()
        }),
        coalesce: Source::Ok(Coalesce {
            rx_usecs: Some(50),
            rx_max_frames: Some(1),
            tx_usecs: Some(50),
            use_adaptive_rx: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut m = EthtoolAll::new();
    m.insert("eth0".into(), view);
    m.insert("lo".into(), Ethtool::default());
    m
}

#[test]
fn every_builtin_profile_parses() {
    for (name, _) in BUILTIN {
        let p = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, *name);
        assert!(!p.description.is_empty(), "{name}");
    }
    assert!(load("balanced").unwrap().settings.is_empty());
    let e = load("no-such").unwrap_err().to_string();
    assert!(e.contains("web-gateway") && e.contains("no-such"), "{e}");
}

#[test]
fn web_gateway_raises_queues_and_never_lowers() {
    let p = load("web-gateway").unwrap();
    let now = sysctls(&[
        ("net.core.somaxconn", "4096"),
        ("net.ipv4.tcp_max_syn_backlog", "65536"),
        ("net.ipv4.ip_local_port_range", "32768\t60999"),
        ("net.ipv4.tcp_tw_reuse", "2"),
    ]);
    let cur = Current {
        sysctl: &now,
        ethtool: None,
        bdp_bytes: 0,
        available: &yes,
    };
    let (cs, notes) = p.changes(&cur);
    assert_eq!(
        find(&cs, "net.core.somaxconn").unwrap().change.proposed,
        "8192"
    );
    assert_eq!(
        find(&cs, "net.core.somaxconn")
            .unwrap()
            .change
            .current
            .as_deref(),
        Some("4096")
    );
    // 65536 is above the profile's 8192: left alone, not lowered.
    assert!(find(&cs, "net.ipv4.tcp_max_syn_backlog").is_none());
    assert_eq!(
        find(&cs, "net.ipv4.ip_local_port_range")
            .unwrap()
            .change
            .proposed,
        "1024 65535"
    );
    // A mode, not a size: 2 -> 1 is proposed.
    assert_eq!(
        find(&cs, "net.ipv4.tcp_tw_reuse").unwrap().change.proposed,
        "1"
    );
    assert_eq!(cs.len(), 3, "{cs:?}");
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn lower_than_current_is_skipped_with_a_note_unless_lower_is_true() {
    let text = "[[sysctl]]\nkey = \"net.core.rmem_max\"\nvalue = \"1MiB\"\n\
                [[sysctl]]\nkey = \"net.core.wmem_max\"\nvalue = 1024\nlower = true\n";
    let p = parse("mine", "mine.toml", text).unwrap();
    let now = sysctls(&[
        ("net.core.rmem_max", "4194304"),
        ("net.core.wmem_max", "4096"),
    ]);
    let cur = Current {
        sysctl: &now,
        ethtool: None,
        bdp_bytes: 0,
        available: &yes,
    };
    let (cs, notes) = p.changes(&cur);
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].change.target, "net.core.wmem_max");
    assert_eq!(cs[0].change.proposed, "1024");
    assert!(cs[0].lower);
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("net.core.rmem_max")
            && notes[0].contains("1048576")
            && notes[0].contains("lower"),
        "{}",
        notes[0]
    );
}

#[test]
fn throughput_uses_ring_maxima_coalescing_and_bdp() {
    let p = load("throughput").unwrap();
    let now = sysctls(&[
        ("net.core.rmem_max", "212992"),
        ("net.core.wmem_max", "212992"),
        ("net.ipv4.tcp_rmem", "4096 131072 6291456"),
        ("net.ipv4.tcp_wmem", "4096 16384 4194304"),
        ("net.core.netdev_max_backlog", "1000"),
    ]);
    let eth = eth0();
    let bdp = bdp_bytes(10.0, 20.0);
    assert_eq!(bdp, 32 << 20);
    let cur = Current {
        sysctl: &now,
        ethtool: Some(&eth),
        bdp_bytes: bdp,
        available: &yes,
    };
    let (cs, _) = p.changes(&cur);
    let get = |t: &str| find(&cs, t).map(|c| c.change.proposed.as_str());
    assert_eq!(get("net.core.rmem_max"), Some("33554432"));
    assert_eq!(get("net.ipv4.tcp_rmem"), Some("4096 131072 33554432"));
    assert_eq!(get("net.core.netdev_max_backlog"), Some("8192"));
    assert_eq!(get("eth0 rx"), Some("4096"));
    assert_eq!(get("eth0 tx"), Some("4096"));
    assert_eq!(get("eth0 rx-usecs"), Some("128"));
    assert_eq!(get("eth0 rx-frames"), Some("64"));
    assert_eq!(find(&cs, "eth0 rx").unwrap().change.kind, ChangeKind::Ring);
    assert!(cs.iter().all(|c| !c.change.target.starts_with("lo ")));
}

#[test]
fn latency_lowers_coalescing_on_purpose_and_adds_busy_poll() {
    let p = load("latency").unwrap();
    let now = sysctls(&[
        ("net.core.busy_poll", "0"),
        ("net.core.busy_read", "0"),
        ("net.ipv4.tcp_notsent_lowat", "4294967295"),
    ]);
    let eth = eth0();
    let cur = Current {
        sysctl: &now,
        ethtool: Some(&eth),
        bdp_bytes: 0,
        available: &yes,
    };
    let (cs, notes) = p.changes(&cur);
    let get = |t: &str| find(&cs, t).map(|c| c.change.proposed.as_str());
    assert_eq!(get("net.core.busy_poll"), Some("50"));
    assert_eq!(get("net.core.busy_read"), Some("50"));
    assert_eq!(get("net.ipv4.tcp_notsent_lowat"), Some("16384"));
    assert_eq!(get("eth0 rx-usecs"), Some("0"));
    assert_eq!(get("eth0 tx-usecs"), Some("10"));
    assert_eq!(get("eth0 adaptive-rx"), Some("off"));
    assert!(find(&cs, "eth0 rx-usecs").unwrap().lower);
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn stream_ingest_takes_rings_and_channels_to_max() {
    let p = load("stream-ingest").unwrap();
    let now = sysctls(&[
        ("net.core.netdev_max_backlog", "1000"),
        ("net.core.rmem_max", "212992"),
        ("net.core.rmem_default", "212992"),
    ]);
    let eth = eth0();
    let cur = Current {
        sysctl: &now,
        ethtool: Some(&eth),
        bdp_bytes: 0,
        available: &yes,
    };
    let (cs, _) = p.changes(&cur);
    let get = |t: &str| find(&cs, t).map(|c| c.change.proposed.as_str());
    assert_eq!(get("net.core.netdev_max_backlog"), Some("16384"));
    assert_eq!(get("net.core.rmem_max"), Some("67108864"));
    assert_eq!(get("net.core.rmem_default"), Some("1048576"));
    assert_eq!(get("eth0 rx"), Some("4096"));
    assert_eq!(get("eth0 combined"), Some("8"));
    assert_eq!(
        find(&cs, "eth0 combined").unwrap().change.kind,
        ChangeKind::Channels
    );
}

#[test]
fn cdn_sets_fq_only_if_available() {
    let p = load("cdn").unwrap();
    let now = sysctls(&[
        ("net.ipv4.tcp_congestion_control", "cubic"),
        ("net.core.default_qdisc", "pfifo_fast"),
        ("net.ipv4.tcp_rmem", "4096 131072 6291456"),
        ("net.ipv4.tcp_wmem", "4096 16384 4194304"),
        ("net.core.wmem_max", "212992"),
    ]);
    let cur = Current {
        sysctl: &now,
        ethtool: None,
        bdp_bytes: 0,
        available: &no_fq,
    };
    let (cs, notes) = p.changes(&cur);
    let get = |t: &str| find(&cs, t).map(|c| c.change.proposed.as_str());
    assert_eq!(get("net.ipv4.tcp_congestion_control"), Some("bbr"));
    assert_eq!(get("net.core.default_qdisc"), None);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("default_qdisc") && n.contains("not available")),
        "{notes:?}"
    );
    assert_eq!(get("net.ipv4.tcp_wmem"), Some("4096 16384 67108864"));
    let cur = Current {
        available: &yes,
        ..cur
    };
    assert_eq!(
        find(&p.changes(&cur).0, "net.core.default_qdisc").map(|c| c.change.proposed.clone()),
        Some("fq".to_string())
    );
    // This kernel: bbr is built, fq is not (CONFIG_NET_SCH_FQ unset); the probe agrees
    // with what the kernel lists.
    assert!(kernel_has(
        "net.ipv4.tcp_congestion_control",
        "bbr",
        &["reno".into(), "bbr".into()]
    ));
    assert!(kernel_has("net.core.default_qdisc", "pfifo_fast", &[]));
    assert!(!kernel_has("net.core.default_qdisc", "no_such_qdisc", &[]));
}

#[test]
fn bad_profiles_name_file_line_and_key() {
    let cases: &[(&str, usize, &str)] = &[
        // unknown top-level key
        ("description = \"x\"\n\nspeed = 3\n", 3, "speed"),
        // unknown key in a sysctl entry
        (
            "[[sysctl]]\nkey = \"net.core.somaxconn\"\natleast = 5\n",
            3,
            "atleast",
        ),
        // bad unit
        (
            "[[sysctl]]\nkey = \"net.core.rmem_max\"\nat_least = \"64 parsecs\"\n",
            3,
            "at_least",
        ),
        ("[coalesce]\nrx_usecs = \"5 s\"\n", 2, "rx_usecs"),
        // out of range
        ("[ring]\nrx = 1000000\n", 2, "rx"),
        ("\n[coalesce]\nrx_frames = -1\n", 3, "rx_frames"),
        // unknown key in a table
        ("[ring]\nrx = \"max\"\nrx_jumbo = 5\n", 3, "rx_jumbo"),
        // wrong type
        ("[coalesce]\nadaptive_rx = \"yes\"\n", 2, "adaptive_rx"),
        // both value and at_least
        (
            "[[sysctl]]\nkey = \"net.core.somaxconn\"\nvalue = 1\nat_least = 2\n",
            4,
            "at_least",
        ),
        // beyond what the kernel's int holds
        (
            "[[sysctl]]\nkey = \"net.core.somaxconn\"\nvalue = 9223372036854775807\n",
            3,
            "out of range",
        ),
        (
            "[[sysctl]]\nkey = \"net.core.rmem_max\"\nat_least = \"4GiB\"\n",
            3,
            "out of range",
        ),
        // outside the sysctl trees nettune owns
        (
            "\n[[sysctl]]\nkey = \"kernel.core_pattern\"\nvalue = \"|/tmp/x\"\n",
            3,
            "kernel.core_pattern",
        ),
    ];
    for (text, line, key) in cases {
        let e = parse("bad", "/etc/x/bad.toml", text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("/etc/x/bad.toml:{line}:")),
            "{text:?}: line {line} not named: {e}"
        );
        assert!(e.contains(key), "{text:?}: key {key} not named: {e}");
    }
}

#[test]
fn profiles_declare_their_intent() {
    use crate::diagnose::Intent;
    let want = [
        ("balanced", Intent::Balanced),
        ("throughput", Intent::Throughput),
        ("latency", Intent::Latency),
        ("web-gateway", Intent::Balanced),
        ("stream-ingest", Intent::Bulk),
        ("cdn", Intent::Bulk),
    ];
    assert_eq!(want.len(), BUILTIN.len());
    for (name, intent) in want {
        assert_eq!(load(name).unwrap().intent, intent, "{name}");
        // Every shipped file says it, rather than relying on the default.
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).unwrap();
        assert!(
            text.contains("\nintent = "),
            "{name} does not declare its intent"
        );
    }
    // A user file without `intent` is balanced; with one, it is what it says.
    assert_eq!(
        parse("mine", "mine.toml", "").unwrap().intent,
        Intent::Balanced
    );
    for i in Intent::ALL {
        let text = format!("description = \"x\"\nintent = \"{i}\"\n");
        assert_eq!(parse("mine", "mine.toml", &text).unwrap().intent, i);
    }
    // Unknown or mistyped: file, line and key.
    for (text, line) in [
        ("description = \"x\"\nintent = \"fast\"\n", 2),
        ("\n\nintent = 3\n", 3),
        ("intent = \"Latency\"\n", 1),
    ] {
        let e = parse("bad", "/etc/x/bad.toml", text)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("/etc/x/bad.toml:{line}:")),
            "{text:?}: {e}"
        );
        assert!(e.contains("intent"), "{text:?}: {e}");
    }
}

#[test]
fn profile_files_are_loaded_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("site.toml");
    std::fs::write(
        &f,
        "[[sysctl]]\nkey = \"net.core.somaxconn\"\nat_least = \"16K\"\n",
    )
    .unwrap();
    let p = load(f.to_str().unwrap()).unwrap();
    assert_eq!(p.name, "site");
    assert_eq!(p.settings[0].rule, Rule::AtLeast(16384));
    assert!(load(dir.path().join("missing.toml").to_str().unwrap()).is_err());
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,300}") {
        let _ = parse("p", "p.toml", &text);
    }
}

#[test]
fn decay_is_off_in_shipped_profiles_and_parsed_with_its_limits() {
    for (name, _) in BUILTIN {
        let p = load(name).unwrap();
        assert_eq!((p.decay_secs, p.decay_limits.len()), (None, 0), "{name}");
    }
    let p = parse(
        "d",
        "d.toml",
        "decay = \"10m\"\ndecay_limits = [\"net.ipv4.ip_local_port_range\"]\n",
    )
    .unwrap();
    assert_eq!(p.decay_secs, Some(600));
    assert_eq!(p.decay_limits, ["net.ipv4.ip_local_port_range"]);
    assert_eq!(
        parse("d", "d.toml", "decay = 90\n").unwrap().decay_secs,
        Some(90)
    );
    assert_eq!(
        parse("d", "d.toml", "decay = \"2h\"\n").unwrap().decay_secs,
        Some(7200)
    );
    for (text, line, what) in [
        ("decay = \"10 parsecs\"\n", 1, "unknown unit"),
        ("\ndecay = \"0s\"\n", 2, "longer than 0"),
        ("decay = \"8000h\"\n", 1, "out of range"),
        ("decay = true\n", 1, "expected a number"),
        (
            "decay = \"1m\"\ndecay_limits = [\"net.core.rmem_max\"]\n",
            2,
            "not a capacity limit",
        ),
    ] {
        let e = parse("d", "d.toml", text).unwrap_err().to_string();
        assert!(
            e.contains(&format!("d.toml:{line}:")) && e.contains(what),
            "{text}: {e}"
        );
    }
}
