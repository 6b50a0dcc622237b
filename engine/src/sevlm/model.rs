//! The SEVLM network: GPT-2 decoder with cross-attention over image grid features, the
//! VAD emotion encoder fused into explanation embeddings, the VAD head and the
//! contrastive ("language reward") head. Paper: Zhang et al., "SEVLM"
//! (arXiv:2403.11150); checkpoint layout: BetterZH/SEVLM-code
//! (`models/gpt.py`, NLX-GPT based).
//!
//! Our key tree is the reference's with two prefixes, so a reference release maps by
//! prefixing alone (see [`crate::sevlm::checkpoint`]):
//!
//! | our key | reference |
//! |---|---|
//! | `decoder.transformer.{wte,wpe,h.*,ln_f}` | `nle_model_<e>/` `transformer.*` (distilgpt2 + cross-attention, vocab 50261) |
//! | `decoder.transformer.VAD_linear.{weight [d, d+3], bias}` | `transformer.VAD_linear.*` |
//! | `decoder.VAD_head.{weight [3, d], bias}` | `VAD_head.*` |
//! | `decoder.sim_mlp.pred.{0,2,4,6,8}.*` | `sim_mlp.pred.*` (LanguageReward) |
//! | `decoder.lm_head.weight` (only when untied) | `lm_head.weight` (tied to `wte` in the release) |
//! | `emo_encoder.*` | `emo_encoder_state_dict` of `ckpt_stats_<e>.tar` |
//! | `encoder_proj.{weight,bias}` | none: only when the image features are not `n_embd` wide (our small configuration) |
//! | `text_proj.*`, `emotion_head.{weight,bias}`, `emotion_head.reader.{fc1,fc2}.*` | none: Artemo's demo kit (issue 21; [`TextMemoryConfig`], [`EmotionHeadConfig`], [`EmotionReaderConfig`]) |
//!
//! Paper vs code, where we follow the code: the VAD fusion starts at a fixed position
//! (`emotion_span` = 6: `<bos> the emotion is <emotion> because`), the contrastive head
//! averages the emotion positions `[0, 6)` and explanation positions `[6, T)` of
//! sequences padded to `max_seq_len` (padding included), and decoding is greedy by
//! default although the paper reports nucleus sampling.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{Error, Result};
use crate::models::gpt2::{Gpt2, Gpt2Config};
use crate::models::loading::Weights;
use crate::models::nn::{linear, Mode};
use crate::sevlm::vad_encoder::{VadEncoder, VadEncoderConfig};

pub use super::vocab::{
    EMOTION_SEGMENT, EOS_ID, EXPLANATION_SEGMENT, PAD_ID, PREFIX_ID, SPECIAL_TOKENS, VOCAB_SIZE,
};

/// Which image encoder produces the grid features the decoder attends to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageEncoderKind {
    /// CLIP ViT-B/16, post-LN grid tokens, ImageNet statistics (the paper's encoder).
    ClipVitB16,
    /// The demo kit's patch tower (see `models::patch_tower`), frozen.
    PatchTower,
}

/// Everything that defines a SEVLM model (saved as `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SevlmConfig {
    /// Name of the configuration ("paper", "small", ...).
    pub name: String,
    /// The GPT-2 decoder (cross-attention on, vocabulary 50261).
    pub decoder: Gpt2Config,
    /// Width of the image grid features.
    pub encoder_dim: usize,
    /// The image encoder.
    pub image_encoder: ImageEncoderKind,
    /// The VAD encoder, fusion and VAD head.
    pub use_vad: bool,
    /// The VAD encoder's shape.
    pub vad_encoder: VadEncoderConfig,
    /// The contrastive head.
    pub use_cl: bool,
    /// Positions before the VAD fusion and the explanation mean: the reference's fixed 6
    /// (`models/gpt.py:446-447` and `:622-625`): `<bos> Ġthe Ġemotion Ġis <e>` +
    /// `Ġbecause` for a one-token emotion. Independent of the prompt's token count, as in
    /// the reference (both the reference prompt and the legacy one are 3 tokens).
    pub emotion_span: usize,
    /// Training sequence length (padding included).
    pub max_seq_len: usize,
    /// The prompt after `<bos>`: [`REFERENCE_PROMPT`](super::data::REFERENCE_PROMPT)
    /// (`" the emotion is"`, with its leading space) for new models; a config without
    /// the field was saved before issue 19 and keeps
    /// [`LEGACY_PROMPT`](super::data::LEGACY_PROMPT).
    #[serde(default = "legacy_prompt")]
    pub prompt: String,
    /// How token texts are matched against the VAD lexicon; configs without the field
    /// keep Artemo's earlier normalising lookup.
    #[serde(default)]
    pub vad_lookup: crate::lexicon::VadLookup,
    /// The lexicon the model was trained with (written by training; `None` in folders
    /// saved before issue 19, which all used the stand-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_lexicon: Option<crate::lexicon::LexiconRecord>,
    /// The GPT-2 ids a small model keeps (its vocabulary, in model-id order); `None`:
    /// GPT-2's full vocabulary plus the four specials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_vocab: Option<Vec<u32>>,
    /// Text as a second memory: sentence embeddings of the painting's text, packed after
    /// the image grid ([`TextMemoryConfig`]); `None` in models without it (every folder
    /// saved before issue 21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_memory: Option<TextMemoryConfig>,
    /// Artemo's demo-kit emotion head (issue 21; not in SEVLM: the paper's model has no
    /// such head): a linear map of [text embeddings, mean grid] to one logit per emotion
    /// word, added to the decoder's logits at the emotion position. `None` in the paper's
    /// model and in every folder saved before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emotion_head: Option<EmotionHeadConfig>,
    /// Artemo's title-word bias at decoding (issue 21; not in SEVLM): the logit bias
    /// given to the first piece of each word of the painting's title not yet written in
    /// the explanation ([`crate::text::painting_words`]). 0 (off) in the paper's model
    /// and in every folder saved before it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub painting_word_bias: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

