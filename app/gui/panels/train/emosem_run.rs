//! The Train tab's EmoSEM parts: the form (regions from Artemo's annotations or an APOLO
//! root, a new Single-Mask / Multi-Masks model or a checkpoint, the paper's
//! hyper-parameters as editable defaults) and the run view (mask and explanation loss
//! curves, validation IoU / Pr@25 / Pr@50, the probe paintings' regenerated masks drawn
//! over their thumbnails with the ground truth's outline, and the kept checkpoints). The
//! session itself is `artemo_engine::emosem::session::session_job`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use artemo_engine::emosem::session::{
    EmosemInit, EmosemSessionConfig, MaskBestBy, MaskEval, MaskPrepared, MaskProbe,
    MaskSessionEvent, MaskStep,
};
use artemo_engine::emosem::train::TrainConfig;
use artemo_engine::emosem::Paradigm;
use artemo_engine::kit::emosem::KitEmosemConfig;
use artemo_engine::train::session::CheckpointInfo;
use egui::{Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::gui::state::{Action, Shared};
use crate::gui::theme;
use crate::gui::widgets::table::{sortable_table, Col, Key};

/// Where EmoSEM's regions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskData {
    /// Artemo's stimulus regions on the shipped paintings.
    Shipped,
    /// An APOLO root over the open collection.
    Apolo,
}

/// Where the EmoSEM model starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskModel {
    /// A new small model over the demo kit's tower.
    Scratch,
    /// A checkpoint folder.
    Checkpoint,
}

/// The EmoSEM form.
#[derive(Debug, Clone)]
pub struct MaskForm {
    /// Data source.
    pub data: MaskData,
    /// `apolo.json` (when `data` is `Apolo`).
    pub apolo_json: String,
    /// The maps' folder (empty: `apolo_pixel_map/` beside the JSON).
    pub apolo_maps: String,
    /// Model start.
    pub model: MaskModel,
    /// Checkpoint folder.
    pub checkpoint: String,
    /// New model's paradigm.
    pub paradigm: Paradigm,
    /// New model's explainer width.
    pub explainer_width: usize,
    /// New model's explainer layers.
    pub explainer_layers: usize,
    /// Training hyper-parameters.
    pub train: TrainConfig,
    /// The mask side's learning rate (None in `train`: the paper's, per paradigm).
    pub lr_mask: f64,
    /// Evaluate every this many steps.
    pub eval_every: usize,
    /// Probe paintings shown.
    pub probes: usize,
    /// Checkpoints kept.
    pub keep: usize,
    /// Metric ranking checkpoints.
    pub best_by: MaskBestBy,
    /// Paintings at most (0: all).
    pub max_paintings: usize,
    /// Output folder.
    pub out: String,
}

/// The paper's mask-side learning rate: 1e-4 (Single-Mask), 8e-5 (Multi-Masks).
pub fn paper_lr_mask(p: Paradigm) -> f64 {
    match p {
        Paradigm::Single => 1e-4,
        Paradigm::Multi => 8e-5,
    }
}

impl MaskForm {
    /// The paper's hyper-parameters, starting from `checkpoint` when given.
    pub fn paper(checkpoint: Option<&Path>, out: &Path) -> Self {
        let kit = KitEmosemConfig::full(2026);
        MaskForm {
            data: MaskData::Shipped,
            apolo_json: String::new(),
            apolo_maps: String::new(),
            model: if checkpoint.is_some() {
                MaskModel::Checkpoint
            } else {
                MaskModel::Scratch
            },
            checkpoint: checkpoint
                .map(artemo_engine::shown_path)
                .unwrap_or_default(),
            paradigm: Paradigm::Multi,
            explainer_width: kit.explainer_width,
            explainer_layers: kit.explainer_layers,
            train: TrainConfig::default(),
            lr_mask: paper_lr_mask(Paradigm::Multi),
            eval_every: 50,
            probes: 3,
            keep: 3,
            best_by: MaskBestBy::MeanIou,
            max_paintings: 0,
            out: artemo_engine::shown_path(out),
        }
    }

    /// The demo kit's CPU recipe (`KitEmosemConfig::full`).
    pub fn cpu_recipe(&mut self) {
        let kit = KitEmosemConfig::full(self.train.seed);
        self.train.steps = kit.steps;
        self.train.batch_images = kit.batch_images;
        self.train.lr_explainer = kit.lr_explainer;
        self.train.warmup = kit.warmup;
        self.train.lm_weight = kit.lm_weight;
        self.lr_mask = kit.lr_mask;
        self.explainer_width = kit.explainer_width;
        self.explainer_layers = kit.explainer_layers;
        self.eval_every = 25;
    }

