//! What the UI tests on the shipped collection share: a tiny seeded EmoSEM written to a
//! models folder, the app harness, and stepping until something shows.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artemo::gui::ArtemoApp;
use artemo_engine::emosem::features::PatchColourGrid;
use artemo_engine::emosem::view::write_initial_model;
use artemo_engine::emosem::{EmosemConfig, Paradigm};
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

/// The harness over the app.
pub type H<'a> = Harness<'a, Option<ArtemoApp>>;

/// A models folder holding only a tiny (untrained, seeded) EmoSEM, where the demo kit
/// would install it.
pub fn tiny_emosem(root: &Path) {
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

/// The app on the shipped collection (one compute thread, no frame-time readout),
/// rendered with wgpu at `size`. The models folder is `$ARTEMO_MODELS`, read on the
/// first frame.
pub fn shipped_app(size: [f32; 2]) -> H<'static> {
    app_on(None, size, true)
}

/// The app on `collection` (the shipped one when `None`), one compute thread, no
/// frame-time readout; `wgpu` picks the wgpu renderer explicitly.
pub fn app_on(collection: Option<PathBuf>, size: [f32; 2], wgpu: bool) -> H<'static> {
    let mut b = Harness::builder()
        // A few hundred pixels of antialiasing noise between runs are tolerated.
        .with_options(egui_kittest::SnapshotOptions::new().max_failed_pixels(500))
        .with_size(size);
    if wgpu {
        b = b.wgpu();
    }
    b.build_ui_state(
        move |ui, app: &mut Option<ArtemoApp>| {
            let app = app.get_or_insert_with(|| {
                let cfg = EngineConfig {
                    threads: 1,
                    ..Default::default()
                };
                let mut a = ArtemoApp::new(ui.ctx(), None, collection.clone(), cfg).unwrap();
                // The frame time differs from run to run.
                a.show_frame_time(false);
                a
            });
            app.frame(ui);
        },
        None,
    )
}

/// Steps until a label containing `text` shows, within `secs` seconds.
pub fn wait_label(h: &mut H<'_>, text: &str, secs: u64) {
    let t0 = Instant::now();
    loop {
        h.step();
        if h.query_by_label_contains(text).is_some() {
            h.run_steps(3);
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "`{text}` did not show within {secs}s"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Steps until no thumbnail is being decoded (the status bar's spinner is animated).
pub fn settle(h: &mut H<'_>) {
    let t0 = Instant::now();
    while h.query_by_label_contains("decoding").is_some() && t0.elapsed() < Duration::from_secs(60)
    {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    h.run_steps(2);
}

/// Steps (letting the engine work) until `ok` holds, then three more frames.
pub fn wait_for(h: &mut H<'_>, what: &str, ok: impl Fn(&H<'_>) -> bool) {
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
