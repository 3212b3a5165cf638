//! `nettune tune` / `rollback` end to end, in namespaces the tests create: explicit plans
//! (`tune --plan FILE`) change namespace sysctls and sysfs, never the host's; rollback restores
//! exact values; injected failure and crash (`NETTUNE_FAIL_AT`, `NETTUNE_FAULT_AFTER`) leave
//! nothing changed once rolled back. Every test has its own state dir (`NETTUNE_STATE_DIR`).

use super::{nettune, stderr, Netns};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn ns_sysctl(ns: &str, key: &str) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-n", key])
        .output()
        .expect("run sysctl");
    assert!(o.status.success(), "sysctl -n {key} in {ns}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn ns_set(ns: &str, key: &str, value: &str) {
    let st = Command::new("ip")
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
    assert!(st.success(), "sysctl -w {key}={value} in {ns}");
}

fn host_sysctl(key: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(key.replace('.', "/")))
        .unwrap()
        .trim()
        .to_string()
}

/// `nettune --netns NS ARGS..` with the state dir and extra environment.
fn tn(state: &Path, ns: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = nettune();
    c.env("NETTUNE_STATE_DIR", state)
        .env_remove("NETTUNE_FAIL_AT")
        .env_remove("NETTUNE_FAULT_AFTER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("--netns")
        .arg(ns)
        .args(args)
        .output()
        .expect("run nettune")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {}", stderr(o)))
}

/// A proposed somaxconn different from both 16 and the host's value.
fn raised(host: &str) -> &'static str {
    if host == "4096" {
        "3000"
    } else {
        "4096"
    }
}

fn write_plan(dir: &Path, changes: &[(&str, &str, &str)]) -> String {
    let items: Vec<Value> = changes
        .iter()
        .map(|(kind, target, proposed)| {
            serde_json::json!({"kind": kind, "target": target, "proposed": proposed, "finding": "test.raise"})
        })
        .collect();
    let file = dir.join("plan.json");
    std::fs::write(&file, Value::Array(items).to_string()).unwrap();
    file.display().to_string()
}

#[test]
fn apply_in_namespace_then_rollback_restores_exactly() {
    let Some(ns) = Netns::new("tune-apply") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let host_before = host_sysctl("net.core.somaxconn");
    let new = raised(&host_before);
    ns_set(&ns.name, "net.core.somaxconn", "16");
    let plan = write_plan(
        state.path(),
        &[
            ("sysctl", "net.core.somaxconn", new),
            ("rps", "lo rx-0", "1"),
        ],
    );

    // Dry run changes nothing and opens no transaction.
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["schema"], "nettune.tune/v1");
    assert_eq!(r["applied"], false);
    assert!(r["transaction"].is_null());
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
    assert!(!state.path().join("journal").exists());

    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["applied"], true);
    let id = r["transaction"].as_str().unwrap().to_string();
    assert_eq!(r["changes"][0]["current"], "16");
    assert_eq!(r["changes"][0]["proposed"], new);
    assert_eq!(r["changes"][0]["finding"], "test.raise");
    assert_eq!(r["changes"][0]["applied"], true);
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), new);
    assert_eq!(
        host_sysctl("net.core.somaxconn"),
        host_before,
        "host untouched"
    );
    // The namespace's own sysfs was written (its lo, not the host's).
    let rps = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "cat",
            "/sys/class/net/lo/queues/rx-0/rps_cpus",
        ])
        .output()
        .unwrap();
    let rps = String::from_utf8_lossy(&rps.stdout);
    assert!(
        rps.trim().trim_start_matches(['0', ',']) == "1",
        "rps_cpus {rps}"
    );

    let o = tn(
        state.path(),
        &ns.name,
        &["rollback", "--list", "--json"],
        &[],
    );
    let list = json(&o);
    assert_eq!(list["transactions"][0]["id"], id.as_str());
    assert_eq!(list["transactions"][0]["state"], "committed");

    let o = tn(
        state.path(),
        &ns.name,
        &["rollback", "--last", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["schema"], "nettune.rollback/v1");
    assert_eq!(r["transaction"], id.as_str());
    assert_eq!(r["restored"][0]["kind"], "rps", "newest first");
    assert_eq!(r["restored"][1]["target"], "net.core.somaxconn");
    assert_eq!(r["restored"][1]["value"], "16");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
    assert_eq!(host_sysctl("net.core.somaxconn"), host_before);
    // Nothing left to roll back.
    let o = tn(state.path(), &ns.name, &["rollback", "--last"], &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no transaction"), "{}", stderr(&o));
}

#[test]
fn failure_half_way_restores_the_first_change() {
    let Some(ns) = Netns::new("tune-fail") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    ns_set(&ns.name, "net.core.somaxconn", "16");
    ns_set(&ns.name, "net.ipv4.tcp_max_syn_backlog", "64");
    let plan = write_plan(
        state.path(),
        &[
            ("sysctl", "net.core.somaxconn", "1024"),
            ("sysctl", "net.ipv4.tcp_max_syn_backlog", "2048"),
        ],
    );
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes"],
        &[("NETTUNE_FAIL_AT", "2")],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("change 2 of 2") && err.contains("restored"),
        "{err}"
    );
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
    assert_eq!(ns_sysctl(&ns.name, "net.ipv4.tcp_max_syn_backlog"), "64");
    let list = json(&tn(
        state.path(),
        &ns.name,
        &["rollback", "--list", "--json"],
        &[],
    ));
    assert_eq!(list["transactions"][0]["state"], "rolled back");
}

