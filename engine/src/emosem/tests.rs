//! EmoSEM tests: shapes of both paradigms, gradient routing (trainable vs frozen), learning
//! on synthetic painted shapes, save/load and the analysis job.

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};

use super::features::{GridEncoder, ImageFeatures, PatchColourGrid};
use super::train::{batch_loss, optimizer, train, Target, TrainConfig, TrainItem};
use super::*;
use crate::models::gpt2::Gpt2Config;
use crate::models::sam_decoder::{SamMaskDecoderConfig, SamPromptEncoderConfig};

mod guidance;
mod painting_words;

/// A tiny configuration over a `side` x `side` grid of `dim` features.
pub(crate) fn tiny(paradigm: Paradigm, side: usize, dim: usize) -> EmosemConfig {
    let c = 32;
    EmosemConfig {
        prompt_encoder: SamPromptEncoderConfig {
            hidden_size: c,
            image_size: side * 16,
            patch_size: 16,
            ..Default::default()
        },
        mask_decoder: SamMaskDecoderConfig {
            hidden_size: c,
            mlp_dim: 64,
            num_attention_heads: 2,
            iou_head_hidden_dim: 16,
            ..SamMaskDecoderConfig::fair()
        },
        explainer: Gpt2Config {
            n_positions: 48,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            ..Gpt2Config::distilgpt2(true)
        },
        prefix_hidden: 16,
        ..EmosemConfig::small(paradigm, side, dim, PatchColourGrid::NAME)
    }
}

/// Prompt ids of fixed lengths (6 or 7 tokens), as GPT-2 would give.
pub(crate) fn fake_prompts() -> Vec<Vec<u32>> {
    (0..8u32)
        .map(|i| {
            let mut v = vec![8612, 262, 9335, 329, 262, 9942];
            if i % 3 == 0 {
                v.push(300 + i);
            }
            v.push(1000 + i);
            v
        })
        .collect()
}

fn grid(b: usize, side: usize, dim: usize, dev: &Device) -> ImageFeatures {
    ImageFeatures::Grid {
        grid: Tensor::randn(0f32, 1.0, (b, side * side, dim), dev).unwrap(),
    }
}

#[test]
fn both_paradigms_produce_the_right_shapes() {
    let dev = Device::Cpu;
    for paradigm in [Paradigm::Single, Paradigm::Multi] {
        let cfg = tiny(paradigm, 4, 8);
        let vm = VarMap::new();
        let m = Emosem::new(
            &cfg,
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            fake_prompts(),
        )
        .unwrap();
        let f = grid(2, 4, 8, &dev);
        let v = m.vision_tokens(&f).unwrap();
        assert_eq!(v.dims(), [2, 32, 4, 4]);
        let queries = [
            Query {
                image: 0,
                emotion: Emotion::Awe,
            },
            Query {
                image: 1,
                emotion: Emotion::Fear,
            },
            Query {
                image: 0,
                emotion: Emotion::Fear,
            },
        ];
        let d = m.decode(&v, &queries, Mode::Infer).unwrap();
        assert_eq!(d.masks.dims(), [3, 16, 16]);
        for (q, p) in queries.iter().zip(&d.prefixes) {
            let l = p.as_ref().unwrap().dims().to_vec();
            let want = match paradigm {
                // p'' (the prompt's tokens) and m'' (one token).
                Paradigm::Single => fake_prompts()[q.emotion.index()].len() + 1,
                Paradigm::Multi => 1,
            };
            assert_eq!(l, [want, 16], "{paradigm:?} {q:?}");
        }
        // Same image and emotion in another batch position: the same mask.
        let d2 = m
            .decode(
                &v,
                &[Query {
                    image: 1,
                    emotion: Emotion::Fear,
                }],
                Mode::Infer,
            )
            .unwrap();
        let diff = (d.masks.i(1).unwrap() - d2.masks.i(0).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-4, "{diff}");
        // Whole analysis of one image: 8 masks and 8 explanations of at most 25 tokens.
        let one = grid(1, 4, 8, &dev);
        let (masks, ids) = m.analyze(&one, &EMOTIONS).unwrap();
        assert_eq!(masks.dims(), [8, 16, 16]);
        assert_eq!(ids.len(), 8);
        assert!(ids.iter().all(|t| t.len() <= 25));
        // The Multi-Masks paradigm has one mask token per emotion, Single-Mask one.
        assert_eq!(
            vm.data()
                .lock()
                .unwrap()
                .get("mask_tokens.weight")
                .unwrap()
                .dims(),
            [cfg.num_mask_tokens(), 32]
        );
    }
    // Ablation switches: no prefix at all.
    let cfg = EmosemConfig {
        prompt_prefix: false,
        mask_prefix: false,
        ..tiny(Paradigm::Single, 4, 8)
    };
    let vm = VarMap::new();
    let m = Emosem::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        fake_prompts(),
    )
    .unwrap();
    let v = m.vision_tokens(&grid(1, 4, 8, &dev)).unwrap();
    let d = m
        .decode(
            &v,
            &[Query {
                image: 0,
                emotion: Emotion::Sadness,
            }],
            Mode::Infer,
        )
        .unwrap();
    assert!(d.prefixes[0].is_none());
    assert!(!vm.all_vars().is_empty());
    assert!(vm
        .data()
        .lock()
        .unwrap()
        .keys()
        .all(|k| !k.starts_with("prefix_projector.")));
}

