//! EmoSEM: per-emotion stimulus masks and their explanations (Zhang, Li, Guo and Wang,
//! "EmoSEM: Segment and Explain Emotion Stimuli in Visual Art", arXiv 2504.14658), in the
//! Single-Mask and Multi-Masks paradigms.
//!
//! The paper has no public code; this follows its text and the project's reference notes
//! (SCA is the closest template). Pipeline:
//!
//! - Vision tokens `v` `[B, C, h, w]`: in the `paper` configuration SAM ViT-B's frozen image
//!   embedding `[B, 256, 64, 64]` (computed once per image and cached on disk, see
//!   [`cache`]); in the `small` configuration a frozen small tower's grid `[B, G*G, D]`
//!   mapped by a trained `neck` (`Linear D -> C`, reshaped row-major to `[B, C, G, G]`).
//! - Emotion projector (Single-Mask): the GPT-2 word embeddings (the explainer's `wte`,
//!   used as a fixed text encoder: the embeddings are detached here) of
//!   "generate the mask for the emotion `<e>`" -> `Linear(n_embd -> C)` = prompt tokens `p`.
//! - Learnable mask token(s) `mask_tokens.weight` `[K, C]`: K = 1 (Single-Mask) or 8
//!   (Multi-Masks, one per emotion in ArtEmis order; no emotion prompt in that paradigm).
//! - Feature mixer: SAM's two-way transformer (`mask_decoder.transformer.*`, 2 blocks),
//!   frozen by default. `[p, m]` enter as the decoder's extra tokens (after SAM's own IoU
//!   and mask tokens, which stay in the token set as in SCA; their outputs are unused), no
//!   sparse prompts, and `prompt_encoder.no_mask_embed` as the dense prompt.
//! - Mask head: SAM's `output_upscaling` (2 x 2x2 stride-2 transposed convolutions, written
//!   as a matmul with a backward pass) and one hypernetwork MLP per mask token
//!   (`mask_head.hypernetworks.{k}.layers.{0,1,2}`, SAM's MLP layout) whose output is a
//!   dynamic linear classifier over the upscaled embedding: mask logits `[4h, 4w]`
//!   (256 x 256 for the paper configuration). FT-MH (default) trains the mask head only;
//!   FT-MD trains the whole mask decoder ([`Finetune`]).
//! - Prefix projector: a per-token MLP (`Linear C -> hidden`, GELU, `Linear hidden ->
//!   n_embd`) on `[p', m']` giving the prefix `f = [p'', m'']` (each part switchable off for
//!   the paper's ablation, [`EmosemConfig::prompt_prefix`], [`EmosemConfig::mask_prefix`]);
//!   Multi-Masks uses `m'_k` only.
//! - Explainer: GPT-2 with cross-attention (`explainer.transformer.*`, Hugging Face keys)
//!   over CLIP ViT-B/16 grid tokens (paper, width 768) or the small tower's grid (through
//!   `visual_proj`, `Linear D -> n_embd`, when the widths differ). Input: `[f, <bos>, x]`;
//!   at most 25 tokens, stops at `<|endoftext|>`. Decoding ([`EmosemConfig::decoding`],
//!   the shared [`crate::text::sampling`]): the `paper` configuration samples with nucleus
//!   p = 0.9 (the paper's setting; temperature 1, seed 0, so it is reproducible), the
//!   `small` configuration and configurations written before the option existed decode
//!   greedily; callers may override it per analysis ([`Emosem::analyze_with`]). Each
//!   emotion samples on its own random stream (the emotion's index), so its explanation
//!   does not depend on which other emotions are decoded alongside.
//! - Losses ([`losses`]): Dice + Focal on the mask logits at their own resolution (the
//!   ground truth is downsampled; no bilinear upsampling, which has no backward in candle),
//!   cross-entropy on the explanation; Multi-Masks sums over the emotions an image has.
//!   AdamW groups: explainer 2e-4; the rest 1e-4 (Single-Mask) or 8e-5 (Multi-Masks).
//!
//! - Artemo's additions for small models trained from scratch (enabled by the presence of
//!   their tensors, so checkpoints without them load and behave as before): a frozen
//!   per-emotion prior `mask_prior.logits` `[8, 4h, 4w]` added to the mask head's output
//!   ([`install_mask_prior`]: the head starts as a zero residual to the train split's mean
//!   mask), and learned emotion embeddings `prefix_projector.emotion.weight` `[8, n_embd]`
//!   prepended to each query's prefix ([`install_emotion_prefix`]: each explanation is
//!   conditioned on its mask's emotion). Shown and evaluated maps are refined to the
//!   image's edges ([`postprocess::postprocess_refined`]).
//!
//! Checkpoint layout (`model.safetensors` + `config.json` in one folder): the keys above at
//! the root. `prompt_encoder.*` and `mask_decoder.*` are SAM's FAIR names, so a SAM
//! checkpoint initialises them directly; `explainer.transformer.*` are `GPT2LMHeadModel`'s
//! names under `explainer.` ([`init_from_pretrained`]).
//!
//! Deviations (documented): the emotion-prompt word embeddings are frozen (the paper does
//! not say whether the text encoder trains); the small configuration's `neck` and
//! `visual_proj` train at the mask-side learning rate; inference masks use sigmoid > 0.5
//! ([`postprocess`]), while evaluation follows APOLO (min-max normalise, > 0.35).

