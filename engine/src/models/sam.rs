//! Segment Anything (Kirillov et al. 2023, "Segment Anything"): the ViT image encoder
//! (`facebook/sam-vit-base`, FAIR `sam_vit_b_01ec64.pth`; ViT-L/H load too), MobileSAM's TinyViT
//! encoder (`mobile_sam.pt`, see [`crate::models::sam_tiny_vit`]), the prompt encoder and a mask
//! decoder with extra learnable tokens for EmoSEM (see [`crate::models::sam_decoder`]).
//!
//! The model tree follows the original FAIR key layout (`image_encoder.*`, `prompt_encoder.*`,
//! `mask_decoder.*`), which FAIR's and MobileSAM's checkpoints (converted to safetensors) use
//! as they are. A Hugging Face checkpoint (`SamModel.save_pretrained`: `vision_encoder.*`,
//! `shared_image_embedding.*`, `prompt_encoder.*`, `mask_decoder.*` with other names, plus
//! `config.json`) is detected ([`SamLayout::detect`]) and renamed by [`hf_to_fair_name`]:
//!
//! | Hugging Face (`SamModel`)                                  | FAIR (`Sam`)                                                   |
//! |-----------------------------------------------------------|----------------------------------------------------------------|
//! | `vision_encoder.patch_embed.projection.*`                 | `image_encoder.patch_embed.proj.*`                             |
//! | `vision_encoder.pos_embed`                                | `image_encoder.pos_embed`                                      |
//! | `vision_encoder.layers.{i}.layer_norm1.*` / `layer_norm2.*` | `image_encoder.blocks.{i}.norm1.*` / `norm2.*`               |
//! | `vision_encoder.layers.{i}.attn.{qkv,proj,rel_pos_h,rel_pos_w}` | `image_encoder.blocks.{i}.attn.{...}` (same)             |
//! | `vision_encoder.layers.{i}.mlp.{lin1,lin2}.*`             | `image_encoder.blocks.{i}.mlp.{lin1,lin2}.*`                   |
//! | `vision_encoder.neck.{conv1,layer_norm1,conv2,layer_norm2}.*` | `image_encoder.neck.{0,1,2,3}.*`                           |
//! | `shared_image_embedding.positional_embedding` (and its tied copy `prompt_encoder.shared_embedding.positional_embedding`) | `prompt_encoder.pe_layer.positional_encoding_gaussian_matrix` |
//! | `prompt_encoder.point_embed.{i}.weight`                   | `prompt_encoder.point_embeddings.{i}.weight`                   |
//! | `prompt_encoder.{not_a_point_embed,no_mask_embed}.weight` | same                                                           |
//! | `prompt_encoder.mask_embed.{conv1,layer_norm1,conv2,layer_norm2,conv3}.*` | `prompt_encoder.mask_downscaling.{0,1,3,4,6}.*` |
//! | `mask_decoder.{iou_token,mask_tokens}.weight`             | same                                                           |
//! | `mask_decoder.transformer.layers.{i}.layer_norm{1..4}.*`  | `mask_decoder.transformer.layers.{i}.norm{1..4}.*`             |
//! | `mask_decoder.transformer.layers.{i}.{self_attn,cross_attn_token_to_image,cross_attn_image_to_token,mlp}.*` | same |
//! | `mask_decoder.transformer.final_attn_token_to_image.*`    | same                                                           |
//! | `mask_decoder.transformer.layer_norm_final_attn.*`        | `mask_decoder.transformer.norm_final_attn.*`                   |
//! | `mask_decoder.upscale_conv1.*`, `upscale_layer_norm.*`, `upscale_conv2.*` | `mask_decoder.output_upscaling.{0,1,3}.*`      |
//! | `mask_decoder.{output_hypernetworks_mlps.{i},iou_prediction_head}.proj_in.*` | `....layers.0.*`                            |
//! | `mask_decoder.{...}.layers.{j}.*`                         | `....layers.{j+1}.*`                                           |
//! | `mask_decoder.{...}.proj_out.*`                           | `....layers.{depth-1}.*` (depth 3, `iou_head_depth` for the IoU head) |
//!
//! Without a `config.json` (FAIR / MobileSAM checkpoints) the sizes are read from the tensor
//! shapes ([`SamConfig::infer_fair`]); what shapes cannot tell takes SAM's values (8 decoder
//! heads, a 1024-pixel TinyViT input).
//!
//! The ViT encoder is Artemo's [`crate::models::sam_vit::SamVit`] (inference only; it was
//! candle-transformers' `ImageEncoderViT`, 1.5-1.6 times PyTorch's time on the CPU). Its
//! inputs are `imaging::preprocess_sam`'s normalised, padded 1024x1024 pixels; prompt
//! coordinates are in that resized frame.
//!
//! Parity (`tests/fixtures/parity/sam/`, `tools/parity/sam.py`, transformers 5.23.0 /
//! torch 2.15.0 / mobilesam-mirror 1.0.0): a tiny random HF `SamModel` loaded through the
//! converter, and a tiny random MobileSAM in its native layout; image embeddings, prompt
//! embeddings, masks, IoU predictions, mask-token and extra-token outputs all within 1e-4 of
//! PyTorch (measured maxima in the tests' comments).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::error::{read_text, Error, Result};
use crate::models::loading::Weights;
use crate::models::sam_decoder::{
    MaskDecoder, PromptEncoder, SamMaskDecoderConfig, SamPromptEncoderConfig,
};
use crate::models::sam_tiny_vit::{TinyVit, TinyVitConfig};
use crate::models::sam_vit::SamVit;

