//! Reviewing stimulus masks: the ground truth to review (Artemo's own stimuli or an APOLO
//! root), and the review's journal.
//!
//! The journal autosaves every decision (accept, reject, flag, note, a fixed mask as COCO
//! RLE) in a session folder:
//!
//! - `journal.jsonl`: one JSON line per operation `{"seq": n, "op": ..., ...}`, appended
//!   and synced before [`ReviewJournal::record`] returns;
//! - `snapshot.json`: the whole state with the last sequence number it includes, written
//!   atomically (temporary file + rename) by [`ReviewJournal::compact`], after which the
//!   journal is emptied.
//!
//! Opening replays the snapshot, then every journal line with a larger sequence number
//! (a crash between writing the snapshot and emptying the journal replays nothing twice).
//! A last line without its newline, or unreadable, is what a crash in the middle of an
//! append leaves: it is dropped (cut off the file) and reported in [`Recovery`]; an
//! unreadable line before the last is an error naming the file and line.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::apolo::ApoloSet;
use super::rle::{self, CocoRle};
use super::stimuli::{rasterize, read_stimuli};
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::progress::Progress;

/// One reviewed item: a painting's region for one emotion.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    /// Painting id (file stem).
    pub painting: String,
    /// The emotion.
    pub emotion: Emotion,
}

impl Ord for ItemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.painting, self.emotion.index()).cmp(&(&other.painting, other.emotion.index()))
    }
}

impl PartialOrd for ItemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The annotator's decision on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The (possibly fixed) ground truth is right.
    Accepted,
    /// The ground truth is wrong.
    Rejected,
    /// Needs another look (see the note).
    Flagged,
}

/// The review state of one item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    /// The decision, if any.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// A free note.
    #[serde(default)]
    pub note: String,
    /// The fixed mask (COCO RLE), when the annotator edited the ground truth.
    #[serde(default)]
    pub mask: Option<CocoRle>,
}

/// One journalled operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ReviewOp {
    /// Sets (or clears) the decision.
    Verdict {
        /// The item.
        item: ItemKey,
        /// The decision.
        verdict: Option<Verdict>,
    },
    /// Replaces the note.
    Note {
        /// The item.
        item: ItemKey,
        /// The note.
        note: String,
    },
    /// Replaces (or drops) the fixed mask.
    Mask {
        /// The item.
        item: ItemKey,
        /// The mask.
        mask: Option<CocoRle>,
    },
}

impl ReviewOp {
    /// The item the operation changes.
    pub fn item(&self) -> &ItemKey {
        match self {
            ReviewOp::Verdict { item, .. }
            | ReviewOp::Note { item, .. }
            | ReviewOp::Mask { item, .. } => item,
        }
    }
}

/// Applies an operation to a state.
pub fn apply(state: &mut BTreeMap<ItemKey, ItemState>, op: &ReviewOp) {
    let s = state.entry(op.item().clone()).or_default();
    match op {
        ReviewOp::Verdict { verdict, .. } => s.verdict = *verdict,
        ReviewOp::Note { note, .. } => s.note = note.clone(),
        ReviewOp::Mask { mask, .. } => s.mask = mask.clone(),
    }
    if *s == ItemState::default() {
        state.remove(op.item());
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    seq: u64,
    #[serde(flatten)]
    op: ReviewOp,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    seq: u64,
    items: Vec<(ItemKey, ItemState)>,
}

/// What opening a session found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// Journal operations replayed on top of the snapshot.
    pub replayed: usize,
    /// Bytes of an interrupted last write that were dropped.
    pub torn_bytes: u64,
}

/// Operations between automatic compactions.
const COMPACT_EVERY: usize = 200;

/// An open review session (see the module documentation).
#[derive(Debug)]
pub struct ReviewJournal {
    dir: PathBuf,
    journal: File,
    state: BTreeMap<ItemKey, ItemState>,
    seq: u64,
    since_compact: usize,
}

