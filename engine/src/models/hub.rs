//! Downloading weights on request (`artemo models download NAME|REPO|URL`, the Models
//! tab's download form): the known names and where their weights live, the Hugging Face
//! hub's file listing (`/api/models/REPO/revision/REV?blobs=true`, which gives each LFS
//! file's sha256), the files fetched into `<data>/downloads/` with resume, progress,
//! cancellation and sha256 checks ([`super::download`]), then the ordinary import
//! (validation by building the model, copy into `<data>/models/NAME/`, `LOCAL.toml`) with
//! the download's source, revision and hashes recorded. Nothing here runs unless the user
//! asks; the endpoint is `--endpoint`, else `HF_ENDPOINT`, else `https://huggingface.co`.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;

use super::download::{self, Client, FetchedFile, Remote, Share};
use super::registry::{self, Imported};
use crate::error::{write_atomic, Error, Result};
use crate::manifest::Manifest;
use crate::progress::{Progress, Scaled};

/// The hub used when neither `--endpoint` nor `HF_ENDPOINT` names another.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Which files of a hub repository are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Selection {
    /// A checkpoint: the top-level JSON/text/tokenizer files and the safetensors weights
    /// (single or sharded); only when there are none, the PyTorch weights (`*.bin`, `*.pt`,
    /// `*.pth`). Other frameworks' copies (TF, Flax, ONNX...) are skipped.
    Checkpoint,
    /// Every file of the repository (a release laid out by its authors).
    All,
}

/// Where a known model's weights are fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KnownSource {
    /// A Hugging Face hub repository.
    Hub {
        /// `owner/name`.
        repo: &'static str,
        /// Which of its files.
        files: Selection,
    },
    /// One file at a URL that is not a hub repository.
    Url(&'static str),
}

/// A model `artemo models download` knows by name.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KnownModel {
    /// The name on the command line.
    pub name: &'static str,
    /// What it is.
    pub what: &'static str,
    /// Where its weights are.
    pub source: KnownSource,
    /// The folder under `<data>/models/` it is installed as (where the features look).
    pub install_as: &'static str,
    /// The weights' licence, as their model card states it.
    pub licence: &'static str,
    /// What to know before downloading (format, upstream location).
    pub note: &'static str,
}

/// The known names. Repositories are their upstream locations as of 2024-25; any other
/// `owner/name` repository or `http(s)://` URL is accepted as well.
pub const KNOWN: &[KnownModel] = &[
    KnownModel {
        name: "clip-b16",
        what: "CLIP ViT-B/16 (SEVLM's image encoder)",
        source: KnownSource::Hub {
            repo: "openai/clip-vit-base-patch16",
            files: Selection::Checkpoint,
        },
        install_as: "clip-vit-base-patch16",
        licence: "MIT (OpenAI CLIP)",
        note: "HF repository; ~600 MB of safetensors",
    },
    KnownModel {
        name: "clip-b32",
        what: "CLIP ViT-B/32 (CLIPScore)",
        source: KnownSource::Hub {
            repo: "openai/clip-vit-base-patch32",
            files: Selection::Checkpoint,
        },
        install_as: "clip-vit-base-patch32",
        licence: "MIT (OpenAI CLIP)",
        note: "HF repository; ~600 MB of safetensors",
    },
    KnownModel {
        name: "distilgpt2",
        what: "distilgpt2 (SEVLM decoder, EmoSEM explainer)",
        source: KnownSource::Hub {
            repo: "distilbert/distilgpt2",
            files: Selection::Checkpoint,
        },
        install_as: "distilgpt2",
        licence: "Apache-2.0",
        note: "HF repository (the hub redirects the old id `distilgpt2` here); ~350 MB",
    },
    KnownModel {
        name: "sam-vit-b",
        what: "SAM ViT-B (EmoSEM image encoder and mask decoder, paper configuration)",
        source: KnownSource::Hub {
            repo: "facebook/sam-vit-base",
            files: Selection::Checkpoint,
        },
        install_as: "sam-vit-base",
        licence: "Apache-2.0",
        note: "HF repository (HF layout); ~375 MB",
    },
    KnownModel {
        name: "mobilesam",
        what: "MobileSAM (TinyViT SAM encoder, EmoSEM's light configuration)",
        source: KnownSource::Url(
            "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
        ),
        install_as: "mobilesam",
        licence: "Apache-2.0",
        note: "NOT a HF repository: upstream is the GitHub repository ChaoningZhang/MobileSAM \
               (weights/mobile_sam.pt, a PyTorch file, ~40 MB); GitHub advertises no sha256, so \
               the hash is recorded but not checked; a mirror may be given as REPO or URL",
    },
    KnownModel {
        name: "sevlm-release",
        what: "the SEVLM authors' release (BetterZH/SEVLM-code)",
        source: KnownSource::Hub {
            repo: "jing5566/SEVLM",
            files: Selection::All,
        },
        install_as: "sevlm-release",
        licence: "none stated by the authors (ask them before redistributing)",
        note: "HF repository named by the code's README; its layout (PyTorch checkpoints) is \
               not known here, so every file is fetched; it installs only when the import \
               understands its layout, otherwise the files stay in <data>/downloads/",
    },
];

