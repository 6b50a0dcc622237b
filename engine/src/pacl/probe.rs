//! Linear probes on frozen features, reported as accuracy and weighted F1 (per-class F1
//! weighted by the class's share of the true labels, as scikit-learn's
//! `f1_score(average="weighted")`). Two probes, named by [`ProbeFeatures`]:
//!
//! - `backbone` (the default, the paper's linear evaluation): the vision tower's pooled
//!   feature before the projection `q_v` ([`super::PaclModel::backbone_features`]), a
//!   linear head trained with the paper's protocol ([`PaperProbeConfig`]): "we set the
//!   learning rate of the linear classification head to 1e-2 and train for 40 epochs. For
//!   parameters of the backbone network, we keep them frozen under linear evaluation"
//!   (Section 4.4, `seeds/002_970a2bdad4364690.txt` line 562), "the other settings of
//!   downstream testing are aligned with Section 4.2": "a minibatch size of 64. We adopt
//!   AdamW optimizer with a cosine schedule" (line 518). The released code probes the same
//!   feature (`model/PACL.py` lines 108-120, `forward_sentivisual` classifies the pooled
//!   `image_embed`, detached in `freeze` mode) but with a two-layer head
//!   (`Linear-ReLU-Linear`, lines 360-365); Artemo follows the paper's "linear".
//! - `projected` (Artemo's earlier probe, kept as an option): the projected unit-norm
//!   embedding `z^v`, standardised, multinomial logistic regression by full-batch
//!   gradient descent with L2 regularisation ([`ProbeConfig`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Probe settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Gradient steps.
    pub iterations: usize,
    /// Step size.
    pub lr: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            iterations: 500,
            lr: 0.5,
            l2: 1e-3,
        }
    }
}

/// Which features a probe reads, with its protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeFeatures {
    /// The paper's linear evaluation: backbone features (before `q_v`), AdamW at 1e-2 for
    /// 40 epochs, batches of 64, cosine decay ([`PaperProbeConfig`]).
    #[default]
    Backbone,
    /// The projected unit-norm embedding `z^v`, standardised, gradient-descent logistic
    /// regression ([`ProbeConfig`]).
    Projected,
}

impl ProbeFeatures {
    /// Both.
    pub const ALL: [ProbeFeatures; 2] = [ProbeFeatures::Backbone, ProbeFeatures::Projected];

    /// Its name ("backbone", "projected").
    pub fn name(self) -> &'static str {
        match self {
            ProbeFeatures::Backbone => "backbone",
            ProbeFeatures::Projected => "projected",
        }
    }

    /// What it probes, for users.
    pub fn describe(self) -> &'static str {
        match self {
            ProbeFeatures::Backbone => {
                "backbone features (the tower's pooled feature before q_v; paper protocol: AdamW 1e-2, 40 epochs, batch 64)"
            }
            ProbeFeatures::Projected => {
                "projected unit-norm embedding z^v (standardised, gradient-descent logistic regression)"
            }
        }
    }

    /// The features of `images` this probe reads from `model`.
    pub fn features(
        self,
        model: &super::PaclModel,
        images: &[crate::models::patch_tower::Descriptors],
        progress: &dyn crate::progress::Progress,
    ) -> Result<Vec<Vec<f32>>> {
        match self {
            ProbeFeatures::Backbone => model.backbone(images, 16, progress),
            ProbeFeatures::Projected => model.embed(images, 16, progress),
        }
    }

    /// Trains this probe's head on `(train_x, train_y)` with its protocol and scores it on
    /// `(test_x, test_y)`.
    pub fn evaluate(
        self,
        train_x: &[Vec<f32>],
        train_y: &[usize],
        test_x: &[Vec<f32>],
        test_y: &[usize],
        classes: usize,
    ) -> Result<(LinearProbe, ProbeScores)> {
        let p = match self {
            ProbeFeatures::Backbone => {
                LinearProbe::fit_paper(train_x, train_y, classes, &PaperProbeConfig::default())?
            }
            ProbeFeatures::Projected => {
                LinearProbe::fit(train_x, train_y, classes, &ProbeConfig::default())?
            }
        };
        let pred = p.predict(test_x);
        Ok((p, scores(test_y, &pred, classes)))
    }
}

