//! The lab's throwaway environment: named network namespaces (`nettune-lab-PID-*`, created as
//! iproute2 does: `unshare(CLONE_NEWNET)` on a thread and a bind mount of its namespace onto
//! `/run/netns/NAME`), veth pairs and addresses set up with raw rtnetlink (no `ip`), host-wide
//! sysctls changed for a fault, and the tune transactions a run applied.
//!
//! Everything is owned by an [`Env`] guard that undoes it on drop (failure, panic, Ctrl-C),
//! and recorded in a state file `<state dir>/lab/<pid>.json` written *before* each change, so
//! [`cleanup_leftovers`] can undo what a crashed run left behind.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

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

// ---- raw rtnetlink ------------------------------------------------------------------------

const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 1;

/// A netlink message under construction (header filled in by [`Msg::finish`]).
struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
        Msg { buf }
    }
    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// `struct ifinfomsg`.
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        self.bytes(&[0, 0, 0, 0]);
        self.bytes(&index.to_ne_bytes());
        self.bytes(&flags.to_ne_bytes());
        self.bytes(&change.to_ne_bytes());
    }
    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.bytes(&len.to_ne_bytes());
        self.bytes(&kind.to_ne_bytes());
        self.bytes(data);
        self.pad();
    }
    /// Start a nested attribute; returns its offset for [`Msg::end_nest`].
    fn nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.bytes(&[0, 0]);
        self.bytes(&kind.to_ne_bytes());
        at
    }
    fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }
    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// Send one request on a fresh NETLINK_ROUTE socket of the calling thread's namespace and
/// wait for its acknowledgement.
fn request(what: &str, msg: Vec<u8>) -> Result<()> {
    request_proto(libc::NETLINK_ROUTE, what, msg)
}

