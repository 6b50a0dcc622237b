//! APOLO emotion-stimulus segmentation scores: Pr@25 / Pr@50 in segmentation mode and
//! box mode, and mean IoU.
//!
//! Reference: APOLO (Tianwei3989/apolo) as the project's reference notes state its
//! intended semantics (the released script crashes unless image saving is on). One
//! sample is one (painting, emotion) pair; samples whose ground-truth map is empty are
//! skipped. The predicted score map (any size) is min-max normalised per sample (a
//! constant map becomes all zeros), resized bilinearly to the ground-truth size and
//! binarised with `> 0.35`. Segmentation IoU = |P and G| / |P or G|; box mode replaces
//! every 8-connected component of the binary prediction by its filled bounding box
//! (`cv2.connectedComponents`, default connectivity 8, and `getMask_bbox`:
//! Tianwei3989/apolo `eval_map_iou.py:39-71`; the ground truth stays the pixel map).
//! Pr@θ = percentage of samples with IoU >= θ. Golden test: `tests/fixtures/golden/
//! apolo_boxes.json`, written by `tools/golden/apolo_boxes.py` with OpenCV.
//!
//! Variant: bilinear resizing with `align_corners = False` and no antialiasing, i.e.
//! `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)` (which is
//! also what `cv2.resize(..., interpolation=cv2.INTER_LINEAR)` computes): source
//! coordinate `(x + 0.5) * in / out - 0.5`, clamped at 0, neighbours clamped at the
//! border; computed in f64, so values that land within ~1e-7 of the threshold may
//! binarise differently from torch's f32.

use std::path::Path;

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use serde::Serialize;

use crate::annotations::mask::{Connectivity, Mask};
use crate::error::{read_file, Error, Result};

/// The binarisation threshold (strictly greater than).
pub const THRESHOLD: f32 = 0.35;

/// A predicted score map, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreMap {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// `width * height` finite values.
    pub data: Vec<f32>,
}

