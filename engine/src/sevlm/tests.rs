//! SEVLM tests. References: the reference code's loss definitions (`models/gpt.py`),
//! hand-computed values, and behaviour (overfitting, reproducibility).

use super::*;
use crate::models::tests::max_diff;
use crate::progress::{Cancelled, Silent};
use crate::sevlm::data::{Encoded, IGNORE};
use crate::sevlm::generate::{emotion_distribution, generate};
use crate::sevlm::model::{EXPLANATION_SEGMENT, VOCAB_SIZE};
use crate::sevlm::train::{
    contrastive_loss, language_loss, losses, masked_vad_loss, negative_indices, trainable_groups,
    Batch,
};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

fn builder(max_len: usize) -> SequenceBuilder {
    let assets = crate::find_assets().expect("assets");
    let tok = crate::tokenize::TextTokenizer::gpt2_from_assets(&assets).unwrap();
    let lex = crate::lexicon::VadLexicon::parse(
        "term\tvalence\tarousal\tdominance\nsad\t-0.75\t-0.5\t-0.5\nbright\t0.5\t0.25\t0.25\ndark\t-0.5\t-0.25\t-0.75\nsky\t0.25\t0.0\t0.0\n",
        std::path::Path::new("test-lexicon.tsv"),
        crate::lexicon::LexiconFormat::NrcV2,
    )
    .unwrap();
    SequenceBuilder::new(tok, lex, crate::sevlm::data::REFERENCE_PROMPT, max_len)
        .with_lookup(crate::lexicon::VadLookup::ExactLemma)
}

fn tiny() -> SevlmConfig {
    let mut c = SevlmConfig::tiny(16);
    c.max_seq_len = 16;
    c
}

#[test]
fn shapes_for_both_configurations() {
    let dev = Device::Cpu;
    for cfg in [SevlmConfig::paper(), SevlmConfig::small()] {
        let vb = VarBuilder::zeros(DType::F32, &dev);
        let m = Sevlm::new(&cfg, vb, false).unwrap();
        let t = cfg.max_seq_len;
        let ids = Tensor::zeros((2, t), DType::U32, &dev).unwrap();
        let segs = Tensor::full(EXPLANATION_SEGMENT, (2, t), &dev).unwrap();
        let vad = Tensor::zeros((2, t, 3), DType::F32, &dev).unwrap();
        let img = Tensor::zeros((2, 196, cfg.encoder_dim), DType::F32, &dev).unwrap();
        let out = m
            .forward(&ids, &segs, Some(&vad), &img, Mode::Infer)
            .unwrap();
        assert_eq!(out.logits.dims(), &[2, t, VOCAB_SIZE], "{}", cfg.name);
        assert_eq!(out.hidden.dims(), &[2, t, cfg.decoder.n_embd]);
        assert_eq!(out.vad.unwrap().dims(), &[2, t, 3]);
        let d = cfg.decoder.n_embd;
        let s = m
            .similarity(
                &Tensor::zeros((2, cfg.encoder_dim), DType::F32, &dev).unwrap(),
                &Tensor::zeros((2, d), DType::F32, &dev).unwrap(),
                &Tensor::zeros((2, d), DType::F32, &dev).unwrap(),
            )
            .unwrap();
        assert_eq!(s.dims(), &[2]);
    }
    // The paper configuration is distilgpt2 + cross-attention over 768-wide CLIP grids.
    let p = SevlmConfig::paper();
    assert_eq!(
        (p.decoder.n_layer, p.decoder.n_embd, p.encoder_dim),
        (6, 768, 768)
    );
}

