//! Known-word decoding for small decoders trained from scratch (the demo kit): a decoder
//! that writes GPT-2 sub-word pieces joins them into non-words ("red" + "ing" =
//! "reding"); with a word list, a piece may only be picked where the word it extends is
//! still the beginning of a known word, and a word may only end (a space, punctuation, the
//! end token) where it is a known word. The list is the words of the model's own training
//! texts, shipped beside it as `words.txt` (one lower-case word per line).
//!
//! Words are runs of letters and apostrophes, compared in lower case; pieces with other
//! characters (punctuation, digits) end the word before them. A piece that is only part
//! of a character (GPT-2 writes the typographic apostrophe "’" as two byte-level pieces,
//! each decoding to U+FFFD alone) is never allowed: the word it would join cannot be
//! checked, and letting it through wrote "I’s". Nor may a piece with a capital letter and
//! no leading space continue a word: compared in lower case, "chelse" + "A" passed as
//! "chelsea" and sampling wrote "chelseA" (such a piece still starts the text: "The").
//! The mask only removes candidates: where
//! it would remove every one, the step is left as it was.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Error, Result};

/// The file beside a model that holds its known words.
pub const WORDS_FILE: &str = "words.txt";

/// What a vocabulary entry does to the word being written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Starts a new word (a leading space): its letters, lower case.
    Starts(String),
    /// Continues the current word (no leading space): its letters, lower case.
    Continues(String),
    /// Anything else (punctuation, digits, a lone space, special tokens): ends the word.
    Ends,
    /// Part of a multi-byte character (decodes to U+FFFD on its own): never allowed.
    Fragment,
    /// Holds a capital letter but no leading space ("The", "A"): it may start a word
    /// where none is being written (the text's start, after punctuation), never continue
    /// one, since the list cannot tell "chelseA" from "chelsea". Its letters, lower case.
    Capital(String),
}

fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c == '\'' || c == '\u{2019}'
}

fn piece(text: &str) -> Piece {
    if text.contains(char::REPLACEMENT_CHARACTER) {
        return Piece::Fragment;
    }
    let (spaced, rest) = match text.strip_prefix(' ') {
        Some(r) => (true, r),
        None => (false, text),
    };
    if rest.is_empty() || !rest.chars().all(is_word_char) {
        return Piece::Ends;
    }
    let lower = rest.to_lowercase();
    if spaced {
        Piece::Starts(lower)
    } else if lower != rest {
        Piece::Capital(lower)
    } else {
        Piece::Continues(lower)
    }
}

/// The lower-case words of `text` (runs of letters and apostrophes).
pub fn words_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A word list and a vocabulary's pieces, ready to mask decoding steps.
#[derive(Debug, Clone)]
pub struct KnownWords {
    words: HashSet<String>,
    prefixes: HashSet<String>,
    pieces: Vec<Piece>,
    /// Per entry, after a complete word: a piece that starts a word whose letters begin
    /// a known word, or one that ends the word.
    starts_ok: Vec<bool>,
    /// The continuing pieces by their first letter (a word's next letter must be one a
    /// known word has there, so a step looks at few of them).
    continues_by_first: std::collections::HashMap<char, Vec<usize>>,
    /// The [`Piece::Capital`] entries that begin a known word.
    capital_starts: Vec<usize>,
}

