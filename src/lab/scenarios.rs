//! The scenario catalogue: each fault, its traffic, and the symptom it is judged on.
//! Addresses come from 198.18.0.0/15 only, on veth pairs inside the lab's namespaces.

use super::env::{self, Env};
use super::traffic::{self, ConnectStorm, Stats, Traffic, UdpFlood, UdpReader};
use super::{Fault, Sample, Scenario, Threshold};
use crate::change::{Advised, Change};
use crate::diagnose::ids;
use crate::window::Window;
use crate::{Error, Result, Root};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest any generator of a phase runs (the runner stops them sooner).
const PHASE_MAX: Duration = Duration::from_secs(10);

/// Two namespaces joined by a veth pair: `a` holds `va` (198.18.N.1/24), `b` holds `vb`
/// (198.18.N.2/24).
pub struct Pair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub a_addr: Ipv4Addr,
    pub b_addr: Ipv4Addr,
}

/// Build a [`Pair`] in `env` with addresses 198.18.`subnet`.1 and .2.
pub fn pair(env: &mut Env, tag: &str, subnet: u8) -> Result<Pair> {
    let a = env.namespace(&format!("{tag}-a"))?;
    let b = env.namespace(&format!("{tag}-b"))?;
    let a_addr = Ipv4Addr::new(198, 18, subnet, 1);
    let b_addr = Ipv4Addr::new(198, 18, subnet, 2);
    let b_file = std::fs::File::open(&b).map_err(|e| Error::io(&b, e))?;
    env::in_ns(&a, || {
        env::add_veth("va", 10, "vb", 20, &b_file)?;
        env::add_addr("va", a_addr, 24)?;
        env::link_up("va")
    })?;
    drop(b_file);
    env::in_ns(&b, || {
        env::add_addr("vb", b_addr, 24)?;
        env::link_up("vb")
    })?;
    Ok(Pair {
        a,
        b,
        a_addr,
        b_addr,
    })
}

/// Write `value` to `rel` under the namespace's own sysfs (e.g. `class/net/vb/queues/rx-0/rps_cpus`).
fn write_ns_sys(ns: &Path, rel: &str, value: &str) -> Result<()> {
    let t = crate::netns::NetnsThread::spawn(ns, &Root::default())?;
    let rel = rel.to_string();
    let value = value.to_string();
    t.run(move |root| {
        let p = root.sys.join(&rel);
        std::fs::write(&p, value).map_err(|e| Error::io(&p, e))
    })?
}

/// Write a per-namespace sysctl inside `ns`.
fn ns_sysctl(ns: &Path, key: &str, value: &str) -> Result<()> {
    let p = Path::new("/proc/sys").join(key.replace('.', "/"));
    let value = value.to_string();
    env::in_ns(ns, move || {
        std::fs::write(&p, value).map_err(|e| Error::io(&p, e))
    })
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn need_pair(p: &Option<Pair>) -> Result<&Pair> {
    p.as_ref()
        .ok_or_else(|| Error::Unsupported("scenario not set up (setup did not run)".into()))
}

fn softnet_sample(w: &Window, f: impl Fn(&crate::window::SoftnetRates) -> f64) -> Sample {
    let rows = w.softnet();
    let per_cpu: Vec<f64> = rows.iter().map(&f).collect();
    Sample {
        total: per_cpu.iter().sum(),
        per_cpu,
    }
}

fn netstat_sample(w: &Window, section: &str, field: &str) -> Sample {
    Sample {
        total: w.netstat_rate(section, field).unwrap_or(0.0).max(0.0),
        per_cpu: Vec::new(),
    }
}

/// The `listen()` backlog the plan's advice proposes, from the typed advice value (never
/// from the advice text).
fn advised_backlog(advice: &[Change]) -> Option<i32> {
    advice.iter().find_map(|c| match c.advised? {
        Advised::ListenBacklog(n) => Some(i32::try_from(n).unwrap_or(i32::MAX)),
    })
}

// ---- 1 backlog-drops ----------------------------------------------------------------------

/// `net.core.netdev_max_backlog` during the fault (kernel default 1000).
const BACKLOG_LOWERED: &str = "16";

#[derive(Default)]
struct BacklogDrops {
    pair: Option<Pair>,
}

impl Fault for BacklogDrops {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        if cpus() < 2 {
            return Err(Error::Unsupported(
                "backlog-drops needs at least 2 CPUs".into(),
            ));
        }
        let p = pair(env, "bd", 101)?;
        // Every packet vb receives is queued to CPU 1's backlog; senders run on CPU 0.
        write_ns_sys(&p.b, "class/net/vb/queues/rx-0/rps_cpus", "2")?;
        env.host_sysctl("net.core.netdev_max_backlog", BACKLOG_LOWERED)?;
        let b = p.b.clone();
        self.pair = Some(p);
        Ok(b)
    }

    fn traffic(&mut self, _advice: &[Change]) -> Result<Traffic> {
        let p = need_pair(&self.pair)?;
        let mut t = Traffic::new();
        let f = UdpFlood {
            from: SocketAddrV4::new(p.a_addr, 0),
            // Nothing listens on the discard port: packets die in UDP, after the backlog.
            to: SocketAddrV4::new(p.b_addr, 9),
            payload: 64,
            burst: 512,
            rate: None,
            pause: Duration::from_millis(10),
            max_packets: 400_000,
            max_time: PHASE_MAX,
            cpu: Some(0),
        };
        for _ in 0..2 {
            t.spawn_in(&p.a, move |stop| traffic::udp_flood(f, stop))?;
        }
        Ok(t)
    }

    fn symptom(&self, w: &Window, _: &[f64]) -> Sample {
        softnet_sample(w, |r| r.dropped)
    }
}

