//! Durable file writes for everything nettune writes as root: captures, exporter textfiles,
//! persist files, lab state and the journal.
//!
//! Every file is created relative to a directory opened with `O_DIRECTORY|O_NOFOLLOW`, with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` and an explicit mode, so a symlink planted at the file's name or
//! at a predictable temporary name is never followed. A replacement is written to a randomly
//! named temporary file, fsynced, renamed over the target and the directory fsynced, so a crash
//! leaves either the old or the new content, never a mix. A target that is itself a symlink is
//! refused.

use crate::{Error, Result};
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A directory opened with `O_DIRECTORY|O_NOFOLLOW`; files are created relative to it.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Open `path` as a directory without following a symlink at its last component.
    pub fn open(path: &Path) -> Result<Dir> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let raw = openat(
            None,
            path,
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR if is_symlink(path) => {
                Error::Refused(format!(
                    "{}: is a symlink; nettune does not write through symlinks (use the real directory)",
                    path.display()
                ))
            }
            e => Error::io(path, e.into()),
        })?;
        // SAFETY: `openat` returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Create `name` exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`) with `mode`, then fsync the
    /// directory so the new name survives a crash. Fails if anything exists at `name`.
    pub fn create_new(&self, name: &str, mode: u32) -> Result<File> {
        let file = self.create_raw(name, mode)?;
        self.sync()?;
        Ok(file)
    }

    fn create_raw(&self, name: &str, mode: u32) -> Result<File> {
        check_name(name)?;
        let raw = openat(
            Some(self.fd.as_raw_fd()),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| Error::io(self.path.join(name), e.into()))?;
        // SAFETY: `openat` returned a new descriptor that nothing else owns.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        // The umask may have cleared bits the caller asked for; the mode is explicit.
        nix::sys::stat::fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode))
            .map_err(|e| Error::io(self.path.join(name), e.into()))?;
        Ok(file)
    }

    /// Replace `name` with `data` atomically and durably (random temporary name, exclusive
    /// create, fsync, rename, fsync of the directory). A symlink at `name` is refused; so is
    /// anything that is not a regular file.
    pub fn write_atomic(&self, name: &str, data: &[u8], mode: u32) -> Result<()> {
        check_name(name)?;
        let target = self.path.join(name);
        match fstatat(
            Some(self.fd.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => {
                let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
                if kind == SFlag::S_IFLNK {
                    return Err(Error::Refused(format!(
                        "{}: is a symlink; nettune does not write through symlinks (remove it or write to the real file)",
                        target.display()
                    )));
                }
                if kind != SFlag::S_IFREG {
                    return Err(Error::Refused(format!(
                        "{}: is not a regular file; give a file path",
                        target.display()
                    )));
                }
            }
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(Error::io(&target, e.into())),
        }
        let tmp = format!(".{name}.{:016x}.tmp", random_u64()?);
        let written = (|| {
            let mut f = self.create_raw(&tmp, mode)?;
            f.write_all(data)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io(self.path.join(&tmp), e))?;
            renameat(
                Some(self.fd.as_raw_fd()),
                tmp.as_str(),
                Some(self.fd.as_raw_fd()),
                name,
            )
            .map_err(|e| Error::io(&target, e.into()))
        })();
        if let Err(e) = written {
            let _ = nix::unistd::unlinkat(
                Some(self.fd.as_raw_fd()),
                tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            return Err(e);
        }
        self.sync()
    }

    /// fsync the directory (makes creations, renames and removals durable).
    pub fn sync(&self) -> Result<()> {
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(|e| Error::io(&self.path, e.into()))
    }
}

