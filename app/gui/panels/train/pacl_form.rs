//! The Train tab's PACL form: pairs from the shipped paintings with their annotations, or
//! from the open collection's paintings with their text (titles, descriptions and any
//! annotation utterances), stage-3 hyper-parameters (the paper's objective by default,
//! the released code's as a preset: one-direction losses, `weight_clip`, ITM), Artemo's
//! warm-up / clipping / tower rate, what the linear probe reads (backbone features, the
//! paper's, or the projected embedding), evaluation and checkpoint settings, output
//! folder; what blocks Start. The session itself is
//! `artemo_engine::jobs::train::session_job::<PaclSession>`.

use std::path::Path;

use artemo_engine::collection::Collection;
use artemo_engine::pacl::losses::Directions;
use artemo_engine::pacl::probe::ProbeFeatures;
use artemo_engine::pacl::session::{PaclSetup, SessionConfig};
use artemo_engine::pacl::train::Objective;
use artemo_engine::pacl::{PaclConfig, TrainConfig};
use artemo_engine::train::session::check_output_dir;
use artemo_engine::train::{BestBy, DataSource, ModelSetup};
use egui::RichText;

use super::rows::{self, lr_value, row, SessionSettings};
use super::PickTarget;

/// Where PACL's pairs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaclData {
    /// The shipped paintings with Artemo's annotations (SPLITS.csv).
    Shipped,
    /// The open collection's paintings with their text.
    Collection,
}

/// The PACL form.
#[derive(Debug, Clone)]
pub struct PaclForm {
    /// Data source.
    pub data: PaclData,
    /// Training hyper-parameters (stage 3).
    pub train: TrainConfig,
    /// Steps per epoch (0: every pair once).
    pub steps_per_epoch: usize,
    /// What the evaluation's linear probe reads.
    pub probe: ProbeFeatures,
    /// Paintings at most, evaluation, checkpoints, output folder.
    pub settings: SessionSettings,
}

impl PaclForm {
    /// The paper's objective and probe on the shipped data.
    pub fn paper(out: &Path) -> Self {
        PaclForm {
            data: PaclData::Shipped,
            train: TrainConfig::default(),
            steps_per_epoch: 0,
            probe: ProbeFeatures::Backbone,
            settings: SessionSettings::new(4, BestBy::ProbeAcc, out),
        }
    }