fn paired_batch(seq: &SequenceBuilder, dev: &Device, dim: usize) -> (Batch, Tensor) {
    let images = Tensor::randn(0f32, 1.0, (2, 9, dim), dev).unwrap();
    let seqs = [
        (seq.encode(Emotion::Awe, "the bright sky").unwrap(), 0),
        (
            seq.encode(Emotion::Sadness, "the dark sky is sad").unwrap(),
            0,
        ),
        (seq.encode(Emotion::Fear, "dark shapes").unwrap(), 1),
        (
            seq.encode(Emotion::Contentment, "a bright calm sky")
                .unwrap(),
            1,
        ),
    ];
    let refs: Vec<&(Encoded, usize)> = seqs.iter().collect();
    (Batch::new(&refs, &images, dev).unwrap(), images)
}

#[test]
fn every_trainable_parameter_gets_a_gradient() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let seq = builder(cfg.max_seq_len);
    let (model, vm) = Sevlm::init(&cfg, 3, &dev).unwrap();
    let (batch, _) = paired_batch(&seq, &dev, 16);
    // With the reference's dropout on (the trainable path as the code preset runs it).
    model.set_dropout(0.1, 9);
    let l = losses(&model, &batch, Some(&[1, 0]), 2.0, 1.0, Mode::Train).unwrap();
    assert!(l.vad.is_some() && l.contrastive.is_some());
    let grads = l.total.backward().unwrap();
    let (dec, vad) = trainable_groups(&vm);
    assert!(!dec.is_empty() && !vad.is_empty());
    let data = vm.data().lock().unwrap();
    let mut checked = 0;
    for (name, var) in data.iter() {
        let g = grads.get(var.as_tensor());
        if name.starts_with("emo_encoder.decoder.") {
            // The reference's unused head: loaded, never trained.
            assert!(g.is_none(), "{name}");
            continue;
        }
        if name == "decoder.sim_mlp.pred.8.bias" {
            // The score's final bias shifts positive and negative scores alike, and the
            // contrastive softmax is shift-invariant: its gradient is zero by design (up
            // to the 1e-8 epsilon), in the reference too.
            let s = g
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(s < 1e-6, "{name}: {s}");
            checked += 1;
            continue;
        }
        let s = g
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(s > 0.0 && s.is_finite(), "{name}: {s}");
        checked += 1;
    }
    assert_eq!(checked, dec.len() + vad.len());
}

/// Hand computation: pos = [1, 0], negs = [[0, 0], [1, 2]].
/// Row 0: e / (e + 1 + 1) = 2.718282 / 4.718282 = 0.576117 -> -ln = 0.551444.
/// Row 1: 1 / (1 + e + e^2) = 1 / 11.107338 = 0.090031 -> -ln = 2.407606.
/// Mean = 1.479525.
#[test]
fn contrastive_loss_matches_hand_computed_value() {
    let dev = Device::Cpu;
    let pos = Tensor::new(&[1f32, 0.0], &dev).unwrap();
    let negs = Tensor::new(&[[0f32, 0.0], [1.0, 2.0]], &dev).unwrap();
    let l = contrastive_loss(&pos, &negs)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((l - 1.479525).abs() < 1e-5, "{l}");
    // Negative layout: swap inside pairs; pair i takes pair perm[i]'s sequences.
    let (swap, other) = negative_indices(3, &[2, 0, 1]);
    assert_eq!(swap, vec![1, 0, 3, 2, 5, 4]);
    assert_eq!(other, vec![4, 5, 0, 1, 2, 3]);
}

/// Scores past f32's exp range (the raw formula gives inf / inf = NaN): the loss is the
/// same as for the scores shifted down, and its gradient is finite.
#[test]
fn contrastive_loss_is_finite_for_large_scores() {
    let dev = Device::Cpu;
    let pos = candle_core::Var::new(&[201f32, 300.0], &dev).unwrap();
    let negs = Tensor::new(&[[200f32, 200.0], [301.0, 302.0]], &dev).unwrap();
    let l = contrastive_loss(pos.as_tensor(), &negs).unwrap();
    let v = l.to_scalar::<f32>().unwrap();
    assert!((v - 1.479525).abs() < 1e-4, "{v}");
    let g = l.backward().unwrap();
    let gp: Vec<f32> = g.get(pos.as_tensor()).unwrap().to_vec1().unwrap();
    assert!(gp.iter().all(|x| x.is_finite()), "{gp:?}");
}

