//! `artemo bench collection`'s measurements of the real window, headless: the app (the
//! same `ArtemoApp` the window runs) in an `egui::Context` of 1400 x 900 points, one frame
//! every 1/60 s (`ctx.run_ui` and tessellation timed), opening a collection with a cold
//! and then a warm thumbnail cache until every cell on the first screen of the grid shows
//! its thumbnail, scrolling the grid, and the browse bar's facets, filters and sorts.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use artemo_engine::annotations::Annotation;
use artemo_engine::collection::Collection;
use artemo_engine::worker::EngineConfig;
use artemo_engine::Emotion;

use super::app::ArtemoApp;
use super::browse::{EmotionFilter, Sort};
use super::frames::{summarize, Summary};
use super::state::AppState;

/// The window's size.
const SCREEN: egui::Vec2 = egui::vec2(1400.0, 900.0);
/// One frame at 60 Hz.
const FRAME: Duration = Duration::from_micros(16_667);
/// Frames scrolled, and points scrolled per frame (7,200 points a second: a fast scroll).
const SCROLL_FRAMES: usize = 600;
const SCROLL_STEP: f32 = 120.0;
/// How long the first screen may take before the benchmark gives up.
const GIVE_UP: Duration = Duration::from_secs(120);

/// The first screen of the grid: from starting the app (which opens the collection) to
/// the first frame where every cell on screen shows its thumbnail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FirstScreen {
    /// Until the collection was open in the app.
    pub open_ms: f64,
    /// Until every cell on screen had its thumbnail.
    pub ms: f64,
    /// Frames drawn until then.
    pub frames: usize,
    /// Cells on the first screen.
    pub cells: usize,
    /// Their frames' times.
    pub frame_times: Summary,
}

/// Scrolling the grid.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scroll {
    /// Frame times (`run_ui` + tessellation).
    pub frame_times: Summary,
    /// Points scrolled.
    pub points: f32,
    /// Share of the cells drawn that showed their thumbnail (the rest a placeholder).
    pub thumbs_shown: f64,
    /// Thumbnail requests waiting after the last frame (at most the cells on screen when
    /// requests scrolled past are dropped).
    pub pending_after: usize,
    /// Cells on screen in the last frame.
    pub cells_after: usize,
}

/// One browse-bar change: its computation (the visible list, or the facets) and the
/// frame that shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BrowseTime {
    /// What changed.
    pub what: String,
    /// Paintings shown after it.
    pub shown: usize,
    /// The computation alone.
    pub compute_ms: f64,
    /// The whole frame after the change.
    pub frame_ms: f64,
}

/// Everything measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GridBench {
    /// Paintings in the collection.
    pub paintings: usize,
    /// Reading the manifest (`Collection::open`), outside the app.
    pub manifest_ms: f64,
    /// Opening the images' folder as a folder (walked), with the paintings found.
    pub folder_ms: Option<(f64, usize)>,
    /// One thumbnail made from its image, and read back from the cache (mean of 100, one
    /// thread).
    pub thumb_ms: [f64; 2],
    /// The first screen with an empty thumbnail cache.
    pub cold: FirstScreen,
    /// The first screen again, the thumbnails cached.
    pub warm: FirstScreen,
    /// Scrolling (warm app).
    pub scroll: Scroll,
    /// Facets, filters and sorts.
    pub browse: Vec<BrowseTime>,
}

/// The app under a headless context.
struct Headless {
    ctx: egui::Context,
    app: ArtemoApp,
    time: f64,
}

impl Headless {
    fn start(collection: &Path, thumbs: &Path) -> Result<Self> {
        let ctx = egui::Context::default();
        let mut app = ArtemoApp::new(
            &ctx,
            None,
            Some(collection.to_path_buf()),
            EngineConfig::default(),
        )?;
        app.state_mut().thumb_cache = thumbs.to_path_buf();
        // Frame times are what is measured here; the status bar's own figure would change
        // the layout from frame to frame.
        app.show_frame_time(false);
        Ok(Headless {
            ctx,
            app,
            time: 0.0,
        })
    }

