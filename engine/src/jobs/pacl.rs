//! PACL requests of the CLI (`artemo embed`, `artemo train pacl`): embed a collection,
//! project embeddings, zero-shot classify, search, train. The model comes from the shared
//! registry, so one command's embed, zero-shot and search load it once.

use std::path::PathBuf;

use super::models::Roots;
use super::output::JobOutput;
use super::worker::JobContext;
use crate::collection::Collection;
use crate::error::{Error, Result};
pub use crate::kit::pacl::{PaclTrainOptions, PaclTrainReport};
use crate::pacl::embed::{embed_collection, project, search, zero_shot, Embeddings};
use crate::pacl::projection::{Method, TsneConfig};
pub use crate::pacl::zeroshot::PromptSet;

/// Open `collection` and embed it with the PACL model in `model_dir`.
///
/// The result is [`JobOutput::Embedded`].
#[derive(Debug, Clone)]
pub struct Embed {
    /// The PACL model folder.
    pub model_dir: PathBuf,
    /// The models folder (the text encoder the model names).
    pub models: PathBuf,
    /// The collection (folder, manifest CSV or WikiArt root).
    pub collection: PathBuf,
}

/// Project embeddings to 2-D (PCA, or t-SNE with `tsne`).
///
/// The result is [`JobOutput::Projected`].
#[derive(Debug, Clone)]
pub struct Project {
    /// The embeddings.
    pub embeddings: Embeddings,
    /// PCA or t-SNE.
    pub method: Method,
    /// t-SNE settings (its seed is also PCA's).
    pub tsne: TsneConfig,
}

/// Zero-shot emotions of embeddings with the PACL model in `model_dir` and its text
/// encoder (under `models`).
///
/// The result is [`JobOutput::ZeroShot`].
#[derive(Debug, Clone)]
pub struct ZeroShotRequest {
    /// The PACL model folder.
    pub model_dir: PathBuf,
    /// The models folder.
    pub models: PathBuf,
    /// The embeddings.
    pub embeddings: Embeddings,
    /// The class prompts (default: the paper's single prompt).
    pub prompts: PromptSet,
    /// The calibration of each prompt's cosines over the embeddings.
    pub calibration: crate::pacl::zeroshot::Calibration,
}

/// The `top` embeddings closest to a free-text query.
///
/// The result is [`JobOutput::Searched`].
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The PACL model folder.
    pub model_dir: PathBuf,
    /// The models folder.
    pub models: PathBuf,
    /// The embeddings.
    pub embeddings: Embeddings,
    /// The query.
    pub query: String,
    /// How many hits.
    pub top: usize,
}

/// Train a PACL model on the shipped data into `out`.
///
/// The result is [`JobOutput::PaclTrained`].
#[derive(Debug, Clone)]
pub struct TrainPacl {
    /// The shipped assets and models folders.
    pub roots: Roots,
    /// The output folder.
    pub out: PathBuf,
    /// Epochs, seed, quick.
    pub options: PaclTrainOptions,
}

pub(crate) fn run_embed(req: Embed, ctx: &JobContext) -> Result<JobOutput> {
    ctx.progress(0.0, "loading the PACL model");
    let loaded = ctx
        .models()
        .pacl(&req.model_dir, &req.models, ctx.device())?;
    let coll = Collection::open(&req.collection)?;
    let r = embed_collection(&loaded.model, &coll, loaded.encoder.as_ref().ok(), ctx)?;
    Ok(JobOutput::Embedded(Box::new(r)))
}

pub(crate) fn run_project(req: Project, ctx: &JobContext) -> Result<JobOutput> {
    let r = project(&req.embeddings, req.method, &req.tsne, ctx)?;
    Ok(JobOutput::Projected(Box::new(r)))
}

fn encoder_error(model: &crate::pacl::PaclModel, e: &str) -> Error {
    Error::Invalid(format!(
        "the PACL text encoder ({}) could not be loaded: {e}",
        model.config().text_model
    ))
}

/// Runs `f` with the PACL model in `model_dir` (from the shared registry) and its text
/// encoder, or names why the encoder could not be loaded.
fn with_text_encoder<T>(
    model_dir: &std::path::Path,
    models: &std::path::Path,
    ctx: &JobContext,
    f: impl FnOnce(&crate::pacl::PaclModel, &crate::models::bert::SentenceEncoder) -> Result<T>,
) -> Result<T> {
    let loaded = ctx.models().pacl(model_dir, models, ctx.device())?;
    let enc = loaded
        .encoder
        .as_ref()
        .map_err(|e| encoder_error(&loaded.model, e))?;
    ctx.check()?;
    f(&loaded.model, enc)
}

pub(crate) fn run_zero_shot(req: ZeroShotRequest, ctx: &JobContext) -> Result<JobOutput> {
    let z = with_text_encoder(&req.model_dir, &req.models, ctx, |model, enc| {
        zero_shot(model, enc, &req.embeddings, req.prompts, req.calibration)
    })?;
    Ok(JobOutput::ZeroShot(Box::new(z)))
}

pub(crate) fn run_search(req: SearchRequest, ctx: &JobContext) -> Result<JobOutput> {
    let s = with_text_encoder(&req.model_dir, &req.models, ctx, |model, enc| {
        search(model, enc, &req.embeddings, &req.query, req.top)
    })?;
    Ok(JobOutput::Searched(Box::new(s)))
}

pub(crate) fn run_train(req: TrainPacl, ctx: &JobContext) -> Result<JobOutput> {
    let r = crate::kit::pacl::train_pacl(
        &req.roots.assets,
        &req.roots.models,
        &req.out,
        &req.options,
        ctx.device(),
        ctx,
    )?;
    Ok(JobOutput::PaclTrained(Box::new(r)))
}
