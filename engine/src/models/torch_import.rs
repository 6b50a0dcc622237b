//! PyTorch checkpoints read without Python and without executing code: `torch.save` zip
//! archives (`pytorch_model.bin`, `*.pth`, `*.pt`, `*.tar`; PyTorch >= 1.6 writes this
//! format by default) are parsed with candle's pickle reader, which interprets the
//! pickle opcodes into plain values and never imports or calls anything. The tensors of
//! a state dict (the whole file, or one entry of a checkpoint dictionary such as
//! `ckpt_stats_<e>.tar`'s `emo_encoder_state_dict`) are read from the archive's storage
//! records; everything else in the file (optimizer state, scheduler, numbers) is only
//! walked over by the opcode reader.
//!
//! The legacy format (`torch.save(..., _use_new_zipfile_serialization=False)`, PyTorch
//! before 1.6) is recognised by its magic number and refused with a message saying how
//! to re-save it.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{DType, Device, Tensor};

use crate::error::{write_atomic, Error, Result};
use crate::progress::Progress;

/// The file names `torch.save` checkpoints come under (by extension).
pub const TORCH_EXTENSIONS: &[&str] = &["bin", "pth", "pt", "tar", "ckpt"];

/// The legacy (non-zip) `torch.save` format starts with a protocol-2 pickle of this
/// magic number (`torch/serialization.py`, `MAGIC_NUMBER = 0x1950a86a20f9469cfc6c`).
const LEGACY_MAGIC: [u8; 14] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// Keys under which checkpoint dictionaries commonly keep their state dict, tried when
/// the top level holds no tensor and exactly one of them holds tensors.
const STATE_DICT_KEYS: &[&str] = &["state_dict", "model_state_dict", "model", "module"];

/// The tensors of one state dict, in the file's order, with what was left out.
#[derive(Debug)]
pub struct StateDict {
    /// The file read.
    pub path: PathBuf,
    /// The dictionary entry read (`None`: the file's top-level dictionary).
    pub key: Option<String>,
    /// Tensor name and tensor, in their stored dtype.
    pub tensors: Vec<(String, Tensor)>,
    /// Entries that are not read as tensors, with the reason (a non-tensor value, an
    /// unsupported storage type such as `BoolStorage`).
    pub skipped: Vec<(String, String)>,
}

impl StateDict {
    /// The tensors as a map, converted to f32 where they are f16, bf16 or f64 (as
    /// [`crate::models::loading::Weights::load`] does for safetensors).
    pub fn into_f32_map(self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (name, t) in self.tensors {
            let t = match t.dtype() {
                DType::F16 | DType::BF16 | DType::F64 => t.to_dtype(DType::F32).map_err(|e| {
                    Error::at(&self.path, format!("tensor `{name}`"), e.to_string())
                })?,
                _ => t,
            };
            out.insert(name, t);
        }
        Ok(out)
    }
}

/// True when `path` names a file `torch.save` writes (by extension).
pub fn is_torch_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| TORCH_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Checks the first bytes: a zip archive passes; the legacy format, safetensors and
/// anything else are refused with a message naming the file.
fn check_format(path: &Path) -> Result<()> {
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut n = 0;
            while n < head.len() {
                let k = f.read(&mut head[n..])?;
                if k == 0 {
                    break;
                }
                n += k;
            }
            Ok(n)
        })
        .map_err(|e| Error::io(path, e))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        return Ok(());
    }
    if head.starts_with(&LEGACY_MAGIC) {
        return Err(Error::parse(
            path,
            None,
            "legacy PyTorch format (torch.save with _use_new_zipfile_serialization=False, or PyTorch < 1.6): \
             Artemo reads only the zip format. Re-save it once in Python: \
             torch.save(torch.load(path, weights_only=True), path) (PyTorch >= 1.6)",
        ));
    }
    if n >= 8 && head.get(8) == Some(&b'{') {
        return Err(Error::parse(
            path,
            None,
            "this is a safetensors file, not a PyTorch pickle: name it *.safetensors",
        ));
    }
    Err(Error::parse(
        path,
        None,
        "not a PyTorch checkpoint (torch.save zip archive): the file does not start with a zip header",
    ))
}

