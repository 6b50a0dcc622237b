//! Attention weights in one pass: `softmax(scores * scale + mask)` over the last dimension.
//!
//! Candle computes this as three ops: the scaling and the mask add run on one thread
//! (`binary_map`, no rayon) and materialise a full copy each; only the softmax is parallel.
//! On MiniLM's batch of 100 sentences these elementwise passes were 17 % of the forward
//! (issue 22, `docs/speed.md`, "Where the time goes"). Here the fresh score tensor is
//! scaled, masked and normalised in place, one row per task on rayon's threads, reading the
//! mask through its broadcast strides (no copy).
//!
//! For inference on CPU f32 tensors only; [`Mode::Train`] and other devices compose candle's
//! ops (the tests below check both paths agree).

use candle_core::{CpuStorage, Layout, Result, Tensor};
use rayon::prelude::*;

use crate::models::nn::{softmax, Mode};
use crate::models::vmath;

/// `softmax(scores * scale + mask)` over the last dimension; `mask` broadcasts to
/// `scores` (additive, `-inf` or a large negative number where masked). `scores` should be
/// the caller's own fresh tensor (a matmul's output): the fused path writes into it.
pub fn attention_softmax(
    scores: Tensor,
    scale: f64,
    mask: Option<&Tensor>,
    mode: Mode,
) -> Result<Tensor> {
    let fused = mode == Mode::Infer
        && crate::models::epilogue::applies(&[&scores])
        && mask.is_none_or(|m| crate::models::epilogue::applies(&[m]))
        && scores.is_contiguous();
    if !fused {
        let s = if scale == 1.0 {
            scores
        } else {
            (scores * scale)?
        };
        let s = match mask {
            Some(m) => s.broadcast_add(m)?,
            None => s,
        };
        return softmax(&s, mode);
    }
    let op = ScaleMaskSoftmax {
        scale: scale as f32,
    };
    match mask {
        Some(m) => {
            let m = m.broadcast_as(scores.shape())?;
            scores.inplace_op2(&m, &op)?;
        }
        None => {
            // A zero mask of stride 0 everywhere: one element, no copy.
            let zero =
                Tensor::zeros(1, scores.dtype(), scores.device())?.broadcast_as(scores.shape())?;
            scores.inplace_op2(&zero, &op)?;
        }
    }
    Ok(scores)
}

/// The in-place kernel of [`attention_softmax`].
struct ScaleMaskSoftmax {
    scale: f32,
}

impl candle_core::InplaceOp2 for ScaleMaskSoftmax {
    fn name(&self) -> &'static str {
        "scale-mask-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (CpuStorage::F32(dst), Some((a, b))) = (s1, l1.contiguous_offsets()) else {
            candle_core::bail!("scale-mask-softmax: the scores must be a contiguous f32 tensor")
        };
        let CpuStorage::F32(mask) = s2 else {
            candle_core::bail!("scale-mask-softmax: the mask must be f32")
        };
        let dims = l1.dims();
        let (Some(&n), true) = (dims.last(), l2.dims() == dims) else {
            candle_core::bail!(
                "scale-mask-softmax: mask {:?} for scores {:?}",
                l2.dims(),
                dims
            )
        };
        if n == 0 {
            return Ok(());
        }
        let strides = l2.stride();
        let last = strides[strides.len() - 1];
        let lead_dims = &dims[..dims.len() - 1];
        let lead_strides = &strides[..strides.len() - 1];
        let start = l2.start_offset();
        // The largest element the mask's layout can address must exist.
        let reach = start
            + lead_dims
                .iter()
                .zip(lead_strides)
                .map(|(d, s)| d.saturating_sub(1) * s)
                .sum::<usize>()
            + (n - 1) * last;
        if reach >= mask.len() {
            candle_core::bail!("scale-mask-softmax: the mask's layout reaches past its storage");
        }
        let scale = self.scale;
        dst[a..b]
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(row, d)| {
                // The mask row's offset: the row index in the leading dimensions, through
                // the mask's (possibly zero) strides.
                let mut rest = row;
                let mut off = start;
                for (dim, stride) in lead_dims.iter().zip(lead_strides).rev() {
                    off += (rest % dim) * stride;
                    rest /= dim;
                }
                if last == 1 {
                    for (v, &m) in d.iter_mut().zip(&mask[off..off + n]) {
                        *v = *v * scale + m;
                    }
                } else {
                    for (i, v) in d.iter_mut().enumerate() {
                        *v = *v * scale + mask[off + i * last];
                    }
                }
                softmax_row(d, true);
            });
        Ok(())
    }
}

/// Lanes of the vectorisable reductions below.
const LANES: usize = 8;

/// The largest element (exact in any order, so eight independent lanes).
fn max_lanes(d: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = d.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max(v);
        }
    }
    tail.iter()
        .chain(acc.iter())
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

