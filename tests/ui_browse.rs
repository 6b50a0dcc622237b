//! The Collection tab's browse bar on the shipped collection and its shipped responses:
//! the dominant-emotion filter keeps exactly the paintings whose responses have that
//! dominant emotion (computed here independently from the CSV), the ambiguity sort puts the
//! most split painting first, and a CSV of responses can replace the shipped ones.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;

use artemo_engine::annotations::artemis::{histograms, read_artemis};
use artemo_engine::annotations::Dominance;
use artemo_engine::Emotion;
use common::{shipped_app, wait_for};
use egui_kittest::kittest::Queryable;

#[test]
fn browse_bar_filters_by_dominant_emotion_and_sorts_by_ambiguity() {
    let assets = artemo_engine::find_assets().expect("assets/");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("MODELS.toml"), "").unwrap();
    // SAFETY of the environment: this test binary holds this one test.
    std::env::set_var("ARTEMO_MODELS", tmp.path());
    // The reference counts, from the shipped CSV.
    let rows = read_artemis(&assets.join("annotations/artemo-aic.csv")).unwrap();
    let mut dominant: BTreeMap<Emotion, usize> = BTreeMap::new();
    for h in histograms(&rows).values() {
        if let Some(e) = h.dominant(Dominance::AtLeastHalf) {
            *dominant.entry(e).or_default() += 1;
        }
    }
    let contentment = dominant[&Emotion::Contentment];
    assert!(contentment > 0);

    let mut h = shipped_app([1280.0, 760.0]);
    wait_for(&mut h, "the shipped responses", |h| {
        h.query_by_label_contains("responses · Artemo's own")
            .is_some()
    });
    h.get_by_label("267 of 267 shown");
    h.get_by_value("any emotion").click();
    h.run_steps(3);
    h.get_by_label(&format!("contentment ({contentment})"))
        .click();
    h.run_steps(3);
    h.get_by_label(&format!("{contentment} of 267 shown"));
    // Most ambiguous first.
    h.get_by_value("collection order").click();
    h.run_steps(3);
    h.get_by_label("most ambiguous").click();
    h.remove_cursor();
    wait_for(&mut h, "the thumbnails", |h| {
        h.state().as_ref().is_some_and(|a| a.settled())
    });
    common::snapshot(&mut h, "collection_browse_contentment");

    // A CSV of responses of the user's own replaces the shipped ones: one painting, split.
    let first = rows[0].painting.clone();
    let csv = tmp.path().join("mine.csv");
    std::fs::write(
        &csv,
        format!(
            "art_style,painting,emotion,utterance\n\
             x,{first},fear,dark\nx,{first},awe,vast\nx,{first},sadness,grey\nx,nobody,awe,none\n"
        ),
    )
    .unwrap();
    h.state_mut().as_mut().unwrap().load_responses_csv(csv);
    wait_for(&mut h, "the user's responses", |h| {
        h.query_by_label_contains("1 paintings; the rest").is_some()
            || h.query_by_label_contains("3 of 4 responses").is_some()
    });
    // The contentment filter now keeps nothing: the one painting with responses is split.
    h.get_by_label("0 of 267 shown");
    h.get_by_value("dominant: contentment").click();
    h.run_steps(3);
    h.get_by_label("split votes (1)").click();
    h.run_steps(3);
    h.get_by_label("1 of 267 shown");
}
