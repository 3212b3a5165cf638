//! Shipping: the generated man pages and completions are the CLI's, `--version` and
//! `nettune_build_info` name the build, colour follows `--color` / `NO_COLOR`, the nagios
//! line keeps the exit codes, and the Debian package `cargo deb` built installs into a
//! scratch root and runs.

use super::{nettune, require, require_tool, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn capture() -> PathBuf {
    manifest().join("tests/fixtures/captures/softnet_backlog.json")
}

/// File name → content of every regular file in `dir` (not its subdirectories).
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

/// The committed man pages and completions are exactly what the CLI generates now: a new
/// flag or subcommand without regenerating them fails here.
#[test]
fn committed_man_pages_and_completions_are_up_to_date() {
    for (what, committed) in [("man", "deploy/man"), ("completions", "deploy/completions")] {
        let fresh = tempfile::tempdir().unwrap();
        let o = nettune()
            .args(["generate", what])
            .arg(fresh.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "generate {what}: {}", stderr(&o));
        let want = files(fresh.path());
        let have = files(&manifest().join(committed));
        let names =
            |m: &std::collections::BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&have),
            names(&want),
            "{committed} is stale: rm -r {committed} && cargo run -- generate {what} {committed}"
        );
        for (name, content) in &want {
            assert!(
                have[name] == *content,
                "{committed}/{name} is stale: rm -r {committed} && cargo run -- generate {what} {committed}"
            );
        }
    }
    // One page per visible subcommand, and the hidden `generate` offered nowhere.
    let man = files(&manifest().join("deploy/man"));
    for page in [
        "nettune.1",
        "nettune-check.1",
        "nettune-export.1",
        "nettune-xdp-attach.1",
    ] {
        assert!(man.contains_key(page), "{page} in {:?}", man.keys());
    }
    assert!(!man.keys().any(|k| k.contains("generate")));
    for (name, text) in files(&manifest().join("deploy/completions")) {
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("snapshot"), "{name}");
        assert!(
            !text.contains("generate"),
            "{name} offers the hidden subcommand"
        );
    }
}

/// The git revision of this checkout, `None` outside one (the binary then says `unknown`).
fn git_revision() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(manifest())
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != manifest().canonicalize().ok()? {
        return None;
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}

fn expected_revision() -> String {
    std::env::var("NETTUNE_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".into())
}

/// `nettune --version`: version, the revision this checkout is at, eBPF built in.
#[test]
fn version_names_revision_and_ebpf() {
    let o = nettune().arg("--version").output().unwrap();
    assert!(o.status.success());
    let line = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        line.trim_end(),
        format!(
            "nettune {} (revision {}, eBPF built in)",
            env!("CARGO_PKG_VERSION"),
            expected_revision()
        )
    );
}

/// The exporter's `nettune_build_info{version,revision} 1`, one series, after the sources.
#[test]
fn exposition_has_build_info() {
    use nettune::export::encode::{encode, Format, Input};
    let snapshot = nettune::snapshot::Snapshot::empty(0);
    let host = nettune::collect::host::HostFacts::default();
    let text = encode(
        &Input {
            snapshot: &snapshot,
            host: &host,
            findings: &[],
        },
        Format::Text,
    );
    let want = format!(
        "nettune_build_info{{version=\"{}\",revision=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        expected_revision()
    );
    assert_eq!(text.lines().filter(|l| *l == want).count(), 1, "{text}");
    assert!(text.contains("# TYPE nettune_build_info gauge"));
}

