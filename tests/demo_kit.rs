//! The demo kit's smoke test: `artemo train --preset demo --quick` trains the PACL tower
//! and the small SEVLM from the shipped assets, evaluates them beside the baselines and
//! writes the model card; `artemo analyze` then runs on the result, and `artemo eval`
//! reproduces the card's numbers from the written predictions. The shipped kit's numbers
//! are reproduced the same way from `models/demo/eval/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn artemo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_artemo"));
    c.env("ARTEMO_ASSETS", root().join("assets"))
        .env("ARTEMO_MODELS", root().join("models"))
        .args(["--threads", "2"]);
    c
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn quick_demo_kit_trains_evaluates_and_analyses() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("demo");
    let r = artemo()
        .args(["train", "--preset", "demo", "--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    ok(&r);
    for f in [
        "pacl/config.json",
        "pacl/model.safetensors",
        "pacl/report.json",
        "sevlm/config.json",
        "sevlm/model.safetensors",
        "sevlm/train_log.json",
        "emosem/config.json",
        "emosem/model.safetensors",
        "emosem/train_log.json",
        "eval/summary.json",
        "MODEL_CARD.md",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["test_paintings"], 10);
    for sys in ["sevlm", "majority", "chance", "retrieval"] {
        let m = &summary["sevlm_eval"][sys];
        assert!(m["BLEU-1"].is_number(), "{sys}: {m}");
        assert!(m["CIDEr-D"].is_number(), "{sys}: {m}");
    }
    for sys in ["emosem", "prior", "chance"] {
        let m = &summary["emosem_eval"][sys];
        assert!(m["mean IoU (seg)"].is_number(), "{sys}: {m}");
    }
    let z = &summary["pacl_eval"];
    assert_eq!(z["test_paintings"], 10, "{z}");
    assert!(
        z["accuracy"].is_number() && z["largest_share"].is_number(),
        "{z}"
    );
    assert!(out.join("eval/pacl/zero_shot.csv").is_file());
    let card = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    assert!(
        card.contains("Demo models") && card.contains("| retrieval |")
            || card.contains("retrieval")
    );

    // The card's numbers are reproduced by `artemo eval` from the written predictions.
    let ev = d.path().join("eval-sevlm");
    let r = artemo()
        .args(["eval", "--task", "sevlm", "--data"])
        .arg(root().join("assets/annotations"))
        .arg("--predictions")
        .arg(out.join("eval/sevlm/predictions.csv"))
        .arg("--out")
        .arg(&ev)
        .output()
        .unwrap();
    ok(&r);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev.join("report.json")).unwrap()).unwrap();
    let bleu1 = rep["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "BLEU-1")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    let card_bleu1 = summary["sevlm_eval"]["sevlm"]["BLEU-1"].as_f64().unwrap();
    assert!((bleu1 - card_bleu1).abs() < 1e-9, "{bleu1} vs {card_bleu1}");

    // The trained model analyses a painting: a distribution over the nine labels and a
    // parsed generation.
    let csv = std::fs::read_to_string(root().join("assets/paintings/aic/paintings.csv")).unwrap();
    let file = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let img = root().join("assets/paintings/aic").join(file);
    let r = artemo()
        .args(["analyze", "--model", "sevlm", "--json", "--weights"])
        .arg(out.join("sevlm"))
        .arg(&img)
        .output()
        .unwrap();
    ok(&r);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let a = &v[0];
    let dist = a["distribution"].as_array().unwrap();
    assert_eq!(dist.len(), 9);
    let sum: f64 = dist.iter().map(|d| d[1].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-3, "{sum}");
    assert!(a["generation"]["state"]["state"].is_string());
}

/// The value of `metric` in an `artemo eval` report.
fn metric(report: &Path, metric: &str) -> f64 {
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    rep["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} in {}", report.display()))["value"]
        .as_f64()
        .unwrap()
}

