//! 2-D maps of an embedding collection: PCA (power iteration with deflation on the
//! covariance matrix) and
//! Barnes-Hut t-SNE (van der Maaten 2014), both deterministic by seed.
//!
//! t-SNE follows the reference `bhtsne` / scikit-learn recipe: inputs wider than 50 are
//! first reduced to 50 dimensions by PCA; exact nearest neighbours (`3 * perplexity`,
//! brute force, parallel over rows) give sparse conditional probabilities matched to the
//! perplexity by bisection, symmetrised; the map starts from `N(0, 1e-4)` (seeded),
//! early exaggeration 12 for the first 250 iterations, momentum 0.5 then 0.8, gains
//! (delta-bar-delta), learning rate `max(n / 12 / 4, 50)` (scikit-learn's "auto"); the
//! repulsive forces use a quadtree with opening angle `theta` (0.5). Every parallel loop
//! writes per-point results that are summed in a fixed order, so the output depends only
//! on the input and the seed. 10,000 points take seconds in a release build.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// Which projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// First two principal components.
    Pca,
    /// Barnes-Hut t-SNE.
    Tsne,
    /// The t-SNE map snapped to a grid, no two points in one cell
    /// ([`super::grid_layout`]).
    Grid,
}

/// t-SNE settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TsneConfig {
    /// Perplexity (clamped to `(n - 1) / 3`).
    pub perplexity: f32,
    /// Gradient steps.
    pub iterations: usize,
    /// Barnes-Hut opening angle (0: exact repulsion, slow).
    pub theta: f32,
    /// Seed of the initial map.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        TsneConfig {
            perplexity: 30.0,
            iterations: 1000,
            theta: 0.5,
            seed: 0,
        }
    }
}

/// A 2-D map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// How it was made.
    pub method: Method,
    /// One point per input row.
    pub points: Vec<[f32; 2]>,
}

fn check(data: &[Vec<f32>]) -> Result<usize> {
    let d = data.first().map(Vec::len).unwrap_or(0);
    if let Some(i) = data.iter().position(|r| r.len() != d) {
        return Err(Error::Invalid(format!(
            "projection: row {i} has {} values, row 0 has {d}",
            data[i].len()
        )));
    }
    Ok(d)
}