/// The paper's linear-evaluation protocol (see the module header for the quotes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaperProbeConfig {
    /// Epochs (paper: 40).
    pub epochs: usize,
    /// Peak learning rate of the head (paper: 1e-2; code `lr_classify` 1e-2).
    pub lr: f64,
    /// Mini-batch size (Section 4.2: 64).
    pub batch: usize,
    /// AdamW weight decay (the paper gives none; PyTorch's `AdamW` default 0.01).
    pub weight_decay: f64,
    /// Seed of the head's initialisation and the batch order.
    pub seed: u64,
}

impl Default for PaperProbeConfig {
    fn default() -> Self {
        PaperProbeConfig {
            epochs: 40,
            lr: 1e-2,
            batch: 64,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

/// A trained probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearProbe {
    /// Classes.
    pub classes: usize,
    /// Feature means (standardisation).
    pub mean: Vec<f32>,
    /// Feature standard deviations.
    pub std: Vec<f32>,
    /// Weights `[classes][dim]`.
    pub weights: Vec<Vec<f32>>,
    /// Biases.
    pub bias: Vec<f32>,
}

fn softmax(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::MIN, f32::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    z.iter_mut().for_each(|v| *v /= s);
}

fn check_rows(x: &[Vec<f32>], y: &[usize], classes: usize) -> Result<()> {
    let n = x.len();
    let d = x.first().map(Vec::len).unwrap_or(0);
    if n == 0 || n != y.len() || classes < 2 {
        return Err(Error::Invalid(format!(
            "linear probe: {n} rows, {} labels, {classes} classes",
            y.len()
        )));
    }
    if let Some(i) = y.iter().position(|&c| c >= classes) {
        return Err(Error::Invalid(format!(
            "linear probe: label {} of row {i} is not below {classes}",
            y[i]
        )));
    }
    if let Some(i) = x.iter().position(|r| r.len() != d) {
        return Err(Error::Invalid(format!(
            "linear probe: row {i} has {} features, row 0 has {d}",
            x[i].len()
        )));
    }
    Ok(())
}

impl LinearProbe {
    /// Trains on `x` (rows) with labels `y` in `0..classes`.
    pub fn fit(x: &[Vec<f32>], y: &[usize], classes: usize, cfg: &ProbeConfig) -> Result<Self> {
        let n = x.len();
        let d = x.first().map(Vec::len).unwrap_or(0);
        check_rows(x, y, classes)?;
        let mut mean = vec![0f32; d];
        for r in x {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v / n as f32;
            }
        }
        let mut std = vec![0f32; d];
        for r in x {
            for ((s, v), m) in std.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m) / n as f32;
            }
        }
        let std: Vec<f32> = std.into_iter().map(|s| s.sqrt().max(1e-6)).collect();
        let xs: Vec<Vec<f32>> = x
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&mean)
                    .zip(&std)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect()
            })
            .collect();
        let mut p = LinearProbe {
            classes,
            mean,
            std,
            weights: vec![vec![0f32; d]; classes],
            bias: vec![0f32; classes],
        };
        for _ in 0..cfg.iterations {
            let mut gw = vec![vec![0f32; d]; classes];
            let mut gb = vec![0f32; classes];
            for (r, &t) in xs.iter().zip(y) {
                let mut z = p.logits_std(r);
                softmax(&mut z);
                z[t] -= 1.0;
                for c in 0..classes {
                    gb[c] += z[c] / n as f32;
                    for (g, v) in gw[c].iter_mut().zip(r) {
                        *g += z[c] * v / n as f32;
                    }
                }
            }
            for c in 0..classes {
                p.bias[c] -= cfg.lr * gb[c];
                for (w, g) in p.weights[c].iter_mut().zip(&gw[c]) {
                    *w -= cfg.lr * (g + cfg.l2 * *w);
                }
            }
        }
        Ok(p)
    }

    /// Trains a linear head on raw `x` with the paper's protocol: PyTorch's `nn.Linear`
    /// initialisation (uniform in `±1/sqrt(dim)`), shuffled mini-batches, cross-entropy,
    /// AdamW (betas 0.9 / 0.999, eps 1e-8, decoupled weight decay on every parameter) and
    /// a cosine decay of the rate per epoch (`CosineAnnealingLR(optimizer, epochs)`).
    /// Features are not standardised (mean 0 and std 1 are stored so that
    /// [`Self::predict`] reads the raw features).
    pub fn fit_paper(
        x: &[Vec<f32>],
        y: &[usize],
        classes: usize,
        cfg: &PaperProbeConfig,
    ) -> Result<Self> {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let n = x.len();
        let d = x.first().map(Vec::len).unwrap_or(0);
        check_rows(x, y, classes)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        let bound = 1.0 / (d.max(1) as f32).sqrt();
        let mut p = LinearProbe {
            classes,
            mean: vec![0.0; d],
            std: vec![1.0; d],
            weights: (0..classes)
                .map(|_| (0..d).map(|_| rng.gen_range(-bound..=bound)).collect())
                .collect(),
            bias: (0..classes)
                .map(|_| rng.gen_range(-bound..=bound))
                .collect(),
        };
        // Adam moments, weights then bias, flattened [classes * (d + 1)].
        let len = classes * (d + 1);
        let (mut m, mut v) = (vec![0f64; len], vec![0f64; len]);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let mut order: Vec<usize> = (0..n).collect();
        let mut t = 0i32;
        for epoch in 0..cfg.epochs {
            let lr = cfg.lr
                * 0.5
                * (1.0 + (std::f64::consts::PI * epoch as f64 / cfg.epochs as f64).cos());
            order.shuffle(&mut rng);
            for batch in order.chunks(cfg.batch.max(1)) {
                let mut g = vec![0f64; len];
                for &i in batch {
                    let mut z = p.logits_std(&x[i]);
                    softmax(&mut z);
                    z[y[i]] -= 1.0;
                    for c in 0..classes {
                        let gc = z[c] as f64 / batch.len() as f64;
                        for (k, xv) in x[i].iter().enumerate() {
                            g[c * (d + 1) + k] += gc * *xv as f64;
                        }
                        g[c * (d + 1) + d] += gc;
                    }
                }
                t += 1;
                let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                for c in 0..classes {
                    for k in 0..=d {
                        let j = c * (d + 1) + k;
                        m[j] = b1 * m[j] + (1.0 - b1) * g[j];
                        v[j] = b2 * v[j] + (1.0 - b2) * g[j] * g[j];
                        let w = if k < d {
                            &mut p.weights[c][k]
                        } else {
                            &mut p.bias[c]
                        };
                        let mut wv = *w as f64 * (1.0 - lr * cfg.weight_decay);
                        wv -= lr * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
                        *w = wv as f32;
                    }
                }
            }
        }
        Ok(p)
    }

    fn logits_std(&self, r: &[f32]) -> Vec<f32> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| b + w.iter().zip(r).map(|(a, v)| a * v).sum::<f32>())
            .collect()
    }

    /// Class probabilities of one row.
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        let r: Vec<f32> = x
            .iter()
            .zip(&self.mean)
            .zip(&self.std)
            .map(|((v, m), s)| (v - m) / s)
            .collect();
        let mut z = self.logits_std(&r);
        softmax(&mut z);
        z
    }

    /// The most probable class of each row.
    pub fn predict(&self, x: &[Vec<f32>]) -> Vec<usize> {
        x.iter()
            .map(|r| {
                let p = self.predict_proba(r);
                (0..p.len())
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)))
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// Accuracy and weighted F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeScores {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Per-class F1 weighted by true-label support.
    pub weighted_f1: f64,
    /// Rows scored.
    pub n: usize,
}

