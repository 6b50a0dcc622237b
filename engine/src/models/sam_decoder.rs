//! SAM's prompt encoder and mask decoder (Kirillov et al. 2023, "Segment Anything"), in the
//! original FAIR key layout (`prompt_encoder.*`, `mask_decoder.*`; a Hugging Face checkpoint is
//! converted by [`crate::models::sam::hf_to_fair_name`]), with a mask decoder that accepts
//! extra learnable tokens, as EmoSEM's emotion prompts need.
//!
//! The extra tokens `[B, K, D]` are placed after SAM's output tokens (IoU token, mask tokens)
//! and before the sparse prompt tokens, exactly as if they were the first sparse prompt tokens;
//! the decoder returns their output embeddings from the two-way transformer alongside the
//! masks, the IoU predictions and the mask-token outputs. `num_blocks` runs only the first N
//! blocks of the two-way transformer (EmoSEM uses 2, which is all of SAM's).
//!
//! Training: every operation has a backward pass. [`Mode::Train`] selects composed layer norm
//! and softmax (candle has no backward through the fused kernels); the 2x2 stride-2 transposed
//! convolutions of `output_upscaling` are written as a matmul (the same operation, kernel =
//! stride so no overlap), and `LayerNorm2d` is always composed. Every decoder parameter
//! receives a gradient (tested).
//!
//! Parity: `tests/fixtures/parity/sam/` (`tools/parity/sam.py`): against Hugging Face
//! `SamPromptEncoder` / `SamMaskDecoder` (HF layout, converted) and MobileSAM's FAIR
//! `PromptEncoder` / `MaskDecoder` (native layout), extra tokens included; the measured
//! differences are in `sam.rs`'s tests.

use candle_core::{DType, IndexOp, Module, Tensor, D};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::nn::{linear, softmax, LayerNorm, Mode};

const RANDN: Init = Init::Randn {
    mean: 0.0,
    stdev: 1.0,
};

/// Prompt encoder configuration (Hugging Face `SamPromptEncoderConfig`; defaults: SAM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamPromptEncoderConfig {
    /// Prompt embedding width (256).
    pub hidden_size: usize,
    /// Side of the (padded) input image in pixels (1024): point and box coordinates are in
    /// this frame.
    pub image_size: usize,
    /// Image pixels per embedding cell (16): the image embedding is `image_size / patch_size`
    /// cells per side.
    pub patch_size: usize,
    /// Channels of the mask downscaling network (16).
    pub mask_input_channels: usize,
    /// Point embeddings (4: negative point, positive point, two box corners).
    pub num_point_embeddings: usize,
    /// Activation of the mask downscaling network (`gelu`, exact).
    pub hidden_act: String,
    /// Epsilon of the mask downscaling layer norms (1e-6).
    pub layer_norm_eps: f64,
}

impl Default for SamPromptEncoderConfig {
    fn default() -> Self {
        SamPromptEncoderConfig {
            hidden_size: 256,
            image_size: 1024,
            patch_size: 16,
            mask_input_channels: 16,
            num_point_embeddings: 4,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-6,
        }
    }
}

impl SamPromptEncoderConfig {
    /// Cells per side of the image embedding.
    pub fn image_embedding_size(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.hidden_size == 0 || !self.hidden_size.is_multiple_of(2) {
            return Err(format!(
                "prompt encoder `hidden_size` {} must be even and positive",
                self.hidden_size
            ));
        }
        if self.patch_size == 0
            || self.image_size == 0
            || !self.image_size.is_multiple_of(self.patch_size)
        {
            return Err(format!(
                "prompt encoder `image_size` {} is not a multiple of `patch_size` {}",
                self.image_size, self.patch_size
            ));
        }
        if self.num_point_embeddings != 4 {
            return Err(format!(
                "prompt encoder `num_point_embeddings` {} (SAM has 4)",
                self.num_point_embeddings
            ));
        }
        if self.mask_input_channels < 4 || !self.mask_input_channels.is_multiple_of(4) {
            return Err(format!(
                "prompt encoder `mask_input_channels` {} must be a positive multiple of 4",
                self.mask_input_channels
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "prompt encoder `hidden_act` {:?} (only `gelu`)",
                self.hidden_act
            ));
        }
        Ok(())
    }
}

