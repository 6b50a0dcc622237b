//! Pseudo-masks from ArtEmis: one stimulus mask per utterance, for EmoSEM training
//! without hand-drawn regions.
//!
//! The EmoSEM paper (Sec. 4.1, "Datasets") builds its training masks from ArtEmis by
//! grounding: VinVL proposes object boxes with labels, CLIP scores them against the
//! utterance, and the best-matching regions become the utterance's mask. Neither VinVL
//! nor the paper's code ships, so Artemo approximates the pipeline with dense patch-text
//! similarity, one of two methods:
//!
//! - `clip` (CLIP ViT-B/16 installed, `models/clip-vit-base-patch16`): the image squashed
//!   to 224 x 224 (no centre crop, so every pixel has a patch), the post-LN patch tokens
//!   through CLIP's visual projection, cosine similarity to CLIP's text embedding of the
//!   utterance (MaskCLIP-style dense similarity);
//! - `kit` (the demo kit's own parts): the PACL patch tower (`models/pacl`, else
//!   `models/demo/pacl`), `q_v` applied to each patch token, cosine similarity to `q_t` of
//!   the MiniLM embedding of the utterance. PACL aligns the pooled token with text, so its
//!   patch tokens are aligned only as far as they share the pooled token's space: a weak
//!   grounding, documented as such.
//!
//! The whole utterance is the text (no part-of-speech tagger ships to pick its nouns).
//! Each similarity map (patch grid) is min-max normalised over the image, upsampled
//! bilinearly to the image's size and kept above `threshold` (default 0.5); a flat map
//! (no spread) gives an empty mask, counted in the report.
//!
//! # Cache
//! Raw similarity maps are cached under `cache/` (default `<out>/cache`), one `.npy` per
//! sha256 of (painting, emotion, utterance) + the image file's sha256 + the model's
//! identity (method + sha256 of the weights files); files are written atomically, so a
//! re-run (another threshold included) reuses every map and a killed run loses at most
//! the map being written.
//!
//! # Output (what [`super::load_pseudo`] reads)
//! `<out>/pseudo_masks.csv` (`row,painting,emotion,split,image,mask,utterance`; `row` is
//! the ArtEmis CSV's line number, `split` ArtEmis' 85/5/10 split by artwork, `mask`
//! relative to `<out>`), `<out>/masks/<painting>_r<row>.png` (binary, image size) and
//! `<out>/pseudo_masks.json` (method, model identity, threshold, counts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Module, Tensor, D};
use image::DynamicImage;
use serde::Serialize;

use crate::annotations::artemis::{artemis_split, histograms, read_artemis, Annotation};
use crate::annotations::mask::Mask;
use crate::collection::Collection;
use crate::error::{write_atomic, Error, Result};
use crate::manifest::{sha256_bytes, sha256_file};
use crate::metrics::segmentation::ScoreMap;
use crate::models::nn::Mode;
use crate::progress::Progress;

/// The index file of a pseudo-mask folder.
pub const INDEX_CSV: &str = "pseudo_masks.csv";
/// The record of how a pseudo-mask folder was made.
pub const RECORD_JSON: &str = "pseudo_masks.json";

/// How patch-text similarity is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PseudoMethod {
    /// CLIP ViT-B/16 patch tokens vs CLIP text.
    Clip,
    /// The demo kit's PACL patch tower vs MiniLM (through PACL's projections).
    Kit,
}

