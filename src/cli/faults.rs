//! Fault-injection hooks read from the environment; compiled only with the
//! `fault-injection` cargo feature, which `cargo test` enables (the package's
//! dev-dependency on itself) and release builds do not.
//!
//! - `NETTUNE_FAIL_AT=N`: the N-th kernel write of an apply fails.
//! - `NETTUNE_FAULT_AFTER=N`: the process aborts right after the N-th write (a crash with
//!   the journal left incomplete).
//! - `NETTUNE_FAULT_BEFORE_COMMIT=1`: the process aborts after every write is made and read
//!   back, before the commit record (a journal complete but uncommitted).
//! - `NETTUNE_LAB_FAIL_AT=PHASE`, `NETTUNE_LAB_PANIC_AT=PHASE`, `NETTUNE_LAB_ABORT_AT=PHASE`:
//!   a lab run fails, panics or aborts at `setup`, `traffic`, `check`, `apply` or `after`.
//! - `NETTUNE_LAB_FD_CHECK`: `lab run` prints its open descriptors before and after.
//! - `NETTUNE_JOURNAL_FULL_AFTER=N`: every journal append after the N-th of one open journal
//!   fails with ENOSPC (read by `tune::journal` itself).
//! - `NETTUNE_INJECT_PANIC`: the binary panics before running the command (`main.rs`).

use crate::lab::LabFaults;
use crate::tune::Faults;

fn var(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The transaction faults `NETTUNE_FAIL_AT`, `NETTUNE_FAULT_AFTER` and
/// `NETTUNE_FAULT_BEFORE_COMMIT` ask for.
pub fn transaction() -> Faults {
    let num = |k: &str| var(k).and_then(|v| v.parse().ok());
    Faults {
        fail_at: num("NETTUNE_FAIL_AT"),
        abort_after: num("NETTUNE_FAULT_AFTER"),
        abort_before_commit: var("NETTUNE_FAULT_BEFORE_COMMIT").is_some(),
    }
}

/// The lab faults `NETTUNE_LAB_FAIL_AT`, `NETTUNE_LAB_PANIC_AT` and `NETTUNE_LAB_ABORT_AT`
/// ask for.
pub fn lab() -> LabFaults {
    LabFaults {
        fail_at: var("NETTUNE_LAB_FAIL_AT"),
        panic_at: var("NETTUNE_LAB_PANIC_AT"),
        abort_at: var("NETTUNE_LAB_ABORT_AT"),
    }
}

/// Whether `NETTUNE_LAB_FD_CHECK` asks `lab run` to report its open descriptors.
pub fn fd_check() -> bool {
    std::env::var_os("NETTUNE_LAB_FD_CHECK").is_some()
}
