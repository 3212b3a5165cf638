//! What a capture read from a support archive says about the archive (data only: the
//! capture file and the check report carry it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The layout of a support archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveKind {
    /// A sosreport (Red Hat, Ubuntu): `sos_commands/`, `proc/`, `etc/`, …
    Sosreport,
    /// A SUSE supportconfig: `network.txt`, `proc.txt`, … of headed sections.
    Supportconfig,
    /// A plain copy of a host's `proc/`, `sys/`, `etc/`.
    Root,
}

impl ArchiveKind {
    /// `sosreport`, `supportconfig` or `root`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveKind::Sosreport => "sosreport",
            ArchiveKind::Supportconfig => "supportconfig",
            ArchiveKind::Root => "root",
        }
    }
}

/// Facts about the archive a capture was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFacts {
    /// PATH as given.
    pub path: String,
    /// `directory`, `tar`, `tar.gz`, `tar.xz`, `tar.bz2` or `tar.zst`.
    pub format: String,
    /// Sosreport, supportconfig or plain root.
    pub kind: ArchiveKind,
    /// The collection time as the archive prints it (`date` output).
    pub collected: Option<String>,
    /// The collection time, seconds since the Unix epoch, when the archive gives it in UTC.
    pub collected_unix: Option<i64>,
    /// Seconds since boot at collection (`uptime`): the window of the since-boot counters;
    /// `None` when the archive does not say.
    pub uptime_seconds: Option<u64>,
    /// Source name → the archive file(s) it was read from.
    pub read_from: BTreeMap<String, String>,
    /// Problems with single members (bad names, oversized, truncated, binary), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Where the kernel log was found (`var/log/kern.log`, `sos_commands/kernel/dmesg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_log: Option<String>,
    /// The `tc -s qdisc` outputs found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tc_qdisc: Vec<String>,
}
