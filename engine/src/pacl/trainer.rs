//! PACL stage 3, the adaptive contrastive loop, one step at a time ([`Trainer`]) or to the
//! end ([`train`]); deterministic by seed.

use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::losses::{pacl_loss, LossKind};
use super::partition::{Partition, PartitionCounts};
use super::schedule::{partition_of, Cycler, Phase};
use super::train::{TrainConfig, TrainData};
use super::{PaclConfig, PaclModel};
use crate::error::{Error, Result};
use crate::models::nn::Mode;
use crate::models::patch_tower::{descriptors_tensor, Descriptors};
use crate::progress::Progress;
use crate::train::{vars_with_prefix, AdamW, AdamWParams, Schedule};

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 0-based epoch.
    pub epoch: usize,
    /// Schedule phase.
    pub phase: Phase,
    /// Mean weighted total loss per step.
    pub loss: f64,
    /// Mean of each of L1..L4 over the steps that used it (None: not used).
    pub losses: [Option<f64>; 4],
    /// Seconds.
    pub seconds: f64,
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Settings.
    pub config: TrainConfig,
    /// Partition sizes.
    pub counts: PartitionCounts,
    /// Per epoch.
    pub epochs: Vec<EpochReport>,
    /// Optimizer steps.
    pub steps: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Seconds in all.
    pub seconds: f64,
}

/// One step's losses (PACL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaclStep {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Schedule phase.
    pub phase: Phase,
    /// Weighted total loss.
    pub loss: f64,
    /// L1..L4 of this step (None: not used in this phase or sub-batch).
    pub losses: [Option<f64>; 4],
}

/// PACL's optimisation one step at a time: the model, the optimizer, the partition
/// cyclers, the augmentation's generator and the epoch's running sums. [`train`] runs it
/// to the end; a session steps it under its control.
pub struct Trainer {
    model: PaclModel,
    cfg: TrainConfig,
    opt: AdamW,
    cyclers: Vec<Cycler>,
    rng: rand_chacha::ChaCha8Rng,
    steps_per_epoch: usize,
    total: usize,
    parameters: usize,
    epoch: usize,
    in_epoch: usize,
    step: usize,
    epoch_start: Instant,
    sum: f64,
    per: [(f64, usize); 4],
    epochs: Vec<EpochReport>,
}

