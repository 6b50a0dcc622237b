//! The demo kit's emotion head (Artemo's, issue 21; not in SEVLM, see
//! [`crate::sevlm::model::EmotionHeadConfig`]): its configuration, its reader (a frozen
//! copy of the `ea-minilm` text-emotion classifier, [`EmotionReaderConfig`]), and its fit
//! on the train and val paintings' emotion shares with the inputs and L2 penalty chosen
//! by repeated 5-fold cross-validation.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::sevlm::data::{Example, SequenceBuilder};
use crate::sevlm::model::{EmotionReaderConfig, Sevlm};

/// L2 penalties the kit tries for the emotion head on standardised features (chosen by
/// cross-validation).
const EMOTION_HEAD_L2: &[f64] = &[0.03, 0.1, 0.3, 1.0, 3.0];

/// L2 penalties tried on raw features (before the 1/100 scaling of [`fit_design`]):
/// 0.03 .. 1 give an effective penalty 3e-4 .. 1e-2 on the mean cross-entropy,
/// scikit-learn's `C` of about 8 .. 0.2 over 213 paintings.
const EMOTION_HEAD_L2_RAW: &[f64] = &[0.03, 0.1, 0.3, 1.0];

/// Which inputs a candidate head reads, by index: the title; artist, date, medium; the
/// description; the grid mean; raw (unstandardised) features, whose L2 is scaled by
/// 1/100; the reader's readings of the fields read. A missing entry reads.
pub type HeadInputs = [bool; 6];

/// Input sets the kit tries for the emotion head (chosen by cross-validation); the last
/// three only where the model has a reader. Readings are log-probabilities in [-20, 0],
/// so they are tried on standardised features only.
pub const EMOTION_HEAD_INPUTS: [HeadInputs; 9] = [
    [true, false, false, false, false, false],
    [true, true, false, false, false, false],
    [true, true, true, false, false, false],
    [true, false, false, false, true, false],
    [true, true, false, false, true, false],
    [true, true, true, false, true, false],
    [true, false, false, false, false, true],
    [true, true, false, false, false, true],
    [true, true, true, false, false, true],
];

/// The reader the kit gives the emotion head: the `ea-minilm` classifier of `models`
/// (its `config.json`), which must read the text memory's encoder at its width.
pub fn reader_config(
    models: &Path,
    text: &crate::sevlm::model::TextMemoryConfig,
) -> Result<EmotionReaderConfig> {
    let dir = models.join(crate::text::ea_classifier::EA_DIR);
    let cp = dir.join("config.json");
    let cfg: crate::text::ea_classifier::HeadConfig =
        serde_json::from_str(&crate::error::read_text(&cp)?)
            .map_err(|e| Error::at(&cp, format!("line {}", e.line()), e.to_string()))?;
    if cfg.encoder != text.encoder || cfg.input != text.text_dim {
        return Err(Error::at(
            &cp,
            "fields `encoder`, `input`",
            format!(
                "the classifier reads {} ({} wide); the text memory is {} ({} wide)",
                cfg.encoder, cfg.input, text.encoder, text.text_dim
            ),
        ));
    }
    Ok(EmotionReaderConfig {
        source: crate::text::ea_classifier::EA_DIR.to_string(),
        hidden: cfg.hidden,
        labels: cfg.labels,
    })
}

/// Copies the `ea-minilm` classifier's weights (`fc1`, `fc2`) of `models` into the
/// model's `emotion_head.reader.*`; a tensor of another shape is refused, naming it.
pub fn install_reader(vm: &VarMap, models: &Path, device: &Device) -> Result<()> {
    let path = models
        .join(crate::text::ea_classifier::EA_DIR)
        .join("head.safetensors");
    let w = crate::models::loading::Weights::load(&path, device)?;
    let data = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
    for key in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"] {
        let name = format!("emotion_head.reader.{key}");
        let var = data.get(&name).ok_or_else(|| {
            Error::Invalid(format!(
                "emotion head: the model has no `{name}` (no reader)"
            ))
        })?;
        var.set(&w.get(key, var.as_tensor().dims())?)?;
    }
    Ok(())
}

