//! The desktop window: a thumbnail grid of the open collection and a viewer for the
//! selected painting. All decoding runs on the engine's io lane; the UI only uploads
//! finished pixels as textures.

mod browse;
mod credit;
pub mod dialog;
mod explain;
mod frames;
mod legend;
mod map;
mod markdown;
mod masks;
mod models_panel;
mod nav;
mod panel;
mod review;
mod table;
mod textures;
pub mod train_masks;
pub mod train_panel;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use artemo_engine::collection::{Collection, Painting};
use artemo_engine::worker::{
    Command, Engine, EngineConfig, EventKind, JobId, JobOutput, LoadedImage,
};
use egui::{Color32, RichText, TextureHandle, TextureOptions};

pub use panel::Tab;
use panel::{Action, Component, Shared};
use textures::LruCache;

/// Longest side of a thumbnail, in pixels.
const THUMB_SIDE: u32 = 256;
/// Longest side of the viewer image (the original file stays untouched on disk).
const VIEW_SIDE: u32 = 2048;
/// Thumbnails kept as textures at once.
const THUMB_CACHE: usize = 600;

/// Settings kept between runs.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Settings {
    dark: bool,
    thumb_size: f32,
    recent: Vec<PathBuf>,
    tab: Tab,
    /// The Painting tab's mask mode, style, opacity, toggles and colours.
    masks: masks::MaskSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dark: true,
            thumb_size: 140.0,
            recent: Vec::new(),
            tab: Tab::Collection,
            masks: masks::MaskSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Thumb(usize),
    View(usize),
    Open,
    /// Responses being loaded, with the source they will be shown under (several loads
    /// may be in flight; each answers for its own source).
    Annotations(String),
}

/// A banner under the tabs.
struct Notice {
    text: String,
    error: bool,
    /// How many times it was raised (identical notices merge).
    count: usize,
    /// When it was first drawn (the window's clock), for expiry.
    shown_at: Option<f64>,
}

/// Information banners go after this many seconds; errors stay until dismissed.
const INFO_SECS: f64 = 10.0;
/// Banners shown at once (newest first); older ones are counted.
const NOTICES_SHOWN: usize = 2;
/// Banners kept at all.
const NOTICES_KEPT: usize = 20;

struct ViewImage {
    index: usize,
    texture: TextureHandle,
    original: (u32, u32),
    /// The decoder's doubts (a truncated file), shown under the picture.
    warnings: Vec<String>,
}

/// The panels' view of the app (disjoint borrows of its fields).
macro_rules! shared {
    ($s:ident) => {
        Shared {
            engine: &$s.engine,
            collection: $s.collection.as_ref(),
            selected: $s.selected,
            thumbs: &mut $s.thumbs,
            responses: &$s.responses,
            view: $s
                .view
                .as_ref()
                .filter(|v| Some(v.index) == $s.selected)
                .map(|v| (&v.texture, v.original)),
            actions: Vec::new(),
        }
    };
}

