//! The demo kit's first stage: the patch tower trained with PACL against the frozen MiniLM
//! text tower, with its painting probe written beside it.

use std::path::Path;

use candle_core::Device;

use super::DemoOptions;
use crate::error::{write_atomic, Error, Result};
use crate::progress::Progress;

/// Trains the kit's PACL model into `out` (`report.json` holds the training report and the
/// probe).
pub fn train_pacl(
    assets: &Path,
    models: &Path,
    out: &Path,
    opts: &DemoOptions,
    device: &Device,
    progress: &dyn Progress,
) -> Result<()> {
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
    let data = prepare(assets, &enc, &cfg.tower, None, &popts, |f, m| {
        progress.report(0.05 * f, m);
        !progress.cancelled()
    })?;
    let tc = TrainConfig {
        epochs: if opts.quick { 3 } else { 6 },
        steps_per_epoch: opts.quick.then_some(5),
        seed: opts.seed,
        ..Default::default()
    };
    let (model, report) = train(
        &cfg,
        &tc,
        &data,
        device,
        |f, m| progress.report(0.05 + 0.3 * f, m),
        || progress.cancelled(),
    )?;
    model.save(out)?;
    let probe = crate::pacl::probe::painting_probe(
        &model,
        assets,
        &crate::pacl::probe::ProbeConfig::default(),
    )?;
    let json = serde_json::json!({ "train": report, "probe": probe });
    write_atomic(
        &out.join("report.json"),
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )
}
