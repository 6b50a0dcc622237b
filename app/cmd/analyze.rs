//! `artemo analyze IMAGE... --model sevlm`: emotion distribution and generated
//! explanation for each image, tokens streamed as they are generated.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::sevlm::{self, DecodeOptions, Decoding};
use artemo_engine::worker::{Command, Engine, JobOutput, Lane, ModelSlot};
use clap::{Args, ValueEnum};

/// Which model analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    /// Emotion + explanation (SEVLM).
    Sevlm,
    /// Per-emotion stimulus masks and their explanations (EmoSEM); one image.
    Emosem,
}

/// Arguments of `artemo analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// The model.
    #[arg(long, value_enum, default_value = "sevlm")]
    model: ModelChoice,
    /// The model folder (config.json + model.safetensors); default: models/<model>,
    /// then the demo kit (models/demo/<model>).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// A converted SEVLM reference release: its `nle_model_<epoch>` folder (see
    /// tools/sevlm/convert_reference.py); replaces --weights.
    #[arg(long, conflicts_with = "weights")]
    reference: Option<PathBuf>,
    /// The reference release's VAD encoder (`emo_encoder.safetensors`).
    #[arg(long, requires = "reference")]
    emo_encoder: Option<PathBuf>,
    /// CLIP ViT-B/16 weights for the paper configuration.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Nucleus sampling instead of greedy decoding.
    #[arg(long)]
    sample: bool,
    /// Nucleus probability mass, in (0, 1].
    #[arg(long, default_value_t = 0.9, value_parser = parse_top_p, allow_negative_numbers = true)]
    top_p: f32,
    /// Sampling temperature, a finite number above 0.
    #[arg(long, default_value_t = 1.0, value_parser = parse_temperature, allow_negative_numbers = true)]
    temperature: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Never repeat the previous token or a bigram (off by default, as in the reference
    /// code and the evaluation).
    #[arg(long)]
    block_repeats: bool,
    /// Generated tokens at most (1 to 1000).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_tokens: u16,
    /// Print JSON (the analyses) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    emosem: super::analyze_emosem::EmosemArgs,
}

fn parse_f32(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{s}` is not a finite number"));
    }
    Ok(v)
}

fn parse_top_p(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is outside (0, 1]: top-p is a probability mass"
        ))
    }
}

fn parse_temperature(s: &str) -> Result<f32, String> {
    let v = parse_f32(s)?;
    if v > 0.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is outside (0, 100]: the temperature divides the logits"
        ))
    }
}

/// Runs `artemo analyze`.
pub fn run(args: &AnalyzeArgs, engine: &Engine) -> Result<ExitCode> {
    match args.model {
        ModelChoice::Sevlm => run_sevlm(args, engine),
        ModelChoice::Emosem => match args.images.as_slice() {
            [one] => super::analyze_emosem::run(one, args.weights.as_deref(), &args.emosem, engine),
            _ => Err(anyhow!("--model emosem analyses one image at a time")),
        },
    }
}

fn run_sevlm(args: &AnalyzeArgs, engine: &Engine) -> Result<ExitCode> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    let dir = match (&args.weights, &args.reference) {
        (Some(w), _) | (None, Some(w)) => w.clone(),
        (None, None) => sevlm::locate(&models).ok_or_else(|| {
            anyhow!(
                "no SEVLM weights installed: looked in {0}/sevlm and {0}/demo/sevlm; train the demo kit (`artemo train --preset demo`) or pass --weights DIR",
                models.display()
            )
        })?,
    };
    if args.reference.is_none() {
        artemo_engine::models::registry::expect_kind(&dir, "sevlm", "--weights")?;
    }
    let mut warnings = Vec::new();
    for img in &args.images {
        super::common::require_image_file(img)?;
        warnings.push(super::common::image_warnings(img)?);
    }
    let decoding = if args.sample {
        Decoding::Nucleus {
            top_p: args.top_p,
            temperature: args.temperature,
            seed: args.seed,
        }
    } else {
        Decoding::Greedy
    };
    let opts = DecodeOptions {
        decoding,
        max_tokens: usize::from(args.max_tokens),
        ignore_end: false,
        block_repeats: args.block_repeats,
    };
    let (dir2, clip) = (dir.clone(), args.clip.clone());
    let reference = args.reference.is_some();
    let emo = args.emo_encoder.clone();
    let load = move |device: &artemo_engine::Device| {
        if reference {
            sevlm::load_reference_runtime(
                &dir2,
                emo.as_deref(),
                &assets,
                &models,
                clip.as_deref(),
                device,
            )
        } else {
            sevlm::load_runtime(&dir2, &assets, &models, clip.as_deref(), device)
        }
    };
    let json = args.json;
    let mut current = usize::MAX;
    let out = engine.run_streaming(
        Command::Run {
            name: "SEVLM analyze".into(),
            lane: Lane::Compute,
            job: sevlm::analyze_job(ModelSlot::new(), load, args.images.clone(), opts),
        },
        |_, _, _| {},
        |partial| {
            if json {
                return;
            }
            if let JobOutput::Json(v) = partial {
                let i = v["image"].as_u64().unwrap_or(0) as usize;
                if let Some(t) = v.get("token") {
                    if i != current {
                        current = i;
                        print!("\n{}\n  generated: ", args.images[i].display());
                    }
                    print!("{}", t["text"].as_str().unwrap_or(""));
                    let _ = std::io::stdout().flush();
                } else if let Some(a) = v.get("analysis") {
                    print_analysis(a);
                }
            }
        },
    )?;
    if json {
        if let JobOutput::Json(mut v) = out {
            // One analysis per image, each with its image's warnings (a truncated file).
            if let Some(a) = v.as_array_mut() {
                for (analysis, w) in a.iter_mut().zip(&warnings) {
                    if let Some(o) = analysis.as_object_mut() {
                        o.insert("warnings".into(), serde_json::json!(w));
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_analysis(a: &serde_json::Value) {
    println!();
    let g = &a["generation"];
    match g["state"]["state"].as_str() {
        Some("complete") => {}
        Some("no_because") => {
            println!("  (the model wrote no \"because\": no explanation to show)")
        }
        Some("unknown_emotion") => println!(
            "  (\"{}\" is not an ArtEmis emotion)",
            g["state"]["words"].as_str().unwrap_or("")
        ),
        Some("empty") => println!("  (the model generated nothing)"),
        _ => {}
    }
    println!("  emotion distribution (model probabilities after \"the emotion is\"):");
    if let Some(d) = a["distribution"].as_array() {
        for row in d {
            let name = row[0].as_str().unwrap_or("?");
            let p = row[1].as_f64().unwrap_or(0.0);
            println!(
                "    {name:<15} {:>5.1}% {}",
                p * 100.0,
                "#".repeat((p * 40.0).round() as usize)
            );
        }
    }
}

/// `artemo bench sevlm`: one training step and generation speed, paper and small
/// configurations (random weights).
pub fn bench_sevlm(
    only: Option<&str>,
    progress: impl FnMut(&str),
) -> Result<Vec<artemo_engine::bench::BenchRow>> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let tok = artemo_engine::tokenize::TextTokenizer::gpt2_from_assets(&assets)?;
    let lex = artemo_engine::lexicon::VadLexicon::default_from_assets(&assets)?;
    let seq = sevlm::SequenceBuilder::new(tok, lex, "the emotion is", 30);
    Ok(sevlm::bench::run(&seq, only, 4, progress)?)
}
