//! Artemo's engine: data formats, models, training, metrics and the background worker.
//! It has no UI dependency; the `artemo` binary (GUI and CLI) drives it through
//! [`worker::Engine`].

#![deny(missing_docs)]

pub mod annotations;
pub mod bench;
pub mod collection;
pub mod demo;
pub mod device;
pub mod emosem;
pub mod emotion;
pub mod error;
pub mod imaging;
pub mod lexicon;
pub mod manifest;
pub mod metrics;
pub mod models;
pub mod pacl;
pub mod sevlm;
pub mod text;
pub mod tokenize;
pub mod train;
pub mod worker;

pub use candle_core::Device;
pub use emotion::{Emotion, Polarity};
pub use error::{Error, Result};
pub use rayon::ThreadPool;

/// A compute thread pool of `threads` threads (candle's CPU kernels run on the current
/// rayon pool).
pub fn thread_pool(threads: usize) -> Result<ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start {threads} compute threads: {e}")))
}

use std::path::{Path, PathBuf};

/// Finds the shipped `assets/` folder: `$ARTEMO_ASSETS`, then an `assets/` beside the
/// executable or in one of its ancestors (a `target/release` build in a checkout), then
/// the checkout this crate was built from.
pub fn find_assets() -> Option<PathBuf> {
    find_dir("ARTEMO_ASSETS", "assets", "paintings")
}

/// Finds the `models/` folder the same way (`$ARTEMO_MODELS` first).
pub fn find_models() -> Option<PathBuf> {
    find_dir("ARTEMO_MODELS", "models", "MODELS.toml")
}

fn find_dir(env: &str, name: &str, marker: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).map(PathBuf::from) {
        if p.join(marker).exists() {
            return Some(p);
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let c = dir.join(name);
            if c.join(marker).exists() {
                return Some(c);
            }
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    built.join(marker).exists().then_some(built)
}

/// The shipped painting collection's manifest, if the assets are found.
pub fn default_collection() -> Option<PathBuf> {
    find_assets().map(|a| a.join("paintings/aic/paintings.csv"))
}
