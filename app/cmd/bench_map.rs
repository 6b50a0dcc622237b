//! `artemo bench map --paintings N` (issue 24): N synthetic paintings (crops and colour
//! shifts of the shipped ones, `artemo_engine::bench::synthetic`), then the Map tab's
//! whole pipeline from an empty cache, timed per stage (hashing, embedding with the
//! thumbnails from the same decode, atlas, zero-shot, t-SNE, k-means), the grid layout,
//! the atlas memory, the peak RSS, and the frame times of the real Map tab drawn headless
//! while panning and zooming.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use artemo_engine::bench::paper::status_kib;
use artemo_engine::bench::synthetic::synthetic_collection;
use artemo_engine::collection::Collection;
use artemo_engine::jobs::map::{compute_map, MapRequest};
use artemo_engine::jobs::models::LoadedModels;
use artemo_engine::pacl::projection::{Method, TsneConfig};
use artemo_engine::pacl::zeroshot::{Calibration, PromptSet};
use artemo_engine::progress::Progress;
use serde::Serialize;

/// Records when each stage of the map job starts (by its progress messages).
struct Stages {
    t0: Instant,
    seen: Mutex<Vec<(String, f64)>>,
}

fn stage_of(message: &str) -> &'static str {
    let m = message.to_lowercase();
    [
        ("hashing", "hashing the model and the collection"),
        ("loading", "loading the PACL model"),
        ("embedding", "embedding (+ thumbnails)"),
        ("thumbnails", "thumbnail atlas"),
        ("zero-shot", "zero-shot emotions"),
        ("projecting", "t-SNE"),
        ("t-sne", "t-SNE"),
        ("k-means", "k-means"),
        ("map ready", "done"),
    ]
    .iter()
    .find(|(k, _)| m.starts_with(k))
    .map_or("other", |(_, v)| v)
}

impl Progress for Stages {
    fn report(&self, _fraction: f32, message: &str) {
        let s = stage_of(message);
        if let Ok(mut v) = self.seen.lock() {
            if v.last().is_none_or(|l| l.0 != s) {
                v.push((s.to_string(), self.t0.elapsed().as_secs_f64()));
            }
        }
    }
    fn cancelled(&self) -> bool {
        false
    }
}

#[derive(Debug, Serialize)]
struct Row {
    what: String,
    value: String,
}

