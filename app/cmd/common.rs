//! What the subcommands share: the output rules (user data folder by default, shipped
//! folders refused without `--overwrite-shipped`, `--strict`), image argument checks, the
//! feature cache folder, the rayon pool, and running engine jobs with the one progress
//! display (`progress.rs`) and the one "unexpected engine result" error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use artemo_engine::worker::{Command, Engine, JobOutput};

static OVERWRITE_SHIPPED: AtomicBool = AtomicBool::new(false);
static STRICT: AtomicBool = AtomicBool::new(false);

/// Records the global `--overwrite-shipped` and `--strict` flags for the commands.
pub(crate) fn set_flags(overwrite_shipped: bool, strict: bool) {
    OVERWRITE_SHIPPED.store(overwrite_shipped, Ordering::Relaxed);
    STRICT.store(strict, Ordering::Relaxed);
}

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

/// The feature cache folder (`$ARTEMO_CACHE`, `$XDG_CACHE_HOME/artemo`,
/// `~/.cache/artemo`, else the temporary folder); the window's map uses it too.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("ARTEMO_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("artemo")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/artemo")))
        .unwrap_or_else(|| std::env::temp_dir().join("artemo-cache"))
}

/// A rayon pool of `threads` threads for work run outside the engine (benchmarks).
pub(crate) fn rayon_pool(threads: usize) -> Result<artemo_engine::ThreadPool> {
    artemo_engine::thread_pool(threads).map_err(|e| anyhow!("{e}"))
}

/// The progress display of a long job, as the engine's progress callback.
pub(crate) fn progress() -> impl FnMut(f32, Option<Duration>, &str) {
    crate::progress::Progress::new().callback()
}

/// The error for an engine request that answered with another kind of result than it
/// documents (a bug in the engine or here, never the user's), naming the kind.
pub(crate) fn unexpected(out: &JobOutput) -> anyhow::Error {
    anyhow!("unexpected engine result: {}", out.kind())
}

/// Runs `job` to its end with the progress display.
pub(crate) fn run_job(engine: &Engine, job: Command) -> Result<JobOutput> {
    Ok(engine.run_blocking(job, progress())?)
}
