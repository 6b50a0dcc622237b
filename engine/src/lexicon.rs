//! Valence-arousal-dominance lexicons: NRC VAD (v1, v1 BipolarScale, v2.1), Affect Control
//! Theory EPA ratings (actdata) and VADER, merged with priority, with a lookup that
//! normalises words and falls back to a light lemmatiser.
//!
//! All values are on -1..1. A dimension a lexicon does not rate (VADER has valence only) is
//! `None`, never zero.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{read_text, Error, Result};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        let mut add = |word: String, vad: Vad| {
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
        };
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
                    add(normalise(f[0]), Vad::new(vals[0], vals[1], vals[2]));
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
                    add(normalise(&term), Vad::new(e, a, p));
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
        Ok(VadLexicon {
            entries,
            sources: Vec::new(),
        })
    }

    /// Merges `lower` under `self`: words of `self` win; dimensions `self` lacks for a
    /// word are filled from `lower`; words only in `lower` are added.
    pub fn merge(mut self, lower: VadLexicon) -> Self {
        for (word, vad) in lower.entries {
            match self.entries.get_mut(&word) {
                Some(mine) => mine.fill_from(&vad),
                None => {
                    self.entries.insert(word, vad);
                }
            }
        }
        self.sources.extend(lower.sources);
        self
    }

    /// The default lexicon from the shipped assets: actdata EPA (all three files) over
    /// VADER. NRC VAD is loaded by the user from a path and merged on top.
    pub fn default_from_assets(assets: &Path) -> Result<Self> {
        let epa = assets.join("lexicons/actdata-epa");
        let mut lex = VadLexicon::default();
        for f in [
            "usfullsurveyor2015_identities.csv",
            "usfullsurveyor2015_behaviors.csv",
            "usfullsurveyor2015_mods.csv",
        ] {
            lex = lex.merge(VadLexicon::load(&epa.join(f), LexiconFormat::ActdataEpa)?);
        }
        Ok(lex.merge(VadLexicon::load(
            &assets.join("lexicons/vader/vader_lexicon.txt"),
            LexiconFormat::Vader,
        )?))
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

/// Lower-cases, removes GPT-2's `Ġ` marker and strips punctuation at both ends (inner
/// apostrophes and hyphens stay: "don't", "well-known").
pub fn normalise(word: &str) -> String {
    let w = word.trim().trim_start_matches('Ġ').to_lowercase();
    w.trim_matches(|c: char| !c.is_alphanumeric()).to_string()
}

/// Candidate lemmas for a normalised word, most likely first: a small table of irregular
/// forms, then suffix rules for plurals, past tenses, participles, comparatives and
/// adverbs.
pub fn lemma_candidates(w: &str) -> Vec<String> {
    const IRREGULAR: &[(&str, &str)] = &[
        ("was", "be"),
        ("were", "be"),
        ("is", "be"),
        ("are", "be"),
        ("been", "be"),
        ("am", "be"),
        ("has", "have"),
        ("had", "have"),
        ("did", "do"),
        ("does", "do"),
        ("done", "do"),
        ("men", "man"),
        ("women", "woman"),
        ("children", "child"),
        ("people", "person"),
        ("feet", "foot"),
        ("teeth", "tooth"),
        ("mice", "mouse"),
        ("geese", "goose"),
        ("went", "go"),
        ("gone", "go"),
        ("saw", "see"),
        ("seen", "see"),
        ("felt", "feel"),
        ("made", "make"),
        ("took", "take"),
        ("taken", "take"),
        ("gave", "give"),
        ("given", "give"),
        ("came", "come"),
        ("ran", "run"),
        ("fought", "fight"),
        ("died", "die"),
        ("lay", "lie"),
        ("lying", "lie"),
        ("dying", "die"),
        ("better", "good"),
        ("best", "good"),
        ("worse", "bad"),
        ("worst", "bad"),
        ("thought", "think"),
        ("brought", "bring"),
        ("bought", "buy"),
        ("left", "leave"),
        ("lost", "lose"),
        ("held", "hold"),
        ("stood", "stand"),
        ("sat", "sit"),
        ("wept", "weep"),
        ("slept", "sleep"),
        ("knelt", "kneel"),
        ("fell", "fall"),
        ("fallen", "fall"),
        ("broke", "break"),
        ("broken", "break"),
        ("wore", "wear"),
        ("worn", "wear"),
        ("flew", "fly"),
        ("drew", "draw"),
        ("drawn", "draw"),
        ("knives", "knife"),
        ("wives", "wife"),
        ("lives", "life"),
        ("leaves", "leaf"),
        ("wolves", "wolf"),
        ("calves", "calf"),
    ];
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && s != w && !out.contains(&s) {
            out.push(s);
        }
    };
    if let Some((_, l)) = IRREGULAR.iter().find(|(f, _)| *f == w) {
        push((*l).to_string());
    }
    let n = w.chars().count();
    let strip = |suffix: &str| w.strip_suffix(suffix).map(str::to_string);
    // "running" -> "run": a doubled final ASCII consonant (by characters, not bytes:
    // the fuzzer found a panic when the bytes of a multi-byte character repeated).
    let undouble = |stem: &str| -> Option<String> {
        let mut rev = stem.chars().rev();
        let (last, prev) = (rev.next()?, rev.next()?);
        (stem.chars().count() >= 3
            && last == prev
            && last.is_ascii_alphabetic()
            && !"aeiouls".contains(last))
        .then(|| stem[..stem.len() - last.len_utf8()].to_string())
    };
    if n > 4 {
        if let Some(s) = strip("ies") {
            push(format!("{s}y"));
        }
        if let Some(s) = strip("ied") {
            push(format!("{s}y"));
        }
        if let Some(s) = strip("ily") {
            push(format!("{s}y"));
        }
        for suf in ["ing", "ed", "er", "est"] {
            if let Some(s) = strip(suf) {
                if let Some(u) = undouble(&s) {
                    push(u);
                }
                push(s.clone());
                push(format!("{s}e"));
            }
        }
        if let Some(s) = strip("es") {
            push(s);
        }
        if let Some(s) = strip("ly") {
            push(s.clone());
            push(format!("{s}le"));
        }
        if let Some(s) = strip("ness") {
            push(s);
        }
    }
    if n > 3 && !w.ends_with("ss") {
        if let Some(s) = strip("s") {
            push(s);
        }
        if let Some(s) = strip("'s") {
            push(s);
        }
    }
    out
}

