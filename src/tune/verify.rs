//! The verdict after an apply (`tune --verify`): did the targeted findings go away?

use super::plan::Plan;
use crate::diagnose::{Finding, Severity};

/// The verify verdict: the first targeted finding's first evidence before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Metric and scope of that evidence (`softnet.dropped cpu1`); empty when no targeted
    /// finding had evidence.
    pub symptom: String,
    /// Its value before the apply (in the evidence's unit).
    pub before: f64,
    /// Its value after (0 when the finding is gone).
    pub after: f64,
    /// A targeted finding id still present at warning or above: the apply did not help
    /// and should be rolled back.
    pub still: Option<String>,
}

/// Whether `f` is one of the findings `plan` targets: same id, and, when the plan item's
/// change is made inside a namespace, the same namespace (by inode). A change made on the host
/// (a host-wide key, or a finding of the host) targets its finding id in every namespace.
fn targeted(plan: &Plan, f: &Finding) -> bool {
    plan.items.iter().any(|i| {
        i.finding == f.id
            && match (&i.change.netns, &f.netns) {
                (Some(want), Some(got)) => want.inode == got.inode,
                (Some(_), None) => false,
                (None, _) => true,
            }
    })
}

/// Judge `plan` by the findings `before` it was applied and `after` a new window.
pub fn judge(plan: &Plan, before: &[Finding], after: &[Finding]) -> Verdict {
    let first = before.iter().find(|f| targeted(plan, f));
    let ev = first.and_then(|f| f.evidence.first());
    let symptom = ev
        .map(|e| format!("{} {}", e.metric, e.scope))
        .unwrap_or_default();
    let after_value = first
        .and_then(|f| after.iter().find(|a| a.id == f.id && a.netns == f.netns))
        .and_then(|a| {
            let e0 = ev?;
            a.evidence
                .iter()
                .find(|e| e.metric == e0.metric && e.scope == e0.scope)
        })
        .map_or(0.0, |e| e.value);
    let still = after
        .iter()
        .find(|f| f.severity >= Severity::Warning && targeted(plan, f))
        .map(|f| match &f.netns {
            Some(ns) => format!("{} in {}", f.id, ns.name),
            None => f.id.clone(),
        });
    Verdict {
        symptom,
        before: ev.map_or(0.0, |e| e.value),
        after: after_value,
        still,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Change;
    use crate::diagnose::Evidence;
    use crate::tune::plan;

    fn finding(id: &str, sev: Severity, value: f64) -> Finding {
        Finding {
            netns: None,
            id: id.into(),
            severity: sev,
            title: String::new(),
            detail: String::new(),
            evidence: vec![Evidence::new("softnet.dropped", "cpu1", value, "1/s")],
            changes: vec![Change::sysctl(
                "net.core.netdev_max_backlog",
                Some("1000"),
                "4000",
            )],
            risk: String::new(),
            verify: String::new(),
        }
    }

    #[test]
    fn verify_rolls_back_only_while_a_targeted_finding_remains() {
        let before = vec![finding("softnet.backlog_drops", Severity::Critical, 1260.0)];
        let plan = plan::build(&before, &[], None);
        let gone = judge(&plan, &before, &[]);
        assert_eq!(gone.still, None);
        assert_eq!(gone.symptom, "softnet.dropped cpu1");
        assert_eq!((gone.before, gone.after), (1260.0, 0.0));
        let still = judge(
            &plan,
            &before,
            &[finding("softnet.backlog_drops", Severity::Warning, 30.0)],
        );
        assert_eq!(still.still.as_deref(), Some("softnet.backlog_drops"));
        assert_eq!(still.after, 30.0);
        // Info level, or another finding, does not count.
        let info = judge(
            &plan,
            &before,
            &[finding("softnet.backlog_drops", Severity::Info, 1.0)],
        );
        assert_eq!(info.still, None);
        let other = judge(
            &plan,
            &before,
            &[finding("udp.rcvbuf_errors", Severity::Critical, 9.0)],
        );
        assert_eq!(other.still, None);
    }

    #[test]
    fn a_namespace_change_is_judged_by_its_own_namespace() {
        use crate::namespaces::NetnsRef;
        let pod = |inode: u64, name: &str| NetnsRef {
            inode,
            name: name.into(),
            path: format!("/run/netns/{name}").into(),
        };
        let mut a = finding("tcp.listen_overflow", Severity::Critical, 50.0);
        a.netns = Some(pod(11, "pod-a"));
        a.changes = vec![Change::sysctl("net.core.somaxconn", Some("4"), "4096")
            .in_netns(Some(pod(11, "pod-a")))];
        let plan = plan::build(std::slice::from_ref(&a), &[], None);
        // The same id in another namespace is not the targeted finding.
        let mut b = a.clone();
        b.netns = Some(pod(22, "pod-b"));
        assert_eq!(
            judge(&plan, &[a.clone()], std::slice::from_ref(&b)).still,
            None
        );
        // Still firing in pod-a: roll back, naming the namespace.
        let v = judge(&plan, &[a.clone()], &[b, a]);
        assert_eq!(v.still.as_deref(), Some("tcp.listen_overflow in pod-a"));
    }
}
