//! GPT-2 decoder in the Hugging Face `GPT2LMHeadModel` layout (`gpt2`, `distilgpt2`),
//! with optional cross-attention blocks (`add_cross_attention=True`: `crossattention.*`,
//! `ln_cross_attn.*`), token-type ids embedded through `wte` (as SEVLM does), a tied LM
//! head, an optional key/value cache, and a training-safe path ([`Mode::Train`]).
//!
//! Keys and shapes are HF's exactly, with or without the `transformer.` prefix. HF stores
//! projections as `Conv1D` with weights [in, out]; they are kept in that orientation and
//! applied as `x @ W + b`, so checkpoints load and save without transposition.
//!
//! Dropout (HF's `embd_pdrop`, `attn_pdrop`, `resid_pdrop`) is off unless a caller turns
//! it on with [`Gpt2::set_dropout`], and then acts in [`Mode::Train`] only; masks come
//! from a seeded generator ([`Dropout`]), so training stays reproducible.
//!
//! Parity: `tools/parity/gpt2.py` runs `transformers.GPT2LMHeadModel` on tiny random
//! configurations (with and without cross-attention); the tests below match its logits
//! within 1e-4 and check that cached decoding equals full decoding.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Embedding, VarBuilder};
use serde::{Deserialize, Serialize};

use super::loading::Weights;
use super::nn::{softmax, Activation, LayerNorm, Mode};
use crate::error::{read_text, Error, Result};

/// Inverted dropout with seeded masks, shared (by `Arc`) between the modules of one
/// model: `x * mask / (1 - p)` in [`Mode::Train`], identity in [`Mode::Infer`] or at
/// `p = 0`. Clones share the generator.
#[derive(Debug, Clone)]
pub struct Dropout {
    state: std::sync::Arc<std::sync::Mutex<DropoutState>>,
}

#[derive(Debug)]
struct DropoutState {
    p: f32,
    rng: rand_chacha::ChaCha8Rng,
}

impl Default for Dropout {
    fn default() -> Self {
        Self::new(0.0, 0)
    }
}

impl Dropout {
    /// Dropout with probability `p` (clamped to [0, 0.95]), masks drawn from `seed`.
    pub fn new(p: f32, seed: u64) -> Self {
        use rand::SeedableRng;
        Dropout {
            state: std::sync::Arc::new(std::sync::Mutex::new(DropoutState {
                p: p.clamp(0.0, 0.95),
                rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            })),
        }
    }

    /// Changes the probability and reseeds (every module sharing this dropout follows).
    pub fn configure(&self, p: f32, seed: u64) {
        use rand::SeedableRng;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.p = p.clamp(0.0, 0.95);
        s.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    }

    /// The probability.
    pub fn p(&self) -> f32 {
        self.state.lock().map(|s| s.p).unwrap_or(0.0)
    }

    /// Applies dropout in [`Mode::Train`].
    pub fn apply(&self, x: &Tensor, mode: Mode) -> candle_core::Result<Tensor> {
        use rand::Rng;
        if mode != Mode::Train {
            return Ok(x.clone());
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.p <= 0.0 {
            return Ok(x.clone());
        }
        let p = s.p;
        let keep = 1.0 / (1.0 - p);
        let n = x.elem_count();
        let mask: Vec<f32> = (0..n)
            .map(|_| if s.rng.gen::<f32>() < p { 0.0 } else { keep })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        x * mask
    }
}

/// The fields of HF's `GPT2Config` that matter here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size (50257 for GPT-2; more with added special tokens).
    pub vocab_size: usize,
    /// Maximum positions.
    pub n_positions: usize,
    /// Width.
    pub n_embd: usize,
    /// Blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Feed-forward width (default 4 * n_embd).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// Activation (`gelu_new`).
    #[serde(default = "default_act")]
    pub activation_function: String,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Whether every block has cross-attention.
    #[serde(default)]
    pub add_cross_attention: bool,
    /// Whether attention scores are divided by sqrt(head width) (HF `scale_attn_weights`,
    /// default true when absent).
    #[serde(default)]
    pub scale_attn_weights: Option<bool>,
}

fn default_act() -> String {
    "gelu_new".into()
}

fn default_eps() -> f64 {
    1e-5
}

impl Gpt2Config {
    /// `distilgpt2` (6 layers, 12 heads, 768 wide), optionally with cross-attention.
    pub fn distilgpt2(cross_attention: bool) -> Self {
        Gpt2Config {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 6,
            n_head: 12,
            n_inner: None,
            activation_function: default_act(),
            layer_norm_epsilon: 1e-5,
            add_cross_attention: cross_attention,
            scale_attn_weights: None,
        }
    }

