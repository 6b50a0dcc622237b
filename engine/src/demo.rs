//! The demo kit: small models trained here from the shipped assets only
//! (`artemo train --preset demo`), evaluated on the annotation test split beside
//! baselines, written to `models/demo/` with a model card.
//!
//! Stages (each skipped when its output exists and `resume` is set, so an interrupted
//! run continues from the last finished stage):
//! 1. `pacl/`: the patch tower trained with PACL against the frozen MiniLM text tower.
//! 2. `emosem/`: EmoSEM Multi-Masks over the tower's frozen grid ([`crate::emosem::kit`]).
//! 3. `sevlm/`: the small SEVLM over the tower's frozen grid ([`crate::sevlm::kit`]).
//! 4. `eval/`: SEVLM's greedy predictions on the test split and three baselines
//!    (majority class, chance, nearest-neighbour retrieval), scored by the same code as
//!    `artemo eval --task sevlm`; EmoSEM's score maps of the test paintings beside the
//!    prior and chance baselines, scored as `artemo eval --task emosem`.

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
use crate::metrics::tasks::{run_task, Task, TaskOptions};
use crate::models::nn::Mode;
use crate::models::patch_tower::{descriptors_tensor, file_descriptors, Descriptors};
use crate::pacl::PaclModel;
use crate::sevlm::kit::{train_small, KitSevlmConfig};
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
    /// Retrain only this stage (`emosem`) and stop; other stages must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// Overrides the preset's EmoSEM hyper-parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emosem_kit: Option<crate::emosem::kit::KitEmosemConfig>,
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
    if !(opts.resume && done(&pacl_dir)) {
        let t = Instant::now();
        train_pacl(assets, models, &pacl_dir, opts, device, progress)?;
        seconds.insert("pacl".into(), t.elapsed().as_secs_f64());
    }
    check()?;
    let pacl = PaclModel::load(&pacl_dir, device)?;

    // Tower grids of every painting (frozen).
    progress.report(0.35, "image features of every painting");
    let mut collection = Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    // Every painting's size, for rasterising ground truth (the quick run keeps fewer).
    let all_paintings = collection.clone();
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
    let embeds = pacl.embed(&descs, 32, |_, _| true)?;
    check()?;

    // Stage 2: EmoSEM over the frozen tower, trained on the stimulus masks.
    let emosem_dir = opts.out.join("emosem");
    let out_abs = std::path::absolute(&opts.out).unwrap_or_else(|_| opts.out.clone());
    let tower_rel = crate::strip_root(&out_abs, models)
        .map(|r| r.join("pacl").to_string_lossy().replace('\\', "/"))
        // Outside the models folder (a user folder): the tower by its absolute path, so
        // the kit's EmoSEM uses this run's tower, not the shipped one.
        .unwrap_or_else(|| out_abs.join("pacl").to_string_lossy().into_owned());
    let tower = crate::emosem::kit::PaclTowerGrid::from_model(
        PaclModel::load(&pacl_dir, device)?,
        &tower_rel,
    );
    let quick_ids: Option<Vec<String>> = opts.quick.then(|| ids.clone());
    if opts.only.as_deref() == Some("emosem")
        || (opts.only.is_none() && !(opts.resume && done(&emosem_dir)))
    {
        let t = Instant::now();
        let kit = match (&opts.emosem_kit, opts.quick) {
            (Some(k), _) => k.clone(),
            (None, true) => crate::emosem::kit::KitEmosemConfig::quick(opts.seed),
            (None, false) => crate::emosem::kit::KitEmosemConfig::full(opts.seed),
        };
        let (cfg, vm, r) = crate::emosem::kit::train_kit(
            assets,
            &tower,
            &kit,
            opts.quick.then_some(30),
            device,
            |p| {
                progress.report(
                    0.36 + 0.04 * p.step as f32 / p.steps.max(1) as f32,
                    &format!(
                        "EmoSEM step {}/{} mask loss {:.3} explanation loss {:.3}",
                        p.step, p.steps, p.mask_loss, p.lm_loss
                    ),
                )
            },
            || progress.cancelled(),
        )?;
        crate::emosem::save(&emosem_dir, &cfg, &vm)?;
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
    if opts.only.as_deref() == Some("emosem") {
        progress.report(1.0, "done (EmoSEM stage only)");
        return Ok(DemoReport {
            options: opts.clone(),
            seconds,
            sevlm_eval: BTreeMap::new(),
            test_paintings: 0,
            emosem_eval: BTreeMap::new(),
            emosem_explanations: Vec::new(),
        });
    }

    // Stage 3: SEVLM.
    let sevlm_dir = opts.out.join("sevlm");
    let tokenizer = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
    let lexicon = crate::lexicon::VadLexicon::default_from_assets(assets)?;
    let seq_full = SequenceBuilder::new(tokenizer, lexicon, "the emotion is", 30);
    if !(opts.resume && done(&sevlm_dir)) {
        let t = Instant::now();
        let kit = match (&opts.sevlm_kit, opts.quick) {
            (Some(k), _) => k.clone(),
            (None, true) => KitSevlmConfig::quick(opts.seed),
            (None, false) => KitSevlmConfig::full(opts.seed),
        };
        let (_model, vm, cfg, log) = train_small(
            &grids,
            &ids,
            &set,
            assets,
            &seq_full,
            &kit,
            device,
            |p| {
                let base = if p.stage == "pretrain" { 0.4 } else { 0.6 };
                progress.report(
                    base + 0.2 * p.losses.step as f32 / p.total.max(1) as f32,
                    &format!(
                        "SEVLM {} step {}/{} loss {:.3}",
                        p.stage, p.losses.step, p.total, p.losses.total
                    ),
                )
            },
            || !progress.cancelled(),
        )?;
        crate::sevlm::save(&sevlm_dir, &cfg, &vm)?;
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
    let rt = crate::sevlm::load_runtime(&sevlm_dir, assets, models, None, device)?;
    let eval_dir = opts.out.join("eval");
    let test: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| set.splits.get(*id) == Some(&Split::Test))
        .map(|(i, _)| i)
        .collect();
    let mut preds: Vec<(String, String)> = Vec::new();
    for (k, &i) in test.iter().enumerate() {
        check()?;
        progress.report(
            0.8 + 0.04 * k as f32 / test.len().max(1) as f32,
            &format!("SEVLM on test painting {}/{}", k + 1, test.len()),
        );
        let g = crate::sevlm::generate::generate(
            &rt.model,
            &rt.seq,
            &grids.narrow(0, i, 1)?,
            &Default::default(),
            |_| {},
            || !progress.cancelled(),
        )?;
        preds.push((ids[i].clone(), g.text));
    }
    let baselines = baselines(&set, &ids, &embeds, &test, opts.seed);
    let mut systems = vec![("sevlm".to_string(), preds)];
    systems.extend(baselines);
    let ea =
        crate::text::ea_classifier::EaClassifier::load(&models.join("ea-minilm"), models, device)
            .ok();
    let mut sevlm_eval = BTreeMap::new();
    for (name, rows) in &systems {
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
            |_, _| {},
        )?;
        out.write(&dir)?;
        let m: BTreeMap<String, f64> = out
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
        sevlm_eval.insert(name.clone(), m);
    }
    seconds.insert("eval".into(), t.elapsed().as_secs_f64());
    check()?;

    let t = Instant::now();
    progress.report(0.96, "EmoSEM on the test paintings");
    let tok = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
    let emosem = crate::emosem::Emosem::load(&emosem_dir, &tok, device)?;
    let (dirs, emosem_explanations) = crate::emosem::kit::write_predictions(
        &emosem,
        assets,
        &tower,
        quick_ids.as_deref(),
        &eval_dir.join("emosem"),
        opts.seed,
        device,
        || progress.cancelled(),
    )?;
    let mut emosem_eval = BTreeMap::new();
    for (name, npy) in &dirs {
        let out = run_task(
            Task::Emosem,
            &assets.join("annotations"),
            npy,
            &TaskOptions {
                collection: Some(&all_paintings),
                ..Default::default()
            },
            |_, _| {},
        )?;
        out.write(&eval_dir.join("emosem").join(name))?;
        emosem_eval.insert(
            name.clone(),
            out.report
                .metrics
                .iter()
                .map(|m| (m.metric.clone(), m.value))
                .collect(),
        );
    }
    seconds.insert("emosem_eval".into(), t.elapsed().as_secs_f64());
    let report = DemoReport {
        options: opts.clone(),
        seconds,
        sevlm_eval,
        test_paintings: test.len(),
        emosem_eval,
        emosem_explanations,
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

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// A markdown table: one row per metric, one column per system.
fn metric_table(eval: &BTreeMap<String, BTreeMap<String, f64>>, digits: usize) -> String {
    let mut s = String::new();
    let systems: Vec<&String> = eval.keys().collect();
    let mut metrics: Vec<&String> = eval.values().flat_map(|m| m.keys()).collect();
    metrics.sort();
    metrics.dedup();
    s.push_str("| metric |");
    for sys in &systems {
        s.push_str(&format!(" {sys} |"));
    }
    s.push_str("\n|---|");
    for _ in &systems {
        s.push_str("---|");
    }
    s.push('\n');
    for m in metrics {
        s.push_str(&format!("| {m} |"));
        for sys in &systems {
            match eval[*sys].get(m) {
                Some(v) => s.push_str(&format!(" {v:.digits$} |")),
                None => s.push_str(" — |"),
            }
        }
        s.push('\n');
    }
    s
}

/// The model card (`MODEL_CARD.md`): what was trained on what, sizes, times, and every
/// SEVLM and EmoSEM metric beside the baselines (numbers as measured by this run).
pub fn model_card(report: &DemoReport, out: &Path) -> Result<String> {
    let mut s = String::new();
    s.push_str(
        "# Artemo demo models

",
    );
    s.push_str(
        "**Demo models**: small CPU models trained on this repository's shipped assets only \
",
    );
    s.push_str(
        "(267 public-domain paintings, Artemo's own 1,335 annotations, GoEmotions, the pretrained \
",
    );
    s.push_str(
        "all-MiniLM-L6-v2 text encoder). No pretrained vision or language model was used. They \
",
    );
    s.push_str(
        "are far weaker than the papers' models and are shipped so that the application shows \
",
    );
    s.push_str("real, trained output offline. Install real weights to replace them.\n\n");
    s.push_str(&format!(
        "Preset: {} · seed {} · regenerate with `artemo train --preset demo{} --fresh`.\n\n",
        if report.options.quick {
            "quick (smoke test)"
        } else {
            "full"
        },
        report.options.seed,
        if report.options.quick { " --quick" } else { "" }
    ));
    s.push_str("## Models\n\n| folder | what | size |\n|---|---|---|\n");
    for (d, what) in [
        ("pacl", "PACL: patch tower (fixed colour/light/texture descriptors + 4-layer transformer) trained against frozen MiniLM; projections q_v, q_t"),
        ("sevlm", "SEVLM small: GPT-2-layout decoder with cross-attention over the frozen tower grid, VAD encoder and heads, compact vocabulary; pretrained on GoEmotions in SEVLM format, then trained on the annotation train split"),
        ("emosem", "EmoSEM small, Multi-Masks: SAM-layout mask decoder (64 wide, trained whole: FT-MD) and a small GPT-2-layout explainer over the frozen tower grid; trained on the stimulus regions of the train split"),
    ] {
        s.push_str(&format!(
            "| `{d}/` | {what} | {:.1} MiB |\n",
            dir_bytes(&out.join(d)) as f64 / 1048576.0
        ));
    }
    s.push_str("\n## Training time (this machine, 2 CPU threads)\n\n");
    for (k, v) in &report.seconds {
        s.push_str(&format!("- {k}: {:.1} min\n", v / 60.0));
    }
    if !report.seconds.contains_key("pacl") {
        // Resumed after the PACL stage: its time is in its own report.
        let secs = std::fs::read_to_string(out.join("pacl/report.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["train"]["seconds"].as_f64());
        if let Some(secs) = secs {
            s.push_str(&format!(
                "- pacl: {:.1} min (an earlier run of the same preset, resumed here; `pacl/report.json`)\n",
                secs / 60.0
            ));
        }
    }
    s.push_str(&format!(
        "\n## SEVLM on the annotation test split ({} paintings)\n\n",
        report.test_paintings
    ));
    s.push_str(
        "Scored by `artemo eval --task sevlm` (reports in `eval/<system>/`). Baselines: \
",
    );
    s.push_str(
        "*majority* writes the most frequent train emotion with one train explanation of it; \
",
    );
    s.push_str(
        "*chance* a uniformly random emotion with a random train explanation of it; *retrieval* \
",
    );
    s.push_str("copies the first response of the train painting closest in PACL embedding.\n\n");
    s.push_str(&metric_table(&report.sevlm_eval, 4));
    if !report.emosem_eval.is_empty() {
        s.push_str(
            "\n## EmoSEM on the annotation test split\n\n\
             Multi-Masks over the frozen PACL tower grid (14 x 14), masks at 56 x 56, trained on the \
             train split's stimulus regions (Artemo's own polygons). Scored by `artemo eval --task \
             emosem` on every ground-truth region of the test paintings (reports in \
             `eval/emosem/<system>/`; APOLO's rule: min-max normalised score map > 0.35). \
             Baselines: *prior* predicts the train split's mean mask of each emotion (where \
             annotators tend to draw), *chance* seeded uniform noise.\n\n",
        );
        s.push_str(&metric_table(&report.emosem_eval, 3));
        if !report.emosem_explanations.is_empty() {
            s.push_str("\nSample EmoSEM explanations (first test painting, greedy with repeat blocking; the explainer is a small GPT-2 layout trained from scratch on the region utterances, and its text is weak and the same for every emotion):\n\n");
            let first = &report.emosem_explanations[0].0;
            for (p, e, t) in report.emosem_explanations.iter().filter(|r| &r.0 == first) {
                s.push_str(&format!("- {p} · {e}: \"{t}\"\n"));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(out.join("pacl/report.json")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let p = &v["probe"];
            s.push_str(&format!(
                "\n## PACL\n\nPartition of the training pairs: {}.\n\nDominant-emotion linear probe on frozen embeddings ({} train / {} test paintings), accuracy / weighted F1:\n\n",
                v["train"]["counts"]["strong"].as_u64().map(|_| v["train"]["counts"].to_string()).unwrap_or_default(),
                p["train"], p["test"]
            ));
            for k in ["pacl", "descriptors", "majority"] {
                s.push_str(&format!(
                    "- {k}: {:.3} / {:.3}\n",
                    p[k]["accuracy"].as_f64().unwrap_or(f64::NAN),
                    p[k]["weighted_f1"].as_f64().unwrap_or(f64::NAN)
                ));
            }
        }
    }
    Ok(s)
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

fn train_pacl(
    assets: &Path,
    models: &Path,
    out: &Path,
    opts: &DemoOptions,
    device: &Device,
    progress: &dyn Progress,
) -> Result<()> {
    use crate::pacl::train::{prepare, PrepareOptions};
    use crate::pacl::{train, PaclConfig, TrainConfig};
    let cfg = PaclConfig::default();
    let enc = crate::models::bert::SentenceEncoder::load(&models.join(&cfg.text_model), device)?;
    let popts = PrepareOptions {
        k: 2,
        seed: opts.seed,
        max_paintings: opts.quick.then_some(40),
        ..Default::default()
    };
    let data = prepare(assets, &enc, &cfg.tower, None, &popts, |f, m| {
        progress.report(0.05 * f, m);
        !progress.cancelled()
    })?;
    let tc = TrainConfig {
        epochs: if opts.quick { 3 } else { 6 },
        steps_per_epoch: opts.quick.then_some(5),
        seed: opts.seed,
        ..Default::default()
    };
    let (model, report) = train(
        &cfg,
        &tc,
        &data,
        device,
        |f, m| progress.report(0.05 + 0.3 * f, m),
        || progress.cancelled(),
    )?;
    model.save(out)?;
    let probe = crate::pacl::probe::painting_probe(
        &model,
        assets,
        &crate::pacl::probe::ProbeConfig::default(),
    )?;
    let json = serde_json::json!({ "train": report, "probe": probe });
    write_atomic(
        &out.join("report.json"),
        serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .as_bytes(),
    )
}

/// One painting's full demo-kit inference, timed: SEVLM's emotion distribution and greedy
/// explanation, EmoSEM's eight masks with their explanations, and the PACL embedding,
/// each model loaded once beforehand (as the app keeps them). `kit` is the demo-kit
/// folder (`models/demo`). Returns per-part medians and the whole painting's median and
/// worst over `paintings`.
pub fn bench_inference(
    kit: &Path,
    assets: &Path,
    models: &Path,
    paintings: &[PathBuf],
    device: &Device,
) -> Result<Vec<crate::bench::BenchRow>> {
    use crate::bench::BenchRow;
    let rt = crate::sevlm::load_runtime(&kit.join("sevlm"), assets, models, None, device)?;
    let tok = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
    let emosem = crate::emosem::Emosem::load(&kit.join("emosem"), &tok, device)?;
    let tower = match &emosem.config().image {
        crate::emosem::ImageSource::Grid { side, dim, tower } => {
            crate::emosem::features::grid_encoder(tower, *side, *dim, models, device)?
        }
        crate::emosem::ImageSource::Paper { .. } => {
            return Err(Error::Invalid(
                "the demo-kit benchmark expects a grid-tower EmoSEM".into(),
            ))
        }
    };
    let pacl = PaclModel::load(&kit.join("pacl"), device)?;
    let cfg = pacl.tower().config().clone();
    let mut parts: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut whole = Vec::new();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    for (k, p) in paintings.iter().enumerate() {
        let all = Instant::now();
        let t = Instant::now();
        let grid = rt.featurizer.features(p, device)?;
        let (_dist, _) = crate::sevlm::generate::emotion_distribution(&rt.model, &rt.seq, &grid)?;
        let g = crate::sevlm::generate::generate(
            &rt.model,
            &rt.seq,
            &grid,
            &Default::default(),
            |_| {},
            || true,
        )?;
        parts
            .entry("sevlm: features + distribution + explanation")
            .or_default()
            .push(ms(t));
        let t = Instant::now();
        let img = crate::imaging::decode_image(&crate::error::read_file(p)?, p)?;
        let f = crate::emosem::features::ImageFeatures::Grid {
            grid: tower.encode(&img, device)?,
        };
        let (masks, ids) = emosem.analyze(&f, &crate::emosem::EMOTIONS)?;
        let _probs = candle_nn::ops::sigmoid(&masks)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for i in &ids {
            tok.decode(i)?;
        }
        parts
            .entry("emosem: features + 8 masks + 8 explanations")
            .or_default()
            .push(ms(t));
        let t = Instant::now();
        let d = file_descriptors(p, &cfg)?;
        pacl.embed(&[d], 1, |_, _| true)?;
        parts
            .entry("pacl: descriptors + embedding")
            .or_default()
            .push(ms(t));
        let total = ms(all);
        // The first painting warms caches and allocators; it is reported in "worst".
        if k > 0 || paintings.len() == 1 {
            whole.push(total);
        }
        let _ = g;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let n = paintings.len();
    let mut rows: Vec<BenchRow> = parts
        .into_iter()
        .map(|(name, mut v)| BenchRow {
            name: name.into(),
            input: format!("{n} shipped paintings"),
            median_ms: median(&mut v),
            runs: v.len(),
        })
        .collect();
    let worst = whole.iter().copied().fold(0.0, f64::max);
    rows.push(BenchRow {
        name: "whole painting (emotion + explanation + 8 masks + embedding)".into(),
        input: format!("{n} shipped paintings; worst {worst:.0} ms"),
        median_ms: median(&mut whole),
        runs: whole.len(),
    });
    Ok(rows)
}
