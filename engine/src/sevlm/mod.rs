//! SEVLM: the emotion a painting evokes and a generated explanation, with VAD modelling
//! (Zhang et al., arXiv:2403.11150; checkpoint layout of
//! BetterZH/SEVLM-code).
//!
//! - [`model`]: the network (GPT-2 + cross-attention, VAD encoder and fusion, VAD head,
//!   contrastive head) and its configurations (`paper`, `small`, `tiny`).
//! - [`vad_encoder`]: the bidirectional VAD transformer.
//! - [`vocab`]: special token ids and the compact vocabulary.
//! - [`data`]: training sequences with segments, labels and per-token lexicon VAD; pairs.
//! - [`train`]: the losses and the training loop.
//! - [`generate`]: emotion distribution, greedy/nucleus decoding, parsing.
//! - [`checkpoint`]: loading the reference release.
//! - [`bench`](mod@bench): training-step and generation benchmarks.

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod decode_cache;
pub mod generate;
pub mod model;
pub mod session;
pub mod train;
pub mod vad_encoder;
pub mod vocab;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::imaging::{load_image, preprocess_sevlm};
use crate::models::clip_vision::ClipVision;
use crate::models::nn::Mode;

pub use data::{Example, SequenceBuilder};
pub use generate::{DecodeOptions, Decoding, GeneratedToken, Generation, ParseState};
pub use model::{ImageEncoderKind, Sevlm, SevlmConfig};
pub use train::{SevlmTrainConfig, TrainData, TrainReport};

/// Writes a model folder: `config.json` and `model.safetensors` (both atomically).
pub fn save(dir: &Path, cfg: &SevlmConfig, vm: &VarMap) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let json = serde_json::to_string_pretty(cfg)
        .map_err(|e| Error::Invalid(format!("SEVLM config: {e}")))?;
    write_atomic(&dir.join("config.json"), json.as_bytes())?;
    crate::train::save_varmap(vm, &dir.join("model.safetensors"))
}

/// Turns an image into the grid features SEVLM attends to, [1, N, encoder_dim].
pub trait ImageFeaturizer: Send + Sync {
    /// A short name for messages and caches ("clip-vit-b-16", "patch-tower").
    fn name(&self) -> &str;
    /// Grid features of one image file.
    fn features(&self, image: &Path, device: &Device) -> Result<Tensor>;
}

/// The paper's image encoder: CLIP ViT-B/16, post-LN grid tokens, on SEVLM's transform
/// (224 x 224 squash, ImageNet mean/std).
pub struct ClipGridFeaturizer {
    clip: ClipVision,
}

impl ClipGridFeaturizer {
    /// Wraps a loaded CLIP vision tower.
    pub fn new(clip: ClipVision) -> Self {
        ClipGridFeaturizer { clip }
    }
}

impl ImageFeaturizer for ClipGridFeaturizer {
    fn name(&self) -> &str {
        "clip-vit-b-16"
    }

    fn features(&self, image: &Path, device: &Device) -> Result<Tensor> {
        let img = load_image(image)?;
        let p = preprocess_sevlm(&img);
        let x = Tensor::from_vec(p.data, (1, 3, p.height, p.width), device)?;
        Ok(self.clip.forward(&x, Mode::Infer)?.grid)
    }
}

/// The demo kit's image encoder: the PACL-trained patch tower's grid (frozen).
pub struct TowerFeaturizer {
    pacl: crate::pacl::PaclModel,
}

impl TowerFeaturizer {
    /// Wraps a loaded PACL model.
    pub fn new(pacl: crate::pacl::PaclModel) -> Self {
        TowerFeaturizer { pacl }
    }
}

impl ImageFeaturizer for TowerFeaturizer {
    fn name(&self) -> &str {
        "patch-tower"
    }

    fn features(&self, image: &Path, device: &Device) -> Result<Tensor> {
        let tower = self.pacl.tower();
        let d = crate::models::patch_tower::file_descriptors(image, tower.config())?;
        let x = crate::models::patch_tower::descriptors_tensor(&[&d], device)?;
        Ok(tower.forward(&x, Mode::Infer)?.grid)
    }
}

/// A loaded SEVLM with its tokenizer, lexicon and image encoder.
pub struct SevlmRuntime {
    /// The network.
    pub model: Sevlm,
    /// Tokenizer + lexicon.
    pub seq: SequenceBuilder,
    /// The image encoder.
    pub featurizer: Box<dyn ImageFeaturizer>,
    /// Where the weights came from (shown to users).
    pub source: PathBuf,
    /// The VAD lexicon in use.
    pub lexicon: crate::lexicon::LexiconRecord,
    /// Warnings to show (a lexicon other than the one the model was trained with).
    pub warnings: Vec<String>,
    /// The frozen sentence encoder of a model with a text memory.
    pub text_memory: Option<crate::models::text_memory::TextMemory>,
}