// ---- 3 listen-overflow --------------------------------------------------------------------

/// The application's `listen()` backlog before it takes the advice.
const APP_BACKLOG: i32 = 16;
const LISTEN_PORT: u16 = 18080;

#[derive(Default)]
struct ListenOverflow {
    pair: Option<Pair>,
}

impl Fault for ListenOverflow {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        let p = pair(env, "lo", 103)?;
        let b = p.b.clone();
        self.pair = Some(p);
        Ok(b)
    }

    fn takes_advice(&self, advice: &Change) -> bool {
        match advice.advised {
            Some(Advised::ListenBacklog(_)) => true,
            None => false,
        }
    }

    fn traffic(&mut self, advice: &[Change]) -> Result<Traffic> {
        let p = need_pair(&self.pair)?;
        let backlog = advised_backlog(advice).unwrap_or(APP_BACKLOG);
        let addr = SocketAddrV4::new(p.b_addr, LISTEN_PORT);
        let mut t = Traffic::new();
        t.spawn_in(&p.b, move |stop| {
            match traffic::TcpServer::bind(addr, backlog, Some(100)) {
                Ok(s) => s.run(100_000, PHASE_MAX, stop),
                Err(_) => Stats { ok: 0, failed: 1 },
            }
        })?;
        std::thread::sleep(Duration::from_millis(100));
        let storm = ConnectStorm {
            to: addr,
            from: SocketAddrV4::new(p.a_addr, 0),
            max_connects: 5_000,
            max_time: PHASE_MAX,
            pause: Duration::from_millis(2),
            complete: None,
            keep_open: 4096,
            failures: None,
        };
        t.spawn_in(&p.a, move |stop| traffic::connect_storm(storm, stop))?;
        Ok(t)
    }

    fn symptom(&self, w: &Window, _: &[f64]) -> Sample {
        netstat_sample(w, "TcpExt", "ListenOverflows")
    }
}

// ---- 4 udp-rcvbuf -------------------------------------------------------------------------

const UDP_PORT: u16 = 18081;

#[derive(Default)]
struct UdpRcvbuf {
    pair: Option<Pair>,
}

