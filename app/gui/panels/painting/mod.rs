//! The Painting tab's canvas (pan, zoom, fit, fullscreen) and EmoSEM's eight emotion
//! masks over the painting: per-emotion toggle and colour, opacity, fill / contour /
//! probability styles, the dominant emotion per pixel, a hover readout of the emotions
//! under the cursor, each mask's explanation, and Single-Mask for a chosen emotion.
//!
//! The masks are computed by an engine request (`jobs::masks::MaskView`) at most
//! [`MASK_SIDE`] pixels on a side; each emotion streams in as it is ready.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use artemo_engine::emosem::view::{self, ViewResult, ViewSize};
use artemo_engine::emosem::EMOTIONS;
use artemo_engine::jobs::masks::MaskView;
use artemo_engine::jobs::Roots;
use artemo_engine::worker::{Command, EventKind, JobId, JobOutput};
use artemo_engine::Emotion;
use egui::{Color32, ColorImage, Pos2, Rect, RichText, Sense, TextureHandle, Vec2};

pub mod explain;

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

/// The mask settings kept between runs (in the app's persisted settings): mode, style,
/// opacity, and each emotion's toggle and colour. Whether the masks are shown is not kept
/// (they are computed on demand).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MaskSettings {
    compose: SavedCompose,
    style: Style,
    opacity: f32,
    enabled: [bool; 8],
    colors: [[u8; 4]; 8],
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
    dir: Option<PathBuf>,
    /// A checkpoint chosen in the Train tab, used instead of the installed weights.
    pinned: Option<PathBuf>,
    models: Option<PathBuf>,
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
}

fn slot_of(e: Emotion) -> usize {
    EMOTIONS.iter().position(|x| *x == e).unwrap_or(0)
}

impl Masks {
    /// Looks for the weights again (after an import); a change drops what was computed.
    pub fn relocate(&mut self) {
        let dir = self
            .pinned
            .clone()
            .filter(|d| d.join("config.json").is_file() && d.join("model.safetensors").is_file())
            .or_else(|| self.models.as_deref().and_then(view::locate));
        if dir != self.dir {
            self.dir = dir;
            self.paintings.clear();
            self.textures = LruCache::new(TEXTURE_CACHE);
        }
    }

    /// Uses the checkpoint folder `dir` instead of the installed weights (`None`: the
    /// installed ones again); masks already computed are dropped.
    pub fn pin(&mut self, dir: Option<PathBuf>) {
        self.pinned = dir;
        self.relocate();
    }