/// Where SEVLM weights are looked for, in order: `sevlm` (installed real weights), then
/// `demo/sevlm` (the demo kit), each in the user's models folder first, then in `models`
/// ([`crate::locate_model`]).
pub fn locate(models: &Path) -> Option<PathBuf> {
    crate::locate_model(models, &["sevlm", "demo/sevlm"])
}

/// Loads a SEVLM model folder with the shipped GPT-2 tokenizer and VAD lexicon
/// (`assets`) and the image encoder its config names: CLIP ViT-B/16 from `clip`
/// (default: `<dir>/clip`, then `models/clip-vit-base-patch16`).
pub fn load_runtime(
    dir: &Path,
    assets: &Path,
    models: &Path,
    clip: Option<&Path>,
    device: &Device,
) -> Result<SevlmRuntime> {
    load_runtime_with(
        dir,
        assets,
        models,
        clip,
        &crate::lexicon::VadSource::StandIn,
        device,
    )
}

/// [`load_runtime`] with a chosen VAD lexicon; a lexicon other than the one the model
/// was trained with becomes a warning in [`SevlmRuntime::warnings`].
pub fn load_runtime_with(
    dir: &Path,
    assets: &Path,
    models: &Path,
    clip: Option<&Path>,
    lexicon: &crate::lexicon::VadSource,
    device: &Device,
) -> Result<SevlmRuntime> {
    let model = Sevlm::load(dir, device)?;
    runtime_for(model, dir, assets, models, clip, lexicon, device)
}

/// Loads a converted reference release (see [`checkpoint`]) as a runtime.
pub fn load_reference_runtime(
    decoder_dir: &Path,
    emo_encoder: Option<&Path>,
    assets: &Path,
    models: &Path,
    clip: Option<&Path>,
    device: &Device,
) -> Result<SevlmRuntime> {
    load_reference_runtime_with(
        decoder_dir,
        emo_encoder,
        assets,
        models,
        clip,
        &crate::lexicon::VadSource::StandIn,
        device,
    )
}

/// [`load_reference_runtime`] with a chosen VAD lexicon (the release was trained with NRC
/// VAD BipolarScale: the stand-in is a warning).
pub fn load_reference_runtime_with(
    decoder_dir: &Path,
    emo_encoder: Option<&Path>,
    assets: &Path,
    models: &Path,
    clip: Option<&Path>,
    lexicon: &crate::lexicon::VadSource,
    device: &Device,
) -> Result<SevlmRuntime> {
    let (model, _) = checkpoint::load_reference(decoder_dir, emo_encoder, device)?;
    runtime_for(model, decoder_dir, assets, models, clip, lexicon, device)
}

fn runtime_for(
    model: Sevlm,
    dir: &Path,
    assets: &Path,
    models: &Path,
    clip: Option<&Path>,
    lexicon_source: &crate::lexicon::VadSource,
    device: &Device,
) -> Result<SevlmRuntime> {
    let cfg = model.config().clone();
    let tokenizer = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
    let (lexicon, record) = crate::lexicon::VadLexicon::from_source(assets, lexicon_source)?;
    let warnings: Vec<String> =
        crate::lexicon::LexiconRecord::mismatch(&cfg.trained_lexicon_or_assumed(), &record)
            .into_iter()
            .collect();
    let seq = SequenceBuilder::for_config(tokenizer, lexicon, &cfg);
    let words = dir.join(crate::text::known_words::WORDS_FILE);
    let seq = if words.is_file() {
        seq.with_known_words_from(&words)?
    } else {
        seq
    };
    let featurizer: Box<dyn ImageFeaturizer> = match cfg.image_encoder {
        ImageEncoderKind::ClipVitB16 => {
            let candidates: Vec<PathBuf> = match clip {
                Some(c) => vec![c.to_path_buf()],
                None => vec![dir.join("clip"), models.join("clip-vit-base-patch16")],
            };
            let found = candidates.iter().find(|c| c.exists()).ok_or_else(|| {
                Error::Invalid(format!(
                    "SEVLM in {} needs CLIP ViT-B/16 weights: none at {} (import them with `artemo models import DIR --as clip-vit-base-patch16`)",
                    dir.display(),
                    candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            })?;
            Box::new(ClipGridFeaturizer::new(ClipVision::load(found, device)?))
        }
        ImageEncoderKind::PatchTower => {
            let candidates: Vec<PathBuf> = [dir.parent().map(|p| p.join("pacl"))]
                .into_iter()
                .flatten()
                .chain([models.join("demo/pacl"), models.join("pacl")])
                .collect();
            let found = candidates
                .iter()
                .find(|c| c.join("config.json").exists())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "SEVLM in {} needs the demo kit's image tower (a PACL model): none at {}",
                        dir.display(),
                        candidates
                            .iter()
                            .map(|c| c.display().to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ))
                })?;
            Box::new(TowerFeaturizer {
                pacl: crate::pacl::PaclModel::load(found, device)?,
            })
        }
    };
    let text_memory = match &cfg.text_memory {
        Some(t) => Some(crate::models::text_memory::TextMemory::load(
            t, models, device,
        )?),
        None => None,
    };
    Ok(SevlmRuntime {
        model,
        seq,
        featurizer,
        source: dir.to_path_buf(),
        lexicon: record,
        warnings,
        text_memory,
    })
}

