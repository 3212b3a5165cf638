//! Typed errors of the library. The binary wraps them with `anyhow` and maps them to exit code 3.

use std::path::PathBuf;

/// Everything the library can fail with, each variant carrying enough context (path, line,
/// field) to print one clear line: what went wrong, where, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A kernel text file did not have the expected shape.
    #[error("{path}:{line}: {what}")]
    Parse {
        path: PathBuf,
        /// 1-based line number, 0 when the problem is not tied to one line.
        line: usize,
        what: String,
    },
    /// A saved capture file is unreadable, corrupted or of another version.
    #[error("capture {path}: {what}; re-create it with `nettune snapshot -o FILE`")]
    Capture { path: PathBuf, what: String },
    /// Entering a network namespace failed.
    #[error("network namespace {name}: {what}")]
    Netns { name: String, what: String },
    /// A netlink request failed.
    #[error("netlink {what}: {detail}")]
    Netlink { what: String, detail: String },
    /// Bad user input (a duration, a flag value, a profile or plan file).
    #[error("{0}")]
    Input(String),
    /// A safety check refused the operation (lowering a value, a newer value in place, a
    /// running tuning daemon); `--force` may override where the message says so.
    #[error("refused: {0}")]
    Refused(String),
    /// Stopped by a signal (Ctrl-C, SIGTERM) or an injected fault before finishing.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// The kernel accepted a write but reads back another value.
    #[error("{target}: wrote {wrote:?} but the kernel reads back {read:?}")]
    ReadBack {
        /// What was written (`sysctl net.core.somaxconn`, `ring eth0 rx`).
        target: String,
        wrote: String,
        read: String,
    },
    /// A transaction could not be applied, rolled back or found.
    #[error("transaction {id}: {what}")]
    Transaction {
        /// Transaction id (`20261206T105747Z-1a2b`), or empty when none exists yet.
        id: String,
        what: String,
    },
    /// The running kernel or device cannot do what was asked (a knob the driver lacks).
    #[error("{0}")]
    Unsupported(String),
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Build an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
