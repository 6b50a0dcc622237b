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
mod tests {
    use super::*;
    use crate::emosem::features::{ImageEncoder, ImageFeatures};
    use crate::emosem::train::{accumulate_gradients, Target, TrainItem, Trainer};
    use crate::emosem::{Query, EMOTIONS};
    use crate::emotion::Emotion;
    use crate::models::nn::Mode;
    use candle_core::Tensor;

    fn fixture(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/parity")
            .join(p)
    }

    /// A tiny random GPT-2 with GPT-2's vocabulary (the explainer decodes BPE ids).
    pub(crate) fn tiny_gpt2() -> Gpt2Config {
        Gpt2Config {
            n_positions: 40,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            ..Gpt2Config::distilgpt2(false)
        }
    }

    #[test]
    fn missing_weights_are_refused_by_name_with_how_to_get_them() {
        let tmp = tempfile::tempdir().unwrap();
        let given = PaperPaths {
            sam: Some(tmp.path().join("no-sam")),
            clip: Some(tmp.path().join("no-clip")),
            gpt2: Some(tmp.path().join("no-gpt2")),
        };
        let e = locate(&given, tmp.path()).unwrap_err().to_string();
        for what in [
            "SAM ViT-B",
            "CLIP ViT-B/16",
            "GPT-2",
            "no-sam",
            "--clip",
            "--gpt2",
        ] {
            assert!(e.contains(what), "{what}: {e}");
        }
        // Nothing given: each part not installed anywhere is named with its download.
        let miss = missing(&PaperPaths::default(), tmp.path()).join("\n");
        for (part, cmd) in [
            (&SAM_PART, "artemo models download sam-vit-b"),
            (&CLIP_PART, "artemo models download clip-b16"),
            (&GPT2_PART, "artemo models download distilgpt2"),
        ] {
            if installed(part, tmp.path()).is_none() {
                assert!(miss.contains(part.what) && miss.contains(cmd), "{miss}");
            }
        }
    }

    #[test]
    fn accumulating_four_micro_batches_of_one_equals_one_batch_of_four() {
        let dev = Device::Cpu;
        let cfg = crate::emosem::tests::tiny(Paradigm::Single, 4, 8);
        let vm = VarMap::new();
        Emosem::from_varmap(&cfg, &vm, crate::emosem::tests::fake_prompts(), &dev).unwrap();
        crate::models::nn::reseed(&vm, 5).unwrap();
        let model =
            Emosem::from_varmap(&cfg, &vm, crate::emosem::tests::fake_prompts(), &dev).unwrap();
        let side = cfg.mask_side();
        let items: Vec<TrainItem> = (0..4)
            .map(|i| TrainItem {
                features: ImageFeatures::Grid {
                    grid: Tensor::randn(0f32, 1.0, (1, 16, 8), &dev).unwrap(),
                },
                targets: vec![Target {
                    emotion: EMOTIONS[i],
                    mask: (0..side * side)
                        .map(|p| ((p % side) < side / 2 + i) as u8 as f32)
                        .collect(),
                    // Equal lengths: the explanation loss is a mean over tokens.
                    tokens: vec![100 + i as u32, 7, 9],
                }],
            })
            .collect();
        let vars = crate::train::vars_with_prefix(&vm, &cfg.trainable_prefixes());
        let all: Vec<&TrainItem> = items.iter().collect();
        let one = accumulate_gradients(&model, std::slice::from_ref(&all), &vars, 1.0).unwrap();
        let micro: Vec<Vec<&TrainItem>> = all.iter().map(|i| vec![*i]).collect();
        let four = accumulate_gradients(&model, &micro, &vars, 1.0).unwrap();
        assert!((one.mask_loss - four.mask_loss).abs() < 1e-5);
        assert!((one.lm_loss - four.lm_loss).abs() < 1e-5);
        let mut compared = 0;
        for v in &vars {
            let (Some(a), Some(b)) = (one.grads.get(v.as_tensor()), four.grads.get(v.as_tensor()))
            else {
                assert!(one.grads.get(v.as_tensor()).is_none());
                assert!(four.grads.get(v.as_tensor()).is_none());
                continue;
            };
            let scale = a
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let diff = crate::models::tests::max_diff(a, b);
            assert!(diff <= 1e-5 * scale.max(1e-3), "{diff} vs {scale}");
            compared += 1;
        }
        assert!(compared > 10, "{compared} gradients compared");
    }

    /// A 32 x 32 picture: dark, with a bright 16 x 16 square at (`x`, `y`).
    fn square(path: &Path, x: u32, y: u32) {
        image::RgbImage::from_fn(32, 32, |px, py| {
            let inside = (x..x + 16).contains(&px) && (y..y + 16).contains(&py);
            if inside {
                image::Rgb([240, 220, 60])
            } else {
                image::Rgb([20, 30, 60 + (px as u8)])
            }
        })
        .save(path)
        .unwrap();
    }

