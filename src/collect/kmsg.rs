//! The kernel log: live from `/dev/kmsg` ([`Reader`]: opened non-blocking, positioned at the
//! end at the window's first snapshot — or at the first record with `--since-boot` — and
//! read until `EAGAIN` at each later one), or from kern.log / dmesg text
//! ([`parse_log_text`], for archives). Only the records the rules read are kept
//! ([`classify`]: conntrack table full, over-MTU drops, neighbour table overflow, TCP out of
//! memory, SYN flooding, transmit timeouts, suppressed callbacks), at most [`MAX_KEPT`], so a
//! capture stays small whatever the log holds.

use super::{Root, Source, Warnings};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};

/// At most this many records are kept (the newest); older matches are counted in
/// [`KernelLog::omitted`].
pub const MAX_KEPT: usize = 4096;

/// At most this many records are read by one [`Reader::read`] (a log flooded while we read
/// cannot keep the snapshot reading forever).
pub const MAX_READ: u64 = 1_000_000;

/// `/dev/kmsg` refuses reads into a buffer shorter than a record; records are at most
/// this long (`CONSOLE_EXT_LOG_MAX`).
const RECORD_MAX: usize = 8192;

/// What span of the log the records cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSpan {
    /// Records written since the previous snapshot (`/dev/kmsg`, live).
    Window,
    /// Every record still in the kernel's buffer, since boot (`--since-boot`).
    Boot,
    /// A log file (kern.log, dmesg output) as found in an archive.
    File,
}

/// One kernel log record the rules read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Sequence number (`/dev/kmsg` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Time since boot, microseconds, when the record or line carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_usec: Option<u64>,
    /// Syslog priority (facility × 8 + level), `/dev/kmsg` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The message text, without prefix or trailing newline.
    pub message: String,
}

/// The kernel log records of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelLog {
    /// What the records cover.
    pub span: LogSpan,
    /// Records (or lines) read, kept or not.
    pub scanned: u64,
    /// Times the kernel's ring buffer overwrote records before they were read (`EPIPE`):
    /// the log is incomplete.
    #[serde(default)]
    pub lost: u64,
    /// Matching records not kept (over [`MAX_KEPT`]), oldest first dropped.
    #[serde(default)]
    pub omitted: u64,
    /// The records the rules read, oldest first.
    pub records: Vec<LogRecord>,
}

impl KernelLog {
    /// An empty log covering `span`.
    pub fn new(span: LogSpan) -> Self {
        KernelLog {
            span,
            scanned: 0,
            lost: 0,
            omitted: 0,
            records: Vec::new(),
        }
    }

    /// Count `record` as read and keep it when a rule reads it.
    pub fn offer(&mut self, record: LogRecord) {
        self.scanned += 1;
        if classify(&record.message).is_none() {
            return;
        }
        if self.records.len() >= MAX_KEPT {
            self.records.remove(0);
            self.omitted += 1;
        }
        self.records.push(record);
    }

    /// Every kept record with what it says.
    pub fn events(&self) -> impl Iterator<Item = (&LogRecord, LogEvent<'_>)> {
        self.records
            .iter()
            .filter_map(|r| classify(&r.message).map(|e| (r, e)))
    }
}

/// What a kernel log message says, for the messages the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEvent<'a> {
    /// `nf_conntrack: table full, dropping packet`.
    ConntrackFull,
    /// `DEV: dropped over-mtu packet: N > MTU` (Open vSwitch), with the device.
    OverMtu {
        /// The device the message names.
        device: Option<&'a str>,
    },
    /// `neighbour table overflow` / `arp_cache: neighbor table overflow!`.
    NeighOverflow {
        /// `arp_cache` or `ndisc_cache`, when named.
        table: Option<&'a str>,
    },
    /// `TCP: out of memory -- consider tuning tcp_mem`.
    TcpOutOfMemory,
    /// `Route cache is full: consider increasing sysctl net.ipv6.route.max_size.` (IPv6
    /// `dst_alloc` failed, kernels before 6.3).
    Ipv6RouteCacheFull,
    /// `Possible SYN flooding on port N. Sending cookies.` (or `Dropping request`).
    SynFlood {
        /// The listener's port.
        port: Option<u16>,
        /// Cookies were sent (`false`: requests dropped).
        cookies: bool,
    },
    /// `NETDEV WATCHDOG: DEV (DRIVER): transmit queue N timed out`.
    TxTimeout {
        /// The device.
        device: &'a str,
        /// Its driver, when named.
        driver: Option<&'a str>,
        /// The transmit queue.
        queue: Option<u32>,
    },
    /// `NAME: N callbacks suppressed`: N more messages of a rate-limited printer were not
    /// logged.
    Suppressed {
        /// The rate limiter's name (`net_ratelimit`, `nf_conntrack`, a function name).
        name: &'a str,
        /// Messages not logged.
        count: u64,
    },
}

