//! Artemo's engine: data formats, models, training, metrics and the background worker.
//! It has no UI dependency; the `artemo` binary (GUI and CLI) drives it through
//! [`worker::Engine`].

#![deny(missing_docs)]

pub mod annotations;
pub mod atlas;
pub mod bench;
pub mod collection;
pub mod device;
pub mod emosem;
pub mod emotion;
pub mod error;
pub mod imaging;
pub mod jobs;
pub mod kit;
pub mod lexicon;
pub mod manifest;
pub mod metrics;
pub mod models;
pub mod pacl;
pub mod progress;
pub mod sevlm;
pub mod text;
pub mod thumbs;
pub mod tokenize;
pub mod train;
pub use jobs::worker;

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

/// A path as the user should read it: under the shipped `assets/` or `models/` folder it
/// is shown relative to that folder (`assets/paintings/aic/100026.jpg`), under the home
/// folder as `~/...`, anywhere else in full. The text is for display only; [`resolve_shown`]
/// turns it back into a path.
pub fn shown_path(p: &Path) -> String {
    let roots = [("assets", find_assets()), ("models", find_models())];
    for (name, root) in roots {
        if let Some(rel) = root.as_deref().and_then(|r| strip_root(p, r)) {
            return if rel.as_os_str().is_empty() {
                format!("{name}/")
            } else {
                format!("{name}/{}", rel.display())
            };
        }
    }
    if let Some(rel) = home_dir().as_deref().and_then(|h| strip_root(p, h)) {
        return format!("~/{}", rel.display());
    }
    p.display().to_string()
}

/// The path a user typed (or a [`shown_path`] text): `~/` expands to the home folder, and
/// a relative `assets/...` or `models/...` that does not exist from the working folder is
/// looked up in the shipped folders.
pub fn resolve_shown(text: &str) -> PathBuf {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("~/") {
        if let Some(h) = home_dir() {
            return h.join(rest);
        }
    }
    let p = PathBuf::from(text);
    if p.is_relative() && !p.exists() {
        for (name, root) in [("assets", find_assets()), ("models", find_models())] {
            if let (Ok(rest), Some(root)) = (p.strip_prefix(name), root) {
                let c = root.join(rest);
                if c.exists() {
                    return c;
                }
            }
        }
    }
    p
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute() && h.parent().is_some())
}

/// `p` relative to `root`, also when one of them is spelled with `..` or symlinks.
fn strip_root(p: &Path, root: &Path) -> Option<PathBuf> {
    if let Ok(rel) = p.strip_prefix(root) {
        if !rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Some(rel.to_path_buf());
        }
    }
    let (p, root) = (p.canonicalize().ok()?, root.canonicalize().ok()?);
    p.strip_prefix(&root).ok().map(Path::to_path_buf)
}

/// Why `$ARTEMO_ASSETS` or `$ARTEMO_MODELS` cannot be used, when one is set to a folder
/// that does not exist or lacks its marker (`paintings/`, `MODELS.toml`). Such a setting
/// is never silently replaced by the checkout's folders: [`find_assets`] and
/// [`find_models`] then find nothing, and commands report this text.
pub fn env_dir_problems() -> Vec<String> {
    [
        ("ARTEMO_ASSETS", "paintings/"),
        ("ARTEMO_MODELS", "MODELS.toml"),
    ]
    .into_iter()
    .filter_map(|(env, marker)| {
        let p = PathBuf::from(std::env::var_os(env).filter(|p| !p.is_empty())?);
        if !p.is_dir() {
            Some(format!("{env}={}: no such folder", p.display()))
        } else if !p.join(marker.trim_end_matches('/')).exists() {
            Some(format!(
                "{env}={}: the folder has no {marker}, so it is not an Artemo {} folder",
                p.display(),
                if env == "ARTEMO_ASSETS" {
                    "assets"
                } else {
                    "models"
                }
            ))
        } else {
            None
        }
    })
    .collect()
}

