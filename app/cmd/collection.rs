//! `artemo collection info PATH` (counts, styles, missing or unreadable files) and
//! `artemo import artemis CSV` (rows, paintings, emotion counts, splits, duplicates).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use artemo_engine::worker::{Command, Engine, JobOutput};

use super::common::{run_job, strict, unexpected};

/// `artemo collection info`: exit code 2 when files are missing or unreadable.
pub fn info(engine: &Engine, path: &Path, check: bool, json: bool) -> Result<ExitCode> {
    let out = run_job(
        engine,
        Command::OpenCollection {
            path: path.to_path_buf(),
        },
    )?;
    let JobOutput::Collection(mut c) = out else {
        return Err(unexpected(&out));
    };
    if check {
        c.check_images(&artemo_engine::progress::Silent);
    }
    let info = c.info();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "name": c.name, "source": c.source, "kind": c.kind, "info": info, "problems": c.problems,
            }))?
        );
    } else {
        println!(
            "collection: {} ({:?}, {})",
            c.name,
            c.kind,
            c.source.display()
        );
        println!("paintings:  {}", info.paintings);
        println!(
            "with title: {}   with description: {}",
            info.with_title, info.with_description
        );
        println!("styles:");
        for (s, n) in &info.per_style {
            println!("  {s:<32} {n}");
        }
        println!("problems:   {}", c.problems.len());
        for p in &c.problems {
            println!("  {}: {}", p.path.display(), p.message);
        }
    }
    Ok(if c.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `artemo import artemis`.
pub fn import_artemis(engine: &Engine, csv: &Path, json: bool) -> Result<ExitCode> {
    let out = run_job(
        engine,
        Command::ImportArtemis {
            path: csv.to_path_buf(),
        },
    )?;
    let JobOutput::ArtemisImport(s) = out else {
        return Err(unexpected(&out));
    };
    if let Some(w) = artemo_engine::annotations::artemis::describe_duplicates(csv, &s.duplicates) {
        if strict() {
            bail!("{w} (refused: --strict)");
        }
        eprintln!("warning: {w}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("rows:      {}", s.rows);
        println!("paintings: {} (styles: {})", s.paintings, s.styles);
        println!("emotions:");
        for (k, n) in &s.emotion_counts {
            let name = k.split_once(':').map(|(_, n)| n).unwrap_or(k);
            println!("  {name:<15} {n}");
        }
        println!("splits (85/5/10 by artwork, seed 2021; 41+ annotations set apart):");
        for (k, n) in &s.split_sizes {
            println!("  {k:<6} {n}");
        }
        println!(
            "dominant emotion: {} paintings (>= half, no tie; ArtEmis), {} (> half; SEVLM)",
            s.dominant_at_least_half, s.dominant_more_than_half
        );
        println!("duplicate rows: {}", s.duplicates.len());
    }
    Ok(ExitCode::SUCCESS)
}