/// Opens the archive and parses its `data.pkl` into pickle objects (no code runs).
/// Returns the archive, the record folder (`archive/data` style prefix) and the object.
fn open(path: &Path) -> Result<(zip::ZipArchive<BufReader<std::fs::File>>, PathBuf, Object)> {
    check_format(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::parse(path, None, format!("not a readable zip archive: {e}")))?;
    let pkl = zip
        .file_names()
        .filter_map(|f| f.ok().map(|f| f.into_owned()))
        .find(|f| f.ends_with("data.pkl"))
        .ok_or_else(|| {
            Error::parse(
                path,
                None,
                "a zip archive without data.pkl: not a torch.save checkpoint",
            )
        })?;
    let dir = PathBuf::from(pkl.strip_suffix(".pkl").unwrap_or(&pkl));
    let obj = {
        let entry = zip
            .by_name(&pkl)
            .map_err(|e| Error::at(path, pkl.clone(), e.to_string()))?;
        let mut reader = BufReader::new(entry);
        let mut stack = Stack::empty();
        stack
            .read_loop(&mut reader)
            .map_err(|e| Error::at(path, pkl.clone(), format!("pickle not understood: {e}")))?;
        stack
            .finalize()
            .map_err(|e| Error::at(path, pkl.clone(), format!("empty pickle: {e}")))?
    };
    // TorchScript archives wrap the state in a `__torch__.Module` object.
    let obj = match obj {
        Object::Build { callable, args } => match *callable {
            Object::Reduce { callable, .. }
                if matches!(&*callable, Object::Class { module_name, class_name }
                    if module_name == "__torch__" && class_name == "Module") =>
            {
                *args
            }
            other => Object::Build {
                callable: Box::new(other),
                args,
            },
        },
        obj => obj,
    };
    Ok((zip, dir, obj))
}

fn dict_entries(obj: Object) -> Option<Vec<(Object, Object)>> {
    match obj {
        Object::Dict(d) => Some(d),
        _ => None,
    }
}

