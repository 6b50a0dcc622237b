//! The Map tab's tests: the projection switch, the queue message, clearing the selection.

use super::*;

#[test]
fn switching_the_projection_resets_the_view() {
    let mut m = Map::new();
    m.zoom = 4.0;
    m.centre = Some(Vec2::new(12.0, -3.0));
    m.set_method(Method::Pca);
    assert_eq!(m.method, Method::Pca);
    assert_eq!(m.zoom, 1.0);
    assert_eq!(m.centre, None);
    // The same projection again keeps the view.
    m.zoom = 2.0;
    m.set_method(Method::Pca);
    assert_eq!(m.zoom, 2.0);
}

#[test]
fn queued_says_what_it_waits_behind() {
    assert_eq!(queued_text(&[]), "queued");
    assert_eq!(
        queued_text(&["review: EmoSEM predictions".into()]),
        "queued behind: review: EmoSEM predictions"
    );
    let many: Vec<String> = (0..5).map(|i| format!("job {i}")).collect();
    assert_eq!(
        queued_text(&many),
        "queued behind: job 0, job 1, job 2 and 2 more"
    );
}

#[test]
fn clear_selection_empties_the_map_selection() {
    let mut m = Map::new();
    m.selection = vec![1, 4];
    m.clear_selection();
    assert!(m.selection.is_empty());
}
