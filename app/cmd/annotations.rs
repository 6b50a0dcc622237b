//! `artemo annotations ...`: statistics, checks, rasterisation, splits and overlays of
//! Artemo's own annotation set (`assets/annotations/`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use artemo_engine::annotations::artemis::{histograms, read_artemis, stratified_split};
use artemo_engine::annotations::dataset::{overlay, write_splits, AnnotationSet};
use artemo_engine::collection::Collection;
use clap::Subcommand;

/// Annotation subcommands.
#[derive(Subcommand, Debug)]
pub enum AnnotationsCmd {
    /// Counts per emotion and split, agreement, stimulus coverage.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Consistency: every painting annotated and split, every region has its response.
    Check,
    /// Rasterise every stimulus region into `<out>/<painting>_<emotion>.{png,npy}` and an
    /// `apolo.json`, at each image's size (APOLO layout: open it with the APOLO reader).
    Rasterize {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Which files: png, npy or both (comma-separated).
        #[arg(long, default_value = "png,npy")]
        format: String,
    },
    /// Write a `SPLITS.csv`: 70/10/20 by painting, stratified by majority emotion.
    Split {
        /// Seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Output file (default: <user data>/annotations/SPLITS.csv). Replacing the shipped
        /// assets/annotations/SPLITS.csv needs --overwrite-shipped.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Render overlays of `n` random regions (seeded) to PNG files for checking by eye.
    Overlay {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// How many.
        #[arg(long, default_value_t = 10)]
        n: usize,
        /// Seed for the choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// EmoSEM pseudo-masks from an ArtEmis CSV: one mask per utterance by patch-text
    /// similarity (kit: PACL patch tower + MiniLM; clip: CLIP ViT-B/16), cached.
    PseudoMasks(super::pseudo_masks::PseudoMasksArgs),
    /// What an EmoSEM training source holds (`--stimuli regions|apolo:PATH|pseudo:PATH`):
    /// paintings, masks, explanations and mean mask cover per split, as the trainer reads
    /// them at `--side` x `--side`.
    Stimuli {
        /// The source.
        #[command(flatten)]
        stimuli: super::stimuli_args::StimuliArgs,
        /// The mask resolution to read them at.
        #[arg(long, default_value_t = 56)]
        side: usize,
    },
}

fn dirs() -> Result<(PathBuf, Collection)> {
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let coll = Collection::open(&assets.join("paintings/aic/paintings.csv"))?;
    Ok((assets.join("annotations"), coll))
}

/// Runs an annotations subcommand.
pub fn run(cmd: &AnnotationsCmd) -> Result<ExitCode> {
    // These two need no shipped annotation set.
    match cmd {
        AnnotationsCmd::PseudoMasks(a) => return super::pseudo_masks::run(a),
        AnnotationsCmd::Stimuli { stimuli, side } => return stimuli_summary(stimuli, *side),
        _ => {}
    }
    let (dir, coll) = dirs()?;
    match cmd {
        AnnotationsCmd::Split { seed, out } => {
            let target = super::common::output_path(out.as_deref(), "annotations/SPLITS.csv")?;
            if target.is_dir() {
                return Err(anyhow!(
                    "{}: is a folder; give a file name",
                    target.display()
                ));
            }
            let rows = read_artemis(&dir.join("artemo-aic.csv"))?;
            let hist = histograms(&rows);
            let splits = stratified_split(&hist, *seed)
                .into_iter()
                .map(|(k, s)| (k.painting, s))
                .collect();
            let replaced = target.exists();
            write_splits(&target, &splits)?;
            println!(
                "{} {} ({} paintings, seed {seed})",
                if replaced { "replaced" } else { "wrote" },
                target.display(),
                splits.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        AnnotationsCmd::Stats { json } => {
            let set = AnnotationSet::load(&dir)?;
            let s = set.stats(Some(&coll));
            if *json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "responses {} on {} paintings (at least {} each)",
                    s.responses, s.paintings, s.min_responses
                );
                println!(
                    "per emotion: {}",
                    s.per_emotion
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                println!(
                    "per split (paintings): {:?}; responses: {:?}",
                    s.per_split, s.responses_per_split
                );
                println!("dominant emotion: {} paintings (>= half, no tie), {} (> half); {:.2} distinct labels per painting", s.dominant_at_least_half, s.dominant_more_than_half, s.mean_distinct_labels);
                println!(
                    "stimulus regions {} on {} paintings: {}",
                    s.stimulus_regions,
                    s.stimulus_paintings,
                    s.stimuli_per_emotion
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if let Some(share) = s.mean_region_share {
                    println!("mean region share of the image: {:.1}%", share * 100.0);
                }
                println!(
                    "words per utterance: min {}, mean {:.1}, max {}",
                    s.words.0, s.words.1, s.words.2
                );
            }
        }
        AnnotationsCmd::Check => {
            let set = AnnotationSet::load(&dir)?;
            let problems = set.check(&coll);
            for p in &problems {
                println!("{p}");
            }
            if !problems.is_empty() {
                return Ok(ExitCode::from(2));
            }
            println!(
                "consistent: {} responses, {} regions, {} splits",
                set.rows.len(),
                set.stimuli.len(),
                set.splits.len()
            );
        }
        AnnotationsCmd::Rasterize { out, format } => {
            super::common::check_writable(out)?;
            let set = AnnotationSet::load(&dir)?;
            let png = format.split(',').any(|f| f.trim() == "png");
            let npy = format.split(',').any(|f| f.trim() == "npy");
            if !png && !npy {
                return Err(anyhow!("--format must name png, npy or both"));
            }
            let n = set.rasterize_all(&coll, out, png, npy)?;
            println!("wrote {n} masks and apolo.json to {}", out.display());
        }
        AnnotationsCmd::Overlay { out, n, seed } => {
            super::common::check_writable(out)?;
            let set = AnnotationSet::load(&dir)?;
            std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
            let mut idx: Vec<usize> = (0..set.stimuli.len()).collect();
            // A small deterministic shuffle (xorshift) for the choice.
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for i in (1..idx.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                idx.swap(i, (x % (i as u64 + 1)) as usize);
            }
            for &i in idx.iter().take(*n) {
                let s = &set.stimuli[i];
                let p = coll
                    .get(&s.painting)
                    .ok_or_else(|| anyhow!("painting {} missing", s.painting))?;
                let img = artemo_engine::imaging::load_image(&p.path)?.to_rgb8();
                let m = set.mask(s, &coll)?;
                let o = overlay(&img, &m, s.emotion.color());
                let f = out.join(format!(
                    "{}_{}.png",
                    s.painting,
                    s.emotion.name().replace(' ', "_")
                ));
                o.save(&f).with_context(|| f.display().to_string())?;
                println!("{}  {}: {}", f.display(), s.emotion, s.utterance);
            }
        }
        AnnotationsCmd::PseudoMasks(a) => return super::pseudo_masks::run(a),
        AnnotationsCmd::Stimuli { stimuli, side } => return stimuli_summary(stimuli, *side),
    }
    Ok(ExitCode::SUCCESS)
}

/// `artemo annotations stimuli`: per split, what the trainer would read.
fn stimuli_summary(args: &super::stimuli_args::StimuliArgs, side: usize) -> Result<ExitCode> {
    use artemo_engine::annotations::artemis::Split;
    let source = args.source()?;
    if side == 0 {
        return Err(anyhow!("--side must be at least 1"));
    }
    let assets = artemo_engine::find_assets()
        .context("the assets/ folder was not found (set ARTEMO_ASSETS)")?;
    let tok = artemo_engine::tokenize::TextTokenizer::gpt2_from_assets(&assets)?;
    println!("{}", source.describe());
    println!("split  paintings  masks  with explanation  mean cover");
    for split in [Split::Train, Split::Val, Split::Test] {
        let ex = artemo_engine::emosem::data::load_examples(
            &source,
            &assets,
            Some(split),
            side,
            |_, _| (1.0, 1.0),
            &tok,
        )?;
        let targets: Vec<_> = ex.iter().flat_map(|e| &e.targets).collect();
        let explained = targets.iter().filter(|t| !t.tokens.is_empty()).count();
        let cover = if targets.is_empty() {
            0.0
        } else {
            targets
                .iter()
                .map(|t| t.mask.iter().sum::<f32>() as f64 / (side * side) as f64)
                .sum::<f64>()
                / targets.len() as f64
        };
        println!(
            "{:<6} {:>9}  {:>5}  {:>16}  {:>9.1}%",
            split.name(),
            ex.len(),
            targets.len(),
            explained,
            cover * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
