//! The Map tab: the collection as an emotion-aware embedding map (PACL). The map (PACL
//! embeddings, PCA or t-SNE, k-means, zero-shot emotions) is computed by one engine job
//! (`artemo_engine::jobs::map`) with progress and cancellation, cached on disk per
//! (model, collection content) and in memory per collection. Points are coloured by the
//! human responses' dominant emotion, PACL's zero-shot emotion or the k-means cluster;
//! hovering shows the thumbnail, a click opens the painting, a box or lasso selection
//! opens the grid restricted to it, and a search box highlights title/artist matches and
//! the paintings closest to the query in PACL's joint space.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use artemo_engine::annotations::{Dominance, Histogram};
use artemo_engine::collection::Collection;
use artemo_engine::jobs::map::{self, MapData, MapRequest, MapSearch};
use artemo_engine::pacl;
use artemo_engine::pacl::projection::{Method, TsneConfig};
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput};
use artemo_engine::Emotion;
use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, Vec2};

use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use crate::gui::theme;

/// What colours the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColourBy {
    /// Dominant emotion of the human responses (ArtEmis rule).
    Human,
    /// PACL zero-shot emotion.
    ZeroShot,
    /// k-means cluster of the embeddings.
    Cluster,
}

/// The selection tool of the primary mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Pan,
    Box,
    Lasso,
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    /// A map of the collection with this key.
    Map((PathBuf, u64)),
    Search(String),
}

/// Colours of clusters (Okabe-Ito, then Tableau).
const CLUSTER_COLOURS: [[u8; 3]; 12] = [
    [0xE6, 0x9F, 0x00],
    [0x56, 0xB4, 0xE9],
    [0x00, 0x9E, 0x73],
    [0xF0, 0xE4, 0x42],
    [0x00, 0x72, 0xB2],
    [0xD5, 0x5E, 0x00],
    [0xCC, 0x79, 0xA7],
    [0x99, 0x99, 0x99],
    [0x8C, 0x56, 0x4B],
    [0x17, 0xBE, 0xCF],
    [0xBC, 0xBD, 0x22],
    [0x94, 0x67, 0xBD],
];

/// The map job's progress message until the engine starts it.
const QUEUED: &str = "queued";

/// "queued", with the jobs ahead on the compute lane (at most three named).
fn queued_text(behind: &[String]) -> String {
    match behind {
        [] => QUEUED.into(),
        [a] => format!("queued behind: {a}"),
        [a, b] => format!("queued behind: {a}, {b}"),
        [a, b, c] => format!("queued behind: {a}, {b}, {c}"),
        [a, b, c, rest @ ..] => {
            format!("queued behind: {a}, {b}, {c} and {} more", rest.len())
        }
    }
}

/// The tab's state.
pub struct Map {
    models: Option<PathBuf>,
    model_dir: Option<PathBuf>,
    jobs: HashMap<JobId, Pending>,
    progress: Option<(f32, String)>,
    error: Option<String>,
    /// The collection the map shows (source and a fingerprint of its ids).
    current: Option<(PathBuf, u64)>,
    /// Maps by collection (in memory).
    cache: HashMap<(PathBuf, u64), MapData>,
    /// The request that failed or was cancelled (not retried automatically).
    stopped: Option<(PathBuf, u64, Method, usize)>,
    method: Method,
    colour: Option<ColourBy>,
    k: usize,
    point_size: f32,
    tool: Tool,
    zoom: f32,
    /// View centre in data coordinates (`None`: the data's centre).
    centre: Option<Vec2>,
    drag: Vec<Pos2>,
    selection: Vec<usize>,
    query: String,
    top: usize,
    /// Collection indices matching the query by title/artist/id.
    text_hits: Vec<usize>,
    /// PACL hits of the query: (collection index, cosine), best first.
    pacl_hits: Vec<(usize, f32)>,
    pacl_query: Option<String>,
    search_error: Option<String>,
}

impl Map {
    /// Looks for the weights again (after an import); a change drops the computed maps.
    pub fn relocate(&mut self) {
        let dir = self.models.as_deref().and_then(pacl::locate);
        if dir != self.model_dir {
            self.model_dir = dir;
            self.cache.clear();
            self.current = None;
        }
    }
}

