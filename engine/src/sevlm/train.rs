//! SEVLM training: language cross-entropy + masked VAD MSE + alpha x ternary contrastive
//! loss over batches of paired sequences, AdamW with two learning-rate groups (decoder and
//! heads; VAD encoder), linear decay (the reference has no warm-up; the demo kit uses one), gradient clipping, deterministic by
//! seed. Follows `GPT2LMHeadModel.forward` and `get_optimizer` of BetterZH/SEVLM-code.

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::nn::Mode;
use crate::sevlm::data::{derangement, Encoded, IGNORE};
use crate::sevlm::model::Sevlm;
use crate::train::{AdamW, AdamWParams, Schedule};

/// The reference's epsilon in the contrastive loss.
pub const CL_EPS: f64 = 1e-8;

/// Training hyper-parameters (defaults: the paper's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SevlmTrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Image pairs per batch (the reference: 32 pairs, 64 sequences).
    pub batch_pairs: usize,
    /// Learning rate of the decoder and heads (2e-5).
    pub lr_decoder: f64,
    /// Learning rate of the VAD encoder (4e-5).
    pub lr_vad_encoder: f64,
    /// AdamW weight decay (the reference: 0).
    pub weight_decay: f64,
    /// Weight of the contrastive loss (alpha = 2).
    pub alpha: f64,
    /// Weight of the VAD loss (1).
    pub vad_weight: f64,
    /// Global gradient-norm clip.
    pub clip: f64,
    /// Seed of shuffling and negatives.
    pub seed: u64,
    /// Linear warm-up steps before the linear decay (the reference: 0).
    #[serde(default)]
    pub warmup: usize,
}

impl Default for SevlmTrainConfig {
    fn default() -> Self {
        SevlmTrainConfig {
            epochs: 30,
            batch_pairs: 32,
            lr_decoder: 2e-5,
            lr_vad_encoder: 4e-5,
            weight_decay: 0.0,
            alpha: 2.0,
            vad_weight: 1.0,
            clip: 1.0,
            seed: 2026,
            warmup: 0,
        }
    }
}

/// Training sequences with the image each belongs to. When `paired`, sequences `2i` and
/// `2i + 1` are two responses to the same image with different emotions (the layout the
/// contrastive loss needs); batches keep them together.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// (sequence, index into `images`).
    pub sequences: Vec<(Encoded, usize)>,
    /// Image grid features [n_images, N, encoder_dim].
    pub images: Tensor,
    /// Whether sequences come in pairs.
    pub paired: bool,
}

/// One batch as tensors.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Token ids [B, T].
    pub ids: Tensor,
    /// Segment ids [B, T].
    pub segments: Tensor,
    /// Targets [B, T] (i64, `IGNORE` where not scored).
    pub labels: Tensor,
    /// Lexicon VAD [B, T, 3].
    pub vad: Tensor,
    /// Image features [B, N, D].
    pub image: Tensor,
}

impl Batch {
    /// Stacks sequences (all of one padded length) and their images.
    pub fn new(seqs: &[&(Encoded, usize)], images: &Tensor, device: &Device) -> Result<Self> {
        let b = seqs.len();
        let t = seqs.first().map(|s| s.0.ids.len()).unwrap_or(0);
        if seqs.iter().any(|s| s.0.ids.len() != t) {
            return Err(Error::Invalid("batch sequences differ in length".into()));
        }
        let ids: Vec<u32> = seqs.iter().flat_map(|s| s.0.ids.iter().copied()).collect();
        let segs: Vec<u32> = seqs
            .iter()
            .flat_map(|s| s.0.segments.iter().copied())
            .collect();
        let labels: Vec<i64> = seqs
            .iter()
            .flat_map(|s| s.0.labels.iter().copied())
            .collect();
        let vad: Vec<f32> = seqs
            .iter()
            .flat_map(|s| s.0.vad.iter().flat_map(|v| v.iter().copied()))
            .collect();
        let idx: Vec<u32> = seqs.iter().map(|s| s.1 as u32).collect();
        let idx = Tensor::from_vec(idx, b, images.device())?;
        Ok(Batch {
            ids: Tensor::from_vec(ids, (b, t), device)?,
            segments: Tensor::from_vec(segs, (b, t), device)?,
            labels: Tensor::from_vec(labels, (b, t), device)?,
            vad: Tensor::from_vec(vad, (b, t, 3), device)?,
            image: images.index_select(&idx, 0)?.to_device(device)?,
        })
    }
}