    fn mean_iou(model: &Emosem, items: &[TrainItem]) -> f64 {
        let mut sum = 0.0;
        for it in items {
            let vision = model.vision_tokens(&it.features).unwrap();
            let q = [Query {
                image: 0,
                emotion: it.targets[0].emotion,
            }];
            let d = model.decode(&vision, &q, Mode::Infer).unwrap();
            let logits: Vec<f32> = d.masks.flatten_all().unwrap().to_vec1().unwrap();
            let (mut inter, mut union) = (0f64, 0f64);
            for (l, t) in logits.iter().zip(&it.targets[0].mask) {
                let (p, t) = (*l > 0.0, *t > 0.5);
                inter += (p && t) as u8 as f64;
                union += (p || t) as u8 as f64;
            }
            sum += if union > 0.0 { inter / union } else { 1.0 };
        }
        sum / items.len() as f64
    }

    /// Reference for the layout: the paper's Sec. 4.1 (SAM encoder and feature mixer
    /// frozen, FT-MH) over real-layout checkpoints: the parity fixtures' tiny random SAM
    /// (`tests/fixtures/parity/sam/hf`, HF `SamModel`) and CLIP (`.../clip`, HF
    /// `CLIPModel`), and a random GPT-2 written by [`write_random_gpt2`].
    #[test]
    fn a_tiny_paper_layout_learns_keeps_its_frozen_parts_and_reloads() {
        let dev = Device::Cpu;
        let tmp = tempfile::tempdir().unwrap();
        let assets = crate::find_assets().expect("assets");
        let tok = TextTokenizer::gpt2_from_assets(&assets).unwrap();
        write_random_gpt2(&tmp.path().join("gpt2"), &tiny_gpt2(), 3).unwrap();
        let weights = locate(
            &PaperPaths {
                sam: Some(fixture("sam/hf")),
                clip: Some(fixture("clip")),
                gpt2: Some(tmp.path().join("gpt2")),
            },
            tmp.path(),
        )
        .unwrap();
        let source = ImageSource::Paper {
            sam: weights.sam.to_string_lossy().into_owned(),
            clip: weights.clip.to_string_lossy().into_owned(),
        };
        let cache = tmp.path().join("cache");
        let encoder = ImageEncoder::open(&source, tmp.path(), Some(&cache), &dev).unwrap();
        let ImageEncoder::Paper { clip, .. } = &encoder else {
            panic!("paper encoder expected")
        };
        let parts = PaperParts::load(weights, clip.config().hidden_size, &dev).unwrap();
        let (model, vm, cfg) = parts
            .build(Paradigm::Single, Finetune::MaskHead, 11, &tok, &dev)
            .unwrap();
        assert_eq!(cfg.mask_side(), 16);
        assert!(cfg.trainable_only);

        // Six pictures, each with its bright square as an "awe" region.
        let spots = [(0, 0), (16, 0), (0, 16), (16, 16), (8, 8), (16, 8)];
        let mut items = Vec::new();
        for (i, (x, y)) in spots.iter().enumerate() {
            let p = tmp.path().join(format!("p{i}.png"));
            square(&p, *x, *y);
            let features = encoder.encode_file(&p, &dev).unwrap();
            let mask = (0..16 * 16)
                .map(|k| {
                    let (cx, cy) = ((k % 16) as u32 * 2, (k / 16) as u32 * 2);
                    ((*x..x + 16).contains(&cx) && (*y..y + 16).contains(&cy)) as u8 as f32
                })
                .collect();
            items.push(TrainItem {
                features,
                targets: vec![Target {
                    emotion: Emotion::Awe,
                    mask,
                    tokens: tok.encode("a bright square").unwrap(),
                }],
            });
        }
        // Each image was encoded once and is read back from the cache.
        let entries = |tag: &str| {
            walk(&cache.join(tag))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "emb"))
                .count()
        };
        assert_eq!(entries("emosem-sam-1024"), spots.len());
        assert_eq!(entries("emosem-clip-grid-224"), spots.len());
        let again = encoder
            .encode_file(&tmp.path().join("p0.png"), &dev)
            .unwrap();
        let (ImageFeatures::Paper { sam: a, .. }, ImageFeatures::Paper { sam: b, .. }) =
            (&again, &items[0].features)
        else {
            panic!("paper features expected")
        };
        assert_eq!(crate::models::tests::max_diff(a, b), 0.0);
        assert_eq!(entries("emosem-sam-1024"), spots.len());

        // Nothing of SAM's image encoder or of CLIP is a variable; the frozen ones are
        // SAM's prompt encoder and mask decoder outside the mask head.
        let frozen: Vec<(String, Vec<f32>)> = {
            let data = vm.data().lock().unwrap();
            assert!(data
                .keys()
                .all(|k| !k.starts_with("image_encoder.") && !k.starts_with("vision_model.")));
            let mut f: Vec<_> = data
                .iter()
                .filter(|(k, _)| !cfg.is_trainable(k))
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
                    )
                })
                .collect();
            f.sort_by(|a, b| a.0.cmp(&b.0));
            f
        };
        assert!(frozen
            .iter()
            .any(|(k, _)| k.starts_with("mask_decoder.transformer.layers.0.")));
        assert!(frozen.iter().any(|(k, _)| k.starts_with("prompt_encoder.")));

        let before = mean_iou(&model, &items);
        let tc = TrainConfig {
            steps: 40,
            batch_images: 2,
            accumulate: 2,
            lr_mask: Some(5e-3),
            lr_explainer: 1e-3,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(&cfg, &vm, &tc).unwrap();
        let mut losses = Vec::new();
        while trainer.has_next() {
            losses.push(trainer.step(&model, &items).unwrap().mask_loss);
        }
        let head: f32 = losses[..5].iter().sum::<f32>() / 5.0;
        let tail: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
        assert!(tail < head * 0.9, "mask loss {head} -> {tail}");
        let after = mean_iou(&model, &items);
        assert!(after > before + 0.2, "IoU {before} -> {after}");
        {
            let data = vm.data().lock().unwrap();
            for (k, v) in &frozen {
                let now: Vec<f32> = data[k]
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                assert!(
                    now.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{k} changed"
                );
            }
        }

        // The checkpoint holds the trainable variables only and reloads to the same masks.
        let dir = tmp.path().join("ckpt");
        crate::emosem::save(&dir, &cfg, &vm).unwrap();
        let saved = Weights::load(&dir.join("model.safetensors"), &dev).unwrap();
        assert!(saved.names().iter().all(|k| cfg.is_trainable(k)));
        assert!(saved.contains("mask_head.hypernetworks.0.layers.0.weight"));
        let loaded = Emosem::load(&dir, &tok, &dev).unwrap();
        for it in &items {
            let q = [Query {
                image: 0,
                emotion: Emotion::Awe,
            }];
            let m0 = model
                .decode(&model.vision_tokens(&it.features).unwrap(), &q, Mode::Infer)
                .unwrap();
            let m1 = loaded
                .decode(
                    &loaded.vision_tokens(&it.features).unwrap(),
                    &q,
                    Mode::Infer,
                )
                .unwrap();
            assert_eq!(crate::models::tests::max_diff(&m0.masks, &m1.masks), 0.0);
        }
        // A checkpoint whose SAM is gone is refused by name.
        let mut moved = cfg.clone();
        moved.image = ImageSource::Paper {
            sam: tmp.path().join("gone").to_string_lossy().into_owned(),
            clip: String::new(),
        };
        moved.save(&dir.join("config.json")).unwrap();
        let e = Emosem::load(&dir, &tok, &dev).unwrap_err().to_string();
        assert!(e.contains("gone"), "{e}");
    }

    /// MobileSAM (FAIR layout, TinyViT encoder, no `config.json`: the parity fixture
    /// `tests/fixtures/parity/sam/mobilesam`) stands in for SAM ViT-B.
    #[test]
    fn mobilesam_builds_the_paper_layout_and_takes_a_step() {
        let dev = Device::Cpu;
        let tmp = tempfile::tempdir().unwrap();
        let tok = TextTokenizer::gpt2_from_assets(&crate::find_assets().unwrap()).unwrap();
        write_random_gpt2(&tmp.path().join("gpt2"), &tiny_gpt2(), 4).unwrap();
        let weights = locate(
            &PaperPaths {
                sam: Some(fixture("sam/mobilesam")),
                clip: Some(fixture("clip")),
                gpt2: Some(tmp.path().join("gpt2")),
            },
            tmp.path(),
        )
        .unwrap();
        let source = ImageSource::Paper {
            sam: weights.sam.to_string_lossy().into_owned(),
            clip: weights.clip.to_string_lossy().into_owned(),
        };
        let encoder = ImageEncoder::open(&source, tmp.path(), None, &dev).unwrap();
        let parts = PaperParts::load(weights, 32, &dev).unwrap();
        let (model, vm, cfg) = parts
            .build(Paradigm::Multi, Finetune::MaskDecoder, 1, &tok, &dev)
            .unwrap();
        let p = tmp.path().join("p.png");
        square(&p, 8, 8);
        let side = cfg.mask_side();
        let item = TrainItem {
            features: encoder.encode_file(&p, &dev).unwrap(),
            targets: vec![Target {
                emotion: Emotion::Fear,
                mask: (0..side * side).map(|k| (k % 3 == 0) as u8 as f32).collect(),
                tokens: Vec::new(),
            }],
        };
        let mut trainer = Trainer::new(&cfg, &vm, &TrainConfig::default()).unwrap();
        let s = trainer.step(&model, std::slice::from_ref(&item)).unwrap();
        assert!(s.mask_loss.is_finite() && s.mask_loss > 0.0);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.extend(walk(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }
}
