//! The Train tab's EmoSEM form: regions from Artemo's annotations, an APOLO root (its
//! test split held out; masks only) or a pseudo-mask folder (`artemo annotations
//! pseudo-masks`), each folder read on the engine's io lane as soon as it is chosen with
//! what was found per split (or the error) shown under it, a new small Single-Mask / Multi-Masks model, the paper layout
//! (installed SAM + CLIP ViT-B/16 + GPT-2; paradigm and fine-tuning pickers; missing weights
//! named, with the Models tab a click away) or a checkpoint, the paper's hyper-parameters
//! as editable defaults (batch 4 x accumulation 4, 10 epochs for the paper layout) and a
//! CPU recipe, evaluation and checkpoint settings, output folder; what blocks Start. The
//! session itself is `artemo_engine::jobs::train::session_job::<EmosemSession>`.

use std::path::{Path, PathBuf};

use artemo_engine::collection::Collection;
use artemo_engine::emosem::paper_train::{
    self, cpu_train_config, paper_train_config, PaperPaths, CLIP_PART, GPT2_PART, SAM_PART,
};
use artemo_engine::emosem::session::{EmosemInit, EmosemSetup, SessionConfig};
use artemo_engine::emosem::train::TrainConfig;
use artemo_engine::emosem::{Finetune, Paradigm};
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
    /// A pseudo-mask folder (`artemo annotations pseudo-masks`).
    Pseudo,
}

/// The read of an APOLO or pseudo-mask source (on the engine's io lane), for the source
/// described by `key`.
#[derive(Debug, Clone, PartialEq)]
pub enum RegionCheck {
    /// Being read.
    Reading {
        /// The job.
        id: artemo_engine::worker::JobId,
        /// The source read.
        key: String,
    },
    /// Read: what was found per split.
    Found {
        /// The source read.
        key: String,
        /// Paintings and masks per split.
        line: String,
    },
    /// Could not be read.
    Failed {
        /// The source read.
        key: String,
        /// Why.
        error: String,
    },
}

impl RegionCheck {
    /// The source it is about.
    pub fn key(&self) -> &str {
        match self {
            RegionCheck::Reading { key, .. }
            | RegionCheck::Found { key, .. }
            | RegionCheck::Failed { key, .. } => key,
        }
    }
}

