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
    if !super::require_root() || !super::require_tool("setpriv") {
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
    let opts = nettune::tune::TxOptions::default();
    let out =
        nettune::tune::apply_transaction(changes, Some(&ns.path()), state.path(), &opts).unwrap();
    assert!(out.committed(), "{:?}", out.error);
    assert_eq!(out.applied[0].old, "16");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), new);
    assert_eq!(host_sysctl("net.core.somaxconn"), host_before);
    let log = nettune::tune::journal::find(state.path(), &out.id).unwrap();
    let restored = nettune::tune::rollback_transaction(&nettune::Root::default(), &log).unwrap();
    assert_eq!(restored[0].value, "16");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
}

fn ns_ethtool(ns: &str, args: &[&str]) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "ethtool"])
        .args(args)
        .output()
        .expect("run ethtool");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value of `key:` in `ethtool -k` / `-l` text (first occurrence after `after`).
fn ethtool_field(text: &str, after: &str, key: &str) -> String {
    let rest = text.split_once(after).map_or(text, |(_, r)| r);
    rest.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn ethtool_feature_and_channels_on_a_veth_then_rollback() {
    let Some(ns) = Netns::new("tune-eth") else {
        return;
    };
    if !super::require_tool("ethtool") {
        return;
    }
    let st = Command::new("ip")
        .args(["-n", &ns.name, "link", "add", "nt0", "numrxqueues", "4"])
        .args(["numtxqueues", "4", "type", "veth", "peer", "name", "nt1"])
        .args(["numrxqueues", "4", "numtxqueues", "4"])
        .status()
        .unwrap();
    assert!(st.success());
    let k = ns_ethtool(&ns.name, &["-k", "nt0"]);
    assert_eq!(ethtool_field(&k, "", "generic-receive-offload:"), "off");
    let l = ns_ethtool(&ns.name, &["-l", "nt0"]);
    assert_eq!(ethtool_field(&l, "Current hardware", "RX:"), "4");
    let state = tempfile::tempdir().unwrap();
    let plan = write_plan(
        state.path(),
        &[("feature", "nt0 rx-gro", "on"), ("channels", "nt0 rx", "2")],
    );
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["changes"][0]["current"], "off");
    assert_eq!(r["changes"][1]["current"], "4");
    let k = ns_ethtool(&ns.name, &["-k", "nt0"]);
    assert_eq!(ethtool_field(&k, "", "generic-receive-offload:"), "on");
    let l = ns_ethtool(&ns.name, &["-l", "nt0"]);
    assert_eq!(ethtool_field(&l, "Current hardware", "RX:"), "2");

    let o = tn(
        state.path(),
        &ns.name,
        &["rollback", "--last", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["restored"][0]["value"], "4");
    assert_eq!(r["restored"][1]["value"], "off");
    let k = ns_ethtool(&ns.name, &["-k", "nt0"]);
    assert_eq!(ethtool_field(&k, "", "generic-receive-offload:"), "off");
    let l = ns_ethtool(&ns.name, &["-l", "nt0"]);
    assert_eq!(ethtool_field(&l, "Current hardware", "RX:"), "4");

    // veth has no ring resize: the refused set fails the transaction, and the feature
    // switched before it is restored.
    let plan = write_plan(
        state.path(),
        &[("feature", "nt0 rx-gro", "on"), ("ring", "nt0 rx", "512")],
    );
    let o = tn(
        state.path(),
        &ns.name,
        &["tune", "--plan", &plan, "--apply", "--yes"],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("change 2 of 2"), "{}", stderr(&o));
    let k = ns_ethtool(&ns.name, &["-k", "nt0"]);
    assert_eq!(ethtool_field(&k, "", "generic-receive-offload:"), "off");
}

#[test]
fn ethtool_no_op_sets_on_eth0_and_a_refused_set_rolls_back() {
    if !super::require_root() || !super::require_tool("ethtool") {
        return;
    }
    let drv = Command::new("ethtool").args(["-i", "eth0"]).output();
    let Ok(drv) = drv else { return };
    if !String::from_utf8_lossy(&drv.stdout).contains("driver: virtio_net") {
        eprintln!("note: eth0 is not virtio_net; skipped");
        return;
    }
    let g = String::from_utf8_lossy(
        &Command::new("ethtool")
            .args(["-g", "eth0"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let rx = ethtool_field(&g, "Current hardware", "RX:");
    let rx_max: u32 = ethtool_field(&g, "Pre-set maximums", "RX:")
        .parse()
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("plan.json");
    // The current ring size (a no-op set), then one above the maximum (EINVAL).
    let over = (rx_max + 1).to_string();
    let plan = serde_json::json!([
        {"kind": "ring", "target": "eth0 rx", "proposed": rx},
        {"kind": "ring", "target": "eth0 rx", "proposed": over},
    ]);
    std::fs::write(&file, plan.to_string()).unwrap();
    let o = nettune()
        .env("NETTUNE_STATE_DIR", state.path())
        .args([
            "tune",
            "--plan",
            file.to_str().unwrap(),
            "--apply",
            "--yes",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["applied"], false);
    assert_eq!(r["restored"][0]["value"], rx.as_str());
    let g2 = String::from_utf8_lossy(
        &Command::new("ethtool")
            .args(["-g", "eth0"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert_eq!(ethtool_field(&g2, "Current hardware", "RX:"), rx);
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn persist_writes_boot_configuration_and_rollback_undoes_it() {
    let Some(ns) = Netns::new("tune-persist") else {
        return;
    };
    let st = Command::new("ip")
        .args(["-n", &ns.name, "link", "add", "np0", "type", "veth"])
        .args(["peer", "name", "np1"])
        .status()
        .unwrap();
    assert!(st.success());
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("etc/sysctl.d/60-nettune.conf");
    let link = root.path().join("etc/systemd/network/60-nettune-np0.link");
    let boot = root.path().join("etc/nettune/boot-plan.json");
    let unit = root.path().join("etc/systemd/system/nettune-apply.service");
    // An earlier file from the operator's own tuning: kept, and restored exactly.
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "# mine\nnet.core.rmem_max = 1048576\n").unwrap();
    ns_set(&ns.name, "net.core.somaxconn", "16");
    ns_set(&ns.name, "net.ipv4.tcp_max_syn_backlog", "64");
    let plan = write_plan(
        state.path(),
        &[
            ("sysctl", "net.core.somaxconn", "1024"),
            ("feature", "np0 rx-gro", "on"),
            ("rps", "lo rx-0", "1"),
        ],
    );
    let rootarg = root.path().to_str().unwrap();
    let args = [
        "tune",
        "--plan",
        &plan,
        "--apply",
        "--yes",
        "--persist",
        "--persist-root",
        rootarg,
        "--json",
    ];
    let o = tn(state.path(), &ns.name, &args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    let id1 = r["transaction"].as_str().unwrap().to_string();
    assert_eq!(r["persisted"].as_array().unwrap().len(), 5, "{r:#}");
    let c = read(&conf);
    assert!(c.contains("# mine\nnet.core.rmem_max = 1048576\n"), "{c}");
    assert!(
        c.contains(&format!("# finding test.raise, transaction {id1}, ")),
        "{c}"
    );
    assert!(c.contains("\nnet.core.somaxconn = 1024\n"), "{c}");
    let l = read(&link);
    assert!(l.contains("[Match]\nOriginalName=np0\n"), "{l}");
    assert!(l.contains("\nGenericReceiveOffload=yes\n"), "{l}");
    let b: Value = serde_json::from_str(&read(&boot)).unwrap();
    assert_eq!(b[0]["kind"], "rps");
    assert_eq!(b[0]["target"], "lo rx-0");
    assert_eq!(b[0]["proposed"], "1");
    assert!(read(&unit).contains("tune --plan /etc/nettune/boot-plan.json --apply --yes"));

    // A second transaction: later wins in the same file.
    let plan2 = write_plan(
        state.path(),
        &[
            ("sysctl", "net.core.somaxconn", "2048"),
            ("sysctl", "net.ipv4.tcp_max_syn_backlog", "512"),
        ],
    );
    let args2 = [
        "tune",
        "--plan",
        &plan2,
        "--apply",
        "--yes",
        "--persist",
        "--persist-root",
        rootarg,
    ];
    let o = tn(state.path(), &ns.name, &args2, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after1 = c;
    let c2 = read(&conf);
    assert!(
        c2.contains("\nnet.core.somaxconn = 2048\n") && !c2.contains("= 1024"),
        "{c2}"
    );
    assert!(
        c2.contains("\nnet.ipv4.tcp_max_syn_backlog = 512\n"),
        "{c2}"
    );
    assert_eq!(c2.matches("somaxconn").count(), 1, "{c2}");

    // Rolling back the first while the second's file is in place is refused.
    let o = tn(state.path(), &ns.name, &["rollback", &id1], &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("60-nettune.conf"), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "2048");

    // Newest first: the file goes back to what the first transaction wrote, then to the
    // operator's own content; the other files are removed.
    let o = tn(
        state.path(),
        &ns.name,
        &["rollback", "--last", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(read(&conf), after1);
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "1024");
    let o = tn(state.path(), &ns.name, &["rollback", "--last"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("removed"));
    assert_eq!(read(&conf), "# mine\nnet.core.rmem_max = 1048576\n");
    for f in [&link, &boot, &unit] {
        assert!(!f.exists(), "{} removed", f.display());
    }
    assert!(!root
        .path()
        .join("etc/systemd/system/multi-user.target.wants/nettune-apply.service")
        .exists());
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
    assert_eq!(ns_sysctl(&ns.name, "net.ipv4.tcp_max_syn_backlog"), "64");
    let k = ns_ethtool(&ns.name, &["-k", "np0"]);
    assert_eq!(ethtool_field(&k, "", "generic-receive-offload:"), "off");
}

#[test]
fn profiles_on_the_command_line() {
    let state = tempfile::tempdir().unwrap();
    // A shipped profile plans on the live host (dry run).
    let o = nettune()
        .env("NETTUNE_STATE_DIR", state.path())
        .args(["tune", "--interval", "100ms", "--profile", "cdn", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    let changes = r["changes"].as_array().unwrap();
    // fq is not built on this kernel: never proposed, and the note says why.
    let fq_built = std::path::Path::new("/sys/module/sch_fq").exists();
    if !fq_built {
        assert!(
            !changes
                .iter()
                .any(|c| c["target"] == "net.core.default_qdisc"),
            "{r:#}"
        );
        assert!(
            r["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains("default_qdisc")),
            "{r:#}"
        );
    }
    // A bad profile file: file, line and key in one line on stderr.
    let f = state.path().join("bad.toml");
    std::fs::write(
        &f,
        "description = \"x\"\n[coalesce]\nrx_usecs = \"12 parsecs\"\n",
    )
    .unwrap();
    let o = nettune()
        .args(["tune", "--profile", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let e = stderr(&o);
    assert!(
        e.contains("bad.toml:3") && e.contains("rx_usecs") && e.contains("parsecs"),
        "{e}"
    );
}

#[test]
fn sysctl_changes_are_refused_while_bpftune_or_tuned_runs() {
    // A capture of this host with the daemon flags of its host facts set.
    let dir = tempfile::tempdir().unwrap();
    let cap_file = dir.path().join("cap.json");
    // The host's namespace only: other tests' namespaces would add their own somaxconn.
    let o = nettune()
        .args(["--host-only", "snapshot", "--interval", "100ms", "-o"])
        .arg(&cap_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut cap: Value = serde_json::from_str(&read(&cap_file)).unwrap();
    cap["snapshots"][1]["sysctl"]["net.core.somaxconn"] = "1024".into();
    for (daemon, name) in [("bpftune", "bpftune"), ("tuned", "tuned")] {
        cap["host"]["daemons"] = serde_json::json!({ daemon: true });
        std::fs::write(&cap_file, cap.to_string()).unwrap();
        let o = nettune()
            .args(["tune", "--profile", "web-gateway", "--json", "--from"])
            .arg(&cap_file)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let r = json(&o);
        let c = r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == "net.core.somaxconn")
            .unwrap_or_else(|| panic!("{r:#}"));
        assert_eq!(c["current"], "1024");
        assert_eq!(c["proposed"], "8192");
        let refused = c["refused"].as_str().unwrap_or_default();
        assert!(refused.starts_with(name), "{refused}");
        assert!(refused.contains("fight"), "{refused}");
    }
    cap["host"]["daemons"] = serde_json::json!({});
    std::fs::write(&cap_file, cap.to_string()).unwrap();
    let o = nettune()
        .args(["tune", "--profile", "web-gateway", "--json", "--from"])
        .arg(&cap_file)
        .output()
        .unwrap();
    let r = json(&o);
    let c = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == "net.core.somaxconn")
        .unwrap();
    assert!(c["refused"].is_null(), "{c}");
}

#[test]
fn accept_queue_overflow_is_fixed_in_the_namespace_persisted_and_rolled_back() {
    use nix::sys::socket::{
        bind, connect, listen, socket, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;
    let Some(ns) = Netns::new("tune-main") else {
        return;
    };
    let _serial = super::e2e::serial();
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let host_before = host_sysctl("net.core.somaxconn");
    ns_set(&ns.name, "net.core.somaxconn", "64");
    const PORT: u16 = 18090;
    let addr = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, PORT);
    // A listener asking for 512 that never accepts: somaxconn (64) is the cap.
    let thread = nettune::netns::NetnsThread::spawn(&ns.path(), &nettune::Root::default())
        .expect("enter namespace");
    let listener = thread
        .run(move |_| {
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .expect("socket");
            bind(fd.as_raw_fd(), &SockaddrIn::from(addr)).expect("bind");
            listen(&fd, Backlog::new(512).expect("backlog")).expect("listen");
            fd
        })
        .expect("listener");
    drop(thread);
    let mut traffic = super::e2e::Traffic::new();
    traffic.spawn_in(&ns.path(), move |stop| {
        let start = std::time::Instant::now();
        let mut open = std::collections::VecDeque::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed)
            && n < 2_000
            && start.elapsed() < std::time::Duration::from_secs(20)
        {
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                None,
            )
            .expect("client socket");
            let _ = connect(fd.as_raw_fd(), &SockaddrIn::from(addr));
            n += 1;
            if open.len() == 256 {
                open.pop_front();
            }
            open.push_back(fd);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        n
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let rootarg = root.path().to_str().unwrap();
    let o = tn(
        state.path(),
        &ns.name,
        &[
            "tune",
            "--interval",
            "2s",
            "--apply",
            "--yes",
            "--persist",
            "--persist-root",
            rootarg,
            "--json",
        ],
        &[],
    );
    let connects = traffic.finish();
    drop(listener);
    assert!(connects > 100, "only {connects} connects");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["applied"], true, "{r:#}");
    let c = r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == "net.core.somaxconn")
        .unwrap_or_else(|| panic!("somaxconn not in the plan: {r:#}"));
    assert_eq!(c["current"], "64");
    assert_eq!(c["finding"], "tcp.listen_overflow");
    assert_eq!(c["applied"], true);
    let new = c["proposed"].as_str().unwrap().to_string();
    assert!(new.parse::<u64>().unwrap() > 64, "{new}");
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), new);
    assert_eq!(
        host_sysctl("net.core.somaxconn"),
        host_before,
        "host untouched"
    );
    let conf = root.path().join("etc/sysctl.d/60-nettune.conf");
    let text = read(&conf);
    assert!(
        text.contains(&format!("\nnet.core.somaxconn = {new}\n")),
        "{text}"
    );
    assert!(
        text.contains("# finding tcp.listen_overflow, transaction "),
        "{text}"
    );

    let o = tn(
        state.path(),
        &ns.name,
        &["rollback", "--last", "--json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "64");
    assert!(!conf.exists(), "persisted line removed with its file");
    assert_eq!(host_sysctl("net.core.somaxconn"), host_before);
}

/// `nettune ARGS..` (no `--netns`) with the state dir.
fn tn_host(state: &Path, args: &[&str]) -> Output {
    nettune()
        .env("NETTUNE_STATE_DIR", state)
        .env_remove("NETTUNE_FAIL_AT")
        .env_remove("NETTUNE_FAULT_AFTER")
        .args(args)
        .output()
        .expect("run nettune")
}

/// The namespace reference (`{inode, name, path}`) of a test namespace, as a plan file
/// carries it.
fn ns_ref(ns: &Netns) -> Value {
    let inode = nettune::namespaces::inode_of(&ns.path())
        .unwrap()
        .expect("an nsfs inode");
    serde_json::json!({"inode": inode, "name": ns.name, "path": ns.path()})
}

/// A plan file of sysctl changes, each in the namespace given (`Value::Null`: none).
fn write_ns_plan(dir: &Path, changes: &[(&str, &str, Value)]) -> String {
    let items: Vec<Value> = changes
        .iter()
        .map(|(target, proposed, netns)| {
            let mut c = serde_json::json!({"kind": "sysctl", "target": target,
                "proposed": proposed, "finding": "test.netns"});
            if !netns.is_null() {
                c["netns"] = netns.clone();
            }
            c
        })
        .collect();
    let file = dir.join("ns-plan.json");
    std::fs::write(&file, Value::Array(items).to_string()).unwrap();
    file.display().to_string()
}

#[test]
fn a_change_for_another_namespace_is_applied_and_rolled_back_there_only() {
    let Some(ns) = Netns::new("tune-per-ns") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let host_before = host_sysctl("net.core.somaxconn");
    let new = raised(&host_before);
    ns_set(&ns.name, "net.core.somaxconn", "16");
    let r = ns_ref(&ns);
    let plan = write_ns_plan(state.path(), &[("net.core.somaxconn", new, r.clone())]);

    // From the host, without --netns: the plan's namespace decides where.
    let o = tn_host(
        state.path(),
        &["tune", "--plan", &plan, "--apply", "--yes", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rep = json(&o);
    assert_eq!(rep["applied"], true);
    let c = &rep["changes"][0];
    assert_eq!(c["netns"], r, "the report names the namespace");
    assert_eq!(c["current"], "16", "read inside the namespace");
    assert_eq!(c["applied"], true);
    assert!(
        c["command"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ip netns exec {} sysctl -w", ns.name)),
        "{c}"
    );
    let id = rep["transaction"].as_str().unwrap().to_string();
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), new);
    assert_eq!(
        host_sysctl("net.core.somaxconn"),
        host_before,
        "host untouched"
    );

    // The journal records the namespace of the change.
    let list = json(&tn_host(state.path(), &["rollback", "--list", "--json"]));
    let change = &list["transactions"][0]["changes"][0];
    assert_eq!(change["netns"], r);
    assert!(list["transactions"][0]["netns"].is_null());
    let text = tn_host(state.path(), &["rollback", "--list"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("[netns {} inode {}]", ns.name, r["inode"])),
        "{text}"
    );

    let o = tn_host(state.path(), &["rollback", &id, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rb = json(&o);
    assert_eq!(rb["restored"][0]["value"], "16");
    assert_eq!(rb["restored"][0]["netns"]["name"], ns.name.as_str());
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
    assert_eq!(
        host_sysctl("net.core.somaxconn"),
        host_before,
        "host untouched"
    );
}

#[test]
fn rollback_refuses_a_namespace_deleted_or_re_created_and_restores_the_rest() {
    let (Some(a), Some(b)) = (Netns::new("tune-gone-a"), Netns::new("tune-gone-b")) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let host_before = host_sysctl("net.core.somaxconn");
    for ns in [&a, &b] {
        ns_set(&ns.name, "net.core.somaxconn", "16");
    }
    let ra = ns_ref(&a);
    let plan = write_ns_plan(
        state.path(),
        &[
            ("net.core.somaxconn", "1024", ra.clone()),
            ("net.core.somaxconn", "2048", ns_ref(&b)),
        ],
    );
    let o = tn_host(
        state.path(),
        &["tune", "--plan", &plan, "--apply", "--yes", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = json(&o)["transaction"].as_str().unwrap().to_string();
    assert_eq!(ns_sysctl(&a.name, "net.core.somaxconn"), "1024");
    assert_eq!(ns_sysctl(&b.name, "net.core.somaxconn"), "2048");
    assert_eq!(host_sysctl("net.core.somaxconn"), host_before);

    // a is deleted: its change is refused, b's restored.
    let del = Command::new("ip")
        .args(["netns", "del", &a.name])
        .status()
        .unwrap();
    assert!(del.success());
    let o = tn_host(state.path(), &["rollback", &id]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("namespace {} is gone", a.name))
            && err.contains(&format!("recorded inode {}", ra["inode"])),
        "{err}"
    );
    assert!(err.contains("the other 1 change(s) were restored"), "{err}");
    assert_eq!(ns_sysctl(&b.name, "net.core.somaxconn"), "16");
    assert_eq!(host_sysctl("net.core.somaxconn"), host_before);
    let list = json(&tn_host(state.path(), &["rollback", "--list", "--json"]));
    assert_eq!(list["transactions"][0]["state"], "committed", "still open");

    // Another namespace under the same name (another inode): refused too, never touched.
    // The kernel hands out the lowest free inode number, which other tests' namespaces free
    // and take concurrently: placeholders take numbers until `a` is re-created with another.
    let mut placeholders = Vec::new();
    let mut now = Value::Null;
    for attempt in 0..16 {
        placeholders.push(Netns::new(&format!("tune-gone-p{attempt}")));
        let re = Command::new("ip")
            .args(["netns", "add", &a.name])
            .status()
            .unwrap();
        assert!(re.success());
        now = ns_ref(&a);
        if now["inode"] != ra["inode"] {
            break;
        }
        let del = Command::new("ip")
            .args(["netns", "del", &a.name])
            .status()
            .unwrap();
        assert!(del.success());
    }
    assert_ne!(now["inode"], ra["inode"], "a new namespace has a new inode");
    ns_set(&a.name, "net.core.somaxconn", "77");
    let o = tn_host(state.path(), &["rollback", &id]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("namespace {} changed", a.name))
            && err.contains(&format!("now inode {}", now["inode"]))
            && err.contains(&format!("recorded inode {}", ra["inode"])),
        "{err}"
    );
    assert_eq!(
        ns_sysctl(&a.name, "net.core.somaxconn"),
        "77",
        "new namespace untouched"
    );

    // A plan for the old inode is refused before anything is written.
    let o = tn_host(state.path(), &["tune", "--plan", &plan, "--apply", "--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("changed"), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&a.name, "net.core.somaxconn"), "77");
    assert_eq!(ns_sysctl(&b.name, "net.core.somaxconn"), "16");
}

#[test]
fn host_wide_sysctls_proposed_for_a_namespace_are_planned_on_the_host() {
    let Some(ns) = Netns::new("tune-hostwide") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let r = ns_ref(&ns);
    let plan = write_ns_plan(
        state.path(),
        &[
            // Absent inside a namespace.
            ("net.core.netdev_max_backlog", "5000", r.clone()),
            // Read-only inside a namespace.
            ("net.core.rmem_max", "33554432", r.clone()),
            ("net.core.somaxconn", "4096", r.clone()),
        ],
    );
    // A dry run: nothing is written, the host's values included.
    let o = tn_host(state.path(), &["tune", "--plan", &plan, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rep = json(&o);
    for i in [0, 1] {
        let c = &rep["changes"][i];
        assert!(c.get("netns").is_none(), "moved to the host: {c}");
        let notes = c["notes"].to_string();
        assert!(
            notes.contains("host-wide") && notes.contains(&ns.name),
            "{notes}"
        );
    }
    assert_eq!(rep["changes"][2]["netns"], r, "per-namespace key stays");
    assert!(!state.path().join("journal").exists());
}

#[test]
fn a_second_writer_is_refused_at_once_naming_the_holder() {
    let Some(ns) = Netns::new("tune-lock") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    ns_set(&ns.name, "net.core.somaxconn", "16");
    let plan = write_plan(state.path(), &[("sysctl", "net.core.somaxconn", "4096")]);
    let apply = ["tune", "--plan", &plan, "--apply", "--yes", "--json"];

    let held = nettune::tune::lock::StateLock::acquire(state.path(), "nettune autotune (test)")
        .expect("take the lock");
    let started = std::time::Instant::now();
    let o = tn(state.path(), &ns.name, &apply, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("pid {}", std::process::id())) && err.contains("nettune autotune"),
        "names the holder: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "refused without waiting for the lock"
    );
    assert_eq!(
        ns_sysctl(&ns.name, "net.core.somaxconn"),
        "16",
        "nothing written"
    );
    assert!(
        !state.path().join("journal").exists(),
        "no transaction opened"
    );
    drop(held);

    let o = tn(state.path(), &ns.name, &apply, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "4096");

    let held = nettune::tune::lock::StateLock::acquire(state.path(), "nettune lab run (test)")
        .expect("take the lock again");
    let o = tn(state.path(), &ns.name, &["rollback", "--last"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("nettune lab run"), "{}", stderr(&o));
    assert_eq!(
        ns_sysctl(&ns.name, "net.core.somaxconn"),
        "4096",
        "not rolled back"
    );
    drop(held);
    let o = tn(state.path(), &ns.name, &["rollback", "--last"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ns_sysctl(&ns.name, "net.core.somaxconn"), "16");
}