/// What `message` says, when a rule reads it.
pub fn classify(message: &str) -> Option<LogEvent<'_>> {
    let m = message.trim();
    if m.contains("table full, dropping packet") {
        return Some(LogEvent::ConntrackFull);
    }
    if let Some(i) = m.find("dropped over-mtu packet") {
        let device = m[..i]
            .trim_end()
            .trim_end_matches(':')
            .rsplit(' ')
            .next()
            .filter(|d| !d.is_empty());
        return Some(LogEvent::OverMtu { device });
    }
    let lower_has = |needle: &str| {
        m.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    if lower_has("neighbour table overflow") || lower_has("neighbor table overflow") {
        let table = ["arp_cache", "ndisc_cache"]
            .into_iter()
            .find(|t| m.contains(t));
        return Some(LogEvent::NeighOverflow { table });
    }
    if lower_has("route cache is full") && !m.contains("net.ipv4.") {
        return Some(LogEvent::Ipv6RouteCacheFull);
    }
    if m.contains("out of memory -- consider tuning tcp_mem") {
        return Some(LogEvent::TcpOutOfMemory);
    }
    if let Some(i) = m.find("SYN flooding on port ") {
        let rest = &m[i + "SYN flooding on port ".len()..];
        let addr = rest
            .split(". ")
            .next()
            .unwrap_or(rest)
            .trim_end_matches('.');
        let port = addr.rsplit(':').next().and_then(|p| p.trim().parse().ok());
        return Some(LogEvent::SynFlood {
            port,
            cookies: rest.contains("Sending cookies"),
        });
    }
    if let Some(i) = m.find("NETDEV WATCHDOG: ") {
        let rest = &m[i + "NETDEV WATCHDOG: ".len()..];
        let mut toks = rest.split_ascii_whitespace();
        let device = toks.next()?.trim_end_matches(':');
        let driver = rest
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .map(|(d, _)| d);
        let queue = rest
            .split_once("transmit queue ")
            .and_then(|(_, r)| r.split_ascii_whitespace().next())
            .and_then(|q| q.parse().ok());
        return Some(LogEvent::TxTimeout {
            device,
            driver,
            queue,
        });
    }
    if let Some(head) = m.strip_suffix("callbacks suppressed") {
        let head = head.trim_end();
        let (name, count) = head.rsplit_once(' ')?;
        let count = count.parse().ok()?;
        let name = name.trim_end().trim_end_matches(':');
        // Only the network printers' rate limiters: every message above goes through
        // net_ratelimit(); others (kauditd_printk_skb, ...) say nothing about them.
        let network = name == "net_ratelimit"
            || name.starts_with("nf_")
            || name.contains("neigh")
            || name.starts_with("dst_")
            || name.starts_with("ip6_dst")
            || name == "TCP";
        return network.then_some(LogEvent::Suppressed { name, count });
    }
    None
}

