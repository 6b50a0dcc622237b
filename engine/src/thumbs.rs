//! Thumbnails cached on disk by image hash (issue 24): the Collection grid and the Map's
//! atlas decode a painting once, then read a small file on every later open.
//!
//! Layout under the cache folder (`<cache>/thumbs`):
//! - `<side>/<2 hex>/<SHA-256 of the image bytes, 64 hex>.thumb`: the thumbnail of those
//!   bytes with its longest side at most `side` (never upscaled). Two files with the same
//!   bytes share one entry; an edited file has other bytes, hence another entry.
//! - `paths/<2 hex>/<SHA-256 of (path, length, modification time), 64 hex>`: the image
//!   hash of a file as it was when last read, so a warm open does not read the image
//!   again (a touched or rewritten file has another length or time and is hashed anew).
//!
//! Entry format:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ARTTHMB1` |
//! | 32 | the image hash |
//! | 4 | length h of the header, little-endian |
//! | h | header JSON: original size, longest side, decoder warnings |
//! | n | the thumbnail, JPEG (quality 88) or PNG when it has transparency |
//! | 32 | SHA-256 of everything before it |
//!
//! An entry or pointer that is truncated, names another hash, has a bad checksum or does
//! not decode is treated as missing: the thumbnail is made again and written atomically
//! without `fsync` ([`crate::error::write_atomic_unsynced`]: the checksum catches what a
//! crash could leave, and a sync would cost more than the thumbnail).

use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbaImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{read_file, write_atomic_unsynced, Error, Result};
use crate::imaging;

const MAGIC: &[u8; 8] = b"ARTTHMB1";

/// The longest side of the thumbnails the app shows (Collection grid, Map hover cards).
pub const THUMB_SIDE: u32 = 256;

/// A thumbnail with what is known of its source.
#[derive(Debug, Clone)]
pub struct Thumb {
    /// The pixels (longest side at most the cache's side).
    pub rgba: RgbaImage,
    /// Width and height of the original image (after EXIF orientation).
    pub original: (u32, u32),
    /// What makes the source doubtful though it decoded (a truncated file).
    pub warnings: Vec<String>,
    /// SHA-256 (hex) of the image file's bytes.
    pub hash: String,
    /// Whether it was read from the cache.
    pub from_cache: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    original: (u32, u32),
    side: u32,
    warnings: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The thumbnail cache for one longest side.
#[derive(Debug, Clone)]
pub struct ThumbCache {
    dir: PathBuf,
    side: u32,
}

impl ThumbCache {
    /// The cache under `dir` (usually `<cache>/thumbs`) for thumbnails of longest side
    /// `side`.
    pub fn new(dir: impl Into<PathBuf>, side: u32) -> Self {
        ThumbCache {
            dir: dir.into(),
            side: side.max(1),
        }
    }

    /// The longest side of its thumbnails.
    pub fn side(&self) -> u32 {
        self.side
    }

    fn entry_path(&self, hash: &str) -> PathBuf {
        self.dir
            .join(self.side.to_string())
            .join(&hash[..2])
            .join(format!("{hash}.thumb"))
    }

    /// The pointer file of `path` as it is now (`None` when it cannot be stat'ed).
    fn pointer_path(&self, path: &Path) -> Option<PathBuf> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let mut h = Sha256::new();
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        h.update(abs.as_os_str().as_encoded_bytes());
        h.update([0u8]);
        h.update(meta.len().to_le_bytes());
        h.update(mtime.as_nanos().to_le_bytes());
        let k = hex(&h.finalize());
        Some(self.dir.join("paths").join(&k[..2]).join(k))
    }

