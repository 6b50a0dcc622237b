//! CLIP's vision tower (Radford et al. 2021, "Learning Transferable Visual Models From
//! Natural Language Supervision"), matching Hugging Face `CLIPVisionModel` +
//! `visual_projection` for `openai/clip-vit-base-patch16` and `openai/clip-vit-base-patch32`.
//!
//! Key layout (as `CLIPModel`, `CLIPVisionModelWithProjection` save it):
//! `vision_model.embeddings.{class_embedding, patch_embedding.weight,
//! position_embedding.weight}`, `vision_model.pre_layrnorm.*` (HF's spelling),
//! `vision_model.encoder.layers.{i}.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1,
//! mlp.fc2, layer_norm2}.*`, `vision_model.post_layernorm.*`, `visual_projection.weight`.
//! The text tower's and `logit_scale` tensors of a full `CLIPModel` checkpoint are ignored.
//!
//! Outputs: `last_hidden_state` exactly as HF (no post layer norm); `cls` = HF
//! `pooler_output` (post layer norm of the CLS token); `grid` = post layer norm applied to
//! every grid token, as SEVLM's reference code does (HF applies it to CLS only);
//! `image_embeds` = `visual_projection(cls)`, as HF `get_image_features` (not normalised).
//!
//! Parity: `tests/fixtures/parity/clip/` (`tools/parity/clip.py`, a tiny random `CLIPModel`
//! saved with `save_pretrained`, transformers 5.23.0 / torch 2.15.0): every output within
//! 1e-4 of PyTorch (measured max abs differences are in the test comments).
//!
//! Training: [`Mode::Train`] uses composed layer norm and softmax (candle has no backward
//! through the fused kernels); the patch embedding is a reshape + matmul (the same as the
//! stride-`patch` convolution), so every parameter receives a gradient (tested).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{read_text, Error, Result};
use crate::models::attn_softmax::attention_softmax;
use crate::models::loading::Weights;
use crate::models::nn::{dense, linear, Activation, Dense, LayerNorm, Mode};

/// Hugging Face `CLIPVisionConfig` (defaults: `openai/clip-vit-base-patch32`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipVisionConfig {
    /// Width of the transformer (768 for ViT-B).
    pub hidden_size: usize,
    /// Width of the MLP (3072 for ViT-B).
    pub intermediate_size: usize,
    /// Output size of `visual_projection` (512 for ViT-B); for a `CLIPConfig` the top-level
    /// `projection_dim` wins, as in HF `CLIPModel`.
    pub projection_dim: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Input channels (3).
    pub num_channels: usize,
    /// Input side in pixels (224).
    pub image_size: usize,
    /// Patch side in pixels (16 or 32).
    pub patch_size: usize,
    /// Activation (`quick_gelu` for OpenAI's checkpoints).
    pub hidden_act: String,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

impl Default for ClipVisionConfig {
    fn default() -> Self {
        Self::vit_b_32()
    }
}

impl ClipVisionConfig {
    /// `openai/clip-vit-base-patch32`.
    pub fn vit_b_32() -> Self {
        ClipVisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            projection_dim: 512,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }

    /// `openai/clip-vit-base-patch16`.
    pub fn vit_b_16() -> Self {
        ClipVisionConfig {
            patch_size: 16,
            ..Self::vit_b_32()
        }
    }

