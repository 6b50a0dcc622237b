//! ACC: SEVLM's emotion accuracy of generated `<emotion> because <explanation>` texts.
//!
//! Reference: SEVLM's evaluation (BetterZH/SEVLM-code, as summarised in the project's
//! reference notes): only images whose annotator emotion histogram has a maximum share
//! strictly above 0.5 are counted; the predicted emotion is the text before the first
//! "because", stripped (here also lower-cased); it is correct when it equals the
//! dominant emotion's ArtEmis name exactly; ACC = correct / counted images.
//!
//! Variant: dominance [`Dominance::MoreThanHalf`] (SEVLM's rule; ArtEmis' own rule,
//! ">= half and no tie", is what EA reports as well). Histograms come from
//! [`crate::annotations::artemis::Histogram`], one per painting id.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::annotations::artemis::{Dominance, Histogram};
use crate::error::{Error, Result};

/// The report label of this metric.
pub const ACC_LABEL: &str =
    "ACC (SEVLM: text before \"because\" == dominant emotion, images with a > 0.5 majority)";

/// The emotion part of a prediction: the text before the first "because", stripped and
/// lower-cased (the whole text when there is no "because").
pub fn predicted_emotion_text(prediction: &str) -> String {
    let head = match prediction.find("because") {
        Some(i) => &prediction[..i],
        None => prediction,
    };
    head.trim().to_lowercase()
}

/// The explanation part of a prediction: the text after the first "because", stripped
/// (the whole text when there is no "because"). SEVLM scores only this part.
pub fn explanation_text(prediction: &str) -> String {
    match prediction.find("because") {
        Some(i) => prediction[i + "because".len()..].trim().to_string(),
        None => prediction.trim().to_string(),
    }
}

/// The result of [`sevlm_accuracy`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    /// Images whose predicted emotion equals the dominant one.
    pub correct: usize,
    /// Images counted (a prediction and a dominant emotion under the > 0.5 rule).
    pub counted: usize,
    /// Predictions skipped because their painting has no such dominant emotion.
    pub skipped_no_dominant: usize,
    /// `correct / counted` (0..1); 0 when nothing is counted.
    pub accuracy: f64,
}

/// SEVLM ACC of `(painting, prediction)` pairs against per-painting histograms. A
/// painting without a histogram is an error (it names the painting).
pub fn sevlm_accuracy(
    predictions: &[(String, String)],
    histograms: &BTreeMap<String, Histogram>,
) -> Result<Accuracy> {
    let (mut correct, mut counted, mut skipped) = (0, 0, 0);
    for (painting, pred) in predictions {
        let h = histograms.get(painting).ok_or_else(|| {
            Error::Invalid(format!("painting `{painting}` has no reference annotation"))
        })?;
        match h.dominant(Dominance::MoreThanHalf) {
            None => skipped += 1,
            Some(e) => {
                counted += 1;
                if predicted_emotion_text(pred) == e.name() {
                    correct += 1;
                }
            }
        }
    }
    Ok(Accuracy {
        correct,
        counted,
        skipped_no_dominant: skipped,
        accuracy: if counted > 0 {
            correct as f64 / counted as f64
        } else {
            0.0
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::Emotion;

    fn hist(votes: &[Emotion]) -> Histogram {
        let mut h = Histogram::default();
        votes.iter().for_each(|e| h.add(*e));
        h
    }

    #[test]
    fn prediction_parts() {
        let cases = [
            ("Awe because the sky is vast", "awe", "the sky is vast"),
            (
                "  something else   because  it is odd ",
                "something else",
                "it is odd",
            ),
            ("fear", "fear", "fear"),
            ("sadness because because", "sadness", "because"),
        ];
        for (p, emo, expl) in cases {
            assert_eq!(predicted_emotion_text(p), emo, "{p}");
            assert_eq!(explanation_text(p), expl, "{p}");
        }
    }

    #[test]
    fn accuracy_counts_only_clear_majorities() {
        use Emotion::*;
        let mut hs = BTreeMap::new();
        hs.insert("p1".to_string(), hist(&[Awe, Awe, Fear])); // 2/3 > 0.5
        hs.insert("p2".to_string(), hist(&[Awe, Awe, Fear, Fear])); // 0.5: skipped
        hs.insert(
            "p3".to_string(),
            hist(&[SomethingElse, SomethingElse, Fear]),
        );
        hs.insert("p4".to_string(), hist(&[Sadness]));
        let preds: Vec<(String, String)> = [
            ("p1", "awe because the sky"),
            ("p2", "awe because"),
            ("p3", "Something Else because odd"),
            ("p4", "fear because dark"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let acc = sevlm_accuracy(&preds, &hs).unwrap();
        assert_eq!(
            (acc.correct, acc.counted, acc.skipped_no_dominant),
            (2, 3, 1)
        );
        assert!((acc.accuracy - 2.0 / 3.0).abs() < 1e-12);
        let e = sevlm_accuracy(&[("nope".into(), "awe".into())], &hs).unwrap_err();
        assert!(e.to_string().contains("nope"));
    }
}
