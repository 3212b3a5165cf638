//! `tune --persist`: the boot-time configuration of an applied transaction, in the
//! ecosystem's own formats, under a root directory (`--persist-root`, default `/`):
//!
//! - sysctls: `etc/sysctl.d/60-nettune.conf`, one line per key with a provenance comment
//!   (finding, transaction, date); merged with the file earlier transactions wrote (later wins);
//! - NIC settings systemd can express (rings, channels, common offloads, coalescing, MTU,
//!   queue length): `etc/systemd/network/60-nettune-IFACE.link`;
//! - everything else (RPS, RFS, XPS, IRQ affinity, other features): `etc/nettune/boot-plan.json`
//!   applied at boot by `etc/systemd/system/nettune-apply.service`
//!   (`nettune tune --plan /etc/nettune/boot-plan.json --apply --yes`).
//!
//! Every file is announced in the journal (path, previous content or absence, new content,
//! fsynced) before it is written, so `rollback` restores or removes exactly what was written.

use super::journal::{FileRecord, Journal, Record, Recorder};
use super::knob::{Knob, Persistent};
use crate::change::Change;
use crate::{Error, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `etc/sysctl.d/60-nettune.conf`, relative to the persist root.
pub const SYSCTL_CONF: &str = "etc/sysctl.d/60-nettune.conf";
/// `etc/nettune/boot-plan.json`, relative to the persist root.
pub const BOOT_PLAN: &str = "etc/nettune/boot-plan.json";
/// `etc/systemd/system/nettune-apply.service`, relative to the persist root.
pub const UNIT: &str = "etc/systemd/system/nettune-apply.service";

/// One applied change to persist, with where it came from.
#[derive(Debug, Clone)]
pub struct Item {
    pub change: Change,
    /// Finding id that justified it.
    pub finding: String,
}

/// Provenance of a transaction's lines.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub transaction: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Namespace the changes were applied in, if not the host's.
    pub netns: Option<String>,
}

impl Provenance {
    fn comment(&self, finding: &str) -> String {
        let ns = self
            .netns
            .as_deref()
            .map(|n| format!(", applied in netns {n}"))
            .unwrap_or_default();
        format!(
            "# finding {finding}, transaction {}, {}{ns}",
            self.transaction, self.date
        )
    }
}

const SYSCTL_HEADER: &str = "# Written by nettune tune --persist. Each setting names the finding and \
transaction it came from;\n# `nettune rollback ID` restores this file as it was before that transaction.\n";

/// Comment blocks ending in a `key = value` line, keyed by the key (header comments dropped).
fn blocks(text: &str, header: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        if header.lines().any(|h| h == line) {
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        pending.push_str(line);
        pending.push('\n');
        if t.starts_with('#') || t.starts_with(';') || t.starts_with('[') {
            continue;
        }
        let key = t
            .split_once('=')
            .map_or(t, |(k, _)| k)
            .trim()
            .trim_start_matches('-')
            .to_string();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(b) => b.1 = std::mem::take(&mut pending),
            None => out.push((key, std::mem::take(&mut pending))),
        }
    }
    out
}

fn merge(existing: Option<&str>, header: &str, new: &[(String, String)]) -> String {
    let mut b = existing.map(|t| blocks(t, header)).unwrap_or_default();
    for (key, block) in new {
        match b.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = block.clone(),
            None => b.push((key.clone(), block.clone())),
        }
    }
    let mut s = header.to_string();
    for (_, block) in b {
        s.push('\n');
        s.push_str(&block);
    }
    s
}

/// How `c` survives a reboot (`None` when its target does not parse).
fn persistent(c: &Change) -> Option<Persistent> {
    Knob::parse(c).ok().map(|k| k.persistent(&c.proposed))
}

