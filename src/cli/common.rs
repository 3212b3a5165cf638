//! What several subcommands share: building a collector from the global flags, sampling a
//! window with a progress bar on a terminal, and loading captures.

use super::GlobalArgs;
use crate::collector::{CaptureOptions, Collector, Scope};
use crate::snapshot::Capture;
use std::io::IsTerminal;
use std::time::Duration;

/// The namespaces the global flags ask for: `--netns` that one, `--host-only` the host's,
/// else every namespace when reading the live `/proc` (a fixture tree has no namespaces to
/// enter).
pub fn scope(global: &GlobalArgs) -> Scope {
    match &global.netns {
        Some(spec) => Scope::One(crate::netns::resolve(spec)),
        None if global.host_only || global.proc_root != std::path::Path::new("/proc") => {
            Scope::HostOnly
        }
        None => Scope::All,
    }
}

/// A collector for the root and namespaces the global flags name.
pub fn collector(global: &GlobalArgs, options: CaptureOptions) -> crate::Result<Collector> {
    let scope = scope(global);
    if scope == Scope::All {
        raise_fd_limit();
    }
    Collector::with_scope(global.root(), options, scope)
}

/// Raise the soft limit of open files to the hard limit: each namespace's thread keeps its
/// sysctl directories and netlink sockets open, a few dozen fds per namespace, more than the
/// usual soft limit of 1,024 allows on a host with a hundred pods (Go programs do the same at
/// start). A failure leaves the limit as it was (namespaces that cannot be read are warned
/// about).
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the valid, exclusively borrowed `lim`;
    // setrlimit only reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Sample a window of `interval`, with a progress bar on stderr when it is a terminal. Kernel
/// drop reasons are counted during the window when the eBPF drop monitor can run here.
pub fn capture(global: &GlobalArgs, interval: Duration) -> crate::Result<Capture> {
    capture_since(global, interval, false)
}

/// [`capture`], with the kernel log read from boot on when `since_boot` (`check
/// --since-boot`) instead of from the window's start.
pub fn capture_since(
    global: &GlobalArgs,
    interval: Duration,
    since_boot: bool,
) -> crate::Result<Capture> {
    let mut collector = collector(global, CaptureOptions::default())?
        .with_drops(true)
        .with_kernel_log_since_boot(since_boot);
    let show =
        !global.quiet && std::io::stderr().is_terminal() && interval >= Duration::from_millis(500);
    if !show {
        return Ok(collector.capture(interval, |_| {}));
    }
    let bar = indicatif::ProgressBar::new(interval.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("sampling {bar:30} {elapsed}/{duration}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let cap = collector.capture(interval, |elapsed| {
        bar.set_position(elapsed.as_millis() as u64)
    });
    bar.finish_and_clear();
    Ok(cap)
}

/// Read a support archive (`--archive PATH`) into a capture: counters since boot, an
/// all-zero snapshot at boot and the archive's, the uptime apart.
pub fn archive_capture(path: &std::path::Path) -> crate::Result<Capture> {
    Ok(crate::archive::read(path)?.capture)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn scope_of(args: &[&str]) -> Scope {
        let cli = Cli::try_parse_from(args).unwrap();
        scope(&cli.global)
    }

    /// Every namespace by default on the live /proc; `--host-only`, a fixture root and
    /// `--netns` narrow it; `--host-only` with `--netns` is refused.
    #[test]
    fn flags_choose_the_namespaces() {
        assert_eq!(scope_of(&["nettune", "snapshot"]), Scope::All);
        assert_eq!(
            scope_of(&["nettune", "check", "--host-only"]),
            Scope::HostOnly
        );
        assert_eq!(
            scope_of(&["nettune", "--proc-root", "/tmp/fixture/proc", "check"]),
            Scope::HostOnly
        );
        assert_eq!(
            scope_of(&["nettune", "snapshot", "--netns", "pod-a"]),
            Scope::One("/run/netns/pod-a".into())
        );
        assert_eq!(
            scope_of(&["nettune", "export", "--netns", "/proc/42/ns/net"]),
            Scope::One("/proc/42/ns/net".into())
        );
        assert!(Cli::try_parse_from(["nettune", "check", "--host-only", "--netns", "x"]).is_err());
    }
}