/// The known model called `name` (or whose repository is `name`).
pub fn known(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|k| {
        k.name == name
            || k.install_as == name
            || matches!(k.source, KnownSource::Hub { repo, .. } if repo == name)
    })
}

/// A download request: a known name, an `owner/name` hub repository or an `http(s)://`
/// URL of one file.
#[derive(Debug, Clone, Default)]
pub struct DownloadRequest {
    /// What to download.
    pub what: String,
    /// The name to install it as (default: the known name's folder, or the repository's
    /// name, or the URL file's stem).
    pub name: Option<String>,
    /// The hub (`--endpoint`); `None`: `HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    /// Branch, tag or commit (default `main`).
    pub revision: Option<String>,
}

/// The hub endpoint: `explicit`, else `$HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`], without a
/// trailing slash.
pub fn endpoint(explicit: Option<&str>) -> String {
    let env = std::env::var("HF_ENDPOINT").ok();
    explicit
        .map(str::to_string)
        .or(env)
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string()
}

/// What a request resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A hub repository.
    Hub {
        /// `owner/name` (or a bare legacy id such as `gpt2`).
        repo: String,
        /// Which files.
        files: Selection,
    },
    /// One file.
    Url(String),
}

/// A resolved request: the source, the install name and the licence to record.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Where the files come from.
    pub source: Source,
    /// The folder name under `<data>/models/`.
    pub name: String,
    /// The licence recorded in `LOCAL.toml`.
    pub licence: String,
}

/// Resolves `req.what`: a URL, a known name, or a repository id.
pub fn resolve(req: &DownloadRequest) -> Result<Resolved> {
    let what = req.what.trim();
    let (source, default_name, licence) = if what.starts_with("http://")
        || what.starts_with("https://")
    {
        let file = what
            .split(['?', '#'])
            .next()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or("");
        if file.is_empty() {
            return Err(Error::Invalid(format!(
                "{what}: the URL names no file (it must end in the file's name)"
            )));
        }
        let stem = file.split('.').next().unwrap_or(file).to_string();
        (
            Source::Url(what.to_string()),
            stem,
            "as stated by the source (see where it came from)".to_string(),
        )
    } else if let Some(k) = known(what) {
        let source = match k.source {
            KnownSource::Hub { repo, files } => Source::Hub {
                repo: repo.to_string(),
                files,
            },
            KnownSource::Url(u) => Source::Url(u.to_string()),
        };
        (source, k.install_as.to_string(), k.licence.to_string())
    } else {
        let valid = !what.is_empty()
            && what.split('/').count() <= 2
            && what.split('/').all(|p| {
                !p.is_empty()
                    && !p.starts_with('.')
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            });
        if !valid {
            let names: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
            return Err(Error::Invalid(format!(
                "`{what}` is neither a known name ({}), a hub repository `owner/name` nor an http(s) URL",
                names.join(", ")
            )));
        }
        let name = what.rsplit('/').next().unwrap_or(what).to_string();
        (
            Source::Hub {
                repo: what.to_string(),
                files: Selection::Checkpoint,
            },
            name,
            "see the repository's model card".to_string(),
        )
    };
    let name = req.name.clone().unwrap_or(default_name);
    check_name(&name)?;
    Ok(Resolved {
        source,
        name,
        licence,
    })
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::Invalid(format!(
            "`{name}` is not a valid model name (no slashes, not hidden)"
        )));
    }
    Ok(())
}

