//! The Map tab's canvas: thumbnails where they fit and points elsewhere (pan, zoom, hover
//! cards, click to open), hotspots with their labels (click: fly there), box and lasso
//! selection, search hits ringed.

use super::hotspots::{target, Flight, Hotspot};
use super::styles::Styles;
use super::thumbs::{place, Placed};
use super::*;

/// At most this many thumbnails are placed per frame.
const MAX_THUMBS: usize = 4000;

impl Map {
    /// Draws the map: the paintings of `data` at `points` (2-D) as thumbnails where they
    /// fit (placed in `order`) and points elsewhere, in `styles`' colours, the `hot`spots,
    /// with zoom, pan, hover, click and box/lasso selection.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn canvas(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        coll: &Collection,
        data: &MapData,
        points: &[[f32; 2]],
        styles: &Styles,
        hot: &[Hotspot],
        order: &[usize],
    ) {
        let size = ui.available_size().max(Vec2::splat(100.0));
        let (resp, painter) = ui.allocate_painter(size, Sense::click_and_drag());
        let rect = resp.rect;
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        if points.is_empty() {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "no painting could be mapped",
                egui::FontId::proportional(14.0),
                ui.visuals().weak_text_color(),
            );
            return;
        }
        let screen = self.navigate(ui, &resp, points);
        // Thumbnails where they fit (hotspot representatives first, drawn larger).
        let side = (self.thumb_px * self.zoom.sqrt()).min(192.0);
        let placed: Vec<Placed> = match (&self.atlas_tex, self.thumbnails) {
            (Some(t), true) => place(&screen, order, rect, side, MAX_THUMBS, &|j| {
                t.size_in(j, side)
            }),
            _ => Vec::new(),
        };
        self.last_placed = placed.len();
        let hot_side = (side * 1.8).max(56.0);
        let tags = self.hotspot_tags(ui, rect, &screen, hot, hot_side);
        // Hover: the thumbnail under the pointer, else the nearest point within reach.
        let reach = (self.point_size + 4.0).max(8.0);
        let hovered = resp.hover_pos().and_then(|hp| {
            placed
                .iter()
                .rev()
                .find(|p| p.rect.contains(hp))
                .map(|p| p.j)
                .or_else(|| {
                    screen
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| rect.contains(**s))
                        .map(|(j, s)| (j, s.distance(hp)))
                        .filter(|(_, d)| *d <= reach)
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .map(|(j, _)| j)
                })
        });
        // A click on a hotspot's label flies there instead of opening a painting.
        let tag_clicked = resp.clicked()
            && resp
                .interact_pointer_pos()
                .and_then(|p| tags.iter().find(|t| t.1.contains(p)))
                .map(|t| self.fly_to(ui, points, &hot[t.0].members))
                .is_some();
        if !tag_clicked {
            self.select(ui, &resp, &screen, data, shared, hovered);
        }
        let painter = painter.with_clip_rect(rect);
        let mut as_thumb = vec![false; screen.len()];
        for p in &placed {
            as_thumb[p.j] = true;
        }
        self.paint(&painter, &screen, data, styles, &as_thumb);
        if let Some(t) = &self.atlas_tex {
            let dim = self.dimmer();
            t.paint(
                &painter,
                &placed,
                &|j| styles.colours.get(j).copied().unwrap_or(Color32::GRAY),
                &|j| dim(data.indices[j]),
            );
        }
        self.paint_hotspots(&painter, &screen, hot, &tags, hot_side);
        self.paint_marks(ui, &painter, &screen, data, styles, shared.selected);
        painter.text(
            rect.left_bottom() + Vec2::new(8.0, -6.0),
            egui::Align2::LEFT_BOTTOM,
            "wheel: zoom · right-drag: pan · double-click: reset · click: open · ctrl+click: select · click a hotspot label: fly there",
            egui::FontId::proportional(11.0),
            ui.visuals().weak_text_color(),
        );
        if let Some(j) = hovered {
            let h = Hovered {
                pos: screen[j],
                index: data.indices[j],
                label: styles.labels[j].clone(),
            };
            self.hover_card(ui, &painter, resp, h, shared, coll);
        }
    }

    /// Zoom about the pointer, pan with right/middle drag (or the pan tool), reset on a
    /// double click; the points' screen positions.
    fn navigate(&mut self, ui: &egui::Ui, resp: &egui::Response, points: &[[f32; 2]]) -> Vec<Pos2> {
        let rect = resp.rect;
        // Data bounds -> screen.
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for p in points {
            for a in 0..2 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        let span = Vec2::new((hi[0] - lo[0]).max(1e-6), (hi[1] - lo[1]).max(1e-6));
        let mid = Vec2::new((hi[0] + lo[0]) / 2.0, (hi[1] + lo[1]) / 2.0);
        let inner = rect.shrink(24.0);
        let base = (inner.width() / span.x).min(inner.height() / span.y);
        self.span = span;
        if let Some(f) = self.flight {
            let ((c, z), done) = f.at(ui.input(|i| i.time));
            self.centre = Some(c);
            self.zoom = z;
            if done {
                self.flight = None;
            } else {
                ui.ctx().request_repaint();
            }
        }
        // Interaction: zoom about the pointer, pan with right/middle drag (or the pan tool).
        let centre = self.centre.unwrap_or(mid);
        let scale = base * self.zoom;
        let to_screen = |c: Vec2, s: f32, p: [f32; 2]| {
            rect.center() + Vec2::new((p[0] - c.x) * s, -(p[1] - c.y) * s)
        };
        let to_data = |c: Vec2, s: f32, q: Pos2| {
            let d = q - rect.center();
            Vec2::new(c.x + d.x / s, c.y - d.y / s)
        };
        let mut centre = centre;
        let mut scale = scale;
        let user_moves = resp.dragged() || resp.double_clicked();
        if user_moves {
            self.flight = None;
        }
        if let Some(hp) = resp.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = (scroll * 0.003).exp() * pinch;
            if (factor - 1.0).abs() > 1e-4 {
                let before = to_data(centre, scale, hp);
                self.zoom = (self.zoom * factor).clamp(0.2, 200.0);
                scale = base * self.zoom;
                let after = to_data(centre, scale, hp);
                centre += before - after;
            }
        }
        let panning = resp.dragged_by(egui::PointerButton::Secondary)
            || resp.dragged_by(egui::PointerButton::Middle)
            || (self.tool == Tool::Pan && resp.dragged_by(egui::PointerButton::Primary));
        if panning {
            let d = resp.drag_delta();
            centre -= Vec2::new(d.x / scale, -d.y / scale);
        }
        if resp.double_clicked() {
            self.zoom = 1.0;
            scale = base;
            centre = mid;
        }
        self.centre = Some(centre);
        // Screen positions of every point.
        points
            .iter()
            .map(|p| to_screen(centre, scale, *p))
            .collect()
    }

    /// Box or lasso selection with the primary button (the grid shows it), click to open
    /// (Ctrl+click to select) the hovered painting.
    fn select(
        &mut self,
        ui: &egui::Ui,
        resp: &egui::Response,
        screen: &[Pos2],
        data: &MapData,
        shared: &mut Shared,
        hovered: Option<usize>,
    ) {
        // Selection by box or lasso with the primary button.
        let selecting = matches!(self.tool, Tool::Box | Tool::Lasso);
        if selecting && resp.drag_started_by(egui::PointerButton::Primary) {
            self.drag.clear();
            if let Some(p) = resp.interact_pointer_pos() {
                self.drag.push(p);
            }
        }
        if selecting && resp.dragged_by(egui::PointerButton::Primary) {
            if let Some(p) = resp.interact_pointer_pos() {
                match self.tool {
                    Tool::Box => {
                        self.drag.truncate(1);
                        self.drag.push(p);
                    }
                    _ => {
                        if self.drag.last().is_none_or(|l| l.distance(p) > 2.0) {
                            self.drag.push(p);
                        }
                    }
                }
            }
        }
        let mut finished = None;
        if resp.drag_stopped_by(egui::PointerButton::Primary) && selecting && self.drag.len() >= 2 {
            let inside: Vec<usize> = screen
                .iter()
                .enumerate()
                .filter(|(_, s)| match self.tool {
                    Tool::Box => Rect::from_two_pos(self.drag[0], self.drag[1]).contains(**s),
                    _ => self.drag.len() >= 3 && in_polygon(**s, &self.drag),
                })
                .map(|(j, _)| data.indices[j])
                .collect();
            finished = Some(inside);
            self.drag.clear();
        }
        if let Some(sel) = finished {
            if sel.is_empty() {
                shared.notice("The selection holds no painting.", false);
            } else {
                self.selection = sel.clone();
                shared.actions.push(Action::ShowOnly(sel));
            }
        }
        if resp.clicked() {
            if let Some(j) = hovered {
                // Ctrl+click marks the painting without leaving the map.
                if ui.input(|i| i.modifiers.command) {
                    shared.actions.push(Action::Select(data.indices[j]));
                } else {
                    shared.actions.push(Action::OpenPainting(data.indices[j]));
                }
            }
        }
    }

    /// The paintings a search highlights (collection indices): title/artist matches and
    /// the top PACL hits.
    fn highlighted(&self) -> HashSet<usize> {
        self.text_hits
            .iter()
            .copied()
            .chain(self.pacl_hits.iter().take(self.top).map(|h| h.0))
            .collect()
    }

    /// Which paintings a search dims (collection index -> dimmed).
    fn dimmer(&self) -> impl Fn(usize) -> bool {
        let highlight = self.highlighted();
        move |i| !highlight.is_empty() && !highlight.contains(&i)
    }

    /// The points not drawn as thumbnails (`as_thumb`), dimmed when a search highlights
    /// some.
    fn paint(
        &self,
        painter: &egui::Painter,
        screen: &[Pos2],
        data: &MapData,
        styles: &Styles,
        as_thumb: &[bool],
    ) {
        let dim = self.dimmer();
        let r = self.point_size / 2.0 + 1.0;
        let clip = painter.clip_rect().expand(r);
        for (j, s) in screen.iter().enumerate() {
            if as_thumb[j] || !clip.contains(*s) {
                continue;
            }
            let mut c = styles.colours[j];
            if dim(data.indices[j]) {
                c = c.gamma_multiply(0.25);
            }
            painter.circle_filled(*s, r, c);
        }
    }

    /// Highlights, the selection, the painting selected elsewhere, the box or lasso being
    /// drawn: on top of points and thumbnails.
    fn paint_marks(
        &self,
        ui: &egui::Ui,
        painter: &egui::Painter,
        screen: &[Pos2],
        data: &MapData,
        styles: &Styles,
        selected_painting: Option<usize>,
    ) {
        let highlight = self.highlighted();
        let selected: HashSet<usize> = self.selection.iter().copied().collect();
        let r = self.point_size / 2.0 + 1.0;
        if !selected.is_empty() || !highlight.is_empty() {
            for (j, s) in screen.iter().enumerate() {
                let i = data.indices[j];
                if selected.contains(&i) {
                    painter.circle_stroke(*s, r + 1.5, Stroke::new(1.5, ui.visuals().text_color()));
                }
                if highlight.contains(&i) {
                    painter.circle_filled(*s, r + 1.5, styles.colours[j]);
                    painter.circle_stroke(*s, r + 3.0, Stroke::new(2.0, Color32::WHITE));
                }
            }
        }
        // The painting selected in the grid or viewer.
        if let Some(j) = selected_painting.and_then(|s| data.indices.iter().position(|&i| i == s)) {
            let c = ui.visuals().selection.stroke.color;
            painter.circle_stroke(screen[j], r + 5.0, Stroke::new(2.0, c));
        }
        let sel_stroke = Stroke::new(1.5, ui.visuals().selection.stroke.color);
        match (self.tool, self.drag.len()) {
            (Tool::Box, 2) => {
                let b = Rect::from_two_pos(self.drag[0], self.drag[1]);
                painter.rect_filled(b, 0.0, ui.visuals().selection.bg_fill.gamma_multiply(0.25));
                painter.rect_stroke(b, 0.0, sel_stroke, egui::StrokeKind::Inside);
            }
            (Tool::Lasso, n) if n >= 2 => {
                painter.add(egui::Shape::closed_line(self.drag.clone(), sel_stroke));
            }
            _ => {}
        }
    }

    /// Where each on-screen hotspot's label goes: (hotspot, label rect).
    fn hotspot_tags(
        &self,
        ui: &egui::Ui,
        clip: Rect,
        screen: &[Pos2],
        hot: &[Hotspot],
        side: f32,
    ) -> Vec<(usize, Rect)> {
        let font = egui::FontId::proportional(12.0);
        hot.iter()
            .enumerate()
            .filter_map(|(h, spot)| {
                let p = *screen.get(spot.j)?;
                if !clip.contains(p) {
                    return None;
                }
                let w = ui.fonts_mut(|f| {
                    f.layout_no_wrap(spot.label.clone(), font.clone(), Color32::WHITE)
                        .size()
                        .x
                });
                let r = Rect::from_center_size(
                    p - Vec2::new(0.0, side / 2.0 + 13.0),
                    Vec2::new(w + 12.0, 20.0),
                );
                Some((h, r))
            })
            .collect()
    }

    /// The hotspots: each representative larger, framed in its group's colour, with its
    /// label above.
    fn paint_hotspots(
        &self,
        painter: &egui::Painter,
        screen: &[Pos2],
        hot: &[Hotspot],
        tags: &[(usize, Rect)],
        side: f32,
    ) {
        let font = egui::FontId::proportional(12.0);
        for &(h, tag) in tags {
            let spot = &hot[h];
            let p = screen[spot.j];
            let img = self
                .atlas_tex
                .as_ref()
                .filter(|_| self.thumbnails)
                .and_then(|t| t.size_in(spot.j, side).map(|s| (t, s)));
            match img {
                Some((t, size)) => {
                    let r = Rect::from_center_size(p, size);
                    let placed = [Placed {
                        j: spot.j,
                        rect: r,
                        frame: 3.0,
                    }];
                    t.paint(painter, &placed, &|_| spot.colour, &|_| false);
                }
                None => {
                    painter.circle_filled(p, self.point_size + 3.0, spot.colour);
                }
            }
            painter.rect_filled(tag, 4.0, Color32::from_black_alpha(200));
            painter.rect_stroke(
                tag,
                4.0,
                Stroke::new(1.5, spot.colour),
                egui::StrokeKind::Inside,
            );
            painter.text(
                tag.center(),
                egui::Align2::CENTER_CENTER,
                &spot.label,
                font.clone(),
                Color32::WHITE,
            );
        }
    }

    /// Starts a flight to the group of `members`.
    pub(super) fn fly_to(&mut self, ui: &egui::Ui, points: &[[f32; 2]], members: &[usize]) {
        let Some(to) = target(points, members, self.span) else {
            return;
        };
        let from = (self.centre.unwrap_or(to.0), self.zoom);
        self.flight = Some(Flight {
            from,
            to,
            start: ui.input(|i| i.time),
        });
        ui.ctx().request_repaint();
    }

    /// The hovered point's ring and its card (thumbnail, title, artist, colour label,
    /// search score).
    fn hover_card(
        &self,
        ui: &egui::Ui,
        painter: &egui::Painter,
        resp: egui::Response,
        hovered: Hovered,
        shared: &mut Shared,
        coll: &Collection,
    ) {
        let i = hovered.index;
        let r = self.point_size / 2.0 + 1.0;
        painter.circle_stroke(
            hovered.pos,
            r + 3.0,
            Stroke::new(2.0, ui.visuals().strong_text_color()),
        );
        if !shared.thumbs.contains(&i) {
            shared.actions.push(Action::WantThumb(i));
        }
        let thumb = shared.thumbs.get(&i).cloned();
        let p = coll.paintings.get(i);
        let what = hovered.label;
        let score = self.pacl_hits.iter().find(|h| h.0 == i).map(|h| h.1);
        resp.on_hover_ui_at_pointer(|ui| {
            ui.set_max_width(220.0);
            match thumb {
                Some(t) => {
                    let ts = t.size_vec2();
                    let s = (200.0 / ts.x).min(200.0 / ts.y);
                    ui.add(egui::Image::new((t.id(), ts * s)));
                }
                None => {
                    ui.add_sized([200.0, 60.0], egui::Spinner::new());
                }
            }
            if let Some(p) = p {
                ui.label(RichText::new(p.display_title()).strong());
                if let Some(a) = &p.artist {
                    ui.label(RichText::new(a).small());
                }
            }
            ui.label(RichText::new(what).small());
            if let Some(s) = score {
                ui.label(RichText::new(format!("search cosine {s:.3}")).small());
            }
            ui.label(RichText::new("click to open").small().weak());
        });
    }
}

/// The point under the pointer.
struct Hovered {
    /// Where it is drawn.
    pos: Pos2,
    /// Its painting's index in the collection.
    index: usize,
    /// What its colour says.
    label: String,
}

/// Even-odd point-in-polygon test.
pub(super) fn in_polygon(p: Pos2, poly: &[Pos2]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}
