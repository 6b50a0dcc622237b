//! SEVLM benchmarks (`artemo bench sevlm`, release build): one training step (batch of
//! paired sequences, forward + backward + AdamW) and a 25-token explanation, for the
//! `paper` and `small` configurations with random weights. The explanation is timed two
//! ways: the full recompute at every step (`generate_reference`, the reference's
//! `sample_sequences` procedure and Artemo's decoding before issue 22) and the exact
//! shortcuts (`generate`); likewise the emotion distribution. PyTorch's time for the
//! reference's procedure: `tools/bench/sevlm_generate.py --bench`.
//!
//! `which`: comma-separated words; a configuration name (`paper`, `small`) keeps that
//! configuration, `train` or `generation` that stage (`paper,generation`: the paper
//! configuration's decoding rows only).

use candle_core::{Device, Tensor};

use crate::bench::{time, BenchRow};
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::models::nn::Mode;
use crate::sevlm::data::{CompactVocab, Encoded, SequenceBuilder};
use crate::sevlm::decode_cache::PaintingContext;
use crate::sevlm::generate::{
    emotion_distribution_in, emotion_distribution_reference, generate, generate_reference,
    DecodeOptions, Generation,
};
use crate::sevlm::model::{Sevlm, SevlmConfig};
use crate::sevlm::train::{losses, trainable_groups, Batch};
use crate::train::{AdamW, AdamWParams, Schedule};

/// The stages `which` may name.
const STAGES: [&str; 2] = ["train", "generation"];

