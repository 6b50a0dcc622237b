//! The training job of the Train tab and the CLI: reads a model's data, loads its frozen
//! parts and runs the one generic session ([`run_session`]) on the worker, streaming every
//! [`TrainEvent`] as a typed partial (`JobOutput::Training`) and ending with
//! [`TrainEvent::Finished`].

use std::path::PathBuf;
use std::sync::Arc;

use super::worker::{JobContext, JobFn, JobOutput};
use crate::emosem::session::RegionCorpus;
use crate::train::session::{check_output, run_session, Control, SessionConfig, SessionInputs};
use crate::train::{DataSource, ModelSetup, SessionData, SessionParts, TrainEvent, Trainable};

/// A training session of `T` as an engine job. The output folder may not touch
/// `models/demo` or the installed weights of the model (`models/<model>`).
pub fn session_job<T: Trainable + 'static>(
    source: DataSource,
    cfg: SessionConfig<T::Setup>,
    assets: PathBuf,
    models: PathBuf,
    control: Arc<Control>,
) -> JobFn
where
    T::Setup: Send + 'static,
{
    Box::new(move |ctx: &JobContext| {
        let protected = [
            models.join("demo"),
            models.join(<T::Setup as ModelSetup>::MODEL),
        ];
        // Refused before any work.
        check_output(&cfg, &protected)?;
        ctx.progress(0.0, "reading the data");
        let mut data = T::Data::read(&source, &assets)?;
        if cfg.max_paintings > 0 {
            data.limit(cfg.max_paintings);
        }
        ctx.check()?;
        ctx.progress(0.0, "loading the model's parts");
        let parts = T::Parts::load(&cfg.model, &assets, &models, ctx.device())?;
        let summary = run_session::<T>(
            SessionInputs {
                data: &data,
                parts: &parts,
                cfg: &cfg,
                protected: &protected,
                device: ctx.device(),
            },
            &control,
            &mut |ev| ctx.partial(JobOutput::Training(Box::new(ev))),
            ctx,
        )?;
        ctx.progress(1.0, "done");
        Ok(JobOutput::Training(Box::new(TrainEvent::Finished(summary))))
    })
}

/// Reads an EmoSEM session's regions as the session would (on the io lane: no model) and
/// answers with what it found per split ([`RegionCorpus::counts_line`]) as
/// `JobOutput::Text`; a source that cannot be read fails with the reader's error.
pub fn region_check_job(source: DataSource, assets: PathBuf) -> JobFn {
    Box::new(move |ctx: &JobContext| {
        ctx.progress(0.0, "reading the regions");
        let corpus = RegionCorpus::read(&source, &assets)?;
        ctx.check()?;
        Ok(JobOutput::Text(corpus.counts_line()))
    })
}
