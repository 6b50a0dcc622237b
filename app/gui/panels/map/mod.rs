//! The Map tab: the collection as an emotion-aware embedding map (PACL), PixPlot-style:
//! paintings as thumbnails where they fit (from a texture atlas built by the map job and
//! cached on disk) and points elsewhere, hotspots per cluster or emotion that fly the
//! view there. The map (PACL embeddings, PCA, t-SNE or the grid-snapped t-SNE, k-means,
//! zero-shot emotions, the atlas) is computed by one engine job
//! (`artemo_engine::jobs::map`) with progress and cancellation, cached on disk per
//! (model, collection content) and in memory per collection. Points are coloured by the
//! human responses' dominant emotion, PACL's zero-shot emotion or the k-means cluster;
//! hovering shows the thumbnail, a click opens the painting, a box or lasso selection
//! opens the grid restricted to it, and a search box highlights title/artist matches and
//! the paintings closest to the query in PACL's joint space.

pub mod bench;
mod canvas;
mod hotspots;
mod side;
mod styles;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use artemo_engine::annotations::{Dominance, Histogram};
use artemo_engine::collection::Collection;
use artemo_engine::jobs::map::{self, MapData, MapRequest, MapSearch};
use artemo_engine::pacl;
use artemo_engine::pacl::projection::{Method, TsneConfig};
use artemo_engine::pacl::zeroshot::{Calibration, PromptSet};
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput};
use artemo_engine::Emotion;
use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, Vec2};

use crate::gui::panels::jobs::Jobs;
use crate::gui::panels::weights::{Located, UsesWeights};
use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use crate::gui::theme;
use hotspots::{Flight, Hotspot, HotspotMode};
use styles::{point_styles, Styles};
use thumbs::AtlasTextures;

mod thumbs;

/// What the map derives from its data and the colouring, computed once per change (not
/// per frame: at 10,000 paintings it costs milliseconds).
struct Derived {
    key: DerivedKey,
    styles: Arc<Styles>,
    hotspots: Arc<Vec<Hotspot>>,
    /// The order in which thumbnails are placed: hotspot representatives, then a fixed
    /// shuffle (so panning never reshuffles what is shown).
    order: Arc<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq)]
struct DerivedKey {
    data: usize,
    colour: ColourBy,
    k: usize,
    hotspots: HotspotMode,
    responses: (usize, usize),
}

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
    /// The PACL weights in use.
    weights: Located,
    jobs: Jobs<Pending>,
    progress: Option<(f32, String)>,
    error: Option<String>,
    /// The collection the map shows (source and a fingerprint of its ids).
    current: Option<(PathBuf, u64)>,
    /// Maps by collection (in memory).
    cache: HashMap<(PathBuf, u64), Arc<MapData>>,
    /// The request that failed or was cancelled (not retried automatically).
    stopped: Option<(PathBuf, u64, Method, usize)>,
    method: Method,
    colour: Option<ColourBy>,
    /// Zero-shot class prompts (the paper's single prompt by default).
    prompts: PromptSet,
    /// Zero-shot calibration over the collection (centered by default).
    calibration: Calibration,
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
    /// Draw thumbnails where they fit (else points only).
    thumbnails: bool,
    /// Thumbnail box side at zoom 1, pixels.
    thumb_px: f32,
    hotspot_mode: HotspotMode,
    derived: Option<Derived>,
    atlas_tex: Option<AtlasTextures>,
    flight: Option<Flight>,
    /// The data span at zoom 1 (for hotspot flights), from the last frame.
    span: Vec2,
    /// Thumbnails placed in the last frame (for `artemo bench map`).
    last_placed: usize,
    /// Address of the points shown last frame: other points (a finished layout replacing
    /// the one shown meanwhile) reset the view, whose centre is in their coordinates.
    shown_points: usize,
}

impl Default for Map {
    fn default() -> Self {
        Self::new()
    }
}

impl Map {
    /// Finds the PACL weights (`models/pacl`, then the demo kit's).
    pub fn new() -> Self {
        Map {
            weights: Located::find(pacl::locate),
            jobs: Jobs::default(),
            progress: None,
            error: None,
            current: None,
            cache: HashMap::new(),
            stopped: None,
            prompts: PromptSet::Paper,
            calibration: Calibration::default(),
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
            thumbnails: true,
            thumb_px: 36.0,
            hotspot_mode: HotspotMode::Clusters,
            derived: None,
            atlas_tex: None,
            flight: None,
            span: Vec2::splat(1.0),
            last_placed: 0,
            shown_points: 0,
        }
    }

