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
    /// Bad user input (a duration, a flag value).
    #[error("{0}")]
    Input(String),
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
