//! The Map tab's controls: the toolbar (projection, colour mode, tools, search) and the
//! side panel (legend, clusters, the selection and its actions), and the note shown when
//! PACL weights are absent.

use super::hotspots::Hotspot;
use super::styles::Styles;
use super::*;

impl Map {
    pub(super) fn not_installed(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.add_space(20.0);
        ui.heading("Embedding map (PACL)");
        ui.add_space(8.0);
        ui.label(
            "PACL weights are not installed, so no map is shown. The map needs a PACL model \
             (config.json + model.safetensors) and its text encoder (all-MiniLM-L6-v2).",
        );
        let models = self.weights.models.clone();
        match &models {
            Some(m) => {
                ui.label("Looked in:")
                    .on_hover_text(format!("models/ is {}", m.display()));
                for d in pacl::PACL_DIRS {
                    ui.label(RichText::new(format!("  models/{d}")).monospace());
                }
            }
            None => {
                ui.label("The models/ folder was not found (set ARTEMO_MODELS).");
            }
        }
        ui.label(
            "Train one with `artemo train pacl` (writes models/pacl) or the demo kit with \
             `artemo train --preset demo` (models/demo/pacl).",
        );
        ui.horizontal(|ui| {
            if ui.button("Open the Models tab").clicked() {
                shared.actions.push(Action::Goto(Tab::Models));
            }
            if ui.button("Look again").clicked() {
                self.weights.models = artemo_engine::find_models();
                self.weights.dir = self.weights.models.as_deref().and_then(pacl::locate);
            }
        });
    }