/// Mask decoder configuration (Hugging Face `SamMaskDecoderConfig`; defaults: SAM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamMaskDecoderConfig {
    /// Transformer width (256).
    pub hidden_size: usize,
    /// Activation of the two-way blocks' MLP (`relu`).
    pub hidden_act: String,
    /// Width of the two-way blocks' MLP (2048).
    pub mlp_dim: usize,
    /// Two-way transformer blocks (2).
    pub num_hidden_layers: usize,
    /// Attention heads (8).
    pub num_attention_heads: usize,
    /// Cross-attention inner width divisor (2).
    pub attention_downsample_rate: usize,
    /// Masks in multimask mode (3); the decoder has one more mask token.
    pub num_multimask_outputs: usize,
    /// Layers of the IoU head (3).
    pub iou_head_depth: usize,
    /// Width of the IoU head (256).
    pub iou_head_hidden_dim: usize,
    /// Epsilon of the two-way blocks' layer norms: 1e-6 in Hugging Face's `SamMaskDecoder`,
    /// 1e-5 (PyTorch's default) in the original FAIR code.
    pub layer_norm_eps: f64,
    /// Epsilon of the final layer norm (`norm_final_attn`): 1e-5 in both implementations.
    /// Not a Hugging Face field.
    pub final_layer_norm_eps: f64,
}

impl Default for SamMaskDecoderConfig {
    fn default() -> Self {
        SamMaskDecoderConfig {
            hidden_size: 256,
            hidden_act: "relu".into(),
            mlp_dim: 2048,
            num_hidden_layers: 2,
            num_attention_heads: 8,
            attention_downsample_rate: 2,
            num_multimask_outputs: 3,
            iou_head_depth: 3,
            iou_head_hidden_dim: 256,
            layer_norm_eps: 1e-6,
            final_layer_norm_eps: 1e-5,
        }
    }
}

impl SamMaskDecoderConfig {
    /// The original FAIR decoder (layer norms at PyTorch's default 1e-5).
    pub fn fair() -> Self {
        SamMaskDecoderConfig {
            layer_norm_eps: 1e-5,
            ..Self::default()
        }
    }

    /// Mask tokens (`num_multimask_outputs + 1`).
    pub fn num_mask_tokens(&self) -> usize {
        self.num_multimask_outputs + 1
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        let d = self.hidden_size;
        if d == 0 || !d.is_multiple_of(8) {
            return Err(format!(
                "mask decoder `hidden_size` {d} must be a positive multiple of 8"
            ));
        }
        let rate = self.attention_downsample_rate.max(1);
        let heads = self.num_attention_heads;
        if heads == 0 || !d.is_multiple_of(heads) || !(d / rate).is_multiple_of(heads) {
            return Err(format!("mask decoder: {heads} heads do not divide `hidden_size` {d} / `attention_downsample_rate` {rate}"));
        }
        if self.iou_head_depth < 2 {
            return Err(format!(
                "mask decoder `iou_head_depth` {} (at least 2)",
                self.iou_head_depth
            ));
        }
        if self.hidden_act != "relu" {
            return Err(format!(
                "mask decoder `hidden_act` {:?} (only `relu`)",
                self.hidden_act
            ));
        }
        Ok(())
    }
}

/// Channel-wise layer norm of `[B, C, H, W]` maps (SAM's `LayerNorm2d`), always composed.
#[derive(Debug, Clone)]
pub struct LayerNorm2d {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm2d {
    /// Loads `weight` and `bias` of size `channels`.
    pub fn new(channels: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(LayerNorm2d {
            weight: vb
                .get_with_hints(channels, "weight", Init::Const(1.0))?
                .reshape((1, channels, 1, 1))?,
            bias: vb
                .get_with_hints(channels, "bias", Init::Const(0.0))?
                .reshape((1, channels, 1, 1))?,
            eps,
        })
    }
}

impl Module for LayerNorm2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let u = x.mean_keepdim(1)?;
        let x = x.broadcast_sub(&u)?;
        let s = x.sqr()?.mean_keepdim(1)?;
        let x = x.broadcast_div(&(s + self.eps)?.sqrt()?)?;
        x.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// A convolution with bias, as `torch.nn.Conv2d` (`weight` [out, in, k, k], `bias` [out]).
#[derive(Debug, Clone)]
struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
}

impl Conv {
    fn new(
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let bound = 1.0 / ((c_in * k * k) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Conv {
            weight: vb.get_with_hints((c_out, c_in, k, k), "weight", init)?,
            bias: vb
                .get_with_hints(c_out, "bias", init)?
                .reshape((1, c_out, 1, 1))?,
            stride,
        })
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.conv2d(&self.weight, 0, self.stride, 1, 1)?
            .broadcast_add(&self.bias)
    }
}

/// SAM's prompt encoder: random-Fourier positional encoding of points and box corners, learned
/// point-type embeddings, and a small convolutional network for mask prompts.
#[derive(Debug, Clone)]
pub struct PromptEncoder {
    /// `pe_layer.positional_encoding_gaussian_matrix`, `[2, D / 2]`.
    gaussian: Tensor,
    /// `point_embeddings.{0..3}.weight`, each `[1, D]`: negative point, positive point, box
    /// top-left, box bottom-right.
    point_embeddings: Vec<Tensor>,
    not_a_point_embed: Tensor,
    no_mask_embed: Tensor,
    mask_conv1: Conv,
    mask_ln1: LayerNorm2d,
    mask_conv2: Conv,
    mask_ln2: LayerNorm2d,
    mask_conv3: Conv,
    embed_dim: usize,
    embedding_size: usize,
    input_size: usize,
}

