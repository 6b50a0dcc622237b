//! An interactive PACL training session (the Train tab with the PACL model) as a
//! [`Trainable`] for the one generic session ([`crate::train::session::run_session`]):
//! stage-3 training on a collection's paintings with their text (titles, descriptions and
//! any annotation utterances; stages 1 and 2 prepare the pairs), curves of L1-L4, and at
//! every evaluation a linear probe of the paintings' embeddings (their viewers' dominant
//! emotion) fitted on the training paintings and scored on held-out ones, on the
//! backbone features with the paper's protocol or on the projected embeddings
//! ([`PaclSetup::probe`]).

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::partition::Partition;
use super::probe::{dominant_labels, ProbeFeatures};
use super::train::{prepare_pairs, PrepareOptions, TrainConfig, TrainData};
use super::trainer::Trainer;
use super::{PaclConfig, PaclModel};
use crate::annotations::artemis::Split;
use crate::annotations::dataset::AnnotationSet;
use crate::collection::{Collection, Painting};
use crate::error::{Error, Result};
use crate::models::bert::SentenceEncoder;
use crate::models::patch_tower::{file_descriptors, Descriptors};
use crate::progress::Progress;
use crate::train::events::{DataCounts, Evaluation, Prepared, ProbePainting, StepLosses};
use crate::train::session::SessionInputs;
use crate::train::{BestBy, DataSource, Metric, ModelSetup, SessionData, SessionParts, Trainable};

/// A PACL session's settings.
pub type SessionConfig = crate::train::session::SessionConfig<PaclSetup>;

/// PACL's half of a [`SessionConfig`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaclSetup {
    /// Training hyper-parameters (stage 3).
    pub train: TrainConfig,
    /// The model's shape (tower, text encoder, widths).
    pub model: PaclConfig,
    /// What the evaluation's linear probe reads (the paper's: backbone features).
    #[serde(default)]
    pub probe: ProbeFeatures,
}

/// The start of the note that names the probed features (the run view titles its probe
/// curves from it).
pub const PROBE_NOTE: &str = "linear probe on ";

/// Data preparation's progress as the session shows it: no share of the run (0), the
/// stage's own percentage in the message.
struct Percent<'a>(&'a dyn Progress);

impl Progress for Percent<'_> {
    fn report(&self, fraction: f32, message: &str) {
        self.0
            .report(0.0, &format!("{message} ({:.0}%)", 100.0 * fraction));
    }
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

impl ModelSetup for PaclSetup {
    const MODEL: &'static str = "pacl";
    const BEST_BY: &'static [BestBy] = &[BestBy::ProbeAcc];
    const HEADLINE: Metric = Metric::Loss;

    fn init_checkpoint(&self) -> Option<&Path> {
        None
    }
}

/// Paintings with their text, split into training and held-out paintings.
#[derive(Debug, Clone, Default)]
pub struct PairCorpus {
    /// What it was read from (shown to users).
    pub source: String,
    /// Training paintings.
    pub train: Vec<Painting>,
    /// Held-out paintings (the linear probe's test set).
    pub val: Vec<Painting>,
    /// (painting id, utterance) of the annotations naming the paintings.
    pub utterances: Vec<(String, String)>,
    /// Each painting's viewers' dominant emotion (index into `Emotion::ALL`).
    pub labels: BTreeMap<String, usize>,
    /// What users should know about the data.
    pub notes: Vec<String>,
}

impl PairCorpus {
    /// The shipped paintings with Artemo's annotations, split by `SPLITS.csv` (the test
    /// split is left out).
    pub fn shipped(assets: &Path) -> Result<PairCorpus> {
        let coll = Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
        let set = AnnotationSet::load(&assets.join("annotations"))?;
        let mut c = PairCorpus::with_annotations("the shipped paintings and annotations", &set);
        for p in coll.paintings {
            match set.splits.get(&p.id) {
                Some(Split::Train) => c.train.push(p),
                Some(Split::Val) => c.val.push(p),
                _ => {}
            }
        }
        c.notes.push(
            "the test split (SPLITS.csv) is held out; the probe is scored on the validation paintings"
                .into(),
        );
        c.require(&set.dir)?;
        Ok(c)
    }

