//! Regression tests of the window (issue 16): the Review tab re-predicting at once with a
//! checkpoint chosen in the Train tab, and refusing ground truth whose images are not the
//! open collection's; file dialogs that cannot open saying so and offering a path field;
//! banners that merge, expire and can be dismissed; the years filter not pushing the
//! grid under the detail panel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{app_on, shipped_app, tiny_emosem, tiny_emosem_at, wait_for, wait_label, H};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;

/// One models folder (a tiny EmoSEM) and one review folder for every test of this file:
/// the app reads them from the environment, which the tests share.
fn env() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap().keep();
        tiny_emosem(&tmp);
        std::env::set_var("ARTEMO_MODELS", &tmp);
        std::env::set_var("ARTEMO_REVIEW_DIR", tmp.join("review"));
        artemo::gui::dialog::force_unavailable(true);
        tmp
    })
}

fn scored(h: &H<'_>) -> bool {
    h.query_all_by_label_contains("Pr@50 pass").count()
        + h.query_all_by_label_contains("Pr@50 fail").count()
        > 0
}

#[test]
fn review_predicts_again_at_once_with_a_checkpoint_from_the_train_tab() {
    let root = env();
    let ckpt = root.join("checkpoint-7");
    if !ckpt.join("model.safetensors").is_file() {
        tiny_emosem_at(&ckpt, 7);
    }
    let mut h = shipped_app([1200.0, 760.0]);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    wait_for(&mut h, "the first prediction", scored);
    // "Use in Painting tab" in the Train tab.
    h.state_mut()
        .as_mut()
        .expect("the app")
        .use_checkpoint(true, ckpt.clone());
    h.run_steps(2);
    assert!(
        h.query_all_by_label_contains("checkpoint-7")
            .next()
            .is_some(),
        "the Review tab names the checkpoint it predicts with"
    );
    // Before the fix the old job's predictions were dropped and none were started again:
    // "predicting…" stayed until the source was clicked.
    wait_for(&mut h, "a prediction of the checkpoint", scored);
}