pub mod analyze;
pub mod bench;
pub mod cache;
mod checkpoint;
mod config;
pub mod data;
mod explain;
pub mod features;
mod guidance;
mod kit_init;
pub mod language;
pub mod losses;
pub mod paper_train;
pub mod postprocess;
pub mod recipe;
pub mod session;
pub mod train;
pub mod view;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Module, Tensor, D};
use candle_nn::{Linear, VarBuilder, VarMap};

use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::gpt2::Gpt2;
use crate::models::loading::Weights;
use crate::models::nn::{linear, Mode};
use crate::models::sam_decoder::{MaskDecoder, PromptEncoder};
pub use crate::text::sampling::Decoding;
use crate::tokenize::{TextTokenizer, GPT2_EOS};

pub use checkpoint::{init_from_pretrained, save};
pub use config::{EmosemConfig, Finetune, ImageSource, Paradigm};
pub use features::ImageFeatures;
pub use kit_init::{install_emotion_prefix, install_mask_prior, EMOTION_PREFIX, MASK_PRIOR};

/// The eight emotions EmoSEM segments, in ArtEmis order (mask token `k` is emotion `k`).
pub const EMOTIONS: [Emotion; 8] = [
    Emotion::Amusement,
    Emotion::Awe,
    Emotion::Contentment,
    Emotion::Excitement,
    Emotion::Anger,
    Emotion::Disgust,
    Emotion::Fear,
    Emotion::Sadness,
];

/// Token ids of the emotion prompt for each of the eight emotions.
pub fn prompt_ids(cfg: &EmosemConfig, tok: &TextTokenizer) -> Result<Vec<Vec<u32>>> {
    EMOTIONS
        .iter()
        .map(|e| tok.encode(&cfg.prompt_template.replace("{}", e.name())))
        .collect()
}

/// SAM's hypernetwork MLP layout (`layers.{i}`, ReLU between layers).
#[derive(Debug, Clone)]
struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    fn new(dims: &[usize], vb: VarBuilder) -> candle_core::Result<Self> {
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(w[0], w[1], true, vb.pp("layers").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Mlp { layers })
    }

    fn forward(&self, x: &Tensor, gelu: bool) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            x = l.forward(&x)?;
            if i + 1 < self.layers.len() {
                x = if gelu { x.gelu_erf()? } else { x.relu()? };
            }
        }
        Ok(x)
    }
}

/// One mask query: which image (row of the vision tokens) and which emotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Row of the image batch.
    pub image: usize,
    /// The emotion to segment.
    pub emotion: Emotion,
}

impl Query {
    /// One query per emotion on batch row `image`, in ArtEmis order.
    pub fn every_emotion(image: usize) -> Vec<Query> {
        EMOTIONS
            .iter()
            .map(|&emotion| Query { image, emotion })
            .collect()
    }
}

