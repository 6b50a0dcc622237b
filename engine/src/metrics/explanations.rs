//! EmoSEM's predictions as `artemo eval --task emosem` reads them, and the explanation
//! half of its evaluation.
//!
//! # Predictions
//! `--predictions DIR` is one of
//! - a folder of score maps `<painting>_<emotion>.npy` (what the demo kit writes), with
//!   the explanations optionally in `explanations.csv` (`painting,emotion,explanation`);
//! - one `artemo analyze --model emosem --out DIR` folder (`npy/` + `explanations.json`);
//! - a folder of such analysis folders, one per painting (`DIR/<painting>/npy/...`,
//!   `DIR/<painting>/explanations.json`).
//!
//! A (painting, emotion) found twice is refused, naming both files.
//!
//! # Explanation metrics (EmoSEM paper, Sec. 4: EA, BLEU, METEOR, ROUGE-L, CLIPScore)
//! Each ground-truth mask with an explanation is one sample. Its references are the
//! utterances of that painting *and that emotion* in the reference set (an ArtEmis CSV:
//! Artemo's `artemo-aic.csv`, or `--utterances` beside an APOLO root); samples without
//! such utterances are left out of the text metrics and counted in a note. EA here is
//! EmoSEM's: the EA classifier reads each mask's explanation and counts it aligned when it
//! names *that mask's* emotion ([`target_alignment`]), not the painting's dominant emotion
//! as in SEVLM's EA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::TextEmotionClassifier;
use crate::emotion::Emotion;
use crate::error::{read_text, Error, Result};

/// The file name of the explanations of one analysis (`emosem::postprocess`).
pub const EXPLANATIONS_JSON: &str = "explanations.json";
/// The file name of a table of explanations beside a folder of score maps.
pub const EXPLANATIONS_CSV: &str = "explanations.csv";

/// One key of EmoSEM's predictions.
pub type Key = (String, Emotion);

/// Score maps and explanations found under a predictions folder.
#[derive(Debug, Clone, Default)]
pub struct EmosemPredictions {
    /// The score map file of each (painting, emotion).
    pub maps: BTreeMap<Key, PathBuf>,
    /// The explanation of each (painting, emotion) and the file it came from.
    pub explanations: BTreeMap<Key, (String, PathBuf)>,
}

/// `<painting>_<emotion>.npy` -> (painting, emotion), over the eight emotions.
pub fn parse_map_name(name: &str) -> Option<Key> {
    let stem = name.strip_suffix(".npy")?;
    Emotion::EIGHT.iter().find_map(|e| {
        stem.strip_suffix(e.name())
            .and_then(|p| p.strip_suffix('_'))
            .filter(|p| !p.is_empty())
            .map(|p| (p.to_string(), *e))
    })
}

fn insert_unique<V>(
    map: &mut BTreeMap<Key, V>,
    key: Key,
    value: V,
    file: &Path,
    other: impl Fn(&V) -> PathBuf,
) -> Result<()> {
    if let Some(old) = map.get(&key) {
        return Err(Error::at(
            file,
            format!("({}, {})", key.0, key.1.name()),
            format!("also given by {}", other(old).display()),
        ));
    }
    map.insert(key, value);
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    v.sort();
    Ok(v)
}

fn scan_maps(dir: &Path, out: &mut EmosemPredictions) -> Result<()> {
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let (true, Some(key)) = (path.is_file(), parse_map_name(&name)) {
            insert_unique(&mut out.maps, key, path.clone(), &path, |p| p.clone())?;
        }
    }
    Ok(())
}

/// Reads an analysis' `explanations.json`: `image` (the painting id) and `emotions`
/// (`emotion`, `explanation`).
pub fn read_explanations_json(path: &Path) -> Result<Vec<(Key, String)>> {
    let v: serde_json::Value = serde_json::from_str(&read_text(path)?)
        .map_err(|e| Error::parse(path, None, e.to_string()))?;
    let painting = v
        .get("image")
        .and_then(|x| x.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::at(path, "field `image`", "missing or not a string"))?;
    let emotions = v
        .get("emotions")
        .and_then(|x| x.as_array())
        .ok_or_else(|| Error::at(path, "field `emotions`", "missing or not a list"))?;
    let mut out = Vec::new();
    for (i, item) in emotions.iter().enumerate() {
        let field = |f: &str| {
            item.get(f).and_then(|x| x.as_str()).ok_or_else(|| {
                Error::at(
                    path,
                    format!("emotions[{i}], field `{f}`"),
                    "missing or not a string",
                )
            })
        };
        let name = field("emotion")?;
        let e = Emotion::parse(name).ok_or_else(|| {
            Error::at(
                path,
                format!("emotions[{i}], field `emotion`"),
                format!("unknown emotion `{name}`"),
            )
        })?;
        out.push((
            (painting.to_string(), e),
            field("explanation")?.trim().to_string(),
        ));
    }
    Ok(out)
}

