//! Artemo's own annotation set on the shipped paintings (`assets/annotations/`):
//! `artemo-aic.csv` (ArtEmis layout), `stimuli.json` (polygons), `SPLITS.csv`
//! (`painting,split`), their consistency checks, statistics, rasterisation into APOLO-style
//! masks, and overlays for checking by eye.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde::Serialize;

use super::apolo::{map_path, ApoloRecord};
use super::artemis::{histograms, read_artemis, Annotation, Dominance, Split};
use super::mask::Mask;
use super::stimuli::{rasterize, read_stimuli, Stimulus};
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};

/// The annotation set.
#[derive(Debug, Clone)]
pub struct AnnotationSet {
    /// Where it was read from.
    pub dir: PathBuf,
    /// Responses.
    pub rows: Vec<Annotation>,
    /// Stimulus regions.
    pub stimuli: Vec<Stimulus>,
    /// Split per painting.
    pub splits: BTreeMap<String, Split>,
}

/// Counts reported in `assets/annotations/README.md` and checked by tests.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Responses.
    pub responses: usize,
    /// Paintings with responses.
    pub paintings: usize,
    /// Fewest responses of a painting.
    pub min_responses: usize,
    /// Responses per label.
    pub per_emotion: BTreeMap<String, usize>,
    /// Paintings per split.
    pub per_split: BTreeMap<String, usize>,
    /// Responses per split.
    pub responses_per_split: BTreeMap<String, usize>,
    /// Paintings with a dominant emotion, ArtEmis rule (>= half, no tie).
    pub dominant_at_least_half: usize,
    /// Paintings with a dominant emotion, SEVLM rule (> half).
    pub dominant_more_than_half: usize,
    /// Mean number of distinct labels per painting.
    pub mean_distinct_labels: f64,
    /// Stimulus regions (painting, emotion).
    pub stimulus_regions: usize,
    /// Paintings with at least one stimulus region.
    pub stimulus_paintings: usize,
    /// Stimulus regions per emotion.
    pub stimuli_per_emotion: BTreeMap<String, usize>,
    /// Mean share of the image a region covers (0..1), when sizes are known.
    pub mean_region_share: Option<f64>,
    /// Utterance length in words: min, mean, max.
    pub words: (usize, f64, usize),
}

