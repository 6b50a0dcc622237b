//! The text-to-emotion classifier behind the EA metric: frozen all-MiniLM-L6-v2 sentence
//! features and a small trained head (Linear 384 -> H, ReLU, Linear H -> 8), trained on
//! GoEmotions mapped to the eight ArtEmis emotions (see [`super::goemotions`]) plus the
//! train split of Artemo's own annotations. ArtEmis' own EA classifier (GloVe + LSTM on
//! ArtEmis) cannot ship; this one is Artemo's documented stand-in, and reports name it.
//!
//! Shipped in `models/ea-minilm/` (`head.safetensors`, `config.json`, `MODEL_CARD.md`),
//! trained by `artemo train ea-classifier`.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, Optimizer, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::emotion::Emotion;
use crate::error::{read_text, write_atomic, Error, Result};
use crate::metrics::TextEmotionClassifier;
use crate::models::bert::SentenceEncoder;
use crate::models::loading::Weights;
use crate::progress::{Progress, Scaled, Silent};

/// The classifier's folder in the models folder.
pub const EA_DIR: &str = "ea-minilm";

/// Head configuration (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Name of the sentence encoder in the models folder.
    pub encoder: String,
    /// Input width (384 for MiniLM).
    pub input: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Output labels in order.
    pub labels: Vec<String>,
}

impl HeadConfig {
    /// The default: MiniLM features, 256 hidden units, the eight ArtEmis emotions.
    pub fn minilm() -> Self {
        HeadConfig {
            encoder: "all-MiniLM-L6-v2".into(),
            input: 384,
            hidden: 256,
            labels: Emotion::EIGHT
                .iter()
                .map(|e| e.name().to_string())
                .collect(),
        }
    }
}

/// The MLP head.
#[derive(Debug, Clone)]
pub struct EaHead {
    fc1: Linear,
    fc2: Linear,
    cfg: HeadConfig,
}

impl EaHead {
    /// Builds the head (`fc1.*`, `fc2.*`).
    pub fn new(cfg: &HeadConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(EaHead {
            fc1: candle_nn::linear(cfg.input, cfg.hidden, vb.pp("fc1"))?,
            fc2: candle_nn::linear(cfg.hidden, cfg.labels.len(), vb.pp("fc2"))?,
            cfg: cfg.clone(),
        })
    }

    /// Logits [N, 8] of features [N, input].
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.fc2.forward(&self.fc1.forward(x)?.relu()?)?)
    }

    /// Most likely emotion per row.
    pub fn predict(&self, x: &Tensor) -> Result<Vec<Emotion>> {
        let idx = self.logits(x)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
        idx.into_iter()
            .map(|i| {
                self.cfg
                    .labels
                    .get(i as usize)
                    .and_then(|n| Emotion::parse(n))
                    .ok_or_else(|| Error::Invalid(format!("head label {i} is not an emotion")))
            })
            .collect()
    }

    /// Loads `config.json` + `head.safetensors` from `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cp = dir.join("config.json");
        let text = read_text(&cp)?;
        let cfg: HeadConfig = serde_json::from_str(&text)
            .map_err(|e| Error::at(&cp, format!("line {}", e.line()), e.to_string()))?;
        if let Some(bad) = cfg.labels.iter().find(|l| Emotion::parse(l).is_none()) {
            return Err(Error::at(
                &cp,
                "field `labels`",
                format!("`{bad}` is not an emotion"),
            ));
        }
        let w = Weights::load(&dir.join("head.safetensors"), device)?;
        let source = w.source().to_path_buf();
        EaHead::new(&cfg, w.var_builder(device))
            .map_err(|e| Error::parse(&source, None, format!("EA head: {e}")))
    }
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Mini-batch size.
    pub batch: usize,
    /// Shuffling and initialisation seed.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 12,
            lr: 1e-3,
            weight_decay: 1e-2,
            batch: 128,
            seed: 2026,
        }
    }
}

