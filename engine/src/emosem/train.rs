//! EmoSEM training: data from the shipped stimulus annotations
//! (`assets/annotations/stimuli.json` polygons rasterised at the mask resolution, with
//! their utterances as explanations) and the training loop (Dice + Focal + cross-entropy,
//! AdamW with the paper's learning-rate groups), with progress and cancellation for the
//! engine and the demo-kit pipeline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::features::ImageFeatures;
use super::losses::mask_loss;
use super::{Decoded, Emosem, EmosemConfig, Paradigm, Query};
use crate::annotations::artemis::Split;
use crate::annotations::dataset::read_splits;
use crate::annotations::stimuli::{rasterize, read_stimuli};
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::nn::Mode;
use crate::progress::Progress;
use crate::tokenize::TextTokenizer;
use crate::train::{vars_with_prefix, AdamW, AdamWParams, Schedule};

/// One supervised emotion of an image.
#[derive(Debug, Clone)]
pub struct Target {
    /// The emotion.
    pub emotion: Emotion,
    /// The 0/1 mask at the model's mask resolution, row-major (`mask_side²` values).
    pub mask: Vec<f32>,
    /// The explanation's GPT-2 ids (empty: mask only).
    pub tokens: Vec<u32>,
}

/// One training image: its frozen features (`[1, ...]`) and its targets.
#[derive(Debug, Clone)]
pub struct TrainItem {
    /// Frozen image features of this one image.
    pub features: ImageFeatures,
    /// Its supervised emotions.
    pub targets: Vec<Target>,
}

/// One annotated painting before its features are computed.
#[derive(Debug, Clone)]
pub struct StimulusExample {
    /// Painting id.
    pub painting: String,
    /// The image file.
    pub image: PathBuf,
    /// Targets at the mask resolution.
    pub targets: Vec<Target>,
}

/// Reads the stimulus annotations of `split` (all splits when `None`) and rasterises each
/// region at `mask_side` x `mask_side`, in the frame where the image covers the top-left
/// share `content(width, height)` = (height share, width share) (1, 1 for squashed grid
/// towers; SAM's padding otherwise). Explanations are the regions' utterances.
pub fn load_stimuli(
    assets: &Path,
    split: Option<Split>,
    mask_side: usize,
    content: impl Fn(u32, u32) -> (f32, f32),
    tok: &TextTokenizer,
) -> Result<Vec<StimulusExample>> {
    let ann = assets.join("annotations");
    let stimuli = read_stimuli(&ann.join("stimuli.json"))?;
    let splits = read_splits(&ann.join("SPLITS.csv"))?;
    let collection = Collection::open_manifest(&assets.join("paintings/aic/paintings.csv"))?;
    let mut by_painting: BTreeMap<String, StimulusExample> = BTreeMap::new();
    for s in stimuli {
        if let Some(want) = split {
            if splits.get(&s.painting) != Some(&want) {
                continue;
            }
        }
        let p = collection.get(&s.painting).ok_or_else(|| {
            Error::Invalid(format!(
                "stimuli.json: painting {} is not in the collection",
                s.painting
            ))
        })?;
        let (w, h) = match (p.width, p.height) {
            (Some(w), Some(h)) => (w, h),
            _ => image::image_dimensions(&p.path)
                .map_err(|e| Error::image(&p.path, e.to_string()))?,
        };
        let (ch, cw) = content(w, h);
        let sx = cw * mask_side as f32 / w as f32;
        let sy = ch * mask_side as f32 / h as f32;
        let polys: Vec<Vec<[f32; 2]>> = s
            .polygons
            .iter()
            .map(|poly| poly.iter().map(|[x, y]| [x * sx, y * sy]).collect())
            .collect();
        let m = rasterize(&polys, mask_side, mask_side);
        let tokens = tok.encode(s.utterance.trim())?;
        by_painting
            .entry(s.painting.clone())
            .or_insert_with(|| StimulusExample {
                painting: s.painting.clone(),
                image: p.path.clone(),
                targets: Vec::new(),
            })
            .targets
            .push(Target {
                emotion: s.emotion,
                mask: m.data.iter().map(|&v| v as f32).collect(),
                tokens,
            });
    }
    Ok(by_painting.into_values().collect())
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Optimiser steps (replaced by `epochs` when that is set).
    pub steps: usize,
    /// Epochs: when set, a session trains `epochs x ceil(images / (batch_images x
    /// accumulate))` optimiser steps instead of `steps` (the paper: 10, Sec. 4.1 / Tab. 3).
    pub epochs: Option<usize>,
    /// Images per micro-batch (the paper: 4 per step).
    pub batch_images: usize,
    /// Micro-batches whose gradients are summed (each loss scaled by 1 / `accumulate`)
    /// before one optimiser step: the effective batch is `batch_images x accumulate` (the
    /// paper: 4 x 4 = 16, Sec. 4.1).
    pub accumulate: usize,
    /// Learning rate of the explainer (the paper: 2e-4).
    pub lr_explainer: f64,
    /// Learning rate of the emotion projector, mask head, prefix projector, neck and
    /// visual projection; `None`: the paper's 1e-4 (Single-Mask) or 8e-5 (Multi-Masks).
    pub lr_mask: Option<f64>,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Linear warm-up steps (then linear decay to 0).
    pub warmup: usize,
    /// Global gradient-norm clip.
    pub clip: Option<f64>,
    /// Weight of the explanation loss.
    pub lm_weight: f64,
    /// Shuffling seed.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 1000,
            epochs: None,
            batch_images: 4,
            accumulate: 1,
            lr_explainer: 2e-4,
            lr_mask: None,
            weight_decay: 0.01,
            warmup: 0,
            clip: Some(1.0),
            lm_weight: 1.0,
            seed: 2025,
        }
    }
}

