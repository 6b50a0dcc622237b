//! SEVLM inference: the emotion distribution from the model's own probabilities of the
//! emotion words after the prompt, and decoding of "`<emotion> because <explanation>`"
//! (greedy by default, nucleus on request), token by token, parsed into emotion and
//! explanation, each token with its lexicon VAD and the VAD head's prediction.
//!
//! Decoding gives what re-running the whole sequence at every step gives, as the
//! reference does: the VAD encoder is bidirectional, so earlier fused embeddings change as
//! tokens are added and an ordinary key/value cache would not be exact. [`generate`] takes
//! the exact shortcuts of [`super::decode_cache`] (cross-attention keys and values once
//! per painting, the stable prefix cached, logits and VAD head for the last position only);
//! [`generate_reference`] keeps the full recompute, for the equality tests and the
//! benchmark. The per-token VAD follows the reference's
//! `sample_sequences` (BetterZH/SEVLM-code `artEmisX_train.py:164-248`): the first step
//! sees the prompt's VAD as the evaluation dataset builds it (training rule,
//! `utils/datasets.py:231-232`); after every generated token the VAD of the whole
//! sequence is recomputed from each token decoded alone and left-stripped
//! (`artEmisX_train.py:221-224`, [`TokenText::Inference`]). The segment switches to
//! `<explanation>` at the token `Ġbecause` itself (`artEmisX_train.py:175`, `:225-232`).

use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::nn::Mode;
use crate::sevlm::data::{SequenceBuilder, TokenText};
use crate::sevlm::decode_cache::{PaintingContext, StepDecoder};
use crate::sevlm::model::Sevlm;
use crate::text::painting_words::PaintingWords;

/// How to pick the next token (shared with EmoSEM: [`crate::text::sampling`]).
pub use crate::text::sampling::Decoding;
use crate::text::sampling::Sampler;

/// The longest answer the reference's greedy loop keeps (25 steps, the 25th dropped).
pub const REFERENCE_MAX_TOKENS: usize = 24;

/// Decoding options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecodeOptions {
    /// Greedy or nucleus.
    pub decoding: Decoding,
    /// Generated tokens at most. The reference runs 25 steps but keeps
    /// `current_outputs[1:end_idx]` with `end_idx = max_len = 25` when no end token comes
    /// (BetterZH/SEVLM-code `artEmisX_train.py:176,183,239`), so its answer has at most 24
    /// tokens: [`REFERENCE_MAX_TOKENS`].
    pub max_tokens: usize,
    /// Keep generating past end tokens (benchmarks only: measures full-length decoding).
    #[serde(default)]
    pub ignore_end: bool,
    /// Never repeat the previous token or a bigram ([`crate::text::repeats`]); off in the
    /// evaluation (the reference decodes plainly).
    #[serde(default)]
    pub block_repeats: bool,
    /// With nucleus sampling: pick the emotion words greedily and sample only the
    /// explanation, so the explanation follows the emotion the model ranks first (the
    /// demo kit's decoding; the reference samples every token).
    #[serde(default)]
    pub greedy_emotion: bool,
    /// In the explanation, only pieces that keep every word a known word of the model
    /// ([`crate::text::known_words`]; models with a `words.txt`, the demo kit's). No effect
    /// on a model without a list.
    #[serde(default = "known_words_default")]
    pub known_words: bool,
}

fn known_words_default() -> bool {
    true
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            decoding: Decoding::Greedy,
            max_tokens: REFERENCE_MAX_TOKENS,
            ignore_end: false,
            block_repeats: false,
            greedy_emotion: false,
            known_words: true,
        }
    }
}

/// One generated token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedToken {
    /// GPT-2 token id.
    pub id: u32,
    /// Its text (with its leading space, if any).
    pub text: String,
    /// Probability the model gave it.
    pub probability: f32,
    /// True from " because" on.
    pub in_explanation: bool,
    /// Lexicon VAD of the token under the inference rule (None: not in the lexicon).
    pub lexicon_vad: Option<[f32; 3]>,
    /// The VAD head's prediction for this token (made at the previous position).
    pub predicted_vad: Option<[f32; 3]>,
}

