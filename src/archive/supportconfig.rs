//! SUSE supportconfig: flat `*.txt` files, each a run of sections headed by
//! `#==[ Command ]======#` or `#==[ Configuration File ]===#` (any `#==[ Kind ]` header),
//! then `# /path/of/command args` or `# /path/of/file`, then the output or the file's
//! content up to the next header. The sections are turned into the tree a sosreport has:
//! a file section of `/proc/…`, `/sys/…` or `/etc/…` becomes that path, a command becomes
//! the name sos gives its output (`/sbin/ip -s link` → `sos_commands/networking/ip_-s_link`),
//! so everything downstream reads one layout.

use super::view::{Index, Node, Stored, View};

/// The supportconfig files whose sections are read (the others hold nothing nettune uses).
pub const FILES: [&str; 8] = [
    "basic-environment.txt",
    "basic-health-check.txt",
    "network.txt",
    "proc.txt",
    "env.txt",
    "boot.txt",
    "sysfs.txt",
    "supportconfig.txt",
];

/// Whether the archive's top looks like a supportconfig.
pub fn looks_like(view: &View) -> bool {
    view.stat("basic-environment.txt").is_some() || view.stat("supportconfig.txt").is_some()
}

/// One section: its header kind, the path or command line, and its body.
#[derive(Debug, PartialEq, Eq)]
pub struct Section<'a> {
    /// `Command`, `Configuration File`, `System File`, …
    pub kind: &'a str,
    /// The line after the header without its `# `.
    pub what: &'a str,
    /// Everything up to the next header.
    pub body: &'a str,
}

/// Split one supportconfig file into its sections (text before the first header is not a
/// section).
pub fn sections(text: &str) -> Vec<Section<'_>> {
    let mut out = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("#==[") {
            starts.push(pos);
        }
        pos += line.len();
    }
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let chunk = &text[start..end];
        let (header, rest) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let kind = header
            .trim_start_matches("#==[")
            .split(']')
            .next()
            .unwrap_or("")
            .trim();
        let (what, body) = match rest.split_once('\n') {
            Some((first, body)) if first.starts_with('#') => (first, body),
            Some(_) | None if rest.starts_with('#') => (rest.trim_end(), ""),
            _ => ("", rest),
        };
        out.push(Section {
            kind,
            what: what.trim_start_matches('#').trim(),
            body,
        });
    }
    out
}

/// The sosreport path a command's output is found at (`/bin/uname -a` →
/// `sos_commands/kernel/uname_-a`).
pub fn command_member(cmd: &str) -> Option<String> {
    let mut words = cmd.split_ascii_whitespace();
    let prog = words.next()?.rsplit('/').next()?;
    if prog.is_empty() || prog.contains(['.', '\\']) {
        return None;
    }
    let mut name = prog.to_string();
    for w in words {
        if w.contains('/') || w == "|" || w.starts_with('>') {
            break;
        }
        name.push('_');
        name.push_str(w);
    }
    let dir = match prog {
        "sysctl" | "uname" | "dmesg" => "kernel",
        "uptime" | "hostname" => "host",
        "date" => "date",
        _ => "networking",
    };
    Some(format!("sos_commands/{dir}/{name}"))
}

/// The archive path of a file section (`/proc/net/dev` → `proc/net/dev`), for the trees
/// nettune reads.
fn file_member(path: &str) -> Option<String> {
    let path = path.split_ascii_whitespace().next()?;
    let rel = path.strip_prefix('/')?;
    let ok = ["proc/", "sys/", "etc/"].iter().any(|p| rel.starts_with(p))
        && !rel.split('/').any(|c| c == ".." || c.is_empty());
    ok.then(|| rel.to_string())
}

/// Build the sosreport-shaped tree of a supportconfig whose top is `view`; `problems` gets
/// one line per file that could not be read.
pub fn tree(view: &View, problems: &mut Vec<String>) -> Index {
    let mut ix = Index::default();
    for file in FILES {
        let text = match view.text(file) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        for s in sections(&text) {
            let member = if s.kind == "Command" {
                command_member(s.what)
            } else {
                file_member(s.what)
            };
            let Some(member) = member else { continue };
            if ix.nodes.contains_key(&member) {
                continue;
            }
            let bytes = s.body.as_bytes().to_vec();
            ix.insert(
                &member,
                Node::File {
                    size: bytes.len() as u64,
                },
            );
            ix.files.insert(member, Stored::Mem(bytes));
        }
    }
    ix
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Splitting and naming never panic, and every body is a slice of the input.
        #[test]
        fn sections_never_panic(lines in proptest::collection::vec(
            proptest::sample::select(vec![
                "#==[ Command ]====#", "#==[ Configuration File ]===#", "#==[", "# /bin/x -a",
                "# /proc/net/dev", "data 1 2", "", "#", "# ", "é\u{0}", "#==[ ]",
            ]), 0..40)) {
            let text = lines.join("\n");
            for s in sections(&text) {
                prop_assert!(text.contains(s.body));
                let _ = command_member(s.what);
                let _ = file_member(s.what);
            }
        }
    }

    #[test]
    fn sections_split_at_headers() {
        let text = "intro\n#==[ Command ]======================================#\n# /bin/uname -a\nLinux h 6.4.0 #1\n\n#==[ Configuration File ]===========================#\n# /proc/net/dev\nInter-|\n#==[ Command ]====#\n# /sbin/ip -s link\n";
        let s = sections(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].kind, "Command");
        assert_eq!(s[0].what, "/bin/uname -a");
        assert_eq!(s[0].body, "Linux h 6.4.0 #1\n\n");
        assert_eq!(s[1].kind, "Configuration File");
        assert_eq!(s[1].what, "/proc/net/dev");
        assert_eq!(s[1].body, "Inter-|\n");
        assert_eq!(s[2].what, "/sbin/ip -s link");
        assert_eq!(s[2].body, "");
    }

    #[test]
    fn commands_map_to_sos_names() {
        assert_eq!(
            command_member("/bin/uname -a").as_deref(),
            Some("sos_commands/kernel/uname_-a")
        );
        assert_eq!(
            command_member("/usr/sbin/ethtool -S eth0").as_deref(),
            Some("sos_commands/networking/ethtool_-S_eth0")
        );
        assert_eq!(
            command_member("/sbin/sysctl -a").as_deref(),
            Some("sos_commands/kernel/sysctl_-a")
        );
        assert_eq!(command_member(""), None);
        assert_eq!(
            file_member("/proc/net/dev").as_deref(),
            Some("proc/net/dev")
        );
        assert_eq!(file_member("/proc/../x"), None);
        assert_eq!(file_member("/var/log/x"), None);
    }
}
