//! Tests of the emotion guidance of the mask explanations ([`EmosemConfig::guidance`]).

use super::*;

/// Emotion guidance ([`EmosemConfig::guidance`], Artemo's): each explanation's first token
/// is the argmax of `l + g (l - l_n)`, computed here by hand from the explainer's scores
/// after the emotion's prefix (`l`) and after the mean of the eight prefixes (`l_n`); an
/// emotion analysed alone gets the explanation it gets among all eight (the neutral input
/// is always the eight's mean); strength 0 is the unguided decoding.
#[test]
fn guidance_pushes_each_explanation_away_from_the_mean_prefix() {
    let dev = Device::Cpu;
    // A random tiny model's prefixes differ little: a strong push shows the effect.
    let g = 100.0f32;
    let cfg = EmosemConfig {
        guidance: g,
        ..tiny(Paradigm::Multi, 4, 8)
    };
    cfg.validate().unwrap();
    let (_vm, m) = seeded_model(&cfg, 5);
    let f = grid(1, 4, 8, &dev);
    let (_, guided) = m.analyze(&f, &EMOTIONS).unwrap();
    let v = m.vision_tokens(&f).unwrap();
    let d = m.decode(&v, &Query::every_emotion(0), Mode::Infer).unwrap();
    let mem = m.memory(&f).unwrap();
    let prefixes: Vec<Tensor> = d.prefixes.iter().map(|p| p.clone().unwrap()).collect();
    let neutral = Tensor::stack(&prefixes, 0).unwrap().mean(0).unwrap();
    let first_scores = |p: &Tensor| -> Vec<f32> {
        let x = m
            .sequence_embeds(Some(p), &[GPT2_EOS], &dev)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let h = m
            .explainer
            .forward_embeds(&x, Some(&mem), None, None, Mode::Infer)
            .unwrap();
        let last = h.i((.., h.dim(1).unwrap() - 1)).unwrap();
        m.explainer
            .logits(&last)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let l_n = first_scores(&neutral);
    let mut moved = 0;
    for (k, p) in prefixes.iter().enumerate() {
        let l = first_scores(p);
        let combined: Vec<f32> = l.iter().zip(&l_n).map(|(c, u)| c + g * (c - u)).collect();
        let want = crate::text::sampling::argmax(&combined) as u32;
        let got = guided[k].first().copied().unwrap_or(GPT2_EOS);
        assert_eq!(got, want, "emotion {k}");
        moved += usize::from(want != crate::text::sampling::argmax(&l) as u32);
    }
    assert!(moved > 0, "guidance changed no first token");
    for (k, &e) in EMOTIONS.iter().enumerate() {
        assert_eq!(m.analyze(&f, &[e]).unwrap().1[0], guided[k], "{e:?} alone");
    }
    let streams: Vec<u64> = (0..8).collect();
    assert_eq!(
        m.explain_guided(
            &d.prefixes,
            &mem,
            &streams,
            Decoding::Greedy,
            Some((&neutral, 0.0))
        )
        .unwrap(),
        m.explain_with(&d.prefixes, &mem, &streams, Decoding::Greedy)
            .unwrap()
    );
    // A neutral input of another length is refused, not broadcast.
    let longer = Tensor::cat(&[&neutral, &neutral], 0).unwrap();
    assert!(m
        .explain_guided(
            &d.prefixes,
            &mem,
            &streams,
            Decoding::Greedy,
            Some((&longer, g))
        )
        .is_err());
}

#[test]
fn guidance_is_validated_and_off_in_older_configurations() {
    for (paradigm, g, ok) in [
        (Paradigm::Multi, 0.0, true),
        (Paradigm::Multi, 1.0, true),
        (Paradigm::Single, 0.0, true),
        (Paradigm::Single, 1.0, false),
        (Paradigm::Multi, -0.5, false),
        (Paradigm::Multi, f32::NAN, false),
    ] {
        let cfg = EmosemConfig {
            guidance: g,
            ..tiny(paradigm, 4, 8)
        };
        assert_eq!(cfg.validate().is_ok(), ok, "{paradigm:?} {g}");
    }
    let mut json = serde_json::to_value(tiny(Paradigm::Multi, 4, 8)).unwrap();
    json.as_object_mut().unwrap().remove("guidance");
    let old: EmosemConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.guidance, 0.0);
}
