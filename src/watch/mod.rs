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
    pub findings: Vec<FindingRow>,
}

fn sum_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

impl Frame {
    /// Build the frame of a window and the findings over it.
    pub fn from_window(w: &Window, findings: &[Finding]) -> Frame {
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
