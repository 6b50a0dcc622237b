//! The polish a demanding user expects, on the shipped collection with a tiny seeded
//! EmoSEM: the Art Institute of Chicago's credit under a description, Down moving a row
//! down in the grid, the browse bar's Clear dropping a map selection, and the Painting
//! tab's mask settings kept across launches (eframe storage).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use artemo::gui::ArtemoApp;
use artemo_engine::worker::EngineConfig;
use common::{shipped_app, tiny_emosem, wait_for, H};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

/// One models folder (a tiny EmoSEM) for every test of this file: `ARTEMO_MODELS` is
/// read when an app starts, so all of them set the same value.
fn models() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("artemo-ui-polish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        tiny_emosem(&dir);
        std::env::set_var("ARTEMO_MODELS", &dir);
        std::env::set_var("ARTEMO_REVIEW_DIR", dir.join("review"));
        dir
    })
}

/// The tests render one at a time (lavapipe shares the machine's cores).
fn serial() -> MutexGuard<'static, ()> {
    static GPU: Mutex<()> = Mutex::new(());
    let g = GPU.lock().unwrap_or_else(|e| e.into_inner());
    models();
    g
}

fn opened(size: [f32; 2]) -> H<'static> {
    let mut h = shipped_app(size);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h
}

#[test]
fn a_description_credits_the_art_institute_of_chicago() {
    let _g = serial();
    // Tall enough for the whole description under the image.
    let mut h = opened([1100.0, 1200.0]);
    // The first painting has no description; the second (Saint Francis) has one.
    assert!(h
        .query_by_label_contains("Art Institute of Chicago, CC BY")
        .is_none());
    h.key_press(Key::ArrowRight);
    wait_for(&mut h, "the description", |h| {
        h.query_by_label_contains("Franciscans").is_some()
    });
    h.get_by_label("Description: Art Institute of Chicago, CC BY 4.0");
    h.remove_cursor();
    wait_for(&mut h, "the viewer image", |h| {
        h.state().as_ref().is_some_and(|a| a.settled())
    });
    h.snapshot("collection_description_credit");
}

#[test]
fn down_moves_a_row_down_in_the_grid_and_right_to_the_next() {
    let _g = serial();
    let mut h = opened([1100.0, 720.0]);
    h.run_steps(2);
    let app = |h: &H<'_>| {
        let a = h.state().as_ref().unwrap();
        (a.selected(), a.grid_columns())
    };
    let (sel, cols) = app(&h);
    assert_eq!(sel, Some(0));
    assert!(cols > 1, "{cols} columns");
    h.key_press(Key::ArrowDown);
    h.run_steps(2);
    assert_eq!(app(&h).0, Some(cols));
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(app(&h).0, Some(cols + 1));
    h.key_press(Key::ArrowUp);
    h.run_steps(2);
    assert_eq!(app(&h).0, Some(1));
    h.key_press(Key::ArrowLeft);
    h.run_steps(2);
    assert_eq!(app(&h).0, Some(0));
    // The overlay says so.
    h.get_by_label("?").click();
    h.run_steps(3);
    h.get_by_label_contains("the painting above / below in the grid");
}

#[test]
fn the_browse_bar_clear_also_clears_a_map_selection() {
    let _g = serial();
    let mut h = opened([1280.0, 720.0]);
    h.state_mut().as_mut().unwrap().show_only(vec![0, 1, 2]);
    h.run_steps(3);
    h.get_by_label("3 of 267 shown");
    h.get_by_label("Clear").click();
    h.run_steps(3);
    h.get_by_label("267 of 267 shown");
    assert!(h.query_by_label_contains("selection of 3").is_none());
}

/// eframe's storage, in memory.
#[derive(Default, Clone)]
struct Mem(HashMap<String, String>);

impl eframe::Storage for Mem {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// The app on the shipped collection started with `storage` (as eframe does).
fn with_storage(storage: Mem) -> H<'static> {
    Harness::builder()
        .with_size([1100.0, 720.0])
        .build_ui_state(
            move |ui, app: &mut Option<ArtemoApp>| {
                let app = app.get_or_insert_with(|| {
                    let cfg = EngineConfig {
                        threads: 1,
                        ..Default::default()
                    };
                    let mut a = ArtemoApp::new(ui.ctx(), Some(&storage), None, cfg).unwrap();
                    a.show_frame_time(false);
                    a
                });
                app.frame(ui);
            },
            None,
        )
}

fn saved(h: &mut H<'_>) -> String {
    let mut m = Mem::default();
    eframe::App::save(h.state_mut().as_mut().unwrap(), &mut m);
    m.0.get("artemo.settings").cloned().unwrap_or_default()
}

#[test]
fn mask_settings_are_kept_across_launches() {
    let _g = serial();
    let mut h = with_storage(Mem::default());
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    let defaults = saved(&mut h);
    // (eframe stores RON.)
    assert!(defaults.contains("masks:"), "{defaults}");
    assert!(
        !defaults.contains("Dominant") && !defaults.contains("Contour"),
        "{defaults}"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num2);
    wait_for(&mut h, "the mask controls", |h| {
        h.query_by_label("Contour").is_some()
    });
    h.get_by_label("Dominant").click();
    h.get_by_label("Contour").click();
    h.run_steps(3);
    let first = saved(&mut h);
    assert!(
        first.contains("Dominant") && first.contains("Contour"),
        "{first}"
    );
    drop(h);
    // The next launch starts with them (and saves them again unchanged).
    let mut storage = Mem::default();
    storage.0.insert("artemo.settings".into(), first.clone());
    let mut h = with_storage(storage);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    assert_eq!(saved(&mut h), first);
}
