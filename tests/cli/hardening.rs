//! Findings of the security and reliability review (issue 15), each reproduced end to end
//! against the binary: symlinked targets, slow exporter clients, rollback over newer values,
//! journal robustness, state directory trust, capture bounds, wrong-target applies, XDP and
//! profile bounds.

use super::{nettune, stderr};
use std::path::Path;
use std::process::Output;

/// `nettune ARGS..` with its own state dir.
fn tn(state: &Path, args: &[&str]) -> Output {
    nettune()
        .env("NETTUNE_STATE_DIR", state)
        .args(args)
        .output()
        .expect("run nettune")
}

/// Exit 3 with a one-line error containing every one of `want`.
#[track_caller]
fn refused(o: &Output, want: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(3), "exit 3: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for w in want {
        assert!(err.contains(w), "{w:?} in {err}");
    }
}

#[test]
fn apply_with_a_foreign_proc_root_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let o = tn(
        d.path(),
        &["--proc-root", "/tmp", "tune", "--apply", "--yes"],
    );
    refused(&o, &["--proc-root /tmp"]);
}

#[test]
fn check_from_dev_zero_is_one_line_and_exit_3_at_once() {
    let t = std::time::Instant::now();
    let o = super::run(&["check", "--from", "/dev/zero"]);
    refused(&o, &["/dev/zero", "not a regular file"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_capture_naming_cpu_4294967295_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("cap.json");
    let mut cap = super::capture_json(&["snapshot", "--interval", "0ms"]);
    cap["host"]["cpus_online"] = serde_json::json!([0, 4294967295u64]);
    std::fs::write(&file, cap.to_string()).unwrap();
    let o = super::run(&["check", "--from", file.to_str().unwrap()]);
    refused(&o, &["CPU 4294967295", file.to_str().unwrap()]);
}

#[test]
fn a_panic_is_one_line_and_exit_3() {
    let o = nettune()
        .env("NETTUNE_INJECT_PANIC", "1")
        .args(["check", "--interval", "0ms"])
        .output()
        .unwrap();
    refused(&o, &["internal error: injected panic"]);
}

#[test]
fn a_plan_naming_kernel_core_pattern_is_refused_not_skipped() {
    let d = tempfile::tempdir().unwrap();
    let plan = d.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"[{"kind":"sysctl","target":"net.core.somaxconn","proposed":"4096"},
            {"kind":"sysctl","target":"kernel.core_pattern","proposed":"|/tmp/pwn"}]"#,
    )
    .unwrap();
    let o = tn(d.path(), &["tune", "--plan", plan.to_str().unwrap()]);
    refused(&o, &["kernel.core_pattern", "net."]);
}

#[test]
fn a_profile_value_beyond_the_kernels_int_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let prof = d.path().join("p.toml");
    std::fs::write(
        &prof,
        "[[sysctl]]\nkey = \"net.core.somaxconn\"\nvalue = 9223372036854775807\n",
    )
    .unwrap();
    let o = tn(
        d.path(),
        &[
            "tune",
            "--profile",
            prof.to_str().unwrap(),
            "--interval",
            "0ms",
        ],
    );
    refused(&o, &["out of range", "p.toml:3"]);
}

// ---- item 1: symlinks planted at files nettune writes as root ----

