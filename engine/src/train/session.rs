//! The one training session of every model ([`run_session`] over a [`Trainable`]): checks
//! the output folder, prepares, runs the steps under pause / resume / graceful stop
//! ([`Control`]) and cancellation (`&dyn Progress`), evaluates every `eval_every` steps
//! and at the end, keeps the best checkpoints ([`CheckpointStore`]), writes
//! `session.json` and `history.json`, and streams everything as [`TrainEvent`]s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::events::{EvalRecord, StepRecord, TrainEvent};
use super::trainable::{ModelSetup, Trainable};
pub use super::trainable::{SessionConfig, SessionInputs};
use crate::error::{write_atomic, Error, Result};
use crate::progress::Progress;

pub use super::control::Control;
pub use super::events::Summary;
pub use super::store::{
    check_output_dir, default_output_dir, CheckpointInfo, CheckpointStore, Goal,
};

/// Refuses an output folder that touches `protected` or the checkpoint the session starts
/// from (see [`check_output_dir`]): cheap, so a job checks it before any work.
pub fn check_output<M: ModelSetup>(cfg: &SessionConfig<M>, protected: &[PathBuf]) -> Result<()> {
    let mut protected = protected.to_vec();
    if let Some(d) = cfg.model.init_checkpoint() {
        protected.push(d.to_path_buf());
    }
    check_output_dir(&cfg.out, &protected)
}

/// The evaluations, checkpoints and history of a running session.
struct Book<'a> {
    out: &'a Path,
    store: CheckpointStore,
    history: Vec<EvalRecord>,
}

impl Book<'_> {
    /// Evaluates `t`, saves a checkpoint, writes the history and streams both.
    fn checkpoint<T: Trainable>(
        &mut self,
        t: &T,
        step: usize,
        epoch: usize,
        emit: &mut dyn FnMut(TrainEvent),
        progress: &dyn Progress,
    ) -> Result<()> {
        let t0 = Instant::now();
        let ev = t.evaluate(progress)?;
        let rec = EvalRecord {
            step,
            epoch,
            metrics: ev.metrics,
            probes: ev.probes,
            seconds: t0.elapsed().as_secs_f64(),
        };
        self.store
            .save(step, epoch, rec.metrics.clone(), |d| t.save(d))?;
        self.history.push(rec.clone());
        let slim: Vec<serde_json::Value> =
            self.history.iter().map(EvalRecord::history_json).collect();
        let h = serde_json::to_string_pretty(&slim)
            .map_err(|e| Error::Invalid(format!("history: {e}")))?;
        write_atomic(&self.out.join("history.json"), h.as_bytes())?;
        emit(TrainEvent::Eval(rec));
        emit(TrainEvent::Checkpoints(self.store.list().to_vec()));
        Ok(())
    }
}

/// Runs a session. `emit` receives every [`TrainEvent`] but the final
/// [`TrainEvent::Finished`] (the caller's to send); `progress` gets the setup and every
/// step, and its cancellation aborts without saving, while [`Control::stop`] finishes the
/// current step, evaluates and saves.
pub fn run_session<T: Trainable>(
    inputs: SessionInputs<'_, T>,
    control: &Control,
    emit: &mut dyn FnMut(TrainEvent),
    progress: &dyn Progress,
) -> Result<Summary> {
    let cfg = inputs.cfg;
    check_output(cfg, inputs.protected)?;
    let (mut t, prepared) = T::prepare(&inputs, progress)?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    let total_steps = prepared.total_steps;
    let session = serde_json::json!({
        "source": prepared.source,
        "notes": prepared.notes,
        "config": cfg,
        "model": t.model_config(),
    });
    write_atomic(
        &cfg.out.join("session.json"),
        serde_json::to_string_pretty(&session)
            .map_err(|e| Error::Invalid(format!("session: {e}")))?
            .as_bytes(),
    )?;
    emit(TrainEvent::Prepared(prepared));

    let mut book = Book {
        out: &cfg.out,
        store: CheckpointStore::new(&cfg.out, cfg.keep, cfg.best_by.metric(), cfg.best_by.goal())?,
        history: Vec::new(),
    };
    let cancelled = || progress.cancelled();
    let started = Instant::now();
    let every = cfg.eval_every.max(1);
    let fraction = |step: usize| step as f32 / total_steps.max(1) as f32;
    let (mut last, mut last_eval): (Option<(usize, usize)>, usize) = (None, 0);
    let mut stopped = false;
    while t.has_next() {
        if !control.gate(progress) {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            stopped = true;
            break;
        }
        let Some(s) = t.train_step()? else { continue };
        let (step, epoch) = (s.step, s.epoch);
        last = Some((step, epoch));
        let (active, eta) = control.timing(started, step, total_steps);
        let headline = s.get(T::Setup::HEADLINE).unwrap_or(f64::NAN);
        emit(TrainEvent::Step(StepRecord {
            losses: s,
            total_steps,
            active_s: active,
            eta_s: eta,
        }));
        progress.report(
            fraction(step),
            &format!(
                "step {step}/{total_steps} · epoch {epoch} · {} {headline:.3}",
                T::Setup::HEADLINE.name()
            ),
        );
        if step % every == 0 || step == total_steps {
            progress.report(fraction(step), &format!("evaluating at step {step}"));
            book.checkpoint(&t, step, epoch, emit, progress)?;
            last_eval = step;
        }
    }
    if let Some((step, epoch)) = last {
        if last_eval != step {
            progress.report(
                fraction(step),
                &format!("stopped: evaluating and saving step {step}"),
            );
            book.checkpoint(&t, step, epoch, emit, progress)?;
        }
    }
    Ok(Summary {
        steps: last.map(|l| l.0).unwrap_or(0),
        total_steps,
        stopped,
        checkpoints: book.store.list().to_vec(),
        evaluations: book.history.len(),
    })
}
