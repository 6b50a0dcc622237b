//! The Train tab: SEVLM or EmoSEM fine-tuning or training from scratch with live curves.
//!
//! Left: the model to train (SEVLM or EmoSEM, `train_masks.rs` holding EmoSEM's form and
//! run view); for SEVLM: data source (the shipped annotations, or an ArtEmis CSV over the open
//! collection, checked on the engine's io lane as soon as it is picked), model (a new
//! small SEVLM over the demo kit's image tower, or a checkpoint folder such as
//! `models/demo/sevlm`), the hyper-parameters pre-filled with the paper's values (and a
//! "CPU demo recipe" preset), evaluation and checkpoint settings, output folder.
//! Right: start / pause / resume / stop, progress with ETA, loss and metric curves, the
//! probe paintings regenerated at every evaluation and the kept checkpoints (best
//! marked). The session runs on the engine's compute lane
//! (`artemo_engine::sevlm::session::session_job`); its events arrive as typed partials.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use artemo_engine::emotion::Emotion;
use artemo_engine::kit::sevlm::KitSevlmConfig;
use artemo_engine::sevlm::session::{
    session_job, BestBy, DataSource, EvalRecord, Prepared, SessionConfig, SessionEvent, SevlmInit,
    StepRecord, Summary,
};
use artemo_engine::sevlm::SevlmTrainConfig;
use artemo_engine::train::session::{check_output_dir, CheckpointInfo, Control};
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput, Lane};
use egui::RichText;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use crate::gui::theme;
use crate::gui::widgets::path_row::{labelled, path_row};
use crate::gui::widgets::table::{sortable_table, Col, Key};
mod emosem_run;

use artemo_engine::emosem::session::{MaskBestBy, MaskDataSource};
use artemo_engine::emosem::Paradigm;
use emosem_run::{checkpoint_table, paper_lr_mask, MaskForm, MaskRun};
pub use emosem_run::{MaskData, MaskModel};

/// Which model the tab trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainee {
    /// SEVLM: emotion + explanation.
    Sevlm,
    /// EmoSEM: stimulus masks + explanations.
    Emosem,
}

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
    /// Evaluate every this many steps.
    pub eval_every: usize,
    /// Validation paintings generated at each evaluation.
    pub eval_paintings: usize,
    /// Probe paintings shown.
    pub probes: usize,
    /// Checkpoints kept.
    pub keep: usize,
    /// Metric ranking checkpoints.
    pub best_by: BestBy,
    /// Paintings at most (0: all).
    pub max_paintings: usize,
    /// Output folder.
    pub out: String,
}

impl Form {
    /// The paper's hyper-parameters (SEVLM), a new demo-shaped model, shipped data.
    pub fn paper(checkpoint: Option<&Path>, out: &Path) -> Self {
        let kit = KitSevlmConfig::full(2026);
        Form {
            data: DataChoice::Shipped,
            csv: String::new(),
            model: if checkpoint.is_some() {
                ModelChoice::Checkpoint
            } else {
                ModelChoice::Scratch
            },
            checkpoint: checkpoint
                .map(artemo_engine::shown_path)
                .unwrap_or_default(),
            width: kit.width,
            layers: kit.layers,
            heads: kit.heads,
            train: SevlmTrainConfig::default(),
            eval_every: 50,
            eval_paintings: 16,
            probes: 4,
            keep: 3,
            best_by: BestBy::ValLoss,
            max_paintings: 0,
            out: artemo_engine::shown_path(out),
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
        self.eval_every = 25;
    }

    fn session(&self) -> SessionConfig {
        SessionConfig {
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
            out: artemo_engine::resolve_shown(&self.out),
            eval_every: self.eval_every,
            eval_paintings: self.eval_paintings,
            probes: self.probes,
            keep: self.keep,
            best_by: self.best_by,
            max_paintings: self.max_paintings,
        }
    }
}

/// An ArtEmis CSV check (rows read on the engine's io lane).
#[derive(Debug, Clone)]
enum CsvCheck {
    Reading(JobId),
    Ok {
        responses: usize,
        paintings: std::collections::BTreeSet<String>,
        /// (collection it was counted against, paintings with an image there).
        with_image: Option<(PathBuf, usize, usize)>,
    },
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    Finished,
    Failed,
}

/// The tab's state.
pub struct TrainPanel {
    /// Which model the form trains.
    pub trainee: Trainee,
    /// The SEVLM form (public for the UI tests, which set a tiny run).
    pub form: Form,
    /// The EmoSEM form.
    pub mask_form: MaskForm,
    /// The model of the session running or last run.
    run_kind: Trainee,
    mask: MaskRun,
    assets: Option<PathBuf>,
    models: Option<PathBuf>,
    tower: bool,
    job: Option<JobId>,
    control: Arc<Control>,
    state: State,
    status: String,
    error: Option<String>,
    fraction: f32,
    eta: Option<f64>,
    prepared: Option<Prepared>,
    steps: Vec<StepRecord>,
    evals: Vec<EvalRecord>,
    checkpoints: Vec<CheckpointInfo>,
    summary: Option<Summary>,
    csv_check: Option<CsvCheck>,
    picking: Option<Receiver<(PickTarget, crate::gui::dialog::Picked)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PickTarget {
    Csv,
    Checkpoint,
    Out,
    ApoloJson,
    ApoloMaps,
    MaskCheckpoint,
    MaskOut,
}

impl TrainPanel {
    /// The tab before first use: the paper's defaults, starting from the demo kit's
    /// SEVLM when it is installed.
    pub fn new() -> Self {
        let models = artemo_engine::find_models();
        let checkpoint = models
            .as_ref()
            .map(|m| m.join("demo/sevlm"))
            .filter(|d| d.join("config.json").is_file() && d.join("model.safetensors").is_file());
        let tower = models.as_ref().is_some_and(|m| {
            m.join("demo/pacl/config.json").is_file() || m.join("pacl/config.json").is_file()
        });
        // Runs go to the user's data folder (`<data>/runs/<model>`), never the shipped ones.
        let runs = |model: &str| {
            artemo_engine::train::session::default_output_dir(model)
                .unwrap_or_else(|| PathBuf::from("artemo-runs").join(model))
        };
        let mask_checkpoint = models
            .as_ref()
            .map(|m| m.join("demo/emosem"))
            .filter(|d| d.join("config.json").is_file() && d.join("model.safetensors").is_file());
        TrainPanel {
            trainee: Trainee::Sevlm,
            form: Form::paper(checkpoint.as_deref(), &runs("sevlm")),
            mask_form: MaskForm::paper(mask_checkpoint.as_deref(), &runs("emosem")),
            run_kind: Trainee::Sevlm,
            mask: MaskRun::default(),
            assets: artemo_engine::find_assets(),
            models,
            tower,
            job: None,
            control: Arc::new(Control::new()),
            state: State::Idle,
            status: String::new(),
            error: None,
            fraction: 0.0,
            eta: None,
            prepared: None,
            steps: Vec::new(),
            evals: Vec::new(),
            checkpoints: Vec::new(),
            summary: None,
            csv_check: None,
            picking: None,
        }
    }

