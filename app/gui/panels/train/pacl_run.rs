//! The Train tab's PACL run view: what the session streamed (set-up, steps, evaluations,
//! checkpoints), the curves of L1-L4 (and the ITM loss when on), and the linear probe's
//! accuracy and weighted F1 on the held-out paintings, their legend naming the probed
//! features.

use artemo_engine::pacl::session::PROBE_NOTE;
use artemo_engine::train::events::DataCounts;
use artemo_engine::train::Metric;
use egui::RichText;

use super::curves::{self, Curve};
use super::run_log::RunLog;
use super::run_view::{checkpoint_table, CheckpointUse};
use crate::gui::state::Action;
use crate::gui::theme;

/// What a PACL run has streamed so far.
#[derive(Default)]
pub struct PaclRun {
    /// What the session streamed.
    pub log: RunLog,
}

impl PaclRun {
    /// The one-line description of the prepared run, and its notes.
    pub fn prepared_ui(&self, ui: &mut egui::Ui) {
        let Some(p) = &self.log.prepared else { return };
        if let DataCounts::Pairs {
            paintings,
            pairs,
            partitions: [s, pe, pf, w],
            probe_paintings,
        } = p.data
        {
            ui.label(
                RichText::new(format!(
                    "{} · {} · {paintings} paintings, {pairs} pairs (strong {s}, partial emotional {pe}, partial factual {pf}, weak {w}) · {probe_paintings} held-out paintings for the probe · {} trainable parameters",
                    p.model, p.source, p.parameters
                ))
                .small(),
            );
        }
        for n in &p.notes {
            ui.label(RichText::new(n).small().weak());
        }
    }

    /// The loss and probe curves.
    pub fn curves(&self, ui: &mut egui::Ui) {
        let c = theme::CURVES;
        let series = |m: Metric| curves::step_points(&self.log.steps, m);
        let points = |m: Metric, scale: f64| curves::eval_points(&self.log.evals, m, scale);
        curves::row(ui, |ui, size| {
            let loss = vec![
                Curve {
                    name: "L1 strong",
                    points: series(Metric::PaclL1),
                    color: c[0],
                    always: true,
                },
                Curve {
                    name: "L2 partial emotional",
                    points: series(Metric::PaclL2),
                    color: c[1],
                    always: false,
                },
                Curve {
                    name: "L3 partial factual",
                    points: series(Metric::PaclL3),
                    color: c[2],
                    always: false,
                },
                Curve {
                    name: "L4 weak",
                    points: series(Metric::PaclL4),
                    color: c[3],
                    always: false,
                },
                Curve {
                    name: "ITM (released code)",
                    points: series(Metric::PaclItm),
                    color: egui::Color32::from_rgb(0xAA, 0x33, 0x88),
                    always: false,
                },
            ];
            curves::lines(ui, size, "pacl-train-loss", "Training loss", loss);
            let on = self.probed();
            let (acc, f1) = match on {
                Some(f) => (format!("accuracy ({f})"), format!("weighted F1 ({f})")),
                None => ("accuracy".into(), "weighted F1".into()),
            };
            let probe = [
                (Metric::ProbeAcc, acc.as_str(), 1.0, c[0]),
                (Metric::ProbeF1, f1.as_str(), 1.0, c[1]),
            ];
            let title = "Linear probe (held-out paintings)";
            curves::metrics(ui, size, "pacl-probe", title, &probe, true, points);
        });
    }

    /// What the probe reads ("backbone features", ...), from the session's note; the probe
    /// curves' legend names it.
    fn probed(&self) -> Option<&str> {
        self.log.prepared.as_ref().and_then(|p| {
            p.notes
                .iter()
                .find_map(|n| n.strip_prefix(PROBE_NOTE))
                .and_then(|n| n.split(" (").next())
        })
    }

    /// The kept checkpoints.
    pub fn checkpoints_ui(&self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        checkpoint_table(
            ui,
            "pacl-ckpt",
            &self.log.checkpoints,
            Metric::ProbeAcc.name(),
            &[(Metric::ProbeAcc, 3), (Metric::ProbeF1, 3)],
            CheckpointUse::Nothing,
            actions,
        );
    }
}