/// Progress of a training run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrainProgress {
    /// Steps done.
    pub step: usize,
    /// Total steps.
    pub steps: usize,
    /// Mask loss (Dice + Focal) of this step.
    pub mask_loss: f32,
    /// Explanation loss of this step (0 without explanations).
    pub lm_loss: f32,
}

/// What a training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Steps done.
    pub steps: usize,
    /// Mean mask loss over the first tenth of the steps.
    pub first_mask_loss: f32,
    /// Mean mask loss over the last tenth of the steps.
    pub last_mask_loss: f32,
    /// Mean explanation loss over the last tenth of the steps.
    pub last_lm_loss: f32,
    /// Trainable parameters.
    pub trainable_params: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The optimiser for `cfg` over `vm`: the explainer at `lr_explainer`, the other trainable
/// variables at the mask-side rate.
pub fn optimizer(cfg: &EmosemConfig, vm: &VarMap, tc: &TrainConfig) -> Result<AdamW> {
    let lr_mask = tc.lr_mask.unwrap_or(match cfg.paradigm {
        Paradigm::Single => 1e-4,
        Paradigm::Multi => 8e-5,
    });
    let others: Vec<&str> = cfg
        .trainable_prefixes()
        .into_iter()
        .filter(|p| *p != "explainer.")
        .collect();
    let mut opt = AdamW::new(Schedule::Linear {
        warmup: tc.warmup,
        total: tc.steps,
    });
    if let Some(c) = tc.clip {
        opt = opt.with_clip(c);
    }
    let params = |lr| AdamWParams {
        weight_decay: tc.weight_decay,
        ..AdamWParams::with_lr(lr)
    };
    opt.add_group(
        vars_with_prefix(vm, &["explainer."]),
        params(tc.lr_explainer),
    )?;
    opt.add_group(vars_with_prefix(vm, &others), params(lr_mask))?;
    Ok(opt)
}

/// One batch through the model: one query per target (images in order, then their
/// targets in order), the decoded masks and prefixes, the mask loss per query `[Q]` and
/// the explanation loss (mean over the tokens of the targets that have one), if any.
pub struct BatchPass {
    /// The queries.
    pub queries: Vec<Query>,
    /// Mask logits `[Q, side, side]` and prefixes.
    pub decoded: Decoded,
    /// Dice + Focal per query, `[Q]`.
    pub mask_per_query: Tensor,
    /// The explanation loss, when some target has an explanation.
    pub explanation: Option<Tensor>,
}

