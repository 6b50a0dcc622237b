//! Tests of the SEVLM session.

use super::*;
use crate::emotion::Emotion;
use crate::error::Error;
use crate::progress::Silent;
use crate::train::events::{EvalRecord, Summary, TrainEvent};
use crate::train::session::{run_session, Control, SessionInputs};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One session over `corpus` on the CPU; `cancelled` cancels it from the start.
#[allow(clippy::too_many_arguments)]
fn run(
    corpus: &Corpus,
    cfg: &SessionConfig,
    parts: &Parts,
    protected: &[PathBuf],
    control: &Control,
    emit: &mut dyn FnMut(TrainEvent),
    cancelled: bool,
) -> Result<Summary> {
    let flag = AtomicBool::new(cancelled);
    let progress = crate::progress::FnProgress::with_cancel(|_, _| {}, &flag);
    let inputs = SessionInputs::<SevlmSession> {
        data: corpus,
        parts,
        cfg,
        protected,
        device: &Device::Cpu,
    };
    if cancelled {
        run_session(inputs, control, emit, &progress)
    } else {
        run_session(inputs, control, emit, &Silent)
    }
}

/// Deterministic features from the image name: no weights needed.
struct FakeFeatures;
impl ImageFeaturizer for FakeFeatures {
    fn name(&self) -> &str {
        "fake"
    }
    fn features(&self, image: &Path, device: &Device) -> Result<Tensor> {
        let h = image
            .to_string_lossy()
            .bytes()
            .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
        let v: Vec<f32> = (0u32..4 * 16)
            .map(|k| {
                (((h.wrapping_add(k.wrapping_mul(2_654_435_761))) % 1000) as f32 / 500.0) - 1.0
            })
            .collect();
        Ok(Tensor::from_vec(v, (1, 4, 16), device)?)
    }
}

fn parts() -> Parts {
    let assets = crate::find_assets().expect("assets");
    let tok = crate::tokenize::TextTokenizer::gpt2_from_assets(&assets).unwrap();
    let lex = crate::lexicon::VadLexicon::parse(
        "term\tvalence\tarousal\tdominance\nsad\t-0.75\t-0.5\t-0.5\nbright\t0.5\t0.25\t0.25\n",
        Path::new("test-lexicon.tsv"),
        crate::lexicon::LexiconFormat::NrcV2,
    )
    .unwrap();
    Parts {
        seq_full: SequenceBuilder::new(tok, lex, crate::sevlm::data::REFERENCE_PROMPT, 16)
            .with_lookup(crate::lexicon::VadLookup::ExactLemma),
        featurizer: Box::new(FakeFeatures),
        lexicon: crate::lexicon::LexiconRecord::legacy_stand_in(),
    }
}

fn corpus() -> Corpus {
    let texts = [
        (Emotion::Awe, "the bright sky"),
        (Emotion::Sadness, "the sad dark sea"),
        (Emotion::Contentment, "a calm bright field"),
        (Emotion::Fear, "dark shapes"),
    ];
    let mut c = Corpus {
        source: "test".into(),
        ..Default::default()
    };
    for p in 0..6 {
        let id = format!("p{p}");
        c.images
            .insert(id.clone(), PathBuf::from(format!("{id}.jpg")));
        let slot = if p < 4 { 0 } else { 1 };
        for (k, (e, t)) in texts.iter().enumerate() {
            if (k + p) % 4 == 3 {
                continue;
            }
            c.splits[slot].push(Example {
                image: id.clone(),
                emotion: *e,
                explanation: t.to_string(),
            });
        }
    }
    c
}

fn config(out: &Path, epochs: usize) -> SessionConfig {
    SessionConfig {
        model: SevlmSetup {
            train: SevlmTrainConfig {
                epochs,
                batch_pairs: 2,
                lr_decoder: 3e-3,
                lr_vad_encoder: 3e-3,
                ..Default::default()
            },
            init: SevlmInit::Scratch {
                width: 32,
                layers: 1,
                heads: 2,
            },
            eval_paintings: 2,
            name: None,
            lexicon: Default::default(),
        },
        out: out.to_path_buf(),
        eval_every: 3,
        probes: 2,
        keep: 2,
        best_by: BestBy::ValLoss,
        max_paintings: 0,
    }
}

type Log = Arc<Mutex<Vec<TrainEvent>>>;

fn run_with(
    cfg: &SessionConfig,
    control: &Control,
    on_event: impl Fn(&TrainEvent, &Control),
) -> (Result<Summary>, Vec<TrainEvent>) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let r = run(
        &corpus(),
        cfg,
        &parts(),
        &[],
        control,
        &mut |ev| {
            on_event(&ev, control);
            l2.lock().unwrap().push(ev)
        },
        false,
    );
    let events = std::mem::take(&mut *log.lock().unwrap());
    (r, events)
}

