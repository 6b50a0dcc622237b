//! The Map tab's requests. The embedding map of a collection as one request ([`MapRequest`]): PACL embeddings, a 2-D projection
//! (PCA or t-SNE), k-means clusters and zero-shot emotions, cached on disk per (model,
//! collection content) and reused across methods and cluster counts; plus a free-text
//! search request ([`MapSearch`]) with the model and its text encoder from the shared registry.
//!
//! Cache: `<cache>/pacl-map/<model key>-<collection key>.json` ([`MapData`]), where the
//! model key is the SHA-256 of the model's `config.json` and `model.safetensors` and the
//! collection key the SHA-256 of every painting's id, file bytes and text, in order. A cache
//! file that cannot be read or parsed, or whose keys differ, is ignored and rewritten
//! (atomically).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::models::LoadedModels;
use super::output::JobOutput;
pub use super::results::{method_key, MapData, MapZeroShot};
use super::worker::JobContext;
use crate::collection::{Collection, Painting};
use crate::error::{write_atomic, Error, Result};
use crate::pacl::embed::{embed_collection_thumbs, search, zero_shot, Embeddings, LoadedPacl};
use crate::pacl::grid_layout::grid_snap;
use crate::pacl::kmeans::kmeans;
use crate::pacl::projection::{pca_2d, tsne, Method, TsneConfig};
use crate::pacl::zeroshot::{Calibration, Hit, PromptSet};
use crate::progress::{Progress, Scaled};
use crate::thumbs::{ThumbCache, THUMB_SIDE};

