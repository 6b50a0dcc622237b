//! Emotion guidance of the mask explanations
//! ([`EmosemConfig::guidance`](super::EmosemConfig::guidance); Artemo's, in
//! neither EmoSEM's paper nor its code): the neutral input that each mask's explanation is
//! pushed away from. The decoding itself is [`Emosem::explain_guided`].
//!
//! Measured on the demo kit (`docs/emosem.md`, "Emotion guidance"): with the explainer
//! pretrained on emotion-labelled text, strength 1 raises the share of mask explanations
//! that read as their emotion from 0.477 to 0.549 on the test split.

use candle_core::Tensor;

use super::{Emosem, Query, EMOTIONS};
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::nn::Mode;

impl Emosem {
    /// The mean of the eight emotions' explainer prefixes of one image (guidance's neutral
    /// input): from `prefixes` when `emotions` are all eight in ArtEmis order, else from a
    /// decoder pass over all eight.
    pub(super) fn neutral_prefix(
        &self,
        vision: &Tensor,
        emotions: &[Emotion],
        prefixes: &[Option<Tensor>],
    ) -> Result<Tensor> {
        let all = if emotions == EMOTIONS.as_slice() {
            prefixes.to_vec()
        } else {
            self.decode(vision, &Query::every_emotion(0), Mode::Infer)?
                .prefixes
        };
        let all: Vec<Tensor> = all.into_iter().flatten().collect();
        if all.len() != EMOTIONS.len() {
            return Err(Error::Invalid(
                "EmoSEM guidance: the model has no explainer prefixes".into(),
            ));
        }
        Ok(Tensor::stack(&all, 0)?.mean(0)?)
    }
}