/// The one-hot map [E, V] from the emotion head's outputs to the vocabulary (row r has a 1
/// at `token_ids[r]`), on `like`'s device and in its dtype.
fn emotion_scatter(token_ids: &[u32], v: usize, like: &Tensor) -> Result<Tensor> {
    let mut onehot = vec![0f32; token_ids.len() * v];
    for (r, &id) in token_ids.iter().enumerate() {
        onehot[r * v + id as usize] = 1.0;
    }
    Ok(Tensor::from_vec(onehot, (token_ids.len(), v), like.device())?.to_dtype(like.dtype())?)
}

/// The demo kit's direct path from the painting's text (and pooled grid) to the emotion
/// decision (Artemo's addition, not in SEVLM). Weights `emotion_head.{weight [E, in],
/// bias [E]}`, `in` = `tokens * text_dim + encoder_dim` (the raw text embeddings of
/// every field, then the grid mean). Its logits are added to the decoder's vocabulary
/// logits at `position` (the last prompt token, which predicts the emotion word), on the
/// model ids `token_ids` (the first token of each emotion word, `Emotion::ALL` order);
/// the explanation then follows the chosen emotion token as before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmotionHeadConfig {
    /// The position whose logits pick the emotion word (`<bos>` + prompt length - 1).
    pub position: usize,
    /// Model ids of the first token of each emotion word after the prompt.
    pub token_ids: Vec<u32>,
    /// A frozen text-emotion classifier read on each text field, whose log-probabilities
    /// join the head's input (`None`: the head reads the embeddings and grid only, as
    /// in every folder saved before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<EmotionReaderConfig>,
    /// The head alone splits the emotion words' share at its position: their logits
    /// become the head's, shifted so that their total probability is the decoder's
    /// (false: the head's logits are added to the decoder's, as in every folder saved
    /// before it). The kit turns it on where the decoder's own logits there lower the
    /// accuracy on the val paintings, which the decoder never saw.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decides: bool,
}

/// The emotion head's reader (Artemo's demo kit, issue 21; not in SEVLM): a copy of a
/// text-emotion classifier head in the `ea-minilm` layout (`emotion_head.reader.fc1`
/// [hidden, text_dim], ReLU, `emotion_head.reader.fc2` [labels, hidden]) applied to each
/// field's sentence embedding. Its log-probabilities (zeros for an absent field) are the
/// head's input after the embeddings: what a classifier trained on thousands of
/// emotion-labelled sentences reads in the title, where 186 training paintings alone teach
/// the head little. Frozen: neither the head's fit nor the decoder's training changes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmotionReaderConfig {
    /// Where the weights were copied from (a models-folder name, for the record).
    pub source: String,
    /// Hidden width.
    pub hidden: usize,
    /// The classifier's labels, in its output order.
    pub labels: Vec<String>,
}

