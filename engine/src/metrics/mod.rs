//! The papers' text and segmentation metrics, in pure Rust, each matching a named
//! reference implementation (see each module's header for the reference and variant).
//!
//! Text metrics follow the COCO caption toolkit (pycocoevalcap 1.2) as SEVLM and ArtEmis
//! use it: captions are PTB-tokenised ([`ptb`], clean-room, `docs/ptb-tokenizer.md`), then scored with BLEU-1..4
//! ([`bleu`]), METEOR ([`meteor`], exact + stem modules), ROUGE-L ([`rouge`]) and CIDEr-D
//! ([`cider`]); diversity ([`diversity`]) counts distinct explanations, lengths and
//! vocabulary. Emotion metrics: SEVLM's ACC ([`accuracy`]) and ArtEmis' EA
//! ([`mod@emotion_alignment`], both dominance rules). APOLO's stimulus scores live in
//! [`segmentation`]. [`Report`] gathers whatever was computed, each value with the label
//! of its variant; CLIPScore is reported as not available until a CLIP model is given.
//!
//! Golden values: `tools/golden/text_metrics.py` runs pycocoevalcap on
//! `tests/fixtures/golden/text_cases.json` and writes `text_expected.json`; the tests
//! below require agreement within 1e-9 for BLEU, METEOR (exact+stem), ROUGE-L and CIDEr-D (tokenisation: exact).

pub mod accuracy;
pub mod bleu;
pub mod cider;
pub mod clipscore;
pub mod diversity;
pub mod emotion_alignment;
pub mod explanations;
pub mod meteor;
pub mod predictions;
pub mod ptb;
pub mod rouge;
pub mod segmentation;
pub mod tasks;

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};

pub use accuracy::{sevlm_accuracy, Accuracy};
pub use bleu::BleuScores;
pub use cider::CiderScores;
pub use diversity::Diversity;
pub use emotion_alignment::{emotion_alignment, EmotionAlignment, TextEmotionClassifier};
pub use meteor::MeteorScores;
pub use predictions::read_predictions;
pub use rouge::RougeScores;
pub use segmentation::{ScoreMap, SegmentationReport};

/// What the report says about CLIPScore until a CLIP model is passed in.
pub const CLIP_SCORE_MISSING: &str = "not available: CLIP ViT-B/32 weights missing";

/// How captions are tokenised before scoring, for reports.
pub const TOKENIZATION_LABEL: &str = "PTB tokenisation as pycocoevalcap 1.2 (CoreNLP 3.4.1 PTBTokenizer -lowerCase -preserveLines port, punctuation removed)";

/// One computed value and the variant it follows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricValue {
    /// Short name, e.g. `BLEU-4`.
    pub metric: String,
    /// Which variant (reference implementation, rule, options).
    pub variant: String,
    /// The value (scale as the metric's papers report it, see `unit`).
    pub value: f64,
    /// The value's unit or scale, e.g. `0-1`, `%`, `tokens`.
    pub unit: String,
    /// How many items the value is over, where that is meaningful.
    pub count: Option<usize>,
}

impl MetricValue {
    /// A value with its labels.
    pub fn new(metric: &str, variant: &str, value: f64, unit: &str, count: Option<usize>) -> Self {
        MetricValue {
            metric: metric.into(),
            variant: variant.into(),
            value,
            unit: unit.into(),
            count,
        }
    }
}

/// A value that may be missing, with the reason (never a placeholder number).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Availability {
    /// Computed.
    Computed(MetricValue),
    /// Not computed, and why.
    NotAvailable(String),
}

/// Everything an evaluation computed, each value with its variant label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Items (images) evaluated.
    pub items: usize,
    /// How captions were tokenised.
    pub tokenization: String,
    /// Every computed value, in table order.
    pub metrics: Vec<MetricValue>,
    /// CLIPScore, or why it is missing.
    pub clip_score: Availability,
    /// Diversity details, when text was evaluated.
    pub diversity: Option<Diversity>,
    /// ACC details, when computed.
    pub accuracy: Option<Accuracy>,
    /// EA in both dominance variants, when a classifier was given.
    pub emotion_alignment: Vec<EmotionAlignment>,
    /// APOLO segmentation scores, when computed.
    pub segmentation: Option<SegmentationReport>,
    /// Remarks (e.g. an optional metric that could not run).
    pub notes: Vec<String>,
    /// Texts cut to [`MAX_WORDS`] words before scoring (all zero when none was).
    pub truncated: Truncated,
}