    /// One frame with these input events; returns its time (UI code + tessellation).
    fn frame(&mut self, events: Vec<egui::Event>) -> f64 {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, SCREEN)),
            time: Some(self.time),
            predicted_dt: FRAME.as_secs_f32(),
            events,
            ..Default::default()
        };
        let t = Instant::now();
        let app = &mut self.app;
        let mut out = self.ctx.run_ui(input, |ui| app.frame(ui));
        let prims = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        drop(prims);
        // No GPU here: the textures a renderer would upload are dropped.
        out.textures_delta.clear();
        self.time += FRAME.as_secs_f64();
        ms
    }

    /// Sleeps out the rest of a 60 Hz frame that took `ms`.
    fn pace(ms: f64) {
        let left = FRAME.as_secs_f64() - ms / 1e3;
        if left > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(left));
        }
    }

    fn state(&mut self) -> &mut AppState {
        self.app.state_mut()
    }

    /// Every cell the grid drew last frame shows its thumbnail (or its error).
    fn screen_ready(&mut self) -> bool {
        let s = self.state();
        !s.grid_shown.is_empty()
            && s.grid_shown
                .iter()
                .all(|i| s.thumbs.contains(i) || s.failed.contains_key(i))
    }

    /// Frames until the first screen is complete.
    fn first_screen(&mut self, started: Instant) -> Result<FirstScreen> {
        let mut open_ms = None;
        let mut times = Vec::new();
        loop {
            let ms = self.frame(Vec::new());
            times.push(ms);
            if open_ms.is_none() && self.state().collection.is_some() {
                open_ms = Some(started.elapsed().as_secs_f64() * 1e3);
            }
            if self.screen_ready() {
                break;
            }
            if started.elapsed() > GIVE_UP {
                return Err(anyhow!(
                    "the grid's first screen was not complete after {} s",
                    GIVE_UP.as_secs()
                ));
            }
            Self::pace(ms);
        }
        let total = started.elapsed().as_secs_f64() * 1e3;
        let frames = times.len();
        Ok(FirstScreen {
            open_ms: open_ms.unwrap_or(total),
            ms: total,
            frames,
            cells: self.state().grid_shown.len(),
            frame_times: summarize(&mut times).context("no frame")?,
        })
    }

    /// Scrolls down the grid with the wheel, one step a frame.
    fn scroll(&mut self) -> Result<Scroll> {
        let over_grid = egui::pos2(300.0, 500.0);
        self.frame(vec![egui::Event::PointerMoved(over_grid)]);
        let mut times = Vec::with_capacity(SCROLL_FRAMES);
        let (mut cells, mut with_thumb) = (0usize, 0usize);
        for _ in 0..SCROLL_FRAMES {
            let wheel = egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, -SCROLL_STEP),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
                modifiers: egui::Modifiers::NONE,
            };
            let ms = self.frame(vec![wheel]);
            times.push(ms);
            let s = self.state();
            cells += s.grid_shown.len();
            with_thumb += s.grid_shown.iter().filter(|i| s.thumbs.contains(i)).count();
            Self::pace(ms);
        }
        let s = self.state();
        let pending_after = s.requested.len();
        let cells_after = s.grid_shown.len();
        Ok(Scroll {
            frame_times: summarize(&mut times).context("no frame")?,
            points: SCROLL_FRAMES as f32 * SCROLL_STEP,
            thumbs_shown: with_thumb as f64 / cells.max(1) as f64,
            pending_after,
            cells_after,
        })
    }

    /// The facets with responses for every painting, then each filter and sort.
    fn browse(&mut self) -> Result<Vec<BrowseTime>> {
        let mut out = Vec::new();
        let s = self.state();
        let c = s.collection.as_ref().context("no collection")?;
        s.responses = synthetic_responses(c);
        s.generation += 1;
        let t = Instant::now();
        s.browse.refresh(s.generation, c, &s.responses);
        let compute_ms = t.elapsed().as_secs_f64() * 1e3;
        let frame_ms = self.frame(Vec::new());
        out.push(BrowseTime {
            what: "facets (artists, styles, years, emotions, ambiguity)".into(),
            shown: self.state().visible().len(),
            compute_ms,
            frame_ms,
        });
        let (artist, style, years) = self.state().browse.facet_sample();
        type Change = Box<dyn Fn(&mut AppState)>;
        let mut changes: Vec<(String, Change)> = Vec::new();
        if let Some(a) = artist.clone() {
            let word: String = a
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_lowercase()
                .chars()
                .take(6)
                .collect();
            changes.push((
                format!("text filter \"{word}\""),
                Box::new(move |s: &mut AppState| s.filter = word.clone()),
            ));
            changes.push((
                "artist (the most common)".into(),
                Box::new(move |s: &mut AppState| s.browse.set_artist(Some(&a))),
            ));
        }
        if let Some(st) = style {
            changes.push((
                "style (the most common)".into(),
                Box::new(move |s: &mut AppState| s.browse.set_style(Some(&st))),
            ));
        }
        if let Some((lo, hi)) = years {
            let (a, b) = (lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3);
            changes.push((
                format!("years {a}-{b}"),
                Box::new(move |s: &mut AppState| s.browse.set_years(Some((a, b)))),
            ));
        }
        for (what, e) in [
            (
                "dominant emotion: contentment",
                EmotionFilter::Dominant(Emotion::Contentment),
            ),
            ("split votes", EmotionFilter::Split),
        ] {
            changes.push((
                what.into(),
                Box::new(move |s: &mut AppState| s.browse.set(e, (0.0, 1.0))),
            ));
        }
        changes.push((
            "ambiguity 0.5-1".into(),
            Box::new(|s: &mut AppState| s.browse.set(EmotionFilter::Any, (0.5, 1.0))),
        ));
        changes.push((
            "map selection of every other painting".into(),
            Box::new(|s: &mut AppState| {
                let n = s.collection.as_ref().map_or(0, |c| c.paintings.len());
                s.only = Some((0..n).step_by(2).collect());
            }),
        ));
        for sort in Sort::ALL {
            changes.push((
                format!("sort: {}", sort.label()),
                Box::new(move |s: &mut AppState| s.browse.set_sort(sort)),
            ));
        }
        for (what, change) in changes {
            // Each from the unfiltered grid.
            let s = self.state();
            s.browse.clear();
            s.browse.set_sort(Sort::Collection);
            s.filter.clear();
            s.only = None;
            s.visible();
            change(s);
            let t = Instant::now();
            let shown = s.visible().len();
            let compute_ms = t.elapsed().as_secs_f64() * 1e3;
            // The frame that shows it computes nothing more (the list is cached): the
            // change as the user waits for it is the computation plus this frame.
            let frame_ms = self.frame(Vec::new());
            out.push(BrowseTime {
                what,
                shown,
                compute_ms,
                frame_ms,
            });
        }
        Ok(out)
    }
}

