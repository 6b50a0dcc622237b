//! The Review tab: ground-truth stimulus masks (Artemo's own regions or an APOLO root)
//! against EmoSEM's predictions, side by side, overlaid or with a swipe slider; live IoU
//! and Pr@25 / Pr@50 badges; keyboard navigation; accept / reject / flag with a note; a
//! brush and eraser with undo / redo to fix the ground truth; every decision autosaved in
//! a journal (engine side, `annotations::review`); export as PNG, APOLO npy or COCO RLE.
//!
//! Loading the ground truth, predicting, journalling and exporting all run as engine
//! jobs; the window only decodes the current item's two masks. Split by concern:
//! `items.rs` (navigation, edits, verdicts), `bars.rs`, `canvas.rs`, `input.rs`.

mod bars;
mod canvas;
mod input;
mod items;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use artemo_engine::annotations::review::{
    self as rv, ExportFormat, GroundTruth, ItemKey, ItemState, ReviewJournal, ReviewOp,
    ReviewSample, Verdict,
};
use artemo_engine::annotations::rle;
use artemo_engine::annotations::Mask;
use artemo_engine::emosem::view;
use artemo_engine::jobs::masks::{ReviewPrediction, ReviewPredictions};
use artemo_engine::jobs::review::OpenReview;
use artemo_engine::jobs::Roots;
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput, Lane};
use egui::{Color32, ColorImage, Pos2, Rect, RichText, Sense, Stroke, TextureHandle, Vec2};

use crate::gui::dialog::{self, Picked};
use crate::gui::panels::jobs::Jobs;
use crate::gui::panels::weights::{Located, UsesWeights};
use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use crate::gui::textures::LruCache;
use crate::gui::theme;
use crate::gui::widgets::zoom_canvas::{zoom_toolbar, ViewXform, PIXEL_TEXTURE};

/// Undo steps kept per item.
const UNDO_DEPTH: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    SideBySide,
    Overlay,
    Swipe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Pan,
    Brush,
    Eraser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    GroundTruth,
    Predictions,
    Image(usize),
    Journal,
    Export,
}

/// The item on screen: its (possibly fixed) ground truth and the undo history.
struct Current {
    index: usize,
    gt: Mask,
    pred: Option<Mask>,
    gt_tex: Option<TextureHandle>,
    pred_tex: Option<TextureHandle>,
    undo: Vec<Mask>,
    redo: Vec<Mask>,
    stroke: Option<Pos2>,
    note: String,
}

/// The tab's state.
pub struct Review {
    /// The weights in use: installed, or a checkpoint chosen in the Train tab.
    weights: Located,
    source: Option<GroundTruth>,
    samples: Vec<ReviewSample>,
    missing: usize,
    /// Paintings of the ground truth whose file name is in the collection but whose image
    /// is not the annotated one.
    mismatched: usize,
    preds: HashMap<ItemKey, ReviewPrediction>,
    states: BTreeMap<ItemKey, ItemState>,
    live_iou: HashMap<ItemKey, Option<f64>>,
    journal: Option<Arc<Mutex<ReviewJournal>>>,
    pending: Jobs<Pending>,
    images: LruCache<usize, TextureHandle>,
    error: Option<String>,
    status: Option<String>,
    progress: Option<(f32, String)>,
    cur: usize,
    current: Option<Current>,
    layout: Layout,
    tool: Tool,
    radius: f32,
    swipe: f32,
    xf: ViewXform,
    dialog: Option<std::sync::mpsc::Receiver<(DialogFor, Picked)>>,
    /// A path typed instead of using the system dialog (when none could open).
    typed: Option<(DialogFor, String)>,
    /// The collection the ground truth was matched to (its source and size): another one
    /// opened reloads the ground truth.
    opened_for: Option<(PathBuf, usize)>,
    needs_predictions: bool,
    /// Prediction jobs of weights no longer used, to cancel.
    stale: Vec<JobId>,
    queued: Vec<ReviewOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogFor {
    Apolo,
    Export(ExportFormat),
}

/// The folder of review sessions: `$ARTEMO_REVIEW_DIR`, else the data folder.
fn sessions_dir() -> PathBuf {
    std::env::var_os("ARTEMO_REVIEW_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("artemo/review"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/artemo/review"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("artemo-review"))
}

impl Review {
    /// The tab before first use; finds installed EmoSEM weights.
    pub fn new() -> Self {
        Review {
            weights: Located::find(view::locate),
            source: None,
            samples: Vec::new(),
            missing: 0,
            mismatched: 0,
            preds: HashMap::new(),
            states: BTreeMap::new(),
            live_iou: HashMap::new(),
            journal: None,
            pending: Jobs::default(),
            images: LruCache::new(6),
            error: None,
            status: None,
            progress: None,
            cur: 0,
            current: None,
            layout: Layout::SideBySide,
            tool: Tool::Pan,
            radius: 6.0,
            swipe: 0.5,
            xf: ViewXform::new(),
            dialog: None,
            typed: None,
            opened_for: None,
            needs_predictions: false,
            stale: Vec::new(),
            queued: Vec::new(),
        }
    }

