//! EmoSEM for an interactive viewer: a loaded [`MaskRuntime`] (kept by the engine's model
//! registry, `jobs::models`); each emotion's probability map is computed at the size the
//! viewer shows (not the original's, which may be huge) and handed over as a [`ViewResult`]
//! as soon as it is ready.
//!
//! Model folders are looked for in `models/emosem` (installed real weights), then
//! `models/demo/emosem` (the demo kit, [`locate`]). A grid model whose tower the engine
//! does not know by name (the demo kit's PACL patch tower) gets the PACL tower installed
//! beside it (`<model>/../pacl`, `models/demo/pacl`, `models/pacl`) when its grid matches.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::features::ImageEncoder;
use super::postprocess::{postprocess_refined, EmotionResult, Logits};
use super::{prompt_ids, save, Decoding, Emosem, EmosemConfig, Paradigm, EMOTIONS};
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::tokenize::TextTokenizer;

/// Where EmoSEM weights are looked for, in order: `emosem`, then `demo/emosem`, each in
/// the user's models folder first, then in `models` ([`crate::locate_model`]).
pub fn locate(models: &Path) -> Option<PathBuf> {
    crate::locate_model(models, &["emosem", "demo/emosem"])
}

/// A loaded EmoSEM with its tokenizer and frozen image encoder.
pub struct MaskRuntime {
    model: Emosem,
    encoder: ImageEncoder,
    tok: TextTokenizer,
    /// The model folder (shown to users).
    pub source: PathBuf,
}

impl MaskRuntime {
    /// Single-Mask or Multi-Masks.
    pub fn paradigm(&self) -> Paradigm {
        self.model.config().paradigm
    }
}

/// Loads the model folder `dir` with the shipped GPT-2 tokenizer (`assets`) and the image
/// encoder its configuration names (SAM and CLIP from `models` for the paper
/// configuration).
pub fn load_runtime(
    dir: &Path,
    assets: &Path,
    models: &Path,
    device: &Device,
) -> Result<MaskRuntime> {
    let tok = TextTokenizer::gpt2_from_assets(assets)?;
    let model = Emosem::load(dir, &tok, device)?;
    let cfg = model.config().clone();
    // Grid towers named `pacl:<folder>` (the demo kit's) resolve in `ImageEncoder::open`.
    let encoder = ImageEncoder::open(&cfg.image, models, None, device)?;
    Ok(MaskRuntime {
        model,
        encoder,
        tok,
        source: dir.to_path_buf(),
    })
}

/// The size the probability maps are computed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewSize {
    /// The image's aspect ratio, longest side at most this many pixels (never larger than
    /// the image).
    MaxSide(usize),
    /// Exactly this width and height (e.g. a ground-truth mask's).
    Exact(usize, usize),
}

impl ViewSize {
    /// The (width, height) for an image of `w` x `h`.
    pub fn resolve(self, w: u32, h: u32) -> (usize, usize) {
        match self {
            ViewSize::Exact(a, b) => (a.max(1), b.max(1)),
            ViewSize::MaxSide(m) => {
                let (w, h) = (w.max(1) as f64, h.max(1) as f64);
                let s = (m.max(1) as f64 / w.max(h)).min(1.0);
                (
                    ((w * s).round() as usize).max(1),
                    ((h * s).round() as usize).max(1),
                )
            }
        }
    }
}

/// One emotion of one image, at the requested view size.
#[derive(Debug, Clone)]
pub struct ViewResult {
    /// The image file.
    pub image: PathBuf,
    /// The original image's (width, height).
    pub image_size: (u32, u32),
    /// The paradigm of the model that produced it.
    pub paradigm: Paradigm,
    /// Probability map, mask, components (in view pixels), area share and explanation.
    pub result: EmotionResult,
}

/// Segments and explains `emotions` (empty: all eight) of `image` with a loaded runtime;
/// `on_result` receives each emotion as soon as it is ready; a cancelled `progress` stops
/// between decoder passes. Explanations are decoded as the model's configuration says.
pub fn run_view(
    rt: &MaskRuntime,
    image: &Path,
    emotions: &[Emotion],
    size: ViewSize,
    device: &Device,
    on_result: impl FnMut(ViewResult),
    progress: &dyn Progress,
) -> Result<()> {
    run_view_with(rt, image, emotions, size, None, device, on_result, progress)
}

/// [`run_view`] with the explanations decoded by `decoding` (`None`: the model's
/// configuration, [`super::EmosemConfig::decoding`]).
#[allow(clippy::too_many_arguments)]
pub fn run_view_with(
    rt: &MaskRuntime,
    image: &Path,
    emotions: &[Emotion],
    size: ViewSize,
    decoding: Option<Decoding>,
    device: &Device,
    mut on_result: impl FnMut(ViewResult),
    progress: &dyn Progress,
) -> Result<()> {
    let (w, h) = image::image_dimensions(image).map_err(|e| Error::image(image, e.to_string()))?;
    let features = rt.encoder.encode_file(image, device)?;
    let cfg = rt.model.config();
    let emotions: Vec<Emotion> = if emotions.is_empty() {
        EMOTIONS.to_vec()
    } else {
        emotions
            .iter()
            .copied()
            .filter(|e| *e != Emotion::SomethingElse)
            .collect()
    };
    let (vw, vh) = size.resolve(w, h);
    // The maps are refined to the painting's edges (guided filter) before thresholding.
    let guide =
        crate::imaging::guided::Guide::from_image(&crate::imaging::load_image(image)?, vw, vh);
    let content = rt.encoder.content_share(w, h);
    let side = cfg.mask_side();
    let groups: Vec<Vec<Emotion>> = match cfg.paradigm {
        Paradigm::Single => emotions.iter().map(|&e| vec![e]).collect(),
        Paradigm::Multi => vec![emotions.clone()],
    };
    let title = crate::models::text_memory::PaintingText::for_image(image).title;
    let words = rt.model.painting_words(&rt.tok, title.as_deref())?;
    for group in groups {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let (masks, ids) = rt.model.analyze_titled(
            &features,
            &group,
            decoding.unwrap_or(cfg.decoding),
            words.as_ref(),
        )?;
        for (j, &e) in group.iter().enumerate() {
            let logits: Vec<f32> = masks.i(j)?.flatten_all()?.to_vec1()?;
            let text = rt.tok.decode(&ids[j])?.trim().to_string();
            let result = postprocess_refined(
                e,
                &Logits {
                    data: &logits,
                    width: side,
                    height: side,
                    content,
                },
                Some(&guide),
                vw,
                vh,
                text,
            )?;
            on_result(ViewResult {
                image: image.to_path_buf(),
                image_size: (w, h),
                paradigm: cfg.paradigm,
                result,
            });
        }
    }
    Ok(())
}

