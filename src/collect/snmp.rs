//! `/proc/net/snmp`, `/proc/net/netstat` (header/value line pairs) and `/proc/net/snmp6`
//! (name value lines), merged by section: `Tcp`, `TcpExt`, `Udp`, `Udp6`, `Ip6`, ...

use super::{FileBuf, Root, Source, Warnings};
use std::collections::BTreeMap;

/// Section (`TcpExt`) → field (`ListenOverflows`) → value. Values are signed because the
/// kernel prints some (`Tcp.MaxConn -1`); every field the kernel prints is kept, known or not.
pub type NetStat = BTreeMap<String, BTreeMap<String, i64>>;

/// Read and merge snmp, netstat and snmp6.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<NetStat> {
    let _ = (buf, root, warnings);
    Source::unsupported("snmp collector not implemented yet")
}
