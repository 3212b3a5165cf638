//! Support archives (`check --archive PATH`): a sosreport, a supportconfig or a plain copied
//! root, as a directory or a tarball, read into a [`Capture`] the existing rules judge.
//!
//! 1. [`open`]: what PATH is (directory, or a tarball by its first bytes) and a [`View`] of
//!    its tree whose symlinks resolve inside it only; a tarball's needed members are staged
//!    into a private temporary directory (0700), each capped at [`view::MEMBER_CAP`].
//! 2. The kind: sosreport (`sos_commands/`), supportconfig (`basic-environment.txt`; its
//!    sections become a sosreport-shaped tree, [`supportconfig`]) or plain root
//!    (`proc/`, `sys/`, `etc/`).
//! 3. The proc, sys and sysctl.d files are copied as regular files into a private root and
//!    read by the live collectors through a [`crate::Root`]; command outputs fill the sources
//!    whose files are missing ([`text`], and ethtool's parsers in `collect::ethtool::text`).
//! 4. The counters are since boot: the capture holds an all-zero snapshot "at boot" and the
//!    archive's, `uptime` seconds apart, so every rate is an average since boot.

pub mod facts;
pub mod since_boot;
pub mod supportconfig;
pub mod tarball;
#[cfg(any(test, feature = "test-support"))]
pub mod testkit;
pub mod text;
pub mod view;

pub use facts::{ArchiveFacts, ArchiveKind};
use view::{Node, View};

use crate::collect::ethtool::text::{
    parse_ethtool_i_text, parse_ethtool_s_text, parse_ethtool_settings_text,
};
use crate::collect::ethtool::{Ethtool, EthtoolAll};
use crate::collect::{host, Source, Warnings};
use crate::collector::{CaptureOptions, Collector};
use crate::snapshot::{Capture, Snapshot, CAPTURE_SCHEMA};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What can go wrong reading an archive. Problems with single members are collected and
/// reported beside the findings; only an archive of which nothing can be read fails.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The archive and member, or the archive.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The member does not exist (or a link in its path points nowhere inside).
    #[error("{0}: not in the archive")]
    Missing(String),
    /// Following links did not end.
    #[error("{0}: symlink loop")]
    Loop(String),
    /// The member is not a regular file.
    #[error("{0}: not a regular file")]
    NotFile(String),
    /// The member is larger than the per-member cap.
    #[error("{0}: {1} bytes, over the {cap}-byte cap", cap = view::MEMBER_CAP)]
    TooLarge(String, u64),
    /// The member was not extracted (why).
    #[error("{0}: {1}")]
    Refused(String, String),
    /// The member holds binary data where text was expected.
    #[error("{0}: binary data in a text output")]
    Binary(String),
    /// The tarball cannot be decoded at all.
    #[error("{0}: not a readable tarball ({1})")]
    Corrupt(String, String),
    /// PATH is neither a directory nor a known tarball, or holds no known layout.
    #[error("{0}")]
    NotArchive(String),
    /// Nothing at all could be read.
    #[error("{0}: nothing nettune reads could be read from it{1}")]
    Empty(String, String),
}

impl ArchiveError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        ArchiveError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

impl From<ArchiveError> for crate::Error {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Io { path, source } => crate::Error::io(path, source),
            // The archive is the user's input: everything else is bad input.
            other => crate::Error::Input(other.to_string()),
        }
    }
}

/// An opened archive: its tree, what it is, and the private directory its staged files live
/// in (removed on drop).
#[derive(Debug)]
pub struct Archive {
    /// The tree, rooted at the archive's top.
    pub view: View,
    /// Sosreport, supportconfig or plain root.
    pub kind: ArchiveKind,
    /// `directory`, `tar`, `tar.gz`, `tar.xz`, `tar.bz2` or `tar.zst`.
    pub format: String,
    /// Problems with single members found so far (one line each).
    pub problems: Vec<String>,
    /// Private staging directory (mode 0700).
    pub stage: tempfile::TempDir,
}

/// The text outputs an archive holds for the sources the collector reads live only (the
/// qdisc statistics and the kernel log): archive path and text. [`read`] parses them into
/// the snapshot's `qdisc` ([`crate::collect::qdisc::parse_tc_text`]) and `kernel_log`
/// ([`crate::collect::kmsg::parse_log_text`]) sources, always replacing the collector's.
#[derive(Debug, Default, Clone)]
pub struct PendingTexts {
    /// `tc -s qdisc` outputs (`sos_commands/networking/tc_-s_qdisc*`).
    pub tc_qdisc: Vec<(String, String)>,
    /// The kernel log: `var/log/kern.log`, else `sos_commands/kernel/dmesg`.
    pub kernel_log: Option<(String, String)>,
}

