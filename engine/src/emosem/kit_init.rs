//! Artemo's demo-kit additions to EmoSEM (not in the paper): the explainer prefix's
//! learned emotion embeddings and the mask head's frozen per-emotion prior. Both are
//! tensor-gated: checkpoints without them load and behave as before.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use super::{EmosemConfig, EMOTIONS};
use crate::error::{Error, Result};
use crate::tokenize::TextTokenizer;

/// Name of the learned emotion embeddings of the explainer prefix
/// ([`install_emotion_prefix`]); under `prefix_projector.`, so it trains at the mask-side
/// rate.
pub const EMOTION_PREFIX: &str = "prefix_projector.emotion.weight";

/// Conditions the explainer of the model in `vm` (built for `cfg`) on each mask's emotion:
/// adds [`EMOTION_PREFIX`], one embedding per emotion that is prepended to the query's
/// prefix, initialised to the mean of the explainer's word embeddings of the emotion's
/// name (` amusement`, ...), so the first thing the explainer reads is the emotion word.
pub fn install_emotion_prefix(cfg: &EmosemConfig, vm: &VarMap, tok: &TextTokenizer) -> Result<()> {
    let n = cfg.explainer.n_embd;
    let mut data = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
    let wte_name = "explainer.transformer.wte.weight";
    let wte = data
        .get(wte_name)
        .ok_or_else(|| Error::Invalid(format!("EmoSEM emotion prefix: no variable `{wte_name}`")))?
        .as_tensor()
        .detach();
    let rows = EMOTIONS
        .iter()
        .map(|e| {
            let ids = tok.encode(&format!(" {}", e.name()))?;
            if ids.is_empty() {
                return Err(Error::Invalid(format!(
                    "EmoSEM: `{}` has no tokens",
                    e.name()
                )));
            }
            let idx = Tensor::new(ids.as_slice(), wte.device())?;
            Ok(wte.index_select(&idx, 0)?.mean(0)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let t = Tensor::stack(&rows, 0)?;
    if t.dims() != [EMOTIONS.len(), n] {
        return Err(Error::Invalid(format!(
            "EmoSEM emotion prefix: {:?}, need [8, {n}]",
            t.dims()
        )));
    }
    data.insert(
        EMOTION_PREFIX.to_string(),
        candle_core::Var::from_tensor(&t)?,
    );
    Ok(())
}

/// Name of the frozen per-emotion prior logits in a checkpoint ([`install_mask_prior`]).
pub const MASK_PRIOR: &str = "mask_prior.logits";

/// Probabilities are clamped to `[PRIOR_EPS, 1 - PRIOR_EPS]` before the logit.
const PRIOR_EPS: f32 = 1e-3;

/// Makes the mask head of the model in `vm` (built for `cfg`) start from a per-emotion
/// prior: `prior[k]` is emotion `k`'s mean training mask (probabilities, `side * side`
/// row-major, [`EMOTIONS`] order). The prior's logits become the frozen tensor
/// [`MASK_PRIOR`] and each hypernetwork's last layer is zeroed, so the coarse logit is
/// `logit(prior) + residual` with the residual 0 at step 0: the untrained model's masks
/// are the prior's, and training moves away from it only as far as the loss asks.
pub fn install_mask_prior(cfg: &EmosemConfig, vm: &VarMap, prior: &[Vec<f32>]) -> Result<()> {
    let side = cfg.mask_side();
    if prior.len() != EMOTIONS.len() || prior.iter().any(|p| p.len() != side * side) {
        return Err(Error::Invalid(format!(
            "EmoSEM mask prior: {} maps, need 8 of {side}x{side}",
            prior.len()
        )));
    }
    let logits: Vec<f32> = prior
        .iter()
        .flatten()
        .map(|&p| {
            let p = if p.is_finite() { p } else { 0.0 };
            let p = p.clamp(PRIOR_EPS, 1.0 - PRIOR_EPS);
            (p / (1.0 - p)).ln()
        })
        .collect();
    let dev = Device::Cpu;
    let t = Tensor::from_vec(logits, (EMOTIONS.len(), side, side), &dev)?;
    let mut data = vm
        .data()
        .lock()
        .map_err(|_| Error::Invalid("variable map lock poisoned".into()))?;
    let device = data
        .values()
        .next()
        .map(|v| v.device().clone())
        .unwrap_or(dev);
    data.insert(
        MASK_PRIOR.to_string(),
        candle_core::Var::from_tensor(&t.to_device(&device)?)?,
    );
    for k in 0..cfg.num_mask_tokens() {
        for part in ["weight", "bias"] {
            let name = format!("mask_head.hypernetworks.{k}.layers.2.{part}");
            let v = data.get(&name).ok_or_else(|| {
                Error::Invalid(format!("EmoSEM mask prior: no variable `{name}`"))
            })?;
            v.set(&v.zeros_like()?)?;
        }
    }
    Ok(())
}
