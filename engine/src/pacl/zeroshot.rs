//! Zero-shot emotion classification and free-text search with a PACL model (Section
//! 4.5.2): class prompts and queries go through the frozen text tower and `q_t`; images
//! are compared by cosine in the joint space.
//!
//! Class prompts ([`PromptSet`]):
//! - `paper` (the default): the paper's single prompt "The photo makes me feel so \[C\]!"
//!   (Table 3, `seeds/002_970a2bdad4364690.txt` lines 593-604), "\[C\] denotes the
//!   names of emotion categories"; the released code fills its prompt with the dataset's
//!   category names as they are (`PACL/main_PACL.py` lines 109-113 replace `[label]` by
//!   the `label_map` keys, FI's being `amusement`, `awe`, ... at `config_PACL.py` line
//!   150), so `[C]` is the emotion's name ("The photo makes me feel so sadness!").
//! - `ensemble` (Artemo's option): each class embedding is the renormalised mean over
//!   [`TEMPLATES`] (CLIP's prompt ensembling), with the matching adjective where the
//!   sentence needs one ("so sad") and the noun in "A photo with \[C\] emotion.".
//!
//! Calibration ([`Calibration`], Artemo's option, on by default): a prompt that sits
//! closer to every image than the others wins for most of them (the demo kit's tower said
//! anger for 91 of 267 paintings). `centered` subtracts from each class's cosines their
//! mean over the classified paintings (the collection), `zscore` also divides by their
//! standard deviation, so each painting gets the emotion it is closer to than the
//! collection's average painting is. `none` is the paper's raw cosine.

use serde::{Deserialize, Serialize};

use super::{cosine, PaclModel};
use crate::emotion::Emotion;
use crate::error::Result;
use crate::models::bert::SentenceEncoder;

/// The paper's zero-shot prompt (Table 3); `{noun}` is the category name.
pub const PAPER_TEMPLATE: &str = "The photo makes me feel so {noun}!";

/// Which class prompts zero-shot classification uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptSet {
    /// The paper's single prompt, [`PAPER_TEMPLATE`].
    #[default]
    Paper,
    /// The mean over the four [`TEMPLATES`].
    Ensemble,
}

impl PromptSet {
    /// Both.
    pub const ALL: [PromptSet; 2] = [PromptSet::Paper, PromptSet::Ensemble];

    /// Its name ("paper", "ensemble").
    pub fn name(self) -> &'static str {
        match self {
            PromptSet::Paper => "paper",
            PromptSet::Ensemble => "ensemble",
        }
    }

    /// What it is, for users.
    pub fn describe(self) -> &'static str {
        match self {
            PromptSet::Paper => "the paper's prompt \"The photo makes me feel so [C]!\"",
            PromptSet::Ensemble => "the mean of four prompt templates",
        }
    }

    /// The prompts of one emotion.
    pub fn prompts(self, e: Emotion) -> Vec<String> {
        match self {
            PromptSet::Paper => vec![PAPER_TEMPLATE.replace("{noun}", e.name())],
            PromptSet::Ensemble => prompts(e),
        }
    }
}

/// How the cosines of each class are corrected over the classified images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calibration {
    /// Raw cosines (the paper).
    None,
    /// Each class's cosine minus its mean over the images (the default).
    #[default]
    Centered,
    /// Each class's cosine as a z-score over the images; probabilities are the softmax of
    /// the z-scores (temperature 1).
    Zscore,
}

impl Calibration {
    /// All three.
    pub const ALL: [Calibration; 3] = [
        Calibration::None,
        Calibration::Centered,
        Calibration::Zscore,
    ];

    /// Its name ("none", "centered", "zscore").
    pub fn name(self) -> &'static str {
        match self {
            Calibration::None => "none",
            Calibration::Centered => "centered",
            Calibration::Zscore => "zscore",
        }
    }

    /// What it is, for users.
    pub fn describe(self) -> &'static str {
        match self {
            Calibration::None => "raw cosines (the paper)",
            Calibration::Centered => {
                "each emotion's mean similarity over the collection subtracted"
            }
            Calibration::Zscore => "each emotion's similarity as a z-score over the collection",
        }
    }
}

