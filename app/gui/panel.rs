//! What the window's panels share: the engine jobs they own, the state of the app they
//! read, and the actions they ask of the app (the app applies them after the frame).

use std::collections::HashMap;
use std::path::PathBuf;

use artemo_engine::annotations::Annotation;
use artemo_engine::collection::Collection;
use artemo_engine::worker::{Engine, EventKind, JobId};
use egui::TextureHandle;

use super::textures::LruCache;

/// The tabs of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    /// The thumbnail grid with the selected painting's details.
    Collection,
    /// One painting, large, with pan/zoom and the emotion masks.
    Painting,
    /// Ground truth vs prediction review of stimulus masks.
    Review,
    /// The collection as an emotion-aware embedding map.
    Map,
    /// Fine-tuning with live curves.
    Train,
    /// Installed weights and what they enable.
    Models,
}

impl Tab {
    /// Every tab in display order.
    pub const ALL: [Tab; 6] = [
        Tab::Collection,
        Tab::Painting,
        Tab::Review,
        Tab::Map,
        Tab::Train,
        Tab::Models,
    ];

    /// The tab's label.
    pub fn label(self) -> &'static str {
        match self {
            Tab::Collection => "Collection",
            Tab::Painting => "Painting",
            Tab::Review => "Review",
            Tab::Map => "Map",
            Tab::Train => "Train",
            Tab::Models => "Models",
        }
    }

    /// The keyboard shortcut (with Ctrl/Cmd) that opens the tab.
    pub fn key(self) -> egui::Key {
        match self {
            Tab::Collection => egui::Key::Num1,
            Tab::Painting => egui::Key::Num2,
            Tab::Review => egui::Key::Num3,
            Tab::Map => egui::Key::Num4,
            Tab::Train => egui::Key::Num5,
            Tab::Models => egui::Key::Num6,
        }
    }
}

/// What a panel asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Select painting `index` of the open collection.
    Select(usize),
    /// Select painting `index` and switch to the Painting tab.
    OpenPainting(usize),
    /// Restrict the collection grid to these paintings (e.g. a selection on the map) and
    /// switch to the Collection tab; an empty list clears the restriction.
    ShowOnly(Vec<usize>),
    /// Switch to a tab.
    Goto(Tab),
    /// Open a collection (folder, manifest CSV or WikiArt root).
    OpenCollection(PathBuf),
    /// Load the thumbnail of painting `index` (it arrives in `Shared::thumbs`).
    WantThumb(usize),
    /// Weights were installed: every panel looks for its model again.
    ModelsChanged,
    /// Use a trained checkpoint folder in the Painting tab (`masks`: EmoSEM, also in Review; else SEVLM)
    /// instead of the installed weights, until the user goes back to them.
    UseCheckpoint {
        /// EmoSEM (true) or SEVLM (false).
        masks: bool,
        /// The checkpoint folder.
        dir: PathBuf,
    },
    /// Show a notice; `error` marks a problem the user must act on.
    Notice {
        /// What happened and what to do.
        text: String,
        /// A problem rather than information.
        error: bool,
    },
}

/// The app state a panel reads while it draws, and where it leaves its actions.
pub struct Shared<'a> {
    /// The engine: submit jobs here, and claim them with `Component::owns`.
    pub engine: &'a Engine,
    /// The open collection.
    pub collection: Option<&'a Collection>,
    /// The selected painting's index.
    pub selected: Option<usize>,
    /// Thumbnail textures by painting index (ask with `Action::WantThumb`).
    pub thumbs: &'a mut LruCache<usize, TextureHandle>,
    /// Human responses per painting id.
    pub responses: &'a HashMap<String, Vec<Annotation>>,
    /// The viewer texture of the selected painting (longest side <= 2048) with the
    /// original's size, once decoded.
    pub view: Option<(&'a TextureHandle, (u32, u32))>,
    /// Actions for the app.
    pub actions: Vec<Action>,
}

impl Shared<'_> {
    /// Queues a notice.
    pub fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.actions.push(Action::Notice {
            text: text.into(),
            error,
        });
    }
}

/// A panel that owns engine jobs.
pub trait Component {
    /// True when `job` was submitted by this component.
    fn owns(&self, job: JobId) -> bool;
    /// Handles an event of one of its jobs (`Started`, `Progress`, `Partial`, `Done`,
    /// `Failed`, `Cancelled`).
    fn on_event(
        &mut self,
        ctx: &egui::Context,
        job: JobId,
        kind: EventKind,
        actions: &mut Vec<Action>,
    );
}

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
            .fill(egui::Color32::from_rgb(0xDD, 0xAA, 0x33))
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