fn private_dir() -> Result<tempfile::TempDir, ArchiveError> {
    // tempfile creates directories with mode 0700.
    tempfile::Builder::new()
        .prefix("nettune-archive-")
        .tempdir()
        .map_err(|e| ArchiveError::io(std::env::temp_dir(), e))
}

/// Names at an archive's top that say which layout it is.
const MARKERS: [&str; 7] = [
    "sos_commands",
    "proc",
    "sys",
    "etc",
    "basic-environment.txt",
    "supportconfig.txt",
    "version.txt",
];

/// Open PATH: a directory or a tarball, then find its top (a tarball's or a directory's
/// single `sosreport-…/` folder) and its kind.
pub fn open(path: &Path) -> Result<Archive, ArchiveError> {
    let meta = std::fs::metadata(path).map_err(|e| ArchiveError::io(path, e))?;
    let stage = private_dir()?;
    let (mut view, format, mut problems) = if meta.is_dir() {
        (View::dir(path)?, "directory".to_string(), Vec::new())
    } else if meta.is_file() {
        let Some(compression) = tarball::detect(path)? else {
            return Err(ArchiveError::NotArchive(format!(
                "{}: neither a directory nor a tarball (.tar, .tar.gz, .tgz, .tar.xz, .tar.bz2, .tar.zst)",
                path.display()
            )));
        };
        let opened = tarball::open(path, compression, stage.path())?;
        (
            opened.view,
            compression.as_str().to_string(),
            opened.problems,
        )
    } else {
        return Err(ArchiveError::NotArchive(format!(
            "{}: neither a directory nor a tarball",
            path.display()
        )));
    };
    let top = view.list("");
    if !top.iter().any(|n| MARKERS.contains(&n.as_str())) {
        let dirs: Vec<&String> = top
            .iter()
            .filter(|n| view.stat(n) == Some(Node::Dir))
            .collect();
        if let [only] = dirs.as_slice() {
            let only = (*only).clone();
            view.rebase(&only);
        }
    }
    let kind = if view.stat("sos_commands").is_some() || view.stat("sos_reports").is_some() {
        ArchiveKind::Sosreport
    } else if supportconfig::looks_like(&view) {
        ArchiveKind::Supportconfig
    } else if ["proc", "sys", "etc"]
        .iter()
        .any(|d| view.stat(d) == Some(Node::Dir))
    {
        ArchiveKind::Root
    } else {
        let mut why = format!(
            "{}: neither a sosreport (sos_commands/), a supportconfig (basic-environment.txt) nor a copied root (proc/, sys/, etc/)",
            path.display()
        );
        if let Some(p) = problems.first() {
            why.push_str(&format!("; {p}"));
        }
        return Err(ArchiveError::NotArchive(why));
    };
    if kind == ArchiveKind::Supportconfig {
        let ix = supportconfig::tree(&view, &mut problems);
        view = View::index(ix, path);
    }
    Ok(Archive {
        view,
        kind,
        format,
        problems,
        stage,
    })
}

/// Files under `proc/` copied into the private root for the collectors (beside `proc/net`
/// and `proc/sys`, copied whole).
const PROC_FILES: [&str; 6] = [
    "interrupts",
    "softirqs",
    "stat",
    "meminfo",
    "cpuinfo",
    "uptime",
];

/// Each proc-read source's main file, to say "empty" or why it is bad instead of the
/// collector's answer about a file it never saw.
const PRIMARY: [(&str, &str); 8] = [
    ("softnet", "proc/net/softnet_stat"),
    ("netdev", "proc/net/dev"),
    ("netstat", "proc/net/snmp"),
    ("sockstat", "proc/net/sockstat"),
    ("softirqs", "proc/softirqs"),
    ("cpu_times", "proc/stat"),
    ("interrupts", "proc/interrupts"),
    ("conntrack", "proc/net/stat/nf_conntrack"),
];

/// Other proc files the collectors read (a bad one is a problem worth listing).
const USED: [&str; 7] = [
    "proc/net/netstat",
    "proc/net/rt6_stats",
    "proc/net/snmp6",
    "proc/net/sockstat6",
    "proc/net/netlink",
    "proc/meminfo",
    "proc/cpuinfo",
];

/// Copies the tree's files into a plain root, as regular files.
struct Copier<'a> {
    view: &'a View,
    dest: PathBuf,
    /// Members that were empty.
    empty: BTreeSet<String>,
    /// Members that could not be copied, with the one-line reason.
    bad: BTreeMap<String, String>,
    files: usize,
}

/// Most files copied from one archive into the private root.
const MAX_FILES: usize = 50_000;

