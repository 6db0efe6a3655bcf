//! `opencoll catalog`: what is in the lake, for people (table) and programs (JSON).

use anyhow::Result;
use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use oc_spec::Project;
use serde_json::{Value, json};

use crate::output::Format;

pub async fn run(project: &Project, session: &oc_sql::LakeSession, format: Format) -> Result<()> {
    let last = last_refreshes(session).await;
    let mut items = Vec::new();
    for (kind, name) in session
        .tables
        .iter()
        .map(|t| ("table", t))
        .chain(session.views.iter().map(|v| ("view", v)))
    {
        let Some((d, t)) = name.split_once('.') else {
            continue;
        };
        let df = session
            .ctx
            .table(datafusion::common::TableReference::partial(d, t))
            .await?;
        let schema = df.schema().as_arrow().clone();
        let rows = match session.query(&format!("SELECT count(*) FROM {name}")).await {
            Ok(d) => d.collect().await.ok().and_then(|b| {
                b.first()
                    .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
            }),
            Err(_) => None,
        };
        let doc = project.catalog.datasets.get(name.as_str());
        let pipeline = project.pipeline(name).map(|p| &p.pipeline);
        let col_doc = |c: &str| -> Option<String> {
            doc.and_then(|d| d.columns.get(c).cloned()).or_else(|| {
                pipeline
                    .and_then(|p| p.columns.get(c))
                    .and_then(|s| s.doc.clone())
            })
        };
        let title = doc
            .and_then(|d| d.title.clone())
            .or_else(|| pipeline.and_then(|p| p.title.clone()));
        items.push(json!({
            "name": name,
            "kind": kind,
            "title": title,
            "producer": doc.and_then(|d| d.producer.clone()).or_else(|| pipeline.and_then(|p| p.producer.clone())),
            "licence": doc.and_then(|d| d.licence.clone()).or_else(|| pipeline.and_then(|p| p.licence.clone())),
            "description": doc.and_then(|d| d.description.clone()).or_else(|| pipeline.and_then(|p| p.description.clone())),
            "rows": rows,
            "last_refresh": last.iter().find(|(p, _)| p == name).map(|(_, t)| t.clone()),
            "columns": schema.fields().iter().map(|f| json!({"name": f.name(), "type": f.data_type().to_string(), "doc": col_doc(f.name())})).collect::<Vec<_>>(),
        }));
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&Value::Array(items))?),
        Format::Table | Format::Csv => {
            for it in &items {
                println!(
                    "{} ({}){}  rows: {}  last refresh: {}",
                    it["name"].as_str().unwrap_or(""),
                    it["kind"].as_str().unwrap_or(""),
                    it["title"]
                        .as_str()
                        .map(|t| format!(" — {t}"))
                        .unwrap_or_default(),
                    it["rows"]
                        .as_i64()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "?".into()),
                    it["last_refresh"].as_str().unwrap_or("-"),
                );
                for c in it["columns"].as_array().into_iter().flatten() {
                    println!(
                        "    {:<28} {:<24} {}",
                        c["name"].as_str().unwrap_or(""),
                        c["type"].as_str().unwrap_or(""),
                        c["doc"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

async fn last_refreshes(session: &oc_sql::LakeSession) -> Vec<(String, String)> {
    let q = "SELECT pipeline, CAST(max(finished_at) AS VARCHAR) FROM _ops.runs WHERE status = 'success' GROUP BY pipeline";
    let Ok(df) = session.query(q).await else {
        return Vec::new();
    };
    let Ok(batches) = df.collect().await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for b in batches {
        // Delta tables read strings as Utf8View: normalise before downcasting.
        let (Ok(p), Ok(t)) = (
            cast(b.column(0), &DataType::Utf8),
            cast(b.column(1), &DataType::Utf8),
        ) else {
            continue;
        };
        let (p, t) = (p.as_string::<i32>(), t.as_string::<i32>());
        for i in 0..b.num_rows() {
            if p.is_valid(i) && t.is_valid(i) {
                out.push((p.value(i).to_string(), t.value(i).to_string()));
            }
        }
    }
    out
}
