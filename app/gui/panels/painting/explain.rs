//! The viewer's "Emotion and explanation" section (SEVLM): the model's emotion
//! distribution, the generated explanation with each word coloured by valence, a VAD
//! strip (lexicon vs the model's VAD head), greedy or nucleus regeneration. Inference runs
//! on the engine's compute lane; tokens arrive as they are generated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::gui::panels::weights::{Located, UsesWeights};
use crate::gui::panels::Panel;
use crate::gui::state::{Action, AppState, Settings, Tab};
use crate::gui::theme;
use crate::gui::widgets::emotion_bar::emotion_bar;
use crate::gui::widgets::weights::{weights_absent, weights_source, AbsentChoice};
use artemo_engine::jobs::analyze_sevlm::AnalyzeSevlm;
use artemo_engine::jobs::{Roots, SevlmWeights};
use artemo_engine::lexicon::{VadLexicon, VadSource, STAND_IN_NAME};
use artemo_engine::sevlm::{self, Analysis, DecodeOptions, Decoding, GeneratedToken};
use artemo_engine::worker::{Command, Engine, EventKind, JobId, JobOutput};
use egui::RichText;

/// The decoding settings an explanation was made with.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Made {
    sample: bool,
    block_repeats: bool,
    greedy_emotion: bool,
    known_words: bool,
    top_p: f32,
    temperature: f32,
    seed: u64,
}

/// What Regenerate does with the current settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Regenerate {
    /// Run again (when sampling with the seed already used, a new seed was drawn).
    Run,
    /// Greedy decoding with unchanged settings gives the same text: nothing is run.
    Same,
}

/// One painting's explanation state.
#[derive(Default)]
struct Entry {
    job: Option<JobId>,
    /// The settings of the explanation shown (or being made).
    made: Option<Made>,
    tokens: Vec<GeneratedToken>,
    analysis: Option<Analysis>,
    /// The last run's result, shown (dimmed) while a regeneration streams, so that the
    /// section keeps its size.
    previous: Option<Analysis>,
    error: Option<String>,
}

/// The SEVLM section's state.
pub struct Explain {
    /// The weights in use: installed, or a checkpoint chosen in the Train tab.
    weights: Located,
    entries: HashMap<PathBuf, Entry>,
    sample: bool,
    /// The "Open the Models tab" button was clicked (the window switches tabs).
    pub want_models_tab: bool,
    /// Block repeated tokens and bigrams (the small demo models loop without it).
    block_repeats: bool,
    /// With sampling: keep the emotion the model ranks first, sample only the words.
    greedy_emotion: bool,
    /// Only words of the model's word list (demo models: no "reding").
    known_words: bool,
    top_p: f32,
    temperature: f32,
    seed: u64,
    /// The painting whose Regenerate was pressed with greedy decoding and unchanged
    /// settings (the note saying why nothing changed shows under it).
    same_note: Option<PathBuf>,
    /// SEVLM's VAD lexicon: an NRC VAD file, or `None` for the shipped stand-in (kept in
    /// the settings).
    lexicon: Option<PathBuf>,
    /// The lexicon path typed by hand (when no file dialog can open).
    lexicon_input: String,
    /// The file dialog's answer, while it is open.
    lexicon_pick: Option<std::sync::mpsc::Receiver<((), crate::gui::dialog::Picked)>>,
    /// Why the last chosen file was refused.
    lexicon_error: Option<String>,
    /// Lexicon warnings already raised as notices.
    warned: std::collections::HashSet<String>,
}

impl Explain {
    /// Finds installed SEVLM weights (real ones first, then the demo kit).
    pub fn new() -> Self {
        Explain {
            weights: Located::find(sevlm::locate),
            entries: HashMap::new(),
            sample: false,
            want_models_tab: false,
            block_repeats: true,
            greedy_emotion: true,
            known_words: true,
            top_p: 0.9,
            temperature: 1.0,
            seed: 0,
            same_note: None,
            lexicon: None,
            lexicon_input: String::new(),
            lexicon_pick: None,
            lexicon_error: None,
            warned: Default::default(),
        }
    }

