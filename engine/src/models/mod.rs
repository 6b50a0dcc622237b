//! Neural networks, one per file, each loading the real Hugging Face checkpoint layout
//! (exact key names and shapes) and proven against PyTorch outputs on tiny random
//! configurations (`tests/fixtures/parity/`, made by `tools/parity/`).

pub mod attn_softmax;
pub mod bert;
pub mod clip_text;
pub mod clip_tokenizer;
pub mod clip_vision;
pub mod download;
pub(crate) mod epilogue;
pub mod gpt2;
pub mod hub;
pub mod loading;
pub mod nn;
pub mod patch_tower;
pub mod registry;
pub mod sam;
pub mod sam_decoder;
pub mod sam_tiny_vit;
pub mod sam_vit;
#[cfg(test)]
pub(crate) mod tests;
pub mod text_memory;
pub mod torch_import;
pub(crate) mod vmath;
