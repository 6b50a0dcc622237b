//! An interactive EmoSEM training session (the Train tab with the EmoSEM model) as a
//! [`Trainable`] for the one generic session ([`crate::train::session::run_session`]):
//! data from Artemo's own stimulus regions, an APOLO root (masks only: the explanation
//! loss is skipped for its regions) or a pseudo-mask folder ([`RegionCorpus`]), a model
//! from scratch (the demo kit's small Single-Mask or Multi-Masks layout over the frozen
//! PACL patch tower) or from a checkpoint folder (e.g. `models/demo/emosem`), EmoSEM's
//! training steps ([`Trainer`]), evaluation on held-out paintings (mask and explanation
//! loss, APOLO's mean IoU, Pr@25 and Pr@50 at the model's mask resolution) and a fixed
//! probe set of validation paintings whose masks and explanations are regenerated at
//! every evaluation.

mod corpus;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::features::ImageEncoder;
use super::features::PaclTowerGrid;
use super::paper_train::{self, PaperParts, PaperPaths};
use super::recipe::KitEmosemConfig;
use super::train::{forward_batch, Target, TrainConfig, TrainItem, Trainer};
use super::{prompt_ids, Emosem, EmosemConfig, Finetune, ImageSource, Paradigm};
use crate::annotations::mask::Mask;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::metrics::segmentation::{evaluate_segmentation, ScoreMap};
use crate::models::nn::Mode;
use crate::progress::Progress;
use crate::tokenize::TextTokenizer;
use crate::train::events::{
    DataCounts, Evaluation, Prepared as SessionPrepared, Probe, ProbePainting, RegionProbe,
    StepLosses,
};
use crate::train::session::SessionInputs;
use crate::train::{BestBy, Metric, ModelSetup, SessionParts, Trainable};

pub use corpus::{Region, RegionCorpus, RegionExample, RegionTarget};

/// An EmoSEM session's settings.
pub type SessionConfig = crate::train::session::SessionConfig<EmosemSetup>;

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
    /// The paper's layout over installed (or given) SAM, CLIP ViT-B/16 and GPT-2 weights
    /// ([`crate::emosem::paper_train`]).
    Paper {
        /// Single-Mask (the paper's default) or Multi-Masks.
        paradigm: Paradigm,
        /// FT-MH (the paper's default) or FT-MD.
        finetune: Finetune,
        /// Checkpoints given explicitly (the installed ones otherwise).
        paths: PaperPaths,
    },
}

/// EmoSEM's half of a [`SessionConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmosemSetup {
    /// Training hyper-parameters (the paper's learning rates by default).
    pub train: TrainConfig,
    /// Where the model starts.
    pub init: EmosemInit,
}

impl Default for EmosemSetup {
    fn default() -> Self {
        let kit = KitEmosemConfig::full(2026);
        EmosemSetup {
            train: TrainConfig::default(),
            init: EmosemInit::Scratch {
                paradigm: Paradigm::Multi,
                explainer_width: kit.explainer_width,
                explainer_layers: kit.explainer_layers,
            },
        }
    }
}

impl ModelSetup for EmosemSetup {
    const MODEL: &'static str = "emosem";
    const BEST_BY: &'static [BestBy] = &[BestBy::MeanIou, BestBy::Pr25, BestBy::ValMaskLoss];
    const HEADLINE: Metric = Metric::MaskLoss;

    fn init_checkpoint(&self) -> Option<&Path> {
        match &self.init {
            EmosemInit::Checkpoint(d) => Some(d),
            EmosemInit::Scratch { .. } | EmosemInit::Paper { .. } => None,
        }
    }
}

/// The tokenizer and the frozen image encoder a session needs.
pub struct Parts {
    /// GPT-2 tokenizer.
    pub tok: TextTokenizer,
    /// The frozen image side (a grid tower for a new model).
    pub encoder: ImageEncoder,
    /// SAM's and GPT-2's pretrained tensors for a new paper-layout model.
    pub paper: Option<PaperParts>,
}

impl SessionParts<EmosemSetup> for Parts {
    /// Loads the shipped tokenizer and the encoder the setup's `init` needs: the demo kit's PACL tower
    /// (`models/demo/pacl`, then `models/pacl`) for a new model, the one the checkpoint's
    /// configuration names otherwise.
    fn load(setup: &EmosemSetup, assets: &Path, models: &Path, device: &Device) -> Result<Parts> {
        let init = &setup.init;
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
                let cache = match cfg.image {
                    ImageSource::Paper { .. } => paper_train::cache_dir(),
                    ImageSource::Grid { .. } => None,
                };
                ImageEncoder::open(&cfg.image, models, cache.as_deref(), device)?
            }
            EmosemInit::Paper { paths, .. } => {
                let weights = paper_train::locate(paths, models)?;
                let source = ImageSource::Paper {
                    sam: weights.sam.to_string_lossy().into_owned(),
                    clip: weights.clip.to_string_lossy().into_owned(),
                };
                let cache = paper_train::cache_dir();
                let encoder = ImageEncoder::open(&source, models, cache.as_deref(), device)?;
                let clip_width = match &encoder {
                    ImageEncoder::Paper { clip, .. } => clip.config().hidden_size,
                    ImageEncoder::Grid(_) => 0,
                };
                let paper = PaperParts::load(weights, clip_width, device)?;
                return Ok(Parts {
                    tok,
                    encoder,
                    paper: Some(paper),
                });
            }
        };
        Ok(Parts {
            tok,
            encoder,
            paper: None,
        })
    }
}

