//! The map's grid layout (issue 24): a 2-D map (t-SNE) snapped to a square grid so no two
//! thumbnails overlap, as PixPlot's grid view does.
//!
//! The map is scaled into a grid with about `cells_per_point` cells per point (so clusters
//! and the gaps between them keep their shape), then each point, in a seeded random
//! order, takes the free cell nearest its own position (ring search outwards). Written
//! here rather than taken from a crate: the one Rust port of RasterFairy found is
//! unmaintained, and this is forty lines with tests.

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// `points` snapped to distinct integer grid cells (returned as cell centres, one per
/// point, in grid units), about `cells_per_point` cells per point (at least 1).
pub fn grid_snap(points: &[[f32; 2]], cells_per_point: f32, seed: u64) -> Vec<[f32; 2]> {
    let n = points.len();
    if n == 0 {
        return Vec::new();
    }
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in points {
        for a in 0..2 {
            if p[a].is_finite() {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
    }
    let span = [(hi[0] - lo[0]).max(1e-6), (hi[1] - lo[1]).max(1e-6)];
    // Cells: cols x rows with the map's aspect and n * cells_per_point cells in all.
    let cells = (n as f32 * cells_per_point.max(1.0)).ceil();
    let aspect = (span[0] / span[1]).clamp(0.25, 4.0);
    let cols = ((cells * aspect).sqrt().ceil() as usize).max(1);
    let rows = (cells as usize).div_ceil(cols).max(1);
    let (cols, rows) = if cols * rows < n {
        (cols, n.div_ceil(cols))
    } else {
        (cols, rows)
    };
    let cell_of = |p: &[f32; 2]| -> (i64, i64) {
        let f = |v: f32, a: usize, m: usize| {
            let t = if v.is_finite() {
                (v - lo[a]) / span[a]
            } else {
                0.5
            };
            ((t * m as f32).floor() as i64).clamp(0, m as i64 - 1)
        };
        (f(p[0], 0, cols), f(p[1], 1, rows))
    };
    let mut taken = vec![false; cols * rows];
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut out = vec![[0.0f32; 2]; n];
    for i in order {
        let (cx, cy) = cell_of(&points[i]);
        // Rings of growing Chebyshev radius; within a ring the nearest free cell wins.
        let mut found = None;
        for r in 0i64.. {
            let mut best: Option<(i64, (i64, i64))> = None;
            for dy in -r..=r {
                for dx in -r..=r {
                    if dx.abs() != r && dy.abs() != r {
                        continue;
                    }
                    let (x, y) = (cx + dx, cy + dy);
                    if x < 0 || y < 0 || x >= cols as i64 || y >= rows as i64 {
                        continue;
                    }
                    if !taken[y as usize * cols + x as usize] {
                        let d = dx * dx + dy * dy;
                        if best.is_none_or(|b| d < b.0) {
                            best = Some((d, (x, y)));
                        }
                    }
                }
            }
            if let Some((_, c)) = best {
                found = Some(c);
                break;
            }
            if r > (cols.max(rows) as i64) {
                break;
            }
        }
        // There are at least n cells, so a free one always exists.
        let (x, y) = found.unwrap_or((cx, cy));
        taken[y as usize * cols + x as usize] = true;
        out[i] = [x as f32 + 0.5, y as f32 + 0.5];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn cells_are_distinct_and_near_their_points() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // Two blobs far apart plus a dense duplicate pile.
        let mut pts: Vec<[f32; 2]> = (0..300)
            .map(|i| {
                let c = if i % 2 == 0 { -10.0 } else { 10.0 };
                [c + rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)]
            })
            .collect();
        pts.extend(std::iter::repeat_n([0.0f32, 0.0], 50));
        let g = grid_snap(&pts, 2.0, 0);
        assert_eq!(g.len(), pts.len());
        let mut seen = std::collections::HashSet::new();
        for p in &g {
            assert_eq!(p[0].fract(), 0.5);
            assert!(seen.insert((p[0] as i64, p[1] as i64)), "cell {p:?} twice");
        }
        // The blobs stay apart: every left-blob point left of every right-blob point.
        let max_left = (0..300)
            .step_by(2)
            .map(|i| g[i][0])
            .fold(f32::MIN, f32::max);
        let min_right = (1..300)
            .step_by(2)
            .map(|i| g[i][0])
            .fold(f32::MAX, f32::min);
        assert!(max_left < min_right, "{max_left} {min_right}");
        // Deterministic by seed.
        assert_eq!(g, grid_snap(&pts, 2.0, 0));
    }

    #[test]
    fn tight_grids_and_edge_cases() {
        assert!(grid_snap(&[], 2.0, 0).is_empty());
        assert_eq!(grid_snap(&[[3.0, 4.0]], 1.0, 0), vec![[0.5, 0.5]]);
        // All points equal, one cell per point: still distinct cells.
        let g = grid_snap(&[[1.0, 1.0]; 17], 1.0, 5);
        let set: std::collections::HashSet<_> =
            g.iter().map(|p| (p[0] as i64, p[1] as i64)).collect();
        assert_eq!(set.len(), 17);
        // Non-finite coordinates do not panic.
        let g = grid_snap(&[[f32::NAN, 0.0], [1.0, 1.0], [0.0, f32::INFINITY]], 1.0, 0);
        assert_eq!(g.len(), 3);
    }
}
