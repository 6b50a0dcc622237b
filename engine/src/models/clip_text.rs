//! CLIP's text tower (Radford et al. 2021), matching Hugging Face `CLIPTextModel` +
//! `text_projection` for `openai/clip-vit-base-patch16` and `openai/clip-vit-base-patch32`
//! (both use the same 12-layer, 512-wide, 8-head text transformer).
//!
//! Key layout (as `CLIPModel`, `CLIPTextModelWithProjection` save it):
//! `text_model.embeddings.{token_embedding, position_embedding}.weight`,
//! `text_model.encoder.layers.{i}.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2,
//! layer_norm2}.*`, `text_model.final_layer_norm.*`, `text_projection.weight`; `logit_scale`
//! is read by [`logit_scale`]. Vision tensors of a full checkpoint are ignored.
//!
//! Causal self-attention, optionally combined with a padding mask (`attention_mask`, as
//! HF); `last_hidden_state` is after `final_layer_norm` (as HF). Pooling follows HF exactly:
//! with `eos_token_id == 2` in the config (OpenAI's converted checkpoints carry this legacy
//! value) the pooled token is the argmax of the ids (the first `<|endoftext|>`, 49407, the
//! largest id of the original vocabulary); otherwise it is the first position holding
//! `eos_token_id` (position 0 when a row has none, as HF's `argmax` gives).
//! `text_embeds = text_projection(pooled)`, not normalised (HF `get_text_features`).
//!
//! Parity: `tests/fixtures/parity/clip/` (`tools/parity/clip.py`: a tiny random `CLIPModel`,
//! vocabulary 512 so that the fixture stays small, `eos_token_id` 511, rows padded with
//! `<eos>` as HF `CLIPTokenizer` pads): `last_hidden_state` with and without the padding
//! mask, pooled output and `text_embeds` within 1e-4 of PyTorch. Tokenizer: see
//! [`crate::models::clip_tokenizer`].

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::clip_vision::{
    check_dims, check_tensors, checkpoint_file, config_path, encoder_tensors, sub_config,
    ClipEncoder, EncoderDims,
};
use crate::models::loading::Weights;
use crate::models::nn::{linear, Activation, LayerNorm, Mode};

/// Hugging Face `CLIPTextConfig` (defaults: transformers' `CLIPTextConfig()`, the
/// `openai/clip-vit-base-patch32` architecture with the corrected `eos_token_id` 49407).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipTextConfig {
    /// Vocabulary size (49,408).
    pub vocab_size: usize,
    /// Width of the transformer (512).
    pub hidden_size: usize,
    /// Width of the MLP (2048).
    pub intermediate_size: usize,
    /// Output size of `text_projection` (512); for a `CLIPConfig` the top-level
    /// `projection_dim` wins, as in HF `CLIPModel`.
    pub projection_dim: usize,
    /// Number of transformer layers (12).
    pub num_hidden_layers: usize,
    /// Number of attention heads (8).
    pub num_attention_heads: usize,
    /// Longest input (77).
    pub max_position_embeddings: usize,
    /// Activation (`quick_gelu`).
    pub hidden_act: String,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// End-of-text id used for pooling; the legacy value 2 selects argmax pooling.
    pub eos_token_id: u32,
}

