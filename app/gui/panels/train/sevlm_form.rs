//! The Train tab's SEVLM form: data (the shipped annotations, or an ArtEmis CSV over the
//! open collection, checked on the engine's io lane as soon as it is picked), model (a new
//! small SEVLM over the demo kit's image tower, or a checkpoint folder such as
//! `models/demo/sevlm`), the hyper-parameters pre-filled with the released code's values
//! (the `code` preset; `paper` where the paper differs; the CPU demo recipe), the VAD
//! lexicon, evaluation and checkpoint settings, output folder; what blocks Start.

use std::path::{Path, PathBuf};

use artemo_engine::collection::Collection;
use artemo_engine::kit::sevlm::KitSevlmConfig;
use artemo_engine::lexicon::{VadSource, STAND_IN_NAME};
use artemo_engine::sevlm::session::{SessionConfig, SevlmInit, SevlmSetup};
use artemo_engine::sevlm::train::{Anchor, Pairing, SevlmPreset};
use artemo_engine::sevlm::SevlmTrainConfig;
use artemo_engine::train::session::check_output_dir;
use artemo_engine::train::{BestBy, DataSource, ModelSetup};
use artemo_engine::worker::JobId;
use egui::RichText;

use super::rows::{self, lr_value, row, Preset, SessionSettings};
use super::PickTarget;
use crate::gui::theme;

/// Which data the session trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataChoice {
    /// Artemo's own annotations on the shipped paintings.
    Shipped,
    /// An ArtEmis CSV over the open collection.
    Artemis,
}

/// Where the model starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// A new small SEVLM over the demo kit's tower.
    Scratch,
    /// A SEVLM checkpoint folder.
    Checkpoint,
}

/// The form: everything a session is started with.
#[derive(Debug, Clone)]
pub struct Form {
    /// Data source.
    pub data: DataChoice,
    /// The ArtEmis CSV (when `data` is `Artemis`).
    pub csv: String,
    /// Model start.
    pub model: ModelChoice,
    /// Checkpoint folder (when `model` is `Checkpoint`).
    pub checkpoint: String,
    /// New model's decoder width, layers, heads.
    pub width: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Decoder heads.
    pub heads: usize,
    /// Training hyper-parameters.
    pub train: SevlmTrainConfig,
    /// Validation paintings generated at each evaluation.
    pub eval_paintings: usize,
    /// SEVLM's VAD lexicon: an NRC VAD file, empty for the shipped stand-in.
    pub lexicon: String,
    /// Paintings at most, evaluation, checkpoints, output folder.
    pub settings: SessionSettings,
}

impl Form {
    /// The paper's hyper-parameters (SEVLM), a new demo-shaped model, shipped data.
    pub fn paper(checkpoint: Option<&Path>, out: &Path) -> Self {
        let kit = KitSevlmConfig::full(2026);
        let (model, checkpoint) =
            rows::start_from(checkpoint, ModelChoice::Scratch, ModelChoice::Checkpoint);
        Form {
            data: DataChoice::Shipped,
            csv: String::new(),
            model,
            checkpoint,
            width: kit.width,
            layers: kit.layers,
            heads: kit.heads,
            train: SevlmTrainConfig::default(),
            eval_paintings: 16,
            lexicon: String::new(),
            settings: SessionSettings::new(4, BestBy::ValLoss, out),
        }
    }

    /// The demo kit's CPU recipe (`KitSevlmConfig::full`): higher learning rates with
    /// warm-up, batches of 16 pairs, 14 epochs, a 3-layer 192-wide decoder.
    pub fn cpu_recipe(&mut self) {
        let kit = KitSevlmConfig::full(self.train.seed);
        self.train = kit.train;
        self.width = kit.width;
        self.layers = kit.layers;
        self.heads = kit.heads;
        self.settings.eval_every = 25;
    }

    /// A preset's values (`code`: the released code's; `paper`: alpha 2), the seed kept.
    pub fn preset_values(&mut self, preset: SevlmPreset) {
        let seed = self.train.seed;
        self.train = SevlmTrainConfig {
            seed,
            ..SevlmTrainConfig::preset(preset)
        };
        self.settings.eval_every = 50;
    }

