//! The [`Change`] value type: what to set, from what, to what. Data only; it sits below both
//! `diagnose` (findings propose changes) and `tune` (which plans and applies them).

use crate::namespaces::NetnsRef;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of knob a change turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A sysctl; target is its dotted name (`net.core.netdev_max_backlog`).
    Sysctl,
    /// NIC ring size; target `IFACE rx|tx`.
    Ring,
    /// Interrupt coalescing; target `IFACE rx-usecs|rx-frames|tx-usecs|tx-frames|adaptive-rx`.
    Coalesce,
    /// NIC channels; target `IFACE combined|rx|tx`.
    Channels,
    /// Offload feature; target `IFACE FEATURE` (ethtool feature name, e.g. `rx-gro`).
    Feature,
    /// RPS CPU mask of a receive queue; target `IFACE rx-N`; values are hex CPU masks.
    Rps,
    /// RFS flow count of a receive queue; target `IFACE rx-N` (`rps_flow_cnt`).
    Rfs,
    /// XPS CPU mask of a transmit queue; target `IFACE tx-N`.
    Xps,
    /// IRQ affinity; target `irq N`; values are CPU lists (`0-3`).
    IrqAffinity,
    /// Root qdisc of a device; target `IFACE`.
    Qdisc,
    /// MTU in bytes; target `IFACE`.
    Mtu,
    /// Transmit queue length in packets; target `IFACE`.
    Txqueuelen,
    /// Something nettune cannot change itself (the application's `listen()` backlog);
    /// target names it.
    Advice,
}

impl ChangeKind {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Sysctl => "sysctl",
            ChangeKind::Ring => "ring",
            ChangeKind::Coalesce => "coalesce",
            ChangeKind::Channels => "channels",
            ChangeKind::Feature => "feature",
            ChangeKind::Rps => "rps",
            ChangeKind::Rfs => "rfs",
            ChangeKind::Xps => "xps",
            ChangeKind::IrqAffinity => "irq_affinity",
            ChangeKind::Qdisc => "qdisc",
            ChangeKind::Mtu => "mtu",
            ChangeKind::Txqueuelen => "txqueuelen",
            ChangeKind::Advice => "advice",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed value of advice: what the application (not nettune) should set, so a program
/// (the lab playing the application) reads the number instead of parsing the advice text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Advised {
    /// The `listen()` backlog (connections) to create the listening socket with.
    ListenBacklog(u32),
}

/// One proposed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// What to change; its form depends on `kind` (see [`ChangeKind`]).
    pub target: String,
    /// The value now, as the kernel prints it; `None` when unknown.
    pub current: Option<String>,
    /// The value to set, in the same form as `current`; for advice, the text for the operator.
    pub proposed: String,
    /// For advice that proposes a value, the value typed ([`Change::advice_value`]). Kept in
    /// memory only: the JSON form of a change stays `{kind, target, current, proposed}`.
    #[serde(skip)]
    pub advised: Option<Advised>,
    /// The network namespace the change is made in; `None` for the host's (or the one
    /// `--netns` names). Per-namespace sysctls and devices are changed inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsRef>,
}

impl Change {
    /// A sysctl change.
    pub fn sysctl(key: &str, current: Option<&str>, proposed: impl Into<String>) -> Self {
        Change {
            kind: ChangeKind::Sysctl,
            target: key.to_string(),
            current: current.map(str::to_string),
            proposed: proposed.into(),
            advised: None,
            netns: None,
        }
    }

    /// Advice for something nettune cannot change.
    pub fn advice(target: impl Into<String>, proposed: impl Into<String>) -> Self {
        Change {
            kind: ChangeKind::Advice,
            target: target.into(),
            current: None,
            proposed: proposed.into(),
            advised: None,
            netns: None,
        }
    }

    /// Advice that proposes a typed value (`text` explains it to the operator).
    pub fn advice_value(
        target: impl Into<String>,
        text: impl Into<String>,
        value: Advised,
    ) -> Self {
        Change {
            advised: Some(value),
            ..Change::advice(target, text)
        }
    }

