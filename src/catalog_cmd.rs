//! `opencoll catalog`: what is in the lake, for people (table) and programs (JSON).

use anyhow::Result;
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
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
        let meta = project.dataset_meta(name);
        items.push(json!({
            "name": name,
            "kind": kind,
            "title": meta.title,
            "producer": meta.producer,
            "licence": meta.licence,
            "description": meta.description,
            "rows": rows,
            "last_refresh": last.iter().find(|(p, _)| p == name).map(|(_, t)| t.clone()),
            "columns": schema.fields().iter().map(|f| json!({"name": f.name(), "type": f.data_type().to_string(), "doc": meta.column_doc(f.name())})).collect::<Vec<_>>(),
        }));
    }
    // Tables and views that could not be opened, with the reason (a view whose inputs are not
    // refreshed yet, say).
    let first = |e: &str| e.lines().next().unwrap_or("").to_string();
    let unavailable: Vec<(String, &str, String)> = session
        .broken_tables
        .iter()
        .map(|(t, e)| (t.clone(), "table", first(e)))
        .chain(
            session
                .broken_views
                .iter()
                .map(|(v, e)| (v.name.clone(), "view", first(e))),
        )
        .collect();
    for (name, kind, why) in &unavailable {
        items.push(json!({"name": name, "kind": kind, "unavailable": why}));
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&Value::Array(items))?),
        Format::Csv => {
            // One line per column, the dataset's fields repeated: a sheet to filter.
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "dataset",
                "kind",
                "title",
                "rows",
                "last_refresh",
                "column",
                "type",
                "doc",
                "unavailable",
            ])?;
            let text = |v: &Value| match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            for it in &items {
                let columns = it["columns"].as_array().cloned().unwrap_or_default();
                let dataset = [
                    &it["name"],
                    &it["kind"],
                    &it["title"],
                    &it["rows"],
                    &it["last_refresh"],
                ]
                .map(text);
                let unavailable = text(&it["unavailable"]);
                if columns.is_empty() {
                    w.write_record(dataset.iter().cloned().chain([
                        "".into(),
                        "".into(),
                        "".into(),
                        unavailable.clone(),
                    ]))?;
                }
                for c in &columns {
                    w.write_record(dataset.iter().cloned().chain([
                        text(&c["name"]),
                        text(&c["type"]),
                        text(&c["doc"]),
                        unavailable.clone(),
                    ]))?;
                }
            }
            w.flush()?;
        }
        Format::Table => {
            for it in items.iter().filter(|it| it.get("unavailable").is_none()) {
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
            for (name, kind, why) in &unavailable {
                println!("{name} ({kind}) unavailable: {why}");
            }
        }
    }
    Ok(())
}

/// The time of each pipeline's last successful run.
async fn last_refreshes(session: &oc_sql::LakeSession) -> Vec<(String, String)> {
    let runs = oc_sql::ops::successful_runs(&session.ctx, None)
        .await
        .unwrap_or_default();
    // Oldest first: the last one of a pipeline wins.
    let mut last = std::collections::BTreeMap::new();
    for r in runs {
        last.insert(r.pipeline, r.finished_at);
    }
    last.into_iter().collect()
}
