//! The window's chrome around the panels: the top bar (collection path, folder dialog,
//! recent, filter, thumbnail size, theme), the tab bar, the status bar, the keyboard
//! shortcuts (and their overlay), dropped folders.

use std::path::PathBuf;

use egui::RichText;

use super::dialog;
use super::nav;
use super::state::{Action, AppState, Tab};

impl AppState {
    pub(crate) fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.heading("Artemo");
            ui.separator();
            ui.label("Collection:");
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.path_input)
                    .desired_width(320.0)
                    .hint_text("folder, paintings.csv or WikiArt root"),
            );
            if std::mem::take(&mut self.focus_path) {
                edit.request_focus();
            }
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Open").clicked() || enter {
                let p = artemo_engine::resolve_shown(&self.path_input);
                self.open(p);
            }
            if let Some(rx) = &self.open_dialog {
                if let Ok(((), picked)) = rx.try_recv() {
                    self.open_dialog = None;
                    match picked {
                        dialog::Picked::Path(p) => self.open(p),
                        dialog::Picked::Cancelled => {}
                        dialog::Picked::Unavailable => {
                            self.notice(
                                format!(
                                    "{} type the folder's path in the Collection field and press Open.",
                                    dialog::UNAVAILABLE
                                ),
                                true,
                            );
                            self.focus_path = true;
                        }
                    }
                }
            }
            if ui
                .add_enabled(self.open_dialog.is_none(), egui::Button::new("Folder…"))
                .on_hover_text("Choose a folder of paintings or a WikiArt root")
                .clicked()
            {
                // The system dialog blocks its thread (xdg portal); the window keeps drawing.
                self.open_dialog = Some(dialog::spawn(ui.ctx(), (), || {
                    rfd::FileDialog::new()
                        .set_title("Open a folder of paintings")
                        .pick_folder()
                }));
            }
            let recent = self.settings.recent.clone();
            ui.menu_button("Recent", |ui| {
                if recent.is_empty() {
                    ui.label("nothing yet");
                }
                for p in recent {
                    if ui.button(artemo_engine::shown_path(&p)).clicked() {
                        self.open(p);
                        ui.close();
                    }
                }
            });
            ui.separator();
            ui.label("Filter:");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .desired_width(180.0)
                    .hint_text("title, artist, date, style"),
            );
            ui.separator();
            ui.add(
                egui::Slider::new(&mut self.settings.thumb_size, 80.0..=260.0)
                    .text("size")
                    .show_value(false),
            );
            let label = if self.settings.dark { "Light" } else { "Dark" };
            if ui.button(label).clicked() {
                self.settings.dark = !self.settings.dark;
                ui.ctx().set_visuals(if self.settings.dark {
                    egui::Visuals::dark()
                } else {
                    egui::Visuals::light()
                });
            }
        });
    }

    pub(crate) fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            match &self.collection {
                Some(c) => {
                    ui.label(format!(
                        "{} · {} paintings ({} shown)",
                        c.name,
                        c.paintings.len(),
                        self.visible().len()
                    ));
                    if !c.problems.is_empty()
                        && ui.link(format!("{} problems", c.problems.len())).clicked()
                    {
                        self.show_problems = true;
                    }
                    if let Some(o) = &self.only {
                        ui.separator();
                        ui.label(format!("selection of {} from the map", o.len()));
                        if ui.small_button("show all").clicked() {
                            self.only = None;
                            self.actions.push(Action::ClearSelection);
                        }
                    }
                }
                None => {
                    ui.label("no collection open");
                }
            }
            ui.separator();
            ui.label(format!(
                "engine: {}, {} thread(s)",
                self.engine.device_name(),
                self.engine.threads()
            ))
            .on_hover_text(match self.engine.device_note() {
                Some(note) => format!(
                    "Every job of this window (analyses, masks, maps, training) runs on the {}: {note}",
                    self.engine.device_name()
                ),
                None => format!(
                    "Every job of this window (analyses, masks, maps, training) runs on the {}",
                    self.engine.device_name()
                ),
            });
            if let Some(f) = self.frames.summary(false).filter(|_| self.show_frame_time) {
                ui.separator();
                let busy = self.frames.summary(true);
                ui.label(RichText::new(format!("frame {:.1} ms", f.p95_ms)).small().weak())
                    .on_hover_text(format!(
                        "UI time per frame over the last {} frames: median {:.2} ms, 95th percentile {:.2} ms, worst {:.2} ms{}",
                        f.frames,
                        f.p50_ms,
                        f.p95_ms,
                        f.max_ms,
                        busy.map(|b| format!("\nwhile an engine job runs ({} frames): median {:.2} ms, 95th percentile {:.2} ms, worst {:.2} ms", b.frames, b.p50_ms, b.p95_ms, b.max_ms)).unwrap_or_default()
                    ));
            }
            let loading = self.requested.len();
            if loading > 0 {
                ui.separator();
                ui.spinner();
                ui.label(format!("decoding {loading} image(s)"));
            }
            if let Some((f, msg)) = &self.progress {
                ui.separator();
                ui.add(
                    egui::ProgressBar::new(*f)
                        .desired_width(120.0)
                        .text(msg.clone()),
                );
            }
        });
    }

    pub(crate) fn tab_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for &t in Tab::ALL {
                let r = ui
                    .selectable_label(self.settings.tab == t, RichText::new(t.label()).strong())
                    .on_hover_text(format!("Ctrl+{}", t as usize + 1));
                if r.clicked() {
                    self.settings.tab = t;
                }
            }
            ui.separator();
            if ui
                .button("?")
                .on_hover_text("Keyboard shortcuts (?)")
                .clicked()
            {
                self.show_shortcuts = !self.show_shortcuts;
            }
        });
    }

    pub(crate) fn shortcuts_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_shortcuts;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .min_width(520.0)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (k, what) in SHORTCUTS {
                        ui.label(RichText::new(*k).monospace().strong());
                        ui.label(*what);
                        ui.end_row();
                    }
                });
            });
        self.show_shortcuts = open;
    }

    pub(crate) fn keyboard(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (help, fullscreen, escape, enter) = ctx.input(|i| {
            (
                i.events
                    .iter()
                    .any(|e| matches!(e, egui::Event::Text(t) if t == "?")),
                i.key_pressed(egui::Key::F11),
                i.key_pressed(egui::Key::Escape),
                i.key_pressed(egui::Key::Enter),
            )
        });
        if help {
            self.show_shortcuts = !self.show_shortcuts;
        }
        if escape && self.show_shortcuts {
            self.show_shortcuts = false;
        }
        if fullscreen {
            let on = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
            ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!on));
        }
        for &t in Tab::ALL {
            if ctx.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, t.key())) {
                self.settings.tab = t;
            }
        }
        if !matches!(self.settings.tab, Tab::Collection | Tab::Painting) {
            return;
        }
        if enter && self.settings.tab == Tab::Collection && self.selected.is_some() {
            self.settings.tab = Tab::Painting;
        }
        if escape && self.settings.tab == Tab::Painting && !self.show_shortcuts {
            self.settings.tab = Tab::Collection;
        }
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let pos = self
            .selected
            .and_then(|s| visible.iter().position(|&i| i == s));
        // Up/Down move by a row of the grid on the Collection tab (the Painting tab has
        // no grid: there they are previous/next).
        let cols = if self.settings.tab == Tab::Collection {
            self.grid_cols.max(1)
        } else {
            1
        };
        let moves = [
            (egui::Key::ArrowLeft, nav::Move::Prev),
            (egui::Key::ArrowRight, nav::Move::Next),
            (egui::Key::ArrowUp, nav::Move::Up),
            (egui::Key::ArrowDown, nav::Move::Down),
        ];
        let m = moves
            .into_iter()
            .find(|(k, _)| ctx.input(|i| i.key_pressed(*k)))
            .map(|(_, m)| m);
        if let Some(n) = m.and_then(|m| nav::step(pos, visible.len(), cols, m)) {
            if let Some(&i) = visible.get(n) {
                self.selected = Some(i);
                self.scroll_to_selected = true;
            }
        }
    }

    pub(crate) fn dropped(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            self.open(p);
        }
    }
}

/// The shortcut overlay's rows.
const SHORTCUTS: &[(&str, &str)] = &[
    ("?", "show or hide this overlay"),
    (
        "Ctrl+1 … Ctrl+6",
        "Collection, Painting, Review, Map, Train, Models",
    ),
    ("← →", "previous / next painting (Collection, Painting)"),
    (
        "↑ ↓",
        "the painting above / below in the grid (Painting: previous / next)",
    ),
    ("Enter", "open the selected painting"),
    ("Esc", "back to the collection; close this overlay"),
    ("F11", "fullscreen"),
    ("F", "Painting: fit to window"),
    ("+ / − / wheel", "Painting: zoom; drag to pan"),
    ("M", "Painting: show or hide the emotion masks"),
    ("N / P", "Review: next / previous painting"),
    ("U / X", "Review: next unreviewed / next failing"),
    ("A / R / G", "Review: accept / reject / flag"),
    ("B / E", "Review: brush / eraser"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Review: undo / redo"),
];