/// What the map job should compute.
#[derive(Debug, Clone)]
pub struct MapRequest {
    /// The PACL model folder.
    pub model_dir: PathBuf,
    /// The models folder (for the text encoder).
    pub models: PathBuf,
    /// The paintings, in collection order.
    pub paintings: Vec<Painting>,
    /// Projection.
    pub method: Method,
    /// t-SNE settings (its seed is also PCA's).
    pub tsne: TsneConfig,
    /// k-means clusters.
    pub k: usize,
    /// Zero-shot class prompts (a cached map with other prompts recomputes its zero-shot
    /// emotions only).
    pub prompts: PromptSet,
    /// Zero-shot calibration over the collection (a cached map with another one
    /// recomputes its zero-shot emotions only).
    pub calibration: Calibration,
    /// Cache folder (`None`: no disk cache).
    pub cache: Option<PathBuf>,
    /// Build the thumbnail atlas with cells of this side ([`crate::atlas`]; `None`: no
    /// atlas). Thumbnails go to `<cache>/thumbs` (a temporary folder without a cache).
    pub atlas_cell: Option<u32>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The model key: SHA-256 of `config.json` and `model.safetensors`.
pub fn model_key(dir: &Path) -> Result<String> {
    let files = [dir.join("config.json"), dir.join("model.safetensors")];
    Ok(hex(&crate::emosem::cache::sha256_files(
        &files,
        "pacl-map v2",
    )?))
}

/// The collection key: SHA-256 over every painting's id, file bytes (a missing file
/// counts as empty with a marker) and text (what a PACL text branch reads), in order. `progress` gets the done share ("hashing the
/// collection") and may cancel.
pub fn collection_key(paintings: &[Painting], progress: &dyn Progress) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for (i, p) in paintings.iter().enumerate() {
        h.update(p.id.as_bytes());
        h.update([0u8]);
        match std::fs::File::open(&p.path) {
            Ok(mut f) => loop {
                let n = f.read(&mut buf).map_err(|e| Error::io(&p.path, e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            },
            Err(_) => h.update(b"\x00missing\x00"),
        }
        // The painting's text: a model with a text branch reads it.
        for f in crate::models::text_memory::PaintingText::from_painting(p).fields() {
            h.update([0xfeu8]);
            h.update(f.unwrap_or("").as_bytes());
        }
        h.update([0xffu8]);
        progress.report(
            (i + 1) as f32 / paintings.len().max(1) as f32,
            "hashing the collection",
        );
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
    }
    Ok(hex(&h.finalize()))
}

/// The cache file of a (model, collection) pair.
pub fn cache_file(cache: &Path, model_key: &str, collection_key: &str) -> PathBuf {
    cache.join("pacl-map").join(format!(
        "{}-{}.json",
        &model_key[..16.min(model_key.len())],
        &collection_key[..16.min(collection_key.len())]
    ))
}

fn read_cache(path: &Path, model_key: &str, collection_key: &str) -> Option<MapData> {
    let text = std::fs::read_to_string(path).ok()?;
    let d: MapData = serde_json::from_str(&text).ok()?;
    (d.model_key == model_key
        && d.collection_key == collection_key
        && d.indices.len() == d.embeddings.ids.len())
    .then_some(d)
}

fn write_cache(path: &Path, d: &MapData) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let text = serde_json::to_string(d).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

fn project(
    vectors: &[Vec<f32>],
    method: Method,
    cfg: &TsneConfig,
    progress: &dyn Progress,
) -> Result<Vec<[f32; 2]>> {
    if vectors.is_empty() {
        return Ok(Vec::new());
    }
    let p = match method {
        Method::Pca => pca_2d(vectors, cfg.seed)?,
        Method::Tsne | Method::Grid => tsne(vectors, cfg, &Scaled::new(progress, 0.85, 0.13))?,
    };
    Ok(p.points)
}

/// The embedding stage's progress: its messages read "embedding 3/8 paintings".
struct Embedding<'a>(Scaled<'a>);

impl Progress for Embedding<'_> {
    fn report(&self, fraction: f32, message: &str) {
        self.0.report(fraction, &format!("embedding {message}"));
    }
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

/// The zero-shot emotions of `embeddings` with `prompts`, or why there are none.
fn map_zero_shot(
    loaded: &LoadedPacl,
    embeddings: &Embeddings,
    prompts: PromptSet,
    calibration: Calibration,
) -> std::result::Result<MapZeroShot, String> {
    match &loaded.encoder {
        Ok(enc) => zero_shot(&loaded.model, enc, embeddings, prompts, calibration)
            .map(|z| MapZeroShot {
                emotions: z.predictions.iter().map(|p| p.emotion).collect(),
                confidence: z
                    .predictions
                    .iter()
                    .map(|p| p.probabilities.iter().copied().fold(0.0, f32::max))
                    .collect(),
                prompts,
                calibration,
            })
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("the text encoder could not be loaded: {e}")),
    }
}

