//! Test and benchmark helpers: the shared sosreport fixtures with their symlinks restored,
//! tarballs of a tree in every compression, and a synthetic supportconfig written from a
//! sosreport's files in the supportconfig format. Compiled for tests only.

use super::tarball::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `../shared/fixtures/sos/<name>`.
pub fn shared_sos(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/sos")
        .join(name)
}

/// The files of the shared fixtures that were symlinks in the sosreport: git stored each as
/// a file holding its target (see the fixtures' README).
const LINKS: [&str; 6] = [
    "proc/net",
    "proc/self",
    "uptime",
    "uname",
    "hostname",
    "date",
];

/// A copy of the shared fixture `name` (`hotsos-rabbitmq`, `hotsos-openstack`) with its
/// symlinks restored, under `dest/<top>`; `None` (after [`crate::testing::require`]) when the
/// shared fixtures are absent.
#[track_caller]
pub fn sos_fixture(name: &str, dest: &Path, top: &str) -> Option<PathBuf> {
    let src = shared_sos(name);
    if !crate::testing::require("../shared/fixtures/sos", src.is_dir()) {
        return None;
    }
    let out = dest.join(top);
    copy_dir(&src, &out).expect("copy the fixture");
    for link in LINKS {
        let p = out.join(link);
        if p.is_file() {
            let target = std::fs::read_to_string(&p).expect("read a link file");
            std::fs::remove_file(&p).expect("remove a link file");
            std::os::unix::fs::symlink(target.trim(), &p).expect("restore a symlink");
        }
    }
    Some(out)
}

fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dest.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &to)?;
        } else {
            std::fs::write(&to, std::fs::read(e.path())?)?;
        }
    }
    Ok(())
}

/// File extension of a compression.
pub fn extension(c: Compression) -> &'static str {
    match c {
        Compression::None => "tar",
        Compression::Gzip => "tar.gz",
        Compression::Xz => "tar.xz",
        Compression::Bzip2 => "tar.bz2",
        Compression::Zstd => "tar.zst",
    }
}

/// Every compression.
pub const COMPRESSIONS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Xz,
    Compression::Bzip2,
    Compression::Zstd,
];

/// Write the tree at `dir` (symlinks kept as links) as a tarball at `dest` whose members sit
/// under `top/`, then `extra` members appended as regular files.
pub fn tarball(dir: &Path, top: &str, dest: &Path, c: Compression, extra: &[(&str, &[u8])]) {
    let file = std::fs::File::create(dest).expect("create tarball");
    let w: Box<dyn Write> = match c {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        )),
        Compression::Xz => Box::new(xz2::write::XzEncoder::new(file, 1)),
        Compression::Bzip2 => Box::new(bzip2::write::BzEncoder::new(
            file,
            bzip2::Compression::fast(),
        )),
        Compression::Zstd => Box::new(
            zstd::stream::write::Encoder::new(file, 1)
                .expect("zstd")
                .auto_finish(),
        ),
    };
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    b.append_dir_all(top, dir).expect("append tree");
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{top}/{name}"), *data)
            .expect("append member");
    }
    let w = b.into_inner().expect("finish tar");
    drop(w);
}

/// A raw tar header for `name` (written byte for byte: absolute and `..` names included,
/// which the tar crate's builder refuses) claiming `size` bytes.
pub fn raw_header(name: &str, size: u64) -> [u8; 512] {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(h.as_bytes());
    out
}

/// One raw member (header, data, padding).
pub fn raw_member(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = raw_header(name, data.len() as u64).to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// A supportconfig directory at `dest` written from the files of the sosreport at `sos`:
/// its proc files as `Configuration File` sections of `proc.txt`, `uname -a`, `uptime`,
/// `hostname` and `date` as commands of `basic-environment.txt`, `sysctl -a` in `env.txt`,
/// and the networking outputs (ethtool, ss, ip, nstat) as commands of `network.txt`.
pub fn supportconfig_from(sos: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).expect("mkdir");
    let read = |rel: &str| std::fs::read_to_string(sos.join(rel)).ok();
    let cmd = |out: &mut String, command: &str, body: Option<String>| {
        if let Some(body) = body {
            out.push_str("#==[ Command ]======================================#\n");
            out.push_str(&format!("# {command}\n{body}"));
            if !body.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
        }
    };
    let file = |out: &mut String, path: &str, body: Option<String>| {
        if let Some(body) = body {
            out.push_str("#==[ Configuration File ]===========================#\n");
            out.push_str(&format!("# {path}\n{body}\n"));
        }
    };
    let mut basic = String::from("Script Version: 3.1.11\n\n");
    cmd(&mut basic, "/bin/date", read("sos_commands/date/date"));
    cmd(
        &mut basic,
        "/bin/uname -a",
        read("sos_commands/kernel/uname_-a"),
    );
    cmd(
        &mut basic,
        "/usr/bin/uptime",
        read("sos_commands/host/uptime"),
    );
    cmd(
        &mut basic,
        "/bin/hostname",
        read("sos_commands/host/hostname"),
    );
    let mut proc = String::new();
    for f in [
        "net/dev",
        "net/softnet_stat",
        "net/snmp",
        "net/netstat",
        "net/snmp6",
        "net/sockstat",
        "net/sockstat6",
        "net/netlink",
        "interrupts",
        "softirqs",
        "stat",
        "meminfo",
        "cpuinfo",
    ] {
        file(&mut proc, &format!("/proc/{f}"), read(&format!("proc/{f}")));
    }
    let mut env = String::new();
    cmd(
        &mut env,
        "/sbin/sysctl -a",
        read("sos_commands/kernel/sysctl_-a"),
    );
    file(&mut env, "/etc/sysctl.conf", read("etc/sysctl.conf"));
    let mut network = String::new();
    let net = sos.join("sos_commands/networking");
    let mut names: Vec<String> = std::fs::read_dir(&net)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        let wanted = [
            "ethtool_",
            "ss_",
            "ip_-s_",
            "nstat_",
            "netstat_",
            "tc_-s_qdisc",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        if !wanted || name.starts_with("ethtool_--") {
            continue;
        }
        let command = format!("/usr/sbin/{}", name.replace('_', " "));
        cmd(
            &mut network,
            &command,
            read(&format!("sos_commands/networking/{name}")),
        );
    }
    for (name, text) in [
        ("basic-environment.txt", basic),
        ("proc.txt", proc),
        ("env.txt", env),
        ("network.txt", network),
    ] {
        std::fs::write(dest.join(name), text).expect("write supportconfig file");
    }
}
