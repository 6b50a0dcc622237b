//! An interactive EmoSEM training session (the Train tab with the EmoSEM model): data
//! from Artemo's own stimulus regions (`stimuli.json` + `SPLITS.csv`) or an APOLO root
//! (`apolo.json` + per-(painting, emotion) `.npy` maps over an open collection), a model
//! from scratch (the demo kit's small Single-Mask or Multi-Masks layout over the frozen
//! PACL patch tower) or from a checkpoint folder (e.g. `models/demo/emosem`),
//! [`crate::emosem::train::train_model`] with pause / resume / graceful stop
//! ([`Control`]), periodic evaluation on held-out paintings (mask and explanation loss,
//! APOLO's mean IoU, Pr@25 and Pr@50 at the model's mask resolution), the best
//! checkpoints kept by a chosen metric ([`CheckpointStore`]) and a fixed probe set of
//! validation paintings whose masks and explanations are regenerated at every
//! evaluation. Everything the GUI draws arrives as [`MaskSessionEvent`]s.
//!
//! APOLO ships no training split: its `test` records are never used here (they stay for
//! `artemo eval-masks`); the other records are split by painting, every tenth (by id)
//! held out for validation. APOLO has no explanations of its own, so on APOLO only the
//! mask side learns (the explanation loss is absent).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::features::ImageEncoder;
use super::features::PaclTowerGrid;
use super::recipe::KitEmosemConfig;
use super::train::{forward_batch, train_model, Target, TrainConfig, TrainItem, TrainProgress};
use super::{prompt_ids, Emosem, EmosemConfig, Paradigm};
use crate::annotations::apolo::ApoloSet;
use crate::annotations::artemis::Split;
use crate::annotations::dataset::read_splits;
use crate::annotations::mask::Mask;
use crate::annotations::stimuli::{rasterize, read_stimuli};
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::metrics::segmentation::{evaluate_segmentation, ScoreMap};
use crate::models::loading::Weights;
use crate::models::nn::Mode;
use crate::tokenize::TextTokenizer;
use crate::train::session::{check_output_dir, CheckpointInfo, CheckpointStore, Control, Goal};
use crate::worker::{JobContext, JobFn, JobOutput};

pub use crate::train::session::Summary;

/// Where an annotated region lies in its image.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// Polygons in image pixels (Artemo's `stimuli.json`).
    Polygons(Vec<Vec<[f32; 2]>>),
    /// A 0/1 map over the whole image at any resolution (APOLO's `.npy`).
    Map(Mask),
}

/// One annotated emotion of a painting.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionTarget {
    /// The emotion.
    pub emotion: Emotion,
    /// Where it comes from in the picture.
    pub region: Region,
    /// Its explanation, when the data has one.
    pub explanation: Option<String>,
}

impl RegionTarget {
    /// The region as 0/1 values at `side` x `side`, row-major, in the frame where the image
    /// covers the top-left `content` = (height share, width share) (1, 1 for the grid
    /// towers, which squash the image; less for SAM, which pads it). Pixels are sampled at
    /// their centres.
    pub fn rasterize(&self, size: (u32, u32), side: usize, content: (f32, f32)) -> Vec<f32> {
        let (w, h) = (size.0.max(1) as f32, size.1.max(1) as f32);
        let (ch, cw) = content;
        match &self.region {
            Region::Polygons(polys) => {
                let sx = cw * side as f32 / w;
                let sy = ch * side as f32 / h;
                let scaled: Vec<Vec<[f32; 2]>> = polys
                    .iter()
                    .map(|p| p.iter().map(|[x, y]| [x * sx, y * sy]).collect())
                    .collect();
                rasterize(&scaled, side, side)
                    .data
                    .iter()
                    .map(|&v| v as f32)
                    .collect()
            }
            Region::Map(m) => {
                let mut out = vec![0f32; side * side];
                if m.width == 0 || m.height == 0 || ch <= 0.0 || cw <= 0.0 {
                    return out;
                }
                for y in 0..side {
                    let v = (y as f32 + 0.5) / side as f32 / ch;
                    if v >= 1.0 {
                        continue;
                    }
                    let my = ((v * m.height as f32) as usize).min(m.height - 1);
                    for x in 0..side {
                        let u = (x as f32 + 0.5) / side as f32 / cw;
                        if u >= 1.0 {
                            continue;
                        }
                        let mx = ((u * m.width as f32) as usize).min(m.width - 1);
                        if m.get(mx, my) {
                            out[y * side + x] = 1.0;
                        }
                    }
                }
                out
            }
        }
    }
}

