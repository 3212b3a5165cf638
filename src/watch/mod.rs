//! `nettune watch`: the data of one live frame ([`Frame`], built from a [`Window`] and the
//! findings over it) and how it is shown ([`render`]: the ratatui screen and the plain line
//! used when stdout is not a terminal). The model knows nothing of the terminal.

pub mod render;

use crate::diagnose::Finding;
use crate::window::Window;
use serde::Serialize;

/// One CPU's softnet activity over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuRow {
    pub cpu: u32,
    /// Packets processed per second.
    pub processed: f64,
    /// Packets dropped (backlog full) per second.
    pub dropped: f64,
    /// Squeeze events (budget ran out) per second.
    pub squeezed: f64,
    /// This CPU's share of all NET_RX softirqs over the window (0–1), when known.
    pub net_rx_share: Option<f64>,
    /// The CPU with the most packets processed (or NET_RX softirqs) in this window.
    pub busiest: bool,
}

/// One device's traffic over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceRow {
    pub device: String,
    /// Received packets per second.
    pub rx_pps: f64,
    /// Transmitted packets per second.
    pub tx_pps: f64,
    /// Received bits per second.
    pub rx_bps: f64,
    /// Transmitted bits per second.
    pub tx_bps: f64,
    /// Receive + transmit drops per second.
    pub drops: f64,
    /// Receive + transmit errors (incl. fifo and frame) per second.
    pub errors: f64,
}

/// Protocol counters per second (`None` when the kernel does not print them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Protocols {
    /// TCP segments retransmitted per second (`Tcp.RetransSegs`).
    pub tcp_retransmits: Option<f64>,
    /// `TcpExt.ListenOverflows` per second.
    pub tcp_listen_overflows: Option<f64>,
    /// `TcpExt.TCPBacklogDrop` per second.
    pub tcp_backlog_drops: Option<f64>,
    /// `Udp.RcvbufErrors` + `Udp6.RcvbufErrors` per second.
    pub udp_rcvbuf_errors: Option<f64>,
    /// `Udp.SndbufErrors` + `Udp6.SndbufErrors` per second.
    pub udp_sndbuf_errors: Option<f64>,
    /// Conntrack entries in use (a level).
    pub conntrack_count: Option<u64>,
    /// Conntrack table size.
    pub conntrack_max: Option<u64>,
}

/// One network namespace's drops and overflows over the window (the namespaces panel).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetnsRow {
    /// Display name (`host` for the snapshot's primary sources, or the `--netns` name).
    pub netns: String,
    /// Namespace inode (`None` for the primary sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// Packets received per second on its devices.
    pub rx_pps: f64,
    /// Packets transmitted per second on its devices.
    pub tx_pps: f64,
    /// Receive + transmit drops per second on its devices.
    pub dev_drops: f64,
    /// `TcpExt.ListenOverflows` per second (accept queue full).
    pub listen_overflows: Option<f64>,
    /// `TcpExt.ListenDrops` per second (every SYN dropped at a listener, overflows included).
    pub listen_drops: Option<f64>,
    /// `Udp.RcvbufErrors` + `Udp6.RcvbufErrors` per second.
    pub udp_rcvbuf_errors: Option<f64>,
    /// `Udp.InErrors` + `Udp6.InErrors` per second (receive-buffer errors included).
    pub udp_in_errors: Option<f64>,
}

impl NetnsRow {
    /// The rates of one namespace's window.
    fn from_window(netns: String, inode: Option<u64>, w: &Window) -> NetnsRow {
        let devs = w.netdev();
        let sum = |g: fn(&crate::window::NetDevRates) -> f64| devs.values().map(g).sum::<f64>();
        let both =
            |field: &str| sum_opt(w.netstat_rate("Udp", field), w.netstat_rate("Udp6", field));
        NetnsRow {
            netns,
            inode,
            rx_pps: sum(|r| r.rx_packets),
            tx_pps: sum(|r| r.tx_packets),
            dev_drops: sum(|r| r.rx_drop + r.tx_drop),
            listen_overflows: w.netstat_rate("TcpExt", "ListenOverflows"),
            listen_drops: w.netstat_rate("TcpExt", "ListenDrops"),
            udp_rcvbuf_errors: both("RcvbufErrors"),
            udp_in_errors: both("InErrors"),
        }
    }

    /// Drops per second of every kind: devices, listeners, UDP.
    pub fn drops(&self) -> f64 {
        self.dev_drops + self.listen_drops.unwrap_or(0.0) + self.udp_in_errors.unwrap_or(0.0)
    }

