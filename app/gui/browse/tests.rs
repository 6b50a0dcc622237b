//! The browse bar's tests: museum dates, filters and sorts over a small collection, artist facets.

use super::*;

#[test]
fn years_are_read_from_museum_dates() {
    for (date, year) in [
        ("1885–86", Some(1885)),
        ("c. 1650", Some(1650)),
        ("19 May 1890", Some(1890)),
        ("about 800", Some(800)),
        ("19th century", None),
        ("", None),
    ] {
        assert_eq!(year_of(date), year, "{date}");
    }
}

fn painting(id: &str, artist: &str, date: &str) -> Painting {
    Painting {
        id: id.into(),
        path: PathBuf::from(format!("{id}.jpg")),
        style: Some("golden_age".into()),
        title: Some(id.to_uppercase()),
        artist: Some(artist.into()),
        date: Some(date.into()),
        medium: None,
        width: None,
        height: None,
        sha256: None,
        description: None,
    }
}

fn votes(id: &str, es: &[Emotion]) -> Vec<Annotation> {
    es.iter()
        .map(|&e| Annotation {
            art_style: "golden_age".into(),
            painting: id.into(),
            emotion: e,
            utterance: "x".into(),
            repetition: None,
        })
        .collect()
}

#[test]
fn filters_and_sorts_over_a_small_collection() {
    use Emotion::*;
    let coll = Collection {
        name: "t".into(),
        source: PathBuf::from("t.csv"),
        kind: artemo_engine::collection::CollectionKind::Manifest,
        paintings: vec![
            painting("a", "Monet", "1872"),
            painting("b", "Renoir", "c. 1881"),
            painting("c", "Monet", "1899–1900"),
            painting("d", "Anonymous", "undated"),
        ],
        problems: vec![],
    };
    let mut responses = HashMap::new();
    // a: unanimous awe; b: 2-2-1 split; c: 3 of 5 contentment; d: none.
    responses.insert("a".into(), votes("a", &[Awe; 5]));
    responses.insert("b".into(), votes("b", &[Awe, Awe, Fear, Fear, Sadness]));
    responses.insert(
        "c".into(),
        votes("c", &[Contentment, Contentment, Contentment, Awe, Fear]),
    );
    let mut b = Browse::new();
    b.refresh(1, &coll, &responses);
    let kept = |b: &Browse| -> Vec<&str> {
        coll.paintings
            .iter()
            .enumerate()
            .filter(|(i, p)| b.keep(*i, p))
            .map(|(_, p)| p.id.as_str())
            .collect()
    };
    assert_eq!(kept(&b), ["a", "b", "c", "d"]);
    assert_eq!(
        b.facets.artists[1],
        ("Monet".to_string(), "Monet".to_string(), 2)
    );
    assert_eq!(b.facets.years, Some((1872, 1899)));
    b.artist = Some(artist_key("Monet"));
    assert_eq!(kept(&b), ["a", "c"]);
    b.clear();
    b.years = Some((1880, 1900));
    assert_eq!(kept(&b), ["b", "c"]);
    b.clear();
    b.set(EmotionFilter::Dominant(Contentment), (0.0, 1.0));
    assert_eq!(kept(&b), ["c"]);
    b.set(EmotionFilter::Split, (0.0, 1.0));
    assert_eq!(kept(&b), ["b"]);
    b.set(EmotionFilter::NoResponses, (0.0, 1.0));
    assert_eq!(kept(&b), ["d"]);
    // Unanimous responses have zero ambiguity; the split is the most ambiguous.
    b.set(EmotionFilter::Any, (0.0, 0.0));
    assert_eq!(kept(&b), ["a"]);
    b.set(EmotionFilter::Any, (0.4, 1.0));
    assert_eq!(kept(&b), ["b", "c"]);
    b.clear();
    let mut order = vec![0, 1, 2, 3];
    assert_eq!(b.shown_ambiguity(1), None);
    b.sort = Sort::Ambiguity;
    b.sort(&mut order, &coll);
    assert_eq!(order, [1, 2, 0, 3]);
    // Sorted by ambiguity, each tile shows its value (none without responses).
    assert_eq!(b.shown_ambiguity(0), Some(0.0));
    assert!(b.shown_ambiguity(1).is_some_and(|a| a > 0.4));
    assert_eq!(b.shown_ambiguity(3), None);
    b.sort = Sort::Artist;
    b.sort(&mut order, &coll);
    assert_eq!(order, [3, 0, 2, 1]);
    b.sort = Sort::Year;
    b.sort(&mut order, &coll);
    assert_eq!(order, [0, 1, 2, 3]);
    // Entropy of 2-2-1 over nine labels: 1.52 bits / log2(9).
    let a = b.facets.info[1].ambiguity.unwrap();
    assert!((a - 1.5219 / 9f32.log2()).abs() < 1e-3, "{a}");
}

