//! The browse bar's widgets: the responses source and loader, the artist, style, year-span,
//! dominant-emotion and ambiguity filters, the sort order, Clear.

use super::*;

impl Browse {
    /// Draws the bar; `shown` of `total` paintings pass the filters; `map_selection`: the
    /// grid is restricted to a selection made on the map (Clear drops it too).
    pub(crate) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        shown: usize,
        total: usize,
        responses_source: Option<&str>,
        map_selection: bool,
    ) -> Option<BrowseAction> {
        let mut action = self.poll_dialog();
        // Taken out for the frame so the closures below can change the filters.
        let facets = std::mem::take(&mut self.facets);
        let f = &facets;
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 6.0;
            self.facet_menus(ui, f);
            self.years_group(ui, f);
            ui.separator();
            self.emotion_group(ui, f, total);
            ui.separator();
            if self.sort_and_clear(ui, map_selection) {
                action = Some(BrowseAction::Cleared);
            }
            ui.separator();
            ui.label(format!("{shown} of {total} shown"));
            if let Some(a) = self.responses_ui(ui, responses_source) {
                action = Some(a);
            }
        });
        self.facets = facets;
        action
    }

    /// The responses file dialog's answer, once it has one.
    fn poll_dialog(&mut self) -> Option<BrowseAction> {
        let mut action = None;
        if let Some(rx) = &self.dialog {
            if let Ok(((), picked)) = rx.try_recv() {
                self.dialog = None;
                match picked {
                    crate::gui::dialog::Picked::Path(p) => {
                        action = Some(BrowseAction::LoadResponses(p))
                    }
                    crate::gui::dialog::Picked::Cancelled => {}
                    crate::gui::dialog::Picked::Unavailable => {
                        self.typed = Some(String::new());
                        action = Some(BrowseAction::Notice(format!(
                            "{} type the CSV's path in the field beside Responses… instead.",
                            crate::gui::dialog::UNAVAILABLE
                        )));
                    }
                }
            }
        }
        action
    }

    /// The artist and style menus (a folder of files has neither).
    fn facet_menus(&mut self, ui: &mut egui::Ui, f: &Facets) {
        let label = match &self.artist {
            Some(k) => f
                .artists
                .iter()
                .find(|(x, _, _)| x == k)
                .map(|(_, shown, _)| shown.clone())
                .unwrap_or_else(|| k.clone()),
            None => "any artist".into(),
        };
        if !f.artists.is_empty() {
            egui::ComboBox::from_id_salt("browse-artist")
                .selected_text(truncate(&label, 28))
                .width(190.0)
                .height(420.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.artist, None, "any artist");
                    for (key, a, n) in &f.artists {
                        ui.selectable_value(
                            &mut self.artist,
                            Some(key.clone()),
                            format!("{a} ({n})"),
                        );
                    }
                })
                .response
                .on_hover_text("Artist");
        }
        // Style.
        if !f.styles.is_empty() {
            let label = self.style.clone().unwrap_or_else(|| "any style".into());
            egui::ComboBox::from_id_salt("browse-style")
                .selected_text(truncate(&label, 22))
                .width(150.0)
                .height(420.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.style, None, "any style");
                    for (s, n) in &f.styles {
                        ui.selectable_value(&mut self.style, Some(s.clone()), format!("{s} ({n})"));
                    }
                })
                .response
                .on_hover_text("Style, period or sub-collection");
        }
    }

    /// The years span (a group that wraps as a whole).
    fn years_group(&mut self, ui: &mut egui::Ui, f: &Facets) {
        if let Some((lo, hi)) = f.years {
            // Each group wraps as a whole.
            self.wrap_before(ui, 0);
            let group = ui.horizontal(|ui| {
                let mut on = self.years.is_some();
                if ui
                    .checkbox(&mut on, "years")
                    .on_hover_text("Keep dated paintings in this span (undated ones are hidden)")
                    .changed()
                {
                    self.years = on.then_some((lo, hi));
                }
                if let Some((a, b)) = &mut self.years {
                    let from = ui.label("from");
                    ui.add(egui::DragValue::new(a).range(lo..=hi).speed(1.0))
                        .labelled_by(from.id);
                    let to = ui.label("to");
                    ui.add(egui::DragValue::new(b).range(lo..=hi).speed(1.0))
                        .labelled_by(to.id);
                    if *a > *b {
                        std::mem::swap(a, b);
                    }
                }
            });
            self.measured(ui, 0, group.response.rect.width());
        }
    }

    /// The dominant-emotion menu and the ambiguity span (a group that wraps as a whole;
    /// disabled without human responses).
    fn emotion_group(&mut self, ui: &mut egui::Ui, f: &Facets, total: usize) {
        let have = total > f.without;
        let dark = ui.visuals().dark_mode;
        self.wrap_before(ui, 1);
        let group = ui
            .add_enabled_ui(have, |ui| {
                ui.horizontal(|ui| {
                    let text = match self.emotion {
                        EmotionFilter::Any => "any emotion".to_string(),
                        EmotionFilter::Dominant(e) => format!("dominant: {}", e.name()),
                        EmotionFilter::Split => "split votes".into(),
                        EmotionFilter::NoResponses => "no responses".into(),
                    };
                    egui::ComboBox::from_id_salt("browse-emotion")
                        .selected_text(text)
                        .width(170.0)
                        .height(420.0)
                        .show_ui(ui, |ui| {
                            ui.selectable_value(
                                &mut self.emotion,
                                EmotionFilter::Any,
                                "any emotion",
                            );
                            for e in Emotion::ALL {
                                let n = f.emotions.get(&e).copied().unwrap_or(0);
                                ui.selectable_value(
                                    &mut self.emotion,
                                    EmotionFilter::Dominant(e),
                                    RichText::new(format!("{} ({n})", e.name())).color({
                                        let c = theme::emotion(e);
                                        // Dark palette colours (fear) lightened to stay legible.
                                        if dark {
                                            c.lerp_to_gamma(Color32::WHITE, 0.35)
                                        } else {
                                            c
                                        }
                                    }),
                                );
                            }
                            ui.selectable_value(
                                &mut self.emotion,
                                EmotionFilter::Split,
                                format!("split votes ({})", f.split),
                            );
                            ui.selectable_value(
                                &mut self.emotion,
                                EmotionFilter::NoResponses,
                                format!("no responses ({})", f.without),
                            );
                        })
                        .response
                        .on_hover_text(
                            "Dominant emotion of the human responses: at least half of the votes, \
                     no tie (the ArtEmis rule)",
                        );
                    let amb = ui.label("ambiguity");
                    let (a, b) = &mut self.ambiguity;
                    ui.add(
                        egui::DragValue::new(a)
                            .range(0.0..=1.0)
                            .speed(0.01)
                            .fixed_decimals(2),
                    )
                    .labelled_by(amb.id)
                    .on_hover_text(
                        "Normalised entropy of the responses' emotions: 0 when every annotator \
                 chose the same emotion, 1 when the votes spread evenly over all nine",
                    );
                    let to = ui.label("to");
                    ui.add(
                        egui::DragValue::new(b)
                            .range(0.0..=1.0)
                            .speed(0.01)
                            .fixed_decimals(2),
                    )
                    .labelled_by(to.id);
                    if *a > *b {
                        std::mem::swap(a, b);
                    }
                });
            })
            .response
            .on_disabled_hover_text(
                "No human responses for this collection: load an ArtEmis CSV with Responses…",
            );
        self.measured(ui, 1, group.rect.width());
    }

    /// The sort menu and Clear; true when Clear was pressed.
    fn sort_and_clear(&mut self, ui: &mut egui::Ui, map_selection: bool) -> bool {
        // Not grouped: a group's width is unknown when the row decides to wrap.
        let sort = ui.label("sort");
        egui::ComboBox::from_id_salt("browse-sort")
            .selected_text(self.sort.label())
            .width(130.0)
            .show_ui(ui, |ui| {
                for s in Sort::ALL {
                    ui.selectable_value(&mut self.sort, s, s.label());
                }
            })
            .response
            .labelled_by(sort.id);
        if ui
            .add_enabled(self.active() || map_selection, egui::Button::new("Clear"))
            .on_hover_text("Clear every filter and the map's selection")
            .clicked()
        {
            self.clear();
            return true;
        }
        false
    }

    /// The Responses… button, and the typed path when no dialog could open.
    fn responses_ui(
        &mut self,
        ui: &mut egui::Ui,
        responses_source: Option<&str>,
    ) -> Option<BrowseAction> {
        let mut action = None;
        let resp = ui
            .add_enabled(self.dialog.is_none(), egui::Button::new("Responses…"))
            .on_hover_text(match responses_source {
                Some(s) => format!(
                    "Responses loaded: {s}\nLoad an ArtEmis-format CSV (art_style, \
                     painting, emotion, utterance) instead"
                ),
                None => "Load an ArtEmis-format CSV (art_style, painting, emotion, \
                         utterance) to filter by dominant emotion and ambiguity"
                    .into(),
            });
        if resp.clicked() {
            self.dialog = Some(crate::gui::dialog::spawn(ui.ctx(), (), || {
                rfd::FileDialog::new()
                    .set_title("ArtEmis responses (CSV)")
                    .add_filter("CSV", &["csv"])
                    .pick_file()
            }));
        }
        if let Some(text) = &mut self.typed {
            let edit = ui.add(
                egui::TextEdit::singleline(text)
                    .desired_width(260.0)
                    .hint_text("path of an ArtEmis-format CSV"),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Load").clicked() || enter) && !text.trim().is_empty() {
                action = Some(BrowseAction::LoadResponses(artemo_engine::resolve_shown(
                    text.trim(),
                )));
                self.typed = None;
            } else if ui.small_button("Cancel").clicked() {
                self.typed = None;
            }
        }
        action
    }

    /// Starts a new row before group `k` when it did not fit the rest of this one last
    /// frame (a nested group does not wrap by itself: it would run under the next panel).
    pub(super) fn wrap_before(&self, ui: &mut egui::Ui, k: usize) {
        let w = self.group_widths[k];
        let at_start = ui.cursor().min.x <= ui.max_rect().min.x + 1.0;
        if w > 0.0 && !at_start && ui.available_size_before_wrap().x < w {
            ui.end_row();
        }
    }

    /// Records group `k`'s width; a change redraws the frame so the row wraps at once.
    pub(super) fn measured(&mut self, ui: &egui::Ui, k: usize, w: f32) {
        if (self.group_widths[k] - w).abs() > 0.5 {
            self.group_widths[k] = w;
            ui.ctx().request_discard("browse bar group width");
        }
    }
}

pub(super) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
