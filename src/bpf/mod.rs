//! eBPF: the kernel drop monitor ([`drops`], `skb:kfree_skb` via a BTF tracepoint) and the
//! XDP early-drop filter ([`xdp`]). The BPF programs are C sources beside this module, compiled
//! by `src/bpf/build.sh` into the committed `*.bpf.o` objects that are embedded here, so a
//! `cargo build` needs no clang.
//!
//! This module owns what both programs share: the "can this run here" checks and the typed
//! error. Parsers of kernel text (drop reason names, `/proc/kallsyms`) live in [`names`].

#[cfg(test)]
mod abi_tests;
pub mod drops;
pub mod names;
pub mod xdp;

use std::path::Path;

/// The drop monitor object (`src/bpf/drops.bpf.c`), compiled with BTF.
pub static DROPS_OBJ: &[u8] = include_bytes!("drops.bpf.o");
/// The XDP filter object (`src/bpf/xdp_filter.bpf.c`), compiled with BTF.
pub static XDP_OBJ: &[u8] = include_bytes!("xdp_filter.bpf.o");

/// Where the kernel publishes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// What can go wrong loading or talking to a BPF program.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The program cannot run on this host; the text says why and what to do.
    #[error("{0}")]
    Unsupported(String),
    /// Loading, attaching or reading a map failed.
    #[error("{what}: {detail}")]
    Kernel {
        /// What nettune was doing.
        what: String,
        /// The kernel's (or aya's) answer.
        detail: String,
    },
    /// Bad user input (an interface, a CIDR).
    #[error("{0}")]
    Input(String),
}

impl BpfError {
    pub(crate) fn kernel(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        BpfError::Kernel {
            what: what.into(),
            detail: format!("{detail:#}"),
        }
    }
}

/// Capability numbers from `linux/capability.h`.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process (`CapEff` in `/proc/self/status`).
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

fn has_cap(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// Whether the kernel publishes BTF (needed by the BTF tracepoint and CO-RE).
fn check_btf() -> Result<(), String> {
    if Path::new(VMLINUX_BTF).exists() {
        Ok(())
    } else {
        Err(format!(
            "{VMLINUX_BTF} is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF, \
             which the eBPF programs need"
        ))
    }
}

/// Whether `nettune drops` can run here: kernel BTF with `enum skb_drop_reason` (5.17+) and
/// CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN). The error is a human reason.
pub fn can_run_drops() -> Result<(), String> {
    check_btf()?;
    let caps = effective_caps();
    if !(has_cap(caps, CAP_SYS_ADMIN) || (has_cap(caps, CAP_BPF) && has_cap(caps, CAP_PERFMON))) {
        return Err(
            "loading the drop monitor needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)"
                .into(),
        );
    }
    match names::ReasonNames::from_btf_file(Path::new(VMLINUX_BTF)) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "this kernel has no skb drop reasons (needs Linux 5.17 or later): {e}"
        )),
    }
}

/// Whether `nettune xdp` can run here: kernel BTF, CAP_BPF + CAP_NET_ADMIN (or
/// CAP_SYS_ADMIN). The error is a human reason.
pub fn can_run_xdp() -> Result<(), String> {
    check_btf()?;
    let caps = effective_caps();
    if !(has_cap(caps, CAP_SYS_ADMIN) || has_cap(caps, CAP_BPF)) || !has_cap(caps, CAP_NET_ADMIN) {
        return Err(
            "the XDP filter needs root (CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_bpf_elf_with_btf() {
        for obj in [DROPS_OBJ, XDP_OBJ] {
            assert_eq!(obj.get(..4), Some(&b"\x7fELF"[..]));
            // e_machine EM_BPF = 247
            assert_eq!(obj.get(18..20), Some(&247u16.to_le_bytes()[..]));
        }
    }

    #[test]
    fn caps_bits() {
        assert!(has_cap(1 << CAP_BPF, CAP_BPF));
        assert!(!has_cap(1 << CAP_BPF, CAP_PERFMON));
    }
}
