//! ArtEmis CSV (`art_style,painting,emotion,utterance,repetition`): read, write, the
//! per-artwork emotion histogram, the dominant emotion in both variants, and the 85/5/10
//! split by artwork with seed 2021.
//!
//! The split follows ArtEmis' proportions, unit (artwork = style + painting) and seed,
//! and its rule that artworks with 41 or more annotations are set apart; it is not the
//! identical partition (ArtEmis used scikit-learn's shuffling), which no Rust code can
//! reproduce bit for bit. Users who need ArtEmis' exact split import its split column.

use std::collections::BTreeMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};

/// One response: an emotion and the viewer's explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    /// Style or collection.
    pub art_style: String,
    /// Painting id (file stem).
    pub painting: String,
    /// The chosen label.
    pub emotion: Emotion,
    /// The explanation.
    pub utterance: String,
    /// ArtEmis' `repetition` column (annotations collected for the artwork), if given.
    pub repetition: Option<u32>,
}

/// An artwork: style and painting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ArtworkKey {
    /// Style or collection.
    pub art_style: String,
    /// Painting id.
    pub painting: String,
}

impl Annotation {
    /// The artwork this response is about.
    pub fn key(&self) -> ArtworkKey {
        ArtworkKey {
            art_style: self.art_style.clone(),
            painting: self.painting.clone(),
        }
    }
}

/// Reads an ArtEmis CSV. Columns are found by name (any order, extra columns ignored);
/// `repetition` is optional. Any malformed row is an error naming the file, row and field.
pub fn read_artemis(path: &Path) -> Result<Vec<Annotation>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_artemis_from(file, path)
}

/// Reads ArtEmis CSV from any reader; `path` names the source in errors.
pub fn read_artemis_from(reader: impl std::io::Read, path: &Path) -> Result<Vec<Annotation>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::at(path, "header", e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = |name: &str| -> Result<usize> {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::at(path, "header", format!("missing column `{name}`")))
    };
    let (cs, cp, ce, cu) = (
        col("art_style")?,
        col("painting")?,
        col("emotion")?,
        col("utterance")?,
    );
    let cr = headers.iter().position(|h| h == "repetition");
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| Error::at(path, format!("row {row}"), e.to_string()))?;
        let field = |c: usize, name: &str| -> Result<String> {
            let v = rec.get(c).unwrap_or("").trim();
            if v.is_empty() {
                return Err(Error::at(
                    path,
                    format!("row {row}, field `{name}`"),
                    "empty",
                ));
            }
            Ok(v.to_string())
        };
        let em = field(ce, "emotion")?;
        let emotion = Emotion::parse(&em).ok_or_else(|| {
            Error::at(
                path,
                format!("row {row}, field `emotion`"),
                format!("unknown emotion `{em}` (expected one of the 9 ArtEmis labels)"),
            )
        })?;
        let repetition = match cr
            .and_then(|c| rec.get(c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => Some(s.parse::<u32>().map_err(|_| {
                Error::at(
                    path,
                    format!("row {row}, field `repetition`"),
                    format!("expected a whole number, found `{s}`"),
                )
            })?),
        };
        out.push(Annotation {
            art_style: field(cs, "art_style")?,
            painting: field(cp, "painting")?,
            emotion,
            utterance: field(cu, "utterance")?,
            repetition,
        });
    }
    Ok(out)
}

