//! `nettune lab`: every finished scenario end to end (root only), cleanup after failure,
//! panic, Ctrl-C and crash, no leaked descriptors, the HTML report.
//!
//! Tests hold `e2e::serial()`: softnet counters and the sysctls the lab changes are
//! host-wide. `ip` is only used here as an independent oracle for what is left behind.

use super::{e2e, is_root, nettune, stderr};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Host-wide sysctls a lab run may change.
const HOST_KEYS: &[&str] = &[
    "net.core.netdev_max_backlog",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.flow_limit_cpu_bitmap",
    "net.core.rps_sock_flow_entries",
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.netfilter.nf_conntrack_max",
];

fn host_sysctls() -> Vec<(String, String)> {
    HOST_KEYS
        .iter()
        .filter_map(|k| {
            let p = Path::new("/proc/sys").join(k.replace('.', "/"));
            Some((
                k.to_string(),
                std::fs::read_to_string(p).ok()?.trim().to_string(),
            ))
        })
        .collect()
}

/// Lab namespaces present, as `ip netns list` shows them.
fn lab_namespaces() -> Vec<String> {
    let o = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("nettune-lab-"))
        .map(str::to_string)
        .collect()
}

fn lab(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = nettune();
    c.env("NETTUNE_STATE_DIR", state).arg("lab").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run nettune lab")
}

/// Nothing of a run is left: no namespaces, host sysctls as before, no lab state file,
/// every journaled transaction rolled back.
fn assert_clean(state: &Path, before: &[(String, String)]) {
    assert_eq!(lab_namespaces(), Vec::<String>::new(), "namespaces left");
    assert_eq!(host_sysctls(), before, "host sysctls not restored");
    let lab_dir = state.join("lab");
    let files: Vec<_> = std::fs::read_dir(&lab_dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "lab state files left: {files:?}");
    if let Ok(d) = std::fs::read_dir(state.join("journal")) {
        for e in d.filter_map(|e| e.ok()) {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let last = text.lines().last().unwrap_or("");
            assert!(
                last.contains("rolled_back") || !text.contains("\"intent\""),
                "transaction not rolled back: {}",
                e.path().display()
            );
        }
    }
}

fn root_and_ip() -> bool {
    if !super::require("root", is_root()) || !super::require_tool("ip") {
        return false;
    }
    true
}

/// Run one scenario with `--json`, assert it passed and left nothing behind.
fn scenario(name: &str) -> Option<Value> {
    if !root_and_ip() {
        return None;
    }
    let _serial = e2e::serial();
    let state = tempfile::tempdir().unwrap();
    let before = host_sysctls();
    let o = lab(state.path(), &["run", name, "--json"], &[]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&o)));
    assert_eq!(v["schema"], "nettune.lab/v1");
    assert_eq!(v["scenario"], name);
    assert_eq!(v["found"], true, "{v:#}");
    assert_eq!(v["passed"], true, "{v:#}");
    assert!(v["before"].as_f64().unwrap() > 0.0, "{v:#}");
    assert!(
        v["changes"].as_array().is_some_and(|c| !c.is_empty()),
        "{v:#}"
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_clean(state.path(), &before);
    Some(v)
}