    /// Parses a `config.json`: a `CLIPConfig` (its `vision_config`, or `vision_config_dict`
    /// when present, as HF reads old files) or a `CLIPVisionConfig`.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let sub = sub_config(path, "vision_config", "clip_vision_model")?;
        let cfg: Self = serde_json::from_value(sub)
            .map_err(|e| Error::at(path, "`vision_config`", e.to_string()))?;
        cfg.validate()
            .map_err(|m| Error::at(path, "`vision_config`", m))?;
        Ok(cfg)
    }

    /// Patches per side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Grid tokens (patches), without CLS.
    pub fn num_patches(&self) -> usize {
        self.grid_size() * self.grid_size()
    }

    fn activation(&self) -> std::result::Result<Activation, String> {
        Activation::from_hf(&self.hidden_act)
            .ok_or_else(|| format!("unsupported `hidden_act` {:?}", self.hidden_act))
    }

    fn validate(&self) -> std::result::Result<(), String> {
        check_dims(self.hidden_size, self.num_attention_heads)?;
        if self.patch_size == 0
            || !self.image_size.is_multiple_of(self.patch_size)
            || self.image_size == 0
        {
            return Err(format!(
                "`image_size` {} is not a positive multiple of `patch_size` {}",
                self.image_size, self.patch_size
            ));
        }
        self.activation().map(|_| ())
    }

    /// Every tensor the vision tower needs, in load order, with its shape.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (d, p) = (self.hidden_size, self.patch_size);
        let mut v = vec![
            (
                "vision_model.embeddings.class_embedding".to_string(),
                vec![d],
            ),
            (
                "vision_model.embeddings.patch_embedding.weight".to_string(),
                vec![d, self.num_channels, p, p],
            ),
            (
                "vision_model.embeddings.position_embedding.weight".to_string(),
                vec![self.num_patches() + 1, d],
            ),
            ("vision_model.pre_layrnorm.weight".to_string(), vec![d]),
            ("vision_model.pre_layrnorm.bias".to_string(), vec![d]),
        ];
        v.extend(encoder_tensors(
            "vision_model.encoder",
            d,
            self.intermediate_size,
            self.num_hidden_layers,
        ));
        v.push(("vision_model.post_layernorm.weight".to_string(), vec![d]));
        v.push(("vision_model.post_layernorm.bias".to_string(), vec![d]));
        v.push((
            "visual_projection.weight".to_string(),
            vec![self.projection_dim, d],
        ));
        v
    }
}

/// Outputs of [`ClipVision::forward`].
#[derive(Debug, Clone)]
pub struct ClipVisionOutput {
    /// Encoder output without post layer norm, `[B, 1 + N, D]` (HF `last_hidden_state`).
    pub last_hidden_state: Tensor,
    /// Post layer norm of the CLS token, `[B, D]` (HF `pooler_output`).
    pub cls: Tensor,
    /// Post layer norm of every grid token, `[B, N, D]`, row-major over the
    /// `grid_size x grid_size` patches (SEVLM's visual tokens).
    pub grid: Tensor,
    /// `visual_projection(cls)`, `[B, P]`, not normalised (HF `get_image_features`).
    pub image_embeds: Tensor,
}

/// CLIP's vision transformer with its projection.
#[derive(Debug, Clone)]
pub struct ClipVision {
    cfg: ClipVisionConfig,
    class_embedding: Tensor,
    /// `[D, C * p * p]`: the patch convolution as a matrix.
    patch_weight: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    encoder: ClipEncoder,
    post_layernorm: LayerNorm,
    visual_projection: Linear,
}

impl ClipVision {
    /// Builds the tower from `vb` rooted at the checkpoint root (keys `vision_model.*`,
    /// `visual_projection.weight`). With a `VarMap`-backed builder this creates trainable
    /// variables (random embeddings, layer norms at 1/0, Kaiming linears).
    pub fn new(cfg: &ClipVisionConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        let act = cfg.activation().map_err(Error::Invalid)?;
        let (d, c, p) = (cfg.hidden_size, cfg.num_channels, cfg.patch_size);
        let randn = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let vm = vb.pp("vision_model");
        let emb = vm.pp("embeddings");
        let class_embedding = emb.get_with_hints(d, "class_embedding", randn)?;
        let patch_weight = emb
            .pp("patch_embedding")
            .get_with_hints((d, c, p, p), "weight", randn)?
            .reshape((d, c * p * p))?;
        let position_embedding = emb.pp("position_embedding").get_with_hints(
            (cfg.num_patches() + 1, d),
            "weight",
            randn,
        )?;
        let eps = cfg.layer_norm_eps;
        Ok(ClipVision {
            class_embedding,
            patch_weight,
            position_embedding,
            pre_layrnorm: LayerNorm::new(d, eps, vm.pp("pre_layrnorm"))?,
            encoder: ClipEncoder::new(
                EncoderDims {
                    hidden: d,
                    intermediate: cfg.intermediate_size,
                    layers: cfg.num_hidden_layers,
                    heads: cfg.num_attention_heads,
                    eps,
                    act,
                },
                vm.pp("encoder"),
            )?,
            post_layernorm: LayerNorm::new(d, eps, vm.pp("post_layernorm"))?,
            visual_projection: linear(d, cfg.projection_dim, false, vb.pp("visual_projection"))?,
            cfg: cfg.clone(),
        })
    }