    /// Queue overflows per second: listen overflows and UDP receive-buffer errors.
    pub fn overflows(&self) -> f64 {
        self.listen_overflows.unwrap_or(0.0) + self.udp_rcvbuf_errors.unwrap_or(0.0)
    }
}

/// A finding active in the window, in short.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRow {
    pub id: String,
    pub severity: String,
    pub scope: String,
    pub title: String,
}

/// Everything one refresh of the live view shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Frame {
    /// Seconds since the Unix epoch at the newer snapshot.
    pub unix_time: f64,
    /// Window length, seconds.
    pub window_seconds: f64,
    pub cpus: Vec<CpuRow>,
    pub devices: Vec<DeviceRow>,
    pub protocols: Protocols,
    /// The primary sources (`host`) and every other namespace both snapshots read, when the
    /// snapshot read other namespaces (empty otherwise); primary first, then by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<NetnsRow>,
    pub findings: Vec<FindingRow>,
}

fn sum_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

impl Frame {
    /// Build the frame of a window and the findings over it, the primary sources labelled
    /// `host` in the namespaces panel.
    pub fn from_window(w: &Window, findings: &[Finding]) -> Frame {
        Frame::from_window_labelled(w, findings, crate::export::netns::HOST_LABEL)
    }

    /// [`Frame::from_window`] with the primary sources' namespace label (`host`, or the
    /// `--netns` name).
    pub fn from_window_labelled(w: &Window, findings: &[Finding], primary: &str) -> Frame {
        let net_rx = w.softirq_rates("NET_RX");
        let rx_total: f64 = net_rx.iter().flatten().sum();
        let mut cpus: Vec<CpuRow> = w
            .softnet()
            .into_iter()
            .map(|r| CpuRow {
                cpu: r.cpu,
                processed: r.processed,
                dropped: r.dropped,
                squeezed: r.time_squeeze,
                net_rx_share: net_rx
                    .as_ref()
                    .and_then(|v| v.get(r.cpu as usize))
                    .filter(|_| rx_total > 0.0)
                    .map(|x| x / rx_total),
                busiest: false,
            })
            .collect();
        let load = |c: &CpuRow| c.processed + c.net_rx_share.unwrap_or(0.0);
        if let Some(best) = cpus
            .iter_mut()
            .filter(|c| load(c) > 0.0)
            .max_by(|a, b| load(a).total_cmp(&load(b)))
        {
            best.busiest = true;
        }
        let devices = w
            .netdev()
            .into_iter()
            .map(|(device, r)| DeviceRow {
                device,
                rx_pps: r.rx_packets,
                tx_pps: r.tx_packets,
                rx_bps: r.rx_bytes * 8.0,
                tx_bps: r.tx_bytes * 8.0,
                drops: r.rx_drop + r.tx_drop,
                errors: r.rx_errs + r.tx_errs + r.rx_fifo + r.rx_frame,
            })
            .collect();
        let ct = w.newer.conntrack.ok();
        let protocols = Protocols {
            tcp_retransmits: w.netstat_rate("Tcp", "RetransSegs"),
            tcp_listen_overflows: w.netstat_rate("TcpExt", "ListenOverflows"),
            tcp_backlog_drops: w.netstat_rate("TcpExt", "TCPBacklogDrop"),
            udp_rcvbuf_errors: sum_opt(
                w.netstat_rate("Udp", "RcvbufErrors"),
                w.netstat_rate("Udp6", "RcvbufErrors"),
            ),
            udp_sndbuf_errors: sum_opt(
                w.netstat_rate("Udp", "SndbufErrors"),
                w.netstat_rate("Udp6", "SndbufErrors"),
            ),
            conntrack_count: ct.and_then(|c| c.count),
            conntrack_max: ct.and_then(|c| c.max),
        };
        Frame {
            unix_time: w.newer.unix_time,
            window_seconds: w.seconds(),
            cpus,
            devices,
            protocols,
            namespaces: namespaces(w, primary),
            findings: findings
                .iter()
                .map(|f| FindingRow {
                    id: f.id.clone(),
                    severity: f.severity.as_str().to_string(),
                    scope: f.scope().to_string(),
                    title: f.title.clone(),
                })
                .collect(),
        }
    }

    /// Conntrack fill (0–1) when both count and max are known.
    pub fn conntrack_fill(&self) -> Option<f64> {
        let (c, m) = (
            self.protocols.conntrack_count?,
            self.protocols.conntrack_max?,
        );
        (m > 0).then(|| c as f64 / m as f64)
    }
}

