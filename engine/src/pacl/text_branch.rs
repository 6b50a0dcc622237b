//! PACL's image side reads the painting's own text too (issue 21): the text-memory tokens
//! of [`crate::models::text_memory`] (frozen MiniLM embeddings of the title; artist, date
//! and medium; description; zeros when a field is absent) go through a small learned
//! projection (`text.fc1`, GELU, `text.fc2`, no biases) that is added to the pooled
//! patch embedding before the normalisation:
//! `z^v = normalize(q_v(V(v)) + f_text(tokens))`.
//!
//! Without biases and with GELU(0) = 0, a painting without any text adds exactly zero: its
//! embedding is the pixels-only one. Training drops the text ([`TextBranchConfig::text_dropout`]
//! of the paintings lose all fields, each remaining field is dropped with
//! [`TextBranchConfig::field_dropout`]) so that the pixels-only embedding stays in the
//! same space. The sub-module is optional in the checkpoint (`text_branch` in
//! `config.json`, `text.*` tensors): an older checkpoint without it loads as pixels only.
//! This is Artemo's addition, not the paper's.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::bert::SentenceEncoder;
use crate::models::nn::linear;
use crate::models::text_memory::{self, PaintingText};
use crate::sevlm::model::TextMemoryConfig;

/// The text branch's configuration (`text_branch` in PACL's `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextBranchConfig {
    /// The text memory it reads (sentence encoder, width, fields).
    pub memory: TextMemoryConfig,
    /// Hidden width of the projection.
    pub hidden: usize,
    /// Training: the share of paintings whose text is dropped entirely.
    pub text_dropout: f32,
    /// Training: the share of each remaining painting's fields dropped one by one.
    pub field_dropout: f32,
}

impl Default for TextBranchConfig {
    /// The kit's: MiniLM over the three fields, 256 hidden units, text dropped for 30 %
    /// of paintings and 20 % of the other fields.
    fn default() -> Self {
        TextBranchConfig {
            memory: text_memory::kit_config(),
            hidden: 256,
            text_dropout: 0.3,
            field_dropout: 0.2,
        }
    }
}

impl TextBranchConfig {
    /// A tiny branch for tests: `fields` fields of width `text_dim`.
    pub fn tiny(fields: usize, text_dim: usize) -> Self {
        TextBranchConfig {
            memory: TextMemoryConfig {
                encoder: "all-MiniLM-L6-v2".into(),
                text_dim,
                fields: (0..fields).map(|i| format!("field {i}")).collect(),
            },
            hidden: 8,
            text_dropout: 0.3,
            field_dropout: 0.2,
        }
    }

    /// Memory tokens (fields).
    pub fn fields(&self) -> usize {
        self.memory.tokens()
    }

    /// Width of one painting's flattened tokens (`fields * text_dim`).
    pub fn width(&self) -> usize {
        self.fields() * self.memory.text_dim
    }
}

/// The learned projection of the text tokens into the joint space.
#[derive(Debug, Clone)]
pub struct TextBranch {
    cfg: TextBranchConfig,
    fc1: Linear,
    fc2: Linear,
}