/// Hand computation of the masked VAD MSE: rows with an all-zero target are skipped.
/// Rows kept: (pred 1,0,0 vs 0,0,1) -> 1 + 0 + 1 = 2; (0.5,0.5,0.5 vs 0.5,0.5,0) -> 0.25.
/// Mean over 2 rows x 3 = 2.25 / 6 = 0.375.
#[test]
fn vad_and_language_losses_match_hand_computed_values() {
    let dev = Device::Cpu;
    let pred = Tensor::new(
        &[[[1f32, 0.0, 0.0], [9.0, 9.0, 9.0], [0.5, 0.5, 0.5]]],
        &dev,
    )
    .unwrap();
    let target = Tensor::new(
        &[[[0f32, 0.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.0]]],
        &dev,
    )
    .unwrap();
    let l = masked_vad_loss(&pred, &target)
        .unwrap()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((l - 0.375).abs() < 1e-6, "{l}");
    let zero = Tensor::zeros((1, 2, 3), DType::F32, &dev).unwrap();
    assert!(masked_vad_loss(&zero, &zero).unwrap().is_none());
    // Language loss: vocabulary 2, uniform logits -> ln 2 per scored token; the IGNORE
    // label (and the first position, which has no predecessor) are not scored.
    let logits = Tensor::zeros((1, 3, 2), DType::F32, &dev).unwrap();
    let labels = Tensor::new(&[[IGNORE, 1, IGNORE]], &dev).unwrap();
    let l = language_loss(&logits, &labels)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((l - std::f32::consts::LN_2).abs() < 1e-6, "{l}");
    let none = Tensor::new(&[[IGNORE, IGNORE, IGNORE]], &dev).unwrap();
    assert!(language_loss(&logits, &none).is_err());
}

#[test]
fn tiny_model_overfits_four_pairs_and_regenerates_them_word_for_word() {
    let dev = Device::Cpu;
    let targets = [
        (Emotion::Awe, "the bright sky is vast"),
        (Emotion::Sadness, "a dark room"),
        (Emotion::Fear, "dark shapes in the woods"),
        (Emotion::Contentment, "a calm green field"),
    ];
    // A compact vocabulary (the kit's mechanism) keeps the test fast: the output layer
    // has a few dozen ids instead of 50,261.
    let full = builder(16);
    let vocab = crate::sevlm::data::build_vocab(
        &full,
        &targets
            .iter()
            .map(|(e, x)| Example {
                image: String::new(),
                emotion: *e,
                explanation: x.to_string(),
            })
            .collect::<Vec<_>>(),
        &[],
        1,
    )
    .unwrap();
    let mut cfg = tiny().with_compact_vocab(&vocab);
    cfg.decoder.n_embd = 48;
    cfg.decoder.n_head = 2;
    let seq = builder(cfg.max_seq_len).with_vocab(Some(vocab));
    let (model, vm) = Sevlm::init(&cfg, 11, &dev).unwrap();
    // Four distinct images, far apart.
    let images = Tensor::randn(0f32, 1.0, (4, 9, 16), &dev).unwrap();
    let sequences: Vec<(Encoded, usize)> = targets
        .iter()
        .enumerate()
        .map(|(i, (e, x))| (seq.encode(*e, x).unwrap(), i))
        .collect();
    let data = TrainData {
        sequences,
        images: images.clone(),
        paired: false,
        groups: Vec::new(),
    };
    // Overfitting needs no dropout; the determinism check below runs with it.
    let tc = SevlmTrainConfig {
        epochs: 150,
        batch_pairs: 4,
        lr_decoder: 3e-3,
        lr_vad_encoder: 3e-3,
        clip: 1.0,
        dropout: 0.0,
        ..Default::default()
    };
    let report = train::train(&model, &vm, &data, &tc, &dev, |_, _| {}, &Silent).unwrap();
    let first = report.steps.first().unwrap().language;
    let last = report.steps.last().unwrap().language;
    assert!(last < 0.05 * first, "language loss {first} -> {last}");
    for (i, (e, x)) in targets.iter().enumerate() {
        let img = images.narrow(0, i, 1).unwrap();
        let g = generate(
            &model,
            &seq,
            &img,
            &DecodeOptions::default(),
            |_| {},
            &Silent,
        )
        .unwrap();
        assert_eq!(g.state, ParseState::Complete, "{}", g.text);
        assert_eq!(g.emotion, Some(*e));
        assert_eq!(g.explanation.as_deref(), Some(*x));
        assert_eq!(g.stopped, "end token");
        // The emotion distribution comes from the same model: the trained emotion wins.
        let (dist, _) = emotion_distribution(&model, &seq, &img).unwrap();
        let best = dist.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
        assert_eq!(best, *e);
        assert!((dist.iter().map(|d| d.1).sum::<f32>() - 1.0).abs() < 1e-4);
        // Tokens carry the VAD head's prediction and the lexicon's value.
        assert!(g.tokens.iter().all(|t| t.predicted_vad.is_some()));
        if x.contains("dark") {
            let dark = g.tokens.iter().find(|t| t.text.trim() == "dark").unwrap();
            assert_eq!(dark.lexicon_vad, Some([-0.5, -0.25, -0.75]));
            assert!(dark.in_explanation);
        }
    }
    // Training is deterministic by seed.
    let (model2, vm2) = Sevlm::init(&cfg, 11, &dev).unwrap();
    let tc2 = SevlmTrainConfig {
        epochs: 3,
        dropout: 0.1,
        ..tc.clone()
    };
    let r1 = train::train(&model2, &vm2, &data, &tc2, &dev, |_, _| {}, &Silent).unwrap();
    let (model3, vm3) = Sevlm::init(&cfg, 11, &dev).unwrap();
    let r2 = train::train(&model3, &vm3, &data, &tc2, &dev, |_, _| {}, &Silent).unwrap();
    assert_eq!(r1, r2);
}