impl PseudoMethod {
    /// Parses `clip` or `kit`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "clip" => Some(PseudoMethod::Clip),
            "kit" => Some(PseudoMethod::Kit),
            _ => None,
        }
    }

    /// `clip` or `kit`.
    pub fn name(self) -> &'static str {
        match self {
            PseudoMethod::Clip => "clip",
            PseudoMethod::Kit => "kit",
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct PseudoRequest {
    /// The ArtEmis CSV.
    pub artemis: PathBuf,
    /// The images: a folder, a manifest CSV or a WikiArt root (painting id = file stem).
    pub images: PathBuf,
    /// The output folder.
    pub out: PathBuf,
    /// The method.
    pub method: PseudoMethod,
    /// The models folder (PACL, MiniLM, CLIP are looked for there).
    pub models: PathBuf,
    /// The assets folder (CLIP's tokenizer).
    pub assets: PathBuf,
    /// The model folder instead of the default (a PACL folder for `kit`, a CLIP ViT-B/16
    /// folder for `clip`).
    pub model_dir: Option<PathBuf>,
    /// The cache folder (default `<out>/cache`).
    pub cache: Option<PathBuf>,
    /// Kept share of the min-max normalised similarity, in (0, 1).
    pub threshold: f32,
    /// Skip rows whose painting has no image instead of refusing them.
    pub skip_missing: bool,
}

/// What was built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PseudoReport {
    /// `clip` or `kit`.
    pub method: String,
    /// The model's identity (part of every cache key).
    pub model: String,
    /// The threshold.
    pub threshold: f32,
    /// Rows of the CSV.
    pub rows: usize,
    /// Masks written.
    pub masks: usize,
    /// Similarity maps read from the cache.
    pub from_cache: usize,
    /// Similarity maps computed.
    pub computed: usize,
    /// Masks left empty by a flat similarity map.
    pub empty: usize,
    /// Rows skipped for want of an image (`skip_missing`).
    pub skipped: usize,
    /// The index file.
    pub index: PathBuf,
}

/// Dense patch-text similarity.
trait PatchText {
    /// Method and weights, for the cache key.
    fn identity(&self) -> &str;
    /// The patch grid's side.
    fn side(&self) -> usize;
    /// Unit-norm patch embeddings `[G*G, P]` of an image.
    fn patches(&self, img: &DynamicImage) -> Result<Tensor>;
    /// Unit-norm text embeddings `[N, P]`.
    fn texts(&self, texts: &[&str]) -> Result<Tensor>;
}

fn normalize(x: &Tensor) -> Result<Tensor> {
    let n = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&n)?)
}

struct Kit {
    model: crate::pacl::PaclModel,
    text: crate::models::bert::SentenceEncoder,
    identity: String,
    device: Device,
}

impl Kit {
    fn load(dir: &Path, models: &Path, device: &Device) -> Result<Self> {
        let model = crate::pacl::PaclModel::load(dir, device)?;
        let text = crate::pacl::embed::text_encoder(&model, models)?;
        let identity = format!(
            "kit:pacl={}:text={}",
            sha256_file(&dir.join("model.safetensors"))?,
            sha256_file(&text.dir().join("model.safetensors"))?
        );
        Ok(Kit {
            model,
            text,
            identity,
            device: device.clone(),
        })
    }
}

impl PatchText for Kit {
    fn identity(&self) -> &str {
        &self.identity
    }

    fn side(&self) -> usize {
        self.model.tower().config().grid
    }

    fn patches(&self, img: &DynamicImage) -> Result<Tensor> {
        use crate::models::patch_tower::{descriptors_tensor, image_descriptors};
        let d = image_descriptors(img, self.model.tower().config());
        let x = descriptors_tensor(&[&d], &self.device)?;
        let z = self.model.patch_features(&x)?;
        Ok(z.squeeze(0)?)
    }

    fn texts(&self, texts: &[&str]) -> Result<Tensor> {
        let e = self.text.encode(texts, 32)?;
        self.model.text_features(&e)
    }
}

struct Clip {
    vision: crate::models::clip_vision::ClipVision,
    projection: candle_nn::Linear,
    text: crate::models::clip_text::ClipText,
    tokenizer: crate::models::clip_tokenizer::ClipTokenizer,
    identity: String,
    device: Device,
}