#[test]
fn lab_list_names_every_scenario() {
    let o = nettune().args(["lab", "list"]).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for name in [
        "backlog-drops",
        "budget-squeeze",
        "listen-overflow",
        "udp-rcvbuf",
        "conntrack-full",
        "port-exhaustion",
        "rps-off",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.len() > name.len() + 10),
            "{name} missing: {text}"
        );
    }
    let o = nettune().args(["lab", "run", "no-such"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
}

/// A lab round and `nettune tune --from CAPTURE --only FIX` plan with the same planner
/// (`tune::plan_for`: profile merge and refusals included): on each recorded capture the
/// lab's plan, rendered as a `nettune.tune/v1` report, is exactly what `tune` prints.
#[test]
fn lab_rounds_plan_like_tune_on_recorded_captures() {
    let balanced = nettune::tune::profiles::load("balanced").unwrap();
    for (file, name) in [
        ("listen_overflow.json", "listen-overflow"),
        ("softnet_backlog.json", "backlog-drops"),
        ("udp_rcvbuf.json", "udp-rcvbuf"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captures")
            .join(file);
        let s = nettune::lab::find(name).unwrap();
        let o = nettune()
            .args(["tune", "--json", "--only", &s.fix.join(","), "--from"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let tune: Value = serde_json::from_slice(&o.stdout).unwrap();

        let cap = nettune::snapshot::Capture::load(&path).unwrap();
        let (findings, _) =
            nettune::diagnose::diagnose_capture(&cap, &nettune::lab::diagnose_options(&balanced));
        let plan = nettune::lab::plan_round(s, &cap, &findings, &balanced);
        let lab = serde_json::to_value(nettune::report::tune::tune_report(&plan, None, None, None))
            .unwrap();
        assert_eq!(lab, tune, "{file}");
        let planned =
            tune["changes"].as_array().unwrap().len() + tune["advice"].as_array().unwrap().len();
        assert!(planned > 0, "{file}: {tune:#}");
    }
}

#[test]
fn lab_backlog_drops() {
    let Some(v) = scenario("backlog-drops") else {
        return;
    };
    assert_eq!(v["after"].as_f64(), Some(0.0));
    let changes = v["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["target"] == "net.core.netdev_max_backlog" && c["applied"] == true),
        "{v:#}"
    );
}

#[test]
fn lab_budget_squeeze() {
    let Some(v) = scenario("budget-squeeze") else {
        return;
    };
    let (b, a) = (v["before"].as_f64().unwrap(), v["after"].as_f64().unwrap());
    assert!(a <= b * 0.5, "squeeze {b} -> {a}");
}

#[test]
fn lab_listen_overflow_with_report_and_no_fd_leak() {
    if !root_and_ip() {
        return;
    }
    let _serial = e2e::serial();
    let state = tempfile::tempdir().unwrap();
    let report = state.path().join("lab.html");
    let before = host_sysctls();
    let o = lab(
        state.path(),
        &[
            "run",
            "listen-overflow",
            "--report",
            report.to_str().unwrap(),
        ],
        &[("NETTUNE_LAB_FD_CHECK", "1")],
    );
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{err}",
        String::from_utf8_lossy(&o.stdout)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("listen-overflow: PASSED"), "{text}");
    assert!(
        text.contains("advice"),
        "the application took the advice: {text}"
    );
    // Descriptors: as many open after the run as before it.
    let line = err
        .lines()
        .find(|l| l.contains("open fds before"))
        .unwrap_or_else(|| panic!("no fd line: {err}"));
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    assert_eq!(nums[0], nums[1], "leaked descriptors: {line}");
    // The report is self-contained HTML with inline SVG charts.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.matches("<svg").count() >= 1, "no chart");
    assert!(html.contains("polyline"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    screenshot(&report, state.path());
    assert_clean(state.path(), &before);
}

/// Render the report in headless Chromium when it is installed.
fn screenshot(report: &Path, dir: &Path) {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| super::have(b))
    else {
        super::require("chromium (to render the HTML report)", false);
        return;
    };
    let png = dir.join("lab.png");
    let st = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            // No network here: keep Chromium from trying (and waiting on) its services.
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", dir.join("chromium-profile").display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,1400",
        ])
        .arg(format!("file://{}", report.display()))
        .status()
        .expect("run chromium");
    assert!(st.success());
    let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(len > 10_000, "screenshot of {len} bytes");
}

/// Several scenarios in one run print a JSON array, one `nettune.lab/v1` object each.
#[test]
fn lab_udp_rcvbuf_and_port_exhaustion_as_a_json_array() {
    if !root_and_ip() {
        return;
    }
    let _serial = e2e::serial();
    let state = tempfile::tempdir().unwrap();
    let before = host_sysctls();
    let o = lab(
        state.path(),
        &["run", "udp-rcvbuf", "port-exhaustion", "--json"],
        &[],
    );
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&o)));
    let runs = v.as_array().expect("an array for several scenarios");
    assert_eq!(runs.len(), 2);
    for (r, name) in runs.iter().zip(["udp-rcvbuf", "port-exhaustion"]) {
        assert_eq!(r["schema"], "nettune.lab/v1");
        assert_eq!(r["scenario"], name);
        assert_eq!(r["passed"], true, "{r:#}");
        assert!(r["before"].as_f64().unwrap() > 0.0, "{r:#}");
        assert_eq!(r["after"].as_f64(), Some(0.0), "{r:#}");
        // These scenarios' applications ignore advice: it is never reported as applied.
        for c in r["changes"].as_array().unwrap() {
            if c["kind"] == "advice" {
                assert_eq!(c["applied"], false, "{c:#}");
            }
        }
    }
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_clean(state.path(), &before);
}

