//! Tests of EmoSEM's paper-layout training: missing weights named, gradient accumulation
//! against one batch, a tiny real-layout model learning with frozen parts kept and a
//! checkpoint reloading to the same masks, MobileSAM in place of SAM ViT-B.

use super::*;
use crate::emosem::features::{ImageEncoder, ImageFeatures};
use crate::emosem::train::{accumulate_gradients, Target, TrainItem, Trainer};
use crate::emosem::{Query, EMOTIONS};
use crate::emotion::Emotion;
use crate::models::nn::Mode;
use candle_core::Tensor;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/parity")
        .join(p)
}

/// A tiny random GPT-2 with GPT-2's vocabulary (the explainer decodes BPE ids).
pub(crate) fn tiny_gpt2() -> Gpt2Config {
    Gpt2Config {
        n_positions: 40,
        n_embd: 16,
        n_layer: 1,
        n_head: 2,
        ..Gpt2Config::distilgpt2(false)
    }
}

#[test]
fn missing_weights_are_refused_by_name_with_how_to_get_them() {
    let tmp = tempfile::tempdir().unwrap();
    let given = PaperPaths {
        sam: Some(tmp.path().join("no-sam")),
        clip: Some(tmp.path().join("no-clip")),
        gpt2: Some(tmp.path().join("no-gpt2")),
    };
    let e = locate(&given, tmp.path()).unwrap_err().to_string();
    for what in [
        "SAM ViT-B",
        "CLIP ViT-B/16",
        "GPT-2",
        "no-sam",
        "--clip",
        "--gpt2",
    ] {
        assert!(e.contains(what), "{what}: {e}");
    }
    // Nothing given: each part not installed anywhere is named with its download.
    let miss = missing(&PaperPaths::default(), tmp.path()).join("\n");
    for (part, cmd) in [
        (&SAM_PART, "artemo models download sam-vit-b"),
        (&CLIP_PART, "artemo models download clip-b16"),
        (&GPT2_PART, "artemo models download distilgpt2"),
    ] {
        if installed(part, tmp.path()).is_none() {
            assert!(miss.contains(part.what) && miss.contains(cmd), "{miss}");
        }
    }
}

#[test]
fn accumulating_four_micro_batches_of_one_equals_one_batch_of_four() {
    let dev = Device::Cpu;
    let cfg = crate::emosem::tests::tiny(Paradigm::Single, 4, 8);
    let vm = VarMap::new();
    Emosem::from_varmap(&cfg, &vm, crate::emosem::tests::fake_prompts(), &dev).unwrap();
    crate::models::nn::reseed(&vm, 5).unwrap();
    let model = Emosem::from_varmap(&cfg, &vm, crate::emosem::tests::fake_prompts(), &dev).unwrap();
    let side = cfg.mask_side();
    let items: Vec<TrainItem> = (0..4)
        .map(|i| TrainItem {
            features: ImageFeatures::Grid {
                grid: Tensor::randn(0f32, 1.0, (1, 16, 8), &dev).unwrap(),
            },
            targets: vec![Target {
                emotion: EMOTIONS[i],
                mask: (0..side * side)
                    .map(|p| ((p % side) < side / 2 + i) as u8 as f32)
                    .collect(),
                // Equal lengths: the explanation loss is a mean over tokens.
                tokens: vec![100 + i as u32, 7, 9],
            }],
        })
        .collect();
    let vars = crate::train::vars_with_prefix(&vm, &cfg.trainable_prefixes());
    let all: Vec<&TrainItem> = items.iter().collect();
    let one = accumulate_gradients(&model, std::slice::from_ref(&all), &vars, 1.0).unwrap();
    let micro: Vec<Vec<&TrainItem>> = all.iter().map(|i| vec![*i]).collect();
    let four = accumulate_gradients(&model, &micro, &vars, 1.0).unwrap();
    assert!((one.mask_loss - four.mask_loss).abs() < 1e-5);
    assert!((one.lm_loss - four.lm_loss).abs() < 1e-5);
    let mut compared = 0;
    for v in &vars {
        let (Some(a), Some(b)) = (one.grads.get(v.as_tensor()), four.grads.get(v.as_tensor()))
        else {
            assert!(one.grads.get(v.as_tensor()).is_none());
            assert!(four.grads.get(v.as_tensor()).is_none());
            continue;
        };
        let scale = a
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let diff = crate::models::tests::max_diff(a, b);
        assert!(diff <= 1e-5 * scale.max(1e-3), "{diff} vs {scale}");
        compared += 1;
    }
    assert!(compared > 10, "{compared} gradients compared");
}

/// A 32 x 32 picture: dark, with a bright 16 x 16 square at (`x`, `y`).
fn square(path: &Path, x: u32, y: u32) {
    image::RgbImage::from_fn(32, 32, |px, py| {
        let inside = (x..x + 16).contains(&px) && (y..y + 16).contains(&py);
        if inside {
            image::Rgb([240, 220, 60])
        } else {
            image::Rgb([20, 30, 60 + (px as u8)])
        }
    })
    .save(path)
    .unwrap();
}