/// What the segmentation path returns for a list of queries.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Mask logits `[Q, 4h, 4w]`, in query order.
    pub masks: Tensor,
    /// The explainer prefix of each query, `[l_f, n_embd]` (`None` when both prefixes are
    /// switched off).
    pub prefixes: Vec<Option<Tensor>>,
}

/// The EmoSEM model (everything after the frozen image encoders).
#[derive(Debug, Clone)]
pub struct Emosem {
    cfg: EmosemConfig,
    prompt_encoder: PromptEncoder,
    decoder: MaskDecoder,
    mask_tokens: Tensor,
    hypernetworks: Vec<Mlp>,
    emotion_projector: Option<Linear>,
    neck: Option<Linear>,
    visual_proj: Option<Linear>,
    prefix_projector: Option<Mlp>,
    explainer: Gpt2,
    prompt_ids: Vec<Vec<u32>>,
    /// The per-emotion prior logits `[8, 4h, 4w]` (`mask_prior.logits`, frozen) that the
    /// mask head's output is a residual to; absent in checkpoints written before it existed.
    mask_prior: Option<Tensor>,
    /// Learned emotion embeddings `[8, n_embd]` (`prefix_projector.emotion.weight`)
    /// prepended to each query's explainer prefix, so the explanation is conditioned on the
    /// mask's emotion; absent in checkpoints written before it existed.
    emotion_prefix: Option<Tensor>,
    /// The explainer's known words (`words.txt` beside a demo model,
    /// [`crate::text::known_words`]): explanations are written with them only.
    known: Option<std::sync::Arc<crate::text::known_words::KnownWords>>,
    /// The text of every explainer id (with the word list: the title-word push follows
    /// what each explanation has written).
    piece_texts: Option<std::sync::Arc<Vec<String>>>,
}

impl Emosem {
    /// Builds the model from `vb` at the checkpoint root. `prompt_ids` are
    /// [`prompt_ids`]'s (one list per emotion).
    pub fn new(cfg: &EmosemConfig, vb: VarBuilder, prompt_ids: Vec<Vec<u32>>) -> Result<Self> {
        cfg.validate()?;
        if prompt_ids.len() != 8 || prompt_ids.iter().any(|p| p.is_empty()) {
            return Err(Error::Invalid(
                "EmoSEM: one non-empty prompt per emotion is needed".into(),
            ));
        }
        let c = cfg.mask_decoder.hidden_size;
        let n = cfg.explainer.n_embd;
        let k = cfg.num_mask_tokens();
        let hypernetworks = (0..k)
            .map(|i| Mlp::new(&[c, c, c, c / 8], vb.pp("mask_head.hypernetworks").pp(i)))
            .collect::<candle_core::Result<_>>()?;
        let neck = match &cfg.image {
            ImageSource::Grid { dim, .. } => Some(linear(*dim, c, true, vb.pp("neck"))?),
            ImageSource::Paper { .. } => None,
        };
        let visual_proj = (cfg.memory_dim != n)
            .then(|| linear(cfg.memory_dim, n, true, vb.pp("visual_proj")))
            .transpose()?;
        let emotion_projector = cfg
            .uses_prompt()
            .then(|| linear(n, c, true, vb.pp("emotion_projector")))
            .transpose()?;
        let prefix_projector = cfg
            .has_prefix()
            .then(|| Mlp::new(&[c, cfg.prefix_hidden, n], vb.pp("prefix_projector")))
            .transpose()?;
        Ok(Emosem {
            prompt_encoder: PromptEncoder::new(&cfg.prompt_encoder, vb.pp("prompt_encoder"))?,
            decoder: MaskDecoder::new(&cfg.mask_decoder, vb.pp("mask_decoder"))?
                .with_num_blocks(cfg.mixer_blocks),
            mask_tokens: vb.pp("mask_tokens").get_with_hints(
                (k, c),
                "weight",
                candle_nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            )?,
            hypernetworks,
            emotion_projector,
            neck,
            visual_proj,
            prefix_projector,
            explainer: Gpt2::new(&cfg.explainer, vb.pp("explainer"), false)?,
            prompt_ids,
            mask_prior: {
                let side = cfg.mask_side();
                let vb = vb.pp("mask_prior");
                vb.contains_tensor("logits")
                    .then(|| vb.get((EMOTIONS.len(), side, side), "logits"))
                    .transpose()?
            },
            emotion_prefix: {
                let vb = vb.pp("prefix_projector").pp("emotion");
                vb.contains_tensor("weight")
                    .then(|| vb.get((EMOTIONS.len(), n), "weight"))
                    .transpose()?
            },
            known: None,
            piece_texts: None,
            cfg: cfg.clone(),
        })
    }