fn var_values(vm: &VarMap) -> std::collections::BTreeMap<String, Vec<f32>> {
    vm.data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            )
        })
        .collect()
}

#[test]
fn gradients_reach_exactly_the_trainable_parameters_and_frozen_ones_stay_unchanged() {
    let dev = Device::Cpu;
    for (paradigm, finetune) in [
        (Paradigm::Single, Finetune::MaskHead),
        (Paradigm::Multi, Finetune::MaskHead),
        (Paradigm::Single, Finetune::MaskDecoder),
    ] {
        let cfg = EmosemConfig {
            finetune,
            ..tiny(paradigm, 4, 8)
        };
        let vm = VarMap::new();
        let model = Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let items: Vec<TrainItem> = (0..2)
            .map(|_| TrainItem {
                features: grid(1, 4, 8, &dev),
                // Every emotion, so that each Multi-Masks hypernetwork is supervised.
                targets: EMOTIONS
                    .iter()
                    .map(|&emotion| Target {
                        emotion,
                        mask: (0..256).map(|_| rng.gen_range(0..2) as f32).collect(),
                        tokens: vec![40, 588, 262, 7577],
                    })
                    .collect(),
            })
            .collect();
        let refs: Vec<&TrainItem> = items.iter().collect();
        let (mask, lm) = batch_loss(&model, &refs, Mode::Train).unwrap();
        let loss = (mask + lm.unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        let data = vm.data().lock().unwrap();
        let mut trainable = 0;
        for (name, var) in data.iter() {
            let g = grads.get(var.as_tensor());
            // SAM's own hypernetworks and IoU head never feed EmoSEM's outputs: they are
            // frozen in every mode.
            if cfg.is_trainable(name) {
                trainable += 1;
                let g = g
                    .unwrap_or_else(|| panic!("{paradigm:?}/{finetune:?}: no gradient for {name}"));
                let s = g
                    .abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(
                    s > 0.0,
                    "{paradigm:?}/{finetune:?}: zero gradient for {name}"
                );
            } else {
                assert!(
                    g.is_none(),
                    "{paradigm:?}/{finetune:?}: frozen {name} got a gradient"
                );
            }
        }
        drop(data);
        assert!(trainable > 20);
        let before = var_values(&vm);
        let mut opt = optimizer(
            &cfg,
            &vm,
            &TrainConfig {
                steps: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let report = opt.step_with(&grads).unwrap();
        assert_eq!(report.without_gradient, 0);
        let after = var_values(&vm);
        for (name, b) in &before {
            let a = &after[name];
            if cfg.is_trainable(name) {
                assert!(a != b, "{name} did not move");
            } else {
                assert!(
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "frozen {name} changed"
                );
            }
        }
    }
}

/// Colours that encode the emotions in the synthetic images.
const PALETTE: [[u8; 3]; 8] = [
    [250, 210, 0],
    [0, 110, 255],
    [0, 190, 80],
    [255, 110, 0],
    [210, 0, 0],
    [120, 130, 0],
    [110, 0, 170],
    [40, 40, 40],
];

/// A `side*patch`-pixel square image on grey with two patch-aligned rectangles of two
/// emotions' colours, and their masks at pixel resolution.
fn painted(
    rng: &mut impl Rng,
    side: usize,
    patch: usize,
) -> (image::RgbImage, Vec<(Emotion, Vec<f32>)>) {
    let n = side * patch;
    let mut img = image::RgbImage::from_pixel(n as u32, n as u32, image::Rgb([150, 150, 150]));
    let mut taken = vec![false; side * side];
    let a = rng.gen_range(0..8);
    let mut b = rng.gen_range(0..7);
    if b >= a {
        b += 1;
    }
    let mut out = Vec::new();
    for e in [a, b] {
        loop {
            // At most half the side, so that the second rectangle always fits.
            let most = (side / 2).clamp(2, 4);
            let (w, h) = (rng.gen_range(2..=most), rng.gen_range(2..=most));
            let (x0, y0) = (rng.gen_range(0..=side - w), rng.gen_range(0..=side - h));
            let cells: Vec<usize> = (y0..y0 + h)
                .flat_map(|y| (x0..x0 + w).map(move |x| y * side + x))
                .collect();
            if cells.iter().any(|&c| taken[c]) {
                continue;
            }
            let mut mask = vec![0f32; n * n];
            for &c in &cells {
                taken[c] = true;
                let (gx, gy) = (c % side, c / side);
                for y in gy * patch..(gy + 1) * patch {
                    for x in gx * patch..(gx + 1) * patch {
                        img.put_pixel(x as u32, y as u32, image::Rgb(PALETTE[e]));
                        mask[y * n + x] = 1.0;
                    }
                }
            }
            out.push((EMOTIONS[e], mask));
            break;
        }
    }
    (img, out)
}

fn synthetic(n: usize, seed: u64, tower: &PatchColourGrid, dev: &Device) -> Vec<TrainItem> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let (img, masks) = painted(&mut rng, tower.side, tower.patch);
            TrainItem {
                features: ImageFeatures::Grid {
                    grid: tower
                        .encode(&image::DynamicImage::ImageRgb8(img), dev)
                        .unwrap(),
                },
                targets: masks
                    .into_iter()
                    .map(|(emotion, mask)| Target {
                        emotion,
                        mask,
                        tokens: Vec::new(),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn mean_iou(model: &Emosem, items: &[TrainItem]) -> f64 {
    let mut ious = Vec::new();
    for it in items {
        let emotions: Vec<Emotion> = it.targets.iter().map(|t| t.emotion).collect();
        let v = model.vision_tokens(&it.features).unwrap();
        let q: Vec<Query> = emotions
            .iter()
            .map(|&emotion| Query { image: 0, emotion })
            .collect();
        let d = model.decode(&v, &q, Mode::Infer).unwrap();
        for (j, t) in it.targets.iter().enumerate() {
            let l: Vec<f32> = d
                .masks
                .i(j)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let (mut inter, mut uni) = (0usize, 0usize);
            for (p, g) in l.iter().zip(&t.mask) {
                let (p, g) = (*p > 0.0, *g > 0.5);
                inter += (p && g) as usize;
                uni += (p || g) as usize;
            }
            ious.push(inter as f64 / uni.max(1) as f64);
        }
    }
    ious.iter().sum::<f64>() / ious.len() as f64
}

fn learn(paradigm: Paradigm, steps: usize) -> (f64, f64, super::train::TrainReport) {
    let dev = Device::Cpu;
    let tower = PatchColourGrid { side: 8, patch: 4 };
    let cfg = tiny(paradigm, 8, PatchColourGrid::DIM);
    let data = synthetic(48, 7, &tower, &dev);
    let held_out = synthetic(16, 99, &tower, &dev);
    let vm = VarMap::new();
    Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap();
    crate::models::nn::reseed(&vm, 3).unwrap();
    let before = mean_iou(
        &Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap(),
        &held_out,
    );
    let tc = TrainConfig {
        steps,
        batch_images: 8,
        lr_mask: Some(3e-3),
        warmup: 10,
        ..Default::default()
    };
    let calls = std::cell::Cell::new(0);
    let report = train(
        &cfg,
        &vm,
        fake_prompts(),
        &data,
        &tc,
        &dev,
        &crate::progress::FnProgress::new(|_, _| calls.set(calls.get() + 1)),
    )
    .unwrap();
    assert_eq!(calls.get(), steps);
    let model = Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap();
    (before, mean_iou(&model, &held_out), report)
}

#[test]
// About 28 s in the dev profile on 2 cores (300 steps): kept in CI because it is the
// issue's acceptance check (IoU > 0.9 on painted shapes).
fn tiny_single_mask_model_learns_painted_shapes_to_iou_above_0_9() {
    let (before, after, report) = learn(Paradigm::Single, 300);
    assert!(
        after > 0.9,
        "held-out IoU {after:.3} (before training {before:.3}); {report:?}"
    );
    assert!(report.last_mask_loss < report.first_mask_loss);
}

#[test]
fn tiny_multi_masks_model_learns_painted_shapes() {
    let (before, after, report) = learn(Paradigm::Multi, 150);
    assert!(
        after > 0.8 && after > before + 0.3,
        "held-out IoU {after:.3} (before training {before:.3}); {report:?}"
    );
}

#[test]
fn fast_single_mask_learning_improves_held_out_iou() {
    let (before, after, report) = learn(Paradigm::Single, 40);
    assert!(
        after > before + 0.2 && report.last_mask_loss < report.first_mask_loss,
        "held-out IoU {after:.3} (before training {before:.3}); {report:?}"
    );
}

#[test]
fn fast_multi_masks_learning_improves_held_out_iou() {
    let (before, after, report) = learn(Paradigm::Multi, 80);
    assert!(
        after > before + 0.2 && report.last_mask_loss < report.first_mask_loss,
        "held-out IoU {after:.3} (before training {before:.3}); {report:?}"
    );
}

#[test]
fn training_stops_when_cancelled() {
    let dev = Device::Cpu;
    let tower = PatchColourGrid { side: 8, patch: 4 };
    let cfg = tiny(Paradigm::Single, 8, PatchColourGrid::DIM);
    let data = synthetic(2, 1, &tower, &dev);
    let vm = VarMap::new();
    let n = std::cell::Cell::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let progress = crate::progress::FnProgress::with_cancel(
        |_, _| {
            n.set(n.get() + 1);
            if n.get() >= 3 {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        &stop,
    );
    let r = train(
        &cfg,
        &vm,
        fake_prompts(),
        &data,
        &TrainConfig {
            steps: 50,
            batch_images: 1,
            ..Default::default()
        },
        &dev,
        &progress,
    );
    assert!(matches!(r, Err(Error::Cancelled)));
    assert_eq!(n.get(), 3);
}

#[test]
fn saved_model_loads_and_the_analysis_job_writes_every_output() {
    let Some(assets) = crate::find_assets() else {
        panic!("assets/ not found");
    };
    let dev = Device::Cpu;
    let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
    let cfg = tiny(Paradigm::Multi, 4, PatchColourGrid::DIM);
    let ids = prompt_ids(&cfg, &tok).unwrap();
    assert!(ids.iter().all(|p| p.len() >= 7));
    let vm = VarMap::new();
    let m = Emosem::from_varmap(&cfg, &vm, ids.clone(), &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("model");
    save(&model_dir, &cfg, &vm).unwrap();
    let loaded = Emosem::load(&model_dir, &tok, &dev).unwrap();
    assert_eq!(loaded.config(), &cfg);
    let f = grid(1, 4, PatchColourGrid::DIM, &dev);
    let (a, ia) = m.analyze(&f, &EMOTIONS).unwrap();
    let (b, ib) = loaded.analyze(&f, &EMOTIONS).unwrap();
    let diff = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-5, "{diff}");
    assert_eq!(ia, ib);

    // The job: a 100x60 painting, all eight emotions, streamed and written.
    let img_path = dir.path().join("p7.png");
    image::RgbImage::from_fn(100, 60, |x, y| image::Rgb([x as u8, y as u8, 90]))
        .save(&img_path)
        .unwrap();
    let out = dir.path().join("out");
    let mut streamed = Vec::new();
    let a = analyze::analyze(
        analyze::AnalyzeRequest {
            model: model_dir.clone(),
            image: img_path,
            emotions: Vec::new(),
            out: Some(out.clone()),
            assets: assets.clone(),
            models: dir.path().to_path_buf(),
            cache: None,
            tower: None,
            decoding: None,
        },
        &dev,
        &crate::progress::Silent,
        |r| streamed.push(r.emotion),
    )
    .unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap())
            .unwrap();
    assert_eq!(written["decoding"], "greedy");
    assert_eq!(streamed, EMOTIONS.to_vec());
    assert_eq!(a.results.len(), 8);
    for r in &a.results {
        assert_eq!((r.probability.width, r.probability.height), (100, 60));
        assert_eq!((r.mask.width, r.mask.height), (100, 60));
    }
    let w = a.written.unwrap();
    assert_eq!(w.score_maps.len(), 8);
    assert!(out.join("npy/p7_awe.npy").is_file());
    assert!(out.join("masks/p7_sadness.png").is_file());
    assert!(out.join("dominant.png").is_file());
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap())
            .unwrap();
    assert_eq!(j["emotions"].as_array().unwrap().len(), 8);
}

#[test]
fn pretrained_sam_and_gpt2_tensors_initialise_the_right_variables() {
    let dev = Device::Cpu;
    let cfg = tiny(Paradigm::Multi, 4, 8);
    // A "SAM checkpoint": the decoder and prompt encoder of another random model.
    let src = VarMap::new();
    Emosem::new(
        &cfg,
        VarBuilder::from_varmap(&src, DType::F32, &dev),
        fake_prompts(),
    )
    .unwrap();
    let mut sam = std::collections::HashMap::new();
    let mut gpt = std::collections::HashMap::new();
    for (k, v) in src.data().lock().unwrap().iter() {
        if k.starts_with("mask_decoder.") || k.starts_with("prompt_encoder.") {
            sam.insert(k.clone(), v.as_tensor().clone());
        }
        if let Some(rest) = k.strip_prefix("explainer.") {
            gpt.insert(rest.to_string(), v.as_tensor().clone());
        }
    }
    sam.insert(
        "image_encoder.neck.0.weight".into(),
        Tensor::zeros(3, DType::F32, &dev).unwrap(),
    );
    let vm = VarMap::new();
    Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap();
    let loaded = init_from_pretrained(
        &cfg,
        &vm,
        Some(&Weights::from_tensors(sam.clone(), "sam.safetensors")),
        Some(&Weights::from_tensors(gpt, "gpt2.safetensors")),
    )
    .unwrap();
    let data = vm.data().lock().unwrap();
    let same = |a: &Tensor, b: &Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            == 0.0
    };
    let src = src.data().lock().unwrap();
    for (k, v) in data.iter() {
        let expected_loaded = k.starts_with("mask_decoder.")
            || k.starts_with("prompt_encoder.")
            || k.starts_with("explainer.")
            || k.starts_with("mask_head.")
            || k == "mask_tokens.weight";
        assert_eq!(loaded.contains(k), expected_loaded, "{k}");
        if k.starts_with("mask_decoder.") || k.starts_with("explainer.") {
            assert!(same(v.as_tensor(), src[k].as_tensor()), "{k}");
        }
    }
    // Every emotion's hypernetwork starts as SAM's hypernetwork 0.
    let h0 = &sam["mask_decoder.output_hypernetworks_mlps.0.layers.2.weight"];
    assert!(same(
        data["mask_head.hypernetworks.7.layers.2.weight"].as_tensor(),
        h0
    ));
}

#[test]
fn stimulus_training_data_comes_from_the_shipped_annotations() {
    let assets = crate::find_assets().expect("assets/");
    let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
    let split = crate::annotations::artemis::Split::Train;
    let full = train::load_stimuli(&assets, Some(split), 56, |_, _| (1.0, 1.0), &tok).unwrap();
    assert!(full.len() > 50, "{} paintings", full.len());
    for ex in &full {
        assert!(ex.image.is_file());
        for t in &ex.targets {
            assert_eq!(t.mask.len(), 56 * 56);
            assert!(t.mask.contains(&1.0), "{} {:?}", ex.painting, t.emotion);
            assert!(!t.tokens.is_empty() && t.emotion != Emotion::SomethingElse);
        }
    }
    // SAM's frame: the image covers the top half; nothing is drawn below it.
    let padded = train::load_stimuli(&assets, Some(split), 56, |_, _| (0.5, 1.0), &tok).unwrap();
    let t = &padded[0].targets[0];
    assert!(t.mask[28 * 56..].iter().all(|&v| v == 0.0));
    assert!(t.mask[..28 * 56].contains(&1.0));
}

#[test]
fn nucleus_explanations_are_seeded_and_top_p_zero_is_greedy() {
    let dev = Device::Cpu;
    let cfg = tiny(Paradigm::Multi, 4, 8);
    assert_eq!(cfg.decoding, Decoding::Greedy);
    let vm = VarMap::new();
    let m = Emosem::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        fake_prompts(),
    )
    .unwrap();
    let f = grid(1, 4, 8, &dev);
    let nucleus = |top_p: f32, seed: u64| Decoding::Nucleus {
        top_p,
        temperature: 1.0,
        seed,
    };
    let run = |d: Decoding| m.analyze_with(&f, &EMOTIONS, d).unwrap().1;
    // Seeded runs are reproducible; another seed samples other explanations.
    let a = run(nucleus(0.9, 7));
    assert_eq!(a, run(nucleus(0.9, 7)));
    assert_ne!(a, run(nucleus(0.9, 8)));
    // Each emotion samples on its own stream: the eight explanations are not one sample.
    assert!(a.iter().any(|x| x != &a[0]));
    // Issue 22: the shared memory row (cross-attention keys and values once for the
    // eight explanations) gives what one copy of it per explanation gives.
    let v = m.vision_tokens(&f).unwrap();
    let queries = Query::every_emotion(0);
    let d = m.decode(&v, &queries, Mode::Infer).unwrap();
    let mem = m.memory(&f).unwrap();
    let copies = mem
        .broadcast_as((queries.len(), mem.dim(1).unwrap(), mem.dim(2).unwrap()))
        .unwrap()
        .contiguous()
        .unwrap();
    let streams: Vec<u64> = EMOTIONS.iter().map(|e| e.index() as u64).collect();
    for dec in [Decoding::Greedy, nucleus(0.9, 7)] {
        assert_eq!(
            m.explain_with(&d.prefixes, &copies, &streams, dec).unwrap(),
            run(dec)
        );
    }
    // top_p -> 0 keeps only the most likely token: greedy, with and without blocking.
    let greedy = run(Decoding::Greedy);
    assert_eq!(run(nucleus(0.0, 3)), greedy);
    assert_eq!(m.analyze(&f, &EMOTIONS).unwrap().1, greedy);
    // The paper preset samples with p = 0.9 (the paper's setting); a configuration written
    // before the option existed decodes greedily.
    assert_eq!(
        EmosemConfig::paper(Paradigm::Single).decoding,
        Decoding::paper_nucleus(0)
    );
    let mut json = serde_json::to_value(EmosemConfig::paper(Paradigm::Single)).unwrap();
    json.as_object_mut().unwrap().remove("decoding");
    let old: EmosemConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.decoding, Decoding::Greedy);
}

/// The kit's rehearsal ([`language::Rehearsal`]) adds its texts' language loss to a step:
/// from the same start, one step with and one without it move the explainer and the
/// emotion embeddings differently and leave every mask-side variable bit-identical
/// (no clipping, whose global norm would couple them).
#[test]
fn rehearsal_moves_only_the_explainer_and_the_emotion_embeddings() {
    use super::language::{LanguageText, Rehearsal};
    use super::train::Trainer;
    let dev = Device::Cpu;
    let assets = crate::find_assets().expect("assets");
    let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
    let cfg = tiny(Paradigm::Multi, 4, 8);
    let fresh = || {
        let vm = VarMap::new();
        Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap();
        crate::models::nn::reseed(&vm, 3).unwrap();
        install_emotion_prefix(&cfg, &vm, &tok).unwrap();
        let model = Emosem::from_varmap(&cfg, &vm, fake_prompts(), &dev).unwrap();
        (vm, model)
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let items: Vec<TrainItem> = (0..2)
        .map(|_| TrainItem {
            features: grid(1, 4, 8, &dev),
            targets: vec![Target {
                emotion: Emotion::Awe,
                mask: (0..256).map(|_| rng.gen_range(0..2) as f32).collect(),
                tokens: vec![40, 588, 262, 7577],
            }],
        })
        .collect();
    let tc = train::TrainConfig {
        steps: 1,
        batch_images: 2,
        clip: None,
        warmup: 0,
        ..Default::default()
    };
    let texts = vec![LanguageText {
        emotion: Emotion::Anger,
        tokens: tok.encode("This makes me so angry.").unwrap(),
    }];
    let (vm_a, model_a) = fresh();
    let mut plain = Trainer::new(&cfg, &vm_a, &tc).unwrap();
    plain.step(&model_a, &items).unwrap();
    let (vm_b, model_b) = fresh();
    let mut rehearsed = Trainer::new(&cfg, &vm_b, &tc)
        .unwrap()
        .with_rehearsal(Rehearsal::new(texts, 4, 1), &vm_b);
    rehearsed.step(&model_b, &items).unwrap();
    let (a, b) = (var_values(&vm_a), var_values(&vm_b));
    let mut moved = Vec::new();
    for (name, va) in &a {
        if va != &b[name] {
            moved.push(name.clone());
        }
    }
    assert!(!moved.is_empty());
    for name in &moved {
        assert!(
            name.starts_with("explainer.") || name == EMOTION_PREFIX,
            "rehearsal moved {name}"
        );
    }
    assert!(moved.iter().any(|n| n == EMOTION_PREFIX));
}

/// A model of `cfg` on the CPU with seeded variables.
fn seeded_model(cfg: &EmosemConfig, seed: u64) -> (VarMap, Emosem) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let m = Emosem::new(cfg, vb, fake_prompts()).unwrap();
    crate::models::nn::reseed(&vm, seed).unwrap();
    (vm, m)
}