impl Fault for UdpRcvbuf {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        let p = pair(env, "ur", 104)?;
        let b = p.b.clone();
        self.pair = Some(p);
        Ok(b)
    }

    fn traffic(&mut self, _advice: &[Change]) -> Result<Traffic> {
        let p = need_pair(&self.pair)?;
        let to = SocketAddrV4::new(p.b_addr, UDP_PORT);
        let mut t = Traffic::new();
        // A reader with the namespace's default buffer that keeps up on average (2000/s)
        // but not with bursts of 600 datagrams twice a second.
        t.spawn_in(&p.b, move |stop| {
            match UdpReader::bind(to, None, Some(2000)) {
                Ok(r) => r.run(1_000_000, PHASE_MAX, stop),
                Err(_) => Stats { ok: 0, failed: 1 },
            }
        })?;
        std::thread::sleep(Duration::from_millis(100));
        let f = UdpFlood {
            from: SocketAddrV4::new(p.a_addr, 0),
            to,
            payload: 64,
            burst: 600,
            rate: None,
            pause: Duration::from_millis(500),
            max_packets: 100_000,
            max_time: PHASE_MAX,
            cpu: None,
        };
        t.spawn_in(&p.a, move |stop| traffic::udp_flood(f, stop))?;
        Ok(t)
    }

    fn symptom(&self, w: &Window, _: &[f64]) -> Sample {
        netstat_sample(w, "Udp", "RcvbufErrors")
    }
}

// ---- 5 conntrack-full ---------------------------------------------------------------------

/// `net.netfilter.nf_conntrack_max` during the fault (host-wide: read-only inside a
/// namespace; kernel default here 262144).
const CONNTRACK_LOWERED: u64 = 512;

#[derive(Default)]
struct ConntrackFull {
    pair: Option<Pair>,
}

impl Fault for ConntrackFull {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        // The limit is host-wide: lower it only when the host tracks (almost) nothing.
        let host_count: u64 = env::read_sysctl("net.netfilter.nf_conntrack_count")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if host_count > CONNTRACK_LOWERED / 8 {
            return Err(Error::Refused(format!(
                "conntrack-full lowers the host-wide nf_conntrack_max to {CONNTRACK_LOWERED}, \
                 but the host tracks {host_count} connections; not run"
            )));
        }
        let p = pair(env, "ct", 105)?;
        env::in_ns(&p.b, || env::add_ct_state_rule("nettune_lab"))?;
        env.host_sysctl(
            "net.netfilter.nf_conntrack_max",
            &CONNTRACK_LOWERED.to_string(),
        )?;
        let b = p.b.clone();
        self.pair = Some(p);
        Ok(b)
    }

    fn traffic(&mut self, _advice: &[Change]) -> Result<Traffic> {
        let p = need_pair(&self.pair)?;
        let (from, to) = (p.a_addr, SocketAddrV4::new(p.b_addr, 9));
        let mut t = Traffic::new();
        t.spawn_in(&p.a, move |stop| {
            traffic::udp_flows(from, to, 500, 2_000, PHASE_MAX, stop)
        })?;
        Ok(t)
    }

    fn symptom(&self, w: &Window, _: &[f64]) -> Sample {
        let pick = |s: &crate::snapshot::Snapshot| {
            s.conntrack
                .ok()
                .and_then(|c| c.stat.as_deref().map(crate::collect::conntrack::totals))
                .map(|t| t.drop.unwrap_or(0) + t.early_drop.unwrap_or(0))
                .unwrap_or(0)
        };
        let d = pick(w.newer).saturating_sub(pick(w.older)) as f64;
        Sample {
            total: d / w.seconds().max(1e-9),
            per_cpu: Vec::new(),
        }
    }
}

// ---- 6 port-exhaustion --------------------------------------------------------------------

#[derive(Default)]
struct PortExhaustion {
    pair: Option<Pair>,
    failures: Arc<AtomicU64>,
}

