//! Loading the SEVLM reference release (BetterZH/SEVLM-code, NLX-GPT based).
//!
//! A release has, per epoch `<e>` (`artEmisX_train.py:79-118`, `save_checkpoint`):
//! - `nle_model_<e>/`: `config.json` (HF GPT-2 config plus `len_prefix`, `use_cl_loss`,
//!   `use_VAD_loss`, `encoder_dim`, `add_cross_attention`) and the decoder weights
//!   (`pytorch_model.bin` or `model.safetensors`; `GPT2LMHeadModel` keys: `transformer.*`,
//!   `transformer.VAD_linear.*`, `VAD_head.*`, `sim_mlp.pred.*`, maybe `lm_head.weight`);
//! - `ckpt_stats_<e>.tar`: a `torch.save` zip whose `emo_encoder_state_dict` holds the VAD
//!   encoder (beside the optimizer state, which is only walked over, never used);
//! - `nle_gpt2_tokenizer_0/`: GPT-2's tokenizer with `<pad>`, `<prefix>`, `<emotion>`,
//!   `<explanation>` added as ids 50257..50260 (checked when the folder is there).
//!
//! Both pickles are read natively ([`crate::models::torch_import`]: no Python, no code
//! executed). A release already converted by `tools/sevlm/convert_reference.py`
//! (`model.safetensors`, `emo_encoder.safetensors`) loads too. The key mapping is a
//! prefix: decoder keys get `decoder.`, VAD-encoder keys get `emo_encoder.` (table in
//! [`crate::sevlm::model`]). [`import_release`] writes the result as an Artemo SEVLM model
//! folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Deserialize;

use crate::error::{read_text, Error, Result};
use crate::models::gpt2::Gpt2Config;
use crate::models::loading::Weights;
use crate::models::torch_import::{is_known_buffer, read_state_dict};
use crate::progress::{Progress, Scaled, Silent};
use crate::sevlm::model::{Sevlm, SevlmConfig};
use crate::sevlm::vocab::SPECIAL_TOKENS;

/// The dictionary entry of `ckpt_stats_<e>.tar` that holds the VAD encoder
/// (`artEmisX_train.py:95`).
pub const EMO_ENCODER_KEY: &str = "emo_encoder_state_dict";

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

