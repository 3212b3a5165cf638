//! `nettune xdp`: attach, inspect and detach the XDP early-drop filter.

use super::{exit, GlobalArgs};
use crate::bpf::xdp::{self, Cidr};
use crate::bpf::BpfError;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;

/// Arguments of `nettune xdp`.
#[derive(Debug, Args)]
pub struct XdpArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: XdpAction,
}

/// What to do with the filter.
#[derive(Debug, Subcommand)]
pub enum XdpAction {
    /// Attach the filter to IFACE (native XDP where the driver supports it, generic otherwise).
    Attach {
        /// Interface.
        iface: String,
        /// Drop packets whose source is in this prefix (IPv4 or IPv6; repeat for more).
        #[arg(long = "deny", value_name = "CIDR")]
        deny: Vec<Cidr>,
        /// Drop TCP SYNs beyond N per second (1..=10000000) from any one source address (an
        /// IPv6 source is its /64).
        #[arg(long, value_name = "N")]
        syn_rate: Option<u64>,
        /// Accept a deny rule that covers a whole address family (`0.0.0.0/0`, `::/0`).
        #[arg(long)]
        force: bool,
        /// Force native (driver) or generic (SKB) XDP; default: native, else generic.
        #[arg(long, value_enum)]
        mode: Option<xdp::AttachMode>,
    },
    /// Detach nettune's filter from IFACE.
    Detach {
        /// Interface.
        iface: String,
    },
    /// Print the filter's counters on IFACE.
    Stats {
        /// Interface.
        iface: String,
    },
}

/// Run `nettune xdp`.
pub fn run(global: &GlobalArgs, args: &XdpArgs) -> anyhow::Result<u8> {
    if global.netns.is_some() {
        // Attach inside the namespace so the interface name resolves there.
        let path = crate::netns::resolve(global.netns.as_deref().unwrap_or_default());
        crate::netns::can_run(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let file = std::fs::File::open(&path)
            .map_err(|e| anyhow::anyhow!("network namespace {}: {e}", path.display()))?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| anyhow::anyhow!("entering network namespace {}: {e}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    let result = match &args.action {
        XdpAction::Attach {
            iface,
            deny,
            syn_rate,
            mode,
            force,
        } => xdp::attach(iface, deny, *syn_rate, *mode, *force).map(|mode| {
            let rules: Vec<String> = deny.iter().map(|c| format!("deny {c}")).collect();
            if global.json {
                json!({"schema": "nettune.xdp.attach/v1", "interface": iface, "mode": mode,
                       "rules": rules, "syn_rate": syn_rate.unwrap_or(0)})
                .to_string()
            } else {
                let syn = syn_rate
                    .filter(|&n| n > 0)
                    .map(|n| format!(", SYN limit {n}/s per source"))
                    .unwrap_or_default();
                format!(
                    "XDP filter attached to {iface} ({} mode): {} deny rule(s){syn}",
                    match mode {
                        xdp::AttachMode::Native => "native",
                        xdp::AttachMode::Generic => "generic",
                    },
                    rules.len()
                )
            }
        }),
        XdpAction::Detach { iface } => xdp::detach(iface).map(|()| {
            if global.json {
                json!({"schema": "nettune.xdp.detach/v1", "interface": iface, "detached": true})
                    .to_string()
            } else {
                format!("XDP filter detached from {iface}")
            }
        }),
        XdpAction::Stats { iface } => xdp::stats(iface).map(|s| {
            if global.json {
                serde_json::to_string_pretty(&s).unwrap_or_default()
            } else {
                let mut t = format!(
                    "{}: {} passed, {} dropped\n{:>12}  RULE\n",
                    s.interface, s.passed, s.dropped, "DROPPED"
                );
                for r in &s.rules {
                    t.push_str(&format!("{:>12}  {}\n", r.dropped, r.rule));
                }
                t.trim_end().to_string()
            }
        }),
    };
    match result {
        Ok(text) => {
            writeln!(out, "{text}")?;
            Ok(exit::OK)
        }
        Err(BpfError::Unsupported(why)) => {
            eprintln!("nettune xdp: cannot run here: {why}");
            Ok(exit::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
