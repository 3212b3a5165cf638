//! ethtool over netlink (rings, channels, coalescing, features, driver info) and the
//! SIOCETHTOOL ioctl for driver statistics (`ethtool -S`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ethtool view of one device. Each part is a `Source` because drivers answer "not
/// supported" for some operations (virtio has no coalescing, veth no rings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ethtool {}

/// Interface name → ethtool view.
pub type EthtoolAll = BTreeMap<String, Ethtool>;
