//! The `nettune` binary: parse arguments, call the library, map the outcome to an exit code.

use clap::Parser;
use nettune::cli::{exit, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::FAILURE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.global);
    std::panic::set_hook(Box::new(one_line_panic));
    // Unwinding (not exiting from the hook) so that guards still undo what they own (a lab
    // run's namespaces and sysctls, a transaction's journal) before the process ends.
    let outcome = std::panic::catch_unwind(|| {
        #[cfg(feature = "fault-injection")]
        if std::env::var_os("NETTUNE_INJECT_PANIC").is_some() {
            panic!("injected panic (NETTUNE_INJECT_PANIC)");
        }
        nettune::cli::run(&cli)
    });
    match outcome {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) if is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Ok(Err(e)) => {
            eprintln!("nettune: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
        // The hook has printed the one line.
        Err(_) => ExitCode::from(exit::FAILURE),
    }
}

/// Any panic (a bug, or an allocation bound a hostile input slipped past) is one line on
/// stderr, never a backtrace dump; the main thread's panic then exits 3.
fn one_line_panic(info: &std::panic::PanicHookInfo<'_>) {
    let msg = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string());
    let at = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let msg: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    eprintln!("nettune: internal error: {msg}{at}; please report this bug");
}

/// A closed stdout (`nettune check | head`) is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

fn init_logging(global: &nettune::cli::GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NETTUNE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(global.use_color(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .with_target(false)
        .without_time()
        .init();
}
