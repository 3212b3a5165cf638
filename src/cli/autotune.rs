//! `nettune autotune`: the closed-loop daemon in the foreground until SIGTERM/SIGINT;
//! `nettune autotune status` (pins, last decisions, values vs baseline, from the state file,
//! without the lock) and `nettune autotune unpin KEY`.
//!
//! The flags become a validated [`AutotuneConfig`] first (profile loaded, `--listen`
//! parsed, root checked unless `--dry-run`); then the library runs
//! ([`crate::autotune::Daemon`]), with the eBPF drop watch where it can run and the
//! exporter with the daemon's own families on `--listen`.

use super::{exit, parse_duration, GlobalArgs};
use crate::autotune::{self, decide::HOST, pins, state, wake, Config, Daemon};
use crate::collector::CaptureOptions;
use crate::diagnose::Options;
use crate::tune::{lock, profiles, PlanOptions};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `nettune autotune`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AutotuneArgs {
    #[command(subcommand)]
    pub action: Option<AutotuneAction>,
    /// Time between windows (the loop also wakes on eBPF-seen bursts of drops).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Tuning profile: balanced, throughput, latency, web-gateway, stream-ingest, cdn, or a
    /// FILE.toml (its intent shapes the rules, as for `tune`).
    #[arg(long, value_name = "P|FILE", default_value = "balanced")]
    pub profile: String,
    /// Only act on these findings (ids, or areas such as `softnet`), comma-separated.
    #[arg(long, value_name = "ID,..", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Print what it would do; write nothing (no journal, no state file).
    #[arg(long)]
    pub dry_run: bool,
    /// Serve the exporter's /metrics plus nettune_autotune_* on this address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// On SIGTERM/SIGINT roll back what this run wrote (never over a pinned key).
    #[arg(long)]
    pub rollback_on_exit: bool,
    /// Do not start the eBPF drop watch: wake at the interval only.
    #[arg(long)]
    pub no_ebpf: bool,
    /// Decay: after this long without its symptom, a key autotune raised steps halfway back
    /// toward the administrator's baseline (verified; off by default; overrides the profile's
    /// `decay`). Capacity limits (backlog, somaxconn, conntrack max, gc_thresh, port range)
    /// decay only when the profile lists them in `decay_limits`.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub decay: Option<Duration>,
    /// Watch only the other namespaces whose name starts with PREFIX (the host's is always
    /// watched), e.g. `pod ` for pods only.
    #[arg(long, value_name = "PREFIX")]
    pub netns_prefix: Option<String>,
}

/// `nettune autotune status | unpin KEY`.
#[derive(Debug, Subcommand)]
pub enum AutotuneAction {
    /// Pins, last decisions and values vs the administrator's baseline (works while the
    /// daemon runs).
    Status,
    /// Tune KEY again (it was pinned because an administrator set it).
    Unpin {
        /// The sysctl (`net.core.netdev_max_backlog`).
        key: String,
        /// Only the pin in this namespace (`host` or its name); default every namespace.
        #[arg(long, value_name = "NAME")]
        namespace: Option<String>,
    },
}

/// `nettune autotune`'s flags, validated.
#[derive(Debug, Clone)]
pub struct AutotuneConfig {
    pub daemon: Config,
    /// `--netns-prefix`.
    pub netns_prefix: Option<String>,
    pub listen: Option<SocketAddr>,
    pub ebpf: bool,
}

