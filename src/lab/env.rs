//! The lab's throwaway environment: named network namespaces (`nettune-lab-PID-*`, created as
//! iproute2 does: `unshare(CLONE_NEWNET)` on a thread and a bind mount of its namespace onto
//! `/run/netns/NAME`), veth pairs and addresses set up over rtnetlink (no `ip`; messages built
//! with the shared attribute writer `crate::nla`, sent on a `netlink-sys` socket), host-wide
//! sysctls changed for a fault (written with the tune layer's sysctl writer), and the tune
//! transactions a run applied.
//!
//! Everything is owned by an [`Env`] guard that undoes it on drop (failure, panic, Ctrl-C),
//! and recorded in a state file `<state dir>/lab/<pid>.json` written *before* each change, so
//! [`cleanup_leftovers`] can undo what a crashed run left behind.

use crate::nla::NlaWriter;
use crate::{Error, Result, Root};
use netlink_packet_core::{
    Emitable, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_sys::protocols::{NETLINK_NETFILTER, NETLINK_ROUTE};
use netlink_sys::Socket;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Length of `struct nlmsghdr`.
const NETLINK_HEADER_LEN: usize = 16;

/// Prefix of every namespace the lab creates.
pub const NS_PREFIX: &str = "nettune-lab-";
/// Where named namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

fn nl_err(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Netlink {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

fn ns_err(name: &str, what: impl std::fmt::Display) -> Error {
    Error::Netns {
        name: name.to_string(),
        what: what.to_string(),
    }
}

// ---- rtnetlink ------------------------------------------------------------------------------

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 1;

/// One netlink message: the header (length filled in) and `body`, a fixed struct followed
/// by attributes written with the shared `NlaWriter`.
fn message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut h = NetlinkHeader::default();
    h.length = u32::try_from(NETLINK_HEADER_LEN + body.len()).unwrap_or(u32::MAX);
    h.message_type = kind;
    h.flags = flags;
    h.sequence_number = seq;
    let mut buf = vec![0u8; NETLINK_HEADER_LEN];
    h.emit(&mut buf);
    buf.extend_from_slice(body);
    buf
}

/// A request that asks for an acknowledgement.
fn request_msg(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    message(kind, flags | NLM_F_REQUEST | NLM_F_ACK, 1, body)
}

/// `struct ifinfomsg` (family unspecified).
fn ifinfo(w: &mut NlaWriter, index: i32, flags: u32, change: u32) {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    w.raw(&b);
}

/// Send one request on a fresh netlink socket of protocol `proto` in the calling thread's
/// namespace and wait for its acknowledgement.
fn request_proto(proto: isize, what: &str, msg: &[u8]) -> Result<()> {
    let sock = Socket::new(proto).map_err(|e| nl_err(what, e))?;
    sock.send(msg, 0).map_err(|e| nl_err(what, e))?;
    let mut reply = [0u8; 8192];
    loop {
        let n = sock
            .recv(&mut &mut reply[..], 0)
            .map_err(|e| nl_err(what, e))?;
        let mut got = reply.get(..n).unwrap_or(&[]);
        while let Ok(m) = NetlinkBuffer::new_checked(got) {
            if m.message_type() == NLMSG_ERROR {
                let e = ErrorBuffer::new_checked(m.payload()).map_err(|e| nl_err(what, e))?;
                return match e.code() {
                    None => Ok(()),
                    Some(code) => Err(nl_err(what, std::io::Error::from_raw_os_error(-code.get()))),
                };
            }
            let len = (m.length() as usize + 3) & !3;
            if len < NETLINK_HEADER_LEN {
                break;
            }
            got = got.get(len..).unwrap_or(&[]);
        }
    }
}

/// [`request_proto`] on NETLINK_ROUTE.
fn request(what: &str, msg: &[u8]) -> Result<()> {
    request_proto(NETLINK_ROUTE, what, msg)
}

/// Index of interface `name` in the calling thread's namespace.
fn ifindex(name: &str) -> Result<i32> {
    let i = nix::net::if_::if_nametoindex(name)
        .map_err(|e| nl_err(&format!("if_nametoindex {name}"), e))?;
    i32::try_from(i).map_err(|e| nl_err(&format!("if_nametoindex {name}"), e))
}

/// `RTM_NEWLINK` that sets the interface with index `index` up.
fn link_up_msg(index: i32) -> Vec<u8> {
    let mut w = NlaWriter::default();
    ifinfo(&mut w, index, IFF_UP, IFF_UP);
    request_msg(RTM_NEWLINK, 0, &w.buf)
}

/// Set interface `name` up (calling thread's namespace).
pub fn link_up(name: &str) -> Result<()> {
    request(&format!("set {name} up"), &link_up_msg(ifindex(name)?))
}

/// `RTM_NEWLINK` creating veth `name`/`index` with peer `peer`/`peer_index` in the
/// namespace open as fd `peer_ns`.
fn veth_msg(name: &str, index: i32, peer: &str, peer_index: i32, peer_ns: u32) -> Vec<u8> {
    let mut w = NlaWriter::default();
    ifinfo(&mut w, index, 0, 0);
    w.string(IFLA_IFNAME, name);
    w.nest(IFLA_LINKINFO, |w| {
        w.bytes(IFLA_INFO_KIND, b"veth");
        w.nest(IFLA_INFO_DATA, |w| {
            w.nest(VETH_INFO_PEER, |w| {
                ifinfo(w, peer_index, 0, 0);
                w.string(IFLA_IFNAME, peer);
                w.u32(IFLA_NET_NS_FD, peer_ns);
            });
        });
    });
    request_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &w.buf)
}

/// Create veth `name` (ifindex `index`, 0 = any) in the calling thread's namespace with its
/// peer `peer` (ifindex `peer_index`) placed straight into the namespace open as `peer_ns`
/// (never on the host). Distinct indexes keep "iflink != ifindex" true on both ends, which is
/// how a veth is recognised from sysfs.
pub fn add_veth(
    name: &str,
    index: i32,
    peer: &str,
    peer_index: i32,
    peer_ns: &std::fs::File,
) -> Result<()> {
    let fd = u32::try_from(peer_ns.as_raw_fd()).map_err(|e| nl_err("peer namespace fd", e))?;
    request(
        &format!("add veth {name} peer {peer}"),
        &veth_msg(name, index, peer, peer_index, fd),
    )
}

/// `RTM_NEWADDR` adding `addr/prefix` to the interface with index `index`.
fn addr_msg(index: i32, addr: Ipv4Addr, prefix: u8) -> Vec<u8> {
    let mut w = NlaWriter::default();
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    w.raw(&[libc::AF_INET as u8, prefix, 0, 0]);
    w.raw(&index.to_ne_bytes());
    w.bytes(IFA_LOCAL, &addr.octets());
    w.bytes(IFA_ADDRESS, &addr.octets());
    request_msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &w.buf)
}

