//! The Map tab's point styles: each point's colour and label by the chosen colour mode
//! (dominant human emotion, zero-shot emotion, cluster), and the legend with counts.

use super::*;

/// Colours, labels and legend of the points.
pub(super) struct Styles {
    pub(super) colours: Vec<Color32>,
    pub(super) labels: Vec<String>,
    pub(super) legend: Vec<(String, Color32, usize)>,
    pub(super) caption: String,
    /// Each point's emotion by the colouring (human or zero-shot; with clusters, the
    /// zero-shot emotion when there is one): what emotion hotspots group by.
    pub(super) emotions: Vec<Option<Emotion>>,
}

pub(super) fn point_styles(
    data: &MapData,
    coll: &Collection,
    shared: &Shared,
    colour: ColourBy,
    k: usize,
) -> Styles {
    let n = data.indices.len();
    let mut colours = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    let mut emotions: Vec<Option<Emotion>> = Vec::with_capacity(n);
    let mut counts: Vec<(String, Color32, usize)> = Vec::new();
    let mut bump = |label: String, c: Color32| {
        if let Some(e) = counts.iter_mut().find(|e| e.0 == label) {
            e.2 += 1;
        } else {
            counts.push((label, c, 1));
        }
    };
    let caption;
    match colour {
        ColourBy::Human => {
            caption =
                "Dominant emotion of the human responses (at least half of the votes, no tie)"
                    .to_string();
            for &i in &data.indices {
                let rows = coll
                    .paintings
                    .get(i)
                    .and_then(|p| shared.responses.get(&p.id));
                let (label, c) = match rows {
                    None => {
                        emotions.push(None);
                        ("no responses".to_string(), theme::GREY.gamma_multiply(0.5))
                    }
                    Some(rows) => {
                        let mut h = Histogram::default();
                        rows.iter().for_each(|r| h.add(r.emotion));
                        let d = h.dominant(Dominance::AtLeastHalf);
                        emotions.push(d);
                        match d {
                            Some(e) => (e.name().to_string(), theme::rgb(e.color())),
                            None => ("no dominant emotion".to_string(), theme::GREY),
                        }
                    }
                };
                bump(label.clone(), c);
                colours.push(c);
                labels.push(format!("human responses: {label}"));
            }
        }
        ColourBy::ZeroShot => {
            caption = "PACL zero-shot emotion (model prediction, not human responses)".to_string();
            match &data.zero_shot {
                Ok(z) => {
                    for (e, p) in z.emotions.iter().zip(&z.confidence) {
                        let c = theme::rgb(e.color());
                        bump(e.name().to_string(), c);
                        colours.push(c);
                        emotions.push(Some(*e));
                        labels.push(format!("PACL zero-shot: {} ({:.0}%)", e.name(), p * 100.0));
                    }
                }
                Err(_) => {
                    for _ in 0..n {
                        colours.push(theme::GREY);
                        labels.push(String::new());
                    }
                }
            }
        }
        ColourBy::Cluster => {
            caption = "k-means cluster of the PACL embeddings".to_string();
            match &data.zero_shot {
                Ok(z) => emotions.extend(z.emotions.iter().map(|e| Some(*e))),
                Err(_) => emotions.resize(n, None),
            }
            let l = data.clusters.get(&k);
            for j in 0..n {
                match l.and_then(|l| l.get(j)) {
                    Some(&c) => {
                        let col = theme::rgb(theme::CLUSTERS[c % theme::CLUSTERS.len()]);
                        bump(format!("cluster {}", c + 1), col);
                        colours.push(col);
                        labels.push(format!("cluster {}", c + 1));
                    }
                    None => {
                        colours.push(theme::GREY);
                        labels.push(String::new());
                    }
                }
            }
        }
    }
    // Legend in a stable order: emotions in ArtEmis order, clusters by number, the rest last.
    let order = |s: &str| {
        Emotion::ALL
            .iter()
            .position(|e| e.name() == s)
            .map(|p| (0, p, String::new()))
            .or_else(|| {
                s.strip_prefix("cluster ")
                    .and_then(|d| d.parse::<usize>().ok())
                    .map(|d| (1, d, String::new()))
            })
            .unwrap_or((2, 0, s.to_string()))
    };
    counts.sort_by_key(|c| order(&c.0));
    emotions.resize(n, None);
    Styles {
        colours,
        labels,
        legend: counts,
        caption,
        emotions,
    }
}
