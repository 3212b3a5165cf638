//! Per-interface facts from sysfs (`/sys/class/net/*`): kind, driver, MTU, queues, RPS/XPS.

use super::{FileBuf, Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Bytes.
    pub mtu: Option<u32>,
}

/// Interface name → facts.
pub type Interfaces = BTreeMap<String, Interface>;

/// Read `/sys/class/net`.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Interfaces> {
    let _ = (buf, root, warnings);
    Source::unsupported("interfaces collector not implemented yet")
}
