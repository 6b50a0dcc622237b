//! Snapshot test of the Painting tab's canvas with EmoSEM's masks, on a shipped painting
//! and a tiny seeded (untrained) EmoSEM written to a temporary models folder.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{shipped_app, tiny_emosem, wait_for};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;

#[test]
fn painting_tab_shows_the_eight_masks() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_emosem(tmp.path());
    // SAFETY of the environment: this test binary holds this one test.
    std::env::set_var("ARTEMO_MODELS", tmp.path());
    std::env::set_var("ARTEMO_REVIEW_DIR", tmp.path().join("review"));
    let mut h = shipped_app([1100.0, 720.0]);
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
    common::snapshot(&mut h, "painting_masks_all");
    h.get_by_label("Dominant").click();
    h.get_by_label("Contour").click();
    h.run_steps(4);
    common::snapshot(&mut h, "painting_masks_dominant_contour");
    h.get_by_label("Single-Mask").click();
    h.run_steps(4);
    assert_eq!(h.query_all_by_label_contains("of the image").count(), 1);
    // Zoom in deep (nearest filtering) with the keyboard.
    for _ in 0..8 {
        h.key_press(Key::Plus);
    }
    h.run_steps(4);
    common::snapshot(&mut h, "painting_single_mask_zoomed");
    // Nucleus sampling of the explanations: its settings appear, and the mask is there
    // again once recomputed with a sampled explanation.
    h.get_by_label("nucleus").click();
    h.run_steps(2);
    assert!(h.query_all_by_label_contains("top-p").count() > 0);
    assert!(h.query_all_by_label_contains("temperature").count() > 0);
    wait_for(&mut h, "the mask with a sampled explanation", |h| {
        h.query_all_by_label_contains("of the image").count() == 1
    });
}
