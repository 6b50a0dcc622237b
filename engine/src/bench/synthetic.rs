//! Synthetic collections for scale benchmarks (issue 24, `artemo bench map --paintings
//! N`): N paintings made from the shipped ones by a seeded random crop (55-95 % of each
//! side), a size (longest side 240-480 px), a hue rotation and a brightness/contrast
//! change, written as JPEG with a manifest CSV that keeps the source's artist, date and
//! style (so the browse bar's facets have real values) and a title naming the source.
//!
//! The folder also gets `SYNTHETIC.json` (count, seed, source manifest): a later call
//! with the same values reuses the folder instead of writing it again.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::collection::Collection;
use crate::error::{write_atomic, Error, Result};
use crate::progress::Progress;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Stamp {
    count: usize,
    seed: u64,
    source: PathBuf,
}

/// What [`synthetic_collection`] made.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// The manifest CSV (open it as a collection).
    pub manifest: PathBuf,
    /// Whether an existing folder with the same count, seed and source was reused.
    pub reused: bool,
    /// Bytes of the images written (or found).
    pub bytes: u64,
}

/// Writes `n` synthetic paintings made from the collection at `source` (the shipped
/// manifest) into `out` (created), or reuses `out` when it already holds them.
pub fn synthetic_collection(
    source: &Path,
    out: &Path,
    n: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Synthetic> {
    let stamp = Stamp {
        count: n,
        seed,
        source: source.to_path_buf(),
    };
    let stamp_file = out.join("SYNTHETIC.json");
    let manifest = out.join("paintings.csv");
    if let Ok(text) = std::fs::read_to_string(&stamp_file) {
        if serde_json::from_str::<Stamp>(&text).ok().as_ref() == Some(&stamp) && manifest.is_file()
        {
            let bytes = folder_bytes(&out.join("images"));
            return Ok(Synthetic {
                manifest,
                reused: true,
                bytes,
            });
        }
    }
    let coll = Collection::open(source)?;
    if coll.paintings.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no painting to make synthetic ones from",
            source.display()
        )));
    }
    progress.report(0.0, "decoding the source paintings");
    let sources: Vec<(usize, DynamicImage)> = coll
        .paintings
        .par_iter()
        .enumerate()
        .filter_map(|(i, p)| {
            crate::imaging::load_image(&p.path)
                .ok()
                .map(|img| (i, img.thumbnail(720, 720)))
        })
        .collect();
    if sources.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: none of its images could be read",
            source.display()
        )));
    }
    let images = out.join("images");
    std::fs::create_dir_all(&images).map_err(|e| Error::io(&images, e))?;
    let mut rows = vec![String::from("file,title,artist,date,style")];
    let chunk = 500;
    let mut bytes = 0u64;
    for c in 0..n.div_ceil(chunk) {
        let range = c * chunk..((c + 1) * chunk).min(n);
        let made: Vec<Result<(String, u64)>> = range
            .clone()
            .into_par_iter()
            .map(|i| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(
                    seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                let (si, img) = &sources[i % sources.len()];
                let v = variant(img, &mut rng);
                let name = format!("syn-{i:05}.jpg");
                let path = images.join(&name);
                let mut buf = std::io::Cursor::new(Vec::new());
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85)
                    .encode_image(&v.to_rgb8())
                    .map_err(|e| Error::image(&path, e.to_string()))?;
                write_atomic(&path, buf.get_ref())?;
                let p = &coll.paintings[*si];
                let cell = |s: Option<&str>| csv_cell(s.unwrap_or(""));
                let title = format!("{} (variant {})", p.display_title(), i / sources.len() + 1);
                Ok((
                    format!(
                        "images/{name},{},{},{},{}",
                        csv_cell(&title),
                        cell(p.artist.as_deref()),
                        cell(p.date.as_deref()),
                        cell(p.style.as_deref())
                    ),
                    buf.get_ref().len() as u64,
                ))
            })
            .collect();
        for m in made {
            let (row, b) = m?;
            rows.push(row);
            bytes += b;
        }
        progress.report(
            range.end as f32 / n.max(1) as f32,
            &format!("synthetic paintings {}/{n}", range.end),
        );
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
    }
    rows.push(String::new());
    write_atomic(&manifest, rows.join("\n").as_bytes())?;
    let text = serde_json::to_string_pretty(&stamp).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&stamp_file, text.as_bytes())?;
    Ok(Synthetic {
        manifest,
        reused: false,
        bytes,
    })
}

/// A crop, resize, hue rotation and tone change of `img`.
fn variant(img: &DynamicImage, rng: &mut impl Rng) -> DynamicImage {
    let (w, h) = (img.width().max(1), img.height().max(1));
    let fw = rng.gen_range(0.55..0.95f32);
    let fh = rng.gen_range(0.55..0.95f32);
    let (cw, ch) = (((w as f32) * fw) as u32, ((h as f32) * fh) as u32);
    let (cw, ch) = (cw.max(8), ch.max(8));
    let x = rng.gen_range(0..=w.saturating_sub(cw));
    let y = rng.gen_range(0..=h.saturating_sub(ch));
    let side = rng.gen_range(240..=480u32);
    let out = img
        .crop_imm(x, y, cw.min(w), ch.min(h))
        .thumbnail(side, side);
    let hue = rng.gen_range(-40..=40i32);
    let bright = rng.gen_range(-20..=20i32);
    let contrast = rng.gen_range(-15.0..15.0f32);
    out.huerotate(hue)
        .brighten(bright)
        .adjust_contrast(contrast)
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_reuses_and_opens() {
        let assets = crate::find_assets().unwrap();
        let src = assets.join("paintings/aic/paintings.csv");
        let out = tempfile::tempdir().unwrap();
        let ok = crate::progress::Silent;
        let a = synthetic_collection(&src, out.path(), 12, 7, &ok).unwrap();
        assert!(!a.reused);
        let c = Collection::open(&a.manifest).unwrap();
        assert_eq!(c.paintings.len(), 12);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(c.paintings[0].artist.is_some());
        assert!(c.paintings[0].display_title().contains("(variant 1)"));
        let img = crate::imaging::load_image(&c.paintings[3].path).unwrap();
        assert!(img.width().max(img.height()) <= 480);
        // Same count and seed: reused; another seed: rewritten with other pixels.
        let b = synthetic_collection(&src, out.path(), 12, 7, &ok).unwrap();
        assert!(b.reused);
        assert_eq!(b.bytes, a.bytes);
        let before = std::fs::read(&c.paintings[0].path).unwrap();
        let d = synthetic_collection(&src, out.path(), 12, 8, &ok).unwrap();
        assert!(!d.reused);
        assert_ne!(std::fs::read(&c.paintings[0].path).unwrap(), before);
    }
}