/// The new `60-nettune.conf`: `existing` with these sysctls set (later wins).
pub fn sysctl_conf(existing: Option<&str>, items: &[Item], p: &Provenance) -> String {
    let new: Vec<(String, String)> = items
        .iter()
        .filter_map(|i| match persistent(&i.change)? {
            Persistent::SysctlD { key, value } => Some((
                key.clone(),
                format!("{}\n{key} = {value}\n", p.comment(&i.finding)),
            )),
            Persistent::Link { .. } | Persistent::BootPlan { .. } | Persistent::Application => None,
        })
        .collect();
    merge(existing, SYSCTL_HEADER, &new)
}

/// The systemd.link `[Link]` key and value for a change, when systemd can express it
/// ([`Knob::link_setting`]).
pub fn link_setting(c: &Change) -> Option<(&'static str, String)> {
    Knob::parse(c).ok()?.link_setting(&c.proposed)
}

/// The interface of a per-device change that a `.link` file can carry.
fn link_iface(c: &Change) -> Option<String> {
    match persistent(c)? {
        Persistent::Link { iface, .. } => Some(iface),
        Persistent::SysctlD { .. } | Persistent::BootPlan { .. } | Persistent::Application => None,
    }
}

fn link_header(iface: &str) -> String {
    format!(
        "# Written by nettune tune --persist for {iface}: applied by udev when the device appears.\n\
         # The first matching .link file wins, so the naming and MAC policies of 99-default.link\n\
         # are repeated here.\n\
         [Match]\n\
         OriginalName={iface}\n\
         \n\
         [Link]\n\
         NamePolicy=keep kernel database onboard slot path\n\
         AlternativeNamesPolicy=database onboard slot path\n\
         MACAddressPolicy=persistent\n"
    )
}

/// The new `60-nettune-IFACE.link`: `existing` with these settings (later wins).
pub fn link_file(existing: Option<&str>, iface: &str, items: &[Item], p: &Provenance) -> String {
    let new: Vec<(String, String)> = items
        .iter()
        .filter(|i| link_iface(&i.change).as_deref() == Some(iface))
        .filter_map(|i| {
            let (key, value) = link_setting(&i.change)?;
            Some((
                key.to_string(),
                format!("{}\n{key}={value}\n", p.comment(&i.finding)),
            ))
        })
        .collect();
    merge(existing, &link_header(iface), &new)
}

/// Whether a change goes to the boot plan (not sysctl.d, not a `.link` file).
fn needs_unit(c: &Change) -> bool {
    matches!(persistent(c), Some(Persistent::BootPlan { .. }))
}

/// The new boot plan: `existing` (a JSON array of changes) with these changes (later wins).
pub fn boot_plan(existing: Option<&str>, items: &[Item], p: &Provenance) -> String {
    let mut list: Vec<Value> = existing
        .and_then(|t| serde_json::from_str::<Vec<Value>>(t).ok())
        .unwrap_or_default();
    for i in items.iter().filter(|i| needs_unit(&i.change)) {
        let c = &i.change;
        let v = json!({"kind": c.kind, "target": c.target, "proposed": c.proposed,
                       "finding": i.finding, "transaction": p.transaction, "date": p.date});
        match list
            .iter_mut()
            .find(|e| e["kind"] == json!(c.kind) && e["target"] == json!(c.target))
        {
            Some(slot) => *slot = v,
            None => list.push(v),
        }
    }
    let mut s = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

/// The oneshot unit that applies the boot plan with `exe`: the packaged, hardened
/// `deploy/systemd/nettune-apply.service` (root with `CAP_NET_ADMIN` only, scored by
/// `systemd-analyze security` in CI) with `exe` as its binary.
pub fn unit(exe: &str) -> String {
    const PACKAGED: &str = include_str!("../../deploy/systemd/nettune-apply.service");
    format!(
        "# Written by nettune tune --persist.\n{}",
        PACKAGED.replace("ExecStart=/usr/bin/nettune ", &format!("ExecStart={exe} "))
    )
}

/// Mode of every boot-time file (root writes, everyone reads, as packages install them).
const FILE_MODE: u32 = 0o644;

/// `path` names one of the files `--persist` writes: `SYSCTL_CONF`, `BOOT_PLAN`, `UNIT`,
/// its `multi-user.target.wants` copy or `etc/systemd/network/60-nettune-IFACE.link`, under
/// any root, without `..`. A journal record naming anything else (a tampered or foreign
/// journal) is never written or deleted.
pub fn known_path(path: &Path) -> bool {
    use std::path::Component;
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return false;
    }
    let fixed = [
        SYSCTL_CONF,
        BOOT_PLAN,
        UNIT,
        "etc/systemd/system/multi-user.target.wants/nettune-apply.service",
    ];
    if fixed.iter().any(|f| path.ends_with(f)) {
        return true;
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let iface = name
        .strip_prefix("60-nettune-")
        .and_then(|n| n.strip_suffix(".link"));
    path.parent()
        .is_some_and(|p| p.ends_with("etc/systemd/network"))
        && iface.is_some_and(|i| {
            !i.is_empty() && i.len() <= 15 && !i.starts_with('.') && !i.contains(['/', '\0'])
        })
}

fn check_known(path: &Path) -> Result<()> {
    if known_path(path) {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "{}: not a file nettune --persist writes; the journal naming it was not written \
             by nettune, so nothing is written or deleted",
            path.display()
        )))
    }
}