    /// The paper's values (the seed kept).
    pub fn paper_values(&mut self) {
        let seed = self.train.seed;
        self.train = TrainConfig {
            seed,
            ..Default::default()
        };
        self.lr_mask = paper_lr_mask(self.paradigm);
        self.eval_every = 50;
    }

    /// The checkpoint folder as typed (`assets/...`, `~/...` resolved).
    pub fn checkpoint_dir(&self) -> PathBuf {
        artemo_engine::resolve_shown(self.checkpoint.trim())
    }

    /// The output folder as typed.
    pub fn out_dir(&self) -> PathBuf {
        artemo_engine::resolve_shown(self.out.trim())
    }

    /// The session configuration.
    pub fn session(&self) -> EmosemSessionConfig {
        EmosemSessionConfig {
            train: TrainConfig {
                lr_mask: Some(self.lr_mask),
                ..self.train.clone()
            },
            init: match self.model {
                MaskModel::Scratch => EmosemInit::Scratch {
                    paradigm: self.paradigm,
                    explainer_width: self.explainer_width,
                    explainer_layers: self.explainer_layers,
                },
                MaskModel::Checkpoint => EmosemInit::Checkpoint(self.checkpoint_dir()),
            },
            out: self.out_dir(),
            eval_every: self.eval_every,
            probes: self.probes,
            keep: self.keep,
            best_by: self.best_by,
            max_paintings: self.max_paintings,
        }
    }

    /// Why the model part of the form cannot start (None: it can).
    pub fn model_blocker(&self, tower: bool, models: &Path) -> Option<String> {
        match self.model {
            MaskModel::Scratch if !tower => Some(format!(
                "a new EmoSEM needs the demo kit's image tower ({}): run `artemo train --preset demo`",
                artemo_engine::shown_path(&models.join("demo/pacl"))
            )),
            MaskModel::Scratch if self.explainer_width < 8 || !self.explainer_width.is_multiple_of(2) => {
                Some("the explainer width must be even and at least 8".into())
            }
            MaskModel::Checkpoint => {
                let d = self.checkpoint_dir();
                (!d.join("config.json").is_file() || !d.join("model.safetensors").is_file())
                    .then(|| {
                        format!(
                            "{}: not an EmoSEM folder (config.json + model.safetensors)",
                            self.checkpoint.trim()
                        )
                    })
            }
            _ => None,
        }
    }

    /// Why the APOLO choice cannot start (None: it can).
    pub fn apolo_blocker(&self, collection_open: bool) -> Option<String> {
        if self.data != MaskData::Apolo {
            return None;
        }
        if !collection_open {
            return Some("open the collection holding APOLO's paintings".into());
        }
        let json = artemo_engine::resolve_shown(self.apolo_json.trim());
        if self.apolo_json.trim().is_empty() {
            return Some("choose APOLO's apolo.json".into());
        }
        if !json.is_file() {
            return Some(format!("{}: no such file", self.apolo_json.trim()));
        }
        let maps = self.apolo_maps_dir().unwrap_or_else(|| {
            json.parent()
                .unwrap_or_else(|| Path::new("."))
                .join("apolo_pixel_map")
        });
        if !maps.is_dir() {
            return Some(format!(
                "{}: no folder of maps (APOLO's apolo_pixel_map/)",
                artemo_engine::shown_path(&maps)
            ));
        }
        None
    }

    /// The maps' folder when one was typed.
    pub fn apolo_maps_dir(&self) -> Option<PathBuf> {
        let s = self.apolo_maps.trim();
        (!s.is_empty()).then(|| artemo_engine::resolve_shown(s))
    }
}

/// What an EmoSEM run has streamed so far, and the probe textures drawn from it.
#[derive(Default)]
pub struct MaskRun {
    /// Set up.
    pub prepared: Option<MaskPrepared>,
    /// Steps.
    pub steps: Vec<MaskStep>,
    /// Evaluations.
    pub evals: Vec<MaskEval>,
    /// Kept checkpoints.
    pub checkpoints: Vec<CheckpointInfo>,
    textures: HashMap<(usize, usize), egui::TextureHandle>,
}

