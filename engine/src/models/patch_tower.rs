//! The demo kit's small vision tower: fixed per-patch colour, light and texture
//! descriptors followed by a small trainable pre-LN transformer.
//!
//! No paper checkpoint: this tower is Artemo's own, built to learn from a few hundred
//! paintings without a pretrained backbone (issue 9). It stands in for CLIP's ViT in PACL
//! (`pacl/`), SEVLM and EmoSEM when no real weights are installed, and its output mirrors
//! CLIP's vision tower so those models can switch between the two:
//!
//! - `cls`  `[B, d]`: the final-LayerNorm CLS token (the image embedding before PACL's `q_v`).
//! - `grid` `[B, G*G, d]`: the final-LayerNorm patch tokens, row-major (patch `(r, c)` is
//!   token `r * G + c`), which SEVLM's cross-attention and EmoSEM's mask decoder consume.
//!
//! # Descriptors (fixed, not trained)
//! The image is resized (without keeping the aspect ratio, like SEVLM's transform) to
//! `image_size` x `image_size` and cut into a `grid` x `grid` lattice of square patches.
//! Every patch gets the same [`DESC_DIM`] numbers, computed the same way wherever the
//! patch lies (position enters only through the learned position embedding); see
//! [`DESC_NAMES`]: lightness and saturation mean/std (HSL), the saturation-weighted mean
//! hue direction (cos, sin), a 6-bin hue histogram weighted by saturation, mean R, G, B,
//! warmth (R - B), contrast (90th minus 10th percentile of luma), dark and bright pixel
//! shares, edge density (share of pixels whose Sobel magnitude exceeds [`EDGE_THRESHOLD`]),
//! mean Sobel magnitude, and an 8-bin unsigned gradient-orientation histogram weighted by
//! magnitude. Extraction is plain integer/float arithmetic over pixels, parallel over patch
//! rows with rayon and deterministic (no reductions whose order depends on threads).
//!
//! Augmentation works on descriptor grids ([`Descriptors::augment`]): a random square crop
//! of the lattice resampled back to `grid` x `grid` (nearest cell) and a horizontal flip
//! that mirrors the columns and the orientation histogram (angle `a` becomes `pi - a`, so
//! bin `b` becomes bin `7 - b`), so cached descriptors can be augmented without images.
//!
//! # Checkpoint layout (`vb.pp` names)
//! `embed.{weight,bias}` (Linear desc -> d), `cls_token` `[1, 1, d]`, `pos_embed`
//! `[1, 1 + G*G, d]`, `blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`,
//! `norm` (final LayerNorm). Config: [`PatchTowerConfig`] as JSON.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use image::imageops::FilterType;
use image::DynamicImage;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::nn::{linear, softmax, Activation, LayerNorm, Mode};

/// Number of descriptor values per patch.
pub const DESC_DIM: usize = 29;

/// What each descriptor value is, in order.
pub const DESC_NAMES: [&str; DESC_DIM] = [
    "lightness_mean",
    "lightness_std",
    "saturation_mean",
    "saturation_std",
    "hue_cos",
    "hue_sin",
    "hue_red",
    "hue_yellow",
    "hue_green",
    "hue_cyan",
    "hue_blue",
    "hue_magenta",
    "red_mean",
    "green_mean",
    "blue_mean",
    "warmth",
    "contrast",
    "dark_share",
    "bright_share",
    "edge_density",
    "gradient_mean",
    "orient_0",
    "orient_1",
    "orient_2",
    "orient_3",
    "orient_4",
    "orient_5",
    "orient_6",
    "orient_7",
];

/// Index of the first orientation bin in a descriptor.
pub const ORIENT_START: usize = 21;
/// Number of orientation bins (unsigned angle, `pi / 8` each).
pub const ORIENT_BINS: usize = 8;
/// Sobel magnitude (on 0..1 luma, divided by 4) above which a pixel counts as an edge.
pub const EDGE_THRESHOLD: f32 = 0.1;

