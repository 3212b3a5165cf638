//! The state directory's one writer lock: every command that changes the kernel or the
//! journal (`tune --apply`, `rollback`, `lab run`, the boot-time apply unit, `autotune`) holds
//! it for as long as it may write, so two writers never interleave their "old" values or
//! persist files.
//!
//! `<state dir>/lock` is locked with `flock(LOCK_EX | LOCK_NB)`: taken without waiting, and
//! released by the kernel when the holder exits, however it exits (kill -9 included), so a
//! stale lock cannot exist. The holder writes its PID and command line into the file so that a
//! second writer can say who holds it. The file is opened with `O_NOFOLLOW` and must be a
//! regular file owned by us: a symlink or something else planted there is refused.

use crate::{Error, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Name of the lock file inside the state directory.
pub const LOCK_FILE: &str = "lock";

/// Who holds the lock, as the holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Process id of the holder.
    pub pid: u32,
    /// What the holder runs (`nettune tune --apply`).
    pub command: String,
}

/// The held lock; dropping it releases the lock (the file stays, empty of meaning).
#[derive(Debug)]
pub struct StateLock {
    file: Flock<File>,
    path: PathBuf,
}

impl StateLock {
    /// Take the lock of `state_dir` without waiting, recording `command` as the holder's.
    /// Creates the state directory (mode 0700) when it does not exist. A lock held by another
    /// process is [`Error::Refused`] naming its PID and command.
    pub fn acquire(state_dir: &Path, command: &str) -> Result<StateLock> {
        ensure_dir(state_dir)?;
        let path = state_dir.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, errno))
                if errno == nix::errno::Errno::EWOULDBLOCK
                    || errno == nix::errno::Errno::EAGAIN =>
            {
                let who = read_holder(&mut file)
                    .map(|h| format!("pid {} ({})", h.pid, h.command))
                    .unwrap_or_else(|| "another process".to_string());
                return Err(Error::Refused(format!(
                    "{} is locked by {who}, which is changing the kernel; wait for it to finish \
                     or stop it, then run this again",
                    state_dir.display()
                )));
            }
            Err((_, errno)) => {
                return Err(Error::io(&path, std::io::Error::from(errno)));
            }
        };
        let record = format!("{}\n{}\n", std::process::id(), one_line(command));
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(record.as_bytes()))
            .and_then(|()| file.sync_data());
        written.map_err(|e| Error::io(&path, e))?;
        Ok(StateLock { file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Say nobody holds it before the kernel releases the lock with the fd.
        let _ = self.file.set_len(0);
    }
}

/// Who holds the lock of `state_dir` now, if anyone (for `status` displays). `None` when the
/// lock is free or the directory has none.
pub fn holder(state_dir: &Path) -> Option<Holder> {
    let path = state_dir.join(LOCK_FILE);
    let file = open_existing(&path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => None,
        Err((mut file, _)) => read_holder(&mut file),
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let command = lines.next().unwrap_or("").trim().to_string();
    Some(Holder { pid, command })
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

fn ensure_dir(dir: &Path) -> Result<()> {
    crate::durable::private_dir(dir, true).map(|_| ())
}

fn open_lock_file(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc_flags())
        .open(path)
        .map_err(|e| refuse_symlink(path, e))?;
    check_regular(path, &file)?;
    Ok(file)
}

fn open_existing(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
        .map_err(|e| refuse_symlink(path, e))?;
    check_regular(path, &file)?;
    Ok(file)
}

fn libc_flags() -> i32 {
    (nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC).bits()
}

fn refuse_symlink(path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
        Error::Refused(format!(
            "{} is a symlink; nettune refuses to follow it (remove it)",
            path.display()
        ))
    } else {
        Error::io(path, e)
    }
}

fn check_regular(path: &Path, file: &File) -> Result<()> {
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(Error::Refused(format!(
            "{} is not a regular file owned by uid {}; remove it",
            path.display(),
            nix::unistd::geteuid()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_with_the_holders_pid_and_command() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "nettune tune --apply").unwrap();
        let meta = std::fs::metadata(&state).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700, "state dir created 0700");
        // flock locks belong to the open file description: a second open in the same process
        // conflicts exactly like another process would.
        let err = StateLock::acquire(&state, "nettune rollback").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Refused(_)), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id()))
                && msg.contains("nettune tune --apply"),
            "{msg}"
        );
        assert_eq!(
            holder(&state),
            Some(Holder {
                pid: std::process::id(),
                command: "nettune tune --apply".into()
            })
        );
        drop(first);
        assert_eq!(holder(&state), None);
        let again = StateLock::acquire(&state, "nettune rollback").unwrap();
        assert_eq!(again.path(), state.join(LOCK_FILE));
        assert_eq!(
            std::fs::metadata(again.path()).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_symlinked_lock_file_or_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::symlink(&victim, state.join(LOCK_FILE)).unwrap();
        let err = StateLock::acquire(&state, "x").unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");

        let linked = dir.path().join("linked-state");
        std::os::unix::fs::symlink(&state, &linked).unwrap();
        let err = StateLock::acquire(&linked, "x").unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }

    #[test]
    fn the_holder_line_cannot_inject_lines() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }
}