impl ReviewJournal {
    /// Opens (or creates) the session in `dir`, replaying what it holds.
    pub fn open(dir: &Path) -> Result<(Self, Recovery)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let snap_path = dir.join("snapshot.json");
        let (mut state, mut seq) = (BTreeMap::new(), 0u64);
        if snap_path.is_file() {
            let text = crate::error::read_text(&snap_path)?;
            let s: Snapshot = serde_json::from_str(&text).map_err(|e| {
                Error::parse(
                    &snap_path,
                    Some(format!("line {}, column {}", e.line(), e.column())),
                    e.to_string(),
                )
            })?;
            seq = s.seq;
            state.extend(s.items);
        }
        let jpath = dir.join("journal.jsonl");
        let bytes = match std::fs::read(&jpath) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&jpath, e)),
        };
        let mut rec = Recovery::default();
        let mut good_len = 0usize;
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            let complete = line.ends_with(b"\n");
            let parsed = std::str::from_utf8(line)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Entry>(t.trim()).map_err(|e| e.to_string()));
            match parsed {
                Ok(entry) if complete => {
                    if entry.seq > seq {
                        apply(&mut state, &entry.op);
                        seq = entry.seq;
                        rec.replayed += 1;
                    }
                    good_len += line.len();
                }
                _ if last => {
                    rec.torn_bytes = line.len() as u64;
                }
                other => {
                    let msg = other.err().unwrap_or_else(|| "incomplete line".into());
                    return Err(Error::at(&jpath, format!("line {}", i + 1), msg));
                }
            }
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .map_err(|e| Error::io(&jpath, e))?;
        if rec.torn_bytes > 0 {
            journal
                .set_len(good_len as u64)
                .and_then(|_| journal.sync_data())
                .map_err(|e| Error::io(&jpath, e))?;
        }
        Ok((
            ReviewJournal {
                dir: dir.to_path_buf(),
                journal,
                state,
                seq,
                since_compact: rec.replayed,
            },
            rec,
        ))
    }

    /// The session folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state of every item with a decision, note or fixed mask.
    pub fn state(&self) -> &BTreeMap<ItemKey, ItemState> {
        &self.state
    }

    /// Appends `op` to the journal (synced to disk) and applies it.
    pub fn record(&mut self, op: ReviewOp) -> Result<()> {
        let entry = Entry {
            seq: self.seq + 1,
            op,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| Error::Invalid(e.to_string()))?;
        line.push(b'\n');
        let jpath = self.dir.join("journal.jsonl");
        self.journal
            .write_all(&line)
            .and_then(|_| self.journal.sync_data())
            .map_err(|e| Error::io(&jpath, e))?;
        self.seq = entry.seq;
        apply(&mut self.state, &entry.op);
        self.since_compact += 1;
        if self.since_compact >= COMPACT_EVERY {
            self.compact()?;
        }
        Ok(())
    }

    /// Writes the snapshot atomically, then empties the journal.
    pub fn compact(&mut self) -> Result<()> {
        let snap = Snapshot {
            format: 1,
            seq: self.seq,
            items: self
                .state
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let text = serde_json::to_vec(&snap).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(&self.dir.join("snapshot.json"), &text)?;
        let jpath = self.dir.join("journal.jsonl");
        self.journal
            .set_len(0)
            .and_then(|_| self.journal.sync_data())
            .map_err(|e| Error::io(&jpath, e))?;
        self.since_compact = 0;
        Ok(())
    }
}

/// Where the ground truth comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroundTruth {
    /// Artemo's stimulus polygons (`assets/annotations/stimuli.json`), rasterised at each
    /// painting's size.
    Stimuli {
        /// The JSON file.
        json: PathBuf,
    },
    /// An APOLO root: `apolo.json` and its pixel maps.
    Apolo {
        /// `apolo.json`.
        json: PathBuf,
        /// The maps folder (default: `apolo_pixel_map/` beside the JSON).
        maps: Option<PathBuf>,
    },
}