/// One painting with its annotated regions.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionExample {
    /// Painting id.
    pub painting: String,
    /// The image file.
    pub image: PathBuf,
    /// The image's (width, height) in pixels.
    pub size: (u32, u32),
    /// Its regions, one per annotated emotion.
    pub targets: Vec<RegionTarget>,
}

/// Training and validation paintings with their regions.
#[derive(Debug, Clone, Default)]
pub struct RegionCorpus {
    /// What it was read from (shown to users).
    pub source: String,
    /// Training paintings.
    pub train: Vec<RegionExample>,
    /// Validation paintings.
    pub val: Vec<RegionExample>,
    /// What users should know about the data (held-out splits, records skipped, ...).
    pub notes: Vec<String>,
}

fn image_size(path: &Path, w: Option<u32>, h: Option<u32>) -> Result<(u32, u32)> {
    match (w, h) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => image::image_dimensions(path).map_err(|e| Error::image(path, e.to_string())),
    }
}

impl RegionCorpus {
    /// Artemo's stimulus regions on the shipped paintings, split by `SPLITS.csv` (the test
    /// split is left out). Explanations are the regions' utterances.
    pub fn shipped(assets: &Path) -> Result<RegionCorpus> {
        let ann = assets.join("annotations");
        let stimuli = read_stimuli(&ann.join("stimuli.json"))?;
        let splits = read_splits(&ann.join("SPLITS.csv"))?;
        let collection = Collection::open_manifest(&assets.join("paintings/aic/paintings.csv"))?;
        let mut by: BTreeMap<String, (Split, RegionExample)> = BTreeMap::new();
        for s in stimuli {
            let split = match splits.get(&s.painting) {
                Some(sp @ (Split::Train | Split::Val)) => *sp,
                _ => continue,
            };
            let p = collection.get(&s.painting).ok_or_else(|| {
                Error::at(
                    ann.join("stimuli.json"),
                    format!("painting `{}`", s.painting),
                    "not in the shipped collection",
                )
            })?;
            let entry = match by.get_mut(&s.painting) {
                Some(e) => e,
                None => {
                    let size = image_size(&p.path, p.width, p.height)?;
                    by.entry(s.painting.clone()).or_insert((
                        split,
                        RegionExample {
                            painting: s.painting.clone(),
                            image: p.path.clone(),
                            size,
                            targets: Vec::new(),
                        },
                    ))
                }
            };
            entry.1.targets.push(RegionTarget {
                emotion: s.emotion,
                region: Region::Polygons(s.polygons),
                explanation: Some(s.utterance.trim().to_string()).filter(|u| !u.is_empty()),
            });
        }
        let mut c = RegionCorpus {
            source: "Artemo's stimulus regions".into(),
            notes: vec![
                "the test split (SPLITS.csv) is held out for `artemo eval --task emosem`".into(),
            ],
            ..Default::default()
        };
        for (_, (split, ex)) in by {
            match split {
                Split::Val => c.val.push(ex),
                _ => c.train.push(ex),
            }
        }
        c.require(&ann.join("stimuli.json"))?;
        Ok(c)
    }

