//! The rows the Train forms (SEVLM, EmoSEM, PACL) are built from: the data and model choices,
//! path fields with a Browse… button, the preset buttons, hyper-parameter grid rows, the
//! evaluation and checkpoint settings, the output folder.

use std::path::{Path, PathBuf};

use artemo_engine::train::session::SessionConfig;
use artemo_engine::train::BestBy;
use egui::RichText;

use crate::gui::widgets::path_row::{labelled, path_row};

/// Where a form's model starts: `checkpoint` when one is given (shown as typed), else a
/// new model.
pub(super) fn start_from<T>(checkpoint: Option<&Path>, scratch: T, from: T) -> (T, String) {
    match checkpoint {
        Some(c) => (from, artemo_engine::shown_path(c)),
        None => (scratch, String::new()),
    }
}

/// The "Data" heading with its two sources.
pub(super) fn data_choice<T: PartialEq>(
    ui: &mut egui::Ui,
    value: &mut T,
    first: (T, &str),
    second: (T, &str),
) {
    ui.heading("Data");
    ui.radio_value(value, first.0, first.1);
    ui.radio_value(value, second.0, second.1);
}

/// The "Model" heading: a new model (only with the demo kit's image tower) or a checkpoint.
pub(super) fn model_choice<T: PartialEq>(
    ui: &mut egui::Ui,
    tower: bool,
    value: &mut T,
    scratch: (T, &str),
    checkpoint: (T, &str),
) {
    ui.add_space(8.0);
    ui.heading("Model");
    ui.add_enabled_ui(tower, |ui| {
        ui.radio_value(value, scratch.0, scratch.1);
    });
    if !tower {
        ui.label(
            RichText::new("needs models/demo/pacl: run `artemo train --preset demo`")
                .small()
                .weak(),
        );
    }
    ui.radio_value(value, checkpoint.0, checkpoint.1);
}

/// A path field with its Browse… button on one line (`hint`, `hover`: empty for none);
/// returns whether Browse… was pressed and the field's response.
pub(super) fn path_field(
    ui: &mut egui::Ui,
    text: &mut String,
    hint: &str,
    hover: &str,
) -> (bool, egui::Response) {
    // Right to left: the button first, the field takes exactly what is left (a field
    // sized from the panel's width would grow the panel every frame).
    path_row(ui, |ui| {
        let browse = ui.button("Browse…").clicked();
        let mut edit = egui::TextEdit::singleline(text).desired_width(ui.available_width());
        if !hint.is_empty() {
            edit = edit.hint_text(hint);
        }
        let mut r = ui.add(edit);
        if !hover.is_empty() {
            r = r.on_hover_text(hover);
        }
        (browse, r)
    })
}

/// The "Paintings at most" row.
pub(super) fn max_paintings(ui: &mut egui::Ui, value: &mut usize) {
    ui.horizontal(|ui| {
        labelled(
            ui,
            "Paintings at most",
            egui::DragValue::new(value).range(0..=100_000),
        )
        .on_hover_text("0: all training paintings; fewer for a quick look");
    });
}

/// A preset button pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Preset {
    /// The paper's published values.
    Paper,
    /// The demo kit's small-model CPU recipe.
    CpuRecipe,
}

/// The "Hyper-parameters" heading with its two presets (`paper`: what the paper's are).
pub(super) fn presets(ui: &mut egui::Ui, paper: &str) -> Option<Preset> {
    ui.add_space(8.0);
    ui.heading("Hyper-parameters");
    ui.horizontal(|ui| {
        let mut pressed = None;
        if ui.button("Paper defaults").on_hover_text(paper).clicked() {
            pressed = Some(Preset::Paper);
        }
        if ui
            .button("CPU demo recipe")
            .on_hover_text("the demo kit's small-model recipe (artemo train --preset demo)")
            .clicked()
        {
            pressed = Some(Preset::CpuRecipe);
        }
        pressed
    })
    .inner
}