/// The namespaces panel of a window: the primary sources and every namespace read in both
/// snapshots (matched by inode), each over its own window — or over the primary's times when
/// its own are not in order (a collector that does not time namespace parts). Empty when the
/// newer snapshot read no other namespace.
fn namespaces(w: &Window, primary: &str) -> Vec<NetnsRow> {
    if w.newer.namespaces.is_empty() {
        return Vec::new();
    }
    let older: std::collections::HashMap<u64, &crate::snapshot::Snapshot> = w
        .older
        .namespaces
        .iter()
        .map(|n| (n.netns.inode, &n.snapshot))
        .collect();
    let mut rows = vec![NetnsRow::from_window(primary.to_string(), None, w)];
    let mut others: Vec<NetnsRow> = w
        .newer
        .namespaces
        .iter()
        .filter_map(|n| {
            let old = older.get(&n.netns.inode)?;
            let row =
                |nw: &Window| NetnsRow::from_window(n.netns.name.clone(), Some(n.netns.inode), nw);
            match Window::new(old, &n.snapshot, w.host) {
                Some(nw) => Some(row(&nw)),
                None => {
                    let (mut o, mut c) = ((*old).clone(), n.snapshot.clone());
                    o.taken_at_ns = w.older.taken_at_ns;
                    c.taken_at_ns = w.newer.taken_at_ns;
                    Window::new(&o, &c, w.host).map(|nw| row(&nw))
                }
            }
        })
        .collect();
    others.sort_by(|a, b| a.netns.cmp(&b.netns).then(a.inode.cmp(&b.inode)));
    rows.append(&mut others);
    rows
}

/// How the namespaces panel is ordered (`n` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetnsSort {
    /// By name (the primary sources first).
    #[default]
    Name,
    /// Most drops first ([`NetnsRow::drops`]).
    Drops,
    /// Most overflows first ([`NetnsRow::overflows`]).
    Overflows,
    /// Busiest first (packets per second).
    Traffic,
}

impl NetnsSort {
    /// The next order.
    pub fn next(self) -> NetnsSort {
        match self {
            NetnsSort::Name => NetnsSort::Drops,
            NetnsSort::Drops => NetnsSort::Overflows,
            NetnsSort::Overflows => NetnsSort::Traffic,
            NetnsSort::Traffic => NetnsSort::Name,
        }
    }

    /// Label shown in the status line.
    pub fn label(self) -> &'static str {
        match self {
            NetnsSort::Name => "name",
            NetnsSort::Drops => "drops",
            NetnsSort::Overflows => "overflows",
            NetnsSort::Traffic => "traffic",
        }
    }
}

/// How the device table is ordered (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By device name / CPU number.
    #[default]
    Name,
    /// Busiest first (packets per second).
    Traffic,
    /// Most drops first.
    Drops,
}

impl Sort {
    /// The next order.
    pub fn next(self) -> Sort {
        match self {
            Sort::Name => Sort::Traffic,
            Sort::Traffic => Sort::Drops,
            Sort::Drops => Sort::Name,
        }
    }

    /// Label shown in the status line.
    pub fn label(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Traffic => "traffic",
            Sort::Drops => "drops",
        }
    }
}

/// The state of the live view: the frame shown, the previous frame (to highlight what moved),
/// and the viewer's choices.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub frame: Option<Frame>,
    pub previous: Option<Frame>,
    pub paused: bool,
    pub sort: Sort,
    /// Order of the namespaces panel.
    pub netns_sort: NetnsSort,
    pub help: bool,
    /// Host line shown in the title.
    pub title: String,
}

impl View {
    /// Show a new frame (ignored while paused).
    pub fn push(&mut self, frame: Frame) {
        if self.paused {
            return;
        }
        self.previous = self.frame.take();
        self.frame = Some(frame);
    }

    /// Rows of the CPU table in display order.
    pub fn cpu_rows(&self) -> Vec<&CpuRow> {
        let Some(f) = &self.frame else {
            return Vec::new();
        };
        let mut rows: Vec<&CpuRow> = f.cpus.iter().collect();
        match self.sort {
            Sort::Name => {}
            Sort::Traffic => rows.sort_by(|a, b| b.processed.total_cmp(&a.processed)),
            Sort::Drops => {
                rows.sort_by(|a, b| (b.dropped + b.squeezed).total_cmp(&(a.dropped + a.squeezed)))
            }
        }
        rows
    }

