//! TinyViT image encoder of MobileSAM (Zhang et al. 2023, "Faster Segment Anything: Towards
//! Lightweight SAM for Mobile Applications"; TinyViT: Wu et al. 2022), matching
//! `mobile_sam/modeling/tiny_vit_sam.py` and the `mobile_sam.pt` checkpoint layout
//! (`image_encoder.patch_embed.seq.{0,2}.{c,bn}.*`, `image_encoder.layers.0.blocks.{i}.conv{1,2,3}.*`,
//! `image_encoder.layers.{i}.downsample.conv{1,2,3}.*`,
//! `image_encoder.layers.{1..3}.blocks.{j}.{attn.{norm,qkv,proj,attention_biases},local_conv,mlp.{norm,fc1,fc2}}.*`,
//! `image_encoder.neck.{0,1,2,3}.*`; the classification head `norm_head`/`head` is unused).
//!
//! Generalised where MobileSAM hard-codes its 1024-pixel input: the last stage's resolution is
//! `img_size / 16` (MobileSAM's `view(B, 64, 64, C)`), each patch merging's stride is the ratio
//! of the stage resolutions (MobileSAM picks stride 1 by `out_dim in (320, 448, 576)`, which is
//! the same for its checkpoints), and the neck width is `out_chans` (256).
//!
//! Inference only: BatchNorms are folded into their convolutions at load time, 1x1
//! convolutions run as matmuls, and the depthwise 3x3 convolutions run as a direct CPU kernel
//! (candle's grouped convolution splits into one convolution per channel); on other devices
//! they fall back to candle's grouped `conv2d`. GELU is exact (erf), as PyTorch's `nn.GELU`.
//!
//! Parity: `tests/fixtures/parity/sam/mobilesam/` (`tools/parity/sam.py`, a tiny random
//! MobileSAM built from the `mobilesam-mirror` package): image embeddings within 1e-4 (see
//! `sam.rs`'s tests).

use candle_core::{CpuStorage, DType, Layout, Module, Shape, Tensor, D};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::attn_softmax::attention_softmax;
use crate::models::nn::{dense, gelu_erf, Activation, Dense, LayerNorm, Mode};
use crate::models::sam_decoder::LayerNorm2d;
use crate::models::sam_vit::{window_partition, window_unpartition};

/// TinyViT configuration (defaults: MobileSAM's TinyViT-5M at 1024 pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TinyVitConfig {
    /// Input side in pixels (1024).
    pub img_size: usize,
    /// Input channels (3).
    pub in_chans: usize,
    /// Width of each stage ([64, 128, 160, 320]).
    pub embed_dims: Vec<usize>,
    /// Blocks per stage ([2, 2, 6, 2]).
    pub depths: Vec<usize>,
    /// Attention heads per stage ([2, 4, 5, 10]; stage 0 is convolutional).
    pub num_heads: Vec<usize>,
    /// Attention window per stage ([7, 7, 14, 7]).
    pub window_sizes: Vec<usize>,
    /// MLP width ratio (4).
    pub mlp_ratio: f64,
    /// MBConv expansion ratio (4).
    pub mbconv_expand_ratio: f64,
    /// Kernel of the depthwise convolution between attention and MLP (3).
    pub local_conv_size: usize,
    /// Neck output channels (256, the prompt embedding width).
    pub out_chans: usize,
}

impl Default for TinyVitConfig {
    fn default() -> Self {
        TinyVitConfig {
            img_size: 1024,
            in_chans: 3,
            embed_dims: vec![64, 128, 160, 320],
            depths: vec![2, 2, 6, 2],
            num_heads: vec![2, 4, 5, 10],
            window_sizes: vec![7, 7, 14, 7],
            mlp_ratio: 4.0,
            mbconv_expand_ratio: 4.0,
            local_conv_size: 3,
            out_chans: 256,
        }
    }
}

