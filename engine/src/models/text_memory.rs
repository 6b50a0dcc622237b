//! Text as a second memory (issue 21): the frozen MiniLM sentence encoder embeds a
//! painting's own text (title; artist, date and medium; curatorial description), one
//! embedding per field, and the embeddings are packed after the image grid so the model's
//! cross-attention reads them beside the pixels (packing in
//! [`crate::sevlm::model::TextMemoryConfig`]).
//!
//! Where the text comes from: a collection's metadata (the shipped `paintings.csv`), else
//! the file name: WikiArt names paintings `artist_title-year`, so `claude-monet_water-
//! lilies-1916` reads "claude monet" and "water lilies 1916". A name of digits only (the
//! shipped AIC files, `100026.jpg`) is no text. A painting without text gets zero
//! embeddings: the model was trained with text dropout for that case.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::collection::{Collection, Painting};
use crate::error::{Error, Result};
use crate::models::bert::SentenceEncoder;
use crate::sevlm::model::TextMemoryConfig;

/// The fields the kit's text memory embeds, one memory token each.
pub const FIELDS: [&str; 3] = ["title", "artist, date, medium", "description"];

/// Longest description embedded, in characters (MiniLM reads 256 word pieces).
const MAX_DESCRIPTION: usize = 1_000;

/// The kit's text memory: all-MiniLM-L6-v2 (384-d), the three [`FIELDS`].
pub fn kit_config() -> TextMemoryConfig {
    TextMemoryConfig {
        encoder: "all-MiniLM-L6-v2".into(),
        text_dim: 384,
        fields: FIELDS.iter().map(|f| f.to_string()).collect(),
    }
}

/// A painting's text, by field (`None`: the field is absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaintingText {
    /// The title (or the title part of a WikiArt file name).
    pub title: Option<String>,
    /// Artist, date and medium, comma-separated (or the artist part of a file name).
    pub artist_date_medium: Option<String>,
    /// The plain-text description.
    pub description: Option<String>,
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

impl PaintingText {
    /// No text at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// The text of a collection's painting: its metadata, else its file name.
    pub fn from_painting(p: &Painting) -> Self {
        let adm: Vec<String> = [p.artist.as_deref(), p.date.as_deref(), p.medium.as_deref()]
            .into_iter()
            .filter_map(non_empty)
            .collect();
        let t = PaintingText {
            title: non_empty(p.title.as_deref()),
            artist_date_medium: (!adm.is_empty()).then(|| adm.join(", ")),
            description: p
                .plain_description()
                .map(|d| d.chars().take(MAX_DESCRIPTION).collect()),
        };
        if t.is_empty() {
            Self::from_file_name(&p.id)
        } else {
            t
        }
    }

    /// The text of a bare file name (its stem): WikiArt's `artist_title-year` gives the
    /// artist and the title as words; another name is a title; digits only is no text.
    pub fn from_file_name(stem: &str) -> Self {
        let words = |s: &str| {
            let w: Vec<&str> = s
                .split(|c: char| c == '-' || c == '_' || c == '.' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .collect();
            let text = w.join(" ");
            (text.chars().any(char::is_alphabetic)).then_some(text)
        };
        match stem.split_once('_') {
            Some((artist, title)) => PaintingText {
                title: words(title),
                artist_date_medium: words(artist),
                description: None,
            },
            None => PaintingText {
                title: words(stem),
                ..Self::none()
            },
        }
    }

    /// The text of an image file: its row in a `paintings.csv` manifest beside it (the
    /// shipped collection's layout), else its file name.
    pub fn for_image(image: &Path) -> Self {
        let stem = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let from_manifest = image
            .parent()
            .map(|d| d.join("paintings.csv"))
            .filter(|m| m.is_file())
            .and_then(|m| Collection::open(&m).ok())
            .and_then(|c| {
                c.paintings
                    .iter()
                    .find(|p| p.path.file_name() == image.file_name())
                    .map(Self::from_painting)
            });
        from_manifest.unwrap_or_else(|| Self::from_file_name(&stem))
    }

    /// The fields in [`FIELDS`] order.
    pub fn fields(&self) -> [Option<&str>; 3] {
        [
            self.title.as_deref(),
            self.artist_date_medium.as_deref(),
            self.description.as_deref(),
        ]
    }

    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(Option::is_none)
    }

    /// What a model with a text memory reads: "pixels + title, description", or
    /// "pixels only".
    pub fn read_label(&self) -> String {
        let names = ["title", "artist", "description"];
        let present: Vec<&str> = self
            .fields()
            .iter()
            .zip(names)
            .filter(|(f, _)| f.is_some())
            .map(|(_, n)| n)
            .collect();
        if present.is_empty() {
            "pixels only".into()
        } else {
            format!("pixels + {}", present.join(", "))
        }
    }
}

/// The frozen sentence encoder of a text memory.
pub struct TextMemory {
    encoder: SentenceEncoder,
    cfg: TextMemoryConfig,
    /// The encoder's device, where [`TextMemory::embed`] leaves its embeddings.
    device: Device,
}

impl TextMemory {
    /// Loads the encoder `cfg` names from `models`; its width must be `cfg.text_dim`.
    pub fn load(cfg: &TextMemoryConfig, models: &Path, device: &Device) -> Result<Self> {
        let encoder = SentenceEncoder::load(&models.join(&cfg.encoder), device)?;
        if encoder.dim() != cfg.text_dim {
            return Err(Error::Invalid(format!(
                "text memory: {} embeds {} dimensions, the model expects {}",
                encoder.dir().display(),
                encoder.dim(),
                cfg.text_dim
            )));
        }
        if cfg.tokens() != FIELDS.len() {
            return Err(Error::Invalid(format!(
                "text memory: the model has {} text fields, this build knows {} ({})",
                cfg.tokens(),
                FIELDS.len(),
                FIELDS.join("; ")
            )));
        }
        Ok(TextMemory {
            encoder,
            cfg: cfg.clone(),
            device: device.clone(),
        })
    }

