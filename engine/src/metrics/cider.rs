//! CIDEr-D as the COCO caption toolkit computes it: pycocoevalcap 1.2 `Cider`
//! (`cider/cider_scorer.py`, Ramakrishna Vedantam and Tsung-Yi Lin).
//!
//! Variant: n = 1..4, TF-IDF vectors whose document frequencies come from the references
//! of the evaluated corpus itself (idf = ln(#items) - ln(max(1, df))), clipped
//! similarity `min(h, r) * r`, a Gaussian length penalty with sigma = 6, the mean over n
//! and over references, times 10. As in pycocoevalcap, the "length" in the penalty is
//! the number of bigrams of a caption (the toolkit counts term frequencies of 2-grams),
//! which equals the word count minus one for non-empty captions. Tokens split like
//! Python's `str.split()`. Matches pycocoevalcap within 1e-6 on the golden set.

use std::collections::HashMap;

use serde::Serialize;

use super::ptb::python_split;
use crate::error::{Error, Result};

/// The toolkit's sigma.
pub const SIGMA: f64 = 6.0;
const N: usize = 4;

/// CIDEr-D for a corpus and for each of its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CiderScores {
    /// Mean CIDEr-D over the items.
    pub corpus: f64,
    /// Per-item CIDEr-D, in input order.
    pub per_item: Vec<f64>,
}

type Counts = HashMap<String, usize>;

/// n-gram counts (n = 1..4), keyed by the n tokens joined with spaces.
fn precook(s: &str) -> [Counts; N] {
    let words = python_split(s);
    let mut out: [Counts; N] = Default::default();
    for (k, m) in out.iter_mut().enumerate() {
        let n = k + 1;
        if words.len() >= n {
            for i in 0..=words.len() - n {
                *m.entry(words[i..i + n].join(" ")).or_insert(0) += 1;
            }
        }
    }
    out
}

struct Vector {
    vec: [HashMap<String, f64>; N],
    norm: [f64; N],
    length: f64,
}

fn to_vec(c: &[Counts; N], df: &HashMap<(usize, String), f64>, ref_len: f64) -> Vector {
    let mut vec: [HashMap<String, f64>; N] = Default::default();
    let mut norm = [0.0; N];
    let mut length = 0.0;
    for n in 0..N {
        for (g, &tf) in &c[n] {
            let d = df
                .get(&(n, g.clone()))
                .copied()
                .unwrap_or(0.0)
                .max(1.0)
                .ln();
            let v = tf as f64 * (ref_len - d);
            norm[n] += v * v;
            vec[n].insert(g.clone(), v);
            if n == 1 {
                length += tf as f64;
            }
        }
    }
    Vector {
        vec,
        norm: norm.map(f64::sqrt),
        length,
    }
}

fn sim(h: &Vector, r: &Vector) -> [f64; N] {
    let delta = h.length - r.length;
    let mut val = [0.0; N];
    for (n, v) in val.iter_mut().enumerate() {
        for (g, &vh) in &h.vec[n] {
            let vr = r.vec[n].get(g).copied().unwrap_or(0.0);
            *v += vh.min(vr) * vr;
        }
        if h.norm[n] != 0.0 && r.norm[n] != 0.0 {
            *v /= h.norm[n] * r.norm[n];
        }
        *v *= std::f64::consts::E.powf(-(delta * delta) / (2.0 * SIGMA * SIGMA));
    }
    val
}

/// CIDEr-D of tokenised hypotheses against tokenised references; the document
/// frequencies are those of this corpus' references.
pub fn cider_d(hyps: &[String], refs: &[Vec<String>]) -> Result<CiderScores> {
    super::check_pairs(hyps, refs)?;
    if hyps.is_empty() {
        return Err(Error::Invalid("CIDEr-D of an empty corpus".into()));
    }
    let crefs: Vec<Vec<[Counts; N]>> = refs
        .iter()
        .map(|rs| rs.iter().map(|r| precook(r)).collect())
        .collect();
    let mut df: HashMap<(usize, String), f64> = HashMap::new();
    for rs in &crefs {
        let mut seen: std::collections::HashSet<(usize, &String)> = Default::default();
        for c in rs {
            for (n, m) in c.iter().enumerate() {
                for g in m.keys() {
                    seen.insert((n, g));
                }
            }
        }
        for (n, g) in seen {
            *df.entry((n, g.clone())).or_insert(0.0) += 1.0;
        }
    }
    let ref_len = (crefs.len() as f64).ln();
    let per_item: Vec<f64> = hyps
        .iter()
        .zip(&crefs)
        .map(|(h, rs)| {
            let hv = to_vec(&precook(h), &df, ref_len);
            let mut score = [0.0; N];
            for r in rs {
                let rv = to_vec(r, &df, ref_len);
                for (s, v) in score.iter_mut().zip(sim(&hv, &rv)) {
                    *s += v;
                }
            }
            let mean = score.iter().sum::<f64>() / N as f64;
            mean / rs.len() as f64 * 10.0
        })
        .collect();
    Ok(CiderScores {
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
    fn single_item_has_zero_idf() {
        // One image: idf = ln(1) - ln(1) = 0 for every reference n-gram.
        let out = cider_d(&s(&["a b c"]), &[s(&["a b c"])]).unwrap();
        assert_eq!(out.corpus, 0.0);
    }

    #[test]
    fn hand_computed_two_items() {
        // Item 1 "a" vs "a"; item 2 "b" vs "c". Unigram df: a=1, c=1; idf = ln 2.
        // Item 1: unigram cosine 1 (other orders empty -> 0), no length penalty
        // (0 bigrams each): mean over n = 1/4, times 10 = 2.5. Item 2: no overlap.
        let out = cider_d(&s(&["a", "b"]), &[s(&["a"]), s(&["c"])]).unwrap();
        assert!((out.per_item[0] - 2.5).abs() < 1e-12, "{out:?}");
        assert_eq!(out.per_item[1], 0.0);
        assert!((out.corpus - 1.25).abs() < 1e-12);
    }

    #[test]
    fn clipping_and_length_penalty() {
        // "a a" vs "a" in a 2-item corpus: unigram vectors (2w) and (w): clipped
        // min(2w, w) * w / (2w * w) = 0.5; bigram "a a" is absent from the reference.
        // Length: 1 bigram vs 0 -> penalty exp(-1 / 72).
        let out = cider_d(&s(&["a a", "z"]), &[s(&["a"]), s(&["y"])]).unwrap();
        let want = 0.5 * (-1.0f64 / 72.0).exp() / 4.0 * 10.0;
        assert!((out.per_item[0] - want).abs() < 1e-12, "{out:?}");
    }
}