impl GroundTruth {
    /// A short description for the window.
    pub fn describe(&self) -> String {
        match self {
            GroundTruth::Stimuli { json } => {
                format!(
                    "Artemo's own stimulus regions ({})",
                    crate::shown_path(json)
                )
            }
            GroundTruth::Apolo { json, .. } => format!("APOLO ({})", crate::shown_path(json)),
        }
    }

    /// A file-name-safe tag naming this source (for the session folder).
    pub fn tag(&self) -> String {
        let p = match self {
            GroundTruth::Stimuli { json } | GroundTruth::Apolo { json, .. } => json,
        };
        let canon = p.canonicalize().unwrap_or_else(|_| p.clone());
        let digest = crate::manifest::sha256_bytes(canon.to_string_lossy().as_bytes());
        let hex = &digest[..12];
        let kind = match self {
            GroundTruth::Stimuli { .. } => "stimuli",
            GroundTruth::Apolo { .. } => "apolo",
        };
        format!("{kind}-{hex}")
    }
}

/// One ground-truth region to review.
#[derive(Debug, Clone)]
pub struct ReviewSample {
    /// Painting and emotion.
    pub key: ItemKey,
    /// Index of the painting in the collection.
    pub index: usize,
    /// The image file.
    pub image: PathBuf,
    /// The response the region belongs to, when known.
    pub utterance: Option<String>,
    /// The ground-truth mask.
    pub gt: CocoRle,
}

/// What [`load_ground_truth`] found in the open collection.
#[derive(Debug, Clone, Default)]
pub struct GroundTruthMatch {
    /// The samples whose painting is in the collection, sorted by painting and emotion.
    pub samples: Vec<ReviewSample>,
    /// Paintings of the ground truth absent from the collection (no painting of that id).
    pub missing: usize,
    /// Paintings of the ground truth whose id is in the collection but whose image is not
    /// the one annotated (its sha256 differs from the shipped manifest's): left out.
    pub mismatched: usize,
}

/// The sha256 of each shipped painting by id, from the manifest beside the stimulus
/// regions (`<assets>/paintings/aic/paintings.csv` for `<assets>/annotations/stimuli.json`);
/// `None` when there is no such manifest (then paintings are matched by id alone).
fn shipped_hashes(stimuli_json: &Path) -> Result<Option<HashMap<String, String>>> {
    let Some(assets) = stimuli_json.parent().and_then(Path::parent) else {
        return Ok(None);
    };
    let manifest = assets.join("paintings/aic/paintings.csv");
    if !manifest.is_file() {
        return Ok(None);
    }
    let c = Collection::open_manifest(&manifest)?;
    Ok(Some(
        c.paintings
            .into_iter()
            .filter_map(|p| Some((p.id, p.sha256?.to_ascii_lowercase())))
            .collect(),
    ))
}

