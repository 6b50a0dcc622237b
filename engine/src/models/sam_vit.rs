//! SAM's ViT image encoder (Kirillov et al. 2023, "Segment Anything"; ViT-B/L/H of
//! `facebook/sam-vit-base` and FAIR's `sam_vit_b_01ec64.pth`), matching `ImageEncoderViT`
//! of `segment_anything/modeling/image_encoder.py` and its checkpoint keys under
//! `image_encoder.`: `patch_embed.proj.*`, `pos_embed`, `blocks.{i}.{norm1,norm2}.*`,
//! `blocks.{i}.attn.{qkv,proj}.*`, `blocks.{i}.attn.{rel_pos_h,rel_pos_w}`,
//! `blocks.{i}.mlp.{lin1,lin2}.*`, `neck.{0,1,2,3}.*`.
//!
//! Inference only, written for the CPU hot path (issue 22, `docs/speed.md`); the
//! computation is the reference's, reordered where the result is the same:
//! - frozen linear layers with their weights transposed once and the bias, GELU and the
//!   residual applied in one pass over the matmul's output (`nn::Dense`, `epilogue`);
//! - the patch embedding (a 16 x 16 convolution of stride 16) as one matmul over the
//!   patches;
//! - the decomposed relative positions added inside a one-pass softmax
//!   (`attn_softmax::rel_pos_softmax`) instead of a new copy of every attention matrix;
//!   global attention is computed a few heads at a time, so its weights never exist for all
//!   twelve heads at once (805 MB for ViT-B at 1024 pixels);
//! - windows are merged back before the output projection (a per-token linear layer), so
//!   the projection's bias and the block's residual are one pass too.
//!
//! candle-transformers' `segment_anything::image_encoder::ImageEncoderViT` computes the same
//! (the test below compares both on a small random model); this encoder was 1.5-1.6 times
//! PyTorch's time with it, which is why Artemo has its own. Parity with PyTorch:
//! `sam.rs`'s `hf_layout_matches_pytorch` (`tests/fixtures/parity/sam/`).

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::models::attn_softmax::{attention_softmax, rel_pos_softmax};
use crate::models::nn::{dense, Activation, Dense, LayerNorm, Mode};
use crate::models::sam::SamVisionConfig;

/// Attention weights computed at once, at most (elements): 32 Mi floats, 128 MB.
const SCORES_PER_CHUNK: usize = 1 << 25;

/// `get_rel_pos` of the reference for equal query and key sizes (which the checkpoint's
/// `2 * size - 1` rows guarantee): `[size, size, head_dim]`, entry `(i, j)` the table's row
/// `i - j + size - 1`.
fn rel_pos_table(size: usize, table: &Tensor) -> candle_core::Result<Tensor> {
    let idx: Vec<u32> = (0..size)
        .flat_map(|i| (0..size).map(move |j| (i + size - 1 - j) as u32))
        .collect();
    let idx = Tensor::from_vec(idx, size * size, table.device())?;
    table.index_select(&idx, 0)?.reshape((size, size, ()))
}

#[derive(Debug, Clone)]
struct Attention {
    qkv: Dense,
    proj: Dense,
    heads: usize,
    scale: f64,
    /// `rel_pos_h`, `rel_pos_w`: `[2 * size - 1, head_dim]`.
    rel_pos: Option<(Tensor, Tensor)>,
}

impl Attention {
    fn new(
        dim: usize,
        heads: usize,
        qkv_bias: bool,
        rel_pos_size: Option<usize>,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let head_dim = dim / heads;
        let rel_pos = match rel_pos_size {
            Some(s) => Some((
                vb.get((2 * s - 1, head_dim), "rel_pos_h")?,
                vb.get((2 * s - 1, head_dim), "rel_pos_w")?,
            )),
            None => None,
        };
        Ok(Attention {
            qkv: dense(dim, 3 * dim, qkv_bias, vb.pp("qkv"))?,
            proj: dense(dim, dim, true, vb.pp("proj"))?,
            heads,
            scale: (head_dim as f64).powf(-0.5),
            rel_pos,
        })
    }

