//! The banners under the tabs: identical notices merge (counted), information expires after
//! a few seconds, errors stay until dismissed; the newest two are shown.

use egui::RichText;

use super::theme;

/// A banner under the tabs.
struct Notice {
    text: String,
    error: bool,
    /// How many times it was raised (identical notices merge).
    count: usize,
    /// When it was first drawn (the window's clock), for expiry.
    shown_at: Option<f64>,
}

/// Information banners go after this many seconds; errors stay until dismissed.
const INFO_SECS: f64 = 10.0;
/// Banners shown at once (newest first); older ones are counted.
const NOTICES_SHOWN: usize = 2;
/// Banners kept at all.
const NOTICES_KEPT: usize = 20;

/// The banners raised so far (oldest first).
#[derive(Default)]
pub(crate) struct Notices {
    list: Vec<Notice>,
}

impl Notices {
    /// Raises a banner (merged with an identical one, which moves to the top).
    pub(crate) fn push(&mut self, text: String, error: bool) {
        if error {
            tracing::warn!("notice: {text}");
        } else {
            tracing::info!("notice: {text}");
        }
        let count = match self.list.iter().position(|n| n.text == text) {
            Some(i) => self.list.remove(i).count + 1,
            None => 1,
        };
        self.list.push(Notice {
            text,
            error,
            count,
            shown_at: None,
        });
        if self.list.len() > NOTICES_KEPT {
            self.list.remove(0);
        }
    }

    /// Drops the errors (a new collection's problems replace the old one's).
    pub(crate) fn drop_errors(&mut self) {
        self.list.retain(|n| !n.error);
    }

    /// Draws the newest banners.
    pub(crate) fn ui(&mut self, ui: &mut egui::Ui) {
        let now = ui.input(|i| i.time);
        // Information expires; errors wait for the user.
        self.list
            .retain(|n| n.error || n.shown_at.is_none_or(|t| now - t < INFO_SECS));
        let mut dismiss = None;
        let n = self.list.len();
        for (i, note) in self.list.iter_mut().enumerate().rev().take(NOTICES_SHOWN) {
            let shown_at = *note.shown_at.get_or_insert(now);
            if !note.error {
                let left = (INFO_SECS - (now - shown_at)).max(0.0);
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs_f64(left + 0.05));
            }
            ui.horizontal(|ui| {
                let color = if note.error {
                    theme::ERROR
                } else {
                    ui.visuals().text_color()
                };
                if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                    dismiss = Some(i);
                }
                ui.label(RichText::new(if note.error { "(!)" } else { "(i)" }).color(color));
                let text = if note.count > 1 {
                    format!("{} (×{})", note.text, note.count)
                } else {
                    note.text.clone()
                };
                ui.add(egui::Label::new(RichText::new(text).color(color)).truncate())
                    .on_hover_text(note.text.as_str());
            });
        }
        if n > NOTICES_SHOWN {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("{} older notice(s)", n - NOTICES_SHOWN))
                        .small()
                        .weak(),
                );
                if ui.small_button("clear all").clicked() {
                    self.list.clear();
                }
            });
        }
        if let Some(i) = dismiss {
            self.list.remove(i);
        }
    }
}
