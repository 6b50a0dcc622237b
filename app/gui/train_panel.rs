//! The Train tab: fine-tuning with live curves.

use super::panel::{Action, Component, Shared};
use artemo_engine::worker::{EventKind, JobId};

/// The tab's state.
pub struct TrainPanel {}

impl TrainPanel {
    /// The tab before first use.
    pub fn new() -> Self {
        TrainPanel {}
    }

    /// Draws the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, _shared: &mut Shared) {
        ui.label("Under construction in this build.");
    }
}

impl Component for TrainPanel {
    fn owns(&self, _job: JobId) -> bool {
        false
    }
    fn on_event(&mut self, _: &egui::Context, _: JobId, _: EventKind, _: &mut Vec<Action>) {}
}
