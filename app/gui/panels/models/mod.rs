//! The Models tab: the weights of `models/MODELS.toml` (and the `LOCAL.toml` of the
//! user's models folder, `<data>/models`, where imports are recorded), whether each is installed, its size, licence, source and what
//! it enables; sha256 verification as an engine job; the demo kit's model card; where
//! each feature looks for its weights; and import of a checkpoint folder (picked,
//! typed or dropped), validated by the engine's import code before anything is copied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use artemo_engine::jobs::manifests::{
    FeatureTab, FeatureWeights, ImportWeights, ListModels, ManifestRow, ModelListing, VerifyModel,
};
use artemo_engine::manifest::{FileState, ModelEntry};
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput};
use egui::{Color32, RichText};

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
}

/// The tab's state.
pub struct ModelsPanel {
    models: Option<PathBuf>,
    listing: Option<ModelListing>,
    list_error: Option<String>,
    jobs: HashMap<JobId, Pending>,
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
}

impl ModelsPanel {
    /// The tab before first use (the manifest is read when it is first shown).
    pub fn new() -> Self {
        ModelsPanel {
            models: artemo_engine::find_models(),
            listing: None,
            list_error: None,
            jobs: HashMap::new(),
            verify: HashMap::new(),
            card: None,
            show_card: false,
            markdown: egui_commonmark::CommonMarkCache::default(),
            import_path: String::new(),
            import_name: String::new(),
            import_progress: None,
            import_result: None,
            picker: None,
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

    fn start_import(&mut self, shared: &mut Shared) {
        // Imports go to the user's models folder (`<data>/models`), never the shipped one.
        let Some(root) = artemo_engine::user_models_dir() else {
            shared.notice(
                "no user data folder to import into: set ARTEMO_DATA or HOME".to_string(),
                true,
            );
            return;
        };
        let mut src = PathBuf::from(self.import_path.trim());
        if src.is_file() {
            // A checkpoint file: its folder holds the config and weights.
            if let Some(p) = src.parent() {
                src = p.to_path_buf();
            }
        }
        let name = self.import_name.trim().to_string();
        self.import_result = None;
        self.import_progress = Some(format!("validating {}", src.display()));
        self.submit(
            shared,
            Pending::Import,
            Command::ImportWeights(ImportWeights { src, name, root }),
        );
    }

    fn set_import_source(&mut self, p: PathBuf) {
        let folder = if p.is_file() {
            p.parent().map(Path::to_path_buf).unwrap_or(p.clone())
        } else {
            p.clone()
        };
        if self.import_name.trim().is_empty() {
            if let Some(n) = folder.file_name() {
                self.import_name = n.to_string_lossy().into_owned();
            }
        }
        self.import_path = p.display().to_string();
        self.import_result = None;
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
            && !self.jobs.values().any(|p| *p == Pending::List)
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

    fn import_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.heading("Import weights");
        ui.label(
            "A Hugging Face checkpoint folder (config.json + safetensors: GPT-2/distilgpt2, BERT/MiniLM, \
             CLIP) or a SAM checkpoint. Every tensor's name and shape is checked by building the model \
             before anything is copied into your models folder (<data>/models/NAME/, never the shipped models/) and recorded in its LOCAL.toml. \
             You can also drop a folder or file on this tab.",
        );
        let hovering = ui.ctx().input(|i| !i.raw.hovered_files.is_empty());
        if hovering {
            ui.colored_label(theme::AMBER, "drop to import this folder or file");
        }
        ui.horizontal(|ui| {
            let from = ui.label("From:");
            ui.add(
                egui::TextEdit::singleline(&mut self.import_path)
                    .desired_width(380.0)
                    .hint_text("checkpoint folder or file"),
            )
            .labelled_by(from.id);
            let picking = self.picker.is_some();
            if ui
                .add_enabled(!picking, egui::Button::new("Folder…"))
                .clicked()
            {
                self.pick(false, ui.ctx());
            }
            if ui
                .add_enabled(!picking, egui::Button::new("File…"))
                .clicked()
            {
                self.pick(true, ui.ctx());
            }
        });
        ui.horizontal(|ui| {
            let name = ui.label("Install as:");
            ui.add(
                egui::TextEdit::singleline(&mut self.import_name)
                    .desired_width(200.0)
                    .hint_text("e.g. clip-vit-base-patch16"),
            )
            .labelled_by(name.id);
            let into = artemo_engine::user_models_dir()
                .map(|d| artemo_engine::shown_path(&d.join("NAME")))
                .unwrap_or_else(|| "<data>/models/NAME".into());
            ui.label(RichText::new(format!("(into {into}/)")).weak());
            let busy = self.jobs.values().any(|p| *p == Pending::Import);
            let ready = !self.import_path.trim().is_empty() && !self.import_name.trim().is_empty();
            if ui
                .add_enabled(ready && !busy, egui::Button::new("Validate and import"))
                .clicked()
            {
                self.start_import(shared);
            }
            if busy {
                ui.spinner();
            }
        });
        ui.label(
            RichText::new(
                "Names the features look for: sevlm, emosem, pacl, clip-vit-base-patch16 (see the table above).",
            )
            .small()
            .weak(),
        );
        if let Some(m) = &self.import_progress {
            ui.label(m);
        }
        match &self.import_result {
            Some(Ok(m)) => {
                ui.colored_label(theme::VERIFIED, m);
            }
            Some(Err(m)) => {
                ui.colored_label(theme::ERROR, format!("import refused: {m}"));
            }
            None => {}
        }
    }

    fn pick(&mut self, file: bool, ctx: &egui::Context) {
        let start = self.models.clone();
        // The dialog blocks its thread (xdg portal); the UI polls the answer, and a dialog
        // that cannot open is said (`dialog::Picked::Unavailable`).
        self.picker = Some(crate::gui::dialog::spawn(ctx, (), move || {
            let mut d = rfd::FileDialog::new().set_title(if file {
                "Choose a checkpoint file"
            } else {
                "Choose a checkpoint folder"
            });
            if let Some(s) = start {
                d = d.set_directory(s);
            }
            if file {
                d.pick_file()
            } else {
                d.pick_folder()
            }
        }));
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
                    crate::gui::widgets::markdown::show(ui, &mut self.markdown, text);
                }
            });
        self.show_card = open;
    }
}

