//! On-disk cache of finished analyses (issue 22, "nothing computed twice"): a painting's
//! SEVLM analysis, its Painting-tab EmoSEM masks ([`super::view_cache`]) and its Review-tab
//! EmoSEM predictions are computed once per (model, image, request) and read back on
//! every later open, as EmoSEM's embedding cache does for SAM and CLIP features
//! ([`crate::emosem::cache`]).
//!
//! Key: SHA-256 over the model key (the SHA-256 of the model folder's `config.json`,
//! `model.safetensors` and known words `words.txt` with a tag naming the kind of result,
//! remembered per file size and modification time so a warm open does not hash the
//! weights again), the SHA-256 of the image file's bytes and the request's own settings
//! (decoding, lexicon, emotions, ground truth, view size). A new model or an edited image changes the key; nothing is ever served
//! for other inputs. Layout: `<dir>/<kind>/<key, 64 hex>.res`. File format:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ARTEMORC` |
//! | 4 | format version (1), little-endian |
//! | 32 | the key |
//! | n | the result: JSON ([`ResultCache::get`]), or a kind's own bytes ([`ResultCache::get_bytes`]) |
//! | 32 | SHA-256 of everything before it |
//!
//! An entry that is truncated, has another key, a bad checksum or JSON that does not parse
//! is treated as missing: the result is recomputed and the entry rewritten atomically
//! ([`crate::error::write_atomic`]).
//!
//! Size: each kind's folder keeps to a budget ([`DEFAULT_BUDGET`], or the kind's own via
//! [`ResultCache::with_budget`]). A read marks its entry as used (modification time); a
//! write that takes the folder past the budget removes the least recently used entries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::emosem::cache::Lookup;
use crate::emosem::cache::{sha256_bytes, sha256_files};
use crate::error::{write_atomic, Error, Result};

const MAGIC: &[u8; 8] = b"ARTEMORC";
const VERSION: u32 = 1;

/// Model keys already computed, by (files, tag) and each file's (size, modification time).
type KeyMemo = HashMap<(Vec<PathBuf>, String), (Vec<(u64, Option<SystemTime>)>, [u8; 32])>;

fn memo() -> &'static Mutex<KeyMemo> {
    static MEMO: OnceLock<Mutex<KeyMemo>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The model part of a key: SHA-256 of the model folder's `config.json`,
/// `model.safetensors` and `words.txt` (its known words, when it has them) and `tag`.
/// Hashed once per process and file state ([`files_key`]).
pub fn model_key(dir: &Path, tag: &str) -> Result<[u8; 32]> {
    let mut files = vec![dir.join("config.json"), dir.join("model.safetensors")];
    let words = dir.join(crate::text::known_words::WORDS_FILE);
    if words.is_file() {
        files.push(words);
    }
    files_key(&files, tag)
}

/// SHA-256 of `files` (in order) and `tag`, remembered per process and file state (size
/// and modification time) so a warm open does not hash the weights again; a rewritten
/// file is hashed again.
pub fn files_key(files: &[PathBuf], tag: &str) -> Result<[u8; 32]> {
    let stamp = files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
            Ok((m.len(), m.modified().ok()))
        })
        .collect::<Result<Vec<_>>>()?;
    let id = (files.to_vec(), tag.to_string());
    if let Ok(m) = memo().lock() {
        if let Some((s, key)) = m.get(&id) {
            if *s == stamp {
                return Ok(*key);
            }
        }
    }
    let key = sha256_files(files, tag)?;
    if let Ok(mut m) = memo().lock() {
        m.insert(id, (stamp, key));
    }
    Ok(key)
}

/// The image part of a key: SHA-256 of the file's bytes.
pub fn image_key(image: &Path) -> Result<[u8; 32]> {
    let bytes = std::fs::read(image).map_err(|e| Error::io(image, e))?;
    Ok(sha256_bytes(&bytes))
}

/// An entry's key: model key, image key and the request's settings.
pub fn entry_key(model: &[u8; 32], image: &[u8; 32], request: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(model);
    h.update(image);
    h.update(request.as_bytes());
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The default size budget of one kind's folder: past it, the least recently used
/// entries are removed (a SEVLM or Review entry is a few kilobytes, so this is tens of
/// thousands of paintings; EmoSEM's masks set their own, [`super::view_cache::BUDGET`]).
pub const DEFAULT_BUDGET: u64 = 256 << 20;

/// Results of one kind (`"sevlm"`, `"review"`) under a cache folder.
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
    budget: u64,
}

