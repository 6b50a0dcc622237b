//! Tests of the demo kit's additions to SEVLM (issue 21): the text memory, word-level
//! repeat blocking, the emotion-token loss weight, Artemo's emotion head and title-word
//! push (neither in SEVLM).

use super::*;

/// Issue 21: the shipped demo SEVLM reads the painting's text beside its pixels (text
/// memory and emotion head), says so, and still answers for a painting without text.
#[test]
fn shipped_demo_sevlm_reads_the_paintings_text() {
    let (rt, assets) = shipped_demo_runtime();
    assert!(rt.model.config().text_memory.is_some());
    assert!(rt.model.config().emotion_head.is_some());
    assert!(rt.text_memory.is_some());
    let opts = DecodeOptions {
        max_tokens: 4,
        ..Default::default()
    };
    // A shipped painting: its manifest gives the title (and more).
    let img = assets.join("paintings/aic/100342.jpg");
    let a = rt
        .analyze(&img, &opts, &Device::Cpu, |_| {}, &Silent)
        .unwrap();
    let read = a.read.clone().expect("the demo SEVLM says what it read");
    assert!(read.contains("title"), "{read}");
    assert!(!a.generation.tokens.is_empty());
    let total: f32 = a.distribution.iter().map(|(_, p)| p).sum();
    assert!((total - 1.0).abs() < 1e-4);
    // A copy under a bare numeric name carries no text: pixels only, still an answer.
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("1.jpg");
    std::fs::copy(&img, &bare).unwrap();
    let b = rt
        .analyze(&bare, &opts, &Device::Cpu, |_| {}, &Silent)
        .unwrap();
    assert_eq!(b.read.as_deref(), Some("pixels only"));
    assert!(!b.generation.tokens.is_empty());
}

/// Issue 21 ("nucleus sampling writes non-words"): the shipped demo SEVLM has a word list
/// and, with it, writes only known words even when sampling at temperature 1; without it
/// the same draws join pieces into words outside the list.
#[test]
fn shipped_demo_sevlm_writes_known_words_only() {
    let (rt, assets) = shipped_demo_runtime();
    let known = rt.seq.known_words().expect("models/demo/sevlm/words.txt");
    assert!(known.len() > 1000, "{} words", known.len());
    let mut unknown_without = 0;
    for (i, id) in ["16499", "59882", "80570", "257287"].iter().enumerate() {
        let img = assets.join(format!("paintings/aic/{id}.jpg"));
        for constrained in [true, false] {
            let opts = DecodeOptions {
                decoding: Decoding::Nucleus {
                    top_p: 1.0,
                    temperature: 1.0,
                    seed: i as u64,
                },
                greedy_emotion: true,
                known_words: constrained,
                ..Default::default()
            };
            let a = rt
                .analyze(&img, &opts, &Device::Cpu, |_| {}, &Silent)
                .unwrap();
            let exp = a.generation.explanation.clone().unwrap_or_default();
            let outside: Vec<String> = crate::text::known_words::words_in(&exp)
                .filter(|w| !known.contains(w))
                .collect();
            if constrained {
                // The last word may be cut by the token limit.
                let cut = a.generation.stopped == "max tokens";
                let n = outside.len();
                let last = crate::text::known_words::words_in(&exp).last();
                assert!(
                    n == 0 || (cut && n == 1 && last.as_deref() == Some(outside[0].as_str())),
                    "{id}: {exp:?} has words outside the list: {outside:?}"
                );
            } else {
                unknown_without += outside.len();
            }
        }
    }
    assert!(
        unknown_without > 0,
        "unconstrained sampling wrote only known words"
    );
}