/// The emotion head's configuration for a sequence builder: the position that predicts
/// the emotion word (the last prompt token) and each emotion word's first model id.
pub fn emotion_head_config(
    seq: &SequenceBuilder,
) -> Result<crate::sevlm::model::EmotionHeadConfig> {
    let prompt = seq.prompt_ids()?.len();
    let mut token_ids = Vec::with_capacity(crate::emotion::Emotion::ALL.len());
    for e in crate::emotion::Emotion::ALL {
        let ids = seq.emotion_ids(e)?;
        let Some(&id) = ids.get(prompt) else {
            return Err(Error::Invalid(format!(
                "emotion head: the emotion word {:?} has no token after the prompt",
                e.name()
            )));
        };
        if token_ids.contains(&id) {
            return Err(Error::Invalid(format!(
                "emotion head: the emotion word {:?} starts with the same token as another",
                e.name()
            )));
        }
        token_ids.push(id);
    }
    Ok(crate::sevlm::model::EmotionHeadConfig {
        position: prompt.saturating_sub(1),
        token_ids,
        reader: None,
        decides: false,
    })
}

/// Per image (index into the memory), the share of each emotion among `examples`
/// (`Emotion::ALL` order); images not in `index` are left out. Sorted by image.
pub fn emotion_shares(
    examples: &[Example],
    index: &HashMap<&str, usize>,
) -> Vec<(usize, Vec<f32>)> {
    let n = crate::emotion::Emotion::ALL.len();
    let mut by: std::collections::BTreeMap<usize, Vec<f32>> = std::collections::BTreeMap::new();
    for e in examples {
        let Some(&i) = index.get(e.image.as_str()) else {
            continue;
        };
        let row = by.entry(i).or_insert_with(|| vec![0.0; n]);
        if let Some(k) = crate::emotion::Emotion::ALL
            .iter()
            .position(|&x| x == e.emotion)
        {
            row[k] += 1.0;
        }
    }
    by.into_iter()
        .filter_map(|(i, mut r)| {
            let s: f32 = r.iter().sum();
            (s > 0.0).then(|| {
                r.iter_mut().for_each(|x| *x /= s);
                (i, r)
            })
        })
        .collect()
}

fn head_features(model: &Sevlm, memory: &Tensor, rows: &[usize]) -> Result<Tensor> {
    let idx = row_index(rows, memory.device())?;
    model
        .emotion_head_features(&memory.index_select(&idx, 0)?)?
        .ok_or_else(|| Error::Invalid("this SEVLM has no emotion head".into()))
}

fn row_index(rows: &[usize], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        rows.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        rows.len(),
        device,
    )?)
}

/// The emotion head's design over some paintings: their features with their text (`x`),
/// without it (`x0`, for the text dropout) and their emotion shares (`y`, [n, E]).
pub struct HeadDesign {
    x: Tensor,
    x0: Tensor,
    y: Tensor,
}

impl HeadDesign {
    /// The design of `targets` (image index into `memory`, shares).
    pub fn new(model: &Sevlm, memory: &Tensor, targets: &[(usize, Vec<f32>)]) -> Result<Self> {
        if targets.is_empty() {
            return Err(Error::Invalid(
                "emotion head: no training images with emotion labels".into(),
            ));
        }
        let rows: Vec<usize> = targets.iter().map(|(i, _)| *i).collect();
        let bare = crate::sevlm::train::drop_text(model, memory, &vec![false; memory.dim(0)?])?;
        let e = targets[0].1.len();
        let y: Vec<f32> = targets
            .iter()
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        Ok(HeadDesign {
            x: head_features(model, memory, &rows)?,
            x0: head_features(model, &bare, &rows)?,
            y: Tensor::from_vec(y, (rows.len(), e), memory.device())?,
        })
    }

