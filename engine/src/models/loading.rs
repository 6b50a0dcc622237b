//! Checkpoint loading: a single `.safetensors` file, a folder holding `model.safetensors`,
//! or a sharded checkpoint (`model.safetensors.index.json` + shards). Tensors stored as
//! f32, f16 or bf16 are converted to f32. A missing tensor or a tensor of the wrong shape
//! is an error naming the file, the tensor, the expected and the found shape.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::error::{read_text, Error, Result};

/// All tensors of a checkpoint, in f32 on one device.
#[derive(Debug, Clone)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    source: PathBuf,
    /// The checkpoint's own name of a renamed tensor (layout conversions), so that
    /// [`record_used`] reports the names as they are in the file.
    origin: HashMap<String, String>,
}

/// What happened when a checkpoint was loaded into trainable variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Variables set from the checkpoint.
    pub loaded: Vec<String>,
    /// Variables the checkpoint lacks (left at their initial values).
    pub missing: Vec<String>,
    /// Checkpoint tensors no variable uses.
    pub unused: Vec<String>,
}

impl Weights {
    /// Loads `path`: a `.safetensors` file, a folder with `model.safetensors`, or a folder
    /// (or index file) of a sharded checkpoint.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        if let Some(torch) = torch_fallback(path) {
            // No safetensors: a PyTorch pickle read natively (super::torch_import).
            let sd = super::torch_import::read_state_dict(
                &torch,
                None,
                device,
                &crate::progress::Silent,
            )?;
            return Ok(Weights {
                tensors: sd.into_f32_map()?,
                source: torch,
                origin: HashMap::new(),
            });
        }
        let files = checkpoint_files(path)?;
        let mut tensors = HashMap::new();
        for f in &files {
            let raw = candle_core::safetensors::load(f, device).map_err(|e| {
                Error::parse(f, None, format!("not a readable safetensors file: {e}"))
            })?;
            for (name, t) in raw {
                let t = match t.dtype() {
                    DType::F32 => t,
                    DType::F16 | DType::BF16 | DType::F64 => t
                        .to_dtype(DType::F32)
                        .map_err(|e| Error::at(f, format!("tensor `{name}`"), e.to_string()))?,
                    other => {
                        // Integer buffers (e.g. position ids) are kept as they are.
                        let _ = other;
                        t
                    }
                };
                tensors.insert(name, t);
            }
        }
        // Errors name the file itself when there is one.
        let source = if files.len() == 1 {
            files[0].clone()
        } else {
            path.to_path_buf()
        };
        Ok(Weights {
            tensors,
            source,
            origin: HashMap::new(),
        })
    }

    /// Wraps tensors already in memory (tests, conversions); `source` names them in errors.
    pub fn from_tensors(tensors: HashMap<String, Tensor>, source: impl Into<PathBuf>) -> Self {
        Weights {
            tensors,
            source: source.into(),
            origin: HashMap::new(),
        }
    }

    /// The checkpoint's own name of `name` (before any [`rename`](Self::rename)).
    fn original<'a>(&'a self, name: &'a str) -> &'a str {
        self.origin.get(name).map(String::as_str).unwrap_or(name)
    }

    /// Where the tensors came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> BTreeSet<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    /// True when a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// A tensor by name, any shape.
    pub fn get_any(&self, name: &str) -> Result<&Tensor> {
        note_used(self.original(name));
        self.tensors.get(name).ok_or_else(|| {
            Error::at(
                &self.source,
                format!("tensor `{name}`"),
                "missing from the checkpoint",
            )
        })
    }

    /// A tensor by name with an exact shape.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.get_any(name)?;
        if t.dims() != shape {
            return Err(Error::at(
                &self.source,
                format!("tensor `{name}`"),
                format!("expected shape {shape:?}, found {:?}", t.dims()),
            ));
        }
        Ok(t.clone())
    }

    /// Renames tensors (checkpoint layout conversions): `f` returns the new name, or
    /// `None` to drop the tensor.
    pub fn rename(self, f: impl Fn(&str) -> Option<String>) -> Self {
        let mut origin = HashMap::new();
        let mut tensors = HashMap::new();
        for (k, v) in self.tensors {
            if let Some(n) = f(&k) {
                let first = self.origin.get(&k).cloned().unwrap_or_else(|| k.clone());
                origin.insert(n.clone(), first);
                tensors.insert(n, v);
            }
        }
        Weights {
            tensors,
            source: self.source,
            origin,
        }
    }

    /// Replaces a tensor (e.g. a transposed `Conv1D` weight).
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    /// Removes a tensor (a known buffer the model does not need: it counts as used).
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        note_used(self.original(name));
        self.tensors.remove(name)
    }

    /// A read-only `VarBuilder` over these tensors (inference). A tensor the model asks
    /// for and the checkpoint lacks, or has in another shape, is an error naming the file,
    /// the tensor and the expected (and found) shape.
    pub fn var_builder(&self, device: &Device) -> VarBuilder<'static> {
        let backend = CheckedTensors {
            tensors: self.tensors.clone(),
            source: self.source.clone(),
            origin: self.origin.clone(),
        };
        VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone())
    }

    /// Copies checkpoint tensors into the variables of `varmap` by name, tensor by tensor
    /// (a partial checkpoint leaves the other variables as initialised). A tensor whose
    /// shape differs from its variable is an error naming both shapes.
    pub fn load_into(&self, varmap: &VarMap) -> Result<LoadReport> {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
        let mut report = LoadReport::default();
        let mut used = BTreeSet::new();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            match self.tensors.get(name) {
                Some(t) => {
                    if t.dims() != var.dims() {
                        return Err(Error::at(
                            &self.source,
                            format!("tensor `{name}`"),
                            format!("expected shape {:?}, found {:?}", var.dims(), t.dims()),
                        ));
                    }
                    var.set(t)?;
                    used.insert(name.as_str());
                    report.loaded.push(name.clone());
                }
                None => report.missing.push(name.clone()),
            }
        }
        let mut unused: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !used.contains(k.as_str()))
            .cloned()
            .collect();
        unused.sort();
        report.unused = unused;
        Ok(report)
    }
}