impl Clip {
    fn load(dir: &Path, assets: &Path, device: &Device) -> Result<Self> {
        use crate::models::clip_text::{ClipText, ClipTextConfig};
        use crate::models::clip_vision::{ClipVision, ClipVisionConfig};
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(Error::at(
                dir,
                "config.json",
                "no CLIP ViT-B/16 here (import it with `artemo models import DIR --as clip-vit-base-patch16`, or use --method kit)",
            ));
        }
        let w = crate::models::loading::Weights::load(dir, device)?;
        let vcfg = ClipVisionConfig::from_json_file(&config)?;
        let tcfg = ClipTextConfig::from_json_file(&config)?;
        let proj = w.get(
            "visual_projection.weight",
            &[vcfg.projection_dim, vcfg.hidden_size],
        )?;
        let mut files = crate::models::loading::checkpoint_files(dir)?;
        files.sort();
        let hashes = files
            .iter()
            .map(|f| sha256_file(f))
            .collect::<Result<Vec<_>>>()?;
        Ok(Clip {
            vision: ClipVision::from_weights(&vcfg, &w, device)?,
            projection: candle_nn::Linear::new(proj, None),
            text: ClipText::from_weights(&tcfg, &w, device)?,
            tokenizer: crate::models::clip_tokenizer::ClipTokenizer::from_assets(assets)?,
            identity: format!("clip:{}", hashes.join("+")),
            device: device.clone(),
        })
    }
}

impl PatchText for Clip {
    fn identity(&self) -> &str {
        &self.identity
    }

    fn side(&self) -> usize {
        self.vision.config().grid_size()
    }

    fn patches(&self, img: &DynamicImage) -> Result<Tensor> {
        let s = self.vision.config().image_size as u32;
        // Squashed, not centre-cropped: every part of the painting gets patches.
        let square = img.resize_exact(s, s, image::imageops::FilterType::CatmullRom);
        let pix = crate::imaging::preprocess_clip(&square, s).to_tensor(&self.device)?;
        let out = self.vision.forward(&pix, Mode::Infer)?;
        normalize(&self.projection.forward(&out.grid.squeeze(0)?)?)
    }

    fn texts(&self, texts: &[&str]) -> Result<Tensor> {
        use crate::models::clip_tokenizer::Padding;
        let b = self
            .tokenizer
            .batch(texts, Padding::Longest, &self.device)?;
        let t = self
            .text
            .forward(&b.input_ids, Some(&b.attention_mask), Mode::Infer)?
            .text_embeds;
        normalize(&t)
    }
}

/// The cache key of one row's similarity map.
pub fn cache_key(row: &Annotation, image_sha: &str, model: &str) -> String {
    sha256_bytes(
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{image_sha}\u{1f}{model}",
            row.painting,
            row.emotion.name(),
            row.utterance.trim()
        )
        .as_bytes(),
    )
}

fn read_cached(path: &Path, side: usize) -> Option<Vec<f32>> {
    let m = ScoreMap::read_npy(path).ok()?;
    (m.width == side && m.height == side && m.data.iter().all(|v| v.is_finite())).then_some(m.data)
}

fn write_cached(path: &Path, side: usize, data: &[f32]) -> Result<()> {
    let arr = ndarray::Array2::from_shape_vec((side, side), data.to_vec())
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&arr, &mut bytes)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// The mask of one similarity map at the image's size: min-max normalised, bilinear,
/// strictly above `threshold`.
pub fn sims_to_mask(
    side: usize,
    sims: &[f32],
    width: usize,
    height: usize,
    threshold: f32,
) -> Result<Mask> {
    Ok(ScoreMap::new(side, side, sims.to_vec())?
        .normalized()
        .resized(width, height)
        .binarized(threshold))
}

