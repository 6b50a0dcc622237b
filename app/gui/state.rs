//! The app's state and what it lends the panels: the tabs, the actions a panel asks of
//! the app (applied after the frame), `AppState` (the engine, the open collection and how
//! it is browsed, the selected painting's image, the human responses, notices, settings)
//! and `Shared`, the part of it a panel reads while it draws.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use artemo_engine::annotations::Annotation;
use artemo_engine::collection::Collection;
use artemo_engine::worker::{Engine, JobId};
use egui::TextureHandle;

use super::browse;
use super::dialog;
use super::frames;
use super::notices::Notices;
use super::textures::LruCache;
use super::visible::VisibleCache;

/// Thumbnails kept as textures at once.
const THUMB_CACHE: usize = 600;

/// Declares the tabs, one line each: `Variant("Label", Key, "what the tab shows")`, in
/// display order (`Key` is the Ctrl/Cmd shortcut).
macro_rules! tabs {
    ($($tab:ident($label:literal, $key:ident, $doc:literal)),* $(,)?) => {
        /// The tabs of the window (see `tabs!`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum Tab {
            $(#[doc = $doc] $tab,)*
        }

        impl Tab {
            /// Every tab in display order.
            pub const ALL: &'static [Tab] = &[$(Tab::$tab,)*];

            /// The tab's label.
            pub fn label(self) -> &'static str {
                match self {
                    $(Tab::$tab => $label,)*
                }
            }

            /// The keyboard shortcut (with Ctrl/Cmd) that opens the tab.
            pub fn key(self) -> egui::Key {
                match self {
                    $(Tab::$tab => egui::Key::$key,)*
                }
            }
        }
    };
}

tabs! {
    Collection("Collection", Num1, "The thumbnail grid with the selected painting's details."),
    Painting("Painting", Num2, "One painting, large, with pan/zoom and the emotion masks."),
    Review("Review", Num3, "Ground truth vs prediction review of stimulus masks."),
    Map("Map", Num4, "The collection as an emotion-aware embedding map."),
    Train("Train", Num5, "Fine-tuning with live curves."),
    Models("Models", Num6, "Installed weights and what they enable."),
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
    /// Drop the grid's restriction to a selection (the map's selection goes with it).
    ClearSelection,
    /// Use a trained checkpoint folder in the Painting tab (`masks`: EmoSEM, also in Review;
    /// else SEVLM) instead of the installed weights, until the user goes back to them.
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
    /// The engine: submit jobs here, and claim them with `Panel::owns`.
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
    pub actions: &'a mut Vec<Action>,
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

/// Settings kept between runs.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub(crate) dark: bool,
    pub(crate) thumb_size: f32,
    pub(crate) recent: Vec<PathBuf>,
    pub(crate) tab: Tab,
    /// The Painting tab's mask mode, style, opacity, toggles and colours, as that panel
    /// writes them (its `MaskSettings`; the panel reads back what it wrote, or its defaults).
    #[serde(default)]
    pub(crate) masks: serde_json::Value,
    /// SEVLM's VAD lexicon: an NRC VAD file, or `None` for the shipped stand-in.
    #[serde(default)]
    pub(crate) sevlm_lexicon: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dark: true,
            thumb_size: 140.0,
            recent: Vec::new(),
            tab: Tab::Collection,
            masks: serde_json::Value::Null,
            sevlm_lexicon: None,
        }
    }
}

/// The app's own engine jobs (the panels' jobs are theirs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    Thumb(usize),
    /// A thumbnail request dropped when its cell left the screen: cancelled, but one
    /// already being made is still taken when it arrives.
    DroppedThumb(usize),
    View(usize),
    Open,
    /// Responses being loaded, with the source they will be shown under (several loads
    /// may be in flight; each answers for its own source).
    Annotations(String),
}

/// The selected painting's image in the viewer.
pub(crate) struct ViewImage {
    pub(crate) index: usize,
    pub(crate) texture: TextureHandle,
    pub(crate) original: (u32, u32),
    /// The decoder's doubts (a truncated file), shown under the picture.
    pub(crate) warnings: Vec<String>,
}

