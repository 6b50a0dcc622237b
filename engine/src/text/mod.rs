//! Text corpora shipped with Artemo (GoEmotions, EmoBank) and the text-to-emotion
//! classifier used by the EA metric.

pub mod ea_classifier;
pub mod goemotions;
pub mod repeats;
