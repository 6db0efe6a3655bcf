//! Remote sources (`https://…`, `http://…`, `s3://…`): fetched into a local cache with a
//! conditional request (ETag / Last-Modified), so an unchanged file is not downloaded again,
//! then read like a local file.
//!
//! Many pages (one per collectivité, their codes from a query on the lake) are fetched a few
//! at a time (`fetch.concurrency`), politely (`fetch.rate` requests per second per host),
//! retrying 429, 5xx, timeouts and broken connections with exponential backoff or the wait
//! the server's `Retry-After` asks for. A page that still fails is reported on its own: the
//! run decides, with `max_failed_sources`, whether it fails or goes on without it.
//!
//! `http.rs` speaks HTTP (reqwest: status codes and headers are ours to read), `store.rs`
//! reads `s3://` through object_store (credentials, region and endpoint from the usual AWS
//! environment variables), `cache.rs` keeps the copies and what the server said about them.

mod cache;
mod http;
mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use oc_spec::FetchOptions;

/// A remote source that could not be fetched (the previous cached copy, if any, is kept).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {what}: {message}")]
pub struct FetchError {
    pub url: String,
    pub what: String,
    pub message: String,
}

impl FetchError {
    fn new(url: &str, what: &str, message: impl std::fmt::Display) -> FetchError {
        FetchError {
            url: url.to_string(),
            what: what.to_string(),
            message: message.to_string(),
        }
    }
}

/// The error of a download past `fetch.max_mib`.
fn too_large(url: &str, bytes: u64, announced: bool, max: u64) -> FetchError {
    let how = if announced {
        "announced"
    } else {
        "received, and more coming"
    };
    FetchError::new(
        url,
        "too large",
        format!(
            "{bytes} bytes {how}, more than fetch.max_mib ({} MiB): raise max_mib if the file is expected to be this large",
            max / (1024 * 1024)
        ),
    )
}

/// A fetched copy and what the server said its content is.
pub struct Fetched {
    pub path: PathBuf,
    pub content_type: Option<String>,
}

/// `source.fetch` with its defaults.
#[derive(Debug, Clone)]
pub struct Policy {
    pub concurrency: usize,
    /// Minimum time between two requests to one host.
    pub interval: Duration,
    pub retries: u32,
    pub timeout: Duration,
    /// How long a fetched copy is current without a request (`fetch.max_age`).
    pub max_age: Duration,
    /// Largest download, in bytes (`fetch.max_mib`).
    pub max_bytes: u64,
}

/// `fetch.max_mib`'s default: above the largest national files (DGFiP balances of every
/// commune, about 3 GiB a year), far below a disk.
pub const DEFAULT_MAX_MIB: u64 = 8192;

impl Policy {
    pub fn of(o: Option<&FetchOptions>) -> Policy {
        let o = o.cloned().unwrap_or_default();
        Policy {
            concurrency: o.concurrency.unwrap_or(4).max(1),
            interval: Duration::from_secs_f64(1.0 / o.rate.filter(|r| *r > 0.0).unwrap_or(5.0)),
            retries: o.retries.unwrap_or(3),
            timeout: Duration::from_secs_f64(o.timeout.filter(|t| *t > 0.0).unwrap_or(60.0)),
            max_age: Duration::from_secs(o.max_age.unwrap_or(0)),
            max_bytes: o
                .max_mib
                .unwrap_or(DEFAULT_MAX_MIB)
                .saturating_mul(1024 * 1024),
        }
    }
}

/// The cache folder of a project.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join(".opencoll/cache")
}

async fn fetch_with(
    url: &str,
    cache_dir: &Path,
    client: &http::Client,
) -> Result<Fetched, FetchError> {
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| FetchError::new(url, "cannot create the cache", e))?;
    let entry = cache::Entry::of(cache_dir, url);
    let parsed = url::Url::parse(url).map_err(|e| FetchError::new(url, "not a valid URL", e))?;
    match parsed.scheme() {
        "http" | "https" => client.get(url, &entry).await,
        _ => store::get(url, &parsed, &entry, client.policy()).await,
    }
}

/// Replaces remote paths by their fetched local copies (display names keep the URL). Files
/// that could not be fetched are taken out of `files` and returned with their error; the
/// others keep their order.
pub async fn materialize(
    root: &Path,
    files: &mut Vec<oc_extract::SourceFile>,
    options: Option<&FetchOptions>,
) -> Vec<FetchError> {
    if !files.iter().any(|f| oc_spec::syntax::is_remote(&f.display)) {
        return Vec::new();
    }
    let policy = Policy::of(options);
    let client = match http::Client::new(&policy) {
        Ok(c) => c,
        Err(e) => {
            let all = std::mem::take(files);
            return all
                .into_iter()
                .map(|f| FetchError::new(&f.display, "cannot fetch", &e))
                .collect();
        }
    };
    let dir = cache_dir(root);
    let results: Vec<(usize, Result<Fetched, FetchError>)> =
        futures::stream::iter(files.iter().enumerate())
            .filter(|(_, f)| std::future::ready(oc_spec::syntax::is_remote(&f.display)))
            .map(|(i, f)| {
                let (client, dir) = (&client, &dir);
                async move { (i, fetch_with(&f.display, dir, client).await) }
            })
            .buffer_unordered(policy.concurrency)
            .collect()
            .await;
    let mut failed = vec![false; files.len()];
    let mut errors = Vec::new();
    for (i, r) in results {
        match r {
            Ok(fetched) => {
                files[i].path = fetched.path;
                files[i].content_type = fetched.content_type;
            }
            Err(e) => {
                failed[i] = true;
                errors.push((i, e));
            }
        }
    }
    errors.sort_by_key(|(i, _)| *i);
    let mut i = 0;
    files.retain(|_| {
        i += 1;
        !failed[i - 1]
    });
    errors.into_iter().map(|(_, e)| e).collect()
}
