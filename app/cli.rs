//! The command line: `artemo` alone opens the window; subcommands run headless on the
//! same engine. The clap definitions and the dispatch; the subcommands are in `cmd/`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use artemo_engine::worker::{Engine, EngineConfig};
use clap::{Parser, Subcommand};

use crate::cmd;

/// Artemo: which emotions a painting evokes, where they come from, and why.
#[derive(Parser, Debug)]
#[command(name = "artemo", version, about)]
pub struct Cli {
    /// Compute threads (default: all cores but one).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Use GPU 0 when this build has CUDA (falls back to the CPU with a message).
    #[arg(long, global = true)]
    gpu: bool,
    /// Allow writing into the shipped assets/ and models/ folders (maintainers
    /// regenerating the demo kit or the splits: `train --preset demo --out models/demo
    /// --overwrite-shipped`). Without it every command refuses to write there.
    #[arg(long, global = true)]
    overwrite_shipped: bool,
    /// Refuse doubtful inputs (truncated images, duplicate annotation rows) instead of
    /// warning about them.
    #[arg(long, global = true)]
    strict: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Open the window (the default), optionally on a collection.
    Gui {
        /// A folder, manifest CSV or WikiArt root (default: the shipped paintings).
        path: Option<PathBuf>,
    },
    /// Painting collections.
    Collection {
        #[command(subcommand)]
        what: CollectionCmd,
    },
    /// Import annotations.
    Import {
        #[command(subcommand)]
        what: ImportCmd,
    },
    /// Model weights.
    Models {
        #[command(subcommand)]
        what: cmd::models::ModelsCmd,
    },
    /// Train models (on the engine, with progress): `train --preset demo` builds the demo
    /// kit in models/demo; subcommands train single models.
    Train(cmd::train::TrainArgs),
    /// Artemo's own annotations of the shipped paintings (assets/annotations).
    Annotations {
        #[command(subcommand)]
        what: cmd::annotations::AnnotationsCmd,
    },
    /// PACL image embeddings of a collection (`--out embeddings.npy` or `.csv`), with an
    /// optional map, zero-shot emotions and search.
    Embed(cmd::embed::EmbedArgs),
    /// Benchmarks (build with --release): `bench backbones` times each backbone's forward;
    /// `bench pacl` PACL's descriptors, embedding throughput, a training step and t-SNE.
    Bench {
        /// What to benchmark (`backbones`, `sevlm`, `pacl`, `emosem`, `demo`: the demo
        /// kit's whole-painting inference, `paper`: the paper configurations end to end,
        /// `map`: the Map at scale with `--paintings N`).
        what: cmd::bench::Bench,
        /// Only the backbones whose name contains this (clip-vit-b16, clip-vit-b32,
        /// clip-text, distilgpt2, minilm, sam-vit-b, mobilesam); `paper`: `tiny` for toy
        /// sizes.
        #[arg(long)]
        only: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// `map`, `collection`: how many synthetic paintings to make.
        #[arg(long, default_value_t = 10_000)]
        paintings: usize,
        /// `map`, `collection`: keep the synthetic paintings (and the map's cache) in this
        /// folder (reused by a later run with the same count; the cache is emptied first).
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Analyse paintings with a model: `--model sevlm` prints the emotion distribution and
    /// the generated explanation; `--model emosem` writes per-emotion stimulus masks and
    /// their explanations.
    Analyze(cmd::analyze::AnalyzeArgs),
    #[command(flatten)]
    Eval(cmd::eval::EvalCmd),
}

#[derive(Subcommand, Debug)]
enum CollectionCmd {
    /// Counts, styles and missing or unreadable files of a collection.
    Info {
        /// A folder, manifest CSV or WikiArt root.
        path: PathBuf,
        /// Also read every image header to find unreadable files.
        #[arg(long)]
        check: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ImportCmd {
    /// Read an ArtEmis CSV: rows, paintings, emotion counts, split sizes.
    Artemis {
        /// The CSV (`art_style,painting,emotion,utterance,repetition`).
        csv: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn engine(cli: &Cli) -> Result<Engine> {
    let e = Engine::start(engine_config(cli))?;
    if let Some(note) = e.device_note() {
        eprintln!("note: {note}");
    }
    if cli.gpu {
        // Which device the jobs run on (the note above says why when it is not the GPU).
        eprintln!("device: {}", e.device_name());
    }
    Ok(e)
}

impl Cli {
    /// Whether this command line opens the window (the default).
    pub fn is_gui(&self) -> bool {
        matches!(self.command, None | Some(Cmd::Gui { .. }))
    }
}

/// An error with its causes, each said once: a cause whose text the message already
/// contains (an engine error that prints its I/O source) is not repeated.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    cmd::common::set_flags(cli.overwrite_shipped, cli.strict);
    let problems = artemo_engine::env_dir_problems();
    if !problems.is_empty() {
        bail!(
            "{} (fix or unset the variable; Artemo does not fall back to another folder)",
            problems.join("; ")
        );
    }
    match &cli.command {
        None => crate::gui::run(None, &engine_config(&cli)),
        Some(Cmd::Gui { path }) => crate::gui::run(path.clone(), &engine_config(&cli)),
        Some(Cmd::Eval(e)) => cmd::eval::run(e),
        Some(Cmd::Collection {
            what: CollectionCmd::Info { path, check, json },
        }) => cmd::collection::info(&engine(&cli)?, path, *check, *json),
        Some(Cmd::Import {
            what: ImportCmd::Artemis { csv, json },
        }) => cmd::collection::import_artemis(&engine(&cli)?, csv, *json),
        Some(Cmd::Annotations { what }) => cmd::annotations::run(what),
        Some(Cmd::Train(args)) => cmd::train::run_args(args, &engine(&cli)?),
        Some(Cmd::Analyze(args)) => cmd::analyze::run(args, &engine(&cli)?),
        Some(Cmd::Embed(args)) => cmd::embed::run_embed(args, &engine(&cli)?),
        Some(Cmd::Bench {
            what,
            only,
            json,
            paintings,
            keep,
        }) => {
            let scale = cmd::bench::Scale {
                paintings: *paintings,
                keep: keep.clone(),
            };
            cmd::bench::run(*what, only.as_deref(), *json, cli.threads, cli.gpu, &scale)
        }
        Some(Cmd::Models { what }) => {
            cmd::models::run(what, &engine_config(&cli), cli.overwrite_shipped)
        }
    }
}

/// The engine settings of the global flags (`--threads`, `--gpu`).
fn engine_config(cli: &Cli) -> EngineConfig {
    let mut cfg = EngineConfig::default();
    if let Some(t) = cli.threads {
        cfg.threads = t.max(1);
    }
    if cli.gpu {
        cfg.device = artemo_engine::device::DevicePreference::Gpu;
    }
    cfg
}
