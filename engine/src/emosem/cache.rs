//! On-disk cache of frozen image embeddings (EmoSEM's SAM and CLIP features): computed
//! once per (model, image) and read back afterwards.
//!
//! Key: the SHA-256 of the model's checkpoint files (plus a tag naming the preprocessing)
//! and the SHA-256 of the image file's bytes. Layout: `<dir>/<model key, 16 hex>/<image
//! key, 64 hex>.emb`. File format (little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ARTEMOEC` |
//! | 4 | format version (1) |
//! | 4 | rank r |
//! | 8 r | dimensions |
//! | 32 | model key |
//! | 32 | image key |
//! | 4 n | f32 values, n = product of the dimensions |
//! | 32 | SHA-256 of everything before it |
//!
//! A file that is truncated, has another key, a bad checksum or any other defect is
//! treated as missing: the embedding is recomputed and the file rewritten (atomically, so
//! a crash never leaves a half-written entry under the final name).

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use sha2::{Digest, Sha256};

use crate::error::{write_atomic, Error, Result};

const MAGIC: &[u8; 8] = b"ARTEMOEC";
const VERSION: u32 = 1;

/// SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 over the contents of `files` (in order, streamed) and a `tag` (e.g. the
/// preprocessing), the model part of a cache key.
pub fn sha256_files(files: &[PathBuf], tag: &str) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(tag.as_bytes());
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let mut file = std::fs::File::open(f).map_err(|e| Error::io(f, e))?;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(f, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(h.finalize().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What [`EmbeddingCache::get_or_compute`] did (for tests and reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Read from the cache.
    Hit,
    /// No entry: computed and stored.
    Miss,
    /// The entry was unusable (truncated, corrupt, other key): recomputed and rewritten.
    Recomputed,
}

/// A cache of embeddings for one model.
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    dir: PathBuf,
    model: [u8; 32],
}

impl EmbeddingCache {
    /// A cache under `dir` for the model whose key is `model` ([`sha256_files`]).
    pub fn new(dir: impl Into<PathBuf>, model: [u8; 32]) -> Self {
        EmbeddingCache {
            dir: dir.into(),
            model,
        }
    }

    /// The entry file of an image key.
    pub fn path(&self, image: &[u8; 32]) -> PathBuf {
        self.dir
            .join(&hex(&self.model)[..16])
            .join(format!("{}.emb", hex(image)))
    }

    /// The cached embedding of `image` (its bytes' SHA-256), or `compute()`'s, which is
    /// then stored.
    pub fn get_or_compute(
        &self,
        image: &[u8; 32],
        device: &Device,
        compute: impl FnOnce() -> Result<Tensor>,
    ) -> Result<Tensor> {
        self.lookup(image, device, compute).map(|(t, _)| t)
    }

    /// As [`get_or_compute`](Self::get_or_compute), also saying what happened.
    pub fn lookup(
        &self,
        image: &[u8; 32],
        device: &Device,
        compute: impl FnOnce() -> Result<Tensor>,
    ) -> Result<(Tensor, Lookup)> {
        let path = self.path(image);
        let state = match std::fs::read(&path) {
            Ok(bytes) => match self.decode(&bytes, image, device) {
                Some(t) => return Ok((t, Lookup::Hit)),
                None => Lookup::Recomputed,
            },
            Err(_) => Lookup::Miss,
        };
        let t = compute()?;
        self.store(image, &t)?;
        Ok((t, state))
    }

    /// Writes an entry (atomically).
    pub fn store(&self, image: &[u8; 32], t: &Tensor) -> Result<()> {
        let path = self.path(image);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let values: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let mut out = Vec::with_capacity(96 + 8 * t.rank() + 4 * values.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(t.rank() as u32).to_le_bytes());
        for &d in t.dims() {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        out.extend_from_slice(&self.model);
        out.extend_from_slice(image);
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let sum = sha256_bytes(&out);
        out.extend_from_slice(&sum);
        write_atomic(&path, &out)
    }

    fn decode(&self, bytes: &[u8], image: &[u8; 32], device: &Device) -> Option<Tensor> {
        if bytes.len() < 8 + 4 + 4 + 64 + 32 || &bytes[..8] != MAGIC {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if sha256_bytes(body) != sum {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes(body[o..o + 4].try_into().unwrap_or([0; 4]));
        if u32_at(8) != VERSION {
            return None;
        }
        let rank = u32_at(12) as usize;
        let mut o = 16;
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            let d = u64::from_le_bytes(body.get(o..o + 8)?.try_into().ok()?);
            dims.push(usize::try_from(d).ok()?);
            o += 8;
        }
        if body.get(o..o + 32)? != self.model || body.get(o + 32..o + 64)? != image {
            return None;
        }
        o += 64;
        let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        let payload = body.get(o..)?;
        if payload.len() != n.checked_mul(4)? {
            return None;
        }
        let values: Vec<f32> = payload
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Tensor::from_vec(values, dims, device).ok()
    }

    /// The cache folder of this model.
    pub fn dir(&self) -> PathBuf {
        self.dir.join(&hex(&self.model)[..16])
    }
}

/// Removes an entry (used when the caller knows it is stale).
pub fn remove_entry(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_returns_the_fresh_embedding_and_survives_truncation_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        let model = sha256_bytes(b"model weights");
        let cache = EmbeddingCache::new(dir.path(), model);
        let image = sha256_bytes(b"image bytes");
        let fresh = Tensor::randn(0f32, 1.0, (1, 4, 3, 3), &dev).unwrap();
        let calls = std::cell::Cell::new(0);
        let compute = || {
            calls.set(calls.get() + 1);
            Ok(fresh.clone())
        };
        let (a, s) = cache.lookup(&image, &dev, compute).unwrap();
        assert_eq!(s, Lookup::Miss);
        let (b, s) = cache.lookup(&image, &dev, compute).unwrap();
        assert_eq!(s, Lookup::Hit);
        assert_eq!(calls.get(), 1);
        assert_eq!(b.dims(), fresh.dims());
        let same = |x: &Tensor| {
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
                == fresh.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert!(
            same(&a) && same(&b),
            "cached embedding differs from the fresh one"
        );

        // Truncated file: recomputed and rewritten.
        let path = cache.path(&image);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        let (c, s) = cache.lookup(&image, &dev, compute).unwrap();
        assert_eq!(s, Lookup::Recomputed);
        assert!(same(&c));
        assert_eq!(std::fs::read(&path).unwrap(), full);

        // One flipped payload byte: the checksum catches it.
        let mut bad = full.clone();
        bad[200] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let (d, s) = cache.lookup(&image, &dev, compute).unwrap();
        assert_eq!(s, Lookup::Recomputed);
        assert!(same(&d));
        assert_eq!(calls.get(), 3);

        // Another model's key never reads this entry.
        let other = EmbeddingCache::new(dir.path(), sha256_bytes(b"other weights"));
        let (_, s) = other.lookup(&image, &dev, compute).unwrap();
        assert_eq!(s, Lookup::Miss);
        remove_entry(&path).unwrap();
        assert!(!path.exists());
    }
}
