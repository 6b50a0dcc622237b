//! Painting words: explanation decoding nudged towards the words of the painting's own
//! title (Artemo's, issue 21; neither SEVLM nor EmoSEM has it): SEVLM's
//! `painting_word_bias` (on in the demo kit) and EmoSEM's (an option, off in the kit,
//! `docs/emosem.md`). The kit's SEVLM reads the title as a memory token but, trained on
//! 186 paintings, rarely names what it names; a copy bias lets "Boats on the Beach" give
//! "the boats" rather than "the soft trees".
//!
//! At each explanation step, the pieces that write a title word not yet written get their
//! probability multiplied by `exp(bias)` (a logit bias of `bias`), and the step is
//! renormalised: a spelling's first piece when it holds at least three letters (" Saint",
//! not the " D" of " Dancers", which would start any word), and, once a title word's first
//! pieces are written, its next piece. The model still decides: a word it gives almost no
//! probability stays improbable, and a word written (or one of its stem: "crucifix" for
//! "Crucifixion") is not pushed again. Title words are the alphabetic
//! words of three letters or more that are not English function words (the short list
//! below: a stop-word crate would bring hundreds of words of which the titles use a dozen)
//! and, for a model with a word list, are on its list. Both the lower-case and the
//! capitalised spelling are pushed, since training utterances write "jesus" and "Jesus".

use std::collections::HashSet;

use crate::error::Result;
use crate::text::known_words::{words_in, KnownWords};

/// Function words never pushed (articles, prepositions, pronouns, conjunctions, and the
/// French and Italian articles of titles such as "Bois de Boulogne").
const FUNCTION_WORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "into", "onto", "upon", "after", "before", "near", "over",
    "under", "his", "her", "hers", "its", "their", "theirs", "our", "your", "him", "them", "they",
    "she", "this", "that", "these", "those", "who", "whom", "which", "what", "was", "were", "are",
    "has", "had", "have", "not", "but", "nor", "yet", "del", "della", "des", "les", "dei", "der",
    "die", "das", "von", "van", "aux", "sur", "une", "called", "known", "also", "other", "one",
    "two", "three", "four", "five", "six",
];

/// One title word and the pieces of its spellings (id, text), in order.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    word: String,
    spellings: Vec<Vec<(u32, String)>>,
}

/// The least letters a spelling's first piece must hold to be pushed.
const MIN_FIRST_LETTERS: usize = 3;

/// The title words of one painting, ready to bias decoding steps.
#[derive(Debug, Clone, PartialEq)]
pub struct PaintingWords {
    entries: Vec<Entry>,
    factor: f32,
}

impl PaintingWords {
    /// The words of `title` pushed by `bias` (a logit bias, >= 0): `encode` maps a text
    /// (" boats") to the model's pieces, id and text (empty where the model cannot write
    /// it); `known`, the model's word list if it has one.
    pub fn new(
        title: &str,
        bias: f32,
        known: Option<&KnownWords>,
        encode: impl Fn(&str) -> Result<Vec<(u32, String)>>,
    ) -> Result<Self> {
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        for word in words_in(title) {
            let plain = word.chars().all(|c| c.is_ascii_alphabetic());
            if !plain
                || word.len() < 3
                || FUNCTION_WORDS.contains(&word.as_str())
                || known.is_some_and(|k| !k.contains(&word))
                || !seen.insert(word.clone())
            {
                continue;
            }
            let mut spellings = Vec::new();
            for spelling in [word.clone(), capitalised(&word)] {
                let pieces = encode(&format!(" {spelling}"))?;
                if !pieces.is_empty() && !spellings.contains(&pieces) {
                    spellings.push(pieces);
                }
            }
            if !spellings.is_empty() {
                entries.push(Entry { word, spellings });
            }
        }
        Ok(PaintingWords {
            entries,
            factor: bias.max(0.0).exp(),
        })
    }

