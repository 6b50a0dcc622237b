//! The SEVLM analysis request behind the viewer's "Emotion and explanation" section and
//! `artemo analyze --model sevlm`: the model (from the shared registry) explains each image
//! in order, streaming every generated token and every finished analysis as typed
//! partials.

use std::path::PathBuf;

use super::models::{Roots, SevlmWeights};
use super::output::JobOutput;
use super::worker::JobContext;
use crate::error::Result;
use crate::sevlm::DecodeOptions;

/// Analyse `images` with the SEVLM weights `weights`.
///
/// Streams [`JobOutput::SevlmToken`] for every generated token and
/// [`JobOutput::SevlmAnalysis`] for every finished image; the result is
/// [`JobOutput::SevlmAnalyses`] (one per image, in order).
#[derive(Debug, Clone)]
pub struct AnalyzeSevlm {
    /// Which weights.
    pub weights: SevlmWeights,
    /// The shipped assets and models folders.
    pub roots: Roots,
    /// The paintings.
    pub images: Vec<PathBuf>,
    /// Decoding settings.
    pub options: DecodeOptions,
    /// The VAD lexicon (the shipped stand-in unless an NRC VAD file is chosen).
    pub lexicon: crate::lexicon::VadSource,
    /// A name for messages ("explain", "SEVLM analyze").
    pub label: String,
}

impl AnalyzeSevlm {
    pub(crate) fn name(&self) -> String {
        self.label.clone()
    }
}

pub(crate) fn run(req: AnalyzeSevlm, ctx: &JobContext) -> Result<JobOutput> {
    ctx.progress(0.0, "loading SEVLM");
    let runtime = ctx
        .models()
        .sevlm_with(&req.weights, &req.lexicon, &req.roots, ctx.device())?;
    for w in &runtime.warnings {
        ctx.progress(0.0, format!("warning: {w}"));
    }
    let mut all = Vec::with_capacity(req.images.len());
    for (i, img) in req.images.iter().enumerate() {
        ctx.check()?;
        ctx.progress(
            i as f32 / req.images.len().max(1) as f32,
            format!("explaining {}", img.display()),
        );
        let a = runtime.analyze(
            img,
            &req.options,
            ctx.device(),
            |t| {
                ctx.partial(JobOutput::SevlmToken {
                    image: i,
                    token: t.clone(),
                })
            },
            ctx,
        )?;
        ctx.partial(JobOutput::SevlmAnalysis {
            image: i,
            analysis: Box::new(a.clone()),
        });
        all.push(a);
    }
    ctx.progress(1.0, "done");
    Ok(JobOutput::SevlmAnalyses(all))
}
