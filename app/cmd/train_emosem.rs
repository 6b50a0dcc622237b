//! `artemo train emosem`: EmoSEM on the one training engine (`session_job`), in the paper's
//! layout over installed (or given) SAM ViT-B / MobileSAM + CLIP ViT-B/16 + GPT-2 weights
//! (`--config paper`, Single-Mask and FT-MH by default, the paper's batch 4 x accumulation 4
//! and learning rates) or the small layout over the demo kit's tower (`--config small`);
//! `--recipe cpu` swaps the paper's optimisation for a small CPU-feasible run;
//! `--stimuli regions|apolo:PATH|pseudo:PATH` picks the training masks.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::emosem::paper_train::{cpu_train_config, paper_train_config, PaperPaths};
use artemo_engine::emosem::session::{EmosemInit, EmosemSession, EmosemSetup};
use artemo_engine::emosem::{Finetune, Paradigm};
use artemo_engine::train::session::SessionConfig;
use artemo_engine::worker::Engine;

/// The model's layout.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The paper's: SAM image embeddings, SAM's two-way transformer and mask head, GPT-2
    /// explainer over CLIP ViT-B/16 grid tokens (the installed weights, or --sam/--clip/--gpt2).
    Paper,
    /// The small CPU layout over the demo kit's frozen PACL tower.
    Small,
}

/// Single-Mask or Multi-Masks.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParadigmArg {
    /// One mask token conditioned on the emotion prompt (the paper's default).
    Single,
    /// Eight mask tokens, one per emotion.
    Multi,
}

/// What trains in SAM's mask decoder.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinetuneArg {
    /// FT-MH: the mask head only; the two-way transformer stays frozen (the paper's default).
    MaskHead,
    /// FT-MD: the whole mask decoder.
    MaskDecoder,
}

/// The optimisation recipe.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// The paper's (Sec. 4.1): 4 images per step x 4 accumulation steps = 16, AdamW at 2e-4
    /// (language model) and 1e-4 / 8e-5 (Single / Multi, the rest), 10 epochs.
    Paper,
    /// A small CPU-feasible run: 1 image x 2 accumulation steps, 60 steps, the paper's
    /// learning rates. It shows the pipeline learn; it is not the paper's training.
    Cpu,
}

