//! PACL's options of `artemo train session --model pacl` (objective preset, ITM weight,
//! loss directions, warm-up, clipping, tower learning rate, probed features) and of
//! `artemo embed --zero-shot` (class prompts), as clap value enums over the engine's
//! settings.

use anyhow::{bail, Result};
use artemo_engine::pacl::losses::Directions;
use artemo_engine::pacl::probe::ProbeFeatures;
use artemo_engine::pacl::session::PaclSetup;
use artemo_engine::pacl::train::Objective;
use artemo_engine::pacl::zeroshot::{Calibration, PromptSet};
use clap::{Args, ValueEnum};

/// The objective presets.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveArg {
    /// The paper (Eq. 15-17): symmetric L1..L4, weight 1, no ITM.
    Paper,
    /// The released code: one-direction L1..L4 weighted 1/.6/.6/.1, times 0.1, plus ITM (1).
    Code,
}

/// Which anchors each contrastive loss uses.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectionsArg {
    /// Both directions, halved (the paper's Eq. 3).
    Symmetric,
    /// One direction per loss (the released code).
    Code,
}

/// What the linear probe reads.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeArg {
    /// Backbone features before q_v, paper protocol (AdamW 1e-2, 40 epochs, batch 64).
    Backbone,
    /// The projected unit-norm embedding (gradient-descent logistic regression).
    Projected,
}

/// Zero-shot class prompts.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptsArg {
    /// The paper's single prompt "The photo makes me feel so [C]!".
    #[default]
    Paper,
    /// The mean over four prompt templates.
    Ensemble,
}

/// Zero-shot calibration of each emotion prompt over the embedded collection.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CalibrationArg {
    /// Raw cosines (the paper).
    None,
    /// Each emotion's cosine minus its mean over the collection.
    #[default]
    Centered,
    /// Each emotion's cosine as a z-score over the collection.
    Zscore,
}

impl From<CalibrationArg> for Calibration {
    fn from(c: CalibrationArg) -> Self {
        match c {
            CalibrationArg::None => Calibration::None,
            CalibrationArg::Centered => Calibration::Centered,
            CalibrationArg::Zscore => Calibration::Zscore,
        }
    }
}

impl From<PromptsArg> for PromptSet {
    fn from(p: PromptsArg) -> Self {
        match p {
            PromptsArg::Paper => PromptSet::Paper,
            PromptsArg::Ensemble => PromptSet::Ensemble,
        }
    }
}

/// PACL's session options (`artemo train session --model pacl`).
#[derive(Args, Debug, Default)]
pub struct PaclSessionArgs {
    /// PACL: objective preset (default: paper).
    #[arg(long, value_enum)]
    objective: Option<ObjectiveArg>,
    /// PACL: weight of the released code's ITM loss (0: off, the paper; code preset: 1).
    #[arg(long)]
    itm_weight: Option<f64>,
    /// PACL: anchors of each contrastive loss (after the preset).
    #[arg(long, value_enum)]
    directions: Option<DirectionsArg>,
    /// PACL: weight of the summed contrastive losses (code's weight_clip: 0.1).
    #[arg(long)]
    contrastive_weight: Option<f64>,
    /// PACL: warm-up steps (Artemo's choice, default 20; 0: none, as the paper).
    #[arg(long)]
    warmup_steps: Option<usize>,
    /// PACL: gradient clipping norm (Artemo's choice, default 1.0; 0: none, as the paper).
    #[arg(long)]
    clip_norm: Option<f64>,
    /// PACL: peak learning rate of the vision tower (Artemo's choice, default 5e-4).
    #[arg(long)]
    lr_tower: Option<f64>,
    /// PACL: pairs per sub-batch (default 16; four sub-batches a step).
    #[arg(long)]
    sub_batch: Option<usize>,
    /// PACL: what the evaluation's linear probe reads (default: backbone, the paper's).
    #[arg(long, value_enum)]
    probe: Option<ProbeArg>,
}

impl PaclSessionArgs {
    /// Whether any PACL option was given.
    pub fn any(&self) -> bool {
        self.objective.is_some()
            || self.itm_weight.is_some()
            || self.directions.is_some()
            || self.contrastive_weight.is_some()
            || self.warmup_steps.is_some()
            || self.clip_norm.is_some()
            || self.lr_tower.is_some()
            || self.sub_batch.is_some()
            || self.probe.is_some()
    }

    /// Applies the options to `setup`: the preset first, then each explicit value.
    pub fn apply(&self, setup: &mut PaclSetup) -> Result<()> {
        let t = &mut setup.train;
        if let Some(o) = self.objective {
            *t = t.clone().with_objective(match o {
                ObjectiveArg::Paper => Objective::Paper,
                ObjectiveArg::Code => Objective::Code,
            });
        }
        for (name, v) in [
            ("--itm-weight", self.itm_weight),
            ("--contrastive-weight", self.contrastive_weight),
            ("--clip-norm", self.clip_norm),
            ("--lr-tower", self.lr_tower),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                bail!("{name} must be a finite number of at least 0");
            }
        }
        if let Some(w) = self.itm_weight {
            t.itm_weight = w;
        }
        if let Some(d) = self.directions {
            t.directions = match d {
                DirectionsArg::Symmetric => Directions::Symmetric,
                DirectionsArg::Code => Directions::Code,
            };
        }
        if let Some(w) = self.contrastive_weight {
            t.contrastive_weight = w;
        }
        if let Some(w) = self.warmup_steps {
            t.warmup_steps = w;
        }
        if let Some(c) = self.clip_norm {
            t.clip_norm = c;
        }
        if let Some(lr) = self.lr_tower {
            t.lr_tower = lr;
        }
        if let Some(s) = self.sub_batch {
            if s < 2 {
                bail!("--sub-batch must be at least 2");
            }
            t.sub_batch = s;
        }
        if let Some(p) = self.probe {
            setup.probe = match p {
                ProbeArg::Backbone => ProbeFeatures::Backbone,
                ProbeArg::Projected => ProbeFeatures::Projected,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_preset_then_overrides() {
        let mut s = PaclSetup::default();
        let a = PaclSessionArgs {
            objective: Some(ObjectiveArg::Code),
            warmup_steps: Some(0),
            probe: Some(ProbeArg::Projected),
            ..Default::default()
        };
        assert!(a.any());
        a.apply(&mut s).unwrap();
        assert_eq!(s.train.objective(), Some(Objective::Code));
        assert_eq!((s.train.itm_weight, s.train.warmup_steps), (1.0, 0));
        assert_eq!(s.probe, ProbeFeatures::Projected);
        let bad = PaclSessionArgs {
            itm_weight: Some(-1.0),
            ..Default::default()
        };
        assert!(bad.apply(&mut s).is_err());
        assert!(!PaclSessionArgs::default().any());
    }
}
