//! The papers' text and segmentation metrics.

pub mod bleu;
pub mod cider;
pub mod meteor;
pub mod rouge;
pub mod tokenize;

use crate::error::{Error, Result};

/// Checks that there is one reference list per hypothesis and no empty list.
pub(crate) fn check_pairs(hyps: &[String], refs: &[Vec<String>]) -> Result<()> {
    if hyps.len() != refs.len() {
        return Err(Error::Invalid(format!(
            "{} hypotheses but {} reference lists",
            hyps.len(),
            refs.len()
        )));
    }
    if let Some(i) = refs.iter().position(|r| r.is_empty()) {
        return Err(Error::Invalid(format!("item {i} has no reference")));
    }
    Ok(())
}
