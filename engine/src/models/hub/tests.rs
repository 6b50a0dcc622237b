//! Download tests against a local HTTP server (a `TcpListener` thread speaking enough
//! HTTP/1.1: the hub's listing API, `resolve/` with the LFS redirect and its
//! `X-Linked-Etag`, byte ranges). No real network.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use candle_core::Device;
use sha2::{Digest, Sha256};

use super::*;
use crate::progress::Silent;

/// One served file: its bytes and the sha256 the server advertises (LFS files).
struct Served {
    bytes: Vec<u8>,
    advertised: Option<String>,
}

/// Every request's path and `Range` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A fake hub serving `repo` with `files`; records every request line and its `Range`.
struct Hub {
    endpoint: String,
    seen: Seen,
}

fn sha_hex(b: &[u8]) -> String {
    download::hex(&Sha256::digest(b))
}

fn serve(repo: &'static str, files: Vec<(&'static str, Served)>) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let files: Arc<HashMap<String, Served>> =
        Arc::new(files.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (files, log) = (files.clone(), log.clone());
            std::thread::spawn(move || answer(stream, repo, &files, &log));
        }
    });
    Hub { endpoint, seen }
}

fn answer(
    mut stream: TcpStream,
    repo: &str,
    files: &HashMap<String, Served>,
    log: &Mutex<Vec<(String, Option<String>)>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push((path.clone(), range.clone()));
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let reply = |stream: &mut TcpStream, status: &str, headers: &[String], body: &[u8]| {
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    if path.starts_with(&format!("/api/models/{repo}/revision/")) {
        let siblings: Vec<serde_json::Value> = files
            .iter()
            .map(|(name, f)| match &f.advertised {
                Some(sha) => serde_json::json!({
                    "rfilename": name, "size": f.bytes.len(),
                    "lfs": {"sha256": sha, "size": f.bytes.len()}
                }),
                None => serde_json::json!({"rfilename": name, "size": f.bytes.len()}),
            })
            .chain([serde_json::json!({"rfilename": ".gitattributes", "size": 10})])
            .collect();
        let body = serde_json::json!({"id": repo, "sha": commit, "siblings": siblings});
        return reply(&mut stream, "200 OK", &[], body.to_string().as_bytes());
    }
    let resolve = format!("/{repo}/resolve/{commit}/");
    if let Some(name) = path.strip_prefix(&resolve) {
        // Like the hub: an LFS file redirects to the CDN with its sha256 and size.
        return match files.get(name) {
            Some(f) if f.advertised.is_some() => reply(
                &mut stream,
                "302 Found",
                &[
                    format!("Location: /cdn/{name}"),
                    format!(
                        "X-Linked-Etag: \"{}\"",
                        f.advertised.as_deref().unwrap_or("")
                    ),
                    format!("X-Linked-Size: {}", f.bytes.len()),
                ],
                b"",
            ),
            Some(f) => send_bytes(&mut stream, &f.bytes, range.as_deref(), reply),
            None => reply(&mut stream, "404 Not Found", &[], b""),
        };
    }
    if let Some(f) = path.strip_prefix("/cdn/").and_then(|n| files.get(n)) {
        return send_bytes(&mut stream, &f.bytes, range.as_deref(), reply);
    }
    reply(&mut stream, "404 Not Found", &[], b"");
}

fn send_bytes(
    stream: &mut TcpStream,
    bytes: &[u8],
    range: Option<&str>,
    reply: impl Fn(&mut TcpStream, &str, &[String], &[u8]),
) {
    let from = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    match from {
        Some(f) if f >= bytes.len() => reply(stream, "416 Range Not Satisfiable", &[], b""),
        Some(f) => reply(
            stream,
            "206 Partial Content",
            &[format!(
                "Content-Range: bytes {f}-{}/{}",
                bytes.len() - 1,
                bytes.len()
            )],
            &bytes[f..],
        ),
        None => reply(stream, "200 OK", &[], bytes),
    }
}

/// The parity GPT-2 (config + LFS safetensors) as a hub repository; `bad_sha`: the hub
/// advertises another sha256 for the weights.
fn gpt2_hub(bad_sha: bool) -> (Hub, Vec<u8>) {
    let dir = crate::models::tests::parity_dir("gpt2/cross");
    let config = std::fs::read(dir.join("config.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let advertised = if bad_sha {
        "f".repeat(64)
    } else {
        sha_hex(&weights)
    };
    let hub = serve(
        "someone/tiny-gpt2",
        vec![
            (
                "config.json",
                Served {
                    bytes: config,
                    advertised: None,
                },
            ),
            (
                "model.safetensors",
                Served {
                    bytes: weights.clone(),
                    advertised: Some(advertised),
                },
            ),
            (
                "tf_model.h5",
                Served {
                    bytes: b"not fetched".to_vec(),
                    advertised: None,
                },
            ),
        ],
    );
    (hub, weights)
}

fn request(hub: &Hub) -> DownloadRequest {
    DownloadRequest {
        what: "someone/tiny-gpt2".into(),
        name: Some("tiny".into()),
        endpoint: Some(hub.endpoint.clone()),
        revision: None,
    }
}

#[test]
fn downloads_verifies_imports_and_records_sha256() {
    let (hub, weights) = gpt2_hub(false);
    let data = tempfile::tempdir().unwrap();
    let seen_fraction = Mutex::new(0.0f32);
    let progress = crate::progress::FnProgress::new(|f, _m| {
        let mut s = seen_fraction.lock().unwrap();
        *s = s.max(f);
    });
    let imported =
        download_and_import(&request(&hub), data.path(), &Device::Cpu, &progress).unwrap();
    assert!(*seen_fraction.lock().unwrap() >= 0.9);
    let models = data.path().join("models");
    assert_eq!(
        std::fs::read(models.join("tiny/model.safetensors")).unwrap(),
        weights
    );
    // Only the checkpoint's files: not the TF copy, not .gitattributes.
    assert!(!models.join("tiny/tf_model.h5").exists());
    // LOCAL.toml records every file's sha256, and the source with the revision.
    let m = Manifest::load(&models.join("LOCAL.toml")).unwrap();
    let e = m.get("tiny").unwrap();
    assert_eq!(e, &imported.entry);
    let rec = e
        .files
        .iter()
        .find(|f| f.path == "tiny/model.safetensors")
        .unwrap();
    assert_eq!(rec.sha256, sha_hex(&weights));
    assert!(e.files.iter().any(|f| f.path == format!("tiny/{RECORD}")));
    assert!(e
        .source
        .contains("/someone/tiny-gpt2 (revision 0123456789abcdef"));
    assert!(e.description.contains("sha256 of 1 of 2 file(s) checked"));
    for (_, s) in Manifest::verify(e, &models).unwrap() {
        assert_eq!(s, crate::manifest::FileState::Ok);
    }
    // The record names which hashes the hub vouched for.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models.join("tiny").join(RECORD)).unwrap()).unwrap();
    let files = record["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files
        .iter()
        .any(|f| f["advertised_sha256"] == serde_json::json!(sha_hex(&weights))));
    // The download folder is gone; nothing was written into the shipped models/.
    assert!(!data.path().join("downloads/someone--tiny-gpt2").exists());
    // The weights came through the CDN redirect.
    let seen = hub.seen.lock().unwrap();
    assert!(seen.iter().any(|(p, _)| p == "/cdn/model.safetensors"));
    assert!(!seen.iter().any(|(p, _)| p.contains("tf_model")));
}

#[test]
fn resumes_a_part_file_with_a_range_request() {
    let (hub, weights) = gpt2_hub(false);
    let data = tempfile::tempdir().unwrap();
    let dl = data.path().join("downloads/someone--tiny-gpt2");
    std::fs::create_dir_all(&dl).unwrap();
    let half = weights.len() / 2;
    std::fs::write(
        download::part_path(&dl.join("model.safetensors")),
        &weights[..half],
    )
    .unwrap();
    let req = request(&hub);
    let resolved = resolve(&req).unwrap();
    let fetched = fetch(&resolved, &req, data.path(), &Silent).unwrap();
    let w = fetched
        .files
        .iter()
        .find(|f| f.path.ends_with("model.safetensors"))
        .unwrap();
    assert_eq!(w.resumed_from, half as u64);
    assert_eq!(w.sha256, sha_hex(&weights));
    assert_eq!(
        std::fs::read(dl.join("model.safetensors")).unwrap(),
        weights
    );
    assert!(!download::part_path(&dl.join("model.safetensors")).exists());
    let seen = hub.seen.lock().unwrap();
    let want = format!("bytes={half}-");
    assert!(
        seen.iter()
            .any(|(p, r)| p == "/cdn/model.safetensors" && r.as_deref() == Some(want.as_str())),
        "{seen:?}"
    );
    // Then the import registers it.
    drop(seen);
    install(
        &fetched,
        &resolved,
        &data.path().join("models"),
        &Device::Cpu,
    )
    .unwrap();
    assert!(data.path().join("models/tiny/model.safetensors").is_file());
}

#[test]
fn a_sha256_mismatch_is_refused_and_nothing_is_registered() {
    let (hub, _) = gpt2_hub(true);
    let data = tempfile::tempdir().unwrap();
    let err = download_and_import(&request(&hub), data.path(), &Device::Cpu, &Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors: sha256 mismatch")
            && err.contains(&"f".repeat(64))
            && err.contains("nothing was installed"),
        "{err}"
    );
    assert!(!data.path().join("models/tiny").exists());
    assert!(!data.path().join("models/LOCAL.toml").exists());
    // The wrong bytes are not kept for a resume.
    let dl = data.path().join("downloads/someone--tiny-gpt2");
    assert!(!dl.join("model.safetensors").exists());
    assert!(!download::part_path(&dl.join("model.safetensors")).exists());
}

#[test]
fn connection_refused_is_the_offline_message() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let req = DownloadRequest {
        what: "clip-b16".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..Default::default()
    };
    let err = download_and_import(&req, data.path(), &Device::Cpu, &Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("cannot reach 127.0.0.1:{port}: "))
            && err.ends_with(download::OFFLINE_ADVICE),
        "{err}"
    );
    assert!(!data.path().join("models").exists());
}

