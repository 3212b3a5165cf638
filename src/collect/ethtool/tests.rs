//! Tests against this machine: our netlink and ioctl reads against the `ethtool` binary as an
//! independent oracle (skipped with a note when it is absent), `lo`, a missing device, and a
//! veth pair in a throwaway network namespace read from a thread that entered it.

use super::*;
use crate::collect::Warnings;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn ethtool_bin() -> Option<&'static str> {
    ["/usr/sbin/ethtool", "/sbin/ethtool", "/usr/bin/ethtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// Run `ethtool ARGS` (inside `netns` when given); `None` with a note when unavailable.
fn oracle(netns: Option<&str>, args: &[&str]) -> Option<String> {
    let Some(bin) = ethtool_bin() else {
        eprintln!("note: ethtool binary not installed; oracle comparison skipped");
        return None;
    };
    let out = match netns {
        Some(ns) => Command::new("ip")
            .args(["netns", "exec", ns, bin])
            .args(args)
            .output(),
        None => Command::new(bin).args(args).output(),
    }
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has_dev(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `ethtool -g` / `-l` output → (section, key) → value (None for n/a).
fn parse_two_sections(text: &str) -> HashMap<(bool, String), Option<u32>> {
    let mut out = HashMap::new();
    let mut current = false;
    for line in text.lines() {
        if line.starts_with("Pre-set maximums") {
            current = false;
        } else if line.starts_with("Current hardware settings") {
            current = true;
        } else if let Some((k, v)) = line.split_once(':') {
            out.insert(
                (current, k.trim().to_string()),
                v.trim().parse::<u32>().ok(),
            );
        }
    }
    out
}

/// `ethtool -k` → name → (on, fixed).
fn parse_k(text: &str) -> HashMap<String, (bool, bool)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((
                k.trim().to_string(),
                (v.trim_start().starts_with("on"), v.contains("[fixed]")),
            ))
        })
        .collect()
}

fn check_features_against_oracle(ours: &Features, k: &HashMap<String, (bool, bool)>) {
    let mut compared = 0;
    for (name, &(on, fixed)) in k {
        match ours.get(name) {
            Some(f) => {
                assert_eq!(f.active, on, "feature {name} active");
                assert_eq!(f.fixed, fixed, "feature {name} fixed");
                compared += 1;
            }
            // Legacy aggregate names (tcp-segmentation-offload, ...) are not kernel names;
            // kernel names we do not list must be off and fixed.
            None if name.contains("-offload") || name.contains("checksumming") => {}
            None if ["scatter-gather", "ntuple-filters", "receive-hashing"]
                .contains(&name.as_str()) => {}
            None => assert!(!on && fixed, "feature {name} missing but on/changeable"),
        }
    }
    assert!(compared > 10, "compared only {compared} features");
    // The bit the ethtool crate drops (index 0) is present.
    assert!(ours.contains_key("tx-scatter-gather"), "{ours:?}");
}

