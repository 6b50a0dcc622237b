//! Frame-time statistics of the window: the CPU time each frame's UI code takes (what
//! must stay under 16 ms while the engine works), kept over the last frames, shown in
//! the status bar, and written as JSON every few seconds when `ARTEMO_FRAME_STATS` names
//! a file (`tools/frame_times.sh` uses it to measure the real window under Xvfb).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Frames kept.
const KEEP: usize = 600;

/// Rolling frame-time statistics.
pub struct FrameStats {
    times: VecDeque<f64>,
    busy: VecDeque<bool>,
    total: u64,
    out: Option<PathBuf>,
    last_write: Instant,
}

/// A summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Frames summarised.
    pub frames: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

impl FrameStats {
    /// Empty statistics; `ARTEMO_FRAME_STATS` turns on the JSON file.
    pub fn new() -> Self {
        FrameStats {
            times: VecDeque::with_capacity(KEEP),
            busy: VecDeque::with_capacity(KEEP),
            total: 0,
            out: std::env::var_os("ARTEMO_FRAME_STATS").map(PathBuf::from),
            last_write: Instant::now(),
        }
    }

    /// Records one frame's duration; `busy` says whether an engine job was running.
    pub fn record(&mut self, d: Duration, busy: bool) {
        if self.times.len() == KEEP {
            self.times.pop_front();
            self.busy.pop_front();
        }
        self.times.push_back(d.as_secs_f64() * 1e3);
        self.busy.push_back(busy);
        self.total += 1;
        if self.out.is_some() && self.last_write.elapsed() > Duration::from_secs(3) {
            self.last_write = Instant::now();
            self.write();
        }
    }

    /// The summary of the kept frames (all, or only those with a job running).
    pub fn summary(&self, only_busy: bool) -> Option<Summary> {
        let mut v: Vec<f64> = self
            .times
            .iter()
            .zip(&self.busy)
            .filter(|(_, b)| !only_busy || **b)
            .map(|(t, _)| *t)
            .collect();
        summarize(&mut v)
    }

    fn write(&self) {
        let Some(path) = &self.out else { return };
        let json = serde_json::json!({
            "frames_total": self.total,
            "all": self.summary(false),
            "while_a_job_runs": self.summary(true),
        });
        // Best effort: a failed write only loses a measurement.
        if let Ok(text) = serde_json::to_string_pretty(&json) {
            let _ = artemo_engine::error::write_atomic(path, text.as_bytes());
        }
    }
}

/// Percentiles of `v` (sorted in place); `None` when empty.
pub fn summarize(v: &mut [f64]) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some(Summary {
        frames: v.len(),
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        max_ms: v[v.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_values() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&mut v).unwrap();
        assert_eq!(s.frames, 100);
        assert_eq!(s.p50_ms, 51.0);
        assert_eq!(s.p95_ms, 95.0);
        assert_eq!(s.max_ms, 100.0);
        assert!(summarize(&mut []).is_none());
    }

    #[test]
    fn busy_frames_are_summarised_apart() {
        let mut f = FrameStats::new();
        f.out = None;
        f.record(Duration::from_millis(2), false);
        f.record(Duration::from_millis(10), true);
        assert_eq!(f.summary(true).unwrap().max_ms, 10.0);
        assert_eq!(f.summary(false).unwrap().frames, 2);
    }
}