#[test]
fn paired_training_runs_all_three_losses_and_cancels() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let seq = builder(cfg.max_seq_len);
    let (model, vm) = Sevlm::init(&cfg, 5, &dev).unwrap();
    let (_, images) = paired_batch(&seq, &dev, 16);
    let ex = [
        (Emotion::Awe, "the bright sky", 0),
        (Emotion::Sadness, "the dark sky is sad", 0),
        (Emotion::Fear, "dark shapes", 1),
        (Emotion::Contentment, "a bright calm sky", 1),
    ];
    let data = TrainData {
        sequences: ex
            .iter()
            .map(|(e, x, i)| (seq.encode(*e, x).unwrap(), *i))
            .collect(),
        images,
        paired: true,
        groups: Vec::new(),
    };
    let tc = SevlmTrainConfig {
        epochs: 2,
        batch_pairs: 2,
        ..Default::default()
    };
    let mut seen = 0;
    let r = train::train(
        &model,
        &vm,
        &data,
        &tc,
        &dev,
        |_, total| {
            seen += 1;
            assert_eq!(total, 2);
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(seen, 2);
    assert!(r
        .steps
        .iter()
        .all(|s| s.contrastive.is_some() && s.vad.is_some()));
    let cancelled = train::train(&model, &vm, &data, &tc, &dev, |_, _| {}, &Cancelled);
    assert!(matches!(cancelled, Err(crate::Error::Cancelled)));
}

#[test]
fn nucleus_sampling_is_reproducible_by_seed() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let seq = builder(cfg.max_seq_len);
    let (model, _vm) = Sevlm::init(&cfg, 9, &dev).unwrap();
    let img = Tensor::randn(0f32, 1.0, (1, 9, 16), &dev).unwrap();
    let opts = |seed| DecodeOptions {
        decoding: Decoding::Nucleus {
            top_p: 0.9,
            temperature: 1.0,
            seed,
        },
        max_tokens: 8,
        ignore_end: false,
        block_repeats: false,
        greedy_emotion: false,
        known_words: true,
    };
    let run = |seed| {
        generate(&model, &seq, &img, &opts(seed), |_| {}, &Silent)
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    // An untrained model spreads its probability: different seeds give different text.
    assert!((2..6).any(|s| run(s) != run(1)));
    // Streaming sees the same tokens as the result; cancellation stops.
    let mut streamed = Vec::new();
    let g = generate(
        &model,
        &seq,
        &img,
        &opts(1),
        |t| streamed.push(t.id),
        &Silent,
    )
    .unwrap();
    assert_eq!(streamed, g.tokens.iter().map(|t| t.id).collect::<Vec<_>>());
    assert!(matches!(
        generate(&model, &seq, &img, &opts(1), |_| {}, &Cancelled),
        Err(crate::Error::Cancelled)
    ));
}

#[test]
fn save_load_and_reference_layout_round_trip() {
    let dev = Device::Cpu;
    // The reference has no image projection: features are as wide as the decoder.
    let mut cfg = tiny();
    cfg.encoder_dim = cfg.decoder.n_embd;
    let (model, vm) = Sevlm::init(&cfg, 4, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save(dir.path(), &cfg, &vm).unwrap();
    let loaded = Sevlm::load(dir.path(), &dev).unwrap();
    let seq = builder(cfg.max_seq_len);
    let (batch, _) = paired_batch(&seq, &dev, 32);
    let a = model
        .forward(
            &batch.ids,
            &batch.segments,
            Some(&batch.vad),
            &batch.image,
            Mode::Infer,
        )
        .unwrap();
    let b = loaded
        .forward(
            &batch.ids,
            &batch.segments,
            Some(&batch.vad),
            &batch.image,
            Mode::Infer,
        )
        .unwrap();
    assert!(max_diff(&a.logits, &b.logits) < 1e-6);

    // The reference release layout: decoder keys without prefix in nle_model_0/, the VAD
    // encoder in its own file, an HF GPT-2 config with SEVLM's extra fields.
    let w =
        crate::models::loading::Weights::load(&dir.path().join("model.safetensors"), &dev).unwrap();
    let mut dec = std::collections::HashMap::new();
    let mut emo = std::collections::HashMap::new();
    for n in w.names() {
        let t = w.get_any(n).unwrap().clone();
        if let Some(k) = n.strip_prefix("decoder.") {
            dec.insert(k.to_string(), t);
        } else if let Some(k) = n.strip_prefix("emo_encoder.") {
            emo.insert(k.to_string(), t);
        }
    }
    let rel = tempfile::tempdir().unwrap();
    let md = rel.path().join("nle_model_0");
    std::fs::create_dir_all(&md).unwrap();
    crate::models::loading::save_safetensors(&md.join("model.safetensors"), &dec).unwrap();
    let emo_path = rel.path().join("emo_encoder.safetensors");
    crate::models::loading::save_safetensors(&emo_path, &emo).unwrap();
    let mut hf: serde_json::Value = serde_json::to_value(&cfg.decoder).unwrap();
    hf["len_prefix"] = 0.into();
    hf["use_cl_loss"] = true.into();
    hf["use_VAD_loss"] = true.into();
    hf["encoder_dim"] = cfg.decoder.n_embd.into();
    std::fs::write(md.join("config.json"), hf.to_string()).unwrap();
    let (r, rcfg) = checkpoint::load_reference(&md, Some(&emo_path), &dev).unwrap();
    assert!(rcfg.use_vad && rcfg.use_cl);
    assert_eq!(
        rcfg.vad_encoder.max_positions,
        cfg.vad_encoder.max_positions
    );
    // Same decoder and VAD encoder: identical logits.
    let c = r
        .forward(
            &batch.ids,
            &batch.segments,
            Some(&batch.vad),
            &batch.image,
            Mode::Infer,
        )
        .unwrap();
    assert!(max_diff(&a.logits, &c.logits) < 1e-5);
    // A release that uses the VAD encoder but is given none names the field.
    let err = checkpoint::load_reference(&md, None, &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("use_VAD_loss"), "{err}");
    // A missing tensor names the file and tensor.
    dec.remove("transformer.h.0.ln_1.weight");
    crate::models::loading::save_safetensors(&md.join("model.safetensors"), &dec).unwrap();
    let err = checkpoint::load_reference(&md, Some(&emo_path), &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("h.0.ln_1.weight"), "{err}");
}

#[test]
fn block_repeats_leaves_no_repeated_token_or_bigram() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let seq = builder(cfg.max_seq_len);
    let (model, _vm) = Sevlm::init(&cfg, 9, &dev).unwrap();
    let img = Tensor::randn(0f32, 1.0, (1, 9, 16), &dev).unwrap();
    for decoding in [
        Decoding::Greedy,
        Decoding::Nucleus {
            top_p: 0.9,
            temperature: 1.0,
            seed: 3,
        },
    ] {
        let opts = DecodeOptions {
            decoding,
            max_tokens: 16,
            ignore_end: true,
            block_repeats: true,
            greedy_emotion: false,
            known_words: true,
        };
        // `ignore_end` keeps the untrained model talking for all 16 tokens.
        let ids: Vec<u32> = generate(&model, &seq, &img, &opts, |_| {}, &Silent)
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids.len(), 16);
        for k in 1..ids.len() {
            assert!(
                !crate::text::repeats::blocked(&ids[..k], ids[k]),
                "{decoding:?}: {ids:?} repeats at {k}"
            );
        }
    }
}

