//! The Models tab's import form, driven as a user would: a folder that is not a
//! checkpoint is refused with an error naming what is missing, and a real (tiny, random)
//! GPT-2 checkpoint is validated, copied into the user's models folder (`<data>/models`, not
//! the shipped one) and listed with its state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{app_on, wait_label, H};
use egui_kittest::kittest::Queryable;

fn wait_for(h: &mut H<'_>, text: &str) {
    wait_label(h, text, 60);
}

fn import(h: &mut H<'_>, from: &str, name: &str) {
    for (label, text) in [("From:", from), ("Install as:", name)] {
        let field = h.get_by_label(label);
        field.focus();
        h.run_steps(1);
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.key_press(egui::Key::Backspace);
        h.get_by_label(label).type_text(text);
        h.run_steps(2);
    }
    h.get_by_label("Validate and import").click();
    h.run_steps(2);
}

#[test]
fn import_form_refuses_a_non_checkpoint_and_installs_a_checkpoint() {
    let models = tempfile::tempdir().unwrap();
    std::fs::write(models.path().join("MODELS.toml"), "").unwrap();
    // SAFETY of the environment: this test binary holds this one test.
    std::env::set_var("ARTEMO_MODELS", models.path());
    // Imports go to the user's models folder (`<data>/models`), never the shipped one.
    let data = tempfile::tempdir().unwrap();
    std::env::set_var("ARTEMO_DATA", data.path());
    let user_models = data.path().join("models");
    let mut h = app_on(
        Some(PathBuf::from("tests/fixtures/map/paintings.csv")),
        [1000.0, 900.0],
        false,
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num6);
    wait_for(&mut h, "Import weights");

    // A folder without config.json.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("notes.txt"), "not a checkpoint").unwrap();
    import(&mut h, &empty.path().display().to_string(), "broken");
    wait_for(&mut h, "import refused:");
    assert!(
        h.query_all_by(
            |n| n.value().is_some_and(|l| l.starts_with("import refused:")
                && l.contains(&empty.path().display().to_string())
                && l.contains(".safetensors"))
        )
        .next()
        .is_some(),
        "the refusal names the folder and the missing weights"
    );
    assert!(!models.path().join("broken").exists());
    assert!(!user_models.join("broken").exists());

    // GPT-2's config with BERT's weights: refused, naming a tensor.
    let mixed = tempfile::tempdir().unwrap();
    let fixtures = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/parity"
    ));
    std::fs::copy(
        fixtures.join("gpt2/cross/config.json"),
        mixed.path().join("config.json"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("bert/tiny/model.safetensors"),
        mixed.path().join("model.safetensors"),
    )
    .unwrap();
    import(&mut h, &mixed.path().display().to_string(), "mixed");
    wait_for(&mut h, "import refused: ");
    let shown = |h: &H<'_>| {
        h.query_all_by(|n| {
            n.value()
                .is_some_and(|l| l.starts_with("import refused:") && l.contains("wte"))
        })
        .next()
        .is_some()
    };
    let t0 = Instant::now();
    while !shown(&h) && t0.elapsed() < Duration::from_secs(30) {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(shown(&h), "the refusal names the missing tensor");
    assert!(!models.path().join("mixed").exists());
    assert!(!user_models.join("mixed").exists());

    // The tiny cross-attention GPT-2 the parity tests use.
    let gpt2 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/parity/gpt2/cross"
    );
    import(&mut h, gpt2, "tiny-gpt2");
    wait_for(&mut h, "imported tiny-gpt2");
    assert!(user_models.join("tiny-gpt2/config.json").is_file());
    assert!(
        !models.path().join("tiny-gpt2").exists(),
        "nothing is written into the shipped models folder"
    );
    let local = std::fs::read_to_string(user_models.join("LOCAL.toml")).unwrap();
    assert!(local.contains("tiny-gpt2"), "{local}");
    // The list refreshes and shows the new entry.
    let t0 = Instant::now();
    while h.query_by_label("tiny-gpt2").is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the new entry is not listed"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
}