/// One grid row: a label and the widget it names.
pub(super) fn row(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) -> egui::Response {
    let r = labelled(ui, label, widget);
    ui.end_row();
    r
}

/// A striped two-column grid of labelled rows (hyper-parameters, settings).
pub(super) fn grid(ui: &mut egui::Ui, id: &str, add: impl FnOnce(&mut egui::Ui)) {
    egui::Grid::new(id)
        .num_columns(2)
        .striped(true)
        .show(ui, add);
}

/// A learning-rate field (scientific notation).
pub(super) fn lr_value(v: &mut f64) -> egui::DragValue<'_> {
    egui::DragValue::new(v)
        .speed(1e-6)
        .range(0.0..=1.0)
        .custom_formatter(|x, _| format!("{x:.1e}"))
        .custom_parser(|s| s.trim().parse::<f64>().ok())
}

/// What every Train form sets beside its model: paintings at most, evaluation,
/// checkpoints, output folder.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Evaluate every this many steps.
    pub eval_every: usize,
    /// Probe paintings shown.
    pub probes: usize,
    /// Checkpoints kept.
    pub keep: usize,
    /// Metric ranking checkpoints.
    pub best_by: BestBy,
    /// Paintings at most (0: all).
    pub max_paintings: usize,
    /// Output folder.
    pub out: String,
}

impl SessionSettings {
    /// Evaluation every 50 steps, `probes` probe paintings, 3 checkpoints ranked by
    /// `best_by`, every painting, output into `out`.
    pub fn new(probes: usize, best_by: BestBy, out: &Path) -> Self {
        SessionSettings {
            eval_every: 50,
            probes,
            keep: 3,
            best_by,
            max_paintings: 0,
            out: artemo_engine::shown_path(out),
        }
    }

    /// The output folder as typed (`~/...` resolved).
    pub fn out_dir(&self) -> PathBuf {
        artemo_engine::resolve_shown(self.out.trim())
    }

    /// A session of `model` with these settings.
    pub fn session<M>(&self, model: M) -> SessionConfig<M> {
        SessionConfig {
            model,
            out: self.out_dir(),
            eval_every: self.eval_every,
            probes: self.probes,
            keep: self.keep,
            best_by: self.best_by,
            max_paintings: self.max_paintings,
        }
    }

    /// The "Evaluation and checkpoints" heading and grid (`choices`: the metrics the model
    /// offers, `ModelSetup::BEST_BY`; `probes`: whether probe paintings are shown; `extra`:
    /// rows after the first).
    pub(super) fn eval_rows(
        &mut self,
        ui: &mut egui::Ui,
        id: &str,
        choices: &'static [BestBy],
        probes: bool,
        extra: impl FnOnce(&mut egui::Ui),
    ) {
        ui.add_space(8.0);
        ui.heading("Evaluation and checkpoints");
        egui::Grid::new(format!("{id}-eval"))
            .num_columns(2)
            .show(ui, |ui| {
                row(
                    ui,
                    "Evaluate every (steps)",
                    egui::DragValue::new(&mut self.eval_every).range(1..=100_000),
                );
                extra(ui);
                if probes {
                    row(
                        ui,
                        "Probe paintings",
                        egui::DragValue::new(&mut self.probes).range(1..=12),
                    );
                }
                row(
                    ui,
                    "Best checkpoints kept",
                    egui::DragValue::new(&mut self.keep).range(1..=50),
                );
                let l = ui.label("Best by");
                let best = &mut self.best_by;
                egui::ComboBox::from_id_salt(format!("{id}-best-by"))
                    .selected_text(best.name())
                    .show_ui(ui, |ui| {
                        for &b in choices {
                            ui.selectable_value(best, b, b.name());
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
            });
    }
}

/// The output folder row; true when its Browse… was pressed.
pub(super) fn output_folder(ui: &mut egui::Ui, out: &mut String) -> bool {
    let l = ui.label("Output folder");
    let (browse, r) = path_field(ui, out, "", "");
    r.labelled_by(l.id);
    browse
}
