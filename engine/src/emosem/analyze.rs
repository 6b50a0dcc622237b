//! The EmoSEM analysis of one painting: load the model folder and its frozen image
//! encoders, segment and explain the requested emotions, hand each emotion's result to a
//! callback as it is ready (`jobs::analyze_emosem` streams it), and write the masks, score
//! maps, dominant map and `explanations.json` when an output folder is given.

use std::path::{Path, PathBuf};

use candle_core::{Device, IndexOp};

use super::features::{GridEncoder, ImageEncoder};
use super::postprocess::{postprocess_refined, write_outputs_with, EmotionResult, Logits};
use super::{Decoding, Emosem, ImageSource, Paradigm, EMOTIONS};
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::tokenize::TextTokenizer;

/// What to analyse.
pub struct AnalyzeRequest {
    /// The model folder (`config.json` + `model.safetensors`).
    pub model: PathBuf,
    /// The painting.
    pub image: PathBuf,
    /// The emotions: one (Single-Mask) or several; empty = all eight.
    pub emotions: Vec<Emotion>,
    /// Where to write the outputs (nothing is written when `None`).
    pub out: Option<PathBuf>,
    /// The assets folder (GPT-2 tokenizer).
    pub assets: PathBuf,
    /// The models folder (SAM and CLIP checkpoints of the paper configuration).
    pub models: PathBuf,
    /// Embedding cache folder (paper configuration).
    pub cache: Option<PathBuf>,
    /// The grid tower when the model uses one that the engine cannot resolve by name.
    pub tower: Option<Box<dyn GridEncoder>>,
    /// How the explanations are decoded (`None`: the model's configuration,
    /// [`super::EmosemConfig::decoding`]).
    pub decoding: Option<Decoding>,
}

/// The longest side of the probability maps and masks: the model's mask frame is
/// upsampled to the image's size but never beyond this many pixels on the long side (a
/// 19,000 px painting gets 2048 px maps, not 1.4 GB of float maps).
pub const MAX_MAP_SIDE: usize = 2048;

/// The size (width, height) of the maps for an image of `width` x `height`: the image's
/// own size, scaled down (aspect kept) so that its longest side is at most
/// [`MAX_MAP_SIDE`].
pub fn map_size(width: usize, height: usize) -> (usize, usize) {
    let long = width.max(height);
    if long <= MAX_MAP_SIDE {
        return (width, height);
    }
    let scale = MAX_MAP_SIDE as f64 / long as f64;
    let s = |v: usize| ((v as f64 * scale).round() as usize).clamp(1, MAX_MAP_SIDE);
    (s(width), s(height))
}

/// The result of an analysis.
pub struct Analysis {
    /// Per emotion, in request order.
    pub results: Vec<EmotionResult>,
    /// The written files, when an output folder was given.
    pub written: Option<super::postprocess::Written>,
    /// The image's size (width, height).
    pub image_size: (usize, usize),
    /// The maps' size (width, height): see [`map_size`].
    pub map_size: (usize, usize),
}

/// Runs an analysis; `on_result` receives each emotion's result as soon as it is ready,
/// `progress` is told each stage and checked for cancellation between them.
pub fn analyze(
    req: AnalyzeRequest,
    device: &Device,
    progress: &dyn Progress,
    mut on_result: impl FnMut(&EmotionResult),
) -> Result<Analysis> {
    let check = || {
        if progress.cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    };
    progress.report(0.0, "loading the EmoSEM model");
    let tok = TextTokenizer::gpt2_from_assets(&req.assets)?;
    let model = Emosem::load(&req.model, &tok, device)?;
    let cfg = model.config().clone();
    let encoder = match (req.tower, &cfg.image) {
        (Some(t), ImageSource::Grid { side, dim, .. }) => {
            if t.side() != *side || t.dim() != *dim {
                return Err(Error::Invalid(format!(
                    "EmoSEM: tower `{}` gives {}x{}x{}, the model takes {side}x{side}x{dim}",
                    t.name(),
                    t.side(),
                    t.side(),
                    t.dim()
                )));
            }
            ImageEncoder::Grid(t)
        }
        (_, source) => ImageEncoder::open(source, &req.models, req.cache.as_deref(), device)?,
    };
    check()?;
    progress.report(0.2, "encoding the image");
    let (w, h) =
        image::image_dimensions(&req.image).map_err(|e| Error::image(&req.image, e.to_string()))?;
    let features = encoder.encode_file(&req.image, device)?;
    check()?;
    let emotions: Vec<Emotion> = if req.emotions.is_empty() {
        EMOTIONS.to_vec()
    } else {
        req.emotions.clone()
    };
    if cfg.paradigm == Paradigm::Single && emotions.is_empty() {
        return Err(Error::Invalid("EmoSEM: no emotion requested".into()));
    }
    let content = encoder.content_share(w, h);
    let side = cfg.mask_side();
    let (mw, mh) = map_size(w as usize, h as usize);
    // The maps are refined to the painting's edges (guided filter) before thresholding.
    let guide =
        crate::imaging::guided::Guide::from_image(&crate::imaging::load_image(&req.image)?, mw, mh);
    let mut results = Vec::with_capacity(emotions.len());
    // Single-Mask runs one decoder pass per emotion (streamed as each finishes);
    // Multi-Masks segments all requested emotions in one pass.
    let groups: Vec<Vec<Emotion>> = match cfg.paradigm {
        Paradigm::Single => emotions.iter().map(|&e| vec![e]).collect(),
        Paradigm::Multi => vec![emotions.clone()],
    };
    let title = crate::models::text_memory::PaintingText::for_image(&req.image).title;
    let words = model.painting_words(&tok, title.as_deref())?;
    for group in groups {
        check()?;
        progress.report(
            0.3 + 0.7 * results.len() as f32 / emotions.len() as f32,
            &format!(
                "segmenting and explaining {}",
                group
                    .iter()
                    .map(|e| e.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let decoding = req.decoding.unwrap_or(cfg.decoding);
        let (masks, ids) = model.analyze_titled(&features, &group, decoding, words.as_ref())?;
        for (j, &e) in group.iter().enumerate() {
            let logits: Vec<f32> = masks.i(j)?.flatten_all()?.to_vec1()?;
            let text = tok.decode(&ids[j])?.trim().to_string();
            let r = postprocess_refined(
                e,
                &Logits {
                    data: &logits,
                    width: side,
                    height: side,
                    content,
                },
                Some(&guide),
                mw,
                mh,
                text,
            )?;
            on_result(&r);
            results.push(r);
        }
    }
    let written = match &req.out {
        Some(out) => {
            let stem = req
                .image
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            Some(write_outputs_with(
                out,
                &stem,
                &results,
                Some(req.decoding.unwrap_or(cfg.decoding)),
            )?)
        }
        None => None,
    };
    progress.report(1.0, "done");
    Ok(Analysis {
        results,
        written,
        image_size: (w as usize, h as usize),
        map_size: (mw, mh),
    })
}

/// The default model folder: `models/emosem` (installed weights) when it exists, else the
/// demo kit's `models/demo/emosem`.
pub fn default_model(models: &Path) -> Option<PathBuf> {
    super::view::locate(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_at_most_2048_px_on_the_long_side() {
        assert_eq!(map_size(640, 480), (640, 480));
        assert_eq!(map_size(2048, 100), (2048, 100));
        assert_eq!(map_size(19_000, 9_500), (2048, 1024));
        assert_eq!(map_size(6_000, 4_000), (2048, 1365));
        assert_eq!(map_size(30_000, 3), (2048, 1));
    }
}
