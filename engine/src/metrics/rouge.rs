//! ROUGE-L as the COCO caption toolkit computes it: pycocoevalcap 1.2 `Rouge`
//! (`rouge/rouge.py`, Ramakrishna Vedantam).
//!
//! Variant: sentence-level ROUGE-L F-score with beta = 1.2, where precision and recall are
//! each the maximum over the references of LCS / |hypothesis| and LCS / |reference|
//! (not the scores of one best reference), averaged over the corpus. Tokens are split on
//! single spaces like Python's `str.split(" ")`, so an empty caption is one empty token,
//! exactly as in pycocoevalcap. Matches it within 1e-6 on the golden set.

use serde::Serialize;

use crate::error::{Error, Result};

/// The toolkit's beta.
pub const BETA: f64 = 1.2;

/// ROUGE-L for a corpus and for each of its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RougeScores {
    /// Mean ROUGE-L over the items.
    pub corpus: f64,
    /// Per-item ROUGE-L, in input order.
    pub per_item: Vec<f64>,
}

/// Length of the longest common subsequence of two token lists.
pub fn lcs(a: &[&str], b: &[&str]) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut prev = vec![0usize; short.len() + 1];
    let mut cur = vec![0usize; short.len() + 1];
    for x in long {
        for (j, y) in short.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[short.len()]
}

/// ROUGE-L of one tokenised hypothesis against its tokenised references.
pub fn rouge_l_one(hyp: &str, refs: &[String]) -> f64 {
    let c: Vec<&str> = hyp.split(' ').collect();
    let (mut prec, mut rec) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for r in refs {
        let t: Vec<&str> = r.split(' ').collect();
        let l = lcs(&t, &c) as f64;
        prec = prec.max(l / c.len() as f64);
        rec = rec.max(l / t.len() as f64);
    }
    if prec != 0.0 && rec != 0.0 && prec.is_finite() && rec.is_finite() {
        let b2 = BETA.powi(2);
        ((1.0 + b2) * prec * rec) / (rec + b2 * prec)
    } else {
        0.0
    }
}

/// ROUGE-L of tokenised hypotheses against tokenised references.
pub fn rouge_l(hyps: &[String], refs: &[Vec<String>]) -> Result<RougeScores> {
    super::check_pairs(hyps, refs)?;
    if hyps.is_empty() {
        return Err(Error::Invalid("ROUGE-L of an empty corpus".into()));
    }
    let per_item: Vec<f64> = hyps
        .iter()
        .zip(refs)
        .map(|(h, r)| rouge_l_one(h, r))
        .collect();
    Ok(RougeScores {
        corpus: per_item.iter().sum::<f64>() / per_item.len() as f64,
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
    fn lcs_table() {
        let cases: &[(&str, &str, usize)] = &[
            ("a b c d", "a c d", 3),
            ("a b c", "c b a", 1),
            ("", "a", 0),
            ("x y", "x y", 2),
        ];
        for (a, b, want) in cases {
            let a: Vec<&str> = a.split_whitespace().collect();
            let b: Vec<&str> = b.split_whitespace().collect();
            assert_eq!(lcs(&a, &b), *want);
            assert_eq!(lcs(&b, &a), *want);
        }
    }

    #[test]
    fn hand_computed_scores() {
        let f = |p: f64, r: f64| (1.0 + 1.44) * p * r / (r + 1.44 * p);
        // (hypothesis, references, expected)
        let cases: &[(&str, &[&str], f64)] = &[
            ("a b c", &["a b c"], 1.0),
            // LCS 2: precision 2/3, recall 2/4.
            ("a b x", &["a b y z"], f(2.0 / 3.0, 0.5)),
            // Max precision and max recall come from different references.
            ("a b", &["a b c d e f", "a q"], f(1.0, 0.5)),
            ("", &["a b"], 0.0),
            ("z", &["a b"], 0.0),
        ];
        for (h, r, want) in cases {
            let got = rouge_l_one(h, &s(r));
            assert!((got - want).abs() < 1e-12, "{h}: {got} vs {want}");
        }
        let all = rouge_l(&s(&["a b c", "z"]), &[s(&["a b c"]), s(&["a"])]).unwrap();
        assert!((all.corpus - 0.5).abs() < 1e-12);
    }
}
