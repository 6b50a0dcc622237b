//! The eframe app: each frame polls the engine (one loop routes every event to the panel
//! that owns its job, else to the app's own jobs), draws the chrome and the selected tab
//! (with the selected painting's side panel where the tab has one), then applies what the
//! panels asked for, broadcasting app-wide changes to every panel.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use artemo_engine::worker::{Engine, EngineConfig, EventKind};

use super::panels::collection::viewer;
use super::panels::{train, Panels};
use super::state::{Action, AppState, Settings, Tab};

/// The application: its state and its panels.
pub struct ArtemoApp {
    state: AppState,
    panels: Panels,
}

impl ArtemoApp {
    /// Creates the app and starts opening `path` (or the shipped collection).
    pub fn new(
        ctx: &egui::Context,
        storage: Option<&dyn eframe::Storage>,
        path: Option<PathBuf>,
        mut cfg: EngineConfig,
    ) -> Result<Self> {
        let repaint = ctx.clone();
        cfg.wake = Arc::new(move || repaint.request_repaint());
        let engine = Engine::start(cfg)?;
        let settings: Settings = storage
            .and_then(|s| eframe::get_value(s, "artemo.settings"))
            .unwrap_or_default();
        ctx.set_visuals(if settings.dark {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        });
        let mut app = ArtemoApp {
            state: AppState::new(engine, settings),
            panels: Panels::new(),
        };
        for p in app.panels.iter_mut() {
            p.restore(&app.state.settings);
        }
        let state = &mut app.state;
        if let Some(note) = state.engine.device_note() {
            state.notice(note.to_string(), false);
        }
        match path.or_else(artemo_engine::default_collection) {
            Some(p) => state.open(p),
            None => state.notice("The shipped paintings were not found (set ARTEMO_ASSETS to the assets/ folder); open a folder instead.", true),
        }
        Ok(app)
    }

    /// Routes the engine's events: to the panel owning the job, else to the app's own.
    fn poll(&mut self, ctx: &egui::Context) {
        while let Some(ev) = self.state.engine.try_event() {
            match &ev.kind {
                EventKind::Started { .. } => {
                    self.state.running.insert(ev.job);
                }
                EventKind::Done(_) | EventKind::Failed(_) | EventKind::Cancelled => {
                    self.state.running.remove(&ev.job);
                }
                _ => {}
            }
            match self.panels.iter_mut().find(|p| p.owns(ev.job)) {
                Some(p) => p.on_event(ctx, ev.job, ev.kind, &mut self.state.actions),
                None => self.state.on_event(ctx, ev),
            }
            self.apply();
        }
    }

    /// Applies the actions panels and bars asked for.
    fn apply(&mut self) {
        let state = &mut self.state;
        for a in std::mem::take(&mut state.actions) {
            match a {
                Action::Select(i) => {
                    state.selected = Some(i);
                    state.scroll_to_selected = true;
                }
                Action::OpenPainting(i) => {
                    state.selected = Some(i);
                    state.settings.tab = Tab::Painting;
                }
                Action::ShowOnly(v) => {
                    state.only = (!v.is_empty()).then_some(v);
                    state.settings.tab = Tab::Collection;
                }
                Action::Goto(t) => state.settings.tab = t,
                Action::OpenCollection(p) => state.open(p),
                Action::WantThumb(i) => state.request_thumb(i),
                Action::UseCheckpoint { masks, dir } => {
                    for p in self.panels.iter_mut() {
                        p.on_checkpoint(masks, &dir);
                    }
                    state.notice(
                        format!(
                            "{} now uses {} {}",
                            if masks {
                                "The Painting and Review tabs"
                            } else {
                                "The Painting tab"
                            },
                            if masks { "EmoSEM" } else { "SEVLM" },
                            artemo_engine::shown_path(&dir)
                        ),
                        false,
                    );
                }
                Action::ModelsChanged => {
                    // New weights: the engine loads them afresh on the next request.
                    state.engine.forget_models();
                    for p in self.panels.iter_mut() {
                        p.on_models_changed();
                    }
                }
                Action::ClearSelection => {
                    state.only = None;
                    for p in self.panels.iter_mut() {
                        p.on_selection_cleared();
                    }
                }
                Action::Notice { text, error } => state.notice(text, error),
            }
        }
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        let state = &mut self.state;
        // On the Models tab a dropped folder is offered for import instead.
        if state.settings.tab != Tab::Models {
            state.dropped(&ctx);
        }
        state.keyboard(&ctx);
        state.ensure_view();
        egui::Panel::top("top").show(ui, |ui| {
            state.top_bar(ui);
            state.tab_bar(ui);
            state.notices.ui(ui);
        });
        egui::Panel::bottom("status").show(ui, |ui| state.status_bar(ui));
        self.apply();
        let state = &mut self.state;
        if let Some(c) = &state.collection {
            state.browse.refresh(state.generation, c, &state.responses);
        }
        let tab = state.settings.tab;
        let side = self
            .panels
            .iter_mut()
            .find(|p| p.tab() == Some(tab))
            .and_then(|p| p.side_panel());
        if let Some(side) = side {
            let (state, panels) = (&mut self.state, &mut self.panels);
            egui::Panel::right("viewer")
                .resizable(true)
                .default_size(side.width)
                .size_range(320.0..=1200.0)
                .show(ui, |ui| {
                    viewer::viewer(ui, state, panels, tab, side.with_image)
                });
            self.apply();
        }
        let (state, panels) = (&mut self.state, &mut self.panels);
        if let Some(panel) = panels.iter_mut().find(|p| p.tab() == Some(tab)) {
            egui::CentralPanel::default_margins().show(ui, |ui| panel.ui(ui, state));
        }
        self.apply();
        if self.state.show_shortcuts {
            self.state.shortcuts_window(&ctx);
        }
        if self.state.show_problems {
            let problems: Vec<String> = self
                .state
                .collection
                .as_ref()
                .map(|c| {
                    c.problems
                        .iter()
                        .map(|p| format!("{}: {}", p.path.display(), p.message))
                        .collect()
                })
                .unwrap_or_default();
            egui::Window::new("Problems")
                .open(&mut self.state.show_problems)
                .show(&ctx, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        for p in problems {
                            ui.label(p);
                        }
                    });
                });
        }
    }
}

