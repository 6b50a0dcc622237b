//! Prediction files for evaluation: a CSV with the columns `painting,prediction` (one
//! row per image; a prediction is `<emotion> because <explanation>` as SEVLM writes it,
//! or just an explanation). Not a metric: the input of [`super::accuracy`] and the text
//! metrics.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads `painting,prediction` rows (columns found by name, any order, extra columns
/// ignored). Every problem names the file, the row and the field: a missing column, an
/// empty painting, a painting given twice, a malformed row.
pub fn read_predictions(path: &Path) -> Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_predictions_from(file, path)
}

/// [`read_predictions`] from any reader; `path` names the source in errors.
pub fn read_predictions_from(
    reader: impl std::io::Read,
    path: &Path,
) -> Result<Vec<(String, String)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::at(path, "header", e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::at(
                path,
                "header",
                format!("missing column `{name}` (expected `painting,prediction`)"),
            )
        })
    };
    let (cp, cx) = (col("painting")?, col("prediction")?);
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| Error::at(path, format!("row {row}"), e.to_string()))?;
        let painting = rec.get(cp).unwrap_or("").trim().to_string();
        if painting.is_empty() {
            return Err(Error::at(
                path,
                format!("row {row}, field `painting`"),
                "empty",
            ));
        }
        if let Some(first) = seen.insert(painting.clone(), row) {
            return Err(Error::at(
                path,
                format!("row {row}, field `painting`"),
                format!("`{painting}` already has a prediction (row {first})"),
            ));
        }
        out.push((painting, rec.get(cx).unwrap_or("").to_string()));
    }
    if out.is_empty() {
        return Err(Error::parse(path, None, "no prediction rows"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_names_bad_ones() {
        let ok = "prediction,painting,extra\n\"awe because big, blue\",p1,x\n,p2,y\n";
        let rows = read_predictions_from(ok.as_bytes(), Path::new("h.csv")).unwrap();
        assert_eq!(rows[0], ("p1".into(), "awe because big, blue".into()));
        assert_eq!(rows[1], ("p2".into(), String::new()));
        let cases = [
            ("painting\np1\n", "missing column `prediction`"),
            ("painting,prediction\n,awe\n", "row 2, field `painting`"),
            ("painting,prediction\np,a\np,b\n", "row 3, field `painting`"),
            ("painting,prediction\np,a\nq\n", "row 3"),
            ("painting,prediction\n", "no prediction rows"),
        ];
        for (text, want) in cases {
            let e = read_predictions_from(text.as_bytes(), Path::new("h.csv"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("h.csv") && e.contains(want), "{text:?}: {e}");
        }
    }
}
