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
use crate::emosem::language::{
    blank_image, pretrain_explainer, pretraining_texts, LanguageReport, LanguageText, Rehearsal,
};
use crate::emosem::postprocess::{postprocess, postprocess_refined, Logits};
use crate::emosem::train::{
    load_stimuli, run_trainer, StimulusExample, TrainConfig, TrainItem, TrainReport, Trainer,
};
use crate::emosem::{Emosem, EmosemConfig, EMOTIONS};
use crate::error::write_atomic;
use crate::error::{read_file, Error, Result};
use crate::imaging::guided::{Guide, RefineParams};
use crate::metrics::segmentation::ScoreMap;
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

/// What [`train_kit`] did: the image stage's report and the language pretraining's, if
/// it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KitTrainReport {
    /// The image stage (masks and explanations on the train split).
    #[serde(flatten)]
    pub images: TrainReport,
    /// The explainer's language pretraining before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<LanguageReport>,
}

/// Trains the kit's EmoSEM on the train split: the explainer's language pretraining
/// ([`crate::emosem::language`], the first fifth of `progress`) when the recipe has one,
/// then the image stage (rehearsing the rare emotions' comments when the recipe says so).
/// `progress` gets every step with its losses; a cancelled `progress` stops with
/// [`Error::Cancelled`]. Returns the configuration, the variables and the report.
pub fn train_kit(
    assets: &Path,
    tower: &dyn GridEncoder,
    kit: &KitEmosemConfig,
    limit_paintings: Option<usize>,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(EmosemConfig, VarMap, KitTrainReport)> {
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
    let mut language = None;
    let mut rehearsal = None;
    if kit.emotion_prefix {
        crate::emosem::install_emotion_prefix(&cfg, &vm, &tok)?;
        if kit.language.epochs > 0 {
            let utterances: Vec<LanguageText> = stimuli
                .iter()
                .flat_map(|s| &s.targets)
                .filter(|t| !t.tokens.is_empty())
                .map(|t| LanguageText {
                    emotion: t.emotion,
                    tokens: t.tokens.clone(),
                })
                .collect();
            let texts = pretraining_texts(
                assets,
                kit.language.per_emotion,
                &utterances,
                &tok,
                cfg.max_explanation_tokens,
            )?;
            let model = Emosem::from_varmap(&cfg, &vm, prompts.clone(), device)?;
            let blank = blank_image(tower.side(), tower.dim(), device)?;
            language = Some(pretrain_explainer(
                &model,
                &vm,
                &texts,
                &blank,
                &kit.language,
                &crate::progress::Scaled::new(progress, 0.0, 0.2),
            )?);
            if kit.language.rehearsal_per_step > 0 {
                // The rare emotions' comments (GoEmotions only: the utterances are the
                // image stage's own data).
                let mut counts = [0usize; 8];
                for u in &utterances {
                    if let Some(c) = counts.get_mut(u.emotion.index()) {
                        *c += 1;
                    }
                }
                let rare: Vec<LanguageText> = pretraining_texts(
                    assets,
                    kit.language.per_emotion,
                    &[],
                    &tok,
                    cfg.max_explanation_tokens,
                )?
                .into_iter()
                .filter(|t| counts[t.emotion.index()] < kit.language.rehearse_below)
                .collect();
                rehearsal = Some(Rehearsal::new(
                    rare,
                    kit.language.rehearsal_per_step,
                    kit.language.seed,
                ));
            }
        }
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
    let (from, share) = if language.is_some() {
        (0.2, 0.8)
    } else {
        (0.0, 1.0)
    };
    let model = Emosem::from_varmap(&cfg, &vm, prompts, device)?;
    let mut trainer = Trainer::new(&cfg, &vm, &tc)?;
    if let Some(r) = rehearsal {
        trainer = trainer.with_rehearsal(r, &vm);
    }
    let images = run_trainer(
        &model,
        &vm,
        &data,
        trainer,
        &crate::progress::Scaled::new(progress, from, share),
    )?;
    Ok((cfg, vm, KitTrainReport { images, language }))
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

/// Metrics per system: system -> metric -> value.
pub type SystemMetrics =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>;

/// A system's name and the folder of its score maps.
pub type SystemDir = (String, PathBuf);

/// The long side of the model's evaluation maps: large enough for the refined edges,
/// small enough to ship (432 maps of the test split).
pub const EVAL_MAP_SIDE: u32 = 96;

/// The (width, height) of an evaluation map of an image of `w` x `h`: the image's aspect,
/// long side [`EVAL_MAP_SIDE`].
pub fn eval_map_size(w: u32, h: u32) -> (usize, usize) {
    let s = EVAL_MAP_SIDE as f64 / w.max(h).max(1) as f64;
    let f = |v: u32| ((v as f64 * s).round() as usize).max(1);
    (f(w), f(h))
}

/// Writes a score map as `<painting>_<emotion>.npy` into `dir`.
pub fn write_map(dir: &Path, painting: &str, emotion_name: &str, m: &ScoreMap) -> Result<PathBuf> {
    let path = dir.join(format!("{painting}_{emotion_name}.npy"));
    let arr = ndarray::Array2::from_shape_vec((m.height, m.width), m.data.clone())
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&arr, &mut bytes)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    write_atomic(&path, &bytes)?;
    Ok(path)
}

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

/// Writes the test predictions of the model (`emosem/`: refined to the painting's edges,
/// as shown), of the prior baseline (`prior/`: the train split's mean mask of each
/// emotion) and of the chance baseline (`chance/`: seeded uniform noise) under `out`, one
/// folder per system, and two ablations: the model's coarse maps (`emosem-coarse/`) and
/// the prior refined to each painting's edges (`prior-refined/`). Returns the folders and the
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
    let dirs: Vec<(String, PathBuf)> = [
        "emosem",
        "prior",
        "chance",
        "emosem-coarse",
        "prior-refined",
    ]
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
        // As the app: the painting's title words pushed where the model says so.
        let title = crate::models::text_memory::PaintingText::for_image(&s.image).title;
        let words = model.painting_words(&tok, title.as_deref())?;
        let (masks, ids) =
            model.analyze_titled(&f, &EMOTIONS, model.config().decoding, words.as_ref())?;
        let masks = masks.to_dtype(DType::F32)?;
        // The model's maps as the application shows them: refined to the painting's edges
        // at EVAL_MAP_SIDE on the long side ([`postprocess_refined`]).
        let img = crate::imaging::decode_image(&read_file(&s.image)?, &s.image)?;
        let (mw, mh) = eval_map_size(img.width(), img.height());
        let guide = Guide::from_image(&img, mw, mh);
        for (k, e) in EMOTIONS.iter().enumerate() {
            let logits: Vec<f32> = masks.get(k)?.flatten_all()?.to_vec1()?;
            let l = Logits {
                data: &logits,
                width: side,
                height: side,
                content: (1.0, 1.0),
            };
            let refined = postprocess_refined(*e, &l, Some(&guide), mw, mh, String::new())?;
            write_map(&dirs[0].1, &s.painting, e.name(), &refined.probability)?;
            let plain = postprocess(*e, &l, side, side, String::new())?;
            write_map(&dirs[3].1, &s.painting, e.name(), &plain.probability)?;
            let prior_map = ScoreMap::new(side, side, prior[k].clone())?;
            let prior_refined = crate::imaging::guided::refine(
                &prior_map,
                &guide,
                &RefineParams {
                    grid_cells: side / 4,
                    ..RefineParams::default()
                },
            )?;
            write_map(&dirs[4].1, &s.painting, e.name(), &prior_refined)?;
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

/// Measures of the explanations of a painting's masks: the mean number of distinct
/// explanations among a painting's masks, and (with a classifier) the share of
/// explanations whose emotion, as the classifier reads it, is their mask's emotion.
pub fn explanation_measures(
    explanations: &[Explanation],
    classifier: Option<&dyn crate::metrics::TextEmotionClassifier>,
) -> Result<std::collections::BTreeMap<String, f64>> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut per: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (p, _, t) in explanations {
        per.entry(p.as_str()).or_default().insert(t.as_str());
    }
    let mut out = BTreeMap::new();
    if !per.is_empty() {
        let mean = per.values().map(|s| s.len() as f64).sum::<f64>() / per.len() as f64;
        out.insert("distinct explanations per painting".to_string(), mean);
    }
    if let Some(c) = classifier {
        let texts: Vec<String> = explanations.iter().map(|(_, _, t)| t.clone()).collect();
        if !texts.is_empty() {
            let pred = c.predict(&texts)?;
            let hits = pred
                .iter()
                .zip(explanations)
                .filter(|(p, (_, e, _))| p.name() == e)
                .count();
            out.insert(
                "EA of mask explanations".to_string(),
                hits as f64 / texts.len() as f64,
            );
        }
    }
    Ok(out)
}

/// Runs the kit's EmoSEM (`emosem_dir`) on the test split ([`write_predictions`] under
/// `out`), scores every system as `artemo eval --task emosem` (reports under
/// `out/<system>`), adds the explanation measures ([`explanation_measures`], EA with the
/// `ea-minilm` classifier of `models` when present) to the model's row, and writes
/// `out/summary.json`. Returns the metrics per system and the explanations.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    emosem_dir: &Path,
    assets: &Path,
    models: &Path,
    tower: &dyn GridEncoder,
    only: Option<&[String]>,
    out: &Path,
    seed: u64,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(SystemMetrics, Vec<Explanation>)> {
    use crate::metrics::tasks::{run_task, Task, TaskOptions};
    let tok = TextTokenizer::gpt2_from_assets(assets)?;
    let emosem = Emosem::load(emosem_dir, &tok, device)?;
    let (dirs, explanations) =
        write_predictions(&emosem, assets, tower, only, out, seed, device, progress)?;
    let paintings =
        crate::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let mut eval = std::collections::BTreeMap::new();
    for (name, npy) in &dirs {
        let r = run_task(
            Task::Emosem,
            &assets.join("annotations"),
            npy,
            &TaskOptions {
                collection: Some(&paintings),
                ..Default::default()
            },
            &crate::progress::Muted(progress),
        )?;
        r.write(&out.join(name))?;
        eval.insert(
            name.clone(),
            r.report
                .metrics
                .iter()
                .map(|m| (m.metric.clone(), m.value))
                .collect::<std::collections::BTreeMap<String, f64>>(),
        );
    }
    let ea = crate::text::ea_classifier::EaClassifier::load(
        &models.join(crate::text::ea_classifier::EA_DIR),
        models,
        device,
    )
    .ok();
    let measures = explanation_measures(
        &explanations,
        ea.as_ref()
            .map(|c| c as &dyn crate::metrics::TextEmotionClassifier),
    )?;
    if let Some(row) = eval.get_mut("emosem") {
        row.extend(measures);
    }
    let json = serde_json::json!({ "emosem_eval": eval, "emosem_explanations": explanations });
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )?;
    Ok((eval, explanations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::Emotion;

    struct Keyword;

    impl crate::metrics::TextEmotionClassifier for Keyword {
        fn predict(&self, texts: &[String]) -> Result<Vec<Emotion>> {
            Ok(texts
                .iter()
                .map(|t| {
                    if t.contains("scary") {
                        Emotion::Fear
                    } else {
                        Emotion::Contentment
                    }
                })
                .collect())
        }
        fn name(&self) -> &str {
            "keyword"
        }
    }

    #[test]
    fn explanation_measures_count_distinct_texts_and_alignment() {
        let row = |p: &str, e: &str, t: &str| (p.to_string(), e.to_string(), t.to_string());
        let ex = vec![
            row("1", "fear", "a scary sky"),
            row("1", "contentment", "a calm field"),
            row("1", "sadness", "a calm field"),
            row("2", "fear", "a calm field"),
        ];
        let m = explanation_measures(&ex, Some(&Keyword)).unwrap();
        // Painting 1: 2 distinct texts of 3; painting 2: 1.
        assert_eq!(m["distinct explanations per painting"], 1.5);
        // Aligned: fear/scary and contentment/calm; not sadness/calm, not fear/calm.
        assert_eq!(m["EA of mask explanations"], 0.5);
        let m = explanation_measures(&ex, None).unwrap();
        assert!(!m.contains_key("EA of mask explanations"));
        assert!(explanation_measures(&[], None).unwrap().is_empty());
    }

    #[test]
    fn eval_maps_keep_the_aspect_at_96_px() {
        assert_eq!(eval_map_size(541, 640), (81, 96));
        assert_eq!(eval_map_size(640, 320), (96, 48));
        assert_eq!(eval_map_size(3, 5000), (1, 96));
    }
}
