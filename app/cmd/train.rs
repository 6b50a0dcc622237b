//! `artemo train ...`: training jobs run on the engine's compute lane with progress.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::jobs::demo::DemoKit;
use artemo_engine::jobs::Roots;
use artemo_engine::text::ea_classifier::{train_pipeline, PipelineOptions, TrainConfig};
use artemo_engine::worker::{Command, Engine, JobOutput, Lane};
use clap::Subcommand;

use super::common::{run_job, unexpected};

/// Training subcommands.
#[derive(Subcommand, Debug)]
pub enum TrainCmd {
    /// The EA metric's text-to-emotion classifier (MiniLM features + MLP head) from
    /// GoEmotions and the annotations' train split; writes head, config and model card.
    EaClassifier {
        /// Output folder (default: <user data>/models/ea-minilm; the shipped
        /// models/ea-minilm needs --overwrite-shipped).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Epochs (model selection also tries a third and two thirds of it).
        #[arg(long, default_value_t = 12)]
        epochs: usize,
        /// Use at most this many GoEmotions training examples.
        #[arg(long)]
        max_goemotions: Option<usize>,
        /// Seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Feature cache (default: $ARTEMO_CACHE or ~/.cache/artemo).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// PACL on the shipped paintings and texts (small vision tower, frozen MiniLM).
    Pacl(super::embed::TrainPaclArgs),
    /// EmoSEM in the paper's layout (installed SAM + CLIP ViT-B/16 + GPT-2, Single-Mask,
    /// FT-MH, 4 x 4 accumulation) or the small one, on Artemo's stimulus regions.
    Emosem(Box<super::train_emosem::EmosemArgs>),
    /// A Train-tab session on the one training engine (SEVLM, EmoSEM or PACL): every
    /// evaluation printed, the best checkpoints kept in the output folder.
    Session(Box<super::train_session::SessionArgs>),
}

/// `artemo train`: a preset or a subcommand.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TrainArgs {
    /// `demo`: train the demo kit (PACL tower, SEVLM, EmoSEM) from the shipped assets into
    /// <user data>/models/demo, evaluate it on the test split beside baselines, write the
    /// model card.
    #[arg(long)]
    preset: Option<String>,
    /// The minutes-long smoke-test version of the preset.
    #[arg(long)]
    quick: bool,
    /// Output folder (default: <user data>/models/demo, where <user data> is $ARTEMO_DATA,
    /// $XDG_DATA_HOME/artemo or ~/.local/share/artemo). The shipped models/demo is only
    /// written with --overwrite-shipped.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Retrain every stage instead of resuming after the last finished one.
    #[arg(long)]
    fresh: bool,
    /// JSON file overriding the preset's hyper-parameters: `{"sevlm": {...}, "emosem":
    /// {...}, "pacl_text": {...}}`, fields as in `models/demo/{sevlm,emosem}/train_log.json`'s
    /// `kit` and `models/demo/pacl/text_report.json`'s `train.config` (missing fields keep
    /// the full preset's).
    #[arg(long, value_name = "FILE")]
    kit: Option<PathBuf>,
    /// Retrain only this stage of the preset and stop (`emosem`; `pacl-text`: the text
    /// branch of PACL's image side over the frozen tower, from <out>/pacl or the shipped
    /// models/demo/pacl), or retrain it and evaluate (`sevlm`); the PACL tower (and, for
    /// `sevlm`, EmoSEM) must exist. `eval` trains nothing and re-evaluates the folder's
    /// models (card and summary rewritten).
    #[arg(long, value_parser = ["emosem", "sevlm", "pacl-text", "eval"])]
    only: Option<String>,
    #[command(flatten)]
    lexicon: super::analyze::LexiconArgs,
    #[command(subcommand)]
    what: Option<TrainCmd>,
}

/// Runs `artemo train`.
pub fn run_args(args: &TrainArgs, engine: &Engine) -> Result<ExitCode> {
    match (&args.preset, &args.what) {
        (_, Some(cmd)) => run(cmd, engine),
        (Some(p), None) if p == "demo" => run_demo(args, engine),
        (Some(p), None) => Err(anyhow!("unknown preset `{p}` (available: demo)")),
        (None, None) => Err(anyhow!(
            "say what to train: `artemo train --preset demo`, or a subcommand (see `artemo train --help`)"
        )),
    }
}

fn run_demo(args: &TrainArgs, engine: &Engine) -> Result<ExitCode> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KitFile {
        sevlm: Option<artemo_engine::kit::sevlm::KitSevlmConfig>,
        emosem: Option<artemo_engine::kit::emosem::KitEmosemConfig>,
        pacl_text: Option<Box<artemo_engine::pacl::text_stage::TextStageConfig>>,
    }
    let kit: Option<KitFile> = match &args.kit {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read the kit file", p.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a demo-kit configuration", p.display()))?,
            )
        }
        None => None,
    };
    let (sevlm_kit, emosem_kit, pacl_text_kit) = kit
        .map(|k| (k.sevlm, k.emosem.map(Box::new), k.pacl_text))
        .unwrap_or_default();
    let out = super::common::output_path(args.out.as_deref(), "models/demo")?;
    let opts = artemo_engine::kit::DemoOptions {
        out,
        quick: args.quick,
        seed: args.seed,
        resume: !args.fresh,
        sevlm_kit,
        emosem_kit,
        only: args.only.clone(),
        lexicon: args.lexicon.source(),
        pacl_text_kit,
    };
    let out = run_job(
        engine,
        Command::DemoKit(DemoKit {
            roots: Roots { assets, models },
            options: opts.clone(),
        }),
    )?;
    let JobOutput::DemoKit(r) = out else {
        return Err(unexpected(&out));
    };
    // Through a JSON value: its keys print sorted, as they always have.
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::to_value(&*r)?)?
    );
    println!(
        "wrote {} (use it with e.g. `artemo analyze IMAGE --weights {}`)",
        opts.out.display(),
        opts.out.join("sevlm").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs a training subcommand on `engine`.
pub fn run(cmd: &TrainCmd, engine: &Engine) -> Result<ExitCode> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    match cmd {
        TrainCmd::Pacl(args) => super::embed::run_train(args, engine),
        TrainCmd::Session(args) => super::train_session::run(args, engine),
        TrainCmd::Emosem(args) => super::train_emosem::run(args, engine),
        TrainCmd::EaClassifier {
            out,
            epochs,
            max_goemotions,
            seed,
            cache,
        } => {
            let out = super::common::output_path(out.as_deref(), "models/ea-minilm")?;
            let opts = PipelineOptions {
                max_goemotions: *max_goemotions,
                train: TrainConfig {
                    epochs: *epochs,
                    seed: *seed,
                    ..Default::default()
                },
                cache: cache.clone().unwrap_or_else(super::common::cache_dir),
            };
            let out2 = out.clone();
            let job = Command::Run {
                name: "train EA classifier".into(),
                lane: Lane::Compute,
                job: Box::new(move |ctx| {
                    let r = train_pipeline(&assets, &models, &out2, &opts, ctx)?;
                    Ok(JobOutput::EaClassifier(Box::new(r)))
                }),
            };
            let res = run_job(engine, job)?;
            let JobOutput::EaClassifier(r) = res else {
                return Err(unexpected(&res));
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::to_value(&*r)?)?
            );
            println!("wrote {} (see MODEL_CARD.md there)", out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
