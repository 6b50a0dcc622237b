//! Neural networks, one per file, each loading the real Hugging Face checkpoint layout
//! (exact key names and shapes) and proven against PyTorch outputs on tiny random
//! configurations (`tests/fixtures/parity/`, made by `tools/parity/`).

pub mod loading;
pub mod nn;
