//! CLIPScore (Hessel et al. 2021) as jmhessel/clipscore computes it: CLIP ViT-B/32 image
//! and text embeddings, the text prefixed with "A photo depicts ", per pair
//! `2.5 * max(cos(image, text), 0)`, averaged over pairs. Images use CLIP's transform
//! (bicubic shortest side 224, centre crop, CLIP mean/std: `imaging::preprocess_clip`).
//!
//! Computed only when CLIP weights are installed (a folder with `config.json` and HF
//! `CLIPModel` safetensors); otherwise the report says "not available", never a number.

use std::path::Path;

use candle_core::{Device, Tensor, D};

use crate::error::{Error, Result};
use crate::models::clip_text::ClipText;
use crate::models::clip_tokenizer::{ClipTokenizer, Padding};
use crate::models::clip_vision::ClipVision;
use crate::models::nn::Mode;

/// The prefix jmhessel/clipscore puts before every caption.
pub const PREFIX: &str = "A photo depicts ";
/// CLIPScore's weight.
pub const W: f64 = 2.5;

/// `W * max(cos, 0)` per row of two embedding matrices [N, P] (not normalised).
pub fn scores_from_embeddings(images: &Tensor, texts: &Tensor) -> Result<Vec<f64>> {
    if images.dims() != texts.dims() {
        return Err(Error::Invalid(format!(
            "CLIPScore: image embeddings {:?} vs text embeddings {:?}",
            images.dims(),
            texts.dims()
        )));
    }
    let norm = |t: &Tensor| -> Result<Tensor> {
        Ok(t.broadcast_div(&t.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)?)
    };
    let cos = (norm(images)? * norm(texts)?)?
        .sum(D::Minus1)?
        .to_vec1::<f32>()?;
    Ok(cos.into_iter().map(|c| W * (c as f64).max(0.0)).collect())
}

/// A CLIP model ready to score (image tower, text tower, tokenizer).
#[derive(Debug)]
pub struct ClipScorer {
    vision: ClipVision,
    text: ClipText,
    tokenizer: ClipTokenizer,
    device: Device,
}

impl ClipScorer {
    /// Loads both towers from `dir` and the tokenizer from the shipped assets.
    pub fn load(dir: &Path, assets: &Path, device: &Device) -> Result<Self> {
        Ok(ClipScorer {
            vision: ClipVision::load(dir, device)?,
            text: ClipText::load(dir, device)?,
            tokenizer: ClipTokenizer::from_assets(assets)?,
            device: device.clone(),
        })
    }

    /// Builds from parts (tests, custom towers).
    pub fn new(
        vision: ClipVision,
        text: ClipText,
        tokenizer: ClipTokenizer,
        device: &Device,
    ) -> Self {
        ClipScorer {
            vision,
            text,
            tokenizer,
            device: device.clone(),
        }
    }

    /// Per-pair CLIPScores of (image file, caption) pairs; unreadable images are errors
    /// naming the file.
    pub fn score(&self, pairs: &[(&Path, &str)]) -> Result<Vec<f64>> {
        let size = self.vision.config().image_size as u32;
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(16) {
            let mut pix = Vec::new();
            for (p, _) in chunk {
                let img = crate::imaging::load_image(p)?;
                pix.push(crate::imaging::preprocess_clip(&img, size).to_tensor(&self.device)?);
            }
            let img = self
                .vision
                .forward(&Tensor::cat(&pix, 0)?, Mode::Infer)?
                .image_embeds;
            let texts: Vec<String> = chunk
                .iter()
                .map(|(_, c)| format!("{PREFIX}{}", c.trim()))
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let batch = self
                .tokenizer
                .batch(&refs, Padding::Longest, &self.device)?;
            let txt = self
                .text
                .forward(&batch.input_ids, Some(&batch.attention_mask), Mode::Infer)?
                .text_embeds;
            out.extend(scores_from_embeddings(&img, &txt)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::{VarBuilder, VarMap};

    #[test]
    fn formula_table() {
        let dev = Device::Cpu;
        let img = Tensor::new(&[[1f32, 0.0], [1.0, 1.0], [0.0, 2.0], [3.0, 4.0]], &dev).unwrap();
        let txt = Tensor::new(&[[2f32, 0.0], [-1.0, -1.0], [1.0, 0.0], [4.0, 3.0]], &dev).unwrap();
        let s = scores_from_embeddings(&img, &txt).unwrap();
        let want = [2.5, 0.0, 0.0, 2.5 * 24.0 / 25.0];
        for (g, w) in s.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{s:?}");
        }
        assert!(scores_from_embeddings(&img, &txt.narrow(0, 0, 2).unwrap()).is_err());
    }

    #[test]
    fn scores_images_with_a_clip_model() {
        // A small random CLIP with the real tokenizer vocabulary: the pipeline runs end to
        // end on a shipped painting and yields scores in [0, 2.5].
        use crate::models::clip_text::ClipTextConfig;
        use crate::models::clip_vision::ClipVisionConfig;
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let vcfg = ClipVisionConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            image_size: 32,
            patch_size: 16,
            projection_dim: 8,
            ..ClipVisionConfig::vit_b_32()
        };
        let tcfg = ClipTextConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            projection_dim: 8,
            ..ClipTextConfig::openai_vit_b()
        };
        let vision = ClipVision::new(&vcfg, vb.clone()).unwrap();
        let text = ClipText::new(&tcfg, vb).unwrap();
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let scorer = ClipScorer::new(
            vision,
            text,
            ClipTokenizer::from_assets(&assets).unwrap(),
            &dev,
        );
        let img = assets.join("paintings/aic/100342.jpg");
        let s = scorer
            .score(&[
                (img.as_path(), "a saint in a brown robe"),
                (img.as_path(), "a stormy sea"),
            ])
            .unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|v| (0.0..=2.5).contains(v)), "{s:?}");
        let e = scorer
            .score(&[(Path::new("/no/such.jpg"), "x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such.jpg"));
    }
}