#[test]
fn cancelling_keeps_the_part_for_a_resume() {
    let (hub, weights) = gpt2_hub(false);
    let data = tempfile::tempdir().unwrap();
    let dl = data.path().join("downloads/someone--tiny-gpt2");
    std::fs::create_dir_all(&dl).unwrap();
    let part = download::part_path(&dl.join("model.safetensors"));
    std::fs::write(&part, &weights[..100]).unwrap();
    let err = download_and_import(
        &request(&hub),
        data.path(),
        &Device::Cpu,
        &crate::progress::Cancelled,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(!data.path().join("models/tiny").exists());
    assert_eq!(std::fs::read(&part).unwrap(), &weights[..100]);
}

#[test]
fn names_repositories_and_urls_resolve() {
    let r = resolve(&DownloadRequest {
        what: "clip-b16".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.name, "clip-vit-base-patch16");
    assert_eq!(
        r.source,
        Source::Hub {
            repo: "openai/clip-vit-base-patch16".into(),
            files: Selection::Checkpoint
        }
    );
    // The repository id of a known model resolves to it too.
    assert_eq!(
        resolve(&DownloadRequest {
            what: "facebook/sam-vit-base".into(),
            ..Default::default()
        })
        .unwrap()
        .name,
        "sam-vit-base"
    );
    let r = resolve(&DownloadRequest {
        what: "https://example.org/w/mobile_sam.pt?download=1".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.name, "mobile_sam");
    for bad in ["a/b/c", "../x", "", "a b"] {
        assert!(
            resolve(&DownloadRequest {
                what: bad.into(),
                ..Default::default()
            })
            .is_err(),
            "{bad}"
        );
    }
    assert!(resolve(&DownloadRequest {
        what: "distilgpt2".into(),
        name: Some("../evil".into()),
        ..Default::default()
    })
    .is_err());
    // The file choice: safetensors beat PyTorch copies; other frameworks are skipped.
    assert!(wanted("model.safetensors", Selection::Checkpoint, true));
    assert!(!wanted("pytorch_model.bin", Selection::Checkpoint, true));
    assert!(wanted("pytorch_model.bin", Selection::Checkpoint, false));
    assert!(!wanted("flax_model.msgpack", Selection::Checkpoint, false));
    assert!(!wanted("onnx/model.onnx", Selection::Checkpoint, false));
    assert!(wanted(
        "nle_model_11/pytorch_model.bin",
        Selection::All,
        false
    ));
    assert!(!wanted(".gitattributes", Selection::All, false));
}

#[test]
fn an_explicit_endpoint_wins_and_loses_its_trailing_slash() {
    assert_eq!(
        endpoint(Some("http://mirror.local/")),
        "http://mirror.local"
    );
}
