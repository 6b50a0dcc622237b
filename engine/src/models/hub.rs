//! Hugging Face hub download, compiled only with the `hub` cargo feature and used only when
//! the user asks (`artemo models download REPO --as NAME`). The default build has no
//! network code at all.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Downloads `config.json` and the safetensors weights (single or sharded) of `repo` into
/// the hub cache and returns the snapshot folder.
pub fn download(repo: &str) -> Result<PathBuf> {
    let api = hf_hub::api::sync::Api::new().map_err(|e| Error::Invalid(format!("hub: {e}")))?;
    let r = api.model(repo.to_string());
    let get = |f: &str| {
        r.get(f)
            .map_err(|e| Error::Invalid(format!("hub {repo}/{f}: {e}")))
    };
    let config = get("config.json")?;
    match get("model.safetensors") {
        Ok(_) => {}
        Err(single) => {
            let index = get("model.safetensors.index.json").map_err(|_| single)?;
            let text = crate::error::read_text(&index)?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::parse(&index, None, e.to_string()))?;
            let mut shards: Vec<String> = v["weight_map"]
                .as_object()
                .map(|m| {
                    m.values()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            for s in shards {
                get(&s)?;
            }
        }
    }
    for optional in ["tokenizer.json", "vocab.json", "merges.txt"] {
        let _ = get(optional);
    }
    config
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Invalid(format!("hub {repo}: no snapshot folder")))
}
