//! Build metadata for `nettune --version` and the exporter's `nettune_build_info`:
//! `NETTUNE_REVISION` (the git commit, `unknown` outside a git checkout of this crate — a
//! tarball — unless the environment sets `NETTUNE_REVISION`) and `NETTUNE_EBPF` (`built in`
//! when the committed BPF objects are ELF files, as `include_bytes!` embeds them).

use std::path::Path;
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&dir);
    println!("cargo:rerun-if-env-changed=NETTUNE_REVISION");
    let revision = match std::env::var("NETTUNE_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_string(),
        _ => git_revision(dir).unwrap_or_else(|| "unknown".into()),
    };
    println!("cargo:rustc-env=NETTUNE_REVISION={revision}");

    let mut ebpf = "built in";
    for obj in ["src/bpf/drops.bpf.o", "src/bpf/xdp_filter.bpf.o"] {
        println!("cargo:rerun-if-changed={obj}");
        let elf = std::fs::read(dir.join(obj)).is_ok_and(|b| b.starts_with(b"\x7fELF"));
        if !elf {
            ebpf = "not built in";
        }
    }
    println!("cargo:rustc-env=NETTUNE_EBPF={ebpf}");
}

/// The commit checked out in `dir` (uncommitted changes are not noted); `None`
/// when `dir` is not the top of a git work tree (an unpacked tarball, even one inside some
/// other repository) or git is missing.
fn git_revision(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs — those of
    // them that exist (cargo re-runs a script on every build for a path that does not).
    let watch = |path: String| {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    };
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watch(format!("{git_dir}/HEAD"));
        if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
            watch(format!("{common}/packed-refs"));
            if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
                let loose = format!("{common}/{head_ref}");
                // Its directory too: a packed branch's next commit creates the loose file.
                if let Some(dir) = Path::new(&loose).parent() {
                    watch(dir.display().to_string());
                }
                watch(loose);
            }
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