impl Fault for PortExhaustion {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        let p = pair(env, "pe", 106)?;
        // 64 ephemeral ports instead of 28232: a short-connection client exhausts them in
        // well under the 60 s TIME_WAIT.
        ns_sysctl(&p.a, "net.ipv4.ip_local_port_range", "40000 40063")?;
        let a = p.a.clone();
        self.pair = Some(p);
        Ok(a)
    }

    fn traffic(&mut self, _advice: &[Change]) -> Result<Traffic> {
        let p = need_pair(&self.pair)?;
        let addr = SocketAddrV4::new(p.b_addr, LISTEN_PORT + 2);
        let mut t = Traffic::new();
        t.spawn_in(&p.b, move |stop| {
            match traffic::TcpServer::bind(addr, 1024, None) {
                Ok(s) => s.run(1_000_000, PHASE_MAX, stop),
                Err(_) => Stats { ok: 0, failed: 1 },
            }
        })?;
        std::thread::sleep(Duration::from_millis(100));
        let storm = ConnectStorm {
            to: addr,
            from: SocketAddrV4::new(p.a_addr, 0),
            max_connects: 20_000,
            max_time: PHASE_MAX,
            pause: Duration::from_millis(5),
            complete: Some(Duration::from_millis(500)),
            keep_open: 0,
            failures: Some(self.failures.clone()),
        };
        t.spawn_in(&p.a, move |stop| traffic::connect_storm(storm, stop))?;
        Ok(t)
    }

    fn symptom(&self, w: &Window, probe_delta: &[f64]) -> Sample {
        Sample {
            total: probe_delta.first().copied().unwrap_or(0.0) / w.seconds().max(1e-9),
            per_cpu: Vec::new(),
        }
    }

    fn probe(&self) -> Vec<u64> {
        vec![self.failures.load(Ordering::Relaxed)]
    }
}

// ---- 2 budget-squeeze ---------------------------------------------------------------------

/// `net.core.netdev_budget` during the fault (kernel default 300).
const BUDGET_LOWERED: &str = "16";

#[derive(Default)]
struct BudgetSqueeze {
    /// Pair `i` is received on CPU `1 - i` and flooded from CPU `i` (a balanced load, so the
    /// fix is budget, not spreading).
    pairs: Vec<Pair>,
}

impl Fault for BudgetSqueeze {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        if cpus() < 2 {
            return Err(Error::Unsupported(
                "budget-squeeze needs at least 2 CPUs".into(),
            ));
        }
        for i in 0..2u8 {
            let p = pair(env, &format!("bs{i}"), 102 + 10 * i)?;
            let mask = if i == 0 { "2" } else { "1" };
            write_ns_sys(&p.b, "class/net/vb/queues/rx-0/rps_cpus", mask)?;
            self.pairs.push(p);
        }
        env.host_sysctl("net.core.netdev_budget", BUDGET_LOWERED)?;
        Ok(self.pairs[0].b.clone())
    }

    fn traffic(&mut self, _advice: &[Change]) -> Result<Traffic> {
        let mut t = Traffic::new();
        for (cpu, p) in self.pairs.iter().enumerate() {
            let f = UdpFlood {
                from: SocketAddrV4::new(p.a_addr, 0),
                to: SocketAddrV4::new(p.b_addr, 9),
                payload: 64,
                burst: 256,
                rate: None,
                pause: Duration::from_millis(5),
                max_packets: 400_000,
                max_time: PHASE_MAX,
                cpu: Some(cpu),
            };
            t.spawn_in(&p.a, move |stop| traffic::udp_flood(f, stop))?;
        }
        Ok(t)
    }

    fn symptom(&self, w: &Window, _: &[f64]) -> Sample {
        softnet_sample(w, |r| r.time_squeeze)
    }
}

// ---- 7 rps-off ----------------------------------------------------------------------------

#[derive(Default)]
struct RpsOff {
    pair: Option<Pair>,
    /// Datagrams the receiver read, by the CPU that processed them (`SO_INCOMING_CPU`).
    by_cpu: Arc<Vec<AtomicU64>>,
}

const RPS_PORT: u16 = 18087;

