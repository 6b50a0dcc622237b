//! The region data of an EmoSEM session: paintings with their annotated regions, from
//! Artemo's stimulus regions, an APOLO root over an open collection or a pseudo-mask
//! folder (`artemo annotations pseudo-masks`, masks and utterances).
//!
//! APOLO ships no training split: its `test` records are never used here (they stay for
//! `artemo eval-masks`); the other records are split by painting, every tenth (by id)
//! held out for validation. APOLO has no explanations of its own, so on APOLO only the
//! mask side learns (the explanation loss is absent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::annotations::apolo::ApoloSet;
use crate::annotations::artemis::Split;
use crate::annotations::dataset::read_splits;
use crate::annotations::mask::Mask;
use crate::annotations::stimuli::{rasterize, read_stimuli};
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::train::{DataSource, SessionData};

/// Where an annotated region lies in its image.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// Polygons in image pixels (Artemo's `stimuli.json`).
    Polygons(Vec<Vec<[f32; 2]>>),
    /// A 0/1 map over the whole image at any resolution (APOLO's `.npy`).
    Map(Mask),
}

/// One annotated emotion of a painting.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionTarget {
    /// The emotion.
    pub emotion: Emotion,
    /// Where it comes from in the picture.
    pub region: Region,
    /// Its explanation, when the data has one.
    pub explanation: Option<String>,
}

impl RegionTarget {
    /// The region as 0/1 values at `side` x `side`, row-major, in the frame where the image
    /// covers the top-left `content` = (height share, width share) (1, 1 for the grid
    /// towers, which squash the image; less for SAM, which pads it). Pixels are sampled at
    /// their centres.
    pub fn rasterize(&self, size: (u32, u32), side: usize, content: (f32, f32)) -> Vec<f32> {
        let (w, h) = (size.0.max(1) as f32, size.1.max(1) as f32);
        let (ch, cw) = content;
        match &self.region {
            Region::Polygons(polys) => {
                let sx = cw * side as f32 / w;
                let sy = ch * side as f32 / h;
                let scaled: Vec<Vec<[f32; 2]>> = polys
                    .iter()
                    .map(|p| p.iter().map(|[x, y]| [x * sx, y * sy]).collect())
                    .collect();
                rasterize(&scaled, side, side)
                    .data
                    .iter()
                    .map(|&v| v as f32)
                    .collect()
            }
            Region::Map(m) => {
                let mut out = vec![0f32; side * side];
                if m.width == 0 || m.height == 0 || ch <= 0.0 || cw <= 0.0 {
                    return out;
                }
                for y in 0..side {
                    let v = (y as f32 + 0.5) / side as f32 / ch;
                    if v >= 1.0 {
                        continue;
                    }
                    let my = ((v * m.height as f32) as usize).min(m.height - 1);
                    for x in 0..side {
                        let u = (x as f32 + 0.5) / side as f32 / cw;
                        if u >= 1.0 {
                            continue;
                        }
                        let mx = ((u * m.width as f32) as usize).min(m.width - 1);
                        if m.get(mx, my) {
                            out[y * side + x] = 1.0;
                        }
                    }
                }
                out
            }
        }
    }
}

/// One painting with its annotated regions.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionExample {
    /// Painting id.
    pub painting: String,
    /// The image file.
    pub image: PathBuf,
    /// The image's (width, height) in pixels.
    pub size: (u32, u32),
    /// Its regions, one per annotated emotion.
    pub targets: Vec<RegionTarget>,
}

/// Training and validation paintings with their regions.
#[derive(Debug, Clone, Default)]
pub struct RegionCorpus {
    /// What it was read from (shown to users).
    pub source: String,
    /// Training paintings.
    pub train: Vec<RegionExample>,
    /// Validation paintings.
    pub val: Vec<RegionExample>,
    /// What users should know about the data (held-out splits, records skipped, ...).
    pub notes: Vec<String>,
}

fn image_size(path: &Path, w: Option<u32>, h: Option<u32>) -> Result<(u32, u32)> {
    match (w, h) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => image::image_dimensions(path).map_err(|e| Error::image(path, e.to_string())),
    }
}

