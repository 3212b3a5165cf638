//! What this binary was built from: `nettune --version` and the exporter's
//! `nettune_build_info{version,revision} 1` (set by `build.rs`).

/// The package version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (12 hex digits), or `unknown` when built outside a git checkout (a source tarball) and
/// `NETTUNE_REVISION` was not set at build time.
pub const REVISION: &str = env!("NETTUNE_REVISION");

/// `built in` when the eBPF programs (drop monitor, XDP filter) are compiled into the binary.
pub const EBPF: &str = env!("NETTUNE_EBPF");

/// The `--version` text after the program name: `0.1.0 (revision 0123456789ab, eBPF built in)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("NETTUNE_REVISION"),
    ", eBPF ",
    env!("NETTUNE_EBPF"),
    ")"
);