/// The loss terms of one batch.
#[derive(Debug, Clone)]
pub struct Losses {
    /// Weighted sum (what is optimised).
    pub total: Tensor,
    /// Language cross-entropy.
    pub language: Tensor,
    /// Masked VAD MSE (None without the VAD head or without lexicon words).
    pub vad: Option<Tensor>,
    /// Contrastive loss (None when off).
    pub contrastive: Option<Tensor>,
}

/// Mean cross-entropy of `logits[:, :-1]` against `labels[:, 1:]`, skipping `IGNORE`.
pub fn language_loss(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (b, t, v) = logits.dims3()?;
    let lg = logits.narrow(1, 0, t - 1)?.reshape((b * (t - 1), v))?;
    let lb = labels.narrow(1, 1, t - 1)?.flatten_all()?;
    let mask = lb.ne(IGNORE)?.to_dtype(DType::F32)?;
    let safe = lb.clamp(0i64, (v - 1) as i64)?.to_dtype(DType::U32)?;
    let lp = candle_nn::ops::log_softmax(&lg, D::Minus1)?;
    let picked = lp.gather(&safe.unsqueeze(1)?, 1)?.squeeze(1)?;
    let count = mask.sum_all()?.to_scalar::<f32>()?;
    if count == 0.0 {
        return Err(Error::Invalid("no target tokens in the batch".into()));
    }
    Ok(((picked * &mask)?.sum_all()?.neg()? / count as f64)?)
}

/// The reference's `CustomMSELoss`: mean squared error over the rows whose target is not
/// all zero (tokens with a lexicon VAD). None when no row qualifies.
pub fn masked_vad_loss(pred: &Tensor, target: &Tensor) -> Result<Option<Tensor>> {
    let rows = target
        .abs()?
        .sum_keepdim(D::Minus1)?
        .gt(0f64)?
        .to_dtype(DType::F32)?;
    let n = rows.sum_all()?.to_scalar::<f32>()?;
    if n == 0.0 {
        return Ok(None);
    }
    let d = (pred - target)?.sqr()?.broadcast_mul(&rows)?;
    Ok(Some((d.sum_all()? / (n as f64 * 3.0))?))
}

/// The contrastive loss from scores: `mean(-log(eps + e^pos / (eps + e^pos + sum e^neg)))`,
/// `pos` `[B]`, `negs` `[B, K]`. Computed with the row maximum subtracted before `exp` (the
/// reference exponentiates raw scores, which overflows f32 once the scores pass ~88 and
/// turns every gradient into NaN when the score head grows at the demo kit's learning
/// rates); the inner eps then scales by `e^-max`, a difference below 1e-8 at the
/// reference's score range.
pub fn contrastive_loss(pos: &Tensor, negs: &Tensor) -> Result<Tensor> {
    let all = Tensor::cat(&[&pos.unsqueeze(1)?, negs], 1)?;
    let m = all.max_keepdim(D::Minus1)?.detach();
    let e = all.broadcast_sub(&m)?.exp()?;
    let ep = e.narrow(1, 0, 1)?.squeeze(1)?;
    let total = e.sum(D::Minus1)?;
    let eps = (m.squeeze(1)?.neg()?.clamp(-1e4f32, 80f32)?.exp()? * CL_EPS)?;
    let ratio = (&ep / (total + eps)?)?;
    Ok((ratio + CL_EPS)?.log()?.neg()?.mean_all()?)
}

/// Indices of the two negatives of the paired layout: (same image, other emotion) swaps
/// within each pair; (another image) moves pair `i` to pair `perm[i]`.
pub fn negative_indices(pairs: usize, perm: &[usize]) -> (Vec<u32>, Vec<u32>) {
    let swap = (0..pairs)
        .flat_map(|i| [2 * i as u32 + 1, 2 * i as u32])
        .collect();
    let other = (0..pairs)
        .flat_map(|i| [2 * perm[i] as u32, 2 * perm[i] as u32 + 1])
        .collect();
    (swap, other)
}

