//! What a model implements to be trained by the one generic session
//! ([`super::session::run_session`]): its settings, how it reads its data and loads its
//! frozen parts, how it prepares (data + model), one training step, one evaluation, and
//! saving / loading with one argument order (`save(&self, dir)`, `load(dir, ..)`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::events::{Evaluation, Prepared, StepLosses};
use super::metric::{BestBy, Metric};
use super::store::default_output_dir;
use crate::error::Result;
use crate::progress::Progress;

/// Where a session's data comes from (every model; each accepts some of them).
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// Artemo's own annotations on the shipped paintings (captions for SEVLM, stimulus
    /// regions for EmoSEM, pairs for PACL).
    Shipped,
    /// An ArtEmis CSV over an open collection's paintings (SEVLM).
    ArtemisCsv {
        /// The CSV.
        csv: PathBuf,
        /// The collection's images (painting id -> file).
        images: BTreeMap<String, PathBuf>,
    },
    /// An APOLO root over an open collection's paintings (EmoSEM).
    Apolo {
        /// `apolo.json`.
        json: PathBuf,
        /// The maps' folder (default: `apolo_pixel_map/` beside the JSON).
        maps: Option<PathBuf>,
        /// The collection's images (painting id -> file).
        images: BTreeMap<String, PathBuf>,
    },
    /// A pseudo-mask folder made by `artemo annotations pseudo-masks` from an ArtEmis CSV:
    /// one mask per utterance with the utterance as explanation (EmoSEM).
    PseudoMasks {
        /// The folder (`pseudo_masks.csv` + `masks/`).
        dir: PathBuf,
    },
    /// An open collection's paintings with their text (titles, descriptions and any
    /// annotation utterances) (PACL).
    Collection {
        /// The collection's manifest (`paintings.csv` or a folder).
        manifest: PathBuf,
    },
}

impl DataSource {
    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            DataSource::Shipped => "the shipped annotations",
            DataSource::ArtemisCsv { .. } => "an ArtEmis CSV",
            DataSource::Apolo { .. } => "an APOLO root",
            DataSource::PseudoMasks { .. } => "a pseudo-mask folder",
            DataSource::Collection { .. } => "a collection",
        }
    }
}

/// The model-specific half of a [`SessionConfig`] (flattened into it on disk).
pub trait ModelSetup: Debug + Clone + PartialEq + Default + Serialize + DeserializeOwned {
    /// The model's folder name (`sevlm`, `emosem`, `pacl`): default output under
    /// `<user data>/runs/<model>`, installed weights under `models/<model>`.
    const MODEL: &'static str;
    /// The metrics that may rank checkpoints; the first is the default.
    const BEST_BY: &'static [BestBy];
    /// The step loss shown in progress messages.
    const HEADLINE: Metric;
    /// The checkpoint the session starts from, if any (never overwritten).
    fn init_checkpoint(&self) -> Option<&Path>;
}

/// A model's training data, read from a [`DataSource`].
pub trait SessionData: Sized {
    /// Reads the data of `source`; a source the model cannot train on is an error naming it.
    fn read(source: &DataSource, assets: &Path) -> Result<Self>;

    /// Keeps the first `n` training paintings and a fifth as many validation ones (at
    /// least 2): a quick look at a run.
    fn limit(&mut self, n: usize);
}

/// The frozen pieces (tokenizers, image encoders) a model's session loads before
/// preparing, for its settings `S`.
pub trait SessionParts<S>: Sized {
    /// Loads what `setup` needs.
    fn load(setup: &S, assets: &Path, models: &Path, device: &Device) -> Result<Self>;
}

/// A model the generic session can train.
pub trait Trainable: Sized {
    /// The model's settings.
    type Setup: ModelSetup;
    /// Its data.
    type Data: SessionData;
    /// Its frozen parts.
    type Parts: SessionParts<Self::Setup>;
    /// The inference model a saved folder loads into.
    type Model;
    /// The model's configuration (its `config.json`).
    type Config: Serialize;

    /// Builds the trainable model and its prepared data; `progress` sees the setup and may
    /// cancel it.
    fn prepare(
        inputs: &SessionInputs<'_, Self>,
        progress: &dyn Progress,
    ) -> Result<(Self, Prepared)>;

    /// The model's configuration as written to `session.json`.
    fn model_config(&self) -> &Self::Config;

    /// True while training steps remain.
    fn has_next(&self) -> bool;

    /// One training step; `None` when the step made no update (a skipped batch).
    fn train_step(&mut self) -> Result<Option<StepLosses>>;

    /// The validation metrics and probes; `progress.cancelled()` aborts.
    fn evaluate(&self, progress: &dyn Progress) -> Result<Evaluation>;

    /// Writes the model folder (weights and configuration) into `dir`.
    fn save(&self, dir: &Path) -> Result<()>;

    /// Loads a folder written by [`Trainable::save`].
    fn load(dir: &Path, parts: &Self::Parts, device: &Device) -> Result<Self::Model>;
}

/// Everything a session is asked to do: the model's settings (`model`, flattened on
/// disk) and what every session shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionConfig<M> {
    /// The model's settings (training hyper-parameters, where it starts, ...).
    #[serde(flatten)]
    pub model: M,
    /// The output folder (checkpoints, `session.json`, `history.json`).
    pub out: PathBuf,
    /// Evaluate every this many steps (and at the end).
    pub eval_every: usize,
    /// Probe paintings (the first validation paintings) shown at every evaluation.
    pub probes: usize,
    /// Best checkpoints kept.
    pub keep: usize,
    /// The metric that ranks checkpoints.
    pub best_by: BestBy,
    /// Train on at most this many paintings (0: all).
    #[serde(default)]
    pub max_paintings: usize,
}

impl<M: ModelSetup> Default for SessionConfig<M> {
    fn default() -> Self {
        SessionConfig {
            model: M::default(),
            // The user's data folder (`<data>/runs/<model>`), never the shipped folders.
            out: default_output_dir(M::MODEL).unwrap_or_default(),
            eval_every: 50,
            probes: 4,
            keep: 3,
            best_by: M::BEST_BY.first().copied().unwrap_or(BestBy::ValLoss),
            max_paintings: 0,
        }
    }
}

/// What a session trains on.
pub struct SessionInputs<'a, T: Trainable> {
    /// The data, already read.
    pub data: &'a T::Data,
    /// The frozen parts.
    pub parts: &'a T::Parts,
    /// The settings.
    pub cfg: &'a SessionConfig<T::Setup>,
    /// Folders the output may not touch (shipped and installed models); the checkpoint
    /// the session starts from is added.
    pub protected: &'a [PathBuf],
    /// Where the tensors live.
    pub device: &'a Device,
}
