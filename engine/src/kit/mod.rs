//! The demo kit: small models trained here from the shipped assets only
//! (`artemo train --preset demo`), evaluated on the annotation test split beside
//! baselines, written to `models/demo/` with a model card.
//!
//! Stages (each skipped when its output exists and `resume` is set, so an interrupted
//! run continues from the last finished stage):
//! 1. `pacl/`: the patch tower trained with PACL against the frozen MiniLM text tower.
//! 2. `emosem/`: EmoSEM Multi-Masks over the tower's frozen grid ([`emosem`]).
//! 3. `sevlm/`: the small SEVLM over the tower's frozen grid ([`sevlm`]).
//! 4. `eval/`: SEVLM's greedy predictions on the test split and three baselines
//!    (majority class, chance, nearest-neighbour retrieval), scored by the same code as
//!    `artemo eval --task sevlm`; EmoSEM's score maps of the test paintings beside the
//!    prior and chance baselines, scored as `artemo eval --task emosem`.

pub mod bench;
pub mod card;
pub mod emosem;
pub mod emotion_head;
pub mod pacl;
pub mod sevlm;
pub mod zero_shot;

pub use bench::bench_inference;
pub use card::model_card;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::annotations::artemis::Split;
use crate::annotations::dataset::AnnotationSet;
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::kit::sevlm::{train_small, KitSevlmConfig};
use crate::metrics::tasks::{run_task, Task, TaskOptions};
use crate::models::nn::Mode;
use crate::models::patch_tower::{descriptors_tensor, file_descriptors, Descriptors};
use crate::models::text_memory;
use crate::pacl::PaclModel;
use crate::sevlm::SequenceBuilder;

/// Options of a demo-kit run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoOptions {
    /// Output folder (`models/demo`).
    pub out: PathBuf,
    /// The minutes-long smoke-test preset.
    pub quick: bool,
    /// Seed of every stage.
    pub seed: u64,
    /// Skip stages whose output exists.
    pub resume: bool,
    /// Overrides the preset's SEVLM hyper-parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sevlm_kit: Option<KitSevlmConfig>,
    /// Retrain only this stage and stop (`emosem`, `pacl-text`), or retrain it and
    /// evaluate (`sevlm`), or train nothing and evaluate (`eval`); other stages must exist
    /// (`pacl-text` starts from `<out>/pacl`, else the shipped `models/demo/pacl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// Overrides the preset's EmoSEM hyper-parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emosem_kit: Option<Box<crate::kit::emosem::KitEmosemConfig>>,
    /// SEVLM's VAD lexicon (default: the shipped stand-in, not NRC VAD).
    #[serde(default)]
    pub lexicon: crate::lexicon::VadSource,
    /// PACL's text stage and its hyper-parameters: given, the full run adds the text
    /// branch after the tower (not in the preset); `--only pacl-text` uses them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacl_text_kit: Option<Box<crate::pacl::text_stage::TextStageConfig>>,
}

pub use crate::progress::Progress;

/// What a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoReport {
    /// Options used.
    pub options: DemoOptions,
    /// Seconds per stage.
    pub seconds: BTreeMap<String, f64>,
    /// Metrics per system (sevlm, majority, chance, retrieval): name -> value.
    pub sevlm_eval: BTreeMap<String, BTreeMap<String, f64>>,
    /// Test paintings evaluated.
    pub test_paintings: usize,
    /// EmoSEM mask metrics per system (emosem, prior, chance): name -> value.
    #[serde(default)]
    pub emosem_eval: BTreeMap<String, BTreeMap<String, f64>>,
    /// EmoSEM's explanations of the test paintings: (painting, emotion, text).
    #[serde(default)]
    pub emosem_explanations: Vec<(String, String, String)>,
    /// PACL's zero-shot over the collection ([`zero_shot`]; absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacl_eval: Option<zero_shot::ZeroShotEval>,
}