/// All loss terms of a batch. `perm` (a derangement of the pairs) enables the
/// contrastive loss; `alpha` and `vad_weight` weight the terms.
pub fn losses(
    model: &Sevlm,
    batch: &Batch,
    perm: Option<&[usize]>,
    alpha: f64,
    vad_weight: f64,
    mode: Mode,
) -> Result<Losses> {
    let out = model.forward(
        &batch.ids,
        &batch.segments,
        Some(&batch.vad),
        &batch.image,
        mode,
    )?;
    let language = language_loss(&out.logits, &batch.labels)?;
    let mut total = language.clone();
    let span = model.config().emotion_span;
    let (_, t) = batch.ids.dims2()?;
    let vad = match &out.vad {
        Some(v) if t > span => {
            // Position p (from span - 1) predicts the VAD of token p + 1.
            let pred = v.i((.., span - 1..t - 1, ..))?;
            let target = batch.vad.i((.., span..t, ..))?;
            masked_vad_loss(&pred, &target)?
        }
        _ => None,
    };
    if let Some(l) = &vad {
        total = (total + (l * vad_weight)?)?;
    }
    let contrastive = match perm {
        Some(perm) if model.config().use_cl && alpha != 0.0 && t > span => {
            let b = batch.ids.dim(0)?;
            if b != 2 * perm.len() {
                return Err(Error::Invalid(format!(
                    "contrastive batch of {b} sequences for {} pairs",
                    perm.len()
                )));
            }
            let img = batch.image.mean(1)?;
            let emo = out.hidden.narrow(1, 0, span)?.mean(1)?;
            let exp = out.hidden.narrow(1, span, t - span)?.mean(1)?;
            let pos = model.similarity(&img, &emo, &exp)?;
            let (swap, other) = negative_indices(perm.len(), perm);
            let dev = exp.device();
            let n1 = exp.index_select(&Tensor::new(swap, dev)?, 0)?;
            let n2 = exp.index_select(&Tensor::new(other, dev)?, 0)?;
            let s1 = model.similarity(&img, &emo, &n1)?;
            let s2 = model.similarity(&img, &emo, &n2)?;
            let negs = Tensor::stack(&[s1, s2], 1)?;
            Some(contrastive_loss(&pos, &negs)?)
        }
        _ => None,
    };
    if let Some(l) = &contrastive {
        total = (total + (l * alpha)?)?;
    }
    Ok(Losses {
        total,
        language,
        vad,
        contrastive,
    })
}

/// Loss values of one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLosses {
    /// Step number (1-based).
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Total loss.
    pub total: f32,
    /// Language loss.
    pub language: f32,
    /// VAD loss.
    pub vad: Option<f32>,
    /// Contrastive loss.
    pub contrastive: Option<f32>,
    /// Gradient norm before clipping.
    pub grad_norm: f32,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Every step's losses.
    pub steps: Vec<StepLosses>,
    /// Trained parameters.
    pub parameters: usize,
}

/// The variables training updates: everything but the VAD encoder's unused `decoder`
/// head (kept only for checkpoint compatibility). Returns (decoder and heads, VAD encoder).
pub fn trainable_groups(vm: &VarMap) -> (Vec<candle_core::Var>, Vec<candle_core::Var>) {
    let data = vm.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let (mut dec, mut vad) = (Vec::new(), Vec::new());
    for n in names {
        if n.starts_with("emo_encoder.decoder.") {
            continue;
        }
        if n.starts_with("emo_encoder.") {
            vad.push(data[n].clone());
        } else {
            dec.push(data[n].clone());
        }
    }
    (dec, vad)
}

/// SEVLM's optimisation one step at a time: the optimizer, the shuffled order and the
/// position in it. [`train`] runs it to the end; a session steps it under its control.
pub struct Trainer {
    opt: AdamW,
    rng: rand_chacha::ChaCha8Rng,
    order: Vec<usize>,
    unit: usize,
    per_batch: usize,
    batches_per_epoch: usize,
    epochs: usize,
    epoch: usize,
    batch: usize,
    total_steps: usize,
    parameters: usize,
    skipped_in_a_row: usize,
}

