//! Pause, resume and graceful stop of a running training session: the [`Control`] a GUI
//! holds (in an `Arc`) while the session runs on the engine.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a paused session looks at its flags.
const POLL: Duration = Duration::from_millis(20);

/// Pause, resume and graceful stop of a running session, shared (in an `Arc`) between
/// the session and whoever controls it.
#[derive(Debug, Default)]
pub struct Control {
    paused: AtomicBool,
    stop: AtomicBool,
    paused_nanos: AtomicU64,
}

impl Control {
    /// A control in the running state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the session to wait before its next step.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    /// Lets a paused session go on.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    /// Asks the session to stop after the step it is in: it then evaluates and saves.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.resume();
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// True once a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Time spent waiting in [`Control::gate`] (left out of ETAs).
    pub fn paused_time(&self) -> Duration {
        Duration::from_nanos(self.paused_nanos.load(Ordering::Relaxed))
    }

    /// (seconds of active training since `started`, pauses left out; estimated seconds
    /// left) after `step` of `total` steps.
    pub fn timing(&self, started: Instant, step: usize, total: usize) -> (f64, f64) {
        let active = started
            .elapsed()
            .saturating_sub(self.paused_time())
            .as_secs_f64();
        (
            active,
            active / step.max(1) as f64 * total.saturating_sub(step) as f64,
        )
    }

    /// Called before every step: waits while paused, then returns true to go on, false
    /// once stopped or `progress` is cancelled.
    pub fn gate(&self, progress: &dyn crate::progress::Progress) -> bool {
        let mut since: Option<Instant> = None;
        let go = loop {
            if progress.cancelled() || self.is_stopping() {
                break false;
            }
            if !self.is_paused() {
                break true;
            }
            since.get_or_insert_with(Instant::now);
            std::thread::sleep(POLL);
        };
        if let Some(t) = since {
            self.paused_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        go
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Cancelled;
    use std::sync::Arc;

    #[test]
    fn gate_waits_while_paused_and_stops() {
        let c = Arc::new(Control::new());
        assert!(c.gate(&crate::progress::Silent));
        c.pause();
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            let t0 = Instant::now();
            let go = c2.gate(&crate::progress::Silent);
            (go, t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(120));
        c.resume();
        let (go, waited) = t.join().unwrap();
        assert!(go);
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(c.paused_time() >= Duration::from_millis(100));
        // Stop ends a pause and every later gate.
        c.pause();
        c.stop();
        assert!(!c.is_paused());
        assert!(!c.gate(&crate::progress::Silent));
        // Cancellation too.
        assert!(!Control::new().gate(&Cancelled));
    }
}
