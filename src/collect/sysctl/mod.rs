//! Sysctls under `/proc/sys` (`net.core`, `net.ipv4`, `net.ipv6`, `net.netfilter`, `fs.file-*`)
//! and the sysctl configuration files that set them (provenance).
//!
//! Names follow sysctl(8): path components joined with `.`, and a `.` *inside* a component
//! (the interface `eth0.100`) written as `/` (`net.ipv4.conf.eth0/100.rp_filter`).
//! [`key_to_path`] maps both that form and the slash form used in config files back to a file.
//!
//! The trees are walked by a [`TreeReader`] (`tree.rs`, with the list of trees it reads),
//! which keeps the layout between snapshots and re-reads the files relative to kept
//! directory fds; [`read`] and [`read_trees`] use a fresh one. Names and values are
//! `key.rs`; configuration files (`config.rs`) are read with systemd-sysctl's precedence
//! (see [`read_config`]). Imports go one way: this module uses the three, `tree.rs` and
//! `config.rs` use only `key.rs`.

mod config;
mod key;
mod tree;

pub use config::{
    config_for_key, effective_config, glob_match, parse_config, read_config, SysctlConfigEntry,
    CONFIG_DIRS,
};
pub use key::{fold_value, key_to_path, normalize_key};
pub use tree::{Sysctls, TreeReader, NETNS_FILES, REWALK_AFTER};

use super::{FileBuf, Root, Source, Warnings};
use key::key_is_valid;
use std::io;

/// Read every sysctl of interest from `<proc>/sys`. Files the kernel refuses to read
/// (write-only `net/ipv4/route/flush`, unset `stable_secret`, ...) are skipped silently;
/// a missing subtree (`net/netfilter` without conntrack) is simply absent.
///
/// This walks the trees afresh; a collector that reads them repeatedly keeps a
/// [`TreeReader`], which returns the same and re-reads the files without walking.
pub fn read(buf: &mut FileBuf, root: &Root, warnings: &mut Warnings) -> Source<Sysctls> {
    TreeReader::standard().read(buf, root, warnings)
}

/// Read the given subtrees (`net/core`) and single files (`fs/file-nr`) of `<proc>/sys`.
/// [`read`] uses the standard set; a namespace snapshot also reads the host's `net/core`,
/// whose host-wide keys (`netdev_max_backlog`, `netdev_budget`) a namespace does not show.
pub fn read_trees(
    buf: &mut FileBuf,
    root: &Root,
    trees: &[&str],
    files: &[&str],
    warnings: &mut Warnings,
) -> Source<Sysctls> {
    TreeReader::new(trees, files).read(buf, root, warnings)
}

/// Read one sysctl by name (either form) and return its value folded like [`read`] does.
/// An invalid name (empty component, `..`, glob) is `InvalidInput`.
pub fn read_one(buf: &mut FileBuf, root: &Root, key: &str) -> io::Result<String> {
    if !key_is_valid(key) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl name {key:?}"),
        ));
    }
    let path = key_to_path(root, key);
    Ok(fold_value(buf.read_sysctl(&path)?))
}

#[cfg(test)]
mod tests {
    use super::key::*;
    use super::*;
    use crate::collect::testfs::{vm, write};
    use proptest::prelude::*;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::{Path, PathBuf};

