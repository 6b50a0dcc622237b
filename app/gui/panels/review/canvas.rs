//! The Review tab's canvas: ground truth and prediction side by side, overlaid or under a
//! swipe, on the shared pan/zoom canvas; painting and erasing the edited mask.

use super::*;

impl Review {
    /// The canvas: each pane (two side by side, else one) with the painting, the masks the
    /// layout shows, the swipe handle, and the brush or eraser on the ground truth.
    pub(super) fn canvas(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(s) = self.samples.get(self.cur).cloned() else {
            return;
        };
        let image = self.images.get(&s.index).cloned();
        let Some(c) = &self.current else { return };
        let img = Vec2::new(c.gt.width.max(1) as f32, c.gt.height.max(1) as f32);
        let mut bar = ui.available_rect_before_wrap();
        ui.horizontal(|ui| {
            bar = ui.max_rect();
            zoom_toolbar(ui, &mut self.xf, bar);
        });
        let full = ui.available_rect_before_wrap();
        let panes = panes(self.layout, full);
        ui.allocate_rect(full, Sense::hover());
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        let mut brushed = false;
        let mut stroke_done = false;
        for (pi, (rect, show_gt, show_pred)) in panes.into_iter().enumerate() {
            let id = ui.make_persistent_id(("review-pane", pi));
            let resp = ui.interact(rect, id, Sense::click_and_drag());
            let painting_tool = self.tool != Tool::Pan && show_gt;
            self.xf
                .interact(ui, &resp, rect, img, !painting_tool, pi == 0);
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
            let irect = self.xf.image_rect(rect, img);
            match &image {
                Some(t) => {
                    painter.image(t.id(), irect, uv, Color32::WHITE);
                }
                None => {
                    painter.text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        "loading the painting…",
                        egui::FontId::proportional(14.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
            let zoom = self.xf_scale();
            let Some(c) = self.current.as_mut() else {
                return;
            };
            let swipe_x = rect.min.x + self.swipe * rect.width();
            let no_weights = self.weights.dir.is_none();
            let pane = (rect, show_gt, show_pred);
            draw_layers(&painter, c, pane, irect, self.layout, swipe_x, no_weights);
            if self.layout == Layout::Swipe {
                swipe_handle(ui, &painter, rect, swipe_x, &mut self.swipe);
            }
            if painting_tool {
                let tool = (self.radius, self.tool == Tool::Brush);
                let (b, done) = brush_stroke(c, &resp, &painter, rect, &self.xf, tool, zoom);
                brushed |= b;
                stroke_done |= done;
            }
        }
        if brushed {
            if let Some(c) = self.current.as_mut() {
                let im = mask_image(&c.gt, theme::GROUND_TRUTH, false);
                match &mut c.gt_tex {
                    Some(t) => t.set(im, PIXEL_TEXTURE),
                    None => c.gt_tex = Some(ui.ctx().load_texture("review-gt", im, PIXEL_TEXTURE)),
                }
            }
            self.live_update();
        }
        if stroke_done {
            self.commit_mask(shared);
        }
    }

    pub(super) fn xf_scale(&self) -> f32 {
        self.xf.zoom_percent() / 100.0
    }
}

/// The panes of a layout: (rect, shows the ground truth, shows the prediction).
fn panes(layout: Layout, full: Rect) -> Vec<(Rect, bool, bool)> {
    match layout {
        // (rect, shows ground truth, shows prediction)
        Layout::SideBySide => {
            let w = (full.width() - 8.0) / 2.0;
            vec![
                (
                    Rect::from_min_size(full.min, Vec2::new(w, full.height())),
                    true,
                    false,
                ),
                (
                    Rect::from_min_size(
                        full.min + Vec2::new(w + 8.0, 0.0),
                        Vec2::new(w, full.height()),
                    ),
                    false,
                    true,
                ),
            ]
        }
        _ => vec![(full, true, true)],
    }
}

/// The masks a pane shows (clipped at the swipe line in the swipe layout) and its label.
fn draw_layers(
    painter: &egui::Painter,
    c: &Current,
    (rect, show_gt, show_pred): (Rect, bool, bool),
    irect: Rect,
    layout: Layout,
    swipe_x: f32,
    no_weights: bool,
) {
    let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
    if show_gt {
        if let Some(t) = &c.gt_tex {
            if layout == Layout::Swipe {
                let clip = Rect::from_min_max(rect.min, Pos2::new(swipe_x, rect.max.y));
                painter
                    .with_clip_rect(clip)
                    .image(t.id(), irect, uv, Color32::WHITE);
            } else {
                painter.image(t.id(), irect, uv, Color32::WHITE);
            }
        }
    }
    if show_pred {
        match &c.pred_tex {
            Some(t) => {
                if layout == Layout::Swipe {
                    let clip = Rect::from_min_max(Pos2::new(swipe_x, rect.min.y), rect.max);
                    painter
                        .with_clip_rect(clip)
                        .image(t.id(), irect, uv, Color32::WHITE);
                } else {
                    painter.image(t.id(), irect, uv, Color32::WHITE);
                }
            }
            None if layout == Layout::SideBySide => {
                let msg = if no_weights {
                    "Predictions need EmoSEM weights (Models tab)"
                } else {
                    "predicting…"
                };
                painter.text(
                    rect.center_top() + Vec2::new(0.0, 24.0),
                    egui::Align2::CENTER_CENTER,
                    msg,
                    egui::FontId::proportional(15.0),
                    Color32::WHITE,
                );
            }
            None => {}
        }
    }
    let label = match (show_gt, show_pred) {
        (true, false) => "ground truth",
        (false, true) => "prediction",
        _ => "",
    };
    if !label.is_empty() {
        painter.text(
            rect.left_top() + Vec2::new(8.0, 6.0),
            egui::Align2::LEFT_TOP,
            label,
            egui::FontId::proportional(14.0),
            Color32::WHITE,
        );
    }
}

/// The swipe line and its handle, dragged to move the line (`swipe`: its share of the
/// pane's width).
fn swipe_handle(ui: &egui::Ui, painter: &egui::Painter, rect: Rect, swipe_x: f32, swipe: &mut f32) {
    painter.line_segment(
        [
            Pos2::new(swipe_x, rect.min.y),
            Pos2::new(swipe_x, rect.max.y),
        ],
        Stroke::new(2.0, Color32::WHITE),
    );
    let handle = Rect::from_center_size(Pos2::new(swipe_x, rect.center().y), Vec2::new(18.0, 48.0));
    painter.rect_filled(handle, 4.0, Color32::WHITE);
    painter.text(
        rect.left_top() + Vec2::new(8.0, 6.0),
        egui::Align2::LEFT_TOP,
        "< ground truth",
        egui::FontId::proportional(14.0),
        theme::GROUND_TRUTH,
    );
    painter.text(
        rect.right_top() + Vec2::new(-8.0, 6.0),
        egui::Align2::RIGHT_TOP,
        "prediction >",
        egui::FontId::proportional(14.0),
        theme::PREDICTION,
    );
    let h = ui.interact(
        handle.expand(4.0),
        ui.make_persistent_id("review-swipe-handle"),
        Sense::drag(),
    );
    if h.dragged() {
        if let Some(p) = h.interact_pointer_pos() {
            *swipe = ((p.x - rect.min.x) / rect.width()).clamp(0.0, 1.0);
        }
    }
    if h.hovered() || h.dragged() {
        ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
    }
}

/// The brush (`tool.1`) or eraser of `tool.0` image pixels on the ground truth; returns
/// whether the mask changed and whether a stroke ended.
fn brush_stroke(
    c: &mut Current,
    resp: &egui::Response,
    painter: &egui::Painter,
    rect: Rect,
    xf: &ViewXform,
    (radius, on): (f32, bool),
    zoom: f32,
) -> (bool, bool) {
    let (mut brushed, mut stroke_done) = (false, false);
    if let Some(pos) = resp.hover_pos() {
        painter.circle_stroke(pos, radius * zoom, Stroke::new(1.5, Color32::WHITE));
    }
    if resp.drag_started_by(egui::PointerButton::Primary) {
        c.undo.push(c.gt.clone());
        if c.undo.len() > UNDO_DEPTH {
            c.undo.remove(0);
        }
        c.redo.clear();
        c.stroke = None;
    }
    if resp.dragged_by(egui::PointerButton::Primary) {
        if let Some(pos) = resp.interact_pointer_pos() {
            let p = xf.image_point(rect, pos);
            let from = c.stroke.unwrap_or(p);
            paint_line(&mut c.gt, from, p, radius, on);
            c.stroke = Some(p);
            brushed = true;
        }
    }
    if resp.drag_stopped() && c.stroke.is_some() {
        c.stroke = None;
        stroke_done = true;
    }
    (brushed, stroke_done)
}

/// Paints (or erases) a disc of `radius` pixels along the segment `a`-`b` (image pixels).
pub(super) fn paint_line(m: &mut Mask, a: Pos2, b: Pos2, radius: f32, on: bool) {
    let steps = ((b - a).length() / (radius * 0.5).max(0.5)).ceil().max(1.0) as usize;
    for k in 0..=steps {
        let p = a + (b - a) * (k as f32 / steps as f32);
        let (x0, x1) = (
            (p.x - radius).floor().max(0.0) as usize,
            (p.x + radius).ceil().max(0.0) as usize,
        );
        let (y0, y1) = (
            (p.y - radius).floor().max(0.0) as usize,
            (p.y + radius).ceil().max(0.0) as usize,
        );
        for y in y0..y1.min(m.height) {
            for x in x0..x1.min(m.width) {
                let d = Vec2::new(x as f32 + 0.5 - p.x, y as f32 + 0.5 - p.y);
                if d.length() <= radius {
                    m.set(x, y, on);
                }
            }
        }
    }
}

pub(super) fn mask_image(m: &Mask, color: Color32, contour: bool) -> ColorImage {
    let (w, h) = (m.width, m.height);
    let outside = |x: i64, y: i64| {
        x < 0 || y < 0 || x >= w as i64 || y >= h as i64 || !m.get(x as usize, y as usize)
    };
    let mut px = vec![Color32::TRANSPARENT; w * h];
    for y in 0..h {
        for x in 0..w {
            if !m.get(x, y) {
                continue;
            }
            // A 3-pixel outline, so the region stays visible on any painting.
            let (xi, yi) = (x as i64, y as i64);
            let edge = (-3i64..=3).any(|d| outside(xi + d, yi) || outside(xi, yi + d));
            px[y * w + x] = if edge {
                color
            } else if contour {
                color.gamma_multiply(0.2)
            } else {
                color.gamma_multiply(0.5)
            };
        }
    }
    ColorImage::new([w, h], px)
}