#[test]
fn per_image_items_follow_the_index_tracker_and_resample_partners() {
    use crate::sevlm::train::{draw_pair, Anchor, ImageGroup};
    use rand::SeedableRng;
    let dev = Device::Cpu;
    let seq = builder(16);
    let enc = |e: Emotion| seq.encode(e, "x").unwrap();
    // Image 0: awe, awe, fear; image 1: sadness twice (one emotion: no item, as the
    // reference's training file, whose partner draw needs another emotion,
    // utils/datasets.py:62-67); image 2: fear, anger.
    let responses = vec![
        (enc(Emotion::Awe), 0, Emotion::Awe),
        (enc(Emotion::Sadness), 1, Emotion::Sadness),
        (enc(Emotion::Awe), 0, Emotion::Awe),
        (enc(Emotion::Fear), 2, Emotion::Fear),
        (enc(Emotion::Fear), 0, Emotion::Fear),
        (enc(Emotion::Sadness), 1, Emotion::Sadness),
        (enc(Emotion::Anger), 2, Emotion::Anger),
    ];
    let images = Tensor::zeros((3, 2, 16), DType::F32, &dev).unwrap();
    let data = TrainData::per_image(responses, images);
    // One item per image per epoch (utils/datasets.py:177-178, `len(ids_list)`).
    assert_eq!(data.items_per_epoch(), 2);
    assert_eq!(data.groups[0].members, vec![0, 2, 4]);
    assert_eq!(data.groups[1].members, vec![3, 6]);
    // The tracker starts at the last response and moves down one per access, wrapping
    // (utils/datasets.py:44, :53-57); the partner has another emotion (:62-69).
    let g: &ImageGroup = &data.groups[0];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut tracker = g.members.len() - 1;
    let mut anchors = Vec::new();
    for _ in 0..4 {
        let (a, b) = draw_pair(g, &mut tracker, Anchor::Cycle, &mut rng).unwrap();
        assert_ne!(
            data.groups[0].emotions[g.members.iter().position(|&m| m == a).unwrap()],
            data.groups[0].emotions[g.members.iter().position(|&m| m == b).unwrap()]
        );
        anchors.push(a);
    }
    assert_eq!(anchors, vec![4, 2, 0, 4]);
    // The partner is drawn anew on every access (`randint`, :67): with the fear anchor,
    // both awe responses come up.
    let mut partners = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (a, b) = draw_pair(g, &mut 0usize.clone(), Anchor::Last, &mut rng).unwrap();
        assert_eq!(a, 4);
        partners.insert(b);
    }
    assert_eq!(partners.into_iter().collect::<Vec<_>>(), vec![0, 2]);
    // Reproducible by seed.
    let draws = |seed| {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut t = 2;
        (0..6)
            .map(|_| draw_pair(g, &mut t, Anchor::Cycle, &mut r).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(draws(5), draws(5));
}

#[test]
fn per_image_training_has_one_step_per_batch_of_images() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let seq = builder(cfg.max_seq_len);
    let (model, vm) = Sevlm::init(&cfg, 5, &dev).unwrap();
    let images = Tensor::randn(0f32, 1.0, (3, 9, 16), &dev).unwrap();
    let mut responses = Vec::new();
    for (img, e, x) in [
        (0, Emotion::Awe, "the bright sky"),
        (0, Emotion::Sadness, "the dark sky is sad"),
        (0, Emotion::Awe, "a vast sky"),
        (1, Emotion::Fear, "dark shapes"),
        (1, Emotion::Contentment, "a bright calm sky"),
        (2, Emotion::Fear, "dark water"),
        (2, Emotion::Awe, "bright water"),
    ] {
        responses.push((seq.encode(e, x).unwrap(), img, e));
    }
    let data = TrainData::per_image(responses, images);
    let tc = SevlmTrainConfig {
        epochs: 2,
        batch_pairs: 2,
        ..SevlmTrainConfig::default()
    };
    let t = crate::sevlm::train::Trainer::new(&vm, &data, &tc).unwrap();
    // 3 images, 2 per batch: 2 steps per epoch (every response would be 7 items).
    assert_eq!(t.items_per_epoch(), 3);
    assert_eq!(t.total_steps(), 4);
    let r = train::train(&model, &vm, &data, &tc, &dev, |_, _| {}, &Silent).unwrap();
    assert_eq!(r.steps.len(), 4);
    // A batch of two images has the contrastive loss; the last batch of one image has
    // none (no other image to draw a negative from).
    assert!(r.steps[0].contrastive.is_some());
    assert!(r.steps[1].contrastive.is_none());
}

