//! The Models tab's requests: the listing of the shipped and local manifests with the
//! presence of each file and where each feature looks for its weights ([`ListModels`]),
//! sha256 verification of one entry ([`VerifyModel`]), and the import of a checkpoint
//! folder, validated before anything is copied ([`ImportWeights`]).

use std::path::{Path, PathBuf};

use super::output::JobOutput;
pub use super::results::{FeatureTab, FeatureWeights, ManifestRow, ModelListing};
use super::worker::JobContext;
use crate::error::{Error, Result};
use crate::manifest::{sha256_file, FileState, Manifest, ModelEntry};
use crate::progress::Progress;

/// List the manifests of the models folder `root`.
///
/// The result is [`JobOutput::ModelListing`].
#[derive(Debug, Clone)]
pub struct ListModels {
    /// The models folder.
    pub root: PathBuf,
}

/// Check `entry`'s files (relative to `root`) against their sha256.
///
/// The result is [`JobOutput::Verified`].
#[derive(Debug, Clone)]
pub struct VerifyModel {
    /// The manifest entry.
    pub entry: ModelEntry,
    /// The folder its paths are relative to.
    pub root: PathBuf,
}

/// Validate the checkpoint folder `src` and import it as `name` into the models folder
/// `root` (created if needed).
///
/// The result is [`JobOutput::Imported`].
#[derive(Debug, Clone)]
pub struct ImportWeights {
    /// The checkpoint folder.
    pub src: PathBuf,
    /// The name to import it as.
    pub name: String,
    /// The models folder to import into.
    pub root: PathBuf,
    /// For a SEVLM release folder: the epoch to import (`None`: the highest).
    pub epoch: Option<u64>,
}

pub(crate) fn run_list(req: ListModels, _ctx: &JobContext) -> Result<JobOutput> {
    Ok(JobOutput::ModelListing(Box::new(list(&req.root)?)))
}

pub(crate) fn run_verify(req: VerifyModel, ctx: &JobContext) -> Result<JobOutput> {
    Ok(JobOutput::Verified(verify(&req.entry, &req.root, ctx)?))
}

pub(crate) fn run_import(req: ImportWeights, ctx: &JobContext) -> Result<JobOutput> {
    ctx.progress(0.0, format!("validating {}", req.src.display()));
    std::fs::create_dir_all(&req.root).map_err(|e| Error::io(&req.root, e))?;
    let e = crate::models::registry::import_with(
        &req.src,
        &req.name,
        req.epoch,
        &req.root,
        ctx.device(),
        ctx,
    )?;
    Ok(JobOutput::Imported(Box::new(e)))
}

/// Reads the manifests under `root` (and the user's models folder) and checks which files
/// and feature folders exist.
pub fn list(root: &Path) -> Result<ModelListing> {
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let shipped = Manifest::load(&root.join("MODELS.toml"))?;
    let mut manifests = vec![(shipped, false, root.to_path_buf())];
    // Imports: the user's models folder, and `models/LOCAL.toml` from older imports or
    // `--overwrite-shipped`.
    let user = crate::user_models_dir();
    for dir in [Some(root.to_path_buf()), user].into_iter().flatten() {
        let local = dir.join("LOCAL.toml");
        if local.is_file() {
            match Manifest::load(&local) {
                Ok(m) => manifests.push((m, true, dir)),
                Err(e) => warnings.push(e.to_string()),
            }
        }
    }
    for (m, is_local, dir) in manifests {
        for entry in m.models {
            let present = entry
                .files
                .iter()
                .filter(|f| dir.join(&f.path).is_file())
                .count();
            rows.push(ManifestRow {
                entry,
                root: dir.clone(),
                local: is_local,
                present,
            });
        }
    }
    // Each feature looks in the user's models folder first, then in the shipped one.
    let rel = |d: &str| format!("{{<data>/models, models}}/{d}");
    let features = vec![
        FeatureWeights {
            what: "Emotion and explanation (SEVLM)",
            tab: Some(FeatureTab::Painting),
            looks_in: ["sevlm", "demo/sevlm"].iter().map(|d| rel(d)).collect(),
            found: crate::sevlm::locate(root),
        },
        FeatureWeights {
            what: "Emotion masks (EmoSEM)",
            tab: Some(FeatureTab::Painting),
            // As `emosem::analyze::default_model` on main: real weights, then the demo kit.
            looks_in: ["emosem", "demo/emosem"].iter().map(|d| rel(d)).collect(),
            found: crate::emosem::analyze::default_model(root),
        },
        FeatureWeights {
            what: "Embedding map, zero-shot, search (PACL)",
            tab: Some(FeatureTab::Map),
            looks_in: crate::pacl::PACL_DIRS.iter().map(|d| rel(d)).collect(),
            found: crate::pacl::locate(root),
        },
        FeatureWeights {
            what: "PACL text tower, EA features (MiniLM)",
            tab: Some(FeatureTab::Map),
            looks_in: vec![rel("all-MiniLM-L6-v2")],
            found: Some(root.join("all-MiniLM-L6-v2")).filter(|d| {
                d.join("config.json").is_file() && d.join("model.safetensors").is_file()
            }),
        },
        FeatureWeights {
            what: "SEVLM image features (CLIP ViT-B/16)",
            tab: None,
            looks_in: vec!["<sevlm folder>/clip".into(), rel("clip-vit-base-patch16")],
            found: crate::sevlm::locate(root)
                .map(|d| d.join("clip"))
                .into_iter()
                .chain([root.join("clip-vit-base-patch16")])
                .find(|d| d.join("config.json").is_file()),
        },
        FeatureWeights {
            what: "EA metric classifier (artemo eval)",
            tab: None,
            looks_in: vec![rel("ea-minilm")],
            found: Some(root.join("ea-minilm")).filter(|d| d.join("config.json").is_file()),
        },
    ];
    Ok(ModelListing {
        root: root.to_path_buf(),
        rows,
        features,
        warnings,
    })
}

/// Checks every file of `entry` (relative to `root`) against its sha256, with progress by
/// bytes.
pub fn verify(
    entry: &ModelEntry,
    root: &Path,
    progress: &dyn Progress,
) -> Result<Vec<(PathBuf, FileState)>> {
    let total: u64 = entry.files.iter().map(|f| f.bytes).sum::<u64>().max(1);
    let mut done = 0u64;
    let mut out = Vec::with_capacity(entry.files.len());
    for f in &entry.files {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        progress.report(done as f32 / total as f32, &format!("hashing {}", f.path));
        let p = root.join(&f.path);
        let state = if !p.is_file() {
            FileState::Missing
        } else {
            let h = sha256_file(&p)?;
            if h == f.sha256.to_lowercase() {
                FileState::Ok
            } else {
                FileState::Mismatch(h)
            }
        };
        done += f.bytes;
        out.push((p, state));
    }
    progress.report(1.0, "verified");
    Ok(out)
}
