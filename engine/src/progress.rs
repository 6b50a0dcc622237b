//! The one progress-and-cancellation type of every long job in the engine: training runs,
//! the demo-kit pipeline, analyses, embeddings, review exports. A job receives
//! `&dyn Progress`; the worker's `JobContext` implements it, the CLI and tests use
//! [`Silent`] or [`FnProgress`].

use std::sync::atomic::{AtomicBool, Ordering};

/// Progress sink and cancellation of a long job.
pub trait Progress {
    /// Reports `fraction` (0..1) of the whole job with a message.
    fn report(&self, fraction: f32, message: &str);
    /// True once the job should stop.
    fn cancelled(&self) -> bool;
}

/// A job nobody watches and nobody cancels (tests, one-shot CLI helpers).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn report(&self, _fraction: f32, _message: &str) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress reported to a closure, cancellation read from a flag.
pub struct FnProgress<'a, F: Fn(f32, &str)> {
    report: F,
    cancel: Option<&'a AtomicBool>,
}

impl<'a, F: Fn(f32, &str)> FnProgress<'a, F> {
    /// Reports to `report`; never cancelled.
    pub fn new(report: F) -> Self {
        Self {
            report,
            cancel: None,
        }
    }

    /// Reports to `report`; cancelled once `cancel` is set.
    pub fn with_cancel(report: F, cancel: &'a AtomicBool) -> Self {
        Self {
            report,
            cancel: Some(cancel),
        }
    }
}

impl<F: Fn(f32, &str)> Progress for FnProgress<'_, F> {
    fn report(&self, fraction: f32, message: &str) {
        (self.report)(fraction, message);
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// A part `[start, start + span)` of a parent's progress: a stage of a pipeline reports
/// 0..1 of itself and the parent sees its share.
pub struct Scaled<'a> {
    parent: &'a dyn Progress,
    start: f32,
    span: f32,
}

impl<'a> Scaled<'a> {
    /// The share `[start, start + span)` of `parent`.
    pub fn new(parent: &'a dyn Progress, start: f32, span: f32) -> Self {
        Self {
            parent,
            start,
            span,
        }
    }
}

impl Progress for Scaled<'_> {
    fn report(&self, fraction: f32, message: &str) {
        self.parent
            .report(self.start + self.span * fraction.clamp(0.0, 1.0), message);
    }
    fn cancelled(&self) -> bool {
        self.parent.cancelled()
    }
}

/// The parent's cancellation without its reports: a sub-step whose progress the parent
/// does not show.
pub struct Muted<'a>(pub &'a dyn Progress);

impl Progress for Muted<'_> {
    fn report(&self, _fraction: f32, _message: &str) {}
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

/// A job already cancelled (tests of the stop paths).
#[cfg(test)]
pub(crate) struct Cancelled;

#[cfg(test)]
impl Progress for Cancelled {
    fn report(&self, _fraction: f32, _message: &str) {}
    fn cancelled(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn scaled_maps_a_stage_into_its_share_and_forwards_cancellation() {
        let seen = RefCell::new(Vec::new());
        let flag = AtomicBool::new(false);
        let parent = FnProgress::with_cancel(
            |f, m: &str| seen.borrow_mut().push((f, m.to_string())),
            &flag,
        );
        let stage = Scaled::new(&parent, 0.5, 0.25);
        stage.report(0.0, "a");
        stage.report(1.0, "b");
        stage.report(2.0, "clamped");
        assert_eq!(
            *seen.borrow(),
            vec![
                (0.5, "a".to_string()),
                (0.75, "b".to_string()),
                (0.75, "clamped".to_string())
            ]
        );
        assert!(!stage.cancelled());
        flag.store(true, Ordering::Relaxed);
        assert!(stage.cancelled());
        assert!(!Silent.cancelled());
    }
}
