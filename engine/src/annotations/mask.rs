//! Binary masks and per-pixel label maps: PNG (binary, index, colour), APOLO `.npy`
//! (2-D 0/1 map) and COCO RLE (see [`super::rle`]), and IoU.

use std::io::Cursor;
use std::path::Path;

use image::{GrayImage, ImageFormat, Luma, Rgba, RgbaImage};
use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};

use crate::emotion::Emotion;
use crate::error::{read_file, write_atomic, Error, Result};

/// A binary mask, row-major, one byte per pixel (0 or 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` values, 0 or 1, row-major.
    pub data: Vec<u8>,
}

impl Mask {
    /// An empty mask.
    pub fn new(width: usize, height: usize) -> Self {
        Mask {
            width,
            height,
            data: vec![0; width * height],
        }
    }

    /// From row-major values; any non-zero value counts as foreground.
    pub fn from_values(width: usize, height: usize, values: &[u8]) -> Result<Self> {
        if values.len() != width * height {
            return Err(Error::Invalid(format!(
                "mask of {width}x{height} needs {} values, got {}",
                width * height,
                values.len()
            )));
        }
        Ok(Mask {
            width,
            height,
            data: values.iter().map(|&v| (v != 0) as u8).collect(),
        })
    }

    /// The value at (x, y).
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.data[y * self.width + x] != 0
    }

    /// Sets (x, y).
    pub fn set(&mut self, x: usize, y: usize, on: bool) {
        self.data[y * self.width + x] = on as u8;
    }

    /// Foreground pixels.
    pub fn area(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }

    /// True when no pixel is set.
    pub fn is_empty(&self) -> bool {
        self.data.iter().all(|&v| v == 0)
    }

    /// Intersection over union of the foregrounds; `None` when both are empty. Masks of
    /// different sizes are an error.
    pub fn iou(&self, other: &Mask) -> Result<Option<f64>> {
        if (self.width, self.height) != (other.width, other.height) {
            return Err(Error::Invalid(format!(
                "IoU of masks of different sizes: {}x{} and {}x{}",
                self.width, self.height, other.width, other.height
            )));
        }
        let (mut inter, mut uni) = (0usize, 0usize);
        for (a, b) in self.data.iter().zip(&other.data) {
            let (a, b) = (*a != 0, *b != 0);
            inter += (a && b) as usize;
            uni += (a || b) as usize;
        }
        Ok((uni > 0).then(|| inter as f64 / uni as f64))
    }

    /// Reads an APOLO-style `.npy`: a 2-D array of bool, integers or floats; non-zero is
    /// foreground.
    pub fn read_npy(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        Self::from_npy_bytes(&bytes, path)
    }

    /// Parses `.npy` bytes; `path` names the source in errors.
    pub fn from_npy_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        check_npy_size(bytes, path)?;
        macro_rules! try_type {
            ($t:ty, $nz:expr) => {
                if let Ok(a) = Array2::<$t>::read_npy(Cursor::new(bytes)) {
                    let (h, w) = a.dim();
                    let data = a.iter().map(|v| $nz(*v) as u8).collect();
                    return Ok(Mask {
                        width: w,
                        height: h,
                        data,
                    });
                }
            };
        }
        try_type!(u8, |v: u8| v != 0);
        try_type!(bool, |v: bool| v);
        try_type!(i64, |v: i64| v != 0);
        try_type!(i32, |v: i32| v != 0);
        try_type!(f64, |v: f64| v != 0.0);
        try_type!(f32, |v: f32| v != 0.0);
        try_type!(i8, |v: i8| v != 0);
        try_type!(u16, |v: u16| v != 0);
        try_type!(i16, |v: i16| v != 0);
        try_type!(u32, |v: u32| v != 0);
        try_type!(u64, |v: u64| v != 0);
        // Report the error of the most common layout.
        let e = Array2::<u8>::read_npy(Cursor::new(bytes))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "unsupported array".into());
        Err(Error::parse(path, None, format!("not a 2-D npy mask: {e}")))
    }

    /// The mask as `.npy` bytes (uint8 0/1, shape (height, width), C order).
    pub fn to_npy_bytes(&self) -> Result<Vec<u8>> {
        let a = Array2::from_shape_vec((self.height, self.width), self.data.clone())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut buf = Vec::new();
        a.write_npy(&mut buf)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(buf)
    }

    /// Writes an APOLO-style `.npy` atomically.
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_npy_bytes()?)
    }

    /// Reads a PNG (or any image): a pixel is foreground when its luminance is above 127
    /// or, for images with transparency, when it is not transparent and not black.
    pub fn read_png(path: &Path) -> Result<Self> {
        let img = crate::imaging::load_image(path)?;
        let has_alpha = img.color().has_alpha();
        let rgba = img.to_rgba8();
        let (w, h) = (rgba.width() as usize, rgba.height() as usize);
        let data = rgba
            .pixels()
            .map(|p| {
                let lum = (p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000;
                if has_alpha && p[3] < 128 {
                    0
                } else {
                    (lum > 127 || (has_alpha && lum > 0)) as u8
                }
            })
            .collect();
        Ok(Mask {
            width: w,
            height: h,
            data,
        })
    }

    /// As a black/white 8-bit image (255 = foreground).
    pub fn to_gray(&self) -> GrayImage {
        GrayImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            Luma([if self.get(x as usize, y as usize) {
                255
            } else {
                0
            }])
        })
    }

    /// Writes a binary PNG atomically.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        write_png(path, &image::DynamicImage::ImageLuma8(self.to_gray()))
    }

    /// An RGBA overlay in `color` (opaque where set, transparent elsewhere).
    pub fn to_color(&self, color: [u8; 3]) -> RgbaImage {
        RgbaImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            if self.get(x as usize, y as usize) {
                Rgba([color[0], color[1], color[2], 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        })
    }

    /// Connected components under `connectivity`, each as its pixel bounding box
    /// `(x0, y0, x1, y1)` inclusive, in raster order of each component's first pixel.
    pub fn component_boxes(&self, connectivity: Connectivity) -> Vec<(usize, usize, usize, usize)> {
        let mut seen = vec![false; self.data.len()];
        let mut boxes = Vec::new();
        let mut stack = Vec::new();
        let (w, h) = (self.width as isize, self.height as isize);
        let steps: &[(isize, isize)] = match connectivity {
            Connectivity::Four => &[(-1, 0), (1, 0), (0, -1), (0, 1)],
            Connectivity::Eight => &[
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ],
        };
        for start in 0..self.data.len() {
            if self.data[start] == 0 || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            while let Some(i) = stack.pop() {
                let (x, y) = (i % self.width, i / self.width);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
                for &(dx, dy) in steps {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    if nx < 0 || ny < 0 || nx >= w || ny >= h {
                        continue;
                    }
                    let j = ny as usize * self.width + nx as usize;
                    if self.data[j] != 0 && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
            boxes.push((x0, y0, x1, y1));
        }
        boxes
    }
}

/// Which neighbours join a pixel to a connected component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// Edge neighbours only (left, right, up, down).
    Four,
    /// Edge and corner neighbours: OpenCV's `cv2.connectedComponents` default, which
    /// APOLO's box mode uses (Tianwei3989/apolo `eval_map_iou.py:63`).
    #[default]
    Eight,
}

/// Rejects `.npy` bytes whose header promises more data than the file holds, before any
/// allocation (a 12-byte file must not make the reader allocate gigabytes).
fn check_npy_size(bytes: &[u8], path: &Path) -> Result<()> {
    let bad = |m: &str| Err(Error::parse(path, Some("npy header".into()), m.to_string()));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return bad("not an npy file (missing magic `\\x93NUMPY`)");
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return bad(&format!("unsupported npy version {v}")),
    };
    let Some(header) = bytes.get(start..start.saturating_add(hlen)) else {
        return bad("header longer than the file");
    };
    let header = String::from_utf8_lossy(header);
    let Some(shape_at) = header.find("'shape'") else {
        return bad("header has no `shape`");
    };
    let rest = &header[shape_at..];
    let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else {
        return bad("malformed `shape`");
    };
    if close < open {
        return bad("malformed `shape`");
    }
    let dims: Vec<&str> = rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if dims.len() != 2 {
        return bad(&format!(
            "expected a 2-D array, found {} dimensions",
            dims.len()
        ));
    }
    let mut n: u128 = 1;
    for d in &dims {
        let Ok(v) = d.parse::<u64>() else {
            return bad(&format!("bad dimension `{d}`"));
        };
        if v > crate::imaging::MAX_SIDE as u64 {
            return bad(&format!("side {v} exceeds {} px", crate::imaging::MAX_SIDE));
        }
        n *= v as u128;
    }
    // The smallest element is one byte: the data must hold at least n bytes.
    if ((bytes.len() - (start + hlen)) as u128) < n {
        return bad(&format!(
            "shape needs {n} elements but the file is too short"
        ));
    }
    Ok(())
}

