//! PACL's adaptive contrastive losses L1-L4 (Eq. 3-14 of the paper), on one sub-batch.
//!
//! Notation: `S[i][j] = z_i^v . z_j^t` (image `i`, text `j`, features already
//! L2-normalised by the model), `f` the factual (image) pseudo-labels and `e` the
//! emotional (text) pseudo-labels of the sub-batch. Every loss is Eq. 3 averaged over the
//! anchors `i` of the sub-batch:
//!
//! `-1/2 log( sum_{p+(v_i)} exp(S[i][j]/tau) / sum_{p+(v_i) u p-(v_i)} exp(S[i][j]/tau) )
//!  -1/2 log( sum_{p+(t_i)} exp(S[j][i]/tau) / sum_{p+(t_i) u p-(t_i)} exp(S[j][i]/tau) )`.
//!
//! The false-negative maps (computed on the detached similarities, as the released code
//! does inside each sub-batch):
//! - Eq. 6 `m_f(t_i) = { v_j | f_j = f_l }` with `l = argmax_k S[k][i]`; Eq. 7
//!   `m_f^-1(v_i) = { t_j | v_i in m_f(t_j) }`. Both are the boolean matrix
//!   `MF[j][i] = (v_j in m_f(t_i))` read by column or by row.
//! - Eq. 9 `m_e(v_i) = { t_j | e_j = e_l }` with `l = argmax_k S[i][k]`; Eq. 10
//!   `m_e^-1(t_i) = { v_j | t_i in m_e(v_j) }`: the matrix `ME[i][j] = (t_j in m_e(v_i))`.
//!
//! | loss | partition | `p+(v_i)` | `p-(v_i)`: `j != i` and ... | `p+(t_i)` | `p-(t_i)`: `j != i` and ... |
//! |---|---|---|---|---|---|
//! | L1 (Eq. 5)  | strong | `{i}` | all | `{i}` | all |
//! | L2 (Eq. 8)  | emotional-matched, factual-mismatched | `{i}` | `t_j not in m_f^-1(v_i)` | `{i}` | `v_j not in m_f(t_i)` |
//! | L3 (Eq. 11) | factual-matched, emotional-mismatched | `{i}` | `t_j not in m_e(v_i)` | `{i}` | `v_j not in m_e^-1(t_i)` |
//! | L4 (Eq. 14) | weak | `{argmax_k S[i][k]}` | `t_j not in m_f^-1(v_i) u m_e(v_i)` | `{argmax_k S[k][i]}` | `v_j not in m_f(t_i) u m_e^-1(t_i)` |
//!
//! Eq. 11 as printed reads `p+(v_i) = p-(t_i) = {i}`, a typo for `p+(t_i)` (the text of
//! Section 3.3.3 says positives are built as for strong samples). Excluded logits are
//! masked by adding a large negative number before the log-sum-exp (the released code adds
//! `-inf`; `-1e9` gives the same values after `exp` and keeps gradients finite).

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which of the four losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossKind {
    /// Strong-coupled samples (Eq. 5).
    L1,
    /// Emotional-matched, factual-mismatched samples (Eq. 8).
    L2,
    /// Factual-matched, emotional-mismatched samples (Eq. 11).
    L3,
    /// Weak-coupled samples (Eq. 14).
    L4,
}

const MASKED: f32 = -1e9;

/// Positive and denominator sets of a sub-batch of `n` pairs, as row-major `n x n`
/// booleans: `pos_v[i*n + j]` is true when text `j` is a positive of image `i`;
/// `den_v[i*n + j]` when it is in `p+(v_i) u p-(v_i)`; `pos_t[i*n + j]` / `den_t[i*n + j]`
/// the same for text `i` and image `j`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSets {
    /// Sub-batch size.
    pub n: usize,
    /// Positives of each image anchor.
    pub pos_v: Vec<bool>,
    /// Positives and negatives of each image anchor.
    pub den_v: Vec<bool>,
    /// Positives of each text anchor.
    pub pos_t: Vec<bool>,
    /// Positives and negatives of each text anchor.
    pub den_t: Vec<bool>,
}