    /// Reads an HF `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let cfg: Gpt2Config = serde_json::from_str(&text)
            .map_err(|e| Error::at(path, format!("line {}", e.line()), e.to_string()))?;
        if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
            return Err(Error::at(
                path,
                "field `n_head`",
                format!(
                    "n_embd {} is not divisible by n_head {}",
                    cfg.n_embd, cfg.n_head
                ),
            ));
        }
        if Activation::from_hf(&cfg.activation_function).is_none() {
            return Err(Error::at(
                path,
                "field `activation_function`",
                format!("unsupported `{}`", cfg.activation_function),
            ));
        }
        Ok(cfg)
    }

    fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

/// HF `Conv1D`: weight [in, out], bias [out]; y = x W + b.
#[derive(Debug, Clone)]
struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let weight = vb.get_with_hints(
            (in_dim, out_dim),
            "weight",
            candle_nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )?;
        let bias = vb.get_with_hints(out_dim, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Conv1D { weight, bias })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.broadcast_matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

#[derive(Debug, Clone)]
struct Attention {
    c_attn: Conv1D,
    q_attn: Option<Conv1D>,
    c_proj: Conv1D,
    n_head: usize,
    scale: bool,
}

impl Attention {
    fn new(cfg: &Gpt2Config, cross: bool, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.n_embd;
        let (c_attn, q_attn) = if cross {
            (
                Conv1D::new(d, 2 * d, vb.pp("c_attn"))?,
                Some(Conv1D::new(d, d, vb.pp("q_attn"))?),
            )
        } else {
            (Conv1D::new(d, 3 * d, vb.pp("c_attn"))?, None)
        };
        Ok(Attention {
            c_attn,
            q_attn,
            c_proj: Conv1D::new(d, d, vb.pp("c_proj"))?,
            n_head: cfg.n_head,
            scale: cfg.scale_attn_weights.unwrap_or(true),
        })
    }

    fn heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        x.reshape((b, t, self.n_head, d / self.n_head))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Cross-attention keys and values of encoder states `[B, S, d]`, split into heads.
    fn cross_kv(&self, enc: &Tensor, d: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let kv = self.c_attn.forward(enc)?;
        Ok((
            self.heads(&kv.narrow(D::Minus1, 0, d)?)?,
            self.heads(&kv.narrow(D::Minus1, d, d)?)?,
        ))
    }

    /// `kv`: the (already split-into-heads) keys and values to attend to.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
        mode: Mode,
        dropout: &Dropout,
    ) -> candle_core::Result<Tensor> {
        let (bq, bk) = (q.dim(0)?, k.dim(0)?);
        if bk == 1 && bq > 1 && bias.is_none() {
            return self.attend_shared(q, k, v, mode, dropout);
        }
        let hd = q.dim(D::Minus1)?;
        let mut w = q.matmul(&k.t()?)?;
        if self.scale {
            w = (w / (hd as f64).sqrt())?;
        }
        if let Some(b) = bias {
            w = w.broadcast_add(b)?;
        }
        let p = dropout.apply(&softmax(&w, mode)?, mode)?;
        let out = p.matmul(v)?;
        let (b, h, t, hd) = out.dims4()?;
        out.transpose(1, 2)?.reshape((b, t, h * hd))
    }

    /// Attention of `B` query rows `[B, h, t, hd]` to one shared set of keys and values
    /// `[1, h, S, hd]` (the same encoder states for every row: the emotion distribution's
    /// nine candidates, beams): the rows are folded into the query length, so the keys
    /// and values are neither copied nor recomputed per row. Same result as
    /// [`Self::attend`] on keys and values repeated `B` times.
    fn attend_shared(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mode: Mode,
        dropout: &Dropout,
    ) -> candle_core::Result<Tensor> {
        let (b, h, t, hd) = q.dims4()?;
        let qf = q.transpose(0, 1)?.contiguous()?.reshape((h, b * t, hd))?;
        let (k, v) = (k.squeeze(0)?, v.squeeze(0)?);
        let mut w = qf.matmul(&k.t()?)?;
        if self.scale {
            w = (w / (hd as f64).sqrt())?;
        }
        let p = dropout.apply(&softmax(&w, mode)?, mode)?;
        let out = p.matmul(&v)?.reshape((h, b, t, hd))?;
        out.permute((1, 2, 0, 3))?.reshape((b, t, h * hd))
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_cross_attn: Option<LayerNorm>,
    crossattention: Option<Attention>,
    ln_2: LayerNorm,
    c_fc: Conv1D,
    c_proj: Conv1D,
    act: Activation,
}

