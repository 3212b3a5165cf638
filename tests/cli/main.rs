//! End-to-end tests of the `nettune` binary: exit codes, captures, bad input, namespaces,
//! agreement with independent tools; `e2e` drives real faults in namespaces through `check`.

mod archive;
mod autotune;
mod bpf;
mod e2e;
mod golden;
mod hardening;
mod kmsg;
mod lab;
mod live;
mod namespaces;
mod packaging;
mod privilege;
mod tune;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn nettune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nettune"))
}

pub fn run(args: &[&str]) -> Output {
    nettune().args(args).output().expect("run nettune")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub use nettune::testing::require;

pub use nettune::testing::require_root;

/// The command `cmd` on the `PATH`, through [`require`].
#[track_caller]
pub fn require_tool(cmd: &str) -> bool {
    require(&format!("the `{cmd}` tool"), have(cmd))
}

/// A network namespace created by the test and deleted on drop, even on failure.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `None` (the test is skipped, or fails under CI: see [`require`]) when not root or `ip`
    /// is missing.
    #[track_caller]
    pub fn new(tag: &str) -> Option<Netns> {
        if !require_root() || !require_tool("ip") {
            return None;
        }
        let name = format!("nettune-t-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(ok.success(), "ip netns add {name}");
        let ns = Netns { name };
        let up = Command::new("ip")
            .args(["-n", &ns.name, "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        Some(ns)
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn capture_json(args: &[&str]) -> Value {
    let o = run(args);
    assert!(o.status.success(), "nettune {args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("capture is JSON")
}

fn udp_no_ports(cap: &Value, snapshot: usize) -> i64 {
    cap["snapshots"][snapshot]["netstat"]["Udp"]["NoPorts"]
        .as_i64()
        .expect("Udp.NoPorts present")
}

#[test]
fn snapshot_writes_the_capture_contract() {
    let cap = capture_json(&["snapshot", "--interval", "100ms"]);
    assert_eq!(cap["schema"], "nettune.capture/v1");
    assert_eq!(cap["snapshots"].as_array().unwrap().len(), 2);
    let s = &cap["snapshots"][1];
    for key in [
        "taken_at_ns",
        "softnet",
        "netdev",
        "netstat",
        "sockstat",
        "softirqs",
        "sysctl",
        "conntrack",
    ] {
        assert!(s.get(key).is_some(), "snapshot lacks {key}");
    }
    let t0 = cap["snapshots"][0]["taken_at_ns"].as_u64().unwrap();
    let t1 = s["taken_at_ns"].as_u64().unwrap();
    assert!(t1 >= t0 + 100_000_000, "snapshots 100 ms apart: {t0} {t1}");
    // softnet rows are CPUs with the contract's field names
    let row = &s["softnet"][0];
    for key in [
        "cpu",
        "processed",
        "dropped",
        "time_squeeze",
        "received_rps",
        "flow_limit_count",
        "backlog_len",
    ] {
        assert!(row.get(key).is_some(), "softnet row lacks {key}: {row}");
    }
}

#[test]
fn snapshot_file_round_trips_through_check_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cap.json");
    let o = run(&[
        "snapshot",
        "--interval",
        "100ms",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["check", "--from", file.to_str().unwrap(), "--json"]);
    assert!(o.status.code().unwrap() <= 2, "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["schema"], "nettune.check/v1");
    assert!(report["window_seconds"].as_f64().unwrap() >= 0.1);
    assert!(report["findings"].is_array());
}

#[test]
fn one_snapshot_capture_gives_static_findings_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.json");
    let mut cap = capture_json(&["snapshot", "--interval", "10ms"]);
    cap["snapshots"].as_array_mut().unwrap().truncate(1);
    std::fs::write(&file, cap.to_string()).unwrap();
    let o = run(&["check", "--from", file.to_str().unwrap(), "--json"]);
    assert!(o.status.code().unwrap() <= 2, "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["window_seconds"].is_null());
    let notes = report["notes"].to_string();
    assert!(notes.contains("one snapshot"), "{notes}");
}

#[test]
fn corrupted_or_foreign_capture_is_a_clear_error_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("garbage.json", "this is not json"),
        (
            "other.json",
            r#"{"schema": "something/v9", "snapshots": []}"#,
        ),
        (
            "empty.json",
            r#"{"schema": "nettune.capture/v1", "host": {"hostname":"h","kernel":"k","cpus":1,"page_size":4096,"hz":250}, "snapshots": []}"#,
        ),
        (
            "broken.json",
            r#"{"schema": "nettune.capture/v1", "host": 7, "snapshots": [1]}"#,
        ),
    ];
    for (name, body) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        let o = run(&["check", "--from", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(3), "{name}");
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(file.to_str().unwrap()),
            "names the path: {err}"
        );
    }
    let missing = dir.path().join("missing.json");
    let o = run(&["check", "--from", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn bad_flags_exit_3_with_one_line() {
    let o = run(&["check", "--interval", "5 parsecs"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("invalid duration"), "{}", stderr(&o));
    let o = run(&["check", "--interval", "10ms", "--link-speed", "-4"]);
    assert_eq!(o.status.code(), Some(3));
    let o = run(&[
        "--netns",
        "nettune-no-such-ns",
        "snapshot",
        "--interval",
        "10ms",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains("nettune-no-such-ns"), "{err}");
}

#[test]
fn broken_pipe_is_success() {
    let mut child = nettune()
        .args(["snapshot", "--interval", "10ms"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: the writer gets EPIPE.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn netns_reads_that_namespaces_counters_not_the_hosts() {
    let Some(ns) = Netns::new("udp") else { return };
    let ns_arg = ns.name.as_str();
    let before_ns = capture_json(&["--netns", ns_arg, "snapshot", "--interval", "10ms"]);
    let before_host = capture_json(&["snapshot", "--interval", "10ms"]);
    // 50 datagrams to a closed port inside the namespace.
    let thread = nettune::netns::NetnsThread::spawn(&ns.path(), &nettune::Root::default()).unwrap();
    let sent = thread
        .run(|_| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            (0..50)
                .filter(|_| s.send_to(b"x", "127.0.0.1:9").is_ok())
                .count()
        })
        .unwrap();
    drop(thread);
    assert_eq!(sent, 50);
    let after_ns = capture_json(&["--netns", ns_arg, "snapshot", "--interval", "10ms"]);
    let after_host = capture_json(&["snapshot", "--interval", "10ms"]);
    let ns_delta = udp_no_ports(&after_ns, 1) - udp_no_ports(&before_ns, 1);
    let host_delta = udp_no_ports(&after_host, 1) - udp_no_ports(&before_host, 1);
    assert!(ns_delta >= 50, "namespace Udp.NoPorts rose by {ns_delta}");
    assert!(host_delta < 50, "host Udp.NoPorts rose by {host_delta}");
    // The namespace has only lo; the host's eth0 must not show up there.
    let devs = after_ns["snapshots"][1]["netdev"].as_object().unwrap();
    assert!(devs.contains_key("lo") && devs.len() == 1, "{devs:?}");
    let ifaces = &after_ns["snapshots"][1]["interfaces"];
    if let Some(map) = ifaces.as_object() {
        if !map.contains_key("unsupported") && !map.contains_key("error") {
            assert!(!map.contains_key("eth0"), "sysfs of the namespace: {map:?}");
        }
    }
    assert_eq!(after_ns["netns"], format!("/run/netns/{ns_arg}"));
}

// ---- live agreement with independent tools (counters move between reads, so every value
// must lie between the tool's reading before and after ours) ----

pub fn tool(cmd: &str, args: &[&str]) -> Option<String> {
    if !require_tool(cmd) {
        return None;
    }
    let o = Command::new(cmd).args(args).output().expect("run the tool");
    assert!(o.status.success(), "{cmd} {args:?}");
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn nstat() -> Option<std::collections::HashMap<String, i64>> {
    let text = tool("nstat", &["-a", "-s", "-z"])?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?.to_string(), it.next()?.parse().ok()?))
            })
            .collect(),
    )
}

#[test]
fn netstat_agrees_with_nstat() {
    let Some(before) = nstat() else { return };
    let cap = capture_json(&["snapshot", "--interval", "0ms"]);
    let after = nstat().unwrap();
    let ours = cap["snapshots"][1]["netstat"].as_object().unwrap();
    let mut checked = 0;
    for (section, fields) in ours {
        for (field, value) in fields.as_object().unwrap() {
            let key = format!("{section}{field}");
            let (Some(b), Some(a)) = (before.get(&key), after.get(&key)) else {
                continue;
            };
            let v = value.as_i64().unwrap();
            if b <= a {
                assert!(*b <= v && v <= *a, "{key}: nstat {b}..{a}, nettune {v}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} counters compared");
    for key in ["TcpExtListenOverflows", "UdpRcvbufErrors", "TcpRetransSegs"] {
        assert!(before.contains_key(key), "nstat lacks {key}");
    }
}

#[test]
fn netdev_agrees_with_ip_link() {
    let read = || -> Option<Value> {
        serde_json::from_str(&tool("ip", &["-s", "-j", "link", "show"])?).ok()
    };
    let Some(before) = read() else { return };
    let cap = capture_json(&["snapshot", "--interval", "0ms"]);
    let after = read().unwrap();
    let ours = &cap["snapshots"][1]["netdev"];
    let find = |v: &Value, name: &str| -> Value {
        v.as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == name)
            .map(|l| l["stats64"].clone())
            .unwrap()
    };
    let mut checked = 0;
    for (name, counters) in ours.as_object().unwrap() {
        let (b, a) = (find(&before, name), find(&after, name));
        for (ours_key, dir, ip_key) in [
            ("rx_bytes", "rx", "bytes"),
            ("rx_packets", "rx", "packets"),
            ("rx_drop", "rx", "dropped"),
            ("rx_errs", "rx", "errors"),
            ("tx_bytes", "tx", "bytes"),
            ("tx_packets", "tx", "packets"),
            ("tx_drop", "tx", "dropped"),
        ] {
            let v = counters[ours_key].as_u64().unwrap();
            let lo = b[dir][ip_key].as_u64().unwrap();
            let hi = a[dir][ip_key].as_u64().unwrap();
            assert!(
                lo <= v && v <= hi,
                "{name} {ours_key}: ip {lo}..{hi}, nettune {v}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 7);
}

#[test]
fn softnet_agrees_with_the_raw_file() {
    let read = || -> Vec<u64> {
        std::fs::read_to_string("/proc/net/softnet_stat")
            .unwrap()
            .lines()
            .map(|l| u64::from_str_radix(l.split_whitespace().next().unwrap(), 16).unwrap())
            .collect()
    };
    let before = read();
    let cap = capture_json(&["snapshot", "--interval", "0ms"]);
    let after = read();
    let rows = cap["snapshots"][1]["softnet"].as_array().unwrap();
    assert_eq!(rows.len(), before.len());
    for (i, row) in rows.iter().enumerate() {
        let v = row["processed"].as_u64().unwrap();
        assert!(
            before[i] <= v && v <= after[i],
            "cpu row {i}: {} {v} {}",
            before[i],
            after[i]
        );
    }
}

#[test]
fn writing_a_capture_to_dev_null_leaves_it_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let o = run(&["snapshot", "--interval", "0ms", "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
}

#[test]
fn veth_ends_with_equal_ifindexes_in_two_namespaces_are_veth() {
    let (Some(a), Some(b)) = (Netns::new("vka"), Netns::new("vkb")) else {
        return;
    };
    let ok = Command::new("ip")
        .args([
            "link", "add", "vka0", "netns", &a.name, "type", "veth", "peer", "name", "vkb0",
            "netns", &b.name,
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let cap = capture_json(&["--netns", &a.name, "snapshot", "--interval", "0ms"]);
    let iface = &cap["snapshots"][1]["interfaces"]["vka0"];
    // Both ends are the first device after lo in a fresh namespace: same ifindex and iflink,
    // so only the driver (asked over ioctl inside the namespace) says it is a veth.
    assert_eq!(iface["ifindex"], iface["iflink"], "{iface}");
    assert_eq!(iface["kind"], "veth", "{iface}");
}