    /// Loads a checkpoint (file, folder or sharded index) with the `config.json` beside it.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let cfg = ClipVisionConfig::from_json_file(&config_path(path)?)?;
        Self::load_with_config(path, &cfg, device)
    }

    /// Loads a checkpoint with an explicit configuration (e.g. a preset).
    pub fn load_with_config(path: &Path, cfg: &ClipVisionConfig, device: &Device) -> Result<Self> {
        let w = Weights::load(path, device)?;
        Self::from_weights(cfg, &w, device)
    }

    /// Builds the tower from loaded weights; a missing or misshapen tensor is an error naming
    /// the checkpoint file, the tensor and the expected shape.
    pub fn from_weights(
        cfg: &ClipVisionConfig,
        weights: &Weights,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()
            .map_err(|m| Error::at(weights.source(), "CLIP vision configuration", m))?;
        check_tensors(weights, &cfg.expected_tensors(), "vision_model.", "vision")?;
        Self::new(cfg, weights.var_builder(device))
            .map_err(|e| Error::at(checkpoint_file(weights), "CLIP vision tower", e.to_string()))
    }

    /// The configuration.
    pub fn config(&self) -> &ClipVisionConfig {
        &self.cfg
    }

    /// Runs the tower on normalised pixels `[B, C, H, W]` (H = W = `image_size`; see
    /// `imaging::preprocess_clip`).
    pub fn forward(&self, pixel_values: &Tensor, mode: Mode) -> Result<ClipVisionOutput> {
        let cfg = &self.cfg;
        let (b, c, h, w) = pixel_values.dims4()?;
        if c != cfg.num_channels || h != cfg.image_size || w != cfg.image_size {
            return Err(Error::Invalid(format!(
                "CLIP vision: pixel values of shape [{b}, {c}, {h}, {w}], the model takes [B, {}, {}, {}]",
                cfg.num_channels, cfg.image_size, cfg.image_size
            )));
        }
        let x = if pixel_values.dtype() == DType::F32 {
            pixel_values.clone()
        } else {
            pixel_values.to_dtype(DType::F32)?
        };
        let (p, g, d) = (cfg.patch_size, cfg.grid_size(), cfg.hidden_size);
        // Conv2d(kernel = stride = p, no bias) as patches x weight^T.
        let patches = x
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b * g * g, c * p * p))?;
        let patch_embeds = patches
            .matmul(&self.patch_weight.t()?)?
            .reshape((b, g * g, d))?;
        let cls = self
            .class_embedding
            .reshape((1, 1, d))?
            .broadcast_as((b, 1, d))?
            .contiguous()?;
        let x = Tensor::cat(&[&cls, &patch_embeds], 1)?
            .broadcast_add(&self.position_embedding.unsqueeze(0)?)?;
        let x = self.pre_layrnorm.forward(&x, mode)?;
        let last_hidden_state = self.encoder.forward(&x, None, mode)?;
        // Layer norm is per token: normalising the whole sequence once gives HF's pooled CLS
        // and SEVLM's normalised grid.
        let post = self.post_layernorm.forward(&last_hidden_state, mode)?;
        let cls = post.i((.., 0))?.contiguous()?;
        let grid = post.i((.., 1..))?.contiguous()?;
        let image_embeds = self.visual_projection.forward(&cls)?;
        Ok(ClipVisionOutput {
            last_hidden_state,
            cls,
            grid,
            image_embeds,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Shared by the vision and text towers.

/// Sizes of a CLIP encoder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncoderDims {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub eps: f64,
    pub act: Activation,
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Dense,
    k_proj: Dense,
    v_proj: Dense,
    out_proj: Dense,
    heads: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    fn new(d: usize, heads: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let head_dim = d / heads;
        Ok(Attention {
            q_proj: dense(d, d, true, vb.pp("q_proj"))?,
            k_proj: dense(d, d, true, vb.pp("k_proj"))?,
            v_proj: dense(d, d, true, vb.pp("v_proj"))?,
            out_proj: dense(d, d, true, vb.pp("out_proj"))?,
            heads,
            head_dim,
            scale: (head_dim as f64).powf(-0.5),
        })
    }

    /// `residual + attention(x)`: the block's skip connection is added with the output
    /// projection's bias in one pass.
    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        mode: Mode,
        residual: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let split = |t: Tensor| {
            t.reshape((b, l, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q_proj.forward(x)?)?;
        let k = split(self.k_proj.forward(x)?)?;
        let v = split(self.v_proj.forward(x)?)?;
        let att = attention_softmax(q.matmul(&k.t()?)?, self.scale, mask, mode)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        self.out_proj.forward_add(&y, residual)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    layer_norm1: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    act: Activation,
    layer_norm2: LayerNorm,
}

impl EncoderLayer {
    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        mode: Mode,
    ) -> candle_core::Result<Tensor> {
        let x = self
            .self_attn
            .forward(&self.layer_norm1.forward(x, mode)?, mask, mode, x)?;
        let h = self
            .fc1
            .forward_act(&self.layer_norm2.forward(&x, mode)?, Some(self.act))?;
        self.fc2.forward_add(&h, &x)
    }
}

/// CLIP's pre-norm transformer encoder (`encoder.layers.{i}`).
#[derive(Debug, Clone)]
pub(crate) struct ClipEncoder {
    layers: Vec<EncoderLayer>,
}

impl ClipEncoder {
    pub(crate) fn new(dims: EncoderDims, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = dims.hidden;
        let layers = (0..dims.layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(EncoderLayer {
                    self_attn: Attention::new(d, dims.heads, vb.pp("self_attn"))?,
                    layer_norm1: LayerNorm::new(d, dims.eps, vb.pp("layer_norm1"))?,
                    fc1: dense(d, dims.intermediate, true, vb.pp("mlp.fc1"))?,
                    fc2: dense(dims.intermediate, d, true, vb.pp("mlp.fc2"))?,
                    act: dims.act,
                    layer_norm2: LayerNorm::new(d, dims.eps, vb.pp("layer_norm2"))?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(ClipEncoder { layers })
    }

    /// `mask` is additive, broadcastable to `[B, heads, L, L]`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        mode: Mode,
    ) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, mask, mode)?;
        }
        Ok(x)
    }
}

pub(crate) fn check_dims(hidden: usize, heads: usize) -> std::result::Result<(), String> {
    if heads == 0 || hidden == 0 || !hidden.is_multiple_of(heads) {
        return Err(format!(
            "`hidden_size` {hidden} is not a positive multiple of `num_attention_heads` {heads}"
        ));
    }
    Ok(())
}

/// Tensor names and shapes of an encoder under `prefix`.
pub(crate) fn encoder_tensors(
    prefix: &str,
    d: usize,
    inter: usize,
    layers: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut v = Vec::new();
    for i in 0..layers {
        let l = format!("{prefix}.layers.{i}");
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            v.push((format!("{l}.self_attn.{proj}.weight"), vec![d, d]));
            v.push((format!("{l}.self_attn.{proj}.bias"), vec![d]));
        }
        for ln in ["layer_norm1", "layer_norm2"] {
            v.push((format!("{l}.{ln}.weight"), vec![d]));
            v.push((format!("{l}.{ln}.bias"), vec![d]));
        }
        v.push((format!("{l}.mlp.fc1.weight"), vec![inter, d]));
        v.push((format!("{l}.mlp.fc1.bias"), vec![inter]));
        v.push((format!("{l}.mlp.fc2.weight"), vec![d, inter]));
        v.push((format!("{l}.mlp.fc2.bias"), vec![d]));
    }
    v
}

