//! The Painting tab's mask controls in the side panel: weights and demo badge, mode (all
//! eight, dominant, Single-Mask), style, opacity, per-emotion toggles and colours, the
//! explanations.

use super::*;

impl Masks {
    /// The explanations' decoding: the model's own, greedy, or nucleus (top-p,
    /// temperature, seed). A change recomputes the masks and explanations.
    fn decoding_row(&mut self, ui: &mut egui::Ui) {
        let before = self.decoding;
        let d = &mut self.decoding;
        // Wrapped: the sampling controls must not widen the side panel.
        ui.horizontal_wrapped(|ui| {
            ui.label("explanations");
            ui.selectable_value(&mut d.mode, DecodeMode::Model, "model's")
                .on_hover_text(
                    "The model's own decoding: nucleus p = 0.9 for the paper configuration \
                     (the paper's setting), greedy for the demo kit",
                );
            ui.selectable_value(&mut d.mode, DecodeMode::Greedy, "greedy");
            ui.selectable_value(&mut d.mode, DecodeMode::Nucleus, "nucleus")
                .on_hover_text("Nucleus sampling, reproducible by seed");
            if d.mode == DecodeMode::Nucleus {
                ui.add(egui::Slider::new(&mut d.top_p, 0.0..=1.0).text("top-p"));
                ui.add(egui::Slider::new(&mut d.temperature, 0.1..=2.0).text("temperature"));
                ui.add(egui::DragValue::new(&mut d.seed).prefix("seed "));
            }
        });
        if self.decoding.decoding() != before.decoding() {
            // Masks do not depend on the decoding, but they come with their explanations:
            // recompute both (cached mask textures stay valid).
            self.paintings.clear();
        }
    }

