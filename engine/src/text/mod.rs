//! Text corpora shipped with Artemo (GoEmotions) and the text-to-emotion
//! classifier used by the EA metric.

pub mod ea_classifier;
pub mod goemotions;
pub mod known_words;
pub mod painting_words;
pub mod repeats;
pub mod sampling;
