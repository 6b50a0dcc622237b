//! The engine's jobs: what the worker runs, one layer above the models (which never
//! import the worker).

pub mod train;
