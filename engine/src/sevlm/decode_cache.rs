//! The exact shortcuts of SEVLM decoding (issue 22): what one painting's decoding computes
//! once and what each new token computes, without changing a single result.
//!
//! The reference re-runs the whole model for every new token (`sample_sequences`,
//! BetterZH/SEVLM-code `artEmisX_train.py:164-248`, the decoder called with
//! `past_key_values=None, use_cache=False` at `:197-207`): every position through the
//! 50k-word LM head, the cross-attention keys and values of the 196 image tokens again,
//! the VAD head everywhere. [`PaintingContext`] holds what depends on the painting alone
//! (the encoder states, every block's cross-attention keys and values, the emotion
//! head's logits); [`StepDecoder`] runs one step on top of it:
//!
//! - logits for the last position only (the only row `sample_sequences` reads:
//!   `lm_logits[:, -1, :]`, `artEmisX_train.py:210-211`), the VAD head only where it is
//!   read (the last position, and only once the token is kept);
//! - self-attention keys and values cached for the positions whose inputs never change
//!   ([`Sevlm::stable_prefix`]): before `emotion_span` the embeddings are token +
//!   position + segment alone, and under the causal mask their keys and values in every
//!   layer depend on nothing later. From `emotion_span` on, the embeddings fuse the
//!   bidirectional VAD encoder's output (`models/gpt.py:443-451`), which the reference
//!   recomputes over the whole sequence at every step (`artEmisX_train.py:191-192`, the
//!   per-token VAD rebuilt at `:221-224`), so those positions are run again at every
//!   step, as the reference does. A model without the VAD fusion caches every position
//!   (an ordinary key/value cache).
//!
//! Equality with the full recompute ([`super::generate::generate_reference`]) is tested
//! token for token in `sevlm/tests.rs`.

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::models::gpt2::Gpt2Cache;
use crate::models::nn::Mode;
use crate::sevlm::model::Sevlm;

/// What one painting's decoding computes once: the cross-attention memory (encoder
/// states), every block's cross-attention keys and values, and the emotion head's
/// vocabulary logits. Shared by the emotion distribution and the generation of one
/// analysis; any number of query rows may use it (the keys and values are not copied per
/// row).
#[derive(Debug, Clone)]
pub struct PaintingContext {
    encoder: Tensor,
    cross: Gpt2Cache,
    emotion: Option<Tensor>,
}

impl PaintingContext {
    /// Prepares one painting's features `[1, N, encoder_dim]` (the model's image input,
    /// text rows included).
    pub fn new(model: &Sevlm, image: &Tensor) -> Result<Self> {
        if image.dims().len() != 3 || image.dim(0)? != 1 {
            return Err(Error::Invalid(format!(
                "SEVLM decoding: expected image features [1, N, D], got {:?}",
                image.dims()
            )));
        }
        let encoder = model.encoder_states(image)?;
        let cross = model.gpt().cross_cache(&encoder)?;
        let emotion = model.emotion_vocab_logits(image)?;
        Ok(PaintingContext {
            encoder,
            cross,
            emotion,
        })
    }

    /// The final hidden states `[B, T, d]` of input embeddings `[B, T, d]` (no cache kept).
    pub fn hidden(&self, model: &Sevlm, embeds: &Tensor) -> Result<Tensor> {
        let mut cache = self.cross.clone();
        model.gpt().forward_embeds(
            embeds,
            Some(&self.encoder),
            None,
            Some(&mut cache),
            Mode::Infer,
        )
    }

    /// The device of the painting's tensors.
    pub fn device(&self) -> &candle_core::Device {
        self.encoder.device()
    }

    /// The emotion head's logits on the vocabulary `[1, V]` (`None` without the head).
    pub fn emotion(&self) -> Option<&Tensor> {
        self.emotion.as_ref()
    }
}

/// One decoding step's result.
#[derive(Debug, Clone)]
pub struct Step {
    /// The last position's vocabulary logits `[V]`.
    pub logits: Tensor,
    /// The last position's final hidden state `[1, 1, d]`.
    hidden: Tensor,
}

impl Step {
    /// The VAD head's prediction at the last position (for the next token); `None`
    /// without the VAD modules.
    pub fn predicted_vad(&self, model: &Sevlm) -> Result<Option<[f32; 3]>> {
        match model.vad_prediction(&self.hidden)? {
            Some(v) => {
                let row = v.flatten_all()?.to_vec1::<f32>()?;
                match row.as_slice() {
                    [a, b, c] => Ok(Some([*a, *b, *c])),
                    _ => Err(Error::Invalid(format!(
                        "SEVLM VAD head: {} values, expected 3",
                        row.len()
                    ))),
                }
            }
            None => Ok(None),
        }
    }
}

/// Decoding of one sequence over a [`PaintingContext`]: each [`Self::step`] takes the
/// whole sequence so far and returns what the full forward's last position would give.
#[derive(Debug, Clone)]
pub struct StepDecoder<'a> {
    model: &'a Sevlm,
    ctx: &'a PaintingContext,
    /// Self-attention keys and values of the stable prefix (and the cross ones).
    cache: Gpt2Cache,
}

impl<'a> StepDecoder<'a> {
    /// A decoder with nothing cached but the painting's.
    pub fn new(model: &'a Sevlm, ctx: &'a PaintingContext) -> Self {
        StepDecoder {
            model,
            ctx,
            cache: ctx.cross.clone(),
        }
    }

    /// Positions whose keys and values are cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Runs token ids `[1, T]`, segments `[1, T]` and per-token VAD `[1, T, 3]` (the
    /// whole sequence; its first [`Self::cached`] positions must be the ones seen
    /// before): the positions after the cached prefix go through the decoder, the stable
    /// ones among them are kept for the next step, and only the last position goes
    /// through the LM head.
    pub fn step(&mut self, ids: &Tensor, segments: &Tensor, vad: Option<&Tensor>) -> Result<Step> {
        let (b, t) = ids.dims2()?;
        if b != 1 || t == 0 {
            return Err(Error::Invalid(format!(
                "SEVLM step: expected token ids [1, T > 0], got {:?}",
                ids.dims()
            )));
        }
        let stable = self.model.stable_prefix(t, vad.is_some());
        if stable < self.cache.len() || t <= self.cache.len() {
            // Not the continuation of the cached sequence: start again.
            self.cache = self.ctx.cross.clone();
        }
        let past = self.cache.len();
        let emb = self.model.embeddings(ids, segments, vad, Mode::Infer)?;
        let mut cache = self.cache.clone();
        let hidden = self.model.gpt().forward_embeds(
            &emb.narrow(1, past, t - past)?,
            Some(&self.ctx.encoder),
            None,
            Some(&mut cache),
            Mode::Infer,
        )?;
        cache.truncate(stable)?;
        self.cache = cache;
        let last = hidden.narrow(1, t - past - 1, 1)?;
        let logits = self
            .model
            .head_logits(&last, t - 1, self.ctx.emotion())?
            .flatten_all()?;
        Ok(Step {
            logits,
            hidden: last,
        })
    }
}