/// Computes (or completes from the cache) the map of `req`; the model comes from `models`
/// (loaded on first use).
pub fn compute_map(
    req: &MapRequest,
    models: &LoadedModels,
    device: &candle_core::Device,
    progress: &dyn Progress,
) -> Result<MapData> {
    let stop = || Error::Cancelled;
    // Reports, then tells whether to go on.
    let report = |f: f32, m: &str| {
        progress.report(f, m);
        !progress.cancelled()
    };
    if !report(0.0, "hashing the model and the collection") {
        return Err(stop());
    }
    let mkey = model_key(&req.model_dir)?;
    let ckey = collection_key(&req.paintings, &Scaled::new(progress, 0.0, 0.05))?;
    let cache_path = req.cache.as_deref().map(|c| cache_file(c, &mkey, &ckey));
    let cached = cache_path
        .as_deref()
        .and_then(|p| read_cache(p, &mkey, &ckey));
    let from_cache = cached.is_some();
    let thumbs = req.atlas_cell.map(|_| {
        ThumbCache::new(
            req.cache.as_deref().map_or_else(
                || std::env::temp_dir().join("artemo-thumbs"),
                |c| c.join("thumbs"),
            ),
            THUMB_SIDE,
        )
    });
    let mut changed = false;
    let mut data = match cached {
        Some(d) => d,
        None => {
            if !report(0.05, "loading the PACL model") {
                return Err(stop());
            }
            let loaded = models.pacl(&req.model_dir, &req.models, device)?;
            let coll = Collection {
                name: String::new(),
                source: PathBuf::new(),
                kind: crate::collection::CollectionKind::Folder,
                paintings: req.paintings.clone(),
                problems: Vec::new(),
            };
            let r = embed_collection_thumbs(
                &loaded.model,
                &coll,
                loaded.encoder.as_ref().ok(),
                thumbs.as_ref(),
                &Embedding(Scaled::new(progress, 0.05, 0.65)),
            )?;
            let pos: std::collections::HashMap<&str, usize> = req
                .paintings
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.as_str(), i))
                .collect();
            // Ids are unique in a collection except for duplicated stems; map each embedded
            // id to the first unused painting with that id.
            let mut used = vec![false; req.paintings.len()];
            let mut indices = Vec::with_capacity(r.embeddings.ids.len());
            for id in &r.embeddings.ids {
                let start = pos.get(id.as_str()).copied().unwrap_or(0);
                let i = (start..req.paintings.len())
                    .find(|&j| !used[j] && req.paintings[j].id == *id)
                    .ok_or_else(|| {
                        Error::Invalid(format!("embedded id {id} not in the collection"))
                    })?;
                used[i] = true;
                indices.push(i);
            }
            if !report(0.78, "zero-shot emotions") {
                return Err(stop());
            }
            let zs = map_zero_shot(&loaded, &r.embeddings, req.prompts, req.calibration);
            changed = true;
            MapData {
                model_key: mkey.clone(),
                collection_key: ckey.clone(),
                model_dir: req.model_dir.clone(),
                embeddings: r.embeddings,
                indices,
                skipped: r.skipped,
                projections: BTreeMap::new(),
                clusters: BTreeMap::new(),
                zero_shot: zs,
                from_cache: false,
                atlas: None,
                measured_zero_shot: None,
            }
        }
    };
    if matches!(&data.zero_shot, Ok(z) if z.prompts != req.prompts || z.calibration != req.calibration)
    {
        if !report(0.8, "zero-shot emotions") {
            return Err(stop());
        }
        let loaded = models.pacl(&req.model_dir, &req.models, device)?;
        data.zero_shot = map_zero_shot(&loaded, &data.embeddings, req.prompts, req.calibration);
        changed = true;
    }
    if let (Some(cell), Some(thumbs)) = (req.atlas_cell, &thumbs) {
        if data
            .atlas
            .as_ref()
            .is_none_or(|a| a.cell != cell || a.key != data.collection_key)
        {
            let paths: Vec<PathBuf> = data
                .indices
                .iter()
                .map(|&i| req.paintings[i].path.clone())
                .collect();
            let a = crate::atlas::atlas(
                &paths,
                &data.collection_key,
                cell,
                thumbs,
                req.cache.as_deref(),
                &Scaled::new(progress, 0.7, 0.08),
            )?;
            data.atlas = Some(std::sync::Arc::new(a));
        }
    }
    let key = method_key(req.method);
    if !data.projections.contains_key(key) {
        if !report(0.85, "projecting") {
            return Err(stop());
        }
        let pts = match req.method {
            Method::Grid => {
                let t = match data.projections.get(method_key(Method::Tsne)) {
                    Some(t) => t.clone(),
                    None => {
                        let t =
                            project(&data.embeddings.vectors, Method::Tsne, &req.tsne, progress)?;
                        data.projections
                            .insert(method_key(Method::Tsne).into(), t.clone());
                        t
                    }
                };
                grid_snap(&t, 2.0, req.tsne.seed)
            }
            m => project(&data.embeddings.vectors, m, &req.tsne, progress)?,
        };
        data.projections.insert(key.into(), pts);
        changed = true;
    }
    let n = data.embeddings.vectors.len();
    let k = req.k.clamp(1, n.max(1));
    if n > 0 && !data.clusters.contains_key(&k) {
        if !report(0.98, "k-means") {
            return Err(stop());
        }
        let km = kmeans(&data.embeddings.vectors, k, req.tsne.seed, 4, 300)?;
        data.clusters.insert(k, km.labels);
        changed = true;
    }
    if changed {
        if let Some(p) = &cache_path {
            write_cache(p, &data)?;
        }
    }
    data.from_cache = from_cache;
    data.measured_zero_shot = crate::kit::zero_shot::measured(&req.model_dir);
    report(1.0, "map ready");
    Ok(data)
}