impl MaskRun {
    /// Clears everything for a new run.
    pub fn clear(&mut self) {
        *self = MaskRun::default();
    }

    /// Takes one event.
    pub fn on_event(&mut self, ev: MaskSessionEvent) -> Option<f64> {
        match ev {
            MaskSessionEvent::Prepared(p) => self.prepared = Some(p),
            MaskSessionEvent::Step(s) => {
                let eta = s.eta_s;
                self.steps.push(s);
                return Some(eta);
            }
            MaskSessionEvent::Eval(e) => {
                self.evals.push(e);
                // Only the latest evaluation's overlays are shown.
                self.textures.clear();
            }
            MaskSessionEvent::Checkpoints(c) => self.checkpoints = c,
        }
        None
    }

    fn metric_points(&self, key: &str, scale: f64) -> Vec<[f64; 2]> {
        self.evals
            .iter()
            .filter_map(|e| e.metrics.get(key).map(|v| [e.step as f64, *v * scale]))
            .collect()
    }

    /// The one-line description of the prepared run.
    pub fn prepared_ui(&self, ui: &mut egui::Ui) {
        let Some(p) = &self.prepared else { return };
        ui.label(
            RichText::new(format!(
                "{} · {} · {} training paintings ({} regions), {} validation paintings ({} regions) · {} trainable parameters{}",
                p.model,
                p.source,
                p.train.0,
                p.train.1,
                p.val.0,
                p.val.1,
                p.parameters,
                if p.explains { "" } else { " · masks only (no explanations in the data)" }
            ))
            .small(),
        );
        for n in &p.notes {
            ui.label(RichText::new(n).small().weak());
        }
    }

