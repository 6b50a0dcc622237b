//! A table with resizable columns that sorts by the column whose header is clicked
//! (click again: the other direction), on `egui_extras`'s `TableBuilder`. The sort
//! order is kept in egui's memory under the table's id.

use std::cmp::Ordering;
use std::hash::Hash;

use egui::RichText;
use egui_extras::{Column, TableBuilder};

/// A cell's sort key; empty cells sort last in either direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A number.
    Num(f64),
    /// Text (compared case-insensitively).
    Text(String),
    /// Nothing to sort by.
    Empty,
}

impl Key {
    /// Text, compared without case.
    pub fn text(s: impl AsRef<str>) -> Key {
        Key::Text(s.as_ref().to_lowercase())
    }

    /// A number, or `Empty` when absent or NaN.
    pub fn num(v: Option<f64>) -> Key {
        v.filter(|v| !v.is_nan()).map_or(Key::Empty, Key::Num)
    }
}

/// A column: its header, its initial width (`None`: the rest of the width) and whether
/// a header click sorts by it.
#[derive(Debug, Clone, Copy)]
pub struct Col<'a> {
    /// The header.
    pub name: &'a str,
    /// Initial width in points; `None` takes the remaining width.
    pub width: Option<f32>,
    /// A header click sorts by this column.
    pub sortable: bool,
}

impl<'a> Col<'a> {
    /// A sortable column of initial width `width`.
    pub fn new(name: &'a str, width: f32) -> Self {
        Col {
            name,
            width: Some(width),
            sortable: true,
        }
    }

    /// A sortable column taking the remaining width.
    pub fn rest(name: &'a str) -> Self {
        Col {
            name,
            width: None,
            sortable: true,
        }
    }

    /// The same column, not sortable.
    pub fn fixed(mut self) -> Self {
        self.sortable = false;
        self
    }
}

/// The sort: by which column, which direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SortBy {
    /// The column (`None`: the rows' own order).
    pub col: Option<usize>,
    /// Largest first.
    pub descending: bool,
}

impl SortBy {
    /// The sort after a click on column `c`'s header.
    pub fn clicked(self, c: usize) -> SortBy {
        if self.col == Some(c) {
            SortBy {
                col: Some(c),
                descending: !self.descending,
            }
        } else {
            SortBy {
                col: Some(c),
                descending: false,
            }
        }
    }
}

fn compare(a: &Key, b: &Key, descending: bool) -> Ordering {
    let dir = |o: Ordering| if descending { o.reverse() } else { o };
    match (a, b) {
        (Key::Empty, Key::Empty) => Ordering::Equal,
        (Key::Empty, _) => Ordering::Greater,
        (_, Key::Empty) => Ordering::Less,
        (Key::Num(x), Key::Num(y)) => dir(x.total_cmp(y)),
        (Key::Text(x), Key::Text(y)) => dir(x.cmp(y)),
        // Numbers before text.
        (Key::Num(_), Key::Text(_)) => dir(Ordering::Less),
        (Key::Text(_), Key::Num(_)) => dir(Ordering::Greater),
    }
}

/// The rows' display order under `sort` (stable: equal keys keep their order).
pub fn order(rows: usize, sort: SortBy, key: impl Fn(usize, usize) -> Key) -> Vec<usize> {
    let mut v: Vec<usize> = (0..rows).collect();
    if let Some(c) = sort.col {
        let keys: Vec<Key> = (0..rows).map(|r| key(r, c)).collect();
        v.sort_by(|&a, &b| compare(&keys[a], &keys[b], sort.descending));
    }
    v
}

/// A small triangle after the sorted column's header: up for ascending, down for
/// descending (drawn: the default fonts lack arrow glyphs).
fn sort_arrow(ui: &mut egui::Ui, descending: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    let c = rect.center();
    let (tip, base) = if descending { (4.0, -4.0) } else { (-4.0, 4.0) };
    let points = vec![
        egui::pos2(c.x, c.y + tip),
        egui::pos2(c.x - 4.0, c.y + base),
        egui::pos2(c.x + 4.0, c.y + base),
    ];
    let color = ui.visuals().weak_text_color();
    ui.painter().add(egui::Shape::convex_polygon(
        points,
        color,
        egui::Stroke::NONE,
    ));
}