impl Report {
    /// An empty report over `items` items.
    pub fn new(items: usize) -> Self {
        Report {
            items,
            tokenization: TOKENIZATION_LABEL.into(),
            metrics: Vec::new(),
            clip_score: Availability::NotAvailable(CLIP_SCORE_MISSING.into()),
            diversity: None,
            accuracy: None,
            emotion_alignment: Vec::new(),
            segmentation: None,
            notes: Vec::new(),
            truncated: Truncated::default(),
        }
    }

    /// Sets CLIPScore (mean over pairs) computed with a CLIP model.
    pub fn set_clip_score(&mut self, scores: &[f64], model: &str) {
        let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
        let v = MetricValue::new(
            "CLIPScore",
            &format!(
                "2.5 * max(cos, 0), \"A photo depicts \" prefix (jmhessel/clipscore); {model}"
            ),
            mean,
            "0-2.5",
            Some(scores.len()),
        );
        self.metrics.push(v.clone());
        self.clip_score = Availability::Computed(v);
    }

    /// Adds SEVLM ACC.
    pub fn add_accuracy(&mut self, acc: Accuracy) {
        self.metrics.push(MetricValue::new(
            "ACC",
            accuracy::ACC_LABEL,
            acc.accuracy,
            "0-1",
            Some(acc.counted),
        ));
        self.accuracy = Some(acc);
    }

    /// Adds EA (both variants).
    pub fn add_emotion_alignment(&mut self, ea: [EmotionAlignment; 2]) {
        for e in &ea {
            self.metrics.push(MetricValue::new(
                "EA",
                &e.label,
                e.value,
                "0-1",
                Some(e.counted),
            ));
        }
        self.emotion_alignment = ea.to_vec();
    }

    /// Adds APOLO segmentation scores.
    pub fn add_segmentation(&mut self, seg: SegmentationReport) {
        let n = Some(seg.samples);
        let v = &seg.variant;
        for (name, value, unit) in [
            ("Pr@25 (seg)", seg.seg.pr25, "%"),
            ("Pr@50 (seg)", seg.seg.pr50, "%"),
            ("mean IoU (seg)", seg.seg.mean_iou, "0-1"),
            ("Pr@25 (box)", seg.boxes.pr25, "%"),
            ("Pr@50 (box)", seg.boxes.pr50, "%"),
            ("mean IoU (box)", seg.boxes.mean_iou, "0-1"),
        ] {
            self.metrics.push(MetricValue::new(name, v, value, unit, n));
        }
        self.segmentation = Some(seg);
    }
}

/// Options of [`evaluate_text_with`].
#[derive(Debug, Clone, Default)]
pub struct TextEvalOptions {
    /// The official METEOR 1.5 jar; when given and `java` is on the PATH, its score is
    /// reported beside the exact+stem port.
    pub meteor_jar: Option<PathBuf>,
}

/// All text scores with their per-item values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextScores {
    /// Tokenised hypotheses.
    pub hypotheses: Vec<String>,
    /// Tokenised references.
    pub references: Vec<Vec<String>>,
    /// BLEU-1..4.
    pub bleu: BleuScores,
    /// METEOR (exact+stem); `None` in a build without the `meteor` feature.
    pub meteor: Option<MeteorScores>,
    /// ROUGE-L.
    pub rouge: RougeScores,
    /// CIDEr-D.
    pub cider: CiderScores,
    /// Diversity of the hypotheses.
    pub diversity: Diversity,
    /// Texts (hypotheses and references) cut to [`MAX_WORDS`] words before scoring.
    pub truncated: Truncated,
}

/// The most words of one hypothesis or reference that the text metrics score; longer
/// texts are cut to their first `MAX_WORDS` words (whitespace-separated) before
/// tokenisation, which bounds METEOR's alignment (quadratic in the text length) so any
/// input evaluates in seconds. Captions and ArtEmis utterances are far shorter (ArtEmis'
/// longest are around 100 words).
pub const MAX_WORDS: usize = 1000;

/// How many texts were cut to [`MAX_WORDS`] words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Truncated {
    /// Hypotheses cut.
    pub hypotheses: usize,
    /// References cut.
    pub references: usize,
    /// The limit applied.
    pub max_words: usize,
}

impl Truncated {
    /// True when any text was cut.
    pub fn any(&self) -> bool {
        self.hypotheses + self.references > 0
    }

    /// A sentence for notes and warnings.
    pub fn describe(&self) -> String {
        format!(
            "{} hypothesis(es) and {} reference(s) longer than {} words were truncated to their first {} words before scoring",
            self.hypotheses, self.references, self.max_words, self.max_words
        )
    }
}

