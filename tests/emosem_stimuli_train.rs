//! EmoSEM training on every data source from the CLI (issue 20): a small EmoSEM trained for a
//! few steps on a pseudo-mask folder built by `artemo annotations pseudo-masks --method kit`
//! from a tiny ArtEmis CSV over shipped paintings (`artemo train emosem --stimuli pseudo:DIR`:
//! masks and explanations learn), and on a tiny synthetic APOLO root (`artemo train session
//! --model emosem --stimuli apolo:DIR`: masks only, no explanation loss). Finite losses, a
//! checkpoint written; `--stimuli` refused for other models.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use artemo_engine::annotations::mask::Mask;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn artemo(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_artemo"));
    c.env("ARTEMO_ASSETS", root().join("assets"))
        .env("ARTEMO_MODELS", root().join("models"))
        .env("ARTEMO_DATA", data)
        .args(["--threads", "2"]);
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

/// The value after `name ` on every `step N (epoch E): ...` line.
fn step_values(stdout: &str, name: &str) -> Vec<f64> {
    stdout
        .lines()
        .filter(|l| l.starts_with("step "))
        .filter_map(|l| l.split(&format!("{name} ")).nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The best checkpoint's folder from the summary line.
fn best(stdout: &str) -> PathBuf {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("best checkpoint: "))
        .and_then(|l| l.split(" (step").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no best checkpoint:\n{stdout}"))
}

const CSV: &str = "art_style,painting,emotion,utterance
S,100026,contentment,The chubby little boy with rosy cheeks looks calm.
S,100026,amusement,The toddler peeking over the shoulder makes me smile.
S,100342,awe,The saint in the brown robe gazes upward in devotion.
S,100343,fear,The knife raised over the boy is terrifying.
S,100344,sadness,The dark cave and the old man feel sad.
";

#[test]
fn a_small_emosem_trains_on_kit_pseudo_masks() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let csv = d.path().join("artemis.csv");
    std::fs::write(&csv, CSV).unwrap();
    let pm = d.path().join("pseudo");
    let images = root().join("assets/paintings/aic/paintings.csv");
    let made = ok(&artemo(&data)
        .args(["annotations", "pseudo-masks", "--artemis", s(&csv)])
        .args(["--images", s(&images), "--out", s(&pm), "--method", "kit"])
        .output()
        .unwrap());
    assert!(made.contains("5 masks from 5 rows"), "{made}");

    let run = d.path().join("run");
    let stimuli = format!("pseudo:{}", pm.display());
    let out = ok(&artemo(&data)
        .args(["train", "emosem", "--config", "small", "--recipe", "cpu"])
        .args(["--stimuli", &stimuli, "--steps", "3", "--eval-every", "3"])
        .args(["--print-steps", "--out", s(&run)])
        .output()
        .unwrap());
    // ArtEmis' split rule puts one of the four artworks in test (held out); with no
    // validation artwork the last training one validates.
    for want in [
        "pseudo-masks ",
        "note: the folder's test split (1 paintings, 2 masks) is held out",
        "the last training painting",
        "finished after 3 of 3 steps",
        "mean IoU",
    ] {
        assert!(out.contains(want), "{want}:\n{out}");
    }
    let masks = step_values(&out, "mask loss");
    let words = step_values(&out, "explanation loss");
    assert_eq!(masks.len(), 3, "{out}");
    // Pseudo-masks carry their utterances: the explainer trains too.
    assert_eq!(words.len(), 3, "{out}");
    assert!(
        masks
            .iter()
            .chain(&words)
            .all(|v| v.is_finite() && *v > 0.0),
        "{out}"
    );
    let ck = best(&out);
    assert!(ck.join("config.json").is_file() && ck.join("model.safetensors").is_file());
}

#[test]
fn a_small_emosem_trains_on_apolo_masks_only() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    // A tiny APOLO root over four shipped paintings (as `engine/src/emosem/data/mod.rs`'s
    // APOLO test): three outside APOLO's test split, one in it (held out).
    let root_dir = d.path().join("apolo");
    let maps = root_dir.join("apolo_pixel_map");
    std::fs::create_dir_all(&maps).unwrap();
    std::fs::write(
        root_dir.join("apolo.json"),
        r#"[{"painting": "100026", "artemis_id": [1], "split": "val"},
            {"painting": "100342", "artemis_id": [2], "split": "val"},
            {"painting": "100343", "artemis_id": [3], "split": "val"},
            {"painting": "100344", "artemis_id": [4], "split": "test"}]"#,
    )
    .unwrap();
    let mut m = Mask::new(8, 8);
    for y in 0..4 {
        for x in 0..4 {
            m.set(x, y, true);
        }
    }
    for p in ["100026", "100342", "100343", "100344"] {
        m.write_npy(&maps.join(format!("{p}_awe.npy"))).unwrap();
    }
    let run = d.path().join("run");
    let stimuli = format!("apolo:{}", root_dir.display());
    let out = ok(&artemo(&data)
        .args([
            "train",
            "session",
            "--model",
            "emosem",
            "--stimuli",
            &stimuli,
        ])
        .args(["--steps", "3", "--eval-every", "3", "--print-steps"])
        .args(["--out", s(&run)])
        .output()
        .unwrap());
    for want in [
        "APOLO ",
        "APOLO's test split (1 records) is held out",
        "only the mask side learns (no explanation loss)",
        "finished after 3 of 3 steps",
    ] {
        assert!(out.contains(want), "{want}:\n{out}");
    }
    let masks = step_values(&out, "mask loss");
    assert_eq!(masks.len(), 3, "{out}");
    assert!(masks.iter().all(|v| v.is_finite() && *v > 0.0), "{out}");
    // No explanation: no explanation loss in any step or evaluation.
    assert!(
        out.lines()
            .filter(|l| l.starts_with("step ") || l.starts_with("evaluation at"))
            .all(|l| !l.contains("explanation loss")),
        "{out}"
    );
    let ck = best(&out);
    assert!(ck.join("model.safetensors").is_file());

    // Other models refuse the option.
    let o = artemo(&data)
        .args(["train", "session", "--model", "pacl", "--stimuli", &stimuli])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("use them with --model emosem"), "{err}");
}