/// The shipped kit's model card numbers are reproduced by `artemo eval` from the shipped
/// predictions (SEVLM: every system; EmoSEM: the model's score maps).
#[test]
fn shipped_demo_kit_numbers_are_reproduced_by_eval() {
    let kit = root().join("models/demo");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kit.join("eval/summary.json")).unwrap())
            .unwrap();
    let d = tempfile::tempdir().unwrap();
    for sys in ["sevlm", "majority", "chance", "retrieval"] {
        let ev = d.path().join(sys);
        let r = artemo()
            .args(["eval", "--task", "sevlm", "--data"])
            .arg(root().join("assets/annotations"))
            .arg("--predictions")
            .arg(kit.join("eval").join(sys).join("predictions.csv"))
            .arg("--out")
            .arg(&ev)
            .output()
            .unwrap();
        ok(&r);
        for m in ["BLEU-1", "ROUGE-L", "CIDEr-D", "ACC"] {
            let got = metric(&ev.join("report.json"), m);
            let card = summary["sevlm_eval"][sys][m].as_f64().unwrap();
            assert!((got - card).abs() < 1e-9, "{sys} {m}: {got} vs {card}");
        }
    }
    let ev = d.path().join("emosem");
    let r = artemo()
        .args(["eval", "--task", "emosem", "--data"])
        .arg(root().join("assets/annotations"))
        .arg("--predictions")
        .arg(kit.join("eval/emosem/emosem/npy"))
        .arg("--out")
        .arg(&ev)
        .output()
        .unwrap();
    ok(&r);
    for m in [
        "Pr@25 (seg)",
        "Pr@50 (seg)",
        "mean IoU (seg)",
        "mean IoU (box)",
    ] {
        let got = metric(&ev.join("report.json"), m);
        let card = summary["emosem_eval"]["emosem"][m].as_f64().unwrap();
        assert!((got - card).abs() < 1e-9, "emosem {m}: {got} vs {card}");
    }
    // PACL's zero-shot: re-scored from the shipped predictions against the annotations.
    use artemo_engine::kit::zero_shot;
    use artemo_engine::pacl::zeroshot::{Calibration, PromptSet};
    let preds =
        zero_shot::read_predictions(&kit.join("eval/pacl").join(zero_shot::PREDICTIONS_FILE))
            .unwrap();
    let set = artemo_engine::annotations::dataset::AnnotationSet::load(
        &root().join("assets/annotations"),
    )
    .unwrap();
    let got = zero_shot::score(&preds, &set, PromptSet::default(), Calibration::default()).unwrap();
    let shipped: zero_shot::ZeroShotEval =
        serde_json::from_value(summary["pacl_eval"].clone()).unwrap();
    // JSON keeps a float to within its last digit.
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(
        close(got.accuracy, shipped.accuracy)
            && close(got.majority, shipped.majority)
            && close(got.largest_share, shipped.largest_share)
            && close(got.labels_share, shipped.labels_share)
            && got.largest == shipped.largest
            && (
                got.prompts.as_str(),
                got.calibration.as_str(),
                got.test_paintings
            ) == (
                shipped.prompts.as_str(),
                shipped.calibration.as_str(),
                shipped.test_paintings
            )
            && got.shares.len() == shipped.shares.len()
            && got
                .shares
                .iter()
                .all(|(e, v)| shipped.shares.get(e).is_some_and(|w| close(*v, *w))),
        "re-scored {got:?}\nshipped {shipped:?}"
    );
    assert_eq!(got.paintings, 267, "the whole collection");
    assert_eq!(got.test_paintings, 54);
}

/// One issue-21 target: its name, the measured value, the bound and whether it holds.
struct Target {
    name: &'static str,
    value: f64,
    bound: f64,
    at_least: bool,
}

impl Target {
    fn holds(&self) -> bool {
        if self.at_least {
            self.value >= self.bound
        } else {
            self.value <= self.bound
        }
    }
}

