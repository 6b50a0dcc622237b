//! `artemo bench paper`: each paper configuration built at its real size with random
//! weights (values do not change shapes, time or memory) and run on one painting through
//! the same code the analyses use, reporting time, parameters and the peak resident memory
//! of each stage:
//! - SEVLM over CLIP ViT-B/16 + distilgpt2 with the VAD encoder: the analysis of
//!   `SevlmRuntime::analyze` (CLIP grid, the emotion distribution, a greedy explanation
//!   of the full 25 tokens);
//! - EmoSEM `EmosemConfig::paper` (Multi-Masks): SAM ViT-B at 1024 px + CLIP ViT-B/16 grid
//!   (`ImageEncoder::Paper`), 8 masks and 8 explanations from the distilgpt2 (6-layer)
//!   explainer; then one training step on a batch of one painting with its 8 emotions
//!   (forward, backward, AdamW, as `emosem::train::Trainer`);
//! - PACL: Artemo's PACL has only the patch-tower backbone, so its paper-size "CLIP-style"
//!   model is CLIP ViT-B/16's vision tower and CLIP's text tower with PACL's projections
//!   `q_v`, `q_t` into a 256-wide joint space: one image embedding and zero-shot over the
//!   eight emotion prompts.
//!
//! Peak memory is the process's RSS high-water mark (`VmHWM` of `/proc/self/status`),
//! reset before each stage through `/proc/self/clear_refs` where the kernel allows it
//! (otherwise the row says the peak is the process's so far). [`PaperSize::Tiny`] runs the
//! same path at toy sizes (the test).

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::Serialize;

use crate::emosem::features::ImageEncoder;
use crate::emosem::train::{Target, TrainConfig, TrainItem, Trainer};
use crate::emosem::{Emosem, EmosemConfig, Paradigm, EMOTIONS};
use crate::error::{Error, Result};
use crate::models::clip_text::{ClipText, ClipTextConfig};
use crate::models::clip_tokenizer::ClipTokenizer;
use crate::models::clip_vision::{ClipVision, ClipVisionConfig};
use crate::models::gpt2::Gpt2Config;
use crate::models::nn::{linear, Mode};
use crate::models::sam::{Sam, SamConfig, SamEncoderConfig, SamVisionConfig};
use crate::models::sam_decoder::{SamMaskDecoderConfig, SamPromptEncoderConfig};
use crate::progress::Silent;
use crate::sevlm::generate::{DecodeOptions, Decoding};
use crate::sevlm::model::{ImageEncoderKind, Sevlm, SevlmConfig};
use crate::sevlm::{ClipGridFeaturizer, SequenceBuilder, SevlmRuntime};
use crate::tokenize::TextTokenizer;

/// Real sizes, or toy sizes through the same code (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PaperSize {
    /// The papers' configurations.
    Paper,
    /// Two-layer, 32-wide stand-ins of every network.
    Tiny,
}

/// One measured stage.
#[derive(Debug, Clone, Serialize)]
pub struct PaperRow {
    /// What ran.
    pub stage: String,
    /// Parameters of the networks the stage built or ran (trainable ones for a training
    /// step).
    pub params: usize,
    /// Wall time, milliseconds (one run).
    pub ms: f64,
    /// Resident memory when the stage started, MiB: the allocator keeps what earlier
    /// stages freed, so the stage's own growth is `peak_rss_mib - start_rss_mib` at most.
    pub start_rss_mib: Option<f64>,
    /// Peak resident memory during the stage, MiB (`None` where `/proc` is not readable).
    pub peak_rss_mib: Option<f64>,
    /// Whether the peak was reset before the stage (otherwise it is the process's peak
    /// so far).
    pub peak_is_per_stage: bool,
    /// What the stage did.
    pub note: String,
}

