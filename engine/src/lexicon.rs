//! Valence-arousal-dominance lexicons: NRC VAD (v1, v1 BipolarScale, v2.1), Affect Control
//! Theory EPA ratings (actdata) and VADER, merged with priority, with a lookup that
//! normalises words and falls back to a light lemmatiser.
//!
//! All values are on -1..1. A dimension a lexicon does not rate (VADER has valence only) is
//! `None`, never zero.
//!
//! Two lookups ([`VadLookup`]): `normalised` (lower case, punctuation stripped, then a
//! lemma) and `exact-lemma`, the closest we can ship to BetterZH/SEVLM-code's
//! `get_sentence_VAD` (`utils/get_VADfeature.py:17-25`: an exact, case-sensitive dict
//! lookup of the WordNet lemma that `utils/get_wordBase.py:27-29` picks with nltk's POS
//! tag): the word as is, else the first POS-agnostic lemma candidate that the lexicon
//! itself contains. The lexicon a model uses is chosen by [`VadSource`] and recorded as
//! a [`LexiconRecord`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{read_text, Error, Result};

mod lemma;

/// Valence, arousal and dominance on -1..1; absent dimensions are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Vad {
    /// Pleasure / displeasure.
    pub valence: Option<f32>,
    /// Activation / calm.
    pub arousal: Option<f32>,
    /// Control / submission.
    pub dominance: Option<f32>,
}

impl Vad {
    /// A fully rated entry.
    pub fn new(v: f32, a: f32, d: f32) -> Self {
        Vad {
            valence: Some(v),
            arousal: Some(a),
            dominance: Some(d),
        }
    }

    /// As a 3-vector with absent dimensions set to 0 (the convention models use).
    pub fn to_array(self) -> [f32; 3] {
        [
            self.valence.unwrap_or(0.0),
            self.arousal.unwrap_or(0.0),
            self.dominance.unwrap_or(0.0),
        ]
    }

    /// Fills dimensions absent here from `other`.
    fn fill_from(&mut self, other: &Vad) {
        self.valence = self.valence.or(other.valence);
        self.arousal = self.arousal.or(other.arousal);
        self.dominance = self.dominance.or(other.dominance);
    }
}

/// The file layouts Artemo reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LexiconFormat {
    /// NRC VAD v1: `word\tV\tA\tD`, values 0..1, no header (mapped to -1..1).
    NrcV1,
    /// NRC VAD v1 BipolarScale: same layout, values already -1..1.
    NrcV1Bipolar,
    /// NRC VAD v2.1: header row, `term\tvalence\tarousal\tdominance`, -1..1.
    NrcV2,
    /// actdata EPA CSV (`term,E,P,A,...`, about -4.3..4.3, `_` for spaces): E is valence,
    /// A arousal, P dominance; divided by 4.3 and clamped.
    ActdataEpa,
    /// VADER: `token\tmean\tsd\t[ratings]`, mean on -4..4 (divided by 4): valence only.
    Vader,
}

