//! The Review tab's input: its keyboard shortcuts, file dialogs (with a typed path where
//! none can open) and export.

use super::*;

impl Review {
    pub(super) fn keyboard(&mut self, ui: &egui::Ui, shared: &mut Shared) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        use egui::{Key, Modifiers};
        let redo = ui.input_mut(|i| i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z));
        let undo = ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::Z));
        if redo {
            self.undo(shared, true);
        } else if undo {
            self.undo(shared, false);
        }
        let pressed = |k: Key| ui.input(|i| i.key_pressed(k) && i.modifiers.is_none());
        let n = self.samples.len();
        if n == 0 {
            return;
        }
        if pressed(Key::N) {
            self.goto((self.cur + 1).min(n - 1));
        }
        if pressed(Key::P) {
            self.goto(self.cur.saturating_sub(1));
        }
        if pressed(Key::U) {
            match self.next_where(|s, x| s.states.get(&x.key).and_then(|st| st.verdict).is_none()) {
                Some(i) => self.goto(i),
                None => self.status = Some("Every item has a verdict.".into()),
            }
        }
        if pressed(Key::X) {
            match self.next_where(|s, x| s.iou_of(&x.key).is_some_and(|v| v < 0.5)) {
                Some(i) => self.goto(i),
                None => self.status = Some("No scored item fails Pr@50.".into()),
            }
        }
        if pressed(Key::A) {
            self.set_verdict(shared, Verdict::Accepted);
        }
        if pressed(Key::R) {
            self.set_verdict(shared, Verdict::Rejected);
        }
        if pressed(Key::G) {
            self.set_verdict(shared, Verdict::Flagged);
        }
        if pressed(Key::B) {
            self.tool = if self.tool == Tool::Brush {
                Tool::Pan
            } else {
                Tool::Brush
            };
        }
        if pressed(Key::E) {
            self.tool = if self.tool == Tool::Eraser {
                Tool::Pan
            } else {
                Tool::Eraser
            };
        }
    }

    pub(super) fn poll_dialog(&mut self, shared: &mut Shared) {
        let Some(rx) = &self.dialog else { return };
        let Ok((what, picked)) = rx.try_recv() else {
            return;
        };
        self.dialog = None;
        match picked {
            Picked::Path(path) => self.picked(shared, what, path),
            Picked::Cancelled => {}
            Picked::Unavailable => {
                shared.notice(
                    format!("{} type the path below instead.", dialog::UNAVAILABLE),
                    true,
                );
                self.typed = Some((what, String::new()));
            }
        }
    }

    pub(super) fn picked(&mut self, shared: &mut Shared, what: DialogFor, path: PathBuf) {
        match what {
            DialogFor::Apolo => self.open_source(
                shared,
                GroundTruth::Apolo {
                    json: path,
                    maps: None,
                },
            ),
            DialogFor::Export(format) => self.export(shared, format, path),
        }
    }

    pub(super) fn dialog(&mut self, ctx: &egui::Context, what: DialogFor) {
        if self.dialog.is_some() {
            return;
        }
        self.dialog = Some(dialog::spawn(ctx, what, move || match what {
            DialogFor::Apolo => rfd::FileDialog::new()
                .set_title("APOLO apolo.json (maps in apolo_pixel_map/ beside it)")
                .add_filter("APOLO", &["json"])
                .pick_file(),
            DialogFor::Export(_) => rfd::FileDialog::new()
                .set_title("Export the reviewed masks to")
                .pick_folder(),
        }));
    }

    /// The path field shown when the system dialog could not open.
    pub(super) fn typed_path(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some((what, text)) = &mut self.typed else {
            return;
        };
        let what = *what;
        let mut go = false;
        let mut close = false;
        ui.horizontal_wrapped(|ui| {
            let label = ui.label(match what {
                DialogFor::Apolo => "apolo.json:",
                DialogFor::Export(_) => "export to folder:",
            });
            let edit = ui
                .add(
                    egui::TextEdit::singleline(text)
                        .desired_width(360.0)
                        .hint_text("a path on this computer"),
                )
                .labelled_by(label.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let verb = match what {
                DialogFor::Apolo => "Open",
                DialogFor::Export(_) => "Export",
            };
            go = ui.button(verb).clicked() || enter;
            close = ui.small_button("Cancel").clicked();
        });
        if go && !text.trim().is_empty() {
            let path = artemo_engine::resolve_shown(text.trim());
            self.typed = None;
            self.picked(shared, what, path);
        } else if close {
            self.typed = None;
        }
    }

    pub(super) fn export(&mut self, shared: &mut Shared, format: ExportFormat, out: PathBuf) {
        let rows: Vec<(ItemKey, rle::CocoRle, Option<Verdict>)> = self
            .samples
            .iter()
            .map(|s| {
                (
                    s.key.clone(),
                    self.effective_rle(s),
                    self.states.get(&s.key).and_then(|st| st.verdict),
                )
            })
            .collect();
        let job = Box::new(move |ctx: &artemo_engine::worker::JobContext| {
            let n = rv::export(&rows, format, &out, ctx)?;
            Ok(JobOutput::Text(format!(
                "Exported {n} masks to {}",
                out.display()
            )))
        });
        match shared.engine.submit(Command::Run {
            name: "review: export".into(),
            lane: Lane::Io,
            job,
        }) {
            Ok(id) => {
                self.pending.insert(id, Pending::Export);
            }
            Err(e) => shared.notice(format!("Export failed: {e}"), true),
        }
    }
}
