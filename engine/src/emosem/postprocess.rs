//! From EmoSEM's mask logits to what the application shows and writes: per emotion the
//! probability map at image size, a binary mask, its connected components with boxes, its
//! area share and the explanation; across emotions the dominant-emotion-per-pixel map.
//!
//! Threshold: the product mask is `sigmoid(logit) > 0.5` ([`THRESHOLD`]), the decision
//! boundary the Dice + Focal training optimises. APOLO's evaluation instead min-max
//! normalises each score map and keeps `> 0.35` (`metrics::segmentation`); the written
//! `.npy` score maps are the probabilities, so `artemo eval --task emosem` applies the
//! APOLO protocol to them unchanged.
//!
//! Resizing: the logits `[4h, 4w]` are cropped to the share of the frame the image covers
//! (SAM pads bottom and right), converted to probabilities and brought to the image's
//! size: refined to the image's edges with the guided filter when the image is given
//! ([`postprocess_refined`], [`crate::imaging::guided`]; what the analysis, the viewer and
//! the demo kit's evaluation use), else resized bilinearly (`align_corners = False`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::annotations::apolo::map_path;
use crate::annotations::mask::{Connectivity, LabelMap, Mask};
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::imaging::guided::{refine, Guide, RefineParams};
use crate::metrics::segmentation::ScoreMap;

/// Probability above which a pixel belongs to the product mask.
pub const THRESHOLD: f32 = 0.5;

/// One connected component of a binary mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Bounding box `[x0, y0, x1, y1]`, inclusive pixel coordinates.
    pub bbox: [usize; 4],
}

/// Everything about one emotion's stimulus in one image.
#[derive(Debug, Clone)]
pub struct EmotionResult {
    /// The emotion.
    pub emotion: Emotion,
    /// Probabilities at image size.
    pub probability: ScoreMap,
    /// `probability > THRESHOLD`.
    pub mask: Mask,
    /// 4-connected components of the mask, largest box area first (the displayed
    /// regions; APOLO's box-mode score uses 8-connectivity, [`crate::metrics::segmentation::boxes`]).
    pub components: Vec<Component>,
    /// Share of the image's pixels in the mask (0..1).
    pub area_share: f64,
    /// The generated explanation.
    pub explanation: String,
}

/// The JSON summary of one emotion (no pixel data).
#[derive(Debug, Clone, Serialize)]
pub struct EmotionSummary {
    /// The emotion's name.
    pub emotion: String,
    /// The explanation.
    pub explanation: String,
    /// Share of the image in the mask.
    pub area_share: f64,
    /// Highest probability anywhere.
    pub max_probability: f32,
    /// Component boxes.
    pub components: Vec<Component>,
}

impl EmotionResult {
    /// The summary written to `explanations.json` and streamed by the engine command.
    pub fn summary(&self) -> EmotionSummary {
        EmotionSummary {
            emotion: self.emotion.name().to_string(),
            explanation: self.explanation.clone(),
            area_share: self.area_share,
            max_probability: self.probability.data.iter().copied().fold(0.0, f32::max),
            components: self.components.clone(),
        }
    }
}

/// Mask logits of one emotion, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Logits<'a> {
    /// `width * height` values.
    pub data: &'a [f32],
    /// Width of the logit frame.
    pub width: usize,
    /// Height of the logit frame.
    pub height: usize,
    /// The (height, width) share of the frame that covers the image.
    pub content: (f32, f32),
}

/// Converts logits into the result at the image's size `width` x `height`, resized
/// bilinearly (no refinement).
pub fn postprocess(
    emotion: Emotion,
    logits: &Logits,
    width: usize,
    height: usize,
    explanation: String,
) -> Result<EmotionResult> {
    postprocess_refined(emotion, logits, None, width, height, explanation)
}

