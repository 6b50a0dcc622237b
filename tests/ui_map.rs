//! Snapshot tests of the Map tab: the map of a small collection (eight shipped paintings,
//! `tests/fixtures/map/paintings.csv`) with the shipped demo PACL model, computed on the
//! engine and cached; and the "not installed" state when no PACL weights are found.
//! One test function, because the models folder is chosen through `ARTEMO_MODELS`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::{app_on, settle, wait_label as wait_for, H};
use egui_kittest::kittest::Queryable;

fn harness(collection: &str) -> H<'static> {
    app_on(Some(PathBuf::from(collection)), [1000.0, 640.0], false)
}

fn goto_map(h: &mut H<'_>) {
    wait_for(h, "8 paintings", 30);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num4);
    h.run_steps(2);
}

#[test]
fn map_tab() {
    let mut results = egui_kittest::SnapshotResults::new();
    let cache = tempfile::tempdir().unwrap();
    let empty_models = tempfile::tempdir().unwrap();
    std::fs::write(empty_models.path().join("MODELS.toml"), "").unwrap();
    // Without PACL weights: say so, offer the Models tab.
    std::env::set_var("ARTEMO_CACHE", cache.path());
    std::env::set_var("ARTEMO_MODELS", empty_models.path());
    {
        let mut h = harness("tests/fixtures/map/paintings.csv");
        goto_map(&mut h);
        h.get_by_label_contains("PACL weights are not installed");
        h.get_by_label("Open the Models tab");
        settle(&mut h);
        common::snapshot(&mut h, "map_not_installed");
        h.get_by_label("Open the Models tab").click();
        h.run_steps(2);
        h.get_by_label_contains("Installed weights");
        results.extend_harness(&mut h);
    }
    // The shipped demo PACL model: computed on the engine, then drawn.
    // This checkout's models folder (not one found beside the test executable).
    std::env::set_var(
        "ARTEMO_MODELS",
        concat!(env!("CARGO_MANIFEST_DIR"), "/models"),
    );
    let mut h = harness("tests/fixtures/map/paintings.csv");
    goto_map(&mut h);
    wait_for(&mut h, "paintings mapped", 240);
    h.get_by_label_contains("8 of 8 paintings mapped");
    h.get_by_label_contains("computed now");
    // No human responses for this subset: coloured by PACL zero-shot, and it says so.
    h.get_by_label_contains("PACL zero-shot emotion (model prediction");
    // What the kit's zero-shot is worth, as its evaluation measured it (issue 21).
    h.get_by_label_contains(
        "zero-shot measured on the kit's 54 test paintings: 7 right; always the commonest \
         emotion: 27",
    );
    settle(&mut h);
    common::snapshot(&mut h, "map_zero_shot");
    // Search: title/artist substring matches and PACL's closest paintings, highlighted.
    let search = h
        .get_all_by_role(egui::accesskit::Role::TextInput)
        .max_by(|a, b| a.rect().min.y.total_cmp(&b.rect().min.y))
        .unwrap();
    search.focus();
    search.type_text("portrait");
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    wait_for(&mut h, "closest to \"portrait\"", 120);
    h.get_by_label_contains("2 title/artist match(es)");
    assert!(h.get_all_by_label("Portrait of a Girl").count() >= 1);
    settle(&mut h);
    common::snapshot(&mut h, "map_search");
    // Colour by k-means cluster.
    h.get_by_label("cluster").click();
    h.run_steps(2);
    wait_for(&mut h, "k-means cluster of the PACL embeddings", 60);
    let files: Vec<_> = std::fs::read_dir(cache.path().join("pacl-map"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "one cached map");
    // A second window on the same collection reads the map from the disk cache.
    results.extend_harness(&mut h);
    drop(h);
    let mut h = harness("tests/fixtures/map/paintings.csv");
    goto_map(&mut h);
    wait_for(&mut h, "t-SNE · from the cache", 60);
    results.extend_harness(&mut h);
    results.unwrap();
}
