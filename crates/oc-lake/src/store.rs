//! Lake location and table discovery.

use std::collections::HashMap;
use std::path::Path;

use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as ObjPath;
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
            let (store, prefix) = object_store::parse_url_opts(&log, self.storage_options.clone())
                .map_err(|e| LakeError::Location {
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
            let (store, prefix) =
                object_store::parse_url_opts(&self.root, self.storage_options.clone())?;
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
/// allowed when the endpoint is `http://` (a local S3-compatible server).
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
    opts
}
