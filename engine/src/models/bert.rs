//! BERT encoder in the Hugging Face `BertModel` layout (keys `embeddings.*`,
//! `encoder.layer.N.*`, with or without a `bert.` prefix; old `gamma`/`beta` layer-norm
//! names accepted), and the sentence encoder built on it: mean pooling over the attention
//! mask and L2 normalisation, as `sentence-transformers/all-MiniLM-L6-v2` (shipped in
//! `models/all-MiniLM-L6-v2`).
//!
//! Parity: `tools/parity/bert.py` runs `transformers.BertModel` on a tiny random
//! configuration, and sentence-transformers on the shipped MiniLM weights for ten
//! sentences; the tests below match both within 1e-4.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Embedding, VarBuilder};
use serde::{Deserialize, Serialize};

use super::attn_softmax::attention_softmax;
use super::loading::Weights;
use super::nn::{dense, Activation, Dense, LayerNorm, Mode};
use crate::error::{read_text, Error, Result};
use crate::tokenize::TextTokenizer;

/// The fields of HF's `BertConfig` used here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Heads.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Activation (`gelu`).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Maximum positions.
    pub max_position_embeddings: usize,
    /// Token types.
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Reads an HF `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let c: BertConfig = serde_json::from_str(&text)
            .map_err(|e| Error::at(path, format!("line {}", e.line()), e.to_string()))?;
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(Error::at(
                path,
                "field `num_attention_heads`",
                "hidden_size is not divisible by num_attention_heads",
            ));
        }
        if Activation::from_hf(&c.hidden_act).is_none() {
            return Err(Error::at(
                path,
                "field `hidden_act`",
                format!("unsupported `{}`", c.hidden_act),
            ));
        }
        Ok(c)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attn_out: Dense,
    attn_ln: LayerNorm,
    inter: Dense,
    out: Dense,
    out_ln: LayerNorm,
    heads: usize,
    act: Activation,
}

impl Layer {
    fn new(c: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let a = vb.pp("attention");
        Ok(Layer {
            query: dense(h, h, true, a.pp("self").pp("query"))?,
            key: dense(h, h, true, a.pp("self").pp("key"))?,
            value: dense(h, h, true, a.pp("self").pp("value"))?,
            attn_out: dense(h, h, true, a.pp("output").pp("dense"))?,
            attn_ln: LayerNorm::new(h, c.layer_norm_eps, a.pp("output").pp("LayerNorm"))?,
            inter: dense(
                h,
                c.intermediate_size,
                true,
                vb.pp("intermediate").pp("dense"),
            )?,
            out: dense(c.intermediate_size, h, true, vb.pp("output").pp("dense"))?,
            out_ln: LayerNorm::new(h, c.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: c.num_attention_heads,
            act: Activation::from_hf(&c.hidden_act).unwrap_or(Activation::GeluErf),
        })
    }

    fn forward(&self, x: &Tensor, bias: &Tensor, mode: Mode) -> candle_core::Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let hd = h / self.heads;
        let split = |y: Tensor| {
            y.reshape((b, t, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let p = attention_softmax(
            q.matmul(&k.t()?)?,
            1.0 / (hd as f64).sqrt(),
            Some(bias),
            mode,
        )?;
        let ctx = p.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        let x = self
            .attn_ln
            .forward(&self.attn_out.forward_add(&ctx, x)?, mode)?;
        let f = self.inter.forward_act(&x, Some(self.act))?;
        self.out_ln.forward(&self.out.forward_add(&f, &x)?, mode)
    }
}

/// The BERT encoder (no pooler: sentence embeddings use mean pooling).
#[derive(Debug, Clone)]
pub struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    ln: LayerNorm,
    layers: Vec<Layer>,
    cfg: BertConfig,
}

impl Bert {
    /// Builds the encoder from a `VarBuilder` at the `embeddings` / `encoder` level.
    pub fn new(cfg: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let e = vb.pp("embeddings");
        let h = cfg.hidden_size;
        Ok(Bert {
            word: candle_nn::embedding(cfg.vocab_size, h, e.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                h,
                e.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                cfg.type_vocab_size,
                h,
                e.pp("token_type_embeddings"),
            )?,
            ln: LayerNorm::new(h, cfg.layer_norm_eps, e.pp("LayerNorm"))?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| Layer::new(cfg, vb.pp("encoder").pp("layer").pp(i)))
                .collect::<candle_core::Result<_>>()?,
            cfg: cfg.clone(),
        })
    }

    /// Loads a checkpoint folder (`config.json` + safetensors).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = BertConfig::load(&dir.join("config.json"))?;
        let w = Weights::load(dir, device)?;
        Self::from_weights(&cfg, w, device)
    }

    /// Builds from loaded tensors, normalising key prefixes and old layer-norm names.
    pub fn from_weights(cfg: &BertConfig, w: Weights, device: &Device) -> Result<Self> {
        let w = w.rename(|k| {
            let k = k.strip_prefix("bert.").unwrap_or(k);
            if !(k.starts_with("embeddings.") || k.starts_with("encoder.")) {
                return None;
            }
            Some(
                k.replace("LayerNorm.gamma", "LayerNorm.weight")
                    .replace("LayerNorm.beta", "LayerNorm.bias"),
            )
        });
        let source = w.source().to_path_buf();
        Bert::new(cfg, w.var_builder(device))
            .map_err(|e| Error::parse(&source, None, format!("BERT checkpoint: {e}")))
    }

    /// The configuration.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// Hidden states [B, T, H] of token ids [B, T] with attention mask [B, T] (1/0).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, mode: Mode) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if t > self.cfg.max_position_embeddings {
            return Err(Error::Invalid(format!(
                "{t} tokens exceed the model's {} positions",
                self.cfg.max_position_embeddings
            )));
        }
        let dev = ids.device();
        let pos = Tensor::arange(0u32, t as u32, dev)?;
        let types = Tensor::zeros((b, t), DType::U32, dev)?;
        let x = self
            .word
            .forward(ids)?
            .broadcast_add(&self.position.forward(&pos)?.unsqueeze(0)?)?;
        let x = (x + self.token_type.forward(&types)?)?;
        let mut x = self.ln.forward(&x, mode)?;
        // HF's extended mask: (1 - mask) * finfo(f32).min.
        let bias =
            ((mask.to_dtype(DType::F32)? - 1.0)? * (f32::MAX as f64))?.reshape((b, 1, 1, t))?;
        for l in &self.layers {
            x = l.forward(&x, &bias, mode)?;
        }
        Ok(x)
    }
}

/// Mean of hidden states over positions where `mask` is 1.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let n = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    Ok(sum.broadcast_div(&n)?)
}

/// Rows divided by their L2 norm (clamped at 1e-12, as `torch.nn.functional.normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    Ok(x.broadcast_div(&n)?)
}

