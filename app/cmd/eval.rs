//! `artemo eval` (caption and emotion metrics) and `artemo eval-masks` (APOLO stimulus
//! scores): the engine's metrics from the command line.
//!
//! `eval --hyp HYP.csv --refs REFS.csv [--json] [--meteor-jar PATH]`: HYP.csv has the
//! columns `painting,prediction` (a prediction is `<emotion> because <explanation>` as
//! SEVLM writes it, or just an explanation); REFS.csv is an ArtEmis CSV. The text
//! metrics score the explanation part; ACC scores the emotion part when predictions have
//! one. `eval-masks --pred DIR --gt DIR [--json]` reads `<painting>_<emotion>.npy` score
//! maps and ground-truth maps (APOLO naming) and prints Pr@25 / Pr@50 (segmentation and
//! box mode) and mean IoU.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use artemo_engine::annotations::apolo::map_path;
use artemo_engine::annotations::artemis::{read_artemis, Histogram};
use artemo_engine::annotations::mask::Mask;
use artemo_engine::metrics::accuracy::{explanation_text, sevlm_accuracy};
use artemo_engine::metrics::segmentation::{sample_ious, summarize, SampleIou, ScoreMap};
use artemo_engine::metrics::{
    evaluate_text_with, read_predictions, Availability, Report, TextEvalOptions,
};
use artemo_engine::{Emotion, Error};
use clap::{Args, Subcommand};

/// The evaluation commands (flattened into the top-level command list).
#[derive(Subcommand, Debug)]
pub enum EvalCmd {
    /// Caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, diversity) and ACC of
    /// predictions against ArtEmis references.
    Eval(EvalArgs),
    /// APOLO Pr@25 / Pr@50 (segmentation and box mode) and mean IoU of predicted
    /// score maps against ground-truth maps.
    EvalMasks(EvalMasksArgs),
}

/// Arguments of `artemo eval`: either a whole task (`--task --data --predictions --out`,
/// writing report.json, report.md and per_sample.csv) or a quick table of text metrics
/// (`--hyp --refs`).
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The task: sevlm (emotion + explanation), emosem (stimulus masks, and their
    /// explanations when the predictions have them) or pacl (emotion classification).
    #[arg(long, requires_all = ["data", "predictions", "out"], conflicts_with_all = ["hyp", "refs"])]
    task: Option<String>,
    /// References: an ArtEmis CSV, an APOLO `apolo.json` (emosem), or Artemo's annotation
    /// folder (`assets/annotations`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Predictions: a `painting,prediction` CSV (sevlm), a folder of
    /// `<painting>_<emotion>.npy` score maps with an optional `explanations.csv`, or of
    /// `artemo analyze --model emosem --out` folders (emosem), or a `painting,emotion`
    /// CSV (pacl).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Output folder for report.json, report.md and per_sample.csv.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Predictions: a CSV with columns `painting,prediction` (quick table mode).
    #[arg(long, requires = "refs")]
    hyp: Option<PathBuf>,
    /// References: an ArtEmis CSV (quick table mode).
    #[arg(long, requires = "hyp")]
    refs: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// METEOR 1.5 jar: also run the official METEOR (needs `java`).
    #[arg(long)]
    meteor_jar: Option<PathBuf>,
    /// CLIP ViT-B/32 checkpoint folder for CLIPScore (default: models/clip-vit-base-patch32
    /// when installed).
    #[arg(long)]
    clip: Option<PathBuf>,
    /// The collection holding the paintings' images, for CLIPScore (default: the shipped one).
    #[arg(long)]
    images: Option<PathBuf>,
    /// EmoSEM with explanations: an ArtEmis CSV whose utterances (per painting and
    /// emotion) are the references of the explanation metrics; needed beside an APOLO
    /// root, which has no utterances (default: the annotation folder's own).
    #[arg(long, requires = "task")]
    utterances: Option<PathBuf>,
}

/// Arguments of `artemo eval-masks`.
#[derive(Args, Debug)]
pub struct EvalMasksArgs {
    /// Folder of predicted score maps `<painting>_<emotion>.npy`.
    #[arg(long)]
    pred: PathBuf,
    /// Folder of ground-truth maps `<painting>_<emotion>.npy`.
    #[arg(long)]
    gt: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Resize a predicted map whose shape differs from its ground truth (bilinear)
    /// instead of refusing it.
    #[arg(long)]
    resize: bool,
}

