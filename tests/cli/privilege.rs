//! Least privilege: the exporter started with exactly the user and capabilities its systemd
//! unit (and the per-namespace drop-in) give it, through `setpriv`, still reads every source
//! — and the drop-in's capabilities are needed, not just sufficient. The unit files are read,
//! not restated, so a unit that loses a capability the exporter needs fails here.

use super::{require_root, require_tool, Netns};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The uid/gid an unprivileged unit runs as here (`DynamicUser=` allocates one at start;
/// `nobody` has the same rights: none).
const NOBODY: u32 = 65534;

/// Sources the unprivileged units deliberately cannot read, and why (documented in the units).
/// `kernel_log`: `/dev/kmsg` needs CAP_SYSLOG where `kernel.dmesg_restrict = 1` (Debian's
/// default) and `PrivateDevices=yes` hides it anyway; granting it for log lines would double
/// the exporter's privileges, so the metrics units go without kernel-log evidence (`check` as
/// root and `autotune` read it).
const UNIT_EXCEPTIONS: &[&str] = &["kernel_log"];

fn systemd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd")
}

/// `KEY=` values of a unit and its drop-ins, in order, as systemd merges them: an empty
/// assignment resets the list, later non-empty ones append (capability and ExecStart lists).
fn unit_values(files: &[&Path], key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                if v.trim().is_empty() {
                    out.clear();
                } else {
                    out.extend(v.split_whitespace().map(str::to_string));
                }
            }
        }
    }
    out
}

/// The last `ExecStart=` command line of a unit and its drop-ins.
fn exec_start(files: &[&Path]) -> Vec<String> {
    let mut exec = None;
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            match line.strip_prefix("ExecStart=") {
                Some("") => exec = None,
                Some(cmd) => exec = Some(cmd.to_string()),
                None => {}
            }
        }
    }
    let exec = exec.expect("an ExecStart=");
    exec.split_whitespace().map(str::to_string).collect()
}

/// What `setpriv` needs for the unit's identity and capabilities.
struct Privileges {
    uid: u32,
    /// Lower-case capability names without `cap_` (`sys_admin`).
    caps: Vec<String>,
}

impl Privileges {
    fn of(files: &[&Path]) -> Privileges {
        let dynamic = unit_values(files, "DynamicUser") == ["yes"];
        let user = unit_values(files, "User");
        assert!(
            dynamic || user.iter().any(|u| u != "root"),
            "{files:?}: the exporter must not run as root"
        );
        let bounding = unit_values(files, "CapabilityBoundingSet");
        let ambient = unit_values(files, "AmbientCapabilities");
        assert_eq!(
            bounding, ambient,
            "{files:?}: the capabilities bounded and granted differ"
        );
        let caps = ambient
            .iter()
            .map(|c| c.trim_start_matches("CAP_").to_lowercase())
            .collect();
        Privileges { uid: NOBODY, caps }
    }

    /// Root with every capability (what the test itself runs as): no `setpriv` change.
    fn root() -> Privileges {
        Privileges {
            uid: 0,
            caps: vec!["all".into()],
        }
    }

    /// `setpriv` arguments: the uid, no groups, exactly `caps` (inheritable, ambient and
    /// bounding), no new privileges — what systemd does for the unit.
    fn setpriv_args(&self) -> Vec<String> {
        if self.uid == 0 && self.caps == ["all"] {
            return vec!["--no-new-privs".into()];
        }
        let set: String = std::iter::once("-all".to_string())
            .chain(self.caps.iter().map(|c| format!("+{c}")))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.uid),
            "--clear-groups".into(),
            format!("--inh-caps={set}"),
            format!("--ambient-caps={set}"),
            format!("--bounding-set={set}"),
            "--no-new-privs".into(),
        ]
    }
}

/// The test binary where an unprivileged user can execute it (the checkout may be under a
/// directory only root can enter): a hard link, or a copy, in a fresh world-searchable
/// temporary directory.
fn reachable_binary() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("nettune");
    let src = Path::new(env!("CARGO_BIN_EXE_nettune"));
    if std::fs::hard_link(src, &bin).is_err() {
        std::fs::copy(src, &bin).unwrap();
    }
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, bin)
}

