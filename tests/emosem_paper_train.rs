//! `artemo train emosem --config paper` end to end on a tiny paper-layout EmoSEM: real-layout
//! checkpoints with random weights (the parity fixtures' HF SAM and CLIP,
//! `tests/fixtures/parity/{sam/hf,clip}`, and a random GPT-2 with GPT-2's vocabulary written
//! by the engine), trained on the shipped stimulus regions. The loss falls, the
//! checkpoint holds only the trainable variables, the SAM embeddings are cached once per
//! image, training continues from the checkpoint and `analyze` reloads it. Missing
//! weights are refused by name. (Frozen parts bit-identical, IoU rising on training shapes
//! and identical masks after reload: `engine/src/emosem/paper_train.rs`'s tests.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use artemo_engine::emosem::paper_train::write_random_gpt2;
use artemo_engine::models::gpt2::Gpt2Config;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn artemo(data: &Path, models: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_artemo"));
    c.env("ARTEMO_ASSETS", root().join("assets"))
        .env("ARTEMO_MODELS", models)
        .env("ARTEMO_DATA", data)
        .args(["--threads", "2"]);
    c
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The tensor names of a safetensors file (its JSON header).
fn tensor_names(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

fn files_under(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push((p.clone(), e.metadata().unwrap().modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The mask losses of `step N (epoch E): ... · mask loss X` lines.
fn mask_losses(stdout: &str) -> Vec<f64> {
    stdout
        .lines()
        .filter(|l| l.starts_with("step "))
        .filter_map(|l| l.split("mask loss ").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn a_tiny_paper_layout_trains_from_the_cli_and_its_checkpoint_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, models) = (tmp.path().join("data"), tmp.path().join("models"));
    std::fs::create_dir_all(&models).unwrap();
    // An empty models folder (nothing installed).
    std::fs::write(models.join("MODELS.toml"), "").unwrap();
    let gpt2 = tmp.path().join("gpt2");
    let gcfg = Gpt2Config {
        n_positions: 40,
        n_embd: 16,
        n_layer: 1,
        n_head: 2,
        ..Gpt2Config::distilgpt2(false)
    };
    write_random_gpt2(&gpt2, &gcfg, 3).unwrap();
    let fixtures = root().join("tests/fixtures/parity");
    let run = tmp.path().join("run");
    let out = artemo(&data, &models)
        .args(["train", "emosem", "--config", "paper", "--sam"])
        .arg(fixtures.join("sam/hf"))
        .arg("--clip")
        .arg(fixtures.join("clip"))
        .arg("--gpt2")
        .arg(&gpt2)
        .args([
            "--max-paintings",
            "4",
            "--batch",
            "2",
            "--accumulate",
            "2",
            "--steps",
            "20",
            "--eval-every",
            "20",
            "--lr-mask",
            "1e-2",
            "--lr-explainer",
            "1e-3",
            "--print-steps",
            "--out",
        ])
        .arg(&run)
        .output()
        .unwrap();
    let stdout = ok(&out);
    for want in [
        "Single-Mask, paper layout",
        "FT-MH",
        "2 image(s) per step x 2 accumulation step(s) = 4 per optimiser step",
        "checkpoints hold the trainable variables only",
        "evaluation at step 20",
        "mean IoU",
    ] {
        assert!(stdout.contains(want), "{want}:\n{stdout}");
    }
    let losses = mask_losses(&stdout);
    assert_eq!(losses.len(), 20, "{stdout}");
    let head: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let tail: f64 = losses[15..].iter().sum::<f64>() / 5.0;
    assert!(tail < head, "mask loss {head} -> {tail}\n{stdout}");

    // The best checkpoint: the configuration and the trainable variables only.
    let best = stdout
        .lines()
        .find_map(|l| l.strip_prefix("best checkpoint: "))
        .and_then(|l| l.split(" (step").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no best checkpoint:\n{stdout}"));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(best.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["trainable_only"], true);
    assert_eq!(cfg["paradigm"], "single");
    assert_eq!(cfg["finetune"], "mask_head");
    let names = tensor_names(&best.join("model.safetensors"));
    assert!(names
        .iter()
        .any(|n| n.starts_with("mask_head.hypernetworks.0.")));
    assert!(names
        .iter()
        .any(|n| n.starts_with("explainer.transformer.h.0.crossattention.")));
    for frozen in [
        "prompt_encoder.",
        "mask_decoder.transformer.",
        "image_encoder.",
    ] {
        assert!(!names.iter().any(|n| n.starts_with(frozen)), "{frozen}");
    }

    // Each image's SAM and CLIP embeddings were cached once; continuing from the
    // checkpoint reads them back without rewriting any.
    let cache = data.join("cache/emosem");
    let cached = files_under(&cache);
    let sam = cached
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("emosem-sam-1024"))
        .count();
    assert!((2..=8).contains(&sam), "{cached:?}");
    let again = artemo(&data, &models)
        .args(["train", "emosem", "--checkpoint"])
        .arg(&best)
        .args([
            "--max-paintings",
            "4",
            "--batch",
            "1",
            "--steps",
            "2",
            "--eval-every",
            "2",
            "--out",
        ])
        .arg(tmp.path().join("run2"))
        .output()
        .unwrap();
    let stdout2 = ok(&again);
    assert!(stdout2.contains("finished after 2 of 2 steps"), "{stdout2}");
    assert_eq!(files_under(&cache), cached);

    // `analyze` loads the checkpoint (frozen variables from the SAM it names).
    let image = root().join("assets/paintings/aic");
    let painting = std::fs::read_dir(&image)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .unwrap();
    let masks = tmp.path().join("masks");
    let an = artemo(&data, &models)
        .arg("analyze")
        .arg(&painting)
        .args(["--model", "emosem", "--weights"])
        .arg(&best)
        .args(["--single", "awe", "--greedy", "--out"])
        .arg(&masks)
        .output()
        .unwrap();
    ok(&an);
    assert!(std::fs::read_dir(&masks).unwrap().count() > 0);
}

#[test]
fn the_paper_layout_without_weights_is_refused_naming_each_part() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, models) = (tmp.path().join("data"), tmp.path().join("models"));
    std::fs::create_dir_all(&models).unwrap();
    // An empty models folder (nothing installed).
    std::fs::write(models.join("MODELS.toml"), "").unwrap();
    let out = artemo(&data, &models)
        .args(["train", "emosem", "--config", "paper"])
        .arg("--out")
        .arg(tmp.path().join("run"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for want in [
        "SAM ViT-B (or MobileSAM)",
        "artemo models download sam-vit-b",
        "CLIP ViT-B/16",
        "artemo models download clip-b16",
        "GPT-2 (distilgpt2)",
        "artemo models download distilgpt2",
        "artemo models import",
    ] {
        assert!(stderr.contains(want), "{want}:\n{stderr}");
    }
}
