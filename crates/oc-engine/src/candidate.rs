//! The table as a run would leave it, before the commit: the run's staged Parquet files, plus
//! for `replace_partitions` the current rows of the partitions it does not rewrite. A
//! pipeline's checks run on this view, so a failing check commits nothing.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use oc_lake::{Lake, TableWrite, WriteMode};

/// The name the candidate is registered under in `ctx`.
pub const CANDIDATE: &str = "__candidate";

/// Registers the candidate version of `name` in `ctx` as [`CANDIDATE`] and under the table's
/// own name (a check that names the table itself, a relationship to its own rows, sees the new
/// version). `ctx` must not be shared with other runs.
pub async fn register(
    ctx: &SessionContext,
    lake: &Lake,
    name: &str,
    writer: &mut TableWrite,
    mode: WriteMode,
) -> Result<(), String> {
    let staged = writer.stage().await.map_err(|e| e.to_string())?;
    let schema = writer.schema();
    let parts: Vec<String> = writer.partition_by().to_vec();
    let file_schema = Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !parts.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut selects = Vec::new();
    for (i, f) in staged.iter().enumerate() {
        let url = ListingTableUrl::parse(f.url.as_str()).map_err(|e| e.to_string())?;
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default()));
        let cfg = ListingTableConfig::new(url)
            .with_listing_options(opts)
            .with_schema(file_schema.clone());
        let table = ListingTable::try_new(cfg).map_err(|e| e.to_string())?;
        let t = format!("__staged_{i}");
        ctx.register_table(t.as_str(), Arc::new(table))
            .map_err(|e| e.to_string())?;
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|fl| {
                if parts.contains(fl.name()) {
                    let v = f.partition_values.get(fl.name()).cloned().flatten();
                    let v = v.map(|v| lit(&v)).unwrap_or_else(|| "NULL".into());
                    format!(
                        "arrow_cast({v}, {}) AS {}",
                        lit(&fl.data_type().to_string()),
                        quote(fl.name())
                    )
                } else {
                    quote(fl.name())
                }
            })
            .collect();
        selects.push(format!("SELECT {} FROM {t}", cols.join(", ")));
    }
    if mode == WriteMode::ReplacePartitions && writer.table_exists() {
        // The kept rows come from the table as it is now, under the run's lock (the wave's
        // snapshot may be older if another process committed before the lock was taken).
        oc_sql::session::register_lake_table(ctx, lake, name)
            .await
            .map_err(|e| e.to_string())?;
        let mut keys: Vec<String> = staged
            .iter()
            .map(|f| {
                parts
                    .iter()
                    .map(|p| match f.partition_values.get(p).cloned().flatten() {
                        Some(v) => format!("CAST({} AS VARCHAR) = {}", quote(p), lit(&v)),
                        None => format!("{} IS NULL", quote(p)),
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ")
            })
            .collect();
        keys.sort();
        keys.dedup();
        let rewritten = if keys.is_empty() {
            "false".to_string()
        } else {
            keys.iter()
                .map(|k| format!("({k})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        let cols: Vec<String> = schema.fields().iter().map(|f| quote(f.name())).collect();
        selects.push(format!(
            "SELECT {} FROM {name} WHERE NOT ({rewritten})",
            cols.join(", ")
        ));
    }
    let provider: Arc<dyn TableProvider> = if selects.is_empty() {
        Arc::new(
            datafusion::datasource::MemTable::try_new(schema.clone(), vec![vec![]])
                .map_err(|e| e.to_string())?,
        )
    } else {
        // Planned now, so that the kept rows come from the version just loaded.
        ctx.sql(&selects.join(" UNION ALL "))
            .await
            .map_err(|e| e.to_string())?
            .into_view()
    };
    ctx.register_table(CANDIDATE, provider.clone())
        .map_err(|e| e.to_string())?;
    oc_sql::session::register(ctx, name, provider).map_err(|e| e.to_string())?;
    Ok(())
}
