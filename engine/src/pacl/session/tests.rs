//! Tests of the PACL session: a short run on a dozen shipped paintings with the tiny tower
//! and the shipped MiniLM.

use super::*;
use crate::progress::Silent;
use crate::train::events::{EvalRecord, StepRecord, TrainEvent};
use crate::train::session::{run_session, Control, SessionInputs};

#[test]
fn session_trains_on_pairs_and_scores_the_probe() {
    let assets = crate::find_assets().unwrap();
    let models = crate::find_models().unwrap();
    let mut corpus = PairCorpus::shipped(&assets).unwrap();
    corpus.limit(12);
    assert_eq!((corpus.train.len(), corpus.val.len()), (12, 3));
    let dir = tempfile::tempdir().unwrap();
    let cfg = SessionConfig {
        model: PaclSetup {
            train: TrainConfig {
                epochs: 3,
                steps_per_epoch: Some(2),
                sub_batch: 4,
                warmup_steps: 0,
                ..Default::default()
            },
            model: PaclConfig::tiny(384),
            probe: ProbeFeatures::Backbone,
        },
        out: dir.path().join("run"),
        eval_every: 3,
        probes: 2,
        keep: 1,
        best_by: BestBy::ProbeAcc,
        max_paintings: 0,
    };
    let parts = Parts::load(&cfg.model, &assets, &models, &Device::Cpu).unwrap();
    let mut events = Vec::new();
    let s = run_session::<PaclSession>(
        SessionInputs {
            data: &corpus,
            parts: &parts,
            cfg: &cfg,
            protected: &[],
            device: &Device::Cpu,
        },
        &Control::new(),
        &mut |ev| events.push(ev),
        &Silent,
    )
    .unwrap();
    assert_eq!((s.steps, s.total_steps, s.stopped), (6, 6, false));
    let Some(TrainEvent::Prepared(p)) = events.first() else {
        panic!("no Prepared first")
    };
    let DataCounts::Pairs {
        paintings,
        pairs,
        partitions,
        probe_paintings,
    } = p.data
    else {
        panic!("not pairs: {:?}", p.data)
    };
    assert_eq!(paintings, 12);
    assert_eq!(partitions.iter().sum::<usize>(), pairs);
    assert!(probe_paintings <= 3);
    // The evaluation says what it probes (the paper's backbone features).
    assert!(p
        .notes
        .iter()
        .any(|n| n.starts_with(PROBE_NOTE) && n.contains("backbone")));
    let steps: Vec<&StepRecord> = events.iter().filter_map(TrainEvent::step).collect();
    assert_eq!(steps.len(), 6);
    // The first third of the schedule trains on the strong pairs (L1) only.
    assert!(steps[0]
        .losses
        .get(Metric::PaclL1)
        .is_some_and(f64::is_finite));
    assert!(steps[0].losses.get(Metric::PaclL4).is_none());
    let evals: Vec<&EvalRecord> = events.iter().filter_map(TrainEvent::eval).collect();
    assert_eq!(evals.iter().map(|e| e.step).collect::<Vec<_>>(), [3, 6]);
    for e in &evals {
        let acc = e.get(Metric::ProbeAcc).unwrap();
        assert!((0.0..=1.0).contains(&acc), "{acc}");
    }
    let best = s.checkpoints.iter().find(|c| c.best).unwrap();
    let m = PaclSession::load(&best.dir, &parts, &Device::Cpu).unwrap();
    assert_eq!(m.config().embed_dim, 8);
    assert!(cfg.out.join("history.json").is_file());
    // A source PACL cannot train on is refused by name.
    let e = PairCorpus::read(
        &DataSource::Apolo {
            json: "apolo.json".into(),
            maps: None,
            images: BTreeMap::new(),
        },
        &assets,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("APOLO"), "{e}");
}