/// Issue 21 (words about the painting): the shipped demo SEVLM pushes its title words
/// (`painting_word_bias`, `text/painting_words.rs`). On Monet's *Boats on the Beach at
/// Étretat* (59927) the kit's decoding without the push names neither boats nor beach;
/// with it the explanation names a title word. The app's path (`analyze`) is the pushed
/// one, and a painting without a title gets no push.
#[test]
fn shipped_demo_sevlm_names_its_title_words() {
    use crate::sevlm::decode_cache::PaintingContext;
    use crate::sevlm::generate::{generate_grounded_in, painting_words};
    let (rt, assets) = shipped_demo_runtime();
    assert_eq!(rt.model.config().painting_word_bias, 5.0);
    let img = assets.join("paintings/aic/59927.jpg");
    let opts = DecodeOptions {
        block_repeats: true,
        ..Default::default()
    };
    let (memory, _) = rt.memory(&img, &Device::Cpu).unwrap();
    let ctx = PaintingContext::new(&rt.model, &memory).unwrap();
    let text = crate::models::text_memory::PaintingText::for_image(&img);
    let words = painting_words(&rt.model, &rt.seq, text.title.as_deref())
        .unwrap()
        .expect("the title has words to push");
    assert_eq!(words.words().collect::<Vec<_>>(), ["boats", "beach"]);
    let decode = |w| generate_grounded_in(&rt.model, &rt.seq, &ctx, &opts, w, |_| {}, &Silent);
    let named = |g: &Generation| {
        let exp = g.explanation.clone().unwrap_or_default();
        let hit = crate::text::known_words::words_in(&exp).any(|w| w == "boats" || w == "beach");
        hit
    };
    let plain = decode(None).unwrap();
    let pushed = decode(Some(&words)).unwrap();
    assert!(!named(&plain), "{}", plain.text);
    assert!(named(&pushed), "{}", pushed.text);
    assert_eq!(
        plain.emotion, pushed.emotion,
        "the push acts on the explanation only"
    );
    let app = rt
        .analyze(&img, &opts, &Device::Cpu, |_| {}, &Silent)
        .unwrap();
    assert_eq!(app.generation.text, pushed.text);
    assert_eq!(app.title_words, ["boats", "beach"], "the window names them");
    assert!(painting_words(&rt.model, &rt.seq, None).unwrap().is_none());
}

/// The title-word bias is validated, and a configuration without it (every folder saved
/// before it) loads with the push off.
#[test]
fn painting_word_bias_is_validated_and_off_in_older_configurations() {
    for (bias, ok) in [(0.0, true), (5.0, true), (-1.0, false), (f32::NAN, false)] {
        let cfg = SevlmConfig {
            painting_word_bias: bias,
            ..tiny()
        };
        assert_eq!(cfg.validate().is_ok(), ok, "bias {bias}");
    }
    let mut json = serde_json::to_value(tiny()).unwrap();
    assert!(json.get("painting_word_bias").is_none(), "0 is not written");
    json["painting_word_bias"] = serde_json::json!(2.5);
    let back: SevlmConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back.painting_word_bias, 2.5);
}

/// Issue 21: a model with a text memory has `text_proj`, reads the text rows (changing
/// them changes the logits, also at the emotion token after the prompt), keeps them out
/// of the contrastive image mean, round-trips through save/load, and text dropout zeroes
/// exactly the dropped items' text rows.
#[test]
fn text_memory_is_read_saved_and_dropped() {
    let dev = Device::Cpu;
    let mut cfg = tiny();
    cfg.text_memory = Some(crate::models::text_memory::kit_config());
    let (model, vm) = Sevlm::init(&cfg, 3, &dev).unwrap();
    let d = cfg.encoder_dim;
    let packed = cfg.text_memory.as_ref().unwrap().packed_rows(d);
    let grid = Tensor::rand(-1f32, 1.0, (2, 4, d), &dev).unwrap();
    let text = Tensor::rand(-0.1f32, 0.1, (2, 3, 384), &dev).unwrap();
    let mem = crate::models::text_memory::pack(&grid, &text).unwrap();
    assert_eq!(mem.dims(), &[2, 4 + packed, d]);
    let ids = Tensor::new(&[[1u32, 2, 3], [1, 2, 3]], &dev).unwrap();
    let segs = Tensor::zeros((2, 3), DType::U32, &dev).unwrap();
    let run = |m: &Sevlm, x: &Tensor| m.forward(&ids, &segs, None, x, Mode::Infer).unwrap().logits;
    let with = run(&model, &mem);
    let keep = crate::sevlm::train::drop_text(&model, &mem, &[true, false]).unwrap();
    let dropped = run(&model, &keep);
    // Item 0 kept its text: same logits; item 1 lost it: different logits.
    assert_eq!(
        max_diff(&with.get(0).unwrap(), &dropped.get(0).unwrap()),
        0.0
    );
    assert!(max_diff(&with.get(1).unwrap(), &dropped.get(1).unwrap()) > 1e-6);
    assert_eq!(
        max_diff(
            &keep.get(1).unwrap().narrow(0, 4, packed).unwrap(),
            &Tensor::zeros((packed, d), DType::F32, &dev).unwrap()
        ),
        0.0
    );
    // The contrastive head's image mean is the grid's alone.
    assert!(max_diff(&model.grid_mean(&mem).unwrap(), &grid.mean(1).unwrap()) < 1e-6);
    // Save and load: the same outputs, the config keeps the text memory.
    let dir = tempfile::tempdir().unwrap();
    crate::sevlm::save(dir.path(), &cfg, &vm).unwrap();
    let loaded = Sevlm::load(dir.path(), &dev).unwrap();
    assert_eq!(loaded.config().text_memory, cfg.text_memory);
    assert!(max_diff(&run(&loaded, &mem), &with) < 1e-6);
    // A memory without text rows is refused with a message, not a panic.
    assert!(model
        .forward(
            &ids,
            &segs,
            None,
            &grid.narrow(1, 0, 1).unwrap(),
            Mode::Infer
        )
        .is_err());
}

