//! The Painting tab's canvas: the painting on the shared pan/zoom canvas with the mask
//! layers over it and the hover readout of the emotions under the cursor.

use super::layers::{dominant_image, layer_image};
use super::*;

impl Masks {
    /// Draws the painting (central area).
    pub(super) fn canvas(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
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
    pub(super) fn readout(&self, path: &PathBuf, p: Pos2, img: Vec2) -> Vec<(Emotion, f32, bool)> {
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

    pub(super) fn visible(&self, e: Emotion) -> bool {
        match self.compose {
            Compose::Single(s) => s == e,
            _ => self.enabled[slot_of(e)],
        }
    }

    pub(super) fn draw_masks(
        &mut self,
        ui: &egui::Ui,
        painter: &egui::Painter,
        irect: Rect,
        path: &PathBuf,
    ) {
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

    pub(super) fn dominant_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.enabled.hash(&mut h);
        for c in &self.colors {
            c.to_array().hash(&mut h);
        }
        self.style.hash(&mut h);
        h.finish()
    }
}
