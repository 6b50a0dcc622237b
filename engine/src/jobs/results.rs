//! The results of the jobs that have their own types (an EmoSEM report, the models
//! listing, the map, a review prediction, an opened review): plain data below the job
//! bodies, so `output.rs` names them without importing a job module (one direction:
//! job modules -> `output.rs` -> `results.rs` -> the paper and data modules).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::annotations::mask::Mask;
use crate::annotations::review::{GroundTruthMatch, ItemKey, Recovery, ReviewJournal};
use crate::emosem::postprocess::{EmotionSummary, Written};
use crate::emotion::Emotion;
use crate::manifest::ModelEntry;
use crate::pacl::embed::{Embeddings, Skipped};
use crate::pacl::projection::Method;

/// What an EmoSEM analysis produced (no pixel data).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmosemReport {
    /// Per emotion, in request order.
    pub emotions: Vec<EmotionSummary>,
    /// The written files, when an output folder was given.
    pub written: Option<Written>,
    /// The image's size (width, height).
    pub image_size: (usize, usize),
    /// The maps' size (width, height), at most [`MAX_MAP_SIDE`](crate::emosem::analyze::MAX_MAP_SIDE) on the long side.
    pub map_size: (usize, usize),
    /// [`MAX_MAP_SIDE`](crate::emosem::analyze::MAX_MAP_SIDE).
    pub max_map_side: usize,
}

/// One manifest entry with the presence of its files.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    /// The entry.
    pub entry: ModelEntry,
    /// The folder its file paths are relative to (shipped `models/` or the user's).
    pub root: PathBuf,
    /// Recorded in `LOCAL.toml` (imported here) rather than shipped.
    pub local: bool,
    /// Present files.
    pub present: usize,
}

/// The window tab a feature belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureTab {
    /// The Painting tab (explanations, masks).
    Painting,
    /// The Map tab.
    Map,
}

/// Where one feature looks for weights.
#[derive(Debug, Clone)]
pub struct FeatureWeights {
    /// The feature, as users know it.
    pub what: &'static str,
    /// Its tab, when it has one.
    pub tab: Option<FeatureTab>,
    /// The folders it looks in, in order.
    pub looks_in: Vec<String>,
    /// The folder it uses, when one holds weights.
    pub found: Option<PathBuf>,
}

/// What the listing found.
#[derive(Debug, Clone)]
pub struct ModelListing {
    /// The models folder listed.
    pub root: PathBuf,
    /// Manifest entries.
    pub rows: Vec<ManifestRow>,
    /// Features and their weights.
    pub features: Vec<FeatureWeights>,
    /// Problems reading `LOCAL.toml` (the shipped manifest failing fails the request).
    pub warnings: Vec<String>,
}

/// Zero-shot emotions of the mapped paintings (PACL's text tower with the class prompts
/// `prompts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapZeroShot {
    /// Predicted emotion per mapped painting.
    pub emotions: Vec<Emotion>,
    /// Probability of the predicted emotion.
    pub confidence: Vec<f32>,
    /// The class prompts (caches written before the choice existed used the ensemble).
    #[serde(default = "ensemble")]
    pub prompts: crate::pacl::zeroshot::PromptSet,
    /// The calibration (caches written before it existed: none).
    #[serde(default = "uncalibrated")]
    pub calibration: crate::pacl::zeroshot::Calibration,
}

fn uncalibrated() -> crate::pacl::zeroshot::Calibration {
    crate::pacl::zeroshot::Calibration::None
}

fn ensemble() -> crate::pacl::zeroshot::PromptSet {
    crate::pacl::zeroshot::PromptSet::Ensemble
}

/// A collection's map: everything the Map tab draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapData {
    /// SHA-256 (hex) of the model files.
    pub model_key: String,
    /// SHA-256 (hex) of the collection's ids and image bytes.
    pub collection_key: String,
    /// The model folder.
    pub model_dir: PathBuf,
    /// Embeddings of the paintings that could be read (ids in collection order).
    pub embeddings: Embeddings,
    /// Index into the collection of every embedded painting.
    pub indices: Vec<usize>,
    /// Paintings that could not be read.
    pub skipped: Vec<Skipped>,
    /// Projections made so far, by method name (`pca`, `tsne`), one point per embedding.
    pub projections: BTreeMap<String, Vec<[f32; 2]>>,
    /// k-means labels by k.
    pub clusters: BTreeMap<usize, Vec<usize>>,
    /// Zero-shot emotions, or why there are none.
    pub zero_shot: std::result::Result<MapZeroShot, String>,
    /// Whether this result came from the disk cache.
    #[serde(skip)]
    pub from_cache: bool,
    /// The thumbnail atlas, one slot per embedding (when asked for; cached in a file of
    /// its own, [`crate::atlas`]).
    #[serde(skip)]
    pub atlas: Option<std::sync::Arc<crate::atlas::Atlas>>,
    /// The zero-shot scores measured for this model when it is a demo kit's
    /// ([`crate::kit::zero_shot::measured`]; read on every run, never cached).
    #[serde(skip)]
    pub measured_zero_shot: Option<crate::kit::zero_shot::ZeroShotEval>,
}

/// The key of a projection method in [`MapData::projections`].
pub fn method_key(m: Method) -> &'static str {
    match m {
        Method::Pca => "pca",
        Method::Tsne => "tsne",
        Method::Grid => "grid",
    }
}

impl MapData {
    /// The points of `method`, if computed.
    pub fn points(&self, method: Method) -> Option<&[[f32; 2]]> {
        self.projections.get(method_key(method)).map(Vec::as_slice)
    }
}

/// The prediction for one reviewed item, at the ground truth's size.
#[derive(Debug, Clone)]
pub struct ReviewPrediction {
    /// Painting and emotion.
    pub key: ItemKey,
    /// The prediction binarised as APOLO evaluates it (min-max normalised, > 0.35).
    pub mask: Mask,
    /// (segmentation IoU, box IoU) against the ground truth; `None` when it is empty.
    pub ious: Option<(f64, f64)>,
    /// The generated explanation.
    pub explanation: String,
}

/// An opened review session.
#[derive(Debug)]
pub struct ReviewOpened {
    /// The samples found, with what was missing or mismatched.
    pub found: GroundTruthMatch,
    /// The session's journal.
    pub journal: ReviewJournal,
    /// What opening the journal replayed or dropped.
    pub recovery: Recovery,
}