/// SEVLM's answer for one painting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The image file.
    pub image: PathBuf,
    /// The model's probability of each ArtEmis label after the prompt (normalised).
    pub distribution: Vec<(Emotion, f32)>,
    /// Probability mass of the nine labels before normalisation (low values mean the
    /// model would rather write something else after the prompt).
    pub label_mass: f32,
    /// The generated emotion and explanation.
    pub generation: Generation,
    /// Where the weights came from.
    pub model: String,
    /// The VAD lexicon used (its record's one-line description).
    #[serde(default)]
    pub lexicon: String,
    /// Warnings about the lexicon (another than the one the model was trained with).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lexicon_warnings: Vec<String>,
    /// What the model read ("pixels + title, artist"; "pixels only"); `None` for a model
    /// without a text memory (it reads the pixels alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
    /// The title words the explanation was pushed towards (the model's
    /// `painting_word_bias`, [`crate::text::painting_words`]); empty where none were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub title_words: Vec<String>,
}

impl SevlmRuntime {
    /// Analyses one image: distribution, then generation with tokens streamed to `on_token`;
    /// a cancelled `progress` stops the generation between tokens.
    pub fn analyze(
        &self,
        image: &Path,
        opts: &DecodeOptions,
        device: &Device,
        on_token: impl FnMut(&GeneratedToken),
        progress: &dyn crate::progress::Progress,
    ) -> Result<Analysis> {
        // The painting's text once (a collection's manifest is read for it).
        let text = crate::models::text_memory::PaintingText::for_image(image);
        let (feats, read) = self.memory_with(image, &text, device)?;
        // The painting's cross-attention keys and values, once for both.
        let ctx = decode_cache::PaintingContext::new(&self.model, &feats)?;
        let (distribution, label_mass) =
            generate::emotion_distribution_in(&self.model, &self.seq, &ctx)?;
        let words = generate::painting_words(&self.model, &self.seq, text.title.as_deref())?;
        let generation = generate::generate_grounded_in(
            &self.model,
            &self.seq,
            &ctx,
            opts,
            words.as_ref(),
            on_token,
            progress,
        )?;
        Ok(Analysis {
            image: image.to_path_buf(),
            distribution,
            label_mass,
            generation,
            model: self.source.display().to_string(),
            lexicon: self.lexicon.describe(),
            lexicon_warnings: self.warnings.clone(),
            read,
            title_words: words
                .iter()
                .flat_map(|w| w.words().map(str::to_string))
                .collect(),
        })
    }

    /// The model's input for one image: its grid features, followed by its text's
    /// embeddings when the model has a text memory (the text of
    /// [`crate::models::text_memory::PaintingText::for_image`]), and what was read.
    pub fn memory(&self, image: &Path, device: &Device) -> Result<(Tensor, Option<String>)> {
        let text = crate::models::text_memory::PaintingText::for_image(image);
        self.memory_with(image, &text, device)
    }

    /// [`SevlmRuntime::memory`] with the painting's text given.
    fn memory_with(
        &self,
        image: &Path,
        text: &crate::models::text_memory::PaintingText,
        device: &Device,
    ) -> Result<(Tensor, Option<String>)> {
        let feats = self.featurizer.features(image, device)?;
        match &self.text_memory {
            Some(tm) => {
                let packed = crate::models::text_memory::pack(
                    &feats,
                    &tm.embed(std::slice::from_ref(text))?,
                )?;
                Ok((packed, Some(text.read_label())))
            }
            None => Ok((feats, None)),
        }
    }
}

#[cfg(test)]
mod tests;