impl Map {
    /// Finds the PACL weights (`models/pacl`, then the demo kit's).
    pub fn new() -> Self {
        let models = artemo_engine::find_models();
        let model_dir = models.as_deref().and_then(pacl::locate);
        Map {
            models,
            model_dir,
            jobs: HashMap::new(),
            progress: None,
            error: None,
            current: None,
            cache: HashMap::new(),
            stopped: None,
            method: Method::Tsne,
            colour: None,
            k: 6,
            point_size: 5.0,
            tool: Tool::Box,
            zoom: 1.0,
            centre: None,
            drag: Vec::new(),
            selection: Vec::new(),
            query: String::new(),
            top: 10,
            text_hits: Vec::new(),
            pacl_hits: Vec::new(),
            pacl_query: None,
            search_error: None,
        }
    }

    /// Drops the box/lasso selection (the browse bar's Clear, the status bar's "show all").
    pub fn clear_selection(&mut self) {
        self.selection.clear();
    }

    /// Switches the projection; the view (zoom and centre, in the old projection's
    /// coordinates) is reset so the new map shows whole.
    fn set_method(&mut self, m: Method) {
        if m != self.method {
            self.method = m;
            self.zoom = 1.0;
            self.centre = None;
        }
    }

    /// The map job's progress text: while it waits for the compute lane, what it waits
    /// behind.
    fn progress_text(&self, engine: &artemo_engine::worker::Engine, msg: &str) -> String {
        if msg != QUEUED {
            return msg.to_string();
        }
        let behind: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, p)| matches!(p, Pending::Map(_)))
            .flat_map(|(id, _)| engine.waiting_behind(*id))
            .collect();
        queued_text(&behind)
    }

    fn busy(&self) -> bool {
        self.jobs.values().any(|p| matches!(p, Pending::Map(_)))
    }

    fn data(&self) -> Option<&MapData> {
        self.current.as_ref().and_then(|k| self.cache.get(k))
    }

    fn start_map(&mut self, shared: &mut Shared, coll: &Collection) {
        let (Some(model_dir), Some(models), Some(key)) = (
            self.model_dir.clone(),
            self.models.clone(),
            self.current.clone(),
        ) else {
            return;
        };
        let req = MapRequest {
            model_dir,
            models,
            paintings: coll.paintings.clone(),
            method: self.method,
            tsne: TsneConfig::default(),
            k: self.k,
            cache: Some(crate::train_cmd::cache_dir()),
        };
        self.error = None;
        self.stopped = None;
        match shared.engine.submit(Command::Map(req)) {
            Ok(id) => {
                self.jobs.insert(id, Pending::Map(key));
                self.progress = Some((0.0, QUEUED.into()));
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.stopped = Some((key.0, key.1, self.method, self.k));
            }
        }
    }

    fn start_search(&mut self, shared: &mut Shared) {
        let q = self.query.trim().to_string();
        self.search_error = None;
        self.pacl_hits.clear();
        self.pacl_query = None;
        self.text_hits.clear();
        if q.is_empty() {
            return;
        }
        if let Some(c) = shared.collection {
            let f = q.to_lowercase();
            self.text_hits = c
                .paintings
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    [Some(p.id.as_str()), p.title.as_deref(), p.artist.as_deref()]
                        .into_iter()
                        .flatten()
                        .any(|s| s.to_lowercase().contains(&f))
                })
                .map(|(i, _)| i)
                .collect();
        }
        let (Some(model_dir), Some(models)) = (self.model_dir.clone(), self.models.clone()) else {
            return;
        };
        let Some(emb) = self.data().map(|d| d.embeddings.clone()) else {
            return;
        };
        for (id, p) in &self.jobs {
            if matches!(p, Pending::Search(_)) {
                shared.engine.cancel(*id);
            }
        }
        match shared.engine.submit(Command::MapSearch(MapSearch {
            model_dir,
            models,
            embeddings: emb,
            query: q.clone(),
        })) {
            Ok(id) => {
                self.jobs.insert(id, Pending::Search(q));
            }
            Err(e) => self.search_error = Some(e.to_string()),
        }
    }

    fn clear_search(&mut self) {
        self.query.clear();
        self.text_hits.clear();
        self.pacl_hits.clear();
        self.pacl_query = None;
        self.search_error = None;
    }

    /// Draws the tab.
    fn draw(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(coll) = shared.collection else {
            ui.label("No collection is open.");
            return;
        };
        let Some(model_dir) = self.model_dir.clone() else {
            self.not_installed(ui, shared);
            return;
        };
        // Follow the open collection.
        let key = (coll.source.clone(), fingerprint(coll));
        if self.current.as_ref() != Some(&key) {
            for (id, p) in &self.jobs {
                shared.engine.cancel(*id);
                let _ = p;
            }
            self.progress = None;
            self.error = None;
            self.current = Some(key.clone());
            self.selection.clear();
            self.clear_search();
            self.zoom = 1.0;
            self.centre = None;
            self.colour = None;
        }
        let need = match self.data() {
            None => true,
            Some(d) => d.points(self.method).is_none() || !d.clusters.contains_key(&self.k_for(d)),
        };
        let stopped = self.stopped == Some((key.0.clone(), key.1, self.method, self.k));
        if need && !self.busy() && !stopped {
            self.start_map(shared, coll);
        }
        let has_human = coll
            .paintings
            .iter()
            .any(|p| shared.responses.get(&p.id).is_some_and(|r| !r.is_empty()));
        let zs_ok = self.data().is_some_and(|d| d.zero_shot.is_ok());
        if self.colour.is_none() && self.data().is_some() {
            self.colour = Some(if has_human {
                ColourBy::Human
            } else if zs_ok {
                ColourBy::ZeroShot
            } else {
                ColourBy::Cluster
            });
        }
        self.toolbar(ui, shared, has_human, zs_ok);
        if let Some((f, msg)) = self.progress.clone() {
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(f).desired_width(420.0).text(format!(
                    "{} ({:.0}%)",
                    self.progress_text(shared.engine, &msg),
                    f * 100.0
                )));
                if ui.button("Cancel").clicked() {
                    for (id, p) in &self.jobs {
                        if matches!(p, Pending::Map(_)) {
                            shared.engine.cancel(*id);
                        }
                    }
                }
            });
        }
        if let Some(e) = self.error.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(theme::ERROR, format!("⚠ {e}"));
                if ui.button("Try again").clicked() {
                    self.start_map(shared, coll);
                }
            });
        }
        let Some(data) = self
            .current
            .as_ref()
            .and_then(|k| self.cache.get(k))
            .cloned()
        else {
            if self.progress.is_none()
                && self.error.is_none()
                && ui.button("Compute the map").clicked()
            {
                self.start_map(shared, coll);
            }
            ui.label(
                RichText::new(format!(
                    "PACL weights: {}. The map is computed once per collection and cached.",
                    shown(self.models.as_deref(), &model_dir)
                ))
                .small()
                .weak(),
            );
            return;
        };
        let colour = self.colour.unwrap_or(ColourBy::Cluster);
        let k = self.k_for(&data);
        let points = data.points(self.method).or_else(|| {
            // While the other projection is computed, keep showing the one we have.
            data.projections.values().next().map(Vec::as_slice)
        });
        let Some(points) = points else { return };
        let styles = point_styles(&data, coll, shared, colour, k);
        egui::Panel::right("map-side")
            .resizable(true)
            .default_size(300.0)
            .size_range(220.0..=520.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        self.side(ui, shared, coll, &data, &styles, colour, k, &model_dir);
                    });
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.canvas(ui, shared, coll, &data, points, &styles);
        });
    }

    fn k_for(&self, d: &MapData) -> usize {
        self.k.clamp(1, d.embeddings.ids.len().max(1))
    }

    fn not_installed(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.add_space(20.0);
        ui.heading("Embedding map (PACL)");
        ui.add_space(8.0);
        ui.label(
            "PACL weights are not installed, so no map is shown. The map needs a PACL model \
             (config.json + model.safetensors) and its text encoder (all-MiniLM-L6-v2).",
        );
        let models = self.models.clone();
        match &models {
            Some(m) => {
                ui.label("Looked in:")
                    .on_hover_text(format!("models/ is {}", m.display()));
                for d in pacl::PACL_DIRS {
                    ui.label(RichText::new(format!("  models/{d}")).monospace());
                }
            }
            None => {
                ui.label("The models/ folder was not found (set ARTEMO_MODELS).");
            }
        }
        ui.label(
            "Train one with `artemo train pacl` (writes models/pacl) or the demo kit with \
             `artemo train --preset demo` (models/demo/pacl).",
        );
        ui.horizontal(|ui| {
            if ui.button("Open the Models tab").clicked() {
                shared.actions.push(Action::Goto(Tab::Models));
            }
            if ui.button("Look again").clicked() {
                self.models = artemo_engine::find_models();
                self.model_dir = self.models.as_deref().and_then(pacl::locate);
            }
        });
    }

    fn toolbar(&mut self, ui: &mut egui::Ui, shared: &mut Shared, has_human: bool, zs_ok: bool) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Projection:");
            let mut method = self.method;
            ui.selectable_value(&mut method, Method::Tsne, "t-SNE");
            ui.selectable_value(&mut method, Method::Pca, "PCA");
            self.set_method(method);
            ui.separator();
            ui.label("Colour:");
            let mut c = self.colour.unwrap_or(ColourBy::Cluster);
            ui.add_enabled_ui(has_human, |ui| {
                ui.selectable_value(&mut c, ColourBy::Human, "human responses")
                    .on_hover_text("Dominant emotion of the collection's human responses (ArtEmis rule: at least half of the votes, no tie)")
                    .on_disabled_hover_text("No human responses are loaded for this collection");
            });
            ui.add_enabled_ui(zs_ok, |ui| {
                ui.selectable_value(&mut c, ColourBy::ZeroShot, "PACL zero-shot")
                    .on_hover_text("The emotion whose prompts are closest to the painting in PACL's joint space (model prediction)")
                    .on_disabled_hover_text("Zero-shot needs the PACL text encoder");
            });
            ui.selectable_value(&mut c, ColourBy::Cluster, "cluster");
            if self.data().is_some() {
                self.colour = Some(c);
            }
            if c == ColourBy::Cluster {
                ui.add(egui::DragValue::new(&mut self.k).range(2..=12).prefix("k = "));
            }
            ui.separator();
            ui.add(egui::Slider::new(&mut self.point_size, 2.0..=14.0).text("point size"));
            ui.separator();
            ui.label("Drag:");
            ui.selectable_value(&mut self.tool, Tool::Box, "box")
                .on_hover_text("Drag a rectangle to select; the grid opens with the selection");
            ui.selectable_value(&mut self.tool, Tool::Lasso, "lasso")
                .on_hover_text("Draw around points to select them");
            ui.selectable_value(&mut self.tool, Tool::Pan, "pan");
            if ui
                .button("Reset view")
                .on_hover_text("Wheel: zoom · right or middle drag: pan · double-click: reset")
                .clicked()
            {
                self.zoom = 1.0;
                self.centre = None;
            }
        });
        ui.horizontal(|ui| {
            ui.label("Search:");
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.query)
                    .desired_width(280.0)
                    .hint_text("a title, an artist, or \"paintings that feel lonely\""),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Search").clicked() || enter {
                self.start_search(shared);
            }
            if !self.query.is_empty() && ui.button("Clear").clicked() {
                self.clear_search();
            }
            ui.add(
                egui::DragValue::new(&mut self.top)
                    .range(1..=100)
                    .prefix("closest "),
            )
            .on_hover_text("How many PACL matches to highlight");
            if self.jobs.values().any(|p| matches!(p, Pending::Search(_))) {
                ui.spinner();
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn side(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        coll: &Collection,
        data: &MapData,
        styles: &Styles,
        colour: ColourBy,
        k: usize,
        model_dir: &std::path::Path,
    ) {
        ui.label(RichText::new("Legend").strong());
        ui.label(RichText::new(styles.caption.clone()).small());
        for (label, c, n) in &styles.legend {
            ui.horizontal(|ui| {
                let (r, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
                ui.painter().circle_filled(r.center(), 5.0, *c);
                ui.label(format!("{label} ({n})"));
            });
        }
        if colour == ColourBy::Cluster {
            ui.label(
                RichText::new(format!("k-means, k = {k}, on the PACL embeddings"))
                    .small()
                    .weak(),
            );
        }
        ui.add_space(6.0);
        ui.separator();
        if !self.selection.is_empty() {
            ui.label(
                RichText::new(format!("Selection: {} paintings", self.selection.len())).strong(),
            );
            ui.horizontal(|ui| {
                if ui.button("Show in the grid").clicked() {
                    shared
                        .actions
                        .push(Action::ShowOnly(self.selection.clone()));
                }
                if ui.button("Clear").clicked() {
                    self.selection.clear();
                }
            });
            ui.separator();
        }
        if !self.query.trim().is_empty() || !self.text_hits.is_empty() || !self.pacl_hits.is_empty()
        {
            ui.label(RichText::new("Search").strong());
            if let Some(e) = &self.search_error {
                ui.colored_label(theme::ERROR, e);
            }
            if !self.text_hits.is_empty() {
                ui.label(format!("{} title/artist match(es)", self.text_hits.len()));
                for &i in self.text_hits.iter().take(30) {
                    if let Some(p) = coll.paintings.get(i) {
                        if ui.link(p.display_title()).clicked() {
                            shared.actions.push(Action::OpenPainting(i));
                        }
                    }
                }
            }
            if let Some(q) = &self.pacl_query {
                ui.label(format!("closest to \"{q}\" (PACL text tower, cosine):"));
                for &(i, s) in self.pacl_hits.iter().take(self.top) {
                    if let Some(p) = coll.paintings.get(i) {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(format!("{s:.3}")).monospace());
                            if ui.link(p.display_title()).clicked() {
                                shared.actions.push(Action::OpenPainting(i));
                            }
                        });
                    }
                }
            }
            ui.separator();
        }
        ui.label(
            RichText::new(format!(
                "{} of {} paintings mapped · {} · {}",
                data.embeddings.ids.len(),
                coll.paintings.len(),
                match self.method {
                    Method::Tsne => "t-SNE",
                    Method::Pca => "PCA",
                },
                if data.from_cache {
                    "from the cache"
                } else {
                    "computed now"
                }
            ))
            .small(),
        );
        if !data.skipped.is_empty() {
            ui.collapsing(
                format!("{} unreadable painting(s) not mapped", data.skipped.len()),
                |ui| {
                    for s in &data.skipped {
                        ui.label(
                            RichText::new(format!("{}: {}", s.path.display(), s.message)).small(),
                        );
                    }
                },
            );
        }
        if let Err(e) = &data.zero_shot {
            ui.label(
                RichText::new(format!("no zero-shot emotions: {e}"))
                    .small()
                    .weak(),
            );
        }
        let demo = model_dir.components().any(|c| c.as_os_str() == "demo");
        ui.label(
            RichText::new(format!(
                "PACL weights: {}{}",
                shown(self.models.as_deref(), model_dir),
                if demo {
                    " (demo kit: small CPU model, far weaker than the paper's)"
                } else {
                    ""
                }
            ))
            .small()
            .weak(),
        );
        if ui
            .small_button("Recompute")
            .on_hover_text("Drop this collection's map and compute it again")
            .clicked()
        {
            if let Some(key) = self.current.clone() {
                self.cache.remove(&key);
                let dir = crate::train_cmd::cache_dir();
                let f = map::cache_file(&dir, &data.model_key, &data.collection_key);
                let _ = std::fs::remove_file(f);
                self.start_map(shared, coll);
            }
        }
    }

    fn canvas(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        coll: &Collection,
        data: &MapData,
        points: &[[f32; 2]],
        styles: &Styles,
    ) {
        let size = ui.available_size().max(Vec2::splat(100.0));
        let (resp, painter) = ui.allocate_painter(size, Sense::click_and_drag());
        let rect = resp.rect;
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        if points.is_empty() {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "no painting could be mapped",
                egui::FontId::proportional(14.0),
                ui.visuals().weak_text_color(),
            );
            return;
        }
        // Data bounds -> screen.
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in points {
            for a in 0..2 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        let span = Vec2::new((hi[0] - lo[0]).max(1e-6), (hi[1] - lo[1]).max(1e-6));
        let mid = Vec2::new((hi[0] + lo[0]) / 2.0, (hi[1] + lo[1]) / 2.0);
        let inner = rect.shrink(24.0);
        let base = (inner.width() / span.x).min(inner.height() / span.y);
        // Interaction: zoom about the pointer, pan with right/middle drag (or the pan tool).
        let centre = self.centre.unwrap_or(mid);
        let scale = base * self.zoom;
        let to_screen = |c: Vec2, s: f32, p: [f32; 2]| {
            rect.center() + Vec2::new((p[0] - c.x) * s, -(p[1] - c.y) * s)
        };
        let to_data = |c: Vec2, s: f32, q: Pos2| {
            let d = q - rect.center();
            Vec2::new(c.x + d.x / s, c.y - d.y / s)
        };
        let mut centre = centre;
        let mut scale = scale;
        if let Some(hp) = resp.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = (scroll * 0.003).exp() * pinch;
            if (factor - 1.0).abs() > 1e-4 {
                let before = to_data(centre, scale, hp);
                self.zoom = (self.zoom * factor).clamp(0.2, 200.0);
                scale = base * self.zoom;
                let after = to_data(centre, scale, hp);
                centre += before - after;
            }
        }
        let panning = resp.dragged_by(egui::PointerButton::Secondary)
            || resp.dragged_by(egui::PointerButton::Middle)
            || (self.tool == Tool::Pan && resp.dragged_by(egui::PointerButton::Primary));
        if panning {
            let d = resp.drag_delta();
            centre -= Vec2::new(d.x / scale, -d.y / scale);
        }
        if resp.double_clicked() {
            self.zoom = 1.0;
            scale = base;
            centre = mid;
        }
        self.centre = Some(centre);
        // Screen positions of every point.
        let screen: Vec<Pos2> = points
            .iter()
            .map(|p| to_screen(centre, scale, *p))
            .collect();
        // Hover: nearest point within reach.
        let reach = (self.point_size + 4.0).max(8.0);
        let hovered = resp.hover_pos().and_then(|hp| {
            screen
                .iter()
                .enumerate()
                .filter(|(_, s)| rect.contains(**s))
                .map(|(j, s)| (j, s.distance(hp)))
                .filter(|(_, d)| *d <= reach)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(j, _)| j)
        });
        // Selection by box or lasso with the primary button.
        let selecting = matches!(self.tool, Tool::Box | Tool::Lasso);
        if selecting && resp.drag_started_by(egui::PointerButton::Primary) {
            self.drag.clear();
            if let Some(p) = resp.interact_pointer_pos() {
                self.drag.push(p);
            }
        }
        if selecting && resp.dragged_by(egui::PointerButton::Primary) {
            if let Some(p) = resp.interact_pointer_pos() {
                match self.tool {
                    Tool::Box => {
                        self.drag.truncate(1);
                        self.drag.push(p);
                    }
                    _ => {
                        if self.drag.last().is_none_or(|l| l.distance(p) > 2.0) {
                            self.drag.push(p);
                        }
                    }
                }
            }
        }
        let mut finished = None;
        if resp.drag_stopped_by(egui::PointerButton::Primary) && selecting && self.drag.len() >= 2 {
            let inside: Vec<usize> = screen
                .iter()
                .enumerate()
                .filter(|(_, s)| match self.tool {
                    Tool::Box => Rect::from_two_pos(self.drag[0], self.drag[1]).contains(**s),
                    _ => self.drag.len() >= 3 && in_polygon(**s, &self.drag),
                })
                .map(|(j, _)| data.indices[j])
                .collect();
            finished = Some(inside);
            self.drag.clear();
        }
        if let Some(sel) = finished {
            if sel.is_empty() {
                shared.notice("The selection holds no painting.", false);
            } else {
                self.selection = sel.clone();
                shared.actions.push(Action::ShowOnly(sel));
            }
        }
        if resp.clicked() {
            if let Some(j) = hovered {
                // Ctrl+click marks the painting without leaving the map.
                if ui.input(|i| i.modifiers.command) {
                    shared.actions.push(Action::Select(data.indices[j]));
                } else {
                    shared.actions.push(Action::OpenPainting(data.indices[j]));
                }
            }
        }
        // Draw: dimmed when a search or selection highlights some points.
        let highlight: HashSet<usize> = self
            .text_hits
            .iter()
            .copied()
            .chain(self.pacl_hits.iter().take(self.top).map(|h| h.0))
            .collect();
        let selected: HashSet<usize> = self.selection.iter().copied().collect();
        let dim = !highlight.is_empty();
        let painter = painter.with_clip_rect(rect);
        let r = self.point_size / 2.0 + 1.0;
        for (j, s) in screen.iter().enumerate() {
            let i = data.indices[j];
            let mut c = styles.colours[j];
            if dim && !highlight.contains(&i) {
                c = c.gamma_multiply(0.25);
            }
            painter.circle_filled(*s, r, c);
            if selected.contains(&i) {
                painter.circle_stroke(*s, r + 1.5, Stroke::new(1.5, ui.visuals().text_color()));
            }
        }
        for (j, s) in screen.iter().enumerate() {
            if highlight.contains(&data.indices[j]) {
                painter.circle_filled(*s, r + 1.5, styles.colours[j]);
                painter.circle_stroke(*s, r + 3.0, Stroke::new(2.0, Color32::WHITE));
            }
        }
        // The painting selected in the grid or viewer.
        if let Some(j) = shared
            .selected
            .and_then(|s| data.indices.iter().position(|&i| i == s))
        {
            let c = ui.visuals().selection.stroke.color;
            painter.circle_stroke(screen[j], r + 5.0, Stroke::new(2.0, c));
        }
        let sel_stroke = Stroke::new(1.5, ui.visuals().selection.stroke.color);
        match (self.tool, self.drag.len()) {
            (Tool::Box, 2) => {
                let b = Rect::from_two_pos(self.drag[0], self.drag[1]);
                painter.rect_filled(b, 0.0, ui.visuals().selection.bg_fill.gamma_multiply(0.25));
                painter.rect_stroke(b, 0.0, sel_stroke, egui::StrokeKind::Inside);
            }
            (Tool::Lasso, n) if n >= 2 => {
                painter.add(egui::Shape::closed_line(self.drag.clone(), sel_stroke));
            }
            _ => {}
        }
        painter.text(
            rect.left_bottom() + Vec2::new(8.0, -6.0),
            egui::Align2::LEFT_BOTTOM,
            "wheel: zoom · right-drag: pan · double-click: reset · click: open · ctrl+click: select",
            egui::FontId::proportional(11.0),
            ui.visuals().weak_text_color(),
        );
        if let Some(j) = hovered {
            let i = data.indices[j];
            painter.circle_stroke(
                screen[j],
                r + 3.0,
                Stroke::new(2.0, ui.visuals().strong_text_color()),
            );
            if !shared.thumbs.contains(&i) {
                shared.actions.push(Action::WantThumb(i));
            }
            let thumb = shared.thumbs.get(&i).cloned();
            let p = coll.paintings.get(i);
            let what = styles.labels[j].clone();
            let score = self.pacl_hits.iter().find(|h| h.0 == i).map(|h| h.1);
            resp.on_hover_ui_at_pointer(|ui| {
                ui.set_max_width(220.0);
                match thumb {
                    Some(t) => {
                        let ts = t.size_vec2();
                        let s = (200.0 / ts.x).min(200.0 / ts.y);
                        ui.add(egui::Image::new((t.id(), ts * s)));
                    }
                    None => {
                        ui.add_sized([200.0, 60.0], egui::Spinner::new());
                    }
                }
                if let Some(p) = p {
                    ui.label(RichText::new(p.display_title()).strong());
                    if let Some(a) = &p.artist {
                        ui.label(RichText::new(a).small());
                    }
                }
                ui.label(RichText::new(what).small());
                if let Some(s) = score {
                    ui.label(RichText::new(format!("search cosine {s:.3}")).small());
                }
                ui.label(RichText::new("click to open").small().weak());
            });
        }
    }
}

