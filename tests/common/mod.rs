//! What the UI tests on the shipped collection share: a tiny seeded EmoSEM written to a
//! models folder, the app harness, and stepping until something shows.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use artemo::gui::ArtemoApp;
use artemo_engine::emosem::features::PatchColourGrid;
use artemo_engine::emosem::view::write_initial_model;
use artemo_engine::emosem::{EmosemConfig, Paradigm};
use artemo_engine::worker::EngineConfig;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

/// Set (to 1) where snapshots must be taken, never skipped (CI: `.ci/run`).
pub const REQUIRE_GPU: &str = "ARTEMO_REQUIRE_GPU_SNAPSHOTS";

/// Whether snapshots can be rendered here: a wgpu adapter (Mesa's lavapipe on CI) was
/// found, checked once per test binary. Without one, snapshot tests still drive the
/// window and check what they assert, skip only the images, and say why on stderr;
/// with `ARTEMO_REQUIRE_GPU_SNAPSHOTS=1` a missing adapter fails them instead.
pub fn gpu() -> bool {
    static FOUND: OnceLock<Result<(), String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        // kittest's own setup, as `.wgpu()` uses it; it panics when no adapter answers.
        std::panic::catch_unwind(|| {
            drop(egui_kittest::wgpu::create_render_state(
                egui_kittest::wgpu::default_wgpu_setup(),
                Default::default(),
            ))
        })
        .map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no wgpu adapter".into())
        })
    });
    match found {
        Ok(()) => true,
        Err(why) => {
            let required = std::env::var(REQUIRE_GPU).is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{REQUIRE_GPU}=1 but no GPU adapter renders snapshots: {why} \
                 (install mesa-vulkan-drivers and libvulkan1)"
            );
            // Straight to stderr: libtest captures `eprintln!` of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED snapshot: no GPU adapter renders snapshots here ({why}); \
                 install Mesa lavapipe (mesa-vulkan-drivers, libvulkan1) to compare them, \
                 {REQUIRE_GPU}=1 makes this an error"
            );
            false
        }
    }
}

/// `h.snapshot(name)` where snapshots can be rendered (see [`gpu`]); otherwise the reason
/// it is skipped is printed.
pub fn snapshot<S>(h: &mut Harness<'_, S>, name: &str) {
    if gpu() {
        h.snapshot(name);
    }
}

/// The harness over the app.
pub type H<'a> = Harness<'a, Option<ArtemoApp>>;

/// A models folder holding only a tiny (untrained, seeded) EmoSEM, where the demo kit
/// would install it.
pub fn tiny_emosem(root: &Path) {
    std::fs::write(root.join("MODELS.toml"), "").unwrap();
    tiny_emosem_at(&root.join("demo/emosem"), 11);
}

/// A tiny (untrained) EmoSEM checkpoint folder at `dir`, initialised with `seed`.
pub fn tiny_emosem_at(dir: &Path, seed: u64) {
    let assets = artemo_engine::find_assets().expect("assets/");
    let mut cfg = EmosemConfig::small(
        Paradigm::Multi,
        4,
        PatchColourGrid::DIM,
        PatchColourGrid::NAME,
    );
    cfg.explainer.n_embd = 16;
    cfg.explainer.n_layer = 1;
    cfg.explainer.n_head = 2;
    cfg.prefix_hidden = 16;
    cfg.max_explanation_tokens = 5;
    write_initial_model(&cfg, &assets, dir, seed).unwrap();
}

/// The app on the shipped collection (one compute thread, no frame-time readout),
/// rendered with wgpu at `size`. The models folder is `$ARTEMO_MODELS`, read on the
/// first frame.
pub fn shipped_app(size: [f32; 2]) -> H<'static> {
    app_on(None, size, true)
}

/// The app on `collection` (the shipped one when `None`), one compute thread, no
/// frame-time readout; `wgpu` picks the wgpu renderer explicitly.
pub fn app_on(collection: Option<PathBuf>, size: [f32; 2], wgpu: bool) -> H<'static> {
    hermetic_user_data();
    let mut b = Harness::builder()
        // A few hundred pixels of antialiasing noise between runs are tolerated.
        .with_options(egui_kittest::SnapshotOptions::new().max_failed_pixels(500))
        .with_size(size);
    if wgpu && gpu() {
        b = b.wgpu();
    }
    b.build_ui_state(
        move |ui, app: &mut Option<ArtemoApp>| {
            let app = app.get_or_insert_with(|| {
                let cfg = EngineConfig {
                    threads: 1,
                    ..Default::default()
                };
                let mut a = ArtemoApp::new(ui.ctx(), None, collection.clone(), cfg).unwrap();
                // The frame time differs from run to run.
                a.show_frame_time(false);
                a
            });
            app.frame(ui);
        },
        None,
    )
}

/// Points `ARTEMO_DATA` (the user's data folder: imported models, runs, logs, review
/// journals) and `ARTEMO_CACHE` (features and cached analyses) at empty folders of this
/// test process unless a test chose them, so the UI tests never see the user's own
/// imports, runs or cached results, nor write into their home.
pub fn hermetic_user_data() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (var, name) in [("ARTEMO_DATA", "data"), ("ARTEMO_CACHE", "cache")] {
            if std::env::var_os(var).is_none() {
                let dir =
                    std::env::temp_dir().join(format!("artemo-ui-{name}-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                std::env::set_var(var, &dir);
            }
        }
    });
}

/// Steps until a label containing `text` shows, within `secs` seconds.
pub fn wait_label(h: &mut H<'_>, text: &str, secs: u64) {
    let t0 = Instant::now();
    loop {
        h.step();
        if h.query_by_label_contains(text).is_some() {
            h.run_steps(3);
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "`{text}` did not show within {secs}s"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Steps until no thumbnail is being decoded (the status bar's spinner is animated).
pub fn settle(h: &mut H<'_>) {
    let t0 = Instant::now();
    while h.query_by_label_contains("decoding").is_some() && t0.elapsed() < Duration::from_secs(60)
    {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    h.run_steps(2);
}

/// Steps (letting the engine work) until `ok` holds, then three more frames.
pub fn wait_for(h: &mut H<'_>, what: &str, ok: impl Fn(&H<'_>) -> bool) {
    let start = Instant::now();
    while !ok(h) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_steps(3);
}