    /// An APOLO root over an open collection's images (`images`: painting id -> file):
    /// the records outside APOLO's `test` split whose painting has an image and at least
    /// one non-empty map, every tenth painting (by id) held out for validation.
    pub fn apolo(
        json: &Path,
        map_dir: Option<&Path>,
        images: &BTreeMap<String, PathBuf>,
    ) -> Result<RegionCorpus> {
        let set = ApoloSet::open(json, map_dir)?;
        if set.records.is_empty() {
            return Err(Error::at(json, "records", "the file has no record"));
        }
        if !set.map_dir.is_dir() {
            return Err(Error::at(
                &set.map_dir,
                "maps",
                "the folder of `.npy` maps does not exist (APOLO's `apolo_pixel_map/`)",
            ));
        }
        let mut test = 0usize;
        let mut without_image = 0usize;
        let mut without_map = 0usize;
        let mut by: BTreeMap<String, RegionExample> = BTreeMap::new();
        for r in &set.records {
            if r.split.eq_ignore_ascii_case("test") {
                test += 1;
                continue;
            }
            if by.contains_key(&r.painting) {
                continue;
            }
            let Some(image) = images.get(&r.painting) else {
                without_image += 1;
                continue;
            };
            let mut targets = Vec::new();
            for e in Emotion::EIGHT {
                if let Some(m) = set.load_map(&r.painting, e)? {
                    if !m.is_empty() {
                        targets.push(RegionTarget {
                            emotion: e,
                            region: Region::Map(m),
                            explanation: None,
                        });
                    }
                }
            }
            if targets.is_empty() {
                without_map += 1;
                continue;
            }
            let size = image_size(image, None, None)?;
            by.insert(
                r.painting.clone(),
                RegionExample {
                    painting: r.painting.clone(),
                    image: image.clone(),
                    size,
                    targets,
                },
            );
        }
        if by.is_empty() {
            return Err(Error::at(
                json,
                "records",
                format!(
                    "no usable record: {test} in the test split (held out), {without_image} without an image in the open collection, {without_map} without a non-empty map in {}",
                    set.map_dir.display()
                ),
            ));
        }
        let n = by.len();
        let mut c = RegionCorpus {
            source: format!("APOLO {}", json.display()),
            ..Default::default()
        };
        for (i, (_, ex)) in by.into_iter().enumerate() {
            // Every tenth painting validates; with fewer than ten, the last one.
            if i % 10 == 9 || (n < 10 && i == n - 1) {
                c.val.push(ex);
            } else {
                c.train.push(ex);
            }
        }
        c.notes.push(format!(
            "APOLO's test split ({test} records) is held out for `artemo eval-masks`; every tenth painting validates"
        ));
        if without_image + without_map > 0 {
            c.notes.push(format!(
                "{without_image} records without an image in the open collection and {without_map} without a non-empty map were skipped"
            ));
        }
        c.notes.push(
            "APOLO has no explanations: only the mask side learns (no explanation loss)".into(),
        );
        c.require(json)?;
        Ok(c)
    }

    /// Keeps the first `n` training paintings (by id) and a fifth as many validation
    /// paintings (at least 2): a quick look at a run.
    pub fn limit(&mut self, n: usize) {
        self.train.truncate(n.max(1));
        self.val.truncate(n.div_ceil(5).max(2));
    }

    /// Regions in the training and validation paintings.
    pub fn regions(&self) -> (usize, usize) {
        let count = |v: &[RegionExample]| v.iter().map(|e| e.targets.len()).sum();
        (count(&self.train), count(&self.val))
    }

    fn require(&self, file: &Path) -> Result<()> {
        if self.train.is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no training painting with a region",
            ));
        }
        if self.val.is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no validation painting with a region",
            ));
        }
        Ok(())
    }
}

/// Where the model starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EmosemInit {
    /// A fresh small model (the demo kit's layout) over the frozen grid tower.
    Scratch {
        /// Single-Mask or Multi-Masks.
        paradigm: Paradigm,
        /// Explainer width.
        explainer_width: usize,
        /// Explainer layers.
        explainer_layers: usize,
    },
    /// A model folder written by [`crate::emosem::save`] (e.g. `models/demo/emosem`).
    Checkpoint(PathBuf),
}

/// The metric that picks the best checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaskBestBy {
    /// APOLO's mean IoU on the validation regions (higher is better).
    MeanIou,
    /// Pr@25 on the validation regions (higher is better).
    Pr25,
    /// Validation mask loss (lower is better).
    ValMaskLoss,
}

impl MaskBestBy {
    /// Every choice.
    pub const ALL: [MaskBestBy; 3] = [
        MaskBestBy::MeanIou,
        MaskBestBy::Pr25,
        MaskBestBy::ValMaskLoss,
    ];

    /// The metric's name in [`MaskEval::metrics`].
    pub fn name(self) -> &'static str {
        match self {
            MaskBestBy::MeanIou => "mean IoU",
            MaskBestBy::Pr25 => "Pr@25",
            MaskBestBy::ValMaskLoss => "val mask loss",
        }
    }

    /// Lower or higher is better.
    pub fn goal(self) -> Goal {
        match self {
            MaskBestBy::ValMaskLoss => Goal::Minimize,
            _ => Goal::Maximize,
        }
    }
}

