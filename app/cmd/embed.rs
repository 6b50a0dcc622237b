//! `artemo embed COLLECTION --out embeddings.{npy,csv}` (PACL image embeddings, with an
//! optional 2-D map, zero-shot emotions and a free-text search) and `artemo train pacl`.
//! Everything runs on the engine's compute lane as `artemo_engine::jobs::pacl` requests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use artemo_engine::jobs::pacl::{
    Embed, PaclTrainOptions, Project, SearchRequest, TrainPacl, ZeroShotRequest,
};
use artemo_engine::jobs::Roots;
use artemo_engine::pacl::embed::Embeddings;
use artemo_engine::pacl::probe::ProbeFeatures;
use artemo_engine::pacl::projection::{Method, TsneConfig};
use artemo_engine::worker::{Command, Engine, JobOutput};

use super::common::{run_job as run, unexpected};
use super::pacl_args::{CalibrationArg, PromptsArg};
use clap::{Args, ValueEnum};

/// `artemo embed` arguments.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// A folder, manifest CSV or WikiArt root.
    pub collection: PathBuf,
    /// Output file: `.npy` (float32 [N, dim]; ids in `<stem>.ids.txt`) or `.csv`.
    #[arg(long)]
    pub out: PathBuf,
    /// The PACL model folder (default: models/demo/pacl, then models/pacl).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Also write a 2-D map (JSON: ids and points) to this file.
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// Projection of the map.
    #[arg(long, value_enum, default_value_t = MapMethod::Tsne)]
    pub method: MapMethod,
    /// Seed of the map.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write zero-shot emotion predictions (JSON) to this file.
    #[arg(long)]
    pub zero_shot: Option<PathBuf>,
    /// Zero-shot class prompts: the paper's single prompt or the four-template ensemble.
    #[arg(long, value_enum, default_value_t = PromptsArg::Paper)]
    pub prompts: PromptsArg,
    /// Zero-shot calibration: subtract each emotion's mean similarity over the collection
    /// (`centered`), use z-scores, or the paper's raw cosines (`none`).
    #[arg(long, value_enum, default_value_t = CalibrationArg::Centered)]
    pub calibration: CalibrationArg,
    /// Also print the paintings closest to this free-text query.
    #[arg(long)]
    pub search: Option<String>,
    /// Hits printed by --search.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Projection methods.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum MapMethod {
    /// Barnes-Hut t-SNE.
    Tsne,
    /// First two principal components.
    Pca,
    /// The t-SNE map snapped to a grid (no overlap).
    Grid,
}

fn default_model(models: &Path) -> Result<PathBuf> {
    for c in [models.join("demo/pacl"), models.join("pacl")] {
        if c.join("config.json").is_file() {
            return Ok(c);
        }
    }
    Err(anyhow!(
        "no PACL model in {} or {}; train one with `artemo train pacl` or pass --model DIR",
        models.join("demo/pacl").display(),
        models.join("pacl").display()
    ))
}