/// `MF[j*n + i] = (v_j in m_f(t_i))` (Eq. 6) from similarities `s` (row-major, image x text).
pub fn factual_map(s: &[f32], n: usize, f: &[usize]) -> Vec<bool> {
    let mut mf = vec![false; n * n];
    for i in 0..n {
        let l = (0..n)
            .max_by(|&a, &b| s[a * n + i].total_cmp(&s[b * n + i]).then(b.cmp(&a)))
            .unwrap_or(0);
        for j in 0..n {
            mf[j * n + i] = f[j] == f[l];
        }
    }
    mf
}

/// `ME[i*n + j] = (t_j in m_e(v_i))` (Eq. 9).
pub fn emotional_map(s: &[f32], n: usize, e: &[usize]) -> Vec<bool> {
    let mut me = vec![false; n * n];
    for i in 0..n {
        let l = (0..n)
            .max_by(|&a, &b| s[i * n + a].total_cmp(&s[i * n + b]).then(b.cmp(&a)))
            .unwrap_or(0);
        for j in 0..n {
            me[i * n + j] = e[j] == e[l];
        }
    }
    me
}

/// The positive and negative sets of `kind` for similarities `s` (`n x n`, image x text)
/// and pseudo-labels `f` (images) and `e` (texts).
pub fn pair_sets(kind: LossKind, s: &[f32], n: usize, f: &[usize], e: &[usize]) -> PairSets {
    let mf = factual_map(s, n, f);
    let me = emotional_map(s, n, e);
    let mut sets = PairSets {
        n,
        pos_v: vec![false; n * n],
        den_v: vec![false; n * n],
        pos_t: vec![false; n * n],
        den_t: vec![false; n * n],
    };
    let argmax_row = |i: usize| {
        (0..n)
            .max_by(|&a, &b| s[i * n + a].total_cmp(&s[i * n + b]).then(b.cmp(&a)))
            .unwrap_or(i)
    };
    let argmax_col = |i: usize| {
        (0..n)
            .max_by(|&a, &b| s[a * n + i].total_cmp(&s[b * n + i]).then(b.cmp(&a)))
            .unwrap_or(i)
    };
    for i in 0..n {
        let (pv, pt) = match kind {
            LossKind::L4 => (argmax_row(i), argmax_col(i)),
            _ => (i, i),
        };
        sets.pos_v[i * n + pv] = true;
        sets.pos_t[i * n + pt] = true;
        for j in 0..n {
            // Image anchor i against text j: excluded when t_j is a possible false negative.
            let excl_v = match kind {
                LossKind::L1 => false,
                LossKind::L2 => mf[i * n + j], // t_j in m_f^-1(v_i)
                LossKind::L3 => me[i * n + j], // t_j in m_e(v_i)
                LossKind::L4 => mf[i * n + j] || me[i * n + j], // union
            };
            // Text anchor i against image j.
            let excl_t = match kind {
                LossKind::L1 => false,
                LossKind::L2 => mf[j * n + i], // v_j in m_f(t_i)
                LossKind::L3 => me[j * n + i], // v_j in m_e^-1(t_i)
                LossKind::L4 => mf[j * n + i] || me[j * n + i], // union
            };
            sets.den_v[i * n + j] = (j != i && !excl_v) || j == pv;
            sets.den_t[i * n + j] = (j != i && !excl_t) || j == pt;
        }
    }
    sets
}

fn additive(mask: &[bool], n: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let v: Vec<f32> = mask.iter().map(|&m| if m { 0.0 } else { MASKED }).collect();
    Ok(Tensor::from_vec(v, (n, n), dev)?)
}

fn masked_lse(logits: &Tensor, add: &Tensor) -> Result<Tensor> {
    let x = (logits + add)?;
    let m = x.max_keepdim(D::Minus1)?.detach();
    Ok(x.broadcast_sub(&m)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        .add(&m)?
        .squeeze(D::Minus1)?)
}

