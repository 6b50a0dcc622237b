//! End-to-end tests of the `artemo` command line on the shipped assets.

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
    std::fs::write(d.path().join("MODELS.toml"), "").unwrap();
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
    let out = artemo()
        .env("ARTEMO_MODELS", d.path())
        .args(["models", "import", "/nonexistent/ckpt", "--as", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ckpt"));
}

#[test]
fn models_download_needs_the_hub_feature() {
    if cfg!(feature = "hub") {
        return;
    }
    let out = artemo()
        .args(["models", "download", "distilgpt2", "--as", "d"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without the `hub` feature"));
}