/// A trainable model: fresh over the parts' grid tower, or a checkpoint's weights copied
/// into new variables.
fn build_model(
    init: &EmosemInit,
    parts: &Parts,
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
                // No language pretraining here, and guidance without it shrank the rare
                // emotions' explanations to "The." (`docs/emosem.md`).
                guidance: 0.0,
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
            let vm = VarMap::new();
            Emosem::new(
                &cfg,
                VarBuilder::from_varmap(&vm, DType::F32, device),
                prompts.clone(),
            )?;
            paper_train::fill_model_vars(&cfg, &vm, dir, device)?;
            let model = Emosem::from_varmap(&cfg, &vm, prompts, device)?;
            Ok((model, vm, cfg))
        }
        EmosemInit::Paper {
            paradigm, finetune, ..
        } => {
            let paper = parts.paper.as_ref().ok_or_else(|| {
                Error::Invalid("a paper-layout EmoSEM needs its SAM and GPT-2 weights".into())
            })?;
            paper.build(*paradigm, *finetune, seed, &parts.tok, device)
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
    parts: &Parts,
    side: usize,
    device: &Device,
    progress: &dyn Progress,
    what: &str,
) -> Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, ex) in examples.iter().enumerate() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        progress.report(
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
    progress: &dyn Progress,
) -> Result<(BTreeMap<Metric, f64>, Vec<Probe>)> {
    let side = model.config().mask_side();
    let (mut mask_sum, mut queries_n) = (0f64, 0usize);
    let (mut lm_sum, mut lm_n) = (0f64, 0usize);
    let mut samples: Vec<(String, ScoreMap, Mask)> = Vec::new();
    let mut maps: HashMap<String, Vec<f32>> = HashMap::new();
    for chunk in val.chunks(4) {
        if progress.cancelled() {
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
        metrics.insert(Metric::ValMaskLoss, mask_sum / queries_n as f64);
    }
    if lm_n > 0 {
        metrics.insert(Metric::ValExplanationLoss, lm_sum / lm_n as f64);
    }
    let report = evaluate_segmentation(&samples)?;
    if report.samples > 0 {
        metrics.insert(Metric::MeanIou, report.seg.mean_iou);
        metrics.insert(Metric::Pr25, report.seg.pr25);
        metrics.insert(Metric::Pr50, report.seg.pr50);
    }
    let ious: HashMap<&str, f64> = report
        .per_sample
        .iter()
        .map(|s| (s.key.as_str(), s.seg))
        .collect();
    // Probes: every region of the first paintings, with a generated explanation.
    let mut out = Vec::new();
    for p in val.iter().take(probes) {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let emotions: Vec<Emotion> = p.item.targets.iter().map(|t| t.emotion).collect();
        if emotions.is_empty() {
            continue;
        }
        let (_, ids) = model.analyze(&p.item.features, &emotions)?;
        for (k, t) in p.item.targets.iter().enumerate() {
            let key = format!("{}_{}", p.painting, t.emotion.name());
            out.push(Probe::Region(RegionProbe {
                painting: p.painting.clone(),
                emotion: t.emotion,
                side,
                content: p.content,
                map: maps.get(&key).cloned().unwrap_or_default(),
                truth: t.mask.clone(),
                iou: ious.get(key.as_str()).copied(),
                explanation: tok.decode(&ids[k])?.trim().to_string(),
            }));
        }
    }
    Ok((metrics, out))
}

/// An EmoSEM being trained: the model, its prepared data and what evaluation needs.
pub struct EmosemSession {
    model: Emosem,
    vm: VarMap,
    mcfg: EmosemConfig,
    tok: TextTokenizer,
    data: Vec<TrainItem>,
    val: Vec<Prepared>,
    probes: usize,
    per_epoch: usize,
    trainer: Trainer,
}

impl Trainable for EmosemSession {
    type Setup = EmosemSetup;
    type Data = RegionCorpus;
    type Parts = Parts;
    type Model = Emosem;
    type Config = EmosemConfig;

    fn prepare(
        inputs: &SessionInputs<'_, Self>,
        progress: &dyn Progress,
    ) -> Result<(Self, SessionPrepared)> {
        let mut tc = inputs.cfg.model.train.clone();
        let (model, vm, mcfg) = build_model(
            &inputs.cfg.model.init,
            inputs.parts,
            inputs.cfg.model.train.seed,
            inputs.device,
        )?;
        let side = mcfg.mask_side();
        let train_p = prepare(
            &inputs.data.train,
            inputs.parts,
            side,
            inputs.device,
            progress,
            "training",
        )?;
        let val_p = prepare(
            &inputs.data.val,
            inputs.parts,
            side,
            inputs.device,
            progress,
            "validation",
        )?;
        let data: Vec<TrainItem> = train_p.into_iter().map(|p| p.item).collect();
        if data.is_empty() {
            return Err(Error::Invalid("EmoSEM training: no data".into()));
        }
        let explains = data
            .iter()
            .any(|i| i.targets.iter().any(|t| !t.tokens.is_empty()));
        let parameters = crate::train::count_params(&crate::train::vars_with_prefix(
            &vm,
            &mcfg.trainable_prefixes(),
        ));
        let paradigm = match mcfg.paradigm {
            Paradigm::Single => "Single-Mask",
            Paradigm::Multi => "Multi-Masks",
        };
        let mut notes = inputs.data.notes.clone();
        notes.push(format!(
            "{} image(s) per step x {} accumulation step(s) = {} per optimiser step{}",
            tc.batch_images.max(1),
            tc.accumulate.max(1),
            tc.batch_images.max(1) * tc.accumulate.max(1),
            match tc.epochs {
                Some(e) => format!(", {e} epoch(s)"),
                None => String::new(),
            }
        ));
        if mcfg.trainable_only {
            notes.push(
                "checkpoints hold the trainable variables only; the frozen ones are read from the SAM checkpoint".into(),
            );
        }
        let mut prepared = SessionPrepared {
            source: inputs.data.source.clone(),
            model: format!(
                "EmoSEM {paradigm}{} ({} mask decoder, explainer {} layers x {} wide; masks {side}x{side})",
                match mcfg.image {
                    ImageSource::Paper { .. } => ", paper layout (SAM + CLIP + GPT-2)",
                    ImageSource::Grid { .. } => "",
                },
                match mcfg.finetune {
                    Finetune::MaskDecoder => "FT-MD: whole",
                    Finetune::MaskHead => "FT-MH: frozen mixer,",
                },
                mcfg.explainer.n_layer,
                mcfg.explainer.n_embd
            ),
            data: DataCounts::Regions {
                train: (
                    inputs.data.train.len(),
                    data.iter().map(|i| i.targets.len()).sum(),
                ),
                val: (
                    inputs.data.val.len(),
                    val_p.iter().map(|p| p.item.targets.len()).sum(),
                ),
                explains,
            },
            parameters,
            device: crate::device::describe(inputs.device),
            total_steps: inputs.cfg.model.train.steps,
            probes: inputs.data
                .val
                .iter()
                .take(inputs.cfg.probes)
                .map(|e| ProbePainting {
                    id: e.painting.clone(),
                    image: e.image.clone(),
                    human: None,
                })
                .collect(),
            notes,
            out: inputs.cfg.out.clone(),
        };
        let per_epoch = data
            .len()
            .div_ceil(tc.batch_images.max(1) * tc.accumulate.max(1))
            .max(1);
        if let Some(e) = tc.epochs {
            tc.steps = e.max(1) * per_epoch;
        }
        prepared.total_steps = tc.steps;
        let trainer = Trainer::new(&mcfg, &vm, &tc)?;
        let session = EmosemSession {
            model,
            vm,
            mcfg,
            tok: inputs.parts.tok.clone(),
            data,
            val: val_p,
            probes: inputs.cfg.probes,
            per_epoch,
            trainer,
        };
        Ok((session, prepared))
    }

    fn model_config(&self) -> &EmosemConfig {
        &self.mcfg
    }

    fn has_next(&self) -> bool {
        self.trainer.has_next()
    }

    fn train_step(&mut self) -> Result<Option<StepLosses>> {
        let s = self.trainer.step(&self.model, &self.data)?;
        let mut losses = BTreeMap::from([(Metric::MaskLoss, s.mask_loss as f64)]);
        if s.lm_loss > 0.0 {
            losses.insert(Metric::ExplanationLoss, s.lm_loss as f64);
        }
        Ok(Some(StepLosses {
            step: s.step,
            epoch: s.step.div_ceil(self.per_epoch).max(1),
            losses,
        }))
    }

    fn evaluate(&self, progress: &dyn Progress) -> Result<Evaluation> {
        let (metrics, probes) = evaluate(&self.model, &self.val, self.probes, &self.tok, progress)?;
        Ok(Evaluation { metrics, probes })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        super::save(dir, &self.mcfg, &self.vm)
    }

    fn load(dir: &Path, parts: &Parts, device: &Device) -> Result<Emosem> {
        Emosem::load(dir, &parts.tok, device)
    }
}
