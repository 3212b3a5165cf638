//! Sysctls under `/proc/sys` (`net.core`, `net.ipv4`, `net.ipv6`, `net.netfilter`, `fs.file-*`)
//! and the sysctl configuration files that set them (provenance).

use super::{FileBuf, Root, Source, Warnings};
use std::collections::BTreeMap;

/// Dotted sysctl name → value (whitespace runs folded to one space).
pub type Sysctls = BTreeMap<String, String>;

/// Read every sysctl of interest.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Sysctls> {
    let _ = (buf, root, warnings);
    Source::unsupported("sysctl collector not implemented yet")
}