fn write_png(path: &Path, img: &image::DynamicImage) -> Result<()> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, ImageFormat::Png)
        .map_err(|e| Error::image(path, e.to_string()))?;
    write_atomic(path, &buf.into_inner())
}

/// A per-pixel emotion label map: 0 = none, `i + 1` = emotion index `i` (ArtEmis order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Row-major labels.
    pub data: Vec<u8>,
}

impl LabelMap {
    /// Builds a map from per-emotion masks, later masks painting over earlier ones.
    pub fn from_masks(width: usize, height: usize, masks: &[(Emotion, &Mask)]) -> Result<Self> {
        let mut data = vec![0u8; width * height];
        for (e, m) in masks {
            if (m.width, m.height) != (width, height) {
                return Err(Error::Invalid(format!(
                    "mask for {e} is {}x{}, expected {width}x{height}",
                    m.width, m.height
                )));
            }
            for (d, v) in data.iter_mut().zip(&m.data) {
                if *v != 0 {
                    *d = e.index() as u8 + 1;
                }
            }
        }
        Ok(LabelMap {
            width,
            height,
            data,
        })
    }

    /// The emotion at (x, y).
    pub fn get(&self, x: usize, y: usize) -> Option<Emotion> {
        match self.data[y * self.width + x] {
            0 => None,
            v => Emotion::from_index(v as usize - 1),
        }
    }

