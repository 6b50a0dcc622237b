//! Image decoding with safety limits and EXIF orientation, and the per-model
//! preprocessing of the reference code (see `shared/docs/reference-notes.md`):
//! SEVLM (224x224 squash, ImageNet statistics), CLIP (bicubic shortest side 224,
//! centre crop, CLIP statistics) and SAM (longest side 1024, SAM statistics, pad).

pub mod guided;

use std::io::Cursor;
use std::path::Path;

use candle_core::{Device, Tensor};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage, RgbaImage};

use crate::error::{read_file, Error, Result};

/// Largest accepted side in pixels.
pub const MAX_SIDE: u32 = 20_000;
/// Largest decoded allocation in bytes (a 20,000 x 20,000 RGB image is 1.2 GB; real
/// paintings are far smaller, so 1 GiB refuses decompression bombs early).
pub const MAX_ALLOC: u64 = 1 << 30;

/// ImageNet mean (SEVLM's reference transform).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// CLIP's mean.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's standard deviation.
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];
/// SAM's mean on 0..255 pixels.
pub const SAM_MEAN: [f32; 3] = [123.675, 116.28, 103.53];
/// SAM's standard deviation on 0..255 pixels.
pub const SAM_STD: [f32; 3] = [58.395, 57.12, 57.375];

/// Decodes an image file (jpeg, png, webp, tiff, bmp), applies its EXIF orientation and
/// refuses images over [`MAX_SIDE`] or [`MAX_ALLOC`].
pub fn load_image(path: &Path) -> Result<DynamicImage> {
    let bytes = read_file(path)?;
    decode_image(&bytes, path)
}

/// Decodes image bytes; `path` names the source in errors.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<DynamicImage> {
    let (mut decoder, _) = checked_decoder(bytes, path)?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| describe(path, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// What [`check_image_file`] found in an image that decodes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageCheck {
    /// Width in pixels (before EXIF orientation).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Problems that do not stop decoding but make the result doubtful (a truncated
    /// file decodes to an image whose missing part is grey).
    pub warnings: Vec<String>,
}

/// The decoder for `bytes` with the shared rules applied before any pixel is decoded: not
/// empty, a known format, a readable header, non-zero sides within [`MAX_SIDE`] and an
/// allocation within [`MAX_ALLOC`].
fn checked_decoder<'a>(
    bytes: &'a [u8],
    path: &Path,
) -> Result<(impl ImageDecoder + 'a, image::ImageFormat)> {
    if bytes.is_empty() {
        return Err(Error::image(path, "empty file (0 bytes)"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::image(path, e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(Error::image(path, "unknown or unsupported image format"));
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| describe(path, e))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::image(path, "image has zero width or height"));
    }
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(Error::image(
            path,
            format!("{w}x{h} pixels: sides over {MAX_SIDE} px are refused"),
        ));
    }
    Ok((decoder, format))
}

/// Checks an image file by the decoder's own rules without decoding its pixels: a known
/// format, a readable header, sides and allocation within [`MAX_SIDE`] and [`MAX_ALLOC`]
/// (the same limits as [`load_image`]), and a complete file (see [`truncation`]). A
/// folder is refused as such.
pub fn check_image_file(path: &Path) -> Result<ImageCheck> {
    if path.is_dir() {
        return Err(Error::image(path, "is a folder, not an image file"));
    }
    let bytes = read_file(path)?;
    let (decoder, format) = checked_decoder(&bytes, path)?;
    let (width, height) = decoder.dimensions();
    let warnings = truncation(&bytes, format).into_iter().collect();
    Ok(ImageCheck {
        width,
        height,
        warnings,
    })
}

