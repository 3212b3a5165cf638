//! A small HTTP/1.1 server on `std::net` for `/metrics`: request heads are read without
//! pinning a worker, then a fixed pool of worker threads fed by a bounded queue answers them,
//! one request per connection.
//!
//! The accepting thread multiplexes every connection still sending its head with `poll(2)`
//! on non-blocking sockets, so idle or slow clients cost a descriptor, never a worker. Each
//! connection's head deadline starts when it is accepted. Only `GET`/`HEAD` of `/metrics`
//! and `/` are served; an unknown path is 404, another method 405, anything that is not an
//! HTTP/1.x request line 400 (bytes that cannot start a request line get it at once, without
//! waiting for the rest), a head larger than 8 KiB 431, a client too slow to send its head
//! 408. One address may hold at most `per_address` connections and the server at most
//! `max_pending` heads in flight; beyond either, and when every worker is busy and the queue
//! is full, the connection gets 503 at once. Nothing changes any state: the endpoints are
//! read-only.

use super::encode::Format;
use super::Exporter;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Worker threads (each answers one complete request at a time).
    pub workers: usize,
    /// Complete requests waiting for a worker; beyond this, 503.
    pub queue: usize,
    /// Time a client has to send its whole request head, from when it was accepted.
    pub read_timeout: Duration,
    /// Time a client has to take each part of the response.
    pub write_timeout: Duration,
    /// Connections one client address may hold open at once (heads in flight and requests
    /// being answered); beyond this, 503.
    pub per_address: usize,
    /// Connections still sending their head, all addresses together; beyond this, 503.
    pub max_pending: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: 4,
            queue: 64,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            per_address: 64,
            max_pending: 1024,
        }
    }
}

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// Longest method token accepted in a request line (`OPTIONS` is 7).
const MAX_METHOD: usize = 16;

/// Open connections per client address, shared by the accepting thread and the workers.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection counted against its address; dropping it (with the connection) uncounts.
struct Slot {
    counts: Counts,
    ip: IpAddr,
}

