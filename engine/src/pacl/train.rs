//! PACL training: data preparation (stages 1 and 2) and the adaptive contrastive loop
//! (stage 3), deterministic by seed.
//!
//! Data: `(image, text)` pairs from the shipped assets, train split only (`SPLITS.csv`):
//! every annotation utterance of a training painting, plus its title and its curatorial
//! description (as in PACL's social-media posts, these are noisy: the partition decides
//! how each pair is used). Augmentation: every step re-crops and flips each image's
//! descriptor grid ([`Descriptors::augment`]). A sub-batch never holds the same painting
//! twice (a painting has several texts; a second copy would be a false negative).

use std::path::Path;

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::cosine;
use super::kmeans::kmeans;
use super::losses::Directions;
use super::partition::{
    affective_description, count, partition, percentiles, Partition, PartitionCounts, PAPER_SIGMA,
    STANDIN_SIGMA_EMOTIONAL, STANDIN_SIGMA_FACTUAL,
};
use crate::annotations::artemis::Split;
use crate::annotations::dataset::AnnotationSet;
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::metrics::clipscore::ClipScorer;
use crate::models::bert::SentenceEncoder;
use crate::models::patch_tower::{file_descriptors, Descriptors};
use crate::progress::Progress;

pub use super::trainer::{train, EpochReport, TrainReport};

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs (the schedule switches at each third).
    pub epochs: usize,
    /// Pairs per sub-batch (a step has four, one per partition).
    pub sub_batch: usize,
    /// Steps per epoch (default: all pairs once, `ceil(pairs / (4 * sub_batch))`).
    pub steps_per_epoch: Option<usize>,
    /// Peak learning rate of the vision tower (an Artemo choice: the paper gives 1e-3 for
    /// ResNet-50 and 1e-5 / 2e-5 for the pretrained transformers; Artemo's small tower
    /// starts untrained, so 5e-4).
    pub lr_tower: f64,
    /// Peak learning rate of the projections (paper: 1e-3).
    pub lr_proj: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Warm-up steps before the cosine decay (an Artemo choice; neither the paper nor the
    /// released code warms up; 0 turns it off).
    pub warmup_steps: usize,
    /// Gradient clipping, global L2 norm (an Artemo choice; neither the paper nor the
    /// released code clips; 0 turns it off).
    pub clip_norm: f64,
    /// Weights of L1..L4 (paper Eq. 16-17: all 1, the default; released code
    /// `weight_a234`: 1, 0.6, 0.6, 0.1).
    pub loss_weights: [f64; 4],
    /// Which anchors each contrastive loss averages over (paper: both, halved; released
    /// code: one direction per loss).
    #[serde(default)]
    pub directions: Directions,
    /// Weight of the summed contrastive losses (paper: 1; released code `weight_clip`:
    /// 0.1, `config_PACL.py` line 203).
    #[serde(default = "one")]
    pub contrastive_weight: f64,
    /// Weight of the released code's ITM loss ([`super::itm`]; paper: 0, no ITM, the
    /// default; code: 1).
    #[serde(default)]
    pub itm_weight: f64,
    /// Smallest crop side (share of the grid) of the augmentation.
    pub min_crop: f32,
    /// Clusters of the pseudo-labels (paper: 2).
    pub k: usize,
    /// Seed of initialisation, sampling and augmentation.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            sub_batch: 16,
            steps_per_epoch: None,
            lr_tower: 5e-4,
            lr_proj: 1e-3,
            weight_decay: 0.05,
            warmup_steps: 20,
            clip_norm: 1.0,
            loss_weights: [1.0; 4],
            directions: Directions::Symmetric,
            contrastive_weight: 1.0,
            itm_weight: 0.0,
            min_crop: 0.7,
            k: 2,
            seed: 2026,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// The objective presets: the paper's (the default) or the released code's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Eq. 15-17: symmetric L1..L4 with weight 1, no ITM.
    Paper,
    /// `PACL/pretrain_PACL.py` with `-loss all` (`run/0.sh`): one-direction L1..L4
    /// weighted 1, 0.6, 0.6, 0.1, their sum times `weight_clip` 0.1, plus the ITM loss
    /// with weight 1.
    Code,
}

impl Objective {
    /// Both presets.
    pub const ALL: [Objective; 2] = [Objective::Paper, Objective::Code];

    /// The preset's name ("paper", "code").
    pub fn name(self) -> &'static str {
        match self {
            Objective::Paper => "paper",
            Objective::Code => "code",
        }
    }
}

