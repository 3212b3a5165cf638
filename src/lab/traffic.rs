//! Traffic generators of the lab, reusable on their own: UDP flood with `sendmmsg` (at a
//! rate or in bursts), TCP connection storm, TCP bulk stream, UDP reader with a chosen buffer
//! and reading speed, TCP listener with a chosen backlog and accept speed.
//!
//! Every generator is bounded in packets (or connections / bytes) **and** in seconds, and
//! also stops when its `stop` flag or the process-wide [`super::interrupted`] flag is set.
//! [`Traffic`] runs generators on threads inside a network namespace and joins them on drop.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether a generator must stop now.
fn halted(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Relaxed) || super::interrupted()
}

/// What a generator did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Packets / connections / reads that succeeded (bytes for the bulk stream).
    pub ok: u64,
    /// Attempts that failed (send errors, connect failures).
    pub failed: u64,
}

impl std::ops::Add for Stats {
    type Output = Stats;
    fn add(self, o: Stats) -> Stats {
        Stats {
            ok: self.ok + o.ok,
            failed: self.failed + o.failed,
        }
    }
}

/// Pin the calling thread to `cpu` (ignored when that fails).
pub fn pin_to_cpu(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// A UDP flood.
#[derive(Debug, Clone, Copy)]
pub struct UdpFlood {
    pub from: SocketAddrV4,
    pub to: SocketAddrV4,
    /// Datagram payload in bytes.
    pub payload: usize,
    /// Datagrams per `sendmmsg` burst (at most 1024).
    pub burst: usize,
    /// Target rate in datagrams per second; `None` = bursts separated by `pause`.
    pub rate: Option<u64>,
    /// Pause between bursts when `rate` is `None`.
    pub pause: Duration,
    /// Stop after this many datagrams.
    pub max_packets: u64,
    /// Stop after this long.
    pub max_time: Duration,
    /// Pin the sending thread to this CPU.
    pub cpu: Option<usize>,
}

/// Run a UDP flood on this thread with `sendmmsg`.
pub fn udp_flood(f: UdpFlood, stop: &AtomicBool) -> Stats {
    if let Some(cpu) = f.cpu {
        pin_to_cpu(cpu);
    }
    let Ok(sock) = UdpSocket::bind(f.from) else {
        return Stats::default();
    };
    if sock.connect(f.to).is_err() {
        return Stats::default();
    }
    let burst = f.burst.clamp(1, 1024);
    let payload = vec![0x5au8; f.payload.max(1)];
    let mut iov: Vec<libc::iovec> = (0..burst)
        .map(|_| libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain data; zeroed is a valid empty header.
    let mut msgs: Vec<libc::mmsghdr> = (0..burst)
        .map(|_| unsafe { std::mem::zeroed::<libc::mmsghdr>() })
        .collect();
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v as *mut libc::iovec;
        m.msg_hdr.msg_iovlen = 1;
    }
    let start = Instant::now();
    let mut st = Stats::default();
    while !halted(stop) && st.ok < f.max_packets && start.elapsed() < f.max_time {
        let n = burst.min((f.max_packets - st.ok) as usize);
        // SAFETY: msgs/iov/payload outlive the call; n <= msgs.len().
        let sent = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent > 0 {
            st.ok += sent as u64;
        } else {
            st.failed += 1;
        }
        match f.rate {
            Some(rate) if rate > 0 => {
                let due = Duration::from_secs_f64(st.ok as f64 / rate as f64);
                let el = start.elapsed();
                if due > el {
                    std::thread::sleep((due - el).min(Duration::from_millis(100)));
                }
            }
            _ => {
                if !f.pause.is_zero() {
                    std::thread::sleep(f.pause);
                }
            }
        }
    }
    st
}

/// Many short UDP flows: each datagram from a new socket (a new ephemeral source port, so a
/// new conntrack entry), `flows_per_sec` of them, at most `max_flows`; `ok` = flows sent.
pub fn udp_flows(
    from: std::net::Ipv4Addr,
    to: SocketAddrV4,
    flows_per_sec: u64,
    max_flows: u64,
    max_time: Duration,
    stop: &AtomicBool,
) -> Stats {
    let start = Instant::now();
    let mut st = Stats::default();
    while !halted(stop) && st.ok + st.failed < max_flows && start.elapsed() < max_time {
        let sent = UdpSocket::bind(SocketAddrV4::new(from, 0))
            .and_then(|s| s.send_to(b"flow", to))
            .is_ok();
        if sent {
            st.ok += 1;
        } else {
            st.failed += 1;
        }
        if flows_per_sec > 0 {
            let due = Duration::from_secs_f64((st.ok + st.failed) as f64 / flows_per_sec as f64);
            let el = start.elapsed();
            if due > el {
                std::thread::sleep((due - el).min(Duration::from_millis(100)));
            }
        }
    }
    st
}

/// A TCP connection storm: `connect()` in a loop.
#[derive(Debug, Clone)]
pub struct ConnectStorm {
    pub to: SocketAddrV4,
    /// Source address (port 0: the kernel picks an ephemeral port).
    pub from: SocketAddrV4,
    /// Stop after this many attempts.
    pub max_connects: u64,
    pub max_time: Duration,
    /// Pause between attempts.
    pub pause: Duration,
    /// Blocking connects that wait for the handshake (with this timeout) and close at once
    /// (short outgoing connections); `None` = non-blocking SYNs that are kept open.
    pub complete: Option<Duration>,
    /// Non-blocking mode: keep at most this many sockets open.
    pub keep_open: usize,
    /// Failed connects are also counted here as they happen.
    pub failures: Option<Arc<AtomicU64>>,
}

/// Run a connection storm on this thread; `failed` counts connects that errored.
pub fn connect_storm(c: ConnectStorm, stop: &AtomicBool) -> Stats {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let start = Instant::now();
    let mut st = Stats::default();
    let mut open = std::collections::VecDeque::new();
    let mut n = 0u64;
    while !halted(stop) && n < c.max_connects && start.elapsed() < c.max_time {
        n += 1;
        if let Some(timeout) = c.complete {
            let ok = (|| -> std::io::Result<()> {
                let fd = socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )?;
                bind(fd.as_raw_fd(), &SockaddrIn::from(c.from))?;
                let s = TcpStream::from(fd);
                s.set_write_timeout(Some(timeout))?;
                connect(s.as_raw_fd(), &SockaddrIn::from(c.to))?;
                // Close first: the TIME_WAIT stays on this side (the outgoing host).
                drop(s);
                Ok(())
            })();
            if ok.is_ok() {
                st.ok += 1;
            } else {
                st.failed += 1;
                if let Some(f) = &c.failures {
                    f.fetch_add(1, Ordering::Relaxed);
                }
            }
        } else {
            match socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                None,
            ) {
                Ok(fd) => {
                    match connect(fd.as_raw_fd(), &SockaddrIn::from(c.to)) {
                        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => st.ok += 1,
                        Err(_) => st.failed += 1,
                    }
                    if open.len() >= c.keep_open.max(1) {
                        open.pop_front();
                    }
                    open.push_back(fd);
                }
                Err(_) => st.failed += 1,
            }
        }
        if !c.pause.is_zero() {
            std::thread::sleep(c.pause);
        }
    }
    st
}

