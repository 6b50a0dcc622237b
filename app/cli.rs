//! The command line: `artemo` alone opens the window; subcommands run headless on the
//! same engine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use artemo_engine::manifest::{FileState, Manifest};
use artemo_engine::worker::{Command, Engine, EngineConfig, JobOutput};
use clap::{Parser, Subcommand};

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
        what: ModelsCmd,
    },
    /// Train models (on the engine, with progress): `train --preset demo` builds the demo
    /// kit in models/demo; subcommands train single models.
    Train(crate::train_cmd::TrainArgs),
    /// Artemo's own annotations of the shipped paintings (assets/annotations).
    Annotations {
        #[command(subcommand)]
        what: crate::annotations_cmd::AnnotationsCmd,
    },
    /// PACL image embeddings of a collection (`--out embeddings.npy` or `.csv`), with an
    /// optional map, zero-shot emotions and search.
    Embed(crate::embed_cmd::EmbedArgs),
    /// Benchmarks (build with --release): `bench backbones` times each backbone's forward;
    /// `bench pacl` PACL's descriptors, embedding throughput, a training step and t-SNE.
    Bench {
        /// What to benchmark (`backbones`, `sevlm`, `pacl`, `emosem`, `demo`: the demo
        /// kit's whole-painting inference).
        what: String,
        /// Only the backbones whose name contains this (clip-vit-b16, clip-vit-b32,
        /// clip-text, distilgpt2, minilm, sam-vit-b, mobilesam).
        #[arg(long)]
        only: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Analyse paintings with a model: `--model sevlm` prints the emotion distribution and
    /// the generated explanation; `--model emosem` writes per-emotion stimulus masks and
    /// their explanations.
    Analyze(crate::analyze_cmd::AnalyzeArgs),
    #[command(flatten)]
    Eval(crate::eval_cmd::EvalCmd),
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

#[derive(Subcommand, Debug)]
enum ModelsCmd {
    /// The models of `models/MODELS.toml` and whether their files are present.
    List,
    /// Check every file's sha256 against `models/MODELS.toml` (and `LOCAL.toml`).
    Verify,
    /// Validate a checkpoint folder (keys and shapes) and copy it into `models/NAME/`.
    Import {
        /// A folder with `config.json` and safetensors (HF layout), or a SAM checkpoint.
        dir: PathBuf,
        /// The name to install it under.
        #[arg(long = "as")]
        name: String,
    },
    /// Download a checkpoint from the Hugging Face hub into `models/NAME/` (only in builds
    /// with the `hub` feature; the default build never touches the network).
    Download {
        /// Repository id, e.g. `distilgpt2`.
        repo: String,
        /// The name to install it under.
        #[arg(long = "as")]
        name: String,
    },
}

fn engine(cli: &Cli) -> Result<Engine> {
    let mut cfg = EngineConfig::default();
    if let Some(t) = cli.threads {
        cfg.threads = t.max(1);
    }
    if cli.gpu {
        cfg.device = artemo_engine::device::DevicePreference::Gpu;
    }
    let e = Engine::start(cfg)?;
    if let Some(note) = e.device_note() {
        eprintln!("note: {note}");
    }
    Ok(e)
}

fn progress_printer() -> impl FnMut(f32, Option<Duration>, &str) {
    crate::progress::Progress::new().callback()
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

static OVERWRITE_SHIPPED: AtomicBool = AtomicBool::new(false);
static STRICT: AtomicBool = AtomicBool::new(false);

/// Whether `--strict` was given.
pub(crate) fn strict() -> bool {
    STRICT.load(Ordering::Relaxed)
}

/// Refuses to write `path` inside the shipped `assets/` or `models/` folders unless
/// `--overwrite-shipped` was given.
pub(crate) fn check_writable(path: &Path) -> Result<()> {
    if artemo_engine::is_shipped(path) && !OVERWRITE_SHIPPED.load(Ordering::Relaxed) {
        bail!(
            "{}: refusing to write into the shipped {} folder; choose another --out (by default outputs go to {}), or pass --overwrite-shipped to regenerate shipped files on purpose",
            path.display(),
            artemo_engine::shown_path(path).split('/').next().unwrap_or("assets/ or models/"),
            user_data().map(|d| d.display().to_string()).unwrap_or_else(|_| "the user data folder".into())
        );
    }
    Ok(())
}

/// The user data folder (`$ARTEMO_DATA`, `$XDG_DATA_HOME/artemo`, `~/.local/share/artemo`).
pub(crate) fn user_data() -> Result<PathBuf> {
    artemo_engine::user_data_dir()
        .context("no user data folder: set ARTEMO_DATA (or HOME) or pass --out")
}

/// `explicit`, else `<user data>/<default_rel>`; refused inside the shipped folders unless
/// `--overwrite-shipped`.
pub(crate) fn output_path(explicit: Option<&Path>, default_rel: &str) -> Result<PathBuf> {
    let p = match explicit {
        Some(p) => p.to_path_buf(),
        None => user_data()?.join(default_rel),
    };
    check_writable(&p)?;
    Ok(p)
}

/// An image argument that exists and is a file (a folder is named as such).
pub(crate) fn require_image_file(p: &Path) -> Result<()> {
    if p.is_dir() {
        bail!("{}: is a folder, not an image file", p.display());
    }
    if !p.is_file() {
        bail!("{}: no such image file", p.display());
    }
    Ok(())
}

/// Checks an image by the decoder's rules; its warnings (a truncated file) are printed,
/// returned for JSON reports, or refused with `--strict`.
pub(crate) fn image_warnings(p: &Path) -> Result<Vec<String>> {
    let c = artemo_engine::imaging::check_image_file(p)?;
    let w: Vec<String> = c
        .warnings
        .iter()
        .map(|w| format!("{}: {w}", p.display()))
        .collect();
    if strict() && !w.is_empty() {
        bail!("{} (refused: --strict)", w.join("; "));
    }
    for w in &w {
        eprintln!("warning: {w}");
    }
    Ok(w)
}

/// Says which checkpoint tensors the imported model does not use (the first ten).
fn print_unused(unused: &[String]) {
    if unused.is_empty() {
        return;
    }
    let shown: Vec<&str> = unused.iter().take(10).map(String::as_str).collect();
    let more = unused.len().saturating_sub(shown.len());
    eprintln!(
        "warning: {} tensor(s) of the checkpoint are not used by the model (copied anyway): {}{}",
        unused.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    OVERWRITE_SHIPPED.store(cli.overwrite_shipped, Ordering::Relaxed);
    STRICT.store(cli.strict, Ordering::Relaxed);
    let problems = artemo_engine::env_dir_problems();
    if !problems.is_empty() {
        bail!(
            "{} (fix or unset the variable; Artemo does not fall back to another folder)",
            problems.join("; ")
        );
    }
    match &cli.command {
        None => crate::gui::run(None, &cli_threads(&cli)),
        Some(Cmd::Gui { path }) => crate::gui::run(path.clone(), &cli_threads(&cli)),
        Some(Cmd::Eval(e)) => crate::eval_cmd::run(e),
        Some(Cmd::Collection {
            what: CollectionCmd::Info { path, check, json },
        }) => {
            let e = engine(&cli)?;
            let out = e.run_blocking(
                Command::OpenCollection { path: path.clone() },
                progress_printer(),
            )?;
            let JobOutput::Collection(mut c) = out else {
                return Err(unexpected(&out));
            };
            if *check {
                c.check_images(|_, _| true);
            }
            let info = c.info();
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "name": c.name, "source": c.source, "kind": c.kind, "info": info, "problems": c.problems,
                    }))?
                );
            } else {
                println!(
                    "collection: {} ({:?}, {})",
                    c.name,
                    c.kind,
                    c.source.display()
                );
                println!("paintings:  {}", info.paintings);
                println!(
                    "with title: {}   with description: {}",
                    info.with_title, info.with_description
                );
                println!("styles:");
                for (s, n) in &info.per_style {
                    println!("  {s:<32} {n}");
                }
                println!("problems:   {}", c.problems.len());
                for p in &c.problems {
                    println!("  {}: {}", p.path.display(), p.message);
                }
            }
            Ok(if c.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Some(Cmd::Import {
            what: ImportCmd::Artemis { csv, json },
        }) => {
            let e = engine(&cli)?;
            let out = e.run_blocking(
                Command::ImportArtemis { path: csv.clone() },
                progress_printer(),
            )?;
            let JobOutput::ArtemisImport(s) = out else {
                return Err(unexpected(&out));
            };
            if let Some(w) =
                artemo_engine::annotations::artemis::describe_duplicates(csv, &s.duplicates)
            {
                if strict() {
                    bail!("{w} (refused: --strict)");
                }
                eprintln!("warning: {w}");
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("rows:      {}", s.rows);
                println!("paintings: {} (styles: {})", s.paintings, s.styles);
                println!("emotions:");
                for (k, n) in &s.emotion_counts {
                    let name = k.split_once(':').map(|(_, n)| n).unwrap_or(k);
                    println!("  {name:<15} {n}");
                }
                println!("splits (85/5/10 by artwork, seed 2021; 41+ annotations set apart):");
                for (k, n) in &s.split_sizes {
                    println!("  {k:<6} {n}");
                }
                println!(
                    "dominant emotion: {} paintings (>= half, no tie; ArtEmis), {} (> half; SEVLM)",
                    s.dominant_at_least_half, s.dominant_more_than_half
                );
                println!("duplicate rows: {}", s.duplicates.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Annotations { what }) => crate::annotations_cmd::run(what),
        Some(Cmd::Train(args)) => crate::train_cmd::run_args(args, &engine(&cli)?),
        Some(Cmd::Analyze(args)) => crate::analyze_cmd::run(args, &engine(&cli)?),
        Some(Cmd::Embed(args)) => crate::embed_cmd::run_embed(args, &engine(&cli)?),
        Some(Cmd::Bench { what, only, json }) if what == "pacl" => {
            crate::embed_cmd::run_bench(only.as_deref(), *json, cli.threads)
        }
        Some(Cmd::Bench { what, only, json }) if what == "emosem" => {
            crate::analyze_emosem::bench(only.as_deref(), *json, cli.threads)
        }
        Some(Cmd::Bench { what, only, json }) => {
            if cfg!(debug_assertions) {
                eprintln!("note: this is a debug build; run `cargo run --release -- bench {what}` for meaningful times");
            }
            let root = artemo_engine::find_models()
                .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
            let threads = cli
                .threads
                .unwrap_or_else(artemo_engine::device::default_threads);
            let pool = rayon_pool(threads)?;
            let rows = pool.install(|| -> Result<Vec<artemo_engine::bench::BenchRow>> {
                let progress = |n: &str| eprintln!("running {n} ...");
                match what.as_str() {
                    "backbones" => Ok(artemo_engine::bench::backbones(
                        &root,
                        only.as_deref(),
                        progress,
                    )?),
                    "sevlm" => Ok(crate::analyze_cmd::bench_sevlm(only.as_deref(), progress)?),
                    "demo" => {
                        // The demo kit's whole-painting inference on 12 shipped paintings.
                        let assets = artemo_engine::find_assets()
                            .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
                        let c = artemo_engine::collection::Collection::open(
                            &assets.join("paintings/aic/paintings.csv"),
                        )?;
                        let paintings: Vec<std::path::PathBuf> =
                            c.paintings.iter().take(12).map(|p| p.path.clone()).collect();
                        progress("the demo kit on 12 shipped paintings");
                        Ok(artemo_engine::kit::bench_inference(
                            &root.join("demo"),
                            &assets,
                            &root,
                            &paintings,
                        )?)
                    }
                    other => Err(anyhow!(
                        "unknown benchmark `{other}` (available: backbones, sevlm, pacl, emosem, demo)"
                    )),
                }
            })?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<36} {:<32} {:>10}  (CPU, {threads} thread(s), random weights unless stated)", "backbone", "input", "median ms");
                for r in &rows {
                    println!("{:<36} {:<32} {:>10.1}", r.name, r.input, r.median_ms);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Models { what }) => {
            let root = artemo_engine::find_models()
                .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
            // Imports go to the user's models folder; the shipped one only on purpose.
            let user_models = if cli.overwrite_shipped {
                root.clone()
            } else {
                user_data()?.join("models")
            };
            match what {
                ModelsCmd::Import { dir, name } => {
                    check_writable(&user_models.join(name))?;
                    std::fs::create_dir_all(&user_models)
                        .with_context(|| format!("{}: cannot create", user_models.display()))?;
                    let imported = import_weights(&cli, dir, name, &user_models)?;
                    let entry = &imported.entry;
                    println!(
                        "imported {} ({} files) into {} (recorded in {})",
                        entry.name,
                        entry.files.len(),
                        user_models.join(name).display(),
                        user_models.join("LOCAL.toml").display()
                    );
                    println!("  enables: {}", entry.enables.join(", "));
                    print_unused(&imported.unused);
                    return Ok(ExitCode::SUCCESS);
                }
                ModelsCmd::Download { repo, name } => return download(repo, name, &root, &cli),
                ModelsCmd::List | ModelsCmd::Verify => {}
            }
            let mut manifests = vec![(Manifest::load(&root.join("MODELS.toml"))?, root.clone())];
            for dir in [root.clone(), user_models] {
                let local = dir.join("LOCAL.toml");
                if local.is_file() && !manifests.iter().any(|(_, r)| r.join("LOCAL.toml") == local)
                {
                    manifests.push((Manifest::load(&local)?, dir));
                }
            }
            let mut bad = false;
            for (entry, root) in manifests
                .iter()
                .flat_map(|(m, r)| m.models.iter().map(move |e| (e, r)))
            {
                println!("{}  [{}]", entry.name, entry.licence);
                println!("  {}", entry.description);
                println!("  enables: {}", entry.enables.join(", "));
                let states = match what {
                    ModelsCmd::Verify => Manifest::verify(entry, root)?,
                    _ => entry
                        .files
                        .iter()
                        .map(|f| {
                            let p = root.join(&f.path);
                            let s = if p.is_file() {
                                FileState::Ok
                            } else {
                                FileState::Missing
                            };
                            (p, s)
                        })
                        .collect(),
                };
                let present = states.iter().filter(|(_, s)| *s == FileState::Ok).count();
                println!(
                    "  files: {present}/{} {}",
                    states.len(),
                    if matches!(what, ModelsCmd::Verify) {
                        "verified"
                    } else {
                        "present"
                    }
                );
                for (p, s) in states {
                    match s {
                        FileState::Ok => {}
                        FileState::Missing => {
                            bad = true;
                            println!("  missing: {}", p.display());
                        }
                        FileState::Mismatch(h) => {
                            bad = true;
                            println!("  sha256 mismatch: {} (found {h})", p.display());
                        }
                    }
                }
            }
            Ok(if bad {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

pub(crate) fn rayon_pool(threads: usize) -> Result<artemo_engine::ThreadPool> {
    artemo_engine::thread_pool(threads).map_err(|e| anyhow!("{e}"))
}

/// Validates and imports the checkpoint folder `dir` as `name` into `models`, on an
/// engine with the command line's device.
fn import_weights(
    cli: &Cli,
    dir: &std::path::Path,
    name: &str,
    models: &std::path::Path,
) -> Result<artemo_engine::models::registry::Imported> {
    let out = engine(cli)?.run_blocking(
        Command::ImportWeights(artemo_engine::jobs::manifests::ImportWeights {
            src: dir.to_path_buf(),
            name: name.to_string(),
            root: models.to_path_buf(),
        }),
        |_, _, _| {},
    )?;
    match out {
        JobOutput::Imported(i) => Ok(*i),
        other => Err(unexpected(&other)),
    }
}

#[cfg(feature = "hub")]
fn download(repo: &str, name: &str, root: &std::path::Path, cli: &Cli) -> Result<ExitCode> {
    let dir = artemo_engine::models::hub::download(repo)?;
    let user_models = user_data()?.join("models");
    let _ = root;
    check_writable(&user_models.join(name))?;
    std::fs::create_dir_all(&user_models)
        .with_context(|| format!("{}: cannot create", user_models.display()))?;
    let imported = import_weights(cli, &dir, name, &user_models)?;
    print_unused(&imported.unused);
    let entry = imported.entry;
    println!(
        "downloaded {repo} and imported it as {} ({} files)",
        entry.name,
        entry.files.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "hub"))]
fn download(repo: &str, _name: &str, _root: &std::path::Path, _cli: &Cli) -> Result<ExitCode> {
    Err(anyhow!(
        "this build cannot download `{repo}`: it was built without the `hub` feature, so it never touches the network. \
         Download the checkpoint yourself and run `artemo models import DIR --as NAME`, or rebuild with `--features hub`."
    ))
}

fn cli_threads(cli: &Cli) -> EngineConfig {
    let mut cfg = EngineConfig::default();
    if let Some(t) = cli.threads {
        cfg.threads = t.max(1);
    }
    if cli.gpu {
        cfg.device = artemo_engine::device::DevicePreference::Gpu;
    }
    cfg
}

/// The error for an engine result of another kind than its request documents (a bug in
/// the engine or here, never the user's).
pub(crate) fn unexpected(out: &JobOutput) -> anyhow::Error {
    anyhow!("unexpected engine result: {}", out.kind())
}
