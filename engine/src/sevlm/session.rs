//! An interactive SEVLM training session (the GUI's Train tab): data from the shipped
//! annotations or an ArtEmis CSV, a model from scratch (the demo kit's small shape over
//! the frozen patch tower) or from a checkpoint folder, [`crate::sevlm::train::train`]
//! with pause / resume / graceful stop ([`crate::train::session::Control`]), periodic
//! evaluation on the validation split (val loss, BLEU-1/4, ROUGE-L on the explanations,
//! ACC), the best checkpoints kept by a chosen metric
//! ([`crate::train::session::CheckpointStore`]) and a fixed probe set of validation
//! paintings regenerated at each evaluation. Everything the GUI draws arrives as
//! [`SessionEvent`]s.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::annotations::artemis::{
    artemis_split, histograms, read_artemis, Dominance, Histogram, Split,
};
use crate::annotations::dataset::AnnotationSet;
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::metrics::accuracy::{explanation_text, sevlm_accuracy};
use crate::models::loading::Weights;
use crate::models::nn::Mode;
use crate::sevlm::data::build_vocab;
use crate::sevlm::data::{make_pairs, Encoded, Example, SequenceBuilder};
use crate::sevlm::generate::{generate, DecodeOptions};
use crate::sevlm::model::{ImageEncoderKind, Sevlm, SevlmConfig};
use crate::sevlm::train::{losses, train, Batch, SevlmTrainConfig, StepLosses, TrainData};
use crate::sevlm::{ImageFeaturizer, TowerFeaturizer};
use crate::train::session::{check_output_dir, CheckpointInfo, CheckpointStore, Control, Goal};
use crate::worker::{JobContext, JobFn, JobOutput};

/// Examples by split with the image of every painting they name.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// What it was read from (shown to users).
    pub source: String,
    /// Train, validation and test examples.
    pub splits: [Vec<Example>; 3],
    /// Image file per painting id.
    pub images: BTreeMap<String, PathBuf>,
    /// Responses left out because their painting has no image.
    pub without_image: usize,
}

impl Corpus {
    /// Artemo's own annotations on the shipped paintings, with their `SPLITS.csv`.
    pub fn shipped(assets: &Path) -> Result<Corpus> {
        let set = AnnotationSet::load(&assets.join("annotations"))?;
        let coll =
            crate::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
        let images: BTreeMap<String, PathBuf> =
            coll.paintings.into_iter().map(|p| (p.id, p.path)).collect();
        let [tr, va, te] = crate::sevlm::data::annotation_examples(&set);
        let mut c = Corpus {
            source: "Artemo's own annotations".to_string(),
            splits: [tr, va, te],
            images,
            without_image: 0,
        };
        c.drop_without_image();
        c.require(&set.dir.join("artemo-aic.csv"))?;
        Ok(c)
    }

    /// An ArtEmis CSV over the paintings of an open collection (`images`: painting id ->
    /// file), split 85/5/10 by artwork with ArtEmis' seed (at least one validation
    /// artwork). Malformed rows are errors naming the file and row.
    pub fn artemis(csv: &Path, images: BTreeMap<String, PathBuf>) -> Result<Corpus> {
        let rows = read_artemis(csv)?;
        if rows.is_empty() {
            return Err(Error::at(csv, "rows", "the file has no response"));
        }
        let usable: Vec<_> = rows
            .iter()
            .filter(|r| images.contains_key(&r.painting))
            .cloned()
            .collect();
        if usable.is_empty() {
            return Err(Error::at(
                csv,
                "column `painting`",
                format!(
                    "none of its paintings is in the open collection (first: `{}`); open the collection holding its images first",
                    rows[0].painting
                ),
            ));
        }
        let hist = histograms(&usable);
        let mut split = artemis_split(&hist);
        if !split.values().any(|s| *s == Split::Val) {
            if let Some((_, s)) = split.iter_mut().find(|(_, s)| **s == Split::Train) {
                *s = Split::Val;
            }
        }
        let mut splits: [Vec<Example>; 3] = Default::default();
        for r in &usable {
            let slot = match split.get(&r.key()) {
                Some(Split::Train) => 0,
                Some(Split::Val) => 1,
                Some(Split::Test) => 2,
                _ => continue,
            };
            splits[slot].push(Example {
                image: r.painting.clone(),
                emotion: r.emotion,
                explanation: r.utterance.clone(),
            });
        }
        let c = Corpus {
            source: format!("ArtEmis CSV {}", csv.display()),
            splits,
            images,
            without_image: rows.len() - usable.len(),
        };
        c.require(csv)?;
        Ok(c)
    }