/// The demo kit's targets (issue 21, "A demo kit whose output means something"), computed
/// from the shipped `models/demo/eval/summary.json` (whose SEVLM and EmoSEM numbers the
/// test above re-scores from the shipped predictions, PACL's zero-shot included) and
/// `models/demo/pacl/report.json`.
fn targets(kit: &Path) -> Vec<Target> {
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let summary = read(&kit.join("eval/summary.json"));
    let s = |sys: &str, m: &str| {
        summary["sevlm_eval"][sys][m]
            .as_f64()
            .unwrap_or_else(|| panic!("summary.json: no sevlm_eval.{sys}.{m}"))
    };
    let e = |sys: &str, m: &str| {
        summary["emosem_eval"][sys][m]
            .as_f64()
            .unwrap_or_else(|| panic!("summary.json: no emosem_eval.{sys}.{m}"))
    };
    let pacl = read(&kit.join("pacl/report.json"));
    let p = |path: &[&str]| {
        let mut v = &pacl;
        for k in path {
            v = &v[*k];
        }
        v.as_f64()
            .unwrap_or_else(|| panic!("pacl/report.json: no {}", path.join(".")))
    };
    let z: artemo_engine::kit::zero_shot::ZeroShotEval =
        serde_json::from_value(summary["pacl_eval"].clone())
            .unwrap_or_else(|e| panic!("summary.json: pacl_eval: {e}"));
    let t = |name, value, bound, at_least| Target {
        name,
        value,
        bound,
        at_least,
    };
    let best = |m: &str| {
        ["chance", "majority", "retrieval"]
            .iter()
            .map(|b| s(b, m))
            .fold(f64::MIN, f64::max)
    };
    vec![
        t("SEVLM ACC >= 0.65", s("sevlm", "ACC"), 0.65, true),
        t(
            "SEVLM ACC >= majority + 0.08",
            s("sevlm", "ACC"),
            s("majority", "ACC") + 0.08,
            true,
        ),
        t(
            "distinct emotions >= 4",
            s("sevlm", "distinct emotions"),
            4.0,
            true,
        ),
        t(
            "EA vs own emotion >= 0.60",
            s("sevlm", "EA vs own emotion"),
            0.60,
            true,
        ),
        t(
            "explanations with a repeated bigram = 0",
            s("sevlm", "repeated bigram"),
            0.0,
            false,
        ),
        t(
            "copies of train utterances <= 5 %",
            s("sevlm", "copies of train utterances"),
            0.05,
            false,
        ),
        t("vocabulary >= 250", s("sevlm", "vocabulary"), 250.0, true),
        t("Unique >= 0.95", s("sevlm", "Unique"), 0.95, true),
        t(
            "BLEU-1 >= every baseline",
            s("sevlm", "BLEU-1"),
            best("BLEU-1"),
            true,
        ),
        t(
            "ROUGE-L >= every baseline",
            s("sevlm", "ROUGE-L"),
            best("ROUGE-L"),
            true,
        ),
        t(
            "CIDEr-D >= every baseline",
            s("sevlm", "CIDEr-D"),
            best("CIDEr-D"),
            true,
        ),
        t(
            "EmoSEM mean IoU (seg) >= prior + 0.03",
            e("emosem", "mean IoU (seg)"),
            e("prior", "mean IoU (seg)") + 0.03,
            true,
        ),
        t(
            "EmoSEM Pr@25 (seg) >= prior + 5 points",
            e("emosem", "Pr@25 (seg)"),
            e("prior", "Pr@25 (seg)") + 5.0,
            true,
        ),
        t(
            "distinct explanations per painting >= 6",
            e("emosem", "distinct explanations per painting"),
            6.0,
            true,
        ),
        t(
            "EA of mask explanations >= 0.50",
            e("emosem", "EA of mask explanations"),
            0.50,
            true,
        ),
        t(
            "PACL probe >= majority + 0.05",
            p(&["probe", "pacl", "accuracy"]),
            p(&["probe", "majority", "accuracy"]) + 0.05,
            true,
        ),
        t(
            "PACL zero-shot accuracy >= majority",
            z.accuracy,
            z.majority,
            true,
        ),
        t(
            "PACL zero-shot largest share <= 40 % unless the labels say so",
            z.largest_share,
            z.largest_share_bound(),
            false,
        ),
    ]
}

/// The targets the shipped kit misses, each stated in `models/demo/MODEL_CARD.md`.
/// A kit that reaches one of them makes this test fail until the entry is removed, and
/// a kit that loses one fails it too: the card cannot claim what the numbers do not show.
const KNOWN_MISSES: &[&str] = &[
    "SEVLM ACC >= 0.65",
    "vocabulary >= 250",
    "EmoSEM mean IoU (seg) >= prior + 0.03",
    "EmoSEM Pr@25 (seg) >= prior + 5 points",
    "PACL probe >= majority + 0.05",
    "PACL zero-shot accuracy >= majority",
];