/// The text memory of a SEVLM model (issue 21): `tokens` sentence embeddings of
/// `text_dim` (one per field of the painting's text, by a frozen sentence encoder),
/// projected by `text_proj` to the decoder width and placed after the image grid in the
/// cross-attention memory.
///
/// Packing: the model's image input is one tensor [B, N + R, encoder_dim]: the grid's N
/// rows, then each text embedding written over `chunks()` rows of `encoder_dim`
/// (zero-padded), R = `tokens * chunks()`. A missing field (or a painting without text)
/// is a zero embedding; its memory token is then `text_proj`'s bias, a learned "no text".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextMemoryConfig {
    /// The sentence encoder (a folder name under `models/`: "all-MiniLM-L6-v2").
    pub encoder: String,
    /// Its embedding width (384).
    pub text_dim: usize,
    /// What each memory token embeds, in order ("title", "artist, date, medium",
    /// "description").
    pub fields: Vec<String>,
}

impl TextMemoryConfig {
    /// Memory tokens (one per field).
    pub fn tokens(&self) -> usize {
        self.fields.len()
    }

    /// Rows of `encoder_dim` one embedding is packed into.
    pub fn chunks(&self, encoder_dim: usize) -> usize {
        self.text_dim.div_ceil(encoder_dim.max(1))
    }

    /// Rows the text takes after the grid.
    pub fn packed_rows(&self, encoder_dim: usize) -> usize {
        self.tokens() * self.chunks(encoder_dim)
    }
}

fn legacy_prompt() -> String {
    super::data::LEGACY_PROMPT.into()
}

impl SevlmConfig {
    /// The paper's model: CLIP ViT-B/16 grid (768) + distilgpt2 with cross-attention.
    pub fn paper() -> Self {
        let mut decoder = Gpt2Config::distilgpt2(true);
        decoder.vocab_size = VOCAB_SIZE;
        SevlmConfig {
            name: "paper".into(),
            decoder,
            encoder_dim: 768,
            image_encoder: ImageEncoderKind::ClipVitB16,
            use_vad: true,
            vad_encoder: VadEncoderConfig::default(),
            use_cl: true,
            emotion_span: 6,
            max_seq_len: 30,
            prompt: super::data::REFERENCE_PROMPT.into(),
            vad_lookup: crate::lexicon::VadLookup::ExactLemma,
            trained_lexicon: None,
            compact_vocab: None,
            text_memory: None,
            emotion_head: None,
            painting_word_bias: 0.0,
        }
    }

    /// The lexicon this model was trained with: its record, else the reference's for a
    /// converted release (its `name` starts with "reference", see
    /// [`super::checkpoint`]), else the stand-in (older Artemo folders).
    pub fn trained_lexicon_or_assumed(&self) -> crate::lexicon::LexiconRecord {
        match &self.trained_lexicon {
            Some(r) => r.clone(),
            None if self.name.starts_with("reference") => {
                crate::lexicon::LexiconRecord::reference()
            }
            None => crate::lexicon::LexiconRecord::legacy_stand_in(),
        }
    }

    /// The demo kit's CPU model: a 4-layer, 256-wide GPT-2 over the patch tower's grid.
    pub fn small() -> Self {
        let mut c = Self::paper();
        c.name = "small".into();
        c.decoder.n_embd = 256;
        c.decoder.n_layer = 4;
        c.decoder.n_head = 4;
        c.decoder.n_positions = 64;
        c.encoder_dim = 192;
        c.image_encoder = ImageEncoderKind::PatchTower;
        c.vad_encoder.max_positions = 64;
        c
    }

    /// A tiny configuration for tests (same vocabulary, 32 wide).
    pub fn tiny(encoder_dim: usize) -> Self {
        let mut c = Self::small();
        c.name = "tiny".into();
        c.decoder.n_embd = 32;
        c.decoder.n_layer = 2;
        c.decoder.n_head = 2;
        c.decoder.n_positions = 40;
        c.encoder_dim = encoder_dim;
        c.vad_encoder.max_positions = 40;
        c
    }

    /// Input width of the emotion head: every text field's embedding, then (with a
    /// reader) every field's reading, then the grid mean.
    pub fn emotion_head_inputs(&self) -> usize {
        let text = self.text_memory.as_ref();
        text.map_or(0, |t| t.tokens() * t.text_dim)
            + text.map_or(0, |t| t.tokens()) * self.reader_labels()
            + self.encoder_dim
    }

    /// The emotion head reader's label count (0 without a reader).
    pub fn reader_labels(&self) -> usize {
        self.emotion_head
            .as_ref()
            .and_then(|h| h.reader.as_ref())
            .map_or(0, |r| r.labels.len())
    }

