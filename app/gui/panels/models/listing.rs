//! The Models tab's listing: reading models/MODELS.toml and the user's LOCAL.toml into rows
//! (with file sizes and states), sha256 verification, and the features table saying which
//! tab each installed model enables.

use super::*;

/// Reads the manifests and checks which files and feature folders exist (the listing
/// job's body, on the engine).
pub(super) fn list(root: &Path) -> artemo_engine::Result<Listing> {
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let shipped = Manifest::load(&root.join("MODELS.toml"))?;
    let mut manifests = vec![(shipped, false, root.to_path_buf())];
    // Imports: the user's models folder, and `models/LOCAL.toml` from older imports or
    // `--overwrite-shipped`.
    let user = artemo_engine::user_models_dir();
    for dir in [Some(root.to_path_buf()), user].into_iter().flatten() {
        let local = dir.join("LOCAL.toml");
        if local.is_file() {
            match Manifest::load(&local) {
                Ok(m) => manifests.push((m, true, dir)),
                Err(e) => warnings.push(e.to_string()),
            }
        }
    }
    for (m, is_local, dir) in manifests {
        for entry in m.models {
            let present = entry
                .files
                .iter()
                .filter(|f| dir.join(&f.path).is_file())
                .count();
            rows.push(Row {
                entry,
                root: dir.clone(),
                local: is_local,
                present,
            });
        }
    }
    // Each feature looks in the user's models folder first, then in the shipped one.
    let rel = |d: &str| format!("{{<data>/models, models}}/{d}");
    let features = vec![
        Feature {
            what: "Emotion and explanation (SEVLM)",
            tab: Some(Tab::Painting),
            looks_in: ["sevlm", "demo/sevlm"].iter().map(|d| rel(d)).collect(),
            found: artemo_engine::sevlm::locate(root),
        },
        Feature {
            what: "Emotion masks (EmoSEM)",
            tab: Some(Tab::Painting),
            // As `emosem::analyze::default_model` on main: real weights, then the demo kit.
            looks_in: ["emosem", "demo/emosem"].iter().map(|d| rel(d)).collect(),
            found: artemo_engine::emosem::analyze::default_model(root),
        },
        Feature {
            what: "Embedding map, zero-shot, search (PACL)",
            tab: Some(Tab::Map),
            looks_in: artemo_engine::pacl::map_job::PACL_DIRS
                .iter()
                .map(|d| rel(d))
                .collect(),
            found: artemo_engine::pacl::map_job::locate(root),
        },
        Feature {
            what: "PACL text tower, EA features (MiniLM)",
            tab: Some(Tab::Map),
            looks_in: vec![rel("all-MiniLM-L6-v2")],
            found: Some(root.join("all-MiniLM-L6-v2")).filter(|d| {
                d.join("config.json").is_file() && d.join("model.safetensors").is_file()
            }),
        },
        Feature {
            what: "SEVLM image features (CLIP ViT-B/16)",
            tab: None,
            looks_in: vec!["<sevlm folder>/clip".into(), rel("clip-vit-base-patch16")],
            found: artemo_engine::sevlm::locate(root)
                .map(|d| d.join("clip"))
                .into_iter()
                .chain([root.join("clip-vit-base-patch16")])
                .find(|d| d.join("config.json").is_file()),
        },
        Feature {
            what: "EA metric classifier (artemo eval)",
            tab: None,
            looks_in: vec![rel("ea-minilm")],
            found: Some(root.join("ea-minilm")).filter(|d| d.join("config.json").is_file()),
        },
    ];
    Ok(Listing {
        root: root.to_path_buf(),
        rows,
        features,
        warnings,
    })
}

/// Checks every file's sha256 with progress by bytes (the verify job's body).
pub(super) fn verify(
    entry: &ModelEntry,
    root: &Path,
    ctx: &JobContext,
) -> artemo_engine::Result<Vec<(PathBuf, FileState)>> {
    let total: u64 = entry.files.iter().map(|f| f.bytes).sum::<u64>().max(1);
    let mut done = 0u64;
    let mut out = Vec::with_capacity(entry.files.len());
    for f in &entry.files {
        ctx.check()?;
        ctx.progress(done as f32 / total as f32, format!("hashing {}", f.path));
        let p = root.join(&f.path);
        let state = if !p.is_file() {
            FileState::Missing
        } else {
            let h = sha256_file(&p)?;
            if h == f.sha256.to_lowercase() {
                FileState::Ok
            } else {
                FileState::Mismatch(h)
            }
        };
        done += f.bytes;
        out.push((p, state));
    }
    ctx.progress(1.0, "verified");
    Ok(out)
}

/// Where each feature looks for its weights: a table sortable by feature, folders or
/// state; a feature's name opens its tab.
pub(super) fn features_table(ui: &mut egui::Ui, listing: &Listing, shared: &mut Shared) {
    let fs = &listing.features;
    let found = |f: &Feature| {
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
                0 => match f.tab {
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