    /// The paper's values where they differ from the code (alpha 2), the code's
    /// otherwise (the seed kept).
    pub fn paper_values(&mut self) {
        self.preset_values(SevlmPreset::Paper);
    }

    /// The lexicon choice.
    pub fn lexicon_source(&self) -> VadSource {
        match self.lexicon.trim() {
            "" => VadSource::StandIn,
            p => VadSource::File {
                path: artemo_engine::resolve_shown(p),
                format: None,
            },
        }
    }

    /// The session configuration.
    pub(super) fn session(&self) -> SessionConfig {
        self.settings.session(SevlmSetup {
            train: self.train.clone(),
            init: match self.model {
                ModelChoice::Scratch => SevlmInit::Scratch {
                    width: self.width,
                    layers: self.layers,
                    heads: self.heads,
                },
                ModelChoice::Checkpoint => {
                    SevlmInit::Checkpoint(artemo_engine::resolve_shown(&self.checkpoint))
                }
            },
            eval_paintings: self.eval_paintings,
            // The tab's own name for a new model (the engine leaves the shape's).
            name: Some("small (Train tab)".into()),
            lexicon: self.lexicon_source(),
        })
    }
}

/// An ArtEmis CSV check (rows read on the engine's io lane).
#[derive(Debug, Clone)]
pub(super) enum CsvCheck {
    Reading(JobId),
    Ok {
        responses: usize,
        paintings: std::collections::BTreeSet<String>,
        /// (collection it was counted against, paintings with an image there).
        with_image: Option<(PathBuf, usize, usize)>,
    },
    Failed(String),
}

/// What the SEVLM form asks of the tab after drawing.
#[derive(Debug, Default)]
pub(super) struct FormAsks {
    /// A file dialog to open.
    pub pick: Option<PickTarget>,
    /// The CSV field was left: check the CSV.
    pub check_csv: bool,
}

