//! The window's EmoSEM requests: a painting's masks at the size the viewer shows
//! ([`MaskView`], the Painting tab) and predictions for reviewed items scored against their
//! ground truth ([`ReviewPredictions`], the Review tab). Both take the runtime from the
//! engine's shared registry, so the two tabs load one model folder once.

use std::path::PathBuf;

use super::models::Roots;
use super::output::JobOutput;
use super::result_cache::{entry_key, image_key, model_key, ResultCache};
pub use super::results::ReviewPrediction;
use super::view_cache;
use super::worker::JobContext;
use crate::annotations::review::ItemKey;
use crate::annotations::rle::{self, CocoRle};
use crate::emosem::view::{self, ViewSize};
use crate::emosem::Decoding;
use crate::emotion::Emotion;
use crate::error::Result;
use crate::metrics::segmentation::{sample_ious, THRESHOLD as SEG_THRESHOLD};

/// Segment and explain `emotions` (empty: all eight) of `image` at `size` with the EmoSEM
/// model folder `model`.
///
/// Streams [`JobOutput::MaskView`] per emotion as soon as it is ready; the result is
/// [`JobOutput::Unit`].
#[derive(Debug, Clone)]
pub struct MaskView {
    /// The model folder.
    pub model: PathBuf,
    /// The shipped assets and models folders.
    pub roots: Roots,
    /// The painting.
    pub image: PathBuf,
    /// The emotions (empty: all eight).
    pub emotions: Vec<Emotion>,
    /// The size of the maps.
    pub size: ViewSize,
    /// How the explanations are decoded (`None`: the model's configuration).
    pub decoding: Option<Decoding>,
    /// The feature cache folder: the maps and explanations are kept under
    /// `results/emosem-view`, keyed by the model, its image encoder, the image's bytes and
    /// this request's settings, and read back when the painting is opened again
    /// ([`super::view_cache`]); `None`: always computed.
    pub cache: Option<PathBuf>,
}

/// For each sample `(item, image, ground truth)`, in the given order (grouped by image),
/// the prediction of the EmoSEM model folder `model` at the ground truth's size.
///
/// Streams [`JobOutput::ReviewPrediction`] per item; the result is [`JobOutput::Unit`].
#[derive(Debug, Clone)]
pub struct ReviewPredictions {
    /// The model folder.
    pub model: PathBuf,
    /// The shipped assets and models folders.
    pub roots: Roots,
    /// The items with their image and ground truth.
    pub samples: Vec<(ItemKey, PathBuf, CocoRle)>,
    /// The feature cache folder: predictions are kept under `results/review`, keyed by
    /// the model, the image's bytes, the emotion and the ground truth, and read back when
    /// the Review tab opens again ([`super::result_cache`]); `None`: always computed.
    pub cache: Option<PathBuf>,
}

/// A review prediction as the cache keeps it (the mask as COCO RLE).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CachedPrediction {
    mask: CocoRle,
    ious: Option<(f64, f64)>,
    explanation: String,
}

pub(crate) fn run_mask_view(req: MaskView, ctx: &JobContext) -> Result<JobOutput> {
    let total = if req.emotions.is_empty() {
        8
    } else {
        req.emotions.len()
    };
    let mut done = 0usize;
    let load = || {
        ctx.progress(0.0, "loading EmoSEM");
        let rt = ctx.models().emosem(&req.model, &req.roots, ctx.device())?;
        ctx.check()?;
        ctx.progress(0.1, "segmenting the emotions");
        Ok(rt)
    };
    view_cache::cached_view(
        &req,
        load,
        ctx.device(),
        |r| {
            done += 1;
            ctx.progress(
                0.1 + 0.9 * done as f32 / total as f32,
                format!("{} ready", r.result.emotion.name()),
            );
            ctx.partial(JobOutput::MaskView(Box::new(r)));
        },
        ctx,
    )?;
    Ok(JobOutput::Unit)
}

/// Samples of one image at one ground-truth size `[height, width]`.
type ImageGroup = (PathBuf, [usize; 2], Vec<(ItemKey, CocoRle)>);

