//! Tests of the EmoSEM session. References: hand-placed masks for the rasterisation, the
//! shipped stimulus regions (3 paintings) with the weight-free patch-colour tower for the
//! runs, and a synthetic APOLO root written here.

use super::*;
use crate::annotations::artemis::Split;
use crate::annotations::dataset::read_splits;
use crate::emosem::features::PatchColourGrid;
use crate::progress::{FnProgress, Silent};
use crate::train::events::{EvalRecord, StepRecord, Summary, TrainEvent};
use crate::train::session::{run_session, Control, SessionInputs};
use crate::train::SessionData;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// One session over `corpus` on the CPU; `cancelled` cancels it from the start.
fn run(
    corpus: &RegionCorpus,
    cfg: &SessionConfig,
    control: &Control,
    emit: &mut dyn FnMut(TrainEvent),
    cancelled: bool,
) -> Result<Summary> {
    let flag = AtomicBool::new(cancelled);
    let cancel = FnProgress::with_cancel(|_, _| {}, &flag);
    let progress: &dyn Progress = if cancelled { &cancel } else { &Silent };
    run_session::<EmosemSession>(
        SessionInputs {
            data: corpus,
            parts: &parts(),
            cfg,
            protected: &[],
            device: &Device::Cpu,
        },
        control,
        emit,
        progress,
    )
}

fn parts() -> Parts {
    let assets = crate::find_assets().expect("assets");
    Parts {
        tok: TextTokenizer::gpt2_from_assets(&assets).unwrap(),
        encoder: ImageEncoder::Grid(Box::new(PatchColourGrid { side: 4, patch: 8 })),
        paper: None,
    }
}

fn shipped(n: usize) -> RegionCorpus {
    let mut c = RegionCorpus::shipped(&crate::find_assets().unwrap()).unwrap();
    c.limit(n);
    c
}

fn config(out: &Path, steps: usize) -> SessionConfig {
    SessionConfig {
        model: EmosemSetup {
            train: TrainConfig {
                steps,
                batch_images: 2,
                lr_explainer: 3e-3,
                lr_mask: Some(3e-3),
                ..Default::default()
            },
            init: EmosemInit::Scratch {
                paradigm: Paradigm::Multi,
                explainer_width: 16,
                explainer_layers: 1,
            },
        },
        out: out.to_path_buf(),
        eval_every: 2,
        probes: 1,
        keep: 2,
        best_by: BestBy::MeanIou,
        max_paintings: 0,
    }
}

fn run_with(
    corpus: &RegionCorpus,
    cfg: &SessionConfig,
    control: &Control,
    on_event: impl Fn(&TrainEvent, &Control),
) -> (Result<Summary>, Vec<TrainEvent>) {
    let log: Mutex<Vec<TrainEvent>> = Mutex::default();
    let r = run(
        corpus,
        cfg,
        control,
        &mut |ev| {
            on_event(&ev, control);
            log.lock().unwrap().push(ev)
        },
        false,
    );
    let events = std::mem::take(&mut *log.lock().unwrap());
    (r, events)
}

fn target(region: Region) -> RegionTarget {
    RegionTarget {
        emotion: Emotion::Awe,
        region,
        explanation: None,
    }
}

#[test]
fn maps_are_sampled_at_cell_centres_and_padding_stays_empty() {
    // A 4x2 map with its left half on, drawn at 4x4.
    let m = Mask::from_values(4, 2, &[1, 1, 0, 0, 1, 1, 0, 0]).unwrap();
    let t = target(Region::Map(m));
    let full = t.rasterize((400, 200), 4, (1.0, 1.0));
    let row = [1.0, 1.0, 0.0, 0.0];
    assert_eq!(full, [row, row, row, row].concat());
    // SAM-style padding: the image covers the top half only.
    let padded = t.rasterize((400, 200), 4, (0.5, 1.0));
    assert_eq!(padded, [row, row, [0.0; 4], [0.0; 4]].concat());
    // A polygon square over pixels 10..50 of a 100x100 image covers cells 1..=4 of 10.
    let p = target(Region::Polygons(vec![vec![
        [10.0, 10.0],
        [50.0, 10.0],
        [50.0, 50.0],
        [10.0, 50.0],
    ]]));
    let r = p.rasterize((100, 100), 10, (1.0, 1.0));
    for y in 0..10 {
        for x in 0..10 {
            let inside = (1..5).contains(&x) && (1..5).contains(&y);
            assert_eq!(r[y * 10 + x], inside as u8 as f32, "cell ({x}, {y})");
        }
    }
}