fn mean_iou(model: &Emosem, items: &[TrainItem]) -> f64 {
    let mut sum = 0.0;
    for it in items {
        let vision = model.vision_tokens(&it.features).unwrap();
        let q = [Query {
            image: 0,
            emotion: it.targets[0].emotion,
        }];
        let d = model.decode(&vision, &q, Mode::Infer).unwrap();
        let logits: Vec<f32> = d.masks.flatten_all().unwrap().to_vec1().unwrap();
        let (mut inter, mut union) = (0f64, 0f64);
        for (l, t) in logits.iter().zip(&it.targets[0].mask) {
            let (p, t) = (*l > 0.0, *t > 0.5);
            inter += (p && t) as u8 as f64;
            union += (p || t) as u8 as f64;
        }
        sum += if union > 0.0 { inter / union } else { 1.0 };
    }
    sum / items.len() as f64
}

/// Reference for the layout: the paper's Sec. 4.1 (SAM encoder and feature mixer
/// frozen, FT-MH) over real-layout checkpoints: the parity fixtures' tiny random SAM
/// (`tests/fixtures/parity/sam/hf`, HF `SamModel`) and CLIP (`.../clip`, HF
/// `CLIPModel`), and a random GPT-2 written by [`write_random_gpt2`].
#[test]
fn a_tiny_paper_layout_learns_keeps_its_frozen_parts_and_reloads() {
    let dev = Device::Cpu;
    let tmp = tempfile::tempdir().unwrap();
    let assets = crate::find_assets().expect("assets");
    let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
    write_random_gpt2(&tmp.path().join("gpt2"), &tiny_gpt2(), 3).unwrap();
    let weights = locate(
        &PaperPaths {
            sam: Some(fixture("sam/hf")),
            clip: Some(fixture("clip")),
            gpt2: Some(tmp.path().join("gpt2")),
        },
        tmp.path(),
    )
    .unwrap();
    let source = ImageSource::Paper {
        sam: weights.sam.to_string_lossy().into_owned(),
        clip: weights.clip.to_string_lossy().into_owned(),
    };
    let cache = tmp.path().join("cache");
    let encoder = ImageEncoder::open(&source, tmp.path(), Some(&cache), &dev).unwrap();
    let ImageEncoder::Paper { clip, .. } = &encoder else {
        panic!("paper encoder expected")
    };
    let parts = PaperParts::load(weights, clip.config().hidden_size, &dev).unwrap();
    let (model, vm, cfg) = parts
        .build(Paradigm::Single, Finetune::MaskHead, 11, &tok, &dev)
        .unwrap();
    assert_eq!(cfg.mask_side(), 16);
    assert!(cfg.trainable_only);

    // Six pictures, each with its bright square as an "awe" region.
    let spots = [(0, 0), (16, 0), (0, 16), (16, 16), (8, 8), (16, 8)];
    let mut items = Vec::new();
    for (i, (x, y)) in spots.iter().enumerate() {
        let p = tmp.path().join(format!("p{i}.png"));
        square(&p, *x, *y);
        let features = encoder.encode_file(&p, &dev).unwrap();
        let mask = (0..16 * 16)
            .map(|k| {
                let (cx, cy) = ((k % 16) as u32 * 2, (k / 16) as u32 * 2);
                ((*x..x + 16).contains(&cx) && (*y..y + 16).contains(&cy)) as u8 as f32
            })
            .collect();
        items.push(TrainItem {
            features,
            targets: vec![Target {
                emotion: Emotion::Awe,
                mask,
                tokens: tok.encode("a bright square").unwrap(),
            }],
        });
    }
    // Each image was encoded once and is read back from the cache.
    let entries = |tag: &str| {
        walk(&cache.join(tag))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "emb"))
            .count()
    };
    assert_eq!(entries("emosem-sam-1024"), spots.len());
    assert_eq!(entries("emosem-clip-grid-224"), spots.len());
    let again = encoder
        .encode_file(&tmp.path().join("p0.png"), &dev)
        .unwrap();
    let (ImageFeatures::Paper { sam: a, .. }, ImageFeatures::Paper { sam: b, .. }) =
        (&again, &items[0].features)
    else {
        panic!("paper features expected")
    };
    assert_eq!(crate::models::tests::max_diff(a, b), 0.0);
    assert_eq!(entries("emosem-sam-1024"), spots.len());

    // Nothing of SAM's image encoder or of CLIP is a variable; the frozen ones are
    // SAM's prompt encoder and mask decoder outside the mask head.
    let frozen: Vec<(String, Vec<f32>)> = {
        let data = vm.data().lock().unwrap();
        assert!(data
            .keys()
            .all(|k| !k.starts_with("image_encoder.") && !k.starts_with("vision_model.")));
        let mut f: Vec<_> = data
            .iter()
            .filter(|(k, _)| !cfg.is_trainable(k))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
                )
            })
            .collect();
        f.sort_by(|a, b| a.0.cmp(&b.0));
        f
    };
    assert!(frozen
        .iter()
        .any(|(k, _)| k.starts_with("mask_decoder.transformer.layers.0.")));
    assert!(frozen.iter().any(|(k, _)| k.starts_with("prompt_encoder.")));

    let before = mean_iou(&model, &items);
    let tc = TrainConfig {
        steps: 40,
        batch_images: 2,
        accumulate: 2,
        lr_mask: Some(5e-3),
        lr_explainer: 1e-3,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&cfg, &vm, &tc).unwrap();
    let mut losses = Vec::new();
    while trainer.has_next() {
        losses.push(trainer.step(&model, &items).unwrap().mask_loss);
    }
    let head: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let tail: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    assert!(tail < head * 0.9, "mask loss {head} -> {tail}");
    let after = mean_iou(&model, &items);
    assert!(after > before + 0.2, "IoU {before} -> {after}");
    {
        let data = vm.data().lock().unwrap();
        for (k, v) in &frozen {
            let now: Vec<f32> = data[k]
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(
                now.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{k} changed"
            );
        }
    }

    // The checkpoint holds the trainable variables only and reloads to the same masks.
    let dir = tmp.path().join("ckpt");
    crate::emosem::save(&dir, &cfg, &vm).unwrap();
    let saved = Weights::load(&dir.join("model.safetensors"), &dev).unwrap();
    assert!(saved.names().iter().all(|k| cfg.is_trainable(k)));
    assert!(saved.contains("mask_head.hypernetworks.0.layers.0.weight"));
    let loaded = Emosem::load(&dir, &tok, &dev).unwrap();
    for it in &items {
        let q = [Query {
            image: 0,
            emotion: Emotion::Awe,
        }];
        let m0 = model
            .decode(&model.vision_tokens(&it.features).unwrap(), &q, Mode::Infer)
            .unwrap();
        let m1 = loaded
            .decode(
                &loaded.vision_tokens(&it.features).unwrap(),
                &q,
                Mode::Infer,
            )
            .unwrap();
        assert_eq!(crate::models::tests::max_diff(&m0.masks, &m1.masks), 0.0);
    }
    // A checkpoint whose SAM is gone is refused by name.
    let mut moved = cfg.clone();
    moved.image = ImageSource::Paper {
        sam: tmp.path().join("gone").to_string_lossy().into_owned(),
        clip: String::new(),
    };
    moved.save(&dir.join("config.json")).unwrap();
    let e = Emosem::load(&dir, &tok, &dev).unwrap_err().to_string();
    assert!(e.contains("gone"), "{e}");
}

