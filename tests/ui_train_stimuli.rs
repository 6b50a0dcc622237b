//! The Train tab's EmoSEM data picker (egui_kittest, issue 20): a pseudo-mask folder (as
//! `artemo annotations pseudo-masks` writes it) and an APOLO root over the open (shipped)
//! collection are read on the engine's io lane as soon as they are chosen, and the form
//! shows how many paintings and masks each split holds; a folder that is not a pseudo-mask
//! folder, and one whose index names an unknown emotion, are named as what blocks Start.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use artemo::gui::panels::train::{MaskData, RegionCheck, Trainee};
use artemo::gui::ArtemoApp;
use artemo_engine::annotations::mask::Mask;
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn harness() -> Harness<'static, ArtemoApp> {
    common::hermetic_user_data();
    let ctx = egui::Context::default();
    let app = ArtemoApp::new(
        &ctx,
        None,
        Some(PathBuf::from("assets/paintings/aic/paintings.csv")),
        EngineConfig {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("app");
    let mut h = Harness::builder()
        .with_size(egui::vec2(1360.0, 1100.0))
        .build_ui_state(|ui, app: &mut ArtemoApp| app.frame(ui), app);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num5);
    h.run_steps(3);
    h.get_by_label("EmoSEM: stimulus masks and their explanations")
        .click();
    h.run_steps(2);
    assert_eq!(h.state_mut().train_panel().trainee, Trainee::Emosem);
    h
}

/// A pseudo-mask folder in `pseudo_masks.csv`'s layout (`engine/src/emosem/data/pseudo.rs`,
/// "Output"): `rows` = (painting, emotion, split, utterance), 8 x 6 masks.
fn pseudo_folder(dir: &Path, rows: &[(&str, &str, &str, &str)]) {
    std::fs::create_dir_all(dir.join("masks")).unwrap();
    let mut csv = String::from("row,painting,emotion,split,image,mask,utterance\n");
    for (k, (p, e, s, u)) in rows.iter().enumerate() {
        let mut m = Mask::new(8, 6);
        m.set(k % 8, 0, true);
        let rel = format!("masks/{p}_r{}.png", k + 2);
        m.write_png(&dir.join(&rel)).unwrap();
        let image = format!("assets/paintings/aic/{p}.jpg");
        csv.push_str(&format!("{},{p},{e},{s},{image},{rel},{u}\n", k + 2));
    }
    std::fs::write(dir.join("pseudo_masks.csv"), csv).unwrap();
}

/// Steps (letting the engine work) until a label containing `text` shows.
fn wait_label(h: &mut Harness<'static, ArtemoApp>, text: &str, secs: u64) {
    let t0 = std::time::Instant::now();
    while h.query_all_by_label_contains(text).next().is_none() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(secs),
            "`{text}` did not show within {secs}s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.step();
    }
    h.run_steps(2);
}

fn found(h: &mut Harness<'static, ArtemoApp>) -> Option<RegionCheck> {
    h.state_mut().train_panel().region_check().cloned()
}

#[test]
fn the_emosem_data_picker_shows_what_each_folder_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let pm = tmp.path().join("pseudo");
    pseudo_folder(
        &pm,
        &[
            ("100026", "awe", "train", "the boy looks calm"),
            ("100026", "fear", "train", "a dark corner"),
            ("100342", "awe", "train", "the saint gazes up"),
            ("100343", "fear", "val", "the knife is raised"),
            ("100344", "sadness", "test", "held out"),
        ],
    );
    let mut h = harness();
    h.get_by_label_contains("Pseudo-masks from ArtEmis").click();
    h.run_steps(2);
    assert_eq!(h.state_mut().train_panel().mask_form.data, MaskData::Pseudo);
    // No folder yet: nothing read, Start says what to choose.
    wait_label(&mut h, "choose a pseudo-mask folder", 10);
    assert_eq!(found(&mut h), None);

    h.state_mut().train_panel().mask_form.pseudo_dir = pm.display().to_string();
    wait_label(&mut h, "found: train: 2 paintings, 3 masks", 30);
    assert!(h
        .query_by_label_contains("val: 1 paintings, 1 masks (1 explained)")
        .is_some());
    match found(&mut h) {
        Some(RegionCheck::Found { line, .. }) => assert_eq!(
            line,
            "train: 2 paintings, 3 masks (3 explained) · val: 1 paintings, 1 masks (1 explained)"
        ),
        other => panic!("{other:?}"),
    }

    // A folder without an index is refused before any read.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    h.state_mut().train_panel().mask_form.pseudo_dir = empty.display().to_string();
    wait_label(&mut h, "no pseudo_masks.csv", 10);
    assert!(h.query_by_label_contains("found:").is_none());

    // A broken index: the reader's error (file, row, field) is the line and the blocker.
    let bad = tmp.path().join("bad");
    pseudo_folder(&bad, &[("100026", "joy", "train", "x")]);
    h.state_mut().train_panel().mask_form.pseudo_dir = bad.display().to_string();
    wait_label(&mut h, "unknown emotion `joy`", 30);
    // Under the folder field and beside Start.
    assert_eq!(
        h.query_all_by_label_contains("unknown emotion `joy`")
            .count(),
        2
    );
    match found(&mut h) {
        Some(RegionCheck::Failed { error, .. }) => {
            assert!(
                error.contains("pseudo_masks.csv") && error.contains("row 2"),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(h.query_by_label("Start").is_some());

    // APOLO over the open shipped collection: 3 paintings outside APOLO's test split.
    let apolo = tmp.path().join("apolo");
    let maps = apolo.join("apolo_pixel_map");
    std::fs::create_dir_all(&maps).unwrap();
    std::fs::write(
        apolo.join("apolo.json"),
        r#"[{"painting": "100026", "artemis_id": [1], "split": "val"},
            {"painting": "100342", "artemis_id": [2], "split": "val"},
            {"painting": "100343", "artemis_id": [3], "split": "val"},
            {"painting": "100344", "artemis_id": [4], "split": "test"}]"#,
    )
    .unwrap();
    let mut m = Mask::new(4, 4);
    m.set(1, 1, true);
    for p in ["100026", "100342", "100343", "100344"] {
        m.write_npy(&maps.join(format!("{p}_awe.npy"))).unwrap();
    }
    h.get_by_label_contains("APOLO (apolo.json + maps)").click();
    h.run_steps(2);
    // The folder is accepted for its apolo.json.
    h.state_mut().train_panel().mask_form.apolo_json = apolo.display().to_string();
    wait_label(
        &mut h,
        "found: train: 2 paintings, 2 masks (0 explained)",
        30,
    );
    assert!(h
        .query_by_label_contains("val: 1 paintings, 1 masks (0 explained)")
        .is_some());
}
