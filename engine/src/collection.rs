//! Painting collections: a folder (searched recursively), a manifest CSV in the layout of
//! the shipped `paintings.csv`, or a WikiArt root (`<style>/<painting>.jpg`). Missing or
//! unreadable files are collected as problems, never fatal. Paths are matched in both
//! Unicode normal forms (NFC and NFD), and painting ids are stored in NFC.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// File extensions recognised as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp"];

/// One painting of a collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Painting {
    /// The file stem (NFC), as ArtEmis names paintings.
    pub id: String,
    /// Absolute or collection-relative path of the image.
    pub path: PathBuf,
    /// Style, period or sub-collection (ArtEmis `art_style`; the folder for WikiArt).
    pub style: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Artist.
    pub artist: Option<String>,
    /// Date as written by the source.
    pub date: Option<String>,
    /// Medium.
    pub medium: Option<String>,
    /// Width in pixels, when the manifest gives it.
    pub width: Option<u32>,
    /// Height in pixels, when the manifest gives it.
    pub height: Option<u32>,
    /// SHA-256 of the file, when the manifest gives it.
    pub sha256: Option<String>,
    /// Curatorial description (may contain HTML).
    pub description: Option<String>,
}

impl Painting {
    /// A painting with only its id and image path (every other field empty).
    pub fn new(id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::bare(id.into(), path.into(), None)
    }

    fn bare(id: String, path: PathBuf, style: Option<String>) -> Self {
        Painting {
            id,
            path,
            style,
            title: None,
            artist: None,
            date: None,
            medium: None,
            width: None,
            height: None,
            sha256: None,
            description: None,
        }
    }

    /// The title, or the id when there is none.
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }

    /// The description with HTML tags removed and entities decoded (the common ones).
    pub fn plain_description(&self) -> Option<String> {
        let d = self.description.as_deref()?;
        let mut out = String::with_capacity(d.len());
        let mut in_tag = false;
        for c in d.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        let out = out
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
        let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        (!out.is_empty()).then_some(out)
    }
}

/// How a collection was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CollectionKind {
    /// A folder searched recursively.
    Folder,
    /// A manifest CSV.
    Manifest,
    /// A WikiArt root: one folder per style.
    WikiArt,
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The file concerned (the manifest for a bad row).
    pub path: PathBuf,
    /// What is wrong, with the row where it applies.
    pub message: String,
}

/// An opened collection.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// A display name (the folder or manifest name).
    pub name: String,
    /// What was opened.
    pub source: PathBuf,
    /// How it was read.
    pub kind: CollectionKind,
    /// The paintings found, in a stable order.
    pub paintings: Vec<Painting>,
    /// Files that are listed but missing, or could not be read.
    pub problems: Vec<Problem>,
}

/// Counts for `artemo collection info`.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionInfo {
    /// Paintings found.
    pub paintings: usize,
    /// Problems (missing or unreadable files, bad rows).
    pub problems: usize,
    /// Paintings per style.
    pub per_style: BTreeMap<String, usize>,
    /// Paintings with a title.
    pub with_title: usize,
    /// Paintings with a description.
    pub with_description: usize,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

fn nfc(s: &str) -> String {
    s.nfc().collect()
}

