//! The released code's image-text matching (ITM) loss, an option of PACL training
//! ([`super::TrainConfig::itm_weight`]; 0, the default, is the paper, whose losses are
//! L1-L4 only; the "code" preset sets 1, the weight with which `PACL/pretrain_PACL.py`
//! adds it: `loss = weight_clip * total_loss_logits + total_loss_itm`, lines 330-340).
//!
//! What the released code does (`model/PACL.py`, `forward_clip`, lines 146-234), and what
//! this module does with Artemo's towers:
//! - Keys and queries: `text_2_q = Linear(text_dim, hidden)` on the frozen text features,
//!   `image_2_k = Linear(image_dim, hidden)` on the vision backbone's patch features
//!   (lines 66-67, 175-177). Here `itm.text_q` and `itm.image_k` with `hidden =
//!   embed_dim`, on the patch tower's grid `[B, G*G, d]`.
//! - Matching feature: `einsum('btd,bid->bit', q, k)` then a max-pool over the text tokens
//!   `t`, one score per image patch `i` (lines 178-179). The code's text side keeps every
//!   token of SKEP's last layer; Artemo caches one pooled sentence feature per text (the
//!   frozen MiniLM's mean-pooled output, [`super::train::TrainData::text_features`]), so
//!   `t` has one element and the max-pool is the identity. This is the one departure from
//!   the code's construction.
//! - Negatives (lines 181-225): the detached logits' row softmax with the diagonal zeroed;
//!   in the L2 sub-batch multiplied by the factual cluster mask, in the L3 and L4
//!   sub-batches by the emotional one (`use_senti_mask` is checked first), the mask being
//!   0 where two pairs share the pseudo-label (`create_cluster_map`, lines 269-277); one
//!   negative image per text and one negative text per image drawn by `multinomial`,
//!   falling back to the unmasked weights when the masked row is all zero.
//! - Head: `Linear(I, I) - ReLU - Linear(I, 2)` over the `I` patch scores (lines 69-74;
//!   `itm_target = [1, 1, 1, 1]` gives two classes), here `itm.head.0` and `itm.head.2`
//!   with `I = G*G`.
//! - Target: `cat([1] * B, [0] * 2B)` (positive pairs, image negatives, text negatives;
//!   `pretrain_PACL.py` line 171) with cross-entropy (`nn.CrossEntropyLoss`,
//!   `main_PACL.py` line 194), one per sub-batch, following the same progressive schedule
//!   as the contrastive losses (`-loss all`, the default and what `run/0.sh` runs).
//!
//! Everything is composed from differentiable primitives (matmul, index-select, ReLU,
//! max-shifted log-sum-exp), never candle's fused softmax.

use candle_core::{Module, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use rand::Rng;

use super::PaclConfig;
use crate::error::{Error, Result};
use crate::models::nn::linear;

/// Classes of the ITM head (`max(itm_target) + 1` with the code's `[1, 1, 1, 1]`).
pub const ITM_CLASSES: usize = 2;

/// The ITM head's variables (`itm.text_q`, `itm.image_k`, `itm.head.0`, `itm.head.2`).
#[derive(Debug, Clone)]
pub struct ItmHead {
    text_q: Linear,
    image_k: Linear,
    fc1: Linear,
    fc2: Linear,
    patches: usize,
}

impl ItmHead {
    /// A fresh head for a model of `cfg` (its variables under `vb`).
    pub fn new(cfg: &PaclConfig, vb: VarBuilder) -> Result<Self> {
        let patches = cfg.tower.grid * cfg.tower.grid;
        Ok(ItmHead {
            text_q: linear(cfg.text_dim, cfg.embed_dim, true, vb.pp("text_q"))?,
            image_k: linear(cfg.tower.dim, cfg.embed_dim, true, vb.pp("image_k"))?,
            fc1: linear(patches, patches, true, vb.pp("head.0"))?,
            fc2: linear(patches, ITM_CLASSES, true, vb.pp("head.2"))?,
            patches,
        })
    }

    /// ITM logits `[3n, 2]` of `n` pairs: the positives, then each text with its negative
    /// image `neg_image[b]`, then each image with its negative text `neg_text[b]`.
    /// `grid` is the tower's patch grid `[n, G*G, d]`, `text` the frozen text features
    /// `[n, text_dim]`.
    pub fn logits(
        &self,
        grid: &Tensor,
        text: &Tensor,
        neg_image: &[usize],
        neg_text: &[usize],
    ) -> Result<Tensor> {
        let (n, patches, _) = grid.dims3()?;
        if patches != self.patches || text.dim(0)? != n {
            return Err(Error::Invalid(format!(
                "ITM: grid {:?} and text {:?} for a head over {} patches",
                grid.dims(),
                text.dims(),
                self.patches
            )));
        }
        if neg_image.len() != n || neg_text.len() != n {
            return Err(Error::Invalid(format!(
                "ITM: {} negative images and {} negative texts for {n} pairs",
                neg_image.len(),
                neg_text.len()
            )));
        }
        let dev = grid.device();
        let k = self.image_k.forward(grid)?; // [n, I, h]
        let q = self.text_q.forward(text)?; // [n, h]
        let idx = |v: &[usize]| -> Result<Tensor> {
            let v: Vec<u32> = v.iter().map(|&i| i as u32).collect();
            Ok(Tensor::from_vec(v, n, dev)?)
        };
        // One text token: max over t of q_t . k_i is q . k_i.
        let score = |k: &Tensor, q: &Tensor| -> Result<Tensor> {
            Ok(k.matmul(&q.unsqueeze(2)?)?.squeeze(2)?)
        };
        let pos = score(&k, &q)?;
        let neg_i = score(&k.index_select(&idx(neg_image)?, 0)?, &q)?;
        let neg_t = score(&k, &q.index_select(&idx(neg_text)?, 0)?)?;
        let feats = Tensor::cat(&[&pos, &neg_i, &neg_t], 0)?;
        let h = self.fc1.forward(&feats)?.relu()?;
        Ok(self.fc2.forward(&h)?)
    }
}

/// Cross-entropy of `logits` `[3n, 2]` against the code's target (1 for the first `n`
/// rows, 0 for the other `2n`), mean over rows; max-shifted log-sum-exp and a one-hot
/// pick, all composed.
pub fn itm_cross_entropy(logits: &Tensor) -> Result<Tensor> {
    let (rows, classes) = logits.dims2()?;
    if rows % 3 != 0 || classes != ITM_CLASSES {
        return Err(Error::Invalid(format!(
            "ITM: logits {:?}, expected [3n, {ITM_CLASSES}]",
            logits.dims()
        )));
    }
    let n = rows / 3;
    let onehot: Vec<f32> = (0..rows)
        .flat_map(|r| if r < n { [0.0, 1.0] } else { [1.0, 0.0] })
        .collect();
    let onehot = Tensor::from_vec(onehot, (rows, classes), logits.device())?;
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let lse = logits
        .broadcast_sub(&m)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        .add(&m)?
        .squeeze(D::Minus1)?;
    let picked = (logits * onehot)?.sum(D::Minus1)?;
    Ok((lse - picked)?.mean_all()?)
}

/// Draws one index from non-negative `weights` (all zero: `None`).
fn multinomial<R: Rng + ?Sized>(weights: &[f64], rng: &mut R) -> Option<usize> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut u = rng.gen::<f64>() * total;
    let mut last = None;
    for (j, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            last = Some(j);
            if u < w {
                return Some(j);
            }
            u -= w;
        }
    }
    last
}

