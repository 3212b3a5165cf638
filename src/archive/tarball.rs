//! Tarballs: the compression from the file's first bytes (gzip, xz, bzip2, zstd or none),
//! then one streaming pass over the members. Only members a support archive's analysis needs
//! ([`wanted`]) are staged, each as a regular file in a private directory (mode 0700) and at
//! most [`MEMBER_CAP`] bytes; every other member is skipped unread (seeked over in a plain
//! `.tar`). Member names that are absolute or contain `..` are refused and never used as
//! paths; links are kept in the index, to be resolved inside the archive by [`View`].

use super::view::{Index, Node, Stored, View, MEMBER_CAP};
use super::ArchiveError;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

/// Total bytes staged from one tarball before further members are refused.
pub const STAGE_CAP: u64 = 512 * 1024 * 1024;

/// How a tarball is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain `.tar`.
    None,
    /// `.tar.gz` / `.tgz`.
    Gzip,
    /// `.tar.xz`.
    Xz,
    /// `.tar.bz2`.
    Bzip2,
    /// `.tar.zst`.
    Zstd,
}

impl Compression {
    /// Name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "tar.gz",
            Compression::Xz => "tar.xz",
            Compression::Bzip2 => "tar.bz2",
            Compression::Zstd => "tar.zst",
        }
    }
}

/// The compression of a file starting with `magic`, or `None` when it is not a tarball
/// (a plain tar has `ustar` at offset 257).
pub fn sniff(magic: &[u8]) -> Option<Compression> {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else if magic.starts_with(b"BZh") {
        Some(Compression::Bzip2)
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if magic.len() >= 262 && &magic[257..262] == b"ustar" {
        Some(Compression::None)
    } else {
        None
    }
}

/// Whether a member at `rel` (relative to the archive's top) is read by the analysis. A
/// tarball's members usually sit under one top directory (`sosreport-host-…/`), so callers
/// also ask with that component removed.
pub fn wanted(rel: &str) -> bool {
    const TOP: [&str; 6] = [
        "uptime",
        "uname",
        "hostname",
        "date",
        "version.txt",
        "environment",
    ];
    const PREFIXES: [&str; 11] = [
        "proc/",
        "etc/sysctl.d/",
        "run/sysctl.d/",
        "usr/lib/sysctl.d/",
        "usr/local/lib/sysctl.d/",
        "lib/sysctl.d/",
        "sys/class/net/",
        "sys/devices/system/cpu/",
        "sos_commands/networking/",
        "sos_commands/host/",
        "sos_commands/date/",
    ];
    const FILES: [&str; 7] = [
        "etc/sysctl.conf",
        "etc/hostname",
        "var/log/kern.log",
        "sos_commands/kernel/sysctl_-a",
        "sos_commands/kernel/uname_-a",
        "sos_commands/kernel/dmesg",
        "sos_commands/systemd/timedatectl",
    ];
    if TOP.contains(&rel) || FILES.contains(&rel) {
        return true;
    }
    if !rel.contains('/') {
        // A supportconfig's sections files (`network.txt`, `proc.txt`, …).
        return super::supportconfig::FILES.contains(&rel);
    }
    if rel.starts_with("sos_commands/networking/ip_netns_exec_") {
        // Other namespaces' outputs: not analysed.
        return false;
    }
    if rel.starts_with("sys/devices/") {
        return rel.contains("/net/");
    }
    PREFIXES.iter().any(|p| rel.starts_with(p))
}

/// A member name made safe: components without `.`/empty ones, or why it is refused.
fn clean_name(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') {
        return Err("absolute member name".into());
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("member name with `..`".into()),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err("empty member name".into());
    }
    Ok(parts.join("/"))
}

/// What one pass over a tarball found.
#[derive(Debug)]
pub struct Opened {
    /// The members as a view (staged files under `stage`).
    pub view: View,
    /// The compression found.
    pub compression: Compression,
    /// Problems with single members (refused names, oversized members, truncation), each one
    /// line naming the tarball and the member.
    pub problems: Vec<String>,
    /// Members seen.
    pub members: usize,
}