impl LexiconFormat {
    /// A short human name.
    pub fn name(self) -> &'static str {
        match self {
            LexiconFormat::NrcV1 => "NRC VAD v1",
            LexiconFormat::NrcV1Bipolar => "NRC VAD v1 (bipolar)",
            LexiconFormat::NrcV2 => "NRC VAD v2.1",
            LexiconFormat::ActdataEpa => "actdata EPA",
            LexiconFormat::Vader => "VADER",
        }
    }

    /// The command-line name (`nrc-v1`, `nrc-v1-bipolar`, `nrc-v2`, `actdata-epa`, `vader`).
    pub fn cli_name(self) -> &'static str {
        match self {
            LexiconFormat::NrcV1 => "nrc-v1",
            LexiconFormat::NrcV1Bipolar => "nrc-v1-bipolar",
            LexiconFormat::NrcV2 => "nrc-v2",
            LexiconFormat::ActdataEpa => "actdata-epa",
            LexiconFormat::Vader => "vader",
        }
    }

    /// Parses a [`cli_name`](Self::cli_name).
    pub fn from_cli_name(s: &str) -> Option<Self> {
        [
            LexiconFormat::NrcV1,
            LexiconFormat::NrcV1Bipolar,
            LexiconFormat::NrcV2,
            LexiconFormat::ActdataEpa,
            LexiconFormat::Vader,
        ]
        .into_iter()
        .find(|f| f.cli_name() == s.trim().to_ascii_lowercase())
    }

    /// Guesses the NRC VAD layout of `text`: a header whose first field is `term` is
    /// v2.1; any negative value is v1 BipolarScale (the file the reference reads,
    /// `utils/get_VADfeature.py:14`); values all within 0..1 are v1. Anything else (a
    /// CSV, fewer than four tab-separated fields) is `None`.
    pub fn detect(text: &str) -> Option<Self> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let first = lines.next()?;
        let f: Vec<&str> = first.trim().split('\t').collect();
        if f.len() < 4 {
            return None;
        }
        if f[1].trim().parse::<f32>().is_err() {
            return (f[0].trim().eq_ignore_ascii_case("term")).then_some(LexiconFormat::NrcV2);
        }
        let negative = std::iter::once(first).chain(lines).take(5000).any(|l| {
            l.split('\t')
                .skip(1)
                .any(|v| v.trim().parse::<f32>().is_ok_and(|x| x < 0.0))
        });
        Some(if negative {
            LexiconFormat::NrcV1Bipolar
        } else {
            LexiconFormat::NrcV1
        })
    }
}

/// What every user-facing message calls the shipped lexicon.
pub const STAND_IN_NAME: &str = "stand-in (actdata EPA + VADER), not NRC VAD";

/// What a reference-release folder (no record of its own) was trained with.
pub const REFERENCE_LEXICON_NAME: &str = "NRC VAD (BipolarScale) by the authors";

/// How a token's text is matched against the lexicon (recorded in SEVLM configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VadLookup {
    /// Artemo's lookup before issue 19: lower-cased, surrounding punctuation and `Ġ`
    /// stripped, then the first lemma candidate found ([`VadLexicon::lookup`]). The
    /// default of configs that do not name one (the demo kit was trained with it).
    #[default]
    Normalised,
    /// The reference's rule as closely as we can ship it: the word exactly as given
    /// (case-sensitive), else the first POS-agnostic lemma candidate
    /// ([`lemma_candidates`]) that the lexicon contains exactly. The reference
    /// lemmatises first (nltk `pos_tag` + WordNet, `utils/get_wordBase.py:27-29`) and
    /// looks up only the lemma (`utils/get_VADfeature.py:20-24`); without a tagger we
    /// cannot know the part of speech, so a word the lexicon rates as is keeps its own
    /// value (docs/sevlm.md lists the gap).
    ExactLemma,
}

impl VadLookup {
    /// A short name for messages (`normalised`, `exact-lemma`).
    pub fn name(self) -> &'static str {
        match self {
            VadLookup::Normalised => "normalised",
            VadLookup::ExactLemma => "exact-lemma",
        }
    }
}

/// Where SEVLM's lexicon comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VadSource {
    /// The shipped stand-in: actdata EPA over VADER ([`STAND_IN_NAME`]).
    #[default]
    StandIn,
    /// An NRC VAD file (v1, v1 BipolarScale or v2.1) by path; `format` `None`: detected.
    File {
        /// The file.
        path: PathBuf,
        /// Its layout (`None`: [`LexiconFormat::detect`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<LexiconFormat>,
    },
}

