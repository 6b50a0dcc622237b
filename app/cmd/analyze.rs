//! `artemo analyze IMAGE... --model sevlm`: emotion distribution and generated
//! explanation for each image, tokens streamed as they are generated.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::jobs::analyze_sevlm::AnalyzeSevlm;
use artemo_engine::jobs::{Roots, SevlmWeights};
use artemo_engine::lexicon::{LexiconFormat, VadSource};
use artemo_engine::sevlm::{self, Analysis, DecodeOptions, Decoding, ParseState};
use artemo_engine::worker::{Command, Engine, JobOutput};
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
    /// A SEVLM reference release: its `nle_model_<epoch>` folder (`pytorch_model.bin` read
    /// natively, or a converted `model.safetensors`); replaces --weights.
    #[arg(long, conflicts_with = "weights")]
    reference: Option<PathBuf>,
    /// The reference release's VAD encoder: `ckpt_stats_<epoch>.tar` (its
    /// `emo_encoder_state_dict`) or a converted `emo_encoder.safetensors`; default:
    /// `ckpt_stats_<epoch>.tar` beside the `nle_model_<epoch>` folder.
    #[arg(long, requires = "reference")]
    emo_encoder: Option<PathBuf>,
    /// CLIP ViT-B/16 weights for the paper configuration.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Nucleus sampling instead of greedy decoding (EmoSEM: instead of the model's own
    /// setting, which is nucleus p = 0.9 for the paper configuration).
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
    /// With --sample: pick the emotion greedily and sample only the explanation.
    #[arg(long)]
    greedy_emotion: bool,
    /// Let sub-word pieces join into words outside the model's word list (models with a
    /// `words.txt`, the demo kit's, decode with their known words by default).
    #[arg(long)]
    any_words: bool,
    /// Generated tokens at most (1 to 1000).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_tokens: u16,
    /// Print JSON (the analyses) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    lexicon: LexiconArgs,
    #[command(flatten)]
    emosem: super::analyze_emosem::EmosemArgs,
}

/// SEVLM's VAD lexicon on the command line (`analyze`, `eval --task sevlm`, `train`,
/// `train session`).
#[derive(Args, Debug, Clone, Default)]
pub struct LexiconArgs {
    /// SEVLM's VAD lexicon: an NRC VAD file (v1, v1 BipolarScale as the reference code
    /// reads it, or v2.1). Default: the shipped stand-in (actdata EPA + VADER), not NRC
    /// VAD.
    #[arg(long = "lexicon", value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// The lexicon file's layout: nrc-v1, nrc-v1-bipolar or nrc-v2 (default: detected).
    #[arg(long = "lexicon-format", requires = "path", value_parser = parse_lexicon_format)]
    pub format: Option<LexiconFormat>,
}

impl LexiconArgs {
    /// The engine's lexicon choice.
    pub fn source(&self) -> VadSource {
        match &self.path {
            Some(p) => VadSource::File {
                path: p.clone(),
                format: self.format,
            },
            None => VadSource::StandIn,
        }
    }
}