/// Add `addr/prefix` to interface `name` (calling thread's namespace).
pub fn add_addr(name: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
    request(
        &format!("add {addr}/{prefix} to {name}"),
        &addr_msg(ifindex(name)?, addr, prefix),
    )
}

// ---- nftables over netlink (no `nft`) ------------------------------------------------------

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_IPV4: u8 = 2;

/// One nfnetlink message: `struct nfgenmsg` then the attributes `f` writes. Batch members
/// ask for no ack (errors are always reported); the caller asks for one where it wants it.
fn nfmsg(kind: u16, flags: u16, family: u8, seq: u32, f: impl FnOnce(&mut NlaWriter)) -> Vec<u8> {
    let res: u16 = if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END {
        NFNL_SUBSYS_NFTABLES
    } else {
        0
    };
    let mut w = NlaWriter::default();
    let [r0, r1] = res.to_be_bytes();
    w.raw(&[family, 0, r0, r1]);
    f(&mut w);
    message(kind, flags | NLM_F_REQUEST, seq, &w.buf)
}

/// The nftables batch of [`add_ct_state_rule`].
fn ct_state_batch(table: &str) -> Vec<u8> {
    let sub = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    let mut batch = nfmsg(NFNL_MSG_BATCH_BEGIN, 0, 0, 1, |_| {});
    batch.extend(nfmsg(
        sub(NFT_MSG_NEWTABLE),
        NLM_F_CREATE,
        NFPROTO_IPV4,
        2,
        |w| {
            w.string(1, table); // NFTA_TABLE_NAME
        },
    ));
    batch.extend(nfmsg(
        sub(NFT_MSG_NEWCHAIN),
        NLM_F_CREATE,
        NFPROTO_IPV4,
        3,
        |w| {
            w.string(1, table); // NFTA_CHAIN_TABLE
            w.string(3, "pre"); // NFTA_CHAIN_NAME
            w.nest(4, |w| {
                // NFTA_CHAIN_HOOK
                w.be32(1, 0); // NFTA_HOOK_HOOKNUM = NF_INET_PRE_ROUTING
                w.be32(2, 0); // NFTA_HOOK_PRIORITY = filter
            });
            w.be32(5, 1); // NFTA_CHAIN_POLICY = accept
            w.string(7, "filter"); // NFTA_CHAIN_TYPE
        },
    ));
    batch.extend(nfmsg(
        sub(NFT_MSG_NEWRULE),
        NLM_F_CREATE | NLM_F_ACK,
        NFPROTO_IPV4,
        4,
        |w| {
            w.string(1, table); // NFTA_RULE_TABLE
            w.string(2, "pre"); // NFTA_RULE_CHAIN
            w.nest(4, |w| {
                // NFTA_RULE_EXPRESSIONS
                w.nest(1, |w| {
                    // NFTA_LIST_ELEM
                    w.string(1, "ct"); // NFTA_EXPR_NAME
                    w.nest(2, |w| {
                        // NFTA_EXPR_DATA
                        w.be32(1, 1); // NFTA_CT_DREG = NFT_REG_1
                        w.be32(2, 0); // NFTA_CT_KEY = NFT_CT_STATE
                    });
                });
            });
        },
    ));
    batch.extend(nfmsg(NFNL_MSG_BATCH_END, 0, 0, 5, |_| {}));
    batch
}

