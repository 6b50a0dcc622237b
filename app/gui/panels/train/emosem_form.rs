//! The Train tab's EmoSEM form: regions from Artemo's annotations or an APOLO root (its
//! test split held out), a new Single-Mask / Multi-Masks model or a checkpoint, the
//! paper's hyper-parameters as editable defaults (and the CPU demo recipe), evaluation and
//! checkpoint settings, output folder; what blocks Start. The session itself is
//! `artemo_engine::jobs::train::session_job::<EmosemSession>`.

use std::path::{Path, PathBuf};

use artemo_engine::collection::Collection;
use artemo_engine::emosem::session::{EmosemInit, EmosemSetup, SessionConfig};
use artemo_engine::emosem::train::TrainConfig;
use artemo_engine::emosem::Paradigm;
use artemo_engine::kit::emosem::KitEmosemConfig;
use artemo_engine::train::session::check_output_dir;
use artemo_engine::train::{BestBy, DataSource, ModelSetup};
use egui::RichText;

use super::rows::{self, lr_value, row, Preset, SessionSettings};
use super::PickTarget;

/// Where EmoSEM's regions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskData {
    /// Artemo's stimulus regions on the shipped paintings.
    Shipped,
    /// An APOLO root over the open collection.
    Apolo,
}

/// Where the EmoSEM model starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskModel {
    /// A new small model over the demo kit's tower.
    Scratch,
    /// A checkpoint folder.
    Checkpoint,
}

/// The EmoSEM form.
#[derive(Debug, Clone)]
pub struct MaskForm {
    /// Data source.
    pub data: MaskData,
    /// `apolo.json` (when `data` is `Apolo`).
    pub apolo_json: String,
    /// The maps' folder (empty: `apolo_pixel_map/` beside the JSON).
    pub apolo_maps: String,
    /// Model start.
    pub model: MaskModel,
    /// Checkpoint folder.
    pub checkpoint: String,
    /// New model's paradigm.
    pub paradigm: Paradigm,
    /// New model's explainer width.
    pub explainer_width: usize,
    /// New model's explainer layers.
    pub explainer_layers: usize,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// The mask side's learning rate (None in `train`: the paper's, per paradigm).
    pub lr_mask: f64,
    /// Paintings at most, evaluation, checkpoints, output folder.
    pub settings: SessionSettings,
}

/// The paper's mask-side learning rate: 1e-4 (Single-Mask), 8e-5 (Multi-Masks).
pub fn paper_lr_mask(p: Paradigm) -> f64 {
    match p {
        Paradigm::Single => 1e-4,
        Paradigm::Multi => 8e-5,
    }
}