    /// No word to push (a title of function words, or no title).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The words pushed, in title order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.word.as_str())
    }

    /// Pushes, in one step's probabilities, the pieces that write the words not yet in
    /// `written` (the explanation so far), then renormalises. Returns whether any
    /// probability changed.
    pub fn apply(&self, written: &str, probs: &mut [f32]) -> bool {
        if self.factor == 1.0 {
            return false;
        }
        let mut changed = false;
        for id in self.pushed(written) {
            if let Some(p) = probs.get_mut(id as usize) {
                if *p > 0.0 {
                    *p *= self.factor;
                    changed = true;
                }
            }
        }
        let total: f32 = probs.iter().sum();
        if changed && total > 0.0 {
            probs.iter_mut().for_each(|p| *p /= total);
        }
        changed
    }

    /// [`PaintingWords::apply`] on a step's logits: the bias added to the pushed pieces
    /// (those at minus infinity, masked out, stay there). Returns whether any changed.
    pub fn apply_logits(&self, written: &str, logits: &mut [f32]) -> bool {
        let bias = self.factor.ln();
        if bias == 0.0 {
            return false;
        }
        let mut changed = false;
        for id in self.pushed(written) {
            if let Some(l) = logits.get_mut(id as usize) {
                if l.is_finite() {
                    *l += bias;
                    changed = true;
                }
            }
        }
        changed
    }

    /// The pieces pushed after `written`, once each.
    fn pushed(&self, written: &str) -> Vec<u32> {
        let partial = KnownWords::partial(written);
        // Every word written, the one at the end included (it may be finished: a new word
        // may start at any step, the word list, if any, decides where) ...
        let words: Vec<String> = words_in(written).collect();
        // ... and those certainly finished.
        let finished = &words[..words.len() - usize::from(!partial.is_empty())];
        let mut ids = Vec::new();
        for e in &self.entries {
            let first = (!written_already(&e.word, &words))
                .then(|| e.spellings.iter().filter_map(|pieces| pieces.first()))
                .into_iter()
                .flatten()
                .filter(|(_, t)| t.trim().chars().count() >= MIN_FIRST_LETTERS);
            // A title word begun continues with its next piece.
            let next = (!written_already(&e.word, finished))
                .then(|| {
                    e.spellings
                        .iter()
                        .filter_map(|pieces| next_piece(pieces, &partial))
                })
                .into_iter()
                .flatten();
            for &(id, _) in first.chain(next) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }
}

/// Whether `word` (or a word of its stem: "crucifix" for "crucifixion", "saint" for
/// "saints", four letters or more) is among the finished words `done`.
fn written_already(word: &str, done: &[String]) -> bool {
    done.iter().any(|d| {
        d == word || (d.len().min(word.len()) >= 4 && (word.starts_with(d) || d.starts_with(word)))
    })
}

/// The piece of `pieces` that follows the word begun as `partial` (lower case): the
/// piece after those that spell `partial` exactly; none where `partial` is empty or not
/// such a beginning.
fn next_piece<'a>(pieces: &'a [(u32, String)], partial: &str) -> Option<&'a (u32, String)> {
    if partial.is_empty() {
        return None;
    }
    let mut spelled = String::new();
    for (k, (_, text)) in pieces.iter().enumerate() {
        spelled.push_str(&text.trim_start().to_lowercase());
        if spelled == partial {
            return pieces.get(k + 1);
        }
        if !partial.starts_with(&spelled) {
            return None;
        }
    }
    None
}

