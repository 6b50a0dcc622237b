//! PACL over a collection: embed it (progress and cancel), project embeddings to 2-D,
//! zero-shot classify, free-text search, with typed results ([`EmbedResult`],
//! [`ProjectionResult`], [`ZeroShotResult`], [`SearchResult`]). The engine's requests over
//! them are in `jobs::pacl` and `jobs::map`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::projection::{pca_2d, tsne, Method, Projection, TsneConfig};
use super::text_branch::{read_label, text_tokens};
use super::zeroshot::{
    class_embeddings, classify_calibrated, embed_texts, rank, Calibration, Hit, PromptSet, ZeroShot,
};
use super::PaclModel;
use crate::collection::Collection;
use crate::emotion::Emotion;
use crate::error::{write_atomic, Error, Result};
use crate::models::bert::SentenceEncoder;
use crate::models::patch_tower::{file_descriptors, image_descriptors, Descriptors};
use crate::models::text_memory::PaintingText;
use crate::progress::Progress;
use crate::thumbs::ThumbCache;

/// Embeddings of a collection's paintings (unit norm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    /// Painting ids, one per row.
    pub ids: Vec<String>,
    /// Vectors.
    pub vectors: Vec<Vec<f32>>,
    /// What a model with a text branch read ("pixels + title, artist, description",
    /// "pixels only"); empty for a model without one (pixels only) and in results
    /// written before models read text.
    #[serde(default)]
    pub read: String,
}

impl Embeddings {
    /// Width.
    pub fn dim(&self) -> usize {
        self.vectors.first().map(Vec::len).unwrap_or(0)
    }

    /// Writes `.npy` (float32 `[N, dim]`, with the ids in `<stem>.ids.txt` beside it) or
    /// `.csv` (`id,e0,e1,...`), by the extension of `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => {
                use ndarray_npy::WriteNpyExt;
                let flat: Vec<f32> = self.vectors.concat();
                let a = ndarray::Array2::from_shape_vec((self.vectors.len(), self.dim()), flat)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                let mut bytes = Vec::new();
                a.write_npy(&mut bytes)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                write_atomic(path, &bytes)?;
                let ids = path.with_extension("ids.txt");
                let mut text = self.ids.join("\n");
                text.push('\n');
                write_atomic(&ids, text.as_bytes())
            }
            Some("csv") => {
                let mut w = csv::Writer::from_writer(Vec::new());
                let mut header = vec!["id".to_string()];
                header.extend((0..self.dim()).map(|i| format!("e{i}")));
                w.write_record(&header)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                for (id, v) in self.ids.iter().zip(&self.vectors) {
                    let mut rec = vec![id.clone()];
                    rec.extend(v.iter().map(|x| format!("{x}")));
                    w.write_record(&rec)
                        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                }
                let bytes = w
                    .into_inner()
                    .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
                write_atomic(path, &bytes)
            }
            _ => Err(Error::Invalid(format!(
                "{}: the output must end in .npy or .csv",
                path.display()
            ))),
        }
    }
}

/// A painting that could not be embedded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The image file.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

/// What embedding a collection produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResult {
    /// The embeddings.
    pub embeddings: Embeddings,
    /// Paintings that could not be read (skipped).
    pub skipped: Vec<Skipped>,
    /// Seconds.
    pub seconds: f64,
}

/// Embeds every painting of `collection` (unreadable images are skipped and listed).
/// A model with a text branch ([`super::text_branch`]) also reads each painting's text
/// (its metadata, else its file name) embedded by `encoder`; without an encoder it reads
/// pixels only. Progress is reported per chunk; a cancelled `progress` stops with
/// [`Error::Cancelled`].
pub fn embed_collection(
    model: &PaclModel,
    collection: &Collection,
    encoder: Option<&SentenceEncoder>,
    progress: &dyn Progress,
) -> Result<EmbedResult> {
    embed_collection_thumbs(model, collection, encoder, None, progress)
}