/// Free-text search over a map's embeddings through PACL's text tower: every embedded
/// painting's cosine with the query, best first ([`Hit::index`] indexes the embeddings).
pub fn search_map(loaded: &LoadedPacl, embeddings: &Embeddings, query: &str) -> Result<Vec<Hit>> {
    let enc = loaded.encoder.as_ref().map_err(|e| {
        Error::Invalid(format!(
            "free-text search needs the PACL text encoder ({}): {e}",
            loaded.model.config().text_model
        ))
    })?;
    let r = search(&loaded.model, enc, embeddings, query, embeddings.ids.len())?;
    Ok(r.hits.into_iter().map(|(_, h)| h).collect())
}

/// Free-text search over a map's embeddings ([`search_map`]) with the PACL model in
/// `model_dir` (from the shared registry).
///
/// The result is [`JobOutput::Hits`].
#[derive(Debug, Clone)]
pub struct MapSearch {
    /// The PACL model folder.
    pub model_dir: PathBuf,
    /// The models folder (for the text encoder).
    pub models: PathBuf,
    /// The map's embeddings.
    pub embeddings: Embeddings,
    /// The query.
    pub query: String,
}

/// [`compute_map`] as a request; the result is [`JobOutput::Map`].
pub(crate) fn run_map(req: MapRequest, ctx: &JobContext) -> Result<JobOutput> {
    let d = compute_map(&req, ctx.models(), ctx.device(), ctx)?;
    Ok(JobOutput::Map(Box::new(d)))
}