#[test]
fn lab_conntrack_full() {
    let Some(v) = scenario("conntrack-full") else {
        return;
    };
    assert_eq!(v["after"].as_f64(), Some(0.0));
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["target"] == "net.netfilter.nf_conntrack_max" && c["applied"] == true),
        "{v:#}"
    );
}

#[test]
fn lab_rps_off() {
    let Some(v) = scenario("rps-off") else {
        return;
    };
    // SO_INCOMING_CPU of the reader: all on the sending CPU before, moved off it after.
    assert!(v["before"].as_f64().unwrap() > 90.0, "{v:#}");
    assert!(v["after"].as_f64().unwrap() < 10.0, "{v:#}");
}

#[test]
fn lab_cleans_up_after_failure_panic_and_ctrl_c() {
    if !root_and_ip() {
        return;
    }
    let _serial = e2e::serial();
    let before = host_sysctls();
    for (hook, phase) in [
        ("NETTUNE_LAB_FAIL_AT", "apply"),
        ("NETTUNE_LAB_PANIC_AT", "after"),
        ("NETTUNE_LAB_FAIL_AT", "setup"),
    ] {
        let state = tempfile::tempdir().unwrap();
        let o = lab(state.path(), &["run", "backlog-drops"], &[(hook, phase)]);
        assert_ne!(o.status.code(), Some(0), "{hook}={phase}");
        assert_clean(state.path(), &before);
    }
    // Ctrl-C in the middle of the first measurement.
    let state = tempfile::tempdir().unwrap();
    let child = nettune()
        .env("NETTUNE_STATE_DIR", state.path())
        .args(["lab", "run", "backlog-drops"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert_clean(state.path(), &before);
}

#[test]
fn lab_later_run_removes_what_a_crashed_one_left() {
    if !root_and_ip() {
        return;
    }
    let _serial = e2e::serial();
    let before = host_sysctls();
    // A crash at `check` leaves the fault's host sysctls (netdev_max_backlog lowered) and the
    // namespaces; one at `after` also leaves the applied transaction (whose fix restores the
    // backlog to at least the kernel default, so the host values may match again).
    for phase in ["check", "after"] {
        let state = tempfile::tempdir().unwrap();
        let o = lab(
            state.path(),
            &["run", "backlog-drops"],
            &[("NETTUNE_LAB_ABORT_AT", phase)],
        );
        assert_eq!(
            o.status.code(),
            None,
            "aborted by a signal at {phase}: {}",
            stderr(&o)
        );
        assert!(
            !lab_namespaces().is_empty(),
            "the crash at {phase} left namespaces"
        );
        if phase == "check" {
            assert_ne!(
                host_sysctls(),
                before,
                "the crash at check left the host sysctls changed"
            );
        }
        let o = lab(state.path(), &["run", "listen-overflow"], &[]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("leftover of a crashed run"),
            "{phase}: {text}"
        );
        assert_clean(state.path(), &before);
    }
}