/// The application state.
pub struct ArtemoApp {
    engine: Engine,
    settings: Settings,
    collection: Option<Collection>,
    pending: HashMap<JobId, Pending>,
    requested: HashSet<usize>,
    failed: HashMap<usize, String>,
    thumbs: LruCache<usize, TextureHandle>,
    selected: Option<usize>,
    view: Option<ViewImage>,
    filter: String,
    path_input: String,
    /// The system folder dialog's answer, while it is open (it runs on its own thread).
    open_dialog: Option<std::sync::mpsc::Receiver<((), dialog::Picked)>>,
    /// Focus the collection path field next frame (no folder dialog could open).
    focus_path: bool,
    notices: Vec<Notice>,
    progress: Option<(f32, String)>,
    show_problems: bool,
    scroll_to_selected: bool,
    /// Human responses per painting id (Artemo's own annotations for the shipped
    /// collection), with where they came from.
    responses: HashMap<String, Vec<artemo_engine::annotations::Annotation>>,
    responses_source: Option<String>,
    /// Where the responses being loaded come from (shown once they arrive).
    responses_loading: Option<String>,
    /// Bumped whenever the collection or its responses change (the browse facets follow).
    generation: u64,
    browse: browse::Browse,
    explain: explain::Explain,
    masks: masks::Masks,
    review: review::Review,
    map: map::Map,
    train: train_panel::TrainPanel,
    models: models_panel::ModelsPanel,
    /// Restricts the grid to these paintings (a selection made on the map).
    only: Option<Vec<usize>>,
    show_shortcuts: bool,
    /// Engine jobs started and not yet ended (for the frame-time statistics).
    running: HashSet<JobId>,
    frames: frames::FrameStats,
    show_frame_time: bool,
    /// Thumbnails per row of the grid as last drawn (Up/Down move by a row).
    grid_cols: usize,
    /// The open collection is the shipped one, whose descriptions are the Art Institute
    /// of Chicago's (CC BY 4.0, credited under each).
    aic_descriptions: bool,
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
            engine,
            settings,
            collection: None,
            pending: HashMap::new(),
            requested: HashSet::new(),
            failed: HashMap::new(),
            thumbs: LruCache::new(THUMB_CACHE),
            selected: None,
            view: None,
            filter: String::new(),
            path_input: String::new(),
            open_dialog: None,
            focus_path: false,
            notices: Vec::new(),
            progress: None,
            show_problems: false,
            scroll_to_selected: false,
            responses: HashMap::new(),
            responses_source: None,
            responses_loading: None,
            generation: 0,
            browse: browse::Browse::new(),
            explain: explain::Explain::new(),
            masks: masks::Masks::new(),
            review: review::Review::new(),
            map: map::Map::new(),
            train: train_panel::TrainPanel::new(),
            models: models_panel::ModelsPanel::new(),
            only: None,
            show_shortcuts: false,
            running: HashSet::new(),
            frames: frames::FrameStats::new(),
            show_frame_time: true,
            grid_cols: 1,
            aic_descriptions: false,
        };
        app.masks.apply_settings(&app.settings.masks);
        if let Some(note) = app.engine.device_note() {
            app.notice(note.to_string(), false);
        }
        match path.or_else(artemo_engine::default_collection) {
            Some(p) => app.open(p),
            None => app.notice("The shipped paintings were not found (set ARTEMO_ASSETS to the assets/ folder); open a folder instead.", true),
        }
        Ok(app)
    }

    /// Raises a banner (merged with an identical one, which moves to the top).
    fn notice(&mut self, text: impl Into<String>, error: bool) {
        let text = text.into();
        if error {
            tracing::warn!("notice: {text}");
        } else {
            tracing::info!("notice: {text}");
        }
        let count = match self.notices.iter().position(|n| n.text == text) {
            Some(i) => self.notices.remove(i).count + 1,
            None => 1,
        };
        self.notices.push(Notice {
            text,
            error,
            count,
            shown_at: None,
        });
        if self.notices.len() > NOTICES_KEPT {
            self.notices.remove(0);
        }
    }

    fn open(&mut self, path: PathBuf) {
        self.path_input = artemo_engine::shown_path(&path);
        match self.engine.submit(Command::OpenCollection { path }) {
            Ok(id) => {
                self.pending.insert(id, Pending::Open);
            }
            Err(e) => self.notice(e.to_string(), true),
        }
    }

    /// Loads an ArtEmis-format CSV of responses for the open collection (replacing the
    /// responses shown so far once it has been read).
    fn load_responses(&mut self, path: PathBuf) {
        match self
            .engine
            .submit(Command::LoadAnnotations { path: path.clone() })
        {
            Ok(id) => {
                let source = artemo_engine::shown_path(&path);
                self.responses_loading = Some(source.clone());
                self.pending.insert(id, Pending::Annotations(source));
            }
            Err(e) => self.notice(format!("{}: {e}", path.display()), true),
        }
    }

    fn take_responses(
        &mut self,
        source: String,
        rows: Vec<artemo_engine::annotations::Annotation>,
    ) {
        // Repeated rows would count twice in the histograms: said, never silently taken.
        let dups = artemo_engine::annotations::artemis::duplicate_rows(&rows);
        if let Some(w) = artemo_engine::annotations::artemis::describe_duplicates(
            std::path::Path::new(&source),
            &dups,
        ) {
            self.notice(w, false);
        }
        let ids: HashSet<&str> = self
            .collection
            .iter()
            .flat_map(|c| c.paintings.iter().map(|p| p.id.as_str()))
            .collect();
        let mut by: HashMap<String, Vec<_>> = HashMap::new();
        let total = rows.len();
        for r in rows {
            if ids.contains(r.painting.as_str()) {
                by.entry(r.painting.clone()).or_default().push(r);
            }
        }
        if by.is_empty() {
            self.notice(format!(
                    "{source}: none of its {total} responses names a painting of this collection                      (the `painting` column must be the image's file name without extension)"
                ), true);
            return;
        }
        let matched: usize = by.values().map(Vec::len).sum();
        if matched < total {
            self.notice(format!(
                    "{source}: {matched} of {total} responses matched {} paintings; the rest name                      paintings not in this collection",
                    by.len()
                ), false);
        }
        self.responses = by;
        self.responses_source = Some(source);
        self.generation += 1;
    }

    fn set_collection(&mut self, c: Collection) {
        for id in self.pending.keys().copied().collect::<Vec<_>>() {
            self.engine.cancel(id);
        }
        self.pending.clear();
        self.requested.clear();
        self.failed.clear();
        // Problems of the collection shown before are no longer the user's concern.
        self.notices.retain(|n| !n.error);
        self.thumbs.clear();
        self.view = None;
        self.selected = (!c.paintings.is_empty()).then_some(0);
        self.only = None;
        if !c.problems.is_empty() {
            self.notice(
                format!(
                    "{}: {} file(s) missing or unreadable (see Problems)",
                    c.name,
                    c.problems.len()
                ),
                true,
            );
        }
        self.responses.clear();
        self.responses_source = None;
        self.aic_descriptions = false;
        self.generation += 1;
        // The shipped collection comes with Artemo's own annotations.
        if let Some(a) = artemo_engine::find_assets() {
            let csv = a.join("annotations/artemo-aic.csv");
            let shipped = a.join("paintings/aic/paintings.csv");
            self.aic_descriptions = c
                .source
                .canonicalize()
                .ok()
                .zip(shipped.canonicalize().ok())
                .is_some_and(|(x, y)| x == y);
            if csv.is_file() && self.aic_descriptions {
                if let Ok(id) = self.engine.submit(Command::LoadAnnotations { path: csv }) {
                    let source =
                        "Artemo's own annotations (project-authored; not ArtEmis)".to_string();
                    self.responses_loading = Some(source.clone());
                    self.pending.insert(id, Pending::Annotations(source));
                }
            }
        }
        self.settings.recent.retain(|p| p != &c.source);
        self.settings.recent.insert(0, c.source.clone());
        self.settings.recent.truncate(8);
        self.collection = Some(c);
    }

    fn poll(&mut self, ctx: &egui::Context) {
        while let Some(ev) = self.engine.try_event() {
            match &ev.kind {
                EventKind::Started { .. } => {
                    self.running.insert(ev.job);
                }
                EventKind::Done(_) | EventKind::Failed(_) | EventKind::Cancelled => {
                    self.running.remove(&ev.job);
                }
                _ => {}
            }
            if self.explain.owns(ev.job) {
                match ev.kind {
                    EventKind::Partial(out) => self.explain.on_partial(ev.job, out),
                    EventKind::Done(_) => self.explain.on_end(ev.job, None),
                    EventKind::Failed(msg) => self.explain.on_end(ev.job, Some(msg)),
                    EventKind::Cancelled => self.explain.on_end(ev.job, Some("cancelled".into())),
                    _ => {}
                }
                continue;
            }
            let mut actions = Vec::new();
            let comps: [&mut dyn Component; 5] = [
                &mut self.masks,
                &mut self.review,
                &mut self.map,
                &mut self.train,
                &mut self.models,
            ];
            let mut ev = Some(ev);
            for c in comps {
                if let Some(e) = ev.take_if(|e| c.owns(e.job)) {
                    c.on_event(ctx, e.job, e.kind, &mut actions);
                }
            }
            let Some(ev) = ev else {
                self.apply(actions);
                continue;
            };
            let Some(kind) = self.pending.get(&ev.job).cloned() else {
                continue;
            };
            match ev.kind {
                EventKind::Started { .. } | EventKind::Partial(_) => {}
                EventKind::Progress {
                    fraction, message, ..
                } => {
                    if kind == Pending::Open {
                        self.progress = Some((fraction, message));
                    }
                }
                EventKind::Done(out) => {
                    self.pending.remove(&ev.job);
                    match (kind, out) {
                        (Pending::Open, JobOutput::Collection(c)) => {
                            self.progress = None;
                            self.set_collection(*c);
                        }
                        (Pending::Thumb(i), JobOutput::Image(img)) => {
                            let tex =
                                upload(ctx, &format!("thumb-{i}"), &img, TextureOptions::LINEAR);
                            self.thumbs.insert(i, tex);
                            self.requested.remove(&i);
                        }
                        (Pending::Annotations(source), JobOutput::Annotations(rows)) => {
                            if self.responses_loading.as_ref() == Some(&source) {
                                self.responses_loading = None;
                            }
                            self.take_responses(source, rows);
                        }
                        (Pending::View(i), JobOutput::Image(img)) => {
                            // Nearest when magnified: deep zoom shows the pixels.
                            let tex = upload(ctx, &format!("view-{i}"), &img, masks::PIXEL_TEXTURE);
                            for w in &img.warnings {
                                tracing::warn!("{}: {w}", img.path.display());
                            }
                            self.view = Some(ViewImage {
                                index: i,
                                texture: tex,
                                original: (img.original_width, img.original_height),
                                warnings: img.warnings,
                            });
                        }
                        _ => {}
                    }
                }
                EventKind::Failed(msg) => {
                    self.pending.remove(&ev.job);
                    // A bad file fails its thumbnail and its viewer decode alike: said once.
                    let new = match kind {
                        Pending::Thumb(i) | Pending::View(i) => {
                            self.requested.remove(&i);
                            self.failed.insert(i, msg.clone()).as_ref() != Some(&msg)
                        }
                        Pending::Open => {
                            self.progress = None;
                            true
                        }
                        Pending::Annotations(source) => {
                            // Only this load's "loading" label goes; a failed file never
                            // becomes the responses' source.
                            if self.responses_loading.as_ref() == Some(&source) {
                                self.responses_loading = None;
                            }
                            true
                        }
                    };
                    if new {
                        self.notice(msg, true);
                    }
                }
                EventKind::Cancelled => {
                    self.pending.remove(&ev.job);
                    if let Pending::Thumb(i) = kind {
                        self.requested.remove(&i);
                    }
                }
            }
        }
    }

    fn request_thumb(&mut self, i: usize) {
        if self.thumbs.contains(&i) || self.requested.contains(&i) || self.failed.contains_key(&i) {
            return;
        }
        let Some(p) = self.collection.as_ref().and_then(|c| c.paintings.get(i)) else {
            return;
        };
        if let Ok(id) = self.engine.submit(Command::LoadImage {
            path: p.path.clone(),
            max_side: THUMB_SIDE,
        }) {
            self.pending.insert(id, Pending::Thumb(i));
            self.requested.insert(i);
        }
    }

    fn ensure_view(&mut self) {
        let Some(i) = self.selected else { return };
        if self.view.as_ref().is_some_and(|v| v.index == i)
            || self.pending.values().any(|p| *p == Pending::View(i))
        {
            return;
        }
        // Drop stale viewer loads.
        let stale: Vec<JobId> = self
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, Pending::View(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.engine.cancel(id);
        }
        let Some(p) = self.collection.as_ref().and_then(|c| c.paintings.get(i)) else {
            return;
        };
        if self.failed.contains_key(&i) {
            return;
        }
        if let Ok(id) = self.engine.submit(Command::LoadImage {
            path: p.path.clone(),
            max_side: VIEW_SIDE,
        }) {
            self.pending.insert(id, Pending::View(i));
        }
    }

    fn visible(&self) -> Vec<usize> {
        let Some(c) = &self.collection else {
            return Vec::new();
        };
        let f = self.filter.trim().to_lowercase();
        let mut v: Vec<usize> = c
            .paintings
            .iter()
            .enumerate()
            .filter(|(i, _)| self.only.as_ref().is_none_or(|o| o.contains(i)))
            .filter(|(_, p)| f.is_empty() || matches_filter(p, &f))
            .filter(|(i, p)| self.browse.keep(*i, p))
            .map(|(i, _)| i)
            .collect();
        self.browse.sort(&mut v, c);
        v
    }

    fn browse_bar(&mut self, ui: &mut egui::Ui) {
        let Some(c) = &self.collection else { return };
        let total = c.paintings.len();
        let shown = self.visible().len();
        let source = self.responses_source.clone();
        let map_selection = self.only.is_some();
        match self
            .browse
            .ui(ui, shown, total, source.as_deref(), map_selection)
        {
            Some(browse::BrowseAction::LoadResponses(p)) => self.load_responses(p),
            Some(browse::BrowseAction::Notice(text)) => self.notice(text, true),
            Some(browse::BrowseAction::Cleared) => {
                self.only = None;
                self.map.clear_selection();
            }
            None => {}
        }
        // A painting the filters hide gives way to the first one shown.
        let visible = self.visible();
        if let Some(&first) = visible.first() {
            if self.selected.is_none_or(|s| !visible.contains(&s)) {
                self.selected = Some(first);
                self.scroll_to_selected = true;
            }
        }
        ui.separator();
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.heading("Artemo");
            ui.separator();
            ui.label("Collection:");
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.path_input)
                    .desired_width(320.0)
                    .hint_text("folder, paintings.csv or WikiArt root"),
            );
            if std::mem::take(&mut self.focus_path) {
                edit.request_focus();
            }
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Open").clicked() || enter {
                let p = artemo_engine::resolve_shown(&self.path_input);
                self.open(p);
            }
            if let Some(rx) = &self.open_dialog {
                if let Ok(((), picked)) = rx.try_recv() {
                    self.open_dialog = None;
                    match picked {
                        dialog::Picked::Path(p) => self.open(p),
                        dialog::Picked::Cancelled => {}
                        dialog::Picked::Unavailable => {
                            self.notice(
                                format!(
                                    "{} type the folder's path in the Collection field and press Open.",
                                    dialog::UNAVAILABLE
                                ),
                                true,
                            );
                            self.focus_path = true;
                        }
                    }
                }
            }
            if ui
                .add_enabled(self.open_dialog.is_none(), egui::Button::new("Folder…"))
                .on_hover_text("Choose a folder of paintings or a WikiArt root")
                .clicked()
            {
                // The system dialog blocks its thread (xdg portal); the window keeps drawing.
                self.open_dialog = Some(dialog::spawn(ui.ctx(), (), || {
                    rfd::FileDialog::new()
                        .set_title("Open a folder of paintings")
                        .pick_folder()
                }));
            }
            let recent = self.settings.recent.clone();
            ui.menu_button("Recent", |ui| {
                if recent.is_empty() {
                    ui.label("nothing yet");
                }
                for p in recent {
                    if ui.button(artemo_engine::shown_path(&p)).clicked() {
                        self.open(p);
                        ui.close();
                    }
                }
            });
            ui.separator();
            ui.label("Filter:");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .desired_width(180.0)
                    .hint_text("title, artist, date, style"),
            );
            ui.separator();
            ui.add(
                egui::Slider::new(&mut self.settings.thumb_size, 80.0..=260.0)
                    .text("size")
                    .show_value(false),
            );
            let label = if self.settings.dark { "Light" } else { "Dark" };
            if ui.button(label).clicked() {
                self.settings.dark = !self.settings.dark;
                ui.ctx().set_visuals(if self.settings.dark {
                    egui::Visuals::dark()
                } else {
                    egui::Visuals::light()
                });
            }
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            match &self.collection {
                Some(c) => {
                    ui.label(format!(
                        "{} · {} paintings ({} shown)",
                        c.name,
                        c.paintings.len(),
                        self.visible().len()
                    ));
                    if !c.problems.is_empty()
                        && ui.link(format!("{} problems", c.problems.len())).clicked()
                    {
                        self.show_problems = true;
                    }
                    if let Some(o) = &self.only {
                        ui.separator();
                        ui.label(format!("selection of {} from the map", o.len()));
                        if ui.small_button("show all").clicked() {
                            self.only = None;
                            self.map.clear_selection();
                        }
                    }
                }
                None => {
                    ui.label("no collection open");
                }
            }
            ui.separator();
            ui.label(format!(
                "engine: {}, {} thread(s)",
                self.engine.device_name(),
                self.engine.threads()
            ));
            if let Some(f) = self.frames.summary(false).filter(|_| self.show_frame_time) {
                ui.separator();
                let busy = self.frames.summary(true);
                ui.label(RichText::new(format!("frame {:.1} ms", f.p95_ms)).small().weak())
                    .on_hover_text(format!(
                        "UI time per frame over the last {} frames: median {:.2} ms, 95th percentile {:.2} ms, worst {:.2} ms{}",
                        f.frames,
                        f.p50_ms,
                        f.p95_ms,
                        f.max_ms,
                        busy.map(|b| format!("\nwhile an engine job runs ({} frames): median {:.2} ms, 95th percentile {:.2} ms, worst {:.2} ms", b.frames, b.p50_ms, b.p95_ms, b.max_ms)).unwrap_or_default()
                    ));
            }
            let loading = self.requested.len();
            if loading > 0 {
                ui.separator();
                ui.spinner();
                ui.label(format!("decoding {loading} image(s)"));
            }
            if let Some((f, msg)) = &self.progress {
                ui.separator();
                ui.add(
                    egui::ProgressBar::new(*f)
                        .desired_width(120.0)
                        .text(msg.clone()),
                );
            }
        });
    }

    fn notices(&mut self, ui: &mut egui::Ui) {
        let now = ui.input(|i| i.time);
        // Information expires; errors wait for the user.
        self.notices
            .retain(|n| n.error || n.shown_at.is_none_or(|t| now - t < INFO_SECS));
        let mut dismiss = None;
        let n = self.notices.len();
        for (i, note) in self
            .notices
            .iter_mut()
            .enumerate()
            .rev()
            .take(NOTICES_SHOWN)
        {
            let shown_at = *note.shown_at.get_or_insert(now);
            if !note.error {
                let left = (INFO_SECS - (now - shown_at)).max(0.0);
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs_f64(left + 0.05));
            }
            ui.horizontal(|ui| {
                let color = if note.error {
                    Color32::from_rgb(0xCC, 0x66, 0x77)
                } else {
                    ui.visuals().text_color()
                };
                if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                    dismiss = Some(i);
                }
                ui.label(RichText::new(if note.error { "(!)" } else { "(i)" }).color(color));
                let text = if note.count > 1 {
                    format!("{} (×{})", note.text, note.count)
                } else {
                    note.text.clone()
                };
                ui.add(egui::Label::new(RichText::new(text).color(color)).truncate())
                    .on_hover_text(note.text.as_str());
            });
        }
        if n > NOTICES_SHOWN {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("{} older notice(s)", n - NOTICES_SHOWN))
                        .small()
                        .weak(),
                );
                if ui.small_button("clear all").clicked() {
                    self.notices.clear();
                }
            });
        }
        if let Some(i) = dismiss {
            self.notices.remove(i);
        }
    }

    fn grid(&mut self, ui: &mut egui::Ui, width: f32) {
        let visible = self.visible();
        if visible.is_empty() {
            ui.centered_and_justified(|ui| {
                ui.label(if self.collection.is_none() {
                    "Opening…"
                } else {
                    "No painting matches the filter."
                });
            });
            return;
        }
        let cell = self.settings.thumb_size;
        let spacing = 8.0;
        let width = width.min(ui.available_width());
        let cols = (((width + spacing) / (cell + spacing)).floor() as usize).max(1);
        self.grid_cols = cols;
        let rows = visible.len().div_ceil(cols);
        let row_h = cell + 22.0 + spacing;
        let mut clicked = None;
        let mut opened = None;
        let mut scroll = egui::ScrollArea::vertical().auto_shrink([false, false]);
        if self.scroll_to_selected {
            if let Some(pos) = self
                .selected
                .and_then(|s| visible.iter().position(|&i| i == s))
            {
                scroll =
                    scroll.vertical_scroll_offset(((pos / cols) as f32 * row_h - row_h).max(0.0));
            }
            self.scroll_to_selected = false;
        }
        scroll.show_rows(ui, row_h, rows, |ui, range| {
            for r in range {
                ui.horizontal(|ui| {
                    for c in 0..cols {
                        let Some(&i) = visible.get(r * cols + c) else {
                            break;
                        };
                        self.request_thumb(i);
                        match self.cell(ui, i, cell) {
                            (_, true) => opened = Some(i),
                            (true, false) => clicked = Some(i),
                            _ => {}
                        }
                        ui.add_space(spacing - ui.spacing().item_spacing.x);
                    }
                });
                ui.add_space(spacing);
            }
        });
        if let Some(i) = clicked {
            self.selected = Some(i);
        }
        if let Some(i) = opened {
            self.selected = Some(i);
            self.settings.tab = Tab::Painting;
        }
    }

    /// Draws one thumbnail cell; returns (clicked, double-clicked).
    fn cell(&mut self, ui: &mut egui::Ui, i: usize, size: f32) -> (bool, bool) {
        let selected = self.selected == Some(i);
        let title = self
            .collection
            .as_ref()
            .and_then(|c| c.paintings.get(i))
            .map(|p| p.display_title().to_string())
            .unwrap_or_default();
        // Sorted by ambiguity, the caption leads with the value the grid is ordered by.
        let ambiguity = self.browse.shown_ambiguity(i);
        let caption = match ambiguity {
            Some(a) => format!("{a:.2} · {title}"),
            None => title.clone(),
        };
        let (rect, resp) =
            ui.allocate_exact_size(egui::vec2(size, size + 22.0), egui::Sense::click());
        let img_rect = egui::Rect::from_min_size(rect.min, egui::vec2(size, size));
        let painter = ui.painter_at(rect);
        let bg = if selected {
            ui.visuals().selection.bg_fill
        } else {
            ui.visuals().faint_bg_color
        };
        painter.rect_filled(img_rect, 4.0, bg);
        if let Some(tex) = self.thumbs.get(&i) {
            let ts = tex.size_vec2();
            let scale = ((size - 8.0) / ts.x).min((size - 8.0) / ts.y);
            let r = egui::Rect::from_center_size(img_rect.center(), ts * scale);
            painter.image(
                tex.id(),
                r,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        } else if let Some(err) = self.failed.get(&i) {
            painter.text(
                img_rect.center(),
                egui::Align2::CENTER_CENTER,
                "unreadable",
                egui::FontId::proportional(12.0),
                Color32::from_rgb(0xCC, 0x66, 0x77),
            );
            let _ = err;
        } else {
            painter.text(
                img_rect.center(),
                egui::Align2::CENTER_CENTER,
                "…",
                egui::FontId::proportional(18.0),
                ui.visuals().weak_text_color(),
            );
        }
        let text_rect = egui::Rect::from_min_size(
            egui::pos2(rect.min.x, img_rect.max.y + 2.0),
            egui::vec2(size, 18.0),
        );
        let mut job = egui::text::LayoutJob::single_section(
            caption,
            egui::TextFormat::simple(egui::FontId::proportional(11.0), ui.visuals().text_color()),
        );
        job.wrap = egui::text::TextWrapping {
            max_width: size,
            max_rows: 1,
            break_anywhere: true,
            overflow_character: Some('…'),
        };
        let galley = ui.painter().layout_job(job);
        let clipped = ui.painter().with_clip_rect(text_rect);
        clipped.galley(text_rect.min, galley, ui.visuals().text_color());
        if selected {
            painter.rect_stroke(
                img_rect,
                4.0,
                egui::Stroke::new(2.0, ui.visuals().selection.stroke.color),
                egui::StrokeKind::Inside,
            );
        }
        let amb = ambiguity
            .map(|a| {
                format!("\nambiguity {a:.2} (entropy of the viewers' emotions: 0 all agree, 1 evenly split)")
            })
            .unwrap_or_default();
        let resp = resp.on_hover_text(format!("{title}{amb}\n(double-click to open)"));
        (resp.clicked(), resp.double_clicked())
    }

    /// The selected painting's details; with its image (Collection tab) or with the
    /// masks' controls (Painting tab, whose canvas shows the image).
    fn viewer(&mut self, ui: &mut egui::Ui, with_image: bool) {
        // A resizable panel keeps the width its content takes: fill it, so that it does not
        // shrink to a short message shown while the collection opens.
        ui.set_min_width(ui.available_width());
        let Some(i) = self.selected else {
            ui.label("Select a painting.");
            return;
        };
        let Some(p) = self
            .collection
            .as_ref()
            .and_then(|c| c.paintings.get(i))
            .cloned()
        else {
            return;
        };
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                let w = ui.available_width();
                match &self.view {
                    _ if !with_image => {}
                    Some(v) if v.index == i => {
                        let ts = v.texture.size_vec2();
                        let max_h = (ui.ctx().content_rect().height() * 0.62).max(200.0);
                        let scale = (w / ts.x).min(max_h / ts.y);
                        ui.vertical_centered(|ui| {
                            ui.add(egui::Image::new((v.texture.id(), ts * scale)));
                        });
                        ui.label(
                            RichText::new(format!("{} × {} px", v.original.0, v.original.1))
                                .small()
                                .weak(),
                        );
                        for w in &v.warnings {
                            ui.colored_label(
                                Color32::from_rgb(0xCC, 0x66, 0x77),
                                format!("(!) {w}: what is shown may be incomplete"),
                            );
                        }
                    }
                    _ => {
                        if let Some(err) = self.failed.get(&i) {
                            ui.colored_label(Color32::from_rgb(0xCC, 0x66, 0x77), err);
                        } else {
                            ui.add_sized([w, 240.0], egui::Spinner::new());
                        }
                    }
                }
                ui.add_space(6.0);
                ui.heading(p.display_title());
                if let Some(a) = &p.artist {
                    ui.label(RichText::new(a).strong());
                }
                let mut meta = Vec::new();
                if let Some(d) = &p.date {
                    meta.push(d.clone());
                }
                if let Some(m) = &p.medium {
                    meta.push(m.clone());
                }
                if let Some(s) = &p.style {
                    meta.push(s.replace('_', " "));
                }
                if !meta.is_empty() {
                    ui.label(meta.join(" · "));
                }
                if let Some(d) = p.plain_description() {
                    ui.add_space(6.0);
                    ui.label(d);
                    if self.aic_descriptions {
                        credit::aic_description_credit(ui);
                    }
                }
                ui.add_space(6.0);
                ui.label(
                    RichText::new(artemo_engine::shown_path(&p.path))
                        .small()
                        .weak(),
                )
                .on_hover_text(p.path.display().to_string());
                // The models' output first, then what people said.
                ui.add_space(10.0);
                ui.separator();
                if let Some(n) = self.explain.ui(ui, &self.engine, &p.path) {
                    self.notice(n, true);
                }
                if std::mem::take(&mut self.explain.want_models_tab) {
                    self.settings.tab = Tab::Models;
                }
                if !with_image {
                    ui.add_space(10.0);
                    ui.separator();
                    let mut sh = shared!(self);
                    self.masks.controls(ui, &mut sh);
                    let actions = sh.actions;
                    self.apply(actions);
                }
                if let Some(rows) = self.responses.get(&p.id) {
                    ui.add_space(10.0);
                    ui.separator();
                    egui::CollapsingHeader::new(RichText::new("What viewers felt").strong())
                        .id_salt("viewers-felt")
                        .default_open(true)
                        .show(ui, |ui| {
                            if let Some(src) = &self.responses_source {
                                ui.label(
                                    RichText::new(format!("{} responses · {src}", rows.len()))
                                        .small()
                                        .weak(),
                                );
                            }
                            emotion_bars(ui, rows);
                            ui.add_space(4.0);
                            for r in rows {
                                ui.horizontal_wrapped(|ui| {
                                    let [cr, cg, cb] = r.emotion.color();
                                    ui.label(
                                        RichText::new(r.emotion.name())
                                            .color(Color32::from_rgb(cr, cg, cb))
                                            .strong(),
                                    );
                                    ui.label(&r.utterance);
                                });
                            }
                        });
                }
            });
    }

    /// Applies the actions panels asked for.
    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Select(i) => {
                    self.selected = Some(i);
                    self.scroll_to_selected = true;
                }
                Action::OpenPainting(i) => {
                    self.selected = Some(i);
                    self.settings.tab = Tab::Painting;
                }
                Action::ShowOnly(v) => {
                    self.only = (!v.is_empty()).then_some(v);
                    self.settings.tab = Tab::Collection;
                }
                Action::Goto(t) => self.settings.tab = t,
                Action::OpenCollection(p) => self.open(p),
                Action::WantThumb(i) => self.request_thumb(i),
                Action::UseCheckpoint { masks, dir } => {
                    let shown = artemo_engine::shown_path(&dir);
                    if masks {
                        self.review.pin(Some(dir.clone()));
                        self.masks.pin(Some(dir));
                    } else {
                        self.explain.pin(Some(dir));
                    }
                    self.notice(
                        format!(
                            "{} now uses {} {shown}",
                            if masks {
                                "The Painting and Review tabs"
                            } else {
                                "The Painting tab"
                            },
                            if masks { "EmoSEM" } else { "SEVLM" }
                        ),
                        false,
                    );
                }
                Action::ModelsChanged => {
                    self.explain.relocate();
                    self.masks.relocate();
                    self.review.relocate();
                    self.map.relocate();
                }
                Action::Notice { text, error } => self.notice(text, error),
            }
        }
    }

    fn tab_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for t in Tab::ALL {
                let r = ui
                    .selectable_label(self.settings.tab == t, RichText::new(t.label()).strong())
                    .on_hover_text(format!("Ctrl+{}", t as usize + 1));
                if r.clicked() {
                    self.settings.tab = t;
                }
            }
            ui.separator();
            if ui
                .button("?")
                .on_hover_text("Keyboard shortcuts (?)")
                .clicked()
            {
                self.show_shortcuts = !self.show_shortcuts;
            }
        });
    }

    fn shortcuts_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_shortcuts;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .min_width(520.0)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (k, what) in SHORTCUTS {
                        ui.label(RichText::new(*k).monospace().strong());
                        ui.label(*what);
                        ui.end_row();
                    }
                });
            });
        self.show_shortcuts = open;
    }

    fn keyboard(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (help, fullscreen, escape, enter) = ctx.input(|i| {
            (
                i.events
                    .iter()
                    .any(|e| matches!(e, egui::Event::Text(t) if t == "?")),
                i.key_pressed(egui::Key::F11),
                i.key_pressed(egui::Key::Escape),
                i.key_pressed(egui::Key::Enter),
            )
        });
        if help {
            self.show_shortcuts = !self.show_shortcuts;
        }
        if escape && self.show_shortcuts {
            self.show_shortcuts = false;
        }
        if fullscreen {
            let on = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
            ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!on));
        }
        for t in Tab::ALL {
            if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, t.key())) {
                self.settings.tab = t;
            }
        }
        if !matches!(self.settings.tab, Tab::Collection | Tab::Painting) {
            return;
        }
        if enter && self.settings.tab == Tab::Collection && self.selected.is_some() {
            self.settings.tab = Tab::Painting;
        }
        if escape && self.settings.tab == Tab::Painting && !self.show_shortcuts {
            self.settings.tab = Tab::Collection;
        }
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let pos = self
            .selected
            .and_then(|s| visible.iter().position(|&i| i == s));
        // Up/Down move by a row of the grid on the Collection tab (the Painting tab has
        // no grid: there they are previous/next).
        let cols = if self.settings.tab == Tab::Collection {
            self.grid_cols.max(1)
        } else {
            1
        };
        let moves = [
            (egui::Key::ArrowLeft, nav::Move::Prev),
            (egui::Key::ArrowRight, nav::Move::Next),
            (egui::Key::ArrowUp, nav::Move::Up),
            (egui::Key::ArrowDown, nav::Move::Down),
        ];
        let m = moves
            .into_iter()
            .find(|(k, _)| ctx.input(|i| i.key_pressed(*k)))
            .map(|(_, m)| m);
        if let Some(n) = m.and_then(|m| nav::step(pos, visible.len(), cols, m)) {
            if let Some(&i) = visible.get(n) {
                self.selected = Some(i);
                self.scroll_to_selected = true;
            }
        }
    }

    fn dropped(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            self.open(p);
        }
    }
}