/// Issue 21: repeat blocking works on words, case and punctuation aside: after "The
/// soft blue and the", " soft" (would repeat "the soft") and " the" (the previous word)
/// are blocked; " sky" is not.
#[test]
fn repeat_blocking_catches_word_bigrams_across_case() {
    let seq = builder(30);
    let generated = seq
        .encode_text("contentment because The soft blue and the")
        .unwrap();
    let id = |w: &str| {
        let v = seq.encode_text(w).unwrap();
        assert_eq!(v.len(), 1, "{w} is one token");
        v[0]
    };
    let (soft, the, sky) = (id(" soft"), id(" the"), id(" sky"));
    let n = seq
        .tokenizer()
        .vocab_size()
        .max(soft.max(the).max(sky) as usize + 1);
    let mut probs = vec![0f32; n];
    probs[soft as usize] = 0.5;
    probs[the as usize] = 0.3;
    probs[sky as usize] = 0.2;
    crate::sevlm::generate::block_word_repeats(&seq, &generated, &mut probs).unwrap();
    assert_eq!(probs[soft as usize], 0.0);
    assert_eq!(probs[the as usize], 0.0);
    assert!((probs[sky as usize] - 1.0).abs() < 1e-6);
}

/// Issue 21: `emotion_weight` adds the emotion token's cross-entropy (label position
/// `emotion_span - 2`) to the language loss; 0 leaves the reference's loss.
#[test]
fn emotion_weight_adds_the_emotion_token_loss() {
    use crate::sevlm::train::losses_weighted;
    let dev = Device::Cpu;
    let cfg = tiny();
    let (model, _) = Sevlm::init(&cfg, 5, &dev).unwrap();
    let seq = builder(16);
    let a = (seq.encode(Emotion::Awe, "the bright sky").unwrap(), 0usize);
    let img = Tensor::rand(-1f32, 1.0, (1, 4, 16), &dev).unwrap();
    let batch = crate::sevlm::train::Batch::new(&[&a], &img, &dev).unwrap();
    let l = |w: f64| {
        losses_weighted(&model, &batch, None, [1.0, w], 0.0, 0.0, Mode::Infer)
            .unwrap()
            .language
            .to_scalar::<f32>()
            .unwrap()
    };
    let (l0, l1, l2) = (l(0.0), l(1.0), l(2.0));
    assert!(l1 > l0);
    // Linear in the weight: the extra term is the same cross-entropy each time.
    assert!(((l2 - l0) - 2.0 * (l1 - l0)).abs() < 1e-4);
    // The emotion token sits at label position span - 2.
    let span = cfg.emotion_span;
    assert_eq!(
        a.0.ids[span - 2],
        *seq.emotion_ids(Emotion::Awe).unwrap().last().unwrap()
    );
}