/// The lexicon a model was trained with or is run with: saved in SEVLM configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LexiconRecord {
    /// Human name ([`STAND_IN_NAME`], `NRC VAD v2.1 (file name)`, ...).
    pub name: String,
    /// The layout (`LexiconFormat::name`), or the stand-in's description.
    #[serde(default)]
    pub format: String,
    /// sha256 of the file (the stand-in: of its four files in order); `None` when unknown
    /// (the reference release).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Entries after parsing; `None` when unknown.
    #[serde(default)]
    pub entries: Option<usize>,
}

impl LexiconRecord {
    /// The record of a reference-release folder: the authors trained with NRC VAD v1
    /// BipolarScale (`utils/get_VADfeature.py:14`); no hash is known.
    pub fn reference() -> Self {
        LexiconRecord {
            name: REFERENCE_LEXICON_NAME.into(),
            format: LexiconFormat::NrcV1Bipolar.name().into(),
            sha256: None,
            entries: None,
        }
    }

    /// The record assumed for an Artemo model folder saved before lexicons were recorded:
    /// every such model was trained with the stand-in.
    pub fn legacy_stand_in() -> Self {
        LexiconRecord {
            name: STAND_IN_NAME.into(),
            format: "actdata EPA + VADER".into(),
            sha256: None,
            entries: None,
        }
    }

    /// True for the shipped stand-in.
    pub fn is_stand_in(&self) -> bool {
        self.name == STAND_IN_NAME
    }

    /// A warning when `in_use` is not the lexicon a model was `trained` with: hashes
    /// differ when both are known; otherwise the kinds differ (stand-in vs NRC).
    pub fn mismatch(trained: &LexiconRecord, in_use: &LexiconRecord) -> Option<String> {
        let differs = match (&trained.sha256, &in_use.sha256) {
            (Some(a), Some(b)) => a != b,
            _ => trained.is_stand_in() != in_use.is_stand_in(),
        };
        differs.then(|| {
            format!(
                "lexicon mismatch: this SEVLM was trained with {}, but runs with {}; its VAD inputs differ from training",
                trained.describe(),
                in_use.describe()
            )
        })
    }

    /// One line: name, entries and a short hash.
    pub fn describe(&self) -> String {
        let mut s = self.name.clone();
        if let Some(n) = self.entries {
            s.push_str(&format!(", {n} entries"));
        }
        if let Some(h) = &self.sha256 {
            s.push_str(&format!(", sha256 {}", &h[..h.len().min(12)]));
        }
        s
    }
}

/// Scale of the actdata EPA ratings (their extreme magnitude).
const EPA_SCALE: f32 = 4.3;

/// Word coverage of a lexicon over some text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Coverage {
    /// Words looked up.
    pub total: usize,
    /// Words found directly (after normalisation).
    pub exact: usize,
    /// Words found only through the lemmatiser.
    pub lemma: usize,
}

impl Coverage {
    /// Share of words found, 0..1 (0 for no words).
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (self.exact + self.lemma) as f64 / self.total as f64
        }
    }
}

/// A merged VAD lexicon.
#[derive(Debug, Clone, Default)]
pub struct VadLexicon {
    entries: HashMap<String, Vad>,
    /// The same entries under their key exactly as the file spells it (for
    /// [`VadLookup::ExactLemma`]).
    raw: HashMap<String, Vad>,
    sources: Vec<String>,
}

impl VadLexicon {
    /// Loads one lexicon file in the given layout.
    pub fn load(path: &Path, format: LexiconFormat) -> Result<Self> {
        let text = read_text(path)?;
        let mut lex = Self::parse(&text, path, format)?;
        lex.sources
            .push(format!("{} ({})", format.name(), path.display()));
        Ok(lex)
    }