/// Why the encoded `bytes` look cut short, if they do: a JPEG must end with its
/// end-of-image marker (`FF D9`, trailing padding allowed) and a PNG with its `IEND`
/// chunk. The decoders accept such files silently and fill the missing rows.
pub fn truncation(bytes: &[u8], format: image::ImageFormat) -> Option<String> {
    match format {
        image::ImageFormat::Jpeg => {
            let end = bytes
                .iter()
                .rposition(|&b| b != 0 && !b.is_ascii_whitespace())
                .map_or(0, |i| i + 1);
            let body = &bytes[..end];
            (!body.ends_with(&[0xFF, 0xD9])).then(|| {
                format!(
                    "truncated JPEG: no end-of-image marker (FFD9) after {} bytes; the missing part decodes as grey",
                    bytes.len()
                )
            })
        }
        image::ImageFormat::Png => {
            let has_iend = bytes.len() >= 12 && &bytes[bytes.len() - 8..bytes.len() - 4] == b"IEND";
            (!has_iend).then(|| {
                format!(
                    "truncated PNG: no IEND chunk at the end of its {} bytes",
                    bytes.len()
                )
            })
        }
        _ => None,
    }
}

fn describe(path: &Path, e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(l) => Error::image(
            path,
            format!("refused: {l} (sides over {MAX_SIDE} px or more than {} MiB decoded; a decompression bomb?)", MAX_ALLOC >> 20),
        ),
        other => Error::image(path, other.to_string()),
    }
}

/// A thumbnail whose longest side is at most `max_side` (never upscaled).
pub fn thumbnail(img: &DynamicImage, max_side: u32) -> RgbaImage {
    if img.width().max(img.height()) <= max_side {
        img.to_rgba8()
    } else {
        img.thumbnail(max_side, max_side).to_rgba8()
    }
}

/// A preprocessed image: channels-first `f32` pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessed {
    /// `3 * height * width` values, channel-major (C, H, W).
    pub data: Vec<f32>,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// For SAM: the size of the resized content before padding (height, width).
    pub content: (usize, usize),
}

impl Preprocessed {
    /// The value at channel `c`, row `y`, column `x`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// As a `(1, 3, H, W)` tensor on `device`.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (1, 3, self.height, self.width),
            device,
        )?)
    }
}

fn normalise(
    rgb: &RgbImage,
    scale: f32,
    mean: [f32; 3],
    std: [f32; 3],
    out_h: usize,
    out_w: usize,
) -> Preprocessed {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = vec![0f32; 3 * out_h * out_w];
    for (x, y, p) in rgb.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        for c in 0..3 {
            data[(c * out_h + y) * out_w + x] = (p[c] as f32 * scale - mean[c]) / std[c];
        }
    }
    Preprocessed {
        data,
        height: out_h,
        width: out_w,
        content: (h, w),
    }
}

/// SEVLM's reference transform: resize to 224x224 without keeping the aspect ratio
/// (bilinear with antialiasing, like PIL), scale to 0..1, ImageNet mean/std.
pub fn preprocess_sevlm(img: &DynamicImage) -> Preprocessed {
    preprocess_sevlm_at(img, 224)
}

/// [`preprocess_sevlm`] at `size` x `size` (a CLIP tower of another input size).
pub fn preprocess_sevlm_at(img: &DynamicImage, size: u32) -> Preprocessed {
    let rgb = img.resize_exact(size, size, FilterType::Triangle).to_rgb8();
    normalise(
        &rgb,
        1.0 / 255.0,
        IMAGENET_MEAN,
        IMAGENET_STD,
        size as usize,
        size as usize,
    )
}

/// CLIP's transform: bicubic resize of the shortest side to `size`, centre crop
/// `size`x`size`, scale to 0..1, CLIP mean/std.
pub fn preprocess_clip(img: &DynamicImage, size: u32) -> Preprocessed {
    let (w, h) = (img.width(), img.height());
    let (nw, nh) = if w <= h {
        (
            size,
            ((h as f64 * size as f64 / w as f64).round() as u32).max(size),
        )
    } else {
        (
            ((w as f64 * size as f64 / h as f64).round() as u32).max(size),
            size,
        )
    };
    let resized = img.resize_exact(nw, nh, FilterType::CatmullRom);
    // torchvision's CenterCrop rounds the offset: int(round((h - size) / 2)).
    let left = ((nw - size) as f64 / 2.0).round() as u32;
    let top = ((nh - size) as f64 / 2.0).round() as u32;
    let rgb = resized.crop_imm(left, top, size, size).to_rgb8();
    normalise(
        &rgb,
        1.0 / 255.0,
        CLIP_MEAN,
        CLIP_STD,
        size as usize,
        size as usize,
    )
}