/// Issue 21, Artemo's emotion head (not in SEVLM): fitted on two paintings whose texts
/// differ, it moves the emotion distribution (read as in `generate.rs`
/// `emotion_distribution`) with the text; its logits land only at the emotion position;
/// it round-trips through save/load; every variable, the head included, gets a gradient
/// from the emotion-token loss; a frozen head is left out of the optimizer.
#[test]
fn emotion_head_reads_the_text_and_trains() {
    use crate::kit::emotion_head::{emotion_head_accuracy, emotion_head_config, fit_emotion_head};
    let dev = Device::Cpu;
    let seq = builder(16);
    let mut cfg = tiny();
    cfg.text_memory = Some(crate::models::text_memory::kit_config());
    cfg.emotion_head = Some(emotion_head_config(&seq).unwrap());
    let head = cfg.emotion_head.clone().unwrap();
    assert_eq!(head.position, seq.prompt_ids().unwrap().len() - 1);
    assert_eq!(head.token_ids.len(), Emotion::ALL.len());
    let (model, vm) = Sevlm::init(&cfg, 7, &dev).unwrap();
    // Two paintings, same pixels, different text.
    let d = cfg.encoder_dim;
    let grid = Tensor::rand(-1f32, 1.0, (1, 4, d), &dev)
        .unwrap()
        .repeat((2, 1, 1))
        .unwrap();
    let text = Tensor::rand(-0.1f32, 0.1, (2, 3, 384), &dev).unwrap();
    let mem = crate::models::text_memory::pack(&grid, &text).unwrap();
    let share = |e: Emotion| {
        let mut r = vec![0f32; Emotion::ALL.len()];
        r[Emotion::ALL.iter().position(|&x| x == e).unwrap()] = 1.0;
        r
    };
    let targets = vec![(0, share(Emotion::Fear)), (1, share(Emotion::Awe))];
    let dist = |m: &Sevlm, i: usize| {
        let (d, _) = emotion_distribution(m, &seq, &mem.narrow(0, i, 1).unwrap()).unwrap();
        d.iter()
            .fold((Emotion::Amusement, f32::MIN), |b, &(e, p)| {
                if p > b.1 {
                    (e, p)
                } else {
                    b
                }
            })
            .0
    };
    fit_emotion_head(&model, &vm, &mem, &targets, 200, 0.0, &[], 0.0).unwrap();
    assert_eq!(emotion_head_accuracy(&model, &mem, &targets).unwrap(), 1.0);
    // The decision follows the text: fear for the first painting, awe for the second.
    assert_eq!(dist(&model, 0), Emotion::Fear);
    assert_eq!(dist(&model, 1), Emotion::Awe);
    // The head adds to the emotion position only: a model without it has the same
    // logits elsewhere.
    let mut plain_cfg = cfg.clone();
    plain_cfg.emotion_head = None;
    let weights = {
        let dir = tempfile::tempdir().unwrap();
        crate::sevlm::save(dir.path(), &cfg, &vm).unwrap();
        let loaded = Sevlm::load(dir.path(), &dev).unwrap();
        assert_eq!(loaded.config().emotion_head, cfg.emotion_head);
        let w = crate::models::loading::Weights::load(&dir.path().join("model.safetensors"), &dev)
            .unwrap();
        let plain = Sevlm::from_weights(&plain_cfg, &w, &dev).unwrap();
        (loaded, plain)
    };
    let ids = Tensor::new(&[[1u32, 2, 3, 4, 5, 6]], &dev).unwrap();
    let segs = Tensor::zeros((1, 6), DType::U32, &dev).unwrap();
    let m0 = mem.narrow(0, 0, 1).unwrap();
    let run = |m: &Sevlm| {
        m.forward(&ids, &segs, None, &m0, Mode::Infer)
            .unwrap()
            .logits
    };
    let (with, loaded, without) = (run(&model), run(&weights.0), run(&weights.1));
    assert!(max_diff(&with, &loaded) < 1e-6);
    let p = head.position;
    for t in 0..6 {
        let diff = max_diff(
            &with.narrow(1, t, 1).unwrap(),
            &without.narrow(1, t, 1).unwrap(),
        );
        assert_eq!(diff > 1e-6, t == p, "position {t}: {diff}");
    }
    // Gradients: every variable but the VAD encoder's unused head and the contrastive
    // bias (see `every_trainable_parameter_gets_a_gradient`).
    let (batch, _) = paired_batch(&seq, &dev, 16);
    let pad = crate::models::text_memory::pack(
        &batch.image,
        &Tensor::rand(-0.1f32, 0.1, (batch.image.dim(0).unwrap(), 3, 384), &dev).unwrap(),
    )
    .unwrap();
    let batch = Batch {
        image: pad,
        ..batch
    };
    let l = crate::sevlm::train::losses_weighted(
        &model,
        &batch,
        Some(&[1, 0]),
        [1.0, 1.0],
        2.0,
        1.0,
        Mode::Train,
    )
    .unwrap();
    let grads = l.total.backward().unwrap();
    let data = vm.data().lock().unwrap();
    for (name, var) in data.iter() {
        if name.starts_with("emo_encoder.decoder.") || name == "decoder.sim_mlp.pred.8.bias" {
            continue;
        }
        let s = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(s > 0.0, "{name}");
    }
    assert!(data.contains_key("emotion_head.weight") && data.contains_key("text_proj.weight"));
    drop(data);
    let (all, _) = trainable_groups(&vm);
    let (frozen, _) = crate::sevlm::train::trainable_groups_except(&vm, Some("emotion_head."));
    assert_eq!(all.len(), frozen.len() + 2);
}
