//! PACL training on the shipped data, as the demo kit's first stage and `artemo train
//! pacl`: partition and pseudo-labels (stages 1-2), the patch tower trained against the
//! frozen MiniLM text tower (stage 3), the dominant-emotion probe, all written to the
//! output folder (`config.json`, `model.safetensors`, `report.json`).

use std::path::Path;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::error::{write_atomic, Error, Result};
use crate::pacl::probe::PaintingProbeReport;
use crate::pacl::TrainReport;
use crate::progress::{Progress, Scaled};

/// What a PACL training run wrote to `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaclTrainReport {
    /// The training run.
    pub train: TrainReport,
    /// The dominant-emotion linear probe on the test split.
    pub probe: PaintingProbeReport,
}

/// Settings of [`train_pacl`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaclTrainOptions {
    /// Epochs (3 when `quick`).
    pub epochs: usize,
    /// A minutes-long run: 3 epochs of 5 steps on 40 paintings.
    pub quick: bool,
    /// Seed.
    pub seed: u64,
    /// The share of the progress the data preparation takes (the rest is training).
    pub prepare_share: f32,
}

/// Trains a PACL model of the default configuration on the shipped data into `out`.
pub fn train_pacl(
    assets: &Path,
    models: &Path,
    out: &Path,
    opts: &PaclTrainOptions,
    device: &Device,
    progress: &dyn Progress,
) -> Result<PaclTrainReport> {
    use crate::pacl::train::{prepare, PrepareOptions};
    use crate::pacl::{train, PaclConfig, TrainConfig};
    let cfg = PaclConfig::default();
    let enc = crate::models::bert::SentenceEncoder::load(&models.join(&cfg.text_model), device)?;
    let popts = PrepareOptions {
        k: 2,
        seed: opts.seed,
        max_paintings: opts.quick.then_some(40),
        ..Default::default()
    };
    let share = opts.prepare_share;
    let prep = Scaled::new(progress, 0.0, share);
    let data = prepare(assets, &enc, &cfg.tower, None, &popts, &prep)?;
    progress.report(share, &data.counts.summary());
    let tc = TrainConfig {
        epochs: if opts.quick { 3 } else { opts.epochs },
        steps_per_epoch: opts.quick.then_some(5),
        seed: opts.seed,
        ..Default::default()
    };
    let fit = Scaled::new(progress, share, 1.0 - share);
    let (model, report) = train(&cfg, &tc, &data, device, &fit)?;
    model.save(out)?;
    progress.report(1.0, "linear probe on the test split");
    let probe = crate::pacl::probe::painting_probe(
        &model,
        assets,
        &crate::pacl::probe::ProbeConfig::default(),
    )?;
    let r = PaclTrainReport {
        train: report,
        probe,
    };
    write_atomic(
        &out.join("report.json"),
        serde_json::to_string_pretty(&r)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )?;
    Ok(r)
}
