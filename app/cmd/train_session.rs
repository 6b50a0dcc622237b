//! `artemo train session`: the Train tab's session from the command line, on the one
//! training engine (`artemo_engine::jobs::train::session_job`): SEVLM, EmoSEM or PACL,
//! every evaluation printed as it arrives, the best checkpoints kept in the output folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use artemo_engine::emosem::session::EmosemSession;
use artemo_engine::jobs::train::session_job;
use artemo_engine::pacl::session::PaclSession;
use artemo_engine::sevlm::session::SevlmSession;
use artemo_engine::train::events::{Summary, TrainEvent};
use artemo_engine::train::session::{Control, SessionConfig};
use artemo_engine::train::{DataSource, ModelSetup, Trainable};
use artemo_engine::worker::{Command, Engine, JobOutput, Lane};

use super::common::{progress, unexpected};

/// The models a session trains.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionModel {
    /// SEVLM (emotion and explanation), a new small model over the demo kit's tower.
    Sevlm,
    /// EmoSEM (stimulus masks and explanations), a new small model over the demo kit's tower.
    Emosem,
    /// PACL (painting and text embeddings), a new model.
    Pacl,
}

/// `artemo train session`'s arguments.
#[derive(clap::Args, Debug)]
pub struct SessionArgs {
    /// The model to train.
    #[arg(long, value_enum)]
    model: SessionModel,
    /// Output folder (default: <user data>/runs/<model>); never the shipped folders.
    #[arg(long)]
    out: Option<PathBuf>,
    /// PACL only: train on this collection (a folder or manifest) instead of the shipped
    /// paintings and annotations.
    #[arg(long)]
    collection: Option<PathBuf>,
    /// Train on at most this many paintings (0: all).
    #[arg(long, default_value_t = 0)]
    max_paintings: usize,
    /// Epochs (SEVLM, PACL; default: the model's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Steps (EmoSEM; PACL: steps per epoch; default: the model's).
    #[arg(long)]
    steps: Option<usize>,
    /// Evaluate every this many steps (and at the end).
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    /// Seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Also print every step's losses.
    #[arg(long)]
    print_steps: bool,
    /// PACL's options.
    #[command(flatten)]
    pacl: super::pacl_args::PaclSessionArgs,
    /// SEVLM's options.
    #[command(flatten)]
    sevlm: SevlmSessionArgs,
    /// EmoSEM's training masks.
    #[command(flatten)]
    stimuli: super::stimuli_args::StimuliArgs,
}

/// SEVLM's own options of `artemo train session --model sevlm`.
#[derive(clap::Args, Debug, Default)]
pub struct SevlmSessionArgs {
    /// SEVLM hyper-parameters: `code` (BetterZH/SEVLM-code's defaults: 35 epochs, alpha
    /// 1, no clipping, dropout 0.1, one item per painting) or `paper` (alpha 2).
    #[arg(long, value_parser = ["code", "paper"])]
    preset: Option<String>,
    /// SEVLM: contrastive loss weight (overrides the preset).
    #[arg(long)]
    alpha: Option<f64>,
    /// SEVLM: image pairs per batch.
    #[arg(long)]
    batch_pairs: Option<usize>,
    /// SEVLM: learning rate of the decoder and heads (the VAD encoder's is twice it, as
    /// 2e-5 / 4e-5 in the code).
    #[arg(long)]
    lr: Option<f64>,
    /// SEVLM: gradient-norm clip (0: none, the code's).
    #[arg(long)]
    clip: Option<f64>,
    /// SEVLM: dropout in training (the code's 0.1).
    #[arg(long)]
    dropout: Option<f64>,
    /// SEVLM: `per-image` (the code: one item per painting, partner drawn anew) or
    /// `every-response` (Artemo's earlier fixed pairs).
    #[arg(long, value_parser = ["per-image", "every-response"])]
    pairing: Option<String>,
    /// SEVLM, per-image pairing: `cycle` (the tracker as written) or `last` (as the
    /// released script runs with forked DataLoader workers).
    #[arg(long, value_parser = ["cycle", "last"])]
    anchor: Option<String>,
    #[command(flatten)]
    lexicon: super::analyze::LexiconArgs,
}

