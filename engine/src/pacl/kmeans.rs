//! Exact k-means with k-means++ seeding (Arthur & Vassilvitskii 2007), deterministic by
//! seed: PACL's stage 2 (pseudo-labels, K = 2).
//!
//! Written here instead of using `linfa-clustering`: that crate brings `linfa`,
//! `ndarray-rand`, `linfa-nn` and their own `rand`/`ndarray` versions into a dependency
//! tree that already takes long to build on two cores, for a problem of at most tens of
//! thousands of points that Lloyd's algorithm solves exactly in a few dozen lines. The
//! seeding is the standard one (first centre uniform, the next ones with probability
//! proportional to the squared distance to the nearest chosen centre), as scikit-learn's
//! `KMeans(init="k-means++")` without its greedy local trials; the best of `restarts`
//! runs by inertia is kept.

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};

/// A clustering.
#[derive(Debug, Clone, Serialize)]
pub struct KMeans {
    /// Cluster centres.
    pub centroids: Vec<Vec<f32>>,
    /// Cluster of every point.
    pub labels: Vec<usize>,
    /// Sum of squared distances to the assigned centres.
    pub inertia: f64,
    /// Lloyd iterations of the kept run.
    pub iterations: usize,
}

fn dist2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (x - y) as f64;
            d * d
        })
        .sum()
}

fn nearest(p: &[f32], centroids: &[Vec<f32>]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centroids.iter().enumerate() {
        let d = dist2(p, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

fn plus_plus(points: &[Vec<f32>], k: usize, rng: &mut impl Rng) -> Vec<Vec<f32>> {
    let mut centroids = vec![points[rng.gen_range(0..points.len())].clone()];
    let mut d2: Vec<f64> = points.iter().map(|p| dist2(p, &centroids[0])).collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        let next = if total <= 0.0 {
            rng.gen_range(0..points.len())
        } else {
            let mut r = rng.gen::<f64>() * total;
            let mut idx = points.len() - 1;
            for (i, d) in d2.iter().enumerate() {
                if r < *d {
                    idx = i;
                    break;
                }
                r -= d;
            }
            idx
        };
        centroids.push(points[next].clone());
        let c = &centroids[centroids.len() - 1];
        for (p, d) in points.iter().zip(d2.iter_mut()) {
            *d = d.min(dist2(p, c));
        }
    }
    centroids
}

fn lloyd(points: &[Vec<f32>], mut centroids: Vec<Vec<f32>>, max_iter: usize) -> KMeans {
    let dim = points[0].len();
    let k = centroids.len();
    let mut labels = vec![usize::MAX; points.len()];
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        let mut changed = false;
        for (p, l) in points.iter().zip(labels.iter_mut()) {
            let (j, _) = nearest(p, &centroids);
            if *l != j {
                *l = j;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0f64; dim]; k];
        let mut counts = vec![0usize; k];
        for (p, &l) in points.iter().zip(&labels) {
            counts[l] += 1;
            for (s, v) in sums[l].iter_mut().zip(p) {
                *s += *v as f64;
            }
        }
        for j in 0..k {
            if counts[j] > 0 {
                centroids[j] = sums[j]
                    .iter()
                    .map(|s| (s / counts[j] as f64) as f32)
                    .collect();
            }
        }
    }
    let inertia = points
        .iter()
        .zip(&labels)
        .map(|(p, &l)| dist2(p, &centroids[l]))
        .sum();
    KMeans {
        centroids,
        labels,
        inertia,
        iterations,
    }
}

/// Clusters `points` (all of one length) into `k` groups: k-means++ seeding from `seed`,
/// Lloyd iterations until no label changes (at most `max_iter`), best of `restarts` runs.
pub fn kmeans(
    points: &[Vec<f32>],
    k: usize,
    seed: u64,
    restarts: usize,
    max_iter: usize,
) -> Result<KMeans> {
    if k == 0 || points.len() < k {
        return Err(Error::Invalid(format!(
            "k-means: {} points cannot form {k} clusters",
            points.len()
        )));
    }
    let dim = points[0].len();
    if let Some(i) = points.iter().position(|p| p.len() != dim) {
        return Err(Error::Invalid(format!(
            "k-means: point {i} has {} values, point 0 has {dim}",
            points[i].len()
        )));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<KMeans> = None;
    for _ in 0..restarts.max(1) {
        let init = plus_plus(points, k, &mut rng);
        let run = lloyd(points, init, max_iter.max(1));
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    best.ok_or_else(|| Error::Invalid("k-means: no run".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_separable_blobs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let centres = [[0f32, 0.0, 0.0], [10.0, 10.0, 0.0], [-10.0, 5.0, 8.0]];
        let mut pts = Vec::new();
        let mut truth = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..40 {
                pts.push(
                    centre
                        .iter()
                        .map(|v| v + rng.gen_range(-1.0..1.0))
                        .collect(),
                );
                truth.push(c);
            }
        }
        let km = kmeans(&pts, 3, 1, 3, 100).unwrap();
        // Same partition up to label permutation: points share a label iff same blob.
        for i in 0..pts.len() {
            for j in 0..pts.len() {
                assert_eq!(truth[i] == truth[j], km.labels[i] == km.labels[j]);
            }
        }
        assert!(km.inertia < 120.0 * 3.0, "{}", km.inertia);
        let again = kmeans(&pts, 3, 1, 3, 100).unwrap();
        assert_eq!(km.labels, again.labels);
        assert!(kmeans(&pts[..2], 3, 1, 1, 10).is_err());
    }
}
