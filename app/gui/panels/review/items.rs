//! The Review tab's items: moving between regions, the current item's images and masks,
//! edits with undo/redo, verdicts, each recorded in the session's journal.

use super::canvas::mask_image;
use super::*;

impl Review {
    pub(super) fn record(&mut self, shared: &mut Shared, op: ReviewOp) {
        rv::apply(&mut self.states, &op);
        let Some(j) = self.journal.clone() else {
            return;
        };
        let job = Box::new(move |_: &artemo_engine::worker::JobContext| {
            let mut g = j.lock().unwrap_or_else(|e| e.into_inner());
            g.record(op)?;
            Ok(JobOutput::Unit)
        });
        match shared.engine.submit(Command::Run {
            name: "review: autosave".into(),
            lane: Lane::Io,
            job,
        }) {
            Ok(id) => {
                self.pending.insert(id, Pending::Journal);
            }
            Err(e) => shared.notice(format!("Review autosave failed: {e}"), true),
        }
    }

    pub(super) fn key(&self) -> Option<ItemKey> {
        self.samples.get(self.cur).map(|s| s.key.clone())
    }

    pub(super) fn iou_of(&self, k: &ItemKey) -> Option<f64> {
        match self.live_iou.get(k) {
            Some(v) => *v,
            None => self.preds.get(k).and_then(|p| p.ious.map(|x| x.0)),
        }
    }

    pub(super) fn goto(&mut self, i: usize) {
        if i < self.samples.len() && i != self.cur {
            // A note typed but not yet saved goes with the item it was typed on.
            if let (Some(c), Some(k)) = (&self.current, self.key()) {
                let saved = self.states.get(&k).map(|st| st.note.as_str()).unwrap_or("");
                if c.note != saved {
                    self.queued.push(ReviewOp::Note {
                        item: k,
                        note: c.note.clone(),
                    });
                }
            }
            self.cur = i;
            self.current = None;
        }
    }

    pub(super) fn next_where(&self, f: impl Fn(&Self, &ReviewSample) -> bool) -> Option<usize> {
        let n = self.samples.len();
        (1..=n)
            .map(|k| (self.cur + k) % n)
            .find(|&i| f(self, &self.samples[i]))
    }

    /// Builds the current item's masks and textures when it changed.
    pub(super) fn ensure_current(&mut self, ctx: &egui::Context, shared: &mut Shared) {
        let Some(s) = self.samples.get(self.cur) else {
            return;
        };
        if self.current.as_ref().is_some_and(|c| c.index == self.cur) {
            // A prediction may have arrived since.
            let key = s.key.clone();
            if let Some(c) = self.current.as_mut() {
                if c.pred.is_none() {
                    if let Some(p) = self.preds.get(&key) {
                        c.pred = Some(p.mask.clone());
                        c.pred_tex = None;
                    }
                }
            }
        } else {
            let rle = self.effective_rle(s);
            let gt = match rle::decode(&rle) {
                Ok(m) => m,
                Err(e) => {
                    self.error = Some(format!("{} {}: {e}", s.key.painting, s.key.emotion.name()));
                    Mask::new(1, 1)
                }
            };
            let note = self
                .states
                .get(&s.key)
                .map(|st| st.note.clone())
                .unwrap_or_default();
            self.current = Some(Current {
                index: self.cur,
                gt,
                pred: self.preds.get(&s.key).map(|p| p.mask.clone()),
                gt_tex: None,
                pred_tex: None,
                undo: Vec::new(),
                redo: Vec::new(),
                stroke: None,
                note,
            });
            self.xf.fit();
        }
        let index = s.index;
        let image = s.image.clone();
        if !self.images.contains(&index) && !self.busy(Pending::Image(index)) {
            if let Ok(id) = shared.engine.submit(Command::LoadImage {
                path: image,
                max_side: 2048,
            }) {
                self.pending.insert(id, Pending::Image(index));
            }
        }
        if let Some(c) = self.current.as_mut() {
            if c.gt_tex.is_none() {
                c.gt_tex = Some(ctx.load_texture(
                    "review-gt",
                    mask_image(&c.gt, theme::GROUND_TRUTH, false),
                    PIXEL_TEXTURE,
                ));
            }
            if c.pred_tex.is_none() {
                if let Some(p) = &c.pred {
                    let contour = self.layout == Layout::Overlay;
                    c.pred_tex = Some(ctx.load_texture(
                        "review-pred",
                        mask_image(p, theme::PREDICTION, contour),
                        PIXEL_TEXTURE,
                    ));
                }
            }
        }
    }

    pub(super) fn live_update(&mut self) {
        let Some(c) = &self.current else { return };
        let Some(k) = self.key() else { return };
        let iou = c.pred.as_ref().and_then(|p| p.iou(&c.gt).ok().flatten());
        let iou = if c.gt.is_empty() {
            None
        } else {
            Some(iou.unwrap_or(0.0))
        };
        self.live_iou.insert(k, iou);
    }

    pub(super) fn commit_mask(&mut self, shared: &mut Shared) {
        let Some(k) = self.key() else { return };
        let Some(c) = &self.current else { return };
        let rle = rle::encode(&c.gt);
        let original = self.samples[self.cur].gt.clone();
        let mask = (rle != original).then_some(rle);
        self.live_update();
        self.record(shared, ReviewOp::Mask { item: k, mask });
    }

    pub(super) fn set_verdict(&mut self, shared: &mut Shared, v: Verdict) {
        let Some(k) = self.key() else { return };
        let now = self.states.get(&k).and_then(|s| s.verdict);
        let verdict = if now == Some(v) { None } else { Some(v) };
        self.record(shared, ReviewOp::Verdict { item: k, verdict });
    }

    pub(super) fn undo(&mut self, shared: &mut Shared, redo: bool) {
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let (from, to) = if redo {
            (&mut c.redo, &mut c.undo)
        } else {
            (&mut c.undo, &mut c.redo)
        };
        let Some(m) = from.pop() else { return };
        to.push(std::mem::replace(&mut c.gt, m));
        c.gt_tex = None;
        self.commit_mask(shared);
    }
}