impl KnownWords {
    /// `words` (any case) over a vocabulary whose entry `i` decodes to `token_texts[i]`.
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>, token_texts: &[String]) -> Self {
        let words: HashSet<String> = words
            .into_iter()
            .map(|w| w.as_ref().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        let mut prefixes = HashSet::new();
        for w in &words {
            for (i, _) in w.char_indices().skip(1) {
                prefixes.insert(w[..i].to_string());
            }
            prefixes.insert(w.clone());
        }
        let pieces: Vec<Piece> = token_texts.iter().map(|t| piece(t)).collect();
        let starts_ok = pieces
            .iter()
            .map(|p| match p {
                Piece::Starts(core) => prefixes.contains(core),
                Piece::Continues(_) | Piece::Fragment | Piece::Capital(_) => false,
                Piece::Ends => true,
            })
            .collect();
        let mut continues_by_first: std::collections::HashMap<char, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, p) in pieces.iter().enumerate() {
            if let Piece::Continues(core) = p {
                if let Some(c) = core.chars().next() {
                    continues_by_first.entry(c).or_default().push(i);
                }
            }
        }
        let capital_starts = pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p, Piece::Capital(core) if prefixes.contains(core)))
            .map(|(i, _)| i)
            .collect();
        KnownWords {
            words,
            prefixes,
            pieces,
            starts_ok,
            continues_by_first,
            capital_starts,
        }
    }

    /// Reads `path` (one word per line; blank lines are skipped): a line that is not one
    /// word is an error naming the file and the line.
    pub fn load(path: &Path, token_texts: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut words = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let w = line.trim();
            if w.is_empty() {
                continue;
            }
            if !w.chars().all(is_word_char) {
                return Err(Error::Invalid(format!(
                    "{} line {}: {w:?} is not one word (letters and apostrophes only)",
                    path.display(),
                    n + 1
                )));
            }
            words.push(w.to_string());
        }
        if words.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: no words (one word per line expected)",
                path.display()
            )));
        }
        Ok(Self::new(words, token_texts))
    }

    /// Writes `words` (sorted, lower case, one per line) to `path` atomically.
    pub fn write(path: &Path, words: &HashSet<String>) -> Result<()> {
        let mut sorted: Vec<&String> = words.iter().collect();
        sorted.sort();
        let mut text = String::new();
        for w in sorted {
            text.push_str(w);
            text.push('\n');
        }
        crate::error::write_atomic(path, text.as_bytes())
    }

    /// How many words it knows.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it knows no word.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether `word` (any case) is known.
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(&word.to_lowercase())
    }

    /// The word being written at the end of `text`, lower case ("" after a space or
    /// punctuation).
    pub fn partial(text: &str) -> String {
        let tail: String = text
            .chars()
            .rev()
            .take_while(|&c| is_word_char(c))
            .collect();
        tail.chars().rev().collect::<String>().to_lowercase()
    }

    /// Whether vocabulary entry `token` may follow a text whose current word is
    /// `partial` (see [`KnownWords::partial`]). Entries outside the vocabulary end words.
    pub fn allowed(&self, partial: &str, token: usize) -> bool {
        let complete = partial.is_empty() || self.words.contains(partial);
        match self.pieces.get(token).unwrap_or(&Piece::Ends) {
            Piece::Starts(core) => complete && self.prefixes.contains(core),
            Piece::Continues(core) => {
                let mut w = String::with_capacity(partial.len() + core.len());
                w.push_str(partial);
                w.push_str(core);
                self.prefixes.contains(&w)
            }
            Piece::Capital(core) => partial.is_empty() && self.prefixes.contains(core),
            Piece::Ends => complete,
            Piece::Fragment => false,
        }
    }

    /// [`allowed`](Self::allowed) for every vocabulary entry at once (the decoding step's
    /// mask): the pieces that start or end a word depend only on whether `partial` is
    /// complete, and only continuing pieces whose first letter can extend `partial` are
    /// looked up.
    pub fn allowed_all(&self, partial: &str) -> Vec<bool> {
        let complete = partial.is_empty() || self.words.contains(partial);
        // After a complete word: every piece that may start a word or end one; else none.
        let mut out = if complete {
            self.starts_ok.clone()
        } else {
            vec![false; self.pieces.len()]
        };
        if partial.is_empty() {
            // A capital glued to the text's start or to punctuation starts a word.
            for &t in &self.capital_starts {
                out[t] = true;
            }
        }
        let mut buf = String::with_capacity(partial.len() + 16);
        for (c, tokens) in &self.continues_by_first {
            buf.clear();
            buf.push_str(partial);
            buf.push(*c);
            if !self.prefixes.contains(buf.as_str()) {
                continue;
            }
            for &t in tokens {
                if let Some(Piece::Continues(core)) = self.pieces.get(t) {
                    buf.clear();
                    buf.push_str(partial);
                    buf.push_str(core);
                    out[t] = self.prefixes.contains(buf.as_str());
                }
            }
        }
        out
    }

    /// The current word after `token` follows a text whose current word is `partial`.
    pub fn advance(&self, partial: &str, token: usize) -> String {
        match self.pieces.get(token).unwrap_or(&Piece::Ends) {
            Piece::Starts(core) => core.clone(),
            Piece::Continues(core) => format!("{partial}{core}"),
            Piece::Capital(core) if partial.is_empty() => core.clone(),
            Piece::Ends | Piece::Fragment | Piece::Capital(_) => String::new(),
        }
    }

    /// Sets every logit not [`allowed`](Self::allowed) after `partial` to minus infinity;
    /// leaves `logits` as they were (and returns false) where that would remove
    /// everything.
    pub fn mask_logits(&self, partial: &str, logits: &mut [f32]) -> bool {
        let mut keep = self.allowed_all(partial);
        // Entries beyond the vocabulary end words.
        let complete = partial.is_empty() || self.words.contains(partial);
        keep.resize(logits.len(), complete);
        if !keep
            .iter()
            .zip(logits.iter())
            .any(|(k, l)| *k && l.is_finite())
        {
            return false;
        }
        for (l, k) in logits.iter_mut().zip(&keep) {
            if !*k {
                *l = f32::NEG_INFINITY;
            }
        }
        true
    }

    /// Zeroes the probability of every entry not [`allowed`](Self::allowed) after
    /// `partial` and renormalises; leaves `probs` as it was (and returns false) where
    /// that would remove everything.
    pub fn mask(&self, partial: &str, probs: &mut [f32]) -> bool {
        let mut keep = self.allowed_all(partial);
        let complete = partial.is_empty() || self.words.contains(partial);
        keep.resize(probs.len(), complete);
        for (k, p) in keep.iter_mut().zip(probs.iter()) {
            *k = *k && *p > 0.0;
        }
        let total: f32 = probs
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p)
            .sum();
        if total <= 1e-12 {
            return false;
        }
        for (p, k) in probs.iter_mut().zip(&keep) {
            *p = if *k { *p / total } else { 0.0 };
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vec<String> {
        [
            " red", "ing", " gold", "en", ",", "-", " the", " sky", "'s", " baby", "<|end|>", "y",
            "EN", "The",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn kw() -> KnownWords {
        KnownWords::new(
            ["red", "golden", "gold", "the", "sky", "baby", "baby's"],
            &vocab(),
        )
    }

    #[test]
    fn pieces_are_classified_by_space_and_letters() {
        assert_eq!(piece(" red"), Piece::Starts("red".into()));
        assert_eq!(piece("ing"), Piece::Continues("ing".into()));
        assert_eq!(piece("ING"), Piece::Capital("ing".into()));
        assert_eq!(piece("The"), Piece::Capital("the".into()));
        assert_eq!(piece(" A"), Piece::Starts("a".into()));
        assert_eq!(piece("'s"), Piece::Continues("'s".into()));
        assert_eq!(piece(","), Piece::Ends);
        assert_eq!(piece(" "), Piece::Ends);
        assert_eq!(piece(" 19"), Piece::Ends);
        assert_eq!(piece("<|end|>"), Piece::Ends);
        assert_eq!(piece("\u{FFFD}"), Piece::Fragment);
        assert_eq!(piece(" \u{FFFD}"), Piece::Fragment);
    }

    /// The bug behind "I’s" in an EmoSEM experiment (`docs/emosem.md`): GPT-2 writes "’"
    /// as two byte-level pieces that each decode to U+FFFD, which were taken for word
    /// ends, so "I" + "’" + "s" passed although "i’s" is no word. They are never allowed
    /// now, whatever the word list holds.
    #[test]
    fn pieces_of_a_multi_byte_character_are_never_allowed() {
        let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let tok = crate::tokenize::TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let texts: Vec<String> = (0..tok.vocab_size() as u32)
            .map(|i| tok.decode(&[i]).unwrap())
            .collect();
        let k = KnownWords::new(["i", "it’s", "it's", "s"], &texts);
        let ids = tok.encode("I’s").unwrap();
        assert!(ids.len() >= 4, "{ids:?}");
        let apostrophe = &ids[1..ids.len() - 1];
        for &t in apostrophe {
            assert_eq!(piece(&texts[t as usize]), Piece::Fragment, "{t}");
            for partial in ["", "i", "it"] {
                assert!(!k.allowed(partial, t as usize), "{t} after {partial:?}");
                assert!(!k.allowed_all(partial)[t as usize]);
            }
        }
        // The ASCII apostrophe still joins a known word.
        let ascii = tok.encode(" it's").unwrap();
        let mut partial = String::new();
        for &t in &ascii {
            assert!(k.allowed(&partial, t as usize), "{t} after {partial:?}");
            partial = k.advance(&partial, t as usize);
        }
        assert_eq!(partial, "it's");
    }

    #[test]
    fn partial_is_the_trailing_word() {
        let cases = [
            ("The bright red", "red"),
            ("The bright red ", ""),
            ("red-", ""),
            ("The Baby's", "baby's"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(KnownWords::partial(text), want, "{text:?}");
        }
    }

    #[test]
    fn allowed_table() {
        let k = kw();
        let id = |t: &str| vocab().iter().position(|v| v == t).unwrap();
        // (partial, token, allowed)
        let cases = [
            ("", " red", true),
            ("red", "ing", false),  // "reding" is no word
            ("gold", "en", true),   // "golden" is
            ("gold", "EN", false),  // "goldEN" is not, though its lower case is
            ("", "The", true),      // a capital starts a word at the text's start ...
            ("red", "The", false),  // ... but never continues one ("redThe")
            ("", "EN", false),      // "en" starts no known word
            ("gold", " sky", true), // "gold" is complete
            ("gol", " sky", false), // "gol" is not
            ("gol", ",", false),
            ("golden", ",", true),
            ("baby", "'s", true),
            ("baby", "y", false), // "babyy"
            ("", "<|end|>", true),
            ("red", "<|end|>", true),
            ("", "ing", false), // "ing" glued after punctuation
            ("", "en", false),
        ];
        for (partial, tok, want) in cases {
            assert_eq!(k.allowed(partial, id(tok)), want, "{partial:?} + {tok:?}");
        }
        // Outside the vocabulary: ends the word.
        assert!(k.allowed("red", 999));
        assert!(!k.allowed("gol", 999));
    }

    #[test]
    fn allowed_all_agrees_with_allowed() {
        let k = kw();
        for partial in [
            "", "red", "gol", "gold", "golden", "baby", "bab", "x", "sky",
        ] {
            let all = k.allowed_all(partial);
            assert_eq!(all.len(), vocab().len());
            for (t, a) in all.iter().enumerate() {
                assert_eq!(*a, k.allowed(partial, t), "{partial:?} + {:?}", vocab()[t]);
            }
        }
    }

    #[test]
    fn mask_renormalises_and_never_removes_everything() {
        let k = kw();
        let mut p = vec![0.0f32; vocab().len()];
        p[1] = 0.6; // "ing" after "red": removed
        p[2] = 0.2; // " gold"
        p[7] = 0.2; // " sky"
        assert!(k.mask("red", &mut p));
        assert_eq!(p[1], 0.0);
        assert!((p[2] - 0.5).abs() < 1e-6 && (p[7] - 0.5).abs() < 1e-6);
        let mut only_bad = vec![0.0f32; vocab().len()];
        only_bad[1] = 1.0;
        let before = only_bad.clone();
        assert!(!k.mask("red", &mut only_bad));
        assert_eq!(only_bad, before);
    }

    #[test]
    fn advance_follows_the_pieces_and_masked_logits_keep_the_allowed() {
        let k = kw();
        let id = |t: &str| vocab().iter().position(|v| v == t).unwrap();
        assert_eq!(k.advance("", id(" gold")), "gold");
        assert_eq!(k.advance("gold", id("en")), "golden");
        assert_eq!(k.advance("golden", id(",")), "");
        let mut l = vec![0.0f32; vocab().len()];
        assert!(!k.mask_logits("gol", &mut l));
        let kept: Vec<usize> = (0..l.len()).filter(|&i| l[i].is_finite()).collect();
        // After "gol" only "d" would do, and the vocabulary has no such piece; "en" makes
        // "golen", no word either: nothing is allowed, so nothing is masked.
        assert_eq!(kept.len(), l.len());
        assert!(k.mask_logits("gold", &mut l));
        assert!(!l[id("ing")].is_finite() && l[id("en")].is_finite() && l[id(",")].is_finite());
    }

    #[test]
    fn load_reads_words_and_names_a_bad_line() {
        let dir = std::env::temp_dir().join(format!("artemo-kw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("words.txt");
        let set: HashSet<String> = ["sky", "Gold", "baby's"]
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        KnownWords::write(&good, &set).unwrap();
        assert_eq!(
            std::fs::read_to_string(&good).unwrap(),
            "baby's\ngold\nsky\n"
        );
        let k = KnownWords::load(&good, &vocab()).unwrap();
        assert_eq!(k.len(), 3);
        assert!(k.contains("GOLD"));
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "sky\n\nred sky\n").unwrap();
        let e = KnownWords::load(&bad, &vocab()).unwrap_err().to_string();
        assert!(e.contains("bad.txt line 3") && e.contains("red sky"), "{e}");
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, "\n").unwrap();
        assert!(KnownWords::load(&empty, &vocab()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn words_in_splits_on_non_letters() {
        let w: Vec<String> = words_in("The baby's red-gold sky, 1890!").collect();
        assert_eq!(w, ["the", "baby's", "red", "gold", "sky"]);
    }
}