/// A TCP bulk stream: write `max_bytes` to `to` (or until `max_time`); `ok` = bytes sent.
pub fn tcp_bulk(to: SocketAddrV4, max_bytes: u64, max_time: Duration, stop: &AtomicBool) -> Stats {
    let mut st = Stats::default();
    let Ok(mut s) = TcpStream::connect_timeout(&to.into(), Duration::from_secs(2)) else {
        st.failed = 1;
        return st;
    };
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let buf = vec![0xa5u8; 64 * 1024];
    let start = Instant::now();
    while !halted(stop) && st.ok < max_bytes && start.elapsed() < max_time {
        match s.write(&buf) {
            Ok(n) => st.ok += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                st.failed += 1;
                break;
            }
        }
    }
    st
}

/// A UDP reader bound to `addr` with SO_RCVBUF `rcvbuf` (`None`: the namespace's
/// `rmem_default`) reading at most `reads_per_sec` datagrams per second (`None`: flat out).
/// Built on the caller's thread (so in its namespace); [`UdpReader::run`] reads.
pub struct UdpReader {
    sock: UdpSocket,
    reads_per_sec: Option<u64>,
}

impl UdpReader {
    pub fn bind(
        addr: SocketAddrV4,
        rcvbuf: Option<usize>,
        reads_per_sec: Option<u64>,
    ) -> std::io::Result<UdpReader> {
        let sock = UdpSocket::bind(addr)?;
        if let Some(b) = rcvbuf {
            nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &b)
                .map_err(std::io::Error::from)?;
        }
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok(UdpReader {
            sock,
            reads_per_sec,
        })
    }

    /// Read until `max_packets`, `max_time` or stop; `ok` = datagrams read.
    pub fn run(self, max_packets: u64, max_time: Duration, stop: &AtomicBool) -> Stats {
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        let mut st = Stats::default();
        let mut pacer = Pacer::new(self.reads_per_sec);
        while !halted(stop) && st.ok < max_packets && start.elapsed() < max_time {
            if self.sock.recv(&mut buf).is_ok() {
                st.ok += 1;
                if let Some(p) = &mut pacer {
                    p.wait();
                }
            }
        }
        st
    }
}

