//! The Review tab's bars: the top bar (ground-truth source, model, layout, export, session)
//! and the item bar (the region's painting and emotion, IoU and Pr badges, verdicts, brush
//! and eraser, undo, navigation).

use super::*;

impl Review {
    pub(super) fn top_bar(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
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
            match &self.weights.dir {
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
                    if self.weights.pinned.is_some()
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

    /// The item bar: navigation, the region's emotion and painting, its utterance, then
    /// the judging, tools and colour key rows.
    pub(super) fn item_bar(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
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
        self.judge_row(ui, shared, &s);
        self.tools_row(ui, shared, &s);
        legend_row(ui);
    }

    /// IoU and Pr badges, the verdict buttons and the note.
    fn judge_row(&mut self, ui: &mut egui::Ui, shared: &mut Shared, s: &ReviewSample) {
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
                    let why = if self.weights.dir.is_none() {
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
    }

    /// Layout, tools (pan, brush, eraser, radius), undo/redo, start from the prediction.
    fn tools_row(&mut self, ui: &mut egui::Ui, shared: &mut Shared, s: &ReviewSample) {
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
    }
}

/// The colour key of the ground truth and the prediction.
fn legend_row(ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        let (r, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
        ui.painter().rect_filled(r, 2.0, theme::GROUND_TRUTH);
        ui.label(RichText::new("ground truth (under review)").small());
        let (r, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
        ui.painter().rect_filled(r, 2.0, theme::PREDICTION);
        ui.label(RichText::new("EmoSEM prediction (APOLO binarisation: min-max, > 0.35)").small());
    });
}
