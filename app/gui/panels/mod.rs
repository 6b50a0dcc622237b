//! The window's panels: one folder per tab (`collection/`, `painting/`, `review/`, `map/`,
//! `train/`, `models/`), each implementing `Panel`, and the one registry the app loops over
//! to route engine events, draw the selected tab and broadcast what changed (installed
//! weights, a checkpoint to use, a dropped map selection).
//!
//! Adding a panel: write `panels/<name>/mod.rs` with a struct that has `fn new() -> Self`
//! and implements `Panel` (its `tab()`, its `ui`, the jobs it `owns` and their `on_event`;
//! the broadcasts it cares about), then add `mod <name>;` below and ONE line to the
//! `registry!` list, which also declares its `Tab` (variant, label, shortcut key). Nothing
//! in `app.rs` or `state.rs` changes.

use std::path::Path;

use artemo_engine::worker::{EventKind, JobId};

use super::state::{Action, AppState, Settings};

pub(crate) mod collection;
mod jobs;
mod map;
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

/// Declares the registry, one line per panel: `field: Type`, and for a panel with a tab of
/// its own `=> Variant("Label", Key, "what the tab shows")` (the tab's `Tab` variant, its
/// label, its Ctrl/Cmd shortcut key). Tabs show in the order of the lines.
macro_rules! registry {
    ($($field:ident: $ty:ty $(=> $tab:ident($label:literal, $key:ident, $doc:literal))?),* $(,)?) => {
        /// The tabs of the window, one per panel that draws a tab (see `registry!`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum Tab {
            $($(#[doc = $doc] $tab,)?)*
        }

        impl Tab {
            /// Every tab in display order.
            pub const ALL: &'static [Tab] = &[$($(Tab::$tab,)?)*];

            /// The tab's label.
            pub fn label(self) -> &'static str {
                match self {
                    $($(Tab::$tab => $label,)?)*
                }
            }

            /// The keyboard shortcut (with Ctrl/Cmd) that opens the tab.
            pub fn key(self) -> egui::Key {
                match self {
                    $($(Tab::$tab => egui::Key::$key,)?)*
                }
            }
        }

        /// Every panel of the window, one field each, in the order events are offered
        /// and side-panel sections drawn.
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
    collection: collection::CollectionPanel
        => Collection("Collection", Num1, "The thumbnail grid with the selected painting's details."),
    explain: painting::explain::Explain,
    painting: painting::Masks
        => Painting("Painting", Num2, "One painting, large, with pan/zoom and the emotion masks."),
    review: review::Review
        => Review("Review", Num3, "Ground truth vs prediction review of stimulus masks."),
    map: map::Map => Map("Map", Num4, "The collection as an emotion-aware embedding map."),
    train: train::TrainPanel => Train("Train", Num5, "Fine-tuning with live curves."),
    models: models::ModelsPanel
        => Models("Models", Num6, "Installed weights and what they enable."),
}