/// Calibrated scores `[image][class]` of raw cosines (see [`Calibration`]). With fewer
/// than two images there is nothing to calibrate against: the cosines are returned.
pub fn calibrate(cosines: &[Vec<f32>], calibration: Calibration) -> Vec<Vec<f32>> {
    let n = cosines.len();
    if calibration == Calibration::None || n < 2 {
        return cosines.to_vec();
    }
    let k = cosines.iter().map(Vec::len).min().unwrap_or(0);
    let mut mean = vec![0f64; k];
    for row in cosines {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64 / n as f64;
        }
    }
    let mut sd = vec![1f64; k];
    if calibration == Calibration::Zscore {
        for (c, s) in sd.iter_mut().enumerate() {
            let var = cosines
                .iter()
                .map(|r| (r[c] as f64 - mean[c]).powi(2))
                .sum::<f64>()
                / n as f64;
            *s = var.sqrt().max(1e-6);
        }
    }
    cosines
        .iter()
        .map(|r| {
            (0..k)
                .map(|c| ((r[c] as f64 - mean[c]) / sd[c]) as f32)
                .collect()
        })
        .collect()
}

/// Prompt templates of the ensemble: `{adj}` is replaced by the adjective, `{noun}` by
/// the label.
pub const TEMPLATES: [&str; 4] = [
    "The photo makes me feel so {adj}!",
    "A photo with {noun} emotion.",
    "This painting makes me feel {adj}.",
    "A painting that evokes {noun}.",
];

/// The adjective used in "feel so \[C\]" for an emotion.
pub fn adjective(e: Emotion) -> &'static str {
    match e {
        Emotion::Amusement => "amused",
        Emotion::Awe => "awed",
        Emotion::Contentment => "content",
        Emotion::Excitement => "excited",
        Emotion::Anger => "angry",
        Emotion::Disgust => "disgusted",
        Emotion::Fear => "afraid",
        Emotion::Sadness => "sad",
        Emotion::SomethingElse => "something else",
    }
}

/// The ensemble's prompts of one emotion.
pub fn prompts(e: Emotion) -> Vec<String> {
    TEMPLATES
        .iter()
        .map(|t| t.replace("{adj}", adjective(e)).replace("{noun}", e.name()))
        .collect()
}

