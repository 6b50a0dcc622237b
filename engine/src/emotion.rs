//! The ArtEmis emotion labels, in ArtEmis order, with polarity and a colour-blind-safe
//! palette (Paul Tol's "muted" scheme, which stays distinguishable under the common
//! colour-vision deficiencies).

use serde::{Deserialize, Serialize};

/// One of the nine ArtEmis labels. The first eight are the emotions APOLO, EmoSEM and
/// SEVLM use; `SomethingElse` only appears in imported annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Emotion {
    /// amusement (positive)
    Amusement,
    /// awe (positive)
    Awe,
    /// contentment (positive)
    Contentment,
    /// excitement (positive)
    Excitement,
    /// anger (negative)
    Anger,
    /// disgust (negative)
    Disgust,
    /// fear (negative)
    Fear,
    /// sadness (negative)
    Sadness,
    /// "something else" (ArtEmis' ninth label)
    SomethingElse,
}

/// Whether an emotion is positive or negative (ArtEmis' grouping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Polarity {
    /// amusement, awe, contentment, excitement
    Positive,
    /// anger, disgust, fear, sadness
    Negative,
    /// something else
    Neither,
}

impl Emotion {
    /// The eight emotions in ArtEmis order (no `SomethingElse`).
    pub const EIGHT: [Emotion; 8] = [
        Emotion::Amusement,
        Emotion::Awe,
        Emotion::Contentment,
        Emotion::Excitement,
        Emotion::Anger,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Sadness,
    ];

    /// All nine labels in ArtEmis order.
    pub const ALL: [Emotion; 9] = [
        Emotion::Amusement,
        Emotion::Awe,
        Emotion::Contentment,
        Emotion::Excitement,
        Emotion::Anger,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Sadness,
        Emotion::SomethingElse,
    ];

    /// The label as ArtEmis writes it ("something else" with a space).
    pub fn name(self) -> &'static str {
        match self {
            Emotion::Amusement => "amusement",
            Emotion::Awe => "awe",
            Emotion::Contentment => "contentment",
            Emotion::Excitement => "excitement",
            Emotion::Anger => "anger",
            Emotion::Disgust => "disgust",
            Emotion::Fear => "fear",
            Emotion::Sadness => "sadness",
            Emotion::SomethingElse => "something else",
        }
    }

    /// The index in ArtEmis order (0..9).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label at an ArtEmis index.
    pub fn from_index(i: usize) -> Option<Emotion> {
        Emotion::ALL.get(i).copied()
    }

    /// Parses a label: case-insensitive, surrounding space ignored, "something_else" and
    /// "something-else" accepted.
    pub fn parse(s: &str) -> Option<Emotion> {
        let norm: String = s
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c == '_' || c == '-' { ' ' } else { c })
            .collect();
        Emotion::ALL.iter().copied().find(|e| e.name() == norm)
    }

    /// Positive, negative or neither.
    pub fn polarity(self) -> Polarity {
        match self {
            Emotion::Amusement | Emotion::Awe | Emotion::Contentment | Emotion::Excitement => {
                Polarity::Positive
            }
            Emotion::Anger | Emotion::Disgust | Emotion::Fear | Emotion::Sadness => {
                Polarity::Negative
            }
            Emotion::SomethingElse => Polarity::Neither,
        }
    }

    /// The display colour as sRGB bytes (Paul Tol "muted"; pale grey for something else).
    pub fn color(self) -> [u8; 3] {
        match self {
            Emotion::Amusement => [0xDD, 0xCC, 0x77],   // sand
            Emotion::Awe => [0x88, 0xCC, 0xEE],         // cyan
            Emotion::Contentment => [0x44, 0xAA, 0x99], // teal
            Emotion::Excitement => [0xCC, 0x66, 0x77],  // rose
            Emotion::Anger => [0x88, 0x22, 0x55],       // wine
            Emotion::Disgust => [0x99, 0x99, 0x33],     // olive
            Emotion::Fear => [0x33, 0x22, 0x88],        // indigo
            Emotion::Sadness => [0xAA, 0x44, 0x99],     // purple
            Emotion::SomethingElse => [0xDD, 0xDD, 0xDD],
        }
    }
}

/// Serialised as ArtEmis writes it ("something else" with a space).
impl Serialize for Emotion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Parsed with [`Emotion::parse`] (case-insensitive; `_` or `-` for the space).
impl<'de> Deserialize<'de> for Emotion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Emotion::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown emotion `{s}`")))
    }
}

impl std::fmt::Display for Emotion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_names_follow_artemis() {
        let names: Vec<_> = Emotion::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "amusement",
                "awe",
                "contentment",
                "excitement",
                "anger",
                "disgust",
                "fear",
                "sadness",
                "something else"
            ]
        );
        for (i, e) in Emotion::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(Emotion::from_index(i), Some(*e));
        }
        assert_eq!(Emotion::from_index(9), None);
    }

    #[test]
    fn parse_table() {
        let cases = [
            ("awe", Some(Emotion::Awe)),
            (" Sadness ", Some(Emotion::Sadness)),
            ("something else", Some(Emotion::SomethingElse)),
            ("something_else", Some(Emotion::SomethingElse)),
            ("SOMETHING-ELSE", Some(Emotion::SomethingElse)),
            ("joy", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(Emotion::parse(s), want, "{s:?}");
        }
    }

    #[test]
    fn polarity_splits_four_and_four() {
        let pos = Emotion::EIGHT
            .iter()
            .filter(|e| e.polarity() == Polarity::Positive)
            .count();
        let neg = Emotion::EIGHT
            .iter()
            .filter(|e| e.polarity() == Polarity::Negative)
            .count();
        assert_eq!((pos, neg), (4, 4));
        assert_eq!(Emotion::SomethingElse.polarity(), Polarity::Neither);
    }

    #[test]
    fn palette_colours_are_distinct() {
        let mut c: Vec<_> = Emotion::ALL.iter().map(|e| e.color()).collect();
        c.sort();
        c.dedup();
        assert_eq!(c.len(), 9);
    }
}