/// Buffers of the reference's GPT-2 blocks that carry no weights (`models/gpt.py:52-57`:
/// `bias`, `masked_bias` of self- and cross-attention).
fn is_mask_buffer(name: &str) -> bool {
    [
        ".attn.bias",
        ".attn.masked_bias",
        ".crossattention.bias",
        ".crossattention.masked_bias",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// Tensors of a state dict file: safetensors, or a `torch.save` pickle (the entry `key`
/// of a checkpoint dictionary when given), in f32, mask buffers dropped.
fn state_dict(
    path: &Path,
    key: Option<&str>,
    device: &Device,
    progress: &dyn Progress,
) -> Result<HashMap<String, Tensor>> {
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    let map = if is_safetensors {
        let w = Weights::load(path, device)?;
        let mut m = HashMap::new();
        for name in w.names() {
            m.insert(name.to_string(), w.get_any(name)?.clone());
        }
        m
    } else {
        read_state_dict(path, key, device, progress)?.into_f32_map()?
    };
    Ok(map
        .into_iter()
        .filter(|(n, t)| !is_mask_buffer(n) && !is_known_buffer(n, Some(t)))
        .collect())
}

/// The decoder weights of `nle_model_<e>/`: `model.safetensors` when present, else
/// `pytorch_model.bin`.
fn decoder_file(decoder_dir: &Path) -> Result<PathBuf> {
    let safet = decoder_dir.join("model.safetensors");
    if safet.is_file() {
        return Ok(safet);
    }
    let bin = decoder_dir.join("pytorch_model.bin");
    if bin.is_file() {
        return Ok(bin);
    }
    Err(Error::io(
        decoder_dir,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no model.safetensors or pytorch_model.bin in this release folder",
        ),
    ))
}

/// The VAD encoder beside `nle_model_<e>/`: the release's own `ckpt_stats_<e>.tar` (a
/// converted `emo_encoder.safetensors` is used only when given).
fn find_emo_encoder(decoder_dir: &Path) -> Option<PathBuf> {
    let parent = decoder_dir.parent()?;
    let name = decoder_dir.file_name()?.to_string_lossy().to_string();
    let epoch = name.strip_prefix("nle_model_")?;
    Some(parent.join(format!("ckpt_stats_{epoch}.tar"))).filter(|p| p.is_file())
}

/// Checks the release's tokenizer folder (`nle_gpt2_tokenizer_0/`, beside `nle_model_<e>/`)
/// when there is one: the four added tokens must have SEVLM's ids 50257..50260
/// (`added_tokens.json`, or `added_tokens_decoder` of `tokenizer_config.json`).
pub fn check_tokenizer(release: &Path) -> Result<Option<PathBuf>> {
    let dir = release.join("nle_gpt2_tokenizer_0");
    if !dir.is_dir() {
        return Ok(None);
    }
    let want: Vec<(String, u64)> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), 50257 + i as u64))
        .collect();
    let mut found: HashMap<String, u64> = HashMap::new();
    let added = dir.join("added_tokens.json");
    let config = dir.join("tokenizer_config.json");
    let file = if added.is_file() {
        let v: serde_json::Value = serde_json::from_str(&read_text(&added)?)
            .map_err(|e| Error::parse(&added, None, e.to_string()))?;
        for (k, id) in v.as_object().into_iter().flatten() {
            if let Some(id) = id.as_u64() {
                found.insert(k.clone(), id);
            }
        }
        added
    } else if config.is_file() {
        let v: serde_json::Value = serde_json::from_str(&read_text(&config)?)
            .map_err(|e| Error::parse(&config, None, e.to_string()))?;
        for (id, t) in v
            .get("added_tokens_decoder")
            .and_then(|d| d.as_object())
            .into_iter()
            .flatten()
        {
            if let (Ok(id), Some(c)) =
                (id.parse::<u64>(), t.get("content").and_then(|c| c.as_str()))
            {
                found.insert(c.to_string(), id);
            }
        }
        config
    } else {
        return Ok(None);
    };
    for (token, id) in &want {
        match found.get(token) {
            Some(got) if got == id => {}
            Some(got) => {
                return Err(Error::at(
                    &file,
                    format!("token `{token}`"),
                    format!("has id {got}; SEVLM's vocabulary needs {id}"),
                ))
            }
            None => {
                return Err(Error::at(
                    &file,
                    format!("token `{token}`"),
                    format!("missing; SEVLM adds it as id {id}"),
                ))
            }
        }
    }
    Ok(Some(file))
}

/// Loads a reference release: the decoder folder `nle_model_<e>/` and the VAD encoder
/// (`emo_encoder`: `ckpt_stats_<e>.tar` or a converted `emo_encoder.safetensors`; `None`:
/// `ckpt_stats_<e>.tar` beside the decoder folder). Returns the model and its configuration.
pub fn load_reference(
    decoder_dir: &Path,
    emo_encoder: Option<&Path>,
    device: &Device,
) -> Result<(Sevlm, SevlmConfig)> {
    let (tensors, cfg) = reference_tensors(decoder_dir, emo_encoder, device, &Silent)?;
    let weights = Weights::from_tensors(tensors, decoder_dir);
    let model = Sevlm::from_weights(&cfg, &weights, device)?;
    Ok((model, cfg))
}

