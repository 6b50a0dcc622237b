//! The demo kit's PACL zero-shot evaluation, for issue 21's targets "zero-shot accuracy at
//! least the majority's" and "largest emotion share at most 40 % unless the labels say
//! so": the kit's PACL model classifies every painting of the collection as the Map tab
//! does by default (the paper's prompt, each emotion's cosine centred over the collection,
//! [`crate::pacl::zeroshot`]); the predictions go to `eval/pacl/zero_shot.csv` and the
//! scores to `summary.json`'s `pacl_eval`, and [`score`] recomputes them from the file
//! (`tests/demo_kit.rs` does). Accuracy is over the test paintings with a dominant emotion
//! ([`crate::pacl::probe::dominant_labels`], as the linear probe's), the majority baseline
//! is the train split's most frequent dominant emotion, and the largest share is over the
//! whole collection (the calibration sees no label).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::annotations::artemis::Split;
use crate::annotations::dataset::AnnotationSet;
use crate::error::{write_atomic, Error, Result};
use crate::pacl::zeroshot::{Calibration, PromptSet};
use crate::pacl::PaclModel;
use crate::Emotion;

/// The predictions' file name, under `eval/pacl/`.
pub const PREDICTIONS_FILE: &str = "zero_shot.csv";

/// The largest share of the collection one emotion may take (issue 21), unless more of
/// the labelled paintings have it as their dominant emotion.
pub const LARGEST_SHARE_BOUND: f64 = 0.40;

/// Zero-shot scores of a PACL model over the shipped collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotEval {
    /// Class prompts ("paper" or "ensemble").
    pub prompts: String,
    /// Calibration ("none", "centered", "zscore").
    pub calibration: String,
    /// Paintings classified (the collection).
    pub paintings: usize,
    /// Test paintings with a dominant emotion, on which the accuracy is measured.
    pub test_paintings: usize,
    /// Share of those whose prediction is their dominant emotion.
    pub accuracy: f64,
    /// The same for the train split's most frequent dominant emotion.
    pub majority: f64,
    /// The emotion predicted most often over the collection.
    pub largest: String,
    /// Its share of the collection.
    pub largest_share: f64,
    /// Its share among the labelled paintings' dominant emotions.
    pub labels_share: f64,
    /// Each predicted emotion's share of the collection.
    pub shares: BTreeMap<String, f64>,
}

impl ZeroShotEval {
    /// The bound on [`ZeroShotEval::largest_share`]: 40 %, or the labels' share of that
    /// emotion where it is higher ("unless the labels say so").
    pub fn largest_share_bound(&self) -> f64 {
        LARGEST_SHARE_BOUND.max(self.labels_share)
    }
}

/// Scores zero-shot `predictions` (painting id, emotion) against `set`'s labels.
pub fn score(
    predictions: &[(String, Emotion)],
    set: &AnnotationSet,
    prompts: PromptSet,
    calibration: Calibration,
) -> Result<ZeroShotEval> {
    if predictions.is_empty() {
        return Err(Error::Invalid("PACL zero-shot: no predictions".into()));
    }
    let labels = crate::pacl::probe::dominant_labels(set);
    let mut train = [0usize; 9];
    for (p, &y) in &labels {
        if set.splits.get(p) == Some(&Split::Train) {
            train[y] += 1;
        }
    }
    let majority = (0..9).max_by_key(|&i| (train[i], 9 - i)).unwrap_or(0);
    let (mut n, mut hits, mut majority_hits) = (0usize, 0usize, 0usize);
    let mut counts = [0usize; 9];
    let (mut labelled, mut labelled_as) = (0usize, [0usize; 9]);
    for (p, e) in predictions {
        counts[e.index()] += 1;
        let Some(&y) = labels.get(p) else { continue };
        labelled += 1;
        labelled_as[y] += 1;
        if set.splits.get(p) == Some(&Split::Test) {
            n += 1;
            hits += usize::from(e.index() == y);
            majority_hits += usize::from(majority == y);
        }
    }
    if n == 0 {
        return Err(Error::Invalid(
            "PACL zero-shot: no test painting with a dominant emotion among the predictions".into(),
        ));
    }
    let largest = (0..9).max_by_key(|&i| (counts[i], 9 - i)).unwrap_or(0);
    let total = predictions.len() as f64;
    let name = |i: usize| Emotion::ALL[i].name().to_string();
    Ok(ZeroShotEval {
        prompts: prompts.name().into(),
        calibration: calibration.name().into(),
        paintings: predictions.len(),
        test_paintings: n,
        accuracy: hits as f64 / n as f64,
        majority: majority_hits as f64 / n as f64,
        largest: name(largest),
        largest_share: counts[largest] as f64 / total,
        labels_share: labelled_as[largest] as f64 / labelled.max(1) as f64,
        shares: (0..9)
            .filter(|&i| counts[i] > 0)
            .map(|i| (name(i), counts[i] as f64 / total))
            .collect(),
    })
}

