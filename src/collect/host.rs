//! Host facts: kernel, CPUs, NUMA, memory, page size, HZ, congestion controls, tuning daemons.

use serde::{Deserialize, Serialize};

/// Facts about the host that do not change between two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPUs online.
    pub cpus: u32,
    /// Bytes.
    pub page_size: u64,
    /// Kernel tick rate CONFIG_HZ (ticks per second).
    pub hz: u32,
}