    /// Draws the form; returns the file dialog to open, if any.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui) -> Option<PickTarget> {
        let mut pick = None;
        rows::data_choice(
            ui,
            &mut self.data,
            (PaclData::Shipped, "Shipped paintings and annotations"),
            (
                PaclData::Collection,
                "The open collection's paintings with their text",
            ),
        );
        rows::max_paintings(ui, &mut self.settings.max_paintings);
        ui.label(
            RichText::new("A new model (small patch tower, frozen MiniLM text side)")
                .small()
                .weak(),
        );
        ui.add_space(8.0);
        ui.heading("Hyper-parameters");
        ui.horizontal(|ui| {
            ui.label("Objective:");
            let now = self.train.objective();
            for (o, label, hover) in [
                (
                    Objective::Paper,
                    "Paper",
                    "Eq. 15-17: symmetric L1..L4, weight 1, no ITM",
                ),
                (
                    Objective::Code,
                    "Released code",
                    "pretrain_PACL.py: one-direction L1..L4 weighted 1/0.6/0.6/0.1, times weight_clip 0.1, plus the ITM loss (weight 1)",
                ),
            ] {
                if ui
                    .selectable_label(now == Some(o), label)
                    .on_hover_text(hover)
                    .clicked()
                {
                    self.train = self.train.clone().with_objective(o);
                }
            }
            if now.is_none() {
                ui.label(RichText::new("custom").weak());
            }
        });
        let (t, per_epoch) = (&mut self.train, &mut self.steps_per_epoch);
        rows::grid(ui, "pacl-hp", |ui| {
            row(
                ui,
                "Epochs",
                egui::DragValue::new(&mut t.epochs).range(1..=10_000),
            );
            let steps = egui::DragValue::new(per_epoch).range(0..=1_000_000);
            row(ui, "Steps per epoch (0: all pairs)", steps);
            let sub = egui::DragValue::new(&mut t.sub_batch).range(2..=1024);
            row(ui, "Pairs per sub-batch", sub);
            row(ui, "LR tower", lr_value(&mut t.lr_tower));
            row(ui, "LR projections", lr_value(&mut t.lr_proj));
            let warmup = egui::DragValue::new(&mut t.warmup_steps).range(0..=100_000);
            row(ui, "Warm-up steps (Artemo; 0: none)", warmup);
            let clip = egui::DragValue::new(&mut t.clip_norm)
                .speed(0.05)
                .range(0.0..=100.0);
            row(ui, "Gradient clipping (Artemo; 0: none)", clip);
            let decay = egui::DragValue::new(&mut t.weight_decay)
                .speed(0.001)
                .range(0.0..=1.0);
            row(ui, "Weight decay", decay);
            for (k, w) in t.loss_weights.iter_mut().enumerate() {
                let d = egui::DragValue::new(w).speed(0.05).range(0.0..=10.0);
                row(ui, &format!("Weight of L{}", k + 1), d);
            }
            let dirs = &mut t.directions;
            row(ui, "Loss directions", |ui: &mut egui::Ui| {
                ui.horizontal(|ui| {
                    ui.selectable_value(dirs, Directions::Symmetric, "both (paper)")
                        | ui.selectable_value(dirs, Directions::Code, "one (code)")
                })
                .inner
            });
            let cw = egui::DragValue::new(&mut t.contrastive_weight)
                .speed(0.05)
                .range(0.0..=10.0);
            row(ui, "Contrastive weight (code: 0.1)", cw);
            let itm = egui::DragValue::new(&mut t.itm_weight)
                .speed(0.05)
                .range(0.0..=10.0);
            row(ui, "ITM weight (paper: 0, code: 1)", itm);
            row(ui, "Seed", egui::DragValue::new(&mut t.seed));
            let probe = &mut self.probe;
            row(ui, "Linear probe on", |ui: &mut egui::Ui| {
                ui.horizontal(|ui| {
                    let mut r = ui
                        .selectable_value(probe, ProbeFeatures::Backbone, "backbone (paper)")
                        .on_hover_text(ProbeFeatures::Backbone.describe());
                    r |= ui
                        .selectable_value(probe, ProbeFeatures::Projected, "projected")
                        .on_hover_text(ProbeFeatures::Projected.describe());
                    r
                })
                .inner
            });
        });
        self.settings
            .eval_rows(ui, "pacl", PaclSetup::BEST_BY, false, |_| {});
        if rows::output_folder(ui, &mut self.settings.out) {
            pick = Some(PickTarget::PaclOut);
        }
        pick
    }

    /// The session configuration.
    pub fn session(&self) -> SessionConfig {
        self.settings.session(PaclSetup {
            train: TrainConfig {
                steps_per_epoch: (self.steps_per_epoch > 0).then_some(self.steps_per_epoch),
                ..self.train.clone()
            },
            model: PaclConfig::default(),
            probe: self.probe,
        })
    }

    /// Why Start is not possible now (None: it is).
    pub(super) fn blocker(&self, collection_open: bool, models: &Path) -> Option<String> {
        if self.data == PaclData::Collection && !collection_open {
            return Some("open a collection first (Collection tab)".into());
        }
        let text = models.join(PaclConfig::default().text_model);
        if !text.join("config.json").is_file() {
            return Some(format!(
                "PACL's text side ({}) is not installed",
                artemo_engine::shown_path(&text)
            ));
        }
        let protected = [models.join("demo"), models.join("pacl")];
        check_output_dir(&self.settings.out_dir(), &protected)
            .err()
            .map(|e| e.to_string())
    }

    /// The pairs the session reads (`collection`: the open one).
    pub(super) fn source(&self, collection: Option<&Collection>) -> DataSource {
        match (self.data, collection) {
            (PaclData::Collection, Some(c)) => DataSource::Collection {
                manifest: c.source.clone(),
            },
            _ => DataSource::Shipped,
        }
    }
}
