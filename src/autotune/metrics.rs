//! The daemon's own Prometheus families, appended to the exporter's `/metrics` with
//! `--listen` ([`crate::export::Exporter::with_extra`]):
//! `nettune_autotune_changes_total{key,netns,direction}` (direction `up`: a write, `down`: a
//! rollback), `nettune_autotune_value{key,netns}` (the value now; the largest field of a
//! multi-field value such as `tcp_rmem`), `nettune_autotune_pinned{key,netns}` (1 while
//! pinned) and `nettune_autotune_rollbacks_total`.

use super::decide::{fields, KeyRef, Pin};
use super::state::State;
use crate::export::encode::Format;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Inner {
    changes: BTreeMap<(KeyRef, String), u64>,
    values: BTreeMap<KeyRef, u64>,
    pinned: BTreeMap<KeyRef, bool>,
    rollbacks: u64,
}

/// The counters and gauges, shared between the loop and the exporter's threads.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(k: &KeyRef) -> String {
    format!("key=\"{}\",netns=\"{}\"", esc(&k.key), esc(&k.ns))
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start from the counters a previous run left in the state file.
    pub fn load(&self, s: &State) {
        let mut m = self.lock();
        for c in &s.changes {
            m.changes
                .insert((c.key.clone(), c.direction.clone()), c.count);
        }
        m.rollbacks = s.rollbacks;
        for p in &s.pins {
            m.pinned.insert(p.key.clone(), true);
        }
    }

    /// A write (`up`) or a rollback (`down`) of `key`.
    pub fn changed(&self, key: &KeyRef, direction: &str) {
        *self
            .lock()
            .changes
            .entry((key.clone(), direction.to_string()))
            .or_default() += 1;
    }

    /// One more rollback.
    pub fn rolled_back(&self) {
        self.lock().rollbacks += 1;
    }

    /// The value of `key` now (its largest field).
    pub fn set_value(&self, key: &KeyRef, value: &str) {
        if let Some(v) = fields(value).and_then(|f| f.into_iter().max()) {
            self.lock().values.insert(key.clone(), v);
        }
    }

    /// The pins now: every key ever seen pinned stays in the family (0 once unpinned).
    pub fn set_pins(&self, pins: &BTreeMap<KeyRef, Pin>) {
        let mut m = self.lock();
        for v in m.pinned.values_mut() {
            *v = false;
        }
        for k in pins.keys() {
            m.pinned.insert(k.clone(), true);
        }
    }

    /// The families in `format` (no `# EOF`: the exporter ends the exposition).
    pub fn encode(&self, format: Format) -> String {
        let m = self.lock();
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str| {
            let family = match format {
                Format::OpenMetrics => name.trim_end_matches("_total"),
                Format::Text => name,
            };
            let _ = writeln!(o, "# HELP {family} {help}");
            let _ = writeln!(o, "# TYPE {family} counter");
        };
        counter(
            &mut o,
            "nettune_autotune_changes_total",
            "Values autotune changed: up (a write) or down (a rollback).",
        );
        for ((k, dir), n) in &m.changes {
            let _ = writeln!(
                o,
                "nettune_autotune_changes_total{{{},direction=\"{}\"}} {n}",
                labels(k),
                esc(dir)
            );
        }
        let _ = writeln!(
            o,
            "# HELP nettune_autotune_value The value of a key autotune watches (largest field)."
        );
        let _ = writeln!(o, "# TYPE nettune_autotune_value gauge");
        for (k, v) in &m.values {
            let _ = writeln!(o, "nettune_autotune_value{{{}}} {v}", labels(k));
        }
        let _ = writeln!(
            o,
            "# HELP nettune_autotune_pinned 1 while the administrator owns the key (never written)."
        );
        let _ = writeln!(o, "# TYPE nettune_autotune_pinned gauge");
        for (k, p) in &m.pinned {
            let _ = writeln!(
                o,
                "nettune_autotune_pinned{{{}}} {}",
                labels(k),
                u8::from(*p)
            );
        }
        counter(
            &mut o,
            "nettune_autotune_rollbacks_total",
            "Writes autotune rolled back (symptom not improved or a guard metric worse).",
        );
        let _ = writeln!(o, "nettune_autotune_rollbacks_total {}", m.rollbacks);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_in_both_formats() {
        let m = Metrics::default();
        let k = KeyRef::new("net.core.netdev_max_backlog", "host");
        m.changed(&k, "up");
        m.changed(&k, "up");
        m.rolled_back();
        m.set_value(&k, "1500");
        m.set_value(
            &KeyRef::new("net.ipv4.tcp_rmem", "ns \"x\""),
            "4096\t131072\t6291456",
        );
        let mut pins = BTreeMap::new();
        pins.insert(
            k.clone(),
            Pin {
                value: "777".into(),
                ours: None,
                source: "x".into(),
                since: 0,
            },
        );
        m.set_pins(&pins);
        let t = m.encode(Format::Text);
        assert!(t.contains(
            "nettune_autotune_changes_total{key=\"net.core.netdev_max_backlog\",netns=\"host\",direction=\"up\"} 2"
        ), "{t}");
        assert!(t.contains(
            "nettune_autotune_value{key=\"net.core.netdev_max_backlog\",netns=\"host\"} 1500"
        ));
        assert!(
            t.contains(
                "nettune_autotune_value{key=\"net.ipv4.tcp_rmem\",netns=\"ns \\\"x\\\"\"} 6291456"
            ),
            "{t}"
        );
        assert!(t.contains(
            "nettune_autotune_pinned{key=\"net.core.netdev_max_backlog\",netns=\"host\"} 1"
        ));
        assert!(t.contains("nettune_autotune_rollbacks_total 1"));
        assert!(t.contains("# TYPE nettune_autotune_changes_total counter"));
        let om = m.encode(Format::OpenMetrics);
        assert!(
            om.contains("# TYPE nettune_autotune_changes counter"),
            "{om}"
        );
        m.set_pins(&BTreeMap::new());
        assert!(m.encode(Format::Text).contains("netns=\"host\"} 0"));
    }
}