impl Trainer {
    /// An optimizer over the trainable variables of `vm` for `data` (checked).
    pub fn new(vm: &VarMap, data: &TrainData, cfg: &SevlmTrainConfig) -> Result<Self> {
        let n = data.sequences.len();
        let unit = if data.paired { 2 } else { 1 };
        if n < unit || !n.is_multiple_of(unit) {
            return Err(Error::Invalid(format!(
                "SEVLM training needs {} sequences, got {n}",
                if data.paired {
                    "an even number of paired"
                } else {
                    "some"
                }
            )));
        }
        let units = n / unit;
        let per_batch = cfg.batch_pairs.max(1);
        let batches_per_epoch = units.div_ceil(per_batch);
        let total_steps = batches_per_epoch * cfg.epochs;
        let (dec, vad) = trainable_groups(vm);
        let parameters = crate::train::count_params(&dec) + crate::train::count_params(&vad);
        let mut opt = AdamW::new(Schedule::Linear {
            warmup: cfg.warmup.min(total_steps),
            total: total_steps,
        })
        .with_clip(cfg.clip)
        .with_skip_nonfinite();
        opt.add_group(
            dec,
            AdamWParams {
                lr: cfg.lr_decoder,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        if !vad.is_empty() {
            opt.add_group(
                vad,
                AdamWParams {
                    lr: cfg.lr_vad_encoder,
                    weight_decay: cfg.weight_decay,
                    ..Default::default()
                },
            )?;
        }
        Ok(Trainer {
            opt,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed),
            order: (0..units).collect(),
            unit,
            per_batch,
            batches_per_epoch,
            epochs: cfg.epochs,
            epoch: 0,
            batch: batches_per_epoch,
            total_steps,
            parameters,
            skipped_in_a_row: 0,
        })
    }

    /// Steps of the whole run.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Trained parameters.
    pub fn parameters(&self) -> usize {
        self.parameters
    }

    /// True while batches remain.
    pub fn has_next(&self) -> bool {
        self.batch < self.batches_per_epoch || self.epoch < self.epochs
    }

    /// Trains on the next batch; `None` when its update was skipped (a non-finite
    /// gradient; ten in a row are an error).
    pub fn step(
        &mut self,
        model: &Sevlm,
        data: &TrainData,
        cfg: &SevlmTrainConfig,
        device: &Device,
    ) -> Result<Option<StepLosses>> {
        if self.batch >= self.batches_per_epoch {
            self.epoch += 1;
            self.batch = 0;
            self.order.shuffle(&mut self.rng);
        }
        let start = self.batch * self.per_batch;
        let end = (start + self.per_batch).min(self.order.len());
        self.batch += 1;
        let chunk = &self.order[start..end];
        let unit = self.unit;
        let seqs: Vec<&(Encoded, usize)> = chunk
            .iter()
            .flat_map(|&u| (0..unit).map(move |k| u * unit + k))
            .map(|i| &data.sequences[i])
            .collect();
        let batch = Batch::new(&seqs, &data.images, device)?;
        let perm = if data.paired && chunk.len() >= 2 {
            Some(derangement(chunk.len(), &mut self.rng)?)
        } else {
            None
        };
        let l = losses(
            model,
            &batch,
            perm.as_deref(),
            cfg.alpha,
            cfg.vad_weight,
            Mode::Train,
        )?;
        let r = self.opt.backward_step(&l.total)?;
        if r.skipped {
            // A non-finite gradient: the update is skipped; give up after 10 in a row.
            self.skipped_in_a_row += 1;
            if self.skipped_in_a_row >= 10 {
                return Err(Error::Invalid(format!(
                    "SEVLM training: 10 steps in a row had non-finite gradients (last at step {}): lower the learning rate",
                    self.opt.steps()
                )));
            }
            return Ok(None);
        }
        self.skipped_in_a_row = 0;
        Ok(Some(StepLosses {
            step: self.opt.steps(),
            epoch: self.epoch,
            total: l.total.to_scalar::<f32>()?,
            language: l.language.to_scalar::<f32>()?,
            vad: l.vad.map(|t| t.to_scalar::<f32>()).transpose()?,
            contrastive: l.contrastive.map(|t| t.to_scalar::<f32>()).transpose()?,
            grad_norm: r.grad_norm as f32,
        }))
    }
}

/// Trains `model` (whose variables are in `vm`) on `data`. `on_step` sees every step's
/// losses with the step count; a cancelled `progress` stops with `Error::Cancelled`
/// (the weights keep the updates made so far).
pub fn train(
    model: &Sevlm,
    vm: &VarMap,
    data: &TrainData,
    cfg: &SevlmTrainConfig,
    device: &Device,
    mut on_step: impl FnMut(&StepLosses, usize),
    progress: &dyn crate::progress::Progress,
) -> Result<TrainReport> {
    let mut t = Trainer::new(vm, data, cfg)?;
    let total_steps = t.total_steps();
    let mut steps = Vec::with_capacity(total_steps);
    while t.has_next() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(s) = t.step(model, data, cfg, device)? {
            on_step(&s, total_steps);
            steps.push(s);
        }
    }
    Ok(TrainReport {
        steps,
        parameters: t.parameters(),
    })
}
