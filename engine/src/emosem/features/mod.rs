//! EmoSEM's image side: the features the model reads ([`ImageFeatures`]) and the frozen
//! encoders that compute them ([`ImageEncoder`]): SAM ViT-B + CLIP ViT-B/16 (paper, cached
//! on disk) or a small grid tower ([`GridEncoder`]).
//!
//! The small tower of the demo kit implements [`GridEncoder`]; the built-in
//! [`PatchColourGrid`] (per-patch colour statistics, no weights) is a real, weight-free
//! tower used by the tests and usable for models trained on it.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use image::DynamicImage;

pub mod pacl_grid;

pub use pacl_grid::{PaclTowerGrid, PACL_TOWER_PREFIX};

use super::cache::{sha256_bytes, sha256_files, EmbeddingCache};
use super::ImageSource;
use crate::error::{read_file, Error, Result};
use crate::imaging::{decode_image, preprocess_sam, preprocess_sevlm_at};
use crate::models::clip_vision::ClipVision;
use crate::models::nn::Mode;
use crate::models::sam::Sam;

/// What the model reads for a batch of images.
#[derive(Debug, Clone)]
pub enum ImageFeatures {
    /// The paper's features.
    Paper {
        /// SAM image embeddings `[B, 256, 64, 64]` of the padded 1024 frame.
        sam: Tensor,
        /// CLIP ViT-B/16 grid tokens after `ln_post`, `[B, 196, 768]`.
        clip_grid: Tensor,
    },
    /// A small tower's grid `[B, G * G, D]`, row-major.
    Grid {
        /// The grid.
        grid: Tensor,
    },
}

impl ImageFeatures {
    /// The device the features are on.
    pub fn device(&self) -> &Device {
        match self {
            ImageFeatures::Paper { sam, .. } => sam.device(),
            ImageFeatures::Grid { grid } => grid.device(),
        }
    }

    /// The features on `device` (themselves when already there): features cached on the
    /// host meet a model on the GPU.
    pub fn to_device(&self, device: &Device) -> Result<ImageFeatures> {
        if self.device().same_device(device) {
            return Ok(self.clone());
        }
        Ok(match self {
            ImageFeatures::Paper { sam, clip_grid } => ImageFeatures::Paper {
                sam: sam.to_device(device)?,
                clip_grid: clip_grid.to_device(device)?,
            },
            ImageFeatures::Grid { grid } => ImageFeatures::Grid {
                grid: grid.to_device(device)?,
            },
        })
    }

    /// Rows `rows` of a batch.
    pub fn select(&self, rows: &[usize]) -> Result<ImageFeatures> {
        let dev = self.device();
        let idx = Tensor::new(rows.iter().map(|&r| r as u32).collect::<Vec<_>>(), dev)?;
        Ok(match self {
            ImageFeatures::Paper { sam, clip_grid } => ImageFeatures::Paper {
                sam: sam.index_select(&idx, 0)?,
                clip_grid: clip_grid.index_select(&idx, 0)?,
            },
            ImageFeatures::Grid { grid } => ImageFeatures::Grid {
                grid: grid.index_select(&idx, 0)?,
            },
        })
    }

