//! Edge-aware refinement of coarse score maps: the guided filter of He, Sun and Tang
//! ("Guided Image Filtering", ECCV 2010 / TPAMI 2013, Algorithm 1) with the subsampled
//! speed-up of He and Sun ("Fast Guided Filter", arXiv 1505.00996, Algorithm 2).
//!
//! A model's mask logits come from a 14 x 14 patch grid upsampled 4x by transposed
//! convolutions; resized bilinearly to the image they show the grid. Filtering the
//! upsampled map with the painting's luminance as guide makes the output locally a linear
//! function of the image (`q = a I + b` over each window), so the map's edges move onto
//! the image's edges, and in flat regions the box mean over about one grid cell removes
//! the grid's period. Written here because no crate in the dependency tree (`image`,
//! `ndarray`) provides a guided filter; it is a few box filters over summed-area tables.

use image::imageops::FilterType;
use image::DynamicImage;

use crate::error::{Error, Result};
use crate::metrics::segmentation::ScoreMap;

/// The image's luminance (0..1) at the size of the maps it guides.
#[derive(Debug, Clone, PartialEq)]
pub struct Guide {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major luminance, 0..1.
    pub data: Vec<f32>,
}

impl Guide {
    /// The luminance of `img` resized (triangle filter) to `width` x `height`.
    pub fn from_image(img: &DynamicImage, width: usize, height: usize) -> Self {
        let (w, h) = (width.max(1) as u32, height.max(1) as u32);
        let small = if (img.width(), img.height()) == (w, h) {
            img.to_luma32f()
        } else {
            img.resize_exact(w, h, FilterType::Triangle).to_luma32f()
        };
        Guide {
            width: w as usize,
            height: h as usize,
            data: small.into_raw(),
        }
    }

    fn map(&self) -> Result<ScoreMap> {
        ScoreMap::new(self.width, self.height, self.data.clone())
    }
}

/// Settings of [`refine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineParams {
    /// Cells of the model's patch grid along a side (14 for the demo kit's tower): the
    /// window is about two cells wide, so the grid's steps average out.
    pub grid_cells: usize,
    /// Regularisation `eps` on the luminance variance (luminance in 0..1): image edges
    /// with a local standard deviation well above `sqrt(eps)` are kept.
    pub eps: f32,
    /// The filter's coefficients are computed with the long side at most this many pixels
    /// and upsampled (Fast Guided Filter).
    pub work_side: usize,
}

impl Default for RefineParams {
    fn default() -> Self {
        RefineParams {
            grid_cells: 14,
            eps: 1e-2,
            work_side: 256,
        }
    }
}

/// Mean over the `(2r+1) x (2r+1)` window around each pixel, clipped at the borders
/// (He et al.'s `f_mean`, normalised by the number of pixels inside the image).
pub fn box_mean(data: &[f32], width: usize, height: usize, r: usize) -> Vec<f32> {
    let (w, h) = (width, height);
    // Summed-area table with a zero first row and column.
    let mut sat = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += data[y * w + x] as f64;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0]
                + sat[y0 * (w + 1) + x0];
            out[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
    out
}

/// The guided filter of `p` with guide `i` (same size), radius `r`, regularisation `eps`
/// (He et al. 2013, Algorithm 1).
pub fn guided_filter(
    i: &[f32],
    p: &[f32],
    width: usize,
    height: usize,
    r: usize,
    eps: f32,
) -> Vec<f32> {
    let (a, b) = coefficients(i, p, width, height, r, eps);
    a.iter()
        .zip(&b)
        .zip(i)
        .map(|((a, b), i)| a * i + b)
        .collect()
}

/// The window-averaged linear coefficients `(mean_a, mean_b)` of the guided filter.
fn coefficients(
    i: &[f32],
    p: &[f32],
    w: usize,
    h: usize,
    r: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mean_i = box_mean(i, w, h, r);
    let mean_p = box_mean(p, w, h, r);
    let ii: Vec<f32> = i.iter().map(|v| v * v).collect();
    let ip: Vec<f32> = i.iter().zip(p).map(|(a, b)| a * b).collect();
    let corr_i = box_mean(&ii, w, h, r);
    let corr_ip = box_mean(&ip, w, h, r);
    let mut a = vec![0f32; w * h];
    let mut b = vec![0f32; w * h];
    for k in 0..w * h {
        let var = (corr_i[k] - mean_i[k] * mean_i[k]).max(0.0);
        let cov = corr_ip[k] - mean_i[k] * mean_p[k];
        a[k] = cov / (var + eps);
        b[k] = mean_p[k] - a[k] * mean_i[k];
    }
    (box_mean(&a, w, h, r), box_mean(&b, w, h, r))
}