    /// Reads `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::error::read_text(path)?;
        serde_json::from_str(&text).map_err(|e| Error::parse(path, None, e.to_string()))
    }

    /// Gives the model a compact vocabulary (sets `decoder.vocab_size`).
    pub fn with_compact_vocab(mut self, vocab: &super::vocab::CompactVocab) -> Self {
        self.decoder.vocab_size = vocab.len();
        self.compact_vocab = Some(vocab.gpt2_ids().to_vec());
        self
    }

    /// Checks that the pieces fit together.
    pub fn validate(&self) -> Result<()> {
        if !self.painting_word_bias.is_finite() || self.painting_word_bias < 0.0 {
            return Err(Error::Invalid(format!(
                "SEVLM config: painting_word_bias must be a finite number >= 0, got {}",
                self.painting_word_bias
            )));
        }
        if !self.decoder.add_cross_attention {
            return Err(Error::Invalid(
                "SEVLM config: the decoder needs cross-attention".into(),
            ));
        }
        match &self.compact_vocab {
            None if self.decoder.vocab_size < VOCAB_SIZE => {
                return Err(Error::Invalid(format!(
                    "SEVLM config: vocabulary {} is smaller than GPT-2 + 4 special tokens ({VOCAB_SIZE})",
                    self.decoder.vocab_size
                )))
            }
            Some(v) if v.len() != self.decoder.vocab_size => {
                return Err(Error::Invalid(format!(
                    "SEVLM config: compact vocabulary of {} ids but decoder vocab_size {}",
                    v.len(),
                    self.decoder.vocab_size
                )))
            }
            _ => {}
        }
        if self.max_seq_len > self.decoder.n_positions
            || (self.use_vad && self.max_seq_len > self.vad_encoder.max_positions)
        {
            return Err(Error::Invalid(format!(
                "SEVLM config: max_seq_len {} exceeds the decoder's or VAD encoder's positions",
                self.max_seq_len
            )));
        }
        if let Some(h) = &self.emotion_head {
            if h.token_ids.is_empty()
                || h.position + 1 >= self.max_seq_len
                || h.token_ids
                    .iter()
                    .any(|&i| i as usize >= self.decoder.vocab_size)
            {
                return Err(Error::Invalid(format!(
                    "SEVLM config: emotion head at position {} over ids {:?} does not fit the model",
                    h.position, h.token_ids
                )));
            }
            if let Some(r) = &h.reader {
                if self.text_memory.is_none() || r.hidden == 0 || r.labels.is_empty() {
                    return Err(Error::Invalid(format!(
                        "SEVLM config: the emotion head's reader ({}, {} hidden, {} labels) needs a text memory, hidden units and labels",
                        r.source,
                        r.hidden,
                        r.labels.len()
                    )));
                }
            }
        }
        if self.emotion_span >= self.max_seq_len {
            return Err(Error::Invalid(
                "SEVLM config: emotion_span must be shorter than max_seq_len".into(),
            ));
        }
        Ok(())
    }
}

/// The reference's `LanguageReward`: Linear(2d + e -> d), 3 x (ReLU, Linear d -> d),
/// ReLU, Linear(d -> 1).
#[derive(Debug, Clone)]
struct SimMlp {
    layers: Vec<Linear>,
}