    /// The styles, hotspots and placement order of `data` for the current colouring
    /// (recomputed only when one of them changes).
    fn derive(
        &mut self,
        data: &Arc<MapData>,
        coll: &Collection,
        shared: &Shared,
        colour: ColourBy,
        k: usize,
    ) -> (Arc<Styles>, Arc<Vec<Hotspot>>, Arc<Vec<usize>>) {
        let key = DerivedKey {
            data: Arc::as_ptr(data) as usize,
            colour,
            k,
            hotspots: self.hotspot_mode,
            responses: (
                shared.responses.len(),
                shared.responses.values().map(Vec::len).sum(),
            ),
        };
        if let Some(d) = self.derived.as_ref().filter(|d| d.key == key) {
            return (d.styles.clone(), d.hotspots.clone(), d.order.clone());
        }
        let styles = Arc::new(point_styles(data, coll, shared, colour, k));
        let hot = Arc::new(hotspots::hotspots(data, &styles, self.hotspot_mode, k));
        let n = data.indices.len();
        let mut order: Vec<usize> = hot.iter().map(|h| h.j).collect();
        let mut rest: Vec<usize> = (0..n).collect();
        // A fixed shuffle (xorshift by index), stable across frames and runs.
        rest.sort_by_key(|&j| {
            let mut x = j as u64 ^ 0x9e37_79b9_7f4a_7c15;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        });
        order.extend(rest);
        let order = Arc::new(order);
        self.derived = Some(Derived {
            key,
            styles: styles.clone(),
            hotspots: hot.clone(),
            order: order.clone(),
        });
        (styles, hot, order)
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
        self.jobs.any(|p| matches!(p, Pending::Map(_)))
    }

    fn data(&self) -> Option<&MapData> {
        self.current
            .as_ref()
            .and_then(|k| self.cache.get(k))
            .map(|d| &**d)
    }

    fn start_map(&mut self, shared: &mut Shared, coll: &Collection) {
        let (Some(model_dir), Some(models), Some(key)) = (
            self.weights.dir.clone(),
            self.weights.models.clone(),
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
            prompts: self.prompts,
            calibration: self.calibration,
            cache: Some(crate::cmd::common::cache_dir()),
            atlas_cell: Some(artemo_engine::atlas::ATLAS_CELL),
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
        let (Some(model_dir), Some(models)) =
            (self.weights.dir.clone(), self.weights.models.clone())
        else {
            return;
        };
        let Some(emb) = self.data().map(|d| d.embeddings.clone()) else {
            return;
        };
        for (id, p) in self.jobs.iter() {
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
        let Some(model_dir) = self.weights.dir.clone() else {
            self.not_installed(ui, shared);
            return;
        };
        // Follow the open collection.
        let key = (coll.source.clone(), fingerprint(coll));
        if self.current.as_ref() != Some(&key) {
            for (id, p) in self.jobs.iter() {
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
            Some(d) => {
                d.points(self.method).is_none()
                    || !d.clusters.contains_key(&self.k_for(d))
                    || d.zero_shot.as_ref().is_ok_and(|z| {
                        z.prompts != self.prompts || z.calibration != self.calibration
                    })
            }
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
                    for (id, p) in self.jobs.iter() {
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
            .map(Arc::clone)
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
                    shown(self.weights.models.as_deref(), &model_dir)
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
        let pid = points.as_ptr() as usize;
        if pid != self.shown_points {
            self.shown_points = pid;
            self.zoom = 1.0;
            self.centre = None;
            self.flight = None;
        }
        let (styles, hot, order) = self.derive(&data, coll, shared, colour, k);
        if let Some(a) = &data.atlas {
            AtlasTextures::ensure(&mut self.atlas_tex, ui.ctx(), a);
        }
        egui::Panel::right("map-side")
            .resizable(true)
            .default_size(300.0)
            .size_range(220.0..=520.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        self.side(ui, shared, coll, &data, &styles, colour, k, &model_dir);
                        self.hotspot_list(ui, points, &hot);
                    });
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.canvas(ui, shared, coll, &data, points, &styles, &hot, &order);
        });
    }

    fn k_for(&self, d: &MapData) -> usize {
        self.k.clamp(1, d.embeddings.ids.len().max(1))
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

impl UsesWeights for Map {
    fn located(&mut self) -> &mut Located {
        &mut self.weights
    }

    /// Drops the maps computed with the weights used before.
    fn weights_changed(&mut self) {
        self.cache.clear();
        self.current = None;
    }
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
                self.cache.insert(key, Arc::new(*d));
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
