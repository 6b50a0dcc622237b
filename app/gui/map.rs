//! The Map tab: the collection as an emotion-aware embedding map (PACL).

use super::panel::{Action, Component, Shared};
use artemo_engine::worker::{EventKind, JobId};

/// The tab's state.
pub struct Map {}

impl Map {
    /// The tab before first use.
    pub fn new() -> Self {
        Map {}
    }

    /// Draws the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, _shared: &mut Shared) {
        ui.label("Under construction in this build.");
    }
}

impl Component for Map {
    fn owns(&self, _job: JobId) -> bool {
        false
    }
    fn on_event(&mut self, _: &egui::Context, _: JobId, _: EventKind, _: &mut Vec<Action>) {}
}
