//! `artemo bench WHAT`: real-size forward benchmarks of every backbone, SEVLM's training
//! step and generation, PACL, EmoSEM, and the demo kit's whole-painting inference, each on
//! a rayon pool of `--threads` threads (build with --release for meaningful times).

use std::process::ExitCode;

use anyhow::{Context, Result};
use artemo_engine::bench::BenchRow;
use clap::ValueEnum;

use super::common::rayon_pool;

/// What `artemo bench` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bench {
    /// Each backbone's forward (`--only` a name part).
    Backbones,
    /// SEVLM: one training step and a 25-token explanation (full recompute vs the exact
    /// shortcuts), paper and small configurations (`--only paper,generation`: the paper
    /// configuration's decoding only).
    Sevlm,
    /// PACL's descriptors, embedding throughput, a training step and t-SNE.
    Pacl,
    /// EmoSEM: encoder (cold and cached), decoder + 8 explanations; small and paper sizes
    /// (`--only small`: the small one only).
    Emosem,
    /// The demo kit's whole-painting inference on 12 shipped paintings.
    Demo,
    /// The paper configurations end to end at real size with random weights (SEVLM,
    /// EmoSEM and one EmoSEM training step, PACL over a CLIP-style backbone) on one shipped
    /// painting: time, parameters and peak memory per stage (`--only tiny`: toy sizes).
    Paper,
    /// The Collection tab at scale on synthetic paintings (`--paintings N`, `--keep DIR`):
    /// manifest, first screen of the grid cold and warm, scrolling, browse bar.
    Collection,
    /// The Map at scale: `--paintings N` synthetic paintings mapped from an empty cache
    /// (stage times, atlas memory, peak RSS) and the Map tab's frame times while panning
    /// and zooming (`--keep DIR` keeps the paintings and the cache).
    Map,
}

impl Bench {
    /// The name on the command line.
    fn name(self) -> &'static str {
        match self {
            Bench::Backbones => "backbones",
            Bench::Sevlm => "sevlm",
            Bench::Pacl => "pacl",
            Bench::Emosem => "emosem",
            Bench::Demo => "demo",
            Bench::Paper => "paper",
            Bench::Collection => "collection",
            Bench::Map => "map",
        }
    }
}

/// The size of a scale benchmark (`bench map`).
#[derive(Debug, Clone, Default)]
pub struct Scale {
    /// Synthetic paintings.
    pub paintings: usize,
    /// Where to keep them (and the map's cache); `None`: a temporary folder.
    pub keep: Option<std::path::PathBuf>,
}

