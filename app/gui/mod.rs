//! The desktop window. `app.rs` runs the frame loop over `state.rs` (the app's state and
//! what it lends panels) and `panels/` (one folder per tab, one registry); `chrome.rs`,
//! `notices.rs` and `loading.rs` are the app's own bars, banners and jobs; `widgets/` holds
//! what several panels draw; `theme.rs` every colour.

mod app;
mod browse;
mod chrome;
pub mod dialog;
mod frames;
pub(crate) mod grid_bench;
mod loading;
mod nav;
mod notices;
pub mod panels;
mod state;
mod textures;
mod theme;
mod visible;
mod widgets;

pub use app::{run, ArtemoApp};
pub use state::Tab;