/// Everything an EmoSEM session is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmosemSessionConfig {
    /// Training hyper-parameters (the paper's learning rates by default).
    pub train: TrainConfig,
    /// Where the model starts.
    pub init: EmosemInit,
    /// The output folder (checkpoints, `session.json`, `history.json`).
    pub out: PathBuf,
    /// Evaluate every this many steps (and at the end).
    pub eval_every: usize,
    /// Probe paintings (the first validation paintings) shown at every evaluation.
    pub probes: usize,
    /// Best checkpoints kept.
    pub keep: usize,
    /// The metric that ranks checkpoints.
    pub best_by: MaskBestBy,
    /// Train on at most this many paintings (0: all; see [`RegionCorpus::limit`]).
    pub max_paintings: usize,
}

impl Default for EmosemSessionConfig {
    fn default() -> Self {
        let kit = KitEmosemConfig::full(2026);
        EmosemSessionConfig {
            train: TrainConfig::default(),
            init: EmosemInit::Scratch {
                paradigm: Paradigm::Multi,
                explainer_width: kit.explainer_width,
                explainer_layers: kit.explainer_layers,
            },
            // The user's data folder (`<data>/runs/emosem`), never the shipped folders.
            out: crate::train::session::default_output_dir("emosem").unwrap_or_default(),
            eval_every: 50,
            probes: 4,
            keep: 3,
            best_by: MaskBestBy::MeanIou,
            max_paintings: 0,
        }
    }
}

/// What was set up, sent once before the first step.
#[derive(Debug, Clone, Serialize)]
pub struct MaskPrepared {
    /// Data source.
    pub source: String,
    /// Model description.
    pub model: String,
    /// Training paintings and their regions.
    pub train: (usize, usize),
    /// Validation paintings and their regions.
    pub val: (usize, usize),
    /// True when the data has explanations (the explainer trains).
    pub explains: bool,
    /// Trainable parameters.
    pub parameters: usize,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// The probe paintings: (id, image file).
    pub probes: Vec<(String, PathBuf)>,
    /// Notes on the data.
    pub notes: Vec<String>,
    /// The output folder.
    pub out: PathBuf,
}

/// One training step.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MaskStep {
    /// Step, losses.
    pub progress: TrainProgress,
    /// Seconds of active training so far (pauses left out).
    pub active_s: f64,
    /// Estimated seconds left.
    pub eta_s: f64,
}

/// One probe region regenerated at an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskProbe {
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

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskEval {
    /// Step evaluated.
    pub step: usize,
    /// Epoch (passes over the training paintings, 1-based).
    pub epoch: usize,
    /// Metric name -> value: "val mask loss", "val explanation loss" (with
    /// explanations), "mean IoU" (0..1), "Pr@25" and "Pr@50" (percent).
    pub metrics: BTreeMap<String, f64>,
    /// The probe regions.
    pub probes: Vec<MaskProbe>,
    /// Seconds the evaluation took.
    pub seconds: f64,
}

/// What an EmoSEM session streams.
#[derive(Debug, Clone, Serialize)]
pub enum MaskSessionEvent {
    /// Set up; training starts.
    Prepared(MaskPrepared),
    /// A step finished.
    Step(MaskStep),
    /// An evaluation finished.
    Eval(MaskEval),
    /// The kept checkpoints after a save (the best marked).
    Checkpoints(Vec<CheckpointInfo>),
}

/// The tokenizer and the frozen image encoder a session needs.
pub struct MaskParts {
    /// GPT-2 tokenizer.
    pub tok: TextTokenizer,
    /// The frozen image side (a grid tower for a new model).
    pub encoder: ImageEncoder,
}

impl MaskParts {
    /// Loads the shipped tokenizer and the encoder `init` needs: the demo kit's PACL tower
    /// (`models/demo/pacl`, then `models/pacl`) for a new model, the one the checkpoint's
    /// configuration names otherwise.
    pub fn load(
        init: &EmosemInit,
        assets: &Path,
        models: &Path,
        device: &Device,
    ) -> Result<MaskParts> {
        let tok = TextTokenizer::gpt2_from_assets(assets)?;
        let encoder = match init {
            EmosemInit::Scratch { .. } => {
                let rel = ["demo/pacl", "pacl"]
                    .into_iter()
                    .find(|r| models.join(r).join("config.json").is_file())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "a new EmoSEM uses the demo kit's image tower, not found at {} (run `artemo train --preset demo` first)",
                            models.join("demo/pacl").display()
                        ))
                    })?;
                ImageEncoder::Grid(Box::new(PaclTowerGrid::load(models, rel, device)?))
            }
            EmosemInit::Checkpoint(dir) => {
                let cfg = EmosemConfig::load(&dir.join("config.json"))?;
                ImageEncoder::open(&cfg.image, models, None, device)?
            }
        };
        Ok(MaskParts { tok, encoder })
    }
}

