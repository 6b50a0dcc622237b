//! PACL: Partitioned Adaptive Contrastive Learning (Bridging Visual Affective Gap:
//! Borrowing Textual Knowledge by Learning from Noisy Image-Text Pairs, ACM MM 2024),
//! and what Artemo builds on its embeddings:
//! collection embeddings, 2-D maps, zero-shot emotion classification, free-text search
//! and linear probes.
//!
//! # Model
//! A CLIP-style dual encoder (Fig. 4): a trainable vision tower `V_theta` with projection
//! `q_v`, and a frozen sentence encoder `T_xi` (the shipped all-MiniLM-L6-v2 stands in for
//! SKEP; any BERT-family sentence encoder folder works, the paper shows BERT/RoBERTa work
//! too) with projection `q_t`. `z^v = normalize(q_v(V(v)))`, `z^t = normalize(q_t(T(t)))`
//! (Eq. 4). The vision tower is the demo kit's [`PatchTower`] (fixed colour/light/texture
//! descriptors + small transformer): no CLIP or ResNet checkpoint ships, and training a
//! ViT-B on two CPU cores from 267 paintings is not realistic. Because the text tower is
//! frozen, its features are computed once per text ([`train::TrainData`]) and only `q_t`
//! runs in the training loop.
//!
//! Checkpoint (`save`/`load`): `config.json` ([`PaclConfig`]) and `model.safetensors`
//! with `vision.*` (the tower's keys, see `models::patch_tower`), `q_v.{weight,bias}`,
//! `q_t.{weight,bias}`, and with the ITM option (`itm_head: true`)
//! `itm.{text_q,image_k,head.0,head.2}.{weight,bias}`. There is no released PACL checkpoint for this tower, so the
//! layout is Artemo's own.
//!
//! # Stages (see the submodules)
//! 1. [`partition`]: factual / emotional matches (Eq. 1-2) with stand-in evaluators when
//!    CLIP, DeepSentiBank and BERTweet are absent; four partitions.
//! 2. [`kmeans`]: factual pseudo-labels by k-means (K = 2, k-means++) on image features,
//!    emotional pseudo-labels on text features. The paper clusters the *pretrained* vision
//!    model's features; the small tower is untrained at that point, so its fixed inputs
//!    stand in: the per-image mean and standard deviation of the patch descriptors
//!    (z-scored per feature), which carry exactly the factual colour/light/texture
//!    information the tower starts from.
//! 3. [`losses`]: L1-L4 (Eq. 3-14), temperature 0.07, false negatives removed via `m_f`,
//!    `m_e` and their inverses, weak positives reconstructed by argmax; [`schedule`]: the
//!    progressive thirds (Eq. 15-17). Each step holds four equal sub-batches, one per
//!    partition, as the released code does. The objective defaults to the paper's
//!    (symmetric losses summed with weight 1, no ITM); the released code's
//!    (one-direction losses weighted `L1 + 0.6 L2 + 0.6 L3 + 0.1 L4`, times
//!    `weight_clip` 0.1, plus its image-text matching loss, [`itm`]) is the preset
//!    [`train::Objective::Code`], and each part is a field of [`train::TrainConfig`].
//!    AdamW with cosine decay, deterministic by seed.
//!
//! Outputs: [`embed`] (embed a collection, project, zero-shot classify, search; the
//! engine's requests over them are in `jobs::pacl`), [`projection`] (PCA, Barnes-Hut
//! t-SNE), [`zeroshot`] (the paper's single prompt or a prompt ensemble), [`probe`]
//! (linear probes on the backbone features with the paper's protocol, or on the
//! projected embedding; accuracy and weighted F1), [`bench`](mod@bench). `docs/pacl.md` documents the
//! stand-ins and thresholds with measured partition sizes.