/// Trust check of a directory nettune keeps root-only state in (the state directory, its
/// `journal/` and `lab/`): it must be a real directory (not a symlink), owned by the
/// effective uid and writable by nobody else. With `create`, a missing directory is created
/// mode 0700 (parents too). Returns whether it exists. The one check every command that
/// uses the state directory goes through.
pub fn private_dir(path: &Path, create: bool) -> Result<bool> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Ok(false);
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| Error::io(path, e))?;
            std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let refuse = |why: String| {
        Err(Error::Refused(format!(
            "state directory {}: {why}; nettune keeps journals and locks only in a directory \
             no one else can change",
            path.display()
        )))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symlink (use the real directory)".into());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".into());
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return refuse(format!(
            "is owned by uid {}, not uid {euid} (chown it or remove it)",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "is group- or world-writable (mode {:o}; chmod 700 it)",
            meta.mode() & 0o7777
        ));
    }
    Ok(true)
}

/// Read an input file nettune is given (a capture, a plan, a profile): a regular file (not a
/// device, FIFO or directory: checked on the opened file, opened non-blocking so that a FIFO
/// without a writer does not hang) of at most `max` bytes, as UTF-8 text. `what` names the
/// kind of file in the messages. The error is the reason alone (the caller names the path).
pub fn read_regular(path: &Path, max: u64, what: &str) -> std::result::Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!("not a regular file; give {what} file"));
    }
    let too_big = |n: u64| {
        format!(
            "{n} bytes, larger than the {} MiB {what} may be",
            max.div_ceil(1 << 20)
        )
    };
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))
}

/// Replace the file at `path` with `data` atomically and durably, with `mode`
/// (see [`Dir::write_atomic`]).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let (dir, name) = split(path)?;
    Dir::open(dir)?.write_atomic(name, data, mode)
}

/// Create a new file at `path` exclusively with `mode` (see [`Dir::create_new`]).
pub fn create_new(path: &Path, mode: u32) -> Result<File> {
    let (dir, name) = split(path)?;
    Dir::open(dir)?.create_new(name, mode)
}

fn split(path: &Path) -> Result<(&Path, &str)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Input(format!("{}: not a file name", path.display())))?;
    Ok((path.parent().unwrap_or(Path::new(".")), name))
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(Error::Input(format!("{name:?}: not a plain file name")));
    }
    Ok(())
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn random_u64() -> Result<u64> {
    getrandom::u64().map_err(|e| Error::io("getrandom", std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_atomically_with_the_mode_asked_for() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.prom");
        write_atomic(&p, b"one\n", 0o644).unwrap();
        write_atomic(&p, b"two\n", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_symlink_target_is_refused_and_its_file_untouched() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = d.path().join("out.prom");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = write_atomic(&link, b"x", 0o644).unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn a_symlinked_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = write_atomic(&link.join("f"), b"x", 0o644).unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(!real.join("f").exists());
    }

    #[test]
    fn create_new_is_exclusive_and_never_follows_a_link() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journal");
        let mut f = create_new(&p, 0o600).unwrap();
        f.write_all(b"x").unwrap();
        assert!(create_new(&p, 0o600).is_err(), "second create fails");
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = d.path().join("planted");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_new(&link, 0o600).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn private_dirs_are_created_0700_and_untrusted_ones_refused() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("a/state");
        assert!(
            !private_dir(&state, false).unwrap(),
            "not created without create"
        );
        assert!(!state.exists());
        assert!(private_dir(&state, true).unwrap());
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(private_dir(&state, false).unwrap());
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = private_dir(&state, true).unwrap_err();
        assert!(
            matches!(e, Error::Refused(_)) && e.to_string().contains("writable"),
            "{e}"
        );
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            private_dir(&state, true).is_ok(),
            "others may read, not write"
        );
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        let e = private_dir(&link, true).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(private_dir(&file, true).is_err());
        if nix::unistd::geteuid().is_root() {
            nix::unistd::chown(&state, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
            let e = private_dir(&state, false).unwrap_err();
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        }
    }

    #[test]
    fn not_a_regular_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        assert!(matches!(
            write_atomic(&d.path().join("sub"), b"x", 0o644),
            Err(Error::Refused(_))
        ));
    }
}
