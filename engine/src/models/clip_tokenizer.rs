//! The CLIP BPE tokenizer (Radford et al. 2021, "Learning Transferable Visual Models From
//! Natural Language Supervision"), built with the `tokenizers` crate from OpenAI's
//! `bpe_simple_vocab_16e6.txt.gz` (shipped in `assets/tokenizers/clip/`).
//!
//! The vocabulary is built exactly as OpenAI's `clip/simple_tokenizer.py` builds it: the 256
//! byte characters of GPT-2's byte-to-unicode table, the same 256 with `</w>` appended, the
//! first 48,894 merges after the header line (joined), then `<|startoftext|>` (49406) and
//! `<|endoftext|>` (49407): 49,408 entries. The pipeline is the one Hugging Face's
//! `CLIPTokenizer` (transformers 5, `tokenizers` backend, used by `openai/clip-vit-base-patch16`
//! and `-patch32`) sets up: NFC, runs of whitespace replaced by one space, lower-casing;
//! CLIP's split pattern (special tokens, `'s|'t|'re|'ve|'m|'ll|'d`, letter runs, single
//! digits, runs of other non-space characters) followed by byte-level mapping; BPE with the
//! end-of-word suffix `</w>`; `<|startoftext|> ... <|endoftext|>` around the text; truncation
//! to 77 ids that keeps the final `<|endoftext|>`. As in HF, a literal `<|endoftext|>` or
//! `<|startoftext|>` in the text is read as the special token.
//!
//! Padding: HF's `CLIPTokenizer` pads with its `pad_token`, `<|endoftext|>` (49407), with
//! attention mask 0 on the padding; OpenAI's `clip.tokenize` pads with 0 (`!`). Both give
//! the same `text_embeds` (the model is causal and pools at the first `<|endoftext|>`), and
//! [`ClipTokenizer::batch`] follows HF. Unlike OpenAI's tokenizer, neither HF nor this one
//! runs `ftfy.fix_text` or HTML unescaping (`&amp;` stays three tokens).
//!
//! Parity: `tests/fixtures/parity/clip/tokenizer_ids.json` (written by
//! `tools/parity/clip.py` with HF `CLIPTokenizer` built from a `vocab.json`/`merges.txt`
//! derived from the same gz file) holds the ids of 12 texts (case, punctuation, whitespace,
//! accents, CJK, emoji, numbers, contractions, special tokens, empty, truncation); the tests
//! below match every id.

use std::io::Read;
use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::{Lowercase, Replace, Sequence as NormalizerSequence, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{
    AddedToken, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
    TruncationParams,
};

use crate::error::{Error, Result};

/// CLIP's context length (`max_position_embeddings` of the text tower).
pub const CONTEXT_LENGTH: usize = 77;
/// `<|startoftext|>`.
pub const SOT_ID: u32 = 49406;
/// `<|endoftext|>` (also the padding id, as in HF `CLIPTokenizer`).
pub const EOT_ID: u32 = 49407;
/// Vocabulary size of the original CLIP tokenizer.
pub const VOCAB_SIZE: usize = 49408;
/// Number of merges CLIP uses (`49152 - 256 - 2`).
pub const NUM_MERGES: usize = 48894;
/// The shipped merges file, relative to the assets folder.
pub const ASSET_PATH: &str = "tokenizers/clip/bpe_simple_vocab_16e6.txt.gz";

const SOT: &str = "<|startoftext|>";
const EOT: &str = "<|endoftext|>";
const SPLIT_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// How [`ClipTokenizer::batch`] pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// To the longest text of the batch (HF `padding=True`).
    Longest,
    /// To the context length, 77 (HF `padding="max_length"`, OpenAI's `clip.tokenize`).
    MaxLength,
}

/// Texts tokenized and padded into tensors.
#[derive(Debug, Clone)]
pub struct ClipTextBatch {
    /// Token ids, u32 `[B, L]`, padded with `<|endoftext|>`.
    pub input_ids: Tensor,
    /// 1 on tokens, 0 on padding, u32 `[B, L]`.
    pub attention_mask: Tensor,
    /// Number of ids of each text before padding (including both special tokens).
    pub lengths: Vec<usize>,
}

/// The CLIP tokenizer.
pub struct ClipTokenizer {
    inner: Tokenizer,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

fn tok_err(message: impl std::fmt::Display) -> Error {
    Error::Tokenizer {
        name: "clip".into(),
        message: message.to_string(),
    }
}

/// GPT-2's reversible byte-to-unicode table, in OpenAI's order (printable bytes first).
fn bytes_to_unicode() -> Vec<char> {
    let mut bs: Vec<u32> = (u32::from(b'!')..=u32::from(b'~'))
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    cs.into_iter().filter_map(char::from_u32).collect()
}

impl ClipTokenizer {
    /// Builds the tokenizer from OpenAI's `bpe_simple_vocab_16e6.txt.gz`.
    pub fn from_bpe_gz(path: &Path) -> Result<Self> {
        let bytes = crate::error::read_file(path)?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| {
                Error::parse(
                    path,
                    None,
                    format!("not a gzip-compressed UTF-8 merges file: {e}"),
                )
            })?;
        Self::from_merges_text(&text, path)
    }