    /// Keeps the first `n` training paintings (by id) and a fifth as many validation
    /// paintings (at least 2): a quick look at a run.
    pub fn limit(&mut self, n: usize) {
        let firsts = |ex: &[Example], k: usize| -> BTreeSet<String> {
            ex.iter()
                .map(|e| e.image.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .take(k)
                .collect()
        };
        let keep_tr = firsts(&self.splits[0], n);
        let keep_va = firsts(&self.splits[1], n.div_ceil(5).max(2));
        self.splits[0].retain(|e| keep_tr.contains(&e.image));
        self.splits[1].retain(|e| keep_va.contains(&e.image));
    }

    fn drop_without_image(&mut self) {
        let before: usize = self.splits.iter().map(Vec::len).sum();
        for s in &mut self.splits {
            s.retain(|e| self.images.contains_key(&e.image));
        }
        self.without_image = before - self.splits.iter().map(Vec::len).sum::<usize>();
    }

    fn require(&self, file: &Path) -> Result<()> {
        if self.splits[0].is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no training response with an image",
            ));
        }
        if self.splits[1].is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no validation response with an image",
            ));
        }
        Ok(())
    }
}

/// Where the model starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SevlmInit {
    /// A fresh small model (compact vocabulary from the training texts) over the demo
    /// kit's frozen patch tower.
    Scratch {
        /// Decoder width.
        width: usize,
        /// Decoder layers.
        layers: usize,
        /// Decoder heads.
        heads: usize,
    },
    /// A model folder written by [`crate::sevlm::save`] (e.g. `models/demo/sevlm`).
    Checkpoint(PathBuf),
}

/// The metric that picks the best checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BestBy {
    /// Validation loss (lower is better).
    ValLoss,
    /// BLEU-1 of the generated explanations (higher is better).
    Bleu1,
    /// SEVLM ACC (higher is better).
    Acc,
}

impl BestBy {
    /// Every choice.
    pub const ALL: [BestBy; 3] = [BestBy::ValLoss, BestBy::Bleu1, BestBy::Acc];

    /// The metric's name in [`EvalRecord::metrics`].
    pub fn name(self) -> &'static str {
        match self {
            BestBy::ValLoss => "val loss",
            BestBy::Bleu1 => "BLEU-1",
            BestBy::Acc => "ACC",
        }
    }

    /// Lower or higher is better.
    pub fn goal(self) -> Goal {
        match self {
            BestBy::ValLoss => Goal::Minimize,
            _ => Goal::Maximize,
        }
    }
}

/// Everything a session is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Training hyper-parameters.
    pub train: SevlmTrainConfig,
    /// Where the model starts.
    pub init: SevlmInit,
    /// The output folder (checkpoints, `session.json`, `history.json`).
    pub out: PathBuf,
    /// Evaluate every this many steps (and at the end).
    pub eval_every: usize,
    /// Validation paintings whose explanations are generated for BLEU / ACC.
    pub eval_paintings: usize,
    /// Probe paintings (the first of those) shown at every evaluation.
    pub probes: usize,
    /// Best checkpoints kept.
    pub keep: usize,
    /// The metric that ranks checkpoints.
    pub best_by: BestBy,
    /// Train on at most this many paintings (0: all; see [`Corpus::limit`]).
    #[serde(default)]
    pub max_paintings: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            train: SevlmTrainConfig::default(),
            init: SevlmInit::Scratch {
                width: 192,
                layers: 3,
                heads: 4,
            },
            // The user's data folder (`<data>/runs/sevlm`), never the shipped folders.
            out: crate::train::session::default_output_dir("sevlm").unwrap_or_default(),
            eval_every: 50,
            eval_paintings: 16,
            probes: 4,
            keep: 3,
            best_by: BestBy::ValLoss,
            max_paintings: 0,
        }
    }
}

/// What was set up, sent once before the first step.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    /// Data source.
    pub source: String,
    /// Model description.
    pub model: String,
    /// Training pairs (two sequences each).
    pub train_pairs: usize,
    /// Validation sequences scored for the loss.
    pub val_sequences: usize,
    /// Validation paintings generated for BLEU / ACC.
    pub eval_paintings: usize,
    /// Responses left out (no image, or words outside a checkpoint's vocabulary).
    pub skipped: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// The probe paintings: (id, image file, the viewers' dominant emotion (> half of
    /// the votes) if any).
    pub probes: Vec<(String, PathBuf, Option<Emotion>)>,
    /// The output folder.
    pub out: PathBuf,
}

/// One training step.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StepRecord {
    /// The losses.
    pub losses: StepLosses,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// Seconds of active training so far (pauses left out).
    pub active_s: f64,
    /// Estimated seconds left (from the active time per step so far).
    pub eta_s: f64,
}

