//! Training EmoSEM in the paper's layout (`artemo train emosem --config paper`, the Train
//! tab's "paper layout"): the installed (or given) SAM ViT-B / MobileSAM, CLIP ViT-B/16 and
//! GPT-2 / distilgpt2 checkpoints are found or refused by name, the model is built over
//! them ([`EmosemConfig`] from the checkpoints' own sizes, SAM's mask decoder and GPT-2's
//! blocks loaded by [`super::init_from_pretrained`]), and checkpoints keep only the
//! trainable variables ([`EmosemConfig::trainable_only`]): the frozen rest is read back
//! from the SAM checkpoint the configuration names.
//!
//! The paper's recipe (arXiv 2504.14658, Sec. 4.1 "Implementation Details" and Tab. 3):
//! SAM encoder and feature mixer frozen, AdamW, 4 images per step x 4 accumulation steps =
//! 16, learning rate 2e-4 for the language model and 1e-4 (Single-Mask) or 8e-5
//! (Multi-Masks) for the emotion projector, mask head and prefix projector, 10 epochs
//! ([`paper_train_config`]). [`cpu_train_config`] is a small CPU-feasible recipe.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::train::TrainConfig;
use super::{prompt_ids, Emosem, EmosemConfig, Finetune, ImageSource, Paradigm};
use crate::error::{Error, Result};
use crate::models::gpt2::Gpt2Config;
use crate::models::loading::Weights;
use crate::models::sam::{hf_to_fair, SamConfig, SamLayout};
use crate::tokenize::TextTokenizer;

/// Checkpoints given explicitly (a folder with `model.safetensors`, or the file); `None`:
/// the installed one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaperPaths {
    /// SAM ViT-B or MobileSAM (HF or FAIR layout).
    pub sam: Option<PathBuf>,
    /// CLIP ViT-B/16 (HF `CLIPModel` or `CLIPVisionModel`).
    pub clip: Option<PathBuf>,
    /// GPT-2 or distilgpt2 (HF `GPT2LMHeadModel` with its `config.json`).
    pub gpt2: Option<PathBuf>,
}

/// One part of the paper layout: where it is installed and how to get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperPart {
    /// What it is.
    pub what: &'static str,
    /// Folders under the models folders it is looked for in, in order.
    pub installed_as: &'static [&'static str],
    /// Names for `artemo models download`.
    pub download: &'static [&'static str],
}

/// SAM: ViT-B (the paper's) or MobileSAM.
pub const SAM_PART: PaperPart = PaperPart {
    what: "SAM ViT-B (or MobileSAM)",
    installed_as: &["sam-vit-base", "mobilesam"],
    download: &["sam-vit-b", "mobilesam"],
};
/// CLIP ViT-B/16.
pub const CLIP_PART: PaperPart = PaperPart {
    what: "CLIP ViT-B/16",
    installed_as: &["clip-vit-base-patch16"],
    download: &["clip-b16"],
};
/// GPT-2 (distilgpt2 has the paper's 6 blocks and 12 heads).
pub const GPT2_PART: PaperPart = PaperPart {
    what: "GPT-2 (distilgpt2)",
    installed_as: &["distilgpt2", "gpt2"],
    download: &["distilgpt2"],
};

impl PaperPart {
    /// How to get it, for messages: the download and import commands.
    pub fn how_to_get(&self) -> String {
        let downloads: Vec<String> = self
            .download
            .iter()
            .map(|d| format!("`artemo models download {d}`"))
            .collect();
        format!(
            "{} (or `artemo models import DIR --as {}`, or the Models tab)",
            downloads.join(" or "),
            self.installed_as[0]
        )
    }
}

/// The resolved checkpoints of the paper layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperWeights {
    /// SAM checkpoint (folder or file).
    pub sam: PathBuf,
    /// CLIP checkpoint.
    pub clip: PathBuf,
    /// GPT-2 checkpoint folder.
    pub gpt2: PathBuf,
}

fn holds_weights(p: &Path) -> bool {
    p.is_file() || p.join("model.safetensors").is_file() || p.join("pytorch_model.bin").is_file()
}