    /// Loss and metric curves.
    pub fn curves(&self, ui: &mut egui::Ui) {
        let h = 190.0;
        let w = ((ui.available_width() - 16.0) / 3.0).max(160.0);
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(w);
                ui.label(RichText::new("Training loss").strong());
                let mask: Vec<[f64; 2]> = self
                    .steps
                    .iter()
                    .map(|s| [s.progress.step as f64, s.progress.mask_loss as f64])
                    .collect();
                let lm: Vec<[f64; 2]> = self
                    .steps
                    .iter()
                    .filter(|s| s.progress.lm_loss > 0.0)
                    .map(|s| [s.progress.step as f64, s.progress.lm_loss as f64])
                    .collect();
                Plot::new("mask-train-loss")
                    .height(h)
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .allow_scroll(false)
                    .show(ui, |p| {
                        p.line(
                            Line::new("mask (Dice + Focal)", PlotPoints::from(mask))
                                .color(theme::CURVES[0]),
                        );
                        if !lm.is_empty() {
                            p.line(
                                Line::new("explanation", PlotPoints::from(lm))
                                    .color(theme::CURVES[1]),
                            );
                        }
                    });
            });
            let plot = |ui: &mut egui::Ui,
                        id: &str,
                        title: &str,
                        series: &[(&str, &str, f64, Color32)],
                        zero: bool| {
                ui.vertical(|ui| {
                    ui.set_width(w);
                    ui.label(RichText::new(title).strong());
                    let mut pl = Plot::new(id)
                        .height(h)
                        .legend(Legend::default())
                        .x_axis_label("step")
                        .allow_scroll(false);
                    if zero {
                        pl = pl.include_y(0.0);
                    }
                    pl.show(ui, |p| {
                        for (key, label, scale, c) in series {
                            let pts = self.metric_points(key, *scale);
                            if !pts.is_empty() {
                                p.line(Line::new(*label, PlotPoints::from(pts.clone())).color(*c));
                                p.points(
                                    Points::new(*label, PlotPoints::from(pts))
                                        .color(*c)
                                        .radius(3.0),
                                );
                            }
                        }
                    });
                });
            };
            plot(
                ui,
                "mask-val-loss",
                "Validation loss",
                &[
                    ("val mask loss", "mask", 1.0, theme::CURVES[0]),
                    ("val explanation loss", "explanation", 1.0, theme::CURVES[1]),
                ],
                false,
            );
            plot(
                ui,
                "mask-val-iou",
                "Segmentation (validation, APOLO's rule)",
                &[
                    ("mean IoU", "mean IoU", 1.0, theme::CURVES[0]),
                    ("Pr@25", "Pr@25 / 100", 0.01, theme::CURVES[1]),
                    ("Pr@50", "Pr@50 / 100", 0.01, theme::CURVES[2]),
                ],
                true,
            );
        });
    }

    /// The probe paintings: the latest predicted mask over the thumbnail (the ground
    /// truth outlined), IoU now and before, the explanation.
    pub fn probes_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(prep) = &self.prepared else { return };
        ui.label(
            RichText::new("Probe paintings (validation), masks and explanations regenerated at every evaluation")
                .strong(),
        );
        let Some(last) = self.evals.last() else {
            ui.label(RichText::new("after the first evaluation").weak());
            for (id, _) in &prep.probes {
                ui.label(id);
            }
            return;
        };
        let prev: Vec<MaskProbe> = self
            .evals
            .len()
            .checked_sub(2)
            .and_then(|i| self.evals.get(i))
            .map(|e| e.probes.clone())
            .unwrap_or_default();
        let step = last.step;
        let probes = last.probes.clone();
        ui.label(
            RichText::new(format!(
                "step {step}: the predicted map in the emotion's colour (min-max normalised, as APOLO's IoU reads it), the ground truth outlined in white"
            ))
            .small()
            .weak(),
        );
        let before = |q: &MaskProbe| {
            prev.iter()
                .find(|p| p.painting == q.painting && p.emotion == q.emotion)
                .and_then(|p| p.iou)
        };
        sortable_table(
            ui,
            "mask-probes",
            &[
                Col::new("painting", 120.0),
                Col::new("emotion", 100.0),
                Col::new("IoU", 90.0),
                Col::rest("explanation"),
            ],
            probes.len(),
            116.0,
            |r, c| {
                let q = &probes[r];
                match c {
                    0 => Key::text(&q.painting),
                    1 => Key::text(q.emotion.name()),
                    2 => Key::num(q.iou),
                    _ => Key::text(&q.explanation),
                }
            },
            |ui, r, c| {
                let q = &probes[r];
                match c {
                    0 => {
                        ui.vertical(|ui| {
                            self.overlay(ui, shared, step, r, q);
                            ui.label(RichText::new(&q.painting).small());
                        });
                    }
                    1 => {
                        ui.label(theme::emotion_text(q.emotion));
                    }
                    2 => {
                        ui.vertical(|ui| {
                            ui.label(q.iou.map(|v| format!("{v:.3}")).unwrap_or("—".into()));
                            if let Some(b) = before(q) {
                                ui.label(RichText::new(format!("before {b:.3}")).small().weak());
                            }
                        });
                    }
                    _ => {
                        ui.horizontal_wrapped(|ui| {
                            if q.explanation.is_empty() {
                                ui.label(RichText::new("(empty)").weak());
                            } else {
                                ui.add(egui::Label::new(&q.explanation).wrap());
                            }
                        });
                    }
                }
            },
        );
    }

    fn overlay(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        step: usize,
        k: usize,
        q: &MaskProbe,
    ) {
        let index = shared
            .collection
            .and_then(|c| c.paintings.iter().position(|p| p.id == q.painting));
        let thumb = index.and_then(|i| {
            let t = shared.thumbs.get(&i).cloned();
            if t.is_none() {
                shared.actions.push(Action::WantThumb(i));
            }
            t
        });
        let side = 96.0;
        let size = match &thumb {
            Some(t) => {
                let s = t.size_vec2();
                s * (side / s.x.max(s.y))
            }
            None => egui::vec2(side, side),
        };
        let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
        let painter = ui.painter_at(rect);
        let full = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        match &thumb {
            Some(t) => painter.image(t.id(), rect, full, Color32::WHITE),
            None => painter.rect_filled(rect, 2.0, theme::EMPTY_SLOT),
        };
        let tex = self.textures.entry((step, k)).or_insert_with(|| {
            ui.ctx().load_texture(
                format!("mask-probe-{step}-{k}"),
                probe_image(q),
                egui::TextureOptions::NEAREST,
            )
        });
        // The map's frame: the image covers its top-left `content` share.
        let (ch, cw) = q.content;
        let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(cw, ch));
        painter.image(tex.id(), rect, uv, Color32::WHITE);
    }

    /// The kept checkpoints.
    pub fn checkpoints_ui(&self, ui: &mut egui::Ui, metric: &str, actions: &mut Vec<Action>) {
        checkpoint_table(
            ui,
            "mask-ckpt",
            &self.checkpoints,
            metric,
            &[("mean IoU", 3), ("Pr@25", 1), ("val mask loss", 4)],
            true,
            actions,
        );
    }
}

