//! Whole evaluations per task, as `artemo eval --task sevlm|emosem|pacl --data PATH
//! --predictions PATH --out DIR` runs them: read references (ArtEmis CSV, APOLO, or
//! Artemo's own annotation folder), score the predictions, and produce `report.json`,
//! `report.md` and a per-sample CSV saying which samples pass or fail each metric.
//!
//! - `sevlm`: predictions CSV `painting,prediction` ("`<emotion> because <explanation>`");
//!   BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, diversity, ACC, EA (with a classifier) and
//!   CLIPScore (with CLIP weights).
//! - `emosem`: a folder of score maps `<painting>_<emotion>.npy` (any size, resized to the
//!   ground truth) or of `artemo analyze --model emosem` outputs (see
//!   [`super::explanations`]); every ground-truth map of a painting that has predictions
//!   is scored: Pr@25 / Pr@50 in segmentation and box mode, mean IoU; with explanations,
//!   also EA against each mask's emotion, BLEU-1..4, METEOR, ROUGE-L (references: the
//!   utterances of that painting and emotion), CIDEr-D, diversity and CLIPScore (with
//!   CLIP weights).
//! - `pacl`: predictions CSV `painting,emotion` (zero-shot or linear-probe class); accuracy
//!   and weighted F1 against the dominant emotion (ArtEmis rule: >= half, no tie).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::accuracy::{explanation_text, sevlm_accuracy};
use super::explanations::{
    collect_predictions, references_by_key, target_alignment, EmosemPredictions,
};
use super::segmentation::{sample_ious, summarize, SampleIou, ScoreMap};
use super::{
    evaluate_text_with, read_predictions, Availability, MetricValue, Report, TextEmotionClassifier,
    TextEvalOptions,
};
use crate::annotations::apolo::{map_path, ApoloSet};
use crate::annotations::artemis::{read_artemis, Annotation, Dominance, Histogram};
use crate::annotations::dataset::AnnotationSet;
use crate::annotations::mask::Mask;
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Which paper's evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Task {
    /// Emotion + explanation (SEVLM).
    Sevlm,
    /// Stimulus masks (EmoSEM / APOLO).
    Emosem,
    /// Emotion classification from embeddings (PACL).
    Pacl,
}

impl Task {
    /// Parses `sevlm`, `emosem` or `pacl`.
    pub fn parse(s: &str) -> Option<Task> {
        match s.to_lowercase().as_str() {
            "sevlm" => Some(Task::Sevlm),
            "emosem" => Some(Task::Emosem),
            "pacl" => Some(Task::Pacl),
            _ => None,
        }
    }
}

/// Optional models and context.
#[derive(Default)]
pub struct TaskOptions<'a> {
    /// METEOR 1.5 jar for the official score.
    pub meteor_jar: Option<PathBuf>,
    /// The EA classifier.
    pub ea: Option<&'a dyn TextEmotionClassifier>,
    /// CLIPScore: a scorer and the collection holding the images.
    pub clip: Option<(&'a super::clipscore::ClipScorer, &'a Collection)>,
    /// The collection (image sizes for rasterising Artemo's own stimulus polygons).
    pub collection: Option<&'a Collection>,
    /// EmoSEM: an ArtEmis CSV whose utterances are the explanations' references (needed
    /// beside an APOLO root, which has none; replaces the annotation folder's rows).
    pub utterances: Option<PathBuf>,
}

/// The three outputs.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// The report (written as `report.json`).
    pub report: Report,
    /// A readable summary (`report.md`).
    pub markdown: String,
    /// One row per sample (`per_sample.csv`).
    pub per_sample_csv: String,
}

impl TaskOutput {
    /// Writes `report.json`, `report.md` and `per_sample.csv` into `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::error::clean_stale_temps(dir);
        let json = serde_json::to_string_pretty(&self.report)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        crate::error::write_atomic(&dir.join("report.json"), json.as_bytes())?;
        crate::error::write_atomic(&dir.join("report.md"), self.markdown.as_bytes())?;
        crate::error::write_atomic(&dir.join("per_sample.csv"), self.per_sample_csv.as_bytes())
    }
}