/// The installed folder of `part`: the user's models folder first, then `models`.
pub fn installed(part: &PaperPart, models: &Path) -> Option<PathBuf> {
    let user = crate::user_models_dir().filter(|u| u.is_dir());
    part.installed_as.iter().find_map(|rel| {
        user.iter()
            .map(|u| u.join(rel))
            .chain([models.join(rel)])
            .find(|d| d.join("model.safetensors").is_file())
    })
}

/// The parts that are neither given nor installed, each with how to get it; a given path
/// that holds no weights is reported as such.
pub fn missing(paths: &PaperPaths, models: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (part, given, flag) in [
        (&SAM_PART, &paths.sam, "--sam"),
        (&CLIP_PART, &paths.clip, "--clip"),
        (&GPT2_PART, &paths.gpt2, "--gpt2"),
    ] {
        match given {
            Some(p) if !holds_weights(p) => out.push(format!(
                "{}: {} ({flag}) holds no weights (model.safetensors or pytorch_model.bin)",
                part.what,
                p.display()
            )),
            Some(_) => {}
            None if installed(part, models).is_none() => out.push(format!(
                "{}: not installed (looked for {} in the models folders); get it with {}",
                part.what,
                part.installed_as.join(", "),
                part.how_to_get()
            )),
            None => {}
        }
    }
    out
}

/// The checkpoints to train over, or a refusal naming every missing one and how to get it.
pub fn locate(paths: &PaperPaths, models: &Path) -> Result<PaperWeights> {
    let miss = missing(paths, models);
    if !miss.is_empty() {
        return Err(Error::Invalid(format!(
            "EmoSEM's paper layout needs weights that are missing:\n  - {}",
            miss.join("\n  - ")
        )));
    }
    let pick = |given: &Option<PathBuf>, part: &PaperPart| -> Result<PathBuf> {
        given
            .clone()
            .or_else(|| installed(part, models))
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .ok_or_else(|| Error::Invalid(format!("{} is not installed", part.what)))
    };
    Ok(PaperWeights {
        sam: pick(&paths.sam, &SAM_PART)?,
        clip: pick(&paths.clip, &CLIP_PART)?,
        gpt2: pick(&paths.gpt2, &GPT2_PART)?,
    })
}

/// A SAM checkpoint's configuration and its tensors under FAIR names (a Hugging Face
/// checkpoint is renamed; its `config.json` gives the sizes).
pub fn sam_fair_weights(path: &Path, device: &Device) -> Result<(SamConfig, Weights)> {
    let w = Weights::load(path, device)?;
    match SamLayout::detect(w.names()) {
        Some(SamLayout::HuggingFace) => {
            let dir = if path.is_dir() {
                path
            } else {
                path.parent().unwrap_or(Path::new("."))
            };
            let cfg = SamConfig::from_hf_json(&dir.join("config.json"))?;
            let depth = cfg.mask_decoder.iou_head_depth;
            Ok((cfg, hf_to_fair(w, depth)))
        }
        Some(SamLayout::Fair) => Ok((SamConfig::infer_fair(&w)?, w)),
        None => Err(Error::at(
            path,
            "tensor names",
            "not a SAM checkpoint (neither the FAIR `image_encoder.*` nor the Hugging Face `vision_encoder.*` layout)",
        )),
    }
}

/// The frozen and pretrained parts loaded once for a session.
pub struct PaperParts {
    /// Where they come from.
    pub weights: PaperWeights,
    /// SAM's configuration.
    pub sam_cfg: SamConfig,
    /// SAM's tensors under FAIR names (mask decoder and prompt encoder initialise EmoSEM).
    pub sam: Weights,
    /// GPT-2's configuration (`config.json`).
    pub gpt2_cfg: Gpt2Config,
    /// GPT-2's tensors.
    pub gpt2: Weights,
    /// CLIP's grid width (the explainer's memory).
    pub clip_width: usize,
}

impl PaperParts {
    /// Loads SAM's and GPT-2's tensors; `clip_width` is the loaded CLIP tower's width.
    pub fn load(weights: PaperWeights, clip_width: usize, device: &Device) -> Result<Self> {
        let (sam_cfg, sam) = sam_fair_weights(&weights.sam, device)?;
        let gdir = if weights.gpt2.is_dir() {
            weights.gpt2.clone()
        } else {
            weights
                .gpt2
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf()
        };
        let gpt2_cfg = Gpt2Config::load(&gdir.join("config.json"))?;
        let gpt2 = Weights::load(&weights.gpt2, device)?;
        Ok(PaperParts {
            weights,
            sam_cfg,
            sam,
            gpt2_cfg,
            gpt2,
            clip_width,
        })
    }