/// Trains a head on features [N, input] and labels (emotion indices 0..8); `progress`
/// gets the done share after each epoch with "epoch E/N: loss L" (the epoch's mean
/// loss), and once it is cancelled training stops early (keeping the head trained so
/// far). Returns the variables and the head.
pub fn train_head(
    cfg: &HeadConfig,
    x: &Tensor,
    y: &[u32],
    tc: &TrainConfig,
    progress: &dyn Progress,
) -> Result<(VarMap, EaHead)> {
    let device = x.device().clone();
    let n = x.dim(0)?;
    if n != y.len() || n == 0 {
        return Err(Error::Invalid(format!(
            "{n} feature rows but {} labels",
            y.len()
        )));
    }
    let vm = VarMap::new();
    let head = EaHead::new(cfg, VarBuilder::from_varmap(&vm, DType::F32, &device))?;
    crate::models::nn::reseed(&vm, tc.seed)?;
    let mut opt = candle_nn::AdamW::new(
        vm.all_vars(),
        candle_nn::ParamsAdamW {
            lr: tc.lr,
            weight_decay: tc.weight_decay,
            ..Default::default()
        },
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(tc.seed);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let labels = Tensor::new(y, &device)?;
    for epoch in 0..tc.epochs {
        order.shuffle(&mut rng);
        let mut total = 0f32;
        let mut batches = 0;
        for chunk in order.chunks(tc.batch.max(1)) {
            let idx = Tensor::new(chunk, &device)?;
            let xb = x.index_select(&idx, 0)?;
            let yb = labels.index_select(&idx, 0)?;
            let loss = candle_nn::loss::cross_entropy(&head.logits(&xb)?, &yb)?;
            opt.backward_step(&loss)?;
            total += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        progress.report(
            (epoch + 1) as f32 / tc.epochs as f32,
            &format!(
                "epoch {}/{}: loss {}",
                epoch + 1,
                tc.epochs,
                total / batches.max(1) as f32
            ),
        );
        if progress.cancelled() {
            break;
        }
    }
    Ok((vm, head))
}

/// Accuracy and macro-F1 of a head on features and labels.
pub fn evaluate(head: &EaHead, x: &Tensor, y: &[u32]) -> Result<(f64, f64)> {
    let pred: Vec<usize> = head.predict(x)?.into_iter().map(|e| e.index()).collect();
    let correct = pred
        .iter()
        .zip(y)
        .filter(|(p, t)| **p == **t as usize)
        .count();
    let mut f1s = Vec::new();
    for c in 0..8 {
        let tp = pred
            .iter()
            .zip(y)
            .filter(|(p, t)| **p == c && **t as usize == c)
            .count() as f64;
        let fp = pred
            .iter()
            .zip(y)
            .filter(|(p, t)| **p == c && **t as usize != c)
            .count() as f64;
        let fn_ = pred
            .iter()
            .zip(y)
            .filter(|(p, t)| **p != c && **t as usize == c)
            .count() as f64;
        if tp + fn_ > 0.0 {
            f1s.push(if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (2.0 * tp + fp + fn_)
            });
        }
    }
    Ok((
        correct as f64 / y.len().max(1) as f64,
        f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
    ))
}

/// Saves a trained head into `dir` (`head.safetensors`, `config.json`).
pub fn save_head(dir: &Path, cfg: &HeadConfig, vm: &VarMap) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tensors = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    crate::models::loading::save_safetensors(&dir.join("head.safetensors"), &tensors)?;
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&dir.join("config.json"), text.as_bytes())
}

/// MiniLM + head: the classifier the EA metric uses.
#[derive(Debug)]
pub struct EaClassifier {
    encoder: SentenceEncoder,
    head: EaHead,
    name: String,
}