/// A free loopback port (bound and released; the exporter binds it right after).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The exporter running under `setpriv`; killed on drop.
struct Running {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Start the unit's `ExecStart` (with `extra` arguments appended) under `privileges`, on
    /// a free loopback port.
    fn start(files: &[&Path], privileges: &Privileges, extra: &[&str]) -> Running {
        let (dir, bin) = reachable_binary();
        let argv = exec_start(files);
        assert!(argv[0].ends_with("/nettune"), "{argv:?}");
        let addr = free_port();
        let mut args: Vec<String> = argv[1..].to_vec();
        let listen = args
            .iter()
            .position(|a| a == "--listen")
            .expect("ExecStart has --listen ADDR");
        args[listen + 1] = addr.to_string();
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("setpriv")
            .args(privileges.setpriv_args())
            .arg(&bin)
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run setpriv");
        Running {
            child,
            addr,
            _dir: dir,
        }
    }

    /// One scrape's body, waiting up to 20 s for the exporter to listen.
    fn scrape(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the exporter exited: {status}");
            }
            if let Ok(mut s) = TcpStream::connect(self.addr) {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                let (head, body) = out.split_once("\r\n\r\n").expect("a response");
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return body.to_string();
            }
            assert!(Instant::now() < deadline, "the exporter never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The effective capabilities of the running exporter (`CapEff:`, hex).
    fn effective_caps(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap()
            .trim();
        u64::from_str_radix(hex, 16).unwrap()
    }
}

/// `nettune_source_ok{source="S"} V` per source.
fn sources_ok(body: &str) -> Vec<(String, bool)> {
    body.lines()
        .filter_map(|l| l.strip_prefix("nettune_source_ok{source=\""))
        .map(|l| {
            let (name, rest) = l.split_once("\"}").unwrap();
            (name.to_string(), rest.trim() == "1")
        })
        .collect()
}

/// The namespaces an exposition labels (`netns="..."`).
fn netns_labels(body: &str) -> std::collections::BTreeSet<String> {
    body.lines()
        .filter_map(|l| l.split_once("netns=\"").map(|(_, r)| r))
        .filter_map(|r| r.split_once('"').map(|(n, _)| n.to_string()))
        .collect()
}

fn can_run() -> bool {
    require_root() && require_tool("setpriv")
}

/// The unit as shipped: an unprivileged user without any capability reads every source
/// root reads (none is read only thanks to privileges), and the process really holds none.
#[test]
fn exporter_unit_reads_every_source_without_privileges() {
    if !can_run() {
        return;
    }
    let unit = systemd_dir().join("nettune-exporter.service");
    let files = [unit.as_path()];
    let privileges = Privileges::of(&files);
    assert!(
        privileges.caps.is_empty(),
        "the exporter unit grants {:?}",
        privileges.caps
    );
    let mut unprivileged = Running::start(&files, &privileges, &[]);
    let body = unprivileged.scrape();
    assert_eq!(unprivileged.effective_caps(), 0, "no capability at all");
    let got = sources_ok(&body);
    assert_eq!(
        got.len(),
        nettune::snapshot::SOURCES.len(),
        "one nettune_source_ok per source: {got:?}"
    );
    // Root with every capability, same command: what the host lets anyone read at all (a
    // kernel without conntrack, say, fails for both).
    let root_body = Running::start(&files, &Privileges::root(), &[]).scrape();
    for (source, ok_as_root) in sources_ok(&root_body) {
        let ok = got
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, ok)| *ok)
            .unwrap_or(false);
        assert!(
            ok || !ok_as_root || UNIT_EXCEPTIONS.contains(&source.as_str()),
            "source {source} reads as root but not under the unit's privileges"
        );
    }
    assert!(
        got.iter().filter(|(_, ok)| *ok).count() >= 10,
        "most sources read: {got:?}"
    );
}