fn capitalised(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary, id = position: " boats" and " Boats" single pieces, " Dancers"
    /// written " D" + "ancers" (a first piece too short to push), " cliffs" written
    /// " cl" + "iffs" in lower case and " Cliffs" in one piece.
    const VOCAB: [&str; 12] = [
        " boats", " Boats", " beach", " Beach", " the", " on", " calm", " D", "ancers", " cl",
        "iffs", " Cliffs",
    ];

    fn encode(text: &str) -> Result<Vec<(u32, String)>> {
        let whole = |t: &str| VOCAB.iter().position(|v| *v == t).map(|i| i as u32);
        let split = match text {
            " Dancers" => vec![" D", "ancers"],
            " cliffs" => vec![" cl", "iffs"],
            t => vec![t],
        };
        Ok(split
            .iter()
            .map(|t| whole(t).map(|i| (i, t.to_string())))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default())
    }

    #[test]
    fn title_words_are_content_words_the_model_can_write() {
        let texts: Vec<String> = VOCAB.iter().map(|s| s.to_string()).collect();
        let known = KnownWords::new(["boats", "beach", "the", "on", "dancers"], &texts);
        let w =
            PaintingWords::new("Boats on the Beach at Étretat", 1.0, Some(&known), encode).unwrap();
        assert_eq!(w.words().collect::<Vec<_>>(), ["boats", "beach"]);
        assert!(PaintingWords::new("On the", 1.0, Some(&known), encode)
            .unwrap()
            .is_empty());
        // " D" would push every word starting with a D: not pushed; "ancers" is, once
        // the model itself has begun the word.
        let d = PaintingWords::new("Dancers", 1.0, Some(&known), encode).unwrap();
        let mut probs = vec![1.0f32 / 12.0; 12];
        assert!(!d.apply("the", &mut probs));
        assert!(d.apply("the d", &mut probs));
        assert!(probs[8] > probs[7] * 2.0);
    }

    #[test]
    fn unwritten_words_get_the_bias_and_the_step_sums_to_one() {
        let w = PaintingWords::new("Boats on the Beach", 2.0, None, encode).unwrap();
        let e2 = 2f32.exp();
        let mut probs = vec![
            0.1f32, 0.0, 0.1, 0.1, 0.4, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert!(w.apply("The calm sea and the", &mut probs));
        let total = 0.1 * e2 + 0.1 * e2 + 0.1 * e2 + 0.4 + 0.2 + 0.1;
        let mut want = [
            0.1 * e2,
            0.0,
            0.1 * e2,
            0.1 * e2,
            0.4,
            0.2,
            0.1,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ];
        want.iter_mut().for_each(|p| *p /= total);
        for (g, w) in probs.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{probs:?} vs {want:?}");
        }
        // A written word ("boats") is not pushed again; a zero stays zero.
        let mut probs = vec![
            0.1f32, 0.0, 0.1, 0.0, 0.5, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert!(w.apply("the boats", &mut probs));
        assert!((probs[0] - 0.1 / (1.0 + 0.1 * (e2 - 1.0))).abs() < 1e-6);
        assert_eq!(probs[1], 0.0);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // Nor right after a word of its stem ("the saint's saint"), nor after one: "boat"
        // written, "boats" is not pushed; "beach" is.
        let mut probs = vec![1.0f32 / 12.0; 12];
        w.apply("the boat", &mut probs);
        assert_eq!(probs[0], probs[4]);
        let mut probs = vec![1.0f32 / 12.0; 12];
        w.apply("the boat and", &mut probs);
        assert_eq!(probs[0], probs[4]);
        assert!(probs[2] > probs[4] * 2.0);
        // Bias 0 changes nothing.
        let off = PaintingWords::new("Boats", 0.0, None, encode).unwrap();
        let mut same = vec![
            0.5f32, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert!(!off.apply("", &mut same));
        assert_eq!(same[..2], [0.5, 0.5]);
    }

    #[test]
    fn a_title_word_begun_is_pushed_to_its_end() {
        let w = PaintingWords::new("Cliffs", 1.0, None, encode).unwrap();
        assert_eq!(w.words().collect::<Vec<_>>(), ["cliffs"]);
        let uniform = || vec![1.0f32 / 12.0; 12];
        // After "the cl": "iffs" (the lower-case spelling's next piece) and the first
        // piece " Cliffs" are pushed; " cl" is too short to push.
        let mut probs = uniform();
        w.apply("the cl", &mut probs);
        let pushed: Vec<usize> = (0..12).filter(|&i| probs[i] > probs[4] * 1.5).collect();
        assert_eq!(pushed, [10, 11]);
        // After "the clo" (not a beginning of the spelling) only the first piece long
        // enough to push.
        let mut probs = uniform();
        w.apply("the clo", &mut probs);
        let pushed: Vec<usize> = (0..12).filter(|&i| probs[i] > probs[4] * 1.5).collect();
        assert_eq!(pushed, [11]);
    }
}
