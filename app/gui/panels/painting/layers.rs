//! The mask layers' pixels: one emotion's mask as a filled, outlined or probability image,
//! and the dominant-emotion composite.

use super::*;

/// The texture of one emotion's layer: white with the style's alpha (tinted when drawn).
pub(super) fn layer_image(r: &ViewResult, style: Style) -> ColorImage {
    let m = &r.result.mask;
    let p = &r.result.probability;
    let (w, h) = (m.width, m.height);
    let mut px = vec![Color32::TRANSPARENT; w * h];
    for y in 0..h {
        for x in 0..w {
            let a = match style {
                Style::Fill => m.get(x, y) as u8 * 255,
                Style::Contour => (m.get(x, y) && on_edge(m, x, y)) as u8 * 255,
                Style::Probability => (p.data[y * w + x].clamp(0.0, 1.0) * 255.0) as u8,
            };
            if a > 0 {
                px[y * w + x] = Color32::from_white_alpha(a);
            }
        }
    }
    ColorImage::new([w, h], px)
}

/// True when a mask pixel has a neighbour (within 2 pixels, so the line stays visible
/// when the map is shown smaller) outside the mask.
pub(super) fn on_edge(m: &artemo_engine::annotations::Mask, x: usize, y: usize) -> bool {
    let (w, h) = (m.width as i64, m.height as i64);
    for (dx, dy) in [
        (-2i64, 0i64),
        (2, 0),
        (0, -2),
        (0, 2),
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
    ] {
        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
        if nx < 0 || ny < 0 || nx >= w || ny >= h || !m.get(nx as usize, ny as usize) {
            return true;
        }
    }
    false
}

/// Per pixel, the colour of the enabled emotion with the highest probability above the
/// product threshold (0.5); fill or contour as the style asks (the probability style
/// weights the colour's opacity by the winning probability).
pub(super) fn dominant_image(
    results: &HashMap<Emotion, ViewResult>,
    enabled: &[bool; 8],
    colors: &[Color32; 8],
    style: Style,
) -> ColorImage {
    let layers: Vec<&ViewResult> = EMOTIONS
        .iter()
        .enumerate()
        .filter(|(k, _)| enabled[*k])
        .filter_map(|(_, e)| results.get(e))
        .collect();
    let Some(first) = results.values().next() else {
        return ColorImage::new([1, 1], vec![Color32::TRANSPARENT]);
    };
    let (w, h) = (
        first.result.probability.width,
        first.result.probability.height,
    );
    // The Probability style shows the leading emotion everywhere (its opacity is its
    // probability); Fill and Contour only where it passes the product threshold.
    let threshold = if style == Style::Probability {
        0.0
    } else {
        artemo_engine::emosem::postprocess::THRESHOLD
    };
    let mut label = vec![u8::MAX; w * h];
    let mut best = vec![0f32; w * h];
    for (i, (l, b)) in label.iter_mut().zip(best.iter_mut()).enumerate() {
        let mut top = threshold;
        for r in &layers {
            let p = r.result.probability.data.get(i).copied().unwrap_or(0.0);
            if p > top {
                top = p;
                *l = slot_of(r.result.emotion) as u8;
            }
        }
        *b = top;
    }
    let mut px = vec![Color32::TRANSPARENT; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let l = label[i];
            if l == u8::MAX {
                continue;
            }
            let show = match style {
                Style::Contour => [
                    (-1i64, 0i64),
                    (1, 0),
                    (0, -1),
                    (0, 1),
                    (-2, 0),
                    (2, 0),
                    (0, -2),
                    (0, 2),
                ]
                .iter()
                .any(|(dx, dy)| {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    nx < 0
                        || ny < 0
                        || nx >= w as i64
                        || ny >= h as i64
                        || label[ny as usize * w + nx as usize] != l
                }),
                _ => true,
            };
            if show {
                let c = colors[l as usize];
                px[i] = match style {
                    Style::Probability => c.gamma_multiply(best[i]),
                    _ => c,
                };
            }
        }
    }
    ColorImage::new([w, h], px)
}
