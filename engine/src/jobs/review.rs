//! The Review tab's opening request: ground truth matched to the open collection's
//! paintings and the session's journal opened (replaying what an earlier session left).

use std::path::PathBuf;

use super::output::JobOutput;
pub use super::results::ReviewOpened;
use super::worker::JobContext;
use crate::annotations::review::{load_ground_truth, GroundTruth, ReviewJournal};
use crate::collection::Collection;
use crate::error::Result;

/// Match `ground_truth` to `collection` and open the journal in `session`.
///
/// The result is [`JobOutput::ReviewOpened`].
#[derive(Debug, Clone)]
pub struct OpenReview {
    /// The ground truth.
    pub ground_truth: GroundTruth,
    /// The collection it is matched to.
    pub collection: Collection,
    /// The session's folder (journal and snapshots).
    pub session: PathBuf,
}

pub(crate) fn run(req: OpenReview, ctx: &JobContext) -> Result<JobOutput> {
    ctx.progress(0.0, "reading the ground truth");
    let found = load_ground_truth(&req.ground_truth, &req.collection, ctx)?;
    let (journal, recovery) = ReviewJournal::open(&req.session)?;
    Ok(JobOutput::ReviewOpened(Box::new(ReviewOpened {
        found,
        journal,
        recovery,
    })))
}
