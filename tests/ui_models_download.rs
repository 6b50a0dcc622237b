//! The Models tab's download form, driven as a user would: nothing is fetched until the
//! button is pressed, and an unreachable hub (a local port nobody listens on, through the
//! form's Hub field) ends in the one offline message, with nothing installed. The transfers
//! themselves are tested in the engine against a local server (`models/hub/tests.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::{app_on, wait_label};
use egui_kittest::kittest::Queryable;

#[test]
fn download_form_reports_an_unreachable_hub_and_installs_nothing() {
    let models = tempfile::tempdir().unwrap();
    std::fs::write(models.path().join("MODELS.toml"), "").unwrap();
    // SAFETY of the environment: this test binary holds this one test.
    std::env::set_var("ARTEMO_MODELS", models.path());
    let data = tempfile::tempdir().unwrap();
    std::env::set_var("ARTEMO_DATA", data.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut h = app_on(
        Some(PathBuf::from("tests/fixtures/map/paintings.csv")),
        [1000.0, 900.0],
        false,
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num6);
    wait_label(&mut h, "Download weights", 60);
    // The known name's upstream location is shown before anything is fetched.
    h.get_by_label("hub repository openai/clip-vit-base-patch16");
    assert!(!data.path().join("downloads").exists());

    let endpoint = format!("http://127.0.0.1:{port}");
    h.get_by_label("Hub:").focus();
    h.run_steps(1);
    h.get_by_label("Hub:").type_text(&endpoint);
    h.run_steps(2);
    h.get_by_label("Download").click();
    h.run_steps(2);
    wait_label(&mut h, "download: cannot reach", 60);
    assert!(
        h.query_all_by(|n| n.value().is_some_and(|l| l
            .starts_with(&format!("download: cannot reach 127.0.0.1:{port}"))
            && l.contains("artemo models import PATH")))
            .next()
            .is_some(),
        "the offline message names the host and the way out"
    );
    assert!(!data.path().join("models/clip-vit-base-patch16").exists());
    assert!(!models.path().join("clip-vit-base-patch16").exists());
}
