//! PostgreSQL through tokio-postgres, with the simple query protocol: every value comes in
//! PostgreSQL's text format (`numeric` written exactly, dates ISO, `t`/`f`), rows are handed
//! over as they arrive, so a table of millions of rows is read in bounded memory (the socket's
//! flow control holds the server back). Readers run on a blocking thread: the async client is
//! driven from it on the engine's runtime.
//!
//! Connections are made without TLS (a database on the same host or network); a server that
//! demands TLS refuses the connection with its own message.

use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt;
use tokio_postgres::{NoTls, SimpleQueryMessage, SimpleQueryStream};

use super::{Login, RowStream, display_url};

pub(super) fn read<T>(
    login: &Login,
    query: &str,
    f: impl FnOnce(&mut dyn RowStream) -> T,
) -> Result<T, String> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| "internal: a database is read from the engine's runtime".to_string())?;
    let shown = display_url(&login.url);
    let mut config: tokio_postgres::Config = login
        .url
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL ({shown}): {e}"))?;
    if let Some(p) = &login.password {
        config.password(p);
    }
    config
        .application_name("opencoll")
        .connect_timeout(Duration::from_secs(30));
    let (client, connection) = handle
        .block_on(config.connect(NoTls))
        .map_err(|e| format!("cannot connect to {shown}: {}", chain(&e)))?;
    let driver = handle.spawn(connection);
    let result = (|| {
        let stream = handle
            .block_on(client.simple_query_raw(query))
            .map_err(|e| format!("the query fails: {}", chain(&e)))?;
        let mut rows = PgRows {
            handle: handle.clone(),
            stream: Box::pin(stream),
            columns: Vec::new(),
            first: None,
        };
        rows.describe()?;
        Ok(f(&mut rows))
    })();
    drop(client);
    driver.abort();
    result
}

/// tokio-postgres's message and its causes ("db error" alone says little).
fn chain(e: &tokio_postgres::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        source = s.source();
    }
    out
}

struct PgRows {
    handle: tokio::runtime::Handle,
    stream: Pin<Box<SimpleQueryStream>>,
    columns: Vec<String>,
    /// A row read while looking for the columns.
    first: Option<Vec<Option<String>>>,
}

impl PgRows {
    fn next_message(&mut self) -> Result<Option<SimpleQueryMessage>, String> {
        self.handle
            .block_on(self.stream.next())
            .transpose()
            .map_err(|e| chain(&e))
    }

    /// Reads up to the row description (or the first row, which names its columns too).
    fn describe(&mut self) -> Result<(), String> {
        loop {
            match self.next_message()? {
                Some(SimpleQueryMessage::RowDescription(cols)) => {
                    self.columns = cols.iter().map(|c| c.name().to_string()).collect();
                    return Ok(());
                }
                Some(SimpleQueryMessage::Row(row)) => {
                    self.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                    self.first = Some(cells(&row));
                    return Ok(());
                }
                Some(SimpleQueryMessage::CommandComplete(_)) | None => {
                    return Err("the query returns no rows description (is it a SELECT?)".into());
                }
                Some(_) => {}
            }
        }
    }
}

fn cells(row: &tokio_postgres::SimpleQueryRow) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| row.get(i).map(str::to_string))
        .collect()
}

impl RowStream for PgRows {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<Vec<Option<String>>>, String> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        loop {
            match self.next_message()? {
                Some(SimpleQueryMessage::Row(row)) => return Ok(Some(cells(&row))),
                Some(SimpleQueryMessage::CommandComplete(_)) | None => return Ok(None),
                Some(_) => {}
            }
        }
    }
}