fn key_name(k: &Object) -> String {
    match k {
        Object::Unicode(s) => s.clone(),
        Object::Int(i) => i.to_string(),
        Object::Long(i) => i.to_string(),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}

/// True when the value pickles a tensor (`torch._utils._rebuild_tensor_v2` and its
/// parameter / subclass wrappers).
fn is_tensor(v: &Object) -> bool {
    match v {
        Object::Reduce { callable, .. } => matches!(&**callable, Object::Class { module_name, .. }
            if module_name == "torch._utils" || module_name == "torch._tensor"),
        _ => false,
    }
}

/// The storage classes candle's reader turns into tensors.
const SUPPORTED_STORAGE: &[&str] = &[
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "ByteStorage",
    "LongStorage",
];

/// The storage class of a pickled tensor (`('storage', <class>, key, device, size)`, the
/// first persistent id inside it).
fn storage_class(v: &Object) -> Option<String> {
    match v {
        Object::PersistentLoad(id) => match &**id {
            Object::Tuple(t) => match t.get(1) {
                Some(Object::Class { class_name, .. }) => Some(class_name.clone()),
                _ => None,
            },
            _ => None,
        },
        Object::Reduce { callable, args } | Object::Build { callable, args } => {
            storage_class(callable).or_else(|| storage_class(args))
        }
        Object::Tuple(items) | Object::List(items) => items.iter().find_map(storage_class),
        _ => None,
    }
}

fn holds_tensors(v: &Object) -> bool {
    matches!(v, Object::Dict(d) if d.iter().any(|(_, x)| is_tensor(x)))
}

/// The top-level keys, for messages.
fn describe_keys(entries: &[(Object, Object)]) -> String {
    let keys: Vec<String> = entries.iter().map(|(k, _)| key_name(k)).take(12).collect();
    let more = entries.len().saturating_sub(keys.len());
    format!(
        "{}{}",
        keys.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Reads the state dict of a `torch.save` file: the top-level dictionary, or its entry
/// `key` (a checkpoint dictionary like `{'epoch': .., 'emo_encoder_state_dict': {..}}`).
/// Without `key`, a file whose top level holds no tensor but exactly one of the usual
/// state-dict entries (`state_dict`, `model_state_dict`, `model`, `module`) reads that
/// entry. Errors name the file and, where one is concerned, the tensor.
pub fn read_state_dict(
    path: &Path,
    key: Option<&str>,
    device: &Device,
    progress: &dyn Progress,
) -> Result<StateDict> {
    let (mut zip, dir, obj) = open(path)?;
    let entries = dict_entries(obj).ok_or_else(|| {
        Error::parse(
            path,
            None,
            "the pickled object is not a dictionary (a whole pickled model?): Artemo reads state dicts only",
        )
    })?;
    let (chosen_key, entries) = match key {
        Some(k) => {
            let listing = describe_keys(&entries);
            let value = entries
                .into_iter()
                .find(|(name, _)| matches!(name, Object::Unicode(s) if s == k))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    Error::at(
                        path,
                        format!("key `{k}`"),
                        format!("not in this checkpoint (its keys: {listing})"),
                    )
                })?;
            let d = dict_entries(value).ok_or_else(|| {
                Error::at(path, format!("key `{k}`"), "is not a dictionary of tensors")
            })?;
            (Some(k.to_string()), d)
        }
        None => {
            if entries.iter().any(|(_, v)| is_tensor(v)) {
                (None, entries)
            } else {
                let candidates: Vec<usize> = entries
                    .iter()
                    .enumerate()
                    .filter(|(_, (k, v))| {
                        matches!(k, Object::Unicode(s) if STATE_DICT_KEYS.contains(&s.as_str()))
                            && holds_tensors(v)
                    })
                    .map(|(i, _)| i)
                    .collect();
                if candidates.len() != 1 {
                    return Err(Error::parse(
                        path,
                        None,
                        format!(
                            "no tensors at the top level: a checkpoint dictionary with keys {}; name the entry that holds the state dict",
                            describe_keys(&entries)
                        ),
                    ));
                }
                let (k, v) = entries
                    .into_iter()
                    .nth(candidates[0])
                    .ok_or_else(|| Error::Invalid("state-dict entry vanished".into()))?;
                let d = dict_entries(v).unwrap_or_default();
                (Some(key_name(&k)), d)
            }
        }
    };
    let mut infos: Vec<TensorInfo> = Vec::new();
    let mut skipped = Vec::new();
    for (name, value) in entries {
        let shown = key_name(&name);
        if shown == "_metadata" {
            // The state dict's own attribute (module versions), merged in by BUILD.
            continue;
        }
        if !is_tensor(&value) {
            skipped.push((shown, "not a tensor".to_string()));
            continue;
        }
        // Storage types candle does not read are skipped here (candle's own error would
        // capture a backtrace, which is slow when RUST_BACKTRACE is set).
        if let Some(class) = storage_class(&value) {
            if !SUPPORTED_STORAGE.contains(&class.as_str()) {
                skipped.push((shown, format!("unsupported storage type {class}")));
                continue;
            }
        }
        match value.into_tensor_info(name, &dir) {
            Ok(Some(info)) => infos.push(info),
            Ok(None) => skipped.push((shown, "not a tensor".to_string())),
            // candle's message, without the backtrace it may carry.
            Err(e) => skipped.push((
                shown,
                e.to_string().lines().next().unwrap_or_default().to_string(),
            )),
        }
    }
    let total = infos.len().max(1);
    let mut tensors = Vec::with_capacity(infos.len());
    for (i, info) in infos.into_iter().enumerate() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let t = read_tensor(&mut zip, path, &info, device)?;
        tensors.push((info.name, t));
        progress.report((i + 1) as f32 / total as f32, "reading tensors");
    }
    Ok(StateDict {
        path: path.to_path_buf(),
        key: chosen_key,
        tensors,
        skipped,
    })
}

