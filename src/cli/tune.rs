//! `nettune tune`: sample (or load) a window, diagnose, print the plan; with `--apply`
//! apply it as one journaled transaction, optionally verify and roll back by itself.
//!
//! The flags become a validated [`TuneConfig`] first; everything after that is library
//! calls (`tune::plan_for`, `tune::plan::load`, `tune::route_host_wide`, `tune::run_grouped`,
//! `tune::persist_transaction`, `tune::verify::judge`) and renderers (`report::tune`).
//! Changes that name another network namespace (findings of other namespaces, plan-file
//! entries with `netns`) are applied inside it in the same transaction.

use super::check::{exit_code, obtain_capture};
use super::{exit, parse_duration, GlobalArgs};
use crate::diagnose::diagnose_capture;
use crate::diagnose::Options;
use crate::namespaces::NetnsRef;
use crate::report::tune::{render_plan, render_verify, tune_report, VerifyReport};
use crate::tune::plan::{self, Plan};
use crate::tune::profiles::{self, Profile};
use crate::tune::{self, journal, KernelAppliers, PlanOptions, TxOptions};
use clap::Args;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `nettune tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Length of the sampling window the plan is based on.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Plan from a saved capture (dry run only).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Apply these changes instead of sampling: a JSON array of changes
    /// (`{"kind", "target", "current", "proposed", "finding"}`) or a `tune --json` report.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "only", "verify"])]
    pub plan: Option<PathBuf>,
    /// Only act on these findings (ids, or areas such as `softnet`), comma-separated.
    #[arg(long, value_name = "ID,..", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Tuning profile: balanced, throughput, latency, web-gateway, stream-ingest, cdn, or a
    /// FILE.toml.
    #[arg(long, value_name = "P|FILE", default_value = "balanced")]
    pub profile: String,
    /// Apply the plan as one transaction (the default is a dry run).
    #[arg(long)]
    pub apply: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Apply changes the safety checks refuse (syncookies/timestamps off, lowering values).
    #[arg(long)]
    pub force: bool,
    /// After applying, measure a window this long; roll back if the targeted findings remain.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub verify: Option<Duration>,
    /// Also write the boot-time configuration (sysctl.d, systemd .link, a oneshot unit).
    #[arg(long)]
    pub persist: bool,
    /// Root directory for `--persist` (default `/`).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub persist_root: PathBuf,
}

/// The one-line error when writing to the kernel is not permitted.
pub fn require_root(what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        nix::unistd::geteuid().is_root(),
        "{what} needs CAP_NET_ADMIN (to write /proc/sys/net and /sys/class/net) and \
         CAP_SYS_ADMIN (for --netns and /proc/irq); run it as root"
    );
    Ok(())
}

/// Where the plan comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanSource {
    /// Sample the live host (or `--netns`) for this long and diagnose.
    Live(Duration),
    /// Diagnose a saved capture (dry run only).
    Capture(PathBuf),
    /// A plan file (`--plan`): its changes as they are.
    File(PathBuf),
}

/// What `--apply` does beyond applying.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyConfig {
    /// Apply without asking.
    pub yes: bool,
    /// Measure a window this long afterwards; roll back if the targeted findings remain.
    pub verify: Option<Duration>,
    /// Write the boot-time configuration under this root.
    pub persist_root: Option<PathBuf>,
    /// Where the journal goes.
    pub state_dir: PathBuf,
    /// Options of the transaction.
    pub tx: TxOptions,
}

/// `nettune tune`'s flags, validated: the profile loaded, the flag combinations checked,
/// root checked when applying.
#[derive(Debug, Clone)]
pub struct TuneConfig {
    pub source: PlanSource,
    pub profile: Profile,
    pub plan: PlanOptions,
    /// Options of the rules (the profile's name).
    pub diagnose: Options,
    /// Apply refused changes too.
    pub force: bool,
    /// `None` for a dry run.
    pub apply: Option<ApplyConfig>,
    /// The network namespace to work in (`--netns` resolved to a path) and how it was
    /// given (recorded in the journal and the persisted files).
    pub netns: Option<(PathBuf, String)>,
}

impl TuneConfig {
    /// Check and resolve the flags of `nettune tune`.
    pub fn from_args(global: &GlobalArgs, args: &TuneArgs) -> anyhow::Result<TuneConfig> {
        let profile = profiles::load(&args.profile)?;
        if args.apply {
            anyhow::ensure!(
                args.from.is_none(),
                "--apply works on the live host; a plan from --from is a dry run only"
            );
            // The applier writes through /proc/sys and /sys of the live kernel: a plan made
            // from another tree would be applied to a host it was not made for.
            if global.proc_root != std::path::Path::new("/proc")
                || global.sys_root != std::path::Path::new("/sys")
            {
                return Err(crate::Error::Refused(format!(
                    "--apply changes the live kernel through /proc and /sys; it does not take \
                     --proc-root {} / --sys-root {} (drop them, or plan without --apply)",
                    global.proc_root.display(),
                    global.sys_root.display()
                ))
                .into());
            }
            require_root("tune --apply")?;
        }
        anyhow::ensure!(
            args.verify.is_none() || args.apply,
            "--verify needs --apply"
        );
        anyhow::ensure!(
            !args.persist || args.apply,
            "--persist writes what --apply changed; give --apply too"
        );
        let source = match (&args.plan, &args.from) {
            (Some(file), _) => PlanSource::File(file.clone()),
            (None, Some(file)) => PlanSource::Capture(file.clone()),
            (None, None) => PlanSource::Live(args.interval),
        };
        let diagnose = Options {
            intent: profile.intent,
            ..Options::default()
        };
        let plan = PlanOptions {
            only: args.only.clone(),
            link_speed_gbps: diagnose.link_speed_gbps,
            rtt_ms: diagnose.rtt_ms,
        };
        let apply = args.apply.then(|| ApplyConfig {
            yes: args.yes,
            verify: args.verify,
            persist_root: args.persist.then(|| args.persist_root.clone()),
            state_dir: super::state_dir(),
            tx: super::tx_options(),
        });
        let netns = global
            .netns
            .as_ref()
            .map(|spec| (crate::netns::resolve(spec), spec.clone()));
        Ok(TuneConfig {
            source,
            profile,
            plan,
            diagnose,
            force: args.force,
            apply,
            netns,
        })
    }
}

/// Run `nettune tune`.
pub fn run(global: &GlobalArgs, args: &TuneArgs) -> anyhow::Result<u8> {
    let cfg = TuneConfig::from_args(global, args)?;
    execute(global, &cfg)
}

/// Run a validated `nettune tune`.
pub fn execute(global: &GlobalArgs, cfg: &TuneConfig) -> anyhow::Result<u8> {
    let (mut plan, findings) = match &cfg.source {
        PlanSource::File(file) => {
            let mut plan = plan::load(file)?;
            let host = crate::collect::host::read(
                &mut crate::collect::FileBuf::default(),
                &global.root(),
                &mut crate::collect::Warnings::default(),
            );
            plan.refuse_daemons(&host.daemons);
            (plan, Vec::new())
        }
        PlanSource::Capture(file) => plan_capture(global, cfg, Some(file), Duration::ZERO)?,
        PlanSource::Live(interval) => plan_capture(global, cfg, None, *interval)?,
    };

    // On the live host (not for a saved capture, which may come from another one): the
    // namespaces the changes go to, and host-wide sysctls proposed for a namespace moved to
    // the host before the plan is shown. Entering namespaces needs root; a dry run without
    // it (or whose --netns is gone) shows the plan as it is.
    let mut places = match (&cfg.source, &cfg.apply) {
        (PlanSource::Capture(_), _) => None,
        (_, Some(_)) => Some(Places::new(global, cfg)?),
        (_, None) if nix::unistd::geteuid().is_root() => Places::new(global, cfg).ok(),
        (_, None) => None,
    };
    if let Some(p) = places.as_mut() {
        tune::route_host_wide(&mut plan, &mut p.appliers, &p.default, &p.host);
    }

    let mut out = std::io::stdout().lock();
    if !global.json {
        write!(out, "{}", render_plan(&plan, cfg.force))?;
    }
    let apply = match &cfg.apply {
        Some(a) if !plan.items.is_empty() => a,
        _ => {
            if global.json {
                print_json(&mut out, &tune_report(&plan, None, None, None))?;
            } else if plan.items.is_empty() {
                writeln!(out, "nothing to change")?;
            } else {
                writeln!(
                    out,
                    "dry run: nothing changed; re-run with --apply to apply"
                )?;
            }
            return Ok(exit::OK);
        }
    };
    if !cfg.force {
        let refused: Vec<String> = plan
            .refused()
            .map(|i| {
                format!(
                    "{}: {}",
                    i.change.target,
                    i.refusal.as_deref().unwrap_or("")
                )
            })
            .collect();
        anyhow::ensure!(
            refused.is_empty(),
            "refusing to apply without --force: {}",
            refused.join("; ")
        );
    }
    if !apply.yes {
        anyhow::ensure!(
            std::io::stdin().is_terminal(),
            "--apply asks for confirmation on a terminal; give --yes to apply non-interactively"
        );
        eprint!("apply {} change(s)? [y/N] ", plan.items.len());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "not applied")?;
            return Ok(exit::OK);
        }
    }

    let Some(places) = places.as_mut() else {
        anyhow::bail!("internal: no namespaces resolved for --apply");
    };
    let label = cfg
        .netns
        .as_ref()
        .map(|(path, _)| path.display().to_string());
    // One writer at a time, held until the verdict of `--verify` (its rollback included).
    let _lock = tune::lock::StateLock::acquire(&apply.state_dir, &command_line())?;
    let outcome = tune::run_grouped(
        &mut places.appliers,
        &apply.state_dir,
        &places.default,
        label.as_deref(),
        &plan.changes(),
        &apply.tx,
    )?;
    if let Some(err) = &outcome.error {
        if global.json {
            print_json(&mut out, &tune_report(&plan, Some(&outcome), None, None))?;
        }
        let restored = if outcome.restore_errors.is_empty() {
            format!(
                "everything already changed was restored ({} value(s))",
                outcome.restored.len()
            )
        } else {
            format!(
                "COULD NOT RESTORE {}; retry with `nettune rollback {}`",
                outcome.restore_errors.join("; "),
                outcome.id
            )
        };
        anyhow::bail!(
            "apply failed at {err}; {restored} (journal {})",
            outcome.journal.display()
        );
    }
    if !global.json {
        writeln!(
            out,
            "applied transaction {} ({} change(s)); undo with `nettune rollback {}`",
            outcome.id,
            outcome.applied.len(),
            outcome.id
        )?;
    }
    let mut persisted = Vec::new();
    if let Some(root) = &apply.persist_root {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let host_inode = Some(places.host.inode);
        persisted = tune::persist_transaction(
            &plan,
            &outcome,
            cfg.netns.as_ref().map(|(_, spec)| spec.as_str()),
            host_inode,
            root,
            &installed_exe(),
            now,
        )?;
        if !global.json {
            for p in &persisted {
                writeln!(out, "persisted: {}", p.display())?;
            }
            for a in tune::not_persisted(&outcome, host_inode) {
                writeln!(
                    out,
                    "not persisted: {} {} in {} (a namespace does not outlive a reboot;                      re-apply when it is re-created)",
                    a.kind,
                    a.target,
                    a.netns.as_ref().map_or("?", |n| n.name.as_str())
                )?;
            }
        }
    }

    let mut code = exit::OK;
    let mut verify = None;
    if let Some(window) = apply.verify {
        let after_cap = super::common::capture(global, window)?;
        let (after, _) = diagnose_capture(&after_cap, &cfg.diagnose);
        let v = tune::verify::judge(&plan, &findings, &after);
        code = exit_code(&after);
        let mut rolled_back = false;
        if v.still.is_some() {
            let log = journal::find(&apply.state_dir, &outcome.id)?;
            tune::rollback_transaction(&global.root(), &log)?;
            rolled_back = true;
        }
        if !global.json {
            write!(out, "{}", render_verify(&v, window, &outcome.id))?;
        }
        verify = Some(VerifyReport::new(&v, rolled_back));
    }
    if global.json {
        print_json(
            &mut out,
            &tune_report(&plan, Some(&outcome), verify, Some(&persisted)),
        )?;
    }
    Ok(code)
}

/// The network namespaces of a live `tune`: the host's, the default one (the host's, or
/// `--netns`) and the appliers that enter the others.
struct Places {
    host: NetnsRef,
    default: NetnsRef,
    appliers: KernelAppliers,
}

impl Places {
    fn new(global: &GlobalArgs, cfg: &TuneConfig) -> anyhow::Result<Places> {
        let root = global.root();
        let host = tune::host_netns(&root)?;
        let default = match &cfg.netns {
            Some((path, spec)) => tune::netns_ref(path, spec)?,
            None => host.clone(),
        };
        Ok(Places {
            host,
            default,
            appliers: KernelAppliers::new(root),
        })
    }
}

/// Diagnose the capture `from` (or a live window of `interval`) and plan for it; returns
/// the plan and the findings it was made from.
fn plan_capture(
    global: &GlobalArgs,
    cfg: &TuneConfig,
    from: Option<&PathBuf>,
    interval: Duration,
) -> anyhow::Result<(Plan, Vec<crate::diagnose::Finding>)> {
    let cap = obtain_capture(global, from, interval)?;
    let (findings, _notes) = diagnose_capture(&cap, &cfg.diagnose);
    let plan = tune::plan_for(&cap, &findings, &cfg.profile, &cfg.plan);
    Ok((plan, findings))
}

/// This process's command line on one line, recorded as the state lock's holder.
pub(crate) fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The nettune binary the boot unit of `--persist` runs: this one when its path is
/// absolute, else the usual install location.
fn installed_exe() -> String {
    std::env::current_exe()
        .ok()
        .filter(|p| p.is_absolute())
        .map_or_else(
            || "/usr/local/bin/nettune".to_string(),
            |p| p.display().to_string(),
        )
}

fn print_json(out: &mut impl Write, v: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> anyhow::Result<TuneConfig> {
        let cli = super::super::Cli::try_parse_from(
            std::iter::once("nettune").chain(args.iter().copied()),
        )?;
        match &cli.command {
            super::super::Command::Tune(a) => TuneConfig::from_args(&cli.global, a),
            other => anyhow::bail!("not tune: {other:?}"),
        }
    }

    #[test]
    fn flags_become_a_validated_configuration() {
        let c = config(&["tune", "--only", "tcp,softnet", "--profile", "cdn"]).unwrap();
        assert_eq!(c.source, PlanSource::Live(Duration::from_secs(5)));
        assert_eq!(c.profile.name, "cdn");
        assert_eq!(c.diagnose.intent, crate::diagnose::Intent::Bulk);
        assert_eq!(c.plan.only, ["tcp", "softnet"]);
        assert!(c.apply.is_none() && !c.force);
        let c = config(&["tune", "--from", "x.json"]).unwrap();
        assert_eq!(c.source, PlanSource::Capture("x.json".into()));
        let c = config(&["tune", "--plan", "p.json", "--force"]).unwrap();
        assert_eq!(c.source, PlanSource::File("p.json".into()));
        assert!(c.force);

        let err = |a: &[&str]| config(a).unwrap_err().to_string();
        assert!(err(&["tune", "--verify", "1s"]).contains("--verify needs --apply"));
        assert!(err(&["tune", "--persist"]).contains("--persist"));
        assert!(err(&["tune", "--profile", "no-such"]).contains("no-such"));
        if nix::unistd::geteuid().is_root() {
            assert!(err(&["tune", "--apply", "--from", "x.json"]).contains("--from"));
            let c = config(&[
                "tune",
                "--apply",
                "--yes",
                "--verify",
                "2s",
                "--persist",
                "--persist-root",
                "/tmp/r",
            ])
            .unwrap();
            let a = c.apply.unwrap();
            assert!(a.yes);
            assert_eq!(a.verify, Some(Duration::from_secs(2)));
            assert_eq!(a.persist_root, Some(PathBuf::from("/tmp/r")));
        } else {
            assert!(err(&["tune", "--apply"]).contains("CAP_NET_ADMIN"));
        }
    }

    #[test]
    fn apply_with_another_proc_or_sys_tree_is_refused() {
        let err = |a: &[&str]| config(a).unwrap_err().to_string();
        let e = err(&["--proc-root", "/tmp/p", "tune", "--apply", "--yes"]);
        assert!(e.contains("--proc-root /tmp/p"), "{e}");
        let e = err(&["--sys-root", "/tmp/s", "tune", "--apply", "--yes"]);
        assert!(e.contains("--sys-root /tmp/s"), "{e}");
        // A dry run from another tree is fine.
        assert!(config(&["--proc-root", "/tmp/p", "tune"]).is_ok());
    }
}