#[test]
fn dropout_acts_in_training_mode_only_and_is_seeded() {
    let dev = Device::Cpu;
    let cfg = tiny();
    let seq = builder(cfg.max_seq_len);
    let (model, _) = Sevlm::init(&cfg, 3, &dev).unwrap();
    let (batch, _) = paired_batch(&seq, &dev, 16);
    let run = |mode| {
        model
            .forward(
                &batch.ids,
                &batch.segments,
                Some(&batch.vad),
                &batch.image,
                mode,
            )
            .unwrap()
            .logits
    };
    let infer = run(Mode::Infer);
    let train_plain = run(Mode::Train);
    // No dropout (the default): the composed training kernels agree with inference.
    assert!(max_diff(&infer, &train_plain) < 1e-3);
    model.set_dropout(0.1, 1);
    let a = run(Mode::Train);
    assert!(
        max_diff(&infer, &a) > 1e-3,
        "dropout changes training outputs"
    );
    assert!(
        max_diff(&infer, &run(Mode::Infer)) < 1e-6,
        "never at inference"
    );
    // The same seed gives the same masks.
    model.set_dropout(0.1, 1);
    assert!(max_diff(&a, &run(Mode::Train)) < 1e-6);
    model.set_dropout(0.0, 1);
    assert!(max_diff(&infer, &run(Mode::Train)) < 1e-3);
}

