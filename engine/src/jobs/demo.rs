//! The demo-kit request of `artemo train --preset demo`: the whole pipeline of
//! [`crate::kit::run`] on the compute lane, with the job's progress and cancellation.

use super::models::Roots;
use super::output::JobOutput;
use super::worker::JobContext;
use crate::error::Result;
use crate::kit::DemoOptions;

/// Train the demo kit with `options`.
///
/// The result is [`JobOutput::DemoKit`].
#[derive(Debug, Clone)]
pub struct DemoKit {
    /// The shipped assets and models folders.
    pub roots: Roots,
    /// Output folder, preset, seed, resume, overrides.
    pub options: DemoOptions,
}

pub(crate) fn run(req: DemoKit, ctx: &JobContext) -> Result<JobOutput> {
    let r = crate::kit::run(
        &req.roots.assets,
        &req.roots.models,
        &req.options,
        ctx.device(),
        ctx,
    )?;
    Ok(JobOutput::DemoKit(Box::new(r)))
}
