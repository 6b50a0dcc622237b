//! Tests of the worker: progress, cancellation, panics, lanes, queue.

use super::*;
use std::sync::atomic::AtomicUsize;

fn engine() -> Engine {
    Engine::start(EngineConfig {
        threads: 1,
        ..Default::default()
    })
    .unwrap()
}

fn wait_for(e: &Engine, id: JobId) -> Vec<EventKind> {
    let mut out = Vec::new();
    loop {
        let ev = e
            .wait_event(Duration::from_secs(20))
            .expect("event in time");
        if ev.job != id {
            continue;
        }
        let end = matches!(
            ev.kind,
            EventKind::Done(_) | EventKind::Failed(_) | EventKind::Cancelled
        );
        out.push(ev.kind);
        if end {
            return out;
        }
    }
}

#[test]
fn progress_then_result_with_wake_calls() {
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    let e = Engine::start(EngineConfig {
        threads: 1,
        wake: Arc::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }),
        ..Default::default()
    })
    .unwrap();
    let id = e
        .submit(Command::Run {
            name: "count".into(),
            lane: Lane::Compute,
            job: Box::new(|ctx| {
                for i in 0..4 {
                    ctx.check()?;
                    ctx.progress(i as f32 / 4.0, format!("step {i}"));
                }
                Ok(JobOutput::Text("done".into()))
            }),
        })
        .unwrap();
    let evs = wait_for(&e, id);
    assert!(matches!(evs[0], EventKind::Started { .. }));
    let progress = evs
        .iter()
        .filter(|k| matches!(k, EventKind::Progress { .. }))
        .count();
    assert_eq!(progress, 4);
    assert!(matches!(evs.last(), Some(EventKind::Done(JobOutput::Text(t))) if t == "done"));
    assert!(wakes.load(Ordering::Relaxed) >= 6);
}

#[test]
fn cancellation_between_steps() {
    let e = engine();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let id = e
        .submit(Command::Run {
            name: "long".into(),
            lane: Lane::Compute,
            job: Box::new(move |ctx| {
                s.store(true, Ordering::Relaxed);
                for _ in 0..2000 {
                    ctx.check()?;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(JobOutput::Unit)
            }),
        })
        .unwrap();
    while !started.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(e.cancel(id));
    let evs = wait_for(&e, id);
    assert!(matches!(evs.last(), Some(EventKind::Cancelled)));
    assert!(!e.cancel(9999));
}

#[test]
fn a_panicking_job_is_reported_and_the_engine_keeps_serving() {
    let e = engine();
    let id = e
        .submit(Command::Run {
            name: "boom".into(),
            lane: Lane::Compute,
            job: Box::new(|_| panic!("kaboom")),
        })
        .unwrap();
    let evs = wait_for(&e, id);
    assert!(
        matches!(evs.last(), Some(EventKind::Failed(m)) if m.contains("kaboom")),
        "{evs:?}"
    );
    let out = e
        .run_blocking(
            Command::Run {
                name: "after".into(),
                lane: Lane::Compute,
                job: Box::new(|_| Ok(JobOutput::Text("alive".into()))),
            },
            |_, _, _| {},
        )
        .unwrap();
    assert!(matches!(out, JobOutput::Text(t) if t == "alive"));
}

#[test]
fn errors_name_the_file_and_lanes_run_independently() {
    let e = engine();
    let err = e
        .run_blocking(
            Command::LoadImage {
                path: "/no/such/painting.jpg".into(),
                max_side: 64,
            },
            |_, _, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such/painting.jpg"), "{err}");
    // A busy compute lane does not delay an image load on the io lane.
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let long = e
        .submit(Command::Run {
            name: "block".into(),
            lane: Lane::Compute,
            job: Box::new(move |ctx| {
                while !g.load(Ordering::Relaxed) {
                    ctx.check()?;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(JobOutput::Unit)
            }),
        })
        .unwrap();
    let img = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/paintings/aic/100342.jpg");
    let out = e
        .run_blocking(
            Command::LoadImage {
                path: img,
                max_side: 64,
            },
            |_, _, _| {},
        )
        .unwrap();
    match out {
        JobOutput::Image(i) => {
            assert_eq!(
                (i.width, i.height, i.original_width, i.original_height),
                (46, 64, 460, 640)
            );
            assert_eq!(i.rgba.len(), 46 * 64 * 4);
        }
        other => panic!("{other:?}"),
    }
    gate.store(true, Ordering::Relaxed);
    assert!(matches!(
        wait_for(&e, long).last(),
        Some(EventKind::Done(_))
    ));
}

#[test]
fn a_queued_job_knows_what_it_waits_behind() {
    let e = engine();
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let first = e
        .submit(Command::Run {
            name: "review: EmoSEM predictions".into(),
            lane: Lane::Compute,
            job: Box::new(move |_| {
                while !g.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(JobOutput::Unit)
            }),
        })
        .unwrap();
    let quick = |name: &str, lane| Command::Run {
        name: name.into(),
        lane,
        job: Box::new(|_| Ok(JobOutput::Unit)),
    };
    let second = e.submit(quick("explain", Lane::Compute)).unwrap();
    let io = e.submit(quick("read", Lane::Io)).unwrap();
    let map = e.submit(quick("embedding map", Lane::Compute)).unwrap();
    assert_eq!(
        e.waiting_behind(map),
        ["review: EmoSEM predictions", "explain"]
    );
    assert_eq!(e.waiting_behind(second), ["review: EmoSEM predictions"]);
    assert!(e.waiting_behind(first).is_empty());
    wait_for(&e, io);
    gate.store(true, Ordering::Relaxed);
    wait_for(&e, map);
    // Ended jobs are forgotten (just after their last event).
    let t0 = Instant::now();
    while !e.live.lock().unwrap().is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(e.live.lock().unwrap().is_empty());
    assert!(e.waiting_behind(map).is_empty());
}

#[test]
fn bounded_queue_reports_busy() {
    let e = Engine::start(EngineConfig {
        threads: 1,
        queue: 1,
        ..Default::default()
    })
    .unwrap();
    let gate = Arc::new(AtomicBool::new(false));
    let mk = |g: Arc<AtomicBool>| Command::Run {
        name: "wait".into(),
        lane: Lane::Compute,
        job: Box::new(move |_| {
            while !g.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(JobOutput::Unit)
        }),
    };
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(e.submit(mk(gate.clone())).is_ok());
    }
    assert!(results.iter().any(|ok| !ok), "{results:?}");
    gate.store(true, Ordering::Relaxed);
}

use std::path::Path;
