//! Sysctl names and values: the dotted form of [`super::Sysctls`] and the slash form of
//! configuration files, the file a name maps to ([`key_to_path`], the one place a sysctl path
//! is built), and how values are folded.

use crate::root::Root;
use std::path::PathBuf;

/// Append `.` (unless `key` is empty) and the component with its dots written as `/`.
pub fn push_component(key: &mut String, comp: &str) {
    if !key.is_empty() {
        key.push('.');
    }
    for c in comp.chars() {
        key.push(if c == '.' { '/' } else { c });
    }
}

/// Append `text` with every whitespace run folded to one space and both ends trimmed.
pub fn fold_ws(text: &str, out: &mut String) {
    for (i, word) in text.split_ascii_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// `text` with whitespace runs folded to one space and trimmed (how [`super::Sysctls`] stores values).
pub fn fold_value(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    fold_ws(text, &mut s);
    s
}

/// Whether the first separator of `key` is a slash (`net/ipv4/conf/eth0.100/rp_filter`):
/// then slashes separate components and dots are literal (sysctl.d(5)).
pub(super) fn is_slash_form(key: &str) -> bool {
    key.find(['.', '/'])
        .is_some_and(|i| key.as_bytes().get(i) == Some(&b'/'))
}

/// The canonical dotted form of a sysctl name as used in [`super::Sysctls`]: slash-form names
/// (`net/ipv4/conf/eth0.100/rp_filter`) have dots and slashes interchanged
/// (`net.ipv4.conf.eth0/100.rp_filter`); dotted names are returned unchanged. Leading and
/// trailing separators are dropped.
pub fn normalize_key(key: &str) -> String {
    let key = key.trim().trim_start_matches('/');
    if is_slash_form(key) {
        let swapped: String = key
            .trim_end_matches('/')
            .chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect();
        swapped
    } else {
        key.trim_end_matches('.').to_string()
    }
}

/// The path components of a key (either form), each with its literal dots, in order.
pub(super) fn raw_components(key: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let key = key.trim().trim_start_matches('/');
    let slash = is_slash_form(key);
    let sep = if slash { '/' } else { '.' };
    key.split(sep).map(move |c| {
        if !slash && c.contains('/') {
            std::borrow::Cow::Owned(c.replace('/', "."))
        } else {
            std::borrow::Cow::Borrowed(c)
        }
    })
}

/// A component that would not name one directory entry below its parent.
pub(super) fn bad_component(c: &str) -> bool {
    c.is_empty() || c == "." || c == ".."
}

/// The file under `<proc>/sys` for a sysctl name in either form:
/// `net.ipv4.conf.eth0/100.rp_filter` and `net/ipv4/conf/eth0.100/rp_filter` both map to
/// `<proc>/sys/net/ipv4/conf/eth0.100/rp_filter`; `net.core.somaxconn` to
/// `<proc>/sys/net/core/somaxconn`. Empty, `.` and `..` components are dropped.
pub fn key_to_path(root: &Root, key: &str) -> PathBuf {
    let mut p = root.proc.join("sys");
    for c in raw_components(key).filter(|c| !bad_component(c)) {
        p.push(&*c);
    }
    p
}

/// Whether `key` names a sysctl file safely: non-empty, no empty / `.` / `..` components,
/// no glob characters or whitespace.
pub(super) fn key_is_valid(key: &str) -> bool {
    let k = key.trim().trim_start_matches('/');
    !k.is_empty()
        && !k.contains(['*', '?', '[', ' ', '\t', '\n', '\0'])
        && !raw_components(k).any(|c| bad_component(&c))
}
