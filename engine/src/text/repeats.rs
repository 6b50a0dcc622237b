//! Repeat blocking for greedy and nucleus decoding: small models trained on little data
//! fall into loops ("the little little little", "very very"). A blocked candidate is a
//! token equal to the previous token, or one that would complete a bigram already in the
//! text (Hugging Face's `no_repeat_ngram_size = 2`, plus the immediate repeat). Neither
//! paper uses it; the evaluation keeps the reference code's plain greedy decoding, and the
//! desktop app offers it as "block repeats".

/// Whether `candidate` after `history` repeats the previous token or a bigram.
pub fn blocked(history: &[u32], candidate: u32) -> bool {
    let Some(&last) = history.last() else {
        return false;
    };
    if last == candidate {
        return true;
    }
    history
        .windows(2)
        .any(|w| w[0] == last && w[1] == candidate)
}

/// The most probable token that `ok` allows and that is not [`blocked`]; falls back to
/// the most probable token `ok` allows when everything is blocked (ties: lower id).
pub fn best_unblocked(scores: &[f32], history: &[u32], ok: impl Fn(u32) -> bool) -> u32 {
    let pick = |skip_blocked: bool| {
        scores
            .iter()
            .enumerate()
            .filter(|(i, _)| ok(*i as u32))
            .filter(|(i, _)| !skip_blocked || !blocked(history, *i as u32))
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i as u32)
    };
    pick(true).or_else(|| pick(false)).unwrap_or(0)
}

/// Zeroes the probability of blocked tokens (for nucleus sampling) and renormalises;
/// leaves `probs` as it is when every token would be blocked.
pub fn mask_blocked(probs: &mut [f32], history: &[u32]) {
    let Some(&last) = history.last() else {
        return;
    };
    let mut banned: Vec<usize> = vec![last as usize];
    banned.extend(
        history
            .windows(2)
            .filter(|w| w[0] == last)
            .map(|w| w[1] as usize),
    );
    let removed: f32 = banned.iter().filter_map(|&i| probs.get(i)).sum();
    let rest = 1.0 - removed;
    if rest <= 1e-12 {
        return;
    }
    for &i in &banned {
        if let Some(p) = probs.get_mut(i) {
            *p = 0.0;
        }
    }
    probs.iter_mut().for_each(|p| *p /= rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_repeats_and_repeated_bigrams_are_blocked() {
        // (history, candidate, blocked)
        let cases: &[(&[u32], u32, bool)] = &[
            (&[], 5, false),
            (&[5], 5, true),
            (&[5], 6, false),
            (&[1, 2, 3, 1], 2, true),
            (&[1, 2, 3, 1], 3, false),
            (&[1, 2, 3], 1, false),
        ];
        for &(h, c, want) in cases {
            assert_eq!(blocked(h, c), want, "{h:?} + {c}");
        }
    }

    #[test]
    fn the_best_allowed_token_wins_and_everything_blocked_falls_back() {
        let scores = [0.1, 0.5, 0.3, 0.1];
        assert_eq!(best_unblocked(&scores, &[1], |_| true), 2);
        assert_eq!(best_unblocked(&scores, &[0], |_| true), 1);
        assert_eq!(best_unblocked(&scores, &[1], |t| t != 2), 0);
        assert_eq!(best_unblocked(&[1.0], &[0], |_| true), 0);
    }

    #[test]
    fn blocked_probability_is_removed_and_the_rest_renormalised() {
        let mut p = [0.5, 0.25, 0.25];
        mask_blocked(&mut p, &[0]);
        assert_eq!(p, [0.0, 0.5, 0.5]);
        let mut all = [1.0, 0.0];
        mask_blocked(&mut all, &[0]);
        assert_eq!(all, [1.0, 0.0]);
    }
}
