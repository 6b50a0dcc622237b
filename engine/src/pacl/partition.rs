//! PACL stage 1: the dataset partition (Section 3.1, Eq. 1-2) and the stand-in evaluators.
//!
//! A pair `(v_i, t_i)` is factual-matched when its factual score exceeds `sigma_factual`
//! and emotional-matched when its emotional score exceeds `sigma_emotional`:
//!
//! - Factual score (Eq. 1): CLIP image-text cosine when CLIP weights are installed
//!   (`metrics::clipscore::ClipScorer`, whose score is `2.5 * max(cos, 0)`, so the cosine
//!   is the score / 2.5 for every positive cosine, enough to compare with a positive
//!   threshold). Without CLIP the stand-in is the MiniLM cosine between the text and the
//!   painting's factual metadata (title, artist, date, medium and curatorial description
//!   from `paintings.csv`): it measures whether the text talks about what the painting
//!   shows, as CLIP does, but through the museum's words instead of pixels.
//! - Emotional score (Eq. 2): the paper embeds DeepSentiBank's top-3 adjective-noun pairs
//!   of the image with BERTweet. Neither is available here; the stand-in builds the image's
//!   top-3 adjective-noun phrases from its colour/light/texture descriptors
//!   ([`affective_description`], e.g. "dark gloomy light, muted faded colours, soft gentle
//!   contrast") and embeds them and the text with the shipped MiniLM.
//!
//! Thresholds: the paper uses sigma = 0.7 for both CLIP and BERTweet cosines. MiniLM
//! cosines between a sentence and short metadata or phrase lists are much lower (see the
//! percentiles `prepare` reports in `PartitionCounts` and `docs/pacl.md`), so 0.7 would put
//! nearly every pair in the weak partition. The stand-ins therefore use their own
//! thresholds ([`STANDIN_SIGMA_FACTUAL`], [`STANDIN_SIGMA_EMOTIONAL`]), meant to make the
//! partition sizes comparable to the
//! paper's TumEmo partition (22% strong, 51% partial, 27% weak); CLIP keeps 0.7.

use serde::{Deserialize, Serialize};

/// The paper's threshold (CLIP and BERTweet cosines).
pub const PAPER_SIGMA: f32 = 0.7;
/// Threshold of the MiniLM metadata stand-in for the factual score.
pub const STANDIN_SIGMA_FACTUAL: f32 = 0.3;
/// Threshold of the MiniLM adjective-noun stand-in for the emotional score.
pub const STANDIN_SIGMA_EMOTIONAL: f32 = 0.15;

/// The four partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Partition {
    /// Factual- and emotional-matched (trained with L1).
    Strong,
    /// Emotional-matched, factual-mismatched (L2).
    PartialEmotional,
    /// Factual-matched, emotional-mismatched (L3).
    PartialFactual,
    /// Neither (L4).
    Weak,
}

impl Partition {
    /// All four, in loss order.
    pub const ALL: [Partition; 4] = [
        Partition::Strong,
        Partition::PartialEmotional,
        Partition::PartialFactual,
        Partition::Weak,
    ];

    /// From the two matches.
    pub fn from_matches(factual: bool, emotional: bool) -> Partition {
        match (factual, emotional) {
            (true, true) => Partition::Strong,
            (false, true) => Partition::PartialEmotional,
            (true, false) => Partition::PartialFactual,
            (false, false) => Partition::Weak,
        }
    }

    /// Index in [`Partition::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Partition sizes, as the paper reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionCounts {
    /// Strong-coupled pairs.
    pub strong: usize,
    /// Partial-coupled, emotional-matched but factual-mismatched.
    pub partial_emotional: usize,
    /// Partial-coupled, factual-matched but emotional-mismatched.
    pub partial_factual: usize,
    /// Weak-coupled pairs.
    pub weak: usize,
    /// Factual threshold used.
    pub sigma_factual: f32,
    /// Emotional threshold used.
    pub sigma_emotional: f32,
    /// Which factual evaluator.
    pub factual_evaluator: String,
    /// Which emotional evaluator.
    pub emotional_evaluator: String,
    /// 10th, 25th, 50th, 75th and 90th percentiles of the factual scores.
    pub factual_percentiles: [f32; 5],
    /// The same for the emotional scores.
    pub emotional_percentiles: [f32; 5],
}

impl PartitionCounts {
    /// All pairs.
    pub fn total(&self) -> usize {
        self.strong + self.partial_emotional + self.partial_factual + self.weak
    }

    /// "strong 22.0%, partial 51.0% (emotional 30.0%, factual 21.0%), weak 27.0%".
    pub fn summary(&self) -> String {
        let t = self.total().max(1) as f64 / 100.0;
        format!(
            "strong {} ({:.1}%), partial {} ({:.1}%: emotional-only {}, factual-only {}), weak {} ({:.1}%)",
            self.strong,
            self.strong as f64 / t,
            self.partial_emotional + self.partial_factual,
            (self.partial_emotional + self.partial_factual) as f64 / t,
            self.partial_emotional,
            self.partial_factual,
            self.weak,
            self.weak as f64 / t
        )
    }
}

/// Partitions pairs from their scores (Eq. 1-2: a match is a score strictly above sigma).
pub fn partition(
    factual: &[f32],
    emotional: &[f32],
    sigma_factual: f32,
    sigma_emotional: f32,
) -> Vec<Partition> {
    factual
        .iter()
        .zip(emotional)
        .map(|(&f, &e)| Partition::from_matches(f > sigma_factual, e > sigma_emotional))
        .collect()
}

