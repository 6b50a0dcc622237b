//! Snapshot test of the Review tab: Artemo's own stimulus regions against a tiny seeded
//! (untrained) EmoSEM, the three layouts, a verdict, a brush stroke and its undo, and the
//! journal on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{shipped_app, tiny_emosem, wait_for};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;

#[test]
fn review_tab_compares_ground_truth_and_prediction() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_emosem(tmp.path());
    let review_dir = tmp.path().join("review");
    // This test binary holds this one test, so the environment is its own.
    std::env::set_var("ARTEMO_MODELS", tmp.path());
    std::env::set_var("ARTEMO_REVIEW_DIR", &review_dir);
    let mut h = shipped_app([1200.0, 760.0]);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num3);
    wait_for(&mut h, "the first prediction", |h| {
        h.query_all_by_label_contains("Pr@50 pass").count()
            + h.query_all_by_label_contains("Pr@50 fail").count()
            > 0
    });
    // The painting decodes on the engine's io lane.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(30));
        h.step();
    }
    // The running totals and the progress of the background predictions depend on timing.
    let timing = egui::Rect::from_min_max(egui::pos2(0.0, 86.0), egui::pos2(1200.0, 122.0));
    h.mask(timing);
    common::snapshot(&mut h, "review_side_by_side");
    h.get_by_label("Overlay").click();
    h.run_steps(3);
    h.mask(timing);
    common::snapshot(&mut h, "review_overlay");
    h.get_by_label("Swipe").click();
    h.run_steps(3);
    h.mask(timing);
    common::snapshot(&mut h, "review_swipe");
    // Accept with the keyboard: autosaved in the journal.
    h.key_press(Key::A);
    h.run_steps(3);
    assert!(h.query_by_label_contains("1/796 reviewed").is_some());
    // Brush a stroke on the ground truth, then undo it.
    h.get_by_label("Side by side").click();
    h.key_press(Key::B);
    h.run_steps(2);
    h.hover_at(egui::pos2(250.0, 500.0));
    h.drag_at(egui::pos2(250.0, 500.0));
    h.run_steps(1);
    h.hover_at(egui::pos2(330.0, 520.0));
    h.run_steps(1);
    h.drop_at(egui::pos2(330.0, 520.0));
    h.run_steps(3);
    assert!(h.query_by_label_contains("fixed mask").is_some());
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert!(h.query_by_label_contains("fixed mask").is_none());
    // Next item with N; the journal holds the decisions.
    h.key_press(Key::N);
    h.run_steps(5);
    std::thread::sleep(Duration::from_millis(200));
    h.run_steps(2);
    let journal = std::fs::read_dir(&review_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("journal.jsonl");
    let text = std::fs::read_to_string(journal).unwrap();
    assert!(text.contains("\"accepted\""), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
}