    /// Rows of the device table in display order.
    pub fn device_rows(&self) -> Vec<&DeviceRow> {
        let Some(f) = &self.frame else {
            return Vec::new();
        };
        let mut rows: Vec<&DeviceRow> = f.devices.iter().collect();
        match self.sort {
            Sort::Name => {}
            Sort::Traffic => {
                rows.sort_by(|a, b| (b.rx_pps + b.tx_pps).total_cmp(&(a.rx_pps + a.tx_pps)))
            }
            Sort::Drops => {
                rows.sort_by(|a, b| (b.drops + b.errors).total_cmp(&(a.drops + a.errors)))
            }
        }
        rows
    }

    /// Rows of the namespaces panel in display order (ties keep name order).
    pub fn netns_rows(&self) -> Vec<&NetnsRow> {
        let Some(f) = &self.frame else {
            return Vec::new();
        };
        let mut rows: Vec<&NetnsRow> = f.namespaces.iter().collect();
        let key: Option<fn(&NetnsRow) -> f64> = match self.netns_sort {
            NetnsSort::Name => None,
            NetnsSort::Drops => Some(NetnsRow::drops),
            NetnsSort::Overflows => Some(NetnsRow::overflows),
            NetnsSort::Traffic => Some(|r| r.rx_pps + r.tx_pps),
        };
        if let Some(key) = key {
            rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
        }
        rows
    }

    /// The previous frame's namespace row for `row` (same inode, or both primary).
    pub fn previous_netns(&self, row: &NetnsRow) -> Option<&NetnsRow> {
        self.previous
            .as_ref()?
            .namespaces
            .iter()
            .find(|r| r.inode == row.inode)
    }

    /// The previous frame's CPU row for `cpu`.
    pub fn previous_cpu(&self, cpu: u32) -> Option<&CpuRow> {
        self.previous.as_ref()?.cpus.iter().find(|c| c.cpu == cpu)
    }

