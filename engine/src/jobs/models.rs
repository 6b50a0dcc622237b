//! The one registry of loaded models shared by every job: SEVLM, EmoSEM and PACL runtimes
//! are loaded the first time a request needs them and reused by every later request for
//! the same weights, whichever panel or command sent it (the Painting and Review tabs share
//! one EmoSEM). An entry is keyed by the weights' location (with the assets and models
//! folders it was loaded with) and a fingerprint of their files (name, size and
//! modification time of every file in the model folder), so weights replaced in place are
//! loaded afresh and a pinned checkpoint is an entry of its own; [`LoadedModels::clear`]
//! forgets everything (the window calls it when the Models tab installs weights).
//!
//! The fingerprint reads file metadata, not contents: hashing a SAM checkpoint's 375 MB on
//! every request would cost more than the request.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::Device;

use crate::emosem::view::{load_runtime as load_emosem, MaskRuntime};
use crate::error::{Error, Result};
use crate::pacl::embed::{load_pacl, LoadedPacl};
use crate::sevlm::SevlmRuntime;

/// Which SEVLM weights a request uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SevlmWeights {
    /// A model folder (`config.json` + `model.safetensors`), with CLIP ViT-B/16 from
    /// `clip` (default: `<dir>/clip`, then `models/clip-vit-base-patch16`).
    Folder {
        /// The model folder.
        dir: PathBuf,
        /// CLIP's folder, when not the default.
        clip: Option<PathBuf>,
    },
    /// A converted reference release (`sevlm::checkpoint`).
    Reference {
        /// The converted decoder folder.
        decoder: PathBuf,
        /// The emotion encoder, when separate.
        emo_encoder: Option<PathBuf>,
        /// CLIP's folder, when not the default.
        clip: Option<PathBuf>,
    },
}

impl SevlmWeights {
    /// The installed model folder `dir` with the default CLIP.
    pub fn folder(dir: impl Into<PathBuf>) -> Self {
        SevlmWeights::Folder {
            dir: dir.into(),
            clip: None,
        }
    }

    fn folders(&self) -> Vec<&Path> {
        match self {
            SevlmWeights::Folder { dir, clip } => std::iter::once(dir.as_path())
                .chain(clip.as_deref())
                .collect(),
            SevlmWeights::Reference {
                decoder,
                emo_encoder,
                clip,
            } => std::iter::once(decoder.as_path())
                .chain(emo_encoder.as_deref())
                .chain(clip.as_deref())
                .collect(),
        }
    }
}

/// Where shipped data and weights are: the assets (tokenizer, lexicons) and the models
/// folder (encoders a model names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Roots {
    /// The shipped `assets/` folder.
    pub assets: PathBuf,
    /// The `models/` folder.
    pub models: PathBuf,
}

impl Roots {
    /// The shipped folders found by [`crate::find_assets`] and [`crate::find_models`].
    pub fn find() -> Result<Roots> {
        Ok(Roots {
            assets: crate::find_assets().ok_or_else(|| {
                Error::Invalid("the assets/ folder was not found (set ARTEMO_ASSETS)".into())
            })?,
            models: crate::find_models().ok_or_else(|| {
                Error::Invalid("the models/ folder was not found (set ARTEMO_MODELS)".into())
            })?,
        })
    }
}

/// A fingerprint of the files directly in `dirs` (or of the files themselves): names,
/// sizes and modification times.
fn fingerprint(dirs: &[&Path]) -> u64 {
    let mut h = DefaultHasher::new();
    for d in dirs {
        d.hash(&mut h);
        let mut entries: Vec<(PathBuf, u64, Option<std::time::SystemTime>)> =
            match std::fs::read_dir(d) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        m.is_file().then(|| (e.path(), m.len(), m.modified().ok()))
                    })
                    .collect(),
                Err(_) => std::fs::metadata(d)
                    .map(|m| vec![(d.to_path_buf(), m.len(), m.modified().ok())])
                    .unwrap_or_default(),
            };
        entries.sort();
        entries.hash(&mut h);
    }
    h.finish()
}