impl TrainConfig {
    /// Sets the objective's fields (loss weights, directions, contrastive and ITM
    /// weights) to `preset`, leaving the other settings.
    pub fn with_objective(mut self, preset: Objective) -> Self {
        match preset {
            Objective::Paper => {
                self.loss_weights = [1.0; 4];
                self.directions = Directions::Symmetric;
                self.contrastive_weight = 1.0;
                self.itm_weight = 0.0;
            }
            Objective::Code => {
                self.loss_weights = [1.0, 0.6, 0.6, 0.1];
                self.directions = Directions::Code;
                self.contrastive_weight = 0.1;
                self.itm_weight = 1.0;
            }
        }
        self
    }

    /// The preset the objective's fields match, if any.
    pub fn objective(&self) -> Option<Objective> {
        Objective::ALL
            .into_iter()
            .find(|&o| self.clone().with_objective(o) == *self)
    }
}

/// Where a text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextSource {
    /// An annotation utterance.
    Utterance,
    /// The painting's title.
    Title,
    /// The painting's curatorial description.
    Description,
}

/// One image-text pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Index into [`TrainData::images`].
    pub image: usize,
    /// The text.
    pub text: String,
    /// Where it came from.
    pub source: TextSource,
    /// Factual score (Eq. 1 or its stand-in).
    pub factual: f32,
    /// Emotional score (Eq. 2 stand-in).
    pub emotional: f32,
    /// Stage-1 partition.
    pub partition: Partition,
    /// Stage-2 emotional pseudo-label of the text.
    pub emotional_label: usize,
}

/// Everything training needs, prepared once (serialisable, so it can be cached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainData {
    /// Painting ids.
    pub image_ids: Vec<String>,
    /// Fixed descriptors per painting.
    pub images: Vec<Descriptors>,
    /// Stage-2 factual pseudo-label per painting.
    pub factual_labels: Vec<usize>,
    /// The pairs.
    pub pairs: Vec<Pair>,
    /// Frozen text-encoder features per pair (unit norm).
    pub text_features: Vec<Vec<f32>>,
    /// Partition sizes.
    pub counts: PartitionCounts,
}

/// Options of [`prepare`].
#[derive(Debug, Clone, Default)]
pub struct PrepareOptions {
    /// Factual threshold (default: 0.7 with CLIP, the stand-in's otherwise).
    pub sigma_factual: Option<f32>,
    /// Emotional threshold (default: the stand-in's).
    pub sigma_emotional: Option<f32>,
    /// Clusters (K).
    pub k: usize,
    /// Seed of k-means.
    pub seed: u64,
    /// Use at most this many training paintings (quick runs).
    pub max_paintings: Option<usize>,
}

fn metadata_text(p: &crate::collection::Painting) -> String {
    let mut parts = vec![p.display_title().to_string()];
    if let Some(a) = &p.artist {
        parts.push(a.clone());
    }
    if let Some(d) = &p.date {
        parts.push(d.clone());
    }
    if let Some(m) = &p.medium {
        parts.push(m.clone());
    }
    if let Some(d) = p.plain_description() {
        parts.push(d);
    }
    parts.join(". ")
}

/// Stages 1 and 2 on the shipped assets: descriptors of every training painting, pairs
/// (utterances, titles, descriptions), text features, scores, partition and
/// pseudo-labels. `clip` is the factual evaluator when CLIP weights are installed.
/// `progress` gets the done share by stage; a cancelled `progress` stops with
/// [`Error::Cancelled`].
pub fn prepare(
    assets: &Path,
    encoder: &SentenceEncoder,
    tower: &crate::models::patch_tower::PatchTowerConfig,
    clip: Option<&ClipScorer>,
    opts: &PrepareOptions,
    progress: &dyn Progress,
) -> Result<TrainData> {
    let collection = Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let set = AnnotationSet::load(&assets.join("annotations"))?;
    let mut paintings: Vec<&crate::collection::Painting> = collection
        .paintings
        .iter()
        .filter(|p| set.splits.get(&p.id) == Some(&Split::Train))
        .collect();
    if let Some(m) = opts.max_paintings {
        paintings.truncate(m);
    }
    if paintings.len() < 2 {
        return Err(Error::Invalid(format!(
            "PACL: {} training paintings in {}",
            paintings.len(),
            set.dir.display()
        )));
    }
    let utterances: Vec<(&str, &str)> = set
        .rows
        .iter()
        .map(|r| (r.painting.as_str(), r.utterance.as_str()))
        .collect();
    prepare_pairs(
        &paintings,
        &utterances,
        encoder,
        tower,
        clip,
        opts,
        progress,
    )
}

