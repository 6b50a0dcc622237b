//! EmoSEM's explanation decoding: each mask's explanation written by the explainer after
//! its prefix, greedy or nucleus ([`crate::text::sampling`]), with the demo kit's known
//! words, emotion guidance ([`EmosemConfig::guidance`]) and title-word push
//! ([`EmosemConfig::painting_word_bias`], [`crate::text::painting_words`]; Artemo's, in
//! neither paper), and the whole analysis of one image (masks, then
//! explanations).

use candle_core::{DType, IndexOp, Tensor, D};

#[cfg(doc)]
use super::EmosemConfig;
use super::{Emosem, ImageFeatures, Query};
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::gpt2::Gpt2Cache;
use crate::models::nn::Mode;
use crate::text::painting_words::PaintingWords;
use crate::text::sampling::{Decoding, Sampler};
use crate::tokenize::{TextTokenizer, GPT2_EOS};

impl Emosem {
    /// Explanations (GPT-2 ids without `<eos>`), one per prefix, decoded as the
    /// configuration says ([`EmosemConfig::decoding`]; prefix `i` samples on random stream
    /// `i`); `memory` `[Q, N, n_embd]`.
    pub fn explain(&self, prefixes: &[Option<Tensor>], memory: &Tensor) -> Result<Vec<Vec<u32>>> {
        let streams: Vec<u64> = (0..prefixes.len() as u64).collect();
        self.explain_with(prefixes, memory, &streams, self.cfg.decoding)
    }

    /// Explanations decoded with `decoding`, prefix `i` on random stream `streams[i]`
    /// (nucleus sampling; see [`crate::text::sampling::Sampler`]). Queries with equal
    /// prefix lengths are decoded together. `memory` `[Q, N, n_embd]`, or `[1, N, n_embd]`
    /// shared by every query (its cross-attention keys and values computed once).
    pub fn explain_with(
        &self,
        prefixes: &[Option<Tensor>],
        memory: &Tensor,
        streams: &[u64],
        decoding: Decoding,
    ) -> Result<Vec<Vec<u32>>> {
        self.explain_guided(prefixes, memory, streams, decoding, None)
    }

    /// [`Emosem::explain_with`] with emotion guidance ([`EmosemConfig::guidance`]):
    /// `guide` is the neutral prefix `[l_f, n_embd]` (of the same length as every prefix)
    /// and the strength; each query's scores are pushed away from those of a twin that
    /// reads the same words after the neutral prefix.
    pub fn explain_guided(
        &self,
        prefixes: &[Option<Tensor>],
        memory: &Tensor,
        streams: &[u64],
        decoding: Decoding,
        guide: Option<(&Tensor, f32)>,
    ) -> Result<Vec<Vec<u32>>> {
        self.explain_pushed(prefixes, memory, streams, decoding, guide, None)
    }