/// Open the tarball at `path` (compression `compression`) and stage its needed members into
/// `stage` (a private directory the caller owns).
pub fn open(path: &Path, compression: Compression, stage: &Path) -> Result<Opened, ArchiveError> {
    let file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let mut st = State {
        index: Index::default(),
        problems: Vec::new(),
        staged: 0,
        members: 0,
        next: 0,
        origin: path.display().to_string(),
        stage,
    };
    let result = match compression {
        Compression::None => {
            // Seek over unneeded members instead of reading them.
            let mut archive = tar::Archive::new(file);
            match archive.entries_with_seek() {
                Ok(entries) => st.walk(entries),
                Err(e) => Err(e),
            }
        }
        Compression::Gzip => st.stream(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Xz => st.stream(xz2::read::XzDecoder::new_multi_decoder(BufReader::new(
            file,
        ))),
        Compression::Bzip2 => st.stream(bzip2::read::MultiBzDecoder::new(BufReader::new(file))),
        Compression::Zstd => match zstd::stream::read::Decoder::new(file) {
            Ok(d) => st.stream(d),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = result {
        if st.members == 0 {
            return Err(ArchiveError::Corrupt(st.origin.clone(), e.to_string()));
        }
        st.problems.push(format!(
            "{}: truncated or corrupt after {} members ({e}); the members before were read",
            st.origin, st.members
        ));
    }
    Ok(Opened {
        view: View::index(st.index, path),
        compression,
        problems: st.problems,
        members: st.members,
    })
}

struct State<'a> {
    index: Index,
    problems: Vec<String>,
    staged: u64,
    members: usize,
    next: u64,
    origin: String,
    stage: &'a Path,
}

impl State<'_> {
    fn stream<R: Read>(&mut self, reader: R) -> io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries()?;
        self.walk(entries)
    }

    fn walk<R: Read>(&mut self, entries: tar::Entries<'_, R>) -> io::Result<()> {
        for entry in entries {
            let mut entry = entry?;
            self.members += 1;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = match clean_name(&raw) {
                Ok(n) => n,
                Err(why) => {
                    self.problems
                        .push(format!("{}: member {raw:?} refused: {why}", self.origin));
                    continue;
                }
            };
            let kind = entry.header().entry_type();
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            if kind.is_dir() {
                self.index.insert(&name, Node::Dir);
            } else if kind.is_symlink() {
                let target = link();
                self.index.insert(&name, Node::Symlink(target));
            } else if kind.is_hard_link() {
                // A hard link names another member from the archive's top.
                let target = format!("/{}", link());
                self.index.insert(&name, Node::Symlink(target));
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let size = entry.header().size().unwrap_or(u64::MAX);
                self.index.insert(&name, Node::File { size });
                let stripped = name.split_once('/').map_or("", |(_, r)| r);
                if !(wanted(&name) || wanted(stripped)) {
                    continue;
                }
                let stored = if size > MEMBER_CAP {
                    let why = format!("claims {size} bytes, over the {MEMBER_CAP}-byte cap");
                    self.problems
                        .push(format!("{}: member {name} refused: {why}", self.origin));
                    Stored::Skipped(why)
                } else if self.staged + size > STAGE_CAP {
                    let why = format!("over the {STAGE_CAP}-byte total staged from one archive");
                    self.problems
                        .push(format!("{}: member {name} refused: {why}", self.origin));
                    Stored::Skipped(why)
                } else {
                    self.next += 1;
                    let dest = self.stage.join(self.next.to_string());
                    let mut out = File::create(&dest)?;
                    let n = io::copy(&mut (&mut entry).take(MEMBER_CAP), &mut out)?;
                    self.staged += n;
                    Stored::Staged(dest)
                };
                self.index.files.insert(name, stored);
            } else {
                self.index.insert(&name, Node::Other);
            }
        }
        Ok(())
    }
}

/// Whether `path` names a tarball, by content: `Some(compression)` or `None`.
pub fn detect(path: &Path) -> Result<Option<Compression>, ArchiveError> {
    let mut file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let mut magic = Vec::with_capacity(512);
    (&mut file)
        .take(512)
        .read_to_end(&mut magic)
        .map_err(|e| ArchiveError::io(path, e))?;
    let _ = file.rewind();
    Ok(sniff(&magic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A cleaned name never climbs out nor starts at `/`.
        #[test]
        fn clean_names_stay_inside(raw in "[a-z./]{0,30}") {
            if let Ok(name) = clean_name(&raw) {
                prop_assert!(!name.starts_with('/'));
                prop_assert!(name.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
            }
            let _ = wanted(&raw);
            let _ = sniff(raw.as_bytes());
        }
    }

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean_name("./a//b/").unwrap(), "a/b");
        assert!(clean_name("/etc/passwd").is_err());
        assert!(clean_name("a/../../b").is_err());
        assert!(clean_name("./").is_err());
    }

    #[test]
    fn only_needed_members_are_wanted() {
        for yes in [
            "proc/net/dev",
            "proc/1234/net/snmp",
            "sos_commands/networking/ethtool_-S_eth0",
            "etc/sysctl.d/99.conf",
            "uptime",
            "network.txt",
            "sys/devices/pci0000:00/0000:00:03.0/net/eth0/mtu",
        ] {
            assert!(wanted(yes), "{yes}");
        }
        for no in [
            "var/log/journal/x",
            "sos_commands/logs/journalctl_--no-pager",
            "sos_commands/networking/ip_netns_exec_x_ip_address",
            "sys/devices/system/memory/x",
            "messages.txt",
        ] {
            assert!(!wanted(no), "{no}");
        }
    }
}
