//! APOLO stimulus annotations: `apolo.json` (records with `painting`, `artemis_id` list and
//! `split`) and one `.npy` 0/1 map per (painting, emotion) in `apolo_pixel_map/`, named
//! `<painting>_<emotion>.npy` (the emotion as ArtEmis writes it, e.g. `something else`
//! never occurs: APOLO uses the eight emotions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::mask::Mask;
use crate::emotion::Emotion;
use crate::error::{read_text, Error, Result};

/// One record of `apolo.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApoloRecord {
    /// Painting id.
    pub painting: String,
    /// ArtEmis annotation ids this record covers (numbers or strings in the file).
    #[serde(default, deserialize_with = "ids")]
    pub artemis_id: Vec<String>,
    /// `val` or `test`.
    #[serde(default)]
    pub split: String,
}

fn ids<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let v: Vec<serde_json::Value> = Vec::deserialize(d)?;
    v.into_iter()
        .map(|x| match x {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "artemis_id must hold numbers or strings, found {other}"
            ))),
        })
        .collect()
}

/// An APOLO root: the records and where the maps are.
#[derive(Debug, Clone)]
pub struct ApoloSet {
    /// The records of `apolo.json`.
    pub records: Vec<ApoloRecord>,
    /// The `apolo_pixel_map` folder.
    pub map_dir: PathBuf,
}

impl ApoloSet {
    /// Reads `apolo.json`; `map_dir` defaults to `apolo_pixel_map/` beside it.
    pub fn open(json: &Path, map_dir: Option<&Path>) -> Result<Self> {
        let text = read_text(json)?;
        let records = parse_records(&text, json)?;
        let map_dir = map_dir.map(Path::to_path_buf).unwrap_or_else(|| {
            json.parent()
                .unwrap_or_else(|| Path::new("."))
                .join("apolo_pixel_map")
        });
        Ok(ApoloSet { records, map_dir })
    }

    /// The map file of a (painting, emotion).
    pub fn map_path(&self, painting: &str, emotion: Emotion) -> PathBuf {
        map_path(&self.map_dir, painting, emotion)
    }

    /// Loads the map of a (painting, emotion), `None` when no file exists.
    pub fn load_map(&self, painting: &str, emotion: Emotion) -> Result<Option<Mask>> {
        let p = self.map_path(painting, emotion);
        if !p.is_file() {
            return Ok(None);
        }
        Mask::read_npy(&p).map(Some)
    }

    /// Every (painting, emotion) map present for the records, loaded.
    pub fn load_all(&self) -> Result<BTreeMap<(String, Emotion), Mask>> {
        let mut out = BTreeMap::new();
        for r in &self.records {
            for e in Emotion::EIGHT {
                if let Some(m) = self.load_map(&r.painting, e)? {
                    out.insert((r.painting.clone(), e), m);
                }
            }
        }
        Ok(out)
    }
}

/// `<dir>/<painting>_<emotion>.npy`.
pub fn map_path(dir: &Path, painting: &str, emotion: Emotion) -> PathBuf {
    dir.join(format!("{painting}_{}.npy", emotion.name()))
}

/// Parses the records of `apolo.json` (a JSON array); errors name the record index.
pub fn parse_records(text: &str, path: &Path) -> Result<Vec<ApoloRecord>> {
    let records: Vec<ApoloRecord> = crate::error::parse_json_array(text, path, "record")?;
    if let Some(i) = records.iter().position(|r| r.painting.trim().is_empty()) {
        return Err(Error::at(
            path,
            format!("record {i}, field `painting`"),
            "empty",
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_maps() {
        let d = tempfile::tempdir().unwrap();
        let json = d.path().join("apolo.json");
        std::fs::write(&json, r#"[{"painting": "p1", "artemis_id": [3, "7"], "split": "val"}, {"painting": "p2", "split": "test"}]"#).unwrap();
        let maps = d.path().join("apolo_pixel_map");
        let mut m = Mask::new(4, 3);
        m.set(2, 1, true);
        m.write_npy(&map_path(&maps, "p1", Emotion::Awe)).unwrap();
        let set = ApoloSet::open(&json, None).unwrap();
        assert_eq!(set.records[0].artemis_id, ["3", "7"]);
        assert_eq!(set.records[1].artemis_id.len(), 0);
        assert_eq!(set.load_map("p1", Emotion::Awe).unwrap(), Some(m.clone()));
        assert_eq!(set.load_map("p1", Emotion::Fear).unwrap(), None);
        let all = set.load_all().unwrap();
        assert_eq!(all.len(), 1);
        assert!(set.map_path("p1", Emotion::Awe).ends_with("p1_awe.npy"));
    }

    #[test]
    fn malformed_json_names_file_and_record() {
        let cases = [
            ("[{\"painting\": 3}]", "record 0"),
            (
                "[{\"painting\": \"a\"}, {\"painting\": \"\"}]",
                "record 1, field `painting`",
            ),
            (
                "[{\"painting\": \"a\", \"artemis_id\": [true]}]",
                "record 0",
            ),
            ("{", "line 1"),
        ];
        for (text, want) in cases {
            let e = parse_records(text, Path::new("apolo.json"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("apolo.json") && e.contains(want),
                "{text}: {e}"
            );
        }
    }
}
