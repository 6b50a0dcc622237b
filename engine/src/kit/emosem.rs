//! The demo kit's EmoSEM (small configuration, CPU): Multi-Masks over the frozen demo
//! PACL patch tower's grid (14 x 14 x 192, [`PaclTowerGrid`](crate::emosem::features::PaclTowerGrid)), trained on Artemo's own
//! stimulus annotations of the train split (polygons rasterised at the 56 x 56 mask
//! resolution, explanations = the regions' utterances). With no pretrained SAM the whole
//! mask decoder trains (FT-MD) and the explainer is a small GPT-2 layout trained from
//! scratch; its explanations are weak and the model card says so.
//!
//! Evaluation writes `<painting>_<emotion>.npy` score maps of the test paintings for the
//! model and two baselines (the train split's mean mask per emotion, "prior", and seeded
//! uniform noise, "chance") and scores them with `artemo eval --task emosem`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};

use crate::annotations::artemis::Split;
use crate::emosem::features::{GridEncoder, ImageFeatures};
use crate::emosem::train::{
    load_stimuli, train, StimulusExample, TrainConfig, TrainItem, TrainReport,
};
use crate::emosem::{Emosem, EmosemConfig, EMOTIONS};
use crate::error::write_atomic;
use crate::error::{read_file, Error, Result};
use crate::progress::Progress;
use crate::tokenize::TextTokenizer;

pub use crate::emosem::recipe::KitEmosemConfig;

/// Training examples: the stimuli of `split` with their frozen grid features.
pub fn examples(
    assets: &Path,
    split: Split,
    cfg: &EmosemConfig,
    tower: &dyn GridEncoder,
    tok: &TextTokenizer,
    device: &Device,
) -> Result<Vec<(StimulusExample, TrainItem)>> {
    let stimuli = load_stimuli(assets, Some(split), cfg.mask_side(), |_, _| (1.0, 1.0), tok)?;
    stimuli
        .into_iter()
        .map(|s| {
            let img = crate::imaging::decode_image(&read_file(&s.image)?, &s.image)?;
            let item = TrainItem {
                features: ImageFeatures::Grid {
                    grid: tower.encode(&img, device)?,
                },
                targets: s.targets.clone(),
            };
            Ok((s, item))
        })
        .collect()
}

