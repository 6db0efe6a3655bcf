//! Lake location and table discovery.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, RetryConfig};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake {location}: {message}")]
    Location { location: String, message: String },
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    /// Another run holds the table's lock: worth retrying later.
    #[error("table {table}: {message}")]
    Locked { table: String, message: String },
    /// The output's columns do not fit the rows the table keeps (`on_schema_change`): bad
    /// data or definition, never worth retrying as is.
    #[error("table {table}: {message}")]
    SchemaDrift { table: String, message: String },
    #[error("lake storage: {0}")]
    Store(#[from] object_store::Error),
    /// The storage refused bytes (disk full, quota): nothing was committed.
    #[error(
        "table {table}: the lake's storage is full: nothing was committed and the table keeps its version; free space (`opencoll vacuum --retain …` removes the files no kept version needs) and refresh again ({detail})"
    )]
    StorageFull { table: String, detail: String },
}

impl LakeError {
    /// A Delta error of `table`; a full storage is told apart, since the user must act.
    pub fn delta(table: &str, source: deltalake::DeltaTableError) -> LakeError {
        if storage_full(&source) {
            LakeError::StorageFull {
                table: table.to_string(),
                detail: source.to_string(),
            }
        } else {
            LakeError::Delta {
                table: table.to_string(),
                source,
            }
        }
    }
}

/// ENOSPC or EDQUOT anywhere in the chain. Parquet's writer carries the store's error as text
/// (`ParquetError::External` of object_store's `Generic`), so the OS message counts too.
fn storage_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded)
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A lake root: a local folder (`data/lake`) or a URL (`s3://bucket/prefix`).
#[derive(Debug, Clone)]
pub struct Lake {
    root: Url,
    storage_options: HashMap<String, String>,
}

impl Lake {
    /// Opens (and for a local folder, creates) the lake at `location`.
    pub fn open(location: &str) -> Result<Lake, LakeError> {
        let err = |message: String| LakeError::Location {
            location: location.to_string(),
            message,
        };
        let root = if location.contains("://") {
            let mut u = Url::parse(location).map_err(|e| err(e.to_string()))?;
            if !u.path().ends_with('/') {
                u.set_path(&format!("{}/", u.path()));
            }
            if !matches!(u.scheme(), "s3" | "s3a" | "file") {
                return Err(err(format!(
                    "unsupported scheme `{}`: use a folder or s3://bucket/prefix",
                    u.scheme()
                )));
            }
            register_s3();
            u
        } else {
            let p = Path::new(location);
            std::fs::create_dir_all(p)
                .map_err(|e| err(format!("cannot create the folder: {e}")))?;
            let abs = p.canonicalize().map_err(|e| err(e.to_string()))?;
            Url::from_directory_path(&abs).map_err(|_| err("not a valid path".into()))?
        };
        let storage_options = env_storage_options(&root).into_iter().collect();
        Ok(Lake {
            root,
            storage_options,
        })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn is_local(&self) -> bool {
        self.root.scheme() == "file"
    }

    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.storage_options
    }

    /// `ref.communes` → `<root>/ref/communes/`.
    pub fn table_url(&self, name: &str) -> Url {
        let rel = name.replace('.', "/");
        self.root
            .join(&format!("{rel}/"))
            .expect("table names are path-safe")
    }

