//! Snapshot tests of the Train tab (egui_kittest, wgpu): the idle form, a tiny real
//! SEVLM session on the shipped data (6 paintings, a 32-wide one-layer model over the
//! demo kit's tower) started, paused, resumed and finished through the panel's buttons,
//! and tiny real EmoSEM sessions on the shipped stimulus regions (chosen through the
//! form's radio button): one run to the end, one stopped after its first evaluation; the
//! PACL form and a tiny PACL session on the open collection's paintings with their text.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use artemo::gui::panels::train::{DataChoice, ModelChoice, Trainee};
use artemo::gui::panels::train::{MaskData, MaskModel, PaclData};
use artemo::gui::ArtemoApp;
use artemo_engine::emosem::Paradigm;
use artemo_engine::train::events::Summary;
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

fn app() -> ArtemoApp {
    let ctx = egui::Context::default();
    // Relative to the package root (the tests' working folder), so that the path shown
    // in the top bar is the same on every machine.
    ArtemoApp::new(
        &ctx,
        None,
        Some(PathBuf::from("assets/paintings/aic/paintings.csv")),
        EngineConfig {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("app")
}

fn harness(app: ArtemoApp) -> Harness<'static, ArtemoApp> {
    let mut h = Harness::builder()
        // A few hundred pixels of antialiasing and path-text noise between runs are tolerated.
        .with_options(egui_kittest::SnapshotOptions::new().max_failed_pixels(500))
        .with_size(egui::vec2(1360.0, 900.0))
        .build_ui_state(|ui, app: &mut ArtemoApp| app.frame(ui), app);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num5);
    h.run_steps(3);
    h
}

/// A snapshot with the status bar masked (it counts the Collection tab's thumbnails
/// still decoding: timing).
fn snap(h: &mut Harness<'static, ArtemoApp>, name: &str) {
    h.mask(egui::Rect::from_min_max(
        egui::pos2(0.0, 870.0),
        egui::pos2(1360.0, 900.0),
    ));
    common::snapshot(h, name);
}

/// Frames until `done` holds (with time for the engine to work between frames).
fn run_until(
    h: &mut Harness<'static, ArtemoApp>,
    what: &str,
    done: impl Fn(&mut ArtemoApp) -> bool,
) {
    let t0 = Instant::now();
    while !done(h.state_mut()) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(15));
        h.step();
    }
}
/// Clicks Start and checks the session runs.
fn start(h: &mut Harness<'static, ArtemoApp>) {
    h.get_by_label("Start").click();
    h.run_steps(2);
    assert!(h.state_mut().train_panel().running());
}

/// Frames until the session ends, then its summary (the session must not have failed).
fn finished(h: &mut Harness<'static, ArtemoApp>, what: &str) -> Summary {
    run_until(h, what, |a| {
        let p = a.train_panel();
        p.summary().is_some() || p.error().is_some()
    });
    let p = h.state_mut().train_panel();
    assert_eq!(p.error(), None);
    p.summary().expect("summary").clone()
}

fn out_dir(name: &str) -> PathBuf {
    // A fixed path: it is shown in the snapshots.
    let d = std::env::temp_dir().join(format!("artemo-ui-train/{name}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn train_tab_idle() {
    let mut a = app();
    let f = &mut a.train_panel().form;
    f.model = ModelChoice::Scratch;
    f.settings.out = out_dir("idle").display().to_string();
    let mut h = harness(a);
    h.run_steps(4);
    assert!(h.query_by_label("Paper defaults").is_some());
    assert!(h.query_by_label("Start").is_some());
    snap(&mut h, "train_idle");
}

#[test]
fn train_tab_tiny_run_pause_resume_finish() {
    let mut a = app();
    let out = out_dir("tiny");
    {
        let f = &mut a.train_panel().form;
        f.data = DataChoice::Shipped;
        f.model = ModelChoice::Scratch;
        f.width = 32;
        f.layers = 1;
        f.heads = 2;
        f.settings.max_paintings = 6;
        f.train.epochs = 3;
        f.train.batch_pairs = 4;
        f.train.lr_decoder = 3e-3;
        f.train.lr_vad_encoder = 3e-3;
        f.settings.eval_every = 4;
        f.eval_paintings = 2;
        f.settings.probes = 2;
        f.settings.keep = 2;
        f.settings.out = out.display().to_string();
    }
    let mut h = harness(a);
    // The shipped collection must be open before the run (probe thumbnails).
    run_until(&mut h, "the collection", |_| true);
    start(&mut h);
    // Pause at once: the session waits before its first step.
    h.get_by_label("Pause").click();
    h.run_steps(2);
    assert!(h.state_mut().train_panel().paused());
    std::thread::sleep(Duration::from_millis(1500));
    h.run_steps(2);
    let seen = h.state_mut().train_panel().steps_seen();
    std::thread::sleep(Duration::from_millis(700));
    h.run_steps(2);
    assert_eq!(
        h.state_mut().train_panel().steps_seen(),
        seen,
        "steps while paused"
    );
    h.get_by_label("Resume").click();
    h.run_steps(2);
    assert!(!h.state_mut().train_panel().paused());
    let s = finished(&mut h, "the end of the run");
    assert!(!s.stopped);
    assert_eq!(s.steps, s.total_steps);
    assert!(s.evaluations >= 2);
    let best = s
        .checkpoints
        .iter()
        .find(|c| c.best)
        .expect("a best checkpoint");
    assert!(best.dir.join("model.safetensors").is_file());
    assert!(out.join("best.json").is_file());
    // Probe thumbnails load on the io lane.
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(25));
        h.step();
    }
    snap(&mut h, "train_after_tiny_run");
}

