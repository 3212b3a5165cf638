//! The Prometheus exporter: collections shared by all scrapes ([`Exporter`]), the encoding
//! ([`encode`]), the HTTP server ([`http`]) and node_exporter textfile output
//! ([`write_textfile`]). Read-only: nothing here writes to the kernel.
//!
//! A *collection* is one snapshot plus its counters already encoded; it is reused by every
//! scrape for `max_age` (default 1 s), so any number of concurrent scrapes costs at most one
//! collection per `max_age`. The HTTP server also runs a refresher thread
//! ([`Exporter::spawn_refresher`]) that collects every ¾ `max_age` while someone scrapes,
//! and prepares the next answer, so a scrape finds it ready and only sends: the exposed
//! counters are never older than `max_age`. Findings are diagnosed, through the same
//! [`Window`] path as `check`, over the window from the collection the previous scrape
//! used to the current one, so a burst between two scrapes 15 s apart is seen by the second.
//! A slow client only ever holds a finished, reference-counted body — never the collector.

pub mod encode;
pub mod http;
pub mod netns;

use crate::collect::host::HostFacts;
use crate::collect::Source;
use crate::collector::{was_requested, CaptureOptions, Collector};
use crate::diagnose::{self, Context, Finding, Options};
use crate::snapshot::Snapshot;
use crate::window::Window;
use crate::Result;
use encode::{Format, Input};
use netns::{Folder, Layout};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One snapshot, the namespaces its exposition shows, and its counter families, encoded at
/// most once per format.
struct Collection {
    at: Instant,
    snapshot: Arc<Snapshot>,
    layout: Layout,
    text: OnceLock<String>,
    openmetrics: OnceLock<String>,
}

impl Collection {
    fn new(snapshot: Snapshot, layout: Layout) -> Arc<Collection> {
        Arc::new(Collection {
            at: Instant::now(),
            snapshot: Arc::new(snapshot),
            layout,
            text: OnceLock::new(),
            openmetrics: OnceLock::new(),
        })
    }

    fn counters(&self, host: &HostFacts, format: Format) -> &str {
        let cell = match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        };
        cell.get_or_init(|| encode::encode_counters(&self.snapshot, host, &self.layout, format))
    }
}

/// What one scrape serves: a collection, the findings of the window ending at it, and
/// nettune's own families (encoded on first use, at most once per format).
pub struct Scrape {
    /// The snapshot exposed.
    pub snapshot: Arc<Snapshot>,
    /// Findings over the window since the collection the previous scrape used.
    pub findings: Vec<Finding>,
    /// `taken_at_ns` of the snapshot the window starts at (none: no window).
    from_ns: Option<u64>,
    collection: Arc<Collection>,
    host: Arc<HostFacts>,
    text: OnceLock<String>,
    openmetrics: OnceLock<String>,
    /// Families another part appends ([`Exporter::with_extra`]).
    extra: Option<Extra>,
}

/// Families appended to every exposition (before OpenMetrics' `# EOF`), such as
/// `nettune autotune --listen`'s own.
pub type Extra = Arc<dyn Fn(Format) -> String + Send + Sync>;

impl Scrape {
    /// The exposition in `format` as two parts to send one after the other: the counters
    /// (encoded once per collection) and nettune's own families (once per scrape).
    pub fn parts(&self, format: Format) -> [&str; 2] {
        let cell = match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        };
        let own = cell.get_or_init(|| {
            let own = encode::encode_own(
                &Input {
                    snapshot: &self.snapshot,
                    host: &self.host,
                    findings: &self.findings,
                },
                &self.collection.layout.primary,
                format,
            );
            with_extra(own, self.extra.as_ref(), format)
        });
        [self.collection.counters(&self.host, format), own]
    }

    /// The whole exposition in `format`, as one string.
    pub fn body(&self, format: Format) -> String {
        self.parts(format).concat()
    }
}

/// `own` with `extra`'s families appended (before OpenMetrics' closing `# EOF`).
fn with_extra(mut own: String, extra: Option<&Extra>, format: Format) -> String {
    let Some(extra) = extra else {
        return own;
    };
    let eof = own.ends_with("# EOF\n");
    if eof {
        own.truncate(own.len() - "# EOF\n".len());
    }
    own.push_str(&extra(format));
    if eof {
        own.push_str("# EOF\n");
    }
    own
}

/// Where snapshots come from: a live collector, or anything else (tests feed fixed ones).
pub type SnapshotSource = Box<dyn FnMut() -> Snapshot + Send>;

