//! An interactive SEVLM training session (the GUI's Train tab) as a [`Trainable`] for the
//! one generic session ([`crate::train::session::run_session`]): data from the shipped
//! annotations or an ArtEmis CSV ([`Corpus`]), a model from scratch (the demo kit's small
//! shape over the frozen patch tower) or from a checkpoint folder, SEVLM's training steps
//! ([`Trainer`]), evaluation on the validation split (val loss, BLEU-1/4, ROUGE-L on the
//! explanations, ACC) and a fixed probe set of validation paintings regenerated at each
//! evaluation.

mod corpus;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::annotations::artemis::{Dominance, Histogram};
use crate::error::{Error, Result};
use crate::metrics::accuracy::{explanation_text, sevlm_accuracy};
use crate::models::loading::Weights;
use crate::models::nn::Mode;
use crate::progress::Progress;
use crate::sevlm::data::build_vocab;
use crate::sevlm::data::{make_pairs, Encoded, Example, SequenceBuilder};
use crate::sevlm::generate::{generate, DecodeOptions};
use crate::sevlm::model::{ImageEncoderKind, Sevlm, SevlmConfig};
use crate::sevlm::train::{losses, Batch, Pairing, SevlmTrainConfig, TrainData, Trainer};
use crate::sevlm::{ImageFeaturizer, TowerFeaturizer};
use crate::train::events::{
    CaptionProbe, DataCounts, Evaluation, Prepared, Probe, ProbePainting, StepLosses,
};
use crate::train::session::SessionInputs;
use crate::train::{BestBy, Metric, ModelSetup, SessionParts, Trainable};

pub use corpus::Corpus;

/// A SEVLM session's settings.
pub type SessionConfig = crate::train::session::SessionConfig<SevlmSetup>;

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

/// SEVLM's half of a [`SessionConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SevlmSetup {
    /// Training hyper-parameters.
    pub train: SevlmTrainConfig,
    /// Where the model starts.
    pub init: SevlmInit,
    /// Validation paintings whose explanations are generated for BLEU / ACC.
    pub eval_paintings: usize,
    /// The name a new model's configuration records (default: the small shape's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VAD lexicon (default: the shipped stand-in, not NRC VAD); recorded in the
    /// saved model's config.
    #[serde(default)]
    pub lexicon: crate::lexicon::VadSource,
}

impl Default for SevlmSetup {
    fn default() -> Self {
        SevlmSetup {
            train: SevlmTrainConfig::default(),
            init: SevlmInit::Scratch {
                width: 192,
                layers: 3,
                heads: 4,
            },
            eval_paintings: 16,
            name: None,
            lexicon: crate::lexicon::VadSource::StandIn,
        }
    }
}

impl ModelSetup for SevlmSetup {
    const MODEL: &'static str = "sevlm";
    const BEST_BY: &'static [BestBy] = &[BestBy::ValLoss, BestBy::Bleu1, BestBy::Acc];
    const HEADLINE: Metric = Metric::Loss;

    fn init_checkpoint(&self) -> Option<&Path> {
        match &self.init {
            SevlmInit::Checkpoint(d) => Some(d),
            SevlmInit::Scratch { .. } => None,
        }
    }
}

/// The tokenizer/lexicon builder (full GPT-2 vocabulary) and the image encoder a session
/// needs.
pub struct Parts {
    /// Full-vocabulary sequence builder (the reference prompt `" the emotion is"`, length
    /// 30, exact-lemma lookup) with the session's lexicon.
    pub seq_full: SequenceBuilder,
    /// Grid features of an image.
    pub featurizer: Box<dyn ImageFeaturizer>,
    /// The lexicon in use (recorded in the saved model).
    pub lexicon: crate::lexicon::LexiconRecord,
}

impl SessionParts<SevlmSetup> for Parts {
    /// Loads the shipped tokenizer and lexicon, and the image encoder the setup's `init`
    /// needs: the demo kit's tower (`models/demo/pacl`, then `models/pacl`) for a fresh
    /// model, the one the checkpoint's config names otherwise.
    fn load(setup: &SevlmSetup, assets: &Path, models: &Path, device: &Device) -> Result<Parts> {
        let init = &setup.init;
        let tokenizer = crate::tokenize::TextTokenizer::gpt2_from_assets(assets)?;
        let (lexicon, record) = crate::lexicon::VadLexicon::from_source(assets, &setup.lexicon)?;
        let seq_full =
            SequenceBuilder::new(tokenizer, lexicon, crate::sevlm::data::REFERENCE_PROMPT, 30)
                .with_lookup(crate::lexicon::VadLookup::ExactLemma);
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
            lexicon: record,
        })
    }
}

/// A trainable model: fresh, or a checkpoint's weights copied into new variables.
fn build_model(
    init: &SevlmInit,
    name: Option<&str>,
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
            if let Some(n) = name {
                cfg.name = n.to_string();
            }
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
            crate::train::fill_from_checkpoint(&w, &vm, &file)?;
            let seq = seq_for(&cfg);
            Ok((model, vm, cfg, seq))
        }
    }
}

