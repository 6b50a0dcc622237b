//! SEVLM's VAD emotion encoder: a tiny bidirectional transformer over per-token
//! valence-arousal-dominance vectors (Zhang et al., "SEVLM", arXiv:2403.11150).
//!
//! Matches `models/vad_encoder.py` of the reference code (BetterZH/SEVLM-code), whose
//! state dict is saved as `emo_encoder_state_dict` in `ckpt_stats_<epoch>.tar`:
//!
//! | key | shape |
//! |---|---|
//! | `pos_encoder.weight` | `[max_positions, 3]` |
//! | `norm.{weight,bias}` | `[3]` |
//! | `encoder.layers.<i>.self_attention.{query,key,value}.{weight,bias}` | `[3, 3]`, `[3]` |
//! | `encoder.layers.<i>.fc.0.{weight,bias}` | `[ff, 3]`, `[ff]` |
//! | `encoder.layers.<i>.fc.2.{weight,bias}` | `[3, ff]`, `[3]` |
//! | `encoder.layers.<i>.norm{1,2}.{weight,bias}` | `[3]` |
//! | `decoder.{weight,bias}` | `[1, 3]`, `[1]` (unused by SEVLM's forward, kept for loading) |
//!
//! Forward, as the reference: `x = norm(vad + pos)`; each layer computes
//! `y = norm1(x + attn(x)); y = norm2(y + fc(y))` and the encoder adds another residual,
//! `x = x + y`. No attention mask (every position sees every other, padding included).
//! Dropout as the reference's `dropout=0.1` (`models/vad_encoder.py:9`, `:35-43`,
//! `:107`: attention probabilities, the attention output and the feed-forward output) when
//! a caller sets it ([`VadEncoder::set_dropout`]), in [`Mode::Train`] only.

use candle_core::{Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::models::gpt2::Dropout;
use crate::models::nn::{linear, softmax, LayerNorm, Mode};

/// Shape of the VAD encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VadEncoderConfig {
    /// Width (3: valence, arousal, dominance).
    pub d_model: usize,
    /// Transformer layers (SEVLM: 3).
    pub layers: usize,
    /// Attention heads (SEVLM: 1).
    pub heads: usize,
    /// Feed-forward width (SEVLM: 128).
    pub feed_forward: usize,
    /// Learned positions (the reference allocates 5000).
    pub max_positions: usize,
}

impl Default for VadEncoderConfig {
    fn default() -> Self {
        VadEncoderConfig {
            d_model: 3,
            layers: 3,
            heads: 1,
            feed_forward: 128,
            max_positions: 5000,
        }
    }
}

#[derive(Debug, Clone)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    fc0: Linear,
    fc2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
}

/// The VAD encoder.
#[derive(Debug, Clone)]
pub struct VadEncoder {
    pos: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    cfg: VadEncoderConfig,
    dropout: Dropout,
}

