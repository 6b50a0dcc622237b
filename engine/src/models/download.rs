//! HTTP download of one file, used only when the user asks (`artemo models download`, the
//! Models tab's download button): the bytes go to `<file>.part` and are resumed from there
//! with an HTTP `Range` request, progress is reported by bytes and the job can be
//! cancelled between chunks (the `.part` stays for the next run), the sha256 is computed
//! while the bytes arrive and checked against the one the server advertises, and only a
//! complete, verified file is renamed to its final name.
//!
//! Redirects are followed by hand so that the headers of each hop are seen: the Hugging
//! Face hub answers `resolve/` requests for LFS files with a redirect to its CDN that
//! carries the file's sha256 (`X-Linked-Etag`) and size (`X-Linked-Size`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::progress::Progress;

/// The advice every "cannot reach" message ends with.
pub const OFFLINE_ADVICE: &str = "download on another machine and use `artemo models import PATH`";

/// Redirect hops followed before giving up.
const MAX_HOPS: usize = 10;
/// Bytes read per chunk (cancellation is checked between chunks).
const CHUNK: usize = 256 * 1024;

/// An HTTP client for downloads (no proxy unless the environment names one, no
/// compression, so byte ranges mean bytes of the file).
pub struct Client {
    agent: ureq::Agent,
}

/// What the server said about a file before its body: the final URL after redirects, and
/// the sha256 and size it advertised on the way.
struct Answer {
    response: ureq::Response,
    url: String,
    linked_sha256: Option<String>,
    linked_size: Option<u64>,
}

impl Client {
    /// A client for `endpoint` with connect and read timeouts (15 s, 60 s) and
    /// `HTTP(S)_PROXY`/`ALL_PROXY` from the environment when set, except for a loopback
    /// endpoint (a local mirror; the client knows no `NO_PROXY`).
    pub fn for_endpoint(endpoint: &str) -> Self {
        let host = host_of(endpoint);
        let local =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(60))
            .try_proxy_from_env(!local)
            .user_agent(concat!("artemo/", env!("CARGO_PKG_VERSION")))
            .build();
        Self { agent }
    }

    /// GET `url` (following redirects) and parse its JSON body.
    pub fn get_json(&self, url: &str) -> Result<serde_json::Value> {
        let a = self.get(url, None)?;
        let status = a.response.status();
        if status != 200 {
            return Err(Error::Invalid(format!(
                "{}: HTTP {status} {}",
                a.url,
                a.response.status_text()
            )));
        }
        let mut body = Vec::new();
        a.response
            .into_reader()
            .take(64 << 20)
            .read_to_end(&mut body)
            .map_err(|e| Error::Invalid(format!("{}: reading the answer: {e}", a.url)))?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::Invalid(format!("{}: the answer is not JSON: {e}", a.url)))
    }

    /// GET `url` with an optional `Range: bytes=FROM-`, following redirects by hand and
    /// keeping the first advertised sha256/size. Error statuses and unreachable hosts
    /// become clear errors.
    fn get(&self, url: &str, from: Option<u64>) -> Result<Answer> {
        let mut url = url.to_string();
        let mut linked_sha256 = None;
        let mut linked_size = None;
        for _ in 0..MAX_HOPS {
            let mut req = self.agent.get(&url);
            if let Some(from) = from.filter(|f| *f > 0) {
                req = req.set("Range", &format!("bytes={from}-"));
            }
            let response = match req.call() {
                Ok(r) => r,
                // 416: the range starts at or past the end (a complete `.part`).
                Err(ureq::Error::Status(416, r)) => r,
                Err(e) => return Err(request_error(&url, e)),
            };
            if linked_sha256.is_none() {
                linked_sha256 = response
                    .header("x-linked-etag")
                    .and_then(sha256_of_etag)
                    .or_else(|| response.header("etag").and_then(sha256_of_etag));
            }
            if linked_size.is_none() {
                linked_size = response
                    .header("x-linked-size")
                    .and_then(|s| s.trim().parse().ok());
            }
            if (300..400).contains(&response.status()) {
                let Some(loc) = response.header("location") else {
                    return Err(Error::Invalid(format!(
                        "{url}: HTTP {} without a Location",
                        response.status()
                    )));
                };
                url = join_url(&url, loc);
                continue;
            }
            return Ok(Answer {
                response,
                url,
                linked_sha256,
                linked_size,
            });
        }
        Err(Error::Invalid(format!(
            "{url}: more than {MAX_HOPS} redirects"
        )))
    }
}

