//! The shipped annotation set (assets/annotations): the counts promised in its README,
//! consistency with the paintings, and that it reads with the ArtEmis and APOLO loaders.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use artemo_engine::annotations::apolo::ApoloSet;
use artemo_engine::annotations::artemis::{read_artemis, Split};
use artemo_engine::annotations::dataset::AnnotationSet;
use artemo_engine::collection::Collection;
use artemo_engine::Emotion;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn load() -> (AnnotationSet, Collection) {
    let set = AnnotationSet::load(&assets().join("annotations")).unwrap();
    let coll = Collection::open(&assets().join("paintings/aic/paintings.csv")).unwrap();
    (set, coll)
}

#[test]
fn counts_hold() {
    let (set, _) = load();
    let s = set.stats(None);
    assert_eq!(s.paintings, 267, "every shipped painting is annotated");
    assert!(s.min_responses >= 4, "at least 4 responses per painting");
    assert!(
        s.stimulus_paintings >= 120,
        "stimulus regions for at least 120 paintings: {}",
        s.stimulus_paintings
    );
    for e in Emotion::ALL {
        assert!(s.per_emotion[e.name()] > 0, "no response for {e}");
    }
    let words: Vec<usize> = set
        .rows
        .iter()
        .map(|r| r.utterance.split_whitespace().count())
        .collect();
    assert!(
        words.iter().all(|&w| (8..=25).contains(&w)),
        "utterances have 8 to 25 words"
    );
    let mut seen = std::collections::BTreeSet::new();
    assert!(
        set.rows.iter().all(|r| seen.insert(r.utterance.as_str())),
        "no utterance is repeated"
    );
    // 70/10/20 by painting, within a painting per emotion stratum of rounding.
    let n = |sp| set.splits.values().filter(|&&x| x == sp).count() as f64 / 267.0;
    assert!(
        (n(Split::Train) - 0.7).abs() < 0.03
            && (n(Split::Val) - 0.1).abs() < 0.03
            && (n(Split::Test) - 0.2).abs() < 0.03
    );
}

#[test]
fn consistent_with_the_paintings_and_every_mask_has_a_response() {
    let (set, coll) = load();
    let problems = set.check(&coll);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn reads_with_the_artemis_and_apolo_loaders() {
    let (set, coll) = load();
    let rows = read_artemis(&assets().join("annotations/artemo-aic.csv")).unwrap();
    assert_eq!(rows.len(), set.rows.len());
    // Export a sample in the APOLO layout and read it back with the APOLO reader.
    let d = tempfile::tempdir().unwrap();
    let mut sample = set.clone();
    sample.stimuli.truncate(12);
    assert_eq!(
        sample.rasterize_all(&coll, d.path(), true, true).unwrap(),
        12
    );
    let apolo = ApoloSet::open(&d.path().join("apolo.json"), Some(d.path())).unwrap();
    let maps = apolo.load_all().unwrap();
    assert_eq!(maps.len(), 12);
    let mut by_painting: BTreeMap<&str, usize> = BTreeMap::new();
    for ((p, e), m) in &maps {
        let painting = coll.get(p).unwrap();
        assert_eq!(
            (m.width as u32, m.height as u32),
            (painting.width.unwrap(), painting.height.unwrap())
        );
        assert!(m.area() > 0, "{p} {e}: empty mask");
        *by_painting.entry(p.as_str()).or_default() += 1;
        let png = artemo_engine::annotations::mask::Mask::read_png(
            &apolo.map_path(p, *e).with_extension("png"),
        )
        .unwrap();
        assert_eq!(&png, m);
    }
    assert!(!by_painting.is_empty());
}