/// Refines a coarse probability map (any size; it covers the whole image) to the guide's
/// size and edges: the map is resized bilinearly to a working size (long side at most
/// [`RefineParams::work_side`]), guided-filtered there with a window about one grid cell
/// wide, and the filter's coefficients are upsampled to the guide's size (Fast Guided
/// Filter). The result is clamped to 0..1.
pub fn refine(coarse: &ScoreMap, guide: &Guide, params: &RefineParams) -> Result<ScoreMap> {
    if guide.data.len() != guide.width * guide.height || guide.data.is_empty() {
        return Err(Error::Invalid(format!(
            "guided filter: guide of {} values for {}x{}",
            guide.data.len(),
            guide.width,
            guide.height
        )));
    }
    let (gw, gh) = (guide.width, guide.height);
    let long = gw.max(gh);
    let scale = (params.work_side.max(8) as f64 / long as f64).min(1.0);
    let ww = ((gw as f64 * scale).round() as usize).max(1);
    let wh = ((gh as f64 * scale).round() as usize).max(1);
    let full = guide.map()?;
    let small_i = if (ww, wh) == (gw, gh) {
        full.clone()
    } else {
        full.resized(ww, wh)
    };
    let small_p = coarse.resized(ww, wh);
    // One grid cell: the window (2r+1) spans about two cells, enough to reach from a
    // cell's staircase step to the image edge it approximates (half a cell away at most).
    let cell = ww.max(wh) as f64 / params.grid_cells.max(1) as f64;
    let r = (cell.round() as usize).max(1);
    let (a, b) = coefficients(&small_i.data, &small_p.data, ww, wh, r, params.eps);
    let (a, b) = if (ww, wh) == (gw, gh) {
        (a, b)
    } else {
        (
            ScoreMap::new(ww, wh, a)?.resized(gw, gh).data,
            ScoreMap::new(ww, wh, b)?.resized(gw, gh).data,
        )
    };
    let q: Vec<f32> = a
        .iter()
        .zip(&b)
        .zip(&guide.data)
        .map(|((a, b), i)| {
            let v = a * i + b;
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    ScoreMap::new(gw, gh, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_mean_clips_at_the_borders() {
        // 3x1 row [0, 3, 6], r = 1: means of [0,3], [0,3,6], [3,6].
        assert_eq!(box_mean(&[0.0, 3.0, 6.0], 3, 1, 1), vec![1.5, 3.0, 4.5]);
        let c = box_mean(&[2.0; 12], 4, 3, 5);
        assert!(c.iter().all(|&v| (v - 2.0).abs() < 1e-6));
    }

    #[test]
    fn a_flat_guide_gives_the_box_mean_and_the_map_as_guide_keeps_edges() {
        let (w, h) = (9, 7);
        let p: Vec<f32> = (0..w * h).map(|k| (k % 5) as f32 / 4.0).collect();
        // Constant guide: a = 0, b = mean(p), q = box mean of the box mean
        // (He et al. 2013, Sec. 3.1 and Algorithm 1, steps 2-5).
        let q = guided_filter(&vec![0.5; w * h], &p, w, h, 1, 0.01);
        let m = box_mean(&box_mean(&p, w, h, 1), w, h, 1);
        for (a, b) in q.iter().zip(&m) {
            assert!((a - b).abs() < 1e-5);
        }
        // A step edge guided by itself with small eps is preserved (edge-preserving).
        let step: Vec<f32> = (0..w * h)
            .map(|k| if k % w < 4 { 0.0 } else { 1.0 })
            .collect();
        let q = guided_filter(&step, &step, w, h, 2, 1e-4);
        for (a, b) in q.iter().zip(&step) {
            assert!((a - b).abs() < 0.02, "{a} vs {b}");
        }
    }

    /// A synthetic painting: a bright disc on a dark ground. The coarse map is what a
    /// 14 x 14 patch grid can say about it (each cell 1 where its centre is in the disc),
    /// at 56 x 56 as the mask head gives it. Refined with the image as guide, the map's
    /// 0.5 level set must follow the disc, not the grid's staircase.
    #[test]
    fn refined_maps_follow_image_edges_not_the_patch_grid() {
        let side = 224usize;
        let (cx, cy, rad) = (101.0f32, 117.0f32, 61.0f32);
        let inside = |x: f32, y: f32| (x - cx).powi(2) + (y - cy).powi(2) < rad * rad;
        let img = image::RgbImage::from_fn(side as u32, side as u32, |x, y| {
            if inside(x as f32 + 0.5, y as f32 + 0.5) {
                image::Rgb([230, 210, 190])
            } else {
                image::Rgb([30, 40, 60])
            }
        });
        let truth: Vec<bool> = (0..side * side)
            .map(|k| inside((k % side) as f32 + 0.5, (k / side) as f32 + 0.5))
            .collect();
        let coarse_side = 56;
        let cell = side as f32 / 14.0;
        let coarse: Vec<f32> = (0..coarse_side * coarse_side)
            .map(|k| {
                let (x, y) = (k % coarse_side, k / coarse_side);
                let (gx, gy) = (x / 4, y / 4);
                let centre = |g: usize| (g as f32 + 0.5) * cell;
                if inside(centre(gx), centre(gy)) {
                    0.9
                } else {
                    0.1
                }
            })
            .collect();
        let coarse = ScoreMap::new(coarse_side, coarse_side, coarse).unwrap();
        let guide = Guide::from_image(&DynamicImage::ImageRgb8(img), side, side);
        let refined = refine(&coarse, &guide, &RefineParams::default()).unwrap();
        let plain = coarse.resized(side, side);
        let iou = |m: &ScoreMap| {
            let (mut i, mut u) = (0, 0);
            for (p, t) in m.data.iter().zip(&truth) {
                let p = *p > 0.5;
                i += (p && *t) as usize;
                u += (p || *t) as usize;
            }
            i as f64 / u as f64
        };
        let (before, after) = (iou(&plain), iou(&refined));
        assert!(after > 0.97, "refined IoU {after}");
        assert!(
            after > before + 0.01,
            "refined {after} vs bilinear {before}"
        );
        // Boundary pixels of the refined mask lie on the disc's edge: each is within
        // 4 px of the circle (the grid staircase is up to half a cell, 8 px, off).
        let mask: Vec<bool> = refined.data.iter().map(|&p| p > 0.5).collect();
        let mut worst = 0f32;
        for y in 1..side - 1 {
            for x in 1..side - 1 {
                let k = y * side + x;
                if mask[k] && (!mask[k - 1] || !mask[k + 1] || !mask[k - side] || !mask[k + side]) {
                    let d = (((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2))
                        .sqrt()
                        - rad)
                        .abs();
                    worst = worst.max(d);
                }
            }
        }
        assert!(worst <= 4.0, "a mask edge {worst} px off the image edge");
    }

    /// Over a flat image the cell steps of the grid average out: no jump between
    /// neighbouring pixels is larger than a step spread over a window (the bilinear map
    /// jumps by the step over 4 px, one sub-cell of the 4x upsampling).
    #[test]
    fn a_flat_image_shows_no_patch_grid() {
        let side = 224usize;
        // A checkerboard of grid cells (the worst case of a patch-grid wash).
        let coarse: Vec<f32> = (0..56 * 56)
            .map(|k| {
                if ((k % 56) / 4 + (k / 56) / 4) % 2 == 0 {
                    0.7
                } else {
                    0.3
                }
            })
            .collect();
        let coarse = ScoreMap::new(56, 56, coarse).unwrap();
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            side as u32,
            side as u32,
            image::Rgb([120, 120, 120]),
        ));
        let max_jump = |m: &ScoreMap| {
            let mut j = 0f32;
            for y in 0..side {
                for x in 1..side {
                    j = j.max((m.data[y * side + x] - m.data[y * side + x - 1]).abs());
                    j = j.max((m.data[x * side + y] - m.data[(x - 1) * side + y]).abs());
                }
            }
            j
        };
        let guide = Guide::from_image(&img, side, side);
        let refined = refine(&coarse, &guide, &RefineParams::default()).unwrap();
        let plain = coarse.resized(side, side);
        // Step 0.4; window 2 * 16 + 1 px: at most 0.4 / 33 per pixel after one box mean.
        assert!(max_jump(&plain) > 0.09, "{}", max_jump(&plain));
        assert!(max_jump(&refined) < 0.4 / 30.0, "{}", max_jump(&refined));
    }

    #[test]
    fn a_bad_guide_is_an_error() {
        let g = Guide {
            width: 3,
            height: 3,
            data: vec![0.0; 4],
        };
        let m = ScoreMap::new(2, 2, vec![0.5; 4]).unwrap();
        assert!(refine(&m, &g, &RefineParams::default()).is_err());
    }
}