/// `text` cut after its first `max` whitespace-separated words, when it has more.
pub fn cap_words(text: &str, max: usize) -> Option<&str> {
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                in_word = false;
                words += 1;
                if words == max {
                    let rest = &text[i..];
                    return (!rest.trim_start().is_empty()).then_some(&text[..i]);
                }
            }
        } else {
            in_word = true;
        }
    }
    None
}

/// Tokenises like pycocoevalcap's `COCOEvalCap` (all references as one stream, then all
/// hypotheses) and computes every text metric.
pub fn score_text(hyps: &[String], refs: &[Vec<String>]) -> Result<TextScores> {
    check_pairs(hyps, refs)?;
    if hyps.is_empty() {
        return Err(Error::Invalid("no caption to evaluate".into()));
    }
    let mut truncated = Truncated {
        max_words: MAX_WORDS,
        ..Default::default()
    };
    let flat: Vec<&str> = refs
        .iter()
        .flatten()
        .map(|r| match cap_words(r, MAX_WORDS) {
            Some(cut) => {
                truncated.references += 1;
                cut
            }
            None => r.as_str(),
        })
        .collect();
    let capped_hyps: Vec<String> = hyps
        .iter()
        .map(|h| match cap_words(h, MAX_WORDS) {
            Some(cut) => {
                truncated.hypotheses += 1;
                cut.to_string()
            }
            None => h.clone(),
        })
        .collect();
    let hyps = &capped_hyps[..];
    let mut tok_flat = ptb::coco_tokenize(&flat)?.into_iter();
    let references: Vec<Vec<String>> = refs
        .iter()
        .map(|r| tok_flat.by_ref().take(r.len()).collect())
        .collect();
    let hypotheses = ptb::coco_tokenize(hyps)?;
    Ok(TextScores {
        bleu: bleu::bleu(&hypotheses, &references)?,
        meteor: meteor::meteor(&hypotheses, &references)?,
        rouge: rouge::rouge_l(&hypotheses, &references)?,
        cider: cider::cider_d(&hypotheses, &references)?,
        diversity: diversity::diversity(hyps, &hypotheses)?,
        hypotheses,
        references,
        truncated,
    })
}

/// Every text metric over hypotheses and their references (one list per hypothesis).
pub fn evaluate_text(hyps: &[String], refs: &[Vec<String>]) -> Result<Report> {
    evaluate_text_with(hyps, refs, &TextEvalOptions::default())
}

/// [`evaluate_text`] with options (the official METEOR jar).
pub fn evaluate_text_with(
    hyps: &[String],
    refs: &[Vec<String>],
    opts: &TextEvalOptions,
) -> Result<Report> {
    let t = score_text(hyps, refs)?;
    let n = Some(hyps.len());
    let mut r = Report::new(hyps.len());
    let bleu_v = "pycocoevalcap 1.2 Bleu(4): corpus, closest reference length";
    for (k, v) in t.bleu.corpus.iter().enumerate() {
        r.metrics.push(MetricValue::new(
            &format!("BLEU-{}", k + 1),
            bleu_v,
            *v,
            "0-1",
            n,
        ));
    }
    match &t.meteor {
        Some(m) => r.metrics.push(MetricValue::new(
            "METEOR",
            &format!(
                "{} (METEOR 1.5 port, English rank parameters; no synonym/paraphrase modules)",
                meteor::METEOR_LABEL
            ),
            m.corpus,
            "0-1",
            n,
        )),
        None => r.notes.push(meteor::NOT_BUILT.into()),
    }
    if let Some(jar) = &opts.meteor_jar {
        if java_available() {
            let off = meteor::meteor_official(jar, &t.hypotheses, &t.references)?;
            r.metrics.push(MetricValue::new(
                "METEOR",
                meteor::METEOR_OFFICIAL_LABEL,
                off.corpus,
                "0-1",
                n,
            ));
        } else {
            r.notes
                .push("official METEOR not run: `java` is not on the PATH".into());
        }
    }
    r.metrics.push(MetricValue::new(
        "ROUGE-L",
        "pycocoevalcap 1.2 Rouge: F (beta 1.2) of max precision / max recall over references, mean",
        t.rouge.corpus,
        "0-1",
        n,
    ));
    r.metrics.push(MetricValue::new(
        "CIDEr-D",
        "pycocoevalcap 1.2 Cider: sigma 6, clipped, x10, df from this corpus' references",
        t.cider.corpus,
        "x10 scale",
        n,
    ));
    let d = &t.diversity;
    r.metrics.push(MetricValue::new(
        "Unique",
        "#distinct / #total generated explanations (exact text)",
        d.unique,
        "0-1",
        n,
    ));
    r.metrics.push(MetricValue::new(
        "mean length",
        "PTB tokens per explanation (punctuation removed)",
        d.mean_length,
        "tokens",
        n,
    ));
    r.metrics.push(MetricValue::new(
        "vocabulary",
        "distinct PTB tokens over all explanations",
        d.vocabulary as f64,
        "tokens",
        n,
    ));
    r.diversity = Some(t.diversity);
    if t.truncated.any() {
        r.notes.push(t.truncated.describe());
    }
    r.truncated = t.truncated;
    Ok(r)
}