/// Colours, labels and legend of the points.
struct Styles {
    colours: Vec<Color32>,
    labels: Vec<String>,
    legend: Vec<(String, Color32, usize)>,
    caption: String,
}

fn point_styles(
    data: &MapData,
    coll: &Collection,
    shared: &Shared,
    colour: ColourBy,
    k: usize,
) -> Styles {
    let n = data.indices.len();
    let mut colours = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    let mut counts: Vec<(String, Color32, usize)> = Vec::new();
    let mut bump = |label: String, c: Color32| {
        if let Some(e) = counts.iter_mut().find(|e| e.0 == label) {
            e.2 += 1;
        } else {
            counts.push((label, c, 1));
        }
    };
    let caption;
    match colour {
        ColourBy::Human => {
            caption =
                "Dominant emotion of the human responses (at least half of the votes, no tie)"
                    .to_string();
            for &i in &data.indices {
                let rows = coll
                    .paintings
                    .get(i)
                    .and_then(|p| shared.responses.get(&p.id));
                let (label, c) = match rows {
                    None => ("no responses".to_string(), theme::GREY.gamma_multiply(0.5)),
                    Some(rows) => {
                        let mut h = Histogram::default();
                        rows.iter().for_each(|r| h.add(r.emotion));
                        match h.dominant(Dominance::AtLeastHalf) {
                            Some(e) => (e.name().to_string(), theme::rgb(e.color())),
                            None => ("no dominant emotion".to_string(), theme::GREY),
                        }
                    }
                };
                bump(label.clone(), c);
                colours.push(c);
                labels.push(format!("human responses: {label}"));
            }
        }
        ColourBy::ZeroShot => {
            caption = "PACL zero-shot emotion (model prediction, not human responses)".to_string();
            match &data.zero_shot {
                Ok(z) => {
                    for (e, p) in z.emotions.iter().zip(&z.confidence) {
                        let c = theme::rgb(e.color());
                        bump(e.name().to_string(), c);
                        colours.push(c);
                        labels.push(format!("PACL zero-shot: {} ({:.0}%)", e.name(), p * 100.0));
                    }
                }
                Err(_) => {
                    for _ in 0..n {
                        colours.push(theme::GREY);
                        labels.push(String::new());
                    }
                }
            }
        }
        ColourBy::Cluster => {
            caption = "k-means cluster of the PACL embeddings".to_string();
            let l = data.clusters.get(&k);
            for j in 0..n {
                match l.and_then(|l| l.get(j)) {
                    Some(&c) => {
                        let col = theme::rgb(CLUSTER_COLOURS[c % CLUSTER_COLOURS.len()]);
                        bump(format!("cluster {}", c + 1), col);
                        colours.push(col);
                        labels.push(format!("cluster {}", c + 1));
                    }
                    None => {
                        colours.push(theme::GREY);
                        labels.push(String::new());
                    }
                }
            }
        }
    }
    // Legend in a stable order: emotions in ArtEmis order, clusters by number, the rest last.
    let order = |s: &str| {
        Emotion::ALL
            .iter()
            .position(|e| e.name() == s)
            .map(|p| (0, p, String::new()))
            .or_else(|| {
                s.strip_prefix("cluster ")
                    .and_then(|d| d.parse::<usize>().ok())
                    .map(|d| (1, d, String::new()))
            })
            .unwrap_or((2, 0, s.to_string()))
    };
    counts.sort_by_key(|c| order(&c.0));
    Styles {
        colours,
        labels,
        legend: counts,
        caption,
    }
}

