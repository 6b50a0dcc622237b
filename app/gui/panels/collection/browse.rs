//! The Collection tab's browse bar: filters by artist, style, year range, dominant
//! emotion and ambiguity of the human responses, a sort order, and loading an ArtEmis CSV
//! of responses for any collection. The facets (artist and style lists with counts, the
//! year span, each painting's dominant emotion and ambiguity) are computed once per
//! collection and set of responses, not per frame.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::gui::theme;
use artemo_engine::annotations::{Annotation, Dominance, Histogram};
use artemo_engine::collection::{Collection, Painting};
use artemo_engine::Emotion;
use egui::{Color32, RichText};

/// What the dominant-emotion filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmotionFilter {
    /// Every painting.
    #[default]
    Any,
    /// Paintings whose responses have this dominant emotion (ArtEmis rule: at least half
    /// of the votes, no tie).
    Dominant(Emotion),
    /// Paintings with responses but no dominant emotion (split votes).
    Split,
    /// Paintings without any response.
    NoResponses,
}

/// The sort order of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// As listed by the collection's manifest.
    #[default]
    Collection,
    /// By title.
    Title,
    /// By artist, then year.
    Artist,
    /// Oldest first (undated last).
    Year,
    /// Most ambiguous first (paintings without responses last).
    Ambiguity,
}

impl Sort {
    const ALL: [Sort; 5] = [
        Sort::Collection,
        Sort::Title,
        Sort::Artist,
        Sort::Year,
        Sort::Ambiguity,
    ];

    fn label(self) -> &'static str {
        match self {
            Sort::Collection => "collection order",
            Sort::Title => "title",
            Sort::Artist => "artist",
            Sort::Year => "year",
            Sort::Ambiguity => "most ambiguous",
        }
    }
}

/// Per-painting facts the filters read.
#[derive(Debug, Clone, Default)]
struct Info {
    year: Option<i32>,
    /// `None` without responses; `Some(None)` with split votes.
    dominant: Option<Option<Emotion>>,
    /// Normalised entropy of the responses in [0, 1] (0: all agree).
    ambiguity: Option<f32>,
}

/// Facets of one collection and set of responses.
#[derive(Debug, Default)]
struct Facets {
    generation: u64,
    /// (key, name shown, count): spellings that differ only by dash type or spacing
    /// share one key and show the most common spelling.
    artists: Vec<(String, String, usize)>,
    styles: Vec<(String, usize)>,
    years: Option<(i32, i32)>,
    emotions: BTreeMap<Emotion, usize>,
    split: usize,
    without: usize,
    info: Vec<Info>,
}

/// What the browse bar asks the app to do.
pub enum BrowseAction {
    /// Load an ArtEmis-format CSV of responses for the open collection.
    LoadResponses(PathBuf),
    /// Tell the user something (an error).
    Notice(String),
    /// Clear was pressed: the filters are cleared; the app drops a map selection too.
    Cleared,
}

/// The browse bar's state.
#[derive(Default)]
pub struct Browse {
    /// The chosen artist's key (see [`artist_key`]).
    artist: Option<String>,
    style: Option<String>,
    /// The chosen year span; `None` keeps undated paintings too.
    years: Option<(i32, i32)>,
    emotion: EmotionFilter,
    /// Ambiguity span in [0, 1]; (0, 1) keeps everything.
    ambiguity: (f32, f32),
    sort: Sort,
    facets: Facets,
    dialog: Option<std::sync::mpsc::Receiver<((), crate::gui::dialog::Picked)>>,
    /// The responses CSV's path typed by hand (when no system dialog could open).
    typed: Option<String>,
    /// The widths the years and emotion groups took last frame (a group that no longer
    /// fits its row starts a new one instead of overflowing under the detail panel).
    group_widths: [f32; 2],
}