/// Unit-norm joint-space embeddings of free texts (frozen encoder, then `q_t`).
pub fn embed_texts(
    model: &PaclModel,
    encoder: &SentenceEncoder,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>> {
    let enc = encoder.encode(texts, 32)?.to_device(model.device())?;
    Ok(model.text_features(&enc)?.to_vec2::<f32>()?)
}

/// Class embeddings of `emotions` (the mean of the set's prompt embeddings,
/// renormalised; one prompt: its embedding).
pub fn class_embeddings(
    model: &PaclModel,
    encoder: &SentenceEncoder,
    emotions: &[Emotion],
    set: PromptSet,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(emotions.len());
    for &e in emotions {
        let ps = set.prompts(e);
        let refs: Vec<&str> = ps.iter().map(String::as_str).collect();
        let z = embed_texts(model, encoder, &refs)?;
        let dim = z.first().map(Vec::len).unwrap_or(0);
        let mut mean = vec![0f32; dim];
        for r in &z {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        let n = mean.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        out.push(mean.into_iter().map(|x| x / n).collect());
    }
    Ok(out)
}

/// One image's zero-shot result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShot {
    /// The predicted emotion (highest calibrated score).
    pub emotion: Emotion,
    /// Cosine with each class, in the classes' order (raw, before calibration).
    pub cosines: Vec<f32>,
    /// Softmax of the calibrated score / temperature.
    pub probabilities: Vec<f32>,
}

/// Classifies image embeddings against class embeddings (raw cosines, the paper).
pub fn classify(
    images: &[Vec<f32>],
    classes: &[Vec<f32>],
    emotions: &[Emotion],
    temperature: f64,
) -> Vec<ZeroShot> {
    classify_calibrated(images, classes, emotions, temperature, Calibration::None)
}

/// [`classify`] with each class's cosines calibrated over `images` ([`calibrate`]); the
/// z-score's probabilities use temperature 1.
pub fn classify_calibrated(
    images: &[Vec<f32>],
    classes: &[Vec<f32>],
    emotions: &[Emotion],
    temperature: f64,
    calibration: Calibration,
) -> Vec<ZeroShot> {
    let raw: Vec<Vec<f32>> = images
        .iter()
        .map(|img| classes.iter().map(|c| cosine(img, c)).collect())
        .collect();
    let scores = calibrate(&raw, calibration);
    let temperature = if calibration == Calibration::Zscore {
        1.0
    } else {
        temperature
    };
    raw.into_iter()
        .zip(scores)
        .map(|(raw, cos)| {
            let t = temperature.max(1e-6) as f32;
            let m = cos.iter().copied().fold(f32::MIN, f32::max);
            let ex: Vec<f32> = cos.iter().map(|c| ((c - m) / t).exp()).collect();
            let s: f32 = ex.iter().sum();
            let best = cos
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map(|(i, _)| i)
                .unwrap_or(0);
            ZeroShot {
                emotion: emotions
                    .get(best)
                    .copied()
                    .unwrap_or(Emotion::SomethingElse),
                cosines: raw,
                probabilities: ex.into_iter().map(|e| e / s).collect(),
            }
        })
        .collect()
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Index into the searched embeddings.
    pub index: usize,
    /// Cosine with the query.
    pub score: f32,
}

/// The `top` images closest to `query` (an embedding), best first (ties by index).
pub fn rank(query: &[f32], images: &[Vec<f32>], top: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = images
        .iter()
        .enumerate()
        .map(|(index, v)| Hit {
            index,
            score: cosine(query, v),
        })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    hits.truncate(top);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_and_ranking() {
        let p = prompts(Emotion::Sadness);
        assert_eq!(p[0], "The photo makes me feel so sad!");
        assert_eq!(p[1], "A photo with sadness emotion.");
        assert_eq!(PromptSet::Ensemble.prompts(Emotion::Sadness), p);
        // Table 3 (seeds/002_970a2bdad4364690.txt line 603): "The photo makes me feel so
        // [C]!", [C] the category name (config_PACL.py line 150: FI's `amusement`, ...).
        assert_eq!(PromptSet::default(), PromptSet::Paper);
        assert_eq!(
            PromptSet::Paper.prompts(Emotion::Amusement),
            ["The photo makes me feel so amusement!"]
        );
        let imgs = vec![vec![1.0, 0.0], vec![0.6, 0.8], vec![0.0, 1.0]];
        let hits = rank(&[0.0, 1.0], &imgs, 2);
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), [2, 1]);
        assert!((hits[1].score - 0.8).abs() < 1e-6);
        let classes = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let z = classify(&imgs, &classes, &[Emotion::Awe, Emotion::Fear], 0.07);
        assert_eq!(z[0].emotion, Emotion::Awe);
        assert_eq!(z[2].emotion, Emotion::Fear);
        assert_eq!(z[1].emotion, Emotion::Fear);
        let s: f32 = z[1].probabilities.iter().sum();
        assert!((s - 1.0).abs() < 1e-5);
    }

    #[test]
    fn calibration_removes_a_prompt_that_is_close_to_every_image() {
        // Class 0's prompt is 0.3 closer to every image than class 1's, so raw cosines
        // pick it for all four; relative to the collection, images 2 and 3 lean to 1.
        let classes = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let angle = |d: f32| vec![d.to_radians().cos(), d.to_radians().sin()];
        let imgs: Vec<Vec<f32>> = [10.0, 15.0, 30.0, 35.0].iter().map(|&d| angle(d)).collect();
        let e = [Emotion::Anger, Emotion::Awe];
        let raw = classify(&imgs, &classes, &e, 0.07);
        assert!(raw.iter().all(|z| z.emotion == Emotion::Anger));
        for cal in [Calibration::Centered, Calibration::Zscore] {
            let z = classify_calibrated(&imgs, &classes, &e, 0.07, cal);
            let got: Vec<Emotion> = z.iter().map(|z| z.emotion).collect();
            assert_eq!(
                got,
                [Emotion::Anger, Emotion::Anger, Emotion::Awe, Emotion::Awe],
                "{cal:?}"
            );
            // Raw cosines are kept for display; probabilities sum to 1.
            assert_eq!(z[0].cosines, raw[0].cosines);
            assert!((z[3].probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // Centered scores have zero mean per class; one image is left as it is.
        let c = calibrate(&[vec![0.5, 0.2], vec![0.3, 0.4]], Calibration::Centered);
        assert!((c[0][0] - 0.1).abs() < 1e-6 && (c[1][1] - 0.1).abs() < 1e-6);
        assert_eq!(
            calibrate(&[vec![0.5, 0.2]], Calibration::Zscore),
            [vec![0.5, 0.2]]
        );
        assert_eq!(Calibration::default(), Calibration::Centered);
    }
}
