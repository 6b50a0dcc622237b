//! Which architecture a checkpoint folder holds, validation of its keys and shapes by
//! building the model from it, and import into the models folder with a local manifest
//! (`LOCAL.toml`, same schema as the shipped `MODELS.toml`). PyTorch checkpoints
//! (`pytorch_model.bin`, `*.pth`, `*.pt`, `*.tar`) are converted natively to
//! `model.safetensors` on the way ([`super::torch_import`]); a SEVLM reference release
//! (`nle_model_<e>/` + `ckpt_stats_<e>.tar`) becomes an Artemo SEVLM model folder
//! ([`crate::sevlm::checkpoint::import_release`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;

use super::loading::checkpoint_files;
use super::torch_import::{convert_to_safetensors, is_torch_file, read_state_dict};
use crate::error::{read_text, write_atomic, Error, Result};
use crate::manifest::{sha256_file, Manifest, ModelEntry, ModelFile};
use crate::progress::{Progress, Scaled, Silent};

/// The architectures Artemo can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Architecture {
    /// GPT-2 / distilgpt2 (`GPT2LMHeadModel`).
    Gpt2,
    /// BERT-family sentence encoder (all-MiniLM-L6-v2 and kin).
    Bert,
    /// CLIP (vision and text towers).
    Clip,
    /// Segment Anything (HF or FAIR layout, ViT or TinyViT encoder).
    Sam,
}

impl Architecture {
    /// What the architecture enables in Artemo.
    pub fn enables(self) -> &'static [&'static str] {
        match self {
            Architecture::Gpt2 => &["SEVLM decoder", "EmoSEM explainer"],
            Architecture::Bert => &[
                "text embeddings",
                "PACL text tower",
                "EA classifier features",
                "free-text search",
            ],
            Architecture::Clip => &[
                "SEVLM image features",
                "PACL factual partition",
                "CLIPScore",
                "zero-shot prompts",
            ],
            Architecture::Sam => &["EmoSEM image encoder and mask decoder"],
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Gpt2 => "gpt2",
            Architecture::Bert => "bert",
            Architecture::Clip => "clip",
            Architecture::Sam => "sam",
        }
    }
}

/// Reads `config.json`'s `model_type`, or looks at tensor names when there is no config
/// (original SAM checkpoints).
pub fn detect(dir: &Path) -> Result<Architecture> {
    let cfg = dir.join("config.json");
    if cfg.is_file() {
        let text = read_text(&cfg)?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::at(&cfg, format!("line {}", e.line()), e.to_string()))?;
        let mt = v.get("model_type").and_then(|m| m.as_str()).unwrap_or("");
        return match mt {
            "gpt2" => Ok(Architecture::Gpt2),
            "bert" => Ok(Architecture::Bert),
            "clip" | "clip_vision_model" | "clip_text_model" => Ok(Architecture::Clip),
            "sam" => Ok(Architecture::Sam),
            other => Err(Error::at(
                &cfg,
                "field `model_type`",
                format!("`{other}` is not an architecture Artemo loads (gpt2, bert, clip, sam)"),
            )),
        };
    }
    let files = checkpoint_files(dir)?;
    for f in &files {
        let bytes = crate::error::read_file(f)?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::parse(f, None, format!("not a safetensors file: {e}")))?;
        if st
            .names()
            .iter()
            .any(|n| n.starts_with("image_encoder.") || n.starts_with("mask_decoder."))
        {
            return Ok(Architecture::Sam);
        }
    }
    Err(Error::io(
        dir.join("config.json"),
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no config.json, and the tensor names match no known architecture",
        ),
    ))
}

/// Builds the model from the folder, which checks every key and shape.
pub fn validate(dir: &Path, arch: Architecture, device: &Device) -> Result<()> {
    match arch {
        Architecture::Gpt2 => super::gpt2::Gpt2::load(dir, None, device).map(|_| ()),
        Architecture::Bert => super::bert::Bert::load(dir, device).map(|_| ()),
        Architecture::Clip => {
            super::clip_vision::ClipVision::load(dir, device)?;
            super::clip_text::ClipText::load(dir, device).map(|_| ())
        }
        Architecture::Sam => validate_sam(dir, device),
    }
}