impl AnnotationSet {
    /// Reads the three files from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let rows = read_artemis(&dir.join("artemo-aic.csv"))?;
        let stimuli = read_stimuli(&dir.join("stimuli.json"))?;
        let splits = read_splits(&dir.join("SPLITS.csv"))?;
        Ok(AnnotationSet {
            dir: dir.to_path_buf(),
            rows,
            stimuli,
            splits,
        })
    }

    /// Consistency problems (empty when consistent): every painting of the collection has
    /// responses and a split, every response's painting exists, every stimulus has a
    /// matching response (same painting, emotion and utterance) and lies within its image.
    pub fn check(&self, collection: &Collection) -> Vec<String> {
        let mut p = Vec::new();
        let ids: BTreeSet<&str> = collection.paintings.iter().map(|p| p.id.as_str()).collect();
        let with_rows: BTreeSet<&str> = self.rows.iter().map(|r| r.painting.as_str()).collect();
        for id in &ids {
            if !with_rows.contains(id) {
                p.push(format!("painting {id} has no response"));
            }
            if !self.splits.contains_key(*id) {
                p.push(format!("painting {id} has no split"));
            }
        }
        for (i, r) in self.rows.iter().enumerate() {
            if !ids.contains(r.painting.as_str()) {
                p.push(format!(
                    "artemo-aic.csv row {}: painting {} is not in the collection",
                    i + 2,
                    r.painting
                ));
            }
        }
        for (i, s) in self.stimuli.iter().enumerate() {
            if !self.rows.iter().any(|r| {
                r.painting == s.painting && r.emotion == s.emotion && r.utterance == s.utterance
            }) {
                p.push(format!("stimuli.json entry {i} ({} {}): no response with this painting, emotion and utterance", s.painting, s.emotion));
            }
            if let Some(pt) = collection.get(&s.painting) {
                if let (Some(w), Some(h)) = (pt.width, pt.height) {
                    let out = s.polygons.iter().flatten().any(|[x, y]| {
                        *x < -1.0 || *y < -1.0 || *x > w as f32 + 1.0 || *y > h as f32 + 1.0
                    });
                    if out {
                        p.push(format!(
                            "stimuli.json entry {i} ({} {}): points outside the {w}x{h} image",
                            s.painting, s.emotion
                        ));
                    }
                }
            } else {
                p.push(format!(
                    "stimuli.json entry {i}: painting {} is not in the collection",
                    s.painting
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for s in &self.stimuli {
            if !seen.insert((s.painting.as_str(), s.emotion)) {
                p.push(format!(
                    "stimuli.json: more than one region for ({}, {})",
                    s.painting, s.emotion
                ));
            }
        }
        p
    }

    /// Counts and agreement statistics.
    pub fn stats(&self, collection: Option<&Collection>) -> Stats {
        let hist = histograms(&self.rows);
        let mut per_painting: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.rows {
            *per_painting.entry(r.painting.as_str()).or_default() += 1;
        }
        let mut per_emotion = BTreeMap::new();
        for e in Emotion::ALL {
            per_emotion.insert(
                e.name().to_string(),
                self.rows.iter().filter(|r| r.emotion == e).count(),
            );
        }
        let mut per_split = BTreeMap::new();
        let mut responses_per_split = BTreeMap::new();
        for (painting, s) in &self.splits {
            *per_split.entry(s.name().to_string()).or_insert(0) += 1;
            *responses_per_split.entry(s.name().to_string()).or_insert(0) +=
                per_painting.get(painting.as_str()).copied().unwrap_or(0);
        }
        let mut stimuli_per_emotion = BTreeMap::new();
        for e in Emotion::EIGHT {
            stimuli_per_emotion.insert(
                e.name().to_string(),
                self.stimuli.iter().filter(|s| s.emotion == e).count(),
            );
        }
        let shares: Vec<f64> = collection
            .map(|c| {
                self.stimuli
                    .iter()
                    .filter_map(|s| {
                        let p = c.get(&s.painting)?;
                        let (w, h) = (p.width? as usize, p.height? as usize);
                        Some(rasterize(&s.polygons, w, h).area() as f64 / (w * h) as f64)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let words: Vec<usize> = self
            .rows
            .iter()
            .map(|r| r.utterance.split_whitespace().count())
            .collect();
        Stats {
            responses: self.rows.len(),
            paintings: per_painting.len(),
            min_responses: per_painting.values().copied().min().unwrap_or(0),
            per_emotion,
            per_split,
            responses_per_split,
            dominant_at_least_half: hist
                .values()
                .filter(|h| h.dominant(Dominance::AtLeastHalf).is_some())
                .count(),
            dominant_more_than_half: hist
                .values()
                .filter(|h| h.dominant(Dominance::MoreThanHalf).is_some())
                .count(),
            mean_distinct_labels: hist
                .values()
                .map(|h| h.0.iter().filter(|&&c| c > 0).count() as f64)
                .sum::<f64>()
                / hist.len().max(1) as f64,
            stimulus_regions: self.stimuli.len(),
            stimulus_paintings: self
                .stimuli
                .iter()
                .map(|s| s.painting.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            stimuli_per_emotion,
            mean_region_share: (!shares.is_empty())
                .then(|| shares.iter().sum::<f64>() / shares.len() as f64),
            words: (
                words.iter().copied().min().unwrap_or(0),
                words.iter().sum::<usize>() as f64 / words.len().max(1) as f64,
                words.iter().copied().max().unwrap_or(0),
            ),
        }
    }

    /// The mask of one stimulus at its painting's size (read from the collection, or from
    /// the image header when the manifest lacks it).
    pub fn mask(&self, s: &Stimulus, collection: &Collection) -> Result<Mask> {
        let p = collection.get(&s.painting).ok_or_else(|| {
            Error::Invalid(format!("painting {} is not in the collection", s.painting))
        })?;
        let (w, h) = match (p.width, p.height) {
            (Some(w), Some(h)) => (w as usize, h as usize),
            _ => {
                let (w, h) = image::image_dimensions(&p.path)
                    .map_err(|e| Error::image(&p.path, e.to_string()))?;
                (w as usize, h as usize)
            }
        };
        Ok(rasterize(&s.polygons, w, h))
    }

    /// Writes every region as `<out>/<painting>_<emotion>.png` and/or `.npy` (APOLO
    /// naming; 0/1 at the image's size) and an `apolo.json` listing the paintings with
    /// their response row numbers and splits. Returns the number of masks written.
    pub fn rasterize_all(
        &self,
        collection: &Collection,
        out: &Path,
        png: bool,
        npy: bool,
    ) -> Result<usize> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let mut n = 0;
        for s in &self.stimuli {
            let m = self.mask(s, collection)?;
            let base = map_path(out, &s.painting, s.emotion);
            if npy {
                m.write_npy(&base)?;
            }
            if png {
                m.write_png(&base.with_extension("png"))?;
            }
            n += 1;
        }
        let mut records = Vec::new();
        let paintings: BTreeSet<&str> = self.stimuli.iter().map(|s| s.painting.as_str()).collect();
        for p in paintings {
            let ids: Vec<String> = self
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.painting == p)
                .map(|(i, _)| (i + 2).to_string())
                .collect();
            let split = self
                .splits
                .get(p)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            records.push(ApoloRecord {
                painting: p.to_string(),
                artemis_id: ids,
                split,
            });
        }
        let text =
            serde_json::to_string_pretty(&records).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(&out.join("apolo.json"), text.as_bytes())?;
        Ok(n)
    }
}

/// Reads `SPLITS.csv` (`painting,split`).
pub fn read_splits(path: &Path) -> Result<BTreeMap<String, Split>> {
    let mut rdr =
        csv::Reader::from_path(path).map_err(|e| Error::parse(path, None, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| Error::at(path, "header", e.to_string()))?
        .clone();
    if headers.get(0) != Some("painting") || headers.get(1) != Some("split") {
        return Err(Error::at(path, "header", "expected `painting,split`"));
    }
    let mut out = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| Error::at(path, format!("row {row}"), e.to_string()))?;
        let p = rec.get(0).unwrap_or("").trim();
        if p.is_empty() {
            return Err(Error::at(
                path,
                format!("row {row}, field `painting`"),
                "empty",
            ));
        }
        let s = rec.get(1).unwrap_or("");
        let split = Split::parse(s).ok_or_else(|| {
            Error::at(
                path,
                format!("row {row}, field `split`"),
                format!("`{s}` is not train, val or test"),
            )
        })?;
        if out.insert(p.to_string(), split).is_some() {
            return Err(Error::at(
                path,
                format!("row {row}, field `painting`"),
                format!("{p} listed twice"),
            ));
        }
    }
    Ok(out)
}

/// Writes `SPLITS.csv` atomically, sorted by painting.
pub fn write_splits(path: &Path, splits: &BTreeMap<String, Split>) -> Result<()> {
    let mut s = String::from("painting,split\n");
    for (p, sp) in splits {
        s.push_str(&format!("{p},{}\n", sp.name()));
    }
    write_atomic(path, s.as_bytes())
}

/// The painting with `mask` tinted in `color` (alpha 0.55) and its outline drawn.
pub fn overlay(painting: &RgbImage, mask: &Mask, color: [u8; 3]) -> RgbImage {
    let mut out = painting.clone();
    let (w, h) = (
        mask.width.min(out.width() as usize),
        mask.height.min(out.height() as usize),
    );
    for y in 0..h {
        for x in 0..w {
            if !mask.get(x, y) {
                continue;
            }
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || !mask.get(x - 1, y)
                || !mask.get(x + 1, y)
                || !mask.get(x, y - 1)
                || !mask.get(x, y + 1);
            let p = out.get_pixel_mut(x as u32, y as u32);
            if edge {
                *p = Rgb([255, 255, 255]);
            } else {
                for c in 0..3 {
                    p[c] = (p[c] as f32 * 0.45 + color[c] as f32 * 0.55) as u8;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_round_trip_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("SPLITS.csv");
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), Split::Train);
        m.insert("b".to_string(), Split::Test);
        write_splits(&p, &m).unwrap();
        assert_eq!(read_splits(&p).unwrap(), m);
        for (text, want) in [
            ("painting,split\na,holdout\n", "row 2, field `split`"),
            ("p,s\n", "header"),
            ("painting,split\na,train\na,test\n", "listed twice"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_splits(&p).unwrap_err().to_string();
            assert!(e.contains("SPLITS.csv") && e.contains(want), "{e}");
        }
    }

    #[test]
    fn overlay_tints_inside_and_outlines_the_edge() {
        let img = RgbImage::from_pixel(5, 5, Rgb([100, 100, 100]));
        let mut m = Mask::new(5, 5);
        for y in 1..4 {
            for x in 1..4 {
                m.set(x, y, true);
            }
        }
        let o = overlay(&img, &m, [200, 0, 0]);
        assert_eq!(o.get_pixel(0, 0), &Rgb([100, 100, 100]));
        assert_eq!(o.get_pixel(1, 1), &Rgb([255, 255, 255]));
        assert_eq!(o.get_pixel(2, 2), &Rgb([155, 45, 45]));
    }
}