impl Default for ClipTextConfig {
    fn default() -> Self {
        ClipTextConfig {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            projection_dim: 512,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

impl ClipTextConfig {
    /// The text tower of `openai/clip-vit-base-patch16` and `-patch32`, as their
    /// `config.json` states it (`eos_token_id` 2: argmax pooling).
    pub fn openai_vit_b() -> Self {
        ClipTextConfig {
            eos_token_id: 2,
            ..Self::default()
        }
    }

    /// Parses a `config.json`: a `CLIPConfig` (its `text_config`, or `text_config_dict` when
    /// present, as HF reads old files) or a `CLIPTextConfig`.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let sub = sub_config(path, "text_config", "clip_text_model")?;
        let cfg: Self = serde_json::from_value(sub)
            .map_err(|e| Error::at(path, "`text_config`", e.to_string()))?;
        cfg.validate()
            .map_err(|m| Error::at(path, "`text_config`", m))?;
        Ok(cfg)
    }

    fn activation(&self) -> std::result::Result<Activation, String> {
        Activation::from_hf(&self.hidden_act)
            .ok_or_else(|| format!("unsupported `hidden_act` {:?}", self.hidden_act))
    }

    fn validate(&self) -> std::result::Result<(), String> {
        check_dims(self.hidden_size, self.num_attention_heads)?;
        if self.vocab_size == 0 || self.max_position_embeddings == 0 {
            return Err("`vocab_size` and `max_position_embeddings` must be positive".into());
        }
        self.activation().map(|_| ())
    }

    /// Every tensor the text tower needs, in load order, with its shape.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let d = self.hidden_size;
        let mut v = vec![
            (
                "text_model.embeddings.token_embedding.weight".to_string(),
                vec![self.vocab_size, d],
            ),
            (
                "text_model.embeddings.position_embedding.weight".to_string(),
                vec![self.max_position_embeddings, d],
            ),
        ];
        v.extend(encoder_tensors(
            "text_model.encoder",
            d,
            self.intermediate_size,
            self.num_hidden_layers,
        ));
        v.push(("text_model.final_layer_norm.weight".to_string(), vec![d]));
        v.push(("text_model.final_layer_norm.bias".to_string(), vec![d]));
        v.push((
            "text_projection.weight".to_string(),
            vec![self.projection_dim, d],
        ));
        v
    }

    /// The position pooled in each row of `ids`, as HF `CLIPTextTransformer` picks it.
    pub fn pool_positions(&self, ids: &[Vec<u32>]) -> Vec<usize> {
        ids.iter()
            .map(|row| {
                if self.eos_token_id == 2 {
                    // First maximum, as torch.argmax.
                    let mut best = 0;
                    for (i, &x) in row.iter().enumerate() {
                        if x > row[best] {
                            best = i;
                        }
                    }
                    best
                } else {
                    row.iter()
                        .position(|&x| x == self.eos_token_id)
                        .unwrap_or(0)
                }
            })
            .collect()
    }
}

/// Outputs of [`ClipText::forward`].
#[derive(Debug, Clone)]
pub struct ClipTextOutput {
    /// After `final_layer_norm`, `[B, L, D]` (HF `last_hidden_state`).
    pub last_hidden_state: Tensor,
    /// The end-of-text token's state, `[B, D]` (HF `pooler_output`).
    pub pooled: Tensor,
    /// `text_projection(pooled)`, `[B, P]`, not normalised (HF `get_text_features`).
    pub text_embeds: Tensor,
}

/// CLIP's text transformer with its projection.
#[derive(Debug, Clone)]
pub struct ClipText {
    cfg: ClipTextConfig,
    token_embedding: Tensor,
    position_embedding: Tensor,
    encoder: ClipEncoder,
    final_layer_norm: LayerNorm,
    text_projection: Linear,
}

impl ClipText {
    /// Builds the tower from `vb` rooted at the checkpoint root (keys `text_model.*`,
    /// `text_projection.weight`); a `VarMap`-backed builder creates trainable variables.
    pub fn new(cfg: &ClipTextConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        let act = cfg.activation().map_err(Error::Invalid)?;
        let d = cfg.hidden_size;
        let tm = vb.pp("text_model");
        let emb = tm.pp("embeddings");
        let randn = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        Ok(ClipText {
            token_embedding: emb.pp("token_embedding").get_with_hints(
                (cfg.vocab_size, d),
                "weight",
                randn,
            )?,
            position_embedding: emb.pp("position_embedding").get_with_hints(
                (cfg.max_position_embeddings, d),
                "weight",
                randn,
            )?,
            encoder: ClipEncoder::new(
                EncoderDims {
                    hidden: d,
                    intermediate: cfg.intermediate_size,
                    layers: cfg.num_hidden_layers,
                    heads: cfg.num_attention_heads,
                    eps: cfg.layer_norm_eps,
                    act,
                },
                tm.pp("encoder"),
            )?,
            final_layer_norm: LayerNorm::new(d, cfg.layer_norm_eps, tm.pp("final_layer_norm"))?,
            text_projection: linear(d, cfg.projection_dim, false, vb.pp("text_projection"))?,
            cfg: cfg.clone(),
        })
    }

    /// Loads a checkpoint (file, folder or sharded index) with the `config.json` beside it.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let cfg = ClipTextConfig::from_json_file(&config_path(path)?)?;
        Self::load_with_config(path, &cfg, device)
    }

