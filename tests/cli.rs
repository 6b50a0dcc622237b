//! End-to-end tests of the `artemo` command line on the shipped assets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

fn artemo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_artemo"));
    c.env("ARTEMO_ASSETS", root().join("assets"))
        .env("ARTEMO_MODELS", root().join("models"));
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn collection_info_counts_the_shipped_paintings() {
    let out = artemo()
        .args(["collection", "info", "--json"])
        .arg(root().join("assets/paintings/aic/paintings.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["info"]["paintings"], 267);
    assert_eq!(v["info"]["problems"], 0);
    assert_eq!(v["kind"], "Manifest");
}

#[test]
fn collection_info_reports_missing_and_unreadable_files() {
    let d = tempfile::tempdir().unwrap();
    image::RgbImage::new(4, 4)
        .save(d.path().join("fine.png"))
        .unwrap();
    std::fs::write(d.path().join("broken.jpg"), b"nope").unwrap();
    std::fs::write(
        d.path().join("list.csv"),
        "file,title\nfine.png,A\nbroken.jpg,B\nabsent.jpg,C\n",
    )
    .unwrap();
    let out = artemo()
        .args(["collection", "info", "--check"])
        .arg(d.path().join("list.csv"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("paintings:  2"), "{stdout}");
    assert!(
        stdout.contains("absent.jpg") && stdout.contains("row 4"),
        "{stdout}"
    );
    assert!(stdout.contains("broken.jpg: unreadable image"), "{stdout}");
}

#[test]
fn import_artemis_summarises_and_rejects_bad_rows() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("a.csv");
    let mut csv = String::from("art_style,painting,emotion,utterance,repetition\n");
    for i in 0..40 {
        for e in ["awe", "awe", "fear"] {
            csv.push_str(&format!("Baroque,p{i},{e},\"the light, the sky\",3\n"));
        }
    }
    std::fs::write(&good, csv).unwrap();
    let out = artemo()
        .args(["import", "artemis", "--json"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], 120);
    assert_eq!(v["paintings"], 40);
    assert_eq!(v["emotion_counts"]["1:awe"], 80);
    assert_eq!(v["split_sizes"]["train"], 34);
    assert_eq!(v["split_sizes"]["val"], 2);
    assert_eq!(v["split_sizes"]["test"], 4);
    assert_eq!(v["dominant_more_than_half"], 40);

    let bad = d.path().join("bad.csv");
    std::fs::write(
        &bad,
        "art_style,painting,emotion,utterance\nX,p,happiness,hi\n",
    )
    .unwrap();
    let out = artemo()
        .args(["import", "artemis"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv")
            && err.contains("row 2, field `emotion`")
            && err.contains("happiness"),
        "{err}"
    );
}

#[test]
fn models_verify_checks_the_shipped_encoder() {
    let out = artemo().args(["models", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("all-MiniLM-L6-v2") && stdout.contains("verified"),
        "{stdout}"
    );
}

#[test]
fn models_import_validates_and_lists_the_new_model() {
    let d = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("MODELS.toml"), "").unwrap();
    let artemo = || {
        let mut c = artemo();
        c.env("ARTEMO_DATA", data.path());
        c
    };
    let out = artemo()
        .env("ARTEMO_MODELS", d.path())
        .args(["models", "import"])
        .arg(root().join("tests/fixtures/parity/gpt2/cross"))
        .args(["--as", "tiny-gpt2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = artemo()
        .env("ARTEMO_MODELS", d.path())
        .args(["models", "verify"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("tiny-gpt2")
            && stdout.contains("files: 2/2 verified"),
        "{stdout}"
    );
    // Installed in the user's models folder, not in the models folder found.
    assert!(data
        .path()
        .join("models/tiny-gpt2/model.safetensors")
        .is_file());
    assert!(!d.path().join("tiny-gpt2").exists());
    let out = artemo()
        .env("ARTEMO_MODELS", d.path())
        .args(["models", "import", "/nonexistent/ckpt", "--as", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ckpt"));
}

#[test]
fn models_import_reads_pytorch_pickles_and_the_sevlm_release() {
    // tools/parity/torch_checkpoints.py: torch.save files, read without Python.
    let d = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("MODELS.toml"), "").unwrap();
    let run = |args: &[&str]| {
        artemo()
            .env("ARTEMO_MODELS", d.path())
            .env("ARTEMO_DATA", data.path())
            .args(["models", "import"])
            .args(args)
            .output()
            .unwrap()
    };
    let fx = root().join("tests/fixtures/parity");
    let release = fx.join("sevlm_release/release");
    let out = run(&["--sevlm-release", release.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Installed under the name the app looks for.
    assert!(data.path().join("models/sevlm/model.safetensors").is_file());
    let out = run(&[
        "--sevlm-release",
        release.to_str().unwrap(),
        "--epoch",
        "7",
        "--as",
        "s7",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nle_model_7"));
    let bin = fx.join("torch/gpt2_bin");
    let out = run(&[bin.to_str().unwrap(), "--as", "g"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.path().join("models/g/model.safetensors").is_file());
    let legacy = fx.join("torch/legacy.pt");
    let out = run(&[legacy.to_str().unwrap(), "--as", "old"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("legacy.pt") && err.contains("legacy PyTorch format"),
        "{err}"
    );
}

/// `models download` in the default build: an unreachable hub is one clear message and a
/// non-zero exit, with nothing installed (the engine's tests cover the transfers).
#[test]
fn models_download_offline_is_one_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let out = with_data(data.path())
        .args(["models", "download", "distilgpt2", "--endpoint"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach 127.0.0.1:{port}"))
            && err.contains("artemo models import PATH"),
        "{err}"
    );
    assert!(!data.path().join("models/distilgpt2").exists());
    // Without WHAT: the known names and where their weights live.
    let out = artemo().args(["models", "download"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("openai/clip-vit-base-patch16") && text.contains("NOT a HF repository"),
        "{text}"
    );
}

fn with_data(data: &Path) -> Command {
    let mut c = artemo();
    c.env("ARTEMO_DATA", data);
    c
}

fn sha(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// `train --preset demo` never writes into the shipped kit unless told to, and the
/// refusal comes before any work.
#[test]
fn train_demo_refuses_the_shipped_kit_without_overwrite_shipped() {
    let data = tempfile::tempdir().unwrap();
    let card = root().join("models/demo/MODEL_CARD.md");
    let before = sha(&card);
    let t = std::time::Instant::now();
    // Explicitly, and by default when the user data folder would resolve into models/.
    for args in [
        vec![
            "train",
            "--preset",
            "demo",
            "--quick",
            "--out",
            "models/demo",
        ],
        vec!["train", "pacl", "--quick", "--out", "models/pacl-new"],
        vec!["train", "ea-classifier", "--out", "models/ea-minilm"],
    ] {
        let out = with_data(data.path())
            .current_dir(root())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("refusing to write into the shipped")
                && err.contains("--overwrite-shipped"),
            "{err}"
        );
    }
    let out = artemo()
        .env("ARTEMO_DATA", root())
        .args(["train", "--preset", "demo", "--quick"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to write into the shipped"), "{err}");
    // Refused before any work: no job ever reported progress.
    assert!(!err.contains("%]") && !err.contains("%,"), "{err}");
    eprintln!("refused in {:?}", t.elapsed());
    assert_eq!(sha(&card), before);
    assert!(!root().join("models/pacl-new").exists());
}

/// `annotations split` writes to the user folder; the shipped SPLITS.csv is replaced only
/// with --overwrite-shipped.
#[test]
fn annotations_split_leaves_the_shipped_splits_alone() {
    let data = tempfile::tempdir().unwrap();
    let shipped = root().join("assets/annotations/SPLITS.csv");
    let before = sha(&shipped);
    let out = with_data(data.path())
        .args(["annotations", "split", "--seed", "7"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.path().join("annotations/SPLITS.csv").is_file());
    assert_eq!(sha(&shipped), before);
    let out = with_data(data.path())
        .args(["annotations", "split", "--seed", "7", "--out"])
        .arg(&shipped)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing to write into the shipped"), "{err}");
    assert_eq!(sha(&shipped), before);
    // rasterize and overlay refuse the shipped folders too.
    for cmd in ["rasterize", "overlay"] {
        let out = with_data(data.path())
            .args(["annotations", cmd, "--out"])
            .arg(root().join("assets/annotations/x"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
    }
    assert!(!root().join("assets/annotations/x").exists());
}

/// `models verify` covers the demo kit's evaluation reports.
#[test]
fn models_verify_covers_the_demo_reports() {
    let out = artemo().args(["models", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let block = stdout
        .split("demo-eval")
        .nth(1)
        .unwrap_or_else(|| panic!("no demo-eval entry in\n{stdout}"));
    // Every listed report verified: "files: N/N verified" (36 since the pixels-only and
    // EmoSEM reports joined the kit's evaluation).
    let counts = block
        .split("files: ")
        .nth(1)
        .and_then(|r| r.split_once(" verified"))
        .map(|(c, _)| c.to_string())
        .unwrap_or_else(|| panic!("no file count in {block}"));
    let (a, b) = counts.split_once('/').unwrap();
    assert_eq!(a, b, "{block}");
    assert!(a.parse::<usize>().unwrap() >= 36, "{block}");
}

/// ARTEMO_MODELS / ARTEMO_ASSETS pointing at a missing or wrong folder is an error, not
/// a fallback to the checkout's folders.
#[test]
fn artemo_env_folders_that_are_missing_are_errors() {
    let empty = tempfile::tempdir().unwrap();
    for (var, val) in [
        ("ARTEMO_MODELS", PathBuf::from("/nonexistent/artemo-models")),
        ("ARTEMO_ASSETS", empty.path().to_path_buf()),
    ] {
        let out = artemo()
            .env(var, &val)
            .args(["models", "list"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{var}: {err}");
        assert!(
            err.contains(var) && err.contains(&val.display().to_string()),
            "{err}"
        );
    }
}

/// A JPEG cut to 30 %: `collection info --check` reports it, `analyze` warns (text and
/// JSON) and `--strict` refuses it; a folder as image is named a folder.
#[test]
fn truncated_jpeg_is_reported_and_a_folder_is_not_an_image() {
    let d = tempfile::tempdir().unwrap();
    // Busy content, so that the scan data (not the header) is most of the file.
    let img = image::RgbImage::from_fn(480, 320, |x, y| {
        let h = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).rotate_left(x % 13);
        image::Rgb([h as u8, (h >> 8) as u8, (h >> 16) as u8])
    });
    let full = d.path().join("full.jpg");
    img.save(&full).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    let dir = d.path().join("coll");
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 10]).unwrap();
    let out = artemo()
        .args(["collection", "info", "--check"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("cut.jpg") && stdout.contains("truncated"),
        "{stdout}"
    );

    let out = artemo()
        .args(["--strict", "analyze"])
        .arg(&cut)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("truncated JPEG") && err.contains("--strict"),
        "{err}"
    );

    let out = artemo()
        .args(["analyze", "--json"])
        .arg(&cut)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning:") && err.contains("truncated JPEG"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v[0]["warnings"][0].as_str().unwrap().contains("truncated"),
        "{v}"
    );

    let out = artemo().arg("analyze").arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a folder, not an image file"), "{err}");
}

/// A model folder of the other model is named for what it holds.
#[test]
fn weights_of_the_other_model_are_named() {
    let img = root().join("assets/paintings/aic/100026.jpg");
    for (model, weights, holds, wants) in [
        ("sevlm", "models/demo/emosem", "EmoSEM", "SEVLM"),
        ("emosem", "models/demo/sevlm", "SEVLM", "EmoSEM"),
    ] {
        let out = artemo()
            .args(["analyze", "--model", model, "--weights"])
            .arg(root().join(weights))
            .arg(&img)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("holds {holds} weights"))
                && err.contains(&format!("{wants} weights are expected")),
            "{err}"
        );
    }
}

/// Invalid decoding options are refused by the argument parser.
#[test]
fn invalid_decoding_options_are_refused() {
    let img = root().join("assets/paintings/aic/100026.jpg");
    for args in [
        ["--temperature", "-1"],
        ["--temperature", "NaN"],
        ["--temperature", "inf"],
        ["--top-p", "0"],
        ["--top-p", "1.5"],
        ["--max-tokens", "0"],
    ] {
        let out = artemo()
            .args(["analyze", "--sample"])
            .args(args)
            .arg(&img)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(args[0]), "{err}");
    }
}

/// `embed --out x.txt` is refused before any work; the shipped folders are refused too.
#[test]
fn embed_refuses_a_bad_output_before_work() {
    let d = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let out = artemo()
        .arg("embed")
        .arg(root().join("assets/paintings/aic/paintings.csv"))
        .arg("--out")
        .arg(d.path().join("x.txt"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(".npy or .csv"), "{err}");
    // Refused before any work: no job ever reported progress.
    assert!(!err.contains("%]") && !err.contains("%,"), "{err}");
    eprintln!("refused in {:?}", t.elapsed());
    let out = artemo()
        .arg("embed")
        .arg(root().join("assets/paintings/aic/paintings.csv"))
        .arg("--out")
        .arg(root().join("models/e.npy"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!root().join("models/e.npy").exists());
}

/// Duplicate ArtEmis rows are reported by `import artemis` with their row numbers.
#[test]
fn import_artemis_reports_duplicate_rows() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("a.csv");
    std::fs::write(
        &csv,
        "art_style,painting,emotion,utterance,repetition\n\
         Baroque,p1,awe,a vast sky,1\n\
         Baroque,p2,fear,dark water,1\n\
         Baroque,p1,awe,a vast sky,1\n",
    )
    .unwrap();
    let out = artemo()
        .args(["import", "artemis", "--json"])
        .arg(&csv)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("row 4 repeats row 2"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["duplicates"], serde_json::json!([[4, 2]]));
}

/// `train session` runs the one training engine from the command line: a two-step EmoSEM
/// session prints its evaluation and keeps its best checkpoint; an output folder in the
/// shipped models is refused before any work, and so is a collection for SEVLM.
#[test]
fn train_session_runs_the_one_engine_and_refuses_shipped_folders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = artemo()
        .args([
            "train",
            "session",
            "--model",
            "emosem",
            "--max-paintings",
            "2",
            "--steps",
            "2",
            "--eval-every",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("evaluation at step 2: ") && stdout.contains("mean IoU"),
        "{stdout}"
    );
    assert!(stdout.contains("finished after 2 of 2 steps"), "{stdout}");
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    assert_eq!(
        (best["metric"].as_str(), best["step"].as_u64()),
        (Some("mean IoU"), Some(2))
    );

    let shipped = root().join("models/demo/session-run");
    let o = artemo()
        .args(["train", "session", "--model", "pacl", "--out"])
        .arg(&shipped)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing"), "{err}");
    // Refused before any work: no job ever reported progress.
    assert!(!err.contains("%]") && !err.contains("%,"), "{err}");
    assert!(!shipped.exists());
    let o = artemo()
        .args(["train", "session", "--model", "sevlm", "--collection", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--collection is for PACL"), "{err}");
}

/// EmoSEM explanations: `--sample` (SEVLM's flags) is reproducible by seed and differs
/// from `--greedy`; the demo model's own setting (no flag) is greedy; the two flags
/// conflict.
#[test]
fn emosem_analysis_samples_by_seed_or_decodes_greedily() {
    let img = root().join("assets/paintings/aic/100026.jpg");
    let run = |extra: &[&str]| {
        let o = artemo()
            .args(["analyze", "--model", "emosem", "--single", "fear"])
            .args(extra)
            .arg(&img)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = out
            .lines()
            .find(|l| l.starts_with("fear "))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string();
        (out, line)
    };
    let (out, a) = run(&["--sample", "--top-p", "0.9", "--seed", "3"]);
    assert!(
        out.contains("explanations: nucleus p=0.9 T=1 seed=3"),
        "{out}"
    );
    assert_eq!(a, run(&["--sample", "--top-p", "0.9", "--seed", "3"]).1);
    let (out, greedy) = run(&["--greedy"]);
    assert!(out.contains("explanations: greedy"), "{out}");
    assert_ne!(a, greedy);
    assert_eq!(run(&[]).1, greedy);
    let o = artemo()
        .args(["analyze", "--model", "emosem", "--greedy", "--sample"])
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}
