//! The captioning data of a SEVLM session: examples by split with the image of every
//! painting they name, from the shipped annotations or an ArtEmis CSV.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::annotations::artemis::{artemis_split, histograms, read_artemis, Split};
use crate::annotations::dataset::AnnotationSet;
use crate::error::{Error, Result};
use crate::sevlm::data::Example;
use crate::train::{DataSource, SessionData};

/// Examples by split with the image of every painting they name.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// What it was read from (shown to users).
    pub source: String,
    /// Train, validation and test examples.
    pub splits: [Vec<Example>; 3],
    /// Image file per painting id.
    pub images: BTreeMap<String, PathBuf>,
    /// Responses left out because their painting has no image.
    pub without_image: usize,
}

impl Corpus {
    /// Artemo's own annotations on the shipped paintings, with their `SPLITS.csv`.
    pub fn shipped(assets: &Path) -> Result<Corpus> {
        let set = AnnotationSet::load(&assets.join("annotations"))?;
        let coll =
            crate::collection::Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
        let images: BTreeMap<String, PathBuf> =
            coll.paintings.into_iter().map(|p| (p.id, p.path)).collect();
        let [tr, va, te] = crate::sevlm::data::annotation_examples(&set);
        let mut c = Corpus {
            source: "Artemo's own annotations".to_string(),
            splits: [tr, va, te],
            images,
            without_image: 0,
        };
        c.drop_without_image();
        c.require(&set.dir.join("artemo-aic.csv"))?;
        Ok(c)
    }

    /// An ArtEmis CSV over the paintings of an open collection (`images`: painting id ->
    /// file), split 85/5/10 by artwork with ArtEmis' seed (at least one validation
    /// artwork). Malformed rows are errors naming the file and row.
    pub fn artemis(csv: &Path, images: BTreeMap<String, PathBuf>) -> Result<Corpus> {
        let rows = read_artemis(csv)?;
        if rows.is_empty() {
            return Err(Error::at(csv, "rows", "the file has no response"));
        }
        let usable: Vec<_> = rows
            .iter()
            .filter(|r| images.contains_key(&r.painting))
            .cloned()
            .collect();
        if usable.is_empty() {
            return Err(Error::at(
                csv,
                "column `painting`",
                format!(
                    "none of its paintings is in the open collection (first: `{}`); open the collection holding its images first",
                    rows[0].painting
                ),
            ));
        }
        let hist = histograms(&usable);
        let mut split = artemis_split(&hist);
        if !split.values().any(|s| *s == Split::Val) {
            if let Some((_, s)) = split.iter_mut().find(|(_, s)| **s == Split::Train) {
                *s = Split::Val;
            }
        }
        let mut splits: [Vec<Example>; 3] = Default::default();
        for r in &usable {
            let slot = match split.get(&r.key()) {
                Some(Split::Train) => 0,
                Some(Split::Val) => 1,
                Some(Split::Test) => 2,
                _ => continue,
            };
            splits[slot].push(Example {
                image: r.painting.clone(),
                emotion: r.emotion,
                explanation: r.utterance.clone(),
            });
        }
        let c = Corpus {
            source: format!("ArtEmis CSV {}", csv.display()),
            splits,
            images,
            without_image: rows.len() - usable.len(),
        };
        c.require(csv)?;
        Ok(c)
    }

    fn drop_without_image(&mut self) {
        let before: usize = self.splits.iter().map(Vec::len).sum();
        for s in &mut self.splits {
            s.retain(|e| self.images.contains_key(&e.image));
        }
        self.without_image = before - self.splits.iter().map(Vec::len).sum::<usize>();
    }

    fn require(&self, file: &Path) -> Result<()> {
        if self.splits[0].is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no training response with an image",
            ));
        }
        if self.splits[1].is_empty() {
            return Err(Error::at(
                file,
                "splits",
                "no validation response with an image",
            ));
        }
        Ok(())
    }
}

impl SessionData for Corpus {
    fn read(source: &DataSource, assets: &Path) -> Result<Corpus> {
        match source {
            DataSource::Shipped => Corpus::shipped(assets),
            DataSource::ArtemisCsv { csv, images } => Corpus::artemis(csv, images.clone()),
            other => Err(Error::Invalid(format!(
                "SEVLM trains on captions (the shipped annotations or an ArtEmis CSV), not on {}",
                other.kind()
            ))),
        }
    }

    /// Keeps the first `n` training paintings (by id).
    fn limit(&mut self, n: usize) {
        let firsts = |ex: &[Example], k: usize| -> BTreeSet<String> {
            ex.iter()
                .map(|e| e.image.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .take(k)
                .collect()
        };
        let keep_tr = firsts(&self.splits[0], n);
        let keep_va = firsts(&self.splits[1], n.div_ceil(5).max(2));
        self.splits[0].retain(|e| keep_tr.contains(&e.image));
        self.splits[1].retain(|e| keep_va.contains(&e.image));
    }
}