impl Trainer {
    /// A fresh model of `model_cfg` and its optimizer for `data` (checked).
    pub fn new(
        model_cfg: &PaclConfig,
        cfg: &TrainConfig,
        data: &TrainData,
        device: &Device,
    ) -> Result<Self> {
        if data.pairs.is_empty() || data.text_features.len() != data.pairs.len() {
            return Err(Error::Invalid(format!(
                "PACL training: {} pairs, {} text features",
                data.pairs.len(),
                data.text_features.len()
            )));
        }
        if let Some(f) = data
            .text_features
            .iter()
            .find(|f| f.len() != model_cfg.text_dim)
        {
            return Err(Error::Invalid(format!(
                "PACL training: text features of width {}, the model expects {}",
                f.len(),
                model_cfg.text_dim
            )));
        }
        let model = PaclModel::new(model_cfg, device, cfg.seed)?;
        let sub = cfg.sub_batch.max(2);
        let steps_per_epoch = cfg
            .steps_per_epoch
            .unwrap_or_else(|| data.pairs.len().div_ceil(4 * sub))
            .max(1);
        let total = steps_per_epoch * cfg.epochs.max(1);
        let mut opt = AdamW::new(Schedule::Cosine {
            warmup: cfg.warmup_steps.min(total / 4),
            total,
        })
        .with_clip(cfg.clip_norm);
        let tower_vars = vars_with_prefix(model.varmap(), &["vision."]);
        let proj_vars = vars_with_prefix(model.varmap(), &["q_v.", "q_t."]);
        let parameters =
            crate::train::count_params(&tower_vars) + crate::train::count_params(&proj_vars);
        opt.add_group(
            tower_vars,
            AdamWParams {
                lr: cfg.lr_tower,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        opt.add_group(
            proj_vars,
            AdamWParams {
                lr: cfg.lr_proj,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        let cyclers: Vec<Cycler> = Partition::ALL
            .iter()
            .enumerate()
            .map(|(k, part)| {
                let items = (0..data.pairs.len())
                    .filter(|&j| data.pairs[j].partition == *part)
                    .collect();
                Cycler::new(items, cfg.seed.wrapping_add(101 * (k as u64 + 1)))
            })
            .collect();
        Ok(Trainer {
            model,
            cfg: cfg.clone(),
            opt,
            cyclers,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xa5a5),
            steps_per_epoch,
            total,
            parameters,
            epoch: 0,
            in_epoch: 0,
            step: 0,
            epoch_start: Instant::now(),
            sum: 0.0,
            per: [(0.0, 0); 4],
            epochs: Vec::new(),
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &PaclModel {
        &self.model
    }

    /// Steps planned (some may draw too few pairs and be left out).
    pub fn total_steps(&self) -> usize {
        self.total
    }

    /// Trained parameters.
    pub fn parameters(&self) -> usize {
        self.parameters
    }

    /// True while steps of an epoch remain.
    pub fn has_next(&self) -> bool {
        self.epoch < self.cfg.epochs
    }

    /// One step of the current epoch on `data`; `None` when no loss of the phase drew
    /// two pairs (no update). Ends the epoch after its last step.
    pub fn step(&mut self, data: &TrainData, device: &Device) -> Result<Option<PaclStep>> {
        let cfg = &self.cfg;
        let model_cfg = self.model.config().clone();
        let phase = Phase::of(self.epoch, cfg.epochs);
        let sub = cfg.sub_batch.max(2);
        let out = self.draw_and_update(data, device, phase, sub, &model_cfg)?;
        self.in_epoch += 1;
        if self.in_epoch >= self.steps_per_epoch {
            self.epochs.push(EpochReport {
                epoch: self.epoch,
                phase,
                loss: self.sum / self.steps_per_epoch as f64,
                losses: self.per.map(|(s, n)| (n > 0).then(|| s / n as f64)),
                seconds: self.epoch_start.elapsed().as_secs_f64(),
            });
            self.epoch += 1;
            self.in_epoch = 0;
            self.sum = 0.0;
            self.per = [(0.0, 0); 4];
            self.epoch_start = Instant::now();
        }
        Ok(out)
    }

    fn draw_and_update(
        &mut self,
        data: &TrainData,
        device: &Device,
        phase: Phase,
        sub: usize,
        model_cfg: &PaclConfig,
    ) -> Result<Option<PaclStep>> {
        // Draw one sub-batch per loss of the phase, distinct paintings in each.
        let mut groups: Vec<(LossKind, Vec<usize>)> = Vec::new();
        for &kind in phase.losses() {
            let c = &mut self.cyclers[partition_of(kind).index()];
            let idx = c.take_distinct(sub, |j| data.pairs[j].image);
            if idx.len() >= 2 {
                groups.push((kind, idx));
            }
        }
        if groups.is_empty() {
            return Ok(None);
        }
        let min_crop = self.cfg.min_crop;
        let augmented: Vec<Descriptors> = groups
            .iter()
            .flat_map(|(_, idx)| idx.iter())
            .map(|&j| data.images[data.pairs[j].image].augment(&mut self.rng, min_crop))
            .collect();
        let refs: Vec<&Descriptors> = augmented.iter().collect();
        let zv_all = self
            .model
            .image_features(&descriptors_tensor(&refs, device)?, Mode::Train)?;
        let feats: Vec<f32> = groups
            .iter()
            .flat_map(|(_, idx)| idx.iter())
            .flat_map(|&j| data.text_features[j].iter().copied())
            .collect();
        let zt_all = self.model.text_features(&Tensor::from_vec(
            feats,
            (augmented.len(), model_cfg.text_dim),
            device,
        )?)?;
        let mut loss: Option<Tensor> = None;
        let mut this = [None; 4];
        let mut off = 0;
        for (kind, idx) in &groups {
            let n = idx.len();
            let f: Vec<usize> = idx
                .iter()
                .map(|&j| data.factual_labels[data.pairs[j].image])
                .collect();
            let e: Vec<usize> = idx.iter().map(|&j| data.pairs[j].emotional_label).collect();
            let l = pacl_loss(
                *kind,
                &zv_all.narrow(0, off, n)?,
                &zt_all.narrow(0, off, n)?,
                &f,
                &e,
                model_cfg.temperature,
            )?;
            off += n;
            let k = *kind as usize;
            let v = l.to_scalar::<f32>()? as f64;
            self.per[k].0 += v;
            self.per[k].1 += 1;
            this[k] = Some(v);
            let w = (l * self.cfg.loss_weights[k])?;
            loss = Some(match loss {
                Some(acc) => (acc + w)?,
                None => w,
            });
        }
        let Some(loss) = loss else { return Ok(None) };
        let total = loss.to_scalar::<f32>()? as f64;
        self.sum += total;
        self.opt.backward_step(&loss)?;
        self.step += 1;
        Ok(Some(PaclStep {
            step: self.step,
            epoch: self.epoch + 1,
            phase,
            loss: total,
            losses: this,
        }))
    }

    /// The trained model and what training did, `counts` being the data's partition sizes.
    pub fn finish(self, counts: &PartitionCounts, seconds: f64) -> (PaclModel, TrainReport) {
        let report = TrainReport {
            config: self.cfg,
            counts: counts.clone(),
            epochs: self.epochs,
            steps: self.step,
            parameters: self.parameters,
            seconds,
        };
        (self.model, report)
    }
}

/// Stage 3: trains a fresh model of `model_cfg` on `data`. `progress` is told each step
/// and its cancellation is checked between steps (cancelled: stop with
/// [`Error::Cancelled`]). Deterministic by `cfg.seed` (for a given thread count).
pub fn train(
    model_cfg: &PaclConfig,
    cfg: &TrainConfig,
    data: &TrainData,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(PaclModel, TrainReport)> {
    let start = Instant::now();
    let mut t = Trainer::new(model_cfg, cfg, data, device)?;
    let total = t.total_steps();
    while t.has_next() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(s) = t.step(data, device)? {
            progress.report(
                s.step as f32 / total as f32,
                &format!("epoch {}/{} ({:?})", s.epoch, cfg.epochs, s.phase),
            );
        }
    }
    Ok(t.finish(&data.counts, start.elapsed().as_secs_f64()))
}