    /// The weights folder in use, if any.
    pub fn weights_dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    /// The settings of a fresh canvas (nothing looked up).
    fn new_settings() -> Self {
        Masks {
            dir: None,
            pinned: None,
            models: None,
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
    }

    /// A canvas with no masks computed yet; finds installed EmoSEM weights.
    pub fn new() -> Self {
        let models = artemo_engine::find_models();
        let dir = models.as_deref().and_then(view::locate);
        Masks {
            dir,
            models,
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
        let Some(dir) = self.dir.clone() else { return };
        let want: Vec<Emotion> = match self.compose {
            Compose::Single(e) => vec![e],
            _ => EMOTIONS.to_vec(),
        };
        let models = self.models.clone();
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
        })) {
            Ok(id) => {
                e.jobs.push(id);
                e.requested.extend(missing);
            }
            Err(err) => shared.notice(format!("EmoSEM: {err}"), true),
        }
    }

    /// Draws the painting (central area).
    fn canvas(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some((tex, original)) = shared.view else {
            ui.centered_and_justified(|ui| ui.spinner());
            return;
        };
        let tex = tex.clone();
        let path = Self::current_path(shared);
        if path != self.last_image {
            self.xf.fit();
            // Stop computing masks of paintings no longer shown.
            for p in &mut self.paintings {
                if Some(&p.path) != path.as_ref() {
                    for j in p.jobs.drain(..) {
                        shared.engine.cancel(j);
                    }
                    p.requested.retain(|e| p.results.contains_key(e));
                }
            }
            self.last_image = path.clone();
        }
        let keys = !ui.ctx().egui_wants_keyboard_input();
        if keys && ui.input(|i| i.key_pressed(egui::Key::M) && !i.modifiers.command) {
            self.show = !self.show;
        }
        if self.show {
            if let Some(p) = &path {
                self.request(shared, p);
            }
        }
        let img = Vec2::new(original.0.max(1) as f32, original.1.max(1) as f32);
        let mut toolbar_rect = ui.available_rect_before_wrap();
        ui.horizontal(|ui| {
            toolbar_rect = ui.max_rect();
            zoom_toolbar(ui, &mut self.xf, toolbar_rect);
            ui.separator();
            ui.toggle_value(&mut self.show, "Emotion masks")
                .on_hover_text("Show or hide the EmoSEM masks (M)");
            let full = ui.ctx().input(|i| i.viewport().fullscreen.unwrap_or(false));
            if ui
                .button(if full {
                    "Leave fullscreen"
                } else {
                    "Fullscreen"
                })
                .on_hover_text("F11")
                .clicked()
            {
                ui.ctx()
                    .send_viewport_cmd(egui::ViewportCommand::Fullscreen(!full));
            }
        });
        let (rect, resp) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        self.xf.interact(ui, &resp, rect, img, true, true);
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
        let irect = self.xf.image_rect(rect, img);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        painter.image(tex.id(), irect, uv, Color32::WHITE);
        let Some(path) = path else { return };
        if self.show {
            self.draw_masks(ui, &painter, irect, &path);
        }
        if let Some(pos) = resp.hover_pos() {
            let p = self.xf.image_point(rect, pos);
            if p.x >= 0.0 && p.y >= 0.0 && p.x < img.x && p.y < img.y {
                let readout = self.readout(&path, p, img);
                let (x, y) = (p.x as u32, p.y as u32);
                resp.on_hover_ui_at_pointer(|ui| {
                    ui.label(RichText::new(format!("pixel {x}, {y}")).small().weak());
                    for (e, prob, top) in readout {
                        ui.horizontal(|ui| {
                            let (r, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
                            ui.painter().rect_filled(r, 2.0, self.colors[slot_of(e)]);
                            let t = format!("{:<12} {:>3.0}%", e.name(), prob * 100.0);
                            let t = RichText::new(t).monospace();
                            ui.label(if top { t.strong() } else { t.weak() });
                        });
                    }
                });
            }
        }
    }

    /// The emotions under image point `p` (original pixels), highest probability first,
    /// with whether each is in its mask; only computed, enabled emotions.
    fn readout(&self, path: &PathBuf, p: Pos2, img: Vec2) -> Vec<(Emotion, f32, bool)> {
        let Some(e) = self.paintings.iter().find(|x| &x.path == path) else {
            return Vec::new();
        };
        let mut rows: Vec<(Emotion, f32, bool)> = e
            .results
            .values()
            .filter(|r| self.visible(r.result.emotion))
            .map(|r| {
                let m = &r.result.probability;
                let x = ((p.x / img.x * m.width as f32) as usize).min(m.width - 1);
                let y = ((p.y / img.y * m.height as f32) as usize).min(m.height - 1);
                let v = m.data[y * m.width + x];
                (r.result.emotion, v, r.result.mask.get(x, y))
            })
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows
    }

    fn visible(&self, e: Emotion) -> bool {
        match self.compose {
            Compose::Single(s) => s == e,
            _ => self.enabled[slot_of(e)],
        }
    }

    fn draw_masks(&mut self, ui: &egui::Ui, painter: &egui::Painter, irect: Rect, path: &PathBuf) {
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        let ctx = ui.ctx().clone();
        let Some(i) = self.paintings.iter().position(|p| &p.path == path) else {
            return;
        };
        if self.compose == Compose::Dominant {
            let key = self.dominant_key();
            let entry = &mut self.paintings[i];
            if entry.results.is_empty() {
                return;
            }
            if entry.dominant.as_ref().is_none_or(|(k, _)| *k != key) {
                let img = dominant_image(&entry.results, &self.enabled, &self.colors, self.style);
                let tex = ctx.load_texture("emosem-dominant", img, PIXEL_TEXTURE);
                entry.dominant = Some((key, tex));
            }
            if let Some((_, t)) = &entry.dominant {
                painter.image(
                    t.id(),
                    irect,
                    uv,
                    Color32::WHITE.gamma_multiply(self.opacity),
                );
            }
            return;
        }
        let mut order: Vec<Emotion> = self.paintings[i]
            .results
            .keys()
            .copied()
            .filter(|e| self.visible(*e))
            .collect();
        order.sort_by_key(|e| slot_of(*e));
        for e in order {
            let key = (path.clone(), e, self.style);
            if !self.textures.contains(&key) {
                let Some(r) = self.paintings[i].results.get(&e) else {
                    continue;
                };
                let img = layer_image(r, self.style);
                let name = format!("emosem-{}-{:?}", e.name(), self.style);
                self.textures
                    .insert(key.clone(), ctx.load_texture(name, img, PIXEL_TEXTURE));
            }
            if let Some(t) = self.textures.get(&key) {
                let tint = self.colors[slot_of(e)].gamma_multiply(self.opacity);
                painter.image(t.id(), irect, uv, tint);
            }
        }
    }

    fn dominant_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.enabled.hash(&mut h);
        for c in &self.colors {
            c.to_array().hash(&mut h);
        }
        self.style.hash(&mut h);
        h.finish()
    }

    /// Draws the masks' controls (side panel).
    fn controls(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.label(RichText::new("Where the emotions are (EmoSEM)").strong());
        let Some(dir) = self.dir.clone() else {
            match weights_absent(ui, "EmoSEM", "mask", "emosem") {
                Some(AbsentChoice::ModelsTab) => shared.actions.push(Action::Goto(Tab::Models)),
                Some(AbsentChoice::LookAgain) => self.relocate(),
                None => {}
            }
            return;
        };
        weights_source(
            ui,
            &dir,
            "DEMO MODEL",
            "the demo kit's small CPU EmoSEM; far weaker than the paper's",
            false,
        );
        if self.pinned.is_some() && ui.small_button("Use the installed weights").clicked() {
            self.pin(None);
        }
        ui.horizontal(|ui| {
            ui.toggle_value(&mut self.show, "Show masks (M)");
            let path = Self::current_path(shared);
            if let Some(e) = path
                .as_ref()
                .and_then(|p| self.paintings.iter().find(|x| &x.path == p))
            {
                if !e.jobs.is_empty() {
                    ui.spinner();
                    ui.label(format!("{}/8", e.results.len()));
                }
            }
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.compose, Compose::All, "All")
                .on_hover_text("Every enabled emotion in its colour");
            ui.selectable_value(&mut self.compose, Compose::Dominant, "Dominant")
                .on_hover_text(
                    "Per pixel, the enabled emotion with the highest probability (above 50% \
                     with Fill and Contour)",
                );
            let single = match self.compose {
                Compose::Single(e) => Some(e),
                _ => None,
            };
            if ui
                .selectable_label(single.is_some(), "Single-Mask")
                .on_hover_text("One chosen emotion")
                .clicked()
            {
                self.compose = Compose::Single(single.unwrap_or(Emotion::Awe));
            }
            if let Compose::Single(mut e) = self.compose {
                egui::ComboBox::new("single-emotion", "emotion")
                    .selected_text(e.name())
                    .show_ui(ui, |ui| {
                        for x in EMOTIONS {
                            ui.selectable_value(&mut e, x, x.name());
                        }
                    });
                self.compose = Compose::Single(e);
            }
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.style, Style::Fill, "Fill");
            ui.selectable_value(&mut self.style, Style::Contour, "Contour");
            ui.selectable_value(&mut self.style, Style::Probability, "Probability")
                .on_hover_text("Opacity follows the model's probability");
            ui.add(egui::Slider::new(&mut self.opacity, 0.05..=1.0).text("opacity"));
        });
        let path = Self::current_path(shared);
        let entry = path
            .as_ref()
            .and_then(|p| self.paintings.iter().find(|x| &x.path == p));
        if let Some(err) = entry.and_then(|e| e.error.as_ref()) {
            ui.colored_label(theme::ERROR, err);
        }
        if !self.show && entry.is_none_or(|e| e.results.is_empty()) {
            ui.label(RichText::new("Turn the masks on (M) to compute them.").weak());
        }
        let all_empty = entry.is_some_and(|e| {
            e.results.len() == 8 && e.results.values().all(|r| r.result.mask.is_empty())
        });
        if all_empty && !self.auto_probability {
            // Fill and Contour would draw nothing: show where the model leans instead, once
            // (the user may switch back).
            self.auto_probability = true;
            self.style = Style::Probability;
        }
        if all_empty {
            ui.label(
                RichText::new(if self.style == Style::Probability {
                    "No pixel is above 50% for any emotion, so the masks are drawn with the \
                     Probability style: opacity follows where the model leans."
                } else {
                    "No pixel is above 50% for any emotion: the Probability style shows where \
                     the model leans."
                })
                .italics(),
            );
        }
        if let Some(e) = entry.filter(|e| e.results.len() > 1) {
            let mut texts = e.results.values().map(|r| &r.result.explanation);
            let first = texts.next();
            if first.is_some_and(|f| !f.is_empty() && texts.all(|t| t == f.as_str())) {
                ui.label(
                    RichText::new(
                        "Every emotion got the same explanation: this model's explainer does not \
                         follow the emotion (see its model card).",
                    )
                    .small()
                    .italics(),
                );
            }
        }
        ui.add_space(4.0);
        let results: Vec<Option<ViewResult>> = EMOTIONS
            .iter()
            .map(|e| entry.and_then(|x| x.results.get(e).cloned()))
            .collect();
        for (k, e) in EMOTIONS.into_iter().enumerate() {
            if let Compose::Single(s) = self.compose {
                if s != e {
                    continue;
                }
            }
            let r = &results[k];
            ui.horizontal(|ui| {
                ui.color_edit_button_srgba(&mut self.colors[k])
                    .on_hover_text("The mask's colour");
                let w = ui.spacing().interact_size.y + 100.0;
                ui.add_sized(
                    [w, 18.0],
                    egui::Checkbox::new(&mut self.enabled[k], RichText::new(e.name()).strong()),
                )
                .on_hover_text("Show this emotion's mask");
                match r {
                    Some(r) => {
                        let max = r
                            .result
                            .probability
                            .data
                            .iter()
                            .copied()
                            .fold(0.0, f32::max);
                        ui.label(
                            RichText::new(format!(
                                "{:>4.1}% of the image · max p {:.2}",
                                r.result.area_share * 100.0,
                                max
                            ))
                            .small(),
                        );
                    }
                    None => {
                        ui.label(RichText::new("—").weak());
                    }
                }
            });
            if let Some(r) = r {
                let text = if r.result.explanation.is_empty() {
                    "(no explanation generated)".to_string()
                } else {
                    format!("“{}”", r.result.explanation)
                };
                let regions = r.result.components.len();
                ui.indent(("why", k), |ui| {
                    ui.label(RichText::new(text).italics());
                    if regions > 0 {
                        ui.label(
                            RichText::new(format!(
                                "{regions} region{} above 50%",
                                if regions == 1 { "" } else { "s" }
                            ))
                            .small()
                            .weak(),
                        );
                    } else {
                        ui.label(RichText::new("no pixel above 50%").small().weak());
                    }
                });
            }
        }
        if self.colors != EMOTIONS.map(theme::emotion) && ui.small_button("Reset colours").clicked()
        {
            self.colors = EMOTIONS.map(theme::emotion);
        }
    }
}

