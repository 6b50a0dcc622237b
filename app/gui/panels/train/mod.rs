//! The Train tab: SEVLM, EmoSEM or PACL fine-tuning or training from scratch with live
//! curves.
//!
//! Left: the model to train and its form (`sevlm_form.rs`, `emosem_form.rs`,
//! `pacl_form.rs`, built from `rows.rs`). Right: the run view (`run_view.rs`: start /
//! pause / resume / stop, progress with ETA, `curves.rs`, probe paintings, kept
//! checkpoints; EmoSEM's parts in `emosem_run.rs`, PACL's in `pacl_run.rs`). Sessions run on the engine's compute lane
//! (`artemo_engine::jobs::train::session_job`, one for every model); their events arrive
//! as typed partials (`JobOutput::Training`).

mod curves;
mod emosem_form;
mod emosem_run;
mod pacl_form;
mod pacl_run;
mod rows;
mod run_log;
mod run_view;
mod sevlm_form;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use artemo_engine::collection::Collection;
use artemo_engine::emosem::session::EmosemSession;
use artemo_engine::jobs::train::{region_check_job, session_job};
use artemo_engine::pacl::session::PaclSession;
use artemo_engine::sevlm::session::SevlmSession;
use artemo_engine::train::events::{Summary, TrainEvent};
use artemo_engine::train::session::Control;
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput, Lane};

use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use emosem_run::MaskRun;
use pacl_run::PaclRun;
use run_log::RunLog;
use sevlm_form::CsvCheck;

pub use emosem_form::{MaskData, MaskForm, MaskModel, RegionCheck};
pub use pacl_form::{PaclData, PaclForm};
pub use rows::SessionSettings;
pub use sevlm_form::{DataChoice, Form, ModelChoice};

