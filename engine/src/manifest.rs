//! `models/MODELS.toml`: the weights Artemo knows about (name, files, sha256, licence,
//! source, what they enable), and verification of the files on disk.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{read_text, Error, Result};

/// One file of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Path relative to the models folder.
    pub path: String,
    /// Expected SHA-256 (lower-case hex).
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One model entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Short name (`all-MiniLM-L6-v2`).
    pub name: String,
    /// What it is.
    pub description: String,
    /// Licence of the weights.
    pub licence: String,
    /// Where the weights come from.
    pub source: String,
    /// Features of Artemo this model enables.
    #[serde(default)]
    pub enables: Vec<String>,
    /// Its files.
    pub files: Vec<ModelFile>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Models, by name.
    #[serde(rename = "model", default)]
    pub models: Vec<ModelEntry>,
}

/// The state of one file after verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FileState {
    /// Present with the expected hash.
    Ok,
    /// Not on disk.
    Missing,
    /// Present with another hash (found hash given).
    Mismatch(String),
}

impl Manifest {
    /// Reads a manifest; TOML errors name the file and line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        toml::from_str(&text).map_err(|e| {
            let loc = e.span().map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}")
            });
            Error::parse(path, loc, e.message().to_string())
        })
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Checks every file of `entry` under `root`.
    pub fn verify(entry: &ModelEntry, root: &Path) -> Result<Vec<(PathBuf, FileState)>> {
        entry
            .files
            .iter()
            .map(|f| {
                let p = root.join(&f.path);
                if !p.is_file() {
                    return Ok((p, FileState::Missing));
                }
                let h = sha256_file(&p)?;
                let state = if h == f.sha256.to_lowercase() {
                    FileState::Ok
                } else {
                    FileState::Mismatch(h)
                };
                Ok((p, state))
            })
            .collect()
    }
}

/// SHA-256 of a file, lower-case hex, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// SHA-256 of bytes, lower-case hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_manifest_verifies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let m = Manifest::load(&root.join("MODELS.toml")).unwrap();
        let mini = m.get("all-MiniLM-L6-v2").unwrap();
        assert!(mini.licence.contains("Apache-2.0"));
        for (p, state) in Manifest::verify(mini, &root).unwrap() {
            assert_eq!(state, FileState::Ok, "{}", p.display());
        }
    }

    #[test]
    fn mismatch_missing_and_malformed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("w.bin"), b"abc").unwrap();
        let entry = ModelEntry {
            name: "x".into(),
            description: String::new(),
            licence: "MIT".into(),
            source: "test".into(),
            enables: vec![],
            files: vec![
                ModelFile {
                    path: "w.bin".into(),
                    sha256: sha256_bytes(b"abc"),
                    bytes: 3,
                },
                ModelFile {
                    path: "gone.bin".into(),
                    sha256: "00".into(),
                    bytes: 1,
                },
            ],
        };
        let v = Manifest::verify(&entry, d.path()).unwrap();
        assert_eq!(v[0].1, FileState::Ok);
        assert_eq!(v[1].1, FileState::Missing);
        std::fs::write(d.path().join("w.bin"), b"abd").unwrap();
        assert!(matches!(
            Manifest::verify(&entry, d.path()).unwrap()[0].1,
            FileState::Mismatch(_)
        ));
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let bad = d.path().join("MODELS.toml");
        std::fs::write(&bad, "[[model]]\nname = \"a\"\n\nfiles = 3\n").unwrap();
        let e = Manifest::load(&bad).unwrap_err().to_string();
        assert!(e.contains("MODELS.toml") && e.contains("line"), "{e}");
    }
}