/// Runs one task; `progress` gets (fraction, message), and a cancelled `progress` stops
/// with [`Error::Cancelled`] (checked at each stage and between scored samples).
pub fn run_task(
    task: Task,
    data: &Path,
    predictions: &Path,
    opts: &TaskOptions,
    progress: &dyn Progress,
) -> Result<TaskOutput> {
    stage(progress, 0.0, "reading references")?;
    let out = match task {
        Task::Sevlm => sevlm(data, predictions, opts, progress)?,
        Task::Emosem => emosem(data, predictions, opts, progress)?,
        Task::Pacl => pacl(data, predictions, progress)?,
    };
    progress.report(1.0, "done");
    Ok(out)
}

/// Reports a stage, then stops if the task was cancelled.
fn stage(progress: &dyn Progress, fraction: f32, message: &str) -> Result<()> {
    progress.report(fraction, message);
    if progress.cancelled() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

fn references(data: &Path) -> Result<Vec<Annotation>> {
    let csv = if data.is_dir() {
        data.join("artemo-aic.csv")
    } else {
        data.to_path_buf()
    };
    read_artemis(&csv)
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(fields);
    w.into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn markdown(title: &str, data: &Path, predictions: &Path, r: &Report) -> String {
    let mut s = format!("# {title}\n\n- references: `{}`\n- predictions: `{}`\n- items: {}\n\n| metric | value | unit | n | variant |\n|---|---|---|---|---|\n", data.display(), predictions.display(), r.items);
    for m in &r.metrics {
        s.push_str(&format!(
            "| {} | {:.4} | {} | {} | {} |\n",
            m.metric,
            m.value,
            m.unit,
            m.count.map(|c| c.to_string()).unwrap_or_default(),
            m.variant
        ));
    }
    if let Availability::NotAvailable(why) = &r.clip_score {
        if r.diversity.is_some() {
            s.push_str(&format!("| CLIPScore | {why} | | | |\n"));
        }
    }
    for n in &r.notes {
        s.push_str(&format!("\n- note: {n}"));
    }
    s.push('\n');
    s
}

fn predicted_emotion(pred: &str) -> Option<Emotion> {
    let lower = pred.to_lowercase();
    let head = lower.split(" because").next().unwrap_or("");
    Emotion::parse(head.trim())
}

fn sevlm(
    data: &Path,
    predictions: &Path,
    opts: &TaskOptions,
    progress: &dyn Progress,
) -> Result<TaskOutput> {
    let refs_rows = references(data)?;
    let preds = read_predictions(predictions)?;
    let mut refs_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut hist_by: BTreeMap<String, Histogram> = BTreeMap::new();
    for a in &refs_rows {
        refs_by
            .entry(a.painting.clone())
            .or_default()
            .push(a.utterance.clone());
        hist_by
            .entry(a.painting.clone())
            .or_default()
            .add(a.emotion);
    }
    let mut hyps = Vec::new();
    let mut refs = Vec::new();
    for (i, (p, pred)) in preds.iter().enumerate() {
        let r = refs_by.get(p).ok_or_else(|| {
            Error::at(
                predictions,
                format!("row {}, field `painting`", i + 2),
                format!("`{p}` has no reference in {}", data.display()),
            )
        })?;
        hyps.push(explanation_text(pred));
        refs.push(r.clone());
    }
    stage(progress, 0.2, "text metrics")?;
    let mut report = evaluate_text_with(
        &hyps,
        &refs,
        &TextEvalOptions {
            meteor_jar: opts.meteor_jar.clone(),
        },
    )?;
    let scores = super::score_text(&hyps, &refs)?;
    report.add_accuracy(sevlm_accuracy(&preds, &hist_by)?);
    let mut ea_pred: Vec<Option<Emotion>> = vec![None; preds.len()];
    match opts.ea {
        Some(clf) => {
            stage(progress, 0.5, "EA: classifying explanations")?;
            let explanations: Vec<(String, String)> = preds
                .iter()
                .zip(&hyps)
                .map(|((p, _), h)| (p.clone(), h.clone()))
                .collect();
            report.add_emotion_alignment(super::emotion_alignment(&explanations, &hist_by, clf)?);
            for (slot, e) in ea_pred.iter_mut().zip(clf.predict(&hyps)?) {
                *slot = Some(e);
            }
        }
        None => report
            .notes
            .push("EA not computed: no EA classifier installed (models/ea-minilm)".into()),
    }
    let mut clip = vec![None; preds.len()];
    if let Some((scorer, coll)) = opts.clip {
        stage(progress, 0.7, "CLIPScore")?;
        let mut pairs = Vec::new();
        for ((p, _), h) in preds.iter().zip(&hyps) {
            let painting = coll.get(p).ok_or_else(|| {
                Error::Invalid(format!(
                    "CLIPScore: painting `{p}` is not in the collection {}",
                    coll.source.display()
                ))
            })?;
            pairs.push((painting.path.as_path(), h.as_str()));
        }
        let s = scorer.score(&pairs)?;
        report.set_clip_score(&s, "CLIP ViT-B/32");
        clip = s.into_iter().map(Some).collect();
    }
    let mut csv = csv_line(
        &[
            "painting",
            "prediction",
            "predicted_emotion",
            "dominant_more_than_half",
            "acc_correct",
            "ea_emotion",
            "ea_correct_at_least_half",
            "bleu4",
            "meteor",
            "rouge_l",
            "cider_d",
            "clipscore",
        ]
        .map(String::from),
    );
    for (i, (p, pred)) in preds.iter().enumerate() {
        let h = &hist_by[p];
        let dom = h.dominant(Dominance::MoreThanHalf);
        let pe = predicted_emotion(pred);
        let acc = match dom {
            Some(d) => (pe == Some(d)).to_string(),
            None => "not counted".into(),
        };
        let ea_dom = h.dominant(Dominance::AtLeastHalf);
        let ea = match (ea_pred[i], ea_dom) {
            (Some(e), Some(d)) => (e == d).to_string(),
            (Some(_), None) => "not counted".into(),
            _ => String::new(),
        };
        csv.push_str(&csv_line(&[
            p.clone(),
            pred.clone(),
            pe.map(|e| e.name().to_string()).unwrap_or_default(),
            dom.map(|e| e.name().to_string()).unwrap_or_default(),
            acc,
            ea_pred[i].map(|e| e.name().to_string()).unwrap_or_default(),
            ea,
            format!("{:.6}", scores.bleu.per_item[i][3]),
            scores
                .meteor
                .as_ref()
                .map(|m| format!("{:.6}", m.per_item[i]))
                .unwrap_or_default(),
            format!("{:.6}", scores.rouge.per_item[i]),
            format!("{:.6}", scores.cider.per_item[i]),
            clip[i].map(|c| format!("{c:.6}")).unwrap_or_default(),
        ]));
    }
    let markdown = markdown(
        "SEVLM evaluation: emotion and explanation",
        data,
        predictions,
        &report,
    );
    Ok(TaskOutput {
        report,
        markdown,
        per_sample_csv: csv,
    })
}

/// The ground-truth masks of `paintings` and, when the data has them, the reference
/// utterances (ArtEmis rows) for the explanation metrics.
type GroundTruth = (BTreeMap<(String, Emotion), Mask>, Option<Vec<Annotation>>);

fn ground_truth(
    data: &Path,
    opts: &TaskOptions,
    paintings: &BTreeSet<String>,
) -> Result<GroundTruth> {
    let mut out = BTreeMap::new();
    let extra_refs = match &opts.utterances {
        Some(p) => Some(read_artemis(p)?),
        None => None,
    };
    if data.is_dir() && data.join("stimuli.json").is_file() {
        let set = AnnotationSet::load(data)?;
        let coll = opts.collection.ok_or_else(|| {
            Error::Invalid("Artemo's stimulus polygons need the collection for image sizes".into())
        })?;
        for s in set
            .stimuli
            .iter()
            .filter(|s| paintings.contains(&s.painting))
        {
            out.insert((s.painting.clone(), s.emotion), set.mask(s, coll)?);
        }
        return Ok((out, extra_refs.or(Some(set.rows))));
    }
    let json = if data.is_dir() {
        data.join("apolo.json")
    } else {
        data.to_path_buf()
    };
    let apolo = ApoloSet::open(&json, None)?;
    for ((p, e), m) in apolo.load_all()? {
        if paintings.contains(&p) {
            out.insert((p, e), m);
        }
    }
    Ok((out, extra_refs))
}

/// The explanation side of one EmoSEM evaluation, per scored sample.
#[derive(Default)]
struct ExplanationColumns {
    text: BTreeMap<(String, Emotion), String>,
    ea: BTreeMap<(String, Emotion), Emotion>,
    bleu4: BTreeMap<(String, Emotion), f64>,
    meteor: BTreeMap<(String, Emotion), f64>,
    rouge: BTreeMap<(String, Emotion), f64>,
    clip: BTreeMap<(String, Emotion), f64>,
}

/// EA, BLEU-1..4, METEOR, ROUGE-L (and CIDEr-D, diversity) and CLIPScore of the
/// explanations of the ground-truth keys (see [`super::explanations`]).
fn score_explanations(
    keys: &[(String, Emotion)],
    preds: &EmosemPredictions,
    rows: &[Annotation],
    opts: &TaskOptions,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<ExplanationColumns> {
    let refs_by = references_by_key(rows);
    let mut cols = ExplanationColumns::default();
    let (mut samples, mut without_refs) = (Vec::new(), 0usize);
    for k in keys {
        let Some((text, _)) = preds.explanations.get(k) else {
            return Err(Error::Invalid(format!(
                "no explanation for the ground truth of ({}, {}) among the predictions' explanations (explanations.json / explanations.csv)",
                k.0,
                k.1.name()
            )));
        };
        cols.text.insert(k.clone(), text.clone());
        match refs_by.get(k) {
            Some(r) => samples.push((k.clone(), text.clone(), r.clone())),
            None => without_refs += 1,
        }
    }
    if without_refs > 0 {
        report.notes.push(format!(
            "{without_refs} explanation(s) not scored by BLEU/METEOR/ROUGE-L: no reference utterance of their painting and emotion"
        ));
    }
    if samples.is_empty() {
        report
            .notes
            .push("explanation metrics not computed: no explanation has a reference".into());
        return Ok(cols);
    }
    stage(progress, 0.9, "explanation metrics")?;
    let hyps: Vec<String> = samples.iter().map(|s| s.1.clone()).collect();
    let refs: Vec<Vec<String>> = samples.iter().map(|s| s.2.clone()).collect();
    let text = evaluate_text_with(
        &hyps,
        &refs,
        &TextEvalOptions {
            meteor_jar: opts.meteor_jar.clone(),
        },
    )?;
    let scores = super::score_text(&hyps, &refs)?;
    for (i, (k, _, _)) in samples.iter().enumerate() {
        cols.bleu4.insert(k.clone(), scores.bleu.per_item[i][3]);
        if let Some(m) = &scores.meteor {
            cols.meteor.insert(k.clone(), m.per_item[i]);
        }
        cols.rouge.insert(k.clone(), scores.rouge.per_item[i]);
    }
    report.metrics.extend(text.metrics);
    report.notes.extend(text.notes);
    report.diversity = text.diversity;
    report.truncated = text.truncated;
    // EA and CLIPScore read every explanation of a ground-truth mask (they need no
    // reference utterance).
    let all_keys: Vec<&(String, Emotion)> = cols.text.keys().collect();
    let all_texts: Vec<String> = all_keys.iter().map(|k| cols.text[*k].clone()).collect();
    match opts.ea {
        Some(clf) => {
            stage(progress, 0.93, "EA: classifying explanations")?;
            let targets: Vec<Emotion> = all_keys.iter().map(|k| k.1).collect();
            let ea = target_alignment(&all_texts, &targets, clf)?;
            report.metrics.push(MetricValue::new(
                "EA",
                &ea.label,
                ea.value,
                "0-1",
                Some(ea.counted),
            ));
            for (k, e) in all_keys.iter().zip(&ea.predicted) {
                cols.ea.insert((*k).clone(), *e);
            }
        }
        None => report
            .notes
            .push("EA not computed: no EA classifier installed (models/ea-minilm)".into()),
    }
    if let Some((scorer, coll)) = opts.clip {
        stage(progress, 0.96, "CLIPScore")?;
        let mut pairs = Vec::new();
        for (k, t) in all_keys.iter().zip(&all_texts) {
            let painting = coll.get(&k.0).ok_or_else(|| {
                Error::Invalid(format!(
                    "CLIPScore: painting `{}` is not in the collection {}",
                    k.0,
                    coll.source.display()
                ))
            })?;
            pairs.push((painting.path.as_path(), t.as_str()));
        }
        let s = scorer.score(&pairs)?;
        report.set_clip_score(&s, "CLIP ViT-B/32");
        for (k, v) in all_keys.iter().zip(s) {
            cols.clip.insert((*k).clone(), v);
        }
    }
    Ok(cols)
}

fn emosem(
    data: &Path,
    predictions: &Path,
    opts: &TaskOptions,
    progress: &dyn Progress,
) -> Result<TaskOutput> {
    if !predictions.is_dir() {
        return Err(Error::io(
            predictions,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "expected a folder of <painting>_<emotion>.npy score maps (or of `artemo analyze --model emosem` outputs)",
            ),
        ));
    }
    let preds = collect_predictions(predictions)?;
    let paintings: BTreeSet<String> = preds.maps.keys().map(|(p, _)| p.clone()).collect();
    if paintings.is_empty() {
        return Err(Error::parse(
            predictions,
            None,
            "no score map named `<painting>_<emotion>.npy`",
        ));
    }
    let (gt, rows) = ground_truth(data, opts, &paintings)?;
    let mut per = Vec::new();
    let mut scored_keys = Vec::new();
    let mut skipped = 0;
    let n = gt.len().max(1);
    for (k, ((p, e), mask)) in gt.iter().enumerate() {
        if k % 16 == 0 {
            progress.report(0.1 + 0.7 * k as f32 / n as f32, "scoring masks");
        }
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let Some(path) = preds.maps.get(&(p.clone(), *e)) else {
            let path = map_path(predictions, p, *e);
            return Err(Error::io(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("missing prediction for the ground truth of ({p}, {e})"),
                ),
            ));
        };
        let pred = ScoreMap::read_npy(path)?;
        match sample_ious(&pred, mask)? {
            Some((seg, boxes)) => {
                scored_keys.push((p.clone(), *e));
                per.push(SampleIou {
                    key: format!("{p}_{}", e.name()),
                    seg,
                    boxes,
                })
            }
            None => skipped += 1,
        }
    }
    let mut report = Report::new(per.len());
    let with_text = !preds.explanations.is_empty();
    let cols = match (&rows, with_text) {
        (Some(rows), true) => {
            score_explanations(&scored_keys, &preds, rows, opts, &mut report, progress)?
        }
        (None, true) => {
            report.notes.push(
                "explanation metrics not computed: the references have no utterances (pass --utterances with an ArtEmis CSV beside an APOLO root)".into(),
            );
            ExplanationColumns::default()
        }
        (_, false) => {
            report.notes.push(
                "explanation metrics not computed: no explanations.json / explanations.csv among the predictions".into(),
            );
            ExplanationColumns::default()
        }
    };
    let mut header = vec![
        "sample", "iou_seg", "iou_box", "seg_pr25", "seg_pr50", "box_pr25", "box_pr50",
    ];
    if with_text {
        header.extend([
            "explanation",
            "ea_emotion",
            "ea_correct",
            "bleu4",
            "meteor",
            "rouge_l",
            "clipscore",
        ]);
    }
    let mut csv = csv_line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let f = |m: &BTreeMap<(String, Emotion), f64>, k: &(String, Emotion)| {
        m.get(k).map(|v| format!("{v:.6}")).unwrap_or_default()
    };
    for (s, k) in per.iter().zip(&scored_keys) {
        let mut row = vec![
            s.key.clone(),
            format!("{:.6}", s.seg),
            format!("{:.6}", s.boxes),
            (s.seg >= 0.25).to_string(),
            (s.seg >= 0.5).to_string(),
            (s.boxes >= 0.25).to_string(),
            (s.boxes >= 0.5).to_string(),
        ];
        if with_text {
            let ea = cols.ea.get(k);
            row.extend([
                cols.text.get(k).cloned().unwrap_or_default(),
                ea.map(|e| e.name().to_string()).unwrap_or_default(),
                ea.map(|e| (*e == k.1).to_string()).unwrap_or_default(),
                f(&cols.bleu4, k),
                f(&cols.meteor, k),
                f(&cols.rouge, k),
                f(&cols.clip, k),
            ]);
        }
        csv.push_str(&csv_line(&row));
    }
    // Segmentation first, then the explanation metrics already in the report.
    let text_metrics = std::mem::take(&mut report.metrics);
    report.add_segmentation(summarize(per, skipped));
    report.metrics.extend(text_metrics);
    if skipped > 0 {
        report
            .notes
            .push(format!("{skipped} sample(s) skipped: empty ground truth"));
    }
    let title = if with_text {
        "EmoSEM evaluation: emotion stimulus masks (APOLO Pr@theta) and explanations"
    } else {
        "EmoSEM evaluation: emotion stimulus masks (APOLO Pr@theta)"
    };
    let markdown = markdown(title, data, predictions, &report);
    Ok(TaskOutput {
        report,
        markdown,
        per_sample_csv: csv,
    })
}

fn pacl(data: &Path, predictions: &Path, progress: &dyn Progress) -> Result<TaskOutput> {
    let refs = references(data)?;
    let mut hist: BTreeMap<String, Histogram> = BTreeMap::new();
    for a in &refs {
        hist.entry(a.painting.clone()).or_default().add(a.emotion);
    }
    let mut rdr = csv::Reader::from_path(predictions)
        .map_err(|e| Error::parse(predictions, None, e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| Error::at(predictions, "header", e.to_string()))?
        .clone();
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h.trim() == n)
            .ok_or_else(|| Error::at(predictions, "header", format!("missing column `{n}`")))
    };
    let (cp, ce) = (col("painting")?, col("emotion")?);
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| Error::at(predictions, format!("row {row}"), e.to_string()))?;
        let p = rec.get(cp).unwrap_or("").trim().to_string();
        let es = rec.get(ce).unwrap_or("");
        let e = Emotion::parse(es).ok_or_else(|| {
            Error::at(
                predictions,
                format!("row {row}, field `emotion`"),
                format!("unknown emotion `{es}`"),
            )
        })?;
        if !hist.contains_key(&p) {
            return Err(Error::at(
                predictions,
                format!("row {row}, field `painting`"),
                format!("`{p}` has no reference in {}", data.display()),
            ));
        }
        rows.push((p, e));
    }
    stage(progress, 0.5, "scoring")?;
    let mut csv =
        csv_line(&["painting", "predicted", "dominant_at_least_half", "correct"].map(String::from));
    let (mut y, mut yhat) = (Vec::new(), Vec::new());
    for (p, e) in &rows {
        let d = hist[p].dominant(Dominance::AtLeastHalf);
        let correct = match d {
            Some(d) => {
                y.push(d.index());
                yhat.push(e.index());
                (d == *e).to_string()
            }
            None => "not counted".into(),
        };
        csv.push_str(&csv_line(&[
            p.clone(),
            e.name().into(),
            d.map(|d| d.name().to_string()).unwrap_or_default(),
            correct,
        ]));
    }
    let n = y.len();
    if n == 0 {
        return Err(Error::Invalid(
            "no predicted painting has a dominant emotion (>= half, no tie)".into(),
        ));
    }
    let acc = y.iter().zip(&yhat).filter(|(a, b)| a == b).count() as f64 / n as f64;
    // Weighted F1: per-class F1 weighted by the class's support.
    let mut wf1 = 0.0;
    for c in 0..9 {
        let support = y.iter().filter(|&&t| t == c).count() as f64;
        if support == 0.0 {
            continue;
        }
        let tp = y
            .iter()
            .zip(&yhat)
            .filter(|(t, p)| **t == c && **p == c)
            .count() as f64;
        let fp = y
            .iter()
            .zip(&yhat)
            .filter(|(t, p)| **t != c && **p == c)
            .count() as f64;
        let f1 = if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + (support - tp))
        };
        wf1 += f1 * support / n as f64;
    }
    let mut report = Report::new(rows.len());
    let label = "against the dominant emotion (>= half of the votes, no tie; ArtEmis)";
    report
        .metrics
        .push(MetricValue::new("Accuracy", label, acc, "0-1", Some(n)));
    report
        .metrics
        .push(MetricValue::new("Weighted F1", label, wf1, "0-1", Some(n)));
    if n < rows.len() {
        report.notes.push(format!(
            "{} prediction(s) not counted: their painting has no dominant emotion",
            rows.len() - n
        ));
    }
    let markdown = markdown(
        "PACL evaluation: emotion classification",
        data,
        predictions,
        &report,
    );
    Ok(TaskOutput {
        report,
        markdown,
        per_sample_csv: csv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacl_accuracy_and_weighted_f1_by_hand() {
        let d = tempfile::tempdir().unwrap();
        let refs = d.path().join("refs.csv");
        std::fs::write(&refs, "art_style,painting,emotion,utterance\nS,a,awe,x\nS,a,awe,y\nS,b,fear,x\nS,b,fear,y\nS,c,awe,x\nS,c,awe,y\nS,d,awe,x\nS,d,fear,y\nS,e,awe,x\n").unwrap();
        let preds = d.path().join("p.csv");
        std::fs::write(
            &preds,
            "painting,emotion\na,awe\nb,awe\nc,awe\nd,fear\ne,awe\n",
        )
        .unwrap();
        let out = run_task(
            Task::Pacl,
            &refs,
            &preds,
            &TaskOptions::default(),
            &crate::progress::Silent,
        )
        .unwrap();
        // d is a 1-1 tie (not counted); a, c, e awe correct; b fear predicted awe.
        let acc = out.report.metrics[0].value;
        assert!((acc - 0.75).abs() < 1e-12);
        // awe: tp 3, fp 1, fn 0 -> F1 6/7, support 3; fear: tp 0 -> 0, support 1.
        let wf1 = out.report.metrics[1].value;
        assert!((wf1 - (6.0 / 7.0) * 0.75).abs() < 1e-12, "{wf1}");
        assert!(out.per_sample_csv.contains("d,fear,,not counted"));
        std::fs::write(&preds, "painting,emotion\na,joy\n").unwrap();
        let e = run_task(
            Task::Pacl,
            &refs,
            &preds,
            &TaskOptions::default(),
            &crate::progress::Silent,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("p.csv") && e.contains("row 2, field `emotion`"),
            "{e}"
        );
    }

    #[test]
    fn predicted_emotion_is_the_text_before_because() {
        assert_eq!(predicted_emotion("Awe because the sky"), Some(Emotion::Awe));
        assert_eq!(
            predicted_emotion("something else because odd"),
            Some(Emotion::SomethingElse)
        );
        assert_eq!(predicted_emotion("the sky is big"), None);
    }
}
