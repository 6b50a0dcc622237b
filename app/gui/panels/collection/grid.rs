//! The Collection tab's thumbnail grid: virtualised rows, one cell per painting (its
//! thumbnail, from the engine's disk cache, and its caption), click to select,
//! double-click to open in the Painting tab. Only the cells on screen ask for their
//! thumbnails; requests for cells scrolled past are dropped.

use std::collections::HashSet;

use egui::Color32;

use crate::gui::state::{AppState, Tab};
use crate::gui::theme;

/// Thumbnail requests queued at most (or a row of the grid, if more): enough to keep the
/// engine's io lane busy between two frames.
const THUMBS_IN_FLIGHT: usize = 6;

pub(super) fn grid(state: &mut AppState, ui: &mut egui::Ui, width: f32) {
    let visible = state.visible();
    if visible.is_empty() {
        ui.centered_and_justified(|ui| {
            ui.label(if state.collection.is_none() {
                "Opening…"
            } else {
                "No painting matches the filter."
            });
        });
        return;
    }
    let size = state.settings.thumb_size;
    let spacing = 8.0;
    let width = width.min(ui.available_width());
    let cols = (((width + spacing) / (size + spacing)).floor() as usize).max(1);
    state.grid_cols = cols;
    let rows = visible.len().div_ceil(cols);
    let row_h = size + 22.0 + spacing;
    let mut clicked = None;
    let mut opened = None;
    let mut scroll = egui::ScrollArea::vertical().auto_shrink([false, false]);
    if state.scroll_to_selected {
        if let Some(pos) = state
            .selected
            .and_then(|s| visible.iter().position(|&i| i == s))
        {
            scroll = scroll.vertical_scroll_offset(((pos / cols) as f32 * row_h - row_h).max(0.0));
        }
        state.scroll_to_selected = false;
    }
    let mut shown = std::mem::take(&mut state.grid_shown);
    shown.clear();
    let out = scroll.show_rows(ui, row_h, rows, |ui, range| {
        for r in range {
            ui.horizontal(|ui| {
                for c in 0..cols {
                    let Some(&i) = visible.get(r * cols + c) else {
                        break;
                    };
                    shown.push(i);
                    match cell(state, ui, i, size) {
                        (_, true) => opened = Some(i),
                        (true, false) => clicked = Some(i),
                        _ => {}
                    }
                    ui.add_space(spacing - ui.spacing().item_spacing.x);
                }
            });
            ui.add_space(spacing);
        }
    });
    // Requests for cells scrolled past give way to the ones on screen.
    let wanted: HashSet<usize> = shown.iter().copied().collect();
    state.drop_stale_thumbs(&wanted);
    // A few requests at a time, the cells that stay on screen longest first (those that
    // came in at the bottom when scrolling down): a fast scroll then shows thumbnails
    // instead of a queue of cells that have left before their turn.
    let down = out.state.clamped_offset().y > state.grid_offset;
    state.grid_offset = out.state.clamped_offset().y;
    let order: Box<dyn Iterator<Item = &usize>> = if down {
        Box::new(shown.iter().rev())
    } else {
        Box::new(shown.iter())
    };
    for &i in order {
        if state.thumbs_in_flight() >= cols.max(THUMBS_IN_FLIGHT) {
            break;
        }
        state.request_thumb(i);
    }
    state.grid_shown = shown;
    if let Some(i) = clicked {
        state.selected = Some(i);
    }
    if let Some(i) = opened {
        state.selected = Some(i);
        state.settings.tab = Tab::Painting;
    }
}

/// Draws one thumbnail cell; returns (clicked, double-clicked).
fn cell(state: &mut AppState, ui: &mut egui::Ui, i: usize, size: f32) -> (bool, bool) {
    let selected = state.selected == Some(i);
    let title = state
        .collection
        .as_ref()
        .and_then(|c| c.paintings.get(i))
        .map(|p| p.display_title().to_string())
        .unwrap_or_default();
    // Sorted by ambiguity, the caption leads with the value the grid is ordered by.
    let ambiguity = state.browse.shown_ambiguity(i);
    let caption = match ambiguity {
        Some(a) => format!("{a:.2} · {title}"),
        None => title.clone(),
    };
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(size, size + 22.0), egui::Sense::click());
    let img_rect = egui::Rect::from_min_size(rect.min, egui::vec2(size, size));
    let painter = ui.painter_at(rect);
    let bg = if selected {
        ui.visuals().selection.bg_fill
    } else {
        ui.visuals().faint_bg_color
    };
    painter.rect_filled(img_rect, 4.0, bg);
    if let Some(tex) = state.thumbs.get(&i) {
        let ts = tex.size_vec2();
        let scale = ((size - 8.0) / ts.x).min((size - 8.0) / ts.y);
        let r = egui::Rect::from_center_size(img_rect.center(), ts * scale);
        painter.image(
            tex.id(),
            r,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            Color32::WHITE,
        );
    } else if let Some(err) = state.failed.get(&i) {
        painter.text(
            img_rect.center(),
            egui::Align2::CENTER_CENTER,
            "unreadable",
            egui::FontId::proportional(12.0),
            theme::ERROR,
        );
        let _ = err;
    } else {
        painter.text(
            img_rect.center(),
            egui::Align2::CENTER_CENTER,
            "…",
            egui::FontId::proportional(18.0),
            ui.visuals().weak_text_color(),
        );
    }
    let text_rect = egui::Rect::from_min_size(
        egui::pos2(rect.min.x, img_rect.max.y + 2.0),
        egui::vec2(size, 18.0),
    );
    let mut job = egui::text::LayoutJob::single_section(
        caption,
        egui::TextFormat::simple(egui::FontId::proportional(11.0), ui.visuals().text_color()),
    );
    job.wrap = egui::text::TextWrapping {
        max_width: size,
        max_rows: 1,
        break_anywhere: true,
        overflow_character: Some('…'),
    };
    let galley = ui.painter().layout_job(job);
    let clipped = ui.painter().with_clip_rect(text_rect);
    clipped.galley(text_rect.min, galley, ui.visuals().text_color());
    if selected {
        painter.rect_stroke(
            img_rect,
            4.0,
            egui::Stroke::new(2.0, ui.visuals().selection.stroke.color),
            egui::StrokeKind::Inside,
        );
    }
    let amb = ambiguity
        .map(|a| {
            format!("\nambiguity {a:.2} (entropy of the viewers' emotions: 0 all agree, 1 evenly split)")
        })
        .unwrap_or_default();
    let resp = resp.on_hover_text(format!("{title}{amb}\n(double-click to open)"));
    (resp.clicked(), resp.double_clicked())
}