/// SAM's ViT image encoder configuration (Hugging Face `SamVisionConfig`; defaults: ViT-B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamVisionConfig {
    /// Transformer width (768 for ViT-B).
    pub hidden_size: usize,
    /// Neck output channels (256).
    pub output_channels: usize,
    /// Transformer blocks (12).
    pub num_hidden_layers: usize,
    /// Attention heads (12).
    pub num_attention_heads: usize,
    /// Input channels (3).
    pub num_channels: usize,
    /// Input side in pixels (1024).
    pub image_size: usize,
    /// Patch side in pixels (16).
    pub patch_size: usize,
    /// Activation (`gelu`, exact).
    pub hidden_act: String,
    /// Layer-norm epsilon (1e-6).
    pub layer_norm_eps: f64,
    /// Bias in the qkv projection.
    pub qkv_bias: bool,
    /// MLP width ratio (4).
    pub mlp_ratio: f64,
    /// MLP width (`hidden_size * mlp_ratio` when absent).
    pub mlp_dim: Option<usize>,
    /// Absolute position embedding (`pos_embed`).
    pub use_abs_pos: bool,
    /// Decomposed relative positions (`rel_pos_h`, `rel_pos_w`).
    pub use_rel_pos: bool,
    /// Attention window of the windowed blocks (14).
    pub window_size: usize,
    /// Blocks with global attention ([2, 5, 8, 11] for ViT-B).
    pub global_attn_indexes: Vec<usize>,
    /// Half the prompt embedding width (128): the positional encoding's frequencies.
    pub num_pos_feats: usize,
}

impl Default for SamVisionConfig {
    fn default() -> Self {
        SamVisionConfig {
            hidden_size: 768,
            output_channels: 256,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 1024,
            patch_size: 16,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-6,
            qkv_bias: true,
            mlp_ratio: 4.0,
            mlp_dim: None,
            use_abs_pos: true,
            use_rel_pos: true,
            window_size: 14,
            global_attn_indexes: vec![2, 5, 8, 11],
            num_pos_feats: 128,
        }
    }
}

impl SamVisionConfig {
    /// Patches per side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let d = self.hidden_size;
        if self.num_attention_heads == 0 || d == 0 || !d.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "vision `hidden_size` {d} is not a multiple of `num_attention_heads` {}",
                self.num_attention_heads
            ));
        }
        if self.patch_size == 0
            || self.image_size == 0
            || !self.image_size.is_multiple_of(self.patch_size)
        {
            return Err(format!(
                "vision `image_size` {} is not a multiple of `patch_size` {}",
                self.image_size, self.patch_size
            ));
        }
        // The encoder's MLP is `nn.GELU` (`sam_vit`), as every released SAM.
        if self.hidden_act != "gelu" {
            return Err(format!(
                "vision `hidden_act` {:?} (only `gelu`)",
                self.hidden_act
            ));
        }
        if self.mlp_dim.unwrap_or((d as f64 * self.mlp_ratio) as usize) == 0 {
            return Err(format!(
                "vision MLP width {:?} (ratio {}) is zero",
                self.mlp_dim, self.mlp_ratio
            ));
        }
        if self.window_size == 0 && self.global_attn_indexes.len() < self.num_hidden_layers {
            return Err("vision `window_size` 0 with windowed blocks".into());
        }
        Ok(())
    }
}

/// Which image encoder a SAM model has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SamEncoderConfig {
    /// SAM's ViT (B, L or H).
    Vit(SamVisionConfig),
    /// MobileSAM's TinyViT.
    TinyVit(TinyVitConfig),
}

impl SamEncoderConfig {
    /// Input side in pixels.
    pub fn image_size(&self) -> usize {
        match self {
            SamEncoderConfig::Vit(v) => v.image_size,
            SamEncoderConfig::TinyVit(t) => t.img_size,
        }
    }

    /// Side of the image embedding.
    pub fn embedding_size(&self) -> usize {
        match self {
            SamEncoderConfig::Vit(v) => v.grid_size(),
            SamEncoderConfig::TinyVit(t) => t.output_size(),
        }
    }

    /// Channels of the image embedding.
    pub fn out_channels(&self) -> usize {
        match self {
            SamEncoderConfig::Vit(v) => v.output_channels,
            SamEncoderConfig::TinyVit(t) => t.out_chans,
        }
    }
}

/// A whole SAM model's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamConfig {
    /// The image encoder.
    pub encoder: SamEncoderConfig,
    /// The prompt encoder.
    pub prompt_encoder: SamPromptEncoderConfig,
    /// The mask decoder.
    pub mask_decoder: SamMaskDecoderConfig,
}

#[derive(Deserialize)]
struct HfSamConfig {
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    vision_config: SamVisionConfig,
    #[serde(default)]
    prompt_encoder_config: SamPromptEncoderConfig,
    #[serde(default)]
    mask_decoder_config: SamMaskDecoderConfig,
}

impl SamConfig {
    /// FAIR's `sam_vit_b` (`facebook/sam-vit-base` has the same sizes, with decoder layer norms
    /// at 1e-6 instead of 1e-5).
    pub fn vit_b() -> Self {
        SamConfig {
            encoder: SamEncoderConfig::Vit(SamVisionConfig::default()),
            prompt_encoder: SamPromptEncoderConfig::default(),
            mask_decoder: SamMaskDecoderConfig::fair(),
        }
    }

    /// MobileSAM (`mobile_sam.pt`): TinyViT-5M and SAM's prompt encoder and decoder.
    pub fn mobile_sam() -> Self {
        SamConfig {
            encoder: SamEncoderConfig::TinyVit(TinyVitConfig::default()),
            prompt_encoder: SamPromptEncoderConfig::default(),
            mask_decoder: SamMaskDecoderConfig::fair(),
        }
    }