    /// True when each explanation is conditioned on its emotion ([`install_emotion_prefix`]).
    pub fn has_emotion_prefix(&self) -> bool {
        self.emotion_prefix.is_some()
    }

    /// True when the mask head is a residual to a per-emotion prior ([`install_mask_prior`]).
    pub fn has_mask_prior(&self) -> bool {
        self.mask_prior.is_some()
    }

    /// The configuration.
    pub fn config(&self) -> &EmosemConfig {
        &self.cfg
    }

    /// Loads a model folder (`config.json` + `model.safetensors`) for inference. A
    /// checkpoint of the trainable variables only ([`EmosemConfig::trainable_only`]) gets
    /// its frozen variables from the SAM checkpoint its configuration names
    /// ([`paper_train::load_model`]).
    pub fn load(dir: &Path, tok: &TextTokenizer, device: &Device) -> Result<Self> {
        let cfg = EmosemConfig::load(&dir.join("config.json"))?;
        if cfg.trainable_only {
            return paper_train::load_model(dir, tok, device);
        }
        let w = Weights::load(&dir.join("model.safetensors"), device)?;
        let ids = prompt_ids(&cfg, tok)?;
        let file = dir.join("model.safetensors");
        let model = Self::new(&cfg, w.var_builder(device), ids)
            .map_err(|e| Error::at(&file, "EmoSEM checkpoint", e.to_string()))?;
        model.with_known_words_from(dir, tok)
    }

    /// Reads `dir/words.txt` when there is one ([`crate::text::known_words`]) over the
    /// explainer's GPT-2 vocabulary; a model without it decodes as before.
    pub fn with_known_words_from(mut self, dir: &Path, tok: &TextTokenizer) -> Result<Self> {
        let path = dir.join(crate::text::known_words::WORDS_FILE);
        if !path.is_file() {
            return Ok(self);
        }
        let texts = (0..self.cfg.explainer.vocab_size as u32)
            .map(|i| {
                if i >= GPT2_EOS {
                    Ok("<|special|>".to_string())
                } else {
                    tok.decode(&[i])
                }
            })
            .collect::<Result<Vec<_>>>()?;
        self.known = Some(std::sync::Arc::new(
            crate::text::known_words::KnownWords::load(&path, &texts)?,
        ));
        self.piece_texts = Some(std::sync::Arc::new(texts));
        Ok(self)
    }

    /// The explainer's known words, if it has a list.
    pub fn known_words(&self) -> Option<&crate::text::known_words::KnownWords> {
        self.known.as_deref()
    }

    /// Builds the model over the variables of `vm` (created there if missing): trainable
    /// variables stay variables, frozen ones become plain tensors, so gradients reach
    /// exactly [`EmosemConfig::trainable_prefixes`].
    pub fn from_varmap(
        cfg: &EmosemConfig,
        vm: &VarMap,
        prompt_ids: Vec<Vec<u32>>,
        device: &Device,
    ) -> Result<Self> {
        Emosem::new(
            cfg,
            VarBuilder::from_varmap(vm, DType::F32, device),
            prompt_ids.clone(),
        )?;
        let tensors: HashMap<String, Tensor> = {
            let data = vm
                .data()
                .lock()
                .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
            data.iter()
                .map(|(k, v)| {
                    let t = if cfg.is_trainable(k) {
                        v.as_tensor().clone()
                    } else {
                        v.as_tensor().detach()
                    };
                    (k.clone(), t)
                })
                .collect()
        };
        Emosem::new(
            cfg,
            VarBuilder::from_tensors(tensors, DType::F32, device),
            prompt_ids,
        )
    }

