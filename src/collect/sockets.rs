//! Sockets via netlink sock_diag: TCP listeners with accept-queue fill, counts by TCP state.

use serde::{Deserialize, Serialize};

/// Socket summary of one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sockets {}
