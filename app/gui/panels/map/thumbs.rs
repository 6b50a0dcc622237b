//! The Map's thumbnails (issue 24): the atlas pages uploaded once as textures, and per
//! frame which paintings are drawn as thumbnails (where one fits without covering another
//! already placed) and which stay points. Placement follows a fixed per-map order (hotspot
//! representatives and search hits first), so panning never reshuffles what is shown.

use std::sync::Arc;

use artemo_engine::atlas::Atlas;
use egui::{Color32, Mesh, Pos2, Rect, TextureHandle, TextureOptions, Vec2};

/// The atlas pages as textures, for one atlas.
pub(super) struct AtlasTextures {
    atlas: Arc<Atlas>,
    pages: Vec<TextureHandle>,
}

impl AtlasTextures {
    /// Uploads `atlas`'s pages (once per atlas).
    pub(super) fn ensure(
        slot: &mut Option<AtlasTextures>,
        ctx: &egui::Context,
        atlas: &Arc<Atlas>,
    ) {
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(&t.atlas, atlas)) {
            return;
        }
        let pages = atlas
            .pages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let img = egui::ColorImage::from_rgba_unmultiplied(
                    [p.width as usize, p.height as usize],
                    &p.rgba,
                );
                ctx.load_texture(format!("map-atlas-{i}"), img, TextureOptions::LINEAR)
            })
            .collect();
        *slot = Some(AtlasTextures {
            atlas: Arc::clone(atlas),
            pages,
        });
    }

    /// Bytes of texture memory.
    pub(super) fn bytes(&self) -> usize {
        self.atlas.bytes()
    }

    /// The thumbnail's size (aspect kept) within a `side` x `side` box, if it has one.
    pub(super) fn size_in(&self, j: usize, side: f32) -> Option<Vec2> {
        let s = self.atlas.slots.get(j).copied().flatten()?;
        let m = s.w.max(s.h).max(1) as f32;
        Some(Vec2::new(s.w as f32, s.h as f32) * (side / m))
    }

    /// Painting `j`'s thumbnail as an image widget in a `side` x `side` box.
    pub(super) fn image(&self, j: usize, side: f32) -> Option<egui::Image<'static>> {
        let s = self.atlas.slots.get(j).copied().flatten()?;
        let tex = self.pages.get(s.page as usize)?;
        let [u0, v0, u1, v1] = self.atlas.uv(&s);
        let size = self.size_in(j, side)?;
        Some(
            egui::Image::new((tex.id(), size))
                .uv(Rect::from_min_max(Pos2::new(u0, v0), Pos2::new(u1, v1))),
        )
    }

    /// Adds painting `j`'s thumbnail at `rect` (tinted by `tint`) to its page's mesh.
    fn add(&self, meshes: &mut [Mesh], j: usize, rect: Rect, tint: Color32) {
        let Some(s) = self.atlas.slots.get(j).copied().flatten() else {
            return;
        };
        let [u0, v0, u1, v1] = self.atlas.uv(&s);
        if let Some(m) = meshes.get_mut(s.page as usize) {
            m.add_rect_with_uv(
                rect,
                Rect::from_min_max(Pos2::new(u0, v0), Pos2::new(u1, v1)),
                tint,
            );
        }
    }

    /// Draws the placed thumbnails: an emotion-coloured frame each, then the images, one
    /// mesh per atlas page.
    pub(super) fn paint(
        &self,
        painter: &egui::Painter,
        placed: &[Placed],
        colour: &dyn Fn(usize) -> Color32,
        dimmed: &dyn Fn(usize) -> bool,
    ) {
        let mut frames = Mesh::default();
        let mut meshes: Vec<Mesh> = self
            .pages
            .iter()
            .map(|t| Mesh::with_texture(t.id()))
            .collect();
        for p in placed {
            let c = colour(p.j);
            let dim = dimmed(p.j);
            let frame = if dim { c.gamma_multiply(0.3) } else { c };
            frames.add_colored_rect(p.rect.expand(p.frame), frame);
            let tint = if dim {
                Color32::from_gray(70)
            } else {
                Color32::WHITE
            };
            self.add(&mut meshes, p.j, p.rect, tint);
        }
        painter.add(frames);
        for m in meshes {
            if !m.is_empty() {
                painter.add(m);
            }
        }
    }
}