impl SevlmSessionArgs {
    fn given(&self) -> bool {
        self.preset.is_some()
            || self.alpha.is_some()
            || self.batch_pairs.is_some()
            || self.lr.is_some()
            || self.clip.is_some()
            || self.dropout.is_some()
            || self.pairing.is_some()
            || self.anchor.is_some()
            || self.lexicon.path.is_some()
    }

    /// Applies the options to a SEVLM setup.
    fn apply(&self, setup: &mut artemo_engine::sevlm::session::SevlmSetup) {
        use artemo_engine::sevlm::train::{Anchor, Pairing, SevlmPreset, SevlmTrainConfig};
        let t = &mut setup.train;
        if let Some(p) = self.preset.as_deref().and_then(SevlmPreset::parse) {
            *t = SevlmTrainConfig {
                seed: t.seed,
                epochs: t.epochs,
                ..SevlmTrainConfig::preset(p)
            };
        }
        if let Some(a) = self.alpha {
            t.alpha = a;
        }
        if let Some(b) = self.batch_pairs {
            t.batch_pairs = b;
        }
        if let Some(lr) = self.lr {
            t.lr_decoder = lr;
            t.lr_vad_encoder = 2.0 * lr;
        }
        if let Some(c) = self.clip {
            t.clip = c;
        }
        if let Some(d) = self.dropout {
            t.dropout = d;
        }
        match self.pairing.as_deref() {
            Some("per-image") => t.pairing = Pairing::PerImage,
            Some("every-response") => t.pairing = Pairing::EveryResponse,
            _ => {}
        }
        match self.anchor.as_deref() {
            Some("cycle") => t.anchor = Anchor::Cycle,
            Some("last") => t.anchor = Anchor::Last,
            _ => {}
        }
        setup.lexicon = self.lexicon.source();
    }
}

/// Runs `artemo train session`.
pub fn run(args: &SessionArgs, engine: &Engine) -> Result<ExitCode> {
    if args.collection.is_some() && args.model != SessionModel::Pacl {
        return Err(anyhow!(
            "--collection is for PACL (SEVLM trains on the shipped annotations here; EmoSEM on --stimuli)"
        ));
    }
    if args.stimuli.given() && args.model != SessionModel::Emosem {
        return Err(anyhow!(
            "--stimuli and --stimuli-images are EmoSEM's training masks: use them with --model emosem"
        ));
    }
    if args.pacl.any() && args.model != SessionModel::Pacl {
        return Err(anyhow!("the PACL options are for --model pacl"));
    }
    let source = match &args.collection {
        Some(c) => DataSource::Collection {
            manifest: c.clone(),
        },
        None => DataSource::Shipped,
    };
    match args.model {
        SessionModel::Sevlm => {
            if args.steps.is_some() {
                return Err(anyhow!("SEVLM trains by epochs: use --epochs"));
            }
            let mut cfg = config::<SevlmSession>(args);
            cfg.model.train.seed = args.seed;
            if let Some(e) = args.epochs {
                cfg.model.train.epochs = e;
            }
            args.sevlm.apply(&mut cfg.model);
            run_session::<SevlmSession>(engine, source, cfg, args.print_steps)
        }
        SessionModel::Emosem | SessionModel::Pacl if args.sevlm.given() => Err(anyhow!(
            "--preset, --alpha, --batch-pairs, --lr, --clip, --dropout, --pairing, --anchor and --lexicon are SEVLM's"
        )),
        SessionModel::Emosem => {
            if args.epochs.is_some() {
                return Err(anyhow!("EmoSEM trains by steps: use --steps"));
            }
            let mut cfg = config::<EmosemSession>(args);
            cfg.model.train.seed = args.seed;
            if let Some(s) = args.steps {
                cfg.model.train.steps = s;
            }
            let assets = artemo_engine::find_assets()
                .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
            let source = args.stimuli.data_source(&assets)?;
            run_session::<EmosemSession>(engine, source, cfg, args.print_steps)
        }
        SessionModel::Pacl => {
            let mut cfg = config::<PaclSession>(args);
            cfg.model.train.seed = args.seed;
            if let Some(e) = args.epochs {
                cfg.model.train.epochs = e;
            }
            if let Some(s) = args.steps {
                cfg.model.train.steps_per_epoch = Some(s);
            }
            args.pacl.apply(&mut cfg.model)?;
            run_session::<PaclSession>(engine, source, cfg, args.print_steps)
        }
    }
}

