//! SEVLM's token ids and vocabularies, shared by the network ([`super::model`]) and the
//! training sequences ([`super::data`]): the special tokens added to GPT-2 and the compact
//! vocabulary of the small models.

/// Special tokens SEVLM adds to GPT-2's vocabulary, in the order the reference adds them
/// (ids 50257..50260).
pub const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<prefix>", "<emotion>", "<explanation>"];

/// GPT-2's `<|endoftext|>` (SEVLM's `<bos>` and `<eos>`).
pub const EOS_ID: u32 = 50256;
/// `<pad>`.
pub const PAD_ID: u32 = 50257;
/// `<prefix>` segment id.
pub const PREFIX_ID: u32 = 50258;
/// `<emotion>` segment id.
pub const EMOTION_SEGMENT: u32 = 50259;
/// `<explanation>` segment id.
pub const EXPLANATION_SEGMENT: u32 = 50260;
/// GPT-2's vocabulary plus the four special tokens.
pub const VOCAB_SIZE: usize = 50261;

/// A compact vocabulary: the GPT-2 ids a small model keeps (sorted), so that its output
/// layer is a few thousand wide instead of 50,261. Model ids are positions in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactVocab {
    pub(super) to_gpt2: Vec<u32>,
    pub(super) to_model: std::collections::HashMap<u32, u32>,
}

impl CompactVocab {
    /// From the kept GPT-2 ids (the five special ids 50256..50260 are always added).
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut v: Vec<u32> = ids
            .into_iter()
            .chain(EOS_ID..=EXPLANATION_SEGMENT)
            .collect();
        v.sort_unstable();
        v.dedup();
        let to_model = v.iter().enumerate().map(|(i, &g)| (g, i as u32)).collect();
        CompactVocab {
            to_gpt2: v,
            to_model,
        }
    }

    /// The kept GPT-2 ids in model order.
    pub fn gpt2_ids(&self) -> &[u32] {
        &self.to_gpt2
    }

    /// Number of model ids.
    pub fn len(&self) -> usize {
        self.to_gpt2.len()
    }

    /// True when empty (never: the specials are always kept).
    pub fn is_empty(&self) -> bool {
        self.to_gpt2.is_empty()
    }
}