#[test]
fn eth0_agrees_with_ethtool_binary() {
    if !has_dev("eth0") {
        eprintln!("note: no eth0 here; skipped");
        return;
    }
    let e = read_device("eth0");
    let drv = e.driver.ok().expect("drvinfo");
    eprintln!("eth0: {drv:?}");
    assert!(!drv.driver.is_empty());

    if let Some(i) = oracle(None, &["-i", "eth0"]) {
        assert!(i.contains(&format!("driver: {}\n", drv.driver)), "{i}");
        assert!(i.contains(&format!("bus-info: {}\n", drv.bus_info)), "{i}");
        assert!(i.contains(&format!("version: {}\n", drv.version)), "{i}");
    }

    if let Some(g) = oracle(None, &["-g", "eth0"]) {
        let r = e.rings.ok().expect("rings");
        let m = parse_two_sections(&g);
        assert_eq!(m.get(&(true, "RX".into())).copied().flatten(), r.rx);
        assert_eq!(m.get(&(true, "TX".into())).copied().flatten(), r.tx);
        assert_eq!(m.get(&(false, "RX".into())).copied().flatten(), r.rx_max);
        assert_eq!(m.get(&(false, "TX".into())).copied().flatten(), r.tx_max);
        assert_eq!(
            m.get(&(true, "RX Jumbo".into())).copied().flatten(),
            r.rx_jumbo
        );
    }

    if let Some(l) = oracle(None, &["-l", "eth0"]) {
        let c = e.channels.ok().expect("channels");
        let m = parse_two_sections(&l);
        assert_eq!(
            m.get(&(true, "Combined".into())).copied().flatten(),
            c.combined
        );
        assert_eq!(
            m.get(&(false, "Combined".into())).copied().flatten(),
            c.combined_max
        );
        assert_eq!(m.get(&(true, "RX".into())).copied().flatten(), c.rx);
        assert_eq!(m.get(&(true, "TX".into())).copied().flatten(), c.tx);
    }

    if let Some(co) = oracle(None, &["-c", "eth0"]) {
        let c = e.coalesce.ok().expect("coalesce");
        let field = |k: &str| {
            co.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        assert_eq!(field("rx-usecs"), c.rx_usecs);
        assert_eq!(field("rx-frames"), c.rx_max_frames);
        assert_eq!(field("tx-usecs"), c.tx_usecs);
        assert_eq!(field("tx-frames"), c.tx_max_frames);
        let adaptive = co
            .lines()
            .find(|l| l.starts_with("Adaptive RX:"))
            .unwrap_or("");
        let rx = adaptive.split_whitespace().nth(2);
        assert_eq!(rx.map(|v| v == "on"), c.use_adaptive_rx, "{adaptive}");
    }

    if let Some(k) = oracle(None, &["-k", "eth0"]) {
        check_features_against_oracle(e.features.ok().expect("features"), &parse_k(&k));
    }

    // Statistics: same names in the same order; values equal for counters that did not
    // move between the two reads (read ours, then ethtool, then ours again).
    let before = e.stats.ok().expect("stats").clone();
    if let Some(s) = oracle(None, &["-S", "eth0"]) {
        let after = read_device("eth0").stats.ok().expect("stats").clone();
        let theirs = parse_ethtool_s_text(&s, &mut Warnings::default());
        let theirs = theirs.ok().expect("ethtool -S parses");
        let names: Vec<&str> = before.iter().map(|(n, _)| n).collect();
        let their_names: Vec<&str> = theirs.iter().map(|(n, _)| n).collect();
        assert_eq!(names, their_names);
        let mut stable = 0;
        for ((n, b), (_, a)) in before.iter().zip(after.iter()) {
            if a == b {
                assert_eq!(theirs.get(n), Some(b), "{n}");
                stable += 1;
            } else {
                let t = theirs.get(n).unwrap();
                assert!(b <= t && t <= a, "{n}: {b} <= {t} <= {a}");
            }
        }
        assert!(stable > 0);
    }
}

#[test]
fn lo_has_no_driver_and_is_unsupported_not_error() {
    let e = read_device("lo");
    eprintln!("lo: {}", serde_json::to_string(&e).unwrap());
    for (what, status) in [
        ("driver", e.driver.status()),
        ("rings", e.rings.status()),
        ("channels", e.channels.status()),
        ("coalesce", e.coalesce.status()),
        ("stats", e.stats.status()),
    ] {
        assert!(status.starts_with("unsupported: "), "{what}: {status}");
        assert!(status.contains("lo"), "{what}: {status}");
    }
    assert_eq!(
        e.rings.status(),
        "unsupported: ring parameters not supported by device lo"
    );
    // lo has features (loopback offloads) even without a driver.
    let f = e.features.ok().expect("lo features");
    assert!(
        f.get("loopback").is_some_and(|f| f.active && f.fixed),
        "{f:?}"
    );
}

#[test]
fn missing_device_is_unsupported_with_reason() {
    let e = read_device("nettune-nodev0");
    for s in [
        e.driver.status(),
        e.rings.status(),
        e.features.status(),
        e.stats.status(),
    ] {
        assert!(s.contains("does not exist"), "{s}");
    }
    let e = read_device("a-name-longer-than-ifnamsiz");
    assert!(
        e.driver.status().contains("does not exist"),
        "{}",
        e.driver.status()
    );
}

#[test]
fn serde_round_trip_keeps_stat_order() {
    let e = Ethtool {
        stats: Source::Ok(DriverStats::from_pairs([("z", 1), ("a", 2), ("z", 3)])),
        rings: Source::Ok(Rings {
            rx: Some(256),
            ..Default::default()
        }),
        ..Default::default()
    };
    let j = serde_json::to_string(&e).unwrap();
    assert!(j.contains(r#""stats":{"z":1,"a":2,"z#2":3}"#), "{j}");
    let back: Ethtool = serde_json::from_str(&j).unwrap();
    // `Source` deserialises through `serde_json::Value`, whose objects are sorted unless
    // serde_json's `preserve_order` is on: the counters survive, the order may not.
    let sorted = |s: &Source<DriverStats>| {
        let mut v = s.ok().unwrap().0.clone();
        v.sort();
        v
    };
    assert_eq!(sorted(&back.stats), sorted(&e.stats));
    assert_eq!(back.rings, e.rings);
    assert_eq!(back.driver, e.driver);
    // Deserialising DriverStats directly keeps the document order.
    let direct: DriverStats = serde_json::from_str(r#"{"z":1,"a":2}"#).unwrap();
    assert_eq!(direct, DriverStats::from_pairs([("z", 1), ("a", 2)]));
}

/// A network namespace with a veth pair `va`/`vb` (2 queues each), deleted on drop.
struct TestNetns(String);

impl TestNetns {
    fn new() -> Option<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "nettune-eth-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = TestNetns(name);
        let n = ns.0.as_str();
        let made = ok(&[
            "-n",
            n,
            "link",
            "add",
            "va",
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            "vb",
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
        ]) && ok(&["-n", n, "link", "set", "va", "up"])
            && ok(&["-n", n, "link", "set", "vb", "up"]);
        made.then_some(ns)
    }

    /// Run `f` on a thread that entered this namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn veth_in_a_namespace_from_a_setns_thread() {
    if !is_root() {
        eprintln!("note: not root; veth test skipped");
        return;
    }
    let Some(ns) = TestNetns::new() else {
        eprintln!("note: cannot create a namespace with a veth pair; skipped");
        return;
    };
    let all = ns.run(|| read_all(&["va".to_string(), "vb".to_string(), "eth0".to_string()]));
    eprintln!("va: {}", serde_json::to_string(&all["va"]).unwrap());
    let va = &all["va"];
    assert_eq!(va.driver.ok().unwrap().driver, "veth");
    // The host's eth0 is not visible from the namespace: the sockets were made after setns.
    assert!(all["eth0"].driver.status().contains("does not exist"));
    assert_eq!(
        va.rings.status(),
        "unsupported: ring parameters not supported by driver veth (va)"
    );
    assert!(va
        .coalesce
        .status()
        .starts_with("unsupported: coalescing parameters"));
    let ch = va.channels.ok().expect("veth channels");
    assert_eq!((ch.rx, ch.tx), (Some(2), Some(2)));
    let stats = va.stats.ok().expect("veth stats");
    assert_eq!(
        stats.get("peer_ifindex").map(|v| v > 0),
        Some(true),
        "{stats:?}"
    );

    if let Some(k) = oracle(Some(&ns.0), &["-k", "va"]) {
        check_features_against_oracle(va.features.ok().unwrap(), &parse_k(&k));
    }
    if let Some(s) = oracle(Some(&ns.0), &["-S", "va"]) {
        let theirs = parse_ethtool_s_text(&s, &mut Warnings::default());
        assert_eq!(
            theirs.ok(),
            Some(stats),
            "no traffic: every counter is stable"
        );
    }
    if let Some(l) = oracle(Some(&ns.0), &["-l", "va"]) {
        let m = parse_two_sections(&l);
        assert_eq!(m.get(&(true, "RX".into())).copied().flatten(), ch.rx);
        assert_eq!(m.get(&(false, "RX".into())).copied().flatten(), ch.rx_max);
    }

    // FEATURES_SET for real (throwaway device): flip rx-gro, read back, flip back.
    let gro = va.features.ok().unwrap()["rx-gro"];
    assert!(!gro.fixed);
    let flipped = ns.run(move || {
        let req = SetRequest::Features(FeaturesSet(vec![("rx-gro".into(), !gro.active)]));
        apply("va", &req).unwrap();
        let after = read_device("va").features.ok().unwrap()["rx-gro"];
        let back = SetRequest::Features(FeaturesSet(vec![("rx-gro".into(), gro.active)]));
        apply("va", &back).unwrap();
        (after, read_device("va").features.ok().unwrap()["rx-gro"])
    });
    assert_eq!(flipped.0.active, !gro.active);
    assert_eq!(flipped.1.active, gro.active);

    // CHANNELS_SET for real: 2 → 1 → 2 rx queues.
    let rx = ns.run(|| {
        let set = |n| {
            apply(
                "va",
                &SetRequest::Channels(ChannelsSet {
                    rx: Some(n),
                    ..Default::default()
                }),
            )
        };
        set(1).unwrap();
        let one = read_device("va").channels.ok().unwrap().rx;
        set(2).unwrap();
        (one, read_device("va").channels.ok().unwrap().rx)
    });
    assert_eq!(rx, (Some(1), Some(2)));

    // RINGS_SET on a driver without rings: the kernel says not supported.
    let err = ns.run(|| {
        apply(
            "va",
            &SetRequest::Rings(RingsSet {
                rx: Some(256),
                ..Default::default()
            }),
        )
    });
    assert!(err.unwrap_err().to_string().contains("not supported"));
}

#[test]
fn no_op_rings_and_coalesce_set_on_eth0() {
    if !is_root() || !has_dev("eth0") {
        eprintln!("note: needs root and eth0; skipped");
        return;
    }
    let e = read_device("eth0");
    if let Some(r) = e.rings.ok() {
        let req = SetRequest::Rings(RingsSet {
            rx: r.rx,
            tx: r.tx,
            ..Default::default()
        });
        match apply("eth0", &req) {
            Ok(()) => assert_eq!(read_device("eth0").rings.ok(), Some(r)),
            Err(err) => assert!(err.to_string().contains("not supported"), "{err}"),
        }
    }
    if let Some(c) = e.coalesce.ok() {
        let req = SetRequest::Coalesce(CoalesceSet {
            rx_usecs: c.rx_usecs,
            rx_max_frames: c.rx_max_frames,
            ..Default::default()
        });
        match apply("eth0", &req) {
            Ok(()) => assert_eq!(read_device("eth0").coalesce.ok(), Some(c)),
            Err(err) => assert!(err.to_string().contains("not supported"), "{err}"),
        }
    }
}

#[test]
fn read_all_is_fast_and_can_run() {
    assert_eq!(can_run(), Ok(()));
    let names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let _ = read_all(&names); // warm up
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        let all = read_all(&names);
        assert_eq!(all.len(), names.len());
    }
    let per_device = t.elapsed() / (rounds * names.len() as u32);
    eprintln!(
        "read_all: {} devices, {:?} per device",
        names.len(),
        per_device
    );
    // Split: the fixed cost of one read (netlink socket, family and feature-name lookup) and the
    // ioctl part alone.
    let one = vec!["lo".to_string()];
    let t = Instant::now();
    for _ in 0..rounds {
        let _ = read_all(&one);
    }
    let single = t.elapsed() / rounds;
    let sock = ioctl::IoctlSocket::new().unwrap();
    let mut scratch = ioctl::Scratch::default();
    let t = Instant::now();
    for _ in 0..rounds {
        for n in &names {
            let _ = sock.drvinfo(n);
            let _ = sock.stats(n, None, &mut scratch);
        }
    }
    let ioctl_per_device = t.elapsed() / (rounds * names.len() as u32);
    eprintln!("read_all of lo alone: {single:?}; ioctl part per device: {ioctl_per_device:?}");
    // Generous bound for a debug build on a loaded 2-core VM.
    assert!(per_device.as_millis() < 20, "{per_device:?}");
}

/// Cost of one read of every host device with a `Reader` kept between reads (what a
/// snapshot pays after the first): `cargo test --release --lib collect::ethtool -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn timing_reused_reader() {
    let names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let mut reader = Reader::new();
    let first = reader.read_all(&names);
    let rounds = 200u32;
    let t = Instant::now();
    for _ in 0..rounds {
        let all = reader.read_all(&names);
        assert_eq!(all.len(), names.len());
    }
    let per_read = t.elapsed() / rounds;
    // Same results as the first read, apart from counters that moved.
    let last = reader.read_all(&names);
    for (name, e) in &first {
        let l = &last[name];
        assert_eq!(e.driver, l.driver, "{name}");
        assert_eq!(e.rings, l.rings, "{name}");
        assert_eq!(e.channels, l.channels, "{name}");
        assert_eq!(e.features, l.features, "{name}");
        assert_eq!(e.link, l.link, "{name}");
        assert_eq!(e.stats.status(), l.stats.status(), "{name}");
    }
    eprintln!(
        "reused Reader: {} devices {names:?}, {per_read:?} per read_all ({rounds} reads)",
        names.len()
    );
    let up: Vec<String> = ["eth0", "lo"]
        .iter()
        .filter(|n| has_dev(n))
        .map(|n| n.to_string())
        .collect();
    let t = Instant::now();
    for _ in 0..rounds {
        let _ = reader.read_all(&up);
    }
    eprintln!(
        "reused Reader: {up:?}, {:?} per read_all",
        t.elapsed() / rounds
    );
}

/// The statistic names a `Reader` caches are read again when the device behind a name
/// changes: a veth re-created with more queues (more statistics), then an ifb (another
/// driver) under the same name. Every read equals a fresh, uncached one.
#[test]
fn reused_reader_notices_recreated_devices() {
    if !is_root() {
        eprintln!("note: not root; skipped");
        return;
    }
    let Some(ns) = TestNetns::new() else {
        eprintln!("note: cannot create a namespace; skipped");
        return;
    };
    // Loading the ifb module creates ifb0/ifb1 in the host namespace: remove the ones this
    // test caused, even on failure.
    let host_ifbs_before: Vec<bool> = ["ifb0", "ifb1"]
        .iter()
        .map(|d| std::path::Path::new("/sys/class/net").join(d).exists())
        .collect();
    struct HostIfbGuard(Vec<bool>);
    impl Drop for HostIfbGuard {
        fn drop(&mut self) {
            for (dev, existed) in ["ifb0", "ifb1"].iter().zip(&self.0) {
                let exists = std::path::Path::new("/sys/class/net").join(dev).exists();
                if exists && !existed {
                    let _ = Command::new("ip").args(["link", "del", dev]).status();
                }
            }
        }
    }
    let _ifb_guard = HostIfbGuard(host_ifbs_before);
    let nsname = ns.0.clone();
    let seen = ns.run(move || {
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(["-n", &nsname])
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        let veth = |q: &str| {
            ip(&[
                "link",
                "add",
                "vx",
                "numtxqueues",
                q,
                "numrxqueues",
                q,
                "type",
                "veth",
                "peer",
                "name",
                "vy",
            ])
        };
        let names = vec!["vx".to_string()];
        let mut reader = Reader::new();
        let mut seen = Vec::new();
        let mut check = |reader: &mut Reader| {
            let a = reader.read_all(&names).remove("vx").unwrap();
            let b = reader.read_all(&names).remove("vx").unwrap();
            let fresh = read_device("vx");
            assert_eq!(a.stats, fresh.stats);
            assert_eq!(b.stats, fresh.stats);
            assert_eq!(a.driver, fresh.driver);
            let stats = fresh.stats.ok().expect("stats").clone();
            seen.push((fresh.driver.ok().unwrap().driver.clone(), stats.len()));
        };
        assert!(veth("1"));
        check(&mut reader);
        assert!(ip(&["link", "del", "vx"]) && veth("3"));
        check(&mut reader);
        if ip(&["link", "del", "vx"])
            && ip(&["link", "add", "vx", "numtxqueues", "1", "type", "ifb"])
        {
            check(&mut reader);
        }
        seen
    });
    eprintln!("{seen:?}");
    assert_eq!(seen[0].0, "veth");
    assert!(seen[1].1 > seen[0].1, "{seen:?}");
    if let Some((driver, n)) = seen.get(2) {
        assert_eq!((driver.as_str(), *n), ("ifb", 4));
    }
}

/// `read_counters` reads the driver, link and statistics exactly as `read_all` does and
/// leaves the settings unread (the exporter reads them only now and then).
#[test]
fn read_counters_reads_driver_link_and_stats_but_not_settings() {
    let names: Vec<String> = ["lo", "eth0"]
        .iter()
        .filter(|n| has_dev(n))
        .map(|n| n.to_string())
        .collect();
    let mut reader = Reader::new();
    let all = reader.read_all(&names);
    let counters = reader.read_counters(&names);
    assert_eq!(counters.len(), names.len());
    let unread = Ethtool::default();
    for name in &names {
        let (a, c) = (&all[name], &counters[name]);
        assert_eq!(c.driver, a.driver, "{name}");
        assert_eq!(c.link, a.link, "{name}");
        assert_eq!(c.stats.status(), a.stats.status(), "{name}");
        if let (Some(a), Some(c)) = (a.stats.ok(), c.stats.ok()) {
            let names_of =
                |s: &DriverStats| s.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
            assert_eq!(names_of(c), names_of(a), "{name}");
        }
        assert_eq!(c.rings, unread.rings, "{name}");
        assert_eq!(c.channels, unread.channels, "{name}");
        assert_eq!(c.coalesce, unread.coalesce, "{name}");
        assert_eq!(c.features, unread.features, "{name}");
        // lo has offload features: read_all did read settings.
        if name == "lo" {
            assert!(
                a.features.ok().is_some_and(|f| f.len() > 10),
                "{:?}",
                a.features
            );
        }
    }
}