impl TinyVitConfig {
    /// Resolution of each stage, as MobileSAM: `img_size / 4 / 2^(i - 1 if i == 3 else i)`.
    pub fn stage_resolutions(&self) -> Vec<usize> {
        let patches = self.img_size / 4;
        (0..self.embed_dims.len())
            .map(|i| patches >> if i == 3 { 2 } else { i })
            .collect()
    }

    /// Side of the output embedding (`img_size / 16` for MobileSAM's 4 stages).
    pub fn output_size(&self) -> usize {
        self.stage_resolutions().last().copied().unwrap_or(0)
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        let n = self.embed_dims.len();
        if n < 2
            || self.depths.len() != n
            || self.num_heads.len() != n
            || self.window_sizes.len() != n
        {
            return Err(format!(
                "TinyViT: `embed_dims`, `depths`, `num_heads` and `window_sizes` must have the same length (at least 2), got {}, {}, {}, {}",
                n,
                self.depths.len(),
                self.num_heads.len(),
                self.window_sizes.len()
            ));
        }
        if self.img_size == 0 || !self.img_size.is_multiple_of(16) {
            return Err(format!(
                "TinyViT: `img_size` {} must be a positive multiple of 16",
                self.img_size
            ));
        }
        let res = self.stage_resolutions();
        for i in 0..n {
            if i > 0
                && (self.num_heads[i] == 0
                    || !self.embed_dims[i].is_multiple_of(self.num_heads[i])
                    || self.window_sizes[i] == 0)
            {
                return Err(format!(
                    "TinyViT stage {i}: {} heads do not divide width {} (window {})",
                    self.num_heads[i], self.embed_dims[i], self.window_sizes[i]
                ));
            }
            if i + 1 < n && res[i] != res[i + 1] && res[i] != 2 * res[i + 1] {
                return Err(format!(
                    "TinyViT: stage resolutions {res:?} do not halve or stay"
                ));
            }
        }
        if self.out_chans == 0 || self.local_conv_size % 2 != 1 {
            return Err("TinyViT: `out_chans` must be positive and `local_conv_size` odd".into());
        }
        Ok(())
    }
}

/// Depthwise convolution (one `k x k` filter per channel, no bias) on a contiguous f32 CPU
/// tensor `[B, C, H, W]`, parallel over channels.
struct DepthwiseConv {
    k: usize,
    stride: usize,
    pad: usize,
}

impl DepthwiseConv {
    fn out_size(&self, n: usize) -> usize {
        (n + 2 * self.pad - self.k) / self.stride + 1
    }
}

struct DepthwiseConvOp(DepthwiseConv);