/// A TCP listener on `addr` with `listen()` backlog `backlog`, accepting at most
/// `accepts_per_sec` connections per second (`Some(0)`: never accepts).
pub struct TcpServer {
    listener: TcpListener,
    accepts_per_sec: Option<u64>,
}

impl TcpServer {
    pub fn bind(
        addr: SocketAddrV4,
        backlog: i32,
        accepts_per_sec: Option<u64>,
    ) -> std::io::Result<TcpServer> {
        use nix::sys::socket::{
            bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
            SockaddrIn,
        };
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        bind(fd.as_raw_fd(), &SockaddrIn::from(addr))?;
        let b = Backlog::new(backlog.max(0)).map_err(std::io::Error::from)?;
        listen(&fd, b)?;
        let listener = TcpListener::from(fd);
        listener.set_nonblocking(true)?;
        Ok(TcpServer {
            listener,
            accepts_per_sec,
        })
    }

    /// Accept (and drain each connection briefly) until `max_conns`, `max_time` or stop.
    pub fn run(self, max_conns: u64, max_time: Duration, stop: &AtomicBool) -> Stats {
        let start = Instant::now();
        let mut st = Stats::default();
        let mut buf = [0u8; 64 * 1024];
        let mut streams: Vec<TcpStream> = Vec::new();
        let mut pacer = Pacer::new(self.accepts_per_sec);
        while !halted(stop) && st.ok < max_conns && start.elapsed() < max_time {
            if self.accepts_per_sec == Some(0) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            match self.listener.accept() {
                Ok((s, _)) => {
                    st.ok += 1;
                    let _ = s.set_nonblocking(true);
                    streams.push(s);
                    if streams.len() > 64 {
                        streams.remove(0);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
            // Drain what arrived; close connections the peer closed.
            streams.retain_mut(|s| match s.read(&mut buf) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            });
            if let Some(p) = &mut pacer {
                p.wait();
            }
        }
        st
    }
}

/// Paces a consumer (a slow reader or acceptor) to at most `per_sec` operations a second.
/// Idle time earns no credit: paced from its start, a consumer would after a pause take a
/// whole burst at once, and a fault that needs it to fall behind would appear only when the
/// machine happens to be slow.
struct Pacer {
    next: Instant,
    period: Duration,
}

impl Pacer {
    /// A pacer for `per_sec` operations a second; `None` (flat out) for `None` or 0.
    fn new(per_sec: Option<u64>) -> Option<Pacer> {
        let r = per_sec.filter(|r| *r > 0)?;
        Some(Pacer {
            next: Instant::now(),
            period: Duration::from_secs_f64(1.0 / r as f64),
        })
    }

    /// After one operation: sleep until the next may start (at most 100 ms at a time).
    fn wait(&mut self) {
        let now = Instant::now();
        self.next = self.next.max(now) + self.period;
        if self.next > now {
            std::thread::sleep((self.next - now).min(Duration::from_millis(100)));
        }
    }
}

/// Generator threads; joined (after setting their stop flag) by [`Traffic::finish`] or drop.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Stats>>,
    /// Threads that could not enter their namespace.
    pub failed_spawns: Arc<AtomicU64>,
}

impl Default for Traffic {
    fn default() -> Self {
        Self::new()
    }
}

impl Traffic {
    pub fn new() -> Traffic {
        Traffic {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            failed_spawns: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Run `f(stop)` on a new thread inside the network namespace at `ns`.
    pub fn spawn_in(
        &mut self,
        ns: &Path,
        f: impl FnOnce(&AtomicBool) -> Stats + Send + 'static,
    ) -> crate::Result<()> {
        let file = std::fs::File::open(ns).map_err(|e| crate::Error::io(ns, e))?;
        let stop = self.stop.clone();
        let failed = self.failed_spawns.clone();
        let h = std::thread::Builder::new()
            .name("nettune-traffic".into())
            .spawn(move || {
                if nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return Stats::default();
                }
                drop(file);
                f(&stop)
            })
            .map_err(|e| crate::Error::Netns {
                name: ns.display().to_string(),
                what: format!("spawn traffic thread: {e}"),
            })?;
        self.threads.push(h);
        Ok(())
    }

    /// Stop every thread and return the sum of their stats.
    pub fn finish(mut self) -> Stats {
        self.stop.store(true, Ordering::Relaxed);
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .fold(Stats::default(), |a, b| a + b)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn pacer_gives_no_credit_for_idle_time() {
        assert!(Pacer::new(None).is_none() && Pacer::new(Some(0)).is_none());
        let mut p = Pacer::new(Some(100)).unwrap();
        p.wait();
        std::thread::sleep(Duration::from_millis(200));
        // A pacer counting from its start would let 20 operations through at once now.
        let t = Instant::now();
        for _ in 0..5 {
            p.wait();
        }
        assert!(
            t.elapsed() >= Duration::from_millis(45),
            "5 operations after a pause took {:?}",
            t.elapsed()
        );
    }

    fn flood(to: SocketAddrV4, max_packets: u64, max_time: Duration) -> UdpFlood {
        UdpFlood {
            from: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            to,
            payload: 32,
            burst: 64,
            rate: None,
            pause: Duration::ZERO,
            max_packets,
            max_time,
            cpu: None,
        }
    }

    #[test]
    fn udp_flood_stops_at_its_packet_bound() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match sink.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let st = udp_flood(
            flood(to, 1000, Duration::from_secs(10)),
            &AtomicBool::new(false),
        );
        assert_eq!(st.ok, 1000);
    }

    #[test]
    fn udp_flood_stops_at_its_time_bound_and_rate() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match sink.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let mut f = flood(to, u64::MAX, Duration::from_millis(300));
        f.rate = Some(1000);
        f.burst = 10;
        let start = Instant::now();
        let st = udp_flood(f, &AtomicBool::new(false));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!((200..=400).contains(&st.ok), "{st:?} at 1000/s for 0.3 s");
    }

    #[test]
    fn reader_and_listener_stop_by_themselves() {
        let r = UdpReader::bind(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            Some(4096),
            Some(10),
        )
        .unwrap();
        let start = Instant::now();
        r.run(
            u64::MAX,
            Duration::from_millis(200),
            &AtomicBool::new(false),
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        let s = TcpServer::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), 128, None).unwrap();
        let addr = match s.listener.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let server = std::thread::spawn(move || s.run(u64::MAX, Duration::from_secs(5), &stop2));
        let storm = ConnectStorm {
            to: addr,
            from: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            max_connects: 20,
            max_time: Duration::from_secs(5),
            pause: Duration::ZERO,
            complete: Some(Duration::from_millis(500)),
            keep_open: 0,
            failures: None,
        };
        let st = connect_storm(storm, &AtomicBool::new(false));
        assert_eq!(st.ok + st.failed, 20, "bounded by count");
        assert_eq!(st.ok, 20, "{st:?}");
        stop.store(true, Ordering::Relaxed);
        let accepted = server.join().unwrap();
        assert!(accepted.ok <= 20);
    }
}
