//! `artemo eval --task emosem` with explanations on a tiny fixture (the score maps of
//! `tests/fixtures/eval/emosem_predictions` against the shipped regions, plus hand-written
//! explanations): EA against each mask's emotion, BLEU-1..4, METEOR, ROUGE-L, CLIPScore
//! said "not available" without CLIP weights, the per-sample drill-down, both prediction
//! layouts (flat folder + explanations.csv; `artemo analyze` folders with
//! explanations.json) and the refusal of a missing explanation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn eval(preds: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_artemo"))
        .env("ARTEMO_ASSETS", root().join("assets"))
        .env("ARTEMO_MODELS", root().join("models"))
        .args([
            "eval",
            "--task",
            "emosem",
            "--data",
            s(&root().join("assets/annotations")),
            "--predictions",
            s(preds),
            "--out",
            s(out),
        ])
        .output()
        .unwrap()
}

/// (painting, emotion, explanation): the first is one of its references word for word.
const EXPLANATIONS: [(&str, &str, &str); 5] = [
    (
        "16237",
        "awe",
        "Her enormous dark eyes and the glowing gold halo make her feel powerful and almost otherworldly.",
    ),
    ("16237", "contentment", "the mother's hand feels comforting"),
    ("16237", "fear", "her stare is intimidating and scary"),
    ("14574", "contentment", "a quiet afternoon by the window feels calm"),
    ("14574", "sadness", "the old man looks lonely and weary"),
];

fn fixture_maps() -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/eval/emosem_predictions");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn explanations_csv(skip: Option<usize>) -> String {
    let mut csv = String::from("painting,emotion,explanation\n");
    for (i, (p, e, t)) in EXPLANATIONS.iter().enumerate() {
        if Some(i) != skip {
            csv.push_str(&format!("{p},{e},\"{t}\"\n"));
        }
    }
    csv
}

fn report(out: &Path) -> (serde_json::Value, String, String) {
    let json =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let per = std::fs::read_to_string(out.join("per_sample.csv")).unwrap();
    (json, md, per)
}

fn metric<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == name)
        .unwrap_or_else(|| panic!("{name} missing: {json}"))
}

fn values(json: &serde_json::Value) -> Vec<(String, String)> {
    json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["metric"].to_string(), m["value"].to_string()))
        .collect()
}

#[test]
fn emosem_eval_scores_explanations_per_mask() {
    let d = tempfile::tempdir().unwrap();
    // Layout 1: a flat folder of maps with explanations.csv.
    let flat = d.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for m in fixture_maps() {
        std::fs::copy(&m, flat.join(m.file_name().unwrap())).unwrap();
    }
    std::fs::write(flat.join("explanations.csv"), explanations_csv(None)).unwrap();
    let out = d.path().join("out");
    let o = eval(&flat, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (json, md, per) = report(&out);
    // The masks are scored as without explanations.
    assert_eq!(metric(&json, "Pr@50 (seg)")["value"], 20.0);
    for name in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L"] {
        let m = metric(&json, name);
        let v = m["value"].as_f64().unwrap();
        assert!(v > 0.0 && v <= 1.0, "{name}: {v}");
        assert_eq!(m["count"], 5, "{name}");
    }
    // EA: the shipped EA classifier against each mask's own emotion.
    let ea = metric(&json, "EA");
    assert!(ea["variant"]
        .as_str()
        .unwrap()
        .contains("each mask's emotion"));
    assert_eq!(ea["count"], 5);
    // No CLIP ViT-B/32 installed: said, never a number.
    assert_eq!(
        json["clip_score"],
        "not available: CLIP ViT-B/32 weights missing"
    );
    assert!(md.contains("| CLIPScore | not available"), "{md}");
    assert!(md.contains("and explanations"), "{md}");
    // The drill-down: one row per mask with its explanation's scores.
    // (No field of this fixture holds a comma or a quote, so a plain split reads it.)
    let mut lines = per.lines().map(|l| l.split(',').collect::<Vec<&str>>());
    let header = lines.next().unwrap();
    assert_eq!(
        &header[7..],
        &[
            "explanation",
            "ea_emotion",
            "ea_correct",
            "bleu4",
            "meteor",
            "rouge_l",
            "clipscore"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.collect();
    assert!(rows.iter().all(|r| r.len() == 14), "{per}");
    assert_eq!(rows.len(), 5);
    let mut aligned = 0;
    for r in &rows {
        let emotion = r[0].rsplit('_').next().unwrap();
        assert_eq!(r[9], (r[8] == emotion).to_string(), "{r:?}");
        aligned += (r[9] == "true") as usize;
        assert_eq!(r[13], "", "no CLIPScore without CLIP: {r:?}");
    }
    assert!((ea["value"].as_f64().unwrap() - aligned as f64 / 5.0).abs() < 1e-12);
    // The explanation that is one of its references word for word scores 1.
    let exact = rows.iter().find(|r| r[0] == "16237_awe").unwrap();
    assert_eq!(
        (exact[10], exact[12]),
        ("1.000000", "1.000000"),
        "{exact:?}"
    );
    let other = rows.iter().find(|r| r[0] == "14574_sadness").unwrap();
    assert!(other[12].parse::<f64>().unwrap() < 1.0);

    // Layout 2: one `artemo analyze --out` folder per painting gives the same report.
    let nested = d.path().join("nested");
    for m in fixture_maps() {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        let painting = name.split('_').next().unwrap().to_string();
        let npy = nested.join(&painting).join("npy");
        std::fs::create_dir_all(&npy).unwrap();
        std::fs::copy(&m, npy.join(&name)).unwrap();
    }
    for painting in ["16237", "14574"] {
        let emotions: Vec<serde_json::Value> = EXPLANATIONS
            .iter()
            .filter(|(p, _, _)| *p == painting)
            .map(|(_, e, t)| serde_json::json!({"emotion": e, "explanation": t, "area_share": 0.1}))
            .collect();
        let j = serde_json::json!({"image": painting, "threshold": 0.5, "emotions": emotions});
        std::fs::write(
            nested.join(painting).join("explanations.json"),
            j.to_string(),
        )
        .unwrap();
    }
    let out2 = d.path().join("out2");
    let o = eval(&nested, &out2);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (json2, _, per2) = report(&out2);
    assert_eq!(values(&json2), values(&json));
    assert_eq!(per2, per);

    // A mask without an explanation, when explanations are given, is refused by name.
    std::fs::write(flat.join("explanations.csv"), explanations_csv(Some(4))).unwrap();
    let o = eval(&flat, &d.path().join("out3"));
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no explanation") && e.contains("(14574, sadness)"),
        "{e}"
    );
}
