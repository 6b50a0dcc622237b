//! The small EmoSEM recipe over a frozen grid tower (Multi-Masks, the whole mask decoder
//! trained, a small GPT-2 explainer): the hyper-parameters the demo kit trains with and the
//! Train tab's CPU recipe starts from.

use serde::{Deserialize, Serialize};

use super::features::GridEncoder;
use super::{EmosemConfig, Finetune, Paradigm};
use crate::models::gpt2::Gpt2Config;

/// Hyper-parameters of the kit's EmoSEM stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KitEmosemConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Images per step.
    pub batch_images: usize,
    /// Learning rate of the mask side.
    pub lr_mask: f64,
    /// Learning rate of the explainer.
    pub lr_explainer: f64,
    /// Warm-up steps.
    pub warmup: usize,
    /// Weight of the explanation loss.
    pub lm_weight: f64,
    /// Explainer width.
    pub explainer_width: usize,
    /// Explainer layers.
    pub explainer_layers: usize,
    /// Seed.
    pub seed: u64,
    /// Start the mask head from the train split's per-emotion mean mask
    /// ([`super::install_mask_prior`]): the coarse logit is `logit(prior)` plus a learned
    /// residual that starts at zero.
    pub mask_prior: bool,
}

impl Default for KitEmosemConfig {
    fn default() -> Self {
        Self::full(2026)
    }
}

impl KitEmosemConfig {
    /// The full preset.
    pub fn full(seed: u64) -> Self {
        KitEmosemConfig {
            steps: 300,
            batch_images: 6,
            lr_mask: 1e-3,
            lr_explainer: 1e-3,
            warmup: 20,
            lm_weight: 0.5,
            explainer_width: 64,
            explainer_layers: 2,
            seed,
            mask_prior: true,
        }
    }

    /// The smoke-test preset.
    pub fn quick(seed: u64) -> Self {
        KitEmosemConfig {
            steps: 20,
            batch_images: 4,
            warmup: 2,
            explainer_width: 32,
            explainer_layers: 1,
            ..Self::full(seed)
        }
    }

    /// The model configuration over `tower`.
    pub fn model_config(&self, tower: &dyn GridEncoder) -> EmosemConfig {
        let base = EmosemConfig::small(Paradigm::Multi, tower.side(), tower.dim(), &tower.name());
        let heads = if self.explainer_width.is_multiple_of(4) && self.explainer_width >= 64 {
            4
        } else {
            2
        };
        EmosemConfig {
            explainer: Gpt2Config {
                n_embd: self.explainer_width,
                n_layer: self.explainer_layers,
                n_head: heads,
                ..base.explainer.clone()
            },
            prefix_hidden: self.explainer_width,
            finetune: Finetune::MaskDecoder,
            ..base
        }
    }
}