impl PromptEncoder {
    /// Builds the encoder from `vb` rooted at `prompt_encoder` (FAIR names).
    pub fn new(cfg: &SamPromptEncoderConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        let d = cfg.hidden_size;
        let m = cfg.mask_input_channels;
        let point_embeddings = (0..cfg.num_point_embeddings)
            .map(|i| {
                vb.pp("point_embeddings")
                    .pp(i)
                    .get_with_hints((1, d), "weight", RANDN)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let ds = vb.pp("mask_downscaling");
        Ok(PromptEncoder {
            gaussian: vb.pp("pe_layer").get_with_hints(
                (2, d / 2),
                "positional_encoding_gaussian_matrix",
                RANDN,
            )?,
            point_embeddings,
            not_a_point_embed: vb.pp("not_a_point_embed").get_with_hints(
                (1, d),
                "weight",
                RANDN,
            )?,
            no_mask_embed: vb
                .pp("no_mask_embed")
                .get_with_hints((1, d), "weight", RANDN)?,
            mask_conv1: Conv::new(1, m / 4, 2, 2, ds.pp("0"))?,
            mask_ln1: LayerNorm2d::new(m / 4, cfg.layer_norm_eps, ds.pp("1"))?,
            mask_conv2: Conv::new(m / 4, m, 2, 2, ds.pp("3"))?,
            mask_ln2: LayerNorm2d::new(m, cfg.layer_norm_eps, ds.pp("4"))?,
            mask_conv3: Conv::new(m, d, 1, 1, ds.pp("6"))?,
            embed_dim: d,
            embedding_size: cfg.image_embedding_size(),
            input_size: cfg.image_size,
        })
    }

    /// Prompt embedding width.
    pub fn embed_dim(&self) -> usize {
        self.embed_dim
    }

    /// Cells per side of the image embedding the prompts are matched with.
    pub fn image_embedding_size(&self) -> usize {
        self.embedding_size
    }

    /// Encodes coordinates already normalised to `[0, 1]` (`[..., 2]`, x then y).
    fn pe_encoding(&self, coords: &Tensor) -> candle_core::Result<Tensor> {
        let coords = coords.affine(2.0, -1.0)?;
        let coords = (coords.broadcast_matmul(&self.gaussian)? * (2.0 * std::f64::consts::PI))?;
        Tensor::cat(&[coords.sin()?, coords.cos()?], D::Minus1)
    }

    /// The positional encoding of every image-embedding cell, `[1, D, h, w]`
    /// (SAM's `get_dense_pe`, HF's `get_image_wide_positional_embeddings`).
    pub fn dense_pe(&self) -> Result<Tensor> {
        let n = self.embedding_size;
        let dev = self.gaussian.device();
        let step = (Tensor::arange(0u32, n as u32, dev)?.to_dtype(DType::F32)? + 0.5)?;
        let step = (step / n as f64)?;
        let x = step.reshape((1, n))?.broadcast_as((n, n))?;
        let y = step.reshape((n, 1))?.broadcast_as((n, n))?;
        let coords = Tensor::stack(&[&x, &y], D::Minus1)?;
        Ok(self
            .pe_encoding(&coords)?
            .permute((2, 0, 1))?
            .unsqueeze(0)?)
    }

    fn encode_coords(&self, coords: &Tensor) -> candle_core::Result<Tensor> {
        // Shift to the pixel centre and normalise by the input size (x by width, y by height).
        self.pe_encoding(&((coords + 0.5)? / self.input_size as f64)?)
    }

    fn embed_points(
        &self,
        points: &Tensor,
        labels: &Tensor,
        pad: bool,
    ) -> candle_core::Result<Tensor> {
        let (points, labels) = if pad {
            let b = points.dim(0)?;
            // The padding point sits at -0.5 so that, once shifted, it is at the origin (as in
            // SAM, where the zero padding point is appended after the shift).
            let pad_point = Tensor::full(-0.5f32, (b, 1, 2), points.device())?;
            let pad_label = Tensor::full(-1f32, (b, 1), labels.device())?;
            (
                Tensor::cat(&[points, &pad_point], 1)?,
                Tensor::cat(&[labels, &pad_label], 1)?,
            )
        } else {
            (points.clone(), labels.clone())
        };
        let pe = self.encode_coords(&points)?;
        let labels = labels.unsqueeze(2)?;
        let is = |v: f64| -> candle_core::Result<Tensor> { labels.eq(v)?.to_dtype(DType::F32) };
        // label -1: not a point; -10 (Hugging Face's padding): zero; 0 / 1: negative / positive.
        let not_a_point = is(-1.0)?;
        let emb = (pe.broadcast_mul(&(1.0 - &not_a_point)?)?
            + not_a_point.broadcast_mul(&self.not_a_point_embed.unsqueeze(0)?)?)?;
        let emb = emb.broadcast_mul(&(1.0 - is(-10.0)?)?)?;
        let emb = (emb + is(0.0)?.broadcast_mul(&self.point_embeddings[0].unsqueeze(0)?)?)?;
        emb + is(1.0)?.broadcast_mul(&self.point_embeddings[1].unsqueeze(0)?)?
    }

    fn embed_boxes(&self, boxes: &Tensor) -> candle_core::Result<Tensor> {
        let b = boxes.dim(0)?;
        let corners = self.encode_coords(&boxes.reshape((b, 2, 2))?)?;
        let c0 = corners
            .i((.., 0..1))?
            .broadcast_add(&self.point_embeddings[2])?;
        let c1 = corners
            .i((.., 1..2))?
            .broadcast_add(&self.point_embeddings[3])?;
        Tensor::cat(&[&c0, &c1], 1)
    }

    /// Dense embeddings of mask prompts `[B, 1, 4h, 4w]` (low-resolution mask logits).
    pub fn embed_masks(&self, masks: &Tensor) -> Result<Tensor> {
        Ok(masks
            .apply(&self.mask_conv1)?
            .apply(&self.mask_ln1)?
            .gelu_erf()?
            .apply(&self.mask_conv2)?
            .apply(&self.mask_ln2)?
            .gelu_erf()?
            .apply(&self.mask_conv3)?)
    }

    /// Embeds prompts, one prompt per batch row: `points` `[B, N, 2]` (x, y in pixels of the
    /// padded `image_size` input) with `labels` `[B, N]` (1 positive, 0 negative, -1 not a
    /// point, -10 ignored), `boxes` `[B, 4]` (x0, y0, x1, y1), `masks` `[B, 1, 4h, 4w]`.
    /// Returns the sparse embeddings `[B, N (+1 padding point when there is no box) + 2 per
    /// box, D]` and the dense embeddings `[B, D, h, w]` (`no_mask_embed` everywhere when there
    /// is no mask), as SAM's `PromptEncoder.forward`.
    pub fn forward(
        &self,
        points: Option<(&Tensor, &Tensor)>,
        boxes: Option<&Tensor>,
        masks: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let b = match (points, boxes, masks) {
            (Some((p, _)), _, _) => p.dim(0)?,
            (None, Some(bx), _) => bx.dim(0)?,
            (None, None, Some(m)) => m.dim(0)?,
            _ => 1,
        };
        let mut sparse = Vec::new();
        if let Some((p, l)) = points {
            if p.rank() != 3 || p.dim(2)? != 2 || l.dims() != &p.dims()[..2] {
                return Err(Error::Invalid(format!(
                    "SAM prompt: points must be [B, N, 2] with labels [B, N], got {:?} and {:?}",
                    p.dims(),
                    l.dims()
                )));
            }
            sparse.push(self.embed_points(
                &p.to_dtype(DType::F32)?,
                &l.to_dtype(DType::F32)?,
                boxes.is_none(),
            )?);
        }
        if let Some(bx) = boxes {
            if bx.dims() != [b, 4] {
                return Err(Error::Invalid(format!(
                    "SAM prompt: boxes must be [{b}, 4], got {:?}",
                    bx.dims()
                )));
            }
            sparse.push(self.embed_boxes(&bx.to_dtype(DType::F32)?)?);
        }
        let sparse = if sparse.is_empty() {
            Tensor::zeros((b, 0, self.embed_dim), DType::F32, self.gaussian.device())?
        } else {
            Tensor::cat(&sparse, 1)?
        };
        let n = self.embedding_size;
        let dense = match masks {
            Some(m) => {
                if m.dims() != [b, 1, 4 * n, 4 * n] {
                    let side = 4 * n;
                    return Err(Error::Invalid(format!(
                        "SAM prompt: masks must be [{b}, 1, {side}, {side}], got {:?}",
                        m.dims()
                    )));
                }
                self.embed_masks(m)?
            }
            None => self
                .no_mask_embed
                .reshape((1, self.embed_dim, 1, 1))?
                .broadcast_as((b, self.embed_dim, n, n))?,
        };
        Ok((sparse, dense))
    }
}

/// A stack of linear layers with ReLU between them (`layers.{i}`), SAM's `MLP`.
#[derive(Debug, Clone)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(
        input: usize,
        hidden: usize,
        output: usize,
        depth: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let layers = (0..depth)
            .map(|i| {
                let i_dim = if i == 0 { input } else { hidden };
                let o_dim = if i + 1 == depth { output } else { hidden };
                linear(i_dim, o_dim, true, vb.pp("layers").pp(i))
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Mlp { layers })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(&x)?;
            if i + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }
}

/// Attention with an optionally narrower inner width (`q_proj`, `k_proj`, `v_proj`, `out_proj`).
#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl Attention {
    fn new(d: usize, heads: usize, downsample: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let inner = d / downsample;
        Ok(Attention {
            q_proj: linear(d, inner, true, vb.pp("q_proj"))?,
            k_proj: linear(d, inner, true, vb.pp("k_proj"))?,
            v_proj: linear(d, inner, true, vb.pp("v_proj"))?,
            out_proj: linear(inner, d, true, vb.pp("out_proj"))?,
            heads,
        })
    }

    fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mode: Mode,
    ) -> candle_core::Result<Tensor> {
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            let (b, n, c) = t.dims3()?;
            t.reshape((b, n, self.heads, c / self.heads))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q_proj.forward(q)?)?;
        let k = split(self.k_proj.forward(k)?)?;
        let v = split(self.v_proj.forward(v)?)?;
        let (b, h, n, c) = q.dims4()?;
        let att = (q.matmul(&k.t()?)? / (c as f64).sqrt())?;
        let att = softmax(&att, mode)?;
        let out = att.matmul(&v)?.transpose(1, 2)?.reshape((b, n, h * c))?;
        self.out_proj.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct TwoWayBlock {
    self_attn: Attention,
    norm1: LayerNorm,
    cross_attn_token_to_image: Attention,
    norm2: LayerNorm,
    lin1: Linear,
    lin2: Linear,
    norm3: LayerNorm,
    norm4: LayerNorm,
    cross_attn_image_to_token: Attention,
    skip_first_layer_pe: bool,
}

impl TwoWayBlock {
    fn new(
        cfg: &SamMaskDecoderConfig,
        skip_first_layer_pe: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let (d, h, r, eps) = (
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.attention_downsample_rate.max(1),
            cfg.layer_norm_eps,
        );
        Ok(TwoWayBlock {
            self_attn: Attention::new(d, h, 1, vb.pp("self_attn"))?,
            norm1: LayerNorm::new(d, eps, vb.pp("norm1"))?,
            cross_attn_token_to_image: Attention::new(d, h, r, vb.pp("cross_attn_token_to_image"))?,
            norm2: LayerNorm::new(d, eps, vb.pp("norm2"))?,
            lin1: linear(d, cfg.mlp_dim, true, vb.pp("mlp.lin1"))?,
            lin2: linear(cfg.mlp_dim, d, true, vb.pp("mlp.lin2"))?,
            norm3: LayerNorm::new(d, eps, vb.pp("norm3"))?,
            norm4: LayerNorm::new(d, eps, vb.pp("norm4"))?,
            cross_attn_image_to_token: Attention::new(d, h, r, vb.pp("cross_attn_image_to_token"))?,
            skip_first_layer_pe,
        })
    }