/// Chooses EmoSEM through the form and sets a tiny Multi-Masks run on the shipped
/// regions (4 training paintings, a 16-wide one-layer explainer).
fn emosem_harness(out: &std::path::Path, steps: usize) -> Harness<'static, ArtemoApp> {
    let mut h = harness(app());
    h.get_by_label("EmoSEM: stimulus masks and their explanations")
        .click();
    h.run_steps(2);
    assert_eq!(h.state_mut().train_panel().trainee, Trainee::Emosem);
    let f = &mut h.state_mut().train_panel().mask_form;
    f.data = MaskData::Shipped;
    f.model = MaskModel::Scratch;
    f.paradigm = Paradigm::Multi;
    f.explainer_width = 16;
    f.explainer_layers = 1;
    f.settings.max_paintings = 4;
    f.train.steps = steps;
    f.train.batch_images = 2;
    f.train.lr_explainer = 3e-3;
    f.lr_mask = 3e-3;
    f.settings.eval_every = 3;
    f.settings.probes = 1;
    f.settings.keep = 2;
    f.settings.out = out.display().to_string();
    h.run_steps(2);
    h
}

#[test]
fn train_tab_emosem_tiny_run() {
    let out = out_dir("emosem");
    let mut h = emosem_harness(&out, 6);
    assert!(h.query_by_label("Images per batch").is_some());
    assert!(h.query_by_label("Multi-Masks").is_some());
    snap(&mut h, "train_emosem_idle");
    start(&mut h);
    let s = finished(&mut h, "the end of the EmoSEM run");
    assert_eq!((s.steps, s.total_steps, s.evaluations), (6, 6, 2));
    let p = h.state_mut().train_panel();
    assert_eq!(p.evals_seen(), 2);
    let best = s
        .checkpoints
        .iter()
        .find(|c| c.best)
        .expect("a best checkpoint");
    assert!(best.dir.join("config.json").is_file());
    assert!(best
        .metrics
        .contains_key(&artemo_engine::train::Metric::MeanIou));
    // Probe thumbnails load on the io lane.
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(25));
        h.step();
    }
    assert!(h.query_by_label("Checkpoints").is_some());
    snap(&mut h, "train_emosem_after_run");
    // A checkpoint goes to the Painting tab without a restart.
    h.get_all_by_label("Use in Painting tab")
        .next()
        .expect("a Use button")
        .click();
    h.run_steps(2);
    let used = h.state_mut().mask_weights().map(|p| p.to_path_buf());
    assert!(
        s.checkpoints.iter().any(|c| Some(&c.dir) == used.as_ref()),
        "{used:?}"
    );
}

#[test]
fn train_tab_emosem_stop_saves_a_checkpoint() {
    let out = out_dir("emosem-stop");
    let mut h = emosem_harness(&out, 500);
    h.get_by_label("Start").click();
    h.run_steps(2);
    run_until(&mut h, "the first evaluation", |a| {
        a.train_panel().evals_seen() >= 1
    });
    h.get_by_label("Stop").click();
    let s = finished(&mut h, "the stopped run's summary");
    assert!(s.stopped);
    assert!(s.steps < 500);
    // The step it stopped at was evaluated and saved.
    assert!(s.checkpoints.iter().any(|c| c.step == s.steps));
    assert!(out.join("best.json").is_file());
}

#[test]
fn train_tab_pacl_form_and_tiny_run() {
    let out = out_dir("pacl");
    let mut h = harness(app());
    h.get_by_label("PACL: painting and text embeddings").click();
    h.run_steps(2);
    assert_eq!(h.state_mut().train_panel().trainee, Trainee::Pacl);
    assert!(h.query_by_label("Pairs per sub-batch").is_some());
    assert!(h.query_by_label("Weight of L4").is_some());
    snap(&mut h, "train_pacl_idle");
    let f = &mut h.state_mut().train_panel().pacl_form;
    f.data = PaclData::Collection;
    f.settings.max_paintings = 10;
    f.train.epochs = 3;
    f.steps_per_epoch = 2;
    f.train.sub_batch = 4;
    f.settings.eval_every = 3;
    f.settings.keep = 1;
    f.settings.out = out.display().to_string();
    h.run_steps(2);
    start(&mut h);
    let s = finished(&mut h, "the end of the PACL run");
    assert_eq!((s.steps, s.total_steps, s.evaluations), (6, 6, 2));
    let p = h.state_mut().train_panel();
    assert_eq!((p.steps_seen(), p.evals_seen()), (6, 2));
    let best = s
        .checkpoints
        .iter()
        .find(|c| c.best)
        .expect("a best checkpoint");
    assert!(best.dir.join("model.safetensors").is_file());
    assert!(best
        .metrics
        .contains_key(&artemo_engine::train::Metric::ProbeAcc));
    h.run_steps(2);
    assert!(h
        .query_by_label("Linear probe (held-out paintings)")
        .is_some());
}
