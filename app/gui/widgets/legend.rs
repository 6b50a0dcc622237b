//! The colour legend of the explanation's words: the valence scale from negative (blue)
//! through neutral (grey) to positive (orange), and what an uncoloured word means.

use egui::{RichText, Sense};

use crate::gui::theme;

/// Draws the legend on one line: "negative", a gradient bar, "positive", and a note on
/// words without a lexicon entry.
pub fn valence_legend(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        ui.label(RichText::new("word colour = valence:").small().weak());
        ui.label(
            RichText::new("negative")
                .small()
                .color(theme::valence(-1.0)),
        );
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(96.0, 10.0), Sense::hover());
        let steps = 24;
        let w = rect.width() / steps as f32;
        let painter = ui.painter();
        for k in 0..steps {
            let v = -1.0 + 2.0 * (k as f32 + 0.5) / steps as f32;
            let r = egui::Rect::from_min_size(
                egui::pos2(rect.min.x + k as f32 * w, rect.min.y),
                egui::vec2(w + 0.5, rect.height()),
            );
            painter.rect_filled(r, 0.0, theme::valence(v));
        }
        resp.on_hover_text("lexicon valence from −1 (negative) through 0 (neutral, grey) to +1");
        ui.label(RichText::new("positive").small().color(theme::valence(1.0)));
        ui.label(RichText::new("· plain: no lexicon entry").small().weak());
    });
}
