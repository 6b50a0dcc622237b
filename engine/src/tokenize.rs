//! Tokenizers built with the `tokenizers` crate from the shipped files: GPT-2 byte-level
//! BPE (`encoder.json` + `vocab.bpe`, as OpenAI released them) and BERT WordPiece from a
//! Hugging Face `tokenizer.json` (all-MiniLM-L6-v2).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// GPT-2's end-of-text token id.
pub const GPT2_EOS: u32 = 50256;

/// A tokenizer with the name it is reported under.
#[derive(Clone)]
pub struct TextTokenizer {
    name: String,
    inner: Tokenizer,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("name", &self.name)
            .finish()
    }
}

impl TextTokenizer {
    /// GPT-2 byte-level BPE from `vocab.json`/`encoder.json` and `merges.txt`/`vocab.bpe`.
    pub fn gpt2(vocab: &Path, merges: &Path) -> Result<Self> {
        for f in [vocab, merges] {
            if !f.is_file() {
                return Err(Error::io(
                    f,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found"),
                ));
            }
        }
        let to_s = |p: &Path| p.to_string_lossy().into_owned();
        let bpe = BPE::from_file(&to_s(vocab), &to_s(merges))
            .build()
            .map_err(|e| Error::Tokenizer {
                name: "gpt2".into(),
                message: format!("{} / {}: {e}", vocab.display(), merges.display()),
            })?;
        let mut tok = Tokenizer::new(bpe);
        tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, false)));
        tok.with_decoder(Some(ByteLevelDecoder::default()));
        Ok(TextTokenizer {
            name: "gpt2".into(),
            inner: tok,
        })
    }

    /// GPT-2 from the shipped assets folder (`tokenizers/gpt2`).
    pub fn gpt2_from_assets(assets: &Path) -> Result<Self> {
        let dir = assets.join("tokenizers/gpt2");
        Self::gpt2(&dir.join("encoder.json"), &dir.join("vocab.bpe"))
    }

    /// Any Hugging Face `tokenizer.json` (WordPiece for BERT/MiniLM). Padding is turned
    /// off (batches are padded by the model code) and truncation set to `max_len`.
    pub fn from_hf_json(path: &Path, name: &str, max_len: usize) -> Result<Self> {
        let bytes = crate::error::read_file(path)?;
        let mut tok = Tokenizer::from_bytes(&bytes).map_err(|e| Error::Tokenizer {
            name: name.into(),
            message: format!("{}: {e}", path.display()),
        })?;
        tok.with_padding(None);
        tok.with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| Error::Tokenizer {
            name: name.into(),
            message: e.to_string(),
        })?;
        Ok(TextTokenizer {
            name: name.into(),
            inner: tok,
        })
    }

    /// The name this tokenizer reports in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text`, with the tokenizer's special tokens (`[CLS] ... [SEP]` for BERT,
    /// none for GPT-2).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer {
                name: self.name.clone(),
                message: e.to_string(),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// The token strings of `text` (GPT-2 shows a leading space as `Ġ`).
    pub fn tokens(&self, text: &str) -> Result<Vec<String>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer {
                name: self.name.clone(),
                message: e.to_string(),
            })?;
        Ok(enc.get_tokens().to_vec())
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Text of a sequence of ids (special tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| Error::Tokenizer {
            name: self.name.clone(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
    }

    #[test]
    fn gpt2_known_ids_and_round_trip() {
        let t = TextTokenizer::gpt2_from_assets(&assets()).unwrap();
        assert_eq!(t.vocab_size(), 50257);
        let table: &[(&str, &[u32])] = &[
            ("Hello world", &[15496, 995]),
            (" the emotion is", &[262, 9942, 318]),
            ("<|endoftext|>", &[27, 91, 437, 1659, 5239, 91, 29]),
        ];
        for (text, ids) in table {
            assert_eq!(t.encode(text).unwrap(), *ids, "{text:?}");
        }
        let s = "The dark sea swallowing the little boat makes me feel afraid. Café 🎨";
        assert_eq!(t.decode(&t.encode(s).unwrap()).unwrap(), s);
        assert_eq!(t.tokens(" because").unwrap(), ["Ġbecause"]);
        assert_eq!(t.id_to_token(GPT2_EOS).as_deref(), Some("<|endoftext|>"));
    }

    #[test]
    fn minilm_wordpiece_from_tokenizer_json() {
        let p =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2/tokenizer.json");
        let t = TextTokenizer::from_hf_json(&p, "minilm", 256).unwrap();
        assert_eq!(t.vocab_size(), 30522);
        // [CLS]=101, [SEP]=102; lower-cased WordPiece.
        let ids = t.encode("Hello World").unwrap();
        assert_eq!(ids, [101, 7592, 2088, 102]);
        let long = "word ".repeat(600);
        assert_eq!(t.encode(&long).unwrap().len(), 256);
    }

    #[test]
    fn missing_or_malformed_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = TextTokenizer::gpt2(&dir.path().join("nope.json"), &dir.path().join("m.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.json"), "{e}");
        let bad = dir.path().join("vocab.json");
        std::fs::write(&bad, "{not json").unwrap();
        let merges = dir.path().join("merges.txt");
        std::fs::write(&merges, "#version: 0.2\n").unwrap();
        let e = TextTokenizer::gpt2(&bad, &merges).unwrap_err().to_string();
        assert!(e.contains("vocab.json"), "{e}");
        let tj = dir.path().join("tokenizer.json");
        std::fs::write(&tj, "{\"model\": 3}").unwrap();
        let e = TextTokenizer::from_hf_json(&tj, "bert", 8)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokenizer.json"), "{e}");
    }
}
