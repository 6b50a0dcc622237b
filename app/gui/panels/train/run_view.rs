//! The Train tab's run view: Start / Pause / Resume / Stop, progress with ETA, and the
//! running or last session: SEVLM's set-up line, curves (`curves.rs`), probe paintings
//! regenerated at every evaluation and kept checkpoints (best marked); EmoSEM's parts are
//! in `emosem_run.rs`. The checkpoint table is shared by both.

use artemo_engine::emotion::Emotion;
use artemo_engine::train::events::{DataCounts, EvalRecord, ProbePainting};
use artemo_engine::train::session::CheckpointInfo;
use artemo_engine::train::Metric;
use egui::RichText;

use super::curves::{self, Curve};
use super::{State, TrainPanel, Trainee};
use crate::gui::state::{Action, Shared};
use crate::gui::theme;
use crate::gui::widgets::table::{sortable_table, Col, Key};

impl TrainPanel {
    pub(super) fn run_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let blocker = self.blocker(shared);
        ui.horizontal(|ui| {
            let can_start = blocker.is_none();
            let start = ui.add_enabled(
                can_start,
                egui::Button::new(RichText::new("Start").strong()),
            );
            if start.clicked() {
                self.start(shared);
            }
            if self.running() {
                if self.control.is_paused() {
                    if ui.button("Resume").clicked() {
                        self.control.resume();
                    }
                } else if ui
                    .add_enabled(!self.control.is_stopping(), egui::Button::new("Pause"))
                    .on_hover_text("waits before the next step")
                    .clicked()
                {
                    self.control.pause();
                }
                if ui
                    .add_enabled(!self.control.is_stopping(), egui::Button::new("Stop"))
                    .on_hover_text("finishes the current step, evaluates and saves a checkpoint")
                    .clicked()
                {
                    self.control.stop();
                }
            }
            if !self.running() {
                if let Some(why) = &blocker {
                    // Long refusals (missing weights with their commands) wrap at the
                    // window's edge instead of running off it.
                    ui.add(
                        egui::Label::new(RichText::new(why).color(theme::ERROR))
                            .wrap_mode(egui::TextWrapMode::Wrap),
                    );
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(theme::ERROR, e);
        }
        if self.running() || self.state == State::Finished {
            let mut text = self.status.clone();
            if self.running() && self.control.is_paused() {
                text = format!("paused · {text}");
            } else if self.running() && self.control.is_stopping() {
                text = format!("stopping · {text}");
            }
            if let (true, Some(eta)) = (self.running() && !self.control.is_paused(), self.eta) {
                text.push_str(&format!(" · ETA {}", duration(eta)));
            }
            ui.add(egui::ProgressBar::new(self.fraction).text(text));
            if self.running() {
                ui.label(
                    RichText::new(
                        "Other model work (explanations, masks) waits while training runs.",
                    )
                    .small()
                    .weak(),
                );
            }
        }
        if self.run_kind == Trainee::Pacl && self.state != State::Idle {
            self.pacl.prepared_ui(ui);
            ui.add_space(6.0);
            self.pacl.curves(ui);
            ui.add_space(6.0);
            self.pacl.checkpoints_ui(ui, shared.actions);
            self.summary_ui(ui);
            return;
        }
        if self.run_kind == Trainee::Emosem && self.state != State::Idle {
            self.mask.prepared_ui(ui);
            ui.add_space(6.0);
            self.mask.curves(ui);
            ui.add_space(6.0);
            self.mask.probes_ui(ui, shared);
            ui.add_space(6.0);
            self.mask
                .checkpoints_ui(ui, self.mask_form.settings.best_by.name(), shared.actions);
            self.summary_ui(ui);
            return;
        }
        if let Some(p) = &self.sevlm.prepared {
            if let DataCounts::Captions {
                train_pairs,
                val_sequences,
                eval_paintings,
                skipped,
            } = p.data
            {
                ui.label(
                    RichText::new(format!(
                        "{} · {} · {} training items per epoch, {} validation responses ({} paintings generated) · {} parameters{}",
                        p.model,
                        p.source,
                        train_pairs,
                        val_sequences,
                        eval_paintings,
                        p.parameters,
                        if skipped > 0 {
                            format!(" · {skipped} responses skipped (no image or words outside the vocabulary)")
                        } else {
                            String::new()
                        }
                    ))
                    .small(),
                );
            }
            // The lexicon in use, and a mismatch with the checkpoint's, never silent.
            for n in &p.notes {
                if n.starts_with("lexicon mismatch") {
                    ui.colored_label(theme::ERROR, RichText::new(n).small());
                } else {
                    ui.label(RichText::new(n).small().weak());
                }
            }
        }
        if self.state == State::Idle {
            ui.add_space(12.0);
            ui.label("Choose data, a model and hyper-parameters on the left, then Start. Curves, probe paintings and checkpoints appear here as the session runs.");
            return;
        }
        ui.add_space(6.0);
        self.curves(ui);
        ui.add_space(6.0);
        self.probes_ui(ui, shared);
        ui.add_space(6.0);
        self.checkpoints_ui(ui, shared.actions);
    }

    fn curves(&self, ui: &mut egui::Ui) {
        let series = |m: Metric| curves::step_points(&self.sevlm.steps, m);
        let c = theme::CURVES;
        let curve = |name, points, color, always| Curve {
            name,
            points,
            color,
            always,
        };
        let points = |m: Metric, scale: f64| curves::eval_points(&self.sevlm.evals, m, scale);
        curves::row(ui, |ui, size| {
            let loss = vec![
                curve("total", series(Metric::Loss), c[0], true),
                curve("language", series(Metric::Language), c[1], true),
                curve("VAD", series(Metric::Vad), c[2], false),
                curve("contrastive", series(Metric::Contrastive), c[3], false),
            ];
            curves::lines(ui, size, "train-loss", "Training loss", loss);
            let val = [
                (Metric::ValLoss, "val loss", 1.0, c[0]),
                (Metric::ValLanguage, "val language", 1.0, c[1]),
                (Metric::ValVad, "val VAD", 1.0, c[2]),
            ];
            curves::metrics(
                ui,
                size,
                "train-val",
                "Validation loss",
                &val,
                false,
                points,
            );
            let text = [
                (Metric::Bleu1, "BLEU-1", 1.0, c[0]),
                (Metric::Bleu4, "BLEU-4", 1.0, c[1]),
                (Metric::RougeL, "ROUGE-L", 1.0, c[2]),
                (Metric::Acc, "ACC", 1.0, c[3]),
            ];
            let title = "Text metrics (validation)";
            curves::metrics(ui, size, "train-metrics", title, &text, true, points);
        });
    }

    fn probes_ui(&self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(p) = &self.sevlm.prepared else {
            return;
        };
        ui.label(
            RichText::new("Probe paintings (validation), regenerated at every evaluation").strong(),
        );
        let last = self.sevlm.evals.last();
        let prev = self
            .sevlm
            .evals
            .len()
            .checked_sub(2)
            .and_then(|i| self.sevlm.evals.get(i));
        let probe = |e: Option<&EvalRecord>, id: &str| {
            e.and_then(|e| e.captions().find(|q| q.painting == id).cloned())
        };
        let latest = match last {
            Some(e) => format!("step {}", e.step),
            None => "latest".into(),
        };
        let before = match prev {
            Some(e) => format!("step {}", e.step),
            None => "before".into(),
        };
        let cols = [
            Col::new("painting", 190.0),
            Col::new("viewers", 110.0),
            Col::new(&latest, 420.0),
            Col::rest(&before),
        ];
        let probes: &[ProbePainting] = &p.probes;
        sortable_table(
            ui,
            "train-probes",
            &cols,
            probes.len(),
            62.0,
            |r, c| {
                let ProbePainting { id, human, .. } = &probes[r];
                match c {
                    0 => Key::text(id),
                    1 => human.map_or(Key::Empty, |h| Key::text(h.name())),
                    2 => probe(last, id).map_or(Key::Empty, |q| Key::text(q.text)),
                    _ => probe(prev, id).map_or(Key::Empty, |q| Key::text(q.text)),
                }
            },
            |ui, r, c| {
                let ProbePainting { id, human, .. } = &probes[r];
                match c {
                    0 => {
                        match probe_thumb(shared, id) {
                            Some(Ok(t)) => {
                                let s = t.size_vec2();
                                let k = 56.0 / s.x.max(s.y);
                                ui.add(egui::Image::new((t.id(), s * k)));
                            }
                            Some(Err(())) => {
                                ui.add_sized([56.0, 56.0], egui::Spinner::new());
                            }
                            None => {}
                        }
                        ui.label(id);
                    }
                    1 => match human {
                        Some(h) => emotion_label(ui, *h),
                        None => {
                            ui.label(RichText::new("no majority").weak());
                        }
                    },
                    2 => match probe(last, id) {
                        Some(q) => {
                            ui.horizontal_wrapped(|ui| {
                                if let Some(e) = q.emotion {
                                    emotion_label(ui, e);
                                    if q.human == Some(e) {
                                        ui.label(RichText::new("match").color(theme::OK));
                                    }
                                }
                                ui.add(egui::Label::new(q.text.clone()).wrap());
                            });
                        }
                        None => {
                            ui.label(RichText::new("after the first evaluation").weak());
                        }
                    },
                    _ => {
                        if let Some(q) = probe(prev, id) {
                            ui.horizontal_wrapped(|ui| {
                                ui.add(egui::Label::new(RichText::new(q.text).weak()).wrap());
                            });
                        }
                    }
                }
            },
        );
    }

    fn checkpoints_ui(&self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        checkpoint_table(
            ui,
            "train-ckpt",
            &self.sevlm.checkpoints,
            self.form.settings.best_by.name(),
            &[(Metric::ValLoss, 4), (Metric::Bleu1, 4), (Metric::Acc, 4)],
            CheckpointUse::Explain,
            actions,
        );
        self.summary_ui(ui);
    }

    fn summary_ui(&self, ui: &mut egui::Ui) {
        if let Some(s) = &self.summary {
            ui.label(
                RichText::new(format!(
                    "{} after {} of {} steps · {} evaluations",
                    if s.stopped { "Stopped" } else { "Finished" },
                    s.steps,
                    s.total_steps,
                    s.evaluations
                ))
                .strong(),
            );
        }
    }
}

/// What a checkpoint row's button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckpointUse {
    /// A SEVLM checkpoint explains paintings in the Painting tab.
    Explain,
    /// An EmoSEM checkpoint draws masks in the Painting tab (and predicts in Review).
    Masks,
    /// No button (PACL).
    Nothing,
}

/// The kept checkpoints of a session (the best marked) with the `columns` metrics
/// (name, decimals) and a button that uses each where `uses` says.
pub(super) fn checkpoint_table(
    ui: &mut egui::Ui,
    id: &str,
    checkpoints: &[CheckpointInfo],
    metric: &str,
    columns: &[(Metric, usize)],
    uses: CheckpointUse,
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
    cols.extend(columns.iter().map(|(m, _)| Col::new(m.name(), 80.0)));
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
                c if c < 3 + n => Key::num(ck.metrics.get(&columns[c - 3].0).copied()),
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
                            .get(&k)
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
                    let (masks, hover) = match uses {
                        CheckpointUse::Nothing => return,
                        CheckpointUse::Masks => (true, "show this checkpoint's masks in the Painting tab (and its predictions in Review)"),
                        CheckpointUse::Explain => (false, "explain paintings with this checkpoint in the Painting tab"),
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

pub(super) fn emotion_label(ui: &mut egui::Ui, e: Emotion) {
    ui.label(theme::emotion_text(e));
}

fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// A probe painting's thumbnail: None when the painting is not in the open collection,
/// `Err` while it is being decoded (asked for here).
pub(super) fn probe_thumb(
    shared: &mut Shared,
    id: &str,
) -> Option<Result<egui::TextureHandle, ()>> {
    let i = shared
        .collection
        .and_then(|c| c.paintings.iter().position(|p| p.id == id))?;
    let t = shared.thumbs.get(&i).cloned();
    if t.is_none() {
        shared.actions.push(Action::WantThumb(i));
    }
    Some(t.ok_or(()))
}