/// A trainable model: fresh over the parts' grid tower, or a checkpoint's weights copied
/// into new variables.
fn build_model(
    init: &EmosemInit,
    parts: &MaskParts,
    seed: u64,
    device: &Device,
) -> Result<(Emosem, VarMap, EmosemConfig)> {
    match init {
        EmosemInit::Scratch {
            paradigm,
            explainer_width,
            explainer_layers,
        } => {
            let ImageEncoder::Grid(tower) = &parts.encoder else {
                return Err(Error::Invalid(
                    "a new EmoSEM is built over a grid tower".into(),
                ));
            };
            if *explainer_width < 8 || !explainer_width.is_multiple_of(2) {
                return Err(Error::Invalid(format!(
                    "explainer width {explainer_width} must be an even number of at least 8"
                )));
            }
            let kit = KitEmosemConfig {
                explainer_width: *explainer_width,
                explainer_layers: (*explainer_layers).max(1),
                ..KitEmosemConfig::full(seed)
            };
            let mut cfg = kit.model_config(&**tower);
            cfg.paradigm = *paradigm;
            cfg.validate()?;
            let prompts = prompt_ids(&cfg, &parts.tok)?;
            let vm = VarMap::new();
            Emosem::from_varmap(&cfg, &vm, prompts.clone(), device)?;
            crate::models::nn::reseed(&vm, seed)?;
            let model = Emosem::from_varmap(&cfg, &vm, prompts, device)?;
            Ok((model, vm, cfg))
        }
        EmosemInit::Checkpoint(dir) => {
            let cfg = EmosemConfig::load(&dir.join("config.json"))?;
            let prompts = prompt_ids(&cfg, &parts.tok)?;
            let file = dir.join("model.safetensors");
            let w = Weights::load(&file, device)?;
            let vm = VarMap::new();
            Emosem::new(
                &cfg,
                VarBuilder::from_varmap(&vm, DType::F32, device),
                prompts.clone(),
            )?;
            let report = w.load_into(&vm)?;
            if let Some(m) = report.missing.first() {
                return Err(Error::at(
                    &file,
                    format!("tensor `{m}`"),
                    format!(
                        "missing ({} of {} variables absent): not a checkpoint of this configuration",
                        report.missing.len(),
                        report.missing.len() + report.loaded.len()
                    ),
                ));
            }
            let model = Emosem::from_varmap(&cfg, &vm, prompts, device)?;
            Ok((model, vm, cfg))
        }
    }
}

/// A painting ready for the model: its features and targets at the mask resolution.
struct Prepared {
    painting: String,
    content: (f32, f32),
    item: TrainItem,
}

