//! What several panels draw: the pan/zoom canvas, path rows, tables, legends, Markdown, the
//! AIC credit, the weights-absent note and demo badge.

pub mod credit;
pub mod emotion_bar;
pub mod legend;
pub mod markdown;
pub mod path_row;
pub mod table;
pub mod weights;
pub mod zoom_canvas;
