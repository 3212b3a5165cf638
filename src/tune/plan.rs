//! The plan: the kernel changes that `check`'s findings justify, each with its finding,
//! risk and safety verdict. Advice (what nettune cannot change) is carried along for
//! printing only. Dangerous or lowering changes are refused unless forced (the rules are
//! in [`super::safety`]). Plan files (`tune --plan FILE`) are read by [`load`].

use super::knob::max_field;
use super::safety::{danger, refusal, refuse_daemons, ProfileChange};
use crate::change::{Change, ChangeKind};
use crate::collect::host::Daemons;
use crate::collect::sysctl::{config_for_key, SysctlConfigEntry};
use crate::diagnose::{Finding, Severity};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// One change to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanItem {
    pub change: Change,
    /// Id of the finding that justifies it.
    pub finding: String,
    pub severity: Severity,
    /// What can go wrong.
    pub risk: String,
    /// Why applying it needs `--force`; `None` when it is safe.
    pub refusal: Option<String>,
    /// Remarks for the operator (boot-time configuration that sets the same key, other
    /// findings that propose the same change).
    pub notes: Vec<String>,
}

/// Something nettune cannot change itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdviceItem {
    pub finding: String,
    pub change: Change,
}

/// The plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub items: Vec<PlanItem>,
    pub advice: Vec<AdviceItem>,
    /// Remarks on the plan as a whole (profile settings skipped and why).
    pub notes: Vec<String>,
}

impl Plan {
    /// Items refused without `--force`.
    pub fn refused(&self) -> impl Iterator<Item = &PlanItem> {
        self.items.iter().filter(|i| i.refusal.is_some())
    }

    /// The changes, in plan order.
    pub fn changes(&self) -> Vec<Change> {
        self.items.iter().map(|i| i.change.clone()).collect()
    }

    /// Refuse the changes a running tuning daemon would fight
    /// ([`super::safety::refuse_daemons`]). Items already refused keep their reason.
    pub fn refuse_daemons(&mut self, daemons: &Daemons) {
        for i in self.items.iter_mut().filter(|i| i.refusal.is_none()) {
            i.refusal = refuse_daemons(&i.change, daemons);
        }
    }
}

/// Whether planned change `c` is the change of `kind` on `target` in namespace `netns`
/// (`None`: the transaction's default one). Namespaces compare by inode: the same sysctl in
/// two namespaces is two changes.
pub fn same_change(
    c: &Change,
    kind: ChangeKind,
    target: &str,
    netns: Option<&crate::namespaces::NetnsRef>,
) -> bool {
    c.kind == kind
        && c.target == target
        && c.netns.as_ref().map(|n| n.inode) == netns.map(|n| n.inode)
}

/// Whether finding `id` is selected by `--only` (exact ids, or an area such as `softnet`).
pub fn selected(id: &str, only: &[String]) -> bool {
    only.is_empty()
        || only.iter().any(|o| {
            let o = o.trim();
            id == o || id.strip_prefix(o).is_some_and(|rest| rest.starts_with('.'))
        })
}

/// Build the plan from findings (already sorted most severe first). The first finding that
/// proposes a (kind, target) wins; `config` gives sysctl.d provenance when known.
pub fn build(findings: &[Finding], only: &[String], config: Option<&[SysctlConfigEntry]>) -> Plan {
    let mut plan = Plan::default();
    for f in findings.iter().filter(|f| selected(&f.id, only)) {
        for c in &f.changes {
            if c.kind == ChangeKind::Advice {
                plan.advice.push(AdviceItem {
                    finding: f.id.clone(),
                    change: c.clone(),
                });
                continue;
            }
            if let Some(prev) = plan
                .items
                .iter_mut()
                .find(|i| same_change(&i.change, c.kind, &c.target, c.netns.as_ref()))
            {
                if prev.finding != f.id {
                    prev.notes
                        .push(format!("also proposed by {} ({})", f.id, c.proposed));
                }
                continue;
            }
            let notes = boot_file_note(config, c).into_iter().collect();
            plan.items.push(PlanItem {
                change: c.clone(),
                finding: f.id.clone(),
                severity: f.severity,
                risk: f.risk.clone(),
                refusal: refusal(c),
                notes,
            });
        }
    }
    plan
}

