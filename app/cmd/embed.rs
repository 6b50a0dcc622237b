//! `artemo embed COLLECTION --out embeddings.{npy,csv}` (PACL image embeddings, with an
//! optional 2-D map, zero-shot emotions and a free-text search) and `artemo train pacl`.
//! Everything runs on the engine's compute lane through `artemo_engine::pacl::jobs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use artemo_engine::pacl::jobs::{
    embed_job, project_job, search_job, zero_shot_job, EmbedResult, Embeddings, ProjectionResult,
    SearchResult, ZeroShotResult,
};
use artemo_engine::pacl::projection::{Method, TsneConfig};
use artemo_engine::worker::{Command, Engine, JobFn, JobOutput, Lane};
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

/// Runs a compute-lane job that answers JSON, read as `T`.
fn run_json<T: serde::de::DeserializeOwned>(engine: &Engine, name: &str, job: JobFn) -> Result<T> {
    let job = Command::Run {
        name: name.into(),
        lane: Lane::Compute,
        job,
    };
    Ok(serde_json::from_value(super::common::run_json(
        engine, job,
    )?)?)
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
    let r: EmbedResult = run_json(
        engine,
        "embed collection",
        embed_job(model.clone(), args.collection.clone()),
    )?;
    r.embeddings.write(&args.out)?;
    println!(
        "embedded {} paintings ({} dimensions) in {:.1}s into {}",
        r.embeddings.ids.len(),
        r.embeddings.dim(),
        r.seconds,
        args.out.display()
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
        };
        let cfg = TsneConfig {
            seed: args.seed,
            ..Default::default()
        };
        let p: ProjectionResult =
            run_json(engine, "project", project_job(emb.clone(), method, cfg))?;
        artemo_engine::error::write_atomic(map, serde_json::to_string_pretty(&p)?.as_bytes())?;
        println!(
            "wrote the {:?} map to {}",
            p.projection.method,
            map.display()
        );
    }
    if let Some(out) = &args.zero_shot {
        let z: ZeroShotResult = run_json(
            engine,
            "zero-shot",
            zero_shot_job(model.clone(), models.clone(), emb.clone()),
        )?;
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
        let s: SearchResult = run_json(
            engine,
            "search",
            search_job(model, models, emb, q.clone(), args.top),
        )?;
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
    use artemo_engine::pacl::train::{prepare, PrepareOptions};
    use artemo_engine::pacl::{train, PaclConfig, TrainConfig};
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    let out = super::common::output_path(args.out.as_deref(), "models/pacl")?;
    let quick = args.quick;
    let (epochs, seed) = (args.epochs, args.seed);
    let out2 = out.clone();
    let job: JobFn = Box::new(move |ctx| {
        let cfg = PaclConfig::default();
        let enc = artemo_engine::models::bert::SentenceEncoder::load(
            &models.join(&cfg.text_model),
            ctx.device(),
        )?;
        let opts = PrepareOptions {
            k: 2,
            seed,
            max_paintings: quick.then_some(40),
            ..Default::default()
        };
        let data = prepare(&assets, &enc, &cfg.tower, None, &opts, |f, m| {
            ctx.progress(0.2 * f, m);
            !ctx.is_cancelled()
        })?;
        ctx.progress(0.2, data.counts.summary());
        let tc = TrainConfig {
            epochs: if quick { 3 } else { epochs },
            steps_per_epoch: quick.then_some(5),
            seed,
            ..Default::default()
        };
        let (model, report) = train(
            &cfg,
            &tc,
            &data,
            ctx.device(),
            |f, m| ctx.progress(0.2 + 0.8 * f, m),
            || ctx.is_cancelled(),
        )?;
        model.save(&out2)?;
        ctx.progress(1.0, "linear probe on the test split");
        let probe = artemo_engine::pacl::probe::painting_probe(
            &model,
            &assets,
            &artemo_engine::pacl::probe::ProbeConfig::default(),
        )?;
        let json = serde_json::json!({ "train": report, "probe": probe });
        artemo_engine::error::write_atomic(
            &out2.join("report.json"),
            serde_json::to_string_pretty(&json)
                .map_err(|e| artemo_engine::Error::Invalid(e.to_string()))?
                .as_bytes(),
        )?;
        Ok(JobOutput::Json(json))
    });
    let v: serde_json::Value = run_json(engine, "train PACL", job)?;
    println!(
        "partition: {}",
        serde_json::from_value::<artemo_engine::pacl::partition::PartitionCounts>(
            v["train"]["counts"].clone()
        )?
        .summary()
    );
    if let Some(eps) = v["train"]["epochs"].as_array() {
        for e in eps {
            println!(
                "epoch {:>3} {:<8} loss {:.4}",
                e["epoch"].as_u64().unwrap_or(0) + 1,
                e["phase"].as_str().unwrap_or(""),
                e["loss"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    let p = &v["probe"];
    println!(
        "dominant-emotion linear probe ({} train / {} test paintings), accuracy / weighted F1:",
        p["train"], p["test"]
    );
    for k in ["pacl", "descriptors", "majority"] {
        println!(
            "  {k:<12} {:.3} / {:.3}",
            p[k]["accuracy"].as_f64().unwrap_or(f64::NAN),
            p[k]["weighted_f1"].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!(
        "wrote {} (config.json, model.safetensors, report.json)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
