//! What a training session streams, whatever the model: one [`TrainEvent`] type, with
//! step losses and validation metrics keyed by [`Metric`] and probes typed by what the
//! model produces (a caption, or a region with its explanation).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::metric::Metric;
use super::store::CheckpointInfo;
use crate::emotion::Emotion;

/// What was read for training, by kind of model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum DataCounts {
    /// Captioning (SEVLM).
    Captions {
        /// Training pairs (two sequences each).
        train_pairs: usize,
        /// Validation sequences scored for the loss.
        val_sequences: usize,
        /// Validation paintings generated for BLEU / ACC.
        eval_paintings: usize,
        /// Responses left out (no image, or words outside a checkpoint's vocabulary).
        skipped: usize,
    },
    /// Regions (EmoSEM).
    Regions {
        /// Training paintings and their regions.
        train: (usize, usize),
        /// Validation paintings and their regions.
        val: (usize, usize),
        /// True when the data has explanations (the explainer trains).
        explains: bool,
    },
    /// Image-text pairs (PACL).
    Pairs {
        /// Training paintings.
        paintings: usize,
        /// Image-text pairs.
        pairs: usize,
        /// Pairs per partition (strong, partial emotional, partial factual, weak).
        partitions: [usize; 4],
        /// Held-out paintings of the linear probe.
        probe_paintings: usize,
    },
}

/// A probe painting of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbePainting {
    /// Painting id.
    pub id: String,
    /// Its image file.
    pub image: PathBuf,
    /// The viewers' dominant emotion (> half of the votes), when the data knows it.
    pub human: Option<Emotion>,
}

/// What was set up, sent once before the first step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prepared {
    /// Data source.
    pub source: String,
    /// Model description.
    pub model: String,
    /// What the data holds.
    pub data: DataCounts,
    /// Trainable parameters.
    pub parameters: usize,
    /// The device the session trains on ("CPU", "CUDA GPU 0").
    pub device: String,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// The probe paintings.
    pub probes: Vec<ProbePainting>,
    /// Notes on the data.
    pub notes: Vec<String>,
    /// The output folder.
    pub out: PathBuf,
}

/// What one training step measured (the model's side of [`StepRecord`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepLosses {
    /// Step number (1-based).
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// The step's losses (and gradient norm where known).
    pub losses: BTreeMap<Metric, f64>,
}

impl StepLosses {
    /// The value of `m`, when this step measured it.
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.losses.get(&m).copied()
    }
}

/// One training step as a session streams it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// Step, epoch and losses.
    pub losses: StepLosses,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// Seconds of active training so far (pauses left out).
    pub active_s: f64,
    /// Estimated seconds left (from the active time per step so far).
    pub eta_s: f64,
}

/// A probe painting's regenerated caption (SEVLM).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptionProbe {
    /// Painting id.
    pub painting: String,
    /// The generated `<emotion> because <explanation>`.
    pub text: String,
    /// The parsed emotion.
    pub emotion: Option<Emotion>,
    /// The viewers' dominant emotion (> half of the votes), if any.
    pub human: Option<Emotion>,
}

/// A probe region regenerated at an evaluation (EmoSEM).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionProbe {
    /// Painting id.
    pub painting: String,
    /// The annotated emotion.
    pub emotion: Emotion,
    /// Side of `map`.
    pub side: usize,
    /// (height share, width share) of the map that the image covers.
    pub content: (f32, f32),
    /// The predicted probability map (`side²` values, row-major).
    pub map: Vec<f32>,
    /// The ground truth at the same size (0/1).
    pub truth: Vec<f32>,
    /// IoU with the ground truth (APOLO's rule), when defined.
    pub iou: Option<f64>,
    /// The generated explanation.
    pub explanation: String,
}

/// A probe's output at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Probe {
    /// A generated caption.
    Caption(CaptionProbe),
    /// A predicted region with its explanation.
    Region(RegionProbe),
}

impl Probe {
    /// What `history.json` keeps of a probe: everything of a caption; a region without
    /// its maps.
    pub fn history_json(&self) -> serde_json::Value {
        match self {
            Probe::Caption(c) => serde_json::json!({
                "painting": c.painting,
                "text": c.text,
                "emotion": c.emotion,
                "human": c.human,
            }),
            Probe::Region(p) => serde_json::json!({
                "painting": p.painting,
                "emotion": p.emotion.name(),
                "iou": p.iou,
                "explanation": p.explanation,
            }),
        }
    }
}

/// What a model's evaluation measured (the model's side of [`EvalRecord`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Metric -> value.
    pub metrics: BTreeMap<Metric, f64>,
    /// The probes.
    pub probes: Vec<Probe>,
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRecord {
    /// Step evaluated.
    pub step: usize,
    /// Epoch.
    pub epoch: usize,
    /// Metric -> value.
    pub metrics: BTreeMap<Metric, f64>,
    /// The probes.
    pub probes: Vec<Probe>,
    /// Seconds the evaluation took.
    pub seconds: f64,
}

impl EvalRecord {
    /// The value of `m`, when measured.
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.metrics.get(&m).copied()
    }

    /// The caption probes.
    pub fn captions(&self) -> impl Iterator<Item = &CaptionProbe> {
        self.probes.iter().filter_map(|p| match p {
            Probe::Caption(c) => Some(c),
            Probe::Region(_) => None,
        })
    }

    /// The region probes.
    pub fn regions(&self) -> impl Iterator<Item = &RegionProbe> {
        self.probes.iter().filter_map(|p| match p {
            Probe::Region(r) => Some(r),
            Probe::Caption(_) => None,
        })
    }

    /// This evaluation as `history.json` keeps it (region maps left out).
    pub fn history_json(&self) -> serde_json::Value {
        serde_json::json!({
            "step": self.step,
            "epoch": self.epoch,
            "metrics": self.metrics,
            "probes": self.probes.iter().map(Probe::history_json).collect::<Vec<_>>(),
            "seconds": self.seconds,
        })
    }
}

/// How a session ended (any model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Steps done.
    pub steps: usize,
    /// Steps planned.
    pub total_steps: usize,
    /// True when stopped before the end.
    pub stopped: bool,
    /// The kept checkpoints.
    pub checkpoints: Vec<CheckpointInfo>,
    /// Evaluations made.
    pub evaluations: usize,
}

/// What a training session streams (every model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TrainEvent {
    /// Set up; training starts.
    Prepared(Prepared),
    /// A step finished.
    Step(StepRecord),
    /// An evaluation finished.
    Eval(EvalRecord),
    /// The kept checkpoints after a save (the best marked).
    Checkpoints(Vec<CheckpointInfo>),
    /// The session ended (the job's result).
    Finished(Summary),
}

impl TrainEvent {
    /// The step record, when this is a step.
    pub fn step(&self) -> Option<&StepRecord> {
        match self {
            TrainEvent::Step(s) => Some(s),
            _ => None,
        }
    }

    /// The evaluation, when this is one.
    pub fn eval(&self) -> Option<&EvalRecord> {
        match self {
            TrainEvent::Eval(e) => Some(e),
            _ => None,
        }
    }
}
