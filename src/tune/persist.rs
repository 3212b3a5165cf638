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

use super::journal::{FileRecord, Journal, Record};
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

fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Write `text` to `path` durably (temporary file, fsync, rename).
fn write_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension("nettune-tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
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
/// it did not exist. Each restore is journaled.
pub fn restore_files(j: &mut Journal, files: &[FileRecord]) -> Result<Vec<PathBuf>> {
    let mut done = Vec::new();
    for f in files.iter().rev() {
        match &f.previous {
            Some(text) => write_file(&f.path, text)?,
            None => match std::fs::remove_file(&f.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&f.path, e)),
            },
        }
        j.append(&Record::FileRestored {
            path: f.path.display().to_string(),
        })?;
        done.push(f.path.clone());
    }
    Ok(done)
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
        restore_files(&mut j, &log.files).unwrap();
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
}
