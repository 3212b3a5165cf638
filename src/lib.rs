//! nettune: find out why a Linux host drops or delays packets, and fix it safely.
//!
//! Layers (data flows one way): [`collect`] (one module per kernel source) → [`collector`]
//! (reads them all) → [`snapshot`] (raw counters of every source at one instant) → [`window`] (two snapshots,
//! rates derived at read time) → diagnose → tune; renderers only render.

pub mod archive;
pub mod autotune;
pub mod bpf;
pub mod build_info;
pub mod change;
pub mod cli;
pub mod collect;
pub mod collector;
pub mod diagnose;
pub mod durable;
pub mod error;
pub mod lab;
pub mod namespaces;
pub mod netns;
pub(crate) mod nla;
pub mod report;
pub mod root;

pub use error::{Error, Result};
pub use root::Root;
pub mod export;
pub mod snapshot;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tune;
pub mod watch;
pub mod window;
