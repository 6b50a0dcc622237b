//! The paintings the grid shows, in its order (the top bar's text filter, a map selection,
//! the browse bar's filters and sort), computed once per change of what they depend on
//! rather than on every call: the grid, the browse bar, the status bar and the keys ask
//! several times a frame, and at 10,000 paintings one computation costs milliseconds.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use artemo_engine::collection::{Collection, Painting};

use super::browse::{Browse, ViewKey};

/// What the visible list depends on.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    /// Bumped by the app when the collection or its responses change.
    generation: u64,
    paintings: usize,
    filter: String,
    only: Option<Vec<usize>>,
    browse: ViewKey,
}

/// The last visible list with what it was computed from.
#[derive(Debug, Default)]
pub(crate) struct VisibleCache {
    last: RefCell<Option<(Key, Arc<[usize]>)>>,
    /// Computations so far (the tests check that an unchanged state does not recompute).
    computed: RefCell<u64>,
}

impl VisibleCache {
    /// The visible paintings of `coll` under these filters: the cached list when none of
    /// them changed since it was computed.
    pub(crate) fn get(
        &self,
        generation: u64,
        coll: &Collection,
        filter: &str,
        only: Option<&Vec<usize>>,
        browse: &Browse,
    ) -> Arc<[usize]> {
        let key = Key {
            generation,
            paintings: coll.paintings.len(),
            filter: filter.to_string(),
            only: only.cloned(),
            browse: browse.view_key(),
        };
        if let Some((k, list)) = &*self.last.borrow() {
            if *k == key {
                return list.clone();
            }
        }
        let list: Arc<[usize]> = compute(coll, filter, only, browse).into();
        *self.computed.borrow_mut() += 1;
        *self.last.borrow_mut() = Some((key, list.clone()));
        list
    }

    /// Forgets the cached list (a new collection).
    pub(crate) fn clear(&self) {
        *self.last.borrow_mut() = None;
    }

    /// How many times the list was computed.
    #[cfg(test)]
    pub(crate) fn computed(&self) -> u64 {
        *self.computed.borrow()
    }
}

/// The paintings of `coll` that pass the filters, in the browse bar's order.
pub(crate) fn compute(
    coll: &Collection,
    filter: &str,
    only: Option<&Vec<usize>>,
    browse: &Browse,
) -> Vec<usize> {
    let f = filter.trim().to_lowercase();
    // A set: a map selection of thousands would make `contains` quadratic.
    let only: Option<HashSet<usize>> = only.map(|o| o.iter().copied().collect());
    let mut v: Vec<usize> = coll
        .paintings
        .iter()
        .enumerate()
        .filter(|(i, _)| only.as_ref().is_none_or(|o| o.contains(i)))
        .filter(|(_, p)| f.is_empty() || matches_filter(p, &f))
        .filter(|(i, p)| browse.keep(*i, p))
        .map(|(i, _)| i)
        .collect();
    browse.sort(&mut v, coll);
    v
}

/// Whether the top bar's filter text `f` (lower case) occurs in the painting's id, title,
/// artist, date or style (underscores read as spaces).
fn matches_filter(p: &Painting, f: &str) -> bool {
    [
        Some(p.id.as_str()),
        p.title.as_deref(),
        p.artist.as_deref(),
        p.date.as_deref(),
        p.style.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|s| s.to_lowercase().replace('_', " ").contains(f))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;
    use crate::gui::browse::Sort;

    fn coll() -> Collection {
        let p = |id: &str, artist: &str| Painting {
            title: Some(id.to_uppercase()),
            artist: Some(artist.into()),
            ..Painting::new(id, PathBuf::from(format!("{id}.jpg")))
        };
        Collection {
            name: "t".into(),
            source: PathBuf::from("t.csv"),
            kind: artemo_engine::collection::CollectionKind::Manifest,
            paintings: vec![p("c", "Monet"), p("a", "Renoir"), p("b", "Monet")],
            problems: vec![],
        }
    }

    #[test]
    fn computed_once_until_a_filter_changes() {
        let c = coll();
        let mut b = Browse::new();
        b.refresh(1, &c, &HashMap::new());
        let cache = VisibleCache::default();
        let all = cache.get(1, &c, "", None, &b);
        assert_eq!(&*all, [0, 1, 2]);
        for _ in 0..5 {
            cache.get(1, &c, "", None, &b);
        }
        assert_eq!(cache.computed(), 1);
        // The text filter.
        assert_eq!(&*cache.get(1, &c, "monet", None, &b), [0, 2]);
        assert_eq!(cache.computed(), 2);
        // A map selection.
        assert_eq!(&*cache.get(1, &c, "", Some(&vec![2, 1]), &b), [1, 2]);
        assert_eq!(cache.computed(), 3);
        // The sort.
        b.set_sort(Sort::Title);
        assert_eq!(&*cache.get(1, &c, "", None, &b), [1, 2, 0]);
        assert_eq!(cache.computed(), 4);
        cache.get(1, &c, "", None, &b);
        assert_eq!(cache.computed(), 4);
        // A browse filter.
        b.set_artist(Some("Monet"));
        assert_eq!(&*cache.get(1, &c, "", None, &b), [2, 0]);
        assert_eq!(cache.computed(), 5);
        // New responses or a new collection (the generation).
        b.refresh(2, &c, &HashMap::new());
        cache.get(2, &c, "", None, &b);
        assert_eq!(cache.computed(), 6);
        cache.clear();
        cache.get(2, &c, "", None, &b);
        assert_eq!(cache.computed(), 7);
    }

    #[test]
    fn a_large_map_selection_keeps_its_members_only() {
        let mut c = coll();
        let template = c.paintings[0].clone();
        c.paintings = (0..5000)
            .map(|i| {
                let mut p = template.clone();
                p.id = format!("p{i}");
                p
            })
            .collect();
        let mut b = Browse::new();
        b.refresh(1, &c, &HashMap::new());
        let only: Vec<usize> = (0..5000).filter(|i| i % 3 == 0).rev().collect();
        let v = compute(&c, "", Some(&only), &b);
        assert_eq!(v.len(), only.len());
        assert!(v.windows(2).all(|w| w[0] < w[1]));
    }
}