/// A `/proc/self/status` field in KiB.
/// A `/proc/self/status` value in KiB (`VmHWM:` is the peak RSS), where the system has one.
pub fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the RSS high-water mark (Linux: `5` to `clear_refs`); false where refused.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Times `f` as one stage with its peak RSS.
fn stage<T>(
    dev: &Device,
    rows: &mut Vec<PaperRow>,
    name: &str,
    note: &str,
    progress: &mut dyn FnMut(&str),
    f: impl FnOnce() -> Result<(T, usize)>,
) -> Result<T> {
    progress(name);
    let start_rss_mib = status_kib("VmRSS:").map(|k| k as f64 / 1024.0);
    let per_stage = reset_peak();
    let t = Instant::now();
    let (out, params) = f()?;
    // A GPU runs asynchronously: the stage ends when the device has finished.
    dev.synchronize()?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    rows.push(PaperRow {
        stage: name.into(),
        params,
        ms,
        start_rss_mib,
        peak_rss_mib: status_kib("VmHWM:").map(|k| k as f64 / 1024.0),
        peak_is_per_stage: per_stage,
        note: note.into(),
    });
    Ok(out)
}

fn count(vm: &VarMap) -> usize {
    vm.all_vars().iter().map(|v| v.elem_count()).sum()
}

fn vb(vm: &VarMap, dev: &Device) -> VarBuilder<'static> {
    VarBuilder::from_varmap(vm, DType::F32, dev)
}

/// The sizes of one run.
struct Sizes {
    clip: ClipVisionConfig,
    clip_text: ClipTextConfig,
    sevlm: SevlmConfig,
    sam: SamConfig,
    emosem: EmosemConfig,
    pacl_dim: usize,
}

fn sizes(size: PaperSize) -> Sizes {
    match size {
        PaperSize::Paper => Sizes {
            clip: ClipVisionConfig::vit_b_16(),
            clip_text: ClipTextConfig::openai_vit_b(),
            sevlm: SevlmConfig::paper(),
            sam: SamConfig::vit_b(),
            emosem: EmosemConfig::paper(Paradigm::Multi),
            // PACL's joint space (`PaclConfig::default().embed_dim`).
            pacl_dim: crate::pacl::PaclConfig::default().embed_dim,
        },
        PaperSize::Tiny => {
            let c = 32;
            let clip = ClipVisionConfig {
                hidden_size: c,
                intermediate_size: 64,
                projection_dim: 16,
                num_hidden_layers: 2,
                num_attention_heads: 2,
                ..ClipVisionConfig::vit_b_16()
            };
            let clip_text = ClipTextConfig {
                hidden_size: c,
                intermediate_size: 64,
                projection_dim: 16,
                num_hidden_layers: 2,
                num_attention_heads: 2,
                ..ClipTextConfig::openai_vit_b()
            };
            let mut sevlm = SevlmConfig::tiny(c);
            sevlm.image_encoder = ImageEncoderKind::ClipVitB16;
            let prompt_encoder = SamPromptEncoderConfig {
                hidden_size: c,
                image_size: 64,
                patch_size: 16,
                ..Default::default()
            };
            let mask_decoder = SamMaskDecoderConfig {
                hidden_size: c,
                mlp_dim: 64,
                num_attention_heads: 2,
                iou_head_hidden_dim: 16,
                ..SamMaskDecoderConfig::fair()
            };
            let sam = SamConfig {
                encoder: SamEncoderConfig::Vit(SamVisionConfig {
                    hidden_size: c,
                    output_channels: c,
                    num_hidden_layers: 2,
                    num_attention_heads: 2,
                    image_size: 64,
                    window_size: 2,
                    global_attn_indexes: vec![1],
                    num_pos_feats: c / 2,
                    ..SamVisionConfig::default()
                }),
                prompt_encoder: prompt_encoder.clone(),
                mask_decoder: mask_decoder.clone(),
            };
            let emosem = EmosemConfig {
                prompt_encoder,
                mask_decoder,
                explainer: Gpt2Config {
                    n_positions: 48,
                    n_embd: 16,
                    n_layer: 2,
                    n_head: 2,
                    ..Gpt2Config::distilgpt2(true)
                },
                memory_dim: c,
                prefix_hidden: 16,
                ..EmosemConfig::paper(Paradigm::Multi)
            };
            Sizes {
                clip,
                clip_text,
                sevlm,
                sam,
                emosem,
                pacl_dim: 8,
            }
        }
    }
}

