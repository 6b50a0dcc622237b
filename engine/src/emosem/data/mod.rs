//! Sources of EmoSEM training examples, all as [`StimulusExample`]s (what
//! [`load_stimuli`] returns and the trainer takes):
//!
//! - [`StimuliSource::Regions`]: Artemo's stimulus regions (`assets/annotations`, polygons
//!   with their utterances as explanations), split by `SPLITS.csv`;
//! - [`StimuliSource::Apolo`]: an APOLO root (`apolo.json` + `apolo_pixel_map/`), masks
//!   only (no explanation tokens); APOLO's `test` records are held out, every tenth other
//!   painting validates (as the training session's APOLO corpus);
//! - [`StimuliSource::Pseudo`]: a pseudo-mask folder made from an ArtEmis CSV by
//!   [`pseudo::build_pseudo_masks`] (`artemo annotations pseudo-masks`), one mask per
//!   utterance with the utterance as explanation, split by ArtEmis' 85/5/10 rule.
//!
//! `--stimuli regions|apolo:PATH|pseudo:PATH` on the command line ([`StimuliSource::parse`]).

pub mod pseudo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::session::{Region, RegionCorpus, RegionExample, RegionTarget};
use super::train::{load_stimuli, StimulusExample, Target};
use crate::annotations::artemis::Split;
use crate::annotations::mask::Mask;
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::tokenize::TextTokenizer;

/// Where EmoSEM's training masks come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StimuliSource {
    /// Artemo's stimulus regions (`assets/annotations`).
    Regions,
    /// An APOLO `apolo.json` (maps in `apolo_pixel_map/` beside it) over a collection of
    /// images (`None`: the shipped paintings).
    Apolo {
        /// The `apolo.json` file (or its folder).
        json: PathBuf,
        /// The images: a folder, manifest CSV or WikiArt root.
        images: Option<PathBuf>,
    },
    /// A pseudo-mask folder (`pseudo_masks.csv`, [`pseudo`]).
    Pseudo {
        /// The folder.
        dir: PathBuf,
    },
}

