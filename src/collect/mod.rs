//! Collectors: one module per kernel source. Each turns one source into typed raw cumulative
//! counters and knows nothing about rules or rendering. Every reader takes a [`Root`] and
//! reports its outcome as a [`Source`]: the data, or why it is unsupported, or the error.
//!
//! Parsers take text and never panic: lines they cannot parse become [`Warning`]s and the
//! rest of the file is still used.

pub mod conntrack;
pub mod cpulist;
pub mod ethtool;
pub mod host;
pub mod interfaces;
pub mod interrupts;
pub mod kmsg;
pub mod neigh;
pub mod netdev;
pub mod netlink;
pub mod qdisc;
pub mod route6;
pub mod snmp;
pub mod sockets;
pub mod sockstat;
pub mod softirqs;
pub mod softnet;
pub mod sysctl;

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

#[allow(unused_imports)]
pub use crate::root::{FileBuf, Root};

/// The outcome of reading one source. Serialises as the data itself when it was read, or as
/// `{"unsupported": "reason"}` / `{"error": "reason"}`, so a missing source is never silently
/// absent from a capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Source<T> {
    /// This kernel, driver or machine does not provide the source (a normal answer).
    Unsupported {
        /// Human reason, e.g. "ethtool ring parameters not supported by driver virtio_net".
        unsupported: String,
    },
    /// The source exists but could not be read or parsed.
    Error {
        /// Human reason with the path.
        error: String,
    },
    /// The data.
    Ok(T),
}

/// How reading a source went, without its data (see [`Source::outcome`]). Displays as
/// [`Source::status`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The data was read.
    Ok,
    /// Not provided here, with the reason.
    Unsupported(&'a str),
    /// Could not be read, with the reason.
    Error(&'a str),
}

impl Outcome<'_> {
    /// Whether the data was read.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

impl std::fmt::Display for Outcome<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Unsupported(why) => write!(f, "unsupported: {why}"),
            Outcome::Error(why) => write!(f, "error: {why}"),
        }
    }
}

/// Deserialised through a JSON value (captures are JSON): an object whose only key is
/// `unsupported` or `error` is the marker, anything else is the data. (serde's untagged
/// enums cannot read maps with integer keys, such as IRQ number → CPUs.)
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Source<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if let Some(map) = value.as_object() {
            if map.len() == 1 {
                match map.iter().next() {
                    Some((k, serde_json::Value::String(reason))) if k == "unsupported" => {
                        return Ok(Source::unsupported(reason.clone()))
                    }
                    Some((k, serde_json::Value::String(reason))) if k == "error" => {
                        return Ok(Source::error(reason.clone()))
                    }
                    _ => {}
                }
            }
        }
        serde_json::from_value(value)
            .map(Source::Ok)
            .map_err(serde::de::Error::custom)
    }
}

impl<T> Source<T> {
    /// The data, if it was read.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Source::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// The data, mutable, if it was read.
    pub fn ok_mut(&mut self) -> Option<&mut T> {
        match self {
            Source::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// A short status for tables: `ok`, `unsupported: …` or `error: …`.
    pub fn status(&self) -> String {
        self.outcome().to_string()
    }

    /// The outcome without the data (the same for every `T`, so a list of sources of
    /// different types can be walked).
    pub fn outcome(&self) -> Outcome<'_> {
        match self {
            Source::Ok(_) => Outcome::Ok,
            Source::Unsupported { unsupported } => Outcome::Unsupported(unsupported),
            Source::Error { error } => Outcome::Error(error),
        }
    }

    /// Mark as unsupported.
    pub fn unsupported(reason: impl Into<String>) -> Self {
        Source::Unsupported {
            unsupported: reason.into(),
        }
    }

    /// Mark as failed.
    pub fn error(reason: impl Into<String>) -> Self {
        Source::Error {
            error: reason.into(),
        }
    }

    /// Classify an I/O error on `path`: a missing file means the kernel does not provide the
    /// source; anything else is an error with the path and a hint.
    pub fn from_io(path: &Path, err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => Source::unsupported(format!(
                "{} does not exist (not provided by this kernel or not mounted)",
                path.display()
            )),
            io::ErrorKind::PermissionDenied => Source::error(format!(
                "{}: permission denied; run as root to read it",
                path.display()
            )),
            _ => Source::error(format!("{}: {err}", path.display())),
        }
    }

    /// Map the data.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Source<U> {
        match self {
            Source::Ok(v) => Source::Ok(f(v)),
            Source::Unsupported { unsupported } => Source::Unsupported { unsupported },
            Source::Error { error } => Source::Error { error },
        }
    }
}

impl<T> From<crate::Result<T>> for Source<T> {
    fn from(r: crate::Result<T>) -> Self {
        match r {
            Ok(v) => Source::Ok(v),
            Err(e) => Source::error(e.to_string()),
        }
    }
}