impl candle_core::CustomOp2 for DepthwiseConvOp {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let DepthwiseConv { k, stride, pad } = self.0;
        let (b, c, h, w) = l1.shape().dims4()?;
        let x = match l1.contiguous_offsets() {
            Some((o1, o2)) => &s1.as_slice::<f32>()?[o1..o2],
            None => candle_core::bail!("depthwise-conv2d: input must be contiguous"),
        };
        let kern = match l2.contiguous_offsets() {
            Some((o1, o2)) => &s2.as_slice::<f32>()?[o1..o2],
            None => candle_core::bail!("depthwise-conv2d: kernel must be contiguous"),
        };
        let (ho, wo) = (self.0.out_size(h), self.0.out_size(w));
        let mut out = vec![0f32; b * c * ho * wo];
        out.par_chunks_exact_mut(ho * wo)
            .enumerate()
            .for_each(|(plane, dst)| {
                let ch = plane % c;
                let src = &x[plane * h * w..(plane + 1) * h * w];
                let kw = &kern[ch * k * k..(ch + 1) * k * k];
                for ky in 0..k {
                    for kx in 0..k {
                        let wv = kw[ky * k + kx];
                        for oy in 0..ho {
                            let iy = (oy * stride + ky) as isize - pad as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            let row = &src[iy as usize * w..(iy as usize + 1) * w];
                            let drow = &mut dst[oy * wo..(oy + 1) * wo];
                            // Output columns whose input column lies inside the row.
                            let lo = pad.saturating_sub(kx).div_ceil(stride);
                            let hi = ((w + pad).saturating_sub(kx)).div_ceil(stride).min(wo);
                            if lo >= hi {
                                continue;
                            }
                            if stride == 1 {
                                let start = lo + kx - pad;
                                for (d, s) in
                                    drow[lo..hi].iter_mut().zip(&row[start..start + (hi - lo)])
                                {
                                    *d += wv * s;
                                }
                            } else {
                                for (ox, d) in drow.iter_mut().enumerate().take(hi).skip(lo) {
                                    *d += wv * row[ox * stride + kx - pad];
                                }
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, c, ho, wo))))
    }
}

/// A convolution followed by BatchNorm (`c.weight`, `bn.{weight,bias,running_mean,running_var}`),
/// folded into one convolution with bias.
#[derive(Debug, Clone)]
struct ConvBn {
    /// `[out, in / groups, k, k]`, or `[out, in]` for 1x1 convolutions.
    weight: Tensor,
    bias: Tensor,
    k: usize,
    stride: usize,
    groups: usize,
}

impl ConvBn {
    fn new(
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let w = vb.pp("c").get_with_hints(
            (c_out, c_in / groups, k, k),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bn = vb.pp("bn");
        let gamma = bn.get_with_hints(c_out, "weight", Init::Const(1.0))?;
        let beta = bn.get_with_hints(c_out, "bias", Init::Const(0.0))?;
        let mean = bn.get_with_hints(c_out, "running_mean", Init::Const(0.0))?;
        let var = bn.get_with_hints(c_out, "running_var", Init::Const(1.0))?;
        let scale = (gamma / (var + 1e-5)?.sqrt()?)?;
        let bias = (beta - (mean * &scale)?)?;
        let weight = w.broadcast_mul(&scale.reshape((c_out, 1, 1, 1))?)?;
        let weight = if k == 1 && groups == 1 {
            weight.reshape((c_out, c_in))?
        } else {
            weight
        };
        Ok(ConvBn {
            weight,
            bias: bias.reshape((1, c_out, 1, 1))?,
            k,
            stride,
            groups,
        })
    }
}

impl Module for ConvBn {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let y = if self.k == 1 && self.groups == 1 && self.stride == 1 {
            let o = self.weight.dim(0)?;
            self.weight
                .broadcast_left(b)?
                .matmul(&x.reshape((b, c, h * w))?)?
                .reshape((b, o, h, w))?
        } else if self.groups > 1
            && self.groups == c
            && x.device().is_cpu()
            && x.dtype() == DType::F32
        {
            let op = DepthwiseConvOp(DepthwiseConv {
                k: self.k,
                stride: self.stride,
                pad: self.k / 2,
            });
            x.contiguous()?
                .apply_op2_no_bwd(&self.weight.contiguous()?, &op)?
        } else {
            x.conv2d(&self.weight, self.k / 2, self.stride, 1, self.groups)?
        };
        y.broadcast_add(&self.bias)
    }
}

/// Inverted residual block (`conv1` 1x1 expand, `conv2` depthwise 3x3, `conv3` 1x1 project).
#[derive(Debug, Clone)]
struct MbConv {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
}

impl MbConv {
    fn new(dim: usize, expand: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        let hidden = (dim as f64 * expand) as usize;
        Ok(MbConv {
            conv1: ConvBn::new(dim, hidden, 1, 1, 1, vb.pp("conv1"))?,
            conv2: ConvBn::new(hidden, hidden, 3, 1, hidden, vb.pp("conv2"))?,
            conv3: ConvBn::new(hidden, dim, 1, 1, 1, vb.pp("conv3"))?,
        })
    }
}

impl Module for MbConv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = gelu_erf(&self.conv1.forward(x)?)?;
        let y = gelu_erf(&self.conv2.forward(&y)?)?;
        gelu_erf(&(self.conv3.forward(&y)? + x)?)
    }
}