/// Classifies the collection's paintings (`ids`, descriptors `descs`, texts `texts`) with
/// `model` as the Map tab does: its pixels-only embeddings `pixels`, or, for a model with
/// a text branch, the embeddings that also read each painting's text. Writes
/// `dir/zero_shot.csv` and returns the scores.
#[allow(clippy::too_many_arguments)] // the collection's parallel columns, then where to write
pub fn evaluate(
    model: &PaclModel,
    models: &Path,
    ids: &[String],
    descs: &[crate::models::patch_tower::Descriptors],
    texts: &[crate::models::text_memory::PaintingText],
    pixels: &[Vec<f32>],
    set: &AnnotationSet,
    dir: &Path,
) -> Result<ZeroShotEval> {
    let (prompts, calibration) = (PromptSet::default(), Calibration::default());
    let encoder = crate::pacl::embed::text_encoder(model, models)?;
    // As the Map tab embeds and classifies (`pacl::embed::zero_shot`).
    let vectors = match model.text_branch() {
        Some(b) => {
            let tokens = crate::pacl::text_branch::text_tokens(&encoder, texts, b.config())?;
            model.embed_text(descs, Some(&tokens), 32, &crate::progress::Silent)?
        }
        None => pixels.to_vec(),
    };
    let embeddings = crate::pacl::embed::Embeddings {
        ids: ids.to_vec(),
        vectors,
        read: String::new(),
    };
    let zs = crate::pacl::embed::zero_shot(model, &encoder, &embeddings, prompts, calibration)?;
    let predictions: Vec<(String, Emotion)> = zs
        .ids
        .into_iter()
        .zip(&zs.predictions)
        .map(|(id, z)| (id, z.emotion))
        .collect();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_predictions(&dir.join(PREDICTIONS_FILE), &predictions)?;
    score(&predictions, set, prompts, calibration)
}

/// The zero-shot scores measured for the PACL model in `pacl_dir` when it belongs to a
/// demo kit (`<kit>/pacl` beside `<kit>/eval/summary.json` with a `pacl_eval`), for the
/// Map tab to state. `None` for other models; a kit's unreadable summary is logged and
/// gives `None` (the note is informative, the map works without it).
pub fn measured(pacl_dir: &Path) -> Option<ZeroShotEval> {
    let summary = pacl_dir.parent()?.join("eval/summary.json");
    let text = std::fs::read_to_string(&summary).ok()?;
    let parsed = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| e.to_string())
        .and_then(|v| match v.get("pacl_eval") {
            Some(z) => serde_json::from_value::<ZeroShotEval>(z.clone())
                .map(Some)
                .map_err(|e| format!("pacl_eval: {e}")),
            None => Ok(None),
        });
    match parsed {
        Ok(z) => z,
        Err(e) => {
            tracing::warn!("{}: {e}", summary.display());
            None
        }
    }
}

