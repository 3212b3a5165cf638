//! A small HTTP/1.1 server on `std::net` for `/metrics`: a fixed pool of worker threads fed
//! by a bounded queue, per-connection deadlines, one request per connection.
//!
//! Only `GET`/`HEAD` of `/metrics` and `/` are served; an unknown path is 404, another method
//! 405, anything that is not an HTTP/1.x request line 400, a head larger than 8 KiB 431, a
//! client too slow to send its head 408. When every worker is busy and the queue is full, new
//! connections get 503 at once. Nothing changes any state: the endpoints are read-only.

use super::encode::Format;
use super::Exporter;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Worker threads (each serves one connection at a time).
    pub workers: usize,
    /// Accepted connections waiting for a worker; beyond this, 503.
    pub queue: usize,
    /// Time a client has to send its whole request head.
    pub read_timeout: Duration,
    /// Time a client has to take each part of the response.
    pub write_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: 4,
            queue: 64,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// Serve `listener` forever (spawns the workers, then accepts on the calling thread).
pub fn serve(listener: TcpListener, exporter: Arc<Exporter>, config: ServerConfig) {
    let (tx, rx) = sync_channel::<TcpStream>(config.queue.max(1));
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
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("accept: {e}");
                // Out of file descriptors and similar: do not spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut s)) => {
                let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = respond(&mut s, 503, "Service Unavailable", &[], b"busy\n", false);
            }
            Err(TrySendError::Disconnected(_)) => return,
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

fn worker(rx: &Mutex<Receiver<TcpStream>>, exporter: &Exporter, config: &ServerConfig) {
    loop {
        let next = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv()
        };
        let Ok(mut stream) = next else { return };
        if let Err(e) = handle(&mut stream, exporter, config) {
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
    exporter: &Exporter,
    config: &ServerConfig,
) -> std::io::Result<()> {
    stream.set_write_timeout(Some(config.write_timeout))?;
    let deadline = Instant::now() + config.read_timeout;
    let mut buf = [0u8; MAX_HEAD];
    let mut len = 0;
    let end = loop {
        if let Some(pos) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if len == buf.len() {
            return respond(
                stream,
                431,
                "Request Header Fields Too Large",
                &[],
                b"",
                false,
            );
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return respond(stream, 408, "Request Timeout", &[], b"", false);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Ok(()),
            Ok(n) => len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return respond(stream, 408, "Request Timeout", &[], b"", false);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
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