impl RegionCorpus {
    /// Artemo's stimulus regions on the shipped paintings, split by `SPLITS.csv` (the test
    /// split is left out). Explanations are the regions' utterances.
    pub fn shipped(assets: &Path) -> Result<RegionCorpus> {
        let ann = assets.join("annotations");
        let stimuli = read_stimuli(&ann.join("stimuli.json"))?;
        let splits = read_splits(&ann.join("SPLITS.csv"))?;
        let collection = Collection::open_manifest(&assets.join("paintings/aic/paintings.csv"))?;
        let mut by: BTreeMap<String, (Split, RegionExample)> = BTreeMap::new();
        for s in stimuli {
            let split = match splits.get(&s.painting) {
                Some(sp @ (Split::Train | Split::Val)) => *sp,
                _ => continue,
            };
            let p = collection.get(&s.painting).ok_or_else(|| {
                Error::at(
                    ann.join("stimuli.json"),
                    format!("painting `{}`", s.painting),
                    "not in the shipped collection",
                )
            })?;
            let entry = match by.get_mut(&s.painting) {
                Some(e) => e,
                None => {
                    let size = image_size(&p.path, p.width, p.height)?;
                    by.entry(s.painting.clone()).or_insert((
                        split,
                        RegionExample {
                            painting: s.painting.clone(),
                            image: p.path.clone(),
                            size,
                            targets: Vec::new(),
                        },
                    ))
                }
            };
            entry.1.targets.push(RegionTarget {
                emotion: s.emotion,
                region: Region::Polygons(s.polygons),
                explanation: Some(s.utterance.trim().to_string()).filter(|u| !u.is_empty()),
            });
        }
        let mut c = RegionCorpus {
            source: "Artemo's stimulus regions".into(),
            notes: vec![
                "the test split (SPLITS.csv) is held out for `artemo eval --task emosem`".into(),
            ],
            ..Default::default()
        };
        for (_, (split, ex)) in by {
            match split {
                Split::Val => c.val.push(ex),
                _ => c.train.push(ex),
            }
        }
        c.require(&ann.join("stimuli.json"))?;
        Ok(c)
    }

    /// An APOLO root over an open collection's images (`images`: painting id -> file):
    /// the records outside APOLO's `test` split whose painting has an image and at least
    /// one non-empty map, every tenth painting (by id) held out for validation.
    pub fn apolo(
        json: &Path,
        map_dir: Option<&Path>,
        images: &BTreeMap<String, PathBuf>,
    ) -> Result<RegionCorpus> {
        let set = ApoloSet::open(json, map_dir)?;
        if set.records.is_empty() {
            return Err(Error::at(json, "records", "the file has no record"));
        }
        if !set.map_dir.is_dir() {
            return Err(Error::at(
                &set.map_dir,
                "maps",
                "the folder of `.npy` maps does not exist (APOLO's `apolo_pixel_map/`)",
            ));
        }
        let mut test = 0usize;
        let mut without_image = 0usize;
        let mut without_map = 0usize;
        let mut by: BTreeMap<String, RegionExample> = BTreeMap::new();
        for r in &set.records {
            if r.split.eq_ignore_ascii_case("test") {
                test += 1;
                continue;
            }
            if by.contains_key(&r.painting) {
                continue;
            }
            let Some(image) = images.get(&r.painting) else {
                without_image += 1;
                continue;
            };
            let mut targets = Vec::new();
            for e in Emotion::EIGHT {
                if let Some(m) = set.load_map(&r.painting, e)? {
                    if !m.is_empty() {
                        targets.push(RegionTarget {
                            emotion: e,
                            region: Region::Map(m),
                            explanation: None,
                        });
                    }
                }
            }
            if targets.is_empty() {
                without_map += 1;
                continue;
            }
            let size = image_size(image, None, None)?;
            by.insert(
                r.painting.clone(),
                RegionExample {
                    painting: r.painting.clone(),
                    image: image.clone(),
                    size,
                    targets,
                },
            );
        }
        if by.is_empty() {
            return Err(Error::at(
                json,
                "records",
                format!(
                    "no usable record: {test} in the test split (held out), {without_image} without an image in the open collection, {without_map} without a non-empty map in {}",
                    set.map_dir.display()
                ),
            ));
        }
        let n = by.len();
        let mut c = RegionCorpus {
            source: format!("APOLO {}", json.display()),
            ..Default::default()
        };
        for (i, (_, ex)) in by.into_iter().enumerate() {
            // Every tenth painting validates; with fewer than ten, the last one.
            if i % 10 == 9 || (n < 10 && i == n - 1) {
                c.val.push(ex);
            } else {
                c.train.push(ex);
            }
        }
        c.notes.push(format!(
            "APOLO's test split ({test} records) is held out for `artemo eval-masks`; every tenth painting validates"
        ));
        if without_image + without_map > 0 {
            c.notes.push(format!(
                "{without_image} records without an image in the open collection and {without_map} without a non-empty map were skipped"
            ));
        }
        c.notes.push(
            "APOLO has no explanations: only the mask side learns (no explanation loss)".into(),
        );
        c.require(json)?;
        Ok(c)
    }