impl EaClassifier {
    /// Loads the head from `dir` and its encoder from the models folder `models`.
    pub fn load(dir: &Path, models: &Path, device: &Device) -> Result<Self> {
        let head = EaHead::load(dir, device)?;
        let encoder = SentenceEncoder::load(&models.join(&head.cfg.encoder), device)?;
        let name = format!(
            "Artemo EA classifier ({} + MLP head, {})",
            head.cfg.encoder,
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        Ok(EaClassifier {
            encoder,
            head,
            name,
        })
    }
}

impl TextEmotionClassifier for EaClassifier {
    fn predict(&self, texts: &[String]) -> Result<Vec<Emotion>> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let x = self.encoder.encode(&refs, 64)?;
        self.head.predict(&x)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem_and_round_trips() {
        let dev = Device::Cpu;
        // Two clusters per class in 8 dimensions.
        let cfg = HeadConfig {
            input: 8,
            hidden: 16,
            ..HeadConfig::minilm()
        };
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..160u32 {
            let c = i % 8;
            let mut r = vec![0f32; 8];
            r[c as usize] = 1.0 + (i as f32 * 0.37).sin() * 0.1;
            rows.push(r);
            y.push(c);
        }
        let x = Tensor::new(rows, &dev).unwrap();
        let tc = TrainConfig {
            epochs: 60,
            lr: 1e-2,
            batch: 32,
            ..Default::default()
        };
        let losses = std::cell::RefCell::new(Vec::new());
        let (vm, head) = train_head(
            &cfg,
            &x,
            &y,
            &tc,
            &crate::progress::FnProgress::new(|_, m: &str| {
                let loss = m.rsplit("loss ").next().unwrap().parse::<f32>().unwrap();
                losses.borrow_mut().push(loss);
            }),
        )
        .unwrap();
        let losses = losses.into_inner();
        assert_eq!(losses.len(), 60);
        assert!(losses.last().unwrap() < &(losses[0] * 0.2), "{losses:?}");
        let (acc, f1) = evaluate(&head, &x, &y).unwrap();
        assert!(acc > 0.99 && f1 > 0.99, "{acc} {f1}");
        // Deterministic by seed.
        let (_, again) = train_head(&cfg, &x, &y, &tc, &crate::progress::Silent).unwrap();
        let diff =
            crate::models::tests::max_diff(&head.logits(&x).unwrap(), &again.logits(&x).unwrap());
        assert_eq!(diff, 0.0);
        let d = tempfile::tempdir().unwrap();
        save_head(d.path(), &cfg, &vm).unwrap();
        let back = EaHead::load(d.path(), &dev).unwrap();
        assert_eq!(back.predict(&x).unwrap(), head.predict(&x).unwrap());
        std::fs::write(
            d.path().join("config.json"),
            r#"{"encoder": "x", "input": 8, "hidden": 16, "labels": ["joy"]}"#,
        )
        .unwrap();
        let e = EaHead::load(d.path(), &dev).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("joy"), "{e}");
    }
}

/// What `artemo train ea-classifier` measured.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    /// Training examples from GoEmotions (mapped, single-emotion).
    pub goemotions_train: usize,
    /// Training examples from Artemo's annotations (train split, eight emotions).
    pub annotation_train: usize,
    /// Epoch kept (best GoEmotions dev accuracy).
    pub best_epoch: usize,
    /// GoEmotions dev accuracy at that epoch.
    pub dev_accuracy: f64,
    /// GoEmotions test (mapped): examples, accuracy, macro-F1.
    pub goemotions_test: (usize, f64, f64),
    /// Artemo annotations test split: examples, accuracy, macro-F1 (when present).
    pub annotation_test: Option<(usize, f64, f64)>,
    /// Majority-class accuracy on GoEmotions test, for comparison.
    pub goemotions_majority: f64,
    /// Seconds spent computing sentence features (0 when cached).
    pub feature_seconds: f64,
}