    /// Parses a Hugging Face `SamConfig` `config.json` (`vision_config`,
    /// `prompt_encoder_config`, `mask_decoder_config`; missing fields take SAM ViT-B's values).
    pub fn from_hf_json(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let hf: HfSamConfig = serde_json::from_str(&text)
            .map_err(|e| Error::at(path, format!("line {}", e.line()), e.to_string()))?;
        if let Some(mt) = hf.model_type.as_deref().filter(|m| *m != "sam") {
            return Err(Error::at(
                path,
                "field `model_type`",
                format!("`{mt}` is not `sam`"),
            ));
        }
        let cfg = SamConfig {
            encoder: SamEncoderConfig::Vit(hf.vision_config),
            prompt_encoder: hf.prompt_encoder_config,
            mask_decoder: hf.mask_decoder_config,
        };
        cfg.validate()
            .map_err(|m| Error::at(path, "SAM configuration", m))?;
        Ok(cfg)
    }

    /// Sets the input size of the encoder and of the prompt encoder (whose `patch_size` is
    /// adjusted so that its embedding size matches the encoder's).
    pub fn with_image_size(mut self, size: usize) -> Self {
        match &mut self.encoder {
            SamEncoderConfig::Vit(v) => v.image_size = size,
            SamEncoderConfig::TinyVit(t) => t.img_size = size,
        }
        self.prompt_encoder.image_size = size;
        self.prompt_encoder.patch_size = size / self.encoder.embedding_size().max(1);
        self
    }

    /// Input side in pixels.
    pub fn image_size(&self) -> usize {
        self.encoder.image_size()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        match &self.encoder {
            SamEncoderConfig::Vit(v) => {
                v.validate()?;
                if 2 * v.num_pos_feats != self.prompt_encoder.hidden_size {
                    return Err(format!(
                        "vision `num_pos_feats` {} is not half the prompt width {}",
                        v.num_pos_feats, self.prompt_encoder.hidden_size
                    ));
                }
            }
            SamEncoderConfig::TinyVit(t) => t.validate()?,
        }
        self.prompt_encoder.validate()?;
        self.mask_decoder.validate()?;
        let (e, p, d) = (
            self.encoder.out_channels(),
            self.prompt_encoder.hidden_size,
            self.mask_decoder.hidden_size,
        );
        if e != p || p != d {
            return Err(format!(
                "encoder output channels {e}, prompt width {p} and decoder width {d} differ"
            ));
        }
        if self.encoder.embedding_size() != self.prompt_encoder.image_embedding_size() {
            return Err(format!(
                "the encoder's embedding is {0}x{0} cells but the prompt encoder's is {1}x{1}",
                self.encoder.embedding_size(),
                self.prompt_encoder.image_embedding_size()
            ));
        }
        Ok(())
    }