/// `models/...` for a folder under the models folder, else the full path.
fn shown(models: Option<&std::path::Path>, p: &std::path::Path) -> String {
    match models.and_then(|m| p.strip_prefix(m).ok()) {
        Some(rel) => format!("models/{}", rel.display()),
        None => p.display().to_string(),
    }
}

/// A cheap fingerprint of a collection's ids (order included).
fn fingerprint(c: &Collection) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in &c.paintings {
        p.id.hash(&mut h);
        p.path.hash(&mut h);
    }
    h.finish()
}

/// Even-odd point-in-polygon test.
fn in_polygon(p: Pos2, poly: &[Pos2]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

impl Panel for Map {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Map)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.draw(ui, &mut state.lend());
    }

    fn on_models_changed(&mut self) {
        self.relocate();
    }

    fn on_selection_cleared(&mut self) {
        self.clear_selection();
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
            (
                Pending::Map(key),
                EventKind::Progress {
                    fraction, message, ..
                },
            ) if self.current.as_ref() == Some(&key) => {
                self.progress = Some((fraction, message));
            }
            (Pending::Map(key), EventKind::Started { .. })
                if self.current.as_ref() == Some(&key) =>
            {
                self.progress = Some((0.0, "starting".into()));
            }
            (Pending::Map(key), EventKind::Done(JobOutput::Map(d))) => {
                self.progress = None;
                self.cache.insert(key, *d);
            }
            (Pending::Map(key), EventKind::Failed(msg)) if self.current.as_ref() == Some(&key) => {
                self.progress = None;
                self.error = Some(format!("the map could not be computed: {msg}"));
                self.stop();
                actions.push(Action::Notice {
                    text: format!("Map: {msg}"),
                    error: true,
                });
            }
            (Pending::Map(key), EventKind::Cancelled) if self.current.as_ref() == Some(&key) => {
                self.progress = None;
                self.error = Some("cancelled".into());
                self.stop();
            }
            (Pending::Search(q), EventKind::Done(JobOutput::Hits(hits))) => {
                if let Some(d) = self.data() {
                    let idx = &d.indices;
                    self.pacl_hits = hits
                        .iter()
                        .filter_map(|h| idx.get(h.index).map(|&i| (i, h.score)))
                        .collect();
                    self.pacl_query = Some(q);
                }
            }
            (Pending::Search(_), EventKind::Failed(msg)) => {
                self.search_error = Some(msg);
            }
            _ => {}
        }
        if end {
            self.jobs.remove(&job);
        }
        ctx.request_repaint();
    }
}