/// Builds the pseudo-masks of `req` (see the module). `progress` gets the share of
/// paintings done; a cancelled `progress` stops with [`Error::Cancelled`] between
/// paintings (the maps computed so far stay in the cache; no index is written).
pub fn build_pseudo_masks(
    req: &PseudoRequest,
    device: &Device,
    progress: &dyn Progress,
) -> Result<PseudoReport> {
    if !(req.threshold > 0.0 && req.threshold < 1.0) {
        return Err(Error::Invalid(format!(
            "pseudo-masks: threshold {} is not in (0, 1)",
            req.threshold
        )));
    }
    let rows = read_artemis(&req.artemis)?;
    if rows.is_empty() {
        return Err(Error::at(&req.artemis, "rows", "the CSV has no row"));
    }
    let coll = Collection::open(&req.images)?;
    // Rows by painting (each image read and encoded once); CSV line = index + 2.
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut skipped = 0;
    for (i, r) in rows.iter().enumerate() {
        if r.utterance.trim().is_empty() {
            return Err(Error::at(
                &req.artemis,
                format!("row {}, field `utterance`", i + 2),
                "empty utterance",
            ));
        }
        if coll.get(&r.painting).is_none() {
            if req.skip_missing {
                skipped += 1;
                continue;
            }
            return Err(Error::at(
                &req.artemis,
                format!("row {}, field `painting`", i + 2),
                format!(
                    "painting `{}` has no image in {}",
                    r.painting,
                    req.images.display()
                ),
            ));
        }
        by.entry(r.painting.clone()).or_default().push(i);
    }
    progress.report(0.0, "loading the model");
    let model: Box<dyn PatchText> = match req.method {
        PseudoMethod::Kit => {
            let dir = match &req.model_dir {
                Some(d) => d.clone(),
                None => crate::pacl::locate(&req.models).ok_or_else(|| {
                    Error::Invalid(format!(
                        "pseudo-masks (kit): no PACL model under {} (models/pacl or models/demo/pacl)",
                        req.models.display()
                    ))
                })?,
            };
            Box::new(Kit::load(&dir, &req.models, device)?)
        }
        PseudoMethod::Clip => {
            let dir = req
                .model_dir
                .clone()
                .unwrap_or_else(|| req.models.join("clip-vit-base-patch16"));
            Box::new(Clip::load(&dir, &req.assets, device)?)
        }
    };
    let side = model.side();
    let cache = req.cache.clone().unwrap_or_else(|| req.out.join("cache"));
    let masks_dir = req.out.join("masks");
    for d in [&cache, &masks_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        crate::error::clean_stale_temps(d);
    }
    let splits = artemis_split(&histograms(&rows));
    let mut index = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::Invalid(format!("{INDEX_CSV}: {e}"));
    index
        .write_record([
            "row",
            "painting",
            "emotion",
            "split",
            "image",
            "mask",
            "utterance",
        ])
        .map_err(csv_err)?;
    let (mut from_cache, mut computed, mut empty, mut masks) = (0, 0, 0, 0);
    let n = by.len();
    for (k, (painting, idx)) in by.iter().enumerate() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        progress.report(
            k as f32 / n as f32,
            &format!("{k}/{n} paintings: {painting}"),
        );
        let Some(p) = coll.get(painting) else {
            continue;
        };
        let image_path = std::fs::canonicalize(&p.path).unwrap_or_else(|_| p.path.clone());
        let bytes = crate::error::read_file(&image_path)?;
        let image_sha = sha256_bytes(&bytes);
        let keys: Vec<PathBuf> = idx
            .iter()
            .map(|&i| {
                cache.join(format!(
                    "{}.npy",
                    cache_key(&rows[i], &image_sha, model.identity())
                ))
            })
            .collect();
        let mut sims: Vec<Option<Vec<f32>>> = keys.iter().map(|f| read_cached(f, side)).collect();
        from_cache += sims.iter().filter(|s| s.is_some()).count();
        let img = crate::imaging::decode_image(&bytes, &image_path)?;
        let missing: Vec<usize> = (0..idx.len()).filter(|&j| sims[j].is_none()).collect();
        if !missing.is_empty() {
            let patches = model.patches(&img)?;
            let texts: Vec<&str> = missing
                .iter()
                .map(|&j| rows[idx[j]].utterance.trim())
                .collect();
            let t = model.texts(&texts)?;
            // [N, P] x [P, G*G] -> [N, G*G] cosine similarities.
            let s: Vec<Vec<f32>> = t.matmul(&patches.t()?)?.to_vec2()?;
            for (&j, row) in missing.iter().zip(s) {
                write_cached(&keys[j], side, &row)?;
                sims[j] = Some(row);
                computed += 1;
            }
        }
        let (w, h) = (img.width() as usize, img.height() as usize);
        let split = splits
            .get(&rows[idx[0]].key())
            .map(|s| s.name())
            .unwrap_or("train");
        for (j, &i) in idx.iter().enumerate() {
            let row = &rows[i];
            let s = sims[j].as_deref().unwrap_or_default();
            let mask = sims_to_mask(side, s, w, h, req.threshold)?;
            if mask.is_empty() {
                empty += 1;
            }
            let rel = format!("masks/{}_r{}.png", painting, i + 2);
            mask.write_png(&req.out.join(&rel))?;
            masks += 1;
            index
                .write_record([
                    (i + 2).to_string(),
                    painting.clone(),
                    row.emotion.name().to_string(),
                    split.to_string(),
                    image_path.display().to_string(),
                    rel,
                    row.utterance.trim().to_string(),
                ])
                .map_err(csv_err)?;
        }
    }
    let bytes = index
        .into_inner()
        .map_err(|e| Error::Invalid(format!("{INDEX_CSV}: {e}")))?;
    let index_path = req.out.join(INDEX_CSV);
    write_atomic(&index_path, &bytes)?;
    let report = PseudoReport {
        method: req.method.name().into(),
        model: model.identity().to_string(),
        threshold: req.threshold,
        rows: rows.len(),
        masks,
        from_cache,
        computed,
        empty,
        skipped,
        index: index_path,
    };
    let mut record = serde_json::to_value(&report).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(o) = record.as_object_mut() {
        o.insert("artemis".into(), req.artemis.display().to_string().into());
        o.insert("images".into(), req.images.display().to_string().into());
        o.insert(
            "approximates".into(),
            "EmoSEM Sec. 4.1: VinVL boxes scored by CLIP against the utterance; here dense patch-text similarity (docs/emosem.md)".into(),
        );
    }
    write_atomic(
        &req.out.join(RECORD_JSON),
        serde_json::to_string_pretty(&record)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )?;
    progress.report(1.0, "done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn row(utterance: &str) -> Annotation {
        Annotation {
            art_style: "S".into(),
            painting: "p".into(),
            emotion: crate::emotion::Emotion::Awe,
            utterance: utterance.into(),
            repetition: None,
        }
    }

    #[test]
    fn cache_keys_change_with_row_image_and_model() {
        let k = cache_key(&row("a sky"), "img1", "kit:x");
        assert_eq!(k, cache_key(&row("  a sky "), "img1", "kit:x"));
        assert_ne!(k, cache_key(&row("a sea"), "img1", "kit:x"));
        assert_ne!(k, cache_key(&row("a sky"), "img2", "kit:x"));
        assert_ne!(k, cache_key(&row("a sky"), "img1", "kit:y"));
        let mut other = row("a sky");
        other.emotion = crate::emotion::Emotion::Fear;
        assert_ne!(k, cache_key(&other, "img1", "kit:x"));
    }

    #[test]
    fn masks_keep_the_normalised_share_above_the_threshold() {
        // 2x2 similarities 0, 1, 2, 3 -> 0, 1/3, 2/3, 1; at 2x2 (no resampling) > 0.5
        // keeps the two highest patches.
        let m = sims_to_mask(2, &[0.0, 1.0, 2.0, 3.0], 2, 2, 0.5).unwrap();
        assert_eq!(m.data, vec![0, 0, 1, 1]);
        // A flat map keeps nothing.
        assert!(sims_to_mask(2, &[0.3; 4], 8, 8, 0.5).unwrap().is_empty());
        assert!(sims_to_mask(2, &[0.3; 3], 8, 8, 0.5).is_err());
    }

    #[test]
    fn cancelled_runs_stop_without_an_index_and_thresholds_are_checked() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("a.csv");
        std::fs::write(
            &csv,
            "art_style,painting,emotion,utterance\nS,100026,awe,a boy\n",
        )
        .unwrap();
        let mut req = PseudoRequest {
            artemis: csv,
            images: root.join("assets/paintings/aic/paintings.csv"),
            out: d.path().join("out"),
            method: PseudoMethod::Kit,
            models: root.join("models"),
            assets: root.join("assets"),
            model_dir: None,
            cache: None,
            threshold: 0.5,
            skip_missing: false,
        };
        let cancel = AtomicBool::new(true);
        let p = crate::progress::FnProgress::with_cancel(|_, _| {}, &cancel);
        let e = build_pseudo_masks(&req, &Device::Cpu, &p).unwrap_err();
        assert!(matches!(e, Error::Cancelled), "{e}");
        assert!(!req.out.join(INDEX_CSV).exists());
        cancel.store(false, Ordering::Relaxed);
        req.threshold = 1.0;
        let e = build_pseudo_masks(&req, &Device::Cpu, &p).unwrap_err();
        assert!(e.to_string().contains("threshold"), "{e}");
        // CLIP without weights is refused with the way out.
        req.threshold = 0.5;
        req.method = PseudoMethod::Clip;
        req.model_dir = Some(d.path().join("no-clip"));
        let e = build_pseudo_masks(&req, &Device::Cpu, &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no-clip") && e.contains("--method kit"), "{e}");
    }

    #[test]
    fn clip_method_runs_on_a_tiny_random_clip() {
        // A small random CLIP checkpoint in HF layout (config.json + model.safetensors):
        // the clip path loads it, squashes the image to 32 x 32 (2 x 2 patches of 16) and
        // writes one mask per row; a re-run comes from the cache.
        use crate::models::clip_text::{ClipText, ClipTextConfig};
        use crate::models::clip_vision::{ClipVision, ClipVisionConfig};
        use candle_core::DType;
        use candle_nn::{VarBuilder, VarMap};
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let d = tempfile::tempdir().unwrap();
        let clip = d.path().join("clip");
        std::fs::create_dir_all(&clip).unwrap();
        let vcfg = ClipVisionConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            image_size: 32,
            patch_size: 16,
            projection_dim: 8,
            ..ClipVisionConfig::vit_b_16()
        };
        let tcfg = ClipTextConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            projection_dim: 8,
            ..ClipTextConfig::openai_vit_b()
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        ClipVision::new(&vcfg, vb.clone()).unwrap();
        ClipText::new(&tcfg, vb).unwrap();
        vm.save(clip.join("model.safetensors")).unwrap();
        let config = serde_json::json!({
            "projection_dim": 8,
            "vision_config": vcfg,
            "text_config": tcfg,
        });
        std::fs::write(clip.join("config.json"), config.to_string()).unwrap();
        let csv = d.path().join("a.csv");
        std::fs::write(
            &csv,
            "art_style,painting,emotion,utterance\nS,100342,awe,a saint in a brown robe\nS,100342,fear,a dark sky\n",
        )
        .unwrap();
        let req = PseudoRequest {
            artemis: csv,
            images: root.join("assets/paintings/aic/paintings.csv"),
            out: d.path().join("out"),
            method: PseudoMethod::Clip,
            models: root.join("models"),
            assets: root.join("assets"),
            model_dir: Some(clip),
            cache: None,
            threshold: 0.5,
            skip_missing: false,
        };
        let r = build_pseudo_masks(&req, &Device::Cpu, &crate::progress::Silent).unwrap();
        assert_eq!((r.masks, r.computed, r.from_cache), (2, 2, 0));
        assert!(r.model.starts_with("clip:"), "{}", r.model);
        let m = Mask::read_png(&req.out.join("masks/100342_r2.png")).unwrap();
        assert_eq!((m.width, m.height), (460, 640));
        let again = build_pseudo_masks(&req, &Device::Cpu, &crate::progress::Silent).unwrap();
        assert_eq!((again.computed, again.from_cache), (0, 2));
    }
}
