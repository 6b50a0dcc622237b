//! Map hotspots (issue 24, as PixPlot's): for each group of paintings (a k-means cluster,
//! or every painting with one emotion) the representative painting, the member whose
//! embedding is nearest the group's mean embedding (a medoid by the mean, as PixPlot
//! picks the image nearest each cluster's centroid).

/// One group's representative.
#[derive(Debug, Clone, PartialEq)]
pub struct Representative {
    /// The group.
    pub group: usize,
    /// Index (into `vectors`) of the member nearest the group's mean.
    pub index: usize,
    /// Members of the group.
    pub members: usize,
}

/// The representative of every non-empty group: `groups[i]` is row `i`'s group (`None`:
/// in no group), groups numbered below `n_groups`. Largest groups first (ties by group).
pub fn representatives(
    vectors: &[Vec<f32>],
    groups: &[Option<usize>],
    n_groups: usize,
) -> Vec<Representative> {
    let d = vectors.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0.0f64; d]; n_groups];
    let mut counts = vec![0usize; n_groups];
    for (v, g) in vectors.iter().zip(groups) {
        let Some(g) = g.filter(|&g| g < n_groups) else {
            continue;
        };
        counts[g] += 1;
        for (s, x) in sums[g].iter_mut().zip(v) {
            *s += f64::from(*x);
        }
    }
    let means: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s.iter().map(|x| x / c.max(1) as f64).collect())
        .collect();
    let mut best: Vec<Option<(f64, usize)>> = vec![None; n_groups];
    for (i, (v, g)) in vectors.iter().zip(groups).enumerate() {
        let Some(g) = g.filter(|&g| g < n_groups) else {
            continue;
        };
        let dist: f64 = v
            .iter()
            .zip(&means[g])
            .map(|(x, m)| (f64::from(*x) - m).powi(2))
            .sum();
        if best[g].is_none_or(|b| dist < b.0) {
            best[g] = Some((dist, i));
        }
    }
    let mut out: Vec<Representative> = best
        .iter()
        .enumerate()
        .filter_map(|(g, b)| {
            b.map(|(_, index)| Representative {
                group: g,
                index,
                members: counts[g],
            })
        })
        .collect();
    out.sort_by(|a, b| b.members.cmp(&a.members).then(a.group.cmp(&b.group)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_to_the_mean_largest_first() {
        let v = vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![0.4, 0.1], // nearest group 0's mean (0.4667, 0.0333)
            vec![10.0, 10.0],
            vec![12.0, 10.0],
            vec![5.0, 5.0], // in no group
        ];
        let g = [Some(0), Some(0), Some(0), Some(2), Some(2), None];
        let r = representatives(&v, &g, 3);
        assert_eq!(
            r,
            vec![
                Representative {
                    group: 0,
                    index: 2,
                    members: 3
                },
                // Tie between 3 and 4: the first wins.
                Representative {
                    group: 2,
                    index: 3,
                    members: 2
                },
            ]
        );
        assert!(representatives(&[], &[], 4).is_empty());
        // Out-of-range groups are ignored.
        assert!(representatives(&v[..1], &[Some(9)], 3).is_empty());
    }
}
