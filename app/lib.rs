//! Artemo's application crate: the desktop window (`gui`) and the headless CLI (`cli`),
//! both over the engine crate `artemo-engine`. The `artemo` binary is `main.rs`; the
//! library exists so that the integration and UI snapshot tests in `tests/` can drive
//! the window's panels headless.

pub mod cli;
mod cmd;
pub mod gui;
pub mod logging;
mod progress;