/// Patch merging between stages (1x1, depthwise 3x3 with the stage stride, 1x1).
#[derive(Debug, Clone)]
struct PatchMerging {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    resolution: usize,
}

impl PatchMerging {
    fn new(
        resolution: usize,
        dim: usize,
        out: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        Ok(PatchMerging {
            conv1: ConvBn::new(dim, out, 1, 1, 1, vb.pp("conv1"))?,
            conv2: ConvBn::new(out, out, 3, stride, out, vb.pp("conv2"))?,
            conv3: ConvBn::new(out, out, 1, 1, 1, vb.pp("conv3"))?,
            resolution,
        })
    }

    /// `[B, C, H, W]` or tokens `[B, H*W, C]` in, tokens `[B, H'*W', C']` out.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = if x.rank() == 3 {
            let (b, _, c) = x.dims3()?;
            x.reshape((b, self.resolution, self.resolution, c))?
                .permute((0, 3, 1, 2))?
                .contiguous()?
        } else {
            x.clone()
        };
        let y = gelu_erf(&self.conv1.forward(&x)?)?;
        let y = gelu_erf(&self.conv2.forward(&y)?)?;
        self.conv3
            .forward(&y)?
            .flatten_from(2)?
            .transpose(1, 2)?
            .contiguous()
    }
}

/// Windowed attention with learned per-offset biases (`attention_biases` [heads, offsets]).
#[derive(Debug, Clone)]
struct Attention {
    norm: LayerNorm,
    qkv: Dense,
    proj: Dense,
    /// `[heads, N, N]` bias table expanded from `attention_biases`.
    ab: Tensor,
    heads: usize,
    key_dim: usize,
}

impl Attention {
    fn new(dim: usize, heads: usize, window: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let key_dim = dim / heads;
        let points: Vec<(i64, i64)> = (0..window as i64)
            .flat_map(|x| (0..window as i64).map(move |y| (x, y)))
            .collect();
        let mut offsets: Vec<(i64, i64)> = Vec::new();
        let mut idxs = Vec::with_capacity(points.len() * points.len());
        for &(x1, y1) in &points {
            for &(x2, y2) in &points {
                let off = ((x1 - x2).abs(), (y1 - y2).abs());
                let i = match offsets.iter().position(|&o| o == off) {
                    Some(i) => i,
                    None => {
                        offsets.push(off);
                        offsets.len() - 1
                    }
                };
                idxs.push(i as u32);
            }
        }
        let biases = vb.get((heads, offsets.len()), "attention_biases")?;
        let n = points.len();
        let idxs = Tensor::from_vec(idxs, n * n, biases.device())?;
        let ab = biases.index_select(&idxs, 1)?.reshape((heads, n, n))?;
        Ok(Attention {
            norm: LayerNorm::new(dim, 1e-5, vb.pp("norm"))?,
            qkv: dense(dim, 3 * dim, true, vb.pp("qkv"))?,
            proj: dense(dim, dim, true, vb.pp("proj"))?,
            ab,
            heads,
            key_dim,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n, c) = x.dims3()?;
        let x = self.norm.forward(x, Mode::Infer)?;
        let qkv = self
            .qkv
            .forward(&x)?
            .reshape((b, n, self.heads, 3 * self.key_dim))?;
        let part = |i: usize| {
            qkv.narrow(D::Minus1, i * self.key_dim, self.key_dim)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let att = attention_softmax(
            q.matmul(&k.t()?)?,
            (self.key_dim as f64).powf(-0.5),
            Some(&self.ab),
            Mode::Infer,
        )?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, n, c))?;
        self.proj.forward(&y)
    }
}