/// Runs every stage on `device` and `image` with the shipped tokenizers and lexicon of `assets`;
/// `progress` is told each stage's name before it runs.
pub fn run(
    size: PaperSize,
    assets: &Path,
    image: &Path,
    device: &Device,
    mut progress: impl FnMut(&str),
) -> Result<Vec<PaperRow>> {
    let dev = device.clone();
    let sz = sizes(size);
    let progress: &mut dyn FnMut(&str) = &mut progress;
    let mut rows = Vec::new();
    let gpt2 = TextTokenizer::gpt2_from_assets(assets)?;
    let (lexicon, lexicon_record) =
        crate::lexicon::VadLexicon::from_source(assets, &crate::lexicon::VadSource::StandIn)?;
    let label = match size {
        PaperSize::Paper => "paper",
        PaperSize::Tiny => "tiny",
    };

    // SEVLM over CLIP ViT-B/16 + distilgpt2 (+ VAD encoder).
    let runtime = stage(
        &dev,
        &mut rows,
        &format!("SEVLM {label}: build"),
        "CLIP ViT-B/16 vision tower + distilgpt2 with cross-attention + VAD encoder, VAD and contrastive heads (random weights)",
        progress,
        || {
            let clip_vm = VarMap::new();
            let clip = ClipVision::new(&sz.clip, vb(&clip_vm, &dev))?;
            let (model, vm) = Sevlm::init(&sz.sevlm, 1, &dev)?;
            let seq = SequenceBuilder::for_config(gpt2.clone(), lexicon.clone(), &sz.sevlm);
            let rt = SevlmRuntime {
                model,
                seq,
                featurizer: Box::new(ClipGridFeaturizer::new(clip)),
                source: image.to_path_buf(),
                lexicon: lexicon_record.clone(),
                warnings: Vec::new(),
                text_memory: None,
            };
            Ok((rt, count(&clip_vm) + count(&vm)))
        },
    )?;
    let params = rows.last().map(|r| r.params).unwrap_or(0);
    stage(
        &dev,
        &mut rows,
        &format!("SEVLM {label}: analyse one painting"),
        "CLIP grid, emotion distribution, greedy explanation of 25 tokens",
        progress,
        || {
            let opts = DecodeOptions {
                decoding: Decoding::Greedy,
                max_tokens: 25,
                ignore_end: true, // full-length decoding: 25 steps, as the reference runs
                block_repeats: false,
                greedy_emotion: false,
                known_words: true,
            };
            let a = runtime.analyze(image, &opts, &dev, |_| {}, &Silent)?;
            if a.distribution.len() != 9 {
                return Err(Error::Invalid(format!(
                    "SEVLM bench: {} emotion probabilities, expected 9",
                    a.distribution.len()
                )));
            }
            Ok(((), params))
        },
    )?;
    drop(runtime);

    // EmoSEM (paper configuration, Multi-Masks).
    let cfg = &sz.emosem;
    let prompt_ids = crate::emosem::prompt_ids(cfg, &gpt2)?;
    let (encoder, model, vm, enc_params) = stage(
        &dev,
        &mut rows,
        &format!("EmoSEM {label}: build"),
        "SAM ViT-B image encoder + CLIP ViT-B/16 + mask decoder (8 mask tokens) + distilgpt2 (6 layers) explainer (random weights)",
        progress,
        || {
            let sam_vm = VarMap::new();
            let sam = Sam::new(&sz.sam, vb(&sam_vm, &dev))?;
            let clip_vm = VarMap::new();
            let clip = ClipVision::new(&sz.clip, vb(&clip_vm, &dev))?;
            let encoder = ImageEncoder::Paper {
                sam: Box::new(sam),
                clip: Box::new(clip),
                sam_cache: None,
                clip_cache: None,
            };
            let vm = VarMap::new();
            let model = Emosem::from_varmap(cfg, &vm, prompt_ids.clone(), &dev)?;
            let enc = count(&sam_vm) + count(&clip_vm);
            let total = enc + count(&vm);
            Ok(((encoder, model, vm, enc), total))
        },
    )?;
    let all_params = rows.last().map(|r| r.params).unwrap_or(0);
    // The analysis in two rows, so that each part's memory shows.
    let feats = stage(
        &dev,
        &mut rows,
        &format!("EmoSEM {label}: analyse: image encoders"),
        "decode the painting, SAM ViT-B at 1024 px + CLIP ViT-B/16 grid (no cache)",
        progress,
        || Ok((encoder.encode_file(image, &dev)?, enc_params)),
    )?;
    stage(
        &dev,
        &mut rows,
        &format!("EmoSEM {label}: analyse: masks + explanations"),
        "mask decoder for the 8 emotions, 8 greedy explanations (25 tokens at most)",
        progress,
        || {
            let (masks, ids) = model.analyze(&feats, &EMOTIONS)?;
            let side = cfg.mask_side();
            if masks.dims() != [8, side, side] || ids.len() != 8 {
                return Err(Error::Invalid(format!(
                    "EmoSEM bench: masks {:?} and {} explanations, expected [8, {side}, {side}] and 8",
                    masks.dims(),
                    ids.len()
                )));
            }
            for i in &ids {
                gpt2.decode(i)?;
            }
            Ok(((), all_params - enc_params))
        },
    )?;
    drop(encoder);
    stage(
        &dev,
        &mut rows,
        &format!("EmoSEM {label}: one training step"),
        "batch of 1 painting x 8 emotions: forward, backward, AdamW (frozen SAM/CLIP features)",
        progress,
        || {
            let side = cfg.mask_side();
            let tokens = gpt2.encode(" the colours of the sky feel calm and wide")?;
            let targets: Vec<Target> = EMOTIONS
                .iter()
                .enumerate()
                .map(|(k, &emotion)| Target {
                    emotion,
                    mask: (0..side * side)
                        .map(|i| f32::from(u8::from((i / side + k).is_multiple_of(3))))
                        .collect(),
                    tokens: tokens.clone(),
                })
                .collect();
            let data = vec![TrainItem {
                features: feats.clone(),
                targets,
            }];
            let tc = TrainConfig {
                steps: 1,
                batch_images: 1,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(cfg, &vm, &tc)?;
            let p = trainer.step(&model, &data)?;
            if !p.mask_loss.is_finite() || !p.lm_loss.is_finite() {
                return Err(Error::Invalid("EmoSEM bench: a non-finite loss".into()));
            }
            let trainable = crate::train::count_params(&crate::train::vars_with_prefix(
                &vm,
                &cfg.trainable_prefixes(),
            ));
            Ok(((), trainable))
        },
    )?;
    drop((model, vm, feats));

    // PACL, CLIP-style backbone.
    let clip_tok = crate::models::clip_tokenizer::ClipTokenizer::from_assets(assets)?;
    let pacl = stage(
        &dev,
        &mut rows,
        &format!("PACL {label} (CLIP-style): build"),
        "CLIP ViT-B/16 vision tower + CLIP text tower + PACL projections q_v, q_t (random weights; Artemo's PACL has no CLIP backbone of its own)",
        progress,
        || {
            let vm = VarMap::new();
            let v = vb(&vm, &dev);
            let vision = ClipVision::new(&sz.clip, v.pp("vision"))?;
            let text = ClipText::new(&sz.clip_text, v.pp("text"))?;
            let q_v = linear(sz.clip.hidden_size, sz.pacl_dim, true, v.pp("q_v"))?;
            let q_t = linear(sz.clip_text.hidden_size, sz.pacl_dim, true, v.pp("q_t"))?;
            let n = count(&vm);
            Ok(((vision, text, q_v, q_t, vm), n))
        },
    )
?;
    let pacl_params = rows.last().map(|r| r.params).unwrap_or(0);
    stage(
        &dev,
        &mut rows,
        &format!("PACL {label} (CLIP-style): analyse one painting"),
        "image embedding (CLS -> q_v) and zero-shot over 8 emotion prompts (EOS -> q_t), cosine",
        progress,
        || {
            let (vision, text, q_v, q_t, _vm) = &pacl;
            let scores = pacl_zero_shot(vision, text, q_v, q_t, &clip_tok, image, &dev)?;
            if scores.len() != 8 || scores.iter().any(|s| !s.is_finite()) {
                return Err(Error::Invalid(format!(
                    "PACL bench: {} zero-shot scores, expected 8 finite",
                    scores.len()
                )));
            }
            Ok(((), pacl_params))
        },
    )?;
    Ok(rows)
}

/// Cosine of the painting's embedding with each emotion prompt's.
fn pacl_zero_shot(
    vision: &ClipVision,
    text: &ClipText,
    q_v: &candle_nn::Linear,
    q_t: &candle_nn::Linear,
    tok: &ClipTokenizer,
    image: &Path,
    dev: &Device,
) -> Result<Vec<f32>> {
    let img = crate::imaging::load_image(image)?;
    let size = vision.config().image_size as u32;
    // `to_tensor` is already `[1, 3, H, W]`.
    let x = crate::imaging::preprocess_clip(&img, size).to_tensor(dev)?;
    let v = q_v.forward(&vision.forward(&x, Mode::Infer)?.cls)?;
    let v = crate::pacl::normalize(&v)?;
    let mut ids: Vec<Vec<u32>> = EMOTIONS
        .iter()
        .map(|e| tok.encode(&format!("a painting that evokes {}", e.name())))
        .collect::<Result<_>>()?;
    let len = ids.iter().map(Vec::len).max().unwrap_or(1);
    for i in &mut ids {
        i.resize(len, 0);
    }
    let flat: Vec<u32> = ids.concat();
    let ids = Tensor::from_vec(flat, (EMOTIONS.len(), len), dev)?;
    let t = q_t.forward(&text.forward(&ids, None, Mode::Infer)?.pooled)?;
    let t = crate::pacl::normalize(&t)?;
    Ok(v.matmul(&t.t()?)?.squeeze(0)?.to_vec1::<f32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paper_stage_runs_at_a_tiny_size() {
        let assets = crate::find_assets().unwrap();
        let image = assets.join("paintings/aic/100342.jpg");
        let mut seen = Vec::new();
        // On `ARTEMO_TEST_DEVICE` (the CPU unless tools/cuda/gpu-check.sh asks for CUDA).
        let dev = crate::device::test_device().unwrap();
        let rows = run(PaperSize::Tiny, &assets, &image, &dev, |s| {
            seen.push(s.to_string())
        })
        .unwrap();
        let stages: Vec<&str> = rows.iter().map(|r| r.stage.as_str()).collect();
        assert_eq!(
            stages,
            [
                "SEVLM tiny: build",
                "SEVLM tiny: analyse one painting",
                "EmoSEM tiny: build",
                "EmoSEM tiny: analyse: image encoders",
                "EmoSEM tiny: analyse: masks + explanations",
                "EmoSEM tiny: one training step",
                "PACL tiny (CLIP-style): build",
                "PACL tiny (CLIP-style): analyse one painting",
            ]
        );
        assert_eq!(seen, stages);
        for r in &rows {
            assert!(r.params > 0, "{r:?}");
        }
        // The training step counts only the trainable part; the build counts everything.
        assert!(rows[5].params < rows[2].params);
        if cfg!(target_os = "linux") {
            assert!(rows.iter().all(|r| r.peak_rss_mib.is_some_and(|m| m > 0.0)
                && r.start_rss_mib.is_some_and(|m| m > 0.0)));
        }
    }
}
