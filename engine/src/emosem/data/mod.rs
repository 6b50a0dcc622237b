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
use crate::train::DataSource;

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

    /// The training session's [`DataSource`] for this source (both EmoSEM layouts read it
    /// through [`RegionCorpus`]): `regions` is [`DataSource::Shipped`], `apolo:` is
    /// [`DataSource::Apolo`] over its images (the shipped paintings when none were given;
    /// maps in `apolo_pixel_map/` beside the JSON), `pseudo:` is
    /// [`DataSource::PseudoMasks`].
    pub fn data_source(&self, assets: &Path) -> Result<DataSource> {
        Ok(match self {
            StimuliSource::Regions => DataSource::Shipped,
            StimuliSource::Apolo { json, images } => DataSource::Apolo {
                json: json.clone(),
                maps: None,
                images: collection_images(images.as_deref(), assets)?,
            },
            StimuliSource::Pseudo { dir } => DataSource::PseudoMasks { dir: dir.clone() },
        })
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

/// The images of a collection (a folder, manifest CSV or WikiArt root; `None`: the
/// shipped paintings) by painting id.
pub fn collection_images(
    images: Option<&Path>,
    assets: &Path,
) -> Result<BTreeMap<String, PathBuf>> {
    let path = images
        .map(Path::to_path_buf)
        .unwrap_or_else(|| assets.join("paintings/aic/paintings.csv"));
    let coll = Collection::open(&path)?;
    Ok(coll
        .paintings
        .iter()
        .map(|p| (p.id.clone(), p.path.clone()))
        .collect())
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
            let files = collection_images(images.as_deref(), assets)?;
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
    read_pseudo(dir)?
        .into_iter()
        .filter(|(s, _)| split.is_none_or(|want| want == *s))
        .map(|(_, ex)| to_example(ex, mask_side, &content, tok))
        .collect()
}

/// A pseudo-mask folder's rows as paintings with their masks (at the image's size) and
/// utterances, each with its split, by painting id then split. Errors name the file and
/// row (and field).
pub fn read_pseudo(dir: &Path) -> Result<Vec<(Split, RegionExample)>> {
    let index = dir.join(pseudo::INDEX_CSV);
    if !index.is_file() {
        return Err(Error::at(
            &index,
            "file",
            "no pseudo-mask index here (make the folder with `artemo annotations pseudo-masks`)",
        ));
    }
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
    let mut by: BTreeMap<(String, Split), RegionExample> = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let at = |f: &str, m: String| Error::at(&index, format!("row {row}, field `{f}`"), m);
        let rec = rec.map_err(|e| Error::at(&index, format!("row {row}"), e.to_string()))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim();
        let s = Split::parse(get(cs))
            .ok_or_else(|| at("split", format!("unknown split `{}`", get(cs))))?;
        let e = Emotion::parse(get(ce))
            .ok_or_else(|| at("emotion", format!("unknown emotion `{}`", get(ce))))?;
        let mask = Mask::read_png(&dir.join(get(cm))).map_err(|e| at("mask", e.to_string()))?;
        // The mask is at the image's size.
        let size = (mask.width as u32, mask.height as u32);
        let ex = by
            .entry((get(cp).to_string(), s))
            .or_insert_with(|| RegionExample {
                painting: get(cp).to_string(),
                image: PathBuf::from(get(ci)),
                size,
                targets: Vec::new(),
            });
        if ex.size != size {
            return Err(at(
                "mask",
                format!(
                    "{} x {} pixels, but the painting's other masks are {} x {}",
                    size.0, size.1, ex.size.0, ex.size.1
                ),
            ));
        }
        ex.targets.push(RegionTarget {
            emotion: e,
            region: Region::Map(mask),
            explanation: Some(get(cu).to_string()).filter(|u| !u.is_empty()),
        });
    }
    Ok(by.into_iter().map(|((_, s), ex)| (s, ex)).collect())
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

    /// A pseudo-mask folder as `artemo annotations pseudo-masks` writes it
    /// (`data/pseudo.rs`, "Output"): `rows` = (painting, emotion, split, utterance), each
    /// mask 8 x 6 with its first `k + 1` pixels on.
    fn pseudo_folder(dir: &Path, rows: &[(&str, &str, &str, &str)]) {
        std::fs::create_dir_all(dir.join("masks")).unwrap();
        let mut csv = String::from("row,painting,emotion,split,image,mask,utterance\n");
        for (k, (p, e, s, u)) in rows.iter().enumerate() {
            let mut m = Mask::new(8, 6);
            for x in 0..=k {
                m.set(x, 0, true);
            }
            let rel = format!("masks/{p}_r{}.png", k + 2);
            m.write_png(&dir.join(&rel)).unwrap();
            csv.push_str(&format!("{},{p},{e},{s},/img/{p}.jpg,{rel},{u}\n", k + 2));
        }
        std::fs::write(dir.join(pseudo::INDEX_CSV), csv).unwrap();
    }

    #[test]
    fn pseudo_folder_is_a_session_corpus() {
        let d = tempfile::tempdir().unwrap();
        pseudo_folder(
            d.path(),
            &[
                ("a", "awe", "train", "the sky is vast"),
                ("a", "fear", "train", "dark shapes"),
                ("b", "contentment", "train", "a calm river"),
                ("c", "sadness", "train", "a lonely man"),
                ("t", "anger", "test", "held out"),
            ],
        );
        let src = DataSource::PseudoMasks {
            dir: d.path().to_path_buf(),
        };
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let c = <RegionCorpus as crate::train::SessionData>::read(&src, &assets).unwrap();
        // No validation row: the last training painting validates; the test one is held out.
        assert_eq!(c.train.len(), 2);
        assert_eq!(c.val.len(), 1);
        assert_eq!(c.val[0].painting, "c");
        assert_eq!(c.regions(), (3, 1));
        assert!(c.notes.iter().any(|n| n.contains("(c) validates")));
        assert!(c.notes.iter().any(|n| n.contains("1 paintings, 1 masks")));
        let a = &c.train[0];
        assert_eq!((a.painting.as_str(), a.size), ("a", (8, 6)));
        assert_eq!(a.image, PathBuf::from("/img/a.jpg"));
        assert_eq!(a.targets[1].emotion, Emotion::Fear);
        assert_eq!(a.targets[1].explanation.as_deref(), Some("dark shapes"));
        // The second row's mask: its first two pixels of the top row.
        let m = a.targets[1].rasterize(a.size, 8, (1.0, 1.0));
        assert_eq!(m.iter().sum::<f32>(), 2.0);
        assert_eq!(&m[..3], &[1.0, 1.0, 0.0]);
        assert_eq!(
            c.counts_line(),
            "train: 2 paintings, 3 masks (3 explained) · val: 1 paintings, 1 masks (1 explained)"
        );
        // The stimuli loader reads the same folder, test split included on request.
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let test = load_pseudo(d.path(), Some(Split::Test), 8, |_, _| (1.0, 1.0), &tok).unwrap();
        assert_eq!(test.len(), 1);
        assert!(!test[0].targets[0].tokens.is_empty());
        // The StimuliSource maps to the same data source.
        let s = StimuliSource::parse(&format!("pseudo:{}", d.path().display()), None).unwrap();
        assert_eq!(s.data_source(&assets).unwrap(), src);
    }

    #[test]
    fn pseudo_folder_errors_name_file_and_row() {
        let d = tempfile::tempdir().unwrap();
        let e = RegionCorpus::pseudo(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("pseudo_masks.csv") && e.contains("pseudo-masks"),
            "{e}"
        );
        pseudo_folder(
            d.path(),
            &[("a", "awe", "train", "x"), ("b", "joy", "train", "y")],
        );
        let e = RegionCorpus::pseudo(d.path()).unwrap_err().to_string();
        assert!(e.contains("row 3") && e.contains("`emotion`"), "{e}");
        pseudo_folder(d.path(), &[("a", "awe", "test", "x")]);
        let e = RegionCorpus::pseudo(d.path()).unwrap_err().to_string();
        assert!(e.contains("no training or validation row"), "{e}");
    }

    #[test]
    fn apolo_source_is_the_sessions_apolo_corpus() {
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let s = StimuliSource::parse("apolo:/a/apolo.json", None).unwrap();
        match s.data_source(&assets).unwrap() {
            DataSource::Apolo { json, maps, images } => {
                assert_eq!(json, PathBuf::from("/a/apolo.json"));
                assert_eq!(maps, None);
                // The shipped paintings by default.
                assert!(images.contains_key("100026"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            StimuliSource::Regions.data_source(&assets).unwrap(),
            DataSource::Shipped
        );
    }
}