impl ScoreMap {
    /// A map from row-major values; sizes must agree and values be finite.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::Invalid(format!(
                "empty score map: shape (height {height}, width {width}); a map needs at least one pixel"
            )));
        }
        if data.len() != width * height {
            return Err(Error::Invalid(format!(
                "score map of {width}x{height} needs {} values, got {}",
                width * height,
                data.len()
            )));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "score map value {i} (x {}, y {}) is not finite",
                i % width,
                i / width
            )));
        }
        Ok(ScoreMap {
            width,
            height,
            data,
        })
    }

    /// Reads a 2-D `.npy` of floats, integers or booleans, shape (height, width).
    pub fn read_npy(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        // Validates the header (2-D, size consistent with the file) before allocating.
        Mask::from_npy_bytes(&bytes, path)?;
        macro_rules! try_type {
            ($t:ty) => {
                if let Ok(a) = Array2::<$t>::read_npy(std::io::Cursor::new(&bytes)) {
                    let (h, w) = a.dim();
                    let data = a.iter().map(|v| *v as f32).collect();
                    return Self::new(w, h, data)
                        .map_err(|e| Error::parse(path, None, e.to_string()));
                }
            };
        }
        try_type!(f32);
        try_type!(f64);
        try_type!(u8);
        try_type!(i64);
        try_type!(i32);
        try_type!(u16);
        try_type!(i16);
        try_type!(i8);
        try_type!(u32);
        try_type!(u64);
        if let Ok(a) = Array2::<bool>::read_npy(std::io::Cursor::new(&bytes)) {
            let (h, w) = a.dim();
            let data = a.iter().map(|&v| v as u8 as f32).collect();
            return Self::new(w, h, data);
        }
        Err(Error::parse(
            path,
            None,
            "unsupported npy element type (expected floats, integers or booleans)",
        ))
    }

    /// Min-max normalised to 0..1; a constant map becomes all zeros.
    pub fn normalized(&self) -> ScoreMap {
        let min = self.data.iter().copied().fold(f32::INFINITY, f32::min);
        let max = self.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let range = max - min;
        let data = if range > 0.0 {
            self.data.iter().map(|v| (v - min) / range).collect()
        } else {
            vec![0.0; self.data.len()]
        };
        ScoreMap {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// Bilinear resize, `align_corners = False` (torch / OpenCV `INTER_LINEAR`).
    pub fn resized(&self, width: usize, height: usize) -> ScoreMap {
        let xs = axis(self.width, width);
        let ys = axis(self.height, height);
        let mut data = Vec::with_capacity(width * height);
        for &(y0, y1, ly) in &ys {
            for &(x0, x1, lx) in &xs {
                let v = |x: usize, y: usize| self.data[y * self.width + x] as f64;
                let top = (1.0 - lx) * v(x0, y0) + lx * v(x1, y0);
                let bottom = (1.0 - lx) * v(x0, y1) + lx * v(x1, y1);
                data.push(((1.0 - ly) * top + ly * bottom) as f32);
            }
        }
        ScoreMap {
            width,
            height,
            data,
        }
    }

    /// Pixels strictly above `threshold`.
    pub fn binarized(&self, threshold: f32) -> Mask {
        Mask {
            width: self.width,
            height: self.height,
            data: self.data.iter().map(|&v| (v > threshold) as u8).collect(),
        }
    }
}

/// For each output index: the two source indices and the weight of the second.
fn axis(input: usize, output: usize) -> Vec<(usize, usize, f64)> {
    (0..output)
        .map(|o| {
            if input == output {
                return (o, o, 0.0);
            }
            let scale = input as f64 / output as f64;
            let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = if i0 + 1 < input { i0 + 1 } else { i0 };
            let l = (src - i0 as f64).clamp(0.0, 1.0);
            (i0, i1, l)
        })
        .collect()
}

/// Every 8-connected component replaced by its filled bounding box (APOLO's box mode,
/// `eval_map_iou.py:61-71`).
pub fn boxes(mask: &Mask) -> Mask {
    boxes_with(mask, Connectivity::Eight)
}

/// Every component under `connectivity` replaced by its filled bounding box.
pub fn boxes_with(mask: &Mask, connectivity: Connectivity) -> Mask {
    let mut out = Mask::new(mask.width, mask.height);
    for (x0, y0, x1, y1) in mask.component_boxes(connectivity) {
        for y in y0..=y1 {
            for x in x0..=x1 {
                out.set(x, y, true);
            }
        }
    }
    out
}

/// The IoUs of one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleIou {
    /// The sample, e.g. `painting_emotion`.
    pub key: String,
    /// Segmentation IoU.
    pub seg: f64,
    /// Box IoU.
    pub boxes: f64,
}

/// (segmentation IoU, box IoU) of a predicted score map against a ground-truth map, or
/// `None` when the ground truth is empty (the sample is skipped).
pub fn sample_ious(pred: &ScoreMap, gt: &Mask) -> Result<Option<(f64, f64)>> {
    if gt.is_empty() {
        return Ok(None);
    }
    let bin = pred
        .normalized()
        .resized(gt.width, gt.height)
        .binarized(THRESHOLD);
    let seg = bin.iou(gt)?.unwrap_or(0.0);
    let bx = boxes(&bin).iou(gt)?.unwrap_or(0.0);
    Ok(Some((seg, bx)))
}

/// Pr@25, Pr@50 (percentages) and mean IoU (0..1) of one mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrScores {
    /// Percentage of samples with IoU >= 0.25.
    pub pr25: f64,
    /// Percentage of samples with IoU >= 0.50.
    pub pr50: f64,
    /// Mean IoU (0..1).
    pub mean_iou: f64,
}

/// APOLO scores over a set of samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentationReport {
    /// What was computed, for reports.
    pub variant: String,
    /// Samples scored.
    pub samples: usize,
    /// Samples skipped because their ground truth is empty.
    pub skipped_empty_gt: usize,
    /// Segmentation mode.
    pub seg: PrScores,
    /// Box mode.
    pub boxes: PrScores,
    /// Per-sample IoUs.
    pub per_sample: Vec<SampleIou>,
}

/// The label of these scores.
pub const SEGMENTATION_LABEL: &str = "APOLO Pr@25/Pr@50 (min-max, bilinear align_corners=False, > 0.35; box = filled 8-connected component boxes)";

