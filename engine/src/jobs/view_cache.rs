//! The Painting tab's EmoSEM masks in the result cache (issue 22: a second open of a
//! painting shows its masks at once): each [`MaskView`] request's maps and explanations are
//! kept under `results/emosem-view` ([`super::result_cache`]) and read back, all emotions
//! at once, without loading the model.
//!
//! Key: the model folder (`config.json`, `model.safetensors`, `words.txt`), the frozen
//! image encoder's files (SAM and CLIP checkpoints, or the PACL tower the configuration
//! names), the image's bytes, the emotions in request order, the view size and the
//! decoding (the configuration's when the request has none). [`TAG`] is bumped when the
//! code that turns these into maps changes (post-processing, guided filter).
//!
//! Entry payload (inside the result cache's checked envelope): an 8-byte little-endian
//! header length, the header as JSON (image size, paradigm; per emotion its index,
//! explanation and map size), then each map's probabilities as little-endian `f32`. The
//! masks, components and area shares are derived from the maps again on reading
//! ([`EmotionResult::from_probability`], the same function a fresh analysis ends with), so
//! a hit is identical to the computed result. A payload that does not parse is treated as
//! missing and recomputed.

use std::sync::Arc;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::masks::MaskView;
use super::result_cache::{entry_key, files_key, image_key, model_key, Lookup, ResultCache};
use crate::emosem::features::encoder_files;
use crate::emosem::postprocess::EmotionResult;
use crate::emosem::view::{run_view_with, MaskRuntime, ViewResult};
use crate::emosem::{EmosemConfig, Paradigm};
use crate::emotion::Emotion;
use crate::error::Result;
use crate::metrics::segmentation::ScoreMap;
use crate::progress::Progress;

/// The result-cache kind of the masks.
pub const KIND: &str = "emosem-view";
/// The size budget of the masks' folder: an entry holds eight f32 maps at the view size,
/// about 10 MB for a shipped painting, so about a hundred paintings stay cached; the least
/// recently opened go first ([`ResultCache::prune`]).
pub const BUDGET: u64 = 1 << 30;
/// Names the code that computes the maps; bump it when the same inputs give other maps.
pub const TAG: &str = "emosem-view v1";

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    image_size: (u32, u32),
    paradigm: Paradigm,
    maps: Vec<MapHeader>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MapHeader {
    emotion: usize,
    explanation: String,
    width: usize,
    height: usize,
}

/// The cache key of a request (see the module documentation).
pub fn view_key(req: &MaskView) -> Result<[u8; 32]> {
    let cfg = EmosemConfig::load(&req.model.join("config.json"))?;
    let model = model_key(&req.model, TAG)?;
    let encoder = files_key(&encoder_files(&cfg.image, &req.roots.models)?, TAG)?;
    let emotions: Vec<&str> = req.emotions.iter().map(|e| e.name()).collect();
    let decoding = serde_json::to_string(&req.decoding.unwrap_or(cfg.decoding))
        .map_err(|e| crate::error::Error::Invalid(format!("EmoSEM decoding: {e}")))?;
    // A title-word push makes the explanations depend on the painting's title.
    let title = if cfg.painting_word_bias > 0.0 {
        crate::models::text_memory::PaintingText::for_image(&req.image).title
    } else {
        None
    };
    let request = format!(
        "encoder {}\nemotions {}\nsize {:?}\ndecoding {decoding}{}",
        encoder
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        emotions.join(","),
        req.size,
        title.map(|t| format!("\ntitle {t}")).unwrap_or_default(),
    );
    Ok(entry_key(&model, &image_key(&req.image)?, &request))
}