/// The texture of one emotion's layer: white with the style's alpha (tinted when drawn).
fn layer_image(r: &ViewResult, style: Style) -> ColorImage {
    let m = &r.result.mask;
    let p = &r.result.probability;
    let (w, h) = (m.width, m.height);
    let mut px = vec![Color32::TRANSPARENT; w * h];
    for y in 0..h {
        for x in 0..w {
            let a = match style {
                Style::Fill => m.get(x, y) as u8 * 255,
                Style::Contour => (m.get(x, y) && on_edge(m, x, y)) as u8 * 255,
                Style::Probability => (p.data[y * w + x].clamp(0.0, 1.0) * 255.0) as u8,
            };
            if a > 0 {
                px[y * w + x] = Color32::from_white_alpha(a);
            }
        }
    }
    ColorImage::new([w, h], px)
}

/// True when a mask pixel has a neighbour (within 2 pixels, so the line stays visible
/// when the map is shown smaller) outside the mask.
fn on_edge(m: &artemo_engine::annotations::Mask, x: usize, y: usize) -> bool {
    let (w, h) = (m.width as i64, m.height as i64);
    for (dx, dy) in [
        (-2i64, 0i64),
        (2, 0),
        (0, -2),
        (0, 2),
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
    ] {
        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
        if nx < 0 || ny < 0 || nx >= w || ny >= h || !m.get(nx as usize, ny as usize) {
            return true;
        }
    }
    false
}