/// Runs a benchmark; `json` prints JSON instead of a table; `gpu` (`--gpu`) runs
/// `backbones` and `paper` on GPU 0 when this build has CUDA and a GPU answers (the other
/// benchmarks run on the CPU, and say so).
pub fn run(
    what: Bench,
    only: Option<&str>,
    json: bool,
    threads: Option<usize>,
    gpu: bool,
    scale: &Scale,
) -> Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; run `cargo run --release -- bench {}` for meaningful times",
            what.name()
        );
    }
    let threads = threads.unwrap_or_else(artemo_engine::device::default_threads);
    let pool = rayon_pool(threads)?;
    let on_device = matches!(what, Bench::Backbones | Bench::Paper);
    let choice = if gpu && on_device {
        artemo_engine::device::select_device(artemo_engine::device::DevicePreference::Gpu)
    } else {
        artemo_engine::device::select_device(artemo_engine::device::DevicePreference::Cpu)
    };
    if gpu && !on_device {
        eprintln!(
            "note: `bench {}` runs on the CPU (only `bench backbones` and `bench paper` take --gpu)",
            what.name()
        );
    }
    if let Some(note) = &choice.fallback {
        eprintln!("note: {note}");
    }
    eprintln!("device: {}", choice.name);
    // "CPU, 4 thread(s)" or "CUDA GPU 0".
    let on = if choice.is_cpu() {
        format!("CPU, {threads} thread(s)")
    } else {
        choice.name.clone()
    };
    let progress = |n: &str| eprintln!("running {n} ...");
    match what {
        Bench::Pacl => {
            let rows = pool.install(|| artemo_engine::pacl::bench::run(only, progress))?;
            let header = format!(
                "{:<44} {:<28} {:>10}  (CPU, {threads} thread(s), random weights)",
                "benchmark", "input", "median ms"
            );
            report(&rows, json, &header, |r| {
                format!("{:<44} {:<28} {:>10.1}", r.name, r.input, r.median_ms)
            })
        }
        Bench::Emosem => {
            let paper = only.is_none_or(|o| o.contains("paper"));
            let rows = pool.install(|| artemo_engine::emosem::bench::run(paper, 3, progress))?;
            let header = format!(
                "{:<52} {:>10}  (CPU, {threads} thread(s), random weights)",
                "EmoSEM", "median ms"
            );
            report(&rows, json, &header, |r| {
                format!("{:<52} {:>10.1}", r.name, r.median_ms)
            })
        }
        Bench::Paper => paper(&pool, only, json, &choice, &on, progress),
        Bench::Collection => {
            super::bench_collection::run(Some(scale.paintings), scale.keep.as_deref(), json)
        }
        Bench::Map => super::bench_map::run(scale.paintings, scale.keep.as_deref(), threads, json),
        Bench::Backbones | Bench::Sevlm | Bench::Demo => {
            let root = artemo_engine::find_models()
                .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
            let rows = pool.install(|| -> Result<Vec<BenchRow>> {
                match what {
                    Bench::Sevlm => super::analyze::bench_sevlm(only, progress),
                    Bench::Demo => demo(&root, progress),
                    _ => Ok(artemo_engine::bench::backbones(
                        &root,
                        only,
                        &choice.device,
                        progress,
                    )?),
                }
            })?;
            let header = format!(
                "{:<36} {:<32} {:>10}  ({on}, random weights unless stated)",
                "backbone", "input", "median ms"
            );
            report(&rows, json, &header, |r| {
                format!("{:<36} {:<32} {:>10.1}", r.name, r.input, r.median_ms)
            })
        }
    }
}

/// The demo kit's whole-painting inference on 12 shipped paintings.
fn demo(root: &std::path::Path, mut progress: impl FnMut(&str)) -> Result<Vec<BenchRow>> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let c =
        artemo_engine::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let paintings: Vec<std::path::PathBuf> = c
        .paintings
        .iter()
        .take(12)
        .map(|p| p.path.clone())
        .collect();
    progress("the demo kit on 12 shipped paintings");
    Ok(artemo_engine::kit::bench_inference(
        &root.join("demo"),
        &assets,
        root,
        &paintings,
    )?)
}

/// `bench paper` on the first shipped painting.
fn paper(
    pool: &artemo_engine::ThreadPool,
    only: Option<&str>,
    json: bool,
    device: &artemo_engine::device::DeviceChoice,
    on: &str,
    progress: impl FnMut(&str) + Send,
) -> Result<ExitCode> {
    use artemo_engine::bench::paper::{run, PaperSize};
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let c =
        artemo_engine::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let image = c
        .paintings
        .first()
        .map(|p| p.path.clone())
        .context("no shipped painting to analyse")?;
    let size = if only.is_some_and(|o| o.contains("tiny")) {
        PaperSize::Tiny
    } else {
        PaperSize::Paper
    };
    let rows = pool.install(|| run(size, &assets, &image, &device.device, progress))?;
    let header = format!(
        "{:<48} {:>10} {:>11} {:>24}  ({on}, random weights, {})",
        "stage",
        "params",
        "time ms",
        "RSS MiB: start -> peak",
        image.file_name().unwrap_or_default().to_string_lossy()
    );
    report(&rows, json, &header, |r| {
        let start = r
            .start_rss_mib
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "n/a".into());
        let rss = match r.peak_rss_mib {
            Some(m) if r.peak_is_per_stage => format!("{start} -> {m:.0}"),
            Some(m) => format!("{start} -> {m:.0} (process)"),
            None => "n/a".into(),
        };
        format!(
            "{:<48} {:>9.1}M {:>11.0} {:>24}",
            r.stage,
            r.params as f64 / 1e6,
            r.ms,
            rss
        )
    })
}

/// Prints the rows as JSON, or as a table under `header`.
fn report<R: serde::Serialize>(
    rows: &[R],
    json: bool,
    header: &str,
    line: impl Fn(&R) -> String,
) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
    } else {
        println!("{header}");
        for r in rows {
            println!("{}", line(r));
        }
    }
    Ok(ExitCode::SUCCESS)
}