/// Sentence features of `texts`, cached under `cache` by a hash of the encoder folder
/// and the texts, so re-training does not re-encode. `progress` gets the done share
/// before each chunk; a cancelled `progress` stops with [`Error::Cancelled`].
pub fn cached_features(
    enc: &SentenceEncoder,
    texts: &[String],
    cache: &Path,
    progress: &dyn Progress,
) -> Result<(Tensor, f64)> {
    let mut key = enc.dir().display().to_string();
    for t in texts {
        key.push('\u{1f}');
        key.push_str(t);
    }
    let path = cache.join(format!(
        "features-{}.safetensors",
        &crate::manifest::sha256_bytes(key.as_bytes())[..24]
    ));
    if path.is_file() {
        if let Ok(mut m) = candle_core::safetensors::load(&path, &Device::Cpu) {
            if let Some(t) = m.remove("features") {
                if t.dims() == [texts.len(), enc.dim()] {
                    return Ok((t, 0.0));
                }
            }
        }
        // A corrupt or stale entry is recomputed.
    }
    let start = std::time::Instant::now();
    let mut parts = Vec::new();
    let chunk = 256;
    for (i, c) in texts.chunks(chunk).enumerate() {
        progress.report(
            (i * chunk) as f32 / texts.len().max(1) as f32,
            &format!("encoding {} texts", texts.len()),
        );
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let refs: Vec<&str> = c.iter().map(String::as_str).collect();
        parts.push(enc.encode(&refs, 64)?);
    }
    let t = if parts.is_empty() {
        Tensor::zeros((0, enc.dim()), DType::F32, &Device::Cpu)?
    } else {
        Tensor::cat(&parts, 0)?
    };
    std::fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
    let mut m = std::collections::HashMap::new();
    m.insert("features".to_string(), t.clone());
    crate::models::loading::save_safetensors(&path, &m)?;
    Ok((t, start.elapsed().as_secs_f64()))
}

/// Options of the training pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// At most this many GoEmotions training examples (all when `None`).
    pub max_goemotions: Option<usize>,
    /// Head training settings.
    pub train: TrainConfig,
    /// Feature cache folder.
    pub cache: std::path::PathBuf,
}

/// A feature-encoding stage of [`train_pipeline`]: its share of the run, under the
/// stage's own message.
struct Encoding<'a> {
    share: Scaled<'a>,
    message: String,
}

impl Progress for Encoding<'_> {
    fn report(&self, fraction: f32, _message: &str) {
        self.share.report(fraction, &self.message);
    }
    fn cancelled(&self) -> bool {
        self.share.cancelled()
    }
}