/// The file to name in errors: the single safetensors file of a folder when there is one.
pub(crate) fn checkpoint_file(weights: &Weights) -> PathBuf {
    let src = weights.source();
    if src.is_dir() {
        for name in ["model.safetensors", "model.safetensors.index.json"] {
            if src.join(name).is_file() {
                return src.join(name);
            }
        }
    }
    src.to_path_buf()
}

/// Checks that every expected tensor is present with its shape; the first missing one is
/// reported with its expected shape, and a checkpoint without any `tower_prefix` tensor is
/// said to lack the tower.
pub(crate) fn check_tensors(
    weights: &Weights,
    expected: &[(String, Vec<usize>)],
    tower_prefix: &str,
    tower: &str,
) -> Result<()> {
    for (name, shape) in expected {
        if !weights.contains(name) {
            let file = checkpoint_file(weights);
            let has_tower = weights.names().iter().any(|n| n.starts_with(tower_prefix));
            let why = if has_tower {
                String::new()
            } else {
                format!(
                    "; this checkpoint has no CLIP {tower} tower (no `{tower_prefix}*` tensors)"
                )
            };
            return Err(Error::at(
                file,
                format!("tensor `{name}`"),
                format!("missing from the checkpoint, expected shape {shape:?}{why}"),
            ));
        }
        let found = weights.get_any(name)?;
        if found.dims() != shape.as_slice() {
            return Err(Error::at(
                checkpoint_file(weights),
                format!("tensor `{name}`"),
                format!("expected shape {shape:?}, found {:?}", found.dims()),
            ));
        }
    }
    Ok(())
}