/// Runs `artemo embed`.
pub fn run_embed(args: &EmbedArgs, engine: &Engine) -> Result<ExitCode> {
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    // Everything that could refuse the command is checked before any work.
    match args.out.extension().and_then(|e| e.to_str()) {
        Some("npy" | "csv") => {}
        _ => bail!(
            "--out {}: the embeddings are written as .npy or .csv; give a file name ending in one of them",
            args.out.display()
        ),
    }
    for p in [Some(&args.out), args.map.as_ref(), args.zero_shot.as_ref()]
        .into_iter()
        .flatten()
    {
        super::common::check_writable(p)?;
        if p.is_dir() {
            bail!("{}: is a folder; give a file name", p.display());
        }
    }
    let model = match &args.model {
        Some(m) => m.clone(),
        None => default_model(&models)?,
    };
    artemo_engine::models::registry::expect_kind(&model, "pacl", "--model")?;
    // The collection's own problems (rows whose file is missing) and doubtful images
    // (truncated files), listed before embedding; refused with --strict.
    let coll = artemo_engine::collection::Collection::open(&args.collection)?;
    let mut doubtful = Vec::new();
    for p in &coll.paintings {
        if let Ok(c) = artemo_engine::imaging::check_image_file(&p.path) {
            for w in c.warnings {
                doubtful.push(format!("{} ({}): {w}", p.path.display(), p.id));
            }
        }
    }
    if super::common::strict() && !(doubtful.is_empty() && coll.problems.is_empty()) {
        bail!(
            "{} doubtful image(s) and {} collection problem(s) (refused: --strict): {}",
            doubtful.len(),
            coll.problems.len(),
            doubtful
                .iter()
                .cloned()
                .chain(
                    coll.problems
                        .iter()
                        .map(|p| format!("{}: {}", p.path.display(), p.message))
                )
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    for p in &coll.problems {
        eprintln!("warning: dropped {}: {}", p.path.display(), p.message);
    }
    for w in &doubtful {
        eprintln!("warning: {w}");
    }
    let out = run(
        engine,
        Command::Embed(Embed {
            model_dir: model.clone(),
            models: models.clone(),
            collection: args.collection.clone(),
        }),
    )?;
    let JobOutput::Embedded(r) = out else {
        return Err(unexpected(&out));
    };
    r.embeddings.write(&args.out)?;
    println!(
        "embedded {} paintings ({} dimensions) in {:.1}s into {}{}",
        r.embeddings.ids.len(),
        r.embeddings.dim(),
        r.seconds,
        args.out.display(),
        if r.embeddings.read.is_empty() {
            String::new()
        } else {
            format!(" (read: {})", r.embeddings.read)
        }
    );
    let dropped = r.skipped.len() + coll.problems.len();
    if dropped > 0 {
        println!("dropped {dropped} row(s) of the collection:");
    }
    for p in &coll.problems {
        println!("  dropped {}: {}", p.path.display(), p.message);
    }
    for p in &r.skipped {
        println!("  skipped {}: {}", p.path.display(), p.message);
    }
    for w in &doubtful {
        println!("  embedded, but doubtful: {w}");
    }
    let emb: Embeddings = r.embeddings;
    if let Some(map) = &args.map {
        let method = match args.method {
            MapMethod::Tsne => Method::Tsne,
            MapMethod::Pca => Method::Pca,
            MapMethod::Grid => Method::Grid,
        };
        let cfg = TsneConfig {
            seed: args.seed,
            ..Default::default()
        };
        let out = run(
            engine,
            Command::Project(Project {
                embeddings: emb.clone(),
                method,
                tsne: cfg,
            }),
        )?;
        let JobOutput::Projected(p) = out else {
            return Err(unexpected(&out));
        };
        artemo_engine::error::write_atomic(map, serde_json::to_string_pretty(&p)?.as_bytes())?;
        println!(
            "wrote the {:?} map to {}",
            p.projection.method,
            map.display()
        );
    }
    if let Some(out) = &args.zero_shot {
        let res = run(
            engine,
            Command::ZeroShot(ZeroShotRequest {
                model_dir: model.clone(),
                models: models.clone(),
                embeddings: emb.clone(),
                prompts: args.prompts.into(),
                calibration: args.calibration.into(),
            }),
        )?;
        let JobOutput::ZeroShot(z) = res else {
            return Err(unexpected(&res));
        };
        artemo_engine::error::write_atomic(out, serde_json::to_string_pretty(&z)?.as_bytes())?;
        let mut counts = std::collections::BTreeMap::new();
        for p in &z.predictions {
            *counts.entry(p.emotion.name()).or_insert(0usize) += 1;
        }
        println!(
            "zero-shot predictions written to {}: {counts:?}",
            out.display()
        );
    }
    if let Some(q) = &args.search {
        let out = run(
            engine,
            Command::Search(SearchRequest {
                model_dir: model,
                models,
                embeddings: emb,
                query: q.clone(),
                top: args.top,
            }),
        )?;
        let JobOutput::Searched(s) = out else {
            return Err(unexpected(&out));
        };
        println!("closest to \"{}\":", s.query);
        for (id, h) in &s.hits {
            println!("  {:.3}  {id}", h.score);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `artemo train pacl` arguments.
#[derive(Args, Debug)]
pub struct TrainPaclArgs {
    /// Output folder (default: <user data>/models/pacl; the shipped folder needs
    /// --overwrite-shipped).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Epochs (the progressive schedule switches at each third).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Seed.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// A minutes-long run: 3 epochs of 5 steps on 40 paintings.
    #[arg(long)]
    pub quick: bool,
}

/// Runs `artemo train pacl`: prepares the shipped data (partition, pseudo-labels),
/// trains, saves the model with `report.json`.
pub fn run_train(args: &TrainPaclArgs, engine: &Engine) -> Result<ExitCode> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    let out = super::common::output_path(args.out.as_deref(), "models/pacl")?;
    let res = run(
        engine,
        Command::TrainPacl(TrainPacl {
            roots: Roots { assets, models },
            out: out.clone(),
            options: PaclTrainOptions {
                epochs: args.epochs,
                quick: args.quick,
                seed: args.seed,
                prepare_share: 0.2,
            },
        }),
    )?;
    let JobOutput::PaclTrained(r) = res else {
        return Err(unexpected(&res));
    };
    println!("partition: {}", r.train.counts.summary());
    for e in &r.train.epochs {
        let phase = format!("{:?}", e.phase);
        println!("epoch {:>3} {phase:<8} loss {:.4}", e.epoch + 1, e.loss);
    }
    let p = &r.probe;
    println!(
        "dominant-emotion linear probe ({} train / {} test paintings), accuracy / weighted F1:",
        p.train, p.test
    );
    let mut rows = vec![("pacl backbone", &p.pacl)];
    if let Some(s) = &p.projected {
        rows.push(("pacl projected", s));
    }
    rows.extend([("descriptors", &p.descriptors), ("majority", &p.majority)]);
    for (k, s) in rows {
        println!("  {k:<15} {:.3} / {:.3}", s.accuracy, s.weighted_f1);
    }
    println!(
        "  (backbone: {}; projected: {})",
        ProbeFeatures::Backbone.describe(),
        ProbeFeatures::Projected.describe()
    );
    println!(
        "wrote {} (config.json, model.safetensors, report.json)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
