//! EmoSEM's configuration: the paradigm (Single-Mask / Multi-Masks), what is fine-tuned,
//! the image source, the `paper` and `small` presets, validation, the trainable parameter
//! groups and `config.json` load/save.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{read_text, write_atomic, Error, Result};
use crate::models::gpt2::Gpt2Config;
use crate::models::sam_decoder::{SamMaskDecoderConfig, SamPromptEncoderConfig};
use crate::text::sampling::Decoding;
use crate::tokenize::GPT2_EOS;

/// The paper's two paradigms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Paradigm {
    /// One learnable mask token, conditioned on an emotion prompt (the paper's default).
    Single,
    /// Eight learnable mask tokens, one per emotion, no prompt.
    Multi,
}

/// Which parts of SAM's mask decoder train (the paper's Fig. 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finetune {
    /// FT-MH (default): the mask head (upscaling + hypernetworks); the mixer is frozen.
    MaskHead,
    /// FT-MD: the whole mask decoder (mixer, SAM's tokens and the upscaling) as well.
    MaskDecoder,
}

/// Where the vision tokens come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageSource {
    /// SAM ViT-B embeddings `[B, 256, 64, 64]` and CLIP ViT-B/16 grid tokens `[B, 196, 768]`.
    Paper {
        /// SAM checkpoint (folder or file), relative to the models folder.
        sam: String,
        /// CLIP ViT-B/16 vision checkpoint, relative to the models folder.
        clip: String,
    },
    /// A frozen small tower's grid `[B, side * side, dim]` (row-major), used both as vision
    /// tokens (through the trained neck) and as the explainer's memory.
    Grid {
        /// Grid side G.
        side: usize,
        /// Feature width D.
        dim: usize,
        /// The tower's name ([`super::features::grid_encoder`] resolves it).
        tower: String,
    },
}

/// Everything that defines an EmoSEM model (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmosemConfig {
    /// Single-Mask or Multi-Masks.
    pub paradigm: Paradigm,
    /// The image side.
    pub image: ImageSource,
    /// SAM's prompt encoder (its dense positional encoding and `no_mask_embed` are used).
    pub prompt_encoder: SamPromptEncoderConfig,
    /// SAM's mask decoder.
    pub mask_decoder: SamMaskDecoderConfig,
    /// Two-way transformer blocks used (2).
    pub mixer_blocks: usize,
    /// The explainer (GPT-2 with cross-attention).
    pub explainer: Gpt2Config,
    /// Width of the explainer's memory tokens before `visual_proj` (768 for CLIP ViT-B/16).
    pub memory_dim: usize,
    /// Hidden width of the prefix projector.
    pub prefix_hidden: usize,
    /// Emit the emotional prompt prefix p'' (Single-Mask only).
    pub prompt_prefix: bool,
    /// Emit the mask prefix m''.
    pub mask_prefix: bool,
    /// Which decoder parts train.
    pub finetune: Finetune,
    /// The emotion prompt; `{}` is replaced by the emotion's name.
    pub prompt_template: String,
    /// Longest generated explanation in tokens (25).
    pub max_explanation_tokens: usize,
    /// Greedy explanations never repeat the previous token or a bigram
    /// ([`crate::text::repeats`]; not in the paper, whose code decodes plainly). On by
    /// default, also for configurations written before the option existed.
    #[serde(default = "yes")]
    pub block_repeats: bool,
    /// How explanations are decoded: nucleus p = 0.9 in the `paper` configuration (the
    /// paper's setting), greedy otherwise and for configurations written before the option
    /// existed.
    #[serde(default)]
    pub decoding: Decoding,
    /// Emotion guidance of the explanations (Artemo's; in neither EmoSEM's paper nor its
    /// code): at each step a mask's next-token scores `l` are pushed away from `l_n`, the
    /// scores of the same words read with the mean of the eight emotions' prefixes (the
    /// painting without a particular emotion): `l + guidance (l - l_n)`. This is
    /// classifier-free guidance (Ho and Salimans, 2022; for language models Sanchez et
    /// al., 2023) with the mean prefix as the unconditional input (`docs/emosem.md`).
    /// 0 (the default, and for configurations written before the option existed): off.
    /// Needs the Multi-Masks paradigm (prefixes of one length).
    #[serde(default)]
    pub guidance: f32,
    /// The logit bias towards the painting's title words while each mask's explanation is
    /// written (Artemo's, issue 21; [`crate::text::painting_words`], as SEVLM's
    /// `painting_word_bias`). 0 (the default, and for configurations written before the
    /// option existed): off. Acts only with the explainer's word list (`words.txt`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub painting_word_bias: f32,
    /// Checkpoints hold only the trainable variables; the frozen rest (SAM's prompt encoder
    /// and, under FT-MH, the two-way transformer) is read from the SAM checkpoint that
    /// [`ImageSource::Paper`] names when the model is loaded. Set for models trained in the
    /// paper layout ([`crate::emosem::paper_train`]); off (every variable saved) otherwise
    /// and for configurations written before the option existed.
    #[serde(default)]
    pub trainable_only: bool,
}