    /// Parses lexicon text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path, format: LexiconFormat) -> Result<Self> {
        let mut sums: HashMap<String, (Vad, u32)> = HashMap::new();
        let mut raws: HashMap<String, (Vad, u32)> = HashMap::new();
        let mut add = |word: String, raw: String, vad: Vad| {
            accumulate(&mut raws, raw, vad);
            accumulate(&mut sums, word, vad);
        };
        fn accumulate(sums: &mut HashMap<String, (Vad, u32)>, word: String, vad: Vad) {
            let e = sums.entry(word).or_insert((
                Vad {
                    valence: None,
                    arousal: None,
                    dominance: None,
                },
                0,
            ));
            // Duplicates within one file (actdata lists some terms as identity and
            // modifier) are averaged.
            let n = e.1 as f32;
            let avg = |old: Option<f32>, new: Option<f32>| match (old, new) {
                (Some(o), Some(x)) => Some((o * n + x) / (n + 1.0)),
                (o, x) => o.or(x),
            };
            e.0 = Vad {
                valence: avg(e.0.valence, vad.valence),
                arousal: avg(e.0.arousal, vad.arousal),
                dominance: avg(e.0.dominance, vad.dominance),
            };
            e.1 += 1;
        }
        let num = |s: &str, line: usize, field: &str| -> Result<f32> {
            let v: f32 = s.trim().parse().map_err(|_| {
                Error::at(
                    path,
                    format!("line {line}, field `{field}`"),
                    format!("expected a number, found `{}`", s.trim()),
                )
            })?;
            if !v.is_finite() {
                return Err(Error::at(
                    path,
                    format!("line {line}, field `{field}`"),
                    "value is not finite",
                ));
            }
            Ok(v)
        };
        let range = |v: f32, lo: f32, hi: f32, line: usize, field: &str| -> Result<f32> {
            if v < lo - 1e-6 || v > hi + 1e-6 {
                return Err(Error::at(
                    path,
                    format!("line {line}, field `{field}`"),
                    format!("value {v} outside {lo}..{hi}"),
                ));
            }
            Ok(v)
        };
        match format {
            LexiconFormat::NrcV1 | LexiconFormat::NrcV1Bipolar | LexiconFormat::NrcV2 => {
                for (i, raw) in text.lines().enumerate() {
                    let line = i + 1;
                    let raw = raw.trim_end_matches('\r');
                    if raw.trim().is_empty() {
                        continue;
                    }
                    let f: Vec<&str> = raw.split('\t').collect();
                    if f.len() < 4 {
                        return Err(Error::at(
                            path,
                            format!("line {line}"),
                            format!(
                                "expected 4 tab-separated fields (word, V, A, D), found {}",
                                f.len()
                            ),
                        ));
                    }
                    // A header row is required for v2.1 and tolerated for the others.
                    if line == 1 && f[1].trim().parse::<f32>().is_err() {
                        continue;
                    }
                    let (lo, hi) = if format == LexiconFormat::NrcV1 {
                        (0.0, 1.0)
                    } else {
                        (-1.0, 1.0)
                    };
                    let mut vals = [0f32; 3];
                    for (k, name) in ["valence", "arousal", "dominance"].iter().enumerate() {
                        vals[k] = range(num(f[k + 1], line, name)?, lo, hi, line, name)?;
                        if format == LexiconFormat::NrcV1 {
                            vals[k] = vals[k] * 2.0 - 1.0;
                        }
                    }
                    // The reference keys its dict by the word of the stripped line
                    // (`utils/get_VADfeature.py:7-11`).
                    add(
                        normalise(f[0]),
                        f[0].trim_start().to_string(),
                        Vad::new(vals[0], vals[1], vals[2]),
                    );
                }
            }
            LexiconFormat::ActdataEpa => {
                let mut rdr = csv::ReaderBuilder::new()
                    .flexible(true)
                    .from_reader(text.as_bytes());
                let headers = rdr
                    .headers()
                    .map_err(|e| Error::at(path, "header", e.to_string()))?
                    .clone();
                let col = |name: &str| -> Result<usize> {
                    headers
                        .iter()
                        .position(|h| h.trim() == name)
                        .ok_or_else(|| {
                            Error::at(path, "header", format!("missing column `{name}`"))
                        })
                };
                let (ct, ce, cp, ca) = (col("term")?, col("E")?, col("P")?, col("A")?);
                for (i, rec) in rdr.records().enumerate() {
                    let line = i + 2;
                    let rec =
                        rec.map_err(|e| Error::at(path, format!("line {line}"), e.to_string()))?;
                    let get = |c: usize, name: &str| -> Result<&str> {
                        rec.get(c).ok_or_else(|| {
                            Error::at(
                                path,
                                format!("line {line}, field `{name}`"),
                                "missing field",
                            )
                        })
                    };
                    let term = get(ct, "term")?.replace('_', " ");
                    let scale = |v: f32| (v / EPA_SCALE).clamp(-1.0, 1.0);
                    let e = scale(num(get(ce, "E")?, line, "E")?);
                    let p = scale(num(get(cp, "P")?, line, "P")?);
                    let a = scale(num(get(ca, "A")?, line, "A")?);
                    add(normalise(&term), term.clone(), Vad::new(e, a, p));
                }
            }
            LexiconFormat::Vader => {
                for (i, raw) in text.lines().enumerate() {
                    let line = i + 1;
                    if raw.trim().is_empty() {
                        continue;
                    }
                    let f: Vec<&str> = raw.split('\t').collect();
                    if f.len() < 2 {
                        return Err(Error::at(
                            path,
                            format!("line {line}"),
                            "expected tab-separated `token, mean, ...`",
                        ));
                    }
                    let v = range(num(f[1], line, "mean")?, -4.0, 4.0, line, "mean")? / 4.0;
                    // VADER keeps emoticons; normalisation may empty them, so keep the raw token.
                    let key = normalise(f[0]);
                    let key = if key.is_empty() {
                        f[0].trim().to_lowercase()
                    } else {
                        key
                    };
                    add(
                        key,
                        f[0].to_string(),
                        Vad {
                            valence: Some(v),
                            arousal: None,
                            dominance: None,
                        },
                    );
                }
            }
        }
        let entries: HashMap<String, Vad> = sums
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, (v, _))| (k, v))
            .collect();
        if entries.is_empty() {
            return Err(Error::parse(path, None, "no entries"));
        }
        let raw = raws
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, (v, _))| (k, v))
            .collect();
        Ok(VadLexicon {
            entries,
            raw,
            sources: Vec::new(),
        })
    }

    /// Merges `lower` under `self`: words of `self` win; dimensions `self` lacks for a
    /// word are filled from `lower`; words only in `lower` are added.
    pub fn merge(mut self, lower: VadLexicon) -> Self {
        for (map, other) in [
            (&mut self.entries, lower.entries),
            (&mut self.raw, lower.raw),
        ] {
            for (word, vad) in other {
                match map.get_mut(&word) {
                    Some(mine) => mine.fill_from(&vad),
                    None => {
                        map.insert(word, vad);
                    }
                }
            }
        }
        self.sources.extend(lower.sources);
        self
    }

    /// The default lexicon from the shipped assets: actdata EPA (all three files) over
    /// VADER. NRC VAD is loaded by the user from a path and merged on top.
    pub fn default_from_assets(assets: &Path) -> Result<Self> {
        let files = stand_in_files(assets);
        let mut lex = VadLexicon::default();
        for f in &files[..3] {
            lex = lex.merge(VadLexicon::load(f, LexiconFormat::ActdataEpa)?);
        }
        Ok(lex.merge(VadLexicon::load(&files[3], LexiconFormat::Vader)?))
    }

    /// The lexicon a [`VadSource`] names, with its [`LexiconRecord`]. A file's layout is
    /// detected when not given; a file that is not an NRC VAD table is an error naming it.
    pub fn from_source(assets: &Path, source: &VadSource) -> Result<(Self, LexiconRecord)> {
        use sha2::{Digest, Sha256};
        match source {
            VadSource::StandIn => {
                let lex = Self::default_from_assets(assets)?;
                let mut h = Sha256::new();
                for f in stand_in_files(assets) {
                    h.update(crate::error::read_file(&f)?);
                }
                let record = LexiconRecord {
                    name: STAND_IN_NAME.into(),
                    format: "actdata EPA + VADER".into(),
                    sha256: Some(hex(&h.finalize())),
                    entries: Some(lex.len()),
                };
                Ok((lex, record))
            }
            VadSource::File { path, format } => {
                let bytes = crate::error::read_file(path)?;
                let text = String::from_utf8(bytes.clone())
                    .map_err(|_| Error::parse(path, None, "a VAD lexicon must be UTF-8 text"))?;
                let format = match format {
                    Some(f) => *f,
                    None => LexiconFormat::detect(&text).ok_or_else(|| {
                        Error::parse(
                            path,
                            Some("line 1".into()),
                            "not an NRC VAD table (`word<TAB>V<TAB>A<TAB>D` per line); name the layout with --lexicon-format",
                        )
                    })?,
                };
                let mut lex = Self::parse(&text, path, format)?;
                lex.sources
                    .push(format!("{} ({})", format.name(), path.display()));
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let record = LexiconRecord {
                    name: format!("{} ({file})", format.name()),
                    format: format.name().into(),
                    sha256: Some(hex(&Sha256::digest(&bytes))),
                    entries: Some(lex.len()),
                };
                Ok((lex, record))
            }
        }
    }

    /// Looks `word` up with the given rule (see [`VadLookup`]).
    pub fn lookup_with(&self, word: &str, mode: VadLookup) -> Option<Vad> {
        match mode {
            VadLookup::Normalised => self.lookup(word),
            VadLookup::ExactLemma => {
                if word.is_empty() {
                    return None;
                }
                if let Some(v) = self.raw.get(word) {
                    return Some(*v);
                }
                lemma_candidates(word)
                    .into_iter()
                    .find_map(|c| self.raw.get(&c).copied())
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the lexicon has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the entries came from, highest priority first.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Looks a word up: exact entry after normalisation (lower case, surrounding
    /// punctuation and GPT-2's `Ġ` stripped), else the first lemma candidate found.
    pub fn lookup(&self, word: &str) -> Option<Vad> {
        self.lookup_detailed(word).map(|(v, _)| v)
    }

    /// Like [`lookup`](Self::lookup), also telling whether the lemmatiser was needed.
    pub fn lookup_detailed(&self, word: &str) -> Option<(Vad, bool)> {
        let w = normalise(word);
        if w.is_empty() {
            return None;
        }
        if let Some(v) = self.entries.get(&w) {
            return Some((*v, false));
        }
        lemma_candidates(&w)
            .into_iter()
            .find_map(|c| self.entries.get(&c).map(|v| (*v, true)))
    }

    /// Coverage over whitespace-separated words of `texts`.
    pub fn coverage<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Coverage {
        let mut c = Coverage::default();
        for t in texts {
            for w in t.split_whitespace() {
                if normalise(w).is_empty() {
                    continue;
                }
                c.total += 1;
                match self.lookup_detailed(w) {
                    Some((_, false)) => c.exact += 1,
                    Some((_, true)) => c.lemma += 1,
                    None => {}
                }
            }
        }
        c
    }
}

/// The stand-in's files, in merge order: actdata EPA identities, behaviours, modifiers;
/// VADER.
fn stand_in_files(assets: &Path) -> [PathBuf; 4] {
    let epa = assets.join("lexicons/actdata-epa");
    [
        epa.join("usfullsurveyor2015_identities.csv"),
        epa.join("usfullsurveyor2015_behaviors.csv"),
        epa.join("usfullsurveyor2015_mods.csv"),
        assets.join("lexicons/vader/vader_lexicon.txt"),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub use lemma::{lemma_candidates, normalise};

/// Where a lexicon comes from, for configuration files and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconSource {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub format: LexiconFormat,
}

#[cfg(test)]
mod tests;