    #[test]
    fn reads_captured_vm_tree() {
        let root = vm();
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &root, &mut w);
        let s = s.ok().expect("sysctls");
        assert!(w.0.is_empty(), "{:?}", w.0);
        let get = |k: &str| s.get(k).map(String::as_str);
        assert_eq!(get("net.core.somaxconn"), Some("4096"));
        assert_eq!(get("net.core.netdev_max_backlog"), Some("1000"));
        assert_eq!(get("net.core.netdev_budget_usecs"), Some("8000"));
        assert_eq!(get("net.core.default_qdisc"), Some("pfifo_fast"));
        assert_eq!(get("net.ipv4.tcp_rmem"), Some("4096 131072 33554432"));
        assert_eq!(get("net.ipv4.tcp_mem"), Some("287898 383867 575796"));
        assert_eq!(get("net.ipv4.ip_local_port_range"), Some("32768 60999"));
        assert_eq!(
            get("net.ipv4.tcp_available_congestion_control"),
            Some("reno bbr cubic")
        );
        assert_eq!(get("net.ipv4.tcp_tw_reuse"), Some("2"));
        assert_eq!(get("net.ipv4.conf.eth0.rp_filter"), Some("0"));
        assert_eq!(get("net.ipv4.neigh.eth0.gc_stale_time"), Some("60"));
        assert_eq!(get("net.ipv6.route.max_size"), Some("2147483647"));
        assert_eq!(get("net.ipv6.conf.all.disable_ipv6"), Some("0"));
        assert_eq!(get("fs.file-nr"), Some("486 0 2466170"));
        assert_eq!(get("fs.file-max"), Some("2466170"));
        // Not in the trees we read.
        assert_eq!(get("kernel.hostname"), None);
        // net/netfilter is shared with the conntrack fixture: compare with the files.
        let nf = root.proc("sys/net/netfilter/nf_conntrack_max");
        let want = fs::read_to_string(nf).unwrap();
        assert_eq!(get("net.netfilter.nf_conntrack_max"), Some(want.trim()));
    }

    #[test]
    fn dotted_interface_names_fold_and_map_back() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "proc/sys/net/ipv4/conf/eth0.100/rp_filter",
            "2\n",
        );
        write(
            dir.path(),
            "proc/sys/net/ipv4/tcp_rmem",
            "4096\t87380\t  6291456\n",
        );
        write(dir.path(), "proc/sys/net/core/somaxconn", "  128 \n");
        write(dir.path(), "proc/sys/net/core/empty", "");
        let root = Root::fixture(dir.path());
        let mut w = Warnings::default();
        let s = read(&mut FileBuf::new(), &root, &mut w);
        let s = s.ok().unwrap();
        assert_eq!(s["net.ipv4.conf.eth0/100.rp_filter"], "2");
        assert_eq!(s["net.ipv4.tcp_rmem"], "4096 87380 6291456");
        assert_eq!(s["net.core.somaxconn"], "128");
        assert_eq!(s["net.core.empty"], "");
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(w.0.is_empty());

        let sys = dir.path().join("proc/sys");
        let want = sys.join("net/ipv4/conf/eth0.100/rp_filter");
        assert_eq!(key_to_path(&root, "net.ipv4.conf.eth0/100.rp_filter"), want);
        assert_eq!(key_to_path(&root, "net/ipv4/conf/eth0.100/rp_filter"), want);
        assert_eq!(
            key_to_path(&root, "net.core.somaxconn"),
            sys.join("net/core/somaxconn")
        );
        assert_eq!(
            key_to_path(&root, "net/core/../../../etc"),
            sys.join("net/core/etc")
        );
        let mut buf = FileBuf::new();
        assert_eq!(
            read_one(&mut buf, &root, "net.ipv4.conf.eth0/100.rp_filter").unwrap(),
            "2"
        );
        assert_eq!(
            read_one(&mut buf, &root, "net/ipv4/conf/eth0.100/rp_filter").unwrap(),
            "2"
        );
        assert_eq!(
            read_one(&mut buf, &root, "net.ipv4.tcp_rmem").unwrap(),
            "4096 87380 6291456"
        );
        for bad in [
            "",
            "net..core",
            "net.core.*",
            "net/../etc",
            "net.ipv4.conf.//.x",
            "a b",
        ] {
            let e = read_one(&mut buf, &root, bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        let e = read_one(&mut buf, &root, "net.core.nope").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn normalize_key_swaps_slash_form() {
        assert_eq!(normalize_key("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            normalize_key("net/ipv4/conf/eth0.100/rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(
            normalize_key("net.ipv4.conf.eth0/100.rp_filter"),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(normalize_key(" /kernel/domainname "), "kernel.domainname");
    }

    #[test]
    fn missing_proc_sys_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let s = read(
            &mut FileBuf::new(),
            &Root::fixture(dir.path()),
            &mut Warnings::default(),
        );
        assert!(matches!(s, Source::Unsupported { .. }), "{s:?}");
    }

    #[test]
    fn live_proc_sys_matches_files() {
        let p = Path::new("/proc/sys/net/core/somaxconn");
        if !crate::testing::require("/proc/sys", p.exists()) {
            return;
        }
        let root = Root::default();
        let mut w = Warnings::default();
        // Timing (informative, printed with --nocapture): best of 5 against the floor of
        // only opening and reading the same files.
        let mut buf = FileBuf::new();
        let mut took = std::time::Duration::MAX;
        let mut s = Sysctls::new();
        for _ in 0..5 {
            w.0.clear();
            let t = std::time::Instant::now();
            s = read(&mut buf, &root, &mut w).ok().unwrap().clone();
            took = took.min(t.elapsed());
        }
        let paths: Vec<PathBuf> = s.keys().map(|k| key_to_path(&root, k)).collect();
        let mut scratch = [0u8; 4096];
        let mut floor = std::time::Duration::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for p in &paths {
                if let Ok(mut f) = fs::File::open(p) {
                    while io::Read::read(&mut f, &mut scratch).is_ok_and(|n| n > 0) {}
                }
            }
            floor = floor.min(t.elapsed());
        }
        eprintln!(
            "live sysctl read: {} keys in {took:?}; floor {floor:?}",
            s.len()
        );
        let want = fs::read_to_string(p).unwrap();
        assert_eq!(s["net.core.somaxconn"], want.trim());
        assert!(s.len() > 100, "{}", s.len());
        // Write-only files are skipped silently.
        assert!(!s.contains_key("net.ipv4.route.flush"));
        assert!(w.0.is_empty(), "{:?}", w.0);
        let mut buf = FileBuf::new();
        assert_eq!(
            read_one(&mut buf, &root, "net.core.somaxconn").unwrap(),
            want.trim()
        );
    }

    #[test]
    fn config_precedence_masking_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        write(
            dir,
            "usr/lib/sysctl.d/10-net.conf",
            "net.core.somaxconn = 1\n",
        );
        write(dir, "run/sysctl.d/10-net.conf", "net.core.somaxconn = 2\n");
        write(
            dir,
            "etc/sysctl.d/10-net.conf",
            "# comment\n; other comment\n\nnet.core.somaxconn = 3\nnet/ipv4/conf/eth0.100/rp_filter=2\n",
        );
        write(
            dir,
            "usr/lib/sysctl.d/50-default.conf",
            "net.ipv4.conf.*.rp_filter = 1\n-net.ipv4.conf.lo.rp_filter\n-net.core.rmem_max = 4096\nthis is bad\n = 5\n",
        );
        write(dir, "usr/lib/sysctl.d/README", "not a conf file\n");
        write(
            dir,
            "etc/sysctl.conf",
            "net.core.somaxconn = 4096\nnet.ipv4.tcp_rmem = 4096\t87380   6291456\n",
        );
        symlink("../sysctl.conf", dir.join("etc/sysctl.d/99-sysctl.conf")).unwrap();
        write(
            dir,
            "etc/sysctl.d/60-later.conf",
            "net.core.somaxconn = 60\n",
        );

        let root = Root::fixture(dir);
        let mut w = Warnings::default();
        let entries = read_config(&root, &mut w);
        let entries = entries.ok().unwrap();
        let desc: Vec<(String, String, String, usize, bool)> = entries
            .iter()
            .map(|e| {
                let f = e.file.strip_prefix(dir).unwrap().display().to_string();
                (e.key.clone(), e.value.clone(), f, e.line, e.overridden)
            })
            .collect();
        let t = |k: &str, v: &str, f: &str, l: usize, o: bool| {
            (k.to_string(), v.to_string(), f.to_string(), l, o)
        };
        assert_eq!(
            desc,
            vec![
                t(
                    "net.core.somaxconn",
                    "3",
                    "etc/sysctl.d/10-net.conf",
                    4,
                    true
                ),
                t(
                    "net.ipv4.conf.eth0/100.rp_filter",
                    "2",
                    "etc/sysctl.d/10-net.conf",
                    5,
                    false
                ),
                t(
                    "net.ipv4.conf.*.rp_filter",
                    "1",
                    "usr/lib/sysctl.d/50-default.conf",
                    1,
                    false
                ),
                t(
                    "net.ipv4.conf.lo.rp_filter",
                    "",
                    "usr/lib/sysctl.d/50-default.conf",
                    2,
                    false
                ),
                t(
                    "net.core.rmem_max",
                    "4096",
                    "usr/lib/sysctl.d/50-default.conf",
                    3,
                    false
                ),
                t(
                    "net.core.somaxconn",
                    "60",
                    "etc/sysctl.d/60-later.conf",
                    1,
                    true
                ),
                t(
                    "net.core.somaxconn",
                    "4096",
                    "etc/sysctl.d/99-sysctl.conf",
                    1,
                    false
                ),
                t(
                    "net.ipv4.tcp_rmem",
                    "4096 87380 6291456",
                    "etc/sysctl.d/99-sysctl.conf",
                    2,
                    false
                ),
            ]
        );
        assert!(entries[3].exclude && entries[3].ignore_failure);
        assert!(entries[4].ignore_failure && !entries[4].exclude);
        assert!(entries[2].is_pattern());
        // Two bad lines, each with file:line.
        assert_eq!(w.0.len(), 2, "{:?}", w.0);
        assert_eq!(w.0[0].line, Some(4));
        assert!(
            w.0[0].message.contains("50-default.conf:4"),
            "{}",
            w.0[0].message
        );
        assert_eq!(w.0[1].line, Some(5));

        let eff = effective_config(entries);
        assert_eq!(eff["net.core.somaxconn"].value, "4096");
        assert!(eff["net.core.somaxconn"]
            .file
            .ends_with("etc/sysctl.d/99-sysctl.conf"));
        assert_eq!(eff.len(), 6);

        // Glob resolution.
        assert_eq!(
            config_for_key(entries, "net.ipv4.conf.eth0.rp_filter")
                .unwrap()
                .value,
            "1"
        );
        assert_eq!(
            config_for_key(entries, "net.ipv4.conf.eth0/100.rp_filter")
                .unwrap()
                .value,
            "2"
        );
        assert!(config_for_key(entries, "net.ipv4.conf.lo.rp_filter").is_none());
        assert!(config_for_key(entries, "net.ipv4.conf.eth0.forwarding").is_none());
    }

    #[test]
    fn sysctl_conf_read_last_when_not_linked() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "etc/sysctl.conf", "vm.swappiness = 1\n");
        write(d.path(), "etc/sysctl.d/99-x.conf", "vm.swappiness = 2\n");
        let entries = read_config(&Root::fixture(d.path()), &mut Warnings::default());
        let entries = entries.ok().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries[1].file.ends_with("etc/sysctl.conf"));
        assert_eq!(effective_config(entries)["vm.swappiness"].value, "1");
        // No config at all is an empty list, not an error.
        let e = tempfile::tempdir().unwrap();
        let none = read_config(&Root::fixture(e.path()), &mut Warnings::default());
        assert_eq!(none, Source::Ok(vec![]));
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.eth0.rp_filter"
        ));
        assert!(glob_match(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.eth0/100.rp_filter"
        ));
        assert!(!glob_match(
            "net.ipv4.conf.*.rp_filter",
            "net.ipv4.conf.a.b.rp_filter"
        ));
        assert!(glob_match(
            "net.*.conf.*.forwarding",
            "net.ipv6.conf.all.forwarding"
        ));
        assert!(glob_match(
            "net.ipv4.conf.eth[0-9].x",
            "net.ipv4.conf.eth3.x"
        ));
        assert!(!glob_match(
            "net.ipv4.conf.eth[!0-9].x",
            "net.ipv4.conf.eth3.x"
        ));
        assert!(glob_match("net.ipv4.conf.eth?.x", "net.ipv4.conf.eth3.x"));
        assert!(!glob_match("net.ipv4.conf.eth?.x", "net.ipv4.conf.eth33.x"));
        assert!(glob_match("net.*a*b", "net.xaab"));
        assert!(glob_match("a[b", "a[b"));
        assert!(!glob_match("a*", "a.b"));
    }

    proptest! {
        #[test]
        fn config_parser_never_panics(text in "\\PC{0,300}") {
            let mut w = Warnings::default();
            let _ = parse_config(&text, Path::new("x.conf"), &mut w);
        }

        #[test]
        fn config_parser_truncation_never_panics(cut in 0usize..200) {
            let text = "# c\nnet.core.somaxconn = 4096\n-net.ipv4.conf.*.rp_filter = 1\n-x.y\nbad\n";
            let cut = cut.min(text.len());
            let mut w = Warnings::default();
            let _ = parse_config(&text[..cut], Path::new("x.conf"), &mut w);
        }

        #[test]
        fn config_assignments_round_trip(
            key in "[a-z_][a-z0-9_]{0,7}(\\.[a-z0-9_-]{1,8}){1,4}",
            words in proptest::collection::vec("[0-9a-z]{1,6}", 0..4),
            slash in any::<bool>(),
            minus in any::<bool>(),
        ) {
            let written = if slash { key.replace('.', "/") } else { key.clone() };
            let line = format!("{}{} =\t{}\n", if minus { "-" } else { "" }, written, words.join("  "));
            let mut w = Warnings::default();
            let e = parse_config(&line, Path::new("a.conf"), &mut w);
            prop_assert!(w.0.is_empty());
            prop_assert_eq!(e.len(), 1);
            prop_assert_eq!(&e[0].key, &key);
            prop_assert_eq!(&e[0].value, &words.join(" "));
            prop_assert_eq!(e[0].ignore_failure, minus);
        }

        #[test]
        fn key_forms_map_to_same_path(
            first in "[a-z]{1,6}",
            comps in proptest::collection::vec("[a-z0-9_]{1,6}(\\.[0-9]{1,3})?", 1..5),
        ) {
            // Real names start with a dot-free component (`net`, `fs`); after it, dots
            // inside components must survive both forms.
            let root = Root::new("/p", "/s");
            let slash = format!("{first}/{}", comps.join("/"));
            let dotted = normalize_key(&slash);
            prop_assert_eq!(key_to_path(&root, &slash), key_to_path(&root, &dotted));
            prop_assert_eq!(key_to_path(&root, &dotted), Path::new("/p/sys").join(&slash));
        }

        #[test]
        fn glob_and_keys_never_panic(p in "[a-z.*?\\[\\]!^-]{0,20}", n in "[a-z./]{0,20}") {
            let _ = glob_match(&p, &n);
            let _ = key_to_path(&Root::default(), &n);
            let _ = key_is_valid(&n);
            let _ = normalize_key(&n);
        }
    }
}