/// How the generated text split into emotion and explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ParseState {
    /// "`<emotion> because <explanation>`" with a known emotion.
    Complete,
    /// The model produced no "because": the text is shown as is, without an explanation.
    NoBecause,
    /// The words before "because" are not an ArtEmis emotion.
    UnknownEmotion {
        /// What the model wrote.
        words: String,
    },
    /// Nothing was generated (the first token ended the sequence).
    Empty,
}

/// A generated emotion + explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Everything after the prompt, as decoded.
    pub text: String,
    /// The emotion, if one was parsed.
    pub emotion: Option<Emotion>,
    /// The explanation (text after "because"), if any.
    pub explanation: Option<String>,
    /// Parsing outcome.
    pub state: ParseState,
    /// The tokens, in order.
    pub tokens: Vec<GeneratedToken>,
    /// Why generation stopped ("end token", "max tokens").
    pub stopped: String,
}

/// Parses generated text (after the prompt) into (emotion, explanation, state).
pub fn parse(text: &str) -> (Option<Emotion>, Option<String>, ParseState) {
    let t = text.trim();
    if t.is_empty() {
        return (None, None, ParseState::Empty);
    }
    let Some(pos) = find_word(t, "because") else {
        let emotion = Emotion::parse(t);
        return (emotion, None, ParseState::NoBecause);
    };
    let words = t[..pos].trim();
    let explanation = t[pos + "because".len()..].trim();
    let explanation = (!explanation.is_empty()).then(|| explanation.to_string());
    match Emotion::parse(words) {
        Some(e) => (Some(e), explanation, ParseState::Complete),
        None => (
            None,
            explanation,
            ParseState::UnknownEmotion {
                words: words.to_string(),
            },
        ),
    }
}

/// Byte offset of `word` as a whole word in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The probability of each ArtEmis label as the continuation of `<bos>` + the prompt
/// (product of the label's token probabilities, teacher-forced), normalised over the
/// nine labels. Returned in ArtEmis order with the unnormalised mass.
pub fn emotion_distribution(
    model: &Sevlm,
    seq: &SequenceBuilder,
    image: &Tensor,
) -> Result<(Vec<(Emotion, f32)>, f32)> {
    emotion_distribution_in(model, seq, &PaintingContext::new(model, image)?)
}

/// [`emotion_distribution`] over a prepared painting: the nine candidates share its
/// cross-attention keys and values, and only the positions whose probabilities are read
/// (from the last prompt token to the last label token's predecessor) go through the LM
/// head.
pub fn emotion_distribution_in(
    model: &Sevlm,
    seq: &SequenceBuilder,
    ctx: &PaintingContext,
) -> Result<(Vec<(Emotion, f32)>, f32)> {
    let (rows, ids, segs, zeros, t) = distribution_inputs(seq, ctx.device())?;
    let prompt = seq.prompt_ids()?.len();
    let first = prompt.saturating_sub(1);
    let emb = model.embeddings(&ids, &segs, Some(&zeros), Mode::Infer)?;
    let hidden = ctx.hidden(model, &emb)?;
    let read = t.saturating_sub(1).saturating_sub(first).max(1);
    let logits = model.head_logits(&hidden.narrow(1, first, read)?, first, ctx.emotion())?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec3::<f32>()?;
    Ok(distribution_from(model, &rows, prompt, |r, k, id| {
        logp[r][k - 1 - first][id]
    }))
}

