//! Tests of the emotion head's reader (Artemo's demo kit, issue 21; not in SEVLM): a frozen
//! copy of the `ea-minilm` classifier whose log-probabilities of each present text field
//! join the head's input (`model.rs` `emotion_head_features`, `kit/emotion_head.rs`).
//! Reference: the classifier's own forward (`text/ea_classifier.rs` `EaHead::logits`,
//! Linear-ReLU-Linear) on the same embedding, computed here by hand from its weights.

use super::*;
use crate::kit::emotion_head::{
    emotion_head_config, fit_emotion_head, install_reader, reader_config,
};
use crate::sevlm::model::EmotionReaderConfig;

fn reader_cfg(hidden: usize) -> SevlmConfig {
    let mut cfg = tiny();
    cfg.text_memory = Some(crate::models::text_memory::kit_config());
    let mut head = emotion_head_config(&builder(16)).unwrap();
    head.reader = Some(EmotionReaderConfig {
        source: "test".into(),
        hidden,
        labels: Emotion::EIGHT
            .iter()
            .map(|e| e.name().to_string())
            .collect(),
    });
    cfg.emotion_head = Some(head);
    cfg
}

fn var(vm: &candle_nn::VarMap, name: &str) -> Tensor {
    vm.data().lock().unwrap()[name].as_tensor().clone()
}