/// `config.json` beside a checkpoint file, or inside a checkpoint folder.
pub(crate) fn config_path(path: &Path) -> Result<PathBuf> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or_else(|| Path::new("."))
    };
    let p = dir.join("config.json");
    if !p.is_file() {
        return Err(Error::io(
            &p,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no config.json beside the checkpoint (use `load_with_config` with a preset)",
            ),
        ));
    }
    Ok(p)
}

/// The sub-configuration `key` (`vision_config` / `text_config`) of a `CLIPConfig`
/// `config.json`, or the whole file when it is a `model_type` sub-configuration. As HF,
/// a non-null `<key>_dict` (old files) replaces `<key>`, and the top-level `projection_dim`
/// of a `CLIPConfig` wins.
pub(crate) fn sub_config(path: &Path, key: &str, model_type: &str) -> Result<serde_json::Value> {
    let text = read_text(path)?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::at(path, format!("line {}", e.line()), e.to_string()))?;
    if !v.is_object() {
        return Err(Error::parse(path, None, "not a JSON object"));
    }
    let mt = v.get("model_type").and_then(|m| m.as_str());
    if mt == Some(model_type) {
        return Ok(v);
    }
    if mt == Some("clip") || v.get(key).is_some() {
        let dict_key = format!("{key}_dict");
        let mut sub = match (v.get(&dict_key), v.get(key)) {
            (Some(d @ serde_json::Value::Object(_)), _) => d.clone(),
            (_, Some(s @ serde_json::Value::Object(_))) => s.clone(),
            (_, None | Some(serde_json::Value::Null)) => serde_json::json!({}),
            (_, Some(_)) => return Err(Error::at(path, format!("field `{key}`"), "not an object")),
        };
        if let (Some(p), Some(obj)) = (
            v.get("projection_dim").filter(|p| !p.is_null()),
            sub.as_object_mut(),
        ) {
            obj.insert("projection_dim".into(), p.clone());
        }
        return Ok(sub);
    }
    match mt {
        None if v.get("hidden_size").is_some() => Ok(v),
        Some(other) => Err(Error::at(
            path,
            "field `model_type`",
            format!("`{other}` is neither `clip` nor `{model_type}`"),
        )),
        None => Err(Error::parse(
            path,
            None,
            format!("not a CLIP config: no `{key}`, no `model_type`"),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_nn::VarMap;
    use std::collections::HashMap;

    pub(crate) fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity/clip")
    }

    pub(crate) fn io() -> HashMap<String, Tensor> {
        // On the parity tests' device (`ARTEMO_TEST_DEVICE`, the CPU by default).
        candle_core::safetensors::load(
            fixture_dir().join("io.safetensors"),
            &crate::models::tests::device(),
        )
        .unwrap()
    }

    pub(crate) use crate::models::tests::max_diff;

    /// Reference: HF `CLIPModel` (transformers 5.23.0, torch 2.15.0, eager attention),
    /// `tools/parity/clip.py`: `vision_model(pixel_values)`, `post_layernorm(last[:, 1:])`,
    /// `visual_projection(pooler_output)`. Measured max abs diffs (both modes): last_hidden_state
    /// 4.3e-6, grid 3.1e-6, pooled 8.8e-7, image_embeds 1.1e-6.
    #[test]
    fn vision_matches_pytorch() {
        let io = io();
        let m = ClipVision::load(&fixture_dir(), &crate::models::tests::device()).unwrap();
        assert_eq!(m.config().patch_size, 8);
        assert_eq!(m.config().projection_dim, 16);
        for mode in [Mode::Infer, Mode::Train] {
            let out = m.forward(&io["pixel_values"], mode).unwrap();
            for (got, key) in [
                (&out.last_hidden_state, "vision_last_hidden_state"),
                (&out.grid, "vision_grid"),
                (&out.cls, "vision_pooled"),
                (&out.image_embeds, "image_embeds"),
            ] {
                let d = max_diff(got, &io[key]);
                println!("{key} ({mode:?}): max abs diff {d:e}");
                assert!(
                    d <= crate::models::tests::tolerance(1e-4),
                    "{key} ({mode:?}): max abs diff {d}"
                );
            }
        }
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        let cfg = ClipVisionConfig {
            hidden_size: 16,
            intermediate_size: 24,
            projection_dim: 8,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            image_size: 16,
            patch_size: 8,
            ..ClipVisionConfig::vit_b_32()
        };
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let m = ClipVision::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        assert_eq!(vm.all_vars().len(), cfg.expected_tensors().len());
        let x = Tensor::randn(0f32, 1.0, (2, 3, 16, 16), &dev).unwrap();
        let out = m.forward(&x, Mode::Train).unwrap();
        let wsum = crate::models::tests::random_weighted_sum;
        let loss = (wsum(&out.grid) + wsum(&out.image_embeds)).unwrap();
        let grads = loss.backward().unwrap();
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
    }

    #[test]
    fn configs_parse_from_clip_and_vision_json() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        // The shape of openai/clip-vit-base-patch16's config.json (trimmed): full sub-configs,
        // null `_dict`s, top-level projection_dim.
        std::fs::write(
            &p,
            r#"{"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 512,
                "text_config": {"hidden_size": 512, "eos_token_id": 2, "model_type": "clip_text_model"},
                "text_config_dict": null,
                "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "image_size": 224,
                   "patch_size": 16, "num_attention_heads": 12, "num_hidden_layers": 12,
                   "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "model_type": "clip_vision_model",
                   "id2label": {"0": "LABEL_0"}},
                "vision_config_dict": null}"#,
        )
        .unwrap();
        assert_eq!(
            ClipVisionConfig::from_json_file(&p).unwrap(),
            ClipVisionConfig::vit_b_16()
        );
        // Old files: a `_dict` replaces the sub-config (missing keys take defaults).
        std::fs::write(&p, r#"{"model_type": "clip", "vision_config": {"patch_size": 14}, "vision_config_dict": {"patch_size": 16}}"#).unwrap();
        assert_eq!(
            ClipVisionConfig::from_json_file(&p).unwrap(),
            ClipVisionConfig::vit_b_16()
        );
        // CLIPVisionModelWithProjection's config.
        std::fs::write(
            &p,
            r#"{"model_type": "clip_vision_model", "patch_size": 32, "projection_dim": 512}"#,
        )
        .unwrap();
        assert_eq!(
            ClipVisionConfig::from_json_file(&p).unwrap(),
            ClipVisionConfig::vit_b_32()
        );
        std::fs::write(
            &p,
            r#"{"model_type": "clip_text_model", "hidden_size": 512}"#,
        )
        .unwrap();
        let e = ClipVisionConfig::from_json_file(&p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.json") && e.contains("clip_text_model"),
            "{e}"
        );
        std::fs::write(
            &p,
            r#"{"model_type": "clip_vision_model", "hidden_size": 100, "num_attention_heads": 12}"#,
        )
        .unwrap();
        let e = ClipVisionConfig::from_json_file(&p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.json") && e.contains("multiple"), "{e}");
        std::fs::write(
            &p,
            r#"{"model_type": "clip_vision_model", "hidden_act": "swish"}"#,
        )
        .unwrap();
        let e = ClipVisionConfig::from_json_file(&p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("swish"), "{e}");
    }

    /// A `CLIPVisionModelWithProjection` checkpoint (same `vision_model.*` /
    /// `visual_projection.weight` keys, `clip_vision_model` config) loads, and a checkpoint
    /// without the vision tower is refused naming the file and the first missing tensor.
    #[test]
    fn vision_only_checkpoint_and_missing_tower() {
        let dev = Device::Cpu;
        let full = Weights::load(&fixture_dir(), &dev).unwrap();
        let d = tempfile::tempdir().unwrap();
        let keep = |prefix: &[&str]| -> HashMap<String, Tensor> {
            full.names()
                .into_iter()
                .filter(|n| prefix.iter().any(|p| n.starts_with(p)))
                .map(|n| (n.to_string(), full.get_any(n).unwrap().clone()))
                .collect()
        };
        let vdir = d.path().join("vision");
        std::fs::create_dir(&vdir).unwrap();
        crate::models::loading::save_safetensors(
            &vdir.join("model.safetensors"),
            &keep(&["vision_model.", "visual_projection."]),
        )
        .unwrap();
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture_dir().join("config.json")).unwrap(),
        )
        .unwrap();
        let mut vcfg = cfg["vision_config"].clone();
        vcfg["projection_dim"] = cfg["projection_dim"].clone();
        std::fs::write(vdir.join("config.json"), vcfg.to_string()).unwrap();
        let m = ClipVision::load(&vdir, &dev).unwrap();
        let io = io();
        let out = m.forward(&io["pixel_values"], Mode::Infer).unwrap();
        assert!(max_diff(&out.image_embeds, &io["image_embeds"]) <= 1e-4);

        let tdir = d.path().join("text");
        std::fs::create_dir(&tdir).unwrap();
        crate::models::loading::save_safetensors(
            &tdir.join("model.safetensors"),
            &keep(&["text_model.", "text_projection."]),
        )
        .unwrap();
        let e = ClipVision::load_with_config(&tdir, m.config(), &dev)
            .unwrap_err()
            .to_string();
        assert!(e.contains("text/model.safetensors"), "{e}");
        assert!(
            e.contains("`vision_model.embeddings.class_embedding`")
                && e.contains("expected shape [32]")
                && e.contains("no CLIP vision tower"),
            "{e}"
        );
        let e = ClipVision::load(&tdir, &dev).unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
        // Wrong sizes are reported with both shapes.
        let e = ClipVision::load_with_config(
            &vdir,
            &ClipVisionConfig {
                projection_dim: 10,
                ..m.config().clone()
            },
            &dev,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("visual_projection.weight")
                && e.contains("expected shape [10, 32], found [16, 32]"),
            "{e}"
        );
        let e = m
            .forward(
                &Tensor::zeros((1, 3, 64, 64), DType::F32, &dev).unwrap(),
                Mode::Infer,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("[B, 3, 32, 32]"), "{e}");
    }
}