/// The 10th, 25th, 50th, 75th and 90th percentiles (nearest rank; zeros when empty).
pub fn percentiles(scores: &[f32]) -> [f32; 5] {
    let mut v = scores.to_vec();
    v.sort_by(f32::total_cmp);
    if v.is_empty() {
        return [0.0; 5];
    }
    [0.1, 0.25, 0.5, 0.75, 0.9].map(|q| v[((v.len() - 1) as f32 * q).round() as usize])
}

/// Counts the partitions.
pub fn count(parts: &[Partition]) -> [usize; 4] {
    let mut c = [0; 4];
    for p in parts {
        c[p.index()] += 1;
    }
    c
}

/// The image's top-3 adjective-noun phrases from its global descriptor means (the first
/// `DESC_DIM` values of `Descriptors::global`), strongest first, joined by commas: the
/// stand-in for DeepSentiBank's adjective-noun pairs.
pub fn affective_description(global: &[f32]) -> String {
    affective_phrases(global)
        .into_iter()
        .take(3)
        .map(|(p, _)| p)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every adjective-noun phrase that applies, with its strength (how far the descriptor is
/// past the phrase's threshold), strongest first.
pub fn affective_phrases(global: &[f32]) -> Vec<(&'static str, f32)> {
    let g = |i: usize| global.get(i).copied().unwrap_or(0.0);
    let (l, s, warm, contrast) = (g(0), g(2), g(15), g(16));
    let (dark, bright, edges) = (g(17), g(18), g(19));
    let hues = [g(6), g(7), g(8), g(9), g(10), g(11)];
    let mut out: Vec<(&'static str, f32)> = Vec::new();
    let mut add = |phrase: &'static str, strength: f32| {
        if strength > 0.0 {
            out.push((phrase, strength));
        }
    };
    add("dark gloomy light", (0.35 - l) / 0.35);
    add("bright luminous light", (l - 0.6) / 0.4);
    add("deep heavy shadows", (dark - 0.4) / 0.6);
    add("radiant sunny highlights", (bright - 0.2) / 0.8);
    add("muted faded colours", (0.2 - s) / 0.2);
    add("vivid saturated colours", (s - 0.45) / 0.55);
    add("warm golden tones", (warm - 0.08) / 0.3);
    add("cold bluish tones", (-0.02 - warm) / 0.3);
    add("dramatic strong contrast", (contrast - 0.45) / 0.55);
    add("soft gentle contrast", (0.2 - contrast) / 0.2);
    add("busy restless brushwork", (edges - 0.3) / 0.7);
    add("calm smooth surfaces", (0.08 - edges) / 0.08);
    const HUES: [&str; 6] = [
        "fiery red hues",
        "sunny yellow hues",
        "lush green nature",
        "misty turquoise tones",
        "serene blue hues",
        "romantic pink hues",
    ];
    let total: f32 = hues.iter().sum();
    if total > 1e-6 {
        for (h, name) in hues.iter().zip(HUES) {
            add(
                name,
                (h / total - 0.4) / 0.6 + 0.05 * (total > 0.15) as u8 as f32,
            );
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    if out.is_empty() {
        out.push(("balanced moderate colours", 0.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::patch_tower::DESC_DIM;

    #[test]
    fn partition_counts_on_synthetic_similarities() {
        // 10 pairs: factual and emotional scores around sigma = 0.7.
        let f = [0.9, 0.8, 0.71, 0.7, 0.2, 0.95, 0.1, 0.5, 0.75, 0.69];
        let e = [0.8, 0.1, 0.9, 0.9, 0.75, 0.3, 0.2, 0.71, 0.72, 0.7];
        let p = partition(&f, &e, PAPER_SIGMA, PAPER_SIGMA);
        // strong: 0, 2, 8; factual-only: 1, 5; emotional-only: 3 (0.7 is not > 0.7), 4, 7;
        // weak: 6, 9 (0.69, 0.7).
        assert_eq!(count(&p), [3, 3, 2, 2]);
        assert_eq!(p[3], Partition::PartialEmotional);
        assert_eq!(p[1], Partition::PartialFactual);
        assert_eq!(p[9], Partition::Weak);
        let c = PartitionCounts {
            strong: 3,
            partial_emotional: 3,
            partial_factual: 2,
            weak: 2,
            ..Default::default()
        };
        assert_eq!(c.total(), 10);
        let q = percentiles(&f);
        // Sorted: 0.1 0.2 0.5 0.69 0.7 0.71 0.75 0.8 0.9 0.95; ranks 1, 2, 5 (4.5 rounds up), 7, 8.
        assert_eq!(q, [0.2, 0.5, 0.71, 0.8, 0.9]);
        assert!(c
            .summary()
            .starts_with("strong 3 (30.0%), partial 5 (50.0%"));
    }

    #[test]
    fn affective_phrases_follow_descriptors() {
        let mut dark = vec![0f32; 2 * DESC_DIM];
        dark[0] = 0.1; // lightness
        dark[2] = 0.05; // saturation
        dark[16] = 0.1; // contrast
        dark[17] = 0.9; // dark share
        dark[19] = 0.1; // edge density (not smooth enough for "calm smooth surfaces")
        let d = affective_description(&dark);
        assert!(d.contains("dark gloomy light"), "{d}");
        assert!(d.contains("muted faded colours"), "{d}");
        assert_eq!(d.split(", ").count(), 3);
        let mut bright = vec![0f32; 2 * DESC_DIM];
        bright[0] = 0.8;
        bright[2] = 0.8;
        bright[6] = 0.5; // red hue mass
        bright[15] = 0.4; // warmth
        bright[16] = 0.3;
        bright[19] = 0.1;
        let d = affective_description(&bright);
        assert!(
            d.contains("fiery red hues") && d.contains("warm golden tones"),
            "{d}"
        );
        assert!(!d.contains("dark"));
    }
}