/// The application state outside the panels.
pub struct AppState {
    pub(crate) engine: Engine,
    pub(crate) settings: Settings,
    pub(crate) collection: Option<Collection>,
    pub(crate) pending: HashMap<JobId, Pending>,
    pub(crate) requested: HashSet<usize>,
    pub(crate) failed: HashMap<usize, String>,
    pub(crate) thumbs: LruCache<usize, TextureHandle>,
    pub(crate) selected: Option<usize>,
    pub(crate) view: Option<ViewImage>,
    pub(crate) filter: String,
    pub(crate) path_input: String,
    /// The system folder dialog's answer, while it is open (it runs on its own thread).
    pub(crate) open_dialog: Option<std::sync::mpsc::Receiver<((), dialog::Picked)>>,
    /// Focus the collection path field next frame (no folder dialog could open).
    pub(crate) focus_path: bool,
    pub(crate) notices: Notices,
    pub(crate) progress: Option<(f32, String)>,
    pub(crate) show_problems: bool,
    pub(crate) scroll_to_selected: bool,
    /// Human responses per painting id (Artemo's own annotations for the shipped
    /// collection), with where they came from.
    pub(crate) responses: HashMap<String, Vec<Annotation>>,
    pub(crate) responses_source: Option<String>,
    /// Where the responses being loaded come from (shown once they arrive).
    pub(crate) responses_loading: Option<String>,
    /// Bumped whenever the collection or its responses change (the browse facets follow).
    pub(crate) generation: u64,
    pub(crate) browse: browse::Browse,
    /// Restricts the grid to these paintings (a selection made on the map).
    pub(crate) only: Option<Vec<usize>>,
    pub(crate) show_shortcuts: bool,
    /// Engine jobs started and not yet ended (for the frame-time statistics).
    pub(crate) running: HashSet<JobId>,
    pub(crate) frames: frames::FrameStats,
    pub(crate) show_frame_time: bool,
    /// Thumbnails per row of the grid as last drawn (Up/Down move by a row).
    pub(crate) grid_cols: usize,
    /// The open collection is the shipped one, whose descriptions are the Art Institute
    /// of Chicago's (CC BY 4.0, credited under each).
    pub(crate) aic_descriptions: bool,
    /// What panels and the app's own bars asked for this frame (applied after it).
    pub(crate) actions: Vec<Action>,
    /// The visible paintings as last computed (see [`AppState::visible`]).
    pub(crate) visible_cache: VisibleCache,
    /// The thumbnail cache folder (`<cache>/thumbs`): the grid's thumbnails are decoded
    /// once per image and read from there afterwards.
    pub(crate) thumb_cache: PathBuf,
    /// The paintings whose cells the grid drew last frame (their thumbnails are the ones
    /// worth loading; requests for others are dropped).
    pub(crate) grid_shown: Vec<usize>,
    /// The grid's scroll offset last frame (which way it scrolls).
    pub(crate) grid_offset: f32,
}

impl AppState {
    /// The state of a window that has opened nothing yet.
    pub(crate) fn new(engine: Engine, settings: Settings) -> Self {
        AppState {
            engine,
            settings,
            collection: None,
            pending: HashMap::new(),
            requested: HashSet::new(),
            failed: HashMap::new(),
            thumbs: LruCache::new(THUMB_CACHE),
            selected: None,
            view: None,
            filter: String::new(),
            path_input: String::new(),
            open_dialog: None,
            focus_path: false,
            notices: Notices::default(),
            progress: None,
            show_problems: false,
            scroll_to_selected: false,
            responses: HashMap::new(),
            responses_source: None,
            responses_loading: None,
            generation: 0,
            browse: browse::Browse::new(),
            only: None,
            show_shortcuts: false,
            running: HashSet::new(),
            frames: frames::FrameStats::new(),
            show_frame_time: true,
            grid_cols: 1,
            aic_descriptions: false,
            actions: Vec::new(),
            visible_cache: VisibleCache::default(),
            thumb_cache: crate::cmd::common::cache_dir().join("thumbs"),
            grid_shown: Vec::new(),
            grid_offset: 0.0,
        }
    }

    /// What a panel may read and ask while it draws (disjoint borrows of the state).
    pub fn lend(&mut self) -> Shared<'_> {
        let selected = self.selected;
        Shared {
            engine: &self.engine,
            collection: self.collection.as_ref(),
            selected,
            thumbs: &mut self.thumbs,
            responses: &self.responses,
            view: self
                .view
                .as_ref()
                .filter(|v| Some(v.index) == selected)
                .map(|v| (&v.texture, v.original)),
            actions: &mut self.actions,
        }
    }

    /// Raises a banner (merged with an identical one, which moves to the top).
    pub(crate) fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.notices.push(text.into(), error);
    }

    /// The paintings the grid shows, in its order (filter, map selection, browse bar):
    /// computed once per change of any of them (see `visible.rs`).
    pub(crate) fn visible(&self) -> Arc<[usize]> {
        let Some(c) = &self.collection else {
            return Arc::from(Vec::new());
        };
        self.visible_cache.get(
            self.generation,
            c,
            &self.filter,
            self.only.as_ref(),
            &self.browse,
        )
    }
}
