//! The Painting tab's canvas (pan, zoom, fit, fullscreen) and EmoSEM's eight emotion
//! masks over the painting: per-emotion toggle and colour, opacity, fill / contour /
//! probability styles, the dominant emotion per pixel, a hover readout of the emotions
//! under the cursor, each mask's explanation, and Single-Mask for a chosen emotion.
//!
//! The masks are computed by an engine request (`jobs::masks::MaskView`) at most
//! [`MASK_SIDE`] pixels on a side; each emotion streams in as it is ready.

mod canvas;
mod controls;
mod layers;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use artemo_engine::emosem::view::{self, ViewResult, ViewSize};
use artemo_engine::emosem::{Decoding, EMOTIONS};
use artemo_engine::jobs::masks::MaskView;
use artemo_engine::jobs::Roots;
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput};
use artemo_engine::Emotion;
use egui::{Color32, ColorImage, Pos2, Rect, RichText, Sense, TextureHandle, Vec2};

pub mod explain;

use crate::gui::panels::weights::{Located, UsesWeights};
use crate::gui::panels::{Panel, SidePanel};
use crate::gui::state::{Action, AppState, Settings, Shared, Tab};
use crate::gui::textures::LruCache;
use crate::gui::theme;
use crate::gui::widgets::weights::{weights_absent, weights_source, AbsentChoice};
use crate::gui::widgets::zoom_canvas::{zoom_toolbar, ViewXform, PIXEL_TEXTURE};

/// Longest side of the computed probability maps.
const MASK_SIDE: usize = 768;
/// Paintings whose masks stay in memory.
const KEEP_PAINTINGS: usize = 4;
/// Mask textures kept on the GPU.
const TEXTURE_CACHE: usize = 48;

/// How masks are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum Style {
    /// The product mask (probability > 0.5), filled.
    Fill,
    /// The product mask's outline.
    Contour,
    /// The probability as opacity.
    Probability,
}

/// Which masks are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compose {
    /// Every enabled emotion, each in its colour.
    All,
    /// Per pixel, the enabled emotion with the highest probability (above 0.5 unless the
    /// style is Probability).
    Dominant,
    /// One chosen emotion (Single-Mask).
    Single(Emotion),
}

/// Which masks are drawn, as kept between runs (`Single` by the emotion's slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum SavedCompose {
    All,
    Dominant,
    Single(usize),
}

/// How the masks' explanations are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
enum DecodeMode {
    /// The model's own setting (nucleus p = 0.9 for the paper configuration, greedy for
    /// the small one and the demo kit).
    #[default]
    Model,
    /// Always the most likely token.
    Greedy,
    /// Nucleus sampling with the settings' top-p, temperature and seed.
    Nucleus,
}

/// The explanations' decoding as the masks' settings keep it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct MaskDecoding {
    mode: DecodeMode,
    top_p: f32,
    temperature: f32,
    seed: u64,
}

impl Default for MaskDecoding {
    fn default() -> Self {
        MaskDecoding {
            mode: DecodeMode::Model,
            top_p: 0.9,
            temperature: 1.0,
            seed: 0,
        }
    }
}

impl MaskDecoding {
    /// The engine's decoding (`None`: the model's configuration).
    fn decoding(&self) -> Option<Decoding> {
        match self.mode {
            DecodeMode::Model => None,
            DecodeMode::Greedy => Some(Decoding::Greedy),
            DecodeMode::Nucleus => Some(Decoding::Nucleus {
                top_p: self.top_p,
                temperature: self.temperature,
                seed: self.seed,
            }),
        }
    }

    /// Out-of-range values (from an edited settings file) brought back in range.
    fn clamped(self) -> Self {
        let ok = |v: f32, lo: f32, hi: f32, d: f32| if v.is_finite() { v.clamp(lo, hi) } else { d };
        MaskDecoding {
            top_p: ok(self.top_p, 0.0, 1.0, 0.9),
            temperature: ok(self.temperature, 0.05, 5.0, 1.0),
            ..self
        }
    }
}

/// The mask settings kept between runs (in the app's persisted settings): mode, style,
/// opacity, each emotion's toggle and colour, and the explanations' decoding. Whether the
/// masks are shown is not kept (they are computed on demand).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MaskSettings {
    compose: SavedCompose,
    style: Style,
    opacity: f32,
    enabled: [bool; 8],
    colors: [[u8; 4]; 8],
    decoding: MaskDecoding,
}

impl Default for MaskSettings {
    fn default() -> Self {
        Masks::new_settings().settings()
    }
}

/// The masks of one painting.
struct PaintingMasks {
    path: PathBuf,
    results: HashMap<Emotion, ViewResult>,
    requested: HashSet<Emotion>,
    jobs: Vec<JobId>,
    error: Option<String>,
    dominant: Option<(u64, TextureHandle)>,
}