#[test]
fn shipped_corpus_uses_train_and_val_splits_only() {
    let c = RegionCorpus::shipped(&crate::find_assets().unwrap()).unwrap();
    let splits =
        read_splits(&crate::find_assets().unwrap().join("annotations/SPLITS.csv")).unwrap();
    assert!(!c.train.is_empty() && !c.val.is_empty());
    for e in &c.train {
        assert_eq!(splits[&e.painting], Split::Train);
    }
    for e in &c.val {
        assert_eq!(splits[&e.painting], Split::Val);
        assert!(e.targets.iter().all(|t| t.explanation.is_some()));
    }
    let (tr, va) = c.regions();
    assert!(tr > c.train.len() / 2 && va >= c.val.len());
}

fn write_png(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 20) as u8, 90])
    })
    .save(path)
    .unwrap();
}

#[test]
fn apolo_corpus_holds_out_test_and_validates_every_tenth_painting() {
    let d = tempfile::tempdir().unwrap();
    let maps = d.path().join("apolo_pixel_map");
    std::fs::create_dir_all(&maps).unwrap();
    let mut images = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..14 {
        let id = format!("p{i:02}");
        let img = d.path().join(format!("{id}.png"));
        write_png(&img, 8, 6);
        images.insert(id.clone(), img);
        let split = if i >= 12 { "test" } else { "val" };
        records.push(format!(
            r#"{{"painting": "{id}", "artemis_id": [{i}], "split": "{split}"}}"#
        ));
        if i != 11 {
            let mut m = Mask::new(8, 6);
            m.set(i % 8, 2, true);
            m.write_npy(&crate::annotations::apolo::map_path(
                &maps,
                &id,
                Emotion::Fear,
            ))
            .unwrap();
        }
    }
    // A record whose painting is not in the collection.
    records.push(r#"{"painting": "elsewhere", "split": "val"}"#.into());
    let json = d.path().join("apolo.json");
    std::fs::write(&json, format!("[{}]", records.join(","))).unwrap();
    let c = RegionCorpus::apolo(&json, None, &images).unwrap();
    // 12 non-test records: p11 has no map; p09 (the tenth) validates.
    assert_eq!(c.train.len() + c.val.len(), 11);
    assert_eq!(
        c.val
            .iter()
            .map(|e| e.painting.as_str())
            .collect::<Vec<_>>(),
        ["p09"]
    );
    assert!(c.train.iter().all(|e| e.painting.as_str() < "p12"));
    assert_eq!(c.train[0].size, (8, 6));
    assert!(
        c.notes.iter().any(|n| n.contains("2 records")),
        "{:?}",
        c.notes
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("1 records without an image")),
        "{:?}",
        c.notes
    );
    let t = &c.train[0].targets[0];
    assert_eq!((t.emotion, t.explanation.clone()), (Emotion::Fear, None));

    // Errors name what is wrong.
    let msg = RegionCorpus::apolo(&json, Some(&d.path().join("nowhere")), &images)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("nowhere") && msg.contains("does not exist"),
        "{msg}"
    );
    let msg = RegionCorpus::apolo(&json, None, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("apolo.json") && msg.contains("without an image"),
        "{msg}"
    );
    std::fs::write(maps.join("p00_awe.npy"), b"not npy").unwrap();
    let msg = RegionCorpus::apolo(&json, None, &images)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("p00_awe.npy"), "{msg}");
}

