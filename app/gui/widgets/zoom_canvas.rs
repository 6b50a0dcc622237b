//! A pan/zoom canvas for one image (Painting and Review tabs): the transform (`ViewXform`:
//! fit, zoom about a point, wheel/pinch, drag, the +, −, F and 0 keys) and its toolbar.

use egui::{Pos2, Rect, TextureOptions, Vec2};

/// Linear when minified, nearest when magnified (deep zoom shows pixels).
pub const PIXEL_TEXTURE: TextureOptions = TextureOptions {
    magnification: egui::TextureFilter::Nearest,
    minification: egui::TextureFilter::Linear,
    wrap_mode: egui::TextureWrapMode::ClampToEdge,
    mipmap_mode: None,
};

/// Pan and zoom of an image in a canvas: `scale` screen points per image pixel, `pan` the
/// image's top-left corner relative to the canvas' top-left.
#[derive(Debug, Clone, Copy)]
pub struct ViewXform {
    scale: f32,
    pan: Vec2,
    fit: bool,
}

impl ViewXform {
    pub fn new() -> Self {
        ViewXform {
            scale: 1.0,
            pan: Vec2::ZERO,
            fit: true,
        }
    }

    /// Fit the image to the canvas (again on every resize until the user zooms).
    pub fn fit(&mut self) {
        self.fit = true;
    }

    pub fn zoom_percent(&self) -> f32 {
        self.scale * 100.0
    }

    fn fit_now(&mut self, rect: Rect, img: Vec2) {
        let s = (rect.width() / img.x).min(rect.height() / img.y).max(1e-4);
        self.scale = s;
        self.pan = (rect.size() - img * s) * 0.5;
    }

    /// Zooms by `factor` keeping the image point under `at` (screen) in place.
    pub fn zoom_at(&mut self, rect: Rect, at: Pos2, factor: f32) {
        let new = (self.scale * factor).clamp(0.01, 64.0);
        let f = new / self.scale;
        let local = at - rect.min;
        self.pan = local - (local - self.pan) * f;
        self.scale = new;
        self.fit = false;
    }

    /// Handles wheel / pinch zoom and dragging (`drag_pans`: the primary button pans; the
    /// middle and secondary buttons always do), and the +, −, F and 0 keys when `keys`.
    pub fn interact(
        &mut self,
        ui: &egui::Ui,
        resp: &egui::Response,
        rect: Rect,
        img: Vec2,
        drag_pans: bool,
        keys: bool,
    ) {
        if self.fit {
            self.fit_now(rect, img);
        }
        if let Some(pos) = resp.hover_pos() {
            let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = zoom * (scroll / 300.0).exp();
            if (factor - 1.0).abs() > 1e-4 {
                self.zoom_at(rect, pos, factor);
            }
        }
        let drag = resp.dragged_by(egui::PointerButton::Middle)
            || resp.dragged_by(egui::PointerButton::Secondary)
            || (drag_pans && resp.dragged_by(egui::PointerButton::Primary));
        if drag {
            self.pan += resp.drag_delta();
            self.fit = false;
        }
        if keys && !ui.ctx().egui_wants_keyboard_input() {
            let (plus, minus, f, one) = ui.input(|i| {
                let plain = !i.modifiers.command && !i.modifiers.alt;
                (
                    plain && (i.key_pressed(egui::Key::Plus) || i.key_pressed(egui::Key::Equals)),
                    plain && i.key_pressed(egui::Key::Minus),
                    plain && i.key_pressed(egui::Key::F),
                    plain && i.key_pressed(egui::Key::Num0),
                )
            });
            let c = resp.hover_pos().unwrap_or(rect.center());
            if plus {
                self.zoom_at(rect, c, 1.25);
            }
            if minus {
                self.zoom_at(rect, c, 0.8);
            }
            if one {
                let c = rect.center();
                self.zoom_at(rect, c, 1.0 / self.scale);
            }
            if f {
                self.fit_now(rect, img);
                self.fit = true;
            }
        }
    }

    /// Where the image lies on screen.
    pub fn image_rect(&self, rect: Rect, img: Vec2) -> Rect {
        Rect::from_min_size(rect.min + self.pan, img * self.scale)
    }

    /// Screen point -> image pixel coordinates (may lie outside the image).
    pub fn image_point(&self, rect: Rect, p: Pos2) -> Pos2 {
        ((p - rect.min - self.pan) / self.scale).to_pos2()
    }
}

/// Draws the toolbar of a canvas (fit, 1:1, −, +, zoom %); returns true when something was
/// pressed.
pub fn zoom_toolbar(ui: &mut egui::Ui, xf: &mut ViewXform, rect: Rect) {
    if ui
        .button("Fit")
        .on_hover_text("Fit to window (F)")
        .clicked()
    {
        xf.fit();
    }
    if ui
        .button("1:1")
        .on_hover_text("One image pixel per screen pixel (0)")
        .clicked()
    {
        let s = xf.scale;
        xf.zoom_at(rect, rect.center(), 1.0 / s);
    }
    if ui
        .button("−")
        .on_hover_text("Zoom out (−, wheel)")
        .clicked()
    {
        xf.zoom_at(rect, rect.center(), 0.8);
    }
    if ui.button("+").on_hover_text("Zoom in (+, wheel)").clicked() {
        xf.zoom_at(rect, rect.center(), 1.25);
    }
    ui.label(format!("{:.0}%", xf.zoom_percent()));
}