/// The tower's configuration (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchTowerConfig {
    /// Side of the resized input image in pixels (a multiple of `grid`).
    pub image_size: usize,
    /// Patches per side.
    pub grid: usize,
    /// Token width `d`.
    pub dim: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads (divides `dim`).
    pub heads: usize,
    /// MLP hidden width.
    pub mlp_dim: usize,
    /// LayerNorm epsilon.
    pub eps: f64,
}

impl Default for PatchTowerConfig {
    fn default() -> Self {
        PatchTowerConfig {
            image_size: 224,
            grid: 14,
            dim: 192,
            layers: 4,
            heads: 4,
            mlp_dim: 768,
            eps: 1e-6,
        }
    }
}

impl PatchTowerConfig {
    /// A tiny configuration for tests.
    pub fn tiny() -> Self {
        PatchTowerConfig {
            image_size: 32,
            grid: 4,
            dim: 16,
            layers: 2,
            heads: 2,
            mlp_dim: 32,
            eps: 1e-6,
        }
    }

    /// Patch tokens per image (`grid * grid`).
    pub fn num_patches(&self) -> usize {
        self.grid * self.grid
    }

    /// Checks the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        if self.grid == 0 || !self.image_size.is_multiple_of(self.grid) {
            return Err(Error::Invalid(format!(
                "patch tower: image_size {} is not a positive multiple of grid {}",
                self.image_size, self.grid
            )));
        }
        if self.heads == 0 || !self.dim.is_multiple_of(self.heads) {
            return Err(Error::Invalid(format!(
                "patch tower: dim {} is not divisible by heads {}",
                self.dim, self.heads
            )));
        }
        Ok(())
    }

    /// Reads a JSON config.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: Self =
            serde_json::from_str(&text).map_err(|e| Error::parse(path, None, e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Fixed descriptors of one image: `grid * grid * DESC_DIM` values, patch-major (row-major
/// patches, then the [`DESC_NAMES`] order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptors {
    /// Patches per side.
    pub grid: usize,
    /// The values.
    pub data: Vec<f32>,
}

impl Descriptors {
    /// The descriptor of patch `(row, col)`.
    pub fn patch(&self, row: usize, col: usize) -> &[f32] {
        let i = (row * self.grid + col) * DESC_DIM;
        &self.data[i..i + DESC_DIM]
    }

    /// Mean over patches of every descriptor value, then their standard deviations:
    /// `2 * DESC_DIM` global features (the factual features PACL clusters when the tower is
    /// untrained).
    pub fn global(&self) -> Vec<f32> {
        let n = (self.grid * self.grid).max(1) as f32;
        let mut mean = vec![0f32; DESC_DIM];
        for p in self.data.chunks_exact(DESC_DIM) {
            for (m, v) in mean.iter_mut().zip(p) {
                *m += v / n;
            }
        }
        let mut var = vec![0f32; DESC_DIM];
        for p in self.data.chunks_exact(DESC_DIM) {
            for ((s, v), m) in var.iter_mut().zip(p).zip(&mean) {
                *s += (v - m) * (v - m) / n;
            }
        }
        mean.extend(var.into_iter().map(f32::sqrt));
        mean
    }

    /// The grid mirrored left-right (orientation bins mirrored too).
    pub fn flip_horizontal(&self) -> Descriptors {
        let g = self.grid;
        let mut data = vec![0f32; self.data.len()];
        for r in 0..g {
            for c in 0..g {
                let src = self.patch(r, g - 1 - c);
                let dst = &mut data[(r * g + c) * DESC_DIM..(r * g + c + 1) * DESC_DIM];
                dst.copy_from_slice(src);
                for b in 0..ORIENT_BINS {
                    dst[ORIENT_START + b] = src[ORIENT_START + ORIENT_BINS - 1 - b];
                }
            }
        }
        Descriptors { grid: g, data }
    }

    /// The square sub-lattice of side `side` at `(top, left)`, resampled back to `grid`
    /// x `grid` by nearest cell.
    pub fn crop(&self, top: usize, left: usize, side: usize) -> Descriptors {
        let g = self.grid;
        let side = side.clamp(1, g);
        let top = top.min(g - side);
        let left = left.min(g - side);
        let mut data = Vec::with_capacity(self.data.len());
        for r in 0..g {
            let sr = top + (r * side) / g;
            for c in 0..g {
                let sc = left + (c * side) / g;
                data.extend_from_slice(self.patch(sr, sc));
            }
        }
        Descriptors { grid: g, data }
    }

    /// A random augmentation: a square crop covering at least `min_crop` of the side
    /// (uniform side and position) and a horizontal flip with probability 1/2.
    pub fn augment(&self, rng: &mut impl Rng, min_crop: f32) -> Descriptors {
        let g = self.grid;
        let lo = ((g as f32 * min_crop.clamp(0.0, 1.0)).ceil() as usize).clamp(1, g);
        let side = rng.gen_range(lo..=g);
        let top = rng.gen_range(0..=g - side);
        let left = rng.gen_range(0..=g - side);
        let out = self.crop(top, left, side);
        if rng.gen_bool(0.5) {
            out.flip_horizontal()
        } else {
            out
        }
    }
}

/// Stacks descriptor grids into a `[B, G*G, DESC_DIM]` tensor.
pub fn descriptors_tensor(batch: &[&Descriptors], device: &Device) -> Result<Tensor> {
    let Some(first) = batch.first() else {
        return Err(Error::Invalid("patch tower: empty batch".into()));
    };
    let g = first.grid;
    let mut flat = Vec::with_capacity(batch.len() * g * g * DESC_DIM);
    for d in batch {
        if d.grid != g || d.data.len() != g * g * DESC_DIM {
            return Err(Error::Invalid(format!(
                "patch tower: descriptor grids differ ({} vs {g}) or are truncated",
                d.grid
            )));
        }
        flat.extend_from_slice(&d.data);
    }
    Ok(Tensor::from_vec(
        flat,
        (batch.len(), g * g, DESC_DIM),
        device,
    )?)
}

fn hsl(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let l = (max + min) / 2.0;
    let d = max - min;
    if d <= 1e-6 {
        return (0.0, 0.0, l);
    }
    let s = d / (1.0 - (2.0 * l - 1.0).abs()).max(1e-6);
    let h = if max == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    (h / 6.0, s.min(1.0), l)
}

/// Descriptors of an RGB image already resized to `grid * patch` pixels per side.
fn descriptors_of_rgb(rgb: &image::RgbImage, grid: usize) -> Descriptors {
    let side = rgb.width() as usize;
    let patch = side / grid;
    let px: Vec<[f32; 3]> = rgb
        .pixels()
        .map(|p| {
            [
                p[0] as f32 / 255.0,
                p[1] as f32 / 255.0,
                p[2] as f32 / 255.0,
            ]
        })
        .collect();
    let luma: Vec<f32> = px
        .iter()
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect();
    let at = |x: isize, y: isize| -> f32 {
        let x = x.clamp(0, side as isize - 1) as usize;
        let y = y.clamp(0, side as isize - 1) as usize;
        luma[y * side + x]
    };
    let rows: Vec<Vec<f32>> = (0..grid)
        .into_par_iter()
        .map(|pr| {
            let mut row = Vec::with_capacity(grid * DESC_DIM);
            let mut lum = Vec::with_capacity(patch * patch);
            for pc in 0..grid {
                let mut d = [0f32; DESC_DIM];
                let n = (patch * patch) as f32;
                let (mut sl, mut sl2, mut ss, mut ss2) = (0f32, 0f32, 0f32, 0f32);
                let (mut hc, mut hs, mut sw) = (0f32, 0f32, 0f32);
                let mut rgb_sum = [0f32; 3];
                let (mut dark, mut bright, mut edges, mut gsum) = (0f32, 0f32, 0f32, 0f32);
                let mut orient = [0f32; ORIENT_BINS];
                lum.clear();
                for y in pr * patch..(pr + 1) * patch {
                    for x in pc * patch..(pc + 1) * patch {
                        let p = px[y * side + x];
                        let (h, s, l) = hsl(p[0], p[1], p[2]);
                        sl += l;
                        sl2 += l * l;
                        ss += s;
                        ss2 += s * s;
                        let a = h * std::f32::consts::TAU;
                        hc += s * a.cos();
                        hs += s * a.sin();
                        sw += s;
                        let bin = ((h * 6.0 + 0.5).floor() as usize) % 6;
                        d[6 + bin] += s / n;
                        for c in 0..3 {
                            rgb_sum[c] += p[c];
                        }
                        if l < 0.2 {
                            dark += 1.0;
                        }
                        if l > 0.8 {
                            bright += 1.0;
                        }
                        lum.push(luma[y * side + x]);
                        let (xi, yi) = (x as isize, y as isize);
                        let gx = (at(xi + 1, yi - 1) + 2.0 * at(xi + 1, yi) + at(xi + 1, yi + 1))
                            - (at(xi - 1, yi - 1) + 2.0 * at(xi - 1, yi) + at(xi - 1, yi + 1));
                        let gy = (at(xi - 1, yi + 1) + 2.0 * at(xi, yi + 1) + at(xi + 1, yi + 1))
                            - (at(xi - 1, yi - 1) + 2.0 * at(xi, yi - 1) + at(xi + 1, yi - 1));
                        let mag = (gx * gx + gy * gy).sqrt() / 4.0;
                        gsum += mag;
                        if mag > EDGE_THRESHOLD {
                            edges += 1.0;
                        }
                        if mag > 1e-6 {
                            // Unsigned orientation in [0, pi); image y grows downwards,
                            // so flip gy to measure angles counter-clockwise.
                            let ang = (-gy).atan2(gx).rem_euclid(std::f32::consts::PI);
                            let b = ((ang / std::f32::consts::PI * ORIENT_BINS as f32) as usize)
                                .min(ORIENT_BINS - 1);
                            orient[b] += mag;
                        }
                    }
                }
                let lm = sl / n;
                let sm = ss / n;
                d[0] = lm;
                d[1] = (sl2 / n - lm * lm).max(0.0).sqrt();
                d[2] = sm;
                d[3] = (ss2 / n - sm * sm).max(0.0).sqrt();
                if sw > 1e-6 {
                    d[4] = hc / n;
                    d[5] = hs / n;
                }
                for c in 0..3 {
                    d[12 + c] = rgb_sum[c] / n;
                }
                d[15] = d[12] - d[14];
                lum.sort_by(f32::total_cmp);
                let q = |f: f32| lum[((lum.len() - 1) as f32 * f).round() as usize];
                d[16] = q(0.9) - q(0.1);
                d[17] = dark / n;
                d[18] = bright / n;
                d[19] = edges / n;
                d[20] = gsum / n;
                let total: f32 = orient.iter().sum();
                if total > 1e-6 {
                    for b in 0..ORIENT_BINS {
                        d[ORIENT_START + b] = orient[b] / total;
                    }
                }
                row.extend_from_slice(&d);
            }
            row
        })
        .collect();
    Descriptors {
        grid,
        data: rows.concat(),
    }
}

/// Descriptors of a decoded image for `cfg` (resized to `image_size` square, Triangle
/// filter).
pub fn image_descriptors(img: &DynamicImage, cfg: &PatchTowerConfig) -> Descriptors {
    let s = cfg.image_size as u32;
    let rgb = img.resize_exact(s, s, FilterType::Triangle).to_rgb8();
    descriptors_of_rgb(&rgb, cfg.grid)
}

/// Descriptors of an image file (decoding errors name the file), for caching.
pub fn file_descriptors(path: &Path, cfg: &PatchTowerConfig) -> Result<Descriptors> {
    cfg.validate()?;
    let img = crate::imaging::load_image(path)?;
    Ok(image_descriptors(&img, cfg))
}

/// The tower's output.
#[derive(Debug, Clone)]
pub struct PatchTowerOutput {
    /// CLS token after the final LayerNorm, `[B, d]`.
    pub cls: Tensor,
    /// Patch tokens after the final LayerNorm, `[B, G*G, d]`, row-major patches.
    pub grid: Tensor,
}

#[derive(Debug, Clone)]
struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
}

impl Block {
    fn new(cfg: &PatchTowerConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.dim;
        Ok(Block {
            norm1: LayerNorm::new(d, cfg.eps, vb.pp("norm1"))?,
            qkv: linear(d, 3 * d, true, vb.pp("attn.qkv"))?,
            proj: linear(d, d, true, vb.pp("attn.proj"))?,
            norm2: LayerNorm::new(d, cfg.eps, vb.pp("norm2"))?,
            fc1: linear(d, cfg.mlp_dim, true, vb.pp("mlp.fc1"))?,
            fc2: linear(cfg.mlp_dim, d, true, vb.pp("mlp.fc2"))?,
            heads: cfg.heads,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let hd = d / self.heads;
        let h = self.norm1.forward(x, mode)?;
        let qkv = self
            .qkv
            .forward(&h)?
            .reshape((b, t, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = (qkv.get(0)?.contiguous()? * (hd as f64).powf(-0.5))?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let att = softmax(&q.matmul(&k.t()?)?, mode)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        let x = (x + self.proj.forward(&y)?)?;
        let h = self.norm2.forward(&x, mode)?;
        let h = self
            .fc2
            .forward(&Activation::GeluErf.forward(&self.fc1.forward(&h)?)?)?;
        x + h
    }
}

/// The small vision tower.
#[derive(Debug, Clone)]
pub struct PatchTower {
    cfg: PatchTowerConfig,
    embed: Linear,
    cls_token: Tensor,
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
}

impl PatchTower {
    /// Builds the tower from `vb` (new variables start as `N(0, 0.02)` for the CLS token
    /// and position embedding; call [`crate::models::nn::reseed`] on a fresh `VarMap` for
    /// seeded weights).
    pub fn new(cfg: &PatchTowerConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.dim;
        let init = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        Ok(PatchTower {
            cfg: cfg.clone(),
            embed: linear(DESC_DIM, d, true, vb.pp("embed"))?,
            cls_token: vb.get_with_hints((1, 1, d), "cls_token", init)?,
            pos_embed: vb.get_with_hints((1, 1 + cfg.num_patches(), d), "pos_embed", init)?,
            blocks: (0..cfg.layers)
                .map(|i| Block::new(cfg, vb.pp(format!("blocks.{i}"))))
                .collect::<candle_core::Result<_>>()?,
            norm: LayerNorm::new(d, cfg.eps, vb.pp("norm"))?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PatchTowerConfig {
        &self.cfg
    }

    /// Runs the tower on descriptors `[B, G*G, DESC_DIM]` (see [`descriptors_tensor`]).
    pub fn forward(&self, descriptors: &Tensor, mode: Mode) -> Result<PatchTowerOutput> {
        let (b, n, k) = descriptors.dims3()?;
        if n != self.cfg.num_patches() || k != DESC_DIM {
            return Err(Error::Invalid(format!(
                "patch tower: descriptors of shape [{b}, {n}, {k}], expected [B, {}, {DESC_DIM}]",
                self.cfg.num_patches()
            )));
        }
        let d = self.cfg.dim;
        let x = self.embed.forward(&descriptors.to_dtype(DType::F32)?)?;
        let cls = self.cls_token.broadcast_as((b, 1, d))?;
        let mut x = Tensor::cat(&[&cls, &x], 1)?.broadcast_add(&self.pos_embed)?;
        for blk in &self.blocks {
            x = blk.forward(&x, mode)?;
        }
        let x = self.norm.forward(&x, mode)?;
        Ok(PatchTowerOutput {
            cls: x.narrow(1, 0, 1)?.squeeze(1)?,
            grid: x.narrow(1, 1, n)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;
    use rand::SeedableRng;

    fn stripes(vertical: bool) -> DynamicImage {
        let img = image::RgbImage::from_fn(32, 32, |x, y| {
            let on = if vertical { x % 4 < 2 } else { y % 4 < 2 };
            if on {
                image::Rgb([200, 40, 40])
            } else {
                image::Rgb([20, 20, 20])
            }
        });
        DynamicImage::ImageRgb8(img)
    }

    #[test]
    fn descriptors_measure_colour_and_orientation() {
        let cfg = PatchTowerConfig::tiny();
        let v = image_descriptors(&stripes(true), &cfg);
        let h = image_descriptors(&stripes(false), &cfg);
        assert_eq!(v.data.len(), 16 * DESC_DIM);
        let p = v.patch(1, 1);
        // Vertical stripes: gradients point along x, angle 0 -> bin 0 (unsigned).
        assert!(p[ORIENT_START] > 0.9, "{:?}", &p[ORIENT_START..]);
        let q = h.patch(1, 1);
        // Horizontal stripes: angle pi/2 -> bins 3/4.
        assert!(q[ORIENT_START + 3] + q[ORIENT_START + 4] > 0.9);
        // Half the pixels are saturated red: hue histogram mass in the red bin only.
        assert!(p[6] > 0.3 && p[7..12].iter().all(|&x| x < 1e-6), "{p:?}");
        assert!(p[15] > 0.2, "warm: {}", p[15]);
        assert!(p[19] > 0.5, "edge density {}", p[19]);
        // Uniform grey: no saturation, no edges, no orientation.
        let grey = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            32,
            32,
            image::Rgb([128, 128, 128]),
        ));
        let g = image_descriptors(&grey, &cfg);
        let p = g.patch(0, 0);
        assert!((p[0] - 128.0 / 255.0).abs() < 1e-4);
        assert!(p[2] == 0.0 && p[16] == 0.0 && p[19] == 0.0);
        assert!(p[ORIENT_START..].iter().all(|&x| x == 0.0));
        // Deterministic.
        assert_eq!(v, image_descriptors(&stripes(true), &cfg));
    }

    #[test]
    fn flip_and_crop_move_patches_and_mirror_orientation() {
        let g = 3;
        let data: Vec<f32> = (0..g * g * DESC_DIM).map(|i| i as f32).collect();
        let d = Descriptors { grid: g, data };
        let f = d.flip_horizontal();
        assert_eq!(f.patch(0, 0)[0], d.patch(0, 2)[0]);
        assert_eq!(f.patch(0, 0)[ORIENT_START], d.patch(0, 2)[ORIENT_START + 7]);
        assert_eq!(f.flip_horizontal(), d);
        let c = d.crop(1, 1, 2);
        // Side 2 resampled to 3: source cells 1,1,2 along each axis.
        assert_eq!(c.patch(0, 0), d.patch(1, 1));
        assert_eq!(c.patch(2, 2), d.patch(2, 2));
        assert_eq!(d.crop(0, 0, 3), d);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let a = d.augment(&mut rng, 0.6);
        assert_eq!(a.data.len(), d.data.len());
        assert_eq!(d.global().len(), 2 * DESC_DIM);
    }

    #[test]
    fn tower_shapes_and_gradients() {
        let cfg = PatchTowerConfig::tiny();
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let tower = PatchTower::new(&cfg, vb).unwrap();
        crate::models::nn::reseed(&vm, 3).unwrap();
        let a = image_descriptors(&stripes(true), &cfg);
        let b = image_descriptors(&stripes(false), &cfg);
        let x = descriptors_tensor(&[&a, &b], &Device::Cpu).unwrap();
        let out = tower.forward(&x, Mode::Train).unwrap();
        assert_eq!(out.cls.dims(), &[2, 16]);
        assert_eq!(out.grid.dims(), &[2, 16, 16]);
        let inf = tower.forward(&x, Mode::Infer).unwrap();
        let diff = crate::models::tests::max_diff(&inf.grid, &out.grid);
        assert!(diff < 1e-4, "{diff}");
        let loss = (crate::models::tests::random_weighted_sum(&out.grid)
            + crate::models::tests::random_weighted_sum(&out.cls))
        .unwrap();
        let grads = loss.backward().unwrap();
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
        let bad = Tensor::zeros((1, 3, DESC_DIM), DType::F32, &Device::Cpu).unwrap();
        assert!(tower.forward(&bad, Mode::Infer).is_err());
    }
}