/// Draws a table of `rows` rows `row_height` high: `key(row, col)` sorts, `cell(ui, row,
/// col)` draws a cell. It does not scroll by itself (place it in a scroll area).
pub fn sortable_table(
    ui: &mut egui::Ui,
    id: impl Hash + std::fmt::Debug,
    cols: &[Col<'_>],
    rows: usize,
    row_height: f32,
    key: impl Fn(usize, usize) -> Key,
    mut cell: impl FnMut(&mut egui::Ui, usize, usize),
) {
    let id = ui.make_persistent_id(id);
    let mut sort: SortBy = ui.data(|d| d.get_temp(id)).unwrap_or_default();
    let shown = order(rows, sort, key);
    ui.push_id(id, |ui| {
        let mut t = TableBuilder::new(ui)
            .id_salt(id)
            .striped(true)
            .resizable(true)
            .vscroll(false)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center));
        for c in cols {
            t = t.column(match c.width {
                Some(w) => Column::initial(w).at_least(24.0).clip(true),
                None => Column::remainder().at_least(60.0).clip(true),
            });
        }
        t.header(22.0, |mut header| {
            for (k, c) in cols.iter().enumerate() {
                header.col(|ui| {
                    if !c.sortable {
                        ui.label(RichText::new(c.name).weak());
                        return;
                    }
                    let r = ui
                        .add(egui::Button::new(RichText::new(c.name).weak()).frame(false))
                        .on_hover_text("Sort by this column (click again: reverse)");
                    if sort.col == Some(k) {
                        sort_arrow(ui, sort.descending);
                    }
                    if r.clicked() {
                        sort = sort.clicked(k);
                    }
                });
            }
        })
        .body(|mut body| {
            for &r in &shown {
                body.row(row_height, |mut row| {
                    for k in 0..cols.len() {
                        row.col(|ui| cell(ui, r, k));
                    }
                });
            }
        });
    });
    ui.data_mut(|d| d.insert_temp(id, sort));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_clicks_sort_up_then_down_with_empty_cells_last() {
        let vals = [Some(0.3), None, Some(0.9), Some(0.1)];
        let names = ["b", "d", "a", "c"];
        let key = |r: usize, c: usize| match c {
            0 => Key::num(vals[r]),
            _ => Key::text(names[r]),
        };
        let s = SortBy::default();
        assert_eq!(order(4, s, key), [0, 1, 2, 3]);
        let s = s.clicked(0);
        assert_eq!(order(4, s, key), [3, 0, 2, 1]);
        let s = s.clicked(0);
        assert_eq!(order(4, s, key), [2, 0, 3, 1]);
        let s = s.clicked(1);
        assert!(!s.descending);
        assert_eq!(order(4, s, key), [2, 0, 3, 1]);
    }

    #[test]
    fn a_header_click_in_the_ui_sorts_the_rows() {
        use egui_kittest::kittest::Queryable;
        let rows = [("beta", 2.0), ("alpha", 3.0), ("gamma", 1.0)];
        let mut h = egui_kittest::Harness::builder()
            .with_size([400.0, 200.0])
            .build_ui(move |ui| {
                sortable_table(
                    ui,
                    "t",
                    &[Col::new("name", 120.0), Col::rest("value")],
                    rows.len(),
                    20.0,
                    |r, c| match c {
                        0 => Key::text(rows[r].0),
                        _ => Key::Num(rows[r].1),
                    },
                    |ui, r, c| {
                        match c {
                            0 => ui.label(rows[r].0),
                            _ => ui.label(format!("{:.1}", rows[r].1)),
                        };
                    },
                );
            });
        h.run();
        let ys = |h: &egui_kittest::Harness<'_>| -> Vec<f32> {
            ["alpha", "beta", "gamma"]
                .iter()
                .map(|n| h.get_by_label(n).rect().min.y)
                .collect()
        };
        let before = ys(&h);
        assert!(before[1] < before[0] && before[0] < before[2], "{before:?}");
        h.get_by_label("value").click();
        h.run();
        let after = ys(&h);
        // By value, smallest first: gamma (1), beta (2), alpha (3).
        assert!(after[2] < after[1] && after[1] < after[0], "{after:?}");
        h.get_by_label("value").click();
        h.run();
        let down = ys(&h);
        assert!(down[0] < down[1] && down[1] < down[2], "{down:?}");
    }
}
