//! `artemo bench collection --paintings N [--keep DIR] [--json]`: the Collection tab at
//! scale (issue 24). Writes N synthetic paintings (crops and colour shifts of the shipped
//! ones; `--keep DIR` keeps them there for the next run, else a temporary folder that is
//! removed), then drives the real window headless (`gui::grid_bench`): reading the
//! manifest, the grid's first screen with a cold and a warm thumbnail cache, frame times
//! while scrolling, and the browse bar's facets, filters and sorts, against the targets
//! (grid within 2 s, frames p95 < 16 ms, facets and filters < 100 ms).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use artemo_engine::bench::synthetic::synthetic_collection;

use crate::gui::grid_bench::{run as measure, GridBench};

/// Paintings when `--paintings` is not given.
pub const DEFAULT_PAINTINGS: usize = 10_000;
/// The synthetic collection's seed.
const SEED: u64 = 24;
/// Targets, in milliseconds.
const GRID_MS: f64 = 2000.0;
const FRAME_MS: f64 = 16.0;
const BROWSE_MS: f64 = 100.0;

/// Progress of the synthetic collection on stderr, every tenth.
struct Tenths(std::cell::Cell<i32>);

impl artemo_engine::progress::Progress for Tenths {
    fn report(&self, fraction: f32, message: &str) {
        let t = (fraction * 10.0).floor() as i32;
        if t > self.0.get() {
            self.0.set(t);
            eprintln!("  {message}");
        }
    }
    fn cancelled(&self) -> bool {
        false
    }
}

/// A folder removed when dropped (the synthetic paintings without `--keep`).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmark.
pub fn run(paintings: Option<usize>, keep: Option<&Path>, json: bool) -> Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; run `cargo run --release -- bench collection` for meaningful times"
        );
    }
    let n = paintings.unwrap_or(DEFAULT_PAINTINGS).max(1);
    let source = artemo_engine::default_collection()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let scratch = TempDir(
        std::env::temp_dir().join(format!("artemo-bench-collection-{}", std::process::id())),
    );
    let folder = match keep {
        Some(k) => k.to_path_buf(),
        None => scratch.0.join("paintings"),
    };
    eprintln!("synthetic paintings: {n} in {}", folder.display());
    let syn = synthetic_collection(&source, &folder, n, SEED, &Tenths(Default::default()))?;
    if syn.reused {
        eprintln!("  reused ({} MB)", syn.bytes / 1_000_000);
    }
    // The thumbnail cache is always a fresh one (the first open must be cold).
    let thumbs = scratch.0.join("thumbs");
    let r = measure(&syn.manifest, &thumbs, |what| {
        eprintln!("running {what} ...")
    })?;
    drop(scratch);
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", table(&r));
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(ms: f64, target: f64) -> &'static str {
    if ms < target {
        "ok"
    } else {
        "MISSED"
    }
}

/// The report as a table: one line per measurement with its target.
pub fn table(r: &GridBench) -> String {
    let mut out = format!(
        "Collection tab, {} paintings (1400x900 window, one frame per 1/60 s; frame = ctx.run_ui + tessellate)\n",
        r.paintings
    );
    let mut line = |what: &str, value: String, target: &str, ok: &str| {
        out.push_str(&format!("{what:<66} {value:>22}  {target:<10} {ok}\n"));
    };
    line("measurement", "value".into(), "target", "");
    line(
        "manifest read (Collection::open)",
        format!("{:.0} ms", r.manifest_ms),
        "",
        "",
    );
    if let Some((ms, n)) = r.folder_ms {
        line(
            &format!("the images' folder walked (Collection::open, {n} found)"),
            format!("{ms:.0} ms"),
            "",
            "",
        );
    }
    line(
        "one thumbnail: made from the image / read from the cache",
        format!("{:.1} / {:.1} ms", r.thumb_ms[0], r.thumb_ms[1]),
        "",
        "",
    );
    for (name, f) in [("cold", &r.cold), ("warm", &r.warm)] {
        line(
            &format!("{name} thumbnail cache: collection open in the app"),
            format!("{:.0} ms", f.open_ms),
            "",
            "",
        );
        line(
            &format!(
                "{name} thumbnail cache: first screen complete ({} cells)",
                f.cells
            ),
            format!("{:.0} ms, {} frames", f.ms, f.frames),
            "< 2000 ms",
            verdict(f.ms, GRID_MS),
        );
        line(
            &format!("{name}: frames until then, p50 / p95 / max"),
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                f.frame_times.p50_ms, f.frame_times.p95_ms, f.frame_times.max_ms
            ),
            "",
            "",
        );
    }
    let s = &r.scroll;
    line(
        &format!(
            "scrolling {} frames ({:.0} points), p50 / p95 / max",
            s.frame_times.frames, s.points
        ),
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            s.frame_times.p50_ms, s.frame_times.p95_ms, s.frame_times.max_ms
        ),
        "p95 < 16",
        verdict(s.frame_times.p95_ms, FRAME_MS),
    );
    line(
        "scrolling: cells drawn with their thumbnail",
        format!("{:.0} %", s.thumbs_shown * 100.0),
        "",
        "",
    );
    line(
        "scrolling: thumbnail requests left / cells on screen",
        format!("{} / {}", s.pending_after, s.cells_after),
        "",
        "",
    );
    for b in &r.browse {
        line(
            &format!("browse: {} ({} shown)", b.what, b.shown),
            format!("{:.1} + {:.1} ms", b.compute_ms, b.frame_ms),
            "< 100 ms",
            verdict(b.compute_ms + b.frame_ms, BROWSE_MS),
        );
    }
    out.push_str("browse: computation + the frame that shows it\n");
    out
}