    /// Any other kind.
    pub fn new(
        kind: ChangeKind,
        target: impl Into<String>,
        current: Option<String>,
        proposed: impl Into<String>,
    ) -> Self {
        Change {
            kind,
            target: target.into(),
            current,
            proposed: proposed.into(),
            advised: None,
            netns: None,
        }
    }

    /// The same change, made inside network namespace `netns`.
    pub fn in_netns(mut self, netns: Option<NetnsRef>) -> Self {
        self.netns = netns;
        self
    }

    /// Interface and the rest of the target, for per-device kinds (`eth0 rx` → (`eth0`, `rx`)).
    pub fn device_target(&self) -> (&str, &str) {
        self.target
            .split_once(' ')
            .unwrap_or((self.target.as_str(), ""))
    }

    /// The change as a copy-paste shell command with the standard tools (for the operator;
    /// nettune itself never shells out). See [`crate::tune::knob::Knob::command`]; a target
    /// that does not parse is shown as a comment.
    ///
    /// A change made in another namespace runs there: `ip netns exec NAME …` or
    /// `nsenter --net=PATH …` ([`NetnsRef::exec_prefix`]); a write to sysfs goes through a
    /// shell in a private mount namespace with sysfs mounted for that network namespace
    /// (what `ip netns exec` does itself), since the host's `/sys/class/net` shows the
    /// host's devices. Advice stays a comment, naming the namespace.
    pub fn command(&self) -> String {
        let cmd = match crate::tune::knob::Knob::parse(self) {
            Ok(k) => k.command(&self.proposed),
            Err(e) => format!("# {}: {} ({e})", self.target, self.proposed),
        };
        match &self.netns {
            Some(ns) => in_netns_command(ns, &cmd),
            None => cmd,
        }
    }

    /// How the change survives a reboot, in the ecosystem's own format. See
    /// [`crate::tune::knob::Knob::persistent`]. A change in another namespace is not
    /// persisted by the host's files: it belongs in the container's runtime configuration
    /// (Docker `--sysctl`, Kubernetes `securityContext.sysctls`) or the script that creates
    /// the namespace.
    pub fn persistent_form(&self) -> String {
        let knob = match crate::tune::knob::Knob::parse(self) {
            Ok(k) => k,
            Err(e) => return format!("not persistable: {e}"),
        };
        match &self.netns {
            Some(ns) if self.kind == ChangeKind::Sysctl => format!(
                "per-namespace ({}): /etc/sysctl.d sets the host namespace only; set it where                  the namespace is created: `docker run --sysctl {k}={v}`, Kubernetes pod                  `securityContext.sysctls: [{{name: {k}, value: \"{v}\"}}]`, or `{p} sysctl                  -w {k}={v}` in the script that creates it",
                ns.name,
                k = self.target,
                v = self.proposed,
                p = ns.exec_prefix(),
            ),
            Some(ns) => format!(
                "per-namespace ({}): the host's files (systemd .link, the boot plan) do not                  reach devices in other namespaces; re-apply it when the namespace's device is                  created (the CNI plugin or container start hook): `{}`",
                ns.name,
                self.command()
            ),
            None => knob.persistent(&self.proposed).to_string(),
        }
    }
}

