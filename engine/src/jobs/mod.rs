//! The jobs layer, above the models: the engine's worker threads ([`worker`]) and the job
//! bodies that run the paper modules on them. `sevlm/`, `emosem/` and `pacl/` never import
//! this layer; the app talks to the models only through it.

pub mod worker;