fn yes() -> bool {
    true
}

impl EmosemConfig {
    /// The paper's configuration: SAM ViT-B (256-wide decoder, 64x64 embedding), distilgpt2
    /// with cross-attention over CLIP ViT-B/16 grid tokens.
    pub fn paper(paradigm: Paradigm) -> Self {
        EmosemConfig {
            paradigm,
            image: ImageSource::Paper {
                sam: "sam-vit-base".into(),
                clip: "clip-vit-base-patch16".into(),
            },
            prompt_encoder: SamPromptEncoderConfig::default(),
            mask_decoder: SamMaskDecoderConfig::fair(),
            mixer_blocks: 2,
            explainer: Gpt2Config::distilgpt2(true),
            memory_dim: 768,
            prefix_hidden: 768,
            prompt_prefix: true,
            mask_prefix: true,
            finetune: Finetune::MaskHead,
            prompt_template: "generate the mask for the emotion {}".into(),
            max_explanation_tokens: 25,
            block_repeats: true,
            decoding: Decoding::paper_nucleus(0),
            guidance: 0.0,
            painting_word_bias: 0.0,
            trainable_only: false,
        }
    }

    /// The tests' tiny Multi-Masks configuration over a 4 x 4 grid of `dim`-wide features
    /// from `tower`: a 16-wide, one-layer explainer writing at most 3 tokens.
    #[cfg(test)]
    pub(crate) fn tiny(tower: &str, dim: usize) -> Self {
        let mut cfg = EmosemConfig::small(Paradigm::Multi, 4, dim, tower);
        cfg.explainer.n_embd = 16;
        cfg.explainer.n_layer = 1;
        cfg.explainer.n_head = 2;
        cfg.prefix_hidden = 16;
        cfg.max_explanation_tokens = 3;
        cfg
    }

    /// A small CPU configuration over a `side` x `side` grid of `dim`-wide features: a
    /// 64-wide SAM-style decoder (4 heads, MLP 256) and a 4-layer, 256-wide GPT-2 layout
    /// explainer (GPT-2's vocabulary).
    pub fn small(paradigm: Paradigm, side: usize, dim: usize, tower: &str) -> Self {
        let c = 64;
        EmosemConfig {
            paradigm,
            image: ImageSource::Grid {
                side,
                dim,
                tower: tower.into(),
            },
            prompt_encoder: SamPromptEncoderConfig {
                hidden_size: c,
                image_size: side * 16,
                patch_size: 16,
                ..Default::default()
            },
            mask_decoder: SamMaskDecoderConfig {
                hidden_size: c,
                mlp_dim: 256,
                num_attention_heads: 4,
                iou_head_hidden_dim: c,
                ..SamMaskDecoderConfig::fair()
            },
            mixer_blocks: 2,
            explainer: Gpt2Config {
                n_positions: 64,
                n_embd: 256,
                n_layer: 4,
                n_head: 4,
                ..Gpt2Config::distilgpt2(true)
            },
            memory_dim: dim,
            prefix_hidden: 256,
            prompt_prefix: true,
            mask_prefix: true,
            finetune: Finetune::MaskHead,
            prompt_template: "generate the mask for the emotion {}".into(),
            max_explanation_tokens: 25,
            block_repeats: true,
            decoding: Decoding::Greedy,
            guidance: 0.0,
            painting_word_bias: 0.0,
            trainable_only: false,
        }
    }

    /// Mask tokens: 1 (Single-Mask) or 8 (Multi-Masks).
    pub fn num_mask_tokens(&self) -> usize {
        match self.paradigm {
            Paradigm::Single => 1,
            Paradigm::Multi => 8,
        }
    }

