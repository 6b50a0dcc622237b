//! The Models tab: the weights of `models/MODELS.toml` (and the `LOCAL.toml` of the
//! user's models folder, `<data>/models`, where imports are recorded), whether each is
//! installed, its size, licence, source and what it enables; sha256 verification as an engine job; the demo kit's model card; where
//! each feature looks for its weights; import of a checkpoint folder (picked,
//! typed or dropped), validated by the engine's import code before anything is copied;
//! and download on request (`download.rs`).

mod download;
mod import;
mod listing;

use listing::{feature_tab, features_table, human_bytes, kind};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use artemo_engine::jobs::manifests::{
    FeatureTab, FeatureWeights, ImportWeights, ListModels, ManifestRow, ModelListing, VerifyModel,
};
use artemo_engine::manifest::{FileState, ModelEntry};
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput};
use egui::{Color32, RichText};

use crate::gui::panels::jobs::Jobs;
use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use crate::gui::theme;
use crate::gui::widgets::table::{sortable_table, Col, Key};

enum Verify {
    Running(f32, String),
    Done(Vec<(PathBuf, FileState)>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    List,
    Verify(String),
    Card,
    Import,
    Download,
}

/// The tab's state.
pub struct ModelsPanel {
    models: Option<PathBuf>,
    listing: Option<ModelListing>,
    list_error: Option<String>,
    jobs: Jobs<Pending>,
    verify: HashMap<String, Verify>,
    card: Option<Result<String, String>>,
    show_card: bool,
    /// The model card's rendering state.
    markdown: egui_commonmark::CommonMarkCache,
    import_path: String,
    import_name: String,
    import_progress: Option<String>,
    import_result: Option<Result<String, String>>,
    picker: Option<Receiver<((), crate::gui::dialog::Picked)>>,
    download: download::DownloadForm,
}

impl ModelsPanel {
    /// The tab before first use (the manifest is read when it is first shown).
    pub fn new() -> Self {
        ModelsPanel {
            models: artemo_engine::find_models(),
            listing: None,
            list_error: None,
            jobs: Jobs::default(),
            verify: HashMap::new(),
            card: None,
            show_card: false,
            markdown: egui_commonmark::CommonMarkCache::default(),
            import_path: String::new(),
            import_name: String::new(),
            import_progress: None,
            import_result: None,
            picker: None,
            download: download::DownloadForm::default(),
        }
    }

    fn submit(&mut self, shared: &mut Shared, p: Pending, cmd: Command) {
        let name = cmd.name();
        match shared.engine.submit(cmd) {
            Ok(id) => {
                self.jobs.insert(id, p);
            }
            Err(e) => shared.notice(format!("{name}: {e}"), true),
        }
    }

    fn refresh(&mut self, shared: &mut Shared) {
        let Some(root) = self.models.clone() else {
            return;
        };
        self.list_error = None;
        self.submit(
            shared,
            Pending::List,
            Command::ListModels(ListModels { root }),
        );
    }

    fn start_verify(&mut self, shared: &mut Shared, entries: Vec<(ModelEntry, PathBuf)>) {
        for (entry, root) in entries {
            let name = entry.name.clone();
            if matches!(self.verify.get(&name), Some(Verify::Running(..))) {
                continue;
            }
            self.verify
                .insert(name.clone(), Verify::Running(0.0, "queued".into()));
            self.submit(
                shared,
                Pending::Verify(name),
                Command::VerifyModel(VerifyModel { entry, root }),
            );
        }
    }

    fn start_card(&mut self, shared: &mut Shared) {
        self.show_card = true;
        let Some(root) = self.models.clone() else {
            self.card = Some(Err("the models/ folder was not found".into()));
            return;
        };
        let path = root.join("demo/MODEL_CARD.md");
        self.submit(
            shared,
            Pending::Card,
            Command::Run {
                name: "read the model card".into(),
                lane: artemo_engine::worker::Lane::Io,
                job: Box::new(move |_ctx| {
                    Ok(JobOutput::Text(artemo_engine::error::read_text(&path)?))
                }),
            },
        );
    }