    /// The engine's lexicon choice.
    fn lexicon_source(&self) -> VadSource {
        match &self.lexicon {
            Some(p) => VadSource::File {
                path: p.clone(),
                format: None,
            },
            None => VadSource::StandIn,
        }
    }

    /// Uses the NRC VAD file `path` after checking that it reads (a clear error
    /// otherwise; the lexicon in use is kept).
    fn choose_lexicon(&mut self, path: Option<PathBuf>) {
        self.lexicon_error = None;
        if let Some(p) = &path {
            let Some(assets) = artemo_engine::find_assets() else {
                self.lexicon_error = Some("the assets/ folder was not found".into());
                return;
            };
            let src = VadSource::File {
                path: p.clone(),
                format: None,
            };
            if let Err(e) = VadLexicon::from_source(&assets, &src) {
                self.lexicon_error = Some(format!("not used: {e}"));
                return;
            }
        }
        if path != self.lexicon {
            self.lexicon = path;
            // Explanations made with the other lexicon are dropped.
            self.entries.clear();
        }
    }

    /// The lexicon row: what is in use, a file picker and a way back to the stand-in.
    fn lexicon_row(&mut self, ui: &mut egui::Ui) {
        if let Some(rx) = &self.lexicon_pick {
            if let Ok(((), picked)) = rx.try_recv() {
                self.lexicon_pick = None;
                match picked {
                    crate::gui::dialog::Picked::Path(p) => self.choose_lexicon(Some(p)),
                    crate::gui::dialog::Picked::Cancelled => {}
                    crate::gui::dialog::Picked::Unavailable => {
                        self.lexicon_error = Some(format!(
                            "{} type the NRC VAD file's path instead.",
                            crate::gui::dialog::UNAVAILABLE
                        ))
                    }
                }
            }
        }
        let name = match &self.lexicon {
            Some(p) => format!(
                "NRC VAD file {}",
                p.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default()
            ),
            None => STAND_IN_NAME.to_string(),
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("VAD lexicon: {name}")).small())
                .on_hover_text(
                    "The lexicon SEVLM's VAD encoder reads. The paper and the reference code \
                     use NRC VAD (BipolarScale); Artemo ships a stand-in (actdata EPA + VADER, \
                     VADER has valence only). Load NRC VAD by path.",
                );
            if ui
                .add_enabled(
                    self.lexicon_pick.is_none(),
                    egui::Button::new("NRC VAD file…").small(),
                )
                .clicked()
            {
                let ctx = ui.ctx().clone();
                self.lexicon_pick = Some(crate::gui::dialog::spawn(&ctx, (), || {
                    rfd::FileDialog::new()
                        .set_title("NRC VAD lexicon (word, V, A, D per line)")
                        .add_filter("NRC VAD", &["txt", "tsv"])
                        .pick_file()
                }));
            }
            if self.lexicon.is_some() && ui.small_button("Use the stand-in").clicked() {
                self.choose_lexicon(None);
            }
        });
        if let Some(err) = self.lexicon_error.clone() {
            ui.colored_label(theme::ERROR, &err);
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut self.lexicon_input)
                        .hint_text("/path/to/NRC-VAD-Lexicon.txt")
                        .desired_width(180.0),
                );
                if ui.small_button("Use").clicked() && !self.lexicon_input.trim().is_empty() {
                    let p = PathBuf::from(self.lexicon_input.trim());
                    self.choose_lexicon(Some(p));
                }
            });
        }
    }

    fn made(&self) -> Made {
        Made {
            sample: self.sample,
            block_repeats: self.block_repeats,
            greedy_emotion: self.greedy_emotion,
            known_words: self.known_words,
            top_p: self.top_p,
            temperature: self.temperature,
            seed: self.seed,
        }
    }

    /// What Regenerate does for `image`: greedy decoding with the settings of the
    /// explanation shown gives the same text, so nothing runs; sampling with the seed
    /// already used draws the next seed first.
    fn regenerate(&mut self, image: &Path) -> Regenerate {
        let last = self.entries.get(image).and_then(|e| e.made);
        if !self.sample {
            return if last == Some(self.made()) {
                Regenerate::Same
            } else {
                Regenerate::Run
            };
        }
        if last.is_some_and(|m| m.sample && m.seed == self.seed) {
            self.seed = self.seed.wrapping_add(1);
        }
        Regenerate::Run
    }

    fn start(&mut self, engine: &Engine, image: &Path) -> Result<(), String> {
        let Some(dir) = self.weights.dir.clone() else {
            return Err("SEVLM weights are not installed".into());
        };
        let assets = artemo_engine::find_assets().ok_or("the assets/ folder was not found")?;
        let models = self
            .weights
            .models
            .clone()
            .ok_or("the models/ folder was not found")?;
        let decoding = if self.sample {
            Decoding::Nucleus {
                top_p: self.top_p,
                temperature: self.temperature,
                seed: self.seed,
            }
        } else {
            Decoding::Greedy
        };
        let opts = DecodeOptions {
            decoding,
            max_tokens: artemo_engine::sevlm::generate::REFERENCE_MAX_TOKENS,
            ignore_end: false,
            block_repeats: self.block_repeats,
            greedy_emotion: self.greedy_emotion,
            known_words: self.known_words,
        };
        let job = engine
            .submit(Command::AnalyzeSevlm(AnalyzeSevlm {
                weights: SevlmWeights::folder(dir),
                roots: Roots { assets, models },
                images: vec![image.to_path_buf()],
                options: opts,
                lexicon: self.lexicon_source(),
                label: "explain".into(),
                cache: Some(crate::cmd::common::cache_dir()),
            }))
            .map_err(|e| e.to_string())?;
        let previous = self
            .entries
            .remove(image)
            .and_then(|e| e.analysis.or(e.previous));
        let made = Some(self.made());
        self.entries.insert(
            image.to_path_buf(),
            Entry {
                job: Some(job),
                previous,
                made,
                ..Default::default()
            },
        );
        Ok(())
    }

    fn entry_of(&mut self, job: JobId) -> Option<&mut Entry> {
        self.entries.values_mut().find(|e| e.job == Some(job))
    }

    /// A streamed token or finished analysis.
    fn on_partial(&mut self, job: JobId, out: JobOutput) {
        let Some(e) = self.entry_of(job) else { return };
        match out {
            JobOutput::SevlmToken { token, .. } => e.tokens.push(token),
            JobOutput::SevlmAnalysis { analysis, .. } => e.analysis = Some(*analysis),
            _ => {}
        }
    }

    /// The job ended (`error`: why it failed).
    fn on_end(&mut self, job: JobId, error: Option<String>) {
        if let Some(e) = self.entry_of(job) {
            e.job = None;
            if error.is_some() {
                e.error = error;
            }
        }
    }

    /// Draws the section for the painting at `image`; starts a greedy explanation the
    /// first time a painting is shown.
    fn section(&mut self, ui: &mut egui::Ui, engine: &Engine, image: &Path) -> Option<String> {
        ui.label(RichText::new("Emotion and explanation (SEVLM)").strong());
        let Some(dir) = self.weights.dir.clone() else {
            match weights_absent(ui, "SEVLM", "prediction", "sevlm") {
                Some(AbsentChoice::ModelsTab) => self.want_models_tab = true,
                Some(AbsentChoice::LookAgain) => self.relocate(),
                None => {}
            }
            return None;
        };
        weights_source(
            ui,
            &dir,
            "DEMO MODELS",
            "small CPU models trained on the shipped data; far weaker than the papers'",
            true,
        );
        if self.weights.pinned.is_some() && ui.small_button("Use the installed weights").clicked() {
            self.pin(None);
        }
        self.lexicon_row(ui);
        let mut notice = None;
        if !self.entries.contains_key(image) {
            if let Err(e) = self.start(engine, image) {
                notice = Some(e);
            }
        }
        // Wrapped: the sampling controls must not widen the side panel. A slider is a row of
        // its own inside (slider, value, label) that a wrapping row cannot break, so the
        // sliders get lines of their own.
        let busy = self.entries.get(image).is_some_and(|e| e.job.is_some());
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(&mut self.sample, "nucleus sampling");
            ui.checkbox(&mut self.block_repeats, "block repeats")
                .on_hover_text(
                    "Never repeat the previous word or a word pair (small models loop without it; \
                 the evaluation decodes without it, as the reference code does)",
                );
            ui.checkbox(&mut self.known_words, "known words")
                .on_hover_text(
                    "Write only words of the model's own training texts: sub-word pieces may \
                     not join into non-words such as \"reding\" (models with a word list, \
                     the demo kit's; no effect on others)",
                );
        });
        if self.sample {
            ui.add(egui::Slider::new(&mut self.top_p, 0.1..=1.0).text("top-p"));
            ui.add(egui::Slider::new(&mut self.temperature, 0.1..=1.5).text("temperature"));
        }
        ui.horizontal_wrapped(|ui| {
            if self.sample {
                ui.checkbox(&mut self.greedy_emotion, "keep the top emotion")
                    .on_hover_text(
                        "Pick the emotion the model ranks first and sample only the explanation \
                         (off: the emotion is sampled too, as in the reference code)",
                    );
                ui.add(egui::DragValue::new(&mut self.seed).prefix("seed "));
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Regenerate"))
                .on_hover_text(
                    "Run SEVLM again with these decoding settings (sampling with the seed \
                     already used draws the next seed)",
                )
                .clicked()
            {
                self.same_note = None;
                match self.regenerate(image) {
                    Regenerate::Same => self.same_note = Some(image.to_path_buf()),
                    Regenerate::Run => {
                        if let Err(e) = self.start(engine, image) {
                            notice = Some(e);
                        }
                    }
                }
            }
            // The spinner's room is kept while idle, so the row never changes width.
            let size = ui.spacing().interact_size.y;
            if busy {
                ui.add_sized([size, size], egui::Spinner::new());
            } else {
                ui.add_space(size);
            }
        });
        if !self.sample && self.same_note.as_deref() == Some(image) {
            ui.label(
                RichText::new(
                    "Greedy decoding gives the same text: tick nucleus sampling for another one.",
                )
                .italics(),
            );
        }
        let Some(e) = self.entries.get(image) else {
            return notice;
        };
        if let Some(err) = &e.error {
            ui.colored_label(theme::ERROR, err);
        }
        if let Some(a) = &e.analysis {
            // What a model with a text memory read (issue 21): "read: pixels + title".
            if let Some(read) = &a.read {
                ui.label(RichText::new(format!("read: {read}")).small())
                    .on_hover_text(
                        "The inputs this model used: the image, and the painting's own text \
                         (title, artist, description) from the collection or the file name, \
                         embedded by the frozen MiniLM",
                    );
            }
            if !a.title_words.is_empty() {
                ui.label(
                    RichText::new(format!("title words pushed: {}", a.title_words.join(", ")))
                        .small(),
                )
                .on_hover_text(
                    "The demo kit's explanation is nudged towards these words of the painting's \
                     title (a logit bias while it writes); the emotion is not",
                );
            }
            for w in &a.lexicon_warnings {
                ui.colored_label(theme::ERROR, w);
                if notice.is_none() && !self.warned.contains(w) {
                    notice = Some(w.clone());
                }
            }
        }
        if let Some(n) = &notice {
            self.warned.insert(n.clone());
        }
        let Some(e) = self.entries.get(image) else {
            return notice;
        };
        match (&e.analysis, &e.previous) {
            (Some(a), _) => distribution(ui, a),
            (None, Some(a)) => {
                ui.scope(|ui| {
                    ui.disable();
                    distribution(ui, a);
                })
                .response
                .on_hover_text("The previous run's distribution, until the new one arrives");
            }
            (None, None) => {}
        }
        let tokens = match &e.analysis {
            Some(a) => &a.generation.tokens,
            None => &e.tokens,
        };
        if !tokens.is_empty() {
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                for (k, t) in tokens.iter().enumerate() {
                    // The first token's leading space belongs to the hidden prompt.
                    let text = if k == 0 { t.text.trim_start() } else { &t.text };
                    let rt = RichText::new(text).size(16.0);
                    let rt = match t.lexicon_vad {
                        Some(v) if t.in_explanation => rt.color(theme::valence(v[0])),
                        _ => rt,
                    };
                    ui.label(rt).on_hover_text(token_tip(t));
                }
            });
            crate::gui::widgets::legend::valence_legend(ui);
            vad_strip(ui, tokens);
        }
        if let Some(a) = &e.analysis {
            use artemo_engine::sevlm::ParseState;
            let note = match &a.generation.state {
                ParseState::Complete => None,
                ParseState::NoBecause => Some(
                    "The model wrote no \"because\": there is no explanation to show.".to_string(),
                ),
                ParseState::UnknownEmotion { words } => {
                    Some(format!("\"{words}\" is not one of the ArtEmis emotions."))
                }
                ParseState::Empty => Some("The model generated nothing.".to_string()),
            };
            if let Some(n) = note {
                ui.label(RichText::new(n).italics());
            }
        }
        notice
    }
}