/// A SEVLM being trained: the model, its prepared data and what evaluation needs.
pub struct SevlmSession {
    model: Sevlm,
    vm: VarMap,
    mcfg: SevlmConfig,
    seq: SequenceBuilder,
    data: TrainData,
    images: Tensor,
    index: HashMap<String, usize>,
    val_seqs: Vec<(Encoded, usize)>,
    val_refs: BTreeMap<String, Vec<String>>,
    val_hist: BTreeMap<String, Histogram>,
    gen_paintings: Vec<String>,
    probes: Vec<String>,
    train_cfg: SevlmTrainConfig,
    trainer: Trainer,
    device: Device,
}

impl Trainable for SevlmSession {
    type Setup = SevlmSetup;
    type Data = Corpus;
    type Parts = Parts;
    type Model = Sevlm;
    type Config = SevlmConfig;

    fn prepare(
        inputs: &SessionInputs<'_, Self>,
        progress: &dyn Progress,
    ) -> Result<(Self, Prepared)> {
        let [train_ex, val_ex, _] = &inputs.data.splits;

        // Image features of every train and validation painting, once.
        let mut painting_ids: Vec<String> = train_ex
            .iter()
            .chain(val_ex)
            .map(|e| e.image.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        painting_ids.retain(|p| inputs.data.images.contains_key(p));
        let mut feats = Vec::with_capacity(painting_ids.len());
        for (i, p) in painting_ids.iter().enumerate() {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            progress.report(
                0.0,
                &format!("image features {}/{}", i + 1, painting_ids.len()),
            );
            feats.push(
                inputs
                    .parts
                    .featurizer
                    .features(&inputs.data.images[p], inputs.device)?,
            );
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
        let (model, vm, mut mcfg, seq) = build_model(
            &inputs.cfg.model.init,
            inputs.cfg.model.name.as_deref(),
            inputs.parts,
            &texts,
            encoder_dim,
            inputs.cfg.model.train.seed,
            inputs.device,
        )?;
        // The lexicon: a checkpoint trained with another one is a visible note; the saved
        // model records the one used now.
        let mut notes = Vec::new();
        if matches!(inputs.cfg.model.init, SevlmInit::Checkpoint(_)) {
            if let Some(w) = crate::lexicon::LexiconRecord::mismatch(
                &mcfg.trained_lexicon_or_assumed(),
                &inputs.parts.lexicon,
            ) {
                notes.push(w);
            }
        }
        notes.push(format!(
            "VAD lexicon: {} (lookup {}, prompt {:?})",
            inputs.parts.lexicon.describe(),
            mcfg.vad_lookup.name(),
            mcfg.prompt
        ));
        mcfg.trained_lexicon = Some(inputs.parts.lexicon.clone());

        // Training pairs (both sequences must encode in the model's vocabulary).
        let mut skipped = inputs.data.without_image;
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
        let data = match inputs.cfg.model.train.pairing {
            Pairing::PerImage => {
                let responses = owned
                    .iter()
                    .zip(&encoded)
                    .filter_map(|(e, x)| Some((x.clone()?, index[e.image.as_str()], e.emotion)))
                    .collect();
                TrainData::per_image(responses, images.clone())
            }
            Pairing::EveryResponse => {
                let mut sequences = Vec::new();
                for (a, b) in make_pairs(&owned, inputs.cfg.model.train.seed) {
                    if let (Some(x), Some(y)) = (&encoded[a], &encoded[b]) {
                        sequences.push((x.clone(), index[owned[a].image.as_str()]));
                        sequences.push((y.clone(), index[owned[b].image.as_str()]));
                    }
                }
                TrainData {
                    sequences,
                    images: images.clone(),
                    paired: true,
                    groups: Vec::new(),
                }
            }
        };
        if data.items_per_epoch() < 2 {
            return Err(Error::Invalid(format!(
                "{}: fewer than 2 training items (paintings with responses of different emotions)",
                inputs.data.source
            )));
        }

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
                inputs.data.source
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
        let gen_paintings: Vec<String> = val_refs
            .keys()
            .take(inputs.cfg.model.eval_paintings)
            .cloned()
            .collect();
        let probes: Vec<String> = gen_paintings
            .iter()
            .take(inputs.cfg.probes)
            .cloned()
            .collect();

        let units = data.items_per_epoch();
        let trainer = Trainer::new(&vm, &data, &inputs.cfg.model.train)?;
        let total_steps = trainer.total_steps();
        let prepared = Prepared {
            source: inputs.data.source.clone(),
            model: format!(
                "SEVLM {} ({} layers x {} wide, vocabulary {})",
                mcfg.name, mcfg.decoder.n_layer, mcfg.decoder.n_embd, mcfg.decoder.vocab_size
            ),
            data: DataCounts::Captions {
                train_pairs: units,
                val_sequences: val_seqs.len(),
                eval_paintings: gen_paintings.len(),
                skipped,
            },
            parameters: trainer.parameters(),
            device: crate::device::describe(inputs.device),
            total_steps,
            probes: probes
                .iter()
                .map(|p| ProbePainting {
                    id: p.clone(),
                    image: inputs.data.images[p].clone(),
                    human: val_hist
                        .get(p)
                        .and_then(|h| h.dominant(Dominance::MoreThanHalf)),
                })
                .collect(),
            notes,
            out: inputs.cfg.out.clone(),
        };
        let index = index.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let session = SevlmSession {
            model,
            vm,
            mcfg,
            seq,
            data,
            images,
            index,
            val_seqs,
            val_refs,
            val_hist,
            gen_paintings,
            probes,
            train_cfg: inputs.cfg.model.train.clone(),
            trainer,
            device: inputs.device.clone(),
        };
        Ok((session, prepared))
    }

    fn model_config(&self) -> &SevlmConfig {
        &self.mcfg
    }

    fn has_next(&self) -> bool {
        self.trainer.has_next()
    }

    fn train_step(&mut self) -> Result<Option<StepLosses>> {
        let Some(s) = self
            .trainer
            .step(&self.model, &self.data, &self.train_cfg, &self.device)?
        else {
            return Ok(None);
        };
        let mut losses = BTreeMap::from([
            (Metric::Loss, s.total as f64),
            (Metric::Language, s.language as f64),
            (Metric::GradNorm, s.grad_norm as f64),
        ]);
        if let Some(v) = s.vad {
            losses.insert(Metric::Vad, v as f64);
        }
        if let Some(c) = s.contrastive {
            losses.insert(Metric::Contrastive, c as f64);
        }
        Ok(Some(StepLosses {
            step: s.step,
            epoch: s.epoch,
            losses,
        }))
    }

    fn evaluate(&self, progress: &dyn Progress) -> Result<Evaluation> {
        let (model, images, device) = (&self.model, &self.images, &self.device);
        let mut metrics = BTreeMap::new();
        // Validation loss (language + VAD, no contrastive term: sequences are unpaired).
        let (mut lang, mut vad, mut vad_n, mut n) = (0f64, 0f64, 0usize, 0usize);
        for chunk in self.val_seqs.chunks(32) {
            let refs: Vec<&(Encoded, usize)> = chunk.iter().collect();
            let b = Batch::new(&refs, images, device)?;
            let l = losses(model, &b, None, 0.0, self.train_cfg.vad_weight, Mode::Infer)?;
            lang += l.language.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            n += chunk.len();
            if let Some(v) = l.vad {
                vad += v.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                vad_n += chunk.len();
            }
        }
        let lang = lang / n.max(1) as f64;
        metrics.insert(Metric::ValLanguage, lang);
        let mut total = lang;
        if vad_n > 0 {
            let v = vad / vad_n as f64;
            metrics.insert(Metric::ValVad, v);
            total += self.train_cfg.vad_weight * v;
        }
        metrics.insert(Metric::ValLoss, total);
        // Generation on the validation paintings.
        let mut preds = Vec::with_capacity(self.gen_paintings.len());
        let mut probes = Vec::new();
        for p in &self.gen_paintings {
            let i = self.index[p.as_str()];
            let g = generate(
                model,
                &self.seq,
                &images.narrow(0, i, 1)?,
                &DecodeOptions::default(),
                |_| {},
                progress,
            )?;
            if self.probes.contains(p) {
                probes.push(Probe::Caption(CaptionProbe {
                    painting: p.clone(),
                    text: g.text.clone(),
                    emotion: g.emotion,
                    human: self
                        .val_hist
                        .get(p)
                        .and_then(|h| h.dominant(Dominance::MoreThanHalf)),
                }));
            }
            preds.push((p.clone(), g.text));
        }
        if !preds.is_empty() {
            let hyps: Vec<String> = preds.iter().map(|(_, t)| explanation_text(t)).collect();
            let refs: Vec<Vec<String>> = preds
                .iter()
                .map(|(p, _)| self.val_refs[p].clone())
                .collect();
            let s = crate::metrics::score_text(&hyps, &refs)?;
            metrics.insert(Metric::Bleu1, s.bleu.corpus[0]);
            metrics.insert(Metric::Bleu4, s.bleu.corpus[3]);
            metrics.insert(Metric::RougeL, s.rouge.corpus);
            let acc = sevlm_accuracy(&preds, &self.val_hist)?;
            if acc.counted > 0 {
                metrics.insert(Metric::Acc, acc.accuracy);
            }
        }
        Ok(Evaluation { metrics, probes })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        crate::sevlm::save(dir, &self.mcfg, &self.vm)
    }

    fn load(dir: &Path, _parts: &Parts, device: &Device) -> Result<Sevlm> {
        Sevlm::load(dir, device)
    }
}