/// Which anchors a loss averages over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    /// The paper (Eq. 3): both directions, each weighted 1/2.
    #[default]
    Symmetric,
    /// The released code (`PACL/pretrain_PACL.py` lines 168-293): one direction per loss,
    /// unhalved: L1 image anchors (`loss_nce(image_logits, ...)`, line 179), L2 text
    /// anchors (`text_logits`, line 227), L3 and L4 image anchors (lines 260, 292).
    Code,
}

impl Directions {
    /// The anchors `kind` uses: `(image anchors, text anchors)` weights.
    pub fn weights(self, kind: LossKind) -> (f64, f64) {
        match (self, kind) {
            (Directions::Symmetric, _) => (0.5, 0.5),
            (Directions::Code, LossKind::L2) => (0.0, 1.0),
            (Directions::Code, _) => (1.0, 0.0),
        }
    }
}

/// Eq. 3 averaged over the anchors, for logits `[n, n]` (image x text, already divided
/// by the temperature) and the sets.
pub fn contrastive_loss(logits: &Tensor, sets: &PairSets) -> Result<Tensor> {
    contrastive_loss_weighted(logits, sets, (0.5, 0.5))
}

/// [`contrastive_loss`] with the image-anchor and text-anchor terms weighted `w.0` and
/// `w.1` (a zero weight leaves its direction out).
pub fn contrastive_loss_weighted(
    logits: &Tensor,
    sets: &PairSets,
    w: (f64, f64),
) -> Result<Tensor> {
    let n = sets.n;
    if logits.dims() != [n, n] {
        return Err(Error::Invalid(format!(
            "PACL loss: logits {:?} for a sub-batch of {n}",
            logits.dims()
        )));
    }
    let dev = logits.device();
    let mut total: Option<Tensor> = None;
    if w.0 != 0.0 {
        let v = (masked_lse(logits, &additive(&sets.den_v, n, dev)?)?
            - masked_lse(logits, &additive(&sets.pos_v, n, dev)?)?)?;
        total = Some((v.mean_all()? * w.0)?);
    }
    if w.1 != 0.0 {
        let lt = logits.t()?.contiguous()?;
        let t = (masked_lse(&lt, &additive(&sets.den_t, n, dev)?)?
            - masked_lse(&lt, &additive(&sets.pos_t, n, dev)?)?)?;
        let t = (t.mean_all()? * w.1)?;
        total = Some(match total {
            Some(v) => (v + t)?,
            None => t,
        });
    }
    match total {
        Some(t) => Ok(t),
        None => Ok(logits.zeros_like()?.sum_all()?),
    }
}

/// The loss `kind` of a sub-batch: `zv` `[n, e]` image features and `zt` `[n, e]` text
/// features (L2-normalised by the caller), pseudo-labels `f` and `e`, temperature `tau`.
pub fn pacl_loss(
    kind: LossKind,
    zv: &Tensor,
    zt: &Tensor,
    f: &[usize],
    e: &[usize],
    tau: f64,
) -> Result<Tensor> {
    pacl_loss_directed(kind, zv, zt, f, e, tau, Directions::Symmetric)
}