    /// Reads the sizes of a FAIR-layout checkpoint from its tensor shapes. What shapes do not
    /// tell takes SAM's values: 8 decoder heads, decoder layer norms at 1e-5, a 1024-pixel
    /// TinyViT input (the ViT's follows from `pos_embed`), SAM's global-attention blocks when
    /// the ViT has no relative positions. Change the result (e.g. [`SamConfig::with_image_size`])
    /// for other models.
    pub fn infer_fair(w: &Weights) -> Result<Self> {
        let names = w.names();
        let shape = |n: &str| -> Result<Vec<usize>> { Ok(w.get_any(n)?.dims().to_vec()) };
        let count = |prefix: &str, suffix: &str| {
            (0..)
                .take_while(|i| names.contains(format!("{prefix}.{i}.{suffix}").as_str()))
                .count()
        };
        let encoder = if names.contains("image_encoder.patch_embed.proj.weight") {
            let p = shape("image_encoder.patch_embed.proj.weight")?;
            let (d, patch) = (p[0], p[2]);
            let depth = count("image_encoder.blocks", "norm1.weight");
            let grid = match shape("image_encoder.pos_embed") {
                Ok(s) => s[1],
                Err(_) => 1024 / patch,
            };
            let use_rel_pos = names.contains("image_encoder.blocks.0.attn.rel_pos_h");
            let (heads, window, global) = if use_rel_pos {
                let mut global = Vec::new();
                let mut window = 14;
                let mut head_dim = 64;
                for i in 0..depth {
                    let r = shape(&format!("image_encoder.blocks.{i}.attn.rel_pos_h"))?;
                    head_dim = r[1];
                    if r[0] == 2 * grid - 1 {
                        global.push(i);
                    } else {
                        window = r[0].div_ceil(2);
                    }
                }
                (d / head_dim.max(1), window, global)
            } else {
                let global = match depth {
                    24 => vec![5, 11, 17, 23],
                    32 => vec![7, 15, 23, 31],
                    _ => vec![2, 5, 8, 11],
                };
                (if d >= 1024 { 16 } else { 12 }, 14, global)
            };
            SamEncoderConfig::Vit(SamVisionConfig {
                hidden_size: d,
                output_channels: shape("image_encoder.neck.0.weight")?[0],
                num_hidden_layers: depth,
                num_attention_heads: heads,
                num_channels: p[1],
                image_size: grid * patch,
                patch_size: patch,
                qkv_bias: names.contains("image_encoder.blocks.0.attn.qkv.bias"),
                mlp_dim: Some(shape("image_encoder.blocks.0.mlp.lin1.weight")?[0]),
                use_abs_pos: names.contains("image_encoder.pos_embed"),
                use_rel_pos,
                window_size: window,
                global_attn_indexes: global,
                num_pos_feats: shape(
                    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                )?[1],
                ..SamVisionConfig::default()
            })
        } else if names.contains("image_encoder.patch_embed.seq.0.c.weight") {
            let mut t = TinyVitConfig {
                in_chans: shape("image_encoder.patch_embed.seq.0.c.weight")?[1],
                out_chans: shape("image_encoder.neck.0.weight")?[0],
                embed_dims: vec![shape("image_encoder.patch_embed.seq.2.c.weight")?[0]],
                depths: vec![count("image_encoder.layers.0.blocks", "conv1.c.weight")],
                num_heads: vec![1],
                window_sizes: vec![1],
                ..TinyVitConfig::default()
            };
            t.mbconv_expand_ratio = shape("image_encoder.layers.0.blocks.0.conv1.c.weight")?[0]
                as f64
                / t.embed_dims[0] as f64;
            for i in 1.. {
                let down = format!("image_encoder.layers.{}.downsample.conv1.c.weight", i - 1);
                if !names.contains(down.as_str()) {
                    break;
                }
                let dim = shape(&down)?[0];
                let blk = format!("image_encoder.layers.{i}.blocks.0");
                let biases = shape(&format!("{blk}.attn.attention_biases"))?;
                t.embed_dims.push(dim);
                t.depths.push(count(
                    &format!("image_encoder.layers.{i}.blocks"),
                    "attn.qkv.weight",
                ));
                t.num_heads.push(biases[0]);
                t.window_sizes
                    .push((biases[1] as f64).sqrt().round() as usize);
                t.mlp_ratio = shape(&format!("{blk}.mlp.fc1.weight"))?[0] as f64 / dim as f64;
                t.local_conv_size = shape(&format!("{blk}.local_conv.c.weight"))?[2];
            }
            SamEncoderConfig::TinyVit(t)
        } else {
            return Err(Error::at(
                w.source(),
                "tensor names",
                "no SAM image encoder (neither `image_encoder.patch_embed.proj.weight` nor `image_encoder.patch_embed.seq.0.c.weight`)",
            ));
        };
        let hidden = shape("prompt_encoder.not_a_point_embed.weight")?[1];
        let image_size = encoder.image_size();
        let prompt_encoder = SamPromptEncoderConfig {
            hidden_size: hidden,
            image_size,
            patch_size: image_size / encoder.embedding_size().max(1),
            mask_input_channels: shape("prompt_encoder.mask_downscaling.3.weight")?[0],
            ..SamPromptEncoderConfig::default()
        };
        let dec = "mask_decoder";
        let d = shape(&format!("{dec}.iou_token.weight"))?[1];
        let inner = shape(&format!(
            "{dec}.transformer.final_attn_token_to_image.q_proj.weight"
        ))?[0];
        let mask_decoder = SamMaskDecoderConfig {
            hidden_size: d,
            mlp_dim: shape(&format!("{dec}.transformer.layers.0.mlp.lin1.weight"))?[0],
            num_hidden_layers: count(&format!("{dec}.transformer.layers"), "norm1.weight"),
            attention_downsample_rate: d / inner.max(1),
            num_multimask_outputs: shape(&format!("{dec}.mask_tokens.weight"))?[0]
                .saturating_sub(1),
            iou_head_depth: count(&format!("{dec}.iou_prediction_head.layers"), "weight"),
            iou_head_hidden_dim: shape(&format!("{dec}.iou_prediction_head.layers.0.weight"))?[0],
            ..SamMaskDecoderConfig::fair()
        };
        Ok(SamConfig {
            encoder,
            prompt_encoder,
            mask_decoder,
        })
    }
}

/// Which key layout a SAM checkpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SamLayout {
    /// The original FAIR / MobileSAM layout (`image_encoder.*`).
    Fair,
    /// Hugging Face `SamModel` (`vision_encoder.*`, `shared_image_embedding.*`).
    HuggingFace,
}

impl SamLayout {
    /// Detects the layout from tensor names; `None` when neither fits.
    pub fn detect<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut fair = false;
        for n in names {
            if n.starts_with("vision_encoder.")
                || n.starts_with("shared_image_embedding.")
                || n.starts_with("mask_decoder.upscale_conv")
                || n.starts_with("prompt_encoder.point_embed.")
            {
                return Some(SamLayout::HuggingFace);
            }
            fair |= n.starts_with("image_encoder.")
                || n.starts_with("mask_decoder.output_upscaling.")
                || n.starts_with("prompt_encoder.point_embeddings.");
        }
        fair.then_some(SamLayout::Fair)
    }
}

