//! `nettune generate man|completions DIR` (hidden): the manual pages and shell completions
//! the Debian package ships, from the same clap definition the binary parses with. They are
//! committed under `deploy/man/` and `deploy/completions/`; a test regenerates them and fails
//! when they differ (`cargo run -- generate man deploy/man` after a flag changes).

use super::Cli;
use clap::{Args, CommandFactory, ValueEnum};
use std::path::{Path, PathBuf};

/// Arguments of `nettune generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write.
    #[arg(value_enum)]
    pub what: Artifact,
    /// Directory to write into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The generated files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Artifact {
    /// `nettune.1` and `nettune-SUBCOMMAND.1` for every subcommand.
    Man,
    /// `nettune.bash`, `_nettune` (zsh) and `nettune.fish`.
    Completions,
}

/// The clap command the files are generated from: the binary's own, with the plain package
/// version (not the revision, so the files change only when the interface does).
pub fn command() -> clap::Command {
    Cli::command()
        .version(crate::build_info::VERSION)
        .long_version(crate::build_info::VERSION)
}

/// Write `what` into `dir`; returns the files written, sorted.
pub fn write(what: Artifact, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    match what {
        Artifact::Man => {
            let mut cmd = command().disable_help_subcommand(true);
            cmd.build();
            man_pages(&cmd, dir, &mut written)?;
        }
        Artifact::Completions => {
            use clap_complete::Shell;
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                let mut cmd = visible(command());
                written.push(clap_complete::generate_to(shell, &mut cmd, "nettune", dir)?);
            }
        }
    }
    written.sort();
    Ok(written)
}

/// `cmd` without its hidden subcommands (`generate` itself), which clap_complete would offer.
fn visible(cmd: clap::Command) -> clap::Command {
    let mut out = clap::Command::new("nettune")
        .version(crate::build_info::VERSION)
        .subcommand_required(true);
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    for arg in cmd.get_arguments() {
        out = out.arg(arg.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(sub.clone());
    }
    out
}

/// One page for `cmd` and one for each of its visible subcommands, recursively.
fn man_pages(cmd: &clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, dir, out)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("nettune {}", crate::build_info::VERSION))
        .manual("nettune manual");
    out.push(man.generate_to(dir)?);
    Ok(())
}

/// Run `nettune generate`.
pub fn run(args: &GenerateArgs) -> anyhow::Result<u8> {
    let written = write(args.what, &args.dir)
        .map_err(|e| anyhow::anyhow!("cannot write into {}: {e}", args.dir.display()))?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(super::exit::OK)
}