impl UsesWeights for Explain {
    fn located(&mut self) -> &mut Located {
        &mut self.weights
    }

    /// Drops the explanations made with the weights used before.
    fn weights_changed(&mut self) {
        self.entries.clear();
    }
}

impl Panel for Explain {
    /// A section of the Collection and Painting tabs' side panel, no tab of its own.
    fn tab(&self) -> Option<Tab> {
        None
    }

    fn side_section(&mut self, ui: &mut egui::Ui, state: &mut AppState, _tab: Tab) {
        let Some(path) = state
            .selected
            .and_then(|i| state.collection.as_ref()?.paintings.get(i))
            .map(|p| p.path.clone())
        else {
            return;
        };
        if let Some(n) = self.section(ui, &state.engine, &path) {
            state.notice(n, true);
        }
        if std::mem::take(&mut self.want_models_tab) {
            state.actions.push(Action::Goto(Tab::Models));
        }
    }

    fn owns(&self, job: JobId) -> bool {
        self.entries.values().any(|e| e.job == Some(job))
    }

    fn on_event(&mut self, _: &egui::Context, job: JobId, kind: EventKind, _: &mut Vec<Action>) {
        match kind {
            EventKind::Partial(out) => self.on_partial(job, out),
            EventKind::Done(_) => self.on_end(job, None),
            EventKind::Failed(msg) => self.on_end(job, Some(msg)),
            EventKind::Cancelled => self.on_end(job, Some("cancelled".into())),
            _ => {}
        }
    }