    /// Draws the masks' controls (side panel).
    pub(super) fn controls(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.label(RichText::new("Where the emotions are (EmoSEM)").strong());
        let Some(dir) = self.weights.dir.clone() else {
            match weights_absent(ui, "EmoSEM", "mask", "emosem") {
                Some(AbsentChoice::ModelsTab) => shared.actions.push(Action::Goto(Tab::Models)),
                Some(AbsentChoice::LookAgain) => self.relocate(),
                None => {}
            }
            return;
        };
        weights_source(
            ui,
            &dir,
            "DEMO MODEL",
            "the demo kit's small CPU EmoSEM; far weaker than the paper's",
            false,
        );
        if self.weights.pinned.is_some() && ui.small_button("Use the installed weights").clicked() {
            self.pin(None);
        }
        ui.horizontal(|ui| {
            ui.toggle_value(&mut self.show, "Show masks (M)");
            let path = Self::current_path(shared);
            if let Some(e) = path
                .as_ref()
                .and_then(|p| self.paintings.iter().find(|x| &x.path == p))
            {
                if !e.jobs.is_empty() {
                    ui.spinner();
                    ui.label(format!("{}/8", e.results.len()));
                }
            }
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.compose, Compose::All, "All")
                .on_hover_text("Every enabled emotion in its colour");
            ui.selectable_value(&mut self.compose, Compose::Dominant, "Dominant")
                .on_hover_text(
                    "Per pixel, the enabled emotion with the highest probability (above 50% \
                     with Fill and Contour)",
                );
            let single = match self.compose {
                Compose::Single(e) => Some(e),
                _ => None,
            };
            if ui
                .selectable_label(single.is_some(), "Single-Mask")
                .on_hover_text("One chosen emotion")
                .clicked()
            {
                self.compose = Compose::Single(single.unwrap_or(Emotion::Awe));
            }
            if let Compose::Single(mut e) = self.compose {
                egui::ComboBox::new("single-emotion", "emotion")
                    .selected_text(e.name())
                    .show_ui(ui, |ui| {
                        for x in EMOTIONS {
                            ui.selectable_value(&mut e, x, x.name());
                        }
                    });
                self.compose = Compose::Single(e);
            }
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.style, Style::Fill, "Fill");
            ui.selectable_value(&mut self.style, Style::Contour, "Contour");
            ui.selectable_value(&mut self.style, Style::Probability, "Probability")
                .on_hover_text("Opacity follows the model's probability");
            ui.add(egui::Slider::new(&mut self.opacity, 0.05..=1.0).text("opacity"));
        });
        self.decoding_row(ui);
        let path = Self::current_path(shared);
        let entry = path
            .as_ref()
            .and_then(|p| self.paintings.iter().find(|x| &x.path == p));
        if let Some(err) = entry.and_then(|e| e.error.as_ref()) {
            ui.colored_label(theme::ERROR, err);
        }
        if !self.show && entry.is_none_or(|e| e.results.is_empty()) {
            ui.label(RichText::new("Turn the masks on (M) to compute them.").weak());
        }
        let all_empty = entry.is_some_and(|e| {
            e.results.len() == 8 && e.results.values().all(|r| r.result.mask.is_empty())
        });
        if all_empty && !self.auto_probability {
            // Fill and Contour would draw nothing: show where the model leans instead, once
            // (the user may switch back).
            self.auto_probability = true;
            self.style = Style::Probability;
        }
        if all_empty {
            ui.label(
                RichText::new(if self.style == Style::Probability {
                    "No pixel is above 50% for any emotion, so the masks are drawn with the \
                     Probability style: opacity follows where the model leans."
                } else {
                    "No pixel is above 50% for any emotion: the Probability style shows where \
                     the model leans."
                })
                .italics(),
            );
        }
        if let Some(e) = entry.filter(|e| e.results.len() > 1) {
            let mut texts = e.results.values().map(|r| &r.result.explanation);
            let first = texts.next();
            if first.is_some_and(|f| !f.is_empty() && texts.all(|t| t == f.as_str())) {
                ui.label(
                    RichText::new(
                        "Every emotion got the same explanation: this model's explainer does not \
                         follow the emotion (see its model card).",
                    )
                    .small()
                    .italics(),
                );
            }
        }
        ui.add_space(4.0);
        let results: Vec<Option<ViewResult>> = EMOTIONS
            .iter()
            .map(|e| entry.and_then(|x| x.results.get(e).cloned()))
            .collect();
        for (k, e) in EMOTIONS.into_iter().enumerate() {
            if let Compose::Single(s) = self.compose {
                if s != e {
                    continue;
                }
            }
            let r = &results[k];
            ui.horizontal(|ui| {
                ui.color_edit_button_srgba(&mut self.colors[k])
                    .on_hover_text("The mask's colour");
                let w = ui.spacing().interact_size.y + 100.0;
                ui.add_sized(
                    [w, 18.0],
                    egui::Checkbox::new(&mut self.enabled[k], RichText::new(e.name()).strong()),
                )
                .on_hover_text("Show this emotion's mask");
                match r {
                    Some(r) => {
                        let max = r
                            .result
                            .probability
                            .data
                            .iter()
                            .copied()
                            .fold(0.0, f32::max);
                        ui.label(
                            RichText::new(format!(
                                "{:>4.1}% of the image · max p {:.2}",
                                r.result.area_share * 100.0,
                                max
                            ))
                            .small(),
                        );
                    }
                    None => {
                        ui.label(RichText::new("—").weak());
                    }
                }
            });
            if let Some(r) = r {
                let text = if r.result.explanation.is_empty() {
                    "(no explanation generated)".to_string()
                } else {
                    format!("“{}”", r.result.explanation)
                };
                let regions = r.result.components.len();
                ui.indent(("why", k), |ui| {
                    ui.label(RichText::new(text).italics());
                    if regions > 0 {
                        ui.label(
                            RichText::new(format!(
                                "{regions} region{} above 50%",
                                if regions == 1 { "" } else { "s" }
                            ))
                            .small()
                            .weak(),
                        );
                    } else {
                        ui.label(RichText::new("no pixel above 50%").small().weak());
                    }
                });
            }
        }
        if self.colors != EMOTIONS.map(theme::emotion) && ui.small_button("Reset colours").clicked()
        {
            self.colors = EMOTIONS.map(theme::emotion);
        }
    }
}
