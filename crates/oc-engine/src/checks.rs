//! Running data tests: each check is a query for the rows that break it; the count decides
//! pass / warn / fail against the thresholds, and a few failing rows are kept as examples.

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use oc_spec::checks::Threshold;
use oc_spec::{CheckSpec, Severity};
use oc_sql::session::read_only;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub dataset: String,
    pub name: String,
    pub kind: String,
    pub severity: Severity,
    pub status: Status,
    pub failing: u64,
    pub total: u64,
    /// Up to five failing rows, one JSON object each.
    pub sample: Vec<String>,
    /// Set when the check could not run (its SQL failed): that is a failure.
    pub error: Option<String>,
}

impl CheckResult {
    pub fn summary(&self) -> String {
        let what = match &self.error {
            Some(e) => format!("could not run: {e}"),
            None => format!("{} of {} rows fail", self.failing, self.total),
        };
        let example = self
            .sample
            .first()
            .map(|s| format!("; e.g. {s}"))
            .unwrap_or_default();
        format!(
            "{} {} on {}: {what}{example}",
            self.status.as_str(),
            self.name,
            self.dataset
        )
    }
}

fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The query returning the rows that break `c` on `target` (a table name usable in FROM).
pub(crate) fn failing_rows_sql(c: &CheckSpec, target: &str) -> Option<String> {
    if let Some(cols) = &c.not_null {
        let cond = cols
            .iter()
            .map(|x| format!("{} IS NULL", q(x)))
            .collect::<Vec<_>>()
            .join(" OR ");
        return Some(format!("SELECT * FROM {target} WHERE {cond}"));
    }
    if let Some(cols) = &c.unique {
        let list = cols.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ");
        return Some(format!(
            "SELECT {list}, count(*) AS occurrences FROM {target} GROUP BY {list} HAVING count(*) > 1"
        ));
    }
    if let Some(a) = &c.accepted_values {
        let values = a
            .values
            .iter()
            .map(|v| lit(&v.as_string()))
            .collect::<Vec<_>>()
            .join(", ");
        return Some(format!(
            "SELECT * FROM {target} WHERE {col} IS NOT NULL AND CAST({col} AS VARCHAR) NOT IN ({values})",
            col = q(&a.column)
        ));
    }
    if let Some(r) = &c.relationship {
        let (table, column) = r.to.rsplit_once('.')?;
        let filter = r
            .where_
            .as_deref()
            .map(|w| format!(" AND ({w})"))
            .unwrap_or_default();
        return Some(format!(
            "SELECT * FROM {target} t WHERE t.{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.{rcol} = t.{col}{filter})",
            col = q(&r.column),
            rcol = q(column)
        ));
    }
    if let Some(e) = &c.expression {
        return Some(format!("SELECT * FROM {target} WHERE ({e}) IS NOT TRUE"));
    }
    if let Some(i) = &c.identity {
        return Some(format!(
            "SELECT ({l}) AS left_value, ({r}) AS right_value, * FROM {target} WHERE (abs(({l}) - ({r})) <= {tol}) IS NOT TRUE",
            l = i.left,
            r = i.right,
            tol = i.tolerance
        ));
    }
    None
}

async fn count(ctx: &SessionContext, sql: &str) -> Result<u64, String> {
    let batches = ctx
        .sql_with_options(&format!("SELECT count(*) FROM ({sql})"), read_only())
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(batches
        .first()
        .map(|b| b.column(0).as_primitive::<Int64Type>())
        .filter(|a| !a.is_empty())
        .map(|a| a.value(0) as u64)
        .unwrap_or(0))
}

async fn sample(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let Ok(df) = ctx
        .sql_with_options(&format!("SELECT * FROM ({sql}) LIMIT 5"), read_only())
        .await
    else {
        return Vec::new();
    };
    let Ok(batches) = df.collect().await else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
        for b in &batches {
            if w.write(b).is_err() {
                return Vec::new();
            }
        }
        let _ = w.finish();
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs `checks` on `target` (registered in `ctx`), reporting them under `dataset`.
pub async fn run_checks(
    ctx: &SessionContext,
    dataset: &str,
    target: &str,
    checks: &[CheckSpec],
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let total = count(ctx, &format!("SELECT * FROM {target}")).await;
    for c in checks {
        let kind = c.kinds().first().copied().unwrap_or("?").to_string();
        let mut r = CheckResult {
            dataset: dataset.to_string(),
            name: c.label(),
            kind,
            severity: c.severity,
            status: Status::Pass,
            failing: 0,
            total: *total.as_ref().unwrap_or(&0),
            sample: Vec::new(),
            error: None,
        };
        if let Err(e) = &total {
            r.error = Some(e.clone());
            r.status = Status::Fail;
            out.push(r);
            continue;
        }
        if let Some(rc) = &c.row_count {
            let n = r.total;
            let bad = rc.min.is_some_and(|m| n < m) || rc.max.is_some_and(|m| n > m);
            r.failing = bad as u64;
            if bad {
                r.sample =
                    vec![serde_json::json!({"rows": n, "min": rc.min, "max": rc.max}).to_string()];
            }
        } else if let Some(sql) = failing_rows_sql(c, target) {
            match count(ctx, &sql).await {
                Ok(n) => {
                    r.failing = n;
                    if n > 0 {
                        r.sample = sample(ctx, &sql).await;
                    }
                }
                // (without the name the rows are checked under, `__candidate` for a run's)
                Err(e) => {
                    let line = e.lines().next().unwrap_or(&e);
                    r.error = Some(line.replace(&format!("{target}."), ""));
                }
            }
        }
        let (warn, error) = c.thresholds().unwrap_or((None, Some(Threshold::DEFAULT)));
        r.status = if r.error.is_some() || error.is_some_and(|t| t.crossed(r.failing, r.total)) {
            Status::Fail
        } else if warn.is_some_and(|t| t.crossed(r.failing, r.total)) {
            Status::Warn
        } else {
            Status::Pass
        };
        out.push(r);
    }
    out
}