/// `cmd` (a copy-paste command for the host) run inside `ns`.
fn in_netns_command(ns: &NetnsRef, cmd: &str) -> String {
    if let Some(comment) = cmd.strip_prefix("# ") {
        return format!("# in {}: {comment}", ns.name);
    }
    let prefix = ns.exec_prefix();
    if !cmd.contains(" > /sys/") {
        return format!("{prefix} {cmd}");
    }
    let quoted = cmd.replace('\'', "'\\''");
    if prefix.starts_with("ip netns exec") {
        // `ip netns exec` mounts the namespace's sysfs itself.
        format!("{prefix} sh -c '{quoted}'")
    } else {
        format!("{prefix} unshare --mount sh -c 'mount -t sysfs sysfs /sys && {quoted}'")
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.current {
            Some(c) => write!(
                f,
                "{} {}: {} -> {}",
                self.kind, self.target, c, self.proposed
            ),
            None => write!(f, "{} {}: {}", self.kind, self.target, self.proposed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_contract_names() {
        let c = Change::sysctl("net.core.netdev_max_backlog", Some("1000"), "4000");
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["kind"], "sysctl");
        assert_eq!(j["target"], "net.core.netdev_max_backlog");
        assert_eq!(j["current"], "1000");
        assert_eq!(j["proposed"], "4000");
        let irq = Change::new(ChangeKind::IrqAffinity, "irq 24", None, "1");
        assert_eq!(serde_json::to_value(&irq).unwrap()["kind"], "irq_affinity");
        // A typed advice value stays out of the JSON.
        let a = Change::advice_value(
            "listen() backlog of :80",
            "raise it to 4096",
            Advised::ListenBacklog(4096),
        );
        let j = serde_json::to_value(&a).unwrap();
        assert_eq!(j.as_object().unwrap().len(), 4, "{j}");
        assert_eq!(j["proposed"], "raise it to 4096");
        let back: Change = serde_json::from_value(j).unwrap();
        assert_eq!(back.advised, None);
        assert_eq!(a.advised, Some(Advised::ListenBacklog(4096)));
    }

    #[test]
    fn commands_are_the_standard_tools() {
        let c = Change::sysctl("net.core.somaxconn", Some("128"), "4096");
        assert_eq!(c.command(), "sysctl -w net.core.somaxconn=\"4096\"");
        let r = Change::new(ChangeKind::Ring, "eth0 rx", Some("256".into()), "4096");
        assert_eq!(r.command(), "ethtool -G eth0 rx 4096");
        assert_eq!(
            r.persistent_form(),
            "systemd .link [Link] RxBufferSize=4096"
        );
        let rps = Change::new(ChangeKind::Rps, "veth0 rx-0", Some("0".into()), "2");
        assert_eq!(
            rps.command(),
            "echo 2 > /sys/class/net/veth0/queues/rx-0/rps_cpus"
        );
    }

    /// A change in another namespace is a command run there, with sysfs writes in a shell
    /// that sees that namespace's sysfs, and its persistent form says it is per-namespace.
    #[test]
    fn namespace_changes_run_in_the_namespace() {
        let named = NetnsRef {
            inode: 4026532300,
            name: "pod-web".into(),
            path: "/run/netns/pod-web".into(),
        };
        let pid = NetnsRef {
            inode: 4026532301,
            name: "docker 0123456789ab".into(),
            path: "/proc/4242/ns/net".into(),
        };
        let c = Change::sysctl("net.core.somaxconn", Some("4096"), "8192")
            .in_netns(Some(named.clone()));
        assert_eq!(
            c.command(),
            "ip netns exec pod-web sysctl -w net.core.somaxconn=\"8192\""
        );
        let p = c.persistent_form();
        assert!(
            p.starts_with("per-namespace (pod-web)")
                && p.contains("docker run --sysctl net.core.somaxconn=8192")
                && p.contains("securityContext.sysctls"),
            "{p}"
        );
        let c = c.in_netns(Some(pid.clone()));
        assert_eq!(
            c.command(),
            "nsenter --net=/proc/4242/ns/net sysctl -w net.core.somaxconn=\"8192\""
        );
        let rps = Change::new(ChangeKind::Rps, "eth0 rx-0", Some("0".into()), "2");
        assert_eq!(
            rps.clone().in_netns(Some(named)).command(),
            "ip netns exec pod-web sh -c 'echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus'"
        );
        let rps = rps.in_netns(Some(pid));
        assert_eq!(
            rps.command(),
            "nsenter --net=/proc/4242/ns/net unshare --mount sh -c 'mount -t sysfs sysfs /sys \
             && echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus'"
        );
        assert!(rps
            .persistent_form()
            .starts_with("per-namespace (docker 0123456789ab)"));
        let a = Change::advice("listen() backlog of :8080", "raise it").in_netns(Some(pid_ref()));
        assert_eq!(a.command(), "# in x: listen() backlog of :8080: raise it");
    }

    fn pid_ref() -> NetnsRef {
        NetnsRef {
            inode: 1,
            name: "x".into(),
            path: "/proc/1/ns/net".into(),
        }
    }
}