    /// [`Emosem::explain_guided`] with the painting's title words pushed
    /// ([`EmosemConfig::painting_word_bias`], [`Emosem::painting_words`]; `None`: none).
    pub fn explain_pushed(
        &self,
        prefixes: &[Option<Tensor>],
        memory: &Tensor,
        streams: &[u64],
        decoding: Decoding,
        guide: Option<(&Tensor, f32)>,
        words: Option<&PaintingWords>,
    ) -> Result<Vec<Vec<u32>>> {
        let texts = match (words, &self.piece_texts) {
            (None, _) => None,
            (Some(_), Some(t)) => Some(t.as_slice()),
            (Some(_), None) => {
                return Err(Error::Invalid(
                    "EmoSEM: pushing title words needs the explainer's word list (words.txt)"
                        .into(),
                ))
            }
        };
        if streams.len() != prefixes.len() {
            return Err(Error::Invalid(format!(
                "EmoSEM explain: {} random streams for {} prefixes",
                streams.len(),
                prefixes.len()
            )));
        }
        let dev = memory.device().clone();
        let mut out = vec![Vec::new(); prefixes.len()];
        let len_of = |p: &Option<Tensor>| p.as_ref().map(|t| t.dim(0)).transpose();
        let lens = prefixes
            .iter()
            .map(len_of)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut groups: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
        for (i, l) in lens.iter().enumerate() {
            match groups.iter_mut().find(|(gl, _)| gl == l) {
                Some((_, g)) => g.push(i),
                None => groups.push((*l, vec![i])),
            }
        }
        let max_new = self.cfg.max_explanation_tokens.min(
            self.cfg
                .explainer
                .n_positions
                .saturating_sub(1 + lens.iter().flatten().max().copied().unwrap_or(0)),
        );
        for (_, members) in groups {
            let b = members.len();
            let first = members
                .iter()
                .map(|&i| self.sequence_embeds(prefixes[i].as_ref(), &[GPT2_EOS], &dev))
                .collect::<Result<Vec<_>>>()?;
            let mut x = Tensor::stack(&first, 0)?;
            let mut rows: Vec<u32> = members.iter().map(|&i| i as u32).collect();
            // Rows b..2b: each query's twin after the neutral prefix.
            let strength = match guide {
                Some((neutral, g)) if g > 0.0 => {
                    if prefixes[members[0]].as_ref().map(|p| p.dims()) != Some(neutral.dims()) {
                        return Err(Error::Invalid(format!(
                            "EmoSEM guidance: neutral prefix {:?} differs from the prefixes",
                            neutral.dims()
                        )));
                    }
                    let twin = self.sequence_embeds(Some(neutral), &[GPT2_EOS], &dev)?;
                    let twins = Tensor::stack(&vec![twin; b], 0)?;
                    x = Tensor::cat(&[&x, &twins], 0)?;
                    rows.extend(rows.clone());
                    Some(g)
                }
                _ => None,
            };
            // One memory row is shared by every query: its cross-attention keys and
            // values are computed once, not per query (issue 22).
            let mem = if memory.dim(0)? == 1 {
                memory.clone()
            } else {
                memory.index_select(&Tensor::new(rows, &dev)?, 0)?
            };
            let mut cache = Gpt2Cache::default();
            let mut done = vec![false; b];
            // Each query's current word, for the known-word mask.
            let mut partial = vec![String::new(); b];
            // Each query's text so far, for the title-word push.
            let mut written = vec![String::new(); b];
            let mut samplers: Vec<Sampler> = members
                .iter()
                .map(|&i| Sampler::new(decoding, streams[i]))
                .collect();
            for _ in 0..max_new {
                let h = self.explainer.forward_embeds(
                    &x,
                    Some(&mem),
                    None,
                    Some(&mut cache),
                    Mode::Infer,
                )?;
                let last = h.i((.., h.dim(1)? - 1))?;
                let mut logits = self.explainer.logits(&last)?;
                if let Some(g) = strength {
                    let (c, u) = (logits.narrow(0, 0, b)?, logits.narrow(0, b, b)?);
                    logits = (&c + ((&c - &u)? * f64::from(g))?)?;
                }
                let greedy_plain = matches!(decoding, Decoding::Greedy)
                    && !self.cfg.block_repeats
                    && self.known.is_none()
                    && words.is_none();
                let next: Vec<u32> = if greedy_plain {
                    logits.argmax(D::Minus1)?.to_vec1()?
                } else {
                    let mut rows: Vec<Vec<f32>> = logits.to_dtype(DType::F32)?.to_vec2()?;
                    if let Some(k) = &self.known {
                        for (r, p) in rows.iter_mut().zip(&partial) {
                            k.mask_logits(p, r);
                        }
                    }
                    if let Some(w) = words {
                        for (r, text) in rows.iter_mut().zip(&written) {
                            w.apply_logits(text, r);
                        }
                    }
                    rows.iter()
                        .zip(samplers.iter_mut())
                        .enumerate()
                        .map(|(j, (r, s))| {
                            s.pick_logits(r, &out[members[j]], self.cfg.block_repeats)
                        })
                        .collect()
                };
                if let Some(k) = &self.known {
                    for (p, &t) in partial.iter_mut().zip(&next) {
                        *p = k.advance(p, t as usize);
                    }
                }
                for (j, &t) in next.iter().enumerate() {
                    if done[j] {
                        continue;
                    }
                    if t == GPT2_EOS || t as usize >= 50257 {
                        done[j] = true;
                    } else {
                        out[members[j]].push(t);
                        if let Some(piece) = texts.and_then(|x| x.get(t as usize)) {
                            written[j].push_str(piece);
                        }
                    }
                }
                if done.iter().all(|&d| d) {
                    break;
                }
                let mut next = next;
                if strength.is_some() {
                    next.extend_from_within(..);
                }
                let ids = Tensor::new(next, &dev)?.unsqueeze(1)?;
                x = self
                    .explainer
                    .embed_tokens(&ids)?
                    .broadcast_add(&self.explainer.position_embeddings(cache.len(), 1, &dev)?)?;
            }
        }
        Ok(out)
    }

