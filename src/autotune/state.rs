//! The daemon's state file, `<state dir>/autotune.json` (schema `nettune.autotune/v1`),
//! written through [`crate::durable::write_atomic`] (mode 0600) after every window that
//! changed something: the pins, the administrator's baselines, the values nettune wrote
//! (read back after a restart too, so a change made while the daemon was down pins the
//! key), the last decisions and the counters the metrics show. `nettune autotune status`
//! reads it without the state lock; `unpin` edits its pins (the running daemon notices the
//! file changed and drops the pin).

use super::decide::{Engine, KeyRef, Pin};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The state file's schema name.
pub const SCHEMA: &str = "nettune.autotune/v1";

/// How many decision lines the file keeps.
pub const DECISIONS_KEPT: usize = 50;

/// One pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinEntry {
    #[serde(flatten)]
    pub key: KeyRef,
    #[serde(flatten)]
    pub pin: Pin,
}

/// One key's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(flatten)]
    pub key: KeyRef,
    pub value: String,
    /// The transaction that wrote it (for written values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
}

/// One decision as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The log line.
    pub line: String,
}

/// A change counter (`nettune_autotune_changes_total`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    #[serde(flatten)]
    pub key: KeyRef,
    /// `up` (a write) or `down` (a rollback).
    pub direction: String,
    pub count: u64,
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub schema: String,
    /// The daemon that wrote it last.
    pub pid: u32,
    /// When it was written (seconds since the Unix epoch).
    pub updated: u64,
    pub pins: Vec<PinEntry>,
    pub baseline: Vec<KeyValue>,
    pub written: Vec<KeyValue>,
    pub decisions: Vec<Decision>,
    #[serde(default)]
    pub changes: Vec<Count>,
    #[serde(default)]
    pub rollbacks: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            schema: SCHEMA.to_string(),
            pid: 0,
            updated: 0,
            pins: Vec::new(),
            baseline: Vec::new(),
            written: Vec::new(),
            decisions: Vec::new(),
            changes: Vec::new(),
            rollbacks: 0,
        }
    }
}

/// The state file in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("autotune.json")
}

/// Read the state file; a missing one is an empty state.
pub fn load(state_dir: &Path) -> Result<State> {
    let p = path(state_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(Error::io(&p, e)),
    };
    let s: State = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: p.clone(),
        line: e.line(),
        what: format!("not a {SCHEMA} state file: {e}"),
    })?;
    if s.schema != SCHEMA {
        return Err(Error::Parse {
            path: p,
            line: 0,
            what: format!("schema {:?}, expected {SCHEMA}", s.schema),
        });
    }
    Ok(s)
}

/// Write the state file atomically (mode 0600), creating the state directory.
pub fn save(state_dir: &Path, s: &State) -> Result<()> {
    std::fs::create_dir_all(state_dir).map_err(|e| Error::io(state_dir, e))?;
    let text = serde_json::to_vec_pretty(s)
        .map_err(|e| Error::io(path(state_dir), std::io::Error::other(e)))?;
    crate::durable::write_atomic(&path(state_dir), &text, 0o600)
}

impl State {
    /// Put the persisted parts into a fresh engine: pins, baselines, written values.
    pub fn restore(&self, engine: &mut Engine) {
        for p in &self.pins {
            engine.pins.insert(p.key.clone(), p.pin.clone());
        }
        for b in &self.baseline {
            engine.baseline.insert(b.key.clone(), b.value.clone());
        }
        for w in &self.written {
            let st = engine.keys.entry(w.key.clone()).or_default();
            st.written = Some(w.value.clone());
            st.tx = w.tx.clone();
        }
    }

    /// Take the persisted parts from the engine.
    pub fn capture(&mut self, engine: &Engine) {
        self.pins = engine
            .pins
            .iter()
            .map(|(k, p)| PinEntry {
                key: k.clone(),
                pin: p.clone(),
            })
            .collect();
        self.baseline = engine
            .baseline
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
                tx: None,
            })
            .collect();
        self.written = engine
            .keys
            .iter()
            .filter_map(|(k, s)| {
                Some(KeyValue {
                    key: k.clone(),
                    value: s.written.clone()?,
                    tx: s.tx.clone(),
                })
            })
            .collect();
    }

    /// Record a decision line, keeping the last [`DECISIONS_KEPT`].
    pub fn decided(&mut self, time: u64, line: &str) {
        self.decisions.push(Decision {
            time,
            line: line.to_string(),
        });
        let extra = self.decisions.len().saturating_sub(DECISIONS_KEPT);
        self.decisions.drain(..extra);
    }

    /// Count a change of `key` in `direction` (`up`, `down`).
    pub fn count(&mut self, key: &KeyRef, direction: &str) {
        match self
            .changes
            .iter_mut()
            .find(|c| &c.key == key && c.direction == direction)
        {
            Some(c) => c.count += 1,
            None => self.changes.push(Count {
                key: key.clone(),
                direction: direction.to_string(),
                count: 1,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_restores_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), State::default());
        let mut e = Engine::default();
        let k = KeyRef::new("net.core.netdev_max_backlog", "host");
        e.pins.insert(
            k.clone(),
            Pin {
                value: "777".into(),
                ours: Some("1000".into()),
                source: "read back".into(),
                since: 5,
            },
        );
        e.baseline.insert(k.clone(), "32".into());
        e.keys.entry(k.clone()).or_default().written = Some("1000".into());
        let mut s = State::default();
        s.capture(&e);
        for i in 0..60 {
            s.decided(i, &format!("line {i}"));
        }
        s.count(&k, "up");
        s.count(&k, "up");
        save(dir.path(), &s).unwrap();
        let back = load(dir.path()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.decisions.len(), DECISIONS_KEPT);
        assert_eq!(back.decisions[0].line, "line 10");
        assert_eq!(back.changes[0].count, 2);
        let mut e2 = Engine::default();
        back.restore(&mut e2);
        assert_eq!(e2.pins, e.pins);
        assert_eq!(e2.baseline[&k], "32");
        assert_eq!(e2.keys[&k].written.as_deref(), Some("1000"));
        std::fs::write(path(dir.path()), "{").unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Parse { .. })));
    }
}