impl SimMlp {
    fn new(im_dim: usize, d: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let p = vb.pp("pred");
        Ok(SimMlp {
            layers: vec![
                linear(2 * d + im_dim, d, true, p.pp("0"))?,
                linear(d, d, true, p.pp("2"))?,
                linear(d, d, true, p.pp("4"))?,
                linear(d, d, true, p.pp("6"))?,
                linear(d, 1, true, p.pp("8"))?,
            ],
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i + 1 < n {
                h = h.relu()?;
            }
        }
        h.squeeze(D::Minus1)
    }
}

/// Outputs of one forward pass.
#[derive(Debug, Clone)]
pub struct SevlmOutput {
    /// Final hidden states [B, T, d].
    pub hidden: Tensor,
    /// Vocabulary logits [B, T, V].
    pub logits: Tensor,
    /// The VAD head at every position [B, T, 3] (position t predicts token t + 1).
    pub vad: Option<Tensor>,
}

/// The SEVLM model.
#[derive(Debug, Clone)]
pub struct Sevlm {
    cfg: SevlmConfig,
    gpt: Gpt2,
    vad_linear: Option<Linear>,
    vad_head: Option<Linear>,
    emo_encoder: Option<VadEncoder>,
    sim_mlp: Option<SimMlp>,
    encoder_proj: Option<Linear>,
    text_proj: Option<Linear>,
    emotion_head: Option<Linear>,
    emotion_reader: Option<crate::text::ea_classifier::EaHead>,
    dropout: crate::models::gpt2::Dropout,
}

impl Sevlm {
    /// Builds the model from `vb` (keys in the module header).
    pub fn new(cfg: &SevlmConfig, vb: VarBuilder, untied_head: bool) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.decoder.n_embd;
        let dec = vb.pp("decoder");
        let dropout = crate::models::gpt2::Dropout::default();
        let mut gpt = Gpt2::new(&cfg.decoder, dec.clone(), untied_head)?;
        gpt.set_dropout(dropout.clone());
        let (vad_linear, vad_head, emo_encoder) = if cfg.use_vad {
            (
                Some(linear(
                    d + 3,
                    d,
                    true,
                    dec.pp("transformer").pp("VAD_linear"),
                )?),
                Some(linear(d, 3, true, dec.pp("VAD_head"))?),
                Some({
                    let mut e = VadEncoder::new(&cfg.vad_encoder, vb.pp("emo_encoder"))?;
                    e.set_dropout(dropout.clone());
                    e
                }),
            )
        } else {
            (None, None, None)
        };
        let sim_mlp = if cfg.use_cl {
            Some(SimMlp::new(cfg.encoder_dim, d, dec.pp("sim_mlp"))?)
        } else {
            None
        };
        let encoder_proj = if cfg.encoder_dim != d {
            Some(linear(cfg.encoder_dim, d, true, vb.pp("encoder_proj"))?)
        } else {
            None
        };
        let text_proj = match &cfg.text_memory {
            Some(t) => Some(linear(t.text_dim, d, true, vb.pp("text_proj"))?),
            None => None,
        };
        let emotion_head = match &cfg.emotion_head {
            Some(h) => Some(linear(
                cfg.emotion_head_inputs(),
                h.token_ids.len(),
                true,
                vb.pp("emotion_head"),
            )?),
            None => None,
        };
        let emotion_reader = match (
            cfg.emotion_head.as_ref().and_then(|h| h.reader.as_ref()),
            &cfg.text_memory,
        ) {
            (Some(r), Some(t)) => Some(crate::text::ea_classifier::EaHead::new(
                &crate::text::ea_classifier::HeadConfig {
                    encoder: t.encoder.clone(),
                    input: t.text_dim,
                    hidden: r.hidden,
                    labels: r.labels.clone(),
                },
                vb.pp("emotion_head").pp("reader"),
            )?),
            _ => None,
        };
        Ok(Sevlm {
            cfg: cfg.clone(),
            gpt,
            vad_linear,
            vad_head,
            emo_encoder,
            sim_mlp,
            encoder_proj,
            text_proj,
            emotion_head,
            emotion_reader,
            dropout,
        })
    }

    /// Sets the dropout probability of the decoder (HF GPT-2's embedding, attention and
    /// residual dropouts; distilgpt2's config has 0.1 for each) and of the VAD encoder
    /// (`models/vad_encoder.py:9`, 0.1), with masks drawn from `seed`. Active in
    /// [`Mode::Train`] only; 0 (the default) turns it off. Clones of this model share it.
    pub fn set_dropout(&self, p: f32, seed: u64) {
        self.dropout.configure(p, seed);
    }

