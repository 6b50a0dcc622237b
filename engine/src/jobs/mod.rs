//! The jobs layer, above the models: the engine's worker threads ([`worker`]), the typed
//! requests they accept ([`command::Command`]) and results they send ([`output::JobOutput`]),
//! the registry of loaded models every request shares ([`models`]), and the job bodies that
//! run the paper modules. `sevlm/`, `emosem/`, `pacl/` and `train/` do not import this
//! layer; the app reaches the models only through it, naming weights by location, never by tensor or
//! device.
//!
//! - [`analyze_sevlm`]: SEVLM's distribution and explanation of paintings (streamed tokens).
//! - [`analyze_emosem`]: EmoSEM's masks and explanations of one painting, written to a folder.
//! - [`masks`]: the Painting tab's masks at the view's size, the Review tab's predictions.
//! - [`view_cache`]: the Painting tab's masks kept in the result cache ([`result_cache`]).
//! - [`review`]: opening a review session (ground truth, journal).
//! - [`map`]: the Map tab's cached PACL map and free-text search.
//! - [`pacl`]: embed, project, zero-shot, search and train requests of the CLI.
//! - [`demo`]: the demo-kit pipeline.
//! - [`manifests`]: the Models tab's listing, verification and import.
//! - [`train`]: the training session of any model (`session_job::<T: Trainable>`), streamed
//!   as `JobOutput::Training`.

pub mod analyze_emosem;
pub mod analyze_sevlm;
pub mod command;
pub mod demo;
pub mod manifests;
pub mod map;
pub mod masks;
pub mod models;
pub mod output;
pub mod pacl;
pub mod result_cache;
pub mod results;
pub mod review;
pub mod train;
pub mod view_cache;
pub mod worker;

pub use command::Command;
pub use models::{LoadedModels, Roots, SevlmWeights};
pub use output::{JobOutput, LoadedImage};