fn parse_lexicon_format(s: &str) -> Result<LexiconFormat, String> {
    match LexiconFormat::from_cli_name(s) {
        Some(f @ (LexiconFormat::NrcV1 | LexiconFormat::NrcV1Bipolar | LexiconFormat::NrcV2)) => {
            Ok(f)
        }
        _ => Err(format!(
            "`{s}` is not an NRC VAD layout (nrc-v1, nrc-v1-bipolar, nrc-v2)"
        )),
    }
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
            [one] => {
                let sample = args.sample.then_some(Decoding::Nucleus {
                    top_p: args.top_p,
                    temperature: args.temperature,
                    seed: args.seed,
                });
                let d = super::analyze_emosem::decoding(&args.emosem, sample);
                super::analyze_emosem::run(one, args.weights.as_deref(), &args.emosem, d, engine)
            }
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
        greedy_emotion: args.greedy_emotion,
        known_words: !args.any_words,
    };
    let weights = if args.reference.is_some() {
        SevlmWeights::Reference {
            decoder: dir,
            emo_encoder: args.emo_encoder.clone(),
            clip: args.clip.clone(),
        }
    } else {
        SevlmWeights::Folder {
            dir,
            clip: args.clip.clone(),
        }
    };
    // The lexicon is read (a bad file is refused) and compared with the one the model was
    // trained with before anything runs: a mismatch is a warning on stderr, never silent.
    let lexicon = args.lexicon.source();
    let (_, in_use) = artemo_engine::lexicon::VadLexicon::from_source(&assets, &lexicon)?;
    let trained = match &weights {
        SevlmWeights::Reference { .. } => artemo_engine::lexicon::LexiconRecord::reference(),
        SevlmWeights::Folder { dir, .. } => sevlm::SevlmConfig::load(&dir.join("config.json"))
            .map(|c| c.trained_lexicon_or_assumed())
            .unwrap_or_else(|_| artemo_engine::lexicon::LexiconRecord::legacy_stand_in()),
    };
    if let Some(w) = artemo_engine::lexicon::LexiconRecord::mismatch(&trained, &in_use) {
        eprintln!("warning: {w}");
    }
    let json = args.json;
    let mut current = usize::MAX;
    let out = engine.run_streaming(
        Command::AnalyzeSevlm(AnalyzeSevlm {
            weights,
            roots: Roots { assets, models },
            images: args.images.clone(),
            options: opts,
            lexicon,
            label: "SEVLM analyze".into(),
            // The CLI always computes (its outputs are the measurement).
            cache: None,
        }),
        |_, _, _| {},
        |partial| {
            if json {
                return;
            }
            match partial {
                JobOutput::SevlmToken { image, token } => {
                    if image != current {
                        current = image;
                        print!("\n{}\n  generated: ", args.images[image].display());
                    }
                    print!("{}", token.text);
                    let _ = std::io::stdout().flush();
                }
                JobOutput::SevlmAnalysis { analysis, .. } => print_analysis(&analysis),
                _ => {}
            }
        },
    )?;
    if json {
        let JobOutput::SevlmAnalyses(all) = out else {
            return Err(super::common::unexpected(&out));
        };
        // One analysis per image, each with its image's warnings (a truncated file).
        let mut v = Vec::with_capacity(all.len());
        for (analysis, w) in all.iter().zip(&warnings) {
            let mut a = serde_json::to_value(analysis)?;
            if let Some(o) = a.as_object_mut() {
                o.insert("warnings".into(), serde_json::json!(w));
            }
            v.push(a);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_analysis(a: &Analysis) {
    println!();
    match &a.generation.state {
        ParseState::Complete => {}
        ParseState::NoBecause => {
            println!("  (the model wrote no \"because\": no explanation to show)")
        }
        ParseState::UnknownEmotion { words } => {
            println!("  (\"{words}\" is not an ArtEmis emotion)")
        }
        ParseState::Empty => println!("  (the model generated nothing)"),
    }
    println!("  VAD lexicon: {}", a.lexicon);
    if let Some(read) = &a.read {
        println!("  read: {read}");
    }
    if !a.title_words.is_empty() {
        println!("  title words pushed: {}", a.title_words.join(", "));
    }
    println!("  emotion distribution (model probabilities after the prompt):");
    for (e, p) in &a.distribution {
        println!(
            "    {:<15} {:>5.1}% {}",
            e.name(),
            p * 100.0,
            "#".repeat((p * 40.0).round() as usize)
        );
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
    let seq = sevlm::SequenceBuilder::new(tok, lex, sevlm::data::REFERENCE_PROMPT, 30)
        .with_lookup(artemo_engine::lexicon::VadLookup::ExactLemma);
    Ok(sevlm::bench::run(&seq, only, 4, progress)?)
}