/// Writes an ArtEmis CSV atomically.
pub fn write_artemis(path: &Path, rows: &[Annotation]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::parse(path, None, e.to_string());
    w.write_record([
        "art_style",
        "painting",
        "emotion",
        "utterance",
        "repetition",
    ])
    .map_err(csv_err)?;
    for a in rows {
        let rep = a.repetition.map(|r| r.to_string()).unwrap_or_default();
        w.write_record([
            a.art_style.as_str(),
            &a.painting,
            a.emotion.name(),
            &a.utterance,
            &rep,
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::parse(path, None, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Votes per label for one artwork, in ArtEmis order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Histogram(pub [u32; 9]);

/// Which rule makes an emotion dominant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dominance {
    /// ArtEmis: at least half of the votes, and no tie for first place.
    AtLeastHalf,
    /// SEVLM's copy: strictly more than half of the votes.
    MoreThanHalf,
}

impl Dominance {
    /// A label for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Dominance::AtLeastHalf => ">= half of the votes, no tie (ArtEmis)",
            Dominance::MoreThanHalf => "> half of the votes (SEVLM)",
        }
    }
}

impl Histogram {
    /// Adds one vote.
    pub fn add(&mut self, e: Emotion) {
        self.0[e.index()] += 1;
    }

    /// Total votes.
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// Votes for `e`.
    pub fn count(&self, e: Emotion) -> u32 {
        self.0[e.index()]
    }

    /// The dominant label under `rule`, or `None`.
    pub fn dominant(&self, rule: Dominance) -> Option<Emotion> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let max = *self.0.iter().max()?;
        let winners = self.0.iter().filter(|&&c| c == max).count();
        let idx = self.0.iter().position(|&c| c == max)?;
        let ok = match rule {
            Dominance::AtLeastHalf => 2 * max >= total && winners == 1,
            Dominance::MoreThanHalf => 2 * max > total,
        };
        ok.then(|| Emotion::from_index(idx)).flatten()
    }

    /// The most voted label (ties go to the earlier label), `None` without votes.
    pub fn majority(&self) -> Option<Emotion> {
        let max = *self.0.iter().max()?;
        if max == 0 {
            return None;
        }
        Emotion::from_index(self.0.iter().position(|&c| c == max)?)
    }

    /// Normalised distribution over the nine labels (all zero without votes).
    pub fn distribution(&self) -> [f32; 9] {
        let t = self.total().max(1) as f32;
        self.0.map(|c| c as f32 / t)
    }

    /// Shannon entropy in bits: 0 for full agreement, higher for ambiguous artworks.
    pub fn entropy(&self) -> f64 {
        let t = self.total() as f64;
        if t == 0.0 {
            return 0.0;
        }
        self.0
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / t;
                -p * p.log2()
            })
            .sum()
    }
}

/// Histograms per artwork.
pub fn histograms(rows: &[Annotation]) -> BTreeMap<ArtworkKey, Histogram> {
    let mut m: BTreeMap<ArtworkKey, Histogram> = BTreeMap::new();
    for a in rows {
        m.entry(a.key()).or_default().add(a.emotion);
    }
    m
}

/// A split name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Val,
    /// Test.
    Test,
    /// Set apart (ArtEmis: artworks with 41 or more annotations).
    Rest,
}

impl Split {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::Rest => "rest",
        }
    }

    /// Parses a split name (`validation` accepted).
    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_lowercase().as_str() {
            "train" => Some(Split::Train),
            "val" | "validation" => Some(Split::Val),
            "test" => Some(Split::Test),
            "rest" => Some(Split::Rest),
            _ => None,
        }
    }
}

/// ArtEmis' seed.
pub const ARTEMIS_SEED: u64 = 2021;
/// Annotations per artwork from which ArtEmis sets an artwork apart.
pub const ARTEMIS_REST_THRESHOLD: u32 = 41;

