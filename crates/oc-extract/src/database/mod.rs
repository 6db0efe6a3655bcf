//! `format: database`: the rows of a query on PostgreSQL (`postgres.rs`) or SQLite
//! (`sqlite.rs`), streamed — one row in memory at a time on our side — and typed by the same
//! `columns:` rules as a CSV cell: each value arrives as text (PostgreSQL's text format, which
//! writes `numeric` exactly; SQLite's own values written as text), so codes keep their zeros
//! and money becomes an exact decimal whatever the database's column type.
//!
//! Credentials never sit in the pipeline: the URL names the user and the database, the
//! password comes from an environment variable or a file (see [`Login`]).
//!
//! `incremental: { cursor: c }` wraps the query so that only rows past the last committed
//! cursor are read, in cursor order; the last row's cursor is returned with the file's stats
//! and committed with the table version.

mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use oc_spec::DatabaseOptions;

use crate::rows::{Layout, RowWriter};
use crate::sink::{ExtractError, FileStats, Sink};
use crate::spec::{ReadSpec, SourceFile};

/// `database:` and `incremental:` resolved for one pipeline; `since` is set by the engine
/// from the table's last commit.
#[derive(Debug, Clone, Default)]
pub struct DbSpec {
    pub options: DatabaseOptions,
    pub cursor: Option<String>,
    pub since: Option<String>,
}

/// What kind of database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Sqlite(String),
    Postgres,
}

pub fn kind_of(url: &str) -> Option<Kind> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        Some(Kind::Sqlite(path.trim_start_matches("//").to_string()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Kind::Postgres)
    } else {
        None
    }
}

/// A PostgreSQL URL as it may be shown: the password, if any, replaced by `***`.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Where a pipeline's connection comes from, resolved when it runs.
pub struct Login {
    pub url: String,
    pub password: Option<String>,
}

impl Login {
    /// The URL (from `url`, or the environment variable `url_env`) and the password (a
    /// password in the URL from the environment, else `password_env` or `PGPASSWORD`, else
    /// `password_file` relative to `root`).
    pub fn resolve(o: &DatabaseOptions, root: &Path) -> Result<Login, String> {
        let url = match (&o.url, &o.url_env) {
            (Some(u), _) => u.value.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                format!("database.url_env: the environment variable {var} is not set")
            })?,
            (None, None) => return Err("database: give `url` or `url_env`".into()),
        };
        let env = o.password_env.as_deref().unwrap_or("PGPASSWORD");
        let password = match (std::env::var(env).ok(), &o.password_file) {
            (Some(p), _) => Some(p),
            (None, Some(f)) => {
                let path = root.join(f);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("database.password_file {}: {e}", path.display()))?;
                Some(text.trim_end_matches(['\n', '\r']).to_string())
            }
            (None, None) => None,
        };
        Ok(Login { url, password })
    }
}

/// The query that is run: the pipeline's, or, incremental, only its rows past the cursor, in
/// cursor order (rows without a cursor first, so that the last row's cursor is the largest).
pub fn effective_query(db: &DbSpec) -> String {
    let q = db.options.query.value.trim().trim_end_matches(';');
    let Some(cursor) = &db.cursor else {
        return q.to_string();
    };
    let c = format!("\"{}\"", cursor.replace('"', "\"\""));
    match &db.since {
        Some(since) => format!(
            "SELECT * FROM ({q}) AS oc_incremental WHERE {c} > '{}' ORDER BY {c}",
            since.replace('\'', "''")
        ),
        None => format!("SELECT * FROM ({q}) AS oc_incremental ORDER BY {c} NULLS FIRST"),
    }
}

/// One result row: its cells as text (None = NULL).
pub(crate) trait RowStream {
    fn columns(&self) -> &[String];
    fn next_row(&mut self) -> Result<Option<Vec<Option<String>>>, String>;
}