/// The top `k` principal directions of `data` (rows), by power iteration on the centred
/// data with deflation, seeded; each direction's largest component is made positive.
/// Returns (mean, components).
pub fn principal_components(
    data: &[Vec<f32>],
    k: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let d = check(data)?;
    let n = data.len();
    if n == 0 || d == 0 {
        return Err(Error::Invalid("PCA: no data".into()));
    }
    let mut mean = vec![0f64; d];
    for r in data {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64 / n as f64;
        }
    }
    // Covariance (up to 1/n) C = X^T X of the centred data, from its columns.
    let cols: Vec<Vec<f64>> = (0..d)
        .map(|j| data.iter().map(|r| r[j] as f64 - mean[j]).collect())
        .collect();
    let cov: Vec<Vec<f64>> = (0..d)
        .into_par_iter()
        .map(|i| {
            (0..d)
                .map(|j| cols[i].iter().zip(&cols[j]).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut comps: Vec<Vec<f64>> = Vec::new();
    for _ in 0..k.min(d) {
        let mut v: Vec<f64> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
        for _ in 0..300 {
            // w = C v, minus the found components, normalised.
            let mut w: Vec<f64> = cov
                .iter()
                .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
                .collect();
            for c in &comps {
                let dot: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
                for (wj, cj) in w.iter_mut().zip(c) {
                    *wj -= dot * cj;
                }
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-30 {
                break;
            }
            let w: Vec<f64> = w.iter().map(|x| x / norm).collect();
            let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            if delta < 1e-10 {
                break;
            }
        }
        let big = v
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(1.0);
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        comps.push(v);
    }
    Ok((mean, comps))
}

/// Projects `data` on its first `k` principal components.
pub fn pca(data: &[Vec<f32>], k: usize, seed: u64) -> Result<Vec<Vec<f32>>> {
    let (mean, comps) = principal_components(data, k, seed)?;
    Ok(data
        .iter()
        .map(|r| {
            comps
                .iter()
                .map(|c| {
                    r.iter()
                        .zip(&mean)
                        .zip(c)
                        .map(|((v, m), cj)| (*v as f64 - m) * cj)
                        .sum::<f64>() as f32
                })
                .collect()
        })
        .collect())
}

/// A 2-D PCA map.
pub fn pca_2d(data: &[Vec<f32>], seed: u64) -> Result<Projection> {
    let p = pca(data, 2, seed)?;
    Ok(Projection {
        method: Method::Pca,
        points: p
            .into_iter()
            .map(|r| {
                [
                    r.first().copied().unwrap_or(0.0),
                    r.get(1).copied().unwrap_or(0.0),
                ]
            })
            .collect(),
    })
}

/// Sparse symmetric affinities P (CSR) from exact nearest neighbours.
fn affinities(x: &[Vec<f32>], perplexity: f64) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
    let n = x.len();
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
    let rows: Vec<Vec<(usize, f64)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut d: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let s: f64 = x[i]
                        .iter()
                        .zip(&x[j])
                        .map(|(a, b)| {
                            let t = (*a - *b) as f64;
                            t * t
                        })
                        .sum();
                    (s, j)
                })
                .collect();
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            d.truncate(k);
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // Bisection on beta so that the entropy matches log(perplexity).
            let target = perplexity.ln();
            let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
            let dmin = d[0].0;
            let mut p = vec![0f64; k];
            for _ in 0..200 {
                let mut sum = 0.0;
                for (pj, (dj, _)) in p.iter_mut().zip(&d) {
                    *pj = (-(dj - dmin) * beta).exp();
                    sum += *pj;
                }
                let mut h = 0.0;
                for (pj, (dj, _)) in p.iter_mut().zip(&d) {
                    *pj /= sum;
                    h += *pj * (dj - dmin) * beta;
                }
                let h = h + sum.ln();
                if (h - target).abs() < 1e-5 {
                    break;
                }
                if h > target {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            d.iter().zip(p).map(|((_, j), pj)| (*j, pj)).collect()
        })
        .collect();
    // Symmetrise: P_ij = (p_j|i + p_i|j) / 2n.
    let mut triples: Vec<(usize, usize, f64)> = Vec::with_capacity(2 * n * k);
    for (i, row) in rows.iter().enumerate() {
        for &(j, p) in row {
            triples.push((i, j, p));
            triples.push((j, i, p));
        }
    }
    triples.sort_by_key(|a| (a.0, a.1));
    let mut start = vec![0usize; n + 1];
    let mut cols = Vec::with_capacity(triples.len());
    let mut vals: Vec<f64> = Vec::with_capacity(triples.len());
    let mut last: Option<(usize, usize)> = None;
    for (i, j, p) in triples {
        if last == Some((i, j)) {
            if let Some(v) = vals.last_mut() {
                *v += p;
            }
        } else {
            cols.push(j);
            vals.push(p);
            start[i + 1] += 1;
            last = Some((i, j));
        }
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let total: f64 = vals.iter().sum();
    vals.iter_mut().for_each(|v| *v /= total);
    (start, cols, vals)
}

#[derive(Debug, Clone)]
struct Node {
    cx: f64,
    cy: f64,
    half: f64,
    mass: f64,
    comx: f64,
    comy: f64,
    children: Option<[usize; 4]>,
    points: Vec<usize>,
}

struct QuadTree {
    nodes: Vec<Node>,
}

impl QuadTree {
    fn build(y: &[[f64; 2]]) -> QuadTree {
        let (mut minx, mut maxx, mut miny, mut maxy) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in y {
            minx = minx.min(p[0]);
            maxx = maxx.max(p[0]);
            miny = miny.min(p[1]);
            maxy = maxy.max(p[1]);
        }
        let half = ((maxx - minx).max(maxy - miny) / 2.0).max(1e-5) * (1.0 + 1e-5);
        let mut t = QuadTree {
            nodes: vec![Node {
                cx: (minx + maxx) / 2.0,
                cy: (miny + maxy) / 2.0,
                half,
                mass: 0.0,
                comx: 0.0,
                comy: 0.0,
                children: None,
                points: Vec::new(),
            }],
        };
        for (i, p) in y.iter().enumerate() {
            t.insert(0, i, *p, y, 0);
        }
        t
    }

    fn quadrant(n: &Node, p: [f64; 2]) -> usize {
        (p[0] >= n.cx) as usize + 2 * (p[1] >= n.cy) as usize
    }

    fn insert(&mut self, mut idx: usize, i: usize, p: [f64; 2], y: &[[f64; 2]], mut depth: usize) {
        loop {
            {
                let n = &mut self.nodes[idx];
                n.comx = (n.comx * n.mass + p[0]) / (n.mass + 1.0);
                n.comy = (n.comy * n.mass + p[1]) / (n.mass + 1.0);
                n.mass += 1.0;
            }
            match self.nodes[idx].children {
                Some(ch) => {
                    idx = ch[Self::quadrant(&self.nodes[idx], p)];
                    depth += 1;
                }
                None => {
                    if self.nodes[idx].points.is_empty() || depth >= 40 {
                        self.nodes[idx].points.push(i);
                        return;
                    }
                    // Split: push the resident points down, then continue with p.
                    let (cx, cy, h) =
                        (self.nodes[idx].cx, self.nodes[idx].cy, self.nodes[idx].half);
                    let base = self.nodes.len();
                    for q in 0..4 {
                        let dx = if q & 1 == 1 { h / 2.0 } else { -h / 2.0 };
                        let dy = if q & 2 == 2 { h / 2.0 } else { -h / 2.0 };
                        self.nodes.push(Node {
                            cx: cx + dx,
                            cy: cy + dy,
                            half: h / 2.0,
                            mass: 0.0,
                            comx: 0.0,
                            comy: 0.0,
                            children: None,
                            points: Vec::new(),
                        });
                    }
                    let resident = std::mem::take(&mut self.nodes[idx].points);
                    self.nodes[idx].children = Some([base, base + 1, base + 2, base + 3]);
                    for r in resident {
                        let q = Self::quadrant(&self.nodes[idx], y[r]);
                        self.insert(base + q, r, y[r], y, depth + 1);
                    }
                    idx = base + Self::quadrant(&self.nodes[idx], p);
                    depth += 1;
                }
            }
        }
    }

    /// Unnormalised repulsion on point `i`: (sum q^2 (y_i - y_j), sum q).
    fn repulsion(&self, i: usize, y: &[[f64; 2]], theta2: f64) -> ([f64; 2], f64) {
        let p = y[i];
        let mut f = [0f64; 2];
        let mut z = 0f64;
        let mut stack = vec![0usize];
        while let Some(idx) = stack.pop() {
            let n = &self.nodes[idx];
            if n.mass == 0.0 {
                continue;
            }
            match n.children {
                None => {
                    for &j in &n.points {
                        if j == i {
                            continue;
                        }
                        let (dx, dy) = (p[0] - y[j][0], p[1] - y[j][1]);
                        let q = 1.0 / (1.0 + dx * dx + dy * dy);
                        z += q;
                        f[0] += q * q * dx;
                        f[1] += q * q * dy;
                    }
                }
                Some(ch) => {
                    let (dx, dy) = (p[0] - n.comx, p[1] - n.comy);
                    let d2 = dx * dx + dy * dy;
                    let w = 2.0 * n.half;
                    if w * w < theta2 * d2 {
                        let q = 1.0 / (1.0 + d2);
                        z += n.mass * q;
                        f[0] += n.mass * q * q * dx;
                        f[1] += n.mass * q * q * dy;
                    } else {
                        stack.extend(ch.iter().rev());
                    }
                }
            }
        }
        (f, z)
    }
}

/// Barnes-Hut t-SNE of `data` to 2-D; `progress` gets the done share ("t-SNE") and may
/// cancel (then the error is [`Error::Cancelled`]).
pub fn tsne(data: &[Vec<f32>], cfg: &TsneConfig, progress: &dyn Progress) -> Result<Projection> {
    let d = check(data)?;
    let n = data.len();
    if n < 4 {
        return pca_2d(data, cfg.seed).map(|p| Projection {
            method: Method::Tsne,
            points: p.points,
        });
    }
    let reduced;
    let x: &[Vec<f32>] = if d > 50 {
        reduced = pca(data, 50, cfg.seed)?;
        &reduced
    } else {
        data
    };
    let perplexity = (cfg.perplexity as f64).min((n - 1) as f64 / 3.0).max(1.0);
    let (start, cols, vals) = affinities(x, perplexity);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut y: Vec<[f64; 2]> = (0..n)
        .map(|_| {
            // Box-Muller, N(0, 1e-4).
            let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = rng.gen();
            let r = (-2.0 * u1.ln()).sqrt() * 1e-4;
            let a = std::f64::consts::TAU * u2;
            [r * a.cos(), r * a.sin()]
        })
        .collect();
    let mut vel = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    let exaggeration_iters = 250.min(cfg.iterations / 4).max(1);
    let lr = (n as f64 / 12.0 / 4.0).max(50.0);
    let theta2 = (cfg.theta as f64).powi(2);
    for it in 0..cfg.iterations {
        let exag = if it < exaggeration_iters { 12.0 } else { 1.0 };
        let momentum = if it < exaggeration_iters { 0.5 } else { 0.8 };
        let tree = QuadTree::build(&y);
        let rep: Vec<([f64; 2], f64)> = (0..n)
            .into_par_iter()
            .map(|i| tree.repulsion(i, &y, theta2))
            .collect();
        let z: f64 = rep.iter().map(|r| r.1).sum::<f64>().max(1e-12);
        let attr: Vec<[f64; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut f = [0f64; 2];
                for k in start[i]..start[i + 1] {
                    let j = cols[k];
                    let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
                    let q = 1.0 / (1.0 + dx * dx + dy * dy);
                    f[0] += vals[k] * q * dx;
                    f[1] += vals[k] * q * dy;
                }
                f
            })
            .collect();
        for i in 0..n {
            for c in 0..2 {
                let g = 4.0 * (exag * attr[i][c] - rep[i].0[c] / z);
                gains[i][c] = if (g > 0.0) != (vel[i][c] > 0.0) {
                    gains[i][c] + 0.2
                } else {
                    (gains[i][c] * 0.8).max(0.01)
                };
                vel[i][c] = momentum * vel[i][c] - lr * gains[i][c] * g;
                y[i][c] += vel[i][c];
            }
        }
        // Keep the map centred.
        let (mx, my) = y.iter().fold((0.0, 0.0), |a, p| {
            (a.0 + p[0] / n as f64, a.1 + p[1] / n as f64)
        });
        for p in &mut y {
            p[0] -= mx;
            p[1] -= my;
        }
        if it % 25 == 0 {
            progress.report(it as f32 / cfg.iterations as f32, "t-SNE");
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
        }
    }
    Ok(Projection {
        method: Method::Tsne,
        points: y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{FnProgress, Silent};
    use std::sync::atomic::AtomicBool;

    fn blobs(n: usize, d: usize, sep: f32, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..2 * n)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        let c = if i < n { 0.0 } else { sep * (j % 2) as f32 };
                        c + rng.gen_range(-1.0f32..1.0)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn pca_finds_the_main_axis() {
        // Points along (1, 1, 0) with small noise: PC1 ~ (1, 1, 0) / sqrt 2.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let data: Vec<Vec<f32>> = (0..200)
            .map(|_| {
                let t: f32 = rng.gen_range(-5.0..5.0);
                vec![
                    t + rng.gen_range(-0.1..0.1),
                    t + rng.gen_range(-0.1..0.1),
                    rng.gen_range(-0.1..0.1),
                ]
            })
            .collect();
        let (_, comps) = principal_components(&data, 2, 0).unwrap();
        let c = &comps[0];
        assert!(
            (c[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01
                && (c[1] - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "{c:?}"
        );
        let dot: f64 = comps[0].iter().zip(&comps[1]).map(|(a, b)| a * b).sum();
        assert!(dot.abs() < 1e-6);
        let p = pca_2d(&data, 0).unwrap();
        assert_eq!(p.points.len(), 200);
        assert_eq!(p, pca_2d(&data, 0).unwrap());
    }

    #[test]
    fn tsne_keeps_two_clusters_apart_and_is_deterministic() {
        let data = blobs(40, 10, 12.0, 5);
        let cfg = TsneConfig {
            perplexity: 10.0,
            iterations: 250,
            theta: 0.5,
            seed: 3,
        };
        let p = tsne(&data, &cfg, &Silent).unwrap();
        let pts = &p.points;
        let centroid = |r: std::ops::Range<usize>| {
            let n = r.len() as f32;
            r.fold([0f32; 2], |a, i| {
                [a[0] + pts[i][0] / n, a[1] + pts[i][1] / n]
            })
        };
        let (a, b) = (centroid(0..40), centroid(40..80));
        let gap = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let spread = |r: std::ops::Range<usize>, c: [f32; 2]| {
            r.map(|i| ((pts[i][0] - c[0]).powi(2) + (pts[i][1] - c[1]).powi(2)).sqrt())
                .fold(0f32, f32::max)
        };
        assert!(
            gap > 2.0 * spread(0..40, a).max(spread(40..80, b)),
            "gap {gap}, spreads {} {}",
            spread(0..40, a),
            spread(40..80, b)
        );
        // Every point's nearest map neighbour is in its own cluster.
        for i in 0..80 {
            let nn = (0..80)
                .filter(|&j| j != i)
                .min_by(|&x, &y| {
                    let dx = (pts[i][0] - pts[x][0]).powi(2) + (pts[i][1] - pts[x][1]).powi(2);
                    let dy = (pts[i][0] - pts[y][0]).powi(2) + (pts[i][1] - pts[y][1]).powi(2);
                    dx.total_cmp(&dy)
                })
                .unwrap();
            assert_eq!(i < 40, nn < 40);
        }
        assert_eq!(p, tsne(&data, &cfg, &Silent).unwrap());
        assert!(matches!(
            tsne(
                &data,
                &cfg,
                &FnProgress::with_cancel(|_, _| {}, &AtomicBool::new(true))
            ),
            Err(Error::Cancelled)
        ));
    }
}