fn pct(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

fn mib(b: f64) -> String {
    format!("{:.0} MiB", b / (1024.0 * 1024.0))
}

/// Runs the benchmark with `n` paintings (kept in `keep` when given, with the map's cache
/// in `<keep>/cache`, emptied first) on `threads` threads.
pub fn run(n: usize, keep: Option<&Path>, threads: usize, json: bool) -> Result<ExitCode> {
    let assets = artemo_engine::find_assets().context("the assets/ folder was not found")?;
    let models = artemo_engine::find_models().context("the models/ folder was not found")?;
    let model_dir = artemo_engine::pacl::locate(&models)
        .ok_or_else(|| anyhow!("no PACL model under {}", models.display()))?;
    // Without --keep: a folder of this run under the system's temporary folder, removed at
    // the end.
    let tmp = std::env::temp_dir().join(format!("artemo-bench-map-{}", std::process::id()));
    let root: PathBuf = keep.map_or_else(|| tmp.clone(), Path::to_path_buf);
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |what: &str, value: String| {
        rows.push(Row {
            what: what.into(),
            value,
        })
    };
    let pool = super::common::rayon_pool(threads)?;
    eprintln!("making {n} synthetic paintings in {} ...", root.display());
    let t = Instant::now();
    let syn = pool.install(|| {
        synthetic_collection(
            &assets.join("paintings/aic/paintings.csv"),
            &root,
            n,
            1,
            &artemo_engine::progress::Silent,
        )
    })?;
    add(
        "synthetic paintings (not counted)",
        format!(
            "{n}, {} of JPEG, {} in {:.1} s",
            mib(syn.bytes as f64),
            if syn.reused { "reused" } else { "written" },
            t.elapsed().as_secs_f64()
        ),
    );
    let t = Instant::now();
    let coll = Collection::open(&syn.manifest)?;
    add(
        "open the collection (manifest)",
        format!("{:.0} ms", t.elapsed().as_secs_f64() * 1000.0),
    );
    let cache = root.join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let k = 12;
    let req = MapRequest {
        model_dir: model_dir.clone(),
        models: models.clone(),
        paintings: coll.paintings.clone(),
        method: Method::Tsne,
        tsne: TsneConfig::default(),
        k,
        prompts: PromptSet::Paper,
        calibration: Calibration::default(),
        cache: Some(cache.clone()),
        atlas_cell: Some(artemo_engine::atlas::ATLAS_CELL),
    };
    let device =
        artemo_engine::device::select_device(artemo_engine::device::DevicePreference::Cpu).device;
    let reg = LoadedModels::new();
    let stages = Stages {
        t0: Instant::now(),
        seen: Mutex::new(Vec::new()),
    };
    eprintln!("computing the map from an empty cache ...");
    let data = pool.install(|| compute_map(&req, &reg, &device, &stages))?;
    let total = stages.t0.elapsed().as_secs_f64();
    let seen = stages
        .seen
        .into_inner()
        .map_err(|_| anyhow!("stage log poisoned"))?;
    for (i, (name, at)) in seen.iter().enumerate() {
        if name == "done" {
            continue;
        }
        let end = seen.get(i + 1).map_or(total, |n| n.1);
        add(&format!("  map: {name}"), format!("{:.1} s", end - at));
    }
    add(
        "map from scratch (total, target < 300 s)",
        format!("{total:.1} s for {} paintings", data.embeddings.ids.len()),
    );
    let t = Instant::now();
    let grid_req = MapRequest {
        method: Method::Grid,
        ..req.clone()
    };
    let _ =
        pool.install(|| compute_map(&grid_req, &reg, &device, &artemo_engine::progress::Silent))?;
    add(
        "grid layout (from the cached map)",
        format!("{:.1} s", t.elapsed().as_secs_f64()),
    );
    let t = Instant::now();
    let again = pool.install(|| {
        compute_map(
            &req,
            &LoadedModels::new(),
            &device,
            &artemo_engine::progress::Silent,
        )
    })?;
    add(
        "second open (map + atlas from the disk cache)",
        format!(
            "{:.1} s (map cached: {}, atlas cached: {})",
            t.elapsed().as_secs_f64(),
            again.from_cache,
            again.atlas.as_ref().is_some_and(|a| a.from_cache)
        ),
    );
    drop(again);
    if let Some(a) = &data.atlas {
        add(
            "thumbnail atlas",
            format!(
                "{} pages, {} px cells, {}",
                a.pages.len(),
                a.cell,
                mib(a.bytes() as f64)
            ),
        );
    }
    eprintln!("drawing frames ...");
    let frames = crate::gui::panels::map::bench::frame_times(
        data,
        &coll,
        model_dir,
        models,
        Method::Tsne,
        k,
        240,
        [1400.0, 900.0],
    )
    .map_err(|e| anyhow!(e))?;
    for (what, v) in [("panning", &frames.pan), ("zooming", &frames.zoom)] {
        add(
            &format!("frame CPU time {what} (1400x900, target p95 < 16 ms)"),
            format!(
                "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} frames)",
                pct(v, 0.5),
                pct(v, 0.95),
                pct(v, 1.0),
                v.len()
            ),
        );
    }
    add(
        "thumbnails drawn per frame (most)",
        frames.max_thumbs.to_string(),
    );
    add(
        "peak RSS (target < 2 GB)",
        status_kib("VmHWM:").map_or("unknown".into(), |k| mib(k as f64 * 1024.0)),
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<56} value  (CPU, {threads} thread(s), {} load average {})",
            "map benchmark",
            n,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        for r in &rows {
            println!("{:<56} {}", r.what, r.value);
        }
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(ExitCode::SUCCESS)
}
