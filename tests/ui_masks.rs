//! Snapshot test of the Painting tab's canvas with EmoSEM's masks, on a shipped painting
//! and a tiny seeded (untrained) EmoSEM written to a temporary models folder.

use std::path::Path;
use std::time::{Duration, Instant};

use artemo::gui::ArtemoApp;
use artemo_engine::emosem::features::PatchColourGrid;
use artemo_engine::emosem::view::write_initial_model;
use artemo_engine::emosem::{EmosemConfig, Paradigm};
use artemo_engine::worker::EngineConfig;
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

/// A models folder holding only a tiny EmoSEM (as the demo kit would install it).
pub fn tiny_models(root: &Path) {
    let assets = artemo_engine::find_assets().expect("assets/");
    std::fs::write(root.join("MODELS.toml"), "").unwrap();
    let mut cfg = EmosemConfig::small(
        Paradigm::Multi,
        4,
        PatchColourGrid::DIM,
        PatchColourGrid::NAME,
    );
    cfg.explainer.n_embd = 16;
    cfg.explainer.n_layer = 1;
    cfg.explainer.n_head = 2;
    cfg.prefix_hidden = 16;
    cfg.max_explanation_tokens = 5;
    write_initial_model(&cfg, &assets, &root.join("demo/emosem"), 11).unwrap();
}

fn wait_for(
    h: &mut Harness<'_, Option<ArtemoApp>>,
    what: &str,
    ok: impl Fn(&Harness<'_, Option<ArtemoApp>>) -> bool,
) {
    let start = Instant::now();
    while !ok(h) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_steps(3);
}

#[test]
fn painting_tab_shows_the_eight_masks() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_models(tmp.path());
    // SAFETY of the environment: this test binary holds this one test.
    std::env::set_var("ARTEMO_MODELS", tmp.path());
    std::env::set_var("ARTEMO_REVIEW_DIR", tmp.path().join("review"));
    let mut h = Harness::builder()
        // A few hundred pixels of antialiasing and path-text noise between runs are tolerated.
        .with_options(egui_kittest::SnapshotOptions::new().max_failed_pixels(500))
        .with_size([1100.0, 720.0])
        .wgpu()
        .build_ui_state(
            |ui, app: &mut Option<ArtemoApp>| {
                let app = app.get_or_insert_with(|| {
                    let cfg = EngineConfig {
                        threads: 1,
                        ..Default::default()
                    };
                    let mut a = ArtemoApp::new(ui.ctx(), None, None, cfg).unwrap();
                    // The frame time differs from run to run.
                    a.show_frame_time(false);
                    a
                });
                app.frame(ui);
            },
            None,
        );
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num2);
    wait_for(&mut h, "the painting tab", |h| {
        h.query_by_label_contains("Where the emotions are")
            .is_some()
    });
    h.key_press(Key::M);
    wait_for(&mut h, "eight masks", |h| {
        h.query_all_by_label_contains("of the image").count() == 8
    });
    h.hover_at(egui::pos2(300.0, 360.0));
    h.run_steps(4);
    h.snapshot("painting_masks_all");
    h.get_by_label("Dominant").click();
    h.get_by_label("Contour").click();
    h.run_steps(4);
    h.snapshot("painting_masks_dominant_contour");
    h.get_by_label("Single-Mask").click();
    h.run_steps(4);
    assert_eq!(h.query_all_by_label_contains("of the image").count(), 1);
    // Zoom in deep (nearest filtering) with the keyboard.
    for _ in 0..8 {
        h.key_press(Key::Plus);
    }
    h.run_steps(4);
    h.snapshot("painting_single_mask_zoomed");
}
