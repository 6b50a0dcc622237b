//! PACL's text stage (issue 21): a trained PACL model gets a text branch on its image side
//! ([`super::text_branch`]) trained with the PACL loss while the patch tower stays frozen
//! and bit-identical (SEVLM and EmoSEM read its grid and need no retraining). Because the
//! tower is frozen, its pooled feature of each painting is computed once ([`StageData`])
//! and a step only runs the projections and the branch.
//!
//! Pairs: the annotation utterances of the training paintings only. The painting's title
//! and description, also PACL pairs in stage 3, are left out here: the image side now
//! reads them, and a pair of a text with itself would teach the branch to copy, not what
//! viewers feel. Each step holds one sub-batch per loss of the schedule's phase (the
//! progressive thirds of [`super::schedule`]), as stage 3 does; text dropout
//! ([`super::text_branch::drop_text`]) keeps the pixels-only embedding in the same space.
//!
//! [`evaluate`] measures what the issue asks for on the test split: the linear probes with
//! and without text, and zero-shot accuracy and largest emotion share with each
//! calibration, against the majority class; the "prior-corrected" zero-shot adds the log
//! of the training paintings' dominant-emotion shares (which uses training labels, so it
//! is not zero-shot and is named apart).

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::Tensor;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::losses::{pacl_loss_directed, Directions, LossKind};
use super::partition::Partition;
use super::probe::{dominant_labels, majority_scores, ProbeFeatures, ProbeScores};
use super::schedule::{partition_of, Cycler, Phase};
use super::text_branch::{drop_text, read_label, text_tokens, TextBranchConfig};
use super::train::{TextSource, TrainData};
use super::zeroshot::{class_embeddings, classify_calibrated, Calibration, PromptSet};
use super::PaclModel;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::bert::SentenceEncoder;
use crate::models::text_memory::PaintingText;
use crate::progress::Progress;
use crate::train::{count_params, vars_with_prefix, AdamW, AdamWParams, Schedule};

/// Settings of the text stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextStageConfig {
    /// The branch (text memory, hidden width, dropout).
    pub branch: TextBranchConfig,
    /// Epochs (the schedule switches at each third).
    pub epochs: usize,
    /// Pairs per sub-batch.
    pub sub_batch: usize,
    /// Steps per epoch (default: every utterance pair once).
    pub steps_per_epoch: Option<usize>,
    /// Peak learning rate of the branch.
    pub lr: f64,
    /// Peak learning rate of the projections `q_v`, `q_t` (0: frozen, so the pixels-only
    /// embedding and the text side stay those of the base model).
    pub lr_proj: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Weights of L1..L4.
    pub loss_weights: [f64; 4],
    /// Anchors of the contrastive losses.
    pub directions: Directions,
    /// Seed of the branch's initialisation, the sampling and the dropout.
    pub seed: u64,
}

impl Default for TextStageConfig {
    fn default() -> Self {
        TextStageConfig {
            branch: TextBranchConfig::default(),
            epochs: 12,
            sub_batch: 32,
            steps_per_epoch: None,
            lr: 1e-3,
            lr_proj: 1e-4,
            weight_decay: 0.05,
            loss_weights: [1.0; 4],
            directions: Directions::Symmetric,
            seed: 2026,
        }
    }
}

/// The frozen tower's pooled feature and the text tokens of every training painting, and
/// the pairs the stage trains on.
#[derive(Debug, Clone, PartialEq)]
pub struct StageData {
    /// Pooled (CLS) feature per painting of [`TrainData::images`].
    pub cls: Vec<Vec<f32>>,
    /// Flattened text tokens per painting (zeros for absent fields).
    pub tokens: Vec<Vec<f32>>,
    /// Indices into [`TrainData::pairs`] of the utterance pairs.
    pub pairs: Vec<usize>,
}