/// Runs `items` through `model` (see [`BatchPass`]); a target whose mask is not at the
/// model's mask resolution, or a batch without targets, is an error.
pub fn forward_batch(model: &Emosem, items: &[&TrainItem], mode: Mode) -> Result<BatchPass> {
    let feats =
        ImageFeatures::stack(&items.iter().map(|i| i.features.clone()).collect::<Vec<_>>())?;
    let vision = model.vision_tokens(&feats)?;
    let dev = vision.device().clone();
    let mut queries = Vec::new();
    let mut masks = Vec::new();
    let mut tokens = Vec::new();
    let side = model.config().mask_side();
    for (i, item) in items.iter().enumerate() {
        for t in &item.targets {
            if t.mask.len() != side * side {
                return Err(Error::Invalid(format!(
                    "EmoSEM training: a {} mask has {} values, the model predicts {side}x{side}",
                    t.emotion.name(),
                    t.mask.len()
                )));
            }
            queries.push(Query {
                image: i,
                emotion: t.emotion,
            });
            masks.extend_from_slice(&t.mask);
            tokens.push(t.tokens.clone());
        }
    }
    if queries.is_empty() {
        return Err(Error::Invalid(
            "EmoSEM training: a batch without targets".into(),
        ));
    }
    let decoded = model.decode(&vision, &queries, mode)?;
    let target = Tensor::from_vec(masks, (queries.len(), side, side), &dev)?;
    let mask_per_query = mask_loss(&decoded.masks, &target)?;
    let memory = model.memory(&feats)?;
    let rows = Tensor::new(
        queries.iter().map(|q| q.image as u32).collect::<Vec<_>>(),
        &dev,
    )?;
    let memory = memory.index_select(&rows, 0)?;
    let explanation = model.explanation_loss(&decoded.prefixes, &memory, &tokens, mode)?;
    Ok(BatchPass {
        queries,
        decoded,
        mask_per_query,
        explanation,
    })
}

/// The losses of one batch: (mask loss, explanation loss if any). Single-Mask averages
/// the mask loss over queries; Multi-Masks sums it over each image's emotions and
/// averages over images (the paper's Eq. 10).
pub fn batch_loss(
    model: &Emosem,
    items: &[&TrainItem],
    mode: Mode,
) -> Result<(Tensor, Option<Tensor>)> {
    let pass = forward_batch(model, items, mode)?;
    let mask = match model.config().paradigm {
        Paradigm::Single => pass.mask_per_query.mean_all()?,
        Paradigm::Multi => (pass.mask_per_query.sum_all()? / items.len() as f64)?,
    };
    Ok((mask, pass.explanation))
}

/// Trains the model whose variables are in `vm` on `data`. `progress` is told after
/// every step ([`train_model`]); training stops with [`Error::Cancelled`] once it is
/// cancelled.
#[allow(clippy::too_many_arguments)]
pub fn train(
    cfg: &EmosemConfig,
    vm: &VarMap,
    prompt_ids: Vec<Vec<u32>>,
    data: &[TrainItem],
    tc: &TrainConfig,
    device: &Device,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    let model = Emosem::from_varmap(cfg, vm, prompt_ids, device)?;
    train_model(&model, vm, data, tc, progress)
}

/// EmoSEM's optimisation one step at a time: the optimizer, the shuffled order and the
/// step count. [`train_model`] runs it to the end; a session steps it under its control.
pub struct Trainer {
    opt: AdamW,
    rng: rand_chacha::ChaCha8Rng,
    order: Vec<usize>,
    step: usize,
    steps: usize,
    batch_images: usize,
    accumulate: usize,
    vars: Vec<Var>,
    lm_weight: f64,
    rehearsal: Option<(super::language::Rehearsal, Vec<Var>)>,
}

