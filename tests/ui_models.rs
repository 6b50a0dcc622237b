//! Snapshot tests of the Models tab: the shipped manifest's entries with their state,
//! licences and what they enable, sha256 verification as an engine job, the demo kit's
//! model card and where each feature looks for weights (the import form: `ui_models_import.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::{app_on, settle, wait_label as wait_for, H};
use egui_kittest::kittest::Queryable;

fn harness() -> H<'static> {
    app_on(
        Some(PathBuf::from("tests/fixtures/map/paintings.csv")),
        [1000.0, 1500.0],
        false,
    )
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
    common::snapshot(&mut h, "models_tab");
    // (The import form is driven in `tests/ui_models_import.rs`, on an empty models folder.)
    // The demo kit's model card, rendered as text in a window.
    h.get_by_label("Demo kit model card").click();
    wait_for(&mut h, "Artemo demo models", 30);
    // Markdown rendered: its tables are tables (a cell is a label of its own), not rows
    // of raw text with pipes.
    h.get_by_label("7.5 MiB");
    assert!(h.query_by_label_contains("| `pacl/` |").is_none());
    assert!(h.query_by_label_contains("## Models").is_none());
}
