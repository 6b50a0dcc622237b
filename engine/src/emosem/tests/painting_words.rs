//! Tests of the title-word push of the mask explanations
//! ([`EmosemConfig::painting_word_bias`], Artemo's; `text/painting_words.rs`).

use super::*;
use crate::text::painting_words::PaintingWords;

/// With the push, a model with a word list writes the title's word where its own scores
/// did not put it; without it (or at bias 0) nothing changes; a model without a word list
/// pushes nothing and refuses words built elsewhere.
#[test]
fn title_words_are_pushed_into_the_explanations() {
    let dev = Device::Cpu;
    let tok = TextTokenizer::gpt2_from_assets(&crate::find_assets().expect("assets")).unwrap();
    let list = tempfile::tempdir().unwrap();
    std::fs::write(
        list.path().join(crate::text::known_words::WORDS_FILE),
        "boats\nbeach\nthe\nsky\n",
    )
    .unwrap();
    // A random tiny model's scores are flat: a strong push shows the effect.
    let cfg = EmosemConfig {
        painting_word_bias: 100.0,
        ..tiny(Paradigm::Multi, 4, 8)
    };
    cfg.validate().unwrap();
    let (_vm, m) = seeded_model(&cfg, 5);
    let m = m.with_known_words_from(list.path(), &tok).unwrap();
    let words = m
        .painting_words(&tok, Some("Boats on the Beach at Étretat"))
        .unwrap()
        .expect("two title words on the list");
    assert_eq!(words.words().collect::<Vec<_>>(), ["boats", "beach"]);
    let f = grid(1, 4, 8, &dev);
    let greedy = m.config().decoding;
    let (_, plain) = m.analyze_titled(&f, &EMOTIONS, greedy, None).unwrap();
    let (_, pushed) = m
        .analyze_titled(&f, &EMOTIONS, greedy, Some(&words))
        .unwrap();
    assert_eq!(m.analyze(&f, &EMOTIONS).unwrap().1, plain, "None is plain");
    for (p, q) in plain.iter().zip(&pushed) {
        let text = tok.decode(q).unwrap();
        let first = crate::text::known_words::words_in(&text).next();
        assert!(
            matches!(first.as_deref(), Some("boats" | "beach")),
            "{text:?} (plain {:?})",
            tok.decode(p).unwrap()
        );
    }
    // Bias 0: no words to push.
    let off_cfg = EmosemConfig {
        painting_word_bias: 0.0,
        ..cfg.clone()
    };
    let (_vm, off) = seeded_model(&off_cfg, 5);
    let off = off.with_known_words_from(list.path(), &tok).unwrap();
    assert!(off.painting_words(&tok, Some("Boats")).unwrap().is_none());
    // No word list: nothing pushed, and words from elsewhere are refused.
    let (_vm, bare) = seeded_model(&cfg, 5);
    assert!(bare.painting_words(&tok, Some("Boats")).unwrap().is_none());
    let elsewhere = PaintingWords::new("Boats", 1.0, None, |t| {
        Ok(tok
            .encode(t)?
            .into_iter()
            .map(|i| (i, String::new()))
            .collect())
    })
    .unwrap();
    let e = bare
        .analyze_titled(&f, &EMOTIONS, greedy, Some(&elsewhere))
        .unwrap_err();
    assert!(e.to_string().contains("words.txt"), "{e}");
}

/// The bias is validated, and a configuration without it loads with the push off.
#[test]
fn painting_word_bias_is_validated_and_off_in_older_configurations() {
    for (bias, ok) in [(0.0, true), (5.0, true), (-1.0, false), (f32::NAN, false)] {
        let cfg = EmosemConfig {
            painting_word_bias: bias,
            ..tiny(Paradigm::Multi, 4, 8)
        };
        assert_eq!(cfg.validate().is_ok(), ok, "bias {bias}");
    }
    let json = serde_json::to_value(tiny(Paradigm::Multi, 4, 8)).unwrap();
    assert!(json.get("painting_word_bias").is_none(), "0 is not written");
    let old: EmosemConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.painting_word_bias, 0.0);
}