    /// Embeddings [n, fields, text_dim] of `texts` on the encoder's device; absent fields
    /// are zeros.
    pub fn embed(&self, texts: &[PaintingText]) -> Result<Tensor> {
        embed_fields(&self.encoder, texts, self.cfg.tokens(), self.cfg.text_dim)?
            .to_device(&self.device)
            .map_err(Into::into)
    }
}

/// Embeddings [n, k, d] of `texts` by `encoder` (width `d`), one per field of
/// [`PaintingText::fields`] (the first `k`); absent fields are zeros. Shared by
/// [`TextMemory`] and PACL's text branch.
pub fn embed_fields(
    encoder: &SentenceEncoder,
    texts: &[PaintingText],
    k: usize,
    d: usize,
) -> Result<Tensor> {
    let mut out = vec![0f32; texts.len() * k * d];
    let mut strings: Vec<&str> = Vec::new();
    let mut slots: Vec<usize> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        for (j, f) in t.fields().iter().enumerate().take(k) {
            if let Some(s) = f {
                strings.push(s);
                slots.push(i * k + j);
            }
        }
    }
    if !strings.is_empty() {
        let e = encoder.encode(&strings, 32)?.to_vec2::<f32>()?;
        for (slot, row) in slots.iter().zip(e) {
            if row.len() != d {
                return Err(Error::Invalid(format!(
                    "text memory: {} embeds {} dimensions, expected {d}",
                    encoder.dir().display(),
                    row.len()
                )));
            }
            out[slot * d..(slot + 1) * d].copy_from_slice(&row);
        }
    }
    Ok(Tensor::from_vec(out, (texts.len(), k, d), &Device::Cpu)?)
}

/// Packs text embeddings [n, K, text_dim] after grids [n, N, D]: each embedding over
/// `ceil(text_dim / D)` rows of D, zero-padded ([`TextMemoryConfig`]). Returns
/// [n, N + K * chunks, D] on the grids' device.
pub fn pack(grids: &Tensor, text: &Tensor) -> Result<Tensor> {
    let (n, _, dim) = grids.dims3()?;
    let (n2, k, td) = text.dims3()?;
    if n != n2 {
        return Err(Error::Invalid(format!(
            "text memory: {n} grids but {n2} texts"
        )));
    }
    let chunks = td.div_ceil(dim.max(1));
    let text = text.to_device(grids.device())?.to_dtype(DType::F32)?;
    let padded = if chunks * dim > td {
        let pad = Tensor::zeros((n, k, chunks * dim - td), DType::F32, grids.device())?;
        Tensor::cat(&[&text, &pad], 2)?
    } else {
        text
    };
    Ok(Tensor::cat(
        &[grids, &padded.reshape((n, k * chunks, dim))?],
        1,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wikiart_file_names_read_as_artist_and_title() {
        let t = PaintingText::from_file_name("claude-monet_water-lilies-1916");
        assert_eq!(t.title.as_deref(), Some("water lilies 1916"));
        assert_eq!(t.artist_date_medium.as_deref(), Some("claude monet"));
        assert_eq!(t.read_label(), "pixels + title, artist");
        // The shipped AIC files are numbers: no text.
        let n = PaintingText::from_file_name("100026");
        assert!(n.is_empty());
        assert_eq!(n.read_label(), "pixels only");
        assert_eq!(
            PaintingText::from_file_name("Storm at sea")
                .title
                .as_deref(),
            Some("Storm at sea")
        );
    }

    #[test]
    fn shipped_manifest_gives_title_and_description() {
        let img = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/paintings/aic/100342.jpg");
        let t = PaintingText::for_image(&img);
        assert_eq!(t.title.as_deref(), Some("Saint Francis"));
        assert!(t
            .artist_date_medium
            .as_deref()
            .is_some_and(|s| s.contains("Rubens") && s.contains("Oil on panel")));
        assert!(t.description.as_deref().is_some_and(|d| !d.contains("<p>")));
        assert_eq!(t.read_label(), "pixels + title, artist, description");
    }

    #[test]
    fn packing_round_trips_through_the_model_split() {
        let cfg = kit_config();
        let grids = Tensor::rand(0f32, 1.0, (2, 5, 100), &Device::Cpu).unwrap();
        let text = Tensor::rand(0f32, 1.0, (2, 3, 384), &Device::Cpu).unwrap();
        let packed = pack(&grids, &text).unwrap();
        assert_eq!(packed.dims(), &[2, 5 + cfg.packed_rows(100), 100]);
        let mut sc = crate::sevlm::SevlmConfig::tiny(100);
        sc.text_memory = Some(cfg);
        let (m, _) = crate::sevlm::Sevlm::init(&sc, 1, &Device::Cpu).unwrap();
        let (g, t) = m.split_memory(&packed).unwrap();
        let diff = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(diff(&g, &grids), 0.0);
        assert_eq!(diff(&t.unwrap(), &text), 0.0);
        // The memory: 5 grid tokens + 3 text tokens at the decoder width.
        let enc = m.encoder_states(&packed).unwrap();
        assert_eq!(enc.dims(), &[2, 8, 32]);
    }
}