impl StageData {
    /// Pooled features of `data`'s paintings by `model`'s frozen tower, with `tokens`
    /// (one row per painting).
    pub fn new(model: &PaclModel, data: &TrainData, tokens: Vec<Vec<f32>>) -> Result<Self> {
        if tokens.len() != data.images.len() {
            return Err(Error::Invalid(format!(
                "PACL text stage: {} paintings but {} text token rows",
                data.images.len(),
                tokens.len()
            )));
        }
        let cls = model.backbone(&data.images, 32, &crate::progress::Silent)?;
        let pairs: Vec<usize> = (0..data.pairs.len())
            .filter(|&j| data.pairs[j].source == TextSource::Utterance)
            .collect();
        if pairs.len() < 2 {
            return Err(Error::Invalid(format!(
                "PACL text stage: {} utterance pairs, at least 2 needed",
                pairs.len()
            )));
        }
        Ok(StageData { cls, tokens, pairs })
    }
}

/// One epoch of the text stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Schedule phase.
    pub phase: Phase,
    /// Mean weighted loss per step.
    pub loss: f64,
}

/// What the text stage did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextStageReport {
    /// Settings.
    pub config: TextStageConfig,
    /// Utterance pairs trained on.
    pub pairs: usize,
    /// Per epoch.
    pub epochs: Vec<TextEpoch>,
    /// Optimizer steps.
    pub steps: usize,
    /// Trained parameters.
    pub parameters: usize,
    /// Seconds.
    pub seconds: f64,
}

/// The weighted loss of one step's sub-batches `groups` (pair indices per loss), with
/// text dropout from `rng`; returns the graph and each loss's value.
pub fn step_loss(
    model: &PaclModel,
    data: &TrainData,
    sd: &StageData,
    groups: &[(LossKind, Vec<usize>)],
    cfg: &TextStageConfig,
    rng: &mut impl rand::Rng,
) -> Result<(Tensor, [Option<f64>; 4])> {
    let device = model.device();
    let mcfg = model.config();
    let (mut cls, mut toks, mut text) = (Vec::new(), Vec::new(), Vec::new());
    let mut n_all = 0;
    for (_, idx) in groups {
        for &j in idx {
            let img = data.pairs[j].image;
            cls.extend_from_slice(&sd.cls[img]);
            toks.extend(drop_text(&sd.tokens[img], &cfg.branch, rng));
            text.extend_from_slice(&data.text_features[j]);
            n_all += 1;
        }
    }
    let cls = Tensor::from_vec(cls, (n_all, mcfg.tower.dim), device)?;
    let toks = Tensor::from_vec(toks, (n_all, cfg.branch.width()), device)?;
    let text = Tensor::from_vec(text, (n_all, mcfg.text_dim), device)?;
    let zv_all = model.fuse(&cls, Some(&toks))?;
    let zt_all = model.text_features(&text)?;
    let mut loss: Option<Tensor> = None;
    let mut this = [None; 4];
    let mut off = 0;
    for (kind, idx) in groups {
        let n = idx.len();
        let f: Vec<usize> = idx
            .iter()
            .map(|&j| data.factual_labels[data.pairs[j].image])
            .collect();
        let e: Vec<usize> = idx.iter().map(|&j| data.pairs[j].emotional_label).collect();
        let l = pacl_loss_directed(
            *kind,
            &zv_all.narrow(0, off, n)?,
            &zt_all.narrow(0, off, n)?,
            &f,
            &e,
            mcfg.temperature,
            cfg.directions,
        )?;
        let k = *kind as usize;
        this[k] = Some(l.to_scalar::<f32>()? as f64);
        let w = (l * cfg.loss_weights[k])?;
        loss = Some(match loss {
            Some(acc) => (acc + w)?,
            None => w,
        });
        off += n;
    }
    let loss = loss.ok_or_else(|| Error::Invalid("PACL text stage: an empty step".into()))?;
    Ok((loss, this))
}