impl eframe::App for ArtemoApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        for p in self.panels.iter_mut() {
            p.save(&mut self.state.settings);
        }
        eframe::set_value(storage, "artemo.settings", &self.state.settings);
    }
}

impl ArtemoApp {
    /// True once the collection is open and no engine job of the app is pending (thumbnail
    /// and viewer decodes included): what snapshot tests wait for.
    pub fn settled(&self) -> bool {
        let s = &self.state;
        s.collection.is_some() && s.pending.is_empty() && s.running.is_empty()
    }

    /// Loads an ArtEmis-format CSV of responses for the open collection (what the browse
    /// bar's Responses… button does after its dialog).
    pub fn load_responses_csv(&mut self, path: PathBuf) {
        self.state.load_responses(path);
    }

    /// Shows or hides the frame time in the status bar (snapshot tests hide it: it varies).
    pub fn show_frame_time(&mut self, on: bool) {
        self.state.show_frame_time = on;
    }

    /// The selected painting's index in the open collection.
    pub fn selected(&self) -> Option<usize> {
        self.state.selected
    }

    /// Thumbnails per row of the grid, as last drawn.
    pub fn grid_columns(&self) -> usize {
        self.state.grid_cols
    }

    /// Restricts the grid to these paintings, as a box selection on the map does.
    pub fn show_only(&mut self, paintings: Vec<usize>) {
        self.state.actions.push(Action::ShowOnly(paintings));
        self.apply();
    }

    /// Switches to a tab.
    pub fn set_tab(&mut self, tab: Tab) {
        self.state.settings.tab = tab;
    }

    /// The current tab.
    pub fn tab(&self) -> Tab {
        self.state.settings.tab
    }

    /// Uses a trained checkpoint folder as the Train tab's "Use in Painting tab" does
    /// (`masks`: EmoSEM, in the Painting and Review tabs; else SEVLM).
    pub fn use_checkpoint(&mut self, masks: bool, dir: PathBuf) {
        self.state
            .actions
            .push(Action::UseCheckpoint { masks, dir });
        self.apply();
    }

    /// The EmoSEM weights folder the Painting tab uses, if any.
    pub fn mask_weights(&self) -> Option<&Path> {
        self.panels.painting.weights_dir()
    }

    /// The Train tab's panel (the UI tests set up a tiny run through it).
    pub fn train_panel(&mut self) -> &mut train::TrainPanel {
        &mut self.panels.train
    }

    /// The state (`artemo bench collection` drives the window headless through it).
    pub(crate) fn state_mut(&mut self) -> &mut AppState {
        &mut self.state
    }

    /// Draws one frame (what `eframe::App::ui` does; the snapshot tests call it directly).
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let started = std::time::Instant::now();
        self.draw(ui);
        let busy = !self.state.running.is_empty();
        self.state.frames.record(started.elapsed(), busy);
    }
}

/// Opens the window.
/// Opens the window.
pub fn run(path: Option<PathBuf>, cfg: &EngineConfig) -> Result<ExitCode> {
    if let Some(p) = &path {
        if !Path::new(p).exists() {
            return Err(anyhow!("{}: no such file or folder", p.display()));
        }
    }
    let cfg = cfg.clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Artemo")
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Artemo",
        options,
        Box::new(move |cc| {
            Ok(
                Box::new(ArtemoApp::new(&cc.egui_ctx, cc.storage, path, cfg)?)
                    as Box<dyn eframe::App>,
            )
        }),
    )
    .map_err(|e| anyhow!("the window could not be opened: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