/// The descriptors of the image at `path`; with `thumbs`, its thumbnail is stored there
/// from the same decode when it is not cached yet (the map's atlas reads it next).
fn descriptors(
    path: &Path,
    cfg: &crate::models::patch_tower::PatchTowerConfig,
    thumbs: Option<&ThumbCache>,
) -> Result<Descriptors> {
    let Some(thumbs) = thumbs.filter(|t| t.cached(path).is_none()) else {
        return file_descriptors(path, cfg);
    };
    cfg.validate()?;
    let bytes = crate::error::read_file(path)?;
    let img = crate::imaging::decode_image(&bytes, path)?;
    thumbs.put(path, &bytes, &img)?;
    Ok(image_descriptors(&img, cfg))
}

/// [`embed_collection`], also filling the thumbnail cache `thumbs` from the same decode
/// of each image (the map's thumbnails cost no second decode).
pub fn embed_collection_thumbs(
    model: &PaclModel,
    collection: &Collection,
    encoder: Option<&SentenceEncoder>,
    thumbs: Option<&ThumbCache>,
    progress: &dyn Progress,
) -> Result<EmbedResult> {
    let t0 = std::time::Instant::now();
    let cfg = &model.config().tower;
    let n = collection.paintings.len();
    let mut ids = Vec::new();
    let mut vectors = Vec::new();
    let mut skipped = Vec::new();
    let branch = model.text_branch().map(|b| b.config()).zip(encoder);
    let mut texts = Vec::new();
    // Chunks: descriptors in parallel over images, then one batched forward.
    for (c, chunk) in collection.paintings.chunks(32).enumerate() {
        let descs: Vec<(usize, Result<Descriptors>)> = chunk
            .par_iter()
            .enumerate()
            .map(|(i, p)| (i, descriptors(&p.path, cfg, thumbs)))
            .collect();
        let mut ok = Vec::new();
        let mut chunk_texts = Vec::new();
        for (i, d) in descs {
            match d {
                Ok(d) => {
                    ids.push(chunk[i].id.clone());
                    ok.push(d);
                    if branch.is_some() {
                        chunk_texts.push(PaintingText::from_painting(&chunk[i]));
                    }
                }
                Err(e) => skipped.push(Skipped {
                    path: chunk[i].path.clone(),
                    message: e.to_string(),
                }),
            }
        }
        if !ok.is_empty() {
            match branch {
                Some((cfg, enc)) => {
                    let tokens = text_tokens(enc, &chunk_texts, cfg)?;
                    vectors.extend(model.embed_text(
                        &ok,
                        Some(&tokens),
                        32,
                        &crate::progress::Silent,
                    )?);
                    texts.extend(chunk_texts);
                }
                None => vectors.extend(model.embed(&ok, 32, &crate::progress::Silent)?),
            }
        }
        let done = (c * 32 + chunk.len()).min(n);
        progress.report(
            done as f32 / n.max(1) as f32,
            &format!("{done}/{n} paintings"),
        );
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
    }
    Ok(EmbedResult {
        embeddings: Embeddings {
            ids,
            vectors,
            read: if branch.is_some() {
                read_label(&texts)
            } else if model.text_branch().is_some() {
                "pixels only (the text encoder could not be loaded)".into()
            } else {
                String::new()
            },
        },
        skipped,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The sentence encoder a model was trained with: `text_model` as a path if it is one,
/// else a folder under `models`.
pub fn text_encoder(model: &PaclModel, models: &Path) -> Result<SentenceEncoder> {
    let name = &model.config().text_model;
    let p = PathBuf::from(name);
    let dir = if p.is_absolute() && p.exists() {
        p
    } else {
        models.join(name)
    };
    SentenceEncoder::load(&dir, model.device())
}

/// A projection with the painting ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionResult {
    /// Ids, one per point.
    pub ids: Vec<String>,
    /// The map.
    pub projection: Projection,
}

/// Projects embeddings (PCA or t-SNE with `tsne_cfg`), with progress and cancel.
pub fn project(
    embeddings: &Embeddings,
    method: Method,
    tsne_cfg: &TsneConfig,
    progress: &dyn Progress,
) -> Result<ProjectionResult> {
    let projection = match method {
        Method::Pca => pca_2d(&embeddings.vectors, tsne_cfg.seed)?,
        Method::Tsne => tsne(&embeddings.vectors, tsne_cfg, progress)?,
        Method::Grid => {
            let t = tsne(&embeddings.vectors, tsne_cfg, progress)?;
            Projection {
                method: Method::Grid,
                points: super::grid_layout::grid_snap(&t.points, 2.0, tsne_cfg.seed),
            }
        }
    };
    Ok(ProjectionResult {
        ids: embeddings.ids.clone(),
        projection,
    })
}

/// Zero-shot predictions for a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotResult {
    /// Ids, one per prediction.
    pub ids: Vec<String>,
    /// The classes, in the order of the cosines.
    pub emotions: Vec<Emotion>,
    /// Per painting.
    pub predictions: Vec<ZeroShot>,
    /// The class prompts used.
    #[serde(default)]
    pub prompts: PromptSet,
    /// The calibration of the cosines (results written before it existed: none).
    #[serde(default = "no_calibration")]
    pub calibration: Calibration,
}

fn no_calibration() -> Calibration {
    Calibration::None
}

/// Zero-shot classification of embeddings into the eight emotions with the class
/// prompts `prompts`.
pub fn zero_shot(
    model: &PaclModel,
    encoder: &SentenceEncoder,
    embeddings: &Embeddings,
    prompts: PromptSet,
    calibration: Calibration,
) -> Result<ZeroShotResult> {
    let emotions = Emotion::EIGHT.to_vec();
    let classes = class_embeddings(model, encoder, &emotions, prompts)?;
    let predictions = classify_calibrated(
        &embeddings.vectors,
        &classes,
        &emotions,
        model.config().temperature,
        calibration,
    );
    Ok(ZeroShotResult {
        ids: embeddings.ids.clone(),
        emotions,
        predictions,
        prompts,
        calibration,
    })
}

/// Search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The query.
    pub query: String,
    /// Hits, best first, with ids.
    pub hits: Vec<(String, Hit)>,
}