/// The shortcut overlay's rows.
const SHORTCUTS: &[(&str, &str)] = &[
    ("?", "show or hide this overlay"),
    (
        "Ctrl+1 … Ctrl+6",
        "Collection, Painting, Review, Map, Train, Models",
    ),
    ("← →", "previous / next painting (Collection, Painting)"),
    (
        "↑ ↓",
        "the painting above / below in the grid (Painting: previous / next)",
    ),
    ("Enter", "open the selected painting"),
    ("Esc", "back to the collection; close this overlay"),
    ("F11", "fullscreen"),
    ("F", "Painting: fit to window"),
    ("+ / − / wheel", "Painting: zoom; drag to pan"),
    ("M", "Painting: show or hide the emotion masks"),
    ("N / P", "Review: next / previous painting"),
    ("U / X", "Review: next unreviewed / next failing"),
    ("A / R / G", "Review: accept / reject / flag"),
    ("B / E", "Review: brush / eraser"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Review: undo / redo"),
];

/// One bar per emotion with votes: the share of responses, in the emotion's colour.
fn emotion_bars(ui: &mut egui::Ui, rows: &[artemo_engine::annotations::Annotation]) {
    let mut hist = artemo_engine::annotations::Histogram::default();
    rows.iter().for_each(|r| hist.add(r.emotion));
    let total = hist.total().max(1) as f32;
    for e in artemo_engine::Emotion::ALL {
        let n = hist.count(e);
        if n == 0 {
            continue;
        }
        ui.horizontal(|ui| {
            ui.add_sized([110.0, 16.0], egui::Label::new(e.name()));
            let [r, g, b] = e.color();
            let w = (ui.available_width() - 40.0).max(40.0);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(w, 12.0), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, ui.visuals().faint_bg_color);
            let filled =
                egui::Rect::from_min_size(rect.min, egui::vec2(w * n as f32 / total, 12.0));
            ui.painter()
                .rect_filled(filled, 2.0, Color32::from_rgb(r, g, b));
            ui.label(format!("{n}"));
        });
    }
}