/// Five responses per painting with seeded emotions (most paintings with a clear
/// majority, some split), so the emotion facets and filters have work at any size.
fn synthetic_responses(c: &Collection) -> HashMap<String, Vec<Annotation>> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    c.paintings
        .iter()
        .map(|p| {
            let main = Emotion::ALL[(next() % 9) as usize];
            let rows = (0..5)
                .map(|_| {
                    let emotion = if next() % 10 < 6 {
                        main
                    } else {
                        Emotion::ALL[(next() % 9) as usize]
                    };
                    Annotation {
                        art_style: p.style.clone().unwrap_or_default(),
                        painting: p.id.clone(),
                        emotion,
                        utterance: String::new(),
                        repetition: None,
                    }
                })
                .collect();
            (p.id.clone(), rows)
        })
        .collect()
}

/// Runs every measurement on the collection at `manifest`, with thumbnails cached in
/// `thumbs` (emptied first: the first open is cold).
pub fn run(manifest: &Path, thumbs: &Path, mut progress: impl FnMut(&str)) -> Result<GridBench> {
    if thumbs.exists() {
        std::fs::remove_dir_all(thumbs).with_context(|| format!("{}", thumbs.display()))?;
    }
    progress("reading the manifest");
    let t = Instant::now();
    let coll = Collection::open(manifest)?;
    let manifest_ms = t.elapsed().as_secs_f64() * 1e3;
    let paintings = coll.paintings.len();
    // The same images opened as a folder (walked, no manifest).
    let folder = coll
        .paintings
        .first()
        .and_then(|p| p.path.parent())
        .map(Path::to_path_buf);
    // One thumbnail at a time, as the io lane makes them: from the image, then from the
    // cache (paintings the grid's measurements below do not reach).
    let rate_dir = thumbs.with_extension("rate");
    let cache =
        artemo_engine::thumbs::ThumbCache::new(&rate_dir, artemo_engine::thumbs::THUMB_SIDE);
    let sample: Vec<&Path> = coll
        .paintings
        .iter()
        .skip(paintings / 2)
        .take(100)
        .map(|p| p.path.as_path())
        .collect();
    let mut per_thumb = [0.0; 2];
    for ms in &mut per_thumb {
        let t = Instant::now();
        for p in &sample {
            cache.get(p)?;
        }
        *ms = t.elapsed().as_secs_f64() * 1e3 / sample.len().max(1) as f64;
    }
    let _ = std::fs::remove_dir_all(&rate_dir);
    drop(coll);
    let folder_ms = match folder {
        Some(f) => {
            let t = Instant::now();
            let n = Collection::open_folder(&f)?.paintings.len();
            Some((t.elapsed().as_secs_f64() * 1e3, n))
        }
        None => None,
    };
    progress("the first screen, cold thumbnail cache");
    let started = Instant::now();
    let mut h = Headless::start(manifest, thumbs)?;
    let cold = h.first_screen(started)?;
    drop(h);
    progress("the first screen, warm thumbnail cache");
    let started = Instant::now();
    let mut h = Headless::start(manifest, thumbs)?;
    let warm = h.first_screen(started)?;
    progress("scrolling");
    let scroll = h.scroll()?;
    progress("facets, filters and sorts");
    let browse = h.browse()?;
    Ok(GridBench {
        paintings,
        manifest_ms,
        folder_ms,
        thumb_ms: per_thumb,
        cold,
        warm,
        scroll,
        browse,
    })
}