    /// A freshly initialised, trainable model: every variable lives in the returned
    /// `VarMap`. Initialisation is deterministic by `seed`: PyTorch's default uniform for
    /// matrices, GPT-2's N(0, 0.02) for the token and position tables.
    pub fn init(cfg: &SevlmConfig, seed: u64, device: &Device) -> Result<(Self, VarMap)> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, device);
        let model = Self::new(cfg, vb, false)?;
        crate::models::nn::reseed(&vm, seed)?;
        gpt2_embedding_init(&vm, seed)?;
        Ok((model, vm))
    }

    /// Loads a model folder written by [`crate::sevlm::save`]: `config.json` +
    /// `model.safetensors`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = SevlmConfig::load(&dir.join("config.json"))?;
        let weights = Weights::load(&dir.join("model.safetensors"), device)?;
        Self::from_weights(&cfg, &weights, device)
    }

    /// Builds the model from loaded tensors (keys as in the module header).
    pub fn from_weights(cfg: &SevlmConfig, weights: &Weights, device: &Device) -> Result<Self> {
        let untied = untied_head(weights, "decoder.")?;
        let source = weights.source().to_path_buf();
        Self::new(cfg, weights.var_builder(device), untied)
            .map_err(|e| Error::parse(&source, None, format!("SEVLM checkpoint: {e}")))
    }

    /// The configuration.
    pub fn config(&self) -> &SevlmConfig {
        &self.cfg
    }

    /// The decoder.
    pub fn gpt(&self) -> &Gpt2 {
        &self.gpt
    }

    /// Splits the image input into the grid [B, N, encoder_dim] and, with a text memory,
    /// the text embeddings [B, tokens, text_dim] (packing in [`TextMemoryConfig`]).
    pub fn split_memory(&self, image: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let Some(tm) = &self.cfg.text_memory else {
            return Ok((image.clone(), None));
        };
        let (b, rows, dim) = image.dims3()?;
        let packed = tm.packed_rows(dim);
        if rows <= packed {
            return Err(Error::Invalid(format!(
                "SEVLM with a text memory: image input of {rows} rows holds no grid before the {packed} text rows"
            )));
        }
        let grid = image.narrow(1, 0, rows - packed)?;
        let text = image
            .narrow(1, rows - packed, packed)?
            .reshape((b, tm.tokens(), tm.chunks(dim) * dim))?
            .narrow(2, 0, tm.text_dim)?;
        Ok((grid, Some(text)))
    }

    /// The mean of the image grid [B, encoder_dim] (text rows left out): the contrastive
    /// head's image input.
    pub fn grid_mean(&self, image: &Tensor) -> Result<Tensor> {
        Ok(self.split_memory(image)?.0.mean(1)?)
    }

    /// The cross-attention memory at the decoder width: the projected image grid
    /// [B, N, d], followed by the projected text tokens with a text memory.
    pub fn encoder_states(&self, image: &Tensor) -> Result<Tensor> {
        let (grid, text) = self.split_memory(image)?;
        let grid = match &self.encoder_proj {
            Some(p) => p.forward(&grid)?,
            None => grid,
        };
        Ok(match (text, &self.text_proj) {
            (Some(t), Some(p)) => Tensor::cat(&[&grid, &p.forward(&t.contiguous()?)?], 1)?,
            _ => grid,
        })
    }

    /// Runs the model on token ids [B, T], segment ids [B, T], per-token lexicon VAD
    /// [B, T, 3] (ignored without the VAD modules) and image grid features
    /// [B, N, encoder_dim]. No padding mask, as the reference: padding sits at the end,
    /// where the causal mask hides it from real tokens.
    pub fn forward(
        &self,
        ids: &Tensor,
        segments: &Tensor,
        vad: Option<&Tensor>,
        image: &Tensor,
        mode: Mode,
    ) -> Result<SevlmOutput> {
        let emb = self.embeddings(ids, segments, vad, mode)?;
        let enc = self.encoder_states(image)?;
        let hidden = self
            .gpt
            .forward_embeds(&emb, Some(&enc), None, None, mode)?;
        let emotion = self.emotion_vocab_logits(image)?;
        let logits = self.head_logits(&hidden, 0, emotion.as_ref())?;
        let vad = self.vad_prediction(&hidden)?;
        Ok(SevlmOutput {
            hidden,
            logits,
            vad,
        })
    }

    /// The decoder's input embeddings [B, T, d]: token + position + segment embeddings,
    /// with the VAD encoder's output fused in from position `emotion_span` on
    /// (`models/gpt.py:443-451`) when the model has the VAD modules and `vad` is given.
    /// The VAD encoder is bidirectional, so the fused positions change whenever a token
    /// is added; the positions before `emotion_span` never do ([`Self::stable_prefix`]).
    pub fn embeddings(
        &self,
        ids: &Tensor,
        segments: &Tensor,
        vad: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        // Embedding dropout before the VAD fusion (models/gpt.py:443-451).
        let mut emb = self
            .dropout
            .apply(&self.gpt.embed(ids, Some(segments), 0)?, mode)?;
        let span = self.cfg.emotion_span;
        if let (Some(enc), Some(lin), Some(v)) = (&self.emo_encoder, &self.vad_linear, vad) {
            if t > span {
                let ef = enc.forward(v, mode)?;
                let head = emb.narrow(1, 0, span)?;
                let tail = Tensor::cat(
                    &[
                        &emb.narrow(1, span, t - span)?,
                        &ef.narrow(1, span, t - span)?,
                    ],
                    D::Minus1,
                )?;
                let tail = lin.forward(&tail)?;
                emb = Tensor::cat(&[&head, &tail], 1)?;
            }
        }
        Ok(emb)
    }

    /// How many leading positions of a `t`-token sequence have input embeddings that no
    /// later token changes: all `t` without the VAD fusion (`with_vad` false or no VAD
    /// modules), else the positions before `emotion_span` (the fused ones depend on the
    /// whole sequence through the bidirectional VAD encoder). Under the causal mask their
    /// keys and values in every layer are then final too, so decoding may cache them.
    pub fn stable_prefix(&self, t: usize, with_vad: bool) -> usize {
        if with_vad && self.emo_encoder.is_some() && self.vad_linear.is_some() {
            t.min(self.cfg.emotion_span)
        } else {
            t
        }
    }

    /// Vocabulary logits [B, n, V] of hidden states [B, n, d] at positions
    /// `start..start + n`, with the emotion head's logits (`emotion`, [B or 1, V], from
    /// [`Self::emotion_vocab_logits`]) added at its position when that is among them.
    pub fn head_logits(
        &self,
        hidden: &Tensor,
        start: usize,
        emotion: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut logits = self.gpt.logits(hidden)?;
        let t = hidden.dim(1)?;
        if let (Some(h), Some(add)) = (&self.cfg.emotion_head, emotion) {
            if h.position >= start && h.position < start + t {
                let p = h.position - start;
                let add = add.unsqueeze(1)?;
                let mut parts = Vec::with_capacity(3);
                if p > 0 {
                    parts.push(logits.narrow(1, 0, p)?);
                }
                let row = logits.narrow(1, p, 1)?;
                parts.push(if h.decides {
                    Self::head_decides(&row, &add, &h.token_ids)?
                } else {
                    row.broadcast_add(&add)?
                });
                if t > p + 1 {
                    parts.push(logits.narrow(1, p + 1, t - p - 1)?);
                }
                logits = Tensor::cat(&parts, 1)?;
            }
        }
        Ok(logits)
    }

    /// [`EmotionHeadConfig::decides`] at the head's position: `row` [B, 1, V] (the
    /// decoder's logits) with each emotion word's first token set to the head's
    /// log-probability among them (from the scattered `add` [B, 1, V]) plus the
    /// log-sum-exp of the decoder's logits over those tokens, so the emotion words keep
    /// their total probability and the head alone divides it.
    fn head_decides(row: &Tensor, add: &Tensor, token_ids: &[u32]) -> Result<Tensor> {
        let v = row.dim(D::Minus1)?;
        let ids = Tensor::from_vec(token_ids.to_vec(), token_ids.len(), row.device())?;
        let row = row.contiguous()?;
        let dec = row.index_select(&ids, 2)?; // [B, 1, E]
        let head = add
            .broadcast_as(row.shape())?
            .contiguous()?
            .index_select(&ids, 2)?;
        let mx = dec.max_keepdim(D::Minus1)?;
        let lse = (dec
            .broadcast_sub(&mx)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + &mx)?;
        let head = candle_nn::ops::log_softmax(&head, D::Minus1)?;
        let delta = (head.broadcast_add(&lse)? - &dec)?; // [B, 1, E]
        Ok((&row + delta.broadcast_matmul(&emotion_scatter(token_ids, v, &row)?)?)?)
    }

    /// The VAD head on hidden states [B, n, d] -> [B, n, 3] (position t predicts token
    /// t + 1); `None` without the VAD modules.
    pub fn vad_prediction(&self, hidden: &Tensor) -> Result<Option<Tensor>> {
        match &self.vad_head {
            Some(h) => Ok(Some(h.forward(hidden)?)),
            None => Ok(None),
        }
    }

    /// The emotion head's logits scattered onto the vocabulary [B, V] (added at its
    /// position by [`Self::head_logits`]); `None` without the head.
    pub fn emotion_vocab_logits(&self, image: &Tensor) -> Result<Option<Tensor>> {
        if self.cfg.emotion_head.is_none() || self.emotion_head.is_none() {
            return Ok(None);
        }
        self.emotion_head_vocab_logits(image).map(Some)
    }

    /// The emotion head's input [B, [`SevlmConfig::emotion_head_inputs`]]: the text
    /// fields' embeddings (zeros when absent), then with a reader each field's reading
    /// ([`EmotionReaderConfig`]; zeros when absent), then the grid mean. `None` without
    /// the head.
    pub fn emotion_head_features(&self, image: &Tensor) -> Result<Option<Tensor>> {
        if self.emotion_head.is_none() {
            return Ok(None);
        }
        let (grid, text) = self.split_memory(image)?;
        let pooled = grid.mean(1)?;
        Ok(Some(match text {
            Some(t) => {
                let (b, k, d) = t.dims3()?;
                let flat = t.contiguous()?.reshape((b * k, d))?;
                let mut parts = vec![flat.reshape((b, k * d))?];
                if let Some(r) = &self.emotion_reader {
                    let logp = candle_nn::ops::log_softmax(&r.logits(&flat)?, D::Minus1)?;
                    // An absent field (a zero embedding) reads as nothing, not as the
                    // classifier's answer to a zero vector.
                    let present = flat
                        .sqr()?
                        .sum_keepdim(1)?
                        .gt(0.0)?
                        .to_dtype(logp.dtype())?;
                    let l = logp.dim(1)?;
                    parts.push(logp.broadcast_mul(&present)?.reshape((b, k * l))?);
                }
                parts.push(pooled);
                Tensor::cat(&parts, 1)?
            }
            None => pooled,
        }))
    }

    /// The emotion head's logits [B, E] over its emotion words (`Emotion::ALL` order);
    /// `None` without the head (see [`EmotionHeadConfig`]).
    pub fn emotion_head_logits(&self, image: &Tensor) -> Result<Option<Tensor>> {
        match self.emotion_head_features(image)? {
            Some(x) => self.emotion_head_logits_from_features(&x),
            None => Ok(None),
        }
    }

    /// The emotion head on its input features ([`Self::emotion_head_features`]).
    pub fn emotion_head_logits_from_features(&self, x: &Tensor) -> Result<Option<Tensor>> {
        match &self.emotion_head {
            Some(l) => Ok(Some(l.forward(x)?)),
            None => Ok(None),
        }
    }

    /// The emotion head's logits scattered onto the vocabulary [B, V].
    fn emotion_head_vocab_logits(&self, image: &Tensor) -> Result<Tensor> {
        let (Some(h), Some(e)) = (&self.cfg.emotion_head, self.emotion_head_logits(image)?) else {
            return Err(Error::Invalid("this SEVLM has no emotion head".into()));
        };
        let s = emotion_scatter(&h.token_ids, self.cfg.decoder.vocab_size, &e)?;
        Ok(e.matmul(&s)?)
    }

    /// The contrastive head's score of (image mean [B, encoder_dim], emotion-span mean
    /// `[B, d]`, explanation mean `[B, d]`) -> `[B]`.
    pub fn similarity(
        &self,
        image: &Tensor,
        emotion: &Tensor,
        explanation: &Tensor,
    ) -> Result<Tensor> {
        let head = self
            .sim_mlp
            .as_ref()
            .ok_or_else(|| Error::Invalid("this SEVLM has no contrastive head".into()))?;
        let x = Tensor::cat(&[image, emotion, explanation], D::Minus1)?;
        Ok(head.forward(&x)?)
    }
}

