//! EA (emotional alignment): does a text-to-emotion classifier read the dominant emotion
//! of the references in the generated explanation?
//!
//! Reference: ArtEmis (Achlioptas et al. 2021, optas/artemis): a text-to-emotion
//! classifier reads each generated explanation; EA is the share of images whose
//! predicted emotion equals the dominant emotion of the image's references. ArtEmis
//! counts an emotion as dominant with at least half of the votes and no tie; SEVLM's
//! copy uses strictly more than half. Both variants are computed and each result names
//! its rule ([`Dominance::describe`]) and the classifier ([`TextEmotionClassifier::name`]).
//!
//! Variant: the classifier is pluggable (the trained ArtEmis classifier is built
//! elsewhere); images without a dominant emotion under the rule are not counted.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::annotations::artemis::{Dominance, Histogram};
use crate::emotion::Emotion;
use crate::error::{Error, Result};

/// A text-to-emotion classifier (ArtEmis' is an LSTM over GloVe vectors).
pub trait TextEmotionClassifier {
    /// The most likely emotion of each text, in order.
    fn predict(&self, texts: &[String]) -> Result<Vec<Emotion>>;
    /// A name for reports.
    fn name(&self) -> &str;
}

/// EA under one dominance rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmotionAlignment {
    /// The dominance rule.
    pub dominance: Dominance,
    /// A report label naming the rule and the classifier.
    pub label: String,
    /// Images whose predicted emotion equals the dominant one.
    pub aligned: usize,
    /// Images with a dominant emotion under the rule.
    pub counted: usize,
    /// `aligned / counted` (0..1); 0 when nothing is counted.
    pub value: f64,
}

/// EA of `(painting, explanation)` pairs in both variants (ArtEmis first, then SEVLM);
/// the classifier runs once. A painting without a histogram is an error.
pub fn emotion_alignment(
    explanations: &[(String, String)],
    histograms: &BTreeMap<String, Histogram>,
    classifier: &dyn TextEmotionClassifier,
) -> Result<[EmotionAlignment; 2]> {
    let hists = explanations
        .iter()
        .map(|(p, _)| {
            histograms.get(p).ok_or_else(|| {
                Error::Invalid(format!("painting `{p}` has no reference annotation"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let texts: Vec<String> = explanations.iter().map(|(_, t)| t.clone()).collect();
    let predicted = classifier.predict(&texts)?;
    if predicted.len() != texts.len() {
        return Err(Error::Invalid(format!(
            "classifier `{}` returned {} labels for {} texts",
            classifier.name(),
            predicted.len(),
            texts.len()
        )));
    }
    let one = |rule: Dominance| {
        let (mut aligned, mut counted) = (0, 0);
        for (h, p) in hists.iter().zip(&predicted) {
            if let Some(d) = h.dominant(rule) {
                counted += 1;
                aligned += (d == *p) as usize;
            }
        }
        EmotionAlignment {
            dominance: rule,
            label: format!(
                "EA (dominant: {}; classifier: {})",
                rule.describe(),
                classifier.name()
            ),
            aligned,
            counted,
            value: if counted > 0 {
                aligned as f64 / counted as f64
            } else {
                0.0
            },
        }
    };
    Ok([one(Dominance::AtLeastHalf), one(Dominance::MoreThanHalf)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic keyword classifier: the first emotion word found, else
    /// "something else".
    struct Keywords;

    impl TextEmotionClassifier for Keywords {
        fn predict(&self, texts: &[String]) -> Result<Vec<Emotion>> {
            let words = [
                ("funny", Emotion::Amusement),
                ("vast", Emotion::Awe),
                ("calm", Emotion::Contentment),
                ("scary", Emotion::Fear),
                ("sad", Emotion::Sadness),
            ];
            Ok(texts
                .iter()
                .map(|t| {
                    words
                        .iter()
                        .find(|(w, _)| t.contains(w))
                        .map(|(_, e)| *e)
                        .unwrap_or(Emotion::SomethingElse)
                })
                .collect())
        }

        fn name(&self) -> &str {
            "keywords (test)"
        }
    }

    fn hist(votes: &[Emotion]) -> Histogram {
        let mut h = Histogram::default();
        votes.iter().for_each(|e| h.add(*e));
        h
    }

    #[test]
    fn both_variants_table() {
        use Emotion::*;
        let mut hs = BTreeMap::new();
        // Exactly half, no tie: dominant for ArtEmis only.
        hs.insert("half".to_string(), hist(&[Fear, Fear, Awe, Sadness]));
        // Clear majority: dominant for both.
        hs.insert("clear".to_string(), hist(&[Sadness, Sadness, Awe]));
        // Tie: dominant for neither.
        hs.insert("tie".to_string(), hist(&[Awe, Awe, Fear, Fear]));
        // Majority, but the classifier disagrees.
        hs.insert("wrong".to_string(), hist(&[Contentment, Contentment, Awe]));
        let ex: Vec<(String, String)> = [
            ("half", "a scary night"),
            ("clear", "so sad"),
            ("tie", "vast sky"),
            ("wrong", "funny hat"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let [artemis, sevlm] = emotion_alignment(&ex, &hs, &Keywords).unwrap();
        assert_eq!((artemis.aligned, artemis.counted), (2, 3));
        assert_eq!((sevlm.aligned, sevlm.counted), (1, 2));
        assert!((artemis.value - 2.0 / 3.0).abs() < 1e-12);
        assert!((sevlm.value - 0.5).abs() < 1e-12);
        assert!(artemis.label.contains("ArtEmis") && artemis.label.contains("keywords"));
        assert!(sevlm.label.contains("SEVLM"));
        assert_eq!(sevlm.dominance, Dominance::MoreThanHalf);
        let e = emotion_alignment(&[("x".into(), "y".into())], &hs, &Keywords).unwrap_err();
        assert!(e.to_string().contains("`x`"));
    }
}