pub mod bench;
pub mod embed;
pub mod grid_layout;
pub mod hotspots;
pub mod itm;
pub mod kmeans;
pub mod losses;
pub mod partition;
pub mod probe;
pub mod projection;
pub mod schedule;
pub mod session;
pub mod text_branch;
pub mod text_stage;
pub mod train;
pub mod trainer;
pub mod zeroshot;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::error::{write_atomic, Error, Result};
use crate::models::loading::Weights;
use crate::models::nn::{linear, Mode};
use crate::models::patch_tower::{descriptors_tensor, Descriptors, PatchTower, PatchTowerConfig};
use crate::progress::Progress;

pub use train::{train, TrainConfig, TrainData, TrainReport};

/// The model's configuration (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaclConfig {
    /// The vision tower.
    pub tower: PatchTowerConfig,
    /// Folder name (under `models/`) or path of the frozen sentence encoder.
    pub text_model: String,
    /// Width of the sentence encoder's features.
    pub text_dim: usize,
    /// Width of the joint embedding space.
    pub embed_dim: usize,
    /// Contrastive temperature tau (Eq. 3).
    pub temperature: f64,
    /// Whether the model carries the released code's image-text matching head (`itm.*`,
    /// [`itm`]); set when training with `itm_weight > 0`. The paper has no ITM.
    #[serde(default)]
    pub itm_head: bool,
    /// The optional text branch of the image side ([`text_branch`]; Artemo's, issue 21):
    /// `None` (older checkpoints) reads pixels only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_branch: Option<text_branch::TextBranchConfig>,
}

impl Default for PaclConfig {
    fn default() -> Self {
        PaclConfig {
            tower: PatchTowerConfig::default(),
            text_model: "all-MiniLM-L6-v2".into(),
            text_dim: 384,
            embed_dim: 256,
            temperature: 0.07,
            itm_head: false,
            text_branch: None,
        }
    }
}

impl PaclConfig {
    /// A tiny configuration for tests (tiny tower, text width `text_dim`).
    pub fn tiny(text_dim: usize) -> Self {
        PaclConfig {
            tower: PatchTowerConfig::tiny(),
            text_model: "all-MiniLM-L6-v2".into(),
            text_dim,
            embed_dim: 8,
            temperature: 0.07,
            itm_head: false,
            text_branch: None,
        }
    }
}

/// L2 normalisation over the last dimension with composed (differentiable) operations.
pub fn normalize(x: &Tensor) -> Result<Tensor> {
    let n = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&n)?)
}

/// The trainable part of PACL: the vision tower and both projections.
pub struct PaclModel {
    cfg: PaclConfig,
    tower: PatchTower,
    q_v: Linear,
    q_t: Linear,
    itm: Option<itm::ItmHead>,
    text: Option<text_branch::TextBranch>,
    varmap: VarMap,
    device: Device,
}

