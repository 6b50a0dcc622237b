//! Every colour the window paints with, in one place: the emotions' colours come from
//! `artemo_engine::emotion`'s colour-blind-safe palette; the rest are named here by what
//! they mean (a problem, success, the demo badge, the curves of a training run).

use artemo_engine::Emotion;
use egui::Color32;

/// A problem the user must act on (banners, unreadable files, refused input).
pub const ERROR: Color32 = Color32::from_rgb(0xCC, 0x66, 0x77);
/// Something went well (a check passed, a run finished).
pub const OK: Color32 = Color32::from_rgb(0x44, 0xAA, 0x99);
/// A verified file in the Models tab.
pub const VERIFIED: Color32 = Color32::from_rgb(0x44, 0xAA, 0x77);
/// Attention without alarm: the demo-kit badge, a file not yet verified.
pub const AMBER: Color32 = Color32::from_rgb(0xDD, 0xAA, 0x33);
/// Weights the user imported (Models tab badge).
pub const IMPORTED: Color32 = Color32::from_rgb(0x56, 0xB4, 0xE9);
/// Points without a value to colour by (Map tab).
pub const GREY: Color32 = Color32::from_rgb(0x80, 0x80, 0x80);
/// A badge without a value (Review tab: IoU unknown).
pub const NEUTRAL: Color32 = Color32::from_gray(110);
/// An empty thumbnail slot (Train tab probes).
pub const EMPTY_SLOT: Color32 = Color32::from_gray(40);

/// Review: the ground-truth mask (orange; with the prediction's blue, readable under the
/// common colour-vision deficiencies).
pub const GROUND_TRUTH: Color32 = Color32::from_rgb(230, 120, 20);
/// Review: the predicted mask.
pub const PREDICTION: Color32 = Color32::from_rgb(51, 119, 221);
/// Review: a sample passing the IoU threshold.
pub const PASS: Color32 = Color32::from_rgb(0x2E, 0x8B, 0x57);
/// Review: a sample failing the IoU threshold.
pub const FAIL: Color32 = Color32::from_rgb(0xB0, 0x3A, 0x48);
/// Review: a flagged sample.
pub const FLAGGED: Color32 = Color32::from_rgb(0xB0, 0x80, 0x20);

/// Map: colours of clusters (Okabe-Ito, then Tableau).
pub const CLUSTERS: [[u8; 3]; 12] = [
    [0xE6, 0x9F, 0x00],
    [0x56, 0xB4, 0xE9],
    [0x00, 0x9E, 0x73],
    [0xF0, 0xE4, 0x42],
    [0x00, 0x72, 0xB2],
    [0xD5, 0x5E, 0x00],
    [0xCC, 0x79, 0xA7],
    [0x99, 0x99, 0x99],
    [0x8C, 0x56, 0x4B],
    [0x17, 0xBE, 0xCF],
    [0xBC, 0xBD, 0x22],
    [0x94, 0x67, 0xBD],
];

/// Training curves, in the order a plot uses them (total loss or the first metric, then
/// the language/explanation loss, the VAD loss, the contrastive loss).
pub const CURVES: [Color32; 4] = [
    Color32::from_rgb(0x44, 0x77, 0xAA),
    Color32::from_rgb(0xEE, 0x66, 0x77),
    Color32::from_rgb(0x22, 0x88, 0x33),
    Color32::from_rgb(0xCC, 0xBB, 0x44),
];

/// An sRGB triple as a colour.
pub fn rgb([r, g, b]: [u8; 3]) -> Color32 {
    Color32::from_rgb(r, g, b)
}

/// The emotion's colour (`Emotion::color`, the engine's palette).
pub fn emotion(e: Emotion) -> Color32 {
    rgb(e.color())
}

/// The emotion's name, strong, in its colour.
pub fn emotion_text(e: Emotion) -> egui::RichText {
    egui::RichText::new(e.name()).color(emotion(e)).strong()
}

/// Valence -1..1 on a blue (negative) - grey - orange (positive) scale, which stays
/// readable under the common colour-vision deficiencies.
pub fn valence(v: f32) -> Color32 {
    let v = v.clamp(-1.0, 1.0);
    let grey = [150.0, 150.0, 150.0];
    let end = if v < 0.0 {
        [51.0, 119.0, 221.0]
    } else {
        [230.0, 120.0, 20.0]
    };
    let t = v.abs();
    let c = |i: usize| (grey[i] + (end[i] - grey[i]) * t) as u8;
    Color32::from_rgb(c(0), c(1), c(2))
}
