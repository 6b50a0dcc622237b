//! EmoSEM's mask losses (the paper's Eq. 5): Dice (Milletari et al. 2016) + sigmoid Focal
//! (Lin et al. 2017), on mask logits `[Q, H, W]` against 0/1 targets of the same size.
//! Every operation has a backward pass (no fused sigmoid or softmax kernels).
//!
//! Conventions (SAM's / DETR's): Dice = 1 - (2 sum(p t) + 1) / (sum p + sum t + 1) per
//! query; Focal with alpha = 0.25, gamma = 2, averaged over pixels per query. Both return
//! one value per query, so callers can average (Single-Mask) or sum over emotions
//! (Multi-Masks).

use candle_core::{Tensor, D};

use crate::error::Result;

/// Focal loss weighting (alpha) of positives.
pub const FOCAL_ALPHA: f64 = 0.25;
/// Focal loss focusing exponent (gamma).
pub const FOCAL_GAMMA: f64 = 2.0;

/// Sigmoid written with differentiable primitives.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((x.neg()?.exp()? + 1.0)?.recip()?)
}

/// Dice loss per query, `[Q]`.
pub fn dice(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let p = sigmoid(logits)?.flatten_from(1)?;
    let t = targets.flatten_from(1)?;
    let num = ((p.mul(&t)?.sum(D::Minus1)? * 2.0)? + 1.0)?;
    let den = ((p.sum(D::Minus1)? + t.sum(D::Minus1)?)? + 1.0)?;
    Ok((1.0 - num.div(&den)?)?)
}

/// Sigmoid focal loss per query (mean over pixels), `[Q]`.
pub fn focal(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let x = logits.flatten_from(1)?;
    let t = targets.flatten_from(1)?;
    // Binary cross-entropy with logits, stable: max(x, 0) - x t + log(1 + exp(-|x|)).
    let ce = ((x.relu()? - x.mul(&t)?)? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    let p = sigmoid(&x)?;
    // p_t = p t + (1 - p)(1 - t); the modulating factor is (1 - p_t)^gamma.
    let one_minus_t = (1.0 - &t)?;
    let p_t = (p.mul(&t)? + (1.0 - &p)?.mul(&one_minus_t)?)?;
    let modulator = (1.0 - p_t)?.powf(FOCAL_GAMMA)?;
    let alpha = ((&t * FOCAL_ALPHA)? + (one_minus_t * (1.0 - FOCAL_ALPHA))?)?;
    Ok(ce.mul(&modulator)?.mul(&alpha)?.mean(D::Minus1)?)
}

/// Dice + Focal per query, `[Q]`.
pub fn mask_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok((dice(logits, targets)? + focal(logits, targets)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn losses_match_hand_values_and_reward_correct_masks() {
        let dev = Device::Cpu;
        let t = Tensor::new(&[[[1f32, 0.0], [0.0, 0.0]]], &dev).unwrap();
        let zero = Tensor::zeros((1, 2, 2), candle_core::DType::F32, &dev).unwrap();
        // p = 0.5 everywhere: dice = 1 - (2*0.5 + 1) / (2 + 1 + 1) = 0.5.
        let d = dice(&zero, &t).unwrap().to_vec1::<f32>().unwrap()[0];
        assert!((d - 0.5).abs() < 1e-6, "{d}");
        // Focal at p = 0.5: ce = ln 2, modulator 0.25; alpha 0.25 (1 pixel) / 0.75 (3).
        let f = focal(&zero, &t).unwrap().to_vec1::<f32>().unwrap()[0];
        let want = (2f32.ln() * 0.25 * (0.25 + 3.0 * 0.75)) / 4.0;
        assert!((f - want).abs() < 1e-6, "{f} vs {want}");
        let good = ((t.clone() * 20.0).unwrap() - 10.0).unwrap();
        let bad = good.neg().unwrap();
        let lg = mask_loss(&good, &t).unwrap().to_vec1::<f32>().unwrap()[0];
        let lb = mask_loss(&bad, &t).unwrap().to_vec1::<f32>().unwrap()[0];
        assert!(lg < 0.01 && lb > 0.9, "{lg} {lb}");
        // Large logits stay finite.
        let big = (t.clone() * 1e4).unwrap();
        assert!(focal(&big.neg().unwrap(), &t)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
            .is_finite());
    }
}