impl Form {
    /// Draws the form (`tower`: the demo kit's image tower is installed).
    pub(super) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        tower: bool,
        csv: Option<&CsvCheck>,
    ) -> FormAsks {
        let mut asks = FormAsks::default();
        rows::data_choice(
            ui,
            &mut self.data,
            (
                DataChoice::Shipped,
                "Shipped annotations (Artemo's own, 267 paintings)",
            ),
            (DataChoice::Artemis, "ArtEmis CSV over the open collection"),
        );
        if self.data == DataChoice::Artemis {
            let (browse, r) =
                rows::path_field(ui, &mut self.csv, "artemis_dataset_release_v0.csv", "");
            if browse {
                asks.pick = Some(PickTarget::Csv);
            }
            asks.check_csv = r.lost_focus();
            csv_status(ui, csv);
        }
        rows::max_paintings(ui, &mut self.settings.max_paintings);
        rows::model_choice(
            ui,
            tower,
            &mut self.model,
            (
                ModelChoice::Scratch,
                "New small SEVLM (demo-kit image tower, frozen)",
            ),
            (ModelChoice::Checkpoint, "SEVLM checkpoint (fine-tune)"),
        );
        match self.model {
            ModelChoice::Scratch => {
                egui::Grid::new("train-arch").num_columns(2).show(ui, |ui| {
                    row(
                        ui,
                        "Width",
                        egui::DragValue::new(&mut self.width).range(8..=1024),
                    );
                    row(
                        ui,
                        "Layers",
                        egui::DragValue::new(&mut self.layers).range(1..=12),
                    );
                    row(
                        ui,
                        "Heads",
                        egui::DragValue::new(&mut self.heads).range(1..=16),
                    );
                });
            }
            ModelChoice::Checkpoint => {
                let hint = "models/demo/sevlm";
                let (browse, _) =
                    rows::path_field(ui, &mut self.checkpoint, hint, "SEVLM checkpoint folder");
                if browse {
                    asks.pick = Some(PickTarget::Checkpoint);
                }
            }
        }
        match rows::presets(
            ui,
            "The paper's contrastive weight alpha 2; the rest as BetterZH/SEVLM-code: 35 epochs, \
             32 pairs, lr 2e-5 / 4e-5, no clipping, dropout 0.1, one item per painting",
        ) {
            Some(Preset::Paper) => self.paper_values(),
            Some(Preset::CpuRecipe) => self.cpu_recipe(),
            None => {}
        }
        ui.horizontal(|ui| {
            if ui
                .small_button("Code defaults")
                .on_hover_text(
                    "BetterZH/SEVLM-code as released (utils/opts.py): 35 epochs, 32 pairs, \
                     lr 2e-5 / 4e-5, XE, contrastive and VAD weights 1, no clipping, dropout \
                     0.1, one item per painting with a partner drawn anew",
                )
                .clicked()
            {
                self.preset_values(SevlmPreset::Code);
            }
            let which = match self.train.preset {
                Some(p) => format!("from the {} preset", p.name()),
                None => "custom".into(),
            };
            ui.label(RichText::new(which).small().weak());
        });
        lexicon_row(ui, &mut self.lexicon, &mut asks);
        let t = &mut self.train;
        rows::grid(ui, "train-hp", |ui| {
            row(
                ui,
                "Epochs",
                egui::DragValue::new(&mut t.epochs).range(1..=1000),
            );
            let pairs = egui::DragValue::new(&mut t.batch_pairs).range(1..=512);
            row(ui, "Pairs per batch", pairs);
            row(ui, "LR decoder + heads", lr_value(&mut t.lr_decoder));
            row(ui, "LR VAD encoder", lr_value(&mut t.lr_vad_encoder));
            let warmup = egui::DragValue::new(&mut t.warmup).range(0..=100_000);
            row(ui, "Warm-up steps", warmup);
            row(ui, "Weight decay", weight(&mut t.weight_decay, 0.001, 1.0));
            row(ui, "α (contrastive)", weight(&mut t.alpha, 0.05, 100.0));
            row(
                ui,
                "XE loss weight",
                weight(&mut t.language_weight, 0.05, 100.0),
            );
            row(
                ui,
                "VAD loss weight",
                weight(&mut t.vad_weight, 0.05, 100.0),
            );
            row(
                ui,
                "Gradient clip (0 = off)",
                weight(&mut t.clip, 0.05, 100.0),
            );
            row(ui, "Dropout", weight(&mut t.dropout, 0.01, 0.9));
            row(ui, "Items per epoch", |ui: &mut egui::Ui| {
                egui::ComboBox::from_id_salt("sevlm-pairing")
                    .selected_text(match t.pairing {
                        Pairing::PerImage => "one per painting (code)",
                        Pairing::EveryResponse => "every response (Artemo)",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(
                            &mut t.pairing,
                            Pairing::PerImage,
                            "one per painting (code)",
                        );
                        ui.selectable_value(
                            &mut t.pairing,
                            Pairing::EveryResponse,
                            "every response (Artemo)",
                        );
                    })
                    .response
            });
            if t.pairing == Pairing::PerImage {
                row(ui, "Anchor response", |ui: &mut egui::Ui| {
                    egui::ComboBox::from_id_salt("sevlm-anchor")
                        .selected_text(match t.anchor {
                            Anchor::Cycle => "cycled (as written)",
                            Anchor::Last => "last (as run)",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(
                                &mut t.anchor,
                                Anchor::Cycle,
                                "cycled (as written)",
                            );
                            ui.selectable_value(&mut t.anchor, Anchor::Last, "last (as run)");
                        })
                        .response
                });
            }
            row(ui, "Seed", egui::DragValue::new(&mut t.seed));
        });
        let generated = &mut self.eval_paintings;
        self.settings
            .eval_rows(ui, "train", SevlmSetup::BEST_BY, true, |ui| {
                let n = egui::DragValue::new(generated).range(1..=1000);
                row(ui, "Validation paintings generated", n);
            });
        if rows::output_folder(ui, &mut self.settings.out) {
            asks.pick = Some(PickTarget::Out);
        }
        asks
    }

    /// Why Start is not possible now (None: it is).
    pub(super) fn blocker(
        &self,
        csv: Option<&CsvCheck>,
        collection_open: bool,
        tower: bool,
        models: &Path,
    ) -> Option<String> {
        if self.data == DataChoice::Artemis {
            if !collection_open {
                return Some("open the collection holding the CSV's paintings".into());
            }
            match csv {
                None => return Some("choose an ArtEmis CSV".into()),
                Some(CsvCheck::Reading(_)) => return Some("reading the CSV…".into()),
                Some(CsvCheck::Failed(e)) => return Some(e.clone()),
                Some(CsvCheck::Ok {
                    with_image: Some((_, _, 0)),
                    ..
                }) => return Some("none of the CSV's paintings is in the open collection".into()),
                Some(CsvCheck::Ok { .. }) => {}
            }
        }
        match self.model {
            ModelChoice::Scratch if !tower => {
                return Some(format!(
                    "a new SEVLM needs the demo kit's image tower ({}): run `artemo train --preset demo`",
                    models.join("demo/pacl").display()
                ))
            }
            ModelChoice::Checkpoint => {
                let d = &artemo_engine::resolve_shown(&self.checkpoint);
                if !d.join("config.json").is_file() || !d.join("model.safetensors").is_file() {
                    return Some(format!(
                        "{}: not a SEVLM folder (config.json + model.safetensors)",
                        d.display()
                    ));
                }
            }
            _ => {}
        }
        if !self.lexicon.trim().is_empty() {
            let p = artemo_engine::resolve_shown(&self.lexicon);
            if !p.is_file() {
                return Some(format!("{}: no such NRC VAD file", p.display()));
            }
        }
        if self.model == ModelChoice::Scratch
            && (self.heads == 0 || !self.width.is_multiple_of(self.heads))
        {
            return Some("the width must be a multiple of the heads".into());
        }
        let mut protected = vec![models.join("demo"), models.join("sevlm")];
        if self.model == ModelChoice::Checkpoint {
            protected.push(artemo_engine::resolve_shown(&self.checkpoint));
        }
        check_output_dir(&self.settings.out_dir(), &protected)
            .err()
            .map(|e| e.to_string())
    }

    /// The data the session reads (`collection`: the open one).
    pub(super) fn source(&self, collection: Option<&Collection>) -> DataSource {
        match self.data {
            DataChoice::Shipped => DataSource::Shipped,
            DataChoice::Artemis => DataSource::ArtemisCsv {
                csv: artemo_engine::resolve_shown(&self.csv),
                images: super::images(collection),
            },
        }
    }
}