/// The file's text, `None` when it does not exist. A symlink is refused (its target would
/// be journaled as the file's previous content and then overwritten).
fn read_opt(path: &Path) -> Result<Option<String>> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Refused(format!(
            "{}: is a symlink; nettune does not write through symlinks (remove it)",
            path.display()
        )));
    }
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Write `text` to `path` durably with [`crate::durable::write_atomic`] (random temporary
/// name created exclusively without following links, fsync, rename, fsync of the directory;
/// a symlink at `path` is refused).
fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::durable::write_atomic(path, text.as_bytes(), FILE_MODE)
}

/// Remove `path` (a file `--persist` created) and fsync its directory; gone already is fine.
fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    }
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => crate::durable::Dir::open(dir)?.sync(),
        None => Ok(()),
    }
}

/// Journal, then write, one file. Unchanged files are left alone (and not journaled).
fn put(j: &mut Journal, path: PathBuf, text: String, out: &mut Vec<PathBuf>) -> Result<()> {
    let previous = read_opt(&path)?;
    if previous.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    j.append(&Record::File {
        path: path.display().to_string(),
        previous,
        written: text.clone(),
    })?;
    write_file(&path, &text)?;
    out.push(path);
    Ok(())
}

/// Write the boot-time configuration of `items` under `root`, journaling each file in `j`
/// first. `exe` is the nettune binary the boot unit runs. Returns the files written.
pub fn persist(
    root: &Path,
    j: &mut Journal,
    items: &[Item],
    p: &Provenance,
    exe: &str,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if items
        .iter()
        .any(|i| matches!(persistent(&i.change), Some(Persistent::SysctlD { .. })))
    {
        let path = root.join(SYSCTL_CONF);
        let text = sysctl_conf(read_opt(&path)?.as_deref(), items, p);
        put(j, path, text, &mut out)?;
    }
    let mut ifaces: Vec<String> = items.iter().filter_map(|i| link_iface(&i.change)).collect();
    ifaces.sort_unstable();
    ifaces.dedup();
    for iface in ifaces {
        if iface.is_empty() || iface.contains(['/', '\0']) || iface.starts_with('.') {
            return Err(Error::Input(format!("invalid interface name {iface:?}")));
        }
        let path = root.join(format!("etc/systemd/network/60-nettune-{iface}.link"));
        let text = link_file(read_opt(&path)?.as_deref(), &iface, items, p);
        put(j, path, text, &mut out)?;
    }
    if items.iter().any(|i| needs_unit(&i.change)) {
        let path = root.join(BOOT_PLAN);
        let text = boot_plan(read_opt(&path)?.as_deref(), items, p);
        put(j, path, text, &mut out)?;
        put(j, root.join(UNIT), unit(exe), &mut out)?;
        let wants = root.join("etc/systemd/system/multi-user.target.wants/nettune-apply.service");
        put(j, wants, unit(exe), &mut out)?;
    }
    Ok(out)
}