/// Per pixel, the colour of the enabled emotion with the highest probability above the
/// product threshold (0.5); fill or contour as the style asks (the probability style
/// weights the colour's opacity by the winning probability).
fn dominant_image(
    results: &HashMap<Emotion, ViewResult>,
    enabled: &[bool; 8],
    colors: &[Color32; 8],
    style: Style,
) -> ColorImage {
    let layers: Vec<&ViewResult> = EMOTIONS
        .iter()
        .enumerate()
        .filter(|(k, _)| enabled[*k])
        .filter_map(|(_, e)| results.get(e))
        .collect();
    let Some(first) = results.values().next() else {
        return ColorImage::new([1, 1], vec![Color32::TRANSPARENT]);
    };
    let (w, h) = (
        first.result.probability.width,
        first.result.probability.height,
    );
    // The Probability style shows the leading emotion everywhere (its opacity is its
    // probability); Fill and Contour only where it passes the product threshold.
    let threshold = if style == Style::Probability {
        0.0
    } else {
        artemo_engine::emosem::postprocess::THRESHOLD
    };
    let mut label = vec![u8::MAX; w * h];
    let mut best = vec![0f32; w * h];
    for (i, (l, b)) in label.iter_mut().zip(best.iter_mut()).enumerate() {
        let mut top = threshold;
        for r in &layers {
            let p = r.result.probability.data.get(i).copied().unwrap_or(0.0);
            if p > top {
                top = p;
                *l = slot_of(r.result.emotion) as u8;
            }
        }
        *b = top;
    }
    let mut px = vec![Color32::TRANSPARENT; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let l = label[i];
            if l == u8::MAX {
                continue;
            }
            let show = match style {
                Style::Contour => [
                    (-1i64, 0i64),
                    (1, 0),
                    (0, -1),
                    (0, 1),
                    (-2, 0),
                    (2, 0),
                    (0, -2),
                    (0, 2),
                ]
                .iter()
                .any(|(dx, dy)| {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    nx < 0
                        || ny < 0
                        || nx >= w as i64
                        || ny >= h as i64
                        || label[ny as usize * w + nx as usize] != l
                }),
                _ => true,
            };
            if show {
                let c = colors[l as usize];
                px[i] = match style {
                    Style::Probability => c.gamma_multiply(best[i]),
                    _ => c,
                };
            }
        }
    }
    ColorImage::new([w, h], px)
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
        self.apply_settings(&settings.masks);
    }

    fn save(&self, settings: &mut Settings) {
        settings.masks = self.settings();
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
