//! Every network namespace from the host: a plain snapshot reads the namespaces the test
//! creates (each with its own counters and sockets), `--host-only` and `--netns` read none,
//! a namespace deleted during the window is left out with a warning, 200 namespaces are all
//! read, and the collector's fds and threads follow the namespaces that exist.

use super::{capture_json, run, stderr, Netns};
use nettune::collector::{CaptureOptions, Collector, Scope};
use nettune::snapshot::{Capture, Snapshot};
use nettune::Root;
use serde_json::Value;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

/// The entry of namespace `name` in a snapshot's `namespaces`.
fn ns_entry<'a>(snapshot: &'a Value, name: &str) -> Option<&'a Value> {
    snapshot["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["netns"]["name"] == name)
}

/// Run `f` on a thread inside the namespace at `path` and return its result (a socket it
/// opens stays in that namespace).
fn in_netns<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(path).expect("open namespace");
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread")
}

fn inode_of_fd(fd: &impl AsRawFd) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .expect("stat socket")
        .ino()
}

/// Listener inodes of a snapshot (or a namespace's) `sockets`.
fn listener_inodes(snapshot: &Value) -> Vec<u64> {
    snapshot["sockets"]["listeners"]
        .as_array()
        .map(|ls| ls.iter().filter_map(|l| l["inode"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn host_snapshot_reads_every_namespace_with_its_own_sockets() {
    let Some(a) = Netns::new("coll-a") else {
        return;
    };
    let Some(b) = Netns::new("coll-b") else {
        return;
    };
    let listener = in_netns(&a.path(), || {
        std::net::TcpListener::bind("127.0.0.1:0").expect("listen in the namespace")
    });
    let port = listener.local_addr().unwrap().port();
    let inode = inode_of_fd(&listener);
    let cap = capture_json(&["snapshot", "--interval", "100ms"]);
    for (i, snap) in cap["snapshots"].as_array().unwrap().iter().enumerate() {
        let ea = ns_entry(snap, &a.name).unwrap_or_else(|| panic!("{} in snapshot {i}", a.name));
        let eb = ns_entry(snap, &b.name).unwrap_or_else(|| panic!("{} in snapshot {i}", b.name));
        assert_eq!(ea["netns"]["path"], a.path().display().to_string());
        let want = nettune::namespaces::inode_of(&a.path()).unwrap().unwrap();
        assert_eq!(ea["netns"]["inode"].as_u64(), Some(want));
        // The listener is in its namespace's sockets only.
        let sa = &ea["snapshot"];
        assert!(
            listener_inodes(sa).contains(&inode),
            "listener 127.0.0.1:{port} not in {}: {}",
            a.name,
            sa["sockets"]
        );
        assert!(!listener_inodes(&eb["snapshot"]).contains(&inode));
        assert!(
            !listener_inodes(snap).contains(&inode),
            "in the host's sockets"
        );
        // Its own counters: sockstat counts the listener there; netstat is read.
        assert!(
            sa["sockstat"]["TCP"]["inuse"].as_i64().unwrap_or(0) >= 1,
            "{}",
            sa["sockstat"]
        );
        assert_eq!(eb["snapshot"]["sockstat"]["TCP"]["inuse"], 0);
        assert!(sa["netstat"]["Tcp"].is_object(), "{}", sa["netstat"]);
        assert!(sa["netdev"]["lo"].is_object(), "{}", sa["netdev"]);
        // Its own sysctls (the keys the per-namespace rules read), plus the host's net.core
        // keys, in the newest snapshot (the older one reads a namespace's counters only);
        // host-wide sources are the host's.
        if i == 1 {
            assert!(sa["sysctl"]["net.ipv4.tcp_syncookies"].is_string());
            assert!(sa["sysctl"]["net.core.somaxconn"].is_string());
            assert!(sa["sysctl"]["net.core.netdev_max_backlog"].is_string());
        } else {
            assert!(sa["sysctl"]["unsupported"].is_string(), "{}", sa["sysctl"]);
        }
        assert!(
            sa["softnet"]["unsupported"].is_string(),
            "{}",
            sa["softnet"]
        );
        assert!(sa["interrupts"]["unsupported"].is_string());
    }
    drop(listener);
}

#[test]
fn host_only_and_netns_read_no_other_namespace() {
    let Some(a) = Netns::new("coll-only") else {
        return;
    };
    for args in [
        vec!["snapshot", "--interval", "50ms", "--host-only"],
        vec!["snapshot", "--interval", "50ms", "--netns", &a.name],
    ] {
        let cap = capture_json(&args);
        for snap in cap["snapshots"].as_array().unwrap() {
            assert!(
                snap.get("namespaces").is_none(),
                "{args:?}: {}",
                snap["namespaces"]
            );
        }
    }
    let o = run(&["snapshot", "--host-only", "--netns", &a.name]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn a_namespace_deleted_during_the_window_is_left_out_with_a_warning() {
    let Some(keep) = Netns::new("coll-keep") else {
        return;
    };
    let mut gone = Netns::new("coll-gone");
    let gone_name = gone.as_ref().map(|n| n.name.clone()).unwrap_or_default();
    let mut c = Collector::with_scope(Root::default(), CaptureOptions::default(), Scope::All)
        .expect("collector");
    let cap = c.capture(std::time::Duration::from_millis(300), |_| {
        // Deleted during the window (after the first snapshot).
        gone.take();
    });
    let [first, second] = &cap.snapshots[..] else {
        panic!("two snapshots");
    };
    let names = |s: &Snapshot| -> Vec<String> {
        s.namespaces.iter().map(|n| n.netns.name.clone()).collect()
    };
    assert!(names(first).contains(&gone_name), "{:?}", names(first));
    assert!(names(first).contains(&keep.name));
    assert!(!names(second).contains(&gone_name), "{:?}", names(second));
    assert!(names(second).contains(&keep.name));
    assert!(
        second
            .warnings
            .iter()
            .any(|w| w.message.contains(&gone_name) && w.message.contains("left out")),
        "{:?}",
        second.warnings
    );
    // The rest is intact: the host's sources and the kept namespace's.
    assert!(second.netstat.ok().is_some() && second.softnet.ok().is_some());
    let kept = second
        .namespaces
        .iter()
        .find(|n| n.netns.name == keep.name)
        .unwrap();
    assert!(kept.snapshot.netstat.ok().is_some());
    // The capture saves, loads and checks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.json");
    cap.save(&path).unwrap();
    assert_eq!(Capture::load(&path).unwrap(), cap);
    let o = run(&["check", "--from", path.to_str().unwrap(), "--json"]);
    assert!(o.status.code().is_some_and(|c| c < 3), "{}", stderr(&o));
}

/// `ip -batch` lines for many namespaces at once (one process instead of one per namespace).
fn ip_batch(lines: &[String]) {
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ip -batch");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(lines.join("\n").as_bytes()).unwrap();
    }
    let _ = child.wait();
}

/// Namespaces `prefix-0..n`, deleted on drop (even when the test fails).
struct Many {
    names: Vec<String>,
}

impl Many {
    fn new(prefix: &str, n: usize) -> Many {
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
        let many = Many { names };
        let del: Vec<String> = many
            .names
            .iter()
            .map(|n| format!("netns del {n}"))
            .collect();
        ip_batch(&del);
        let add: Vec<String> = many
            .names
            .iter()
            .map(|n| format!("netns add {n}"))
            .collect();
        ip_batch(&add);
        for n in &many.names {
            assert!(Path::new("/run/netns").join(n).exists(), "ip netns add {n}");
        }
        many
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        let del: Vec<String> = self
            .names
            .iter()
            .map(|n| format!("netns del {n}"))
            .collect();
        ip_batch(&del);
    }
}

#[test]
fn two_hundred_namespaces_are_all_in_the_snapshot() {
    if !super::require_root() || !super::require_tool("ip") {
        return;
    }
    let many = Many::new(&format!("nettune-t-coll-{}", std::process::id()), 200);
    let cap = capture_json(&["snapshot", "--interval", "100ms"]);
    for (i, snap) in cap["snapshots"].as_array().unwrap().iter().enumerate() {
        let missing: Vec<&String> = many
            .names
            .iter()
            .filter(|n| ns_entry(snap, n).is_none())
            .collect();
        assert!(missing.is_empty(), "snapshot {i} misses {missing:?}");
        for n in &many.names {
            let s = &ns_entry(snap, n).unwrap()["snapshot"];
            assert!(s["netstat"]["Udp"].is_object(), "{n}: {}", s["netstat"]);
        }
    }
    // `check --json` names every namespace it read, with its sources' outcomes.
    let o = super::nettune()
        .args(["check", "--interval", "200ms", "--json"])
        .output()
        .expect("run nettune check");
    assert!(
        o.status.code().is_some_and(|c| c <= 2),
        "{}",
        super::stderr(&o)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check --json");
    let listed: Vec<&str> = report["namespaces"]
        .as_array()
        .expect("namespaces in check --json")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    let missing: Vec<&String> = many
        .names
        .iter()
        .filter(|n| !listed.contains(&n.as_str()))
        .collect();
    assert!(missing.is_empty(), "check --json misses {missing:?}");
    let one = report["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == many.names[0].as_str())
        .unwrap();
    assert_eq!(one["sources"]["netstat"], "ok", "{one}");
    assert!(one["sources"].get("softnet").is_none(), "host-wide: {one}");
}

/// Open fds of this process.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Run in a child process (tests share this one's fds): a collector of every namespace
/// keeps its fds and threads flat over 30 snapshots while 50 namespaces come and go, and
/// pins none of the deleted ones.
#[test]
#[ignore = "run by collector_fds_and_threads_stay_flat in a process of its own"]
fn fd_child() {
    if std::env::var_os("NETTUNE_COLL_FD_CHILD").is_none() {
        return;
    }
    let prefix = format!("nettune-t-coll-fd-{}", std::process::id());
    let mine = prefix.clone();
    let mut c = Collector::with_scope(Root::default(), CaptureOptions::default(), Scope::All)
        .expect("collector")
        .with_namespace_filter(Box::new(move |n| n.name.starts_with(&mine)));
    let base = Many::new(&format!("{prefix}-base"), 2);
    c.snapshot();
    c.snapshot();
    let (fd0, th0) = (fds(), threads());
    let mut after = Vec::new();
    for round in 0..10 {
        let many = Many::new(&format!("{prefix}-r{round}"), 5);
        let with = c.snapshot();
        assert_eq!(with.namespaces.len(), base.names.len() + 5, "round {round}");
        assert!(fds() > fd0, "namespaces read without fds?");
        // Two deleted while the other three are still read: no thread keeps a copy of a
        // deleted namespace's bind mount (its private mount table was copied when the
        // round's namespaces all existed), which would keep the namespace alive. The kernel
        // (>= 3.18) detaches mounts on a removed file in every mount namespace; this checks
        // that nothing here defeats it.
        ip_batch(&[
            format!("netns del {}", many.names[0]),
            format!("netns del {}", many.names[1]),
        ]);
        let some = c.snapshot();
        assert_eq!(some.namespaces.len(), base.names.len() + 3, "round {round}");
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let info = std::fs::read_to_string(task.path().join("mountinfo")).unwrap_or_default();
            for gone in &many.names[..2] {
                assert!(
                    // (a mount point whose file was removed reads `NAME//deleted`)
                    !info.contains(gone.as_str()),
                    "task {:?} still mounts deleted {gone}",
                    task.file_name()
                );
            }
        }
        drop(many);
        let without = c.snapshot();
        assert_eq!(without.namespaces.len(), base.names.len(), "round {round}");
        after.push((fds(), threads()));
    }
    assert!(
        after.iter().all(|&(f, t)| f == fd0 && t == th0),
        "fds/threads {fd0}/{th0} at the start, then {after:?}"
    );
}

#[test]
fn collector_fds_and_threads_stay_flat() {
    if !super::require_root() || !super::require_tool("ip") {
        return;
    }
    let o = Command::new(std::env::current_exe().unwrap())
        .args([
            "namespaces::fd_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("NETTUNE_COLL_FD_CHILD", "1")
        .output()
        .expect("run the child test");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("1 passed"),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A collector that does not keep its namespaces' threads (the exporter's 30-second
/// configuration collector) reads every namespace in each snapshot and holds none between.
#[test]
fn a_collector_without_kept_threads_holds_no_namespace_between_snapshots() {
    if !super::require_root() || !super::require_tool("ip") {
        return;
    }
    let prefix = format!("nettune-t-coll-nokeep-{}", std::process::id());
    let many = Many::new(&prefix, 3);
    let mine = prefix.clone();
    let mut c = Collector::with_scope(Root::default(), CaptureOptions::default(), Scope::All)
        .expect("collector")
        .with_namespace_filter(Box::new(move |n| n.name.starts_with(&mine)))
        .with_namespace_threads_kept(false);
    for round in 0..2 {
        let snap = c.snapshot();
        assert_eq!(snap.namespaces.len(), many.names.len(), "round {round}");
        assert!(snap
            .namespaces
            .iter()
            .all(|n| n.snapshot.sysctl.ok().is_some()));
        assert_eq!(c.namespace_set().map(|s| s.len()), Some(0), "round {round}");
    }
}