    /// The attention of `x` `[B, h, w, C]` before the output projection, `[B, h, w, C]`.
    fn attend(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, h, w, c) = x.dims4()?;
        let (n, hd) = (h * w, c / self.heads);
        let g = b * self.heads;
        let qkv = self
            .qkv
            .forward(&x.reshape((b, n, c))?)?
            .reshape((b, n, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?
            .reshape((3, g, n, hd))?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        // rel_h = einsum("bhwc,hkc->bhwk", q, Rh), rel_w = einsum("bhwc,wkc->bhwk", q, Rw),
        // with the unscaled q as the reference.
        let rel = match &self.rel_pos {
            Some((ph, pw)) => {
                let r_q = q.reshape((g, h, w, hd))?;
                let th = rel_pos_table(h, ph)?.transpose(1, 2)?;
                let tw = rel_pos_table(w, pw)?.transpose(1, 2)?;
                let rel_h = r_q.matmul(&th.broadcast_left(g)?.contiguous()?)?;
                let rel_w = r_q
                    .transpose(1, 2)?
                    .contiguous()?
                    .matmul(&tw.broadcast_left(g)?.contiguous()?)?
                    .transpose(1, 2)?
                    .contiguous()?;
                Some((rel_h.reshape((g, n, h))?, rel_w.reshape((g, n, w))?))
            }
            None => None,
        };
        let chunk = (SCORES_PER_CHUNK / (n * n).max(1)).clamp(1, g);
        let mut outs = Vec::with_capacity(g.div_ceil(chunk));
        for g0 in (0..g).step_by(chunk) {
            let len = chunk.min(g - g0);
            let s = q.narrow(0, g0, len)?.matmul(&k.narrow(0, g0, len)?.t()?)?;
            let s = match &rel {
                Some((rh, rw)) => rel_pos_softmax(
                    s,
                    self.scale,
                    &rh.narrow(0, g0, len)?,
                    &rw.narrow(0, g0, len)?,
                )?,
                None => attention_softmax(s, self.scale, None, Mode::Infer)?,
            };
            outs.push(s.matmul(&v.narrow(0, g0, len)?)?);
        }
        Tensor::cat(&outs, 0)?
            .reshape((b, self.heads, h, w, hd))?
            .permute((0, 2, 3, 1, 4))?
            .reshape((b, h, w, c))
    }
}

/// `window_partition` of the reference: `[B, H, W, C]`, zero-padded to whole windows, as
/// `[B * windows, ws, ws, C]`, with the padded size. TinyViT's windows are the same.
pub(crate) fn window_partition(
    x: &Tensor,
    ws: usize,
) -> candle_core::Result<(Tensor, (usize, usize))> {
    let (b, h, w, c) = x.dims4()?;
    let (hp, wp) = (h.div_ceil(ws) * ws, w.div_ceil(ws) * ws);
    let x = x
        .pad_with_zeros(1, 0, hp - h)?
        .pad_with_zeros(2, 0, wp - w)?;
    let x = x
        .reshape((b, hp / ws, ws, wp / ws, ws, c))?
        .transpose(2, 3)?
        .contiguous()?
        .reshape(((), ws, ws, c))?;
    Ok((x, (hp, wp)))
}

/// `window_unpartition` of the reference: windows back to `[B, H, W, C]` (padding dropped).
pub(crate) fn window_unpartition(
    x: &Tensor,
    ws: usize,
    (hp, wp): (usize, usize),
    (h, w): (usize, usize),
) -> candle_core::Result<Tensor> {
    let c = x.dim(3)?;
    let b = x.dim(0)? / ((hp / ws) * (wp / ws)).max(1);
    x.reshape((b, hp / ws, wp / ws, ws, ws, c))?
        .transpose(2, 3)?
        .reshape((b, hp, wp, c))?
        .narrow(1, 0, h)?
        .narrow(2, 0, w)?
        .contiguous()
}

#[derive(Debug, Clone)]
struct Block {
    norm1: LayerNorm,
    attn: Attention,
    norm2: LayerNorm,
    lin1: Dense,
    lin2: Dense,
    /// 0: global attention.
    window: usize,
}

impl Block {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, h, w, c) = x.dims4()?;
        let xn = self.norm1.forward(x, Mode::Infer)?;
        let y = if self.window > 0 {
            let (win, padded) = window_partition(&xn, self.window)?;
            window_unpartition(&self.attn.attend(&win)?, self.window, padded, (h, w))?
        } else {
            self.attn.attend(&xn)?
        };
        let x = self
            .attn
            .proj
            .forward_add(&y.reshape((b, h * w, c))?, &x.reshape((b, h * w, c))?)?;
        let m = self.lin1.forward_act(
            &self.norm2.forward(&x, Mode::Infer)?,
            Some(Activation::GeluErf),
        )?;
        self.lin2.forward_add(&m, &x)?.reshape((b, h, w, c))
    }
}