    /// Segments and explains `emotions` for one image: mask logits `[E, 4h, 4w]` and the
    /// explanations' ids, decoded as the configuration says ([`EmosemConfig::decoding`]).
    pub fn analyze(
        &self,
        features: &ImageFeatures,
        emotions: &[Emotion],
    ) -> Result<(Tensor, Vec<Vec<u32>>)> {
        self.analyze_with(features, emotions, self.cfg.decoding)
    }

    /// [`Emosem::analyze`] with the explanations decoded by `decoding`; each emotion
    /// samples on its own random stream (its ArtEmis index), so its explanation is the same
    /// whichever other emotions are analysed with it.
    pub fn analyze_with(
        &self,
        features: &ImageFeatures,
        emotions: &[Emotion],
        decoding: Decoding,
    ) -> Result<(Tensor, Vec<Vec<u32>>)> {
        self.analyze_titled(features, emotions, decoding, None)
    }

    /// [`Emosem::analyze_with`] with the painting's title words pushed into every
    /// explanation (`words` from [`Emosem::painting_words`]; `None`: none).
    pub fn analyze_titled(
        &self,
        features: &ImageFeatures,
        emotions: &[Emotion],
        decoding: Decoding,
        words: Option<&PaintingWords>,
    ) -> Result<(Tensor, Vec<Vec<u32>>)> {
        let v = self.vision_tokens(features)?;
        let queries: Vec<Query> = emotions
            .iter()
            .map(|&emotion| Query { image: 0, emotion })
            .collect();
        let d = self.decode(&v, &queries, Mode::Infer)?;
        // [1, N, d]: shared by every emotion's explanation (see `explain_with`).
        let mem = self.memory(features)?;
        let streams: Vec<u64> = emotions.iter().map(|e| e.index() as u64).collect();
        let neutral = match self.cfg.guidance {
            g if g > 0.0 => Some(self.neutral_prefix(&v, emotions, &d.prefixes)?),
            _ => None,
        };
        let guide = neutral.as_ref().map(|n| (n, self.cfg.guidance));
        let ids = self.explain_pushed(&d.prefixes, &mem, &streams, decoding, guide, words)?;
        Ok((d.masks, ids))
    }

    /// The words of `title` this model pushes ([`EmosemConfig::painting_word_bias`] over
    /// its word list), `tok` the explainer's tokenizer; `None` where it pushes none (bias
    /// 0, no word list, no title or no content word in it).
    pub fn painting_words(
        &self,
        tok: &TextTokenizer,
        title: Option<&str>,
    ) -> Result<Option<PaintingWords>> {
        let bias = self.cfg.painting_word_bias;
        let (Some(title), Some(texts)) = (title.filter(|_| bias > 0.0), &self.piece_texts) else {
            return Ok(None);
        };
        let pieces = |t: &str| -> Result<Vec<(u32, String)>> {
            tok.encode(t)?
                .into_iter()
                .map(|id| {
                    let text = texts.get(id as usize).cloned().unwrap_or_default();
                    Ok((id, text))
                })
                .collect()
        };
        let words = PaintingWords::new(title, bias, self.known.as_deref(), pieces)?;
        Ok((!words.is_empty()).then_some(words))
    }
}
