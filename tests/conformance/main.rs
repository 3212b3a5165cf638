//! Conformance tests: our parsers against real /proc samples from many kernels kept in
//! `../shared/fixtures` (with the values other parsers assert in its `EXPECTED.md`).
//! Each test is skipped, with a note, when that folder does not exist; CI always has it, so
//! there (the `CI` environment variable set) a missing folder fails the test instead.

use std::path::PathBuf;

mod archive;
mod archive_sources;
mod conntrack;
mod ethtool;
mod interrupts;
mod netdev;
mod route6;
mod snmp;
mod sockstat;
mod softirqs;
mod softnet;
mod sysctl;

pub use nettune::testing::require;

/// `../shared/fixtures`, when present (see [`require`] when it is not).
#[track_caller]
pub fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    require("../shared/fixtures", dir.is_dir()).then_some(dir)
}

/// Read a shared fixture file as text (lossy UTF-8).
#[track_caller]
pub fn read(rel: &str) -> Option<String> {
    let path = shared()?.join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Section → field → value, the shape of both `NetStat` and `SockStat`.
pub type Nested = std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>;

/// A `parse_into` of a merged source (snmp, sockstat).
pub type ParseInto =
    fn(&str, &str, &mut Nested, &mut nettune::collect::Warnings) -> nettune::Result<usize>;

/// Parse several shared fixture files into one map with `parse_into`; no warnings allowed.
pub fn merged(files: &[&str], parse_into: ParseInto) -> Option<Nested> {
    let mut out = Nested::new();
    let mut w = nettune::collect::Warnings::default();
    for rel in files {
        let text = read(rel)?;
        parse_into(&text, rel, &mut out, &mut w).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
    assert!(w.0.is_empty(), "{:?}", w.0);
    Some(out)
}

/// Assert every (section, field, value).
pub fn check_nested(n: &Nested, expected: &[(&str, &str, i64)]) {
    for &(section, field, value) in expected {
        let got = n.get(section).and_then(|s| s.get(field));
        assert_eq!(got, Some(&value), "{section}.{field}");
    }
}
