//! Loading the SEVLM reference release (BetterZH/SEVLM-code, NLX-GPT based).
//!
//! A release has, per epoch `<e>`:
//! - `nle_model_<e>/`: `config.json` (HF GPT-2 config plus `len_prefix`, `use_cl_loss`,
//!   `use_VAD_loss`, `encoder_dim`, `add_cross_attention`) and the decoder weights
//!   (`GPT2LMHeadModel` keys: `transformer.*`, `transformer.VAD_linear.*`, `VAD_head.*`,
//!   `sim_mlp.pred.*`, maybe `lm_head.weight`);
//! - `ckpt_stats_<e>.tar`: a PyTorch pickle whose `emo_encoder_state_dict` holds the VAD
//!   encoder.
//!
//! Pickles cannot be read safely outside Python, so `tools/sevlm/convert_reference.py`
//! writes `nle_model_<e>/model.safetensors` (when the release has `pytorch_model.bin`) and
//! `emo_encoder.safetensors`. The key mapping is then a prefix: decoder keys get
//! `decoder.`, VAD-encoder keys get `emo_encoder.` (table in [`crate::sevlm::model`]).

use std::collections::HashMap;
use std::path::Path;

use candle_core::Device;
use serde::Deserialize;

use crate::error::{read_text, Error, Result};
use crate::models::gpt2::Gpt2Config;
use crate::models::loading::Weights;
use crate::sevlm::model::{Sevlm, SevlmConfig};

#[derive(Debug, Deserialize)]
struct ReferenceExtras {
    #[serde(default)]
    len_prefix: Option<usize>,
    #[serde(default)]
    use_cl_loss: Option<bool>,
    #[serde(default, rename = "use_VAD_loss")]
    use_vad_loss: Option<bool>,
    #[serde(default)]
    encoder_dim: Option<usize>,
}

/// Loads a reference release: the decoder folder `nle_model_<e>/` and, when given, the
/// VAD encoder converted to safetensors. Returns the model and its configuration.
pub fn load_reference(
    decoder_dir: &Path,
    emo_encoder: Option<&Path>,
    device: &Device,
) -> Result<(Sevlm, SevlmConfig)> {
    let cfg_path = decoder_dir.join("config.json");
    let text = read_text(&cfg_path)?;
    let extras: ReferenceExtras =
        serde_json::from_str(&text).map_err(|e| Error::parse(&cfg_path, None, e.to_string()))?;
    if extras.len_prefix.unwrap_or(0) > 0 {
        return Err(Error::parse(
            &cfg_path,
            Some("len_prefix".into()),
            "prefix-mapping checkpoints (len_prefix > 0) are not SEVLM's released setting and are not supported",
        ));
    }
    let decoder = Gpt2Config::load(&cfg_path)?;
    if !decoder.add_cross_attention {
        return Err(Error::parse(
            &cfg_path,
            Some("add_cross_attention".into()),
            "SEVLM decoders have cross-attention; this config has none",
        ));
    }
    let safet = decoder_dir.join("model.safetensors");
    if !safet.exists() {
        let bin = decoder_dir.join("pytorch_model.bin");
        return Err(Error::parse(
            if bin.exists() { &bin } else { decoder_dir },
            None,
            "no model.safetensors: convert the release with tools/sevlm/convert_reference.py",
        ));
    }
    let mut tensors = HashMap::new();
    let dec = Weights::load(&safet, device)?;
    for name in dec.names() {
        if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") {
            continue;
        }
        tensors.insert(format!("decoder.{name}"), dec.get_any(name)?.clone());
    }
    let use_vad = extras.use_vad_loss.unwrap_or(false);
    if use_vad {
        let path = emo_encoder.ok_or_else(|| {
            Error::parse(
                &cfg_path,
                Some("use_VAD_loss".into()),
                "this release uses the VAD encoder: pass its emo_encoder.safetensors (from tools/sevlm/convert_reference.py)",
            )
        })?;
        let emo = Weights::load(path, device)?;
        for name in emo.names() {
            tensors.insert(format!("emo_encoder.{name}"), emo.get_any(name)?.clone());
        }
    }
    let mut cfg = SevlmConfig::paper();
    cfg.name = format!(
        "reference ({})",
        decoder_dir
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    cfg.decoder = decoder;
    cfg.encoder_dim = extras.encoder_dim.unwrap_or(cfg.decoder.n_embd);
    cfg.use_vad = use_vad;
    cfg.use_cl = extras.use_cl_loss.unwrap_or(false);
    if use_vad {
        if let Ok(pos) = Weights::from_tensors(tensors.clone(), decoder_dir)
            .get_any("emo_encoder.pos_encoder.weight")
        {
            cfg.vad_encoder.max_positions = pos.dim(0)?;
        }
    }
    let weights = Weights::from_tensors(tensors, decoder_dir);
    let model = Sevlm::from_weights(&cfg, &weights, device)?;
    Ok((model, cfg))
}