/// The first run of three or four digits in a date as written by a museum ("c. 1650",
/// "1885–86", "19 May 1890").
pub fn year_of(date: &str) -> Option<i32> {
    let b = date.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if (3..=4).contains(&(i - start)) {
                return date[start..i].parse().ok();
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The artist facet's key: hyphen-like dashes (en, em, minus, figure dash…) become `-`,
/// and runs of whitespace one space, so "(French, 1695-1736)" and "(French, 1695–1736)"
/// are one artist.
pub fn artist_key(name: &str) -> String {
    let dashes = |c: char| {
        matches!(
            c,
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
        )
    };
    name.split_whitespace()
        .map(|w| w.replace(dashes, "-"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Normalised Shannon entropy of the votes: 0 when everyone agrees, 1 when the votes are
/// spread evenly over the nine labels.
pub fn ambiguity(h: &Histogram) -> f32 {
    (h.entropy() / (Emotion::ALL.len() as f64).log2()) as f32
}

impl Browse {
    /// A fresh bar with nothing filtered.
    pub fn new() -> Self {
        Browse {
            ambiguity: (0.0, 1.0),
            ..Default::default()
        }
    }

    /// Whether any filter is narrowing the grid.
    pub fn active(&self) -> bool {
        self.artist.is_some()
            || self.style.is_some()
            || self.years.is_some()
            || self.emotion != EmotionFilter::Any
            || self.ambiguity != (0.0, 1.0)
    }

    /// Clears every filter (the sort order stays).
    pub fn clear(&mut self) {
        self.artist = None;
        self.style = None;
        self.years = None;
        self.emotion = EmotionFilter::Any;
        self.ambiguity = (0.0, 1.0);
    }

    /// Recomputes the facets when the collection or the responses changed
    /// (`generation` is bumped by the app on either).
    pub fn refresh(
        &mut self,
        generation: u64,
        coll: &Collection,
        responses: &HashMap<String, Vec<Annotation>>,
    ) {
        if self.facets.generation == generation && self.facets.info.len() == coll.paintings.len() {
            return;
        }
        let mut f = Facets {
            generation,
            ..Default::default()
        };
        // key -> (count per spelling)
        let mut artists: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut styles: BTreeMap<String, usize> = BTreeMap::new();
        for p in &coll.paintings {
            if let Some(a) = p.artist.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                *artists
                    .entry(artist_key(a))
                    .or_default()
                    .entry(a.to_string())
                    .or_default() += 1;
            }
            if let Some(s) = p.style.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                *styles.entry(s.replace('_', " ")).or_default() += 1;
            }
            let year = p.date.as_deref().and_then(year_of);
            if let Some(y) = year {
                f.years = Some(match f.years {
                    None => (y, y),
                    Some((a, b)) => (a.min(y), b.max(y)),
                });
            }
            let (dominant, amb) = match responses.get(&p.id).filter(|r| !r.is_empty()) {
                None => {
                    f.without += 1;
                    (None, None)
                }
                Some(rows) => {
                    let mut h = Histogram::default();
                    rows.iter().for_each(|r| h.add(r.emotion));
                    let d = h.dominant(Dominance::AtLeastHalf);
                    match d {
                        Some(e) => *f.emotions.entry(e).or_default() += 1,
                        None => f.split += 1,
                    }
                    (Some(d), Some(ambiguity(&h)))
                }
            };
            f.info.push(Info {
                year,
                dominant,
                ambiguity: amb,
            });
        }
        f.artists = artists
            .into_iter()
            .map(|(key, spellings)| {
                let n = spellings.values().sum();
                // The most common spelling (the first in order on a tie).
                let shown = spellings
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(s, _)| s.clone())
                    .unwrap_or_else(|| key.clone());
                (key, shown, n)
            })
            .collect();
        f.styles = styles.into_iter().collect();
        // Filters that no longer name anything in this collection are dropped.
        if self
            .artist
            .as_ref()
            .is_some_and(|a| !f.artists.iter().any(|(x, _, _)| x == a))
        {
            self.artist = None;
        }
        if self
            .style
            .as_ref()
            .is_some_and(|s| !f.styles.iter().any(|(x, _)| x == s))
        {
            self.style = None;
        }
        if f.years.is_none() {
            self.years = None;
        }
        self.facets = f;
    }

    /// Whether painting `i` passes every filter.
    pub fn keep(&self, i: usize, p: &Painting) -> bool {
        let info = self.facets.info.get(i);
        if let Some(a) = &self.artist {
            if p.artist.as_deref().map(artist_key).as_ref() != Some(a) {
                return false;
            }
        }
        if let Some(s) = &self.style {
            if p.style
                .as_deref()
                .map(|x| x.trim().replace('_', " "))
                .as_deref()
                != Some(s)
            {
                return false;
            }
        }
        if let Some((lo, hi)) = self.years {
            match info.and_then(|x| x.year) {
                Some(y) if y >= lo && y <= hi => {}
                _ => return false,
            }
        }
        let dominant = info.and_then(|x| x.dominant);
        let ok = match self.emotion {
            EmotionFilter::Any => true,
            EmotionFilter::Dominant(e) => dominant == Some(Some(e)),
            EmotionFilter::Split => dominant == Some(None),
            EmotionFilter::NoResponses => dominant.is_none(),
        };
        if !ok {
            return false;
        }
        if self.ambiguity != (0.0, 1.0) {
            match info.and_then(|x| x.ambiguity) {
                Some(a) if a >= self.ambiguity.0 - 1e-6 && a <= self.ambiguity.1 + 1e-6 => {}
                _ => return false,
            }
        }
        true
    }

    /// Orders `visible` (painting indices) by the chosen sort.
    pub fn sort(&self, visible: &mut [usize], coll: &Collection) {
        let info = |i: usize| self.facets.info.get(i).cloned().unwrap_or_default();
        let title = |i: usize| {
            coll.paintings
                .get(i)
                .map(|p| p.display_title().to_lowercase())
                .unwrap_or_default()
        };
        match self.sort {
            Sort::Collection => {}
            Sort::Title => visible.sort_by_cached_key(|&i| title(i)),
            Sort::Artist => visible.sort_by_cached_key(|&i| {
                let artist = coll
                    .paintings
                    .get(i)
                    .and_then(|p| p.artist.as_deref())
                    .map(|a| artist_key(a).to_lowercase());
                (artist.is_none(), artist, info(i).year.unwrap_or(i32::MAX))
            }),
            Sort::Year => visible.sort_by_key(|&i| {
                let y = info(i).year;
                (y.is_none(), y)
            }),
            Sort::Ambiguity => visible.sort_by(|&a, &b| {
                let (x, y) = (info(a).ambiguity, info(b).ambiguity);
                match (x, y) {
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            }),
        }
    }

    /// The ambiguity to show with painting `i`'s tile: only while the grid is sorted by
    /// ambiguity, and only for paintings with responses.
    pub fn shown_ambiguity(&self, i: usize) -> Option<f32> {
        if self.sort != Sort::Ambiguity {
            return None;
        }
        self.facets.info.get(i).and_then(|x| x.ambiguity)
    }

    /// Draws the bar; `shown` of `total` paintings pass the filters; `map_selection`: the
    /// grid is restricted to a selection made on the map (Clear drops it too).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        shown: usize,
        total: usize,
        responses_source: Option<&str>,
        map_selection: bool,
    ) -> Option<BrowseAction> {
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
        // Taken out for the frame so the closures below can change the filters.
        let facets = std::mem::take(&mut self.facets);
        let f = &facets;
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 6.0;
            // Artist (a folder of files has none).
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
                            ui.selectable_value(
                                &mut self.style,
                                Some(s.clone()),
                                format!("{s} ({n})"),
                            );
                        }
                    })
                    .response
                    .on_hover_text("Style, period or sub-collection");
            }
            // Years.
            if let Some((lo, hi)) = f.years {
                // Each group wraps as a whole.
                self.wrap_before(ui, 0);
                let group = ui.horizontal(|ui| {
                    let mut on = self.years.is_some();
                    if ui
                        .checkbox(&mut on, "years")
                        .on_hover_text(
                            "Keep dated paintings in this span (undated ones are hidden)",
                        )
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
            ui.separator();
            // Dominant emotion.
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
            ui.separator();
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
                action = Some(BrowseAction::Cleared);
            }
            ui.separator();
            ui.label(format!("{shown} of {total} shown"));
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
        });
        self.facets = facets;
        action
    }

    /// Starts a new row before group `k` when it did not fit the rest of this one last
    /// frame (a nested group does not wrap by itself: it would run under the next panel).
    fn wrap_before(&self, ui: &mut egui::Ui, k: usize) {
        let w = self.group_widths[k];
        let at_start = ui.cursor().min.x <= ui.max_rect().min.x + 1.0;
        if w > 0.0 && !at_start && ui.available_size_before_wrap().x < w {
            ui.end_row();
        }
    }

    /// Records group `k`'s width; a change redraws the frame so the row wraps at once.
    fn measured(&mut self, ui: &egui::Ui, k: usize, w: f32) {
        if (self.group_widths[k] - w).abs() > 0.5 {
            self.group_widths[k] = w;
            ui.ctx().request_discard("browse bar group width");
        }
    }

    /// Sets the filters from code (tests and the map's "open as grid").
    #[cfg(test)]
    fn set(&mut self, emotion: EmotionFilter, ambiguity: (f32, f32)) {
        self.emotion = emotion;
        self.ambiguity = ambiguity;
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_are_read_from_museum_dates() {
        for (date, year) in [
            ("1885–86", Some(1885)),
            ("c. 1650", Some(1650)),
            ("19 May 1890", Some(1890)),
            ("about 800", Some(800)),
            ("19th century", None),
            ("", None),
        ] {
            assert_eq!(year_of(date), year, "{date}");
        }
    }

    fn painting(id: &str, artist: &str, date: &str) -> Painting {
        Painting {
            id: id.into(),
            path: PathBuf::from(format!("{id}.jpg")),
            style: Some("golden_age".into()),
            title: Some(id.to_uppercase()),
            artist: Some(artist.into()),
            date: Some(date.into()),
            medium: None,
            width: None,
            height: None,
            sha256: None,
            description: None,
        }
    }

    fn votes(id: &str, es: &[Emotion]) -> Vec<Annotation> {
        es.iter()
            .map(|&e| Annotation {
                art_style: "golden_age".into(),
                painting: id.into(),
                emotion: e,
                utterance: "x".into(),
                repetition: None,
            })
            .collect()
    }

    #[test]
    fn filters_and_sorts_over_a_small_collection() {
        use Emotion::*;
        let coll = Collection {
            name: "t".into(),
            source: PathBuf::from("t.csv"),
            kind: artemo_engine::collection::CollectionKind::Manifest,
            paintings: vec![
                painting("a", "Monet", "1872"),
                painting("b", "Renoir", "c. 1881"),
                painting("c", "Monet", "1899–1900"),
                painting("d", "Anonymous", "undated"),
            ],
            problems: vec![],
        };
        let mut responses = HashMap::new();
        // a: unanimous awe; b: 2-2-1 split; c: 3 of 5 contentment; d: none.
        responses.insert("a".into(), votes("a", &[Awe; 5]));
        responses.insert("b".into(), votes("b", &[Awe, Awe, Fear, Fear, Sadness]));
        responses.insert(
            "c".into(),
            votes("c", &[Contentment, Contentment, Contentment, Awe, Fear]),
        );
        let mut b = Browse::new();
        b.refresh(1, &coll, &responses);
        let kept = |b: &Browse| -> Vec<&str> {
            coll.paintings
                .iter()
                .enumerate()
                .filter(|(i, p)| b.keep(*i, p))
                .map(|(_, p)| p.id.as_str())
                .collect()
        };
        assert_eq!(kept(&b), ["a", "b", "c", "d"]);
        assert_eq!(
            b.facets.artists[1],
            ("Monet".to_string(), "Monet".to_string(), 2)
        );
        assert_eq!(b.facets.years, Some((1872, 1899)));
        b.artist = Some(artist_key("Monet"));
        assert_eq!(kept(&b), ["a", "c"]);
        b.clear();
        b.years = Some((1880, 1900));
        assert_eq!(kept(&b), ["b", "c"]);
        b.clear();
        b.set(EmotionFilter::Dominant(Contentment), (0.0, 1.0));
        assert_eq!(kept(&b), ["c"]);
        b.set(EmotionFilter::Split, (0.0, 1.0));
        assert_eq!(kept(&b), ["b"]);
        b.set(EmotionFilter::NoResponses, (0.0, 1.0));
        assert_eq!(kept(&b), ["d"]);
        // Unanimous responses have zero ambiguity; the split is the most ambiguous.
        b.set(EmotionFilter::Any, (0.0, 0.0));
        assert_eq!(kept(&b), ["a"]);
        b.set(EmotionFilter::Any, (0.4, 1.0));
        assert_eq!(kept(&b), ["b", "c"]);
        b.clear();
        let mut order = vec![0, 1, 2, 3];
        assert_eq!(b.shown_ambiguity(1), None);
        b.sort = Sort::Ambiguity;
        b.sort(&mut order, &coll);
        assert_eq!(order, [1, 2, 0, 3]);
        // Sorted by ambiguity, each tile shows its value (none without responses).
        assert_eq!(b.shown_ambiguity(0), Some(0.0));
        assert!(b.shown_ambiguity(1).is_some_and(|a| a > 0.4));
        assert_eq!(b.shown_ambiguity(3), None);
        b.sort = Sort::Artist;
        b.sort(&mut order, &coll);
        assert_eq!(order, [3, 0, 2, 1]);
        b.sort = Sort::Year;
        b.sort(&mut order, &coll);
        assert_eq!(order, [0, 1, 2, 3]);
        // Entropy of 2-2-1 over nine labels: 1.52 bits / log2(9).
        let a = b.facets.info[1].ambiguity.unwrap();
        assert!((a - 1.5219 / 9f32.log2()).abs() < 1e-3, "{a}");
    }

    #[test]
    fn artists_differing_only_by_dash_type_are_one_facet() {
        let coll = Collection {
            name: "t".into(),
            source: PathBuf::from("t.csv"),
            kind: artemo_engine::collection::CollectionKind::Manifest,
            paintings: vec![
                painting("a", "Jean-Antoine Watteau (French, 1684–1721)", "1716"),
                painting("b", "Jean-Antoine Watteau (French, 1684-1721)", "1717"),
                painting(
                    "c",
                    "Jean-Antoine Watteau  (French, 1684\u{2014}1721)",
                    "1718",
                ),
                painting("d", "Jean Siméon Chardin (French, 1699–1779)", "1730"),
            ],
            problems: vec![],
        };
        let mut b = Browse::new();
        b.refresh(1, &coll, &HashMap::new());
        assert_eq!(b.facets.artists.len(), 2, "{:?}", b.facets.artists);
        let (key, shown, n) = &b.facets.artists[1];
        assert_eq!(*n, 3);
        assert_eq!(key, "Jean-Antoine Watteau (French, 1684-1721)");
        // One name shown, a spelling that occurs (here the first in order of the ties).
        assert!(coll.paintings[..3]
            .iter()
            .any(|p| p.artist.as_deref() == Some(shown.as_str())));
        b.artist = Some(key.clone());
        let kept: Vec<&str> = coll
            .paintings
            .iter()
            .enumerate()
            .filter(|(i, p)| b.keep(*i, p))
            .map(|(_, p)| p.id.as_str())
            .collect();
        assert_eq!(kept, ["a", "b", "c"]);
    }
}
