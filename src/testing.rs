//! Helpers the unit and integration tests share (compiled only for tests: `cfg(test)` or the
//! `test-support` feature, which only the package's dev-dependency on itself enables).

/// Whether a test has what it needs from this machine: `ok` says whether it has `what`
/// (root, a tool, a kernel file). When it does not, under CI (the `CI` environment variable
/// set) the test fails here, loudly, so that a skip never passes unnoticed there; elsewhere
/// it prints that the test is skipped and why, and the caller returns early.
#[track_caller]
pub fn require(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test thread>");
    if std::env::var_os("CI").is_some() {
        panic!("CI: {test} needs {what}");
    }
    eprintln!("skipped: {test} needs {what}");
    false
}

/// Root (effective uid 0), through [`require`].
#[track_caller]
pub fn require_root() -> bool {
    require("root", nix::unistd::geteuid().is_root())
}