/// The canvas and masks state.
pub struct Masks {
    /// The weights in use: installed, or a checkpoint chosen in the Train tab.
    weights: Located,
    paintings: Vec<PaintingMasks>,
    textures: LruCache<(PathBuf, Emotion, Style), TextureHandle>,
    xf: ViewXform,
    last_image: Option<PathBuf>,
    show: bool,
    enabled: [bool; 8],
    colors: [Color32; 8],
    opacity: f32,
    style: Style,
    compose: Compose,
    /// The style was switched to Probability once because no mask passed 50%.
    auto_probability: bool,
    /// How the explanations are decoded.
    decoding: MaskDecoding,
}

fn slot_of(e: Emotion) -> usize {
    EMOTIONS.iter().position(|x| *x == e).unwrap_or(0)
}

impl Masks {
    /// The weights folder in use, if any.
    pub fn weights_dir(&self) -> Option<&std::path::Path> {
        self.weights.dir.as_deref()
    }

    /// The settings of a fresh canvas (nothing looked up).
    fn new_settings() -> Self {
        Masks {
            weights: Located::none(view::locate),
            paintings: Vec::new(),
            textures: LruCache::new(TEXTURE_CACHE),
            xf: ViewXform::new(),
            last_image: None,
            show: false,
            enabled: [true; 8],
            colors: EMOTIONS.map(theme::emotion),
            opacity: 0.55,
            style: Style::Fill,
            compose: Compose::All,
            auto_probability: false,
            decoding: MaskDecoding::default(),
        }
    }

    /// The settings to keep between runs.
    pub fn settings(&self) -> MaskSettings {
        MaskSettings {
            compose: match self.compose {
                Compose::All => SavedCompose::All,
                Compose::Dominant => SavedCompose::Dominant,
                Compose::Single(e) => SavedCompose::Single(slot_of(e)),
            },
            style: self.style,
            opacity: self.opacity,
            enabled: self.enabled,
            colors: self.colors.map(|c| c.to_array()),
            decoding: self.decoding,
        }
    }

    /// Applies settings kept from an earlier run (out-of-range values are clamped).
    pub fn apply_settings(&mut self, s: &MaskSettings) {
        self.compose = match s.compose {
            SavedCompose::All => Compose::All,
            SavedCompose::Dominant => Compose::Dominant,
            SavedCompose::Single(k) => Compose::Single(EMOTIONS[k.min(EMOTIONS.len() - 1)]),
        };
        self.style = s.style;
        self.opacity = if s.opacity.is_finite() {
            s.opacity.clamp(0.05, 1.0)
        } else {
            0.55
        };
        self.enabled = s.enabled;
        self.colors = s
            .colors
            .map(|[r, g, b, a]| Color32::from_rgba_premultiplied(r, g, b, a));
        self.decoding = s.decoding.clamped();
    }

    /// A canvas with no masks computed yet; finds installed EmoSEM weights.
    pub fn new() -> Self {
        Masks {
            weights: Located::find(view::locate),
            ..Self::new_settings()
        }
    }

    fn entry(&mut self, path: &PathBuf) -> &mut PaintingMasks {
        if let Some(i) = self.paintings.iter().position(|p| &p.path == path) {
            let e = self.paintings.remove(i);
            self.paintings.insert(0, e);
        } else {
            self.paintings.insert(
                0,
                PaintingMasks {
                    path: path.clone(),
                    results: HashMap::new(),
                    requested: HashSet::new(),
                    jobs: Vec::new(),
                    error: None,
                    dominant: None,
                },
            );
            self.paintings.truncate(KEEP_PAINTINGS);
        }
        &mut self.paintings[0]
    }

    fn current_path(shared: &Shared) -> Option<PathBuf> {
        let c = shared.collection?;
        c.paintings.get(shared.selected?).map(|p| p.path.clone())
    }