/// Writes `painting,emotion` rows.
pub fn write_predictions(path: &Path, predictions: &[(String, Emotion)]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["painting", "emotion"])
        .map_err(|e| Error::Invalid(e.to_string()))?;
    for (p, e) in predictions {
        w.write_record([p.as_str(), e.name()])
            .map_err(|e| Error::Invalid(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads what [`write_predictions`] wrote; a row without a known emotion, without a
/// painting or repeating one is an error naming the file and the row.
pub fn read_predictions(path: &Path) -> Result<Vec<(String, Emotion)>> {
    let bad =
        |row: usize, what: String| Error::Invalid(format!("{}: row {row}: {what}", path.display()));
    let mut r = csv::Reader::from_path(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    let mut first_row: std::collections::HashMap<String, usize> = Default::default();
    for (k, rec) in r.records().enumerate() {
        let row = k + 2;
        let rec = rec.map_err(|e| bad(row, e.to_string()))?;
        let (Some(p), Some(e)) = (rec.get(0), rec.get(1)) else {
            return Err(bad(row, "expected painting,emotion".into()));
        };
        let e = Emotion::parse(e).ok_or_else(|| bad(row, format!("unknown emotion {e:?}")))?;
        let p = p.trim();
        if p.is_empty() {
            return Err(bad(row, "empty painting id".into()));
        }
        if let Some(first) = first_row.insert(p.to_string(), row) {
            return Err(bad(
                row,
                format!("painting {p} again (first at row {first})"),
            ));
        }
        out.push((p.to_string(), e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use super::*;
    use crate::annotations::Annotation;

    /// Three train paintings (two contentment, one fear) and three test paintings
    /// (contentment, sadness, contentment), two responses each.
    fn set() -> AnnotationSet {
        let mut rows = Vec::new();
        let mut splits = BTreeMap::new();
        for (p, e, s) in [
            ("a", Emotion::Contentment, Split::Train),
            ("b", Emotion::Contentment, Split::Train),
            ("c", Emotion::Fear, Split::Train),
            ("x", Emotion::Contentment, Split::Test),
            ("y", Emotion::Sadness, Split::Test),
            ("z", Emotion::Contentment, Split::Test),
        ] {
            for _ in 0..2 {
                rows.push(Annotation {
                    art_style: "aic".into(),
                    painting: p.into(),
                    emotion: e,
                    utterance: "an utterance".into(),
                    repetition: None,
                });
            }
            splits.insert(p.to_string(), s);
        }
        AnnotationSet {
            dir: "annotations".into(),
            rows,
            stimuli: Vec::new(),
            splits,
        }
    }

    #[test]
    fn accuracy_majority_and_shares_table() {
        let s = set();
        let p = |v: &[(&str, Emotion)]| -> Vec<(String, Emotion)> {
            v.iter().map(|(a, e)| (a.to_string(), *e)).collect()
        };
        use Emotion::*;
        // (predictions, accuracy, majority, largest, largest share, labels' share)
        let cases = [
            (
                p(&[
                    ("a", Fear),
                    ("b", Fear),
                    ("c", Fear),
                    ("x", Contentment),
                    ("y", Sadness),
                    ("z", Fear),
                ]),
                2.0 / 3.0,
                2.0 / 3.0,
                "fear",
                4.0 / 6.0,
                1.0 / 6.0,
            ),
            (
                // An unlabelled painting counts in the shares only.
                p(&[("x", Anger), ("y", Anger), ("z", Contentment), ("w", Awe)]),
                1.0 / 3.0,
                2.0 / 3.0,
                "anger",
                0.5,
                0.0,
            ),
        ];
        for (preds, acc, maj, largest, share, labels) in cases {
            let z = score(&preds, &s, PromptSet::Paper, Calibration::Centered).unwrap();
            assert!((z.accuracy - acc).abs() < 1e-12, "{z:?}");
            assert!((z.majority - maj).abs() < 1e-12, "{z:?}");
            assert_eq!(z.largest, largest);
            assert!((z.largest_share - share).abs() < 1e-12, "{z:?}");
            assert!((z.labels_share - labels).abs() < 1e-12, "{z:?}");
            assert_eq!(z.test_paintings, 3);
            assert!((z.shares.values().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn the_labels_can_lift_the_share_bound() {
        let s = set();
        let preds: Vec<(String, Emotion)> = ["a", "b", "c", "x", "y", "z"]
            .iter()
            .map(|a| (a.to_string(), Emotion::Contentment))
            .collect();
        let z = score(&preds, &s, PromptSet::Paper, Calibration::Centered).unwrap();
        // Contentment is the dominant emotion of 4 of the 6 labelled paintings.
        assert!((z.labels_share - 4.0 / 6.0).abs() < 1e-12);
        assert!((z.largest_share_bound() - 4.0 / 6.0).abs() < 1e-12);
        assert!(z.largest_share > z.largest_share_bound());
    }

    #[test]
    fn measured_reads_the_kits_summary_beside_the_model() {
        let d = tempfile::tempdir().unwrap();
        let pacl = d.path().join("kit/pacl");
        std::fs::create_dir_all(&pacl).unwrap();
        // No summary, or one without a zero-shot block: nothing to state.
        assert_eq!(measured(&pacl), None);
        std::fs::create_dir_all(d.path().join("kit/eval")).unwrap();
        let summary = d.path().join("kit/eval/summary.json");
        std::fs::write(&summary, r#"{"test_paintings": 54}"#).unwrap();
        assert_eq!(measured(&pacl), None);
        std::fs::write(&summary, "{ not json").unwrap();
        assert_eq!(measured(&pacl), None);
        let preds: Vec<(String, Emotion)> = ["a", "b", "x", "y", "z"]
            .iter()
            .map(|p| (p.to_string(), Emotion::Fear))
            .collect();
        let z = score(&preds, &set(), PromptSet::Paper, Calibration::Centered).unwrap();
        let v = serde_json::json!({ "test_paintings": 54, "pacl_eval": z });
        std::fs::write(&summary, v.to_string()).unwrap();
        assert_eq!(measured(&pacl), Some(z));
    }

    #[test]
    fn predictions_round_trip_and_bad_rows_are_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(PREDICTIONS_FILE);
        let preds = vec![
            ("1".to_string(), Emotion::Awe),
            ("2".to_string(), Emotion::SomethingElse),
        ];
        write_predictions(&f, &preds).unwrap();
        assert_eq!(read_predictions(&f).unwrap(), preds);
        std::fs::write(&f, "painting,emotion\n1,awe\n2,glee\n").unwrap();
        let e = read_predictions(&f).unwrap_err().to_string();
        assert!(
            e.contains("row 3") && e.contains("glee") && e.contains(PREDICTIONS_FILE),
            "{e}"
        );
        std::fs::write(&f, "painting,emotion\n1,awe\n2,fear\n1,fear\n").unwrap();
        let e = read_predictions(&f).unwrap_err().to_string();
        assert!(
            e.contains("row 4") && e.contains("painting 1 again (first at row 2)"),
            "{e}"
        );
        let s = set();
        let none = score(&[], &s, PromptSet::Paper, Calibration::Centered).unwrap_err();
        assert!(none.to_string().contains("no predictions"));
        let untested = score(&preds, &s, PromptSet::Paper, Calibration::Centered).unwrap_err();
        assert!(
            untested.to_string().contains("no test painting"),
            "{untested}"
        );
    }
}
