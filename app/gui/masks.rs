//! The Painting tab's canvas (pan, zoom, fit, fullscreen) and EmoSEM's eight emotion
//! masks over the painting.

use super::panel::{Action, Component, Shared};
use artemo_engine::worker::{EventKind, JobId};

/// The canvas and masks state.
pub struct Masks {}

impl Masks {
    /// A canvas with no masks computed yet.
    pub fn new() -> Self {
        Masks {}
    }

    /// Draws the painting (central area).
    pub fn canvas(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        match shared.view {
            Some((tex, _)) => {
                let ts = tex.size_vec2();
                let avail = ui.available_size();
                let scale = (avail.x / ts.x).min(avail.y / ts.y);
                ui.centered_and_justified(|ui| {
                    ui.add(egui::Image::new((tex.id(), ts * scale)));
                });
            }
            None => {
                ui.centered_and_justified(|ui| ui.spinner());
            }
        }
    }

    /// Draws the masks' controls (side panel).
    pub fn controls(&mut self, ui: &mut egui::Ui, _shared: &mut Shared) {
        ui.label("Emotion masks: under construction in this build.");
    }
}

impl Component for Masks {
    fn owns(&self, _job: JobId) -> bool {
        false
    }
    fn on_event(&mut self, _: &egui::Context, _: JobId, _: EventKind, _: &mut Vec<Action>) {}
}