#[test]
fn a_textfile_target_that_is_a_symlink_is_refused_in_one_line() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let link = d.path().join("nettune.prom");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let o = tn(
        d.path(),
        &[
            "export",
            "--textfile",
            link.to_str().unwrap(),
            "--interval",
            "0ms",
        ],
    );
    refused(&o, &["symlink", "nettune.prom"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

#[test]
fn a_persist_file_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let Some(ns) = super::Netns::new("hard-persist") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let victim = root.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let conf = root.path().join("etc/sysctl.d/60-nettune.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&victim, &conf).unwrap();
    let plan = state.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"[{"kind":"sysctl","target":"net.core.somaxconn","proposed":"1234"}]"#,
    )
    .unwrap();
    let o = tn(
        state.path(),
        &[
            "--netns",
            &ns.name,
            "tune",
            "--plan",
            plan.to_str().unwrap(),
            "--apply",
            "--yes",
            "--persist",
            "--persist-root",
            root.path().to_str().unwrap(),
        ],
    );
    refused(&o, &["symlink", "60-nettune.conf"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(std::fs::symlink_metadata(&conf)
        .unwrap()
        .file_type()
        .is_symlink());
}

// ---- item 6: the state directory must be ours alone ----

#[test]
fn an_untrusted_state_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    if !super::require_root() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = tn(&state, &["rollback", "--last"]);
    refused(&o, &["state directory", "writable"]);
    let o = tn(&state, &["rollback", "--list"]);
    refused(&o, &["state directory", "writable"]);

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    nix::unistd::chown(&state, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let o = tn(&state, &["rollback", "--last"]);
    refused(&o, &["owned by uid 65534"]);

    let link = d.path().join("link");
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = tn(&link, &["rollback", "--last"]);
    refused(&o, &["symlink"]);
    assert_eq!(
        std::fs::read_dir(&real).unwrap().count(),
        0,
        "nothing written there"
    );
}

// ---- item 3: rollback never overwrites a newer value silently ----

fn ns_sysctl(ns: &str, key: &str) -> String {
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-n", key])
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn ns_set(ns: &str, key: &str, value: &str) {
    let st = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn rollback_over_an_administrators_later_change_is_refused_unless_forced() {
    let Some(ns) = super::Netns::new("hard-newer") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    ns_set(&ns.name, "net.core.somaxconn", "100");
    let plan = state.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"[{"kind":"sysctl","target":"net.core.somaxconn","proposed":"1234"}]"#,
    )
    .unwrap();
    let args = [
        "--netns",
        &ns.name,
        "tune",
        "--plan",
        plan.to_str().unwrap(),
        "--apply",
        "--yes",
    ];
    let o = tn(state.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    ns_set(&ns.name, "net.core.somaxconn", "777");
    let o = tn(state.path(), &["rollback", "--last"]);
    refused(
        &o,
        &[
            "net.core.somaxconn",
            &ns.name,
            "\"777\"",
            "\"1234\"",
            "--force",
        ],
    );
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "777", "kept");
    let o = tn(state.path(), &["rollback", "--last", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "100");
}

// ---- item 5: the journal never stops a restore half-way ----

#[test]
fn a_full_disk_during_rollback_still_restores_everything_and_says_so() {
    let Some(ns) = super::Netns::new("hard-full") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let keys = [
        ("net.core.somaxconn", "1111"),
        ("net.ipv4.tcp_max_syn_backlog", "2222"),
        ("net.ipv4.tcp_fin_timeout", "33"),
    ];
    let before: Vec<String> = keys.iter().map(|(k, _)| ns_sysctl(&ns.name, k)).collect();
    let items: Vec<serde_json::Value> = keys
        .iter()
        .map(|(k, v)| serde_json::json!({"kind": "sysctl", "target": k, "proposed": v}))
        .collect();
    let plan = state.path().join("plan.json");
    std::fs::write(&plan, serde_json::Value::Array(items).to_string()).unwrap();
    let args = [
        "--netns",
        &ns.name,
        "tune",
        "--plan",
        plan.to_str().unwrap(),
        "--apply",
        "--yes",
    ];
    let o = tn(state.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = nettune()
        .env("NETTUNE_STATE_DIR", state.path())
        .env("NETTUNE_JOURNAL_FULL_AFTER", "0")
        .args(["rollback", "--last"])
        .output()
        .unwrap();
    refused(
        &o,
        &[
            "every change (3)",
            "journal could not record",
            "No space left",
        ],
    );
    let after: Vec<String> = keys.iter().map(|(k, _)| ns_sysctl(&ns.name, k)).collect();
    assert_eq!(after, before, "all three restored");
    // Once the journal can be written again the rollback completes (nothing left to change).
    let o = tn(state.path(), &["rollback", "--last"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = tn(state.path(), &["rollback", "--last"]);
    assert_eq!(o.status.code(), Some(3), "nothing open any more");
}

#[test]
fn rollback_last_refuses_while_a_journal_is_unreadable() {
    if !super::require_root() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir(state.path().join("journal")).unwrap();
    std::fs::write(
        state
            .path()
            .join("journal/20990101T000000.000000000Z.jsonl"),
        "junk\n{\n",
    )
    .unwrap();
    let o = tn(state.path(), &["rollback", "--last"]);
    refused(&o, &["unreadable", "20990101T"]);
}

// ---- item 2: slow clients do not starve the exporter ----

/// `nettune export` on 127.0.0.1 (port chosen by the kernel), killed on drop.
struct Exporter {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Exporter {
    fn start() -> Exporter {
        use std::io::BufRead;
        let mut child = nettune()
            .args(["export", "--listen", "127.0.0.1:0", "--host-only"])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "exporter exited");
            if let Some(rest) = line.trim().strip_prefix("nettune export: serving http://") {
                break rest.trim_end_matches("/metrics").parse().unwrap();
            }
        };
        // Keep draining stderr so the exporter never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Exporter { child, addr }
    }

    /// One scrape: (status, seconds taken).
    fn scrape(&self) -> (u16, std::time::Duration) {
        use std::io::{Read, Write};
        let t = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let code = String::from_utf8_lossy(&out[..out.len().min(12)])
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, t.elapsed())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_scrape_stays_under_2s_with_16_idle_and_4_junk_connections_open() {
    use std::io::{Read, Write};
    let e = Exporter::start();
    assert_eq!(e.scrape().0, 200, "serves without load");
    let mut held: Vec<std::net::TcpStream> = (0..16)
        .map(|_| std::net::TcpStream::connect(e.addr).unwrap())
        .collect();
    let junk: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 0x80) as u8).collect();
    let t = std::time::Instant::now();
    for _ in 0..4 {
        let mut s = std::net::TcpStream::connect(e.addr).unwrap();
        s.write_all(&junk).unwrap();
        held.push(s);
    }
    for _ in 0..3 {
        let (code, took) = e.scrape();
        eprintln!("scrape with 16 idle + 4 junk connections: {took:?}");
        assert_eq!(code, 200);
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }
    // The junk got its 400 at once, not after the head timeout.
    for s in &mut held[16..] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            out.starts_with(b"HTTP/1.1 400 "),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        t.elapsed()
    );
}

// ---- item 9: XDP requests are bounded ----

#[test]
fn xdp_refuses_an_out_of_range_syn_rate_and_a_whole_family_deny_without_force() {
    // In a namespace of the test's own: were the check missing, the filter would attach to
    // that namespace's lo, never the host's.
    let Some(ns) = super::Netns::new("hard-xdp") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    for args in [
        &["--syn-rate", "0"][..],
        &["--syn-rate", "10000001"],
        &["--syn-rate", "18446744073709551615"],
    ] {
        let mut all = vec!["--netns", &ns.name, "xdp", "attach", "lo"];
        all.extend_from_slice(args);
        let o = tn(d.path(), &all);
        refused(&o, &["--syn-rate", "1..=10000000"]);
    }
    for cidr in ["0.0.0.0/0", "::/0"] {
        let o = tn(
            d.path(),
            &["--netns", &ns.name, "xdp", "attach", "lo", "--deny", cidr],
        );
        refused(&o, &[cidr, "--force"]);
    }
}

#[test]
fn plan_and_profile_files_must_be_bounded_regular_files() {
    let d = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let o = tn(d.path(), &["tune", "--plan", "/dev/zero"]);
    refused(&o, &["/dev/zero", "not a regular file"]);
    let o = tn(d.path(), &["tune", "--profile", "/dev/zero"]);
    refused(&o, &["/dev/zero", "not a regular file"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}