/// Check that every file of a transaction still holds what it wrote (a later transaction
/// that rewrote it must be rolled back first).
pub fn check_files(files: &[FileRecord]) -> Result<()> {
    for f in files {
        check_known(&f.path)?;
        let now = read_opt(&f.path)?;
        if now.as_deref() != Some(f.written.as_str()) {
            return Err(Error::Refused(format!(
                "{} changed since this transaction wrote it (a later transaction or an edit); \
                 roll back later transactions first or restore it by hand",
                f.path.display()
            )));
        }
    }
    Ok(())
}

/// Restore every file of a transaction, newest first: its previous content, or removed when
/// it did not exist. Each restore is journaled. A file that fails does not stop the others;
/// returns the files restored and what failed (a journal that cannot be written keeps its
/// errors in `j`).
pub fn restore_files(j: &mut Recorder, files: &[FileRecord]) -> (Vec<PathBuf>, Vec<String>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for f in files.iter().rev() {
        let result = check_known(&f.path).and_then(|()| match &f.previous {
            Some(text) => write_file(&f.path, text),
            None => remove_file(&f.path),
        });
        match result {
            Ok(()) => {
                j.record(&Record::FileRestored {
                    path: f.path.display().to_string(),
                });
                done.push(f.path.clone());
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (done, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;

    fn prov(tx: &str) -> Provenance {
        Provenance {
            transaction: tx.into(),
            date: "2026-11-24".into(),
            netns: None,
        }
    }

    fn item(kind: ChangeKind, target: &str, v: &str) -> Item {
        Item {
            change: Change::new(kind, target, None, v),
            finding: "f.x".into(),
        }
    }

    #[test]
    fn sysctl_conf_has_provenance_and_later_wins() {
        let a = sysctl_conf(
            None,
            &[
                item(ChangeKind::Sysctl, "net.core.somaxconn", "4096"),
                item(
                    ChangeKind::Sysctl,
                    "net.ipv4.tcp_rmem",
                    "4096\t131072  6291456",
                ),
                item(ChangeKind::Rps, "eth0 rx-0", "3"),
            ],
            &prov("T1"),
        );
        assert!(a.starts_with("# Written by nettune"));
        assert!(
            a.contains("# finding f.x, transaction T1, 2026-11-24\nnet.core.somaxconn = 4096\n")
        );
        assert!(a.contains("net.ipv4.tcp_rmem = 4096 131072 6291456\n"));
        assert!(!a.contains("rx-0"));
        let b = sysctl_conf(
            Some(&a),
            &[item(ChangeKind::Sysctl, "net.core.somaxconn", "8192")],
            &prov("T2"),
        );
        assert!(b.contains("transaction T2, 2026-11-24\nnet.core.somaxconn = 8192\n"));
        assert!(
            !b.contains("somaxconn = 4096") && !b.contains("T1, 2026-11-24\nnet.core.somaxconn")
        );
        assert!(
            b.contains("transaction T1, 2026-11-24\nnet.ipv4.tcp_rmem"),
            "{b}"
        );
        assert_eq!(b.matches("# Written by nettune").count(), 1);
        // somaxconn keeps its place (first).
        assert!(b.find("somaxconn").unwrap() < b.find("tcp_rmem").unwrap());
    }

    #[test]
    fn link_file_carries_what_systemd_can_express() {
        let items = [
            item(ChangeKind::Ring, "eth0 rx", "4096"),
            item(ChangeKind::Channels, "eth0 combined", "8"),
            item(ChangeKind::Feature, "eth0 rx-gro", "on"),
            item(ChangeKind::Feature, "eth0 tx-tcp-segmentation", "off"),
            item(ChangeKind::Coalesce, "eth0 rx-usecs", "128"),
            item(ChangeKind::Coalesce, "eth0 adaptive-rx", "off"),
            item(ChangeKind::Ring, "eth1 tx", "1024"),
            item(ChangeKind::Feature, "eth0 rx-udp-gro-forwarding", "on"),
        ];
        let f = link_file(None, "eth0", &items, &prov("T1"));
        for want in [
            "[Match]\nOriginalName=eth0\n",
            "\nRxBufferSize=4096\n",
            "\nCombinedChannels=8\n",
            "\nGenericReceiveOffload=yes\n",
            "\nTCPSegmentationOffload=no\n",
            "\nRxCoalesceSec=128us\n",
            "\nUseAdaptiveRxCoalesce=no\n",
            "# finding f.x, transaction T1, 2026-11-24\nRxBufferSize",
        ] {
            assert!(f.contains(want), "{want:?} in\n{f}");
        }
        assert!(!f.contains("1024") && !f.contains("udp-gro"));
        let g = link_file(
            Some(&f),
            "eth0",
            &[item(ChangeKind::Ring, "eth0 rx", "2048")],
            &prov("T2"),
        );
        assert!(g.contains("\nRxBufferSize=2048\n") && !g.contains("RxBufferSize=4096"));
        assert!(g.contains("\nCombinedChannels=8\n"));
        assert_eq!(g.matches("[Match]").count(), 1);
        assert_eq!(g.matches("NamePolicy=").count(), 1);
        // What the .link cannot express goes to the boot plan.
        let plan = boot_plan(None, &items, &prov("T1"));
        let v: Vec<Value> = serde_json::from_str(&plan).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0]["target"], "eth0 rx-udp-gro-forwarding");
        assert!(unit("/usr/sbin/nettune").contains(
            "ExecStart=/usr/sbin/nettune tune --plan /etc/nettune/boot-plan.json --apply --yes"
        ));
    }

    /// The report's "make it permanent" line and the `.link` file `--persist` writes come from
    /// the same knob: they cannot disagree on a key again (`RXBufferSize` vs `RxBufferSize`).
    #[test]
    fn report_form_and_link_file_agree() {
        let items = [
            item(ChangeKind::Ring, "eth0 rx", "4096"),
            item(ChangeKind::Ring, "eth0 tx", "1024"),
            item(ChangeKind::Channels, "eth0 combined", "8"),
            item(ChangeKind::Coalesce, "eth0 rx-usecs", "128"),
            item(ChangeKind::Coalesce, "eth0 rx-frames", "64"),
            item(ChangeKind::Coalesce, "eth0 adaptive-tx", "on"),
            item(ChangeKind::Feature, "eth0 rx-gro-hw", "off"),
            item(ChangeKind::Mtu, "eth0", "9000"),
            item(ChangeKind::Txqueuelen, "eth0", "10000"),
        ];
        let f = link_file(None, "eth0", &items, &prov("T1"));
        for i in &items {
            let form = i.change.persistent_form();
            let line = form
                .strip_prefix("systemd .link [Link] ")
                .unwrap_or_else(|| panic!("{}: {form}", i.change));
            assert!(f.contains(&format!("\n{line}\n")), "{line} in\n{f}");
        }
        assert!(boot_plan(None, &items, &prov("T1")).trim() == "[]");
    }

    #[test]
    fn persist_journals_each_file_and_restore_undoes_it() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let conf = root.path().join(SYSCTL_CONF);
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(&conf, "net.core.rmem_max = 1\n").unwrap();
        let mut j = Journal::create(state.path(), "T1").unwrap();
        j.append(&Record::Begin {
            id: "T1".into(),
            netns: None,
            host: "h".into(),
            time: 0,
        })
        .unwrap();
        let items = [
            item(ChangeKind::Sysctl, "net.core.somaxconn", "4096"),
            item(ChangeKind::Rps, "eth0 rx-0", "3"),
            item(ChangeKind::Ring, "eth0 rx", "512"),
        ];
        let written = persist(root.path(), &mut j, &items, &prov("T1"), "/bin/nettune").unwrap();
        assert_eq!(written.len(), 5, "{written:?}");
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("net.core.rmem_max = 1\n") && text.contains("somaxconn = 4096"));
        assert!(root.path().join(BOOT_PLAN).exists());
        assert!(root
            .path()
            .join("etc/systemd/network/60-nettune-eth0.link")
            .exists());
        let log = super::super::journal::load(j.path()).unwrap();
        assert_eq!(log.files.len(), 5);
        assert_eq!(
            log.files[0].previous.as_deref(),
            Some("net.core.rmem_max = 1\n")
        );
        assert_eq!(log.files[1].previous, None);
        check_files(&log.files).unwrap();
        let mut rec = Recorder::new(j);
        let (done, errors) = restore_files(&mut rec, &log.files);
        assert_eq!((done.len(), errors.len()), (5, 0), "{errors:?}");
        assert!(rec.errors().is_empty());
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "net.core.rmem_max = 1\n"
        );
        assert!(!root.path().join(BOOT_PLAN).exists());
        assert!(!root.path().join(UNIT).exists());
        assert!(!root
            .path()
            .join("etc/systemd/network/60-nettune-eth0.link")
            .exists());
        // A file changed since is not silently overwritten.
        std::fs::write(&conf, "edited\n").unwrap();
        assert!(check_files(&log.files).is_err());
    }

    #[test]
    fn a_symlink_planted_at_a_persist_file_is_refused_before_it_is_journaled() {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let conf = root.path().join(SYSCTL_CONF);
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &conf).unwrap();
        let mut j = Journal::create(state.path(), "T1").unwrap();
        let items = [item(ChangeKind::Sysctl, "net.core.somaxconn", "4096")];
        let e = persist(root.path(), &mut j, &items, &prov("T1"), "/bin/nettune").unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert!(e.to_string().contains("symlink"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(!text.contains("\"file\""), "nothing journaled: {text}");
    }

    #[test]
    fn only_known_persist_paths_are_restored_from_a_journal() {
        for ok in [
            "/etc/sysctl.d/60-nettune.conf",
            "/tmp/r/etc/nettune/boot-plan.json",
            "/etc/systemd/system/nettune-apply.service",
            "/etc/systemd/system/multi-user.target.wants/nettune-apply.service",
            "/etc/systemd/network/60-nettune-eth0.link",
            "rel/etc/sysctl.d/60-nettune.conf",
        ] {
            assert!(known_path(Path::new(ok)), "{ok}");
        }
        for bad in [
            "/etc/shadow",
            "/etc/sysctl.d/../../etc/shadow",
            "/etc/sysctl.d/99-other.conf",
            "/etc/systemd/network/60-nettune-.link",
            "/etc/systemd/network/x/60-nettune-eth0.link",
            "/root/.ssh/authorized_keys",
        ] {
            assert!(!known_path(Path::new(bad)), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("authorized_keys");
        std::fs::write(&target, "key").unwrap();
        let forged = FileRecord {
            path: target.clone(),
            previous: None,
            written: "key".into(),
        };
        let e = check_files(std::slice::from_ref(&forged)).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        let mut j = Recorder::new(Journal::create(dir.path(), "T").unwrap());
        let (done, errors) = restore_files(&mut j, &[forged]);
        assert!(done.is_empty() && errors.len() == 1, "{errors:?}");
        assert!(target.exists(), "not deleted");
    }
}
