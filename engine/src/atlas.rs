//! The Map's thumbnail atlas (issue 24): every painting of a collection as a small
//! thumbnail packed into a few large RGBA pages, so the window uploads a handful of
//! textures and draws thousands of thumbnails from them. Built off the UI thread from the
//! thumbnail cache ([`crate::thumbs`]), then cached on disk beside the map.
//!
//! Packing: square cells of `cell` pixels, row-major, `page_side / cell` per row; each
//! thumbnail (longest side `cell`, aspect kept) sits in the top-left corner of its cell;
//! the last page is only as tall as its rows. 10,000 paintings at 64 px take 10 pages of
//! 2048 x 2048 (160 MiB as RGBA).
//!
//! Disk cache: `<cache>/map-atlas/<collection key, 16 hex>-<cell>.atlas`:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ARTATLS1` |
//! | 4 | length h of the header, little-endian |
//! | h | header JSON: key, cell, page side, page heights and byte lengths, slots, failures |
//! | n | the pages, PNG each, back to back |
//! | 32 | SHA-256 of everything before it |
//!
//! A file that is truncated, has another key or cell, a bad checksum or a page that does
//! not decode is treated as missing: the atlas is rebuilt and rewritten atomically.

use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbaImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{write_atomic, Error, Result};
use crate::progress::Progress;
use crate::thumbs::ThumbCache;

const MAGIC: &[u8; 8] = b"ARTATLS1";

/// The atlas' cell side in pixels (the map's thumbnails up to this size are sharp).
pub const ATLAS_CELL: u32 = 64;
/// The side of a full atlas page in pixels.
pub const PAGE_SIDE: u32 = 2048;

/// Where one painting's thumbnail lies in the atlas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Page index.
    pub page: u32,
    /// Left edge in the page, pixels.
    pub x: u32,
    /// Top edge in the page, pixels.
    pub y: u32,
    /// Width of the thumbnail, pixels.
    pub w: u32,
    /// Height of the thumbnail, pixels.
    pub h: u32,
}

/// One page: `width x height` RGBA8 pixels, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct AtlasPage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

/// The thumbnails of a list of paintings, packed.
#[derive(Debug, Clone, PartialEq)]
pub struct Atlas {
    /// The key it was built for (the map's collection key).
    pub key: String,
    /// Cell side in pixels.
    pub cell: u32,
    /// The pages.
    pub pages: Vec<AtlasPage>,
    /// One slot per painting, in the order given (`None`: it could not be read).
    pub slots: Vec<Option<Slot>>,
    /// The paintings that could not be read: (index, why).
    pub failed: Vec<(usize, String)>,
    /// Whether it was read from the disk cache.
    pub from_cache: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    key: String,
    cell: u32,
    page_side: u32,
    pages: Vec<(u32, u32, u64)>,
    slots: Vec<Option<Slot>>,
    failed: Vec<(usize, String)>,
}

impl Atlas {
    /// Bytes of pixel memory the pages take.
    pub fn bytes(&self) -> usize {
        self.pages.iter().map(|p| p.rgba.len()).sum()
    }

    /// The texture coordinates (min u, min v, max u, max v) of `slot` on its page.
    pub fn uv(&self, slot: &Slot) -> [f32; 4] {
        let Some(p) = self.pages.get(slot.page as usize) else {
            return [0.0; 4];
        };
        let (w, h) = (p.width as f32, p.height as f32);
        [
            slot.x as f32 / w,
            slot.y as f32 / h,
            (slot.x + slot.w) as f32 / w,
            (slot.y + slot.h) as f32 / h,
        ]
    }
}

/// The atlas cache file of a collection key and cell size.
pub fn cache_file(cache: &Path, key: &str, cell: u32) -> PathBuf {
    cache
        .join("map-atlas")
        .join(format!("{}-{cell}.atlas", &key[..16.min(key.len())]))
}

