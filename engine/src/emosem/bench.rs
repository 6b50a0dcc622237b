//! `artemo bench emosem`: encoder time (cold, and read back from the embedding cache) and
//! decoder + 8 explanations time, for the paper configuration (SAM ViT-B, distilgpt2,
//! CLIP ViT-B/16 sizes with random weights: speed does not depend on the values) and the
//! small configuration. Not a test: run it in a release build.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::Serialize;

use super::cache::{sha256_bytes, EmbeddingCache};
use super::features::{GridEncoder, ImageFeatures, PatchColourGrid};
use super::{Emosem, EmosemConfig, Paradigm, EMOTIONS};
use crate::error::Result;
use crate::models::clip_vision::{ClipVision, ClipVisionConfig};
use crate::models::nn::Mode;
use crate::models::sam::{Sam, SamConfig};

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct EmosemBenchRow {
    /// What ran.
    pub name: String,
    /// Milliseconds (median of the runs).
    pub median_ms: f64,
    /// Timed runs.
    pub runs: usize,
}

fn time(name: &str, runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<EmosemBenchRow> {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(EmosemBenchRow {
        name: name.into(),
        median_ms: ms[ms.len() / 2],
        runs,
    })
}

/// Fixed prompt ids (the prompt's length matters, not its words).
fn bench_prompt_ids() -> Vec<Vec<u32>> {
    (0..8)
        .map(|i| vec![8612, 262, 9335, 329, 262, 9942, 1000 + i])
        .collect()
}

/// Runs the benchmark: `paper` includes the paper-size configuration (slow on a CPU: a
/// SAM ViT-B forward at 1024 pixels), `runs` timed runs per row; `progress` names each row.
pub fn run(
    paper: bool,
    runs: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<EmosemBenchRow>> {
    let dev = Device::Cpu;
    let runs = runs.max(1);
    let mut rows = Vec::new();
    let dir = tempfile_dir()?;

    // Small configuration: patch-colour tower (14x14, 16-pixel patches) + small decoder.
    progress("small");
    let tower = PatchColourGrid {
        side: 14,
        patch: 16,
    };
    let cfg = EmosemConfig::small(
        Paradigm::Multi,
        14,
        PatchColourGrid::DIM,
        PatchColourGrid::NAME,
    );
    let vm = VarMap::new();
    let model = Emosem::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        bench_prompt_ids(),
    )?;
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    }));
    let cache = EmbeddingCache::new(dir.join("small"), sha256_bytes(tower.name().as_bytes()));
    let key = sha256_bytes(b"bench image");
    rows.push(time("small: grid tower (cold)", runs, || {
        tower.encode(&img, &dev).map(|_| ())
    })?);
    cache.store(&key, &tower.encode(&img, &dev)?)?;
    rows.push(time("small: grid from cache", runs, || {
        cache
            .get_or_compute(&key, &dev, || tower.encode(&img, &dev))
            .map(|_| ())
    })?);
    let feats = ImageFeatures::Grid {
        grid: tower.encode(&img, &dev)?,
    };
    rows.push(time(
        "small multi: decoder + 8 masks + 8 explanations",
        runs,
        || model.analyze(&feats, &EMOTIONS).map(|_| ()),
    )?);
    let single_cfg = EmosemConfig {
        paradigm: Paradigm::Single,
        ..cfg.clone()
    };
    let vm = VarMap::new();
    let single = Emosem::new(
        &single_cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        bench_prompt_ids(),
    )?;
    rows.push(time(
        "small single: 8 x (decoder + explanation)",
        runs,
        || {
            for e in EMOTIONS {
                single.analyze(&feats, &[e])?;
            }
            Ok(())
        },
    )?);

    if paper {
        progress("paper: SAM ViT-B encoder");
        let vm = VarMap::new();
        let sam = Sam::new(
            &SamConfig::vit_b(),
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
        )?;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 1024, 1024), &dev)?;
        let cache = EmbeddingCache::new(dir.join("sam"), sha256_bytes(b"random sam"));
        rows.push(time(
            "paper: SAM ViT-B encoder 1024px (cold)",
            runs,
            || sam.image_embeddings(&x).map(|_| ()),
        )?);
        let emb = sam.image_embeddings(&x)?;
        cache.store(&key, &emb)?;
        rows.push(time("paper: SAM embedding from cache", runs, || {
            cache
                .get_or_compute(&key, &dev, || sam.image_embeddings(&x))
                .map(|_| ())
        })?);
        progress("paper: CLIP ViT-B/16");
        let vm = VarMap::new();
        let clip = ClipVision::new(
            &ClipVisionConfig::vit_b_16(),
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
        )?;
        let cx = Tensor::randn(0f32, 1.0, (1, 3, 224, 224), &dev)?;
        rows.push(time("paper: CLIP ViT-B/16 grid (cold)", runs, || {
            clip.forward(&cx, Mode::Infer).map(|_| ())
        })?);
        let grid = clip.forward(&cx, Mode::Infer)?.grid;
        progress("paper: decoder + explanations");
        let feats = ImageFeatures::Paper {
            sam: emb,
            clip_grid: grid,
        };
        for paradigm in [Paradigm::Multi, Paradigm::Single] {
            let cfg = EmosemConfig::paper(paradigm);
            let vm = VarMap::new();
            let m = Emosem::new(
                &cfg,
                VarBuilder::from_varmap(&vm, DType::F32, &dev),
                bench_prompt_ids(),
            )?;
            let name = match paradigm {
                Paradigm::Multi => "paper multi: decoder + 8 masks + 8 explanations",
                Paradigm::Single => "paper single: 8 x (decoder + explanation)",
            };
            rows.push(time(name, runs, || {
                match paradigm {
                    Paradigm::Multi => {
                        m.analyze(&feats, &EMOTIONS)?;
                    }
                    Paradigm::Single => {
                        for e in EMOTIONS {
                            m.analyze(&feats, &[e])?;
                        }
                    }
                }
                Ok(())
            })?);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("artemo-emosem-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| crate::error::Error::io(&d, e))?;
    Ok(d)
}