/// Trains the EA head from the shipped assets and writes it to `out` with a model card.
/// `progress` gets (fraction, message); a cancelled `progress` stops with
/// [`Error::Cancelled`].
pub fn train_pipeline(
    assets: &Path,
    models: &Path,
    out: &Path,
    opts: &PipelineOptions,
    progress: &dyn Progress,
) -> Result<PipelineReport> {
    use super::goemotions::{read_labels, read_mapped};
    let dev = Device::Cpu;
    let ge = assets.join("text/goemotions");
    let labels = read_labels(&ge.join("emotions.txt"))?;
    let mut train = read_mapped(&ge.join("train.tsv"), &labels)?;
    let dev_set = read_mapped(&ge.join("dev.tsv"), &labels)?;
    let test = read_mapped(&ge.join("test.tsv"), &labels)?;
    if let Some(m) = opts.max_goemotions {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.train.seed);
        train.shuffle(&mut rng);
        train.truncate(m);
    }
    let goemotions_train = train.len();
    let texts: Vec<String> = train.iter().map(|e| e.text.clone()).collect();
    let mut y: Vec<u32> = train.iter().map(|e| e.emotion.index() as u32).collect();
    let mut ann_texts_train: Vec<String> = Vec::new();
    // Artemo's own annotations: train split for training, test split for evaluation.
    let ann_dir = assets.join("annotations");
    let mut ann_test: Vec<(String, u32)> = Vec::new();
    let mut annotation_train = 0;
    if ann_dir.join("artemo-aic.csv").is_file() && ann_dir.join("SPLITS.csv").is_file() {
        let rows = crate::annotations::artemis::read_artemis(&ann_dir.join("artemo-aic.csv"))?;
        let splits = crate::annotations::dataset::read_splits(&ann_dir.join("SPLITS.csv"))?;
        for r in rows.iter().filter(|r| r.emotion != Emotion::SomethingElse) {
            match splits.get(&r.painting) {
                Some(crate::annotations::artemis::Split::Train) => {
                    ann_texts_train.push(r.utterance.clone());
                    y.push(r.emotion.index() as u32);
                    annotation_train += 1;
                }
                Some(crate::annotations::artemis::Split::Test) => {
                    ann_test.push((r.utterance.clone(), r.emotion.index() as u32))
                }
                _ => {}
            }
        }
    }
    let enc = SentenceEncoder::load(&models.join(HeadConfig::minilm().encoder), &dev)?;
    let mut feature_seconds = 0.0;
    let mut feats = |name: &str, t: &[String], lo: f32, hi: f32| -> Result<Tensor> {
        let stage = Encoding {
            share: Scaled::new(progress, lo, hi - lo),
            message: format!("encoding {name} ({} texts)", t.len()),
        };
        let (f, s) = cached_features(&enc, t, &opts.cache, &stage)?;
        feature_seconds += s;
        Ok(f)
    };
    // Encoded separately so the GoEmotions cache survives changes to the annotations.
    let mut x_train = feats("GoEmotions train", &texts, 0.0, 0.55)?;
    if !ann_texts_train.is_empty() {
        let xa = feats("annotation train", &ann_texts_train, 0.55, 0.6)?;
        x_train = Tensor::cat(&[x_train, xa], 0)?;
    }
    let dev_texts: Vec<String> = dev_set.iter().map(|e| e.text.clone()).collect();
    let x_dev = feats("GoEmotions dev", &dev_texts, 0.6, 0.7)?;
    let test_texts: Vec<String> = test.iter().map(|e| e.text.clone()).collect();
    let x_test = feats("GoEmotions test", &test_texts, 0.7, 0.8)?;
    let ann_texts: Vec<String> = ann_test.iter().map(|(t, _)| t.clone()).collect();
    let x_ann = if ann_texts.is_empty() {
        None
    } else {
        Some(feats("annotation test", &ann_texts, 0.8, 0.85)?)
    };
    let y_dev: Vec<u32> = dev_set.iter().map(|e| e.emotion.index() as u32).collect();
    let y_test: Vec<u32> = test.iter().map(|e| e.emotion.index() as u32).collect();
    // Train once per epoch count up to the maximum, keeping the best dev accuracy: the
    // head is tiny, so training is fast next to feature extraction.
    let cfg = HeadConfig::minilm();
    progress.report(0.86, &format!("training on {} examples", y.len()));
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    let (vm, head) = train_head(&cfg, &x_train, &y, &opts.train, &Silent)?;
    // Model selection: the full run against re-trained heads with fewer epochs.
    let mut chosen = (
        evaluate(&head, &x_dev, &y_dev)?.0,
        opts.train.epochs,
        vm,
        head,
    );
    for epochs in [opts.train.epochs / 3, 2 * opts.train.epochs / 3]
        .into_iter()
        .filter(|&e| e > 0)
    {
        progress.report(0.9, &format!("model selection: {epochs} epochs"));
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let tc = TrainConfig {
            epochs,
            ..opts.train.clone()
        };
        let (vm, head) = train_head(&cfg, &x_train, &y, &tc, &Silent)?;
        let acc = evaluate(&head, &x_dev, &y_dev)?.0;
        if acc > chosen.0 {
            chosen = (acc, epochs, vm, head);
        }
    }
    let (dev_accuracy, best_epoch, vm, head) = chosen;
    let (acc, f1) = evaluate(&head, &x_test, &y_test)?;
    let annotation_test = match &x_ann {
        Some(x) => {
            let ya: Vec<u32> = ann_test.iter().map(|(_, c)| *c).collect();
            let (a, f) = evaluate(&head, x, &ya)?;
            Some((ya.len(), a, f))
        }
        None => None,
    };
    let mut counts = [0usize; 8];
    y_test.iter().for_each(|&c| counts[c as usize] += 1);
    let goemotions_majority =
        *counts.iter().max().unwrap_or(&0) as f64 / y_test.len().max(1) as f64;
    save_head(out, &cfg, &vm)?;
    let report = PipelineReport {
        goemotions_train,
        annotation_train,
        best_epoch,
        dev_accuracy,
        goemotions_test: (y_test.len(), acc, f1),
        annotation_test,
        goemotions_majority,
        feature_seconds,
    };
    write_atomic(
        &out.join("MODEL_CARD.md"),
        model_card(&report, opts).as_bytes(),
    )?;
    progress.report(1.0, "done");
    Ok(report)
}