/// The nine labels' rows after the prompt: (token rows, ids [9, T] padded with `<eos>`,
/// emotion segments, zero VAD [9, T, 3], T).
#[allow(clippy::type_complexity)]
fn distribution_inputs(
    seq: &SequenceBuilder,
    device: &candle_core::Device,
) -> Result<(Vec<Vec<u32>>, Tensor, Tensor, Tensor, usize)> {
    let prompt = seq.prompt_ids()?;
    let rows: Vec<Vec<u32>> = Emotion::ALL
        .iter()
        .map(|&e| seq.emotion_ids(e))
        .collect::<Result<_>>()?;
    let t = rows.iter().map(Vec::len).max().unwrap_or(prompt.len());
    let n = rows.len();
    let mut ids = Vec::with_capacity(n * t);
    for r in &rows {
        ids.extend(r.iter().copied());
        ids.extend(std::iter::repeat_n(seq.eos(), t - r.len()));
    }
    let ids = Tensor::from_vec(ids, (n, t), device)?;
    let segs = Tensor::full(seq.emotion_segment(), (n, t), device)?;
    let zeros = Tensor::zeros((n, t, 3), DType::F32, device)?;
    Ok((rows, ids, segs, zeros, t))
}

/// The normalised distribution from each row's log-probabilities `logp(row, k, id)` of
/// token `id` at position `k` (predicted at `k - 1`): each emotion word's tokens after
/// the prompt, or its first token only where the model's emotion head decides
/// ([`crate::sevlm::model::EmotionHeadConfig::decides`]; the first token fixes the word,
/// and the distribution is then the head's, as greedy decoding reads it).
fn distribution_from(
    model: &Sevlm,
    rows: &[Vec<u32>],
    prompt: usize,
    logp: impl Fn(usize, usize, usize) -> f32,
) -> (Vec<(Emotion, f32)>, f32) {
    let first_only = model
        .config()
        .emotion_head
        .as_ref()
        .is_some_and(|h| h.decides);
    let mut scores = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let mut lp = 0f32;
        let take = if first_only { 1 } else { row.len() };
        for (k, &id) in row.iter().enumerate().skip(prompt).take(take) {
            lp += logp(r, k, id as usize);
        }
        scores.push(lp.exp());
    }
    let mass: f32 = scores.iter().sum();
    let dist = Emotion::ALL
        .iter()
        .zip(&scores)
        .map(|(&e, &s)| (e, if mass > 0.0 { s / mass } else { 0.0 }))
        .collect();
    (dist, mass)
}

/// [`emotion_distribution`] by the full forward of every candidate over its own copy of
/// the image, every position through the LM head: the computation before issue 22, kept
/// for the equality tests and the benchmark.
pub fn emotion_distribution_reference(
    model: &Sevlm,
    seq: &SequenceBuilder,
    image: &Tensor,
) -> Result<(Vec<(Emotion, f32)>, f32)> {
    let (rows, ids, segs, zeros, _) = distribution_inputs(seq, image.device())?;
    let n = rows.len();
    let img = image
        .broadcast_as((n, image.dim(1)?, image.dim(2)?))?
        .contiguous()?;
    let out = model.forward(&ids, &segs, Some(&zeros), &img, Mode::Infer)?;
    let logp = candle_nn::ops::log_softmax(&out.logits, D::Minus1)?.to_vec3::<f32>()?;
    let prompt = seq.prompt_ids()?.len();
    Ok(distribution_from(model, &rows, prompt, |r, k, id| {
        logp[r][k - 1][id]
    }))
}

/// Lower-case words of a text (letters, digits, apostrophes).
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Repeat blocking by words, on top of the token rule of [`crate::text::repeats`]: a
/// token that starts a new word is blocked when that word repeats the previous word or
/// would complete a word bigram already written, case and punctuation aside ("The soft
/// ... the soft", "calm, calm"). Only the 64 most probable tokens are looked at; blocked
/// ones get probability 0 and the rest is renormalised (left as is if all are blocked).
pub(crate) fn block_word_repeats(
    seq: &SequenceBuilder,
    generated: &[u32],
    probs: &mut [f32],
) -> Result<()> {
    let words = words_of(&seq.decode(generated)?);
    let Some(last) = words.last() else {
        return Ok(());
    };
    let mut banned: std::collections::HashSet<&str> = words
        .windows(2)
        .filter(|w| &w[0] == last)
        .map(|w| w[1].as_str())
        .collect();
    banned.insert(last.as_str());
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut removed = 0f32;
    let mut blocked = Vec::new();
    for &i in order.iter().take(64) {
        let Ok(text) = seq.decode(&[i as u32]) else {
            continue;
        };
        if !text.starts_with(' ') {
            continue;
        }
        if let Some(w) = words_of(&text).first() {
            if banned.contains(w.as_str()) {
                removed += probs[i];
                blocked.push(i);
            }
        }
    }
    let rest = probs.iter().sum::<f32>() - removed;
    if blocked.is_empty() || rest <= 1e-12 {
        return Ok(());
    }
    for i in blocked {
        probs[i] = 0.0;
    }
    probs.iter_mut().for_each(|p| *p /= rest);
    Ok(())
}