/// The sha256 in an ETag (`"<64 hex>"`, possibly weak `W/"..."`), if it is one.
fn sha256_of_etag(etag: &str) -> Option<String> {
    let t = etag.trim().trim_start_matches("W/").trim_matches('"');
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

/// `loc` (absolute, host-relative `/x` or relative `x`) resolved against `base`.
fn join_url(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc.to_string();
    }
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    if loc.starts_with('/') {
        format!("{}{loc}", &base[..host_end])
    } else {
        let path = base.split(['?', '#']).next().unwrap_or(base);
        let dir_end = path
            .rfind('/')
            .filter(|i| *i >= host_end)
            .unwrap_or(path.len());
        format!("{}/{loc}", &path[..dir_end])
    }
}

/// The host (and port) of `url`.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// A request error as the user should read it: an unreachable host is the offline
/// message; an HTTP error status names the URL and what it usually means.
fn request_error(url: &str, e: ureq::Error) -> Error {
    match e {
        ureq::Error::Transport(t) => match t.kind() {
            ureq::ErrorKind::Dns
            | ureq::ErrorKind::ConnectionFailed
            | ureq::ErrorKind::ProxyConnect => Error::Invalid(format!(
                "cannot reach {}: {t}; {OFFLINE_ADVICE}",
                host_of(url)
            )),
            _ => Error::Invalid(format!("{url}: {t}")),
        },
        ureq::Error::Status(code, r) => {
            let hint = match code {
                401 | 403 => {
                    " (the repository is private or gated: accept its terms on the hub, or download it yourself and use `artemo models import PATH`)"
                }
                404 => " (no such repository, revision or file)",
                _ => "",
            };
            Error::Invalid(format!("{url}: HTTP {code} {}{hint}", r.status_text()))
        }
    }
}

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Where to GET it.
    pub url: String,
    /// Its sha256 when known beforehand (the hub's listing); otherwise the server's
    /// `X-Linked-Etag`/`ETag` is used when it is a sha256.
    pub sha256: Option<String>,
    /// Its size when known beforehand.
    pub size: Option<u64>,
}

/// A fetched file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchedFile {
    /// Where it lies.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of the bytes on disk (lower-case hex).
    pub sha256: String,
    /// The sha256 the server advertised (and the file matched), if it advertised one.
    pub advertised_sha256: Option<String>,
    /// Bytes that were already in the `.part` file and were not downloaded again.
    pub resumed_from: u64,
}

/// Byte progress over several files: `done` bytes before this file out of `total`.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    /// Bytes of the earlier files.
    pub done: u64,
    /// Bytes of all files (0: unknown).
    pub total: u64,
}