struct State {
    /// The newest collection.
    latest: Option<Arc<Collection>>,
    /// The snapshot the previous scrape's window ended at (where the next window starts).
    served: Option<Arc<Snapshot>>,
    /// The previous scrape, reused while no newer collection exists.
    cache: Option<Arc<Scrape>>,
    /// The next scrape's answer, prepared by the refresher for the newest collection and
    /// the window starting at `served`; used only while both still hold.
    prepared: Option<Arc<Scrape>>,
    /// When a scrape last asked (the refresher idles when nobody scrapes).
    last_scrape: Option<Instant>,
    /// Whether a refresher thread runs (it then frees what scrapes retire).
    refresher: bool,
    /// Snapshots and scrapes replaced by a scrape, freed by the refresher off the request
    /// path (freeing a snapshot's thousands of strings takes longer than serving it).
    retired: Vec<Retired>,
}

/// Something a scrape replaced, to be freed later.
#[allow(dead_code)] // held only to be dropped
enum Retired {
    Snapshot(Arc<Snapshot>),
    Scrape(Arc<Scrape>),
}

impl State {
    /// Whether nobody has scraped for [`REFRESH_IDLE_AFTER`] (or ever).
    fn idle(&self) -> bool {
        self.last_scrape
            .is_none_or(|t| t.elapsed() >= REFRESH_IDLE_AFTER)
    }

    fn retire(&mut self, old: Option<Retired>) {
        match old {
            Some(old) if self.refresher => self.retired.push(old),
            _ => drop(old),
        }
    }
}

/// A thread-safe collector for scrapes.
pub struct Exporter {
    /// Held while collecting (and publishing); taken before `state`, never while holding it.
    source: Mutex<SnapshotSource>,
    /// The namespaces each collection shows and `netns="other"`'s accumulators; advanced
    /// once per collection, in collection order (only while holding `source`).
    folder: Mutex<Folder>,
    state: Mutex<State>,
    /// Wakes an idle refresher when a scrape arrives.
    scraped: Condvar,
    host: Arc<HostFacts>,
    options: Options,
    max_age: Duration,
    /// Families appended to every exposition ([`Exporter::with_extra`]).
    extra: Option<Extra>,
    /// Other namespaces in the previous collection: when fewer are read, the memory their
    /// readers and texts held is handed back to the kernel ([`trim_heap`]).
    previous_netns: std::sync::atomic::AtomicUsize,
    /// Collections until [`trim_heap`] runs (0: none due).
    trim_in: std::sync::atomic::AtomicUsize,
}

/// How often the expensive sources (configuration: sysctls, sysfs interfaces, IRQ affinity;
/// and sock_diag) are re-read by the live
/// exporter; between refreshes their last values are reused (they are levels and settings,
/// not counters the window rates depend on).
pub const SLOW_REFRESH: Duration = Duration::from_secs(30);

/// The refresher stops collecting when nobody has scraped for this long, and resumes at the
/// next scrape (which then collects itself).
pub const REFRESH_IDLE_AFTER: Duration = Duration::from_secs(300);