    fn forward(
        &self,
        queries: &Tensor,
        keys: &Tensor,
        query_pe: &Tensor,
        key_pe: &Tensor,
        mode: Mode,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let queries = if self.skip_first_layer_pe {
            self.self_attn.forward(queries, queries, queries, mode)?
        } else {
            let q = (queries + query_pe)?;
            (queries + self.self_attn.forward(&q, &q, queries, mode)?)?
        };
        let queries = self.norm1.forward(&queries, mode)?;
        let q = (&queries + query_pe)?;
        let k = (keys + key_pe)?;
        let queries = (&queries + self.cross_attn_token_to_image.forward(&q, &k, keys, mode)?)?;
        let queries = self.norm2.forward(&queries, mode)?;
        let mlp = self.lin2.forward(&self.lin1.forward(&queries)?.relu()?)?;
        let queries = self.norm3.forward(&(queries + mlp)?, mode)?;
        let q = (&queries + query_pe)?;
        let keys = (keys
            + self
                .cross_attn_image_to_token
                .forward(&k, &q, &queries, mode)?)?;
        let keys = self.norm4.forward(&keys, mode)?;
        Ok((queries, keys))
    }
}

/// SAM's two-way transformer (`transformer.layers.{i}`, `final_attn_token_to_image`,
/// `norm_final_attn`).
#[derive(Debug, Clone)]
struct TwoWayTransformer {
    layers: Vec<TwoWayBlock>,
    final_attn_token_to_image: Attention,
    norm_final_attn: LayerNorm,
}

