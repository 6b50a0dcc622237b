//! Tests of the GPT-2 layout (`models/gpt2.rs`).

use super::*;
use crate::models::tests::max_diff;
use candle_nn::VarMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    crate::models::tests::parity_dir("gpt2").join(name)
}

/// Reference: transformers 5.23 `GPT2LMHeadModel` (tools/parity/gpt2.py), fp32.
#[test]
fn matches_pytorch_with_and_without_cross_attention() {
    let dev = crate::models::tests::device();
    let io = candle_core::safetensors::load(fixture("io.safetensors"), &dev).unwrap();
    for (variant, cross) in [("plain", false), ("cross", true)] {
        let m = Gpt2::load(&fixture(variant), None, &dev).unwrap();
        assert_eq!(m.config().add_cross_attention, cross);
        let ids = &io["input_ids"];
        let tt = &io["token_type_ids"];
        let mask = &io["attention_mask"];
        let enc = cross.then(|| &io["encoder_hidden_states"]);
        let logits = m
            .forward(ids, Some(tt), enc, Some(mask), None, Mode::Infer)
            .unwrap();
        // Padded query positions (row 1, first two tokens) produce undefined outputs in
        // both implementations; compare the positions that are attended.
        let want = &io[&format!("{variant}.logits")];
        let valid = |t: &Tensor| {
            Tensor::cat(
                &[
                    t.narrow(0, 0, 1).unwrap(),
                    t.narrow(0, 1, 1).unwrap().narrow(1, 2, 5).unwrap(),
                ],
                1,
            )
            .unwrap()
        };
        let (logits, want) = (valid(&logits), valid(want));
        let want = &want;
        let d = max_diff(&logits, want);
        assert!(
            d <= crate::models::tests::tolerance(1e-4),
            "{variant}: max abs diff {d}"
        );
        let train = valid(
            &m.forward(ids, Some(tt), enc, Some(mask), None, Mode::Train)
                .unwrap(),
        );
        assert!(
            max_diff(&train, want) <= crate::models::tests::tolerance(1e-4),
            "{variant}: training path differs"
        );
    }
}

#[test]
fn cached_decoding_equals_full_decoding() {
    let dev = Device::Cpu;
    let io = candle_core::safetensors::load(fixture("io.safetensors"), &dev).unwrap();
    let m = Gpt2::load(&fixture("cross"), None, &dev).unwrap();
    let ids = io["input_ids"].narrow(0, 0, 1).unwrap();
    let enc = io["encoder_hidden_states"].narrow(0, 0, 1).unwrap();
    let full = m
        .forward(&ids, None, Some(&enc), None, None, Mode::Infer)
        .unwrap();
    let mut cache = Gpt2Cache::default();
    let t = ids.dim(1).unwrap();
    let first = m
        .forward(
            &ids.narrow(1, 0, 3).unwrap(),
            None,
            Some(&enc),
            None,
            Some(&mut cache),
            Mode::Infer,
        )
        .unwrap();
    let mut parts = vec![first];
    for i in 3..t {
        parts.push(
            m.forward(
                &ids.narrow(1, i, 1).unwrap(),
                None,
                Some(&enc),
                None,
                Some(&mut cache),
                Mode::Infer,
            )
            .unwrap(),
        );
    }
    assert_eq!(cache.len(), t);
    let stepped = Tensor::cat(&parts, 1).unwrap();
    assert!(max_diff(&stepped, &full) <= 1e-4);
}