#[test]
fn full_run_evaluates_keeps_best_and_regenerates_probes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir.path().join("run"), 3);
    let (r, events) = run_with(&cfg, &Control::new(), |_, _| {});
    let s = r.unwrap();
    assert!(!s.stopped);
    assert_eq!(s.steps, s.total_steps);
    let steps = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Step(_)))
        .count();
    assert_eq!(steps, s.total_steps);
    let evals: Vec<&EvalRecord> = events.iter().filter_map(TrainEvent::eval).collect();
    assert_eq!(evals.len(), s.evaluations);
    assert!(evals.len() >= 2);
    for e in &evals {
        assert_eq!(e.probes.len(), 2);
        for k in [
            Metric::ValLoss,
            Metric::ValLanguage,
            Metric::Bleu1,
            Metric::Bleu4,
            Metric::RougeL,
        ] {
            assert!(e.metrics[&k].is_finite(), "{k}");
        }
    }
    // The best kept checkpoint has the lowest val loss of all evaluations, and loads.
    let best = s.checkpoints.iter().find(|c| c.best).unwrap();
    let min = evals
        .iter()
        .map(|e| e.metrics[&Metric::ValLoss])
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best.value, min);
    assert!(s.checkpoints.len() <= 3);
    let m = Sevlm::load(&best.dir, &Device::Cpu).unwrap();
    assert_eq!(m.config().decoder.n_embd, 32);
    assert!(cfg.out.join("best.json").is_file());
    assert!(cfg.out.join("history.json").is_file());
    // Loss goes down on this tiny set.
    assert!(
        evals.last().unwrap().metrics[&Metric::ValLanguage]
            < evals[0].metrics[&Metric::ValLanguage] + 1.0
    );
}

#[test]
fn stop_finishes_the_step_then_evaluates_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("run"), 20);
    cfg.eval_every = 100;
    let (r, events) = run_with(&cfg, &Control::new(), |ev, c| {
        if let TrainEvent::Step(s) = ev {
            if s.losses.step == 2 {
                c.stop();
            }
        }
    });
    let s = r.unwrap();
    assert!(s.stopped);
    assert_eq!(s.steps, 2);
    assert!(s.total_steps > 2);
    assert_eq!(s.evaluations, 1);
    assert_eq!(s.checkpoints.len(), 1);
    assert_eq!(s.checkpoints[0].step, 2);
    assert!(s.checkpoints[0].dir.join("model.safetensors").is_file());
    assert!(matches!(events.last(), Some(TrainEvent::Checkpoints(_))));
}

#[test]
fn pause_holds_training_until_resumed_and_cancel_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir.path().join("run"), 2);
    cfg.eval_every = 100;
    let control = Arc::new(Control::new());
    let seen = Arc::new(Mutex::new(0usize));
    let (c2, s2) = (control.clone(), seen.clone());
    let cfg2 = cfg.clone();
    let t = std::thread::spawn(move || {
        run_with(&cfg2, &c2, move |ev, c| {
            if let TrainEvent::Step(s) = ev {
                *s2.lock().unwrap() = s.losses.step;
                if s.losses.step == 1 {
                    c.pause();
                }
            }
        })
    });
    // Wait for step 1, then check that nothing moves while paused.
    let t0 = Instant::now();
    while *seen.lock().unwrap() < 1 {
        assert!(t0.elapsed() < Duration::from_secs(60));
        assert!(!t.is_finished(), "the session ended before its first step");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(*seen.lock().unwrap(), 1);
    assert!(control.is_paused());
    control.resume();
    let (r, _) = t.join().unwrap();
    let s = r.unwrap();
    assert!(!s.stopped);
    assert_eq!(s.steps, s.total_steps);
    assert!(control.paused_time() >= Duration::from_millis(250));

    // Cancellation aborts without a checkpoint.
    let out = dir.path().join("cancelled");
    let cfg = config(&out, 2);
    let r = run(
        &corpus(),
        &cfg,
        &parts(),
        &[],
        &Control::new(),
        &mut |_| {},
        true,
    );
    assert!(matches!(r, Err(Error::Cancelled)));
    assert!(!out.join("best.json").exists());
}

#[test]
fn refuses_protected_output_and_bad_artemis_csv() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("models/demo");
    std::fs::create_dir_all(&demo).unwrap();
    let cfg = config(&demo.join("run"), 1);
    let r = run(
        &corpus(),
        &cfg,
        &parts(),
        std::slice::from_ref(&demo),
        &Control::new(),
        &mut |_| {},
        false,
    );
    let msg = r.unwrap_err().to_string();
    assert!(msg.contains("refusing"), "{msg}");

    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "art_style,painting,emotion,utterance\nx,p0,awe,nice\nx,p1,joy,bad label\n",
    )
    .unwrap();
    let msg = Corpus::artemis(&csv, BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("bad.csv") && msg.contains("row 3"), "{msg}");
    let ok = dir.path().join("ok.csv");
    std::fs::write(&ok, "art_style,painting,emotion,utterance\nx,zz,awe,nice\n").unwrap();
    let msg = Corpus::artemis(&ok, BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("ok.csv") && msg.contains("open collection"),
        "{msg}"
    );
}
