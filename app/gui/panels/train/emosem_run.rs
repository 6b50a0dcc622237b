//! The Train tab's EmoSEM run view: what the session streamed (set-up, steps,
//! evaluations, checkpoints), mask and explanation loss curves, validation IoU / Pr@25 /
//! Pr@50, the probe paintings' regenerated masks drawn over their thumbnails with the
//! ground truth's outline, and the kept checkpoints.

use std::collections::HashMap;

use artemo_engine::emosem::session::{
    MaskEval, MaskPrepared, MaskProbe, MaskSessionEvent, MaskStep,
};
use artemo_engine::train::session::CheckpointInfo;
use egui::{Color32, RichText};

use super::curves::{self, Curve};
use super::run_view::{checkpoint_table, probe_thumb};
use crate::gui::state::{Action, Shared};
use crate::gui::theme;
use crate::gui::widgets::table::{sortable_table, Col, Key};

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
        let c = theme::CURVES;
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
        let points = |key: &str, scale| self.metric_points(key, scale);
        curves::row(ui, |ui, size| {
            let loss = vec![
                Curve {
                    name: "mask (Dice + Focal)",
                    points: mask,
                    color: c[0],
                    always: true,
                },
                Curve {
                    name: "explanation",
                    points: lm,
                    color: c[1],
                    always: false,
                },
            ];
            curves::lines(ui, size, "mask-train-loss", "Training loss", loss);
            let val = [
                ("val mask loss", "mask", 1.0, c[0]),
                ("val explanation loss", "explanation", 1.0, c[1]),
            ];
            curves::metrics(
                ui,
                size,
                "mask-val-loss",
                "Validation loss",
                &val,
                false,
                points,
            );
            let seg = [
                ("mean IoU", "mean IoU", 1.0, c[0]),
                ("Pr@25", "Pr@25 / 100", 0.01, c[1]),
                ("Pr@50", "Pr@50 / 100", 0.01, c[2]),
            ];
            let title = "Segmentation (validation, APOLO's rule)";
            curves::metrics(ui, size, "mask-val-iou", title, &seg, true, points);
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
        let thumb = probe_thumb(shared, &q.painting).and_then(|i| i.ok());
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