impl TextBranch {
    /// Builds `fc1` and `fc2` under `vb` (the model puts them under `text`).
    pub fn new(cfg: &TextBranchConfig, embed_dim: usize, vb: VarBuilder) -> Result<Self> {
        if cfg.fields() == 0 || cfg.memory.text_dim == 0 || cfg.hidden == 0 {
            return Err(Error::Invalid(format!(
                "PACL text branch: {} fields of width {}, hidden {}: none may be zero",
                cfg.fields(),
                cfg.memory.text_dim,
                cfg.hidden
            )));
        }
        Ok(TextBranch {
            cfg: cfg.clone(),
            fc1: linear(cfg.width(), cfg.hidden, false, vb.pp("fc1"))?,
            fc2: linear(cfg.hidden, embed_dim, false, vb.pp("fc2"))?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TextBranchConfig {
        &self.cfg
    }

    /// `f_text`: `[B, embed_dim]` from tokens `[B, fields, text_dim]` (or already
    /// flattened `[B, fields * text_dim]`); all-zero tokens give exactly zero.
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let b = tokens.dim(0)?;
        let flat = tokens.reshape((b, ()))?;
        if flat.dim(1)? != self.cfg.width() {
            return Err(Error::Invalid(format!(
                "PACL text branch: tokens {:?}, expected [{b}, {}, {}]",
                tokens.dims(),
                self.cfg.fields(),
                self.cfg.memory.text_dim
            )));
        }
        let h = self.fc1.forward(&flat)?.gelu_erf()?;
        Ok(self.fc2.forward(&h)?)
    }
}

/// Text dropout of one painting's flattened tokens (`fields * text_dim`): with
/// probability `cfg.text_dropout` every field is zeroed, else each field is zeroed with
/// probability `cfg.field_dropout`.
pub fn drop_text(tokens: &[f32], cfg: &TextBranchConfig, rng: &mut impl Rng) -> Vec<f32> {
    let d = cfg.memory.text_dim.max(1);
    let mut out = tokens.to_vec();
    let all = rng.gen::<f32>() < cfg.text_dropout;
    for field in out.chunks_mut(d) {
        if all || rng.gen::<f32>() < cfg.field_dropout {
            field.fill(0.0);
        }
    }
    out
}

/// Flattened text tokens (`fields * text_dim` per painting, zeros for absent fields) of
/// `texts`, embedded by `encoder` (which must be the memory's sentence encoder, of width
/// `cfg.memory.text_dim`).
pub fn text_tokens(
    encoder: &SentenceEncoder,
    texts: &[PaintingText],
    cfg: &TextBranchConfig,
) -> Result<Vec<Vec<f32>>> {
    let (k, d) = (cfg.fields(), cfg.memory.text_dim);
    if encoder.dim() != d {
        return Err(Error::Invalid(format!(
            "PACL text branch: {} embeds {} dimensions, the model expects {d}",
            encoder.dir().display(),
            encoder.dim()
        )));
    }
    if k != text_memory::FIELDS.len() {
        return Err(Error::Invalid(format!(
            "PACL text branch: the model has {k} text fields, this build knows {} ({})",
            text_memory::FIELDS.len(),
            text_memory::FIELDS.join("; ")
        )));
    }
    let e = text_memory::embed_fields(encoder, texts, k, d)?;
    Ok(e.reshape((texts.len(), k * d))?.to_vec2::<f32>()?)
}

/// What a set of paintings gave the model to read: "pixels + title, artist, description"
/// (the fields present in at least one painting), or "pixels only".
pub fn read_label(texts: &[PaintingText]) -> String {
    let mut any = PaintingText::none();
    for t in texts {
        any.title = any.title.or_else(|| t.title.clone());
        any.artist_date_medium = any
            .artist_date_medium
            .or_else(|| t.artist_date_medium.clone());
        any.description = any.description.or_else(|| t.description.clone());
    }
    any.read_label()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;
    use rand::SeedableRng;

    #[test]
    fn absent_text_adds_nothing_and_dropout_zeroes_whole_fields() {
        let dev = Device::Cpu;
        let cfg = TextBranchConfig::tiny(3, 4);
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let b = TextBranch::new(&cfg, 5, vb.pp("text")).unwrap();
        let zeros = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
        let out = b.forward(&zeros).unwrap();
        assert_eq!(out.dims(), &[2, 5]);
        assert_eq!(
            out.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        let ones = Tensor::ones((2, 3, 4), DType::F32, &dev).unwrap();
        let s = b.forward(&ones).unwrap().abs().unwrap().sum_all().unwrap();
        assert!(s.to_scalar::<f32>().unwrap() > 0.0);
        assert!(b
            .forward(&Tensor::ones((2, 2, 4), DType::F32, &dev).unwrap())
            .is_err());

        // Dropout: each field is kept or zeroed whole; over many draws both happen, and
        // about text_dropout of the paintings lose everything.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let tokens: Vec<f32> = (1..=12).map(|i| i as f32).collect();
        let (mut all_gone, mut kept, n) = (0, 0, 2000);
        for _ in 0..n {
            let d = drop_text(&tokens, &cfg, &mut rng);
            for (f, orig) in d.chunks(4).zip(tokens.chunks(4)) {
                assert!(f.iter().all(|&x| x == 0.0) || f == orig, "{f:?}");
                kept += usize::from(f == orig);
            }
            all_gone += usize::from(d.iter().all(|&x| x == 0.0));
        }
        // P(all gone) = 0.3 + 0.7 * 0.2^3 = 0.3056; P(field kept) = 0.7 * 0.8 = 0.56.
        let p_all = all_gone as f64 / n as f64;
        let p_kept = kept as f64 / (3 * n) as f64;
        assert!((p_all - 0.3056).abs() < 0.04, "{p_all}");
        assert!((p_kept - 0.56).abs() < 0.04, "{p_kept}");
    }

    #[test]
    fn read_label_names_the_fields_any_painting_has() {
        let a = PaintingText {
            title: Some("Storm".into()),
            ..PaintingText::none()
        };
        let b = PaintingText {
            description: Some("A storm at sea.".into()),
            ..PaintingText::none()
        };
        assert_eq!(read_label(&[a.clone(), b]), "pixels + title, description");
        assert_eq!(read_label(&[a]), "pixels + title");
        assert_eq!(read_label(&[PaintingText::none()]), "pixels only");
        assert_eq!(read_label(&[]), "pixels only");
    }
}