impl Map {
    fn stop(&mut self) {
        if let Some((p, f)) = self.current.clone() {
            self.stopped = Some((p, f, self.method, self.k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_the_projection_resets_the_view() {
        let mut m = Map::new();
        m.zoom = 4.0;
        m.centre = Some(Vec2::new(12.0, -3.0));
        m.set_method(Method::Pca);
        assert_eq!(m.method, Method::Pca);
        assert_eq!(m.zoom, 1.0);
        assert_eq!(m.centre, None);
        // The same projection again keeps the view.
        m.zoom = 2.0;
        m.set_method(Method::Pca);
        assert_eq!(m.zoom, 2.0);
    }

    #[test]
    fn queued_says_what_it_waits_behind() {
        assert_eq!(queued_text(&[]), "queued");
        assert_eq!(
            queued_text(&["review: EmoSEM predictions".into()]),
            "queued behind: review: EmoSEM predictions"
        );
        let many: Vec<String> = (0..5).map(|i| format!("job {i}")).collect();
        assert_eq!(
            queued_text(&many),
            "queued behind: job 0, job 1, job 2 and 2 more"
        );
    }

    #[test]
    fn clear_selection_empties_the_map_selection() {
        let mut m = Map::new();
        m.selection = vec![1, 4];
        m.clear_selection();
        assert!(m.selection.is_empty());
    }
}
