//! The Review tab: ground-truth stimulus masks (Artemo's own regions or an APOLO root)
//! against EmoSEM's predictions, side by side, overlaid or with a swipe slider; live IoU
//! and Pr@25 / Pr@50 badges; keyboard navigation; accept / reject / flag with a note; a
//! brush and eraser with undo / redo to fix the ground truth; every decision autosaved in
//! a journal (engine side, `annotations::review`); export as PNG, APOLO npy or COCO RLE.
//!
//! Loading the ground truth, predicting, journalling and exporting all run as engine
//! jobs; the window only decodes the current item's two masks.

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
use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Shared, Tab};
use crate::gui::textures::LruCache;
use crate::gui::theme;
use crate::gui::widgets::zoom_canvas::{zoom_toolbar, ViewXform, PIXEL_TEXTURE};

/// Ground truth is drawn in orange, the prediction in blue (readable under the common
/// colour-vision deficiencies).
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
    dir: Option<PathBuf>,
    /// A checkpoint chosen in the Train tab, used instead of the installed weights.
    pinned: Option<PathBuf>,
    models: Option<PathBuf>,
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
    pending: HashMap<JobId, Pending>,
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

fn mask_image(m: &Mask, color: Color32, contour: bool) -> ColorImage {
    let (w, h) = (m.width, m.height);
    let outside = |x: i64, y: i64| {
        x < 0 || y < 0 || x >= w as i64 || y >= h as i64 || !m.get(x as usize, y as usize)
    };
    let mut px = vec![Color32::TRANSPARENT; w * h];
    for y in 0..h {
        for x in 0..w {
            if !m.get(x, y) {
                continue;
            }
            // A 3-pixel outline, so the region stays visible on any painting.
            let (xi, yi) = (x as i64, y as i64);
            let edge = (-3i64..=3).any(|d| outside(xi + d, yi) || outside(xi, yi + d));
            px[y * w + x] = if edge {
                color
            } else if contour {
                color.gamma_multiply(0.2)
            } else {
                color.gamma_multiply(0.5)
            };
        }
    }
    ColorImage::new([w, h], px)
}

impl Review {
    /// Looks for the weights again (after an import); a change drops the predictions.
    pub fn relocate(&mut self) {
        let dir = self
            .pinned
            .clone()
            .filter(|d| d.join("config.json").is_file() && d.join("model.safetensors").is_file())
            .or_else(|| self.models.as_deref().and_then(view::locate));
        if dir != self.dir {
            self.dir = dir;
            self.preds.clear();
            self.live_iou.clear();
            // The running predictions are of the old weights: cancel them (next frame,
            // with the engine at hand) and predict again with the new ones at once.
            let old: Vec<JobId> = self
                .pending
                .iter()
                .filter(|(_, p)| **p == Pending::Predictions)
                .map(|(id, _)| *id)
                .collect();
            for id in old {
                self.pending.remove(&id);
                self.stale.push(id);
            }
            self.progress = None;
            if let Some(c) = self.current.as_mut() {
                c.pred = None;
                c.pred_tex = None;
            }
            self.needs_predictions = true;
        }
    }

    /// Uses the checkpoint folder `dir` for predictions instead of the installed weights
    /// (`None`: the installed ones again); predictions already made are dropped.
    pub fn pin(&mut self, dir: Option<PathBuf>) {
        self.pinned = dir;
        self.relocate();
    }