/// A thumbnail placed on screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Placed {
    /// The embedding index.
    pub(super) j: usize,
    /// Where its image goes.
    pub(super) rect: Rect,
    /// Its frame's width.
    pub(super) frame: f32,
}

/// Places thumbnails of box side `side` at the `screen` positions inside `clip`, in
/// `order`, skipping any that would overlap one already placed (a hash grid of cells of
/// `side` makes each test look at nine cells); at most `cap` are placed. `size_of` gives
/// a painting's thumbnail size in the box (`None`: it has none).
pub(super) fn place(
    screen: &[Pos2],
    order: &[usize],
    clip: Rect,
    side: f32,
    cap: usize,
    size_of: &dyn Fn(usize) -> Option<Vec2>,
) -> Vec<Placed> {
    let side = side.max(2.0);
    let frame = (side / 24.0).clamp(1.0, 3.0);
    // Grid cells as large as a framed thumbnail: overlaps lie in the 3 x 3 neighbourhood.
    let cs = side + 2.0 * frame;
    let cols = ((clip.width() / cs).ceil() as usize + 2).max(1);
    let rows = ((clip.height() / cs).ceil() as usize + 2).max(1);
    let mut cells: Vec<Vec<Rect>> = vec![Vec::new(); cols * rows];
    let cell = |p: Pos2| -> (usize, usize) {
        let x = (((p.x - clip.min.x) / cs).floor() + 1.0).clamp(0.0, cols as f32 - 1.0);
        let y = (((p.y - clip.min.y) / cs).floor() + 1.0).clamp(0.0, rows as f32 - 1.0);
        (x as usize, y as usize)
    };
    let mut out = Vec::new();
    for &j in order {
        if out.len() >= cap {
            break;
        }
        let Some(&p) = screen.get(j) else { continue };
        if !clip.expand(side).contains(p) {
            continue;
        }
        let Some(size) = size_of(j) else { continue };
        let rect = Rect::from_center_size(p, size).expand(frame);
        let (cx, cy) = cell(p);
        let free = (cy.saturating_sub(1)..=(cy + 1).min(rows - 1)).all(|y| {
            (cx.saturating_sub(1)..=(cx + 1).min(cols - 1))
                .all(|x| cells[y * cols + x].iter().all(|r| !r.intersects(rect)))
        });
        if free {
            cells[cy * cols + cx].push(rect);
            out.push(Placed {
                j,
                rect: rect.shrink(frame),
                frame,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_without_overlap_in_order() {
        let clip = Rect::from_min_size(Pos2::ZERO, Vec2::splat(200.0));
        // Three points on top of each other, one apart, one outside.
        let screen = [
            Pos2::new(50.0, 50.0),
            Pos2::new(55.0, 52.0),
            Pos2::new(150.0, 150.0),
            Pos2::new(51.0, 49.0),
            Pos2::new(900.0, 900.0),
        ];
        let order = [1, 0, 2, 3, 4];
        let sq = |_j: usize| Some(Vec2::splat(30.0));
        let p = place(&screen, &order, clip, 30.0, 100, &sq);
        let js: Vec<usize> = p.iter().map(|p| p.j).collect();
        assert_eq!(js, vec![1, 2]);
        for a in &p {
            for b in &p {
                if a.j != b.j {
                    assert!(!a.rect.expand(a.frame).intersects(b.rect.expand(b.frame)));
                }
            }
        }
        // The cap and paintings without a thumbnail.
        assert_eq!(place(&screen, &order, clip, 30.0, 1, &sq).len(), 1);
        let none = |j: usize| (j != 1).then_some(Vec2::splat(30.0));
        let js: Vec<usize> = place(&screen, &order, clip, 30.0, 9, &none)
            .iter()
            .map(|p| p.j)
            .collect();
        assert_eq!(js, vec![0, 2]);
    }
}