/// Generates "`<emotion> because <explanation>`" for one image's grid features
/// [1, N, encoder_dim]. `on_token` sees every token as it is produced; a cancelled
/// `progress` stops between tokens with `Error::Cancelled`.
pub fn generate(
    model: &Sevlm,
    seq: &SequenceBuilder,
    image: &Tensor,
    opts: &DecodeOptions,
    on_token: impl FnMut(&GeneratedToken),
    progress: &dyn crate::progress::Progress,
) -> Result<Generation> {
    let ctx = PaintingContext::new(model, image)?;
    generate_in(model, seq, &ctx, opts, on_token, progress)
}

/// [`generate`] over a prepared painting (shared with [`emotion_distribution_in`]).
pub fn generate_in(
    model: &Sevlm,
    seq: &SequenceBuilder,
    ctx: &PaintingContext,
    opts: &DecodeOptions,
    on_token: impl FnMut(&GeneratedToken),
    progress: &dyn crate::progress::Progress,
) -> Result<Generation> {
    generate_grounded_in(model, seq, ctx, opts, None, on_token, progress)
}

/// [`generate_in`] with the explanation nudged towards the painting's title words
/// ([`crate::text::painting_words`]; `None`: plain [`generate_in`]).
pub fn generate_grounded_in(
    model: &Sevlm,
    seq: &SequenceBuilder,
    ctx: &PaintingContext,
    opts: &DecodeOptions,
    words: Option<&PaintingWords>,
    on_token: impl FnMut(&GeneratedToken),
    progress: &dyn crate::progress::Progress,
) -> Result<Generation> {
    let forward = Forward::Cached(StepDecoder::new(model, ctx));
    decode(
        model,
        seq,
        forward,
        ctx.device(),
        opts,
        words,
        on_token,
        progress,
    )
}

/// The painting words of `title` for `model` (its `painting_word_bias`, its word list),
/// or `None` where the model pushes none (bias 0, no title, no content word).
pub fn painting_words(
    model: &Sevlm,
    seq: &SequenceBuilder,
    title: Option<&str>,
) -> Result<Option<PaintingWords>> {
    let bias = model.config().painting_word_bias;
    let Some(title) = title.filter(|_| bias > 0.0) else {
        return Ok(None);
    };
    // A spelling with a piece a compact vocabulary lacks cannot be written: no push.
    let pieces = |t: &str| -> Result<Vec<(u32, String)>> {
        let mut out = Vec::new();
        for g in seq.tokenizer().encode(t)? {
            let Ok(id) = seq.to_model(g) else {
                return Ok(Vec::new());
            };
            out.push((id, seq.decode(&[id])?));
        }
        Ok(out)
    };
    let words = PaintingWords::new(title, bias, seq.known_words(), pieces)?;
    Ok((!words.is_empty()).then_some(words))
}

/// [`generate`] by the full forward at every step, every position through the LM head
/// and the cross-attention keys and values recomputed (the reference's procedure,
/// `artEmisX_train.py:189-211`; Artemo's decoding before issue 22): the same tokens,
/// kept for the equality tests and the benchmark.
pub fn generate_reference(
    model: &Sevlm,
    seq: &SequenceBuilder,
    image: &Tensor,
    opts: &DecodeOptions,
    on_token: impl FnMut(&GeneratedToken),
    progress: &dyn crate::progress::Progress,
) -> Result<Generation> {
    if image.dims().len() != 3 || image.dim(0)? != 1 {
        return Err(Error::Invalid(format!(
            "SEVLM generate: expected image features [1, N, D], got {:?}",
            image.dims()
        )));
    }
    let forward = Forward::Full(image);
    decode(
        model,
        seq,
        forward,
        image.device(),
        opts,
        None,
        on_token,
        progress,
    )
}