/// The `.part` file beside `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Downloads `remote` to `dest`: resumes `dest.part` when present (`Range`), checks the
/// sha256 (and size) the server advertised, and renames the part to `dest` only when
/// complete and verified. Cancelled: the part stays, [`Error::Cancelled`]. A mismatch
/// removes the part (its bytes are wrong) and nothing is renamed.
pub fn fetch(
    client: &Client,
    remote: &Remote,
    dest: &Path,
    share: Share,
    progress: &dyn Progress,
) -> Result<FetchedFile> {
    let part = part_path(dest);
    let label = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if remote.size.is_some_and(|s| have > s) {
        // Longer than the file: not a prefix of it.
        remove(&part)?;
        have = 0;
    }
    let mut answer = client.get(&remote.url, Some(have))?;
    let status = answer.response.status();
    let mut hasher = Sha256::new();
    let start = match status {
        206 => {
            let from = answer
                .response
                .header("content-range")
                .and_then(|c| c.trim().strip_prefix("bytes "))
                .and_then(|c| c.split('-').next())
                .and_then(|s| s.trim().parse::<u64>().ok());
            if from == Some(have) {
                have
            } else {
                // An unexpected range: start again from the first byte.
                remove(&part)?;
                answer = client.get(&remote.url, None)?;
                0
            }
        }
        416 if have > 0 => have,
        200 => 0,
        other => {
            return Err(Error::Invalid(format!(
                "{}: HTTP {other} {}",
                answer.url,
                answer.response.status_text()
            )))
        }
    };
    // After a restart from the first byte the answer is a new one.
    let status = answer.response.status();
    let expected_sha = remote
        .sha256
        .clone()
        .or_else(|| answer.linked_sha256.clone());
    let content_len = answer
        .response
        .header("content-length")
        .and_then(|s| s.trim().parse::<u64>().ok());
    let expected_size = remote.size.or(answer.linked_size).or(match status {
        200 => content_len,
        206 => content_len.map(|l| l + start),
        _ => None,
    });
    // The bytes kept from an earlier run enter the hash first.
    let mut file = if start > 0 {
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&part)
            .map_err(|e| Error::io(&part, e))?;
        hash_prefix(&mut f, &part, start, &mut hasher)?;
        f
    } else {
        File::create(&part).map_err(|e| Error::io(&part, e))?
    };
    let mut got = start;
    if status != 416 {
        let mut body = answer.response.into_reader();
        let mut buf = vec![0u8; CHUNK];
        let mut last = Instant::now();
        loop {
            if progress.cancelled() {
                file.flush().map_err(|e| Error::io(&part, e))?;
                return Err(Error::Cancelled);
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = file.flush();
                    return Err(Error::Invalid(format!(
                        "{label}: the download stopped after {got} bytes ({e}); run it again to resume from {}",
                        part.display()
                    )));
                }
            };
            file.write_all(&buf[..n]).map_err(|e| Error::io(&part, e))?;
            hasher.update(&buf[..n]);
            got += n as u64;
            if last.elapsed() > Duration::from_millis(200) {
                last = Instant::now();
                report(progress, share, got, expected_size, &label);
            }
        }
    }
    file.sync_all().map_err(|e| Error::io(&part, e))?;
    drop(file);
    report(progress, share, got, expected_size, &label);
    let sha = hex(&hasher.finalize());
    if let Some(size) = expected_size.filter(|s| *s != got) {
        if got < size {
            return Err(Error::Invalid(format!(
                "{label}: the server sent {got} of {size} bytes; run it again to resume from {}",
                part.display()
            )));
        }
        remove(&part)?;
        return Err(Error::Invalid(format!(
            "{label}: {got} bytes where the server announced {size}; the partial file was removed, nothing was installed"
        )));
    }
    if let Some(want) = &expected_sha {
        if *want != sha {
            remove(&part)?;
            return Err(Error::Invalid(format!(
                "{label}: sha256 mismatch: the server advertises {want}, the downloaded bytes hash to {sha}; the file was removed and nothing was installed"
            )));
        }
    }
    std::fs::rename(&part, dest).map_err(|e| Error::io(dest, e))?;
    Ok(FetchedFile {
        path: dest.to_path_buf(),
        bytes: got,
        sha256: sha,
        advertised_sha256: expected_sha,
        resumed_from: start,
    })
}

/// Feeds the first `len` bytes of `f` into `hasher` and leaves the cursor at the end.
fn hash_prefix(f: &mut File, path: &Path, len: u64, hasher: &mut Sha256) -> Result<()> {
    f.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    let mut r = (&mut *f).take(len);
    std::io::copy(&mut r, hasher).map_err(|e| Error::io(path, e))?;
    f.seek(SeekFrom::End(0)).map_err(|e| Error::io(path, e))?;
    Ok(())
}

fn remove(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}

fn report(progress: &dyn Progress, share: Share, got: u64, size: Option<u64>, label: &str) {
    let mb = |b: u64| b as f64 / 1e6;
    let msg = match size {
        Some(s) => format!("{label}: {:.1} of {:.1} MB", mb(got), mb(s)),
        None => format!("{label}: {:.1} MB", mb(got)),
    };
    let fraction = if share.total > 0 {
        (share.done + got) as f32 / share.total as f32
    } else {
        0.0
    };
    progress.report(fraction.min(1.0), &msg);
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_etags() {
        assert_eq!(
            join_url(
                "https://hf.co/a/resolve/main/x.json",
                "/b/resolve/main/x.json"
            ),
            "https://hf.co/b/resolve/main/x.json"
        );
        assert_eq!(
            join_url("https://hf.co/a/b", "https://cdn.example/x?y=1"),
            "https://cdn.example/x?y=1"
        );
        assert_eq!(join_url("http://h:1/a/b?q", "c"), "http://h:1/a/c");
        assert_eq!(host_of("https://huggingface.co/api/x"), "huggingface.co");
        assert_eq!(host_of("http://127.0.0.1:9/x"), "127.0.0.1:9");
        let sha = "a".repeat(64);
        assert_eq!(sha256_of_etag(&format!("\"{sha}\"")), Some(sha.clone()));
        assert_eq!(sha256_of_etag(&format!("W/\"{sha}\"")), Some(sha));
        // A git blob id (40 hex) is not a sha256.
        assert_eq!(sha256_of_etag(&format!("\"{}\"", "b".repeat(40))), None);
    }
}