/// [`postprocess`], with the probability map refined to the edges of `guide` (the image's
/// luminance at `width` x `height`, [`crate::imaging::guided::refine`]) when given.
pub fn postprocess_refined(
    emotion: Emotion,
    logits: &Logits,
    guide: Option<&Guide>,
    width: usize,
    height: usize,
    explanation: String,
) -> Result<EmotionResult> {
    let (side_w, side_h, content) = (logits.width, logits.height, logits.content);
    let logits = logits.data;
    if logits.len() != side_w * side_h || width == 0 || height == 0 {
        return Err(Error::Invalid(format!(
            "EmoSEM postprocess: {} logits for {side_w}x{side_h}, image {width}x{height}",
            logits.len()
        )));
    }
    let ch = ((content.0 * side_h as f32).round() as usize).clamp(1, side_h);
    let cw = ((content.1 * side_w as f32).round() as usize).clamp(1, side_w);
    let mut probs = Vec::with_capacity(cw * ch);
    for y in 0..ch {
        for x in 0..cw {
            let v = logits[y * side_w + x];
            probs.push(1.0 / (1.0 + (-v).exp()));
        }
    }
    let coarse = ScoreMap::new(cw, ch, probs)?;
    let probability = match guide {
        Some(g) if (g.width, g.height) == (width, height) => {
            // The mask head upsamples the patch grid 4x: the frame is 4 px per cell.
            let params = RefineParams {
                grid_cells: (side_w.max(side_h) / 4).max(1),
                ..RefineParams::default()
            };
            refine(&coarse, g, &params)?
        }
        Some(g) => {
            return Err(Error::Invalid(format!(
                "EmoSEM postprocess: guide of {}x{} for maps of {width}x{height}",
                g.width, g.height
            )))
        }
        None => coarse.resized(width, height),
    };
    Ok(EmotionResult::from_probability(
        emotion,
        probability,
        explanation,
    ))
}

impl EmotionResult {
    /// The result of a finished probability map: its mask (`> THRESHOLD`), 4-connected
    /// components (largest box first) and area share. Also how a cached map is restored
    /// (`jobs::view_cache`).
    pub fn from_probability(emotion: Emotion, probability: ScoreMap, explanation: String) -> Self {
        let mask = probability.binarized(THRESHOLD);
        let mut components: Vec<Component> = mask
            .component_boxes(Connectivity::Four)
            .into_iter()
            .map(|(x0, y0, x1, y1)| Component {
                bbox: [x0, y0, x1, y1],
            })
            .collect();
        let area = |c: &Component| (c.bbox[2] - c.bbox[0] + 1) * (c.bbox[3] - c.bbox[1] + 1);
        components.sort_by_key(|c| std::cmp::Reverse(area(c)));
        let pixels = (probability.width * probability.height).max(1);
        let area_share = mask.area() as f64 / pixels as f64;
        EmotionResult {
            emotion,
            probability,
            mask,
            components,
            area_share,
            explanation,
        }
    }
}

/// The dominant emotion per pixel: the emotion with the highest probability among those
/// above [`THRESHOLD`] there, none where no emotion is above it. All results must have the
/// same size.
pub fn dominant_map(results: &[EmotionResult]) -> Result<LabelMap> {
    let Some(first) = results.first() else {
        return Err(Error::Invalid(
            "EmoSEM: no result for a dominant map".into(),
        ));
    };
    let (w, h) = (first.probability.width, first.probability.height);
    if results
        .iter()
        .any(|r| (r.probability.width, r.probability.height) != (w, h))
    {
        return Err(Error::Invalid(
            "EmoSEM: dominant map of results of different sizes".into(),
        ));
    }
    let mut data = vec![0u8; w * h];
    for (i, d) in data.iter_mut().enumerate() {
        let mut best = THRESHOLD;
        for r in results {
            let p = r.probability.data[i];
            if p > best {
                best = p;
                *d = r.emotion.index() as u8 + 1;
            }
        }
    }
    Ok(LabelMap {
        width: w,
        height: h,
        data,
    })
}

/// The file [`write_outputs`] keeps in its folder while it writes: present after an
/// interrupted run.
pub const INCOMPLETE_MARKER: &str = "INCOMPLETE";

