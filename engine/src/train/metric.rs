//! The names of everything a training session measures ([`Metric`]: step losses and
//! validation metrics of every model) and the choice of the metric that ranks
//! checkpoints ([`BestBy`]). The engine records history by these keys and the app plots
//! by them, so a misspelt name cannot silently empty a curve; on disk (`history.json`,
//! `checkpoints.json`, `metrics.json`) a metric is written as its [`Metric::name`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! metrics {
    ($($(#[$doc:meta])* $v:ident => $name:literal,)*) => {
        /// A step loss or a validation metric of a training session.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Metric {
            $($(#[$doc])* $v,)*
        }

        impl Metric {
            /// Every metric.
            pub const ALL: &'static [Metric] = &[$(Metric::$v,)*];

            /// The name shown in plots and written to disk ("val loss", "BLEU-1", ...).
            pub fn name(self) -> &'static str {
                match self {
                    $(Metric::$v => $name,)*
                }
            }
        }
    };
}

metrics! {
    /// Total training loss of a step (SEVLM: language + VAD + contrastive).
    Loss => "loss",
    /// Language-model loss of a step (SEVLM).
    Language => "language",
    /// VAD loss of a step (SEVLM).
    Vad => "VAD",
    /// Contrastive loss of a step (SEVLM).
    Contrastive => "contrastive",
    /// Gradient norm before clipping of a step.
    GradNorm => "grad norm",
    /// Mask loss (Dice + Focal) of a step (EmoSEM).
    MaskLoss => "mask loss",
    /// Explanation loss of a step (EmoSEM).
    ExplanationLoss => "explanation loss",
    /// PACL's L1 (strong pairs) of a step.
    PaclL1 => "L1",
    /// PACL's L2 (partial emotional pairs) of a step.
    PaclL2 => "L2",
    /// PACL's L3 (partial factual pairs) of a step.
    PaclL3 => "L3",
    /// PACL's L4 (weak pairs) of a step.
    PaclL4 => "L4",
    /// The released code's ITM loss of a PACL step (summed over its sub-batches; only
    /// with `itm_weight > 0`).
    PaclItm => "ITM",
    /// Validation loss (SEVLM: language + weighted VAD).
    ValLoss => "val loss",
    /// Validation language loss (SEVLM).
    ValLanguage => "val language",
    /// Validation VAD loss (SEVLM).
    ValVad => "val VAD",
    /// BLEU-1 of the generated explanations.
    Bleu1 => "BLEU-1",
    /// BLEU-4 of the generated explanations.
    Bleu4 => "BLEU-4",
    /// ROUGE-L of the generated explanations.
    RougeL => "ROUGE-L",
    /// SEVLM ACC (generated emotion = the viewers' dominant one).
    Acc => "ACC",
    /// Validation mask loss (EmoSEM).
    ValMaskLoss => "val mask loss",
    /// Validation explanation loss (EmoSEM).
    ValExplanationLoss => "val explanation loss",
    /// APOLO's mean IoU (0..1).
    MeanIou => "mean IoU",
    /// Pr@25 (percent).
    Pr25 => "Pr@25",
    /// Pr@50 (percent).
    Pr50 => "Pr@50",
    /// Linear-probe accuracy on held-out paintings (PACL).
    ProbeAcc => "probe accuracy",
    /// Linear-probe weighted F1 on held-out paintings (PACL).
    ProbeF1 => "probe F1",
}

impl Metric {
    /// The metric called `name` (as written by [`Metric::name`]).
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Metric::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown metric `{name}`")))
    }
}

/// The metric that picks a session's best checkpoint (each model offers some of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BestBy {
    /// Validation loss (lower is better).
    ValLoss,
    /// BLEU-1 of the generated explanations (higher is better).
    Bleu1,
    /// SEVLM ACC (higher is better).
    Acc,
    /// APOLO's mean IoU on the validation regions (higher is better).
    MeanIou,
    /// Pr@25 on the validation regions (higher is better).
    Pr25,
    /// Validation mask loss (lower is better).
    ValMaskLoss,
    /// PACL's linear-probe accuracy on held-out paintings (higher is better).
    ProbeAcc,
}

impl BestBy {
    /// The metric it ranks by.
    pub fn metric(self) -> Metric {
        match self {
            BestBy::ValLoss => Metric::ValLoss,
            BestBy::Bleu1 => Metric::Bleu1,
            BestBy::Acc => Metric::Acc,
            BestBy::MeanIou => Metric::MeanIou,
            BestBy::Pr25 => Metric::Pr25,
            BestBy::ValMaskLoss => Metric::ValMaskLoss,
            BestBy::ProbeAcc => Metric::ProbeAcc,
        }
    }

    /// The metric's name.
    pub fn name(self) -> &'static str {
        self.metric().name()
    }

    /// Lower or higher is better.
    pub fn goal(self) -> Goal {
        match self {
            BestBy::ValLoss | BestBy::ValMaskLoss => Goal::Minimize,
            _ => Goal::Maximize,
        }
    }
}

/// Whether a metric is better low (losses) or high (BLEU, accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Goal {
    /// Lower is better.
    Minimize,
    /// Higher is better.
    Maximize,
}

impl Goal {
    /// True when `a` is strictly better than `b` (a NaN is never better; anything beats
    /// a NaN).
    pub fn better(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        match self {
            Goal::Minimize => a < b,
            Goal::Maximize => a > b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn names_are_unique_and_round_trip_through_json() {
        let mut seen = std::collections::BTreeSet::new();
        for m in Metric::ALL {
            assert!(seen.insert(m.name()), "{} twice", m.name());
            assert_eq!(Metric::from_name(m.name()), Some(*m));
        }
        assert_eq!(Metric::ValLoss.name(), "val loss");
        assert_eq!(Metric::Bleu1.name(), "BLEU-1");
        let map = BTreeMap::from([(Metric::ValLoss, 1.5), (Metric::MeanIou, 0.25)]);
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"val loss":1.5,"mean IoU":0.25}"#);
        let back: BTreeMap<Metric, f64> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
        assert!(serde_json::from_str::<Metric>(r#""val los""#).is_err());
        assert_eq!(BestBy::Pr25.name(), "Pr@25");
        assert_eq!(BestBy::ValMaskLoss.goal(), Goal::Minimize);
        assert_eq!(BestBy::ProbeAcc.goal(), Goal::Maximize);
    }
}