/// A probe painting's regeneration at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// Painting id.
    pub painting: String,
    /// The generated `<emotion> because <explanation>`.
    pub text: String,
    /// The parsed emotion.
    pub emotion: Option<Emotion>,
    /// The viewers' dominant emotion (> half of the votes), if any.
    pub human: Option<Emotion>,
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRecord {
    /// Step evaluated.
    pub step: usize,
    /// Epoch.
    pub epoch: usize,
    /// Metric name -> value ("val loss", "val language", "val VAD", "BLEU-1", "BLEU-4",
    /// "ROUGE-L", "ACC").
    pub metrics: BTreeMap<String, f64>,
    /// The probe set.
    pub probes: Vec<ProbeResult>,
    /// Seconds the evaluation took.
    pub seconds: f64,
}

/// What a session streams.
#[derive(Debug, Clone, Serialize)]
pub enum SessionEvent {
    /// Set up; training starts.
    Prepared(Prepared),
    /// A step finished.
    Step(StepRecord),
    /// An evaluation finished.
    Eval(EvalRecord),
    /// The kept checkpoints after a save (the best marked).
    Checkpoints(Vec<CheckpointInfo>),
}

pub use crate::train::session::Summary;

/// The tokenizer/lexicon builder (full GPT-2 vocabulary) and the image encoder a session
/// needs.
pub struct Parts {
    /// Full-vocabulary sequence builder (prompt "the emotion is", length 30).
    pub seq_full: SequenceBuilder,
    /// Grid features of an image.
    pub featurizer: Box<dyn ImageFeaturizer>,
}

impl Parts {
    /// Loads the shipped tokenizer and lexicon, and the image encoder `init` needs: the
    /// demo kit's tower (`models/demo/pacl`, then `models/pacl`) for a fresh model, the
    /// one the checkpoint's config names otherwise.
    pub fn load(init: &SevlmInit, assets: &Path, models: &Path, device: &Device) -> Result<Parts> {
        let tokenizer = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
        let lexicon = crate::lexicon::VadLexicon::default_from_assets(assets)?;
        let seq_full = SequenceBuilder::new(tokenizer, lexicon, "the emotion is", 30);
        let featurizer: Box<dyn ImageFeaturizer> = match init {
            SevlmInit::Scratch { .. } => {
                let dir = [models.join("demo/pacl"), models.join("pacl")]
                    .into_iter()
                    .find(|d| d.join("config.json").is_file())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "a new SEVLM uses the demo kit's image tower, not found at {} (run `artemo train --preset demo` first)",
                            models.join("demo/pacl").display()
                        ))
                    })?;
                Box::new(TowerFeaturizer::new(crate::pacl::PaclModel::load(
                    &dir, device,
                )?))
            }
            SevlmInit::Checkpoint(dir) => {
                crate::sevlm::load_runtime(dir, assets, models, None, device)?.featurizer
            }
        };
        Ok(Parts {
            seq_full,
            featurizer,
        })
    }
}

/// A trainable model: fresh, or a checkpoint's weights copied into new variables.
fn build_model(
    init: &SevlmInit,
    parts: &Parts,
    texts: &[Example],
    encoder_dim: usize,
    seed: u64,
    device: &Device,
) -> Result<(Sevlm, VarMap, SevlmConfig, SequenceBuilder)> {
    let seq_for = |cfg: &SevlmConfig| {
        SequenceBuilder::for_config(
            parts.seq_full.tokenizer().clone(),
            parts.seq_full.lexicon().clone(),
            cfg,
        )
    };
    match init {
        SevlmInit::Scratch {
            width,
            layers,
            heads,
        } => {
            if *width == 0 || *heads == 0 || width % heads != 0 {
                return Err(Error::Invalid(format!(
                    "decoder width {width} must be a positive multiple of the heads ({heads})"
                )));
            }
            // The output layer covers the tokens of the training and validation texts
            // (validation included so that its loss is defined on every response).
            let vocab = build_vocab(&parts.seq_full, texts, &[], 1)?;
            let mut cfg = SevlmConfig::small();
            cfg.name = "small (Train tab)".into();
            cfg.decoder.n_embd = *width;
            cfg.decoder.n_layer = (*layers).max(1);
            cfg.decoder.n_head = *heads;
            cfg.encoder_dim = encoder_dim;
            cfg.image_encoder = ImageEncoderKind::PatchTower;
            let cfg = cfg.with_compact_vocab(&vocab);
            let (model, vm) = Sevlm::init(&cfg, seed, device)?;
            let seq = seq_for(&cfg);
            Ok((model, vm, cfg, seq))
        }
        SevlmInit::Checkpoint(dir) => {
            let cfg = SevlmConfig::load(&dir.join("config.json"))?;
            if cfg.encoder_dim != encoder_dim {
                return Err(Error::at(
                    dir.join("config.json"),
                    "encoder_dim",
                    format!(
                        "{} but the image encoder gives {encoder_dim}",
                        cfg.encoder_dim
                    ),
                ));
            }
            let file = dir.join("model.safetensors");
            let w = Weights::load(&file, device)?;
            let (head, wte) = ("decoder.lm_head.weight", "decoder.transformer.wte.weight");
            let untied = w.contains(head)
                && (w.get_any(head)?.dims() != w.get_any(wte)?.dims()
                    || (w.get_any(head)? - w.get_any(wte)?)?
                        .abs()?
                        .max_all()?
                        .to_scalar::<f32>()?
                        > 0.0);
            let vm = VarMap::new();
            let model = Sevlm::new(
                &cfg,
                VarBuilder::from_varmap(&vm, DType::F32, device),
                untied,
            )?;
            let report = w.load_into(&vm)?;
            if let Some(m) = report.missing.first() {
                return Err(Error::at(
                    &file,
                    format!("tensor `{m}`"),
                    format!(
                        "missing ({} of {} variables absent): not a checkpoint of this configuration",
                        report.missing.len(),
                        report.missing.len() + report.loaded.len()
                    ),
                ));
            }
            let seq = seq_for(&cfg);
            Ok((model, vm, cfg, seq))
        }
    }
}