    fn on_models_changed(&mut self) {
        self.relocate();
    }

    fn on_checkpoint(&mut self, masks: bool, dir: &Path) {
        if !masks {
            self.pin(Some(dir.to_path_buf()));
        }
    }

    fn restore(&mut self, settings: &Settings) {
        self.lexicon = settings.sevlm_lexicon.clone();
    }

    fn save(&self, settings: &mut Settings) {
        settings.sevlm_lexicon = self.lexicon.clone();
    }
}

fn token_tip(t: &GeneratedToken) -> String {
    let f = |v: Option<[f32; 3]>| match v {
        Some(v) => format!("V {:+.2}  A {:+.2}  D {:+.2}", v[0], v[1], v[2]),
        None => "—".into(),
    };
    format!(
        "\"{}\"  p = {:.2}\nlexicon: {}\nmodel's VAD head: {}",
        t.text.trim(),
        t.probability,
        f(t.lexicon_vad),
        f(t.predicted_vad)
    )
}

fn distribution(ui: &mut egui::Ui, a: &Analysis) {
    ui.label(
        RichText::new(format!(
            "model probability of each emotion word after the prompt (label mass {:.0}%; VAD lexicon: {})",
            a.label_mass * 100.0,
            a.lexicon
        ))
        .small()
        .weak(),
    );
    let mut rows = a.distribution.clone();
    rows.sort_by(|x, y| y.1.total_cmp(&x.1));
    for (e, p) in rows.iter().take(5) {
        emotion_bar(ui, *e, (*p, 1.0), 50.0, format!("{:.0}%", p * 100.0));
    }
}