/// The sum in eight lanes: not the sequential sum's rounding, so only where no padding can
/// change a row ([`softmax_row`]'s `sequential`).
fn sum_lanes(d: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = d.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Normalises one row of logits in place. `sequential`: sum the row in order, as candle
/// does, so that masked positions (zeros after the exp) at the end of a padded row leave it
/// bit for bit as without padding, and a painting's or sentence's result does not depend on
/// its batch; otherwise (rows that are never padded) in eight lanes, four times fewer
/// dependent additions.
fn softmax_row(d: &mut [f32], sequential: bool) {
    let max = max_lanes(d);
    if max == f32::NEG_INFINITY {
        // Every position masked: PyTorch and candle give NaN; so do we.
        d.iter_mut().for_each(|v| *v = f32::NAN);
        return;
    }
    for v in d.iter_mut() {
        *v = vmath::exp(*v - max);
    }
    let sum = if sequential {
        d.iter().sum::<f32>()
    } else {
        sum_lanes(d)
    };
    let inv = 1.0 / sum;
    d.iter_mut().for_each(|v| *v *= inv);
}

/// SAM's attention weights with decomposed relative positions (`add_decomposed_rel_pos` of
/// `segment_anything/modeling/image_encoder.py`): `softmax(scores * scale + rel_h[.., y] +
/// rel_w[.., x])` over the keys `y * kw + x`. `scores` is `[G, N, kh * kw]` (the caller's
/// fresh matmul output), `rel_h` `[G, N, kh]`, `rel_w` `[G, N, kw]`. On CPU f32 tensors
/// without gradients it is one pass in place (candle-transformers adds the two terms into a
/// new copy of the scores and then runs the softmax over it); otherwise candle's ops.
pub fn rel_pos_softmax(
    scores: Tensor,
    scale: f64,
    rel_h: &Tensor,
    rel_w: &Tensor,
) -> Result<Tensor> {
    let (g, n, keys) = scores.dims3()?;
    let (kh, kw) = (rel_h.dim(2)?, rel_w.dim(2)?);
    if kh * kw != keys || rel_h.dims() != [g, n, kh] || rel_w.dims() != [g, n, kw] {
        candle_core::bail!(
            "rel-pos-softmax: scores {:?}, rel_h {:?}, rel_w {:?}",
            scores.dims(),
            rel_h.dims(),
            rel_w.dims()
        )
    }
    let fused =
        crate::models::epilogue::applies(&[&scores, rel_h, rel_w]) && scores.is_contiguous();
    if !fused {
        let bias = rel_h
            .unsqueeze(3)?
            .broadcast_add(&rel_w.unsqueeze(2)?)?
            .reshape((g, n, keys))?;
        return softmax(&((scores * scale)? + bias)?, Mode::Train);
    }
    scores.inplace_op3(
        &rel_h.contiguous()?,
        &rel_w.contiguous()?,
        &RelPosSoftmax {
            scale: scale as f32,
            kh,
            kw,
        },
    )?;
    Ok(scores)
}

/// The in-place kernel of [`rel_pos_softmax`].
struct RelPosSoftmax {
    scale: f32,
    kh: usize,
    kw: usize,
}

impl candle_core::InplaceOp3 for RelPosSoftmax {
    fn name(&self) -> &'static str {
        "rel-pos-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (CpuStorage::F32(dst), CpuStorage::F32(rh), CpuStorage::F32(rw)) = (s1, s2, s3) else {
            candle_core::bail!("rel-pos-softmax: f32 tensors are needed")
        };
        let (Some((a, b)), Some((ha, hb)), Some((wa, wb))) = (
            l1.contiguous_offsets(),
            l2.contiguous_offsets(),
            l3.contiguous_offsets(),
        ) else {
            candle_core::bail!("rel-pos-softmax: contiguous tensors are needed")
        };
        let (kh, kw, scale) = (self.kh, self.kw, self.scale);
        let rows = (b - a) / (kh * kw).max(1);
        if kh * kw == 0 || hb - ha != rows * kh || wb - wa != rows * kw {
            candle_core::bail!("rel-pos-softmax: the sizes of the three tensors disagree")
        }
        let (rh, rw) = (&rh[ha..hb], &rw[wa..wb]);
        dst[a..b]
            .par_chunks_mut(kh * kw)
            .zip(rh.par_chunks(kh))
            .zip(rw.par_chunks(kw))
            .for_each(|((d, rh), rw)| {
                for (seg, &h) in d.chunks_mut(kw).zip(rh) {
                    for (v, &w) in seg.iter_mut().zip(rw) {
                        *v = *v * scale + h + w;
                    }
                }
                // SAM's rows are never padded (every key is a real patch).
                softmax_row(d, false);
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn composed(s: &Tensor, scale: f64, mask: Option<&Tensor>) -> Tensor {
        attention_softmax(s.copy().unwrap(), scale, mask, Mode::Train).unwrap()
    }

    #[test]
    fn fused_equals_composed_for_the_models_mask_shapes() {
        let dev = Device::Cpu;
        let s = Tensor::randn(0f32, 3.0, (3, 4, 5, 7), &dev).unwrap();
        let neg = |shape: &[usize]| {
            // Additive masks with some positions masked by a large negative number.
            let m = Tensor::randn(0f32, 1.0, shape, &dev).unwrap();
            let keep = m
                .ge(-0.8)
                .unwrap()
                .to_dtype(candle_core::DType::F32)
                .unwrap();
            ((keep - 1.0).unwrap() * 1e9).unwrap()
        };
        // BERT's key padding [B, 1, 1, S], CLIP text's causal [B, 1, T, S], TinyViT's
        // position bias [H, T, S] (no batch), one row of one, and no mask.
        let masks = [
            Some(neg(&[3, 1, 1, 7])),
            Some(neg(&[3, 1, 5, 7])),
            Some(Tensor::randn(0f32, 1.0, (4, 5, 7), &dev).unwrap()),
            Some(Tensor::randn(0f32, 1.0, 1, &dev).unwrap()),
            None,
        ];
        for m in masks.iter() {
            for scale in [1.0, 0.125] {
                let want = composed(&s, scale, m.as_ref());
                let got =
                    attention_softmax(s.copy().unwrap(), scale, m.as_ref(), Mode::Infer).unwrap();
                let diff = crate::models::tests::max_diff(&got, &want);
                assert!(
                    diff < 1e-6,
                    "{:?} {scale}: {diff}",
                    m.as_ref().map(|m| m.dims().to_vec())
                );
            }
        }
    }

    #[test]
    fn padding_a_row_with_masked_positions_changes_nothing() {
        // Batch invariance: a sequence alone and padded to a longer batch (key padding
        // masked) get the same weights bit for bit on their real positions.
        let dev = Device::Cpu;
        let alone = Tensor::randn(0f32, 3.0, (1, 2, 13, 13), &dev).unwrap();
        let padded = alone.pad_with_zeros(3, 0, 11).unwrap();
        let mut m = vec![0f32; 24];
        m[13..].iter_mut().for_each(|v| *v = -1e9);
        let mask = Tensor::from_vec(m, (1, 1, 1, 24), &dev).unwrap();
        let a = attention_softmax(alone, 0.3, None, Mode::Infer).unwrap();
        let p = attention_softmax(padded.contiguous().unwrap(), 0.3, Some(&mask), Mode::Infer)
            .unwrap()
            .narrow(3, 0, 13)
            .unwrap();
        assert_eq!(crate::models::tests::max_diff(&a, &p), 0.0);
    }

    #[test]
    fn rel_pos_softmax_equals_composed_ops() {
        // Reference: `add_decomposed_rel_pos` (segment_anything/modeling/image_encoder.py),
        // attn.view(B, q_h, q_w, k_h, k_w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :].
        let dev = Device::Cpu;
        let (g, n, kh, kw) = (3, 6, 2, 3);
        let s = Tensor::randn(0f32, 3.0, (g, n, kh * kw), &dev).unwrap();
        let rh = Tensor::randn(0f32, 1.0, (g, n, kh), &dev).unwrap();
        let rw = Tensor::randn(0f32, 1.0, (g, n, kw), &dev).unwrap();
        let bias = rh
            .unsqueeze(3)
            .unwrap()
            .broadcast_add(&rw.unsqueeze(2).unwrap())
            .unwrap()
            .reshape((g, n, kh * kw))
            .unwrap();
        let want = composed(&s, 0.25, Some(&bias));
        let got = rel_pos_softmax(s.copy().unwrap(), 0.25, &rh, &rw).unwrap();
        assert!(crate::models::tests::max_diff(&got, &want) < 1e-6);
        // Misshapen terms are an error, not a panic.
        let short = rh.narrow(1, 0, n - 1).unwrap();
        assert!(rel_pos_softmax(s.copy().unwrap(), 0.25, &short, &rw).is_err());
    }

    #[test]
    fn a_non_contiguous_mask_view_is_read_through_its_strides() {
        let dev = Device::Cpu;
        let s = Tensor::randn(0f32, 1.0, (2, 3, 4), &dev).unwrap();
        let m = Tensor::randn(0f32, 1.0, (4, 3), &dev).unwrap().t().unwrap();
        assert!(!m.is_contiguous());
        let want = composed(&s, 0.5, Some(&m));
        let got = attention_softmax(s.copy().unwrap(), 0.5, Some(&m), Mode::Infer).unwrap();
        assert!(crate::models::tests::max_diff(&got, &want) < 1e-6);
    }
}
