//! `artemo models list|verify|import|download`: the manifest's models and their files,
//! sha256 verification, importing a checkpoint folder into the user's models folder
//! (validated by building the model), downloading one on request (known names, hub
//! repositories, URLs; the only command that touches the network).

use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::manifest::{FileState, Manifest};

use artemo_engine::jobs::manifests::ImportWeights;
use artemo_engine::models::hub::{self, DownloadRequest};
use artemo_engine::models::registry::Imported;
use artemo_engine::worker::{Command, Engine, EngineConfig, JobOutput, Lane};

use super::common::{check_writable, unexpected, user_data};

/// The `models` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ModelsCmd {
    /// The models of `models/MODELS.toml` and whether their files are present.
    List,
    /// Check every file's sha256 against `models/MODELS.toml` (and `LOCAL.toml`).
    Verify,
    /// Validate a checkpoint (keys and shapes) and install it into `models/NAME/` of the
    /// user's data folder. PyTorch pickles (`pytorch_model.bin`, `*.pth`, `*.pt`, `*.tar`)
    /// are read natively (no Python, no code executed) and written as `model.safetensors`.
    Import {
        /// A folder with `config.json` and safetensors or `pytorch_model.bin` (HF layout),
        /// a SAM / MobileSAM `.pth`, or a SEVLM release folder.
        #[arg(required_unless_present = "sevlm_release")]
        dir: Option<std::path::PathBuf>,
        /// The name to install it under (default for a SEVLM release: `sevlm`, the name
        /// the app looks for).
        #[arg(long = "as")]
        name: Option<String>,
        /// A SEVLM reference release (BetterZH/SEVLM-code): `nle_model_<E>/`,
        /// `ckpt_stats_<E>.tar`, `nle_gpt2_tokenizer_0/`.
        #[arg(long, conflicts_with = "dir")]
        sevlm_release: Option<std::path::PathBuf>,
        /// Which epoch of the release (default: the highest).
        #[arg(long)]
        epoch: Option<u64>,
    },
    /// Download weights (the only command that touches the network) into
    /// `<data>/downloads/`, resumable (`*.part`), sha256-checked against the hub, then
    /// validated and installed into `<data>/models/NAME/` like `import`. Without WHAT: the
    /// known names and where their weights live.
    Download {
        /// A known name (`clip-b16`, `clip-b32`, `distilgpt2`, `sam-vit-b`, `mobilesam`,
        /// `sevlm-release`), a hub repository `owner/name`, or an http(s) URL of one file.
        what: Option<String>,
        /// The name to install it under (default: where the features look for it, or the
        /// repository's name).
        #[arg(long = "as")]
        name: Option<String>,
        /// The hub or a mirror (default: `$HF_ENDPOINT`, else https://huggingface.co).
        #[arg(long)]
        endpoint: Option<String>,
        /// Branch, tag or commit of the repository (default `main`).
        #[arg(long)]
        revision: Option<String>,
    },
}

