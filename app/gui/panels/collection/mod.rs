//! The Collection tab: the browse bar over the thumbnail grid of the open collection, with
//! the selected painting's details in the side panel (`viewer.rs`, shared with the
//! Painting tab).

mod grid;
#[cfg(test)]
mod tests;
pub mod viewer;

use super::{Panel, SidePanel};
use crate::gui::state::{Action, AppState, Tab};

/// The Collection tab (its state, the collection and how it is browsed, is the app's:
/// the status bar, the keyboard and the Map tab share it).
pub struct CollectionPanel;

impl CollectionPanel {
    /// The tab.
    pub fn new() -> Self {
        CollectionPanel
    }
}

impl Default for CollectionPanel {
    fn default() -> Self {
        Self::new()
    }
}

impl Panel for CollectionPanel {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Collection)
    }

    fn side_panel(&self) -> Option<SidePanel> {
        Some(SidePanel {
            width: 580.0,
            with_image: true,
        })
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        // The panel's width, before anything drawn could widen it: the grid's columns
        // never run under the detail panel.
        let width = ui.available_width();
        browse_bar(state, ui);
        grid::grid(state, ui, width);
    }
}

fn browse_bar(state: &mut AppState, ui: &mut egui::Ui) {
    let Some(c) = &state.collection else { return };
    let total = c.paintings.len();
    let shown = state.visible().len();
    let source = state.responses_source.clone();
    let map_selection = state.only.is_some();
    match state
        .browse
        .ui(ui, shown, total, source.as_deref(), map_selection)
    {
        Some(crate::gui::browse::BrowseAction::LoadResponses(p)) => state.load_responses(p),
        Some(crate::gui::browse::BrowseAction::Notice(text)) => state.notice(text, true),
        Some(crate::gui::browse::BrowseAction::Cleared) => {
            state.only = None;
            state.actions.push(Action::ClearSelection);
        }
        None => {}
    }
    // A painting the filters hide gives way to the first one shown.
    let visible = state.visible();
    if let Some(&first) = visible.first() {
        if state.selected.is_none_or(|s| !visible.contains(&s)) {
            state.selected = Some(first);
            state.scroll_to_selected = true;
        }
    }
    ui.separator();
}