impl TwoWayTransformer {
    fn new(cfg: &SamMaskDecoderConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| TwoWayBlock::new(cfg, i == 0, vb.pp("layers").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        let d = cfg.hidden_size;
        Ok(TwoWayTransformer {
            layers,
            final_attn_token_to_image: Attention::new(
                d,
                cfg.num_attention_heads,
                cfg.attention_downsample_rate.max(1),
                vb.pp("final_attn_token_to_image"),
            )?,
            norm_final_attn: LayerNorm::new(d, cfg.final_layer_norm_eps, vb.pp("norm_final_attn"))?,
        })
    }

    /// `image` and `image_pe` `[B, HW, C]`, `tokens` `[B, T, C]`; returns (queries, keys).
    fn forward(
        &self,
        image: &Tensor,
        image_pe: &Tensor,
        tokens: &Tensor,
        blocks: usize,
        mode: Mode,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let mut queries = tokens.clone();
        let mut keys = image.clone();
        for layer in self.layers.iter().take(blocks) {
            (queries, keys) = layer.forward(&queries, &keys, tokens, image_pe, mode)?;
        }
        let q = (&queries + tokens)?;
        let k = (&keys + image_pe)?;
        let out = self
            .final_attn_token_to_image
            .forward(&q, &k, &keys, mode)?;
        let queries = self.norm_final_attn.forward(&(queries + out)?, mode)?;
        Ok((queries, keys))
    }
}

/// A 2x2, stride-2 transposed convolution (`weight` [in, out, 2, 2], `bias` [out]) written as
/// a matmul: the kernel equals the stride, so output cells do not overlap.
#[derive(Debug, Clone)]
struct Upscale2x {
    /// `[in, out * 4]`.
    weight: Tensor,
    bias: Tensor,
    c_out: usize,
}

impl Upscale2x {
    fn new(c_in: usize, c_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let bound = 1.0 / ((c_out * 4) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Upscale2x {
            weight: vb
                .get_with_hints((c_in, c_out, 2, 2), "weight", init)?
                .reshape((c_in, c_out * 4))?,
            bias: vb
                .get_with_hints(c_out, "bias", init)?
                .reshape((1, c_out, 1, 1))?,
            c_out,
        })
    }
}

impl Module for Upscale2x {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let y = x
            .permute((0, 2, 3, 1))?
            .reshape((b * h * w, c))?
            .matmul(&self.weight)?;
        y.reshape((b, h, w, self.c_out, 2, 2))?
            .permute((0, 3, 1, 4, 2, 5))?
            .reshape((b, self.c_out, 2 * h, 2 * w))?
            .broadcast_add(&self.bias)
    }
}

/// Outputs of [`MaskDecoder::forward`].
#[derive(Debug, Clone)]
pub struct MaskDecoderOutput {
    /// Low-resolution mask logits `[B, 3, 4h, 4w]` (multimask) or `[B, 1, 4h, 4w]`.
    pub masks: Tensor,
    /// Predicted IoU of each returned mask, `[B, 3]` or `[B, 1]`.
    pub iou_predictions: Tensor,
    /// The IoU token's output embedding, `[B, D]`.
    pub iou_token: Tensor,
    /// Every mask token's output embedding, `[B, num_multimask_outputs + 1, D]` (token 0 is
    /// the single-mask token; multimask output uses tokens 1..).
    pub mask_tokens: Tensor,
    /// The extra tokens' output embeddings, `[B, K, D]`, when extra tokens were given.
    pub extra_tokens: Option<Tensor>,
    /// The upscaled image embedding the hypernetworks' outputs are multiplied with,
    /// `[B, D / 8, 4h, 4w]` (EmoSEM applies its own mask tokens' hypernetworks to it).
    pub upscaled: Tensor,
}

/// SAM's mask decoder with extra-token support (`mask_decoder.*`, FAIR names).
#[derive(Debug, Clone)]
pub struct MaskDecoder {
    iou_token: Tensor,
    mask_tokens: Tensor,
    transformer: TwoWayTransformer,
    upscale1: Upscale2x,
    upscale_ln: LayerNorm2d,
    upscale2: Upscale2x,
    hypernetworks: Vec<Mlp>,
    iou_head: Mlp,
    num_mask_tokens: usize,
    num_blocks: usize,
    cfg: SamMaskDecoderConfig,
}