/// Whether `java` can be started.
pub fn java_available() -> bool {
    std::process::Command::new("java")
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Checks that there is one reference list per hypothesis and no empty list.
pub(crate) fn check_pairs(hyps: &[String], refs: &[Vec<String>]) -> Result<()> {
    if hyps.len() != refs.len() {
        return Err(Error::Invalid(format!(
            "{} hypotheses but {} reference lists",
            hyps.len(),
            refs.len()
        )));
    }
    if let Some(i) = refs.iter().position(|r| r.is_empty()) {
        return Err(Error::Invalid(format!("item {i} has no reference")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::Path;

    /// The documented bound on |official METEOR - METEOR (exact+stem)| for the golden
    /// corpus score (the official jar also matches synonyms and paraphrases).
    const METEOR_CORPUS_GAP: f64 = 0.02;

    #[test]
    fn long_texts_are_capped_counted_and_reported() {
        assert_eq!(cap_words("a b c", 2), Some("a b"));
        assert_eq!(cap_words("a b ", 2), None);
        assert_eq!(cap_words("  a  b", 5), None);
        let huge = "word ".repeat(200_000);
        let hyps = vec!["a calm river".to_string(), huge.clone()];
        let refs = vec![
            vec![huge, "a quiet river at dusk".into()],
            vec!["a storm at sea".into()],
        ];
        let t = std::time::Instant::now();
        let r = evaluate_text(&hyps, &refs).unwrap();
        eprintln!("200,000-word texts evaluated in {:?}", t.elapsed());
        assert_eq!(r.truncated.hypotheses, 1);
        assert_eq!(r.truncated.references, 1);
        assert!(
            r.notes.iter().any(|n| n.contains("truncated")),
            "{:?}",
            r.notes
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["truncated"]["max_words"], MAX_WORDS);
    }

    fn golden_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/golden")
    }

    fn load(cases: &Path, expected: &Path) -> (Vec<String>, Vec<Vec<String>>, Value) {
        let c: Value = serde_json::from_str(&std::fs::read_to_string(cases).unwrap()).unwrap();
        let e: Value = serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
        let cases = c["cases"].as_array().unwrap();
        let hyps = cases
            .iter()
            .map(|c| c["hypothesis"].as_str().unwrap().to_string())
            .collect();
        let refs = cases
            .iter()
            .map(|c| {
                c["references"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        (hyps, refs, e)
    }

    fn floats(v: &Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    /// Compares every metric with the golden file; returns the max abs diff per metric.
    fn compare(cases: &Path, expected: &Path) -> Vec<(String, f64)> {
        let (hyps, refs, e) = load(cases, expected);
        let t = score_text(&hyps, &refs).unwrap();
        for (i, tk) in e["tokenized"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                t.hypotheses[i],
                tk["hypothesis"].as_str().unwrap(),
                "item {i}"
            );
            let want: Vec<&str> = tk["references"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(t.references[i], want, "item {i}");
        }
        let mut diffs = Vec::new();
        let mut check = |name: &str, corpus: f64, items: &[f64]| {
            let want_c = e["corpus"][name].as_f64().unwrap();
            let want_i = floats(&e["per_item"][name]);
            assert_eq!(want_i.len(), items.len());
            let mut d = (corpus - want_c).abs();
            for (k, (a, b)) in items.iter().zip(&want_i).enumerate() {
                assert!((a - b).abs() < 1e-9, "{name} item {k}: {a} vs {b}");
                d = d.max((a - b).abs());
            }
            assert!(d < 1e-9, "{name} corpus: {corpus} vs {want_c}");
            diffs.push((name.to_string(), d));
        };
        for k in 0..4 {
            let items: Vec<f64> = t.bleu.per_item.iter().map(|v| v[k]).collect();
            check(&format!("Bleu_{}", k + 1), t.bleu.corpus[k], &items);
        }
        check("ROUGE_L", t.rouge.corpus, &t.rouge.per_item);
        check("CIDEr", t.cider.corpus, &t.cider.per_item);
        let Some(m) = &t.meteor else {
            return diffs;
        };
        if e["corpus"].get("METEOR_exact_stem").is_some() {
            check("METEOR_exact_stem", m.corpus, &m.per_item);
        }
        if let Some(off) = e["corpus"].get("METEOR").and_then(Value::as_f64) {
            let gap = (off - m.corpus).abs();
            let items = floats(&e["per_item"]["METEOR"]);
            let max_item = items
                .iter()
                .zip(&m.per_item)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            diffs.push(("METEOR official - exact+stem (corpus)".into(), gap));
            diffs.push(("METEOR official - exact+stem (max item)".into(), max_item));
        }
        diffs
    }

    #[test]
    fn golden_text_metrics_match_pycocoevalcap() {
        let d = golden_dir();
        let diffs = compare(&d.join("text_cases.json"), &d.join("text_expected.json"));
        for (name, v) in &diffs {
            eprintln!("{name:<42} max abs diff {v:.3e}");
        }
        let gap = diffs
            .iter()
            .find(|(n, _)| n.contains("(corpus)"))
            .map(|(_, v)| *v)
            .unwrap_or(0.0);
        assert!(gap <= METEOR_CORPUS_GAP, "METEOR gap {gap}");
    }

    /// The same comparison on any generated corpus, run by hand:
    /// `ARTEMO_GOLDEN_CASES=c.json ARTEMO_GOLDEN_EXPECTED=e.json cargo test -p
    /// artemo-engine golden_text_metrics_on_a_custom_corpus -- --ignored --nocapture`.
    #[test]
    #[ignore = "needs a generated corpus: ARTEMO_GOLDEN_CASES and ARTEMO_GOLDEN_EXPECTED"]
    fn golden_text_metrics_on_a_custom_corpus() {
        let c = std::env::var("ARTEMO_GOLDEN_CASES").expect("set ARTEMO_GOLDEN_CASES");
        let e = std::env::var("ARTEMO_GOLDEN_EXPECTED").expect("set ARTEMO_GOLDEN_EXPECTED");
        for (name, v) in compare(Path::new(&c), Path::new(&e)) {
            eprintln!("{name:<42} max abs diff {v:.3e}");
        }
    }

    /// pycocoevalcap ships the jar (`pycocoevalcap/meteor/meteor-1.5.jar`, `pip download
    /// pycocoevalcap`); run with `ARTEMO_METEOR_JAR=... cargo test -p artemo-engine
    /// official_meteor -- --ignored`.
    #[test]
    #[ignore = "needs java and the METEOR 1.5 jar (ARTEMO_METEOR_JAR)"]
    fn official_meteor_when_java_and_the_jar_are_present() {
        let jar = std::env::var_os("ARTEMO_METEOR_JAR")
            .map(PathBuf::from)
            .expect("set ARTEMO_METEOR_JAR to a meteor-1.5.jar");
        assert!(java_available(), "`java` is not on the PATH");
        assert!(jar.is_file(), "{} missing", jar.display());
        let d = golden_dir();
        let (hyps, refs, e) = load(&d.join("text_cases.json"), &d.join("text_expected.json"));
        let t = score_text(&hyps, &refs).unwrap();
        let off = meteor::meteor_official(&jar, &t.hypotheses, &t.references).unwrap();
        let want = e["corpus"]["METEOR"].as_f64().unwrap();
        assert!((off.corpus - want).abs() < 1e-6, "{} vs {want}", off.corpus);
    }

    #[test]
    fn report_labels_every_value_and_never_invents_clipscore() {
        let hyps = vec!["a dog on the grass".to_string(), "a red sky".to_string()];
        let refs = vec![
            vec!["A dog on grass.".to_string(), "the dog runs".to_string()],
            vec!["The sky is red".to_string()],
        ];
        let r = evaluate_text(&hyps, &refs).unwrap();
        let names: Vec<&str> = r.metrics.iter().map(|m| m.metric.as_str()).collect();
        for want in ["BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "Unique"] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert!(r.metrics.iter().all(|m| !m.variant.is_empty()));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["clip_score"], CLIP_SCORE_MISSING);
        assert!(r.metrics.iter().any(|m| m.variant.contains("exact+stem")));
        assert!(evaluate_text(&hyps, &refs[..1]).is_err());
        assert!(evaluate_text(&[], &[]).is_err());
    }
}