/// A request's results as an entry payload.
pub fn encode(results: &[ViewResult]) -> Result<Vec<u8>> {
    let first = results.first();
    let header = Header {
        image_size: first.map_or((0, 0), |r| r.image_size),
        paradigm: first.map_or(Paradigm::Multi, |r| r.paradigm),
        maps: results
            .iter()
            .map(|r| MapHeader {
                emotion: r.result.emotion.index(),
                explanation: r.result.explanation.clone(),
                width: r.result.probability.width,
                height: r.result.probability.height,
            })
            .collect(),
    };
    let json = serde_json::to_vec(&header)
        .map_err(|e| crate::error::Error::Invalid(format!("EmoSEM view cache header: {e}")))?;
    let values: usize = results
        .iter()
        .map(|r| r.result.probability.data.len())
        .sum();
    let mut out = Vec::with_capacity(8 + json.len() + 4 * values);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for r in results {
        for v in &r.result.probability.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// The results of a payload for `req`; `None` when it does not parse.
pub fn decode(payload: &[u8], req: &MaskView) -> Option<Vec<ViewResult>> {
    let len = usize::try_from(u64::from_le_bytes(payload.get(..8)?.try_into().ok()?)).ok()?;
    let header: Header = serde_json::from_slice(payload.get(8..8usize.checked_add(len)?)?).ok()?;
    let mut values = payload.get(8 + len..)?;
    let mut out = Vec::with_capacity(header.maps.len());
    for m in header.maps {
        let n = m.width.checked_mul(m.height)?;
        let bytes = values.get(..n.checked_mul(4)?)?;
        values = &values[bytes.len()..];
        let data: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let probability = ScoreMap::new(m.width, m.height, data).ok()?;
        out.push(ViewResult {
            image: req.image.clone(),
            image_size: header.image_size,
            paradigm: header.paradigm,
            result: EmotionResult::from_probability(
                Emotion::from_index(m.emotion)?,
                probability,
                m.explanation,
            ),
        });
    }
    values.is_empty().then_some(out)
}

/// The masks of `req`: read back from the cache (`req.cache`) when stored, every emotion
/// at once and without calling `load`; else computed with the runtime `load` gives (each
/// emotion handed to `on_result` when ready) and stored. Says which. Without a cache
/// folder, or when the key cannot be made (a folder without the usual files, an
/// unreadable image), it computes and stores nothing ([`Lookup::Miss`]).
pub fn cached_view(
    req: &MaskView,
    load: impl FnOnce() -> Result<Arc<MaskRuntime>>,
    device: &Device,
    mut on_result: impl FnMut(ViewResult),
    progress: &dyn Progress,
) -> Result<Lookup> {
    let cache = req.cache.as_ref().and_then(|dir| {
        Some((
            ResultCache::new(dir, KIND).with_budget(BUDGET),
            view_key(req).ok()?,
        ))
    });
    let mut how = Lookup::Miss;
    if let Some((c, key)) = &cache {
        if c.path(key).exists() {
            match c.get_bytes(key).and_then(|b| decode(&b, req)) {
                Some(results) => {
                    results.into_iter().for_each(on_result);
                    return Ok(Lookup::Hit);
                }
                None => how = Lookup::Recomputed,
            }
        }
    }
    let rt = load()?;
    let mut results = Vec::new();
    run_view_with(
        &rt,
        &req.image,
        &req.emotions,
        req.size,
        req.decoding,
        device,
        |r| {
            if cache.is_some() {
                results.push(r.clone());
            }
            on_result(r)
        },
        progress,
    )?;
    if let Some((c, key)) = &cache {
        // A cache that cannot be written costs the next open its speed, not this result.
        if let Err(e) = encode(&results).and_then(|p| c.put_bytes(key, &p)) {
            progress.report(1.0, &format!("warning: EmoSEM result cache: {e}"));
        }
    }
    Ok(how)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emosem::features::PatchColourGrid;
    use crate::emosem::view::{write_initial_model, ViewSize};
    use crate::emosem::Decoding;
    use crate::jobs::command::Command;
    use crate::jobs::models::Roots;
    use crate::jobs::output::JobOutput;
    use crate::worker::{Engine, EngineConfig};
    use std::path::{Path, PathBuf};

    fn tiny(tower: &str, dim: usize) -> EmosemConfig {
        EmosemConfig::tiny(tower, dim)
    }

    fn engine() -> Engine {
        Engine::start(EngineConfig {
            threads: 1,
            ..Default::default()
        })
        .unwrap()
    }

    fn view(engine: &Engine, req: &MaskView) -> Vec<ViewResult> {
        let mut got = Vec::new();
        engine
            .run_streaming(
                Command::MaskView(req.clone()),
                |_, _, _| {},
                |p| {
                    if let JobOutput::MaskView(r) = p {
                        got.push(*r);
                    }
                },
            )
            .unwrap();
        got
    }

    fn assert_same(a: &[ViewResult], b: &[ViewResult]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(
                (&x.image, x.image_size, x.paradigm),
                (&y.image, y.image_size, y.paradigm)
            );
            let (x, y) = (&x.result, &y.result);
            assert_eq!(x.emotion, y.emotion);
            assert_eq!(x.probability, y.probability);
            assert_eq!(x.mask, y.mask);
            assert_eq!(x.components, y.components);
            assert_eq!(x.area_share, y.area_share);
            assert_eq!(x.explanation, y.explanation);
        }
    }

    fn entries(cache: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(cache.join("results").join(KIND))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    /// Issue 22: a painting's masks opened again come from the cache (identical, no model
    /// loaded); a damaged entry is recomputed and rewritten; new weights or an edited
    /// image are computed anew.
    #[test]
    fn masks_are_cached_by_model_image_and_request() {
        let assets = crate::find_assets().expect("assets");
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tiny(PatchColourGrid::NAME, PatchColourGrid::DIM);
        let model = tmp.path().join("emosem");
        write_initial_model(&cfg, &assets, &model, 3).unwrap();
        let img = tmp.path().join("p.png");
        image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 90]))
            .save(&img)
            .unwrap();
        let cache = tmp.path().join("cache");
        let req = MaskView {
            model: model.clone(),
            roots: Roots {
                assets,
                models: tmp.path().to_path_buf(),
            },
            image: img.clone(),
            emotions: vec![Emotion::Awe, Emotion::Fear, Emotion::Sadness],
            size: ViewSize::MaxSide(20),
            decoding: Some(Decoding::paper_nucleus(1)),
            cache: Some(cache.clone()),
        };
        let first = view(&engine(), &req);
        assert_eq!(first.len(), 3);
        assert_eq!(entries(&cache).len(), 1);
        // Without a cache: the same maps (the cache changes nothing).
        let plain = view(
            &engine(),
            &MaskView {
                cache: None,
                ..req.clone()
            },
        );
        assert_same(&plain, &first);
        // A second open (a fresh engine, as after a restart): read back, no model loaded.
        let e = engine();
        assert_same(&view(&e, &req), &first);
        assert_eq!(e.models().loads(), 0);
        // Damaged entries: a truncated file, and a payload that does not parse inside a
        // sound envelope; each is recomputed (same maps) and rewritten.
        let file = entries(&cache).remove(0);
        let good = std::fs::read(&file).unwrap();
        let key = view_key(&req).unwrap();
        let rc = ResultCache::new(&cache, KIND);
        for damage in 0..2 {
            match damage {
                0 => std::fs::write(&file, &good[..good.len() / 2]).unwrap(),
                _ => rc.put_bytes(&key, b"\x05\0\0\0\0\0\0\0{}").unwrap(),
            }
            let e = engine();
            assert_same(&view(&e, &req), &first);
            assert_eq!(e.models().loads(), 1);
            assert_eq!(std::fs::read(&file).unwrap(), good);
        }
        // Other emotions, size or decoding: other entries.
        for other in [
            MaskView {
                emotions: vec![Emotion::Awe],
                ..req.clone()
            },
            MaskView {
                size: ViewSize::MaxSide(10),
                ..req.clone()
            },
            MaskView {
                decoding: Some(Decoding::Greedy),
                ..req.clone()
            },
        ] {
            assert_ne!(view_key(&other).unwrap(), key);
        }
        // New weights: a new entry.
        write_initial_model(&cfg, &req.roots.assets, &model, 4).unwrap();
        assert_eq!(view(&engine(), &req).len(), 3);
        assert_eq!(entries(&cache).len(), 2);
        // An edited image: a new entry.
        let edited = image::open(&img).unwrap().fliph();
        edited.save(&img).unwrap();
        view(&engine(), &req);
        assert_eq!(entries(&cache).len(), 3);
        // A hit never loads; the entry of the edited image is read back.
        let e = engine();
        view(&e, &req);
        assert_eq!(e.models().loads(), 0);
    }

    fn assets_dir() -> PathBuf {
        crate::find_assets().expect("assets")
    }

    /// The key follows the frozen tower the model reads (a PACL tower under `models/`) and
    /// the model's known words.
    #[test]
    fn the_key_follows_the_tower_and_the_known_words() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tiny("pacl:tower", 8);
        let model = tmp.path().join("emosem");
        write_initial_model(&cfg, &assets_dir(), &model, 1).unwrap();
        let tower = tmp.path().join("tower");
        std::fs::create_dir_all(&tower).unwrap();
        std::fs::write(tower.join("config.json"), "{}").unwrap();
        std::fs::write(tower.join("model.safetensors"), "tower 1").unwrap();
        let img = tmp.path().join("p.png");
        image::RgbImage::new(4, 4).save(&img).unwrap();
        let req = MaskView {
            model: model.clone(),
            roots: Roots {
                assets: assets_dir(),
                models: tmp.path().to_path_buf(),
            },
            image: img,
            emotions: Vec::new(),
            size: ViewSize::MaxSide(768),
            decoding: None,
            cache: Some(tmp.path().join("cache")),
        };
        let a = view_key(&req).unwrap();
        assert_eq!(view_key(&req).unwrap(), a);
        std::fs::write(tower.join("model.safetensors"), "tower two").unwrap();
        let b = view_key(&req).unwrap();
        assert_ne!(b, a);
        std::fs::write(model.join(crate::text::known_words::WORDS_FILE), "sky\n").unwrap();
        assert_ne!(view_key(&req).unwrap(), b);
        // A missing tower: no key (the view is computed, and fails as it would uncached).
        std::fs::remove_file(tower.join("model.safetensors")).unwrap();
        assert!(view_key(&req).is_err());
    }
}
