//! Snapshot tests of the Models tab: the shipped manifest's entries with their state,
//! licences and what they enable, sha256 verification as an engine job, the demo kit's
//! model card and where each feature looks for weights (the import form: `ui_models_import.rs`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use artemo::gui::ArtemoApp;
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn harness() -> Harness<'static, Option<ArtemoApp>> {
    let path = PathBuf::from("tests/fixtures/map/paintings.csv");
    let cfg = EngineConfig {
        threads: 1,
        ..Default::default()
    };
    Harness::builder()
        // A few hundred pixels of antialiasing and path-text noise between runs are tolerated.
        .with_options(egui_kittest::SnapshotOptions::new().max_failed_pixels(500))
        .with_size([1000.0, 1500.0])
        .build_ui_state(
            move |ui, app: &mut Option<ArtemoApp>| {
                let app = app.get_or_insert_with(|| {
                    let mut a =
                        ArtemoApp::new(ui.ctx(), None, Some(path.clone()), cfg.clone()).unwrap();
                    // The frame time differs from run to run.
                    a.show_frame_time(false);
                    a
                });
                app.frame(ui);
            },
            None,
        )
}

/// Steps until no thumbnail is being decoded (the status bar's spinner is animated).
fn settle(h: &mut Harness<'_, Option<ArtemoApp>>) {
    let t0 = Instant::now();
    while h.query_by_label_contains("decoding").is_some() && t0.elapsed() < Duration::from_secs(60)
    {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    h.run_steps(2);
}

fn wait_for(h: &mut Harness<'_, Option<ArtemoApp>>, text: &str, secs: u64) {
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

#[test]
fn models_tab() {
    // This checkout's models folder (not one found beside the test executable).
    std::env::set_var(
        "ARTEMO_MODELS",
        concat!(env!("CARGO_MANIFEST_DIR"), "/models"),
    );
    let mut h = harness();
    wait_for(&mut h, "8 paintings", 30);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num6);
    wait_for(&mut h, "Where each feature looks for weights", 30);
    h.get_by_label("demo-pacl");
    assert!(h.get_all_by_label("DEMO KIT").count() >= 3);
    assert!(
        h.query_all_by_label_contains("MIT OR Apache-2.0 (trained by the Artemo project")
            .count()
            >= 3
    );
    h.get_by_label("found: demo/pacl");
    // Verify the demo kit's files (sha256 on the engine).
    let verify: Vec<_> = h.get_all_by_label("Verify").collect();
    assert!(verify.len() >= 3, "{} Verify buttons", verify.len());
    verify[2].click();
    wait_for(&mut h, "all 3 file(s) match", 60);
    settle(&mut h);
    h.snapshot("models_tab");
    // (The import form is driven in `tests/ui_models_import.rs`, on an empty models folder.)
    // The demo kit's model card, rendered as text in a window.
    h.get_by_label("Demo kit model card").click();
    wait_for(&mut h, "Artemo demo models", 30);
}