/// [`request`] on a netlink socket of protocol `proto`.
fn request_proto(proto: libc::c_int, what: &str, msg: Vec<u8>) -> Result<()> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return Err(nl_err(what, std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the buffer outlives the call.
    let n = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if n < 0 {
        return Err(nl_err(what, std::io::Error::last_os_error()));
    }
    let mut reply = [0u8; 8192];
    loop {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
        if n < 0 {
            return Err(nl_err(what, std::io::Error::last_os_error()));
        }
        let got = &reply[..n as usize];
        let mut off = 0;
        while off + 20 <= got.len() {
            let len =
                u32::from_ne_bytes([got[off], got[off + 1], got[off + 2], got[off + 3]]) as usize;
            let kind = u16::from_ne_bytes([got[off + 4], got[off + 5]]);
            if kind == NLMSG_ERROR {
                let code = i32::from_ne_bytes([
                    got[off + 16],
                    got[off + 17],
                    got[off + 18],
                    got[off + 19],
                ]);
                return if code == 0 {
                    Ok(())
                } else {
                    Err(nl_err(what, std::io::Error::from_raw_os_error(-code)))
                };
            }
            if len < 16 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}

/// Index of interface `name` in the calling thread's namespace.
fn ifindex(name: &str) -> Result<i32> {
    let c = std::ffi::CString::new(name).map_err(|e| nl_err("if_nametoindex", e))?;
    // SAFETY: valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(nl_err(
            &format!("if_nametoindex {name}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(i as i32)
}

/// Set interface `name` up (calling thread's namespace).
pub fn link_up(name: &str) -> Result<()> {
    let mut m = Msg::new(RTM_NEWLINK, 0);
    m.ifinfo(ifindex(name)?, IFF_UP, IFF_UP);
    request(&format!("set {name} up"), m.finish())
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
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.ifinfo(index, 0, 0);
    m.attr(IFLA_IFNAME, &name_attr(name));
    let info = m.nest(IFLA_LINKINFO);
    m.attr(IFLA_INFO_KIND, b"veth");
    let data = m.nest(IFLA_INFO_DATA);
    let p = m.nest(VETH_INFO_PEER);
    m.ifinfo(peer_index, 0, 0);
    m.attr(IFLA_IFNAME, &name_attr(peer));
    m.attr(IFLA_NET_NS_FD, &peer_ns.as_raw_fd().to_ne_bytes());
    m.end_nest(p);
    m.end_nest(data);
    m.end_nest(info);
    request(&format!("add veth {name} peer {peer}"), m.finish())
}

/// Add `addr/prefix` to interface `name` (calling thread's namespace).
pub fn add_addr(name: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
    let index = ifindex(name)?;
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    m.bytes(&[libc::AF_INET as u8, prefix, 0, 0]);
    m.bytes(&(index as u32).to_ne_bytes());
    m.attr(IFA_LOCAL, &addr.octets());
    m.attr(IFA_ADDRESS, &addr.octets());
    request(&format!("add {addr}/{prefix} to {name}"), m.finish())
}

// ---- nftables over netlink (no `nft`) ------------------------------------------------------

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLA_F_NESTED: u16 = 0x8000;
const NFPROTO_IPV4: u8 = 2;

/// One nfnetlink message: header plus `struct nfgenmsg`.
fn nfmsg(kind: u16, flags: u16, family: u8, seq: u32) -> Msg {
    let mut m = Msg::new(kind, flags);
    // No ack for batch members (errors are always reported); the caller asks for one.
    m.buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    m.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    m.bytes(&[family, 0]);
    let res = if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END {
        NFNL_SUBSYS_NFTABLES
    } else {
        0
    };
    m.bytes(&res.to_be_bytes());
    m
}

/// In the calling thread's namespace, create table `ip TABLE` with a prerouting filter
/// chain holding one rule that loads `ct state` (what `nft add rule ip T C ct state new`
/// starts with): the rule makes the namespace track connections.
pub fn add_ct_state_rule(table: &str) -> Result<()> {
    let sub = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    let mut batch = nfmsg(NFNL_MSG_BATCH_BEGIN, 0, 0, 1).finish();
    let mut t = nfmsg(sub(NFT_MSG_NEWTABLE), NLM_F_CREATE, NFPROTO_IPV4, 2);
    t.attr(1, &name_attr(table));
    batch.extend(t.finish());
    let mut c = nfmsg(sub(NFT_MSG_NEWCHAIN), NLM_F_CREATE, NFPROTO_IPV4, 3);
    c.attr(1, &name_attr(table));
    c.attr(3, &name_attr("pre"));
    let hook = c.nest(4 | NLA_F_NESTED);
    c.attr(1, &0u32.to_be_bytes()); // NF_INET_PRE_ROUTING
    c.attr(2, &0u32.to_be_bytes()); // priority filter
    c.end_nest(hook);
    c.attr(5, &1u32.to_be_bytes()); // policy accept
    c.attr(7, &name_attr("filter"));
    batch.extend(c.finish());
    let mut r = nfmsg(
        sub(NFT_MSG_NEWRULE),
        NLM_F_CREATE | NLM_F_ACK,
        NFPROTO_IPV4,
        4,
    );
    r.attr(1, &name_attr(table));
    r.attr(2, &name_attr("pre"));
    let exprs = r.nest(4 | NLA_F_NESTED);
    let elem = r.nest(1 | NLA_F_NESTED);
    r.attr(1, &name_attr("ct"));
    let data = r.nest(2 | NLA_F_NESTED);
    r.attr(1, &1u32.to_be_bytes()); // NFTA_CT_DREG = NFT_REG_1
    r.attr(2, &0u32.to_be_bytes()); // NFTA_CT_KEY = NFT_CT_STATE
    r.end_nest(data);
    r.end_nest(elem);
    r.end_nest(exprs);
    batch.extend(r.finish());
    batch.extend(nfmsg(NFNL_MSG_BATCH_END, 0, 0, 5).finish());
    request_proto(libc::NETLINK_NETFILTER, "nftables ct state rule", batch)
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

/// Remove the named namespace (its veths go with it once nothing holds it).
pub fn delete_ns(name: &str) {
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
    /// Tune transactions applied (ids in the journal).
    pub transactions: Vec<String>,
}

fn lab_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("lab")
}

fn sysctl_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

/// Read a sysctl's text (trimmed).
pub fn read_sysctl(key: &str) -> Result<String> {
    let p = sysctl_path(key);
    crate::root::FileBuf::new()
        .read_sysctl(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(&p, e))
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let p = sysctl_path(key);
    std::fs::write(&p, value).map_err(|e| Error::io(&p, e))
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
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
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
            .map_err(|e| Error::Input(format!("lab state: {e}")))?;
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.file).map_err(|e| Error::io(&self.file, e))
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
            self.save()?;
        }
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
        if let Err(e) = write_sysctl(key, value) {
            errors.push(format!("restore {key}={value}: {e}"));
        }
    }
    for ns in state.namespaces.iter().rev() {
        delete_ns(ns);
    }
    errors
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
    if let Ok(dir) = std::fs::read_dir(lab_dir(state_dir)) {
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

    #[test]
    fn attributes_are_padded_and_nests_measured() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE);
        m.ifinfo(0, 0, 0);
        m.attr(IFLA_IFNAME, &name_attr("va"));
        let n = m.nest(IFLA_LINKINFO);
        m.attr(IFLA_INFO_KIND, b"veth");
        m.end_nest(n);
        let b = m.finish();
        // header 16 + ifinfomsg 16 + "va\0" attr (4+3 → 8) + nest (4 + "veth" attr 8 = 12)
        assert_eq!(b.len(), 16 + 16 + 8 + 12);
        assert_eq!(
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
            b.len()
        );
        assert_eq!(u16_at(&b, 4), RTM_NEWLINK);
        assert_eq!(
            u16_at(&b, 6),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            "flags"
        );
        assert_eq!(u16_at(&b, 32), 7, "name attr length excludes padding");
        assert_eq!(u16_at(&b, 34), IFLA_IFNAME);
        assert_eq!(&b[36..39], b"va\0");
        assert_eq!(u16_at(&b, 40), 12, "nest length covers its children");
        assert_eq!(u16_at(&b, 42), IFLA_LINKINFO);
        assert_eq!(&b[48..52], b"veth");
    }

    #[test]
    fn nftables_batch_is_framed_by_begin_and_end() {
        let begin = nfmsg(NFNL_MSG_BATCH_BEGIN, 0, 0, 1).finish();
        assert_eq!(begin.len(), 20);
        assert_eq!(u16_at(&begin, 4), NFNL_MSG_BATCH_BEGIN);
        assert_eq!(u16_at(&begin, 6), NLM_F_REQUEST, "no ack for batch members");
        assert_eq!(&begin[18..20], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        let t = nfmsg(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE,
            0,
            NFPROTO_IPV4,
            2,
        )
        .finish();
        assert_eq!(t[16], NFPROTO_IPV4);
        assert_eq!(&t[18..20], &[0, 0]);
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
