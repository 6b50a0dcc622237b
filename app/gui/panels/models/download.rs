//! The Models tab's download form: a known name (with where its weights live), a hub
//! repository or a URL, fetched by the engine only when the button is pressed, with a
//! byte progress bar, Cancel (the partial file stays and the next download resumes it),
//! then validated and installed like an import.

use artemo_engine::models::hub::{self, DownloadRequest, KnownSource, KNOWN};
use artemo_engine::worker::Lane;

use super::*;

/// The form's state.
#[derive(Default)]
pub(super) struct DownloadForm {
    /// Index into [`KNOWN`], or `KNOWN.len()` for "a repository or URL".
    choice: usize,
    other: String,
    name: String,
    endpoint: String,
    progress: Option<(f32, String)>,
    result: Option<Result<String, String>>,
}

impl ModelsPanel {
    /// What the download job reported; an installed model refreshes the listing.
    pub(super) fn download_event(&mut self, kind: EventKind, actions: &mut Vec<Action>) {
        let form = &mut self.download;
        match kind {
            EventKind::Progress {
                fraction, message, ..
            } => form.progress = Some((fraction, message)),
            EventKind::Done(JobOutput::Imported(imp)) => {
                form.progress = None;
                let e = &imp.entry;
                let msg = format!(
                    "installed {} ({} files); {}. Enables: {}.",
                    e.name,
                    e.files.len(),
                    e.description,
                    e.enables.join(", ")
                );
                actions.push(Action::Notice {
                    text: msg.clone(),
                    error: false,
                });
                form.result = Some(Ok(msg));
                self.listing = None;
                actions.push(Action::ModelsChanged);
            }
            EventKind::Failed(m) => {
                form.progress = None;
                form.result = Some(Err(m));
            }
            EventKind::Cancelled => {
                form.progress = None;
                form.result = Some(Err(
                    "cancelled; the partial file is kept and the next download resumes it".into(),
                ));
            }
            _ => {}
        }
    }

    pub(super) fn download_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.heading("Download weights");
        ui.label(
            "Needs the internet; nothing is downloaded until you press Download. Files go to \
             <data>/downloads/ (an interrupted download resumes), each file's sha256 is checked \
             against the one the hub advertises, then the weights are validated and installed \
             into <data>/models/NAME/ like an import. Offline: download on another machine and \
             import it with the form above.",
        );
        let busy = self.jobs.any(|p| *p == Pending::Download);
        let form = &mut self.download;
        let label = |i: usize| {
            KNOWN
                .get(i)
                .map(|k| format!("{} — {}", k.name, k.what))
                .unwrap_or_else(|| "another hub repository or URL".into())
        };
        ui.add_enabled_ui(!busy, |ui| {
            ui.horizontal(|ui| {
                let what = ui.label("What:");
                egui::ComboBox::from_id_salt("download-what")
                    .width(420.0)
                    .selected_text(label(form.choice))
                    .show_ui(ui, |ui| {
                        for i in 0..=KNOWN.len() {
                            ui.selectable_value(&mut form.choice, i, label(i));
                        }
                    })
                    .response
                    .labelled_by(what.id);
            });
            match KNOWN.get(form.choice) {
                Some(k) => {
                    let from = match k.source {
                        KnownSource::Hub { repo, .. } => format!("hub repository {repo}"),
                        KnownSource::Url(u) => u.to_string(),
                    };
                    egui::Grid::new("download-known")
                        .num_columns(2)
                        .show(ui, |ui| {
                            for (what, text) in [
                                ("from", from.as_str()),
                                ("installs as", k.install_as),
                                ("licence", k.licence),
                                ("note", k.note),
                            ] {
                                ui.label(RichText::new(what).weak());
                                ui.label(text);
                                ui.end_row();
                            }
                        });
                }
                None => {
                    ui.horizontal(|ui| {
                        let l = ui.label("Repository or URL:");
                        ui.add(
                            egui::TextEdit::singleline(&mut form.other)
                                .desired_width(380.0)
                                .hint_text("owner/name or https://…/file"),
                        )
                        .labelled_by(l.id);
                    });
                }
            }
            ui.horizontal(|ui| {
                let l = ui.label("Install the download as:");
                ui.add(
                    egui::TextEdit::singleline(&mut form.name)
                        .desired_width(200.0)
                        .hint_text("default"),
                )
                .labelled_by(l.id);
                let l = ui.label("Hub:");
                ui.add(
                    egui::TextEdit::singleline(&mut form.endpoint)
                        .desired_width(240.0)
                        .hint_text(hub::endpoint(None)),
                )
                .labelled_by(l.id);
            });
        });
        let what = match KNOWN.get(form.choice) {
            Some(k) => k.name.to_string(),
            None => form.other.trim().to_string(),
        };
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy && !what.is_empty(), egui::Button::new("Download"))
                .clicked()
            {
                self.start_download(shared, what);
            }
            if busy && ui.button("Cancel").clicked() {
                for id in self.jobs.take(|p| *p == Pending::Download) {
                    shared.engine.cancel(id);
                }
                self.download.progress = None;
                self.download.result = Some(Err(
                    "cancelled; the partial file is kept and the next download resumes it".into(),
                ));
            }
        });
        let form = &self.download;
        if let Some((f, m)) = &form.progress {
            ui.add(
                egui::ProgressBar::new(*f)
                    .desired_width(420.0)
                    .show_percentage()
                    .text(m.clone()),
            );
        }
        match &form.result {
            Some(Ok(m)) => {
                ui.colored_label(theme::VERIFIED, m);
            }
            Some(Err(m)) => {
                ui.colored_label(theme::ERROR, format!("download: {m}"));
            }
            None => {}
        }
    }

    fn start_download(&mut self, shared: &mut Shared, what: String) {
        let Some(data) = artemo_engine::user_data_dir() else {
            shared.notice(
                "no user data folder to download into: set ARTEMO_DATA or HOME".to_string(),
                true,
            );
            return;
        };
        let form = &mut self.download;
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let req = DownloadRequest {
            what: what.clone(),
            name: some(&form.name),
            endpoint: some(&form.endpoint),
            revision: None,
        };
        form.result = None;
        form.progress = Some((0.0, format!("starting {what}")));
        self.submit(
            shared,
            Pending::Download,
            Command::Run {
                name: format!("download {what}"),
                lane: Lane::Compute,
                job: Box::new(move |ctx| {
                    hub::download_and_import(&req, &data, ctx.device(), ctx)
                        .map(|i| JobOutput::Imported(Box::new(i)))
                }),
            },
        );
    }
}
