//! The engine's error type: every error names the file and, where it applies, the row,
//! field or tensor it concerns.

use std::path::{Path, PathBuf};

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is malformed.
    #[error("{path}{}: {message}", location.as_ref().map(|l| format!(" ({l})")).unwrap_or_default())]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// Row, line, field or tensor, e.g. "row 12, field `emotion`".
        location: Option<String>,
        /// What is wrong and, where possible, what was expected.
        message: String,
    },
    /// An image could not be decoded or is refused (too large, unsupported).
    #[error("{path}: image: {message}")]
    Image {
        /// The image file (or a description of the in-memory source).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tokenizer could not be built or failed on input.
    #[error("tokenizer {name}: {message}")]
    Tokenizer {
        /// Which tokenizer.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The input is valid but the request is not (wrong sizes, unknown names...).
    #[error("{0}")]
    Invalid(String),
    /// A job was cancelled before it finished.
    #[error("cancelled")]
    Cancelled,
    /// The engine thread is gone (shut down or crashed).
    #[error("the engine has stopped")]
    EngineStopped,
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A parse error on `path` at an optional location.
    pub fn parse(
        path: impl AsRef<Path>,
        location: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Parse {
            path: path.as_ref().to_path_buf(),
            location,
            message: message.into(),
        }
    }

    /// A parse error on `path` at a given location.
    pub fn at(
        path: impl AsRef<Path>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::parse(path, Some(location.into()), message)
    }

    /// An image error on `path`.
    pub fn image(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Image {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole UTF-8 text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::at(
            path,
            format!("byte {}", e.utf8_error().valid_up_to()),
            "not valid UTF-8",
        )
    })
}

/// Writes a file atomically: to a uniquely named temporary file in the same folder
/// (`.<name>.tmp-<pid>-<random>`, so threads and processes never share one), flushed, then
/// renamed over the target, so a crash never leaves a half-written file. Temporary files
/// left by killed writers are removed by [`clean_stale_temps`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, true)
}

/// [`write_atomic`] without waiting for the disk (no `fsync`): for cache entries that
/// carry their own checksum, where a crash may at worst leave an entry the reader rejects
/// and makes again. An `fsync` costs milliseconds, more than making a thumbnail.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, false)
}

fn write_atomic_with(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let prefix = format!(".{name}.tmp-{}-", std::process::id());
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    if sync {
        tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    }
    // On failure the temporary file is removed when `persist`'s error is dropped.
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Removes the temporary files (`.<name>.tmp-<pid>` and `.<name>.tmp-<pid>-<random>`) that
/// [`write_atomic`] writers left in `dir` when they were killed: those of processes that
/// no longer run (on systems without `/proc`, those older than a day). Returns how many
/// were removed; a folder that cannot be read is left alone.
pub fn clean_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let own = std::process::id();
    let proc_fs = Path::new("/proc/self").exists();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else {
            continue;
        };
        let stale = if pid == own {
            false
        } else if proc_fs {
            !Path::new("/proc").join(pid.to_string()).exists()
        } else {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 24 * 3600)
        };
        if stale && e.path().is_file() && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The writer's process id in a [`write_atomic`] temporary file name.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let pid = tail.split('-').next()?;
    pid.parse().ok()
}

/// Parses `text` as a JSON array of `T`; a syntax error names the line and column, a bad
/// element names its index as `"{what} {i}"` (e.g. "record 3").
pub fn parse_json_array<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
    what: &str,
) -> Result<Vec<T>> {
    let values: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| {
        Error::at(
            path,
            format!("line {}, column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v)
                .map_err(|e| Error::at(path, format!("{what} {i}"), e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_file_and_location() {
        let e = Error::at("a/b.csv", "row 3, field `emotion`", "unknown emotion `joy`");
        assert_eq!(
            e.to_string(),
            "a/b.csv (row 3, field `emotion`): unknown emotion `joy`"
        );
        let e = Error::parse("x.txt", None, "empty");
        assert_eq!(e.to_string(), "x.txt: empty");
    }

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be running (above Linux's pid_max).
        std::fs::write(dir.path().join(".a.npy.tmp-4999999"), b"x").unwrap();
        std::fs::write(dir.path().join(".b.json.tmp-4999999-Xy12ab"), b"x").unwrap();
        let own = format!(".c.json.tmp-{}-abc", std::process::id());
        std::fs::write(dir.path().join(&own), b"x").unwrap();
        std::fs::write(dir.path().join("keep.tmp-1"), b"x").unwrap();
        if Path::new("/proc/self").exists() {
            assert_eq!(clean_stale_temps(dir.path()), 2);
            assert!(dir.path().join(&own).exists());
            assert!(dir.path().join("keep.tmp-1").exists());
        }
    }

    #[test]
    fn atomic_writes_from_threads_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("same.txt");
        std::thread::scope(|s| {
            for i in 0..8 {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(p, format!("{i}").repeat(1000).as_bytes()).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.len(), 1000);
        assert!(text.chars().all(|c| c == text.chars().next().unwrap()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn read_text_rejects_invalid_utf8_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, [b'o', b'k', 0xff, 0xfe]).unwrap();
        let e = read_text(&p).unwrap_err().to_string();
        assert!(e.contains("bad.txt") && e.contains("byte 2"), "{e}");
    }
}
