//! Where a release lives and how its files are read: a folder, `file://`, `http(s)://` or
//! `s3://` (settings from the process environment, as for the lake). Only `latest.json`,
//! `catalog.json` and the files the catalog lists are read, so a plain web server is enough:
//! nothing is ever listed. Each file's sha256 is checked against the catalog, so a release
//! still being copied fails to load instead of showing half its figures.

use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::LoadError;

/// `latest.json`: the release a portal shows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Latest {
    pub release: String,
    pub catalog: String,
    #[serde(default)]
    pub published_at: String,
}

/// `catalog.json` of a release (the fields the portal uses; the rest is kept as JSON for the
/// catalogue pages).
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    pub release: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub project: String,
    pub datasets: Vec<CatalogDataset>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogDataset {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub producer: Option<String>,
    #[serde(default)]
    pub licence: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub columns: Vec<CatalogColumn>,
    #[serde(default)]
    pub files: Vec<CatalogFile>,
    #[serde(default)]
    pub partitioned_by: Vec<String>,
    #[serde(default)]
    pub vintages: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub table_schema: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default)]
    pub doc: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A folder or URL holding `latest.json` and the releases under it.
#[derive(Clone)]
pub struct ReleaseRoot {
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    display: String,
}

impl std::fmt::Debug for ReleaseRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl ReleaseRoot {
    pub fn open(location: &str) -> Result<ReleaseRoot, LoadError> {
        let bad = |message: String| LoadError::Location {
            location: location.to_string(),
            message,
        };
        let (store, prefix): (Arc<dyn ObjectStore>, ObjPath) = if location.contains("://") {
            let url = url::Url::parse(location).map_err(|e| bad(e.to_string()))?;
            match url.scheme() {
                "s3" | "s3a" => {
                    let s3 = object_store::aws::AmazonS3Builder::from_env()
                        .with_url(url.as_str())
                        .build()
                        .map_err(|e| bad(e.to_string()))?;
                    let prefix =
                        ObjPath::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
                    (Arc::new(s3), prefix)
                }
                "http" | "https" | "file" => {
                    let (store, prefix) =
                        object_store::parse_url(&url).map_err(|e| bad(e.to_string()))?;
                    (Arc::from(store), prefix)
                }
                other => {
                    return Err(bad(format!(
                        "unsupported scheme `{other}`: use a folder, file://, https:// or s3://"
                    )));
                }
            }
        } else {
            let dir = std::path::Path::new(location);
            if !dir.is_dir() {
                return Err(bad(
                    "no such folder (run `opencoll publish` first, or give the folder that holds latest.json)"
                        .into(),
                ));
            }
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| bad(e.to_string()))?;
            (Arc::new(fs), ObjPath::default())
        };
        Ok(ReleaseRoot {
            store,
            prefix,
            display: location.to_string(),
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    fn path(&self, rel: &str) -> ObjPath {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |p, part| p.join(part))
    }

    /// A file of the release root as a stream of chunks, with its size: downloads never hold
    /// a whole file in memory.
    pub async fn get_stream(
        &self,
        rel: &str,
    ) -> Result<
        (
            u64,
            futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
        ),
        LoadError,
    > {
        let got = self.object(rel).await?;
        Ok((got.meta.size, got.into_stream()))
    }

    /// The object of one file of the release, a failure naming the file.
    async fn object(&self, rel: &str) -> Result<object_store::GetResult, LoadError> {
        self.store
            .get(&self.path(rel))
            .await
            .map_err(|e| LoadError::Read {
                file: rel.to_string(),
                message: e.to_string(),
            })
    }

    async fn get(&self, rel: &str) -> Result<Bytes, LoadError> {
        let got = self.object(rel).await?;
        got.bytes().await.map_err(|e| LoadError::Read {
            file: rel.to_string(),
            message: e.to_string(),
        })
    }

    pub async fn latest(&self) -> Result<Latest, LoadError> {
        let bytes = self.get("latest.json").await?;
        serde_json::from_slice(&bytes).map_err(|e| LoadError::Format {
            file: "latest.json".into(),
            message: e.to_string(),
        })
    }

    pub async fn catalog(&self, latest: &Latest) -> Result<Catalog, LoadError> {
        let bytes = self.get(&latest.catalog).await?;
        serde_json::from_slice(&bytes).map_err(|e| LoadError::Format {
            file: latest.catalog.clone(),
            message: e.to_string(),
        })
    }

    /// A listed file of `release`, checked against the size and sha256 the catalog gives.
    async fn checked(&self, release: &str, file: &CatalogFile) -> Result<Bytes, LoadError> {
        if file.path.split('/').any(|p| p == ".." || p == ".") {
            return Err(LoadError::Format {
                file: file.path.clone(),
                message: "path leaves the release".into(),
            });
        }
        let rel = format!("{release}/{}", file.path);
        let bytes = self.get(&rel).await?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if bytes.len() as u64 != file.bytes || digest != file.sha256 {
            return Err(LoadError::Incomplete {
                file: rel,
                expected: file.bytes,
                found: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Checks every file of `dataset` without parsing it (the datasets the portal only links to).
    pub async fn verify(&self, release: &str, dataset: &CatalogDataset) -> Result<(), LoadError> {
        for file in &dataset.files {
            self.checked(release, file).await?;
        }
        Ok(())
    }

    /// Calls `each` with every batch of `dataset` in `release`, only the `columns` asked for
    /// read from the files, partition values added back (`millesime=2026` in the path becomes
    /// a `millesime` value). Batches are handed over one at a time, so a dataset of tens of
    /// millions of rows never sits in memory whole. Every file the catalog lists is checked,
    /// Parquet or not.
    pub async fn read_each(
        &self,
        release: &str,
        dataset: &CatalogDataset,
        columns: &[&str],
        mut each: impl FnMut(Part) -> Result<(), LoadError>,
    ) -> Result<(), LoadError> {
        for file in &dataset.files {
            let bytes = self.checked(release, file).await?;
            if !file.path.ends_with(".parquet") {
                continue;
            }
            let rel = format!("{release}/{}", file.path);
            let bad = |e: &dyn std::fmt::Display| LoadError::Format {
                file: rel.clone(),
                message: e.to_string(),
            };
            let partitions: Vec<(String, String)> = file
                .path
                .split('/')
                .filter_map(|seg| seg.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| bad(&e))?;
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            let reader = builder
                .with_projection(mask)
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| bad(&e))?;
            for batch in reader {
                each(Part {
                    batch: batch.map_err(|e| bad(&e))?,
                    partitions: partitions.clone(),
                })?;
            }
        }
        Ok(())
    }
}

/// One record batch of a dataset with the partition values of the file it came from.
pub struct Part {
    pub batch: RecordBatch,
    pub partitions: Vec<(String, String)>,
}
