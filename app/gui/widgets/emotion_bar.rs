//! One emotion's bar: its name, a bar filled to a share in the emotion's colour, and a
//! figure (viewers' votes under a painting; the model's probabilities in the explanation).

use artemo_engine::Emotion;

use crate::gui::theme;

/// Draws `e`'s bar filled to `part / whole`, leaving `reserve` points for `figure`.
pub fn emotion_bar(
    ui: &mut egui::Ui,
    e: Emotion,
    (part, whole): (f32, f32),
    reserve: f32,
    figure: String,
) {
    ui.horizontal(|ui| {
        ui.add_sized([110.0, 16.0], egui::Label::new(e.name()));
        let w = (ui.available_width() - reserve).max(40.0);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(w, 12.0), egui::Sense::hover());
        ui.painter()
            .rect_filled(rect, 2.0, ui.visuals().faint_bg_color);
        let filled = egui::Rect::from_min_size(rect.min, egui::vec2(w * part / whole, 12.0));
        ui.painter().rect_filled(filled, 2.0, theme::emotion(e));
        ui.label(figure);
    });
}