/// In the calling thread's namespace, create table `ip TABLE` with a prerouting filter
/// chain holding one rule that loads `ct state` (what `nft add rule ip T C ct state new`
/// starts with): the rule makes the namespace track connections.
pub fn add_ct_state_rule(table: &str) -> Result<()> {
    request_proto(
        NETLINK_NETFILTER,
        "nftables ct state rule",
        &ct_state_batch(table),
    )
}

/// Run `f` on a scoped thread that entered the network namespace at `path`.
pub fn in_ns<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| ns_err(&name, e))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ns_err(&name, format!("setns: {e}")))?;
            drop(file);
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(ns_err(&path.display().to_string(), "thread panicked")))
    })
}

// ---- named namespaces -----------------------------------------------------------------------

/// Create the named namespace `name` (`/run/netns/NAME`) with `lo` up.
fn create_ns(name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| Error::io(NETNS_DIR, e))?;
    let path = Path::new(NETNS_DIR).join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let target = path.clone();
    let made = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            use nix::mount::{mount, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ns_err(name, format!("unshare: {e}")))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| ns_err(name, format!("bind mount: {e}")))?;
            link_up("lo")
        })
        .join()
        .unwrap_or_else(|_| Err(ns_err(name, "thread panicked")))
    });
    if let Err(e) = made {
        delete_ns(name);
        return Err(e);
    }
    Ok(path)
}

/// Whether `name` is one the lab creates: `nettune-lab-PID-SEQ-TAG`, TAG of lower-case
/// letters, digits and dashes. Nothing else is ever unmounted or deleted (a name from a
/// state file could otherwise be `../../etc`).
pub fn is_lab_ns_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(NS_PREFIX) else {
        return false;
    };
    let mut parts = rest.splitn(3, '-');
    let digits = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(parts.next())
        && digits(parts.next())
        && parts.next().is_some_and(|tag| {
            !tag.is_empty()
                && tag.len() <= 64
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Remove the named namespace (its veths go with it once nothing holds it). A name that is
/// not the lab's own ([`is_lab_ns_name`]) is left alone.
pub fn delete_ns(name: &str) {
    if !is_lab_ns_name(name) {
        tracing::warn!("not deleting {name:?}: not a namespace the lab creates");
        return;
    }
    let path = Path::new(NETNS_DIR).join(name);
    let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&path);
}

/// Names of the lab's namespaces present now.
pub fn lab_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(NS_PREFIX))
        .collect();
    v.sort();
    v
}

