//! `/proc/net/netlink`: netlink sockets and the messages each dropped because its receive
//! buffer was full (the `Drops` column). Only sockets that ever dropped are kept (with
//! their owning process when looked up), so a snapshot stays small on hosts with hundreds
//! of netlink sockets.

use super::sockets::Owner;
use super::{FileBuf, Root, Source, Warnings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One netlink socket that dropped messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetlinkSocket {
    /// Netlink protocol (`Eth` column: 0 route, 4 sock_diag, 9 audit, 12 netfilter,
    /// 15 kobject_uevent, 16 generic, ...).
    pub protocol: u32,
    /// Port id (`Pid` column): the process id for a process's first socket, 0 for the
    /// kernel's, another number for later ones.
    pub portid: u32,
    /// Multicast groups subscribed (hex bitmap as printed).
    pub groups: String,
    /// Bytes queued for reading now.
    pub rmem: u64,
    /// Messages dropped since the socket was opened.
    pub drops: u64,
    /// Socket inode (matches `socket:[INODE]` in `/proc/PID/fd`), 0 when not printed.
    pub inode: u64,
    /// The process holding it, when looked up.
    #[serde(default)]
    pub owner: Owner,
}

/// Netlink sockets of one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Netlink {
    /// Sockets listed.
    pub sockets: u64,
    /// Those whose `Drops` is not zero.
    pub dropping: Vec<NetlinkSocket>,
}

/// The name of netlink protocol `p` (linux/netlink.h).
pub fn protocol_name(p: u32) -> &'static str {
    match p {
        0 => "route",
        2 => "usersock",
        4 => "sock_diag",
        5 => "nflog",
        6 => "xfrm",
        7 => "selinux",
        8 => "iscsi",
        9 => "audit",
        10 => "fib_lookup",
        11 => "connector",
        12 => "netfilter",
        13 => "ip6_fw",
        14 => "dnrtmsg",
        15 => "kobject_uevent",
        16 => "generic",
        18 => "scsitransport",
        19 => "ecryptfs",
        20 => "rdma",
        21 => "crypto",
        22 => "smc",
        _ => "other",
    }
}

/// Parse `/proc/net/netlink`. Columns are found by the header (`Eth`, `Pid`, `Groups`,
/// `Rmem`, `Drops`, `Inode`); a kernel without a `Drops` column is an error (nothing to
/// judge). A short or malformed line is a warning and skipped.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<Netlink> {
    let mut lines = text.lines().enumerate();
    let bad = |what: String| Error::Parse {
        path: PathBuf::from("net/netlink"),
        line: 1,
        what,
    };
    let header: Vec<&str> = lines
        .next()
        .map(|(_, l)| l.split_ascii_whitespace().collect())
        .ok_or_else(|| bad("empty".into()))?;
    let col = |name: &str| header.iter().position(|h| *h == name);
    let drops_col = col("Drops").ok_or_else(|| bad("no `Drops` column".into()))?;
    let (eth, pid, groups, rmem, inode) = (
        col("Eth"),
        col("Pid"),
        col("Groups"),
        col("Rmem"),
        col("Inode"),
    );
    let mut out = Netlink::default();
    for (idx, line) in lines {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let num = |c: Option<usize>| c.and_then(|c| f.get(c)).and_then(|v| v.parse::<u64>().ok());
        let Some(drops) = num(Some(drops_col)) else {
            warnings.push(
                "net/netlink",
                Some(idx + 1),
                "no number in the `Drops` column; line skipped",
            );
            continue;
        };
        out.sockets += 1;
        if drops == 0 {
            continue;
        }
        out.dropping.push(NetlinkSocket {
            protocol: num(eth).unwrap_or(0) as u32,
            portid: num(pid).unwrap_or(0) as u32,
            groups: groups
                .and_then(|c| f.get(c))
                .map(|s| s.to_string())
                .unwrap_or_default(),
            rmem: num(rmem).unwrap_or(0),
            drops,
            inode: num(inode).unwrap_or(0),
            owner: Owner::NotLookedUp,
        });
    }
    Ok(out)
}

/// Read the namespace's `net/netlink`; with `processes` (and a live root), look up the
/// owners of the sockets that dropped (one pass over `/proc/*/fd`, only when one did).
pub fn read(
    buf: &mut FileBuf,
    root: &Root,
    processes: bool,
    warnings: &mut Warnings,
) -> Source<Netlink> {
    let mut s = super::read_with(buf, &root.proc_net("netlink"), warnings, parse);
    if let Source::Ok(n) = &mut s {
        let inodes: Vec<u64> = n
            .dropping
            .iter()
            .map(|d| d.inode)
            .filter(|i| *i != 0)
            .collect();
        if processes && root.live && !inodes.is_empty() {
            let owners = super::sockets::resolve_owners(root, &inodes);
            for d in &mut n.dropping {
                if let Some(o) = owners.get(&d.inode) {
                    d.owner = o.clone();
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
ffff8880053a0800 0   1          00000111 0        0        0     2        0        17016
ffff88800ae9d000 15  412        00000001 212992   0        0     2        37       20311
ffff88800ae9e000 0   0          00000000 0        0        0     2        0        1
garbage line
";

    #[test]
    fn keeps_only_dropping_sockets() {
        let mut w = Warnings::default();
        let n = parse(TEXT, &mut w).unwrap();
        assert_eq!(n.sockets, 3);
        assert_eq!(n.dropping.len(), 1);
        let d = &n.dropping[0];
        assert_eq!(
            (d.protocol, d.portid, d.drops, d.inode),
            (15, 412, 37, 20311)
        );
        assert_eq!(d.rmem, 212992);
        assert_eq!(protocol_name(d.protocol), "kobject_uevent");
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
    }

    #[test]
    fn a_kernel_without_drops_is_an_error() {
        let mut w = Warnings::default();
        assert!(parse("sk Eth Pid Groups Rmem Wmem\n", &mut w).is_err());
        assert!(parse("", &mut w).is_err());
    }

    #[test]
    fn live_read_finds_the_file() {
        let root = Root::new("/proc", "/sys");
        let mut buf = FileBuf::new();
        let s = read(&mut buf, &root, false, &mut Warnings::default());
        assert!(s.ok().is_some_and(|n| n.sockets > 0), "{}", s.status());
    }
}