/// Which model the tab trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainee {
    /// SEVLM: emotion + explanation.
    Sevlm,
    /// EmoSEM: stimulus masks + explanations.
    Emosem,
    /// PACL: painting and text embeddings.
    Pacl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
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
    /// The PACL form.
    pub pacl_form: PaclForm,
    /// The model of the session running or last run.
    run_kind: Trainee,
    mask: MaskRun,
    pacl: PaclRun,
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
    sevlm: RunLog,
    summary: Option<Summary>,
    csv_check: Option<CsvCheck>,
    region_check: Option<RegionCheck>,
    picking: Option<Receiver<(PickTarget, crate::gui::dialog::Picked)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PickTarget {
    Csv,
    Lexicon,
    Checkpoint,
    Out,
    ApoloJson,
    ApoloMaps,
    PseudoDir,
    MaskCheckpoint,
    MaskOut,
    PaclOut,
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
            pacl_form: PaclForm::paper(&runs("pacl")),
            run_kind: Trainee::Sevlm,
            mask: MaskRun::default(),
            pacl: PaclRun::default(),
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
            sevlm: RunLog::default(),
            summary: None,
            csv_check: None,
            region_check: None,
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
            Trainee::Sevlm => self.sevlm.steps.len(),
            Trainee::Emosem => self.mask.log.steps.len(),
            Trainee::Pacl => self.pacl.log.steps.len(),
        }
    }

    /// The EmoSEM run's mask loss at every step received so far (its curve's values).
    pub fn mask_losses(&self) -> Vec<f64> {
        self.mask
            .log
            .steps
            .iter()
            .filter_map(|s| {
                s.losses
                    .losses
                    .get(&artemo_engine::train::Metric::MaskLoss)
                    .copied()
            })
            .collect()
    }

    /// The EmoSEM run's set-up line (model and data), once prepared.
    pub fn mask_setup(&self) -> Option<String> {
        let p = self.mask.log.prepared.as_ref()?;
        Some(format!("{} · {}", p.model, p.notes.join(" · ")))
    }

    /// Evaluations received so far.
    pub fn evals_seen(&self) -> usize {
        match self.run_kind {
            Trainee::Sevlm => self.sevlm.evals.len(),
            Trainee::Emosem => self.mask.log.evals.len(),
            Trainee::Pacl => self.pacl.log.evals.len(),
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

    /// What the read of the EmoSEM form's folder (APOLO or pseudo-masks) found, or why
    /// it failed.
    pub fn region_check(&self) -> Option<&RegionCheck> {
        self.region_check.as_ref()
    }

    /// Draws the tab.
    fn draw(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        self.poll_picker(shared);
        self.count_with_image(shared);
        self.check_regions(shared);
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
                PickTarget::Lexicon => d.add_filter("NRC VAD", &["txt", "tsv"]).pick_file(),
                PickTarget::ApoloJson => d.add_filter("APOLO", &["json"]).pick_file(),
                PickTarget::Checkpoint
                | PickTarget::Out
                | PickTarget::ApoloMaps
                | PickTarget::PseudoDir
                | PickTarget::MaskCheckpoint
                | PickTarget::MaskOut
                | PickTarget::PaclOut => d.pick_folder(),
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
                    PickTarget::Lexicon => self.form.lexicon = s,
                    PickTarget::Out => self.form.settings.out = s,
                    PickTarget::ApoloJson => self.mask_form.apolo_json = s,
                    PickTarget::ApoloMaps => self.mask_form.apolo_maps = s,
                    PickTarget::PseudoDir => self.mask_form.pseudo_dir = s,
                    PickTarget::MaskCheckpoint => self.mask_form.checkpoint = s,
                    PickTarget::MaskOut => self.mask_form.settings.out = s,
                    PickTarget::PaclOut => self.pacl_form.settings.out = s,
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

    /// Reads the EmoSEM form's APOLO or pseudo-mask source on the io lane whenever it
    /// changes to one that can be read (what it found is shown under the folder field).
    fn check_regions(&mut self, shared: &mut Shared) {
        if self.trainee != Trainee::Emosem || self.running() {
            return;
        }
        let Some(key) = self.mask_form.check_key(shared.collection) else {
            self.region_check = None;
            return;
        };
        if self.region_check.as_ref().is_some_and(|c| c.key() == key) {
            return;
        }
        let Some(assets) = self.assets.clone() else {
            return;
        };
        let source = self.mask_form.source(shared.collection);
        let job = region_check_job(source, assets);
        self.region_check = Some(
            match shared.engine.submit(Command::Run {
                name: "read EmoSEM data".into(),
                lane: Lane::Io,
                job,
            }) {
                Ok(id) => RegionCheck::Reading { id, key },
                Err(e) => RegionCheck::Failed {
                    key,
                    error: e.to_string(),
                },
            },
        );
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
        let open = shared.collection.is_some();
        match self.trainee {
            Trainee::Emosem => {
                let check = self.region_check.as_ref();
                self.mask_form
                    .blocker(shared.collection, check, self.tower, models)
            }
            Trainee::Pacl => self.pacl_form.blocker(open, models),
            Trainee::Sevlm => {
                let csv = self.csv_check.as_ref();
                self.form.blocker(csv, open, self.tower, models)
            }
        }
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
        self.control = Arc::new(Control::new());
        let control = self.control.clone();
        let (name, job) = match self.trainee {
            Trainee::Emosem => {
                let f = &self.mask_form;
                let source = f.source(shared.collection);
                let job =
                    session_job::<EmosemSession>(source, f.session(), assets, models, control);
                ("train EmoSEM", job)
            }
            Trainee::Pacl => {
                let f = &self.pacl_form;
                let source = f.source(shared.collection);
                let job = session_job::<PaclSession>(source, f.session(), assets, models, control);
                ("train PACL", job)
            }
            Trainee::Sevlm => {
                let source = self.form.source(shared.collection);
                let job = session_job::<SevlmSession>(
                    source,
                    self.form.session(),
                    assets,
                    models,
                    control,
                );
                ("train SEVLM", job)
            }
        };
        self.submit(shared, name, job, self.trainee);
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
                self.pacl = PaclRun::default();
                self.job = Some(id);
                self.state = State::Running;
                self.status = "waiting for the engine".into();
                self.error = None;
                self.fraction = 0.0;
                self.eta = None;
                self.sevlm = RunLog::default();
                self.summary = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let enabled = !self.running();
        let tower = self.tower;
        let mut check_csv = false;
        let pick = ui
            .add_enabled_ui(enabled, |ui| {
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
                ui.radio_value(
                    &mut self.trainee,
                    Trainee::Pacl,
                    "PACL: painting and text embeddings",
                );
                ui.add_space(8.0);
                match self.trainee {
                    Trainee::Emosem => self.mask_form.ui(
                        ui,
                        tower,
                        self.models.as_deref(),
                        self.region_check.as_ref(),
                    ),
                    Trainee::Pacl => self.pacl_form.ui(ui),
                    Trainee::Sevlm => {
                        let asks = self.form.ui(ui, tower, self.csv_check.as_ref());
                        check_csv = asks.check_csv;
                        asks.pick
                    }
                }
            })
            .inner;
        if check_csv {
            self.check_csv(shared);
        }
        if std::mem::take(&mut self.mask_form.want_models_tab) {
            shared.actions.push(Action::Goto(Tab::Models));
        }
        if let Some(t) = pick {
            self.pick(t, ui.ctx());
        }
    }
}

impl TrainPanel {
    /// A session event: the end is the tab's; the rest goes to the view of the model
    /// that runs.
    fn on_train_event(&mut self, ev: TrainEvent) {
        if let TrainEvent::Finished(s) = ev {
            self.status = format!(
                "{} at step {}/{}",
                if s.stopped { "stopped" } else { "finished" },
                s.steps,
                s.total_steps
            );
            self.summary = Some(s);
            return;
        }
        if let TrainEvent::Prepared(p) = &ev {
            self.status = format!("{} steps planned", p.total_steps);
        }
        let eta = match self.run_kind {
            Trainee::Emosem => self.mask.on_event(ev),
            Trainee::Pacl => self.pacl.log.on_event(ev),
            Trainee::Sevlm => self.sevlm.on_event(ev),
        };
        if let Some(eta) = eta {
            self.eta = Some(eta);
        }
    }
}

/// The open collection's images by painting id (what a session over it reads).
fn images(collection: Option<&Collection>) -> BTreeMap<String, PathBuf> {
    collection
        .map(|c| {
            c.paintings
                .iter()
                .map(|p| (p.id.clone(), p.path.clone()))
                .collect()
        })
        .unwrap_or_default()
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
        self.job == Some(job)
            || matches!(self.csv_check, Some(CsvCheck::Reading(id)) if id == job)
            || matches!(self.region_check, Some(RegionCheck::Reading { id, .. }) if id == job)
    }

    fn on_event(&mut self, _: &egui::Context, job: JobId, kind: EventKind, _: &mut Vec<Action>) {
        if let Some(RegionCheck::Reading { id, key }) = &self.region_check {
            if *id == job {
                let key = key.clone();
                match kind {
                    EventKind::Done(JobOutput::Text(line)) => {
                        self.region_check = Some(RegionCheck::Found { key, line });
                    }
                    EventKind::Done(other) => {
                        self.region_check = Some(RegionCheck::Failed {
                            key,
                            error: format!("the data check answered {other:?}"),
                        });
                    }
                    EventKind::Failed(error) => {
                        self.region_check = Some(RegionCheck::Failed { key, error });
                    }
                    EventKind::Cancelled => self.region_check = None,
                    _ => {}
                }
                return;
            }
        }
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
            EventKind::Partial(JobOutput::Training(ev)) => self.on_train_event(*ev),
            EventKind::Partial(other) => {
                self.error = Some(format!(
                    "the training job streamed an unexpected output: {other:?}"
                ));
            }
            EventKind::Done(out) => {
                self.job = None;
                self.state = State::Finished;
                self.fraction = 1.0;
                match out {
                    JobOutput::Training(ev) => self.on_train_event(*ev),
                    other => {
                        self.error = Some(format!(
                            "the training job ended with an unexpected output: {other:?}"
                        ));
                    }
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