    /// A pseudo-mask folder (`pseudo_masks.csv` + `masks/`, made by `artemo annotations
    /// pseudo-masks`): one region per utterance with the utterance as its explanation,
    /// split by the folder's `split` column (ArtEmis' 85/5/10 rule by artwork; the test
    /// split and ArtEmis' `rest` are held out). A folder without a validation painting
    /// (a small CSV) validates on its last training painting, said in the notes.
    pub fn pseudo(dir: &Path) -> Result<RegionCorpus> {
        let rows = crate::emosem::data::read_pseudo(dir)?;
        let index = dir.join(crate::emosem::data::pseudo::INDEX_CSV);
        let mut c = RegionCorpus {
            source: format!("pseudo-masks {}", dir.display()),
            ..Default::default()
        };
        let mut held = (0usize, 0usize);
        for (split, ex) in rows {
            match split {
                Split::Train => c.train.push(ex),
                Split::Val => c.val.push(ex),
                Split::Test | Split::Rest => {
                    held.0 += 1;
                    held.1 += ex.targets.len();
                }
            }
        }
        if c.train.is_empty() && c.val.is_empty() {
            return Err(Error::at(
                &index,
                "rows",
                format!(
                    "no training or validation row ({} paintings, {} masks held out in the test split)",
                    held.0, held.1
                ),
            ));
        }
        c.notes.push(format!(
            "the folder's test split ({} paintings, {} masks) is held out",
            held.0, held.1
        ));
        if c.val.is_empty() && c.train.len() >= 2 {
            if let Some(last) = c.train.pop() {
                c.notes.push(format!(
                    "no validation painting in the folder: the last training painting ({}) validates",
                    last.painting
                ));
                c.val.push(last);
            }
        }
        c.notes.push(
            "pseudo-masks approximate the paper's VinVL + CLIP grounding (docs/emosem.md)".into(),
        );
        c.require(&index)?;
        Ok(c)
    }

    /// Paintings, regions and regions with an explanation per split, as one line (the Train
    /// tab's data check).
    pub fn counts_line(&self) -> String {
        let part = |name: &str, v: &[RegionExample]| {
            let regions: usize = v.iter().map(|e| e.targets.len()).sum();
            let explained: usize = v
                .iter()
                .flat_map(|e| &e.targets)
                .filter(|t| t.explanation.is_some())
                .count();
            format!(
                "{name}: {} paintings, {regions} masks ({explained} explained)",
                v.len()
            )
        };
        format!(
            "{} · {}",
            part("train", &self.train),
            part("val", &self.val)
        )
    }

    /// Regions in the training and validation paintings.
    pub fn regions(&self) -> (usize, usize) {
        let count = |v: &[RegionExample]| v.iter().map(|e| e.targets.len()).sum();
        (count(&self.train), count(&self.val))
    }

    fn require(&self, file: &Path) -> Result<()> {
        if self.train.is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no training painting with a region",
            ));
        }
        if self.val.is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no validation painting with a region",
            ));
        }
        Ok(())
    }
}

impl SessionData for RegionCorpus {
    fn read(source: &DataSource, assets: &Path) -> Result<RegionCorpus> {
        match source {
            DataSource::Shipped => RegionCorpus::shipped(assets),
            DataSource::Apolo { json, maps, images } => {
                RegionCorpus::apolo(json, maps.as_deref(), images)
            }
            DataSource::PseudoMasks { dir } => RegionCorpus::pseudo(dir),
            other => Err(Error::Invalid(format!(
                "EmoSEM trains on regions (Artemo's stimulus regions, an APOLO root or a pseudo-mask folder), not on {}",
                other.kind()
            ))),
        }
    }

    fn limit(&mut self, n: usize) {
        self.train.truncate(n.max(1));
        self.val.truncate(n.div_ceil(5).max(2));
    }
}