/// Reads `explanations.csv` (`painting,emotion,explanation`).
pub fn read_explanations_csv(path: &Path) -> Result<Vec<(Key, String)>> {
    let mut rdr =
        csv::Reader::from_path(path).map_err(|e| Error::parse(path, None, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| Error::at(path, "header", e.to_string()))?
        .clone();
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h.trim() == n)
            .ok_or_else(|| Error::at(path, "header", format!("missing column `{n}`")))
    };
    let (cp, ce, cx) = (col("painting")?, col("emotion")?, col("explanation")?);
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| Error::at(path, format!("row {row}"), e.to_string()))?;
        let p = rec.get(cp).unwrap_or("").trim();
        if p.is_empty() {
            return Err(Error::at(
                path,
                format!("row {row}, field `painting`"),
                "empty",
            ));
        }
        let es = rec.get(ce).unwrap_or("");
        let e = Emotion::parse(es).ok_or_else(|| {
            Error::at(
                path,
                format!("row {row}, field `emotion`"),
                format!("unknown emotion `{es}`"),
            )
        })?;
        out.push((
            (p.to_string(), e),
            rec.get(cx).unwrap_or("").trim().to_string(),
        ));
    }
    Ok(out)
}

fn add_explanations(
    items: Vec<(Key, String)>,
    file: &Path,
    out: &mut EmosemPredictions,
) -> Result<()> {
    for (k, text) in items {
        insert_unique(
            &mut out.explanations,
            k,
            (text, file.to_path_buf()),
            file,
            |(_, f)| f.clone(),
        )?;
    }
    Ok(())
}

fn scan_analysis(dir: &Path, out: &mut EmosemPredictions) -> Result<()> {
    scan_maps(dir, out)?;
    let npy = dir.join("npy");
    if npy.is_dir() {
        scan_maps(&npy, out)?;
    }
    let json = dir.join(EXPLANATIONS_JSON);
    if json.is_file() {
        add_explanations(read_explanations_json(&json)?, &json, out)?;
    }
    Ok(())
}

/// Collects the score maps and explanations under `dir` (see the module's layouts).
pub fn collect_predictions(dir: &Path) -> Result<EmosemPredictions> {
    let mut out = EmosemPredictions::default();
    scan_analysis(dir, &mut out)?;
    let csv = dir.join(EXPLANATIONS_CSV);
    if csv.is_file() {
        add_explanations(read_explanations_csv(&csv)?, &csv, &mut out)?;
    }
    for sub in sorted_entries(dir)? {
        let is_npy = sub.file_name().is_some_and(|n| n == "npy");
        if sub.is_dir()
            && !is_npy
            && (sub.join("npy").is_dir() || sub.join(EXPLANATIONS_JSON).is_file())
        {
            scan_analysis(&sub, &mut out)?;
        }
    }
    Ok(out)
}

/// EmoSEM's EA: how often the classifier reads each explanation as its mask's emotion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetAlignment {
    /// A report label naming the rule and the classifier.
    pub label: String,
    /// Explanations classified as their mask's emotion.
    pub aligned: usize,
    /// Explanations scored.
    pub counted: usize,
    /// `aligned / counted` (0..1); 0 when nothing is counted.
    pub value: f64,
    /// The classifier's emotion of each explanation, in order.
    pub predicted: Vec<Emotion>,
}

/// EA of explanations against the emotion each was generated for (EmoSEM Sec. 4: "the
/// emotion of the mask"); the classifier runs once over all texts.
pub fn target_alignment(
    texts: &[String],
    targets: &[Emotion],
    classifier: &dyn TextEmotionClassifier,
) -> Result<TargetAlignment> {
    if texts.len() != targets.len() {
        return Err(Error::Invalid(format!(
            "EA: {} explanations for {} emotions",
            texts.len(),
            targets.len()
        )));
    }
    let predicted = classifier.predict(texts)?;
    if predicted.len() != texts.len() {
        return Err(Error::Invalid(format!(
            "classifier `{}` returned {} labels for {} texts",
            classifier.name(),
            predicted.len(),
            texts.len()
        )));
    }
    let aligned = predicted
        .iter()
        .zip(targets)
        .filter(|(p, t)| p == t)
        .count();
    let counted = texts.len();
    Ok(TargetAlignment {
        label: format!(
            "EA (against each mask's emotion, EmoSEM; classifier: {})",
            classifier.name()
        ),
        aligned,
        counted,
        value: if counted > 0 {
            aligned as f64 / counted as f64
        } else {
            0.0
        },
        predicted,
    })
}