    /// Vision tokens `[B, C, h, w]` of image features.
    pub fn vision_tokens(&self, f: &ImageFeatures) -> Result<Tensor> {
        // Features cached on another device (the host) come to the model's.
        let f = &f.to_device(self.mask_tokens.device())?;
        let (c, s) = (self.cfg.mask_decoder.hidden_size, self.cfg.grid_side());
        let v = match (f, &self.neck) {
            (ImageFeatures::Paper { sam, .. }, None) => sam.clone(),
            (ImageFeatures::Grid { grid }, Some(neck)) => {
                let (b, n, _) = grid.dims3()?;
                if n != s * s {
                    return Err(Error::Invalid(format!(
                        "EmoSEM: grid of {n} cells, the model takes {s}x{s}"
                    )));
                }
                neck.forward(grid)?.transpose(1, 2)?.reshape((b, c, s, s))?
            }
            _ => {
                return Err(Error::Invalid(
                    "EmoSEM: image features of the wrong kind for this configuration".into(),
                ))
            }
        };
        if v.dims()[1..] != [c, s, s] {
            return Err(Error::Invalid(format!(
                "EmoSEM: vision tokens {:?}, the decoder takes [B, {c}, {s}, {s}]",
                v.dims()
            )));
        }
        Ok(v)
    }

    /// The explainer's memory `[B, N, n_embd]` of image features.
    pub fn memory(&self, f: &ImageFeatures) -> Result<Tensor> {
        let m = match f {
            ImageFeatures::Paper { clip_grid, .. } => clip_grid,
            ImageFeatures::Grid { grid } => grid,
        };
        let m = &m.to_device(self.mask_tokens.device())?;
        Ok(match &self.visual_proj {
            Some(p) => p.forward(m)?,
            None => m.clone(),
        })
    }

    fn mask_logits(&self, k: usize, token: &Tensor, up: &Tensor) -> Result<Tensor> {
        let (b, cu, hu, wu) = up.dims4()?;
        let h = self.hypernetworks[k].forward(token, false)?; // [b, cu]
        Ok(h.unsqueeze(1)?
            .matmul(&up.reshape((b, cu, hu * wu))?)?
            .reshape((b, hu, wu))?)
    }

    fn prefix(&self, tokens: &Tensor) -> Result<Option<Tensor>> {
        match &self.prefix_projector {
            Some(p) => Ok(Some(p.forward(tokens, true)?)),
            None => Ok(None),
        }
    }

    /// Runs the segmentation path for `queries` over vision tokens `[N, C, h, w]`; with a
    /// mask prior ([`install_mask_prior`]) each query's logits are its emotion's prior
    /// logits plus the mask head's output; with an emotion prefix
    /// ([`install_emotion_prefix`]) each prefix starts with its emotion's embedding.
    pub fn decode(&self, vision: &Tensor, queries: &[Query], mode: Mode) -> Result<Decoded> {
        let mut d = self.decode_residual(vision, queries, mode)?;
        if let Some(prior) = &self.mask_prior {
            let idx: Vec<u32> = queries.iter().map(|q| q.emotion.index() as u32).collect();
            let rows = prior.index_select(&Tensor::new(idx, vision.device())?, 0)?;
            d.masks = d.masks.add(&rows)?;
        }
        if let Some(emb) = &self.emotion_prefix {
            for (q, p) in queries.iter().zip(d.prefixes.iter_mut()) {
                let row = emb.i(q.emotion.index())?.unsqueeze(0)?;
                *p = Some(match p.take() {
                    Some(rest) => Tensor::cat(&[&row, &rest], 0)?,
                    None => row,
                });
            }
        }
        Ok(d)
    }