    /// The rows `keep` (positions in this design).
    fn select(&self, keep: &[usize]) -> Result<Self> {
        let idx = row_index(keep, self.x.device())?;
        Ok(HeadDesign {
            x: self.x.index_select(&idx, 0)?,
            x0: self.x0.index_select(&idx, 0)?,
            y: self.y.index_select(&idx, 0)?,
        })
    }

    fn len(&self) -> Result<usize> {
        Ok(self.x.dim(0)?)
    }

    /// How often the model's head picks each row's dominant emotion (largest share; ties:
    /// the first in `Emotion::ALL` order), reading the text.
    fn accuracy(&self, model: &Sevlm) -> Result<f64> {
        let logits = model
            .emotion_head_logits_from_features(&self.x)?
            .ok_or_else(|| Error::Invalid("this SEVLM has no emotion head".into()))?
            .to_vec2::<f32>()?;
        let y = self.y.to_vec2::<f32>()?;
        let hits = y
            .iter()
            .zip(&logits)
            .filter(|(t, l)| argmax(t) == argmax(l))
            .count();
        Ok(hits as f64 / y.len().max(1) as f64)
    }
}

fn argmax(r: &[f32]) -> usize {
    r.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

/// Fits the emotion head alone (full batch, Adam, cross-entropy against each image's
/// emotion shares + `l2` times the squared weights, on standardised features; `inputs`
/// says what is read ([`HeadInputs`]; missing entries: read; raw features: `l2` / 100) on
/// `targets` (image index into `memory`, shares). With `text_dropout` > 0 every image
/// also appears without its text, weighted by `text_dropout`, so the head keeps a
/// pixels-only answer.
#[allow(clippy::too_many_arguments)]
pub fn fit_emotion_head(
    model: &Sevlm,
    vm: &VarMap,
    memory: &Tensor,
    targets: &[(usize, Vec<f32>)],
    steps: usize,
    l2: f64,
    inputs: &[bool],
    text_dropout: f64,
) -> Result<()> {
    let design = HeadDesign::new(model, memory, targets)?;
    fit_design(model, vm, &design, steps, l2, inputs, text_dropout)
}

/// [`fit_emotion_head`] on a design.
///
/// The optimisation runs on plain vectors, not candle tensors: 400 full-batch steps on a
/// few hundred rows are dominated by candle's per-operation cost (about 2 s per fit against
/// 0.2 s here), and the kit's cross-validation makes over a thousand fits. The steps are
/// candle's `AdamW` (betas 0.9 / 0.999, eps 1e-8, no weight decay) on the same loss.
pub fn fit_design(
    model: &Sevlm,
    vm: &VarMap,
    design: &HeadDesign,
    steps: usize,
    l2: f64,
    inputs: &[bool],
    text_dropout: f64,
) -> Result<()> {
    let device = design.x.device().clone();
    let n = design.len()?;
    let e = design.y.dim(1)?;
    let full = design.x.dim(1)?;
    let vars: Vec<candle_core::Var> = {
        let data = vm
            .data()
            .lock()
            .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
        ["emotion_head.weight", "emotion_head.bias"]
            .iter()
            .filter_map(|k| data.get(*k).cloned())
            .collect()
    };
    if vars.len() != 2 {
        return Err(Error::Invalid(
            "emotion head: the model has no emotion_head.{weight,bias}".into(),
        ));
    }
    // The columns read; the others keep weight 0 (their gradient is 0 from a zero start).
    let cols: Vec<usize> = column_mask(model, full, inputs)
        .iter()
        .enumerate()
        .filter(|(_, &m)| m > 0.0)
        .map(|(c, _)| c)
        .collect();
    if cols.is_empty() {
        return Err(Error::Invalid(format!(
            "emotion head: the inputs {inputs:?} read no column"
        )));
    }
    let idx = row_index(&cols, &device)?;
    let take = |t: &Tensor| -> Result<Vec<Vec<f32>>> {
        Ok(t.index_select(&idx, 1)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?)
    };
    let mut rows = take(&design.x)?;
    let mut ys = design.y.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let td = text_dropout.clamp(0.0, 1.0) as f32;
    let mut w_row = vec![1.0 - td; n];
    // How many rows of the unmerged design each row stands for (its standardisation).
    let mut copies = vec![1f32; n];
    if td > 0.0 && model.config().text_memory.is_some() {
        // Every painting again without its text, weighted by the dropout. The loss is
        // linear in the targets, so identical rows (all of them when only text is read)
        // are merged into one row with their summed weight and mean target.
        let bare = take(&design.x0)?;
        let mut merged: Vec<(Vec<f32>, Vec<f32>, f32)> = Vec::new();
        for (r, y) in bare.into_iter().zip(&ys) {
            match merged.iter_mut().find(|(m, _, _)| *m == r) {
                Some((_, acc, wt)) => {
                    acc.iter_mut().zip(y).for_each(|(a, b)| *a += b);
                    *wt += td;
                }
                None => merged.push((r, y.clone(), td)),
            }
        }
        for (r, acc, wt) in merged {
            let count = wt / td;
            ys.push(acc.iter().map(|v| v / count).collect());
            rows.push(r);
            w_row.push(wt);
            copies.push(count);
        }
    } else {
        w_row = vec![1.0; n];
    }
    let width = cols.len();
    // Standardise (mean 0, sd 1 over the fitted rows, merged rows counted as often as
    // they occur), unless raw (then L2 / 100).
    let raw = inputs.get(4).copied().unwrap_or(false);
    let mut mu = vec![0f32; width];
    let mut scale = vec![1f32; width];
    if !raw {
        let total: f32 = copies.iter().sum();
        for c in 0..width {
            let mean = rows.iter().zip(&copies).map(|(r, k)| k * r[c]).sum::<f32>() / total;
            let var = rows
                .iter()
                .zip(&copies)
                .map(|(r, k)| k * (r[c] - mean).powi(2))
                .sum::<f32>()
                / total;
            mu[c] = mean;
            scale[c] = 1.0 / (var.sqrt() + 1e-6);
        }
    }
    let l2 = if raw { l2 / 100.0 } else { l2 } as f32;
    let xs: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            (0..width)
                .map(|c| (r[c] - mu[c]) * scale[c])
                .collect::<Vec<_>>()
        })
        .collect();
    let lr = if raw { 5e-2f32 } else { 1e-2 };
    let (w, b) = softmax_fit(&xs, width, &ys, &w_row, l2, lr, steps);
    // logits = ((x - mu) * scale) W'^T + b' = x (W' * scale)^T + (b' - (mu * scale) W'^T),
    // scattered back to every column (0 where not read).
    let mut w_full = vec![0f32; e * full];
    let mut b_fold = b.clone();
    for k in 0..e {
        for (j, &c) in cols.iter().enumerate() {
            let v = w[k * width + j] * scale[j];
            w_full[k * full + c] = v;
            b_fold[k] -= mu[j] * v;
        }
    }
    let dtype = vars[0].as_tensor().dtype();
    vars[0].set(&Tensor::from_vec(w_full, (e, full), &device)?.to_dtype(dtype)?)?;
    vars[1].set(&Tensor::from_vec(b_fold, e, &device)?.to_dtype(dtype)?)?;
    Ok(())
}