fn find_dir(env: &str, name: &str, marker: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
    {
        // Set explicitly: that folder or nothing (never the checkout's behind the user's back).
        return p.join(marker).exists().then_some(p);
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

/// The user's Artemo data folder, where every command and the window write their outputs
/// by default (logs, training runs, review journals, caches): `$ARTEMO_DATA`, else
/// `$XDG_DATA_HOME/artemo`, else `~/.local/share/artemo`. `None` only when no home folder
/// is known. The folder is not created here.
pub fn user_data_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARTEMO_DATA").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Some(p.join("artemo"));
    }
    home_dir().map(|h| h.join(".local/share/artemo"))
}

/// The user's models folder, `<user data>/models`: where `models import`, `train` and the
/// Models tab put weights unless told otherwise.
pub fn user_models_dir() -> Option<PathBuf> {
    user_data_dir().map(|d| d.join("models"))
}

/// The first of `rels` (in order) that holds `config.json` and `model.safetensors`, each
/// looked for first in the user's models folder ([`user_models_dir`]), then in `models`.
/// So installed real weights beat the demo kit wherever they are, and at the same rank the
/// user's copy (an import, a `train --preset demo` run) beats the shipped one.
pub fn locate_model(models: &Path, rels: &[&str]) -> Option<PathBuf> {
    let user = user_models_dir().filter(|u| u.is_dir() && u.as_path() != models);
    rels.iter().find_map(|rel| {
        user.iter()
            .map(|u| u.join(rel))
            .chain([models.join(rel)])
            .find(|d| d.join("config.json").is_file() && d.join("model.safetensors").is_file())
    })
}

/// Whether `p` lies inside the shipped `assets/` or `models/` folder (also through `..` or
/// symlinks; a path that does not exist yet is judged by its nearest existing ancestor).
/// Commands refuse to write there unless told to explicitly (`--overwrite-shipped`).
pub fn is_shipped(p: &Path) -> bool {
    let p = if p.is_relative() {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    } else {
        p.to_path_buf()
    };
    let existing = p.ancestors().find(|a| a.exists()).map(Path::to_path_buf);
    [find_assets(), find_models()]
        .into_iter()
        .flatten()
        .any(|root| {
            strip_root(&p, &root).is_some()
                || existing
                    .as_deref()
                    .is_some_and(|e| strip_root(e, &root).is_some())
        })
}

/// The shipped painting collection's manifest, if the assets are found.
pub fn default_collection() -> Option<PathBuf> {
    find_assets().map(|a| a.join("paintings/aic/paintings.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_paths_are_shown_relative_and_resolve_back() {
        let assets = find_assets().expect("assets/");
        let csv = assets.join("paintings/aic/paintings.csv");
        let shown = shown_path(&csv);
        assert_eq!(shown, "assets/paintings/aic/paintings.csv");
        // Also when spelled through `..` (canonical comparison).
        let roundabout = assets.join("paintings/../paintings/aic/paintings.csv");
        assert_eq!(shown_path(&roundabout), shown);
        // From any working folder the text resolves to the same file.
        assert_eq!(
            resolve_shown(&shown).canonicalize().unwrap(),
            csv.canonicalize().unwrap()
        );
        // Paths elsewhere are left as they are.
        assert_eq!(shown_path(Path::new("/nowhere/x.csv")), "/nowhere/x.csv");
        assert_eq!(
            resolve_shown(" /nowhere/x.csv "),
            PathBuf::from("/nowhere/x.csv")
        );
    }

    #[test]
    fn shipped_folders_are_recognised() {
        let assets = find_assets().expect("assets/");
        let models = find_models().expect("models/");
        assert!(is_shipped(&assets.join("annotations/SPLITS.csv")));
        assert!(is_shipped(&models.join("demo/new-folder/x.json")));
        assert!(is_shipped(&models));
        assert!(!is_shipped(Path::new("/tmp/artemo-elsewhere/x")));
        assert!(!is_shipped(&std::env::temp_dir()));
    }
}
