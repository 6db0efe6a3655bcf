//! Releases for portals: the datasets marked `publish: true` written as plain (hive-partitioned)
//! Parquet under `<published>/<release>/`, with `catalog.json` and a Frictionless Table Schema
//! per dataset, then `latest.json` pointing at it. A release is written in a temporary folder
//! and renamed into place, and `latest.json` is replaced last: readers never see a partial one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::DataType;
use datafusion::common::TableReference;
use datafusion::config::TableParquetOptions;
use oc_lake::Lake;
use oc_spec::Project;
use oc_sql::LakeSession;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a release could not be written. Nothing is published then: the temporary folder is
/// removed and `latest.json` still points at the previous release.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("release name `{0}`: use letters, digits, `.`, `_` and `-`")]
    BadName(String),
    #[error(
        "release {name} already exists in {dir}: releases are immutable, choose another --release"
    )]
    Exists { name: String, dir: String },
    #[error("no dataset has `publish: true` in catalog.yaml")]
    NothingToPublish,
    #[error("{0} is marked publish: true but is not in the lake (refresh it first)")]
    NotInLake(String),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{dataset}: {message}")]
    Sql { dataset: String, message: String },
    #[error("nothing to roll back: {0}")]
    NoPrevious(String),
}

fn sql(dataset: &str, e: impl std::fmt::Display) -> PublishError {
    PublishError::Sql {
        dataset: dataset.to_string(),
        message: e.to_string(),
    }
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> PublishError {
    let what = what.to_string();
    move |error| PublishError::Io { what, error }
}

pub struct Release {
    pub name: String,
    pub dir: PathBuf,
    pub datasets: Vec<(String, u64)>,
}

/// What a publish reports as it goes: the CLI draws a bar per dataset from it, `--json`
/// prints it for schedulers.
#[derive(Debug, Clone, Copy)]
pub enum PublishEvent<'a> {
    /// A dataset starts, with its rows when known beforehand (a table's, not a view's).
    Started { dataset: &'a str, rows: Option<u64> },
    /// Rows written so far, about twice a second.
    Progress { dataset: &'a str, rows: u64 },
    /// A dataset is written in the (not yet visible) release.
    Written {
        dataset: &'a str,
        rows: u64,
        bytes: u64,
        seconds: f64,
    },
}

pub trait PublishObserver: Send + Sync {
    fn on(&self, event: PublishEvent<'_>);
}

/// For callers that draw nothing.
impl PublishObserver for () {
    fn on(&self, _: PublishEvent<'_>) {}
}

fn frictionless_type(t: &DataType) -> &'static str {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string",
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "integer",
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "integer",
        DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "number",
        DataType::Boolean => "boolean",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "datetime",
        _ => "any",
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

async fn scalar_strings(session: &LakeSession, sql: &str) -> Vec<String> {
    let Ok(df) = session.query(sql).await else {
        return Vec::new();
    };
    let Ok(batches) = df.collect().await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for b in batches {
        let Ok(col) = arrow::compute::cast(b.column(0), &DataType::Utf8) else {
            continue;
        };
        let col = col
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("utf8");
        out.extend(col.iter().flatten().map(str::to_string));
    }
    out
}

pub async fn publish(
    project: &Project,
    lake: &Lake,
    session: &LakeSession,
    release: Option<String>,
    observer: &dyn PublishObserver,
) -> Result<Release, PublishError> {
    let root = published_root(project);
    let name = release.unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H%M%SZ").to_string());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        || name.starts_with('.')
    {
        return Err(PublishError::BadName(name));
    }
    let dir = root.join(&name);
    if dir.exists() {
        return Err(PublishError::Exists {
            name,
            dir: root.display().to_string(),
        });
    }
    let selected: Vec<(&String, &oc_spec::DatasetDoc)> = project
        .catalog
        .datasets
        .iter()
        .filter(|(_, d)| d.publish)
        .collect();
    if selected.is_empty() {
        return Err(PublishError::NothingToPublish);
    }
    std::fs::create_dir_all(&root).map_err(io(root.display()))?;
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(tmp.display()))?;
    let result = write_release(project, lake, session, &selected, &tmp, &name, observer).await;
    let datasets = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &dir).map_err(io("cannot move the release into place"))?;
    // Last: the pointer portals follow.
    point_latest(&root, &name, None)?;
    Ok(Release {
        name,
        dir,
        datasets,
    })
}

/// Where releases are written (`published:` in catalog.yaml, default `data/published`).
pub fn published_root(project: &Project) -> PathBuf {
    project.root.join(
        project
            .catalog
            .published
            .as_deref()
            .unwrap_or("data/published"),
    )
}

/// Replaces `latest.json` (written beside, then renamed: readers see the old or the new one).
fn point_latest(
    root: &Path,
    name: &str,
    rolled_back_from: Option<&str>,
) -> Result<(), PublishError> {
    let mut latest = json!({"release": name, "catalog": format!("{name}/catalog.json"), "published_at": chrono::Utc::now().to_rfc3339()});
    if let Some(from) = rolled_back_from {
        latest["rolled_back_from"] = json!(from);
    }
    let latest_tmp = root.join(".latest.json.tmp");
    std::fs::write(
        &latest_tmp,
        serde_json::to_vec_pretty(&latest).expect("json"),
    )
    .map_err(io(latest_tmp.display()))?;
    std::fs::rename(&latest_tmp, root.join("latest.json")).map_err(io("latest.json"))
}

/// Points `latest.json` back to the release created before the one it names (a bad release
/// fed to a portal is withdrawn in one command; releases themselves are never deleted). Each
/// call goes one release further back. Returns (from, to).
pub fn rollback(project: &Project) -> Result<(String, String), PublishError> {
    let root = published_root(project);
    let read_json =
        |p: PathBuf| -> Option<Value> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    let current = read_json(root.join("latest.json"))
        .and_then(|l| l["release"].as_str().map(str::to_string))
        .ok_or_else(|| PublishError::NoPrevious(format!("no latest.json in {}", root.display())))?;
    let created = |name: &str| {
        read_json(root.join(name).join("catalog.json"))
            .and_then(|c| c["created_at"].as_str().map(str::to_string))
    };
    let now = created(&current).ok_or_else(|| {
        PublishError::NoPrevious(format!("release {current} has no catalog.json"))
    })?;
    // Complete releases only (a folder with its catalog.json; `.tmp-…` folders are unfinished).
    let previous = std::fs::read_dir(&root)
        .map_err(io(root.display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                return None;
            }
            Some((created(&name)?, name))
        })
        .filter(|(at, name)| *at < now && *name != current)
        .max();
    let Some((_, to)) = previous else {
        return Err(PublishError::NoPrevious(format!(
            "{current} is the oldest release"
        )));
    };
    point_latest(&root, &to, Some(&current))?;
    Ok((current, to))
}

async fn write_release(
    project: &Project,
    lake: &Lake,
    session: &LakeSession,
    selected: &[(&String, &oc_spec::DatasetDoc)],
    tmp: &Path,
    release: &str,
    observer: &dyn PublishObserver,
) -> Result<Vec<(String, u64)>, PublishError> {
    let mut entries = Vec::new();
    let mut counts = Vec::new();
    for (ds, _) in selected {
        let (d, t) = ds
            .split_once('.')
            .ok_or_else(|| PublishError::NotInLake(ds.to_string()))?;
        if !session.tables.contains(ds) && !session.views.contains(ds) {
            return Err(PublishError::NotInLake(ds.to_string()));
        }
        let df = session
            .ctx
            .table(TableReference::partial(d, t))
            .await
            .map_err(|e| sql(ds, e))?;
        // Types as the Parquet files and Delta store them (Utf8, not DataFusion's Utf8View).
        let schema =
            oc_lake::write::delta_schema_of(&std::sync::Arc::new(df.schema().as_arrow().clone()));
        let partition_by: Vec<String> = match lake.load(ds).await {
            Ok(Some(table)) => table
                .snapshot()
                .map(|s| s.metadata().partition_columns().to_vec())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let out = tmp.join(ds.as_str());
        std::fs::create_dir_all(&out).map_err(io(out.display()))?;
        let mut opts = TableParquetOptions::default();
        opts.global.compression = Some("zstd(3)".into());
        // a table's rows are counted first (from the Delta log's statistics where it has
        // them); a view's are known only once computed
        let total = if session.tables.contains(ds) {
            scalar_strings(session, &format!("SELECT count(*) FROM {ds}"))
                .await
                .first()
                .and_then(|s| s.parse().ok())
        } else {
            None
        };
        observer.on(PublishEvent::Started {
            dataset: ds,
            rows: total,
        });
        let clock = std::time::Instant::now();
        let written = Arc::new(AtomicU64::new(0));
        let dir = format!("{}/", out.display());
        let write = oc_sql::progress::write_parquet_counted(
            df,
            &dir,
            partition_by.clone(),
            opts,
            written.clone(),
        );
        tokio::pin!(write);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tokio::select! {
                done = &mut write => {
                    done.map_err(|e| sql(ds, e))?;
                    break;
                }
                _ = tick.tick() => observer.on(PublishEvent::Progress {
                    dataset: ds,
                    rows: written.load(Ordering::Relaxed),
                }),
            }
        }
        let rows = written.load(Ordering::Relaxed);
        observer.on(PublishEvent::Written {
            dataset: ds,
            rows,
            bytes: files_under(&out)
                .iter()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum(),
            seconds: clock.elapsed().as_secs_f64(),
        });
        let mut vintages = serde_json::Map::new();
        for col in
            schema.fields().iter().map(|f| f.name()).filter(|n| {
                partition_by.contains(n) || ["millesime", "exercice"].contains(&n.as_str())
            })
        {
            let values = scalar_strings(
                session,
                &format!(
                    "SELECT DISTINCT \"{col}\" FROM {ds} WHERE \"{col}\" IS NOT NULL ORDER BY 1"
                ),
            )
            .await;
            vintages.insert(col.clone(), json!(values));
        }
        let pipeline = project.pipeline(ds).map(|p| &p.pipeline);
        let meta = project.dataset_meta(ds);
        let col_doc = |c: &str| meta.column_doc(c).map(str::to_string);
        let columns: Vec<Value> = schema
            .fields()
            .iter()
            .map(|f| json!({"name": f.name(), "type": f.data_type().to_string(), "doc": col_doc(f.name())}))
            .collect();
        // Frictionless Table Schema (the format of schema.data.gouv.fr).
        let primary_key: Option<Vec<String>> =
            pipeline.and_then(|p| p.checks.iter().find_map(|c| c.unique.clone()));
        let mut table_schema = json!({
            "fields": schema.fields().iter().map(|f| {
                let mut field = json!({"name": f.name(), "type": frictionless_type(f.data_type())});
                if let Some(d) = col_doc(f.name()) { field["description"] = json!(d); }
                field
            }).collect::<Vec<_>>(),
        });
        if let Some(pk) = primary_key {
            table_schema["primaryKey"] = json!(pk);
        }
        // Beside the dataset's folder, not in it: readers take a folder for Parquet files only
        // (Spark, PyArrow and Polars fail on a JSON file inside).
        let schema_file = tmp.join(format!("{ds}.tableschema.json"));
        std::fs::write(
            &schema_file,
            serde_json::to_vec_pretty(&table_schema).expect("json"),
        )
        .map_err(io(schema_file.display()))?;

        let mut files = Vec::new();
        for f in files_under(&out).into_iter().chain([schema_file]) {
            let bytes = std::fs::read(&f).map_err(io(f.display()))?;
            let rel = f
                .strip_prefix(tmp)
                .expect("under tmp")
                .to_string_lossy()
                .into_owned();
            files.push(json!({"path": rel, "bytes": bytes.len(), "sha256": hex::encode(Sha256::digest(&bytes))}));
        }
        entries.push(json!({
            "name": ds,
            "kind": if session.views.contains(ds) { "view" } else { "table" },
            "title": meta.title,
            "description": meta.description,
            "producer": meta.producer,
            "licence": meta.licence,
            "partitioned_by": partition_by,
            "vintages": vintages,
            "rows": rows,
            "columns": columns,
            "table_schema": format!("{ds}.tableschema.json"),
            "files": files,
        }));
        counts.push((ds.to_string(), rows));
    }
    let catalog = json!({
        "release": release,
        "project": project.catalog.project,
        "created_at": chrono::Utc::now().to_rfc3339(),
        "datasets": entries,
    });
    std::fs::write(
        tmp.join("catalog.json"),
        serde_json::to_vec_pretty(&catalog).expect("json"),
    )
    .map_err(io("catalog.json"))?;
    Ok(counts)
}
