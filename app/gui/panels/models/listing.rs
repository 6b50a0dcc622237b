//! The Models tab's listing as drawn: the features table saying which tab each installed
//! model enables, and the helpers of the rows (kind, sizes). The listing and the sha256
//! verification themselves are engine requests (`artemo_engine::jobs::manifests`).

use super::*;

/// Where each feature looks for its weights: a table sortable by feature, folders or
/// state; a feature's name opens its tab.
pub(super) fn features_table(ui: &mut egui::Ui, listing: &ModelListing, shared: &mut Shared) {
    let fs = &listing.features;
    let found = |f: &FeatureWeights| {
        f.found.as_ref().map(|p| {
            p.strip_prefix(&listing.root)
                .unwrap_or(p)
                .display()
                .to_string()
        })
    };
    let lines = fs
        .iter()
        .map(|f| f.looks_in.len())
        .max()
        .unwrap_or(1)
        .max(1);
    sortable_table(
        ui,
        "features",
        &[
            Col::new("feature", 280.0),
            Col::new("looks in (in order)", 260.0),
            Col::rest("uses"),
        ],
        fs.len(),
        16.0 * lines as f32 + 4.0,
        |r, c| match c {
            0 => Key::text(fs[r].what),
            1 => Key::text(fs[r].looks_in.join(" ")),
            _ => found(&fs[r]).map_or(Key::Empty, Key::text),
        },
        |ui, r, c| {
            let f = &fs[r];
            match c {
                0 => match f.tab.map(|t| match t {
                    FeatureTab::Painting => Tab::Painting,
                    FeatureTab::Map => Tab::Map,
                }) {
                    Some(t) => {
                        if ui
                            .link(f.what)
                            .on_hover_text(format!("open the {} tab", t.label()))
                            .clicked()
                        {
                            shared.actions.push(Action::Goto(t));
                        }
                    }
                    None => {
                        ui.label(f.what);
                    }
                },
                1 => {
                    ui.vertical(|ui| {
                        ui.spacing_mut().item_spacing.y = 0.0;
                        for d in &f.looks_in {
                            ui.label(RichText::new(d).monospace().small());
                        }
                    });
                }
                _ => match found(f) {
                    Some(rel) => {
                        ui.colored_label(theme::VERIFIED, format!("found: {rel}"));
                    }
                    None => {
                        ui.colored_label(theme::ERROR, "not installed");
                    }
                },
            }
        },
    );
}

/// The kind of model: the description's first clause (after a "Demo kit:" prefix).
pub(super) fn kind(e: &ModelEntry) -> String {
    let mut d = e.description.trim();
    if let Some(rest) = d.strip_prefix("Demo kit:") {
        d = rest.trim();
    }
    let cut = d.find([':', '(', ';']).unwrap_or(d.len());
    let k = d[..cut].trim();
    if k.is_empty() {
        d.to_string()
    } else {
        k.to_string()
    }
}

/// The tab a manifest "enables" item is used in, if any.
pub(super) fn feature_tab(what: &str) -> Option<Tab> {
    let w = what.to_lowercase();
    if w.contains("map") || w.contains("zero-shot") || w.contains("search") || w.contains("pacl") {
        Some(Tab::Map)
    } else if w.contains("sevlm") || w.contains("emosem") || w.contains("image features") {
        Some(Tab::Painting)
    } else {
        None
    }
}

pub(super) fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / 1024f64.powi(3))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024f64.powi(2))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b} B")
    }
}
