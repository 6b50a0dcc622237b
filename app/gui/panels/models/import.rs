//! The Models tab's import form: a folder or checkpoint (typed, dropped or picked in a
//! dialog that may not open), validated and installed by the engine into the user's models
//! folder.

use super::*;

impl ModelsPanel {
    pub(super) fn import_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.heading("Import weights");
        ui.label(
            "A Hugging Face checkpoint folder (config.json + safetensors or pytorch_model.bin: GPT-2/distilgpt2, \
             BERT/MiniLM, CLIP), a SAM / MobileSAM .pth, or the SEVLM authors' release folder (install it as sevlm); \
             PyTorch files are read without Python and without running code. Every tensor's name and shape is checked by building the model \
             before anything is copied into your models folder (<data>/models/NAME/, never the shipped models/) and recorded in its LOCAL.toml. \
             You can also drop a folder or file on this tab.",
        );
        let hovering = ui.ctx().input(|i| !i.raw.hovered_files.is_empty());
        if hovering {
            ui.colored_label(theme::AMBER, "drop to import this folder or file");
        }
        ui.horizontal(|ui| {
            let from = ui.label("From:");
            ui.add(
                egui::TextEdit::singleline(&mut self.import_path)
                    .desired_width(380.0)
                    .hint_text("checkpoint folder or file"),
            )
            .labelled_by(from.id);
            let picking = self.picker.is_some();
            if ui
                .add_enabled(!picking, egui::Button::new("Folder…"))
                .clicked()
            {
                self.pick(false, ui.ctx());
            }
            if ui
                .add_enabled(!picking, egui::Button::new("File…"))
                .clicked()
            {
                self.pick(true, ui.ctx());
            }
        });
        ui.horizontal(|ui| {
            let name = ui.label("Install as:");
            ui.add(
                egui::TextEdit::singleline(&mut self.import_name)
                    .desired_width(200.0)
                    .hint_text("e.g. clip-vit-base-patch16"),
            )
            .labelled_by(name.id);
            let into = artemo_engine::user_models_dir()
                .map(|d| artemo_engine::shown_path(&d.join("NAME")))
                .unwrap_or_else(|| "<data>/models/NAME".into());
            ui.label(RichText::new(format!("(into {into}/)")).weak());
            let busy = self.jobs.any(|p| *p == Pending::Import);
            let ready = !self.import_path.trim().is_empty() && !self.import_name.trim().is_empty();
            if ui
                .add_enabled(ready && !busy, egui::Button::new("Validate and import"))
                .clicked()
            {
                self.start_import(shared);
            }
            if busy {
                ui.spinner();
            }
        });
        ui.label(
            RichText::new(
                "Names the features look for: sevlm, emosem, pacl, clip-vit-base-patch16 (see the table above).",
            )
            .small()
            .weak(),
        );
        if let Some(m) = &self.import_progress {
            ui.label(m);
        }
        match &self.import_result {
            Some(Ok(m)) => {
                ui.colored_label(theme::VERIFIED, m);
            }
            Some(Err(m)) => {
                ui.colored_label(theme::ERROR, format!("import refused: {m}"));
            }
            None => {}
        }
    }

    pub(super) fn pick(&mut self, file: bool, ctx: &egui::Context) {
        let start = self.models.clone();
        // The dialog blocks its thread (xdg portal); the UI polls the answer, and a dialog
        // that cannot open is said (`dialog::Picked::Unavailable`).
        self.picker = Some(crate::gui::dialog::spawn(ctx, (), move || {
            let mut d = rfd::FileDialog::new().set_title(if file {
                "Choose a checkpoint file"
            } else {
                "Choose a checkpoint folder"
            });
            if let Some(s) = start {
                d = d.set_directory(s);
            }
            if file {
                d.pick_file()
            } else {
                d.pick_folder()
            }
        }));
    }

    pub(super) fn set_import_source(&mut self, p: PathBuf) {
        let folder = if p.is_file() {
            p.parent().map(Path::to_path_buf).unwrap_or(p.clone())
        } else {
            p.clone()
        };
        if self.import_name.trim().is_empty() && artemo_engine::sevlm::checkpoint::is_release(&p) {
            // The name the app looks for SEVLM weights under.
            self.import_name = "sevlm".into();
        }
        if self.import_name.trim().is_empty() {
            if let Some(n) = folder.file_name() {
                self.import_name = n.to_string_lossy().into_owned();
            }
        }
        self.import_path = p.display().to_string();
        self.import_result = None;
    }

    pub(super) fn start_import(&mut self, shared: &mut Shared) {
        // Imports go to the user's models folder (`<data>/models`), never the shipped one.
        let Some(root) = artemo_engine::user_models_dir() else {
            shared.notice(
                "no user data folder to import into: set ARTEMO_DATA or HOME".to_string(),
                true,
            );
            return;
        };
        let mut src = PathBuf::from(self.import_path.trim());
        let hf_file = src.file_name().is_some_and(|n| n == "pytorch_model.bin")
            || src
                .extension()
                .is_some_and(|e| e == "safetensors" || e == "json");
        if src.is_file() && (hf_file || !artemo_engine::models::torch_import::is_torch_file(&src)) {
            // A file of an HF checkpoint: its folder holds the config and weights. A lone
            // PyTorch file (FAIR SAM / MobileSAM `.pth`) is imported as it is.
            if let Some(p) = src.parent() {
                src = p.to_path_buf();
            }
        }
        let name = self.import_name.trim().to_string();
        self.import_result = None;
        self.import_progress = Some(format!("validating {}", src.display()));
        self.submit(
            shared,
            Pending::Import,
            Command::ImportWeights(ImportWeights {
                src,
                name,
                root,
                epoch: None,
            }),
        );
    }
}