/// Runtimes of one kind by key.
struct Cache<T> {
    map: Mutex<HashMap<(String, u64), Arc<T>>>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Cache<T> {
    /// The runtime for `key`, loading it with `load` (counted in `loads`) when absent. The
    /// lock is held while loading, so two requests never load the same weights twice.
    fn get_or_load(
        &self,
        key: (String, u64),
        loads: &AtomicUsize,
        load: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = g.get(&key) {
            return Ok(m.clone());
        }
        let m = Arc::new(load()?);
        loads.fetch_add(1, Ordering::Relaxed);
        // Older versions of the same weights are dropped.
        g.retain(|(k, _), _| *k != key.0);
        g.insert(key, m.clone());
        Ok(m)
    }

    fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The loaded models of one engine (see the module documentation).
#[derive(Default)]
pub struct LoadedModels {
    sevlm: Cache<SevlmRuntime>,
    emosem: Cache<MaskRuntime>,
    pacl: Cache<LoadedPacl>,
    loads: AtomicUsize,
}

impl LoadedModels {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SEVLM runtime of `weights` with the shipped stand-in lexicon.
    pub fn sevlm(
        &self,
        weights: &SevlmWeights,
        roots: &Roots,
        device: &Device,
    ) -> Result<Arc<SevlmRuntime>> {
        self.sevlm_with(weights, &crate::lexicon::VadSource::StandIn, roots, device)
    }

    /// The SEVLM runtime of `weights` with the VAD lexicon `lexicon`.
    pub fn sevlm_with(
        &self,
        weights: &SevlmWeights,
        lexicon: &crate::lexicon::VadSource,
        roots: &Roots,
        device: &Device,
    ) -> Result<Arc<SevlmRuntime>> {
        let mut folders = weights.folders();
        if let crate::lexicon::VadSource::File { path, .. } = lexicon {
            folders.push(path.as_path());
        }
        let key = (
            format!("{weights:?} {lexicon:?} {roots:?}"),
            fingerprint(&folders),
        );
        self.sevlm.get_or_load(key, &self.loads, || match weights {
            SevlmWeights::Folder { dir, clip } => crate::sevlm::load_runtime_with(
                dir,
                &roots.assets,
                &roots.models,
                clip.as_deref(),
                lexicon,
                device,
            ),
            SevlmWeights::Reference {
                decoder,
                emo_encoder,
                clip,
            } => crate::sevlm::load_reference_runtime_with(
                decoder,
                emo_encoder.as_deref(),
                &roots.assets,
                &roots.models,
                clip.as_deref(),
                lexicon,
                device,
            ),
        })
    }

    /// The EmoSEM runtime of the model folder `dir`.
    pub fn emosem(&self, dir: &Path, roots: &Roots, device: &Device) -> Result<Arc<MaskRuntime>> {
        let key = (format!("{} {roots:?}", dir.display()), fingerprint(&[dir]));
        self.emosem.get_or_load(key, &self.loads, || {
            load_emosem(dir, &roots.assets, &roots.models, device)
        })
    }

    /// The PACL model in `dir` with its text encoder (under `models`).
    pub fn pacl(&self, dir: &Path, models: &Path, device: &Device) -> Result<Arc<LoadedPacl>> {
        let key = (
            format!("{} {}", dir.display(), models.display()),
            fingerprint(&[dir]),
        );
        self.pacl
            .get_or_load(key, &self.loads, || load_pacl(dir, models, device))
    }

    /// Forgets every loaded model (after models are installed, removed or pinned).
    pub fn clear(&self) {
        self.sevlm.clear();
        self.emosem.clear();
        self.pacl.clear();
    }

    /// How many times a model was loaded since the engine started.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_loads_once_and_changed_files_load_again() {
        let tmp = tempfile::tempdir().unwrap();
        let cache: Cache<u32> = Cache::default();
        let loads = AtomicUsize::new(0);
        std::fs::write(tmp.path().join("w.bin"), b"12").unwrap();
        let key = || ("m".to_string(), fingerprint(&[tmp.path()]));
        let a = cache.get_or_load(key(), &loads, || Ok(1)).unwrap();
        let b = cache.get_or_load(key(), &loads, || Ok(2)).unwrap();
        assert_eq!((*a, *b, loads.load(Ordering::Relaxed)), (1, 1, 1));
        std::fs::write(tmp.path().join("w.bin"), b"123").unwrap();
        let c = cache.get_or_load(key(), &loads, || Ok(3)).unwrap();
        assert_eq!((*c, loads.load(Ordering::Relaxed)), (3, 2));
        assert_eq!(cache.map.lock().unwrap().len(), 1);
        cache.clear();
        let d = cache.get_or_load(key(), &loads, || Ok(4)).unwrap();
        assert_eq!(*d, 4);
        let err = cache.get_or_load(("x".into(), 0), &loads, || Err(Error::Cancelled));
        assert!(err.is_err());
        assert_eq!(loads.load(Ordering::Relaxed), 3);
    }
}
