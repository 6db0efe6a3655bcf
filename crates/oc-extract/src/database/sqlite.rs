//! SQLite through rusqlite (SQLite compiled in): the file opened read-only, the query's rows
//! stepped one at a time. Values are written as text the way SQLite holds them: integers and
//! text as they are, reals as their shortest exact decimal, BLOBs as `\x` + hex.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::RowStream;

pub(super) fn read<T>(
    path: &Path,
    query: &str,
    f: impl FnOnce(&mut dyn RowStream) -> T,
) -> Result<T, String> {
    if !path.is_file() {
        return Err(format!("no SQLite database at {}", path.display()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open the SQLite database {}: {e}", path.display()))?;
    let mut stmt = conn
        .prepare(query)
        .map_err(|e| format!("the query fails: {e}"))?;
    let columns: Vec<String> = stmt.column_names().map(String::from).collect();
    let rows = stmt
        .query([])
        .map_err(|e| format!("the query fails: {e}"))?;
    let mut s = SqliteRows { columns, rows };
    Ok(f(&mut s))
}

struct SqliteRows<'s> {
    columns: Vec<String>,
    rows: rusqlite::Rows<'s>,
}

impl RowStream for SqliteRows<'_> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<Vec<Option<String>>>, String> {
        let Some(row) = self.rows.next().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(self.columns.len());
        for (i, name) in self.columns.iter().enumerate() {
            let v = row.get_ref(i).map_err(|e| e.to_string())?;
            out.push(match v {
                ValueRef::Null => None,
                ValueRef::Integer(n) => Some(n.to_string()),
                // Rust writes the shortest text that reads back as the same double
                ValueRef::Real(x) => Some(x.to_string()),
                ValueRef::Text(t) => Some(
                    String::from_utf8(t.to_vec())
                        .map_err(|_| format!("column {name}: the text is not UTF-8"))?,
                ),
                ValueRef::Blob(b) => Some(format!("\\x{}", hex::encode(b))),
            });
        }
        Ok(Some(out))
    }
}