impl Trainer {
    /// An optimizer over the trainable variables of `vm` (the model's `cfg`).
    pub fn new(cfg: &EmosemConfig, vm: &VarMap, tc: &TrainConfig) -> Result<Self> {
        Ok(Trainer {
            opt: optimizer(cfg, vm, tc)?,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(tc.seed),
            order: Vec::new(),
            step: 0,
            steps: tc.steps,
            batch_images: tc.batch_images,
            accumulate: tc.accumulate.max(1),
            vars: vars_with_prefix(vm, &cfg.trainable_prefixes()),
            lm_weight: tc.lm_weight,
            rehearsal: None,
        })
    }

    /// Adds to every step's loss the language loss of rehearsed texts
    /// ([`super::language::Rehearsal`], read with random images of the data), weighted as
    /// the explanation loss; its gradients reach the explainer and the emotion embeddings
    /// of `vm` only (a text about no region says nothing to the mask side).
    pub fn with_rehearsal(mut self, r: super::language::Rehearsal, vm: &VarMap) -> Self {
        self.rehearsal = Some((r, super::language::language_vars(vm)));
        self
    }

    /// The next micro-batch of `data` in the shuffled order (reshuffled once it is used up).
    fn next_batch<'a>(&mut self, data: &'a [TrainItem]) -> Vec<&'a TrainItem> {
        let mut batch = Vec::with_capacity(self.batch_images);
        while batch.len() < self.batch_images.max(1).min(data.len()) {
            if self.order.is_empty() {
                self.order = (0..data.len()).collect();
                self.order.shuffle(&mut self.rng);
            }
            if let Some(i) = self.order.pop() {
                batch.push(&data[i]);
            }
        }
        batch
    }

    /// True while steps remain.
    pub fn has_next(&self) -> bool {
        self.step < self.steps
    }

    /// One optimiser step on the next `accumulate` micro-batches of `data` (never empty):
    /// their gradients summed by [`accumulate_gradients`], then one update. The reported
    /// losses are the micro-batches' mean.
    pub fn step(&mut self, model: &Emosem, data: &[TrainItem]) -> Result<TrainProgress> {
        if data.is_empty() {
            return Err(Error::Invalid("EmoSEM training: no data".into()));
        }
        let step = self.step;
        let n = self.accumulate.max(1);
        let batches: Vec<Vec<&TrainItem>> = (0..n).map(|_| self.next_batch(data)).collect();
        let mut acc = accumulate_gradients(model, &batches, &self.vars, self.lm_weight).map_err(
            |e| match e {
                Error::Invalid(m) if m.starts_with("diverged") => {
                    Error::Invalid(format!("EmoSEM training {m} at step {step}"))
                }
                other => other,
            },
        )?;
        if let Some((r, vars)) = &mut self.rehearsal {
            if let Some(loss) = r.next_loss(model, data)? {
                let v = loss.to_scalar::<f32>()?;
                if !v.is_finite() {
                    return Err(Error::Invalid(format!(
                        "EmoSEM training diverged (rehearsal loss {v}) at step {step}"
                    )));
                }
                add_gradients(&mut acc.grads, &(loss * self.lm_weight)?.backward()?, vars)?;
            }
        }
        self.opt.step_with(&acc.grads)?;
        self.step += 1;
        Ok(TrainProgress {
            step: step + 1,
            steps: self.steps,
            mask_loss: acc.mask_loss,
            lm_loss: acc.lm_loss,
        })
    }
}

/// The summed gradients of several micro-batches and their mean losses.
pub struct Accumulated {
    /// Gradients of the trainable variables, summed over the micro-batches.
    pub grads: GradStore,
    /// Mean mask loss of the micro-batches.
    pub mask_loss: f32,
    /// Mean explanation loss of the micro-batches (0 without explanations).
    pub lm_loss: f32,
}