    fn busy(&self, what: Pending) -> bool {
        self.pending.any(|p| *p == what)
    }

    fn open_source(&mut self, shared: &mut Shared, gt: GroundTruth) {
        let Some(collection) = shared.collection.cloned() else {
            shared.notice(
                "Open a collection first: the ground truth is matched to its paintings.",
                true,
            );
            return;
        };
        for (id, p) in self.pending.iter() {
            if matches!(p, Pending::GroundTruth | Pending::Predictions) {
                shared.engine.cancel(*id);
            }
        }
        self.pending
            .take(|p| matches!(p, Pending::GroundTruth | Pending::Predictions));
        self.samples.clear();
        self.missing = 0;
        self.mismatched = 0;
        self.status = None;
        self.opened_for = Some((collection.source.clone(), collection.paintings.len()));
        self.preds.clear();
        self.states.clear();
        self.live_iou.clear();
        self.journal = None;
        self.current = None;
        self.cur = 0;
        self.error = None;
        self.source = Some(gt.clone());
        let session = sessions_dir().join(gt.tag());
        match shared.engine.submit(Command::OpenReview(OpenReview {
            ground_truth: gt,
            collection,
            session,
        })) {
            Ok(id) => {
                self.pending.insert(id, Pending::GroundTruth);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// The mask under review: the fixed one when there is one, else the ground truth.
    fn effective_rle(&self, s: &ReviewSample) -> rle::CocoRle {
        self.states
            .get(&s.key)
            .and_then(|st| st.mask.clone())
            .unwrap_or_else(|| s.gt.clone())
    }

    fn start_predictions(&mut self, shared: &mut Shared) {
        let Some(dir) = self.weights.dir.clone() else {
            return;
        };
        if self.samples.is_empty() || self.busy(Pending::Predictions) {
            return;
        }
        let Some(assets) = artemo_engine::find_assets() else {
            self.error = Some("the assets/ folder was not found (set ARTEMO_ASSETS)".into());
            return;
        };
        let models = self.weights.models.clone().unwrap_or_else(|| dir.clone());
        // From the current item on, then the ones before it.
        let n = self.samples.len();
        let order: Vec<(ItemKey, PathBuf, rle::CocoRle)> = (0..n)
            .map(|k| &self.samples[(self.cur + k) % n])
            .filter(|s| !self.preds.contains_key(&s.key))
            .map(|s| (s.key.clone(), s.image.clone(), self.effective_rle(s)))
            .collect();
        if order.is_empty() {
            return;
        }
        match shared
            .engine
            .submit(Command::ReviewPredictions(ReviewPredictions {
                model: dir,
                roots: Roots { assets, models },
                samples: order,
                cache: Some(crate::cmd::common::cache_dir()),
            })) {
            Ok(id) => {
                self.pending.insert(id, Pending::Predictions);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Draws the tab.
    fn draw(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let ctx = ui.ctx().clone();
        self.poll_dialog(shared);
        for id in self.stale.drain(..) {
            shared.engine.cancel(id);
        }
        // The ground truth follows the open collection (the shipped regions at first).
        let now = shared
            .collection
            .map(|c| (c.source.clone(), c.paintings.len()));
        if now.is_some() && now != self.opened_for {
            self.opened_for = now;
            let gt = self.source.clone().or_else(|| {
                artemo_engine::find_assets()
                    .map(|a| a.join("annotations/stimuli.json"))
                    .filter(|j| j.is_file())
                    .map(|json| GroundTruth::Stimuli { json })
            });
            if let Some(gt) = gt {
                self.open_source(shared, gt);
            }
        }
        if std::mem::take(&mut self.needs_predictions) {
            self.start_predictions(shared);
        }
        self.keyboard(ui, shared);
        for op in std::mem::take(&mut self.queued) {
            self.record(shared, op);
        }
        self.ensure_current(&ctx, shared);
        self.top_bar(ui, shared);
        self.typed_path(ui, shared);
        if let Some(e) = &self.error {
            ui.colored_label(theme::FAIL, e);
        }
        if self.samples.is_empty() {
            if self.busy(Pending::GroundTruth) {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the ground truth…");
                });
            } else if let Some(src) = self.source.clone() {
                self.no_ground_truth(ui, shared, src);
            } else {
                ui.label(
                    "Open ground truth to review: Artemo's stimulus regions or an APOLO root.",
                );
            }
            return;
        }
        self.item_bar(ui, shared);
        ui.separator();
        self.canvas(ui, shared);
    }

    /// What the tab says when the ground truth covers no painting of the open collection.
    fn no_ground_truth(&mut self, ui: &mut egui::Ui, shared: &mut Shared, src: GroundTruth) {
        ui.add_space(8.0);
        ui.label(RichText::new("No ground truth for this collection.").strong());
        let mut why = format!(
            "{} annotates other paintings: none of this collection's paintings is one of them",
            src.describe()
        );
        if self.mismatched > 0 {
            why.push_str(&format!(
                " ({} file names match annotated paintings, but the images differ from the annotated ones)",
                self.mismatched
            ));
        }
        why.push('.');
        ui.label(why);
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Open APOLO…")
                .on_hover_text("apolo.json with its apolo_pixel_map/ folder, for WikiArt paintings")
                .clicked()
            {
                self.dialog(ui.ctx(), DialogFor::Apolo);
            }
            if let Some(shipped) = artemo_engine::default_collection() {
                if ui
                    .button("Open the shipped collection")
                    .on_hover_text("The 267 paintings Artemo's stimulus regions annotate")
                    .clicked()
                {
                    shared.actions.push(Action::OpenCollection(shipped));
                }
            }
        });
    }
}

impl UsesWeights for Review {
    fn located(&mut self) -> &mut Located {
        &mut self.weights
    }

    /// Drops the old weights' predictions and predicts again at once.
    fn weights_changed(&mut self) {
        self.preds.clear();
        self.live_iou.clear();
        // The running predictions are of the old weights: cancel them (next frame,
        // with the engine at hand) and predict again with the new ones at once.
        let old = self.pending.take(|p| *p == Pending::Predictions);
        self.stale.extend(old);
        self.progress = None;
        if let Some(c) = self.current.as_mut() {
            c.pred = None;
            c.pred_tex = None;
        }
        self.needs_predictions = true;
    }
}

impl Panel for Review {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Review)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.draw(ui, &mut state.lend());
    }

