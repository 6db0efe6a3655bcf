//! Issue 21's measurement of scan paths and decimal widths, not part of the product: the same
//! queries on Parquet files of one exercice, each file registered alone as table `t` through
//! DataFusion's own listing table in a context with our settings (`new_context`), and, when a
//! lake is given, on the lake table as `opencoll sql` reads it (`LakeSession`: the table's
//! provider, restricted to the exercice by a view). Files written with `decimal64` amounts
//! (by pyarrow, bench/README.md) are read as `Decimal64`, which the lake cannot do yet.
//! RUNS timed runs, interleaved (file A, file B, …, then again), after a first one of each
//! that is not timed; the median engine time (plan, execute, collect) printed with a digest of the result so that
//! equal answers can be checked.
//!
//! ```sh
//! cargo run --profile bench-fast -p oc-sql --example scan_paths -- RUNS FILE... \
//!     [--lake LAKE_DIR TABLE EXERCICE]
//! ```
//! `SCAN_PATHS_EXPLAIN=1` prints each plan with its metrics instead. bench/README.md ("The
//! lake's own scan" and "Decimal64, measured") has the files, the command and the figures.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// The shapes of bench/queries.py on one exercice (the file holds no `exercice` column).
const QUERIES: [(&str, &str); 4] = [
    (
        "q1 shape: charges by département",
        "SELECT ndept, SUM(obnetdeb - obnetcre) AS charges FROM t \
         WHERE compte LIKE '6%' GROUP BY ndept ORDER BY ndept",
    ),
    (
        "q2 shape: top 20 debt",
        "SELECT code_insee, lbudg, sc FROM t WHERE compte = '1641' AND cbudg = '1' \
         ORDER BY sc DESC, code_insee LIMIT 20",
    ),
    (
        "q5 shape: sum per commune (no window)",
        "SELECT ndept, code_insee, SUM(obnetdeb - obnetcre) AS charges FROM t \
         WHERE compte LIKE '6%' AND cbudg = '1' GROUP BY ndept, code_insee ORDER BY 1, 2",
    ),
    (
        "q6 shape: balance of every account",
        "SELECT compte, COUNT(*) AS n, SUM(bedeb) AS bedeb, SUM(becre) AS becre, \
         SUM(obnetdeb) AS obnetdeb, SUM(obnetcre) AS obnetcre, SUM(onbdeb) AS onbdeb, \
         SUM(onbcre) AS onbcre, SUM(oobdeb) AS oobdeb, SUM(oobcre) AS oobcre, SUM(sd) AS sd, \
         SUM(sc) AS sc FROM t GROUP BY compte ORDER BY compte",
    ),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: scan_paths RUNS FILE... [--lake LAKE_DIR TABLE EXERCICE]";
    let runs: usize = args
        .first()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .ok_or(usage)?;
    let (files, lake) = match args.iter().position(|a| a == "--lake") {
        Some(i) => (&args[1..i], Some(&args[i + 1..])),
        None => (&args[1..], None),
    };
    let mut contexts: Vec<(String, SessionContext)> = Vec::new();
    for file in files {
        let ctx = oc_sql::session::new_context();
        ctx.register_parquet("t", file, ParquetReadOptions::default())
            .await?;
        contexts.push((file.clone(), ctx));
    }
    if let Some([dir, table, exercice]) = lake {
        let lake = oc_lake::Lake::open(dir)?;
        let session = oc_sql::LakeSession::open(&lake, &[]).await?;
        let ctx = session.ctx.clone();
        // The lake table restricted to one exercice, as a view named like the files' table.
        ctx.sql(&format!(
            "CREATE VIEW t AS SELECT * FROM {table} WHERE exercice = {exercice}"
        ))
        .await?;
        contexts.push((format!("lake {table} (LakeSession)"), ctx));
    } else if lake.is_some() {
        return Err(usage.into());
    }
    let explain = std::env::var_os("SCAN_PATHS_EXPLAIN").is_some();
    for (label, sql) in QUERIES {
        println!("{label}");
        if explain {
            for (name, ctx) in &contexts {
                let plan = ctx
                    .sql(&format!("EXPLAIN ANALYZE {sql}"))
                    .await?
                    .collect()
                    .await?;
                println!("{name}\n{}", pretty_format_batches(&plan)?);
            }
            continue;
        }
        let mut times = vec![Vec::new(); contexts.len()];
        let mut digests = vec![0u64; contexts.len()];
        let mut types = vec![String::new(); contexts.len()];
        for run in 0..=runs {
            for (i, (_, ctx)) in contexts.iter().enumerate() {
                let start = Instant::now();
                let batches = ctx.sql(sql).await?.collect().await?;
                let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                if run == 0 {
                    let mut h = DefaultHasher::new();
                    pretty_format_batches(&batches)?.to_string().hash(&mut h);
                    digests[i] = h.finish();
                    types[i] = batches
                        .first()
                        .map(|b| {
                            let s = b.schema();
                            let f = s.fields().last().map(|f| f.data_type().to_string());
                            f.unwrap_or_default()
                        })
                        .unwrap_or_default();
                } else {
                    times[i].push(elapsed);
                }
            }
        }
        for (i, (name, _)) in contexts.iter().enumerate() {
            let t = &mut times[i];
            t.sort_by(f64::total_cmp);
            println!(
                "  {:>8.1} ms median (min {:.1}, max {:.1}; {} runs)  result {:016x} last column {}  {}",
                t[t.len() / 2],
                t[0],
                t[t.len() - 1],
                t.len(),
                digests[i],
                types[i],
                name
            );
        }
    }
    Ok(())
}