/// `artemo train emosem`'s arguments.
#[derive(clap::Args, Debug)]
pub struct EmosemArgs {
    /// The layout.
    #[arg(long, value_enum, default_value = "paper")]
    config: Layout,
    /// The paradigm.
    #[arg(long, value_enum, default_value = "single")]
    paradigm: ParadigmArg,
    /// Paper layout: what trains in the mask decoder (default: mask-head).
    #[arg(long, value_enum)]
    finetune: Option<FinetuneArg>,
    /// Paper layout: SAM ViT-B or MobileSAM checkpoint (default: the installed
    /// `sam-vit-base`, then `mobilesam`).
    #[arg(long)]
    sam: Option<PathBuf>,
    /// Paper layout: CLIP ViT-B/16 checkpoint (default: the installed `clip-vit-base-patch16`).
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Paper layout: GPT-2 / distilgpt2 checkpoint folder (default: the installed
    /// `distilgpt2`, then `gpt2`).
    #[arg(long)]
    gpt2: Option<PathBuf>,
    /// Continue from a checkpoint folder (its own layout; --config and the weights options
    /// do not apply).
    #[arg(long, conflicts_with_all = ["sam", "clip", "gpt2", "finetune"])]
    checkpoint: Option<PathBuf>,
    /// The optimisation recipe (the options below override it).
    #[arg(long, value_enum, default_value = "paper")]
    recipe: Recipe,
    /// Images per micro-batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Micro-batches per optimiser step (gradient accumulation).
    #[arg(long)]
    accumulate: Option<usize>,
    /// Optimiser steps (instead of the recipe's epochs).
    #[arg(long, conflicts_with = "epochs")]
    steps: Option<usize>,
    /// Epochs over the training paintings.
    #[arg(long)]
    epochs: Option<usize>,
    /// Learning rate of the emotion projector, mask head and prefix projector (default:
    /// the paper's 1e-4 Single-Mask, 8e-5 Multi-Masks).
    #[arg(long)]
    lr_mask: Option<f64>,
    /// Learning rate of the language model (default: the paper's 2e-4).
    #[arg(long)]
    lr_explainer: Option<f64>,
    /// Output folder (default: <user data>/runs/emosem); never the shipped folders.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train on at most this many paintings (0: all).
    #[arg(long, default_value_t = 0)]
    max_paintings: usize,
    /// Evaluate every this many steps (and at the end).
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Also print every step's losses.
    #[arg(long)]
    print_steps: bool,
    /// The training masks.
    #[command(flatten)]
    stimuli: super::stimuli_args::StimuliArgs,
}

/// The session configuration the arguments describe.
pub fn session_config(args: &EmosemArgs) -> Result<SessionConfig<EmosemSetup>> {
    let paradigm = match args.paradigm {
        ParadigmArg::Single => Paradigm::Single,
        ParadigmArg::Multi => Paradigm::Multi,
    };
    let given = args.sam.is_some() || args.clip.is_some() || args.gpt2.is_some();
    let init = match (&args.checkpoint, args.config) {
        (Some(dir), _) => EmosemInit::Checkpoint(dir.clone()),
        (None, Layout::Paper) => EmosemInit::Paper {
            paradigm,
            finetune: match args.finetune {
                Some(FinetuneArg::MaskDecoder) => Finetune::MaskDecoder,
                Some(FinetuneArg::MaskHead) | None => Finetune::MaskHead,
            },
            paths: PaperPaths {
                sam: args.sam.clone(),
                clip: args.clip.clone(),
                gpt2: args.gpt2.clone(),
            },
        },
        (None, Layout::Small) => {
            if given || args.finetune.is_some() {
                return Err(anyhow!(
                    "--sam, --clip, --gpt2 and --finetune are for --config paper (the small layout trains its whole mask decoder over the demo kit's tower)"
                ));
            }
            match EmosemSetup::default().init {
                EmosemInit::Scratch {
                    explainer_width,
                    explainer_layers,
                    ..
                } => EmosemInit::Scratch {
                    paradigm,
                    explainer_width,
                    explainer_layers,
                },
                other => other,
            }
        }
    };
    let mut train = match args.recipe {
        Recipe::Paper => paper_train_config(),
        Recipe::Cpu => cpu_train_config(),
    };
    train.seed = args.seed;
    if let Some(b) = args.batch {
        train.batch_images = b.max(1);
    }
    if let Some(a) = args.accumulate {
        train.accumulate = a.max(1);
    }
    if let Some(s) = args.steps {
        train.steps = s;
        train.epochs = None;
    }
    if let Some(e) = args.epochs {
        train.epochs = Some(e.max(1));
    }
    if let Some(lr) = args.lr_mask {
        train.lr_mask = Some(lr);
    }
    if let Some(lr) = args.lr_explainer {
        train.lr_explainer = lr;
    }
    let mut cfg = SessionConfig::<EmosemSetup> {
        model: EmosemSetup { train, init },
        ..Default::default()
    };
    if let Some(o) = &args.out {
        cfg.out = o.clone();
    }
    cfg.max_paintings = args.max_paintings;
    cfg.eval_every = args.eval_every;
    Ok(cfg)
}

/// Runs `artemo train emosem` on the `--stimuli` source (default: Artemo's stimulus
/// regions).
pub fn run(args: &EmosemArgs, engine: &Engine) -> Result<ExitCode> {
    let cfg = session_config(args)?;
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let source = args.stimuli.data_source(&assets)?;
    let t = &cfg.model.train;
    match args.recipe {
        Recipe::Paper => println!(
            "recipe: the paper's (Sec. 4.1): {} x {} accumulation = {} per step, {}",
            t.batch_images,
            t.accumulate,
            t.batch_images * t.accumulate,
            match t.epochs {
                Some(e) => format!("{e} epochs"),
                None => format!("{} steps", t.steps),
            }
        ),
        Recipe::Cpu => println!(
            "recipe: CPU ({} x {} accumulation, {} steps): a small run that shows the pipeline learn, not the paper's training",
            t.batch_images, t.accumulate, t.steps
        ),
    }
    super::train_session::run_session::<EmosemSession>(engine, source, cfg, args.print_steps)
}
