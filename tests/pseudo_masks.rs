//! `artemo annotations pseudo-masks` (kit method: the demo PACL patch tower against
//! MiniLM) on a tiny synthetic ArtEmis CSV over shipped paintings: outputs, the on-disk
//! cache (re-runs reuse it, a damaged entry is recomputed), bad rows, and the training
//! loader reading the result (`annotations stimuli --stimuli pseudo:DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn artemo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_artemo"))
        .env("ARTEMO_ASSETS", root().join("assets"))
        .env("ARTEMO_MODELS", root().join("models"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const CSV: &str = "art_style,painting,emotion,utterance
S,100026,contentment,The chubby little boy with rosy cheeks looks calm.
S,100026,amusement,The toddler peeking over the shoulder makes me smile.
S,100342,awe,The saint in the brown robe gazes upward in devotion.
";

fn run(csv: &Path, out: &Path, extra: &[&str]) -> Output {
    let images = root().join("assets/paintings/aic/paintings.csv");
    let mut args = vec![
        "annotations",
        "pseudo-masks",
        "--artemis",
        s(csv),
        "--images",
        s(&images),
        "--out",
        s(out),
        "--method",
        "kit",
    ];
    args.extend_from_slice(extra);
    artemo(&args)
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

fn masks(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("masks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn kit_pseudo_masks_are_written_cached_and_read_back() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("artemis.csv");
    std::fs::write(&csv, CSV).unwrap();
    let out = d.path().join("pseudo");

    let first = ok(&run(&csv, &out, &[]));
    assert!(
        first.contains("3 masks from 3 rows (3 similarity maps computed, 0 from the cache"),
        "{first}"
    );
    let index = std::fs::read_to_string(out.join("pseudo_masks.csv")).unwrap();
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines[0], "row,painting,emotion,split,image,mask,utterance");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("2,100026,contentment,"), "{index}");
    assert!(lines[3].contains("masks/100342_r4.png"), "{index}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pseudo_masks.json")).unwrap())
            .unwrap();
    assert_eq!(record["method"], "kit");
    assert!(record["model"].as_str().unwrap().starts_with("kit:pacl="));
    let first_masks = masks(&out);
    assert_eq!(first_masks.len(), 3);
    // Each mask is a binary PNG at its image's size with something kept and something not.
    for (name, bytes) in &first_masks {
        let img = image::load_from_memory(bytes).unwrap().to_luma8();
        let on = img.pixels().filter(|p| p[0] > 0).count();
        let size = if name.starts_with("100026") {
            (541, 640)
        } else {
            (460, 640)
        };
        assert_eq!(img.dimensions(), size, "{name}");
        assert!(on > 0 && on < img.pixels().len(), "{name}: {on} pixels on");
    }

    // Re-run: every map from the cache, the same masks.
    let again = ok(&run(&csv, &out, &[]));
    assert!(
        again.contains("0 similarity maps computed, 3 from the cache"),
        "{again}"
    );
    assert_eq!(masks(&out), first_masks);

    // A damaged cache entry is recomputed; the others are reused.
    let cache = out.join("cache");
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&entry, b"not an npy file").unwrap();
    let repaired = ok(&run(&csv, &out, &[]));
    assert!(
        repaired.contains("1 similarity maps computed, 2 from the cache"),
        "{repaired}"
    );
    assert_eq!(masks(&out), first_masks);

    // Another threshold reuses the maps and keeps less.
    let stricter = ok(&run(&csv, &out, &["--threshold", "0.9"]));
    assert!(
        stricter.contains("0 similarity maps computed, 3 from the cache"),
        "{stricter}"
    );
    let on = |m: &[(String, Vec<u8>)]| -> usize {
        m.iter()
            .map(|(_, b)| {
                image::load_from_memory(b)
                    .unwrap()
                    .to_luma8()
                    .pixels()
                    .filter(|p| p[0] > 0)
                    .count()
            })
            .sum()
    };
    assert!(on(&masks(&out)) < on(&first_masks));

    // The training loader reads the folder: 2 paintings, 3 masks with explanations.
    let summary = ok(&artemo(&[
        "annotations",
        "stimuli",
        "--stimuli",
        &format!("pseudo:{}", out.display()),
        "--side",
        "16",
    ]));
    let train = summary.lines().find(|l| l.starts_with("train")).unwrap();
    let cols: Vec<&str> = train.split_whitespace().collect();
    assert_eq!(&cols[1..4], &["2", "3", "3"], "{summary}");
}

#[test]
fn bad_rows_name_the_file_and_row() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("bad.csv");
    let out = d.path().join("o");
    // A painting without an image.
    std::fs::write(
        &csv,
        "art_style,painting,emotion,utterance\nS,100026,awe,big\nS,nope,awe,small\n",
    )
    .unwrap();
    let o = run(&csv, &out, &[]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bad.csv") && e.contains("row 3, field `painting`") && e.contains("`nope`"),
        "{e}"
    );
    // ... skipped on request.
    let skipped = ok(&run(&csv, &out, &["--skip-missing"]));
    assert!(skipped.contains("1 rows skipped"), "{skipped}");
    // An unknown emotion (the ArtEmis reader names the row and field).
    std::fs::write(
        &csv,
        "art_style,painting,emotion,utterance\nS,100026,joy,big\n",
    )
    .unwrap();
    let o = run(&csv, &out, &[]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad.csv") && e.contains("row 2"), "{e}");
    // A bad method is refused.
    let o = artemo(&[
        "annotations",
        "pseudo-masks",
        "--artemis",
        s(&csv),
        "--images",
        s(&root().join("assets/paintings/aic")),
        "--out",
        s(&out),
        "--method",
        "vinvl",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected clip or kit"));
}