/// Log-softmax of `fc2(relu(fc1(x)))` from the model's reader weights, by hand.
fn by_hand(vm: &candle_nn::VarMap, x: &Tensor) -> Vec<f32> {
    let lin = |x: &Tensor, l: &str| {
        x.matmul(
            &var(vm, &format!("emotion_head.reader.{l}.weight"))
                .t()
                .unwrap(),
        )
        .unwrap()
        .broadcast_add(&var(vm, &format!("emotion_head.reader.{l}.bias")))
        .unwrap()
    };
    let z = lin(&lin(x, "fc1").relu().unwrap(), "fc2");
    let z = z.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let m = z.iter().cloned().fold(f32::MIN, f32::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
    z.iter().map(|v| v - lse).collect()
}

/// The head's input is [embeddings of 3 fields | 3 x 8 readings | grid mean]; each present
/// field's reading is the classifier's log-probabilities of its embedding, an absent
/// field's is zeros; the width is `emotion_head_inputs`; a save/load round trip keeps the
/// reader (config and weights).
#[test]
fn reader_features_are_the_classifiers_log_probabilities_of_each_present_field() {
    let dev = Device::Cpu;
    let cfg = reader_cfg(16);
    cfg.validate().unwrap();
    let (model, vm) = Sevlm::init(&cfg, 3, &dev).unwrap();
    let d = cfg.encoder_dim;
    let grid = Tensor::rand(-1f32, 1.0, (2, 4, d), &dev).unwrap();
    let mut text = Tensor::rand(-0.1f32, 0.1, (2, 3, 384), &dev)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
    text[0][2] = vec![0.0; 384]; // painting 0 has no description
    let text = Tensor::new(text, &dev).unwrap();
    let mem = crate::models::text_memory::pack(&grid, &text).unwrap();
    let x = model.emotion_head_features(&mem).unwrap().unwrap();
    assert_eq!(x.dims(), &[2, cfg.emotion_head_inputs()]);
    assert_eq!(cfg.emotion_head_inputs(), 3 * 384 + 3 * 8 + d);
    let rows = x.to_vec2::<f32>().unwrap();
    for (i, row) in rows.iter().enumerate() {
        for f in 0..3 {
            let got = &row[3 * 384 + 8 * f..3 * 384 + 8 * (f + 1)];
            if i == 0 && f == 2 {
                assert!(got.iter().all(|&v| v == 0.0), "absent field reads {got:?}");
                continue;
            }
            let emb = text.get(i).unwrap().get(f).unwrap().unsqueeze(0).unwrap();
            let want = by_hand(&vm, &emb);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-5,
                    "painting {i} field {f}: {got:?} vs {want:?}"
                );
            }
            let total: f32 = got.iter().map(|v| v.exp()).sum();
            assert!((total - 1.0).abs() < 1e-5);
        }
        let mean = grid
            .get(i)
            .unwrap()
            .mean(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (g, w) in row[3 * 384 + 24..].iter().zip(&mean) {
            assert!((g - w).abs() < 1e-6);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    crate::sevlm::save(dir.path(), &cfg, &vm).unwrap();
    let loaded = Sevlm::load(dir.path(), &dev).unwrap();
    assert_eq!(loaded.config().emotion_head, cfg.emotion_head);
    let y = loaded.emotion_head_features(&mem).unwrap().unwrap();
    assert!(max_diff(&x, &y) < 1e-6);
}

/// The reader is frozen: no optimizer group holds it, and the head's fit leaves it as it
/// was. The fit reads what `inputs` says: with the title only and no reading, the
/// weights on every other column are zero; with the reading, the title's reading gets
/// weight and the other fields' readings none.
#[test]
fn reader_is_frozen_and_read_only_where_the_inputs_say() {
    let dev = Device::Cpu;
    let cfg = reader_cfg(16);
    let (model, vm) = Sevlm::init(&cfg, 5, &dev).unwrap();
    let (dec, vad) = trainable_groups(&vm);
    let reader: Vec<Tensor> = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        .iter()
        .map(|k| var(&vm, &format!("emotion_head.reader.{k}")))
        .collect();
    for v in dec.iter().chain(&vad) {
        assert!(
            reader.iter().all(|r| r.id() != v.as_tensor().id()),
            "the reader is in an optimizer group"
        );
    }
    let d = cfg.encoder_dim;
    let grid = Tensor::rand(-1f32, 1.0, (4, 4, d), &dev).unwrap();
    let text = Tensor::rand(-0.1f32, 0.1, (4, 3, 384), &dev).unwrap();
    let mem = crate::models::text_memory::pack(&grid, &text).unwrap();
    let share = |k: usize| {
        let mut r = vec![0f32; Emotion::ALL.len()];
        r[k] = 1.0;
        r
    };
    let targets: Vec<(usize, Vec<f32>)> = (0..4).map(|i| (i, share(i % 2 * 6))).collect();
    let weight_on = |cols: std::ops::Range<usize>| {
        let w = var(&vm, "emotion_head.weight").to_vec2::<f32>().unwrap();
        w.iter()
            .map(|r| r[cols.clone()].iter().map(|v| v.abs()).sum::<f32>())
            .sum::<f32>()
    };
    let title = 0..384;
    let readings = |f: usize| 3 * 384 + 8 * f..3 * 384 + 8 * (f + 1);
    let others = 384..3 * 384 + 24 + d;
    let fit = |inputs: &[bool]| {
        fit_emotion_head(&model, &vm, &mem, &targets, 50, 0.0, inputs, 0.0).unwrap()
    };
    fit(&[true, false, false, false, false, false]);
    assert!(weight_on(title.clone()) > 0.0);
    assert_eq!(weight_on(others), 0.0);
    fit(&[true, false, false, false, false, true]);
    assert!(weight_on(title) > 0.0);
    assert!(weight_on(readings(0)) > 0.0);
    assert_eq!(weight_on(readings(1)) + weight_on(readings(2)), 0.0);
    for (k, before) in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        .iter()
        .zip(&reader)
    {
        assert_eq!(
            max_diff(&var(&vm, &format!("emotion_head.reader.{k}")), before),
            0.0
        );
    }
}

/// The kit's reader is the shipped `ea-minilm` classifier: `reader_config` takes its
/// hidden width and labels, `install_reader` copies its weights exactly, and the model's
/// reading of a sentence is the classifier's own (`EaHead::logits`). A model whose reader
/// has another width is refused, naming the file and the tensor; so is a reader without
/// a text memory, and a text memory the classifier does not read.
#[test]
fn kit_reader_is_the_shipped_classifier() {
    let dev = Device::Cpu;
    let models = crate::find_models().expect("models");
    let tm = crate::models::text_memory::kit_config();
    let r = reader_config(&models, &tm).unwrap();
    assert_eq!(r.hidden, 256);
    assert_eq!(r.labels.len(), 8);
    let mut cfg = reader_cfg(256);
    cfg.emotion_head.as_mut().unwrap().reader = Some(r);
    let (model, vm) = Sevlm::init(&cfg, 1, &dev).unwrap();
    install_reader(&vm, &models, &dev).unwrap();
    let ea = crate::text::ea_classifier::EaHead::load(&models.join("ea-minilm"), &dev).unwrap();
    let emb = Tensor::rand(-0.1f32, 0.1, (1, 384), &dev).unwrap();
    let want = candle_nn::ops::log_softmax(&ea.logits(&emb).unwrap(), candle_core::D::Minus1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let grid = Tensor::zeros((1, 4, cfg.encoder_dim), DType::F32, &dev).unwrap();
    let text = Tensor::cat(
        &[
            emb.unsqueeze(0).unwrap(),
            Tensor::zeros((1, 2, 384), DType::F32, &dev).unwrap(),
        ],
        1,
    )
    .unwrap();
    let mem = crate::models::text_memory::pack(&grid, &text).unwrap();
    let x = model
        .emotion_head_features(&mem)
        .unwrap()
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (g, w) in x[0][3 * 384..3 * 384 + 8].iter().zip(&want) {
        assert!((g - w).abs() < 1e-5);
    }
    // Another hidden width: refused, naming the tensor and the file.
    let (_, vm16) = Sevlm::init(&reader_cfg(16), 1, &dev).unwrap();
    let e = install_reader(&vm16, &models, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fc1.weight") && e.contains("head.safetensors"),
        "{e}"
    );
    // No reader in the model: refused.
    let (_, plain) = Sevlm::init(&tiny(), 1, &dev).unwrap();
    let e = install_reader(&plain, &models, &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("emotion_head.reader"), "{e}");
    // A reader needs a text memory.
    let mut bare = reader_cfg(16);
    bare.text_memory = None;
    assert!(bare
        .validate()
        .unwrap_err()
        .to_string()
        .contains("text memory"));
    // A text memory of another encoder width: refused, naming the classifier's config.
    let mut wide = tm.clone();
    wide.text_dim = 768;
    let e = reader_config(&models, &wide).unwrap_err().to_string();
    assert!(e.contains("config.json") && e.contains("768"), "{e}");
}

/// `decides` (the head alone divides the emotion words' share): with a fitted head, the
/// emotion distribution is the softmax of the head's logits over the emotion words
/// (`generate.rs` `distribution_from`, first token only), the emotion words' total
/// probability at the head's position is the decoder's own (the plain model's, head
/// removed), greedy decoding starts with the head's top emotion, and the flag is absent
/// from a configuration that does not set it (older folders load with it off).
#[test]
fn a_deciding_head_alone_divides_the_emotion_words_share() {
    let dev = Device::Cpu;
    let seq = builder(16);
    let mut cfg = tiny();
    cfg.text_memory = Some(crate::models::text_memory::kit_config());
    cfg.emotion_head = Some(emotion_head_config(&seq).unwrap());
    let (model, vm) = Sevlm::init(&cfg, 11, &dev).unwrap();
    let grid = Tensor::rand(-1f32, 1.0, (2, 4, cfg.encoder_dim), &dev).unwrap();
    let text = Tensor::rand(-0.1f32, 0.1, (2, 3, 384), &dev).unwrap();
    let mem = crate::models::text_memory::pack(&grid, &text).unwrap();
    let share = |k: usize| {
        let mut r = vec![0f32; Emotion::ALL.len()];
        r[k] = 1.0;
        r
    };
    fit_emotion_head(
        &model,
        &vm,
        &mem,
        &[(0, share(1)), (1, share(7))],
        100,
        0.0,
        &[],
        0.0,
    )
    .unwrap();
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(!json.contains("decides"), "written although off");
    let mut dcfg = cfg.clone();
    dcfg.emotion_head.as_mut().unwrap().decides = true;
    let deciding = Sevlm::new(
        &dcfg,
        candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &dev),
        false,
    )
    .unwrap();
    let mut pcfg = cfg.clone();
    pcfg.emotion_head = None;
    let plain = Sevlm::new(
        &pcfg,
        candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &dev),
        false,
    )
    .unwrap();
    let h = cfg.emotion_head.clone().unwrap();
    for i in 0..2 {
        let m = mem.narrow(0, i, 1).unwrap();
        let head = model.emotion_head_logits(&m).unwrap().unwrap();
        let want = candle_nn::ops::softmax(&head, candle_core::D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let (dist, _) = emotion_distribution(&deciding, &seq, &m).unwrap();
        for ((e, p), w) in dist.iter().zip(&want) {
            assert!(
                (p - w).abs() < 1e-5,
                "painting {i} {e:?}: {p} vs the head's {w}"
            );
        }
        // The emotion words' total probability at the head's position is the plain
        // decoder's.
        let prompt = seq.prompt_ids().unwrap();
        let ids = Tensor::new(prompt.as_slice(), &dev)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let segs = Tensor::full(seq.emotion_segment(), (1, prompt.len()), &dev).unwrap();
        let zeros = Tensor::zeros((1, prompt.len(), 3), DType::F32, &dev).unwrap();
        let mass = |m_: &Sevlm| {
            let out = m_
                .forward(&ids, &segs, Some(&zeros), &m, Mode::Infer)
                .unwrap();
            let p = candle_nn::ops::softmax(&out.logits, candle_core::D::Minus1)
                .unwrap()
                .get(0)
                .unwrap()
                .get(h.position)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            h.token_ids.iter().map(|&t| p[t as usize]).sum::<f32>()
        };
        assert!((mass(&deciding) - mass(&plain)).abs() < 1e-5);
        let top = want
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (k, &v)| if v > b.1 { (k, v) } else { b })
            .0;
        let opts = DecodeOptions {
            max_tokens: 3,
            ..Default::default()
        };
        let g = generate(&deciding, &seq, &m, &opts, |_| {}, &Silent).unwrap();
        assert!(
            g.text.starts_with(Emotion::ALL[top].name()),
            "painting {i}: {:?} does not start with {:?}",
            g.text,
            Emotion::ALL[top].name()
        );
    }
}
