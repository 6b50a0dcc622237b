//! EmoSEM checkpoint folders: saving (all variables, or the trainable ones only) and
//! initialising from pretrained SAM and GPT-2 checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use candle_nn::VarMap;

use super::EmosemConfig;
use crate::error::{Error, Result};
use crate::models::loading::Weights;

/// Saves a model folder: `config.json` and every variable of `vm` in `model.safetensors`
/// (only the trainable ones when the configuration says [`EmosemConfig::trainable_only`]).
pub fn save(dir: &Path, cfg: &EmosemConfig, vm: &VarMap) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file = dir.join("model.safetensors");
    if cfg.trainable_only {
        let tensors: HashMap<String, Tensor> = {
            let data = vm
                .data()
                .lock()
                .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
            data.iter()
                .filter(|(k, _)| cfg.is_trainable(k))
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect()
        };
        crate::models::loading::save_safetensors(&file, &tensors)?;
    } else {
        crate::train::save_varmap(vm, &file)?;
    }
    cfg.save(&dir.join("config.json"))
}

/// Initialises `vm` (built for `cfg`) from pretrained checkpoints: a SAM checkpoint in FAIR
/// names (`prompt_encoder.*`, `mask_decoder.*`; the hypernetworks and mask tokens start
/// from SAM's single-mask token and hypernetwork 0) and a GPT-2 checkpoint (its
/// `transformer.*` tensors under `explainer.`; cross-attention stays as initialised).
/// Returns the names loaded.
pub fn init_from_pretrained(
    cfg: &EmosemConfig,
    vm: &VarMap,
    sam: Option<&Weights>,
    gpt2: Option<&Weights>,
) -> Result<Vec<String>> {
    let mut loaded = Vec::new();
    if let Some(w) = sam {
        let mut picked: HashMap<String, Tensor> = HashMap::new();
        for name in w.names() {
            if name.starts_with("prompt_encoder.") || name.starts_with("mask_decoder.") {
                picked.insert(name.to_string(), w.get_any(name)?.clone());
            }
            if let Some(rest) = name.strip_prefix("mask_decoder.output_hypernetworks_mlps.0.") {
                for k in 0..cfg.num_mask_tokens() {
                    picked.insert(
                        format!("mask_head.hypernetworks.{k}.{rest}"),
                        w.get_any(name)?.clone(),
                    );
                }
            }
        }
        if let Ok(t) = w.get_any("mask_decoder.mask_tokens.weight") {
            let row = t.narrow(0, 0, 1)?;
            let k = cfg.num_mask_tokens();
            picked.insert("mask_tokens.weight".into(), row.repeat((k, 1))?);
        }
        let r = Weights::from_tensors(picked, w.source()).load_into(vm)?;
        loaded.extend(r.loaded);
    }
    if let Some(w) = gpt2 {
        let mut picked: HashMap<String, Tensor> = HashMap::new();
        for name in w.names() {
            if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") {
                continue;
            }
            let key = if name.starts_with("transformer.") {
                format!("explainer.{name}")
            } else if name.starts_with("lm_head.") {
                continue;
            } else {
                format!("explainer.transformer.{name}")
            };
            picked.insert(key, w.get_any(name)?.clone());
        }
        let r = Weights::from_tensors(picked, w.source()).load_into(vm)?;
        loaded.extend(r.loaded);
    }
    loaded.sort();
    Ok(loaded)
}