    /// Builds the tokenizer from the shipped assets folder (`tokenizers/clip/...gz`).
    pub fn from_assets(assets: &Path) -> Result<Self> {
        Self::from_bpe_gz(&assets.join(ASSET_PATH))
    }

    /// Builds the tokenizer from the decompressed merges text; `source` names it in errors.
    pub fn from_merges_text(text: &str, source: &Path) -> Result<Self> {
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < NUM_MERGES + 1 {
            return Err(Error::parse(
                source,
                None,
                format!(
                    "{} lines, CLIP needs a header line and {NUM_MERGES} merges",
                    lines.len()
                ),
            ));
        }
        let mut merges: Merges = Vec::with_capacity(NUM_MERGES);
        for (i, line) in lines[1..=NUM_MERGES].iter().enumerate() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
                _ => {
                    return Err(Error::at(
                        source,
                        format!("line {}", i + 2),
                        format!("expected two symbols, found {line:?}"),
                    ))
                }
            }
        }
        let bytes = bytes_to_unicode();
        let mut tokens: Vec<String> = bytes.iter().map(|c| c.to_string()).collect();
        tokens.extend(bytes.iter().map(|c| format!("{c}</w>")));
        tokens.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        tokens.push(SOT.into());
        tokens.push(EOT.into());
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        if vocab.len() != VOCAB_SIZE {
            return Err(Error::parse(
                source,
                None,
                format!(
                    "vocabulary has {} distinct entries, expected {VOCAB_SIZE}",
                    vocab.len()
                ),
            ));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .unk_token(EOT.into())
            .continuing_subword_prefix(String::new())
            .end_of_word_suffix("</w>".into())
            .fuse_unk(false)
            .build()
            .map_err(|e| tok_err(format!("{}: {e}", source.display())))?;
        let mut tok = Tokenizer::new(bpe);
        let normalizer = NormalizerSequence::new(vec![
            NormalizerWrapper::from(NFC),
            NormalizerWrapper::from(
                Replace::new(
                    tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
                    " ",
                )
                .map_err(tok_err)?,
            ),
            NormalizerWrapper::from(Lowercase),
        ]);
        tok.with_normalizer(Some(normalizer)).map_err(tok_err)?;
        let split = Split::new(
            SplitPattern::Regex(SPLIT_PATTERN.into()),
            SplitDelimiterBehavior::Removed,
            true,
        )
        .map_err(tok_err)?;
        tok.with_pre_tokenizer(Some(PreTokenizerSequence::new(vec![
            PreTokenizerWrapper::from(split),
            PreTokenizerWrapper::from(ByteLevel::new(false, true, true)),
        ])));
        tok.with_decoder(Some(ByteLevelDecoder::default()));
        tok.add_special_tokens([AddedToken::from(SOT, true), AddedToken::from(EOT, true)])
            .map_err(tok_err)?;
        tok.with_post_processor(Some(
            RobertaProcessing::new((EOT.into(), EOT_ID), (SOT.into(), SOT_ID))
                .trim_offsets(false)
                .add_prefix_space(false),
        ));
        tok.with_truncation(Some(TruncationParams {
            max_length: CONTEXT_LENGTH,
            ..Default::default()
        }))
        .map_err(tok_err)?;
        Ok(ClipTokenizer { inner: tok })
    }

    /// Vocabulary size (49,408).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of `text`: `<|startoftext|>`, the tokens, `<|endoftext|>`, at most 77 ids (longer
    /// texts are cut and still end with `<|endoftext|>`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(tok_err)?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token strings of `text` (word ends carry `</w>`), special tokens included.
    pub fn tokens(&self, text: &str) -> Result<Vec<String>> {
        let enc = self.inner.encode(text, true).map_err(tok_err)?;
        Ok(enc.get_tokens().to_vec())
    }

    /// The id of a token string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Text of ids, special tokens skipped, word ends as spaces (as HF `decode`).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self.inner.decode(ids, true).map_err(tok_err)?;
        Ok(text.replace("</w>", " ").trim().to_string())
    }

    /// Tokenizes `texts` and pads them with `<|endoftext|>` into u32 tensors on `device`.
    pub fn batch(
        &self,
        texts: &[&str],
        padding: Padding,
        device: &Device,
    ) -> Result<ClipTextBatch> {
        if texts.is_empty() {
            return Err(Error::Invalid("CLIP tokenizer: empty batch".into()));
        }
        let encoded: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.encode(t))
            .collect::<Result<_>>()?;
        let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let len = match padding {
            Padding::Longest => lengths.iter().copied().max().unwrap_or(2),
            Padding::MaxLength => CONTEXT_LENGTH,
        };
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for e in &encoded {
            ids.extend(e.iter().copied().chain(std::iter::repeat(EOT_ID)).take(len));
            mask.extend((0..len).map(|i| u32::from(i < e.len())));
        }
        Ok(ClipTextBatch {
            input_ids: Tensor::from_vec(ids, (texts.len(), len), device)?,
            attention_mask: Tensor::from_vec(mask, (texts.len(), len), device)?,
            lengths,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn tokenizer() -> ClipTokenizer {
        ClipTokenizer::from_assets(&root().join("assets")).unwrap()
    }

    #[test]
    fn known_ids_and_vocabulary() {
        let t = tokenizer();
        assert_eq!(t.vocab_size(), VOCAB_SIZE);
        assert_eq!(
            t.encode("a photo of a cat").unwrap(),
            [49406, 320, 1125, 539, 320, 2368, 49407]
        );
        assert_eq!(
            t.tokens("a photo").unwrap(),
            ["<|startoftext|>", "a</w>", "photo</w>", "<|endoftext|>"]
        );
        assert_eq!(t.token_to_id("!"), Some(0));
        assert_eq!(t.token_to_id("!</w>"), Some(256));
        assert_eq!(
            t.decode(&t.encode("A photo of a CAT").unwrap()).unwrap(),
            "a photo of a cat"
        );
    }

    /// Reference: HF `CLIPTokenizer` (transformers 5.23.0, tokenizers 0.23.3), built by
    /// `tools/parity/clip.py` from the same gz file.
    #[test]
    fn matches_hf_clip_tokenizer() {
        let t = tokenizer();
        let path = root().join("tests/fixtures/parity/clip/tokenizer_ids.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(v["vocab_size"], VOCAB_SIZE);
        assert_eq!(v["pad_token_id"], EOT_ID);
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for c in cases {
            let text = c["text"].as_str().unwrap();
            let want: Vec<u32> = serde_json::from_value(c["ids"].clone()).unwrap();
            assert_eq!(t.encode(text).unwrap(), want, "{text:?}");
        }
        assert_eq!(
            t.decode(&t.encode("a photo of a cat").unwrap()).unwrap(),
            v["decode_a_photo_of_a_cat"].as_str().unwrap()
        );
        // Padding as HF (`padding="max_length"`): <|endoftext|> with mask 0.
        let p = &v["padded_max_length_12"];
        let texts: Vec<&str> = p["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        let b = t.batch(&texts, Padding::Longest, &Device::Cpu).unwrap();
        assert_eq!(b.lengths, [7, 4]);
        let ids = b.input_ids.to_vec2::<u32>().unwrap();
        let mask = b.attention_mask.to_vec2::<u32>().unwrap();
        let want_ids: Vec<Vec<u32>> = serde_json::from_value(p["input_ids"].clone()).unwrap();
        let want_mask: Vec<Vec<u32>> = serde_json::from_value(p["attention_mask"].clone()).unwrap();
        for i in 0..2 {
            assert_eq!(ids[i][..], want_ids[i][..7]);
            assert_eq!(mask[i][..], want_mask[i][..7]);
        }
        let b = t.batch(&texts, Padding::MaxLength, &Device::Cpu).unwrap();
        assert_eq!(b.input_ids.dims(), [2, CONTEXT_LENGTH]);
    }

    #[test]
    fn truncation_keeps_the_final_end_of_text() {
        let t = tokenizer();
        let ids = t.encode(&"painting ".repeat(200)).unwrap();
        assert_eq!(ids.len(), CONTEXT_LENGTH);
        assert_eq!(ids[0], SOT_ID);
        assert_eq!(ids[CONTEXT_LENGTH - 1], EOT_ID);
        assert_eq!(t.encode("").unwrap(), [SOT_ID, EOT_ID]);
    }

    #[test]
    fn bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let e = ClipTokenizer::from_bpe_gz(&d.path().join("none.gz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.gz"), "{e}");
        let bad = d.path().join("bad.gz");
        std::fs::write(&bad, b"not gzip").unwrap();
        let e = ClipTokenizer::from_bpe_gz(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.gz"), "{e}");
        let e = ClipTokenizer::from_merges_text("#version\na b\n", Path::new("short.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("short.txt") && e.contains("48894"), "{e}");
    }
}
