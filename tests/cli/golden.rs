//! Golden tests of the human report: `nettune check --from CAPTURE --color never` against
//! `tests/golden/<name>.txt`, for captures recorded while a real fault happened.
//!
//! Regenerate the goldens after an intended change of the report:
//! `NETTUNE_UPDATE_GOLDEN=1 cargo test --test cli golden`.
//! Re-record the captures (root; the faults of `e2e`):
//! `cargo test --test cli record_captures -- --ignored`.

use super::{e2e, run, stderr};
use nettune::diagnose::ids;
use std::path::{Path, PathBuf};

/// (capture and golden name, the finding the fault must produce).
const CASES: [(&str, &str); 3] = [
    ("listen_overflow", ids::TCP_LISTEN_OVERFLOW.as_str()),
    ("udp_rcvbuf", ids::UDP_RCVBUF_ERRORS.as_str()),
    ("softnet_backlog", ids::SOFTNET_BACKLOG_DROPS.as_str()),
];

fn capture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/captures")
        .join(format!("{name}.json"))
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"))
}

/// The human report of a capture, with the exit code.
fn render(capture: &Path) -> (String, Option<i32>) {
    let o = run(&[
        "check",
        "--from",
        capture.to_str().unwrap(),
        "--color",
        "never",
    ]);
    assert_ne!(
        o.status.code(),
        Some(3),
        "{}: {}",
        capture.display(),
        stderr(&o)
    );
    (
        String::from_utf8(o.stdout).expect("UTF-8 report"),
        o.status.code(),
    )
}

fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            return format!("line {}:\n  golden: {:?}\n  now:    {:?}", i + 1, a, b);
        }
    }
    "trailing newline differs".into()
}

fn golden(name: &str, id: &str) {
    let capture = capture_path(name);
    assert!(
        capture.exists(),
        "{} missing: record it (see module doc)",
        capture.display()
    );
    let (text, code) = render(&capture);
    assert!(
        text.contains(&format!("[{id}]")),
        "{name}: the report does not contain finding {id}:\n{text}"
    );
    assert!(
        matches!(code, Some(1 | 2)),
        "{name}: exit {code:?} with a warning/critical finding"
    );
    let path = golden_path(name);
    if std::env::var_os("NETTUNE_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        eprintln!("updated {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with NETTUNE_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert!(
        want == text,
        "{name}: report differs from {} ({}); if intended, regenerate with \
         NETTUNE_UPDATE_GOLDEN=1\n--- now ---\n{text}",
        path.display(),
        first_difference(&want, &text)
    );
}

#[test]
fn golden_listen_overflow() {
    let (name, id) = CASES[0];
    golden(name, id);
}

#[test]
fn golden_udp_rcvbuf() {
    let (name, id) = CASES[1];
    golden(name, id);
}

#[test]
fn golden_softnet_backlog() {
    let (name, id) = CASES[2];
    golden(name, id);
}

/// Record the three captures while the faults happen (each checked to carry its finding).
#[test]
#[ignore = "records tests/fixtures/captures; run as root with --ignored"]
fn record_captures() {
    let _serial = e2e::serial();
    for (name, id) in CASES {
        let file = capture_path(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let arg = file.to_str().unwrap().to_string();
        let snap =
            move |ns: &str| e2e::nettune_in(ns, &["snapshot", "--interval", "2s", "-o", &arg]);
        let o = match name {
            "listen_overflow" => e2e::listen_overflow_fault(snap),
            "udp_rcvbuf" => e2e::udp_rcvbuf_fault(snap),
            _ => e2e::softnet_backlog_fault(snap),
        };
        let Some(o) = o else {
            eprintln!("note: {name} not recorded (not root?)");
            continue;
        };
        assert!(o.status.success(), "snapshot {name}: {}", stderr(&o));
        let (text, _) = render(&file);
        assert!(
            text.contains(&format!("[{id}]")),
            "{name}: capture lacks {id}:\n{text}"
        );
        let size = std::fs::metadata(&file).unwrap().len();
        eprintln!("recorded {} ({size} bytes)", file.display());
    }
}

/// `check --profile` judges by the profile's declared `intent`, for a FILE.toml as for a
/// shipped profile: a user file with `intent = "latency"` behaves like `--profile latency`
/// (the NIC's 50 µs interrupt coalescing does not fit), one without `intent` like balanced,
/// and a bad file fails with exit 3 and one line naming the file and line.
#[test]
fn check_profile_file_judges_by_its_intent() {
    let dir = tempfile::tempdir().unwrap();
    // The listen_overflow capture with its virtual NIC turned physical and coalescing at
    // 50 µs (not adaptive).
    let text = std::fs::read_to_string(capture_path("listen_overflow")).unwrap();
    let mut cap: serde_json::Value = serde_json::from_str(&text).unwrap();
    for s in cap["snapshots"].as_array_mut().unwrap() {
        s["interfaces"]["vb"]["kind"] = "physical".into();
        s["ethtool"]["vb"]["coalesce"] =
            serde_json::json!({"rx_usecs": 50, "use_adaptive_rx": false});
    }
    let capture = dir.path().join("cap.json");
    std::fs::write(&capture, cap.to_string()).unwrap();
    let file = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let ids = |profile: Option<&str>| -> Vec<String> {
        let mut args = vec!["check", "--json", "--from", capture.to_str().unwrap()];
        if let Some(p) = profile {
            args.extend(["--profile", p]);
        }
        let o = run(&args);
        assert_ne!(o.status.code(), Some(3), "{profile:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut ids: Vec<String> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let latency_file = file(
        "mine.toml",
        "description = \"mine\"\nintent = \"latency\"\n",
    );
    let plain_file = file("plain.toml", "description = \"no intent\"\n");
    let latency = ids(Some("latency"));
    assert!(
        latency.iter().any(|i| *i == ids::NIC_COALESCE),
        "{latency:?}"
    );
    assert_eq!(ids(Some(&latency_file)), latency);
    let balanced = ids(None);
    assert!(
        !balanced.iter().any(|i| *i == ids::NIC_COALESCE),
        "{balanced:?}"
    );
    assert_eq!(ids(Some(&plain_file)), balanced);
    assert_eq!(ids(Some("balanced")), balanced);

    let bad = file("bad.toml", "description = \"x\"\nintent = \"fast\"\n");
    let o = run(&[
        "check",
        "--from",
        capture.to_str().unwrap(),
        "--profile",
        &bad,
    ]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml:2") && err.contains("intent"),
        "{err}"
    );
    let o = run(&[
        "check",
        "--from",
        capture.to_str().unwrap(),
        "--profile",
        "no-such",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}
