//! `--stimuli regions|apolo:PATH|pseudo:PATH` and `--stimuli-images PATH`: where EmoSEM's
//! training masks come from (`artemo_engine::emosem::data`), as a clap group to flatten
//! into the training commands.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use artemo_engine::emosem::data::StimuliSource;
use artemo_engine::train::DataSource;
use clap::Args;

/// The training masks of an EmoSEM command.
#[derive(Args, Debug, Clone, Default)]
pub struct StimuliArgs {
    /// EmoSEM's training masks: `regions` (Artemo's stimulus regions with their
    /// utterances), `apolo:PATH` (an APOLO `apolo.json` or its folder; masks only) or
    /// `pseudo:PATH` (a folder made by `artemo annotations pseudo-masks`).
    #[arg(long, value_name = "SOURCE", default_value = "regions")]
    pub stimuli: String,
    /// With `--stimuli apolo:PATH`: the images (a folder, manifest CSV or WikiArt root;
    /// default: the shipped paintings).
    #[arg(long, value_name = "PATH")]
    pub stimuli_images: Option<PathBuf>,
}

impl StimuliArgs {
    /// True when anything but the default (`regions`, no images) was given.
    pub fn given(&self) -> bool {
        !self.stimuli.trim().eq_ignore_ascii_case("regions") || self.stimuli_images.is_some()
    }

    /// The training session's data source (`assets`: the shipped assets, the default
    /// images of `apolo:`).
    pub fn data_source(&self, assets: &std::path::Path) -> Result<DataSource> {
        Ok(self.source()?.data_source(assets)?)
    }

    /// The engine's source, or an error naming the flag.
    pub fn source(&self) -> Result<StimuliSource> {
        let s = StimuliSource::parse(&self.stimuli, self.stimuli_images.clone())
            .map_err(|e| anyhow!("--stimuli: {e}"))?;
        if self.stimuli_images.is_some() && !matches!(s, StimuliSource::Apolo { .. }) {
            anyhow::bail!("--stimuli-images goes with --stimuli apolo:PATH");
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_to_sources() {
        let a = |s: &str, i: Option<&str>| StimuliArgs {
            stimuli: s.into(),
            stimuli_images: i.map(PathBuf::from),
        };
        assert_eq!(a("regions", None).source().unwrap(), StimuliSource::Regions);
        assert_eq!(
            a("pseudo:/p", None).source().unwrap(),
            StimuliSource::Pseudo { dir: "/p".into() }
        );
        assert!(a("apolo:/x/apolo.json", Some("/imgs")).source().is_ok());
        let e = a("pseudo:/p", Some("/imgs"))
            .source()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--stimuli-images"), "{e}");
        let e = a("nope", None).source().unwrap_err().to_string();
        assert!(e.starts_with("--stimuli:"), "{e}");
    }
}
