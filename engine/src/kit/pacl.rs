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

/// What the text stage wrote to `text_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaclTextReport {
    /// The base model's folder.
    pub base: String,
    /// The stage's training.
    pub train: crate::pacl::text_stage::TextStageReport,
    /// The base model (pixels only) on the test split (not measured by the quick
    /// smoke test).
    pub before: Option<crate::pacl::text_stage::TextEvalReport>,
    /// The model with its text branch on the test split.
    pub after: crate::pacl::text_stage::TextEvalReport,
}

/// Settings of [`train_pacl_text`].
#[derive(Debug, Clone, PartialEq)]
pub struct PaclTextOptions {
    /// The stage's hyper-parameters.
    pub stage: crate::pacl::text_stage::TextStageConfig,
    /// The smoke-test version: 40 training paintings, 3 epochs of 3 steps.
    pub quick: bool,
}

/// PACL's text stage on the shipped data (`artemo train --preset demo --only
/// pacl-text`): the PACL model in `base` gets a text branch on its image side, trained
/// with its tower frozen ([`crate::pacl::text_stage`]), written to `out` (the tower's
/// tensors bit-identical to `base`'s) with `text_report.json` (probes and zero-shot
/// before and after, on the test split).
pub fn train_pacl_text(
    assets: &Path,
    models: &Path,
    base: &Path,
    out: &Path,
    opts: &PaclTextOptions,
    device: &Device,
    progress: &dyn Progress,
) -> Result<PaclTextReport> {
    use crate::models::text_memory::PaintingText;
    use crate::pacl::text_branch::text_tokens;
    use crate::pacl::text_stage::{evaluate, train_text, StageData};
    use crate::pacl::train::{prepare, PrepareOptions};
    let (cfg, quick) = (&opts.stage, opts.quick);
    let model = crate::pacl::PaclModel::load(base, device)?;
    let enc = crate::pacl::embed::text_encoder(&model, models)?;
    let popts = PrepareOptions {
        k: 2,
        seed: cfg.seed,
        max_paintings: quick.then_some(40),
        ..Default::default()
    };
    let prep = Scaled::new(progress, 0.0, 0.3);
    let data = prepare(assets, &enc, &model.config().tower, None, &popts, &prep)?;
    let collection =
        crate::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let texts: Vec<PaintingText> = data
        .image_ids
        .iter()
        .map(|id| {
            collection
                .paintings
                .iter()
                .find(|p| &p.id == id)
                .map(PaintingText::from_painting)
                .unwrap_or_default()
        })
        .collect();
    let tokens = text_tokens(&enc, &texts, &cfg.branch)?;
    let sd = StageData::new(&model, &data, tokens)?;
    let cfg = crate::pacl::text_stage::TextStageConfig {
        epochs: if quick { 3 } else { cfg.epochs },
        steps_per_epoch: if quick { Some(3) } else { cfg.steps_per_epoch },
        ..cfg.clone()
    };
    let (trained, train) = train_text(&model, &data, &sd, &cfg, &Scaled::new(progress, 0.3, 0.6))?;
    progress.report(0.9, "probes and zero-shot on the test split");
    let before = if quick {
        None
    } else {
        Some(evaluate(&model, &enc, assets)?)
    };
    let after = evaluate(&trained, &enc, assets)?;
    trained.save(out)?;
    let r = PaclTextReport {
        base: base.display().to_string(),
        train,
        before,
        after,
    };
    write_atomic(
        &out.join("text_report.json"),
        serde_json::to_string_pretty(&r)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )?;
    progress.report(1.0, "done");
    Ok(r)
}