/// Parse one `/dev/kmsg` record: `PRI,SEQ,TS_USEC,FLAGS[,...];MESSAGE\n` followed by
/// ` KEY=VALUE` dictionary lines; `\xNN` escapes in the message are decoded.
pub fn parse_record(raw: &[u8]) -> Option<LogRecord> {
    let text = String::from_utf8_lossy(raw);
    let (header, rest) = text.split_once(';')?;
    let mut fields = header.split(',');
    let priority = fields.next()?.trim().parse().ok()?;
    let seq = fields.next()?.trim().parse().ok()?;
    let ts_usec = fields.next()?.trim().parse().ok()?;
    let message = rest.split('\n').next().unwrap_or("");
    Some(LogRecord {
        seq: Some(seq),
        ts_usec: Some(ts_usec),
        priority: Some(priority),
        message: unescape(message),
    })
}

/// Decode the `\xNN` escapes `/dev/kmsg` uses for unprintable bytes.
fn unescape(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            if let Some(v) = std::str::from_utf8(&b[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `[  123.456789]` at the start of `s`: the time in microseconds and the rest.
fn bracket_time(s: &str) -> Option<(Option<u64>, &str)> {
    let inner = s.strip_prefix('[')?;
    let (t, rest) = inner.split_once(']')?;
    let t = t.trim();
    let ts = t.split_once('.').and_then(|(sec, frac)| {
        let sec: u64 = sec.parse().ok()?;
        let frac6: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        Some(sec * 1_000_000 + frac6.parse::<u64>().ok()?)
    });
    // `dmesg -T` prints a date in the brackets: no time since boot, still a kernel line.
    Some((ts, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// One line of kern.log (`Dec  6 13:30:37 host kernel: [  123.456] msg`, RFC 3339
/// timestamps too) or dmesg output (`[  123.456] msg`, `<4>[ 123.456] msg`, `dmesg -T`):
/// the record, or `None` for a line of another program or an empty one.
fn parse_text_line(line: &str) -> Option<LogRecord> {
    let line = line.trim_end();
    let mut body = line;
    // `<4>` priority prefix (dmesg -r).
    if let Some(rest) = body.strip_prefix('<') {
        if let Some((p, r)) = rest.split_once('>') {
            if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() {
                body = r;
            }
        }
    }
    let (ts, message) = if let Some(i) = body.find(" kernel: ") {
        let msg = &body[i + " kernel: ".len()..];
        match bracket_time(msg) {
            Some((ts, rest)) => (ts, rest),
            None => (None, msg),
        }
    } else if let Some((ts, rest)) = bracket_time(body) {
        (ts, rest)
    } else {
        return None;
    };
    let message = message.trim();
    (!message.is_empty()).then(|| LogRecord {
        seq: None,
        ts_usec: ts,
        priority: None,
        message: message.to_string(),
    })
}

/// Parse kern.log or dmesg text (an archive's `var/log/kern.log`,
/// `sos_commands/kernel/dmesg`): every kernel line is read, the ones the rules read kept.
/// Lines of other programs are skipped. An empty text is unsupported ("empty"), never an
/// empty log.
pub fn parse_log_text(text: &str) -> Source<KernelLog> {
    if text.trim().is_empty() {
        return Source::unsupported("empty");
    }
    let mut log = KernelLog::new(LogSpan::File);
    let mut kernel_lines = 0u64;
    for line in text.lines() {
        if let Some(r) = parse_text_line(line) {
            kernel_lines += 1;
            log.offer(r);
        }
    }
    if kernel_lines == 0 {
        return Source::error("no kernel log line found (neither `kernel:` nor `[seconds]`)");
    }
    Source::Ok(log)
}

/// Where the live kernel log is read.
pub const KMSG: &str = "/dev/kmsg";

/// The live `/dev/kmsg` reader a collector keeps between snapshots.
#[derive(Debug)]
pub struct Reader {
    file: Option<std::fs::File>,
    since_boot: bool,
    /// Why the log cannot be read, once known (said in every snapshot).
    failed: Option<Source<KernelLog>>,
}

impl Reader {
    /// A reader that starts at the end of the log (records written from the first snapshot
    /// on), or with `since_boot` at the oldest record the kernel still holds.
    pub fn new(since_boot: bool) -> Self {
        Reader {
            file: None,
            since_boot,
            failed: None,
        }
    }

    /// The records written since the previous call. The first call opens `/dev/kmsg` and
    /// positions it: at the end (an empty [`LogSpan::Window`] log), or with `since_boot` at
    /// the start (an empty [`LogSpan::Boot`] log, the next call returns everything since
    /// boot). Unsupported on a root that is not the live host.
    pub fn read(&mut self, root: &Root, warnings: &mut Warnings) -> Source<KernelLog> {
        if !root.live {
            return Source::unsupported(
                "the kernel log is read from /dev/kmsg on the live host only",
            );
        }
        if let Some(f) = &self.failed {
            return f.clone();
        }
        let span = if self.since_boot {
            LogSpan::Boot
        } else {
            LogSpan::Window
        };
        let Some(file) = self.file.as_mut() else {
            use std::os::unix::fs::OpenOptionsExt;
            let path = std::path::Path::new(KMSG);
            let opened = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(path);
            let mut file = match opened {
                Ok(f) => f,
                Err(e) => {
                    let s = Source::from_io(path, &e);
                    self.failed = Some(s.clone());
                    return s;
                }
            };
            if !self.since_boot {
                if let Err(e) = file.seek(SeekFrom::End(0)) {
                    let s = Source::error(format!("{KMSG}: seeking to the end: {e}"));
                    self.failed = Some(s.clone());
                    return s;
                }
            }
            self.file = Some(file);
            return Source::Ok(KernelLog::new(span));
        };
        let mut log = KernelLog::new(span);
        let mut buf = vec![0u8; RECORD_MAX];
        while log.scanned < MAX_READ {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => match parse_record(&buf[..n]) {
                    Some(r) => log.offer(r),
                    None => warnings.push(
                        "kernel_log",
                        None,
                        format!("{KMSG}: a record without `PRI,SEQ,TS;` header; skipped"),
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                    log.lost += 1;
                    warnings.push(
                        "kernel_log",
                        None,
                        format!(
                            "{KMSG}: records were overwritten in the kernel's buffer before \
                             they were read; the log of this window is incomplete"
                        ),
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warnings.push("kernel_log", None, format!("{KMSG}: {e}; read stopped"));
                    break;
                }
            }
        }
        Source::Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_parse_with_dictionary_and_escapes() {
        let r = parse_record(
            b"4,1234,5678901,-;nf_conntrack: nf_conntrack: table full, dropping packet\n \
              SUBSYSTEM=net\n",
        )
        .unwrap();
        assert_eq!(r.seq, Some(1234));
        assert_eq!(r.ts_usec, Some(5678901));
        assert_eq!(r.priority, Some(4));
        assert_eq!(
            r.message,
            "nf_conntrack: nf_conntrack: table full, dropping packet"
        );
        assert_eq!(classify(&r.message), Some(LogEvent::ConntrackFull));
        let r = parse_record(b"6,1,2,c,extra;tab\\x09here\n").unwrap();
        assert_eq!(r.message, "tab\there");
        assert!(parse_record(b"garbage without header").is_none());
        assert!(parse_record(b"x,1,2,-;msg").is_none());
    }

    #[test]
    fn messages_classify_with_their_details() {
        assert_eq!(
            classify("TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.  Check SNMP counters."),
            Some(LogEvent::SynFlood {
                port: Some(8080),
                cookies: true
            })
        );
        assert_eq!(
            classify("TCP: request_sock_TCPv6: Possible SYN flooding on port [::]:443. Dropping request.  Check SNMP counters."),
            Some(LogEvent::SynFlood {
                port: Some(443),
                cookies: false
            })
        );
        assert_eq!(
            classify("NETDEV WATCHDOG: eth0 (e1000e): transmit queue 2 timed out 5120 ms"),
            Some(LogEvent::TxTimeout {
                device: "eth0",
                driver: Some("e1000e"),
                queue: Some(2)
            })
        );
        assert_eq!(
            classify("vxlan_sys_4789: dropped over-mtu packet: 1554 > 1500"),
            Some(LogEvent::OverMtu {
                device: Some("vxlan_sys_4789")
            })
        );
        assert_eq!(
            classify("arp_cache: neighbor table overflow!"),
            Some(LogEvent::NeighOverflow {
                table: Some("arp_cache")
            })
        );
        assert_eq!(
            classify("Neighbour table overflow."),
            Some(LogEvent::NeighOverflow { table: None })
        );
        assert_eq!(
            classify("TCP: out of memory -- consider tuning tcp_mem"),
            Some(LogEvent::TcpOutOfMemory)
        );
        assert_eq!(
            classify("net_ratelimit: 27 callbacks suppressed"),
            Some(LogEvent::Suppressed {
                name: "net_ratelimit",
                count: 27
            })
        );
        assert_eq!(
            classify("Route cache is full: consider increasing sysctl net.ipv6.route.max_size."),
            Some(LogEvent::Ipv6RouteCacheFull)
        );
        assert_eq!(
            classify("dst_alloc: 14 callbacks suppressed"),
            Some(LogEvent::Suppressed {
                name: "dst_alloc",
                count: 14
            })
        );
        // The IPv4 route cache (removed in 3.6) is not the IPv6 one.
        assert_eq!(
            classify("Route cache is full: consider increasing sysctl net.ipv4.route.max_size."),
            None
        );
        assert_eq!(classify("eth0: link up"), None);
        assert_eq!(
            classify("kauditd_printk_skb: 19 callbacks suppressed"),
            None
        );
    }

    #[test]
    fn kern_log_and_dmesg_text_parse() {
        let text = "\
Dec  6 13:30:37 web1 kernel: [ 1234.567890] nf_conntrack: nf_conntrack: table full, dropping packet
Dec  6 13:30:38 web1 systemd[1]: Started Session 3.
Dec  6 13:30:39 web1 kernel: [ 1235.000001] net_ratelimit: 12 callbacks suppressed
2024-01-01T10:00:00.123456+00:00 web1 kernel: TCP: out of memory -- consider tuning tcp_mem
[   10.500000] NETDEV WATCHDOG: ens3 (virtio_net): transmit queue 0 timed out
<4>[   11.000000] eth0: link up
[Mon Dec  6 13:30:40 2026] arp_cache: neighbor table overflow!
";
        let log = parse_log_text(text).ok().cloned().unwrap();
        assert_eq!(log.span, LogSpan::File);
        assert_eq!(log.scanned, 6, "{log:?}");
        assert_eq!(log.records.len(), 5);
        assert_eq!(log.records[0].ts_usec, Some(1_234_567_890));
        assert_eq!(log.records[3].ts_usec, Some(10_500_000));
        let kinds: Vec<LogEvent> = log.events().map(|(_, e)| e).collect();
        assert!(kinds.contains(&LogEvent::TcpOutOfMemory));
        assert!(kinds.contains(&LogEvent::NeighOverflow {
            table: Some("arp_cache")
        }));
        assert!(matches!(parse_log_text("  \n"), Source::Unsupported { .. }));
        assert!(matches!(
            parse_log_text("not a log\nat all\n"),
            Source::Error { .. }
        ));
    }

    #[test]
    fn kept_records_are_bounded() {
        let mut log = KernelLog::new(LogSpan::Boot);
        for i in 0..(MAX_KEPT as u64 + 10) {
            log.offer(LogRecord {
                seq: Some(i),
                ts_usec: None,
                priority: None,
                message: "TCP: out of memory -- consider tuning tcp_mem".into(),
            });
            log.offer(LogRecord {
                seq: None,
                ts_usec: None,
                priority: None,
                message: "unrelated".into(),
            });
        }
        assert_eq!(log.records.len(), MAX_KEPT);
        assert_eq!(log.omitted, 10);
        assert_eq!(log.scanned, 2 * (MAX_KEPT as u64 + 10));
        assert_eq!(log.records[0].seq, Some(10));
    }

    #[test]
    fn fixture_roots_have_no_kernel_log() {
        let root = Root::fixture("/nonexistent");
        let mut r = Reader::new(false);
        assert!(matches!(
            r.read(&root, &mut Warnings::default()),
            Source::Unsupported { .. }
        ));
    }
}