/// Files written by [`write_outputs`].
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// `<out>/npy/<stem>_<emotion>.npy`: probability maps (APOLO naming, `artemo eval`
    /// input).
    pub score_maps: Vec<PathBuf>,
    /// `<out>/masks/<stem>_<emotion>.png`: binary masks (0/255).
    pub masks: Vec<PathBuf>,
    /// `<out>/dominant.png`: the dominant-emotion map in the palette.
    pub dominant: Option<PathBuf>,
    /// `<out>/explanations.json`.
    pub explanations: PathBuf,
}

/// Writes the results of one image named `stem` under `out`.
pub fn write_outputs(out: &Path, stem: &str, results: &[EmotionResult]) -> Result<Written> {
    write_outputs_with(out, stem, results, None)
}

/// [`write_outputs`], with the explanations' decoding recorded in `explanations.json`
/// (`"decoding"`: its label, e.g. `nucleus p=0.9 T=1 seed=0`) when given.
pub fn write_outputs_with(
    out: &Path,
    stem: &str,
    results: &[EmotionResult],
    decoding: Option<crate::text::sampling::Decoding>,
) -> Result<Written> {
    let npy_dir = out.join("npy");
    let png_dir = out.join("masks");
    for d in [&npy_dir, &png_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    // Until the last file is written the folder carries a marker, so an interrupted run
    // is recognisable; temporary files of killed earlier runs are removed.
    for d in [out, &npy_dir, &png_dir] {
        crate::error::clean_stale_temps(d);
    }
    let marker = out.join(INCOMPLETE_MARKER);
    write_atomic(
        &marker,
        format!(
            "an EmoSEM analysis of `{stem}` is being written here (process {}); if this file remains, the run was interrupted and the folder is incomplete\n",
            std::process::id()
        )
        .as_bytes(),
    )?;
    let mut written = Written {
        score_maps: Vec::new(),
        masks: Vec::new(),
        dominant: None,
        explanations: out.join("explanations.json"),
    };
    for r in results {
        let npy = map_path(&npy_dir, stem, r.emotion);
        let arr = ndarray::Array2::from_shape_vec(
            (r.probability.height, r.probability.width),
            r.probability.data.clone(),
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut bytes = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&arr, &mut bytes)
            .map_err(|e| Error::Invalid(format!("{}: {e}", npy.display())))?;
        write_atomic(&npy, &bytes)?;
        written.score_maps.push(npy);
        let png = map_path(&png_dir, stem, r.emotion).with_extension("png");
        r.mask.write_png(&png)?;
        written.masks.push(png);
    }
    if !results.is_empty() {
        let p = out.join("dominant.png");
        dominant_map(results)?.write_color_png(&p)?;
        written.dominant = Some(p);
    }
    let mut json = serde_json::json!({
        "image": stem,
        "threshold": THRESHOLD,
        "map_size": results.first().map(|r| [r.probability.width, r.probability.height]),
        "emotions": results.iter().map(EmotionResult::summary).collect::<Vec<_>>(),
    });
    if let (Some(d), Some(o)) = (decoding, json.as_object_mut()) {
        o.insert("decoding".into(), serde_json::Value::String(d.label()));
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&written.explanations, text.as_bytes())?;
    std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_marked_incomplete_until_written_and_stale_temps_go() {
        let d = tempfile::tempdir().unwrap();
        let logits = vec![1f32; 16];
        let l = Logits {
            data: &logits,
            width: 4,
            height: 4,
            content: (1.0, 1.0),
        };
        let r = postprocess(Emotion::Awe, &l, 8, 8, "x".into()).unwrap();
        std::fs::create_dir_all(d.path().join("npy")).unwrap();
        let stale = d.path().join("npy/.p_awe.npy.tmp-4999999");
        std::fs::write(&stale, b"half").unwrap();
        // An interrupted earlier run: its marker is still there.
        std::fs::write(d.path().join(INCOMPLETE_MARKER), b"x").unwrap();
        write_outputs(d.path(), "p", &[r]).unwrap();
        assert!(!d.path().join(INCOMPLETE_MARKER).exists());
        assert!(d.path().join("explanations.json").is_file());
        if Path::new("/proc/self").exists() {
            assert!(!stale.exists());
        }
        let j: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join("explanations.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(j["map_size"], serde_json::json!([8, 8]));
        // Writing into a file instead of a folder fails, and nothing claims completion.
        let f = d.path().join("file");
        std::fs::write(&f, b"").unwrap();
        assert!(write_outputs(&f, "p", &[]).is_err());
    }

    #[test]
    fn a_guide_refines_the_map_to_the_image_and_must_match_its_size() {
        // The left half of a 4x4 logit frame is on; the image's edge is at x = 20 of 48.
        let logits: Vec<f32> = (0..16)
            .map(|k| if k % 4 < 2 { 4.0 } else { -4.0 })
            .collect();
        let l = Logits {
            data: &logits,
            width: 4,
            height: 4,
            content: (1.0, 1.0),
        };
        let img = image::RgbImage::from_fn(48, 48, |x, _| {
            if x < 20 {
                image::Rgb([250, 250, 250])
            } else {
                image::Rgb([10, 10, 10])
            }
        });
        let g = Guide::from_image(&image::DynamicImage::ImageRgb8(img), 48, 48);
        let r = postprocess_refined(Emotion::Awe, &l, Some(&g), 48, 48, "x".into()).unwrap();
        let plain = postprocess(Emotion::Awe, &l, 48, 48, "x".into()).unwrap();
        // Bilinear: the mask ends at the frame's middle (x = 24); refined: at the edge.
        assert!(plain.mask.get(22, 24));
        assert!(
            r.mask.get(18, 24) && !r.mask.get(22, 24),
            "{:?}",
            &r.probability.data[24 * 48..25 * 48]
        );
        assert!(postprocess_refined(Emotion::Awe, &l, Some(&g), 40, 48, "x".into()).is_err());
    }

    #[test]
    fn postprocess_crops_resizes_thresholds_and_finds_components() {
        // 4x4 logits; the image covers the top-left 4x2 (SAM-style padding below).
        let mut logits = vec![-8f32; 16];
        logits[0] = 8.0; // (0,0)
        logits[3] = 8.0; // (3,0)
        logits[4 * 3] = 8.0; // (0,3): in the padding, must vanish
        fn at(data: &[f32]) -> Logits<'_> {
            Logits {
                data,
                width: 4,
                height: 4,
                content: (0.5, 1.0),
            }
        }
        let r = postprocess(Emotion::Awe, &at(&logits), 8, 4, "x".into()).unwrap();
        assert_eq!((r.probability.width, r.probability.height), (8, 4));
        assert_eq!(r.components.len(), 2);
        assert!(r.area_share > 0.0 && r.area_share < 0.5);
        assert!(r.mask.get(0, 0) && r.mask.get(7, 0) && !r.mask.get(0, 3));
        let s = r.summary();
        assert!(s.max_probability > 0.99);

        let other = postprocess(Emotion::Fear, &at(&[8f32; 16]), 8, 4, "y".into()).unwrap();
        let d = dominant_map(&[r.clone(), other]).unwrap();
        // Everywhere fear is ~1; at (0,0) awe is ~1 too but fear wins only if higher:
        // both saturate, the first maximum (strictly greater) is kept.
        assert!(d.get(4, 2).is_some());
        let full = Logits {
            content: (1.0, 1.0),
            ..at(&[-8f32; 16])
        };
        let none = postprocess(Emotion::Fear, &full, 8, 4, "".into()).unwrap();
        let d = dominant_map(&[none]).unwrap();
        assert!(d.data.iter().all(|&v| v == 0));

        let dir = tempfile::tempdir().unwrap();
        let w = write_outputs(dir.path(), "p1", &[r]).unwrap();
        assert!(w.score_maps[0].ends_with("npy/p1_awe.npy"));
        let back = ScoreMap::read_npy(&w.score_maps[0]).unwrap();
        assert_eq!((back.width, back.height), (8, 4));
        assert_eq!(Mask::read_png(&w.masks[0]).unwrap().width, 8);
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&w.explanations).unwrap()).unwrap();
        assert_eq!(j["emotions"][0]["emotion"], "awe");
    }
}
