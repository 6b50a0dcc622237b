//! `artemo bench map`'s frame times: the real Map tab drawn headless on a computed map
//! (egui pass + tessellation, the CPU half of a frame; the GPU upload and draw are not
//! included), while the view pans across the map and zooms in and out.

use std::time::Instant;

use artemo_engine::worker::{Engine, EngineConfig};

use super::*;
use crate::gui::textures::LruCache;

/// Frame times (milliseconds) of the Map tab on `data`, in a `size` window: `pan` frames
/// panning across the map at zoom 1, then `zoom` frames zooming in to x30 and back out.
pub struct FrameTimes {
    /// While panning.
    pub pan: Vec<f64>,
    /// While zooming.
    pub zoom: Vec<f64>,
    /// Most thumbnails drawn in one frame.
    pub max_thumbs: usize,
    /// Texture memory of the atlas, bytes.
    pub atlas_bytes: usize,
}

/// Draws the Map tab over `data` (computed for `method` and `k`) headless; see
/// [`FrameTimes`].
#[allow(clippy::too_many_arguments)]
pub fn frame_times(
    data: MapData,
    coll: &Collection,
    model_dir: PathBuf,
    models: PathBuf,
    method: Method,
    k: usize,
    frames: usize,
    size: [f32; 2],
) -> Result<FrameTimes, String> {
    let engine = Engine::start(EngineConfig {
        threads: 1,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let mut map = Map::new();
    map.weights.models = Some(models);
    map.weights.dir = Some(model_dir);
    map.method = method;
    map.k = k;
    map.colour = Some(ColourBy::ZeroShot);
    if let Ok(z) = &data.zero_shot {
        map.prompts = z.prompts;
        map.calibration = z.calibration;
    } else {
        map.colour = Some(ColourBy::Cluster);
    }
    let key = (coll.source.clone(), fingerprint(coll));
    map.current = Some(key.clone());
    map.cache.insert(key, Arc::new(data));
    let ctx = egui::Context::default();
    let mut thumbs = LruCache::new(64);
    let responses = HashMap::new();
    let mut actions = Vec::new();
    let screen = Rect::from_min_size(Pos2::ZERO, Vec2::new(size[0], size[1]));
    let mut frame = |map: &mut Map, i: usize| -> f64 {
        let raw = egui::RawInput {
            screen_rect: Some(screen),
            time: Some(i as f64 / 60.0),
            ..Default::default()
        };
        let t0 = Instant::now();
        let out = ctx.run_ui(raw, |ui| {
            let mut shared = Shared {
                engine: &engine,
                collection: Some(coll),
                selected: None,
                thumbs: &mut thumbs,
                responses: &responses,
                view: None,
                actions: &mut actions,
            };
            map.draw(ui, &mut shared);
        });
        let mut out = out;
        let prims = ctx.tessellate(std::mem::take(&mut out.shapes), out.pixels_per_point);
        std::hint::black_box(prims);
        // No renderer here: the texture uploads are dropped on purpose.
        out.textures_delta.clear();
        t0.elapsed().as_secs_f64() * 1000.0
    };
    // Warm-up: the atlas upload and font atlas happen here.
    for i in 0..3 {
        frame(&mut map, i);
    }
    let span = map.span;
    let start = map.centre.unwrap_or(Vec2::ZERO);
    let mut pan = Vec::with_capacity(frames);
    let mut max_thumbs = 0;
    for i in 0..frames {
        // Across the map and back, a sixth of its width per second.
        let t = i as f32 / frames.max(1) as f32;
        let dx = (t * std::f32::consts::TAU).sin() * span.x * 0.4;
        let dy = (t * std::f32::consts::TAU).cos() * span.y * 0.2 - span.y * 0.2;
        map.centre = Some(start + Vec2::new(dx, dy));
        pan.push(frame(&mut map, 3 + i));
        max_thumbs = max_thumbs.max(map.last_placed);
    }
    map.centre = Some(start);
    let mut zoom = Vec::with_capacity(frames);
    for i in 0..frames {
        let t = i as f32 / frames.max(1) as f32;
        // In to x30 and out again, drifting towards a corner.
        let z = 30f32.powf((t * std::f32::consts::PI).sin());
        map.zoom = z;
        map.centre = Some(start + Vec2::new(span.x * 0.15, span.y * 0.1) * (z.ln() / 30f32.ln()));
        zoom.push(frame(&mut map, 3 + frames + i));
        max_thumbs = max_thumbs.max(map.last_placed);
    }
    let atlas_bytes = map.atlas_tex.as_ref().map_or(0, |t| t.bytes());
    Ok(FrameTimes {
        pan,
        zoom,
        max_thumbs,
        atlas_bytes,
    })
}