#[test]
fn review_has_no_ground_truth_for_a_collection_reusing_the_shipped_file_names() {
    env();
    let assets = artemo_engine::find_assets().expect("assets");
    let other = tempfile::tempdir().unwrap();
    // Another picture under Saint Francis's file name.
    std::fs::copy(
        assets.join("paintings/aic/100344.jpg"),
        other.path().join("100342.jpg"),
    )
    .unwrap();
    let mut h = app_on(Some(other.path().to_path_buf()), [1100.0, 700.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    wait_label(&mut h, "No ground truth for this collection", 60);
    assert!(h
        .query_by_label_contains("the images differ from the annotated ones")
        .is_some());
    assert!(h.query_by_label("Open the shipped collection").is_some());
    assert!(h.query_all_by_label_contains("Pr@50").next().is_none());
}

#[test]
fn a_file_dialog_that_cannot_open_says_so_and_offers_a_path_field() {
    env();
    let mut h = app_on(None, [1200.0, 760.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    // Folder…: the notice, once, however often it is clicked (merged, counted).
    h.get_by_label("Folder…").click();
    wait_label(&mut h, "could not open", 10);
    assert_eq!(h.query_all_by_label_contains("could not open").count(), 1);
    h.get_by_label("Folder…").click();
    wait_label(&mut h, "(×2)", 10);
    assert_eq!(h.query_all_by_label_contains("could not open").count(), 1);
    // Dismissed with ×.
    h.get_by_label("×").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("could not open").is_none());
    // Responses…: a path field beside it.
    h.get_by_label("Responses…").click();
    wait_label(&mut h, "beside Responses…", 10);
    assert!(h.query_by_label("Load").is_some());
    // Review: Open APOLO… gives a typed path.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    h.run_steps(2);
    h.get_by_label("Open APOLO…").click();
    wait_label(&mut h, "apolo.json:", 10);
}

#[test]
fn notices_are_capped_and_information_expires() {
    env();
    let dir = tempfile::tempdir().unwrap();
    // Responses naming one shipped painting and one unknown one: an information notice.
    let csv = dir.path().join("responses.csv");
    std::fs::write(
        &csv,
        "art_style,painting,emotion,utterance\nx,100342,awe,a\nx,nowhere,fear,b\n",
    )
    .unwrap();
    let mut h = app_on(None, [1200.0, 760.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    // Three error notices: two shown, the oldest counted.
    for p in ["/no/such/a.csv", "/no/such/b.csv", "/no/such/c.csv"] {
        h.state_mut()
            .as_mut()
            .expect("the app")
            .load_responses_csv(PathBuf::from(p));
    }
    wait_for(&mut h, "three failures", |h| {
        h.query_by_label_contains("1 older notice").is_some()
    });
    // The newest notice shows (its path may also show in the responses field).
    assert!(h.query_all_by_label_contains("c.csv").next().is_some());
    assert!(h.query_all_by_label_contains("a.csv").next().is_none());
    h.get_by_label("clear all").click();
    h.run_steps(2);
    let left: Vec<String> = h
        .query_all_by_label_contains("/no/such/")
        .map(|n| format!("{:?}", n.value()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    h.state_mut()
        .as_mut()
        .expect("the app")
        .load_responses_csv(csv);
    wait_label(&mut h, "1 of 2 responses matched", 30);
    // Information goes by itself after ~10 s of the window's clock.
    let t0 = h.ctx.input(|i| i.time);
    while h.ctx.input(|i| i.time) - t0 < 11.0 {
        h.step();
    }
    h.run_steps(2);
    assert!(h.query_by_label_contains("responses matched").is_none());
}

#[test]
fn the_years_filter_does_not_push_the_grid_under_the_detail_panel() {
    env();
    let mut h = app_on(None, [1400.0, 900.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.run_steps(3);
    let detail = h
        .get_by_label("Emotion and explanation (SEVLM)")
        .rect()
        .min
        .x;
    h.get_by_label("years").click();
    h.run_steps(4);
    for label in ["ambiguity", "to", "from"] {
        for n in h.query_all_by_label(label) {
            assert!(
                n.rect().max.x <= detail,
                "`{label}` ends at {} under the detail panel (from {detail})",
                n.rect().max.x
            );
        }
    }
}

#[test]
fn a_truncated_image_is_shown_with_a_warning_not_silently() {
    env();
    let assets = artemo_engine::find_assets().expect("assets");
    let other = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(assets.join("paintings/aic/100344.jpg")).unwrap();
    // A JPEG cut to 30 %: it still decodes (the rest grey), as the report found.
    std::fs::write(other.path().join("cut.jpg"), &bytes[..bytes.len() * 3 / 10]).unwrap();
    let mut h = app_on(Some(other.path().to_path_buf()), [1100.0, 700.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    wait_label(&mut h, "what is shown may be incomplete", 60);
    assert!(h.query_by_label_contains("truncat").is_some());
}

#[test]
fn the_models_and_train_tabs_say_when_no_file_dialog_can_open() {
    env();
    // Tall enough that the Train form's Browse… buttons are on screen.
    let mut h = app_on(None, [1200.0, 2000.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    // Models tab: the import's Folder… button.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num6);
    wait_label(&mut h, "Import weights", 30);
    h.get_all_by_label("Folder…")
        .last()
        .expect("import Folder…")
        .click();
    wait_label(
        &mut h,
        "type the checkpoint's path into the import field instead",
        10,
    );
    // Train tab: the first Browse….
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num5);
    wait_for(&mut h, "the Train form", |h| {
        h.query_all_by_label("Browse…").next().is_some()
    });
    let want = "type the path into the field beside Browse… instead";
    let n = h.query_all_by_label("Browse…").count();
    for i in 0..n {
        if h.query_by_label_contains(want).is_some() {
            break;
        }
        if let Some(b) = h.query_all_by_label("Browse…").nth(i) {
            b.click();
        }
        for _ in 0..20 {
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    let seen: Vec<String> = h
        .query_all_by_label_contains("could not open")
        .map(|n| format!("{n:?}").chars().take(300).collect::<String>())
        .collect();
    assert!(h.query_by_label_contains(want).is_some(), "n={n} {seen:?}");
}

#[test]
fn responses_with_duplicate_rows_are_reported() {
    env();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("dups.csv");
    std::fs::write(
        &csv,
        "art_style,painting,emotion,utterance\nx,100342,awe,a calm saint\nx,100342,awe,a calm saint\n",
    )
    .unwrap();
    let mut h = app_on(None, [1200.0, 760.0], false);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.state_mut()
        .as_mut()
        .expect("the app")
        .load_responses_csv(csv);
    wait_label(&mut h, "1 duplicate row(s)", 30);
    // Rows are numbered as lines of the file (the header is line 1).
    assert!(h.query_by_label_contains("row 3 repeats row 2").is_some());
}