/// Colour: `--color always` wins over NO_COLOR, `never` and a pipe give none, in the report
/// and in the log lines on stderr.
#[test]
fn color_follows_the_flag_and_no_color() {
    let cap = capture();
    let cap = cap.to_str().unwrap();
    let report = |color: &str, no_color: bool| {
        let mut c = nettune();
        c.args(["--color", color, "check", "--from", cap]);
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(
        report("always", true).contains("\x1b["),
        "--color always wins"
    );
    assert!(!report("never", false).contains('\x1b'));
    assert!(
        !report("auto", false).contains('\x1b'),
        "a pipe is not a terminal"
    );

    // A warning on stderr (an unreadable journal): plain in a file unless --color always.
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state.path().join("journal/broken.jsonl")).unwrap();
    let log = |color: &str| {
        let o = nettune()
            .args(["--color", color, "rollback", "--list"])
            .env("NETTUNE_STATE_DIR", state.path())
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        stderr(&o)
    };
    let plain = log("auto");
    assert!(plain.contains("WARN"), "a warning is logged: {plain}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(log("always").contains("\x1b["));
}

/// `check --format nagios`: one plugin line with perfdata, exit 2 for a critical capture, and
/// `NETTUNE UNKNOWN` with exit 3 when nettune fails.
#[test]
fn nagios_line_keeps_the_exit_codes() {
    let o = nettune()
        .args(["check", "--format", "nagios", "--from"])
        .arg(capture())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("NETTUNE CRITICAL - 1 critical, "), "{out}");
    let (_, perf) = out.trim_end().split_once(" | ").expect("perfdata");
    for item in perf.split(' ') {
        let (label, values) = item.split_once('=').expect("label=value");
        assert!(label.starts_with('\'') && label.ends_with('\''), "{item}");
        let fields: Vec<&str> = values.split(';').collect();
        assert_eq!(fields.len(), 4, "value;warn;crit;min: {item}");
        assert!(fields[0].parse::<f64>().is_ok(), "{item}");
    }
    assert!(
        perf.starts_with("'critical'=1;;0;0 'warning'=1;0;;0 "),
        "{perf}"
    );

    let o = nettune()
        .args([
            "check",
            "--format",
            "nagios",
            "--from",
            "/nonexistent/capture.json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("NETTUNE UNKNOWN - "), "{out}");
    assert_eq!(out.lines().count(), 1);
}

/// The target directory the test binary was built in.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_nettune"));
    bin.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The package `cargo deb` built for this version (`target/debian/`), installed into a
/// scratch root with `dpkg -x`: the binary runs and names its version, and every file the
/// package promises is there. CI builds the package before the tests; elsewhere the test is
/// skipped without one.
#[test]
fn deb_installs_into_a_scratch_root_and_runs() {
    let version = env!("CARGO_PKG_VERSION");
    let deb = std::fs::read_dir(target_dir().join("debian"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("nettune_{version}-")) && name.ends_with(".deb")
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    if !require(
        "a package built by `cargo deb` in target/debian",
        deb.is_some(),
    ) || !require_tool("dpkg-deb")
    {
        return;
    }
    let deb = deb.unwrap();
    let field = |name: &str| {
        let o = Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&deb)
            .arg(name)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    assert_eq!(field("Package"), "nettune");
    assert!(field("Version").starts_with(version));
    assert!(field("Depends").contains("libc6"), "{}", field("Depends"));

    let root = tempfile::tempdir().unwrap();
    let st = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path())
        .status()
        .unwrap();
    assert!(st.success());
    let o = Command::new(root.path().join("usr/bin/nettune"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let line = String::from_utf8(o.stdout).unwrap();
    assert!(
        line.starts_with(&format!("nettune {version} (revision "))
            && line.contains("eBPF built in"),
        "{line}"
    );

    let has = |rel: &str| root.path().join(rel).exists();
    // A man page for nettune and every subcommand (gzipped or not).
    for page in files(&manifest().join("deploy/man")).keys() {
        let base = format!("usr/share/man/man1/{page}");
        assert!(has(&base) || has(&format!("{base}.gz")), "{base}");
    }
    for rel in [
        "usr/share/bash-completion/completions/nettune",
        "usr/share/zsh/vendor-completions/_nettune",
        "usr/share/fish/vendor_completions.d/nettune.fish",
        "usr/share/nettune/prometheus/nettune-alerts.yml",
        "usr/share/nettune/grafana/nettune-dashboard.json",
        "usr/share/nettune/systemd/nettune-exporter.service.d/netns.conf",
        "usr/share/nettune/kubernetes/exporter-daemonset.yaml",
    ] {
        assert!(has(rel), "{rel} missing from the package");
    }
    // Every unit in deploy/systemd, as shipped.
    let unit_dir = ["lib/systemd/system", "usr/lib/systemd/system"]
        .into_iter()
        .map(|d| root.path().join(d))
        .find(|d| d.is_dir())
        .expect("a systemd unit directory in the package");
    for (name, content) in files(&manifest().join("deploy/systemd")) {
        if name.ends_with(".service") || name.ends_with(".timer") {
            let shipped = std::fs::read(unit_dir.join(&name))
                .unwrap_or_else(|e| panic!("{name} not in the package: {e}"));
            assert!(shipped == content, "{name} differs from deploy/systemd");
        }
    }

    // Installed, not enabled or started: the maintainer scripts reload systemd, re-enable
    // only what the administrator had enabled before an upgrade, and restart only what runs.
    let control = tempfile::tempdir().unwrap();
    let st = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path())
        .status()
        .unwrap();
    assert!(st.success());
    let postinst = std::fs::read_to_string(control.path().join("postinst"))
        .expect("a postinst (daemon-reload, state of the units)");
    assert!(postinst.contains("daemon-reload"));
    let code: Vec<&str> = postinst
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut enables = 0;
    for (i, line) in code.iter().enumerate() {
        if line.contains("deb-systemd-helper enable") || line.contains("systemctl enable") {
            assert!(
                i > 0 && code[i - 1].contains("was-enabled"),
                "postinst enables a unit the administrator had not enabled: {line}"
            );
            enables += 1;
        }
        assert!(
            !line.contains("deb-systemd-invoke start")
                && !line.contains("systemctl start")
                && !line.contains("_dh_action=start"),
            "postinst starts a unit: {line}"
        );
    }
    assert!(enables >= 1, "the units' state is tracked: {postinst}");
}