impl VadEncoder {
    /// Builds the encoder from `vb` (keys as in the table above).
    pub fn new(cfg: &VadEncoderConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.d_model;
        let pos = candle_nn::embedding(cfg.max_positions, d, vb.pp("pos_encoder"))?;
        let norm = LayerNorm::new(d, 1e-5, vb.pp("norm"))?;
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let l = vb.pp("encoder").pp("layers").pp(i);
            let a = l.pp("self_attention");
            layers.push(Layer {
                query: linear(d, d, true, a.pp("query"))?,
                key: linear(d, d, true, a.pp("key"))?,
                value: linear(d, d, true, a.pp("value"))?,
                fc0: linear(d, cfg.feed_forward, true, l.pp("fc").pp("0"))?,
                fc2: linear(cfg.feed_forward, d, true, l.pp("fc").pp("2"))?,
                norm1: LayerNorm::new(d, 1e-5, l.pp("norm1"))?,
                norm2: LayerNorm::new(d, 1e-5, l.pp("norm2"))?,
            });
        }
        // The reference's unused `decoder` head exists in its checkpoints.
        let _ = linear(d, 1, true, vb.pp("decoder"))?;
        Ok(VadEncoder {
            pos,
            norm,
            layers,
            cfg: cfg.clone(),
            dropout: Dropout::default(),
        })
    }

    /// Uses `dropout` (shared) in training mode.
    pub fn set_dropout(&mut self, dropout: Dropout) {
        self.dropout = dropout;
    }

    /// Encodes per-token VAD vectors [B, T, 3] into [B, T, 3].
    pub fn forward(&self, vad: &Tensor, mode: Mode) -> Result<Tensor> {
        let (b, t, d) = vad.dims3()?;
        if t > self.cfg.max_positions {
            return Err(crate::Error::Invalid(format!(
                "VAD encoder: {t} tokens exceed its {} positions",
                self.cfg.max_positions
            )));
        }
        let heads = self.cfg.heads.max(1);
        let hd = d / heads;
        let pos = Tensor::arange(0u32, t as u32, vad.device())?;
        let mut x = vad.broadcast_add(&self.pos.forward(&pos)?.unsqueeze(0)?)?;
        x = self.norm.forward(&x, mode)?;
        let split = |y: Tensor| -> candle_core::Result<Tensor> {
            y.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous()
        };
        for l in &self.layers {
            let q = split(l.query.forward(&x)?)?;
            let k = split(l.key.forward(&x)?)?;
            let v = split(l.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
            let p = self.dropout.apply(&softmax(&scores, mode)?, mode)?;
            let a = p.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
            let a = self.dropout.apply(&a, mode)?;
            let y = l.norm1.forward(&(&x + a)?, mode)?;
            let f = l.fc2.forward(&l.fc0.forward(&y)?.relu()?)?;
            let f = self.dropout.apply(&f, mode)?;
            let y = l.norm2.forward(&(&y + f)?, mode)?;
            x = (x + y)?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::tests::random_weighted_sum;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn bidirectional_and_trainable() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let cfg = VadEncoderConfig {
            max_positions: 16,
            ..Default::default()
        };
        let enc = VadEncoder::new(&cfg, vb).unwrap();
        // Seeded weights: unseeded ones made the fused/composed comparison flaky.
        crate::models::nn::reseed(&vm, 7).unwrap();
        // Fixed inputs (VAD-like values in -1..1): random rows of 3 values can have a
        // near-zero variance, where layer norm amplifies rounding differences.
        let vals: Vec<f32> = (0..30)
            .map(|i| ((i * 37 % 17) as f32 / 8.0) - 1.0)
            .collect();
        let x = Tensor::from_vec(vals, (2, 5, 3), &dev).unwrap();
        let y = enc.forward(&x, Mode::Train).unwrap();
        assert_eq!(y.dims(), &[2, 5, 3]);
        // Fused and composed paths agree.
        let yi = enc.forward(&x, Mode::Infer).unwrap();
        assert!(crate::models::tests::max_diff(&y, &yi) < 1e-4);
        // Bidirectional: changing the last token changes the first output.
        let mut v = x.to_vec3::<f32>().unwrap();
        v[0][4] = vec![5.0, -5.0, 5.0];
        let x2 = Tensor::new(v, &dev).unwrap();
        let y2 = enc.forward(&x2, Mode::Infer).unwrap();
        let d0 = (y2.get(0).unwrap().get(0).unwrap() - yi.get(0).unwrap().get(0).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d0 > 1e-6);
        let grads = random_weighted_sum(&y).backward().unwrap();
        // The reference's unused `decoder` head gets no gradient by design.
        let data = vm.data().lock().unwrap();
        for (name, var) in data.iter() {
            let has = grads.get(var.as_tensor()).is_some();
            assert_eq!(has, !name.starts_with("decoder."), "{name}");
        }
    }
}
