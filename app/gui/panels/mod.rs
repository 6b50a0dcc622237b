//! The window's panels: one folder per tab (`collection/`, `painting/`, `review/`, `map/`,
//! `train/`, `models/`), each implementing `Panel`, and the one registry the app loops over
//! to route engine events, draw the selected tab and broadcast what changed (installed
//! weights, a checkpoint to use, a dropped map selection).
//!
//! Adding a panel: write `panels/<name>/mod.rs` with a struct that has `fn new() -> Self`
//! and implements `Panel` (its `tab()`, its `ui`, the jobs it `owns` and their `on_event`;
//! the broadcasts it cares about, its part of the kept settings), then add `mod <name>;`
//! below and ONE line to the `registry!` list. A panel with a tab of its own also adds
//! one line to `state.rs`'s `tabs!` list (variant, label, shortcut, what it shows); the
//! tabs live below the panels so that `state.rs` imports no panel. Nothing in `app.rs`
//! changes.

use std::path::Path;

use artemo_engine::worker::{EventKind, JobId};

use super::state::{Action, AppState, Settings, Tab};

pub(crate) mod collection;
mod jobs;
pub mod map;
mod models;
pub(crate) mod painting;
mod review;
pub mod train;
mod weights;

/// The selected painting's side panel beside a tab's central area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SidePanel {
    /// Its initial width.
    pub width: f32,
    /// Whether it shows the painting's image (the Painting tab's canvas shows it already).
    pub with_image: bool,
}

/// A participant of the window: a tab, or a section of another tab's side panel (the
/// painting's SEVLM explanation). Every hook but `tab` has a default doing nothing.
pub trait Panel {
    /// The tab it draws; `None` for a section drawn only in side panels.
    fn tab(&self) -> Option<Tab>;
    /// The selected painting's side panel the tab shows beside its central area.
    fn side_panel(&self) -> Option<SidePanel> {
        None
    }
    /// Draws the tab's central area.
    fn ui(&mut self, _ui: &mut egui::Ui, _state: &mut AppState) {}
    /// Adds its section to the selected painting's side panel shown on `tab`.
    fn side_section(&mut self, _ui: &mut egui::Ui, _state: &mut AppState, _tab: Tab) {}
    /// True when `job` was submitted by this panel.
    fn owns(&self, _job: JobId) -> bool {
        false
    }
    /// Handles an event of one of its jobs (`Started`, `Progress`, `Partial`, `Done`,
    /// `Failed`, `Cancelled`).
    fn on_event(
        &mut self,
        _ctx: &egui::Context,
        _job: JobId,
        _kind: EventKind,
        _actions: &mut Vec<Action>,
    ) {
    }
    /// Weights were installed: look for the panel's model again.
    fn on_models_changed(&mut self) {}
    /// The user chose a trained checkpoint folder (`masks`: EmoSEM, else SEVLM) to use
    /// instead of the installed weights.
    fn on_checkpoint(&mut self, _masks: bool, _dir: &Path) {}
    /// The grid's restriction to a selection was dropped.
    fn on_selection_cleared(&mut self) {}
    /// Restores its part of the settings kept between runs.
    fn restore(&mut self, _settings: &Settings) {}
    /// Writes its part of the settings kept between runs.
    fn save(&self, _settings: &mut Settings) {}
}

/// Declares the registry: one `field: Type` line per panel, in the order events are
/// offered and side-panel sections drawn.
macro_rules! registry {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// Every panel of the window, one field each (see `registry!`).
        pub struct Panels {
            $(pub(crate) $field: $ty,)*
        }

        impl Panels {
            /// Every panel, fresh.
            pub(crate) fn new() -> Self {
                Panels { $($field: <$ty>::new(),)* }
            }

            /// Every panel, to loop over.
            pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut dyn Panel> {
                [$(&mut self.$field as &mut dyn Panel),*].into_iter()
            }
        }
    };
}

registry! {
    collection: collection::CollectionPanel,
    explain: painting::explain::Explain,
    painting: painting::Masks,
    review: review::Review,
    map: map::Map,
    train: train::TrainPanel,
    models: models::ModelsPanel,
}
