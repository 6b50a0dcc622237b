//! One progress display for every long CLI job (eval, train, embed, analyze, collection
//! checks): on a terminal an `indicatif` bar on stderr with the elapsed time, ETA and the
//! job's current step; elsewhere (a log file, a pipe, CI) one `[ 42%, 12s left] step` line
//! each time the step changes, so logs stay readable.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The template every bar uses.
const TEMPLATE: &str =
    "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% (ETA {eta}) {wide_msg}";

/// A long job's progress on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    last: String,
}

impl Progress {
    /// A bar on a terminal, step lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            last: String::new(),
        }
    }

    /// The job is at `fraction` (0..=1) doing `step`; `eta` when the engine knows it.
    pub fn update(&mut self, fraction: f32, eta: Option<Duration>, step: &str) {
        let f = fraction.clamp(0.0, 1.0);
        match &self.bar {
            Some(bar) => {
                bar.set_position((f * 1000.0).round() as u64);
                if step != self.last {
                    bar.set_message(step.to_string());
                }
            }
            None => {
                if step != self.last {
                    eprintln!("{}", line(f, eta, step));
                }
            }
        }
        if step != self.last {
            self.last = step.to_string();
        }
    }

    /// A closure for the engine's `run_blocking` / `run_streaming` progress callbacks.
    pub fn callback(mut self) -> impl FnMut(f32, Option<Duration>, &str) {
        move |f, eta, m| self.update(f, eta, m)
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The line printed where no bar can be drawn.
fn line(f: f32, eta: Option<Duration>, step: &str) -> String {
    let eta = eta
        .map(|d| format!(", {}s left", d.as_secs()))
        .unwrap_or_default();
    format!("[{:>3.0}%{eta}] {step}", f * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_carry_percent_eta_and_step() {
        assert_eq!(line(0.0, None, "loading"), "[  0%] loading");
        assert_eq!(
            line(0.425, Some(Duration::from_secs(12)), "scoring"),
            "[ 42%, 12s left] scoring"
        );
    }

    #[test]
    fn a_repeated_step_is_printed_once() {
        let mut p = Progress {
            bar: None,
            last: String::new(),
        };
        p.update(0.1, None, "a");
        assert_eq!(p.last, "a");
        p.update(0.2, None, "a");
        p.update(0.3, None, "b");
        assert_eq!(p.last, "b");
    }
}