/// Trains the kit's EmoSEM on the train split. `progress` gets every step with its
/// losses; a cancelled `progress` stops with [`Error::Cancelled`]. Returns the
/// configuration, the variables and the report.
pub fn train_kit(
    assets: &Path,
    tower: &dyn GridEncoder,
    kit: &KitEmosemConfig,
    limit_paintings: Option<usize>,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(EmosemConfig, VarMap, TrainReport)> {
    let tok = TextTokenizer::gpt2_from_assets(assets)?;
    let cfg = kit.model_config(tower);
    cfg.validate()?;
    let mut ex = examples(assets, Split::Train, &cfg, tower, &tok, device)?;
    if let Some(n) = limit_paintings {
        ex.truncate(n);
    }
    let stimuli: Vec<StimulusExample> = ex.iter().map(|(s, _)| s.clone()).collect();
    let data: Vec<TrainItem> = ex.into_iter().map(|(_, i)| i).collect();
    let prompts = crate::emosem::prompt_ids(&cfg, &tok)?;
    let vm = VarMap::new();
    Emosem::from_varmap(&cfg, &vm, prompts.clone(), device)?;
    crate::models::nn::reseed(&vm, kit.seed)?;
    if kit.mask_prior {
        crate::emosem::install_mask_prior(&cfg, &vm, &prior_masks(&stimuli, cfg.mask_side()))?;
    }
    let tc = TrainConfig {
        steps: kit.steps,
        batch_images: kit.batch_images,
        lr_explainer: kit.lr_explainer,
        lr_mask: Some(kit.lr_mask),
        warmup: kit.warmup,
        lm_weight: kit.lm_weight,
        seed: kit.seed,
        ..Default::default()
    };
    let report = train(&cfg, &vm, prompts, &data, &tc, device, progress)?;
    Ok((cfg, vm, report))
}

/// The prior: each emotion's mean mask over `stimuli` (`side * side`, [`EMOTIONS`]
/// order); an emotion without a mask gets the mean of all masks.
pub fn prior_masks(stimuli: &[StimulusExample], side: usize) -> Vec<Vec<f32>> {
    let mut sums = vec![vec![0f32; side * side]; EMOTIONS.len()];
    let mut counts = vec![0usize; EMOTIONS.len()];
    let mut all = vec![0f32; side * side];
    let mut n_all = 0usize;
    for s in stimuli {
        for t in &s.targets {
            if t.mask.len() != side * side {
                continue;
            }
            if let Some(k) = EMOTIONS.iter().position(|e| *e == t.emotion) {
                sums[k].iter_mut().zip(&t.mask).for_each(|(a, b)| *a += b);
                counts[k] += 1;
            }
            all.iter_mut().zip(&t.mask).for_each(|(a, b)| *a += b);
            n_all += 1;
        }
    }
    sums.into_iter()
        .zip(&counts)
        .map(|(s, &c)| {
            if c > 0 {
                s.into_iter().map(|v| v / c as f32).collect()
            } else {
                all.iter().map(|v| v / n_all.max(1) as f32).collect()
            }
        })
        .collect()
}

/// One generated explanation: (painting, emotion, text).
pub type Explanation = (String, String, String);

/// A system's name and the folder of its score maps.
pub type SystemDir = (String, PathBuf);

/// Writes `<painting>_<emotion>.npy` score maps (`side` x `side`) into `dir`.
pub fn write_score_map(
    dir: &Path,
    painting: &str,
    emotion_name: &str,
    side: usize,
    data: Vec<f32>,
) -> Result<PathBuf> {
    let path = dir.join(format!("{painting}_{emotion_name}.npy"));
    let arr = ndarray::Array2::from_shape_vec((side, side), data)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&arr, &mut bytes)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Writes the test predictions of the model (`emosem/`), of the prior baseline (`prior/`:
/// the train split's mean mask of each emotion) and of the chance baseline (`chance/`:
/// seeded uniform noise) under `out`, one folder per system. Returns the folders and the
/// model's explanations per (painting, emotion). A cancelled `progress` stops with
/// [`Error::Cancelled`] (between test paintings; nothing is reported).
#[allow(clippy::too_many_arguments)]
pub fn write_predictions(
    model: &Emosem,
    assets: &Path,
    tower: &dyn GridEncoder,
    only: Option<&[String]>,
    out: &Path,
    seed: u64,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(Vec<SystemDir>, Vec<Explanation>)> {
    let cfg = model.config().clone();
    let tok = TextTokenizer::gpt2_from_assets(assets)?;
    let side = cfg.mask_side();
    let train_ex = examples(assets, Split::Train, &cfg, tower, &tok, device)?;
    let mut test_ex = examples(assets, Split::Test, &cfg, tower, &tok, device)?;
    if let Some(keep) = only {
        test_ex.retain(|(s, _)| keep.contains(&s.painting));
    }
    // The prior: the mean train mask of each emotion (all emotions' mean when none).
    let train_stimuli: Vec<StimulusExample> = train_ex.into_iter().map(|(s, _)| s).collect();
    let prior = prior_masks(&train_stimuli, side);
    let dirs: Vec<(String, PathBuf)> = ["emosem", "prior", "chance"]
        .iter()
        .map(|n| (n.to_string(), out.join(n).join("npy")))
        .collect();
    for (_, d) in &dirs {
        // Maps of an earlier run (another preset, other test paintings) would be scored
        // with this run's: start from an empty folder.
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut explanations = Vec::new();
    for (s, item) in &test_ex {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let ImageFeatures::Grid { grid } = &item.features else {
            return Err(Error::Invalid("EmoSEM kit: expected grid features".into()));
        };
        let f = ImageFeatures::Grid { grid: grid.clone() };
        let (masks, ids) = model.analyze(&f, &EMOTIONS)?;
        let probs = candle_nn::ops::sigmoid(&masks.to_dtype(DType::F32)?)?;
        for (k, e) in EMOTIONS.iter().enumerate() {
            let p: Vec<f32> = probs.get(k)?.flatten_all()?.to_vec1()?;
            write_score_map(&dirs[0].1, &s.painting, e.name(), side, p)?;
            write_score_map(&dirs[1].1, &s.painting, e.name(), side, prior[k].clone())?;
            let noise: Vec<f32> = (0..side * side).map(|_| rng.gen::<f32>()).collect();
            write_score_map(&dirs[2].1, &s.painting, e.name(), side, noise)?;
            explanations.push((
                s.painting.clone(),
                e.name().to_string(),
                tok.decode(&ids[k])?.trim().to_string(),
            ));
        }
    }
    Ok((dirs, explanations))
}