/// With the per-namespace drop-in, the same unprivileged user with exactly CAP_SYS_ADMIN and
/// CAP_SYS_PTRACE reads a namespace bound under /run/netns and one held only by another
/// user's process; without CAP_SYS_PTRACE that second one is not visible (the capability is
/// needed), and without the drop-in neither is read.
#[test]
fn exporter_netns_dropin_reads_other_namespaces_with_exactly_its_capabilities() {
    if !can_run() || !require_tool("unshare") {
        return;
    }
    let Some(ns) = Netns::new("priv") else {
        return;
    };
    // A namespace only a process of another user holds (no bind mount), like a container's.
    let mut holder = Command::new("unshare")
        .args([
            "--net",
            "setpriv",
            "--reuid=4321",
            "--regid=4321",
            "--clear-groups",
            "sleep",
            "60",
        ])
        .spawn()
        .expect("start a namespace holder");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let holder_pid = holder.id();
    let _holder = Kill(&mut holder);
    // Wait until the holder runs `sleep` in its own namespace.
    let deadline = Instant::now() + Duration::from_secs(5);
    let holder_label = loop {
        let comm = std::fs::read_to_string(format!("/proc/{holder_pid}/comm")).unwrap_or_default();
        let own = std::fs::read_link(format!("/proc/{holder_pid}/ns/net")).ok();
        if comm.trim() == "sleep" && own != std::fs::read_link("/proc/self/ns/net").ok() {
            break format!("pid {holder_pid} (sleep)");
        }
        assert!(
            Instant::now() < deadline,
            "the holder never entered its namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    let unit = systemd_dir().join("nettune-exporter.service");
    let dropin = systemd_dir().join("nettune-exporter.service.d/netns.conf");
    let files = [unit.as_path(), dropin.as_path()];
    let privileges = Privileges::of(&files);
    let mut caps = privileges.caps.clone();
    caps.sort();
    assert_eq!(
        caps,
        ["sys_admin", "sys_ptrace"],
        "exactly these capabilities"
    );
    // Every namespace on its own (other tests' namespaces may exist meanwhile).
    let extra = ["--max-netns", "100000"];

    let mut with = Running::start(&files, &privileges, &extra);
    // The first collection may predate discovery of the new namespaces: scrape until both
    // show (a few collections at most).
    let deadline = Instant::now() + Duration::from_secs(20);
    let labels = loop {
        let labels = netns_labels(&with.scrape());
        if labels.contains(&ns.name) && labels.contains(&holder_label) {
            break labels;
        }
        assert!(
            Instant::now() < deadline,
            "the drop-in's privileges do not read {} and {holder_label}: {labels:?}",
            ns.name
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(labels.contains("host"));
    let body = with.scrape();
    assert!(
        sources_ok(&body).iter().filter(|(_, ok)| *ok).count() >= 10,
        "host sources still read"
    );
    drop(with);

    // Without CAP_SYS_PTRACE the other user's namespace is invisible: the capability is
    // needed. The bound namespace still reads (CAP_SYS_ADMIN).
    let fewer = Privileges {
        uid: NOBODY,
        caps: vec!["sys_admin".into()],
    };
    let mut without = Running::start(&files, &fewer, &extra);
    std::thread::sleep(Duration::from_secs(2));
    let labels = netns_labels(&without.scrape());
    assert!(labels.contains(&ns.name), "{labels:?}");
    assert!(!labels.contains(&holder_label), "{labels:?}");
    drop(without);

    // The unit without the drop-in (--host-only, no capability): only the host.
    let base = [unit.as_path()];
    let mut host_only = Running::start(&base, &Privileges::of(&base), &extra);
    let labels = netns_labels(&host_only.scrape());
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["host"],
        "the base unit reads the host only"
    );
}

/// Every unit and drop-in in deploy/systemd runs a command line nettune accepts, and the
/// exporter's listens on loopback only (its IPAddressAllow=localhost would drop the rest).
#[test]
fn every_unit_and_dropin_runs_a_command_nettune_accepts() {
    use clap::Parser;
    let dir = systemd_dir();
    let mut checked = 0;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "service") {
            files.push(path.clone());
        }
        if path.extension().is_some_and(|e| e == "d") {
            for d in std::fs::read_dir(&path).unwrap() {
                files.push(d.unwrap().path());
            }
        }
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for exec in text
            .lines()
            .filter_map(|l| l.strip_prefix("ExecStart="))
            .filter(|e| !e.is_empty())
        {
            let argv: Vec<&str> = exec.split_whitespace().collect();
            assert_eq!(argv[0], "/usr/bin/nettune", "{}: {exec}", file.display());
            if let Err(e) = nettune::cli::Cli::try_parse_from(&argv) {
                panic!("{}: `{exec}` is rejected: {e}", file.display());
            }
            if let Some(i) = argv.iter().position(|a| *a == "--listen") {
                assert!(argv[i + 1].starts_with("127.0.0.1:"), "{exec}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} ExecStart lines in {files:?}");
}

/// The boot-time applier's privileges (root with only the unit's `CapabilityBoundingSet`,
/// as systemd starts it) apply a plan — a per-namespace sysctl and an RPS mask — inside a
/// test namespace; with no capability at all the RPS write is refused (CAP_NET_ADMIN is
/// needed, not just granted).
#[test]
fn apply_unit_privileges_apply_a_plan() {
    if !can_run() || !require_tool("ip") {
        return;
    }
    let Some(ns) = Netns::new("applyp") else {
        return;
    };
    let unit = systemd_dir().join("nettune-apply.service");
    let files = [unit.as_path()];
    assert_eq!(unit_values(&files, "User"), ["root"]);
    let bounding: Vec<String> = unit_values(&files, "CapabilityBoundingSet")
        .iter()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect();
    assert_eq!(bounding, ["net_admin"]);
    let read = |path: &str| {
        let o = Command::new("ip")
            .args(["netns", "exec", &ns.name, "cat", path])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let apply = |caps: &[String], somaxconn: &str, rps: &str| {
        let state = tempfile::tempdir().unwrap();
        let plan = state.path().join("plan.json");
        std::fs::write(
            &plan,
            serde_json::json!([
                {"kind": "sysctl", "target": "net.core.somaxconn", "proposed": somaxconn, "finding": "test.raise"},
                {"kind": "rps", "target": "lo rx-0", "proposed": rps, "finding": "test.raise"},
            ])
            .to_string(),
        )
        .unwrap();
        let set: String = std::iter::once("-all".to_string())
            .chain(caps.iter().map(|c| format!("+{c}")))
            .collect::<Vec<_>>()
            .join(",");
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "setpriv"])
            .arg(format!("--bounding-set={set}"))
            .arg(format!("--inh-caps={set}"))
            .arg("--no-new-privs")
            .arg(env!("CARGO_BIN_EXE_nettune"))
            .args(["tune", "--plan"])
            .arg(&plan)
            .args(["--apply", "--yes"])
            .env("NETTUNE_STATE_DIR", state.path().join("state"))
            .output()
            .unwrap()
    };
    let rps = "/sys/class/net/lo/queues/rx-0/rps_cpus";
    let o = apply(&bounding, "1234", "1");
    assert!(o.status.success(), "{}", super::stderr(&o));
    assert_eq!(read("/proc/sys/net/core/somaxconn"), "1234");
    assert!(
        read(rps).trim_start_matches(['0', ',']) == "1",
        "{}",
        read(rps)
    );
    // Without CAP_NET_ADMIN the RPS write (another CPU) fails and the transaction is undone.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return;
    }
    let o = apply(&[], "2345", "2");
    let err = super::stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("rps") || err.contains("rx-0"),
        "refused for the RPS write: {err}"
    );
    assert!(
        err.to_lowercase().contains("permi") || err.contains("EPERM"),
        "refused for lack of permission: {err}"
    );
    assert_eq!(read("/proc/sys/net/core/somaxconn"), "1234");
}

/// The textfile writer as its unit runs it — an unprivileged account owning the textfile
/// directory, no capability — writes a file with every source root reads.
#[test]
fn textfile_unit_writes_every_source_without_privileges() {
    use std::os::unix::fs::PermissionsExt;
    if !can_run() {
        return;
    }
    let unit = systemd_dir().join("nettune-textfile.service");
    let files = [unit.as_path()];
    assert_eq!(unit_values(&files, "User"), ["prometheus"]);
    assert!(unit_values(&files, "CapabilityBoundingSet").is_empty());
    assert!(unit_values(&files, "AmbientCapabilities").is_empty());
    let run = |privileges: Option<&Privileges>| -> String {
        let (dir, bin) = reachable_binary();
        // The textfile directory, owned by the writer (node_exporter's account on Debian).
        let out_dir = dir.path().join("textfile");
        std::fs::create_dir(&out_dir).unwrap();
        std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&out_dir, Some(NOBODY), Some(NOBODY)).unwrap();
        let target = out_dir.join("nettune.prom");
        let mut args = exec_start(&files)[1..].to_vec();
        let i = args.iter().position(|a| a == "--textfile").unwrap();
        args[i + 1] = target.display().to_string();
        let i = args.iter().position(|a| a == "--interval").unwrap();
        args[i + 1] = "200ms".into();
        let mut cmd = match privileges {
            Some(p) => {
                let mut c = Command::new("setpriv");
                c.args(p.setpriv_args()).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let o = cmd.args(&args).current_dir(dir.path()).output().unwrap();
        assert!(o.status.success(), "{}", super::stderr(&o));
        std::fs::read_to_string(&target).unwrap()
    };
    let unprivileged = run(Some(&Privileges {
        uid: NOBODY,
        caps: vec![],
    }));
    let root = run(None);
    let got = sources_ok(&unprivileged);
    assert_eq!(got.len(), nettune::snapshot::SOURCES.len(), "{got:?}");
    for (source, ok_as_root) in sources_ok(&root) {
        let ok = got.iter().any(|(s, ok)| *s == source && *ok);
        assert!(
            ok || !ok_as_root || UNIT_EXCEPTIONS.contains(&source.as_str()),
            "source {source} reads as root but not as the textfile unit"
        );
    }
}
