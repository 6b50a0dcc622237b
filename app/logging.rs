//! The log: `tracing` events to stderr as `RUST_LOG` says (nothing by default, so the
//! command line's output stays its own), and, for the window, to
//! `<data>/logs/artemo.log` (`artemo_engine::user_data_dir()`; `RUST_LOG`, else `info`).
//! The file is appended to and kept under [`MAX_LOG_BYTES`]: a larger one is moved to
//! `artemo.log.1` (replacing the previous one) when the window opens.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// A log file larger than this is rotated when the window opens.
pub const MAX_LOG_BYTES: u64 = 8 << 20;

/// The window's log file, `<data>/logs/artemo.log`.
pub fn log_path() -> Option<PathBuf> {
    artemo_engine::user_data_dir().map(|d| d.join("logs/artemo.log"))
}

/// Opens `path` for appending, rotating it first when it has grown past `max` bytes.
pub fn open_log(path: &Path, max: u64) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() > max) {
        let old = path.with_extension("log.1");
        std::fs::rename(path, &old)
            .with_context(|| format!("{} -> {}", path.display(), old.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}", path.display()))
}

/// Installs the subscriber: stderr as `RUST_LOG` says, and the log file when `file`
/// (the window). Returns where the file log goes; a file that cannot be opened is said
/// on stderr once and the window runs without it.
pub fn init(file: bool) -> Option<PathBuf> {
    let stderr = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(EnvFilter::new(v))
        });
    let mut opened = None;
    let to_file = if file {
        match log_path().map(|p| open_log(&p, MAX_LOG_BYTES).map(|f| (p, f))) {
            Some(Ok((p, f))) => {
                opened = Some(p);
                let filter =
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
                Some(
                    fmt::layer()
                        .with_ansi(false)
                        .with_writer(Mutex::new(f))
                        .with_filter(filter),
                )
            }
            Some(Err(e)) => {
                eprintln!("warning: no log file: {e:#}");
                None
            }
            None => None,
        }
    } else {
        None
    };
    // A second subscriber (tests that open the window twice) is left as it is.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(to_file)
        .try_init();
    if let Some(p) = &opened {
        tracing::info!(
            "Artemo {} started; log {}",
            env!("CARGO_PKG_VERSION"),
            p.display()
        );
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_log_is_rotated_and_a_small_one_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs/artemo.log");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        drop(open_log(&p, 1000).unwrap());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 100);
        drop(open_log(&p, 50).unwrap());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
        assert_eq!(
            std::fs::metadata(p.with_extension("log.1")).unwrap().len(),
            100
        );
    }
}