/// True when `prefix lm_head.weight` exists and differs from `prefix transformer.wte.weight`.
fn untied_head(w: &Weights, prefix: &str) -> Result<bool> {
    let head = format!("{prefix}lm_head.weight");
    let wte = format!("{prefix}transformer.wte.weight");
    if !w.contains(&head) {
        return Ok(false);
    }
    let (h, e) = (w.get_any(&head)?, w.get_any(&wte)?);
    Ok(h.dims() != e.dims() || (h - e)?.abs()?.max_all()?.to_scalar::<f32>()? > 0.0)
}

/// GPT-2's initialisation of the token and position tables: N(0, 0.02), seeded.
fn gpt2_embedding_init(vm: &VarMap, seed: u64) -> Result<()> {
    use rand::SeedableRng;
    use rand_distr_free::normal;
    let data = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5e71_0002);
    let mut names: Vec<&String> = data
        .keys()
        .filter(|k| k.ends_with("transformer.wte.weight") || k.ends_with("transformer.wpe.weight"))
        .collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let vals: Vec<f32> = (0..n).map(|_| 0.02 * normal(&mut rng)).collect();
        var.set(&Tensor::from_vec(vals, var.dims(), var.device())?)?;
    }
    Ok(())
}

/// A standard normal sample without the `rand_distr` crate (Box-Muller).
mod rand_distr_free {
    use rand::Rng;
    pub fn normal(rng: &mut impl Rng) -> f32 {
        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = rng.gen();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

impl crate::sevlm::data::SequenceBuilder {
    /// A builder for a model configuration (its prompt, length and vocabulary).
    pub fn for_config(
        tokenizer: crate::tokenize::TextTokenizer,
        lexicon: crate::lexicon::VadLexicon,
        cfg: &SevlmConfig,
    ) -> Self {
        Self::new(tokenizer, lexicon, &cfg.prompt, cfg.max_seq_len)
            .with_vocab(
                cfg.compact_vocab
                    .clone()
                    .map(super::vocab::CompactVocab::new),
            )
            .with_lookup(cfg.vad_lookup)
    }
}
