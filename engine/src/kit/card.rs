//! The demo kit's model card (`MODEL_CARD.md`): what was trained on what, sizes, times,
//! and every metric beside the baselines.

use std::collections::BTreeMap;
use std::path::Path;

use super::DemoReport;
use crate::error::Result;

/// A markdown table: one row per metric, one column per system.
fn metric_table(eval: &BTreeMap<String, BTreeMap<String, f64>>, digits: usize) -> String {
    let mut s = String::new();
    let systems: Vec<&String> = eval.keys().collect();
    let mut metrics: Vec<&String> = eval.values().flat_map(|m| m.keys()).collect();
    metrics.sort();
    metrics.dedup();
    s.push_str("| metric |");
    for sys in &systems {
        s.push_str(&format!(" {sys} |"));
    }
    s.push_str("\n|---|");
    for _ in &systems {
        s.push_str("---|");
    }
    s.push('\n');
    for m in metrics {
        s.push_str(&format!("| {m} |"));
        for sys in &systems {
            match eval[*sys].get(m) {
                Some(v) => s.push_str(&format!(" {v:.digits$} |")),
                None => s.push_str(" — |"),
            }
        }
        s.push('\n');
    }
    s
}

/// The model card (`MODEL_CARD.md`): what was trained on what, sizes, times, and every
/// SEVLM and EmoSEM metric beside the baselines (numbers as measured by this run).
pub fn model_card(report: &DemoReport, out: &Path) -> Result<String> {
    let mut s = String::new();
    s.push_str(
        "# Artemo demo models

",
    );
    s.push_str(
        "**Demo models**: small CPU models trained on this repository's shipped assets only \
",
    );
    s.push_str(
        "(267 public-domain paintings, Artemo's own 1,335 annotations, GoEmotions, the pretrained \
",
    );
    s.push_str(
        "all-MiniLM-L6-v2 text encoder). No pretrained vision or language model was used. They \
",
    );
    s.push_str(
        "are far weaker than the papers' models and are shipped so that the application shows \
",
    );
    s.push_str("real, trained output offline. Install real weights to replace them.\n\n");
    s.push_str(&format!(
        "Preset: {} · seed {} · regenerate with `artemo train --preset demo{} --fresh`.\n\n",
        if report.options.quick {
            "quick (smoke test)"
        } else {
            "full"
        },
        report.options.seed,
        if report.options.quick { " --quick" } else { "" }
    ));
    s.push_str("## Models\n\n| folder | what | size |\n|---|---|---|\n");
    for (d, what) in [
        ("pacl", "PACL: patch tower (fixed colour/light/texture descriptors + 4-layer transformer) trained against frozen MiniLM; projections q_v, q_t"),
        ("sevlm", "SEVLM small: GPT-2-layout decoder with cross-attention over the frozen tower grid, VAD encoder and heads, compact vocabulary; pretrained on GoEmotions in SEVLM format, then trained on the annotation train split; explanations decoded with the painting's title words pushed"),
        ("emosem", "EmoSEM small, Multi-Masks: SAM-layout mask decoder (64 wide, trained whole: FT-MD) and a small GPT-2-layout explainer over the frozen tower grid, pretrained on emotion-labelled text (GoEmotions, balanced, and the train utterances); then trained on the stimulus regions of the train split; explanations decoded with emotion guidance"),
    ] {
        s.push_str(&format!(
            "| `{d}/` | {what} | {:.1} MiB |\n",
            dir_bytes(&out.join(d)) as f64 / 1048576.0
        ));
    }
    // SEVLM's VAD lexicon, as its config records it (the stand-in unless NRC VAD was given).
    if let Ok(cfg) = crate::sevlm::SevlmConfig::load(&out.join("sevlm/config.json")) {
        s.push_str(&format!(
            "\nSEVLM's VAD lexicon: {}; prompt {:?}.\n",
            cfg.trained_lexicon_or_assumed().describe(),
            cfg.prompt
        ));
        if cfg.emotion_head.is_some() {
            s.push_str(
                "SEVLM's emotion head is Artemo's demo-kit addition, not in SEVLM (the paper's model has no such head): a linear map of the text embeddings and mean grid whose logits are added to the decoder's at the emotion word (docs/sevlm.md).\n",
            );
        }
    }
    s.push_str("\n## Training time (this machine, 2 CPU threads)\n\n");
    for (k, v) in &report.seconds {
        s.push_str(&format!("- {k}: {:.1} min\n", v / 60.0));
    }
    if !report.seconds.contains_key("pacl") {
        // Resumed after the PACL stage: its time is in its own report.
        let secs = std::fs::read_to_string(out.join("pacl/report.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["train"]["seconds"].as_f64());
        if let Some(secs) = secs {
            s.push_str(&format!(
                "- pacl: {:.1} min (an earlier run of the same preset, resumed here; `pacl/report.json`)\n",
                secs / 60.0
            ));
        }
    }
    s.push_str(&format!(
        "\n## SEVLM on the annotation test split ({} paintings)\n\n",
        report.test_paintings
    ));
    s.push_str(
        "Scored by `artemo eval --task sevlm` (reports in `eval/<system>/`). Baselines: \
",
    );
    s.push_str(
        "*majority* writes the most frequent train emotion with one train explanation of it; \
",
    );
    s.push_str(
        "*chance* a uniformly random emotion with a random train explanation of it; *retrieval* \
",
    );
    s.push_str("copies the first response of the train painting closest in PACL embedding.\n\n");
    s.push_str(&metric_table(&report.sevlm_eval, 4));
    if !report.emosem_eval.is_empty() {
        s.push_str(
            "\n## EmoSEM on the annotation test split\n\n\
             Multi-Masks over the frozen PACL tower grid (14 x 14), masks at 56 x 56, trained on the \
             train split's stimulus regions (Artemo's own polygons). Scored by `artemo eval --task \
             emosem` on every ground-truth region of the test paintings (reports in \
             `eval/emosem/<system>/`; APOLO's rule: min-max normalised score map > 0.35). \
             Baselines: *prior* predicts the train split's mean mask of each emotion (where \
             annotators tend to draw), *chance* seeded uniform noise. The mask head starts \
             from the prior (its output is a residual to the prior's logits, zero at step 0). \
             *emosem* is scored as the Painting tab shows it: refined to the painting's edges \
             with a guided filter (96 px on the long side); ablations: *emosem-coarse* (the \
             56 x 56 map before refinement) and *prior-refined*.\n\n",
        );
        s.push_str(&metric_table(&report.emosem_eval, 3));
        if !report.emosem_explanations.is_empty() {
            s.push_str("\nSample EmoSEM explanations (first test painting, greedy with repeat blocking; the explainer is a small GPT-2 layout trained from scratch on the region utterances, conditioned on each mask's emotion; its text is weak):\n\n");
            let first = &report.emosem_explanations[0].0;
            for (p, e, t) in report.emosem_explanations.iter().filter(|r| &r.0 == first) {
                s.push_str(&format!("- {p} · {e}: \"{t}\"\n"));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(out.join("pacl/report.json")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            let p = &v["probe"];
            s.push_str(&format!(
                "\n## PACL\n\nPartition of the training pairs: {}.\n\nDominant-emotion linear probe on frozen embeddings ({} train / {} test paintings), accuracy / weighted F1:\n\n",
                v["train"]["counts"]["strong"].as_u64().map(|_| v["train"]["counts"].to_string()).unwrap_or_default(),
                p["train"], p["test"]
            ));
            for k in ["pacl", "descriptors", "majority"] {
                s.push_str(&format!(
                    "- {k}: {:.3} / {:.3}\n",
                    p[k]["accuracy"].as_f64().unwrap_or(f64::NAN),
                    p[k]["weighted_f1"].as_f64().unwrap_or(f64::NAN)
                ));
            }
        }
    }
    if let Some(z) = &report.pacl_eval {
        if !s.contains("\n## PACL\n") {
            s.push_str("\n## PACL\n");
        }
        s.push_str(&format!(
            "\nZero-shot over the {} paintings ({} prompt, {} calibration; `eval/pacl/zero_shot.csv`): \
             accuracy {:.3} on {} test paintings (majority {:.3}); largest share {} {:.0} % \
             (bound {:.0} %: 40 %, or the labels' share of that emotion, {:.0} %).\n",
            z.paintings,
            z.prompts,
            z.calibration,
            z.accuracy,
            z.test_paintings,
            z.majority,
            z.largest,
            100.0 * z.largest_share,
            100.0 * z.largest_share_bound(),
            100.0 * z.labels_share
        ));
    }
    Ok(s)
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