fn matches_filter(p: &Painting, f: &str) -> bool {
    [
        Some(p.id.as_str()),
        p.title.as_deref(),
        p.artist.as_deref(),
        p.date.as_deref(),
        p.style.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|s| s.to_lowercase().replace('_', " ").contains(f))
}

fn upload(
    ctx: &egui::Context,
    name: &str,
    img: &LoadedImage,
    options: TextureOptions,
) -> TextureHandle {
    let ci = egui::ColorImage::from_rgba_unmultiplied(
        [img.width as usize, img.height as usize],
        &img.rgba,
    );
    ctx.load_texture(name, ci, options)
}

impl eframe::App for ArtemoApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.masks = self.masks.settings();
        eframe::set_value(storage, "artemo.settings", &self.settings);
    }
}

impl ArtemoApp {
    /// True once the collection is open and no engine job of the app is pending (thumbnail
    /// and viewer decodes included): what snapshot tests wait for.
    pub fn settled(&self) -> bool {
        self.collection.is_some() && self.pending.is_empty() && self.running.is_empty()
    }

    /// Loads an ArtEmis-format CSV of responses for the open collection (what the browse
    /// bar's Responses… button does after its dialog).
    pub fn load_responses_csv(&mut self, path: PathBuf) {
        self.load_responses(path);
    }