#[derive(Debug, Clone)]
struct TinyVitBlock {
    attn: Attention,
    local_conv: ConvBn,
    norm: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    window: usize,
    resolution: usize,
}

impl TinyVitBlock {
    fn new(
        dim: usize,
        resolution: usize,
        heads: usize,
        window: usize,
        cfg: &TinyVitConfig,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let hidden = (dim as f64 * cfg.mlp_ratio) as usize;
        let mlp = vb.pp("mlp");
        Ok(TinyVitBlock {
            attn: Attention::new(dim, heads, window, vb.pp("attn"))?,
            local_conv: ConvBn::new(dim, dim, cfg.local_conv_size, 1, dim, vb.pp("local_conv"))?,
            norm: LayerNorm::new(dim, 1e-5, mlp.pp("norm"))?,
            fc1: dense(dim, hidden, true, mlp.pp("fc1"))?,
            fc2: dense(hidden, dim, true, mlp.pp("fc2"))?,
            window,
            resolution,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l, c) = x.dims3()?;
        let (r, ws) = (self.resolution, self.window);
        let y = if r == ws {
            self.attn.forward(x)?
        } else {
            let (win, padded) = window_partition(&x.reshape((b, r, r, c))?, ws)?;
            let y = self
                .attn
                .forward(&win.reshape(((), ws * ws, c))?)?
                .reshape(((), ws, ws, c))?;
            let y = window_unpartition(&y, ws, padded, (r, r))?;
            y.reshape((b, l, c))?
        };
        let x = (x + y)?;
        let x = x.transpose(1, 2)?.reshape((b, c, r, r))?;
        let x = self
            .local_conv
            .forward(&x)?
            .reshape((b, c, l))?
            .transpose(1, 2)?;
        let h = self.fc1.forward_act(
            &self.norm.forward(&x, Mode::Infer)?,
            Some(Activation::GeluErf),
        )?;
        self.fc2.forward_add(&h, &x)
    }
}

#[derive(Debug, Clone)]
enum Stage {
    Conv(Vec<MbConv>),
    Attn(Vec<TinyVitBlock>),
}

/// MobileSAM's TinyViT image encoder with its neck.
#[derive(Debug, Clone)]
pub struct TinyVit {
    patch1: ConvBn,
    patch2: ConvBn,
    stages: Vec<(Stage, Option<PatchMerging>)>,
    neck_conv1: Tensor,
    neck_ln1: LayerNorm2d,
    neck_conv2: Tensor,
    neck_ln2: LayerNorm2d,
    cfg: TinyVitConfig,
}

impl TinyVit {
    /// Builds the encoder from `vb` rooted at `image_encoder` (BatchNorm statistics are read and
    /// folded, so a `VarMap`-backed builder gives an untrainable encoder).
    pub fn new(cfg: &TinyVitConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(Error::Invalid)?;
        let dims = &cfg.embed_dims;
        let res = cfg.stage_resolutions();
        let pe = vb.pp("patch_embed.seq");
        let patch1 = ConvBn::new(cfg.in_chans, dims[0] / 2, 3, 2, 1, pe.pp("0"))?;
        let patch2 = ConvBn::new(dims[0] / 2, dims[0], 3, 2, 1, pe.pp("2"))?;
        let n = dims.len();
        let mut stages = Vec::with_capacity(n);
        for i in 0..n {
            let vl = vb.pp("layers").pp(i);
            let stage = if i == 0 {
                Stage::Conv(
                    (0..cfg.depths[0])
                        .map(|j| {
                            MbConv::new(dims[0], cfg.mbconv_expand_ratio, vl.pp("blocks").pp(j))
                        })
                        .collect::<candle_core::Result<_>>()?,
                )
            } else {
                Stage::Attn(
                    (0..cfg.depths[i])
                        .map(|j| {
                            TinyVitBlock::new(
                                dims[i],
                                res[i],
                                cfg.num_heads[i],
                                cfg.window_sizes[i],
                                cfg,
                                vl.pp("blocks").pp(j),
                            )
                        })
                        .collect::<candle_core::Result<_>>()?,
                )
            };
            let down = if i + 1 < n {
                Some(PatchMerging::new(
                    res[i],
                    dims[i],
                    dims[i + 1],
                    res[i] / res[i + 1],
                    vl.pp("downsample"),
                )?)
            } else {
                None
            };
            stages.push((stage, down));
        }
        let o = cfg.out_chans;
        let neck = vb.pp("neck");
        let kaiming = candle_nn::init::DEFAULT_KAIMING_NORMAL;
        Ok(TinyVit {
            patch1,
            patch2,
            stages,
            neck_conv1: neck
                .pp("0")
                .get_with_hints((o, dims[n - 1], 1, 1), "weight", kaiming)?
                .reshape((o, dims[n - 1]))?,
            neck_ln1: LayerNorm2d::new(o, 1e-6, neck.pp("1"))?,
            neck_conv2: neck
                .pp("2")
                .get_with_hints((o, o, 3, 3), "weight", kaiming)?,
            neck_ln2: LayerNorm2d::new(o, 1e-6, neck.pp("3"))?,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TinyVitConfig {
        &self.cfg
    }

    /// Image embeddings `[B, out_chans, img_size / 16, img_size / 16]` of normalised pixels
    /// `[B, 3, img_size, img_size]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let s = self.cfg.img_size;
        if c != self.cfg.in_chans || h != s || w != s {
            return Err(Error::Invalid(format!(
                "TinyViT: pixel values of shape {:?}, the model takes [B, {}, {s}, {s}]",
                x.dims(),
                self.cfg.in_chans
            )));
        }
        let mut x = self.patch2.forward(&gelu_erf(&self.patch1.forward(x)?)?)?;
        for (stage, down) in &self.stages {
            match stage {
                Stage::Conv(blocks) => {
                    for blk in blocks {
                        x = blk.forward(&x)?;
                    }
                }
                Stage::Attn(blocks) => {
                    for blk in blocks {
                        x = blk.forward(&x)?;
                    }
                }
            }
            if let Some(d) = down {
                x = d.forward(&x)?;
            }
        }
        let r = self.cfg.output_size();
        let (_, _, cl) = x.dims3()?;
        let x = x.transpose(1, 2)?.reshape((b, cl, r * r))?;
        let o = self.cfg.out_chans;
        let x = self
            .neck_conv1
            .broadcast_left(b)?
            .matmul(&x)?
            .reshape((b, o, r, r))?;
        let x = self.neck_ln1.forward(&x)?;
        let x = x.conv2d(&self.neck_conv2, 1, 1, 1, 1)?;
        Ok(self.neck_ln2.forward(&x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn depthwise_kernel_matches_grouped_conv() {
        let dev = Device::Cpu;
        for (stride, h, w) in [(1, 7, 5), (2, 8, 8), (2, 7, 9), (1, 1, 1)] {
            let x = Tensor::randn(0f32, 1.0, (2, 3, h, w), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (3, 1, 3, 3), &dev).unwrap();
            let want = x.conv2d(&k, 1, stride, 1, 3).unwrap();
            let got = x
                .apply_op2_no_bwd(
                    &k,
                    &DepthwiseConvOp(DepthwiseConv {
                        k: 3,
                        stride,
                        pad: 1,
                    }),
                )
                .unwrap();
            assert_eq!(got.dims(), want.dims());
            let d = crate::models::tests::max_diff(&got, &want);
            assert!(d < 1e-5, "stride {stride} {h}x{w}: {d}");
        }
    }

    #[test]
    fn mobilesam_geometry() {
        let c = TinyVitConfig::default();
        assert_eq!(c.stage_resolutions(), [256, 128, 64, 64]);
        assert_eq!(c.output_size(), 64);
        c.validate().unwrap();
    }
}
