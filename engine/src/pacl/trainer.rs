//! PACL stage 3, the adaptive contrastive loop, one step at a time ([`Trainer`]) or to the
//! end ([`train`]); deterministic by seed.

use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::itm::{itm_cross_entropy, negatives};
use super::losses::{pacl_loss_directed, LossKind};
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
    /// Mean ITM loss per step (None: ITM off).
    #[serde(default)]
    pub itm: Option<f64>,
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
    /// The ITM loss summed over the step's sub-batches (None: ITM off).
    #[serde(default)]
    pub itm: Option<f64>,
}

/// One step's loss before the update.
struct StepLoss {
    /// The weighted total (a graph to differentiate).
    loss: Tensor,
    /// L1..L4 values.
    losses: [Option<f64>; 4],
    /// The ITM loss summed over the sub-batches.
    itm: Option<f64>,
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
    itm: (f64, usize),
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
        let model_cfg = &PaclConfig {
            itm_head: cfg.itm_weight > 0.0,
            ..model_cfg.clone()
        };
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
        });
        if cfg.clip_norm > 0.0 {
            opt = opt.with_clip(cfg.clip_norm);
        }
        let tower_vars = vars_with_prefix(model.varmap(), &["vision."]);
        // The projections and the ITM head: the released code's `lr_other` (1e-3).
        let proj_vars = vars_with_prefix(model.varmap(), &["q_v.", "q_t.", "itm."]);
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
            itm: (0.0, 0),
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
        crate::device::ensure_devices_match(
            self.model.device(),
            device,
            "PACL training: the batch device asked for",
        )?;
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
                itm: (self.itm.1 > 0).then(|| self.itm.0 / self.itm.1 as f64),
                seconds: self.epoch_start.elapsed().as_secs_f64(),
            });
            self.epoch += 1;
            self.in_epoch = 0;
            self.sum = 0.0;
            self.per = [(0.0, 0); 4];
            self.itm = (0.0, 0);
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
        let Some(l) = self.step_loss(data, device, phase, sub, model_cfg)? else {
            return Ok(None);
        };
        for (k, v) in l.losses.iter().enumerate() {
            if let Some(v) = v {
                self.per[k].0 += v;
                self.per[k].1 += 1;
            }
        }
        if let Some(v) = l.itm {
            self.itm.0 += v;
            self.itm.1 += 1;
        }
        let total = l.loss.to_scalar::<f32>()? as f64;
        self.sum += total;
        self.opt.backward_step(&l.loss)?;
        self.step += 1;
        Ok(Some(PaclStep {
            step: self.step,
            epoch: self.epoch + 1,
            phase,
            loss: total,
            losses: l.losses,
            itm: l.itm,
        }))
    }

    /// The weighted loss of one step of `phase` (sub-batches drawn, augmented, forward
    /// pass; no update), or `None` when no loss of the phase drew two pairs.
    fn step_loss(
        &mut self,
        data: &TrainData,
        device: &Device,
        phase: Phase,
        sub: usize,
        model_cfg: &PaclConfig,
    ) -> Result<Option<StepLoss>> {
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
        let (tower_out, zv_all) = self
            .model
            .image_forward(&descriptors_tensor(&refs, device)?, Mode::Train)?;
        let feats: Vec<f32> = groups
            .iter()
            .flat_map(|(_, idx)| idx.iter())
            .flat_map(|&j| data.text_features[j].iter().copied())
            .collect();
        let text_all = Tensor::from_vec(feats, (augmented.len(), model_cfg.text_dim), device)?;
        let zt_all = self.model.text_features(&text_all)?;
        let itm = self
            .model
            .itm()
            .filter(|_| self.cfg.itm_weight > 0.0)
            .cloned();
        let mut loss: Option<Tensor> = None;
        let mut this = [None; 4];
        let mut itm_sum: Option<f64> = None;
        let mut off = 0;
        for (kind, idx) in &groups {
            let n = idx.len();
            let f: Vec<usize> = idx
                .iter()
                .map(|&j| data.factual_labels[data.pairs[j].image])
                .collect();
            let e: Vec<usize> = idx.iter().map(|&j| data.pairs[j].emotional_label).collect();
            let zv = zv_all.narrow(0, off, n)?;
            let zt = zt_all.narrow(0, off, n)?;
            let l = pacl_loss_directed(
                *kind,
                &zv,
                &zt,
                &f,
                &e,
                model_cfg.temperature,
                self.cfg.directions,
            )?;
            let k = *kind as usize;
            this[k] = Some(l.to_scalar::<f32>()? as f64);
            let mut w = (l * (self.cfg.loss_weights[k] * self.cfg.contrastive_weight))?;
            if let Some(head) = &itm {
                // The code's negatives come from the detached logits of this sub-batch
                // and the cluster mask of its partition (model/PACL.py:181-225).
                let logits: Vec<f32> = (zv.matmul(&zt.t()?)? / model_cfg.temperature)?
                    .detach()
                    .flatten_all()?
                    .to_vec1()?;
                let labels = match kind {
                    LossKind::L1 => None,
                    LossKind::L2 => Some(&f),
                    LossKind::L3 | LossKind::L4 => Some(&e),
                };
                let (neg_i, neg_t) =
                    negatives(&logits, n, labels.map(Vec::as_slice), &mut self.rng);
                let il = itm_cross_entropy(&head.logits(
                    &tower_out.grid.narrow(0, off, n)?,
                    &text_all.narrow(0, off, n)?,
                    &neg_i,
                    &neg_t,
                )?)?;
                *itm_sum.get_or_insert(0.0) += il.to_scalar::<f32>()? as f64;
                w = (w + (il * self.cfg.itm_weight)?)?;
            }
            off += n;
            loss = Some(match loss {
                Some(acc) => (acc + w)?,
                None => w,
            });
        }
        Ok(loss.map(|loss| StepLoss {
            loss,
            losses: this,
            itm: itm_sum,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacl::train::{synthetic_data, Objective};

    /// With the released code's objective (one-direction losses, `weight_clip`, ITM on,
    /// `pretrain_PACL.py` lines 168-340), every trainable variable, the ITM head's
    /// included (`model/PACL.py` lines 69-74, 175-228), gets a non-zero gradient from the
    /// last phase's loss; the head's keys are saved and loaded.
    #[test]
    fn code_objective_reaches_every_variable_and_round_trips() {
        let dev = Device::Cpu;
        let mcfg = PaclConfig::tiny(6);
        let data = synthetic_data(16, mcfg.tower.grid, 6);
        let cfg = TrainConfig {
            epochs: 3,
            sub_batch: 4,
            steps_per_epoch: Some(1),
            ..Default::default()
        }
        .with_objective(Objective::Code);
        assert_eq!(cfg.objective(), Some(Objective::Code));
        let mut t = Trainer::new(&mcfg, &cfg, &data, &dev).unwrap();
        assert!(t.model().config().itm_head && t.model().itm().is_some());
        let model_cfg = t.model().config().clone();
        let l = t
            .step_loss(&data, &dev, Phase::All, 4, &model_cfg)
            .unwrap()
            .unwrap();
        assert!(l.itm.is_some_and(f64::is_finite));
        assert!(l.losses.iter().all(Option::is_some));
        let grads = l.loss.backward().unwrap();
        let vm = t.model().varmap();
        assert!(vm
            .data()
            .lock()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("itm.head.0")));
        crate::models::tests::assert_every_var_has_gradient(vm, &grads);
        let dir = tempfile::tempdir().unwrap();
        t.model().save(dir.path()).unwrap();
        let m = PaclModel::load(dir.path(), &dev).unwrap();
        let head = m.itm().unwrap();
        let refs: Vec<&Descriptors> = data.images[..2].iter().collect();
        let x = descriptors_tensor(&refs, &dev).unwrap();
        let text = Tensor::ones((2, 6), candle_core::DType::F32, &dev).unwrap();
        let logits = |m: &PaclModel, head: &crate::pacl::itm::ItmHead| {
            let (out, _) = m.image_forward(&x, Mode::Infer).unwrap();
            head.logits(&out.grid, &text, &[1, 0], &[1, 0]).unwrap()
        };
        let a = logits(t.model(), t.model().itm().unwrap());
        let b = logits(&m, head);
        assert_eq!(a.dims(), [6, 2]);
        assert!(crate::models::tests::max_diff(&a, &b) < 1e-6);
        // The paper's default builds no head.
        let p = Trainer::new(&mcfg, &TrainConfig::default(), &data, &dev).unwrap();
        assert!(p.model().itm().is_none());
        assert_eq!(TrainConfig::default().objective(), Some(Objective::Paper));
    }

    /// A tiny run with the ITM option: its loss falls (first vs last epoch mean).
    #[test]
    fn itm_loss_falls_on_a_tiny_run() {
        let dev = Device::Cpu;
        let mcfg = PaclConfig::tiny(6);
        let data = synthetic_data(24, mcfg.tower.grid, 6);
        let cfg = TrainConfig {
            epochs: 6,
            sub_batch: 4,
            steps_per_epoch: Some(4),
            warmup_steps: 0,
            lr_tower: 3e-3,
            lr_proj: 3e-3,
            itm_weight: 1.0,
            ..Default::default()
        };
        let (_, r) = train(&mcfg, &cfg, &data, &dev, &crate::progress::Silent).unwrap();
        let first = r.epochs[0].itm.unwrap();
        let last = r.epochs[5].itm.unwrap();
        // Later phases sum more sub-batches' ITM losses: compare per sub-batch.
        let per = |e: &EpochReport| e.itm.unwrap() / e.phase.losses().len() as f64;
        assert!(
            per(&r.epochs[5]) < per(&r.epochs[0]),
            "ITM {first} -> {last}"
        );
    }
}