pub(crate) fn run_review(req: ReviewPredictions, ctx: &JobContext) -> Result<JobOutput> {
    ctx.progress(0.0, "loading EmoSEM");
    let rt = ctx.models().emosem(&req.model, &req.roots, ctx.device())?;
    // Group consecutive samples of one image and size.
    let mut groups: Vec<ImageGroup> = Vec::new();
    for (k, img, gt) in req.samples {
        match groups.last_mut() {
            Some((p, size, v)) if *p == img && *size == gt.size => v.push((k, gt)),
            _ => groups.push((img, gt.size, vec![(k, gt)])),
        }
    }
    let n = groups.len().max(1);
    for (gi, (img, [h, w], items)) in groups.into_iter().enumerate() {
        ctx.check()?;
        ctx.progress(
            gi as f32 / n as f32,
            format!("predicting {}", img.display()),
        );
        // A folder without the usual two files (or an unreadable image) is not cached.
        let keys = req.cache.as_ref().and_then(|dir| {
            let model = model_key(&req.model, "emosem-review v1").ok()?;
            Some((dir, model, image_key(&img).ok()?))
        });
        let cache = match keys {
            Some((dir, model, image)) => {
                let keys: Vec<[u8; 32]> = items
                    .iter()
                    .map(|(k, gt)| {
                        let request = format!("{}\n{:?}\n{}", k.emotion.name(), gt.size, gt.counts);
                        entry_key(&model, &image, &request)
                    })
                    .collect();
                Some((ResultCache::new(dir, "review"), keys))
            }
            None => None,
        };
        if let Some((c, keys)) = &cache {
            let hits: Option<Vec<CachedPrediction>> = keys.iter().map(|k| c.get(k)).collect();
            if let Some(hits) = hits {
                for ((key, _), p) in items.into_iter().zip(hits) {
                    ctx.partial(JobOutput::ReviewPrediction(Box::new(ReviewPrediction {
                        key,
                        mask: rle::decode(&p.mask)?,
                        ious: p.ious,
                        explanation: p.explanation,
                    })));
                }
                continue;
            }
        }
        let emotions: Vec<Emotion> = items.iter().map(|(k, _)| k.emotion).collect();
        let mut results = Vec::new();
        view::run_view(
            &rt,
            &img,
            &emotions,
            ViewSize::Exact(w, h),
            ctx.device(),
            |r| results.push(r),
            ctx,
        )?;
        for (i, ((key, gt), r)) in items.into_iter().zip(results).enumerate() {
            let gt = rle::decode(&gt)?;
            let prob = &r.result.probability;
            let ious = sample_ious(prob, &gt)?;
            let mask = prob.normalized().binarized(SEG_THRESHOLD);
            if let Some((c, keys)) = &cache {
                if let Some(k) = keys.get(i) {
                    c.put(
                        k,
                        &CachedPrediction {
                            mask: rle::encode(&mask),
                            ious,
                            explanation: r.result.explanation.clone(),
                        },
                    )?;
                }
            }
            ctx.partial(JobOutput::ReviewPrediction(Box::new(ReviewPrediction {
                key,
                mask,
                ious,
                explanation: r.result.explanation,
            })));
        }
    }
    ctx.progress(1.0, "done");
    Ok(JobOutput::Unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::mask::Mask;
    use crate::emosem::features::PatchColourGrid;
    use crate::emosem::view::write_initial_model;
    use crate::emosem::EmosemConfig;
    use crate::jobs::command::Command;
    use crate::worker::{Engine, EngineConfig};

    #[test]
    fn the_painting_and_review_requests_load_one_model_once() {
        let assets = crate::find_assets().expect("assets");
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = EmosemConfig::tiny(PatchColourGrid::NAME, PatchColourGrid::DIM);
        cfg.max_explanation_tokens = 2;
        let model = tmp.path().join("emosem");
        write_initial_model(&cfg, &assets, &model, 3).unwrap();
        let img = tmp.path().join("p.png");
        image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 5, y as u8 * 7, 90]))
            .save(&img)
            .unwrap();
        let roots = Roots {
            assets,
            models: tmp.path().to_path_buf(),
        };
        let engine = Engine::start(EngineConfig {
            threads: 1,
            ..Default::default()
        })
        .unwrap();
        let mut views = 0;
        engine
            .run_streaming(
                Command::MaskView(MaskView {
                    model: model.clone(),
                    roots: roots.clone(),
                    image: img.clone(),
                    emotions: vec![Emotion::Awe, Emotion::Fear],
                    size: ViewSize::MaxSide(20),
                    decoding: Some(Decoding::paper_nucleus(1)),
                    cache: None,
                }),
                |_, _, _| {},
                |p| views += usize::from(matches!(p, JobOutput::MaskView(_))),
            )
            .unwrap();
        assert_eq!(views, 2);
        let mut m = Mask::new(8, 6);
        for y in 0..6 {
            for x in 0..4 {
                m.set(x, y, true);
            }
        }
        let gt = rle::encode(&m);
        let key = ItemKey {
            painting: "p".into(),
            emotion: Emotion::Awe,
        };
        let mut preds = Vec::new();
        engine
            .run_streaming(
                Command::ReviewPredictions(ReviewPredictions {
                    model,
                    roots,
                    samples: vec![(key.clone(), img, gt)],
                    cache: None,
                }),
                |_, _, _| {},
                |p| {
                    if let JobOutput::ReviewPrediction(p) = p {
                        preds.push(*p);
                    }
                },
            )
            .unwrap();
        assert_eq!(preds.len(), 1);
        assert_eq!(preds[0].key, key);
        assert_eq!((preds[0].mask.width, preds[0].mask.height), (8, 6));
        assert_eq!(engine.models().loads(), 1);
        engine.forget_models();
        assert_eq!(engine.models().loads(), 1);
    }
}