    /// Draws the tab.
    fn draw(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(root) = self.models.clone() else {
            ui.heading("Models");
            ui.label(
                "The models/ folder was not found: set ARTEMO_MODELS to a folder holding MODELS.toml.",
            );
            return;
        };
        if self.listing.is_none()
            && self.list_error.is_none()
            && !self.jobs.any(|p| *p == Pending::List)
        {
            self.refresh(shared);
        }
        // Files dropped on the window while this tab is open are offered for import.
        let dropped: Option<PathBuf> = ui.ctx().input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty())
        });
        if let Some(p) = dropped {
            self.set_import_source(p);
        }
        if let Some(rx) = &self.picker {
            if let Ok(((), r)) = rx.try_recv() {
                self.picker = None;
                match r {
                    crate::gui::dialog::Picked::Path(p) => self.set_import_source(p),
                    crate::gui::dialog::Picked::Cancelled => {}
                    crate::gui::dialog::Picked::Unavailable => shared.notice(
                        format!(
                            "{} type the checkpoint's path into the import field instead.",
                            crate::gui::dialog::UNAVAILABLE
                        ),
                        true,
                    ),
                }
            }
        }
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.heading("Installed weights");
                    if ui.button("Refresh").clicked() {
                        self.refresh(shared);
                    }
                    let entries: Vec<(ModelEntry, PathBuf)> = self
                        .listing
                        .as_ref()
                        .map(|l| {
                            l.rows
                                .iter()
                                .map(|r| (r.entry.clone(), r.root.clone()))
                                .collect()
                        })
                        .unwrap_or_default();
                    if ui
                        .add_enabled(!entries.is_empty(), egui::Button::new("Verify all"))
                        .on_hover_text("Check every file's sha256 against the manifest")
                        .clicked()
                    {
                        self.start_verify(shared, entries);
                    }
                    if ui.button("Demo kit model card").clicked() {
                        self.start_card(shared);
                    }
                });
                let user = artemo_engine::user_models_dir()
                    .map(|d| artemo_engine::shown_path(&d))
                    .unwrap_or_else(|| "no user data folder".into());
                ui.label(
                    RichText::new(
                        "shipped: models/MODELS.toml · imported: <data>/models/LOCAL.toml",
                    )
                    .small()
                    .weak(),
                )
                .on_hover_text(format!(
                    "models/ is {}; <data>/models is {user}",
                    root.display()
                ));
                if let Some(e) = &self.list_error {
                    ui.colored_label(theme::ERROR, e);
                }
                let Some(listing) = self.listing.clone() else {
                    ui.spinner();
                    return;
                };
                for w in &listing.warnings {
                    ui.colored_label(theme::ERROR, w);
                }
                ui.add_space(6.0);
                for row in &listing.rows {
                    self.row_ui(ui, shared, row);
                    ui.add_space(4.0);
                }
                ui.add_space(8.0);
                ui.separator();
                ui.heading("Where each feature looks for weights");
                features_table(ui, &listing, shared);
                ui.add_space(8.0);
                ui.separator();
                self.import_ui(ui, shared);
                ui.add_space(8.0);
                ui.separator();
                self.download_ui(ui, shared);
            });
        self.card_window(ui.ctx());
    }

    fn row_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared, row: &ManifestRow) {
        let e = &row.entry;
        let n = e.files.len();
        let bytes: u64 = e.files.iter().map(|f| f.bytes).sum();
        let demo =
            e.name.starts_with("demo") || e.files.iter().any(|f| f.path.starts_with("demo/"));
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(&e.name).strong().size(15.0));
                if demo {
                    badge(ui, "DEMO KIT", theme::AMBER);
                }
                if row.local {
                    badge(ui, "IMPORTED", theme::IMPORTED);
                }
                if row.present == n {
                    ui.colored_label(theme::VERIFIED, "installed");
                } else if row.present == 0 {
                    ui.colored_label(theme::ERROR, "missing");
                } else {
                    ui.colored_label(
                        theme::ERROR,
                        format!("incomplete: {}/{} files", row.present, n),
                    );
                }
                ui.label(RichText::new(format!("{} · {} file(s)", human_bytes(bytes), n)).weak());
            });
            ui.label(RichText::new(kind(e)).italics())
                .on_hover_text(&e.description);
            egui::Grid::new(("model", &e.name))
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label(RichText::new("licence").weak());
                    ui.label(&e.licence);
                    ui.end_row();
                    ui.label(RichText::new("source").weak());
                    ui.label(&e.source);
                    ui.end_row();
                    ui.label(RichText::new("enables").weak());
                    ui.horizontal_wrapped(|ui| {
                        for (j, what) in e.enables.iter().enumerate() {
                            if j > 0 {
                                ui.label(RichText::new("·").weak());
                            }
                            match feature_tab(what) {
                                Some(t) => {
                                    if ui
                                        .link(what)
                                        .on_hover_text(format!("used by the {} tab", t.label()))
                                        .clicked()
                                    {
                                        shared.actions.push(Action::Goto(t));
                                    }
                                }
                                None => {
                                    ui.label(what);
                                }
                            }
                        }
                    });
                    ui.end_row();
                    ui.label(RichText::new("sha256").weak());
                    ui.horizontal_wrapped(|ui| {
                        let running = matches!(self.verify.get(&e.name), Some(Verify::Running(..)));
                        match self.verify.get(&e.name) {
                            None => {
                                ui.label(RichText::new("not verified").weak());
                            }
                            Some(Verify::Running(f, m)) => {
                                ui.add(
                                    egui::ProgressBar::new(*f)
                                        .desired_width(200.0)
                                        .text(m.clone()),
                                );
                            }
                            Some(Verify::Failed(m)) => {
                                ui.colored_label(theme::ERROR, m);
                            }
                            Some(Verify::Done(states)) => {
                                let ok = states.iter().filter(|s| s.1 == FileState::Ok).count();
                                if ok == states.len() {
                                    ui.colored_label(
                                        theme::VERIFIED,
                                        format!("all {ok} file(s) match"),
                                    );
                                } else {
                                    ui.colored_label(
                                        theme::ERROR,
                                        format!("{ok}/{} file(s) match", states.len()),
                                    );
                                }
                            }
                        }
                        if ui
                            .add_enabled(!running, egui::Button::new("Verify").small())
                            .clicked()
                        {
                            self.start_verify(shared, vec![(e.clone(), row.root.clone())]);
                        }
                        if demo && ui.small_button("model card").clicked() {
                            self.start_card(shared);
                        }
                    });
                    ui.end_row();
                });
            if let Some(Verify::Done(states)) = self.verify.get(&e.name) {
                for (p, s) in states {
                    match s {
                        FileState::Ok => {}
                        FileState::Missing => {
                            ui.colored_label(theme::ERROR, format!("missing: {}", p.display()));
                        }
                        FileState::Mismatch(h) => {
                            ui.colored_label(
                                theme::ERROR,
                                format!("sha256 mismatch: {} (found {h})", p.display()),
                            );
                        }
                    }
                }
            }
            egui::CollapsingHeader::new(format!("files ({n})"))
                .id_salt(("model-files", &e.name))
                .show(ui, |ui| {
                    for f in &e.files {
                        ui.label(
                            RichText::new(format!("{}  {}", f.path, human_bytes(f.bytes)))
                                .monospace()
                                .small(),
                        );
                    }
                });
        });
    }

    fn card_window(&mut self, ctx: &egui::Context) {
        if !self.show_card {
            return;
        }
        let mut open = self.show_card;
        egui::Window::new("Demo kit model card")
            .open(&mut open)
            .default_size([640.0, 520.0])
            .vscroll(true)
            .show(ctx, |ui| match &self.card {
                None => {
                    ui.spinner();
                }
                Some(Err(e)) => {
                    ui.colored_label(theme::ERROR, e);
                }
                Some(Ok(text)) => {
                    // Headings, lists, emphasis, code and tables (GitHub style).
                    // Figures (`card/<id>.jpg`) are read beside the card.
                    let base = self.models.as_ref().map(|m| m.join("demo"));
                    crate::gui::widgets::markdown::show(
                        ui,
                        &mut self.markdown,
                        text,
                        base.as_deref(),
                    );
                }
            });
        self.show_card = open;
    }
}

