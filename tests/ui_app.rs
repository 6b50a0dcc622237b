//! UI snapshot tests of the window's frame (top bar, tabs, collection grid, viewer,
//! shortcut overlay) on shipped paintings, rendered headless with egui_kittest (wgpu on
//! Mesa's lavapipe in CI). Update the PNGs with `UPDATE_SNAPSHOTS=1 cargo test --test ui_app`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use artemo::gui::{ArtemoApp, Tab};
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// A folder with `n` shipped paintings (the first `n` files of the manifest, sorted). Its
/// name is fixed (the path shows in the window, and a random name would move the layout
/// between runs).
fn small_collection(n: usize) -> tempfile::TempDir {
    // A leftover of an interrupted run would stop the fixed name from being created.
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("artemo-ui-{n}")));
    let dir = tempfile::Builder::new()
        .prefix(&format!("artemo-ui-{n}"))
        .rand_bytes(0)
        .tempdir()
        .unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(assets().join("paintings/aic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    for f in files.iter().take(n) {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    dir
}

type State = Option<ArtemoApp>;

/// The tests of this file render one at a time: lavapipe shares the machine's cores, and
/// parallel renders on a busy 2-core machine can pass kittest's 10 s GPU wait.
static GPU: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GPU.lock().unwrap_or_else(|e| e.into_inner())
}

/// A snapshot, with the render retried twice when the software GPU times out.
fn snap(h: &mut Harness<'static, State>, name: &str) {
    if !common::gpu() {
        return;
    }
    for attempt in 0..3 {
        match h.try_snapshot(name) {
            Ok(()) => return,
            Err(egui_kittest::SnapshotError::RenderError { err }) if attempt < 2 => {
                eprintln!("render of {name} failed ({err}); retrying");
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// A harness over the app on `collection` with no models installed (`ARTEMO_MODELS` is an
/// empty folder).
fn harness(collection: PathBuf, size: (f32, f32)) -> (Harness<'static, State>, tempfile::TempDir) {
    let models = tempfile::tempdir().unwrap();
    // Read when the app starts (the first frame), before any other test thread could
    // change it: every test in this file sets the same value.
    std::env::set_var("ARTEMO_MODELS", models.path());
    std::env::set_var("ARTEMO_ASSETS", assets());
    let cfg = EngineConfig {
        threads: 1,
        ..Default::default()
    };
    let mut b = Harness::builder()
        // A few hundred pixels of antialiasing and path-text noise between runs are tolerated.
        .with_options(egui_kittest::SnapshotOptions::new().max_failed_pixels(500))
        .with_size(size);
    if common::gpu() {
        b = b.wgpu();
    }
    let h = b.build_ui_state(
        move |ui, state: &mut State| {
            let app = state.get_or_insert_with(|| {
                let mut a = ArtemoApp::new(ui.ctx(), None, Some(collection.clone()), cfg.clone())
                    .expect("the app starts");
                a.show_frame_time(false);
                a
            });
            app.frame(ui);
        },
        None,
    );
    (h, models)
}

/// Steps until the app has opened its collection and decoded what it shows.
fn settle(h: &mut Harness<'static, State>) {
    let start = Instant::now();
    loop {
        h.step();
        if h.state().as_ref().is_some_and(|a| a.settled()) {
            // A few more frames to lay out what arrived.
            h.run_steps(3);
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the app did not settle"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn collection_tab_shows_the_grid_and_the_selected_painting() {
    let _gpu = serial();
    let dir = small_collection(6);
    let (mut h, _models) = harness(dir.path().to_path_buf(), (1100.0, 700.0));
    settle(&mut h);
    assert_eq!(h.state().as_ref().unwrap().tab(), Tab::Collection);
    for t in Tab::ALL {
        h.get_by_label(t.label());
    }
    h.get_by_label_contains("6 paintings");
    // The SEVLM section: the shipped demo kit's output or, without it, "not installed".
    h.get_by_label_contains("Emotion and explanation (SEVLM)");
    snap(&mut h, "app_collection");
}

#[test]
fn question_mark_opens_the_shortcut_overlay_and_ctrl_digits_switch_tabs() {
    let _gpu = serial();
    let dir = small_collection(3);
    let (mut h, _models) = harness(dir.path().to_path_buf(), (1000.0, 650.0));
    settle(&mut h);
    h.get_by_label("?").click();
    h.run_steps(6);
    h.get_by_label("Keyboard shortcuts");
    h.get_by_label_contains("Review: brush / eraser");
    snap(&mut h, "app_shortcuts");
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.query_by_label("Keyboard shortcuts").is_none());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num4);
    h.run_steps(2);
    assert_eq!(h.state().as_ref().unwrap().tab(), Tab::Map);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num1);
    h.run_steps(2);
    assert_eq!(h.state().as_ref().unwrap().tab(), Tab::Collection);
}

#[test]
fn the_light_theme_switches_from_the_top_bar() {
    let _gpu = serial();
    let dir = small_collection(4);
    let (mut h, _models) = harness(dir.path().to_path_buf(), (1000.0, 650.0));
    settle(&mut h);
    h.get_by_label("Light").click();
    h.run_steps(3);
    h.get_by_label("Dark");
    snap(&mut h, "app_light");
}