#[test]
fn artists_differing_only_by_dash_type_are_one_facet() {
    let coll = Collection {
        name: "t".into(),
        source: PathBuf::from("t.csv"),
        kind: artemo_engine::collection::CollectionKind::Manifest,
        paintings: vec![
            painting("a", "Jean-Antoine Watteau (French, 1684–1721)", "1716"),
            painting("b", "Jean-Antoine Watteau (French, 1684-1721)", "1717"),
            painting(
                "c",
                "Jean-Antoine Watteau  (French, 1684\u{2014}1721)",
                "1718",
            ),
            painting("d", "Jean Siméon Chardin (French, 1699–1779)", "1730"),
        ],
        problems: vec![],
    };
    let mut b = Browse::new();
    b.refresh(1, &coll, &HashMap::new());
    assert_eq!(b.facets.artists.len(), 2, "{:?}", b.facets.artists);
    let (key, shown, n) = &b.facets.artists[1];
    assert_eq!(*n, 3);
    assert_eq!(key, "Jean-Antoine Watteau (French, 1684-1721)");
    // One name shown, a spelling that occurs (here the first in order of the ties).
    assert!(coll.paintings[..3]
        .iter()
        .any(|p| p.artist.as_deref() == Some(shown.as_str())));
    b.artist = Some(key.clone());
    let kept: Vec<&str> = coll
        .paintings
        .iter()
        .enumerate()
        .filter(|(i, p)| b.keep(*i, p))
        .map(|(_, p)| p.id.as_str())
        .collect();
    assert_eq!(kept, ["a", "b", "c"]);
}

#[test]
fn style_filter_and_artist_sort_read_the_facet_indices() {
    let mut ps = vec![
        painting("a", "monet", "1890"),
        painting("b", "Monet", "1870"),
        painting("c", "Degas", "1880"),
        painting("d", "  ", "1800"),
    ];
    ps[2].style = Some(" dutch_golden ".into());
    let coll = Collection {
        name: "t".into(),
        source: PathBuf::from("t.csv"),
        kind: artemo_engine::collection::CollectionKind::Manifest,
        paintings: ps,
        problems: vec![],
    };
    let mut b = Browse::new();
    b.refresh(1, &coll, &HashMap::new());
    let kept = |b: &Browse| -> Vec<&str> {
        coll.paintings
            .iter()
            .enumerate()
            .filter(|(i, p)| b.keep(*i, p))
            .map(|(_, p)| p.id.as_str())
            .collect()
    };
    b.set_style(Some("dutch_golden"));
    assert_eq!(kept(&b), ["c"]);
    b.set_style(Some("golden age"));
    assert_eq!(kept(&b), ["a", "b", "d"]);
    b.set_style(None);
    // "monet" and "Monet" are two facets but one place in the sort (then by year); a
    // painting without an artist comes last.
    b.set_artist(Some("Monet"));
    assert_eq!(kept(&b), ["b"]);
    b.set_artist(None);
    let mut order = vec![0, 1, 2, 3];
    b.sort = Sort::Artist;
    b.sort(&mut order, &coll);
    assert_eq!(order, [2, 1, 0, 3]);
}
