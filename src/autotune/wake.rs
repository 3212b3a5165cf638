//! Waking the loop before its interval: [`Waker`] (a condition variable the loop waits on)
//! and, where eBPF can run, [`spawn_drop_watch`]: a thread that reads the drop monitor's
//! per-CPU count of the watched reasons (one map slot) every [`POLL`] and wakes the loop on a burst of the drop reasons autotune
//! can fix (`CPU_BACKLOG`, `SOCKET_RCVBUFF`, `TCP_LISTEN_OVERFLOW`). Without eBPF the loop
//! polls at its interval: nothing depends on this.

use crate::bpf::drops::DropMonitor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the drop watch reads the monitor's counts.
pub const POLL: Duration = Duration::from_millis(50);

/// Drops of the watched reasons within one [`POLL`] that make a burst.
pub const BURST: u64 = 50;

/// The kernel drop reasons (`SKB_DROP_REASON_` names) that wake the loop.
pub const REASONS: &[&str] = &["CPU_BACKLOG", "SOCKET_RCVBUFF", "TCP_LISTEN_OVERFLOW"];

/// How often a waiting loop looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The loop's alarm clock.
#[derive(Debug, Default)]
pub struct Waker {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Waker {
    /// Wake the loop now.
    pub fn wake(&self) {
        let mut w = self.woken.lock().unwrap_or_else(|p| p.into_inner());
        *w = true;
        self.cv.notify_all();
    }

    /// Wait until `deadline`, a [`Waker::wake`] or `stop`; `true` when woken.
    pub fn wait_until(&self, deadline: Instant, stop: &AtomicBool) -> bool {
        let mut w = self.woken.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *w {
                *w = false;
                return true;
            }
            let now = Instant::now();
            if now >= deadline || stop.load(Ordering::Relaxed) {
                return false;
            }
            let wait = (deadline - now).min(STOP_CHECK);
            w = match self.cv.wait_timeout(w, wait) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// Start the drop monitor (also counting [`REASONS`] in one per-CPU slot) and a thread that
/// wakes `waker` when those reasons count at least [`BURST`] drops within one [`POLL`] (one
/// map lookup per poll); it stops with `stop`. `Err` (with the reason) when eBPF cannot run
/// here: the loop then polls.
pub fn spawn_drop_watch(
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    crate::bpf::can_run_drops()?;
    let monitor = DropMonitor::start_watching(None, REASONS).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("nettune-autotune-drops".into())
        .spawn(move || {
            let count = |m: &DropMonitor| m.watched().unwrap_or(0);
            let mut last = count(&monitor);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(POLL);
                let now = count(&monitor);
                if now.saturating_sub(last) >= BURST {
                    waker.wake();
                }
                last = now;
            }
        })
        .map_err(|e| format!("cannot start the drop watch thread: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_cuts_the_wait_short_and_stop_ends_it() {
        let w = Arc::new(Waker::default());
        let stop = AtomicBool::new(false);
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            w2.wake();
        });
        let start = Instant::now();
        assert!(w.wait_until(start + Duration::from_secs(5), &stop));
        assert!(start.elapsed() < Duration::from_secs(1));
        t.join().unwrap();
        // No wake: the deadline.
        assert!(!w.wait_until(Instant::now() + Duration::from_millis(20), &stop));
        stop.store(true, Ordering::Relaxed);
        let start = Instant::now();
        assert!(!w.wait_until(start + Duration::from_secs(5), &stop));
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}