fn pr(ious: impl Iterator<Item = f64> + Clone, n: usize) -> PrScores {
    if n == 0 {
        return PrScores {
            pr25: 0.0,
            pr50: 0.0,
            mean_iou: 0.0,
        };
    }
    let pct = |t: f64| 100.0 * ious.clone().filter(|&v| v >= t).count() as f64 / n as f64;
    PrScores {
        pr25: pct(0.25),
        pr50: pct(0.50),
        mean_iou: ious.clone().sum::<f64>() / n as f64,
    }
}

/// Summarises per-sample IoUs (`skipped` = samples left out for an empty ground truth).
pub fn summarize(per_sample: Vec<SampleIou>, skipped: usize) -> SegmentationReport {
    let n = per_sample.len();
    SegmentationReport {
        variant: SEGMENTATION_LABEL.into(),
        samples: n,
        skipped_empty_gt: skipped,
        seg: pr(per_sample.iter().map(|s| s.seg), n),
        boxes: pr(per_sample.iter().map(|s| s.boxes), n),
        per_sample,
    }
}

/// Scores `(key, prediction, ground truth)` samples.
pub fn evaluate_segmentation(samples: &[(String, ScoreMap, Mask)]) -> Result<SegmentationReport> {
    let mut per = Vec::new();
    let mut skipped = 0;
    for (k, p, g) in samples {
        match sample_ious(p, g)? {
            Some((seg, bx)) => per.push(SampleIou {
                key: k.clone(),
                seg,
                boxes: bx,
            }),
            None => skipped += 1,
        }
    }
    Ok(summarize(per, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(w: usize, rows: &[&str]) -> Mask {
        let v: Vec<u8> = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| (b == b'#') as u8))
            .collect();
        Mask::from_values(w, rows.len(), &v).unwrap()
    }

    fn map(w: usize, h: usize, v: &[f32]) -> ScoreMap {
        ScoreMap::new(w, h, v.to_vec()).unwrap()
    }

    /// Golden: APOLO's box and segmentation modes as its evaluation script computes them
    /// with OpenCV (Tianwei3989/apolo `eval_map_iou.py:146` min-max, `:153` INTER_LINEAR
    /// resize, `:162` `> 0.35`, `:164-166` + `:61-71` boxes of `cv2.connectedComponents`
    /// components (default connectivity 8) from `getMask_bbox` `:39-59`, `:178-180` IoU,
    /// `:182-186` Pr counts, `:174` empty labels skipped), on hand-made masks where 4- and
    /// 8-connectivity differ. Written by `tools/golden/apolo_boxes.py`.
    #[test]
    fn box_mode_matches_apolo_and_opencv_golden() {
        use serde_json::Value;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/golden/apolo_boxes.json");
        let g: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let nums = |v: &Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let usize_of = |v: &Value| v.as_u64().unwrap() as usize;
        let boxes_of = |v: &Value| -> Vec<(usize, usize, usize, usize)> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let b: Vec<usize> = b.as_array().unwrap().iter().map(usize_of).collect();
                    (b[0], b[1], b[2], b[3])
                })
                .collect()
        };
        let mut samples = Vec::new();
        let mut four = Vec::new();
        for c in g["cases"].as_array().unwrap() {
            let name = c["name"].as_str().unwrap();
            let pred = ScoreMap::new(
                usize_of(&c["pred_width"]),
                usize_of(&c["pred_height"]),
                nums(&c["pred"]).iter().map(|&v| v as f32).collect(),
            )
            .unwrap();
            let (w, h) = (usize_of(&c["width"]), usize_of(&c["height"]));
            let gt_values: Vec<u8> = nums(&c["gt"]).iter().map(|&v| v as u8).collect();
            let gt = Mask::from_values(w, h, &gt_values).unwrap();
            samples.push((name.to_string(), pred.clone(), gt.clone()));
            if c["skipped"].as_bool().unwrap() {
                assert!(sample_ious(&pred, &gt).unwrap().is_none(), "{name}");
                continue;
            }
            let (seg, bx) = sample_ious(&pred, &gt).unwrap().unwrap();
            assert!(
                (seg - c["seg_iou"].as_f64().unwrap()).abs() < 1e-12,
                "{name}: seg {seg}"
            );
            assert!(
                (bx - c["box_iou"].as_f64().unwrap()).abs() < 1e-12,
                "{name}: box {bx}"
            );
            let bin = pred.normalized().resized(w, h).binarized(THRESHOLD);
            let want: Vec<u8> = nums(&c["box_mask"]).iter().map(|&v| v as u8).collect();
            assert_eq!(
                boxes(&bin),
                Mask::from_values(w, h, &want).unwrap(),
                "{name}"
            );
            for (conn, key) in [
                (Connectivity::Eight, "boxes"),
                (Connectivity::Four, "boxes_4"),
            ] {
                let mut got = bin.component_boxes(conn);
                got.sort();
                assert_eq!(got, boxes_of(&c[key]), "{name} {conn:?}");
            }
            let b4 = boxes_with(&bin, Connectivity::Four)
                .iou(&gt)
                .unwrap()
                .unwrap_or(0.0);
            assert!(
                (b4 - c["box_iou_4"].as_f64().unwrap()).abs() < 1e-12,
                "{name}: box4 {b4}"
            );
            four.push(b4);
        }
        let r = evaluate_segmentation(&samples).unwrap();
        assert_eq!(r.samples, usize_of(&g["samples"]));
        assert_eq!(r.skipped_empty_gt, usize_of(&g["skipped"]));
        for (got, key) in [(&r.seg, "seg"), (&r.boxes, "box")] {
            let want = &g[key];
            assert!(
                (got.pr25 - want["pr25"].as_f64().unwrap()).abs() < 1e-9,
                "{key} pr25"
            );
            assert!(
                (got.pr50 - want["pr50"].as_f64().unwrap()).abs() < 1e-9,
                "{key} pr50"
            );
            let m = want["mean_iou"].as_f64().unwrap();
            assert!((got.mean_iou - m).abs() < 1e-12, "{key} mean IoU");
        }
        // The 4- and 8-connected box modes differ on these masks.
        let m4 = four.iter().sum::<f64>() / four.len() as f64;
        assert!((m4 - g["box_4"]["mean_iou"].as_f64().unwrap()).abs() < 1e-12);
        assert!((m4 - r.boxes.mean_iou).abs() > 0.1);
    }

    #[test]
    fn resize_matches_torch_align_corners_false() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.]]]]), size=(1, 4),
        // mode="bilinear", align_corners=False) -> [0, 0.25, 0.75, 1].
        let r = map(2, 1, &[0.0, 1.0]).resized(4, 1);
        let want = [0.0, 0.25, 0.75, 1.0];
        for (a, b) in r.data.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", r.data);
        }
        // Downsampling 4 -> 2 averages neighbour pairs: [0.5, 2.5].
        let r = map(4, 1, &[0.0, 1.0, 2.0, 3.0]).resized(2, 1);
        assert_eq!(r.data, vec![0.5, 2.5]);
        // Same size is the identity.
        let m = map(2, 2, &[0.1, 0.2, 0.3, 0.4]);
        assert_eq!(m.resized(2, 2), m);
    }

    #[test]
    fn normalisation_and_constant_maps() {
        assert_eq!(
            map(3, 1, &[2.0, 4.0, 6.0]).normalized().data,
            vec![0.0, 0.5, 1.0]
        );
        assert_eq!(map(2, 1, &[7.0, 7.0]).normalized().data, vec![0.0, 0.0]);
        assert!(ScoreMap::new(2, 1, vec![0.0, f32::NAN]).is_err());
        assert!(ScoreMap::new(2, 2, vec![0.0]).is_err());
    }

    #[test]
    fn hand_computed_samples() {
        // Ground truth: a 2x2 square in a 4x4 map.
        let gt = mask(4, &["....", ".##.", ".##.", "...."]);
        // (name, prediction, seg IoU, box IoU)
        let cases: Vec<(&str, ScoreMap, f64, f64)> = vec![
            (
                "exact",
                map(
                    4,
                    4,
                    &[
                        0., 0., 0., 0., 0., 1., 1., 0., 0., 1., 1., 0., 0., 0., 0., 0.,
                    ],
                ),
                1.0,
                1.0,
            ),
            // An L shape of 3 pixels: seg 3/4; its box is the full square.
            (
                "L shape to box",
                map(
                    4,
                    4,
                    &[
                        0., 0., 0., 0., 0., 9., 0., 0., 0., 9., 9., 0., 0., 0., 0., 0.,
                    ],
                ),
                0.75,
                1.0,
            ),
            // Two components: (1,1) and (3,3); boxes stay single pixels.
            (
                "two components",
                map(
                    4,
                    4,
                    &[
                        0., 0., 0., 0., 0., 5., 0., 0., 0., 0., 0., 0., 0., 0., 0., 5.,
                    ],
                ),
                1.0 / 5.0,
                1.0 / 5.0,
            ),
            // Constant map -> all zeros -> nothing predicted.
            ("constant", map(2, 2, &[3.0; 4]), 0.0, 0.0),
            // 2x2 map upsampled to 4x4: only the top-left quadrant's value 1 spreads;
            // values at rows/cols 0..=1 are > 0.35 (1, 0.75 / 0.75, 0.5625), the rest
            // <= 0.25. Prediction: the 2x2 top-left square; IoU with the centre
            // square = 1 / 7.
            (
                "resize",
                map(2, 2, &[1.0, 0.0, 0.0, 0.0]),
                1.0 / 7.0,
                1.0 / 7.0,
            ),
        ];
        for (name, pred, seg, bx) in &cases {
            let (s, b) = sample_ious(pred, &gt).unwrap().unwrap();
            assert!((s - seg).abs() < 1e-12, "{name}: seg {s}");
            assert!((b - bx).abs() < 1e-12, "{name}: box {b}");
        }
        // Diagonal pixels are one 8-connected component (APOLO, cv2 default): one 2x2
        // box; under 4-connectivity they stay two 1-pixel boxes.
        let diag = mask(3, &["#..", ".#.", "..."]);
        assert_eq!(boxes(&diag), mask(3, &["##.", "##.", "..."]));
        assert_eq!(boxes_with(&diag, Connectivity::Four), diag);
        // A ring becomes its filled box.
        let ring = mask(3, &["###", "#.#", "###"]);
        assert_eq!(boxes(&ring).area(), 9);
    }

    #[test]
    fn report_skips_empty_ground_truth_and_counts_thresholds() {
        let gt = mask(2, &["##", ".."]);
        let empty = Mask::new(2, 2);
        let full = map(2, 2, &[1.0, 1.0, 0.0, 0.0]);
        let half = map(2, 2, &[1.0, 0.0, 0.0, 0.0]);
        let wide = map(2, 2, &[1.0, 1.0, 1.0, 1.0]);
        let none = map(2, 2, &[0.0, 0.0, 0.0, 1.0]);
        let samples = vec![
            ("a".to_string(), full, gt.clone()),
            ("b".to_string(), half, gt.clone()),
            ("c".to_string(), none.clone(), gt.clone()),
            ("skipped".to_string(), none, empty),
            // Constant map: nothing predicted, IoU 0.
            ("d".to_string(), wide, gt.clone()),
        ];
        let r = evaluate_segmentation(&samples).unwrap();
        assert_eq!((r.samples, r.skipped_empty_gt), (4, 1));
        // IoUs: 1, 0.5, 0, 0 -> Pr@25 = 50 %, Pr@50 = 50 %, mean 0.375.
        assert_eq!(r.seg.pr25, 50.0);
        assert_eq!(r.seg.pr50, 50.0);
        assert!((r.seg.mean_iou - 0.375).abs() < 1e-12);
        assert_eq!(r.boxes, r.seg);
        let e = summarize(Vec::new(), 0);
        assert_eq!(e.seg.pr25, 0.0);
    }

    #[test]
    fn reads_float_npy() {
        use ndarray_npy::WriteNpyExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.npy");
        let a = Array2::from_shape_vec((2, 3), vec![0.0f32, 0.5, 1.0, 2.0, 3.0, 4.0]).unwrap();
        let mut f = std::fs::File::create(&p).unwrap();
        a.write_npy(&mut f).unwrap();
        let m = ScoreMap::read_npy(&p).unwrap();
        assert_eq!((m.width, m.height), (3, 2));
        assert_eq!(m.data[5], 4.0);
        std::fs::write(&p, b"nope").unwrap();
        let e = ScoreMap::read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("m.npy"), "{e}");
    }
}
