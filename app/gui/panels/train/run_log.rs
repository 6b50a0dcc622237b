//! What a session has streamed so far, whatever the model: its set-up, steps, evaluations
//! and kept checkpoints, taken from the one `TrainEvent`.

use artemo_engine::train::events::{EvalRecord, Prepared, StepRecord, TrainEvent};
use artemo_engine::train::session::CheckpointInfo;

/// A session's record as the run views draw it.
#[derive(Default)]
pub struct RunLog {
    /// Set up.
    pub prepared: Option<Prepared>,
    /// Steps.
    pub steps: Vec<StepRecord>,
    /// Evaluations.
    pub evals: Vec<EvalRecord>,
    /// Kept checkpoints.
    pub checkpoints: Vec<CheckpointInfo>,
}

impl RunLog {
    /// Takes one event (the end, [`TrainEvent::Finished`], is the tab's); returns the
    /// ETA a step brings.
    pub fn on_event(&mut self, ev: TrainEvent) -> Option<f64> {
        match ev {
            TrainEvent::Prepared(p) => self.prepared = Some(p),
            TrainEvent::Step(s) => {
                let eta = s.eta_s;
                self.steps.push(s);
                return Some(eta);
            }
            TrainEvent::Eval(e) => self.evals.push(e),
            TrainEvent::Checkpoints(c) => self.checkpoints = c,
            TrainEvent::Finished(_) => {}
        }
        None
    }
}
