//! Rendering of the live view: the ratatui screen ([`draw`]) and the one-line summary for a
//! non-terminal stdout ([`plain_line`]). Renders a [`View`]; decides nothing.

use super::{Frame, View};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

/// A count per second for a narrow column: `0`, `12.5`, `340`, `12.3k`, `4.5M`, `1.2G`.
pub fn rate(v: f64) -> String {
    let a = v.abs();
    if a < 0.05 {
        "0".into()
    } else if a < 100.0 {
        format!("{v:.1}")
    } else if a < 10_000.0 {
        format!("{v:.0}")
    } else if a < 10e6 {
        format!("{:.1}k", v / 1e3)
    } else if a < 10e9 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.1}G", v / 1e9)
    }
}

/// Bits per second: `0`, `840`, `12.3K`, `1.5M`, `9.8G` (SI, bits).
pub fn bits(v: f64) -> String {
    let a = v.abs();
    if a < 0.5 {
        "0".into()
    } else if a < 1e3 {
        format!("{v:.0}")
    } else if a < 1e6 {
        format!("{:.1}K", v / 1e3)
    } else if a < 1e9 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.1}G", v / 1e9)
    }
}

fn opt_rate(v: Option<f64>) -> String {
    v.map(rate).unwrap_or_else(|| "-".into())
}

