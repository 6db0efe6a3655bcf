//! `s3://` sources through object_store, with the same conditional request and cache as
//! HTTP. S3 credentials, region and endpoint come from the usual AWS environment variables.

use futures::StreamExt;
use object_store::GetOptions;
use tokio::io::AsyncWriteExt;

use super::cache::{Entry, Meta};
use super::{FetchError, Fetched, Policy};

pub(super) async fn get(
    url_text: &str,
    url: &url::Url,
    entry: &Entry,
    policy: &Policy,
) -> Result<Fetched, FetchError> {
    let (max_age, max) = (policy.max_age, policy.max_bytes);
    let fail = |what: &str, e: &dyn std::fmt::Display| FetchError::new(url_text, what, e);
    let (store, path) = oc_lake::store::open_store(url, oc_lake::store::env_storage_options(url))
        .map_err(|e| fail("unsupported URL", &e))?;
    let meta = entry.meta().unwrap_or_default();
    if meta.is_fresh(max_age, chrono::Utc::now()) {
        return Ok(Fetched {
            path: entry.data.clone(),
            content_type: meta.content_type,
        });
    }
    let opts = GetOptions {
        if_none_match: meta.etag.clone(),
        if_modified_since: meta.last_modified_utc(),
        ..Default::default()
    };
    let result = match store.get_opts(&path, opts).await {
        Ok(r) => r,
        Err(object_store::Error::NotModified { .. }) => {
            let _ = entry.note(&Meta {
                checked_at: Some(chrono::Utc::now().to_rfc3339()),
                ..meta.clone()
            });
            return Ok(Fetched {
                path: entry.data.clone(),
                content_type: meta.content_type,
            });
        }
        Err(e) => return Err(fail("cannot fetch", &e)),
    };
    let new_meta = Meta {
        url: url_text.to_string(),
        etag: result.meta.e_tag.clone(),
        last_modified: Some(result.meta.last_modified.to_rfc3339()),
        content_type: result
            .attributes
            .get(&object_store::Attribute::ContentType)
            .map(|v| v.to_string()),
        checked_at: Some(chrono::Utc::now().to_rfc3339()),
        server_max_age: None,
    };
    if result.meta.size > max {
        return Err(super::too_large(url_text, result.meta.size, true, max));
    }
    let mut file = tokio::fs::File::create(entry.tmp())
        .await
        .map_err(|e| fail("cannot write the cache", &e))?;
    let mut stream = result.into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let written = match chunk {
            Ok(c) if received + c.len() as u64 > max => Err(super::too_large(
                url_text,
                received + c.len() as u64,
                false,
                max,
            )),
            Ok(c) => {
                received += c.len() as u64;
                file.write_all(&c)
                    .await
                    .map_err(|e| fail("cannot write the cache", &e))
            }
            Err(e) => Err(fail("download interrupted", &e)),
        };
        if let Err(e) = written {
            entry.discard();
            return Err(e);
        }
    }
    if let Err(e) = file.flush().await {
        entry.discard();
        return Err(fail("cannot write the cache", &e));
    }
    drop(file);
    entry
        .commit(&new_meta)
        .map_err(|e| fail("cannot write the cache", &e))?;
    Ok(Fetched {
        path: entry.data.clone(),
        content_type: new_meta.content_type,
    })
}