/// Reads the query's rows into `sink`.
pub fn read(
    spec: &ReadSpec,
    file: &SourceFile,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let err = |msg: String| ExtractError::new(name, None, msg);
    let db = spec
        .database
        .as_ref()
        .ok_or_else(|| err("internal: database source without options".into()))?;
    // The project folder, or (SQLite named in the pipeline) the database file itself.
    let root: &Path = if file.path.is_dir() {
        &file.path
    } else {
        file.path.parent().unwrap_or(Path::new("."))
    };
    let login = Login::resolve(&db.options, root).map_err(&err)?;
    let query = effective_query(db);
    let kind = kind_of(&login.url).ok_or_else(|| {
        err(format!(
            "`{}` is not a database URL",
            display_url(&login.url)
        ))
        .with_hint("sqlite:path/to/file.db or postgres://user@host:port/dbname")
    })?;
    match kind {
        Kind::Sqlite(path) => {
            let path = if !file.path.is_dir() {
                file.path.clone()
            } else if Path::new(&path).is_absolute() {
                PathBuf::from(path)
            } else {
                root.join(path)
            };
            // the file's hash, as for any file source: an unchanged database is not read again
            let (sha256, bytes) = crate::input::hash_file(&path)
                .map_err(|e| err(format!("no SQLite database at {}: {e}", path.display())))?;
            let stats = sqlite::read(&path, &query, |rows| stream(spec, db, file, rows, sink))
                .map_err(&err)??;
            Ok(FileStats {
                sha256,
                bytes,
                ..stats
            })
        }
        Kind::Postgres => postgres::read(&login, &query, |rows| stream(spec, db, file, rows, sink))
            .map_err(&err)?,
    }
}

fn stream(
    spec: &ReadSpec,
    db: &DbSpec,
    file: &SourceFile,
    rows: &mut dyn RowStream,
    sink: &mut dyn Sink,
) -> Result<FileStats, ExtractError> {
    let name = file.display.as_str();
    let columns = rows.columns().to_vec();
    let cursor_at = match &db.cursor {
        Some(c) => Some(columns.iter().position(|h| h == c).ok_or_else(|| {
            ExtractError::new(
                name,
                None,
                format!("incremental.cursor `{c}` is not a column of the query"),
            )
            .with_hint(format!("the query returns: {}", columns.join(", ")))
        })?),
        None => None,
    };
    let layout = Layout::resolve(spec, file, Some(&columns), 0)?;
    let mut writer = RowWriter::new(spec, file, layout.labels.clone());
    let mut n = 0u64;
    let mut last_cursor = None;
    loop {
        let row = rows.next_row().map_err(|e| {
            ExtractError::new(name, Some(n + 1), format!("{e} (after {n} rows)")).with_hint(
                "nothing was committed; run the refresh again once the database is reachable",
            )
        })?;
        let Some(row) = row else { break };
        n += 1;
        if let Some(i) = cursor_at
            && let Some(Some(v)) = row.get(i)
        {
            last_cursor = Some(v.clone());
        }
        layout.emit(&mut writer, sink, n, |i| {
            row.get(i).and_then(|c| c.as_deref().map(Cow::Borrowed))
        })?;
    }
    let (rows_read, rows_rejected) = writer.finish(sink)?;
    Ok(FileStats {
        rows_read,
        rows_rejected,
        sha256: String::new(),
        bytes: 0,
        mtime: None,
        notes: Vec::new(),
        // an incremental run that found nothing new keeps the cursor it started from
        cursor: last_cursor.or_else(|| db.since.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(query: &str, cursor: Option<&str>, since: Option<&str>) -> DbSpec {
        DbSpec {
            options: DatabaseOptions {
                query: oc_spec::Spanned::unplaced(query.to_string()),
                ..Default::default()
            },
            cursor: cursor.map(str::to_string),
            since: since.map(str::to_string),
        }
    }

    #[test]
    fn the_incremental_query_reads_past_the_cursor_in_order() {
        assert_eq!(
            effective_query(&db("SELECT * FROM t;", None, None)),
            "SELECT * FROM t"
        );
        assert_eq!(
            effective_query(&db("SELECT * FROM t", Some("updated_at"), None)),
            "SELECT * FROM (SELECT * FROM t) AS oc_incremental ORDER BY \"updated_at\" NULLS FIRST"
        );
        assert_eq!(
            effective_query(&db(
                "SELECT * FROM t",
                Some("maj"),
                Some("2024-01-02 03:04:05'; DROP")
            )),
            "SELECT * FROM (SELECT * FROM t) AS oc_incremental WHERE \"maj\" > '2024-01-02 03:04:05''; DROP' ORDER BY \"maj\""
        );
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            display_url("postgres://desl:s3cret@db.local:5432/finances"),
            "postgres://desl:***@db.local:5432/finances"
        );
        assert_eq!(
            kind_of("sqlite:data/x.db"),
            Some(Kind::Sqlite("data/x.db".into()))
        );
        assert_eq!(kind_of("postgresql://u@h/d"), Some(Kind::Postgres));
        assert_eq!(kind_of("mysql://u@h/d"), None);
    }
}