impl MaskDecoder {
    /// Builds the decoder from `vb` rooted at `mask_decoder` (FAIR names). With a
    /// `VarMap`-backed builder this creates trainable variables (tokens ~ N(0, 1), layer norms
    /// at 1/0, PyTorch-like uniform convolutions, Kaiming linears).
    pub fn new(cfg: &SamMaskDecoderConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        let d = cfg.hidden_size;
        let m = cfg.num_mask_tokens();
        let hypernetworks = (0..m)
            .map(|i| Mlp::new(d, d, d / 8, 3, vb.pp("output_hypernetworks_mlps").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        let up = vb.pp("output_upscaling");
        Ok(MaskDecoder {
            iou_token: vb.pp("iou_token").get_with_hints((1, d), "weight", RANDN)?,
            mask_tokens: vb
                .pp("mask_tokens")
                .get_with_hints((m, d), "weight", RANDN)?,
            transformer: TwoWayTransformer::new(cfg, vb.pp("transformer"))?,
            upscale1: Upscale2x::new(d, d / 4, up.pp("0"))?,
            upscale_ln: LayerNorm2d::new(d / 4, 1e-6, up.pp("1"))?,
            upscale2: Upscale2x::new(d / 4, d / 8, up.pp("3"))?,
            hypernetworks,
            iou_head: Mlp::new(
                d,
                cfg.iou_head_hidden_dim,
                m,
                cfg.iou_head_depth,
                vb.pp("iou_prediction_head"),
            )?,
            num_mask_tokens: m,
            num_blocks: cfg.num_hidden_layers,
            cfg: cfg.clone(),
        })
    }

    /// Uses only the first `n` blocks of the two-way transformer (the final token-to-image
    /// attention and its layer norm always run). `n` is capped at the number of blocks.
    pub fn with_num_blocks(mut self, n: usize) -> Self {
        self.num_blocks = n.min(self.cfg.num_hidden_layers);
        self
    }

    /// Two-way transformer blocks in use.
    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }

    /// The configuration.
    pub fn config(&self) -> &SamMaskDecoderConfig {
        &self.cfg
    }

    /// Predicts masks. `image_embeddings` `[B or 1, D, h, w]` (one image for all prompts when
    /// 1), `image_pe` `[1, D, h, w]` ([`PromptEncoder::dense_pe`]), `sparse_prompt_embeddings`
    /// `[B, N, D]`, `dense_prompt_embeddings` `[B or 1, D, h, w]`, `extra_tokens` `[B, K, D]`
    /// (placed after the output tokens and before the sparse prompts). Returns the masks and
    /// IoU predictions selected by `multimask_output` as SAM (tokens 1.. or token 0), and the
    /// token output embeddings.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        image_embeddings: &Tensor,
        image_pe: &Tensor,
        sparse_prompt_embeddings: &Tensor,
        dense_prompt_embeddings: &Tensor,
        multimask_output: bool,
        extra_tokens: Option<&Tensor>,
        mode: Mode,
    ) -> Result<MaskDecoderOutput> {
        let d = self.cfg.hidden_size;
        let (b, _, sd) = sparse_prompt_embeddings.dims3()?;
        let (bi, c, h, w) = image_embeddings.dims4()?;
        if sd != d || c != d || (bi != b && bi != 1) {
            return Err(Error::Invalid(format!(
                "SAM mask decoder (width {d}): image embeddings {:?} and sparse prompts {:?} do not match ([B or 1, {d}, h, w] and [B, N, {d}])",
                image_embeddings.dims(),
                sparse_prompt_embeddings.dims()
            )));
        }
        let k = match extra_tokens {
            Some(e) => {
                let (eb, k, ed) = e.dims3()?;
                if eb != b || ed != d {
                    return Err(Error::Invalid(format!(
                        "SAM mask decoder: extra tokens must be [{b}, K, {d}], got {:?}",
                        e.dims()
                    )));
                }
                k
            }
            None => 0,
        };
        let m = self.num_mask_tokens;
        let output_tokens = Tensor::cat(&[&self.iou_token, &self.mask_tokens], 0)?
            .unsqueeze(0)?
            .broadcast_as((b, m + 1, d))?;
        let mut parts = vec![output_tokens];
        if let Some(e) = extra_tokens {
            parts.push(e.clone());
        }
        parts.push(sparse_prompt_embeddings.clone());
        let tokens = Tensor::cat(&parts, 1)?;

        let src = image_embeddings
            .broadcast_add(dense_prompt_embeddings)?
            .broadcast_as((b, c, h, w))?;
        let src = src.flatten_from(2)?.transpose(1, 2)?.contiguous()?;
        let pos = image_pe
            .broadcast_as((b, c, h, w))?
            .flatten_from(2)?
            .transpose(1, 2)?
            .contiguous()?;
        let (hs, src) = self
            .transformer
            .forward(&src, &pos, &tokens, self.num_blocks, mode)?;
        let iou_token = hs.i((.., 0))?;
        let mask_tokens = hs.i((.., 1..1 + m))?;
        let extra = if k > 0 {
            Some(hs.i((.., 1 + m..1 + m + k))?)
        } else {
            None
        };

        let src = src.transpose(1, 2)?.reshape((b, c, h, w))?;
        let up = self
            .upscale1
            .forward(&src)?
            .apply(&self.upscale_ln)?
            .gelu_erf()?;
        let up = self.upscale2.forward(&up)?.gelu_erf()?;
        let hyper = self
            .hypernetworks
            .iter()
            .enumerate()
            .map(|(i, mlp)| mlp.forward(&mask_tokens.i((.., i))?))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let hyper = Tensor::stack(&hyper, 1)?;
        let (_, cu, hu, wu) = up.dims4()?;
        let masks = hyper
            .matmul(&up.reshape((b, cu, hu * wu))?)?
            .reshape((b, m, hu, wu))?;
        let iou = self.iou_head.forward(&iou_token)?;
        let (masks, iou) = if multimask_output {
            (masks.narrow(1, 1, m - 1)?, iou.narrow(1, 1, m - 1)?)
        } else {
            (masks.narrow(1, 0, 1)?, iou.narrow(1, 0, 1)?)
        };
        Ok(MaskDecoderOutput {
            masks,
            iou_predictions: iou,
            iou_token,
            mask_tokens,
            extra_tokens: extra,
            upscaled: up,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    fn small() -> SamMaskDecoderConfig {
        SamMaskDecoderConfig {
            hidden_size: 16,
            mlp_dim: 24,
            num_attention_heads: 2,
            iou_head_hidden_dim: 12,
            ..SamMaskDecoderConfig::fair()
        }
    }

    #[test]
    fn every_decoder_parameter_gets_a_gradient() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let dec = MaskDecoder::new(&small(), vb.pp("mask_decoder")).unwrap();
        let img = Tensor::randn(0f32, 1.0, (1, 16, 3, 3), &dev).unwrap();
        let pe = Tensor::randn(0f32, 1.0, (1, 16, 3, 3), &dev).unwrap();
        let sparse = Tensor::randn(0f32, 1.0, (2, 3, 16), &dev).unwrap();
        let dense = Tensor::randn(0f32, 1.0, (2, 16, 3, 3), &dev).unwrap();
        let extra =
            candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 2, 16), &dev).unwrap())
                .unwrap();
        let weights = Tensor::randn(0f32, 1.0, (2, 2, 16), &dev).unwrap();
        let mut loss = Tensor::new(0f32, &dev).unwrap();
        // Multimask and single-mask outputs together use every mask token and hypernetwork.
        for multi in [true, false] {
            let out = dec
                .forward(
                    &img,
                    &pe,
                    &sparse,
                    &dense,
                    multi,
                    Some(extra.as_tensor()),
                    Mode::Train,
                )
                .unwrap();
            assert_eq!(out.masks.dims(), [2, if multi { 3 } else { 1 }, 12, 12]);
            assert_eq!(out.mask_tokens.dims(), [2, 4, 16]);
            let e = out.extra_tokens.unwrap();
            assert_eq!(e.dims(), [2, 2, 16]);
            let l = (out.masks.sqr().unwrap().mean_all().unwrap()
                + out.iou_predictions.sum_all().unwrap())
            .unwrap();
            let l = (l + (e * &weights).unwrap().sum_all().unwrap()).unwrap();
            loss = (loss + l).unwrap();
        }
        let grads = loss.backward().unwrap();
        assert!(vm.all_vars().len() > 50);
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
        let g = grads
            .get(extra.as_tensor())
            .expect("gradient for the extra tokens");
        assert!(
            g.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }

    #[test]
    fn train_mode_matches_inference_and_num_blocks_caps() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let dec =
            MaskDecoder::new(&small(), VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let img = Tensor::randn(0f32, 1.0, (2, 16, 2, 2), &dev).unwrap();
        let pe = Tensor::randn(0f32, 1.0, (1, 16, 2, 2), &dev).unwrap();
        let sparse = Tensor::randn(0f32, 1.0, (2, 1, 16), &dev).unwrap();
        let a = dec
            .forward(&img, &pe, &sparse, &img, true, None, Mode::Infer)
            .unwrap();
        let b = dec
            .forward(&img, &pe, &sparse, &img, true, None, Mode::Train)
            .unwrap();
        let diff = crate::models::tests::max_diff(&a.masks, &b.masks);
        assert!(diff < 1e-4, "{diff}");
        assert!(a.extra_tokens.is_none());
        assert_eq!(dec.clone().with_num_blocks(7).num_blocks(), 2);
        let e = dec.forward(
            &img,
            &pe,
            &sparse,
            &img,
            true,
            Some(&sparse.narrow(2, 0, 8).unwrap()),
            Mode::Infer,
        );
        assert!(e.unwrap_err().to_string().contains("extra tokens"));
    }
}