impl std::fmt::Debug for PaclModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaclModel")
            .field("config", &self.cfg)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl PaclModel {
    /// A freshly initialised model, deterministic by `seed`.
    pub fn new(cfg: &PaclConfig, device: &Device, seed: u64) -> Result<Self> {
        let varmap = VarMap::new();
        let m = Self::build(cfg, varmap, device)?;
        crate::models::nn::reseed(&m.varmap, seed)?;
        // CLS token and position embedding: N(0, 0.02) from the seed (reseed gives
        // 2-D+ tensors a fan-in uniform, far too small for these).
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9);
        let data = m
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
        for name in ["vision.cls_token", "vision.pos_embed"] {
            if let Some(v) = data.get(name) {
                let n = v.elem_count();
                let vals: Vec<f32> = (0..n).map(|_| 0.02 * gauss(&mut rng)).collect();
                v.set(&Tensor::from_vec(vals, v.dims(), device)?)?;
            }
        }
        drop(data);
        Ok(m)
    }

    fn build(cfg: &PaclConfig, varmap: VarMap, device: &Device) -> Result<Self> {
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let tower = PatchTower::new(&cfg.tower, vb.pp("vision"))?;
        let q_v = linear(cfg.tower.dim, cfg.embed_dim, true, vb.pp("q_v"))?;
        let q_t = linear(cfg.text_dim, cfg.embed_dim, true, vb.pp("q_t"))?;
        let itm = if cfg.itm_head {
            Some(itm::ItmHead::new(cfg, vb.pp("itm"))?)
        } else {
            None
        };
        let text = match &cfg.text_branch {
            Some(t) => Some(text_branch::TextBranch::new(
                t,
                cfg.embed_dim,
                vb.pp("text"),
            )?),
            None => None,
        };
        Ok(PaclModel {
            cfg: cfg.clone(),
            tower,
            q_v,
            q_t,
            itm,
            text,
            varmap,
            device: device.clone(),
        })
    }

    /// Loads `dir/config.json` and `dir/model.safetensors`; a missing or misshapen tensor
    /// is an error naming the file and tensor.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let cfg: PaclConfig = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&cfg_path, None, e.to_string()))?;
        cfg.tower.validate()?;
        let m = Self::build(&cfg, VarMap::new(), device)?;
        let wpath = dir.join("model.safetensors");
        let w = Weights::load(&wpath, device)?;
        let report = w.load_into(&m.varmap)?;
        if let Some(missing) = report.missing.first() {
            return Err(Error::at(
                &wpath,
                format!("tensor `{missing}`"),
                format!("missing ({} tensors missing)", report.missing.len()),
            ));
        }
        Ok(m)
    }

    /// Writes `config.json` and `model.safetensors` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json =
            serde_json::to_string_pretty(&self.cfg).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(&dir.join("config.json"), json.as_bytes())?;
        crate::train::save_varmap(&self.varmap, &dir.join("model.safetensors"))
    }

    /// The configuration.
    pub fn config(&self) -> &PaclConfig {
        &self.cfg
    }

    /// The vision tower (SEVLM and EmoSEM read its `grid` output; frozen after PACL).
    pub fn tower(&self) -> &PatchTower {
        &self.tower
    }

    /// The image-text matching head, when the model has one ([`PaclConfig::itm_head`]).
    pub fn itm(&self) -> Option<&itm::ItmHead> {
        self.itm.as_ref()
    }

    /// The text branch of the image side, when the model has one
    /// ([`PaclConfig::text_branch`]).
    pub fn text_branch(&self) -> Option<&text_branch::TextBranch> {
        self.text.as_ref()
    }

    /// A copy of this model with a fresh text branch of `branch` (initialised from
    /// `seed`); every other tensor, the tower's included, is copied bit for bit.
    pub fn with_text_branch(
        &self,
        branch: &text_branch::TextBranchConfig,
        seed: u64,
    ) -> Result<PaclModel> {
        let cfg = PaclConfig {
            text_branch: Some(branch.clone()),
            ..self.cfg.clone()
        };
        let m = Self::build(&cfg, VarMap::new(), &self.device)?;
        crate::models::nn::reseed(&m.varmap, seed)?;
        let src = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
        let dst = m
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
        for (name, v) in dst.iter() {
            if name.starts_with("text.") {
                continue;
            }
            let s = src.get(name).ok_or_else(|| {
                Error::Invalid(format!("PACL text branch: the base model lacks `{name}`"))
            })?;
            v.set(s.as_tensor())?;
        }
        drop(dst);
        drop(src);
        Ok(m)
    }

    /// `z^v` from pooled features `cls` `[B, tower.dim]` and, when the model has a text
    /// branch, text tokens `[B, fields, text_dim]`: `normalize(q_v(cls) + f_text(tokens))`.
    /// Without tokens, or without a branch, it is the pixels-only `normalize(q_v(cls))`.
    pub fn fuse(&self, cls: &Tensor, tokens: Option<&Tensor>) -> Result<Tensor> {
        let v = self.q_v.forward(cls)?;
        match (&self.text, tokens) {
            (Some(b), Some(t)) => normalize(&(v + b.forward(&t.to_device(&self.device)?)?)?),
            _ => normalize(&v),
        }
    }

    /// `z^v` of descriptors with the painting's text tokens (see [`Self::fuse`]).
    pub fn image_features_text(
        &self,
        descriptors: &Tensor,
        tokens: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let out = self.tower.forward(descriptors, mode)?;
        self.fuse(&out.cls, tokens)
    }

    /// Embeddings (unit norm) of descriptor grids with their flattened text tokens
    /// (`fields * text_dim` per image; `None`: pixels only), in batches, with progress
    /// and cancellation as [`Self::embed`].
    pub fn embed_text(
        &self,
        images: &[Descriptors],
        tokens: Option<&[Vec<f32>]>,
        batch: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<f32>>> {
        let (Some(tokens), Some(_)) = (tokens, &self.text) else {
            return self.embed(images, batch, progress);
        };
        if tokens.len() != images.len() {
            return Err(Error::Invalid(format!(
                "PACL: {} images but {} text token rows",
                images.len(),
                tokens.len()
            )));
        }
        let mut out = Vec::with_capacity(images.len());
        let batch = batch.max(1);
        for (chunk, toks) in images.chunks(batch).zip(tokens.chunks(batch)) {
            let refs: Vec<&Descriptors> = chunk.iter().collect();
            let x = descriptors_tensor(&refs, &self.device)?;
            let width = toks.first().map(Vec::len).unwrap_or(0);
            if toks.iter().any(|t| t.len() != width) {
                return Err(Error::Invalid(
                    "PACL: text token rows of different widths".into(),
                ));
            }
            let t = Tensor::from_vec(toks.concat(), (toks.len(), width), &self.device)?;
            out.extend(
                self.image_features_text(&x, Some(&t), Mode::Infer)?
                    .to_vec2::<f32>()?,
            );
            progress.report(
                out.len() as f32 / images.len().max(1) as f32,
                &format!("{}/{} images", out.len(), images.len()),
            );
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
        }
        Ok(out)
    }

    /// The trainable variables (`vision.*`, `q_v.*`, `q_t.*`, `itm.*` with the ITM
    /// head and `text.*` with the text branch).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `z^v`: unit-norm image embeddings `[B, embed_dim]` from descriptors
    /// `[B, G*G, DESC_DIM]`.
    pub fn image_features(&self, descriptors: &Tensor, mode: Mode) -> Result<Tensor> {
        let out = self.tower.forward(descriptors, mode)?;
        normalize(&self.q_v.forward(&out.cls)?)
    }

    /// The vision tower's output and `z^v` from it: `(PatchTowerOutput, z^v)`. Training
    /// uses both (the ITM head reads the patch grid).
    pub fn image_forward(
        &self,
        descriptors: &Tensor,
        mode: Mode,
    ) -> Result<(crate::models::patch_tower::PatchTowerOutput, Tensor)> {
        let out = self.tower.forward(descriptors, mode)?;
        let z = normalize(&self.q_v.forward(&out.cls)?)?;
        Ok((out, z))
    }

    /// Backbone features `[B, tower.dim]`: the vision tower's pooled (CLS) feature before
    /// the projection `q_v`, what the paper's linear evaluation probes (the released
    /// code's `forward_sentivisual`, `model/PACL.py` lines 108-120, classifies the
    /// backbone's pooled `image_embed`, not the projection).
    pub fn backbone_features(&self, descriptors: &Tensor) -> Result<Tensor> {
        Ok(self.tower.forward(descriptors, Mode::Infer)?.cls)
    }

    /// Unit-norm patch embeddings `[B, G*G, embed_dim]`: `q_v` applied to each patch
    /// token of the tower (the pseudo-masks' patch-text similarity, `emosem::data::pseudo`).
    pub fn patch_features(&self, descriptors: &Tensor) -> Result<Tensor> {
        let out = self.tower.forward(descriptors, Mode::Infer)?;
        normalize(&self.q_v.forward(&out.grid)?)
    }

    /// `z^t`: unit-norm text embeddings `[B, embed_dim]` from frozen sentence-encoder
    /// features `[B, text_dim]`.
    pub fn text_features(&self, encoded: &Tensor) -> Result<Tensor> {
        normalize(&self.q_t.forward(encoded)?)
    }

    /// Embeddings (unit norm, one `Vec` per image) of descriptor grids, in batches of
    /// `batch`; `progress` gets the done share ("3/8 images") after each batch, and a
    /// cancelled `progress` stops with [`Error::Cancelled`].
    pub fn embed(
        &self,
        images: &[Descriptors],
        batch: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<f32>>> {
        self.features(images, batch, progress, false)
    }

    /// Backbone features ([`Self::backbone_features`], one `Vec` per image), in batches,
    /// with progress and cancellation as [`Self::embed`].
    pub fn backbone(
        &self,
        images: &[Descriptors],
        batch: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<f32>>> {
        self.features(images, batch, progress, true)
    }

    fn features(
        &self,
        images: &[Descriptors],
        batch: usize,
        progress: &dyn Progress,
        backbone: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(batch.max(1)) {
            let refs: Vec<&Descriptors> = chunk.iter().collect();
            let x = descriptors_tensor(&refs, &self.device)?;
            let z = if backbone {
                self.backbone_features(&x)?
            } else {
                self.image_features(&x, Mode::Infer)?
            };
            out.extend(z.to_vec2::<f32>()?);
            progress.report(
                out.len() as f32 / images.len().max(1) as f32,
                &format!("{}/{} images", out.len(), images.len()),
            );
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
        }
        Ok(out)
    }
}

/// A standard normal sample (Box-Muller).
pub(crate) fn gauss(rng: &mut impl rand::Rng) -> f32 {
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut d, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    if na <= 0.0 || nb <= 0.0 {
        0.0
    } else {
        d / (na.sqrt() * nb.sqrt())
    }
}

/// Where PACL weights are looked for, in order: `models/pacl` (a model trained or
/// installed by the user, `artemo train pacl` writes there), then `models/demo/pacl`
/// (the demo kit).
pub const PACL_DIRS: [&str; 2] = ["pacl", "demo/pacl"];

/// The first folder of [`PACL_DIRS`] holding `config.json` and `model.safetensors`, in the
/// user's models folder first, then under `models` ([`crate::locate_model`]).
pub fn locate(models: &Path) -> Option<PathBuf> {
    crate::locate_model(models, &PACL_DIRS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::patch_tower::DESC_DIM;

    #[test]
    fn save_load_round_trip_and_shapes() {
        let dev = Device::Cpu;
        let cfg = PaclConfig::tiny(6);
        let m = PaclModel::new(&cfg, &dev, 1).unwrap();
        let g = cfg.tower.grid;
        let d = Descriptors {
            grid: g,
            data: (0..g * g * DESC_DIM)
                .map(|i| (i % 7) as f32 / 7.0)
                .collect(),
        };
        let e = m
            .embed(&[d.clone(), d.clone(), d], 2, &crate::progress::Silent)
            .unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].len(), 8);
        let norm: f32 = e[0].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        let dir = tempfile::tempdir().unwrap();
        m.save(dir.path()).unwrap();
        let m2 = PaclModel::load(dir.path(), &dev).unwrap();
        let t = Tensor::ones((2, 6), DType::F32, &dev).unwrap();
        let a = m.text_features(&t).unwrap();
        let b = m2.text_features(&t).unwrap();
        assert!(crate::models::tests::max_diff(&a, &b) < 1e-6);
        // Same seed, same weights.
        let m3 = PaclModel::new(&cfg, &dev, 1).unwrap();
        assert!(crate::models::tests::max_diff(&a, &m3.text_features(&t).unwrap()) < 1e-6);
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        let err = PaclModel::load(dir.path(), &dev).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
    }
}