/// MobileSAM (FAIR layout, TinyViT encoder, no `config.json`: the parity fixture
/// `tests/fixtures/parity/sam/mobilesam`) stands in for SAM ViT-B.
#[test]
fn mobilesam_builds_the_paper_layout_and_takes_a_step() {
    let dev = Device::Cpu;
    let tmp = tempfile::tempdir().unwrap();
    let tok = TextTokenizer::gpt2_from_assets(&crate::find_assets().unwrap()).unwrap();
    write_random_gpt2(&tmp.path().join("gpt2"), &tiny_gpt2(), 4).unwrap();
    let weights = locate(
        &PaperPaths {
            sam: Some(fixture("sam/mobilesam")),
            clip: Some(fixture("clip")),
            gpt2: Some(tmp.path().join("gpt2")),
        },
        tmp.path(),
    )
    .unwrap();
    let source = ImageSource::Paper {
        sam: weights.sam.to_string_lossy().into_owned(),
        clip: weights.clip.to_string_lossy().into_owned(),
    };
    let encoder = ImageEncoder::open(&source, tmp.path(), None, &dev).unwrap();
    let parts = PaperParts::load(weights, 32, &dev).unwrap();
    let (model, vm, cfg) = parts
        .build(Paradigm::Multi, Finetune::MaskDecoder, 1, &tok, &dev)
        .unwrap();
    let p = tmp.path().join("p.png");
    square(&p, 8, 8);
    let side = cfg.mask_side();
    let item = TrainItem {
        features: encoder.encode_file(&p, &dev).unwrap(),
        targets: vec![Target {
            emotion: Emotion::Fear,
            mask: (0..side * side)
                .map(|k| (k % 3 == 0) as u8 as f32)
                .collect(),
            tokens: Vec::new(),
        }],
    };
    let mut trainer = Trainer::new(&cfg, &vm, &TrainConfig::default()).unwrap();
    let s = trainer.step(&model, std::slice::from_ref(&item)).unwrap();
    assert!(s.mask_loss.is_finite() && s.mask_loss > 0.0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