/// The released code's negatives of a sub-batch of `n` pairs: `logits` row-major
/// `[n][n]` (image x text, already divided by the temperature, detached); `labels` the
/// pseudo-labels of the cluster mask (`None`: no mask, the L1 sub-batch). Returns
/// `(negative image of each text, negative text of each image)`; never the pair itself.
pub fn negatives(
    logits: &[f32],
    n: usize,
    labels: Option<&[usize]>,
    rng: &mut impl Rng,
) -> (Vec<usize>, Vec<usize>) {
    // Row softmax of one anchor's logits over the other side, diagonal zeroed.
    let weights = |anchor: usize, by_row: bool| -> Vec<f64> {
        let x: Vec<f64> = (0..n)
            .map(|j| {
                let v = if by_row {
                    logits[anchor * n + j]
                } else {
                    logits[j * n + anchor]
                };
                v as f64
            })
            .collect();
        let m = x.iter().copied().fold(f64::MIN, f64::max);
        let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
        x.iter()
            .enumerate()
            .map(|(j, v)| if j == anchor { 0.0 } else { (v - m).exp() / s })
            .collect()
    };
    let draw = |anchor: usize, by_row: bool, rng: &mut dyn rand::RngCore| -> usize {
        let orig = weights(anchor, by_row);
        let masked: Vec<f64> = match labels {
            Some(l) => orig
                .iter()
                .enumerate()
                .map(|(j, &w)| if l[j] == l[anchor] { 0.0 } else { w })
                .collect(),
            None => orig.clone(),
        };
        multinomial(&masked, rng)
            .or_else(|| multinomial(&orig, rng))
            .unwrap_or((anchor + 1) % n.max(1))
    };
    // weights_t2i: text b's row of logits_per_text = column b of the image x text logits.
    let neg_image = (0..n).map(|b| draw(b, false, rng)).collect();
    let neg_text = (0..n).map(|b| draw(b, true, rng)).collect();
    (neg_image, neg_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use rand::SeedableRng;

    #[test]
    fn negatives_avoid_the_pair_and_the_masked_cluster() {
        let n = 4;
        let logits: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.3).collect();
        let labels = [0, 0, 1, 1];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let (ni, nt) = negatives(&logits, n, Some(&labels), &mut rng);
            for b in 0..n {
                assert_ne!(ni[b], b);
                assert_ne!(nt[b], b);
                // create_cluster_map (model/PACL.py:269-277): same label -> weight 0.
                assert_ne!(labels[ni[b]], labels[b]);
                assert_ne!(labels[nt[b]], labels[b]);
            }
        }
        // Every pair in one cluster: the masked rows are all zero, so the code falls back
        // to the unmasked weights (model/PACL.py:204-207).
        let (ni, _) = negatives(&logits, n, Some(&[1, 1, 1, 1]), &mut rng);
        assert!(ni.iter().enumerate().all(|(b, &j)| j != b && j < n));
    }

    #[test]
    fn cross_entropy_by_hand() {
        // n = 1: rows [pos, neg_image, neg_text], targets 1, 0, 0.
        let dev = Device::Cpu;
        let l = Tensor::new(&[[0.0f32, 1.0], [2.0, 0.0], [0.0, 0.0]], &dev).unwrap();
        let got = itm_cross_entropy(&l).unwrap().to_scalar::<f32>().unwrap() as f64;
        let ce = |a: f64, b: f64, t: usize| {
            let lse = (a.exp() + b.exp()).ln();
            lse - if t == 0 { a } else { b }
        };
        let want = (ce(0.0, 1.0, 1) + ce(2.0, 0.0, 0) + ce(0.0, 0.0, 0)) / 3.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let bad = Tensor::zeros((4, 2), DType::F32, &dev).unwrap();
        assert!(itm_cross_entropy(&bad).is_err());
    }
}