    /// The table if it exists (has a Delta log), loaded at its latest version.
    pub async fn load(&self, name: &str) -> Result<Option<DeltaTable>, LakeError> {
        let url = self.table_url(name);
        if self.is_local() {
            let dir = url.to_file_path().expect("file url");
            if !dir.join("_delta_log").is_dir() {
                return Ok(None);
            }
        } else {
            // One listing first: delta-rs logs an ERROR for every table it does not find.
            let log = url.join("_delta_log/").map_err(|e| LakeError::Location {
                location: url.to_string(),
                message: e.to_string(),
            })?;
            let (store, prefix) =
                open_store(&log, &self.storage_options).map_err(|e| LakeError::Location {
                    location: log.to_string(),
                    message: e.to_string(),
                })?;
            if store
                .list(Some(&prefix))
                .next()
                .await
                .transpose()?
                .is_none()
            {
                return Ok(None);
            }
        }
        let builder = deltalake::DeltaTableBuilder::from_url(url)
            .map_err(|e| LakeError::delta(name, e))?
            .with_storage_options(self.storage_options.clone());
        match builder.load().await {
            Ok(t) => Ok(Some(t)),
            Err(deltalake::DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(LakeError::delta(name, e)),
        }
    }

    /// Names (`<domain>.<table>`) of every Delta table in the lake, sorted.
    pub async fn list_tables(&self) -> Result<Vec<String>, LakeError> {
        let mut out = Vec::new();
        if self.is_local() {
            let root = self.root.to_file_path().expect("file url");
            for d in read_dirs(&root) {
                for t in read_dirs(&root.join(&d)) {
                    if root.join(&d).join(&t).join("_delta_log").is_dir() {
                        out.push(format!("{d}.{t}"));
                    }
                }
            }
        } else {
            let (store, prefix) = open_store(&self.root, &self.storage_options)?;
            let domains = store.list_with_delimiter(Some(&prefix)).await?;
            for d in domains.common_prefixes {
                let tables = store.list_with_delimiter(Some(&d)).await?;
                for t in tables.common_prefixes {
                    let log = ObjPath::from(format!("{t}/_delta_log"));
                    let has_log = store.list(Some(&log)).try_next().await?.is_some();
                    if has_log && let (Some(dn), Some(tn)) = (d.filename(), t.filename()) {
                        out.push(format!("{dn}.{tn}"));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn read_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn register_s3() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// Object-store options for a URL: for `s3://`, the usual AWS environment variables
/// (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …); plain HTTP is
/// allowed when the endpoint is `http://` (a local S3-compatible server). For both, the
/// limits of [`StoreLimits`] (a store that stops answering fails the operation in bounded
/// time, it does not hang it).
pub fn env_storage_options(url: &Url) -> Vec<(String, String)> {
    let mut opts = Vec::new();
    if matches!(url.scheme(), "s3" | "s3a") {
        for (k, v) in std::env::vars() {
            if k.starts_with("AWS_") {
                opts.push((k.to_ascii_lowercase(), v));
            }
        }
        if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://")) {
            opts.push(("allow_http".into(), "true".into()));
        }
    }
    if url.scheme() == "http" {
        opts.push(("allow_http".into(), "true".into()));
    }
    if matches!(url.scheme(), "s3" | "s3a" | "http" | "https") {
        opts.extend(StoreLimits::from_env().options());
    }
    opts
}

/// How long a remote object store may take: each request, and the retries of a request that
/// failed or got no answer. Read from the environment, in seconds:
/// `OPENCOLL_S3_TIMEOUT` (per request, default 30), `OPENCOLL_S3_RETRIES` (default 10) and
/// `OPENCOLL_S3_RETRY_TIMEOUT` (no retry starts after it, default 180) — object_store's own
/// defaults, stated here so that one place sets them for delta-rs' stores and ours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreLimits {
    pub timeout: Duration,
    pub retries: usize,
    pub retry_timeout: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            timeout: Duration::from_secs(30),
            retries: 10,
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl StoreLimits {
    /// The limits the environment sets; a value that is not a number of seconds is ignored
    /// with a warning (the default stays).
    pub fn from_env() -> StoreLimits {
        let d = StoreLimits::default();
        let secs = |name: &str, default: Duration| match std::env::var(name) {
            Err(_) => default,
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() && s < 1e6 => Duration::from_secs_f64(s),
                _ => {
                    tracing::warn!("{name}={v} is not a number of seconds: {default:?} is used");
                    default
                }
            },
        };
        StoreLimits {
            timeout: secs("OPENCOLL_S3_TIMEOUT", d.timeout),
            retries: match std::env::var("OPENCOLL_S3_RETRIES") {
                Err(_) => d.retries,
                Ok(v) => v.trim().parse().unwrap_or_else(|_| {
                    tracing::warn!(
                        "OPENCOLL_S3_RETRIES={v} is not a count: {} is used",
                        d.retries
                    );
                    d.retries
                }),
            },
            retry_timeout: secs("OPENCOLL_S3_RETRY_TIMEOUT", d.retry_timeout),
        }
    }

    /// As store options: `timeout` for object_store's client, `max_retries` and
    /// `retry_timeout` for delta-rs' stores (which read them) and for [`open_store`].
    pub fn options(&self) -> Vec<(String, String)> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        vec![
            ("timeout".into(), ms(self.timeout)),
            ("max_retries".into(), self.retries.to_string()),
            ("retry_timeout".into(), ms(self.retry_timeout)),
        ]
    }

    /// The limits a map of store options carries (the defaults for those it does not).
    fn of_options<K: AsRef<str>, V: AsRef<str>>(
        options: impl IntoIterator<Item = (K, V)>,
    ) -> StoreLimits {
        let mut l = StoreLimits::default();
        let ms = |v: &str| {
            v.strip_suffix("ms")?
                .parse()
                .ok()
                .map(Duration::from_millis)
        };
        for (k, v) in options {
            let v = v.as_ref();
            match k.as_ref() {
                "timeout" => l.timeout = ms(v).unwrap_or(l.timeout),
                "max_retries" => l.retries = v.parse().unwrap_or(l.retries),
                "retry_timeout" => l.retry_timeout = ms(v).unwrap_or(l.retry_timeout),
                _ => {}
            }
        }
        l
    }
}

/// The object store of `url` and the path inside it, as `object_store::parse_url_opts` builds
/// it, with the retries of the options applied (parse_url_opts takes no retry settings, so
/// its stores would retry for three minutes whatever the user set).
pub fn open_store<K, V>(
    url: &Url,
    options: impl IntoIterator<Item = (K, V)> + Clone,
) -> Result<(Box<dyn ObjectStore>, ObjPath), object_store::Error>
where
    K: AsRef<str>,
    V: AsRef<str> + Into<String>,
{
    if !matches!(url.scheme(), "s3" | "s3a") {
        return object_store::parse_url_opts(url, options);
    }
    let limits = StoreLimits::of_options(options.clone());
    let builder = options.into_iter().fold(
        AmazonS3Builder::new().with_url(url.as_str()),
        |b, (k, v)| match k.as_ref().to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            Ok(key) => b.with_config(key, v),
            Err(_) => b,
        },
    );
    let store = builder
        .with_retry(RetryConfig {
            max_retries: limits.retries,
            retry_timeout: limits.retry_timeout,
            ..Default::default()
        })
        .build()?;
    Ok((Box::new(store), ObjPath::from_url_path(url.path())?))
}

/// True when `e` (or an error it carries) is an object store that gave no answer: a request
/// that timed out or whose connection failed, after its retries. object_store keeps the
/// HTTP error only in the text of its retry error ("HTTP error: …", where a store that
/// answered says "Server returned non-2xx status code"), so the text is what is read.
pub fn no_answer(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        let text = e.to_string();
        if text.contains("Error performing") && text.contains("HTTP error:") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// What to tell a user whose store gave no answer.
pub fn no_answer_hint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS S3".into());
    let l = StoreLimits::from_env();
    format!(
        "the object store ({endpoint}) did not answer within {:?} per request, {} retries and {:?} in all: check that it is up and reachable from here; OPENCOLL_S3_TIMEOUT, OPENCOLL_S3_RETRIES and OPENCOLL_S3_RETRY_TIMEOUT (seconds) set these limits",
        l.timeout, l.retries, l.retry_timeout
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits go to delta-rs and to our stores as options, and come back whole.
    #[test]
    fn store_limits_round_trip_through_the_options() {
        let l = StoreLimits {
            timeout: Duration::from_millis(1500),
            retries: 2,
            retry_timeout: Duration::from_secs(7),
        };
        assert_eq!(StoreLimits::of_options(l.options()), l);
        let none: [(&str, &str); 0] = [];
        assert_eq!(StoreLimits::of_options(none), StoreLimits::default());
        // every s3 and http store gets them; a folder needs none
        let s3 = env_storage_options(&Url::parse("s3://b/p/").unwrap());
        assert!(s3.iter().any(|(k, _)| k == "retry_timeout"), "{s3:?}");
        let file = env_storage_options(&Url::parse("file:///tmp/lake/").unwrap());
        assert!(file.is_empty(), "{file:?}");
    }
}