    /// Shows or hides the frame time in the status bar (snapshot tests hide it: it varies).
    pub fn show_frame_time(&mut self, on: bool) {
        self.show_frame_time = on;
    }

    /// The selected painting's index in the open collection.
    pub fn selected(&self) -> Option<usize> {
        self.selected
    }

    /// Thumbnails per row of the grid, as last drawn.
    pub fn grid_columns(&self) -> usize {
        self.grid_cols
    }

    /// Restricts the grid to these paintings, as a box selection on the map does.
    pub fn show_only(&mut self, paintings: Vec<usize>) {
        self.apply(vec![Action::ShowOnly(paintings)]);
    }

    /// Switches to a tab.
    pub fn set_tab(&mut self, tab: Tab) {
        self.settings.tab = tab;
    }

    /// The current tab.
    pub fn tab(&self) -> Tab {
        self.settings.tab
    }

    /// Uses a trained checkpoint folder as the Train tab's "Use in Painting tab" does
    /// (`masks`: EmoSEM, in the Painting and Review tabs; else SEVLM).
    pub fn use_checkpoint(&mut self, masks: bool, dir: PathBuf) {
        self.apply(vec![Action::UseCheckpoint { masks, dir }]);
    }

    /// The EmoSEM weights folder the Painting tab uses, if any.
    pub fn mask_weights(&self) -> Option<&std::path::Path> {
        self.masks.weights_dir()
    }