    pub(super) fn toolbar(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        has_human: bool,
        zs_ok: bool,
    ) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Projection:");
            let mut method = self.method;
            ui.selectable_value(&mut method, Method::Tsne, "t-SNE")
                .on_hover_text(
                    "Barnes-Hut t-SNE of the PACL embeddings: similar paintings cluster",
                );
            ui.selectable_value(&mut method, Method::Pca, "PCA")
                .on_hover_text("The first two principal components (linear, fast)");
            ui.selectable_value(&mut method, Method::Grid, "grid")
                .on_hover_text("The t-SNE map snapped to a grid: no thumbnail covers another");
            self.set_method(method);
            ui.separator();
            ui.checkbox(&mut self.thumbnails, "thumbnails")
                .on_hover_text(
                "Paintings as thumbnails where they fit, framed in their colour; points elsewhere",
            );
            if self.thumbnails {
                ui.add(egui::Slider::new(&mut self.thumb_px, 16.0..=96.0).text("size"));
            }
            ui.separator();
            ui.label("Hotspots:");
            for (m, label, tip) in [
                (
                    HotspotMode::Clusters,
                    "clusters",
                    "One representative painting per k-means cluster",
                ),
                (
                    HotspotMode::Emotions,
                    "emotions",
                    "One representative painting per emotion of the colouring",
                ),
                (HotspotMode::Off, "off", "No hotspots"),
            ] {
                ui.selectable_value(&mut self.hotspot_mode, m, label)
                    .on_hover_text(tip);
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Colour:");
            let mut c = self.colour.unwrap_or(ColourBy::Cluster);
            ui.add_enabled_ui(has_human, |ui| {
                ui.selectable_value(&mut c, ColourBy::Human, "human responses")
                    .on_hover_text("Dominant emotion of the collection's human responses (ArtEmis rule: at least half of the votes, no tie)")
                    .on_disabled_hover_text("No human responses are loaded for this collection");
            });
            ui.add_enabled_ui(zs_ok, |ui| {
                ui.selectable_value(&mut c, ColourBy::ZeroShot, "PACL zero-shot")
                    .on_hover_text("The emotion whose prompts are closest to the painting in PACL's joint space (model prediction)")
                    .on_disabled_hover_text("Zero-shot needs the PACL text encoder");
            });
            ui.selectable_value(&mut c, ColourBy::Cluster, "cluster");
            if self.data().is_some() {
                self.colour = Some(c);
            }
            if c == ColourBy::Cluster {
                ui.add(egui::DragValue::new(&mut self.k).range(2..=12).prefix("k = "));
            }
            if c == ColourBy::ZeroShot {
                for (p, label) in [
                    (PromptSet::Paper, "paper prompt"),
                    (PromptSet::Ensemble, "ensemble"),
                ] {
                    ui.selectable_value(&mut self.prompts, p, label)
                        .on_hover_text(p.describe());
                }
                let mut calibrated = self.calibration != Calibration::None;
                ui.checkbox(&mut calibrated, "calibrated").on_hover_text(
                    "Subtract each emotion's mean similarity over the collection, so no emotion wins by default (off: the paper's raw cosines)",
                );
                self.calibration = if calibrated {
                    Calibration::Centered
                } else {
                    Calibration::None
                };
            }
            ui.separator();
            ui.add(egui::Slider::new(&mut self.point_size, 2.0..=14.0).text("point size"));
            ui.separator();
            ui.label("Drag:");
            ui.selectable_value(&mut self.tool, Tool::Box, "box")
                .on_hover_text("Drag a rectangle to select; the grid opens with the selection");
            ui.selectable_value(&mut self.tool, Tool::Lasso, "lasso")
                .on_hover_text("Draw around points to select them");
            ui.selectable_value(&mut self.tool, Tool::Pan, "pan");
            if ui
                .button("Reset view")
                .on_hover_text("Wheel: zoom · right or middle drag: pan · double-click: reset")
                .clicked()
            {
                self.zoom = 1.0;
                self.centre = None;
            }
        });
        ui.horizontal(|ui| {
            ui.label("Search:");
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.query)
                    .desired_width(280.0)
                    .hint_text("a title, an artist, or \"paintings that feel lonely\""),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Search").clicked() || enter {
                self.start_search(shared);
            }
            if !self.query.is_empty() && ui.button("Clear").clicked() {
                self.clear_search();
            }
            ui.add(
                egui::DragValue::new(&mut self.top)
                    .range(1..=100)
                    .prefix("closest "),
            )
            .on_hover_text("How many PACL matches to highlight");
            if self.jobs.any(|p| matches!(p, Pending::Search(_))) {
                ui.spinner();
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn side(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        coll: &Collection,
        data: &MapData,
        styles: &Styles,
        colour: ColourBy,
        k: usize,
        model_dir: &std::path::Path,
    ) {
        ui.label(RichText::new("Legend").strong());
        ui.label(RichText::new(styles.caption.clone()).small());
        for (label, c, n) in &styles.legend {
            ui.horizontal(|ui| {
                let (r, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
                ui.painter().circle_filled(r.center(), 5.0, *c);
                ui.label(format!("{label} ({n})"));
            });
        }
        if colour == ColourBy::Cluster {
            ui.label(
                RichText::new(format!("k-means, k = {k}, on the PACL embeddings"))
                    .small()
                    .weak(),
            );
        }
        ui.add_space(6.0);
        ui.separator();
        if !self.selection.is_empty() {
            ui.label(
                RichText::new(format!("Selection: {} paintings", self.selection.len())).strong(),
            );
            ui.horizontal(|ui| {
                if ui.button("Show in the grid").clicked() {
                    shared
                        .actions
                        .push(Action::ShowOnly(self.selection.clone()));
                }
                if ui.button("Clear").clicked() {
                    self.selection.clear();
                }
            });
            ui.separator();
        }
        if !self.query.trim().is_empty() || !self.text_hits.is_empty() || !self.pacl_hits.is_empty()
        {
            ui.label(RichText::new("Search").strong());
            if let Some(e) = &self.search_error {
                ui.colored_label(theme::ERROR, e);
            }
            if !self.text_hits.is_empty() {
                ui.label(format!("{} title/artist match(es)", self.text_hits.len()));
                for &i in self.text_hits.iter().take(30) {
                    if let Some(p) = coll.paintings.get(i) {
                        if ui.link(p.display_title()).clicked() {
                            shared.actions.push(Action::OpenPainting(i));
                        }
                    }
                }
            }
            if let Some(q) = &self.pacl_query {
                ui.label(format!("closest to \"{q}\" (PACL text tower, cosine):"));
                for &(i, s) in self.pacl_hits.iter().take(self.top) {
                    if let Some(p) = coll.paintings.get(i) {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(format!("{s:.3}")).monospace());
                            if ui.link(p.display_title()).clicked() {
                                shared.actions.push(Action::OpenPainting(i));
                            }
                        });
                    }
                }
            }
            ui.separator();
        }
        ui.label(
            RichText::new(format!(
                "{} of {} paintings mapped · {} · {}",
                data.embeddings.ids.len(),
                coll.paintings.len(),
                match self.method {
                    Method::Tsne => "t-SNE",
                    Method::Pca => "PCA",
                    Method::Grid => "grid (t-SNE snapped)",
                },
                if data.from_cache {
                    "from the cache"
                } else {
                    "computed now"
                }
            ))
            .small(),
        );
        if let (Some(t), Some(a)) = (&self.atlas_tex, &data.atlas) {
            ui.label(
                RichText::new(format!(
                    "thumbnail atlas: {} pages of {} px cells, {:.0} MiB{}",
                    a.pages.len(),
                    a.cell,
                    t.bytes() as f64 / (1024.0 * 1024.0),
                    if a.from_cache { ", from the cache" } else { "" }
                ))
                .small()
                .weak(),
            );
        }
        if !data.skipped.is_empty() {
            ui.collapsing(
                format!("{} unreadable painting(s) not mapped", data.skipped.len()),
                |ui| {
                    for s in &data.skipped {
                        ui.label(
                            RichText::new(format!("{}: {}", s.path.display(), s.message)).small(),
                        );
                    }
                },
            );
        }
        if let Err(e) = &data.zero_shot {
            ui.label(
                RichText::new(format!("no zero-shot emotions: {e}"))
                    .small()
                    .weak(),
            );
        }
        let demo = model_dir.components().any(|c| c.as_os_str() == "demo");
        ui.label(
            RichText::new(format!(
                "PACL weights: {}{}",
                shown(self.weights.models.as_deref(), model_dir),
                if demo {
                    " (demo kit: small CPU model, far weaker than the paper's)"
                } else {
                    ""
                }
            ))
            .small()
            .weak(),
        );
        // What the kit's zero-shot is worth, as measured when it was built (issue 21).
        if let Some(z) = &data.measured_zero_shot {
            let right = (z.accuracy * z.test_paintings as f64).round();
            let majority = (z.majority * z.test_paintings as f64).round();
            let setting =
                if z.prompts == self.prompts.name() && z.calibration == self.calibration.name() {
                    String::new()
                } else {
                    format!(
                        " ({} prompt, {}; not the setting shown)",
                        z.prompts, z.calibration
                    )
                };
            ui.label(
                RichText::new(format!(
                    "zero-shot measured on the kit's {} test paintings: {right:.0} right; \
                     always the commonest emotion: {majority:.0}{setting}",
                    z.test_paintings,
                ))
                .small()
                .weak(),
            )
            .on_hover_text(
                "The emotion the kit's PACL predicts without training labels, against the \
                 viewers' dominant emotion of the annotation test split \
                 (models/demo/eval/pacl/zero_shot.csv; MODEL_CARD.md)",
            );
        }
        // What the model read (issue 21), as the Painting tab says it.
        if !data.embeddings.read.is_empty() {
            ui.label(RichText::new(format!("read: {}", data.embeddings.read)).small())
                .on_hover_text(
                    "The inputs of the map's PACL embeddings: the image, and with a text \
                     branch the painting's own text (title, artist, description) from the \
                     collection or the file name, embedded by the frozen MiniLM",
                );
        }
        if ui
            .small_button("Recompute")
            .on_hover_text("Drop this collection's map and compute it again")
            .clicked()
        {
            if let Some(key) = self.current.clone() {
                self.cache.remove(&key);
                let dir = crate::cmd::common::cache_dir();
                let f = map::cache_file(&dir, &data.model_key, &data.collection_key);
                let _ = std::fs::remove_file(f);
                self.start_map(shared, coll);
            }
        }
    }

    /// The hotspots as a list (thumbnail and label); a click flies the map there.
    pub(super) fn hotspot_list(&mut self, ui: &mut egui::Ui, points: &[[f32; 2]], hot: &[Hotspot]) {
        if hot.is_empty() {
            return;
        }
        ui.separator();
        ui.label(RichText::new("Hotspots").strong())
            .on_hover_text("Each group's representative: the painting nearest the group's mean PACL embedding. Click one to fly there.");
        let mut fly = None;
        for (h, spot) in hot.iter().enumerate() {
            ui.horizontal(|ui| {
                let img = self.atlas_tex.as_ref().and_then(|t| t.image(spot.j, 40.0));
                let r = match img {
                    Some(img) => ui.add(img.sense(Sense::click())),
                    None => {
                        let (r, resp) = ui.allocate_exact_size(Vec2::splat(40.0), Sense::click());
                        ui.painter().circle_filled(r.center(), 8.0, spot.colour);
                        resp
                    }
                };
                ui.painter().rect_stroke(
                    r.rect.expand(1.0),
                    2.0,
                    Stroke::new(2.0, spot.colour),
                    egui::StrokeKind::Outside,
                );
                let l = ui.link(&spot.label);
                if r.clicked() || l.clicked() {
                    fly = Some(h);
                }
            });
        }
        if let Some(h) = fly {
            self.fly_to(ui, points, &hot[h].members);
        }
    }
}