#[test]
fn presets_name_the_code_and_the_paper() {
    use crate::sevlm::train::{Anchor, Pairing, SevlmPreset};
    let code = SevlmTrainConfig::preset(SevlmPreset::Code);
    // BetterZH/SEVLM-code utils/opts.py:20-27 and artEmisX_train.py:313, :412-413.
    assert_eq!(code.epochs, 35);
    assert_eq!(code.batch_pairs, 32);
    assert_eq!((code.lr_decoder, code.lr_vad_encoder), (2e-5, 4e-5));
    assert_eq!(
        (code.language_weight, code.alpha, code.vad_weight),
        (1.0, 1.0, 1.0)
    );
    assert_eq!((code.weight_decay, code.warmup, code.clip), (0.0, 0, 0.0));
    assert_eq!(code.dropout, 0.1);
    assert_eq!(
        (code.pairing, code.anchor),
        (Pairing::PerImage, Anchor::Cycle)
    );
    assert_eq!(SevlmTrainConfig::default(), code);
    // The paper: alpha = 2 on the contrastive loss; the rest as the code.
    let paper = SevlmTrainConfig::preset(SevlmPreset::Paper);
    assert_eq!(paper.alpha, 2.0);
    assert_eq!(
        SevlmTrainConfig {
            alpha: 1.0,
            preset: code.preset,
            ..paper
        },
        code
    );
    // Older session JSON (before issue 19) reads as what it ran: no dropout, fixed pairs
    // over every response, XE weight 1.
    let old = r#"{"epochs":30,"batch_pairs":32,"lr_decoder":2e-5,"lr_vad_encoder":4e-5,
        "weight_decay":0.0,"alpha":2.0,"vad_weight":1.0,"clip":1.0,"seed":7,"warmup":0}"#;
    let o: SevlmTrainConfig = serde_json::from_str(old).unwrap();
    assert_eq!(
        o,
        SevlmTrainConfig {
            seed: 7,
            ..SevlmTrainConfig::legacy()
        }
    );
}