/// Runs an evaluation command.
pub fn run(cmd: &EvalCmd) -> Result<ExitCode> {
    match cmd {
        EvalCmd::Eval(a) => eval_text(a),
        EvalCmd::EvalMasks(a) => eval_masks(a),
    }
}

/// Says which rows of an ArtEmis CSV repeat an earlier one (refused with `--strict`);
/// returns how many do.
fn warn_duplicates(
    path: &std::path::Path,
    rows: &[artemo_engine::annotations::Annotation],
) -> Result<usize> {
    let dups = artemo_engine::annotations::artemis::duplicate_rows(rows);
    if let Some(w) = artemo_engine::annotations::artemis::describe_duplicates(path, &dups) {
        if super::common::strict() {
            anyhow::bail!("{w} (refused: --strict)");
        }
        eprintln!("warning: {w}");
    }
    Ok(dups.len())
}

fn eval_task(a: &EvalArgs, task: &str) -> Result<ExitCode> {
    use artemo_engine::metrics::tasks::{run_task, Task, TaskOptions};
    let task = Task::parse(task)
        .ok_or_else(|| anyhow::anyhow!("unknown task `{task}` (sevlm, emosem or pacl)"))?;
    let (Some(data), Some(preds), Some(out)) = (&a.data, &a.predictions, &a.out) else {
        anyhow::bail!("--task needs --data, --predictions and --out");
    };
    // Refused before any work.
    super::common::check_writable(out)?;
    if out.exists() && !out.is_dir() {
        anyhow::bail!(
            "--out {}: exists and is not a folder (report.json, report.md and per_sample.csv go into a folder)",
            out.display()
        );
    }
    // An ArtEmis CSV as the data: its repeated rows are said (or refused with --strict),
    // as for --refs.
    if data.is_file()
        && data
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        warn_duplicates(data, &read_artemis(data)?)?;
    }
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models();
    let device = artemo_engine::device::select_device(Default::default()).device;
    let coll_path = a
        .images
        .clone()
        .unwrap_or_else(|| assets.join("paintings/aic/paintings.csv"));
    let coll = artemo_engine::collection::Collection::open(&coll_path)?;
    let ea = match models.as_ref().map(|m| (m.join("ea-minilm"), m)) {
        Some((dir, m))
            if matches!(task, Task::Sevlm | Task::Emosem)
                && dir.join("head.safetensors").is_file() =>
        {
            Some(artemo_engine::text::ea_classifier::EaClassifier::load(
                &dir, m, &device,
            )?)
        }
        _ => None,
    };
    let clip_dir = a.clip.clone().or_else(|| {
        models
            .as_ref()
            .map(|m| m.join("clip-vit-base-patch32"))
            .filter(|d| d.join("config.json").is_file())
    });
    let scorer = match clip_dir {
        Some(d) if matches!(task, Task::Sevlm | Task::Emosem) => Some(
            artemo_engine::metrics::clipscore::ClipScorer::load(&d, &assets, &device)?,
        ),
        _ => None,
    };
    let opts = TaskOptions {
        meteor_jar: a.meteor_jar.clone(),
        ea: ea
            .as_ref()
            .map(|c| c as &dyn artemo_engine::metrics::TextEmotionClassifier),
        clip: scorer.as_ref().map(|s| (s, &coll)),
        collection: Some(&coll),
        utterances: a.utterances.clone(),
    };
    let bar = std::cell::RefCell::new(crate::progress::Progress::new());
    let output = run_task(
        task,
        data,
        preds,
        &opts,
        &artemo_engine::progress::FnProgress::new(|f, m| bar.borrow_mut().update(f, None, m)),
    )?;
    drop(bar);
    output.write(out)?;
    warn_truncated(&output.report);
    print_report(&output.report, a.json)?;
    eprintln!(
        "wrote {}/report.json, report.md and per_sample.csv",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn eval_text(a: &EvalArgs) -> Result<ExitCode> {
    if let Some(task) = &a.task {
        return eval_task(a, task);
    }
    let (Some(hyp), Some(refs_path)) = (&a.hyp, &a.refs) else {
        anyhow::bail!(
            "give either --task with --data, --predictions and --out, or --hyp with --refs"
        );
    };
    let preds = read_predictions(hyp)?;
    let annotations = read_artemis(refs_path)?;
    let dups = warn_duplicates(refs_path, &annotations)?;
    let mut refs_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut hist_by: BTreeMap<String, Histogram> = BTreeMap::new();
    for ann in &annotations {
        refs_by
            .entry(ann.painting.clone())
            .or_default()
            .push(ann.utterance.clone());
        hist_by
            .entry(ann.painting.clone())
            .or_default()
            .add(ann.emotion);
    }
    let mut hyps = Vec::with_capacity(preds.len());
    let mut refs = Vec::with_capacity(preds.len());
    for (i, (painting, pred)) in preds.iter().enumerate() {
        let r = refs_by.get(painting).ok_or_else(|| {
            Error::at(
                hyp,
                format!("row {}, field `painting`", i + 2),
                format!("`{painting}` has no reference in {}", refs_path.display()),
            )
        })?;
        hyps.push(explanation_text(pred));
        refs.push(r.clone());
    }
    let opts = TextEvalOptions {
        meteor_jar: a.meteor_jar.clone(),
    };
    let mut report = evaluate_text_with(&hyps, &refs, &opts).context("text metrics")?;
    warn_truncated(&report);
    if dups > 0 {
        report.notes.push(format!(
            "{} duplicate reference row(s) in {} were scored as given",
            dups,
            refs_path.display()
        ));
    }
    let with_because = preds.iter().filter(|(_, p)| p.contains("because")).count();
    if with_because > 0 {
        report.add_accuracy(sevlm_accuracy(&preds, &hist_by)?);
        if with_because < preds.len() {
            report.notes.push(format!(
                "ACC: {} of {} predictions have no \"<emotion> because\" part and count as wrong",
                preds.len() - with_because,
                preds.len()
            ));
        }
    } else {
        report.notes.push(
            "ACC not computed: no prediction has an \"<emotion> because <explanation>\" form"
                .into(),
        );
    }
    add_clip_score(a, &preds, &mut report)?;
    let ea_dir = artemo_engine::find_models().map(|m| (m.join("ea-minilm"), m));
    match ea_dir {
        Some((dir, models)) if dir.join("head.safetensors").is_file() => {
            let device = artemo_engine::device::select_device(Default::default()).device;
            let clf = artemo_engine::text::ea_classifier::EaClassifier::load(&dir, &models, &device)?;
            let explanations: Vec<(String, String)> = preds
                .iter()
                .map(|(p, pred)| (p.clone(), explanation_text(pred)))
                .collect();
            let ea = artemo_engine::metrics::emotion_alignment(&explanations, &hist_by, &clf)?;
            report.add_emotion_alignment(ea);
        }
        _ => report.notes.push(
            "EA not computed: the EA classifier (models/ea-minilm) is not installed; run `artemo train ea-classifier`".into(),
        ),
    }
    print_report(&report, a.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr when texts were cut to the metrics' word limit (the JSON report has
/// the counts in `truncated`).
fn warn_truncated(r: &Report) {
    if r.truncated.any() {
        eprintln!("warning: {}", r.truncated.describe());
    }
}

/// CLIPScore when CLIP weights are given or installed; otherwise the report keeps saying
/// "not available".
fn add_clip_score(a: &EvalArgs, preds: &[(String, String)], report: &mut Report) -> Result<()> {
    let dir = a.clip.clone().or_else(|| {
        artemo_engine::find_models()
            .map(|m| m.join("clip-vit-base-patch32"))
            .filter(|d| d.join("config.json").is_file())
    });
    let Some(dir) = dir else { return Ok(()) };
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let coll_path = a
        .images
        .clone()
        .unwrap_or_else(|| assets.join("paintings/aic/paintings.csv"));
    let coll = artemo_engine::collection::Collection::open(&coll_path)?;
    let device = artemo_engine::device::select_device(Default::default()).device;
    let scorer = artemo_engine::metrics::clipscore::ClipScorer::load(&dir, &assets, &device)?;
    let mut pairs = Vec::new();
    let texts: Vec<String> = preds.iter().map(|(_, p)| explanation_text(p)).collect();
    for ((painting, _), text) in preds.iter().zip(&texts) {
        let p = coll.get(painting).ok_or_else(|| {
            anyhow::anyhow!(
                "CLIPScore: painting `{painting}` is not in {}",
                coll_path.display()
            )
        })?;
        pairs.push((p.path.as_path(), text.as_str()));
    }
    let scores = scorer.score(&pairs)?;
    report.set_clip_score(&scores, &dir.display().to_string());
    Ok(())
}

/// `<painting>_<emotion>.npy` -> (painting, emotion).
fn parse_map_name(name: &str) -> Option<(String, Emotion)> {
    let stem = name.strip_suffix(".npy")?;
    Emotion::ALL.iter().find_map(|e| {
        stem.strip_suffix(e.name())
            .and_then(|p| p.strip_suffix('_'))
            .filter(|p| !p.is_empty())
            .map(|p| (p.to_string(), *e))
    })
}

fn eval_masks(a: &EvalMasksArgs) -> Result<ExitCode> {
    for (dir, what) in [(&a.pred, "--pred"), (&a.gt, "--gt")] {
        if !dir.is_dir() {
            anyhow::bail!("{what} {}: not a folder", dir.display());
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&a.gt)
        .map_err(|e| Error::io(&a.gt, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".npy"))
        .collect();
    names.sort();
    let mut per = Vec::new();
    let (mut skipped, mut unnamed) = (0usize, Vec::new());
    for name in &names {
        let Some((painting, emotion)) = parse_map_name(name) else {
            unnamed.push(name.clone());
            continue;
        };
        let gt_path = a.gt.join(name);
        let gt = Mask::read_npy(&gt_path)?;
        let pred_path = map_path(&a.pred, &painting, emotion);
        if !pred_path.is_file() {
            anyhow::bail!(
                "{}: missing prediction for ground truth {}",
                pred_path.display(),
                gt_path.display()
            );
        }
        let pred = ScoreMap::read_npy(&pred_path)?;
        if (pred.width, pred.height) != (gt.width, gt.height) && !a.resize {
            anyhow::bail!(
                "{}: the predicted map is {}x{} (width x height) but its ground truth {} is {}x{}; \
                 pass --resize to resize predictions to the ground truth",
                pred_path.display(),
                pred.width,
                pred.height,
                gt_path.display(),
                gt.width,
                gt.height
            );
        }
        match sample_ious(&pred, &gt).with_context(|| pred_path.display().to_string())? {
            Some((seg, boxes)) => per.push(SampleIou {
                key: format!("{painting}_{}", emotion.name()),
                seg,
                boxes,
            }),
            None => skipped += 1,
        }
    }
    if per.is_empty() && skipped == 0 {
        anyhow::bail!(
            "{}: no ground-truth map named `<painting>_<emotion>.npy`",
            a.gt.display()
        );
    }
    let mut report = Report::new(per.len());
    report.add_segmentation(summarize(per, skipped));
    if !unnamed.is_empty() {
        report.notes.push(format!(
            "ignored {} file(s) not named `<painting>_<emotion>.npy`: {}",
            unnamed.len(),
            unnamed.join(", ")
        ));
    }
    if skipped > 0 {
        report
            .notes
            .push(format!("{skipped} sample(s) skipped: empty ground truth"));
    }
    print_report(&report, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("items: {}", r.items);
    if r.segmentation.is_none() {
        println!("tokenisation: {}", r.tokenization);
    }
    println!("{:<16} {:>10}  {:<10} variant", "metric", "value", "unit");
    for m in &r.metrics {
        let count = m.count.map(|c| format!(" [n={c}]")).unwrap_or_default();
        println!(
            "{:<16} {:>10.4}  {:<10} {}{count}",
            m.metric, m.value, m.unit, m.variant
        );
    }
    if r.diversity.is_some() {
        match &r.clip_score {
            Availability::Computed(m) => println!(
                "{:<16} {:>10.4}  {:<10} {}",
                m.metric, m.value, m.unit, m.variant
            ),
            Availability::NotAvailable(why) => println!("{:<16} {why}", "CLIPScore"),
        }
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_names() {
        assert_eq!(
            parse_map_name("monet_x_awe.npy"),
            Some(("monet_x".into(), Emotion::Awe))
        );
        assert_eq!(
            parse_map_name("p_something else.npy"),
            Some(("p".into(), Emotion::SomethingElse))
        );
        assert_eq!(parse_map_name("_awe.npy"), None);
        assert_eq!(parse_map_name("p_joy.npy"), None);
        assert_eq!(parse_map_name("p_awe.png"), None);
    }
}