    /// The model's configuration: the paper's ([`EmosemConfig::paper`]) with the sizes of
    /// these checkpoints (SAM's prompt encoder and mask decoder, GPT-2's blocks with
    /// cross-attention added, CLIP's width), checkpoints of the trainable variables only.
    pub fn config(&self, paradigm: Paradigm, finetune: Finetune) -> EmosemConfig {
        let base = EmosemConfig::paper(paradigm);
        let text = |p: &Path| p.to_string_lossy().into_owned();
        EmosemConfig {
            image: ImageSource::Paper {
                sam: text(&self.weights.sam),
                clip: text(&self.weights.clip),
            },
            prompt_encoder: self.sam_cfg.prompt_encoder.clone(),
            mask_decoder: self.sam_cfg.mask_decoder.clone(),
            explainer: Gpt2Config {
                add_cross_attention: true,
                ..self.gpt2_cfg.clone()
            },
            memory_dim: self.clip_width,
            // The paper's N = 2 blocks (SAM's decoder has 2); fewer only for a smaller SAM.
            mixer_blocks: base
                .mixer_blocks
                .min(self.sam_cfg.mask_decoder.num_hidden_layers.max(1)),
            prefix_hidden: self.gpt2_cfg.n_embd,
            finetune,
            trainable_only: true,
            ..base
        }
    }

    /// A new model over these parts: fresh variables (seeded), then SAM's mask decoder and
    /// prompt encoder and GPT-2's blocks ([`super::init_from_pretrained`]).
    pub fn build(
        &self,
        paradigm: Paradigm,
        finetune: Finetune,
        seed: u64,
        tok: &TextTokenizer,
        device: &Device,
    ) -> Result<(Emosem, VarMap, EmosemConfig)> {
        let cfg = self.config(paradigm, finetune);
        cfg.validate()?;
        let prompts = prompt_ids(&cfg, tok)?;
        let vm = VarMap::new();
        Emosem::from_varmap(&cfg, &vm, prompts.clone(), device)?;
        crate::models::nn::reseed(&vm, seed)?;
        super::init_from_pretrained(&cfg, &vm, Some(&self.sam), Some(&self.gpt2))?;
        let model = Emosem::from_varmap(&cfg, &vm, prompts, device)?;
        Ok((model, vm, cfg))
    }
}

/// The SAM checkpoint a configuration names: absolute as written, otherwise looked for in
/// the user's models folder, then the shipped one.
fn sam_path(cfg: &EmosemConfig, file: &Path) -> Result<PathBuf> {
    let ImageSource::Paper { sam, .. } = &cfg.image else {
        return Err(Error::at(
            file,
            "EmoSEM configuration",
            "`trainable_only` needs the paper image source (SAM) for the frozen variables",
        ));
    };
    let p = PathBuf::from(sam);
    if p.is_absolute() {
        return Ok(p);
    }
    [crate::user_models_dir(), crate::find_models()]
        .into_iter()
        .flatten()
        .map(|root| root.join(&p))
        .find(|d| holds_weights(d))
        .ok_or_else(|| {
            Error::at(
                file,
                "EmoSEM configuration",
                format!(
                    "the SAM checkpoint `{sam}` that holds the frozen variables is not installed; get it with {}",
                    SAM_PART.how_to_get()
                ),
            )
        })
}

