//! What the engine's jobs produce, as one closed enum: every finished job's result
//! ([`EventKind::Done`](super::worker::EventKind::Done)) and every piece streamed before it
//! finishes ([`EventKind::Partial`](super::worker::EventKind::Partial)) is a [`JobOutput`]
//! variant holding a typed value. There is no `Any` to downcast and no JSON to parse back
//! inside the process: a submitter matches the variant its request documents, and the
//! compiler lists every kind a `match` must handle.
//!
//! Why a closed enum rather than typed handles (`submit<J: Job>(J) -> JobHandle<P, O>`):
//! the GUI drains one event channel per frame and routes events to panels by job id, and
//! the CLI waits on one job at a time; both want one event type. Typed handles would need
//! a channel (or a type-erased slot) per job and a poll per handle in every panel. The
//! enum keeps one channel, and a new result kind is one variant.

use std::path::PathBuf;

use crate::annotations::artemis::ImportSummary;
use crate::annotations::Annotation;
use crate::collection::Collection;
use crate::emosem::postprocess::EmotionSummary;
use crate::emosem::view::ViewResult;
use crate::jobs::results::{EmosemReport, ModelListing, ReviewOpened, ReviewPrediction};
use crate::kit::DemoReport;
use crate::manifest::FileState;
use crate::models::registry::Imported;
use crate::pacl::embed::{EmbedResult, ProjectionResult, SearchResult, ZeroShotResult};
use crate::pacl::zeroshot::Hit;
use crate::sevlm::{Analysis, GeneratedToken};
use crate::text::ea_classifier::PipelineReport;

/// A decoded, downscaled image (RGBA8, row-major).
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The source file.
    pub path: PathBuf,
    /// Width of `rgba`.
    pub width: u32,
    /// Height of `rgba`.
    pub height: u32,
    /// Width of the original image.
    pub original_width: u32,
    /// Height of the original image.
    pub original_height: u32,
    /// Pixels.
    pub rgba: Vec<u8>,
    /// What makes the pixels doubtful though they decoded (a truncated file: the missing
    /// part is grey), from [`crate::imaging::check_image_file`].
    pub warnings: Vec<String>,
}

/// What a job produced, finished or streamed. Each request's documentation names the
/// variants it sends.
#[derive(Debug)]
pub enum JobOutput {
    /// Nothing to return.
    Unit,
    /// An opened collection.
    Collection(Box<Collection>),
    /// A decoded image.
    Image(LoadedImage),
    /// An ArtEmis import summary.
    ArtemisImport(Box<ImportSummary>),
    /// Annotation rows.
    Annotations(Vec<Annotation>),
    /// A text result (a model card, an export's report).
    Text(String),
    /// Streamed by SEVLM analyses: one generated token of image `image` (index in the
    /// request).
    SevlmToken {
        /// Index of the image in the request.
        image: usize,
        /// The token.
        token: GeneratedToken,
    },
    /// Streamed by SEVLM analyses: the finished analysis of image `image`.
    SevlmAnalysis {
        /// Index of the image in the request.
        image: usize,
        /// The analysis.
        analysis: Box<Analysis>,
    },
    /// The result of a SEVLM analysis: one analysis per image, in request order.
    SevlmAnalyses(Vec<Analysis>),
    /// Streamed by an EmoSEM analysis: one emotion's summary.
    EmosemEmotion(Box<EmotionSummary>),
    /// The result of an EmoSEM analysis.
    EmosemAnalysis(Box<EmosemReport>),
    /// Streamed by the viewer's EmoSEM request: one emotion at the view's size.
    MaskView(Box<ViewResult>),
    /// Streamed by the Review tab's prediction request: one reviewed item.
    ReviewPrediction(Box<ReviewPrediction>),
    /// A review session opened: ground truth matched to the collection, journal.
    ReviewOpened(Box<ReviewOpened>),
    /// A collection's PACL map.
    Map(Box<crate::jobs::results::MapData>),
    /// Free-text search hits over a map (best first).
    Hits(Vec<Hit>),
    /// A collection's PACL embeddings.
    Embedded(Box<EmbedResult>),
    /// A 2-D projection of embeddings.
    Projected(Box<ProjectionResult>),
    /// Zero-shot emotions of embeddings.
    ZeroShot(Box<ZeroShotResult>),
    /// Free-text search results with painting ids.
    Searched(Box<SearchResult>),
    /// A trained PACL model's report (`report.json`: training and probe).
    PaclTrained(Box<crate::kit::pacl::PaclTrainReport>),
    /// The demo kit's report.
    DemoKit(Box<DemoReport>),
    /// The EA classifier's training report.
    EaClassifier(Box<PipelineReport>),
    /// The Models tab's listing: manifests, file presence, where features look.
    ModelListing(Box<ModelListing>),
    /// A model's files checked against their sha256.
    Verified(Vec<(PathBuf, FileState)>),
    /// Weights imported into the user's models folder.
    Imported(Box<Imported>),
    /// An event of a training session (any model): streamed partials and the final
    /// [`crate::train::TrainEvent::Finished`].
    Training(Box<crate::train::TrainEvent>),
}

impl JobOutput {
    /// The variant's name in words ("sevlm analyses", "map"), for messages about a result
    /// of another kind than a request documents.
    pub fn kind(&self) -> &'static str {
        match self {
            JobOutput::Unit => "unit",
            JobOutput::Collection { .. } => "collection",
            JobOutput::Image { .. } => "image",
            JobOutput::ArtemisImport { .. } => "artemis import",
            JobOutput::Annotations { .. } => "annotations",
            JobOutput::Text { .. } => "text",
            JobOutput::SevlmToken { .. } => "sevlm token",
            JobOutput::SevlmAnalysis { .. } => "sevlm analysis",
            JobOutput::SevlmAnalyses { .. } => "sevlm analyses",
            JobOutput::EmosemEmotion { .. } => "emosem emotion",
            JobOutput::EmosemAnalysis { .. } => "emosem analysis",
            JobOutput::MaskView { .. } => "mask view",
            JobOutput::ReviewPrediction { .. } => "review prediction",
            JobOutput::ReviewOpened { .. } => "review opened",
            JobOutput::Map { .. } => "map",
            JobOutput::Hits { .. } => "hits",
            JobOutput::Embedded { .. } => "embedded",
            JobOutput::Projected { .. } => "projected",
            JobOutput::ZeroShot { .. } => "zero shot",
            JobOutput::Searched { .. } => "searched",
            JobOutput::PaclTrained { .. } => "pacl trained",
            JobOutput::DemoKit { .. } => "demo kit",
            JobOutput::EaClassifier { .. } => "ea classifier",
            JobOutput::ModelListing { .. } => "model listing",
            JobOutput::Verified { .. } => "verified",
            JobOutput::Imported { .. } => "imported",
            JobOutput::Training { .. } => "training",
        }
    }
}