#[test]
fn run_evaluates_keeps_the_best_by_iou_and_regenerates_probes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shipped(3);
    let cfg = config(&dir.path().join("run"), 4);
    let (r, events) = run_with(&corpus, &cfg, &Control::new(), |_, _| {});
    let s = r.unwrap();
    assert!(!s.stopped);
    assert_eq!((s.steps, s.total_steps, s.evaluations), (4, 4, 2));
    let Some(TrainEvent::Prepared(p)) = events.first() else {
        panic!("no Prepared first")
    };
    let DataCounts::Regions {
        explains, train, ..
    } = &p.data
    else {
        panic!("not regions: {:?}", p.data)
    };
    assert!(explains);
    assert_eq!(train.0, 3);
    assert_eq!(p.probes.len(), 1);
    let steps: Vec<&StepRecord> = events.iter().filter_map(TrainEvent::step).collect();
    assert_eq!(steps.len(), 4);
    assert!(steps.iter().all(
        |s| s.losses.get(Metric::MaskLoss).is_some_and(f64::is_finite)
            && s.losses
                .get(Metric::ExplanationLoss)
                .is_some_and(|v| v > 0.0)
    ));
    let evals: Vec<&EvalRecord> = events.iter().filter_map(TrainEvent::eval).collect();
    assert_eq!(evals.iter().map(|e| e.step).collect::<Vec<_>>(), [2, 4]);
    for e in &evals {
        for k in [
            Metric::ValMaskLoss,
            Metric::ValExplanationLoss,
            Metric::MeanIou,
            Metric::Pr25,
            Metric::Pr50,
        ] {
            assert!(e.metrics[&k].is_finite(), "{k}");
        }
        assert!((0.0..=1.0).contains(&e.metrics[&Metric::MeanIou]));
        assert!(e.regions().count() > 0);
        assert_eq!(e.regions().count(), e.probes.len());
        for q in e.regions() {
            assert_eq!(q.painting, corpus.val[0].painting);
            assert_eq!(q.map.len(), q.side * q.side);
            assert_eq!(q.truth.len(), q.side * q.side);
            assert!(q.map.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
    let best = s.checkpoints.iter().find(|c| c.best).unwrap();
    let max = evals
        .iter()
        .map(|e| e.metrics[&Metric::MeanIou])
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(best.value, max);
    let tok = parts().tok;
    let m = Emosem::load(&best.dir, &tok, &Device::Cpu).unwrap();
    assert_eq!(m.config().explainer.n_embd, 16);
    assert!(cfg.out.join("history.json").is_file());
    assert!(cfg.out.join("session.json").is_file());
}

#[test]
fn stop_saves_then_a_checkpoint_fine_tunes_and_is_protected() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shipped(2);
    let mut cfg = config(&dir.path().join("run"), 20);
    cfg.eval_every = 100;
    let (r, events) = run_with(&corpus, &cfg, &Control::new(), |ev, c| {
        if let TrainEvent::Step(s) = ev {
            if s.losses.step == 2 {
                c.stop();
            }
        }
    });
    let s = r.unwrap();
    assert!(s.stopped);
    assert_eq!((s.steps, s.evaluations), (2, 1));
    assert!(matches!(events.last(), Some(TrainEvent::Checkpoints(_))));
    let ckpt = s.checkpoints[0].dir.clone();

    // Fine-tune from the checkpoint: same shapes, two more steps.
    let mut ft = config(&dir.path().join("ft"), 2);
    ft.model.init = EmosemInit::Checkpoint(ckpt.clone());
    let (r, _) = run_with(&corpus, &ft, &Control::new(), |_, _| {});
    assert_eq!(r.unwrap().steps, 2);

    // Writing into the checkpoint being read is refused; cancelling saves nothing.
    let mut bad = ft.clone();
    bad.out = ckpt.join("again");
    let msg = run_with(&corpus, &bad, &Control::new(), |_, _| {})
        .0
        .unwrap_err()
        .to_string();
    assert!(msg.contains("refusing"), "{msg}");
    let out = dir.path().join("cancelled");
    let r = run(
        &corpus,
        &config(&out, 2),
        &Control::new(),
        &mut |_| {},
        true,
    );
    assert!(matches!(r, Err(Error::Cancelled)));
    assert!(!out.join("best.json").exists());
}