/// [`pacl_loss`] over the anchors `dir` names (the paper's both directions, or the
/// released code's one).
pub fn pacl_loss_directed(
    kind: LossKind,
    zv: &Tensor,
    zt: &Tensor,
    f: &[usize],
    e: &[usize],
    tau: f64,
    dir: Directions,
) -> Result<Tensor> {
    let n = zv.dim(0)?;
    if zt.dim(0)? != n || f.len() != n || e.len() != n {
        return Err(Error::Invalid(format!(
            "PACL loss: {n} images, {} texts, {} factual and {} emotional labels",
            zt.dim(0)?,
            f.len(),
            e.len()
        )));
    }
    let sim = zv.matmul(&zt.t()?)?;
    let s: Vec<f32> = sim.detach().flatten_all()?.to_vec1()?;
    let sets = pair_sets(kind, &s, n, f, e);
    contrastive_loss_weighted(&(sim / tau)?, &sets, dir.weights(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    // Similarities S[i][j] (image i, text j) of the hand-worked case.
    const S: [[f32; 4]; 4] = [
        [1.0, 0.2, 0.0, 0.5],
        [0.3, 0.8, 0.1, 0.0],
        [0.0, 0.6, 0.4, 0.9],
        [0.2, 0.0, 0.7, 0.1],
    ];
    const F: [usize; 4] = [0, 0, 1, 1];
    const E: [usize; 4] = [0, 1, 0, 1];

    /// -log(sum exp(pos) / sum exp(den)) with tau = 1.
    fn nll(pos: &[f64], den: &[f64]) -> f64 {
        let p: f64 = pos.iter().map(|x| x.exp()).sum();
        let d: f64 = den.iter().map(|x| x.exp()).sum();
        -(p / d).ln()
    }

    fn loss(kind: LossKind) -> f64 {
        // zv = identity, zt = S^T, so zv . zt^T = S exactly.
        let dev = Device::Cpu;
        let zv = Tensor::eye(4, candle_core::DType::F32, &dev).unwrap();
        let zt = Tensor::new(&S, &dev)
            .unwrap()
            .t()
            .unwrap()
            .contiguous()
            .unwrap();
        pacl_loss(kind, &zv, &zt, &F, &E, 1.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    }

    /// Mean over the 4 anchors of (image term + text term) / 2.
    fn mean_half(v: [f64; 4], t: [f64; 4]) -> f64 {
        (0..4).map(|i| 0.5 * v[i] + 0.5 * t[i]).sum::<f64>() / 4.0
    }

    #[test]
    fn maps_follow_eq_6_and_9() {
        let s: Vec<f32> = S.iter().flatten().copied().collect();
        // Column argmax: t0 -> v0, t1 -> v1, t2 -> v3, t3 -> v2; f = [0,0,1,1]
        // m_f(t0) = m_f(t1) = {v0, v1}, m_f(t2) = m_f(t3) = {v2, v3}.
        let mf = factual_map(&s, 4, &F);
        let col = |i: usize| (0..4).filter(|&j| mf[j * 4 + i]).collect::<Vec<_>>();
        assert_eq!(
            [col(0), col(1), col(2), col(3)],
            [vec![0, 1], vec![0, 1], vec![2, 3], vec![2, 3]]
        );
        // Row argmax: v0 -> t0, v1 -> t1, v2 -> t3, v3 -> t2; e = [0,1,0,1]
        // m_e(v0) = {t0, t2}, m_e(v1) = {t1, t3}, m_e(v2) = {t1, t3}, m_e(v3) = {t0, t2}.
        let me = emotional_map(&s, 4, &E);
        let row = |i: usize| (0..4).filter(|&j| me[i * 4 + j]).collect::<Vec<_>>();
        assert_eq!(
            [row(0), row(1), row(2), row(3)],
            [vec![0, 2], vec![1, 3], vec![1, 3], vec![0, 2]]
        );
    }

    #[test]
    fn l1_by_hand() {
        // Plain symmetric InfoNCE: each row / column against all.
        let v = [
            nll(&[1.0], &[1.0, 0.2, 0.0, 0.5]),
            nll(&[0.8], &[0.3, 0.8, 0.1, 0.0]),
            nll(&[0.4], &[0.0, 0.6, 0.4, 0.9]),
            nll(&[0.1], &[0.2, 0.0, 0.7, 0.1]),
        ];
        let t = [
            nll(&[1.0], &[1.0, 0.3, 0.0, 0.2]),
            nll(&[0.8], &[0.2, 0.8, 0.6, 0.0]),
            nll(&[0.4], &[0.0, 0.1, 0.4, 0.7]),
            nll(&[0.1], &[0.5, 0.0, 0.9, 0.1]),
        ];
        let want = mean_half(v, t);
        assert!((loss(LossKind::L1) - want).abs() < 1e-5, "{want}");
        // With tau = 0.07 the logits are S / 0.07.
        let dev = Device::Cpu;
        let zv = Tensor::eye(4, candle_core::DType::F32, &dev).unwrap();
        let zt = Tensor::new(&S, &dev)
            .unwrap()
            .t()
            .unwrap()
            .contiguous()
            .unwrap();
        let got = pacl_loss(LossKind::L1, &zv, &zt, &F, &E, 0.07)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let sc = |x: &[f64]| x.iter().map(|v| v / 0.07).collect::<Vec<_>>();
        let v0 = nll(&sc(&[1.0]), &sc(&[1.0, 0.2, 0.0, 0.5]));
        let t3 = nll(&sc(&[0.1]), &sc(&[0.5, 0.0, 0.9, 0.1]));
        assert!(got > 0.0 && v0 < 0.01 && t3 > 10.0);
    }

    #[test]
    fn l2_by_hand() {
        // Image anchor v_i drops texts in m_f^-1(v_i): v0, v1 -> {t0, t1}; v2, v3 -> {t2, t3}.
        // v0: negatives {t2, t3}; v1: {t2, t3}; v2: {t0, t1}; v3: {t0, t1}.
        let v = [
            nll(&[1.0], &[1.0, 0.0, 0.5]),
            nll(&[0.8], &[0.8, 0.1, 0.0]),
            nll(&[0.4], &[0.4, 0.0, 0.6]),
            nll(&[0.1], &[0.1, 0.2, 0.0]),
        ];
        // Text anchor t_i drops images in m_f(t_i): t0, t1 -> {v0, v1}; t2, t3 -> {v2, v3}.
        // t0: negatives {v2, v3} = column 0 values 0.0, 0.2; t1: {v2, v3} = 0.6, 0.0;
        // t2: {v0, v1} = 0.0, 0.1; t3: {v0, v1} = 0.5, 0.0.
        let t = [
            nll(&[1.0], &[1.0, 0.0, 0.2]),
            nll(&[0.8], &[0.8, 0.6, 0.0]),
            nll(&[0.4], &[0.4, 0.0, 0.1]),
            nll(&[0.1], &[0.1, 0.5, 0.0]),
        ];
        let want = mean_half(v, t);
        assert!((loss(LossKind::L2) - want).abs() < 1e-5, "{want}");
    }

    #[test]
    fn l3_by_hand() {
        // Image anchor v_i drops texts in m_e(v_i): v0 {t0,t2}, v1 {t1,t3}, v2 {t1,t3}, v3 {t0,t2}.
        // v0: negatives {t1, t3}; v1: {t0, t2}; v2: {t0}; v3: {t1}.
        let v = [
            nll(&[1.0], &[1.0, 0.2, 0.5]),
            nll(&[0.8], &[0.8, 0.3, 0.1]),
            nll(&[0.4], &[0.4, 0.0]),
            nll(&[0.1], &[0.1, 0.0]),
        ];
        // Text anchor t_i drops images in m_e^-1(t_i): t0 {v0,v3}, t1 {v1,v2}, t2 {v0,v3}, t3 {v1,v2}.
        // t0: negatives {v1, v2} = 0.3, 0.0; t1: {v0, v3} = 0.2, 0.0; t2: {v1} = 0.1; t3: {v0} = 0.5.
        let t = [
            nll(&[1.0], &[1.0, 0.3, 0.0]),
            nll(&[0.8], &[0.8, 0.2, 0.0]),
            nll(&[0.4], &[0.4, 0.1]),
            nll(&[0.1], &[0.1, 0.5]),
        ];
        let want = mean_half(v, t);
        assert!((loss(LossKind::L3) - want).abs() < 1e-5, "{want}");
    }

    #[test]
    fn l4_by_hand() {
        // Positives by argmax: v0 -> t0, v1 -> t1, v2 -> t3, v3 -> t2 (rows);
        // t0 -> v0, t1 -> v1, t2 -> v3, t3 -> v2 (columns).
        // Image anchor excludes m_f^-1(v_i) u m_e(v_i): v0 {t0,t1,t2}, v1 {t0,t1,t3},
        // v2 {t1,t2,t3}, v3 {t0,t2,t3}; negatives (j != i): v0 {t3}, v1 {t2}, v2 {t0}, v3 {t1}.
        let v = [
            nll(&[1.0], &[1.0, 0.5]),
            nll(&[0.8], &[0.8, 0.1]),
            nll(&[0.9], &[0.9, 0.0]),
            nll(&[0.7], &[0.7, 0.0]),
        ];
        // Text anchor excludes m_f(t_i) u m_e^-1(t_i): t0 {v0,v1,v3}, t1 {v0,v1,v2},
        // t2 {v0,v2,v3}, t3 {v1,v2,v3}; negatives: t0 {v2}, t1 {v3}, t2 {v1}, t3 {v0}.
        let t = [
            nll(&[1.0], &[1.0, 0.0]),
            nll(&[0.8], &[0.8, 0.0]),
            nll(&[0.7], &[0.7, 0.1]),
            nll(&[0.9], &[0.9, 0.5]),
        ];
        let want = mean_half(v, t);
        assert!((loss(LossKind::L4) - want).abs() < 1e-5, "{want}");
    }

    #[test]
    fn code_directions_take_one_side() {
        // pretrain_PACL.py: L1 image_logits (line 179), L2 text_logits (227), L3 and L4
        // image_logits (260, 292), each a full cross-entropy (no 1/2).
        let dev = Device::Cpu;
        let zv = Tensor::eye(4, candle_core::DType::F32, &dev).unwrap();
        let zt = Tensor::new(&S, &dev)
            .unwrap()
            .t()
            .unwrap()
            .contiguous()
            .unwrap();
        // L1 image anchors alone, by hand: -log softmax of each row at the diagonal.
        let want: f64 = (0..4)
            .map(|i| {
                let row: Vec<f64> = S[i].iter().map(|&x| x as f64).collect();
                nll(&[row[i]], &row)
            })
            .sum::<f64>()
            / 4.0;
        let got = |kind, dir| {
            pacl_loss_directed(kind, &zv, &zt, &F, &E, 1.0, dir)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        assert!((got(LossKind::L1, Directions::Code) - want).abs() < 1e-5);
        // L2 text anchors alone, by hand: t_i drops images in m_f(t_i) (see l2_by_hand).
        let sets = pair_sets(LossKind::L2, &S.concat(), 4, &F, &E);
        let logits = Tensor::new(&S, &dev).unwrap();
        let t_only = contrastive_loss_weighted(&logits, &sets, (0.0, 1.0)).unwrap();
        let v_only = contrastive_loss_weighted(&logits, &sets, (1.0, 0.0)).unwrap();
        let t_only = t_only.to_scalar::<f32>().unwrap() as f64;
        let v_only = v_only.to_scalar::<f32>().unwrap() as f64;
        assert!((got(LossKind::L2, Directions::Code) - t_only).abs() < 1e-6);
        let sym = got(LossKind::L2, Directions::Symmetric);
        assert!((sym - 0.5 * (t_only + v_only)).abs() < 1e-6);
        assert!((t_only - v_only).abs() > 1e-3);
    }

    #[test]
    fn losses_have_gradients() {
        let dev = Device::Cpu;
        let zv = candle_core::Var::from_tensor(&Tensor::new(&S, &dev).unwrap()).unwrap();
        let zt = Tensor::eye(4, candle_core::DType::F32, &dev).unwrap();
        for kind in [LossKind::L1, LossKind::L2, LossKind::L3, LossKind::L4] {
            let l = pacl_loss(kind, zv.as_tensor(), &zt, &F, &E, 0.07).unwrap();
            let g = l.backward().unwrap();
            let g = g.get(zv.as_tensor()).unwrap();
            let s = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(s.is_finite() && s > 0.0, "{kind:?}: {s}");
        }
    }
}
