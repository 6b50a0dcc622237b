//! GoEmotions (`text \t label-ids \t id`, ids indexing `emotions.txt`: 27 emotions +
//! neutral) and its mapping to the eight ArtEmis emotions.
//!
//! Mapping (a GoEmotions label not listed is dropped; an example is kept only when its
//! labels map to exactly one ArtEmis emotion):
//!
//! | ArtEmis | GoEmotions |
//! |---|---|
//! | amusement | amusement |
//! | awe | admiration, surprise |
//! | contentment | joy, love, caring, gratitude, relief, approval, pride |
//! | excitement | excitement, desire, optimism |
//! | anger | anger, annoyance, disapproval |
//! | disgust | disgust |
//! | fear | fear, nervousness |
//! | sadness | sadness, grief, disappointment, remorse |
//! | (dropped) | confusion, curiosity, embarrassment, realization, neutral |

use std::path::Path;

use crate::emotion::Emotion;
use crate::error::{read_text, Error, Result};

/// The ArtEmis emotion of a GoEmotions label name, if it maps to one.
pub fn map_label(name: &str) -> Option<Emotion> {
    use Emotion::*;
    Some(match name {
        "amusement" => Amusement,
        "admiration" | "surprise" => Awe,
        "joy" | "love" | "caring" | "gratitude" | "relief" | "approval" | "pride" => Contentment,
        "excitement" | "desire" | "optimism" => Excitement,
        "anger" | "annoyance" | "disapproval" => Anger,
        "disgust" => Disgust,
        "fear" | "nervousness" => Fear,
        "sadness" | "grief" | "disappointment" | "remorse" => Sadness,
        _ => return None,
    })
}

/// One mapped example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The comment.
    pub text: String,
    /// Its single ArtEmis emotion.
    pub emotion: Emotion,
}

/// Reads `emotions.txt` (one label name per line).
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let labels: Vec<String> = read_text(path)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        return Err(Error::parse(path, None, "no labels"));
    }
    Ok(labels)
}

/// Reads a GoEmotions split and keeps the examples whose labels map to exactly one
/// ArtEmis emotion. Malformed lines are errors naming the line and field.
pub fn read_mapped(path: &Path, labels: &[String]) -> Result<Vec<Example>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 2 {
            return Err(Error::at(
                path,
                format!("line {n}"),
                "expected `text \\t label-ids \\t id`",
            ));
        }
        let mut mapped: Vec<Emotion> = Vec::new();
        for id in f[1].split(',') {
            let k: usize = id.trim().parse().map_err(|_| {
                Error::at(
                    path,
                    format!("line {n}, field `labels`"),
                    format!("`{id}` is not a label id"),
                )
            })?;
            let name = labels.get(k).ok_or_else(|| {
                Error::at(
                    path,
                    format!("line {n}, field `labels`"),
                    format!("label id {k} is out of range (0..{})", labels.len()),
                )
            })?;
            if let Some(e) = map_label(name) {
                if !mapped.contains(&e) {
                    mapped.push(e);
                }
            }
        }
        if let [e] = mapped[..] {
            out.push(Example {
                text: f[0].to_string(),
                emotion: e,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_covers_every_artemis_emotion_once_per_label() {
        let labels = read_labels(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/text/goemotions/emotions.txt"),
        )
        .unwrap();
        assert_eq!(labels.len(), 28);
        let mapped: Vec<Emotion> = labels.iter().filter_map(|l| map_label(l)).collect();
        assert_eq!(mapped.len(), 23);
        for e in Emotion::EIGHT {
            assert!(mapped.contains(&e), "{e}");
        }
    }

    #[test]
    fn reads_shipped_test_split_and_rejects_bad_lines() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/text/goemotions");
        let labels = read_labels(&dir.join("emotions.txt")).unwrap();
        let test = read_mapped(&dir.join("test.tsv"), &labels).unwrap();
        assert!(test.len() > 2500 && test.len() < 5427, "{}", test.len());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.tsv");
        for (text, want) in [
            ("hello\t99\tid\n", "out of range"),
            ("hello\tx\tid\n", "line 1, field `labels`"),
            ("just text\n", "line 1"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_mapped(&p, &labels).unwrap_err().to_string();
            assert!(e.contains("bad.tsv") && e.contains(want), "{e}");
        }
        std::fs::write(&p, "mixed\t1,2\tx\nboth joy\t17,18\ty\n").unwrap();
        let ex = read_mapped(&p, &labels).unwrap();
        assert_eq!(
            ex,
            vec![Example {
                text: "both joy".into(),
                emotion: Emotion::Contentment
            }]
        );
    }
}