/// A problem with part of a source that did not stop the rest of it from being read
/// (a malformed line, an unexpected column count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The source, e.g. `softnet` or `/proc/net/dev`.
    pub source: String,
    /// 1-based line number in the source file, when the problem is tied to a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What was wrong and what was done about it.
    pub message: String,
}

/// Collects warnings during one snapshot.
#[derive(Debug, Default, Clone)]
pub struct Warnings(pub Vec<Warning>);

impl Warnings {
    /// Record a warning.
    pub fn push(&mut self, source: &str, line: Option<usize>, message: impl Into<String>) {
        self.0.push(Warning {
            source: source.to_string(),
            line,
            message: message.into(),
        });
    }
}

/// Read `path` with `buf` and parse it with `parse`; map I/O errors through
/// [`Source::from_io`]. The common shape of every text-file collector.
pub fn read_with<T>(
    buf: &mut FileBuf,
    path: &Path,
    warnings: &mut Warnings,
    parse: impl FnOnce(&str, &mut Warnings) -> crate::Result<T>,
) -> Source<T> {
    match buf.read(path) {
        Ok(text) => match parse(text, warnings) {
            Ok(v) => Source::Ok(v),
            Err(e) => Source::error(format!("{}: {e}", path.display())),
        },
        Err(e) => Source::from_io(path, &e),
    }
}

/// One file of a source that merges several (`snmp` + `netstat` + `snmp6`).
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// File name under the namespace's `proc/net`.
    pub file: &'static str,
    /// Label for warnings (`net/snmp`).
    pub source: &'static str,
    /// Whether a missing file deserves a warning (sockstat6/snmp6 are absent without IPv6).
    pub warn_missing: bool,
}

/// Read several `proc/net` files into one value with `parse_into`. A missing or unparsable
/// file is a warning and the others are kept; only when none could be read is the source
/// unsupported (all missing: `none_reason`) or an error.
pub fn read_merged<T: Default>(
    buf: &mut FileBuf,
    root: &Root,
    parts: &[Part],
    warnings: &mut Warnings,
    none_reason: &str,
    mut parse_into: impl FnMut(&str, &str, &mut T, &mut Warnings) -> crate::Result<usize>,
) -> Source<T> {
    let mut out = T::default();
    let mut any = false;
    let mut errors: Vec<String> = Vec::new();
    for part in parts {
        let path = root.proc_net(part.file);
        let failure = match buf.read(&path) {
            Ok(text) => match parse_into(text, part.source, &mut out, warnings) {
                Ok(_) => {
                    any = true;
                    continue;
                }
                Err(e) => format!("{}: {e}", path.display()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if part.warn_missing {
                    let msg = format!("{} does not exist", path.display());
                    warnings.push(part.source, None, msg);
                }
                continue;
            }
            Err(e) => format!("{}: {e}", path.display()),
        };
        warnings.push(part.source, None, failure.clone());
        errors.push(failure);
    }
    if any {
        Source::Ok(out)
    } else if errors.is_empty() {
        Source::unsupported(format!("{} has {none_reason}", root.proc_net("").display()))
    } else {
        Source::error(errors.join("; "))
    }
}

/// Give a netlink socket a receive timeout, so a kernel that never answers cannot hang a
/// snapshot. Best effort: a failure leaves the socket blocking as before.
pub fn set_receive_timeout(sock: &netlink_sys::Socket, seconds: libc::time_t) {
    use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
    use nix::sys::time::TimeVal;
    let _ = setsockopt(sock, ReceiveTimeout, &TimeVal::new(seconds, 0));
}

/// Decimal digits only — no sign, no spaces, no `+` that `str::parse` would accept — as
/// any unsigned integer type; `None` when empty, not digits, or too large.
pub fn parse_dec<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Hex digits only — no sign, no `0x` — at most 16 of them, as u64; `None` otherwise.
pub fn parse_hex(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// At most 32 bytes of a token, cut on a char boundary, for quoting bad input in messages.
pub fn clip(s: &str) -> &str {
    let mut end = s.len().min(32);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Test helpers: the fixture tree captured from the project VM, and files in temp trees.
#[cfg(test)]
pub(crate) mod testfs {
    use super::Root;
    use std::path::Path;

    /// `tests/fixtures/vm` as a [`Root`].
    pub fn vm() -> Root {
        Root::fixture(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vm"))
    }

    /// Write `text` to `dir/rel`, creating parent directories.
    pub fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn source_round_trips_and_map_named_unsupported_is_not_data() {
        let s: Source<BTreeMap<String, String>> = Source::unsupported("nope");
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"unsupported":"nope"}"#);
        let back: Source<BTreeMap<String, String>> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s);
        let mut m = BTreeMap::new();
        m.insert("net.core.somaxconn".to_string(), "4096".to_string());
        let ok = Source::Ok(m);
        let j = serde_json::to_string(&ok).unwrap();
        let back: Source<BTreeMap<String, String>> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, ok);
        let e: Source<Vec<u32>> = serde_json::from_str(r#"{"error":"x"}"#).unwrap();
        assert_eq!(e, Source::error("x"));
    }
}