    /// The paintings of the collection at `manifest` with their titles and descriptions
    /// (and the shipped annotations' utterances of those it holds), every tenth painting
    /// held out for the probe.
    pub fn collection(manifest: &Path, assets: &Path) -> Result<PairCorpus> {
        let coll = Collection::open(manifest)?;
        let mut c = match AnnotationSet::load(&assets.join("annotations")) {
            Ok(set) => PairCorpus::with_annotations("", &set),
            Err(_) => PairCorpus::default(),
        };
        c.source = format!("collection {}", manifest.display());
        let n = coll.paintings.len();
        for (i, p) in coll.paintings.into_iter().enumerate() {
            if i % 10 == 9 || (n < 10 && i + 1 == n && n > 2) {
                c.val.push(p);
            } else {
                c.train.push(p);
            }
        }
        let ids: std::collections::BTreeSet<&str> = c
            .train
            .iter()
            .chain(&c.val)
            .map(|p| p.id.as_str())
            .collect();
        c.utterances.retain(|(p, _)| ids.contains(p.as_str()));
        c.labels.retain(|p, _| ids.contains(p.as_str()));
        c.notes
            .push("every tenth painting is held out for the linear probe".into());
        if c.labels.is_empty() {
            c.notes.push(
                "no painting has annotations: texts are titles and descriptions, and there is no probe accuracy"
                    .into(),
            );
        }
        c.require(manifest)?;
        Ok(c)
    }

    fn with_annotations(source: &str, set: &AnnotationSet) -> PairCorpus {
        PairCorpus {
            source: source.to_string(),
            utterances: set
                .rows
                .iter()
                .map(|r| (r.painting.clone(), r.utterance.clone()))
                .collect(),
            labels: dominant_labels(set),
            ..Default::default()
        }
    }

    fn require(&self, file: &Path) -> Result<()> {
        if self.train.len() < 2 {
            return Err(Error::at(
                file,
                "paintings",
                "fewer than 2 training paintings",
            ));
        }
        Ok(())
    }
}

/// The frozen text encoder of a session.
pub struct Parts {
    /// The sentence encoder the model's `text_model` names.
    pub encoder: SentenceEncoder,
}

impl SessionData for PairCorpus {
    fn read(source: &DataSource, assets: &Path) -> Result<PairCorpus> {
        match source {
            DataSource::Shipped => PairCorpus::shipped(assets),
            DataSource::Collection { manifest } => PairCorpus::collection(manifest, assets),
            other => Err(Error::Invalid(format!(
                "PACL trains on paintings with their text (the shipped paintings or a collection), not on {}",
                other.kind()
            ))),
        }
    }

    fn limit(&mut self, n: usize) {
        self.train.truncate(n.max(2));
        self.val.truncate(n.div_ceil(5).max(2));
    }
}

impl SessionParts<PaclSetup> for Parts {
    fn load(setup: &PaclSetup, _assets: &Path, models: &Path, device: &Device) -> Result<Parts> {
        Ok(Parts {
            encoder: SentenceEncoder::load(&models.join(&setup.model.text_model), device)?,
        })
    }
}

/// A PACL model being trained: the trainer (which owns the model), the prepared pairs,
/// and the descriptors and labels of the probe.
pub struct PaclSession {
    trainer: Trainer,
    data: TrainData,
    model_cfg: PaclConfig,
    /// What the probe reads.
    probe: ProbeFeatures,
    /// Labels of the training paintings (by `data.image_ids`), when known.
    train_labels: Vec<Option<usize>>,
    /// Held-out paintings' descriptors and labels.
    val: Vec<(Descriptors, usize)>,
    device: Device,
}

impl Trainable for PaclSession {
    type Setup = PaclSetup;
    type Data = PairCorpus;
    type Parts = Parts;
    type Model = PaclModel;
    type Config = PaclConfig;