    fn on_models_changed(&mut self) {
        self.relocate();
    }

    fn on_checkpoint(&mut self, masks: bool, dir: &std::path::Path) {
        if masks {
            self.pin(Some(dir.to_path_buf()));
        }
    }

    fn owns(&self, job: JobId) -> bool {
        self.pending.owns(job)
    }

    fn on_event(
        &mut self,
        ctx: &egui::Context,
        job: JobId,
        kind: EventKind,
        actions: &mut Vec<Action>,
    ) {
        let Some(what) = self.pending.event(job, &kind) else {
            return;
        };
        match kind {
            EventKind::Progress {
                fraction, message, ..
            } if what == Pending::Predictions => {
                self.progress = Some((fraction, message));
            }
            EventKind::Partial(JobOutput::ReviewPrediction(p)) => {
                self.live_iou.remove(&p.key);
                self.preds.insert(p.key.clone(), *p);
                ctx.request_repaint();
            }
            EventKind::Done(out) => {
                match (what, out) {
                    (Pending::GroundTruth, JobOutput::ReviewOpened(l)) => {
                        let l = *l;
                        self.samples = l.found.samples;
                        self.missing = l.found.missing;
                        self.mismatched = l.found.mismatched;
                        self.states = l.journal.state().clone();
                        let mut msg = format!(
                            "{} regions; decisions autosaved in {}",
                            self.samples.len(),
                            artemo_engine::shown_path(l.journal.dir())
                        );
                        if l.found.mismatched > 0 {
                            msg.push_str(&format!(
                                "; {} paintings left out: their images are not the annotated ones",
                                l.found.mismatched
                            ));
                        }
                        if self.missing > 0 {
                            msg.push_str(&format!(
                                "; {} paintings of the ground truth are not in the open collection",
                                self.missing
                            ));
                        }
                        if l.recovery.torn_bytes > 0 {
                            msg.push_str("; an interrupted last save was dropped");
                        }
                        self.status = Some(msg);
                        self.journal = Some(Arc::new(Mutex::new(l.journal)));
                        self.cur = 0;
                        self.current = None;
                        // Resume at the first item without a verdict.
                        if let Some(i) = self.samples.iter().position(|s| {
                            self.states.get(&s.key).and_then(|st| st.verdict).is_none()
                        }) {
                            self.cur = i;
                        }
                        self.needs_predictions = true;
                    }
                    (Pending::Image(i), JobOutput::Image(img)) => {
                        let ci = egui::ColorImage::from_rgba_unmultiplied(
                            [img.width as usize, img.height as usize],
                            &img.rgba,
                        );
                        self.images.insert(
                            i,
                            ctx.load_texture(format!("review-{i}"), ci, PIXEL_TEXTURE),
                        );
                    }
                    (Pending::Predictions, _) => self.progress = None,
                    (Pending::Export, JobOutput::Text(t)) => actions.push(Action::Notice {
                        text: t,
                        error: false,
                    }),
                    _ => {}
                }
            }
            EventKind::Failed(msg) => {
                let text = match what {
                    Pending::GroundTruth => format!("The ground truth could not be read: {msg}"),
                    Pending::Predictions => {
                        self.progress = None;
                        format!("EmoSEM predictions failed: {msg}")
                    }
                    Pending::Image(_) => msg,
                    Pending::Journal => format!("Review autosave failed: {msg}"),
                    Pending::Export => format!("Export failed: {msg}"),
                };
                if matches!(what, Pending::GroundTruth | Pending::Predictions) {
                    self.error = Some(text.clone());
                }
                actions.push(Action::Notice { text, error: true });
            }
            EventKind::Cancelled if what == Pending::Predictions => self.progress = None,
            _ => {}
        }
    }
}
