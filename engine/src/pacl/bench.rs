//! PACL benchmarks (not tests), run by `artemo bench pacl` in a release build: descriptor
//! extraction per image, embedding throughput (images/s) of the default tower, one
//! training step (four sub-batches of 16, forward + backward + AdamW) and t-SNE of 10,000
//! points. Random weights and synthetic images: the timings do not depend on them.

use std::time::Instant;

use candle_core::Device;
use rand::{Rng, SeedableRng};

use super::train::{synthetic_data, train, TrainConfig};
use super::{PaclConfig, PaclModel};
use crate::bench::{time as timed, BenchRow};
use crate::error::Result;
use crate::models::patch_tower::{image_descriptors, Descriptors};

/// Runs the PACL benchmarks; `which` filters by name substring (descriptors, embed,
/// train-step, tsne); `progress` is told each name before it runs.
pub fn run(which: Option<&str>, mut progress: impl FnMut(&str)) -> Result<Vec<BenchRow>> {
    let dev = Device::Cpu;
    let wanted = |n: &str| which.is_none_or(|w| n.contains(w));
    let cfg = PaclConfig::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(640, 480, |_, _| {
        image::Rgb([rng.gen(), rng.gen(), rng.gen()])
    }));
    let mut rows = Vec::new();
    if wanted("descriptors") {
        progress("descriptors");
        rows.push(timed(
            "patch descriptors",
            "640x480 -> 14x14x29",
            10,
            || {
                image_descriptors(&img, &cfg.tower);
                Ok(())
            },
        )?);
    }
    let d: Descriptors = image_descriptors(&img, &cfg.tower);
    if wanted("embed") {
        progress("embed");
        let model = PaclModel::new(&cfg, &dev, 1)?;
        let batch: Vec<Descriptors> = vec![d.clone(); 64];
        let row = timed("embed (tower + q_v)", "64 images, batch 32", 3, || {
            model
                .embed(&batch, 32, &crate::progress::Silent)
                .map(|_| ())
        })?;
        let per_s = 64.0 / (row.median_ms / 1000.0);
        rows.push(BenchRow {
            name: format!("embed throughput: {per_s:.1} images/s"),
            ..row
        });
    }
    if wanted("train-step") {
        progress("train-step");
        let data = synthetic_data(64, cfg.tower.grid, cfg.text_dim);
        // The last third of a 3-epoch run uses all four losses: time 1 epoch of 1 step
        // in each phase and report the third (all four sub-batches).
        let tc = TrainConfig {
            epochs: 3,
            sub_batch: 16,
            steps_per_epoch: Some(1),
            warmup_steps: 0,
            ..Default::default()
        };
        let (_, report) = train(&cfg, &tc, &data, &dev, &crate::progress::Silent)?;
        let last = &report.epochs[2];
        rows.push(BenchRow {
            name: "train step (L1-L4, 4 x 16 pairs)".into(),
            input: "forward + backward + AdamW".into(),
            median_ms: last.seconds * 1000.0,
            runs: 1,
        });
    }
    if wanted("tsne") {
        progress("tsne");
        let pts: Vec<Vec<f32>> = (0..10_000)
            .map(|i| {
                (0..32)
                    .map(|j| ((i % 10) as f32) * ((j % 3) as f32) + rng.gen_range(-1.0f32..1.0))
                    .collect()
            })
            .collect();
        let t = Instant::now();
        super::projection::tsne(&pts, &Default::default(), &crate::progress::Silent)?;
        rows.push(BenchRow {
            name: "t-SNE (Barnes-Hut, 1000 iterations)".into(),
            input: "10000 x 32".into(),
            median_ms: t.elapsed().as_secs_f64() * 1000.0,
            runs: 1,
        });
    }
    Ok(rows)
}