impl MaskForm {
    /// Draws the form (`tower`: the demo kit's image tower is installed); returns the file
    /// dialog to open, if any.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, tower: bool) -> Option<PickTarget> {
        let mut pick = None;
        rows::data_choice(
            ui,
            &mut self.data,
            (
                MaskData::Shipped,
                "Artemo's stimulus regions (shipped paintings)",
            ),
            (
                MaskData::Apolo,
                "APOLO (apolo.json + maps) over the open collection",
            ),
        );
        if self.data == MaskData::Apolo {
            let hover = "APOLO's apolo.json";
            if rows::path_field(ui, &mut self.apolo_json, "apolo.json", hover).0 {
                pick = Some(PickTarget::ApoloJson);
            }
            let hint = "maps: apolo_pixel_map/ beside the JSON";
            let hover = "the folder of <painting>_<emotion>.npy maps";
            if rows::path_field(ui, &mut self.apolo_maps, hint, hover).0 {
                pick = Some(PickTarget::ApoloMaps);
            }
            ui.label(
                RichText::new(
                    "APOLO's test split is held out (for `artemo eval-masks`); every tenth \
                     other painting validates. APOLO has no explanations: only the masks learn.",
                )
                .small()
                .weak(),
            );
        }
        rows::max_paintings(ui, &mut self.settings.max_paintings);
        rows::model_choice(
            ui,
            tower,
            &mut self.model,
            (
                MaskModel::Scratch,
                "New small EmoSEM (demo-kit image tower, frozen)",
            ),
            (MaskModel::Checkpoint, "EmoSEM checkpoint (fine-tune)"),
        );
        match self.model {
            MaskModel::Scratch => {
                ui.horizontal(|ui| {
                    let before = self.paradigm;
                    ui.radio_value(&mut self.paradigm, Paradigm::Multi, "Multi-Masks");
                    ui.radio_value(&mut self.paradigm, Paradigm::Single, "Single-Mask");
                    if self.paradigm != before && self.lr_mask == paper_lr_mask(before) {
                        self.lr_mask = paper_lr_mask(self.paradigm);
                    }
                });
                egui::Grid::new("mask-arch").num_columns(2).show(ui, |ui| {
                    let width = egui::DragValue::new(&mut self.explainer_width).range(8..=1024);
                    row(ui, "Explainer width", width);
                    let layers = egui::DragValue::new(&mut self.explainer_layers).range(1..=12);
                    row(ui, "Explainer layers", layers);
                });
            }
            MaskModel::Checkpoint => {
                let hover = "EmoSEM checkpoint folder";
                if rows::path_field(ui, &mut self.checkpoint, "models/demo/emosem", hover).0 {
                    pick = Some(PickTarget::MaskCheckpoint);
                }
            }
        }
        match rows::presets(
            ui,
            "EmoSEM's published values: lr 2e-4 (explainer), 1e-4 Single-Mask / 8e-5 Multi-Masks (mask side)",
        ) {
            Some(Preset::Paper) => self.paper_values(),
            Some(Preset::CpuRecipe) => self.cpu_recipe(),
            None => {}
        }
        let (t, lr_mask) = (&mut self.train, &mut self.lr_mask);
        rows::grid(ui, "mask-hp", |ui| {
            let steps = egui::DragValue::new(&mut t.steps).range(1..=1_000_000);
            row(ui, "Steps", steps);
            let images = egui::DragValue::new(&mut t.batch_images).range(1..=256);
            row(ui, "Images per batch", images);
            row(ui, "LR explainer", lr_value(&mut t.lr_explainer));
            row(ui, "LR mask side", lr_value(lr_mask));
            let warmup = egui::DragValue::new(&mut t.warmup).range(0..=100_000);
            row(ui, "Warm-up steps", warmup);
            let decay = egui::DragValue::new(&mut t.weight_decay)
                .speed(0.001)
                .range(0.0..=1.0);
            row(ui, "Weight decay", decay);
            let lm = egui::DragValue::new(&mut t.lm_weight)
                .speed(0.05)
                .range(0.0..=100.0);
            row(ui, "Explanation loss weight", lm);
            let mut clip = t.clip.unwrap_or(0.0);
            let c = egui::DragValue::new(&mut clip)
                .speed(0.05)
                .range(0.0..=100.0);
            if row(ui, "Gradient clip (0: off)", c).changed() {
                t.clip = (clip > 0.0).then_some(clip);
            }
            row(ui, "Seed", egui::DragValue::new(&mut t.seed));
        });
        self.settings
            .eval_rows(ui, "mask", EmosemSetup::BEST_BY, true, |_| {});
        if rows::output_folder(ui, &mut self.settings.out) {
            pick = Some(PickTarget::MaskOut);
        }
        pick
    }

    /// The paper's hyper-parameters, starting from `checkpoint` when given.
    pub fn paper(checkpoint: Option<&Path>, out: &Path) -> Self {
        let kit = KitEmosemConfig::full(2026);
        let (model, checkpoint) =
            rows::start_from(checkpoint, MaskModel::Scratch, MaskModel::Checkpoint);
        MaskForm {
            data: MaskData::Shipped,
            apolo_json: String::new(),
            apolo_maps: String::new(),
            model,
            checkpoint,
            paradigm: Paradigm::Multi,
            explainer_width: kit.explainer_width,
            explainer_layers: kit.explainer_layers,
            train: TrainConfig::default(),
            lr_mask: paper_lr_mask(Paradigm::Multi),
            settings: SessionSettings::new(3, BestBy::MeanIou, out),
        }
    }

    /// The demo kit's CPU recipe (`KitEmosemConfig::full`).
    pub fn cpu_recipe(&mut self) {
        let kit = KitEmosemConfig::full(self.train.seed);
        self.train.steps = kit.steps;
        self.train.batch_images = kit.batch_images;
        self.train.lr_explainer = kit.lr_explainer;
        self.train.warmup = kit.warmup;
        self.train.lm_weight = kit.lm_weight;
        self.lr_mask = kit.lr_mask;
        self.explainer_width = kit.explainer_width;
        self.explainer_layers = kit.explainer_layers;
        self.settings.eval_every = 25;
    }

    /// The paper's values (the seed kept).
    pub fn paper_values(&mut self) {
        let seed = self.train.seed;
        self.train = TrainConfig {
            seed,
            ..Default::default()
        };
        self.lr_mask = paper_lr_mask(self.paradigm);
        self.settings.eval_every = 50;
    }

    /// The checkpoint folder as typed (`assets/...`, `~/...` resolved).
    pub fn checkpoint_dir(&self) -> PathBuf {
        artemo_engine::resolve_shown(self.checkpoint.trim())
    }

    /// The session configuration.
    pub fn session(&self) -> SessionConfig {
        self.settings.session(EmosemSetup {
            train: TrainConfig {
                lr_mask: Some(self.lr_mask),
                ..self.train.clone()
            },
            init: match self.model {
                MaskModel::Scratch => EmosemInit::Scratch {
                    paradigm: self.paradigm,
                    explainer_width: self.explainer_width,
                    explainer_layers: self.explainer_layers,
                },
                MaskModel::Checkpoint => EmosemInit::Checkpoint(self.checkpoint_dir()),
            },
        })
    }

    /// Why Start is not possible now (None: it is).
    pub(super) fn blocker(
        &self,
        collection_open: bool,
        tower: bool,
        models: &Path,
    ) -> Option<String> {
        if let Some(why) = self.apolo_blocker(collection_open) {
            return Some(why);
        }
        if let Some(why) = self.model_blocker(tower, models) {
            return Some(why);
        }
        let mut protected = vec![models.join("demo"), models.join("emosem")];
        if self.model == MaskModel::Checkpoint {
            protected.push(self.checkpoint_dir());
        }
        check_output_dir(&self.settings.out_dir(), &protected)
            .err()
            .map(|e| e.to_string())
    }

    /// The regions the session reads (`collection`: the open one).
    pub(super) fn source(&self, collection: Option<&Collection>) -> DataSource {
        match self.data {
            MaskData::Shipped => DataSource::Shipped,
            MaskData::Apolo => DataSource::Apolo {
                json: artemo_engine::resolve_shown(self.apolo_json.trim()),
                maps: self.apolo_maps_dir(),
                images: super::images(collection),
            },
        }
    }

    /// Why the model part of the form cannot start (None: it can).
    pub fn model_blocker(&self, tower: bool, models: &Path) -> Option<String> {
        match self.model {
            MaskModel::Scratch if !tower => Some(format!(
                "a new EmoSEM needs the demo kit's image tower ({}): run `artemo train --preset demo`",
                artemo_engine::shown_path(&models.join("demo/pacl"))
            )),
            MaskModel::Scratch if self.explainer_width < 8 || !self.explainer_width.is_multiple_of(2) => {
                Some("the explainer width must be even and at least 8".into())
            }
            MaskModel::Checkpoint => {
                let d = self.checkpoint_dir();
                (!d.join("config.json").is_file() || !d.join("model.safetensors").is_file())
                    .then(|| {
                        format!(
                            "{}: not an EmoSEM folder (config.json + model.safetensors)",
                            self.checkpoint.trim()
                        )
                    })
            }
            _ => None,
        }
    }

    /// Why the APOLO choice cannot start (None: it can).
    pub fn apolo_blocker(&self, collection_open: bool) -> Option<String> {
        if self.data != MaskData::Apolo {
            return None;
        }
        if !collection_open {
            return Some("open the collection holding APOLO's paintings".into());
        }
        let json = artemo_engine::resolve_shown(self.apolo_json.trim());
        if self.apolo_json.trim().is_empty() {
            return Some("choose APOLO's apolo.json".into());
        }
        if !json.is_file() {
            return Some(format!("{}: no such file", self.apolo_json.trim()));
        }
        let maps = self.apolo_maps_dir().unwrap_or_else(|| {
            json.parent()
                .unwrap_or_else(|| Path::new("."))
                .join("apolo_pixel_map")
        });
        if !maps.is_dir() {
            return Some(format!(
                "{}: no folder of maps (APOLO's apolo_pixel_map/)",
                artemo_engine::shown_path(&maps)
            ));
        }
        None
    }

    /// The maps' folder when one was typed.
    pub fn apolo_maps_dir(&self) -> Option<PathBuf> {
        let s = self.apolo_maps.trim();
        (!s.is_empty()).then(|| artemo_engine::resolve_shown(s))
    }
}