impl Slot {
    /// Count a connection from `ip`, unless it already holds `limit`.
    fn take(counts: &Counts, ip: IpAddr, limit: usize) -> Option<Slot> {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A connection still sending its head.
struct Pending {
    stream: TcpStream,
    /// Accept time plus the read timeout.
    deadline: Instant,
    buf: Vec<u8>,
    _slot: Slot,
}

/// A complete request head, for a worker.
struct Job {
    stream: TcpStream,
    head: Vec<u8>,
    _slot: Slot,
}

/// What the bytes of a head so far call for.
#[derive(Debug, PartialEq, Eq)]
enum HeadState {
    /// Not complete yet.
    More,
    /// Complete: the head is `buf[..end]`.
    Complete(usize),
    /// Answer this status at once.
    Reject(u16, &'static str),
}

/// Judge the bytes of a head received so far: complete, rejectable now, or not yet.
fn head_state(buf: &[u8]) -> HeadState {
    // A request line starts with a method token of upper-case letters and a space: anything
    // else (binary junk, TLS hellos, lower-case words) is refused at once.
    let token = buf.iter().take(MAX_METHOD + 1).position(|b| *b == b' ');
    let method_ok = match token {
        Some(0) => false,
        Some(n) => buf[..n].iter().all(u8::is_ascii_uppercase),
        None => buf.len() <= MAX_METHOD && buf.iter().all(u8::is_ascii_uppercase),
    };
    if !method_ok {
        return HeadState::Reject(400, "Bad Request");
    }
    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        return HeadState::Complete(pos);
    }
    if buf.len() >= MAX_HEAD {
        return HeadState::Reject(431, "Request Header Fields Too Large");
    }
    HeadState::More
}

/// Serve `listener` forever: spawns the workers, then accepts and reads request heads on the
/// calling thread.
pub fn serve(listener: TcpListener, exporter: Arc<Exporter>, config: ServerConfig) {
    let (tx, rx) = sync_channel::<Job>(config.queue.max(1));
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..config.workers.max(1) {
        let rx = rx.clone();
        let exporter = exporter.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("nettune-http-{i}"))
            .spawn(move || worker(&rx, &exporter, &config));
        if let Err(e) = spawned {
            tracing::error!("cannot start HTTP worker: {e}");
        }
    }
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!("cannot make the listening socket non-blocking: {e}");
        return;
    }
    let counts: Counts = Arc::new(Mutex::new(HashMap::new()));
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        let now = Instant::now();
        let wait = pending
            .iter()
            .map(|p| p.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let mut fds: Vec<libc::pollfd> = std::iter::once(listener.as_raw_fd())
            .chain(pending.iter().map(|p| p.stream.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let timeout = i32::try_from(wait.as_millis() + 1).unwrap_or(1000);
        let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `fds` is a live array of `nfds` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::debug!("poll: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        // Heads first (newest last, so swap_remove never moves an unvisited one).
        let ready = |r: i16| r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
        for i in (0..pending.len().min(fds.len() - 1)).rev() {
            if !ready(fds[i + 1].revents) {
                continue;
            }
            match read_some(&mut pending[i]) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => {
                    pending.swap_remove(i);
                    continue;
                }
            }
            match head_state(&pending[i].buf) {
                HeadState::More => {}
                HeadState::Reject(code, reason) => {
                    let p = pending.swap_remove(i);
                    reject(p.stream, code, reason);
                }
                HeadState::Complete(end) => {
                    let mut p = pending.swap_remove(i);
                    p.buf.truncate(end);
                    let job = Job {
                        stream: p.stream,
                        head: p.buf,
                        _slot: p._slot,
                    };
                    if !dispatch(&tx, job) {
                        return;
                    }
                }
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while i < pending.len() {
            if pending[i].deadline <= now {
                let p = pending.swap_remove(i);
                reject(p.stream, 408, "Request Timeout");
            } else {
                i += 1;
            }
        }
        if ready(fds[0].revents) {
            accept_all(&listener, &counts, &config, &mut pending);
        }
    }
}

/// Accept every connection waiting on `listener`, counting each against its address.
fn accept_all(
    listener: &TcpListener,
    counts: &Counts,
    config: &ServerConfig,
    pending: &mut Vec<Pending>,
) {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!("accept: {e}");
                // Out of file descriptors and similar: do not spin.
                std::thread::sleep(Duration::from_millis(10));
                return;
            }
        };
        if pending.len() >= config.max_pending.max(1) {
            reject(stream, 503, "Service Unavailable");
            continue;
        }
        let Some(slot) = Slot::take(counts, peer.ip(), config.per_address.max(1)) else {
            reject(stream, 503, "Service Unavailable");
            continue;
        };
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        pending.push(Pending {
            stream,
            deadline: Instant::now() + config.read_timeout,
            buf: Vec::new(),
            _slot: slot,
        });
    }
}

/// Read what the connection has sent (non-blocking, up to [`MAX_HEAD`]). `Ok(true)` when
/// bytes came, `Ok(false)` when none were there; an error or end of stream (the client gave
/// up) is `Err`.
fn read_some(p: &mut Pending) -> std::io::Result<bool> {
    let mut chunk = [0u8; 4096];
    let mut got = false;
    while p.buf.len() < MAX_HEAD {
        let room = (MAX_HEAD - p.buf.len()).min(chunk.len());
        match p.stream.read(&mut chunk[..room]) {
            Ok(0) if !got => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(0) => break,
            Ok(n) => {
                p.buf.extend_from_slice(&chunk[..n]);
                got = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Hand a complete request to a worker; when they are all busy and the queue is full, 503
/// at once. `false` when the workers are gone.
fn dispatch(tx: &SyncSender<Job>, job: Job) -> bool {
    match tx.try_send(job) {
        Ok(()) => true,
        Err(TrySendError::Full(job)) => {
            reject(job.stream, 503, "Service Unavailable");
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// Answer `code` on the accepting thread (a short blocking write) and close.
fn reject(mut stream: TcpStream, code: u16, reason: &str) {
    let body = match code {
        503 => "busy\n".to_string(),
        408 | 431 => String::new(),
        _ => format!("{}\n", reason.to_ascii_lowercase()),
    };
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = respond(&mut stream, code, reason, &[], body.as_bytes(), false);
    // Take what the client still had in flight so that closing sends FIN, not a reset that
    // could destroy the answer before the client reads it.
    let _ = stream.set_nonblocking(true);
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Bind `addr` and serve on a background thread; returns the bound address (tests bind
/// port 0).
pub fn spawn(
    addr: &str,
    exporter: Arc<Exporter>,
    config: ServerConfig,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("nettune-http-accept".into())
        .spawn(move || serve(listener, exporter, config))?;
    Ok(local)
}

fn worker(rx: &Mutex<Receiver<Job>>, exporter: &Exporter, config: &ServerConfig) {
    loop {
        let next = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv()
        };
        let Ok(mut job) = next else { return };
        if let Err(e) = handle(&mut job.stream, &job.head, exporter, config) {
            tracing::debug!("connection: {e}");
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// Serve `path` (`/` or `/metrics`); `head` omits the body.
    Ok {
        metrics: bool,
        head: bool,
        format: Format,
    },
    Status(u16, &'static str),
}

/// Judge a complete request head.
fn parse_head(head: &str) -> Request {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Status(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.")
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
    {
        return Request::Status(400, "Bad Request");
    }
    let path = target.split('?').next().unwrap_or(target);
    let metrics = match path {
        "/metrics" => true,
        "/" => false,
        _ => return Request::Status(404, "Not Found"),
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::Status(405, "Method Not Allowed"),
    };
    let accept = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("accept").then_some(v.trim())
    });
    Request::Ok {
        metrics,
        head: head_only,
        format: Format::from_accept(accept),
    }
}

fn handle(
    stream: &mut TcpStream,
    head: &[u8],
    exporter: &Exporter,
    config: &ServerConfig,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(config.write_timeout))?;
    let Ok(head) = std::str::from_utf8(head) else {
        return respond(stream, 400, "Bad Request", &[], b"bad request\n", false);
    };
    match parse_head(head) {
        Request::Status(405, reason) => respond(
            stream,
            405,
            reason,
            &[("Allow", "GET, HEAD")],
            b"only GET and HEAD\n",
            false,
        ),
        Request::Status(code, reason) => {
            let body = format!("{}\n", reason.to_ascii_lowercase());
            respond(stream, code, reason, &[], body.as_bytes(), false)
        }
        Request::Ok {
            metrics: false,
            head,
            ..
        } => respond(
            stream,
            200,
            "OK",
            &[("Content-Type", "text/html; charset=utf-8")],
            INDEX.as_bytes(),
            head,
        ),
        Request::Ok {
            metrics: true,
            head,
            format,
        } => {
            let scrape = exporter.scrape();
            let [counters, own] = scrape.parts(format);
            respond_parts(
                stream,
                200,
                "OK",
                &[("Content-Type", format.content_type())],
                &[counters.as_bytes(), own.as_bytes()],
                head,
            )
        }
    }
}

const INDEX: &str = "<html><head><title>nettune exporter</title></head><body>\
<h1>nettune exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

fn respond(
    stream: &mut TcpStream,
    code: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    respond_parts(stream, code, reason, headers, &[body], head_only)
}

/// Send a response whose body is `parts` one after the other; head and body leave in as
/// few writes as the socket takes (one `writev` of everything when it fits).
fn respond_parts(
    stream: &mut TcpStream,
    code: u16,
    reason: &str,
    headers: &[(&str, &str)],
    parts: &[&[u8]],
    head_only: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {code} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    if !headers.iter().any(|(k, _)| *k == "Content-Type") {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    let len: usize = parts.iter().map(|p| p.len()).sum();
    head.push_str(&format!(
        "Content-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    let mut out: Vec<&[u8]> = vec![head.as_bytes()];
    if !head_only {
        out.extend(parts.iter().filter(|p| !p.is_empty()));
    }
    write_all_vectored(stream, &mut out)?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// `write_all` over several buffers with `writev` (std's `write_all_vectored` is unstable).
fn write_all_vectored(stream: &mut TcpStream, bufs: &mut [&[u8]]) -> std::io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        let slices: Vec<std::io::IoSlice> = bufs[first..]
            .iter()
            .map(|b| std::io::IoSlice::new(b))
            .collect();
        let mut n = match stream.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while first < bufs.len() && n >= bufs[first].len() {
            n -= bufs[first].len();
            first += 1;
        }
        if first < bufs.len() {
            bufs[first] = &bufs[first][n..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_judged_as_they_arrive() {
        assert_eq!(head_state(b""), HeadState::More);
        assert_eq!(head_state(b"GE"), HeadState::More);
        assert_eq!(head_state(b"GET /metrics HTTP/1.1\r\n"), HeadState::More);
        assert_eq!(
            head_state(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            HeadState::Complete(30)
        );
        // Cannot start a request line: refused at the first byte, not after the timeout.
        for junk in [
            &b"\x16\x03\x01"[..],
            b"\xff",
            b"junk",
            b" GET",
            b"G\x00",
            b"get /",
        ] {
            assert_eq!(
                head_state(junk),
                HeadState::Reject(400, "Bad Request"),
                "{junk:?}"
            );
        }
        assert_eq!(
            head_state(&[b'A'; MAX_METHOD + 1]),
            HeadState::Reject(400, "Bad Request")
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        assert_eq!(
            head_state(&big),
            HeadState::Reject(431, "Request Header Fields Too Large")
        );
    }

    #[test]
    fn an_address_holds_at_most_its_share_of_connections() {
        let counts: Counts = Arc::new(Mutex::new(HashMap::new()));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = Slot::take(&counts, ip, 2).unwrap();
        let b = Slot::take(&counts, ip, 2).unwrap();
        assert!(Slot::take(&counts, ip, 2).is_none());
        assert!(Slot::take(&counts, "::1".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(Slot::take(&counts, ip, 2).is_some());
        drop(b);
        assert!(counts.lock().unwrap().is_empty(), "uncounted on drop");
    }

    #[test]
    fn request_heads() {
        let ok = |accept: Format| Request::Ok {
            metrics: true,
            head: false,
            format: accept,
        };
        assert_eq!(
            parse_head("GET /metrics HTTP/1.1\r\nHost: x"),
            ok(Format::Text)
        );
        assert_eq!(
            parse_head(
                "GET /metrics?x=1 HTTP/1.0\r\naccept: application/openmetrics-text;version=1.0.0"
            ),
            ok(Format::OpenMetrics)
        );
        assert!(matches!(
            parse_head("HEAD / HTTP/1.1"),
            Request::Ok {
                metrics: false,
                head: true,
                ..
            }
        ));
        assert_eq!(
            parse_head("GET /other HTTP/1.1"),
            Request::Status(404, "Not Found")
        );
        assert_eq!(
            parse_head("POST /metrics HTTP/1.1"),
            Request::Status(405, "Method Not Allowed")
        );
        assert_eq!(parse_head("hello"), Request::Status(400, "Bad Request"));
        assert_eq!(
            parse_head("GET /metrics SPDY/3"),
            Request::Status(400, "Bad Request")
        );
        assert_eq!(
            parse_head("GET metrics HTTP/1.1"),
            Request::Status(400, "Bad Request")
        );
        assert_eq!(parse_head(""), Request::Status(400, "Bad Request"));
    }
}
