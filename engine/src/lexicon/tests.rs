//! Tests of the lexicon parsers, merge, lookups and records.

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
    let b = VadLexicon::parse("calm\t0.5\t-0.8\t0.1\n", p(), LexiconFormat::NrcV1Bipolar).unwrap();
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
fn exact_lemma_lookup_is_case_sensitive_and_lexicon_attested() {
    // BetterZH/SEVLM-code utils/get_VADfeature.py:21 `if word in VAD_dict` (exact,
    // case-sensitive) of the lemma utils/get_wordBase.py:28 picks.
    let l = VadLexicon::parse(
        "color\t0.1\t0.2\t0.3\nbe\t0.0\t0.1\t0.0\ncry\t-0.5\t0.5\t-0.2\nNew York\t0.3\t0.3\t0.3\n",
        p(),
        LexiconFormat::NrcV1Bipolar,
    )
    .unwrap();
    let x = VadLookup::ExactLemma;
    assert_eq!(l.lookup_with("color", x), Some(Vad::new(0.1, 0.2, 0.3)));
    assert_eq!(l.lookup_with("colors", x), Some(Vad::new(0.1, 0.2, 0.3)));
    assert_eq!(l.lookup_with("is", x), Some(Vad::new(0.0, 0.1, 0.0)));
    assert_eq!(l.lookup_with("cried", x), Some(Vad::new(-0.5, 0.5, -0.2)));
    assert_eq!(l.lookup_with("New York", x), Some(Vad::new(0.3, 0.3, 0.3)));
    // Case, surrounding punctuation and `Ġ` are not normalised away.
    for miss in ["Color", "color,", "Ġcolor", "<|endoftext|>", "", "Ã©"] {
        assert_eq!(l.lookup_with(miss, x), None, "{miss:?}");
    }
    // The normalising lookup finds them.
    assert!(l.lookup_with("Color,", VadLookup::Normalised).is_some());
    assert!(l.lookup_with("Ġcolor", VadLookup::Normalised).is_some());
}

#[test]
fn nrc_layouts_are_detected_and_recorded() {
    assert_eq!(
        LexiconFormat::detect("aaa\t0.5\t0.2\t0.1\nbbb\t-0.5\t0.1\t0.0\n"),
        Some(LexiconFormat::NrcV1Bipolar)
    );
    assert_eq!(
        LexiconFormat::detect("aaa\t0.5\t0.2\t0.1\n"),
        Some(LexiconFormat::NrcV1)
    );
    assert_eq!(
        LexiconFormat::detect("term\tvalence\tarousal\tdominance\naaa\t-0.5\t0.2\t0.1\n"),
        Some(LexiconFormat::NrcV2)
    );
    assert_eq!(LexiconFormat::detect("term,E,P,A\nx,1,2,3\n"), None);
    for f in [
        LexiconFormat::NrcV1,
        LexiconFormat::NrcV1Bipolar,
        LexiconFormat::NrcV2,
        LexiconFormat::ActdataEpa,
        LexiconFormat::Vader,
    ] {
        assert_eq!(LexiconFormat::from_cli_name(f.cli_name()), Some(f));
    }
    let dir = std::env::temp_dir().join(format!("artemo-lex-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("NRC-VAD-Lexicon.txt");
    std::fs::write(&file, "calm\t0.5\t-0.8\t0.1\nangry\t-0.7\t0.8\t0.4\n").unwrap();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    let src = VadSource::File {
        path: file.clone(),
        format: None,
    };
    let (lex, rec) = VadLexicon::from_source(&assets, &src).unwrap();
    assert_eq!(lex.len(), 2);
    assert_eq!(rec.entries, Some(2));
    assert_eq!(rec.format, "NRC VAD v1 (bipolar)");
    assert_eq!(rec.sha256.as_deref().map(str::len), Some(64));
    let (_, stand_in) = VadLexicon::from_source(&assets, &VadSource::StandIn).unwrap();
    assert!(stand_in.is_stand_in() && stand_in.name.contains("not NRC VAD"));
    // A mismatch is reported both ways; the same file is not.
    assert!(LexiconRecord::mismatch(&stand_in, &rec).is_some());
    assert!(LexiconRecord::mismatch(&rec, &stand_in).is_some());
    assert!(LexiconRecord::mismatch(&rec, &rec.clone()).is_none());
    // The reference release (no hash) matches any NRC file, not the stand-in.
    let r = LexiconRecord::reference();
    assert!(LexiconRecord::mismatch(&r, &rec).is_none());
    assert!(LexiconRecord::mismatch(&r, &stand_in).is_some());
    // A file that is not an NRC table names itself.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "term,E,P,A\nx,1,2,3\n").unwrap();
    let e = VadLexicon::from_source(
        &assets,
        &VadSource::File {
            path: bad.clone(),
            format: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad.csv") && e.contains("not an NRC VAD table"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
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