pub(crate) fn run_search(req: MapSearch, ctx: &JobContext) -> Result<JobOutput> {
    ctx.progress(0.0, "loading the PACL text tower");
    let loaded = ctx
        .models()
        .pacl(&req.model_dir, &req.models, ctx.device())?;
    ctx.check()?;
    Ok(JobOutput::Hits(search_map(
        &loaded,
        &req.embeddings,
        &req.query,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacl::{locate, PaclModel};

    fn folder() -> (tempfile::TempDir, Vec<Painting>) {
        let dir = tempfile::tempdir().unwrap();
        for (i, c) in [
            [200u8, 30, 30],
            [30, 30, 200],
            [30, 200, 30],
            [220, 220, 40],
            [10, 10, 10],
        ]
        .iter()
        .enumerate()
        {
            image::RgbImage::from_pixel(32, 32, image::Rgb(*c))
                .save(dir.path().join(format!("p{i}.png")))
                .unwrap();
        }
        let c = Collection::open(dir.path()).unwrap();
        (dir, c.paintings)
    }

    /// A tiny seeded PACL model (text width `text_dim`) saved as `<root>/pacl`.
    fn tiny_pacl(root: &Path, text_dim: usize) -> PathBuf {
        let dir = root.join("pacl");
        PaclModel::new(
            &crate::pacl::PaclConfig::tiny(text_dim),
            &candle_core::Device::Cpu,
            1,
        )
        .unwrap()
        .save(&dir)
        .unwrap();
        dir
    }

    #[test]
    fn computes_caches_and_completes_maps() {
        let (dir, paintings) = folder();
        let models = tempfile::tempdir().unwrap();
        assert!(locate(models.path()).is_none());
        let mdir = tiny_pacl(models.path(), 6);
        assert_eq!(locate(models.path()), Some(mdir.clone()));
        let cache = tempfile::tempdir().unwrap();
        let req = MapRequest {
            model_dir: mdir.clone(),
            models: models.path().to_path_buf(),
            paintings: paintings.clone(),
            method: Method::Pca,
            tsne: TsneConfig {
                iterations: 50,
                ..Default::default()
            },
            k: 2,
            prompts: PromptSet::Paper,
            calibration: Calibration::Centered,
            cache: Some(cache.path().to_path_buf()),
            atlas_cell: None,
        };
        let reg = LoadedModels::new();
        let dev = candle_core::Device::Cpu;
        let ok = crate::progress::Silent;
        let a = compute_map(&req, &reg, &dev, &ok).unwrap();
        assert!(!a.from_cache);
        assert_eq!(a.indices, (0..5).collect::<Vec<_>>());
        assert_eq!(a.points(Method::Pca).unwrap().len(), 5);
        assert!(a.points(Method::Tsne).is_none());
        assert_eq!(a.clusters[&2].len(), 5);
        // No MiniLM in the temp models folder: zero-shot says why.
        assert!(a.zero_shot.as_ref().unwrap_err().contains("text encoder"));
        // Second run: from the cache, completed with t-SNE and another k.
        let req2 = MapRequest {
            method: Method::Tsne,
            k: 3,
            ..req.clone()
        };
        let b = compute_map(&req2, &LoadedModels::new(), &dev, &ok).unwrap();
        assert!(b.from_cache);
        assert_eq!(b.points(Method::Pca), a.points(Method::Pca));
        assert_eq!(b.points(Method::Tsne).unwrap().len(), 5);
        assert!(b.clusters.contains_key(&2) && b.clusters.contains_key(&3));
        // Changed image bytes: another collection key, recomputed.
        image::RgbImage::from_pixel(32, 32, image::Rgb([1u8, 2, 3]))
            .save(dir.path().join("p0.png"))
            .unwrap();
        let c = compute_map(&req, &reg, &dev, &ok).unwrap();
        assert!(!c.from_cache);
        assert_ne!(c.collection_key, a.collection_key);
        // A corrupt cache file is ignored.
        let f = cache_file(cache.path(), &c.model_key, &c.collection_key);
        std::fs::write(&f, "{").unwrap();
        assert!(!compute_map(&req, &reg, &dev, &ok).unwrap().from_cache);
        // Cancellation.
        let cancelled = std::sync::atomic::AtomicBool::new(true);
        let stop = crate::progress::FnProgress::with_cancel(|_, _| {}, &cancelled);
        assert!(matches!(
            compute_map(&req, &reg, &dev, &stop),
            Err(Error::Cancelled)
        ));
        // Search without a text encoder names what is missing.
        // The registry loaded the model once for the three computed maps.
        assert_eq!(reg.loads(), 1);
        let loaded = reg.pacl(&mdir, models.path(), &dev).unwrap();
        assert_eq!(reg.loads(), 1);
        let e = search_map(&loaded, &a.embeddings, "lonely")
            .unwrap_err()
            .to_string();
        assert!(e.contains("text encoder"), "{e}");
    }

    /// The grid layout reuses the t-SNE map and snaps it; the atlas is filled from the
    /// embedding pass' thumbnails and read back from its own cache file.
    #[test]
    fn grid_layout_and_atlas() {
        let (_dir, paintings) = folder();
        let models = tempfile::tempdir().unwrap();
        let mdir = tiny_pacl(models.path(), 6);
        let cache = tempfile::tempdir().unwrap();
        let req = MapRequest {
            model_dir: mdir,
            models: models.path().to_path_buf(),
            paintings,
            method: Method::Grid,
            tsne: TsneConfig {
                iterations: 50,
                ..Default::default()
            },
            k: 2,
            prompts: PromptSet::Paper,
            calibration: Calibration::Centered,
            cache: Some(cache.path().to_path_buf()),
            atlas_cell: Some(16),
        };
        let (reg, dev, ok) = (
            LoadedModels::new(),
            candle_core::Device::Cpu,
            crate::progress::Silent,
        );
        let a = compute_map(&req, &reg, &dev, &ok).unwrap();
        let grid = a.points(Method::Grid).unwrap();
        assert_eq!(a.points(Method::Tsne).unwrap().len(), 5);
        let cells: std::collections::HashSet<(i64, i64)> =
            grid.iter().map(|p| (p[0] as i64, p[1] as i64)).collect();
        assert_eq!(cells.len(), 5);
        let atlas = a.atlas.as_ref().unwrap();
        assert!(!atlas.from_cache);
        assert_eq!(atlas.slots.len(), 5);
        assert!(atlas
            .slots
            .iter()
            .all(|s| s.is_some_and(|s| s.w == 16 && s.h == 16)));
        // The embedding pass stored every thumbnail.
        let thumbs = ThumbCache::new(cache.path().join("thumbs"), THUMB_SIDE);
        assert!(req
            .paintings
            .iter()
            .all(|p| thumbs.cached(&p.path).is_some()));
        // Second open: map and atlas from their caches, the same pixels.
        let b = compute_map(&req, &reg, &dev, &ok).unwrap();
        assert!(b.from_cache);
        let ab = b.atlas.as_ref().unwrap();
        assert!(ab.from_cache);
        assert_eq!((&ab.pages, &ab.slots), (&atlas.pages, &atlas.slots));
        assert_eq!(b.points(Method::Grid), a.points(Method::Grid));
    }

    /// Zero-shot with the paper's prompt, then the ensemble from the cache: only the
    /// zero-shot emotions are recomputed, and they name their prompts.
    #[test]
    fn switching_prompts_recomputes_zero_shot_only() {
        let (_dir, paintings) = folder();
        let models = crate::find_models().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mdir = tiny_pacl(tmp.path(), 384);
        let cache = tempfile::tempdir().unwrap();
        let req = MapRequest {
            model_dir: mdir,
            models,
            paintings,
            method: Method::Pca,
            tsne: TsneConfig::default(),
            k: 2,
            prompts: PromptSet::Paper,
            calibration: Calibration::Centered,
            cache: Some(cache.path().to_path_buf()),
            atlas_cell: None,
        };
        let (reg, dev, ok) = (
            LoadedModels::new(),
            candle_core::Device::Cpu,
            crate::progress::Silent,
        );
        let a = compute_map(&req, &reg, &dev, &ok).unwrap();
        assert_eq!(a.zero_shot.as_ref().unwrap().prompts, PromptSet::Paper);
        let req2 = MapRequest {
            prompts: PromptSet::Ensemble,
            ..req.clone()
        };
        let b = compute_map(&req2, &reg, &dev, &ok).unwrap();
        assert!(b.from_cache);
        assert_eq!(b.embeddings, a.embeddings);
        let z = b.zero_shot.as_ref().unwrap();
        assert_eq!((z.prompts, z.emotions.len()), (PromptSet::Ensemble, 5));
        let c = compute_map(&req2, &reg, &dev, &ok).unwrap();
        assert_eq!(c.zero_shot, b.zero_shot);
        // Another calibration recomputes the zero-shot emotions and names it.
        let req3 = MapRequest {
            calibration: Calibration::None,
            ..req2.clone()
        };
        let d = compute_map(&req3, &reg, &dev, &ok).unwrap();
        assert!(d.from_cache);
        assert_eq!(d.zero_shot.as_ref().unwrap().calibration, Calibration::None);
        assert_eq!(
            b.zero_shot.as_ref().unwrap().calibration,
            Calibration::Centered
        );
    }
}