/// Where each feature looks for its weights: a table sortable by feature, folders or
/// state; a feature's name opens its tab.
fn features_table(ui: &mut egui::Ui, listing: &ModelListing, shared: &mut Shared) {
    let fs = &listing.features;
    let found = |f: &FeatureWeights| {
        f.found.as_ref().map(|p| {
            p.strip_prefix(&listing.root)
                .unwrap_or(p)
                .display()
                .to_string()
        })
    };
    let lines = fs
        .iter()
        .map(|f| f.looks_in.len())
        .max()
        .unwrap_or(1)
        .max(1);
    sortable_table(
        ui,
        "features",
        &[
            Col::new("feature", 280.0),
            Col::new("looks in (in order)", 260.0),
            Col::rest("uses"),
        ],
        fs.len(),
        16.0 * lines as f32 + 4.0,
        |r, c| match c {
            0 => Key::text(fs[r].what),
            1 => Key::text(fs[r].looks_in.join(" ")),
            _ => found(&fs[r]).map_or(Key::Empty, Key::text),
        },
        |ui, r, c| {
            let f = &fs[r];
            match c {
                0 => match f.tab.map(|t| match t {
                    FeatureTab::Painting => Tab::Painting,
                    FeatureTab::Map => Tab::Map,
                }) {
                    Some(t) => {
                        if ui
                            .link(f.what)
                            .on_hover_text(format!("open the {} tab", t.label()))
                            .clicked()
                        {
                            shared.actions.push(Action::Goto(t));
                        }
                    }
                    None => {
                        ui.label(f.what);
                    }
                },
                1 => {
                    ui.vertical(|ui| {
                        ui.spacing_mut().item_spacing.y = 0.0;
                        for d in &f.looks_in {
                            ui.label(RichText::new(d).monospace().small());
                        }
                    });
                }
                _ => match found(f) {
                    Some(rel) => {
                        ui.colored_label(theme::VERIFIED, format!("found: {rel}"));
                    }
                    None => {
                        ui.colored_label(theme::ERROR, "not installed");
                    }
                },
            }
        },
    );
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

/// The kind of model: the description's first clause (after a "Demo kit:" prefix).
fn kind(e: &ModelEntry) -> String {
    let mut d = e.description.trim();
    if let Some(rest) = d.strip_prefix("Demo kit:") {
        d = rest.trim();
    }
    let cut = d.find([':', '(', ';']).unwrap_or(d.len());
    let k = d[..cut].trim();
    if k.is_empty() {
        d.to_string()
    } else {
        k.to_string()
    }
}

/// The tab a manifest "enables" item is used in, if any.
fn feature_tab(what: &str) -> Option<Tab> {
    let w = what.to_lowercase();
    if w.contains("map") || w.contains("zero-shot") || w.contains("search") || w.contains("pacl") {
        Some(Tab::Map)
    } else if w.contains("sevlm") || w.contains("emosem") || w.contains("image features") {
        Some(Tab::Painting)
    } else {
        None
    }
}

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / 1024f64.powi(3))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024f64.powi(2))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b} B")
    }
}

impl Panel for ModelsPanel {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Models)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.draw(ui, &mut state.lend());
    }

    fn owns(&self, job: JobId) -> bool {
        self.jobs.contains_key(&job)
    }

    fn on_event(
        &mut self,
        ctx: &egui::Context,
        job: JobId,
        kind: EventKind,
        actions: &mut Vec<Action>,
    ) {
        let Some(p) = self.jobs.get(&job).cloned() else {
            return;
        };
        let end = matches!(
            kind,
            EventKind::Done(_) | EventKind::Failed(_) | EventKind::Cancelled
        );
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
            _ => {}
        }
        if end {
            self.jobs.remove(&job);
        }
        ctx.request_repaint();
    }
}