/// Give free heap pages back to the kernel. glibc keeps what a burst of namespaces (their
/// readers, snapshots and text) freed, so without this the exporter's RSS stays at its peak
/// (measured: 113 MB with 220 namespaces, still 89 MB after they were gone).
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Exporter {
    /// An exporter over `source`; a collection is reused for `max_age`.
    pub fn new(host: HostFacts, source: SnapshotSource, max_age: Duration) -> Exporter {
        Exporter {
            source: Mutex::new(source),
            folder: Mutex::new(Folder::new(netns::DEFAULT_MAX_NETNS, netns::HOST_LABEL)),
            state: Mutex::new(State {
                latest: None,
                served: None,
                cache: None,
                prepared: None,
                last_scrape: None,
                refresher: false,
                retired: Vec::new(),
            }),
            scraped: Condvar::new(),
            host: Arc::new(host),
            options: Options::default(),
            max_age,
            extra: None,
            previous_netns: std::sync::atomic::AtomicUsize::new(0),
            trim_in: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A live exporter: `fast` takes a snapshot per collection without the configuration
    /// sources and sockets; `slow` (with them) runs every [`SLOW_REFRESH`] and its
    /// configuration and sockets are carried into the fast snapshots.
    pub fn live(mut fast: Collector, mut slow: Collector, max_age: Duration) -> Exporter {
        let host = fast.host_facts();
        let mut slow_at: Option<Instant> = None;
        let mut slow_snap: Option<Snapshot> = None;
        let source = move || {
            let mut snap = fast.snapshot();
            if slow_at.is_none_or(|t| t.elapsed() >= SLOW_REFRESH) {
                slow_snap = Some(slow.snapshot());
                slow_at = Some(Instant::now());
            }
            if let Some(s) = &slow_snap {
                carry_slow_sources(&mut snap, s);
            }
            snap
        };
        Exporter::new(host, Box::new(source), max_age)
    }

    /// Show at most `max` namespaces besides the primary sources on their own (the rest in
    /// `netns="other"`, see [`netns`]), and label the primary sources `primary` (`host`, or
    /// the `--netns` name). Call before the first collection.
    pub fn with_netns(self, max: usize, primary: &str) -> Exporter {
        *lock(&self.folder) = Folder::new(max, primary);
        self
    }

    /// Append `extra`'s families to every exposition (`nettune autotune --listen`).
    pub fn with_extra(mut self, extra: Extra) -> Exporter {
        self.extra = Some(extra);
        self
    }

    /// Facts about the host the snapshots come from.
    pub fn host(&self) -> &HostFacts {
        &self.host
    }

    /// Take the first snapshot now, so the first scrape already has a window.
    pub fn prime(&self) {
        let mut source = lock(&self.source);
        let snapshot = source();
        // The first layout: `other` starts from these values.
        lock(&self.folder).layout(&snapshot);
        lock(&self.state).served = Some(Arc::new(snapshot));
    }

    /// Collect a new snapshot and encode its text counters, holding only the source's lock
    /// (scrapes served from the current collection never wait for it).
    fn collect(&self, source: &mut SnapshotSource) -> Arc<Collection> {
        let snapshot = source();
        let netns = snapshot.namespaces.len();
        let layout = lock(&self.folder).layout(&snapshot);
        let collection = Collection::new(snapshot, layout);
        collection.counters(&self.host, Format::Text);
        let before = self
            .previous_netns
            .swap(netns, std::sync::atomic::Ordering::Relaxed);
        // Trim when namespaces are gone (their readers and texts are freed now), and again
        // once the folder has forgotten them too (it keeps their counters for
        // `netns::FORGET_AFTER` collections); never at every collection.
        use std::sync::atomic::Ordering::Relaxed;
        if netns < before {
            trim_heap();
            self.trim_in
                .store(netns::FORGET_AFTER as usize + 2, Relaxed);
        }
        let due = self.trim_in.load(Relaxed);
        if due > 0 {
            self.trim_in.store(due - 1, Relaxed);
            if due == 1 {
                trim_heap();
            }
        }
        collection
    }

    /// Make `collection` the newest unless a newer one got there first; returns the newest.
    fn publish(&self, collection: Arc<Collection>) -> Arc<Collection> {
        let mut st = lock(&self.state);
        match &st.latest {
            Some(l) if l.at > collection.at => l.clone(),
            _ => {
                st.latest = Some(collection.clone());
                collection
            }
        }
    }

    /// The newest collection when it is younger than `age`.
    fn younger_than(&self, age: Duration) -> Option<Arc<Collection>> {
        lock(&self.state)
            .latest
            .as_ref()
            .filter(|c| c.at.elapsed() < age)
            .cloned()
    }

    /// A collection younger than `age`: collect unless one appeared while waiting for the
    /// source (another scrape or the refresher collected meanwhile). The flag says whether
    /// this call collected.
    fn refresh(&self, age: Duration) -> (Arc<Collection>, bool) {
        let mut source = lock(&self.source);
        if let Some(c) = self.younger_than(age) {
            return (c, false);
        }
        // Published before the source is released, so whoever waited for it sees it.
        let collection = self.collect(&mut source);
        (self.publish(collection), true)
    }

    /// What a scrape serves: the newest collection when it is younger than `max_age` (else a
    /// new one), with the findings of the window since the collection the previous scrape
    /// used. Scrapes that find no newer collection share the previous result.
    pub fn scrape(&self) -> Arc<Scrape> {
        {
            let mut st = lock(&self.state);
            let idle = st.idle();
            st.last_scrape = Some(Instant::now());
            if idle {
                self.scraped.notify_all();
            }
        }
        let collection = match self.younger_than(self.max_age) {
            Some(c) => c,
            None => self.refresh(self.max_age).0,
        };
        let mut st = lock(&self.state);
        if let Some(cached) = &st.cache {
            if Arc::ptr_eq(&cached.collection, &collection) {
                return cached.clone();
            }
        }
        let from_ns = st.served.as_ref().map(|s| s.taken_at_ns);
        let scrape = match st.prepared.take() {
            Some(p) if Arc::ptr_eq(&p.collection, &collection) && p.from_ns == from_ns => p,
            other => {
                st.retire(other.map(Retired::Scrape));
                self.prepare(st.served.as_deref(), collection)
            }
        };
        let served = st
            .served
            .replace(scrape.snapshot.clone())
            .map(Retired::Snapshot);
        st.retire(served);
        let cache = st.cache.replace(scrape.clone()).map(Retired::Scrape);
        st.retire(cache);
        scrape
    }

    /// The scrape of `collection` with the findings of the window from `from` (the
    /// snapshot the previous scrape served) to it, its own families encoded as text.
    fn prepare(&self, from: Option<&Snapshot>, collection: Arc<Collection>) -> Arc<Scrape> {
        let snap = collection.snapshot.clone();
        let window = from
            .filter(|prev| prev.taken_at_ns < snap.taken_at_ns)
            .and_then(|prev| Window::new(prev, &snap, &self.host));
        let findings = diagnose::diagnose(&Context::new(
            window,
            &snap,
            &self.host,
            &self.options,
            None,
        ));
        let scrape = Arc::new(Scrape {
            snapshot: snap,
            from_ns: from.map(|s| s.taken_at_ns),
            findings,
            collection,
            host: self.host.clone(),
            text: OnceLock::new(),
            openmetrics: OnceLock::new(),
            extra: self.extra.clone(),
        });
        scrape.parts(Format::Text);
        scrape
    }

    /// After a background collection: prepare the next scrape's answer (findings of the
    /// window since the snapshot the previous scrape served, and their encoding) outside
    /// the lock, and keep it unless a scrape served meanwhile or a newer collection exists.
    fn prepare_next(&self, collection: &Arc<Collection>) {
        let served = lock(&self.state).served.clone();
        let prepared = self.prepare(served.as_deref(), collection.clone());
        let mut st = lock(&self.state);
        let current = st
            .latest
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(l, collection))
            && st.served.as_ref().map(|s| s.taken_at_ns) == prepared.from_ns;
        if current {
            let old = st.prepared.replace(prepared).map(Retired::Scrape);
            st.retire(old);
        }
    }

    /// Collect in the background every ¾ `max_age` while scrapes arrive, so scrapes find a
    /// fresh collection; idle after [`REFRESH_IDLE_AFTER`] without a scrape. Does nothing
    /// when `max_age` is zero (every scrape collects). The thread lives as long as the
    /// process.
    pub fn spawn_refresher(self: &Arc<Self>) -> std::io::Result<()> {
        if self.max_age.is_zero() {
            return Ok(());
        }
        let exporter = self.clone();
        let period = self.max_age * 3 / 4;
        lock(&self.state).refresher = true;
        std::thread::Builder::new()
            .name("nettune-refresh".into())
            .spawn(move || loop {
                {
                    let mut st = lock(&exporter.state);
                    while st.idle() {
                        st = exporter.scraped.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
                }
                let (due, retired) = {
                    let mut st = lock(&exporter.state);
                    let due = st
                        .latest
                        .as_ref()
                        .map_or(Duration::ZERO, |c| period.saturating_sub(c.at.elapsed()));
                    (due, std::mem::take(&mut st.retired))
                };
                drop(retired);
                if due.is_zero() {
                    if let (newest, true) = exporter.refresh(period) {
                        exporter.prepare_next(&newest);
                    }
                } else {
                    std::thread::sleep(due);
                }
            })
            .map(|_| ())
    }
}

/// Copy the sources the live exporter re-reads only every [`SLOW_REFRESH`] (every source
/// the fast snapshot `snap` did not request: configuration, sockets), the ethtool settings
/// and their collection times from `slow` into `snap`; for every namespace of `snap`, the
/// sources it did not request from the same namespace (same inode) of `slow`.
pub fn carry_slow_sources(snap: &mut Snapshot, slow: &Snapshot) {
    snap.fill_from(slow, |fast| !was_requested(fast));
    if let (Source::Ok(fast), Some(slow)) = (&mut snap.ethtool, slow.ethtool.ok()) {
        for (dev, e) in fast.iter_mut() {
            if let Some(s) = slow.get(dev) {
                e.rings = s.rings.clone();
                e.channels = s.channels.clone();
                e.coalesce = s.coalesce.clone();
                e.features = s.features.clone();
            }
        }
    }
    // The same for every namespace both read (by inode).
    if !snap.namespaces.is_empty() && !slow.namespaces.is_empty() {
        let by_inode: std::collections::HashMap<u64, &Snapshot> = slow
            .namespaces
            .iter()
            .map(|n| (n.netns.inode, &n.snapshot))
            .collect();
        for ns in &mut snap.namespaces {
            if let Some(s) = by_inode.get(&ns.netns.inode) {
                ns.snapshot.fill_from(s, |fast| !was_requested(fast));
            }
        }
    }
    // The fast snapshot times what it read; every other time is the slow one's.
    for (k, v) in &slow.collect_seconds {
        snap.collect_seconds.entry(k.clone()).or_insert(*v);
    }
}

/// Capture options of the exporter's per-scrape collector (cheap sources only).
pub fn fast_options() -> CaptureOptions {
    CaptureOptions {
        config: false,
        ethtool: true,
        sockets: false,
        socket_processes: false,
    }
}

/// Capture options of the exporter's periodic collector (sysctls, ethtool settings and
/// listening sockets).
pub fn slow_options() -> CaptureOptions {
    CaptureOptions {
        config: true,
        ethtool: true,
        sockets: true,
        socket_processes: false,
    }
}

/// Permissions of the textfile: node_exporter may run as another user and must read it.
const TEXTFILE_MODE: u32 = 0o644;

/// Write `body` to `path` atomically for node_exporter's textfile collector, through
/// [`crate::durable::write_atomic`]: a randomly named temporary file in the same directory
/// (hidden and ending in `.tmp`, which node_exporter ignores: it reads only `*.prom`),
/// created exclusively without following symlinks, fsynced, renamed over `path`, and the
/// directory fsynced. Refuses when `path` is a symlink or exists and is not a regular file
/// (a FIFO, device or directory), which a rename would replace.
pub fn write_textfile(path: &Path, body: &str) -> Result<()> {
    crate::durable::write_atomic(path, body.as_bytes(), TEXTFILE_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::conntrack::{Conntrack, ConntrackCpuStat};
    use crate::collect::Source;
    use crate::Error;
    use serde_json::json;

    fn src<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Source<T> {
        Source::Ok(serde_json::from_value(v).unwrap())
    }

    /// Two snapshots one second apart: cpu0 drops 500 packets, eth0 receives 1000 packets.
    fn pair() -> (Snapshot, Snapshot) {
        (
            counters(1_000_000_000, 100, 5, 10, 0),
            counters(2_000_000_000, 1100, 505, 1010, 7),
        )
    }

    /// A snapshot at `t` ns with these softnet (cpu0), eth0 and ListenOverflows counters.
    fn counters(t: u64, processed: u32, dropped: u32, rx: u64, overflows: i64) -> Snapshot {
        {
            let mut s = Snapshot::empty(t);
            s.softnet = src(json!([
                {"cpu": 0, "processed": processed, "dropped": dropped, "time_squeeze": 7,
                 "cpu_collision": 0, "received_rps": 2, "flow_limit_count": 0, "backlog_len": 3,
                 "input_qlen": null, "process_qlen": null},
                {"cpu": 1, "processed": 50, "dropped": 0, "time_squeeze": 0,
                 "cpu_collision": null, "received_rps": null, "flow_limit_count": null,
                 "backlog_len": null, "input_qlen": null, "process_qlen": null}
            ]));
            s.netdev = src(json!({"eth0": {
                "rx_bytes": rx * 100, "rx_packets": rx, "rx_errs": 0, "rx_drop": 1, "rx_fifo": 0,
                "rx_frame": 0, "rx_compressed": 0, "rx_multicast": 0, "tx_bytes": 5000,
                "tx_packets": 50, "tx_errs": 0, "tx_drop": 0, "tx_fifo": 0, "tx_colls": 0,
                "tx_carrier": 0, "tx_compressed": 0}}));
            s.netstat = src(json!({
                "TcpExt": {"ListenOverflows": overflows},
                "Tcp": {"CurrEstab": 3, "MaxConn": -1},
                "IcmpMsg": {"InType3": 9}
            }));
            s.sockstat =
                src(json!({"sockets": {"used": 16}, "TCP": {"inuse": 1, "tw": 4, "mem": 2}}));
            s.softirqs = src(json!({"NET_RX": [t / 1_000_000_000, 20], "NET_TX": [1, 2]}));
            s.conntrack = Source::Ok(Conntrack {
                count: Some(100),
                max: Some(65536),
                stat: Some(vec![
                    ConntrackCpuStat {
                        found: Some(3),
                        drop: Some(2),
                        insert_failed: Some(1),
                        ..Default::default()
                    },
                    ConntrackCpuStat {
                        found: Some(4),
                        drop: Some(0),
                        insert_failed: Some(0),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            });
            s.collect_seconds.insert("softnet".into(), 0.00025);
            s
        }
    }

    fn host() -> HostFacts {
        HostFacts {
            cpus: 2,
            page_size: 4096,
            ..Default::default()
        }
    }

    fn exporter() -> Exporter {
        let (a, b) = pair();
        let mut queue = vec![b, a];
        let source = move || {
            queue
                .pop()
                .unwrap_or_else(|| Snapshot::empty(3_000_000_000))
        };
        let e = Exporter::new(host(), Box::new(source), Duration::from_secs(60));
        e.prime();
        e
    }

    #[test]
    fn text_exposition_has_node_exporter_names_labels_and_values() {
        let e = exporter();
        let scrape = e.scrape();
        let text = scrape.body(Format::Text);
        let expected = "\
# HELP nettune_softnet_processed_total Number of processed packets
# TYPE nettune_softnet_processed_total counter
nettune_softnet_processed_total{cpu=\"0\"} 1100
nettune_softnet_processed_total{cpu=\"1\"} 50
# HELP nettune_softnet_dropped_total Number of dropped packets
# TYPE nettune_softnet_dropped_total counter
nettune_softnet_dropped_total{cpu=\"0\"} 505
nettune_softnet_dropped_total{cpu=\"1\"} 0
# HELP nettune_softnet_times_squeezed_total Number of times processing packets ran out of quota
# TYPE nettune_softnet_times_squeezed_total counter
nettune_softnet_times_squeezed_total{cpu=\"0\"} 7
nettune_softnet_times_squeezed_total{cpu=\"1\"} 0
# HELP nettune_softnet_cpu_collision_total Number of collision occur while obtaining device lock while transmitting
# TYPE nettune_softnet_cpu_collision_total counter
nettune_softnet_cpu_collision_total{cpu=\"0\"} 0
# HELP nettune_softnet_received_rps_total Number of times cpu woken up received_rps
# TYPE nettune_softnet_received_rps_total counter
nettune_softnet_received_rps_total{cpu=\"0\"} 2
# HELP nettune_softnet_flow_limit_count_total Number of times flow limit has been reached
# TYPE nettune_softnet_flow_limit_count_total counter
nettune_softnet_flow_limit_count_total{cpu=\"0\"} 0
# HELP nettune_softnet_backlog_len Softnet backlog status
# TYPE nettune_softnet_backlog_len gauge
nettune_softnet_backlog_len{cpu=\"0\"} 3
# HELP nettune_network_receive_bytes_total Network device statistic receive_bytes.
# TYPE nettune_network_receive_bytes_total counter
nettune_network_receive_bytes_total{device=\"eth0\",netns=\"host\"} 101000
# HELP nettune_network_receive_packets_total Network device statistic receive_packets.
# TYPE nettune_network_receive_packets_total counter
nettune_network_receive_packets_total{device=\"eth0\",netns=\"host\"} 1010
";
        assert!(text.starts_with(expected), "got:\n{text}");
        for line in [
            "nettune_network_receive_drop_total{device=\"eth0\",netns=\"host\"} 1",
            "nettune_network_transmit_bytes_total{device=\"eth0\",netns=\"host\"} 5000",
            "# HELP nettune_netstat_TcpExt_ListenOverflows Statistic TcpExtListenOverflows.\n# TYPE nettune_netstat_TcpExt_ListenOverflows untyped\nnettune_netstat_TcpExt_ListenOverflows{netns=\"host\"} 7",
            "nettune_netstat_Tcp_MaxConn{netns=\"host\"} -1",
            "nettune_netstat_IcmpMsg_InType3{netns=\"host\"} 9",
            "# HELP nettune_sockstat_TCP_tw Number of TCP sockets in state tw.\n# TYPE nettune_sockstat_TCP_tw gauge\nnettune_sockstat_TCP_tw{netns=\"host\"} 4",
            "nettune_sockstat_TCP_mem{netns=\"host\"} 2",
            "nettune_sockstat_TCP_mem_bytes{netns=\"host\"} 8192",
            "# HELP nettune_sockstat_sockets_used Number of IPv4 sockets in use.\n# TYPE nettune_sockstat_sockets_used gauge\nnettune_sockstat_sockets_used{netns=\"host\"} 16",
            "# TYPE nettune_nf_conntrack_entries gauge\nnettune_nf_conntrack_entries{netns=\"host\"} 100",
            "nettune_nf_conntrack_entries_limit{netns=\"host\"} 65536",
            "nettune_nf_conntrack_stat_found{netns=\"host\"} 7",
            "nettune_nf_conntrack_stat_drop{netns=\"host\"} 2",
            "nettune_nf_conntrack_stat_insert_failed{netns=\"host\"} 1",
            "# TYPE nettune_softirqs_functions_total counter\nnettune_softirqs_functions_total{cpu=\"0\",type=\"NET_RX\"} 2\nnettune_softirqs_functions_total{cpu=\"1\",type=\"NET_RX\"} 20\nnettune_softirqs_functions_total{cpu=\"0\",type=\"NET_TX\"} 1",
            "nettune_finding{id=\"softnet.backlog_drops\",severity=\"critical\",scope=\"cpu0\",netns=\"host\"} 1",
            "nettune_collect_duration_seconds{source=\"softnet\"} 0.00025",
            "nettune_source_ok{source=\"softnet\"} 1",
            "nettune_source_ok{source=\"ethtool\"} 0",
        ] {
            assert!(text.contains(&format!("{line}\n")), "missing {line:?} in:\n{text}");
        }
        assert!(!text.contains("# EOF"));
        // Fields a kernel does not print are absent, not zero.
        assert!(!text.contains("cpu_collision_total{cpu=\"1\"}"));
        assert!(!text.contains("nettune_interrupts_total"));
    }

    #[test]
    fn openmetrics_exposition() {
        let e = exporter();
        let om = e.scrape().body(Format::OpenMetrics);
        assert!(om.contains("# TYPE nettune_softnet_dropped counter\nnettune_softnet_dropped_total{cpu=\"0\"} 505\n"));
        assert!(om.contains("# HELP nettune_softnet_dropped Number of dropped packets\n"));
        assert!(om.contains("# TYPE nettune_netstat_TcpExt_ListenOverflows unknown\n"));
        // Every snapshot source has its `nettune_source_ok`, the last one last.
        assert!(om.ends_with("\nnettune_source_ok{source=\"sockets\"} 0\n# EOF\n"));
        for source in crate::snapshot::SOURCES {
            assert!(
                om.contains(&format!("nettune_source_ok{{source=\"{source}\"}} ")),
                "{source}"
            );
        }
    }

    #[test]
    fn cache_is_reused_within_max_age_and_findings_cover_the_last_window() {
        let e = exporter();
        let a = e.scrape();
        let b = e.scrape();
        assert!(
            Arc::ptr_eq(&a, &b),
            "a second scrape within max_age reuses the collection"
        );
        assert!(a
            .findings
            .iter()
            .any(|f| f.id == diagnose::ids::SOFTNET_BACKLOG_DROPS));
    }

    /// A source of live-timed snapshots whose cpu0 dropped counter follows `dropped` (the
    /// last value repeats), counting its calls.
    fn counting_source(dropped: Vec<u32>) -> (SnapshotSource, Arc<std::sync::atomic::AtomicUsize>) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        let source = move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let d = dropped[n.min(dropped.len() - 1)];
            counters(crate::collector::monotonic_ns(), 100 + d, d, 10, 0)
        };
        (Box::new(source), calls)
    }

    #[test]
    fn refresher_collects_ahead_and_the_window_starts_at_the_previous_scrape() {
        // Drops happen only between the 2nd and 3rd collection; later collections repeat.
        let (source, calls) = counting_source(vec![0, 0, 500]);
        let e = Arc::new(Exporter::new(host(), source, Duration::from_secs(1)));
        e.prime();
        e.spawn_refresher().unwrap();
        let first = e.scrape();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(first
            .findings
            .iter()
            .all(|f| f.id != diagnose::ids::SOFTNET_BACKLOG_DROPS));
        // Scrapes keep the refresher busy; wait for it to collect several times.
        std::thread::sleep(Duration::from_millis(1600));
        let before = calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(before >= 4, "refresher collected {before} times in all");
        let second = e.scrape();
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            before,
            "the scrape used the refresher's fresh collection instead of collecting"
        );
        assert!(second.snapshot.taken_at_ns > first.snapshot.taken_at_ns);
        assert_eq!(second.from_ns, Some(first.snapshot.taken_at_ns));
        // The burst lies in the middle of the window; only a window from the previous
        // scrape (not from the previous collection) sees it.
        assert!(
            second
                .findings
                .iter()
                .any(|f| f.id == diagnose::ids::SOFTNET_BACKLOG_DROPS),
            "{:?}",
            second.findings
        );
        assert!(second
            .body(Format::Text)
            .contains("nettune_finding{id=\"softnet.backlog_drops\",severity=\"critical\",scope=\"cpu0\",netns=\"host\"} 1\n"));
        // Nothing newer: the same answer again.
        let again = e.scrape();
        if Arc::ptr_eq(&again.collection, &second.collection) {
            assert!(Arc::ptr_eq(&again, &second));
        }
    }

    #[test]
    fn without_a_refresher_a_stale_collection_is_replaced_on_the_request_path() {
        let (source, calls) = counting_source(vec![0, 7]);
        let e = Exporter::new(host(), source, Duration::from_millis(500));
        e.prime();
        let a = e.scrape();
        assert!(Arc::ptr_eq(&a, &e.scrape()), "fresh: reused");
        std::thread::sleep(Duration::from_millis(600));
        let b = e.scrape();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(b.from_ns, Some(a.snapshot.taken_at_ns));
        assert!(b
            .findings
            .iter()
            .all(|f| f.id != diagnose::ids::SOFTNET_BACKLOG_DROPS));
    }

    #[test]
    fn slow_sources_and_ethtool_settings_are_carried_into_fast_snapshots() {
        use crate::collect::ethtool::{Ethtool, Rings};
        let rings = Source::Ok(Rings {
            rx: Some(256),
            rx_max: Some(4096),
            ..Default::default()
        });
        let mut slow = Snapshot::empty(1);
        slow.sysctl = src(json!({"net.core.somaxconn": "4096"}));
        let slow_eth = Ethtool {
            rings: rings.clone(),
            stats: Source::unsupported("old"),
            ..Default::default()
        };
        slow.ethtool = Source::Ok([("eth0".to_string(), slow_eth)].into_iter().collect());
        slow.collect_seconds.insert("sysctl".into(), 0.004);
        slow.sockets = Source::error("slow sockets");
        slow.softnet = Source::unsupported("slow softnet");
        // What the fast collector marks as not requested comes from the slow snapshot; what
        // it read (even unsuccessfully) stays its own.
        let mut fast = Snapshot::empty(2);
        fast.sysctl = Source::unsupported(crate::collector::NOT_REQUESTED_CONFIG);
        fast.sockets = Source::unsupported(crate::collector::NOT_REQUESTED_SOCKETS);
        fast.softnet = Source::error("fast softnet");
        let fast_eth = Ethtool {
            stats: Source::unsupported("new"),
            ..Default::default()
        };
        fast.ethtool = Source::Ok([("eth0".to_string(), fast_eth)].into_iter().collect());
        carry_slow_sources(&mut fast, &slow);
        assert_eq!(fast.sysctl, slow.sysctl);
        assert_eq!(fast.sockets, slow.sockets);
        assert_eq!(fast.softnet, Source::error("fast softnet"));
        assert_eq!(fast.collect_seconds["sysctl"], 0.004);
        let eth0 = &fast.ethtool.ok().unwrap()["eth0"];
        assert_eq!(eth0.rings, rings, "settings come from the slow snapshot");
        assert_eq!(
            eth0.stats,
            Source::unsupported("new"),
            "counters stay the fast ones"
        );
    }

    /// The exporter advances its folder once per collection (the primed snapshot included):
    /// with `--max-netns 1` the busier namespace is shown, the other folded into `other`.
    #[test]
    fn exporter_bounds_the_namespaces_it_shows() {
        use crate::namespaces::NetnsRef;
        use crate::snapshot::NetnsSnapshot;
        let with_ns = |t: u64, a: i64, b: i64| {
            let mut s = counters(t, 100, 5, 10, 0);
            s.namespaces = [(1, "pod-a", a), (2, "pod-b", b)]
                .into_iter()
                .map(|(inode, name, overflows)| {
                    let mut snapshot = Snapshot::empty(t);
                    snapshot.netstat = src(
                        json!({"TcpExt": {"ListenOverflows": overflows, "ListenDrops": overflows}}),
                    );
                    NetnsSnapshot {
                        netns: NetnsRef {
                            inode,
                            name: name.into(),
                            path: format!("/run/netns/{name}").into(),
                        },
                        snapshot,
                    }
                })
                .collect();
            s
        };
        let mut queue = vec![with_ns(2_000_000_000, 4, 100), with_ns(1_000_000_000, 1, 1)];
        let source = move || {
            queue
                .pop()
                .unwrap_or_else(|| Snapshot::empty(3_000_000_000))
        };
        let e =
            Exporter::new(host(), Box::new(source), Duration::from_secs(60)).with_netns(1, "host");
        e.prime();
        let text = e.scrape().body(Format::Text);
        // Primed: a tie, pod-a shown by name, pod-b's 1 in other. Then pod-b dropped 99 in the
        // window and pod-a 3: pod-b shown, other = 1 + pod-a's 3.
        for line in [
            "nettune_netstat_TcpExt_ListenOverflows{netns=\"host\"} 0\n",
            "nettune_netstat_TcpExt_ListenOverflows{netns=\"pod-b\"} 100\n",
            "nettune_netstat_TcpExt_ListenOverflows{netns=\"other\"} 4\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        // pod-a's counters are folded into `other`; its finding keeps its own label.
        assert!(
            !text
                .lines()
                .filter(|l| !l.starts_with("nettune_finding{"))
                .any(|l| l.contains("pod-a")),
            "{text}"
        );
        assert!(
            text.contains(
                "nettune_finding{id=\"tcp.listen_overflow\",severity=\"critical\",scope=\"pod-a\",netns=\"pod-a\"} 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = Snapshot::empty(1);
        s.netdev = src(json!({"we\"ird\\dev\n": {
            "rx_bytes": 1, "rx_packets": 0, "rx_errs": 0, "rx_drop": 0, "rx_fifo": 0,
            "rx_frame": 0, "rx_compressed": 0, "rx_multicast": 0, "tx_bytes": 0,
            "tx_packets": 0, "tx_errs": 0, "tx_drop": 0, "tx_fifo": 0, "tx_colls": 0,
            "tx_carrier": 0, "tx_compressed": 0}}));
        s.netstat = src(json!({"Odd-Sec": {"a.b": 1}}));
        let text = encode::encode(
            &Input {
                snapshot: &s,
                host: &host(),
                findings: &[],
            },
            Format::Text,
        );
        assert!(text
            .contains("nettune_network_receive_bytes_total{device=\"we\\\"ird\\\\dev\\n\",netns=\"host\"} 1\n"));
        assert!(text.contains("nettune_netstat_Odd_Sec_a_b{netns=\"host\"} 1\n"));
    }

    #[test]
    fn textfile_is_replaced_atomically_and_never_over_a_non_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nettune.prom");
        write_textfile(&path, "a 1\n").unwrap();
        write_textfile(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("nettune.prom")]);

        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link.prom");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_textfile(&link, "x 1\n").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());

        let sub = dir.path().join("sub.prom");
        std::fs::create_dir(&sub).unwrap();
        assert!(write_textfile(&sub, "x 1\n").is_err());
        assert!(sub.is_dir());
    }

    /// A symlink at the textfile's name is refused (its target untouched), and one planted at
    /// the temporary name an earlier nettune used (`.NAME.<pid>.tmp`) is never followed.
    #[test]
    fn textfile_never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("nettune.prom");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = write_textfile(&link, "x 1\n").unwrap_err();
        assert!(matches!(err, Error::Refused(_)), "{err}");
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");

        let path = dir.path().join("real.prom");
        let planted = dir
            .path()
            .join(format!(".real.prom.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_textfile(&path, "a 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 1\n");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(std::fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, TEXTFILE_MODE);
    }
}