impl Block {
    fn new(cfg: &Gpt2Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.n_embd;
        let eps = cfg.layer_norm_epsilon;
        let (ln_cross_attn, crossattention) = if cfg.add_cross_attention {
            (
                Some(LayerNorm::new(d, eps, vb.pp("ln_cross_attn"))?),
                Some(Attention::new(cfg, true, vb.pp("crossattention"))?),
            )
        } else {
            (None, None)
        };
        Ok(Block {
            ln_1: LayerNorm::new(d, eps, vb.pp("ln_1"))?,
            attn: Attention::new(cfg, false, vb.pp("attn"))?,
            ln_cross_attn,
            crossattention,
            ln_2: LayerNorm::new(d, eps, vb.pp("ln_2"))?,
            c_fc: Conv1D::new(d, cfg.inner(), vb.pp("mlp").pp("c_fc"))?,
            c_proj: Conv1D::new(cfg.inner(), d, vb.pp("mlp").pp("c_proj"))?,
            act: Activation::from_hf(&cfg.activation_function).unwrap_or(Activation::GeluTanh),
        })
    }
}

/// Cached keys and values of earlier positions (self-attention) and of the encoder
/// states (cross-attention), per block.
#[derive(Debug, Clone, Default)]
pub struct Gpt2Cache {
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    cross_kv: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl Gpt2Cache {
    /// Positions already processed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first step.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `len` positions' self-attention keys and values (the cross-attention
    /// ones stay): positions after them are forgotten, to be run again. No-op when `len`
    /// is not shorter than what is cached.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        for (k, v) in self.self_kv.iter_mut().flatten() {
            *k = k.narrow(2, 0, len)?;
            *v = v.narrow(2, 0, len)?;
        }
        if len == 0 {
            self.self_kv.iter_mut().for_each(|kv| *kv = None);
        }
        self.len = len;
        Ok(())
    }
}

/// The GPT-2 decoder with its tied LM head.
#[derive(Debug, Clone)]
pub struct Gpt2 {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Option<Tensor>,
    cfg: Gpt2Config,
    dropout: Dropout,
}

impl Gpt2 {
    /// Builds the model from a `VarBuilder` rooted at the `transformer.` level's parent
    /// (keys `transformer.wte.weight`, ...; pass `vb.pp("transformer")`'s parent).
    /// With `untied_head`, an `lm_head.weight` variable is created instead of tying to
    /// `wte`.
    pub fn new(cfg: &Gpt2Config, vb: VarBuilder, untied_head: bool) -> candle_core::Result<Self> {
        let t = vb.pp("transformer");
        let d = cfg.n_embd;
        let wte = candle_nn::embedding(cfg.vocab_size, d, t.pp("wte"))?;
        let wpe = candle_nn::embedding(cfg.n_positions, d, t.pp("wpe"))?;
        let blocks = (0..cfg.n_layer)
            .map(|i| Block::new(cfg, t.pp("h").pp(i)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let ln_f = LayerNorm::new(d, cfg.layer_norm_epsilon, t.pp("ln_f"))?;
        let lm_head = if untied_head {
            Some(vb.pp("lm_head").get((cfg.vocab_size, d), "weight")?)
        } else {
            None
        };
        Ok(Gpt2 {
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
            cfg: cfg.clone(),
            dropout: Dropout::default(),
        })
    }

    /// Uses `dropout` (shared) for the embedding, attention and residual dropouts of
    /// HF's GPT-2 (`embd_pdrop`, `attn_pdrop`, `resid_pdrop`, all one probability here).
    pub fn set_dropout(&mut self, dropout: Dropout) {
        self.dropout = dropout;
    }

    /// The dropout in use (probability 0 unless [`set_dropout`](Self::set_dropout)).
    pub fn dropout(&self) -> &Dropout {
        &self.dropout
    }

    /// Loads a checkpoint folder (`config.json` + safetensors) or file (with `cfg`).
    /// Keys may carry the `transformer.` prefix (`GPT2LMHeadModel`) or not (`GPT2Model`);
    /// an `lm_head.weight` different from `wte` is kept untied.
    pub fn load(path: &Path, cfg: Option<Gpt2Config>, device: &Device) -> Result<Self> {
        let cfg = match cfg {
            Some(c) => c,
            None => {
                let dir = if path.is_dir() {
                    path.to_path_buf()
                } else {
                    path.parent().unwrap_or(Path::new(".")).to_path_buf()
                };
                Gpt2Config::load(&dir.join("config.json"))?
            }
        };
        let weights = Weights::load(path, device)?;
        Self::from_weights(&cfg, weights, device)
    }

    /// Builds the model from loaded tensors (see [`load`](Self::load)).
    pub fn from_weights(cfg: &Gpt2Config, weights: Weights, device: &Device) -> Result<Self> {
        let has_prefix = weights.contains("transformer.wte.weight");
        let mut w = if has_prefix {
            weights
        } else {
            weights.rename(|k| {
                Some(if k.starts_with("lm_head.") {
                    k.to_string()
                } else {
                    format!("transformer.{k}")
                })
            })
        };
        // Buffers of older checkpoints are not parameters.
        let buffers: Vec<String> = w
            .names()
            .into_iter()
            .filter(|k| k.ends_with(".attn.bias") || k.ends_with(".attn.masked_bias"))
            .map(str::to_string)
            .collect();
        for b in buffers {
            w.remove(&b);
        }
        let untied = match (
            w.get_any("lm_head.weight"),
            w.get_any("transformer.wte.weight"),
        ) {
            (Ok(h), Ok(e)) => {
                h.dims() != e.dims() || (h - e)?.abs()?.max_all()?.to_scalar::<f32>()? > 0.0
            }
            _ => false,
        };
        let source = w.source().to_path_buf();
        let vb = w.var_builder(device);
        Gpt2::new(cfg, vb, untied)
            .map_err(|e| Error::parse(&source, None, format!("GPT-2 checkpoint: {e}")))
    }

    /// The configuration.
    pub fn config(&self) -> &Gpt2Config {
        &self.cfg
    }

    /// Token embeddings `wte(ids)`.
    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.wte.forward(ids)?)
    }