/// Merge a profile's changes into a plan built from findings. A change the findings already
/// propose keeps the larger value (noted); the others are added with finding
/// `profile.NAME`. `--only` keeps profile changes only when it names `profile`.
pub fn merge_profile(
    plan: &mut Plan,
    profile: &str,
    changes: Vec<ProfileChange>,
    skipped: Vec<String>,
    only: &[String],
    config: Option<&[SysctlConfigEntry]>,
) {
    let finding = format!("profile.{profile}");
    if !selected(&finding, only) {
        return;
    }
    plan.notes.extend(skipped);
    for pc in changes {
        let c = pc.change;
        if let Some(prev) = plan
            .items
            .iter_mut()
            .find(|i| same_change(&i.change, c.kind, &c.target, c.netns.as_ref()))
        {
            let bigger = matches!(
                (max_field(&c.proposed), max_field(&prev.change.proposed)),
                (Some(a), Some(b)) if a > b
            );
            if bigger && !pc.lower {
                prev.notes.push(format!(
                    "raised from {} to {} by the {profile} profile",
                    prev.change.proposed, c.proposed
                ));
                prev.change.proposed = c.proposed;
            } else if prev.change.proposed.trim() != c.proposed.trim() {
                prev.notes.push(format!(
                    "the {profile} profile proposes {}; the finding's value is kept",
                    c.proposed
                ));
            }
            continue;
        }
        let notes = boot_file_note(config, &c).into_iter().collect();
        plan.items.push(PlanItem {
            refusal: if pc.lower { danger(&c) } else { refusal(&c) },
            change: c,
            finding: finding.clone(),
            severity: Severity::Info,
            risk: format!("setting of the {profile} profile, not justified by a finding"),
            notes,
        });
    }
}

/// Largest plan file read (a plan of every knob of a large host is well below 1 MiB).
pub const MAX_PLAN_BYTES: u64 = 16 << 20;

/// Read a plan file: a JSON array of changes (`{"kind", "target", "current", "proposed",
/// "finding"}`, and `"netns": {"inode", "name", "path"}` for a change made inside another
/// network namespace) or a `nettune.tune/v1` report (its `changes`). Advice entries become advice;
/// every other change gets its safety verdict. A bad file is an [`Error::Input`] naming it
/// (also one that is not a regular file or is larger than [`MAX_PLAN_BYTES`]); a sysctl
/// outside the trees nettune owns or a value out of its key's range is [`Error::Refused`].
pub fn load(file: &Path) -> Result<Plan> {
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(flatten)]
        change: Change,
        #[serde(default)]
        finding: Option<String>,
    }
    let bad = |e: String| Error::Input(format!("plan {}: {e}", file.display()));
    let text = crate::durable::read_regular(file, MAX_PLAN_BYTES, "a plan").map_err(bad)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let list = match value {
        serde_json::Value::Object(mut o) => o.remove("changes").unwrap_or_default(),
        v => v,
    };
    let items: Vec<Item> = serde_json::from_value(list).map_err(|e| {
        bad(format!(
            "expected an array of {{kind, target, current, proposed}}: {e}"
        ))
    })?;
    let mut plan = Plan::default();
    for it in items {
        // Only the sysctl trees nettune tunes, with values the kernel's field can hold: a
        // plan naming anything else is refused whole, never applied in part.
        if it.change.kind == ChangeKind::Sysctl {
            let target = &it.change.target;
            super::safety::owned_sysctl(target)
                .and_then(|()| super::safety::sysctl_value_in_range(target, &it.change.proposed))
                .map_err(|e| Error::Refused(format!("plan {}: {e}", file.display())))?;
        }
        let finding = it.finding.unwrap_or_else(|| "manual".to_string());
        if it.change.kind == ChangeKind::Advice {
            plan.advice.push(AdviceItem {
                finding,
                change: it.change,
            });
            continue;
        }
        plan.items.push(PlanItem {
            refusal: refusal(&it.change),
            change: it.change,
            finding,
            severity: Severity::Info,
            risk: String::new(),
            notes: Vec::new(),
        });
    }
    Ok(plan)
}