/// The reference utterances of each (painting, emotion) of ArtEmis-style rows.
pub fn references_by_key(rows: &[crate::annotations::Annotation]) -> BTreeMap<Key, Vec<String>> {
    let mut out: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for a in rows {
        out.entry((a.painting.clone(), a.emotion))
            .or_default()
            .push(a.utterance.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keywords;

    impl TextEmotionClassifier for Keywords {
        fn predict(&self, texts: &[String]) -> Result<Vec<Emotion>> {
            Ok(texts
                .iter()
                .map(|t| {
                    if t.contains("scary") {
                        Emotion::Fear
                    } else if t.contains("vast") {
                        Emotion::Awe
                    } else {
                        Emotion::SomethingElse
                    }
                })
                .collect())
        }

        fn name(&self) -> &str {
            "keywords (test)"
        }
    }

    #[test]
    fn ea_counts_each_explanation_against_its_masks_emotion() {
        use Emotion::*;
        // (text, mask emotion, aligned?)
        let table = [
            ("a scary night", Fear, true),
            ("a scary night", Awe, false),
            ("the vast sky", Awe, true),
            ("a hat", Contentment, false),
            ("a hat", SomethingElse, true),
        ];
        let texts: Vec<String> = table.iter().map(|r| r.0.to_string()).collect();
        let targets: Vec<Emotion> = table.iter().map(|r| r.1).collect();
        let ea = target_alignment(&texts, &targets, &Keywords).unwrap();
        assert_eq!((ea.aligned, ea.counted), (3, 5));
        assert!((ea.value - 0.6).abs() < 1e-12);
        for (r, p) in table.iter().zip(&ea.predicted) {
            assert_eq!(*p == r.1, r.2, "{}", r.0);
        }
        assert!(ea.label.contains("mask's emotion") && ea.label.contains("keywords"));
        assert!(target_alignment(&texts, &targets[..2], &Keywords).is_err());
        let none = target_alignment(&[], &[], &Keywords).unwrap();
        assert_eq!((none.counted, none.value), (0, 0.0));
    }

    #[test]
    fn map_names_table() {
        let table = [
            ("monet_x_awe.npy", Some(("monet_x", Emotion::Awe))),
            ("p_fear.npy", Some(("p", Emotion::Fear))),
            ("p_something else.npy", None),
            ("_awe.npy", None),
            ("p_joy.npy", None),
            ("p_awe.png", None),
        ];
        for (name, want) in table {
            assert_eq!(
                parse_map_name(name),
                want.map(|(p, e)| (p.to_string(), e)),
                "{name}"
            );
        }
    }

    #[test]
    fn collects_the_three_layouts_and_refuses_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        // A flat folder with explanations.csv.
        std::fs::write(root.join("a_awe.npy"), b"x").unwrap();
        std::fs::write(
            root.join(EXPLANATIONS_CSV),
            "painting,emotion,explanation\na,awe, the sky \n",
        )
        .unwrap();
        // An analysis folder per painting.
        let b = root.join("b");
        std::fs::create_dir_all(b.join("npy")).unwrap();
        std::fs::write(b.join("npy/b_fear.npy"), b"x").unwrap();
        std::fs::write(
            b.join(EXPLANATIONS_JSON),
            r#"{"image": "b", "emotions": [{"emotion": "fear", "explanation": "dark"}]}"#,
        )
        .unwrap();
        // Unrelated folders are ignored.
        std::fs::create_dir_all(root.join("other")).unwrap();
        let p = collect_predictions(root).unwrap();
        assert_eq!(p.maps.len(), 2);
        assert_eq!(
            p.maps[&("b".to_string(), Emotion::Fear)],
            b.join("npy/b_fear.npy")
        );
        assert_eq!(
            p.explanations[&("a".to_string(), Emotion::Awe)].0,
            "the sky"
        );
        assert_eq!(p.explanations[&("b".to_string(), Emotion::Fear)].0, "dark");
        // The same key twice names both files.
        std::fs::write(b.join("a_awe.npy"), b"x").unwrap();
        let e = collect_predictions(root).unwrap_err().to_string();
        assert!(
            e.contains("a_awe.npy") && e.contains("also given by"),
            "{e}"
        );
        std::fs::remove_file(b.join("a_awe.npy")).unwrap();
        // Bad rows name the file and the row or field.
        std::fs::write(
            root.join(EXPLANATIONS_CSV),
            "painting,emotion,explanation\na,joy,x\n",
        )
        .unwrap();
        let e = collect_predictions(root).unwrap_err().to_string();
        assert!(
            e.contains("explanations.csv") && e.contains("row 2, field `emotion`"),
            "{e}"
        );
        std::fs::remove_file(root.join(EXPLANATIONS_CSV)).unwrap();
        std::fs::write(
            b.join(EXPLANATIONS_JSON),
            r#"{"image": "b", "emotions": [{"emotion": "fear"}]}"#,
        )
        .unwrap();
        let e = collect_predictions(root).unwrap_err().to_string();
        assert!(
            e.contains("explanations.json") && e.contains("emotions[0], field `explanation`"),
            "{e}"
        );
    }
}