/// Stages 1 and 2 on any paintings: descriptors of every painting, pairs (`utterances`:
/// (painting id, text) of the paintings, then their titles and descriptions), text
/// features, scores, partition and pseudo-labels. `progress` gets the done share by
/// stage; a cancelled `progress` stops with [`Error::Cancelled`].
pub fn prepare_pairs(
    paintings: &[&crate::collection::Painting],
    utterances: &[(&str, &str)],
    encoder: &SentenceEncoder,
    tower: &crate::models::patch_tower::PatchTowerConfig,
    clip: Option<&ClipScorer>,
    opts: &PrepareOptions,
    progress: &dyn Progress,
) -> Result<TrainData> {
    if paintings.len() < 2 {
        return Err(Error::Invalid(format!(
            "PACL: {} paintings to train on (at least 2)",
            paintings.len()
        )));
    }
    let mut images = Vec::with_capacity(paintings.len());
    for (i, p) in paintings.iter().enumerate() {
        images.push(file_descriptors(&p.path, tower)?);
        progress.report(0.4 * i as f32 / paintings.len() as f32, "image descriptors");
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
    }
    let index: std::collections::HashMap<&str, usize> = paintings
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut pairs: Vec<(usize, String, TextSource)> = Vec::new();
    for (painting, text) in utterances {
        if let Some(&i) = index.get(painting) {
            pairs.push((i, text.to_string(), TextSource::Utterance));
        }
    }
    for (i, p) in paintings.iter().enumerate() {
        if let Some(t) = &p.title {
            pairs.push((i, t.clone(), TextSource::Title));
        }
        if let Some(d) = p.plain_description() {
            // Keep the first ~60 words: MiniLM reads 256 tokens, and the opening
            // sentences carry the subject.
            let short: Vec<&str> = d.split_whitespace().take(60).collect();
            pairs.push((i, short.join(" "), TextSource::Description));
        }
    }
    let texts: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    let mut text_features = Vec::with_capacity(texts.len());
    for (c, chunk) in texts.chunks(64).enumerate() {
        text_features.extend(encoder.encode(chunk, 32)?.to_vec2::<f32>()?);
        progress.report(
            0.4 + 0.3 * ((c + 1) * 64).min(texts.len()) as f32 / texts.len() as f32,
            "text features",
        );
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
    }
    // Stage 1: factual scores.
    let (factual, factual_name, sigma_f_default) = match clip {
        Some(scorer) => {
            let ps: Vec<(&Path, &str)> = pairs
                .iter()
                .map(|(i, t, _)| (paintings[*i].path.as_path(), t.as_str()))
                .collect();
            let s = scorer.score(&ps)?;
            let cos = s
                .into_iter()
                .map(|v| (v / crate::metrics::clipscore::W) as f32)
                .collect::<Vec<_>>();
            (cos, "CLIP image-text cosine".to_string(), PAPER_SIGMA)
        }
        None => {
            let meta: Vec<String> = paintings.iter().map(|p| metadata_text(p)).collect();
            let refs: Vec<&str> = meta.iter().map(String::as_str).collect();
            let m = encoder.encode(&refs, 16)?.to_vec2::<f32>()?;
            let cos = pairs
                .iter()
                .zip(&text_features)
                .map(|((i, _, _), t)| cosine(&m[*i], t))
                .collect();
            (
                cos,
                "MiniLM cosine(text, title + artist + date + medium + description)".to_string(),
                STANDIN_SIGMA_FACTUAL,
            )
        }
    };
    progress.report(0.8, "emotional scores");
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    // Stage 1: emotional scores from adjective-noun phrases of each image.
    let globals: Vec<Vec<f32>> = images.iter().map(Descriptors::global).collect();
    let anps: Vec<String> = globals.iter().map(|g| affective_description(g)).collect();
    let refs: Vec<&str> = anps.iter().map(String::as_str).collect();
    let anp_feats = encoder.encode(&refs, 32)?.to_vec2::<f32>()?;
    let emotional: Vec<f32> = pairs
        .iter()
        .zip(&text_features)
        .map(|((i, _, _), t)| cosine(&anp_feats[*i], t))
        .collect();
    let sigma_f = opts.sigma_factual.unwrap_or(sigma_f_default);
    let sigma_e = opts.sigma_emotional.unwrap_or(STANDIN_SIGMA_EMOTIONAL);
    let parts = partition(&factual, &emotional, sigma_f, sigma_e);
    let c = count(&parts);
    // Stage 2: pseudo-labels.
    let k = opts.k.max(1);
    let z = zscore(&globals);
    let f_labels = kmeans(&z, k.min(z.len()), opts.seed, 4, 300)?.labels;
    let e_labels = kmeans(
        &text_features,
        k.min(text_features.len()),
        opts.seed ^ 1,
        4,
        300,
    )?
    .labels;
    progress.report(1.0, "prepared");
    Ok(TrainData {
        image_ids: paintings.iter().map(|p| p.id.clone()).collect(),
        images,
        factual_labels: f_labels,
        pairs: pairs
            .into_iter()
            .enumerate()
            .map(|(j, (image, text, source))| Pair {
                image,
                text,
                source,
                factual: factual[j],
                emotional: emotional[j],
                partition: parts[j],
                emotional_label: e_labels[j],
            })
            .collect(),
        text_features,
        counts: PartitionCounts {
            strong: c[0],
            partial_emotional: c[1],
            partial_factual: c[2],
            weak: c[3],
            sigma_factual: sigma_f,
            sigma_emotional: sigma_e,
            factual_evaluator: factual_name,
            emotional_evaluator:
                "MiniLM cosine(text, top-3 adjective-noun phrases from colour/light/texture descriptors)"
                    .into(),
            factual_percentiles: percentiles(&factual),
            emotional_percentiles: percentiles(&emotional),
        },
    })
}