    /// Loads a checkpoint with an explicit configuration (e.g. a preset).
    pub fn load_with_config(path: &Path, cfg: &ClipTextConfig, device: &Device) -> Result<Self> {
        let w = Weights::load(path, device)?;
        Self::from_weights(cfg, &w, device)
    }

    /// Builds the tower from loaded weights; a missing or misshapen tensor is an error naming
    /// the checkpoint file, the tensor and the expected shape.
    pub fn from_weights(cfg: &ClipTextConfig, weights: &Weights, device: &Device) -> Result<Self> {
        cfg.validate()
            .map_err(|m| Error::at(weights.source(), "CLIP text configuration", m))?;
        check_tensors(weights, &cfg.expected_tensors(), "text_model.", "text")?;
        Self::new(cfg, weights.var_builder(device))
            .map_err(|e| Error::at(checkpoint_file(weights), "CLIP text tower", e.to_string()))
    }

    /// The configuration.
    pub fn config(&self) -> &ClipTextConfig {
        &self.cfg
    }

    /// Runs the tower on token ids `[B, L]` (u32 or i64, L <= `max_position_embeddings`)
    /// with an optional padding mask `[B, L]` (1 = token, 0 = padding; any dtype).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<ClipTextOutput> {
        let cfg = &self.cfg;
        let (b, l) = input_ids.dims2()?;
        if l == 0 || l > cfg.max_position_embeddings {
            return Err(Error::Invalid(format!(
                "CLIP text: {l} tokens per row, the model takes 1 to {}",
                cfg.max_position_embeddings
            )));
        }
        let ids = input_ids.to_dtype(DType::U32)?;
        let rows = ids.to_vec2::<u32>()?;
        if let Some((r, &x)) = rows.iter().enumerate().find_map(|(r, row)| {
            row.iter()
                .find(|&&x| x as usize >= cfg.vocab_size)
                .map(|x| (r, x))
        }) {
            return Err(Error::Invalid(format!(
                "CLIP text: token id {x} in row {r} is outside the vocabulary of {}",
                cfg.vocab_size
            )));
        }
        let device = input_ids.device();
        let d = cfg.hidden_size;
        let tokens = self
            .token_embedding
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, l, d))?;
        let x = tokens.broadcast_add(&self.position_embedding.narrow(0, 0, l)?.unsqueeze(0)?)?;
        let mask = self.attention_bias(b, l, attention_mask, device)?;
        let x = self.encoder.forward(&x, Some(&mask), mode)?;
        let last_hidden_state = self.final_layer_norm.forward(&x, mode)?;
        let flat: Vec<u32> = cfg
            .pool_positions(&rows)
            .iter()
            .enumerate()
            .map(|(r, &p)| (r * l + p) as u32)
            .collect();
        let flat = Tensor::from_vec(flat, b, device)?;
        let pooled = last_hidden_state
            .reshape((b * l, d))?
            .index_select(&flat, 0)?;
        let text_embeds = self.text_projection.forward(&pooled)?;
        Ok(ClipTextOutput {
            last_hidden_state,
            pooled,
            text_embeds,
        })
    }

    /// Additive bias `[B or 1, 1, L, L]`: 0 where key `j` is visible from query `i`
    /// (`j <= i` and not padding), the lowest f32 elsewhere (HF uses `finfo.min` likewise).
    fn attention_bias(
        &self,
        b: usize,
        l: usize,
        attention_mask: Option<&Tensor>,
        device: &Device,
    ) -> Result<Tensor> {
        let keep: Option<Vec<Vec<f32>>> = match attention_mask {
            None => None,
            Some(m) => {
                if m.dims() != [b, l] {
                    return Err(Error::Invalid(format!(
                        "CLIP text: attention mask of shape {:?}, expected [{b}, {l}]",
                        m.dims()
                    )));
                }
                Some(m.to_dtype(DType::F32)?.to_vec2::<f32>()?)
            }
        };
        let rows = keep.as_ref().map_or(1, Vec::len);
        let mut bias = vec![0f32; rows * l * l];
        for r in 0..rows {
            for i in 0..l {
                for j in 0..l {
                    let visible = j <= i && keep.as_ref().is_none_or(|k| k[r][j] != 0.0);
                    if !visible {
                        bias[(r * l + i) * l + j] = f32::MIN;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(bias, (rows, 1, l, l), device)?)
    }
}

/// `logit_scale` of a `CLIPModel` checkpoint (the log of CLIP's temperature; 100 =
/// exp(4.6052) for OpenAI's checkpoints).
pub fn logit_scale(weights: &Weights) -> Result<f32> {
    let t = weights.get_any("logit_scale")?;
    let values = t.flatten_all()?.to_vec1::<f32>()?;
    values.first().copied().ok_or_else(|| {
        Error::at(
            checkpoint_file(weights),
            "tensor `logit_scale`",
            "empty tensor",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::clip_tokenizer::{ClipTokenizer, Padding};
    use crate::models::clip_vision::tests::{fixture_dir, io, max_diff};
    use candle_nn::VarMap;

    /// Reference: HF `CLIPModel` (transformers 5.23.0, torch 2.15.0, eager attention),
    /// `tools/parity/clip.py`: `text_model(input_ids, attention_mask)` (and without the mask),
    /// `text_projection(pooler_output)`. Measured max abs diffs (both modes): last_hidden_state
    /// 2.1e-6, pooled 1.1e-6, text_embeds 9.5e-7.
    #[test]
    fn text_matches_pytorch() {
        let io = io();
        let m = ClipText::load(&fixture_dir(), &crate::models::tests::device()).unwrap();
        assert_eq!(m.config().eos_token_id, 511);
        assert_eq!(m.config().projection_dim, 16);
        let ids = &io["input_ids"];
        let mask = &io["attention_mask"];
        for mode in [Mode::Infer, Mode::Train] {
            let out = m.forward(ids, Some(mask), mode).unwrap();
            for (got, key) in [
                (&out.last_hidden_state, "text_last_hidden_state"),
                (&out.pooled, "text_pooled"),
                (&out.text_embeds, "text_embeds"),
            ] {
                let d = max_diff(got, &io[key]);
                println!("{key} ({mode:?}): max abs diff {d:e}");
                assert!(
                    d <= crate::models::tests::tolerance(1e-4),
                    "{key} ({mode:?}): max abs diff {d}"
                );
            }
            let out = m.forward(ids, None, mode).unwrap();
            let d = max_diff(&out.last_hidden_state, &io["text_last_hidden_state_nomask"]);
            assert!(
                d <= crate::models::tests::tolerance(1e-4),
                "last_hidden_state without mask ({mode:?}): {d}"
            );
            assert!(
                max_diff(&out.text_embeds, &io["text_embeds"])
                    <= crate::models::tests::tolerance(1e-4)
            );
        }
        // The legacy `eos_token_id` 2 (argmax pooling) picks the same tokens here: the eos id
        // 511 is the largest id.
        let legacy = ClipText::load_with_config(
            &fixture_dir(),
            &ClipTextConfig {
                eos_token_id: 2,
                ..m.config().clone()
            },
            &Device::Cpu,
        )
        .unwrap();
        let out = legacy.forward(ids, Some(mask), Mode::Infer).unwrap();
        assert!(
            max_diff(&out.text_embeds, &io["text_embeds"]) <= crate::models::tests::tolerance(1e-4)
        );
        let w = Weights::load(&fixture_dir(), &Device::Cpu).unwrap();
        let want = io["logit_scale"].to_vec1::<f32>().unwrap()[0];
        assert!((logit_scale(&w).unwrap() - want).abs() < 1e-6);
    }

    #[test]
    fn pooling_positions_follow_hf() {
        let rows = vec![
            vec![49406, 320, 49407, 49407],
            vec![49406, 320, 1125, 49407],
        ];
        assert_eq!(ClipTextConfig::openai_vit_b().pool_positions(&rows), [2, 3]);
        assert_eq!(ClipTextConfig::default().pool_positions(&rows), [2, 3]);
        // New tokens above 49407: only the eos-id rule finds the end of text.
        let rows = vec![vec![49406, 49410, 49407]];
        assert_eq!(ClipTextConfig::openai_vit_b().pool_positions(&rows), [1]);
        assert_eq!(ClipTextConfig::default().pool_positions(&rows), [2]);
        assert_eq!(ClipTextConfig::default().pool_positions(&[vec![5, 6]]), [0]);
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        let cfg = ClipTextConfig {
            vocab_size: 50,
            hidden_size: 16,
            intermediate_size: 24,
            projection_dim: 8,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            max_position_embeddings: 6,
            eos_token_id: 49,
            ..ClipTextConfig::default()
        };
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let m = ClipText::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        assert_eq!(vm.all_vars().len(), cfg.expected_tensors().len());
        let ids = Tensor::new(&[[48u32, 3, 7, 49, 49, 49], [48, 1, 2, 3, 4, 49]], &dev).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], &dev).unwrap();
        let out = m.forward(&ids, Some(&mask), Mode::Train).unwrap();
        let wsum = crate::models::tests::random_weighted_sum;
        let loss = (wsum(&out.last_hidden_state) + wsum(&out.text_embeds)).unwrap();
        let grads = loss.backward().unwrap();
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
    }

    #[test]
    fn configs_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"model_type": "clip", "projection_dim": 512, "text_config_dict": null,
                "text_config": {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "hidden_size": 512,
                  "intermediate_size": 2048, "max_position_embeddings": 77, "num_attention_heads": 8,
                  "num_hidden_layers": 12, "vocab_size": 49408, "hidden_act": "quick_gelu",
                  "model_type": "clip_text_model", "label2id": {"LABEL_0": 0}},
                "vision_config": {"patch_size": 16}}"#,
        )
        .unwrap();
        assert_eq!(
            ClipTextConfig::from_json_file(&p).unwrap(),
            ClipTextConfig::openai_vit_b()
        );
        std::fs::write(
            &p,
            r#"{"model_type": "clip_text_model", "projection_dim": 512}"#,
        )
        .unwrap();
        assert_eq!(
            ClipTextConfig::from_json_file(&p).unwrap(),
            ClipTextConfig::default()
        );

        // A vision-only checkpoint is refused, naming the file and the first text tensor.
        let full = Weights::load(&fixture_dir(), &Device::Cpu).unwrap();
        let vision: std::collections::HashMap<String, Tensor> = full
            .names()
            .into_iter()
            .filter(|n| n.starts_with("vision_model.") || n.starts_with("visual_projection"))
            .map(|n| (n.to_string(), full.get_any(n).unwrap().clone()))
            .collect();
        let f = d.path().join("vision_only.safetensors");
        crate::models::loading::save_safetensors(&f, &vision).unwrap();
        let cfg = ClipTextConfig::from_json_file(&fixture_dir().join("config.json")).unwrap();
        let e = ClipText::load_with_config(&f, &cfg, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vision_only.safetensors"), "{e}");
        assert!(
            e.contains("`text_model.embeddings.token_embedding.weight`")
                && e.contains("expected shape [512, 32]")
                && e.contains("no CLIP text tower"),
            "{e}"
        );
        let m = ClipText::load(&fixture_dir(), &Device::Cpu).unwrap();
        let e = m
            .forward(
                &Tensor::new(&[[1u32, 600]], &Device::Cpu).unwrap(),
                None,
                Mode::Infer,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("600"), "{e}");
        let e = m
            .forward(
                &Tensor::zeros((1, 17), DType::U32, &Device::Cpu).unwrap(),
                None,
                Mode::Infer,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("17 tokens"), "{e}");
    }

    /// The tokenizer's batch feeds the model directly (shapes and dtypes line up).
    #[test]
    fn tokenizer_batch_feeds_the_model() {
        let t =
            ClipTokenizer::from_assets(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets"))
                .unwrap();
        let b = t
            .batch(
                &["a photo of a cat", "a dog"],
                Padding::Longest,
                &Device::Cpu,
            )
            .unwrap();
        let cfg = ClipTextConfig {
            hidden_size: 16,
            intermediate_size: 16,
            projection_dim: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            ..ClipTextConfig::openai_vit_b()
        };
        let vm = VarMap::new();
        let m =
            ClipText::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
        let out = m
            .forward(&b.input_ids, Some(&b.attention_mask), Mode::Infer)
            .unwrap();
        assert_eq!(out.text_embeds.dims(), [2, 8]);
        // Padding never changes the embedding: the row alone gives the same result.
        let alone = t.batch(&["a dog"], Padding::Longest, &Device::Cpu).unwrap();
        let one = m.forward(&alone.input_ids, None, Mode::Infer).unwrap();
        let row = out.text_embeds.narrow(0, 1, 1).unwrap();
        assert!(max_diff(&row, &one.text_embeds) < 1e-5);
    }
}