fn badge(ui: &mut egui::Ui, text: &str, fill: Color32) {
    egui::Frame::new()
        .fill(fill)
        .corner_radius(3.0)
        .inner_margin(egui::Margin::symmetric(6, 1))
        .show(ui, |ui| {
            ui.label(RichText::new(text).strong().small().color(Color32::BLACK));
        });
}

impl Panel for ModelsPanel {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Models)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.draw(ui, &mut state.lend());
    }

    fn owns(&self, job: JobId) -> bool {
        self.jobs.owns(job)
    }

    fn on_event(
        &mut self,
        ctx: &egui::Context,
        job: JobId,
        kind: EventKind,
        actions: &mut Vec<Action>,
    ) {
        let Some(p) = self.jobs.event(job, &kind) else {
            return;
        };
        match (p, kind) {
            (Pending::List, EventKind::Done(JobOutput::ModelListing(l))) => {
                self.listing = Some(*l);
            }
            (Pending::List, EventKind::Failed(m)) => self.list_error = Some(m),
            (
                Pending::Verify(n),
                EventKind::Progress {
                    fraction, message, ..
                },
            ) => {
                self.verify.insert(n, Verify::Running(fraction, message));
            }
            (Pending::Verify(n), EventKind::Done(JobOutput::Verified(s))) => {
                self.verify.insert(n, Verify::Done(s));
            }
            (Pending::Verify(n), EventKind::Failed(m)) => {
                self.verify.insert(n, Verify::Failed(m));
            }
            (Pending::Verify(n), EventKind::Cancelled) => {
                self.verify.remove(&n);
            }
            (Pending::Card, EventKind::Done(JobOutput::Text(t))) => self.card = Some(Ok(t)),
            (Pending::Card, EventKind::Failed(m)) => self.card = Some(Err(m)),
            (Pending::Import, EventKind::Progress { message, .. }) => {
                self.import_progress = Some(message);
            }
            (Pending::Import, EventKind::Done(JobOutput::Imported(imp))) => {
                self.import_progress = None;
                let e = &imp.entry;
                let mut msg = format!(
                    "imported {} ({} files); enables: {}.",
                    e.name,
                    e.files.len(),
                    e.enables.join(", ")
                );
                if !imp.unused.is_empty() {
                    msg.push_str(&format!(
                        " {} tensor(s) of the checkpoint are not used by the model: {}.",
                        imp.unused.len(),
                        imp.unused
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                actions.push(Action::Notice {
                    text: msg.clone(),
                    error: false,
                });
                self.import_result = Some(Ok(msg));
                self.listing = None;
                actions.push(Action::ModelsChanged);
            }
            (Pending::Import, EventKind::Failed(m)) => {
                self.import_progress = None;
                self.import_result = Some(Err(m));
            }
            (Pending::Import, EventKind::Cancelled) => self.import_progress = None,
            (Pending::Download, kind) => self.download_event(kind, actions),
            _ => {}
        }
        ctx.request_repaint();
    }
}
