//! SEVLM training sequences: `<bos> the emotion is <emotion> because <explanation> <eos>`
//! with segment ids, shifted-label targets and per-token lexicon VAD, as the reference's
//! `artEmisXTrainDataset` builds them; and the pairing of two responses of one image with
//! different emotions that the contrastive loss needs.

use std::collections::{BTreeMap, HashMap};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::annotations::artemis::Split;
use crate::annotations::dataset::AnnotationSet;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::lexicon::VadLexicon;
pub use crate::sevlm::vocab::CompactVocab;
use crate::sevlm::vocab::{EMOTION_SEGMENT, EOS_ID, EXPLANATION_SEGMENT, PAD_ID};
use crate::tokenize::TextTokenizer;

/// Label value ignored by the language loss (PyTorch's `ignore_index`).
pub const IGNORE: i64 = -100;

/// One (image, emotion, explanation) response.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The image (painting id).
    pub image: String,
    /// The chosen emotion.
    pub emotion: Emotion,
    /// The explanation (without "because").
    pub explanation: String,
}

/// One encoded, padded sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Token ids (padded with `<pad>`).
    pub ids: Vec<u32>,
    /// Segment ids (`<emotion>` up to the emotion word, `<explanation>` from "because").
    pub segments: Vec<u32>,
    /// Language targets (label at t = token t; `IGNORE` for `<bos>` and padding).
    pub labels: Vec<i64>,
    /// Lexicon VAD of every token (0 for sub-words and specials).
    pub vad: Vec<[f32; 3]>,
    /// Tokens before padding.
    pub len: usize,
}

/// Turns text into SEVLM's token sequences (GPT-2 ids, or compact ids when the model
/// has a [`CompactVocab`]).
#[derive(Debug, Clone)]
pub struct SequenceBuilder {
    tokenizer: TextTokenizer,
    lexicon: VadLexicon,
    prompt: String,
    max_len: usize,
    vocab: Option<CompactVocab>,
}

impl SequenceBuilder {
    /// A builder with the GPT-2 tokenizer, a VAD lexicon, the prompt ("the emotion is")
    /// and the padded length.
    pub fn new(
        tokenizer: TextTokenizer,
        lexicon: VadLexicon,
        prompt: &str,
        max_len: usize,
    ) -> Self {
        SequenceBuilder {
            tokenizer,
            lexicon,
            prompt: prompt.to_string(),
            max_len,
            vocab: None,
        }
    }

    /// Uses a compact vocabulary (model ids become positions in it).
    pub fn with_vocab(mut self, vocab: Option<CompactVocab>) -> Self {
        self.vocab = vocab;
        self
    }

    /// The compact vocabulary, if any.
    pub fn vocab(&self) -> Option<&CompactVocab> {
        self.vocab.as_ref()
    }

    /// The GPT-2 id of a model id.
    pub fn to_gpt2(&self, id: u32) -> u32 {
        match &self.vocab {
            Some(v) => v.to_gpt2.get(id as usize).copied().unwrap_or(EOS_ID),
            None => id,
        }
    }

    /// The model id of a GPT-2 id (an error for a token outside the compact vocabulary).
    pub fn to_model(&self, gpt2: u32) -> Result<u32> {
        match &self.vocab {
            Some(v) => v.to_model.get(&gpt2).copied().ok_or_else(|| {
                Error::Invalid(format!(
                    "token {:?} (GPT-2 id {gpt2}) is not in this model's vocabulary",
                    self.tokenizer.id_to_token(gpt2).unwrap_or_default()
                ))
            }),
            None => Ok(gpt2),
        }
    }

    fn map_all(&self, ids: Vec<u32>) -> Result<Vec<u32>> {
        ids.into_iter().map(|i| self.to_model(i)).collect()
    }

    /// Model id of `<|endoftext|>` (`<bos>`/`<eos>`).
    pub fn eos(&self) -> u32 {
        self.to_model(EOS_ID).unwrap_or(EOS_ID)
    }