fn stem(p: &Path) -> String {
    nfc(&p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// Finds `rel` under `base`, trying the name as written, then NFC and NFD forms.
pub fn resolve_unicode(base: &Path, rel: &str) -> Option<PathBuf> {
    let candidates = [
        rel.to_string(),
        rel.nfc().collect::<String>(),
        rel.nfd().collect::<String>(),
    ];
    candidates
        .iter()
        .map(|c| base.join(c))
        .find(|p| p.is_file())
}

impl Collection {
    /// Opens a folder, a WikiArt root or a manifest CSV, deciding from what `path` is: a
    /// `.csv` file is a manifest; a folder holding `paintings.csv` opens that manifest; a
    /// folder with no images of its own but images one level down is a WikiArt root;
    /// any other folder is searched recursively.
    pub fn open(path: &Path) -> Result<Collection> {
        if path.is_file() {
            return Self::open_manifest(path);
        }
        if !path.is_dir() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
        let manifest = path.join("paintings.csv");
        if manifest.is_file() {
            return Self::open_manifest(&manifest);
        }
        let entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let top_images = entries.iter().any(|p| p.is_file() && is_image(p));
        let sub_with_images = entries.iter().filter(|p| p.is_dir()).any(|d| {
            std::fs::read_dir(d)
                .map(|rd| rd.filter_map(|e| e.ok()).any(|e| is_image(&e.path())))
                .unwrap_or(false)
        });
        if !top_images && sub_with_images {
            Self::open_wikiart(path)
        } else {
            Self::open_folder(path)
        }
    }

    /// A folder searched recursively; the style is the sub-folder, if any.
    pub fn open_folder(root: &Path) -> Result<Collection> {
        Self::walk(root, CollectionKind::Folder)
    }

    /// A WikiArt root: `<style>/<painting>.<ext>`.
    pub fn open_wikiart(root: &Path) -> Result<Collection> {
        Self::walk(root, CollectionKind::WikiArt)
    }

    fn walk(root: &Path, kind: CollectionKind) -> Result<Collection> {
        if !root.is_dir() {
            return Err(Error::io(
                root,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            ));
        }
        let mut paintings = Vec::new();
        let mut problems = Vec::new();
        let walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.push(Problem {
                        path: e
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| root.to_path_buf()),
                        message: format!("cannot be read: {e}"),
                    });
                    continue;
                }
            };
            let p = entry.path();
            if !entry.file_type().is_file() || !is_image(p) {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap_or(p);
            let style = rel
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| nfc(&d.to_string_lossy()));
            if kind == CollectionKind::WikiArt && style.is_none() {
                continue;
            }
            paintings.push(Painting::bare(stem(p), p.to_path_buf(), style));
        }
        Ok(Collection {
            name: nfc(&root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| root.display().to_string())),
            source: root.to_path_buf(),
            kind,
            paintings,
            problems,
        })
    }

    /// A manifest CSV with a `file` column (relative to the CSV's folder) and optional
    /// `title, artist, date, medium, collection|style|art_style, width, height, sha256,
    /// description`. Bad rows and missing files become problems naming the row.
    pub fn open_manifest(csv_path: &Path) -> Result<Collection> {
        let base = csv_path.parent().unwrap_or_else(|| Path::new("."));
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(csv_path)
            .map_err(|e| Error::parse(csv_path, None, e.to_string()))?;
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| Error::at(csv_path, "header", e.to_string()))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
            .collect();
        let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
        let file_col = col(&["file", "path", "filename", "image"]).ok_or_else(|| {
            Error::at(csv_path, "header", "missing column `file` (the image path)")
        })?;
        let c_title = col(&["title"]);
        let c_artist = col(&["artist"]);
        let c_date = col(&["date"]);
        let c_medium = col(&["medium"]);
        let c_style = col(&["collection", "style", "art_style"]);
        let c_w = col(&["width"]);
        let c_h = col(&["height"]);
        let c_sha = col(&["sha256"]);
        let c_desc = col(&["description"]);
        let mut paintings = Vec::new();
        let mut problems = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let row = i + 2; // 1-based, header is row 1
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    // The csv crate counts records from 0 with the header; say rows only.
                    let message = match e.kind() {
                        csv::ErrorKind::Utf8 { err, .. } => format!(
                            "row {row}, field {}: not valid UTF-8 (save the manifest as UTF-8)",
                            err.field() + 1
                        ),
                        _ => format!("row {row}: {e}"),
                    };
                    problems.push(Problem {
                        path: csv_path.to_path_buf(),
                        message,
                    });
                    continue;
                }
            };
            let get = |c: Option<usize>| {
                c.and_then(|c| rec.get(c))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let Some(file) = get(Some(file_col)) else {
                problems.push(Problem {
                    path: csv_path.to_path_buf(),
                    message: format!("row {row}, field `file`: empty"),
                });
                continue;
            };
            let dim = |c: Option<usize>, name: &str, problems: &mut Vec<Problem>| -> Option<u32> {
                let s = get(c)?;
                match s.parse::<u32>() {
                    Ok(v) if v > 0 => Some(v),
                    _ => {
                        problems.push(Problem {
                            path: csv_path.to_path_buf(),
                            message: format!("row {row}, field `{name}`: expected a positive integer, found `{s}` (ignored)"),
                        });
                        None
                    }
                }
            };
            let width = dim(c_w, "width", &mut problems);
            let height = dim(c_h, "height", &mut problems);
            let Some(path) = resolve_unicode(base, &file) else {
                problems.push(Problem {
                    path: base.join(&file),
                    message: format!("listed in {} row {row} but missing", csv_path.display()),
                });
                continue;
            };
            let mut p = Painting::bare(stem(Path::new(&file)), path, get(c_style));
            p.title = get(c_title);
            p.artist = get(c_artist);
            p.date = get(c_date);
            p.medium = get(c_medium);
            p.width = width;
            p.height = height;
            p.sha256 = get(c_sha);
            p.description = get(c_desc);
            paintings.push(p);
        }
        let name = base
            .file_name()
            .map(|n| nfc(&n.to_string_lossy()))
            .unwrap_or_else(|| csv_path.display().to_string());
        Ok(Collection {
            name,
            source: csv_path.to_path_buf(),
            kind: CollectionKind::Manifest,
            paintings,
            problems,
        })
    }

    /// Checks every image by the decoder's rules without decoding its pixels (header,
    /// size limits, a complete file: [`crate::imaging::check_image_file`]) and records
    /// the unreadable or truncated ones as problems; returns how many were unreadable.
    /// `progress` gets the done share before each image; once it is cancelled the check
    /// stops there (the images checked so far are counted).
    pub fn check_images(&mut self, progress: &dyn crate::progress::Progress) -> usize {
        let total = self.paintings.len();
        let mut bad = 0;
        for (i, p) in self.paintings.iter().enumerate() {
            progress.report(
                i as f32 / total as f32,
                &format!("{i}/{total} images checked"),
            );
            if progress.cancelled() {
                break;
            }
            // The decoder's own rules (format, sizes, allocation) and a complete file.
            match crate::imaging::check_image_file(&p.path) {
                Ok(c) if c.warnings.is_empty() => {}
                Ok(c) => {
                    bad += 1;
                    self.problems.push(Problem {
                        path: p.path.clone(),
                        message: c.warnings.join("; "),
                    });
                }
                Err(e) => {
                    bad += 1;
                    let e = e.to_string();
                    let shown = p.path.display().to_string();
                    let e = e
                        .strip_prefix(&format!("{shown}: "))
                        .unwrap_or(&e)
                        .to_string();
                    self.problems.push(Problem {
                        path: p.path.clone(),
                        message: format!("unreadable image: {e}"),
                    });
                }
            }
        }
        bad
    }

    /// Counts per style and field.
    pub fn info(&self) -> CollectionInfo {
        let mut per_style = BTreeMap::new();
        for p in &self.paintings {
            *per_style
                .entry(p.style.clone().unwrap_or_else(|| "(none)".into()))
                .or_insert(0) += 1;
        }
        CollectionInfo {
            paintings: self.paintings.len(),
            problems: self.problems.len(),
            per_style,
            with_title: self.paintings.iter().filter(|p| p.title.is_some()).count(),
            with_description: self
                .paintings
                .iter()
                .filter(|p| p.description.is_some())
                .count(),
        }
    }

    /// The painting with this id, if any.
    pub fn get(&self, id: &str) -> Option<&Painting> {
        let id = nfc(id);
        self.paintings.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(3, 2, image::Rgb([9, 9, 9]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn shipped_manifest_has_267_paintings_and_no_problems() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/paintings/aic/paintings.csv");
        let c = Collection::open(&p).unwrap();
        assert_eq!(c.paintings.len(), 267);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let info = c.info();
        assert_eq!(info.per_style.values().sum::<usize>(), 267);
        assert_eq!(info.with_description, 95);
        let first = c.get("100342").unwrap();
        assert_eq!(first.title.as_deref(), Some("Saint Francis"));
        assert_eq!((first.width, first.height), (Some(460), Some(640)));
        assert!(first
            .plain_description()
            .unwrap()
            .starts_with("The Franciscans"));
    }

    #[test]
    fn folder_wikiart_and_manifest_detection() {
        let d = tempfile::tempdir().unwrap();
        let wik = d.path().join("wikiart");
        png(&wik.join("Impressionism/monet_water-lilies.png"));
        png(&wik.join("Baroque/rubens_x.png"));
        std::fs::write(wik.join("Baroque/readme.txt"), "x").unwrap();
        let c = Collection::open(&wik).unwrap();
        assert_eq!(c.kind, CollectionKind::WikiArt);
        assert_eq!(c.paintings.len(), 2);
        assert_eq!(c.paintings[0].style.as_deref(), Some("Baroque"));
        assert_eq!(c.paintings[1].id, "monet_water-lilies");

        let flat = d.path().join("flat");
        png(&flat.join("a.png"));
        png(&flat.join("deep/er/b.png"));
        let c = Collection::open(&flat).unwrap();
        assert_eq!(c.kind, CollectionKind::Folder);
        assert_eq!(c.paintings.len(), 2);
        assert_eq!(c.paintings[1].style.as_deref(), Some("deep/er"));

        let e = Collection::open(&d.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn manifest_reports_missing_files_and_bad_rows_without_failing() {
        let d = tempfile::tempdir().unwrap();
        png(&d.path().join("ok.png"));
        // A file stored in NFD ("e" + combining acute) but listed in NFC.
        let nfd_name: String = "Café.png".nfd().collect();
        png(&d.path().join(&nfd_name));
        let csv = d.path().join("list.csv");
        std::fs::write(
            &csv,
            "file,title,width\nok.png,Fine,12\ngone.png,Lost,3\n,Empty,1\nCafé.png,Unicode,wide\n\"bad,row\n",
        )
        .unwrap();
        let c = Collection::open(&csv).unwrap();
        let ids: Vec<_> = c.paintings.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["ok", "Café"]);
        let msgs: Vec<_> = c
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path.display(), p.message))
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("gone.png") && m.contains("row 3") && m.contains("missing")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("row 4, field `file`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("row 5, field `width`")),
            "{msgs:?}"
        );
        let no_file = d.path().join("nofile.csv");
        std::fs::write(&no_file, "title\nx\n").unwrap();
        let e = Collection::open(&no_file).unwrap_err().to_string();
        assert!(e.contains("nofile.csv") && e.contains("`file`"), "{e}");
    }

    #[test]
    fn check_images_flags_unreadable_files() {
        let d = tempfile::tempdir().unwrap();
        png(&d.path().join("good.png"));
        std::fs::write(d.path().join("bad.jpg"), b"not a jpeg").unwrap();
        let mut c = Collection::open(d.path()).unwrap();
        assert_eq!(c.paintings.len(), 2);
        assert_eq!(c.check_images(&crate::progress::Silent), 1);
        assert!(c.problems[0].path.ends_with("bad.jpg"));
    }
}