/// Where the EmoSEM model starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskModel {
    /// A new small model over the demo kit's tower.
    Scratch,
    /// A checkpoint folder.
    Checkpoint,
    /// The paper's layout over installed (or given) SAM, CLIP ViT-B/16 and GPT-2 weights.
    Paper,
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
    /// The pseudo-mask folder (when `data` is `Pseudo`).
    pub pseudo_dir: String,
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
    /// Paper layout: what trains in SAM's mask decoder.
    pub finetune: Finetune,
    /// Paper layout: SAM checkpoint (empty: the installed one).
    pub sam: String,
    /// Paper layout: CLIP ViT-B/16 checkpoint (empty: the installed one).
    pub clip: String,
    /// Paper layout: GPT-2 checkpoint folder (empty: the installed one).
    pub gpt2: String,
    /// Which recipe the hyper-parameters came from (shown under the buttons).
    pub recipe: Option<&'static str>,
    /// The "Models tab" button was pressed (the panel switches tabs).
    pub want_models_tab: bool,
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
    /// Draws the form (`tower`: the demo kit's image tower is installed; `models`: the
    /// models folder; `check`: the read of the chosen folder); returns the file dialog to
    /// open, if any.
    pub(super) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        tower: bool,
        models: Option<&Path>,
        check: Option<&RegionCheck>,
    ) -> Option<PickTarget> {
        let mut pick = None;
        ui.heading("Data");
        ui.radio_value(
            &mut self.data,
            MaskData::Shipped,
            "Artemo's stimulus regions (shipped paintings)",
        );
        ui.radio_value(
            &mut self.data,
            MaskData::Apolo,
            "APOLO (apolo.json + maps) over the open collection",
        );
        ui.radio_value(
            &mut self.data,
            MaskData::Pseudo,
            "Pseudo-masks from ArtEmis (a folder)",
        )
        .on_hover_text("a folder made by `artemo annotations pseudo-masks`");
        if self.data == MaskData::Pseudo {
            let hover = "the folder holding pseudo_masks.csv and masks/";
            if rows::path_field(ui, &mut self.pseudo_dir, "pseudo-mask folder", hover).0 {
                pick = Some(PickTarget::PseudoDir);
            }
            ui.label(
                RichText::new(
                    "One mask per utterance, the utterance as its explanation; the folder's \
                     test split is held out.",
                )
                .small()
                .weak(),
            );
        }
        if self.data == MaskData::Apolo {
            let hover = "APOLO's apolo.json (or its folder)";
            if rows::path_field(ui, &mut self.apolo_json, "apolo.json or its folder", hover).0 {
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
        if self.data != MaskData::Shipped {
            check_line(ui, check);
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
        let before = self.model;
        ui.radio_value(
            &mut self.model,
            MaskModel::Paper,
            "EmoSEM paper layout (SAM + CLIP ViT-B/16 + GPT-2)",
        );
        if self.model == MaskModel::Paper && before != MaskModel::Paper {
            self.paper_values();
        }
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
            MaskModel::Paper => self.paper_ui(ui, models),
        }
        let preset = if self.model == MaskModel::Paper {
            paper_presets(ui)
        } else {
            rows::presets(
                ui,
                "EmoSEM's published values: lr 2e-4 (explainer), 1e-4 Single-Mask / 8e-5 Multi-Masks (mask side)",
            )
        };
        match preset {
            Some(Preset::Paper) => self.paper_values(),
            Some(Preset::CpuRecipe) => self.cpu_recipe(),
            None => {}
        }
        if let Some(r) = self.recipe {
            ui.label(RichText::new(r).small().weak());
        }
        let (t, lr_mask) = (&mut self.train, &mut self.lr_mask);
        rows::grid(ui, "mask-hp", |ui| {
            let mut epochs = t.epochs.unwrap_or(0);
            let e = egui::DragValue::new(&mut epochs).range(0..=1000);
            if row(ui, "Epochs (0: the steps below)", e).changed() {
                t.epochs = (epochs > 0).then_some(epochs);
            }
            let steps = egui::DragValue::new(&mut t.steps).range(1..=1_000_000);
            row(ui, "Steps", steps);
            let images = egui::DragValue::new(&mut t.batch_images).range(1..=256);
            row(ui, "Images per batch", images);
            let acc = egui::DragValue::new(&mut t.accumulate).range(1..=256);
            row(ui, "Accumulation steps", acc);
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
            pseudo_dir: String::new(),
            model,
            checkpoint,
            paradigm: Paradigm::Multi,
            explainer_width: kit.explainer_width,
            explainer_layers: kit.explainer_layers,
            finetune: Finetune::MaskHead,
            sam: String::new(),
            clip: String::new(),
            gpt2: String::new(),
            recipe: None,
            want_models_tab: false,
            train: TrainConfig::default(),
            lr_mask: paper_lr_mask(Paradigm::Multi),
            settings: SessionSettings::new(3, BestBy::MeanIou, out),
        }
    }

    /// The CPU recipe: the paper layout's small CPU-feasible run ([`cpu_train_config`]),
    /// or the demo kit's recipe (`KitEmosemConfig::full`) for the small model.
    pub fn cpu_recipe(&mut self) {
        let seed = self.train.seed;
        if self.model == MaskModel::Paper {
            self.train = TrainConfig {
                seed,
                ..cpu_train_config()
            };
            self.lr_mask = paper_lr_mask(self.paradigm);
            self.settings.eval_every = 20;
            self.recipe = Some(
                "CPU recipe: 1 image x 2 accumulation steps, 60 steps, the paper's learning rates: \
                 a small run that shows the pipeline learn, not the paper's training",
            );
            return;
        }
        let kit = KitEmosemConfig::full(seed);
        self.train.steps = kit.steps;
        self.train.epochs = None;
        self.train.batch_images = kit.batch_images;
        self.train.accumulate = 1;
        self.train.lr_explainer = kit.lr_explainer;
        self.train.warmup = kit.warmup;
        self.train.lm_weight = kit.lm_weight;
        self.lr_mask = kit.lr_mask;
        self.explainer_width = kit.explainer_width;
        self.explainer_layers = kit.explainer_layers;
        self.settings.eval_every = 25;
        self.recipe = Some("the demo kit's CPU recipe");
    }

    /// The paper's values (the seed kept); for the paper layout also its paradigm
    /// (Single-Mask), fine-tuning (FT-MH), batch 4 x accumulation 4 and 10 epochs.
    pub fn paper_values(&mut self) {
        let seed = self.train.seed;
        if self.model == MaskModel::Paper {
            self.paradigm = Paradigm::Single;
            self.finetune = Finetune::MaskHead;
            self.train = TrainConfig {
                seed,
                ..paper_train_config()
            };
            self.recipe = Some(
                "the paper's (Sec. 4.1): 4 images x 4 accumulation steps = 16 per step, AdamW \
                 2e-4 / 1e-4 (Multi-Masks 8e-5), 10 epochs; a paper-size step took 21.6 GB \
                 peak memory on the CPU (`artemo bench paper`)",
            );
        } else {
            self.train = TrainConfig {
                seed,
                ..Default::default()
            };
            self.recipe = None;
        }
        self.lr_mask = paper_lr_mask(self.paradigm);
        self.settings.eval_every = 50;
    }

    /// The paper layout's checkpoints as typed (empty: the installed ones).
    pub fn paper_paths(&self) -> PaperPaths {
        let path = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| artemo_engine::resolve_shown(s))
        };
        PaperPaths {
            sam: path(&self.sam),
            clip: path(&self.clip),
            gpt2: path(&self.gpt2),
        }
    }

    /// The paper layout's pickers and its weights: where each part is, or that it is
    /// missing and how to get it.
    fn paper_ui(&mut self, ui: &mut egui::Ui, models: Option<&Path>) {
        ui.horizontal(|ui| {
            let before = self.paradigm;
            ui.radio_value(&mut self.paradigm, Paradigm::Single, "Single-Mask");
            ui.radio_value(&mut self.paradigm, Paradigm::Multi, "Multi-Masks");
            if self.paradigm != before && self.lr_mask == paper_lr_mask(before) {
                self.lr_mask = paper_lr_mask(self.paradigm);
            }
        });
        ui.horizontal(|ui| {
            ui.radio_value(
                &mut self.finetune,
                Finetune::MaskHead,
                "FT-MH: mask head only",
            )
            .on_hover_text("the paper's default: SAM's two-way transformer stays frozen");
            ui.radio_value(
                &mut self.finetune,
                Finetune::MaskDecoder,
                "FT-MD: whole mask decoder",
            );
        });
        let paths = self.paper_paths();
        rows::grid(ui, "mask-paper-weights", |ui| {
            for (part, field, given) in [
                (&SAM_PART, &mut self.sam, &paths.sam),
                (&CLIP_PART, &mut self.clip, &paths.clip),
                (&GPT2_PART, &mut self.gpt2, &paths.gpt2),
            ] {
                ui.label(part.what);
                ui.vertical(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(field)
                            .hint_text("installed")
                            .desired_width(260.0),
                    );
                    let found = match given {
                        Some(p) => Some(p.clone()),
                        None => models.and_then(|m| paper_train::installed(part, m)),
                    };
                    match found {
                        Some(p) => {
                            ui.label(RichText::new(artemo_engine::shown_path(&p)).small().weak())
                        }
                        None => ui.label(
                            RichText::new(format!("missing: {}", part.how_to_get()))
                                .small()
                                .color(crate::gui::theme::ERROR),
                        ),
                    };
                });
                ui.end_row();
            }
        });
        let missing = models
            .map(|m| paper_train::missing(&self.paper_paths(), m))
            .unwrap_or_default();
        if !missing.is_empty()
            && ui
                .button("Get the missing weights in the Models tab")
                .clicked()
        {
            self.want_models_tab = true;
        }
        ui.label(
            RichText::new(
                "checkpoints keep the trainable variables only; the frozen ones are read \
                 from the SAM checkpoint; image embeddings are cached on disk",
            )
            .small()
            .weak(),
        );
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
                MaskModel::Paper => EmosemInit::Paper {
                    paradigm: self.paradigm,
                    finetune: self.finetune,
                    paths: self.paper_paths(),
                },
            },
        })
    }

    /// Why Start is not possible now (None: it is).
    pub(super) fn blocker(
        &self,
        collection: Option<&Collection>,
        check: Option<&RegionCheck>,
        tower: bool,
        models: &Path,
    ) -> Option<String> {
        if let Some(why) = self.data_blocker(collection, check) {
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
                json: self.apolo_json_path(),
                maps: self.apolo_maps_dir(),
                images: super::images(collection),
            },
            MaskData::Pseudo => DataSource::PseudoMasks {
                dir: artemo_engine::resolve_shown(self.pseudo_dir.trim()),
            },
        }
    }

    /// What identifies the chosen folder source for its check (None: regions, or a
    /// folder that cannot be read yet: [`MaskForm::path_blocker`] says why).
    pub(super) fn check_key(&self, collection: Option<&Collection>) -> Option<String> {
        if self.data == MaskData::Shipped || self.path_blocker(collection.is_some()).is_some() {
            return None;
        }
        Some(match self.data {
            MaskData::Apolo => format!(
                "apolo {} {:?} over {} ({} paintings)",
                self.apolo_json_path().display(),
                self.apolo_maps_dir(),
                collection
                    .map(|c| c.source.display().to_string())
                    .unwrap_or_default(),
                collection.map_or(0, |c| c.paintings.len())
            ),
            _ => format!(
                "pseudo {}",
                artemo_engine::resolve_shown(self.pseudo_dir.trim()).display()
            ),
        })
    }

    /// Why the data cannot be trained on (None: it can): a folder not chosen or not
    /// there, still being read, or read with an error.
    pub fn data_blocker(
        &self,
        collection: Option<&Collection>,
        check: Option<&RegionCheck>,
    ) -> Option<String> {
        if let Some(why) = self.path_blocker(collection.is_some()) {
            return Some(why);
        }
        let key = self.check_key(collection)?;
        match check {
            Some(RegionCheck::Found { key: k, .. }) if *k == key => None,
            Some(RegionCheck::Failed { key: k, error }) if *k == key => Some(error.clone()),
            _ => Some("reading the data…".into()),
        }
    }

    /// Why the chosen folder cannot be read (None: it can, or regions are chosen).
    pub fn path_blocker(&self, collection_open: bool) -> Option<String> {
        match self.data {
            MaskData::Shipped => None,
            MaskData::Apolo => self.apolo_blocker(collection_open),
            MaskData::Pseudo => {
                let s = self.pseudo_dir.trim();
                if s.is_empty() {
                    return Some("choose a pseudo-mask folder".into());
                }
                let index = artemo_engine::resolve_shown(s)
                    .join(artemo_engine::emosem::data::pseudo::INDEX_CSV);
                (!index.is_file()).then(|| {
                    format!(
                        "{s}: no pseudo_masks.csv (make the folder with `artemo annotations pseudo-masks`)"
                    )
                })
            }
        }
    }

    /// `apolo.json` as typed, or inside the folder typed.
    pub fn apolo_json_path(&self) -> PathBuf {
        let p = artemo_engine::resolve_shown(self.apolo_json.trim());
        if p.is_dir() {
            p.join("apolo.json")
        } else {
            p
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
            MaskModel::Paper => {
                let missing = paper_train::missing(&self.paper_paths(), models);
                (!missing.is_empty()).then(|| {
                    format!(
                        "the paper layout needs weights that are missing: {}",
                        missing.join("; ")
                    )
                })
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
        let json = self.apolo_json_path();
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

/// What the read of the chosen folder found, or why it failed.
fn check_line(ui: &mut egui::Ui, check: Option<&RegionCheck>) {
    match check {
        Some(RegionCheck::Reading { .. }) => {
            ui.label(RichText::new("reading the data…").small().weak());
        }
        Some(RegionCheck::Found { line, .. }) => {
            ui.label(RichText::new(format!("found: {line}")).small());
        }
        Some(RegionCheck::Failed { error, .. }) => {
            ui.label(RichText::new(error).small().color(crate::gui::theme::ERROR));
        }
        None => {}
    }
}

/// The paper layout's "Hyper-parameters" heading with its two recipes.
fn paper_presets(ui: &mut egui::Ui) -> Option<Preset> {
    ui.add_space(8.0);
    ui.heading("Hyper-parameters");
    ui.horizontal(|ui| {
        let mut pressed = None;
        if ui
            .button("Paper defaults")
            .on_hover_text("Sec. 4.1: batch 4 x 4 accumulation = 16, AdamW 2e-4 (GPT-2) and 1e-4 / 8e-5, 10 epochs")
            .clicked()
        {
            pressed = Some(Preset::Paper);
        }
        if ui
            .button("CPU recipe")
            .on_hover_text("a small CPU-feasible run: 1 image x 2 accumulation steps, 60 steps")
            .clicked()
        {
            pressed = Some(Preset::CpuRecipe);
        }
        pressed
    })
    .inner
}