/// The kept checkpoints of a session (the best marked) with the `columns` metrics
/// (name, decimals) and a button that uses each in the Painting tab (`masks`: an EmoSEM
/// checkpoint, also in Review; else SEVLM).
pub fn checkpoint_table(
    ui: &mut egui::Ui,
    id: &str,
    checkpoints: &[CheckpointInfo],
    metric: &str,
    columns: &[(&str, usize)],
    masks: bool,
    actions: &mut Vec<Action>,
) {
    ui.label(RichText::new("Checkpoints").strong());
    if checkpoints.is_empty() {
        ui.label(RichText::new("saved at every evaluation; the best are kept").weak());
        return;
    }
    let mut cols = vec![
        Col::new("best", 120.0),
        Col::new("step", 56.0),
        Col::new("epoch", 50.0),
    ];
    cols.extend(columns.iter().map(|(name, _)| Col::new(name, 80.0)));
    cols.push(Col::new("folder", 310.0));
    cols.push(Col::rest("").fixed());
    let n = columns.len();
    sortable_table(
        ui,
        id,
        &cols,
        checkpoints.len(),
        22.0,
        |r, c| {
            let ck = &checkpoints[r];
            match c {
                0 => Key::Num(if ck.best { 0.0 } else { 1.0 }),
                1 => Key::Num(ck.step as f64),
                2 => Key::Num(ck.epoch as f64),
                c if c < 3 + n => Key::num(ck.metrics.get(columns[c - 3].0).copied()),
                c if c == 3 + n => Key::text(artemo_engine::shown_path(&ck.dir)),
                _ => Key::Empty,
            }
        },
        |ui, r, c| {
            let ck = &checkpoints[r];
            match c {
                0 => {
                    if ck.best {
                        ui.label(
                            RichText::new(format!("best ({metric})"))
                                .color(theme::OK)
                                .strong(),
                        );
                    }
                }
                1 => {
                    ui.label(ck.step.to_string());
                }
                2 => {
                    ui.label(ck.epoch.to_string());
                }
                c if c < 3 + n => {
                    let (k, d) = columns[c - 3];
                    ui.label(
                        ck.metrics
                            .get(k)
                            .map(|v| format!("{v:.d$}"))
                            .unwrap_or("—".into()),
                    );
                }
                c if c == 3 + n => {
                    ui.label(
                        RichText::new(artemo_engine::shown_path(&ck.dir))
                            .small()
                            .monospace(),
                    );
                }
                _ => {
                    let hover = if masks {
                        "show this checkpoint's masks in the Painting tab (and its predictions in Review)"
                    } else {
                        "explain paintings with this checkpoint in the Painting tab"
                    };
                    if ui
                        .small_button("Use in Painting tab")
                        .on_hover_text(hover)
                        .clicked()
                    {
                        actions.push(Action::UseCheckpoint {
                            masks,
                            dir: ck.dir.clone(),
                        });
                    }
                }
            }
        },
    );
}

/// The probe's overlay: the min-max normalised probability in the emotion's colour
/// (alpha), the ground truth's boundary in white.
fn probe_image(q: &MaskProbe) -> egui::ColorImage {
    let s = q.side.max(1);
    let [r, g, b] = q.emotion.color();
    let on = |x: usize, y: usize| q.truth.get(y * s + x).copied().unwrap_or(0.0) >= 0.5;
    // Min-max normalised, as APOLO's rule scores it (> 0.35 counts as the mask).
    let (lo, hi) = q
        .map
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut px = Vec::with_capacity(s * s);
    for y in 0..s {
        for x in 0..s {
            let edge = on(x, y)
                && (x == 0
                    || y == 0
                    || x + 1 == s
                    || y + 1 == s
                    || !on(x - 1, y)
                    || !on(x + 1, y)
                    || !on(x, y - 1)
                    || !on(x, y + 1));
            if edge {
                px.push(Color32::WHITE);
            } else {
                let v = q.map.get(y * s + x).copied().unwrap_or(lo);
                let p = ((v - lo) / span).clamp(0.0, 1.0);
                px.push(Color32::from_rgba_unmultiplied(r, g, b, (p * 220.0) as u8));
            }
        }
    }
    egui::ColorImage::new([s, s], px)
}

// Paul Tol's bright scheme (colour-blind safe).