/// Runs a session. `emit` receives every [`SessionEvent`]; `progress` gets (fraction,
/// message) for the setup and every step; `cancelled` aborts without saving, while
/// [`Control::stop`] finishes the current step, evaluates and saves.
#[allow(clippy::too_many_arguments)]
pub fn run(
    corpus: &Corpus,
    cfg: &SessionConfig,
    parts: &Parts,
    protected: &[PathBuf],
    device: &Device,
    control: &Control,
    emit: &mut dyn FnMut(SessionEvent),
    progress: &dyn Fn(f32, &str),
    cancelled: &dyn Fn() -> bool,
) -> Result<Summary> {
    let mut protected = protected.to_vec();
    if let SevlmInit::Checkpoint(d) = &cfg.init {
        protected.push(d.clone());
    }
    check_output_dir(&cfg.out, &protected)?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    let [train_ex, val_ex, _] = &corpus.splits;

    // Image features of every train and validation painting, once.
    let mut painting_ids: Vec<String> = train_ex
        .iter()
        .chain(val_ex)
        .map(|e| e.image.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    painting_ids.retain(|p| corpus.images.contains_key(p));
    let mut feats = Vec::with_capacity(painting_ids.len());
    for (i, p) in painting_ids.iter().enumerate() {
        if cancelled() {
            return Err(Error::Cancelled);
        }
        progress(
            0.0,
            &format!("image features {}/{}", i + 1, painting_ids.len()),
        );
        feats.push(parts.featurizer.features(&corpus.images[p], device)?);
    }
    let images = Tensor::cat(&feats, 0)?;
    drop(feats);
    let index: HashMap<&str, usize> = painting_ids
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let encoder_dim = images.dim(2)?;

    let texts: Vec<Example> = train_ex.iter().chain(val_ex).cloned().collect();
    let (model, vm, mcfg, seq) = build_model(
        &cfg.init,
        parts,
        &texts,
        encoder_dim,
        cfg.train.seed,
        device,
    )?;

    // Training pairs (both sequences must encode in the model's vocabulary).
    let mut skipped = corpus.without_image;
    let usable: Vec<&Example> = train_ex
        .iter()
        .filter(|e| index.contains_key(e.image.as_str()))
        .collect();
    let owned: Vec<Example> = usable.iter().map(|e| (*e).clone()).collect();
    let encoded: Vec<Option<Encoded>> = owned
        .iter()
        .map(|e| seq.encode(e.emotion, &e.explanation).ok())
        .collect();
    skipped += encoded.iter().filter(|e| e.is_none()).count();
    let mut sequences = Vec::new();
    for (a, b) in make_pairs(&owned, cfg.train.seed) {
        if let (Some(x), Some(y)) = (&encoded[a], &encoded[b]) {
            sequences.push((x.clone(), index[owned[a].image.as_str()]));
            sequences.push((y.clone(), index[owned[b].image.as_str()]));
        }
    }
    if sequences.len() < 4 {
        return Err(Error::Invalid(format!(
            "{}: fewer than 2 training pairs (responses of one painting with different emotions)",
            corpus.source
        )));
    }
    let data = TrainData {
        sequences,
        images: images.clone(),
        paired: true,
    };

    // Validation: sequences for the loss, paintings for generation, probes.
    let val_seqs: Vec<(Encoded, usize)> = val_ex
        .iter()
        .filter_map(|e| {
            let i = *index.get(e.image.as_str())?;
            match seq.encode(e.emotion, &e.explanation) {
                Ok(s) => Some((s, i)),
                Err(_) => {
                    skipped += 1;
                    None
                }
            }
        })
        .collect();
    if val_seqs.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no validation response can be encoded for this model",
            corpus.source
        )));
    }
    let mut val_refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut val_hist: BTreeMap<String, Histogram> = BTreeMap::new();
    for e in val_ex
        .iter()
        .filter(|e| index.contains_key(e.image.as_str()))
    {
        val_refs
            .entry(e.image.clone())
            .or_default()
            .push(e.explanation.clone());
        val_hist.entry(e.image.clone()).or_default().add(e.emotion);
    }
    let gen_paintings: Vec<String> = val_refs.keys().take(cfg.eval_paintings).cloned().collect();
    let probes: Vec<String> = gen_paintings.iter().take(cfg.probes).cloned().collect();

    let units = data.sequences.len() / 2;
    let total_steps = units.div_ceil(cfg.train.batch_pairs.max(1)) * cfg.train.epochs;
    let (dec, vad) = crate::sevlm::train::trainable_groups(&vm);
    let parameters = crate::train::count_params(&dec) + crate::train::count_params(&vad);
    let session_json = serde_json::json!({
        "source": corpus.source,
        "config": cfg,
        "model": mcfg,
    });
    write_atomic(
        &cfg.out.join("session.json"),
        serde_json::to_string_pretty(&session_json)
            .map_err(|e| Error::Invalid(format!("session: {e}")))?
            .as_bytes(),
    )?;
    emit(SessionEvent::Prepared(Prepared {
        source: corpus.source.clone(),
        model: format!(
            "SEVLM {} ({} layers x {} wide, vocabulary {})",
            mcfg.name, mcfg.decoder.n_layer, mcfg.decoder.n_embd, mcfg.decoder.vocab_size
        ),
        train_pairs: units,
        val_sequences: val_seqs.len(),
        eval_paintings: gen_paintings.len(),
        skipped,
        parameters,
        total_steps,
        probes: probes
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    corpus.images[p].clone(),
                    val_hist
                        .get(p)
                        .and_then(|h| h.dominant(Dominance::MoreThanHalf)),
                )
            })
            .collect(),
        out: cfg.out.clone(),
    }));

    let mut store =
        CheckpointStore::new(&cfg.out, cfg.keep, cfg.best_by.name(), cfg.best_by.goal())?;
    let evaluate = |step: usize, epoch: usize| -> Result<EvalRecord> {
        let t0 = Instant::now();
        let mut metrics = BTreeMap::new();
        // Validation loss (language + VAD, no contrastive term: sequences are unpaired).
        let (mut lang, mut vad, mut vad_n, mut n) = (0f64, 0f64, 0usize, 0usize);
        for chunk in val_seqs.chunks(32) {
            let refs: Vec<&(Encoded, usize)> = chunk.iter().collect();
            let b = Batch::new(&refs, &images, device)?;
            let l = losses(&model, &b, None, 0.0, cfg.train.vad_weight, Mode::Infer)?;
            lang += l.language.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            n += chunk.len();
            if let Some(v) = l.vad {
                vad += v.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                vad_n += chunk.len();
            }
        }
        let lang = lang / n.max(1) as f64;
        metrics.insert("val language".to_string(), lang);
        let mut total = lang;
        if vad_n > 0 {
            let v = vad / vad_n as f64;
            metrics.insert("val VAD".to_string(), v);
            total += cfg.train.vad_weight * v;
        }
        metrics.insert("val loss".to_string(), total);
        // Generation on the validation paintings.
        let mut preds = Vec::with_capacity(gen_paintings.len());
        let mut probe_out = Vec::new();
        for p in &gen_paintings {
            let i = index[p.as_str()];
            let g = generate(
                &model,
                &seq,
                &images.narrow(0, i, 1)?,
                &DecodeOptions::default(),
                |_| {},
                || !cancelled(),
            )?;
            if probes.contains(p) {
                probe_out.push(ProbeResult {
                    painting: p.clone(),
                    text: g.text.clone(),
                    emotion: g.emotion,
                    human: val_hist
                        .get(p)
                        .and_then(|h| h.dominant(Dominance::MoreThanHalf)),
                });
            }
            preds.push((p.clone(), g.text));
        }
        if !preds.is_empty() {
            let hyps: Vec<String> = preds.iter().map(|(_, t)| explanation_text(t)).collect();
            let refs: Vec<Vec<String>> = preds.iter().map(|(p, _)| val_refs[p].clone()).collect();
            let s = crate::metrics::score_text(&hyps, &refs)?;
            metrics.insert("BLEU-1".to_string(), s.bleu.corpus[0]);
            metrics.insert("BLEU-4".to_string(), s.bleu.corpus[3]);
            metrics.insert("ROUGE-L".to_string(), s.rouge.corpus);
            let acc = sevlm_accuracy(&preds, &val_hist)?;
            if acc.counted > 0 {
                metrics.insert("ACC".to_string(), acc.accuracy);
            }
        }
        Ok(EvalRecord {
            step,
            epoch,
            metrics,
            probes: probe_out,
            seconds: t0.elapsed().as_secs_f64(),
        })
    };

    // Evaluate, save a checkpoint, stream both; shared by the periodic evaluations and
    // the final one.
    let history: RefCell<Vec<EvalRecord>> = RefCell::new(Vec::new());
    let store_cell = RefCell::new(&mut store);
    let emit_cell = RefCell::new(emit);
    let checkpoint = |step: usize, epoch: usize| -> Result<()> {
        let rec = evaluate(step, epoch)?;
        let mut st = store_cell.borrow_mut();
        st.save(step, epoch, rec.metrics.clone(), |d| {
            crate::sevlm::save(d, &mcfg, &vm)
        })?;
        let list = st.list().to_vec();
        drop(st);
        history.borrow_mut().push(rec.clone());
        let h = serde_json::to_string_pretty(&*history.borrow())
            .map_err(|e| Error::Invalid(format!("history: {e}")))?;
        write_atomic(&cfg.out.join("history.json"), h.as_bytes())?;
        let mut em = emit_cell.borrow_mut();
        (*em)(SessionEvent::Eval(rec));
        (*em)(SessionEvent::Checkpoints(list));
        Ok(())
    };

    let started = Instant::now();
    let failure: RefCell<Option<Error>> = RefCell::new(None);
    let last: RefCell<Option<(usize, usize)>> = RefCell::new(None);
    let last_eval: RefCell<usize> = RefCell::new(0);
    let every = cfg.eval_every.max(1);
    let result = train(
        &model,
        &vm,
        &data,
        &cfg.train,
        device,
        |s, total| {
            *last.borrow_mut() = Some((s.step, s.epoch));
            let (active, eta) = control.timing(started, s.step, total);
            {
                let mut em = emit_cell.borrow_mut();
                (*em)(SessionEvent::Step(StepRecord {
                    losses: *s,
                    total_steps: total,
                    active_s: active,
                    eta_s: eta,
                }));
            }
            progress(
                s.step as f32 / total.max(1) as f32,
                &format!(
                    "step {}/{} · epoch {} · loss {:.3}",
                    s.step, total, s.epoch, s.total
                ),
            );
            if s.step % every == 0 || s.step == total {
                progress(
                    s.step as f32 / total.max(1) as f32,
                    &format!("evaluating at step {}", s.step),
                );
                match checkpoint(s.step, s.epoch) {
                    Ok(()) => *last_eval.borrow_mut() = s.step,
                    Err(e) => *failure.borrow_mut() = Some(e),
                }
            }
        },
        || failure.borrow().is_none() && control.gate(cancelled),
    );
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    let stopped = control.outcome(result, cancelled)?;
    let done = last.borrow().map(|l| l.0).unwrap_or(0);
    if let Some((step, epoch)) = *last.borrow() {
        if *last_eval.borrow() != step {
            progress(
                step as f32 / total_steps.max(1) as f32,
                &format!("stopped: evaluating and saving step {step}"),
            );
            checkpoint(step, epoch)?;
        }
    }
    let evaluations = history.borrow().len();
    let checkpoints = store_cell.borrow().list().to_vec();
    Ok(Summary {
        steps: done,
        total_steps,
        stopped,
        checkpoints,
        evaluations,
    })
}