/// The release's tensors under Artemo's SEVLM keys and the configuration they build.
fn reference_tensors(
    decoder_dir: &Path,
    emo_encoder: Option<&Path>,
    device: &Device,
    progress: &dyn Progress,
) -> Result<(HashMap<String, Tensor>, SevlmConfig)> {
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
    let mut tensors = HashMap::new();
    let dec_file = decoder_file(decoder_dir)?;
    for (name, t) in state_dict(&dec_file, None, device, &Scaled::new(progress, 0.0, 0.8))? {
        tensors.insert(format!("decoder.{name}"), t);
    }
    let use_vad = extras.use_vad_loss.unwrap_or(false);
    if use_vad {
        let path = match emo_encoder {
            Some(p) => p.to_path_buf(),
            None => find_emo_encoder(decoder_dir).ok_or_else(|| {
                Error::parse(
                    &cfg_path,
                    Some("use_VAD_loss".into()),
                    "this release uses the VAD encoder: ckpt_stats_<e>.tar must be beside nle_model_<e>/, or its file (or a converted emo_encoder.safetensors) be given",
                )
            })?,
        };
        let emo = state_dict(
            &path,
            Some(EMO_ENCODER_KEY),
            device,
            &Scaled::new(progress, 0.8, 0.2),
        )?;
        for (name, t) in emo {
            tensors.insert(format!("emo_encoder.{name}"), t);
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
    // The reference's prompt (`utils/opts.py:14`, [262, 9942, 318]) and its lexicon rule.
    cfg.prompt = crate::sevlm::data::REFERENCE_PROMPT.into();
    cfg.vad_lookup = crate::lexicon::VadLookup::ExactLemma;
    if use_vad {
        if let Some(pos) = tensors.get("emo_encoder.pos_encoder.weight") {
            cfg.vad_encoder.max_positions = pos.dim(0)?;
        }
    }
    Ok((tensors, cfg))
}

/// The epochs of a release folder (`nle_model_<e>/`), ascending.
pub fn release_epochs(release: &Path) -> Result<Vec<u64>> {
    let mut epochs: Vec<u64> = std::fs::read_dir(release)
        .map_err(|e| Error::io(release, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("nle_model_")
                .and_then(|n| n.parse().ok())
        })
        .collect();
    epochs.sort_unstable();
    Ok(epochs)
}

/// True when `dir` looks like a SEVLM release (an `nle_model_<e>/` folder inside).
pub fn is_release(dir: &Path) -> bool {
    release_epochs(dir).is_ok_and(|e| !e.is_empty())
}

/// What [`import_release`] wrote.
#[derive(Debug, Clone)]
pub struct ReleaseImport {
    /// The epoch imported.
    pub epoch: u64,
    /// The files read.
    pub sources: Vec<PathBuf>,
    /// The tokenizer file checked, when the release has one.
    pub tokenizer: Option<PathBuf>,
}

/// Converts a release folder (`nle_model_<epoch>/`, `ckpt_stats_<epoch>.tar`,
/// `nle_gpt2_tokenizer_0/`; `epoch` `None`: the highest there) into an Artemo SEVLM model
/// folder `dest` (`config.json` + `model.safetensors`, written atomically), after building
/// the model from it. The folder then loads with [`Sevlm::load`].
pub fn import_release(
    release: &Path,
    epoch: Option<u64>,
    dest: &Path,
    device: &Device,
    progress: &dyn Progress,
) -> Result<ReleaseImport> {
    let epochs = release_epochs(release)?;
    let epoch = match epoch {
        Some(e) if epochs.contains(&e) => e,
        Some(e) => {
            return Err(Error::io(
                release.join(format!("nle_model_{e}")),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no such epoch in this release (it has {epochs:?})"),
                ),
            ))
        }
        None => *epochs.last().ok_or_else(|| {
            Error::io(
                release,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a SEVLM release: no nle_model_<epoch>/ folder",
                ),
            )
        })?,
    };
    let tokenizer = check_tokenizer(release)?;
    let decoder_dir = release.join(format!("nle_model_{epoch}"));
    let (tensors, cfg) = reference_tensors(&decoder_dir, None, device, progress)?;
    let mut sources = vec![decoder_file(&decoder_dir)?];
    if cfg.use_vad {
        sources.extend(find_emo_encoder(&decoder_dir));
    }
    // Building the model checks every key and shape before anything is written.
    let weights = Weights::from_tensors(tensors.clone(), &decoder_dir);
    Sevlm::from_weights(&cfg, &weights, device)?;
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let json = serde_json::to_string_pretty(&cfg)
        .map_err(|e| Error::Invalid(format!("SEVLM config: {e}")))?;
    crate::error::write_atomic(&dest.join("config.json"), json.as_bytes())?;
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .map_err(|e| {
            Error::at(
                dest.join("model.safetensors"),
                "serialisation",
                e.to_string(),
            )
        })?;
    crate::error::write_atomic(&dest.join("model.safetensors"), &bytes)?;
    progress.report(1.0, "release imported");
    Ok(ReleaseImport {
        epoch,
        sources,
        tokenizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::{LexiconFormat, VadLexicon};
    use crate::models::nn::Mode;
    use crate::sevlm::data::TokenText;
    use crate::sevlm::generate::{generate, DecodeOptions};
    use crate::sevlm::SequenceBuilder;

    fn fixture(p: &str) -> PathBuf {
        crate::models::tests::parity_dir("sevlm_release").join(p)
    }

    fn expected() -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
    }

    fn ids_of(v: &serde_json::Value) -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    }

    /// The tiny release written by `torch.save` in the reference layout
    /// (tools/parity/torch_checkpoints.py) imports natively, and greedy decoding of the
    /// recorded image features gives the reference's tokens one for one: expected.json is
    /// BetterZH/SEVLM-code's own models/gpt.py + models/vad_encoder.py run by
    /// artEmisX_train.py:164-248 (sample_sequences, no_sample), with identity
    /// lemmatisation (utils/get_VADfeature.py:17-25) over the fixture lexicon.
    #[test]
    fn tiny_release_imports_natively_and_decodes_as_the_reference() {
        let dev = Device::Cpu;
        let dest = tempfile::tempdir().unwrap();
        let out = dest.path().join("sevlm");
        let r = import_release(&fixture("release"), None, &out, &dev, &Silent).unwrap();
        assert_eq!(r.epoch, 0);
        assert!(r.tokenizer.is_some());
        assert!(r.sources.iter().any(|p| p.ends_with("ckpt_stats_0.tar")));
        let model = Sevlm::load(&out, &dev).unwrap();
        let cfg = model.config().clone();
        assert!(cfg.use_vad && cfg.use_cl);

        let assets = crate::find_assets().unwrap();
        let tokenizer = crate::tokenize::TextTokenizer::gpt2_from_assets(&assets).unwrap();
        let lexicon =
            VadLexicon::load(&fixture("lexicon.txt"), LexiconFormat::NrcV1Bipolar).unwrap();
        let seq = SequenceBuilder::for_config(tokenizer, lexicon, &cfg);
        let want = expected();
        // utils/datasets.py:221 + opts.py:14: <bos> + " the emotion is".
        assert_eq!(seq.prompt_ids().unwrap(), ids_of(&want["prompt_ids"]));

        let images = candle_core::safetensors::load(fixture("features.safetensors"), &dev)
            .unwrap()
            .remove("images")
            .unwrap();
        let runs = want["runs"].as_array().unwrap();
        // The fixture covers a stop on an end token, the length limit and the segment
        // switch at `Ġbecause` (780).
        let stopped = |r: &serde_json::Value| r["stopped_on_end_token"].as_bool().unwrap();
        assert!(runs.iter().any(stopped));
        assert!(runs.iter().any(|r| !stopped(r)));
        assert!(runs.iter().any(|r| ids_of(&r["ids"]).contains(&780)));
        // artEmisX_train.py:176-183,239: 25 decoding steps, but the answer is
        // current_outputs[1:end_idx] with end_idx = max_len = 25 when no end token came:
        // at most 24 tokens.
        // The default decoding is the reference's.
        let opts = DecodeOptions::default();
        assert_eq!(opts.max_tokens, 24);
        let mut max_logit_diff = 0f32;
        for run in runs {
            let k = run["image"].as_u64().unwrap() as usize;
            let image = images.get(k).unwrap();
            let ids = ids_of(&run["ids"]);
            let gen = generate(&model, &seq, &image, &opts, |_| {}, &Silent).unwrap();
            let got: Vec<u32> = gen.tokens.iter().map(|t| t.id).collect();

            // The reference's top logit at every step, recomputed on the reference's own
            // prefix (segments and per-token VAD as sample_sequences builds them).
            let mut prefix = ids_of(&want["prompt_ids"]);
            let mut segs = vec![crate::sevlm::vocab::EMOTION_SEGMENT; prefix.len()];
            let mut in_exp = false;
            for (step, s) in run["steps"].as_array().unwrap().iter().enumerate() {
                let t = prefix.len();
                // artEmisX_train.py:221-223: every token's text decoded on its own.
                let vad: Vec<f32> = seq
                    .sequence_vad(&prefix, TokenText::Inference)
                    .into_iter()
                    .flatten()
                    .collect();
                let o = model
                    .forward(
                        &Tensor::from_vec(prefix.clone(), (1, t), &dev).unwrap(),
                        &Tensor::from_vec(segs.clone(), (1, t), &dev).unwrap(),
                        Some(&Tensor::from_vec(vad, (1, t, 3), &dev).unwrap()),
                        &image,
                        Mode::Infer,
                    )
                    .unwrap();
                let row = o.logits.get(0).unwrap().get(t - 1).unwrap();
                let top = row.max(0).unwrap().to_scalar::<f32>().unwrap();
                max_logit_diff =
                    max_logit_diff.max((top - s["logit"].as_f64().unwrap() as f32).abs());
                let Some(&next) = ids.get(step) else { break };
                prefix.push(next);
                // artEmisX_train.py:225-232: the segment switches after `Ġbecause`.
                in_exp |= next == 780;
                segs.push(if in_exp {
                    crate::sevlm::vocab::EXPLANATION_SEGMENT
                } else {
                    crate::sevlm::vocab::EMOTION_SEGMENT
                });
            }
            eprintln!(
                "SEVLM release parity, image {k}: reference {ids:?}, artemo {got:?} ({})",
                gen.stopped
            );
            assert_eq!(got, ids, "image {k}: reference text {}", run["text"]);
            assert_eq!(gen.text, run["text"].as_str().unwrap(), "image {k}");
            if stopped(run) {
                assert_eq!(gen.stopped, "end token", "image {k}");
            }
        }
        eprintln!("SEVLM release parity: max top-logit difference {max_logit_diff:e}");
        assert!(
            max_logit_diff < 1e-4,
            "max top-logit difference {max_logit_diff}"
        );
    }

    #[test]
    fn a_release_with_wrong_tokenizer_ids_or_epoch_is_refused() {
        let dev = Device::Cpu;
        let rel = tempfile::tempdir().unwrap();
        let src = fixture("release");
        for sub in ["nle_model_0", "nle_gpt2_tokenizer_0"] {
            std::fs::create_dir_all(rel.path().join(sub)).unwrap();
            for e in std::fs::read_dir(src.join(sub)).unwrap() {
                let p = e.unwrap().path();
                std::fs::copy(&p, rel.path().join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
        let out = tempfile::tempdir().unwrap();
        // No ckpt_stats_0.tar: the VAD encoder is missing and the field is named.
        let e = import_release(rel.path(), None, &out.path().join("a"), &dev, &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("use_VAD_loss") && e.contains("ckpt_stats"),
            "{e}"
        );
        std::fs::copy(
            src.join("ckpt_stats_0.tar"),
            rel.path().join("ckpt_stats_0.tar"),
        )
        .unwrap();
        let e = import_release(rel.path(), Some(3), &out.path().join("b"), &dev, &Silent)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nle_model_3") && e.contains("[0]"), "{e}");
        std::fs::write(
            rel.path().join("nle_gpt2_tokenizer_0/added_tokens.json"),
            r#"{"<pad>": 50257, "<prefix>": 50259, "<emotion>": 50258, "<explanation>": 50260}"#,
        )
        .unwrap();
        let e = import_release(rel.path(), None, &out.path().join("c"), &dev, &Silent)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("added_tokens.json") && e.contains("<prefix>"),
            "{e}"
        );
        assert!(!out.path().join("c").exists());
    }
}
