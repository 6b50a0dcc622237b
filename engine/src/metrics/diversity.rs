//! Diversity of generated explanations: Unique, mean length and vocabulary size.
//!
//! Reference: SEVLM's "Unique" (share of distinct generated explanations over all
//! generated ones, #unique / #total; see the project's reference notes) and the usual
//! length and vocabulary counts of caption papers.
//!
//! Variant: two explanations are the same when their texts are equal after trimming
//! surrounding white space (case and punctuation count, as a Python `set` of the
//! generated strings would); lengths and the vocabulary use the tokens of the text
//! metrics (PTB-tokenised as pycocoevalcap does, lower-cased, punctuation removed,
//! split on white space), so they describe exactly what BLEU and CIDEr see.

use std::collections::HashSet;

use serde::Serialize;

use super::ptb::python_split;
use crate::error::{Error, Result};

/// Diversity of a set of generated explanations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diversity {
    /// Explanations counted.
    pub total: usize,
    /// Distinct explanations.
    pub distinct: usize,
    /// `distinct / total` (0..1).
    pub unique: f64,
    /// Mean length in tokens.
    pub mean_length: f64,
    /// Distinct tokens over all explanations.
    pub vocabulary: usize,
}

/// Diversity of `raw` explanations whose tokenised forms are `tokenized` (same order).
pub fn diversity(raw: &[String], tokenized: &[String]) -> Result<Diversity> {
    if raw.len() != tokenized.len() {
        return Err(Error::Invalid(format!(
            "{} explanations but {} tokenised ones",
            raw.len(),
            tokenized.len()
        )));
    }
    if raw.is_empty() {
        return Err(Error::Invalid("diversity of no explanation".into()));
    }
    let distinct = raw.iter().map(|s| s.trim()).collect::<HashSet<_>>().len();
    let mut vocab = HashSet::new();
    let mut tokens = 0usize;
    for t in tokenized {
        let words = python_split(t);
        tokens += words.len();
        vocab.extend(words);
    }
    Ok(Diversity {
        total: raw.len(),
        distinct,
        unique: distinct as f64 / raw.len() as f64,
        mean_length: tokens as f64 / raw.len() as f64,
        vocabulary: vocab.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn table() {
        // (raw, tokenised, distinct, mean length, vocabulary)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], usize, f64, usize);
        let cases: &[Case] = &[
            (&["a b", "a b", "c"], &["a b", "a b", "c"], 2, 5.0 / 3.0, 3),
            (&["x", " x "], &["x", "x"], 1, 1.0, 1),
            (&["The sky.", "the sky"], &["the sky", "the sky"], 2, 2.0, 2),
            (&[""], &[""], 1, 0.0, 0),
        ];
        for (raw, tok, distinct, mean, vocab) in cases {
            let d = diversity(&s(raw), &s(tok)).unwrap();
            assert_eq!(d.distinct, *distinct, "{raw:?}");
            assert!((d.unique - *distinct as f64 / raw.len() as f64).abs() < 1e-12);
            assert!((d.mean_length - mean).abs() < 1e-12, "{raw:?}");
            assert_eq!(d.vocabulary, *vocab, "{raw:?}");
        }
        assert!(diversity(&[], &[]).is_err());
        assert!(diversity(&s(&["a"]), &[]).is_err());
    }
}
