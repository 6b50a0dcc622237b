//! The app's own engine jobs: opening a collection, loading responses, thumbnails (from
//! the disk cache by image hash, decoded there on a miss; requests scrolled past are
//! dropped) and the viewer image (all on the engine's io lane; the UI only uploads
//! finished pixels as textures), and what their events change in the state.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use artemo_engine::collection::Collection;
use artemo_engine::worker::{Command, Event, EventKind, JobId, JobOutput, LoadedImage};
use egui::{TextureHandle, TextureOptions};

use super::state::{AppState, Pending, ViewImage};
use super::widgets::zoom_canvas;

/// Longest side of the viewer image (the original file stays untouched on disk).
const VIEW_SIDE: u32 = 2048;

impl AppState {
    pub(crate) fn open(&mut self, path: PathBuf) {
        self.path_input = artemo_engine::shown_path(&path);
        match self.engine.submit(Command::OpenCollection { path }) {
            Ok(id) => {
                self.pending.insert(id, Pending::Open);
            }
            Err(e) => self.notice(e.to_string(), true),
        }
    }

    /// Loads an ArtEmis-format CSV of responses for the open collection (replacing the
    /// responses shown so far once it has been read).
    pub(crate) fn load_responses(&mut self, path: PathBuf) {
        match self
            .engine
            .submit(Command::LoadAnnotations { path: path.clone() })
        {
            Ok(id) => {
                let source = artemo_engine::shown_path(&path);
                self.responses_loading = Some(source.clone());
                self.pending.insert(id, Pending::Annotations(source));
            }
            Err(e) => self.notice(format!("{}: {e}", path.display()), true),
        }
    }

    fn take_responses(
        &mut self,
        source: String,
        rows: Vec<artemo_engine::annotations::Annotation>,
    ) {
        // Repeated rows would count twice in the histograms: said, never silently taken.
        let dups = artemo_engine::annotations::artemis::duplicate_rows(&rows);
        if let Some(w) = artemo_engine::annotations::artemis::describe_duplicates(
            std::path::Path::new(&source),
            &dups,
        ) {
            self.notice(w, false);
        }
        let ids: HashSet<&str> = self
            .collection
            .iter()
            .flat_map(|c| c.paintings.iter().map(|p| p.id.as_str()))
            .collect();
        let mut by: HashMap<String, Vec<_>> = HashMap::new();
        let total = rows.len();
        for r in rows {
            if ids.contains(r.painting.as_str()) {
                by.entry(r.painting.clone()).or_default().push(r);
            }
        }
        if by.is_empty() {
            self.notice(
                format!(
                    "{source}: none of its {total} responses names a painting of this collection \
                     (the `painting` column must be the image's file name without extension)"
                ),
                true,
            );
            return;
        }
        let matched: usize = by.values().map(Vec::len).sum();
        if matched < total {
            self.notice(
                format!(
                    "{source}: {matched} of {total} responses matched {} paintings; the rest name \
                     paintings not in this collection",
                    by.len()
                ),
                false,
            );
        }
        self.responses = by;
        self.responses_source = Some(source);
        self.generation += 1;
    }

    fn set_collection(&mut self, c: Collection) {
        for id in self.pending.keys().copied().collect::<Vec<_>>() {
            self.engine.cancel(id);
        }
        self.pending.clear();
        self.requested.clear();
        self.failed.clear();
        // Problems of the collection shown before are no longer the user's concern.
        self.notices.drop_errors();
        self.thumbs.clear();
        self.visible_cache.clear();
        self.grid_shown.clear();
        self.view = None;
        self.selected = (!c.paintings.is_empty()).then_some(0);
        self.only = None;
        if !c.problems.is_empty() {
            self.notice(
                format!(
                    "{}: {} file(s) missing or unreadable (see Problems)",
                    c.name,
                    c.problems.len()
                ),
                true,
            );
        }
        self.responses.clear();
        self.responses_source = None;
        self.aic_descriptions = false;
        self.generation += 1;
        // The shipped collection comes with Artemo's own annotations.
        if let Some(a) = artemo_engine::find_assets() {
            let csv = a.join("annotations/artemo-aic.csv");
            let shipped = a.join("paintings/aic/paintings.csv");
            self.aic_descriptions = c
                .source
                .canonicalize()
                .ok()
                .zip(shipped.canonicalize().ok())
                .is_some_and(|(x, y)| x == y);
            if csv.is_file() && self.aic_descriptions {
                if let Ok(id) = self.engine.submit(Command::LoadAnnotations { path: csv }) {
                    let source =
                        "Artemo's own annotations (project-authored; not ArtEmis)".to_string();
                    self.responses_loading = Some(source.clone());
                    self.pending.insert(id, Pending::Annotations(source));
                }
            }
        }
        self.settings.recent.retain(|p| p != &c.source);
        self.settings.recent.insert(0, c.source.clone());
        self.settings.recent.truncate(8);
        self.collection = Some(c);
    }