/// SAM in the original FAIR layout (ViT `image_encoder.blocks.*` or MobileSAM's TinyViT
/// `image_encoder.layers.*`) or the HF layout, built through [`super::sam::Sam::load`].
fn validate_sam(dir: &Path, device: &Device) -> Result<()> {
    // Both layouts: Hugging Face (with config.json, converted to FAIR names) and FAIR /
    // MobileSAM (sizes read from the tensor shapes).
    super::sam::Sam::load(dir, device).map(|_| ())
}

/// Which of Artemo's models a model folder holds, read from its `config.json` keys:
/// `"emosem"` (`paradigm` + `image`), `"sevlm"` (`name` + `decoder`), `"pacl"` (`tower` +
/// `text_model`), or a Hugging Face `model_type` (`"gpt2"`, `"clip"`...). `None` when the
/// folder has no readable `config.json`.
pub fn folder_kind(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let has = |k: &str| v.get(k).is_some();
    if has("paradigm") && has("image") {
        Some("emosem".into())
    } else if has("decoder") && has("name") {
        Some("sevlm".into())
    } else if has("tower") && has("text_model") {
        Some("pacl".into())
    } else {
        v.get("model_type")
            .and_then(|m| m.as_str())
            .map(|m| m.to_string())
    }
}

/// Refuses a model folder that holds another model than `expected` (`"sevlm"`,
/// `"emosem"`...), saying which it holds; `what` names the option (`--weights`).
pub fn expect_kind(dir: &Path, expected: &str, what: &str) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{what}: no such model folder"),
            ),
        ));
    }
    match folder_kind(dir) {
        Some(k) if k != expected => {
            let show = |k: &str| match k {
                "emosem" => "EmoSEM".to_string(),
                "sevlm" => "SEVLM".to_string(),
                "pacl" => "PACL".to_string(),
                other => format!("`{other}`"),
            };
            Err(Error::Invalid(format!(
                "{what} {}: this folder holds {} weights, but {} weights are expected here",
                dir.display(),
                show(&k),
                show(expected)
            )))
        }
        _ => Ok(()),
    }
}

/// Refuses checkpoints whose tensors are not floating point (f16, bf16, f32, f64) or hold
/// NaN or infinite values, naming the file and the tensor.
pub fn check_values(dir: &Path) -> Result<()> {
    check_values_names(dir).map(|_| ())
}

/// Where a safetensors file that does not parse goes wrong, naming the tensor when its
/// header is readable: a tensor whose bytes lie past the end (a truncated download).
fn diagnose_safetensors(f: &Path, bytes: &[u8], e: impl std::fmt::Display) -> Error {
    let parsed = (|| {
        let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
        let header = bytes.get(8..8usize.checked_add(n)?)?;
        let v: serde_json::Value = serde_json::from_slice(header).ok()?;
        let data = bytes.len() - 8 - n;
        let mut worst: Option<(String, u64)> = None;
        for (name, t) in v.as_object()? {
            if name == "__metadata__" {
                continue;
            }
            let end = t["data_offsets"][1].as_u64()?;
            if end > data as u64 && worst.as_ref().is_none_or(|(_, w)| end > *w) {
                worst = Some((name.clone(), end));
            }
        }
        worst.map(|(name, end)| (name, end, data))
    })();
    match parsed {
        Some((name, end, data)) => Error::at(
            f,
            format!("tensor `{name}`"),
            format!(
                "its data ends at byte {end} but the file holds only {data} data bytes: the file is truncated ({e})"
            ),
        ),
        None => Error::parse(f, None, format!("not a safetensors file: {e}")),
    }
}

/// [`check_values`], returning every tensor name of the checkpoint.
fn check_values_names(dir: &Path) -> Result<BTreeSet<String>> {
    use safetensors::Dtype;
    let mut all = BTreeSet::new();
    for f in checkpoint_files(dir)? {
        let bytes = crate::error::read_file(&f)?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| diagnose_safetensors(&f, &bytes, e))?;
        let mut names = st.names();
        names.sort();
        for name in names {
            all.insert(name.to_string());
            let t = st
                .tensor(name)
                .map_err(|e| Error::at(&f, format!("tensor `{name}`"), e.to_string()))?;
            let data = t.data();
            let bad = match t.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()),
                Dtype::F64 => data.chunks_exact(8).position(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    !f64::from_le_bytes(b).is_finite()
                }),
                // Exponent bits all ones: infinite or NaN.
                Dtype::F16 => data
                    .chunks_exact(2)
                    .position(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7C00 == 0x7C00),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .position(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7F80 == 0x7F80),
                other => {
                    let what = format!("{other:?} values: weights must be floating point");
                    return Err(Error::at(&f, format!("tensor `{name}`"), what));
                }
            };
            if let Some(i) = bad {
                return Err(Error::at(
                    &f,
                    format!("tensor `{name}`"),
                    format!("value {i} is NaN or infinite"),
                ));
            }
        }
    }
    Ok(all)
}