/// Splits artworks by `fractions` (train, val; test takes the rest), shuffled with `seed`
/// after sorting, so the result depends only on the set of artworks and the seed.
/// Artworks with `rest_threshold` or more annotations go to [`Split::Rest`].
pub fn split_artworks(
    hist: &BTreeMap<ArtworkKey, Histogram>,
    fractions: (f64, f64),
    seed: u64,
    rest_threshold: Option<u32>,
) -> BTreeMap<ArtworkKey, Split> {
    let mut out = BTreeMap::new();
    let mut keys: Vec<&ArtworkKey> = Vec::new();
    for (k, h) in hist {
        if rest_threshold.is_some_and(|t| h.total() >= t) {
            out.insert(k.clone(), Split::Rest);
        } else {
            keys.push(k);
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    keys.shuffle(&mut rng);
    let n = keys.len();
    let n_train = (n as f64 * fractions.0).round() as usize;
    let n_val = ((n as f64 * fractions.1).round() as usize).min(n - n_train.min(n));
    for (i, k) in keys.into_iter().enumerate() {
        let s = if i < n_train {
            Split::Train
        } else if i < n_train + n_val {
            Split::Val
        } else {
            Split::Test
        };
        out.insert(k.clone(), s);
    }
    out
}

/// ArtEmis' split: 85/5/10 by artwork, seed 2021, 41+ annotations set apart.
pub fn artemis_split(hist: &BTreeMap<ArtworkKey, Histogram>) -> BTreeMap<ArtworkKey, Split> {
    split_artworks(
        hist,
        (0.85, 0.05),
        ARTEMIS_SEED,
        Some(ARTEMIS_REST_THRESHOLD),
    )
}

/// Splits artworks 70/10/20 (train/val/test) stratified by their majority emotion: the
/// artworks of each stratum are shuffled with `seed`, the strata are laid end to end, and
/// positions are dealt along a repeating pattern of ten slots (7 train, 1 val, 2 test), so
/// every emotion is spread over the three splits and the totals match the proportions
/// to within a slot per stratum.
pub fn stratified_split(
    hist: &BTreeMap<ArtworkKey, Histogram>,
    seed: u64,
) -> BTreeMap<ArtworkKey, Split> {
    const PATTERN: [Split; 10] = [
        Split::Train,
        Split::Test,
        Split::Train,
        Split::Train,
        Split::Val,
        Split::Train,
        Split::Test,
        Split::Train,
        Split::Train,
        Split::Train,
    ];
    let mut strata: BTreeMap<usize, Vec<&ArtworkKey>> = BTreeMap::new();
    for (k, h) in hist {
        let s = h.majority().map(|e| e.index()).unwrap_or(usize::MAX);
        strata.entry(s).or_default().push(k);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = BTreeMap::new();
    let mut slot = 0usize;
    for keys in strata.values_mut() {
        keys.shuffle(&mut rng);
        for k in keys.iter() {
            out.insert((*k).clone(), PATTERN[slot % PATTERN.len()]);
            slot += 1;
        }
    }
    out
}

/// Summary of an imported ArtEmis CSV, for `artemo import artemis`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    /// Rows read.
    pub rows: usize,
    /// Distinct artworks.
    pub paintings: usize,
    /// Distinct styles.
    pub styles: usize,
    /// Responses per label, ArtEmis order.
    pub emotion_counts: BTreeMap<String, usize>,
    /// Artworks per split (85/5/10, seed 2021).
    pub split_sizes: BTreeMap<String, usize>,
    /// Artworks with a dominant emotion (>= half, no tie).
    pub dominant_at_least_half: usize,
    /// Artworks with a dominant emotion (> half).
    pub dominant_more_than_half: usize,
    /// Rows repeating an earlier row exactly (style, painting, emotion, utterance), as
    /// `[row, first row]` CSV row numbers (the header is row 1).
    pub duplicates: Vec<[usize; 2]>,
}

/// Rows that repeat an earlier row exactly (style, painting, emotion and utterance), as
/// `[row, first row]` CSV row numbers of rows read by [`read_artemis`] (header = row 1).
pub fn duplicate_rows(rows: &[Annotation]) -> Vec<[usize; 2]> {
    let mut first: std::collections::HashMap<(&str, &str, Emotion, &str), usize> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        let key = (
            a.art_style.as_str(),
            a.painting.as_str(),
            a.emotion,
            a.utterance.as_str(),
        );
        match first.get(&key) {
            Some(&j) => out.push([i + 2, j + 2]),
            None => {
                first.insert(key, i);
            }
        }
    }
    out
}

/// A warning naming duplicated rows (at most 10 listed), or `None` when there are none.
pub fn describe_duplicates(path: &Path, dups: &[[usize; 2]]) -> Option<String> {
    if dups.is_empty() {
        return None;
    }
    let listed: Vec<String> = dups
        .iter()
        .take(10)
        .map(|[r, f]| format!("row {r} repeats row {f}"))
        .collect();
    Some(format!(
        "{}: {} duplicate row(s) (same style, painting, emotion and utterance): {}{}",
        path.display(),
        dups.len(),
        listed.join(", "),
        if dups.len() > 10 { ", ..." } else { "" }
    ))
}

/// Summarises annotation rows.
pub fn summarise(rows: &[Annotation]) -> ImportSummary {
    let hist = histograms(rows);
    let mut emotion_counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in Emotion::ALL {
        emotion_counts.insert(format!("{}:{}", e.index(), e.name()), 0);
    }
    for a in rows {
        *emotion_counts
            .entry(format!("{}:{}", a.emotion.index(), a.emotion.name()))
            .or_insert(0) += 1;
    }
    let mut split_sizes = BTreeMap::new();
    for s in artemis_split(&hist).values() {
        *split_sizes.entry(s.name().to_string()).or_insert(0) += 1;
    }
    let styles: std::collections::BTreeSet<_> = hist.keys().map(|k| k.art_style.as_str()).collect();
    ImportSummary {
        rows: rows.len(),
        paintings: hist.len(),
        styles: styles.len(),
        emotion_counts,
        split_sizes,
        dominant_at_least_half: hist
            .values()
            .filter(|h| h.dominant(Dominance::AtLeastHalf).is_some())
            .count(),
        dominant_more_than_half: hist
            .values()
            .filter(|h| h.dominant(Dominance::MoreThanHalf).is_some())
            .count(),
        duplicates: duplicate_rows(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_rows_are_found_with_their_row_numbers() {
        let csv = "art_style,painting,emotion,utterance\n\
                   a,p1,awe,the sky\n\
                   a,p2,fear,dark water\n\
                   a,p1,awe,the sky\n\
                   a,p1,awe,the sky \n";
        let rows = read_artemis_from(csv.as_bytes(), Path::new("x.csv")).unwrap();
        assert_eq!(duplicate_rows(&rows), vec![[4, 2], [5, 2]]);
        assert_eq!(summarise(&rows).duplicates.len(), 2);
        let w = describe_duplicates(Path::new("x.csv"), &duplicate_rows(&rows)).unwrap();
        assert!(w.contains("row 4 repeats row 2"), "{w}");
    }

    fn ann(style: &str, painting: &str, e: Emotion) -> Annotation {
        Annotation {
            art_style: style.into(),
            painting: painting.into(),
            emotion: e,
            utterance: "the sea makes me feel small, and \"quiet\"".into(),
            repetition: Some(5),
        }
    }

    #[test]
    fn round_trip_with_quotes_commas_and_unicode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        let mut rows = vec![
            ann("Baroque", "rubens_x", Emotion::Awe),
            ann("Impressionism", "monet_café", Emotion::SomethingElse),
        ];
        rows[1].repetition = None;
        write_artemis(&p, &rows).unwrap();
        assert_eq!(read_artemis(&p).unwrap(), rows);
    }

    #[test]
    fn malformed_rows_name_row_and_field() {
        let cases = [
            (
                "art_style,painting,emotion,utterance\nA,b,joy,text\n",
                "row 2, field `emotion`",
            ),
            (
                "art_style,painting,emotion,utterance\nA,,awe,text\n",
                "row 2, field `painting`",
            ),
            (
                "art_style,painting,emotion,utterance,repetition\nA,b,awe,t,x\n",
                "row 2, field `repetition`",
            ),
            (
                "art_style,painting,emotion,utterance\nA,b,awe,t\nA,b\n",
                "row 3",
            ),
            (
                "art_style,painting,utterance\nA,b,t\n",
                "missing column `emotion`",
            ),
        ];
        for (text, want) in cases {
            let e = read_artemis_from(text.as_bytes(), Path::new("art.csv"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("art.csv") && e.contains(want),
                "{text:?}: {e}"
            );
        }
        let e = read_artemis(Path::new("/nonexistent/a.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/a.csv"));
    }

    #[test]
    fn dominance_variants_table() {
        use Emotion::*;
        // (votes, >= half no tie, > half)
        let cases: &[(&[Emotion], Option<Emotion>, Option<Emotion>)] = &[
            (&[Awe, Awe, Fear, Sadness], Some(Awe), None),
            (&[Awe, Awe, Awe, Fear, Sadness], Some(Awe), Some(Awe)),
            (&[Awe, Awe, Fear, Fear], None, None),
            (&[Awe, Fear, Sadness, Anger, Disgust], None, None),
            (&[Fear], Some(Fear), Some(Fear)),
            (&[], None, None),
        ];
        for (votes, half, more) in cases {
            let mut h = Histogram::default();
            votes.iter().for_each(|e| h.add(*e));
            assert_eq!(h.dominant(Dominance::AtLeastHalf), *half, "{votes:?}");
            assert_eq!(h.dominant(Dominance::MoreThanHalf), *more, "{votes:?}");
        }
        let mut h = Histogram::default();
        h.add(Awe);
        h.add(Fear);
        assert!((h.entropy() - 1.0).abs() < 1e-12);
        assert_eq!(h.majority(), Some(Awe));
    }

    #[test]
    fn split_is_by_artwork_deterministic_and_proportional() {
        let mut rows = Vec::new();
        for i in 0..200 {
            for _ in 0..3 {
                rows.push(ann("S", &format!("p{i}"), Emotion::Awe));
            }
        }
        for _ in 0..41 {
            rows.push(ann("S", "popular", Emotion::Fear));
        }
        let h = histograms(&rows);
        let a = artemis_split(&h);
        assert_eq!(a, artemis_split(&h));
        let count = |s| a.values().filter(|&&x| x == s).count();
        assert_eq!(
            (
                count(Split::Train),
                count(Split::Val),
                count(Split::Test),
                count(Split::Rest)
            ),
            (170, 10, 20, 1)
        );
        assert_eq!(
            a[&ArtworkKey {
                art_style: "S".into(),
                painting: "popular".into()
            }],
            Split::Rest
        );
        let other = split_artworks(&h, (0.85, 0.05), 7, None);
        assert_ne!(a, other);
        let st = stratified_split(&h, 7);
        let n = |s| st.values().filter(|&&x| x == s).count();
        assert_eq!(
            (n(Split::Train), n(Split::Val), n(Split::Test)),
            (141, 20, 40)
        );
        assert_eq!(st, stratified_split(&h, 7));
        let s = summarise(&rows);
        assert_eq!((s.rows, s.paintings, s.styles), (641, 201, 1));
        assert_eq!(s.emotion_counts["6:fear"], 41);
    }
}