fn share(v: Option<f64>) -> String {
    v.map(|s| format!("{:.0}%", s * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// One line per interval for a non-terminal stdout: time, then the totals that matter, the
/// busiest CPU and the active findings. Stable `key=value` fields for grep and awk.
pub fn plain_line(f: &Frame) -> String {
    let sum = |g: fn(&super::CpuRow) -> f64| f.cpus.iter().map(g).sum::<f64>();
    let dsum = |g: fn(&super::DeviceRow) -> f64| f.devices.iter().map(g).sum::<f64>();
    let busiest = f
        .cpus
        .iter()
        .find(|c| c.busiest)
        .map(|c| format!("cpu{}", c.cpu))
        .unwrap_or_else(|| "-".into());
    let p = &f.protocols;
    let ids: Vec<&str> = f.findings.iter().map(|x| x.id.as_str()).collect();
    format!(
        "{} softnet_processed={} softnet_dropped={} softnet_squeezed={} busiest_cpu={} rx_pps={} tx_pps={} rx_bps={} tx_bps={} dev_drops={} dev_errors={} tcp_retrans={} listen_overflows={} tcp_backlog_drops={} udp_rcvbuf_errors={} conntrack={} findings={}",
        clock(f.unix_time),
        rate(sum(|c| c.processed)),
        rate(sum(|c| c.dropped)),
        rate(sum(|c| c.squeezed)),
        busiest,
        rate(dsum(|d| d.rx_pps)),
        rate(dsum(|d| d.tx_pps)),
        bits(dsum(|d| d.rx_bps)),
        bits(dsum(|d| d.tx_bps)),
        rate(dsum(|d| d.drops)),
        rate(dsum(|d| d.errors)),
        opt_rate(p.tcp_retransmits),
        opt_rate(p.tcp_listen_overflows),
        opt_rate(p.tcp_backlog_drops),
        opt_rate(p.udp_rcvbuf_errors),
        share(f.conntrack_fill()),
        if ids.is_empty() { "none".to_string() } else { ids.join(",") },
    )
}

/// One line per namespace of the namespaces panel (none when the snapshot read no other
/// namespace), after [`plain_line`]: time, `netns=NAME` (quoted when it holds a space or a
/// quote), then its rates as stable `key=value` fields.
pub fn plain_netns_lines(f: &Frame) -> Vec<String> {
    f.namespaces
        .iter()
        .map(|n| {
            let name = if n.netns.contains(|c: char| c.is_whitespace() || c == '"') || n.netns.is_empty() {
                format!("{:?}", n.netns)
            } else {
                n.netns.clone()
            };
            format!(
                "{} netns={name} rx_pps={} tx_pps={} dev_drops={} listen_overflows={} listen_drops={} udp_rcvbuf_errors={} udp_in_errors={}",
                clock(f.unix_time),
                rate(n.rx_pps),
                rate(n.tx_pps),
                rate(n.dev_drops),
                opt_rate(n.listen_overflows),
                opt_rate(n.listen_drops),
                opt_rate(n.udp_rcvbuf_errors),
                opt_rate(n.udp_in_errors),
            )
        })
        .collect()
}

/// `HH:MM:SS` UTC of a Unix time.
fn clock(unix: f64) -> String {
    let s = unix.max(0.0) as u64 % 86400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

const MOVED: Style = Style::new().fg(Color::Black).bg(Color::Yellow);

/// A cell that is highlighted when its text differs from what the previous frame showed.
fn cell(text: String, before: Option<String>) -> Cell<'static> {
    let moved = before.is_some_and(|b| b != text);
    let c = Cell::from(text);
    if moved {
        c.style(MOVED)
    } else {
        c
    }
}

/// Draw the whole screen.
pub fn draw(f: &mut ratatui::Frame, view: &View) {
    let area = f.area();
    let cpus = view.cpu_rows().len() as u16;
    let devs = view.device_rows().len() as u16;
    let netns = view.netns_rows().len() as u16;
    let netns_height = if netns == 0 {
        0
    } else {
        netns.saturating_add(3).min(area.height / 3).max(4)
    };
    let [title, tables, proto, ns_area, findings, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(cpus.max(devs).saturating_add(3).min(area.height / 2).max(4)),
        Constraint::Length(4),
        Constraint::Length(netns_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let [cpu_area, dev_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(tables);

    let window = view
        .frame
        .as_ref()
        .map(|fr| {
            format!(
                "  window {:.1} s  {} UTC",
                fr.window_seconds,
                clock(fr.unix_time)
            )
        })
        .unwrap_or_else(|| "  sampling…".into());
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("nettune watch", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!("  {}", view.title)),
            Span::raw(window),
            Span::styled(
                if view.paused { "  [PAUSED]" } else { "" },
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        ])),
        title,
    );

    draw_cpus(f, view, cpu_area);
    draw_devices(f, view, dev_area);
    draw_protocols(f, view, proto);
    if netns_height > 0 {
        draw_namespaces(f, view, ns_area);
    }
    draw_findings(f, view, findings);

    let netns_sort = if netns > 0 {
        format!("  n namespaces (by {})", view.netns_sort.label())
    } else {
        String::new()
    };
    f.render_widget(
        Paragraph::new(format!(
            "q quit  p pause  s sort (by {}){netns_sort}  ? help",
            view.sort.label()
        ))
        .style(Style::new().add_modifier(Modifier::DIM)),
        status,
    );
    if view.help {
        draw_help(f, area);
    }
}

fn draw_cpus(f: &mut ratatui::Frame, view: &View, area: Rect) {
    let rows = view.cpu_rows().into_iter().map(|c| {
        let before = view.previous_cpu(c.cpu);
        let row = Row::new(vec![
            Cell::from(format!("cpu{}{}", c.cpu, if c.busiest { " *" } else { "" })),
            cell(rate(c.processed), before.map(|b| rate(b.processed))),
            cell(rate(c.dropped), before.map(|b| rate(b.dropped))),
            cell(rate(c.squeezed), before.map(|b| rate(b.squeezed))),
            cell(share(c.net_rx_share), before.map(|b| share(b.net_rx_share))),
        ]);
        if c.busiest {
            row.style(Style::new().add_modifier(Modifier::BOLD).fg(Color::Cyan))
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(["CPU", "proc/s", "drop/s", "sqz/s", "NET_RX"])
            .style(Style::new().add_modifier(Modifier::UNDERLINED)),
    )
    .block(Block::default().borders(Borders::ALL).title(" softnet "));
    f.render_widget(table, area);
}

fn draw_devices(f: &mut ratatui::Frame, view: &View, area: Rect) {
    let rows = view.device_rows().into_iter().map(|d| {
        let before = view.previous_device(&d.device);
        Row::new(vec![
            Cell::from(d.device.clone()),
            cell(rate(d.rx_pps), before.map(|b| rate(b.rx_pps))),
            cell(rate(d.tx_pps), before.map(|b| rate(b.tx_pps))),
            cell(bits(d.rx_bps), before.map(|b| bits(b.rx_bps))),
            cell(bits(d.tx_bps), before.map(|b| bits(b.tx_bps))),
            cell(rate(d.drops), before.map(|b| rate(b.drops))),
            cell(rate(d.errors), before.map(|b| rate(b.errors))),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(6),
        ],
    )
    .header(
        Row::new([
            "device", "rx pps", "tx pps", "rx b/s", "tx b/s", "drop/s", "err/s",
        ])
        .style(Style::new().add_modifier(Modifier::UNDERLINED)),
    )
    .block(Block::default().borders(Borders::ALL).title(" devices "));
    f.render_widget(table, area);
}

fn draw_protocols(f: &mut ratatui::Frame, view: &View, area: Rect) {
    let Some(fr) = &view.frame else {
        f.render_widget(
            Block::default().borders(Borders::ALL).title(" protocols "),
            area,
        );
        return;
    };
    let p = &fr.protocols;
    let before = view.previous.as_ref().map(|b| &b.protocols);
    let item = |label: &str, now: String, then: Option<String>| {
        let moved = then.is_some_and(|t| t != now);
        vec![
            Span::raw(format!("{label} ")),
            Span::styled(now, if moved { MOVED } else { Style::new() }),
            Span::raw("   "),
        ]
    };
    let tcp: Vec<Span> = [
        item(
            "TCP retrans/s",
            opt_rate(p.tcp_retransmits),
            before.map(|b| opt_rate(b.tcp_retransmits)),
        ),
        item(
            "listen overflows/s",
            opt_rate(p.tcp_listen_overflows),
            before.map(|b| opt_rate(b.tcp_listen_overflows)),
        ),
        item(
            "backlog drops/s",
            opt_rate(p.tcp_backlog_drops),
            before.map(|b| opt_rate(b.tcp_backlog_drops)),
        ),
    ]
    .concat();
    let fill = fr.conntrack_fill();
    let ct = match (p.conntrack_count, p.conntrack_max) {
        (Some(c), Some(m)) => format!("{c}/{m} ({})", share(fill)),
        _ => "-".into(),
    };
    let udp: Vec<Span> = [
        item(
            "UDP rcvbuf errors/s",
            opt_rate(p.udp_rcvbuf_errors),
            before.map(|b| opt_rate(b.udp_rcvbuf_errors)),
        ),
        item(
            "sndbuf errors/s",
            opt_rate(p.udp_sndbuf_errors),
            before.map(|b| opt_rate(b.udp_sndbuf_errors)),
        ),
        item("conntrack", ct, None),
    ]
    .concat();
    f.render_widget(
        Paragraph::new(vec![Line::from(tcp), Line::from(udp)])
            .block(Block::default().borders(Borders::ALL).title(" protocols ")),
        area,
    );
}

fn draw_namespaces(f: &mut ratatui::Frame, view: &View, area: Rect) {
    let rows = view.netns_rows().into_iter().map(|n| {
        let before = view.previous_netns(n);
        let row = Row::new(vec![
            Cell::from(n.netns.clone()),
            cell(rate(n.rx_pps), before.map(|b| rate(b.rx_pps))),
            cell(rate(n.tx_pps), before.map(|b| rate(b.tx_pps))),
            cell(rate(n.dev_drops), before.map(|b| rate(b.dev_drops))),
            cell(
                opt_rate(n.listen_overflows),
                before.map(|b| opt_rate(b.listen_overflows)),
            ),
            cell(
                opt_rate(n.listen_drops),
                before.map(|b| opt_rate(b.listen_drops)),
            ),
            cell(
                opt_rate(n.udp_rcvbuf_errors),
                before.map(|b| opt_rate(b.udp_rcvbuf_errors)),
            ),
            cell(
                opt_rate(n.udp_in_errors),
                before.map(|b| opt_rate(b.udp_in_errors)),
            ),
        ]);
        if n.drops() + n.overflows() > 0.0 {
            row.style(Style::new().fg(Color::Red))
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(12),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new([
            "namespace",
            "rx pps",
            "tx pps",
            "drop/s",
            "lst ovf/s",
            "lst drp/s",
            "udp rcvb",
            "udp err/s",
        ])
        .style(Style::new().add_modifier(Modifier::UNDERLINED)),
    )
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" namespaces (by {}) ", view.netns_sort.label())),
    );
    f.render_widget(table, area);
}

fn draw_findings(f: &mut ratatui::Frame, view: &View, area: Rect) {
    let lines: Vec<Line> = match &view.frame {
        None => vec![Line::raw("waiting for the first window…")],
        Some(fr) if fr.findings.is_empty() => vec![Line::styled(
            "no packet loss or delay found in this window",
            Style::new().fg(Color::Green),
        )],
        Some(fr) => fr
            .findings
            .iter()
            .map(|x| {
                let color = match x.severity.as_str() {
                    "critical" => Color::Red,
                    "warning" => Color::Yellow,
                    _ => Color::Blue,
                };
                Line::from(vec![
                    Span::styled(
                        format!("{:<8} ", x.severity.to_uppercase()),
                        Style::new().fg(color).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(
                        format!("{} ", x.id),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(format!("[{}] {}", x.scope, x.title)),
                ])
            })
            .collect(),
    };
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" findings in the last window "),
        ),
        area,
    );
}

fn draw_help(f: &mut ratatui::Frame, area: Rect) {
    let w = 52.min(area.width);
    let h = 13.min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(vec![
            Line::raw("q, Esc, Ctrl-C  quit"),
            Line::raw("p, space       pause / resume"),
            Line::raw("s              sort: name, traffic, drops"),
            Line::raw("n              namespaces: name, drops, overflows,"),
            Line::raw("               traffic"),
            Line::raw("?              this help"),
            Line::raw(""),
            Line::raw("Values that changed since the last refresh"),
            Line::raw("are highlighted. * marks the busiest CPU."),
            Line::raw("Rates are per second over the last interval."),
        ])
        .block(Block::default().borders(Borders::ALL).title(" help ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The namespaces panel is drawn with its sort key when the frame has namespaces, and
    /// not at all otherwise.
    #[test]
    fn namespaces_panel_is_drawn_only_with_namespaces() {
        let screen = |view: &View| -> String {
            let mut term =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
            term.draw(|f| draw(f, view)).unwrap();
            let buf = term.backend().buffer().clone();
            (0..buf.area.height)
                .map(|y| {
                    (0..buf.area.width)
                        .map(|x| buf[(x, y)].symbol().to_string())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut view = View::default();
        view.push(Frame {
            namespaces: vec![
                super::super::NetnsRow {
                    netns: "host".into(),
                    ..Default::default()
                },
                super::super::NetnsRow {
                    netns: "pod-web".into(),
                    inode: Some(7),
                    listen_overflows: Some(5.0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        view.netns_sort = view.netns_sort.next();
        let text = screen(&view);
        assert!(text.contains("namespaces (by drops)"), "{text}");
        assert!(text.contains("pod-web"), "{text}");
        assert!(text.contains("n namespaces (by drops)"), "{text}");
        view.push(Frame::default());
        let text = screen(&view);
        assert!(!text.contains("namespaces"), "{text}");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(340.4), "340");
        assert_eq!(rate(12_345.0), "12.3k");
        assert_eq!(rate(45_000_000.0), "45.0M");
        assert_eq!(bits(1_500_000.0), "1.5M");
        assert_eq!(bits(999.0), "999");
        assert_eq!(clock(3661.0), "01:01:01");
    }
}