/// One file of a download plan.
#[derive(Debug, Clone)]
struct Planned {
    /// Path inside the repository (and inside the download folder).
    rel: String,
    remote: Remote,
}

/// The files to fetch and where they come from.
#[derive(Debug, Clone)]
struct Plan {
    files: Vec<Planned>,
    /// Where they come from, for the record (`https://huggingface.co/owner/name`, a URL).
    origin: String,
    /// The commit the hub resolved the revision to.
    commit: Option<String>,
}

/// Whether a repository file is fetched under `sel` (`has_safetensors`: the repository has
/// safetensors weights, so PyTorch copies are skipped).
fn wanted(rel: &str, sel: Selection, has_safetensors: bool) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    if base.starts_with('.') {
        return false;
    }
    if sel == Selection::All {
        return true;
    }
    if rel.contains('/') {
        return false;
    }
    let ext = base.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "json" | "txt" | "model" | "md" => true,
        "safetensors" => true,
        "bin" | "pt" | "pth" => !has_safetensors,
        _ => false,
    }
}

/// `rel` with the characters URLs cannot hold percent-encoded (slashes kept).
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lists the repository's files through the hub API and picks those to fetch.
fn plan_hub(
    client: &Client,
    endpoint: &str,
    repo: &str,
    revision: &str,
    sel: Selection,
) -> Result<Plan> {
    let api = format!(
        "{endpoint}/api/models/{repo}/revision/{}?blobs=true",
        encode_path(revision)
    );
    let v = client.get_json(&api)?;
    let siblings = v
        .get("siblings")
        .and_then(|s| s.as_array())
        .ok_or_else(|| Error::Invalid(format!("{api}: the answer has no `siblings` list")))?;
    let commit = v.get("sha").and_then(|s| s.as_str()).map(str::to_string);
    let files: Vec<(&str, &serde_json::Value)> = siblings
        .iter()
        .filter_map(|s| s.get("rfilename").and_then(|f| f.as_str()).map(|f| (f, s)))
        .collect();
    let has_safetensors = files
        .iter()
        .any(|(f, _)| !f.contains('/') && f.ends_with(".safetensors"));
    let rev_in_url = commit.clone().unwrap_or_else(|| revision.to_string());
    let mut planned = Vec::new();
    for (rel, s) in files {
        if !wanted(rel, sel, has_safetensors) {
            continue;
        }
        let lfs = s.get("lfs");
        let sha256 = lfs
            .and_then(|l| l.get("sha256"))
            .and_then(|h| h.as_str())
            .map(str::to_ascii_lowercase);
        let size = lfs
            .and_then(|l| l.get("size"))
            .or_else(|| s.get("size"))
            .and_then(|n| n.as_u64());
        planned.push(Planned {
            rel: rel.to_string(),
            remote: Remote {
                url: format!(
                    "{endpoint}/{repo}/resolve/{}/{}",
                    encode_path(&rev_in_url),
                    encode_path(rel)
                ),
                sha256,
                size,
            },
        });
    }
    let has_weights = planned.iter().any(|p| {
        [".safetensors", ".bin", ".pt", ".pth", ".tar"]
            .iter()
            .any(|e| p.rel.ends_with(e))
    });
    if !has_weights {
        return Err(Error::Invalid(format!(
            "{endpoint}/{repo}: the repository has no weights Artemo reads (safetensors or PyTorch files)"
        )));
    }
    Ok(Plan {
        files: planned,
        origin: format!("{endpoint}/{repo}"),
        commit,
    })
}