/// SAM's transform: resize so the longest side is `target` (1024 for SAM; bilinear),
/// normalise 0..255 pixels with SAM mean/std, pad bottom and right with zeros to
/// `target`x`target`.
pub fn preprocess_sam(img: &DynamicImage, target: u32) -> Preprocessed {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let scale = target as f64 / w.max(h);
    // segment_anything's ResizeLongestSide: int(x * scale + 0.5).
    let nw = ((w * scale + 0.5) as u32).clamp(1, target);
    let nh = ((h * scale + 0.5) as u32).clamp(1, target);
    let rgb = img.resize_exact(nw, nh, FilterType::Triangle).to_rgb8();
    normalise(
        &rgb,
        1.0,
        SAM_MEAN,
        SAM_STD,
        target as usize,
        target as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb};

    fn solid(w: u32, h: u32, c: [u8; 3]) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(c)))
    }

    fn encode(img: &DynamicImage, fmt: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, fmt).unwrap();
        buf.into_inner()
    }

    #[test]
    fn decodes_every_supported_format() {
        let img = solid(5, 3, [10, 200, 30]);
        for fmt in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
        ] {
            let bytes = encode(&img, fmt);
            let d = decode_image(&bytes, Path::new("x")).unwrap();
            assert_eq!((d.width(), d.height()), (5, 3), "{fmt:?}");
        }
    }

    #[test]
    fn malformed_images_are_errors_naming_the_file() {
        let cases: &[&[u8]] = &[
            b"",
            b"not an image",
            &[0x89, b'P', b'N', b'G', 13, 10, 26, 10, 0, 0],
        ];
        for bytes in cases {
            let e = decode_image(bytes, Path::new("art/broken.png"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("art/broken.png: image:"), "{e}");
        }
        let e = load_image(Path::new("/no/such.jpg"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such.jpg"), "{e}");
    }

    #[test]
    fn truncated_jpeg_and_png_are_reported_and_header_limits_apply() {
        let dir = tempfile::tempdir().unwrap();
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        }));
        for (fmt, name) in [(ImageFormat::Jpeg, "a.jpg"), (ImageFormat::Png, "a.png")] {
            let bytes = encode(&img, fmt);
            let whole = dir.path().join(name);
            std::fs::write(&whole, &bytes).unwrap();
            let c = check_image_file(&whole).unwrap();
            assert_eq!((c.width, c.height), (64, 48));
            assert!(c.warnings.is_empty(), "{:?}", c.warnings);
            let cut = dir.path().join(format!("cut-{name}"));
            std::fs::write(&cut, &bytes[..bytes.len() * 3 / 10]).unwrap();
            let w = check_image_file(&cut).map(|c| c.warnings.join(" "));
            match w {
                Ok(w) => assert!(w.contains("truncated"), "{name}: {w}"),
                Err(e) => assert!(e.to_string().contains("cut-"), "{e}"),
            }
        }
        // A folder is named as such.
        let e = check_image_file(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a folder"), "{e}");
    }

    #[test]
    fn header_check_refuses_what_decoding_refuses() {
        // A PNG header claiming 30000 x 30000 px.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&30000u32.to_be_bytes());
        png.extend_from_slice(&30000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("huge.png");
        std::fs::write(&p, &png).unwrap();
        assert!(load_image(&p).is_err());
        let e = check_image_file(&p).unwrap_err().to_string();
        assert!(e.contains("huge.png"), "{e}");
    }

    #[test]
    fn refuses_sides_over_the_limit_without_decoding() {
        // A valid PNG header claiming 30000 x 10 pixels; no pixel data is needed to refuse.
        let img = solid(30_000, 1, [0, 0, 0]);
        let bytes = encode(&img, ImageFormat::Png);
        let e = decode_image(&bytes, Path::new("bomb.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bomb.png") && e.contains("20000"), "{e}");
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 4x2 JPEG with an EXIF orientation of 6 (rotate 90 degrees clockwise) decodes as 2x4.
        let img = solid(4, 2, [255, 0, 0]);
        let jpeg = encode(&img, ImageFormat::Jpeg);
        let exif: [u8; 34] = [
            0xFF, 0xE1, 0x00, 0x22, b'E', b'x', b'i', b'f', 0, 0, // APP1, length 34
            b'I', b'I', 0x2A, 0x00, 0x08, 0, 0, 0, // TIFF header, IFD at 8
            0x01, 0x00, // one entry
            0x12, 0x01, 0x03, 0x00, 0x01, 0, 0, 0, 0x06, 0x00, 0, 0, // orientation = 6
            0, 0, // next IFD offset (first half; the rest follows)
        ];
        let mut bytes = jpeg[..2].to_vec();
        bytes.extend_from_slice(&exif);
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&jpeg[2..]);
        let d = decode_image(&bytes, Path::new("rot.jpg")).unwrap();
        assert_eq!((d.width(), d.height()), (2, 4));
    }

    #[test]
    fn sevlm_squashes_and_uses_imagenet_stats() {
        let p = preprocess_sevlm(&solid(300, 100, [255, 0, 128]));
        assert_eq!((p.height, p.width, p.data.len()), (224, 224, 3 * 224 * 224));
        let want = [
            (1.0 - 0.485) / 0.229,
            (0.0 - 0.456) / 0.224,
            (128.0 / 255.0 - 0.406) / 0.225,
        ];
        for (c, w) in want.iter().enumerate() {
            for (y, x) in [(0, 0), (223, 223), (100, 7)] {
                assert!(
                    (p.at(c, y, x) - w).abs() < 1e-5,
                    "c{c} {y},{x}: {}",
                    p.at(c, y, x)
                );
            }
        }
    }

    #[test]
    fn clip_centre_crops_after_shortest_side_resize() {
        // Left half black, right half white, 448 x 224: the crop keeps the middle, so the
        // left and right quarters of the crop are black and white.
        let mut img = RgbImage::from_pixel(448, 224, Rgb([0, 0, 0]));
        for y in 0..224 {
            for x in 224..448 {
                img.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        let p = preprocess_clip(&DynamicImage::ImageRgb8(img), 224);
        assert_eq!((p.height, p.width), (224, 224));
        let black = (0.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        let white = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        assert!((p.at(0, 50, 10) - black).abs() < 1e-5);
        assert!((p.at(0, 50, 210) - white).abs() < 1e-5);
    }

    #[test]
    fn sam_resizes_longest_side_and_pads_with_zeros() {
        let p = preprocess_sam(&solid(200, 100, [123, 116, 103]), 1024);
        assert_eq!((p.height, p.width), (1024, 1024));
        assert_eq!(p.content, (512, 1024));
        let v = (123.0 - SAM_MEAN[0]) / SAM_STD[0];
        assert!((p.at(0, 0, 0) - v).abs() < 1e-5);
        assert!((p.at(0, 511, 1023) - v).abs() < 1e-5);
        assert_eq!(p.at(0, 512, 0), 0.0);
        assert_eq!(p.at(2, 1023, 1023), 0.0);
        let t = p.to_tensor(&Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 3, 1024, 1024]);
    }

    #[test]
    fn thumbnails_keep_aspect_and_never_upscale() {
        let t = thumbnail(&solid(640, 320, [1, 2, 3]), 128);
        assert_eq!((t.width(), t.height()), (128, 64));
        let small = thumbnail(&solid(20, 10, [1, 2, 3]), 128);
        assert_eq!((small.width(), small.height()), (20, 10));
    }
}