/// Runs a `models` subcommand (`engine`: the settings imports are validated with, GPU 0
/// with `--gpu` when built with CUDA;
/// `overwrite_shipped`: imports go into the shipped models folder); exit code 2 when a
/// file is missing or does not match its sha256.
pub fn run(what: &ModelsCmd, engine: &EngineConfig, overwrite_shipped: bool) -> Result<ExitCode> {
    let root = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    // Imports go to the user's models folder; the shipped one only on purpose.
    let user_models = if overwrite_shipped {
        root.clone()
    } else {
        user_data()?.join("models")
    };
    match what {
        ModelsCmd::Import {
            dir,
            name,
            sevlm_release,
            epoch,
        } => {
            let (src, release) = match (sevlm_release, dir) {
                (Some(r), _) => (r, true),
                (None, Some(d)) => (d, false),
                (None, None) => return Err(anyhow!("give a folder or file to import")),
            };
            let release = release || artemo_engine::sevlm::checkpoint::is_release(src);
            let name = match (name, release) {
                (Some(n), _) => n.clone(),
                (None, true) => "sevlm".to_string(),
                (None, false) => return Err(anyhow!("name the model with --as NAME")),
            };
            let name = &name;
            if release && !artemo_engine::sevlm::checkpoint::is_release(src) {
                return Err(anyhow!(
                    "{}: not a SEVLM release (no nle_model_<epoch>/ folder inside)",
                    src.display()
                ));
            }
            check_writable(&user_models.join(name))?;
            std::fs::create_dir_all(&user_models)
                .with_context(|| format!("{}: cannot create", user_models.display()))?;
            let imported = import_weights(engine, src, name, *epoch, &user_models)?;
            let entry = &imported.entry;
            println!(
                "imported {} ({} files) into {} (recorded in {})",
                entry.name,
                entry.files.len(),
                user_models.join(name).display(),
                user_models.join("LOCAL.toml").display()
            );
            println!("  enables: {}", entry.enables.join(", "));
            print_unused(&imported.unused);
            return Ok(ExitCode::SUCCESS);
        }
        ModelsCmd::Download {
            what,
            name,
            endpoint,
            revision,
        } => {
            let Some(what) = what else {
                print_known();
                return Ok(ExitCode::SUCCESS);
            };
            let req = DownloadRequest {
                what: what.clone(),
                name: name.clone(),
                endpoint: endpoint.clone(),
                revision: revision.clone(),
            };
            return download(req, engine);
        }
        ModelsCmd::List | ModelsCmd::Verify => {}
    }
    let mut manifests = vec![(Manifest::load(&root.join("MODELS.toml"))?, root.clone())];
    for dir in [root.clone(), user_models] {
        let local = dir.join("LOCAL.toml");
        if local.is_file() && !manifests.iter().any(|(_, r)| r.join("LOCAL.toml") == local) {
            manifests.push((Manifest::load(&local)?, dir));
        }
    }
    let mut bad = false;
    for (entry, root) in manifests
        .iter()
        .flat_map(|(m, r)| m.models.iter().map(move |e| (e, r)))
    {
        println!("{}  [{}]", entry.name, entry.licence);
        println!("  {}", entry.description);
        println!("  enables: {}", entry.enables.join(", "));
        let states = match what {
            ModelsCmd::Verify => Manifest::verify(entry, root)?,
            _ => entry
                .files
                .iter()
                .map(|f| {
                    let p = root.join(&f.path);
                    let s = if p.is_file() {
                        FileState::Ok
                    } else {
                        FileState::Missing
                    };
                    (p, s)
                })
                .collect(),
        };
        let present = states.iter().filter(|(_, s)| *s == FileState::Ok).count();
        println!(
            "  files: {present}/{} {}",
            states.len(),
            if matches!(what, ModelsCmd::Verify) {
                "verified"
            } else {
                "present"
            }
        );
        for (p, s) in states {
            match s {
                FileState::Ok => {}
                FileState::Missing => {
                    bad = true;
                    println!("  missing: {}", p.display());
                }
                FileState::Mismatch(h) => {
                    bad = true;
                    println!("  sha256 mismatch: {} (found {h})", p.display());
                }
            }
        }
    }
    Ok(if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Says which checkpoint tensors the imported model does not use, and which entries of a
/// PyTorch checkpoint were not converted (the first ten of each).
fn print_unused(unused: &[String]) {
    let (dropped, kept): (Vec<&String>, Vec<&String>) =
        unused.iter().partition(|u| u.contains("(not converted: "));
    let list = |v: &[&String]| {
        let shown: Vec<&str> = v.iter().take(10).map(|s| s.as_str()).collect();
        let more = v.len().saturating_sub(shown.len());
        format!(
            "{}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    if !kept.is_empty() {
        eprintln!(
            "warning: {} tensor(s) of the checkpoint are not used by the model (copied anyway): {}",
            kept.len(),
            list(&kept)
        );
    }
    if !dropped.is_empty() {
        eprintln!(
            "warning: {} entr(ies) of the PyTorch checkpoint were left out: {}",
            dropped.len(),
            list(&dropped)
        );
    }
}

/// Validates and imports the checkpoint folder `dir` as `name` into `models`, on an
/// engine with the command line's device.
fn import_weights(
    engine: &EngineConfig,
    dir: &std::path::Path,
    name: &str,
    epoch: Option<u64>,
    models: &std::path::Path,
) -> Result<Imported> {
    let engine = Engine::start(engine.clone())?;
    if let Some(note) = engine.device_note() {
        eprintln!("note: {note}");
    }
    let out = engine.run_blocking(
        Command::ImportWeights(ImportWeights {
            src: dir.to_path_buf(),
            name: name.to_string(),
            root: models.to_path_buf(),
            epoch,
        }),
        |_, _, _| {},
    )?;
    match out {
        JobOutput::Imported(i) => Ok(*i),
        other => Err(unexpected(&other)),
    }
}

/// The known names and where their weights live.
fn print_known() {
    println!("Known names (any hub repository `owner/name` or http(s) URL works too):");
    for k in hub::KNOWN {
        let from = match k.source {
            hub::KnownSource::Hub { repo, .. } => format!("hub repository {repo}"),
            hub::KnownSource::Url(u) => u.to_string(),
        };
        println!("  {:<14} {}", k.name, k.what);
        println!("  {:<14} from: {from}", "");
        println!("  {:<14} installs as: <data>/models/{}/", "", k.install_as);
        println!("  {:<14} licence: {}", "", k.licence);
        println!("  {:<14} note: {}", "", k.note);
    }
    println!(
        "Hub: --endpoint URL, else $HF_ENDPOINT, else {}.",
        hub::DEFAULT_ENDPOINT
    );
}

/// Downloads and installs on an engine with the command line's device (the import
/// validates by building the model), with a progress line; an interrupted download is
/// resumed by running the same command again.
fn download(req: DownloadRequest, engine: &EngineConfig) -> Result<ExitCode> {
    let data = user_data()?;
    let resolved = hub::resolve(&req)?;
    check_writable(&data.join("models").join(&resolved.name))?;
    let engine = Engine::start(engine.clone())?;
    if let Some(note) = engine.device_note() {
        eprintln!("note: {note}");
    }
    eprintln!(
        "downloading {} into {} (resumable: run the same command again after an interruption)",
        req.what,
        data.join("downloads").display()
    );
    let job_data = data.clone();
    let mut shown = crate::progress::Progress::new();
    // Byte counts change all the time: pass a change on every 2 % (or a new file).
    let mut last = (u32::MAX, String::new());
    let out = engine.run_blocking(
        Command::Run {
            name: format!("download {}", req.what),
            lane: Lane::Compute,
            job: Box::new(move |ctx| {
                hub::download_and_import(&req, &job_data, ctx.device(), ctx)
                    .map(|i| JobOutput::Imported(Box::new(i)))
            }),
        },
        |f, eta, m| {
            let step = (f * 50.0) as u32;
            let file = m.split(':').next().unwrap_or(m).to_string();
            if step != last.0 || file != last.1 {
                last = (step, file);
                shown.update(f, eta, m);
            }
        },
    )?;
    drop(shown);
    let JobOutput::Imported(imported) = out else {
        return Err(unexpected(&out));
    };
    print_unused(&imported.unused);
    let entry = &imported.entry;
    let models = data.join("models");
    println!(
        "installed {} ({} files) into {} (recorded in {})",
        entry.name,
        entry.files.len(),
        models.join(&entry.name).display(),
        models.join("LOCAL.toml").display()
    );
    println!("  source: {}", entry.source);
    println!("  {}", entry.description);
    println!("  enables: {}", entry.enables.join(", "));
    Ok(ExitCode::SUCCESS)
}