    /// Model id of `<pad>`.
    pub fn pad(&self) -> u32 {
        self.to_model(PAD_ID).unwrap_or(PAD_ID)
    }

    /// Model id of the `<emotion>` segment token.
    pub fn emotion_segment(&self) -> u32 {
        self.to_model(EMOTION_SEGMENT).unwrap_or(EMOTION_SEGMENT)
    }

    /// Model id of the `<explanation>` segment token.
    pub fn explanation_segment(&self) -> u32 {
        self.to_model(EXPLANATION_SEGMENT)
            .unwrap_or(EXPLANATION_SEGMENT)
    }

    /// True for the end token and the four added specials (generation stops there).
    pub fn is_special(&self, id: u32) -> bool {
        self.to_gpt2(id) >= EOS_ID
    }

    /// Text of model ids (specials skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let g: Vec<u32> = ids
            .iter()
            .map(|&i| self.to_gpt2(i))
            .filter(|&i| i < EOS_ID)
            .collect();
        self.tokenizer.decode(&g)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The lexicon.
    pub fn lexicon(&self) -> &VadLexicon {
        &self.lexicon
    }

    /// The padded length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Lexicon VAD of one token id: the token string without `Ġ`, normalised and
    /// lemmatised by the lexicon; special tokens and unknown pieces give `None`.
    pub fn token_vad(&self, id: u32) -> Option<[f32; 3]> {
        let id = self.to_gpt2(id);
        if id >= EOS_ID {
            return None;
        }
        let tok = self.tokenizer.id_to_token(id)?;
        self.lexicon.lookup(&tok).map(|v| v.to_array())
    }

    /// `<bos>` + prompt tokens: the start of generation (all in the `<emotion>` segment).
    pub fn prompt_ids(&self) -> Result<Vec<u32>> {
        let mut ids = vec![EOS_ID];
        ids.extend(self.tokenizer.encode(&self.prompt)?);
        self.map_all(ids)
    }

    /// Model ids of `text` without specials.
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        self.map_all(self.tokenizer.encode(text)?)
    }

    /// The ids of `<bos> prompt emotion` (the emotion segment).
    pub fn emotion_ids(&self, emotion: Emotion) -> Result<Vec<u32>> {
        let mut ids = vec![EOS_ID];
        ids.extend(
            self.tokenizer
                .encode(&format!("{} {}", self.prompt, emotion.name()))?,
        );
        self.map_all(ids)
    }

    /// Encodes a full training sequence, truncated to and padded to `max_len`.
    pub fn encode(&self, emotion: Emotion, explanation: &str) -> Result<Encoded> {
        let emo = self.emotion_ids(emotion)?;
        let mut exp = self.encode_text(&format!(" because {}", explanation.trim()))?;
        exp.push(self.eos());
        let mut ids: Vec<u32> = emo.iter().chain(exp.iter()).copied().collect();
        let (es, xs) = (self.emotion_segment(), self.explanation_segment());
        let mut segments: Vec<u32> = std::iter::repeat_n(es, emo.len())
            .chain(std::iter::repeat_n(xs, exp.len()))
            .collect();
        let mut labels: Vec<i64> = std::iter::once(IGNORE)
            .chain(ids[1..].iter().map(|&i| i as i64))
            .collect();
        ids.truncate(self.max_len);
        segments.truncate(self.max_len);
        labels.truncate(self.max_len);
        let len = ids.len();
        let pad = self.max_len - len;
        ids.extend(std::iter::repeat_n(self.pad(), pad));
        segments.extend(std::iter::repeat_n(xs, pad));
        labels.extend(std::iter::repeat_n(IGNORE, pad));
        let vad = ids
            .iter()
            .map(|&i| self.token_vad(i).unwrap_or([0.0; 3]))
            .collect();
        Ok(Encoded {
            ids,
            segments,
            labels,
            vad,
            len,
        })
    }
}

