//! Snapshot tests of the Map tab at collection scale (issue 24): the shipped collection
//! (267 paintings) with the shipped demo PACL model, drawn as thumbnails from the atlas
//! where they fit, with cluster hotspots; a click on a hotspot flies the view to its
//! cluster; the grid layout. One test function, because the models and cache folders are
//! chosen through environment variables.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{app_on, settle, wait_label as wait_for};
use egui_kittest::kittest::Queryable;

#[test]
fn map_thumbnails_hotspots_and_grid() {
    let mut results = egui_kittest::SnapshotResults::new();
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("ARTEMO_CACHE", cache.path());
    std::env::set_var(
        "ARTEMO_MODELS",
        concat!(env!("CARGO_MANIFEST_DIR"), "/models"),
    );
    let mut h = app_on(None, [1300.0, 820.0], true);
    wait_for(&mut h, "267 paintings", 60);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num4);
    h.run_steps(2);
    wait_for(&mut h, "paintings mapped", 900);
    h.get_by_label_contains("267 of 267 paintings mapped");
    // The atlas: every painting in one 2048-px page of 64-px cells, cached on disk.
    h.get_by_label_contains("thumbnail atlas: 1 pages of 64 px cells");
    let atlas: Vec<_> = std::fs::read_dir(cache.path().join("map-atlas"))
        .unwrap()
        .collect();
    assert_eq!(atlas.len(), 1, "one cached atlas");
    // Hotspots: one per k-means cluster (k = 6), listed beside the map.
    h.get_by_label("Hotspots");
    let spots = h.query_all_by_label_contains("cluster ").count();
    assert!(spots >= 6, "{spots} hotspots");
    settle(&mut h);
    common::snapshot(&mut h, "map_thumbnails_hotspots");
    // A click on a hotspot in the list flies the view to its cluster.
    // (Coloured by the human responses, only the hotspot links say "cluster ".)
    h.get_all_by_label_contains("cluster ")
        .next()
        .unwrap()
        .click();
    for _ in 0..60 {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(15));
    }
    settle(&mut h);
    common::snapshot(&mut h, "map_hotspot_flight");
    // The grid layout: the t-SNE map snapped to a grid, computed from the cached map.
    h.get_by_label("grid").click();
    h.run_steps(2);
    wait_for(&mut h, "grid (t-SNE snapped)", 60);
    // Until the grid job is done (its progress bar has a Cancel button).
    let t0 = std::time::Instant::now();
    while h.query_by_label("Cancel").is_some() {
        assert!(
            t0.elapsed().as_secs() < 300,
            "the grid layout did not finish"
        );
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    h.run_steps(3);
    settle(&mut h);
    common::snapshot(&mut h, "map_grid");
    results.extend_harness(&mut h);
    results.unwrap();
}