thread_local! {
    /// Tensor names fetched through [`Weights::var_builder`] on this thread while
    /// [`record_used`] runs.
    static USED: std::cell::RefCell<Option<BTreeSet<String>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (which builds models from checkpoints on this thread) and returns its result
/// with the names of every checkpoint tensor the models asked for: a checkpoint's other
/// tensors are unused (`models import` reports them).
pub fn record_used<R>(f: impl FnOnce() -> R) -> (R, BTreeSet<String>) {
    USED.with(|u| *u.borrow_mut() = Some(BTreeSet::new()));
    let r = f();
    let used = USED.with(|u| u.borrow_mut().take()).unwrap_or_default();
    (r, used)
}

fn note_used(name: &str) {
    USED.with(|u| {
        if let Some(set) = u.borrow_mut().as_mut() {
            set.insert(name.to_string());
        }
    });
}

/// A `VarBuilder` backend over loaded tensors whose errors name the file and both shapes.
struct CheckedTensors {
    tensors: HashMap<String, Tensor>,
    source: PathBuf,
    origin: HashMap<String, String>,
}

impl candle_nn::var_builder::SimpleBackend for CheckedTensors {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if !self.tensors.contains_key(name) {
            return Err(candle_core::Error::Msg(format!(
                "{} (tensor `{name}`): missing from the checkpoint, expected shape {:?}",
                self.source.display(),
                s.dims()
            )));
        }
        let t = self.get_unchecked(name, dtype, dev)?;
        if t.shape() != &s {
            return Err(candle_core::Error::Msg(format!(
                "{} (tensor `{name}`): expected shape {:?}, found {:?}",
                self.source.display(),
                s.dims(),
                t.dims()
            )));
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        match self.tensors.get(name) {
            Some(t) => {
                note_used(self.origin.get(name).map(String::as_str).unwrap_or(name));
                t.to_dtype(dtype)?.to_device(dev)
            }
            None => Err(candle_core::Error::Msg(format!(
                "{} (tensor `{name}`): missing from the checkpoint",
                self.source.display()
            ))),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// The PyTorch file to read when `path` has no safetensors: `path` itself (a `.bin`,
/// `.pth`, `.pt`, `.tar`), or a folder's `pytorch_model.bin` when it holds no
/// `.safetensors` file.
fn torch_fallback(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return super::torch_import::is_torch_file(path).then(|| path.to_path_buf());
    }
    let bin = path.join("pytorch_model.bin");
    (path.is_dir() && bin.is_file() && checkpoint_files(path).is_err()).then_some(bin)
}

/// The safetensors files of a checkpoint path.
pub fn checkpoint_files(path: &Path) -> Result<Vec<PathBuf>> {
    let not_found = |p: &Path, what: &str| {
        Error::io(
            p,
            std::io::Error::new(std::io::ErrorKind::NotFound, what.to_string()),
        )
    };
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "json") {
            return shards_from_index(path);
        }
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(not_found(path, "no such checkpoint file or folder"));
    }
    let single = path.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = path.join("model.safetensors.index.json");
    if index.is_file() {
        return shards_from_index(&index);
    }
    let mut any: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    any.sort();
    if any.is_empty() {
        return Err(not_found(path, "no .safetensors file in this folder"));
    }
    Ok(any)
}

fn shards_from_index(index: &Path) -> Result<Vec<PathBuf>> {
    let text = read_text(index)?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::at(index, format!("line {}", e.line()), e.to_string()))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::at(index, "field `weight_map`", "missing or not an object"))?;
    let base = index.parent().unwrap_or_else(|| Path::new("."));
    let mut files = BTreeSet::new();
    for (tensor, f) in map {
        let f = f.as_str().ok_or_else(|| {
            Error::at(index, format!("weight_map[`{tensor}`]"), "not a file name")
        })?;
        files.insert(f.to_string());
    }
    let files: Vec<PathBuf> = files.into_iter().map(|f| base.join(f)).collect();
    for f in &files {
        if !f.is_file() {
            return Err(Error::io(
                f,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("shard listed in {} is missing", index.display()),
                ),
            ));
        }
    }
    Ok(files)
}