fn prepare(
    examples: &[RegionExample],
    parts: &MaskParts,
    side: usize,
    device: &Device,
    progress: &dyn Fn(f32, &str),
    what: &str,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, ex) in examples.iter().enumerate() {
        if cancelled() {
            return Err(Error::Cancelled);
        }
        progress(
            0.0,
            &format!("{what} image features {}/{}", i + 1, examples.len()),
        );
        let features = parts.encoder.encode_file(&ex.image, device)?;
        let content = parts.encoder.content_share(ex.size.0, ex.size.1);
        let targets = ex
            .targets
            .iter()
            .map(|t| {
                Ok(Target {
                    emotion: t.emotion,
                    mask: t.rasterize(ex.size, side, content),
                    tokens: match &t.explanation {
                        Some(s) => parts.tok.encode(s)?,
                        None => Vec::new(),
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(Prepared {
            painting: ex.painting.clone(),
            content,
            item: TrainItem { features, targets },
        });
    }
    Ok(out)
}

/// The validation metrics of `model` on `val`, and the probe regions of the first
/// `probes` paintings.
fn evaluate(
    model: &Emosem,
    val: &[Prepared],
    probes: usize,
    tok: &TextTokenizer,
    cancelled: &dyn Fn() -> bool,
) -> Result<(BTreeMap<String, f64>, Vec<MaskProbe>)> {
    let side = model.config().mask_side();
    let (mut mask_sum, mut queries_n) = (0f64, 0usize);
    let (mut lm_sum, mut lm_n) = (0f64, 0usize);
    let mut samples: Vec<(String, ScoreMap, Mask)> = Vec::new();
    let mut maps: HashMap<String, Vec<f32>> = HashMap::new();
    for chunk in val.chunks(4) {
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let items: Vec<&TrainItem> = chunk
            .iter()
            .map(|p| &p.item)
            .filter(|i| !i.targets.is_empty())
            .collect();
        if items.is_empty() {
            continue;
        }
        let pass = forward_batch(model, &items, Mode::Infer)?;
        let per_query: Vec<f32> = pass.mask_per_query.to_vec1()?;
        mask_sum += per_query.iter().map(|&v| v as f64).sum::<f64>();
        queries_n += per_query.len();
        if let Some(l) = pass.explanation {
            let n = items
                .iter()
                .flat_map(|i| &i.targets)
                .filter(|t| !t.tokens.is_empty())
                .count();
            lm_sum += l.to_scalar::<f32>()? as f64 * n as f64;
            lm_n += n;
        }
        // The queries follow the paintings' targets in order.
        let mut truth = Vec::new();
        let mut keys = Vec::new();
        for p in chunk {
            for t in &p.item.targets {
                truth.extend_from_slice(&t.mask);
                keys.push(format!("{}_{}", p.painting, t.emotion.name()));
            }
        }
        let decoded = pass.decoded;
        let probs = super::losses::sigmoid(&decoded.masks.to_dtype(DType::F32)?)?;
        for (q, key) in keys.into_iter().enumerate() {
            let p: Vec<f32> = probs.get(q)?.flatten_all()?.to_vec1()?;
            let gt: Vec<u8> = truth[q * side * side..(q + 1) * side * side]
                .iter()
                .map(|&v| (v >= 0.5) as u8)
                .collect();
            samples.push((
                key.clone(),
                ScoreMap::new(side, side, p.clone())?,
                Mask::from_values(side, side, &gt)?,
            ));
            maps.insert(key, p);
        }
    }
    let mut metrics = BTreeMap::new();
    if queries_n > 0 {
        metrics.insert("val mask loss".to_string(), mask_sum / queries_n as f64);
    }
    if lm_n > 0 {
        metrics.insert("val explanation loss".to_string(), lm_sum / lm_n as f64);
    }
    let report = evaluate_segmentation(&samples)?;
    if report.samples > 0 {
        metrics.insert("mean IoU".to_string(), report.seg.mean_iou);
        metrics.insert("Pr@25".to_string(), report.seg.pr25);
        metrics.insert("Pr@50".to_string(), report.seg.pr50);
    }
    let ious: HashMap<&str, f64> = report
        .per_sample
        .iter()
        .map(|s| (s.key.as_str(), s.seg))
        .collect();
    // Probes: every region of the first paintings, with a generated explanation.
    let mut out = Vec::new();
    for p in val.iter().take(probes) {
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let emotions: Vec<Emotion> = p.item.targets.iter().map(|t| t.emotion).collect();
        if emotions.is_empty() {
            continue;
        }
        let (_, ids) = model.analyze(&p.item.features, &emotions)?;
        for (k, t) in p.item.targets.iter().enumerate() {
            let key = format!("{}_{}", p.painting, t.emotion.name());
            out.push(MaskProbe {
                painting: p.painting.clone(),
                emotion: t.emotion,
                side,
                content: p.content,
                map: maps.get(&key).cloned().unwrap_or_default(),
                truth: t.mask.clone(),
                iou: ious.get(key.as_str()).copied(),
                explanation: tok.decode(&ids[k])?.trim().to_string(),
            });
        }
    }
    Ok((metrics, out))
}

/// Runs a session. `emit` receives every [`MaskSessionEvent`]; `progress` gets (fraction,
/// message) for the setup and every step; `cancelled` aborts without saving, while
/// [`Control::stop`] finishes the current step, evaluates and saves.
#[allow(clippy::too_many_arguments)]
pub fn run(
    corpus: &RegionCorpus,
    cfg: &EmosemSessionConfig,
    parts: &MaskParts,
    protected: &[PathBuf],
    device: &Device,
    control: &Control,
    emit: &mut dyn FnMut(MaskSessionEvent),
    progress: &dyn Fn(f32, &str),
    cancelled: &dyn Fn() -> bool,
) -> Result<Summary> {
    let mut protected = protected.to_vec();
    if let EmosemInit::Checkpoint(d) = &cfg.init {
        protected.push(d.clone());
    }
    check_output_dir(&cfg.out, &protected)?;
    let (model, vm, mcfg) = build_model(&cfg.init, parts, cfg.train.seed, device)?;
    let side = mcfg.mask_side();
    let train_p = prepare(
        &corpus.train,
        parts,
        side,
        device,
        progress,
        "training",
        cancelled,
    )?;
    let val_p = prepare(
        &corpus.val,
        parts,
        side,
        device,
        progress,
        "validation",
        cancelled,
    )?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    let data: Vec<TrainItem> = train_p.into_iter().map(|p| p.item).collect();
    let explains = data
        .iter()
        .any(|i| i.targets.iter().any(|t| !t.tokens.is_empty()));
    let parameters = crate::train::count_params(&crate::train::vars_with_prefix(
        &vm,
        &mcfg.trainable_prefixes(),
    ));
    let total_steps = cfg.train.steps;
    write_atomic(
        &cfg.out.join("session.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "source": corpus.source,
            "notes": corpus.notes,
            "config": cfg,
            "model": mcfg,
        }))
        .map_err(|e| Error::Invalid(format!("session: {e}")))?
        .as_bytes(),
    )?;
    let paradigm = match mcfg.paradigm {
        Paradigm::Single => "Single-Mask",
        Paradigm::Multi => "Multi-Masks",
    };
    emit(MaskSessionEvent::Prepared(MaskPrepared {
        source: corpus.source.clone(),
        model: format!(
            "EmoSEM {paradigm} ({} mask decoder, explainer {} layers x {} wide; masks {side}x{side})",
            match mcfg.finetune {
                super::Finetune::MaskDecoder => "whole",
                super::Finetune::MaskHead => "frozen mixer,",
            },
            mcfg.explainer.n_layer,
            mcfg.explainer.n_embd
        ),
        train: (
            corpus.train.len(),
            data.iter().map(|i| i.targets.len()).sum(),
        ),
        val: (
            corpus.val.len(),
            val_p.iter().map(|p| p.item.targets.len()).sum(),
        ),
        explains,
        parameters,
        total_steps,
        probes: corpus
            .val
            .iter()
            .take(cfg.probes)
            .map(|e| (e.painting.clone(), e.image.clone()))
            .collect(),
        notes: corpus.notes.clone(),
        out: cfg.out.clone(),
    }));

    let mut store =
        CheckpointStore::new(&cfg.out, cfg.keep, cfg.best_by.name(), cfg.best_by.goal())?;
    let per_epoch = data.len().div_ceil(cfg.train.batch_images.max(1)).max(1);
    let epoch_of = |step: usize| step.div_ceil(per_epoch).max(1);
    let history: RefCell<Vec<MaskEval>> = RefCell::new(Vec::new());
    let store_cell = RefCell::new(&mut store);
    let emit_cell = RefCell::new(emit);
    let checkpoint = |step: usize| -> Result<()> {
        let t0 = Instant::now();
        let (metrics, probes) = evaluate(&model, &val_p, cfg.probes, &parts.tok, cancelled)?;
        let rec = MaskEval {
            step,
            epoch: epoch_of(step),
            metrics,
            probes,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let mut st = store_cell.borrow_mut();
        st.save(step, rec.epoch, rec.metrics.clone(), |d| {
            super::save(&mcfg, &vm, d)
        })?;
        let list = st.list().to_vec();
        drop(st);
        history.borrow_mut().push(rec.clone());
        // The history keeps the metrics; the probe maps stay out of it.
        let slim: Vec<serde_json::Value> = history
            .borrow()
            .iter()
            .map(|h| {
                serde_json::json!({
                    "step": h.step,
                    "epoch": h.epoch,
                    "metrics": h.metrics,
                    "probes": h.probes.iter().map(|p| serde_json::json!({
                        "painting": p.painting,
                        "emotion": p.emotion.name(),
                        "iou": p.iou,
                        "explanation": p.explanation,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let h = serde_json::to_string_pretty(&slim)
            .map_err(|e| Error::Invalid(format!("history: {e}")))?;
        write_atomic(&cfg.out.join("history.json"), h.as_bytes())?;
        let mut em = emit_cell.borrow_mut();
        (*em)(MaskSessionEvent::Eval(rec));
        (*em)(MaskSessionEvent::Checkpoints(list));
        Ok(())
    };

    let started = Instant::now();
    let failure: RefCell<Option<Error>> = RefCell::new(None);
    let last: RefCell<usize> = RefCell::new(0);
    let last_eval: RefCell<usize> = RefCell::new(0);
    let every = cfg.eval_every.max(1);
    let result = train_model(
        &model,
        &vm,
        &data,
        &cfg.train,
        |s| {
            *last.borrow_mut() = s.step;
            let (active, eta) = control.timing(started, s.step, s.steps);
            {
                let mut em = emit_cell.borrow_mut();
                (*em)(MaskSessionEvent::Step(MaskStep {
                    progress: s,
                    active_s: active,
                    eta_s: eta,
                }));
            }
            progress(
                s.step as f32 / s.steps.max(1) as f32,
                &format!(
                    "step {}/{} · epoch {} · mask loss {:.3}",
                    s.step,
                    s.steps,
                    epoch_of(s.step),
                    s.mask_loss
                ),
            );
            if s.step % every == 0 || s.step == s.steps {
                progress(
                    s.step as f32 / s.steps.max(1) as f32,
                    &format!("evaluating at step {}", s.step),
                );
                match checkpoint(s.step) {
                    Ok(()) => *last_eval.borrow_mut() = s.step,
                    Err(e) => *failure.borrow_mut() = Some(e),
                }
            }
        },
        || failure.borrow().is_none() && control.gate(cancelled),
    );
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    let stopped = control.outcome(result, cancelled)?;
    let done = *last.borrow();
    if done > 0 && *last_eval.borrow() != done {
        progress(
            done as f32 / total_steps.max(1) as f32,
            &format!("stopped: evaluating and saving step {done}"),
        );
        checkpoint(done)?;
    }
    let evaluations = history.borrow().len();
    let checkpoints = store_cell.borrow().list().to_vec();
    Ok(Summary {
        steps: done,
        total_steps,
        stopped,
        checkpoints,
        evaluations,
    })
}

/// Where a session's regions come from (built on the engine).
#[derive(Debug, Clone)]
pub enum MaskDataSource {
    /// Artemo's stimulus regions on the shipped paintings.
    Shipped,
    /// An APOLO root over an open collection's paintings (id -> file).
    Apolo {
        /// `apolo.json`.
        json: PathBuf,
        /// The maps' folder (default: `apolo_pixel_map/` beside the JSON).
        maps: Option<PathBuf>,
        /// The collection's images.
        images: BTreeMap<String, PathBuf>,
    },
}

/// The engine job of the Train tab's EmoSEM sessions: streams [`MaskSessionEvent`]s as
/// `JobOutput::MaskSession` partials and ends with a [`Summary`] (`JobOutput::SessionSummary`). The output
/// folder may not touch `models/demo` or installed EmoSEM weights.
pub fn session_job(
    source: MaskDataSource,
    cfg: EmosemSessionConfig,
    assets: PathBuf,
    models: PathBuf,
    control: Arc<Control>,
) -> JobFn {
    Box::new(move |ctx: &JobContext| {
        ctx.progress(0.0, "reading the regions");
        let mut corpus = match &source {
            MaskDataSource::Shipped => RegionCorpus::shipped(&assets)?,
            MaskDataSource::Apolo { json, maps, images } => {
                RegionCorpus::apolo(json, maps.as_deref(), images)?
            }
        };
        if cfg.max_paintings > 0 {
            corpus.limit(cfg.max_paintings);
        }
        ctx.check()?;
        ctx.progress(0.0, "loading the model's parts");
        let parts = MaskParts::load(&cfg.init, &assets, &models, ctx.device())?;
        let protected = [models.join("demo"), models.join("emosem")];
        let summary = run(
            &corpus,
            &cfg,
            &parts,
            &protected,
            ctx.device(),
            &control,
            &mut |ev| ctx.partial(JobOutput::MaskSession(Box::new(ev))),
            &|f, m| ctx.progress(f, m),
            &|| ctx.is_cancelled(),
        )?;
        ctx.progress(1.0, "done");
        Ok(JobOutput::SessionSummary(Box::new(summary)))
    })
}

#[cfg(test)]
mod tests;
