//! The Map's hotspots (issue 24, as PixPlot's): per k-means cluster or per emotion, the
//! representative painting (nearest the group's mean embedding, engine
//! `pacl::hotspots`) drawn larger with a label; clicking the label or its entry in the
//! side list flies the view to the group.

use artemo_engine::pacl::hotspots::representatives;

use super::styles::Styles;
use super::*;

/// Which hotspots the map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HotspotMode {
    /// One per k-means cluster.
    Clusters,
    /// One per emotion of the colouring (human responses or PACL zero-shot).
    Emotions,
    /// None.
    Off,
}

/// One hotspot.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hotspot {
    /// Embedding index of the representative painting.
    pub(super) j: usize,
    /// What the group is ("cluster 3 · 412 · 40% sadness").
    pub(super) label: String,
    /// The group's colour.
    pub(super) colour: Color32,
    /// Embedding indices of the members.
    pub(super) members: Vec<usize>,
}

/// The most frequent emotion among `members` (by `emotions`) and its share, if any.
fn mostly(members: &[usize], emotions: &[Option<Emotion>]) -> Option<(Emotion, f32)> {
    let mut counts = [0usize; 9];
    for &j in members {
        if let Some(e) = emotions.get(j).copied().flatten() {
            counts[e.index()] += 1;
        }
    }
    let (i, &n) = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, usize::MAX - i))?;
    (n > 0).then(|| (Emotion::ALL[i], n as f32 / members.len().max(1) as f32))
}

/// The hotspots of `data` in `mode` (clusters with `k`; emotions from `styles`).
pub(super) fn hotspots(
    data: &MapData,
    styles: &Styles,
    mode: HotspotMode,
    k: usize,
) -> Vec<Hotspot> {
    let n = data.indices.len();
    let (groups, n_groups): (Vec<Option<usize>>, usize) = match mode {
        HotspotMode::Off => return Vec::new(),
        HotspotMode::Clusters => match data.clusters.get(&k) {
            Some(l) => (l.iter().map(|&c| Some(c)).collect(), k),
            None => return Vec::new(),
        },
        HotspotMode::Emotions => (
            (0..n)
                .map(|j| styles.emotions.get(j).copied().flatten().map(|e| e.index()))
                .collect(),
            9,
        ),
    };
    let mut members = vec![Vec::new(); n_groups];
    for (j, g) in groups.iter().enumerate() {
        if let Some(g) = g.filter(|&g| g < n_groups) {
            members[g].push(j);
        }
    }
    representatives(&data.embeddings.vectors, &groups, n_groups)
        .into_iter()
        .map(|r| {
            let m = std::mem::take(&mut members[r.group]);
            let (label, colour) = match mode {
                HotspotMode::Emotions => {
                    let e = Emotion::ALL[r.group];
                    (
                        format!("{} · {}", e.name(), r.members),
                        theme::rgb(e.color()),
                    )
                }
                _ => {
                    let c = theme::rgb(theme::CLUSTERS[r.group % theme::CLUSTERS.len()]);
                    let what = mostly(&m, &styles.emotions)
                        .map(|(e, f)| format!(" · {:.0}% {}", f * 100.0, e.name()))
                        .unwrap_or_default();
                    (format!("cluster {} · {}{what}", r.group + 1, r.members), c)
                }
            };
            Hotspot {
                j: r.index,
                label,
                colour,
                members: m,
            }
        })
        .collect()
}

/// A flight of the view to a target (centre in data coordinates, zoom).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Flight {
    pub(super) from: (Vec2, f32),
    pub(super) to: (Vec2, f32),
    /// Start time (egui's clock, seconds).
    pub(super) start: f64,
}

/// How long a flight takes, seconds.
pub(super) const FLIGHT_S: f64 = 0.6;

impl Flight {
    /// The view at time `now` and whether the flight is over.
    pub(super) fn at(&self, now: f64) -> ((Vec2, f32), bool) {
        let t = ((now - self.start) / FLIGHT_S).clamp(0.0, 1.0) as f32;
        // Ease in and out; zoom interpolated geometrically.
        let e = t * t * (3.0 - 2.0 * t);
        let c = self.from.0 + (self.to.0 - self.from.0) * e;
        let z = self.from.1 * (self.to.1 / self.from.1.max(1e-6)).powf(e);
        ((c, z), t >= 1.0)
    }
}

/// The view (centre, zoom) that shows `members` of `points` (the middle 90 % of them on
/// each axis, so a stray member does not zoom out), for data spanning `span` at zoom 1.
pub(super) fn target(points: &[[f32; 2]], members: &[usize], span: Vec2) -> Option<(Vec2, f32)> {
    let mut xs: Vec<f32> = members
        .iter()
        .filter_map(|&j| points.get(j))
        .map(|p| p[0])
        .collect();
    let mut ys: Vec<f32> = members
        .iter()
        .filter_map(|&j| points.get(j))
        .map(|p| p[1])
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f32::total_cmp);
    ys.sort_by(f32::total_cmp);
    let q = |v: &[f32], f: f32| v[((v.len() - 1) as f32 * f).round() as usize];
    let (x0, x1, y0, y1) = (q(&xs, 0.05), q(&xs, 0.95), q(&ys, 0.05), q(&ys, 0.95));
    let w = (x1 - x0).max(span.x / 50.0);
    let h = (y1 - y0).max(span.y / 50.0);
    let zoom = ((span.x / w).min(span.y / h) * 0.8).clamp(1.0, 50.0);
    Some((Vec2::new((x0 + x1) / 2.0, (y0 + y1) / 2.0), zoom))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flights_end_at_their_target() {
        let f = Flight {
            from: (Vec2::ZERO, 1.0),
            to: (Vec2::new(10.0, -4.0), 8.0),
            start: 2.0,
        };
        assert_eq!(f.at(2.0), ((Vec2::ZERO, 1.0), false));
        let ((c, z), done) = f.at(2.0 + FLIGHT_S / 2.0);
        assert!(!done);
        assert!((c.x - 5.0).abs() < 1e-4 && (z - 8f32.sqrt()).abs() < 1e-3);
        assert_eq!(f.at(9.0), ((Vec2::new(10.0, -4.0), 8.0), true));
    }

    #[test]
    fn targets_frame_the_middle_of_a_group() {
        let mut pts: Vec<[f32; 2]> = (0..21).map(|i| [i as f32 / 20.0, 0.5]).collect();
        pts.push([100.0, 100.0]); // a stray member far away
        let members: Vec<usize> = (0..22).collect();
        let (c, z) = target(&pts, &members, Vec2::new(100.0, 100.0)).unwrap();
        assert!(c.x < 1.5 && c.y < 1.5, "{c:?}");
        assert!(z > 10.0, "{z}");
        assert!(target(&pts, &[], Vec2::splat(1.0)).is_none());
    }

    #[test]
    fn mostly_counts_emotions() {
        let e = [
            Some(Emotion::Sadness),
            Some(Emotion::Awe),
            Some(Emotion::Sadness),
            None,
        ];
        assert_eq!(mostly(&[0, 1, 2, 3], &e), Some((Emotion::Sadness, 0.5)));
        assert_eq!(mostly(&[3], &e), None);
    }
}