fn done(dir: &Path) -> bool {
    dir.join("config.json").is_file() && dir.join("model.safetensors").is_file()
}

/// Runs the demo-kit pipeline.
pub fn run(
    assets: &Path,
    models: &Path,
    opts: &DemoOptions,
    device: &Device,
    progress: &dyn Progress,
) -> Result<DemoReport> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let mut seconds = BTreeMap::new();
    let check = || {
        if progress.cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    };

    // Stage 1: PACL tower.
    let pacl_dir = opts.out.join("pacl");
    let text_opts = pacl::PaclTextOptions {
        stage: opts.pacl_text_kit.as_deref().cloned().unwrap_or_else(|| {
            crate::pacl::text_stage::TextStageConfig {
                seed: opts.seed,
                ..Default::default()
            }
        }),
        quick: opts.quick,
    };
    if opts.only.as_deref() == Some("pacl-text") {
        // The text stage alone, from this run's PACL or the shipped demo one.
        let base = if done(&pacl_dir) {
            pacl_dir.clone()
        } else {
            models.join("demo").join("pacl")
        };
        let t = Instant::now();
        pacl::train_pacl_text(
            assets, models, &base, &pacl_dir, &text_opts, device, progress,
        )?;
        seconds.insert("pacl-text".into(), t.elapsed().as_secs_f64());
        progress.report(1.0, "done (PACL text stage only)");
        return Ok(DemoReport {
            options: opts.clone(),
            seconds,
            sevlm_eval: BTreeMap::new(),
            test_paintings: 0,
            emosem_eval: BTreeMap::new(),
            emosem_explanations: Vec::new(),
            pacl_eval: None,
        });
    }
    if opts.only.as_deref() != Some("eval") && !(opts.resume && done(&pacl_dir)) {
        let t = Instant::now();
        let stage = crate::progress::Scaled::new(progress, 0.0, 0.30);
        let popts = pacl::PaclTrainOptions {
            epochs: 6,
            quick: opts.quick,
            seed: opts.seed,
            prepare_share: 0.05 / 0.30,
        };
        pacl::train_pacl(assets, models, &pacl_dir, &popts, device, &stage)?;
        seconds.insert("pacl".into(), t.elapsed().as_secs_f64());
    }
    check()?;
    // Stage 1b, on request only (`--kit` with a `pacl_text` section; `--only pacl-text`
    // runs it alone): the text branch of PACL's image side (the tower stays
    // bit-identical). It is not in the preset: it measured no gain over the tower
    // (docs/pacl.md) and the shipped kit has none.
    if opts.pacl_text_kit.is_some()
        && opts.only.as_deref() != Some("eval")
        && !(opts.resume && pacl_dir.join("text_report.json").is_file())
    {
        let t = Instant::now();
        let stage = crate::progress::Scaled::new(progress, 0.30, 0.05);
        pacl::train_pacl_text(
            assets, models, &pacl_dir, &pacl_dir, &text_opts, device, &stage,
        )?;
        seconds.insert("pacl-text".into(), t.elapsed().as_secs_f64());
    }
    check()?;
    let pacl = PaclModel::load(&pacl_dir, device)?;

    // Tower grids of every painting (frozen).
    progress.report(0.35, "image features of every painting");
    let mut collection = Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    let set = AnnotationSet::load(&assets.join("annotations"))?;
    if opts.quick {
        // The smoke test: 30 train and 10 test paintings.
        let (mut tr, mut te) = (0, 0);
        collection
            .paintings
            .retain(|p| match set.splits.get(&p.id) {
                Some(Split::Train) if tr < 30 => {
                    tr += 1;
                    true
                }
                Some(Split::Test) if te < 10 => {
                    te += 1;
                    true
                }
                _ => false,
            });
    }
    let tower_cfg = pacl.tower().config().clone();
    let descs: Vec<Descriptors> = collection
        .paintings
        .iter()
        .map(|p| file_descriptors(&p.path, &tower_cfg))
        .collect::<Result<_>>()?;
    let ids: Vec<String> = collection.paintings.iter().map(|p| p.id.clone()).collect();
    let mut grids = Vec::new();
    for chunk in descs.chunks(16) {
        let refs: Vec<&Descriptors> = chunk.iter().collect();
        let x = descriptors_tensor(&refs, device)?;
        grids.push(pacl.tower().forward(&x, Mode::Infer)?.grid);
    }
    let grids = Tensor::cat(&grids, 0)?;
    let embeds = pacl.embed(&descs, 32, &crate::progress::Silent)?;
    check()?;

    // Stage 2: EmoSEM over the frozen tower, trained on the stimulus masks.
    let emosem_dir = opts.out.join("emosem");
    let out_abs = std::path::absolute(&opts.out).unwrap_or_else(|_| opts.out.clone());
    let tower_rel = crate::strip_root(&out_abs, models)
        .map(|r| r.join("pacl").to_string_lossy().replace('\\', "/"))
        // Outside the models folder (a user folder): the tower by its absolute path, so
        // the kit's EmoSEM uses this run's tower, not the shipped one.
        .unwrap_or_else(|| out_abs.join("pacl").to_string_lossy().into_owned());
    let tower = crate::emosem::features::PaclTowerGrid::from_model(
        PaclModel::load(&pacl_dir, device)?,
        &tower_rel,
    );
    let quick_ids: Option<Vec<String>> = opts.quick.then(|| ids.clone());
    if opts.only.as_deref() == Some("emosem")
        || (opts.only.is_none() && !(opts.resume && done(&emosem_dir)))
    {
        let t = Instant::now();
        let kit = match (&opts.emosem_kit, opts.quick) {
            (Some(k), _) => (**k).clone(),
            (None, true) => crate::kit::emosem::KitEmosemConfig::quick(opts.seed),
            (None, false) => crate::kit::emosem::KitEmosemConfig::full(opts.seed),
        };
        let (cfg, vm, r) = crate::kit::emosem::train_kit(
            assets,
            &tower,
            &kit,
            opts.quick.then_some(30),
            device,
            &crate::progress::Scaled::new(progress, 0.36, 0.04),
        )?;
        crate::emosem::save(&emosem_dir, &cfg, &vm)?;
        write_known_words(&emosem_dir, &set, assets, 0)?;
        let json = serde_json::json!({ "kit": kit, "report": r });
        write_atomic(
            &emosem_dir.join("train_log.json"),
            serde_json::to_string(&json)
                .map_err(|e| Error::Invalid(e.to_string()))?
                .as_bytes(),
        )?;
        seconds.insert("emosem".into(), t.elapsed().as_secs_f64());
    }
    check()?;
    if done(&emosem_dir)
        && !emosem_dir
            .join(crate::text::known_words::WORDS_FILE)
            .is_file()
    {
        // Written with every new EmoSEM; an older kit's list is derived from the same data.
        write_known_words(&emosem_dir, &set, assets, 0)?;
    }
    if opts.only.as_deref() == Some("emosem") {
        // The stage's own evaluation (`eval/emosem/summary.json`); the kit's summary and
        // card stay as they are.
        progress.report(0.96, "EmoSEM on the test paintings");
        let (emosem_eval, emosem_explanations) = crate::kit::emosem::evaluate(
            &emosem_dir,
            assets,
            models,
            &tower,
            quick_ids.as_deref(),
            &opts.out.join("eval").join("emosem"),
            opts.seed,
            device,
            progress,
        )?;
        progress.report(1.0, "done (EmoSEM stage only)");
        return Ok(DemoReport {
            options: opts.clone(),
            seconds,
            sevlm_eval: BTreeMap::new(),
            test_paintings: 0,
            emosem_eval,
            emosem_explanations,
            pacl_eval: None,
        });
    }

    // Stage 3: SEVLM.
    let sevlm_dir = opts.out.join("sevlm");
    let tokenizer = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
    let (lexicon, lexicon_record) = crate::lexicon::VadLexicon::from_source(assets, &opts.lexicon)?;
    let texts: Vec<text_memory::PaintingText> = collection
        .paintings
        .iter()
        .map(text_memory::PaintingText::from_painting)
        .collect();
    let kit = match (&opts.sevlm_kit, opts.quick) {
        (Some(k), _) => k.clone(),
        (None, true) => KitSevlmConfig::quick(opts.seed),
        (None, false) => KitSevlmConfig::demo(opts.seed),
    };
    let seq_full =
        SequenceBuilder::new(tokenizer, lexicon, crate::sevlm::data::REFERENCE_PROMPT, 30)
            .with_lookup(crate::lexicon::VadLookup::ExactLemma);
    let eval_only = opts.only.as_deref() == Some("eval");
    if opts.only.as_deref() == Some("sevlm") || !(eval_only || opts.resume && done(&sevlm_dir)) {
        let t = Instant::now();
        let tm = kit.text_memory.then(text_memory::kit_config);
        let memory = sevlm::memory(&grids, &texts, tm.as_ref(), models, device)?;
        let (_model, vm, mut cfg, log) = train_small(
            &memory,
            &ids,
            &set,
            assets,
            models,
            &seq_full,
            &kit,
            device,
            &crate::progress::Scaled::new(progress, 0.4, 0.4),
        )?;
        cfg.trained_lexicon = Some(lexicon_record.clone());
        crate::sevlm::save(&sevlm_dir, &cfg, &vm)?;
        write_known_words(&sevlm_dir, &set, assets, kit.pretrain_pool)?;
        let json = serde_json::json!({ "kit": kit, "steps": log });
        write_atomic(
            &sevlm_dir.join("train_log.json"),
            serde_json::to_string(&json)
                .map_err(|e| Error::Invalid(e.to_string()))?
                .as_bytes(),
        )?;
        seconds.insert("sevlm".into(), t.elapsed().as_secs_f64());
    }
    check()?;

    // Evaluation on the test split: SEVLM, then EmoSEM.
    let t = Instant::now();
    if !sevlm_dir
        .join(crate::text::known_words::WORDS_FILE)
        .is_file()
    {
        // A kit trained before word lists: the list is derived from the same data.
        write_known_words(&sevlm_dir, &set, assets, kit.pretrain_pool)?;
    }
    let rt =
        crate::sevlm::load_runtime_with(&sevlm_dir, assets, models, None, &opts.lexicon, device)?;
    for w in &rt.warnings {
        progress.report(0.8, &format!("warning: {w}"));
        tracing::warn!("{w}");
    }
    let eval_dir = opts.out.join("eval");
    let tm = rt.model.config().text_memory.clone();
    let memory = sevlm::memory(&grids, &texts, tm.as_ref(), models, device)?;
    let no_text = vec![text_memory::PaintingText::none(); texts.len()];
    let pixels_only = match &tm {
        Some(c) => Some(sevlm::memory(&grids, &no_text, Some(c), models, device)?),
        None => None,
    };
    let decode = crate::sevlm::DecodeOptions {
        block_repeats: kit.block_repeats,
        decoding: match kit.sample_temperature {
            Some(temperature) => crate::sevlm::generate::Decoding::Nucleus {
                top_p: 0.9,
                temperature,
                seed: 0,
            },
            None => crate::sevlm::generate::Decoding::Greedy,
        },
        greedy_emotion: kit.sample_temperature.is_some(),
        known_words: true,
        ..Default::default()
    };
    let test: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| set.splits.get(*id) == Some(&Split::Test))
        .map(|(i, _)| i)
        .collect();
    let mut systems = Vec::new();
    for (name, mem) in [
        ("sevlm", Some(&memory)),
        ("sevlm-pixels-only", pixels_only.as_ref()),
    ] {
        let Some(mem) = mem else { continue };
        let mut preds: Vec<(String, String)> = Vec::new();
        for (k, &i) in test.iter().enumerate() {
            check()?;
            progress.report(
                0.8 + 0.04 * k as f32 / test.len().max(1) as f32,
                &format!("{name} on test painting {}/{}", k + 1, test.len()),
            );
            // The title words are pushed only where the title is read.
            let title = if name == "sevlm" {
                texts[i].title.as_deref()
            } else {
                None
            };
            let words = crate::sevlm::generate::painting_words(&rt.model, &rt.seq, title)?;
            let ctx =
                crate::sevlm::decode_cache::PaintingContext::new(&rt.model, &mem.narrow(0, i, 1)?)?;
            let g = crate::sevlm::generate::generate_grounded_in(
                &rt.model,
                &rt.seq,
                &ctx,
                &decode,
                words.as_ref(),
                |_| {},
                progress,
            )?;
            preds.push((ids[i].clone(), g.text));
        }
        systems.push((name.to_string(), preds));
    }
    let baselines = baselines(&set, &ids, &embeds, &test, opts.seed);
    let train_utterances: Vec<String> = set
        .rows
        .iter()
        .filter(|r| set.splits.get(&r.painting) == Some(&Split::Train))
        .map(|r| r.utterance.clone())
        .collect();
    systems.extend(baselines);
    let ea = crate::text::ea_classifier::EaClassifier::load(
        &models.join(crate::text::ea_classifier::EA_DIR),
        models,
        device,
    )
    .ok();
    let mut sevlm_eval = BTreeMap::new();
    for (name, rows) in &systems {
        let checks = sevlm::explanation_checks(
            rows,
            &train_utterances,
            ea.as_ref()
                .map(|c| c as &dyn crate::metrics::TextEmotionClassifier),
        )?;
        let dir = eval_dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let csv = dir.join("predictions.csv");
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["painting", "prediction"])
            .map_err(|e| Error::Invalid(e.to_string()))?;
        for (p, text) in rows {
            w.write_record([p, text])
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        let bytes = w.into_inner().map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(&csv, &bytes)?;
        let topts = TaskOptions {
            ea: ea
                .as_ref()
                .map(|c| c as &dyn crate::metrics::TextEmotionClassifier),
            collection: Some(&collection),
            ..Default::default()
        };
        let out = run_task(
            Task::Sevlm,
            &assets.join("annotations"),
            &csv,
            &topts,
            &crate::progress::Muted(progress),
        )?;
        out.write(&dir)?;
        let mut m: BTreeMap<String, f64> = out
            .report
            .metrics
            .iter()
            .map(|m| {
                // EA comes in two dominance variants; other metrics once.
                let key = if m.metric == "EA" && m.variant.contains("> half of the votes (SEVLM)") {
                    "EA (SEVLM: > half)".to_string()
                } else if m.metric == "EA" {
                    "EA (ArtEmis: >= half, no tie)".to_string()
                } else {
                    m.metric.clone()
                };
                (key, m.value)
            })
            .collect();
        m.extend(checks);
        sevlm_eval.insert(name.clone(), m);
    }
    seconds.insert("eval".into(), t.elapsed().as_secs_f64());
    check()?;

    let t = Instant::now();
    progress.report(0.96, "EmoSEM on the test paintings");
    let (emosem_eval, emosem_explanations) = crate::kit::emosem::evaluate(
        &emosem_dir,
        assets,
        models,
        &tower,
        quick_ids.as_deref(),
        &eval_dir.join("emosem"),
        opts.seed,
        device,
        progress,
    )?;
    seconds.insert("emosem_eval".into(), t.elapsed().as_secs_f64());
    progress.report(0.99, "PACL zero-shot over the collection");
    let pacl_eval = zero_shot::evaluate(
        &pacl,
        models,
        &ids,
        &descs,
        &texts,
        &embeds,
        &set,
        &eval_dir.join("pacl"),
    )?;
    let report = DemoReport {
        options: opts.clone(),
        seconds,
        sevlm_eval,
        test_paintings: test.len(),
        emosem_eval,
        emosem_explanations,
        pacl_eval: Some(pacl_eval),
    };
    write_atomic(
        &eval_dir.join("summary.json"),
        serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )?;
    let card = model_card(&report, &opts.out)?;
    write_atomic(&opts.out.join("MODEL_CARD.md"), card.as_bytes())?;
    progress.report(1.0, "done");
    Ok(report)
}