impl Copier<'_> {
    fn copy(&mut self, rel: &str, depth: usize) {
        if self.files >= MAX_FILES {
            return;
        }
        match self.view.stat(rel) {
            Some(Node::Dir) if depth < 8 => {
                for name in self.view.list(rel) {
                    self.copy(&format!("{rel}/{name}"), depth + 1);
                }
            }
            Some(Node::File { .. }) => {
                let bytes = match self.view.read(rel) {
                    Ok(b) => b,
                    Err(ArchiveError::Missing(_)) => return,
                    Err(e) => {
                        self.bad.insert(rel.to_string(), e.to_string());
                        return;
                    }
                };
                if bytes.is_empty() {
                    self.empty.insert(rel.to_string());
                }
                if bytes.contains(&0) && !rel.starts_with("proc/sys/") {
                    // Binary proc files nettune does not read (`rt_acct`) are left out quietly.
                    if PRIMARY.iter().any(|(_, f)| *f == rel) || USED.contains(&rel) {
                        self.bad.insert(
                            rel.to_string(),
                            ArchiveError::Binary(self.view.shown(rel)).to_string(),
                        );
                    }
                    return;
                }
                let dest = self.dest.join(rel);
                let ok = dest
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&dest, &bytes));
                if let Err(e) = ok {
                    self.bad
                        .insert(rel.to_string(), format!("{}: {e}", self.view.shown(rel)));
                }
                self.files += 1;
            }
            _ => {}
        }
    }
}

/// What [`read`] returns: the capture, and the texts of the sources parsed after merging.
#[derive(Debug)]
pub struct ArchiveRead {
    /// `nettune.capture/v1`: an all-zero snapshot at boot and the archive's (one snapshot
    /// when the uptime is unknown), with [`Capture::archive`] set.
    pub capture: Capture,
    /// The qdisc and kernel-log texts the snapshot's sources were parsed from (see
    /// [`PendingTexts`]).
    pub pending: PendingTexts,
}

