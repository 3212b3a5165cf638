//! Pins: a key the administrator owns. A key set in sysctl.d or `/etc/sysctl.conf` (for the
//! host's namespace), or read back with another value than the one nettune wrote, is pinned
//! ([`super::decide::Engine`] detects both): that key alone is never written again, and
//! `--rollback-on-exit` never restores over it. Pins are kept in the state file
//! ([`super::state`]) across restarts until `nettune autotune unpin KEY` ([`unpin`]).

use super::decide::{KeyRef, Pin};
use super::state;
use crate::{Error, Result};
use std::path::Path;

/// The one log line of a new pin: the key, the values and the words "pinned" and
/// "administrator".
pub fn line(key: &KeyRef, pin: &Pin) -> String {
    let how = match &pin.ours {
        Some(ours) => format!(
            "the administrator set it to {} after nettune wrote {} ({})",
            pin.value.replace('\t', " "),
            ours.replace('\t', " "),
            pin.source
        ),
        None => format!(
            "the administrator sets it to {} in {}",
            pin.value.replace('\t', " "),
            pin.source
        ),
    };
    format!(
        "pinned {} ({}): {how}; never written again (other keys are still tuned) until \
         `nettune autotune unpin {}`",
        key.key, key.ns, key.key
    )
}

/// Remove the pins of `key` (in namespace `ns`, or every namespace when `None`) from the
/// state file in `state_dir`; returns the pins removed. The running daemon sees the file
/// change and tunes the key again. An unknown key is [`Error::Input`].
pub fn unpin(state_dir: &Path, key: &str, ns: Option<&str>) -> Result<Vec<KeyRef>> {
    let mut s = state::load(state_dir)?;
    let (gone, kept): (Vec<_>, Vec<_>) = s
        .pins
        .into_iter()
        .partition(|p| p.key.key == key && ns.is_none_or(|n| p.key.ns == n));
    if gone.is_empty() {
        let pinned: Vec<String> = kept.iter().map(|p| p.key.to_string()).collect();
        return Err(Error::Input(format!(
            "{key} is not pinned{}; pinned: {}",
            ns.map(|n| format!(" in {n}")).unwrap_or_default(),
            if pinned.is_empty() {
                "none".to_string()
            } else {
                pinned.join(", ")
            }
        )));
    }
    s.pins = kept;
    state::save(state_dir, &s)?;
    Ok(gone.into_iter().map(|p| p.key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autotune::decide::Engine;

    #[test]
    fn the_line_names_key_values_pinned_and_administrator() {
        let k = KeyRef::new("net.core.netdev_max_backlog", "host");
        let l = line(
            &k,
            &Pin {
                value: "777".into(),
                ours: Some("1000".into()),
                source: "read back".into(),
                since: 0,
            },
        );
        for w in [
            "pinned",
            "administrator",
            "777",
            "1000",
            "net.core.netdev_max_backlog",
        ] {
            assert!(l.contains(w), "{w}: {l}");
        }
    }

    #[test]
    fn unpin_edits_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Engine::default();
        for ns in ["host", "ns1"] {
            e.pins.insert(
                KeyRef::new("net.core.rmem_max", ns),
                Pin {
                    value: "1".into(),
                    ours: None,
                    source: "x".into(),
                    since: 0,
                },
            );
        }
        let mut s = state::State::default();
        s.capture(&e);
        state::save(dir.path(), &s).unwrap();
        let err = unpin(dir.path(), "net.core.wmem_max", None).unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(
            err.to_string().contains("net.core.rmem_max in ns1"),
            "{err}"
        );
        let gone = unpin(dir.path(), "net.core.rmem_max", Some("ns1")).unwrap();
        assert_eq!(gone, [KeyRef::new("net.core.rmem_max", "ns1")]);
        assert_eq!(state::load(dir.path()).unwrap().pins.len(), 1);
        unpin(dir.path(), "net.core.rmem_max", None).unwrap();
        assert!(state::load(dir.path()).unwrap().pins.is_empty());
    }
}