impl ResultCache {
    /// The cache of `kind` under `root` (the feature cache folder), within
    /// [`DEFAULT_BUDGET`].
    pub fn new(root: &Path, kind: &str) -> Self {
        ResultCache {
            dir: root.join("results").join(kind),
            budget: DEFAULT_BUDGET,
        }
    }

    /// The same cache with a size budget of `bytes` for its folder.
    pub fn with_budget(mut self, bytes: u64) -> Self {
        self.budget = bytes;
        self
    }

    /// Marks an entry as just used (its modification time), so pruning keeps it longer.
    /// Best effort: a read-only cache is still read.
    fn touch(path: &Path) {
        if let Ok(f) = std::fs::File::options().append(true).open(path) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// Removes the least recently used entries (oldest modification time first, `keep`
    /// never) until the folder's entries fit the budget; unfinished temporary files of a
    /// crashed write older than an hour go too. Returns how many bytes were removed. An
    /// entry that cannot be removed is skipped (another process may hold it).
    pub fn prune(&self, keep: Option<&Path>) -> Result<u64> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        let mut total = 0u64;
        let mut removed = 0u64;
        for e in rd.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(now);
            if path.extension().is_some_and(|x| x == "res") {
                total += meta.len();
                entries.push((modified, meta.len(), path));
            } else if now
                .duration_since(modified)
                .is_ok_and(|age| age.as_secs() > 3600)
                && std::fs::remove_file(&path).is_ok()
            {
                removed += meta.len();
            }
        }
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.budget {
                break;
            }
            if Some(path.as_path()) == keep {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                removed += len;
            }
        }
        Ok(removed)
    }

    /// The entry file of a key.
    pub fn path(&self, key: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.res", hex(key)))
    }

    /// The stored result of `key`; `None` when there is none or it is damaged.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8; 32]) -> Option<T> {
        serde_json::from_slice(&self.get_bytes(key)?).ok()
    }

    /// Stores `value` under `key` (atomically).
    pub fn put<T: Serialize>(&self, key: &[u8; 32], value: &T) -> Result<()> {
        let path = self.path(key);
        let json = serde_json::to_vec(value)
            .map_err(|e| Error::at(&path, "result", format!("cannot serialise: {e}")))?;
        self.put_bytes(key, &json)
    }

    /// The stored bytes of `key` (a kind with its own binary encoding, e.g. EmoSEM's
    /// score maps); `None` when there is no entry or it is damaged.
    pub fn get_bytes(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        let mut bytes = std::fs::read(self.path(key)).ok()?;
        let head = MAGIC.len() + 4 + 32;
        if bytes.len() < head + 32 {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if sha256_bytes(body) != sum
            || &body[..8] != MAGIC
            || body[8..12] != VERSION.to_le_bytes()
            || &body[12..44] != key
        {
            return None;
        }
        bytes.truncate(bytes.len() - 32);
        bytes.drain(..head);
        Self::touch(&self.path(key));
        Some(bytes)
    }

    /// Stores `payload` under `key` (atomically).
    pub fn put_bytes(&self, key: &[u8; 32], payload: &[u8]) -> Result<()> {
        let path = self.path(key);
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut out = Vec::with_capacity(payload.len() + 76);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(payload);
        let sum = sha256_bytes(&out);
        out.extend_from_slice(&sum);
        write_atomic(&path, &out)?;
        self.prune(Some(&path)).map(|_| ())
    }

    /// The stored result of `key`, or `compute()`'s, which is then stored; says which.
    pub fn lookup<T: Serialize + DeserializeOwned>(
        &self,
        key: &[u8; 32],
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<(T, Lookup)> {
        let state = if self.path(key).exists() {
            match self.get(key) {
                Some(v) => return Ok((v, Lookup::Hit)),
                None => Lookup::Recomputed,
            }
        } else {
            Lookup::Miss
        };
        let v = compute()?;
        self.put(key, &v)?;
        Ok((v, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_miss_other_key_and_damaged_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path(), "test");
        let key = entry_key(&[1; 32], &[2; 32], "greedy");
        let (v, l) = cache.lookup(&key, || Ok(vec![1.5f32, 2.0])).unwrap();
        assert_eq!((v, l), (vec![1.5, 2.0], Lookup::Miss));
        let (v, l) = cache
            .lookup(&key, || -> Result<Vec<f32>> { panic!("not recomputed") })
            .unwrap();
        assert_eq!((v, l), (vec![1.5, 2.0], Lookup::Hit));
        // Another request, model or image: another key.
        for other in [
            entry_key(&[1; 32], &[2; 32], "nucleus"),
            entry_key(&[3; 32], &[2; 32], "greedy"),
            entry_key(&[1; 32], &[4; 32], "greedy"),
        ] {
            assert_ne!(other, key);
            assert_eq!(cache.get::<Vec<f32>>(&other), None);
        }
        // Damaged entries: a flipped byte, a truncated file, garbage, another key's file.
        let path = cache.path(&key);
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[50] ^= 1;
        let other = entry_key(&[9; 32], &[9; 32], "x");
        cache.put(&other, &vec![7f32]).unwrap();
        let foreign = std::fs::read(cache.path(&other)).unwrap();
        for bad in [
            flipped,
            good[..good.len() - 5].to_vec(),
            b"nope".to_vec(),
            foreign,
        ] {
            std::fs::write(&path, &bad).unwrap();
            let (v, l) = cache.lookup(&key, || Ok(vec![1.5f32, 2.0])).unwrap();
            assert_eq!((v, l), (vec![1.5, 2.0], Lookup::Recomputed));
            assert_eq!(std::fs::read(&path).unwrap(), good);
        }
    }

    #[test]
    fn the_least_recently_used_entries_go_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path(), "test").with_budget(1000);
        let keys: Vec<[u8; 32]> = (0..4u8)
            .map(|i| entry_key(&[i; 32], &[0; 32], ""))
            .collect();
        let payload = vec![7u8; 300]; // 376 bytes on disk with the envelope
        let age = |key: &[u8; 32], secs: u64| {
            let f = std::fs::File::options()
                .append(true)
                .open(cache.path(key))
                .unwrap();
            f.set_modified(SystemTime::now() - std::time::Duration::from_secs(secs))
                .unwrap();
        };
        for (i, k) in keys[..2].iter().enumerate() {
            cache.put_bytes(k, &payload).unwrap();
            age(k, 100 - i as u64 * 10);
        }
        // Two entries fit (752 bytes). Reading the older one makes it the newest.
        assert!(cache.get_bytes(&keys[0]).is_some());
        // A third goes past the budget: the least recently used (keys[1]) is removed.
        cache.put_bytes(&keys[2], &payload).unwrap();
        let present: Vec<bool> = keys.iter().map(|k| cache.path(k).exists()).collect();
        assert_eq!(present, [true, false, true, false]);
        // An entry larger than the whole budget is still stored (and the rest goes).
        let big = ResultCache::new(dir.path(), "test").with_budget(100);
        big.put_bytes(&keys[3], &payload).unwrap();
        assert!(big.get_bytes(&keys[3]).is_some());
        let left: Vec<bool> = keys.iter().map(|k| cache.path(k).exists()).collect();
        assert_eq!(left, [false, false, false, true]);
        // A stale temporary file of a crashed write is removed; a fresh one is kept.
        let stale = dir.path().join("results/test/.tmp-stale");
        let fresh = dir.path().join("results/test/.tmp-fresh");
        for p in [&stale, &fresh] {
            std::fs::write(p, b"partial").unwrap();
        }
        std::fs::File::options()
            .append(true)
            .open(&stale)
            .unwrap()
            .set_modified(SystemTime::now() - std::time::Duration::from_secs(7200))
            .unwrap();
        assert_eq!(big.prune(Some(&cache.path(&keys[3]))).unwrap(), 7);
        assert!(!stale.exists() && fresh.exists());
        // No folder yet: nothing to prune.
        assert_eq!(ResultCache::new(dir.path(), "none").prune(None).unwrap(), 0);
    }

    #[test]
    fn model_key_follows_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("model.safetensors"), "weights 1").unwrap();
        let a = model_key(dir.path(), "sevlm").unwrap();
        assert_eq!(model_key(dir.path(), "sevlm").unwrap(), a);
        assert_ne!(model_key(dir.path(), "review").unwrap(), a);
        // New weights (another size): another key.
        std::fs::write(dir.path().join("model.safetensors"), "weights two").unwrap();
        let b = model_key(dir.path(), "sevlm").unwrap();
        assert_ne!(b, a);
        // Known words added: another key.
        std::fs::write(dir.path().join("words.txt"), "sky\n").unwrap();
        assert_ne!(model_key(dir.path(), "sevlm").unwrap(), b);
        let e = model_key(&dir.path().join("missing"), "sevlm").unwrap_err();
        assert!(e.to_string().contains("config.json"), "{e}");
    }
}