/// How a decoding step runs the model.
enum Forward<'a> {
    /// The full forward over the image features.
    Full(&'a Tensor),
    /// The exact shortcuts of [`super::decode_cache`].
    Cached(StepDecoder<'a>),
}

/// The last position's logits `[V]` and the VAD head's prediction there (computed only
/// when read).
enum StepOut {
    Full { logits: Tensor, vad: Option<Tensor> },
    Cached(crate::sevlm::decode_cache::Step),
}

impl StepOut {
    fn logits(&self) -> &Tensor {
        match self {
            StepOut::Full { logits, .. } => logits,
            StepOut::Cached(s) => &s.logits,
        }
    }

    fn predicted_vad(&self, model: &Sevlm) -> Result<Option<[f32; 3]>> {
        match self {
            StepOut::Full { vad: Some(v), .. } => match v.to_vec1::<f32>()?.as_slice() {
                [a, b, c] => Ok(Some([*a, *b, *c])),
                row => Err(Error::Invalid(format!(
                    "SEVLM VAD head: {} values, expected 3",
                    row.len()
                ))),
            },
            StepOut::Full { vad: None, .. } => Ok(None),
            StepOut::Cached(s) => s.predicted_vad(model),
        }
    }
}

impl Forward<'_> {
    fn step(
        &mut self,
        model: &Sevlm,
        ids: &Tensor,
        segs: &Tensor,
        vad: &Tensor,
    ) -> Result<StepOut> {
        let t = ids.dim(1)?;
        match self {
            Forward::Full(image) => {
                let out = model.forward(ids, segs, Some(vad), image, Mode::Infer)?;
                let vad = match &out.vad {
                    Some(v) => Some(v.get(0)?.get(t - 1)?),
                    None => None,
                };
                Ok(StepOut::Full {
                    logits: out.logits.get(0)?.get(t - 1)?,
                    vad,
                })
            }
            Forward::Cached(dec) => Ok(StepOut::Cached(dec.step(ids, segs, Some(vad))?)),
        }
    }
}