/// Where a lexicon comes from, for configuration files and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconSource {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub format: LexiconFormat,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("lex.txt")
    }

    #[test]
    fn nrc_v1_maps_zero_one_to_bipolar() {
        let l = VadLexicon::parse(
            "happy\t1.000\t0.735\t0.772\nsad\t0.225\t0.333\t0.149\n",
            p(),
            LexiconFormat::NrcV1,
        )
        .unwrap();
        let h = l.lookup("Happy!").unwrap();
        assert!((h.valence.unwrap() - 1.0).abs() < 1e-6);
        assert!((h.arousal.unwrap() - 0.47).abs() < 1e-6);
        let s = l.lookup("sad").unwrap().to_array();
        assert!((s[0] + 0.55).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn nrc_v2_header_and_bipolar_values() {
        let text = "term\tvalence\tarousal\tdominance\nabandon\t-0.6\t0.2\t-0.4\n";
        let l = VadLexicon::parse(text, p(), LexiconFormat::NrcV2).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.lookup("abandon"), Some(Vad::new(-0.6, 0.2, -0.4)));
        let b =
            VadLexicon::parse("calm\t0.5\t-0.8\t0.1\n", p(), LexiconFormat::NrcV1Bipolar).unwrap();
        assert_eq!(b.lookup("calm"), Some(Vad::new(0.5, -0.8, 0.1)));
    }

    #[test]
    fn malformed_lines_name_file_line_and_field() {
        let cases: &[(&str, LexiconFormat, &str)] = &[
            (
                "good\t0.5\tx\t0.1\n",
                LexiconFormat::NrcV1,
                "line 1, field `arousal`",
            ),
            ("a\t0.1\t0.1\t0.1\nb\t0.1\n", LexiconFormat::NrcV1, "line 2"),
            ("a\t1.5\t0.1\t0.1\n", LexiconFormat::NrcV1, "outside 0..1"),
            ("a\t-1.5\t0.1\t0.1\n", LexiconFormat::NrcV2, "outside -1..1"),
            (
                "term,E,P,A\nx,1,2\n",
                LexiconFormat::ActdataEpa,
                "field `A`",
            ),
            (
                "term,E,P\nx,1,2\n",
                LexiconFormat::ActdataEpa,
                "missing column `A`",
            ),
            (
                "term,E,P,A\nx,1,zz,2\n",
                LexiconFormat::ActdataEpa,
                "line 2, field `P`",
            ),
            ("good\tNaN\t0.1\t[]\n", LexiconFormat::Vader, "not finite"),
            ("good\n", LexiconFormat::Vader, "line 1"),
            ("", LexiconFormat::Vader, "no entries"),
        ];
        for (text, fmt, want) in cases {
            let e = VadLexicon::parse(text, p(), *fmt).unwrap_err().to_string();
            assert!(
                e.starts_with("lex.txt") && e.contains(want),
                "{fmt:?} {text:?}: {e}"
            );
        }
    }

    #[test]
    fn vader_has_valence_only_and_epa_is_rescaled() {
        let v = VadLexicon::parse(
            "lovely\t2.8\t0.6\t[3]\n:)\t2.0\t0.5\t[2]\n",
            p(),
            LexiconFormat::Vader,
        )
        .unwrap();
        let l = v.lookup("lovely").unwrap();
        assert_eq!(l.valence, Some(0.7));
        assert_eq!((l.arousal, l.dominance), (None, None));
        assert!(
            v.lookup(":)").is_none(),
            "punctuation-only words normalise to nothing"
        );
        let e = VadLexicon::parse(
            "term,E,P,A\nbest_friend,4.3,2.15,-8.6\n",
            p(),
            LexiconFormat::ActdataEpa,
        )
        .unwrap();
        let b = e.entries.get("best friend").unwrap();
        assert_eq!(*b, Vad::new(1.0, -1.0, 0.5));
    }

    #[test]
    fn merge_keeps_priority_and_fills_absent_dimensions() {
        let hi = VadLexicon::parse(
            "term,E,P,A\nangry,-2.15,0,4.3\n",
            p(),
            LexiconFormat::ActdataEpa,
        )
        .unwrap();
        let lo = VadLexicon::parse(
            "angry\t-3.2\t0\t[]\nsunny\t2.0\t0\t[]\n",
            p(),
            LexiconFormat::Vader,
        )
        .unwrap();
        let m = hi.merge(lo);
        assert_eq!(m.lookup("angry"), Some(Vad::new(-0.5, 1.0, 0.0)));
        let s = m.lookup("sunny").unwrap();
        assert_eq!((s.valence, s.arousal), (Some(0.5), None));
        let vader_first = VadLexicon::parse("calm\t1.2\t0\t[]\n", p(), LexiconFormat::Vader)
            .unwrap()
            .merge(
                VadLexicon::parse(
                    "term,E,P,A\ncalm,2.15,0,-4.3\n",
                    p(),
                    LexiconFormat::ActdataEpa,
                )
                .unwrap(),
            );
        let c = vader_first.lookup("calm").unwrap();
        assert!((c.valence.unwrap() - 0.3).abs() < 1e-6);
        assert_eq!(c.arousal, Some(-1.0));
    }

    #[test]
    fn lookup_normalises_and_lemmatises() {
        let l = VadLexicon::parse(
            "term,E,P,A\ncry,-1,0,1\nstorm,-1,1,2\nrun,1,1,1\nbaby,2,-2,1\nhappy,3,1,1\nbe,0,0,0\n",
            p(),
            LexiconFormat::ActdataEpa,
        )
        .unwrap();
        let table = [
            ("Ġcry", true, false),
            ("\"Storms,", true, true),
            ("running", true, true),
            ("babies", true, true),
            ("cried", true, true),
            ("happily", true, true),
            ("were", true, true),
            ("xyzzy", false, false),
            // Found by the fuzzer: repeated bytes inside a multi-byte character.
            ("c0鏏er", false, false),
            ("...", false, false),
        ];
        for (w, found, via_lemma) in table {
            let got = l.lookup_detailed(w);
            assert_eq!(got.is_some(), found, "{w}");
            if let Some((_, lem)) = got {
                assert_eq!(lem, via_lemma, "{w}");
            }
        }
        let c = l.coverage(["The babies cried in the storm", "..."]);
        assert_eq!((c.total, c.exact, c.lemma), (6, 1, 2));
        assert!((c.share() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn shipped_default_lexicon_loads_with_expected_size() {
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let l = VadLexicon::default_from_assets(&assets).unwrap();
        assert!(l.len() > 9000, "{}", l.len());
        let h = l.lookup("happy").unwrap();
        assert!(h.valence.unwrap() > 0.3 && h.arousal.is_some());
        assert!(l.lookup("murder").unwrap().valence.unwrap() < -0.5);
        assert_eq!(l.sources().len(), 4);
        let missing = VadLexicon::load(Path::new("/nonexistent/nrc.txt"), LexiconFormat::NrcV1)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("/nonexistent/nrc.txt"), "{missing}");
    }
}