/// Renames one Hugging Face `SamModel` tensor to its FAIR name (the table in this module's
/// header). `iou_head_depth` places the IoU head's `proj_out` (the hypernetwork MLPs have
/// depth 3). Names outside SAM's tree are returned unchanged.
pub fn hf_to_fair_name(name: &str, iou_head_depth: usize) -> Option<String> {
    if name == "shared_image_embedding.positional_embedding"
        || name == "prompt_encoder.shared_embedding.positional_embedding"
    {
        return Some("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix".into());
    }
    if let Some(rest) = name.strip_prefix("vision_encoder.") {
        let rest = rest.replace("patch_embed.projection.", "patch_embed.proj.");
        let rest = match rest.strip_prefix("layers.") {
            Some(r) => format!(
                "blocks.{}",
                r.replacen(".layer_norm1.", ".norm1.", 1)
                    .replacen(".layer_norm2.", ".norm2.", 1)
            ),
            None => rest,
        };
        let rest = rest
            .replace("neck.conv1.", "neck.0.")
            .replace("neck.layer_norm1.", "neck.1.")
            .replace("neck.conv2.", "neck.2.")
            .replace("neck.layer_norm2.", "neck.3.");
        return Some(format!("image_encoder.{rest}"));
    }
    if let Some(rest) = name.strip_prefix("prompt_encoder.") {
        let rest = if let Some(r) = rest.strip_prefix("point_embed.") {
            format!("point_embeddings.{r}")
        } else if let Some(r) = rest.strip_prefix("mask_embed.") {
            let (module, tail) = r.split_once('.').unwrap_or((r, ""));
            let idx = match module {
                "conv1" => "0",
                "layer_norm1" => "1",
                "conv2" => "3",
                "layer_norm2" => "4",
                "conv3" => "6",
                other => other,
            };
            format!("mask_downscaling.{idx}.{tail}")
        } else {
            rest.to_string()
        };
        return Some(format!("prompt_encoder.{rest}"));
    }
    if let Some(rest) = name.strip_prefix("mask_decoder.") {
        let mut rest = rest
            .replace("upscale_conv1.", "output_upscaling.0.")
            .replace("upscale_layer_norm.", "output_upscaling.1.")
            .replace("upscale_conv2.", "output_upscaling.3.")
            .replace(
                "transformer.layer_norm_final_attn.",
                "transformer.norm_final_attn.",
            );
        for k in 1..=4 {
            rest = rest.replace(&format!(".layer_norm{k}."), &format!(".norm{k}."));
        }
        let mlp = if rest.starts_with("iou_prediction_head.") {
            Some(iou_head_depth)
        } else if rest.starts_with("output_hypernetworks_mlps.") {
            Some(3)
        } else {
            None
        };
        if let Some(depth) = mlp {
            let parts: Vec<&str> = rest.split('.').collect();
            // iou_prediction_head.<proj_in|layers.j|proj_out>.<param>, or
            // output_hypernetworks_mlps.i.<...>.<param>
            let at = if parts[0] == "iou_prediction_head" {
                1
            } else {
                2
            };
            let head = parts[..at].join(".");
            let renamed = match parts.get(at).copied() {
                Some("proj_in") => Some(format!("{head}.layers.0.{}", parts[at + 1..].join("."))),
                Some("proj_out") => Some(format!(
                    "{head}.layers.{}.{}",
                    depth.saturating_sub(1),
                    parts[at + 1..].join(".")
                )),
                Some("layers") => parts
                    .get(at + 1)
                    .and_then(|j| j.parse::<usize>().ok())
                    .map(|j| format!("{head}.layers.{}.{}", j + 1, parts[at + 2..].join("."))),
                _ => None,
            };
            if let Some(r) = renamed {
                rest = r;
            }
        }
        return Some(format!("mask_decoder.{rest}"));
    }
    Some(name.to_string())
}

/// Renames a whole Hugging Face checkpoint to FAIR names ([`hf_to_fair_name`]).
pub fn hf_to_fair(weights: Weights, iou_head_depth: usize) -> Weights {
    weights.rename(|n| hf_to_fair_name(n, iou_head_depth))
}

#[derive(Debug)]
enum ImageEncoder {
    Vit(Box<SamVit>),
    TinyVit(Box<TinyVit>),
}

/// A SAM model: image encoder, prompt encoder and mask decoder.
#[derive(Debug)]
pub struct Sam {
    image_encoder: ImageEncoder,
    prompt_encoder: PromptEncoder,
    mask_decoder: MaskDecoder,
    cfg: SamConfig,
}

impl Sam {
    /// Builds the model from `vb` rooted at the FAIR checkpoint root (`image_encoder`,
    /// `prompt_encoder`, `mask_decoder`).
    pub fn new(cfg: &SamConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        let image_encoder = match &cfg.encoder {
            SamEncoderConfig::Vit(v) => {
                ImageEncoder::Vit(Box::new(SamVit::new(v, vb.pp("image_encoder"))?))
            }
            SamEncoderConfig::TinyVit(t) => {
                ImageEncoder::TinyVit(Box::new(TinyVit::new(t, vb.pp("image_encoder"))?))
            }
        };
        Ok(Sam {
            image_encoder,
            prompt_encoder: PromptEncoder::new(&cfg.prompt_encoder, vb.pp("prompt_encoder"))?,
            mask_decoder: MaskDecoder::new(&cfg.mask_decoder, vb.pp("mask_decoder"))?,
            cfg: cfg.clone(),
        })
    }