/// The model's default session with the shared arguments.
fn config<T: Trainable>(args: &SessionArgs) -> SessionConfig<T::Setup> {
    let mut cfg = SessionConfig::<T::Setup>::default();
    if let Some(o) = &args.out {
        cfg.out = o.clone();
    }
    cfg.max_paintings = args.max_paintings;
    cfg.eval_every = args.eval_every;
    cfg
}

pub(super) fn run_session<T: Trainable + 'static>(
    engine: &Engine,
    source: DataSource,
    cfg: SessionConfig<T::Setup>,
    print_steps: bool,
) -> Result<ExitCode>
where
    T::Setup: Send + 'static,
{
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let models = artemo_engine::find_models()
        .context("the models/ folder was not found (set ARTEMO_MODELS)")?;
    let model = <T::Setup as ModelSetup>::MODEL;
    let job = Command::Run {
        name: format!("train {model}"),
        lane: Lane::Compute,
        job: session_job::<T>(source, cfg, assets, models, Arc::new(Control::new())),
    };
    let mut failure = None;
    let end = engine.run_streaming(job, progress(), |out| match out {
        JobOutput::Training(ev) => print_event(&ev, print_steps),
        other => failure = Some(unexpected(&other)),
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    match end {
        JobOutput::Training(ev) => match *ev {
            TrainEvent::Finished(s) => {
                print_summary(&s);
                Ok(ExitCode::SUCCESS)
            }
            other => Err(anyhow!(
                "the training job ended with an event that is not its end: {other:?}"
            )),
        },
        other => Err(unexpected(&other)),
    }
}

fn print_event(ev: &TrainEvent, steps: bool) {
    match ev {
        TrainEvent::Prepared(p) => {
            println!(
                "{} · {} · {} parameters · {} steps · on {}",
                p.model, p.source, p.parameters, p.total_steps, p.device
            );
            for n in &p.notes {
                if n.starts_with("lexicon mismatch") {
                    eprintln!("warning: {n}");
                } else {
                    println!("  note: {n}");
                }
            }
        }
        TrainEvent::Eval(e) => {
            let metrics: Vec<String> = e
                .metrics
                .iter()
                .map(|(m, v)| format!("{m} {v:.4}"))
                .collect();
            println!("evaluation at step {}: {}", e.step, metrics.join(" · "));
        }
        TrainEvent::Step(s) if steps => {
            let l = &s.losses;
            let losses: Vec<String> = l
                .losses
                .iter()
                .map(|(m, v)| format!("{m} {v:.4}"))
                .collect();
            println!(
                "step {} (epoch {}): {}",
                l.step,
                l.epoch,
                losses.join(" · ")
            );
        }
        TrainEvent::Step(_) | TrainEvent::Checkpoints(_) | TrainEvent::Finished(_) => {}
    }
}

fn print_summary(s: &Summary) {
    println!(
        "{} after {} of {} steps · {} evaluations",
        if s.stopped { "stopped" } else { "finished" },
        s.steps,
        s.total_steps,
        s.evaluations
    );
    if let Some(b) = s.checkpoints.iter().find(|c| c.best) {
        println!(
            "best checkpoint: {} (step {}, {:.4})",
            b.dir.display(),
            b.step,
            b.value
        );
    }
}