/// Trains a text branch on `base` (copied; its tower frozen and bit-identical) with the
/// PACL loss over `data`'s utterance pairs. `progress` is told each step and its
/// cancellation is checked between steps.
pub fn train_text(
    base: &PaclModel,
    data: &TrainData,
    sd: &StageData,
    cfg: &TextStageConfig,
    progress: &dyn Progress,
) -> Result<(PaclModel, TextStageReport)> {
    let start = Instant::now();
    let model = base.with_text_branch(&cfg.branch, cfg.seed)?;
    let sub = cfg.sub_batch.max(2);
    let steps_per_epoch = cfg
        .steps_per_epoch
        .unwrap_or_else(|| sd.pairs.len().div_ceil(sub * 2))
        .max(1);
    let epochs = cfg.epochs.max(1);
    let total = steps_per_epoch * epochs;
    let mut opt = AdamW::new(Schedule::Cosine {
        warmup: (total / 10).min(20),
        total,
    })
    .with_clip(1.0);
    let text_vars = vars_with_prefix(model.varmap(), &["text."]);
    let mut parameters = count_params(&text_vars);
    opt.add_group(
        text_vars,
        AdamWParams {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    if cfg.lr_proj > 0.0 {
        let proj = vars_with_prefix(model.varmap(), &["q_v.", "q_t."]);
        parameters += count_params(&proj);
        opt.add_group(
            proj,
            AdamWParams {
                lr: cfg.lr_proj,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
    }
    let mut cyclers: Vec<Cycler> = Partition::ALL
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let items = sd
                .pairs
                .iter()
                .copied()
                .filter(|&j| data.pairs[j].partition == *part)
                .collect();
            Cycler::new(items, cfg.seed.wrapping_add(211 * (k as u64 + 1)))
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7e47);
    let mut report_epochs = Vec::new();
    let mut steps = 0;
    for epoch in 0..epochs {
        let phase = Phase::of(epoch, epochs);
        let (mut sum, mut n) = (0.0, 0usize);
        for _ in 0..steps_per_epoch {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let mut groups = Vec::new();
            for &kind in phase.losses() {
                let c = &mut cyclers[partition_of(kind).index()];
                let idx = c.take_distinct(sub, |j| data.pairs[j].image);
                if idx.len() >= 2 {
                    groups.push((kind, idx));
                }
            }
            if groups.is_empty() {
                continue;
            }
            let (loss, _) = step_loss(&model, data, sd, &groups, cfg, &mut rng)?;
            sum += loss.to_scalar::<f32>()? as f64;
            n += 1;
            opt.backward_step(&loss)?;
            steps += 1;
            progress.report(
                steps as f32 / total as f32,
                &format!("text branch: epoch {}/{epochs} ({phase:?})", epoch + 1),
            );
        }
        report_epochs.push(TextEpoch {
            epoch,
            phase,
            loss: sum / n.max(1) as f64,
        });
    }
    let report = TextStageReport {
        config: cfg.clone(),
        pairs: sd.pairs.len(),
        epochs: report_epochs,
        steps,
        parameters,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((model, report))
}

/// One zero-shot measurement on the test paintings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotScore {
    /// What the image side read ("pixels + text", "pixels only").
    pub input: String,
    /// The class prompts.
    pub prompts: PromptSet,
    /// The calibration (over every painting of the collection; no labels).
    pub calibration: Calibration,
    /// Whether the training paintings' dominant-emotion prior was added (not zero-shot).
    pub prior_corrected: bool,
    /// Share of test paintings whose viewers' dominant emotion was predicted.
    pub accuracy: f64,
    /// The emotion predicted most often on the test paintings.
    pub largest: Emotion,
    /// Its share of the test paintings.
    pub largest_share: f64,
    /// Distinct emotions predicted on the test paintings.
    pub distinct: usize,
}

/// The text stage's measurements on the test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEvalReport {
    /// Training paintings of the probes.
    pub train: usize,
    /// Test paintings.
    pub test: usize,
    /// What the collection gave the model to read.
    pub read: String,
    /// The majority class of the training paintings, scored on the test paintings.
    pub majority: ProbeScores,
    /// The viewers' dominant emotions of the test paintings, counted.
    pub test_labels: BTreeMap<String, usize>,
    /// Linear probes: "backbone pixels only" (the frozen tower, the paper's protocol),
    /// "backbone + text" (tower feature beside the branch's output, same protocol),
    /// "projected pixels only" and "projected + text" (`z^v`, logistic regression).
    pub probes: BTreeMap<String, ProbeScores>,
    /// Zero-shot with each prompt set, calibration and input.
    pub zero_shot: Vec<ZeroShotScore>,
}

/// Measures `model` (with or without a text branch) on the shipped test split: probes
/// trained on the training paintings and zero-shot on the test paintings, with and
/// without the paintings' text. `encoder` is the model's sentence encoder.
pub fn evaluate(
    model: &PaclModel,
    encoder: &SentenceEncoder,
    assets: &std::path::Path,
) -> Result<TextEvalReport> {
    use crate::annotations::artemis::Split;
    let collection =
        crate::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let set = crate::annotations::dataset::AnnotationSet::load(&assets.join("annotations"))?;
    let labels = dominant_labels(&set);
    let tcfg = &model.config().tower;
    let descs: Vec<_> = collection
        .paintings
        .iter()
        .map(|p| crate::models::patch_tower::file_descriptors(&p.path, tcfg))
        .collect::<Result<_>>()?;
    let texts: Vec<PaintingText> = collection
        .paintings
        .iter()
        .map(PaintingText::from_painting)
        .collect();
    let silent = &crate::progress::Silent;
    let cls = model.backbone(&descs, 32, silent)?;
    let pixels = model.embed(&descs, 32, silent)?;
    let (with_text, branch_out) = match model.text_branch() {
        Some(b) => {
            let toks = text_tokens(encoder, &texts, b.config())?;
            let z = model.embed_text(&descs, Some(&toks), 32, silent)?;
            let width = b.config().width();
            let t = Tensor::from_vec(toks.concat(), (toks.len(), width), model.device())?;
            (Some(z), Some(b.forward(&t)?.to_vec2::<f32>()?))
        }
        None => (None, None),
    };
    // Rows of the train (0) and test (1) paintings with a label.
    let mut rows: [Vec<(usize, usize)>; 2] = Default::default();
    for (i, p) in collection.paintings.iter().enumerate() {
        let k = match set.splits.get(&p.id) {
            Some(Split::Train) => 0,
            Some(Split::Test) => 1,
            _ => continue,
        };
        if let Some(&y) = labels.get(&p.id) {
            rows[k].push((i, y));
        }
    }
    let pick = |feats: &[Vec<f32>], k: usize| -> Vec<Vec<f32>> {
        rows[k].iter().map(|&(i, _)| feats[i].clone()).collect()
    };
    let ys = |k: usize| -> Vec<usize> { rows[k].iter().map(|&(_, y)| y).collect() };
    let (tr_y, te_y) = (ys(0), ys(1));
    let mut probes = BTreeMap::new();
    let mut probe = |name: &str, feats: &[Vec<f32>], kind: ProbeFeatures| -> Result<()> {
        let (_, s) = kind.evaluate(&pick(feats, 0), &tr_y, &pick(feats, 1), &te_y, 9)?;
        probes.insert(name.to_string(), s);
        Ok(())
    };
    probe("backbone pixels only", &cls, ProbeFeatures::Backbone)?;
    probe("projected pixels only", &pixels, ProbeFeatures::Projected)?;
    if let (Some(z), Some(bo)) = (&with_text, &branch_out) {
        let cat: Vec<Vec<f32>> = cls
            .iter()
            .zip(bo)
            .map(|(a, b)| a.iter().chain(b).copied().collect())
            .collect();
        probe("backbone + text", &cat, ProbeFeatures::Backbone)?;
        probe("projected + text", z, ProbeFeatures::Projected)?;
    }
    let majority = majority_scores(&tr_y, &te_y, 9);
    let mut freq = [0usize; 9];
    for &y in &tr_y {
        freq[y] += 1;
    }

    // Zero-shot over the whole collection (calibration needs no labels), scored on the
    // test paintings.
    let emotions = Emotion::EIGHT.to_vec();
    let log_prior: Vec<f32> = emotions
        .iter()
        .map(|e| ((freq[e.index()] as f32 + 1.0) / (tr_y.len() as f32 + 8.0)).ln())
        .collect();
    let mut zero_shot = Vec::new();
    let mut inputs = vec![("pixels only", &pixels)];
    if let Some(z) = &with_text {
        inputs.push(("pixels + text", z));
    }
    for (prompts, (input, z)) in PromptSet::ALL
        .into_iter()
        .flat_map(|p| inputs.iter().map(move |i| (p, *i)))
    {
        let classes = class_embeddings(model, encoder, &emotions, prompts)?;
        for calibration in Calibration::ALL {
            let preds = classify_calibrated(
                z,
                &classes,
                &emotions,
                model.config().temperature,
                calibration,
            );
            for prior_corrected in [false, true] {
                let pred: Vec<usize> = rows[1]
                    .iter()
                    .map(|&(i, _)| {
                        let p = &preds[i].probabilities;
                        let best = (0..p.len())
                            .max_by(|&a, &b| {
                                let s = |c: usize| {
                                    p[c].max(1e-30).ln()
                                        + if prior_corrected { log_prior[c] } else { 0.0 }
                                };
                                s(a).total_cmp(&s(b)).then(b.cmp(&a))
                            })
                            .unwrap_or(0);
                        emotions[best].index()
                    })
                    .collect();
                let mut count = [0usize; 9];
                for &c in &pred {
                    count[c] += 1;
                }
                let top = (0..9)
                    .max_by(|&a, &b| count[a].cmp(&count[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                let correct = pred.iter().zip(&te_y).filter(|(a, b)| a == b).count();
                zero_shot.push(ZeroShotScore {
                    input: input.to_string(),
                    prompts,
                    calibration,
                    prior_corrected,
                    accuracy: correct as f64 / te_y.len().max(1) as f64,
                    largest: Emotion::ALL[top],
                    largest_share: count[top] as f64 / pred.len().max(1) as f64,
                    distinct: count.iter().filter(|&&c| c > 0).count(),
                });
            }
        }
    }
    let mut test_labels = BTreeMap::new();
    for &y in &te_y {
        *test_labels
            .entry(Emotion::ALL[y].name().to_string())
            .or_insert(0) += 1;
    }
    Ok(TextEvalReport {
        train: tr_y.len(),
        test: te_y.len(),
        read: if model.text_branch().is_some() {
            read_label(&texts)
        } else {
            "pixels only".into()
        },
        majority,
        test_labels,
        probes,
        zero_shot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::nn::Mode;
    use crate::models::patch_tower::{descriptors_tensor, Descriptors};
    use crate::pacl::train::synthetic_data;
    use crate::pacl::PaclConfig;
    use candle_core::Device;

    fn tiny() -> (PaclModel, TrainData, StageData, TextStageConfig) {
        let dev = Device::Cpu;
        let mcfg = PaclConfig::tiny(6);
        let mut data = synthetic_data(12, mcfg.tower.grid, 6);
        for p in &mut data.pairs {
            p.source = TextSource::Utterance;
        }
        let base = PaclModel::new(&mcfg, &dev, 4).unwrap();
        let branch = TextBranchConfig::tiny(3, 6);
        let tokens = (0..data.images.len())
            .map(|i| (0..18).map(|j| ((i * 18 + j) % 11) as f32 / 11.0).collect())
            .collect();
        let sd = StageData::new(&base, &data, tokens).unwrap();
        let cfg = TextStageConfig {
            branch,
            epochs: 3,
            sub_batch: 4,
            steps_per_epoch: Some(2),
            ..Default::default()
        };
        (base, data, sd, cfg)
    }

    /// Every variable of the branch and of both projections gets a gradient from a step
    /// of the last phase (all four losses); the tower gets none through the cached
    /// features.
    #[test]
    fn gradients_reach_every_trainable_variable_of_the_branch() {
        let (base, data, sd, cfg) = tiny();
        let m = base.with_text_branch(&cfg.branch, 9).unwrap();
        let mut cyclers: Vec<Cycler> = Partition::ALL
            .iter()
            .map(|part| {
                Cycler::new(
                    sd.pairs
                        .iter()
                        .copied()
                        .filter(|&j| data.pairs[j].partition == *part)
                        .collect(),
                    1,
                )
            })
            .collect();
        let groups: Vec<(LossKind, Vec<usize>)> = Phase::All
            .losses()
            .iter()
            .map(|&k| {
                let c = &mut cyclers[partition_of(k).index()];
                (k, c.take_distinct(4, |j| data.pairs[j].image))
            })
            .filter(|(_, idx)| idx.len() >= 2)
            .collect();
        assert!(!groups.is_empty());
        // No dropout, so every row of the branch sees text.
        let cfg = TextStageConfig {
            branch: TextBranchConfig {
                text_dropout: 0.0,
                field_dropout: 0.0,
                ..cfg.branch.clone()
            },
            ..cfg
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (loss, _) = step_loss(&m, &data, &sd, &groups, &cfg, &mut rng).unwrap();
        let grads = loss.backward().unwrap();
        let vm = m.varmap().data().lock().unwrap();
        let mut seen = 0;
        for (name, var) in vm.iter() {
            let g = grads.get(var.as_tensor());
            if name.starts_with("vision.") {
                assert!(g.is_none(), "the frozen tower got a gradient: {name}");
                continue;
            }
            let s = g
                .unwrap_or_else(|| panic!("no gradient for {name}"))
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(s > 0.0 && s.is_finite(), "gradient for {name}: {s}");
            seen += 1;
        }
        // text.fc1, text.fc2, q_v.{weight,bias}, q_t.{weight,bias}.
        assert_eq!(seen, 6);
    }

    /// Training leaves the tower bit-identical; the checkpoint with the branch loads and
    /// embeds as saved, and reads pixels only without tokens; the base checkpoint (no
    /// branch) still loads and embeds as before.
    #[test]
    fn tower_stays_identical_and_checkpoints_with_and_without_branch_load() {
        let (base, data, sd, cfg) = tiny();
        let (m, r) = train_text(&base, &data, &sd, &cfg, &crate::progress::Silent).unwrap();
        assert_eq!(r.epochs.len(), 3);
        assert!(r.epochs.iter().all(|e| e.loss.is_finite()));
        let refs: Vec<&Descriptors> = data.images[..3].iter().collect();
        let x = descriptors_tensor(&refs, &Device::Cpu).unwrap();
        let ga = base.tower().forward(&x, Mode::Infer).unwrap().grid;
        let gb = m.tower().forward(&x, Mode::Infer).unwrap().grid;
        assert_eq!(crate::models::tests::max_diff(&ga, &gb), 0.0);

        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with");
        let without = dir.path().join("without");
        m.save(&with).unwrap();
        base.save(&without).unwrap();
        let text = std::fs::read_to_string(without.join("config.json")).unwrap();
        assert!(!text.contains("text_branch"), "{text}");
        let m2 = PaclModel::load(&with, &Device::Cpu).unwrap();
        assert!(m2.text_branch().is_some());
        let b2 = PaclModel::load(&without, &Device::Cpu).unwrap();
        assert!(b2.text_branch().is_none());
        let toks = &sd.tokens[..3];
        let a = m.embed_text(&data.images[..3], Some(toks), 2, &crate::progress::Silent);
        let b = m2.embed_text(&data.images[..3], Some(toks), 2, &crate::progress::Silent);
        assert_eq!(a.unwrap(), b.unwrap());
        // Tokens change the embedding; all-zero tokens are exactly pixels only.
        let with_text = m2
            .embed_text(&data.images[..3], Some(toks), 3, &crate::progress::Silent)
            .unwrap();
        let pixels = m2
            .embed(&data.images[..3], 3, &crate::progress::Silent)
            .unwrap();
        assert_ne!(with_text, pixels);
        let zeros = vec![vec![0f32; 18]; 3];
        let z = m2
            .embed_text(&data.images[..3], Some(&zeros), 3, &crate::progress::Silent)
            .unwrap();
        for (p, q) in z.iter().zip(&pixels) {
            for (u, v) in p.iter().zip(q) {
                assert!((u - v).abs() < 1e-6);
            }
        }
        // The model without a branch ignores tokens: its pixels-only embedding as saved.
        let e0 = base
            .embed(&data.images[..3], 3, &crate::progress::Silent)
            .unwrap();
        let e1 = b2
            .embed_text(&data.images[..3], Some(toks), 3, &crate::progress::Silent)
            .unwrap();
        assert_eq!(e0, e1);
        // A checkpoint whose config names a branch but lacks its tensors is refused,
        // naming the tensor.
        std::fs::copy(
            without.join("model.safetensors"),
            with.join("model.safetensors"),
        )
        .unwrap();
        let err = PaclModel::load(&with, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("text."), "{err}");
    }
}
