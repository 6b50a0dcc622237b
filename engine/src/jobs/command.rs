//! What the engine can be asked to do: typed [`Command`]s (open a collection, decode an
//! image, analyse a painting with SEVLM or EmoSEM, predict masks for review, map or search a
//! collection with PACL, train the demo kit, list/verify/import weights...) and the
//! dispatch of each to its job body in this layer. A requester names the weights' location
//! and its inputs; loading (device, encoders, tokenizer) happens here, through the shared
//! [`LoadedModels`](super::models::LoadedModels).

use std::path::PathBuf;

use super::output::{JobOutput, LoadedImage};
use super::worker::{JobContext, JobFn, Lane};
use super::{analyze_emosem, analyze_sevlm, demo, manifests, map, masks, pacl, review};
use crate::annotations::artemis::{read_artemis, summarise};
use crate::collection::Collection;
use crate::error::Result;

/// A request to the engine.
pub enum Command {
    /// Open a collection (folder, manifest CSV or WikiArt root): [`JobOutput::Collection`].
    OpenCollection {
        /// What to open.
        path: PathBuf,
    },
    /// Decode an image and downscale it so its longest side is at most `max_side`:
    /// [`JobOutput::Image`].
    LoadImage {
        /// The image file.
        path: PathBuf,
        /// Longest side of the result.
        max_side: u32,
    },
    /// A painting's thumbnail (longest side [`crate::thumbs::THUMB_SIDE`]) from the
    /// thumbnail cache in `cache` (made and stored there on a miss): [`JobOutput::Image`].
    LoadThumb {
        /// The image file.
        path: PathBuf,
        /// The thumbnail cache folder (`<cache>/thumbs`).
        cache: PathBuf,
    },
    /// Read an ArtEmis CSV (responses of any collection) and return its rows:
    /// [`JobOutput::Annotations`].
    LoadAnnotations {
        /// The CSV.
        path: PathBuf,
    },
    /// Read an ArtEmis CSV and summarise it: [`JobOutput::ArtemisImport`].
    ImportArtemis {
        /// The CSV.
        path: PathBuf,
    },
    /// SEVLM's emotion distribution and explanation of paintings.
    AnalyzeSevlm(analyze_sevlm::AnalyzeSevlm),
    /// EmoSEM's masks and explanations of one painting, optionally written to a folder.
    AnalyzeEmosem(analyze_emosem::AnalyzeEmosem),
    /// EmoSEM's masks of one painting at a viewer's size.
    MaskView(masks::MaskView),
    /// EmoSEM's predictions for reviewed items, scored against their ground truth.
    ReviewPredictions(masks::ReviewPredictions),
    /// Open a review session: ground truth matched to a collection, the journal.
    OpenReview(review::OpenReview),
    /// A collection's PACL map (embeddings, projection, clusters, zero-shot).
    Map(map::MapRequest),
    /// Free-text search over a map's embeddings.
    MapSearch(map::MapSearch),
    /// Embed a collection with a PACL model.
    Embed(pacl::Embed),
    /// Project embeddings to 2-D.
    Project(pacl::Project),
    /// Zero-shot emotions of embeddings.
    ZeroShot(pacl::ZeroShotRequest),
    /// Rank embeddings by a free-text query.
    Search(pacl::SearchRequest),
    /// Train a PACL model on the shipped data.
    TrainPacl(pacl::TrainPacl),
    /// Train the demo kit.
    DemoKit(demo::DemoKit),
    /// The Models tab's listing.
    ListModels(manifests::ListModels),
    /// Check one manifest entry's files against their sha256.
    VerifyModel(manifests::VerifyModel),
    /// Validate and import weights into a models folder.
    ImportWeights(manifests::ImportWeights),
    /// Run a job body on a lane (tests, the training sessions, the CLI's own jobs). Its
    /// output is one of the typed [`JobOutput`] variants.
    Run {
        /// A name for messages.
        name: String,
        /// Which lane runs it.
        lane: Lane,
        /// The work.
        job: JobFn,
    },
}

impl Command {
    /// The lane that runs it.
    pub fn lane(&self) -> Lane {
        match self {
            Command::OpenCollection { .. }
            | Command::LoadImage { .. }
            | Command::LoadThumb { .. }
            | Command::ImportArtemis { .. }
            | Command::LoadAnnotations { .. }
            | Command::OpenReview(_)
            | Command::ListModels(_)
            | Command::VerifyModel(_) => Lane::Io,
            Command::AnalyzeSevlm(_)
            | Command::AnalyzeEmosem(_)
            | Command::MaskView(_)
            | Command::ReviewPredictions(_)
            | Command::Map(_)
            | Command::MapSearch(_)
            | Command::Embed(_)
            | Command::Project(_)
            | Command::ZeroShot(_)
            | Command::Search(_)
            | Command::TrainPacl(_)
            | Command::DemoKit(_)
            | Command::ImportWeights(_) => Lane::Compute,
            Command::Run { lane, .. } => *lane,
        }
    }

