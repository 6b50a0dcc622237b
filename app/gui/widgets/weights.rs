//! The note a model section shows when its weights are absent, with its two ways out, and
//! where the weights it uses come from (the amber demo-kit badge or the folder).

use crate::gui::theme;

/// What the user chose in a "weights not installed" note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbsentChoice {
    /// Open the Models tab to import weights.
    ModelsTab,
    /// Look for the weights again (installed outside the window).
    LookAgain,
}

/// The note a model section shows when its weights are absent (it never shows invented
/// output), with its two ways out.
pub fn weights_absent(
    ui: &mut egui::Ui,
    model: &str,
    shows: &str,
    folder: &str,
) -> Option<AbsentChoice> {
    ui.label(
        egui::RichText::new(format!(
            "{model} weights are not installed, so no {shows} is shown. Train the demo kit \
             (`artemo train --preset demo`) or install real weights in models/{folder} \
             (the Models tab's Import weights, or `artemo models import`)."
        ))
        .italics(),
    );
    ui.horizontal(|ui| {
        if ui.button("Open the Models tab").clicked() {
            return Some(AbsentChoice::ModelsTab);
        }
        ui.button("Look again")
            .on_hover_text("After installing weights outside the window")
            .clicked()
            .then_some(AbsentChoice::LookAgain)
    })
    .inner
}

/// Where a model section's weights come from: the amber demo badge with `blurb` (and a
/// link to the kit's model card) for the demo kit, else the weights folder.
pub fn weights_source(
    ui: &mut egui::Ui,
    dir: &std::path::Path,
    badge: &str,
    blurb: &str,
    card: bool,
) {
    if !dir.components().any(|c| c.as_os_str() == "demo") {
        ui.label(
            egui::RichText::new(format!("weights: {}", artemo_engine::shown_path(dir)))
                .small()
                .weak(),
        );
        return;
    }
    ui.horizontal_wrapped(|ui| {
        egui::Frame::new()
            .fill(theme::AMBER)
            .corner_radius(3.0)
            .inner_margin(egui::Margin::symmetric(6, 2))
            .show(ui, |ui| {
                ui.label(
                    egui::RichText::new(badge)
                        .strong()
                        .color(egui::Color32::BLACK),
                );
            });
        ui.label(egui::RichText::new(blurb).small());
        if card {
            if let Some(card) = dir.parent().map(|p| p.join("MODEL_CARD.md")) {
                ui.hyperlink_to("model card", format!("file://{}", card.display()));
            }
        }
    });
}
