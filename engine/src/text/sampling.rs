//! Next-token choice shared by SEVLM and EmoSEM decoding: greedy (most likely token) or
//! nucleus sampling (top-p with a temperature, reproducible by seed), each optionally
//! with repeat blocking ([`crate::text::repeats`]).
//!
//! Nucleus keeps the smallest set of most likely tokens whose probability reaches `top_p`
//! and samples among them renormalised: the `top_filtering` of SEVLM's reference code
//! with top-k off (BetterZH/SEVLM-code `artEmisX_train.py`), and the paper setting of both
//! SEVLM and EmoSEM (p = 0.9). `top_p` -> 0 keeps only the most likely token, i.e. greedy.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to pick the next token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum Decoding {
    /// Always the most likely token (the reference code's default).
    #[default]
    Greedy,
    /// Nucleus sampling (the papers: p = 0.9), reproducible by seed.
    Nucleus {
        /// Cumulative probability kept.
        top_p: f32,
        /// Logit temperature.
        temperature: f32,
        /// Random seed.
        seed: u64,
    },
}

impl Decoding {
    /// The papers' nucleus setting (p = 0.9, temperature 1) with `seed`.
    pub fn paper_nucleus(seed: u64) -> Self {
        Decoding::Nucleus {
            top_p: 0.9,
            temperature: 1.0,
            seed,
        }
    }

    /// A short label for reports ("greedy", "nucleus p=0.9 T=1 seed=0").
    pub fn label(&self) -> String {
        match self {
            Decoding::Greedy => "greedy".into(),
            Decoding::Nucleus {
                top_p,
                temperature,
                seed,
            } => format!("nucleus p={top_p} T={temperature} seed={seed}"),
        }
    }
}

/// Keeps the smallest set of tokens whose probability reaches `top_p` (most likely first,
/// ties: lower id) and samples one with `u` in [0, 1).
pub fn nucleus_pick(probs: &[f32], top_p: f32, u: f32) -> usize {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let mut kept = Vec::new();
    let mut cum = 0f32;
    for &i in &order {
        kept.push(i);
        cum += probs[i];
        if cum >= top_p {
            break;
        }
    }
    let total: f32 = kept.iter().map(|&i| probs[i]).sum();
    let mut acc = 0f32;
    for &i in &kept {
        acc += probs[i] / total;
        if u < acc {
            return i;
        }
    }
    kept.last().copied().unwrap_or(0)
}

/// Softmax of `logits / temperature` in f64 (temperature floored at 1e-4).
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = temperature.max(1e-4) as f64;
    let max = logits
        .iter()
        .map(|&v| v as f64 / t)
        .fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|&v| (v as f64 / t - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|&v| (v / sum) as f32).collect()
}

