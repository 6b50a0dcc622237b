//! The selected painting's side panel (Collection and Painting tabs): its image (Collection
//! tab), title, artist, date, description (with the AIC credit), then each panel's section
//! (the SEVLM explanation; the Painting tab's mask controls), then what viewers felt.

use egui::RichText;

use crate::gui::panels::Panels;
use crate::gui::state::{AppState, Tab};
use crate::gui::theme;
use crate::gui::widgets::credit;
use crate::gui::widgets::emotion_bar::emotion_bar;

/// The selected painting's details; with its image (Collection tab) or with the
/// masks' controls (Painting tab, whose canvas shows the image).
pub fn viewer(
    ui: &mut egui::Ui,
    state: &mut AppState,
    panels: &mut Panels,
    tab: Tab,
    with_image: bool,
) {
    // A resizable panel keeps the width its content takes: fill it, so that it does not
    // shrink to a short message shown while the collection opens.
    ui.set_min_width(ui.available_width());
    let Some(i) = state.selected else {
        ui.label("Select a painting.");
        return;
    };
    let Some(p) = state
        .collection
        .as_ref()
        .and_then(|c| c.paintings.get(i))
        .cloned()
    else {
        return;
    };
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let w = ui.available_width();
            match &state.view {
                _ if !with_image => {}
                Some(v) if v.index == i => {
                    let ts = v.texture.size_vec2();
                    let max_h = (ui.ctx().content_rect().height() * 0.62).max(200.0);
                    let scale = (w / ts.x).min(max_h / ts.y);
                    ui.vertical_centered(|ui| {
                        ui.add(egui::Image::new((v.texture.id(), ts * scale)));
                    });
                    ui.label(
                        RichText::new(format!("{} × {} px", v.original.0, v.original.1))
                            .small()
                            .weak(),
                    );
                    for w in &v.warnings {
                        ui.colored_label(
                            theme::ERROR,
                            format!("(!) {w}: what is shown may be incomplete"),
                        );
                    }
                }
                _ => {
                    if let Some(err) = state.failed.get(&i) {
                        ui.colored_label(theme::ERROR, err);
                    } else {
                        ui.add_sized([w, 240.0], egui::Spinner::new());
                    }
                }
            }
            ui.add_space(6.0);
            ui.heading(p.display_title());
            if let Some(a) = &p.artist {
                ui.label(RichText::new(a).strong());
            }
            let mut meta = Vec::new();
            if let Some(d) = &p.date {
                meta.push(d.clone());
            }
            if let Some(m) = &p.medium {
                meta.push(m.clone());
            }
            if let Some(s) = &p.style {
                meta.push(s.replace('_', " "));
            }
            if !meta.is_empty() {
                ui.label(meta.join(" · "));
            }
            if let Some(d) = p.plain_description() {
                ui.add_space(6.0);
                ui.label(d);
                if state.aic_descriptions {
                    credit::aic_description_credit(ui);
                }
            }
            ui.add_space(6.0);
            ui.label(
                RichText::new(artemo_engine::shown_path(&p.path))
                    .small()
                    .weak(),
            )
            .on_hover_text(p.path.display().to_string());
            // The models' output first, then what people said.
            ui.add_space(10.0);
            ui.separator();
            for panel in panels.iter_mut() {
                panel.side_section(ui, state, tab);
            }
            if let Some(rows) = state.responses.get(&p.id) {
                ui.add_space(10.0);
                ui.separator();
                egui::CollapsingHeader::new(RichText::new("What viewers felt").strong())
                    .id_salt("viewers-felt")
                    .default_open(true)
                    .show(ui, |ui| {
                        if let Some(src) = &state.responses_source {
                            ui.label(
                                RichText::new(format!("{} responses · {src}", rows.len()))
                                    .small()
                                    .weak(),
                            );
                        }
                        emotion_bars(ui, rows);
                        ui.add_space(4.0);
                        for r in rows {
                            ui.horizontal_wrapped(|ui| {
                                ui.label(theme::emotion_text(r.emotion));
                                ui.label(&r.utterance);
                            });
                        }
                    });
            }
        });
}

/// One bar per emotion with votes: the share of responses, in the emotion's colour.
fn emotion_bars(ui: &mut egui::Ui, rows: &[artemo_engine::annotations::Annotation]) {
    let mut hist = artemo_engine::annotations::Histogram::default();
    rows.iter().for_each(|r| hist.add(r.emotion));
    let total = hist.total().max(1) as f32;
    for e in artemo_engine::Emotion::ALL {
        let n = hist.count(e);
        if n == 0 {
            continue;
        }
        emotion_bar(ui, e, (n as f32, total), 40.0, format!("{n}"));
    }
}