/// The atlas of `paths` (thumbnails from `thumbs`, made there on a miss), read from the
/// disk cache under `cache` when one was built for `key` and `cell`, else built and
/// written there. `progress` gets the done share ("thumbnails 300/10000") and may cancel.
pub fn atlas(
    paths: &[PathBuf],
    key: &str,
    cell: u32,
    thumbs: &ThumbCache,
    cache: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Atlas> {
    let file = cache.map(|c| cache_file(c, key, cell));
    if let Some(a) = file
        .as_deref()
        .and_then(|f| read(f, key, cell, paths.len()))
    {
        return Ok(a);
    }
    let a = build(paths, key, cell, PAGE_SIDE, thumbs, progress)?;
    if let Some(f) = &file {
        if let Err(e) = write(f, &a) {
            tracing::warn!("map atlas cache: {e}");
        }
    }
    Ok(a)
}

/// Builds the atlas of `paths` with pages of `page_side` pixels.
pub fn build(
    paths: &[PathBuf],
    key: &str,
    cell: u32,
    page_side: u32,
    thumbs: &ThumbCache,
    progress: &dyn Progress,
) -> Result<Atlas> {
    let cell = cell.clamp(4, page_side.max(4));
    let per_row = (page_side / cell).max(1) as usize;
    let per_page = per_row * per_row;
    let n = paths.len();
    let mut pages: Vec<AtlasPage> = Vec::new();
    let mut slots = vec![None; n];
    let mut failed = Vec::new();
    let mut next = 0usize;
    let chunk = 256;
    for (c, part) in paths.chunks(chunk).enumerate() {
        let small: Vec<std::result::Result<RgbaImage, String>> = part
            .par_iter()
            .map(|p| {
                let t = thumbs
                    .cached(p)
                    .map(Ok)
                    .unwrap_or_else(|| thumbs.get(p))
                    .map_err(|e| e.to_string())?;
                Ok(crate::imaging::thumbnail(
                    &DynamicImage::ImageRgba8(t.rgba),
                    cell,
                ))
            })
            .collect();
        for (k, r) in small.into_iter().enumerate() {
            let i = c * chunk + k;
            let img = match r {
                Ok(img) => img,
                Err(e) => {
                    failed.push((i, e));
                    continue;
                }
            };
            let (page, pos) = (next / per_page, next % per_page);
            next += 1;
            if page == pages.len() {
                let left = n - i;
                let rows = left.min(per_page).div_ceil(per_row) as u32;
                let (w, h) = (per_row as u32 * cell, rows * cell);
                pages.push(AtlasPage {
                    width: w,
                    height: h,
                    rgba: vec![0; (w * h * 4) as usize],
                });
            }
            let (x, y) = ((pos % per_row) as u32 * cell, (pos / per_row) as u32 * cell);
            let pg = &mut pages[page];
            let stride = pg.width as usize * 4;
            for row in 0..img.height() {
                let src =
                    &img.as_raw()[(row * img.width() * 4) as usize..][..(img.width() * 4) as usize];
                let at = (y + row) as usize * stride + x as usize * 4;
                pg.rgba[at..at + src.len()].copy_from_slice(src);
            }
            slots[i] = Some(Slot {
                page: page as u32,
                x,
                y,
                w: img.width(),
                h: img.height(),
            });
        }
        let done = (c * chunk + part.len()).min(n);
        progress.report(
            done as f32 / n.max(1) as f32,
            &format!("thumbnails {done}/{n}"),
        );
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
    }
    Ok(Atlas {
        key: key.to_string(),
        cell,
        pages,
        slots,
        failed,
        from_cache: false,
    })
}

fn write(path: &Path, a: &Atlas) -> Result<()> {
    let mut encoded = Vec::with_capacity(a.pages.len());
    for p in &a.pages {
        let mut buf = Vec::new();
        let enc = image::codecs::png::PngEncoder::new_with_quality(
            &mut buf,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Sub,
        );
        image::ImageEncoder::write_image(
            enc,
            &p.rgba,
            p.width,
            p.height,
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| Error::image(path, e.to_string()))?;
        encoded.push(buf);
    }
    let header = Header {
        key: a.key.clone(),
        cell: a.cell,
        page_side: a.pages.first().map_or(0, |p| p.width),
        pages: a
            .pages
            .iter()
            .zip(&encoded)
            .map(|(p, e)| (p.width, p.height, e.len() as u64))
            .collect(),
        slots: a.slots.clone(),
        failed: a.failed.clone(),
    };
    let h = serde_json::to_vec(&header).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut out = Vec::with_capacity(h.len() + encoded.iter().map(Vec::len).sum::<usize>() + 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    for e in &encoded {
        out.extend_from_slice(e);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    write_atomic(path, &out)
}

fn read(path: &Path, key: &str, cell: u32, n: usize) -> Option<Atlas> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 8 + 4 + 32 || &bytes[..8] != MAGIC {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let hlen = u32::from_le_bytes(body[8..12].try_into().ok()?) as usize;
    let header: Header = serde_json::from_slice(body.get(12..12 + hlen)?).ok()?;
    if header.key != key || header.cell != cell || header.slots.len() != n {
        return None;
    }
    let mut at = 12 + hlen;
    let mut pages = Vec::with_capacity(header.pages.len());
    for &(w, h, len) in &header.pages {
        let png = body.get(at..at + len as usize)?;
        at += len as usize;
        let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).ok()?;
        let rgba = img.to_rgba8();
        if rgba.dimensions() != (w, h) {
            return None;
        }
        pages.push(AtlasPage {
            width: w,
            height: h,
            rgba: rgba.into_raw(),
        });
    }
    let slots_ok = header.slots.iter().flatten().all(|s| {
        pages
            .get(s.page as usize)
            .is_some_and(|p| s.x + s.w <= p.width && s.y + s.h <= p.height)
    });
    (at == body.len() && slots_ok).then_some(Atlas {
        key: header.key,
        cell: header.cell,
        pages,
        slots: header.slots,
        failed: header.failed,
        from_cache: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paintings(dir: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("p{i}.png"));
                let (w, h) = if i % 2 == 0 { (90, 60) } else { (40, 80) };
                image::RgbImage::from_pixel(w, h, image::Rgb([i as u8 * 20, 100, 255 - i as u8]))
                    .save(&p)
                    .unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn packs_pages_and_slots() {
        let d = tempfile::tempdir().unwrap();
        let mut paths = paintings(d.path(), 11);
        paths.insert(3, d.path().join("missing.png"));
        let thumbs = ThumbCache::new(d.path().join("thumbs"), 32);
        // 16-pixel cells on 32-pixel pages: 4 per page, 11 readable -> 3 pages.
        let a = build(&paths, "k", 16, 32, &thumbs, &crate::progress::Silent).unwrap();
        assert_eq!(a.pages.len(), 3);
        assert_eq!((a.pages[0].width, a.pages[0].height), (32, 32));
        // The last page holds 3 thumbnails: two rows.
        assert_eq!((a.pages[2].width, a.pages[2].height), (32, 32));
        assert_eq!(a.failed.len(), 1);
        assert_eq!(a.failed[0].0, 3);
        assert!(a.failed[0].1.contains("missing.png"), "{}", a.failed[0].1);
        assert!(a.slots[3].is_none());
        let s0 = a.slots[0].unwrap();
        assert_eq!((s0.page, s0.x, s0.y, s0.w), (0, 0, 0, 16));
        assert!((10..=11).contains(&s0.h), "{s0:?}");
        let s1 = a.slots[1].unwrap();
        assert_eq!((s1.page, s1.x, s1.y, s1.w, s1.h), (0, 16, 0, 8, 16));
        let s4 = a.slots[4].unwrap();
        assert_eq!((s4.page, s4.x, s4.y), (0, 16, 16));
        let s5 = a.slots[5].unwrap();
        assert_eq!((s5.page, s5.x, s5.y), (1, 0, 0));
        // The pixels are the painting's colour.
        let p = &a.pages[0];
        // (The thumbnail cache stores opaque thumbnails as JPEG: close, not exact.)
        let px = &p.rgba[(2 * p.width as usize + 2) * 4..][..4];
        for (got, want) in px.iter().zip([0u8, 100, 255, 255]) {
            assert!((*got as i32 - want as i32).abs() <= 12, "{px:?}");
        }
        assert_eq!(a.uv(&s1), [0.5, 0.0, 0.75, 0.5]);
        assert_eq!(a.bytes(), 3 * 32 * 32 * 4);
    }

    #[test]
    fn cached_on_disk_and_rebuilt_when_corrupt() {
        let d = tempfile::tempdir().unwrap();
        let paths = paintings(d.path(), 5);
        let thumbs = ThumbCache::new(d.path().join("thumbs"), 64);
        let cache = d.path().join("cache");
        let ok = crate::progress::Silent;
        let a = atlas(&paths, "abc", 24, &thumbs, Some(&cache), &ok).unwrap();
        assert!(!a.from_cache);
        let b = atlas(&paths, "abc", 24, &thumbs, Some(&cache), &ok).unwrap();
        assert!(b.from_cache);
        assert_eq!(
            (b.slots.clone(), b.pages.clone(), b.failed.clone()),
            (a.slots.clone(), a.pages.clone(), a.failed.clone())
        );
        // Another key or cell: not served.
        assert!(
            !atlas(&paths, "abd", 24, &thumbs, Some(&cache), &ok)
                .unwrap()
                .from_cache
        );
        assert!(
            !atlas(&paths, "abc", 16, &thumbs, Some(&cache), &ok)
                .unwrap()
                .from_cache
        );
        // A flipped byte: rebuilt, then served again.
        let f = cache_file(&cache, "abc", 24);
        let mut bytes = std::fs::read(&f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&f, &bytes).unwrap();
        assert!(
            !atlas(&paths, "abc", 24, &thumbs, Some(&cache), &ok)
                .unwrap()
                .from_cache
        );
        assert!(
            atlas(&paths, "abc", 24, &thumbs, Some(&cache), &ok)
                .unwrap()
                .from_cache
        );
        // Cancelled.
        let stop = std::sync::atomic::AtomicBool::new(true);
        let p = crate::progress::FnProgress::with_cancel(|_, _| {}, &stop);
        assert!(matches!(
            build(&paths, "x", 24, 64, &thumbs, &p),
            Err(Error::Cancelled)
        ));
    }
}
