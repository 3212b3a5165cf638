//! Waking the loop before its interval: [`Waker`] (a condition variable the loop waits on)
//! and, where eBPF can run, [`spawn_drop_watch`]: a thread that wakes the loop on a
//! [`Burst`] of the drop reasons autotune can fix (`CPU_BACKLOG`, `SOCKET_RCVBUFF`,
//! `TCP_LISTEN_OVERFLOW`). While drops are quiet it sleeps in `poll(2)` on the drop
//! monitor's ring buffer of notices (the kernel side writes one when a watched drop comes
//! 50 ms or more after the last), so an idle host costs it two wake-ups a second; from the
//! first drop until a quiet second it reads the per-CPU count of the watched reasons (one
//! map slot) every [`POLL`]. Without eBPF the loop polls at its interval: nothing depends
//! on this.

use crate::bpf::drops::DropMonitor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the drop watch reads the monitor's counts.
pub const POLL: Duration = Duration::from_millis(50);

/// Drops of the watched reasons within two [`POLL`]s (100 ms) that make a burst.
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
/// wakes `waker` on a [`Burst`] of those reasons (an episode's first drop, or [`BURST`]
/// drops within two [`POLL`]s; one map lookup per poll); it stops with `stop`. `Err` (with
/// the reason) when eBPF cannot run
/// here: the loop then polls.
pub fn spawn_drop_watch(
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    crate::bpf::can_run_drops()?;
    let mut monitor = DropMonitor::start_watching(None, REASONS).map_err(|e| e.to_string())?;
    // Without the ring buffer (it cannot be taken) the thread reads the counts every poll.
    let mut notices = match monitor.wake_notices() {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::debug!("drop watch without kernel notices, polling: {e}");
            None
        }
    };
    std::thread::Builder::new()
        .name("nettune-autotune-drops".into())
        .spawn(move || {
            let count = |m: &DropMonitor| m.watched().unwrap_or(0);
            let mut burst = Burst::new(count(&monitor));
            while !stop.load(Ordering::Relaxed) {
                match notices.as_mut() {
                    // Quiet: sleep in poll(2) until the kernel notices a watched drop.
                    Some(n) if burst.is_quiet() => match n.wait(IDLE_WAIT) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::debug!("drop watch: {e}; polling from now on");
                            notices = None;
                        }
                    },
                    _ => std::thread::sleep(POLL),
                }
                if let Some(drops) = burst.feed(count(&monitor)) {
                    tracing::debug!(drops, "drop watch: burst, waking the loop");
                    waker.wake();
                }
            }
        })
        .map_err(|e| format!("cannot start the drop watch thread: {e}"))
}

/// Polls without a watched drop after which the next drop starts a new episode (1 s).
pub const QUIET_POLLS: u32 = 20;

/// While quiet, the longest the drop watch sleeps in `poll(2)` before looking at its stop
/// flag.
pub const IDLE_WAIT: Duration = Duration::from_millis(500);

/// The burst test over the monitor's running count. The loop is woken by
/// - the first watched drop after [`QUIET_POLLS`] polls (1 s) without one: an episode's
///   start, so a burst that begins as a trickle is seen at its first drop (the rules fire on
///   any backlog drop; polling would see the same at the next tick, only later); at most one
///   such wake-up per second under sporadic drops, none under a steady trickle;
/// - [`BURST`] drops within the last two polls (100 ms): a burst that straddles a poll, or
///   a steady 500 drops/s. After a wake-up the count starts afresh.
#[derive(Debug, Clone)]
pub struct Burst {
    last: u64,
    /// Drops counted in the poll before the last one.
    previous: u64,
    /// Polls in a row without a watched drop.
    quiet: u32,
}

impl Burst {
    /// Start from the monitor's count now (the time before it counts as quiet).
    pub fn new(count: u64) -> Burst {
        Burst {
            last: count,
            previous: 0,
            quiet: QUIET_POLLS,
        }
    }

    /// No watched drop for [`QUIET_POLLS`] polls: the next one starts an episode, and the
    /// watch may wait for the kernel's notice instead of polling.
    pub fn is_quiet(&self) -> bool {
        self.quiet >= QUIET_POLLS
    }

    /// The count at the next poll; `Some(drops)` (the drops that made the wake-up) wakes
    /// the loop.
    pub fn feed(&mut self, count: u64) -> Option<u64> {
        // A count that went backwards (the monitor restarted) counts as nothing.
        let delta = count.saturating_sub(self.last);
        self.last = count;
        let starts = delta > 0 && self.is_quiet();
        self.quiet = if delta == 0 {
            self.quiet.saturating_add(1)
        } else {
            0
        };
        let recent = delta.saturating_add(self.previous);
        if starts || recent >= BURST {
            self.previous = 0;
            Some(recent)
        } else {
            self.previous = delta;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_counted_over_two_polls_and_an_episode_starts_at_its_first_drop() {
        // The first drop after a quiet second wakes at once.
        let mut b = Burst::new(1000);
        assert_eq!(b.feed(1000), None);
        assert_eq!(b.feed(1001), Some(1));
        // Then a trickle does not wake: 30 + 30 straddling two polls does.
        assert_eq!(b.feed(1031), None);
        assert_eq!(b.feed(1061), Some(60));
        // Counted afresh after a wake-up: 30 more is not a burst.
        assert_eq!(b.feed(1091), None);
        // One poll with enough drops (with the 30 before it).
        assert_eq!(b.feed(1091 + BURST), Some(BURST + 30));
        // A steady trickle spread wider than two polls never wakes.
        let mut n = 1091 + BURST;
        for _ in 0..40 {
            n += BURST / 3;
            assert_eq!(b.feed(n), None, "{n}");
        }
        // Quiet for less than a second: the next drop is the same episode.
        for _ in 0..QUIET_POLLS - 1 {
            assert_eq!(b.feed(n), None);
        }
        assert_eq!(b.feed(n + 1), None);
        // Quiet for a second: a new episode.
        for _ in 0..QUIET_POLLS {
            assert_eq!(b.feed(n + 1), None);
        }
        assert_eq!(b.feed(n + 2), Some(1));
        // A monitor restarted (count lower): no wake-up, no wrap.
        let mut b = Burst::new(500);
        assert_eq!(b.feed(0), None);
        assert_eq!(b.feed(u64::MAX), Some(u64::MAX));
    }

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
