//! `/proc/net/sockstat` and `/proc/net/sockstat6`: sockets in use and memory per protocol.

use super::{FileBuf, Root, Source, Warnings};
use std::collections::BTreeMap;

/// Protocol (`sockets`, `TCP`, `UDP`, `TCP6`, `FRAG`, ...) → field (`inuse`, `tw`, `mem`) →
/// value. `mem` is in **pages**; `FRAG memory` is in bytes.
pub type SockStat = BTreeMap<String, BTreeMap<String, i64>>;

/// Read sockstat and sockstat6 (the latter may be absent without IPv6).
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<SockStat> {
    let _ = (buf, root, warnings);
    Source::unsupported("sockstat collector not implemented yet")
}
