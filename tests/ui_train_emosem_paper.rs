//! The Train tab's EmoSEM paper layout (egui_kittest): chosen through the form's radio
//! button it takes the paper's defaults (Single-Mask, FT-MH, 4 images x 4 accumulation
//! steps, 10 epochs), names each missing weight with how to get it, blocks Start and
//! offers the Models tab; with real-layout checkpoints given (the parity fixtures' tiny
//! random HF SAM and CLIP, `tests/fixtures/parity/{sam/hf,clip}`, and a random GPT-2 with
//! GPT-2's vocabulary) the "CPU recipe" button sets its small recipe, and a tiny run on
//! the shipped stimulus regions trains through the panel with live curves: the mask loss
//! falls, the checkpoint keeps only the trainable variables and goes to the Painting tab.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artemo::gui::panels::train::{MaskModel, Trainee};
use artemo::gui::{ArtemoApp, Tab};
use artemo_engine::emosem::paper_train::{write_random_gpt2, CLIP_PART, GPT2_PART, SAM_PART};
use artemo_engine::emosem::{Finetune, Paradigm};
use artemo_engine::models::gpt2::Gpt2Config;
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn harness() -> Harness<'static, ArtemoApp> {
    common::hermetic_user_data();
    let ctx = egui::Context::default();
    let app = ArtemoApp::new(
        &ctx,
        None,
        Some(PathBuf::from("assets/paintings/aic/paintings.csv")),
        EngineConfig {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("app");
    let mut h = Harness::builder()
        .with_size(egui::vec2(1360.0, 1100.0))
        // The random GPT-2 explains in arbitrary byte-level tokens (U+FFFD, any script):
        // drawn as tofu, as the app does (egui's default policy), not a test failure.
        .allow_missing_glyphs()
        .build_ui_state(|ui, app: &mut ArtemoApp| app.frame(ui), app);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num5);
    h.run_steps(3);
    h
}

fn tensor_names(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

#[test]
fn train_tab_paper_layout_names_missing_weights_then_trains_a_tiny_model() {
    let mut h = harness();
    h.get_by_label("EmoSEM: stimulus masks and their explanations")
        .click();
    h.run_steps(2);
    h.get_by_label("EmoSEM paper layout (SAM + CLIP ViT-B/16 + GPT-2)")
        .click();
    h.run_steps(2);
    {
        let p = h.state_mut().train_panel();
        assert_eq!(p.trainee, Trainee::Emosem);
        let f = &p.mask_form;
        assert_eq!(f.model, MaskModel::Paper);
        assert_eq!(
            (f.paradigm, f.finetune),
            (Paradigm::Single, Finetune::MaskHead)
        );
        assert_eq!(
            (f.train.batch_images, f.train.accumulate, f.train.epochs),
            (4, 4, Some(10))
        );
    }
    for label in [
        "Single-Mask",
        "Multi-Masks",
        "FT-MH: mask head only",
        "FT-MD: whole mask decoder",
        "Accumulation steps",
        "CPU recipe",
    ] {
        assert!(h.query_by_label(label).is_some(), "{label}");
    }
    // Nothing installed (a fresh user data folder, the shipped models folder): each part
    // is named with how to get it, Start is blocked and the Models tab is offered.
    for part in [&SAM_PART, &CLIP_PART, &GPT2_PART] {
        let missing = format!("missing: {}", part.how_to_get());
        assert!(h.query_by_label(&missing).is_some(), "{missing}");
    }
    assert!(h
        .query_by_label_contains("needs weights that are missing")
        .is_some());
    h.get_by_label("Start").click();
    h.run_steps(2);
    assert!(!h.state_mut().train_panel().running());
    h.get_by_label("Get the missing weights in the Models tab")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().tab(), Tab::Models);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num5);
    h.run_steps(2);

    // Real-layout checkpoints given in the form.
    let tmp = tempfile::tempdir().unwrap();
    let gpt2 = tmp.path().join("gpt2");
    let gcfg = Gpt2Config {
        n_positions: 40,
        n_embd: 16,
        n_layer: 1,
        n_head: 2,
        ..Gpt2Config::distilgpt2(false)
    };
    write_random_gpt2(&gpt2, &gcfg, 3).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    {
        let f = &mut h.state_mut().train_panel().mask_form;
        f.sam = fixtures.join("sam/hf").display().to_string();
        f.clip = fixtures.join("clip").display().to_string();
        f.gpt2 = gpt2.display().to_string();
    }
    h.run_steps(2);
    assert!(h
        .query_by_label_contains("needs weights that are missing")
        .is_none());
    h.get_by_label("CPU recipe").click();
    h.run_steps(2);
    assert!(h
        .query_by_label_contains("CPU recipe: 1 image x 2")
        .is_some());
    let out = tmp.path().join("run");
    {
        let f = &mut h.state_mut().train_panel().mask_form;
        assert_eq!(
            (
                f.train.batch_images,
                f.train.accumulate,
                f.train.steps,
                f.train.epochs
            ),
            (1, 2, 60, None)
        );
        // Tiny: 12 steps of 2 images x 2, a high learning rate.
        f.settings.max_paintings = 4;
        f.train.steps = 12;
        f.train.batch_images = 2;
        f.lr_mask = 1e-2;
        f.train.lr_explainer = 1e-3;
        f.settings.eval_every = 6;
        f.settings.probes = 1;
        f.settings.keep = 2;
        f.settings.out = out.display().to_string();
    }
    h.run_steps(2);
    h.get_by_label("Start").click();
    h.run_steps(2);
    assert!(h.state_mut().train_panel().running());
    let t0 = Instant::now();
    loop {
        let p = h.state_mut().train_panel();
        if p.summary().is_some() || p.error().is_some() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the run did not end"
        );
        std::thread::sleep(Duration::from_millis(15));
        h.step();
    }
    let p = h.state_mut().train_panel();
    assert_eq!(p.error(), None);
    let s = p.summary().unwrap().clone();
    assert_eq!((s.steps, s.total_steps, s.evaluations), (12, 12, 2));
    let setup = p.mask_setup().unwrap();
    assert!(
        setup.contains("paper layout") && setup.contains("FT-MH"),
        "{setup}"
    );
    assert!(
        setup.contains("2 image(s) per step x 2 accumulation step(s)"),
        "{setup}"
    );
    let losses = p.mask_losses();
    assert_eq!(losses.len(), 12);
    let head: f64 = losses[..4].iter().sum::<f64>() / 4.0;
    let tail: f64 = losses[8..].iter().sum::<f64>() / 4.0;
    assert!(tail < head, "mask loss {head} -> {tail}");
    let best = s.checkpoints.iter().find(|c| c.best).unwrap();
    let names = tensor_names(&best.dir.join("model.safetensors"));
    assert!(names.iter().any(|n| n.starts_with("mask_head.")));
    assert!(!names
        .iter()
        .any(|n| n.starts_with("prompt_encoder.") || n.starts_with("mask_decoder.transformer.")));
    h.run_steps(2);
    assert!(h.query_by_label("Checkpoints").is_some());
    h.get_all_by_label("Use in Painting tab")
        .next()
        .expect("a Use button")
        .click();
    h.run_steps(2);
    let used = h.state_mut().mask_weights().map(|p| p.to_path_buf());
    assert!(
        s.checkpoints.iter().any(|c| Some(&c.dir) == used.as_ref()),
        "{used:?}"
    );
}
