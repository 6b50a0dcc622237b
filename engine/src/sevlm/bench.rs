//! SEVLM benchmarks (`artemo bench sevlm`, release build): one training step (batch of
//! paired sequences, forward + backward + AdamW) and greedy generation in tokens per
//! second, for the `paper` and `small` configurations with random weights.

use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::bench::{time, BenchRow};
use crate::emotion::Emotion;
use crate::error::Result;
use crate::models::nn::Mode;
use crate::sevlm::data::{CompactVocab, Encoded, SequenceBuilder};
use crate::sevlm::generate::{generate, DecodeOptions};
use crate::sevlm::model::{Sevlm, SevlmConfig};
use crate::sevlm::train::{losses, trainable_groups, Batch};
use crate::train::{AdamW, AdamWParams, Schedule};

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
    for cfg in [SevlmConfig::paper(), small] {
        if which.is_some_and(|w| !cfg.name.contains(w)) {
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
        let one = images.narrow(0, 0, 1)?;
        let opts = DecodeOptions {
            max_tokens: 25,
            ignore_end: true,
            ..Default::default()
        };
        let t = Instant::now();
        let g = generate(&model, &seqb, &one, &opts, |_| {}, &crate::progress::Silent)?;
        let secs = t.elapsed().as_secs_f64();
        let n = g.tokens.len().max(1);
        rows.push(BenchRow {
            name: format!(
                "sevlm-{} generation ({:.1} tokens/s)",
                cfg.name,
                n as f64 / secs
            ),
            input: format!("{n} tokens, greedy, full re-run per token"),
            median_ms: secs * 1000.0 / n as f64,
            runs: 1,
        });
    }
    Ok(rows)
}
