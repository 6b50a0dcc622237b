//! The grid's thumbnails: asked of the engine's disk cache (`LoadThumb`), only for the
//! cells on screen, requests for cells scrolled past dropped.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use artemo_engine::collection::{Collection, CollectionKind, Painting};
use artemo_engine::worker::{Command, Engine, EngineConfig, JobOutput, Lane};
use egui_kittest::Harness;

use crate::gui::state::{AppState, Pending, Settings};

fn painting(path: PathBuf, i: usize) -> Painting {
    Painting {
        title: Some(format!("Painting {i}")),
        ..Painting::new(format!("p{i}"), path)
    }
}

/// A state with `n` paintings in `dir` (written as small PNGs, distinct bytes, when
/// `images`) and its thumbnail cache in `dir/thumbs`.
fn state(dir: &Path, n: usize, images: bool) -> AppState {
    let engine = Engine::start(EngineConfig::default()).unwrap();
    let mut s = AppState::new(engine, Settings::default());
    s.thumb_cache = dir.join("thumbs");
    let paintings = (0..n)
        .map(|i| {
            let p = dir.join(format!("p{i}.png"));
            if images {
                image::RgbImage::from_pixel(40 + i as u32, 30, image::Rgb([i as u8 * 40, 90, 9]))
                    .save(&p)
                    .unwrap();
            }
            painting(p, i)
        })
        .collect();
    s.collection = Some(Collection {
        name: "t".into(),
        source: dir.join("paintings.csv"),
        kind: CollectionKind::Manifest,
        paintings,
        problems: vec![],
    });
    s
}

fn harness(state: AppState, size: [f32; 2]) -> Harness<'static, AppState> {
    Harness::builder().with_size(size).build_ui_state(
        |ui, s: &mut AppState| {
            let ctx = ui.ctx().clone();
            while let Some(ev) = s.engine.try_event() {
                s.on_event(&ctx, ev);
            }
            let w = ui.available_width();
            super::grid::grid(s, ui, w);
        },
        state,
    )
}

fn thumb_jobs(s: &AppState) -> Vec<usize> {
    let mut v: Vec<usize> = s
        .pending
        .values()
        .filter_map(|p| match p {
            Pending::Thumb(i) => Some(*i),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn grid_thumbnails_come_from_the_disk_cache() {
    let d = tempfile::tempdir().unwrap();
    let mut h = harness(state(d.path(), 3, true), [800.0, 400.0]);
    let start = Instant::now();
    while !(0..3).all(|i| h.state().thumbs.contains(&i)) {
        assert!(start.elapsed() < Duration::from_secs(60), "no thumbnails");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(h.state().failed.is_empty(), "{:?}", h.state().failed);
    // One cache entry per image, under the thumbnails' side.
    let entries = walk(&d.path().join("thumbs/256"));
    assert_eq!(entries, 3, "cache entries");
    assert_eq!(h.state().grid_shown, [0, 1, 2]);
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "thumb"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn requests_for_cells_scrolled_past_are_dropped() {
    let d = tempfile::tempdir().unwrap();
    let s = state(d.path(), 400, false);
    // The io lane is held busy, so every request stays queued while the grid scrolls.
    let (release, wait) = mpsc::channel::<()>();
    s.engine
        .submit(Command::Run {
            name: "hold the io lane".into(),
            lane: Lane::Io,
            job: Box::new(move |_| {
                let _ = wait.recv_timeout(Duration::from_secs(60));
                Ok(JobOutput::Unit)
            }),
        })
        .unwrap();
    let mut h = harness(s, [700.0, 400.0]);
    h.run_steps(2);
    // A few requests at a time, from the top of the first screen.
    let first = thumb_jobs(h.state());
    let shown = sorted(&h.state().grid_shown);
    let cols = h.state().grid_cols;
    assert!(shown.len() > cols.max(6), "{shown:?}");
    assert_eq!(first.len(), cols.max(6), "{first:?}");
    assert_eq!(first, shown[..first.len()]);
    // Far down the grid: only cells now on screen keep a request, the bottom row first
    // (scrolling down, those stay longest).
    h.state_mut().selected = Some(350);
    h.state_mut().scroll_to_selected = true;
    h.run_steps(3);
    let now = thumb_jobs(h.state());
    let shown = sorted(&h.state().grid_shown);
    assert!(shown.contains(&350), "{shown:?}");
    assert_eq!(now.len(), cols.max(6), "{now:?}");
    assert_eq!(now, shown[shown.len() - now.len()..], "{shown:?}");
    assert_eq!(h.state().requested.len(), now.len());
    // Released, the lane answers the dropped ones as cancelled without reading them: only
    // cells on screen fail (the files do not exist), none of the first screen's.
    release.send(()).unwrap();
    let start = Instant::now();
    while !h.state().pending.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60));
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let failed: Vec<usize> = h.state().failed.keys().copied().collect();
    assert!(!failed.is_empty());
    let shown = &h.state().grid_shown;
    assert!(failed.iter().all(|i| shown.contains(i)), "{failed:?}");
}

fn sorted(v: &[usize]) -> Vec<usize> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}
