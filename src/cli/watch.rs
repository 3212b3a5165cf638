//! `nettune watch`: a live view in the terminal (ratatui), or one plain / JSON line per
//! interval when stdout is not a terminal.

use super::{parse_duration, GlobalArgs};
use crate::snapshot::Snapshot;
use crate::watch::{render, Frame, View};
use crate::window::Window;
use clap::Args;
use ratatui::crossterm::{
    cursor,
    event::{self, Event, KeyCode, KeyEventKind, KeyModifiers},
    execute, terminal,
};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `nettune watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Refresh interval (and window of the rates).
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Stop after this many refreshes (default: run until quit).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// Run `nettune watch`.
pub fn run(global: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(
        args.interval >= Duration::from_millis(100),
        "--interval {:?}: give at least 100ms",
        args.interval
    );
    // The exporter's encoded counters are never shown here: fold every namespace so that
    // each collection encodes only the host's part (the frames read the snapshots).
    let exporter = super::export::live_exporter(global, Duration::ZERO, 0)?;
    let mut prev = exporter.scrape().snapshot.clone();
    // The namespaces panel's label of the primary sources.
    let primary = global
        .netns
        .clone()
        .unwrap_or_else(|| crate::export::netns::HOST_LABEL.to_string());
    let mut next_frame = move || -> Frame {
        let scrape = exporter.scrape();
        let newer = scrape.snapshot.clone();
        let frame = frame_of(&prev, &newer, exporter.host(), &scrape.findings, &primary);
        prev = newer;
        frame
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    if !std::io::stdout().is_terminal() {
        return plain(global.json, args, &stop, &mut next_frame);
    }
    let mut view = View {
        title: match &global.netns {
            Some(ns) => format!("{} netns {ns}", hostname()),
            None => hostname(),
        },
        ..View::default()
    };
    // Frames are collected on their own thread: a slow collection (many namespaces, a loaded
    // machine) never delays a key press. The thread stops when the receiver is gone; it is
    // not joined, so quitting never waits for a collection in flight.
    let (frames_tx, frames_rx) = std::sync::mpsc::sync_channel::<Frame>(1);
    let interval = args.interval;
    let collecting = stop.clone();
    std::thread::Builder::new()
        .name("nettune-watch".into())
        .spawn(move || {
            let mut due = Instant::now() + interval;
            while !collecting.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now < due {
                    std::thread::sleep(due.saturating_duration_since(now).min(POLL));
                    continue;
                }
                due += interval;
                if due < Instant::now() {
                    due = Instant::now() + interval;
                }
                if frames_tx.send(next_frame()).is_err() {
                    break;
                }
            }
        })?;
    let _guard = TerminalGuard::enter()?;
    let mut term =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    term.clear()?;
    let color = global.use_color(true);
    let mut frames = 0u64;
    term.draw(|f| draw(f, &view, color))?;
    while !stop.load(Ordering::Relaxed) && terminal_alive() {
        if event::poll(POLL)? {
            let mut redraw = true;
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => break,
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break,
                    KeyCode::Char('p') | KeyCode::Char(' ') => view.paused = !view.paused,
                    KeyCode::Char('s') => view.sort = view.sort.next(),
                    KeyCode::Char('n') => view.netns_sort = view.netns_sort.next(),
                    KeyCode::Char('?') | KeyCode::Char('h') => view.help = !view.help,
                    _ => redraw = false,
                },
                Event::Resize(..) => term.autoresize()?,
                _ => redraw = false,
            }
            if redraw {
                term.draw(|f| draw(f, &view, color))?;
            }
        }
        match frames_rx.try_recv() {
            Ok(frame) => {
                view.push(frame);
                term.draw(|f| draw(f, &view, color))?;
                frames += 1;
                if args.count.is_some_and(|n| frames >= n) {
                    break;
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            // The collecting thread ends when a signal set `stop`; otherwise it died.
            Err(std::sync::mpsc::TryRecvError::Disconnected) if stop.load(Ordering::Relaxed) => {
                break
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                anyhow::bail!("watch: the collecting thread stopped")
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    Ok(super::exit::OK)
}

/// How often the terminal loop looks for keys and new frames.
const POLL: Duration = Duration::from_millis(50);

/// Whether the controlling terminal is still there: after a hang-up (the terminal emulator or
/// tmux went away) its attributes can no longer be read, and reading keys would only spin.
fn terminal_alive() -> bool {
    nix::sys::termios::tcgetattr(std::io::stdin()).is_ok()
}

/// The frame of the window between two snapshots (empty when they are out of order), the
/// primary sources labelled `primary` in the namespaces panel.
pub fn frame_of(
    older: &Snapshot,
    newer: &Snapshot,
    host: &crate::collect::host::HostFacts,
    findings: &[crate::diagnose::Finding],
    primary: &str,
) -> Frame {
    match Window::new(older, newer, host) {
        Some(w) => Frame::from_window_labelled(&w, findings, primary),
        None => Frame::default(),
    }
}

/// Draw the screen; without colour (`--color never`, `NO_COLOR`) the same screen with every
/// cell's colours reset, a coloured background (the change highlight) shown reversed instead.
fn draw(f: &mut ratatui::Frame, view: &View, color: bool) {
    render::draw(f, view);
    if !color {
        uncolor(f.buffer_mut());
    }
}

/// Reset every cell's colours, keeping emphasis; a coloured background becomes reverse video.
fn uncolor(buf: &mut ratatui::buffer::Buffer) {
    use ratatui::style::{Color, Modifier};
    for cell in buf.content.iter_mut() {
        if cell.bg != Color::Reset {
            cell.modifier.insert(Modifier::REVERSED);
        }
        cell.set_fg(Color::Reset);
        cell.set_bg(Color::Reset);
    }
}

fn plain(
    json: bool,
    args: &WatchArgs,
    stop: &AtomicBool,
    next_frame: &mut dyn FnMut() -> Frame,
) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let mut frames = 0u64;
    let mut due = Instant::now() + args.interval;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < due {
            std::thread::sleep(
                due.saturating_duration_since(now)
                    .min(Duration::from_millis(100)),
            );
            continue;
        }
        due += args.interval;
        let frame = next_frame();
        if json {
            serde_json::to_writer(&mut out, &frame)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", render::plain_line(&frame))?;
            for line in render::plain_netns_lines(&frame) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
        frames += 1;
        if args.count.is_some_and(|n| frames >= n) {
            break;
        }
    }
    Ok(super::exit::OK)
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Raw mode + alternate screen while alive; restored on drop, on panic (hook) and therefore
/// on the signals the loop turns into a normal return.
struct TerminalGuard;

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier, Style};

    /// Without colour every cell's colours are reset, emphasis stays, and the change
    /// highlight (a coloured background) is still visible as reverse video.
    #[test]
    fn uncolor_keeps_emphasis_and_highlight() {
        let area = ratatui::layout::Rect::new(0, 0, 3, 1);
        let mut buf = ratatui::buffer::Buffer::empty(area);
        buf.set_string(
            0,
            0,
            "a",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
        buf.set_string(1, 0, "b", Style::new().fg(Color::Black).bg(Color::Yellow));
        buf.set_string(2, 0, "c", Style::new());
        uncolor(&mut buf);
        for cell in &buf.content {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset));
        }
        assert!(buf.content[0].modifier.contains(Modifier::BOLD));
        assert!(!buf.content[0].modifier.contains(Modifier::REVERSED));
        assert!(buf.content[1].modifier.contains(Modifier::REVERSED));
        assert!(buf.content[2].modifier.is_empty());
    }
}