#[test]
fn shipped_demo_kit_targets_hold_or_are_declared() {
    let kit = root().join("models/demo");
    let card = std::fs::read_to_string(kit.join("MODEL_CARD.md")).unwrap();
    let mut missed = Vec::new();
    for t in targets(&kit) {
        println!(
            "{:<45} {:>10.4} {} {:.4}: {}",
            t.name,
            t.value,
            if t.at_least { ">=" } else { "<=" },
            t.bound,
            if t.holds() { "holds" } else { "MISSED" }
        );
        if !t.holds() {
            missed.push(t.name);
            assert!(
                card.contains(t.name),
                "MODEL_CARD.md does not state the missed target {:?}",
                t.name
            );
        }
    }
    assert_eq!(missed, KNOWN_MISSES, "targets missed vs declared");
}

/// Issue 21 ("nucleus sampling writes non-words"): every word of the shipped kit's
/// scored explanations (SEVLM's predictions, EmoSEM's eight per painting) is a word of the
/// model's own list (`words.txt` beside it), except a last word cut by the token limit.
#[test]
fn shipped_demo_kit_explanations_use_known_words() {
    let kit = root().join("models/demo");
    let words = |m: &str| -> std::collections::HashSet<String> {
        std::fs::read_to_string(kit.join(m).join("words.txt"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let split = |t: &str| -> Vec<String> {
        t.split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '\u{2019}'))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let check = |model: &str, list: &std::collections::HashSet<String>, text: &str| {
        let ws = split(text);
        let outside: Vec<&String> = ws.iter().filter(|w| !list.contains(*w)).collect();
        let cut_last = outside.len() == 1 && ws.last() == Some(outside[0]);
        assert!(
            outside.is_empty() || cut_last,
            "{model}: {text:?} has words outside words.txt: {outside:?}"
        );
    };
    let sevlm = words("sevlm");
    // `painting,prediction` with the prediction quoted (one line per painting).
    let csv = std::fs::read_to_string(kit.join("eval/sevlm/predictions.csv")).unwrap();
    let mut n = 0;
    for line in csv.lines().skip(1).filter(|l| !l.is_empty()) {
        let (_, pred) = line.split_once(',').unwrap();
        let pred = pred.trim_matches('"').replace("\"\"", "\"");
        let exp = pred.split_once(" because ").map(|x| x.1).unwrap_or("");
        check("sevlm", &sevlm, exp);
        n += 1;
    }
    assert_eq!(n, 54);
    let emosem = words("emosem");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kit.join("eval/summary.json")).unwrap())
            .unwrap();
    let ex = summary["emosem_explanations"].as_array().unwrap();
    assert_eq!(ex.len(), 54 * 8);
    for e in ex {
        check("emosem", &emosem, e[2].as_str().unwrap());
    }
}

/// The shipped kit refers to nothing outside the models folder: a configuration written by
/// a run whose `--out` lay elsewhere names its tower by an absolute path, which breaks on
/// every other machine (EmoSEM "could not compute the masks").
#[test]
fn shipped_demo_kit_configs_name_no_path_outside_the_models_folder() {
    let kit = root().join("models/demo");
    for m in ["pacl", "sevlm", "emosem"] {
        let path = kit.join(m).join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut stack = vec![&v];
        while let Some(x) = stack.pop() {
            match x {
                serde_json::Value::String(s) => {
                    let p = s.strip_prefix("pacl:").unwrap_or(s);
                    assert!(
                        !std::path::Path::new(p).is_absolute(),
                        "{}: absolute path {s:?}",
                        path.display()
                    );
                }
                serde_json::Value::Array(a) => stack.extend(a),
                serde_json::Value::Object(o) => stack.extend(o.values()),
                _ => {}
            }
        }
    }
    let emosem: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kit.join("emosem/config.json")).unwrap())
            .unwrap();
    assert_eq!(emosem["image"]["tower"], "pacl:demo/pacl");
}