/// Multinomial logistic regression by full-batch Adam (betas 0.9 / 0.999, eps 1e-8, as
/// candle's `AdamW` without weight decay) from zero weights: minimises
/// `sum_i w_i CE(y_i, softmax(x_i W^T + b)) / sum_i w_i + l2 |W|^2` over rows `xs`
/// ([m, width], row-major) with soft targets `ys`. Returns (W [e, width], b [e]).
fn softmax_fit(
    xs: &[f32],
    width: usize,
    ys: &[Vec<f32>],
    w_row: &[f32],
    l2: f32,
    lr: f32,
    steps: usize,
) -> (Vec<f32>, Vec<f32>) {
    let m = w_row.len();
    let e = ys.first().map_or(0, Vec::len);
    let wsum: f32 = w_row.iter().sum();
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut w = vec![0f32; e * width];
    let mut b = vec![0f32; e];
    let (mut mw, mut vw) = (vec![0f32; e * width], vec![0f32; e * width]);
    let (mut mb, mut vb) = (vec![0f32; e], vec![0f32; e]);
    let mut gw = vec![0f32; e * width];
    let mut gb = vec![0f32; e];
    let mut z = vec![0f32; e];
    for t in 1..=steps {
        gw.iter_mut().for_each(|g| *g = 0.0);
        gb.iter_mut().for_each(|g| *g = 0.0);
        for i in 0..m {
            let x = &xs[i * width..(i + 1) * width];
            for k in 0..e {
                let wk = &w[k * width..(k + 1) * width];
                z[k] = b[k] + x.iter().zip(wk).map(|(a, c)| a * c).sum::<f32>();
            }
            let mx = z.iter().cloned().fold(f32::MIN, f32::max);
            let den: f32 = z.iter().map(|v| (v - mx).exp()).sum();
            let ysum: f32 = ys[i].iter().sum();
            let f = w_row[i] / wsum;
            for k in 0..e {
                // d/dz of -sum_k y_k log softmax(z)_k = p * sum(y) - y.
                let g = f * ((z[k] - mx).exp() / den * ysum - ys[i][k]);
                gb[k] += g;
                gw[k * width..(k + 1) * width]
                    .iter_mut()
                    .zip(x)
                    .for_each(|(a, c)| *a += g * c);
            }
        }
        gw.iter_mut().zip(&w).for_each(|(g, v)| *g += 2.0 * l2 * v);
        let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
        let adam = |p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]| {
            for j in 0..p.len() {
                m1[j] = b1 * m1[j] + (1.0 - b1) * g[j];
                m2[j] = b2 * m2[j] + (1.0 - b2) * g[j] * g[j];
                p[j] -= lr * (m1[j] / c1) / ((m2[j] / c2).sqrt() + eps);
            }
        };
        adam(&mut w, &gw, &mut mw, &mut vw);
        adam(&mut b, &gb, &mut mb, &mut vb);
    }
    (w, b)
}

