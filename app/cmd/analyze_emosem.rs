//! `artemo analyze IMAGE --model emosem [--single EMOTION | --multi] [--sample [--top-p P]
//! [--temperature T] [--seed S] | --greedy] --out DIR`: EmoSEM's per-emotion stimulus masks
//! and explanations, run as an engine job with progress and each emotion's result printed
//! as it streams in. Decoding: `--sample` (nucleus, SEVLM's flags), `--greedy`, or neither
//! (the model's configuration: nucleus p = 0.9, seed 0 for the paper configuration, greedy
//! for the small one and the demo kit).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use artemo_engine::emosem::analyze::{default_model, AnalyzeRequest};
use artemo_engine::emosem::Decoding;
use artemo_engine::worker::{Command, Engine, JobOutput};
use artemo_engine::Emotion;
use clap::Args;

/// EmoSEM's options of `artemo analyze`.
#[derive(Args, Debug, Clone)]
pub struct EmosemArgs {
    /// Segment and explain one emotion (Single-Mask query).
    #[arg(long, value_name = "EMOTION", conflicts_with = "multi")]
    pub single: Option<String>,
    /// Segment and explain all eight emotions (the default).
    #[arg(long)]
    pub multi: bool,
    /// Output folder: masks/<image>_<emotion>.png, npy/<image>_<emotion>.npy (probability
    /// maps, `artemo eval --task emosem` input), dominant.png, explanations.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Embedding cache (paper configuration; default: $ARTEMO_CACHE or ~/.cache/artemo).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// EmoSEM: greedy explanations even when the model's configuration samples (the paper
    /// configuration samples with nucleus p = 0.9).
    #[arg(long, conflicts_with = "sample")]
    pub greedy: bool,
}

/// The explanations' decoding: `sample` (from `--sample --top-p --temperature --seed`),
/// else greedy with `--greedy`, else `None` (the model's configuration).
pub fn decoding(args: &EmosemArgs, sample: Option<Decoding>) -> Option<Decoding> {
    sample.or(args.greedy.then_some(Decoding::Greedy))
}

/// Runs the EmoSEM analysis of `image` on `engine`.
/// `weights`: the EmoSEM model folder (config.json + model.safetensors; default:
/// models/emosem, then the demo kit's).
pub fn run(
    image: &std::path::Path,
    weights: Option<&std::path::Path>,
    args: &EmosemArgs,
    decoding: Option<Decoding>,
    engine: &Engine,
) -> Result<ExitCode> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    let model = match weights {
        Some(w) => w.to_path_buf(),
        None => default_model(&models).ok_or_else(|| {
            anyhow!(
                "no EmoSEM model in {} (train one, or pass --weights DIR)",
                models.join("emosem").display()
            )
        })?,
    };
    let emotions = match &args.single {
        Some(name) => {
            let e = Emotion::parse(name)
                .filter(|e| *e != Emotion::SomethingElse)
                .ok_or_else(|| {
                    anyhow!("unknown emotion `{name}` (one of the eight ArtEmis emotions)")
                })?;
            vec![e]
        }
        None => Vec::new(),
    };
    super::common::require_image_file(image)?;
    artemo_engine::models::registry::expect_kind(&model, "emosem", "--weights")?;
    if let Some(out) = &args.out {
        super::common::check_writable(out)?;
        if out.exists() && !out.is_dir() {
            bail!("--out {}: exists and is not a folder", out.display());
        }
    }
    let warnings = super::common::image_warnings(image)?;
    let req = AnalyzeRequest {
        model,
        image: image.to_path_buf(),
        emotions,
        out: args.out.clone(),
        assets,
        models,
        cache: Some(
            args.cache
                .clone()
                .unwrap_or_else(super::common::cache_dir)
                .join("emosem"),
        ),
        tower: None,
        decoding,
    };
    if let Some(d) = decoding {
        println!("explanations: {}", d.label());
    }
    let res = engine.run_streaming(
        Command::AnalyzeEmosem(req),
        super::common::progress(),
        |partial| {
            if let JobOutput::EmosemEmotion(v) = partial {
                println!(
                    "{:<12} area {:>5.1}%  {}",
                    v.emotion,
                    v.area_share * 100.0,
                    v.explanation
                );
            }
        },
    )?;
    let JobOutput::EmosemAnalysis(v) = res else {
        return Err(super::common::unexpected(&res));
    };
    let size = |(w, h): (usize, usize)| format!("{w}x{h}");
    let (image_size, map_size) = (size(v.image_size), size(v.map_size));
    if image_size == map_size {
        println!("maps at the image's size, {map_size} px");
    } else {
        println!(
            "maps at {map_size} px (the image is {image_size} px; maps are at most {} px on the long side)",
            artemo_engine::emosem::analyze::MAX_MAP_SIDE
        );
    }
    if let Some(out) = &args.out {
        if !warnings.is_empty() {
            // Doubtful input is recorded beside the outputs.
            let p = out.join("explanations.json");
            if let Ok(text) = std::fs::read_to_string(&p) {
                if let Ok(mut j) = serde_json::from_str::<serde_json::Value>(&text) {
                    if let Some(o) = j.as_object_mut() {
                        o.insert("warnings".into(), serde_json::json!(warnings));
                    }
                    artemo_engine::error::write_atomic(
                        &p,
                        serde_json::to_string_pretty(&j)?.as_bytes(),
                    )?;
                }
            }
        }
    }
    if let Some(out) = &args.out {
        println!("wrote {} ({} emotions)", out.display(), v.emotions.len());
    }
    Ok(ExitCode::SUCCESS)
}
