//! The Collection tab's browse bar: filters by artist, style, year range, dominant
//! emotion and ambiguity of the human responses, a sort order, and loading an ArtEmis CSV
//! of responses for any collection. The facets (artist and style lists with counts, the
//! year span, each painting's dominant emotion and ambiguity) are computed once per
//! collection and set of responses, not per frame.

mod bar;
#[cfg(test)]
mod tests;

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
    pub(crate) const ALL: [Sort; 5] = [
        Sort::Collection,
        Sort::Title,
        Sort::Artist,
        Sort::Year,
        Sort::Ambiguity,
    ];

    pub(crate) fn label(self) -> &'static str {
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
#[derive(Debug, Clone, Copy, Default)]
struct Info {
    /// Index of the painting's artist in `Facets::artists`.
    artist: Option<u32>,
    /// Index of its style in `Facets::styles`.
    style: Option<u32>,
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
    /// Each artist's place in the artist sort (lower-case keys; equal ones share it).
    artist_rank: Vec<u32>,
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

/// The field trimmed, `None` when empty.
fn trimmed(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The index of the artist facet with key `key`.
fn artist_index(artists: &[(String, String, usize)], key: &str) -> Option<u32> {
    artists
        .binary_search_by(|a| a.0.as_str().cmp(key))
        .ok()
        .map(|i| i as u32)
}

/// The index of the style facet `style`.
fn style_index(styles: &[(String, usize)], style: &str) -> Option<u32> {
    styles
        .binary_search_by(|s| s.0.as_str().cmp(style))
        .ok()
        .map(|i| i as u32)
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
        // Distinct spellings first: ten thousand paintings name a few hundred artists.
        let mut raw_artists: HashMap<&str, usize> = HashMap::new();
        let mut raw_styles: HashMap<&str, usize> = HashMap::new();
        for p in &coll.paintings {
            if let Some(a) = trimmed(p.artist.as_deref()) {
                *raw_artists.entry(a).or_default() += 1;
            }
            if let Some(s) = trimmed(p.style.as_deref()) {
                *raw_styles.entry(s).or_default() += 1;
            }
        }
        // key -> (count per spelling)
        let mut artists: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
        let mut artist_keys: HashMap<&str, String> = HashMap::new();
        for (&a, &n) in &raw_artists {
            let key = artist_key(a);
            *artists
                .entry(key.clone())
                .or_default()
                .entry(a)
                .or_default() += n;
            artist_keys.insert(a, key);
        }
        let mut styles: BTreeMap<String, usize> = BTreeMap::new();
        let mut style_keys: HashMap<&str, String> = HashMap::new();
        for (&st, &n) in &raw_styles {
            let key = st.replace('_', " ");
            *styles.entry(key.clone()).or_default() += n;
            style_keys.insert(st, key);
        }
        f.artists = artists
            .into_iter()
            .map(|(key, spellings)| {
                let n = spellings.values().sum();
                // The most common spelling (the first in order on a tie).
                let shown = spellings
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(s, _)| s.to_string())
                    .unwrap_or_else(|| key.clone());
                (key, shown, n)
            })
            .collect();
        f.styles = styles.into_iter().collect();
        let artist_ix: HashMap<&str, u32> = artist_keys
            .iter()
            .filter_map(|(&a, k)| Some((a, artist_index(&f.artists, k)?)))
            .collect();
        let style_ix: HashMap<&str, u32> = style_keys
            .iter()
            .filter_map(|(&st, k)| Some((st, style_index(&f.styles, k)?)))
            .collect();
        // Dense ranks of the lower-case keys.
        let lower: Vec<String> = f.artists.iter().map(|a| a.0.to_lowercase()).collect();
        let mut order: Vec<usize> = (0..lower.len()).collect();
        order.sort_by(|&a, &b| lower[a].cmp(&lower[b]));
        f.artist_rank = vec![0; lower.len()];
        let mut rank = 0u32;
        for (k, &i) in order.iter().enumerate() {
            if k > 0 && lower[i] != lower[order[k - 1]] {
                rank += 1;
            }
            f.artist_rank[i] = rank;
        }
        for p in &coll.paintings {
            let artist = trimmed(p.artist.as_deref()).and_then(|a| artist_ix.get(a).copied());
            let style = trimmed(p.style.as_deref()).and_then(|s| style_ix.get(s).copied());
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
                artist,
                style,
                year,
                dominant,
                ambiguity: amb,
            });
        }
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

    /// Whether painting `i` passes every filter (`p`: the painting, read when the facets
    /// do not cover it yet).
    pub fn keep(&self, i: usize, p: &Painting) -> bool {
        let info = self.facets.info.get(i);
        if let Some(a) = &self.artist {
            let ok = match info {
                Some(x) => x.artist.is_some() && x.artist == artist_index(&self.facets.artists, a),
                None => p.artist.as_deref().map(artist_key).as_ref() == Some(a),
            };
            if !ok {
                return false;
            }
        }
        if let Some(s) = &self.style {
            let ok = match info {
                Some(x) => x.style.is_some() && x.style == style_index(&self.facets.styles, s),
                None => {
                    p.style
                        .as_deref()
                        .map(|x| x.trim().replace('_', " "))
                        .as_deref()
                        == Some(s)
                }
            };
            if !ok {
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
        let info = |i: usize| self.facets.info.get(i).copied().unwrap_or_default();
        let title = |i: usize| {
            coll.paintings
                .get(i)
                .map(|p| p.display_title().to_lowercase())
                .unwrap_or_default()
        };
        match self.sort {
            Sort::Collection => {}
            Sort::Title => visible.sort_by_cached_key(|&i| title(i)),
            Sort::Artist => visible.sort_by_key(|&i| {
                let x = info(i);
                let rank = x
                    .artist
                    .and_then(|a| self.facets.artist_rank.get(a as usize).copied());
                (rank.is_none(), rank, x.year.unwrap_or(i32::MAX))
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

    /// Sets the filters from code (tests and `artemo bench collection`).
    pub(crate) fn set(&mut self, emotion: EmotionFilter, ambiguity: (f32, f32)) {
        self.emotion = emotion;
        self.ambiguity = ambiguity;
    }

    /// Sets the sort order from code.
    pub(crate) fn set_sort(&mut self, sort: Sort) {
        self.sort = sort;
    }

    /// Sets the artist filter from code (a name as written; `None`: any artist).
    pub(crate) fn set_artist(&mut self, artist: Option<&str>) {
        self.artist = artist.map(artist_key);
    }

    /// Sets the style filter from code (`None`: any style).
    pub(crate) fn set_style(&mut self, style: Option<&str>) {
        self.style = style.map(|s| s.trim().replace('_', " "));
    }

    /// Sets the year span from code (`None`: undated paintings kept too).
    pub(crate) fn set_years(&mut self, years: Option<(i32, i32)>) {
        self.years = years;
    }

    /// The most common artist and style and the year span of the facets (what
    /// `artemo bench collection` filters by).
    pub(crate) fn facet_sample(&self) -> (Option<String>, Option<String>, Option<(i32, i32)>) {
        let f = &self.facets;
        let artist = f.artists.iter().max_by_key(|a| a.2).map(|a| a.1.clone());
        let style = f.styles.iter().max_by_key(|s| s.1).map(|s| s.0.clone());
        (artist, style, f.years)
    }

    /// What the grid's visible list depends on here: the filters, the sort and the
    /// facets they read.
    pub(crate) fn view_key(&self) -> ViewKey {
        ViewKey {
            artist: self.artist.clone(),
            style: self.style.clone(),
            years: self.years,
            emotion: self.emotion,
            ambiguity: (self.ambiguity.0.to_bits(), self.ambiguity.1.to_bits()),
            sort: self.sort,
            facets: (self.facets.generation, self.facets.info.len()),
        }
    }
}

/// The browse bar's part of what the grid's visible list depends on (see
/// [`Browse::view_key`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ViewKey {
    artist: Option<String>,
    style: Option<String>,
    years: Option<(i32, i32)>,
    emotion: EmotionFilter,
    ambiguity: (u32, u32),
    sort: Sort,
    /// The facets' generation and length.
    facets: (u64, usize),
}
