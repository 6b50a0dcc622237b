//! The EmoSEM analysis request of `artemo analyze --model emosem`: one painting's masks and
//! explanations ([`crate::emosem::analyze::analyze`]), each emotion's summary streamed as
//! it is ready, the outputs written when a folder is given.

use super::output::JobOutput;
use super::worker::JobContext;
use crate::emosem::analyze::{analyze, MAX_MAP_SIDE};
use crate::emosem::postprocess::EmotionResult;
use crate::error::Result;

pub use super::results::EmosemReport;
/// Analyse one painting with an EmoSEM model folder (see
/// [`AnalyzeRequest`](crate::emosem::analyze::AnalyzeRequest)).
///
/// Streams [`JobOutput::EmosemEmotion`] per emotion; the result is
/// [`JobOutput::EmosemAnalysis`].
pub use crate::emosem::analyze::AnalyzeRequest as AnalyzeEmosem;

pub(crate) fn run(req: AnalyzeEmosem, ctx: &JobContext) -> Result<JobOutput> {
    let a = analyze(req, ctx.device(), ctx, |r| {
        ctx.partial(JobOutput::EmosemEmotion(Box::new(r.summary())))
    })?;
    Ok(JobOutput::EmosemAnalysis(Box::new(EmosemReport {
        emotions: a.results.iter().map(EmotionResult::summary).collect(),
        written: a.written,
        image_size: a.image_size,
        map_size: a.map_size,
        max_map_side: MAX_MAP_SIDE,
    })))
}