/// Read the archive at `path` into a capture. Fails only when PATH is not an archive or
/// nothing at all could be read from it; problems with single members are listed in
/// [`ArchiveFacts::problems`] and the sources they affect say why.
pub fn read(path: &Path) -> Result<ArchiveRead, ArchiveError> {
    let archive = open(path)?;
    let v = &archive.view;
    let root_dir = archive.stage.path().join("root");
    let mut copier = Copier {
        view: v,
        dest: root_dir.clone(),
        empty: BTreeSet::new(),
        bad: BTreeMap::new(),
        files: 0,
    };
    for f in PROC_FILES {
        copier.copy(&format!("proc/{f}"), 1);
    }
    for dir in [
        "proc/net",
        "proc/sys/net",
        "proc/sys/fs/file-nr",
        "proc/sys/fs/file-max",
        "proc/sys/kernel/hostname",
        "proc/sys/kernel/osrelease",
        "proc/irq",
        "sys/devices/system/cpu/online",
        "sys/devices/system/cpu/possible",
        "sys/class/net",
        "etc/sysctl.conf",
    ] {
        copier.copy(dir, 1);
    }
    for dir in crate::collect::sysctl::CONFIG_DIRS {
        copier.copy(dir, 1);
    }
    let Copier { empty, bad, .. } = copier;
    let mut problems = archive.problems.clone();
    problems.extend(bad.values().cloned());

    let root = crate::Root::fixture(&root_dir);
    let options = CaptureOptions {
        config: true,
        ethtool: false,
        sockets: false,
        socket_processes: false,
    };
    let mut collector = Collector::new(root, options);
    let mut snap = collector.snapshot();
    let mut w = Warnings::default();
    let mut hw = Warnings::default();
    let mut hostfacts = host::read(&mut crate::root::FileBuf::new(), collector.root(), &mut hw);
    snap.warnings.extend(hw.0);
    snap = relabel(snap, &root_dir);
    // The collector's warnings about files the archive does not hold (IRQ affinity lists,
    // sysfs attributes) say nothing about the host.
    snap.warnings.retain(|x| {
        !(x.message.contains("No such file or directory")
            || x.message.contains("does not exist")
            || x.message.contains("unreadable"))
    });

    let shown = |rel: &str| v.shown(rel);
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for (source, file) in PRIMARY {
        let why = if empty.contains(file) {
            Some(format!("{} is empty", shown(file)))
        } else {
            bad.get(file).cloned()
        };
        let unsupported = snap
            .sources()
            .iter()
            .any(|(n, o)| *n == source && matches!(o, crate::collect::Outcome::Unsupported(_)));
        if let Some(why) = why {
            set_error(&mut snap, source, why);
        } else if v.stat(file).is_some() {
            from.insert(source.to_string(), file.to_string());
        } else if unsupported {
            // The collector's reason speaks of a kernel; the archive simply lacks the file.
            set_outcome(&mut snap, source, format!("{file}: not in archive"), true);
        }
    }
    let net = "sos_commands/networking";

    // netdev: `ip -s link` when /proc/net/dev is missing.
    if snap.netdev.ok().is_none() && !from.contains_key("netdev") {
        if let Some((rel, t)) = first_text(
            v,
            &[
                &format!("{net}/ip_-s_-d_link"),
                &format!("{net}/ip_-s_-s_-d_link"),
                &format!("{net}/ip_-s_link"),
                &format!("{net}/ip_-s_-s_link"),
                &format!("{net}/ip_-d_-s_link"),
            ],
            &mut problems,
        ) {
            snap.netdev = from_text(&rel, &t, |t| text::parse_ip_link(t, &mut w), &shown);
            from.insert("netdev".into(), rel);
        }
    }
    // netstat: `nstat -zas`, then `netstat -s`.
    if snap.netstat.ok().is_none() && !from.contains_key("netstat") {
        if let Some((rel, t)) = first_text(
            v,
            &[
                &format!("{net}/nstat_-zas"),
                &format!("{net}/nstat_-az"),
                &format!("{net}/nstat_-zsa"),
                &format!("{net}/nstat"),
            ],
            &mut problems,
        ) {
            snap.netstat = from_text(&rel, &t, |t| text::parse_nstat(t, &mut w), &shown);
            from.insert("netstat".into(), rel);
        } else if let Some((rel, t)) = first_text(
            v,
            &[
                &format!("{net}/netstat_-s"),
                &format!("{net}/netstat_-W_-s"),
            ],
            &mut problems,
        ) {
            snap.netstat = from_text(&rel, &t, text::parse_netstat_s, &shown);
            from.insert("netstat".into(), rel);
        }
    }
    // sysctl: `sysctl -a`, with /proc/sys's values over it where both exist.
    if let Some((rel, t)) = first_text(v, &["sos_commands/kernel/sysctl_-a"], &mut problems) {
        let mut merged = text::parse_sysctl_a(&t);
        if let Some(proc) = snap.sysctl.ok() {
            merged.extend(proc.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if merged.is_empty() {
            snap.sysctl = Source::error(format!("{}: no sysctl read", shown(&rel)));
        } else {
            let had_proc = snap.sysctl.ok().is_some_and(|s| !s.is_empty());
            snap.sysctl = Source::Ok(merged);
            from.insert(
                "sysctl".into(),
                if had_proc {
                    format!("proc/sys + {rel}")
                } else {
                    rel
                },
            );
        }
    } else if snap.sysctl.ok().is_some_and(|s| !s.is_empty()) {
        from.insert("sysctl".into(), "proc/sys".into());
    }
    // IRQ affinity: the collector finds no `proc/irq/N/*` list in most archives.
    for aff in [&mut snap.irq_affinity, &mut snap.irq_effective_affinity] {
        if aff.ok().is_some_and(|m| m.is_empty()) {
            *aff = Source::unsupported("not in archive (no proc/irq)");
        }
    }
    // conntrack: the table's fill from the sysctls when /proc/sys/net/netfilter is missing.
    if snap.conntrack.ok().is_none() {
        let get = |k: &str| {
            snap.sysctl
                .ok()
                .and_then(|s| s.get(k))
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let (Some(count), Some(max)) = (
            get("net.netfilter.nf_conntrack_count"),
            get("net.netfilter.nf_conntrack_max"),
        ) {
            snap.conntrack = Source::Ok(crate::collect::conntrack::Conntrack {
                count: Some(count),
                max: Some(max),
                buckets: get("net.netfilter.nf_conntrack_buckets"),
                stat: None,
            });
            from.insert(
                "conntrack".into(),
                "net.netfilter.nf_conntrack_{count,max} (sysctl)".into(),
            );
        }
    }
    if snap.sysctl.ok().is_some_and(|s| s.is_empty()) {
        snap.sysctl = Source::unsupported("not in archive (no proc/sys, no sysctl -a)");
    }
    // sockets: `ss`.
    snap.sockets = match first_text(
        v,
        &[
            &format!("{net}/ss_-peaonmi"),
            &format!("{net}/ss_-peaonm"),
            &format!("{net}/ss_-tanp"),
            &format!("{net}/ss_-tan"),
            &format!("{net}/ss_-anp"),
        ],
        &mut problems,
    ) {
        Some((rel, t)) => {
            let s = from_text(&rel, &t, |t| text::parse_ss(t, &mut w), &shown);
            // The processes holding the netlink sockets that dropped, where `ss -p -e`
            // shows them (the live collector looks them up in /proc/*/fd).
            if let Some(n) = snap.netlink.ok_mut().filter(|n| !n.dropping.is_empty()) {
                let owners = text::ss_netlink_owners(&t);
                if !owners.is_empty() {
                    for d in &mut n.dropping {
                        d.owner = owners
                            .get(&d.inode)
                            .cloned()
                            .unwrap_or(crate::collect::sockets::Owner::NotFound);
                    }
                }
            }
            from.insert("sockets".into(), rel);
            s
        }
        None => Source::unsupported("not in archive (no ss output)"),
    };
    // interfaces: `ip -d link` when sysfs is missing; a device whose ethtool bus-info names
    // a bus device is physical, its driver and speed from ethtool.
    if snap.interfaces.ok().is_none() {
        if let Some((rel, t)) = first_text(
            v,
            &[
                &format!("{net}/ip_-s_-d_link"),
                &format!("{net}/ip_-d_link"),
                &format!("{net}/ip_-s_-s_-d_link"),
                &format!("{net}/ip_-d_-s_link"),
            ],
            &mut problems,
        ) {
            let ifaces = text::parse_ip_link_config(&t);
            if !ifaces.is_empty() {
                snap.interfaces = Source::Ok(ifaces);
                from.insert("interfaces".into(), format!("{rel} + ethtool -i"));
            }
        }
    }
    // ethtool: the text outputs of every device that has one.
    let devices = ethtool_devices(v, &snap);
    let mut all = EthtoolAll::new();
    for dev in devices {
        let e = ethtool_of(v, &dev, &mut w);
        if e != Ethtool::default() {
            all.insert(dev, e);
        }
    }
    if let (Some(ifaces), false) = (snap.interfaces.ok_mut(), all.is_empty()) {
        if from
            .get("interfaces")
            .is_some_and(|f| f.ends_with("ethtool -i"))
        {
            for (name, i) in ifaces.iter_mut() {
                let Some(e) = all.get(name) else { continue };
                if let Some(d) = e.driver.ok() {
                    i.driver = Some(d.driver.clone()).filter(|d| !d.is_empty());
                    let bus = d.bus_info.trim();
                    if !bus.is_empty()
                        && bus != "N/A"
                        && bus != "tap"
                        && i.kind == Default::default()
                    {
                        i.kind = crate::collect::interfaces::InterfaceKind::Physical;
                        i.device = Some(bus.to_string());
                    }
                }
                if let Some(l) = e.link.ok() {
                    i.speed_mbps = l.speed_mbps;
                    i.duplex = l.duplex.clone();
                }
            }
        }
    }
    snap.ethtool = if all.is_empty() {
        Source::unsupported("not in archive (no ethtool output)")
    } else {
        from.insert("ethtool".into(), format!("{net}/ethtool_*"));
        Source::Ok(all)
    };
    if snap.sysctl_config.ok().is_some_and(|c| !c.is_empty()) {
        from.insert(
            "sysctl_config".into(),
            "etc/sysctl.conf, etc/sysctl.d".into(),
        );
    } else if snap.sysctl_config.ok().is_some() {
        snap.sysctl_config = Source::unsupported("not in archive (no sysctl.conf, no sysctl.d)");
    }
    for (name, outcome) in snap.sources() {
        if outcome.is_ok() && !from.contains_key(name) {
            if let Some((_, file)) = PRIMARY.iter().find(|(s, _)| *s == name) {
                from.insert(name.to_string(), (*file).to_string());
            }
        }
    }
    replace_not_found(&mut snap);

    // Host facts: uname/hostname from the archive; the page size is this machine's.
    let uname = first_text(v, &["uname", "sos_commands/kernel/uname_-a"], &mut problems)
        .and_then(|(_, t)| text::parse_uname(&t));
    if v.stat("proc/stat").is_none() {
        // No /proc/stat to count CPUs in: `processor` lines of /proc/cpuinfo.
        if let Ok(Some(t)) = v.text("proc/cpuinfo") {
            let n = t.lines().filter(|l| l.starts_with("processor")).count();
            if let Ok(n @ 1..) = u32::try_from(n) {
                hostfacts.cpus = n;
                hostfacts.cpus_online = (0..n).collect();
            }
        }
    }
    if let Some((h, k)) = &uname {
        hostfacts.hostname = h.clone();
        hostfacts.kernel = k.clone();
    }
    if let Some((_, h)) = first_text(
        v,
        &["hostname", "sos_commands/host/hostname", "etc/hostname"],
        &mut problems,
    ) {
        if let Some(h) = h.lines().next().map(str::trim).filter(|h| !h.is_empty()) {
            hostfacts.hostname = h.to_string();
        }
    }
    let uptime = first_text(
        v,
        &["uptime", "sos_commands/host/uptime", "proc/uptime"],
        &mut problems,
    )
    .and_then(|(_, t)| text::parse_uptime(&t))
    .filter(|&s| s > 0);
    let date = first_text(
        v,
        &[
            "sos_commands/date/date_--utc",
            "sos_commands/date/date",
            "date",
        ],
        &mut problems,
    )
    .map(|(_, t)| t.lines().next().unwrap_or("").trim().to_string());
    let collected_unix = date.as_deref().and_then(text::parse_date_utc);

    let mut pending = PendingTexts::default();
    for name in v.list(net) {
        if name.starts_with("tc_-s_qdisc") {
            let rel = format!("{net}/{name}");
            if let Some((rel, t)) = first_text(v, &[&rel], &mut problems) {
                pending.tc_qdisc.push((rel, t));
            }
        }
    }
    pending.kernel_log = first_text(
        v,
        &[
            "var/log/kern.log",
            "sos_commands/kernel/dmesg",
            // A supportconfig's `/bin/dmesg -T`, sos's `dmesg -T` / `dmesg -r` variants.
            "sos_commands/kernel/dmesg_-T",
            "sos_commands/kernel/dmesg_-r",
        ],
        &mut problems,
    );
    // The qdiscs and the kernel log come from the archive's text outputs only: the
    // collector above said "live host only" for both (it never dumps this machine's qdiscs
    // nor reads its /dev/kmsg for a fixture root), and both are always replaced here.
    snap.qdisc = match pending.tc_qdisc.first() {
        Some((rel, t)) => {
            from.insert("qdisc".into(), rel.clone());
            from_text(
                rel,
                t,
                |t| crate::collect::qdisc::parse_tc_text(t, &mut w),
                &shown,
            )
        }
        None => Source::unsupported("not in archive (no tc -s qdisc output)"),
    };
    snap.kernel_log = match &pending.kernel_log {
        Some((rel, t)) => {
            // The counters are since boot: so is the log (kern.log keeps earlier boots).
            let (t, first) = current_boot(t);
            from.insert(
                "kernel_log".into(),
                match first {
                    Some(n) => format!("{rel} (current boot: from line {n})"),
                    None => rel.clone(),
                },
            );
            from_text(rel, t, crate::collect::kmsg::parse_log_text, &shown)
        }
        None => Source::unsupported("not in archive (no kern.log, no dmesg)"),
    };
    // netlink and neigh are read from the archive's proc/net through the private root.
    for (source, files) in [
        ("netlink", &["proc/net/netlink"][..]),
        (
            "neigh",
            &["proc/net/stat/arp_cache", "proc/net/stat/ndisc_cache"][..],
        ),
    ] {
        let ok = snap
            .sources()
            .iter()
            .any(|(n, o)| *n == source && o.is_ok());
        if ok {
            let held: Vec<&str> = files
                .iter()
                .copied()
                .filter(|f| v.stat(f).is_some())
                .collect();
            from.insert(source.into(), held.join(", "));
        } else if files.iter().all(|f| v.stat(f).is_none()) {
            let why = format!("not in archive (no {})", files.join(", no "));
            match source {
                "netlink" => snap.netlink = Source::unsupported(why),
                _ => snap.neigh = Source::unsupported(why),
            }
        }
    }

    snap.warnings.extend(w.0);
    let read_any = snap.sources().iter().any(|(_, o)| o.is_ok());
    if !read_any {
        let why = problems
            .first()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        return Err(ArchiveError::Empty(path.display().to_string(), why));
    }
    let up_ns = uptime.map(|s| s.saturating_mul(1_000_000_000));
    snap.taken_at_ns = up_ns.unwrap_or(1);
    snap.unix_time = collected_unix.map_or(0.0, |t| t as f64);
    snap.collect_seconds.clear();
    let mut snapshots = Vec::new();
    if let Some(up) = uptime {
        let mut boot = at_boot(&snap);
        boot.unix_time = collected_unix.map_or(0.0, |t| (t - up as i64) as f64);
        snapshots.push(boot);
    }
    snapshots.push(snap);
    let facts = ArchiveFacts {
        path: path.display().to_string(),
        format: archive.format.clone(),
        kind: archive.kind,
        collected: date,
        collected_unix,
        uptime_seconds: uptime,
        read_from: from,
        problems,
        kernel_log: pending.kernel_log.as_ref().map(|(p, _)| p.clone()),
        tc_qdisc: pending.tc_qdisc.iter().map(|(p, _)| p.clone()).collect(),
    };
    Ok(ArchiveRead {
        capture: Capture {
            schema: CAPTURE_SCHEMA.to_string(),
            host: hostfacts,
            netns: None,
            snapshots,
            drops: Source::unsupported("not in archive (kernel drop reasons are counted live)"),
            archive: Some(facts),
        },
        pending,
    })
}

/// The first of `candidates` the archive holds, as text; a member that is there but cannot
/// be read as text is a problem and the next candidate is tried.
fn first_text(
    v: &View,
    candidates: &[&str],
    problems: &mut Vec<String>,
) -> Option<(String, String)> {
    for rel in candidates {
        match v.text(rel) {
            Ok(Some(t)) => return Some(((*rel).to_string(), t)),
            Ok(None) => {}
            Err(e) => {
                let line = e.to_string();
                if !problems.contains(&line) {
                    problems.push(line);
                }
            }
        }
    }
    None
}

/// The part of a kernel log from the current boot on: from its last `Linux version …`
/// banner (the kernel's first line at boot), with that line's number when earlier boots
/// precede it; the whole text when it holds one boot or no banner.
fn current_boot(text: &str) -> (&str, Option<usize>) {
    let mut start = None;
    let mut at = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.contains("] Linux version ") || line.contains(" kernel: Linux version ") {
            start = Some((at, i + 1));
        }
        at += line.len();
    }
    match start {
        Some((offset, line)) if offset > 0 => (&text[offset..], Some(line)),
        _ => (text, None),
    }
}

/// Parse `t` from `rel`, or say it is empty.
fn from_text<T>(
    rel: &str,
    t: &str,
    parse: impl FnOnce(&str) -> Source<T>,
    shown: &dyn Fn(&str) -> String,
) -> Source<T> {
    if t.trim().is_empty() {
        return Source::error(format!("{} is empty", shown(rel)));
    }
    match parse(t) {
        Source::Error { error } => Source::error(format!("{}: {error}", shown(rel))),
        other => other,
    }
}

/// Devices with ethtool output: every device the snapshot knows and every
/// `ethtool_-S_<dev>` / `ethtool_-i_<dev>` file.
fn ethtool_devices(v: &View, snap: &Snapshot) -> BTreeSet<String> {
    let mut devs: BTreeSet<String> = snap
        .netdev
        .ok()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    for name in v.list("sos_commands/networking") {
        for prefix in ["ethtool_-S_", "ethtool_-i_"] {
            if let Some(dev) = name.strip_prefix(prefix) {
                devs.insert(dev.to_string());
            }
        }
    }
    devs
}

/// One device's ethtool view from its text outputs.
fn ethtool_of(v: &View, dev: &str, w: &mut Warnings) -> Ethtool {
    let file = |opt: &str| format!("sos_commands/networking/ethtool_{opt}{dev}");
    let get = |opt: &str| -> Result<Option<String>, String> {
        v.text(&file(opt)).map_err(|e| e.to_string())
    };
    fn pick<T>(
        r: Result<Option<String>, String>,
        parse: impl FnOnce(&str) -> Source<T>,
    ) -> Source<T> {
        match r {
            Ok(Some(t)) if t.trim().is_empty() => Source::error("empty output"),
            Ok(Some(t)) => parse(&t),
            Ok(None) => Source::unsupported("not in archive"),
            Err(e) => Source::error(e),
        }
    }
    Ethtool {
        driver: pick(get("-i_"), parse_ethtool_i_text),
        link: pick(get(""), |t| Source::Ok(parse_ethtool_settings_text(t))),
        rings: pick(get("-g_"), crate::collect::ethtool::text::parse_ethtool_g),
        channels: pick(get("-l_"), crate::collect::ethtool::text::parse_ethtool_l),
        coalesce: pick(get("-c_"), crate::collect::ethtool::text::parse_ethtool_c),
        features: pick(get("-k_"), crate::collect::ethtool::text::parse_ethtool_k),
        stats: pick(get("-S_"), |t| {
            if t.contains("no stats available") {
                Source::unsupported("no driver statistics")
            } else {
                parse_ethtool_s_text(t, w)
            }
        }),
    }
}

/// Set source `name`'s outcome to an error.
fn set_error(snap: &mut Snapshot, name: &str, why: String) {
    set_outcome(snap, name, why, false);
}

/// Set source `name` (one of [`PRIMARY`]'s) to an error, or to unsupported.
fn set_outcome(snap: &mut Snapshot, name: &str, why: String, unsupported: bool) {
    fn mk<T>(why: String, unsupported: bool) -> Source<T> {
        if unsupported {
            Source::unsupported(why)
        } else {
            Source::error(why)
        }
    }
    match name {
        "softnet" => snap.softnet = mk(why, unsupported),
        "netdev" => snap.netdev = mk(why, unsupported),
        "netstat" => snap.netstat = mk(why, unsupported),
        "sockstat" => snap.sockstat = mk(why, unsupported),
        "softirqs" => snap.softirqs = mk(why, unsupported),
        "cpu_times" => snap.cpu_times = mk(why, unsupported),
        "interrupts" => snap.interrupts = mk(why, unsupported),
        "conntrack" => snap.conntrack = mk(why, unsupported),
        _ => {}
    }
}

/// The snapshot with the private root's path taken out of every message and file name
/// (`<tmp>/root/etc/sysctl.d/x.conf` → `etc/sysctl.d/x.conf`).
fn relabel(snap: Snapshot, root: &Path) -> Snapshot {
    let prefix = format!("{}/", root.display());
    let Ok(json) = serde_json::to_string(&snap) else {
        return snap;
    };
    // Paths are JSON strings; the private directory's name is random, so it matches nothing
    // else.
    let escaped = serde_json::to_string(&prefix).unwrap_or_default();
    let inner = escaped.trim_matches('"');
    serde_json::from_str(&json.replace(inner, "")).unwrap_or(snap)
}

/// Say "not in archive" where a collector said a file does not exist.
fn replace_not_found(snap: &mut Snapshot) {
    let Ok(json) = serde_json::to_string(&*snap) else {
        return;
    };
    let fixed = json.replace(
        " does not exist (not provided by this kernel or not mounted)",
        ": not in archive",
    );
    if let Ok(s) = serde_json::from_str(&fixed) {
        *snap = s;
    }
}

/// The snapshot "at boot": every counter of `snap` zero, its configuration the same. With it
/// as the older snapshot of a window of `uptime` seconds, every rate is the average since boot.
pub fn at_boot(snap: &Snapshot) -> Snapshot {
    let mut b = snap.clone();
    b.taken_at_ns = 0;
    b.warnings.clear();
    if let Some(cpus) = b.softnet.ok_mut() {
        for c in cpus {
            let (cpu, backlog) = (c.cpu, c.backlog_len);
            let zero = |v: &mut Option<u32>| {
                if v.is_some() {
                    *v = Some(0)
                }
            };
            c.processed = 0;
            c.dropped = 0;
            c.time_squeeze = 0;
            zero(&mut c.cpu_collision);
            zero(&mut c.received_rps);
            zero(&mut c.flow_limit_count);
            zero(&mut c.input_qlen);
            zero(&mut c.process_qlen);
            c.extra.iter_mut().for_each(|v| *v = 0);
            c.cpu = cpu;
            c.backlog_len = backlog.map(|_| 0);
        }
    }
    if let Some(d) = b.netdev.ok_mut() {
        d.values_mut().for_each(|c| *c = Default::default());
    }
    if let Some(n) = b.netstat.ok_mut() {
        n.values_mut()
            .for_each(|s| s.values_mut().for_each(|v| *v = 0));
    }
    if let Some(s) = b.softirqs.ok_mut() {
        s.values_mut()
            .for_each(|v| v.iter_mut().for_each(|x| *x = 0));
    }
    if let Some(t) = b.cpu_times.ok_mut() {
        for c in t {
            *c = crate::collect::softirqs::CpuTimes {
                cpu: c.cpu,
                ..Default::default()
            };
        }
    }
    if let Some(i) = b.interrupts.ok_mut() {
        for l in &mut i.lines {
            l.counts.iter_mut().for_each(|x| *x = 0);
        }
    }
    if let Some(c) = b.conntrack.ok_mut() {
        if let Some(stat) = &mut c.stat {
            stat.iter_mut().for_each(|s| *s = Default::default());
        }
    }
    if let Some(all) = b.ethtool.ok_mut() {
        for e in all.values_mut() {
            if let Some(s) = e.stats.ok_mut() {
                s.0.iter_mut().for_each(|(_, v)| *v = 0);
            }
        }
    }
    if let Some(q) = b.qdisc.ok_mut() {
        for x in q.iter_mut() {
            (x.bytes, x.packets, x.drops, x.overlimits, x.requeues) = (0, 0, 0, 0, 0);
            (x.backlog_bytes, x.backlog_packets) = (0, 0);
        }
    }
    if let Some(n) = b.netlink.ok_mut() {
        for s in &mut n.dropping {
            (s.drops, s.rmem) = (0, 0);
        }
    }
    if let Some(n) = b.neigh.ok_mut() {
        // Empty tables, no event counted yet.
        n.values_mut().for_each(|t| *t = Default::default());
    }
    if let Some(l) = b.kernel_log.ok_mut() {
        // Nothing was logged before boot.
        *l = crate::collect::kmsg::KernelLog::new(l.span);
    }
    if let Some(s) = b.sockets.ok_mut() {
        for l in &mut s.listeners {
            l.accept_queue = 0;
        }
        if let Some(u) = s.udp.ok_mut() {
            u.drops_total = 0;
            for sock in &mut u.top_drops {
                sock.drops = sock.drops.map(|_| 0);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests;