    /// Concatenates single-image features into a batch.
    pub fn stack(items: &[ImageFeatures]) -> Result<ImageFeatures> {
        if let Some(first) = items.first() {
            for (i, f) in items.iter().enumerate().skip(1) {
                crate::device::ensure_devices_match(
                    first.device(),
                    f.device(),
                    &format!("EmoSEM: the image features of batch item {i}"),
                )?;
            }
        }
        if items
            .iter()
            .all(|f| matches!(f, ImageFeatures::Grid { .. }))
        {
            let g = items
                .iter()
                .filter_map(|f| match f {
                    ImageFeatures::Grid { grid } => Some(grid.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>();
            return Ok(ImageFeatures::Grid {
                grid: Tensor::cat(&g, 0)?,
            });
        }
        let mut sams = Vec::new();
        let mut clips = Vec::new();
        for f in items {
            match f {
                ImageFeatures::Paper { sam, clip_grid } => {
                    sams.push(sam.clone());
                    clips.push(clip_grid.clone());
                }
                ImageFeatures::Grid { .. } => {
                    return Err(Error::Invalid(
                        "EmoSEM: cannot batch grid and paper features together".into(),
                    ))
                }
            }
        }
        Ok(ImageFeatures::Paper {
            sam: Tensor::cat(&sams, 0)?,
            clip_grid: Tensor::cat(&clips, 0)?,
        })
    }
}

/// A frozen tower that turns an image into a grid of features.
pub trait GridEncoder: Send + Sync {
    /// Its name (stored in the model's configuration and in cache keys).
    fn name(&self) -> String;
    /// Grid side G.
    fn side(&self) -> usize;
    /// Feature width D.
    fn dim(&self) -> usize;
    /// The grid `[1, G * G, D]` of one image, row-major.
    fn encode(&self, image: &DynamicImage, device: &Device) -> Result<Tensor>;
}

/// A weight-free tower: the image squashed to `side * patch` pixels square, and per patch
/// the mean and standard deviation of R, G, B (0..1), the mean lightness and the mean
/// absolute horizontal and vertical gradients (8 features).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchColourGrid {
    /// Grid side.
    pub side: usize,
    /// Pixels per patch side.
    pub patch: usize,
}

impl PatchColourGrid {
    /// The registered name.
    pub const NAME: &'static str = "patch-colour";
    /// Features per patch.
    pub const DIM: usize = 8;

    /// The features of an RGB image already at `side * patch` pixels square, row-major
    /// `[G * G * 8]`.
    pub fn features(&self, rgb: &image::RgbImage) -> Vec<f32> {
        let (s, p) = (self.side, self.patch);
        let px = |x: u32, y: u32, c: usize| rgb.get_pixel(x, y)[c] as f32 / 255.0;
        let mut out = Vec::with_capacity(s * s * Self::DIM);
        for gy in 0..s {
            for gx in 0..s {
                let mut sum = [0f32; 3];
                let mut sq = [0f32; 3];
                let (mut dx, mut dy) = (0f32, 0f32);
                for y in 0..p {
                    for x in 0..p {
                        let (ix, iy) = ((gx * p + x) as u32, (gy * p + y) as u32);
                        for c in 0..3 {
                            let v = px(ix, iy, c);
                            sum[c] += v;
                            sq[c] += v * v;
                        }
                        let l = |x: u32, y: u32| (px(x, y, 0) + px(x, y, 1) + px(x, y, 2)) / 3.0;
                        if x + 1 < p {
                            dx += (l(ix + 1, iy) - l(ix, iy)).abs();
                        }
                        if y + 1 < p {
                            dy += (l(ix, iy + 1) - l(ix, iy)).abs();
                        }
                    }
                }
                let n = (p * p) as f32;
                let mean = [sum[0] / n, sum[1] / n, sum[2] / n];
                out.extend_from_slice(&mean);
                for c in 0..3 {
                    out.push((sq[c] / n - mean[c] * mean[c]).max(0.0).sqrt());
                }
                out.push((mean[0] + mean[1] + mean[2]) / 3.0);
                let edges = (p * (p - 1)).max(1) as f32;
                out.push((dx + dy) / (2.0 * edges));
            }
        }
        out
    }
}

impl GridEncoder for PatchColourGrid {
    fn name(&self) -> String {
        format!("{}-{}x{}", Self::NAME, self.side, self.patch)
    }

    fn side(&self) -> usize {
        self.side
    }

    fn dim(&self) -> usize {
        Self::DIM
    }

    fn encode(&self, image: &DynamicImage, device: &Device) -> Result<Tensor> {
        let n = (self.side * self.patch) as u32;
        let rgb = image
            .resize_exact(n, n, image::imageops::FilterType::Triangle)
            .to_rgb8();
        let f = self.features(&rgb);
        Ok(Tensor::from_vec(
            f,
            (1, self.side * self.side, Self::DIM),
            device,
        )?)
    }
}

/// The grid tower named `name` for a model configured with `side` and `dim`. Known here:
/// [`PatchColourGrid`] (`patch-colour`, 16-pixel patches) and trained PACL patch towers
/// (`pacl:<folder under models/>`, e.g. the demo kit's `pacl:demo/pacl`). Other towers are
/// supplied by the caller through [`ImageEncoder::Grid`].
pub fn grid_encoder(
    name: &str,
    side: usize,
    dim: usize,
    models: &Path,
    device: &Device,
) -> Result<Box<dyn GridEncoder>> {
    if name == PatchColourGrid::NAME && dim == PatchColourGrid::DIM {
        return Ok(Box::new(PatchColourGrid { side, patch: 16 }));
    }
    if let Some(rel) = name.strip_prefix(PACL_TOWER_PREFIX) {
        let t = PaclTowerGrid::load(models, rel, device)?;
        if t.side() != side || t.dim() != dim {
            return Err(Error::Invalid(format!(
                "EmoSEM: the tower `{name}` gives {}x{}x{}, the model takes {side}x{side}x{dim}",
                t.side(),
                t.side(),
                t.dim()
            )));
        }
        return Ok(Box::new(t));
    }
    Err(Error::Invalid(format!(
        "EmoSEM: the grid tower `{name}` ({side}x{side}x{dim}) is not available here (known: `patch-colour`, and trained PACL towers as `pacl:<folder under models/>`); pass it to the analysis explicitly"
    )))
}

/// The files the encoders of `source` are loaded from (under `models`, as
/// [`ImageEncoder::open`] finds them): SAM's and CLIP's checkpoints, a PACL tower's
/// `config.json` and `model.safetensors`; none for a tower without weights. Part of the
/// key of cached results (`jobs::view_cache`).
pub fn encoder_files(source: &ImageSource, models: &Path) -> Result<Vec<PathBuf>> {
    match source {
        ImageSource::Paper { sam, clip } => {
            let mut files = checkpoint_files(&models.join(sam))?;
            files.extend(checkpoint_files(&models.join(clip))?);
            Ok(files)
        }
        ImageSource::Grid { tower, .. } => Ok(match tower.strip_prefix(PACL_TOWER_PREFIX) {
            Some(rel) => {
                let dir = models.join(rel);
                vec![dir.join("config.json"), dir.join("model.safetensors")]
            }
            None => Vec::new(),
        }),
    }
}

/// The frozen encoders of one configuration.
pub enum ImageEncoder {
    /// SAM ViT-B and CLIP ViT-B/16, with their on-disk caches.
    Paper {
        /// SAM (only its image encoder is used).
        sam: Box<Sam>,
        /// CLIP's vision tower.
        clip: Box<ClipVision>,
        /// Cache of SAM embeddings.
        sam_cache: Option<EmbeddingCache>,
        /// Cache of CLIP grids.
        clip_cache: Option<EmbeddingCache>,
    },
    /// A grid tower.
    Grid(Box<dyn GridEncoder>),
}

impl ImageEncoder {
    /// The encoders of `source`: SAM and CLIP loaded from `models` (caches under
    /// `cache_dir` when given, keyed by the checkpoints' SHA-256), or the named grid tower.
    pub fn open(
        source: &ImageSource,
        models: &Path,
        cache_dir: Option<&Path>,
        device: &Device,
    ) -> Result<Self> {
        match source {
            ImageSource::Paper { sam, clip } => {
                let sam_path = models.join(sam);
                let clip_path = models.join(clip);
                let cache = |path: &Path, tag: &str| -> Result<Option<EmbeddingCache>> {
                    match cache_dir {
                        Some(d) => {
                            let key = sha256_files(&checkpoint_files(path)?, tag)?;
                            Ok(Some(EmbeddingCache::new(d.join(tag), key)))
                        }
                        None => Ok(None),
                    }
                };
                Ok(ImageEncoder::Paper {
                    sam: Box::new(Sam::load(&sam_path, device)?),
                    clip: Box::new(ClipVision::load(&clip_path, device)?),
                    sam_cache: cache(&sam_path, "emosem-sam-1024")?,
                    clip_cache: cache(&clip_path, "emosem-clip-grid-224")?,
                })
            }
            ImageSource::Grid { side, dim, tower } => Ok(ImageEncoder::Grid(grid_encoder(
                tower, *side, *dim, models, device,
            )?)),
        }
    }

    /// Features of one image file (`[1, ...]`).
    pub fn encode_file(&self, path: &Path, device: &Device) -> Result<ImageFeatures> {
        let bytes = read_file(path)?;
        self.encode_bytes(&bytes, path, device)
    }

    /// Features of encoded image bytes; `path` names them in errors.
    pub fn encode_bytes(
        &self,
        bytes: &[u8],
        path: &Path,
        device: &Device,
    ) -> Result<ImageFeatures> {
        match self {
            ImageEncoder::Grid(t) => {
                let img = decode_image(bytes, path)?;
                Ok(ImageFeatures::Grid {
                    grid: t.encode(&img, device)?,
                })
            }
            ImageEncoder::Paper {
                sam,
                clip,
                sam_cache,
                clip_cache,
            } => {
                let key = sha256_bytes(bytes);
                let mut img: Option<DynamicImage> = None;
                let mut decoded = || -> Result<DynamicImage> {
                    if img.is_none() {
                        img = Some(decode_image(bytes, path)?);
                    }
                    img.clone().ok_or_else(|| Error::image(path, "not decoded"))
                };
                let sam_fn = |img: DynamicImage| -> Result<Tensor> {
                    let s = sam.config().image_size() as u32;
                    let x = preprocess_sam(&img, s).to_tensor(device)?;
                    sam.image_embeddings(&x)
                };
                let sam_emb = match sam_cache {
                    Some(c) => c.get_or_compute(&key, device, || sam_fn(decoded()?))?,
                    None => sam_fn(decoded()?)?,
                };
                let clip_fn = |img: DynamicImage| -> Result<Tensor> {
                    // 224 for CLIP ViT-B/16; the tower's own size otherwise.
                    let size = clip.config().image_size as u32;
                    let x = preprocess_sevlm_at(&img, size).to_tensor(device)?;
                    Ok(clip.forward(&x, Mode::Infer)?.grid)
                };
                let clip_grid = match clip_cache {
                    Some(c) => c.get_or_compute(&key, device, || clip_fn(decoded()?))?,
                    None => clip_fn(decoded()?)?,
                };
                Ok(ImageFeatures::Paper {
                    sam: sam_emb,
                    clip_grid,
                })
            }
        }
    }

    /// The share (height, width) of the mask frame that the image covers: SAM pads the
    /// resized image at the bottom and right; the grid towers squash the whole image.
    pub fn content_share(&self, width: u32, height: u32) -> (f32, f32) {
        match self {
            ImageEncoder::Grid(_) => (1.0, 1.0),
            ImageEncoder::Paper { sam, .. } => {
                let s = sam.config().image_size() as f64;
                let scale = s / width.max(height).max(1) as f64;
                let nw = ((width as f64 * scale + 0.5) as u32).clamp(1, s as u32);
                let nh = ((height as f64 * scale + 0.5) as u32).clamp(1, s as u32);
                (nh as f32 / s as f32, nw as f32 / s as f32)
            }
        }
    }
}

fn checkpoint_files(path: &Path) -> Result<Vec<PathBuf>> {
    crate::models::loading::checkpoint_files(path)
}
