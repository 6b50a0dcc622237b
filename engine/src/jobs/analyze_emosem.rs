//! The EmoSEM analysis request of `artemo analyze --model emosem`: one painting's masks and
//! explanations ([`crate::emosem::analyze::analyze`]), each emotion's summary streamed as
//! it is ready, the outputs written when a folder is given.

use super::output::JobOutput;
use super::worker::JobContext;
use crate::emosem::analyze::{analyze, MAX_MAP_SIDE};
use crate::emosem::postprocess::{EmotionResult, EmotionSummary, Written};
use crate::error::Result;

/// Analyse one painting with an EmoSEM model folder (see
/// [`AnalyzeRequest`](crate::emosem::analyze::AnalyzeRequest)).
///
/// Streams [`JobOutput::EmosemEmotion`] per emotion; the result is
/// [`JobOutput::EmosemAnalysis`].
pub use crate::emosem::analyze::AnalyzeRequest as AnalyzeEmosem;

/// What an EmoSEM analysis produced (no pixel data).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmosemReport {
    /// Per emotion, in request order.
    pub emotions: Vec<EmotionSummary>,
    /// The written files, when an output folder was given.
    pub written: Option<Written>,
    /// The image's size (width, height).
    pub image_size: (usize, usize),
    /// The maps' size (width, height), at most [`MAX_MAP_SIDE`] on the long side.
    pub map_size: (usize, usize),
    /// [`MAX_MAP_SIDE`].
    pub max_map_side: usize,
}

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