/// Gradient accumulation: each micro-batch's loss (mask + `lm_weight` x explanation) is
/// scaled by 1 / the number of micro-batches and back-propagated, and its gradients on
/// `vars` are summed (the rest of each backward pass is dropped at once). For a loss that
/// is a mean over the batch, 4 micro-batches of 1 give the gradients of one batch of 4.
pub fn accumulate_gradients(
    model: &Emosem,
    batches: &[Vec<&TrainItem>],
    vars: &[Var],
    lm_weight: f64,
) -> Result<Accumulated> {
    let n = batches.len().max(1);
    let mut grads = GradStore::default();
    let (mut ml_sum, mut ll_sum) = (0f32, 0f32);
    for batch in batches {
        let (mask, lm) = batch_loss(model, batch, Mode::Train)?;
        let ml = mask.to_scalar::<f32>()?;
        let (loss, ll) = match lm {
            Some(l) => {
                let v = l.to_scalar::<f32>()?;
                ((mask + (l * lm_weight)?)?, v)
            }
            None => (mask, 0.0),
        };
        if !ml.is_finite() || !ll.is_finite() {
            return Err(Error::Invalid(format!(
                "diverged (mask loss {ml}, explanation loss {ll})"
            )));
        }
        ml_sum += ml;
        ll_sum += ll;
        add_gradients(&mut grads, &(loss / n as f64)?.backward()?, vars)?;
    }
    Ok(Accumulated {
        grads,
        mask_loss: ml_sum / n as f32,
        lm_loss: ll_sum / n as f32,
    })
}

/// Adds the gradients `g` of `vars` into `grads` (the rest of `g` is dropped).
fn add_gradients(grads: &mut GradStore, g: &GradStore, vars: &[Var]) -> Result<()> {
    for v in vars {
        if let Some(t) = g.get(v.as_tensor()) {
            let sum = match grads.remove(v.as_tensor()) {
                Some(a) => (a + t)?,
                None => t.clone(),
            };
            grads.insert(v.as_tensor(), sum.detach());
        }
    }
    Ok(())
}

/// Trains `model`, built over `vm` by [`Emosem::from_varmap`], on `data`. `progress` gets
/// the done share after every step ("EmoSEM step S/T mask loss M explanation loss L");
/// it is checked before every step (cancelled: the run ends with [`Error::Cancelled`]).
pub fn train_model(
    model: &Emosem,
    vm: &VarMap,
    data: &[TrainItem],
    tc: &TrainConfig,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    run_trainer(
        model,
        vm,
        data,
        Trainer::new(model.config(), vm, tc)?,
        progress,
    )
}

/// [`train_model`] with a prepared `trainer` (a rehearsal, [`Trainer::with_rehearsal`]).
pub fn run_trainer(
    model: &Emosem,
    vm: &VarMap,
    data: &[TrainItem],
    mut trainer: Trainer,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    if data.is_empty() {
        return Err(Error::Invalid("EmoSEM training: no data".into()));
    }
    let cfg = model.config();
    let start = Instant::now();
    let trainable = crate::train::count_params(&vars_with_prefix(vm, &cfg.trainable_prefixes()));
    let mut history: Vec<(f32, f32)> = Vec::with_capacity(trainer.steps);
    while trainer.has_next() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let p = trainer.step(model, data)?;
        history.push((p.mask_loss, p.lm_loss));
        progress.report(
            p.step as f32 / p.steps.max(1) as f32,
            &format!(
                "EmoSEM step {}/{} mask loss {:.3} explanation loss {:.3}",
                p.step, p.steps, p.mask_loss, p.lm_loss
            ),
        );
    }
    let tenth = (history.len() / 10).max(1);
    let mean = |s: &[(f32, f32)], f: fn(&(f32, f32)) -> f32| {
        if s.is_empty() {
            0.0
        } else {
            s.iter().map(f).sum::<f32>() / s.len() as f32
        }
    };
    let last = &history[history.len().saturating_sub(tenth)..];
    Ok(TrainReport {
        steps: history.len(),
        first_mask_loss: mean(&history[..tenth.min(history.len())], |h| h.0),
        last_mask_loss: mean(last, |h| h.0),
        last_lm_loss: mean(last, |h| h.1),
        trainable_params: trainable,
        seconds: start.elapsed().as_secs_f64(),
    })
}