/// The majority baseline: the most frequent training class (ties: the lowest) predicted for
/// every test item, scored against `te_y`.
pub fn majority_scores(tr_y: &[usize], te_y: &[usize], classes: usize) -> ProbeScores {
    let mut freq = vec![0usize; classes];
    for &y in tr_y {
        if let Some(f) = freq.get_mut(y) {
            *f += 1;
        }
    }
    let maj = (0..classes)
        .max_by(|&a, &b| freq[a].cmp(&freq[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    scores(te_y, &vec![maj; te_y.len()], classes)
}

/// Scores predictions against truth.
pub fn scores(truth: &[usize], pred: &[usize], classes: usize) -> ProbeScores {
    let n = truth.len().min(pred.len());
    let mut tp = vec![0f64; classes];
    let mut fp = vec![0f64; classes];
    let mut fneg = vec![0f64; classes];
    let mut support = vec![0f64; classes];
    let mut correct = 0;
    for (&t, &p) in truth.iter().zip(pred) {
        if t < classes {
            support[t] += 1.0;
        }
        if t == p {
            correct += 1;
            if t < classes {
                tp[t] += 1.0;
            }
        } else {
            if p < classes {
                fp[p] += 1.0;
            }
            if t < classes {
                fneg[t] += 1.0;
            }
        }
    }
    let total: f64 = support.iter().sum();
    let mut wf1 = 0.0;
    for c in 0..classes {
        let denom = 2.0 * tp[c] + fp[c] + fneg[c];
        let f1 = if denom > 0.0 {
            2.0 * tp[c] / denom
        } else {
            0.0
        };
        if total > 0.0 {
            wf1 += f1 * support[c] / total;
        }
    }
    ProbeScores {
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        weighted_f1: wf1,
        n,
    }
}

/// Trains a probe on `(train_x, train_y)` and scores it on `(test_x, test_y)`.
pub fn evaluate(
    train_x: &[Vec<f32>],
    train_y: &[usize],
    test_x: &[Vec<f32>],
    test_y: &[usize],
    classes: usize,
    cfg: &ProbeConfig,
) -> Result<(LinearProbe, ProbeScores)> {
    let p = LinearProbe::fit(train_x, train_y, classes, cfg)?;
    let pred = p.predict(test_x);
    Ok((p, scores(test_y, &pred, classes)))
}

/// A linear-probe comparison on the shipped paintings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaintingProbeReport {
    /// Training paintings (train split) and test paintings (test split).
    pub train: usize,
    /// Test paintings.
    pub test: usize,
    /// What `pacl` probes (the paper's: backbone features).
    #[serde(default)]
    pub features: ProbeFeatures,
    /// Probe on the PACL model's backbone features, the paper's protocol
    /// ([`ProbeFeatures::Backbone`]).
    pub pacl: ProbeScores,
    /// Probe on the projected unit-norm embeddings ([`ProbeFeatures::Projected`]).
    #[serde(default)]
    pub projected: Option<ProbeScores>,
    /// Probe on the fixed descriptor statistics (the tower's input, untrained baseline).
    pub descriptors: ProbeScores,
    /// Always predicting the most frequent training label.
    pub majority: ProbeScores,
}

/// Most frequent emotion (ArtEmis order breaks ties) of each painting's responses.
/// Each painting's dominant emotion among its responses (index into
/// [`crate::emotion::Emotion::ALL`]).
pub fn dominant_labels(
    set: &crate::annotations::dataset::AnnotationSet,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts: std::collections::BTreeMap<String, [usize; 9]> = Default::default();
    for r in &set.rows {
        let i = crate::emotion::Emotion::ALL
            .iter()
            .position(|e| *e == r.emotion)
            .unwrap_or(8);
        counts.entry(r.painting.clone()).or_insert([0; 9])[i] += 1;
    }
    counts
        .into_iter()
        .map(|(p, c)| {
            let best = (0..9)
                .max_by(|&a, &b| c[a].cmp(&c[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            (p, best)
        })
        .collect()
}

/// Trains probes for the dominant emotion (9 classes) of the shipped paintings: on the
/// train split, scored on the test split, on the PACL model's backbone features (the
/// paper's protocol) and on its projected embeddings, on the descriptor statistics (with
/// `cfg`), and the majority-class baseline.
pub fn painting_probe(
    model: &super::PaclModel,
    assets: &std::path::Path,
    cfg: &ProbeConfig,
) -> Result<PaintingProbeReport> {
    use crate::annotations::artemis::Split;
    let collection =
        crate::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let set = crate::annotations::dataset::AnnotationSet::load(&assets.join("annotations"))?;
    let labels = dominant_labels(&set);
    #[allow(clippy::type_complexity)]
    let mut parts: [(Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>, Vec<Vec<f32>>); 2] =
        Default::default();
    for p in &collection.paintings {
        let k = match set.splits.get(&p.id) {
            Some(Split::Train) => 0,
            Some(Split::Test) => 1,
            _ => continue,
        };
        let Some(&y) = labels.get(&p.id) else {
            continue;
        };
        let d = crate::models::patch_tower::file_descriptors(&p.path, &model.config().tower)?;
        let one = std::slice::from_ref(&d);
        let silent = &crate::progress::Silent;
        parts[k]
            .0
            .extend(ProbeFeatures::Projected.features(model, one, silent)?);
        parts[k]
            .3
            .extend(ProbeFeatures::Backbone.features(model, one, silent)?);
        parts[k].1.push(d.global());
        parts[k].2.push(y);
    }
    let [(tr_e, tr_d, tr_y, tr_b), (te_e, te_d, te_y, te_b)] = parts;
    let (_, pacl) = ProbeFeatures::Backbone.evaluate(&tr_b, &tr_y, &te_b, &te_y, 9)?;
    let (_, projected) = ProbeFeatures::Projected.evaluate(&tr_e, &tr_y, &te_e, &te_y, 9)?;
    let (_, descriptors) = evaluate(&tr_d, &tr_y, &te_d, &te_y, 9, cfg)?;
    let majority = majority_scores(&tr_y, &te_y, 9);
    Ok(PaintingProbeReport {
        train: tr_y.len(),
        test: te_y.len(),
        features: ProbeFeatures::Backbone,
        pacl,
        projected: Some(projected),
        descriptors,
        majority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_f1_by_hand() {
        // truth 0,0,0,1,1,2; pred 0,0,1,1,2,2.
        // class 0: tp 2, fp 0, fn 1 -> F1 = 4/5; support 3
        // class 1: tp 1, fp 1, fn 1 -> F1 = 2/4; support 2
        // class 2: tp 1, fp 1, fn 0 -> F1 = 2/3; support 1
        // weighted = (3 * 0.8 + 2 * 0.5 + 1 * 2/3) / 6
        let s = scores(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3);
        assert!((s.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let want = (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0;
        assert!((s.weighted_f1 - want).abs() < 1e-12, "{}", s.weighted_f1);
    }

    #[test]
    fn probe_separates_blobs() {
        let x: Vec<Vec<f32>> = (0..60)
            .map(|i| {
                let c = (i % 3) as f32;
                vec![
                    c * 3.0 + (i as f32 * 0.37).sin(),
                    -c * 2.0 + (i as f32 * 0.11).cos(),
                    5.0,
                ]
            })
            .collect();
        let y: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let (_, s) = evaluate(
            &x[..45],
            &y[..45],
            &x[45..],
            &y[45..],
            3,
            &ProbeConfig::default(),
        )
        .unwrap();
        assert_eq!(s.accuracy, 1.0);
        assert_eq!(s.weighted_f1, 1.0);
        assert!(LinearProbe::fit(&x, &y[..3], 3, &ProbeConfig::default()).is_err());
    }

    #[test]
    fn paper_protocol_separates_blobs() {
        // Section 4.4 (seeds/002_970a2bdad4364690.txt line 562): linear head, lr 1e-2,
        // 40 epochs; Section 4.2 (line 518): batches of 64, AdamW, cosine.
        let x: Vec<Vec<f32>> = (0..150)
            .map(|i| {
                let c = (i % 3) as f32;
                vec![c * 3.0 + (i as f32 * 0.37).sin(), -c * 2.0, 1.0]
            })
            .collect();
        let y: Vec<usize> = (0..150).map(|i| i % 3).collect();
        let (p, s) = ProbeFeatures::Backbone
            .evaluate(&x[..120], &y[..120], &x[120..], &y[120..], 3)
            .unwrap();
        assert_eq!(s.accuracy, 1.0);
        assert_eq!(p.mean, vec![0.0; 3]);
        let cfg = PaperProbeConfig::default();
        assert_eq!((cfg.epochs, cfg.lr, cfg.batch), (40, 1e-2, 64));
        let again = LinearProbe::fit_paper(&x[..120], &y[..120], 3, &cfg).unwrap();
        assert_eq!(p, again);
        assert!(LinearProbe::fit_paper(&x, &y[..3], 3, &cfg).is_err());
    }

    /// The backbone probe reads the tower's feature before `q_v` (model/PACL.py
    /// lines 108-120 probe `image_embed`, not the projection): with `q_v` zeroed every
    /// projected embedding is the same, so the projected probe cannot tell the classes
    /// apart while the backbone probe can.
    #[test]
    fn backbone_probe_sees_what_the_projection_discards() {
        use crate::models::patch_tower::{Descriptors, DESC_DIM};
        use crate::pacl::{PaclConfig, PaclModel};
        use candle_core::Device;
        use rand::{Rng, SeedableRng};
        let dev = Device::Cpu;
        let cfg = PaclConfig::tiny(6);
        let m = PaclModel::new(&cfg, &dev, 5).unwrap();
        for (name, v) in m.varmap().data().lock().unwrap().iter() {
            if name.starts_with("q_v.") {
                v.set(&v.as_tensor().zeros_like().unwrap()).unwrap();
            }
        }
        let g = cfg.tower.grid;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let images: Vec<Descriptors> = (0..200)
            .map(|_| Descriptors {
                grid: g,
                data: (0..g * g * DESC_DIM)
                    .map(|_| rng.gen_range(0.0..1.0))
                    .collect(),
            })
            .collect();
        let silent = &crate::progress::Silent;
        let b = ProbeFeatures::Backbone
            .features(&m, &images, silent)
            .unwrap();
        let z = ProbeFeatures::Projected
            .features(&m, &images, silent)
            .unwrap();
        assert_eq!((b[0].len(), z[0].len()), (cfg.tower.dim, cfg.embed_dim));
        // The backbone features are the tower's CLS output, before q_v.
        let refs: Vec<&Descriptors> = images[..2].iter().collect();
        let x = crate::models::patch_tower::descriptors_tensor(&refs, &dev).unwrap();
        let cls = m.backbone_features(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(cls, b[..2].to_vec());
        assert!(z.iter().all(|r| r == &z[0]));
        // Labels: the sign of the first backbone coordinate around its median.
        let mut c0: Vec<f32> = b.iter().map(|r| r[0]).collect();
        c0.sort_by(f32::total_cmp);
        let med = c0[c0.len() / 2];
        let y: Vec<usize> = b.iter().map(|r| usize::from(r[0] > med)).collect();
        let (_, sb) = ProbeFeatures::Backbone
            .evaluate(&b[..150], &y[..150], &b[150..], &y[150..], 2)
            .unwrap();
        let (_, sz) = ProbeFeatures::Projected
            .evaluate(&z[..150], &y[..150], &z[150..], &y[150..], 2)
            .unwrap();
        let majority = y[150..]
            .iter()
            .filter(|&&c| c == 1)
            .count()
            .max(y[150..].iter().filter(|&&c| c == 0).count()) as f64
            / 50.0;
        assert!(sb.accuracy >= 0.85, "backbone probe {}", sb.accuracy);
        assert!(sz.accuracy <= majority + 1e-9, "projected {}", sz.accuracy);
    }
}