/// Two rows of cells per explanation token: valence from the lexicon (top) and from the
/// model's VAD head (bottom); hover a cell for all three dimensions.
fn vad_strip(ui: &mut egui::Ui, tokens: &[GeneratedToken]) {
    let exp: Vec<&GeneratedToken> = tokens.iter().filter(|t| t.in_explanation).collect();
    if exp.is_empty() {
        return;
    }
    ui.add_space(2.0);
    ui.label(
        RichText::new("valence per token: lexicon (top) · model's VAD head (bottom)")
            .small()
            .weak(),
    );
    let cell = ((ui.available_width() - 8.0) / exp.len() as f32).clamp(6.0, 28.0);
    let (rect, resp) = ui.allocate_exact_size(
        egui::vec2(cell * exp.len() as f32, 20.0),
        egui::Sense::hover(),
    );
    let p = ui.painter();
    for (i, t) in exp.iter().enumerate() {
        let x = rect.min.x + i as f32 * cell;
        let top = egui::Rect::from_min_size(egui::pos2(x, rect.min.y), egui::vec2(cell - 1.0, 9.0));
        let bot = egui::Rect::from_min_size(
            egui::pos2(x, rect.min.y + 10.0),
            egui::vec2(cell - 1.0, 9.0),
        );
        match t.lexicon_vad {
            Some(v) => p.rect_filled(top, 1.0, theme::valence(v[0])),
            None => p.rect_stroke(
                top,
                1.0,
                egui::Stroke::new(1.0, ui.visuals().weak_text_color()),
                egui::StrokeKind::Inside,
            ),
        };
        if let Some(v) = t.predicted_vad {
            p.rect_filled(bot, 1.0, theme::valence(v[0]));
        }
    }
    if let Some(pos) = resp.hover_pos() {
        let i = ((pos.x - rect.min.x) / cell) as usize;
        if let Some(t) = exp.get(i) {
            resp.on_hover_text(token_tip(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(x: &mut Explain, image: &Path) {
        let made = Some(x.made());
        x.entries.insert(
            image.to_path_buf(),
            Entry {
                made,
                ..Default::default()
            },
        );
    }

    #[test]
    fn regenerate_draws_a_new_seed_when_sampling_and_says_greedy_gives_the_same_text() {
        let image = Path::new("p.jpg");
        let mut x = Explain::new();
        // Greedy, as shown: the same text again, nothing to run.
        shown(&mut x, image);
        assert_eq!(x.regenerate(image), Regenerate::Same);
        // Greedy with another setting: run.
        x.block_repeats = !x.block_repeats;
        assert_eq!(x.regenerate(image), Regenerate::Run);
        // Sampling with the seed already used: the next seed is drawn.
        x.sample = true;
        x.seed = 7;
        shown(&mut x, image);
        assert_eq!(x.regenerate(image), Regenerate::Run);
        assert_eq!(x.seed, 8);
        // A seed the user changed is kept.
        x.seed = 42;
        assert_eq!(x.regenerate(image), Regenerate::Run);
        assert_eq!(x.seed, 42);
    }

    #[test]
    fn the_valence_legend_names_both_ends() {
        use egui_kittest::kittest::Queryable;
        let mut h = egui_kittest::Harness::builder()
            .with_size([420.0, 40.0])
            .build_ui(crate::gui::widgets::legend::valence_legend);
        h.run();
        h.get_by_label("negative");
        h.get_by_label("positive");
        h.get_by_label_contains("no lexicon entry");
    }
}