fn model_card(r: &PipelineReport, o: &PipelineOptions) -> String {
    let ann = match r.annotation_test {
        Some((n, a, f)) => format!(
            "| Artemo annotations, test split (eight emotions) | {n} | {:.1}% | {:.3} |",
            a * 100.0,
            f
        ),
        None => "| Artemo annotations, test split | not available when trained | | |".into(),
    };
    format!(
        "# EA classifier (all-MiniLM-L6-v2 + MLP head)\n\n\
Artemo's text-to-emotion classifier for the EA metric (Emotion Alignment). ArtEmis' own \
classifier (GloVe + LSTM trained on ArtEmis) cannot ship, so EA numbers computed with this \
classifier are **not comparable** with the papers' EA; reports name this classifier.\n\n\
- Features: frozen all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2 norm), 384-d.\n\
- Head: Linear 384 -> 256, ReLU, Linear 256 -> 8 (amusement, awe, contentment, excitement, anger, disgust, fear, sadness).\n\
- Training data: GoEmotions train mapped to the eight ArtEmis emotions (mapping in `engine/src/text/goemotions.rs`; \
examples kept only when their labels map to exactly one emotion): {} examples; Artemo's own annotations, train split, \
`something else` excluded: {} utterances.\n\
- Optimiser: AdamW, lr {}, weight decay {}, batch {}, seed {}; epochs chosen on GoEmotions dev among {{{}, {}, {}}}: {} (dev accuracy {:.1}%).\n\
- Trained by `artemo train ea-classifier` on CPU.\n\n\
## Measured\n\n| test set | examples | accuracy | macro-F1 |\n|---|---|---|---|\n\
| GoEmotions test (mapped) | {} | {:.1}% | {:.3} |\n{}\n\
| majority class on GoEmotions test | | {:.1}% | |\n\n\
Licence: the head weights are project-made (MIT OR Apache-2.0); GoEmotions is Apache-2.0; MiniLM is Apache-2.0.\n",
        r.goemotions_train,
        r.annotation_train,
        o.train.lr,
        o.train.weight_decay,
        o.train.batch,
        o.train.seed,
        o.train.epochs / 3,
        2 * o.train.epochs / 3,
        o.train.epochs,
        r.best_epoch,
        r.dev_accuracy * 100.0,
        r.goemotions_test.0,
        r.goemotions_test.1 * 100.0,
        r.goemotions_test.2,
        ann,
        r.goemotions_majority * 100.0
    )
}

#[cfg(test)]
mod shipped {
    use super::*;
    use std::path::PathBuf;

    fn models() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
    }

    /// The shipped head (models/ea-minilm) reads clear explanations as a person would.
    #[test]
    fn shipped_classifier_reads_clear_explanations() {
        let clf = EaClassifier::load(&models().join("ea-minilm"), &models(), &Device::Cpu).unwrap();
        let table = [
            (
                "The dark storm and the tiny boat about to sink terrify me",
                Emotion::Fear,
            ),
            (
                "The weeping mother holding her dead son breaks my heart",
                Emotion::Sadness,
            ),
            (
                "The quiet meadow and the cows resting by the river make me feel calm and peaceful",
                Emotion::Contentment,
            ),
            (
                "The rotting fish and the flies on the table are revolting",
                Emotion::Disgust,
            ),
            (
                "The dog stealing the sausage from the cook is hilarious",
                Emotion::Amusement,
            ),
        ];
        let texts: Vec<String> = table.iter().map(|(t, _)| t.to_string()).collect();
        let got = clf.predict(&texts).unwrap();
        let want: Vec<Emotion> = table.iter().map(|(_, e)| *e).collect();
        assert_eq!(got, want);
        assert!(clf.name().contains("all-MiniLM-L6-v2"));
    }
}
