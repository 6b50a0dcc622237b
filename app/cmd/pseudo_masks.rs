//! `artemo annotations pseudo-masks --artemis CSV --images DIR --out DIR [--method
//! clip|kit]`: one stimulus mask per ArtEmis utterance by patch-text similarity
//! (`artemo_engine::emosem::data::pseudo`, an approximation of the EmoSEM paper's
//! VinVL + CLIP pseudo-masks; docs/emosem.md), cached on disk, for
//! `--stimuli pseudo:DIR`. A run stopped with Ctrl-C keeps every map already cached
//! (atomic writes); the next run reuses them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::emosem::data::pseudo::{build_pseudo_masks, PseudoMethod, PseudoRequest};
use clap::Args;

/// Arguments of `artemo annotations pseudo-masks`.
#[derive(Args, Debug)]
pub struct PseudoMasksArgs {
    /// The ArtEmis CSV (art_style, painting, emotion, utterance).
    #[arg(long)]
    pub artemis: PathBuf,
    /// The images: a folder, a manifest CSV or a WikiArt root (painting id = file stem).
    #[arg(long)]
    pub images: PathBuf,
    /// Output folder: pseudo_masks.csv, pseudo_masks.json, masks/, cache/.
    #[arg(long)]
    pub out: PathBuf,
    /// `kit` (the demo kit's PACL patch tower against MiniLM) or `clip` (CLIP ViT-B/16,
    /// models/clip-vit-base-patch16).
    #[arg(long, default_value = "kit")]
    pub method: String,
    /// The model folder instead of the default (PACL for kit, CLIP ViT-B/16 for clip).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Cache of similarity maps (default: <out>/cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Kept share of the min-max normalised similarity, in (0, 1).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Skip rows whose painting has no image (they are refused otherwise).
    #[arg(long)]
    pub skip_missing: bool,
}

/// Runs `artemo annotations pseudo-masks`.
pub fn run(a: &PseudoMasksArgs) -> Result<ExitCode> {
    let method = PseudoMethod::parse(&a.method)
        .ok_or_else(|| anyhow!("--method {}: expected clip or kit", a.method))?;
    super::common::check_writable(&a.out)?;
    if a.out.exists() && !a.out.is_dir() {
        anyhow::bail!("--out {}: exists and is not a folder", a.out.display());
    }
    if let Some(c) = &a.cache {
        super::common::check_writable(c)?;
    }
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    let device = artemo_engine::device::select_device(Default::default()).device;
    let req = PseudoRequest {
        artemis: a.artemis.clone(),
        images: a.images.clone(),
        out: a.out.clone(),
        method,
        models,
        assets,
        model_dir: a.model.clone(),
        cache: a.cache.clone(),
        threshold: a.threshold,
        skip_missing: a.skip_missing,
    };
    let bar = std::cell::RefCell::new(crate::progress::Progress::new());
    let report = build_pseudo_masks(
        &req,
        &device,
        &artemo_engine::progress::FnProgress::new(|f, m| bar.borrow_mut().update(f, None, m)),
    )?;
    drop(bar);
    println!(
        "{} masks from {} rows ({} similarity maps computed, {} from the cache; {} empty; {} rows skipped)",
        report.masks, report.rows, report.computed, report.from_cache, report.empty, report.skipped
    );
    println!("method {}: {}", report.method, report.model);
    println!(
        "wrote {} (train with --stimuli pseudo:{})",
        report.index.display(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
