//! The credit line under a painting description of the shipped collection: the Art
//! Institute of Chicago's descriptions are licensed CC BY 4.0, which asks for it.

use egui::RichText;

/// What the credit line says.
pub const AIC_CREDIT: &str = "Description: Art Institute of Chicago, CC BY 4.0";

/// Draws the credit line (small, weak), with the licence on hover.
pub fn aic_description_credit(ui: &mut egui::Ui) {
    ui.label(RichText::new(AIC_CREDIT).small().weak())
        .on_hover_text(
            "The curatorial description is the Art Institute of Chicago's, licensed under \
             Creative Commons Attribution 4.0 (https://creativecommons.org/licenses/by/4.0/)",
        );
}