    /// The mask of one emotion.
    pub fn mask(&self, e: Emotion) -> Mask {
        let want = e.index() as u8 + 1;
        Mask {
            width: self.width,
            height: self.height,
            data: self.data.iter().map(|&v| (v == want) as u8).collect(),
        }
    }

    /// Writes an index PNG (grey level = label) atomically.
    pub fn write_index_png(&self, path: &Path) -> Result<()> {
        let img = GrayImage::from_raw(self.width as u32, self.height as u32, self.data.clone())
            .ok_or_else(|| Error::Invalid("label map size mismatch".into()))?;
        write_png(path, &image::DynamicImage::ImageLuma8(img))
    }

    /// Reads an index PNG written by [`write_index_png`](Self::write_index_png). Values
    /// over 9 are an error naming the pixel.
    pub fn read_index_png(path: &Path) -> Result<Self> {
        let img = crate::imaging::load_image(path)?.to_luma8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let data = img.into_raw();
        if let Some(i) = data.iter().position(|&v| v > 9) {
            return Err(Error::at(
                path,
                format!("pixel ({}, {})", i % w, i / w),
                format!("label {} is not 0..9", data[i]),
            ));
        }
        Ok(LabelMap {
            width: w,
            height: h,
            data,
        })
    }

    /// A colour PNG in the emotion palette (transparent where unlabelled), written atomically.
    pub fn write_color_png(&self, path: &Path) -> Result<()> {
        let img = RgbaImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            match self.get(x as usize, y as usize) {
                Some(e) => {
                    let c = e.color();
                    Rgba([c[0], c[1], c[2], 255])
                }
                None => Rgba([0, 0, 0, 0]),
            }
        });
        write_png(path, &image::DynamicImage::ImageRgba8(img))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Mask {
        let mut m = Mask::new(5, 4);
        for (x, y) in [(0, 0), (1, 0), (1, 1), (4, 3), (3, 3)] {
            m.set(x, y, true);
        }
        m
    }

    #[test]
    fn npy_round_trip_and_numpy_dtypes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.npy");
        let m = sample();
        m.write_npy(&p).unwrap();
        assert_eq!(Mask::read_npy(&p).unwrap(), m);
        // float64 and bool arrays as numpy writes them
        let f = Array2::from_shape_fn((4, 5), |(y, x)| if m.get(x, y) { 1.0f64 } else { 0.0 });
        let mut buf = Vec::new();
        f.write_npy(&mut buf).unwrap();
        assert_eq!(Mask::from_npy_bytes(&buf, &p).unwrap(), m);
        let b = Array2::from_shape_fn((4, 5), |(y, x)| m.get(x, y));
        let mut buf = Vec::new();
        b.write_npy(&mut buf).unwrap();
        assert_eq!(Mask::from_npy_bytes(&buf, &p).unwrap(), m);
    }

    #[test]
    fn malformed_npy_is_an_error_naming_the_file() {
        let good = sample().to_npy_bytes().unwrap();
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 3);
        let three_d = {
            let a = ndarray::Array3::<u8>::zeros((2, 2, 2));
            let mut b = Vec::new();
            a.write_npy(&mut b).unwrap();
            b
        };
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '|u1', 'fortran_order': False, 'shape': (19999, 19999), }";
        huge.extend_from_slice(&(h.len() as u16).to_le_bytes());
        huge.extend_from_slice(h.as_bytes());
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "magic"),
            (b"\x93NUMPY\x09\x00\x00\x00", "version 9"),
            (&truncated, "too short"),
            (&three_d, "3 dimensions"),
            (&huge, "too short"),
        ];
        for (bytes, want) in cases {
            let e = Mask::from_npy_bytes(bytes, Path::new("maps/p_awe.npy"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("maps/p_awe.npy") && e.contains(want),
                "{want}: {e}"
            );
        }
    }

    #[test]
    fn png_binary_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.png");
        sample().write_png(&p).unwrap();
        assert_eq!(Mask::read_png(&p).unwrap(), sample());
    }

    #[test]
    fn label_map_index_and_colour_png() {
        let d = tempfile::tempdir().unwrap();
        let a = sample();
        let mut b = Mask::new(5, 4);
        b.set(1, 1, true);
        b.set(2, 2, true);
        let lm = LabelMap::from_masks(5, 4, &[(Emotion::Awe, &a), (Emotion::Fear, &b)]).unwrap();
        assert_eq!(lm.get(1, 1), Some(Emotion::Fear));
        assert_eq!(lm.get(0, 0), Some(Emotion::Awe));
        assert_eq!(lm.get(2, 0), None);
        let p = d.path().join("idx.png");
        lm.write_index_png(&p).unwrap();
        assert_eq!(LabelMap::read_index_png(&p).unwrap(), lm);
        let c = d.path().join("col.png");
        lm.write_color_png(&c).unwrap();
        assert_eq!(Mask::read_png(&c).unwrap().area(), 6);
        assert_eq!(lm.mask(Emotion::Fear).area(), 2);
        let bad = d.path().join("bad.png");
        GrayImage::from_pixel(2, 2, Luma([200])).save(&bad).unwrap();
        let e = LabelMap::read_index_png(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.png") && e.contains("pixel (0, 0)"), "{e}");
        assert!(LabelMap::from_masks(3, 3, &[(Emotion::Awe, &a)]).is_err());
    }

    #[test]
    fn iou_table() {
        let m = |bits: &[u8]| Mask::from_values(2, 2, bits).unwrap();
        let cases: &[(&[u8], &[u8], Option<f64>)] = &[
            (&[1, 1, 0, 0], &[1, 1, 0, 0], Some(1.0)),
            (&[1, 1, 0, 0], &[0, 1, 1, 0], Some(1.0 / 3.0)),
            (&[1, 0, 0, 0], &[0, 0, 0, 1], Some(0.0)),
            (&[0, 0, 0, 0], &[0, 0, 0, 0], None),
            (&[5, 0, 0, 0], &[1, 0, 0, 0], Some(1.0)),
        ];
        for (a, b, want) in cases {
            assert_eq!(m(a).iou(&m(b)).unwrap(), *want, "{a:?} {b:?}");
        }
        assert!(Mask::new(2, 2).iou(&Mask::new(3, 2)).is_err());
    }

    #[test]
    fn component_boxes_find_each_blob() {
        for c in [Connectivity::Four, Connectivity::Eight] {
            let mut b = sample().component_boxes(c);
            b.sort();
            assert_eq!(b, vec![(0, 0, 1, 1), (3, 3, 4, 3)], "{c:?}");
        }
    }

    #[test]
    fn diagonal_neighbours_join_only_under_eight_connectivity() {
        // Two blobs touching at a corner (x = 1, y = 1 and x = 2, y = 2), plus a lone pixel.
        let mut m = Mask::new(5, 4);
        for (x, y) in [(0, 0), (1, 0), (1, 1), (2, 2), (3, 2), (3, 3), (0, 3)] {
            m.set(x, y, true);
        }
        let mut four = m.component_boxes(Connectivity::Four);
        four.sort();
        assert_eq!(four, vec![(0, 0, 1, 1), (0, 3, 0, 3), (2, 2, 3, 3)]);
        let mut eight = m.component_boxes(Connectivity::Eight);
        eight.sort();
        assert_eq!(eight, vec![(0, 0, 3, 3), (0, 3, 0, 3)]);
        assert_eq!(Connectivity::default(), Connectivity::Eight);
    }
}