/// What a download fetched, before it is imported.
#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    /// The download folder (`<data>/downloads/<owner>--<name>/`).
    pub dir: PathBuf,
    /// Where the files came from.
    pub origin: String,
    /// The hub commit, when the source is a hub repository.
    pub commit: Option<String>,
    /// Every file with its sha256 and whether the server advertised (and matched) one.
    pub files: Vec<FetchedFile>,
}

/// The record written beside the weights (`DOWNLOAD.json`, copied into the model folder
/// and listed in `LOCAL.toml` with the other files).
pub const RECORD: &str = "DOWNLOAD.json";

/// Fetches the files of `resolved` into `<data_dir>/downloads/<...>/` (resuming `.part`
/// files, skipping complete files whose hash is still right), with byte progress. The
/// files are not imported here.
pub fn fetch(
    resolved: &Resolved,
    req: &DownloadRequest,
    data_dir: &Path,
    progress: &dyn Progress,
) -> Result<Fetched> {
    let endpoint = endpoint(req.endpoint.as_deref());
    let client = Client::for_endpoint(match &resolved.source {
        Source::Url(u) => u,
        Source::Hub { .. } => &endpoint,
    });
    let revision = req.revision.clone().unwrap_or_else(|| "main".to_string());
    progress.report(0.0, "asking the hub for the file list");
    let (plan, folder) = match &resolved.source {
        Source::Hub { repo, files } => (
            plan_hub(&client, &endpoint, repo, &revision, *files)?,
            repo.replace('/', "--"),
        ),
        Source::Url(url) => {
            let file = url
                .split(['?', '#'])
                .next()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("download")
                .to_string();
            (
                Plan {
                    files: vec![Planned {
                        rel: file,
                        remote: Remote {
                            url: url.clone(),
                            sha256: None,
                            size: None,
                        },
                    }],
                    origin: url.clone(),
                    commit: None,
                },
                format!("url--{}", resolved.name),
            )
        }
    };
    let dir = data_dir.join("downloads").join(folder);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let total: u64 = plan.files.iter().filter_map(|f| f.remote.size).sum();
    let mut done = 0u64;
    let mut files = Vec::new();
    for p in &plan.files {
        let dest = dir.join(&p.rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let f = match already_there(&dest, &p.remote)? {
            Some(f) => f,
            None => download::fetch(&client, &p.remote, &dest, Share { done, total }, progress)?,
        };
        done += f.bytes;
        files.push(f);
    }
    let fetched = Fetched {
        dir,
        origin: plan.origin,
        commit: plan.commit,
        files,
    };
    let record = serde_json::to_string_pretty(&fetched)
        .map_err(|e| Error::Invalid(format!("{RECORD}: {e}")))?;
    write_atomic(&fetched.dir.join(RECORD), record.as_bytes())?;
    Ok(fetched)
}

/// A complete file from an earlier run, kept when its sha256 (or, without one, its size)
/// is still what the hub lists.
fn already_there(dest: &Path, remote: &Remote) -> Result<Option<FetchedFile>> {
    let Ok(meta) = std::fs::metadata(dest) else {
        return Ok(None);
    };
    if remote.sha256.is_none() && remote.size.is_none() {
        return Ok(None);
    }
    if remote.size.is_some_and(|s| s != meta.len()) {
        return Ok(None);
    }
    let sha = crate::manifest::sha256_file(dest)?;
    if remote.sha256.as_ref().is_some_and(|w| *w != sha) {
        return Ok(None);
    }
    Ok(Some(FetchedFile {
        path: dest.to_path_buf(),
        bytes: meta.len(),
        sha256: sha,
        advertised_sha256: remote.sha256.clone(),
        resumed_from: meta.len(),
    }))
}

/// Imports a fetched download as `resolved.name` into `models` (validation by building,
/// copy, `LOCAL.toml`), records its origin, revision, licence and the hub-checked hashes
/// in the entry, and removes the download folder. When the import refuses the files they
/// stay in the download folder and the error says where.
pub fn install(
    fetched: &Fetched,
    resolved: &Resolved,
    models: &Path,
    device: &Device,
) -> Result<Imported> {
    std::fs::create_dir_all(models).map_err(|e| Error::io(models, e))?;
    let mut imported =
        registry::import(&fetched.dir, &resolved.name, models, device).map_err(|e| {
            Error::Invalid(format!(
                "downloaded into {}, but the import refused it: {e}",
                fetched.dir.display()
            ))
        })?;
    // The import hashed its copies: they must be the bytes that were downloaded.
    for f in &fetched.files {
        let Some(fname) = f.path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let rel = format!("{}/{fname}", resolved.name);
        if let Some(rec) = imported.entry.files.iter().find(|m| m.path == rel) {
            if rec.sha256 != f.sha256 {
                return Err(Error::Invalid(format!(
                    "{}: sha256 {} after the copy, {} when downloaded",
                    models.join(&rel).display(),
                    rec.sha256,
                    f.sha256
                )));
            }
        }
    }
    let checked = fetched
        .files
        .iter()
        .filter(|f| f.advertised_sha256.is_some())
        .count();
    let entry = &mut imported.entry;
    entry.source = match &fetched.commit {
        Some(c) => format!("{} (revision {c}), downloaded by Artemo", fetched.origin),
        None => format!("{}, downloaded by Artemo", fetched.origin),
    };
    entry.licence = resolved.licence.clone();
    entry.description = format!(
        "{} downloaded from {}; sha256 of {checked} of {} file(s) checked against the server's, all recorded in {RECORD}",
        entry.description.split(" checkpoint").next().unwrap_or("model"),
        fetched.origin,
        fetched.files.len()
    );
    let local = models.join("LOCAL.toml");
    let mut manifest = Manifest::load(&local)?;
    for m in manifest.models.iter_mut().filter(|m| m.name == entry.name) {
        *m = entry.clone();
    }
    let text = toml::to_string_pretty(&manifest)
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", local.display())))?;
    write_atomic(&local, text.as_bytes())?;
    // The copies are in the model folder; the download folder is no longer needed.
    let _ = std::fs::remove_dir_all(&fetched.dir);
    Ok(imported)
}

/// The whole download: resolve, refuse an existing model folder before any byte moves,
/// fetch into `<data_dir>/downloads/` (90 % of the progress), import into
/// `<data_dir>/models/` (the rest).
pub fn download_and_import(
    req: &DownloadRequest,
    data_dir: &Path,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Imported> {
    let resolved = resolve(req)?;
    let models = data_dir.join("models");
    if crate::is_shipped(&models) {
        return Err(Error::Invalid(format!(
            "{}: downloads never go into the shipped models folder",
            models.display()
        )));
    }
    let dest = models.join(&resolved.name);
    if dest.exists() {
        return Err(Error::Invalid(format!(
            "{} already exists; choose another name (--as NAME) or remove it",
            dest.display()
        )));
    }
    let fetched = fetch(&resolved, req, data_dir, &Scaled::new(progress, 0.0, 0.9))?;
    progress.report(0.9, &format!("validating {}", resolved.name));
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    install(&fetched, &resolved, &models, device)
}

#[cfg(test)]
mod tests;