    /// True while a session runs.
    pub fn running(&self) -> bool {
        self.state == State::Running
    }

    /// True while the running session is paused.
    pub fn paused(&self) -> bool {
        self.running() && self.control.is_paused()
    }

    /// Steps received so far.
    pub fn steps_seen(&self) -> usize {
        match self.run_kind {
            Trainee::Sevlm => self.steps.len(),
            Trainee::Emosem => self.mask.steps.len(),
        }
    }

    /// Evaluations received so far.
    pub fn evals_seen(&self) -> usize {
        match self.run_kind {
            Trainee::Sevlm => self.evals.len(),
            Trainee::Emosem => self.mask.evals.len(),
        }
    }

    /// The session's end, once it finished.
    pub fn summary(&self) -> Option<&Summary> {
        self.summary.as_ref()
    }

    /// Why the last session failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Draws the tab.
    fn draw(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        self.poll_picker(shared);
        self.count_with_image(shared);
        egui::Panel::left("train-form")
            .resizable(true)
            .default_size(340.0)
            .size_range(280.0..=520.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| self.form_ui(ui, shared));
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| self.run_ui(ui, shared));
        });
    }

    fn pick(&mut self, target: PickTarget, ctx: &egui::Context) {
        if self.picking.is_some() {
            return;
        }
        // The portal dialog blocks: it runs on its own thread, never the UI's; a dialog that
        // cannot open is told from a cancelled one (`dialog::Picked::Unavailable`).
        self.picking = Some(crate::gui::dialog::spawn(ctx, target, move || {
            let d = rfd::FileDialog::new();
            match target {
                PickTarget::Csv => d.add_filter("ArtEmis CSV", &["csv"]).pick_file(),
                PickTarget::ApoloJson => d.add_filter("APOLO", &["json"]).pick_file(),
                PickTarget::Checkpoint
                | PickTarget::Out
                | PickTarget::ApoloMaps
                | PickTarget::MaskCheckpoint
                | PickTarget::MaskOut => d.pick_folder(),
            }
        }));
    }

    /// Counts the CSV's paintings present in the open collection (again when it changes).
    fn count_with_image(&mut self, shared: &Shared) {
        let Some(CsvCheck::Ok {
            paintings,
            with_image,
            ..
        }) = &mut self.csv_check
        else {
            return;
        };
        let Some(c) = shared.collection else {
            *with_image = None;
            return;
        };
        if with_image
            .as_ref()
            .is_some_and(|w| w.0 == c.source && w.1 == c.paintings.len())
        {
            return;
        }
        let n = c
            .paintings
            .iter()
            .filter(|p| paintings.contains(&p.id))
            .count();
        *with_image = Some((c.source.clone(), c.paintings.len(), n));
    }

    fn poll_picker(&mut self, shared: &mut Shared) {
        let Some(rx) = &self.picking else {
            return;
        };
        match rx.try_recv() {
            Ok((target, crate::gui::dialog::Picked::Path(p))) => {
                self.picking = None;
                let s = p.display().to_string();
                match target {
                    PickTarget::Csv => {
                        self.form.csv = s;
                        self.check_csv(shared);
                    }
                    PickTarget::Checkpoint => self.form.checkpoint = s,
                    PickTarget::Out => self.form.out = s,
                    PickTarget::ApoloJson => self.mask_form.apolo_json = s,
                    PickTarget::ApoloMaps => self.mask_form.apolo_maps = s,
                    PickTarget::MaskCheckpoint => self.mask_form.checkpoint = s,
                    PickTarget::MaskOut => self.mask_form.out = s,
                }
            }
            Ok((_, crate::gui::dialog::Picked::Unavailable)) => {
                self.picking = None;
                shared.notice(
                    format!(
                        "{} type the path into the field beside Browse… instead.",
                        crate::gui::dialog::UNAVAILABLE
                    ),
                    true,
                );
            }
            Ok((_, crate::gui::dialog::Picked::Cancelled))
            | Err(std::sync::mpsc::TryRecvError::Disconnected) => self.picking = None,
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
    }

    fn check_csv(&mut self, shared: &mut Shared) {
        let path = artemo_engine::resolve_shown(&self.form.csv);
        if path.as_os_str().is_empty() {
            self.csv_check = None;
            return;
        }
        match shared.engine.submit(Command::LoadAnnotations { path }) {
            Ok(id) => self.csv_check = Some(CsvCheck::Reading(id)),
            Err(e) => self.csv_check = Some(CsvCheck::Failed(e.to_string())),
        }
    }

    /// Why Start is not possible now (None: it is).
    fn blocker(&self, shared: &Shared) -> Option<String> {
        if self.running() {
            return Some("a session is running".into());
        }
        if self.assets.is_none() {
            return Some("the assets/ folder was not found (set ARTEMO_ASSETS)".into());
        }
        let Some(models) = &self.models else {
            return Some("the models/ folder was not found (set ARTEMO_MODELS)".into());
        };
        if self.trainee == Trainee::Emosem {
            let f = &self.mask_form;
            if let Some(why) = f.apolo_blocker(shared.collection.is_some()) {
                return Some(why);
            }
            if let Some(why) = f.model_blocker(self.tower, models) {
                return Some(why);
            }
            let mut protected = vec![models.join("demo"), models.join("emosem")];
            if f.model == MaskModel::Checkpoint {
                protected.push(f.checkpoint_dir());
            }
            return check_output_dir(&f.out_dir(), &protected)
                .err()
                .map(|e| e.to_string());
        }
        match self.form.data {
            DataChoice::Shipped => {}
            DataChoice::Artemis => {
                if shared.collection.is_none() {
                    return Some("open the collection holding the CSV's paintings".into());
                }
                match &self.csv_check {
                    None => return Some("choose an ArtEmis CSV".into()),
                    Some(CsvCheck::Reading(_)) => return Some("reading the CSV…".into()),
                    Some(CsvCheck::Failed(e)) => return Some(e.clone()),
                    Some(CsvCheck::Ok {
                        with_image: Some((_, _, 0)),
                        ..
                    }) => {
                        return Some("none of the CSV's paintings is in the open collection".into())
                    }
                    Some(CsvCheck::Ok { .. }) => {}
                }
            }
        }
        match self.form.model {
            ModelChoice::Scratch if !self.tower => {
                return Some(format!(
                    "a new SEVLM needs the demo kit's image tower ({}): run `artemo train --preset demo`",
                    models.join("demo/pacl").display()
                ))
            }
            ModelChoice::Checkpoint => {
                let d = &artemo_engine::resolve_shown(&self.form.checkpoint);
                if !d.join("config.json").is_file() || !d.join("model.safetensors").is_file() {
                    return Some(format!(
                        "{}: not a SEVLM folder (config.json + model.safetensors)",
                        d.display()
                    ));
                }
            }
            _ => {}
        }
        if self.form.model == ModelChoice::Scratch
            && (self.form.heads == 0 || !self.form.width.is_multiple_of(self.form.heads))
        {
            return Some("the width must be a multiple of the heads".into());
        }
        let mut protected = vec![models.join("demo"), models.join("sevlm")];
        if self.form.model == ModelChoice::Checkpoint {
            protected.push(artemo_engine::resolve_shown(&self.form.checkpoint));
        }
        if let Err(e) = check_output_dir(&artemo_engine::resolve_shown(&self.form.out), &protected)
        {
            return Some(e.to_string());
        }
        None
    }

    /// Starts a session with the form's settings.
    pub fn start(&mut self, shared: &mut Shared) {
        if let Some(why) = self.blocker(shared) {
            self.error = Some(why);
            return;
        }
        let (Some(assets), Some(models)) = (self.assets.clone(), self.models.clone()) else {
            return;
        };
        if self.trainee == Trainee::Emosem {
            let f = &self.mask_form;
            let source = match f.data {
                MaskData::Shipped => MaskDataSource::Shipped,
                MaskData::Apolo => MaskDataSource::Apolo {
                    json: artemo_engine::resolve_shown(f.apolo_json.trim()),
                    maps: f.apolo_maps_dir(),
                    images: shared
                        .collection
                        .map(|c| {
                            c.paintings
                                .iter()
                                .map(|p| (p.id.clone(), p.path.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            };
            self.control = Arc::new(Control::new());
            let job = artemo_engine::emosem::session::session_job(
                source,
                f.session(),
                assets,
                models,
                self.control.clone(),
            );
            self.submit(shared, "train EmoSEM", job, Trainee::Emosem);
            return;
        }
        let source = match self.form.data {
            DataChoice::Shipped => DataSource::Shipped,
            DataChoice::Artemis => DataSource::ArtemisCsv {
                csv: artemo_engine::resolve_shown(&self.form.csv),
                images: shared
                    .collection
                    .map(|c| {
                        c.paintings
                            .iter()
                            .map(|p| (p.id.clone(), p.path.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        };
        self.control = Arc::new(Control::new());
        let job = session_job(
            source,
            self.form.session(),
            assets,
            models,
            self.control.clone(),
        );
        self.submit(shared, "train SEVLM", job, Trainee::Sevlm);
    }

    fn submit(
        &mut self,
        shared: &mut Shared,
        name: &str,
        job: artemo_engine::worker::JobFn,
        kind: Trainee,
    ) {
        match shared.engine.submit(Command::Run {
            name: name.into(),
            lane: Lane::Compute,
            job,
        }) {
            Ok(id) => {
                self.run_kind = kind;
                self.mask.clear();
                self.job = Some(id);
                self.state = State::Running;
                self.status = "waiting for the engine".into();
                self.error = None;
                self.fraction = 0.0;
                self.eta = None;
                self.prepared = None;
                self.steps.clear();
                self.evals.clear();
                self.checkpoints.clear();
                self.summary = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let enabled = !self.running();
        ui.add_enabled_ui(enabled, |ui| {
            ui.heading("Model to train");
            ui.radio_value(
                &mut self.trainee,
                Trainee::Sevlm,
                "SEVLM: emotion and explanation",
            );
            ui.radio_value(
                &mut self.trainee,
                Trainee::Emosem,
                "EmoSEM: stimulus masks and their explanations",
            );
            ui.add_space(8.0);
            if self.trainee == Trainee::Emosem {
                self.mask_form_ui(ui);
                return;
            }
            ui.heading("Data");
            ui.radio_value(
                &mut self.form.data,
                DataChoice::Shipped,
                "Shipped annotations (Artemo's own, 267 paintings)",
            );
            ui.radio_value(
                &mut self.form.data,
                DataChoice::Artemis,
                "ArtEmis CSV over the open collection",
            );
            if self.form.data == DataChoice::Artemis {
                // Right to left: the button first, the field takes exactly what is left
                // (a field sized from the panel's width would grow the panel every frame).
                path_row(ui, |ui| {
                    if ui.button("Browse…").clicked() {
                        self.pick(PickTarget::Csv, ui.ctx());
                    }
                    let r = ui.add(
                        egui::TextEdit::singleline(&mut self.form.csv)
                            .desired_width(ui.available_width())
                            .hint_text("artemis_dataset_release_v0.csv"),
                    );
                    if r.lost_focus() {
                        self.check_csv(shared);
                    }
                });
                match &self.csv_check {
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
            ui.horizontal(|ui| {
                labelled(
                    ui,
                    "Paintings at most",
                    egui::DragValue::new(&mut self.form.max_paintings).range(0..=100_000),
                )
                .on_hover_text("0: all training paintings; fewer for a quick look");
            });

            ui.add_space(8.0);
            ui.heading("Model");
            ui.add_enabled_ui(self.tower, |ui| {
                ui.radio_value(
                    &mut self.form.model,
                    ModelChoice::Scratch,
                    "New small SEVLM (demo-kit image tower, frozen)",
                );
            });
            if !self.tower {
                ui.label(
                    RichText::new("needs models/demo/pacl: run `artemo train --preset demo`")
                        .small()
                        .weak(),
                );
            }
            ui.radio_value(
                &mut self.form.model,
                ModelChoice::Checkpoint,
                "SEVLM checkpoint (fine-tune)",
            );
            match self.form.model {
                ModelChoice::Scratch => {
                    egui::Grid::new("train-arch").num_columns(2).show(ui, |ui| {
                        labelled(ui, "Width", egui::DragValue::new(&mut self.form.width).range(8..=1024));
                        ui.end_row();
                        labelled(ui, "Layers", egui::DragValue::new(&mut self.form.layers).range(1..=12));
                        ui.end_row();
                        labelled(ui, "Heads", egui::DragValue::new(&mut self.form.heads).range(1..=16));
                        ui.end_row();
                    });
                }
                ModelChoice::Checkpoint => {
                    path_row(ui, |ui| {
                        if ui.button("Browse…").clicked() {
                            self.pick(PickTarget::Checkpoint, ui.ctx());
                        }
                        ui.add(
                            egui::TextEdit::singleline(&mut self.form.checkpoint)
                                .desired_width(ui.available_width())
                                .hint_text("models/demo/sevlm"),
                        )
                        .on_hover_text("SEVLM checkpoint folder");
                    });
                }
            }

            ui.add_space(8.0);
            ui.heading("Hyper-parameters");
            ui.horizontal(|ui| {
                if ui
                    .button("Paper defaults")
                    .on_hover_text("SEVLM's published values: 30 epochs, 32 pairs, lr 2e-5 / 4e-5, alpha 2")
                    .clicked()
                {
                    let seed = self.form.train.seed;
                    self.form.train = SevlmTrainConfig {
                        seed,
                        ..Default::default()
                    };
                    self.form.eval_every = 50;
                }
                if ui
                    .button("CPU demo recipe")
                    .on_hover_text("the demo kit's small-model recipe (artemo train --preset demo)")
                    .clicked()
                {
                    self.form.cpu_recipe();
                }
            });
            let t = &mut self.form.train;
            egui::Grid::new("train-hp")
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    labelled(ui, "Epochs", egui::DragValue::new(&mut t.epochs).range(1..=1000));
                    ui.end_row();
                    labelled(ui, "Pairs per batch", egui::DragValue::new(&mut t.batch_pairs).range(1..=512));
                    ui.end_row();
                    labelled(ui, "LR decoder + heads", lr_value(&mut t.lr_decoder));
                    ui.end_row();
                    labelled(ui, "LR VAD encoder", lr_value(&mut t.lr_vad_encoder));
                    ui.end_row();
                    labelled(ui, "Warm-up steps", egui::DragValue::new(&mut t.warmup).range(0..=100_000));
                    ui.end_row();
                    labelled(ui, "Weight decay", egui::DragValue::new(&mut t.weight_decay).speed(0.001).range(0.0..=1.0));
                    ui.end_row();
                    labelled(ui, "α (contrastive)", egui::DragValue::new(&mut t.alpha).speed(0.05).range(0.0..=100.0));
                    ui.end_row();
                    labelled(ui, "VAD loss weight", egui::DragValue::new(&mut t.vad_weight).speed(0.05).range(0.0..=100.0));
                    ui.end_row();
                    labelled(ui, "Gradient clip", egui::DragValue::new(&mut t.clip).speed(0.05).range(0.0..=100.0));
                    ui.end_row();
                    labelled(ui, "Seed", egui::DragValue::new(&mut t.seed));
                    ui.end_row();
                });

            ui.add_space(8.0);
            ui.heading("Evaluation and checkpoints");
            egui::Grid::new("train-eval").num_columns(2).show(ui, |ui| {
                labelled(ui, "Evaluate every (steps)", egui::DragValue::new(&mut self.form.eval_every).range(1..=100_000));
                ui.end_row();
                labelled(ui, "Validation paintings generated", egui::DragValue::new(&mut self.form.eval_paintings).range(1..=1000));
                ui.end_row();
                labelled(ui, "Probe paintings", egui::DragValue::new(&mut self.form.probes).range(1..=12));
                ui.end_row();
                labelled(ui, "Best checkpoints kept", egui::DragValue::new(&mut self.form.keep).range(1..=50));
                ui.end_row();
                let l = ui.label("Best by");
                egui::ComboBox::from_id_salt("train-best-by")
                    .selected_text(self.form.best_by.name())
                    .show_ui(ui, |ui| {
                        for b in BestBy::ALL {
                            ui.selectable_value(&mut self.form.best_by, b, b.name());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
            });
            let l = ui.label("Output folder");
            path_row(ui, |ui| {
                if ui.button("Browse…").clicked() {
                    self.pick(PickTarget::Out, ui.ctx());
                }
                ui.add(
                    egui::TextEdit::singleline(&mut self.form.out)
                        .desired_width(ui.available_width()),
                )
                .labelled_by(l.id);
            });
        });
    }

    fn mask_form_ui(&mut self, ui: &mut egui::Ui) {
        let tower = self.tower;
        let mut pick = None;
        let f = &mut self.mask_form;
        ui.heading("Data");
        ui.radio_value(
            &mut f.data,
            MaskData::Shipped,
            "Artemo's stimulus regions (shipped paintings)",
        );
        ui.radio_value(
            &mut f.data,
            MaskData::Apolo,
            "APOLO (apolo.json + maps) over the open collection",
        );
        if f.data == MaskData::Apolo {
            path_row(ui, |ui| {
                if ui.button("Browse…").clicked() {
                    pick = Some(PickTarget::ApoloJson);
                }
                ui.add(
                    egui::TextEdit::singleline(&mut f.apolo_json)
                        .desired_width(ui.available_width())
                        .hint_text("apolo.json"),
                )
                .on_hover_text("APOLO's apolo.json");
            });
            path_row(ui, |ui| {
                if ui.button("Browse…").clicked() {
                    pick = Some(PickTarget::ApoloMaps);
                }
                ui.add(
                    egui::TextEdit::singleline(&mut f.apolo_maps)
                        .desired_width(ui.available_width())
                        .hint_text("maps: apolo_pixel_map/ beside the JSON"),
                )
                .on_hover_text("the folder of <painting>_<emotion>.npy maps");
            });
            ui.label(
                RichText::new(
                    "APOLO's test split is held out (for `artemo eval-masks`); every tenth \
                     other painting validates. APOLO has no explanations: only the masks learn.",
                )
                .small()
                .weak(),
            );
        }
        ui.horizontal(|ui| {
            labelled(
                ui,
                "Paintings at most",
                egui::DragValue::new(&mut f.max_paintings).range(0..=100_000),
            )
            .on_hover_text("0: all training paintings; fewer for a quick look");
        });

        ui.add_space(8.0);
        ui.heading("Model");
        ui.add_enabled_ui(tower, |ui| {
            ui.radio_value(
                &mut f.model,
                MaskModel::Scratch,
                "New small EmoSEM (demo-kit image tower, frozen)",
            );
        });
        if !tower {
            ui.label(
                RichText::new("needs models/demo/pacl: run `artemo train --preset demo`")
                    .small()
                    .weak(),
            );
        }
        ui.radio_value(
            &mut f.model,
            MaskModel::Checkpoint,
            "EmoSEM checkpoint (fine-tune)",
        );
        match f.model {
            MaskModel::Scratch => {
                ui.horizontal(|ui| {
                    let before = f.paradigm;
                    ui.radio_value(&mut f.paradigm, Paradigm::Multi, "Multi-Masks");
                    ui.radio_value(&mut f.paradigm, Paradigm::Single, "Single-Mask");
                    if f.paradigm != before && f.lr_mask == paper_lr_mask(before) {
                        f.lr_mask = paper_lr_mask(f.paradigm);
                    }
                });
                egui::Grid::new("mask-arch").num_columns(2).show(ui, |ui| {
                    labelled(
                        ui,
                        "Explainer width",
                        egui::DragValue::new(&mut f.explainer_width).range(8..=1024),
                    );
                    ui.end_row();
                    labelled(
                        ui,
                        "Explainer layers",
                        egui::DragValue::new(&mut f.explainer_layers).range(1..=12),
                    );
                    ui.end_row();
                });
            }
            MaskModel::Checkpoint => {
                path_row(ui, |ui| {
                    if ui.button("Browse…").clicked() {
                        pick = Some(PickTarget::MaskCheckpoint);
                    }
                    ui.add(
                        egui::TextEdit::singleline(&mut f.checkpoint)
                            .desired_width(ui.available_width())
                            .hint_text("models/demo/emosem"),
                    )
                    .on_hover_text("EmoSEM checkpoint folder");
                });
            }
        }

        ui.add_space(8.0);
        ui.heading("Hyper-parameters");
        ui.horizontal(|ui| {
            if ui
                .button("Paper defaults")
                .on_hover_text("EmoSEM's published values: lr 2e-4 (explainer), 1e-4 Single-Mask / 8e-5 Multi-Masks (mask side)")
                .clicked()
            {
                f.paper_values();
            }
            if ui
                .button("CPU demo recipe")
                .on_hover_text("the demo kit's small-model recipe (artemo train --preset demo)")
                .clicked()
            {
                f.cpu_recipe();
            }
        });
        let t = &mut f.train;
        egui::Grid::new("mask-hp")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                labelled(
                    ui,
                    "Steps",
                    egui::DragValue::new(&mut t.steps).range(1..=1_000_000),
                );
                ui.end_row();
                labelled(
                    ui,
                    "Images per batch",
                    egui::DragValue::new(&mut t.batch_images).range(1..=256),
                );
                ui.end_row();
                labelled(ui, "LR explainer", lr_value(&mut t.lr_explainer));
                ui.end_row();
                labelled(ui, "LR mask side", lr_value(&mut f.lr_mask));
                ui.end_row();
                labelled(
                    ui,
                    "Warm-up steps",
                    egui::DragValue::new(&mut t.warmup).range(0..=100_000),
                );
                ui.end_row();
                labelled(
                    ui,
                    "Weight decay",
                    egui::DragValue::new(&mut t.weight_decay)
                        .speed(0.001)
                        .range(0.0..=1.0),
                );
                ui.end_row();
                labelled(
                    ui,
                    "Explanation loss weight",
                    egui::DragValue::new(&mut t.lm_weight)
                        .speed(0.05)
                        .range(0.0..=100.0),
                );
                ui.end_row();
                let mut clip = t.clip.unwrap_or(0.0);
                if labelled(
                    ui,
                    "Gradient clip (0: off)",
                    egui::DragValue::new(&mut clip)
                        .speed(0.05)
                        .range(0.0..=100.0),
                )
                .changed()
                {
                    t.clip = (clip > 0.0).then_some(clip);
                }
                ui.end_row();
                labelled(ui, "Seed", egui::DragValue::new(&mut t.seed));
                ui.end_row();
            });

        ui.add_space(8.0);
        ui.heading("Evaluation and checkpoints");
        egui::Grid::new("mask-eval").num_columns(2).show(ui, |ui| {
            labelled(
                ui,
                "Evaluate every (steps)",
                egui::DragValue::new(&mut f.eval_every).range(1..=100_000),
            );
            ui.end_row();
            labelled(
                ui,
                "Probe paintings",
                egui::DragValue::new(&mut f.probes).range(1..=12),
            );
            ui.end_row();
            labelled(
                ui,
                "Best checkpoints kept",
                egui::DragValue::new(&mut f.keep).range(1..=50),
            );
            ui.end_row();
            let l = ui.label("Best by");
            egui::ComboBox::from_id_salt("mask-best-by")
                .selected_text(f.best_by.name())
                .show_ui(ui, |ui| {
                    for b in MaskBestBy::ALL {
                        ui.selectable_value(&mut f.best_by, b, b.name());
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
        });
        let l = ui.label("Output folder");
        path_row(ui, |ui| {
            if ui.button("Browse…").clicked() {
                pick = Some(PickTarget::MaskOut);
            }
            ui.add(egui::TextEdit::singleline(&mut f.out).desired_width(ui.available_width()))
                .labelled_by(l.id);
        });
        if let Some(t) = pick {
            self.pick(t, ui.ctx());
        }
    }

    fn run_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let blocker = self.blocker(shared);
        ui.horizontal(|ui| {
            let can_start = blocker.is_none();
            let start = ui.add_enabled(
                can_start,
                egui::Button::new(RichText::new("Start").strong()),
            );
            if start.clicked() {
                self.start(shared);
            }
            if self.running() {
                if self.control.is_paused() {
                    if ui.button("Resume").clicked() {
                        self.control.resume();
                    }
                } else if ui
                    .add_enabled(!self.control.is_stopping(), egui::Button::new("Pause"))
                    .on_hover_text("waits before the next step")
                    .clicked()
                {
                    self.control.pause();
                }
                if ui
                    .add_enabled(!self.control.is_stopping(), egui::Button::new("Stop"))
                    .on_hover_text("finishes the current step, evaluates and saves a checkpoint")
                    .clicked()
                {
                    self.control.stop();
                }
            }
            if !self.running() {
                if let Some(why) = &blocker {
                    ui.label(RichText::new(why).color(theme::ERROR));
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(theme::ERROR, e);
        }
        if self.running() || self.state == State::Finished {
            let mut text = self.status.clone();
            if self.running() && self.control.is_paused() {
                text = format!("paused · {text}");
            } else if self.running() && self.control.is_stopping() {
                text = format!("stopping · {text}");
            }
            if let (true, Some(eta)) = (self.running() && !self.control.is_paused(), self.eta) {
                text.push_str(&format!(" · ETA {}", duration(eta)));
            }
            ui.add(egui::ProgressBar::new(self.fraction).text(text));
            if self.running() {
                ui.label(
                    RichText::new(
                        "Other model work (explanations, masks) waits while training runs.",
                    )
                    .small()
                    .weak(),
                );
            }
        }
        if self.run_kind == Trainee::Emosem && self.state != State::Idle {
            self.mask.prepared_ui(ui);
            ui.add_space(6.0);
            self.mask.curves(ui);
            ui.add_space(6.0);
            self.mask.probes_ui(ui, shared);
            ui.add_space(6.0);
            self.mask
                .checkpoints_ui(ui, self.mask_form.best_by.name(), shared.actions);
            self.summary_ui(ui);
            return;
        }
        if let Some(p) = &self.prepared {
            ui.label(
                RichText::new(format!(
                    "{} · {} · {} training pairs, {} validation responses ({} paintings generated) · {} parameters{}",
                    p.model,
                    p.source,
                    p.train_pairs,
                    p.val_sequences,
                    p.eval_paintings,
                    p.parameters,
                    if p.skipped > 0 {
                        format!(" · {} responses skipped (no image or words outside the vocabulary)", p.skipped)
                    } else {
                        String::new()
                    }
                ))
                .small(),
            );
        }
        if self.state == State::Idle {
            ui.add_space(12.0);
            ui.label("Choose data, a model and hyper-parameters on the left, then Start. Curves, probe paintings and checkpoints appear here as the session runs.");
            return;
        }
        ui.add_space(6.0);
        self.curves(ui);
        ui.add_space(6.0);
        self.probes_ui(ui, shared);
        ui.add_space(6.0);
        self.checkpoints_ui(ui, shared.actions);
    }

    fn curves(&self, ui: &mut egui::Ui) {
        let h = 190.0;
        let w = ((ui.available_width() - 16.0) / 3.0).max(160.0);
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(w);
                ui.label(RichText::new("Training loss").strong());
                let series = |f: &dyn Fn(&StepRecord) -> Option<f32>| -> Vec<[f64; 2]> {
                    self.steps
                        .iter()
                        .filter_map(|s| f(s).map(|v| [s.losses.step as f64, v as f64]))
                        .collect()
                };
                let total = series(&|s| Some(s.losses.total));
                let lang = series(&|s| Some(s.losses.language));
                let vad = series(&|s| s.losses.vad);
                let cl = series(&|s| s.losses.contrastive);
                Plot::new("train-loss")
                    .height(h)
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .allow_scroll(false)
                    .show(ui, |p| {
                        p.line(Line::new("total", PlotPoints::from(total)).color(theme::CURVES[0]));
                        p.line(
                            Line::new("language", PlotPoints::from(lang)).color(theme::CURVES[1]),
                        );
                        if !vad.is_empty() {
                            p.line(Line::new("VAD", PlotPoints::from(vad)).color(theme::CURVES[2]));
                        }
                        if !cl.is_empty() {
                            p.line(
                                Line::new("contrastive", PlotPoints::from(cl))
                                    .color(theme::CURVES[3]),
                            );
                        }
                    });
            });
            ui.vertical(|ui| {
                ui.set_width(w);
                ui.label(RichText::new("Validation loss").strong());
                Plot::new("train-val")
                    .height(h)
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .allow_scroll(false)
                    .show(ui, |p| {
                        for (k, c) in [
                            ("val loss", theme::CURVES[0]),
                            ("val language", theme::CURVES[1]),
                            ("val VAD", theme::CURVES[2]),
                        ] {
                            let pts = self.metric_points(k);
                            if !pts.is_empty() {
                                p.line(Line::new(k, PlotPoints::from(pts.clone())).color(c));
                                p.points(
                                    Points::new(k, PlotPoints::from(pts)).color(c).radius(3.0),
                                );
                            }
                        }
                    });
            });
            ui.vertical(|ui| {
                ui.set_width(w);
                ui.label(RichText::new("Text metrics (validation)").strong());
                Plot::new("train-metrics")
                    .height(h)
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .include_y(0.0)
                    .allow_scroll(false)
                    .show(ui, |p| {
                        for (k, c) in [
                            ("BLEU-1", theme::CURVES[0]),
                            ("BLEU-4", theme::CURVES[1]),
                            ("ROUGE-L", theme::CURVES[2]),
                            ("ACC", theme::CURVES[3]),
                        ] {
                            let pts = self.metric_points(k);
                            if !pts.is_empty() {
                                p.line(Line::new(k, PlotPoints::from(pts.clone())).color(c));
                                p.points(
                                    Points::new(k, PlotPoints::from(pts)).color(c).radius(3.0),
                                );
                            }
                        }
                    });
            });
        });
    }

    fn metric_points(&self, key: &str) -> Vec<[f64; 2]> {
        self.evals
            .iter()
            .filter_map(|e| e.metrics.get(key).map(|v| [e.step as f64, *v]))
            .collect()
    }

    fn probes_ui(&self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(p) = &self.prepared else { return };
        ui.label(
            RichText::new("Probe paintings (validation), regenerated at every evaluation").strong(),
        );
        let last = self.evals.last();
        let prev = self
            .evals
            .len()
            .checked_sub(2)
            .and_then(|i| self.evals.get(i));
        let index_of = |id: &str| -> Option<usize> {
            shared
                .collection
                .and_then(|c| c.paintings.iter().position(|q| q.id == id))
        };
        let probe = |e: Option<&EvalRecord>, id: &str| {
            e.and_then(|e| e.probes.iter().find(|q| q.painting == id).cloned())
        };
        let latest = match last {
            Some(e) => format!("step {}", e.step),
            None => "latest".into(),
        };
        let before = match prev {
            Some(e) => format!("step {}", e.step),
            None => "before".into(),
        };
        let cols = [
            Col::new("painting", 190.0),
            Col::new("viewers", 110.0),
            Col::new(&latest, 420.0),
            Col::rest(&before),
        ];
        let probes = &p.probes;
        sortable_table(
            ui,
            "train-probes",
            &cols,
            probes.len(),
            62.0,
            |r, c| {
                let (id, _, human) = &probes[r];
                match c {
                    0 => Key::text(id),
                    1 => human.map_or(Key::Empty, |h| Key::text(h.name())),
                    2 => probe(last, id).map_or(Key::Empty, |q| Key::text(q.text)),
                    _ => probe(prev, id).map_or(Key::Empty, |q| Key::text(q.text)),
                }
            },
            |ui, r, c| {
                let (id, _, human) = &probes[r];
                match c {
                    0 => {
                        if let Some(i) = index_of(id) {
                            match shared.thumbs.get(&i) {
                                Some(t) => {
                                    let s = t.size_vec2();
                                    let k = 56.0 / s.x.max(s.y);
                                    ui.add(egui::Image::new((t.id(), s * k)));
                                }
                                None => {
                                    shared.actions.push(Action::WantThumb(i));
                                    ui.add_sized([56.0, 56.0], egui::Spinner::new());
                                }
                            }
                        }
                        ui.label(id);
                    }
                    1 => match human {
                        Some(h) => emotion_label(ui, *h),
                        None => {
                            ui.label(RichText::new("no majority").weak());
                        }
                    },
                    2 => match probe(last, id) {
                        Some(q) => {
                            ui.horizontal_wrapped(|ui| {
                                if let Some(e) = q.emotion {
                                    emotion_label(ui, e);
                                    if q.human == Some(e) {
                                        ui.label(RichText::new("match").color(theme::OK));
                                    }
                                }
                                ui.add(egui::Label::new(q.text.clone()).wrap());
                            });
                        }
                        None => {
                            ui.label(RichText::new("after the first evaluation").weak());
                        }
                    },
                    _ => {
                        if let Some(q) = probe(prev, id) {
                            ui.horizontal_wrapped(|ui| {
                                ui.add(egui::Label::new(RichText::new(q.text).weak()).wrap());
                            });
                        }
                    }
                }
            },
        );
    }

    fn checkpoints_ui(&self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        checkpoint_table(
            ui,
            "train-ckpt",
            &self.checkpoints,
            self.form.best_by.name(),
            &[("val loss", 4), ("BLEU-1", 4), ("ACC", 4)],
            false,
            actions,
        );
        self.summary_ui(ui);
    }

    fn summary_ui(&self, ui: &mut egui::Ui) {
        if let Some(s) = &self.summary {
            ui.label(
                RichText::new(format!(
                    "{} after {} of {} steps · {} evaluations",
                    if s.stopped { "Stopped" } else { "Finished" },
                    s.steps,
                    s.total_steps,
                    s.evaluations
                ))
                .strong(),
            );
        }
    }

    fn on_partial(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::Prepared(p) => {
                self.status = format!("{} steps planned", p.total_steps);
                self.prepared = Some(p);
            }
            SessionEvent::Step(s) => {
                self.eta = Some(s.eta_s);
                self.steps.push(s);
            }
            SessionEvent::Eval(e) => self.evals.push(e),
            SessionEvent::Checkpoints(c) => self.checkpoints = c,
        }
    }
}

impl Default for TrainPanel {
    fn default() -> Self {
        Self::new()
    }
}

impl Panel for TrainPanel {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Train)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.draw(ui, &mut state.lend());
    }

    fn owns(&self, job: JobId) -> bool {
        self.job == Some(job) || matches!(self.csv_check, Some(CsvCheck::Reading(id)) if id == job)
    }

    fn on_event(&mut self, _: &egui::Context, job: JobId, kind: EventKind, _: &mut Vec<Action>) {
        if let Some(CsvCheck::Reading(id)) = self.csv_check {
            if id == job {
                match kind {
                    EventKind::Done(JobOutput::Annotations(rows)) => {
                        let paintings: std::collections::BTreeSet<&str> =
                            rows.iter().map(|r| r.painting.as_str()).collect();
                        self.csv_check = Some(CsvCheck::Ok {
                            responses: rows.len(),
                            paintings: paintings.into_iter().map(String::from).collect(),
                            with_image: None,
                        });
                    }
                    EventKind::Failed(msg) => self.csv_check = Some(CsvCheck::Failed(msg)),
                    EventKind::Cancelled => self.csv_check = None,
                    _ => {}
                }
                return;
            }
        }
        if self.job != Some(job) {
            return;
        }
        match kind {
            EventKind::Started { .. } => self.status = "starting".into(),
            EventKind::Progress {
                fraction, message, ..
            } => {
                self.fraction = fraction;
                self.status = message;
            }
            EventKind::Partial(JobOutput::SevlmSession(ev)) => self.on_partial(*ev),
            EventKind::Partial(JobOutput::MaskSession(ev)) => {
                if let Some(eta) = self.mask.on_event(*ev) {
                    self.eta = Some(eta);
                }
            }
            EventKind::Partial(_) => {}
            EventKind::Done(out) => {
                self.job = None;
                self.state = State::Finished;
                self.fraction = 1.0;
                if let JobOutput::SessionSummary(s) = out {
                    self.status = format!(
                        "{} at step {}/{}",
                        if s.stopped { "stopped" } else { "finished" },
                        s.steps,
                        s.total_steps
                    );
                    self.summary = Some(*s);
                }
            }
            EventKind::Failed(msg) => {
                self.job = None;
                self.state = State::Failed;
                self.error = Some(format!("training failed: {msg}"));
            }
            EventKind::Cancelled => {
                self.job = None;
                self.state = State::Failed;
                self.error = Some("training cancelled".into());
            }
        }
    }
}

// Paul Tol's bright scheme (colour-blind safe).

fn lr_value(v: &mut f64) -> egui::DragValue<'_> {
    egui::DragValue::new(v)
        .speed(1e-6)
        .range(0.0..=1.0)
        .custom_formatter(|x, _| format!("{x:.1e}"))
        .custom_parser(|s| s.trim().parse::<f64>().ok())
}

fn emotion_label(ui: &mut egui::Ui, e: Emotion) {
    ui.label(theme::emotion_text(e));
}

fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}