    /// Starts the jobs for the emotions the current mode needs.
    fn request(&mut self, shared: &mut Shared, path: &PathBuf) {
        let Some(dir) = self.weights.dir.clone() else {
            return;
        };
        let want: Vec<Emotion> = match self.compose {
            Compose::Single(e) => vec![e],
            _ => EMOTIONS.to_vec(),
        };
        let models = self.weights.models.clone();
        let decoding = self.decoding.decoding();
        let e = self.entry(path);
        if e.error.is_some() {
            return;
        }
        let missing: Vec<Emotion> = want
            .into_iter()
            .filter(|x| !e.requested.contains(x))
            .collect();
        if missing.is_empty() {
            return;
        }
        let Some(assets) = artemo_engine::find_assets() else {
            e.error = Some("the assets/ folder was not found (set ARTEMO_ASSETS)".into());
            return;
        };
        let models = models.unwrap_or_else(|| dir.clone());
        match shared.engine.submit(Command::MaskView(MaskView {
            model: dir,
            roots: Roots { assets, models },
            image: path.clone(),
            emotions: missing.clone(),
            size: ViewSize::MaxSide(MASK_SIDE),
            decoding,
            cache: Some(crate::cmd::common::cache_dir()),
        })) {
            Ok(id) => {
                e.jobs.push(id);
                e.requested.extend(missing);
            }
            Err(err) => shared.notice(format!("EmoSEM: {err}"), true),
        }
    }
}

impl UsesWeights for Masks {
    fn located(&mut self) -> &mut Located {
        &mut self.weights
    }

    /// Drops the masks computed with the weights used before.
    fn weights_changed(&mut self) {
        self.paintings.clear();
        self.textures = LruCache::new(TEXTURE_CACHE);
    }
}

impl Panel for Masks {
    fn tab(&self) -> Option<Tab> {
        Some(Tab::Painting)
    }

    fn side_panel(&self) -> Option<SidePanel> {
        Some(SidePanel {
            width: 420.0,
            with_image: false,
        })
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &mut AppState) {
        self.canvas(ui, &mut state.lend());
    }

    fn side_section(&mut self, ui: &mut egui::Ui, state: &mut AppState, tab: Tab) {
        if tab == Tab::Painting {
            ui.add_space(10.0);
            ui.separator();
            self.controls(ui, &mut state.lend());
        }
    }

    fn on_models_changed(&mut self) {
        self.relocate();
    }

    fn on_checkpoint(&mut self, masks: bool, dir: &std::path::Path) {
        if masks {
            self.pin(Some(dir.to_path_buf()));
        }
    }

    fn restore(&mut self, settings: &Settings) {
        // Absent (first run) or unreadable (an older or edited file): the defaults.
        let saved = serde_json::from_value::<MaskSettings>(settings.masks.clone());
        self.apply_settings(&saved.unwrap_or_default());
    }

    fn save(&self, settings: &mut Settings) {
        // A plain struct of numbers and enums: serialising it cannot fail.
        settings.masks = serde_json::to_value(self.settings()).unwrap_or_default();
    }

    fn owns(&self, job: JobId) -> bool {
        self.paintings.iter().any(|p| p.jobs.contains(&job))
    }

    fn on_event(
        &mut self,
        ctx: &egui::Context,
        job: JobId,
        kind: EventKind,
        actions: &mut Vec<Action>,
    ) {
        let Some(entry) = self.paintings.iter_mut().find(|p| p.jobs.contains(&job)) else {
            return;
        };
        match kind {
            EventKind::Partial(JobOutput::MaskView(r)) => {
                let e = r.result.emotion;
                entry.dominant = None;
                // Layers are computed once per painting (the same model gives the same
                // map), so cached textures of `e` stay valid.
                entry.results.insert(e, *r);
                ctx.request_repaint();
            }
            EventKind::Done(_) | EventKind::Cancelled => entry.jobs.retain(|j| *j != job),
            EventKind::Failed(msg) => {
                entry.jobs.retain(|j| *j != job);
                let text = format!("EmoSEM could not compute the masks: {msg}");
                entry.error = Some(text.clone());
                actions.push(Action::Notice { text, error: true });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn mask_settings_survive_a_round_trip_through_storage() {
        let mut m = Masks::new_settings();
        m.compose = Compose::Single(Emotion::Fear);
        m.style = Style::Contour;
        m.opacity = 0.8;
        m.enabled[2] = false;
        m.colors[0] = Color32::from_rgb(1, 2, 3);
        let json = serde_json::to_string(&m.settings()).unwrap();
        let mut fresh = Masks::new_settings();
        fresh.apply_settings(&serde_json::from_str(&json).unwrap());
        assert_eq!(fresh.compose, Compose::Single(Emotion::Fear));
        assert_eq!(fresh.style, Style::Contour);
        assert_eq!(fresh.opacity, 0.8);
        assert!(!fresh.enabled[2] && fresh.enabled[3]);
        assert_eq!(fresh.colors[0], Color32::from_rgb(1, 2, 3));
        // Settings saved before they existed (or partly) read as the defaults.
        let old: MaskSettings = serde_json::from_str("{\"opacity\": 0.3}").unwrap();
        fresh.apply_settings(&old);
        assert_eq!(fresh.compose, Compose::All);
        assert_eq!(fresh.opacity, 0.3);
        assert_eq!(fresh.enabled, [true; 8]);
    }
}