    /// The image hash recorded for `path` as it is now, if any.
    fn pointed_hash(&self, path: &Path) -> Option<String> {
        let p = self.pointer_path(path)?;
        let s = std::fs::read_to_string(p).ok()?;
        let s = s.trim();
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string())
    }

    /// The cached thumbnail of `path` if its file is unchanged since it was cached (no
    /// image read, no decoding of the original).
    pub fn cached(&self, path: &Path) -> Option<Thumb> {
        let hash = self.pointed_hash(path)?;
        self.read_entry(&hash)
    }

    fn read_entry(&self, hash: &str) -> Option<Thumb> {
        let bytes = std::fs::read(self.entry_path(hash)).ok()?;
        if bytes.len() < 8 + 32 + 4 + 32 || &bytes[..8] != MAGIC {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum || hex(&body[8..40]) != hash {
            return None;
        }
        let hlen = u32::from_le_bytes(body[40..44].try_into().ok()?) as usize;
        let header: Header = serde_json::from_slice(body.get(44..44 + hlen)?).ok()?;
        if header.side != self.side {
            return None;
        }
        let img = image::load_from_memory(body.get(44 + hlen..)?).ok()?;
        Some(Thumb {
            rgba: img.to_rgba8(),
            original: header.original,
            warnings: header.warnings,
            hash: hash.to_string(),
            from_cache: true,
        })
    }

    /// The thumbnail of `path`: from the cache when the file is unchanged or its bytes
    /// were seen before, else decoded, stored and returned.
    pub fn get(&self, path: &Path) -> Result<Thumb> {
        if let Some(t) = self.cached(path) {
            return Ok(t);
        }
        let bytes = read_file(path)?;
        let hash = hex(&Sha256::digest(&bytes));
        if let Some(t) = self.read_entry(&hash) {
            self.point(path, &hash);
            return Ok(t);
        }
        let img = imaging::decode_image(&bytes, path)?;
        self.put(path, &bytes, &img)
    }

    /// Stores the thumbnail of an image already decoded from `bytes` (the file at
    /// `path`), e.g. by the map's embedding pass, and returns it. A failure to write the
    /// cache is logged and the thumbnail still returned: a read-only cache only costs
    /// speed.
    pub fn put(&self, path: &Path, bytes: &[u8], img: &DynamicImage) -> Result<Thumb> {
        let hash = hex(&Sha256::digest(bytes));
        let warnings: Vec<String> = image::guess_format(bytes)
            .ok()
            .and_then(|f| imaging::truncation(bytes, f))
            .into_iter()
            .collect();
        let rgba = imaging::thumbnail(img, self.side);
        let mut thumb = Thumb {
            rgba,
            original: (img.width(), img.height()),
            warnings,
            hash,
            from_cache: false,
        };
        match self.write_entry(&thumb) {
            Ok(stored) => {
                // Later reads give the stored (JPEG) pixels: the same ones now, so a
                // thumbnail looks the same on its first open and after.
                if let Ok(img) = image::load_from_memory(&stored) {
                    thumb.rgba = img.to_rgba8();
                }
                self.point(path, &thumb.hash)
            }
            Err(e) => tracing::warn!("thumbnail cache: {e}"),
        }
        Ok(thumb)
    }

    /// Writes the entry of `t`; returns the encoded thumbnail it holds.
    fn write_entry(&self, t: &Thumb) -> Result<Vec<u8>> {
        let path = self.entry_path(&t.hash);
        let header = serde_json::to_vec(&Header {
            original: t.original,
            side: self.side,
            warnings: t.warnings.clone(),
        })
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let opaque = t.rgba.pixels().all(|p| p.0[3] == 255);
        let mut encoded = std::io::Cursor::new(Vec::new());
        let res = if opaque {
            let rgb = DynamicImage::ImageRgba8(t.rgba.clone()).to_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, 88).encode_image(&rgb)
        } else {
            t.rgba.write_to(&mut encoded, image::ImageFormat::Png)
        };
        res.map_err(|e| Error::image(&path, e.to_string()))?;
        let hash_bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&t.hash[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        let mut out = Vec::with_capacity(encoded.get_ref().len() + header.len() + 80);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&hash_bytes);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(encoded.get_ref());
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        write_atomic_unsynced(&path, &out)?;
        Ok(encoded.into_inner())
    }

    /// Records that `path`, as it is now, has image hash `hash` (best effort).
    fn point(&self, path: &Path, hash: &str) {
        let Some(p) = self.pointer_path(path) else {
            return;
        };
        let r = p
            .parent()
            .map_or(Ok(()), |d| {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))
            })
            .and_then(|()| write_atomic_unsynced(&p, hash.as_bytes()));
        if let Err(e) = r {
            tracing::warn!("thumbnail cache: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn painting(dir: &Path, name: &str, c: [u8; 3]) -> PathBuf {
        let p = dir.join(name);
        let img = image::RgbImage::from_fn(600, 300, |x, y| {
            image::Rgb([c[0] ^ (x as u8), c[1] ^ (y as u8), c[2]])
        });
        img.save(&p).unwrap();
        p
    }

    #[test]
    fn miss_then_hit_then_shared_by_bytes() {
        let d = tempfile::tempdir().unwrap();
        let cache = ThumbCache::new(d.path().join("thumbs"), 64);
        let a = painting(d.path(), "a.png", [200, 10, 10]);
        let t1 = cache.get(&a).unwrap();
        assert!(!t1.from_cache);
        assert_eq!((t1.rgba.width(), t1.rgba.height()), (64, 32));
        assert_eq!(t1.original, (600, 300));
        let t2 = cache.get(&a).unwrap();
        assert!(t2.from_cache);
        assert_eq!(t2.hash, t1.hash);
        assert_eq!(t2.rgba.dimensions(), t1.rgba.dimensions());
        // JPEG storage, and the first answer already gives the stored pixels.
        let diff = t1
            .rgba
            .as_raw()
            .iter()
            .zip(t2.rgba.as_raw())
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap();
        assert_eq!(diff, 0);
        // The same bytes under another name share the entry (no decode of the original).
        let b = d.path().join("b.png");
        std::fs::copy(&a, &b).unwrap();
        let tb = cache.get(&b).unwrap();
        assert!(tb.from_cache);
        assert_eq!(tb.hash, t1.hash);
        assert!(cache.cached(&b).is_some());
    }

    #[test]
    fn edited_image_gets_a_new_thumbnail() {
        let d = tempfile::tempdir().unwrap();
        let cache = ThumbCache::new(d.path().join("thumbs"), 32);
        let a = painting(d.path(), "a.png", [0, 0, 0]);
        let t1 = cache.get(&a).unwrap();
        // Rewrite with other pixels and another size (so length differs).
        image::RgbImage::from_pixel(100, 200, image::Rgb([9, 200, 9]))
            .save(&a)
            .unwrap();
        let t2 = cache.get(&a).unwrap();
        assert!(!t2.from_cache);
        assert_ne!(t2.hash, t1.hash);
        assert_eq!(t2.original, (100, 200));
        assert_eq!(t2.rgba.dimensions(), (16, 32));
    }

    #[test]
    fn corrupt_entries_are_remade() {
        let d = tempfile::tempdir().unwrap();
        let cache = ThumbCache::new(d.path().join("thumbs"), 48);
        let a = painting(d.path(), "a.png", [50, 60, 70]);
        let t = cache.get(&a).unwrap();
        let entry = cache.entry_path(&t.hash);
        // Truncated entry.
        let bytes = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap();
        assert!(cache.cached(&a).is_none());
        assert!(!cache.get(&a).unwrap().from_cache);
        assert!(cache.get(&a).unwrap().from_cache);
        // A flipped byte fails the checksum.
        let mut bytes = std::fs::read(&entry).unwrap();
        bytes[60] ^= 0xff;
        std::fs::write(&entry, &bytes).unwrap();
        assert!(!cache.get(&a).unwrap().from_cache);
        // A garbage pointer is ignored.
        let p = cache.pointer_path(&a).unwrap();
        std::fs::write(&p, "not a hash").unwrap();
        assert!(cache.cached(&a).is_none());
        assert!(cache.get(&a).unwrap().from_cache);
        // Another side is another entry.
        let other = ThumbCache::new(d.path().join("thumbs"), 16);
        assert!(other.cached(&a).is_none());
        assert_eq!(other.get(&a).unwrap().rgba.width(), 16);
    }

    #[test]
    fn bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let cache = ThumbCache::new(d.path().join("thumbs"), 48);
        let bad = d.path().join("bad.jpg");
        std::fs::write(&bad, b"not an image").unwrap();
        let e = cache.get(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.jpg"), "{e}");
        let missing = d.path().join("missing.jpg");
        let e = cache.get(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.jpg"), "{e}");
    }

    #[test]
    fn transparent_thumbnails_keep_alpha() {
        let d = tempfile::tempdir().unwrap();
        let cache = ThumbCache::new(d.path().join("thumbs"), 20);
        let p = d.path().join("t.png");
        image::RgbaImage::from_pixel(40, 40, image::Rgba([10, 20, 30, 100]))
            .save(&p)
            .unwrap();
        cache.get(&p).unwrap();
        let t = cache.get(&p).unwrap();
        assert!(t.from_cache);
        assert_eq!(t.rgba.get_pixel(3, 3).0, [10, 20, 30, 100]);
    }
}
