//! The live view (`watch`) and the Prometheus exporter (`export`): HTTP behaviour under junk,
//! concurrency and slow clients; textfile output; plain-line mode; the TUI in a real terminal
//! (tmux); the deploy/ files checked with promtool.

use super::{have, require, require_tool, run, stderr, Netns};
use nettune::collector::Collector;
use nettune::export::{self, http, Exporter};
use nettune::Root;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn live_exporter() -> Arc<Exporter> {
    let e = Exporter::live(
        Collector::new(Root::default(), export::fast_options()),
        Collector::new(Root::default(), export::slow_options()),
        Duration::from_secs(1),
    );
    e.prime();
    Arc::new(e)
}

fn server(config: http::ServerConfig) -> SocketAddr {
    http::spawn("127.0.0.1:0", live_exporter(), config).expect("bind 127.0.0.1:0")
}

/// Send raw bytes, read the whole response; (status, head, body).
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, head, out[split + 4..].to_vec())
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, String, String) {
    let (code, head, body) = raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes(),
    );
    (code, head, String::from_utf8(body).unwrap())
}

fn test_config() -> http::ServerConfig {
    http::ServerConfig {
        workers: 4,
        queue: 64,
        read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(2),
        ..http::ServerConfig::default()
    }
}

#[test]
fn exporter_serves_metrics_and_openmetrics_and_rejects_junk() {
    let addr = server(test_config());
    assert!(addr.ip().is_loopback());
    let (code, head, body) = get(addr, "/metrics", "");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    for family in [
        "# TYPE nettune_softnet_processed_total counter\n",
        "# TYPE nettune_softnet_dropped_total counter\n",
        "# TYPE nettune_softnet_times_squeezed_total counter\n",
        "nettune_network_receive_bytes_total{device=\"lo\",netns=\"host\"} ",
        "# TYPE nettune_netstat_TcpExt_ListenOverflows untyped\n",
        "# TYPE nettune_sockstat_TCP_tw gauge\n",
        "# TYPE nettune_softirqs_functions_total counter\n",
        "nettune_softirqs_functions_total{cpu=\"0\",type=\"NET_RX\"} ",
        "# TYPE nettune_finding gauge\n",
        "nettune_collect_duration_seconds{source=\"softnet\"} ",
    ] {
        assert!(body.contains(family), "missing {family:?}");
    }
    // The values are the kernel's: loopback receive bytes in the scrape lie between two
    // direct reads of /proc/net/dev around it.
    let lo_rx = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix("lo:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let before = lo_rx(&std::fs::read_to_string("/proc/net/dev").unwrap());
    std::thread::sleep(Duration::from_millis(1100));
    let (_, _, body) = get(addr, "/metrics", "");
    let after = lo_rx(&std::fs::read_to_string("/proc/net/dev").unwrap());
    let scraped: u64 = body
        .lines()
        .find_map(|l| {
            l.strip_prefix("nettune_network_receive_bytes_total{device=\"lo\",netns=\"host\"} ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        (before..=after).contains(&scraped),
        "{before} <= {scraped} <= {after}"
    );

    let (code, head, body) = get(
        addr,
        "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
    );
    assert_eq!(code, 200);
    assert!(head.contains("Content-Type: application/openmetrics-text; version=1.0.0"));
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# TYPE nettune_softnet_dropped counter\n"));

    let (code, _, body) = get(addr, "/", "");
    assert_eq!(code, 200);
    assert!(body.contains("/metrics"));
    let (code, head, body) = raw(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(code, 200, "{head}");
    assert!(body.is_empty());

    let (code, head, _) = raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(code, 405);
    assert!(head.contains("Allow: GET, HEAD"));
    assert_eq!(raw(addr, b"DELETE / HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(get(addr, "/admin", "").0, 404);
    assert_eq!(get(addr, "/metrics/../etc/passwd", "").0, 404);
    assert_eq!(raw(addr, b"junk\r\n\r\n").0, 400);
    assert_eq!(raw(addr, b"GET /metrics SPDY/3\r\n\r\n").0, 400);
    assert_eq!(raw(addr, b"\xff\xfe\x00\x01 / HTTP/1.1\r\n\r\n").0, 400);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10_000));
    huge.extend(b"\r\n\r\n");
    assert_eq!(raw(addr, &huge).0, 431);
    // A client that never finishes its head is cut off after the read timeout.
    let t = Instant::now();
    assert_eq!(raw(addr, b"GET /metrics HTTP/1.1\r\n").0, 408);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn concurrent_scrapes_all_succeed_while_slow_clients_hang() {
    let addr = server(test_config());
    // Two clients connect and send nothing: they hold two of the four workers.
    let slow: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let t = Instant::now();
    let handles: Vec<_> = (0..32)
        .map(|_| {
            std::thread::spawn(move || {
                (0..3).all(|_| {
                    let (code, _, body) = get(addr, "/metrics", "");
                    code == 200 && body.contains("nettune_softnet_processed_total")
                })
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap(), "every concurrent scrape succeeds");
    }
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "96 scrapes took {:?}",
        t.elapsed()
    );
    drop(slow);
}

#[test]
fn connections_beyond_the_per_address_cap_get_503_at_once() {
    let addr = server(http::ServerConfig {
        workers: 1,
        queue: 1,
        read_timeout: Duration::from_secs(3),
        write_timeout: Duration::from_secs(3),
        per_address: 2,
        ..http::ServerConfig::default()
    });
    // Two idle connections hold this address's share (they no longer pin a worker).
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            s
        })
        .collect();
    let t = Instant::now();
    let (code, _, _) = get(addr, "/metrics", "");
    assert_eq!(code, 503);
    assert!(t.elapsed() < Duration::from_secs(1));
    // Once the idle clients time out the server serves again.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(get(addr, "/metrics", "").0, 200);
}

/// `promtool check metrics` complaints other than node_exporter's camelCase names.
fn promtool_metric_problems(text: &str) -> Vec<String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| !l.contains("should be written in 'snake_case' not 'camelCase'"))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn promtool_accepts_the_rules_and_a_live_scrape() {
    if !require("promtool (Debian package `prometheus`)", have("promtool")) {
        return;
    }
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/nettune-alerts.yml"
    );
    let o = Command::new("promtool")
        .args(["check", "rules", rules])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let addr = server(test_config());
    let (_, _, body) = get(addr, "/metrics", "");
    let problems = promtool_metric_problems(&body);
    assert!(problems.is_empty(), "promtool check metrics: {problems:#?}");
}

/// Every `nettune_*` metric the alerts and the dashboard query is one the exporter writes
/// (families that depend on the host — conntrack, ethtool, some netstat sections — are
/// accepted by prefix).
/// A scrape of live snapshots carrying three more namespaces (copies of the host's
/// per-namespace sources) with `--max-netns 1`: one shown, two folded into `other`; promtool
/// accepts it (no family declared twice, no duplicate series), host-wide families stay
/// unlabelled.
#[test]
fn promtool_accepts_a_scrape_with_namespaces_folded_into_other() {
    use nettune::namespaces::NetnsRef;
    use nettune::snapshot::{NetnsSnapshot, Snapshot};
    let mut fast = Collector::new(Root::default(), export::fast_options());
    let host = fast.host_facts();
    let source = move || {
        let mut s = fast.snapshot();
        s.namespaces = ["pod-a", "pod-b", "pod c"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut part = Snapshot::empty(s.taken_at_ns);
                part.netstat = s.netstat.clone();
                part.sockstat = s.sockstat.clone();
                part.netdev = s.netdev.clone();
                part.conntrack = s.conntrack.clone();
                NetnsSnapshot {
                    netns: NetnsRef {
                        inode: 4_026_532_000 + i as u64,
                        name: name.to_string(),
                        path: format!("/proc/{i}/ns/net").into(),
                    },
                    snapshot: part,
                }
            })
            .collect();
        s
    };
    let e = Exporter::new(host, Box::new(source), Duration::ZERO).with_netns(1, "host");
    e.prime();
    for _ in 0..2 {
        let body = e.scrape().body(export::encode::Format::Text);
        assert!(
            body.contains("nettune_network_receive_bytes_total{device=\"all\",netns=\"other\"} "),
            "{body}"
        );
        assert!(
            body.contains("nettune_netstat_Tcp_ActiveOpens{netns=\"other\"} "),
            "{body}"
        );
        let shown: std::collections::BTreeSet<&str> = body
            .lines()
            .filter_map(|l| l.split("netns=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(shown.len(), 3, "host, one namespace, other: {shown:?}");
        assert!(body
            .lines()
            .filter(|l| l.starts_with("nettune_softnet_"))
            .all(|l| !l.contains("netns=")));
        if have("promtool") {
            let problems = promtool_metric_problems(&body);
            assert!(problems.is_empty(), "promtool check metrics: {problems:#?}");
        }
    }
}

#[test]
fn deploy_files_query_only_exported_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dashboard = std::fs::read_to_string(root.join("grafana/nettune-dashboard.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    assert!(json["panels"].as_array().is_some_and(|p| p.len() >= 8));
    let alerts = std::fs::read_to_string(root.join("prometheus/nettune-alerts.yml")).unwrap();
    let addr = server(test_config());
    let (_, _, scrape) = get(addr, "/metrics", "");
    let host_dependent = [
        "nettune_nf_conntrack_",
        "nettune_ethtool_stat_total",
        "nettune_netstat_",
        "nettune_interrupts_total",
    ];
    let mut names = Vec::new();
    for text in [&dashboard, &alerts] {
        let mut rest = text.as_str();
        while let Some(i) = rest.find("nettune_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names.sort();
    names.dedup();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let exported = scrape.contains(&format!("# TYPE {name} "));
        assert!(
            exported || host_dependent.iter().any(|p| name.starts_with(p)),
            "{name} is queried by deploy/ but not exported"
        );
    }
    assert!(alerts.contains("nettune_finding{severity=\"critical\"}"));
    assert!(alerts.contains("rate(nettune_softnet_dropped_total"));
    assert!(alerts.contains("rate(nettune_softnet_times_squeezed_total"));
}

#[test]
fn systemd_units_run_commands_nettune_accepts() {
    use clap::Parser;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    for unit in ["nettune-exporter.service", "nettune-textfile.service"] {
        let text = std::fs::read_to_string(dir.join(unit)).unwrap();
        assert!(
            text.contains("[Unit]") && text.contains("[Service]"),
            "{unit}"
        );
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{unit}: no ExecStart"));
        let argv: Vec<&str> = exec.split_whitespace().collect();
        assert!(argv[0].ends_with("/nettune"), "{unit}: {exec}");
        if let Err(e) = nettune::cli::Cli::try_parse_from(&argv) {
            panic!("{unit}: `{exec}` is rejected: {e}");
        }
    }
    let timer = std::fs::read_to_string(dir.join("nettune-textfile.timer")).unwrap();
    assert!(timer.contains("[Timer]") && timer.contains("OnUnitActiveSec="));
}

#[test]
fn export_textfile_writes_atomically_and_refuses_non_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nettune.prom");
    let o = run(&[
        "export",
        "--textfile",
        path.to_str().unwrap(),
        "--interval",
        "200ms",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# TYPE nettune_softnet_processed_total counter\n"));
    assert!(text.contains("# TYPE nettune_finding gauge\n"));
    assert!(
        !text.contains("# EOF"),
        "textfile output is the 0.0.4 text format"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file left behind");
    if require("promtool (Debian package `prometheus`)", have("promtool")) {
        let problems = promtool_metric_problems(&text);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    if require_tool("mkfifo") {
        let fifo = dir.path().join("fifo.prom");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let o = run(&[
            "export",
            "--textfile",
            fifo.to_str().unwrap(),
            "--interval",
            "0ms",
        ]);
        assert_eq!(o.status.code(), Some(3));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
    }
}

#[test]
fn export_default_listen_address_is_loopback_9469() {
    let o = run(&["export", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("127.0.0.1:9469"), "{help}");
}

#[test]
fn watch_prints_one_plain_line_per_interval_when_not_a_terminal() {
    let t = Instant::now();
    let o = run(&["watch", "--interval", "300ms", "--count", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.elapsed() >= Duration::from_millis(900));
    let out = String::from_utf8(o.stdout).unwrap();
    // One summary line per interval, each followed by a `netns=` line per namespace when
    // the host has other namespaces.
    let (netns_lines, lines): (Vec<&str>, Vec<&str>) = out
        .lines()
        .partition(|l| l.split(' ').nth(1).is_some_and(|f| f.starts_with("netns=")));
    assert_eq!(lines.len(), 3, "{out}");
    for l in &netns_lines {
        for key in [
            "rx_pps=",
            "dev_drops=",
            "listen_overflows=",
            "udp_rcvbuf_errors=",
        ] {
            assert!(l.contains(key), "{key} in {l}");
        }
    }
    for l in &lines {
        assert!(!l.contains('\x1b'), "no escape codes in plain mode: {l:?}");
        let (clock, rest) = l.split_once(' ').unwrap();
        assert_eq!(clock.len(), 8, "{l}");
        for key in [
            "softnet_processed=",
            "softnet_dropped=",
            "softnet_squeezed=",
            "busiest_cpu=",
            "rx_pps=",
            "tx_bps=",
            "tcp_retrans=",
            "listen_overflows=",
            "udp_rcvbuf_errors=",
            "conntrack=",
            "findings=",
        ] {
            assert!(rest.contains(key), "{key} in {l}");
        }
    }
}

#[test]
fn watch_json_lines_and_netns() {
    let o = run(&["--json", "watch", "--interval", "200ms", "--count", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let frames: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(frames.len(), 2);
    let cpus = std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap()
        .lines()
        .count();
    for f in &frames {
        assert_eq!(f["cpus"].as_array().unwrap().len(), cpus);
        assert!(f["window_seconds"].as_f64().unwrap() > 0.1);
        assert!(f["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device"] == "lo"));
        assert!(f["findings"].is_array());
    }
    let Some(ns) = Netns::new("watch") else {
        return;
    };
    let o = run(&[
        "--json",
        "--netns",
        &ns.name,
        "watch",
        "--interval",
        "200ms",
        "--count",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let devices: Vec<&str> = f["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device"].as_str().unwrap())
        .collect();
    assert_eq!(devices, vec!["lo"], "only the namespace's devices");
}

/// tmux: a real terminal. The TUI draws its panels, reacts to keys, and gives the terminal
/// back (cooked mode, main screen) after `q` and after SIGTERM.
#[test]
fn watch_tui_in_tmux() {
    if !require_tool("tmux") {
        return;
    }
    let session = format!("nettune-watch-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &session])
            .args(args)
            .output()
            .unwrap()
    };
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["-L", &self.0, "kill-server"])
                .status();
        }
    }
    let _kill = Kill(session.clone());
    let o = tmux(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "140",
        "-y",
        "40",
        "env -i PATH=/usr/bin:/bin TERM=xterm-256color bash --norc --noprofile",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    let wait_for = |what: &dyn Fn(&str) -> bool, label: &str| {
        let t = Instant::now();
        loop {
            let screen = capture();
            if what(&screen) {
                return screen;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "timed out waiting for {label}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let bin = env!("CARGO_BIN_EXE_nettune");
    let send = |keys: &[&str]| {
        assert!(tmux(&[&["send-keys", "-t", &session], keys].concat())
            .status
            .success())
    };
    send(&[
        &format!("{bin} watch --interval 300ms; echo EXIT=$?; stty -a | grep -o -- '-\\?icanon'"),
        "Enter",
    ]);
    let screen = wait_for(
        &|s| s.contains("devices") && s.contains("window") && s.contains("cpu0"),
        "the first frame",
    );
    for panel in [
        "softnet",
        "devices",
        "protocols",
        "findings in the last window",
        "NET_RX",
    ] {
        assert!(screen.contains(panel), "{panel} in\n{screen}");
    }
    assert!(screen.contains("lo"), "{screen}");
    assert!(screen.contains("TCP retrans/s"), "{screen}");
    send(&["?"]);
    wait_for(&|s| s.contains("pause / resume"), "the help");
    send(&["?"]);
    send(&["p"]);
    wait_for(&|s| s.contains("[PAUSED]"), "pause");
    send(&["s"]);
    wait_for(&|s| s.contains("sort (by traffic)"), "sort");
    // Resize: the screen is redrawn at the new size.
    tmux(&["resize-window", "-t", &session, "-x", "100", "-y", "30"]);
    wait_for(
        &|s| s.lines().count() <= 30 && s.contains("q quit"),
        "redraw after resize",
    );
    send(&["q"]);
    let screen = wait_for(
        &|s| s.contains("EXIT=0") && s.lines().any(|l| l.trim().ends_with("icanon")),
        "exit after q",
    );
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "cooked mode restored:\n{screen}"
    );
    assert!(
        !screen.contains("q quit"),
        "main screen restored:\n{screen}"
    );

    // SIGTERM: same clean exit.
    send(&["clear", "Enter"]);
    send(&[
        &format!("{bin} watch --interval 301ms; echo EXIT2=$?; stty -a | grep -o -- '-\\?icanon'"),
        "Enter",
    ]);
    wait_for(&|s| s.contains("softnet"), "the second run");
    let pid = String::from_utf8(
        Command::new("pgrep")
            .args(["-n", "-f", "watch --interval 301ms"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let pid = pid.trim().to_string();
    assert!(!pid.is_empty(), "pgrep finds the watch process");
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let screen = wait_for(
        &|s| s.contains("EXIT2=0") && s.lines().any(|l| l.trim().ends_with("icanon")),
        "exit after SIGTERM",
    );
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "cooked mode restored after SIGTERM:\n{screen}"
    );
    assert!(
        !screen.contains("-icanon"),
        "raw mode left on after SIGTERM:\n{screen}"
    );
}
