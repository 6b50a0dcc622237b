//! The light lemmatiser behind the lexicon lookups: normalisation of a token or word and
//! candidate lemmas by irregular forms and suffix rules (no part of speech; see
//! `docs/sevlm.md` for how this differs from the reference's WordNet lemmatiser).

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