// ---- state file and the guard ---------------------------------------------------------------

/// What a run changed, as recorded on disk before each change.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct LabState {
    pub pid: u32,
    /// Namespaces created.
    pub namespaces: Vec<String>,
    /// Host-wide sysctls changed, with their original text.
    pub sysctls: BTreeMap<String, String>,
    /// The value the lab wrote to each host-wide sysctl it set for a fault; the cleanup
    /// restores the original only while this is still in place (absent in state files
    /// written before, and for sysctls only remembered: restored only when unchanged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub written: BTreeMap<String, String>,
    /// Tune transactions applied (ids in the journal).
    pub transactions: Vec<String>,
}

fn lab_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("lab")
}

/// Read a host sysctl's text (trimmed).
pub fn read_sysctl(key: &str) -> Result<String> {
    let p = crate::collect::sysctl::key_to_path(&Root::default(), key);
    crate::root::FileBuf::new()
        .read_sysctl(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(&p, e))
}

/// Set a host sysctl with the tune layer's sysctl writer.
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    crate::tune::apply::write_sysctl(&Root::default(), key, value)
}

/// The environment of one lab run; dropping it undoes everything, newest first.
pub struct Env {
    state_dir: PathBuf,
    file: PathBuf,
    state: LabState,
    seq: u32,
}

impl Env {
    /// A new empty environment recorded under `state_dir`.
    pub fn new(state_dir: &Path) -> Result<Env> {
        let dir = lab_dir(state_dir);
        crate::durable::private_dir(state_dir, true)?;
        crate::durable::private_dir(&dir, true)?;
        let pid = std::process::id();
        let env = Env {
            state_dir: state_dir.to_path_buf(),
            file: dir.join(format!("{pid}.json")),
            state: LabState {
                pid,
                ..LabState::default()
            },
            seq: 0,
        };
        env.save()?;
        Ok(env)
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.state)
            .map_err(|e| Error::io(&self.file, std::io::Error::other(e)))?;
        crate::durable::write_atomic(&self.file, text.as_bytes(), 0o600)
    }

    /// Create namespace `nettune-lab-PID-N-TAG`; returns its path.
    pub fn namespace(&mut self, tag: &str) -> Result<PathBuf> {
        self.seq += 1;
        let name = format!("{NS_PREFIX}{}-{}-{tag}", self.state.pid, self.seq);
        self.state.namespaces.push(name.clone());
        self.save()?;
        create_ns(&name)
    }

    /// Set a host-wide sysctl for the fault; its original value is restored on drop.
    pub fn host_sysctl(&mut self, key: &str, value: &str) -> Result<()> {
        let old = read_sysctl(key)?;
        if !self.state.sysctls.contains_key(key) {
            self.state.sysctls.insert(key.to_string(), old);
        }
        self.state
            .written
            .insert(key.to_string(), value.trim().to_string());
        self.save()?;
        write_sysctl(key, value)
    }

    /// Record a host-wide sysctl's current value so it is restored on drop (before a tune
    /// transaction changes it).
    pub fn host_sysctl_remember(&mut self, key: &str) -> Result<()> {
        if !self.state.sysctls.contains_key(key) {
            let old = read_sysctl(key)?;
            self.state.sysctls.insert(key.to_string(), old);
            self.save()?;
        }
        Ok(())
    }

    /// Record a tune transaction to roll back on drop.
    pub fn transaction(&mut self, id: &str) -> Result<()> {
        self.state.transactions.push(id.to_string());
        self.save()
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
}