/// The decoding loop shared by [`generate`] and [`generate_reference`].
#[allow(clippy::too_many_arguments)]
fn decode(
    model: &Sevlm,
    seq: &SequenceBuilder,
    mut forward: Forward<'_>,
    device: &candle_core::Device,
    opts: &DecodeOptions,
    words: Option<&PaintingWords>,
    mut on_token: impl FnMut(&GeneratedToken),
    progress: &dyn crate::progress::Progress,
) -> Result<Generation> {
    let mut ids = seq.prompt_ids()?;
    let mut segs = vec![seq.emotion_segment(); ids.len()];
    // `tokenizer.convert_tokens_to_ids('Ġbecause')` (artEmisX_train.py:175).
    let because = seq.tokenizer().token_to_id("Ġbecause");
    let mut vad_rule = TokenText::Training;
    let mut in_exp = false;
    // The explanation so far, for the known-word mask.
    let mut exp_text = String::new();
    let mut sampler = Sampler::new(opts.decoding, 0);
    let max_pos = model
        .config()
        .decoder
        .n_positions
        .min(if model.config().use_vad {
            model.config().vad_encoder.max_positions
        } else {
            usize::MAX
        });
    let mut tokens = Vec::new();
    let mut stopped = "max tokens".to_string();
    for _ in 0..opts.max_tokens {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        if ids.len() >= max_pos {
            stopped = "model length".into();
            break;
        }
        let t = ids.len();
        let vad: Vec<f32> = seq
            .sequence_vad(&ids, vad_rule)
            .into_iter()
            .flatten()
            .collect();
        vad_rule = TokenText::Inference;
        let id_t = Tensor::from_vec(ids.clone(), (1, t), device)?;
        let seg_t = Tensor::from_vec(segs.clone(), (1, t), device)?;
        let vad_t = Tensor::from_vec(vad, (1, t, 3), device)?;
        let out = forward.step(model, &id_t, &seg_t, &vad_t)?;
        let mut logits = out.logits().clone();
        if let Decoding::Nucleus { temperature, .. } = opts.decoding {
            logits = (logits / temperature.max(1e-4) as f64)?;
        }
        let mut probs = candle_nn::ops::softmax_last_dim(&logits)?.to_vec1::<f32>()?;
        let generated: Vec<u32> = tokens.iter().map(|t: &GeneratedToken| t.id).collect();
        if opts.block_repeats {
            block_word_repeats(seq, &generated, &mut probs)?;
        }
        if let (true, true, Some(known)) = (in_exp, opts.known_words, seq.known_words()) {
            known.mask(
                &crate::text::known_words::KnownWords::partial(&exp_text),
                &mut probs,
            );
        }
        if let (true, Some(words)) = (in_exp, words) {
            words.apply(&exp_text, &mut probs);
        }
        let next = if opts.greedy_emotion && !in_exp {
            Sampler::new(Decoding::Greedy, 0).pick(&probs, &generated, opts.block_repeats)
        } else {
            sampler.pick(&probs, &generated, opts.block_repeats)
        };
        let next = if seq.is_special(next) && opts.ignore_end {
            // Benchmarks: take the best ordinary token instead.
            if opts.block_repeats {
                crate::text::repeats::best_unblocked(&probs, &generated, |i| !seq.is_special(i))
            } else {
                probs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !seq.is_special(*i as u32))
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i as u32)
                    .unwrap_or(0)
            }
        } else {
            next
        };
        if seq.is_special(next) {
            stopped = "end token".into();
            break;
        }
        let predicted_vad = out.predicted_vad(model)?;
        let text = seq.decode(&[next])?;
        if in_exp {
            exp_text.push_str(&text);
        }
        if !in_exp && because.is_some_and(|b| seq.to_gpt2(next) == b) {
            in_exp = true;
        }
        let tok = GeneratedToken {
            id: next,
            text,
            probability: probs[next as usize],
            in_explanation: in_exp,
            lexicon_vad: seq.token_vad_as(next, TokenText::Inference),
            predicted_vad,
        };
        on_token(&tok);
        tokens.push(tok);
        ids.push(next);
        segs.push(if in_exp {
            seq.explanation_segment()
        } else {
            seq.emotion_segment()
        });
    }
    let gen_ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
    let text = seq.decode(&gen_ids)?.trim().to_string();
    let (emotion, explanation, state) = parse(&text);
    Ok(Generation {
        text,
        emotion,
        explanation,
        state,
        tokens,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_table() {
        let cases: &[(&str, Option<Emotion>, Option<&str>, ParseState)] = &[
            (
                "sadness because the sky is dark",
                Some(Emotion::Sadness),
                Some("the sky is dark"),
                ParseState::Complete,
            ),
            (
                " something else because it is odd",
                Some(Emotion::SomethingElse),
                Some("it is odd"),
                ParseState::Complete,
            ),
            ("awe", Some(Emotion::Awe), None, ParseState::NoBecause),
            ("the colors are bright", None, None, ParseState::NoBecause),
            (
                "joy because it is sunny",
                None,
                Some("it is sunny"),
                ParseState::UnknownEmotion {
                    words: "joy".into(),
                },
            ),
            (
                "fear because",
                Some(Emotion::Fear),
                None,
                ParseState::Complete,
            ),
            ("", None, None, ParseState::Empty),
            ("   ", None, None, ParseState::Empty),
            // "becauseof" is not the word "because".
            ("awe becauseof", None, None, ParseState::NoBecause),
        ];
        for (text, e, x, s) in cases {
            let (ge, gx, gs) = parse(text);
            assert_eq!(ge, *e, "{text:?}");
            assert_eq!(gx.as_deref(), *x, "{text:?}");
            assert_eq!(&gs, s, "{text:?}");
        }
    }
}