/// A sentence encoder: WordPiece tokenizer + BERT + mean pooling + L2 normalisation.
#[derive(Debug)]
pub struct SentenceEncoder {
    bert: Bert,
    tokenizer: TextTokenizer,
    dir: PathBuf,
    device: Device,
}

impl SentenceEncoder {
    /// Maximum tokens per sentence (all-MiniLM-L6-v2's `max_seq_length`).
    pub const MAX_TOKENS: usize = 256;

    /// Loads a sentence-transformers folder (`config.json`, safetensors, `tokenizer.json`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let bert = Bert::load(dir, device)?;
        let tokenizer = TextTokenizer::from_hf_json(
            &dir.join("tokenizer.json"),
            "wordpiece",
            Self::MAX_TOKENS,
        )?;
        Ok(SentenceEncoder {
            bert,
            tokenizer,
            dir: dir.to_path_buf(),
            device: device.clone(),
        })
    }

    /// The shipped all-MiniLM-L6-v2, from the `models/` folder.
    pub fn minilm(models: &Path, device: &Device) -> Result<Self> {
        Self::load(&models.join("all-MiniLM-L6-v2"), device)
    }

    /// Where the weights came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// Unit-norm embeddings [N, dim] of `texts`, batched by `batch`.
    pub fn encode(&self, texts: &[&str], batch: usize) -> Result<Tensor> {
        let mut out = Vec::new();
        for chunk in texts.chunks(batch.max(1)) {
            let ids: Vec<Vec<u32>> = chunk
                .iter()
                .map(|t| self.tokenizer.encode(t))
                .collect::<Result<_>>()?;
            let t = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let mut flat = Vec::with_capacity(chunk.len() * t);
            let mut mask = Vec::with_capacity(chunk.len() * t);
            for row in &ids {
                flat.extend(
                    row.iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, t - row.len())),
                );
                mask.extend((0..t).map(|i| (i < row.len()) as u32));
            }
            let ids = Tensor::from_vec(flat, (chunk.len(), t), &self.device)?;
            let mask = Tensor::from_vec(mask, (chunk.len(), t), &self.device)?;
            let h = self.bert.forward(&ids, &mask, Mode::Infer)?;
            out.push(l2_normalize(&mean_pool(&h, &mask)?)?);
        }
        if out.is_empty() {
            return Ok(Tensor::zeros((0, self.dim()), DType::F32, &self.device)?);
        }
        Ok(Tensor::cat(&out, 0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::tests::max_diff;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Reference: transformers 5.23 `BertModel` (tools/parity/bert.py), fp32.
    #[test]
    fn tiny_bert_matches_pytorch() {
        let dev = crate::models::tests::device();
        let dir = root().join("tests/fixtures/parity/bert");
        let io = candle_core::safetensors::load(dir.join("io.safetensors"), &dev).unwrap();
        let m = Bert::load(&dir.join("tiny"), &dev).unwrap();
        let h = m
            .forward(&io["input_ids"], &io["attention_mask"], Mode::Infer)
            .unwrap();
        // Padded positions are compared too: HF computes them the same way.
        assert!(max_diff(&h, &io["last_hidden_state"]) <= crate::models::tests::tolerance(1e-4));
        let ht = m
            .forward(&io["input_ids"], &io["attention_mask"], Mode::Train)
            .unwrap();
        assert!(max_diff(&ht, &io["last_hidden_state"]) <= crate::models::tests::tolerance(1e-4));
        let pooled = l2_normalize(&mean_pool(&h, &io["attention_mask"]).unwrap()).unwrap();
        assert!(
            max_diff(&pooled, &io["sentence_embedding"]) <= crate::models::tests::tolerance(1e-4)
        );
    }

    /// Reference: sentence-transformers on the shipped all-MiniLM-L6-v2 (tools/parity/bert.py).
    #[test]
    fn shipped_minilm_matches_sentence_transformers() {
        let dev = crate::models::tests::device();
        let enc = SentenceEncoder::minilm(&root().join("models"), &dev).unwrap();
        let refs: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                root().join("tests/fixtures/parity/bert/minilm_reference.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let sentences: Vec<String> = refs["sentences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let want: Vec<Vec<f32>> = refs["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect();
        let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let got = enc.encode(&texts, 4).unwrap();
        assert_eq!(got.dims(), &[sentences.len(), 384]);
        let want = Tensor::new(want, &dev).unwrap();
        let d = max_diff(&got, &want);
        assert!(
            d <= crate::models::tests::tolerance(1e-4),
            "max abs diff {d}"
        );
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        let dev = Device::Cpu;
        let cfg = BertConfig {
            vocab_size: 30,
            hidden_size: 8,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 16,
            hidden_act: "gelu".into(),
            max_position_embeddings: 16,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        };
        let vm = candle_nn::VarMap::new();
        let m = Bert::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let ids = Tensor::new(&[[1u32, 4, 9, 3]], &dev).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1]], &dev).unwrap();
        let h = m.forward(&ids, &mask, Mode::Train).unwrap();
        let target = Tensor::randn(0f32, 1.0, h.shape(), &dev).unwrap();
        let loss = (h - target).unwrap().sqr().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        // Only token type 0 is used: row 1 of the token-type table gets no gradient,
        // but the table as a whole does.
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
    }

    #[test]
    fn bad_config_and_missing_tensors_are_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), r#"{"vocab_size": 3, "hidden_size": 5, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 4, "max_position_embeddings": 4}"#).unwrap();
        let e = Bert::load(d.path(), &Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("config.json") && e.contains("num_attention_heads"),
            "{e}"
        );
        let tiny = root().join("tests/fixtures/parity/bert/tiny");
        std::fs::copy(tiny.join("config.json"), d.path().join("config.json")).unwrap();
        let mut w =
            candle_core::safetensors::load(tiny.join("model.safetensors"), &Device::Cpu).unwrap();
        w.retain(|k, _| !k.contains("layer.1.output.dense.weight"));
        candle_core::safetensors::save(&w, d.path().join("model.safetensors")).unwrap();
        let e = Bert::load(d.path(), &Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("encoder.layer.1.output.dense.weight"),
            "{e}"
        );
    }
}