/// The note for a sysctl that a sysctl.d / sysctl.conf line sets at boot (that file wins at
/// the next boot unless the change is persisted).
fn boot_file_note(config: Option<&[SysctlConfigEntry]>, c: &Change) -> Option<String> {
    if c.kind != ChangeKind::Sysctl {
        return None;
    }
    let e = config_for_key(config?, &c.target)?;
    Some(format!(
        "set to {:?} at boot by {}:{}; that file wins at the next boot",
        e.value,
        e.file.display(),
        e.line
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn finding(id: &str, sev: Severity, changes: Vec<Change>) -> Finding {
        Finding {
            netns: None,
            id: id.into(),
            severity: sev,
            title: String::new(),
            detail: String::new(),
            evidence: Vec::new(),
            changes,
            risk: format!("risk of {id}"),
            verify: String::new(),
        }
    }

    #[test]
    fn findings_become_a_plan_with_advice_apart() {
        let findings = vec![
            finding(
                "softnet.backlog_drops",
                Severity::Critical,
                vec![Change::sysctl(
                    "net.core.netdev_max_backlog",
                    Some("1000"),
                    "4000",
                )],
            ),
            finding(
                "tcp.listen_overflows",
                Severity::Warning,
                vec![
                    Change::sysctl("net.core.somaxconn", Some("128"), "4096"),
                    Change::advice("listen() backlog of :8080", "4096"),
                    Change::sysctl("net.core.netdev_max_backlog", Some("1000"), "2000"),
                ],
            ),
        ];
        let cfg = vec![SysctlConfigEntry {
            key: "net.core.somaxconn".into(),
            value: "128".into(),
            file: PathBuf::from("/etc/sysctl.d/10-x.conf"),
            line: 3,
            overridden: false,
            ignore_failure: false,
            exclude: false,
        }];
        let plan = build(&findings, &[], Some(&cfg));
        assert_eq!(plan.items.len(), 2);
        assert_eq!(plan.items[0].change.proposed, "4000");
        assert_eq!(plan.items[0].finding, "softnet.backlog_drops");
        assert!(plan.items[0].notes[0].contains("tcp.listen_overflows"));
        assert_eq!(plan.items[1].risk, "risk of tcp.listen_overflows");
        assert!(plan.items[1].notes[0].contains("/etc/sysctl.d/10-x.conf:3"));
        assert_eq!(plan.advice.len(), 1);
        assert_eq!(plan.refused().count(), 0);

        let only = build(&findings, &["tcp".to_string()], None);
        assert_eq!(only.items.len(), 2);
        assert_eq!(only.items[0].change.target, "net.core.somaxconn");
        assert_eq!(build(&findings, &["tc".to_string()], None).items.len(), 0);
        let exact = build(&findings, &["softnet.backlog_drops".to_string()], None);
        assert_eq!(exact.items.len(), 1);
    }

    #[test]
    fn profile_changes_merge_and_daemons_refuse_sysctls() {
        let findings = vec![finding(
            "tcp.listen_overflow",
            Severity::Warning,
            vec![Change::sysctl("net.core.somaxconn", Some("128"), "4096")],
        )];
        let mut plan = build(&findings, &[], None);
        let pc = |c: Change, lower| ProfileChange { change: c, lower };
        merge_profile(
            &mut plan,
            "web-gateway",
            vec![
                pc(
                    Change::sysctl("net.core.somaxconn", Some("128"), "8192"),
                    false,
                ),
                pc(
                    Change::sysctl("net.ipv4.tcp_tw_reuse", Some("2"), "1"),
                    false,
                ),
                pc(
                    Change::sysctl("net.ipv4.tcp_notsent_lowat", Some("4294967295"), "16384"),
                    true,
                ),
            ],
            vec!["skipped x".into()],
            &[],
            None,
        );
        assert_eq!(plan.items.len(), 3);
        assert_eq!(plan.items[0].change.proposed, "8192");
        assert_eq!(plan.items[0].finding, "tcp.listen_overflow");
        assert!(plan.items[0].notes[0].contains("web-gateway"));
        assert_eq!(plan.items[1].finding, "profile.web-gateway");
        assert_eq!(plan.items[1].refusal, None, "a mode, not lowering");
        assert_eq!(plan.items[2].refusal, None, "lower = true");
        assert_eq!(plan.notes, vec!["skipped x".to_string()]);

        let mut p2 = plan.clone();
        p2.refuse_daemons(&Daemons::default());
        assert_eq!(p2.refused().count(), 0);
        p2.refuse_daemons(&Daemons {
            bpftune: true,
            ..Daemons::default()
        });
        assert_eq!(p2.refused().count(), 3);
        assert!(p2.items[0].refusal.as_deref().unwrap().contains("bpftune"));
        let mut p3 = plan.clone();
        p3.refuse_daemons(&Daemons {
            tuned: true,
            ..Daemons::default()
        });
        assert!(p3.items[1].refusal.as_deref().unwrap().starts_with("tuned"));
        // --only without `profile` leaves the profile out.
        let mut p4 = build(&findings, &["tcp".into()], None);
        merge_profile(
            &mut p4,
            "cdn",
            Vec::new(),
            vec!["n".into()],
            &["tcp".into()],
            None,
        );
        assert!(p4.notes.is_empty());
    }

    #[test]
    fn the_same_change_in_two_namespaces_is_two_items() {
        let pod = crate::namespaces::NetnsRef {
            inode: 4026532301,
            name: "pod-web".into(),
            path: PathBuf::from("/run/netns/pod-web"),
        };
        let findings = vec![
            finding(
                "tcp.listen_overflow",
                Severity::Warning,
                vec![Change::sysctl("net.core.somaxconn", Some("4"), "4096")
                    .in_netns(Some(pod.clone()))],
            ),
            finding(
                "tcp.listen_overflow",
                Severity::Warning,
                vec![
                    Change::sysctl("net.core.somaxconn", Some("128"), "1024"),
                    Change::sysctl("net.core.somaxconn", Some("4"), "8192")
                        .in_netns(Some(pod.clone())),
                ],
            ),
        ];
        let plan = build(&findings, &[], None);
        assert_eq!(plan.items.len(), 2, "{plan:#?}");
        assert_eq!(plan.items[0].change.netns.as_ref(), Some(&pod));
        assert_eq!(
            plan.items[0].change.proposed, "4096",
            "first wins in its namespace"
        );
        assert_eq!(plan.items[1].change.netns, None);
        // A profile's settings are the default namespace's: they merge with its item only.
        let mut p = plan.clone();
        merge_profile(
            &mut p,
            "web-gateway",
            vec![ProfileChange {
                change: Change::sysctl("net.core.somaxconn", Some("128"), "65535"),
                lower: false,
            }],
            Vec::new(),
            &[],
            None,
        );
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].change.proposed, "4096");
        assert_eq!(p.items[1].change.proposed, "65535");
    }

    #[test]
    fn plan_files_take_changes_in_other_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, r#"[{"kind":"sysctl","target":"net.core.somaxconn","current":"4","proposed":"4096","netns":{"inode":4026532301,"name":"pod-web","path":"/run/netns/pod-web"}},{"kind":"sysctl","target":"net.core.somaxconn","proposed":"1024"}]"#).unwrap();
        let p = load(&f).unwrap();
        assert_eq!(p.items.len(), 2);
        let ns = p.items[0].change.netns.as_ref().unwrap();
        assert_eq!((ns.inode, ns.name.as_str()), (4026532301, "pod-web"));
        assert_eq!(ns.path, PathBuf::from("/run/netns/pod-web"));
        assert_eq!(p.items[1].change.netns, None);
        // A namespace without its inode is not a namespace reference.
        std::fs::write(&f, r#"[{"kind":"sysctl","target":"net.core.somaxconn","proposed":"4096","netns":{"name":"pod-web","path":"/run/netns/pod-web"}}]"#).unwrap();
        let e = load(&f).unwrap_err();
        assert!(
            matches!(e, Error::Input(_)) && e.to_string().contains("inode"),
            "{e}"
        );
    }

    #[test]
    fn plan_files_take_arrays_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        std::fs::write(&f, r#"{"schema":"nettune.tune/v1","changes":[{"kind":"sysctl","target":"net.core.somaxconn","current":"4096","proposed":"128","finding":"x.y","applied":false},{"kind":"advice","target":"app","proposed":"4096"}]}"#).unwrap();
        let p = load(&f).unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].finding, "x.y");
        assert!(p.items[0].refusal.is_some(), "lowering is refused");
        assert_eq!(p.advice.len(), 1);
        std::fs::write(&f, r#"[{"kind":"bogus","target":"x","proposed":"1"}]"#).unwrap();
        let e = load(&f).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e:?}");
        assert!(e.to_string().contains("p.json"), "{e}");
        let e = load(&dir.path().join("missing.json")).unwrap_err();
        assert!(e.to_string().contains("missing.json"), "{e}");
        // Outside the trees nettune owns, or beyond what the kernel's field holds: refused.
        std::fs::write(&f, r#"[{"kind":"sysctl","target":"net.core.somaxconn","proposed":"4096"},{"kind":"sysctl","target":"kernel.core_pattern","proposed":"|/tmp/x"}]"#).unwrap();
        let e = load(&f).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{e}");
        assert!(e.to_string().contains("kernel.core_pattern"), "{e}");
        std::fs::write(
            &f,
            r#"[{"kind":"sysctl","target":"net.core.somaxconn","proposed":"9223372036854775807"}]"#,
        )
        .unwrap();
        assert!(load(&f).unwrap_err().to_string().contains("out of range"));
    }
}