/// The samples of `gt` whose painting is in `collection`: matched by painting id and, for
/// Artemo's stimulus regions, by the image's sha256 against the shipped manifest (a
/// collection that reuses the shipped file names for other pictures gets no ground truth).
/// A cancelled `progress` stops with [`Error::Cancelled`].
pub fn load_ground_truth(
    gt: &GroundTruth,
    collection: &Collection,
    progress: &dyn Progress,
) -> Result<GroundTruthMatch> {
    let mut out = Vec::new();
    let mut missing = 0usize;
    let mut mismatched = 0usize;
    let index_of = |id: &str| collection.paintings.iter().position(|p| p.id == id);
    match gt {
        GroundTruth::Stimuli { json } => {
            let expected = shipped_hashes(json)?;
            // Per painting index: whether its image is the annotated one.
            let mut same: HashMap<usize, bool> = HashMap::new();
            let mut counted = HashSet::new();
            for s in read_stimuli(json)? {
                if progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let Some(i) = index_of(&s.painting) else {
                    if counted.insert(s.painting.clone()) {
                        missing += 1;
                    }
                    continue;
                };
                let p = &collection.paintings[i];
                if let Some(expected) = &expected {
                    let ok = match same.get(&i) {
                        Some(ok) => *ok,
                        None => {
                            let ok = match expected.get(&s.painting) {
                                Some(want) => crate::manifest::sha256_file(&p.path)? == *want,
                                None => false,
                            };
                            same.insert(i, ok);
                            if !ok {
                                mismatched += 1;
                            }
                            ok
                        }
                    };
                    if !ok {
                        continue;
                    }
                }
                let (w, h) = match (p.width, p.height) {
                    (Some(w), Some(h)) => (w, h),
                    _ => image::image_dimensions(&p.path)
                        .map_err(|e| Error::image(&p.path, e.to_string()))?,
                };
                let m = rasterize(&s.polygons, w as usize, h as usize);
                out.push(ReviewSample {
                    key: ItemKey {
                        painting: s.painting,
                        emotion: s.emotion,
                    },
                    index: i,
                    image: p.path.clone(),
                    utterance: Some(s.utterance),
                    gt: rle::encode(&m),
                });
            }
        }
        GroundTruth::Apolo { json, maps } => {
            let set = ApoloSet::open(json, maps.as_deref())?;
            let mut seen = std::collections::HashSet::new();
            for r in &set.records {
                if !seen.insert(r.painting.clone()) {
                    continue;
                }
                let Some(i) = index_of(&r.painting) else {
                    missing += 1;
                    continue;
                };
                for e in Emotion::EIGHT {
                    if progress.cancelled() {
                        return Err(Error::Cancelled);
                    }
                    if let Some(m) = set.load_map(&r.painting, e)? {
                        out.push(ReviewSample {
                            key: ItemKey {
                                painting: r.painting.clone(),
                                emotion: e,
                            },
                            index: i,
                            image: collection.paintings[i].path.clone(),
                            utterance: None,
                            gt: rle::encode(&m),
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(GroundTruthMatch {
        samples: out,
        missing,
        mismatched,
    })
}

/// What [`export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `<painting>_<emotion>.png`, 0/255.
    Png,
    /// `<painting>_<emotion>.npy`, 0/1 (APOLO pixel maps).
    ApoloNpy,
    /// One `masks_rle.json`: `[{"painting", "emotion", "verdict", "segmentation": RLE}]`.
    CocoRle,
}

/// Writes the reviewed masks (fixed where the annotator fixed them, otherwise the ground
/// truth; each given as COCO RLE and decoded one at a time), skipping rejected items;
/// returns the number of masks written. A cancelled `progress` stops with
/// [`Error::Cancelled`].
pub fn export(
    samples: &[(ItemKey, CocoRle, Option<Verdict>)],
    format: ExportFormat,
    out: &Path,
    progress: &dyn Progress,
) -> Result<usize> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let kept: Vec<_> = samples
        .iter()
        .filter(|(_, _, v)| *v != Some(Verdict::Rejected))
        .collect();
    for (k, r, _) in &kept {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        match format {
            ExportFormat::Png => rle::decode(r)?.write_png(&out.join(format!(
                "{}_{}.png",
                k.painting,
                k.emotion.name()
            )))?,
            ExportFormat::ApoloNpy => {
                rle::decode(r)?.write_npy(&super::apolo::map_path(out, &k.painting, k.emotion))?
            }
            ExportFormat::CocoRle => {}
        }
    }
    if format == ExportFormat::CocoRle {
        let rows: Vec<serde_json::Value> = kept
            .iter()
            .map(|(k, r, v)| {
                serde_json::json!({
                    "painting": k.painting,
                    "emotion": k.emotion.name(),
                    "verdict": v,
                    "segmentation": r,
                })
            })
            .collect();
        let text = serde_json::to_vec_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(&out.join("masks_rle.json"), &text)?;
    }
    Ok(kept.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::mask::Mask;

    fn key(p: &str, e: Emotion) -> ItemKey {
        ItemKey {
            painting: p.into(),
            emotion: e,
        }
    }

    fn small_mask() -> CocoRle {
        let mut m = Mask::new(4, 3);
        m.set(1, 1, true);
        rle::encode(&m)
    }

    #[test]
    fn journal_replays_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, rec) = ReviewJournal::open(dir.path()).unwrap();
            assert_eq!(rec, Recovery::default());
            j.record(ReviewOp::Verdict {
                item: key("a", Emotion::Awe),
                verdict: Some(Verdict::Accepted),
            })
            .unwrap();
            j.record(ReviewOp::Note {
                item: key("b", Emotion::Fear),
                note: "too wide".into(),
            })
            .unwrap();
            j.record(ReviewOp::Mask {
                item: key("b", Emotion::Fear),
                mask: Some(small_mask()),
            })
            .unwrap();
            j.record(ReviewOp::Verdict {
                item: key("b", Emotion::Fear),
                verdict: Some(Verdict::Flagged),
            })
            .unwrap();
            // Clearing everything of an item removes it.
            j.record(ReviewOp::Verdict {
                item: key("c", Emotion::Sadness),
                verdict: Some(Verdict::Rejected),
            })
            .unwrap();
            j.record(ReviewOp::Verdict {
                item: key("c", Emotion::Sadness),
                verdict: None,
            })
            .unwrap();
        }
        let (j, rec) = ReviewJournal::open(dir.path()).unwrap();
        assert_eq!(rec.replayed, 6);
        assert_eq!(rec.torn_bytes, 0);
        let s = j.state();
        assert_eq!(s.len(), 2);
        assert_eq!(s[&key("a", Emotion::Awe)].verdict, Some(Verdict::Accepted));
        let b = &s[&key("b", Emotion::Fear)];
        assert_eq!(b.note, "too wide");
        assert_eq!(b.verdict, Some(Verdict::Flagged));
        assert_eq!(rle::decode(b.mask.as_ref().unwrap()).unwrap().area(), 1);
    }

    #[test]
    fn a_crash_in_the_middle_of_an_append_loses_only_that_write() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = ReviewJournal::open(dir.path()).unwrap();
            j.record(ReviewOp::Verdict {
                item: key("a", Emotion::Awe),
                verdict: Some(Verdict::Accepted),
            })
            .unwrap();
        }
        // The process died while writing the second line.
        let jpath = dir.path().join("journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&jpath).unwrap();
        f.write_all(br#"{"seq":2,"op":"verdict","item":{"painting":"b","emo"#)
            .unwrap();
        drop(f);
        {
            let (mut j, rec) = ReviewJournal::open(dir.path()).unwrap();
            assert_eq!(rec.replayed, 1);
            assert!(rec.torn_bytes > 0);
            assert_eq!(j.state().len(), 1);
            // The torn tail was cut off: the next append starts on its own line.
            j.record(ReviewOp::Note {
                item: key("b", Emotion::Fear),
                note: "after the crash".into(),
            })
            .unwrap();
        }
        let (j, rec) = ReviewJournal::open(dir.path()).unwrap();
        assert_eq!(
            rec,
            Recovery {
                replayed: 2,
                torn_bytes: 0
            }
        );
        assert_eq!(j.state()[&key("b", Emotion::Fear)].note, "after the crash");
    }

    #[test]
    fn compaction_survives_a_crash_before_or_after_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let jpath = dir.path().join("journal.jsonl");
        {
            let (mut j, _) = ReviewJournal::open(dir.path()).unwrap();
            for (i, e) in Emotion::EIGHT.iter().enumerate() {
                j.record(ReviewOp::Note {
                    item: key("p", *e),
                    note: format!("n{i}"),
                })
                .unwrap();
            }
            j.compact().unwrap();
            assert_eq!(std::fs::metadata(&jpath).unwrap().len(), 0);
            j.record(ReviewOp::Note {
                item: key("q", Emotion::Awe),
                note: "later".into(),
            })
            .unwrap();
        }
        // A crash while writing a new snapshot leaves only a temporary file behind.
        std::fs::write(
            dir.path().join(".snapshot.json.tmp-999"),
            b"{\"format\":1,\"se",
        )
        .unwrap();
        let (j, rec) = ReviewJournal::open(dir.path()).unwrap();
        assert_eq!(rec.replayed, 1);
        assert_eq!(j.state().len(), 9);
        drop(j);
        // A crash after the snapshot but before the journal was emptied: the journal's
        // entries are already in the snapshot and are not applied twice.
        let before = std::fs::read(&jpath).unwrap();
        {
            let (mut j, _) = ReviewJournal::open(dir.path()).unwrap();
            j.compact().unwrap();
        }
        std::fs::write(&jpath, &before).unwrap();
        let (j, rec) = ReviewJournal::open(dir.path()).unwrap();
        assert_eq!(rec.replayed, 0);
        assert_eq!(j.state()[&key("q", Emotion::Awe)].note, "later");
        assert_eq!(j.state().len(), 9);
    }

    #[test]
    fn a_damaged_line_before_the_end_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("journal.jsonl"),
            b"not json\n{\"seq\":2,\"op\":\"note\",\"item\":{\"painting\":\"a\",\"emotion\":\"awe\"},\"note\":\"x\"}\n",
        )
        .unwrap();
        let err = ReviewJournal::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("journal.jsonl") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn stimuli_ground_truth_needs_the_annotated_image_not_only_its_id() {
        let assets = crate::find_assets().expect("assets");
        let dir = tempfile::tempdir().unwrap();
        let aic = assets.join("paintings/aic");
        // 100342 (Saint Francis) is a copy of another painting here; 100343 is itself.
        std::fs::copy(aic.join("100344.jpg"), dir.path().join("100342.jpg")).unwrap();
        std::fs::copy(aic.join("100343.jpg"), dir.path().join("100343.jpg")).unwrap();
        let c = Collection::open_folder(dir.path()).unwrap();
        let gt = GroundTruth::Stimuli {
            json: assets.join("annotations/stimuli.json"),
        };
        let found = load_ground_truth(&gt, &c, &crate::progress::Silent).unwrap();
        assert_eq!(found.mismatched, 1);
        assert!(!found.samples.is_empty());
        assert!(found.samples.iter().all(|s| s.key.painting == "100343"));
    }

    #[test]
    fn stimuli_ground_truth_and_every_export_format() {
        let assets = crate::find_assets().expect("assets");
        let c = Collection::open_manifest(&assets.join("paintings/aic/paintings.csv")).unwrap();
        let gt = GroundTruth::Stimuli {
            json: assets.join("annotations/stimuli.json"),
        };
        let found = load_ground_truth(&gt, &c, &crate::progress::Silent).unwrap();
        let (samples, missing) = (found.samples, found.missing);
        assert_eq!(missing, 0);
        assert_eq!(found.mismatched, 0);
        assert_eq!(samples.len(), 796);
        assert!(samples.windows(2).all(|w| w[0].key < w[1].key));
        let first = &samples[0];
        let m = rle::decode(&first.gt).unwrap();
        assert!(m.area() > 0);
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            (first.key.clone(), first.gt.clone(), Some(Verdict::Accepted)),
            (
                key("x", Emotion::Fear),
                first.gt.clone(),
                Some(Verdict::Rejected),
            ),
        ];
        let no = crate::progress::Silent;
        assert_eq!(
            export(&rows, ExportFormat::Png, dir.path(), &no).unwrap(),
            1
        );
        assert_eq!(
            export(&rows, ExportFormat::ApoloNpy, dir.path(), &no).unwrap(),
            1
        );
        assert_eq!(
            export(&rows, ExportFormat::CocoRle, dir.path(), &no).unwrap(),
            1
        );
        assert!(!dir.path().join("x_fear.png").exists());
        let stem = format!("{}_{}", first.key.painting, first.key.emotion.name());
        assert_eq!(
            Mask::read_png(&dir.path().join(format!("{stem}.png"))).unwrap(),
            m
        );
        assert_eq!(
            Mask::read_npy(&dir.path().join(format!("{stem}.npy"))).unwrap(),
            m
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("masks_rle.json")).unwrap())
                .unwrap();
        let rle: CocoRle = serde_json::from_value(json[0]["segmentation"].clone()).unwrap();
        assert_eq!(rle::decode(&rle).unwrap(), m);
    }
}