    /// Its name in messages ("queued behind: ...") and logs.
    pub fn name(&self) -> String {
        match self {
            Command::OpenCollection { path } => format!("open {}", path.display()),
            Command::LoadImage { path, .. } => format!("load {}", path.display()),
            Command::LoadThumb { path, .. } => format!("thumbnail {}", path.display()),
            Command::ImportArtemis { path } => format!("import {}", path.display()),
            Command::LoadAnnotations { path } => format!("read {}", path.display()),
            Command::AnalyzeSevlm(r) => r.name(),
            Command::AnalyzeEmosem(r) => format!("EmoSEM {}", r.image.display()),
            Command::MaskView(_) => "EmoSEM masks".into(),
            Command::ReviewPredictions(_) => "review: EmoSEM predictions".into(),
            Command::OpenReview(_) => "review: ground truth".into(),
            Command::Map(_) => "embedding map".into(),
            Command::MapSearch(_) => "map search".into(),
            Command::Embed(_) => "embed".into(),
            Command::Project(_) => "project".into(),
            Command::ZeroShot(_) => "zero-shot".into(),
            Command::Search(_) => "search".into(),
            Command::TrainPacl(_) => "train PACL".into(),
            Command::DemoKit(_) => "train demo kit".into(),
            Command::ListModels(_) => "read the model manifests".into(),
            Command::VerifyModel(r) => format!("verify {}", r.entry.name),
            Command::ImportWeights(_) => "import weights".into(),
            Command::Run { name, .. } => name.clone(),
        }
    }

    /// Runs it on the calling (lane) thread.
    pub(crate) fn run(self, ctx: &JobContext) -> Result<JobOutput> {
        match self {
            Command::OpenCollection { path } => {
                ctx.progress(0.0, format!("reading {}", path.display()));
                Ok(JobOutput::Collection(Box::new(Collection::open(&path)?)))
            }
            Command::LoadImage { path, max_side } => {
                let img = crate::imaging::load_image(&path)?;
                ctx.check()?;
                let warnings = crate::imaging::check_image_file(&path)
                    .map(|c| c.warnings)
                    .unwrap_or_default();
                let t = crate::imaging::thumbnail(&img, max_side);
                Ok(JobOutput::Image(LoadedImage {
                    path,
                    width: t.width(),
                    height: t.height(),
                    original_width: img.width(),
                    original_height: img.height(),
                    rgba: t.into_raw(),
                    warnings,
                }))
            }
            Command::LoadThumb { path, cache } => {
                let t =
                    crate::thumbs::ThumbCache::new(cache, crate::thumbs::THUMB_SIDE).get(&path)?;
                Ok(JobOutput::Image(LoadedImage {
                    path,
                    width: t.rgba.width(),
                    height: t.rgba.height(),
                    original_width: t.original.0,
                    original_height: t.original.1,
                    rgba: t.rgba.into_raw(),
                    warnings: t.warnings,
                }))
            }
            Command::ImportArtemis { path } => {
                ctx.progress(0.0, format!("reading {}", path.display()));
                let rows = read_artemis(&path)?;
                ctx.check()?;
                ctx.progress(0.5, format!("{} rows read; summarising", rows.len()));
                Ok(JobOutput::ArtemisImport(Box::new(summarise(&rows))))
            }
            Command::LoadAnnotations { path } => Ok(JobOutput::Annotations(read_artemis(&path)?)),
            Command::AnalyzeSevlm(r) => analyze_sevlm::run(r, ctx),
            Command::AnalyzeEmosem(r) => analyze_emosem::run(r, ctx),
            Command::MaskView(r) => masks::run_mask_view(r, ctx),
            Command::ReviewPredictions(r) => masks::run_review(r, ctx),
            Command::OpenReview(r) => review::run(r, ctx),
            Command::Map(r) => map::run_map(r, ctx),
            Command::MapSearch(r) => map::run_search(r, ctx),
            Command::Embed(r) => pacl::run_embed(r, ctx),
            Command::Project(r) => pacl::run_project(r, ctx),
            Command::ZeroShot(r) => pacl::run_zero_shot(r, ctx),
            Command::Search(r) => pacl::run_search(r, ctx),
            Command::TrainPacl(r) => pacl::run_train(r, ctx),
            Command::DemoKit(r) => demo::run(r, ctx),
            Command::ListModels(r) => manifests::run_list(r, ctx),
            Command::VerifyModel(r) => manifests::run_verify(r, ctx),
            Command::ImportWeights(r) => manifests::run_import(r, ctx),
            Command::Run { job, .. } => job(ctx),
        }
    }
}
