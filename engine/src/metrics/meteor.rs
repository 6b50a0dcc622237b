//! METEOR in Artemo's evaluation: the exact+stem port from the LGPL-2.1 crate
//! `artemo-meteor` (linked with the `meteor` cargo feature, on by default) and a runner for
//! the official METEOR 1.5 jar.
//!
//! This module is Artemo's own code (MIT OR Apache-2.0): the runner only speaks the jar's
//! documented `-stdio` protocol, as pycocoevalcap's `meteor/meteor.py` (BSD-2) does, and
//! contains no METEOR source. Without the `meteor` feature, [`meteor`] returns
//! `Ok(None)` and the report says how to get the score (build with the feature, or pass
//! `--meteor-jar`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::error::{Error, Result};

/// Variant label of the exact+stem port.
pub const METEOR_LABEL: &str = "METEOR (exact+stem)";
/// Variant label of the official jar with its default modules.
pub const METEOR_OFFICIAL_LABEL: &str = "METEOR 1.5 (official jar: exact+stem+synonym+paraphrase)";
/// Why METEOR (exact+stem) is missing from a binary built without the `meteor` feature.
pub const NOT_BUILT: &str = "METEOR (exact+stem) is not in this build: it lives in the \
LGPL-2.1 crate artemo-meteor (cargo feature `meteor`, on by default); pass --meteor-jar \
for the official jar";

/// METEOR for a corpus and for each of its items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeteorScores {
    /// Which METEOR this is.
    pub label: String,
    /// Corpus METEOR (from the summed statistics).
    pub corpus: f64,
    /// Per-item METEOR, in input order.
    pub per_item: Vec<f64>,
}

/// Whether this build has the exact+stem port (the `meteor` feature).
pub const fn available() -> bool {
    cfg!(feature = "meteor")
}

/// METEOR (exact+stem) of tokenised hypotheses against tokenised references; `None` when
/// this build has no METEOR port (see [`NOT_BUILT`]).
pub fn meteor(hyps: &[String], refs: &[Vec<String>]) -> Result<Option<MeteorScores>> {
    super::check_pairs(hyps, refs)?;
    #[cfg(feature = "meteor")]
    {
        let s = artemo_meteor::meteor(hyps, refs)
            .map_err(|e| Error::Invalid(format!("METEOR: {e}")))?;
        Ok(Some(MeteorScores {
            label: s.label,
            corpus: s.corpus,
            per_item: s.per_item,
        }))
    }
    #[cfg(not(feature = "meteor"))]
    {
        Ok(None)
    }
}

/// Runs the official METEOR 1.5 jar the way pycocoevalcap does (`java -Xmx2G -jar JAR
/// - - -stdio -l en -norm`) on tokenised captions. Needs `java` on the PATH.
pub fn meteor_official(jar: &Path, hyps: &[String], refs: &[Vec<String>]) -> Result<MeteorScores> {
    super::check_pairs(hyps, refs)?;
    if hyps.is_empty() {
        return Err(Error::Invalid("METEOR of an empty corpus".into()));
    }
    if !jar.is_file() {
        return Err(Error::Invalid(format!(
            "{}: METEOR jar not found",
            jar.display()
        )));
    }
    let dir = jar
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut child = Command::new("java")
        .arg("-Xmx2G")
        .arg("-jar")
        .arg(jar)
        .args(["-", "-", "-stdio", "-l", "en", "-norm"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            Error::io(
                jar,
                std::io::Error::new(e.kind(), format!("running java: {e}")),
            )
        })?;
    let io_err = |e: std::io::Error| Error::io(jar, e);
    let (mut stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err(Error::Invalid("java: no pipes".into())),
    };
    let mut out = BufReader::new(stdout);
    let read_line = |out: &mut BufReader<std::process::ChildStdout>| -> Result<String> {
        let mut s = String::new();
        if out.read_line(&mut s).map_err(io_err)? == 0 {
            return Err(Error::parse(jar, None, "METEOR stopped answering"));
        }
        Ok(s.trim().to_string())
    };
    let mut eval = String::from("EVAL");
    for (h, rs) in hyps.iter().zip(refs) {
        let hyp = h.replace("|||", "").replace("  ", " ");
        let line = format!("SCORE ||| {} ||| {}\n", rs.join(" ||| "), hyp);
        stdin.write_all(line.as_bytes()).map_err(io_err)?;
        stdin.flush().map_err(io_err)?;
        let stat = read_line(&mut out)?;
        eval.push_str(" ||| ");
        eval.push_str(&stat);
    }
    eval.push('\n');
    stdin.write_all(eval.as_bytes()).map_err(io_err)?;
    stdin.flush().map_err(io_err)?;
    let parse = |s: String| -> Result<f64> {
        s.parse::<f64>()
            .map_err(|_| Error::parse(jar, None, format!("METEOR answered `{s}`")))
    };
    let mut per_item = Vec::with_capacity(hyps.len());
    for _ in 0..hyps.len() {
        per_item.push(parse(read_line(&mut out)?)?);
    }
    let corpus = parse(read_line(&mut out)?)?;
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    Ok(MeteorScores {
        label: METEOR_OFFICIAL_LABEL.into(),
        corpus,
        per_item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_linked_exactly_when_the_feature_is_on() {
        let h = vec!["a cat sits".to_string()];
        let r = vec![vec!["a cat sits".to_string()]];
        let got = meteor(&h, &r).unwrap();
        assert_eq!(got.is_some(), available());
        if let Some(s) = got {
            assert_eq!(s.label, METEOR_LABEL);
            assert!(s.corpus > 0.9, "{}", s.corpus);
        }
        // Mismatched input is refused whether or not the port is built in.
        assert!(meteor(&h, &[]).is_err());
    }
}