    /// Loads a checkpoint (file, folder or sharded index) in either layout: a Hugging Face
    /// checkpoint with the `config.json` beside it, or a FAIR / MobileSAM one whose sizes are
    /// read from its shapes ([`SamConfig::infer_fair`]).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let w = Weights::load(path, device)?;
        let (cfg, w) = match SamLayout::detect(w.names()) {
            Some(SamLayout::HuggingFace) => {
                let cfg = SamConfig::from_hf_json(&config_path(path)?)?;
                let depth = cfg.mask_decoder.iou_head_depth;
                (cfg, hf_to_fair(w, depth))
            }
            Some(SamLayout::Fair) => (SamConfig::infer_fair(&w)?, w),
            None => return Err(not_sam(&w)),
        };
        Self::from_weights(&cfg, &w, device)
    }

    /// Loads a checkpoint in either layout with an explicit configuration.
    pub fn load_with_config(path: &Path, cfg: &SamConfig, device: &Device) -> Result<Self> {
        let w = Weights::load(path, device)?;
        let w = match SamLayout::detect(w.names()) {
            Some(SamLayout::HuggingFace) => hf_to_fair(w, cfg.mask_decoder.iou_head_depth),
            Some(SamLayout::Fair) => w,
            None => return Err(not_sam(&w)),
        };
        Self::from_weights(cfg, &w, device)
    }

    /// Builds the model from FAIR-named weights; a missing or misshapen tensor is an error
    /// naming the checkpoint file and the tensor (by its FAIR name).
    pub fn from_weights(cfg: &SamConfig, weights: &Weights, device: &Device) -> Result<Self> {
        let file = checkpoint_file(weights);
        cfg.validate()
            .map_err(|m| Error::at(&file, "SAM configuration", m))?;
        Self::new(cfg, weights.var_builder(device))
            .map_err(|e| Error::at(&file, "SAM checkpoint (FAIR names)", e.to_string()))
    }

    /// The configuration.
    pub fn config(&self) -> &SamConfig {
        &self.cfg
    }

    /// The prompt encoder.
    pub fn prompt_encoder(&self) -> &PromptEncoder {
        &self.prompt_encoder
    }

    /// The mask decoder.
    pub fn mask_decoder(&self) -> &MaskDecoder {
        &self.mask_decoder
    }

    /// Image embeddings `[B, 256, 64, 64]` (for SAM at 1024 pixels) of normalised, padded
    /// pixels `[B, 3, S, S]` (`imaging::preprocess_sam`).
    pub fn image_embeddings(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let s = self.cfg.image_size();
        let (_, c, h, w) = pixel_values.dims4()?;
        if c != 3 || h != s || w != s {
            return Err(Error::Invalid(format!(
                "SAM: pixel values of shape {:?}, the model takes [B, 3, {s}, {s}]",
                pixel_values.dims()
            )));
        }
        match &self.image_encoder {
            ImageEncoder::Vit(e) => Ok(e.forward(pixel_values)?),
            ImageEncoder::TinyVit(e) => e.forward(pixel_values),
        }
    }
}

fn not_sam(w: &Weights) -> Error {
    Error::at(
        checkpoint_file(w),
        "tensor names",
        "not a SAM checkpoint: neither the FAIR layout (`image_encoder.*`) nor Hugging Face's (`vision_encoder.*`)",
    )
}

/// The file to name in errors: the single safetensors file of a folder when there is one.
fn checkpoint_file(weights: &Weights) -> PathBuf {
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

/// `config.json` beside a checkpoint file, or inside a checkpoint folder.
fn config_path(path: &Path) -> Result<PathBuf> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or_else(|| Path::new("."))
    };
    let p = dir.join("config.json");
    if !p.is_file() {
        return Err(Error::io(
            &p,
            std::io::Error::new(std::io::ErrorKind::NotFound, "a Hugging Face SAM checkpoint needs its config.json (or use `Sam::load_with_config`)"),
        ));
    }
    Ok(p)
}