/// Per-feature z-scores of the rows (constant features become 0).
pub fn zscore(rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let n = rows.len().max(1) as f32;
    let d = rows.first().map(Vec::len).unwrap_or(0);
    let mut mean = vec![0f32; d];
    for r in rows {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v / n;
        }
    }
    let mut sd = vec![0f32; d];
    for r in rows {
        for ((s, v), m) in sd.iter_mut().zip(r).zip(&mean) {
            *s += (v - m) * (v - m) / n;
        }
    }
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&mean)
                .zip(&sd)
                .map(|((v, m), s)| if *s > 1e-12 { (v - m) / s.sqrt() } else { 0.0 })
                .collect()
        })
        .collect()
}

/// Synthetic data for tests and benchmarks: `n` paintings in two colour families, texts in two matching
/// families, partitions cycling through all four.
pub fn synthetic_data(n: usize, grid: usize, text_dim: usize) -> TrainData {
    use crate::models::patch_tower::DESC_DIM;
    use rand::Rng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let images: Vec<Descriptors> = (0..n)
        .map(|i| Descriptors {
            grid,
            data: (0..grid * grid * DESC_DIM)
                .map(|j| ((i % 2) as f32) * ((j % 3) as f32) + rng.gen_range(0.0..0.2))
                .collect(),
        })
        .collect();
    let mut pairs = Vec::new();
    let mut feats = Vec::new();
    for i in 0..n {
        for t in 0..2 {
            let j = pairs.len();
            pairs.push(Pair {
                image: i,
                text: format!("text {i} {t}"),
                source: TextSource::Utterance,
                factual: 0.0,
                emotional: 0.0,
                partition: Partition::ALL[j % 4],
                emotional_label: i % 2,
            });
            let mut f: Vec<f32> = (0..text_dim).map(|_| rng.gen_range(-0.1..0.1)).collect();
            f[i % 2] += 1.0;
            feats.push(f);
        }
    }
    TrainData {
        image_ids: (0..n).map(|i| i.to_string()).collect(),
        images,
        factual_labels: (0..n).map(|i| i % 2).collect(),
        pairs,
        text_features: feats,
        counts: PartitionCounts::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacl::schedule::Phase;
    use crate::pacl::PaclConfig;
    use crate::progress::{FnProgress, Silent};
    use candle_core::Device;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn training_lowers_the_loss_and_is_deterministic() {
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
            ..Default::default()
        };
        let fractions = std::cell::RefCell::new(Vec::new());
        let (m, r) = train(
            &mcfg,
            &cfg,
            &data,
            &dev,
            &FnProgress::new(|f, _| fractions.borrow_mut().push(f)),
        )
        .unwrap();
        let fractions = fractions.into_inner();
        assert_eq!(r.epochs.len(), 6);
        assert_eq!(r.epochs[0].phase, Phase::Strong);
        assert!(r.epochs[0].losses[1].is_none() && r.epochs[5].losses[3].is_some());
        assert_eq!(r.steps, 24);
        assert!((fractions.last().copied().unwrap() - 1.0).abs() < 1e-6);
        let l1_first = r.epochs[0].losses[0].unwrap();
        let l1_last = r.epochs[5].losses[0].unwrap();
        assert!(l1_last < l1_first, "L1 {l1_first} -> {l1_last}");
        let (m2, r2) = train(&mcfg, &cfg, &data, &dev, &Silent).unwrap();
        assert_eq!(r.epochs[5].loss, r2.epochs[5].loss);
        let e1 = m
            .embed(&data.images[..3], 3, &crate::progress::Silent)
            .unwrap();
        let e2 = m2
            .embed(&data.images[..3], 3, &crate::progress::Silent)
            .unwrap();
        assert_eq!(e1, e2);
        assert!(matches!(
            train(
                &mcfg,
                &cfg,
                &data,
                &dev,
                &FnProgress::with_cancel(|_, _| {}, &AtomicBool::new(true))
            ),
            Err(Error::Cancelled)
        ));
    }

    #[test]
    fn zscore_standardises() {
        let z = zscore(&[vec![1.0, 5.0], vec![3.0, 5.0]]);
        assert_eq!(z, vec![vec![-1.0, 0.0], vec![1.0, 0.0]]);
    }
}