/// Reads one tensor's bytes from its storage record (contiguous or Fortran-ordered
/// layouts, with a storage offset), checking that the record is long enough.
fn read_tensor(
    zip: &mut zip::ZipArchive<BufReader<std::fs::File>>,
    path: &Path,
    info: &TensorInfo,
    device: &Device,
) -> Result<Tensor> {
    let at = || format!("tensor `{}`", info.name);
    let layout = &info.layout;
    let fortran = layout.is_fortran_contiguous();
    if !layout.is_contiguous() && !fortran {
        return Err(Error::at(
            path,
            at(),
            format!(
                "strided storage (shape {:?}, stride {:?}) is not supported: save `.contiguous()` tensors",
                layout.dims(),
                layout.stride()
            ),
        ));
    }
    let elem = info.dtype.size_in_bytes();
    let need = layout.start_offset() + layout.shape().elem_count() * elem;
    let have = info.storage_size * elem;
    if need > have {
        return Err(Error::at(
            path,
            at(),
            format!("needs {need} bytes of its storage, which holds {have}"),
        ));
    }
    let mut entry = zip.by_name(&info.path).map_err(|e| {
        Error::at(
            path,
            at(),
            format!("storage record `{}` missing: {e}", info.path),
        )
    })?;
    if (entry.size() as usize) < need {
        return Err(Error::at(
            path,
            at(),
            format!(
                "storage record `{}` holds {} bytes, {need} needed: the file is truncated",
                info.path,
                entry.size()
            ),
        ));
    }
    let mut bytes = vec![0u8; need];
    entry
        .read_exact(&mut bytes)
        .map_err(|e| Error::at(path, at(), format!("reading its storage: {e}")))?;
    let data = &bytes[layout.start_offset()..];
    let shape = layout.shape().clone();
    let t = if fortran && shape.rank() > 1 {
        let rev: Vec<usize> = layout.dims().iter().rev().copied().collect();
        let perm: Vec<usize> = (0..shape.rank()).rev().collect();
        Tensor::from_raw_buffer(data, info.dtype, &rev, &Device::Cpu)
            .and_then(|t| t.permute(perm))
            .and_then(|t| t.contiguous())
    } else {
        Tensor::from_raw_buffer(data, info.dtype, shape.dims(), &Device::Cpu)
    }
    .map_err(|e| Error::at(path, at(), e.to_string()))?;
    Ok(t.to_device(device)?)
}

/// The names of the entries of a checkpoint file's top-level dictionary (to show what a
/// file holds).
pub fn top_level_keys(path: &Path) -> Result<Vec<String>> {
    let (_, _, obj) = open(path)?;
    let entries = dict_entries(obj)
        .ok_or_else(|| Error::parse(path, None, "the pickled object is not a dictionary"))?;
    Ok(entries.iter().map(|(k, _)| key_name(k)).collect())
}

/// Buffers that `torch.save`d models carry and Artemo's loaders do not use: GPT-2's
/// causal-mask buffers (`*.attn.bias` of rank 4, `*.attn.masked_bias` a scalar; `t`
/// `None`: a tensor the reader skipped, judged by its name), position-id buffers and
/// batch-norm step counters (`num_batches_tracked`).
pub fn is_known_buffer(name: &str, t: Option<&Tensor>) -> bool {
    let rank = t.map(|t| t.rank());
    let gpt2_mask = (name.ends_with(".attn.bias") && rank.is_none_or(|r| r == 4))
        || (name.ends_with(".attn.masked_bias") && rank.is_none_or(|r| r == 0));
    gpt2_mask || name.ends_with("position_ids") || name.ends_with("num_batches_tracked")
}

/// What [`convert_to_safetensors`] wrote and left out.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// Tensors written.
    pub written: usize,
    /// Known buffers left out ([`is_known_buffer`]).
    pub buffers: usize,
    /// Other entries not written, with the reason.
    pub dropped: Vec<(String, String)>,
}