/// A validated import: its manifest entry and the checkpoint tensors the model does not
/// use (copied, but worth a word: often the wrong checkpoint or an extra head).
#[derive(Debug, Clone)]
pub struct Imported {
    /// What was recorded in `LOCAL.toml`.
    pub entry: ModelEntry,
    /// Tensors present in the checkpoint that building the model did not ask for.
    pub unused: Vec<String>,
}

/// Validates `src` and copies it to `models/<name>/`, recording it in `models/LOCAL.toml`.
/// Nothing is copied when validation fails; an existing `<name>` is refused.
pub fn import(src: &Path, name: &str, models: &Path, device: &Device) -> Result<Imported> {
    import_with(src, name, None, models, device, &Silent)
}

fn check_name(name: &str, models: &Path) -> Result<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::Invalid(format!(
            "`{name}` is not a valid model name (no slashes, not hidden)"
        )));
    }
    let dest = models.join(name);
    if dest.exists() {
        return Err(Error::Invalid(format!(
            "{} already exists; choose another name",
            dest.display()
        )));
    }
    Ok(dest)
}

/// The PyTorch checkpoint to convert when `src` has no safetensors: `src` itself (a
/// `torch.save` file), or in a folder `pytorch_model.bin`, else its only `*.pth` / `*.pt` /
/// `*.tar` / `*.ckpt`.
fn torch_source(src: &Path) -> Result<Option<PathBuf>> {
    if src.is_file() {
        return Ok(is_torch_file(src).then(|| src.to_path_buf()));
    }
    if !src.is_dir() || checkpoint_files(src).is_ok() {
        return Ok(None);
    }
    let bin = src.join("pytorch_model.bin");
    if bin.is_file() {
        return Ok(Some(bin));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(src)
        .map_err(|e| Error::io(src, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_torch_file(p))
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::Invalid(format!(
            "{}: several PyTorch checkpoints ({}); import one file",
            src.display(),
            found
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A temporary folder inside `models` removed when dropped (a failed import leaves
/// nothing behind).
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn staging(models: &Path, name: &str) -> Result<Staging> {
    let dir = models.join(format!(".import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(Staging(dir))
}

/// [`import`] with progress and cancellation. `src` may be a checkpoint folder
/// (safetensors, or a PyTorch `pytorch_model.bin` / `*.pth` converted natively), a single
/// PyTorch file (the FAIR SAM / MobileSAM `.pth`), or a SEVLM reference release folder
/// (`epoch`: which `nle_model_<e>/`, default the highest).
pub fn import_with(
    src: &Path,
    name: &str,
    epoch: Option<u64>,
    models: &Path,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Imported> {
    check_name(name, models)?;
    if src.is_dir() && crate::sevlm::checkpoint::is_release(src) {
        return import_sevlm_release(src, epoch, name, models, device, progress);
    }
    let Some(torch) = torch_source(src)? else {
        return import_folder(
            src,
            &src.display().to_string(),
            name,
            models,
            device,
            Vec::new(),
        );
    };
    std::fs::create_dir_all(models).map_err(|e| Error::io(models, e))?;
    let stage = staging(models, name)?;
    // The folder's configuration and tokenizer files travel with the weights.
    if src.is_dir() {
        copy_side_files(src, &stage.0)?;
    }
    progress.report(0.0, &format!("reading {}", torch.display()));
    let sd = read_state_dict(&torch, None, &Device::Cpu, &Scaled::new(progress, 0.0, 0.7))?;
    let conv = convert_to_safetensors(sd, &stage.0.join("model.safetensors"))?;
    progress.report(0.8, "validating");
    let dropped = conv
        .dropped
        .into_iter()
        .map(|(n, why)| format!("{n} (not converted: {why})"))
        .collect();
    import_folder(
        &stage.0,
        &torch.display().to_string(),
        name,
        models,
        device,
        dropped,
    )
}

fn copy_side_files(src: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
        let p = e.map_err(|e| Error::io(src, e))?.path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if p.is_file() && matches!(ext, "json" | "txt" | "model" | "md") {
            if let Some(f) = p.file_name() {
                std::fs::copy(&p, to.join(f)).map_err(|e| Error::io(to.join(f), e))?;
            }
        }
    }
    Ok(())
}

/// Validates the folder `src` (safetensors) and installs it as `name`; `source` is what
/// the manifest records as its origin, `dropped` entries of a conversion to report.
fn import_folder(
    src: &Path,
    source: &str,
    name: &str,
    models: &Path,
    device: &Device,
    dropped: Vec<String>,
) -> Result<Imported> {
    let dest = check_name(name, models)?;
    let arch = detect(src)?;
    let names = check_values_names(src)?;
    let (built, used) = crate::models::loading::record_used(|| validate(src, arch, device));
    built?;
    let mut unused: Vec<String> = names.difference(&used).cloned().collect();
    unused.extend(dropped);
    let mut files: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
        let p = e.map_err(|e| Error::io(src, e))?.path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if p.is_file() && matches!(ext, "json" | "safetensors" | "txt" | "model" | "md") {
            files.push(p);
        }
    }
    files.sort();
    std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
    for f in &files {
        let Some(fname) = f.file_name() else { continue };
        let to = dest.join(fname);
        let tmp = dest.join(format!(".{}.part", fname.to_string_lossy()));
        std::fs::copy(f, &tmp).map_err(|e| Error::io(&to, e))?;
        std::fs::rename(&tmp, &to).map_err(|e| Error::io(&to, e))?;
    }
    let entry = record(
        models,
        name,
        format!("{} checkpoint imported from {source}", arch.name()),
        source,
        arch.enables(),
    )?;
    Ok(Imported { entry, unused })
}

/// Hashes the files of `models/<name>/` and records them in `models/LOCAL.toml`.
fn record(
    models: &Path,
    name: &str,
    description: String,
    source: &str,
    enables: &[&str],
) -> Result<ModelEntry> {
    let dest = models.join(name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dest)
        .map_err(|e| Error::io(&dest, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut entry_files = Vec::new();
    for to in &paths {
        let Some(fname) = to.file_name() else {
            continue;
        };
        let bytes = std::fs::metadata(to).map_err(|e| Error::io(to, e))?.len();
        entry_files.push(ModelFile {
            path: format!("{name}/{}", fname.to_string_lossy()),
            sha256: sha256_file(to)?,
            bytes,
        });
    }
    let entry = ModelEntry {
        name: name.to_string(),
        description,
        licence: "as supplied by the user (see the checkpoint's model card)".into(),
        source: source.to_string(),
        enables: enables.iter().map(|s| s.to_string()).collect(),
        files: entry_files,
    };
    let local = models.join("LOCAL.toml");
    let mut manifest = if local.is_file() {
        Manifest::load(&local)?
    } else {
        Manifest { models: Vec::new() }
    };
    manifest.models.retain(|m| m.name != name);
    manifest.models.push(entry.clone());
    let text = toml::to_string_pretty(&manifest)
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", local.display())))?;
    write_atomic(&local, text.as_bytes())?;
    Ok(entry)
}

/// Imports a SEVLM reference release (`nle_model_<epoch>/`, `ckpt_stats_<epoch>.tar`,
/// `nle_gpt2_tokenizer_0/`) natively as the Artemo SEVLM model folder `models/<name>/`
/// (name it `sevlm` and the app uses it: [`crate::sevlm::locate`]).
pub fn import_sevlm_release(
    release: &Path,
    epoch: Option<u64>,
    name: &str,
    models: &Path,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Imported> {
    let dest = check_name(name, models)?;
    std::fs::create_dir_all(models).map_err(|e| Error::io(models, e))?;
    let stage = staging(models, name)?;
    let r = crate::sevlm::checkpoint::import_release(release, epoch, &stage.0, device, progress)?;
    std::fs::rename(&stage.0, &dest).map_err(|e| Error::io(&dest, e))?;
    let entry = record(
        models,
        name,
        format!(
            "SEVLM reference release, epoch {} ({}), imported natively{}",
            r.epoch,
            r.sources
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                .collect::<Vec<_>>()
                .join(" + "),
            if r.tokenizer.is_some() {
                "; tokenizer ids checked"
            } else {
                ""
            }
        ),
        &release.display().to_string(),
        &["SEVLM analysis (emotion and explanation)"],
    )?;
    Ok(Imported {
        entry,
        unused: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> PathBuf {
        crate::models::tests::parity_dir(p)
    }

    #[test]
    fn model_folders_say_what_they_hold() {
        let models = crate::find_models().unwrap();
        assert_eq!(
            folder_kind(&models.join("demo/emosem")).as_deref(),
            Some("emosem")
        );
        assert_eq!(
            folder_kind(&models.join("demo/sevlm")).as_deref(),
            Some("sevlm")
        );
        assert_eq!(
            folder_kind(&models.join("demo/pacl")).as_deref(),
            Some("pacl")
        );
        let e = expect_kind(&models.join("demo/emosem"), "sevlm", "--weights")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds EmoSEM weights") && e.contains("SEVLM weights are expected"),
            "{e}"
        );
        assert!(expect_kind(&models.join("demo/sevlm"), "sevlm", "--weights").is_ok());
    }

    #[test]
    fn detects_architectures() {
        assert_eq!(detect(&fixture("gpt2/cross")).unwrap(), Architecture::Gpt2);
        assert_eq!(detect(&fixture("bert/tiny")).unwrap(), Architecture::Bert);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
        let e = detect(d.path()).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("llama"), "{e}");
    }

    #[test]
    fn import_refuses_integer_and_non_finite_tensors_naming_them() {
        let models = tempfile::tempdir().unwrap();
        let orig =
            candle_core::safetensors::load(fixture("bert/tiny/model.safetensors"), &Device::Cpu)
                .unwrap();
        let victim = "encoder.layer.0.attention.self.query.weight";
        for (case, expect) in [("int", "I64"), ("nan", "NaN")] {
            let bad = tempfile::tempdir().unwrap();
            std::fs::copy(
                fixture("bert/tiny/config.json"),
                bad.path().join("config.json"),
            )
            .unwrap();
            let mut w = orig.clone();
            let t = &w[victim];
            let t = if case == "int" {
                t.to_dtype(candle_core::DType::I64).unwrap()
            } else {
                (t.clone() * f64::NAN).unwrap()
            };
            w.insert(victim.to_string(), t);
            candle_core::safetensors::save(&w, bad.path().join("model.safetensors")).unwrap();
            let err = import(bad.path(), case, models.path(), &Device::Cpu)
                .unwrap_err()
                .to_string();
            assert!(err.contains(victim) && err.contains(expect), "{err}");
            assert!(!models.path().join(case).exists());
        }
    }

    #[test]
    fn extra_tensors_are_reported_and_a_truncated_file_names_its_tensor() {
        use candle_core::Tensor;
        // The parity GPT-2 plus one tensor no GPT-2 has.
        let src = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("gpt2/cross/config.json"),
            src.path().join("config.json"),
        )
        .unwrap();
        let mut t =
            candle_core::safetensors::load(fixture("gpt2/cross/model.safetensors"), &Device::Cpu)
                .unwrap();
        t.insert(
            "classifier.extra.weight".into(),
            Tensor::zeros((2, 2), candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&t, src.path().join("model.safetensors")).unwrap();
        let models = tempfile::tempdir().unwrap();
        let imp = import(src.path(), "extra", models.path(), &Device::Cpu).unwrap();
        assert_eq!(imp.unused, ["classifier.extra.weight"]);

        // Cut the file: the error names a tensor whose bytes are missing.
        let bytes = std::fs::read(src.path().join("model.safetensors")).unwrap();
        std::fs::write(
            src.path().join("model.safetensors"),
            &bytes[..bytes.len() - 64],
        )
        .unwrap();
        let err = import(src.path(), "cut", models.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tensor `") && err.contains("truncated"),
            "{err}"
        );
        assert!(!models.path().join("cut").exists());
    }

    #[test]
    fn import_validates_then_copies_and_records() {
        let models = tempfile::tempdir().unwrap();
        let e = import(
            &fixture("gpt2/cross"),
            "my-gpt2",
            models.path(),
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(e.entry.files.len(), 2);
        // Every tensor of the parity checkpoint is used by the model.
        assert!(e.unused.is_empty(), "{:?}", e.unused);
        assert!(models.path().join("my-gpt2/model.safetensors").is_file());
        let m = Manifest::load(&models.path().join("LOCAL.toml")).unwrap();
        let entry = m.get("my-gpt2").unwrap();
        for (_, s) in Manifest::verify(entry, models.path()).unwrap() {
            assert_eq!(s, crate::manifest::FileState::Ok);
        }
        assert!(import(
            &fixture("gpt2/cross"),
            "my-gpt2",
            models.path(),
            &Device::Cpu
        )
        .is_err());
        // A broken checkpoint is refused before anything is copied.
        let bad = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("bert/tiny/config.json"),
            bad.path().join("config.json"),
        )
        .unwrap();
        let mut w =
            candle_core::safetensors::load(fixture("bert/tiny/model.safetensors"), &Device::Cpu)
                .unwrap();
        w.retain(|k, _| !k.contains("encoder.layer.0.attention.self.query.weight"));
        candle_core::safetensors::save(&w, bad.path().join("model.safetensors")).unwrap();
        let err = import(bad.path(), "broken", models.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("encoder.layer.0.attention.self.query.weight"),
            "{err}"
        );
        assert!(!models.path().join("broken").exists());
        assert!(import(&fixture("bert/tiny"), "../x", models.path(), &Device::Cpu).is_err());
    }

    #[test]
    fn pytorch_checkpoints_are_converted_natively_then_validated() {
        use crate::models::torch_import::read_state_dict;
        use crate::progress::Silent;
        // An HF folder that ships only pytorch_model.bin (tools/parity/torch_checkpoints.py).
        let models = tempfile::tempdir().unwrap();
        let src = fixture("torch/gpt2_bin");
        let imp = import(&src, "tiny-gpt2", models.path(), &Device::Cpu).unwrap();
        let dest = models.path().join("tiny-gpt2");
        assert!(dest.join("model.safetensors").is_file() && dest.join("config.json").is_file());
        assert!(!dest.join("pytorch_model.bin").exists());
        // The bool causal-mask buffer (a known buffer) is left out silently; every
        // converted tensor is used.
        assert!(imp.unused.is_empty(), "{:?}", imp.unused);
        // The f16 tensor stays f16 in the written file (loaders convert, as for safetensors).
        let st =
            candle_core::safetensors::load(dest.join("model.safetensors"), &Device::Cpu).unwrap();
        assert_eq!(
            st["transformer.h.0.mlp.c_fc.weight"].dtype(),
            candle_core::DType::F16
        );
        // The converted model builds and equals the pickle's tensors.
        let sd = read_state_dict(&src.join("pytorch_model.bin"), None, &Device::Cpu, &Silent)
            .unwrap()
            .into_f32_map()
            .unwrap();
        let wte = st["transformer.wte.weight"].clone();
        assert_eq!(
            crate::models::tests::max_diff(&wte, &sd["transformer.wte.weight"]),
            0.0
        );
        super::super::gpt2::Gpt2::load(&dest, None, &Device::Cpu).unwrap();
        // No staging folder is left behind.
        let left: Vec<_> = std::fs::read_dir(models.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".import"))
            .collect();
        assert!(left.is_empty());

        // A lone MobileSAM .pth (FAIR layout, no config) is detected as SAM.
        let imp = import(
            &fixture("torch/mobilesam.pth"),
            "mobile",
            models.path(),
            &Device::Cpu,
        )
        .unwrap();
        assert!(imp.entry.enables.iter().any(|e| e.contains("EmoSEM")));
        assert!(models.path().join("mobile/model.safetensors").is_file());

        // The legacy format is refused before anything is written.
        let e = import(
            &fixture("torch/legacy.pt"),
            "old",
            models.path(),
            &Device::Cpu,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("legacy PyTorch format"), "{e}");
        assert!(!models.path().join("old").exists());
    }

    #[test]
    fn a_sevlm_release_is_detected_and_installed_as_an_artemo_folder() {
        let models = tempfile::tempdir().unwrap();
        let imp = import(
            &crate::models::tests::parity_dir("sevlm_release/release"),
            "sevlm",
            models.path(),
            &Device::Cpu,
        )
        .unwrap();
        assert!(
            imp.entry.description.contains("epoch 0"),
            "{}",
            imp.entry.description
        );
        let dir = models.path().join("sevlm");
        assert_eq!(folder_kind(&dir).as_deref(), Some("sevlm"));
        assert_eq!(
            crate::sevlm::locate(models.path()).as_deref(),
            Some(dir.as_path())
        );
        let m = Manifest::load(&models.path().join("LOCAL.toml")).unwrap();
        for (_, s) in Manifest::verify(m.get("sevlm").unwrap(), models.path()).unwrap() {
            assert_eq!(s, crate::manifest::FileState::Ok);
        }
    }
}
