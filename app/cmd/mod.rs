//! The headless subcommands `cli.rs` dispatches to, one module each, over the helpers
//! they share (`common.rs`: output rules, image checks, cache folder, rayon pool, running
//! engine jobs with progress).

pub mod analyze;
pub mod analyze_emosem;
pub mod annotations;
pub mod bench;
pub mod bench_collection;
pub mod bench_map;
pub mod collection;
pub mod common;
pub mod embed;
pub mod eval;
pub mod models;
pub mod pacl_args;
pub mod pseudo_masks;
pub mod stimuli_args;
pub mod train;
pub mod train_emosem;
pub mod train_session;