    /// The Train tab's panel (the UI tests set up a tiny run through it).
    pub fn train_panel(&mut self) -> &mut train_panel::TrainPanel {
        &mut self.train
    }

    /// Draws one frame (what `eframe::App::ui` does; the snapshot tests call it directly).
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let started = std::time::Instant::now();
        self.draw(ui);
        let busy = !self.running.is_empty();
        self.frames.record(started.elapsed(), busy);
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        // On the Models tab a dropped folder is offered for import instead.
        if self.settings.tab != Tab::Models {
            self.dropped(&ctx);
        }
        self.keyboard(&ctx);
        self.ensure_view();
        egui::Panel::top("top").show(ui, |ui| {
            self.top_bar(ui);
            self.tab_bar(ui);
            self.notices(ui);
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        if let Some(c) = &self.collection {
            self.browse.refresh(self.generation, c, &self.responses);
        }
        let mut sh = shared!(self);
        match self.settings.tab {
            Tab::Collection | Tab::Painting => {
                drop(sh);
                let painting = self.settings.tab == Tab::Painting;
                egui::Panel::right("viewer")
                    .resizable(true)
                    .default_size(if painting { 420.0 } else { 580.0 })
                    .size_range(320.0..=1200.0)
                    .show(ui, |ui| self.viewer(ui, !painting));
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    if painting {
                        let mut sh = shared!(self);
                        self.masks.canvas(ui, &mut sh);
                        let actions = sh.actions;
                        self.apply(actions);
                    } else {
                        // The panel's width, before anything drawn could widen it: the
                        // grid's columns never run under the detail panel.
                        let width = ui.available_width();
                        self.browse_bar(ui);
                        self.grid(ui, width);
                    }
                });
            }
            Tab::Review => {
                egui::CentralPanel::default_margins().show(ui, |ui| self.review.ui(ui, &mut sh));
                let actions = sh.actions;
                self.apply(actions);
            }
            Tab::Map => {
                egui::CentralPanel::default_margins().show(ui, |ui| self.map.ui(ui, &mut sh));
                let actions = sh.actions;
                self.apply(actions);
            }
            Tab::Train => {
                egui::CentralPanel::default_margins().show(ui, |ui| self.train.ui(ui, &mut sh));
                let actions = sh.actions;
                self.apply(actions);
            }
            Tab::Models => {
                egui::CentralPanel::default_margins().show(ui, |ui| self.models.ui(ui, &mut sh));
                let actions = sh.actions;
                self.apply(actions);
            }
        }
        if self.show_shortcuts {
            self.shortcuts_window(&ctx);
        }
        if self.show_problems {
            let problems: Vec<String> = self
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
                .open(&mut self.show_problems)
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
