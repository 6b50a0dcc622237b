//! BLEU-1..4 as the COCO caption toolkit computes it: pycocoevalcap 1.2 `Bleu(4)`
//! (`bleu/bleu_scorer.py`, David Chiang's scorer as modified by Hao Fang and Tsung-Yi Lin).
//!
//! Variant: corpus BLEU over pre-tokenised captions (see [`super::ptb`]), tokens
//! split on white space like Python's `str.split()`, clipped n-gram counts against the
//! maximum count over the references, effective reference length "closest" (the
//! reference length nearest to the hypothesis length, the shorter one on a tie), and the
//! toolkit's smoothing constants (`tiny` = 1e-15 added to matches, `small` = 1e-9 to
//! guesses) so that an empty n-gram order gives ~0 instead of a division by zero. Also
//! returns the per-sentence scores pycocoevalcap reports (each with its own brevity
//! penalty). Matches pycocoevalcap within 1e-6 on the golden set.

use std::collections::HashMap;

use serde::Serialize;

use super::ptb::python_split;
use crate::error::{Error, Result};

const TINY: f64 = 1e-15;
const SMALL: f64 = 1e-9;

/// BLEU-1..4 for a corpus and for each of its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BleuScores {
    /// Corpus BLEU-1..4.
    pub corpus: [f64; 4],
    /// Per-item BLEU-1..4, in input order.
    pub per_item: Vec<[f64; 4]>,
}

struct Cooked {
    testlen: usize,
    reflen: usize,
    guess: [usize; 4],
    correct: [usize; 4],
}

fn counts<'w>(words: &'w [&'w str]) -> HashMap<&'w [&'w str], usize> {
    let mut m = HashMap::new();
    for k in 1..=4 {
        if words.len() >= k {
            for i in 0..=words.len() - k {
                *m.entry(&words[i..i + k]).or_insert(0) += 1;
            }
        }
    }
    m
}

fn cook(hyp: &str, refs: &[String]) -> Cooked {
    let hw = python_split(hyp);
    let ref_words: Vec<Vec<&str>> = refs.iter().map(|r| python_split(r)).collect();
    let mut maxcounts: HashMap<&[&str], usize> = HashMap::new();
    for rw in &ref_words {
        for (g, c) in counts(rw) {
            let e = maxcounts.entry(g).or_insert(0);
            *e = (*e).max(c);
        }
    }
    let testlen = hw.len();
    // "closest": the smallest (|l - testlen|, l).
    let reflen = ref_words
        .iter()
        .map(|r| r.len())
        .min_by_key(|&l| (l.abs_diff(testlen), l))
        .unwrap_or(0);
    let mut guess = [0usize; 4];
    for (k, g) in guess.iter_mut().enumerate() {
        *g = (testlen + 1).saturating_sub(k + 1);
    }
    let mut correct = [0usize; 4];
    for (g, c) in counts(&hw) {
        correct[g.len() - 1] += c.min(maxcounts.get(g).copied().unwrap_or(0));
    }
    Cooked {
        testlen,
        reflen,
        guess,
        correct,
    }
}

fn scores(testlen: f64, reflen: f64, guess: &[f64; 4], correct: &[f64; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    let mut bleu = 1.0f64;
    for k in 0..4 {
        bleu *= (correct[k] + TINY) / (guess[k] + SMALL);
        out[k] = bleu.powf(1.0 / (k as f64 + 1.0));
    }
    let ratio = (testlen + TINY) / (reflen + SMALL);
    if ratio < 1.0 {
        for v in &mut out {
            *v *= (1.0 - 1.0 / ratio).exp();
        }
    }
    out
}

/// BLEU-1..4 of tokenised hypotheses against tokenised references (one list per
/// hypothesis, at least one reference each).
pub fn bleu(hyps: &[String], refs: &[Vec<String>]) -> Result<BleuScores> {
    super::check_pairs(hyps, refs)?;
    let mut per_item = Vec::with_capacity(hyps.len());
    let (mut testlen, mut reflen) = (0usize, 0usize);
    let mut guess = [0usize; 4];
    let mut correct = [0usize; 4];
    for (h, r) in hyps.iter().zip(refs) {
        let c = cook(h, r);
        testlen += c.testlen;
        reflen += c.reflen;
        for k in 0..4 {
            guess[k] += c.guess[k];
            correct[k] += c.correct[k];
        }
        per_item.push(scores(
            c.testlen as f64,
            c.reflen as f64,
            &c.guess.map(|v| v as f64),
            &c.correct.map(|v| v as f64),
        ));
    }
    if hyps.is_empty() {
        return Err(Error::Invalid("BLEU of an empty corpus".into()));
    }
    Ok(BleuScores {
        corpus: scores(
            testlen as f64,
            reflen as f64,
            &guess.map(|v| v as f64),
            &correct.map(|v| v as f64),
        ),
        per_item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn hand_computed_cases() {
        // (hypothesis, references, per-item BLEU-1, BLEU-4)
        let cases: &[(&str, &[&str], f64, f64)] = &[
            // Identical: all precisions 1, no brevity penalty.
            ("a b c d", &["a b c d"], 1.0, 1.0),
            // Half the unigrams right, no bigram: BLEU-1 = 0.5, BLEU-4 ~ 0.
            ("a x b y", &["a b"], 0.5, 0.0),
            // Shorter than the closest reference: brevity penalty exp(1 - 4/2).
            // Trigram and 4-gram guesses are 0: (1e-15 / 1e-9) each, smoothed.
            (
                "a b",
                &["a b c d", "q q q q q q"],
                (-1.0f64).exp(),
                1e-3 * (-1.0f64).exp(),
            ),
        ];
        for (h, r, b1, b4) in cases {
            let out = bleu(&[h.to_string()], &[s(r)]).unwrap();
            assert!((out.per_item[0][0] - b1).abs() < 1e-6, "{h}: {:?}", out);
            assert!((out.per_item[0][3] - b4).abs() < 1e-6, "{h}: {:?}", out);
        }
    }

    #[test]
    fn clipping_and_closest_tie() {
        // "the the the" against "the cat": clipped unigram matches 1 of 3.
        let out = bleu(&s(&["the the the"]), &[s(&["the cat"])]).unwrap();
        assert!((out.corpus[0] - 1.0 / 3.0).abs() < 1e-6);
        // Closest length tie (2 and 4 around 3) takes the shorter: no penalty.
        let c = cook("a b c", &s(&["a b", "a b c d"]));
        assert_eq!(c.reflen, 2);
    }

    #[test]
    fn empty_hypothesis_scores_zero_and_bad_input_is_refused() {
        let out = bleu(&s(&[""]), &[s(&["a b"])]).unwrap();
        assert!(out.corpus.iter().all(|v| v.abs() < 1e-9));
        assert!(bleu(&s(&["a"]), &[vec![]]).is_err());
        assert!(bleu(&s(&["a", "b"]), &[s(&["a"])]).is_err());
        assert!(bleu(&[], &[]).is_err());
    }
}