/// The index of the largest score (ties: lower index).
pub fn argmax(scores: &[f32]) -> usize {
    scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// Picks tokens one step at a time under a [`Decoding`]; a nucleus sampler owns its
/// random stream (ChaCha8 seeded with the seed, on stream `stream`, so that several
/// sequences decoded from one seed are independent and each is the same whichever others
/// are decoded alongside it).
#[derive(Debug, Clone)]
pub struct Sampler {
    decoding: Decoding,
    rng: Option<ChaCha8Rng>,
}

impl Sampler {
    /// A sampler for `decoding` on random stream `stream` (0 for a single sequence).
    pub fn new(decoding: Decoding, stream: u64) -> Self {
        let rng = match decoding {
            Decoding::Nucleus { seed, .. } => {
                let mut r = ChaCha8Rng::seed_from_u64(seed);
                r.set_stream(stream);
                Some(r)
            }
            Decoding::Greedy => None,
        };
        Sampler { decoding, rng }
    }

    /// The decoding it follows.
    pub fn decoding(&self) -> Decoding {
        self.decoding
    }

    /// The temperature to apply to the logits (1 for greedy, where it changes nothing).
    pub fn temperature(&self) -> f32 {
        match self.decoding {
            Decoding::Nucleus { temperature, .. } => temperature,
            Decoding::Greedy => 1.0,
        }
    }

    /// The next token from `probs` (a probability row, already at the sampler's
    /// temperature); `history` is what was generated so far, used when `block_repeats`.
    pub fn pick(&mut self, probs: &[f32], history: &[u32], block_repeats: bool) -> u32 {
        match (self.decoding, self.rng.as_mut()) {
            (Decoding::Nucleus { top_p, .. }, Some(r)) => {
                let u = r.gen::<f32>();
                if block_repeats {
                    let mut p = probs.to_vec();
                    crate::text::repeats::mask_blocked(&mut p, history);
                    nucleus_pick(&p, top_p, u) as u32
                } else {
                    nucleus_pick(probs, top_p, u) as u32
                }
            }
            _ if block_repeats => crate::text::repeats::best_unblocked(probs, history, |_| true),
            _ => argmax(probs) as u32,
        }
    }

    /// The next token from raw `logits`: softmax at the sampler's temperature, then
    /// [`Sampler::pick`].
    pub fn pick_logits(&mut self, logits: &[f32], history: &[u32], block_repeats: bool) -> u32 {
        match self.decoding {
            Decoding::Greedy if !block_repeats => argmax(logits) as u32,
            Decoding::Greedy => crate::text::repeats::best_unblocked(logits, history, |_| true),
            Decoding::Nucleus { temperature, .. } => {
                let probs = softmax(logits, temperature);
                self.pick(&probs, history, block_repeats)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nucleus(top_p: f32, seed: u64) -> Decoding {
        Decoding::Nucleus {
            top_p,
            temperature: 1.0,
            seed,
        }
    }

    #[test]
    fn nucleus_keeps_the_smallest_set_reaching_top_p() {
        let p = [0.1, 0.5, 0.3, 0.1];
        // top_p 0.6: tokens 1 (0.5) and 2 (0.3) kept, renormalised to 0.625 / 0.375.
        assert_eq!(nucleus_pick(&p, 0.6, 0.0), 1);
        assert_eq!(nucleus_pick(&p, 0.6, 0.62), 1);
        assert_eq!(nucleus_pick(&p, 0.6, 0.63), 2);
        assert_eq!(nucleus_pick(&p, 0.6, 0.999), 2);
        // top_p 1 keeps everything; ties between 0 and 3 go to the lower id first.
        assert_eq!(nucleus_pick(&p, 1.0, 0.95), 3);
        assert_eq!(nucleus_pick(&p, 1.0, 0.85), 0);
    }

    #[test]
    fn nucleus_keeps_the_smallest_set_reaching_p_sevlm_cases() {
        let probs = [0.5, 0.3, 0.15, 0.05];
        // p = 0.7 keeps tokens 0 and 1 (0.8 >= 0.7): u below 0.5/0.8 picks 0, above picks 1.
        assert_eq!(nucleus_pick(&probs, 0.7, 0.6), 0);
        assert_eq!(nucleus_pick(&probs, 0.7, 0.7), 1);
        assert_eq!(nucleus_pick(&probs, 0.7, 0.999), 1);
        // p = 0.1 is greedy.
        assert_eq!(nucleus_pick(&probs, 0.1, 0.99), 0);
        // p = 1 may reach the tail.
        assert_eq!(nucleus_pick(&probs, 1.0, 0.99), 3);
    }

    #[test]
    fn top_p_to_zero_is_greedy() {
        let rows: Vec<Vec<f32>> = (0..20)
            .map(|k| {
                (0..50)
                    .map(|i| ((i * 7 + k * 13) % 23) as f32 * 0.3)
                    .collect()
            })
            .collect();
        for block in [false, true] {
            let mut greedy = Sampler::new(Decoding::Greedy, 0);
            let mut tiny = Sampler::new(nucleus(0.0, 9), 0);
            let (mut hg, mut ht) = (Vec::new(), Vec::new());
            for r in &rows {
                let g = greedy.pick_logits(r, &hg, block);
                let t = tiny.pick_logits(r, &ht, block);
                assert_eq!(g, t, "block {block}");
                hg.push(g);
                ht.push(t);
            }
        }
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_streams_differ() {
        let logits: Vec<f32> = (0..30).map(|i| (i % 5) as f32 * 0.2).collect();
        let run = |seed: u64, stream: u64| -> Vec<u32> {
            let mut s = Sampler::new(nucleus(0.9, seed), stream);
            (0..40)
                .map(|_| s.pick_logits(&logits, &[], false))
                .collect()
        };
        assert_eq!(run(3, 0), run(3, 0));
        assert_eq!(run(3, 5), run(3, 5));
        assert_ne!(run(3, 0), run(4, 0));
        assert_ne!(run(3, 0), run(3, 1));
    }

    #[test]
    fn samples_follow_the_truncated_distribution() {
        // Probabilities 0.4, 0.3, 0.2, 0.1: top_p 0.85 keeps the first three, renormalised
        // to 4/9, 3/9, 2/9; the fourth never comes.
        let probs = [0.4f32, 0.3, 0.2, 0.1];
        let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
        let mut s = Sampler::new(nucleus(0.85, 11), 0);
        let n = 20_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[s.pick_logits(&logits, &[], false) as usize] += 1;
        }
        assert_eq!(counts[3], 0);
        for (k, want) in [4.0 / 9.0, 3.0 / 9.0, 2.0 / 9.0].iter().enumerate() {
            let got = counts[k] as f64 / n as f64;
            // 5 standard deviations of a binomial proportion at n = 20000 is < 0.018.
            assert!((got - want).abs() < 0.018, "token {k}: {got} vs {want}");
        }
        // Temperature 0.5 squares and renormalises the probabilities: 16:9:4:1 / 30,
        // the nucleus at 0.85 keeps 16/30 + 9/30 (0.833) + 4/30.
        let mut hot = Sampler::new(
            Decoding::Nucleus {
                top_p: 0.85,
                temperature: 0.5,
                seed: 11,
            },
            0,
        );
        let mut c = [0usize; 4];
        for _ in 0..n {
            c[hot.pick_logits(&logits, &[], false) as usize] += 1;
        }
        assert_eq!(c[3], 0);
        let want0 = 16.0 / 29.0;
        assert!((c[0] as f64 / n as f64 - want0).abs() < 0.018, "{c:?}");
    }

    #[test]
    fn softmax_applies_the_temperature() {
        let p = softmax(&[0.0, 2f32.ln()], 1.0);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-6 && (p[1] - 2.0 / 3.0).abs() < 1e-6);
        let p = softmax(&[0.0, 2f32.ln()], 0.5);
        assert!((p[0] - 0.2).abs() < 1e-6 && (p[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn blocked_repeats_are_never_sampled() {
        let logits = [3.0f32, 2.9, 0.0, 0.0];
        let mut s = Sampler::new(nucleus(0.9, 1), 0);
        for _ in 0..200 {
            assert_ne!(s.pick_logits(&logits, &[0], true), 0);
        }
    }
}