    /// Handles an event of one of the app's own jobs (others are ignored).
    pub(crate) fn on_event(&mut self, ctx: &egui::Context, ev: Event) {
        let Some(kind) = self.pending.get(&ev.job).cloned() else {
            return;
        };
        match ev.kind {
            EventKind::Started { .. } | EventKind::Partial(_) => {}
            EventKind::Progress {
                fraction, message, ..
            } => {
                if kind == Pending::Open {
                    self.progress = Some((fraction, message));
                }
            }
            EventKind::Done(out) => {
                self.pending.remove(&ev.job);
                match (kind, out) {
                    (Pending::Open, JobOutput::Collection(c)) => {
                        self.progress = None;
                        self.set_collection(*c);
                    }
                    (Pending::Thumb(i) | Pending::DroppedThumb(i), JobOutput::Image(img)) => {
                        let tex = upload(ctx, &format!("thumb-{i}"), &img, TextureOptions::LINEAR);
                        self.thumbs.insert(i, tex);
                        self.requested.remove(&i);
                    }
                    (Pending::Annotations(source), JobOutput::Annotations(rows)) => {
                        if self.responses_loading.as_ref() == Some(&source) {
                            self.responses_loading = None;
                        }
                        self.take_responses(source, rows);
                    }
                    (Pending::View(i), JobOutput::Image(img)) => {
                        // Nearest when magnified: deep zoom shows the pixels.
                        let tex =
                            upload(ctx, &format!("view-{i}"), &img, zoom_canvas::PIXEL_TEXTURE);
                        for w in &img.warnings {
                            tracing::warn!("{}: {w}", img.path.display());
                        }
                        self.view = Some(ViewImage {
                            index: i,
                            texture: tex,
                            original: (img.original_width, img.original_height),
                            warnings: img.warnings,
                        });
                    }
                    _ => {}
                }
            }
            EventKind::Failed(msg) => {
                self.pending.remove(&ev.job);
                // A bad file fails its thumbnail and its viewer decode alike: said once.
                let new = match kind {
                    Pending::Thumb(i) | Pending::DroppedThumb(i) | Pending::View(i) => {
                        self.requested.remove(&i);
                        self.failed.insert(i, msg.clone()).as_ref() != Some(&msg)
                    }
                    Pending::Open => {
                        self.progress = None;
                        true
                    }
                    Pending::Annotations(source) => {
                        // Only this load's "loading" label goes; a failed file never
                        // becomes the responses' source.
                        if self.responses_loading.as_ref() == Some(&source) {
                            self.responses_loading = None;
                        }
                        true
                    }
                };
                if new {
                    self.notice(msg, true);
                }
            }
            EventKind::Cancelled => {
                self.pending.remove(&ev.job);
                if let Pending::Thumb(i) = kind {
                    self.requested.remove(&i);
                }
            }
        }
    }

    pub(crate) fn request_thumb(&mut self, i: usize) {
        if self.thumbs.contains(&i) || self.requested.contains(&i) || self.failed.contains_key(&i) {
            return;
        }
        let Some(p) = self.collection.as_ref().and_then(|c| c.paintings.get(i)) else {
            return;
        };
        // A full queue is not waited for: the cell asks again next frame.
        if let Ok(id) = self.engine.submit(Command::LoadThumb {
            path: p.path.clone(),
            cache: self.thumb_cache.clone(),
        }) {
            self.pending.insert(id, Pending::Thumb(i));
            self.requested.insert(i);
        }
    }

    /// Thumbnail requests waiting or running (not counting dropped ones).
    pub(crate) fn thumbs_in_flight(&self) -> usize {
        self.requested.len()
    }

    /// Cancels the thumbnail requests of paintings not in `wanted` (the cells the grid
    /// drew this frame): scrolled past, they would keep the io lane busy ahead of the
    /// cells now on screen. A cell scrolled back to asks again; a dropped request the lane
    /// had already started still delivers its thumbnail.
    pub(crate) fn drop_stale_thumbs(&mut self, wanted: &HashSet<usize>) {
        let stale: Vec<(JobId, usize)> = self
            .pending
            .iter()
            .filter_map(|(id, p)| match p {
                Pending::Thumb(i) if !wanted.contains(i) => Some((*id, *i)),
                _ => None,
            })
            .collect();
        for (id, i) in stale {
            self.engine.cancel(id);
            self.pending.insert(id, Pending::DroppedThumb(i));
            self.requested.remove(&i);
        }
    }

    pub(crate) fn ensure_view(&mut self) {
        let Some(i) = self.selected else { return };
        if self.view.as_ref().is_some_and(|v| v.index == i)
            || self.pending.values().any(|p| *p == Pending::View(i))
        {
            return;
        }
        // Drop stale viewer loads.
        let stale: Vec<JobId> = self
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, Pending::View(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.engine.cancel(id);
        }
        let Some(p) = self.collection.as_ref().and_then(|c| c.paintings.get(i)) else {
            return;
        };
        if self.failed.contains_key(&i) {
            return;
        }
        if let Ok(id) = self.engine.submit(Command::LoadImage {
            path: p.path.clone(),
            max_side: VIEW_SIDE,
        }) {
            self.pending.insert(id, Pending::View(i));
        }
    }
}

fn upload(
    ctx: &egui::Context,
    name: &str,
    img: &LoadedImage,
    options: TextureOptions,
) -> TextureHandle {
    let ci = egui::ColorImage::from_rgba_unmultiplied(
        [img.width as usize, img.height as usize],
        &img.rgba,
    );
    ctx.load_texture(name, ci, options)
}
