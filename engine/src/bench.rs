//! Benchmarks (not tests): forward times of each backbone at real size with random
//! weights, frozen as a loaded checkpoint's are (the shipped MiniLM with its real weights), run by `artemo bench backbones`
//! in a release build. PyTorch times for the same forwards come from
//! `tools/parity/<model>.py --bench`. `paper`: the paper configurations end to end
//! (`artemo bench paper`).

pub mod paper;
pub mod synthetic;

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::Serialize;

use crate::error::Result;
use crate::models::bert::SentenceEncoder;
use crate::models::clip_text::{ClipText, ClipTextConfig};
use crate::models::clip_vision::{ClipVision, ClipVisionConfig};
use crate::models::gpt2::{Gpt2, Gpt2Config};
use crate::models::nn::Mode;

/// One measured forward.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// What ran.
    pub name: String,
    /// Input shape in words.
    pub input: String,
    /// Median of the timed runs, milliseconds.
    pub median_ms: f64,
    /// Timed runs (after one warm-up).
    pub runs: usize,
}

/// Runs `f` once to warm up, then `runs` times, and reports the median.
pub fn time(
    name: &str,
    input: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<BenchRow> {
    f()?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(BenchRow {
        name: name.into(),
        input: input.into(),
        median_ms: ms[ms.len() / 2],
        runs,
    })
}

/// [`time`] for work on `device`: each run ends when the device has finished (a GPU runs
/// asynchronously, so without the wait only the launches would be timed).
pub fn time_on(
    device: &Device,
    name: &str,
    input: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<BenchRow> {
    time(name, input, runs, || {
        f()?;
        device.synchronize()?;
        Ok(())
    })
}

fn random_vb(device: &Device) -> (VarMap, VarBuilder<'static>) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, device);
    (vm, vb)
}

/// A model of random weights built as the app builds a loaded one: the weights are drawn
/// in a variable map, then handed to `build` again as plain tensors, as a checkpoint is read
/// (frozen weights may be kept in a faster layout, [`crate::models::nn::Dense`]).
fn frozen<M>(device: &Device, build: impl Fn(VarBuilder<'static>) -> Result<M>) -> Result<M> {
    let (vm, vb) = random_vb(device);
    build(vb)?;
    let tensors: std::collections::HashMap<String, Tensor> = vm
        .data()
        .lock()
        .map_err(|_| crate::error::Error::Invalid("variable map lock poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    build(VarBuilder::from_tensors(tensors, DType::F32, device))
}

/// Runs every backbone benchmark on `device`; `models` is the models folder (for MiniLM);
/// `which` filters by name substring; `progress` is told each name before it runs.
pub fn backbones(
    models: &std::path::Path,
    which: Option<&str>,
    device: &Device,
    mut progress: impl FnMut(&str),
) -> Result<Vec<BenchRow>> {
    let dev = device.clone();
    let wanted = |n: &str| which.is_none_or(|w| n.contains(w));
    let mut rows = Vec::new();
    if wanted("clip-vit-b16") {
        progress("clip-vit-b16");
        let m = frozen(&dev, |vb| {
            ClipVision::new(&ClipVisionConfig::vit_b_16(), vb)
        })?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 224, 224), &dev)?;
        rows.push(time_on(
            &dev,
            "clip-vit-b16 vision",
            "1x3x224x224",
            5,
            || m.forward(&x, Mode::Infer).map(|_| ()),
        )?);
    }
    if wanted("clip-vit-b32") {
        progress("clip-vit-b32");
        let m = frozen(&dev, |vb| {
            ClipVision::new(&ClipVisionConfig::vit_b_32(), vb)
        })?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 224, 224), &dev)?;
        rows.push(time_on(
            &dev,
            "clip-vit-b32 vision",
            "1x3x224x224",
            5,
            || m.forward(&x, Mode::Infer).map(|_| ()),
        )?);
    }
    if wanted("clip-text") {
        progress("clip-text");
        let m = frozen(&dev, |vb| {
            ClipText::new(&ClipTextConfig::openai_vit_b(), vb)
        })?;
        let ids = Tensor::arange(0u32, 77, &dev)?.unsqueeze(0)?;
        rows.push(time_on(&dev, "clip text", "1x77 tokens", 5, || {
            m.forward(&ids, None, Mode::Infer).map(|_| ())
        })?);
    }
    if wanted("distilgpt2") {
        progress("distilgpt2");
        let m = frozen(&dev, |vb| {
            Ok(Gpt2::new(&Gpt2Config::distilgpt2(true), vb, false)?)
        })?;
        let ids = Tensor::arange(0u32, 30, &dev)?.unsqueeze(0)?;
        let enc = Tensor::randn(0f32, 1.0, (1, 196, 768), &dev)?;
        rows.push(time_on(
            &dev,
            "distilgpt2 + cross-attention",
            "30 tokens, 196 encoder states",
            5,
            || {
                m.forward(&ids, None, Some(&enc), None, None, Mode::Infer)
                    .map(|_| ())
            },
        )?);
    }
    if wanted("minilm") {
        progress("minilm");
        let enc = SentenceEncoder::minilm(models, &dev)?;
        let texts: Vec<&str> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    "The dark sea swallowing the little boat makes me feel afraid."
                } else {
                    "A quiet meadow at dusk."
                }
            })
            .collect();
        rows.push(time_on(
            &dev,
            "all-MiniLM-L6-v2 (shipped weights)",
            "100 sentences, batch 32",
            3,
            || enc.encode(&texts, 32).map(|_| ()),
        )?);
    }
    if wanted("sam-vit-b") {
        progress("sam-vit-b");
        let (_vm, vb) = random_vb(&dev);
        let m = candle_transformers::models::segment_anything::sam::Sam::new(
            768,
            12,
            12,
            &[2, 5, 8, 11],
            vb,
        )?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 1024, 1024), &dev)?;
        // candle-transformers' `Sam::embeddings` takes one image [3, H, W].
        let x = x.squeeze(0)?;
        rows.push(time_on(
            &dev,
            "sam vit-b image encoder (candle-transformers)",
            "1x3x1024x1024",
            2,
            || m.embeddings(&x).map(|_| ()).map_err(Into::into),
        )?);
    }
    if wanted("sam-vit-b") {
        // Artemo's own ViT encoder (models::sam_vit), the one `models::sam::Sam` loads.
        progress("sam-vit-b (artemo sam_vit)");
        let m = frozen(&dev, |vb| {
            Ok(crate::models::sam_vit::SamVit::new(
                &crate::models::sam::SamVisionConfig::default(),
                vb.pp("image_encoder"),
            )?)
        })?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 1024, 1024), &dev)?;
        rows.push(time_on(
            &dev,
            "sam vit-b image encoder (artemo sam_vit)",
            "1x3x1024x1024",
            2,
            || m.forward(&x).map(|_| ()).map_err(Into::into),
        )?);
    }
    if wanted("mobilesam") {
        progress("mobilesam");
        let (_vm, vb) = random_vb(&dev);
        let m = candle_transformers::models::segment_anything::sam::Sam::new_tiny(vb)?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 1024, 1024), &dev)?;
        // candle-transformers' `Sam::embeddings` takes one image [3, H, W].
        let x = x.squeeze(0)?;
        rows.push(time_on(
            &dev,
            "mobilesam tinyvit image encoder",
            "1x3x1024x1024",
            3,
            || m.embeddings(&x).map(|_| ()).map_err(Into::into),
        )?);
    }
    if wanted("mobilesam") {
        // Artemo's own TinyViT (models::sam_tiny_vit: exact GELU, folded BatchNorms, direct
        // depthwise kernel), the one `models::sam::Sam` loads.
        progress("mobilesam (artemo sam_tiny_vit)");
        let m = frozen(&dev, |vb| {
            crate::models::sam_tiny_vit::TinyVit::new(
                &crate::models::sam_tiny_vit::TinyVitConfig::default(),
                vb.pp("image_encoder"),
            )
        })?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 1024, 1024), &dev)?;
        rows.push(time_on(
            &dev,
            "mobilesam tinyvit image encoder (artemo sam_tiny_vit)",
            "1x3x1024x1024",
            3,
            || m.forward(&x).map(|_| ()),
        )?);
    }
    Ok(rows)
}