/// Ranks the collection by cosine with a free-text query ("paintings that feel lonely").
pub fn search(
    model: &PaclModel,
    encoder: &SentenceEncoder,
    embeddings: &Embeddings,
    query: &str,
    top: usize,
) -> Result<SearchResult> {
    let q = embed_texts(model, encoder, &[query])?;
    let q = q.first().cloned().unwrap_or_default();
    let hits = rank(&q, &embeddings.vectors, top)
        .into_iter()
        .map(|h| (embeddings.ids[h.index].clone(), h))
        .collect();
    Ok(SearchResult {
        query: query.to_string(),
        hits,
    })
}

/// A PACL model with its frozen text encoder (the encoder is absent when its folder
/// cannot be loaded; the reason is kept).
pub struct LoadedPacl {
    /// Where it came from.
    pub dir: PathBuf,
    /// The model.
    pub model: PaclModel,
    /// The text encoder, or why it could not be loaded.
    pub encoder: std::result::Result<SentenceEncoder, String>,
}

/// Loads the model in `dir` and the text encoder its config names (under `models`).
pub fn load_pacl(dir: &Path, models: &Path, device: &candle_core::Device) -> Result<LoadedPacl> {
    let model = PaclModel::load(dir, device)?;
    let encoder = text_encoder(&model, models).map_err(|e| e.to_string());
    Ok(LoadedPacl {
        dir: dir.to_path_buf(),
        model,
        encoder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_npy_and_csv() {
        let e = Embeddings {
            ids: vec!["a".into(), "b".into()],
            vectors: vec![vec![1.0, 0.0, 0.5], vec![0.0, 1.0, -0.5]],
            read: "pixels only".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("e.npy");
        e.write(&npy).unwrap();
        use ndarray_npy::ReadNpyExt;
        let a = ndarray::Array2::<f32>::read_npy(std::fs::File::open(&npy).unwrap()).unwrap();
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a[[1, 2]], -0.5);
        let ids = std::fs::read_to_string(dir.path().join("e.ids.txt")).unwrap();
        assert_eq!(ids, "a\nb\n");
        let csv = dir.path().join("e.csv");
        e.write(&csv).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(text.starts_with("id,e0,e1,e2\na,1,0,0.5\n"), "{text}");
        assert!(e.write(&dir.path().join("e.txt")).is_err());
        let p = project(
            &e,
            Method::Pca,
            &TsneConfig::default(),
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(p.ids, e.ids);
    }

    #[test]
    fn embeds_a_folder_and_skips_unreadable_files() {
        let dir = tempfile::tempdir().unwrap();
        for (i, c) in [[200u8, 30, 30], [30, 30, 200]].iter().enumerate() {
            image::RgbImage::from_pixel(40, 40, image::Rgb(*c))
                .save(dir.path().join(format!("p{i}.png")))
                .unwrap();
        }
        std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
        let coll = Collection::open(dir.path()).unwrap();
        let model = PaclModel::new(
            &super::super::PaclConfig::tiny(6),
            &candle_core::Device::Cpu,
            1,
        )
        .unwrap();
        let r = embed_collection(&model, &coll, None, &crate::progress::Silent).unwrap();
        assert_eq!(
            r.embeddings.ids.len() + r.skipped.len(),
            coll.paintings.len()
        );
        assert!(r.embeddings.ids.contains(&"p0".to_string()));
        assert_eq!(r.embeddings.dim(), 8);
        assert!(matches!(
            embed_collection(
                &model,
                &coll,
                None,
                &crate::progress::FnProgress::with_cancel(
                    |_, _| {},
                    &std::sync::atomic::AtomicBool::new(true)
                )
            ),
            Err(Error::Cancelled)
        ));
    }

    /// A model with a text branch reads each painting's text (here its file name, as for
    /// a bare folder) and says so; a painting without text gets exactly its pixels-only
    /// embedding. Uses the shipped MiniLM.
    #[test]
    fn a_text_branch_model_reads_file_names_and_says_so() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let dev = candle_core::Device::Cpu;
        let enc = SentenceEncoder::load(&models.join("all-MiniLM-L6-v2"), &dev).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, c) in [("storm-at-sea", [30u8, 30, 200]), ("100", [200, 30, 30])] {
            image::RgbImage::from_pixel(40, 40, image::Rgb(c))
                .save(dir.path().join(format!("{name}.png")))
                .unwrap();
        }
        let coll = Collection::open(dir.path()).unwrap();
        let base = PaclModel::new(&super::super::PaclConfig::tiny(384), &dev, 1).unwrap();
        let branch = super::super::text_branch::TextBranchConfig {
            hidden: 8,
            ..Default::default()
        };
        let m = base.with_text_branch(&branch, 2).unwrap();
        let silent = &crate::progress::Silent;
        let r = embed_collection(&m, &coll, Some(&enc), silent).unwrap();
        assert_eq!(r.embeddings.read, "pixels + title");
        let pixels = embed_collection(&m, &coll, None, silent).unwrap();
        assert!(pixels.embeddings.read.starts_with("pixels only"));
        let plain = embed_collection(&base, &coll, Some(&enc), silent).unwrap();
        assert_eq!(plain.embeddings.read, "");
        for (i, id) in r.embeddings.ids.iter().enumerate() {
            let d: f32 = r.embeddings.vectors[i]
                .iter()
                .zip(&pixels.embeddings.vectors[i])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            if id == "100" {
                assert!(d < 1e-6, "{id}: {d}");
            } else {
                assert!(d > 1e-4, "{id}: the title changed nothing");
            }
        }
    }
}