/// Writes an untrained model of `cfg` to `dir` with the shipped GPT-2 tokenizer's
/// prompts: the starting point of a training run, and a model for tests of the tools that
/// read model folders. Variables initialised to a constant (norm scales and shifts) keep
/// it; the others are drawn from N(0, 1 / fan_in) (fan_in: the last dimension) with a
/// generator seeded with `seed`, so the same seed writes the same weights.
pub fn write_initial_model(cfg: &EmosemConfig, assets: &Path, dir: &Path, seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    cfg.validate()?;
    let tok = TextTokenizer::gpt2_from_assets(assets)?;
    let ids = prompt_ids(cfg, &tok)?;
    let vm = VarMap::new();
    Emosem::new(
        cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        ids,
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut vars: Vec<(String, candle_core::Var)> = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("EmoSEM: the variable map is poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, v) in vars {
        let t = v.as_tensor();
        let vals: Vec<f32> = t.flatten_all()?.to_vec1()?;
        if vals.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        let fan_in = t.dims().last().copied().unwrap_or(1).max(1) as f64;
        let (mean, std) = (0.0, 1.0 / fan_in.sqrt());
        // Box-Muller normal draws.
        let fresh: Vec<f32> = (0..vals.len())
            .map(|_| {
                let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
                let u2: f64 = rng.gen();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + std * z) as f32
            })
            .collect();
        v.set(&Tensor::from_vec(fresh, t.shape(), t.device())?)?;
    }
    save(dir, cfg, &vm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emosem::features::PatchColourGrid;

    #[test]
    fn view_sizes_keep_the_aspect_and_never_upscale() {
        assert_eq!(ViewSize::MaxSide(100).resolve(400, 200), (100, 50));
        assert_eq!(ViewSize::MaxSide(1000).resolve(400, 200), (400, 200));
        assert_eq!(ViewSize::Exact(7, 9).resolve(400, 200), (7, 9));
    }

    #[test]
    fn a_written_model_is_located_loaded_and_streams_every_emotion() {
        let assets = crate::find_assets().expect("assets");
        let tmp = tempfile::tempdir().unwrap();
        let models = tmp.path();
        assert!(locate(models).is_none());
        let mut cfg = EmosemConfig::small(
            Paradigm::Multi,
            4,
            PatchColourGrid::DIM,
            PatchColourGrid::NAME,
        );
        cfg.explainer.n_embd = 16;
        cfg.explainer.n_layer = 1;
        cfg.explainer.n_head = 2;
        cfg.prefix_hidden = 16;
        cfg.max_explanation_tokens = 3;
        write_initial_model(&cfg, &assets, &models.join("demo/emosem"), 7).unwrap();
        write_initial_model(&cfg, &assets, &models.join("again"), 7).unwrap();
        assert_eq!(
            std::fs::read(models.join("again/model.safetensors")).unwrap(),
            std::fs::read(models.join("demo/emosem/model.safetensors")).unwrap()
        );
        let dir = locate(models).unwrap();
        assert!(dir.ends_with("demo/emosem"));
        let rt = load_runtime(&dir, &assets, models, &Device::Cpu).unwrap();
        let img = models.join("p.png");
        image::RgbImage::from_fn(90, 60, |x, y| image::Rgb([x as u8, y as u8, 40]))
            .save(&img)
            .unwrap();
        let mut got = Vec::new();
        run_view(
            &rt,
            &img,
            &[],
            ViewSize::MaxSide(45),
            &Device::Cpu,
            |r| got.push(r),
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(got.len(), 8);
        for r in &got {
            assert_eq!(r.image_size, (90, 60));
            assert_eq!(
                (r.result.probability.width, r.result.probability.height),
                (45, 30)
            );
        }
        let mut one = Vec::new();
        run_view(
            &rt,
            &img,
            &[Emotion::Fear],
            ViewSize::Exact(10, 20),
            &Device::Cpu,
            |r| one.push(r),
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].result.emotion, Emotion::Fear);
        assert_eq!(
            (one[0].result.mask.width, one[0].result.mask.height),
            (10, 20)
        );
    }

    #[test]
    fn an_unknown_tower_without_pacl_names_what_is_missing() {
        let assets = crate::find_assets().expect("assets");
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = EmosemConfig::small(Paradigm::Multi, 4, 8, "some-tower");
        cfg.explainer.n_embd = 16;
        cfg.explainer.n_layer = 1;
        cfg.explainer.n_head = 2;
        cfg.prefix_hidden = 16;
        let dir = tmp.path().join("emosem");
        write_initial_model(&cfg, &assets, &dir, 1).unwrap();
        let err = load_runtime(&dir, &assets, tmp.path(), &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("some-tower") && err.contains("pacl"), "{err}");
    }
}
