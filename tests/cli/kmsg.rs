//! Kernel log lines in live `check`: a record written to `/dev/kmsg` by the test (as root,
//! with the kernel's exact wording and a device name no host has) shows up as a finding when
//! written during the window, and with `--since-boot` when written before it. Held under
//! [`super::e2e::serial`]: another test's window in this binary must not see the line.

use super::e2e::serial;
use super::{nettune, require_root, stderr};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// Write one record to the kernel log (level 4, warning).
fn kmsg(line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .expect("open /dev/kmsg for writing");
    f.write_all(format!("<4>{line}\n").as_bytes())
        .expect("write /dev/kmsg");
}

fn over_mtu_finding(report: &Value, dev: &str) -> Option<Value> {
    report["findings"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == "log.over_mtu" && f["title"].as_str().is_some_and(|t| t.contains(dev)))
        .cloned()
}

fn check(args: &[&str], during: impl FnOnce()) -> Value {
    let child = nettune()
        .args(["check", "--json", "--host-only"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nettune check");
    during();
    let out = child.wait_with_output().expect("wait for check");
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "check failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("check --json is JSON")
}

#[test]
fn a_line_written_during_the_window_is_a_finding() {
    if !require_root() {
        return;
    }
    let _g = serial();
    let dev = format!("ntk{}w", std::process::id() % 100_000);
    let report = check(&["--interval", "3s"], || {
        // Well inside the window: the first snapshot opens /dev/kmsg at its end.
        std::thread::sleep(Duration::from_millis(1200));
        kmsg(&format!("{dev}: dropped over-mtu packet: 1600 > 1500"));
    });
    let f = over_mtu_finding(&report, &dev)
        .unwrap_or_else(|| panic!("no log.over_mtu for {dev}: {:#}", report["findings"]));
    assert!(
        f["title"].as_str().unwrap().contains("(no longer exists)"),
        "{f:#}"
    );
    let ev = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == "kernel_log.dropped_over_mtu" && e["scope"] == dev.as_str())
        .cloned()
        .expect("evidence names the device");
    assert_eq!(ev["value"], 1.0);
    assert_eq!(
        report["sources"]["kernel_log"], "ok",
        "{:#}",
        report["sources"]
    );
}

#[test]
fn a_line_written_before_the_window_needs_since_boot() {
    if !require_root() {
        return;
    }
    let _g = serial();
    let dev = format!("ntk{}b", std::process::id() % 100_000);
    kmsg(&format!("{dev}: dropped over-mtu packet: 1600 > 1500"));
    let window_only = check(&["--interval", "200ms"], || {});
    assert!(
        over_mtu_finding(&window_only, &dev).is_none(),
        "a line older than the window is not in it"
    );
    let since_boot = check(&["--interval", "200ms", "--since-boot"], || {});
    let f = over_mtu_finding(&since_boot, &dev)
        .unwrap_or_else(|| panic!("--since-boot reads {dev}: {:#}", since_boot["findings"]));
    assert!(f["title"].as_str().unwrap().contains("since boot"), "{f:#}");
}
