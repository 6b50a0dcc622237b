//! End-to-end tests of `artemo eval` and `artemo eval-masks` on small temporary files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use artemo_engine::annotations::mask::Mask;

fn artemo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_artemo"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const REFS: &str = "art_style,painting,emotion,utterance,repetition
Impressionism,p1,awe,The vast sky makes me feel small.,3
Impressionism,p1,awe,the sky is so big and bright,3
Impressionism,p1,awe,a huge blue sky,3
Baroque,p2,fear,\"The dark storm, the waves: scary!\",3
Baroque,p2,fear,the storm looks dangerous,3
Baroque,p2,sadness,the sailors will drown,3
Romanticism,p3,awe,the mountains are majestic,2
Romanticism,p3,fear,the cliff is too steep,2
";

fn text_files(dir: &Path, hyp: &str) -> (PathBuf, PathBuf) {
    let refs = dir.join("refs.csv");
    std::fs::write(&refs, REFS).unwrap();
    let h = dir.join("hyp.csv");
    std::fs::write(&h, hyp).unwrap();
    (h, refs)
}

#[test]
fn eval_prints_every_text_metric_with_its_variant() {
    let d = tempfile::tempdir().unwrap();
    let (hyp, refs) = text_files(
        d.path(),
        "painting,prediction
p1,awe because the vast sky makes me feel small
p2,sadness because the storm looks scary
p3,awe because the mountains are majestic
",
    );
    let out = artemo(&["eval", "--hyp", s(&hyp), "--refs", s(&refs), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"], 3);
    assert_eq!(
        v["clip_score"],
        "not available: CLIP ViT-B/32 weights missing"
    );
    let metrics = v["metrics"].as_array().unwrap();
    let get = |name: &str| {
        metrics
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {v}"))
    };
    for name in [
        "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D",
    ] {
        let m = get(name);
        let x = m["value"].as_f64().unwrap();
        assert!(x > 0.0 && x.is_finite(), "{name}: {x}");
        assert!(!m["variant"].as_str().unwrap().is_empty());
    }
    assert!(get("METEOR")["variant"]
        .as_str()
        .unwrap()
        .contains("exact+stem"));
    // ACC: p1 awe (3/3) right, p2 fear (2/3) predicted sadness, p3 tie 1/2 not counted.
    let acc = get("ACC");
    assert_eq!(acc["value"].as_f64().unwrap(), 0.5);
    assert_eq!(acc["count"], 2);
    assert_eq!(get("Unique")["value"].as_f64().unwrap(), 1.0);
    // EA with the shipped classifier (models/ea-minilm), both dominance rules: p1 (awe 3/3)
    // and p2 (fear 2/3) have a dominant emotion, p3 (1-1 tie) has none.
    let ea: Vec<&serde_json::Value> = metrics.iter().filter(|m| m["metric"] == "EA").collect();
    assert_eq!(ea.len(), 2, "{v}");
    for e in ea {
        assert_eq!(e["count"], 2);
        let x = e["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x));
        assert!(
            e["variant"].as_str().unwrap().contains("all-MiniLM-L6-v2"),
            "{e}"
        );
    }

    let out = artemo(&["eval", "--hyp", s(&hyp), "--refs", s(&refs)]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for want in [
        "BLEU-4",
        "CIDEr-D",
        "ROUGE-L",
        "ACC",
        "CLIPScore",
        "not available",
        "EA",
        "all-MiniLM-L6-v2",
    ] {
        assert!(table.contains(want), "{want} missing in\n{table}");
    }
}

#[test]
fn eval_without_emotions_skips_acc() {
    let d = tempfile::tempdir().unwrap();
    let (hyp, refs) = text_files(
        d.path(),
        "painting,prediction\np1,a huge blue sky\np2,the storm looks dangerous\n",
    );
    let out = artemo(&["eval", "--hyp", s(&hyp), "--refs", s(&refs), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["accuracy"].is_null());
    assert!(v["notes"].to_string().contains("ACC not computed"));
}

#[test]
fn eval_names_the_file_and_row_of_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        (
            "painting,prediction\np1,awe because sky\nnope,awe because x\n",
            REFS,
            vec!["hyp.csv", "row 3", "`nope`"],
        ),
        (
            "painting,guess\np1,awe\n",
            REFS,
            vec!["hyp.csv", "missing column `prediction`"],
        ),
        (
            "painting,prediction\np1,awe\np1,fear\n",
            REFS,
            vec!["hyp.csv", "row 3", "row 2"],
        ),
        (
            "painting,prediction\np1,awe\n",
            "art_style,painting,emotion,utterance\nA,p1,joy,text\n",
            vec!["refs.csv", "row 2, field `emotion`"],
        ),
    ];
    for (hyp, refs, wants) in cases {
        let h = d.path().join("hyp.csv");
        let r = d.path().join("refs.csv");
        std::fs::write(&h, hyp).unwrap();
        std::fs::write(&r, refs).unwrap();
        let out = artemo(&["eval", "--hyp", s(&h), "--refs", s(&r)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{hyp}");
        for w in wants {
            assert!(err.contains(w), "{w} not in: {err}");
        }
    }
    let out = artemo(&["eval", "--hyp", "/nonexistent/h.csv", "--refs", "x.csv"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/h.csv"));
}

/// Run with `ARTEMO_METEOR_JAR=meteor-1.5.jar cargo test --test eval_cli -- --ignored`.
#[test]
#[ignore = "needs java and the METEOR 1.5 jar (ARTEMO_METEOR_JAR)"]
fn eval_runs_the_official_meteor_when_asked() {
    let jar = std::env::var_os("ARTEMO_METEOR_JAR")
        .map(PathBuf::from)
        .expect("set ARTEMO_METEOR_JAR to a meteor-1.5.jar");
    assert!(
        Command::new("java").arg("-version").output().is_ok(),
        "java is not installed"
    );
    assert!(jar.is_file(), "{} not found", jar.display());
    let d = tempfile::tempdir().unwrap();
    let (hyp, refs) = text_files(d.path(), "painting,prediction\np1,awe because a big sky\n");
    let out = artemo(&[
        "eval",
        "--hyp",
        s(&hyp),
        "--refs",
        s(&refs),
        "--json",
        "--meteor-jar",
        s(&jar),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["metrics"].to_string().contains("official jar"));
}

/// A float32 `.npy` of shape (h, w).
fn npy_f32(h: usize, w: usize, v: &[f32]) -> Vec<u8> {
    let mut hdr =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({h}, {w}), }}").into_bytes();
    let pad = (64 - (10 + hdr.len() + 1) % 64) % 64;
    hdr.extend(std::iter::repeat_n(b' ', pad));
    hdr.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((hdr.len() as u16).to_le_bytes());
    out.extend(hdr);
    for x in v {
        out.extend(x.to_le_bytes());
    }
    out
}

#[test]
fn eval_masks_scores_samples_and_skips_empty_ground_truth() {
    let d = tempfile::tempdir().unwrap();
    let (pred, gt) = (d.path().join("pred"), d.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    // p1 awe: GT = left column of a 2x2 map; prediction hits it exactly (after resize
    // from 1x2: [9, 1] -> min-max [1, 0]).
    Mask::from_values(2, 2, &[1, 0, 1, 0])
        .unwrap()
        .write_npy(&gt.join("p1_awe.npy"))
        .unwrap();
    std::fs::write(pred.join("p1_awe.npy"), npy_f32(1, 2, &[9.0, 1.0])).unwrap();
    // p1 fear: empty GT, skipped.
    Mask::new(2, 2).write_npy(&gt.join("p1_fear.npy")).unwrap();
    std::fs::write(pred.join("p1_fear.npy"), npy_f32(2, 2, &[0.0; 4])).unwrap();
    // p2 something else: prediction misses.
    Mask::from_values(2, 2, &[1, 0, 0, 0])
        .unwrap()
        .write_npy(&gt.join("p2_something else.npy"))
        .unwrap();
    std::fs::write(
        pred.join("p2_something else.npy"),
        npy_f32(2, 2, &[0.0, 0.0, 0.0, 1.0]),
    )
    .unwrap();
    // The 1x2 prediction does not match its 2x2 ground truth: refused unless --resize.
    let out = artemo(&["eval-masks", "--pred", s(&pred), "--gt", s(&gt), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("p1_awe.npy") && err.contains("--resize"),
        "{err}"
    );
    let out = artemo(&[
        "eval-masks",
        "--pred",
        s(&pred),
        "--gt",
        s(&gt),
        "--json",
        "--resize",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seg = &v["segmentation"];
    assert_eq!(seg["samples"], 2);
    assert_eq!(seg["skipped_empty_gt"], 1);
    assert_eq!(seg["seg"]["pr25"].as_f64().unwrap(), 50.0);
    assert_eq!(seg["seg"]["pr50"].as_f64().unwrap(), 50.0);
    assert_eq!(seg["boxes"]["pr50"].as_f64().unwrap(), 50.0);
    assert_eq!(seg["seg"]["mean_iou"].as_f64().unwrap(), 0.5);

    let out = artemo(&["eval-masks", "--pred", s(&pred), "--gt", s(&gt), "--resize"]);
    let table = String::from_utf8_lossy(&out.stdout);
    for want in ["Pr@25 (seg)", "Pr@50 (box)", "mean IoU (seg)", "skipped"] {
        assert!(table.contains(want), "{want} missing in\n{table}");
    }

    // A missing prediction is an error naming the file.
    std::fs::remove_file(pred.join("p1_awe.npy")).unwrap();
    let out = artemo(&["eval-masks", "--pred", s(&pred), "--gt", s(&gt)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("p1_awe.npy"), "{err}");
    // So is an unreadable map.
    std::fs::write(pred.join("p1_awe.npy"), b"not npy").unwrap();
    let out = artemo(&["eval-masks", "--pred", s(&pred), "--gt", s(&gt)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("p1_awe.npy"), "{err}");
}

/// `artemo eval --task ... --out DIR` on the committed example predictions writes
/// report.json, report.md and per_sample.csv for each task.
#[test]
fn eval_tasks_write_the_three_outputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("assets/annotations");
    let fx = root.join("tests/fixtures/eval");
    for (task, preds) in [
        ("sevlm", fx.join("sevlm_predictions.csv")),
        ("pacl", fx.join("pacl_predictions.csv")),
        ("emosem", fx.join("emosem_predictions")),
    ] {
        let d = tempfile::tempdir().unwrap();
        let out = artemo(&[
            "eval",
            "--task",
            task,
            "--data",
            s(&data),
            "--predictions",
            s(&preds),
            "--out",
            s(d.path()),
        ]);
        assert!(
            out.status.success(),
            "{task}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join("report.json")).unwrap())
                .unwrap();
        let md = std::fs::read_to_string(d.path().join("report.md")).unwrap();
        let per = std::fs::read_to_string(d.path().join("per_sample.csv")).unwrap();
        assert!(
            md.starts_with("# ") && md.contains("| metric |"),
            "{task}: {md}"
        );
        let value = |name: &str| {
            json["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["metric"] == name)
                .unwrap_or_else(|| panic!("{task}: {name}"))["value"]
                .as_f64()
                .unwrap()
        };
        match task {
            "sevlm" => {
                assert_eq!(per.lines().count(), 9);
                // Every prediction names the dominant emotion of its painting where one exists.
                assert_eq!(value("ACC"), 1.0);
                assert!(per.contains("109220,") && per.contains("not counted"));
            }
            "pacl" => {
                // 8 paintings, 7 with a dominant emotion; 4 of them predicted right.
                assert!((value("Accuracy") - 4.0 / 7.0).abs() < 1e-12);
                assert!(per.contains("15468,fear,excitement,false"));
            }
            _ => {
                assert_eq!(per.lines().count(), 6);
                assert_eq!(value("Pr@50 (seg)"), 20.0);
                assert!(per.contains("16237_awe,"));
            }
        }
    }
    // A prediction for an emotion whose ground truth is missing is named in the error.
    let d = tempfile::tempdir().unwrap();
    let preds = d.path().join("preds");
    std::fs::create_dir_all(&preds).unwrap();
    std::fs::copy(
        fx.join("emosem_predictions/16237_awe.npy"),
        preds.join("16237_awe.npy"),
    )
    .unwrap();
    let out = artemo(&[
        "eval",
        "--task",
        "emosem",
        "--data",
        s(&data),
        "--predictions",
        s(&preds),
        "--out",
        s(&d.path().join("o")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("16237_contentment.npy"));
}

/// A transposed prediction (3x2 against a 2x3 ground truth) is refused, naming both
/// shapes, instead of being resized into a plausible score.
#[test]
fn eval_masks_refuses_a_transposed_prediction() {
    let d = tempfile::tempdir().unwrap();
    let (pred, gt) = (d.path().join("pred"), d.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    Mask::from_values(3, 2, &[1, 1, 0, 0, 0, 0])
        .unwrap()
        .write_npy(&gt.join("p1_awe.npy"))
        .unwrap();
    std::fs::write(
        pred.join("p1_awe.npy"),
        npy_f32(3, 2, &[1.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
    )
    .unwrap();
    let out = artemo(&["eval-masks", "--pred", s(&pred), "--gt", s(&gt)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("2x3") && err.contains("3x2") && err.contains("--resize"),
        "{err}"
    );
}

/// `eval --out` naming an existing file is refused before any work, with the OS error
/// (if any) said once.
#[test]
fn eval_out_that_is_a_file_is_refused_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("taken");
    std::fs::write(&file, b"x").unwrap();
    let out = artemo(&[
        "eval",
        "--task",
        "sevlm",
        "--data",
        s(&root.join("assets/annotations")),
        "--predictions",
        s(&root.join("tests/fixtures/eval/sevlm_predictions.csv")),
        "--out",
        s(&file),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exists and is not a folder"), "{err}");
    assert!(err.matches("os error").count() <= 1, "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

/// Duplicate reference rows are reported with their row numbers; an enormous reference
/// is cut to the word limit (said on stderr and in the JSON) and scored in seconds.
#[test]
fn eval_reports_duplicates_and_caps_long_references() {
    let d = tempfile::tempdir().unwrap();
    let long = "word ".repeat(300_000);
    let refs = format!(
        "{REFS}Impressionism,p1,awe,the sky is so big and bright,3\nBaroque,p2,fear,{long},3\n"
    );
    let (h, r) = text_files(
        d.path(),
        "painting,prediction\np1,awe because the sky is vast\np2,fear because the storm\np3,awe because the mountains\n",
    );
    std::fs::write(&r, refs).unwrap();
    let t = std::time::Instant::now();
    let out = artemo(&["eval", "--hyp", s(&h), "--refs", s(&r), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Speed is measured by hand, not asserted: the cap makes the work linear.
    eprintln!(
        "1 reference of 300,000 words evaluated in {:?}",
        t.elapsed()
    );
    assert!(err.contains("row 10 repeats row 3"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["truncated"]["references"], 1);
    assert_eq!(v["truncated"]["hypotheses"], 0);
    assert!(v["truncated"]["max_words"].as_u64().unwrap() >= 1000);
    // --strict refuses the duplicates.
    let out = artemo(&["--strict", "eval", "--hyp", s(&h), "--refs", s(&r)]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn eval_task_reports_duplicate_rows_of_an_artemis_csv() {
    let d = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = std::fs::read_to_string(root.join("assets/annotations/artemo-aic.csv")).unwrap();
    let second = shipped.lines().nth(1).unwrap();
    let csv = d.path().join("dups.csv");
    std::fs::write(&csv, format!("{shipped}{second}\n")).unwrap();
    let preds = root.join("tests/fixtures/eval/sevlm_predictions.csv");
    let out_dir = d.path().join("ev");
    let out = artemo(&[
        "eval",
        "--task",
        "sevlm",
        "--data",
        s(&csv),
        "--predictions",
        s(&preds),
        "--out",
        s(&out_dir),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("1 duplicate row(s)") && err.contains("repeats row 2"),
        "{err}"
    );
    let out = artemo(&[
        "--strict",
        "eval",
        "--task",
        "sevlm",
        "--data",
        s(&csv),
        "--predictions",
        s(&preds),
        "--out",
        s(&d.path().join("ev2")),
    ]);
    assert_eq!(out.status.code(), Some(1));
}