/// SAM's ViT image encoder with its neck.
#[derive(Debug, Clone)]
pub struct SamVit {
    /// The patch convolution as a linear layer over flattened `[3, p, p]` patches.
    patch_embed: Dense,
    pos_embed: Option<Tensor>,
    blocks: Vec<Block>,
    /// `neck.0` (1 x 1, no bias) as a linear layer.
    neck_conv1: Dense,
    neck_ln1: LayerNorm,
    /// `neck.2`: `[out, out, 3, 3]`, no bias.
    neck_conv2: Tensor,
    neck_ln2: LayerNorm,
    patch: usize,
    grid: usize,
}

impl SamVit {
    /// Builds the encoder from `vb` rooted at `image_encoder`.
    pub fn new(cfg: &SamVisionConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let (d, p, c) = (cfg.hidden_size, cfg.patch_size, cfg.num_channels);
        let grid = cfg.grid_size();
        let mlp = cfg.mlp_dim.unwrap_or((d as f64 * cfg.mlp_ratio) as usize);
        let pe = vb.pp("patch_embed.proj");
        let patch_embed = Dense::new(
            pe.get((d, c, p, p), "weight")?.reshape((d, c * p * p))?,
            Some(pe.get(d, "bias")?),
        )?;
        let pos_embed = if cfg.use_abs_pos {
            Some(vb.get((1, grid, grid, d), "pos_embed")?)
        } else {
            None
        };
        let blocks = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp("blocks").pp(i);
                let global = cfg.global_attn_indexes.contains(&i);
                let window = if global { 0 } else { cfg.window_size };
                let size = if window == 0 { grid } else { window };
                Ok(Block {
                    norm1: LayerNorm::new(d, cfg.layer_norm_eps, vb.pp("norm1"))?,
                    attn: Attention::new(
                        d,
                        cfg.num_attention_heads,
                        cfg.qkv_bias,
                        cfg.use_rel_pos.then_some(size),
                        vb.pp("attn"),
                    )?,
                    norm2: LayerNorm::new(d, cfg.layer_norm_eps, vb.pp("norm2"))?,
                    lin1: dense(d, mlp, true, vb.pp("mlp.lin1"))?,
                    lin2: dense(mlp, d, true, vb.pp("mlp.lin2"))?,
                    window,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let o = cfg.output_channels;
        let neck = vb.pp("neck");
        Ok(SamVit {
            patch_embed,
            pos_embed,
            blocks,
            neck_conv1: Dense::new(
                neck.pp("0").get((o, d, 1, 1), "weight")?.reshape((o, d))?,
                None,
            )?,
            // LayerNorm2d over channels, applied here to channels-last maps (the same).
            neck_ln1: LayerNorm::new(o, 1e-6, neck.pp("1"))?,
            neck_conv2: neck.pp("2").get((o, o, 3, 3), "weight")?,
            neck_ln2: LayerNorm::new(o, 1e-6, neck.pp("3"))?,
            patch: p,
            grid,
        })
    }

    /// Image embeddings `[B, out, grid, grid]` of normalised, padded pixels
    /// `[B, 3, grid * patch, grid * patch]` (the caller checks the shape).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, _, _) = x.dims4()?;
        let (g, p) = (self.grid, self.patch);
        let patches = x
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, g * g, c * p * p))?;
        let mut x = self.patch_embed.forward(&patches)?.reshape((b, g, g, ()))?;
        if let Some(pos) = &self.pos_embed {
            x = x.broadcast_add(pos)?;
        }
        for blk in &self.blocks {
            x = blk.forward(&x)?;
        }
        let d = x.dim(3)?;
        let x = self.neck_conv1.forward(&x.reshape((b, g * g, d))?)?;
        let x = self.neck_ln1.forward(&x, Mode::Infer)?;
        let o = x.dim(2)?;
        let x = x
            .reshape((b, g, g, o))?
            .permute((0, 3, 1, 2))?
            .contiguous()?
            .conv2d(&self.neck_conv2, 1, 1, 1, 1)?;
        let x = self
            .neck_ln2
            .forward(&x.permute((0, 2, 3, 1))?, Mode::Infer)?;
        x.permute((0, 3, 1, 2))?.contiguous()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Reference: candle-transformers' `ImageEncoderViT` (itself a port of
    /// `segment_anything/modeling/image_encoder.py`) on the same random weights, with windows
    /// that need padding (7 patches, window 3) and global blocks with relative positions.
    #[test]
    fn equals_candle_transformers_encoder() {
        let dev = Device::Cpu;
        let cfg = SamVisionConfig {
            hidden_size: 32,
            output_channels: 16,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            image_size: 56,
            patch_size: 8,
            window_size: 3,
            global_attn_indexes: vec![1],
            ..SamVisionConfig::default()
        };
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let reference =
            candle_transformers::models::segment_anything::image_encoder::ImageEncoderViT::new(
                cfg.image_size,
                cfg.patch_size,
                3,
                cfg.hidden_size,
                cfg.num_hidden_layers,
                cfg.num_attention_heads,
                cfg.output_channels,
                true,
                true,
                true,
                cfg.window_size,
                &cfg.global_attn_indexes,
                vb.clone(),
            )
            .unwrap();
        // Non-trivial norms, biases and relative positions (the VarMap starts some at 0 or 1).
        crate::models::nn::reseed(&vm, 7).unwrap();
        for (name, var) in vm.data().lock().unwrap().iter() {
            if var.dims().len() == 1 || name.contains("rel_pos") || name.contains("pos_embed") {
                let r = Tensor::randn(0f32, 0.5, var.dims(), &dev).unwrap();
                var.set(&r).unwrap();
            }
        }
        // Frozen copies (plain tensors), as a checkpoint would give.
        let frozen: std::collections::HashMap<String, Tensor> = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().copy().unwrap()))
            .collect();
        let ours = SamVit::new(&cfg, VarBuilder::from_tensors(frozen, DType::F32, &dev)).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 3, 56, 56), &dev).unwrap();
        let want = reference.forward(&x).unwrap();
        let got = ours.forward(&x).unwrap();
        assert_eq!(got.dims(), &[1, 16, 7, 7]);
        let diff = crate::models::tests::max_diff(&got, &want);
        assert!(diff < 1e-4, "max |ours - candle-transformers| = {diff}");
        // A batch of two is each image alone (the reference takes one image at a time).
        let x2 = Tensor::cat(
            &[&x, &Tensor::randn(0f32, 1.0, (1, 3, 56, 56), &dev).unwrap()],
            0,
        )
        .unwrap();
        let both = ours.forward(&x2).unwrap();
        let second = ours.forward(&x2.narrow(0, 1, 1).unwrap()).unwrap();
        assert!(crate::models::tests::max_diff(&both.narrow(0, 0, 1).unwrap(), &got) < 1e-5);
        assert!(crate::models::tests::max_diff(&both.narrow(0, 1, 1).unwrap(), &second) < 1e-5);
    }

    #[test]
    fn rel_pos_table_indexes_the_reference_offsets() {
        // get_rel_pos(q, k): relative_coords = q_i - k_j + (k - 1).
        let dev = Device::Cpu;
        let t = Tensor::arange(0f32, 5.0, &dev)
            .unwrap()
            .reshape((5, 1))
            .unwrap();
        let r = rel_pos_table(3, &t).unwrap().squeeze(2).unwrap();
        let want = [[2f32, 1., 0.], [3., 2., 1.], [4., 3., 2.]];
        assert_eq!(
            r.to_vec2::<f32>().unwrap(),
            want.map(|r| r.to_vec()).to_vec()
        );
    }
}