/// Pairs of responses to the same image with different emotions, as the reference's
/// training items: for every image with at least two distinct emotions, each response is
/// paired with a response of another emotion (chosen by `seed`). Images with a single
/// distinct emotion are left out, as in the reference.
pub fn make_pairs(examples: &[Example], seed: u64) -> Vec<(usize, usize)> {
    let mut by_image: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        by_image.entry(e.image.as_str()).or_default().push(i);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pairs = Vec::new();
    for idx in by_image.values() {
        for &a in idx {
            let others: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&b| examples[b].emotion != examples[a].emotion)
                .collect();
            if let Some(&b) = others.choose(&mut rng) {
                pairs.push((a, b));
            }
        }
    }
    pairs
}

/// A derangement of `0..n` (no fixed point) drawn from `rng`: the "another image"
/// negatives. `n` must be at least 2.
pub fn derangement(n: usize, rng: &mut impl rand::Rng) -> Result<Vec<usize>> {
    if n < 2 {
        return Err(Error::Invalid(
            "the contrastive loss needs at least 2 image pairs per batch".into(),
        ));
    }
    // Sattolo's algorithm: a uniformly random cyclic permutation, which has no fixed point.
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..i);
        p.swap(i, j);
    }
    Ok(p)
}

/// The responses of an annotation set by split (train, val, test), as SEVLM examples.
pub fn annotation_examples(set: &AnnotationSet) -> [Vec<Example>; 3] {
    let mut out: [Vec<Example>; 3] = Default::default();
    for r in &set.rows {
        let slot = match set.splits.get(&r.painting) {
            Some(Split::Train) => 0,
            Some(Split::Val) => 1,
            Some(Split::Test) => 2,
            _ => continue,
        };
        out[slot].push(Example {
            image: r.painting.clone(),
            emotion: r.emotion,
            explanation: r.utterance.clone(),
        });
    }
    out
}