impl AutotuneConfig {
    /// Check and resolve the flags.
    pub fn from_args(global: &GlobalArgs, args: &AutotuneArgs) -> anyhow::Result<AutotuneConfig> {
        anyhow::ensure!(
            args.interval >= Duration::from_millis(100),
            "--interval must be at least 100ms (got {:?})",
            args.interval
        );
        let profile = profiles::load(&args.profile)?;
        if !args.dry_run {
            super::tune::require_root("autotune")?;
        }
        let listen = args
            .listen
            .as_deref()
            .map(|a| {
                a.parse::<SocketAddr>().map_err(|e| {
                    anyhow::anyhow!("--listen {a:?}: {e} (expected e.g. 127.0.0.1:9470)")
                })
            })
            .transpose()?;
        // Decay: the flag overrides the profile's `decay`; the capacity limits that decay
        // too come from the profile alone.
        let decay_after_secs = args
            .decay
            .map(|d| d.as_secs_f64())
            .or(profile.decay_secs.map(|s| s as f64));
        let decay_limits = profile.decay_limits.clone();
        let diagnose = Options {
            intent: profile.intent,
            ..Options::default()
        };
        let plan = PlanOptions {
            only: args.only.clone(),
            link_speed_gbps: diagnose.link_speed_gbps,
            rtt_ms: diagnose.rtt_ms,
        };
        Ok(AutotuneConfig {
            daemon: Config {
                interval: args.interval,
                profile,
                plan,
                diagnose,
                dry_run: args.dry_run,
                rollback_on_exit: args.rollback_on_exit,
                state_dir: super::state_dir(),
                tx: super::tx_options(),
                root: global.root(),
                command: super::tune::command_line(),
                tuning: autotune::decide::Tuning {
                    decay_after_secs,
                    decay_limits,
                    ..autotune::decide::Tuning::default()
                },
                netns: global
                    .netns
                    .as_ref()
                    .map(|spec| (crate::netns::resolve(spec), spec.clone())),
            },
            listen,
            ebpf: !args.no_ebpf,
            netns_prefix: args.netns_prefix.clone(),
        })
    }
}

/// Run `nettune autotune` (or its `status` / `unpin`).
pub fn run(global: &GlobalArgs, args: &AutotuneArgs) -> anyhow::Result<u8> {
    match &args.action {
        Some(AutotuneAction::Status) => status(global),
        Some(AutotuneAction::Unpin { key, namespace }) => {
            let gone = pins::unpin(&super::state_dir(), key, namespace.as_deref())?;
            for k in gone {
                println!("unpinned {} ({}): autotune tunes it again", k.key, k.ns);
            }
            Ok(exit::OK)
        }
        None => {
            let cfg = AutotuneConfig::from_args(global, args)?;
            daemon(global, cfg)
        }
    }
}

fn daemon(global: &GlobalArgs, cfg: AutotuneConfig) -> anyhow::Result<u8> {
    // One malloc arena instead of one per thread (namespace threads, the drop watch, the
    // HTTP workers): a long-lived daemon would otherwise hold several MiB of RSS for nothing.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only adjusts allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let filtered = |c: crate::collector::Collector| match &cfg.netns_prefix {
        Some(p) => {
            let p = p.clone();
            c.with_namespace_filter(Box::new(move |n| n.is_host || n.name.starts_with(&p)))
        }
        None => c,
    };
    let fast = filtered(super::common::collector(
        global,
        CaptureOptions {
            config: false,
            ethtool: false,
            sockets: false,
            socket_processes: false,
        },
    )?);
    let slow = filtered(super::common::collector(
        global,
        CaptureOptions {
            config: true,
            ethtool: true,
            sockets: true,
            socket_processes: false,
        },
    )?);
    let mut log = std::io::stderr();
    let (mut d, _lock) = Daemon::start(cfg.daemon.clone(), fast, slow, &mut log)?;
    autotune::line(
        &mut log,
        &format!(
            "started{}: every {:?}, profile {}, state in {}",
            if cfg.daemon.dry_run {
                " (dry run: nothing is written)"
            } else {
                ""
            },
            cfg.daemon.interval,
            cfg.daemon.profile.name,
            cfg.daemon.state_dir.display()
        ),
    );
    if let Some(addr) = cfg.listen {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let metrics = d.metrics();
        let exporter = super::export::live_exporter(
            global,
            Duration::from_secs(1),
            crate::export::netns::DEFAULT_MAX_NETNS,
        )?
        .with_extra(Arc::new(move |f| metrics.encode(f)));
        let exporter = Arc::new(exporter);
        exporter.prime();
        autotune::line(
            &mut log,
            &format!("serving http://{}/metrics", listener.local_addr()?),
        );
        std::thread::Builder::new()
            .name("nettune-autotune-http".into())
            .spawn(move || {
                crate::export::http::serve(
                    listener,
                    exporter,
                    crate::export::http::ServerConfig::default(),
                )
            })?;
    }
    let waker = Arc::new(wake::Waker::default());
    let watch = if cfg.ebpf {
        match wake::spawn_drop_watch(Arc::clone(&waker), Arc::clone(&stop)) {
            Ok(h) => {
                autotune::line(
                    &mut log,
                    &format!(
                        "eBPF drop monitor on: a burst of {} wakes the loop",
                        wake::REASONS.join(" / ")
                    ),
                );
                // Loading parsed the kernel's BTF (tens of MiB): give that memory back.
                #[cfg(target_env = "gnu")]
                // SAFETY: malloc_trim only returns free heap pages to the kernel.
                unsafe {
                    libc::malloc_trim(0);
                }
                Some(h)
            }
            Err(why) => {
                autotune::line(
                    &mut log,
                    &format!(
                        "eBPF drop monitor off ({why}): polling every {:?}",
                        cfg.daemon.interval
                    ),
                );
                None
            }
        }
    } else {
        None
    };
    let summary = d.run(&stop, &waker, &mut log)?;
    if let Some(h) = watch {
        let _ = h.join();
    }
    if !global.quiet {
        autotune::line(
            &mut log,
            &format!(
                "{} window(s), {} write(s), {} rollback(s), {} transaction(s) reconciled at start",
                summary.windows,
                summary.writes,
                summary.rollbacks,
                summary.reconciled.len()
            ),
        );
    }
    Ok(exit::OK)
}