/// Read datagrams from `peer` on `addr` until the bounds and count each under the CPU that
/// processed it (UDP keeps `SO_INCOMING_CPU` only on connected sockets).
fn cpu_counting_reader(
    addr: SocketAddrV4,
    peer: SocketAddrV4,
    by_cpu: &[AtomicU64],
    max_time: Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Stats {
    let Ok(sock) = std::net::UdpSocket::bind(addr) else {
        return Stats { ok: 0, failed: 1 };
    };
    if sock.connect(peer).is_err() {
        return Stats { ok: 0, failed: 1 };
    }
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let start = std::time::Instant::now();
    let mut buf = [0u8; 2048];
    let mut st = Stats::default();
    while !stop.load(Ordering::Relaxed)
        && !super::interrupted()
        && st.ok < 2_000_000
        && start.elapsed() < max_time
    {
        if sock.recv(&mut buf).is_err() {
            continue;
        }
        st.ok += 1;
        let mut cpu: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int of the right length. (nix 0.29 has no
        // SO_INCOMING_CPU option type, so this one stays raw.)
        let rc = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::SOL_SOCKET,
                libc::SO_INCOMING_CPU,
                (&mut cpu as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            if let Some(c) = usize::try_from(cpu).ok().and_then(|c| by_cpu.get(c)) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    st
}

impl Fault for RpsOff {
    fn setup(&mut self, env: &mut Env) -> Result<PathBuf> {
        if cpus() < 2 {
            return Err(Error::Unsupported("rps-off needs at least 2 CPUs".into()));
        }
        // Kernel defaults: vb has one receive queue and RPS off.
        let p = pair(env, "rps", 107)?;
        let b = p.b.clone();
        self.pair = Some(p);
        self.by_cpu = Arc::new((0..cpus()).map(|_| AtomicU64::new(0)).collect());
        Ok(b)
    }

    fn traffic(&mut self, _advice: &[Change]) -> Result<Traffic> {
        let p = need_pair(&self.pair)?;
        let mut t = Traffic::new();
        let to = SocketAddrV4::new(p.b_addr, RPS_PORT);
        let from = SocketAddrV4::new(p.a_addr, RPS_PORT + 1);
        let by_cpu = self.by_cpu.clone();
        // The application reads on the last CPU (with RFS, receive processing follows it).
        let app_cpu = cpus() - 1;
        t.spawn_in(&p.b, move |stop| {
            traffic::pin_to_cpu(app_cpu);
            cpu_counting_reader(to, from, &by_cpu, PHASE_MAX, stop)
        })?;
        std::thread::sleep(Duration::from_millis(100));
        // One sender on CPU 0: without RPS, veth receive runs on the sending CPU.
        let f = UdpFlood {
            from,
            to,
            payload: 64,
            burst: 64,
            rate: Some(40_000),
            pause: Duration::ZERO,
            max_packets: 400_000,
            max_time: PHASE_MAX,
            cpu: Some(0),
        };
        t.spawn_in(&p.a, move |stop| traffic::udp_flood(f, stop))?;
        Ok(t)
    }

    /// Share (%) of the datagrams read whose receive processing ran on cpu0 (the sending
    /// CPU), from `SO_INCOMING_CPU`: immune to other traffic on the host.
    fn symptom(&self, w: &Window, by_cpu: &[f64]) -> Sample {
        let total: f64 = by_cpu.iter().sum();
        let secs = w.seconds().max(1e-9);
        Sample {
            total: if total > 0.0 {
                100.0 * by_cpu.first().copied().unwrap_or(0.0) / total
            } else {
                0.0
            },
            per_cpu: by_cpu.iter().map(|n| n / secs).collect(),
        }
    }

    fn probe(&self) -> Vec<u64> {
        self.by_cpu
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// The catalogue, in order.
pub fn all() -> &'static [Scenario] {
    &CATALOGUE
}

static CATALOGUE: [Scenario; 7] = [
    Scenario {
        name: "backlog-drops",
        description: "softnet backlog overflow: a veth's receive steered by RPS to one CPU, flooded with UDP",
        expected: &[ids::SOFTNET_BACKLOG_DROPS.as_str()],
        symptom: "softnet.dropped",
        unit: "1/s",
        threshold: Threshold::AtMost(0.0),
        fix: &[ids::SOFTNET_BACKLOG_DROPS.as_str()],
        note: "net.core.netdev_max_backlog (host-wide) lowered from the default 1000 to 16 so two bursty flooding threads on a 2-core VM overflow it; restored after the run",
        max_rounds: 6,
        make: || Box::new(BacklogDrops::default()),
    },
    Scenario {
        name: "budget-squeeze",
        description: "NET_RX budget exhausted: two veth pairs, each received by RPS on the other CPU's backlog, with a small netdev_budget",
        expected: &[ids::SOFTNET_TIME_SQUEEZE.as_str()],
        symptom: "softnet.time_squeeze",
        unit: "1/s",
        threshold: Threshold::FractionOfBefore(0.5),
        fix: &[ids::SOFTNET_TIME_SQUEEZE.as_str()],
        note: "net.core.netdev_budget (host-wide) lowered from the default 300 to 16 so a 2-core VM squeezes; restored after the run",
        max_rounds: 3,
        make: || Box::new(BudgetSqueeze::default()),
    },
    Scenario {
        name: "listen-overflow",
        description: "accept queue overflow: a slow-accepting server with listen(16) under a connection storm",
        expected: &[ids::TCP_LISTEN_OVERFLOW.as_str()],
        symptom: "TcpExt.ListenOverflows",
        unit: "1/s",
        threshold: Threshold::AtMost(0.0),
        fix: &[ids::TCP_LISTEN_OVERFLOW.as_str()],
        note: "",
        max_rounds: 3,
        make: || Box::new(ListenOverflow::default()),
    },
    Scenario {
        name: "udp-rcvbuf",
        description: "UDP receive buffer overflow: bursts of 600 datagrams into a reader with the default buffer",
        expected: &[ids::UDP_RCVBUF_ERRORS.as_str()],
        symptom: "Udp.RcvbufErrors",
        unit: "1/s",
        threshold: Threshold::AtMost(0.0),
        fix: &[ids::UDP_RCVBUF_ERRORS.as_str()],
        note: "",
        max_rounds: 3,
        make: || Box::new(UdpRcvbuf::default()),
    },
    Scenario {
        name: "conntrack-full",
        description: "conntrack table full: 500 new UDP flows/s into a namespace whose nftables rule uses ct state",
        expected: &[ids::CONNTRACK_NEAR_FULL.as_str()],
        symptom: "conntrack drop + early_drop",
        unit: "1/s",
        threshold: Threshold::AtMost(0.0),
        fix: &[ids::CONNTRACK_NEAR_FULL.as_str()],
        note: "net.netfilter.nf_conntrack_max (host-wide; read-only inside a namespace) lowered from 262144 to 512; restored after the run",
        max_rounds: 3,
        make: || Box::new(ConntrackFull::default()),
    },
    Scenario {
        name: "port-exhaustion",
        description: "ephemeral port exhaustion: short outgoing connections with a 64-port ip_local_port_range",
        expected: &[ids::TCP_PORT_EXHAUSTION.as_str()],
        symptom: "connect failures",
        unit: "1/s",
        threshold: Threshold::AtMost(0.0),
        fix: &[ids::TCP_PORT_EXHAUSTION.as_str()],
        note: "net.ipv4.ip_local_port_range (per namespace) narrowed to 64 ports so a 2-core VM exhausts it in seconds",
        max_rounds: 3,
        make: || Box::new(PortExhaustion::default()),
    },
    Scenario {
        name: "rps-off",
        description: "single-queue receive on one CPU: a veth with RPS off flooded from cpu0, read by an application on another CPU",
        expected: &[ids::RPS_DISABLED.as_str(), ids::SOFTNET_CPU_IMBALANCE.as_str()],
        symptom: "share of datagrams processed on cpu0",
        unit: "%",
        threshold: Threshold::AtMost(50.0),
        fix: &[ids::RPS_DISABLED.as_str(), ids::SOFTNET_CPU_IMBALANCE.as_str()],
        note: "",
        max_rounds: 3,
        make: || Box::new(RpsOff::default()),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_comes_from_the_typed_advice_not_its_text() {
        let typed = Change::advice_value(
            "listen() backlog of 10.0.0.2:18080",
            "raise the listen() backlog from 16 to 999 (text is for people)",
            Advised::ListenBacklog(4096),
        );
        let text_only = Change::advice("listen() backlog of x", "raise it from 16 to 8192");
        assert_eq!(
            advised_backlog(&[text_only.clone(), typed.clone()]),
            Some(4096)
        );
        assert_eq!(advised_backlog(std::slice::from_ref(&text_only)), None);
        let lo = ListenOverflow::default();
        assert!(lo.takes_advice(&typed));
        assert!(!lo.takes_advice(&text_only));
    }

    #[test]
    fn catalogue_order_and_addresses() {
        let names: Vec<&str> = all().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "backlog-drops",
                "budget-squeeze",
                "listen-overflow",
                "udp-rcvbuf",
                "conntrack-full",
                "port-exhaustion",
                "rps-off"
            ]
        );
        for s in all() {
            assert!(!s.expected.is_empty() && !s.fix.is_empty(), "{}", s.name);
            assert!(s.max_rounds >= 1);
        }
    }
}