/// Fills `vm` (built for `cfg`) from a model folder: every variable from its
/// `model.safetensors`, or, for a `trainable_only` configuration, the frozen variables from
/// the SAM checkpoint the configuration names and the trainable ones from the folder. A
/// variable found in neither is an error naming the file and the tensor.
pub fn fill_model_vars(cfg: &EmosemConfig, vm: &VarMap, dir: &Path, device: &Device) -> Result<()> {
    let file = dir.join("model.safetensors");
    let w = Weights::load(&file, device)?;
    if !cfg.trainable_only {
        return crate::train::fill_from_checkpoint(&w, vm, &file);
    }
    let sam_file = sam_path(cfg, &dir.join("config.json"))?;
    let (_, sam) = sam_fair_weights(&sam_file, device)?;
    let from_sam: HashSet<String> = super::init_from_pretrained(cfg, vm, Some(&sam), None)?
        .into_iter()
        .collect();
    let report = w.load_into(vm)?;
    let from_ckpt: HashSet<&String> = report.loaded.iter().collect();
    let names: Vec<String> = {
        let data = vm
            .data()
            .lock()
            .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
        data.keys().cloned().collect()
    };
    for name in names {
        let ok = if cfg.is_trainable(&name) {
            from_ckpt.contains(&name)
        } else {
            from_sam.contains(&name) || from_ckpt.contains(&name)
        };
        if !ok {
            let (where_, what) = if cfg.is_trainable(&name) {
                (
                    file.clone(),
                    "a trainable variable missing from the checkpoint",
                )
            } else {
                (
                    sam_file.clone(),
                    "a frozen variable missing from the SAM checkpoint",
                )
            };
            return Err(Error::at(&where_, format!("tensor `{name}`"), what));
        }
    }
    Ok(())
}

/// Loads a model folder: [`fill_model_vars`] into fresh variables, then the model over them.
pub fn load_model(dir: &Path, tok: &TextTokenizer, device: &Device) -> Result<Emosem> {
    let cfg = EmosemConfig::load(&dir.join("config.json"))?;
    let prompts = prompt_ids(&cfg, tok)?;
    let vm = VarMap::new();
    Emosem::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, device),
        prompts.clone(),
    )?;
    fill_model_vars(&cfg, &vm, dir, device)?;
    Emosem::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, device),
        prompts,
    )
}

/// The paper's optimisation (Sec. 4.1): 4 images per step x 4 accumulation steps = 16,
/// learning rate 2e-4 for the language model, 1e-4 (Single-Mask) / 8e-5 (Multi-Masks) for
/// the rest (the default of [`TrainConfig::lr_mask`]), 10 epochs (Tab. 3). Weight decay
/// (0.01, PyTorch's AdamW default), no warm-up, clipping at 1 and the seed are not in the
/// paper and stay Artemo's.
pub fn paper_train_config() -> TrainConfig {
    TrainConfig {
        epochs: Some(10),
        batch_images: 4,
        accumulate: 4,
        ..TrainConfig::default()
    }
}

/// A CPU-feasible recipe: 1 image per step x 2 accumulation steps, 60 optimiser steps, the
/// paper's learning rates. A smoke-scale run that shows the pipeline learn on a laptop in
/// minutes (the paper-size model needs ~20 GB of memory per step on the CPU): not the
/// paper's training.
pub fn cpu_train_config() -> TrainConfig {
    TrainConfig {
        steps: 60,
        epochs: None,
        batch_images: 1,
        accumulate: 2,
        ..TrainConfig::default()
    }
}

/// Where a paper-layout session caches the frozen encoders' embeddings:
/// `<user data>/cache/emosem` ([`crate::user_data_dir`]).
pub fn cache_dir() -> Option<PathBuf> {
    crate::user_data_dir().map(|d| d.join("cache").join("emosem"))
}

/// Writes a GPT-2 checkpoint with random weights (seeded) in the Hugging Face layout:
/// `model.safetensors` with `GPT2LMHeadModel`'s names (`transformer.*`) and `config.json`.
/// For tests and for trying the paper layout's pipeline without a download; the model
/// knows no language.
pub fn write_random_gpt2(dir: &Path, cfg: &Gpt2Config, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let vm = VarMap::new();
    crate::models::gpt2::Gpt2::new(
        cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        false,
    )?;
    crate::models::nn::reseed(&vm, seed)?;
    crate::train::save_varmap(&vm, &dir.join("model.safetensors"))?;
    let mut json = serde_json::to_value(cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(o) = json.as_object_mut() {
        o.insert("model_type".into(), "gpt2".into());
        o.insert(
            "architectures".into(),
            serde_json::json!(["GPT2LMHeadModel"]),
        );
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::error::write_atomic(&dir.join("config.json"), text.as_bytes())
}

#[cfg(test)]
mod tests;