/// Undo what `state` records: roll back its transactions, restore sysctls, delete namespaces.
/// Returns what could not be undone.
fn undo(state_dir: &Path, state: &LabState) -> Vec<String> {
    let mut errors = Vec::new();
    for id in state.transactions.iter().rev() {
        match crate::tune::journal::find(state_dir, id) {
            Ok(log) if !log.rolled_back => {
                if let Err(e) = crate::tune::rollback_transaction(&crate::Root::default(), &log) {
                    errors.push(format!("roll back transaction {id}: {e}"));
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("transaction {id}: {e}")),
        }
    }
    for (key, value) in &state.sysctls {
        if let Err(e) = restore_sysctl(key, value, state.written.get(key)) {
            errors.push(format!("restore {key}={value}: {e}"));
        }
    }
    for ns in state.namespaces.iter().rev() {
        if is_lab_ns_name(ns) {
            delete_ns(ns);
        } else {
            errors.push(format!(
                "namespace {ns:?}: not a name the lab creates; not deleted"
            ));
        }
    }
    errors
}

/// Put host sysctl `key` back to `old`, the value before the lab, unless someone changed it
/// since: the value now must be `written` (what the lab wrote) or already `old`. The key
/// must be one nettune tunes ([`crate::tune::safety::owned_sysctl`]): a state file cannot
/// make the cleanup write `kernel.core_pattern`.
fn restore_sysctl(key: &str, old: &str, written: Option<&String>) -> Result<()> {
    crate::tune::safety::owned_sysctl(key).map_err(Error::Refused)?;
    let fold = crate::collect::sysctl::fold_value;
    let now = read_sysctl(key)?;
    if fold(&now) == fold(old) {
        return Ok(());
    }
    match written {
        Some(w) if fold(&now) == fold(w) => write_sysctl(key, old),
        _ => Err(Error::Refused(format!(
            "{key} in the host namespace is {now:?}, not {:?} the lab wrote: changed since by \
             someone else; not restoring {old:?} over it",
            written.map_or("(a value)", |w| w.as_str())
        ))),
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let errors = undo(&self.state_dir, &self.state);
        for e in &errors {
            tracing::error!("lab cleanup: {e}");
            eprintln!("nettune lab: cleanup FAILED: {e}");
        }
        if errors.is_empty() {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Undo what crashed runs left: state files of dead processes, then `nettune-lab-PID-*`
/// namespaces whose process is gone. Returns one line per thing cleaned.
pub fn cleanup_leftovers(state_dir: &Path) -> Vec<String> {
    let mut done = Vec::new();
    let me = std::process::id();
    let trusted = crate::durable::private_dir(state_dir, false)
        .and_then(|_| crate::durable::private_dir(&lab_dir(state_dir), false));
    if let Err(e) = trusted {
        done.push(format!("lab state not read: {e}"));
    } else if let Ok(dir) = std::fs::read_dir(lab_dir(state_dir)) {
        for e in dir.filter_map(|e| e.ok()) {
            let path = e.path();
            let Some(pid) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me || pid_alive(pid) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let state: LabState = serde_json::from_str(&text).unwrap_or_default();
            let errors = undo(state_dir, &state);
            for (k, v) in &state.sysctls {
                done.push(format!("restored {k}={v} (left by lab run {pid})"));
            }
            if errors.is_empty() {
                let _ = std::fs::remove_file(&path);
            } else {
                done.extend(errors);
            }
        }
    }
    for ns in lab_namespaces() {
        let pid = ns
            .strip_prefix(NS_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != me && !pid_alive(p)) {
            delete_ns(&ns);
            done.push(format!("removed namespace {ns}"));
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([b[at], b[at + 1]])
    }

    const NESTED: u16 = 0x8000;

    #[test]
    fn veth_request_is_framed_padded_and_nests_measured() {
        let b = veth_msg("va", 0, "vb", 7, 3);
        assert_eq!(
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
            b.len()
        );
        assert_eq!(u16_at(&b, 4), RTM_NEWLINK);
        assert_eq!(
            u16_at(&b, 6),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "flags"
        );
        // header 16 + ifinfomsg 16, then IFLA_IFNAME "va\0" (4+3 → 8).
        assert_eq!(u16_at(&b, 32), 7, "name attr length excludes padding");
        assert_eq!(u16_at(&b, 34), IFLA_IFNAME);
        assert_eq!(&b[36..39], b"va\0");
        // LINKINFO { KIND "veth" (8), DATA { PEER { ifinfomsg 16, IFNAME "vb" 8, NS_FD 8 } } }
        let peer = 4 + 16 + 8 + 8;
        let data = 4 + peer;
        let info = 4 + 8 + data;
        assert_eq!(
            u16_at(&b, 40) as usize,
            info,
            "nest length covers its children"
        );
        assert_eq!(u16_at(&b, 42), IFLA_LINKINFO | NESTED);
        assert_eq!(u16_at(&b, 46), IFLA_INFO_KIND);
        assert_eq!(&b[48..52], b"veth");
        assert_eq!(u16_at(&b, 52) as usize, data);
        assert_eq!(u16_at(&b, 54), IFLA_INFO_DATA | NESTED);
        assert_eq!(u16_at(&b, 56) as usize, peer);
        assert_eq!(u16_at(&b, 58), VETH_INFO_PEER | NESTED);
        assert_eq!(
            i32::from_ne_bytes([b[64], b[65], b[66], b[67]]),
            7,
            "peer index"
        );
        assert_eq!(b.len(), 40 + info);
        // The walker reads the attributes back.
        let attrs: Vec<u16> = crate::nla::attrs(&b[32..]).map(|(k, _)| k).collect();
        assert_eq!(attrs, vec![IFLA_IFNAME, IFLA_LINKINFO]);
    }

    #[test]
    fn only_the_labs_own_namespace_names_match() {
        assert!(is_lab_ns_name("nettune-lab-4242-1-bd-a"));
        assert!(is_lab_ns_name("nettune-lab-1-12-rps-b"));
        for bad in [
            "nettune-lab-../../etc",
            "nettune-lab-1-2-../x",
            "nettune-lab-x-1-a",
            "nettune-lab-1--a",
            "nettune-lab-1-1-",
            "nettune-lab-1-1-A",
            "pod-web",
            "",
        ] {
            assert!(!is_lab_ns_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_tampered_state_file_cannot_touch_foreign_sysctls_or_paths() {
        let state = tempfile::tempdir().unwrap();
        let bad = LabState {
            pid: 1,
            namespaces: vec!["../../etc/passwd".into()],
            sysctls: BTreeMap::from([("kernel.core_pattern".into(), "|/tmp/x".into())]),
            written: BTreeMap::new(),
            transactions: vec!["../x".into()],
        };
        let errors = undo(state.path(), &bad);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.contains("kernel.core_pattern") && e.contains("outside")));
        assert!(errors.iter().any(|e| e.contains("not deleted")));
        assert!(Path::new("/etc/passwd").exists());
    }

    #[test]
    fn link_up_and_address_requests() {
        let b = link_up_msg(5);
        assert_eq!(b.len(), 32);
        assert_eq!(u16_at(&b, 6), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(i32::from_ne_bytes([b[20], b[21], b[22], b[23]]), 5);
        assert_eq!(u32::from_ne_bytes([b[24], b[25], b[26], b[27]]), IFF_UP);
        let a = addr_msg(5, Ipv4Addr::new(10, 0, 0, 1), 24);
        assert_eq!(a.len(), 16 + 8 + 8 + 8);
        assert_eq!(u16_at(&a, 4), RTM_NEWADDR);
        assert_eq!(&a[16..18], &[libc::AF_INET as u8, 24]);
        assert_eq!(u16_at(&a, 26), IFA_LOCAL);
        assert_eq!(&a[28..32], &[10, 0, 0, 1]);
        assert_eq!(u16_at(&a, 34), IFA_ADDRESS);
    }

    #[test]
    fn nftables_batch_is_framed_by_begin_and_end() {
        let batch = ct_state_batch("t");
        let mut msgs = Vec::new();
        let mut rest = &batch[..];
        while let Ok(m) = NetlinkBuffer::new_checked(rest) {
            msgs.push((m.message_type(), m.flags(), m.payload().to_vec()));
            rest = &rest[m.length() as usize..];
        }
        assert!(rest.is_empty());
        let kinds: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        let sub = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
        assert_eq!(
            kinds,
            [
                NFNL_MSG_BATCH_BEGIN,
                sub(NFT_MSG_NEWTABLE),
                sub(NFT_MSG_NEWCHAIN),
                sub(NFT_MSG_NEWRULE),
                NFNL_MSG_BATCH_END
            ]
        );
        assert_eq!(msgs[0].1, NLM_F_REQUEST, "no ack for batch members");
        assert_eq!(&msgs[0].2[2..4], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        assert_eq!(msgs[1].2[0], NFPROTO_IPV4);
        assert_eq!(&msgs[1].2[2..4], &[0, 0]);
        assert_eq!(msgs[3].1, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
        // NEWCHAIN: table, name, hook nest with big-endian numbers, policy, type.
        let attrs: Vec<(u16, Vec<u8>)> = crate::nla::attrs(&msgs[2].2[4..])
            .map(|(k, p)| (k, p.to_vec()))
            .collect();
        let kinds: Vec<u16> = attrs.iter().map(|a| a.0).collect();
        assert_eq!(kinds, [1, 3, 4, 5, 7]);
        assert_eq!(attrs[3].1, 1u32.to_be_bytes());
        assert_eq!(crate::nla::as_str(&attrs[4].1), Some("filter"));
    }

    /// The requests against a real kernel, in a private network namespace of a test thread.
    #[test]
    fn live_veth_address_and_link_up_in_a_private_namespace() {
        if !nix::unistd::geteuid().is_root() {
            assert!(std::env::var_os("CI").is_none(), "needs root under CI");
            eprintln!("skipped: needs root");
            return;
        }
        let got = std::thread::spawn(|| -> Result<(bool, Vec<String>)> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ns_err("test", e))?;
            link_up("lo")?;
            let me = std::fs::File::open("/proc/thread-self/ns/net")
                .map_err(|e| Error::io("/proc/thread-self/ns/net", e))?;
            add_veth("kt-a", 0, "kt-b", 0, &me)?;
            link_up("kt-a")?;
            add_addr("kt-a", Ipv4Addr::new(10, 99, 0, 1), 24)?;
            // The nftables batch is accepted (its NEWRULE asks for the ack).
            add_ct_state_rule("kt")?;
            // A second veth with the same name is refused by the kernel (EEXIST).
            let dup = add_veth("kt-a", 0, "kt-c", 0, &me).is_err();
            let addrs = nix::ifaddrs::getifaddrs()
                .map_err(|e| nl_err("getifaddrs", e))?
                .filter(|i| i.interface_name == "kt-a")
                .filter(|i| i.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP))
                .filter_map(|i| Some(i.address?.as_sockaddr_in()?.ip().to_string()))
                .collect();
            Ok((dup, addrs))
        })
        .join()
        .expect("thread");
        let (dup, addrs) = got.unwrap();
        assert!(dup, "duplicate veth refused");
        assert_eq!(addrs, vec!["10.99.0.1".to_string()]);
    }

    #[test]
    fn state_records_before_changes_and_the_file_goes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let file = {
            let mut env = Env::new(dir.path()).unwrap();
            env.transaction("tx-that-does-not-exist").unwrap();
            let file = env.file.clone();
            let st: LabState =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            assert_eq!(st.pid, std::process::id());
            assert_eq!(st.transactions, vec!["tx-that-does-not-exist".to_string()]);
            file
        };
        // The unknown transaction is an undo error: the state file stays for a later run.
        assert!(file.exists());
        // A state file of a dead process is cleaned by a later run.
        let dead = dir.path().join("lab/999999999.json");
        std::fs::write(
            &dead,
            r#"{"pid": 999999999, "namespaces": [], "sysctls": {}, "transactions": []}"#,
        )
        .unwrap();
        cleanup_leftovers(dir.path());
        assert!(!dead.exists());
    }
}