/// Where a session's data comes from (built on the engine).
#[derive(Debug, Clone)]
pub enum DataSource {
    /// Artemo's own annotations on the shipped paintings.
    Shipped,
    /// An ArtEmis CSV over an open collection's paintings (id -> file).
    ArtemisCsv {
        /// The CSV.
        csv: PathBuf,
        /// The collection's images.
        images: BTreeMap<String, PathBuf>,
    },
}

/// The engine job of the Train tab: streams [`SessionEvent`]s as `JobOutput::SevlmSession`
/// partials and ends with a [`Summary`] (`JobOutput::SessionSummary`). The output folder may not
/// touch `models/demo` or installed SEVLM weights.
pub fn session_job(
    source: DataSource,
    cfg: SessionConfig,
    assets: PathBuf,
    models: PathBuf,
    control: Arc<Control>,
) -> JobFn {
    Box::new(move |ctx: &JobContext| {
        ctx.progress(0.0, "reading the data");
        let mut corpus = match &source {
            DataSource::Shipped => Corpus::shipped(&assets)?,
            DataSource::ArtemisCsv { csv, images } => Corpus::artemis(csv, images.clone())?,
        };
        if cfg.max_paintings > 0 {
            corpus.limit(cfg.max_paintings);
        }
        ctx.check()?;
        ctx.progress(0.0, "loading the model's parts");
        let parts = Parts::load(&cfg.init, &assets, &models, ctx.device())?;
        let protected = [models.join("demo"), models.join("sevlm")];
        let summary = run(
            &corpus,
            &cfg,
            &parts,
            &protected,
            ctx.device(),
            &control,
            &mut |ev| ctx.partial(JobOutput::SevlmSession(Box::new(ev))),
            &|f, m| ctx.progress(f, m),
            &|| ctx.is_cancelled(),
        )?;
        ctx.progress(1.0, "done");
        Ok(JobOutput::SessionSummary(Box::new(summary)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Deterministic features from the image name: no weights needed.
    struct FakeFeatures;
    impl ImageFeaturizer for FakeFeatures {
        fn name(&self) -> &str {
            "fake"
        }
        fn features(&self, image: &Path, device: &Device) -> Result<Tensor> {
            let h = image
                .to_string_lossy()
                .bytes()
                .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
            let v: Vec<f32> = (0u32..4 * 16)
                .map(|k| {
                    (((h.wrapping_add(k.wrapping_mul(2_654_435_761))) % 1000) as f32 / 500.0) - 1.0
                })
                .collect();
            Ok(Tensor::from_vec(v, (1, 4, 16), device)?)
        }
    }

    fn parts() -> Parts {
        let assets = crate::find_assets().expect("assets");
        let tok = crate::tokenize::TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let lex = crate::lexicon::VadLexicon::parse(
            "term\tvalence\tarousal\tdominance\nsad\t-0.75\t-0.5\t-0.5\nbright\t0.5\t0.25\t0.25\n",
            Path::new("test-lexicon.tsv"),
            crate::lexicon::LexiconFormat::NrcV2,
        )
        .unwrap();
        Parts {
            seq_full: SequenceBuilder::new(tok, lex, "the emotion is", 16),
            featurizer: Box::new(FakeFeatures),
        }
    }

    fn corpus() -> Corpus {
        let texts = [
            (Emotion::Awe, "the bright sky"),
            (Emotion::Sadness, "the sad dark sea"),
            (Emotion::Contentment, "a calm bright field"),
            (Emotion::Fear, "dark shapes"),
        ];
        let mut c = Corpus {
            source: "test".into(),
            ..Default::default()
        };
        for p in 0..6 {
            let id = format!("p{p}");
            c.images
                .insert(id.clone(), PathBuf::from(format!("{id}.jpg")));
            let slot = if p < 4 { 0 } else { 1 };
            for (k, (e, t)) in texts.iter().enumerate() {
                if (k + p) % 4 == 3 {
                    continue;
                }
                c.splits[slot].push(Example {
                    image: id.clone(),
                    emotion: *e,
                    explanation: t.to_string(),
                });
            }
        }
        c
    }

    fn config(out: &Path, epochs: usize) -> SessionConfig {
        SessionConfig {
            train: SevlmTrainConfig {
                epochs,
                batch_pairs: 4,
                lr_decoder: 3e-3,
                lr_vad_encoder: 3e-3,
                ..Default::default()
            },
            init: SevlmInit::Scratch {
                width: 32,
                layers: 1,
                heads: 2,
            },
            out: out.to_path_buf(),
            eval_every: 3,
            eval_paintings: 2,
            probes: 2,
            keep: 2,
            best_by: BestBy::ValLoss,
            max_paintings: 0,
        }
    }

    type Log = Arc<Mutex<Vec<SessionEvent>>>;

    fn run_with(
        cfg: &SessionConfig,
        control: &Control,
        on_event: impl Fn(&SessionEvent, &Control),
    ) -> (Result<Summary>, Vec<SessionEvent>) {
        let log: Log = Arc::default();
        let l2 = log.clone();
        let r = run(
            &corpus(),
            cfg,
            &parts(),
            &[],
            &Device::Cpu,
            control,
            &mut |ev| {
                on_event(&ev, control);
                l2.lock().unwrap().push(ev)
            },
            &|_, _| {},
            &|| false,
        );
        let events = std::mem::take(&mut *log.lock().unwrap());
        (r, events)
    }

    #[test]
    fn full_run_evaluates_keeps_best_and_regenerates_probes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&dir.path().join("run"), 3);
        let (r, events) = run_with(&cfg, &Control::new(), |_, _| {});
        let s = r.unwrap();
        assert!(!s.stopped);
        assert_eq!(s.steps, s.total_steps);
        let steps = events
            .iter()
            .filter(|e| matches!(e, SessionEvent::Step(_)))
            .count();
        assert_eq!(steps, s.total_steps);
        let evals: Vec<&EvalRecord> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Eval(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(evals.len(), s.evaluations);
        assert!(evals.len() >= 2);
        for e in &evals {
            assert_eq!(e.probes.len(), 2);
            for k in ["val loss", "val language", "BLEU-1", "BLEU-4", "ROUGE-L"] {
                assert!(e.metrics[k].is_finite(), "{k}");
            }
        }
        // The best kept checkpoint has the lowest val loss of all evaluations, and loads.
        let best = s.checkpoints.iter().find(|c| c.best).unwrap();
        let min = evals
            .iter()
            .map(|e| e.metrics["val loss"])
            .fold(f64::INFINITY, f64::min);
        assert_eq!(best.value, min);
        assert!(s.checkpoints.len() <= 3);
        let m = Sevlm::load(&best.dir, &Device::Cpu).unwrap();
        assert_eq!(m.config().decoder.n_embd, 32);
        assert!(cfg.out.join("best.json").is_file());
        assert!(cfg.out.join("history.json").is_file());
        // Loss goes down on this tiny set.
        assert!(
            evals.last().unwrap().metrics["val language"] < evals[0].metrics["val language"] + 1.0
        );
    }

    #[test]
    fn stop_finishes_the_step_then_evaluates_and_saves() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&dir.path().join("run"), 20);
        cfg.eval_every = 100;
        let (r, events) = run_with(&cfg, &Control::new(), |ev, c| {
            if let SessionEvent::Step(s) = ev {
                if s.losses.step == 2 {
                    c.stop();
                }
            }
        });
        let s = r.unwrap();
        assert!(s.stopped);
        assert_eq!(s.steps, 2);
        assert!(s.total_steps > 2);
        assert_eq!(s.evaluations, 1);
        assert_eq!(s.checkpoints.len(), 1);
        assert_eq!(s.checkpoints[0].step, 2);
        assert!(s.checkpoints[0].dir.join("model.safetensors").is_file());
        assert!(matches!(events.last(), Some(SessionEvent::Checkpoints(_))));
    }

    #[test]
    fn pause_holds_training_until_resumed_and_cancel_saves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&dir.path().join("run"), 2);
        cfg.eval_every = 100;
        let control = Arc::new(Control::new());
        let seen = Arc::new(Mutex::new(0usize));
        let (c2, s2) = (control.clone(), seen.clone());
        let cfg2 = cfg.clone();
        let t = std::thread::spawn(move || {
            run_with(&cfg2, &c2, move |ev, c| {
                if let SessionEvent::Step(s) = ev {
                    *s2.lock().unwrap() = s.losses.step;
                    if s.losses.step == 1 {
                        c.pause();
                    }
                }
            })
        });
        // Wait for step 1, then check that nothing moves while paused.
        let t0 = Instant::now();
        while *seen.lock().unwrap() < 1 {
            assert!(t0.elapsed() < Duration::from_secs(60));
            assert!(!t.is_finished(), "the session ended before its first step");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(*seen.lock().unwrap(), 1);
        assert!(control.is_paused());
        control.resume();
        let (r, _) = t.join().unwrap();
        let s = r.unwrap();
        assert!(!s.stopped);
        assert_eq!(s.steps, s.total_steps);
        assert!(control.paused_time() >= Duration::from_millis(250));

        // Cancellation aborts without a checkpoint.
        let out = dir.path().join("cancelled");
        let cfg = config(&out, 2);
        let r = run(
            &corpus(),
            &cfg,
            &parts(),
            &[],
            &Device::Cpu,
            &Control::new(),
            &mut |_| {},
            &|_, _| {},
            &|| true,
        );
        assert!(matches!(r, Err(Error::Cancelled)));
        assert!(!out.join("best.json").exists());
    }

    #[test]
    fn refuses_protected_output_and_bad_artemis_csv() {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("models/demo");
        std::fs::create_dir_all(&demo).unwrap();
        let cfg = config(&demo.join("run"), 1);
        let r = run(
            &corpus(),
            &cfg,
            &parts(),
            std::slice::from_ref(&demo),
            &Device::Cpu,
            &Control::new(),
            &mut |_| {},
            &|_, _| {},
            &|| false,
        );
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("refusing"), "{msg}");

        let csv = dir.path().join("bad.csv");
        std::fs::write(
            &csv,
            "art_style,painting,emotion,utterance\nx,p0,awe,nice\nx,p1,joy,bad label\n",
        )
        .unwrap();
        let msg = Corpus::artemis(&csv, BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bad.csv") && msg.contains("row 3"), "{msg}");
        let ok = dir.path().join("ok.csv");
        std::fs::write(&ok, "art_style,painting,emotion,utterance\nx,zz,awe,nice\n").unwrap();
        let msg = Corpus::artemis(&ok, BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("ok.csv") && msg.contains("open collection"),
            "{msg}"
        );
    }
}