/// The compact vocabulary: every GPT-2 token of the prompt, the emotion words, "because"
/// and the `always` texts, plus the tokens seen at least `min_count` times in `extra`.
pub fn build_vocab(
    seq: &SequenceBuilder,
    always: &[Example],
    extra: &[Example],
    min_count: usize,
) -> Result<CompactVocab> {
    let tok = seq.tokenizer();
    let mut kept: Vec<u32> = Vec::new();
    for e in Emotion::ALL {
        kept.extend(tok.encode(&format!("{} {} because", "the emotion is", e.name()))?);
    }
    for ex in always {
        kept.extend(tok.encode(&format!(" because {}", ex.explanation.trim()))?);
    }
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for ex in extra {
        for id in tok.encode(&format!(" because {}", ex.explanation.trim()))? {
            *counts.entry(id).or_default() += 1;
        }
    }
    kept.extend(
        counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count)
            .map(|(i, _)| i),
    );
    Ok(CompactVocab::new(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::{LexiconFormat, VadLexicon};
    use std::path::Path;

    pub(crate) fn builder(max_len: usize) -> SequenceBuilder {
        let assets = crate::find_assets().expect("assets");
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let lex = VadLexicon::parse(
            "term\tvalence\tarousal\tdominance\nsad\t-0.75\t-0.5\t-0.5\ncolor\t0.25\t0.5\t-0.25\ndark\t-0.5\t-0.25\t-0.75\n",
            Path::new("test-lexicon.tsv"),
            LexiconFormat::NrcV2,
        )
        .unwrap();
        SequenceBuilder::new(tok, lex, "the emotion is", max_len)
    }

    #[test]
    fn sequence_layout_matches_the_reference() {
        let b = builder(30);
        let e = b.encode(Emotion::Sadness, "the colors are dark").unwrap();
        let toks: Vec<String> = e.ids[..e.len]
            .iter()
            .map(|&i| b.tokenizer().id_to_token(i).unwrap())
            .collect();
        assert_eq!(
            toks,
            vec![
                "<|endoftext|>",
                "the",
                "Ġemotion",
                "Ġis",
                "Ġsadness",
                "Ġbecause",
                "Ġthe",
                "Ġcolors",
                "Ġare",
                "Ġdark",
                "<|endoftext|>"
            ]
        );
        // Emotion segment up to the emotion word, explanation from "because" on.
        assert_eq!(&e.segments[..5], &[EMOTION_SEGMENT; 5]);
        assert!(e.segments[5..].iter().all(|&s| s == EXPLANATION_SEGMENT));
        assert_eq!(e.labels[0], IGNORE);
        assert_eq!(e.labels[1], e.ids[1] as i64);
        assert!(e.labels[e.len..].iter().all(|&l| l == IGNORE));
        assert!(e.ids[e.len..].iter().all(|&i| i == PAD_ID));
        assert_eq!(e.ids.len(), 30);
        // "colors" lemmatises to "color"; "dark" is exact; "the" is unknown; specials are 0.
        assert_eq!(e.vad[7], [0.25, 0.5, -0.25]);
        assert_eq!(e.vad[9], [-0.5, -0.25, -0.75]);
        assert_eq!(e.vad[6], [0.0; 3]);
        assert_eq!(e.vad[10], [0.0; 3]);
        // Truncation keeps the padded length.
        let long = b.encode(Emotion::Awe, &"very ".repeat(40)).unwrap();
        assert_eq!(long.len, 30);
        assert_eq!(long.ids.len(), 30);
    }

    #[test]
    fn compact_vocabulary_maps_both_ways() {
        let full = builder(30);
        let e = full
            .encode(Emotion::Sadness, "the colors are dark")
            .unwrap();
        let vocab = CompactVocab::new(e.ids[..e.len].iter().copied());
        // 9 distinct ordinary tokens + the 5 specials.
        assert_eq!(vocab.len(), 14);
        let b = builder(30).with_vocab(Some(vocab));
        let c = b.encode(Emotion::Sadness, "the colors are dark").unwrap();
        assert!(c.ids.iter().all(|&i| (i as usize) < 14));
        let back: Vec<u32> = c.ids.iter().map(|&i| b.to_gpt2(i)).collect();
        assert_eq!(back, e.ids);
        assert_eq!(c.vad, e.vad);
        assert_eq!(b.decode(&c.ids).unwrap(), full.decode(&e.ids).unwrap());
        assert!(b.is_special(b.pad()) && !b.is_special(c.ids[1]));
        let err = b.encode(Emotion::Awe, "zebra").unwrap_err().to_string();
        assert!(err.contains("not in this model's vocabulary"), "{err}");
    }

    #[test]
    fn pairs_have_different_emotions_and_skip_single_emotion_images() {
        let ex = |img: &str, e| Example {
            image: img.into(),
            emotion: e,
            explanation: "x".into(),
        };
        let data = vec![
            ex("a", Emotion::Awe),
            ex("a", Emotion::Fear),
            ex("a", Emotion::Awe),
            ex("b", Emotion::Sadness),
            ex("b", Emotion::Sadness),
        ];
        let pairs = make_pairs(&data, 7);
        assert_eq!(pairs.len(), 3);
        for (a, b) in pairs {
            assert_eq!(data[a].image, data[b].image);
            assert_ne!(data[a].emotion, data[b].emotion);
        }
        assert_eq!(make_pairs(&data, 7), make_pairs(&data, 7));
    }

    #[test]
    fn derangements_have_no_fixed_point() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in 2..12 {
            let p = derangement(n, &mut rng).unwrap();
            let mut s = p.clone();
            s.sort();
            assert_eq!(s, (0..n).collect::<Vec<_>>());
            assert!(p.iter().enumerate().all(|(i, &j)| i != j));
        }
        assert!(derangement(1, &mut rng).is_err());
    }
}