/// Writes tensors as safetensors atomically.
pub fn save_safetensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    candle_core::safetensors::save(tensors, &tmp)
        .map_err(|e| Error::parse(path, None, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> HashMap<String, Tensor> {
        let d = Device::Cpu;
        let mut m = HashMap::new();
        m.insert(
            "a.weight".to_string(),
            Tensor::arange(0f32, 6.0, &d)
                .unwrap()
                .reshape((2, 3))
                .unwrap(),
        );
        m.insert(
            "b.bias".to_string(),
            Tensor::ones(4, DType::F16, &d).unwrap(),
        );
        m
    }

    #[test]
    fn single_file_and_half_precision_become_f32() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("model.safetensors");
        save_safetensors(&p, &tensors()).unwrap();
        for path in [p.clone(), d.path().to_path_buf()] {
            let w = Weights::load(&path, &Device::Cpu).unwrap();
            assert_eq!(w.get("b.bias", &[4]).unwrap().dtype(), DType::F32);
            assert_eq!(w.names().len(), 2);
        }
    }

    #[test]
    fn sharded_checkpoint_via_index() {
        let d = tempfile::tempdir().unwrap();
        let t = tensors();
        let mut s1 = HashMap::new();
        s1.insert("a.weight".to_string(), t["a.weight"].clone());
        let mut s2 = HashMap::new();
        s2.insert(
            "b.bias".to_string(),
            t["b.bias"].to_dtype(DType::BF16).unwrap(),
        );
        save_safetensors(&d.path().join("model-00001-of-00002.safetensors"), &s1).unwrap();
        save_safetensors(&d.path().join("model-00002-of-00002.safetensors"), &s2).unwrap();
        std::fs::write(
            d.path().join("model.safetensors.index.json"),
            r#"{"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.bias": "model-00002-of-00002.safetensors"}}"#,
        )
        .unwrap();
        let w = Weights::load(d.path(), &Device::Cpu).unwrap();
        assert_eq!(
            w.get("b.bias", &[4]).unwrap().to_vec1::<f32>().unwrap(),
            vec![1.0; 4]
        );
        std::fs::remove_file(d.path().join("model-00002-of-00002.safetensors")).unwrap();
        let e = Weights::load(d.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model-00002-of-00002.safetensors") && e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_tensor_and_shapes() {
        let w = Weights::from_tensors(tensors(), "ckpt.safetensors");
        let e = w.get("a.weight", &[3, 2]).unwrap_err().to_string();
        assert_eq!(
            e,
            "ckpt.safetensors (tensor `a.weight`): expected shape [3, 2], found [2, 3]"
        );
        let e = w.get("c", &[1]).unwrap_err().to_string();
        assert!(e.contains("tensor `c`") && e.contains("missing"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let bad = d.path().join("bad.safetensors");
        std::fs::write(&bad, b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage").unwrap();
        let e = Weights::load(&bad, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("bad.safetensors"), "{e}");
        let e = Weights::load(d.path().join("none").as_path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none"), "{e}");
    }

    #[test]
    fn var_builder_errors_name_file_tensor_and_shapes() {
        let w = Weights::from_tensors(tensors(), "ckpt.safetensors");
        let vb = w.var_builder(&Device::Cpu);
        let e = vb.get((2, 3), "missing.weight").unwrap_err().to_string();
        assert!(e.contains("ckpt.safetensors (tensor `missing.weight`): missing from the checkpoint, expected shape [2, 3]"), "{e}");
        let e = vb.get((3, 2), "a.weight").unwrap_err().to_string();
        assert!(
            e.contains("ckpt.safetensors (tensor `a.weight`): expected shape [3, 2], found [2, 3]"),
            "{e}"
        );
        assert_eq!(vb.get((2, 3), "a.weight").unwrap().dims(), &[2, 3]);
    }

    #[test]
    fn partial_checkpoints_load_tensor_by_tensor() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let _a = vb.get((2, 3), "a.weight").unwrap();
        let _z = vb.get(5, "z.extra").unwrap();
        let w = Weights::from_tensors(tensors(), "ckpt");
        let r = w.load_into(&vm).unwrap();
        assert_eq!(r.loaded, ["a.weight"]);
        assert_eq!(r.missing, ["z.extra"]);
        assert_eq!(r.unused, ["b.bias"]);
        let a = vm.data().lock().unwrap()["a.weight"]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let vm2 = VarMap::new();
        let _ = VarBuilder::from_varmap(&vm2, DType::F32, &Device::Cpu)
            .get((3, 2), "a.weight")
            .unwrap();
        let e = w.load_into(&vm2).unwrap_err().to_string();
        assert!(e.contains("expected shape [3, 2], found [2, 3]"), "{e}");
    }
}