    fn prepare(
        inputs: &SessionInputs<'_, Self>,
        progress: &dyn Progress,
    ) -> Result<(Self, Prepared)> {
        let paintings: Vec<&Painting> = inputs.data.train.iter().collect();
        let utterances: Vec<(&str, &str)> = inputs
            .data
            .utterances
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let opts = PrepareOptions {
            k: inputs.cfg.model.train.k,
            seed: inputs.cfg.model.train.seed,
            ..Default::default()
        };
        let data = prepare_pairs(
            &paintings,
            &utterances,
            &inputs.parts.encoder,
            &inputs.cfg.model.model.tower,
            None,
            &opts,
            &Percent(progress),
        )?;
        let mut val = Vec::new();
        for (i, p) in inputs.data.val.iter().enumerate() {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let Some(&y) = inputs.data.labels.get(&p.id) else {
                continue;
            };
            progress.report(
                0.0,
                &format!("held-out descriptors {}/{}", i + 1, inputs.data.val.len()),
            );
            val.push((file_descriptors(&p.path, &inputs.cfg.model.model.tower)?, y));
        }
        let train_labels = data
            .image_ids
            .iter()
            .map(|id| inputs.data.labels.get(id).copied())
            .collect();
        let trainer = Trainer::new(
            &inputs.cfg.model.model,
            &inputs.cfg.model.train,
            &data,
            inputs.device,
        )?;
        let mut partitions = [0usize; 4];
        for p in &data.pairs {
            partitions[Partition::ALL
                .iter()
                .position(|q| *q == p.partition)
                .unwrap_or(3)] += 1;
        }
        let prepared = Prepared {
            source: inputs.data.source.clone(),
            model: format!(
                "PACL (tower {}x{} grid, {}-d embedding, text {})",
                inputs.cfg.model.model.tower.grid,
                inputs.cfg.model.model.tower.grid,
                inputs.cfg.model.model.embed_dim,
                inputs.cfg.model.model.text_model
            ),
            data: DataCounts::Pairs {
                paintings: data.image_ids.len(),
                pairs: data.pairs.len(),
                partitions,
                probe_paintings: val.len(),
            },
            parameters: trainer.parameters(),
            device: crate::device::describe(inputs.device),
            total_steps: trainer.total_steps(),
            probes: inputs
                .data
                .val
                .iter()
                .take(inputs.cfg.probes)
                .map(|p| ProbePainting {
                    id: p.id.clone(),
                    image: p.path.clone(),
                    human: inputs
                        .data
                        .labels
                        .get(&p.id)
                        .and_then(|&i| crate::emotion::Emotion::ALL.get(i).copied()),
                })
                .collect(),
            notes: {
                let mut n = inputs.data.notes.clone();
                n.push(format!("{PROBE_NOTE}{}", inputs.cfg.model.probe.describe()));
                let t = &inputs.cfg.model.train;
                n.push(format!(
                    "objective: {} (L1..L4 weights {:?}, {:?} directions, contrastive weight {}, ITM weight {})",
                    t.objective().map_or("custom", |o| o.name()),
                    t.loss_weights,
                    t.directions,
                    t.contrastive_weight,
                    t.itm_weight
                ));
                n
            },
            out: inputs.cfg.out.clone(),
        };
        Ok((
            PaclSession {
                model_cfg: trainer.model().config().clone(),
                trainer,
                data,
                probe: inputs.cfg.model.probe,
                train_labels,
                val,
                device: inputs.device.clone(),
            },
            prepared,
        ))
    }

    fn model_config(&self) -> &PaclConfig {
        &self.model_cfg
    }

    fn has_next(&self) -> bool {
        self.trainer.has_next()
    }

    fn train_step(&mut self) -> Result<Option<StepLosses>> {
        let Some(s) = self.trainer.step(&self.data, &self.device)? else {
            return Ok(None);
        };
        let mut losses = BTreeMap::from([(Metric::Loss, s.loss)]);
        let keys = [
            Metric::PaclL1,
            Metric::PaclL2,
            Metric::PaclL3,
            Metric::PaclL4,
        ];
        for (k, v) in keys.into_iter().zip(s.losses) {
            if let Some(v) = v {
                losses.insert(k, v);
            }
        }
        if let Some(v) = s.itm {
            losses.insert(Metric::PaclItm, v);
        }
        Ok(Some(StepLosses {
            step: s.step,
            epoch: s.epoch,
            losses,
        }))
    }

    fn evaluate(&self, progress: &dyn Progress) -> Result<Evaluation> {
        let mut metrics = BTreeMap::new();
        let model = self.trainer.model();
        let train: Vec<(usize, usize)> = self
            .train_labels
            .iter()
            .enumerate()
            .filter_map(|(i, y)| y.map(|y| (i, y)))
            .collect();
        let classes: std::collections::BTreeSet<usize> = train.iter().map(|t| t.1).collect();
        if !self.val.is_empty() && classes.len() >= 2 {
            let quiet = &crate::progress::Muted(progress);
            let imgs: Vec<Descriptors> = train
                .iter()
                .map(|&(i, _)| self.data.images[i].clone())
                .collect();
            let tr_x = self.probe.features(model, &imgs, quiet)?;
            let tr_y: Vec<usize> = train.iter().map(|t| t.1).collect();
            let val_d: Vec<Descriptors> = self.val.iter().map(|v| v.0.clone()).collect();
            let te_x = self.probe.features(model, &val_d, quiet)?;
            let te_y: Vec<usize> = self.val.iter().map(|v| v.1).collect();
            let classes = crate::emotion::Emotion::ALL.len();
            let (_, s) = self.probe.evaluate(&tr_x, &tr_y, &te_x, &te_y, classes)?;
            metrics.insert(Metric::ProbeAcc, s.accuracy);
            metrics.insert(Metric::ProbeF1, s.weighted_f1);
        }
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(Evaluation {
            metrics,
            probes: Vec::new(),
        })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.trainer.model().save(dir)
    }

    fn load(dir: &Path, _parts: &Parts, device: &Device) -> Result<PaclModel> {
        PaclModel::load(dir, device)
    }
}

#[cfg(test)]
mod tests;