#[test]
fn crash_mid_apply_is_completed_by_rollback_last() {
    let Some(ns) = Netns::new("tune-crash") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    ns_set(&ns.name, "net.core.somaxconn", "16");
    ns_set(&ns.name, "net.ipv4.tcp_max_syn_backlog", "64");
    let plan = write_plan(
        state.path(),
        &[
            ("sysctl", "net.core.somaxconn", "1024"),
            ("sysctl", "net.ipv4.tcp_max_syn_backlog", "2048"),
        ],
    );
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes"],
        &[("NETTUNE_FAULT_AFTER", "1")],
    );
    assert!(
        o.status.code().is_none(),
        "killed by SIGABRT: {:?}",
        o.status
    );
    assert_eq!(
        ns_sysctl(&ns.name, "net.core.somaxconn"),
        "1024",
        "first write happened"
    );
    assert_eq!(ns_sysctl(&ns.name, "net.ipv4.tcp_max_syn_backlog"), "64");
    let list = json(&tn(
        state.path(),
        &ns.name,
        &["rollback", "--list", "--json"],
        &[],
    ));
    assert_eq!(list["transactions"][0]["state"], "incomplete");

    let o = tn(
        state.path(),
        &ns.name,
        &["rollback", "--last", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["was"], "incomplete");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
    assert_eq!(ns_sysctl(&ns.name, "net.ipv4.tcp_max_syn_backlog"), "64");
}

#[test]
fn lowering_is_refused_without_force() {
    let Some(ns) = Netns::new("tune-refuse") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    ns_set(&ns.name, "net.core.somaxconn", "1024");
    let file = state.path().join("plan.json");
    std::fs::write(
        &file,
        r#"[{"kind":"sysctl","target":"net.core.somaxconn","current":"1024","proposed":"16"}]"#,
    )
    .unwrap();
    let plan = file.display().to_string();
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes"],
        &[],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "1024");
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes", "--force"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
}

#[test]
fn tune_dry_run_on_the_live_host_and_bad_input() {
    let state = tempfile::tempdir().unwrap();
    let o = nettune()
        .env("NETTUNE_STATE_DIR", state.path())
        .args(["tune", "--interval", "100ms", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["schema"], "nettune.tune/v1");
    assert_eq!(r["applied"], false);
    assert!(r["changes"].is_array());
    assert!(
        !state.path().join("journal").exists(),
        "dry run writes no journal"
    );

    let o = nettune()
        .args(["tune", "--profile", "no-such"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no-such"));
    let o = nettune()
        .env("NETTUNE_STATE_DIR", state.path())
        .args(["rollback", "no-such-id"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn apply_without_root_names_the_missing_capability() {
    if !super::is_root() || !super::have("setpriv") {
        eprintln!("note: needs root and setpriv to drop to nobody; skipped");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_nettune"))
        .args(["tune", "--apply", "--yes", "--interval", "10ms"])
        .env("NETTUNE_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
}

#[test]
fn library_transaction_in_a_namespace() {
    let Some(ns) = Netns::new("tune-lib") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let host_before = host_sysctl("net.core.somaxconn");
    let new = raised(&host_before);
    ns_set(&ns.name, "net.core.somaxconn", "16");
    let changes = vec![nettune::change::Change::sysctl(
        "net.core.somaxconn",
        Some("16"),
        new,
    )];
    let out = nettune::tune::apply_transaction(changes, Some(&ns.path()), state.path()).unwrap();
    assert!(out.committed(), "{:?}", out.error);
    assert_eq!(out.applied[0].old, "16");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), new);
    assert_eq!(host_sysctl("net.core.somaxconn"), host_before);
    let log = nettune::tune::journal::find(state.path(), &out.id).unwrap();
    let restored = nettune::tune::rollback_transaction(&nettune::Root::default(), &log).unwrap();
    assert_eq!(restored[0].value, "16");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
}
