//! Stimulus regions drawn as polygons (Artemo's own APOLO-style annotations,
//! `assets/annotations/stimuli.json`) and their rasterisation into per-(painting, emotion)
//! masks at the image's size.
//!
//! Rasterisation is written here (no crate dependency): a pixel belongs to a polygon when
//! its centre (x + 0.5, y + 0.5) is inside by the even-odd rule; several polygons of one
//! region are united. This is deterministic and independent of drawing libraries, so the
//! committed masks can be reproduced bit for bit.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::mask::Mask;
use crate::emotion::Emotion;
use crate::error::{read_text, Error, Result};

/// One region: the polygons in image pixel coordinates that evoke `emotion`, and the
/// response it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stimulus {
    /// Painting id (file stem).
    pub painting: String,
    /// The emotion (one of the eight; never "something else").
    pub emotion: Emotion,
    /// The utterance (from the ArtEmis-style CSV) this region belongs to.
    pub utterance: String,
    /// Polygons, each a list of `[x, y]` points in pixels (origin top-left).
    pub polygons: Vec<Vec<[f32; 2]>>,
}

/// Reads `stimuli.json` (a JSON array of [`Stimulus`]); errors name the entry and field.
pub fn read_stimuli(path: &Path) -> Result<Vec<Stimulus>> {
    let text = read_text(path)?;
    let stimuli: Vec<Stimulus> = crate::error::parse_json_array(&text, path, "entry")?;
    stimuli
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            if s.emotion == Emotion::SomethingElse {
                return Err(Error::at(
                    path,
                    format!("entry {i}, field `emotion`"),
                    "stimuli use the eight emotions, not `something else`",
                ));
            }
            if s.polygons.is_empty() {
                return Err(Error::at(
                    path,
                    format!("entry {i}, field `polygons`"),
                    "no polygon",
                ));
            }
            if let Some((k, p)) = s.polygons.iter().enumerate().find(|(_, p)| p.len() < 3) {
                return Err(Error::at(
                    path,
                    format!("entry {i}, polygon {k}"),
                    format!("{} points; a polygon needs at least 3", p.len()),
                ));
            }
            if s.polygons
                .iter()
                .flatten()
                .any(|[x, y]| !x.is_finite() || !y.is_finite())
            {
                return Err(Error::at(
                    path,
                    format!("entry {i}, field `polygons`"),
                    "coordinates must be finite numbers",
                ));
            }
            Ok(s)
        })
        .collect()
}

/// Writes stimuli as pretty JSON, atomically.
pub fn write_stimuli(path: &Path, stimuli: &[Stimulus]) -> Result<()> {
    let text = serde_json::to_string_pretty(stimuli).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::error::write_atomic(path, text.as_bytes())
}

/// Rasterises polygons (pixel coordinates) into a `width` x `height` mask.
pub fn rasterize(polygons: &[Vec<[f32; 2]>], width: usize, height: usize) -> Mask {
    let mut m = Mask::new(width, height);
    for poly in polygons {
        if poly.len() < 3 {
            continue;
        }
        for y in 0..height {
            let cy = y as f32 + 0.5;
            // Crossings of the scanline with the polygon's edges.
            let mut xs: Vec<f32> = Vec::new();
            for i in 0..poly.len() {
                let [x0, y0] = poly[i];
                let [x1, y1] = poly[(i + 1) % poly.len()];
                if (y0 <= cy && y1 > cy) || (y1 <= cy && y0 > cy) {
                    xs.push(x0 + (cy - y0) / (y1 - y0) * (x1 - x0));
                }
            }
            xs.sort_by(f32::total_cmp);
            for pair in xs.chunks_exact(2) {
                // Pixels whose centre lies in [a, b).
                let start = (pair[0] - 0.5).ceil().max(0.0) as usize;
                let end = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(width);
                for x in start..end {
                    m.set(x, y, true);
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rasterises_squares_triangles_and_unions() {
        // Square covering pixel centres 1..=2 in x and y.
        let sq = vec![[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]];
        let m = rasterize(std::slice::from_ref(&sq), 5, 5);
        assert_eq!(m.area(), 4);
        assert!(m.get(1, 1) && m.get(2, 2) && !m.get(3, 3) && !m.get(0, 0));
        // Right triangle above the diagonal: the 6 centres with y < x, plus the 4 centres
        // lying on the diagonal edge (a span [a, b) includes its left end).
        let tri = vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]];
        let t = rasterize(&[tri], 4, 4);
        assert_eq!(t.area(), 10, "{:?}", t.data);
        // Union of two overlapping polygons.
        let u = rasterize(
            &[sq, vec![[2.0, 2.0], [5.0, 2.0], [5.0, 5.0], [2.0, 5.0]]],
            5,
            5,
        );
        assert_eq!(u.area(), 4 + 9 - 1);
        // Out-of-image points are clipped.
        let big = rasterize(
            &[vec![
                [-10.0, -10.0],
                [20.0, -10.0],
                [20.0, 20.0],
                [-10.0, 20.0],
            ]],
            3,
            2,
        );
        assert_eq!(big.area(), 6);
    }

    #[test]
    fn reads_and_rejects_malformed_entries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("stimuli.json");
        let s = vec![Stimulus {
            painting: "p".into(),
            emotion: Emotion::Fear,
            utterance: "the dark sea".into(),
            polygons: vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]],
        }];
        write_stimuli(&p, &s).unwrap();
        assert_eq!(read_stimuli(&p).unwrap(), s);
        let cases = [
            (
                r#"[{"painting": "p", "emotion": "joy", "utterance": "u", "polygons": [[[0,0],[1,0],[1,1]]]}]"#,
                "entry 0",
            ),
            (
                r#"[{"painting": "p", "emotion": "something_else", "utterance": "u", "polygons": [[[0,0],[1,0],[1,1]]]}]"#,
                "entry 0, field `emotion`",
            ),
            (
                r#"[{"painting": "p", "emotion": "awe", "utterance": "u", "polygons": [[[0,0],[1,0]]]}]"#,
                "entry 0, polygon 0",
            ),
            (
                r#"[{"painting": "p", "emotion": "awe", "utterance": "u", "polygons": []}]"#,
                "field `polygons`",
            ),
            ("[", "line 1"),
        ];
        for (text, want) in cases {
            std::fs::write(&p, text).unwrap();
            let e = read_stimuli(&p).unwrap_err().to_string();
            assert!(e.contains("stimuli.json") && e.contains(want), "{e}");
        }
    }
}