impl StimuliSource {
    /// Parses `regions`, `apolo:PATH` or `pseudo:PATH` (`images` goes with APOLO).
    pub fn parse(s: &str, images: Option<PathBuf>) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("regions") {
            return Ok(StimuliSource::Regions);
        }
        let path = |rest: &str| {
            if rest.is_empty() {
                Err(format!("`{s}`: give a path after the colon"))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if let Some(rest) = s.strip_prefix("apolo:") {
            let p = path(rest)?;
            let json = if p.is_dir() { p.join("apolo.json") } else { p };
            return Ok(StimuliSource::Apolo { json, images });
        }
        if let Some(rest) = s.strip_prefix("pseudo:") {
            return Ok(StimuliSource::Pseudo { dir: path(rest)? });
        }
        Err(format!(
            "unknown stimuli source `{s}` (regions, apolo:PATH or pseudo:PATH)"
        ))
    }

    /// A name for logs and reports.
    pub fn describe(&self) -> String {
        match self {
            StimuliSource::Regions => "Artemo's stimulus regions".into(),
            StimuliSource::Apolo { json, .. } => format!("APOLO {}", json.display()),
            StimuliSource::Pseudo { dir } => format!("pseudo-masks {}", dir.display()),
        }
    }
}

/// The training examples of `source` in `split` (all splits when `None`), masks at
/// `mask_side` x `mask_side` in the frame where the image covers the top-left share
/// `content(width, height)` = (height share, width share), explanations tokenised with
/// `tok` (empty for APOLO).
pub fn load_examples(
    source: &StimuliSource,
    assets: &Path,
    split: Option<Split>,
    mask_side: usize,
    content: impl Fn(u32, u32) -> (f32, f32),
    tok: &TextTokenizer,
) -> Result<Vec<StimulusExample>> {
    match source {
        StimuliSource::Regions => load_stimuli(assets, split, mask_side, content, tok),
        StimuliSource::Apolo { json, images } => {
            let coll_path = images
                .clone()
                .unwrap_or_else(|| assets.join("paintings/aic/paintings.csv"));
            let coll = Collection::open(&coll_path)?;
            let files: BTreeMap<String, PathBuf> = coll
                .paintings
                .iter()
                .map(|p| (p.id.clone(), p.path.clone()))
                .collect();
            let corpus = RegionCorpus::apolo(json, None, &files)?;
            let chosen = match split {
                Some(Split::Train) => corpus.train,
                Some(Split::Val) => corpus.val,
                Some(_) => Vec::new(),
                None => corpus.train.into_iter().chain(corpus.val).collect(),
            };
            Ok(chosen
                .into_iter()
                .map(|ex| to_example(ex, mask_side, &content, tok))
                .collect::<Result<_>>()?)
        }
        StimuliSource::Pseudo { dir } => load_pseudo(dir, split, mask_side, content, tok),
    }
}

fn to_example(
    ex: RegionExample,
    side: usize,
    content: &impl Fn(u32, u32) -> (f32, f32),
    tok: &TextTokenizer,
) -> Result<StimulusExample> {
    let c = content(ex.size.0, ex.size.1);
    let targets = ex
        .targets
        .iter()
        .map(|t| {
            Ok(Target {
                emotion: t.emotion,
                mask: t.rasterize(ex.size, side, c),
                tokens: match &t.explanation {
                    Some(e) => tok.encode(e)?,
                    None => Vec::new(),
                },
            })
        })
        .collect::<Result<_>>()?;
    Ok(StimulusExample {
        painting: ex.painting,
        image: ex.image,
        targets,
    })
}

/// Reads a pseudo-mask folder (`pseudo_masks.csv` + `masks/`): one target per row, the
/// row's utterance as explanation; rows outside `split` are left out. Errors name the
/// file and row.
pub fn load_pseudo(
    dir: &Path,
    split: Option<Split>,
    mask_side: usize,
    content: impl Fn(u32, u32) -> (f32, f32),
    tok: &TextTokenizer,
) -> Result<Vec<StimulusExample>> {
    let index = dir.join(pseudo::INDEX_CSV);
    let mut rdr =
        csv::Reader::from_path(&index).map_err(|e| Error::parse(&index, None, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| Error::at(&index, "header", e.to_string()))?
        .clone();
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h.trim() == n)
            .ok_or_else(|| Error::at(&index, "header", format!("missing column `{n}`")))
    };
    let (cp, ce, cs, ci, cm, cu) = (
        col("painting")?,
        col("emotion")?,
        col("split")?,
        col("image")?,
        col("mask")?,
        col("utterance")?,
    );
    let mut by: BTreeMap<String, StimulusExample> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let at = |f: &str, m: String| Error::at(&index, format!("row {row}, field `{f}`"), m);
        let rec = rec.map_err(|e| Error::at(&index, format!("row {row}"), e.to_string()))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim();
        let s = Split::parse(get(cs))
            .ok_or_else(|| at("split", format!("unknown split `{}`", get(cs))))?;
        if split.is_some_and(|want| want != s) {
            continue;
        }
        let e = Emotion::parse(get(ce))
            .ok_or_else(|| at("emotion", format!("unknown emotion `{}`", get(ce))))?;
        let mask_path = dir.join(get(cm));
        let mask = Mask::read_png(&mask_path).map_err(|e| at("mask", e.to_string()))?;
        let image = PathBuf::from(get(ci));
        // The mask is at the image's size.
        let size = (mask.width as u32, mask.height as u32);
        let target = RegionTarget {
            emotion: e,
            region: Region::Map(mask),
            explanation: None,
        };
        let c = content(size.0, size.1);
        by.entry(get(cp).to_string())
            .or_insert_with(|| StimulusExample {
                painting: get(cp).to_string(),
                image,
                targets: Vec::new(),
            })
            .targets
            .push(Target {
                emotion: e,
                mask: target.rasterize(size, mask_side, c),
                tokens: tok.encode(get(cu))?,
            });
    }
    Ok(by.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_sources() {
        assert_eq!(
            StimuliSource::parse("regions", None),
            Ok(StimuliSource::Regions)
        );
        assert_eq!(
            StimuliSource::parse("pseudo:/x/y", None),
            Ok(StimuliSource::Pseudo { dir: "/x/y".into() })
        );
        assert_eq!(
            StimuliSource::parse("apolo:/a/apolo.json", Some("/imgs".into())),
            Ok(StimuliSource::Apolo {
                json: "/a/apolo.json".into(),
                images: Some("/imgs".into())
            })
        );
        assert!(StimuliSource::parse("apolo:", None).is_err());
        assert!(StimuliSource::parse("masks", None)
            .unwrap_err()
            .contains("regions, apolo:PATH or pseudo:PATH"));
    }

    #[test]
    fn regions_source_is_load_stimuli() {
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let a = load_examples(
            &StimuliSource::Regions,
            &assets,
            Some(Split::Val),
            8,
            |_, _| (1.0, 1.0),
            &tok,
        )
        .unwrap();
        let b = load_stimuli(&assets, Some(Split::Val), 8, |_, _| (1.0, 1.0), &tok).unwrap();
        assert!(!a.is_empty());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.painting, y.painting);
            assert_eq!(x.targets.len(), y.targets.len());
        }
    }

    #[test]
    fn apolo_source_gives_masks_without_explanations() {
        // A two-painting APOLO root over shipped paintings: one validates (the last of
        // fewer than ten), one trains; a `test` record is held out.
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let d = tempfile::tempdir().unwrap();
        let maps = d.path().join("apolo_pixel_map");
        std::fs::create_dir_all(&maps).unwrap();
        let json = d.path().join("apolo.json");
        std::fs::write(
            &json,
            r#"[{"painting": "100026", "artemis_id": [1], "split": "val"},
                {"painting": "100342", "artemis_id": [2], "split": "val"},
                {"painting": "100343", "artemis_id": [3], "split": "test"}]"#,
        )
        .unwrap();
        let mut m = Mask::new(4, 4);
        m.set(0, 0, true);
        m.set(1, 0, true);
        for p in ["100026", "100342", "100343"] {
            m.write_npy(&maps.join(format!("{p}_awe.npy"))).unwrap();
        }
        let src = StimuliSource::parse(&format!("apolo:{}", d.path().display()), None).unwrap();
        let all = load_examples(&src, &assets, None, 4, |_, _| (1.0, 1.0), &tok).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|e| e.painting != "100343"));
        let t = &all[0].targets[0];
        assert_eq!(t.emotion, Emotion::Awe);
        assert!(t.tokens.is_empty());
        assert_eq!(&t.mask[..4], &[1.0, 1.0, 0.0, 0.0]);
        assert_eq!(t.mask.iter().sum::<f32>(), 2.0);
        let train = load_examples(
            &src,
            &assets,
            Some(Split::Train),
            4,
            |_, _| (1.0, 1.0),
            &tok,
        )
        .unwrap();
        assert_eq!(train.len(), 1);
    }
}