/// The baselines' predictions (`emotion because explanation`) for the test paintings:
/// majority (the most frequent train emotion with its most typical... first train
/// utterance), chance (a uniformly random emotion and a random train utterance of it),
/// retrieval (the train painting closest in PACL embedding: its first utterance, as is).
fn baselines(
    set: &AnnotationSet,
    ids: &[String],
    embeds: &[Vec<f32>],
    test: &[usize],
    seed: u64,
) -> Vec<(String, Vec<(String, String)>)> {
    let train_rows: Vec<&crate::annotations::Annotation> = set
        .rows
        .iter()
        .filter(|r| set.splits.get(&r.painting) == Some(&Split::Train))
        .collect();
    let mut counts = [0usize; 9];
    for r in &train_rows {
        counts[r.emotion.index()] += 1;
    }
    let majority = Emotion::ALL[(0..9).max_by_key(|&i| (counts[i], 9 - i)).unwrap_or(0)];
    let first_of = |e: Emotion| {
        train_rows
            .iter()
            .find(|r| r.emotion == e)
            .map(|r| r.utterance.clone())
            .unwrap_or_default()
    };
    let maj_text = format!("{} because {}", majority.name(), first_of(majority));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut chance = Vec::new();
    let mut majority_rows = Vec::new();
    let mut retrieval = Vec::new();
    let train_idx: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| set.splits.get(*id) == Some(&Split::Train))
        .map(|(i, _)| i)
        .collect();
    for &i in test {
        majority_rows.push((ids[i].clone(), maj_text.clone()));
        let e = *Emotion::EIGHT.choose(&mut rng).unwrap_or(&Emotion::Awe);
        let of_e: Vec<&&crate::annotations::Annotation> =
            train_rows.iter().filter(|r| r.emotion == e).collect();
        let u = of_e
            .choose(&mut rng)
            .map(|r| r.utterance.clone())
            .unwrap_or_default();
        chance.push((ids[i].clone(), format!("{} because {u}", e.name())));
        let best = train_idx
            .iter()
            .copied()
            .max_by(|&a, &b| {
                crate::pacl::cosine(&embeds[i], &embeds[a])
                    .total_cmp(&crate::pacl::cosine(&embeds[i], &embeds[b]))
            })
            .unwrap_or(0);
        let r = train_rows.iter().find(|r| r.painting == ids[best]);
        let text = r
            .map(|r| format!("{} because {}", r.emotion.name(), r.utterance))
            .unwrap_or_default();
        retrieval.push((ids[i].clone(), text));
    }
    vec![
        ("majority".into(), majority_rows),
        ("chance".into(), chance),
        ("retrieval".into(), retrieval),
    ]
}

/// Writes the demo SEVLM's known words (`words.txt`, [`crate::text::known_words`]).
fn write_known_words(
    dir: &Path,
    set: &AnnotationSet,
    assets: &Path,
    pretrain_pool: usize,
) -> Result<()> {
    let words = sevlm::known_words(set, assets, pretrain_pool)?;
    tracing::info!("SEVLM known words: {} in {}", words.len(), dir.display());
    crate::text::known_words::KnownWords::write(
        &dir.join(crate::text::known_words::WORDS_FILE),
        &words,
    )
}