/// Shared encoder states ([1, S, d] for B rows, keys and values from
/// [`Gpt2::cross_cache`]) give the logits of the states repeated per row; a cache cut
/// back by `truncate` and run again gives the full forward's logits.
#[test]
fn shared_cross_attention_and_truncated_cache_equal_full_forward() {
    let dev = Device::Cpu;
    let io = candle_core::safetensors::load(fixture("io.safetensors"), &dev).unwrap();
    let m = Gpt2::load(&fixture("cross"), None, &dev).unwrap();
    let ids = &io["input_ids"];
    let b = ids.dim(0).unwrap();
    let enc1 = io["encoder_hidden_states"].narrow(0, 0, 1).unwrap();
    let repeated = enc1
        .broadcast_as((b, enc1.dim(1).unwrap(), enc1.dim(2).unwrap()))
        .unwrap()
        .contiguous()
        .unwrap();
    let full = m
        .forward(ids, None, Some(&repeated), None, None, Mode::Infer)
        .unwrap();
    let shared = m
        .forward(ids, None, Some(&enc1), None, None, Mode::Infer)
        .unwrap();
    assert!(max_diff(&shared, &full) <= 1e-5);
    let mut cache = m.cross_cache(&enc1).unwrap();
    let cached = m
        .forward(ids, None, Some(&enc1), None, Some(&mut cache), Mode::Infer)
        .unwrap();
    assert!(max_diff(&cached, &full) <= 1e-5);
    // Keep 3 positions, run the rest again on a clone (as SEVLM's decoding does).
    let one = ids.narrow(0, 0, 1).unwrap();
    let t = one.dim(1).unwrap();
    let full1 = full.narrow(0, 0, 1).unwrap();
    let mut c = m.cross_cache(&enc1).unwrap();
    m.forward(&one, None, Some(&enc1), None, Some(&mut c), Mode::Infer)
        .unwrap();
    c.truncate(3).unwrap();
    assert_eq!(c.len(), 3);
    let rest = m
        .forward(
            &one.narrow(1, 3, t - 3).unwrap(),
            None,
            Some(&enc1),
            None,
            Some(&mut c.clone()),
            Mode::Infer,
        )
        .unwrap();
    assert!(max_diff(&rest, &full1.narrow(1, 3, t - 3).unwrap()) <= 1e-5);
    c.truncate(0).unwrap();
    assert!(c.is_empty());
}

#[test]
fn every_parameter_gets_a_gradient() {
    let dev = Device::Cpu;
    let cfg = Gpt2Config {
        vocab_size: 40,
        n_positions: 16,
        n_embd: 16,
        n_layer: 2,
        n_head: 2,
        ..Gpt2Config::distilgpt2(true)
    };
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let m = Gpt2::new(&cfg, vb, false).unwrap();
    let ids = Tensor::new(&[[1u32, 5, 7, 2, 9]], &dev).unwrap();
    let tt = Tensor::new(&[[3u32, 3, 3, 4, 4]], &dev).unwrap();
    let enc = Tensor::randn(0f32, 1.0, (1, 4, 16), &dev).unwrap();
    let logits = m
        .forward(&ids, Some(&tt), Some(&enc), None, None, Mode::Train)
        .unwrap();
    let targets = Tensor::new(&[5u32, 7, 2, 9, 1], &dev).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits.squeeze(0).unwrap(), &targets).unwrap();
    let grads = loss.backward().unwrap();
    assert!(vm.all_vars().len() > 20);
    crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
}

#[test]
fn bad_checkpoints_name_file_and_tensor() {
    let dev = Device::Cpu;
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("plain/config.json"), d.path().join("config.json")).unwrap();
    let w = candle_core::safetensors::load(fixture("plain/model.safetensors"), &dev).unwrap();
    let mut w2 = w.clone();
    w2.remove("transformer.h.1.mlp.c_fc.weight");
    candle_core::safetensors::save(&w2, d.path().join("model.safetensors")).unwrap();
    let e = Gpt2::load(d.path(), None, &dev).unwrap_err().to_string();
    assert!(
        e.contains("model.safetensors") && e.contains("transformer.h.1.mlp.c_fc.weight"),
        "{e}"
    );
    let mut w3 = w.clone();
    let t = w3["transformer.h.0.attn.c_proj.weight"]
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .narrow(0, 0, 8)
        .unwrap();
    w3.insert("transformer.h.0.attn.c_proj.weight".into(), t);
    candle_core::safetensors::save(&w3, d.path().join("model.safetensors")).unwrap();
    let e = Gpt2::load(d.path(), None, &dev).unwrap_err().to_string();
    assert!(
        e.contains("transformer.h.0.attn.c_proj.weight") && e.contains("expected"),
        "{e}"
    );
    std::fs::write(
        d.path().join("config.json"),
        r#"{"vocab_size": 10, "n_positions": 8, "n_embd": 10, "n_layer": 1, "n_head": 3}"#,
    )
    .unwrap();
    let e = Gpt2::load(d.path(), None, &dev).unwrap_err().to_string();
    assert!(e.contains("config.json") && e.contains("n_head"), "{e}");
}