/// Runs the benchmarks; `pairs` image pairs per training batch; `seq` provides the
/// tokenizer and lexicon.
pub fn run(
    seq: &SequenceBuilder,
    which: Option<&str>,
    pairs: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<BenchRow>> {
    let dev = Device::Cpu;
    let mut rows = Vec::new();
    let texts = [
        "the bright colors of the sky make me feel small and calm",
        "the dark figure sits alone in an empty room",
    ];
    // The demo kit's small model keeps the GPT-2 ids its corpora use (about 8,000).
    let mut kept: Vec<u32> = (0..8000).collect();
    for t in texts {
        kept.extend(seq.tokenizer().encode(t)?);
        kept.extend(
            seq.tokenizer()
                .encode(" because the emotion is awe sadness")?,
        );
    }
    let small = SevlmConfig::small().with_compact_vocab(&CompactVocab::new(kept));
    let words: Vec<&str> = which
        .map(|w| {
            w.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let stages: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| STAGES.contains(w))
        .collect();
    let stage = |s: &str| stages.is_empty() || stages.contains(&s);
    for cfg in [SevlmConfig::paper(), small] {
        if words
            .iter()
            .any(|w| !STAGES.contains(w) && !cfg.name.contains(w))
        {
            continue;
        }
        progress(&cfg.name);
        let (model, vm) = Sevlm::init(&cfg, 1, &dev)?;
        let n_img = 196;
        let images = Tensor::randn(0f32, 1.0, (pairs, n_img, cfg.encoder_dim), &dev)?;
        let seqb =
            SequenceBuilder::for_config(seq.tokenizer().clone(), seq.lexicon().clone(), &cfg);
        let mut seqs: Vec<(Encoded, usize)> = Vec::new();
        for i in 0..pairs {
            seqs.push((seqb.encode(Emotion::Awe, texts[0])?, i));
            seqs.push((seqb.encode(Emotion::Sadness, texts[1])?, i));
        }
        let refs: Vec<&(Encoded, usize)> = seqs.iter().collect();
        let batch = Batch::new(&refs, &images, &dev)?;
        let perm: Vec<usize> = (0..pairs).map(|i| (i + 1) % pairs).collect();
        let (dec, vad) = trainable_groups(&vm);
        let mut opt = AdamW::new(Schedule::Constant).with_clip(1.0);
        opt.add_group(dec, AdamWParams::with_lr(2e-5))?;
        opt.add_group(vad, AdamWParams::with_lr(4e-5))?;
        if stage("train") {
            rows.push(time(
                &format!("sevlm-{} train step", cfg.name),
                &format!(
                    "{pairs} pairs x {} tokens, {n_img} image tokens, vocab {}",
                    cfg.max_seq_len, cfg.decoder.vocab_size
                ),
                3,
                || {
                    let l = losses(&model, &batch, Some(&perm), 2.0, 1.0, Mode::Train)?;
                    opt.backward_step(&l.total).map(|_| ())
                },
            )?);
        }
        if stage("generation") {
            progress(&format!("{} generation", cfg.name));
            rows.extend(generation_rows(
                &model,
                &seqb,
                &images.narrow(0, 0, 1)?,
                &cfg.name,
            )?);
            if cfg.use_vad {
                rows.push(without_vad_row(&cfg, seq, &images.narrow(0, 0, 1)?)?);
            }
        }
    }
    Ok(rows)
}

/// A 25-token explanation (greedy, end tokens passed over) and the emotion distribution,
/// each by the full recompute and by the shortcuts, on one image's features `[1, N, D]`;
/// the shortcuts' tokens are checked equal to the full recompute's.
fn generation_rows(
    model: &Sevlm,
    seq: &SequenceBuilder,
    image: &Tensor,
    name: &str,
) -> Result<Vec<BenchRow>> {
    let opts = explanation_options();
    let silent = &crate::progress::Silent;
    let ids = |g: &Generation| g.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    let mut reference = Vec::new();
    let full = time_ms(2, || {
        reference = ids(&generate_reference(
            model,
            seq,
            image,
            &opts,
            |_| {},
            silent,
        )?);
        Ok(())
    })?;
    let mut fast = Vec::new();
    let cached = time_ms(5, || {
        fast = ids(&generate(model, seq, image, &opts, |_| {}, silent)?);
        Ok(())
    })?;
    if fast != reference {
        return Err(Error::Invalid(format!(
            "sevlm-{name}: the shortcuts' tokens {fast:?} differ from the full recompute's {reference:?}"
        )));
    }
    let n = fast.len();
    let dist_full = time_ms(3, || {
        emotion_distribution_reference(model, seq, image).map(|_| ())
    })?;
    let dist_fast = time_ms(5, || {
        let ctx = PaintingContext::new(model, image)?;
        emotion_distribution_in(model, seq, &ctx).map(|_| ())
    })?;
    let row = |what: &str, input: String, ms: f64, runs| BenchRow {
        name: format!("sevlm-{name} {what}"),
        input,
        median_ms: ms,
        runs,
    };
    Ok(vec![
        row(
            "generation, full recompute",
            format!(
                "{n} tokens, greedy ({:.1} tokens/s)",
                n as f64 * 1000.0 / full
            ),
            full,
            2,
        ),
        row(
            "generation, shortcuts",
            format!(
                "{n} tokens, same ids, {:.1}x ({:.1} tokens/s)",
                full / cached,
                n as f64 * 1000.0 / cached
            ),
            cached,
            5,
        ),
        row(
            "distribution, full recompute",
            "9 labels x own image copy".into(),
            dist_full,
            3,
        ),
        row(
            "distribution, shortcuts",
            format!("9 labels, shared K/V, {:.1}x", dist_full / dist_fast),
            dist_fast,
            5,
        ),
    ])
}

/// The bound of the exact shortcuts: the same configuration without the VAD fusion (not
/// SEVLM's model), where every position's keys and values can be cached, decoded with the
/// shortcuts. What separates it from the "generation, shortcuts" row is the bidirectional
/// VAD encoder's recompute, which the reference (and so Artemo) does at every step.
fn without_vad_row(cfg: &SevlmConfig, seq: &SequenceBuilder, image: &Tensor) -> Result<BenchRow> {
    let cfg = SevlmConfig {
        use_vad: false,
        ..cfg.clone()
    };
    let (model, _vm) = Sevlm::init(&cfg, 1, image.device())?;
    let seqb = SequenceBuilder::for_config(seq.tokenizer().clone(), seq.lexicon().clone(), &cfg);
    let opts = explanation_options();
    let silent = &crate::progress::Silent;
    let mut n = 0;
    let ms = time_ms(5, || {
        n = generate(&model, &seqb, image, &opts, |_| {}, silent)?
            .tokens
            .len();
        Ok(())
    })?;
    Ok(BenchRow {
        name: format!(
            "sevlm-{} generation, shortcuts, no VAD fusion (bound)",
            cfg.name
        ),
        input: format!("{n} tokens, every key/value cached (not SEVLM's model)"),
        median_ms: ms,
        runs: 5,
    })
}

/// The timed explanation: 25 tokens, greedy, end tokens passed over.
fn explanation_options() -> DecodeOptions {
    DecodeOptions {
        max_tokens: 25,
        ignore_end: true,
        ..Default::default()
    }
}

/// Median milliseconds of `runs` calls after one warm-up ([`time`]).
fn time_ms(runs: usize, f: impl FnMut() -> Result<()>) -> Result<f64> {
    Ok(time("", "", runs, f)?.median_ms)
}