/// Tensor names of a checkpoint that a model built from `cfg` does not read (for reports).
pub fn unused_tensors(cfg: &SamConfig, weights: &Weights) -> Result<Vec<String>> {
    let vm = candle_nn::VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, candle_core::DType::F32, &Device::Cpu);
    Sam::new(cfg, vb)?;
    let used: BTreeSet<String> = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?
        .keys()
        .cloned()
        .collect();
    Ok(weights
        .names()
        .into_iter()
        .filter(|n| !used.contains(*n))
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::nn::Mode;
    use crate::models::tests::max_diff;
    use std::collections::HashMap;

    fn fixture(sub: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/parity/sam")
            .join(sub)
    }

    fn io(sub: &str) -> HashMap<String, Tensor> {
        candle_core::safetensors::load(
            fixture(sub).join("io.safetensors"),
            &crate::models::tests::device(),
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.to_dtype(candle_core::DType::F32).unwrap()))
        .collect()
    }

    fn check(what: &str, got: &Tensor, want: &Tensor, worst: &mut Vec<(String, f32)>) {
        let d = max_diff(got, want);
        assert!(
            d <= crate::models::tests::tolerance(1e-4),
            "{what}: max abs diff {d}"
        );
        worst.push((what.to_string(), d));
    }

    /// Reference: a tiny random HF `SamModel` (transformers 5.23.0, torch 2.15.0), saved with
    /// `save_pretrained` and loaded here through the HF -> FAIR converter. Measured max abs
    /// differences (this machine, both modes): image embeddings 1.3e-6, dense PE 3.6e-7,
    /// sparse (point + box) 7.2e-7, sparse (padded points) 4.8e-7, dense from a mask 1.2e-6;
    /// decoder (multimask, single mask, extra tokens, one block): masks 5.4e-7, IoU 1.8e-7,
    /// IoU token 2.1e-6, mask tokens 2.4e-6, extra tokens 9.5e-7.
    #[test]
    fn hf_layout_matches_pytorch() {
        let dev = crate::models::tests::device();
        let dir = fixture("hf");
        let w = Weights::load(&dir, &dev).unwrap();
        assert_eq!(SamLayout::detect(w.names()), Some(SamLayout::HuggingFace));
        let sam = Sam::load(&dir, &dev).unwrap();
        let io = io("hf");
        let mut worst = Vec::new();
        let emb = sam.image_embeddings(&io["pixel_values"]).unwrap();
        check(
            "image embeddings",
            &emb,
            &io["image_embeddings"],
            &mut worst,
        );
        let pe = sam.prompt_encoder().dense_pe().unwrap();
        check("dense pe", &pe, &io["image_pe"], &mut worst);
        let (sparse_a, dense_a) = sam
            .prompt_encoder()
            .forward(
                Some((&io["points_a"], &io["labels_a"])),
                Some(&io["boxes_a"]),
                None,
            )
            .unwrap();
        check("sparse a", &sparse_a, &io["sparse_a"], &mut worst);
        check("dense a", &dense_a, &io["dense_a"], &mut worst);
        let (sparse_b, _) = sam
            .prompt_encoder()
            .forward(Some((&io["points_b"], &io["labels_b"])), None, None)
            .unwrap();
        check(
            "sparse b (padded points)",
            &sparse_b,
            &io["sparse_b"],
            &mut worst,
        );
        let (_, dense_mask) = sam
            .prompt_encoder()
            .forward(None, None, Some(&io["mask_in"]))
            .unwrap();
        check(
            "dense from mask",
            &dense_mask,
            &io["dense_mask"],
            &mut worst,
        );

        let dec = sam.mask_decoder();
        let emb = &io["image_embeddings"];
        let cases: [(&str, bool, bool, &Tensor, usize); 4] = [
            ("multi", true, false, &dense_a, 2),
            ("single", false, false, &dense_a, 2),
            ("extra", true, true, &dense_a, 2),
            ("block1", true, true, &dense_mask, 1),
        ];
        for (tag, multi, extra, dense, blocks) in cases {
            let d = dec.clone().with_num_blocks(blocks);
            let extra_t = extra.then(|| io["extra"].clone());
            for mode in [Mode::Infer, Mode::Train] {
                let out = d
                    .forward(emb, &pe, &sparse_a, dense, multi, extra_t.as_ref(), mode)
                    .unwrap();
                check(
                    &format!("{tag} masks"),
                    &out.masks,
                    &io[&format!("{tag}_masks")],
                    &mut worst,
                );
                check(
                    &format!("{tag} iou"),
                    &out.iou_predictions,
                    &io[&format!("{tag}_iou")],
                    &mut worst,
                );
                check(
                    &format!("{tag} iou token"),
                    &out.iou_token,
                    &io[&format!("{tag}_iou_token")],
                    &mut worst,
                );
                check(
                    &format!("{tag} mask tokens"),
                    &out.mask_tokens,
                    &io[&format!("{tag}_mask_tokens")],
                    &mut worst,
                );
                match out.extra_tokens {
                    Some(e) => check(
                        &format!("{tag} extra tokens"),
                        &e,
                        &io[&format!("{tag}_extra_tokens")],
                        &mut worst,
                    ),
                    None => assert!(!extra),
                }
            }
        }
        eprintln!("{worst:?}");
    }

    /// Reference: a tiny random MobileSAM (TinyViT encoder) from `mobilesam-mirror` 1.0.0,
    /// its state dict saved in the original layout. Measured max abs differences (this
    /// machine): image embeddings 1.2e-6, sparse 4.8e-7, masks 9.7e-8, IoU 8.9e-8, mask tokens
    /// 6.0e-7, extra tokens 7.2e-7.
    #[test]
    fn mobilesam_fair_layout_matches_pytorch() {
        let dev = crate::models::tests::device();
        let dir = fixture("mobilesam");
        let w = Weights::load(&dir, &dev).unwrap();
        assert_eq!(SamLayout::detect(w.names()), Some(SamLayout::Fair));
        let mut cfg = SamConfig::infer_fair(&w).unwrap();
        let SamEncoderConfig::TinyVit(t) = &cfg.encoder else {
            panic!("TinyViT expected")
        };
        assert_eq!(
            (
                t.embed_dims.as_slice(),
                t.depths.as_slice(),
                t.num_heads[1..].to_vec(),
                t.window_sizes[1..].to_vec()
            ),
            (
                &[8, 12, 16, 16][..],
                &[1, 1, 1, 1][..],
                vec![2, 2, 4],
                vec![3, 2, 2]
            )
        );
        assert_eq!(
            (t.out_chans, t.mlp_ratio, t.mbconv_expand_ratio),
            (16, 4.0, 4.0)
        );
        assert_eq!(
            (
                cfg.mask_decoder.num_hidden_layers,
                cfg.mask_decoder.iou_head_depth,
                cfg.mask_decoder.iou_head_hidden_dim
            ),
            (1, 2, 12)
        );
        // Not in the shapes: the 32-pixel input and 2 decoder heads of this tiny model.
        cfg.mask_decoder.num_attention_heads = 2;
        let cfg = cfg.with_image_size(32);
        let sam = Sam::load_with_config(&dir, &cfg, &dev).unwrap();
        let io = io("mobilesam");
        let mut worst = Vec::new();
        let emb = sam.image_embeddings(&io["pixel_values"]).unwrap();
        check(
            "image embeddings",
            &emb,
            &io["image_embeddings"],
            &mut worst,
        );
        let pe = sam.prompt_encoder().dense_pe().unwrap();
        check("dense pe", &pe, &io["image_pe"], &mut worst);
        let (sparse, dense) = sam
            .prompt_encoder()
            .forward(
                Some((&io["points"], &io["labels"])),
                Some(&io["boxes"]),
                None,
            )
            .unwrap();
        check("sparse", &sparse, &io["sparse"], &mut worst);
        check("dense", &dense, &io["dense"], &mut worst);
        for (tag, multi, extra) in [("multi", true, false), ("extra", false, true)] {
            let e = extra.then(|| io["extra"].clone());
            // One image for the two prompts: the decoder broadcasts it.
            let out = sam
                .mask_decoder()
                .forward(&emb, &pe, &sparse, &dense, multi, e.as_ref(), Mode::Train)
                .unwrap();
            check(
                &format!("{tag} masks"),
                &out.masks,
                &io[&format!("{tag}_masks")],
                &mut worst,
            );
            check(
                &format!("{tag} iou"),
                &out.iou_predictions,
                &io[&format!("{tag}_iou")],
                &mut worst,
            );
            check(
                &format!("{tag} mask tokens"),
                &out.mask_tokens,
                &io[&format!("{tag}_mask_tokens")],
                &mut worst,
            );
            if let Some(x) = out.extra_tokens {
                check(
                    &format!("{tag} extra tokens"),
                    &x,
                    &io[&format!("{tag}_extra_tokens")],
                    &mut worst,
                );
            }
        }
        eprintln!("{worst:?}");
        // The registry builds both fixtures through this loader.
        for sub in ["hf", "mobilesam"] {
            let d = fixture(sub);
            let arch = crate::models::registry::detect(&d).unwrap();
            crate::models::registry::validate(&d, arch, &dev).unwrap();
        }
    }

    #[test]
    fn hf_names_convert_to_fair_and_fair_sizes_are_inferred() {
        let cases = [
            (
                "vision_encoder.patch_embed.projection.weight",
                "image_encoder.patch_embed.proj.weight",
            ),
            (
                "vision_encoder.layers.3.layer_norm1.bias",
                "image_encoder.blocks.3.norm1.bias",
            ),
            (
                "vision_encoder.layers.11.attn.rel_pos_w",
                "image_encoder.blocks.11.attn.rel_pos_w",
            ),
            (
                "vision_encoder.neck.layer_norm2.weight",
                "image_encoder.neck.3.weight",
            ),
            (
                "shared_image_embedding.positional_embedding",
                "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
            ),
            (
                "prompt_encoder.point_embed.2.weight",
                "prompt_encoder.point_embeddings.2.weight",
            ),
            (
                "prompt_encoder.mask_embed.conv3.bias",
                "prompt_encoder.mask_downscaling.6.bias",
            ),
            (
                "mask_decoder.transformer.layers.1.layer_norm4.weight",
                "mask_decoder.transformer.layers.1.norm4.weight",
            ),
            (
                "mask_decoder.transformer.layer_norm_final_attn.bias",
                "mask_decoder.transformer.norm_final_attn.bias",
            ),
            (
                "mask_decoder.upscale_layer_norm.weight",
                "mask_decoder.output_upscaling.1.weight",
            ),
            (
                "mask_decoder.output_hypernetworks_mlps.3.proj_out.weight",
                "mask_decoder.output_hypernetworks_mlps.3.layers.2.weight",
            ),
            (
                "mask_decoder.output_hypernetworks_mlps.0.layers.0.bias",
                "mask_decoder.output_hypernetworks_mlps.0.layers.1.bias",
            ),
            (
                "mask_decoder.iou_prediction_head.proj_in.weight",
                "mask_decoder.iou_prediction_head.layers.0.weight",
            ),
            (
                "mask_decoder.iou_prediction_head.proj_out.bias",
                "mask_decoder.iou_prediction_head.layers.2.bias",
            ),
        ];
        for (hf, fair) in cases {
            assert_eq!(hf_to_fair_name(hf, 3).as_deref(), Some(fair), "{hf}");
        }
        // The converted HF fixture, read as a FAIR checkpoint, gives back its configuration.
        let dev = Device::Cpu;
        let dir = fixture("hf");
        let hf_cfg = SamConfig::from_hf_json(&dir.join("config.json")).unwrap();
        let w = hf_to_fair(Weights::load(&dir, &dev).unwrap(), 3);
        assert_eq!(SamLayout::detect(w.names()), Some(SamLayout::Fair));
        let mut inferred = SamConfig::infer_fair(&w).unwrap();
        inferred.mask_decoder.num_attention_heads = 2;
        inferred.mask_decoder.layer_norm_eps = 1e-6;
        assert_eq!(inferred, hf_cfg);
        // Every converted tensor is used.
        assert_eq!(unused_tensors(&hf_cfg, &w).unwrap(), Vec::<String>::new());
        let u = unused_tensors(
            &SamConfig::infer_fair(&Weights::load(&fixture("mobilesam"), &dev).unwrap()).unwrap(),
            &Weights::load(&fixture("mobilesam"), &dev).unwrap(),
        )
        .unwrap();
        assert!(
            u.iter()
                .all(|n| n.contains("num_batches_tracked") || n.contains("norm_head")),
            "{u:?}"
        );
    }

    #[test]
    fn errors_name_the_checkpoint_and_tensor() {
        let dev = Device::Cpu;
        let d = tempfile::tempdir().unwrap();
        let mut w: HashMap<String, Tensor> =
            candle_core::safetensors::load(fixture("mobilesam").join("model.safetensors"), &dev)
                .unwrap();
        w.remove("mask_decoder.iou_token.weight");
        w.insert(
            "mask_decoder.mask_tokens.weight".into(),
            Tensor::zeros((3, 16), candle_core::DType::F32, &dev).unwrap(),
        );
        let p = d.path().join("model.safetensors");
        crate::models::loading::save_safetensors(&p, &w).unwrap();
        let e = Sam::load(d.path(), &dev).unwrap_err().to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("mask_decoder.iou_token.weight"),
            "{e}"
        );
        let cfg = SamConfig::mobile_sam();
        let e = Sam::load_with_config(d.path(), &cfg, &dev)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("image_encoder"),
            "{e}"
        );
        // A Hugging Face checkpoint without its config.json.
        std::fs::copy(fixture("hf").join("model.safetensors"), &p).unwrap();
        let e = Sam::load(d.path(), &dev).unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
        let cfg = SamConfig::from_hf_json(&fixture("hf").join("config.json")).unwrap();
        assert!(Sam::load_with_config(d.path(), &cfg, &dev).is_ok());
        assert_eq!(SamLayout::detect(["text_model.x"]), None);
    }
}