/// Writes the floating-point tensors of a state dict to a safetensors file atomically,
/// in their stored dtype (f32, f16, bf16, f64). Known buffers ([`is_known_buffer`]) and
/// non-floating-point tensors are dropped and reported; tied tensors are written once per
/// name (the safetensors format has no sharing).
pub fn convert_to_safetensors(sd: StateDict, out: &Path) -> Result<Converted> {
    let mut conv = Converted::default();
    for (name, why) in sd.skipped {
        if is_known_buffer(&name, None) {
            conv.buffers += 1;
        } else {
            conv.dropped.push((name, why));
        }
    }
    let mut kept: BTreeMap<String, Tensor> = BTreeMap::new();
    for (name, t) in sd.tensors {
        if is_known_buffer(&name, Some(&t)) {
            conv.buffers += 1;
            continue;
        }
        if !t.dtype().is_float() {
            conv.dropped
                .push((name, format!("{:?} values, not floating point", t.dtype())));
            continue;
        }
        kept.insert(name, t);
    }
    if kept.is_empty() {
        return Err(Error::parse(
            &sd.path,
            sd.key.as_ref().map(|k| format!("key `{k}`")),
            "no floating-point tensors to convert",
        ));
    }
    conv.written = kept.len();
    let bytes = safetensors::serialize(kept.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(|e| Error::at(out, "serialisation", e.to_string()))?;
    write_atomic(out, &bytes)?;
    Ok(conv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn fixture(p: &str) -> PathBuf {
        crate::models::tests::parity_dir(p)
    }

    #[test]
    fn reads_a_gpt2_bin_with_f16_and_drops_buffers() {
        // tools/parity/torch_checkpoints.py: a tiny GPT-2 state dict in HF keys, one
        // tensor stored as f16, the causal-mask buffers as torch writes them.
        let path = fixture("torch/gpt2_bin/pytorch_model.bin");
        let sd = read_state_dict(&path, None, &Device::Cpu, &Silent).unwrap();
        let names: Vec<&str> = sd.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"transformer.wte.weight"), "{names:?}");
        let f16 = sd
            .tensors
            .iter()
            .find(|(n, _)| n == "transformer.h.0.mlp.c_fc.weight")
            .unwrap();
        assert_eq!(f16.1.dtype(), DType::F16);
        // The bool causal mask is skipped with its reason; `_metadata` is not an entry.
        assert!(
            sd.skipped
                .iter()
                .any(|(n, why)| n == "transformer.h.0.attn.bias" && why.contains("BoolStorage")),
            "{:?}",
            sd.skipped
        );
        assert!(sd.skipped.iter().all(|(n, _)| n != "_metadata"));
        // Same values as the safetensors written beside it by torch (the reference).
        let reference = candle_core::safetensors::load(
            fixture("torch/gpt2_reference.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let map = sd.into_f32_map().unwrap();
        for (name, want) in &reference {
            let got = &map[name];
            let want = want.to_dtype(DType::F32).unwrap();
            assert_eq!(got.dims(), want.dims(), "{name}");
            let d = crate::models::tests::max_diff(got, &want);
            assert_eq!(d, 0.0, "{name}");
        }
    }

    #[test]
    fn legacy_and_foreign_files_are_refused_clearly() {
        let legacy = fixture("torch/legacy.pt");
        let e = read_state_dict(&legacy, None, &Device::Cpu, &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("legacy.pt") && e.contains("legacy PyTorch format"),
            "{e}"
        );
        let d = tempfile::tempdir().unwrap();
        let junk = d.path().join("x.pth");
        std::fs::write(&junk, b"hello world, not a checkpoint").unwrap();
        let e = read_state_dict(&junk, None, &Device::Cpu, &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.pth") && e.contains("not a PyTorch checkpoint"),
            "{e}"
        );
    }

    #[test]
    fn a_nested_entry_is_read_alone_and_a_missing_one_lists_the_keys() {
        // ckpt_stats_<e>.tar of the tiny release: artEmisX_train.py:92-98 (save_checkpoint)
        let path = fixture("sevlm_release/release/ckpt_stats_0.tar");
        let keys = top_level_keys(&path).unwrap();
        assert!(keys.iter().any(|k| k == "optimizer_state_dict"), "{keys:?}");
        let sd =
            read_state_dict(&path, Some("emo_encoder_state_dict"), &Device::Cpu, &Silent).unwrap();
        assert!(sd.tensors.iter().all(|(n, _)| !n.contains("exp_avg")));
        assert!(sd.tensors.iter().any(|(n, _)| n == "pos_encoder.weight"));
        let e = read_state_dict(&path, Some("nope"), &Device::Cpu, &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`nope`") && e.contains("emo_encoder_state_dict"),
            "{e}"
        );
        // Without a key, the top level holds no tensors and no usual state-dict key.
        let e = read_state_dict(&path, None, &Device::Cpu, &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no tensors at the top level"), "{e}");
    }

    #[test]
    fn a_truncated_archive_names_the_file() {
        let bytes = std::fs::read(fixture("torch/gpt2_bin/pytorch_model.bin")).unwrap();
        let d = tempfile::tempdir().unwrap();
        let cut = d.path().join("cut.bin");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_state_dict(&cut, None, &Device::Cpu, &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut.bin"), "{e}");
    }

    #[test]
    fn loaders_read_a_bin_folder_directly() {
        // A folder with only pytorch_model.bin loads where loaders take a folder.
        let dir = fixture("torch/gpt2_bin");
        let w = crate::models::loading::Weights::load(&dir, &Device::Cpu).unwrap();
        assert!(w.source().ends_with("pytorch_model.bin"));
        assert_eq!(
            w.get_any("transformer.h.0.mlp.c_fc.weight")
                .unwrap()
                .dtype(),
            DType::F32
        );
        crate::models::gpt2::Gpt2::load(&dir, None, &Device::Cpu).unwrap();
    }
}