/// The VAD lexicon row: an NRC VAD file, or (empty) the shipped stand-in.
fn lexicon_row(ui: &mut egui::Ui, lexicon: &mut String, asks: &mut FormAsks) {
    let hint = "empty: stand-in (actdata EPA + VADER), not NRC VAD";
    ui.label("VAD lexicon (an NRC VAD file)");
    let (browse, _) = rows::path_field(ui, lexicon, hint, "VAD lexicon (NRC VAD file)");
    if browse {
        asks.pick = Some(PickTarget::Lexicon);
    }
    if lexicon.trim().is_empty() {
        ui.label(RichText::new(format!("VAD lexicon: {STAND_IN_NAME}")).small());
    }
}

/// A weight-like field: `speed` per pixel dragged, 0 to `max`.
fn weight<T: egui::emath::Numeric>(v: &mut T, speed: f64, max: f64) -> egui::DragValue<'_> {
    egui::DragValue::new(v).speed(speed).range(0.0..=max)
}

/// What the CSV check found.
fn csv_status(ui: &mut egui::Ui, csv: Option<&CsvCheck>) {
    match csv {
        Some(CsvCheck::Reading(_)) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("reading…");
            });
        }
        Some(CsvCheck::Ok {
            responses,
            paintings,
            with_image,
        }) => {
            let n = with_image.as_ref().map(|w| w.2).unwrap_or(0);
            ui.label(
                RichText::new(format!(
                    "{responses} responses on {} paintings; {n} of them in the open collection; split 85/5/10 by artwork (ArtEmis' seed)",
                    paintings.len()
                ))
                .small(),
            );
        }
        Some(CsvCheck::Failed(e)) => {
            ui.colored_label(theme::ERROR, e);
        }
        None => {}
    }
}