    /// The previous frame's row for `device`.
    pub fn previous_device(&self, device: &str) -> Option<&DeviceRow> {
        self.previous
            .as_ref()?
            .devices
            .iter()
            .find(|d| d.device == device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::host::HostFacts;
    use crate::collect::Source;
    use crate::snapshot::Snapshot;
    use serde_json::json;

    fn src<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Source<T> {
        Source::Ok(serde_json::from_value(v).unwrap())
    }

    /// Two snapshots 2 s apart: cpu1 processes 2000 packets and drops 20, eth0 receives
    /// 1000 packets / 125 000 bytes, 4 listen overflows, 6 UDP receive-buffer errors.
    fn snap(t: u64, k: u64) -> Snapshot {
        let mut s = Snapshot::empty(t);
        s.unix_time = 3661.0 + k as f64 * 2.0;
        s.softnet = src(json!([
            {"cpu": 0, "processed": 10 + k * 100, "dropped": 0, "time_squeeze": 0,
             "cpu_collision": null, "received_rps": null, "flow_limit_count": null,
             "backlog_len": null, "input_qlen": null, "process_qlen": null},
            {"cpu": 1, "processed": 10 + k * 2000, "dropped": k * 20, "time_squeeze": k,
             "cpu_collision": null, "received_rps": null, "flow_limit_count": null,
             "backlog_len": null, "input_qlen": null, "process_qlen": null}
        ]));
        s.netdev = src(json!({"eth0": {
            "rx_bytes": k * 125_000, "rx_packets": k * 1000, "rx_errs": 0, "rx_drop": k * 2,
            "rx_fifo": 0, "rx_frame": 0, "rx_compressed": 0, "rx_multicast": 0,
            "tx_bytes": 0, "tx_packets": 0, "tx_errs": 0, "tx_drop": 0, "tx_fifo": 0,
            "tx_colls": 0, "tx_carrier": 0, "tx_compressed": 0}}));
        s.netstat = src(json!({
            "TcpExt": {"ListenOverflows": k * 4},
            "Tcp": {"RetransSegs": 100},
            "Udp": {"RcvbufErrors": k * 6}
        }));
        s.softirqs = src(json!({"NET_RX": [k * 25, k * 75]}));
        s
    }

    fn frame() -> Frame {
        let (a, b) = (snap(1_000_000_000, 0), snap(3_000_000_000, 1));
        let host = HostFacts::default();
        let w = Window::new(&a, &b, &host).unwrap();
        Frame::from_window(&w, &[])
    }

    #[test]
    fn frame_holds_window_rates() {
        let f = frame();
        assert_eq!(f.window_seconds, 2.0);
        assert_eq!(f.cpus.len(), 2);
        let c1 = &f.cpus[1];
        assert_eq!((c1.processed, c1.dropped, c1.squeezed), (1000.0, 10.0, 0.5));
        assert_eq!(c1.net_rx_share, Some(0.75));
        assert!(c1.busiest && !f.cpus[0].busiest);
        let d = &f.devices[0];
        assert_eq!(d.device, "eth0");
        assert_eq!((d.rx_pps, d.rx_bps, d.drops), (500.0, 500_000.0, 1.0));
        assert_eq!(f.protocols.tcp_listen_overflows, Some(2.0));
        assert_eq!(f.protocols.tcp_retransmits, Some(0.0));
        assert_eq!(f.protocols.tcp_backlog_drops, None);
        assert_eq!(f.protocols.udp_rcvbuf_errors, Some(3.0));
    }

    #[test]
    fn plain_line_summarises_the_frame() {
        let line = render::plain_line(&frame());
        assert_eq!(
            line,
            "01:01:03 softnet_processed=1050 softnet_dropped=10.0 softnet_squeezed=0.5 \
             busiest_cpu=cpu1 rx_pps=500 tx_pps=0 rx_bps=500.0K tx_bps=0 dev_drops=1.0 \
             dev_errors=0 tcp_retrans=0 listen_overflows=2.0 tcp_backlog_drops=- \
             udp_rcvbuf_errors=3.0 conntrack=- findings=none"
        );
    }

    /// A namespace's part at step `k`: `pps` packets/s received on eth0, `ovf` listen
    /// overflows/s, `rcvbuf` UDP receive-buffer errors/s (2 s per step).
    fn ns_part(
        inode: u64,
        name: &str,
        t: u64,
        k: u64,
        pps: u64,
        ovf: u64,
        rcvbuf: u64,
    ) -> crate::snapshot::NetnsSnapshot {
        let mut s = Snapshot::empty(t);
        s.netdev = src(json!({"eth0": {
            "rx_bytes": 0, "rx_packets": k * pps * 2, "rx_errs": 0, "rx_drop": 0,
            "rx_fifo": 0, "rx_frame": 0, "rx_compressed": 0, "rx_multicast": 0,
            "tx_bytes": 0, "tx_packets": 0, "tx_errs": 0, "tx_drop": 0, "tx_fifo": 0,
            "tx_colls": 0, "tx_carrier": 0, "tx_compressed": 0}}));
        s.netstat = src(json!({
            "TcpExt": {"ListenOverflows": k * ovf * 2, "ListenDrops": k * ovf * 2},
            "Udp": {"RcvbufErrors": k * rcvbuf * 2, "InErrors": k * rcvbuf * 2},
            "Udp6": {"RcvbufErrors": 0, "InErrors": 0}
        }));
        crate::snapshot::NetnsSnapshot {
            netns: crate::namespaces::NetnsRef {
                inode,
                name: name.into(),
                path: format!("/run/netns/{name}").into(),
            },
            snapshot: s,
        }
    }

    /// The host pair of [`snap`] plus pod-web (listen overflows), pod-dns (UDP drops) and
    /// pod-busy (traffic only); pod-new appears only in the newer snapshot.
    fn frame_with_namespaces() -> Frame {
        let (mut a, mut b) = (snap(1_000_000_000, 0), snap(3_000_000_000, 1));
        for (s, t, k) in [(&mut a, 1_000_000_000, 0), (&mut b, 3_000_000_000, 1)] {
            s.namespaces = vec![
                ns_part(7, "pod-web", t, k, 10, 5, 0),
                ns_part(8, "pod-dns", t, k, 20, 0, 30),
                ns_part(9, "pod-busy", t, k, 9000, 0, 0),
            ];
        }
        b.namespaces
            .push(ns_part(10, "pod-new", 3_000_000_000, 1, 1, 1, 1));
        // pod-busy's parts carry no time of their own: the window's is used.
        a.namespaces[2].snapshot.taken_at_ns = 0;
        b.namespaces[2].snapshot.taken_at_ns = 0;
        let host = HostFacts::default();
        let w = Window::new(&a, &b, &host).unwrap();
        Frame::from_window(&w, &[])
    }

    #[test]
    fn namespaces_panel_has_drops_and_overflows_per_namespace() {
        let f = frame_with_namespaces();
        let names: Vec<&str> = f.namespaces.iter().map(|n| n.netns.as_str()).collect();
        assert_eq!(
            names,
            ["host", "pod-busy", "pod-dns", "pod-web"],
            "pod-new has no window yet"
        );
        let host = &f.namespaces[0];
        assert_eq!(host.inode, None);
        assert_eq!((host.rx_pps, host.dev_drops), (500.0, 1.0));
        assert_eq!(host.listen_overflows, Some(2.0));
        assert_eq!(host.udp_rcvbuf_errors, Some(3.0));
        let web = &f.namespaces[3];
        assert_eq!(web.inode, Some(7));
        assert_eq!(
            (web.listen_overflows, web.listen_drops),
            (Some(5.0), Some(5.0))
        );
        assert_eq!(web.rx_pps, 10.0);
        let dns = &f.namespaces[2];
        assert_eq!(
            (dns.udp_rcvbuf_errors, dns.udp_in_errors),
            (Some(30.0), Some(30.0))
        );
        assert_eq!((dns.drops(), dns.overflows()), (30.0, 30.0));
        // The JSON line carries the panel; a frame without namespaces does not.
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["namespaces"][3]["netns"], "pod-web");
        assert_eq!(json["namespaces"][3]["listen_overflows"], 5.0);
        assert!(serde_json::to_value(frame())
            .unwrap()
            .get("namespaces")
            .is_none());
    }

    #[test]
    fn namespaces_panel_sorts_by_name_drops_overflows_traffic() {
        let mut v = View::default();
        v.push(frame_with_namespaces());
        let order =
            |v: &View| -> Vec<String> { v.netns_rows().iter().map(|n| n.netns.clone()).collect() };
        assert_eq!(order(&v), ["host", "pod-busy", "pod-dns", "pod-web"]);
        v.netns_sort = v.netns_sort.next();
        assert_eq!(v.netns_sort.label(), "drops");
        // pod-dns 30/s, pod-web 5/s, host 1 + 2 + 0 (no Udp InErrors) = 3/s, pod-busy 0.
        assert_eq!(order(&v), ["pod-dns", "pod-web", "host", "pod-busy"]);
        v.netns_sort = v.netns_sort.next();
        assert_eq!(v.netns_sort.label(), "overflows");
        // pod-dns 30, pod-web 5, host 2 + 3.
        assert_eq!(order(&v)[..2], ["pod-dns", "host"]);
        v.netns_sort = v.netns_sort.next();
        assert_eq!(order(&v)[0], "pod-busy");
        v.netns_sort = v.netns_sort.next();
        assert_eq!(v.netns_sort, NetnsSort::Name);
        // Highlighting matches rows of the previous frame by inode.
        v.push(frame_with_namespaces());
        let web = v.netns_rows()[3];
        assert_eq!(v.previous_netns(web).map(|p| p.inode), Some(Some(7)));
    }

    #[test]
    fn plain_mode_prints_a_line_per_namespace() {
        let mut f = frame_with_namespaces();
        f.namespaces[2].netns = "pod default/dns".into();
        let lines = render::plain_netns_lines(&f);
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[3],
            "01:01:03 netns=pod-web rx_pps=10.0 tx_pps=0 dev_drops=0 listen_overflows=5.0 \
             listen_drops=5.0 udp_rcvbuf_errors=0 udp_in_errors=0"
        );
        assert!(
            lines[2].starts_with("01:01:03 netns=\"pod default/dns\" "),
            "{}",
            lines[2]
        );
        assert!(render::plain_netns_lines(&frame()).is_empty());
    }

    #[test]
    fn view_sorts_and_keeps_the_previous_frame_and_ignores_frames_while_paused() {
        let mut v = View::default();
        v.push(frame());
        let mut second = frame();
        second.devices.push(DeviceRow {
            device: "a0".into(),
            rx_pps: 9000.0,
            ..Default::default()
        });
        v.push(second);
        assert!(v.previous.is_some());
        let names = |v: &View| -> Vec<String> {
            v.device_rows().iter().map(|d| d.device.clone()).collect()
        };
        assert_eq!(names(&v), ["eth0", "a0"]);
        v.sort = v.sort.next();
        assert_eq!(names(&v), ["a0", "eth0"]);
        assert_eq!(v.cpu_rows()[0].cpu, 1, "busiest CPU first by traffic");
        v.sort = v.sort.next();
        assert_eq!(names(&v), ["eth0", "a0"], "by drops: eth0 drops");
        v.paused = true;
        v.push(Frame::default());
        assert_eq!(v.frame.as_ref().unwrap().devices.len(), 2);
    }
}