    fn decode_residual(&self, vision: &Tensor, queries: &[Query], mode: Mode) -> Result<Decoded> {
        if queries.is_empty() {
            return Err(Error::Invalid("EmoSEM: no mask query".into()));
        }
        let (n_img, c, _, _) = vision.dims4()?;
        if let Some(q) = queries
            .iter()
            .find(|q| q.image >= n_img || q.emotion == Emotion::SomethingElse)
        {
            return Err(Error::Invalid(format!(
                "EmoSEM: query {q:?} (images: {n_img}; emotions: the eight)"
            )));
        }
        let dev = vision.device();
        let pe = self.prompt_encoder.dense_pe()?;
        let (_, dense) = self.prompt_encoder.forward(None, None, None)?;
        match self.cfg.paradigm {
            Paradigm::Single => {
                let mut masks: Vec<Option<Tensor>> = vec![None; queries.len()];
                let mut prefixes: Vec<Option<Tensor>> = vec![None; queries.len()];
                for e in EMOTIONS {
                    let qs: Vec<usize> = (0..queries.len())
                        .filter(|&i| queries[i].emotion == e)
                        .collect();
                    if qs.is_empty() {
                        continue;
                    }
                    let b = qs.len();
                    let rows: Vec<u32> = qs.iter().map(|&i| queries[i].image as u32).collect();
                    let imgs = vision.index_select(&Tensor::new(rows, dev)?, 0)?;
                    let ids = &self.prompt_ids[e.index()];
                    let l = ids.len();
                    let words = self
                        .explainer
                        .embed_tokens(&Tensor::new(ids.as_slice(), dev)?)?
                        .detach();
                    let proj = self
                        .emotion_projector
                        .as_ref()
                        .ok_or_else(|| Error::Invalid("EmoSEM: no emotion projector".into()))?;
                    let p = proj
                        .forward(&words)?
                        .unsqueeze(0)?
                        .broadcast_as((b, l, c))?;
                    let m = self.mask_tokens.unsqueeze(0)?.broadcast_as((b, 1, c))?;
                    let extra = Tensor::cat(&[&p, &m], 1)?.contiguous()?;
                    let sparse = Tensor::zeros((b, 0, c), DType::F32, dev)?;
                    let out = self.decoder.forward(
                        &imgs,
                        &pe,
                        &sparse,
                        &dense,
                        false,
                        Some(&extra),
                        mode,
                    )?;
                    let ext = out
                        .extra_tokens
                        .ok_or_else(|| Error::Invalid("EmoSEM: decoder lost the tokens".into()))?;
                    let m_out = ext.i((.., l))?;
                    let logits = self.mask_logits(0, &m_out, &out.upscaled)?;
                    let mut parts = Vec::new();
                    if self.cfg.prompt_prefix {
                        parts.push(ext.narrow(1, 0, l)?);
                    }
                    if self.cfg.mask_prefix {
                        parts.push(ext.narrow(1, l, 1)?);
                    }
                    let pre = if parts.is_empty() {
                        None
                    } else {
                        self.prefix(&Tensor::cat(&parts, 1)?)?
                    };
                    for (j, &qi) in qs.iter().enumerate() {
                        masks[qi] = Some(logits.i(j)?);
                        prefixes[qi] = match &pre {
                            Some(p) => Some(p.i(j)?),
                            None => None,
                        };
                    }
                }
                let masks = masks
                    .into_iter()
                    .map(|m| m.ok_or_else(|| Error::Invalid("EmoSEM: unanswered query".into())))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Decoded {
                    masks: Tensor::stack(&masks, 0)?,
                    prefixes,
                })
            }
            Paradigm::Multi => {
                let k = 8;
                let m = self.mask_tokens.unsqueeze(0)?.broadcast_as((n_img, k, c))?;
                let m = m.contiguous()?;
                let sparse = Tensor::zeros((n_img, 0, c), DType::F32, dev)?;
                let out =
                    self.decoder
                        .forward(vision, &pe, &sparse, &dense, false, Some(&m), mode)?;
                let ext = out
                    .extra_tokens
                    .ok_or_else(|| Error::Invalid("EmoSEM: decoder lost the tokens".into()))?;
                let per_k = (0..k)
                    .map(|i| self.mask_logits(i, &ext.i((.., i))?, &out.upscaled))
                    .collect::<Result<Vec<_>>>()?;
                let all = Tensor::stack(&per_k, 1)?; // [n, 8, H, W]
                let (_, _, hu, wu) = all.dims4()?;
                let flat: Vec<u32> = queries
                    .iter()
                    .map(|q| (q.image * k + q.emotion.index()) as u32)
                    .collect();
                let idx = Tensor::new(flat, dev)?;
                let masks = all.reshape((n_img * k, hu, wu))?.index_select(&idx, 0)?;
                let prefixes = if self.cfg.mask_prefix {
                    let toks = ext.reshape((n_img * k, 1, c))?.index_select(&idx, 0)?;
                    let pre = self.prefix(&toks)?;
                    match pre {
                        Some(p) => (0..queries.len())
                            .map(|i| Ok(Some(p.i(i)?)))
                            .collect::<Result<Vec<_>>>()?,
                        None => vec![None; queries.len()],
                    }
                } else {
                    vec![None; queries.len()]
                };
                Ok(Decoded { masks, prefixes })
            }
        }
    }

    /// Input embeddings `[f, wte(<bos> x)] + wpe` of one explanation sequence.
    fn sequence_embeds(
        &self,
        prefix: Option<&Tensor>,
        ids: &[u32],
        dev: &Device,
    ) -> Result<Tensor> {
        let toks = self.explainer.embed_tokens(&Tensor::new(ids, dev)?)?;
        let seq = match prefix {
            Some(p) => Tensor::cat(&[p, &toks], 0)?,
            None => toks,
        };
        let t = seq.dim(0)?;
        Ok(seq.broadcast_add(&self.explainer.position_embeddings(0, t, dev)?.squeeze(0)?)?)
    }

    /// Teacher-forced explanation loss (mean token cross-entropy) for queries with
    /// explanations: `memory` `[Q, N, n_embd]` (one row per query), `tokens[q]` the
    /// explanation's GPT-2 ids without `<bos>`/`<eos>` (empty: no explanation, skipped).
    /// Returns `None` when no query has an explanation.
    pub fn explanation_loss(
        &self,
        prefixes: &[Option<Tensor>],
        memory: &Tensor,
        tokens: &[Vec<u32>],
        mode: Mode,
    ) -> Result<Option<Tensor>> {
        let dev = memory.device();
        let rows: Vec<usize> = (0..tokens.len())
            .filter(|&i| !tokens[i].is_empty())
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let max_pos = self.cfg.explainer.n_positions;
        let mut seqs = Vec::new();
        let mut targets = Vec::new();
        let mut positions = Vec::new();
        let mut lens = Vec::new();
        for &r in &rows {
            let lf = prefixes[r]
                .as_ref()
                .map(|p| p.dim(0))
                .transpose()?
                .unwrap_or(0);
            let keep = tokens[r]
                .len()
                .min(self.cfg.max_explanation_tokens)
                .min(max_pos.saturating_sub(lf + 1));
            let mut ids = vec![GPT2_EOS];
            ids.extend_from_slice(&tokens[r][..keep]);
            let e = self.sequence_embeds(prefixes[r].as_ref(), &ids, dev)?;
            lens.push(e.dim(0)?);
            for (j, &t) in tokens[r][..keep]
                .iter()
                .chain([GPT2_EOS].iter())
                .enumerate()
            {
                positions.push((seqs.len(), lf + j));
                targets.push(t);
            }
            seqs.push(e);
        }
        let t_max = *lens.iter().max().unwrap_or(&1);
        let n = self.cfg.explainer.n_embd;
        let padded = seqs
            .iter()
            .map(|s| {
                let t = s.dim(0)?;
                if t < t_max {
                    Ok(Tensor::cat(
                        &[s, &Tensor::zeros((t_max - t, n), DType::F32, dev)?],
                        0,
                    )?)
                } else {
                    Ok(s.clone())
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let embeds = Tensor::stack(&padded, 0)?;
        let mem = memory.index_select(
            &Tensor::new(rows.iter().map(|&r| r as u32).collect::<Vec<_>>(), dev)?,
            0,
        )?;
        let hidden = self
            .explainer
            .forward_embeds(&embeds, Some(&mem), None, None, mode)?;
        let flat_idx: Vec<u32> = positions
            .iter()
            .map(|&(row, pos)| (row * t_max + pos) as u32)
            .collect();
        let h = hidden
            .reshape((rows.len() * t_max, n))?
            .index_select(&Tensor::new(flat_idx, dev)?, 0)?;
        let logits = self.explainer.logits(&h)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let tgt = Tensor::new(targets, dev)?.unsqueeze(1)?;
        let picked = logp.gather(&tgt, 1)?;
        Ok(Some(picked.mean_all()?.neg()?))
    }
}

#[cfg(test)]
pub(crate) mod tests;