    /// Input embeddings as HF computes them: `wte(ids) + wpe(positions) + wte(token_type_ids)`,
    /// positions starting at `past_len`.
    pub fn embed(
        &self,
        ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        past_len: usize,
    ) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let mut h = self
            .wte
            .forward(ids)?
            .broadcast_add(&self.position_embeddings(past_len, t, ids.device())?)?;
        if let Some(tt) = token_type_ids {
            h = (h + self.wte.forward(tt)?)?;
        }
        Ok(h)
    }

    /// Position embeddings for `t` positions from `past_len`, shape [1, t, d].
    pub fn position_embeddings(
        &self,
        past_len: usize,
        t: usize,
        device: &Device,
    ) -> Result<Tensor> {
        if past_len + t > self.cfg.n_positions {
            return Err(Error::Invalid(format!(
                "sequence of {} tokens exceeds the model's {} positions",
                past_len + t,
                self.cfg.n_positions
            )));
        }
        let pos = Tensor::arange(past_len as u32, (past_len + t) as u32, device)?;
        Ok(self.wpe.forward(&pos)?.unsqueeze(0)?)
    }

    /// Runs the blocks on input embeddings [B, T, d]. `encoder` [B, S, d] (or [1, S, d],
    /// shared by every row) is attended to by cross-attention blocks, unless `cache`
    /// already holds its keys and values; `attention_mask` [B, past + T] (1 = attend, 0 = padding)
    /// masks padded positions; with `cache`, earlier positions are reused and the new
    /// keys/values appended. Returns the final hidden states after `ln_f`.
    pub fn forward_embeds(
        &self,
        embeds: &Tensor,
        encoder: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
        mut cache: Option<&mut Gpt2Cache>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, t, _) = embeds.dims3()?;
        let device = embeds.device();
        let past = cache.as_ref().map(|c| c.len).unwrap_or(0);
        if self.cfg.add_cross_attention && encoder.is_none() {
            return Err(Error::Invalid(
                "this GPT-2 has cross-attention blocks: encoder states are required".into(),
            ));
        }
        // Causal mask [T, past + T] plus padding mask [B, 1, 1, past + T].
        let total = past + t;
        let causal: Vec<f32> = (0..t)
            .flat_map(|i| {
                (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })
            })
            .collect();
        let mut bias = Tensor::from_vec(causal, (1, 1, t, total), device)?;
        if let Some(m) = attention_mask {
            let m = m.to_dtype(DType::F32)?;
            if m.dims() != [b, total] {
                return Err(Error::Invalid(format!(
                    "attention mask shape {:?}, expected [{b}, {total}]",
                    m.dims()
                )));
            }
            let pad = ((m - 1.0)? * 1e9)?.reshape((b, 1, 1, total))?;
            bias = bias.broadcast_add(&pad)?;
        }
        if let Some(c) = cache.as_deref_mut() {
            if c.self_kv.len() != self.blocks.len() {
                c.self_kv = vec![None; self.blocks.len()];
                c.cross_kv = vec![None; self.blocks.len()];
            }
        }
        let mut h = embeds.clone();
        for (i, blk) in self.blocks.iter().enumerate() {
            // Self-attention.
            let x = blk.ln_1.forward(&h, mode)?;
            let qkv = blk.attn.c_attn.forward(&x)?;
            let d = self.cfg.n_embd;
            let q = blk.attn.heads(&qkv.narrow(D::Minus1, 0, d)?)?;
            let mut k = blk.attn.heads(&qkv.narrow(D::Minus1, d, d)?)?;
            let mut v = blk.attn.heads(&qkv.narrow(D::Minus1, 2 * d, d)?)?;
            if let Some(c) = cache.as_deref_mut() {
                if let Some((pk, pv)) = &c.self_kv[i] {
                    k = Tensor::cat(&[pk, &k], 2)?;
                    v = Tensor::cat(&[pv, &v], 2)?;
                }
                c.self_kv[i] = Some((k.clone(), v.clone()));
            }
            let a = blk
                .attn
                .attend(&q, &k, &v, Some(&bias), mode, &self.dropout)?;
            h = (h + self.dropout.apply(&blk.attn.c_proj.forward(&a)?, mode)?)?;
            // Cross-attention.
            if let (Some(ln), Some(ca), Some(enc)) =
                (&blk.ln_cross_attn, &blk.crossattention, encoder)
            {
                let x = ln.forward(&h, mode)?;
                let q = ca.heads(
                    &ca.q_attn
                        .as_ref()
                        .ok_or_else(|| Error::Invalid("cross-attention without q_attn".into()))?
                        .forward(&x)?,
                )?;
                let cached = cache.as_deref().and_then(|c| c.cross_kv[i].clone());
                let (k, v) = match cached {
                    Some(kv) => kv,
                    None => {
                        let kv = ca.cross_kv(enc, d)?;
                        if let Some(c) = cache.as_deref_mut() {
                            c.cross_kv[i] = Some(kv.clone());
                        }
                        kv
                    }
                };
                let a = ca.attend(&q, &k, &v, None, mode, &self.dropout)?;
                h = (h + self.dropout.apply(&ca.c_proj.forward(&a)?, mode)?)?;
            }
            // Feed-forward.
            let x = blk.ln_2.forward(&h, mode)?;
            let m = blk
                .c_proj
                .forward(&blk.act.forward(&blk.c_fc.forward(&x)?)?)?;
            h = (h + self.dropout.apply(&m, mode)?)?;
        }
        if let Some(c) = cache {
            c.len += t;
        }
        Ok(self.ln_f.forward(&h, mode)?)
    }

    /// A cache holding only the cross-attention keys and values of `encoder` `[B, S, d]`
    /// (every block): computed once per image and reused by every later step (clones
    /// share the tensors). With `B` = 1 it also serves any number of query rows.
    pub fn cross_cache(&self, encoder: &Tensor) -> Result<Gpt2Cache> {
        let d = self.cfg.n_embd;
        let cross_kv = self
            .blocks
            .iter()
            .map(|b| {
                b.crossattention
                    .as_ref()
                    .map(|ca| ca.cross_kv(encoder, d))
                    .transpose()
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Gpt2Cache {
            self_kv: vec![None; self.blocks.len()],
            cross_kv,
            len: 0,
        })
    }

    /// Vocabulary logits of hidden states (tied to `wte` unless the checkpoint has its own head).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = self.lm_head.as_ref().unwrap_or(self.wte.embeddings());
        // One [rows, d] x [d, V] product: a batched product over a strided `hidden` (a
        // narrowed slice) made candle copy the broadcast [B, d, V] head (issue 22).
        let dims = hidden.dims().to_vec();
        let Some((&d, lead)) = dims.split_last() else {
            return Err(Error::Invalid("GPT-2 logits of a scalar".into()));
        };
        let rows = lead.iter().product::<usize>();
        let flat = hidden.contiguous()?.reshape((rows, d))?.matmul(&w.t()?)?;
        let mut shape = lead.to_vec();
        shape.push(w.dim(0)?);
        Ok(flat.reshape(shape)?)
    }

    /// Token ids [B, T] to logits [B, T, V] (see [`forward_embeds`](Self::forward_embeds)).
    pub fn forward(
        &self,
        ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        encoder: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut Gpt2Cache>,
        mode: Mode,
    ) -> Result<Tensor> {
        let past = cache.as_ref().map(|c| c.len).unwrap_or(0);
        let e = self
            .dropout
            .apply(&self.embed(ids, token_type_ids, past)?, mode)?;
        let h = self.forward_embeds(&e, encoder, attention_mask, cache, mode)?;
        self.logits(&h)
    }
}

#[cfg(test)]
mod tests;
