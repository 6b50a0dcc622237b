//! The SEVLM analysis request behind the viewer's "Emotion and explanation" section and
//! `artemo analyze --model sevlm`: the model (from the shared registry) explains each image
//! in order, streaming every generated token and every finished analysis as typed
//! partials.

use std::path::PathBuf;

use super::models::{Roots, SevlmWeights};
use super::output::JobOutput;
use super::result_cache::{entry_key, image_key, model_key, Lookup, ResultCache};
use super::worker::JobContext;
use crate::error::Result;
use crate::sevlm::{DecodeOptions, SevlmRuntime};

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
    /// The feature cache folder: finished analyses are kept under `results/sevlm` and a
    /// painting opened again is read back ([`super::result_cache`]); `None`: always
    /// computed.
    pub cache: Option<PathBuf>,
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
        let stream = |t: &crate::sevlm::GeneratedToken| {
            ctx.partial(JobOutput::SevlmToken {
                image: i,
                token: t.clone(),
            })
        };
        // A folder without the usual two files (or an unreadable image) is not cached.
        let key = req
            .cache
            .as_ref()
            .and_then(|dir| Some((dir, analysis_key(&runtime, img, &req.options).ok()?)));
        let a = match key {
            Some((dir, key)) => {
                let cache = ResultCache::new(dir, "sevlm");
                let (mut a, how) = cache.lookup(&key, || {
                    runtime.analyze(img, &req.options, ctx.device(), stream, ctx)
                })?;
                if how == Lookup::Hit {
                    // The same stream as a fresh analysis, at once.
                    a.generation.tokens.iter().for_each(stream);
                }
                a.image = img.clone();
                a
            }
            None => runtime.analyze(img, &req.options, ctx.device(), stream, ctx)?,
        };
        ctx.partial(JobOutput::SevlmAnalysis {
            image: i,
            analysis: Box::new(a.clone()),
        });
        all.push(a);
    }
    ctx.progress(1.0, "done");
    Ok(JobOutput::SevlmAnalyses(all))
}

/// The cache key of one painting's analysis: the model folder's weights, the image's bytes,
/// the decoding options, the lexicon and (for a model with a text memory or a title-word
/// push) the painting's text as it would be read.
pub(crate) fn analysis_key(
    runtime: &SevlmRuntime,
    image: &std::path::Path,
    options: &DecodeOptions,
) -> Result<[u8; 32]> {
    let model = model_key(&runtime.source, "sevlm-analysis v1")?;
    // The text the model reads, or whose title words it pushes.
    let reads_text =
        runtime.text_memory.is_some() || runtime.model.config().painting_word_bias > 0.0;
    let text = if reads_text {
        format!(
            "{:?}",
            crate::models::text_memory::PaintingText::for_image(image)
        )
    } else {
        String::new()
    };
    let request = format!(
        "{}\n{}\n{text}",
        serde_json::to_string(options).unwrap_or_default(),
        runtime.lexicon.describe()
    );
    Ok(entry_key(&model, &image_key(image)?, &request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::command::Command;
    use crate::worker::{Engine, EngineConfig};

    /// Issue 22: a painting analysed again is read from the cache (same analysis, tokens
    /// streamed again); an edited image or other decoding is computed anew; a damaged
    /// entry is recomputed and rewritten.
    #[test]
    fn analyses_are_cached_by_model_image_and_request() {
        let assets = crate::find_assets().expect("assets");
        let models = crate::find_models().expect("models");
        let tmp = tempfile::tempdir().unwrap();
        let img = tmp.path().join("p.jpg");
        std::fs::copy(assets.join("paintings/aic/100342.jpg"), &img).unwrap();
        let cache = tmp.path().join("cache");
        let engine = Engine::start(EngineConfig {
            threads: 1,
            ..Default::default()
        })
        .unwrap();
        let run = |options: DecodeOptions| {
            let mut tokens = 0;
            let out = engine
                .run_streaming(
                    Command::AnalyzeSevlm(AnalyzeSevlm {
                        weights: SevlmWeights::folder(models.join("demo/sevlm")),
                        roots: Roots {
                            assets: assets.clone(),
                            models: models.clone(),
                        },
                        images: vec![img.clone()],
                        options,
                        lexicon: crate::lexicon::VadSource::default(),
                        label: "test".into(),
                        cache: Some(cache.clone()),
                    }),
                    |_, _, _| {},
                    |p| tokens += usize::from(matches!(p, JobOutput::SevlmToken { .. })),
                )
                .unwrap();
            let JobOutput::SevlmAnalyses(mut a) = out else {
                panic!("unexpected output")
            };
            (a.remove(0), tokens)
        };
        let entries = || {
            std::fs::read_dir(cache.join("results/sevlm"))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let opts = DecodeOptions {
            max_tokens: 6,
            ..Default::default()
        };
        let (first, n1) = run(opts);
        assert_eq!(entries(), 1);
        assert_eq!(n1, first.generation.tokens.len());
        let (again, n2) = run(opts);
        assert_eq!(again, first);
        assert_eq!(n2, n1);
        assert_eq!(entries(), 1);
        // Other decoding: another entry.
        let nucleus = DecodeOptions {
            decoding: crate::sevlm::Decoding::paper_nucleus(4),
            ..opts
        };
        run(nucleus);
        assert_eq!(entries(), 2);
        // A damaged entry is recomputed (same analysis) and rewritten.
        let file = std::fs::read_dir(cache.join("results/sevlm"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::read(p).map(|b| b.len()).unwrap_or(0) > 0)
            .unwrap();
        let good = std::fs::read(&file).unwrap();
        std::fs::write(&file, &good[..good.len() / 2]).unwrap();
        run(opts);
        run(nucleus);
        assert_eq!(std::fs::read(&file).unwrap(), good);
        // An edited image: a new key.
        let edited = image::open(&img).unwrap().fliph();
        edited.save(&img).unwrap();
        run(opts);
        assert_eq!(entries(), 3);
    }
}
