//! Remote sources (`https://…`, `http://…`, `s3://…`): fetched into a local cache with a
//! conditional request (ETag / Last-Modified), so an unchanged file is not downloaded again,
//! then read like a local file. S3 credentials, region and endpoint come from the usual AWS
//! environment variables.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::GetOptions;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    /// The server's `Content-Type` (a web page's charset is in it).
    #[serde(default)]
    content_type: Option<String>,
}

/// A fetched copy and what the server said its content is.
pub struct Fetched {
    pub path: PathBuf,
    pub content_type: Option<String>,
}

/// A remote source that could not be fetched (the previous cached copy, if any, is kept).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {what}: {message}")]
pub struct FetchError {
    pub url: String,
    pub what: String,
    pub message: String,
}

/// Fetches `url` into `cache_dir` unless the cached copy is still current.
pub async fn fetch(url_text: &str, cache_dir: &Path) -> Result<Fetched, FetchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| FetchError {
        url: url_text.to_string(),
        what: what.to_string(),
        message: e.to_string(),
    };
    let url = url::Url::parse(url_text).map_err(|e| fail("not a valid URL", &e))?;
    let (store, path) =
        object_store::parse_url_opts(&url, oc_lake::store::env_storage_options(&url))
            .map_err(|e| fail("unsupported URL", &e))?;
    std::fs::create_dir_all(cache_dir).map_err(|e| fail("cannot create the cache", &e))?;
    let key = hex::encode(Sha256::digest(url_text.as_bytes()));
    let data = cache_dir.join(&key);
    let meta_path = cache_dir.join(format!("{key}.json"));
    let meta: CacheMeta = std::fs::read(&meta_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|_| data.is_file())
        .unwrap_or_default();
    let opts = GetOptions {
        if_none_match: meta.etag.clone(),
        if_modified_since: meta
            .last_modified
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc()),
        ..Default::default()
    };
    let result = match store.get_opts(&path, opts).await {
        Ok(r) => r,
        Err(object_store::Error::NotModified { .. }) => {
            return Ok(Fetched {
                path: data,
                content_type: meta.content_type,
            });
        }
        Err(e) => return Err(fail("cannot fetch", &e)),
    };
    let new_meta = CacheMeta {
        url: url_text.to_string(),
        etag: result.meta.e_tag.clone(),
        last_modified: Some(result.meta.last_modified.to_rfc3339()),
        content_type: result
            .attributes
            .get(&object_store::Attribute::ContentType)
            .map(|v| v.to_string()),
    };
    // Download next to the cache entry, then rename: a failed download leaves the old copy.
    let tmp = cache_dir.join(format!("{key}.part-{}", std::process::id()));
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| fail("cannot write the cache", &e))?;
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail("download interrupted", &e))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| fail("cannot write the cache", &e))?;
    }
    file.flush()
        .await
        .map_err(|e| fail("cannot write the cache", &e))?;
    drop(file);
    std::fs::rename(&tmp, &data).map_err(|e| fail("cannot write the cache", &e))?;
    std::fs::write(&meta_path, serde_json::to_vec(&new_meta).expect("json"))
        .map_err(|e| fail("cannot write the cache", &e))?;
    Ok(Fetched {
        path: data,
        content_type: new_meta.content_type,
    })
}

/// The cache folder of a project.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join(".opencoll/cache")
}

/// Replaces remote paths by their fetched local copies (display names keep the URL).
pub async fn materialize(
    root: &Path,
    files: &mut [oc_extract::SourceFile],
) -> Result<(), FetchError> {
    for f in files.iter_mut() {
        if oc_spec::syntax::is_remote(&f.display) {
            let fetched = fetch(&f.display, &cache_dir(root)).await?;
            f.path = fetched.path;
            f.content_type = fetched.content_type;
        }
    }
    Ok(())
}
