//! Connection tracking: entries, limit, hash buckets and per-CPU `/proc/net/stat/nf_conntrack`.

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};

/// Conntrack table fill and statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conntrack {
    /// Entries in the table now (`net.netfilter.nf_conntrack_count`).
    pub count: Option<u64>,
    /// Table limit (`net.netfilter.nf_conntrack_max`).
    pub max: Option<u64>,
}

/// Read conntrack state; unsupported when the module is not loaded.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Conntrack> {
    let _ = (buf, root, warnings);
    Source::unsupported("conntrack collector not implemented yet")
}