    /// Side of the vision-token grid.
    pub fn grid_side(&self) -> usize {
        self.prompt_encoder.image_embedding_size()
    }

    /// Side of the mask logits (4 x the grid side).
    pub fn mask_side(&self) -> usize {
        4 * self.grid_side()
    }

    pub(super) fn uses_prompt(&self) -> bool {
        self.paradigm == Paradigm::Single
    }

    pub(super) fn has_prefix(&self) -> bool {
        self.mask_prefix || (self.prompt_prefix && self.uses_prompt())
    }

    /// Checks that the parts fit together.
    pub fn validate(&self) -> Result<()> {
        let c = self.mask_decoder.hidden_size;
        if self.prompt_encoder.hidden_size != c {
            return Err(Error::Invalid(format!(
                "EmoSEM: prompt encoder width {} differs from the mask decoder's {c}",
                self.prompt_encoder.hidden_size
            )));
        }
        if let ImageSource::Grid { side, dim, .. } = &self.image {
            if *side != self.grid_side() || *dim == 0 {
                return Err(Error::Invalid(format!(
                    "EmoSEM: grid {side}x{side}x{dim} does not match the prompt encoder's {} cells per side",
                    self.grid_side()
                )));
            }
        }
        if !self.explainer.add_cross_attention {
            return Err(Error::Invalid(
                "EmoSEM: the explainer needs cross-attention (`add_cross_attention`)".into(),
            ));
        }
        if self.explainer.vocab_size <= GPT2_EOS as usize {
            return Err(Error::Invalid(format!(
                "EmoSEM: the explainer's vocabulary ({}) must cover GPT-2's BPE ids",
                self.explainer.vocab_size
            )));
        }
        if !(self.guidance.is_finite() && self.guidance >= 0.0) {
            return Err(Error::Invalid(format!(
                "EmoSEM: `guidance` must be 0 or more, not {}",
                self.guidance
            )));
        }
        if !(self.painting_word_bias.is_finite() && self.painting_word_bias >= 0.0) {
            return Err(Error::Invalid(format!(
                "EmoSEM: `painting_word_bias` must be 0 or more, not {}",
                self.painting_word_bias
            )));
        }
        let prefixed = self.mask_prefix || self.prompt_prefix;
        if self.guidance > 0.0 && (self.paradigm != Paradigm::Multi || !prefixed) {
            return Err(Error::Invalid(
                "EmoSEM: `guidance` needs the Multi-Masks paradigm with explainer prefixes".into(),
            ));
        }
        if !self.prompt_template.contains("{}") {
            return Err(Error::Invalid(
                "EmoSEM: `prompt_template` needs a `{}` for the emotion".into(),
            ));
        }
        if self.mixer_blocks == 0 || self.mixer_blocks > self.mask_decoder.num_hidden_layers {
            return Err(Error::Invalid(format!(
                "EmoSEM: `mixer_blocks` {} (1..={})",
                self.mixer_blocks, self.mask_decoder.num_hidden_layers
            )));
        }
        Ok(())
    }

    /// Name prefixes of the variables that train (the rest stays frozen).
    pub fn trainable_prefixes(&self) -> Vec<&'static str> {
        let mut p = vec![
            "mask_tokens.",
            "mask_head.",
            "emotion_projector.",
            "prefix_projector.",
            "explainer.",
            "neck.",
            "visual_proj.",
            "mask_decoder.output_upscaling.",
        ];
        if self.finetune == Finetune::MaskDecoder {
            p.extend([
                "mask_decoder.transformer.",
                "mask_decoder.iou_token.",
                "mask_decoder.mask_tokens.",
            ]);
        }
        p
    }

    /// True when the variable `name` trains.
    pub fn is_trainable(&self, name: &str) -> bool {
        self.trainable_prefixes()
            .iter()
            .any(|p| name.starts_with(p))
    }

    /// Reads `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let cfg: EmosemConfig = serde_json::from_str(&text)
            .map_err(|e| Error::at(path, format!("line {}", e.line()), e.to_string()))?;
        cfg.validate()
            .map_err(|e| Error::at(path, "EmoSEM configuration", e.to_string()))?;
        Ok(cfg)
    }

    /// Writes `config.json` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(path, text.as_bytes())
    }
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}
