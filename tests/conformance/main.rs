//! Conformance tests: our parsers against real /proc samples from many kernels kept in
//! `../shared/fixtures` (with the values other parsers assert in its `EXPECTED.md`).
//! Each test is skipped, with a note, when that folder does not exist; CI always has it.

use std::path::PathBuf;

mod conntrack;
mod ethtool;
mod interrupts;
mod netdev;
mod snmp;
mod sockstat;
mod softirqs;
mod softnet;
mod sysctl;

/// `../shared/fixtures`, when present.
pub fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: ../shared/fixtures not found; conformance test skipped");
        None
    }
}

/// Read a shared fixture file as text (lossy UTF-8).
pub fn read(rel: &str) -> Option<String> {
    let path = shared()?.join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
