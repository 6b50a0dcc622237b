//! The Train tab's EmoSEM run view: what the session streamed (set-up, steps,
//! evaluations, checkpoints), mask and explanation loss curves, validation IoU / Pr@25 /
//! Pr@50, the probe paintings' regenerated masks drawn over their thumbnails with the
//! ground truth's outline, and the kept checkpoints.

use std::collections::HashMap;

use artemo_engine::train::events::{DataCounts, RegionProbe, TrainEvent};
use artemo_engine::train::Metric;
use egui::{Color32, RichText};

use super::curves::{self, Curve};
use super::run_log::RunLog;
use super::run_view::{checkpoint_table, probe_thumb, CheckpointUse};
use crate::gui::state::{Action, Shared};
use crate::gui::theme;
use crate::gui::widgets::table::{sortable_table, Col, Key};

/// What an EmoSEM run has streamed so far, and the probe textures drawn from it.
#[derive(Default)]
pub struct MaskRun {
    /// What the session streamed.
    pub log: RunLog,
    textures: HashMap<(usize, usize), egui::TextureHandle>,
}

impl MaskRun {
    /// Clears everything for a new run.
    pub fn clear(&mut self) {
        *self = MaskRun::default();
    }

    /// Takes one event (the end, [`TrainEvent::Finished`], is the tab's); returns the
    /// ETA a step brings.
    pub fn on_event(&mut self, ev: TrainEvent) -> Option<f64> {
        if matches!(ev, TrainEvent::Eval(_)) {
            // Only the latest evaluation's overlays are shown.
            self.textures.clear();
        }
        self.log.on_event(ev)
    }

    /// The one-line description of the prepared run.
    pub fn prepared_ui(&self, ui: &mut egui::Ui) {
        let Some(p) = &self.log.prepared else { return };
        if let DataCounts::Regions {
            train,
            val,
            explains,
        } = p.data
        {
            ui.label(
                RichText::new(format!(
                    "{} · {} · {} training paintings ({} regions), {} validation paintings ({} regions) · {} trainable parameters{}",
                    p.model,
                    p.source,
                    train.0,
                    train.1,
                    val.0,
                    val.1,
                    p.parameters,
                    if explains { "" } else { " · masks only (no explanations in the data)" }
                ))
                .small(),
            );
        }
        for n in &p.notes {
            ui.label(RichText::new(n).small().weak());
        }
    }

    /// Loss and metric curves.
    pub fn curves(&self, ui: &mut egui::Ui) {
        let c = theme::CURVES;
        let mask = curves::step_points(&self.log.steps, Metric::MaskLoss);
        let lm = curves::step_points(&self.log.steps, Metric::ExplanationLoss);
        let points = |m: Metric, scale: f64| curves::eval_points(&self.log.evals, m, scale);
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
                (Metric::ValMaskLoss, "mask", 1.0, c[0]),
                (Metric::ValExplanationLoss, "explanation", 1.0, c[1]),
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
                (Metric::MeanIou, "mean IoU", 1.0, c[0]),
                (Metric::Pr25, "Pr@25 / 100", 0.01, c[1]),
                (Metric::Pr50, "Pr@50 / 100", 0.01, c[2]),
            ];
            let title = "Segmentation (validation, APOLO's rule)";
            curves::metrics(ui, size, "mask-val-iou", title, &seg, true, points);
        });
    }

    /// The probe paintings: the latest predicted mask over the thumbnail (the ground
    /// truth outlined), IoU now and before, the explanation.
    pub fn probes_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(prep) = &self.log.prepared else {
            return;
        };
        ui.label(
            RichText::new("Probe paintings (validation), masks and explanations regenerated at every evaluation")
                .strong(),
        );
        let Some(last) = self.log.evals.last() else {
            ui.label(RichText::new("after the first evaluation").weak());
            for p in &prep.probes {
                ui.label(&p.id);
            }
            return;
        };
        let prev: Vec<RegionProbe> = self
            .log
            .evals
            .len()
            .checked_sub(2)
            .and_then(|i| self.log.evals.get(i))
            .map(|e| e.regions().cloned().collect())
            .unwrap_or_default();
        let step = last.step;
        let probes: Vec<RegionProbe> = last.regions().cloned().collect();
        ui.label(
            RichText::new(format!(
                "step {step}: the predicted map in the emotion's colour (min-max normalised, as APOLO's IoU reads it), the ground truth outlined in white"
            ))
            .small()
            .weak(),
        );
        let before = |q: &RegionProbe| {
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
        q: &RegionProbe,
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
            &self.log.checkpoints,
            metric,
            &[
                (Metric::MeanIou, 3),
                (Metric::Pr25, 1),
                (Metric::ValMaskLoss, 4),
            ],
            CheckpointUse::Masks,
            actions,
        );
    }
}

/// The probe's overlay: the min-max normalised probability in the emotion's colour
/// (alpha), the ground truth's boundary in white.
fn probe_image(q: &RegionProbe) -> egui::ColorImage {
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