/// 1 for each head input column that `inputs` reads, else 0. Columns: the text fields'
/// embeddings, then the reader's readings of each field, then the grid mean
/// ([`Sevlm::emotion_head_features`]).
fn column_mask(model: &Sevlm, width: usize, inputs: &[bool]) -> Vec<f32> {
    let cfg = model.config();
    let (k, d) = cfg
        .text_memory
        .as_ref()
        .map_or((0, 1), |t| (t.tokens(), t.text_dim));
    let l = cfg.reader_labels().max(1);
    let text_cols = if cfg.text_memory.is_some() { k * d } else { 0 };
    let reader_cols = k * cfg.reader_labels();
    let reads = |i: usize| inputs.get(i).copied().unwrap_or(true);
    (0..width)
        .map(|c| {
            let on = if c < text_cols {
                reads(c / d)
            } else if c < text_cols + reader_cols {
                reads((c - text_cols) / l) && reads(5)
            } else {
                reads(3)
            };
            if on {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Mean accuracy of [`fit_design`] over `repeats` seeded shuffles of `pool` into 5 folds
/// (each fold scored after fitting on the other four). The head's weights are left as
/// the last fold's fit.
#[allow(clippy::too_many_arguments)]
pub fn emotion_head_cv(
    model: &Sevlm,
    vm: &VarMap,
    pool: &HeadDesign,
    steps: usize,
    l2: f64,
    inputs: &[bool],
    text_dropout: f64,
    seed: u64,
    repeats: usize,
) -> Result<f64> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    const FOLDS: usize = 5;
    let n = pool.len()?;
    let (mut hits, mut seen) = (0.0, 0usize);
    for r in 0..repeats.max(1) {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed + r as u64));
        for f in 0..FOLDS {
            // Fold f holds every FOLDS-th painting of the shuffled order.
            let pick = |held: bool| {
                order
                    .iter()
                    .enumerate()
                    .filter(|(p, _)| (p % FOLDS == f) == held)
                    .map(|(_, &i)| i)
                    .collect::<Vec<_>>()
            };
            let (fit, score) = (pick(false), pick(true));
            if fit.is_empty() || score.is_empty() {
                continue;
            }
            fit_design(
                model,
                vm,
                &pool.select(&fit)?,
                steps,
                l2,
                inputs,
                text_dropout,
            )?;
            hits += pool.select(&score)?.accuracy(model)? * score.len() as f64;
            seen += score.len();
        }
    }
    Ok(if seen == 0 { 0.0 } else { hits / seen as f64 })
}

/// What [`choose_and_fit`] chose and measured.
#[derive(Debug, Clone)]
pub struct HeadChoice {
    /// The chosen L2 penalty.
    pub l2: f64,
    /// The chosen inputs.
    pub inputs: HeadInputs,
    /// Its cross-validated accuracy.
    pub cv: f64,
}

/// Chooses the emotion head's inputs and L2 among [`EMOTION_HEAD_INPUTS`] (those with the
/// reader only where the model has one) by [`emotion_head_cv`] over `pool`, then fits it
/// on all of `pool`. Each candidate is reported to `progress` and the log.
#[allow(clippy::too_many_arguments)]
pub fn choose_and_fit(
    model: &Sevlm,
    vm: &VarMap,
    memory: &Tensor,
    pool: &[(usize, Vec<f32>)],
    steps: usize,
    text_dropout: f64,
    seed: u64,
    repeats: usize,
    progress: &dyn Progress,
) -> Result<HeadChoice> {
    let design = HeadDesign::new(model, memory, pool)?;
    let has_reader = model.config().reader_labels() > 0;
    let mut best: Option<HeadChoice> = None;
    for inputs in EMOTION_HEAD_INPUTS.iter().filter(|i| has_reader || !i[5]) {
        let grid = if inputs[4] {
            EMOTION_HEAD_L2_RAW
        } else {
            EMOTION_HEAD_L2
        };
        for &l2 in grid {
            let cv = emotion_head_cv(
                model,
                vm,
                &design,
                steps,
                l2,
                inputs,
                text_dropout,
                seed,
                repeats,
            )?;
            let msg = format!(
                "SEVLM emotion head candidate l2 {l2} inputs {inputs:?}: {repeats} x 5-fold accuracy over {} train+val paintings {cv:.3}",
                pool.len()
            );
            tracing::info!("{msg}");
            progress.report(0.0, &msg);
            if best.as_ref().is_none_or(|b| cv > b.cv) {
                best = Some(HeadChoice {
                    l2,
                    inputs: *inputs,
                    cv,
                });
            }
        }
    }
    let best = best.ok_or_else(|| Error::Invalid("emotion head: no candidate".into()))?;
    fit_design(
        model,
        vm,
        &design,
        steps,
        best.l2,
        &best.inputs,
        text_dropout,
    )?;
    Ok(best)
}

/// Whether the head alone should pick the emotion
/// ([`crate::sevlm::model::EmotionHeadConfig::decides`]) in a trained model (`cfg`,
/// `vm`): the top emotion of [`crate::sevlm::generate::emotion_distribution`] against each
/// of `val`'s dominant emotion (image index into `memory`, shares; paintings the decoder
/// was not trained on), with the decoder's logits added to the head's and with the head
/// alone. Returns (head alone, accuracy added, accuracy alone); the head alone unless
/// adding raises the accuracy.
pub fn choose_decides(
    cfg: &crate::sevlm::model::SevlmConfig,
    vm: &VarMap,
    seq: &SequenceBuilder,
    memory: &Tensor,
    val: &[(usize, Vec<f32>)],
    device: &Device,
) -> Result<(bool, f64, f64)> {
    let mut acc = [0.0; 2];
    for (slot, decides) in [false, true].into_iter().enumerate() {
        let mut c = cfg.clone();
        match c.emotion_head.as_mut() {
            Some(h) => h.decides = decides,
            None => return Err(Error::Invalid("this SEVLM has no emotion head".into())),
        }
        let model = Sevlm::new(
            &c,
            candle_nn::VarBuilder::from_varmap(vm, DType::F32, device),
            false,
        )?;
        let mut hits = 0usize;
        for (i, share) in val {
            let (dist, _) = crate::sevlm::generate::emotion_distribution(
                &model,
                seq,
                &memory.narrow(0, *i, 1)?,
            )?;
            let probs: Vec<f32> = crate::emotion::Emotion::ALL
                .iter()
                .map(|e| dist.iter().find(|(x, _)| x == e).map_or(0.0, |d| d.1))
                .collect();
            if argmax(&probs) == argmax(share) {
                hits += 1;
            }
        }
        acc[slot] = hits as f64 / val.len().max(1) as f64;
    }
    Ok((acc[1] >= acc[0], acc[0], acc[1]))
}

/// The emotion head's accuracy on `targets`: how often its top emotion is the image's
/// dominant one (largest share; ties: the first in `Emotion::ALL` order).
pub fn emotion_head_accuracy(
    model: &Sevlm,
    memory: &Tensor,
    targets: &[(usize, Vec<f32>)],
) -> Result<f64> {
    if targets.is_empty() {
        return Ok(0.0);
    }
    HeadDesign::new(model, memory, targets)?.accuracy(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the same loss minimised by candle's autograd and `AdamW` (weight decay 0),
    /// as the kit's head was fitted before `softmax_fit`: weights agree to 1e-4 after 60
    /// steps, with soft targets, row weights and an L2 penalty.
    #[test]
    fn softmax_fit_matches_candle_adamw() {
        use candle_nn::Optimizer;
        let dev = Device::Cpu;
        let (m, width, e) = (7, 5, 3);
        let xs: Vec<f32> = (0..m * width)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let ys: Vec<Vec<f32>> = (0..m)
            .map(|i| {
                let mut r = vec![0.1f32; e];
                r[i % e] = 0.8;
                r
            })
            .collect();
        let w_row: Vec<f32> = (0..m).map(|i| if i < 5 { 0.7 } else { 0.3 }).collect();
        let (l2, lr, steps) = (0.05f32, 1e-2f32, 60);
        let (w, b) = softmax_fit(&xs, width, &ys, &w_row, l2, lr, steps);

        let x = Tensor::from_vec(xs, (m, width), &dev).unwrap();
        let y = Tensor::from_vec(ys.concat(), (m, e), &dev).unwrap();
        let wr = Tensor::from_vec(w_row, m, &dev).unwrap();
        let wv = candle_core::Var::zeros((e, width), DType::F32, &dev).unwrap();
        let bv = candle_core::Var::zeros(e, DType::F32, &dev).unwrap();
        let mut opt = candle_nn::AdamW::new(
            vec![wv.clone(), bv.clone()],
            candle_nn::ParamsAdamW {
                lr: lr as f64,
                weight_decay: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..steps {
            let z = x
                .matmul(&wv.t().unwrap())
                .unwrap()
                .broadcast_add(bv.as_tensor())
                .unwrap();
            let logp = candle_nn::ops::log_softmax(&z, candle_core::D::Minus1).unwrap();
            let ce = (logp * &y).unwrap().sum(1).unwrap().neg().unwrap();
            let ce = ce
                .mul(&wr)
                .unwrap()
                .sum_all()
                .unwrap()
                .div(&wr.sum_all().unwrap())
                .unwrap();
            let loss = (ce
                + (wv.as_tensor().sqr().unwrap().sum_all().unwrap() * l2 as f64).unwrap())
            .unwrap();
            opt.backward_step(&loss).unwrap();
        }
        let wc = wv
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let bc = bv.as_tensor().to_vec1::<f32>().unwrap();
        for (a, c) in w.iter().chain(&b).zip(wc.iter().chain(&bc)) {
            assert!((a - c).abs() < 1e-4, "{a} vs {c}");
        }
        assert!(w.iter().any(|v| v.abs() > 0.05), "the fit moved: {w:?}");
    }
}