#[test]
fn configs_keep_the_prompt_they_were_saved_with() {
    use crate::lexicon::{LexiconRecord, VadLookup};
    use crate::sevlm::data::{LEGACY_PROMPT, REFERENCE_PROMPT};
    // The shipped demo kit (retrained for issue 21) records the reference prompt, the
    // exact-lemma lookup and the stand-in lexicon it was trained with.
    let models = crate::find_models().expect("models");
    let demo = SevlmConfig::load(&models.join("demo/sevlm/config.json")).unwrap();
    assert_eq!(demo.prompt, REFERENCE_PROMPT);
    assert_eq!(demo.vad_lookup, VadLookup::ExactLemma);
    assert!(demo.trained_lexicon_or_assumed().is_stand_in());
    // A config without the field is a legacy one; new configs use the reference's.
    let mut v = serde_json::to_value(SevlmConfig::paper()).unwrap();
    assert_eq!(v["prompt"], REFERENCE_PROMPT);
    let o = v.as_object_mut().unwrap();
    o.remove("prompt");
    o.remove("vad_lookup");
    let old: SevlmConfig = serde_json::from_value(v).unwrap();
    assert_eq!(old.prompt, LEGACY_PROMPT);
    assert_eq!(old.vad_lookup, VadLookup::Normalised);
    // The lexicon record round-trips; a converted release is the authors' NRC VAD.
    let mut c = SevlmConfig::paper();
    c.trained_lexicon = Some(LexiconRecord::legacy_stand_in());
    let back: SevlmConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    c.trained_lexicon = None;
    c.name = "reference (nle_model_11)".into();
    assert_eq!(c.trained_lexicon_or_assumed(), LexiconRecord::reference());
}

/// The shipped demo SEVLM (`models/demo/sevlm`) on the CPU, and the assets folder.
fn shipped_demo_runtime() -> (SevlmRuntime, std::path::PathBuf) {
    let models = crate::find_models().expect("models");
    let assets = crate::find_assets().expect("assets");
    let rt = load_runtime(
        &models.join("demo/sevlm"),
        &assets,
        &models,
        None,
        &Device::Cpu,
    )
    .unwrap();
    (rt, assets)
}

mod decode_equality;
mod demo_kit;
mod emotion_reader;