/// One key in `status`.
#[derive(Debug, Serialize)]
struct KeyStatus {
    key: String,
    netns: String,
    baseline: Option<String>,
    written: Option<String>,
    tx: Option<String>,
    /// Read now (host keys only).
    current: Option<String>,
    pinned: bool,
}

#[derive(Debug, Serialize)]
struct Status {
    schema: &'static str,
    running: Option<u32>,
    command: Option<String>,
    keys: Vec<KeyStatus>,
    pins: Vec<state::PinEntry>,
    decisions: Vec<state::Decision>,
    rollbacks: u64,
}

fn status(global: &GlobalArgs) -> anyhow::Result<u8> {
    let dir = super::state_dir();
    let st = state::load(&dir)?;
    let holder = lock::holder(&dir);
    let root = global.root();
    let mut buf = crate::root::FileBuf::new();
    let mut keys: Vec<KeyStatus> = Vec::new();
    let names: std::collections::BTreeSet<_> = st
        .baseline
        .iter()
        .map(|b| b.key.clone())
        .chain(st.written.iter().map(|w| w.key.clone()))
        .chain(st.pins.iter().map(|p| p.key.clone()))
        .collect();
    for k in names {
        let written = st.written.iter().find(|w| w.key == k);
        keys.push(KeyStatus {
            baseline: st
                .baseline
                .iter()
                .find(|b| b.key == k)
                .map(|b| b.value.clone()),
            written: written.map(|w| w.value.clone()),
            tx: written.and_then(|w| w.tx.clone()),
            current: (k.ns == HOST)
                .then(|| crate::collect::sysctl::read_one(&mut buf, &root, &k.key).ok())
                .flatten(),
            pinned: st.pins.iter().any(|p| p.key == k),
            key: k.key,
            netns: k.ns,
        });
    }
    let s = Status {
        schema: "nettune.autotune-status/v1",
        running: holder.as_ref().map(|h| h.pid),
        command: holder.map(|h| h.command),
        keys,
        pins: st.pins.clone(),
        decisions: st.decisions.iter().rev().take(20).rev().cloned().collect(),
        rollbacks: st.rollbacks,
    };
    if global.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(exit::OK);
    }
    match (&s.running, &s.command) {
        (Some(pid), Some(cmd)) => println!("running: pid {pid} ({cmd})"),
        _ => println!("not running (state dir {})", dir.display()),
    }
    println!("keys (now vs the administrator's baseline):");
    if s.keys.is_empty() {
        println!("  none yet");
    }
    for k in &s.keys {
        let show = |v: &Option<String>| v.as_deref().map_or("-".into(), |v| v.replace('\t', " "));
        println!(
            "  {} ({}): now {}, baseline {}, nettune wrote {}{}{}",
            k.key,
            k.netns,
            show(&k.current),
            show(&k.baseline),
            show(&k.written),
            k.tx.as_deref()
                .map(|t| format!(" (tx {t})"))
                .unwrap_or_default(),
            if k.pinned { ", PINNED" } else { "" }
        );
    }
    println!("pins:");
    if s.pins.is_empty() {
        println!("  none");
    }
    for p in &s.pins {
        println!("  {}", pins::line(&p.key, &p.pin));
    }
    println!("last decisions:");
    if s.decisions.is_empty() {
        println!("  none");
    }
    for d in &s.decisions {
        println!("  {} {}", crate::tune::journal::date(d.time), d.line);
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> anyhow::Result<AutotuneConfig> {
        let cli = super::super::Cli::try_parse_from(
            std::iter::once("nettune").chain(args.iter().copied()),
        )?;
        match &cli.command {
            super::super::Command::Autotune(a) => AutotuneConfig::from_args(&cli.global, a),
            other => anyhow::bail!("not autotune: {other:?}"),
        }
    }

    #[test]
    fn flags_become_a_validated_configuration() {
        let c = config(&[
            "autotune",
            "--dry-run",
            "--interval",
            "500ms",
            "--only",
            "softnet,udp",
            "--listen",
            "127.0.0.1:9470",
            "--profile",
            "cdn",
        ])
        .unwrap();
        assert!(c.daemon.dry_run && !c.daemon.rollback_on_exit);
        assert_eq!(c.daemon.interval, Duration::from_millis(500));
        assert_eq!(c.daemon.plan.only, ["softnet", "udp"]);
        assert_eq!(c.listen, Some("127.0.0.1:9470".parse().unwrap()));
        assert_eq!(c.daemon.profile.name, "cdn");
        assert!(c.ebpf);
        assert_eq!(
            c.daemon.tuning.decay_after_secs, None,
            "decay is off by default"
        );
        let c = config(&["autotune", "--dry-run", "--decay", "10m"]).unwrap();
        assert_eq!(c.daemon.tuning.decay_after_secs, Some(600.0));
        assert!(c.daemon.tuning.decay_limits.is_empty());
        // From the profile (`decay`, `decay_limits`); the flag overrides the duration only.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("decay.toml");
        std::fs::write(
            &file,
            "decay = \"20m\"\ndecay_limits = [\"net.core.netdev_max_backlog\"]\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let c = config(&["autotune", "--dry-run", "--profile", file]).unwrap();
        assert_eq!(c.daemon.tuning.decay_after_secs, Some(1200.0));
        assert_eq!(
            c.daemon.tuning.decay_limits,
            ["net.core.netdev_max_backlog"]
        );
        assert!(c.daemon.tuning.decays("net.core.netdev_max_backlog"));
        assert!(!c.daemon.tuning.decays("net.core.somaxconn"));
        let c = config(&["autotune", "--dry-run", "--profile", file, "--decay", "1m"]).unwrap();
        assert_eq!(c.daemon.tuning.decay_after_secs, Some(60.0));
        assert_eq!(
            c.daemon.tuning.decay_limits,
            ["net.core.netdev_max_backlog"]
        );
        let err = |a: &[&str]| config(a).unwrap_err().to_string();
        assert!(err(&["autotune", "--dry-run", "--interval", "10ms"]).contains("at least 100ms"));
        assert!(err(&["autotune", "--dry-run", "--listen", "nope"]).contains("--listen"));
        assert!(err(&["autotune", "--dry-run", "--profile", "no-such"]).contains("no-such"));
        if !nix::unistd::geteuid().is_root() {
            assert!(err(&["autotune"]).contains("CAP_NET_ADMIN"));
        }
        // Subcommands parse, and do not take the daemon's flags.
        let cli = super::super::Cli::try_parse_from(["nettune", "autotune", "unpin", "k"]).unwrap();
        assert!(matches!(
            cli.command,
            super::super::Command::Autotune(AutotuneArgs {
                action: Some(AutotuneAction::Unpin { .. }),
                ..
            })
        ));
    }
}