    /// The tab before first use; finds installed EmoSEM weights.
    pub fn new() -> Self {
        let models = artemo_engine::find_models();
        let dir = models.as_deref().and_then(view::locate);
        Review {
            dir,
            pinned: None,
            models,
            source: None,
            samples: Vec::new(),
            missing: 0,
            mismatched: 0,
            preds: HashMap::new(),
            states: BTreeMap::new(),
            live_iou: HashMap::new(),
            journal: None,
            pending: HashMap::new(),
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
        self.pending.values().any(|p| *p == what)
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
            .retain(|_, p| !matches!(p, Pending::GroundTruth | Pending::Predictions));
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
        let Some(dir) = self.dir.clone() else { return };
        if self.samples.is_empty() || self.busy(Pending::Predictions) {
            return;
        }
        let Some(assets) = artemo_engine::find_assets() else {
            self.error = Some("the assets/ folder was not found (set ARTEMO_ASSETS)".into());
            return;
        };
        let models = self.models.clone().unwrap_or_else(|| dir.clone());
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
            })) {
            Ok(id) => {
                self.pending.insert(id, Pending::Predictions);
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn record(&mut self, shared: &mut Shared, op: ReviewOp) {
        rv::apply(&mut self.states, &op);
        let Some(j) = self.journal.clone() else {
            return;
        };
        let job = Box::new(move |_: &artemo_engine::worker::JobContext| {
            let mut g = j.lock().unwrap_or_else(|e| e.into_inner());
            g.record(op)?;
            Ok(JobOutput::Unit)
        });
        match shared.engine.submit(Command::Run {
            name: "review: autosave".into(),
            lane: Lane::Io,
            job,
        }) {
            Ok(id) => {
                self.pending.insert(id, Pending::Journal);
            }
            Err(e) => shared.notice(format!("Review autosave failed: {e}"), true),
        }
    }

    fn key(&self) -> Option<ItemKey> {
        self.samples.get(self.cur).map(|s| s.key.clone())
    }

    fn iou_of(&self, k: &ItemKey) -> Option<f64> {
        match self.live_iou.get(k) {
            Some(v) => *v,
            None => self.preds.get(k).and_then(|p| p.ious.map(|x| x.0)),
        }
    }

    fn goto(&mut self, i: usize) {
        if i < self.samples.len() && i != self.cur {
            // A note typed but not yet saved goes with the item it was typed on.
            if let (Some(c), Some(k)) = (&self.current, self.key()) {
                let saved = self.states.get(&k).map(|st| st.note.as_str()).unwrap_or("");
                if c.note != saved {
                    self.queued.push(ReviewOp::Note {
                        item: k,
                        note: c.note.clone(),
                    });
                }
            }
            self.cur = i;
            self.current = None;
        }
    }

    fn next_where(&self, f: impl Fn(&Self, &ReviewSample) -> bool) -> Option<usize> {
        let n = self.samples.len();
        (1..=n)
            .map(|k| (self.cur + k) % n)
            .find(|&i| f(self, &self.samples[i]))
    }

    /// Builds the current item's masks and textures when it changed.
    fn ensure_current(&mut self, ctx: &egui::Context, shared: &mut Shared) {
        let Some(s) = self.samples.get(self.cur) else {
            return;
        };
        if self.current.as_ref().is_some_and(|c| c.index == self.cur) {
            // A prediction may have arrived since.
            let key = s.key.clone();
            if let Some(c) = self.current.as_mut() {
                if c.pred.is_none() {
                    if let Some(p) = self.preds.get(&key) {
                        c.pred = Some(p.mask.clone());
                        c.pred_tex = None;
                    }
                }
            }
        } else {
            let rle = self.effective_rle(s);
            let gt = match rle::decode(&rle) {
                Ok(m) => m,
                Err(e) => {
                    self.error = Some(format!("{} {}: {e}", s.key.painting, s.key.emotion.name()));
                    Mask::new(1, 1)
                }
            };
            let note = self
                .states
                .get(&s.key)
                .map(|st| st.note.clone())
                .unwrap_or_default();
            self.current = Some(Current {
                index: self.cur,
                gt,
                pred: self.preds.get(&s.key).map(|p| p.mask.clone()),
                gt_tex: None,
                pred_tex: None,
                undo: Vec::new(),
                redo: Vec::new(),
                stroke: None,
                note,
            });
            self.xf.fit();
        }
        let index = s.index;
        let image = s.image.clone();
        if !self.images.contains(&index) && !self.busy(Pending::Image(index)) {
            if let Ok(id) = shared.engine.submit(Command::LoadImage {
                path: image,
                max_side: 2048,
            }) {
                self.pending.insert(id, Pending::Image(index));
            }
        }
        if let Some(c) = self.current.as_mut() {
            if c.gt_tex.is_none() {
                c.gt_tex = Some(ctx.load_texture(
                    "review-gt",
                    mask_image(&c.gt, theme::GROUND_TRUTH, false),
                    PIXEL_TEXTURE,
                ));
            }
            if c.pred_tex.is_none() {
                if let Some(p) = &c.pred {
                    let contour = self.layout == Layout::Overlay;
                    c.pred_tex = Some(ctx.load_texture(
                        "review-pred",
                        mask_image(p, theme::PREDICTION, contour),
                        PIXEL_TEXTURE,
                    ));
                }
            }
        }
    }

    fn live_update(&mut self) {
        let Some(c) = &self.current else { return };
        let Some(k) = self.key() else { return };
        let iou = c.pred.as_ref().and_then(|p| p.iou(&c.gt).ok().flatten());
        let iou = if c.gt.is_empty() {
            None
        } else {
            Some(iou.unwrap_or(0.0))
        };
        self.live_iou.insert(k, iou);
    }

    fn commit_mask(&mut self, shared: &mut Shared) {
        let Some(k) = self.key() else { return };
        let Some(c) = &self.current else { return };
        let rle = rle::encode(&c.gt);
        let original = self.samples[self.cur].gt.clone();
        let mask = (rle != original).then_some(rle);
        self.live_update();
        self.record(shared, ReviewOp::Mask { item: k, mask });
    }

    fn set_verdict(&mut self, shared: &mut Shared, v: Verdict) {
        let Some(k) = self.key() else { return };
        let now = self.states.get(&k).and_then(|s| s.verdict);
        let verdict = if now == Some(v) { None } else { Some(v) };
        self.record(shared, ReviewOp::Verdict { item: k, verdict });
    }

    fn undo(&mut self, shared: &mut Shared, redo: bool) {
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let (from, to) = if redo {
            (&mut c.redo, &mut c.undo)
        } else {
            (&mut c.undo, &mut c.redo)
        };
        let Some(m) = from.pop() else { return };
        to.push(std::mem::replace(&mut c.gt, m));
        c.gt_tex = None;
        self.commit_mask(shared);
    }

    fn keyboard(&mut self, ui: &egui::Ui, shared: &mut Shared) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        use egui::{Key, Modifiers};
        let redo = ui.input_mut(|i| i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z));
        let undo = ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::Z));
        if redo {
            self.undo(shared, true);
        } else if undo {
            self.undo(shared, false);
        }
        let pressed = |k: Key| ui.input(|i| i.key_pressed(k) && i.modifiers.is_none());
        let n = self.samples.len();
        if n == 0 {
            return;
        }
        if pressed(Key::N) {
            self.goto((self.cur + 1).min(n - 1));
        }
        if pressed(Key::P) {
            self.goto(self.cur.saturating_sub(1));
        }
        if pressed(Key::U) {
            match self.next_where(|s, x| s.states.get(&x.key).and_then(|st| st.verdict).is_none()) {
                Some(i) => self.goto(i),
                None => self.status = Some("Every item has a verdict.".into()),
            }
        }
        if pressed(Key::X) {
            match self.next_where(|s, x| s.iou_of(&x.key).is_some_and(|v| v < 0.5)) {
                Some(i) => self.goto(i),
                None => self.status = Some("No scored item fails Pr@50.".into()),
            }
        }
        if pressed(Key::A) {
            self.set_verdict(shared, Verdict::Accepted);
        }
        if pressed(Key::R) {
            self.set_verdict(shared, Verdict::Rejected);
        }
        if pressed(Key::G) {
            self.set_verdict(shared, Verdict::Flagged);
        }
        if pressed(Key::B) {
            self.tool = if self.tool == Tool::Brush {
                Tool::Pan
            } else {
                Tool::Brush
            };
        }
        if pressed(Key::E) {
            self.tool = if self.tool == Tool::Eraser {
                Tool::Pan
            } else {
                Tool::Eraser
            };
        }
    }

    fn poll_dialog(&mut self, shared: &mut Shared) {
        let Some(rx) = &self.dialog else { return };
        let Ok((what, picked)) = rx.try_recv() else {
            return;
        };
        self.dialog = None;
        match picked {
            Picked::Path(path) => self.picked(shared, what, path),
            Picked::Cancelled => {}
            Picked::Unavailable => {
                shared.notice(
                    format!("{} type the path below instead.", dialog::UNAVAILABLE),
                    true,
                );
                self.typed = Some((what, String::new()));
            }
        }
    }

    fn picked(&mut self, shared: &mut Shared, what: DialogFor, path: PathBuf) {
        match what {
            DialogFor::Apolo => self.open_source(
                shared,
                GroundTruth::Apolo {
                    json: path,
                    maps: None,
                },
            ),
            DialogFor::Export(format) => self.export(shared, format, path),
        }
    }

    fn dialog(&mut self, ctx: &egui::Context, what: DialogFor) {
        if self.dialog.is_some() {
            return;
        }
        self.dialog = Some(dialog::spawn(ctx, what, move || match what {
            DialogFor::Apolo => rfd::FileDialog::new()
                .set_title("APOLO apolo.json (maps in apolo_pixel_map/ beside it)")
                .add_filter("APOLO", &["json"])
                .pick_file(),
            DialogFor::Export(_) => rfd::FileDialog::new()
                .set_title("Export the reviewed masks to")
                .pick_folder(),
        }));
    }

    /// The path field shown when the system dialog could not open.
    fn typed_path(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some((what, text)) = &mut self.typed else {
            return;
        };
        let what = *what;
        let mut go = false;
        let mut close = false;
        ui.horizontal_wrapped(|ui| {
            let label = ui.label(match what {
                DialogFor::Apolo => "apolo.json:",
                DialogFor::Export(_) => "export to folder:",
            });
            let edit = ui
                .add(
                    egui::TextEdit::singleline(text)
                        .desired_width(360.0)
                        .hint_text("a path on this computer"),
                )
                .labelled_by(label.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let verb = match what {
                DialogFor::Apolo => "Open",
                DialogFor::Export(_) => "Export",
            };
            go = ui.button(verb).clicked() || enter;
            close = ui.small_button("Cancel").clicked();
        });
        if go && !text.trim().is_empty() {
            let path = artemo_engine::resolve_shown(text.trim());
            self.typed = None;
            self.picked(shared, what, path);
        } else if close {
            self.typed = None;
        }
    }

    fn export(&mut self, shared: &mut Shared, format: ExportFormat, out: PathBuf) {
        let rows: Vec<(ItemKey, rle::CocoRle, Option<Verdict>)> = self
            .samples
            .iter()
            .map(|s| {
                (
                    s.key.clone(),
                    self.effective_rle(s),
                    self.states.get(&s.key).and_then(|st| st.verdict),
                )
            })
            .collect();
        let job = Box::new(move |ctx: &artemo_engine::worker::JobContext| {
            let n = rv::export(&rows, format, &out, &|| ctx.is_cancelled())?;
            Ok(JobOutput::Text(format!(
                "Exported {n} masks to {}",
                out.display()
            )))
        });
        match shared.engine.submit(Command::Run {
            name: "review: export".into(),
            lane: Lane::Io,
            job,
        }) {
            Ok(id) => {
                self.pending.insert(id, Pending::Export);
            }
            Err(e) => shared.notice(format!("Export failed: {e}"), true),
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

    fn top_bar(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let ctx = ui.ctx().clone();
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Ground truth:").strong());
            if ui
                .button("Artemo regions")
                .on_hover_text("The shipped stimulus regions (assets/annotations/stimuli.json)")
                .clicked()
            {
                if let Some(a) = artemo_engine::find_assets() {
                    let json = a.join("annotations/stimuli.json");
                    self.open_source(shared, GroundTruth::Stimuli { json });
                }
            }
            if ui
                .button("Open APOLO…")
                .on_hover_text("apolo.json with its apolo_pixel_map/ folder")
                .clicked()
            {
                self.dialog(&ctx, DialogFor::Apolo);
            }
            if let Some(s) = &self.source {
                ui.label(RichText::new(s.describe()).small().weak());
            }
            ui.separator();
            ui.menu_button("Export", |ui| {
                let none = self.samples.is_empty();
                for (label, f) in [
                    ("PNG masks (0/255)…", ExportFormat::Png),
                    ("APOLO npy maps…", ExportFormat::ApoloNpy),
                    ("COCO RLE (masks_rle.json)…", ExportFormat::CocoRle),
                ] {
                    if ui.add_enabled(!none, egui::Button::new(label)).clicked() {
                        self.dialog(&ctx, DialogFor::Export(f));
                        ui.close();
                    }
                }
                ui.label(
                    RichText::new(
                        "Rejected items are left out; fixed masks replace the ground truth.",
                    )
                    .small()
                    .weak(),
                );
            });
            if self.busy(Pending::Export) {
                ui.spinner();
            }
        });
        ui.horizontal_wrapped(|ui| {
            match &self.dir {
                None => {
                    ui.label(
                        RichText::new(
                            "Predictions need EmoSEM weights, which are not installed (Models tab, or `artemo models import`); the ground truth is shown alone.",
                        )
                        .italics(),
                    );
                    if ui.small_button("Models tab").clicked() {
                        shared.actions.push(Action::Goto(Tab::Models));
                    }
                }
                Some(d) => {
                    let demo = d.components().any(|c| c.as_os_str() == "demo");
                    ui.label(
                        RichText::new(format!(
                            "predictions: {}{}",
                            artemo_engine::shown_path(d),
                            if demo { " (demo model)" } else { "" }
                        ))
                        .small()
                        .weak(),
                    );
                    if self.pinned.is_some()
                        && ui.small_button("Use the installed weights").clicked()
                    {
                        self.pin(None);
                    }
                    if let Some((f, _)) = &self.progress {
                        ui.add(
                            egui::ProgressBar::new(*f)
                                .desired_width(160.0)
                                .text(format!("predicting {:.0}%", f * 100.0)),
                        );
                    }
                }
            }
            let scored: Vec<f64> = self
                .samples
                .iter()
                .filter_map(|s| self.iou_of(&s.key))
                .collect();
            if !scored.is_empty() {
                let n = scored.len() as f64;
                let pct = |t: f64| 100.0 * scored.iter().filter(|&&v| v >= t).count() as f64 / n;
                ui.separator();
                ui.label(format!(
                    "{} scored · Pr@25 {:.1}% · Pr@50 {:.1}% · mean IoU {:.3}",
                    scored.len(),
                    pct(0.25),
                    pct(0.5),
                    scored.iter().sum::<f64>() / n
                ));
            }
            let done = self.samples.iter().filter(|s| self.states.get(&s.key).is_some_and(|st| st.verdict.is_some())).count();
            ui.separator();
            ui.label(format!("{done}/{} reviewed", self.samples.len()));
        });
        if let Some(s) = &self.status {
            ui.label(RichText::new(s).small());
        }
    }

    fn item_bar(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let n = self.samples.len();
        let s = self.samples[self.cur].clone();
        let title = shared
            .collection
            .and_then(|c| c.paintings.get(s.index))
            .map(|p| p.display_title().to_string())
            .unwrap_or_else(|| s.key.painting.clone());
        ui.horizontal_wrapped(|ui| {
            if ui.button("< Prev").on_hover_text("P").clicked() {
                self.goto(self.cur.saturating_sub(1));
            }
            ui.label(format!("{}/{n}", self.cur + 1));
            if ui.button("Next >").on_hover_text("N").clicked() {
                self.goto((self.cur + 1).min(n - 1));
            }
            if ui.button("Next unreviewed").on_hover_text("U").clicked() {
                if let Some(i) =
                    self.next_where(|s, x| s.states.get(&x.key).and_then(|st| st.verdict).is_none())
                {
                    self.goto(i);
                }
            }
            if ui
                .button("Next failing")
                .on_hover_text("X: next item with IoU < 0.5")
                .clicked()
            {
                if let Some(i) = self.next_where(|s, x| s.iou_of(&x.key).is_some_and(|v| v < 0.5)) {
                    self.goto(i);
                }
            }
            ui.separator();
            ui.label(theme::emotion_text(s.key.emotion));
            ui.label(RichText::new(format!("{title} ({})", s.key.painting)).strong());
        });
        if let Some(u) = &s.utterance {
            ui.label(RichText::new(format!("“{u}”")).italics());
        }
        ui.horizontal_wrapped(|ui| {
            let iou = self.iou_of(&s.key);
            let badge = |ui: &mut egui::Ui, text: String, color: Color32| {
                egui::Frame::new()
                    .fill(color)
                    .corner_radius(3.0)
                    .inner_margin(egui::Margin::symmetric(6, 2))
                    .show(ui, |ui| {
                        ui.label(RichText::new(text).strong().color(Color32::WHITE))
                    });
            };
            match iou {
                Some(v) => {
                    badge(
                        ui,
                        format!("IoU {v:.3}"),
                        if v >= 0.5 {
                            theme::PASS
                        } else if v >= 0.25 {
                            theme::FLAGGED
                        } else {
                            theme::FAIL
                        },
                    );
                    badge(
                        ui,
                        format!("Pr@25 {}", if v >= 0.25 { "pass" } else { "fail" }),
                        if v >= 0.25 { theme::PASS } else { theme::FAIL },
                    );
                    badge(
                        ui,
                        format!("Pr@50 {}", if v >= 0.5 { "pass" } else { "fail" }),
                        if v >= 0.5 { theme::PASS } else { theme::FAIL },
                    );
                }
                None => {
                    let why = if self.dir.is_none() {
                        "no prediction (weights not installed)"
                    } else if self.preds.contains_key(&s.key) {
                        "empty ground truth"
                    } else {
                        "predicting…"
                    };
                    badge(ui, format!("IoU — {why}"), theme::NEUTRAL);
                }
            }
            if let Some(p) = self.preds.get(&s.key) {
                if let Some((_, b)) = p.ious {
                    ui.label(RichText::new(format!("box IoU {b:.3}")).small());
                }
            }
            ui.separator();
            let verdict = self.states.get(&s.key).and_then(|st| st.verdict);
            for (v, label, key) in [
                (Verdict::Accepted, "Accept", "A"),
                (Verdict::Rejected, "Reject", "R"),
                (Verdict::Flagged, "Flag", "G"),
            ] {
                if ui
                    .selectable_label(verdict == Some(v), label)
                    .on_hover_text(key)
                    .clicked()
                {
                    self.set_verdict(shared, v);
                }
            }
            let mut note = self
                .current
                .as_ref()
                .map(|c| c.note.clone())
                .unwrap_or_default();
            let r = ui.add(
                egui::TextEdit::singleline(&mut note)
                    .hint_text("note")
                    .desired_width(220.0),
            );
            if let Some(c) = self.current.as_mut() {
                c.note = note.clone();
            }
            let saved = self
                .states
                .get(&s.key)
                .map(|st| st.note.clone())
                .unwrap_or_default();
            if r.lost_focus() && note != saved {
                self.record(
                    shared,
                    ReviewOp::Note {
                        item: s.key.clone(),
                        note,
                    },
                );
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.layout, Layout::SideBySide, "Side by side");
            if ui
                .selectable_value(&mut self.layout, Layout::Overlay, "Overlay")
                .changed()
            {
                if let Some(c) = self.current.as_mut() {
                    c.pred_tex = None;
                }
            }
            if ui
                .selectable_value(&mut self.layout, Layout::Swipe, "Swipe")
                .changed()
            {
                if let Some(c) = self.current.as_mut() {
                    c.pred_tex = None;
                }
            }
            ui.separator();
            ui.selectable_value(&mut self.tool, Tool::Pan, "Pan");
            ui.selectable_value(&mut self.tool, Tool::Brush, "Brush (B)");
            ui.selectable_value(&mut self.tool, Tool::Eraser, "Eraser (E)");
            ui.add(egui::Slider::new(&mut self.radius, 1.0..=60.0).text("radius px"));
            let (can_undo, can_redo) = self
                .current
                .as_ref()
                .map(|c| (!c.undo.is_empty(), !c.redo.is_empty()))
                .unwrap_or((false, false));
            if ui
                .add_enabled(can_undo, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.undo(shared, false);
            }
            if ui
                .add_enabled(can_redo, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z")
                .clicked()
            {
                self.undo(shared, true);
            }
            let has_pred = self.current.as_ref().is_some_and(|c| c.pred.is_some());
            if ui
                .add_enabled(has_pred, egui::Button::new("Start from prediction"))
                .on_hover_text("Replace the mask under review with the prediction, then fix it")
                .clicked()
            {
                if let Some(c) = self.current.as_mut() {
                    if let Some(p) = c.pred.clone() {
                        let old = std::mem::replace(&mut c.gt, p);
                        c.undo.push(old);
                        c.redo.clear();
                        c.gt_tex = None;
                    }
                }
                self.commit_mask(shared);
            }
            let fixed = self.states.get(&s.key).is_some_and(|st| st.mask.is_some());
            if fixed {
                ui.label(
                    RichText::new("fixed mask")
                        .small()
                        .color(theme::GROUND_TRUTH),
                );
            }
        });
        ui.horizontal(|ui| {
            let (r, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
            ui.painter().rect_filled(r, 2.0, theme::GROUND_TRUTH);
            ui.label(RichText::new("ground truth (under review)").small());
            let (r, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
            ui.painter().rect_filled(r, 2.0, theme::PREDICTION);
            ui.label(
                RichText::new("EmoSEM prediction (APOLO binarisation: min-max, > 0.35)").small(),
            );
        });
    }

    fn canvas(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(s) = self.samples.get(self.cur).cloned() else {
            return;
        };
        let image = self.images.get(&s.index).cloned();
        let Some(c) = &self.current else { return };
        let img = Vec2::new(c.gt.width.max(1) as f32, c.gt.height.max(1) as f32);
        let mut bar = ui.available_rect_before_wrap();
        ui.horizontal(|ui| {
            bar = ui.max_rect();
            zoom_toolbar(ui, &mut self.xf, bar);
        });
        let full = ui.available_rect_before_wrap();
        let panes: Vec<(Rect, bool, bool)> = match self.layout {
            // (rect, shows ground truth, shows prediction)
            Layout::SideBySide => {
                let w = (full.width() - 8.0) / 2.0;
                vec![
                    (
                        Rect::from_min_size(full.min, Vec2::new(w, full.height())),
                        true,
                        false,
                    ),
                    (
                        Rect::from_min_size(
                            full.min + Vec2::new(w + 8.0, 0.0),
                            Vec2::new(w, full.height()),
                        ),
                        false,
                        true,
                    ),
                ]
            }
            _ => vec![(full, true, true)],
        };
        ui.allocate_rect(full, Sense::hover());
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        let mut brushed = false;
        let mut stroke_done = false;
        for (pi, (rect, show_gt, show_pred)) in panes.into_iter().enumerate() {
            let id = ui.make_persistent_id(("review-pane", pi));
            let resp = ui.interact(rect, id, Sense::click_and_drag());
            let painting_tool = self.tool != Tool::Pan && show_gt;
            self.xf
                .interact(ui, &resp, rect, img, !painting_tool, pi == 0);
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
            let irect = self.xf.image_rect(rect, img);
            match &image {
                Some(t) => {
                    painter.image(t.id(), irect, uv, Color32::WHITE);
                }
                None => {
                    painter.text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        "loading the painting…",
                        egui::FontId::proportional(14.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
            let zoom = self.xf_scale();
            let Some(c) = self.current.as_mut() else {
                return;
            };
            let swipe_x = rect.min.x + self.swipe * rect.width();
            if show_gt {
                if let Some(t) = &c.gt_tex {
                    if self.layout == Layout::Swipe {
                        let clip = Rect::from_min_max(rect.min, Pos2::new(swipe_x, rect.max.y));
                        painter
                            .with_clip_rect(clip)
                            .image(t.id(), irect, uv, Color32::WHITE);
                    } else {
                        painter.image(t.id(), irect, uv, Color32::WHITE);
                    }
                }
            }
            if show_pred {
                match &c.pred_tex {
                    Some(t) => {
                        if self.layout == Layout::Swipe {
                            let clip = Rect::from_min_max(Pos2::new(swipe_x, rect.min.y), rect.max);
                            painter
                                .with_clip_rect(clip)
                                .image(t.id(), irect, uv, Color32::WHITE);
                        } else {
                            painter.image(t.id(), irect, uv, Color32::WHITE);
                        }
                    }
                    None if self.layout == Layout::SideBySide => {
                        let msg = if self.dir.is_none() {
                            "Predictions need EmoSEM weights (Models tab)"
                        } else {
                            "predicting…"
                        };
                        painter.text(
                            rect.center_top() + Vec2::new(0.0, 24.0),
                            egui::Align2::CENTER_CENTER,
                            msg,
                            egui::FontId::proportional(15.0),
                            Color32::WHITE,
                        );
                    }
                    None => {}
                }
            }
            let label = match (show_gt, show_pred) {
                (true, false) => "ground truth",
                (false, true) => "prediction",
                _ => "",
            };
            if !label.is_empty() {
                painter.text(
                    rect.left_top() + Vec2::new(8.0, 6.0),
                    egui::Align2::LEFT_TOP,
                    label,
                    egui::FontId::proportional(14.0),
                    Color32::WHITE,
                );
            }
            if self.layout == Layout::Swipe {
                painter.line_segment(
                    [
                        Pos2::new(swipe_x, rect.min.y),
                        Pos2::new(swipe_x, rect.max.y),
                    ],
                    Stroke::new(2.0, Color32::WHITE),
                );
                let handle = Rect::from_center_size(
                    Pos2::new(swipe_x, rect.center().y),
                    Vec2::new(18.0, 48.0),
                );
                painter.rect_filled(handle, 4.0, Color32::WHITE);
                painter.text(
                    rect.left_top() + Vec2::new(8.0, 6.0),
                    egui::Align2::LEFT_TOP,
                    "< ground truth",
                    egui::FontId::proportional(14.0),
                    theme::GROUND_TRUTH,
                );
                painter.text(
                    rect.right_top() + Vec2::new(-8.0, 6.0),
                    egui::Align2::RIGHT_TOP,
                    "prediction >",
                    egui::FontId::proportional(14.0),
                    theme::PREDICTION,
                );
                let h = ui.interact(
                    handle.expand(4.0),
                    ui.make_persistent_id("review-swipe-handle"),
                    Sense::drag(),
                );
                if h.dragged() {
                    if let Some(p) = h.interact_pointer_pos() {
                        self.swipe = ((p.x - rect.min.x) / rect.width()).clamp(0.0, 1.0);
                    }
                }
                if h.hovered() || h.dragged() {
                    ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
                }
            }
            if painting_tool {
                if let Some(pos) = resp.hover_pos() {
                    painter.circle_stroke(
                        pos,
                        self.radius * zoom,
                        Stroke::new(1.5, Color32::WHITE),
                    );
                }
                if resp.drag_started_by(egui::PointerButton::Primary) {
                    c.undo.push(c.gt.clone());
                    if c.undo.len() > UNDO_DEPTH {
                        c.undo.remove(0);
                    }
                    c.redo.clear();
                    c.stroke = None;
                }
                if resp.dragged_by(egui::PointerButton::Primary) {
                    if let Some(pos) = resp.interact_pointer_pos() {
                        let p = self.xf.image_point(rect, pos);
                        let from = c.stroke.unwrap_or(p);
                        paint_line(&mut c.gt, from, p, self.radius, self.tool == Tool::Brush);
                        c.stroke = Some(p);
                        brushed = true;
                    }
                }
                if resp.drag_stopped() && c.stroke.is_some() {
                    c.stroke = None;
                    stroke_done = true;
                }
            }
        }
        if brushed {
            if let Some(c) = self.current.as_mut() {
                let im = mask_image(&c.gt, theme::GROUND_TRUTH, false);
                match &mut c.gt_tex {
                    Some(t) => t.set(im, PIXEL_TEXTURE),
                    None => c.gt_tex = Some(ui.ctx().load_texture("review-gt", im, PIXEL_TEXTURE)),
                }
            }
            self.live_update();
        }
        if stroke_done {
            self.commit_mask(shared);
        }
    }

    fn xf_scale(&self) -> f32 {
        self.xf.zoom_percent() / 100.0
    }
}

/// Paints (or erases) a disc of `radius` pixels along the segment `a`-`b` (image pixels).
fn paint_line(m: &mut Mask, a: Pos2, b: Pos2, radius: f32, on: bool) {
    let steps = ((b - a).length() / (radius * 0.5).max(0.5)).ceil().max(1.0) as usize;
    for k in 0..=steps {
        let p = a + (b - a) * (k as f32 / steps as f32);
        let (x0, x1) = (
            (p.x - radius).floor().max(0.0) as usize,
            (p.x + radius).ceil().max(0.0) as usize,
        );
        let (y0, y1) = (
            (p.y - radius).floor().max(0.0) as usize,
            (p.y + radius).ceil().max(0.0) as usize,
        );
        for y in y0..y1.min(m.height) {
            for x in x0..x1.min(m.width) {
                let d = Vec2::new(x as f32 + 0.5 - p.x, y as f32 + 0.5 - p.y);
                if d.length() <= radius {
                    m.set(x, y, on);
                }
            }
        }
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
        self.pending.contains_key(&job)
    }

    fn on_event(
        &mut self,
        ctx: &egui::Context,
        job: JobId,
        kind: EventKind,
        actions: &mut Vec<Action>,
    ) {
        let Some(what) = self.pending.get(&job).copied() else {
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
                self.pending.remove(&job);
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
                self.pending.remove(&job);
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
            EventKind::Cancelled => {
                self.pending.remove(&job);
                if what == Pending::Predictions {
                    self.progress = None;
                }
            }
            _ => {}
        }
    }
}
